"""Foveation: an image that is sharp where the eyes have been and blurred elsewhere.

This is the foveation layer of NeVA (Schwinn et al. 2022) written as one batched, differentiable
function. Each fixation opens a Gaussian window of *visibility*; the windows of the fixations seen
so far are accumulated (older ones optionally fading with ``memory``) and clipped to ``[0, 1]``.
The image is then blended, pixel by pixel, from a stack of increasingly blurred copies: visibility
1 takes the sharpest level, visibility 0 the blurriest, values in between interpolate linearly
between neighbouring levels. With two levels (sharp, one blur) this is exactly NeVA's mask form
``x + (1 - v) * (blur(x) - x)``; with more levels it is a blurred-stack (pyramid) foveation in
which blur grows smoothly with distance from the fixations.

Lengths (the foveal window ``sigma`` and the blur levels) are fractions of the image's longer
side, so one setting means the same on any image size; fixations are pixels ``(x, y)``, origin
top-left, as everywhere in :mod:`neuroperception.scanpaths`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import check_images, describe
from ..errors import InputError, ShapeError

__all__ = ["foveate", "visibility_map"]

DEFAULT_SIGMA = 0.1
DEFAULT_BLUR_LEVELS = (0.0, 0.045)


def _check_fraction(value: Any, name: str, *, allow_zero: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        expected = "a non-negative" if allow_zero else "a positive"
        raise InputError(f"{name}: received {value!r}; expected {expected} fraction of the image's longer side")
    return v


def _check_options(sigma, blur_levels, memory, aggregate) -> tuple[float, tuple[float, ...], float, str]:
    s = _check_fraction(sigma, "sigma", allow_zero=False)
    if isinstance(blur_levels, (str, bytes)) or not isinstance(blur_levels, Sequence) or len(blur_levels) < 1:
        raise InputError(f"blur_levels: received {blur_levels!r}; expected a sequence of blur widths, "
                         "sharpest first, e.g. (0.0, 0.045)")
    levels = tuple(_check_fraction(b, "blur_levels", allow_zero=True) for b in blur_levels)
    if any(b <= a for a, b in zip(levels, levels[1:])):
        raise InputError(f"blur_levels: received {blur_levels!r}; expected strictly increasing blur widths")
    try:
        m = float(memory)
    except (TypeError, ValueError):
        m = float("nan")
    if not 0.0 <= m <= 1.0:
        raise InputError(f"memory: received {memory!r}; expected a number in [0, 1] (1: every fixation stays "
                         "visible, 0: only the latest)")
    if aggregate not in ("sum", "max"):
        raise InputError(f"aggregate: received {aggregate!r}; expected 'sum' (NeVA) or 'max' (nearest fixation)")
    return s, levels, m, aggregate


def _gaussian_blur(x: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with reflected borders (identity for sigma 0)."""
    if sigma_px <= 0:
        return x
    h, w = x.shape[-2:]
    out = x
    for dim, size in ((-1, w), (-2, h)):
        radius = min(int(math.ceil(3 * sigma_px)), size - 1)
        if radius < 1:
            continue
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        k = torch.exp(-0.5 * (t / sigma_px) ** 2)
        k = (k / k.sum()).view(1, 1, 1, -1) if dim == -1 else (k / k.sum()).view(1, 1, -1, 1)
        pad = (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius)
        c = out.shape[1]
        out = F.conv2d(F.pad(out, pad, mode="reflect"), k.expand(c, 1, *k.shape[-2:]), groups=c)
    return out


def _blur_stack(images: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
    """``(L, N, C, H, W)``: the images blurred at each level (fractions of the longer side)."""
    side = max(images.shape[-2:])
    return torch.stack([_gaussian_blur(images, lv * side) for lv in levels])


def _windows(positions: torch.Tensor, h: int, w: int, sigma_px: float) -> torch.Tensor:
    """Gaussian windows ``(N, K, H, W)`` centred on pixel positions ``(N, K, 2)`` (x, y)."""
    ys = torch.arange(h, dtype=positions.dtype, device=positions.device).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=positions.dtype, device=positions.device).view(1, 1, 1, w)
    dx = xs - positions[..., 0, None, None]
    dy = ys - positions[..., 1, None, None]
    return torch.exp(-(dx * dx + dy * dy) / (2.0 * sigma_px * sigma_px))


