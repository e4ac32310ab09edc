"""Representational similarity analysis: RDMs, their comparison, bootstrap intervals, noise ceilings.

Definitions follow rsatoolbox 0.3.2 (and are tested against it), computed with Gram matrices in
float64. Where rsatoolbox's name differs from the plain meaning, both are offered:

================== ============================== ==========================================
here               rsatoolbox                     value for stimuli i, j (F features)
================== ============================== ==========================================
correlation        ``correlation``                ``1 - pearson(x_i, x_j)``
cosine             (none; scipy ``cosine``)       ``1 - cos(x_i, x_j)``
euclidean          (none; scipy ``euclidean``)    ``||x_i - x_j||``
sqeuclidean_mean   ``euclidean``                  ``||x_i - x_j||² / F``
mahalanobis        ``mahalanobis``                ``(x_i - x_j)ᵀ Λ (x_i - x_j) / F``
crossnobis         ``crossnobis``                 leave-one-run-out cross-validated mahalanobis
================== ============================== ==========================================

Comparison methods: ``pearson`` (rsatoolbox ``corr``), ``spearman``, ``rho_a`` (``rho-a``),
``kendall_tau_a`` (``tau-a``), ``kendall_tau_b`` (``kendall``), ``cosine``, ``corr_cov`` and
``cosine_cov``; rsatoolbox's names are accepted as aliases.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr
from scipy import sparse

from .._docs import fill_doc
from .._validation import check_random_state, describe
from ..errors import AlignmentError, InputError, ShapeError
from ._rdm_inputs import _align, _as_stack, _check_noise, _is_rdm_array, _parse_features, _triu, _vectors
from ._rsa_compare import COMPARISON_METHODS, _check_method, _check_sigma, _compare_vectors
from ._rsa_inference import _WEIGHTED, _bootstrap_values, _pool_transform

__all__ = ["compute_rdm", "compare_rdms", "bootstrap_rdm_comparison", "rdm_noise_ceiling", "NoiseCeiling",
           "RDM_METRICS", "COMPARISON_METHODS"]

RDM_METRICS = ("correlation", "cosine", "euclidean", "sqeuclidean_mean", "mahalanobis", "crossnobis")


# -- features to RDMs ----------------------------------------------------------------------------
def _unit_rows(x, metric, ids):
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))
    bad = np.flatnonzero(norm <= 1e-12 * max(float(norm.max()), 1e-300))
    if bad.size:
        what = "constant" if metric == "correlation" else "all-zero"
        raise InputError(f"features: received {what} feature vectors for stimuli {[ids[i] for i in bad[:5]]}; "
                         f"{metric} distance is undefined for them (drop them or use 'euclidean')")
    x /= norm[:, None]
    return x


def _squared_from_gram(gram, diag=None):
    d = np.diag(gram).copy() if diag is None else diag
    gram *= -2.0
    gram += d[:, None]
    gram += d[None, :]
    return gram


def _crossnobis(x, ids, runs, noise, remove_mean):
    if runs is None:
        raise InputError("runs: received None; crossnobis needs one run label per row (or a 'run' dim)")
    stim_codes, stim_ids = pd.factorize(pd.Index(ids))
    run_codes, run_labels = pd.factorize(pd.Index(runs))
    k, n, f = len(run_labels), len(stim_ids), x.shape[1]
    if k < 2:
        raise InputError(f"runs: received one run ({run_labels[0]!r}); crossnobis needs at least 2 runs")
    cell = run_codes * n + stim_codes
    onehot = sparse.csr_matrix((np.ones(len(cell)), (cell, np.arange(len(cell)))), shape=(k * n, len(cell)))
    sums = np.asarray(onehot @ x).reshape(k, n, f)
    counts = np.bincount(cell, minlength=k * n).reshape(k, n).astype(np.float64)
    if (counts == 0).any():
        r, s = np.argwhere(counts == 0)[0]
        raise AlignmentError(f"runs: stimulus {stim_ids[s]!r} has no row in run {run_labels[r]!r} "
                             f"({int((counts == 0).sum())} empty run×stimulus cells); expected every stimulus "
                             "in every run")
    total, total_count = sums.sum(0), counts.sum(0)
    acc = np.zeros((n, n))
    for r in range(k):
        test = sums[r] / counts[r][:, None]
        train = (total - sums[r]) / (total_count - counts[r])[:, None]
        if remove_mean:
            test -= test.mean(1, keepdims=True)
            train -= train.mean(1, keepdims=True)
        kernel = (train if noise is None else train @ noise) @ test.T
        d = np.diag(kernel).copy()
        acc += d[:, None] + d[None, :]
        acc -= kernel
        acc -= kernel.T
    return acc / (k * f), [str(v) for v in stim_ids]


def compute_rdm(features, metric: str = "correlation", *, noise=None, runs=None, stimulus_id=None,
                remove_mean: bool = False, dtype=np.float64) -> xr.DataArray:
    """Representational dissimilarity matrix of stimulus patterns.

    Parameters
    ----------
    features : xarray.DataArray, numpy.ndarray or torch.Tensor
        ``("stimulus", "feature")``; any other dims (``channel``, ``y``, ``x``...) are flattened into
        features and ``stimulus_id`` is kept. For ``crossnobis`` a ``"run"`` (or ``"repeat"``) dim
        holds the runs, or rows are observations labelled by ``runs`` and ``stimulus_id``.
    metric : str, default "correlation"
        One of :data:`RDM_METRICS` (see the module table for rsatoolbox's names):
        ``"correlation"`` 1 - Pearson r; ``"cosine"`` 1 - cosine; ``"euclidean"`` the plain
        ``sqrt(sum of squares)``; ``"sqeuclidean_mean"`` the mean squared difference over features
        (rsatoolbox's ``"euclidean"``); ``"mahalanobis"`` that with a precision matrix ``noise``;
        ``"crossnobis"`` the leave-one-run-out cross-validated mahalanobis distance (rsatoolbox's).
    noise : array (feature, feature), optional
        Noise precision matrix for ``mahalanobis``/``crossnobis`` (identity when None).
    runs : array of labels, optional
        Run label of each row (``crossnobis`` only); rows sharing run and id are averaged.
    stimulus_id : sequence of str, optional
        Stimulus ids for plain arrays (repeats allowed only with ``runs``).
    remove_mean : bool
        Subtract each pattern's mean over features first (squared distances, as rsatoolbox).
    dtype : numpy dtype, default float64
        Precision of the computation.

    Returns
    -------
    xarray.DataArray
        ``("stimulus", "stimulus_")``, symmetric, zero diagonal, with coordinates ``stimulus_id``
        and ``stimulus_id_``; ``attrs["metric"]`` names the metric.

    Raises
    ------
    InputError
        Unknown metric, non-finite values, constant patterns for correlation/cosine, ``noise`` or
        ``runs`` given to a metric that does not use them.
    ShapeError
        Fewer than two stimuli (no pair to compare), or no features.
    AlignmentError
        Duplicated ids, or a stimulus missing from a run (crossnobis).

    Examples
    --------
    >>> import numpy as np
    >>> rdm = compute_rdm(np.random.default_rng(0).normal(size=(4, 10)), "euclidean", stimulus_id=list("abcd"))
    >>> rdm.dims, rdm.shape, float(rdm[0, 0])
    (('stimulus', 'stimulus_'), (4, 4), 0.0)
    """
    if metric not in RDM_METRICS:
        raise InputError(f"metric: received {metric!r}; expected one of {RDM_METRICS}")
    if noise is not None and metric not in ("mahalanobis", "crossnobis"):
        raise InputError(f"noise: received a matrix for metric {metric!r}; only 'mahalanobis' and 'crossnobis' "
                         "use a noise precision")
    x, obs_ids, obs_runs = _parse_features(features, stimulus_id, runs, dtype)
    if obs_runs is not None and metric != "crossnobis":
        raise InputError(f"runs: received run labels for metric {metric!r}; only 'crossnobis' uses runs "
                         "(average the runs first, e.g. features.mean('run'))")
    f = x.shape[1]
    n_stimuli = len(dict.fromkeys(obs_ids))
    if n_stimuli < 2:
        raise ShapeError(f"features: received {n_stimuli} stimulus ({describe(x)}); expected at least 2 stimuli, "
                         "since an RDM holds the dissimilarities between pairs of them")
    if f < 1:
        raise ShapeError(f"features: received {describe(x)} with no features; expected at least one per stimulus")
    if noise is not None:
        noise = _check_noise(noise, f)
    if metric == "crossnobis":
        rdm, obs_ids = _crossnobis(x, obs_ids, obs_runs, noise, remove_mean)
    else:
        if remove_mean or metric == "correlation":
            x = x - x.mean(1, keepdims=True)
        elif metric == "cosine":
            x = x.copy()
        if metric in ("correlation", "cosine"):
            x = _unit_rows(x, metric, obs_ids)
            rdm = x @ x.T
            np.subtract(1.0, rdm, out=rdm)
        elif metric == "mahalanobis" and noise is not None:
            rdm = _squared_from_gram((x @ noise) @ x.T) / f
        else:
            rdm = _squared_from_gram(x @ x.T)
            if metric == "euclidean":
                np.sqrt(np.maximum(rdm, 0.0, out=rdm), out=rdm)
            else:
                rdm /= f
    n = rdm.shape[0]
    if n > 1:  # exact symmetry: the lower triangle mirrors the upper one
        iu, ju, flat = _triu(n)
        rdm.reshape(-1)[ju * n + iu] = rdm.reshape(-1)[flat]
    np.fill_diagonal(rdm, 0.0)
    return xr.DataArray(rdm, dims=("stimulus", "stimulus_"), attrs={"metric": metric},
                        coords={"stimulus_id": ("stimulus", obs_ids), "stimulus_id_": ("stimulus_", obs_ids)})


# -- comparison ----------------------------------------------------------------------------------
def compare_rdms(a, b, method: str = "spearman", *, sigma_k=None):
    """Compare RDMs on their upper triangles (diagonal excluded), aligned by stimulus ids.

    Parameters
    ----------
    a, b : RDM or stack of RDMs
        ``("stimulus", "stimulus_")`` DataArrays (e.g. from :func:`compute_rdm`), stacks
        ``("rdm", "stimulus", "stimulus_")``, lists of RDM DataArrays, or arrays ``(N, N)`` /
        ``(K, N, N)``. When both carry ``stimulus_id``, ``b`` is reordered to ``a``'s ids; when
        neither does, they are matched by position; ids on one of them only are an error
        (:func:`compute_rdm` always labels its result).
    method : str, default "spearman"
        ``"pearson"``, ``"spearman"``, ``"rho_a"`` (expected Spearman under random tie breaking),
        ``"kendall_tau_a"``, ``"kendall_tau_b"``, ``"cosine"``, ``"corr_cov"`` / ``"cosine_cov"``
        (whitened, rsatoolbox's definitions). rsatoolbox's names (``corr``, ``tau-a``, ...) work too.
    sigma_k : array (N,), optional
        Pattern variances for ``corr_cov``/``cosine_cov`` (identity when None).

    Returns
    -------
    float or numpy.ndarray or xarray.DataArray
        A float for two single RDMs; otherwise a ``(K_a, K_b)`` matrix, a DataArray with dims
        ``("rdm_a", "rdm_b")`` when an input is labelled.

    Raises
    ------
    AlignmentError
        Different stimulus ids (or counts), or ids on one input only.
    InputError
        Unknown method, non-symmetric or non-finite RDMs, an RDM with no variance.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(6, 20))
    >>> round(compare_rdms(compute_rdm(x), compute_rdm(2 * x + 1), "pearson"), 6)
    1.0
    """
    method = _check_method(method)
    sa, sb = _as_stack(a, "a"), _as_stack(b, "b")
    sb = _align(sa, sb, "a", "b")
    n = sa.values.shape[1]
    out = _compare_vectors(_vectors(sa.values), _vectors(sb.values), method, n, _check_sigma(sigma_k, n))
    if sa.single and sb.single:
        return float(out[0, 0])
    if sa.labelled or sb.labelled:
        return xr.DataArray(out, dims=("rdm_a", "rdm_b"), coords={"rdm_a": sa.names, "rdm_b": sb.names},
                            attrs={"method": method})
    return out


# -- bootstrap over stimuli ----------------------------------------------------------------------
@fill_doc
def bootstrap_rdm_comparison(features_or_rdm_a, rdm_b, n_bootstrap: int = 1000, method: str = "spearman", *,
                             metric: str = "correlation", a_kind: str = "auto", ci: float = 0.95,
                             random_state: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """Bootstrap over stimuli the comparison of a (data) RDM with one or several (model) RDMs.

    Each resample draws N stimuli with replacement and compares the RDMs restricted to them; pairs
    of one stimulus with itself (drawn twice) are dropped, as rsatoolbox's
    ``bootstrap_sample_pattern`` + ``subsample_pattern`` do.

    Parameters
    ----------
    features_or_rdm_a : features, RDM or stack of RDMs
        Features (turned into an RDM with ``metric``), an RDM, or a stack of RDMs (e.g. subjects,
        whose comparisons are averaged).
    rdm_b : RDM or stack of RDMs
        One model RDM or a stack ``("rdm", ...)`` of them; aligned to ``a`` by stimulus ids.
    n_bootstrap : int
        Number of resamples.
    method : str
        ``"pearson"``, ``"cosine"``, ``"spearman"``, ``"rho_a"`` (vectorised, exact) or
        ``"kendall_tau_a"`` / ``"kendall_tau_b"`` (one resample at a time).
    metric : str
        RDM metric used when ``features_or_rdm_a`` holds features.
    a_kind : {"auto", "rdm", "features"}
        ``"auto"``: a DataArray with a ``stimulus_`` dim, or an array whose last two axes form a
        symmetric matrix with a zero diagonal, is an RDM; anything else is features.
    ci : float
        Coverage of the percentile interval.
    %(random_state)s

    Returns
    -------
    pandas.DataFrame
        One row per model RDM (index ``model``) with columns ``value`` (full sample), ``mean``,
        ``std``, ``ci_low``, ``ci_high`` and ``n_valid`` (resamples with at least 3 distinct
        stimuli); ``attrs["samples"]`` holds the ``(n_bootstrap, n_models)`` values.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(8, 30))
    >>> res = bootstrap_rdm_comparison(x, compute_rdm(x + 0.1), n_bootstrap=20, method="pearson")
    >>> list(res.columns), bool(res["mean"].iloc[0] > 0.9)
    (['value', 'mean', 'std', 'ci_low', 'ci_high', 'n_valid'], True)
    """
    method = _check_method(method)
    if method in ("corr_cov", "cosine_cov"):
        raise InputError(f"method: received {method!r}; the bootstrap supports {_WEIGHTED + ('kendall_tau_a', 'kendall_tau_b')}")
    if a_kind not in ("auto", "rdm", "features"):
        raise InputError(f"a_kind: received {a_kind!r}; expected 'auto', 'rdm' or 'features'")
    if not (isinstance(n_bootstrap, (int, np.integer)) and n_bootstrap >= 1):
        raise InputError(f"n_bootstrap: received {n_bootstrap!r}; expected a positive int")
    if not 0 < ci < 1:
        raise InputError(f"ci: received {ci!r}; expected a coverage in (0, 1)")
    rng = check_random_state(random_state)
    a = features_or_rdm_a
    if a_kind == "auto":
        is_rdm = ("stimulus_" in a.dims) if isinstance(a, xr.DataArray) else \
            isinstance(a, (list, tuple)) or _is_rdm_array(a)
        a_kind = "rdm" if is_rdm else "features"
    sa = _as_stack(compute_rdm(a, metric) if a_kind == "features" else a, "a")
    sb = _align(sa, _as_stack(rdm_b, "rdm_b"), "a", "rdm_b")
    n = sa.values.shape[1]
    va, vb = _vectors(sa.values), _vectors(sb.values)
    value = _compare_vectors(va, vb, method).mean(0)
    idx = rng.integers(0, n, size=(n_bootstrap, n))
    samples = _bootstrap_values(va, vb, n, idx, method, sa.values, sb.values)
    alpha = 100 * (1 - ci) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # models whose resamples are all undefined stay NaN
        valid = np.isfinite(samples).sum(0)
        frame = pd.DataFrame({
            "value": value, "mean": np.nanmean(samples, 0), "std": np.nanstd(samples, 0, ddof=1),
            "ci_low": np.nanpercentile(samples, alpha, 0), "ci_high": np.nanpercentile(samples, 100 - alpha, 0),
            "n_valid": valid}, index=pd.Index(sb.names, name="model"))
    frame.attrs.update(samples=samples, method=method, ci=ci)
    return frame


# -- noise ceiling -------------------------------------------------------------------------------
class NoiseCeiling(NamedTuple):
    """Lower and upper bound of the best achievable comparison value.

    Returned by :func:`rdm_noise_ceiling`; a named tuple, so it unpacks as ``lower, upper``.

    Examples
    --------
    Subjects with identical RDMs leave no room between the bounds and a perfect model:

    >>> import numpy as np
    >>> rdm = compute_rdm(np.random.default_rng(0).normal(size=(6, 20)))
    >>> lower, upper = rdm_noise_ceiling([rdm, rdm, rdm], "spearman")
    >>> round(lower, 6), round(upper, 6)
    (1.0, 1.0)
    >>> NoiseCeiling(lower=0.4, upper=0.6).upper
    0.6
    """

    lower: float
    upper: float


def rdm_noise_ceiling(rdms, method: str = "spearman") -> NoiseCeiling:
    """Noise ceiling of a comparison method from several subjects' RDMs (rsatoolbox's definition).

    Each RDM is first put on a common scale for ``method`` (ranks for rank methods, z-scores for
    correlations, RMS-normalised for cosines) and averaged. The upper bound is the mean comparison
    of each subject's RDM with the average of all; the lower bound that with the average of the
    others (leave one subject out), as rsatoolbox's ``boot_noise_ceiling``.

    Parameters
    ----------
    rdms : stack of RDMs
        ``("rdm", "stimulus", "stimulus_")`` DataArray, a list of RDM DataArrays (aligned by ids)
        or an array ``(K, N, N)``, ``K >= 2``.
    method : str
        Any of :data:`COMPARISON_METHODS` (rsatoolbox names accepted).

    Returns
    -------
    NoiseCeiling
        ``(lower, upper)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(10, 40))
    >>> subjects = [compute_rdm(x + rng.normal(size=x.shape)) for _ in range(4)]
    >>> nc = rdm_noise_ceiling(subjects, "spearman")
    >>> bool(nc.lower < nc.upper <= 1)
    True
    """
    method = _check_method(method)
    s = _as_stack(rdms, "rdms")
    k, n, _ = s.values.shape
    if s.single or k < 2:
        raise ShapeError(f"rdms: received {k} RDM; expected a stack of at least 2 (one per subject)")
    v = _vectors(s.values)
    t = _pool_transform(v, method)
    total = t.sum(0)
    lower, upper = [], []
    for i in range(k):
        for pred, acc in (((total - t[i]) / (k - 1), lower), (total / k, upper)):
            if method in ("pearson", "corr_cov"):
                pred = pred - pred.min()
            acc.append(_compare_vectors(pred[None], v[i:i + 1], method, n)[0, 0])
    return NoiseCeiling(float(np.mean(lower)), float(np.mean(upper)))
