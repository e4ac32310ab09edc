"""Index resolution shared by :class:`ImageSet` and :class:`VideoSet`: int, id, slice, list or mask → positions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
