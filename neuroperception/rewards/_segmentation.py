"""Unsupervised task steps: the segmentation of each video that minimises within-step feature variance."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import describe
from ..errors import InputError, ShapeError

__all__ = ["discover_steps", "segment_features"]


def _check_n_stages(n_stages: Any, t: int, min_length: int) -> int:
    if isinstance(n_stages, bool) or not isinstance(n_stages, (int, np.integer)) or n_stages < 2:
        raise InputError(f"n_stages: received {n_stages!r}; expected an integer >= 2")
    if int(n_stages) * min_length > t:
        raise InputError(f"n_stages: received {n_stages} for demonstrations of {t} frames (min_length={min_length}); "
                         f"expected at most {t // min_length} steps: the demonstrations are shorter than the number "
                         "of steps")
    return int(n_stages)


def _check_min_length(min_length: Any) -> None:
    if isinstance(min_length, bool) or not isinstance(min_length, (int, np.integer)) or min_length < 1:
        raise InputError(f"min_length: received {min_length!r}; expected a positive integer")


def _segment_costs(x: np.ndarray) -> np.ndarray:
    """``C[i, j]`` = summed squared deviation from the segment mean of frames ``i..j-1`` (``i < j``)."""
    t = x.shape[0]
    x = x - x.mean(0)  # the costs do not change; the prefix sums stay small (less cancellation)
    s1 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, 0)])
    s2 = np.concatenate([[0.0], np.cumsum((x ** 2).sum(1))])
    gram = s1 @ s1.T
    sq = np.diag(gram)
    length = np.arange(t + 1)[None, :] - np.arange(t + 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (s2[None, :] - s2[:, None]) - (sq[None, :] + sq[:, None] - 2 * gram) / length
    cost = np.maximum(cost, 0.0)  # rounding
    cost[length <= 0] = np.inf
    return cost


def _segment_one(x: np.ndarray, n_stages: int, min_length: int) -> tuple[np.ndarray, float]:
    """Exact dynamic programme (Bellman's k-segmentation) for one ``(T, F)`` feature sequence."""
    t = x.shape[0]
    cost = _segment_costs(x)
    length = np.arange(t + 1)[None, :] - np.arange(t + 1)[:, None]
    cost[length < min_length] = np.inf
    best = cost[0].copy()  # best[j]: frames 0..j-1 in one step
    back = np.zeros((n_stages, t + 1), dtype=np.int64)
    for k in range(1, n_stages):
        total = best[:, None] + cost  # (start i, end j)
        back[k] = np.argmin(total, axis=0)
        best = total[back[k], np.arange(t + 1)]
    starts, j = [], t
    for k in range(n_stages - 1, 0, -1):
        j = int(back[k, j])
        starts.append(j)
    return np.array(starts[::-1], dtype=np.int64), float(best[t])


def segment_features(features: Any, n_stages: int, min_length: int = 1, standardize: bool = True) -> np.ndarray:
    """Split feature sequences into ``n_stages`` contiguous steps of least within-step variance.

    For each sequence independently, the exact dynamic programme over all segmentations into
    ``n_stages`` contiguous steps returns the one that minimises the summed squared deviation of
    the features from their step means (the within-step variance times the step's length, summed
    over steps and features).

    Parameters
    ----------
    features : array-like
        ``(N, T, F)`` features of ``N`` sequences of ``T`` frames (``(T, F)`` for one sequence).
    n_stages : int
        Number of steps ``K >= 2``, shared by all sequences.
    min_length : int
        Fewest frames in a step.
    standardize : bool
        Standardise each feature over all frames of all sequences first (constant features are
        dropped), so that no feature dominates by its scale.

    Returns
    -------
    numpy.ndarray
        int ``(N, K - 1)``: the first frame of each step after the first, per sequence (``(K - 1,)``
        for one sequence).

    Examples
    --------
    >>> x = np.repeat([0.0, 3.0, 1.0], [4, 2, 6])[:, None]     # three constant pieces
    >>> segment_features(x, 3).tolist()
    [4, 6]
    """
    x = np.asarray(getattr(features, "values", features), dtype=np.float64)
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.ndim != 3 or min(x.shape) < 1:
        raise ShapeError(f"features: received {describe(np.asarray(features))}; expected (N sequences, T frames, "
                         "F features) or (T, F)")
    if not np.isfinite(x).all():
        raise InputError("features: received NaN or infinite values; expected finite features")
    _check_min_length(min_length)
    k = _check_n_stages(n_stages, x.shape[1], int(min_length))
    if standardize:
        flat = x.reshape(-1, x.shape[2])
        sd = flat.std(0)
        keep = sd > 1e-12
        x = (x[..., keep] - flat.mean(0)[keep]) / sd[keep]
    if x.shape[2] == 0:  # nothing varies: every segmentation is as good; equal splits
        starts = (np.arange(1, k) * x.shape[1]) // k
        out = np.tile(starts, (x.shape[0], 1))
    else:
        out = np.stack([_segment_one(seq, k, int(min_length))[0] for seq in x])
    return out[0] if single else out


_SIGNALS = ("frames", "motion", "both")


def _signal(feats: np.ndarray, signal: str) -> np.ndarray:
    """``(N, T, F)`` frame features → the sequence searched: the features, their motion, or both."""
    if signal == "frames":
        return feats
    motion = np.concatenate([np.diff(feats, axis=1), np.zeros_like(feats[:, :1])], axis=1)
    return motion if signal == "motion" else np.concatenate([feats, motion], axis=2)


def discover_steps(demos: Any, feature_fn: Any, n_stages: int, min_length: int = 1, standardize: bool = True,
                   signal: str = "frames") -> np.ndarray:
    """Discover the steps of demonstration videos without labels (Sermanet, Xu & Levine, 2016).

    Every frame is embedded with ``feature_fn``; each video is then split into ``n_stages``
    contiguous steps by the exact dynamic programme that minimises the summed within-step feature
    variance (each step's variance weighted by its length; see :func:`segment_features`). The
    boundaries are searched per video, with the number of steps shared by all videos (Sermanet et
    al. search jointly across videos; per video the steps may differ in length and timing).

    Parameters
    ----------
    demos : array-like
        Demonstration videos ``(N, T, 3, H, W)`` in ``[0, 1]`` (or ``uint8`` ``(N, T, H, W, 3)``).
    feature_fn : callable or tuple
        Images ``(B, 3, H, W)`` → features ``(B, F)``, or ``(model, layer[, pooling])`` as in
        :class:`DemonstrationReward`.
    n_stages : int
        Number of steps ``K >= 2``; at most the number of frames.
    min_length : int
        Fewest frames in a step.
    standardize : bool
        Standardise each feature over all demonstration frames before the search.
    signal : {"frames", "motion", "both"}
        What is segmented: the frame features (``"frames"``, as in Sermanet et al.), their motion
        ``f(t + 1) − f(t)`` (``"motion"``; zero after the last frame), or both side by side.
        Steps that are static poses suit ``"frames"``; steps in which something moves steadily
        (a ramp in the frame features, which the variance criterion cuts in the middle) suit
        ``"motion"``, whose within-step variance is small for constant velocities.

    Returns
    -------
    numpy.ndarray
        int ``(N, K - 1)``: the first frame of each step after the first, per video (the
        ``boundaries=`` of :class:`DemonstrationReward`).

    Examples
    --------
    >>> import torch
    >>> demos = torch.zeros(2, 9, 3, 8, 8)
    >>> demos[0, 3:, 0] = 1.0                              # video 0: red from frame 3,
    >>> demos[0, 7:, 1] = 1.0                              # then green too from frame 7
    >>> demos[1, 5:, 0] = 1.0                              # video 1: red from frame 5,
    >>> demos[1, 6:, 1] = 1.0                              # then green from frame 6
    >>> discover_steps(demos, lambda x: x.mean(dim=(2, 3)), n_stages=3).tolist()
    [[3, 7], [5, 6]]
    """
    from .demonstration import _embed, _feature_callable, _frames

    frames, n, t = _frames(demos)
    _check_min_length(min_length)
    _check_n_stages(n_stages, t, int(min_length))
    if signal not in _SIGNALS:
        raise InputError(f"signal: received {signal!r}; expected one of {_SIGNALS}")
    feats = _embed(_feature_callable(feature_fn), frames).reshape(n, t, -1)
    return segment_features(_signal(feats, signal), n_stages, min_length=min_length, standardize=standardize)
