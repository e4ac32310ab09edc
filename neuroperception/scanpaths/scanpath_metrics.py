"""Scanpath-to-scanpath metrics: MultiMatch, ScanMatch, string edit distance, DTW, SBTDE, sequence score.

Scanpaths are ``(n, 2)`` arrays of (x, y) pixels (origin top-left) or ``(n, 3)`` with a duration
column; a :class:`~neuroperception.scanpaths.Scanpaths` works wherever a list of scanpaths does.
Every alignment metric is a dynamic programme; :func:`pairwise_scanpath_scores` runs it for many
pairs at once, sweeping the anti-diagonals of all the pairs' tables together (pairs are sorted by
length and padded per chunk), so the cost per pair is a few numpy operations per diagonal.
The batched programmes are in :mod:`._alignment`, MultiMatch in :mod:`._multimatch` (re-exported
here), the input checks in :mod:`._scanpath_inputs`.

=========================  ========================================  ===================
metric                     what it compares                          better
=========================  ========================================  ===================
``multimatch``             saccade vectors aligned by length (5 dims)  higher (1 = same)
``scanmatch``              grid ROIs in time bins, Needleman–Wunsch  higher (1 = same)
``string_edit_distance``   grid ROI letters, Levenshtein              lower (0 = same)
``dtw``                    fixation positions, warped in time         lower (0 = same)
``sbtde``                  k-fixation windows, nearest window         lower (0 = same)
``sequence_score``         ROI / cluster ids, match-count alignment   higher (1 = same)
=========================  ========================================  ===================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError
from ._alignment import _chunks, _dtw_pairs, _pad, _sequence_alignment
from ._multimatch import MULTIMATCH_DIMENSIONS, _multimatch_pairs, _saccades, _simplified, multimatch
from ._scanpath_inputs import _grid_labels, _nearest_labels, _path, _paths
from .table import Scanpaths

__all__ = ["multimatch", "scanmatch", "string_edit_distance", "dtw", "sbtde", "sequence_score",
           "pairwise_scanpath_scores", "scanmatch_substitution_matrix", "MULTIMATCH_DIMENSIONS"]


# -- ScanMatch, edit distance, sequence score ------------------------------------------------------
def scanmatch_substitution_matrix(grid: tuple[int, int], threshold: float) -> np.ndarray:
    """ScanMatch's substitution matrix: ``threshold - distance`` between ROI centres in grid units.

    Cristino et al. (2010) build it as ``|D - max(D)| - (max(D) - threshold)``, which is the same.

    Examples
    --------
    >>> scanmatch_substitution_matrix((1, 3), 1.5).tolist()
    [[1.5, 0.5, -0.5], [0.5, 1.5, 0.5], [-0.5, 0.5, 1.5]]
    """
    rows, cols = (int(g) for g in grid)
    r, c = np.divmod(np.arange(rows * cols), cols)
    return float(threshold) - np.sqrt((r[:, None] - r[None]) ** 2 + (c[:, None] - c[None]) ** 2)


def _scanmatch_sequence(path: np.ndarray, grid, size, temporal_bin, name) -> np.ndarray:
    labels = _grid_labels(path, grid, size, name)
    if not temporal_bin:
        return labels
    if path.shape[1] < 3 or np.isnan(path[:, 2]).any():
        raise InputError(f"{name}: temporal_bin={temporal_bin} needs durations; received a scanpath without a "
                         "duration column (n, 3); pass temporal_bin=None to compare ROI order only")
    seq = np.repeat(labels, np.floor(path[:, 2] / float(temporal_bin) + 0.5).astype(int))
    if len(seq) == 0:
        raise InputError(f"{name}: every fixation is shorter than half of temporal_bin={temporal_bin}; expected "
                         "durations in the same unit as temporal_bin")
    return seq


def scanmatch(a: Any, b: Any, size: tuple[float, float], *, grid: tuple[int, int] = (8, 12),
              threshold: float = 3.5, gap: float = 0.0, temporal_bin: float | None = None) -> float:
    """ScanMatch (Cristino et al. 2010): Needleman–Wunsch alignment of ROI sequences.

    The image is cut into ``grid = (n_rows, n_cols)`` regions; each fixation becomes its region,
    repeated ``round(duration / temporal_bin)`` times when ``temporal_bin`` is given (temporal
    binning; durations in the same unit). Two sequences are aligned with Needleman–Wunsch using
    :func:`scanmatch_substitution_matrix` (``threshold - distance`` between region centres, in grid
    units: positive for nearby regions) and a constant ``gap`` score, and the best score is divided
    by ``threshold * max(len_a, len_b)`` (the score of a perfect match), so identical sequences
    score 1. Defaults follow the ScanMatch toolbox (12 × 8 grid, threshold 3.5, gap 0).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[10, 10], [90, 10], [90, 50]])
    >>> scanmatch(a, a, (60, 120))
    1.0
    >>> # regions 0, 1, 3 against 3, 1, 0 on a 2 x 2 grid: (2 - √2) + 2 + (2 - √2) out of 2 * 3
    >>> round(scanmatch(a, a[::-1], (60, 120), grid=(2, 2), threshold=2.0), 4)
    0.5286
    """
    pa, pb = _path(a, "a"), _path(b, "b")
    sa = _scanmatch_sequence(pa, grid, size, temporal_bin, "a")
    sb = _scanmatch_sequence(pb, grid, size, temporal_bin, "b")
    sub = scanmatch_substitution_matrix(grid, threshold)
    score = _sequence_alignment([sa], [sb], np.array([0]), np.array([0]), "nw", sub, gap)[0]
    return float(score / (threshold * max(len(sa), len(sb))))


def string_edit_distance(a: Any, b: Any, *, grid: tuple[int, int] = (5, 5), size: tuple[float, float] = None,
                         normalize: bool = True) -> float:
    """Levenshtein distance between the grid-region strings of two scanpaths.

    Each fixation becomes the letter of its region on a ``grid = (n_rows, n_cols)`` over an image of
    ``size = (height, width)``; insertions, deletions and substitutions cost 1. With
    ``normalize`` the distance is divided by the longer string's length (0 = identical, 1 = nothing
    in common).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[10, 10], [90, 10], [90, 90]])
    >>> string_edit_distance(a, a[:2], grid=(2, 2), size=(100, 100), normalize=False)
    1.0
    """
    la = _grid_labels(_path(a, "a"), grid, size, "a")
    lb = _grid_labels(_path(b, "b"), grid, size, "b")
    d = _sequence_alignment([la], [lb], np.array([0]), np.array([0]), "edit")[0]
    return float(d / max(len(la), len(lb)) if normalize else d)


def sequence_score(a: Any, b: Any, *, grid: tuple[int, int] = (5, 5), size: tuple[float, float] = None,
                   centers: Any = None) -> float:
    """Sequence score: fraction of matched regions in the best alignment of two region strings.

    As in the COCO-Search18 scanpath-prediction benchmarks (Yang et al. 2020): fixations become
    region ids (the nearest of ``centers``, e.g. fixation-cluster centres, or else grid regions),
    the strings are aligned by Needleman–Wunsch with match 1, mismatch 0 and gap 0, and the score
    is divided by the longer string's length (1 = identical).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[10, 10], [90, 10], [90, 90]])
    >>> round(sequence_score(a, a[[0, 2]], grid=(2, 2), size=(100, 100)), 4)
    0.6667
    """
    pa, pb = _path(a, "a"), _path(b, "b")
    la = _nearest_labels(pa, centers) if centers is not None else _grid_labels(pa, grid, size, "a")
    lb = _nearest_labels(pb, centers) if centers is not None else _grid_labels(pb, grid, size, "b")
    s = _sequence_alignment([la], [lb], np.array([0]), np.array([0]), "nw", "identity", 0.0)[0]
    return float(s / max(len(la), len(lb)))


# -- DTW and SBTDE ----------------------------------------------------------------------------------
def dtw(a: Any, b: Any) -> float:
    """Dynamic time warping distance: the cheapest monotone alignment of two fixation sequences.

    ``D(i, j) = |a_i - b_j| + min(D(i-1, j), D(i, j-1), D(i-1, j-1))`` with Euclidean distances in
    pixels, summed along the whole alignment (exact, not the FastDTW approximation). 0 for
    identical scanpaths; durations are ignored.

    Examples
    --------
    >>> import numpy as np
    >>> dtw(np.array([[0, 0], [10, 0]]), np.array([[0, 0], [0, 0], [10, 0]]))
    0.0
    >>> dtw(np.array([[0, 0]]), np.array([[3, 4], [6, 8]]))
    15.0
    """
    return float(_dtw_pairs([_path(a, "a")], [_path(b, "b")], np.array([0]), np.array([0]))[0])


def _windows(path: np.ndarray, k: int) -> np.ndarray:
    xy = path[:, :2]
    return np.lib.stride_tricks.sliding_window_view(xy, (k, 2))[:, 0].reshape(-1, 2 * k)


def _sbtde_pairs(pa, pb, ia, ib, k: int, mode: str) -> np.ndarray:
    if mode not in ("mean", "hausdorff"):
        raise InputError(f"mode: received {mode!r}; expected 'mean' or 'hausdorff'")
    short = [len(p) for p in (*pa, *pb) if len(p) < k]
    if short:
        raise InputError(f"k: received k={k} for a scanpath of {min(short)} fixations; expected k <= the length "
                         "of every scanpath")
    wa, wb = _pad([_windows(p, k) for p in pa]), _pad([_windows(p, k) for p in pb])
    na, nb = np.array([len(p) - k + 1 for p in pa])[ia], np.array([len(p) - k + 1 for p in pb])[ib]
    out = np.empty(len(ia))
    for idx in _chunks(na, nb):
        a, b = wa[ia[idx], :na[idx].max()], wb[ib[idx], :nb[idx].max()]
        d = np.sqrt(((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1))
        nearest = np.min(np.nan_to_num(d, nan=np.inf), axis=2) / k
        valid = np.arange(a.shape[1])[None, :] < na[idx][:, None]
        if mode == "mean":
            out[idx] = np.where(valid, nearest, 0.0).sum(axis=1) / na[idx]
        else:
            out[idx] = np.where(valid, nearest, -np.inf).max(axis=1)
    return out


def sbtde(a: Any, b: Any, *, k: int = 3, mode: str = "mean") -> float:
    """Scanpath-based time-delay embedding distance (Wang et al. 2011).

    Both scanpaths are cut into overlapping windows of ``k`` consecutive fixations (vectors of
    ``2k`` coordinates). For every window of ``a`` the nearest window of ``b`` is found (Euclidean
    distance, divided by ``k``); the distance is the mean of these minima (``mode="mean"``) or their
    maximum (``"hausdorff"``). ``a`` is the query (e.g. the model), ``b`` the reference (the human
    scanpath); the measure is not symmetric. 0 when every window of ``a`` occurs in ``b``.

    Examples
    --------
    >>> import numpy as np
    >>> b = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    >>> sbtde(b[1:], b, k=2), sbtde(b + [3, 4], b, k=1)
    (0.0, 5.0)
    """
    return float(_sbtde_pairs([_path(a, "a")], [_path(b, "b")], np.array([0]), np.array([0]), int(k), mode)[0])


# -- many pairs at once -------------------------------------------------------------------------
def _options(fn, params: dict) -> dict:
    import inspect

    sig = inspect.signature(fn)
    names = [p for p in sig.parameters if p not in ("a", "b")]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise InputError(f"{fn.__name__}: received unknown parameters {unknown}; expected some of {names}")
    opts = {p: sig.parameters[p].default for p in names}
    opts.update(params)
    missing = [p for p, v in opts.items() if v is inspect.Parameter.empty]
    if missing:
        raise InputError(f"{fn.__name__}: missing parameters {missing}")
    return opts


def _labels_for(paths, opts, name, scanmatch_bins=False):
    if scanmatch_bins:
        return [_scanmatch_sequence(p, opts["grid"], opts["size"], opts["temporal_bin"], f"{name}[{k}]")
                for k, p in enumerate(paths)]
    if opts.get("centers") is not None:
        return [_nearest_labels(p, opts["centers"]) for p in paths]
    return [_grid_labels(p, opts["grid"], opts["size"], f"{name}[{k}]") for k, p in enumerate(paths)]


def _pair_scores(metric: str, pa, pb, ia, ib, opts) -> np.ndarray:
    if metric == "dtw":
        return _dtw_pairs(pa, pb, ia, ib)
    if metric == "sbtde":
        return _sbtde_pairs(pa, pb, ia, ib, int(opts["k"]), opts["mode"])
    if metric == "multimatch":
        thresholds = (opts["direction_threshold"], opts["amplitude_threshold"], opts["duration_threshold"])
        sa = [_simplified(p, *thresholds) if len(p) >= 3 else None for p in pa]
        sb = [_simplified(p, *thresholds) if len(p) >= 3 else None for p in pb]
        ok = np.array([sa[i] is not None and sb[j] is not None for i, j in zip(ia, ib)], dtype=bool)
        out = np.full((len(ia), 5), np.nan)
        if ok.any():
            keep_a = [s if s is not None else _saccades(np.zeros((2, 3))) for s in sa]
            keep_b = [s if s is not None else _saccades(np.zeros((2, 3))) for s in sb]
            out[ok] = _multimatch_pairs(keep_a, keep_b, ia[ok], ib[ok], opts["size"])
        return out
    if metric == "scanmatch":
        la, lb = _labels_for(pa, opts, "scanpaths_a", True), _labels_for(pb, opts, "scanpaths_b", True)
        sub = scanmatch_substitution_matrix(opts["grid"], opts["threshold"])
        raw = _sequence_alignment(la, lb, ia, ib, "nw", sub, float(opts["gap"]))
        longest = np.maximum(np.array([len(s) for s in la])[ia], np.array([len(s) for s in lb])[ib])
        return raw / (float(opts["threshold"]) * longest)
    la, lb = _labels_for(pa, opts, "scanpaths_a"), _labels_for(pb, opts, "scanpaths_b")
    longest = np.maximum(np.array([len(s) for s in la])[ia], np.array([len(s) for s in lb])[ib])
    if metric == "sequence_score":
        return _sequence_alignment(la, lb, ia, ib, "nw", "identity", 0.0) / longest
    raw = _sequence_alignment(la, lb, ia, ib, "edit")
    return raw / longest if opts["normalize"] else raw


_FUNCTIONS = {"multimatch": multimatch, "scanmatch": scanmatch, "string_edit_distance": string_edit_distance,
              "dtw": dtw, "sbtde": sbtde, "sequence_score": sequence_score}


_GROUP_COLUMNS = ("stimulus_id", "subject", "task", "condition")


def _same_group(within: Any, meta_a, meta_b, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Mask of the pairs ``(ia[k], ib[k])`` whose scanpaths agree on every column of ``within``."""
    columns = [within] if isinstance(within, str) else list(within) if isinstance(within, (tuple, list)) else None
    if not columns or any(c not in _GROUP_COLUMNS for c in columns):
        raise InputError(f"within: received {within!r}; expected one of {_GROUP_COLUMNS} or a tuple of them")
    if meta_a is None or meta_b is None:
        raise InputError(f"within={within!r}: received scanpaths without a table; expected Scanpaths (they carry "
                         "the stimulus_id, subject, task and condition of every scanpath) on both sides")
    keep = np.ones(len(ia), dtype=bool)
    for col in columns:
        a, b = meta_a[col].to_numpy(dtype=str), meta_b[col].to_numpy(dtype=str)
        keep &= a[ia] == b[ib]
    return keep


