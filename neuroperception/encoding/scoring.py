"""Per-voxel encoding scores, noise-ceiling normalisation and ROI summaries.

Scores are computed per target (column) and keep the voxel coordinates of labelled inputs, so
they can be summarised per ROI (:func:`summarize_scores`) or plotted on the brain.

The noise-ceiling normalisation follows the Algonauts 2023 challenge: Pearson r clipped at 0,
squared, divided by the noise ceiling given as a *fraction* of explainable variance, and capped at
1. Unlike the challenge's code (which only replaces ceilings of exactly 0 by 1e-14), voxels whose
ceiling is below ``min_ceiling`` (default :data:`DEFAULT_MIN_CEILING`, 0.1) get NaN: dividing a chance
correlation by a ceiling near 0 gives scores near 1 in pure-noise voxels. The default is the NSD
reliability threshold ncsnr > 0.2 (Conwell et al., 2024) in ceiling units: 0.107 for NSD's 3 repeats.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import check_responses, describe
from ..errors import InputError, ShapeError
from ._inputs import align

__all__ = ["pearson_r", "r2_score", "voxel_scores", "noise_ceiling_normalized", "summarize_scores",
           "DEFAULT_MIN_CEILING"]

_METRICS = ("r", "r2")

#: Smallest noise ceiling (fraction of explainable variance) a voxel needs for a normalised score: NSD's
#: ncsnr > 0.2 voxel selection (Conwell et al., 2024, Nat. Commun. 15:9383) is a ceiling of 0.107 for the
#: average of 3 repeats, ``noise_ceiling_from_ncsnr(0.2, 3)``.
DEFAULT_MIN_CEILING = 0.1


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray, xr.DataArray | None]:
    """Validate, align by stimulus_id when labelled, return float64 values and the labelled truth."""
    t = check_responses(y_true, name="y_true")
    p = check_responses(y_pred, name="y_pred")
    labelled = y_true if isinstance(y_true, xr.DataArray) else None
    if "stimulus_id" in t.coords or "stimulus_id" in p.coords:  # the one rule: ids on one side only is an error
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


def _check_min_ceiling(min_ceiling: Any) -> float:
    if isinstance(min_ceiling, bool) or not isinstance(min_ceiling, (int, float, np.integer, np.floating)) \
            or not 0 <= min_ceiling <= 1:
        raise InputError(f"min_ceiling: received {min_ceiling!r}; expected a noise ceiling (fraction) in [0, 1], "
                         f"e.g. {DEFAULT_MIN_CEILING}")
    return float(min_ceiling)


def _check_ceiling(nc: np.ndarray) -> np.ndarray:
    known = nc[~np.isnan(nc)]
    if np.isinf(nc).any() or known.min(initial=0) < 0 or known.max(initial=0) > 1:
        hint = " (these look like percentages: divide by 100)" if known.max(initial=0) <= 100 else ""
        raise InputError(f"noise_ceiling: received {describe(nc)}; expected fractions in [0, 1] (NaN for unknown)"
                         f"{hint}")
    return nc


def _normalize(r: np.ndarray, nc: np.ndarray, min_ceiling: float) -> np.ndarray:
    """``min(max(r, 0)^2 / nc, 1)`` where ``nc >= min_ceiling``, NaN elsewhere (0 ceilings as 1e-14)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.minimum(np.clip(r, 0, None) ** 2 / np.where(nc == 0, 1e-14, nc), 1.0)
    return np.where(np.isnan(r) | ~(nc >= min_ceiling), np.nan, out)


def _warn_low_ceilings(nc: np.ndarray, roi: Any, min_ceiling: float, stacklevel: int = 3) -> None:
    """Warn when most voxels of an ROI (of all voxels, without ROIs) have a ceiling below ``min_ceiling``."""
    below = ~(nc >= min_ceiling)
    if roi is None:
        groups = {"": np.ones(nc.shape, dtype=bool)}
    else:
        labels = np.asarray(roi).astype(str)
        groups = {f" of ROI {g!r}": labels == g for g in sorted(set(labels.tolist()))}
    low = [f"{g} ({int(below[m].sum())} of {int(m.sum())})" for g, m in groups.items()
           if m.any() and below[m].mean() > 0.5]
    if low:
        warnings.warn(
            f"noise ceiling below min_ceiling={min_ceiling:g} (or unknown) in most voxels{','.join(low)}: "
            "their normalised scores are NaN and left out of ROI summaries and maps; expected mostly reliable "
            "voxels (check the repeats and the ROI definition, or pass a lower min_ceiling knowingly)",
            UserWarning, stacklevel=stacklevel)


