"""Coarse-to-fine search of each target's best alpha on a sorted, log-spaced grid.

About five alphas are evaluated for every target, then bisection narrows each target's bracket
around its best alpha until both neighbours of the best are evaluated. For a unimodal CV curve
the result is the exhaustive argmax; a target whose evaluated points are not unimodal is
evaluated on the whole grid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["select_alphas"]


def _unimodal(scores: np.ndarray, done: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Per target: evaluated scores rise strictly up to ``best`` and never rise after it."""
    n_alphas, nv = scores.shape
    last = np.full(nv, np.nan)
    ok = np.ones(nv, dtype=bool)
    for a in range(n_alphas):
        ev = done[a]
        seen = ev & ~np.isnan(last)
        s = scores[a]
        ok &= ~(seen & (a <= best) & ~(s > last))
        ok &= ~(seen & (a > best) & (s > last))
        last = np.where(ev, s, last)
    return ok


def select_alphas(evaluate: Callable[[int, np.ndarray | None], np.ndarray], n_alphas: int, n_targets: int, *,
                  exhaustive: bool = False) -> np.ndarray:
    """Coarse-to-fine search of each target's best alpha index on a sorted grid.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(a, cols)`` returns the CV score of alpha index ``a`` for the targets ``cols``
        (``None``: all targets).
    n_alphas, n_targets : int
    exhaustive : bool
        Evaluate every alpha for every target.

    Returns
    -------
    numpy.ndarray
        ``(n_alphas, n_targets)`` scores, ``-inf`` where not evaluated. The argmax over alphas
        equals the exhaustive argmax for every target whose curve is unimodal.

    Examples
    --------
    >>> curve = -(np.arange(17)[:, None] - np.array([3, 11])) ** 2.0  # peaks at 3 and 11
    >>> calls = []
    >>> def evaluate(a, cols):
    ...     calls.append(a)
    ...     return curve[a] if cols is None else curve[a, cols]
    >>> select_alphas(evaluate, 17, 2).argmax(0).tolist(), len(set(calls)) < 17
    ([3, 11], True)
    """
    scores = np.full((n_alphas, n_targets), -np.inf)
    done = np.zeros((n_alphas, n_targets), dtype=bool)
    if exhaustive or n_alphas <= 4:
        for a in range(n_alphas):
            scores[a] = evaluate(a, None)
        return scores
    stride = 2 ** max(0, int(np.floor(np.log2((n_alphas - 1) / 4))))
    for a in sorted(set(range(0, n_alphas, stride)) | {n_alphas - 1}):
        scores[a] = evaluate(a, None)
        done[a] = True
    idx = np.arange(n_alphas)[:, None]
    while True:
        best = scores.argmax(0)
        left = np.where(done & (idx < best), idx, -1).max(0)
        right = np.where(done & (idx > best), idx, n_alphas).min(0)
        need = np.zeros_like(done)
        cols = np.arange(n_targets)
        go_left = (left >= 0) & (best - left > 1)
        go_right = (right < n_alphas) & (right - best > 1)
        need[((left + best) // 2)[go_left], cols[go_left]] = True
        need[((right + best) // 2)[go_right], cols[go_right]] = True
        need &= ~done
        if not need.any():
            break
        _evaluate_needed(evaluate, need, scores, done)
    best = scores.argmax(0)
    bad = ~_unimodal(scores, done, best)
    if bad.any():
        _evaluate_needed(evaluate, ~done & bad[None, :], scores, done)
    return scores


def _evaluate_needed(evaluate, need: np.ndarray, scores: np.ndarray, done: np.ndarray) -> None:
    n_targets = need.shape[1]
    for a in np.flatnonzero(need.any(1)):
        cols = np.flatnonzero(need[a])
        scores[a, cols] = evaluate(int(a), None if cols.size == n_targets else cols)
        done[a, cols] = True