def pairwise_scanpath_scores(scanpaths_a: Any, scanpaths_b: Any = None, metric: str = "dtw", *,
                             within: str | tuple[str, ...] | None = None, **params: Any) -> Any:
    """Score every scanpath of ``scanpaths_a`` against every scanpath of ``scanpaths_b``.

    The pairs are evaluated together: alignment tables of all pairs are filled anti-diagonal by
    anti-diagonal in one batch (sorted by length, padded per chunk), MultiMatch simplification and
    grid/ROI coding are done once per scanpath. Values equal the single-pair functions'.

    Parameters
    ----------
    scanpaths_a : list of arrays or Scanpaths
        ``(n, 2)``/``(n, 3)`` scanpaths.
    scanpaths_b : list of arrays or Scanpaths, optional
        Defaults to ``scanpaths_a`` (all pairs within one set, diagonal included).
    metric : {"dtw", "multimatch", "scanmatch", "string_edit_distance", "sbtde", "sequence_score"}
    within : str or tuple of str, optional
        Score only the pairs that agree on these columns of the scanpath tables: ``"stimulus_id"``
        compares the scanpaths of the same image (the usual inter-observer comparison),
        ``("stimulus_id", "task")`` those of the same image and task; ``"subject"``, ``"condition"``
        also work. Other pairs are NaN and never computed. Needs :class:`Scanpaths` inputs.
    **params
        The metric's keyword arguments (e.g. ``size`` for MultiMatch and the grid metrics, ``grid``
        for the grid metrics, ``k`` for SBTDE). For Scanpaths whose ``sizes`` hold a single size,
        ``size`` defaults to it.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        ``(n_a, n_b)`` scores (``(n_a, n_b, 5)`` for MultiMatch, last axis
        :data:`MULTIMATCH_DIMENSIONS`); a DataArray with dims ``("scanpath_a", "scanpath_b")`` and
        the scanpaths' image/subject coordinates when the inputs are Scanpaths.

    Examples
    --------
    >>> import numpy as np
    >>> paths = [np.array([[0, 0], [10, 0]]), np.array([[0, 0], [10, 10]]), np.array([[0, 0], [10, 0], [10, 0]])]
    >>> pairwise_scanpath_scores(paths, metric="dtw").tolist()
    [[0.0, 10.0, 0.0], [10.0, 0.0, 20.0], [0.0, 20.0, 0.0]]

    Only the scanpaths of the same image, from a table:

    >>> sp = Scanpaths.from_arrays(paths, stimulus_id=["cat", "cat", "dog"])
    >>> pairwise_scanpath_scores(sp, metric="dtw", within="stimulus_id").values.tolist()
    [[0.0, 10.0, nan], [10.0, 0.0, nan], [nan, nan, 0.0]]
    """
    if metric not in _FUNCTIONS:
        raise InputError(f"metric: received {metric!r}; expected one of {sorted(_FUNCTIONS)}")
    pa, meta_a = _paths(scanpaths_a, "scanpaths_a")
    pb, meta_b = (pa, meta_a) if scanpaths_b is None else _paths(scanpaths_b, "scanpaths_b")
    if "size" not in params and metric in ("multimatch", "scanmatch", "string_edit_distance", "sequence_score"):
        sizes = {s for sp in (scanpaths_a, scanpaths_b) if isinstance(sp, Scanpaths) for s in sp.sizes.values()}
        if len(sizes) == 1:
            params = {**params, "size": sizes.pop()}
    opts = _options(_FUNCTIONS[metric], params)
    ia, ib = (g.ravel() for g in np.meshgrid(np.arange(len(pa)), np.arange(len(pb)), indexing="ij"))
    if within is None:
        values = _pair_scores(metric, pa, pb, ia, ib, opts)
    else:
        keep = _same_group(within, meta_a, meta_b, ia, ib)
        values = np.full((len(ia),) + ((len(MULTIMATCH_DIMENSIONS),) if metric == "multimatch" else ()), np.nan)
        if keep.any():
            values[keep] = _pair_scores(metric, pa, pb, ia[keep], ib[keep], opts)
    values = values.reshape((len(pa), len(pb)) + values.shape[1:])
    if meta_a is None and meta_b is None:
        return values
    dims = ("scanpath_a", "scanpath_b") + (("dimension",) if metric == "multimatch" else ())
    coords: dict[str, Any] = {}
    for side, meta, n in (("a", meta_a, len(pa)), ("b", meta_b, len(pb))):
        coords[f"scanpath_{side}"] = meta["scanpath"].to_numpy() if meta is not None else np.arange(n)
        if meta is not None:
            for col in ("stimulus_id", "subject", "task", "condition"):
                coords[f"{col}_{side}"] = (f"scanpath_{side}", meta[col].to_numpy(dtype=str))
    if metric == "multimatch":
        coords["dimension"] = list(MULTIMATCH_DIMENSIONS)
    return xr.DataArray(values, dims=dims, coords=coords, name=metric)
