"""THINGS odd-one-out: a model's agreement with human choices.

In the THINGS odd-one-out task (Hebart et al. 2020, 2023) an observer sees three objects and
picks the one least like the other two. The released triplet files hold one trial per line: three
object indices, the first two the pair that stayed together, the last the odd one out (the full
csv of the 2023 release keeps the shown order and a ``choice`` column instead).

Which object an index means depends on the file: the 2023 release is indexed in the THINGS concept
order (``unique_id.txt``), the 2020 data in the order the images were uploaded to Mechanical Turk,
which differs for 21 concepts. :func:`load_things_triplets` (in
:mod:`~neuroperception.behaviour.things_triplets`) therefore returns :class:`ThingsTriplets`, which
carry the order their indices follow (and the concept names when given), and
:func:`odd_one_out_accuracy` aligns them with labelled features by name, or warns where the order
is unknown.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import xarray as xr

from .._validation import check_ids, describe
from ..errors import AlignmentError, InputError, ShapeError
from ..similarity import Metric
from ..stimuli import ImageSet
from ._things_files import check_triplets
from .things_triplets import _HOW, ObjectOrderWarning, ThingsTriplets, load_things_triplets

__all__ = ["load_things_triplets", "odd_one_out_accuracy", "OddOneOutResult", "ThingsTriplets",
           "ObjectOrderWarning", "THINGS_CEILING"]

#: Human noise ceiling of the THINGS odd-one-out data (Hebart et al. 2020): 67.3 %.
THINGS_CEILING = 0.673
_SIMILARITIES = ("cosine", "dot", "correlation")


@dataclass
class OddOneOutResult:
    """Agreement of a model with human odd-one-out choices.

    Attributes
    ----------
    accuracy : float
        Fraction of triplets where the model's odd one out is the human's (ties share credit).
    probability : float
        Mean softmax probability the model gives to the human's choice.
    score : float
        Ceiling-normalised accuracy ``(accuracy - 1/3) / (ceiling - 1/3)``.
    ceiling : float
        The human noise ceiling used.
    n_triplets : int
        Number of triplets.
    probabilities : numpy.ndarray
        ``(n, 3)``: probability that each column's object is the odd one out.
    predicted : numpy.ndarray
        ``(n,)``: column (0, 1, 2) of the model's odd one out; the human's is column 2.
    aligned_by : {"position", "stimulus_id"}
        How objects were matched to feature rows (or images): row ``k`` = object ``k``, or by the
        concept names of :class:`ThingsTriplets` and the features' ``stimulus_id``.

    Examples
    --------
    Objects 0 and 1 are alike and 2 differs: the model agrees with the first choice (2 is odd)
    and not with the second (0 is odd), where it picks object 2, in column 1:

    >>> import numpy as np
    >>> features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> res = odd_one_out_accuracy(features, [[0, 1, 2], [1, 2, 0]], similarity="dot")
    >>> res.accuracy, res.n_triplets, res.predicted.tolist(), round(res.score, 4)   # (0.5 - 1/3) / (0.673 - 1/3)
    (0.5, 2, [2, 1], 0.4907)
    >>> res.probabilities.round(4).tolist()
    [[0.2119, 0.2119, 0.5761], [0.2119, 0.5761, 0.2119]]
    """

    accuracy: float
    probability: float
    score: float
    ceiling: float
    n_triplets: int
    probabilities: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)
    aligned_by: str = "position"


def _feature_matrix(features) -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    if isinstance(features, xr.DataArray):
        if features.dims[0] != "stimulus":
            raise ShapeError(f"features: received dims {features.dims}; expected ('stimulus', 'feature') with "
                             "one row per object index")
        features = features.values
    if not isinstance(features, np.ndarray) or features.ndim < 2:
        raise InputError(f"features_or_metric: received {describe(features)}; expected features "
                         "('stimulus', 'feature') with row k = object k, or a similarity Metric")
    x = features.reshape(features.shape[0], -1).astype(np.float64)
    if not np.isfinite(x).all():
        raise InputError(f"features: received {describe(features)}; expected finite values")
    return x


def _feature_ids(features) -> list[str] | None:
    if isinstance(features, xr.DataArray) and "stimulus_id" in features.coords \
            and features.coords["stimulus_id"].dims == ("stimulus",):
        return [str(i) for i in features.coords["stimulus_id"].values]
    return None


def _align(ids, triplets, trip: np.ndarray, what: str, n_rows: int) -> tuple[np.ndarray, str]:
    """Rows of ``what`` for the triplets' objects: by name when both sides carry names, else by position."""
    if not isinstance(triplets, ThingsTriplets):
        return trip, "position"  # plain indices: the caller's own rows
    src = triplets.source
    if triplets.concepts is not None and ids is not None:
        row_of = {i: k for k, i in enumerate(check_ids(ids, len(ids), name=f"{what} stimulus_id"))}
        used = np.unique(trip)
        missing = [triplets.concepts[k] for k in used if triplets.concepts[k] not in row_of]
        if missing:
            raise AlignmentError(f"{what}: {len(missing)} of the {len(used)} concepts the triplets use have no row with "
                                 f"that stimulus_id, e.g. {missing[:5]} (the ids look like {ids[:3]}); expected one "
                                 "row labelled with each concept name")
        lut = np.zeros(len(triplets.concepts), dtype=np.int64)
        lut[used] = [row_of[triplets.concepts[k]] for k in used]
        return lut[trip], "stimulus_id"
    if triplets.order is None:
        if ids is not None:
            raise AlignmentError(f"{what} carry stimulus_id but the triplets from {src} have an unknown object order "
                                 "and no concept names; to align them by name give load_things_triplets "
                                 "object_order= and concepts= (" + _HOW + ")")
        warnings.warn(f"triplets from {src}: their object order is unknown; row k of {what} is taken as object k. "
                      "To state the order, " + _HOW, ObjectOrderWarning, stacklevel=3)
    elif ids is not None:
        warnings.warn(f"{what} carry stimulus_id but the triplets from {src} carry no concept names, so row k is "
                      f"taken as object k of the {triplets.order} order, unchecked; pass concepts= (unique_id.txt) "
                      "to load_things_triplets to align them by name", ObjectOrderWarning, stacklevel=3)
    elif triplets.concepts is not None and n_rows != len(triplets.concepts):
        raise ShapeError(f"{what}: received {n_rows} rows but the triplets name {len(triplets.concepts)} concepts; "
                         "expected one row per concept in their order (or rows labelled with stimulus_id)")
    return trip, "position"


