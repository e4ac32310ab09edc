"""Saliency-map metrics: NSS, CC, KL divergence, SIM, AUC-Judd, shuffled AUC and information gain.

Every metric gives the same numbers as pysaliency 0.2.22 on the same maps and fixations, and works
on a whole batch of maps at once. The conventions are pysaliency's:

- **Fixation to pixel**: a fixation at ``(x, y)`` (pixels, origin top-left) reads the map at
  ``map[int(y), int(x)]``: ``x`` indexes columns, ``y`` rows, and coordinates are *truncated*
  (pysaliency's ``x_int``/``y_int``), not rounded. Fixations must satisfy ``0 <= x < width`` and
  ``0 <= y < height``; anything else is an :class:`~neuroperception.errors.InputError`.
- **Maps to densities** (KL, SIM): a map with negative values is shifted by its minimum, then
  divided by its sum.
- **Averaging**: fixation-based metrics (NSS, shuffled AUC, information gain) average over all
  fixations by default (pysaliency's ``average="fixation"``); ``average="image"`` averages the
  per-image means; ``average=None`` returns one value per fixation. AUC-Judd is a per-image score
  averaged over images, as pysaliency's ``AUC_Judd``.

Maps are ``(H, W)`` or ``(N, H, W)`` numpy arrays, torch tensors or DataArrays with dims
``("y", "x")`` / ``("stimulus", "y", "x")``. Fixations are an ``(n, 2)`` array of (x, y) for one map,
a list of such arrays (one per map), or a :class:`~neuroperception.scanpaths.Scanpaths` matched to
the maps by image id. The input checks and map normalisation they share are in
:mod:`._saliency_inputs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import seed_from
from ..errors import InputError, ShapeError
from ._auc import judd_aucs, shuffled_ranks
from ._map_reductions import row_kl, row_sim, row_sums
from ._saliency_inputs import (_as_maps, _average, _check_moments, _fixation_array, _fixation_sets, _map_moments,
                               _map_stats, _pair, _pair_densities, _per_map, _pixel_indices, _stack)

__all__ = ["nss", "cc", "kl_div", "sim", "auc_judd", "shuffled_auc", "information_gain", "to_log_density"]

_MIT_EPS = 2.2204e-16


# -- map-to-fixation metrics ---------------------------------------------------------------------
def nss(saliency_map: Any, fixations: Any, *, stimulus_id: Any = None, average: str | None = "fixation") -> Any:
    """Normalized scanpath saliency: the map, z-scored, read at the fixations (Peters et al. 2005).

    Each map is standardised with its own mean and (population, ``ddof=0``) standard deviation; a
    constant map is only centred. Equal to pysaliency's ``SaliencyMapModel.NSS``.

    Parameters
    ----------
    saliency_map : array-like, tensor or DataArray
        ``(H, W)`` or ``(N, H, W)``.
    fixations : array-like, list of arrays or Scanpaths
        ``(n, 2)`` x, y pixels (one map), a list with one array per map, or a Scanpaths matched by
        stimulus id (the ``stimulus_id`` argument chooses the images; otherwise the maps' ``stimulus_id``
        coordinate).
    stimulus_id : str or sequence of str, optional
        Image id(s) of the map(s) when fixations come as a Scanpaths.
    average : {"fixation", "image", None}
        Mean over all fixations, mean of per-image means, or per-fixation values.

    Returns
    -------
    float or numpy.ndarray

    Raises
    ------
    InputError
        NaN maps, all-zero maps, fixations outside the map, no fixations.

    Examples
    --------
    >>> import numpy as np
    >>> smap = np.zeros((4, 4)); smap[1, 2] = 1.0
    >>> round(nss(smap, np.array([[2.7, 1.2]])), 4)    # x=2.7 -> column 2, y=1.2 -> row 1
    3.873
    """
    maps, _, ids = _stack(saliency_map, "saliency_map")
    total, sumsq = _map_moments(maps, "saliency_map")
    sets = _fixation_sets(fixations, len(maps), ids, stimulus_id, "fixations")
    n_idx, rows, cols = _pixel_indices(sets, maps.shape[1:], "fixations")
    mean, var = _mean_var(maps.reshape(len(maps), -1), total, sumsq)
    std = np.sqrt(var)
    values = maps[n_idx, rows, cols] - mean[n_idx]
    scale = np.where(std == 0, 1.0, std)
    return _average(values / scale[n_idx], n_idx, average)


def _mean_var(flat: np.ndarray, total: np.ndarray, sumsq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row mean and population variance from the sum and the sum of squares.

    ``E[x²] - E[x]²`` loses digits when the variance is small against ``E[x²]`` (a large offset, a
    constant map); rows where it is below ``1e-4 E[x²]`` are recomputed in two passes (mean, then
    variance about it), which keeps
    the relative error of the variance below about 1e-11 everywhere.
    """
    n = flat.shape[1]
    mean, mean_sq = total / n, sumsq / n
    var = mean_sq - mean * mean
    ill = np.nonzero(~(var > 1e-4 * mean_sq))[0]
    if ill.size:                    # the mean too: a sum of large values carries an error of about n eps |x|
        centred = flat[ill] - mean[ill, None]
        correction = centred.mean(axis=1)
        centred -= correction[:, None]
        mean[ill] += correction
        var[ill] = np.einsum("ij,ij->i", centred, centred) / n
    return mean, var