def _roi_of(*arrays: Any) -> Any:
    for a in arrays:
        if isinstance(a, xr.DataArray) and "roi" in a.coords and a["roi"].dims == ("voxel",):
            return a["roi"].values
    return None


def noise_ceiling_normalized(r: Any, noise_ceiling: Any, *,
                             min_ceiling: float = DEFAULT_MIN_CEILING) -> np.ndarray | xr.DataArray:
    """Noise-ceiling-normalised encoding accuracy (Algonauts 2023), NaN where the ceiling is too low.

    ``min(max(r, 0) ** 2 / nc, 1)`` per voxel, where ``nc`` is the noise ceiling as a fraction of
    explainable variance in [0, 1], for voxels with ``nc >= min_ceiling``; the others get NaN, so that
    chance correlations divided by a near-zero ceiling do not score 1. NaN scores are left out of
    :func:`summarize_scores` and of brain maps. ``min_ceiling=0`` gives the Algonauts 2023 challenge's
    numbers exactly (ceilings of 0 replaced by 1e-14).

    Parameters
    ----------
    r : array-like or xarray.DataArray
        Pearson correlation per voxel.
    noise_ceiling : array-like or xarray.DataArray
        Same shape, fractions in [0, 1] (divide percentages by 100 first); NaN for unknown.
    min_ceiling : float
        Smallest ceiling normalised (default :data:`DEFAULT_MIN_CEILING` = 0.1: NSD's ncsnr > 0.2
        selection, Conwell et al. 2024, is a ceiling of 0.107 for 3 repeats). A warning names each ROI
        (from a ``roi`` coordinate of ``r`` or ``noise_ceiling``; all voxels without one) where most
        voxels fall below it.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Fractions in [0, 1]; NaN where ``r`` is NaN or the ceiling is below ``min_ceiling`` or NaN.
        Labelled like ``r`` when it is a DataArray (attrs ``min_ceiling``).

    Raises
    ------
    InputError
        Ceilings outside [0, 1] (e.g. percentages), a ``min_ceiling`` outside [0, 1], or mismatched
        shapes.

    Examples
    --------
    >>> noise_ceiling_normalized(np.array([0.5, -0.2, 0.9, 0.1]), np.array([0.5, 0.5, 0.5, 0.01])).tolist()
    [0.5, 0.0, 1.0, nan]
    >>> noise_ceiling_normalized(np.array([0.1]), np.array([0.01]), min_ceiling=0).tolist()   # Algonauts
    [1.0]
    """
    min_ceiling = _check_min_ceiling(min_ceiling)
    r_vals = np.asarray(r.values if isinstance(r, xr.DataArray) else r, dtype=np.float64)
    nc = np.asarray(noise_ceiling.values if isinstance(noise_ceiling, xr.DataArray) else noise_ceiling,
                    dtype=np.float64)
    if r_vals.shape != nc.shape:
        raise ShapeError(f"noise_ceiling: received {describe(nc)}; expected the shape of r {r_vals.shape}")
    _check_ceiling(nc)
    out = _normalize(r_vals, nc, min_ceiling)
    roi = _roi_of(r, noise_ceiling) if nc.ndim == 1 else None
    _warn_low_ceilings(nc.ravel(), roi, min_ceiling)
    if isinstance(r, xr.DataArray):
        return r.copy(data=out).rename("nc_normalized").assign_attrs(min_ceiling=min_ceiling)
    return out


def _significance_mask(significant: Any, n: int, name: str = "significant") -> np.ndarray:
    """A boolean ``(voxel,)`` mask of ``n`` voxels (e.g. ``fdr_correct(p).significant``)."""
    mask = np.asarray(significant.values if isinstance(significant, xr.DataArray) else significant)
    if mask.dtype != bool:
        raise InputError(f"{name}: received {describe(mask)}; expected a boolean mask per voxel, e.g. "
                         "fdr_correct(pvalues).significant")
    if mask.shape != (n,):
        raise ShapeError(f"{name}: received {describe(mask)}; expected ({n},), one per voxel")
    return mask


