"""THINGS odd-one-out: the triplet files' reader and a model's agreement with human choices.

In the THINGS odd-one-out task (Hebart et al. 2020, 2023) an observer sees three objects and
picks the one least like the other two. The released triplet files (``trainset.txt``,
``validationset.txt``; SPoSE's ``train_90.txt`` / ``test_10.txt``) hold one trial per line:
three 0-based object indices separated by spaces or tabs, the first two the pair that stayed
together, the last the odd one out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .._validation import describe
from ..errors import InputError, ShapeError
from ..similarity import Metric

__all__ = ["load_things_triplets", "odd_one_out_accuracy", "OddOneOutResult", "THINGS_CEILING"]

#: Human noise ceiling of the THINGS odd-one-out data (Hebart et al. 2020): 67.3 %.
THINGS_CEILING = 0.673
_SIMILARITIES = ("cosine", "dot", "correlation")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def load_things_triplets(path, *, n_objects: int | None = None, index_base: int = 0) -> np.ndarray:
    """Read a THINGS odd-one-out triplet file into an ``(n, 3)`` int array.

    Parameters
    ----------
    path : str or Path
        A text file of three object indices per line (space-, tab- or comma-separated; numbers
        written as ``12`` or ``1.2e+01`` both read), the last one the odd one out. A first line of
        column names is skipped; blank lines and ``#`` comments are ignored.
    n_objects : int, optional
        Number of objects (1854 for THINGS); indices must be below it.
    index_base : int
        0 for the released files (0-based); 1 for files that count from 1.

    Returns
    -------
    numpy.ndarray
        int64 ``(n, 3)``: columns ``object_1``, ``object_2``, ``odd_one_out`` (0-based).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InputError
        Rows without exactly three numbers, non-integer or out-of-range indices,
        or a row naming the same object twice.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "trainset.txt"
    >>> _ = p.write_text("0 1 2\\n5\\t3\\t4\\n")
    >>> load_things_triplets(p).tolist()
    [[0, 1, 2], [5, 3, 4]]
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"path: {str(p)!r} does not exist; expected a THINGS triplet file such as trainset.txt "
                         "(three 0-based object indices per line, the last the odd one out)")
    head = ""
    with open(p) as fh:
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                head = line
                break
    if not head:
        raise InputError(f"{p}: holds no triplets; expected three object indices per line")
    sep = "," if "," in head else r"\s+"
    tokens = [t for t in head.replace(",", " ").split()]
    header = 0 if tokens and not any(_is_number(t) for t in tokens) else None
    try:
        frame = pd.read_csv(p, sep=sep, header=header, comment="#", skip_blank_lines=True, dtype=str)
    except (pd.errors.ParserError, ValueError) as err:
        raise InputError(f"{p}: could not be read as rows of three numbers ({err}); expected three object "
                         "indices per line") from err
    if frame.shape[1] != 3:
        raise InputError(f"{p}: received {frame.shape[1]} columns; expected 3 (object, object, odd one out)")
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values).all(1) | (values != np.round(values)).any(1))
    if bad.size:
        row = int(bad[0])
        raise InputError(f"{p}: data row {row + 1} is {frame.iloc[row].tolist()}; expected three integer object "
                         f"indices ({bad.size} such rows)")
    return check_triplets(values.astype(np.int64) - int(index_base), n_objects, str(p))


def check_triplets(triplets, n_objects: int | None = None, name: str = "triplets") -> np.ndarray:
    """Validate ``(n, 3)`` object indices (array or 3-column DataFrame); return them as int64."""
    arr = triplets.to_numpy() if isinstance(triplets, pd.DataFrame) else np.asarray(triplets)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise ShapeError(f"{name}: received {describe(arr)}; expected (n_triplets, 3) object indices")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or (arr != np.round(arr)).any():
            raise InputError(f"{name}: received {describe(arr)}; expected integer object indices")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise InputError(f"{name}: received negative object indices (min {arr.min()}); expected 0-based indices "
                         "(pass index_base=1 for files that count from 1)")
    if n_objects is not None and arr.max() >= n_objects:
        raise InputError(f"{name}: received object index {arr.max()}; expected indices below n_objects={n_objects}")
    same = np.flatnonzero((arr[:, 0] == arr[:, 1]) | (arr[:, 0] == arr[:, 2]) | (arr[:, 1] == arr[:, 2]))
    if same.size:
        raise InputError(f"{name}: row {int(same[0])} is {arr[same[0]].tolist()}; expected three different objects "
                         f"({same.size} such rows)")
    return arr


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
    if images is None:
        raise InputError("images: received None with a Metric; expected the object images (row k = object k)")
    if hasattr(images, "images") and hasattr(images, "ids"):
        images = images.images
    x = metric.check(images, "images")
    if trip.max() >= x.shape[0]:
        raise InputError(f"triplets: received object index {trip.max()} but {x.shape[0]} images; expected one "
                         "image per object index")
    used, inverse = np.unique(trip, return_inverse=True)
    inverse = inverse.reshape(trip.shape)
    with torch.no_grad():
        reps = [metric.embed(x[used[k:k + batch_size]]) for k in range(0, len(used), batch_size)]
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

    Parameters
    ----------
    features_or_metric : DataArray, array, tensor or Metric
        Features ``("stimulus", "feature")`` whose row ``k`` belongs to object index ``k`` (other
        dims are flattened), or a :class:`~neuroperception.similarity.Metric` (a distance; its
        negative is the similarity) together with ``images``.
    triplets : array (n, 3) or DataFrame
        Object indices, the last column the human's odd one out (see :func:`load_things_triplets`).
    images : ImageSet or tensor, optional
        Object images (row ``k`` = object ``k``), needed with a Metric.
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
        (``(accuracy - 1/3) / (ceiling - 1/3)``) and per-triplet ``probabilities``/``predicted``.
        Tied most-similar pairs share the credit (expected accuracy under random tie-breaking).

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> res = odd_one_out_accuracy(features, [[0, 1, 2], [0, 2, 1]])
    >>> res.accuracy, res.predicted.tolist()
    (0.5, [2, 1])
    """
    if similarity not in _SIMILARITIES:
        raise InputError(f"similarity: received {similarity!r}; expected one of {_SIMILARITIES}")
    if not np.isfinite(temperature) or temperature <= 0:
        raise InputError(f"temperature: received {temperature!r}; expected a positive number")
    if not 1 / 3 < ceiling <= 1:
        raise InputError(f"ceiling: received {ceiling!r}; expected a value in (1/3, 1]")
    trip = check_triplets(triplets)
    if isinstance(features_or_metric, Metric):
        sims = _metric_similarities(features_or_metric, images, trip, batch_size)
    else:
        x = _feature_matrix(features_or_metric)
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
        predicted=np.argmax(by_column, axis=1),
    )
