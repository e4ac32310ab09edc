"""Cross-validated ridge as plain functions on arrays (no validation, no labels).

The maths, for one fold with training rows T and test rows S, features centred with the
training fold's means (``Xc``), targets likewise (``Yc``)::

    primal (p <= n):  Xc_T' Xc_T = V diag(lam) V'          (p x p eigendecomposition)
                      pred_S(alpha) = Xc_S V diag(1 / (lam + alpha)) V' Xc_T' Yc_T
    kernel (p > n):   Xc_T Xc_T' = U diag(lam) U'          (n_T x n_T eigendecomposition)
                      pred_S(alpha) = Xc_S Xc_T' U diag(1 / (lam + alpha)) U' Yc_T

Everything that does not depend on the targets is folded, per fold and alpha, into one small
matrix ``M`` (:func:`fold_matrix`), so that the held-out residual of a block of targets is one
matrix product, ``Y_S - M @ B``, followed by one in-place squared-error pass:

* primal: ``B = [X'Y - X_S'Y_S ; mean_T(Y)]`` — ``X_T'Y_T`` by downdating ``X'Y`` with the test
  rows' product (no copy of the training rows of Y, no SVD), the centring folded into the
  extra row of ``B`` and column of ``M``;
* kernel: ``B = Y`` itself, ``M`` being zero on the columns outside the training fold.

The alpha grid is searched coarse to fine (:func:`~neuroperception.encoding._search.select_alphas`): about five log-spaced alphas
for every target, then bisection towards each target's best one; a target whose evaluated
curve is not unimodal is evaluated on the full grid, so the choices equal the exhaustive ones
whenever the curve is unimodal between grid points. The final refit uses one eigendecomposition
of the full Gram (or kernel) matrix and each target's chosen alpha.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._progress import progress_bar
from ._backend import Backend
from ._search import select_alphas

__all__ = ["FoldPlan", "prepare_folds", "fold_matrix", "cv_scores_chunk",
           "refit_chunk", "solve_ridge_cv", "CV_SCORES"]

CV_SCORES = ("neg_mse", "r2")


@dataclass
class FoldPlan:
    """Everything about X, the folds and the alphas that the target chunks reuse."""

    backend: Backend
    form: str
    fit_intercept: bool
    alphas: np.ndarray                      # sorted ascending, float64
    n_samples: int
    x_mean: np.ndarray                      # (p,) float64 (zeros without intercept)
    X0: Any                                 # centred X, working dtype, (n, p)
    X0_test_t: list                         # primal: X0[test].T contiguous, per fold
    splits: list                            # [(train, test)] integer arrays
    partition: bool                         # test sets cover every sample exactly once
    factors: list                           # per fold: arrays used by fold_matrix
    train_mask: list                        # per fold: (n,) 0/1 weights of the training rows
    refit_vecs: Any                         # V (primal) or U (kernel) of the full data
    refit_inv: Any                          # (rank, n_alphas) 1 / (lam + alpha)
    cache_bytes: int
    _cache: dict = field(default_factory=dict)


def _inv(backend: Backend, lam: Any, alphas: np.ndarray) -> Any:
    """(rank, n_alphas) matrix 1 / (lam + alpha) in the working dtype."""
    lam64 = backend.to_numpy(lam).astype(np.float64)
    return backend.asarray(1.0 / (lam64[:, None] + alphas[None, :]))


def prepare_folds(X: np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]], alphas: np.ndarray,
                  backend: Backend, *, fit_intercept: bool = True, form: str = "primal",
                  cache_bytes: int = 2**30) -> FoldPlan:
    """Centre X, eigendecompose each fold's Gram (or kernel) matrix and the full one.

    Parameters
    ----------
    X : numpy.ndarray
        ``(n_samples, n_features)``.
    splits : sequence of (train, test)
        Integer index arrays.
    alphas : numpy.ndarray
        Positive, sorted ascending.
    backend : Backend
    fit_intercept : bool
    form : {"primal", "kernel"}
    cache_bytes : int
        Keep every fold/alpha matrix in memory when they fit in this many bytes, else rebuild them
        for every chunk of targets.

    Returns
    -------
    FoldPlan

    Examples
    --------
    >>> from neuroperception.encoding._backend import get_backend
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> plan = prepare_folds(X, [(np.arange(10, 20), np.arange(10)), (np.arange(10), np.arange(10, 20))],
    ...                      np.array([1.0, 10.0]), get_backend("numpy", dtype="float64"))
    >>> plan.form, plan.partition, fold_matrix(plan, 0, 1).shape
    ('primal', True, (10, 4))
    """
    b = backend
    n, p = X.shape
    X64 = np.asarray(X, dtype=np.float64)
    x_mean = X64.mean(0) if fit_intercept else np.zeros(p)
    X0_64 = b.asarray(X64 - x_mean, "float64")
    factors, tests_t, masks = [], [], []
    for train, test in splits:
        XT = b.take_rows(X0_64, train)
        mT = XT.mean(0) if fit_intercept else XT[0] * 0
        XcT = XT - mT
        XcS = b.take_rows(X0_64, test) - mT
        mask = np.zeros(n)
        mask[train] = 1.0
        masks.append(b.asarray(mask))
        if form == "primal":
            lam, V = b.eigh(XcT.T @ XcT)
            factors.append(dict(A=b.asarray(XcS @ V), V_t=b.asarray(V.T.copy() if b.name == "numpy" else V.T.contiguous()),
                                lam=lam, m=b.asarray(mT), n_train=len(train)))
            tests_t.append(b.asarray(b.take_rows(X0_64, test).T))
            if b.name == "numpy":
                tests_t[-1] = np.ascontiguousarray(tests_t[-1])
            else:
                tests_t[-1] = tests_t[-1].contiguous()
        else:
            lam, U = b.eigh(XcT @ XcT.T)
            factors.append(dict(A=b.asarray((XcS @ XcT.T) @ U), V_t=b.asarray(U.T), lam=lam,
                                train=train, n_train=len(train)))
    tests = np.concatenate([t for _, t in splits])
    partition = tests.size == n and np.array_equal(np.sort(tests), np.arange(n))
    if form == "primal":
        lam, vecs = b.eigh(X0_64.T @ X0_64)
    else:
        lam, vecs = b.eigh(X0_64 @ X0_64.T)
    return FoldPlan(b, form, fit_intercept, np.asarray(alphas, dtype=np.float64), n, x_mean,
                    b.asarray(X0_64), tests_t, [(np.asarray(tr), np.asarray(te)) for tr, te in splits],
                    partition, factors, masks, b.asarray(vecs), _inv(b, lam, np.asarray(alphas, np.float64)),
                    cache_bytes)


def _matrix_bytes(plan: FoldPlan) -> int:
    width = (plan.X0.shape[1] + 1) if plan.form == "primal" else plan.n_samples
    return 8 * len(plan.alphas) * sum(len(te) for _, te in plan.splits) * width


def fold_matrix(plan: FoldPlan, k: int, a: int) -> Any:
    """The matrix ``M`` of fold ``k`` and alpha ``a``: held-out residual = ``Y_S - M @ B``.

    Examples
    --------
    >>> from neuroperception.encoding._backend import get_backend
    >>> X = np.random.default_rng(0).normal(size=(8, 2))
    >>> plan = prepare_folds(X, [(np.arange(4, 8), np.arange(4))], np.array([1.0]),
    ...                      get_backend("numpy", dtype="float64"), form="kernel")
    >>> fold_matrix(plan, 0, 0).shape  # test rows x all samples
    (4, 8)
    """
    key = (k, a)
    if key in plan._cache:
        return plan._cache[key]
    b, f = plan.backend, plan.factors[k]
    d = b.asarray(1.0 / (b.to_numpy(f["lam"]).astype(np.float64) + plan.alphas[a]))
    H = b.matmul(f["A"] * d[None, :], f["V_t"])
    n_test = H.shape[0]
    if plan.form == "primal":
        if plan.fit_intercept:
            u = 1.0 - f["n_train"] * (H @ f["m"])
            M = b.empty((n_test, H.shape[1] + 1))
            M[:, :-1] = H
            M[:, -1] = u
        else:
            M = H
    else:
        if plan.fit_intercept:
            H = H + (1.0 - H.sum(1))[:, None] / f["n_train"]
        M = b.asarray(np.zeros((n_test, plan.n_samples)))
        M[:, b.asarray(f["train"], "int64") if b.name == "torch" else f["train"]] = H
    if _matrix_bytes(plan) <= plan.cache_bytes:
        plan._cache[key] = M
    return M


def _chunk_operands(plan: FoldPlan, Y0: Any) -> tuple[list, list, Any]:
    """Per fold ``B`` and the test rows of the chunk; ``X0'Y0`` for the refit (primal)."""
    b = plan.backend
    tests = [b.take_rows(Y0, te) for _, te in plan.splits]
    if plan.form == "kernel":
        return [Y0] * len(plan.splits), tests, None
    p, v = plan.X0.shape[1], Y0.shape[1]
    rows = p + 1 if plan.fit_intercept else p
    Bs = []
    for k in range(len(plan.splits)):
        B = b.empty((rows, v))
        b.matmul(plan.X0_test_t[k], tests[k], out=B[:p])
        Bs.append(B)
    if plan.partition:
        xty = Bs[0][:p].copy() if b.name == "numpy" else Bs[0][:p].clone()
        for B in Bs[1:]:
            xty += B[:p]
    else:
        xty = b.matmul(plan.X0.T, Y0)
    for k, B in enumerate(Bs):
        B[:p] *= -1
        B[:p] += xty
        if plan.fit_intercept:
            B[p] = (plan.train_mask[k] @ Y0) / plan.factors[k]["n_train"]
    return Bs, tests, xty


