"""Input checking and map normalisation shared by the saliency-map metrics.

Maps become ``(N, H, W)`` float64 arrays (with their stimulus ids when labelled), fixations become
one ``(n_i, 2)`` array per map and then (map, row, column) pixel indices truncated as pysaliency
does; maps are turned into densities by pysaliency's rule. Used by
:mod:`neuroperception.scanpaths.saliency_metrics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import check_alignment, describe
from ..errors import AlignmentError, InputError, ShapeError
from .table import Scanpaths


def _as_maps(maps: Any, name: str, *, log_density: bool = False) -> tuple[np.ndarray, bool, list[str] | None]:
    """Return ``(maps (N, H, W) float64, was_single, stimulus ids or None)`` after checking values."""
    ids = None
    if isinstance(maps, xr.DataArray):
        dims = tuple(maps.dims)
        if dims not in (("y", "x"), ("stimulus", "y", "x")):
            raise ShapeError(f"{name}: received DataArray with dims {dims}; expected ('stimulus', 'y', 'x') "
                             "or ('y', 'x')")
        if "stimulus" in dims:
            coord = next((c for c in ("stimulus_id", "stimulus") if c in maps.coords), None)
            if coord is not None:
                ids = [str(v) for v in maps[coord].values]
        arr = maps.values
    elif hasattr(maps, "detach") and hasattr(maps, "cpu"):
        arr = maps.detach().cpu().numpy()
    else:
        arr = np.asarray(maps)
    if arr.ndim not in (2, 3) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ShapeError(f"{name}: received {describe(np.asarray(arr))}; expected a numeric map (H, W) "
                         "or maps (N, H, W)")
    single = arr.ndim == 2
    arr = np.asarray(arr, dtype=float).reshape((1,) + arr.shape[-2:] if single else arr.shape)
    if arr.size == 0:
        raise ShapeError(f"{name}: received an empty array {arr.shape}; expected maps (N, H, W) with N, H, W > 0")
    flat = arr.reshape(len(arr), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)             # NaN and Inf propagate into these
    if log_density:
        if np.isnan(high).any() or np.isposinf(high).any():
            raise InputError(f"{name}: received {describe(arr)}; expected a log density without NaN or +inf")
        total = np.concatenate([_log_sum_exp(flat[block], high[block]) for block in _blocks(flat)])
        bad = np.nonzero(np.abs(total) > 1e-3)[0]
        if bad.size:
            raise InputError(f"{name}: map {int(bad[0])} has log-sum-exp {total[bad[0]]:.4g}; expected a normalised "
                             "log density (log-sum-exp 0); convert saliency maps with to_log_density()")
        return arr, single, ids
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise InputError(f"{name}: received {describe(arr)}; expected finite values (no NaN or Inf)")
    zero = np.nonzero((low == 0) & (high == 0))[0]
    if zero.size:
        raise InputError(f"{name}: map {int(zero[0])} (of {len(arr)}) is all zeros; expected a saliency map with "
                         "some non-zero values")
    return arr, single, ids


def _blocks(flat: np.ndarray):
    """Slices of about 2**17 values (1 MiB of float64): per-block work stays in the CPU cache."""
    step = max(1, (1 << 17) // max(1, flat.shape[1]))
    return [slice(k, k + step) for k in range(0, len(flat), step)]


def _log_sum_exp(flat: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per-row log-sum-exp in float32 (enough for a 1e-3 normalisation check), ``-inf`` rows allowed."""
    shift = np.where(np.isfinite(high), high, 0.0)
    x = flat.astype(np.float32)
    x -= shift[:, None].astype(np.float32)
    np.exp(x, out=x)
    with np.errstate(divide="ignore"):
        return shift + np.log(x.sum(axis=1, dtype=np.float64))


