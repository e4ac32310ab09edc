"""ROC areas behind AUC-Judd and shuffled AUC, per map, from counts of the values at or above each threshold.

Used by :mod:`neuroperception.scanpaths.saliency_metrics`; the conventions (thresholds, ties) are
pysaliency's and are documented there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

_BLOCK_VALUES = 1 << 18          # values compared at once: 2 MiB of float64, read from cache
_COMPARE_MAX = 128               # thresholds per map up to which counting by comparison beats sorting


def judd_aucs(flat: np.ndarray, pixels: np.ndarray, starts: np.ndarray, rng: Any = None,
              noise_size: float = 0.0) -> np.ndarray:
    """AUC-Judd of every map with fixations (NaN for the others), a block of maps at a time.

    ``flat`` is ``(N, P)`` maps, ``pixels`` the flat pixel index of each fixation, sorted by map,
    with map ``n``'s fixations at ``starts[n]:starts[n + 1]``. With ``rng`` (a ``RandomState`` or a
    Generator), ``noise_size * rng.standard_normal``
    is added to each map with fixations, one draw per map in map order (pysaliency's jitter).

    pysaliency's ROC: the thresholds are the values at the fixations (duplicates kept), plus one
    above every value (the point (0, 0)) and one at the minimum (the point (1, 1)); for each
    threshold ``t`` in decreasing order the hit rate is ``#positives >= t / #positives`` and the
    false-alarm rate ``#unfixated pixels >= t / #unfixated pixels``. Only the counts at the
    thresholds are needed, so a map is sorted only when it has more thresholds than
    ``_COMPARE_MAX``; otherwise one comparison per threshold counts the pixels above it, on a block
    of maps held in cache.
    """
    n_maps, n_pix = flat.shape
    counts = np.diff(starts)
    scores = np.full(n_maps, np.nan)
    with_fixations = np.nonzero(counts)[0]
    step = max(1, _BLOCK_VALUES // n_pix)
    for first in range(0, len(with_fixations), step):
        idx = with_fixations[first:first + step]
        if rng is None and idx[-1] - idx[0] == len(idx) - 1:
            block = flat[idx[0]:idx[-1] + 1]                     # consecutive maps, nothing to add: a view
        else:
            block = flat[idx]                                    # a copy: the jitter is added in place
        if rng is not None:
            for row in block:               # one draw per map with fixations, in map order, as pysaliency
                row += rng.standard_normal(n_pix) * noise_size
        scores[idx] = _block_judd(block, pixels[starts[idx[0]]:starts[idx[-1] + 1]], counts[idx], idx)
    return scores


def _padded(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``(len(counts), max(counts))``: row ``b`` holds the next ``counts[b]`` of ``values``, then ``-inf``.

    ``-inf`` padding is never at or above a finite threshold, so padded slots drop out of every count.
    """
    table = np.full((len(counts), int(counts.max())), -np.inf)
    rows = np.repeat(np.arange(len(counts)), counts)
    table[rows, np.arange(len(values)) - np.repeat(np.cumsum(counts) - counts, counts)] = values
    return table


def _block_judd(block: np.ndarray, pixels: np.ndarray, counts: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """:func:`judd_aucs` on ``(B, P)`` maps that all have fixations (``counts`` each, in order)."""
    n_rows, n_pix = block.shape
    row = np.repeat(np.arange(n_rows), counts)
    positives = _padded(counts, block[row, pixels])
    thresholds = np.sort(positives, axis=1)[:, ::-1]             # decreasing, padding last ...
    lowest = thresholds[np.arange(n_rows), counts - 1]
    thresholds = np.where(np.isneginf(thresholds), lowest[:, None], thresholds)   # ... repeats the lowest
    fixated = np.unique(row * n_pix + pixels)                     # each fixated pixel once, by map
    fixated_row, n_fixated = fixated // n_pix, np.bincount(fixated // n_pix, minlength=n_rows)
    full = np.nonzero(n_fixated == n_pix)[0]
    if full.size:
        raise InputError(f"fixations: every pixel of map {int(idx[full[0]])} is fixated; expected unfixated "
                         "pixels as negatives")
    fixated_values = _padded(n_fixated, block[fixated_row, fixated % n_pix])
    hits = (positives[:, None, :] >= thresholds[:, :, None]).sum(-1)
    false_alarms = _count_at_least(block, thresholds) - (fixated_values[:, None, :] >= thresholds[:, :, None]).sum(-1)
    tpr = np.concatenate([np.zeros((n_rows, 1)), hits / counts[:, None], np.ones((n_rows, 1))], axis=1)
    fpr = np.concatenate([np.zeros((n_rows, 1)), false_alarms / (n_pix - n_fixated)[:, None],
                          np.ones((n_rows, 1))], axis=1)
    return np.sum((fpr[:, 1:] - fpr[:, :-1]) * (tpr[:, 1:] + tpr[:, :-1]) / 2.0, axis=1)


def _count_at_least(block: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``(B, K)``: how many values of row ``b`` of ``block`` are ``>= thresholds[b, k]``.

    One comparison per threshold into a byte mask, counted eight bytes at a time: the mask, padded
    with zeros, is read as ``uint64`` words and runs of at most 255 words are summed (each byte of the sum
    counts the hits in one byte lane and cannot exceed 255, so lanes never carry into each other);
    the bytes of those sums then add up to the count.
    """
    n_rows, n_pix = block.shape
    if thresholds.shape[1] > _COMPARE_MAX:                       # sorting the rows is cheaper
        ordered = np.sort(block, axis=1)
        return n_pix - np.stack([np.searchsorted(o, t, side="left") for o, t in zip(ordered, thresholds)])
    n_words = -(-n_pix // 8)
    n_runs = -(-n_words // 255)
    run = -(-n_words // n_runs)                                  # words per run, at most 255
    hit = np.zeros((n_rows, n_runs * run * 8), dtype=bool)       # the padding stays zero
    words = hit.view(np.uint64).reshape(n_rows, n_runs, run)
    out = np.empty(thresholds.shape, dtype=np.int64)
    for k in range(thresholds.shape[1]):
        np.greater_equal(block, thresholds[:, k:k + 1], out=hit[:, :n_pix])
        lanes = words.sum(axis=2, dtype=np.uint64)
        out[:, k] = lanes.view(np.uint8).reshape(n_rows, -1).sum(axis=1)
    return out


def shuffled_ranks(flat: np.ndarray, pixels: np.ndarray, n_idx: np.ndarray) -> np.ndarray:
    """Per fixation, ``(#negatives below + 0.5 #negatives equal) / #negatives`` on its own map.

    The negatives of map ``n`` are the pixels fixated on every *other* map, read on map ``n``.
    ``flat`` is ``(N, P)`` maps, ``pixels`` the flat pixel index of each fixation and ``n_idx`` its
    (sorted) map. For a block of maps, the values at all fixated pixels (gathered in pixel order,
    which is memory order) are counted against each own fixation's value with
    :func:`_count_at_least` (``>= v`` and ``> v``); the counts among all fixations minus those among
    the map's own fixations are the counts among the negatives.
    """
    n_maps, n_fix = len(flat), len(pixels)
    counts = np.bincount(n_idx, minlength=n_maps)
    lonely = np.nonzero((counts > 0) & (counts == n_fix))[0]
    if lonely.size:
        raise InputError(f"other_fixations: no negatives for map {int(lonely[0])} (all fixations are on it); "
                         "expected fixations on at least two maps, or other_fixations=")
    everywhere = np.sort(pixels)                       # read the maps in memory order: 4x faster gathers
    starts = np.concatenate([[0], np.cumsum(counts)])
    slot = np.arange(n_fix) - starts[n_idx]
    out = np.empty(n_fix)
    step = max(1, _BLOCK_VALUES // n_fix)
    for first in range(0, n_maps, step):
        last = min(n_maps, first + step)
        fixes = np.arange(starts[first], starts[last])
        if not fixes.size:
            continue
        local = n_idx[fixes] - first
        own = _padded(counts[first:last], flat[n_idx[fixes], pixels[fixes]])
        values = np.take(flat[first:last], everywhere, axis=1)          # (maps, all fixations)
        at_least, above = np.split(_count_at_least(values, np.hstack([own, np.nextafter(own, np.inf)])), 2, axis=1)
        own_at_least = (own[:, None, :] >= own[:, :, None]).sum(-1)
        own_above = (own[:, None, :] > own[:, :, None]).sum(-1)
        own_counts = counts[first:last, None]
        below = (n_fix - at_least) - (own_counts - own_at_least)
        equal = (at_least - above) - (own_at_least - own_above)
        ranks = (below + 0.5 * equal) / (n_fix - own_counts)
        out[fixes] = ranks[local, slot[fixes]]
    return out
