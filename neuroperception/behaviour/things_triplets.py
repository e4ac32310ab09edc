"""THINGS odd-one-out triplet files, read in the object order their indices follow.

The THINGS-data 2023 release indexes objects in the THINGS concept order (``unique_id.txt``,
``things_concepts.tsv``); the 2020 data index them in the order the images were uploaded to
Mechanical Turk, which differs for 21 concepts. :func:`load_things_triplets` returns
:class:`ThingsTriplets`, which carry that order (and the concept names when given), and warns with
:class:`ObjectOrderWarning` where the order cannot be known.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import check_ids
from ..errors import InputError
from ._things_files import (RELEASE_FILES, check_triplets, file_to_target, read_concepts, read_triplet_file,
                            upload_order)

__all__ = ["load_things_triplets", "ThingsTriplets", "ObjectOrderWarning"]

_ORDERS = ("things", "given")
_HOW = ("pass object_order='things' if its indices follow the THINGS concept order (unique_id.txt, "
        "things_concepts.tsv), object_order='upload' with concepts= for the Mechanical Turk upload order of the "
        "2020 data (SPoSE/VICE's sortindex), the concept names in the file's order, or a permutation "
        "(file index i -> object index object_order[i])")


class ObjectOrderWarning(UserWarning):
    """Triplet indices are matched to feature rows by position although their object order is not known.

    Issued by :func:`load_things_triplets` for a file whose object order cannot be known from its
    name and was not stated with ``object_order=``, and by :func:`odd_one_out_accuracy` when such
    triplets are scored, or when features carry ``stimulus_id`` but the triplets carry no concept
    names to match them by.

    Examples
    --------
    >>> import tempfile, pathlib, warnings
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "my_triplets.txt"
    >>> _ = p.write_text("0 1 2\\n")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = load_things_triplets(p)                            # order unknown: warns
    ...     _ = load_things_triplets(p, object_order="things")     # stated: silent
    >>> [w.category.__name__ for w in caught]
    ['ObjectOrderWarning']
    """


@dataclass(frozen=True, eq=False, repr=False)
class ThingsTriplets:
    """Odd-one-out triplets together with the object order their indices follow.

    Attributes
    ----------
    indices : numpy.ndarray
        int64 ``(n, 3)``: ``object_1``, ``object_2``, ``odd_one_out``.
    concepts : tuple of str or None
        ``concepts[k]`` is the name of object index ``k``; None when no names were given.
    order : {"things", "given"} or None
        ``"things"``: the THINGS concept order (``unique_id.txt``, ``things_concepts.tsv``);
        ``"given"``: an order the caller stated (the order of ``concepts``, or a permutation);
        None: unknown (indices as stored in a file of unknown order).
    source : str
        Where the triplets were read from.

    Examples
    --------
    >>> import numpy as np
    >>> t = ThingsTriplets(np.array([[0, 1, 2]]), concepts=("cat", "dog", "car"), order="things")
    >>> len(t), t.shape, t.names().tolist()
    (1, (1, 3), [['cat', 'dog', 'car']])
    >>> np.asarray(t).tolist()
    [[0, 1, 2]]
    """

    indices: np.ndarray
    concepts: tuple | None = None
    order: str | None = None
    source: str = "array"

    def __post_init__(self):
        concepts = None if self.concepts is None else tuple(str(c) for c in self.concepts)
        n = None if concepts is None else len(concepts)
        if concepts is not None:
            check_ids(list(concepts), n, name="concepts")
        object.__setattr__(self, "indices", check_triplets(self.indices, n, "indices"))
        object.__setattr__(self, "concepts", concepts)
        if self.order not in _ORDERS + (None,):
            raise InputError(f"order: received {self.order!r}; expected one of {_ORDERS} or None (unknown)")

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.indices, dtype=dtype)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_triplets, 3)``."""
        return self.indices.shape

    def names(self) -> np.ndarray:
        """``(n, 3)`` concept names of the three objects of every triplet."""
        if self.concepts is None:
            raise InputError(f"triplets from {self.source}: carry no concept names; pass concepts= (unique_id.txt) "
                             "to load_things_triplets")
        return np.asarray(self.concepts, dtype=object)[self.indices]

    def __repr__(self) -> str:
        names = None if self.concepts is None else f"<{len(self.concepts)} names>"
        return f"ThingsTriplets(n={len(self)}, order={self.order!r}, concepts={names}, source={self.source!r})"


