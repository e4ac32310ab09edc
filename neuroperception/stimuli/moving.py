"""Procedural moving stimuli with a known optical flow: drifting gratings, moving dots, flowing textures.

Every generator returns a :class:`MovingStimuli`: the videos (a :class:`VideoSet`), the true flow
and a table of parameters. The flow follows :mod:`neuroperception.stimuli.flow_fields`: float32
pixels, channel 0 = ``dx`` (right), channel 1 = ``dy`` (down), from frame ``t`` to ``t + 1``. All
motions here are **stationary**: the same flow field moves every frame to the next, so ``flow``
is one field per video, ``(N, 2, H, W)``.

Directions are in degrees counter-clockwise from rightward as seen on screen (``0`` = right,
``90`` = up), so a direction ``θ`` at speed ``s`` is the flow ``(s cos θ, −s sin θ)``. Speeds are
pixels per frame. Ids encode the parameters, e.g. ``grating-d045-s2.0``.

Examples
--------
>>> m = drifting_gratings(directions=(0, 90), speeds=(2.0,), size=16, n_frames=3)
>>> m.ids, tuple(m.flow.shape)
(['grating-d000-s2.0', 'grating-d090-s2.0'], (2, 2, 16, 16))
>>> m.flow[0, :, 0, 0].tolist(), m.flow[1, :, 0, 0].tolist()  # rightward, then upward (dy < 0)
([2.0, 0.0], [0.0, -2.0])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .._docs import fill_doc
from .._validation import check_ids, check_random_state, describe, seed_from
from ..errors import AlignmentError, InputError, ShapeError
from .flow_fields import warp
from .procedural import bandpass_noise, grating
from .video import VideoSet

__all__ = ["MovingStimuli", "drifting_gratings", "moving_dots", "flowing_textures"]


@dataclass
class MovingStimuli:
    """Videos with their true optical flow.

    Attributes
    ----------
    videos : VideoSet
        ``N`` videos ``(T, 3, H, W)`` in [0, 1].
    flow : torch.Tensor
        float32 ``(N, 2, H, W)``: the stationary flow that moves each frame to the next.
    params : pandas.DataFrame
        One row per video, in order, with at least ``id`` (and the generator's parameters).
    mask : torch.Tensor
        bool ``(N, H, W)``: where the motion is visible, so the flow is defined (the aperture of a
        grating, the pixels dots covered, everywhere for textures).

    Examples
    --------
    >>> m = drifting_gratings(directions=(0, 90), speeds=(1.0,), size=16, n_frames=3)
    >>> len(m), m.ids, tuple(m.mean_flow.shape)
    (2, ['grating-d000-s1.0', 'grating-d090-s1.0'], (2, 2, 16, 16))
    """

    videos: VideoSet
    flow: torch.Tensor
    params: pd.DataFrame
    mask: torch.Tensor

    def __post_init__(self):
        """Check that the four parts describe the same videos (count, ids, frame size) with valid values."""
        owner = "MovingStimuli"
        if not isinstance(self.videos, VideoSet):
            raise InputError(f"{owner}: received videos of type {type(self.videos).__name__}; expected a VideoSet "
                             "(e.g. VideoSet.from_array(x, stimulus_id=...))")
        n = len(self.videos)
        hw = tuple(self.videos[:1].videos.shape[-2:]) if n else None
        flow = self.flow
        if not isinstance(flow, torch.Tensor):
            flow = torch.as_tensor(np.asarray(flow, dtype=np.float32))
        if flow.ndim != 4 or flow.shape[0] != n or flow.shape[1] != 2 or (hw and tuple(flow.shape[-2:]) != hw):
            raise ShapeError(f"{owner}: received flow {describe(flow)}; expected ({n}, 2, H, W), one (dx, dy) field "
                             f"per video at the frame size {hw}")
        if not torch.is_floating_point(flow) or not bool(torch.isfinite(flow).all()):
            raise InputError(f"{owner}: received flow {describe(flow)}; expected finite float pixels per frame")
        self.flow = flow.to(torch.float32)
        mask = self.mask
        if not isinstance(mask, torch.Tensor):
            mask = torch.as_tensor(np.asarray(mask))
        if mask.dtype != torch.bool or tuple(mask.shape) != (n, *(hw or mask.shape[-2:])):
            raise ShapeError(f"{owner}: received mask {describe(mask)}; expected bool ({n}, H, W) at the frame "
                             f"size {hw}")
        self.mask = mask
        if not isinstance(self.params, pd.DataFrame) or "id" not in self.params.columns:
            raise InputError(f"{owner}: received params of type {type(self.params).__name__}; expected a "
                             "pandas DataFrame with an 'id' column, one row per video")
        if list(self.params["id"].astype(str)) != self.videos.ids:
            raise AlignmentError(f"{owner}: params ids {list(self.params['id'])[:3]}... (n={len(self.params)}) are "
                                 f"not the videos' ids {self.videos.ids[:3]}... (n={n}); expected one row per "
                                 "video, in the videos' order")

    @property
    def mean_flow(self) -> torch.Tensor:
        """The flow averaged over frame steps, ``(N, 2, H, W)`` (equal to ``flow``: motions are stationary)."""
        return self.flow

    @property
    def ids(self) -> list[str]:
        """The video ids, in order."""
        return self.videos.ids

    def __len__(self) -> int:
        return len(self.videos)


# ---------------------------------------------------------------------------- shared pieces
def _tag(prefix: str, value: float) -> str:
    v = float(value)
    return f"{prefix}{v:.1f}" if round(v, 1) == v else f"{prefix}{v:g}"


def _direction_tag(d: float) -> str:
    d = float(d)
    return f"d{int(d):03d}" if d == int(d) and d >= 0 else f"d{d:g}"


def _check_common(size, n_frames) -> None:
    if not isinstance(size, (int, np.integer)) or size < 4:
        raise InputError(f"size: received {size!r}; expected an int >= 4 (pixels)")
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 2:
        raise InputError(f"n_frames: received {n_frames!r}; expected an int >= 2 (motion needs two frames)")


def _check_values(name: str, values, *, positive: bool = True) -> list[float]:
    vals = [float(v) for v in np.atleast_1d(np.asarray(values, dtype=float))]
    if not vals or not all(np.isfinite(vals)) or (positive and min(vals) <= 0):
        raise InputError(f"{name}: received {values!r}; expected a non-empty list of "
                         f"{'positive ' if positive else ''}finite numbers")
    return vals


def _velocity(direction: float, speed: float) -> tuple[float, float]:
    th = np.deg2rad(direction)
    return round(speed * np.cos(th), 12) + 0.0, round(-speed * np.sin(th), 12) + 0.0  # no -0.0 or 1e-16


def _gray_videos(frames: np.ndarray) -> torch.Tensor:
    """``(N, T, H, W)`` luminance → float32 ``(N, T, 3, H, W)`` in [0, 1]."""
    x = torch.from_numpy(np.asarray(frames, dtype=np.float32)).clamp_(0, 1)
    return x[:, :, None].expand(-1, -1, 3, -1, -1).contiguous()


# ---------------------------------------------------------------------------- generators
def drifting_gratings(directions: Sequence[float] = (0, 45, 90, 135, 180, 225, 270, 315),
                      speeds: Sequence[float] = (1.0, 2.0), spatial_frequency: float = 4.0, size: int = 64,
                      n_frames: int = 16, aperture: str | None = None, radius: float = 0.5,
                      contrast: float = 1.0, fps: float = 8.0) -> MovingStimuli:
    """Sinusoidal gratings drifting in each direction at each speed.

    The stripes are perpendicular to the direction of motion (the luminance varies along it, as
    :func:`~neuroperception.stimuli.procedural.grating` with ``orientation=direction``); the phase
    advances by ``360 · spatial_frequency · speed / size`` degrees per frame.

    **Aperture problem**: a grating is one-dimensional, so any velocity whose component along the
    direction of motion equals ``speed`` gives the same frames. The true flow returned is the
    *normal* velocity (the shortest one, ``speed`` along ``direction``) inside the aperture and 0
    outside it; ``mask`` marks the aperture (a Gaussian window counts where it exceeds 1% of its peak).

    Parameters
    ----------
    directions : sequence of float
        Degrees, counter-clockwise from rightward on screen.
    speeds : sequence of float
        Pixels per frame.
    spatial_frequency : float
        Cycles per image width.
    size, n_frames : int
        Frame size in pixels and number of frames.
    aperture : {None, "circle", "gaussian"}
        Window with ``radius`` in image widths (as in :func:`~neuroperception.stimuli.procedural.grating`).
    contrast : float
        Michelson contrast around mean grey.
    fps : float
        Frame rate recorded in the :class:`VideoSet`.

    Examples
    --------
    >>> m = drifting_gratings(directions=(90,), speeds=(2.0,), size=16, n_frames=4)
    >>> m.ids, m.flow[0, :, 0, 0].tolist(), tuple(m.videos.videos.shape)
    (['grating-d090-s2.0'], [0.0, -2.0], (1, 4, 3, 16, 16))
    """
    _check_common(size, n_frames)
    directions = _check_values("directions", directions, positive=False)
    speeds = _check_values("speeds", speeds)
    window = grating(size, 0.0, 0.0, 0.0, 1.0, aperture, radius) * 2 - 1  # the aperture itself
    inside = window > 0.01
    frames, flows, rows = [], [], []
    for d, s in itertools.product(directions, speeds):
        step = -360.0 * spatial_frequency * s / size
        frames.append([grating(size, d, spatial_frequency, step * t, contrast, aperture, radius)
                       for t in range(n_frames)])
        dx, dy = _velocity(d, s)
        flows.append(np.stack([dx * inside, dy * inside]))
        rows.append(dict(id=f"grating-{_direction_tag(d)}-{_tag('s', s)}", direction=d, speed=s, dx=dx, dy=dy,
                         spatial_frequency=spatial_frequency, contrast=contrast, aperture=aperture or "none"))
    ids = [r["id"] for r in rows]
    videos = VideoSet(_gray_videos(np.asarray(frames)), _unique(ids), fps=fps, size=size,
                      source="procedural:drifting_gratings")
    mask = torch.from_numpy(np.broadcast_to(inside, (len(ids), size, size)).copy())
    return MovingStimuli(videos, torch.from_numpy(np.asarray(flows, dtype=np.float32)), pd.DataFrame(rows), mask)


def _unique(ids: list[str]) -> list[str]:
    return check_ids(ids, len(ids))


def _dense_field(kind: str, size: int, direction: float, speed: float) -> np.ndarray:
    """The dense velocity field ``(2, H, W)`` of a translation, rotation or expansion."""
    c = (size - 1) / 2.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    if kind == "translation":
        dx, dy = _velocity(direction, speed)
        return np.stack([np.full_like(xs, dx), np.full_like(ys, dy)])
    rate = speed / (size / 4.0)  # ``speed`` is reached at a quarter image width from the centre
    if kind == "rotation":  # counter-clockwise on screen for positive speed
        return np.stack([rate * (ys - c), -rate * (xs - c)])
    return np.stack([rate * (xs - c), rate * (ys - c)])  # expansion (contraction when speed < 0)


def _velocity_at(kind: str, size: int, direction: float, speed: float, pos: np.ndarray) -> np.ndarray:
    c = (size - 1) / 2.0
    if kind == "translation":
        return np.broadcast_to(np.array(_velocity(direction, speed)), pos.shape)
    rate = speed / (size / 4.0)
    rel = pos - c
    if kind == "rotation":
        return np.stack([rate * rel[:, 1], -rate * rel[:, 0]], axis=1)
    return rate * rel


def _render_dots(pos: np.ndarray, size: int, dot_size: float) -> np.ndarray:
    """Anti-aliased white discs of diameter ``dot_size`` at ``pos`` (x, y) on black."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    if len(pos) == 0:
        return np.zeros((size, size))
    d = np.hypot(xs[None] - pos[:, 0, None, None], ys[None] - pos[:, 1, None, None])
    return np.clip(dot_size / 2.0 + 0.5 - d, 0.0, 1.0).max(axis=0)


@fill_doc
def moving_dots(directions: Sequence[float] | None = None, speeds: Sequence[float] = (1.0, 2.0),
                coherence: float = 1.0, density: float = 0.01, dot_size: float = 2.0, flow: str = "translation",
                size: int = 64, n_frames: int = 16, repeats: int = 1, fps: float = 8.0,
                random_state: int | np.random.Generator | None = 0) -> MovingStimuli:
    """Random-dot kinematograms: white dots on black sampling a dense velocity field.

    A fraction ``coherence`` of the dots moves with the field (each step a dot at ``p`` moves to
    ``p + v(p)``); the others move at the same speed in random directions, redrawn every frame.
    The returned ``flow`` is the dense field of the signal; it is seen only where dots are, which
    ``mask`` marks (pixels a dot covered in a frame that has a successor). Dots leaving the frame
    re-enter on the opposite side (translation) or are redrawn at random positions.

    Parameters
    ----------
    directions : sequence of float, optional
        Translation directions in degrees (default 8 directions, every 45°); only for
        ``flow="translation"``.
    speeds : sequence of float
        Pixels per frame. For ``"rotation"`` and ``"expansion"`` the speed reached at a quarter image
        width from the centre; negative speeds rotate clockwise / contract.
    coherence : float
        Fraction of signal dots in [0, 1].
    density : float
        Dots per pixel.
    dot_size : float
        Dot diameter in pixels.
    flow : {"translation", "rotation", "expansion"}
        The dense field.
    size, n_frames : int
        Frame size and number of frames.
    repeats : int
        Videos per condition, with different dots (ids end in ``-r0``, ``-r1``...).
    %(random_state)s

    Examples
    --------
    >>> m = moving_dots(directions=(0,), speeds=(1.0,), size=16, n_frames=3)
    >>> m.ids, m.flow[0, :, 5, 5].tolist(), int(m.params.loc[0, "n_dots"])
    (['dots-translation-d000-s1.0-c1.0-r0'], [1.0, 0.0], 3)
    """
    _check_common(size, n_frames)
    if flow not in ("translation", "rotation", "expansion"):
        raise InputError(f"flow: received {flow!r}; expected 'translation', 'rotation' or 'expansion'")
    if directions is not None and flow != "translation":
        raise InputError(f"directions: received {directions!r} with flow={flow!r}; expected directions only for "
                         "flow='translation' (rotation and expansion are signed by speed)")
    directions = _check_values("directions", (0, 45, 90, 135, 180, 225, 270, 315) if directions is None
                               else directions, positive=False) if flow == "translation" else [0.0]
    speeds = _check_values("speeds", speeds, positive=False)
    if flow == "translation" and min(speeds) <= 0:
        raise InputError(f"speeds: received {speeds!r}; expected positive speeds for translation")
    if not 0.0 <= coherence <= 1.0:
        raise InputError(f"coherence: received {coherence!r}; expected a fraction in [0, 1]")
    if not (np.isfinite(density) and 0 < density <= 1) or not (np.isfinite(dot_size) and dot_size > 0):
        raise InputError(f"density, dot_size: received {density!r}, {dot_size!r}; expected density in (0, 1] dots "
                         "per pixel and a positive dot diameter")
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise InputError(f"repeats: received {repeats!r}; expected a positive int")
    rng = check_random_state(random_state)
    n_dots = max(1, int(round(density * size * size)))
    frames, flows, masks, rows = [], [], [], []
    for d, s, r in itertools.product(directions, speeds, range(repeats)):
        pos = rng.uniform(0, size, (n_dots, 2))
        signal = rng.random(n_dots) < coherence
        video, seen = [], np.zeros((size, size), bool)
        for t in range(n_frames):
            img = _render_dots(pos, size, dot_size)
            video.append(img)
            if t == n_frames - 1:
                break
            seen |= img > 0
            v = _velocity_at(flow, size, d, s, pos).copy()
            angle = rng.uniform(0, 2 * np.pi, n_dots)
            noise = abs(s) * np.stack([np.cos(angle), np.sin(angle)], axis=1)
            pos = pos + np.where(signal[:, None], v, noise)
            if flow == "translation":
                pos %= size
            else:
                out = ((pos < 0) | (pos >= size)).any(axis=1) | (np.hypot(*(pos - (size - 1) / 2).T) < 1.0)
                pos[out] = rng.uniform(0, size, (int(out.sum()), 2))
        frames.append(video)
        flows.append(_dense_field(flow, size, d, s))
        masks.append(seen)
        tag = f"{flow}-{_direction_tag(d)}" if flow == "translation" else flow
        dx, dy = _velocity(d, s) if flow == "translation" else (0.0, 0.0)
        rows.append(dict(id=f"dots-{tag}-{_tag('s', s)}-{_tag('c', coherence)}-r{r}", flow=flow,
                         direction=d if flow == "translation" else np.nan, speed=s, dx=dx, dy=dy,
                         coherence=coherence, n_dots=n_dots, dot_size=dot_size, repeat=r))
    videos = VideoSet(_gray_videos(np.asarray(frames)), _unique([r["id"] for r in rows]), fps=fps, size=size,
                      source="procedural:moving_dots")
    return MovingStimuli(videos, torch.from_numpy(np.asarray(flows, dtype=np.float32)), pd.DataFrame(rows),
                         torch.from_numpy(np.asarray(masks)))


_COMPONENTS = ("translation", "rotation", "expansion", "shear")


@fill_doc
def flowing_textures(n: int = 8, size: int = 64, n_frames: int = 8,
                     components: Sequence[str] = _COMPONENTS, max_speed: float = 2.0,
                     spatial_frequency: float = 6.0, contrast: float = 0.2, fps: float = 8.0,
                     random_state: int | np.random.Generator | None = 0) -> MovingStimuli:
    """Smooth random textures moved by stationary random affine flows.

    Each video starts from band-pass noise (:func:`~neuroperception.stimuli.procedural.bandpass_noise`)
    on a canvas larger than the frame; every next frame is
    ``flow_fields.warp(frame, flow)`` of the previous one on the canvas, and the frame is the
    canvas's centre crop, so no border artefact enters it and ``flow`` is exactly the flow that
    made the motion: ``warp(frame_t, flow) == frame_{t+1}`` up to the crop's edge.

    The flow is ``v(x) = b + A (x − c)`` about the frame centre ``c``, with the random components
    asked for: a translation ``b``, a rotation, an expansion and a (trace-free, symmetric) shear.
    It is scaled so that its largest speed over the frame is uniform in
    ``[max_speed / 2, max_speed]``. ``params`` holds ``tx, ty`` (``b``), ``rotation``, ``expansion``,
    ``shear1``, ``shear2`` (per frame, per pixel from the centre), the mean flow ``dx, dy`` over the
    frame and ``speed_max``. Repeated bilinear warping slowly blurs the texture (its RMS contrast
    falls by about 3% per frame).

    Parameters
    ----------
    n : int
        Number of videos.
    size, n_frames : int
        Frame size and number of frames.
    components : sequence of {"translation", "rotation", "expansion", "shear"}
        Which affine components are drawn (the others are 0).
    max_speed : float
        Pixels per frame.
    spatial_frequency : float
        Peak of the texture's pass band, cycles per frame width.
    contrast : float
        RMS contrast of the texture.
    %(random_state)s
        The ids record the seed (for a Generator or None, the seed drawn from it).

    Examples
    --------
    >>> m = flowing_textures(n=2, size=16, n_frames=3, components=("translation",), random_state=1)
    >>> m.ids, tuple(m.flow.shape), bool(m.mask.all())
    (['texture-r1-000', 'texture-r1-001'], (2, 2, 16, 16), True)
    """
    _check_common(size, n_frames)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n: received {n!r}; expected a positive int")
    components = [components] if isinstance(components, str) else list(components)
    bad = [c for c in components if c not in _COMPONENTS]
    if bad or not components:
        raise InputError(f"components: received {components!r}; expected a non-empty subset of {_COMPONENTS}")
    if not (np.isfinite(max_speed) and max_speed > 0):
        raise InputError(f"max_speed: received {max_speed!r}; expected a positive number of pixels per frame")
    base_seed = seed_from(random_state)
    rng = np.random.default_rng(base_seed)
    c = (size - 1) / 2.0
    # border values of the canvas spread inwards by at most the canvas's top speed per step, which
    # grows with the canvas for rotations/expansions: pad >= (T-1) * max_speed * (c + pad) / c
    travel = (n_frames - 1) * max_speed
    pad = int(np.ceil(travel / max(1.0 - travel / c, 0.2))) + 2
    canvas = size + 2 * pad
    c_canvas = (canvas - 1) / 2.0
    ys, xs = np.mgrid[0:canvas, 0:canvas].astype(np.float64)
    rel = np.stack([xs - c_canvas, ys - c_canvas])  # canvas and frame share their centre
    crop = (slice(pad, pad + size), slice(pad, pad + size))
    fields, rows = [], []
    for i in range(n):
        b = rng.standard_normal(2) if "translation" in components else np.zeros(2)
        rot, exp = (rng.standard_normal() if k in components else 0.0 for k in ("rotation", "expansion"))
        sh1, sh2 = rng.standard_normal(2) if "shear" in components else (0.0, 0.0)
        A = np.array([[exp + sh1, rot + sh2], [-rot + sh2, exp - sh1]]) / c  # per pixel from the centre
        field = b[:, None, None] + np.einsum("ij,jhw->ihw", A, rel)
        peak = np.hypot(*field[:, crop[0], crop[1]]).max()
        scale = rng.uniform(0.5, 1.0) * max_speed / max(peak, 1e-12)
        fields.append(field * scale)
        A, b = A * scale, b * scale
        rows.append(dict(id=f"texture-r{base_seed}-{i:03d}", tx=b[0], ty=b[1], rotation=(A[0, 1] - A[1, 0]) / 2,
                         expansion=(A[0, 0] + A[1, 1]) / 2, shear1=(A[0, 0] - A[1, 1]) / 2,
                         shear2=(A[0, 1] + A[1, 0]) / 2, dx=float(fields[-1][0][crop].mean()),
                         dy=float(fields[-1][1][crop].mean()),
                         speed_max=float(np.hypot(*fields[-1][:, crop[0], crop[1]]).max())))
    seed = int(rng.integers(2**31))
    texture = bandpass_noise(n, spatial_frequency * canvas / size, 1.0, canvas, contrast, seed).images
    flow_canvas = torch.from_numpy(np.asarray(fields, dtype=np.float32))
    video = [texture]
    for _ in range(n_frames - 1):
        video.append(warp(video[-1], flow_canvas))
    x = torch.stack(video, dim=1)[..., crop[0], crop[1]].contiguous()
    videos = VideoSet(x, _unique([r["id"] for r in rows]), fps=fps, size=size, source="procedural:flowing_textures")
    flow = flow_canvas[..., crop[0], crop[1]].contiguous()
    return MovingStimuli(videos, flow, pd.DataFrame(rows), torch.ones(n, size, size, dtype=torch.bool))
