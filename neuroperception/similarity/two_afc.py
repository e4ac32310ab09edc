"""Agreement of a perceptual distance with human judgements: 2AFC score and JND mAP.

Both scores follow the LPIPS evaluation (Zhang et al., 2018):

* **2AFC** — for a triplet whose ``p1`` was chosen by a fraction ``judge`` of people, a metric
  that finds ``p0`` closer (``d0 < d1``) earns ``1 - judge``, one that finds ``p1`` closer earns
  ``judge``, a tie earns ``0.5``: the fraction of people who agree with the metric's choice.
* **JND mAP** — pairs sorted by increasing distance are "retrieved" as *same*; each pair counts
  as ``same`` true and ``1 - same`` false positives, and the score is the area under the
  precision–recall curve with the VOC precision envelope.

Any :class:`~neuroperception.similarity.Metric`, or any callable ``f(x, y) -> (N,)`` distances
on ``(N, 3, H, W)`` images in ``[0, 1]``, can be scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from .._docs import fill_doc
from .._validation import describe
from ..errors import InputError, ShapeError
from .base import Metric
from .datasets import JNDDataset, TwoAFCDataset

__all__ = ["TwoAFCResult", "JNDResult", "two_afc_score", "two_afc_agreement", "jnd_map_score",
           "jnd_average_precision"]


@dataclass
class TwoAFCResult:
    """Outcome of :func:`two_afc_score`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per subset: ``subset``, ``n``, ``score`` (mean agreement), ``sem`` (its standard
        error), ``human`` (mean of ``judge² + (1 - judge)²``: the chance that two people drawn
        from the item's raters agree, a ceiling for a metric that mimics one person) and
        ``oracle`` (mean of ``max(judge, 1 - judge)``: the best any metric can score).
    items : pandas.DataFrame
        One row per item: ``id``, ``subset``, ``d0``, ``d1``, ``judge``, ``score``.
    overall : float
        Mean agreement over all items (pooled across subsets).

    Examples
    --------
    Squared L2 always finds ``p0`` closer here, so each item scores ``1 - judge``:

    >>> import torch
    >>> ref = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> ds = TwoAFCDataset.from_arrays(ref, ref.clamp(0, 0.9), 1 - ref, judge=[0.1, 0.2, 0.3, 1.0],
    ...                                subsets=["a", "a", "a", "b"])
    >>> res = two_afc_score(lambda x, y: ((x - y) ** 2).flatten(1).sum(1), ds)
    >>> res.table["subset"].tolist(), res.table["score"].round(6).tolist()
    (['a', 'b'], [0.8, 0.0])
    >>> round(res.overall, 6), round(res.mean_of_subsets, 6)   # pooled vs. unweighted over subsets
    (0.6, 0.4)
    """

    table: pd.DataFrame
    items: pd.DataFrame
    overall: float

    @property
    def mean_of_subsets(self) -> float:
        """Unweighted mean of the per-subset scores (how LPIPS averages subsets)."""
        return float(self.table["score"].mean())

    def __str__(self) -> str:
        return f"2AFC score {self.overall:.4f} over {len(self.items)} items\n{self.table.to_string(index=False)}"


@dataclass
class JNDResult:
    """Outcome of :func:`jnd_map_score`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per subset: ``subset``, ``n``, ``map``.
    items : pandas.DataFrame
        One row per pair: ``id``, ``subset``, ``distance``, ``same``.
    overall : float
        mAP of all pairs ranked together.

    Examples
    --------
    The pairs people call the same are the closest ones, overall and in each subset:

    >>> import torch
    >>> x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> shift = torch.tensor([0.0, 0.1, 0.3, 0.6]).view(4, 1, 1, 1)
    >>> ds = JNDDataset.from_arrays(x, (x + shift).clamp(0, 1), same=[1.0, 1.0, 0.0, 0.0], subsets=["a", "b", "a", "b"])
    >>> res = jnd_map_score(lambda a, b: (a - b).abs().flatten(1).mean(1), ds)
    >>> res.overall, res.table["map"].tolist(), res.items.columns.tolist()
    (1.0, [1.0, 1.0], ['id', 'subset', 'distance', 'same'])
    """

    table: pd.DataFrame
    items: pd.DataFrame
    overall: float

    def __str__(self) -> str:
        return f"JND mAP {self.overall:.4f} over {len(self.items)} pairs\n{self.table.to_string(index=False)}"


def _as_distances(values: Any, n: int, what: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.size != n or (arr.ndim > 1 and arr.size != arr.shape[0]):
        raise ShapeError(f"{what}: received {describe(arr)} for {n} pairs; expected (N,) distances")
    arr = arr.reshape(-1)
    if not np.isfinite(arr).all():
        raise InputError(f"{what}: received {describe(arr)}; expected finite distances")
    return arr


def _check_metric(metric: Any) -> None:
    if not callable(metric):
        raise InputError(f"metric: received {type(metric).__name__}; expected a Metric or a callable "
                         "f(x, y) -> (N,) distances")


def two_afc_agreement(d0, d1, judge) -> np.ndarray:
    """Per-item agreement with people: ``1 - judge`` if ``d0 < d1``, ``judge`` if ``d0 > d1``, else 0.5.

    Parameters
    ----------
    d0, d1 : array-like
        ``(N,)`` distances from the reference to ``p0`` and to ``p1``.
    judge : array-like
        ``(N,)`` fraction of people who chose ``p1``.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` values in ``[0, 1]``.

    Examples
    --------
    >>> two_afc_agreement([0.1, 0.9, 0.5], [0.5, 0.2, 0.5], [0.2, 0.2, 0.2]).tolist()
    [0.8, 0.2, 0.5]
    """
    judge = np.asarray(judge, dtype=np.float64).reshape(-1)
    a, b = _as_distances(d0, judge.size, "d0"), _as_distances(d1, judge.size, "d1")
    if not np.isfinite(judge).all() or judge.min(initial=0) < 0 or judge.max(initial=1) > 1:
        raise InputError(f"judge: received {describe(judge)}; expected fractions in [0, 1]")
    return np.where(a < b, 1.0 - judge, np.where(a > b, judge, 0.5))


def _triplet_distances(metric, batch) -> tuple[np.ndarray, np.ndarray]:
    n = len(batch.ids)
    with torch.no_grad():
        if isinstance(metric, Metric):  # the reference is embedded once for both comparisons
            ref = metric.embed(metric.check(batch.ref, "ref"))
            d0 = metric.compare(ref, metric.embed(metric.check(batch.p0, "p0")))
            d1 = metric.compare(ref, metric.embed(metric.check(batch.p1, "p1")))
        else:
            d0, d1 = metric(batch.ref, batch.p0), metric(batch.ref, batch.p1)
    return _as_distances(d0, n, "metric(ref, p0)"), _as_distances(d1, n, "metric(ref, p1)")


@fill_doc
def two_afc_score(metric: Metric | Callable, dataset: TwoAFCDataset, batch_size: int = 50,
                  progress: bool | None = None) -> TwoAFCResult:
    """Score a distance on 2AFC triplets by its agreement with people, per subset.

    Parameters
    ----------
    metric : Metric or callable
        ``metric(x, y)`` → ``(N,)`` distances (lower = more similar) for paired images.
    dataset : TwoAFCDataset
        From :func:`load_bapps_2afc`, :func:`load_nights` or :meth:`TwoAFCDataset.from_arrays`.
    batch_size : int
        Triplets read and scored at a time.
    %(progress)s

    Returns
    -------
    TwoAFCResult
        ``table`` per subset, ``items`` per triplet, ``overall`` mean.

    Raises
    ------
    ShapeError
        The metric returns something other than one distance per pair.

    Examples
    --------
    >>> import torch
    >>> ref = torch.rand(4, 3, 8, 8)
    >>> ds = TwoAFCDataset.from_arrays(ref, ref.clamp(0, 0.9), 1 - ref, judge=[0.1, 0.2, 0.3, 1.0])
    >>> l2 = lambda x, y: ((x - y) ** 2).flatten(1).sum(1)
    >>> res = two_afc_score(l2, ds)
    >>> res.items["score"].tolist(), round(res.overall, 6)
    ([0.9, 0.8, 0.7, 0.0], 0.6)
    """
    _check_metric(metric)
    if not isinstance(dataset, TwoAFCDataset):
        raise InputError(f"dataset: received {type(dataset).__name__}; expected a TwoAFCDataset "
                         "(load_bapps_2afc, load_nights or TwoAFCDataset.from_arrays)")
    d0s, d1s = [], []
    for batch in dataset.batches(batch_size, progress=progress):
        d0, d1 = _triplet_distances(metric, batch)
        d0s.append(d0)
        d1s.append(d1)
    d0, d1 = np.concatenate(d0s), np.concatenate(d1s)
    items = pd.DataFrame({"id": dataset.ids, "subset": dataset.subsets, "d0": d0, "d1": d1,
                          "judge": dataset.judge, "score": two_afc_agreement(d0, d1, dataset.judge)})
    rows = []
    for name in dataset.subset_names:
        sub = items[items["subset"] == name]
        p = sub["judge"].to_numpy()
        rows.append({"subset": name, "n": len(sub), "score": sub["score"].mean(),
                     "sem": sub["score"].std(ddof=1) / np.sqrt(len(sub)) if len(sub) > 1 else np.nan,
                     "human": np.mean(p**2 + (1 - p) ** 2), "oracle": np.mean(np.maximum(p, 1 - p))})
    return TwoAFCResult(table=pd.DataFrame(rows), items=items, overall=float(items["score"].mean()))


def jnd_average_precision(distances, same) -> float:
    """Area under the precision–recall curve of pairs ranked by increasing distance (VOC style).

    Pair ``k`` counts ``same[k]`` true and ``1 - same[k]`` false positives. Precision is made
    non-increasing in recall (the VOC envelope) before the area is summed. Pairs with equal
    distances keep their input order.

    Parameters
    ----------
    distances : array-like
        ``(N,)`` distances.
    same : array-like
        ``(N,)`` fraction of people who said the pair was the same.

    Returns
    -------
    float

    Examples
    --------
    >>> jnd_average_precision([0.1, 0.2, 0.3], [1, 0, 1])  # precisions 1, 1/2, 2/3 at recalls 1/2, 1/2, 1
    0.8333333333333333
    """
    same = np.asarray(same, dtype=np.float64).reshape(-1)
    d = _as_distances(distances, same.size, "distances")
    if not np.isfinite(same).all() or same.min(initial=0) < 0 or same.max(initial=1) > 1:
        raise InputError(f"same: received {describe(same)}; expected fractions in [0, 1]")
    s = same[np.argsort(d, kind="stable")]
    tp = np.cumsum(s)
    if s.size == 0 or tp[-1] <= 0:
        raise InputError(f"same: received {describe(same)}; expected at least one pair judged the same "
                         "(the precision-recall curve is undefined otherwise)")
    precision = tp / np.arange(1, s.size + 1)
    recall = tp / tp[-1]
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * envelope))


@fill_doc
def jnd_map_score(metric: Metric | Callable, dataset: JNDDataset, batch_size: int = 50,
                  progress: bool | None = None) -> JNDResult:
    """Score a distance on same/different pairs by the mAP of ranking "same" pairs first, per subset.

    Parameters
    ----------
    metric : Metric or callable
        ``metric(x, y)`` → ``(N,)`` distances for paired images.
    dataset : JNDDataset
        From :func:`load_bapps_jnd` or :meth:`JNDDataset.from_arrays`.
    batch_size : int
        Pairs read and scored at a time.
    %(progress)s

    Returns
    -------
    JNDResult
        ``table`` (mAP per subset), ``items`` (distance per pair), ``overall`` (all pairs pooled).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(4, 3, 8, 8)
    >>> ds = JNDDataset.from_arrays(x, (x + torch.tensor([0.0, 0.1, 0.3, 0.6]).view(4, 1, 1, 1)).clamp(0, 1),
    ...                             same=[1.0, 1.0, 0.0, 0.0])
    >>> l1 = lambda a, b: (a - b).abs().flatten(1).mean(1)
    >>> jnd_map_score(l1, ds).overall
    1.0
    """
    _check_metric(metric)
    if not isinstance(dataset, JNDDataset):
        raise InputError(f"dataset: received {type(dataset).__name__}; expected a JNDDataset "
                         "(load_bapps_jnd or JNDDataset.from_arrays)")
    ds = []
    for batch in dataset.batches(batch_size, progress=progress):
        with torch.no_grad():
            ds.append(_as_distances(metric(batch.p0, batch.p1), len(batch.ids), "metric(p0, p1)"))
    items = pd.DataFrame({"id": dataset.ids, "subset": dataset.subsets, "distance": np.concatenate(ds),
                          "same": dataset.same})
    rows = [{"subset": name, "n": int((items["subset"] == name).sum()),
             "map": jnd_average_precision(*items.loc[items["subset"] == name, ["distance", "same"]].T.to_numpy())}
            for name in dataset.subset_names]
    return JNDResult(table=pd.DataFrame(rows), items=items,
                     overall=jnd_average_precision(items["distance"], items["same"]))
