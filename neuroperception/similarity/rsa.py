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
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr
from scipy import sparse, stats

from .._validation import check_ids, describe
from ..errors import AlignmentError, InputError, ShapeError

__all__ = ["compute_rdm", "compare_rdms", "bootstrap_rdm_comparison", "rdm_noise_ceiling", "NoiseCeiling",
           "RDM_METRICS", "COMPARISON_METHODS"]

RDM_METRICS = ("correlation", "cosine", "euclidean", "sqeuclidean_mean", "mahalanobis", "crossnobis")
COMPARISON_METHODS = ("pearson", "spearman", "rho_a", "kendall_tau_a", "kendall_tau_b", "cosine", "corr_cov",
                      "cosine_cov")
_ALIASES = {"corr": "pearson", "rho-a": "rho_a", "tau-a": "kendall_tau_a", "kendall": "kendall_tau_b",
            "tau-b": "kendall_tau_b"}
_RUN_DIMS = ("run", "repeat")


# -- features ------------------------------------------------------------------------------------
def _numpy(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        return x.detach().cpu().numpy()
    return x


def _finite_float(values: np.ndarray, name: str, dtype) -> np.ndarray:
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool) or np.iscomplexobj(values):
        raise InputError(f"{name}: received dtype {values.dtype}; expected real numbers")
    out = np.asarray(values, dtype=dtype)
    if not np.isfinite(out).all():
        raise InputError(f"{name}: received {describe(values)}; expected finite values")
    return out


def _parse_features(features, ids, runs, dtype):
    """→ (x (observation, feature), observation ids, observation runs or None)."""
    name = "features"
    features = _numpy(features)
    if isinstance(features, xr.DataArray):
        if "stimulus" not in features.dims:
            raise ShapeError(f"{name}: received dims {features.dims}; expected ('stimulus', 'feature') "
                             "(other dims are flattened into features)")
        run_dims = [d for d in features.dims if d in _RUN_DIMS]
        if len(run_dims) > 1:
            raise ShapeError(f"{name}: received dims {features.dims}; expected at most one of {_RUN_DIMS}")
        if "stimulus_id" in features.coords:
            if ids is not None:
                raise InputError("ids: received ids for a DataArray that has a stimulus_id coordinate; expected "
                                 "one source of ids")
            ids = [str(v) for v in features["stimulus_id"].values]
        rest = [d for d in features.dims if d != "stimulus" and d not in run_dims]
        da = features.transpose(*run_dims, "stimulus", *rest)
        n = da.sizes["stimulus"]
        ids = check_ids(ids, n, name="stimulus_id")
        values = _finite_float(np.asarray(da.values), name, dtype)
        if run_dims:
            if runs is not None:
                raise InputError(f"runs: received labels and a {run_dims[0]!r} dim; expected one of them")
            r = da.sizes[run_dims[0]]
            labels = (da[run_dims[0]].values if run_dims[0] in da.coords else np.arange(r))
            return values.reshape(r * n, -1), ids * r, np.repeat(np.asarray(labels), n)
        return values.reshape(n, -1), ids, _check_runs(runs, n)
    if not isinstance(features, np.ndarray) and not isinstance(features, (list, tuple)):
        raise InputError(f"{name}: received {type(features).__name__}; expected an xarray.DataArray "
                         "('stimulus', 'feature'), a numpy array or a torch tensor")
    values = np.asarray(features)
    if values.ndim < 2:
        raise ShapeError(f"{name}: received {describe(values)}; expected (stimulus, feature)")
    values = _finite_float(values, name, dtype).reshape(values.shape[0], -1)
    n = values.shape[0]
    if runs is not None:
        ids = [str(v) for v in (ids if ids is not None else range(n))]
        if len(ids) != n:
            raise ShapeError(f"ids: received {len(ids)} ids; expected one per row ({n})")
        return values, ids, _check_runs(runs, n)
    return values, check_ids(ids, n, name="ids"), None


