"""Argument checks and random layouts shared by scenes and episodes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ._render import Objects
from .vocabulary import MAX_OBJECTS, MIN_SIZE, SIZE_RANGES, SIZES

#: Two objects' centres stay at least ``max(r_a, r_b) + GAP * min(r_a, r_b)`` apart (radii of the
#: objects' boxes), so no object's centre is under another and most of every object stays visible.
GAP = 0.25
_CANDIDATES = 32


def check_size(size) -> tuple[int, int]:
    """``size`` as ``(height, width)``; an error below :data:`MIN_SIZE`."""
    hw = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
    ok = (isinstance(hw, (tuple, list)) and len(hw) == 2
          and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in hw))
    if not ok:
        raise InputError(f"size: received {size!r}; expected an int or (height, width) ints in pixels")
    if min(hw) < MIN_SIZE:
        raise InputError(f"size: received {size!r}, too small to render the shapes; expected at least {MIN_SIZE} "
                         f"pixels on each side (a small object is {SIZE_RANGES['small'][0]:.0%} of the shorter side)")
    return int(hw[0]), int(hw[1])


def check_count(n, name: str = "n") -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise InputError(f"{name}: received {n!r}; expected a positive int")
    return int(n)


def check_n_objects(n_objects) -> tuple[int, int]:
    """``n_objects`` as an inclusive ``(min, max)`` range within ``1 .. MAX_OBJECTS``."""
    lo_hi = (n_objects, n_objects) if isinstance(n_objects, (int, np.integer)) else n_objects
    try:
        lo, hi = (int(v) for v in lo_hi)
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lo_hi)
    except (TypeError, ValueError):
        ok = False
    if not ok or not 1 <= lo <= hi <= MAX_OBJECTS:
        raise InputError(f"n_objects: received {n_objects!r}; expected an int or an inclusive (min, max) range "
                         f"with 1 <= min <= max <= {MAX_OBJECTS}")
    return lo, hi


def check_names(values, vocabulary: Sequence[str], name: str) -> np.ndarray:
    """Indices into ``vocabulary`` of the names asked for (all of them when ``values`` is None)."""
    if values is None:
        return np.arange(len(vocabulary))
    items = [values] if isinstance(values, str) else list(values)
    unknown = [v for v in items if v not in vocabulary]
    if not items or unknown:
        got = f"unknown names {unknown}" if unknown else "an empty list"
        raise InputError(f"{name}: received {got}; expected a non-empty subset of {list(vocabulary)}")
    return np.asarray(sorted({list(vocabulary).index(v) for v in items}))


def check_background(background) -> str:
    if background not in ("varied", "plain"):
        raise InputError(f"background: received {background!r}; expected 'varied' or 'plain'")
    return background


def centre_range(size_classes: np.ndarray, height: int, width: int) -> tuple[float, float, float, float]:
    """``(x_lo, x_hi, y_lo, y_hi)`` of the centres: the same for every size, so position says nothing
    about size, and the largest object still fits inside the image."""
    radius = max(SIZE_RANGES[SIZES[s]][1] for s in size_classes) * min(height, width) / 2
    return radius, width - 1 - radius, radius, height - 1 - radius


def draw_attributes(counts: np.ndarray, choices: dict[str, np.ndarray], height: int, width: int,
                    rng: np.random.Generator) -> tuple[Objects, np.ndarray]:
    """Independent uniform category, colour, texture and size class of every object; returns the objects
    (positions still NaN, opacity 1) and the size classes."""
    m = int(counts.sum())
    image = np.repeat(np.arange(len(counts)), counts)
    depth = np.arange(m) - np.repeat(np.cumsum(counts) - counts, counts)
    pick = {k: v[rng.integers(len(v), size=m)] for k, v in choices.items()}
    lo = np.asarray([SIZE_RANGES[s][0] for s in SIZES])[pick["sizes"]]
    hi = np.asarray([SIZE_RANGES[s][1] for s in SIZES])[pick["sizes"]]
    diameter = rng.uniform(lo, hi) * min(height, width)
    nan = np.full(m, np.nan)
    obj = Objects(image, depth, pick["categories"], pick["colours"], pick["textures"], nan, nan.copy(), diameter,
                  np.ones(m))
    return obj, pick["sizes"]


def place(obj: Objects, n_images: int, bounds: tuple[float, float, float, float], rng: np.random.Generator,
          only: np.ndarray | None = None) -> None:
    """Draw centres in ``bounds``, depth by depth, keeping the :data:`GAP` rule with the objects below.

    Each object takes the first of a few uniform candidates that keeps the rule, or the candidate that
    comes closest when none does. ``only`` (object indices) re-places those objects, in place.
    """
    sel_all = np.arange(len(obj.x)) if only is None else np.asarray(only)
    obj.x[sel_all] = np.nan
    obj.y[sel_all] = np.nan
    x_lo, x_hi, y_lo, y_hi = bounds
    k_max = int(obj.depth.max()) + 1
    pos = np.full((n_images, k_max, 3), np.nan)  # x, y, radius of the objects placed so far
    placed = np.setdiff1d(np.arange(len(obj.x)), sel_all)
    pos[obj.image[placed], obj.depth[placed]] = np.stack([obj.x[placed], obj.y[placed],
                                                           obj.diameter[placed] / 2], axis=1)
    for d in range(k_max):
        sel = sel_all[obj.depth[sel_all] == d]
        if not len(sel):
            continue
        cand = np.stack([rng.uniform(x_lo, x_hi, (len(sel), _CANDIDATES)),
                         rng.uniform(y_lo, y_hi, (len(sel), _CANDIDATES))], axis=2)
        others = pos[obj.image[sel]]  # (m, K, 3); NaN where nothing is placed (yet)
        r = (obj.diameter[sel] / 2)[:, None, None]
        dist = np.hypot(cand[:, :, None, 0] - others[:, None, :, 0], cand[:, :, None, 1] - others[:, None, :, 1])
        need = np.maximum(r, others[:, None, :, 2]) + GAP * np.minimum(r, others[:, None, :, 2])
        slack = np.nan_to_num(dist - need, nan=np.inf).min(axis=2)  # (m, candidates)
        ok = slack >= 0
        best = np.where(ok.any(axis=1), ok.argmax(axis=1), slack.argmax(axis=1))
        chosen = cand[np.arange(len(sel)), best]
        obj.x[sel], obj.y[sel] = chosen[:, 0], chosen[:, 1]
        pos[obj.image[sel], d] = np.concatenate([chosen, r[:, :, 0]], axis=1)
