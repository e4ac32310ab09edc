"""Retrieval and identification: how well decoded embeddings pick out the stimuli that were seen.

``similarity_matrix(pred, target)`` holds ``sim(pred_i, target_j)``. Retrieval counts, for each
decoded embedding, whether its own stimulus is among the ``k`` most similar candidates
(``"brain_to_image"``), and for each stimulus embedding whether its own decoded embedding is among
the ``k`` most similar decoded ones (``"image_to_brain"``); with ``n_way=m`` the candidates are random subsets of
``m`` stimuli, as the fMRI decoding papers (e.g. MindEye's 300-way retrieval) report it. 2-way
identification is the fraction of other stimuli a decoded embedding is closer to its own
stimulus than to. Ties always count against the decoder.
"""

from __future__ import annotations

import math
import numbers
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._docs import fill_doc
from .._validation import check_random_state, describe
from ..errors import InputError, ShapeError
from ._inputs import align_pair, as_matrix

__all__ = ["similarity_matrix", "retrieval_accuracy", "two_way_identification", "DIRECTIONS", "METRICS"]

METRICS = ("cosine", "correlation", "euclidean")
#: Retrieval directions, the index labels of :func:`retrieval_accuracy`'s table.
DIRECTIONS = ("brain_to_image", "image_to_brain")


def _unit_rows(values: np.ndarray, name: str, centre: bool) -> np.ndarray:
    x = values.astype(np.float64)
    if centre:
        x = x - x.mean(1, keepdims=True)
    norm = np.linalg.norm(x, axis=1)
    scale = np.abs(values).max(1) if values.size else norm
    zero = norm <= 1e-12 * np.maximum(scale, 1e-300)
    if zero.any():
        what = "constant rows (zero variance)" if centre else "zero-norm rows"
        raise InputError(f"{name}: received {int(zero.sum())} {what} (first: {np.flatnonzero(zero)[:5].tolist()}); "
                         f"expected rows with a direction for the {'correlation' if centre else 'cosine'} metric "
                         "(use metric='euclidean' or drop them)")
    return x / norm[:, None]


def _similarity(a: np.ndarray, b: np.ndarray, metric: str, names=("pred", "target")) -> np.ndarray:
    if metric not in METRICS:
        raise InputError(f"metric: received {metric!r}; expected one of {list(METRICS)}")
    if a.shape[1] != b.shape[1]:
        raise ShapeError(f"{names[1]}: received {b.shape[1]} features while {names[0]} has {a.shape[1]}; expected "
                         "embeddings of the same size")
    if metric == "euclidean":
        a, b = a.astype(np.float64), b.astype(np.float64)
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        return -np.sqrt(np.maximum(sq, 0.0))
    centre = metric == "correlation"
    return _unit_rows(a, names[0], centre) @ _unit_rows(b, names[1], centre).T


def similarity_matrix(pred: Any, target: Any, metric: str = "cosine") -> np.ndarray | xr.DataArray:
    """Similarity of every predicted embedding to every target embedding.

    Parameters
    ----------
    pred, target : numpy.ndarray, torch.Tensor or xarray.DataArray
        ``(n_pred, d)`` and ``(n_target, d)`` embeddings (DataArrays ``("stimulus", ...)``, flattened).
        Rows are not aligned: every pair is compared.
    metric : {"cosine", "correlation", "euclidean"}
        Cosine similarity, Pearson correlation between the two vectors, or negative Euclidean
        distance (higher is always more similar).

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        ``(n_pred, n_target)``, float64; a DataArray ``("stimulus", "candidate")`` (with
        ``stimulus_id`` and ``candidate_id`` where the inputs carry ids) when either input is one.

    Raises
    ------
    InputError
        NaN/Inf rows, an unknown metric, zero-norm rows (cosine) or constant rows (correlation).
    ShapeError
        Different embedding sizes.

    Examples
    --------
    >>> similarity_matrix(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 3.0]])).round(3).tolist()
    [[1.0, 0.0], [0.707, 0.707]]
    """
    a, la = as_matrix(pred, name="pred")
    b, lb = as_matrix(target, name="target")
    sim = _similarity(a, b, metric)
    if la is None and lb is None:
        return sim
    coords = {}
    if la is not None and "stimulus_id" in la.coords:
        coords["stimulus_id"] = ("stimulus", np.asarray(la["stimulus_id"].values))
    if lb is not None and "stimulus_id" in lb.coords:
        coords["candidate_id"] = ("candidate", np.asarray(lb["stimulus_id"].values))
    return xr.DataArray(sim, dims=("stimulus", "candidate"), coords=coords, name=f"{metric} similarity",
                        attrs={"metric": metric})