def load_things_triplets(path, *, object_order=None, concepts=None, n_objects: int | None = None,
                         index_base: int | None = None) -> ThingsTriplets:
    """Read a THINGS odd-one-out triplet file, in the object order its indices follow.

    Two layouts are read: three object indices per line (``trainset.txt``, ``validationset.txt``,
    ``testset*.txt``; SPoSE/VICE's ``train_90.txt``/``test_10.txt``; space-, tab- or
    comma-separated, numbers as ``12`` or ``1.2e+01``, the odd one out last, an optional header line,
    ``#`` comments), and the release's full csv (``image1, image2, image3, choice, ...``: the shown
    order and the position of the odd one out), which is turned into the same form.

    Parameters
    ----------
    path : str or Path
        The triplet file.
    object_order : {"things", "upload"}, sequence of str, array of int, optional
        The order the file's indices follow. ``"things"``: the THINGS concept order;
        ``"upload"``: the Mechanical Turk upload order of the 2020 data (the concepts' image file
        names ``<uniqueID>.jpg`` sorted byte-wise; needs ``concepts``), remapped to the order of
        ``concepts``; the concept names in the file's order (remapped to ``concepts`` when given,
        else carried as they are); or integers, file index ``i`` -> object index
        ``object_order[i]`` (SPoSE/VICE's ``sortindex`` goes the other way: pass
        ``np.argsort(sortindex)``). None: known for the THINGS-data 2023 release files by their
        names (THINGS order); otherwise unknown, with an :class:`ObjectOrderWarning`.
    concepts : sequence of str or path, optional
        Concept names in the target order: a list, ``unique_id.txt`` (one per line) or
        ``things_concepts.tsv`` (column ``uniqueID``). The triplets then carry the names, and
        :func:`odd_one_out_accuracy` aligns them with features by ``stimulus_id``.
    n_objects : int, optional
        Number of objects (1854 for THINGS); indices must be below it. Default: ``len(concepts)``.
    index_base : int, optional
        0 or 1: what the file's first index is. Default 1 for the release csv, 0 otherwise.

    Returns
    -------
    ThingsTriplets
        ``indices`` int64 ``(n, 3)`` (``object_1``, ``object_2``, ``odd_one_out``, 0-based, in the
        target order), ``order``, ``concepts`` and ``source``.

    Raises
    ------
    FileNotFoundError
        The file (or the concept list) does not exist.
    InputError
        Rows without exactly three numbers, non-integer or out-of-range indices, a row naming the
        same object twice, an unknown ``object_order``, ``"upload"`` without ``concepts``.
    AlignmentError
        Duplicated concept names, or names in ``object_order`` missing from ``concepts``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "trainset.txt").write_text("0 1 2\\n5\\t3\\t4\\n")     # a THINGS-data 2023 file
    >>> t = load_things_triplets(folder / "trainset.txt")
    >>> t.indices.tolist(), t.order
    ([[0, 1, 2], [5, 3, 4]], 'things')
    >>> _ = (folder / "mine.txt").write_text("0 1 2\\n")                    # indexed dog, cat, car
    >>> load_things_triplets(folder / "mine.txt", object_order=["dog", "cat", "car"],
    ...                      concepts=["cat", "dog", "car"]).indices.tolist()
    [[1, 0, 2]]
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"path: {str(p)!r} does not exist; expected a THINGS triplet file such as trainset.txt "
                                "(three 0-based object indices per line, the last the odd one out)")
    raw = check_triplets(read_triplet_file(p, index_base), None, str(p))
    target = None if concepts is None else read_concepts(concepts)
    if n_objects is not None and target is not None and n_objects != len(target):
        raise InputError(f"n_objects: received {n_objects} but {len(target)} concepts; expected the same number")
    n = n_objects if n_objects is not None else None if target is None else len(target)
    if isinstance(object_order, str):
        if object_order == "things":
            trip, order = raw, "things"
        elif object_order == "upload":
            if target is None:
                raise InputError("object_order='upload' needs concepts= (unique_id.txt or things_concepts.tsv): the "
                                 "upload order is the byte-wise order of the concepts' image file names")
            trip, order = upload_order(target)[check_triplets(raw, len(target), str(p))], "things"
        else:
            raise InputError(f"object_order: received {object_order!r}; expected 'things', 'upload', the concept "
                             "names in the file's order or an integer permutation")
    elif object_order is None:
        order = "things" if p.name in RELEASE_FILES else None
        trip = raw
        if order is None:
            warnings.warn(f"{p.name}: its object order is unknown (not one of the THINGS-data release files "
                          f"{', '.join(RELEASE_FILES[:2])}, ...); its indices are kept as they are. To state it, "
                          + _HOW, ObjectOrderWarning, stacklevel=2)
    elif target is None and np.asarray(object_order).dtype.kind in "USO":
        target = read_concepts(list(object_order), name="object_order")
        trip, order, n = raw, "given", len(target) if n_objects is None else n_objects
    else:
        trip, order = file_to_target(object_order, target, int(raw.max()) + 1)[raw], "given"
    trip = check_triplets(trip, n, str(p))
    if target is not None and trip.max() >= len(target):
        raise InputError(f"{p}: received object index {trip.max()} but {len(target)} concepts; expected indices below "
                         "the number of concepts")
    return ThingsTriplets(trip, concepts=None if target is None else tuple(target), order=order, source=str(p))