def _check_runs(runs, n):
    if runs is None:
        return None
    runs = np.asarray(_numpy(runs))
    if runs.shape != (n,):
        raise ShapeError(f"runs: received shape {runs.shape}; expected one label per row ({n},)")
    return runs


def _check_noise(noise, f):
    noise = np.asarray(_numpy(noise), dtype=np.float64)
    if noise.shape != (f, f):
        raise ShapeError(f"noise: received {describe(noise)}; expected a ({f}, {f}) precision matrix")
    if not np.isfinite(noise).all() or not np.allclose(noise, noise.T, rtol=1e-6, atol=1e-10):
        raise InputError(f"noise: received {describe(noise)}; expected a finite symmetric precision matrix")
    return noise


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


def compute_rdm(features, metric: str = "correlation", *, noise=None, runs=None, ids=None,
                remove_mean: bool = False, dtype=np.float64) -> xr.DataArray:
    """Representational dissimilarity matrix of stimulus patterns.

    Parameters
    ----------
    features : xarray.DataArray, numpy.ndarray or torch.Tensor
        ``("stimulus", "feature")``; any other dims (``channel``, ``y``, ``x``...) are flattened into
        features and ``stimulus_id`` is kept. For ``crossnobis`` a ``"run"`` (or ``"repeat"``) dim
        holds the runs, or rows are observations labelled by ``runs`` and ``ids``.
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
    ids : sequence of str, optional
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
    AlignmentError
        Duplicated ids, or a stimulus missing from a run (crossnobis).

    Examples
    --------
    >>> import numpy as np
    >>> rdm = compute_rdm(np.random.default_rng(0).normal(size=(4, 10)), "euclidean", ids=list("abcd"))
    >>> rdm.dims, rdm.shape, float(rdm[0, 0])
    (('stimulus', 'stimulus_'), (4, 4), 0.0)
    """
    if metric not in RDM_METRICS:
        raise InputError(f"metric: received {metric!r}; expected one of {RDM_METRICS}")
    if noise is not None and metric not in ("mahalanobis", "crossnobis"):
        raise InputError(f"noise: received a matrix for metric {metric!r}; only 'mahalanobis' and 'crossnobis' "
                         "use a noise precision")
    x, obs_ids, obs_runs = _parse_features(features, ids, runs, dtype)
    if obs_runs is not None and metric != "crossnobis":
        raise InputError(f"runs: received run labels for metric {metric!r}; only 'crossnobis' uses runs "
                         "(average the runs first, e.g. features.mean('run'))")
    f = x.shape[1]
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


# -- RDM stacks and alignment --------------------------------------------------------------------
class _Stack(NamedTuple):
    values: np.ndarray  # (k, n, n)
    ids: list | None
    names: list
    single: bool
    labelled: bool


def _rdm_ids(da: xr.DataArray, name: str):
    if "stimulus_id" not in da.coords:
        return da, None
    ids = [str(v) for v in da["stimulus_id"].values]
    check_ids(ids, len(ids), name=f"{name}.stimulus_id")
    if "stimulus_id_" in da.coords:
        cols = [str(v) for v in da["stimulus_id_"].values]
        if cols != ids:
            if set(cols) != set(ids) or len(cols) != len(ids):
                raise AlignmentError(f"{name}: row ids (stimulus_id) and column ids (stimulus_id_) differ; "
                                     "expected the same stimuli on both dims")
            pos = {v: i for i, v in enumerate(cols)}
            da = da.isel(stimulus_=[pos[i] for i in ids])
    return da, ids


