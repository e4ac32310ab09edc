"""Scanpath inputs shared by the scanpath metrics: checked ``(n, 2)``/``(n, 3)`` arrays and region labels.

Used by :mod:`neuroperception.scanpaths.scanpath_metrics` and its MultiMatch module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import describe
from ..errors import InputError, ShapeError
from .table import Scanpaths


def _path(a: Any, name: str) -> np.ndarray:
    arr = a.detach().cpu().numpy() if hasattr(a, "detach") else a
    arr = np.asarray(arr, dtype=float)
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise ShapeError(f"{name}: received {describe(arr)}; expected (n, 2) x, y or (n, 3) x, y, duration")
    if arr.shape[0] == 0:
        raise InputError(f"{name}: received an empty scanpath; expected at least one fixation")
    if not np.isfinite(arr[:, :2]).all():
        raise InputError(f"{name}: received {describe(arr)}; expected finite x, y")
    return arr


def _paths(paths: Any, name: str) -> tuple[list[np.ndarray], Any]:
    """A list of scanpath arrays and, for a Scanpaths, its per-scanpath metadata."""
    if isinstance(paths, Scanpaths):
        return [_path(p, f"{name}[{k}]") for k, p in enumerate(paths.arrays(with_duration=True))], paths.meta
    if isinstance(paths, np.ndarray) and paths.ndim == 2:
        return [_path(paths, name)], None
    if not isinstance(paths, (list, tuple)) or not paths:
        raise InputError(f"{name}: received {type(paths).__name__}; expected a non-empty list of (n, 2)/(n, 3) "
                         "arrays or a Scanpaths")
    return [_path(p, f"{name}[{k}]") for k, p in enumerate(paths)], None


def _grid_labels(xy: np.ndarray, grid: tuple[int, int], size: tuple[float, float], name: str) -> np.ndarray:
    """ROI index ``row * n_cols + col`` of each fixation on a ``grid = (n_rows, n_cols)`` over the image."""
    if size is None:
        raise InputError(f"image_size: received None; expected (height, width) in pixels for the {name} grid")
    rows, cols = (int(g) for g in grid)
    h, w = (float(s) for s in size)
    if rows < 1 or cols < 1 or h <= 0 or w <= 0:
        raise InputError(f"grid/size: received {grid}/{size}; expected positive (rows, cols) and "
                         "(height, width)")
    x, y = xy[:, 0], xy[:, 1]
    out = (x < 0) | (y < 0) | (x >= w) | (y >= h)
    if out.any():
        k = int(np.argmax(out))
        raise InputError(f"{name}: fixation (x={x[k]:.4g}, y={y[k]:.4g}) lies outside the image of (height, width) "
                         f"{size}; expected 0 <= x < width, 0 <= y < height")
    return (np.floor(y * rows / h).astype(int) * cols + np.floor(x * cols / w).astype(int))


def _nearest_labels(xy: np.ndarray, centers: Any) -> np.ndarray:
    c = np.asarray(centers, dtype=float)
    if c.ndim != 2 or c.shape[1] != 2 or len(c) == 0:
        raise ShapeError(f"centers: received {describe(c)}; expected (k, 2) cluster centres x, y")
    return np.argmin(((xy[:, None, :2] - c[None]) ** 2).sum(-1), axis=1)
