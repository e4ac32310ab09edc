r"""Per-voxel significance of held-out encoding scores, and the false-discovery-rate correction across voxels.

:func:`score_pvalues` tests, voxel by voxel, whether the correlation between measured and predicted
held-out responses exceeds chance: analytically (the exact null distribution of Pearson's r for
independent normal samples, as :func:`scipy.stats.pearsonr`) or by permuting the test stimuli (the
same permutation for every voxel, so the voxels' dependence is kept). :func:`fdr_correct` applies the
Benjamini–Hochberg step-up procedure across voxels; its mask thresholds ROI summaries and brain maps
(``significant=`` in :func:`~neuroperception.encoding.summarize_scores` and
:mod:`neuroperception.plotting.brain`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import xarray as xr
from scipy import special

from .._docs import fill_doc
from .._progress import check_progress, progress_bar
from .._validation import check_random_state, describe
from ..errors import InputError, ShapeError
from .scoring import _label, _pair, _pearson

__all__ = ["score_pvalues", "fdr_correct", "FDRResult"]

_METHODS = ("analytic", "permutation")
_ALTERNATIVES = ("greater", "two-sided")
_BLOCK = 1 << 22  # numbers gathered per block of permutations (32 MiB of float64)


def _analytic(r: np.ndarray, n: int, alternative: str) -> np.ndarray:
    """p-values of Pearson r for ``n`` pairs: r is Beta(n/2 - 1, n/2 - 1) on [-1, 1] under the null."""
    a = n / 2.0 - 1.0
    with np.errstate(invalid="ignore"):
        if alternative == "greater":
            p = special.betaincc(a, a, (r + 1.0) / 2.0)
        else:
            p = np.minimum(2.0 * special.betaincc(a, a, (np.abs(r) + 1.0) / 2.0), 1.0)
    return np.where(np.isnan(r), np.nan, p)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns centred and scaled to unit norm; the mask of constant columns."""
    xc = x - x.mean(0)
    norm = np.sqrt((xc * xc).sum(0))
    flat = norm == 0
    return xc / np.where(flat, 1.0, norm), flat