def _pair_similarity(x: np.ndarray, i, j, similarity: str) -> np.ndarray:
    a, b = x[i], x[j]
    if similarity == "correlation":
        a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    dot = np.einsum("ij,ij->i", a, b)
    if similarity == "dot":
        return dot
    norm = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
    if (norm == 0).any():
        raise InputError(f"features: some objects have {'constant' if similarity == 'correlation' else 'all-zero'} "
                         f"features; {similarity} similarity is undefined for them (use similarity='dot')")
    return dot / norm


def _metric_similarities(metric: Metric, images, trip: np.ndarray, batch_size: int) -> np.ndarray:
    if isinstance(images, ImageSet):
        n = len(images)
        def get(idx):  # noqa: E306 - read only the images the triplets use
            return metric.check(images[idx.tolist()].images, "images")
    else:
        x = metric.check(images, "images")
        n = x.shape[0]
        def get(idx):  # noqa: E306
            return x[idx]
    if trip.max() >= n:
        raise InputError(f"triplets: received object index {trip.max()} but {n} images; expected one "
                         "image per object index")
    used, inverse = np.unique(trip, return_inverse=True)
    inverse = inverse.reshape(trip.shape)
    with torch.no_grad():
        reps = [metric.embed(get(used[k:k + batch_size])) for k in range(0, len(used), batch_size)]
        rep = tuple(torch.cat(p) for p in zip(*reps)) if isinstance(reps[0], tuple) else torch.cat(reps)
        take = (lambda r, idx: tuple(t[idx] for t in r)) if isinstance(rep, tuple) else (lambda r, idx: r[idx])
        sims = []
        for a, b in ((0, 1), (0, 2), (1, 2)):
            ia, ib = torch.from_numpy(inverse[:, a]), torch.from_numpy(inverse[:, b])
            parts = [metric.compare(take(rep, ia[k:k + 4096]), take(rep, ib[k:k + 4096]))
                     for k in range(0, len(ia), 4096)]
            sims.append(-torch.cat(parts).double().cpu().numpy())
    return np.stack(sims, 1)


