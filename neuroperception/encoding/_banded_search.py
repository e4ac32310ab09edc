"""Band-weight search of banded ridge: plain functions on arrays behind :class:`BandedRidgeCV`.

Candidate band weights ``gamma`` on the simplex (the uniform point and Dirichlet samples, then
points around each voxel's best), each evaluated with the cross-validated ridge solver of
:mod:`neuroperception.encoding._solvers` on the features scaled band by band by ``sqrt(gamma)``;
each voxel keeps the candidate (and alpha) with the best CV score. Every choice is made per voxel,
so fitting the voxels in blocks gives the same answer as one fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._docs import fill_doc
from .._progress import progress_bar
from .._validation import check_random_state, seed_from
from ..errors import InputError
from ._backend import Backend, get_backend  # noqa: F401  (get_backend: used by the doctest)
from ._solvers import _centred_chunk, cv_scores_chunk, prepare_folds, refit_chunk

__all__ = ["dirichlet_candidates", "solve_banded_ridge_cv"]


@fill_doc
def dirichlet_candidates(n_iter: int, n_bands: int, concentration: Any = (0.1, 1.0),
                         random_state: int | np.random.Generator | None = 0) -> np.ndarray:
    """Candidate band weights on the simplex: the uniform point, then Dirichlet samples.

    Parameters
    ----------
    n_iter : int
        Number of candidates (the first is ``1 / n_bands`` for every band).
    n_bands : int
    concentration : float or sequence of float
        Dirichlet concentration; a sequence is cycled through (small values favour corners of the
        simplex, 1 is uniform, ``inf`` the centre), as in himalaya.
    %(random_state)s

    Returns
    -------
    numpy.ndarray
        ``(n_iter, n_bands)``, rows summing to 1.

    Examples
    --------
    >>> c = dirichlet_candidates(4, 3, random_state=0)
    >>> c.shape, c[0].round(3).tolist(), bool(np.allclose(c.sum(1), 1))
    ((4, 3), [0.333, 0.333, 0.333], True)
    """
    conc = np.atleast_1d(np.asarray(concentration, dtype=np.float64))
    if conc.ndim != 1 or conc.size == 0 or np.isnan(conc).any() or (conc <= 0).any():
        raise InputError(f"concentration: received {concentration!r}; expected positive numbers (inf allowed)")
    rng = check_random_state(random_state)
    out = np.empty((int(n_iter), int(n_bands)))
    for k in range(int(n_iter)):
        c = conc[k % conc.size]
        out[k] = 1.0 / n_bands if np.isinf(c) else rng.dirichlet(np.full(n_bands, c))
    out[0] = 1.0 / n_bands
    return out


def _refine_points(centre: np.ndarray, n_points: int, scale: float, seed: tuple[int, ...]) -> np.ndarray:
    """Points around ``centre`` on the simplex: each weight times ``exp(scale * z)``, renormalised."""
    rng = np.random.default_rng(list(seed))
    pts = centre[None, :] * np.exp(scale * rng.standard_normal((n_points, centre.size)))
    return pts / pts.sum(1, keepdims=True)


def _plan(X: np.ndarray, slices: Sequence[slice], gamma: np.ndarray, alphas: np.ndarray, splits, backend: Backend,
          fit_intercept: bool, form: str):
    """Fold plan of the features scaled band by band by ``sqrt(gamma)``."""
    scale = np.empty(X.shape[1])
    for s, g in zip(slices, gamma):
        scale[s] = np.sqrt(g)
    plan = prepare_folds(np.asarray(X, dtype=np.float64) * scale, splits, alphas, backend,
                         fit_intercept=fit_intercept, form=form)
    return plan, scale


class _State:
    """Per-voxel best candidate so far, its alpha, weights and intercept."""

    def __init__(self, n_targets: int, n_features: int, n_random: int, dtype: np.dtype):
        self.score = np.full(n_targets, -np.inf)
        self.cand = np.zeros(n_targets, dtype=np.int64)
        self.gamma: np.ndarray | None = None
        self.alpha = np.ones(n_targets)
        self.coef = np.zeros((n_targets, n_features), dtype=dtype)
        self.intercept = np.zeros(n_targets, dtype=dtype)
        self.cv_scores = np.full((n_random, n_targets), np.nan)
        self.eps = float(np.finfo(dtype).eps)


def _evaluate(state: _State, plan, scale: np.ndarray, gamma: np.ndarray, Y, chunks, columns, alphas: np.ndarray,
              opts: dict, row: int | None, cand: int) -> None:
    """Evaluate one candidate on some voxels of each chunk and keep the voxels it improves."""
    b = plan.backend
    for (start, stop), cols in zip(chunks, columns):
        if cols is not None and cols.size == 0:
            continue
        Y0, y_mean = _centred_chunk(b, Y, start, stop, opts["fit_intercept"])
        idx = np.arange(start, stop)
        if cols is not None:
            Y0, y_mean, idx = b.take_columns(Y0, cols), y_mean[cols], idx[cols]
        scores, xty = cv_scores_chunk(plan, Y0, score=opts["score"], exhaustive=opts["exhaustive"])
        best_a = scores.argmax(0)
        best = scores[best_a, np.arange(idx.size)]
        if row is not None:
            state.cv_scores[row, idx] = best
        better = np.flatnonzero(best > state.score[idx] + state.eps)
        if better.size == 0:
            continue
        W = refit_chunk(plan, b.take_columns(Y0, better), best_a[better],
                        None if xty is None else b.take_columns(xty, better))
        v = idx[better]
        state.score[v], state.cand[v], state.alpha[v] = best[better], cand, alphas[best_a[better]]
        state.gamma[:, v] = gamma[:, None]
        state.coef[v] = (W * scale[:, None]).T
        if opts["fit_intercept"]:
            state.intercept[v] = y_mean[better] - plan.x_mean @ W.astype(np.float64)


def solve_banded_ridge_cv(X: np.ndarray, Y: Any, slices: Sequence[slice], candidates: np.ndarray, alphas: np.ndarray,
                          splits, backend: Backend, *, n_refine: int = 0, refine_scale: float = 1.0,
                          random_state: int | np.random.Generator | None = 0, fit_intercept: bool = True,
                          form: str = "primal",
                          score: str = "neg_mse", exhaustive: bool = False, voxel_chunk: int = 4096,
                          progress: bool | None = None) -> dict:
    """Random search of band weights, each candidate solved by the cross-validated ridge solver.

    Phase 1 evaluates every row of ``candidates`` on every voxel; phase 2 draws ``n_refine`` points
    around each voxel's best phase-1 candidate (seeded by the candidate's index, so the points do
    not depend on which voxels are fitted together) and evaluates them on the voxels that chose it.

    Returns
    -------
    dict
        ``gamma`` (bands, targets), ``alpha`` (targets,), ``coef`` (targets, features), ``intercept``,
        ``cv_scores`` (n_candidates, targets) of phase 1, ``best_score`` (targets,), ``candidate``
        (targets,): index of the best phase-1 candidate, or ``-1`` when a refined point won.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)); Y = X[:, :2] @ rng.normal(size=(2, 3))
    >>> out = solve_banded_ridge_cv(X, Y, [slice(0, 2), slice(2, 4)], dirichlet_candidates(5, 2),
    ...                             np.logspace(-3, 3, 7), [(np.arange(30, 60), np.arange(30)),
    ...                             (np.arange(30), np.arange(30, 60))], get_backend("numpy", dtype="float64"))
    >>> bool((out["gamma"][0] > 0.5).all())  # the band that carries the signal gets the weight
    True
    """
    seed = seed_from(random_state)
    alphas = np.sort(np.asarray(alphas, dtype=np.float64))
    n_targets = Y.shape[1]
    state = _State(n_targets, X.shape[1], len(candidates), np.dtype(backend.dtype))
    state.gamma = np.empty((len(slices), n_targets))
    step = max(1, int(voxel_chunk))
    chunks = [(a, min(a + step, n_targets)) for a in range(0, n_targets, step)]
    opts = dict(fit_intercept=fit_intercept, score=score, exhaustive=exhaustive)

    def bar(items, desc):
        return progress_bar(items, progress, desc=desc, unit="candidate")

    for k in bar(range(len(candidates)), "banded ridge: random search"):
        plan, scale = _plan(X, slices, candidates[k], alphas, splits, backend, fit_intercept, form)
        _evaluate(state, plan, scale, candidates[k], Y, chunks, [None] * len(chunks), alphas, opts, k, k)
    winners = state.cand.copy()
    if n_refine > 0 and len(slices) > 1:
        for c in bar(np.unique(winners).tolist(), "banded ridge: refinement"):
            columns = [np.flatnonzero(winners[a:b] == c) for a, b in chunks]
            for j, gamma in enumerate(_refine_points(candidates[c], n_refine, refine_scale,
                                                     (seed, 1, int(c)))):
                plan, scale = _plan(X, slices, gamma, alphas, splits, backend, fit_intercept, form)
                _evaluate(state, plan, scale, gamma, Y, chunks, columns, alphas, opts, None, -1)
    return dict(gamma=state.gamma, alpha=state.alpha, coef=state.coef, intercept=state.intercept,
                cv_scores=state.cv_scores, best_score=state.score, candidate=state.cand)
