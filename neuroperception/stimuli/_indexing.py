"""What :class:`ImageSet` and :class:`VideoSet` share: ids, length, index resolution (int, id, slice, list or
mask → positions) and batching."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import InputError


def resolve_positions(key: Any, ids: Sequence[str], index: Mapping[str, int], noun: str, article: str = "a"):
    """An int or id gives one position; a slice, list of ints/ids or boolean mask gives a list.

    ``noun`` is the plural item name ("images", "videos") used in error messages.

    Examples
    --------
    >>> ids = ["a", "b", "c"]; index = {k: i for i, k in enumerate(ids)}
    >>> resolve_positions(-1, ids, index, "images"), resolve_positions(["c", 0], ids, index, "images")
    (2, [2, 0])
    """
    n = len(ids)
    kind = f"{noun[:-1].capitalize()}Set" if noun.endswith("s") else noun
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        k = int(key)
        if not -n <= k < n:
            raise IndexError(f"index {k} out of range for {article} {kind} of {n} {noun}")
        return k % n
    if isinstance(key, str):
        if key not in index:
            raise KeyError(f"no {noun[:-1]} with id {key!r} (ids look like {list(ids[:3])})")
        return index[key]
    if isinstance(key, slice):
        return list(range(n))[key]
    if isinstance(key, (list, tuple, np.ndarray, torch.Tensor)):
        items = key.tolist() if hasattr(key, "tolist") else list(key)
        if items and isinstance(items[0], bool):
            if len(items) != n:
                raise IndexError(f"boolean mask of length {len(items)} for {n} {noun}")
            return [i for i, b in enumerate(items) if b]
        return [resolve_positions(k, ids, index, noun, article) for k in items]
    raise InputError(f"index: received {type(key).__name__}; expected int, id string, slice or list")


class _LabelledSet:
    """Base of the stimulus sets: items with unique ids, loaded by position with ``_load(positions)``.

    Subclasses set ``_ids``, ``_index`` (id → position), the plural ``_noun`` and its ``_article``, and
    define ``_load(positions)`` returning the items at those positions as one tensor.
    """

    _noun, _article = "items", "an"
    _ids: list[str]
    _index: dict[str, int]

    @property
    def ids(self) -> list[str]:
        """The ids, in order."""
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def _positions(self, key) -> list[int] | int:
        return resolve_positions(key, self._ids, self._index, self._noun, self._article)

    def _batches(self, batch_size: int, start: int) -> Iterator[tuple[list[str], torch.Tensor]]:
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputError(f"batch_size: received {batch_size!r}; expected a positive int")
        if not isinstance(start, (int, np.integer)) or start < 0:
            raise InputError(f"start: received {start!r}; expected a non-negative int")
        for lo in range(start, len(self), batch_size):
            pos = list(range(lo, min(lo + batch_size, len(self))))
            yield [self._ids[p] for p in pos], self._load(pos)


def check_set_size(size: Any, owner: str) -> int | tuple[int, int] | None:
    """Validate a stimulus set's ``size``: None, a positive int or a ``(height, width)`` pair of them.

    Examples
    --------
    >>> check_set_size(32, "ImageSet"), check_set_size((16, 24), "ImageSet"), check_set_size(None, "ImageSet")
    (32, (16, 24), None)
    """
    def positive(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0

    if size is None:
        return None
    if positive(size):
        return int(size)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(positive(v) for v in size):
        return int(size[0]), int(size[1])
    raise InputError(f"{owner}: received size={size!r}; expected None, a positive int or a (height, width) pair "
                     "of positive ints")


def check_set_sources(images: Any, paths: Any, owner: str, noun: str) -> list | None:
    """Exactly one of ``images`` (in memory) and ``paths`` (read lazily) is given; returns the paths as a list.

    Examples
    --------
    >>> check_set_sources(None, ["a.png"], "ImageSet", "images")
    ['a.png']
    """
    if (images is None) == (paths is None):
        got = "both" if images is not None else "neither"
        raise InputError(f"{owner}: received {got} of {noun} and paths; expected exactly one: the {noun} in "
                         f"memory, or paths=... to read them lazily")
    if paths is None:
        return None
    if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__"):
        raise InputError(f"{owner}: received paths of type {type(paths).__name__}; expected a sequence with one "
                         f"path per item")
    return list(paths)


def check_source(source: Any, owner: str) -> str:
    """A set's ``source`` label is a string."""
    if not isinstance(source, str):
        raise InputError(f"{owner}: received source={source!r}; expected a string saying where the set came from")
    return source
