"""Per-voxel encoding scores, noise-ceiling normalisation and ROI summaries.

Scores are computed per target (column) and keep the voxel coordinates of labelled inputs, so
they can be summarised per ROI (:func:`summarize_scores`) or plotted on the brain.

The noise-ceiling normalisation follows the Algonauts 2023 challenge: Pearson r clipped at 0,
squared, divided by the noise ceiling given as a *fraction* of explainable variance (ceilings of
0 replaced by 1e-14), and capped at 1; the challenge score is the median over vertices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import check_responses, describe
from ..errors import InputError, ShapeError
from ._inputs import align

__all__ = ["pearson_r", "r2_score", "voxel_scores", "noise_ceiling_normalized", "summarize_scores"]

_METRICS = ("r", "r2")


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, xr.DataArray | None]:
    """Validate, align by stimulus_id when labelled, return float64 values and the labelled truth."""
    t = check_responses(y_true, name="y_true")
    p = check_responses(y_pred, name="y_pred")
    labelled = y_true if isinstance(y_true, xr.DataArray) else None
    if isinstance(y_true, xr.DataArray) and isinstance(y_pred, xr.DataArray):
        if "stimulus_id" in t.coords or "stimulus_id" in p.coords:
            _, p = align(np.asarray(t.values), t, p, names=("y_true", "y_pred"))
    if t.shape != p.shape:
        raise ShapeError(f"y_pred: received {describe(p)}; expected the shape of y_true {tuple(t.shape)}")
    return np.asarray(t.values, dtype=np.float64), np.asarray(p.values, dtype=np.float64), labelled


def _label(values: np.ndarray, labelled: xr.DataArray | None, name: str) -> np.ndarray | xr.DataArray:
    if labelled is None:
        return values
    coords = {k: c for k, c in labelled.coords.items() if c.dims == ("voxel",)}
    return xr.DataArray(values, dims=("voxel",), coords=coords, name=name)


def _pearson(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    tc, pc = t - t.mean(0), p - p.mean(0)
    denom = np.sqrt((tc * tc).sum(0) * (pc * pc).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (tc * pc).sum(0) / denom
    return np.where(denom > 0, np.clip(r, -1.0, 1.0), np.nan)


def _r2(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    sse = ((t - p) ** 2).sum(0)
    sst = ((t - t.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1.0 - sse / sst
    return np.where(sst > 0, r2, np.where(sse > 0, 0.0, 1.0))


def pearson_r(y_true: Any, y_pred: Any) -> np.ndarray | xr.DataArray:
    """Pearson correlation per voxel between measured and predicted responses.

    Parameters
    ----------
    y_true, y_pred : array-like or xarray.DataArray
        ``(stimulus, voxel)``; DataArrays with ``stimulus_id`` are aligned by id.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        ``(voxel,)``; NaN where either column is constant. Labelled with the voxel coords of
        ``y_true`` when it is a DataArray.

    Examples
    --------
    >>> y = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> pearson_r(y, 2 * y + 1).tolist()
    [1.0, 1.0]
    """
    t, p, labelled = _pair(y_true, y_pred)
    return _label(_pearson(t, p), labelled, "r")


def r2_score(y_true: Any, y_pred: Any) -> np.ndarray | xr.DataArray:
    """Coefficient of determination per voxel, ``1 - SSE / SST`` (as scikit-learn's ``r2_score``).

    A constant voxel scores 1 when predicted exactly and 0 otherwise (scikit-learn's
    ``force_finite`` convention).

    Examples
    --------
    >>> y = np.array([[1.0], [2.0], [3.0]])
    >>> r2_score(y, np.array([[1.0], [2.0], [4.0]])).tolist()
    [0.5]
    """
    t, p, labelled = _pair(y_true, y_pred)
    return _label(_r2(t, p), labelled, "r2")


def voxel_scores(y_true: Any, y_pred: Any, metric: str = "r") -> np.ndarray | xr.DataArray:
    """Per-voxel score by name: ``"r"`` (Pearson) or ``"r2"`` (coefficient of determination).

    Examples
    --------
    >>> y = np.array([[1.0], [2.0], [3.0]])
    >>> voxel_scores(y, y, "r2").tolist()
    [1.0]
    """
    if metric not in _METRICS:
        raise InputError(f"metric: received {metric!r}; expected one of {list(_METRICS)}")
    return pearson_r(y_true, y_pred) if metric == "r" else r2_score(y_true, y_pred)


def noise_ceiling_normalized(r: Any, noise_ceiling: Any) -> np.ndarray | xr.DataArray:
    """Noise-ceiling-normalised encoding accuracy, as in the Algonauts 2023 challenge.

    ``min(max(r, 0) ** 2 / nc, 1)`` per voxel, where ``nc`` is the noise ceiling as a fraction of
    explainable variance in [0, 1] (ceilings of exactly 0 are replaced by 1e-14).

    Parameters
    ----------
    r : array-like or xarray.DataArray
        Pearson correlation per voxel.
    noise_ceiling : array-like or xarray.DataArray
        Same shape, fractions in [0, 1] (divide percentages by 100 first).

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Fractions in [0, 1]; NaN where ``r`` is NaN. Labelled like ``r`` when it is a DataArray.

    Raises
    ------
    InputError
        Ceilings outside [0, 1] (e.g. percentages), NaN ceilings, or mismatched shapes.

    Examples
    --------
    >>> noise_ceiling_normalized(np.array([0.5, -0.2, 0.9]), np.array([0.5, 0.5, 0.5])).tolist()
    [0.5, 0.0, 1.0]
    """
    r_vals = np.asarray(r.values if isinstance(r, xr.DataArray) else r, dtype=np.float64)
    nc = np.asarray(noise_ceiling.values if isinstance(noise_ceiling, xr.DataArray) else noise_ceiling,
                    dtype=np.float64)
    if r_vals.shape != nc.shape:
        raise ShapeError(f"noise_ceiling: received {describe(nc)}; expected the shape of r {r_vals.shape}")
    if not np.isfinite(nc).all() or nc.min(initial=0) < 0 or nc.max(initial=0) > 1:
        hint = " (these look like percentages: divide by 100)" if np.nanmax(nc, initial=0) <= 100 else ""
        raise InputError(f"noise_ceiling: received {describe(nc)}; expected finite fractions in [0, 1]{hint}")
    nc = np.where(nc == 0, 1e-14, nc)
    out = np.minimum(np.clip(r_vals, 0, None) ** 2 / nc, 1.0)
    out = np.where(np.isnan(r_vals), np.nan, out)
    if isinstance(r, xr.DataArray):
        return r.copy(data=out).rename("nc_normalized")
    return out


def summarize_scores(scores: Any, *, by: str = "roi", statistic: str = "median") -> pd.DataFrame:
    """Median (or mean) of per-voxel scores over all voxels and per ROI.

    Parameters
    ----------
    scores : xarray.DataArray or mapping of str to DataArray
        ``(voxel,)`` scores carrying the ``by`` coordinate (all voxels in one group without it).
        A mapping gives one column per metric.
    by : str
        Voxel coordinate to group by.
    statistic : {"median", "mean"}
        NaN scores (constant voxels) are left out and counted in ``n_nan``.

    Returns
    -------
    pandas.DataFrame
        Index ``"all"`` then each group in sorted order; a column per metric, ``n_voxels`` and ``n_nan``.

    Examples
    --------
    >>> s = xr.DataArray([0.1, 0.3, 0.5, 0.9], dims="voxel", coords={"roi": ("voxel", ["V1", "V1", "V4", "V4"])})
    >>> summarize_scores({"r": s})["r"].round(2).to_dict()
    {'all': 0.4, 'V1': 0.2, 'V4': 0.7}
    """
    if statistic not in ("median", "mean"):
        raise InputError(f"statistic: received {statistic!r}; expected 'median' or 'mean'")
    metrics = dict(scores) if isinstance(scores, Mapping) else {str(getattr(scores, "name", None) or "score"): scores}
    if not metrics:
        raise InputError("scores: received an empty mapping; expected at least one metric")
    reduce = np.nanmedian if statistic == "median" else np.nanmean
    table: dict[str, dict[str, float]] = {}
    first = None
    for metric, values in metrics.items():
        if not isinstance(values, xr.DataArray):
            values = xr.DataArray(np.asarray(values, dtype=np.float64), dims="voxel")
        if values.dims != ("voxel",):
            raise ShapeError(f"scores[{metric!r}]: received dims {values.dims}; expected ('voxel',)")
        groups = {"all": np.ones(values.sizes["voxel"], dtype=bool)}
        if by in values.coords:
            labels = np.asarray(values[by].values).astype(str)
            groups.update({str(g): labels == g for g in sorted(set(labels.tolist()))})
        if first is None:
            first = groups
        vals = np.asarray(values.values, dtype=np.float64)
        with np.errstate(all="ignore"):
            table[metric] = {g: float(reduce(vals[m])) if np.isfinite(vals[m]).any() else np.nan
                             for g, m in groups.items()}
        table.setdefault("n_voxels", {g: int(m.sum()) for g, m in groups.items()})
        table.setdefault("n_nan", {g: int(np.isnan(vals[m]).sum()) for g, m in groups.items()})
    frame = pd.DataFrame(table)
    cols = [c for c in frame.columns if c not in ("n_voxels", "n_nan")] + ["n_voxels", "n_nan"]
    return frame[cols]
