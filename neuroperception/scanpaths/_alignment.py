"""Batched dynamic programmes of the scanpath metrics: DTW, edit distance and Needleman–Wunsch.

The tables of many pairs are filled together, anti-diagonal by anti-diagonal; pairs are sorted by
length and padded per chunk so that a chunk's tables stay below ``_CHUNK_CELLS`` cells. Used by
:mod:`neuroperception.scanpaths.scanpath_metrics` and its MultiMatch module.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

_CHUNK_CELLS = 4_000_000


def _pad(seqs: list[np.ndarray], fill: float = np.nan) -> np.ndarray:
    """Stack 1-D or 2-D sequences of different lengths into one array padded with ``fill``."""
    longest = max(len(s) for s in seqs)
    out = np.full((len(seqs), longest) + seqs[0].shape[1:], fill, dtype=float)
    for k, s in enumerate(seqs):
        out[k, :len(s)] = s
    return out


@lru_cache(maxsize=256)
def _diagonals(l1: int, l2: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Flat indices (table, cost) of the anti-diagonals of an ``(l1 + 1, l2 + 1)`` table."""
    out = []
    for d in range(2, l1 + l2 + 1):
        i = np.arange(max(1, d - l2), min(l1, d - 1) + 1)
        j = d - i
        out.append((i * (l2 + 1) + j, (i - 1) * l2 + (j - 1)))
    return out


def _align(cost: np.ndarray, mode: str, gap: float = 0.0) -> np.ndarray:
    """Fill the alignment tables of a batch of pairs, anti-diagonal by anti-diagonal.

    ``cost`` is ``(P, L1, L2)``. Modes: ``"path"`` (min over the three predecessors plus the cell
    cost, borders infinite: DTW and MultiMatch), ``"edit"`` (Levenshtein with unit gaps, ``cost``
    the substitution cost), ``"nw"`` (Needleman–Wunsch maximum with gap score ``gap``).
    Returns the ``(P, L1 + 1, L2 + 1)`` tables.
    """
    p, l1, l2 = cost.shape
    table = np.empty((p, l1 + 1, l2 + 1))
    if mode == "path":
        table[:] = np.inf
        table[:, 0, 0] = 0.0
    else:
        step = 1.0 if mode == "edit" else gap
        table[:, :, 0] = step * np.arange(l1 + 1)
        table[:, 0, :] = step * np.arange(l2 + 1)
    flat, c = table.reshape(p, -1), cost.reshape(p, -1)
    w = l2 + 1
    for t, k in _diagonals(l1, l2):
        diag, up, left = flat[:, t - w - 1], flat[:, t - w], flat[:, t - 1]
        if mode == "path":
            flat[:, t] = np.minimum(np.minimum(diag, up), left) + c[:, k]
        elif mode == "edit":
            flat[:, t] = np.minimum(diag + c[:, k], np.minimum(up, left) + 1.0)
        else:
            flat[:, t] = np.maximum(diag + c[:, k], np.maximum(up, left) + gap)
    return table


def _chunks(n1: np.ndarray, n2: np.ndarray):
    """Pair indices ordered by length, in chunks whose padded tables stay below ``_CHUNK_CELLS`` cells."""
    order = np.lexsort((n2, n1))
    top2 = int(n2.max()) + 1
    start = 0
    while start < len(order):
        stop = min(len(order), start + max(1, _CHUNK_CELLS // ((int(n1[order[start]]) + 1) * top2)))
        while stop - start > 1 and (stop - start) * (int(n1[order[stop - 1]]) + 1) \
                * (int(n2[order[start:stop]].max()) + 1) > _CHUNK_CELLS:
            stop = start + (stop - start) // 2
        yield order[start:stop]
        start = stop


def _sequence_alignment(seq_a: list[np.ndarray], seq_b: list[np.ndarray], ia: np.ndarray, ib: np.ndarray,
                        mode: str, substitution: Any = None, gap: float = 0.0) -> np.ndarray:
    """Final table value of ``edit``/``nw`` alignments of label sequences for pairs ``(ia[k], ib[k])``.

    ``substitution``: None (cost 1 for different labels, for ``edit``), ``"identity"`` (score 1 for
    equal labels) or a matrix indexed by labels.
    """
    la = np.array([len(s) for s in seq_a])[ia]
    lb = np.array([len(s) for s in seq_b])[ib]
    out = np.empty(len(ia))
    for idx in _chunks(la, lb):
        a = _pad([seq_a[i] for i in ia[idx]], fill=-1).astype(int)
        b = _pad([seq_b[i] for i in ib[idx]], fill=-1).astype(int)
        if substitution is None:
            cost = (a[:, :, None] != b[:, None, :]).astype(float)
        elif isinstance(substitution, str):
            cost = (a[:, :, None] == b[:, None, :]).astype(float)
        else:
            cost = substitution[np.maximum(a, 0)[:, :, None], np.maximum(b, 0)[:, None, :]]
        table = _align(cost, mode, gap)
        out[idx] = table[np.arange(len(idx)), la[idx], lb[idx]]
    return out


def _backtrack(table: np.ndarray, n1: np.ndarray, n2: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cheapest monotone path from cell (0, 0) to ``(n1 - 1, n2 - 1)`` of each pair, read off ``table``.

    Returns padded row and column indices (end first), the path lengths and, per pair, whether the
    path met a tie: a cell where two or more predecessors hold exactly the smallest value. Without a
    tie the path is the only cheapest one that a shortest-path search over the same costs can return
    (each cell's predecessor is the strict minimum); with one, the path taken (above, then left, then
    diagonal among equals) is one of several, and a caller that must agree with a particular search
    reruns that search for those pairs.
    """
    p = len(n1)
    i, j = n1 - 1, n2 - 1
    longest = int((n1 + n2).max())
    pi, pj = np.zeros((p, longest), dtype=int), np.zeros((p, longest), dtype=int)
    counts = np.zeros(p, dtype=int)
    tied = np.zeros(p, dtype=bool)
    rows = np.arange(p)
    active = np.ones(p, dtype=bool)
    for step in range(longest):
        pi[active, step], pj[active, step] = i[active], j[active]
        counts[active] += 1
        active &= (i > 0) | (j > 0)
        if not active.any():
            break
        # candidates in order of preference among ties: above, left, diagonal
        cand = np.stack([table[rows, i, j + 1], table[rows, i + 1, j], table[rows, i, j]], axis=1)
        move = np.argmin(cand, axis=1)
        tied |= active & ((cand == cand[rows, move][:, None]).sum(axis=1) > 1)
        i = np.where(active, i - (move != 1), i)
        j = np.where(active, j - (move != 0), j)
    return pi, pj, counts, tied


def _dtw_pairs(pa: list[np.ndarray], pb: list[np.ndarray], ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    xa, xb = _pad([p[:, :2] for p in pa]), _pad([p[:, :2] for p in pb])
    na, nb = np.array([len(p) for p in pa])[ia], np.array([len(p) for p in pb])[ib]
    out = np.empty(len(ia))
    for idx in _chunks(na, nb):
        a, b = xa[ia[idx], :na[idx].max()], xb[ib[idx], :nb[idx].max()]
        cost = np.sqrt(((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1))
        table = _align(np.nan_to_num(cost, nan=np.inf), "path")
        out[idx] = table[np.arange(len(idx)), na[idx], nb[idx]]
    return out