def _as_stack(x, name: str) -> _Stack:
    x = _numpy(x)
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, xr.DataArray) for v in x):
        parts = [_as_stack(v, f"{name}[{i}]") for i, v in enumerate(x)]
        first = parts[0]
        values = [first.values] + [_align(first, p, name, f"{name}[{i + 1}]").values for i, p in enumerate(parts[1:])]
        names = [p.names[0] if p.single else f"{name}[{i}]" for i, p in enumerate(parts)]
        return _Stack(np.concatenate(values), first.ids, names, False, True)
    if isinstance(x, xr.DataArray):
        dims = set(x.dims)
        if not ({"stimulus", "stimulus_"} <= dims and dims - {"stimulus", "stimulus_"} <= {"rdm"}):
            raise ShapeError(f"{name}: received dims {x.dims}; expected ('stimulus', 'stimulus_') or "
                             "('rdm', 'stimulus', 'stimulus_')")
        single = "rdm" not in dims
        da, ids = _rdm_ids(x.transpose(*(() if single else ("rdm",)), "stimulus", "stimulus_"), name)
        values = np.asarray(da.values)[None] if single else np.asarray(da.values)
        if single:
            names = [str(x.name) if x.name is not None else name]
        else:
            names = [str(v) for v in (da["rdm"].values if "rdm" in da.coords else range(da.sizes["rdm"]))]
        labelled = True
    elif isinstance(x, np.ndarray):
        if x.ndim not in (2, 3):
            raise ShapeError(f"{name}: received {describe(x)}; expected (N, N) or a stack (K, N, N)")
        single, values, ids, labelled = x.ndim == 2, (x[None] if x.ndim == 2 else x), None, False
        names = [name] if single else [str(i) for i in range(x.shape[0])]
    else:
        raise InputError(f"{name}: received {type(x).__name__}; expected an RDM DataArray ('stimulus', "
                         "'stimulus_'), a stack ('rdm', 'stimulus', 'stimulus_'), a list of RDMs or an array")
    values = _finite_float(values, name, np.float64)
    k, n, m = values.shape
    if n != m or n < 3 or k == 0:
        raise ShapeError(f"{name}: received {describe(values)}; expected square RDMs of at least 3 stimuli")
    iu, ju, flat = _triu(n)
    flat_values = values.reshape(k, n * n)
    upper, lower = flat_values[:, flat], flat_values[:, ju * n + iu]
    if np.abs(upper - lower).max() > 1e-7 * max(float(np.abs(upper).max()), 1e-300):
        raise InputError(f"{name}: received a non-symmetric matrix; expected a symmetric RDM")
    return _Stack(values, ids, names, single, labelled)


def _align(a: _Stack, b: _Stack, name_a: str, name_b: str) -> _Stack:
    """Return ``b`` reordered to ``a``'s stimulus ids (by position when ids are absent)."""
    n_a, n_b = a.values.shape[1], b.values.shape[1]
    if a.ids is None or b.ids is None:
        if n_a != n_b:
            raise AlignmentError(f"{name_a} and {name_b}: received {n_a} and {n_b} stimuli; expected the same "
                                 "stimuli")
        return b
    if a.ids == b.ids:
        return b
    missing, extra = sorted(set(a.ids) - set(b.ids)), sorted(set(b.ids) - set(a.ids))
    if missing or extra:
        raise AlignmentError(f"{name_b}: stimulus ids differ from {name_a}: {len(missing)} missing (e.g. "
                             f"{missing[:5]}), {len(extra)} extra (e.g. {extra[:5]}); expected the same ids")
    pos = {v: i for i, v in enumerate(b.ids)}
    order = np.array([pos[i] for i in a.ids])
    return b._replace(values=b.values[:, order][:, :, order], ids=list(a.ids))