def cv_scores_chunk(plan: FoldPlan, Y0: Any, *, score: str = "neg_mse",
                    exhaustive: bool = False) -> tuple[np.ndarray, Any]:
    """Mean-over-folds CV scores ``(n_alphas, n_targets)`` of one chunk of centred targets.

    Entries the coarse-to-fine search did not need are ``-inf``. Also returns ``X0'Y0`` (primal
    form; ``None`` for the kernel form), which the refit reuses.

    Examples
    --------
    >>> from neuroperception.encoding._backend import get_backend
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    >>> plan = prepare_folds(X, [(np.arange(15, 30), np.arange(15)), (np.arange(15), np.arange(15, 30))],
    ...                      np.array([0.1, 1.0, 10.0]), get_backend("numpy", dtype="float64"))
    >>> cv_scores_chunk(plan, Y - Y.mean(0))[0].shape
    (3, 2)
    """
    b = plan.backend
    Bs, tests, xty = _chunk_operands(plan, Y0)
    n_folds = len(plan.splits)
    sst = None
    if score == "r2":
        sst = []
        for Ys in tests:
            Yh = b.to_numpy(Ys).astype(np.float64)
            sst.append(((Yh - Yh.mean(0)) ** 2).sum(0))

    def evaluate(a: int, cols: np.ndarray | None) -> np.ndarray:
        total = 0.0
        for k in range(n_folds):
            M = fold_matrix(plan, k, a)
            B, Ys = (Bs[k], tests[k]) if cols is None else (b.take_columns(Bs[k], cols), b.take_columns(tests[k], cols))
            R = b.matmul(M, B)
            sse = b.to_numpy(b.sub_sq_colsum(R, Ys)).astype(np.float64)
            if score == "r2":
                tot = sst[k] if cols is None else sst[k][cols]
                with np.errstate(divide="ignore", invalid="ignore"):
                    fold = np.where(tot > 0, 1.0 - sse / np.where(tot > 0, tot, 1.0), np.where(sse > 0, 0.0, 1.0))
                total = total + fold
            else:
                total = total - sse / Ys.shape[0]
        return total / n_folds

    return select_alphas(evaluate, len(plan.alphas), Y0.shape[1], exhaustive=exhaustive), xty