def _aligned(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    a = as_matrix(pred, name="pred")
    b = as_matrix(target, name="target")
    va, vb, _, _, _ = align_pair(a, b, ("pred", "target"))
    return va, vb


def _ranks_above(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row (brain→image) and column (image→brain): how many others score >= the true pair."""
    diag = np.diagonal(sim)
    # ">=" counts the true pair itself once (hence the - 1) and every distractor that ties with it
    row = (sim >= diag[:, None]).sum(1) - 1
    col = (sim >= diag[None, :]).sum(0) - 1
    return row, col


def _check_k(k: Any, n_candidates: int) -> list[int]:
    ks = [k] if isinstance(k, numbers.Integral) and not isinstance(k, bool) else list(k) if isinstance(
        k, (list, tuple, np.ndarray)) else None
    if not ks or any(not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1 for v in ks):
        raise InputError(f"k: received {k!r}; expected a positive int or a tuple of positive ints")
    ks = [int(v) for v in ks]
    if max(ks) > n_candidates:
        raise InputError(f"k: received {max(ks)}; expected at most the number of candidates ({n_candidates})")
    if len(set(ks)) != len(ks):
        raise InputError(f"k: received duplicated values {ks}; expected distinct values")
    return ks


def _subsets(n: int, m: int, n_repeats: int, random_state: int | np.random.Generator | None) -> np.ndarray:
    """All ``m``-subsets when there are at most ``n_repeats`` of them, else ``n_repeats`` random ones."""
    if m == n:
        return np.arange(n)[None]
    if math.comb(n, m) <= n_repeats:
        return np.array(list(combinations(range(n), m)))
    rng = check_random_state(random_state)
    return np.stack([np.sort(rng.choice(n, size=m, replace=False)) for _ in range(n_repeats)])


@fill_doc
def retrieval_accuracy(pred: Any, target: Any, k: Any = (1, 5), n_way: int | None = None, direction: str = "both",
                       metric: str = "cosine", n_repeats: int = 30,
                       random_state: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """Top-k retrieval accuracy of decoded embeddings among candidate stimuli, in both directions.

    ``brain_to_image``: for each decoded embedding ``pred_i``, is ``target_i`` among the ``k`` targets
    most similar to it? ``image_to_brain``: for each ``target_j``, is ``pred_j`` among the ``k`` decoded
    embeddings most similar to it? A candidate that scores exactly as high as the true one counts
    as ranked above it (ties are misses: the same prediction for every stimulus scores 0
    image→brain, not chance).

    Parameters
    ----------
    pred, target : numpy.ndarray, torch.Tensor or xarray.DataArray
        ``(n, d)`` decoded and true embeddings of the same ``n`` stimuli; DataArrays
        ``("stimulus", ...)`` are flattened. Matched by ``stimulus_id`` when both carry ids, by
        position when neither does; ids on one of them only are an error.
    k : int or tuple of int
        Ranks to report (each at most the number of candidates).
    n_way : int, optional
        Candidates per evaluation. None: all ``n`` stimuli. ``m``: ``n_repeats`` random subsets of
        ``m`` stimuli are drawn (all subsets when there are at most ``n_repeats`` of them), every
        stimulus of a subset is retrieved among that subset only, and the accuracies are averaged
        (as in MindEye's "300-way" retrieval). ``2 <= m <= n``.
    direction : {"both", "brain_to_image", "image_to_brain"}
        Which direction(s) to score.
    metric : {"cosine", "correlation", "euclidean"}
        See :func:`similarity_matrix`.
    n_repeats : int
        Random subsets drawn with ``n_way``.
    %(random_state)s
        It draws the subsets.

    Returns
    -------
    pandas.DataFrame
        One row per direction (index ``direction``: ``"brain_to_image"``, ``"image_to_brain"``), columns ``top-k`` (accuracy in [0, 1]) and
        ``chance-k`` (``k / m``, with ``m`` candidates) for each ``k``. ``attrs`` hold
        ``n_candidates``, ``n_stimuli``, ``metric`` and ``n_subsets``.

    Raises
    ------
    InputError
        NaN rows, bad ``k``/``n_way``/``direction``/``metric``, zero-norm rows (cosine).
    AlignmentError
        Different numbers of stimuli, different stimulus ids, or ids on one input only.

    Examples
    --------
    >>> target = np.eye(3)
    >>> pred = np.array([[1.0, 0.1, 0.0], [0.0, 0.2, 1.0], [0.0, 0.0, 1.0]])
    >>> table = retrieval_accuracy(pred, target, k=(1, 2))
    >>> table["top-1"].round(3).to_dict()  # pred 1 is nearer target 2, but target 1's nearest is pred 1
    {'brain_to_image': 0.667, 'image_to_brain': 1.0}
    >>> table.loc["brain_to_image", ["top-2", "chance-1", "chance-2"]].round(3).tolist()
    [1.0, 0.333, 0.667]
    """
    a, b = _aligned(pred, target)
    n = a.shape[0]
    directions = list(DIRECTIONS) if direction == "both" else [direction] \
        if isinstance(direction, str) and direction in DIRECTIONS else None
    if directions is None:
        raise InputError(f"direction: received {direction!r}; expected 'both', 'brain_to_image' or 'image_to_brain'")
    if n < 2:
        raise InputError(f"pred: received {n} stimulus; expected at least 2 for retrieval")
    if n_way is None:
        m = n
    elif not isinstance(n_way, numbers.Integral) or isinstance(n_way, bool) or not 2 <= n_way <= n:
        raise InputError(f"n_way: received {n_way!r}; expected an int between 2 and the number of stimuli ({n})")
    else:
        m = int(n_way)
    if not isinstance(n_repeats, numbers.Integral) or isinstance(n_repeats, bool) or n_repeats < 1:
        raise InputError(f"n_repeats: received {n_repeats!r}; expected a positive int")
    ks = _check_k(k, m)
    sim = _similarity(a, b, metric)
    subsets = _subsets(n, m, int(n_repeats), random_state)
    hits = {d: np.zeros(len(ks)) for d in directions}
    for idx in subsets:
        row, col = _ranks_above(sim[np.ix_(idx, idx)])
        for d in directions:
            ranks = row if d == "brain_to_image" else col
            hits[d] += [(ranks < kk).mean() for kk in ks]
    table = pd.DataFrame({f"top-{kk}": [hits[d][i] / len(subsets) for d in directions] for i, kk in enumerate(ks)},
                         index=pd.Index(directions, name="direction"))
    for kk in ks:
        table[f"chance-{kk}"] = kk / m
    table.attrs.update(n_candidates=m, n_stimuli=n, metric=metric, n_subsets=len(subsets))
    return table


def two_way_identification(pred: Any, target: Any, metric: str = "correlation",
                           per_stimulus: bool = False) -> float | np.ndarray:
    """2-way identification: how often a decoded embedding is closer to its stimulus than to another.

    For each ``i``, the fraction of ``j != i`` with ``sim(pred_i, target_i) > sim(pred_i, target_j)``
    (a tie counts as a failure); the score is the mean over ``i``. Chance is 0.5.

    Parameters
    ----------
    pred, target : numpy.ndarray, torch.Tensor or xarray.DataArray
        ``(n, d)`` decoded and true embeddings, matched as in :func:`retrieval_accuracy`.
    metric : {"correlation", "cosine", "euclidean"}
    per_stimulus : bool
        Return the ``(n,)`` per-stimulus fractions instead of their mean.

    Returns
    -------
    float or numpy.ndarray

    Raises
    ------
    InputError
        Fewer than 2 stimuli, NaN rows, unknown metric, constant rows (correlation).
    AlignmentError
        Different numbers of stimuli or stimulus ids, or ids on one input only.

    Examples
    --------
    >>> target = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> pred = np.array([[1.0, 0.2, 0.0], [1.0, 0.0, 0.2], [0.0, 0.1, 1.0]])
    >>> two_way_identification(pred, target, metric="cosine", per_stimulus=True).tolist()
    [1.0, 0.0, 1.0]
    """
    a, b = _aligned(pred, target)
    n = a.shape[0]
    if n < 2:
        raise InputError(f"pred: received {describe(a)}; expected at least 2 stimuli for 2-way identification")
    sim = _similarity(a, b, metric)
    diag = np.diagonal(sim)
    wins = (diag[:, None] > sim).sum(1) / (n - 1)  # the diagonal never beats itself
    return wins if per_stimulus else float(wins.mean())
