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