def refit_chunk(plan: FoldPlan, Y0: Any, best: np.ndarray, xty: Any = None) -> np.ndarray:
    """Weights ``(n_features, n_targets)`` refit on all samples, each target with its alpha index.

    Examples
    --------
    >>> from neuroperception.encoding._backend import get_backend
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    >>> plan = prepare_folds(X, [(np.arange(15, 30), np.arange(15))], np.array([1.0]),
    ...                      get_backend("numpy", dtype="float64"))
    >>> Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    >>> ref = np.linalg.solve(Xc.T @ Xc + np.eye(3), Xc.T @ Yc)
    >>> bool(np.allclose(refit_chunk(plan, Yc, np.array([0, 0])), ref))
    True
    """
    b = plan.backend
    d = b.take_columns(plan.refit_inv, np.asarray(best))
    if plan.form == "primal":
        if xty is None:
            xty = b.matmul(plan.X0.T, Y0)
        Z = b.matmul(plan.refit_vecs.T, xty)
        Z *= d
        return b.to_numpy(b.matmul(plan.refit_vecs, Z))
    Z = b.matmul(plan.refit_vecs.T, Y0)
    Z *= d
    return b.to_numpy(b.matmul(plan.X0.T, b.matmul(plan.refit_vecs, Z)))


def _centred_chunk(backend: Backend, Y: Any, start: int, stop: int, fit_intercept: bool) -> tuple[Any, np.ndarray]:
    Y0 = backend.copy_columns(np.asarray(Y[:, start:stop]))
    y_mean = np.zeros(stop - start)
    if fit_intercept:
        mean = Y0.mean(0)
        Y0 -= mean[None, :]
        y_mean = backend.to_numpy(mean).astype(np.float64)
    return Y0, y_mean