def summarize_scores(scores: Any, *, by: str = "roi", statistic: str = "median",
                     significant: Any = None) -> pd.DataFrame:
    """Median (or mean) of per-voxel scores over all voxels and per ROI.

    Parameters
    ----------
    scores : xarray.DataArray or mapping of str to DataArray
        ``(voxel,)`` scores carrying the ``by`` coordinate (all voxels in one group without it).
        A mapping gives one column per metric.
    by : str
        Voxel coordinate to group by.
    statistic : {"median", "mean"}
        NaN scores (constant voxels, voxels below the minimum noise ceiling) are left out and counted
        in ``n_nan``.
    significant : boolean array-like or DataArray, or mapping of metric to one, optional
        ``(voxel,)`` mask (e.g. ``fdr_correct(score_pvalues(...)).significant``): only these voxels
        enter the statistic; ``n_significant`` counts them per group. A mapping gives each metric its
        own mask (e.g. one per layer) and one ``n_significant <metric>`` column each.

    Returns
    -------
    pandas.DataFrame
        Index ``"all"`` then each group in the order it first appears among the voxels (the order of
        the ``by`` coordinate, e.g. V1, V2, V4, IT as the responses list them); a column per metric,
        ``n_voxels``, ``n_nan`` (voxels NaN in at least one metric) and the ``n_significant`` count(s)
        with ``significant``. ``attrs["statistic"]`` names the statistic.

    Examples
    --------
    >>> s = xr.DataArray([0.1, 0.3, 0.5, 0.9], dims="voxel", coords={"roi": ("voxel", ["V1", "V1", "V4", "V4"])})
    >>> summarize_scores({"r": s})["r"].round(2).to_dict()
    {'all': 0.4, 'V1': 0.2, 'V4': 0.7}
    >>> summarize_scores({"r": s}, significant=np.array([False, True, True, True]))["r"].round(2).to_dict()
    {'all': 0.5, 'V1': 0.3, 'V4': 0.7}
    """
    if statistic not in ("median", "mean"):
        raise InputError(f"statistic: received {statistic!r}; expected 'median' or 'mean'")
    metrics = dict(scores) if isinstance(scores, Mapping) else {str(getattr(scores, "name", None) or "score"): scores}
    if not metrics:
        raise InputError("scores: received an empty mapping; expected at least one metric")
    reduce = np.nanmedian if statistic == "median" else np.nanmean
    table: dict[str, dict[str, float]] = {}
    counts = ["n_voxels", "n_nan"]
    first: dict[str, np.ndarray] | None = None
    missing = np.zeros(0, dtype=bool)
    for metric, values in metrics.items():
        if not isinstance(values, xr.DataArray):
            values = xr.DataArray(np.asarray(values, dtype=np.float64), dims="voxel")
        if values.dims != ("voxel",):
            raise ShapeError(f"scores[{metric!r}]: received dims {values.dims}; expected ('voxel',)")
        groups = {"all": np.ones(values.sizes["voxel"], dtype=bool)}
        if by in values.coords:
            labels = np.asarray(values[by].values).astype(str)
            groups.update({str(g): labels == g for g in dict.fromkeys(labels.tolist())})  # order of appearance
        vals = np.asarray(values.values, dtype=np.float64)
        keep, count_name = np.ones(vals.shape, dtype=bool), None
        if isinstance(significant, Mapping):
            if metric not in significant:
                raise InputError(f"significant: received masks for {sorted(map(str, significant))}; expected one "
                                 f"for every metric, {metric!r} included")
            keep = _significance_mask(significant[metric], vals.size, f"significant[{metric!r}]")
            count_name = f"n_significant {metric}"
        elif significant is not None:
            keep, count_name = _significance_mask(significant, vals.size), "n_significant"
        with np.errstate(all="ignore"):
            table[metric] = {g: float(reduce(vals[m & keep])) if np.isfinite(vals[m & keep]).any() else np.nan
                             for g, m in groups.items()}
        if first is None:
            first, missing = groups, np.isnan(vals)
        elif missing.shape != vals.shape:
            raise ShapeError(f"scores[{metric!r}]: received {vals.size} voxels; expected the {missing.size} of the "
                             "first metric")
        else:
            missing = missing | np.isnan(vals)
        if count_name is not None:
            if count_name not in counts:
                counts.append(count_name)
            table[count_name] = {g: int((m & keep).sum()) for g, m in groups.items()}
    table["n_voxels"] = {g: int(m.sum()) for g, m in first.items()}
    table["n_nan"] = {g: int(missing[m].sum()) for g, m in first.items()}
    frame = pd.DataFrame(table)
    cols = [c for c in frame.columns if c not in counts] + counts
    frame = frame[cols]
    frame.attrs["statistic"] = statistic
    return frame