def _visibility(positions: torch.Tensor, valid: torch.Tensor, h: int, w: int, sigma_px: float,
                memory: float, aggregate: str) -> torch.Tensor:
    """Visibility ``(N, 1, H, W)`` in [0, 1] from fixations ``(N, K, 2)``; ``valid`` masks padding."""
    n, k = positions.shape[:2]
    if k == 0:
        return positions.new_zeros(n, 1, h, w)
    age = torch.arange(k - 1, -1, -1, dtype=positions.dtype, device=positions.device)
    fade = torch.full_like(age, memory).pow(age) if memory < 1 else torch.ones_like(age)
    weights = (fade.view(1, k) * valid.to(positions.dtype)).view(n, k, 1, 1)
    win = _windows(positions, h, w, sigma_px) * weights
    vis = win.sum(1, keepdim=True) if aggregate == "sum" else win.amax(1, keepdim=True)
    return vis.clamp(0.0, 1.0)


def _blend(stack: torch.Tensor, visibility: torch.Tensor) -> torch.Tensor:
    """Per-pixel linear interpolation across blur levels: visibility 1 → level 0, 0 → the last."""
    n_levels = stack.shape[0]
    if n_levels == 1:
        return stack[0]
    t = (1.0 - visibility) * (n_levels - 1)
    out = torch.zeros_like(stack[0])
    for level in range(n_levels):
        out = out + stack[level] * (1.0 - (t - level).abs()).clamp_min(0.0)
    return out