def solve_ridge_cv(X: np.ndarray, Y: Any, alphas: np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]],
                   backend: Backend, *, fit_intercept: bool = True, form: str = "primal", score: str = "neg_mse",
                   exhaustive: bool = False, alpha_per_target: bool = True, voxel_chunk: int = 4096,
                   progress: bool | None = None) -> dict:
    """Cross-validated ridge over an alpha grid, one alpha per target, targets read in chunks.

    Parameters
    ----------
    X : numpy.ndarray
        ``(n_samples, n_features)``.
    Y : array-like
        ``(n_samples, n_targets)``, anything whose ``Y[:, start:stop]`` returns an array (numpy,
        zarr, h5py, a lazy reader): only one chunk of columns is in memory at a time.
    alphas : numpy.ndarray
        Positive values, any order.
    splits : sequence of (train, test)
    backend : Backend
    fit_intercept : bool
    form : {"primal", "kernel"}
    score : {"neg_mse", "r2"}
        Mean over folds of this score selects the alpha.
    exhaustive : bool
        Evaluate the whole grid for every target.
    alpha_per_target : bool
        One alpha per target; ``False``: the alpha with the best score averaged over targets
        (the whole grid is evaluated and Y is read twice).
    voxel_chunk : int
        Targets per chunk.
    progress : bool or None
        Show a progress bar over chunks (None: the package's rule, see ``neuroperception.set_progress``).

    Returns
    -------
    dict
        ``best_alphas`` (n_targets,), ``best_index`` (into ``alphas``), ``cv_scores``
        (n_alphas, n_targets; NaN where not evaluated), ``coef`` (n_targets, n_features),
        ``intercept`` (n_targets,), ``n_alpha_evaluations`` (alpha-target pairs evaluated).

    Examples
    --------
    >>> from neuroperception.encoding._backend import get_backend
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); Y = X @ rng.normal(size=(3, 2))
    >>> out = solve_ridge_cv(X, Y, np.array([1e-3, 1e3]), [(np.arange(20, 40), np.arange(20)),
    ...                      (np.arange(20), np.arange(20, 40))], get_backend("numpy", dtype="float64"))
    >>> out["best_alphas"].tolist()
    [0.001, 0.001]
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    order = np.argsort(alphas, kind="stable")
    plan = prepare_folds(X, splits, alphas[order], backend, fit_intercept=fit_intercept, form=form)
    n_targets = Y.shape[1]
    dtype = np.dtype(backend.dtype)
    coef = np.empty((n_targets, X.shape[1]), dtype=dtype)
    intercept = np.zeros(n_targets, dtype=dtype)
    cv_scores = np.full((len(alphas), n_targets), np.nan)
    best_sorted = np.empty(n_targets, dtype=np.int64)
    step = max(1, int(voxel_chunk))
    starts = list(range(0, n_targets, step))

    def bar(items, desc):
        return progress_bar(items, progress, desc=desc, unit="chunk")

    def refit(start, stop, Y0, y_mean, best, xty):
        W = refit_chunk(plan, Y0, best, xty)
        coef[start:stop] = W.T
        if fit_intercept:
            intercept[start:stop] = y_mean - plan.x_mean @ W.astype(np.float64)

    for start in bar(starts, "ridge CV (voxel chunks)"):
        stop = min(start + step, n_targets)
        Y0, y_mean = _centred_chunk(backend, Y, start, stop, fit_intercept)
        scores, xty = cv_scores_chunk(plan, Y0, score=score, exhaustive=exhaustive or not alpha_per_target)
        best_sorted[start:stop] = scores.argmax(0)
        cv_scores[order, start:stop] = np.where(np.isneginf(scores), np.nan, scores)
        if alpha_per_target:
            refit(start, stop, Y0, y_mean, best_sorted[start:stop], xty)
    if not alpha_per_target:
        best_sorted[:] = int(np.argmax(cv_scores[order].mean(1)))
        for start in bar(starts, "ridge refit (voxel chunks)"):
            stop = min(start + step, n_targets)
            Y0, y_mean = _centred_chunk(backend, Y, start, stop, fit_intercept)
            refit(start, stop, Y0, y_mean, best_sorted[start:stop], None)
    best_index = order[best_sorted]
    return dict(best_alphas=alphas[best_index], best_index=best_index, cv_scores=cv_scores, coef=coef,
                intercept=intercept, n_alpha_evaluations=int(np.isfinite(cv_scores).sum()))