def information_gain(pred_log_density: Any, baseline_log_density: Any, fixations: Any, *, stimulus_id: Any = None,
                     average: str | None = "fixation") -> Any:
    """Information gain of a probabilistic model over a baseline, in bits per fixation (Kümmerer et al. 2015).

    ``IG = mean over fixations of (log p_model(x, y) - log p_baseline(x, y)) / log 2``, from
    log-density maps (natural log, each summing to one over pixels), read at the truncated fixation
    pixels. Equal to pysaliency's ``Model.information_gain(stimuli, fixations, baseline_model)``.

    Parameters
    ----------
    pred_log_density : array-like
        ``(H, W)`` or ``(N, H, W)`` log densities (``to_log_density`` converts saliency maps).
    baseline_log_density : array-like or None
        Same shape (e.g. a centre bias), or None for the uniform density ``-log(H W)``.
    fixations, stimulus_id, average
        As in :func:`nss`.

    Returns
    -------
    float or numpy.ndarray

    Raises
    ------
    InputError
        Maps that are not normalised log densities, fixations outside the map, no fixations.

    Examples
    --------
    >>> import numpy as np
    >>> model = to_log_density(np.array([[3.0, 1.0], [1.0, 1.0]]))
    >>> round(information_gain(model, None, np.array([[0, 0]])), 4)     # log2(0.5 / 0.25)
    1.0
    """
    pred, _, ids = _as_maps(pred_log_density, "pred_log_density", log_density=True)
    if baseline_log_density is None:
        base = np.full(pred.shape, -np.log(pred.shape[1]) - np.log(pred.shape[2]))
    else:
        base, _, _ = _as_maps(baseline_log_density, "baseline_log_density", log_density=True)
        if base.shape[1:] != pred.shape[1:] or len(base) not in (1, len(pred)):
            raise ShapeError(f"baseline_log_density: received {base.shape}; expected {pred.shape} or one map "
                             f"{pred.shape[1:]}")
        base = np.broadcast_to(base, pred.shape)
    sets = _fixation_sets(fixations, len(pred), ids, stimulus_id, "fixations")
    n_idx, rows, cols = _pixel_indices(sets, pred.shape[1:], "fixations")
    values = (pred[n_idx, rows, cols] - base[n_idx, rows, cols]) / np.log(2)
    return _average(values, n_idx, average)


def to_log_density(saliency_map: Any, minimum_value: float = 0.0) -> Any:
    """Turn saliency maps into log densities as pysaliency's ``SaliencyMapNormalizingModel`` does.

    Negative maps are shifted by their minimum, ``minimum_value`` is added, and each map is divided
    by its sum before the natural log is taken (zeros become ``-inf``).

    Examples
    --------
    >>> import numpy as np
    >>> np.exp(to_log_density(np.array([[1.0, 3.0]]))).tolist()
    [[0.25, 0.75]]
    """
    maps, single, ids = _stack(saliency_map, "saliency_map")
    low, _ = _map_stats(maps, "saliency_map")
    flat = maps.reshape(len(maps), -1)
    shifted = np.where(low[:, None] < 0, flat - low[:, None], flat) + minimum_value
    total = shifted.sum(axis=1, keepdims=True)
    shifted[total[:, 0] == 0] = 1.0                     # all zeros after the shift: uniform
    total[total == 0] = flat.shape[1]
    with np.errstate(divide="ignore"):
        out = np.log(shifted / total).reshape(maps.shape)
    out = out[0] if single else out
    if isinstance(saliency_map, xr.DataArray):
        return saliency_map.copy(data=out)
    return out


