"""Comparison of RDMs as upper-triangle vectors: correlations, rank correlations, Kendall's taus
and the whitened ``corr_cov``/``cosine_cov`` (rsatoolbox's definitions), one matrix of values for
every pair of rows.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .._validation import describe
from ..errors import InputError
from ._rdm_inputs import _numpy, _triu

COMPARISON_METHODS = ("pearson", "spearman", "rho_a", "kendall_tau_a", "kendall_tau_b", "cosine", "corr_cov",
                      "cosine_cov")
_ALIASES = {"corr": "pearson", "rho-a": "rho_a", "tau-a": "kendall_tau_a", "kendall": "kendall_tau_b",
            "tau-b": "kendall_tau_b"}


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
