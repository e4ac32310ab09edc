"""Trajectories of the episodes: constant velocities and start positions that keep a path in the frame,
and the rejection sampling of a "place" episode's anchor, target and path."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._layout import GAP
from .vocabulary import RELATIONS

MAX_SPEED = 3.0  # pixels per frame
QUANTUM = 1 / 16  # positions on a 1/16-pixel grid: whole-pixel steps stay exact in floating point
TRIES = 200


def _whole_velocity(rng: np.random.Generator, limit: np.ndarray) -> np.ndarray:
    whole = np.floor(limit).astype(int)
    while True:  # at least one component can be +-1 (checked by check_frames)
        v = np.array([rng.integers(-whole[0], whole[0] + 1), rng.integers(-whole[1], whole[1] + 1)], float)
        if np.abs(v).max() >= 1:
            return v


def move_path(rng: np.random.Generator, steps: int, lo: np.ndarray, hi: np.ndarray,
               subpixel: bool) -> tuple[np.ndarray, np.ndarray]:
    """A constant velocity and a start whose ``steps`` steps stay within ``[lo, hi]``."""
    limit = np.minimum((hi - lo) / steps, MAX_SPEED)
    if subpixel:
        angle = rng.uniform(0, 2 * np.pi)
        v = np.clip(np.array([np.cos(angle), np.sin(angle)]) * rng.uniform(0.5, MAX_SPEED), -limit, limit)
    else:
        v = _whole_velocity(rng, limit)
    low, high = lo + np.maximum(0, -v * steps), hi - np.maximum(0, v * steps)
    start = rng.uniform(low, np.maximum(low, high))
    return v, (start if subpixel else np.clip(grid(start), grid_up(low), grid_down(high)))


def grid(x):
    return np.round(np.asarray(x) / QUANTUM) * QUANTUM


def grid_up(x):
    return np.ceil(np.asarray(x) / QUANTUM) * QUANTUM


def grid_down(x):
    return np.floor(np.asarray(x) / QUANTUM) * QUANTUM


def clear(p: np.ndarray, r: float, others: list[tuple[np.ndarray, float]]) -> bool:
    return all(np.hypot(*(p - q)) >= max(r, s) + GAP * min(r, s) for q, s in others)


def place_path(rng: np.random.Generator, n_frames: int, ra: float, rm: float, gap: float, lo: np.ndarray,
                hi: np.ndarray, subpixel: bool):
    """Anchor, wait, steps, relation, start, velocity and target of a "place" episode (rejection sampling):
    the relation first, then an anchor position that leaves room for the target on that side."""
    d = ra + rm + gap
    min_travel = 6 * gap  # 30% of the image's shorter side
    for _ in range(TRIES):
        wait = int(rng.integers(1, 3))
        steps = int(rng.integers(3, n_frames - wait))  # arrives at frame wait + steps <= n_frames - 1
        rel = RELATIONS[int(rng.integers(len(RELATIONS)))]
        offset = np.array({"left of": (-d, 0), "right of": (d, 0), "above": (0, -d), "below": (0, d)}[rel])
        a_lo, a_hi = np.maximum(lo, lo - offset), np.minimum(hi, hi - offset)
        if (a_lo > a_hi).any():
            continue
        anchor = grid_up(rng.uniform(a_lo, a_hi))
        target = grid(anchor + offset)
        if not ((target >= lo).all() and (target <= hi).all() and (anchor <= hi).all()):
            continue
        v = (target - rng.uniform(lo, hi)) / steps
        v = np.clip(v if subpixel else np.round(v), -MAX_SPEED, MAX_SPEED)
        start = target - v * steps
        far = np.hypot(*(target - start)) >= min_travel
        if (far and (start >= lo).all() and (start <= hi).all() and clear(start, rm, [(anchor, ra)])):
            return anchor, wait, steps, rel, start, v, target
    raise InputError("render_episodes: found no room to place an object next to another in "
                     f"{TRIES} tries; expected a larger size")  # pragma: no cover


def check_frames(n_frames, kind: str, lo: np.ndarray, hi: np.ndarray, subpixel: bool) -> int:
    least = 8 if kind == "place" else 2
    if not isinstance(n_frames, (int, np.integer)) or isinstance(n_frames, bool) or n_frames < least:
        raise InputError(f"n_frames: received {n_frames!r}; expected an int >= {least} for kind={kind!r}")
    span = float((hi - lo).min())
    if kind == "move" and not subpixel and span < n_frames - 1:
        raise InputError(f"n_frames: received {n_frames}: a whole-pixel motion of {n_frames - 1} steps does not fit "
                         f"in the {span:.1f} pixels an object can travel at this size; expected fewer frames, a larger "
                         "size, or subpixel=True")
    return int(n_frames)