def _permutation(t: np.ndarray, p: np.ndarray, n_permutations: int, alternative: str,
                 rng: np.random.Generator, progress: bool | None) -> np.ndarray:
    """``(1 + #{r_perm >= r}) / (1 + n_permutations)`` per voxel, the test stimuli permuted."""
    zt, flat_t = _standardise(t)
    zp, flat_p = _standardise(p)
    n, v = zt.shape
    observed = (zt * zp).sum(0)
    if alternative == "two-sided":
        observed = np.abs(observed)
    tol = 1e-12  # r values equal up to rounding count as ties (the identity permutation, tied responses)
    exceed = np.zeros(v, dtype=np.int64)
    block = max(1, _BLOCK // max(n * v, 1))
    with progress_bar(None, progress, total=n_permutations, desc="permutations", unit="permutation") as bar:
        for start in range(0, n_permutations, block):
            k = min(block, n_permutations - start)
            order = np.stack([rng.permutation(n) for _ in range(k)])
            null = np.einsum("knv,nv->kv", zt[order], zp)
            if alternative == "two-sided":
                null = np.abs(null)
            exceed += (null >= observed - tol).sum(0)
            bar.update(k)
    out = (1.0 + exceed) / (1.0 + n_permutations)
    return np.where(flat_t | flat_p, np.nan, out)


@fill_doc
def score_pvalues(y_true: Any, y_pred: Any, *, method: str = "analytic", alternative: str = "greater",
                  n_permutations: int = 1000, random_state: Any = 0, progress: bool | None = None) -> Any:
    r"""p-value per voxel of the Pearson correlation between measured and predicted held-out responses.

    * ``"analytic"``: the exact null distribution of r for :math:`n` independent normal pairs
      (:math:`(r + 1)/2 \sim \mathrm{Beta}(n/2 - 1, n/2 - 1)`, the t test with :math:`n - 2` degrees of
      freedom), the p-value of :func:`scipy.stats.pearsonr`.
    * ``"permutation"``: the rows (stimuli) of ``y_pred`` are permuted against ``y_true``
      ``n_permutations`` times, the same permutation for every voxel (the k-th is the k-th call of
      ``rng.permutation(n_stimuli)``, ``rng = numpy.random.default_rng(seed)`` for an int seed), and
      :math:`p = (1 + \#\{r_{perm} \ge r\}) / (1 + n_{permutations})`, never 0 (Phipson & Smyth, 2010). It
      assumes only exchangeable stimuli, not normal responses; its smallest value is
      :math:`1/(1 + n_{permutations})`, so correct across many voxels with enough permutations.

    Parameters
    ----------
    y_true, y_pred : array-like or xarray.DataArray
        ``(stimulus, voxel)`` held-out responses and predictions; DataArrays with ``stimulus_id`` are
        aligned by id.
    method : {"analytic", "permutation"}
    alternative : {"greater", "two-sided"}
        ``"greater"`` (default) tests for r above chance, the question an encoding model asks;
        ``"two-sided"`` for :math:`|r|`.
    n_permutations : int
        Permutations for ``"permutation"`` (computed in vectorised blocks).
    %(random_state)s
        It draws the permutations.
    %(progress)s
        The bar runs over the permutations.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        ``(voxel,)`` p-values in (0, 1]; NaN where either column is constant. Labelled with the voxel
        coordinates of ``y_true`` when it is a DataArray (name ``"pvalue"``, attrs ``method``,
        ``alternative``, ``n_permutations``).

    Raises
    ------
    InputError
        Unknown method or alternative, fewer than 3 stimuli, a bad ``n_permutations``.
    ShapeError
        Mismatched shapes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=(50, 2))
    >>> pred = np.c_[y[:, 0] + rng.normal(size=50), rng.normal(size=50)]   # voxel 0 predicted, voxel 1 not
    >>> p = score_pvalues(y, pred)
    >>> bool(p[0] < 1e-6), bool(p[1] > 0.05)
    (True, True)
    >>> perm = score_pvalues(y, pred, method="permutation", n_permutations=199, random_state=0)
    >>> float(perm[0])          # no permutation reaches the observed r: the smallest p, 1 / 200
    0.005
    """
    if method not in _METHODS:
        raise InputError(f"method: received {method!r}; expected one of {list(_METHODS)}")
    if alternative not in _ALTERNATIVES:
        raise InputError(f"alternative: received {alternative!r}; expected one of {list(_ALTERNATIVES)}")
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise InputError(f"n_permutations: received {n_permutations!r}; expected a positive integer")
    rng, progress = check_random_state(random_state), check_progress(progress)
    t, p, labelled = _pair(y_true, y_pred)
    if t.ndim != 2 or t.shape[0] < 3:
        raise InputError(f"y_true: received {describe(t)}; expected (stimulus, voxel) with at least 3 stimuli")
    if method == "analytic":
        out = _analytic(_pearson(t, p), t.shape[0], alternative)
    else:
        out = _permutation(t, p, int(n_permutations), alternative, rng, progress)
    result = _label(out, labelled, "pvalue")
    if isinstance(result, xr.DataArray):
        result.attrs.update(method=method, alternative=alternative,
                            n_permutations=int(n_permutations) if method == "permutation" else 0)
    return result


class FDRResult(NamedTuple):
    """Benjamini–Hochberg result: which tests are significant and the adjusted p-values.

    Unpacks like statsmodels' ``fdrcorrection``: ``significant, p_adjusted = fdr_correct(p)``.

    Examples
    --------
    >>> result = fdr_correct(np.array([0.01, 0.04, 0.5]), fdr=0.05)
    >>> result.significant.tolist(), result.p_adjusted.round(2).tolist()
    ([True, False, False], [0.03, 0.06, 0.5])
    """

    significant: Any
    p_adjusted: Any


def fdr_correct(pvalues: Any, *, fdr: float = 0.05) -> FDRResult:
    r"""Benjamini–Hochberg false-discovery-rate correction across voxels.

    With the :math:`m` finite p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`, the voxels of ranks
    :math:`1..k` are significant for the largest :math:`k` with :math:`p_{(k)} \le k\,\mathrm{fdr}/m`; the
    adjusted p-values are :math:`\min_{j \ge i} \min(1, m\,p_{(j)}/j)` (so ``significant`` is
    ``p_adjusted <= fdr``). Tied p-values get the same adjusted value. This is
    :func:`scipy.stats.false_discovery_control` (``method="bh"``) and statsmodels'
    ``fdrcorrection(method="indep")``; it controls the FDR for independent or positively dependent
    tests. NaN p-values (e.g. constant voxels) are left out of :math:`m` and are never significant.

    Parameters
    ----------
    pvalues : array-like or xarray.DataArray
        ``(voxel,)`` p-values in [0, 1] (e.g. from :func:`score_pvalues`), NaN allowed.
    fdr : float
        The false-discovery rate to control, in (0, 1).

    Returns
    -------
    FDRResult
        ``significant`` (bool) and ``p_adjusted`` (float, NaN where the input is NaN), each like the
        input: DataArrays keep its coordinates.

    Raises
    ------
    InputError
        p-values outside [0, 1], an ``fdr`` outside (0, 1).
    ShapeError
        Not one-dimensional.

    Examples
    --------
    >>> significant, p_adjusted = fdr_correct(np.array([0.001, 0.008, 0.039, 0.041, 0.6]), fdr=0.05)
    >>> significant.tolist(), p_adjusted.round(4).tolist()
    ([True, True, False, False, False], [0.005, 0.02, 0.0512, 0.0512, 0.6])
    """
    if isinstance(fdr, bool) or not isinstance(fdr, (int, float, np.floating)) or not 0 < fdr < 1:
        raise InputError(f"fdr: received {fdr!r}; expected a false-discovery rate in (0, 1), e.g. 0.05")
    values = np.asarray(pvalues.values if isinstance(pvalues, xr.DataArray) else pvalues, dtype=np.float64)
    if values.ndim != 1:
        raise ShapeError(f"pvalues: received {describe(values)}; expected one dimension (voxel,) "
                         "(select a layer first)")
    finite = ~np.isnan(values)
    if (values[finite] < 0).any() or (values[finite] > 1).any() or np.isinf(values).any():
        raise InputError(f"pvalues: received {describe(values)}; expected p-values in [0, 1] (NaN allowed)")
    idx = np.flatnonzero(finite)
    m = idx.size
    adjusted = np.full(values.shape, np.nan)
    significant = np.zeros(values.shape, dtype=bool)
    if m:
        order = idx[np.argsort(values[idx], kind="stable")]
        ranked = values[order]
        ranks = np.arange(1, m + 1)
        adjusted[order] = np.minimum(np.minimum.accumulate((ranked * m / ranks)[::-1])[::-1], 1.0)
        passed = np.flatnonzero(ranked <= ranks * (fdr / m))
        if passed.size:
            significant[order[: passed[-1] + 1]] = True
    if isinstance(pvalues, xr.DataArray):
        attrs = {"fdr": float(fdr), "method": "benjamini-hochberg"}
        return FDRResult(*(xr.DataArray(v, dims=pvalues.dims, coords=pvalues.coords, name=k, attrs=attrs)
                           for k, v in (("significant", significant), ("p_adjusted", adjusted))))
    return FDRResult(significant, adjusted)