def _jitter_rng(random_state: Any) -> np.random.Generator | np.random.RandomState:
    """pysaliency's noise stream: ``RandomState(int)`` for an int seed, the Generator itself, or fresh entropy."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    seed = seed_from(random_state)
    if random_state is None:
        seed %= 2**32
    if seed >= 2**32:
        raise InputError(f"random_state: received {random_state!r}; expected an int below 2**32 (it seeds "
                         "numpy.random.RandomState, as pysaliency does), a numpy.random.Generator or None")
    return np.random.RandomState(seed)


def auc_judd(saliency_map: Any, fixations: Any, *, stimulus_id: Any = None, jitter: bool = True,
             noise_size: float = 1e-7, random_state: int | np.random.Generator | None = 42,
             average: str | None = "image") -> Any:
    """AUC-Judd: ROC area with fixated pixels as positives, never-fixated pixels as negatives.

    The thresholds are the saliency values at the fixations (plus one above and one below every
    value), as in Judd et al. (2009) and pysaliency's ``SaliencyMapModel.AUC_Judd``. With
    ``jitter=True`` (pysaliency's default) ``noise_size * N(0, 1)`` noise is added to break ties,
    drawn from ``numpy.random.RandomState(random_state)`` map after map, skipping maps without
    fixations, so that the same seed reproduces pysaliency exactly (hence the default 42, pysaliency's,
    where every other ``random_state`` of the package defaults to 0; a Generator is drawn from
    directly, None takes fresh entropy). Drawing that noise (one normal
    number per pixel) costs several times as much as the AUC itself; ``jitter=False`` skips it,
    at the price of values that can differ from pysaliency's default where values are tied or closer
    than the noise.

    Parameters
    ----------
    saliency_map, fixations, stimulus_id
        As in :func:`nss`.
    jitter, noise_size
        Tie-breaking noise, as above.
    random_state : int, numpy.random.Generator or None, default 42
        Seed of the tie-breaking noise: an int (``0 <= random_state < 2**32``) seeds pysaliency's
        legacy ``RandomState``; a Generator is drawn from (its stream advances); None takes fresh
        entropy from the operating system (not reproducible). Anything else is an ``InputError``.
    average : {"image", None}
        Mean over maps with fixations, or one value per map (NaN for maps without fixations).

    Returns
    -------
    float or numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> smap = np.arange(16.0).reshape(4, 4)
    >>> auc_judd(smap, np.array([[3, 3]]), jitter=False)      # the top pixel is fixated
    1.0
    """
    rng = _jitter_rng(random_state) if jitter else None
    maps, _, ids = _as_maps(saliency_map, "saliency_map")
    sets = _fixation_sets(fixations, len(maps), ids, stimulus_id, "fixations")
    n_idx, rows, cols = _pixel_indices(sets, maps.shape[1:], "fixations")
    flat_maps = maps.reshape(len(maps), -1)
    starts = np.searchsorted(n_idx, np.arange(len(maps) + 1))     # n_idx is sorted: one run per map
    scores = judd_aucs(flat_maps, rows * maps.shape[2] + cols, starts, rng, noise_size)
    if average is None:
        return scores
    if average != "image":
        raise InputError(f"average: received {average!r}; expected 'image' or None")
    return float(np.nanmean(scores))


def shuffled_auc(saliency_map: Any, fixations: Any, other_fixations: Any = None, *, stimulus_id: Any = None,
                 average: str | None = "fixation") -> Any:
    """Shuffled AUC: fixations against fixations from other images, which discounts centre bias.

    For each fixation the AUC against all negatives is ``(#neg < pos + 0.5 #neg == pos) / #neg``
    (ties count one half), averaged as ``average`` says; this is pysaliency's
    ``SaliencyMapModel.sAUC``. With ``other_fixations=None`` and several maps, the negatives of
    each map are all fixations on the *other* maps (pysaliency's ``nonfixations="shuffled"``).

    Parameters
    ----------
    saliency_map, fixations, stimulus_id
        As in :func:`nss`.
    other_fixations : array-like, list of arrays or None
        Negatives: one ``(m, 2)`` array for every map, one per map, or None (shuffled from the batch).
    average : {"fixation", "image", None}

    Returns
    -------
    float or numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> smap = np.arange(16.0).reshape(4, 4)
    >>> shuffled_auc(smap, np.array([[3, 3]]), np.array([[0, 0], [1, 0], [3, 3]]))
    0.8333333333333334
    """
    maps, _, ids = _as_maps(saliency_map, "saliency_map")
    sets = _fixation_sets(fixations, len(maps), ids, stimulus_id, "fixations")
    n_idx, rows, cols = _pixel_indices(sets, maps.shape[1:], "fixations")
    if other_fixations is None:
        if len(maps) < 2:
            raise InputError("other_fixations: received None with a single map; expected negatives (m, 2) or "
                             "several maps to shuffle fixations between")
        neg_n, neg_r, neg_c = n_idx, rows, cols
        shuffled = True
    else:
        if isinstance(other_fixations, np.ndarray) or hasattr(other_fixations, "detach"):
            other = [_fixation_array(other_fixations, "other_fixations")] * len(maps)
        else:
            other = _fixation_sets(other_fixations, len(maps), None, None, "other_fixations")
        neg_n, neg_r, neg_c = _pixel_indices(other, maps.shape[1:], "other_fixations")
        shuffled = False
    if shuffled:
        return _average(shuffled_ranks(maps.reshape(len(maps), -1), rows * maps.shape[2] + cols, n_idx),
                        n_idx, average)
    values = np.empty(len(n_idx))
    for n in np.unique(n_idx):
        sel = neg_n == n
        if not sel.any():
            raise InputError(f"other_fixations: no negatives for map {int(n)}; expected at least one")
        negatives = np.sort(maps[n, neg_r[sel], neg_c[sel]])
        mine = n_idx == n
        positives = maps[n, rows[mine], cols[mine]]
        below = np.searchsorted(negatives, positives, side="left")
        equal = np.searchsorted(negatives, positives, side="right") - below
        values[mine] = (below + 0.5 * equal) / len(negatives)
    return _average(values, n_idx, average)


# -- map-to-map metrics --------------------------------------------------------------------------
def cc(map_a: Any, map_b: Any) -> Any:
    """Pearson correlation between two saliency maps (per map for batches).

    Equal to pysaliency's ``CC`` on non-constant maps. When exactly one map is constant the
    correlation is reported as 0 (pysaliency returns 0 or NaN depending on the argument order);
    two constant maps give NaN.

    Parameters
    ----------
    map_a, map_b : array-like
        ``(H, W)`` or ``(N, H, W)`` of the same shape; labelled batches are aligned on ``stimulus_id``.

    Returns
    -------
    float, numpy.ndarray (N,) or DataArray ("stimulus",)

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> cc(a, 2 * a + 1), cc(a, -a)
    (1.0, -1.0)
    """
    a, b, single, ids = _pair(map_a, map_b, ("map_a", "map_b"))
    fa, fb = a.reshape(len(a), -1), b.reshape(len(b), -1)
    sum_a, sumsq_a, sum_b, sumsq_b, dot = row_sums(fa, fb, stats=("sum", "sumsq"), dot=True)
    _check_moments(fa, "map_a", sum_a, sumsq_a)
    _check_moments(fb, "map_b", sum_b, sumsq_b)
    mean_a, var_a = _mean_var(fa, sum_a, sumsq_a)
    mean_b, var_b = _mean_var(fb, sum_b, sumsq_b)
    n = fa.shape[1]
    cov = dot / n - mean_a * mean_b
    # the raw covariance errs by about eps * sqrt(E[a²] E[b²]), so r by eps * sqrt of the product of the two
    # maps' E[x²] / var ratios: where that product exceeds 1e8 (r could err by more than ~1e-10), recentre
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (sumsq_a / n / var_a) * (sumsq_b / n / var_b)
    ill = np.nonzero(~(ratio <= 1e8))[0]
    if ill.size:
        ca, cb = fa[ill] - mean_a[ill, None], fb[ill] - mean_b[ill, None]
        cov[ill] = np.einsum("ij,ij->i", ca, cb) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(var_a * var_b)
    r = np.where((var_a == 0) ^ (var_b == 0), 0.0, r)
    return _per_map(np.clip(r, -1.0, 1.0), single, ids)


def kl_div(pred: Any, target: Any, *, eps: float = _MIT_EPS) -> Any:
    """KL divergence of the predicted density from the target (empirical) density, MIT benchmark style.

    Both maps are turned into densities (shifted by their minimum if negative, divided by their
    sum) and ``KL = sum(q * log(eps + q / (p + eps)))`` with ``p`` the prediction, ``q`` the target
    and ``eps = 2.2204e-16`` (MATLAB's ``eps``), as the MIT/Tübingen saliency benchmark and
    pysaliency's ``MIT_KLDiv(pred, target)``. Lower is better; 0 for identical densities.

    Examples
    --------
    >>> import numpy as np
    >>> pred, target = np.array([[1.0, 3.0]]), np.array([[1.0, 1.0]])
    >>> round(kl_div(pred, target), 4), abs(kl_div(target, target)) < 1e-12      # 0.5 log(4/3), 0
    (0.1438, True)
    """
    p, q, single, ids = _pair(pred, target, ("pred", "target"))
    fp, fq = p.reshape(len(p), -1), q.reshape(len(q), -1)
    return _per_map(row_kl(fp, fq, _pair_densities(("pred", "target"), fp, fq), eps), single, ids)


def sim(map_a: Any, map_b: Any) -> Any:
    """Similarity (histogram intersection) of two maps as densities: ``sum(min(p, q))`` ∈ [0, 1].

    Equal to pysaliency's ``SIM``. 1 for identical densities, 0 for disjoint ones.

    Examples
    --------
    >>> import numpy as np
    >>> sim(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]))
    0.5
    """
    a, b, single, ids = _pair(map_a, map_b, ("map_a", "map_b"))
    fa, fb = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return _per_map(row_sim(fa, fb, _pair_densities(("map_a", "map_b"), fa, fb)), single, ids)
