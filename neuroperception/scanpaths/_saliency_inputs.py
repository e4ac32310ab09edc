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
from ._map_reductions import row_sum_exp, row_sums
from .table import Scanpaths


def _stack(maps: Any, name: str) -> tuple[np.ndarray, bool, list[str] | None]:
    """Return ``(maps (N, H, W) float64, was_single, stimulus ids or None)`` after checking the shape."""
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
    arr = np.ascontiguousarray(arr, dtype=float).reshape((1,) + arr.shape[-2:] if single else arr.shape)
    if arr.size == 0:
        raise ShapeError(f"{name}: received an empty array {arr.shape}; expected maps (N, H, W) with N, H, W > 0")
    return arr, single, ids


def _as_maps(maps: Any, name: str, *, log_density: bool = False) -> tuple[np.ndarray, bool, list[str] | None]:
    """Return ``(maps (N, H, W) float64, was_single, stimulus ids or None)`` after checking values."""
    arr, single, ids = _stack(maps, name)
    if log_density:
        _check_log_densities(arr, name)
    else:
        _map_stats(arr, name)
    return arr, single, ids


def _map_stats(arr: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-map minimum and sum of ``(N, H, W)`` maps; NaN, Inf and all-zero maps are errors (:func:`_check_stats`)."""
    flat = arr.reshape(len(arr), -1)
    low, total = row_sums(flat, stats=("min", "sum"))
    _check_stats(flat, name, low, total)
    return low, total


def _check_stats(flat: np.ndarray, name: str, low: np.ndarray, total: np.ndarray, first: int = 0) -> None:
    """Checks from the minimum and the sum of each map (rows ``first``, ``first + 1``, ... of a stack).

    A NaN makes the minimum NaN, an infinity makes the minimum or the sum infinite, and a map with
    no negative value sums to zero only when it is all zeros.
    """
    _check_finite(flat, name, np.isfinite(low) & np.isfinite(total), first)
    zero = np.nonzero((low >= 0) & (total == 0))[0]
    if zero.size:
        raise InputError(f"{name}: map {first + int(zero[0])} is all zeros; expected a saliency map with "
                         "some non-zero values")


def _pair_densities(names: tuple[str, str], flat_a: np.ndarray, flat_b: np.ndarray):
    """The per-block density rule of KL and SIM: check both maps' statistics, then pysaliency's densities."""
    def rule(rows: slice, low_a, sum_a, low_b, sum_b):
        out = []
        for flat, name, low, total in ((flat_a, names[0], low_a, sum_a), (flat_b, names[1], low_b, sum_b)):
            _check_stats(flat[rows], name, low, total, rows.start)
            out += _density_params(flat[rows], low, total)
        return out

    return rule


def _map_moments(arr: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-map sum and sum of squares, checked as :func:`_map_stats` checks (all zeros: sum of squares 0)."""
    flat = arr.reshape(len(arr), -1)
    total, sumsq = row_sums(flat, stats=("sum", "sumsq"))
    _check_moments(flat, name, total, sumsq)
    return total, sumsq


def _check_moments(flat: np.ndarray, name: str, total: np.ndarray, sumsq: np.ndarray) -> None:
    _check_finite(flat, name, np.isfinite(total) & np.isfinite(sumsq))
    zero = np.nonzero(sumsq == 0)[0]
    if zero.size:
        raise InputError(f"{name}: map {int(zero[0])} is all zeros; expected a saliency map with some non-zero values")


def _check_finite(flat: np.ndarray, name: str, ok: np.ndarray, first: int = 0) -> None:
    """Raise for the first map whose reductions were not finite: NaN/Inf values, or values too large."""
    bad = np.nonzero(~ok)[0]
    if not bad.size:
        return
    n = int(bad[0])
    if not np.isfinite(flat[n]).all():
        raise InputError(f"{name}: received {describe(flat[n])} in map {first + n}; expected finite values "
                         "(no NaN or Inf)")
    raise InputError(f"{name}: map {first + n} has values up to {np.abs(flat[n]).max():.3g}, too large to sum in "
                     "float64; expected a map that can be rescaled (divide it by its maximum)")


def _check_log_densities(arr: np.ndarray, name: str) -> None:
    """Every map must sum to one once exponentiated (within 1e-3); the failing map is described."""
    flat = arr.reshape(len(arr), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.log(row_sum_exp(flat))
    bad = np.nonzero(~(np.abs(total) <= 1e-3))[0]
    if not bad.size:
        return
    row = flat[bad[0]]
    if np.isnan(row).any() or np.isposinf(row).any():
        raise InputError(f"{name}: received {describe(arr)}; expected a log density without NaN or +inf")
    high = row.max()
    exact = high + np.log(np.exp(row - high).sum()) if np.isfinite(high) else high
    raise InputError(f"{name}: map {int(bad[0])} has log-sum-exp {exact:.4g}; expected a normalised "
                     "log density (log-sum-exp 0); convert saliency maps with to_log_density()")


def _density_params(arr: np.ndarray, low: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, inv_total)`` per map so that ``(map - offset) * inv_total`` is its density.

    pysaliency's ``convert_saliency_map_to_density`` (minimum_value=0): maps with negative values
    are shifted by their minimum (their shifted sum is summed again, exactly), then divided by their
    sum; a map that is all zeros after the shift becomes uniform.
    """
    flat = arr.reshape(len(arr), -1)
    offset = np.where(low < 0, low, 0.0)
    total = np.array(total, dtype=float)
    negative = np.nonzero(low < 0)[0]
    if negative.size:
        total[negative] = (flat[negative] - low[negative, None]).sum(axis=1)
    flat_zero = total == 0                              # only a constant map shifted by its minimum
    offset[flat_zero] -= 1.0
    total[flat_zero] = flat.shape[1]
    return offset, 1.0 / total


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


def _fixation_sets(fixations: Any, n_maps: int, ids: list[str] | None, stimulus_id: Any, name: str) -> list[np.ndarray]:
    """One ``(n_i, 2)`` array per map, from an array, a list of arrays or a Scanpaths."""
    if isinstance(fixations, Scanpaths):
        table = fixations.table
        if stimulus_id is not None:
            wanted = [str(stimulus_id)] if isinstance(stimulus_id, (str, int)) else [str(i) for i in stimulus_id]
        elif ids is not None:
            wanted = ids
        elif n_maps == 1 and table["stimulus_id"].nunique() == 1:
            wanted = [str(table["stimulus_id"].iloc[0])]
        else:
            raise InputError(f"{name}: received a Scanpaths over {table['stimulus_id'].nunique()} images and maps "
                             "without a stimulus_id coordinate; expected stimulus_id=<one id per map> or labelled maps")
        if len(wanted) != n_maps:
            raise ShapeError(f"stimulus_id: received {len(wanted)} ids; expected one per map ({n_maps})")
        if stimulus_id is None:
            extra = sorted(set(table["stimulus_id"]) - set(wanted))
            if extra:
                raise AlignmentError(f"{name}: fixations on images {extra[:5]} have no map (maps: {wanted[:5]}...); "
                                     "expected a map for every image id, or stimulus_id= to choose images")
        groups = {k: g[["x", "y"]].to_numpy(dtype=float) for k, g in table.groupby("stimulus_id", sort=False)}
        return [groups.get(w, np.zeros((0, 2))) for w in wanted]
    if isinstance(fixations, (list, tuple)) and len(fixations) and not np.isscalar(fixations[0]) \
            and np.asarray(fixations[0]).ndim == 2:
        if len(fixations) != n_maps:
            raise ShapeError(f"{name}: received {len(fixations)} fixation arrays; expected one per map ({n_maps})")
        if all(type(f) is np.ndarray and f.dtype == np.float64 and f.ndim == 2 and f.shape[1] in (2, 3)
               for f in fixations):           # already (n, 2|3) float arrays: finiteness is checked once, later
            return [f[:, :2] for f in fixations]
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
    if not np.isfinite(xy).all():
        k = int(np.argmin(np.isfinite(xy).all(axis=1)))
        n = int(np.searchsorted(np.cumsum(counts), k, side="right"))
        raise InputError(f"{name}: fixation {k - int(counts[:n].sum())} of map {n} is ({xy[k, 0]}, {xy[k, 1]}); "
                         "expected finite x, y coordinates")
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
    """Two stacks of maps of the same shape, aligned on ``stimulus_id`` when both are labelled.

    The two ``(N, H, W)`` arrays come back with their shapes checked; their values are checked by
    the caller, from the statistics it computes anyway.
    """
    labelled = [isinstance(m, xr.DataArray) and "stimulus" in m.dims and "stimulus_id" in m.coords
                for m in (map_a, map_b)]
    if any(labelled):  # the one rule: both labelled → by id; one side only → AlignmentError
        map_a, map_b = check_alignment(map_a, map_b, names=list(names))
    a, single_a, ids = _stack(map_a, names[0])
    b, single_b, ids_b = _stack(map_b, names[1])
    if a.shape != b.shape:
        raise ShapeError(f"{names[1]}: received maps of shape {b.shape[-2:] if single_b else b.shape}; expected the "
                         f"shape of {names[0]} {a.shape[-2:] if single_a else a.shape}")
    return a, b, single_a and single_b, ids if ids is not None else ids_b