@lru_cache(maxsize=8)
def _triu(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iu, ju = np.triu_indices(n, 1)
    return iu, ju, iu * n + ju


def _vectors(values: np.ndarray) -> np.ndarray:
    k, n, _ = values.shape
    return values.reshape(k, n * n)[:, _triu(n)[2]]


# -- comparison of upper-triangle vectors ---------------------------------------------------------
def _check_method(method: str) -> str:
    method = _ALIASES.get(method, method)
    if method not in COMPARISON_METHODS:
        raise InputError(f"method: received {method!r}; expected one of {COMPARISON_METHODS} (or rsatoolbox's "
                         f"{tuple(_ALIASES)})")
    return method


def _rank_rows(v: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) of each row, like ``scipy.stats.rankdata``."""
    k, p = v.shape
    order = np.argsort(v, axis=1)
    s = np.take_along_axis(v, order, 1)
    new = np.ones((k, p), bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    flat = new.ravel()
    starts = np.flatnonzero(flat)
    ends = np.append(starts[1:], k * p)
    avg = (starts + ends + 1) / 2.0 - (starts // p) * p
    ranks = np.empty((k, p))
    np.put_along_axis(ranks, order, avg[np.cumsum(flat) - 1].reshape(k, p), 1)
    return ranks


def _cosine_matrix(a, b, ref_a, ref_b, strict, what):
    na, nb = np.sqrt(np.einsum("ij,ij->i", a, a)), np.sqrt(np.einsum("ij,ij->i", b, b))
    bad_a, bad_b = na <= 1e-10 * ref_a, nb <= 1e-10 * ref_b
    if strict and (bad_a.any() or bad_b.any()):
        raise InputError(f"RDMs: received an RDM whose {what} is zero (e.g. all dissimilarities equal); "
                         "the comparison is undefined for it")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (a @ b.T) / na[:, None] / nb[None, :]
    out[bad_a] = np.nan
    out[:, bad_b] = np.nan
    return out


def _tau_a(x, y):
    """Kendall's tau-a from scipy's O(n log n) tau-b and the tie counts."""
    p = x.size
    tot = p * (p - 1) / 2.0

    def ties(v):
        c = np.unique(v, return_counts=True)[1].astype(np.float64)
        return float((c * (c - 1) / 2).sum())

    tx, ty = ties(x), ties(y)
    if tx == tot or ty == tot:
        return 0.0
    tau_b = stats.kendalltau(x, y).statistic
    return float(np.clip(tau_b * np.sqrt((tot - tx) * (tot - ty)) / tot, -1.0, 1.0))


def _cov_weighted(vectors, n, sigma_k):
    """Double-centred ``-D/2`` as isotropic vectors: off-diagonal entries ×√2, then the diagonal."""
    k = vectors.shape[0]
    iu, ju, flat = _triu(n)
    full = np.zeros((k, n * n))
    full[:, flat] = vectors
    full = full.reshape(k, n, n)
    full = -0.5 * (full + full.transpose(0, 2, 1))
    row = full.mean(2, keepdims=True)
    full = full - row - row.transpose(0, 2, 1) + row.mean(1, keepdims=True)
    if sigma_k is not None:
        s = np.sqrt(sigma_k)
        full = full / s[:, None] / s[None, :]
    diag = np.einsum("kii->ki", full)
    return np.concatenate([np.sqrt(2.0) * full.reshape(k, n * n)[:, flat], diag], axis=1)


def _compare_vectors(va, vb, method, n=None, sigma_k=None, strict=True):
    if method in ("spearman", "rho_a"):
        va, vb = _rank_rows(va), _rank_rows(vb)
    ref_a, ref_b = np.sqrt(np.einsum("ij,ij->i", va, va)), np.sqrt(np.einsum("ij,ij->i", vb, vb))
    if method in ("pearson", "spearman", "rho_a", "corr_cov"):
        va, vb = va - va.mean(1, keepdims=True), vb - vb.mean(1, keepdims=True)
    if method == "rho_a":
        p = va.shape[1]
        return va @ vb.T * (12.0 / (p ** 3 - p))
    if method in ("corr_cov", "cosine_cov"):
        wa, wb = _cov_weighted(va, n, sigma_k), _cov_weighted(vb, n, sigma_k)
        return _cosine_matrix(wa, wb, ref_a, ref_b, strict, "double-centred form")
    if method.startswith("kendall"):
        out = np.empty((va.shape[0], vb.shape[0]))
        for i, x in enumerate(va):
            for j, y in enumerate(vb):
                out[i, j] = _tau_a(x, y) if method == "kendall_tau_a" else stats.kendalltau(x, y).statistic
        return out
    return _cosine_matrix(va, vb, ref_a, ref_b, strict, "variance" if method != "cosine" else "norm")


def _check_sigma(sigma_k, n):
    if sigma_k is None:
        return None
    s = np.asarray(_numpy(sigma_k), dtype=np.float64)
    if s.shape != (n,) or not np.isfinite(s).all() or (s <= 0).any():
        raise InputError(f"sigma_k: received {describe(s)}; expected ({n},) positive pattern variances "
                         "(a diagonal covariance)")
    return s


def compare_rdms(a, b, method: str = "spearman", *, sigma_k=None):
    """Compare RDMs on their upper triangles (diagonal excluded), aligned by stimulus ids.

    Parameters
    ----------
    a, b : RDM or stack of RDMs
        ``("stimulus", "stimulus_")`` DataArrays (e.g. from :func:`compute_rdm`), stacks
        ``("rdm", "stimulus", "stimulus_")``, lists of RDM DataArrays, or arrays ``(N, N)`` /
        ``(K, N, N)``. ``b`` is reordered to ``a``'s ``stimulus_id``; plain arrays align by position.
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
        Different stimulus ids (or counts).
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
_WEIGHTED = ("pearson", "cosine", "spearman", "rho_a")


def _rank_plan(v):
    order = np.argsort(v)
    s = v[order]
    new = np.ones(v.size, bool)
    new[1:] = s[1:] != s[:-1]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return order, inverse, (None if new.all() else (np.flatnonzero(new), np.cumsum(new) - 1))


def _weighted_ranks(w, plan):
    """Average ranks of the multiset holding pair ``p`` ``w[:, p]`` times, for each row of ``w``."""
    order, inverse, groups = plan
    ws = w.take(order, axis=1)
    if groups is None:  # no ties between pairs: copies of one pair share the mean of their ranks
        rank = np.cumsum(ws, axis=1)
        rank -= (ws - 1.0) / 2.0
    else:
        counts = np.add.reduceat(ws, groups[0], axis=1)
        rank = (np.cumsum(counts, axis=1) - (counts - 1.0) / 2.0).take(groups[1], axis=1)
    return rank.take(inverse, axis=1)


def _rank_similarity(counts, va, vb, method):
    """Spearman or rho-a of every resample from weighted ranks (each pair weighted by its copies)."""
    n = counts.shape[1]
    iu, ju, _ = _triu(n)
    plans_a, plans_b = [_rank_plan(v) for v in va], [_rank_plan(v) for v in vb]
    out = np.empty((counts.shape[0], va.shape[0], vb.shape[0]))
    chunk = max(1, int(2e6 // iu.size))
    for start in range(0, counts.shape[0], chunk):
        c = counts[start:start + chunk]
        w = c.take(iu, axis=1) * c.take(ju, axis=1)
        sw = w.sum(1)

        def moments(plan):
            r = _weighted_ranks(w, plan)
            wr = w * r
            return r, wr, wr.sum(1), np.einsum("cp,cp->c", wr, r)

        mb = [moments(p) for p in plans_b]
        for i, plan in enumerate(plans_a):
            _, wr_a, s_a, ss_a = moments(plan)
            for j, (r_b, _, s_b, ss_b) in enumerate(mb):
                cov = np.einsum("cp,cp->c", wr_a, r_b) - s_a * s_b / sw
                if method == "rho_a":
                    out[start:start + chunk, i, j] = cov * 12.0 / (sw ** 3 - sw)
                    continue
                var_a, var_b = ss_a - s_a ** 2 / sw, ss_b - s_b ** 2 / sw
                with np.errstate(divide="ignore", invalid="ignore"):
                    r = cov / np.sqrt(var_a * var_b)
                r[(var_a <= 1e-12 * ss_a) | (var_b <= 1e-12 * ss_b)] = np.nan
                out[start:start + chunk, i, j] = r
    return out


def _quadratic_similarity(counts, va, vb, n, method):
    """Pearson or cosine of every resample from quadratic forms ``cᵀ M c / 2`` of full matrices."""
    iu, ju, _ = _triu(n)

    def full(v):
        m = np.zeros((n, n))
        m[iu, ju] = v
        m[ju, iu] = v
        return m

    def q(m):
        return 0.5 * np.einsum("bi,bi->b", counts @ m, counts)

    sw = q(full(np.ones(iu.size)))[:, None]
    if method == "pearson":  # shifting by the full-sample mean keeps the moments well conditioned
        va, vb = va - va.mean(1, keepdims=True), vb - vb.mean(1, keepdims=True)
    fa, fb = [full(v) for v in va], [full(v) for v in vb]
    moments = {}
    for name, mats in (("a", fa), ("b", fb)):
        moments[name] = (np.stack([q(m) for m in mats], 1), np.stack([q(m * m) for m in mats], 1))
    (sa, saa), (sb, sbb) = moments["a"], moments["b"]
    sab = np.stack([np.stack([q(x * y) for y in fb], 1) for x in fa], 1)
    if method == "pearson":
        sab = sab - sa[:, :, None] * sb[:, None, :] / sw[:, :, None]
        var_a, var_b = saa - sa ** 2 / sw, sbb - sb ** 2 / sw
    else:
        var_a, var_b = saa, sbb
    with np.errstate(divide="ignore", invalid="ignore"):
        out = sab / np.sqrt(var_a[:, :, None] * var_b[:, None, :])
    out[np.broadcast_to((var_a <= 1e-12 * saa)[:, :, None], out.shape)] = np.nan
    out[np.broadcast_to((var_b <= 1e-12 * sbb)[:, None, :], out.shape)] = np.nan
    return out


def _bootstrap_values(va, vb, n, idx, method, values_a=None, values_b=None):
    """Mean over ``va``'s rows of ``method`` for each resample ``idx[b]`` → ``(B, K_b)``.

    Pairs of the same stimulus (drawn twice) are dropped, as rsatoolbox does; a pair of distinct
    stimuli drawn ``c_s`` and ``c_t`` times enters ``c_s * c_t`` times. Resamples with fewer than 3
    distinct stimuli give NaN.
    """
    n_boot = idx.shape[0]
    counts = np.bincount((idx + n * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * n)
    counts = counts.reshape(n_boot, n).astype(np.float64)
    valid = (counts > 0).sum(1) >= 3
    out = np.full((n_boot, va.shape[0], vb.shape[0]), np.nan)
    if method in ("pearson", "cosine"):
        out[valid] = _quadratic_similarity(counts[valid], va, vb, n, method)
    elif method in ("spearman", "rho_a"):
        out[valid] = _rank_similarity(counts[valid], va, vb, method)
    else:
        iu, ju, _ = _triu(n)
        for b in np.flatnonzero(valid):
            s = np.sort(idx[b])
            keep = s[iu] != s[ju]
            p, q = s[iu[keep]], s[ju[keep]]
            out[b] = _compare_vectors(values_a[:, p, q], values_b[:, p, q], method, strict=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        return np.nanmean(out, axis=1)


def _is_rdm_array(x) -> bool:
    x = np.asarray(_numpy(x))
    if x.ndim not in (2, 3) or x.shape[-1] != x.shape[-2] or not np.issubdtype(x.dtype, np.number):
        return False
    diag = np.diagonal(x, axis1=-2, axis2=-1)
    return bool(np.allclose(x, np.swapaxes(x, -1, -2)) and np.allclose(diag, 0))


def bootstrap_rdm_comparison(features_or_rdm_a, rdm_b, n_bootstrap: int = 1000, method: str = "spearman", *,
                             metric: str = "correlation", a_kind: str = "auto", ci: float = 0.95,
                             random_state: int = 0) -> pd.DataFrame:
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
    random_state : int
        Seed; same seed, same resamples.

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
    idx = np.random.default_rng(random_state).integers(0, n, size=(n_bootstrap, n))
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
    """Lower and upper bound of the best achievable comparison value."""

    lower: float
    upper: float


def _pool_transform(v, method):
    if method in ("cosine", "cosine_cov"):
        return v / np.sqrt(np.mean(v ** 2, axis=1, keepdims=True))
    if method in ("pearson", "corr_cov"):
        return (v - v.mean(1, keepdims=True)) / v.std(1, keepdims=True)
    return _rank_rows(v)


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
