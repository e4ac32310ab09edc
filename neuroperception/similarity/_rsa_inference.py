"""Inference on RDM comparisons: bootstrap over stimuli and the noise ceiling's pooling.

Pearson and cosine resamples are computed at once from quadratic forms of the stimulus counts,
Spearman and rho-a from weighted ranks, Kendall's taus one resample at a time.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._rdm_inputs import _triu
from ._rsa_compare import _compare_vectors, _rank_rows


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


# -- noise ceiling -------------------------------------------------------------------------------
def _pool_transform(v, method):
    if method in ("cosine", "cosine_cov"):
        return v / np.sqrt(np.mean(v ** 2, axis=1, keepdims=True))
    if method in ("pearson", "corr_cov"):
        return (v - v.mean(1, keepdims=True)) / v.std(1, keepdims=True)
    return _rank_rows(v)