def _check_fixations(fixations: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixations as a float tensor ``(N, K, 2)`` (NaN rows become invalid entries at 0) and a validity mask."""
    if isinstance(fixations, torch.Tensor):
        fix = fixations
    else:
        try:
            fix = torch.as_tensor(np.asarray(fixations, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise InputError(f"fixations: received {type(fixations).__name__}; expected an array (N, K, 2) of "
                             "pixel (x, y)") from err
    if fix.ndim == 2:
        fix = fix.unsqueeze(0).expand(n, -1, -1)
    if fix.ndim != 3 or fix.shape[-1] != 2 or fix.shape[0] != n:
        raise ShapeError(f"fixations: received {describe(fix)}; expected (N, K, 2) pixel (x, y) with N={n} "
                         "(or (K, 2) shared by every image)")
    if not torch.is_floating_point(fix):
        fix = fix.float()
    if torch.isinf(fix).any():
        raise InputError(f"fixations: received {describe(fix)}; expected finite (x, y) (NaN marks a missing fixation)")
    nan = torch.isnan(fix)
    if (nan.any(-1) != nan.all(-1)).any():
        raise InputError("fixations: received rows with only one of x, y NaN; expected both NaN (padding) or neither")
    valid = ~nan.any(-1)
    return torch.where(nan, torch.zeros_like(fix), fix), valid


def visibility_map(fixations: Any, size: tuple[int, int], *, sigma: float = DEFAULT_SIGMA, memory: float = 1.0,
                   aggregate: str = "sum") -> torch.Tensor:
    """How visible each pixel is after the given fixations: ``(N, 1, H, W)`` in ``[0, 1]``.

    Parameters
    ----------
    fixations : array-like or torch.Tensor
        ``(N, K, 2)`` pixel ``(x, y)`` per image, in viewing order (``(K, 2)`` for one image); rows
        of NaN are missing fixations (for scanpaths of different lengths).
    size : (int, int)
        ``(height, width)`` of the images.
    sigma : float
        Standard deviation of each fixation's Gaussian window, as a fraction of the longer side.
    memory : float in [0, 1]
        Weight kept per later fixation: the window of the ``j``-th last fixation is scaled by
        ``memory ** j`` (1: all stay visible; 0: only the latest; NeVA's "forgetting").
    aggregate : {"sum", "max"}
        Sum the windows and clip at 1 (NeVA) or take the nearest fixation's window.

    Returns
    -------
    torch.Tensor
        Differentiable with respect to ``fixations`` when they require gradients.

    Examples
    --------
    >>> v = visibility_map([[8.0, 4.0]], (16, 32), sigma=0.1)
    >>> tuple(v.shape), float(v[0, 0, 4, 8]), float(v[0, 0, 4, 30]) < 0.01
    ((1, 1, 16, 32), 1.0, True)
    """
    s, _, m, agg = _check_options(sigma, (0.0,), memory, aggregate)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size)):
        raise InputError(f"size: received {size!r}; expected (height, width) as positive ints")
    h, w = int(size[0]), int(size[1])
    probe = fixations if isinstance(fixations, torch.Tensor) else np.asarray(fixations, dtype=np.float32)
    n = 1 if probe.ndim == 2 else int(probe.shape[0])
    fix, valid = _check_fixations(fixations, n)
    return _visibility(fix, valid, h, w, s * max(h, w), m, agg)


def foveate(images: Any, fixations: Any, *, sigma: float = DEFAULT_SIGMA,
            blur_levels: Sequence[float] = DEFAULT_BLUR_LEVELS, memory: float = 1.0, aggregate: str = "sum",
            value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Blur images everywhere except around the fixations (NeVA's foveation), batched and differentiable.

    Parameters
    ----------
    images : torch.Tensor, array or ImageSet
        ``(N, 3, H, W)`` in ``[0, 1]`` (or ``value_range``); see
        :func:`~neuroperception._validation.check_images`. Gradients flow back to a tensor input.
    fixations : array-like or torch.Tensor
        ``(N, K, 2)`` pixel ``(x, y)`` per image, in viewing order, or ``(K, 2)`` for all images.
        NaN rows are missing fixations. Gradients flow back to a tensor that requires them.
    sigma : float
        Foveal window: standard deviation of each fixation's Gaussian, as a fraction of the longer side.
    blur_levels : sequence of float
        Gaussian blur widths (standard deviations, fractions of the longer side), sharpest first.
        Two levels give NeVA's mask form; more give a smooth blurred stack. The default
        ``(0, 0.045)`` is NevaClip's 10-pixel blur at 224 pixels.
    memory : float in [0, 1]
        How much earlier fixations stay visible (see :func:`visibility_map`).
    aggregate : {"sum", "max"}
        How windows combine (see :func:`visibility_map`).
    value_range : tuple
        Range of float inputs; the output is in ``[0, 1]``.

    Returns
    -------
    torch.Tensor
        ``(N, 3, H, W)`` float32 in ``[0, 1]``.

    Raises
    ------
    InputError
        Bad options, infinite fixations, images failing the usual checks.
    ShapeError
        ``fixations`` not ``(N, K, 2)`` for the ``N`` images.

    Examples
    --------
    >>> import torch
    >>> img = (torch.arange(64.0).view(1, 1, 8, 8).expand(1, 3, 8, 8) % 2)   # fine stripes
    >>> out = foveate(img, [[1.0, 1.0]], sigma=0.1, blur_levels=(0.0, 0.2))
    >>> bool(torch.allclose(out[0, :, 1, 1], img[0, :, 1, 1])), float((out[0, 0, 7, 6] - 0.5).abs()) < 0.2
    (True, True)
    """
    s, levels, m, agg = _check_options(sigma, blur_levels, memory, aggregate)
    if hasattr(images, "images") and not isinstance(images, torch.Tensor):
        images = images.images
    x = check_images(images, value_range=value_range, min_size=2)
    fix, valid = _check_fixations(fixations, x.shape[0])
    fix = fix.to(device=x.device, dtype=x.dtype)
    h, w = x.shape[-2:]
    side = max(h, w)
    vis = _visibility(fix, valid.to(x.device), h, w, s * side, m, agg)
    return _blend(_blur_stack(x, levels), vis)  # a convex blend of [0, 1] images stays in [0, 1]