def _fixation_array(f: Any, name: str) -> np.ndarray:
    arr = f.detach().cpu().numpy() if hasattr(f, "detach") else np.asarray(f, dtype=float)
    arr = np.asarray(arr, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise ShapeError(f"{name}: received {describe(arr)}; expected (n, 2) x, y pixels or (n, 3) x, y, duration")
    if not np.isfinite(arr[:, :2]).all():
        raise InputError(f"{name}: received {describe(arr)}; expected finite x, y coordinates")
    return arr[:, :2]


def _fixation_sets(fixations: Any, n_maps: int, ids: list[str] | None, image_id: Any, name: str) -> list[np.ndarray]:
    """One ``(n_i, 2)`` array per map, from an array, a list of arrays or a Scanpaths."""
    if isinstance(fixations, Scanpaths):
        table = fixations.table
        if image_id is not None:
            wanted = [str(image_id)] if isinstance(image_id, (str, int)) else [str(i) for i in image_id]
        elif ids is not None:
            wanted = ids
        elif n_maps == 1 and table["image_id"].nunique() == 1:
            wanted = [str(table["image_id"].iloc[0])]
        else:
            raise InputError(f"{name}: received a Scanpaths over {table['image_id'].nunique()} images and maps "
                             "without stimulus_id; expected image_id=<id per map> or maps labelled with stimulus_id")
        if len(wanted) != n_maps:
            raise ShapeError(f"image_id: received {len(wanted)} ids; expected one per map ({n_maps})")
        if image_id is None:
            extra = sorted(set(table["image_id"]) - set(wanted))
            if extra:
                raise AlignmentError(f"{name}: fixations on images {extra[:5]} have no map (maps: {wanted[:5]}...); "
                                     "expected a map for every image id, or image_id= to choose images")
        groups = {k: g[["x", "y"]].to_numpy(dtype=float) for k, g in table.groupby("image_id", sort=False)}
        return [groups.get(w, np.zeros((0, 2))) for w in wanted]
    if isinstance(fixations, (list, tuple)) and len(fixations) and not np.isscalar(fixations[0]) \
            and np.asarray(fixations[0]).ndim == 2:
        if len(fixations) != n_maps:
            raise ShapeError(f"{name}: received {len(fixations)} fixation arrays; expected one per map ({n_maps})")
        return [_fixation_array(f, f"{name}[{k}]") for k, f in enumerate(fixations)]
    if n_maps != 1:
        raise ShapeError(f"{name}: received one fixation array for {n_maps} maps; expected a list of {n_maps} "
                         "(n_i, 2) arrays or a Scanpaths")
    return [_fixation_array(fixations, name)]


def _pixel_indices(sets: list[np.ndarray], shape: tuple[int, int],
                   name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate fixation sets into (map index, row, column), truncating as pysaliency does."""
    h, w = shape
    counts = np.array([len(s) for s in sets])
    if counts.sum() == 0:
        raise InputError(f"{name}: received no fixations; expected at least one fixation")
    xy = np.concatenate(sets, axis=0)
    outside = (xy[:, 0] < 0) | (xy[:, 1] < 0) | (xy[:, 0] >= w) | (xy[:, 1] >= h)
    if outside.any():
        k = int(np.argmax(outside))
        raise InputError(f"{name}: {int(outside.sum())} fixations fall outside the map, e.g. (x={xy[k, 0]:.4g}, "
                         f"y={xy[k, 1]:.4g}) on a map of (height, width) {shape}; expected 0 <= x < width, "
                         "0 <= y < height")
    n_idx = np.repeat(np.arange(len(sets)), counts)
    return n_idx, xy[:, 1].astype(int), xy[:, 0].astype(int)


def _average(values: np.ndarray, n_idx: np.ndarray, average: str | None) -> Any:
    if average is None:
        return values
    if average == "fixation":
        return float(np.mean(values))
    if average == "image":
        present = np.unique(n_idx)
        sums = np.bincount(n_idx, weights=values)[present]
        return float(np.mean(sums / np.bincount(n_idx)[present]))
    raise InputError(f"average: received {average!r}; expected 'fixation', 'image' or None")


def _per_map(values: np.ndarray, single: bool, ids: list[str] | None) -> Any:
    if single:
        return float(values[0])
    if ids is not None:
        return xr.DataArray(values, dims="stimulus", coords={"stimulus_id": ("stimulus", ids)})
    return values


def _pair(map_a: Any, map_b: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, bool, list[str] | None]:
    if isinstance(map_a, xr.DataArray) and isinstance(map_b, xr.DataArray) and "stimulus" in map_a.dims \
            and "stimulus" in map_b.dims and "stimulus_id" in map_a.coords and "stimulus_id" in map_b.coords:
        map_a, map_b = check_alignment(map_a, map_b, names=list(names))
    a, single_a, ids = _as_maps(map_a, names[0])
    b, single_b, ids_b = _as_maps(map_b, names[1])
    if a.shape != b.shape:
        raise ShapeError(f"{names[1]}: received maps of shape {b.shape[-2:] if single_b else b.shape}; expected the "
                         f"shape of {names[0]} {a.shape[-2:] if single_a else a.shape}")
    return a, b, single_a and single_b, ids if ids is not None else ids_b


def _densities(flat: np.ndarray) -> np.ndarray:
    """pysaliency's ``convert_saliency_map_to_density`` (minimum_value=0) for rows of flattened maps."""
    out = np.array(flat, dtype=float, copy=True)
    low = out.min(axis=1)
    if (low < 0).any():
        out[low < 0] -= low[low < 0, None]
    total = out.sum(axis=1)
    if (total == 0).any():
        out[total == 0] = 1.0
        total[total == 0] = out.shape[1]
    out /= total[:, None]
    return out
