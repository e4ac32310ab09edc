"""Perceptual-similarity judgements as datasets: 2AFC triplets and same/different (JND) pairs.

:class:`TwoAFCDataset` holds a reference ``ref``, two alternatives ``p0`` and ``p1`` and ``judge``,
the fraction of people who judged ``p1`` closer to the reference; :class:`JNDDataset` holds two
images ``p0``, ``p1`` and ``same``, the fraction of people who said they were the same. Both keep
their images lazily (an :class:`~neuroperception.stimuli.ImageSet` per field), select items by
subset or position, and yield float32 ``(N, 3, H, W)`` batches in ``[0, 1]``
(:class:`TwoAFCBatch`, :class:`JNDBatch`). The readers live in
:mod:`neuroperception.similarity.datasets`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from .._docs import fill_doc
from .._progress import progress_bar
from .._validation import check_ids, describe
from ..errors import InputError, ShapeError
from ..stimuli import ImageSet

__all__ = ["TwoAFCDataset", "JNDDataset", "TwoAFCBatch", "JNDBatch"]


class TwoAFCBatch(NamedTuple):
    """One batch of 2AFC triplets: ids, subsets, ``ref``/``p0``/``p1`` images and ``judge``."""

    ids: list
    subsets: list
    ref: torch.Tensor
    p0: torch.Tensor
    p1: torch.Tensor
    judge: np.ndarray


class JNDBatch(NamedTuple):
    """One batch of JND pairs: ids, subsets, ``p0``/``p1`` images and ``same``."""

    ids: list
    subsets: list
    p0: torch.Tensor
    p1: torch.Tensor
    same: np.ndarray


def _fractions(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
        raise InputError(f"{name}: received {describe(arr)}; expected finite fractions in [0, 1]")
    return arr


def _load(images: ImageSet, positions: list[int], what: str) -> torch.Tensor:
    try:
        return images[positions].images
    except RuntimeError as err:  # torch.cat of images with different sizes
        raise ShapeError(f"{what}: images in one batch have different sizes ({err}); expected one size, "
                         "pass size=... to the reader to resize and centre-crop them") from err


def _batches(n: int, batch_size: int, progress: bool | None, desc: str) -> Iterator[list[int]]:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError(f"batch_size: received {batch_size!r}; expected a positive int")
    for lo in progress_bar(range(0, n, int(batch_size)), progress, desc=desc, unit="batch"):
        yield list(range(lo, min(lo + int(batch_size), n)))


@dataclass(repr=False, eq=False)
class _PairedBase:
    """Shared machinery: ids, one subset label per item, lazily read images, one value per item."""

    ids: list
    subsets: list
    name: str
    _images = ()
    _value = ""
    _batch = tuple

    def __post_init__(self):
        self.ids, self.subsets = [str(i) for i in self.ids], [str(s) for s in self.subsets]
        values = _fractions(getattr(self, self._value), f"{self.name}.{self._value}")
        setattr(self, self._value, values)
        self.ids = check_ids(self.ids, len(self.ids), name="ids")
        if len(self.subsets) != len(self.ids) or values.size != len(self.ids):
            raise ShapeError(f"{self.name}: received {len(self.ids)} ids, {len(self.subsets)} subsets and "
                             f"{values.size} {self._value} values; expected one of each per item")
        for field in self._images:
            images = getattr(self, field)
            if not isinstance(images, ImageSet) or len(images) != len(self.ids):
                raise ShapeError(f"{self.name}.{field}: received {describe(images)} of length "
                                 f"{len(images) if hasattr(images, '__len__') else '?'}; expected an ImageSet "
                                 f"with one image per item ({len(self.ids)})")

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        counts = {s: self.subsets.count(s) for s in self.subset_names}
        return f"{type(self).__name__}(name={self.name!r}, n={len(self)}, subsets={counts})"

    @property
    def subset_names(self) -> list[str]:
        """Subset labels in order of first appearance."""
        return list(dict.fromkeys(self.subsets))

    def _positions(self, key) -> list[int]:
        if isinstance(key, str):
            if key not in self.subset_names:
                raise InputError(f"{self.name}: received subset {key!r}; expected one of {self.subset_names}")
            return [i for i, s in enumerate(self.subsets) if s == key]
        idx = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(list(key))
        if idx.dtype == bool:
            if idx.size != len(self):
                raise ShapeError(f"{self.name}: received a mask of {idx.size} values for {len(self)} items")
            idx = np.flatnonzero(idx)
        if idx.size and (idx.dtype.kind not in "iu" or idx.min() < -len(self) or idx.max() >= len(self)):
            raise InputError(f"{self.name}: received positions {describe(idx)}; expected ints in [0, {len(self)})")
        return [int(i) % len(self) for i in idx]

    def select(self, key):
        """Items of one subset (a name), or at positions (slice, list of ints, boolean mask)."""
        pos = self._positions(key)
        fields = {f: getattr(self, f)[pos] for f in self._images}
        fields[self._value] = getattr(self, self._value)[pos]
        return type(self)(ids=[self.ids[p] for p in pos], subsets=[self.subsets[p] for p in pos],
                          name=self.name, **fields)

    @fill_doc
    def batches(self, batch_size: int = 50, progress: bool | None = None):
        """Yield batches (named tuples: ids, subsets, images..., values) in order, read batch by batch.

        Parameters
        ----------
        batch_size : int
            Items per batch.
        %(progress)s
        """
        for pos in _batches(len(self), batch_size, progress, self.name):
            images = [_load(getattr(self, f), pos, f"{self.name}.{f}") for f in self._images]
            yield self._batch([self.ids[p] for p in pos], [self.subsets[p] for p in pos], *images,
                              getattr(self, self._value)[pos])

    @classmethod
    def _from_arrays(cls, arrays, values, ids, subsets, name):
        sets = [ImageSet.from_array(a) for a in arrays]
        ids = check_ids(ids, len(sets[0]), name="stimulus_id")
        subsets = list(subsets) if subsets is not None else [name] * len(ids)
        fields = {f: ImageSet(s.images, ids) for f, s in zip(cls._images, sets)}
        return cls(ids=ids, subsets=subsets, name=name, **fields, **{cls._value: values})


@dataclass(repr=False, eq=False)
class TwoAFCDataset(_PairedBase):
    """2AFC triplets: a reference, two alternatives and the fraction of people choosing ``p1``.

    ``judge[i]`` is the fraction of people who judged ``p1[i]`` closer to ``ref[i]`` than
    ``p0[i]`` (``0`` means everybody chose ``p0``). ``batches()`` yields :class:`TwoAFCBatch`.

    Parameters
    ----------
    ids : list of str
        Unique item ids (``"<subset>/<file stem>"`` for BAPPS, the csv ``id`` for NIGHTS).
    subsets : list of str
        Subset (distortion family, source) of every item.
    name : str
        Dataset name used in progress bars and errors.
    ref, p0, p1 : ImageSet
        The images, one per item, read lazily for on-disk data.
    judge : numpy.ndarray
        ``(N,)`` fractions in ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(4, 3, 8, 8)
    >>> ds = TwoAFCDataset.from_arrays(x, x, 1 - x, judge=[0.2, 0.4, 0.6, 0.8], subsets=["a", "a", "b", "b"])
    >>> len(ds), ds.subset_names, ds.select("b").judge.tolist()
    (4, ['a', 'b'], [0.6, 0.8])
    >>> [len(b.ids) for b in ds.batches(3)]
    [3, 1]
    """

    ref: ImageSet = None
    p0: ImageSet = None
    p1: ImageSet = None
    judge: np.ndarray = None
    _images = ("ref", "p0", "p1")
    _value = "judge"
    _batch = TwoAFCBatch

    @classmethod
    def from_arrays(cls, ref, p0, p1, judge, *, stimulus_id: Sequence[str] | None = None,
                    subsets: Sequence[str] | None = None, name: str = "2afc") -> "TwoAFCDataset":
        """Build an in-memory dataset from three image arrays (see :meth:`ImageSet.from_array`)."""
        return cls._from_arrays((ref, p0, p1), judge, stimulus_id, subsets, name)


@dataclass(repr=False, eq=False)
class JNDDataset(_PairedBase):
    """Same/different pairs: two images and the fraction of people who said "same".

    Fields ``ids``, ``subsets``, ``name``, ``p0``, ``p1`` (ImageSets) and ``same`` (``(N,)``
    fractions in ``[0, 1]``); ``batches()`` yields :class:`JNDBatch`.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(3, 3, 8, 8)
    >>> ds = JNDDataset.from_arrays(x, x.flip(0), same=[1.0, 0.0, 0.5])
    >>> batch = next(ds.batches())
    >>> tuple(batch.p0.shape), batch.same.tolist()
    ((3, 3, 8, 8), [1.0, 0.0, 0.5])
    """

    p0: ImageSet = None
    p1: ImageSet = None
    same: np.ndarray = None
    _images = ("p0", "p1")
    _value = "same"
    _batch = JNDBatch

    @classmethod
    def from_arrays(cls, p0, p1, same, *, stimulus_id: Sequence[str] | None = None,
                    subsets: Sequence[str] | None = None, name: str = "jnd") -> "JNDDataset":
        """Build an in-memory dataset from two image arrays (see :meth:`ImageSet.from_array`)."""
        return cls._from_arrays((p0, p1), same, stimulus_id, subsets, name)