def odd_one_out_accuracy(features_or_metric, triplets, *, images=None, similarity: str = "cosine",
                         temperature: float = 1.0, ceiling: float = THINGS_CEILING,
                         batch_size: int = 64) -> OddOneOutResult:
    """How often a model's odd one out matches the human's, with softmax choice probabilities.

    For a triplet ``(i, j, k)`` (``k`` the human's odd one out) the model's similarities of the
    three pairs decide: the most similar pair stays together and the third object is the odd one
    out. Choice probabilities are ``softmax(similarities / temperature)`` over the pairs
    ``(i, j), (i, k), (j, k)``, i.e. of ``k``, ``j``, ``i`` being the odd one out.

    Objects are matched to feature rows (or images) by name when :class:`ThingsTriplets` carry
    concept names and the features carry ``stimulus_id`` (an ``ImageSet``: its ids); otherwise row
    ``k`` is object ``k``. Triplets of unknown order are scored by position with an
    :class:`ObjectOrderWarning`, and are an ``AlignmentError`` against labelled features.

    Parameters
    ----------
    features_or_metric : DataArray, array, tensor or Metric
        Features ``("stimulus", "feature")`` (other dims are flattened), or a
        :class:`~neuroperception.similarity.Metric` (a distance; its negative is the similarity)
        together with ``images``.
    triplets : ThingsTriplets, array (n, 3) or DataFrame
        Object indices, the last column the human's odd one out (see :func:`load_things_triplets`).
        Plain arrays index feature rows directly.
    images : ImageSet or tensor, optional
        Object images, needed with a Metric.
    similarity : {"cosine", "dot", "correlation"}
        Pair similarity of features; ignored with a Metric.
    temperature : float
        Softmax temperature.
    ceiling : float
        Human noise ceiling (0.673 for THINGS).
    batch_size : int
        Images embedded at once by a Metric.

    Returns
    -------
    OddOneOutResult
        ``accuracy``, ``probability`` (mean probability of the human choice), ``score``
        (``(accuracy - 1/3) / (ceiling - 1/3)``), per-triplet ``probabilities``/``predicted`` and
        ``aligned_by``. Tied most-similar pairs share the credit (expected accuracy under random
        tie-breaking).

    Raises
    ------
    AlignmentError
        Labelled features that lack some of the triplets' concepts, or labelled features with
        triplets of unknown order.

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> res = odd_one_out_accuracy(features, [[0, 1, 2], [0, 2, 1]])
    >>> res.accuracy, res.predicted.tolist()
    (0.5, [2, 1])

    Named triplets and labelled features are matched by name, whatever the row order:

    >>> import xarray as xr
    >>> t = ThingsTriplets(np.array([[0, 1, 2]]), concepts=("cat", "lion", "car"), order="things")
    >>> feats = xr.DataArray([[0.0, 1.0], [1.0, 0.0], [0.9, 0.1]], dims=("stimulus", "feature"),
    ...                      coords={"stimulus_id": ("stimulus", ["car", "cat", "lion"])})
    >>> res = odd_one_out_accuracy(feats, t)
    >>> res.accuracy, res.aligned_by
    (1.0, 'stimulus_id')
    """
    if similarity not in _SIMILARITIES:
        raise InputError(f"similarity: received {similarity!r}; expected one of {_SIMILARITIES}")
    if not np.isfinite(temperature) or temperature <= 0:
        raise InputError(f"temperature: received {temperature!r}; expected a positive number")
    if not 1 / 3 < ceiling <= 1:
        raise InputError(f"ceiling: received {ceiling!r}; expected a value in (1/3, 1]")
    trip = check_triplets(triplets)
    if isinstance(features_or_metric, Metric):
        if images is None:
            raise InputError("images: received None with a Metric; expected the object images (row k = object k)")
        ids = list(images.ids) if isinstance(images, ImageSet) else None
        n_rows = len(images) if hasattr(images, "__len__") else 0
        trip, aligned_by = _align(ids, triplets, trip, "images", n_rows)
        sims = _metric_similarities(features_or_metric, images, trip, batch_size)
    else:
        x = _feature_matrix(features_or_metric)
        trip, aligned_by = _align(_feature_ids(features_or_metric), triplets, trip, "features", x.shape[0])
        if trip.max() >= x.shape[0]:
            raise InputError(f"triplets: received object index {trip.max()} but features for {x.shape[0]} objects; "
                             "expected row k of the features to be object k")
        sims = np.stack([_pair_similarity(x, trip[:, a], trip[:, b], similarity) for a, b in ((0, 1), (0, 2), (1, 2))], 1)
    # pair (i,j) kept -> column 2 odd; (i,k) -> column 1; (j,k) -> column 0
    by_column = sims[:, ::-1]
    logits = by_column / temperature
    logits -= logits.max(1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(1, keepdims=True)
    top = by_column == by_column.max(1, keepdims=True)
    credit = top[:, 2] / top.sum(1)
    accuracy = float(credit.mean())
    return OddOneOutResult(
        accuracy=accuracy, probability=float(prob[:, 2].mean()), score=(accuracy - 1 / 3) / (ceiling - 1 / 3),
        ceiling=float(ceiling), n_triplets=int(trip.shape[0]), probabilities=prob,
        predicted=np.argmax(by_column, axis=1), aligned_by=aligned_by,
    )
