"""ROC areas behind AUC-Judd and shuffled AUC, per map, from sorted saliency values.

Used by :mod:`neuroperception.scanpaths.saliency_metrics`; the conventions (thresholds, ties) are
pysaliency's and are documented there.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError

_BLOCK_VALUES = 1 << 22          # values of the (maps, fixations) table held at once: 32 MiB of float64


def judd_roc(positives: np.ndarray, all_sorted: np.ndarray, fixated_sorted: np.ndarray) -> float:
    """ROC area with the positives as thresholds; negatives are the pixels never fixated.

    pysaliency adds a threshold above every value (the point (0, 0)) and one at the minimum (the
    point (1, 1)); between them, for each positive ``t`` in decreasing order, the hit rate is
    ``#positives >= t / #positives`` and the false-alarm rate ``#unfixated >= t / #unfixated``.
    """
    thresholds = np.sort(positives)[::-1]
    n_pos, n_neg = len(positives), len(all_sorted) - len(fixated_sorted)
    tp = n_pos - np.searchsorted(thresholds[::-1], thresholds, side="left")
    fp = (len(all_sorted) - np.searchsorted(all_sorted, thresholds, side="left")) \
        - (len(fixated_sorted) - np.searchsorted(fixated_sorted, thresholds, side="left"))
    tpr = np.concatenate([[0.0, 0.0], tp / n_pos, [1.0]])
    fpr = np.concatenate([[0.0, 0.0], fp / n_neg, [1.0]])
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0))


def shuffled_ranks(flat: np.ndarray, pixels: np.ndarray, n_idx: np.ndarray) -> np.ndarray:
    """Per fixation, ``(#negatives below + 0.5 #negatives equal) / #negatives`` on its own map.

    The negatives of map ``n`` are the pixels fixated on every *other* map, read on map ``n``.
    ``flat`` is ``(N, P)`` maps, ``pixels`` the flat pixel index of each fixation and ``n_idx`` its
    (sorted) map. Each map's row of values at all fixated pixels (gathered in pixel order, which
    is memory order) is sorted once; the counts among
    all fixations minus the counts among the map's own fixations give the counts among the
    negatives, for all maps of a block at once.
    """
    n_maps, n_fix = len(flat), len(pixels)
    counts = np.bincount(n_idx, minlength=n_maps)
    lonely = np.nonzero((counts > 0) & (counts == n_fix))[0]
    if lonely.size:
        raise InputError(f"other_fixations_xy: no negatives for map {int(lonely[0])} (all fixations are on it); "
                         "expected fixations on at least two maps, or other_fixations_xy=")
    order = np.argsort(pixels, kind="stable")          # read the maps in memory order: 4x faster gathers
    column = np.empty(n_fix, dtype=np.intp)
    column[order] = np.arange(n_fix)                   # fixation j's column among the sorted pixels
    pixels = pixels[order]
    starts = np.concatenate([[0], np.cumsum(counts)])
    slot = np.arange(n_fix) - starts[n_idx]
    width = int(counts.max())
    out = np.empty(n_fix)
    step = max(1, _BLOCK_VALUES // n_fix)
    for first in range(0, n_maps, step):
        last = min(n_maps, first + step)
        fixes = np.arange(starts[first], starts[last])
        if not fixes.size:
            continue
        values = np.take(flat[first:last], pixels, axis=1)                    # (maps, all fixations)
        local = n_idx[fixes] - first
        own = np.full((last - first, width), np.inf)                          # padding sorts last
        own[local, slot[fixes]] = values[local, column[fixes]]
        everything = torch.from_numpy(np.sort(values, axis=1))
        own_sorted = torch.from_numpy(np.sort(own, axis=1))
        query = torch.from_numpy(own)
        below = (torch.searchsorted(everything, query) - torch.searchsorted(own_sorted, query)).numpy()
        upto = (torch.searchsorted(everything, query, right=True)
                - torch.searchsorted(own_sorted, query, right=True)).numpy()
        n_negative = (n_fix - counts[first:last])[:, None]
        ranks = (below + 0.5 * (upto - below)) / n_negative
        out[fixes] = ranks[local, slot[fixes]]
    return out
