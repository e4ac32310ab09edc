"""MultiMatch (Jarodzka et al. 2010; Dewhurst et al. 2012): saccade-vector alignment on five dimensions.

Scanpaths are simplified as multimatch-gaze does, their saccades aligned by the cheapest monotone
path (a batched dynamic programme; where equally cheap paths tie, multimatch-gaze's own graph search
picks one), and five median differences along it turned into similarities. :func:`multimatch` and
:data:`MULTIMATCH_DIMENSIONS` are re-exported by :mod:`neuroperception.scanpaths.scanpath_metrics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ..errors import InputError
from ._alignment import _align, _backtrack, _chunks, _pad
from ._scanpath_inputs import _path

__all__ = ["multimatch", "MULTIMATCH_DIMENSIONS"]

MULTIMATCH_DIMENSIONS = ("vector", "direction", "length", "position", "duration")


def _saccades(path: np.ndarray) -> dict[str, list[float]]:
    x, y = path[:, 0], path[:, 1]
    dur = path[:, 2] if path.shape[1] == 3 else np.full(len(path), np.nan)
    lenx, leny = np.diff(x), np.diff(y)
    return {"x": list(x[:-1]), "y": list(y[:-1]), "lenx": list(lenx), "leny": list(leny),
            "theta": list(np.arctan2(leny, lenx)), "rho": list(np.sqrt(lenx ** 2 + leny ** 2)), "dur": list(dur)}


_SAC = ("x", "y", "lenx", "leny", "theta", "rho")


def _grouped(s: dict, t_dir: float, t_amp: float, t_dur: float, by: str) -> dict:
    """One pass of MultiMatch's simplification by direction (``by="dir"``) or amplitude (``"amp"``).

    Follows multimatch-gaze's ``simdir``/``simlen`` step for step, including how the last saccade
    is folded into the previous one by the amplitude pass.
    """
    n = len(s["lenx"])
    if n < 1:
        return s
    out: dict[str, list[float]] = {k: [] for k in (*_SAC, "dur")}
    dur = s["dur"]
    i = 0
    while i < n:
        if by == "dir":
            merge = False
            if i < n - 1:
                v1, v2 = np.array([s["lenx"][i], s["leny"][i]]), np.array([s["lenx"][i + 1], s["leny"][i + 1]])
                with np.errstate(invalid="ignore", divide="ignore"):
                    cosine = np.dot(v1, v2) / (np.linalg.norm(v1) * np.linalg.norm(v2))
                angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
                merge = angle < t_dir and dur[i + 1] < t_dur
        else:
            merge = i < n - 1 and s["rho"][i] < t_amp and (dur[i + 1] < t_dur or dur[i] < t_dur)
            if i == n - 1 and n > 1 and s["rho"][i] < t_amp and (dur[-1] < t_dur or dur[-2] < t_dur):
                vx, vy = s["lenx"][-2] + s["lenx"][-1], s["leny"][-2] + s["leny"][-1]
                out["lenx"][-1], out["leny"][-1] = vx, vy
                out["theta"][-1], out["rho"][-1] = np.arctan2(vy, vx), np.sqrt(vx ** 2 + vy ** 2)
                out["dur"].append(dur[i - 1])
                i += 1
                continue
        if merge:
            vx, vy = s["lenx"][i] + s["lenx"][i + 1], s["leny"][i] + s["leny"][i + 1]
            for key, value in (("x", s["x"][i]), ("y", s["y"][i]), ("lenx", vx), ("leny", vy),
                               ("theta", np.arctan2(vy, vx)), ("rho", np.sqrt(vx ** 2 + vy ** 2)), ("dur", dur[i])):
                out[key].append(value)
            i += 2
        else:
            for key in _SAC:
                out[key].append(s[key][i])
            out["dur"].append(dur[i])
            i += 1
    out["dur"].append(dur[-1])
    return out


def _simplified(path: np.ndarray, t_dir: float, t_amp: float, t_dur: float) -> dict:
    s = _saccades(path)
    if t_dir == 0 and t_amp == 0 and t_dur == 0:
        return s
    if path.shape[1] < 3 or np.isnan(path[:, 2]).any():
        raise InputError("multimatch: simplification thresholds need fixation durations; received scanpaths "
                         "without a duration column (n, 3)")
    length = len(s["dur"])
    while True:
        s = _grouped(_grouped(s, t_dir, t_amp, t_dur, "dir"), t_dir, t_amp, t_dur, "amp")
        if len(s["dur"]) == length:
            return s
        length = len(s["dur"])


def _masked_median(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of the first ``counts[k]`` entries of each row (the rest are NaN padding)."""
    v = np.sort(values, axis=1)
    rows = np.arange(len(v))
    return (v[rows, (counts - 1) // 2] + v[rows, counts // 2]) / 2.0


_SEARCH_CELLS = 50_000          # sources x nodes of one stacked search (its distance and predecessor rows)


def _search_graph(m: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> tuple[np.ndarray, ...]:
    """multimatch-gaze's alignment graphs of the pairs ``m[k, :n1[k], :n2[k]]``, stacked block-diagonally.

    Node ``i * n2 + j`` (plus the pair's offset) is cell (i, j). Edges as ``createdirectedgraph`` makes
    them: right, down and down-right, only right in the last row, only down in the last column and a
    zero-weight loop on the last cell, each weighted by the difference at its target cell; each row's
    edges in the same (ascending) order as the compressed matrix multimatch-gaze hands to the search.
    Returns the compressed sparse rows (data, indices, indptr) and each pair's first node.
    """
    size = n1 * n2
    offset = np.concatenate([[0], np.cumsum(size)[:-1]])
    pair = np.repeat(np.arange(len(size)), size)
    q = np.arange(int(size.sum())) - offset[pair]
    w, last_i = n2[pair], n1[pair] - 1
    i, j = q // w, q % w
    node = offset[pair] + q
    inner_i, inner_j = i < last_i, j < w - 1
    end = ~inner_i & ~inner_j
    ii, jj = np.minimum(i + 1, last_i), np.minimum(j + 1, w - 1)
    cols = np.stack([np.where(end, node, node + 1), node + w, node + w + 1], axis=1)
    weights = np.stack([np.where(end, 0.0, m[pair, i, jj]), m[pair, ii, j], m[pair, ii, jj]], axis=1)
    keep = np.stack([inner_j | end, inner_i, inner_i & inner_j], axis=1)
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    return weights[keep], cols[keep].astype(np.int32), indptr.astype(np.int32), offset


def _searched_paths(m: np.ndarray, n1: np.ndarray, n2: np.ndarray, width: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The alignment paths multimatch-gaze's search returns, laid out as :func:`._alignment._backtrack`'s.

    multimatch-gaze runs ``scipy.sparse.csgraph.dijkstra`` from cell (0, 0) and follows the
    predecessors back from the last cell. Among equally cheap predecessors that search keeps the one
    its Fibonacci heap settles first (a later one must be strictly cheaper to replace it), an order
    set by the heap's layout, not by the costs alone; so the same search runs here, on the same
    graphs with the same weights, for the pairs whose backtrack met a tie. Pairs are searched
    together, their graphs stacked block-diagonally (a few at a time: each source's search touches
    every node of the stack once): each search starts afresh and never leaves its own block, so the
    heap sees the same operations as on the pair's graph alone.
    """
    data, indices, indptr, offset = _search_graph(m, n1, n2)
    size = n1 * n2
    bounds = np.concatenate([offset, [int(size.sum())]])
    pred = np.zeros(bounds[-1], dtype=int)
    start = 0
    while start < len(size):
        stop = start + 1
        while stop < len(size) and (stop + 1 - start) * (bounds[stop + 1] - bounds[start]) <= _SEARCH_CELLS:
            stop += 1
        lo, hi = bounds[start], bounds[stop]
        a, b = indptr[lo], indptr[hi]
        block = csr_matrix((data[a:b], indices[a:b] - lo, indptr[lo:hi + 1] - a), shape=(hi - lo, hi - lo))
        _, found = dijkstra(block, directed=True, indices=offset[start:stop] - lo, return_predecessors=True)
        pred[lo:hi] = found[np.repeat(np.arange(stop - start), size[start:stop]), np.arange(hi - lo)] + lo
        start = stop
    pi, pj = np.zeros((len(size), width), dtype=int), np.zeros((len(size), width), dtype=int)
    counts = np.zeros(len(size), dtype=int)
    node, active = offset + size - 1, np.ones(len(size), dtype=bool)
    for step in range(width):
        pi[active, step], pj[active, step] = np.divmod(node[active] - offset[active], n2[active])
        counts += active
        active &= node != offset
        if not active.any():
            break
        node = np.where(active, pred[node], node)
    return pi, pj, counts


def _multimatch_pairs(sa: list[dict], sb: list[dict], ia: np.ndarray, ib: np.ndarray,
                      size: tuple[float, float]) -> np.ndarray:
    """MultiMatch for pairs ``(sa[ia[k]], sb[ib[k]])`` of simplified scanpaths: ``(P, 5)``."""
    fields = (*_SAC, "dur")
    pad_a = {f: _pad([np.asarray(s[f], float) for s in sa]) for f in fields}
    pad_b = {f: _pad([np.asarray(s[f], float) for s in sb]) for f in fields}
    na = np.array([len(s["lenx"]) for s in sa])[ia]
    nb = np.array([len(s["lenx"]) for s in sb])[ib]
    diag = np.sqrt(float(size[0]) ** 2 + float(size[1]) ** 2)
    out = np.empty((len(ia), 5))
    for idx in _chunks(na, nb):
        l1, l2 = na[idx].max(), nb[idx].max()
        a = {f: v[ia[idx], :l1] for f, v in pad_a.items() if f != "dur"}
        b = {f: v[ib[idx], :l2] for f, v in pad_b.items() if f != "dur"}
        a["dur"], b["dur"] = pad_a["dur"][ia[idx]], pad_b["dur"][ib[idx]]
        dx = np.abs(a["lenx"][:, :, None] - b["lenx"][:, None, :])
        dy = np.abs(a["leny"][:, :, None] - b["leny"][:, None, :])
        m = np.sqrt(dx ** 2 + dy ** 2)
        cost = m.copy()
        cost[:, 0, 0] = 0.0                       # the path's start costs nothing, as in the graph search
        table = _align(np.nan_to_num(cost, nan=np.inf), "path")
        pi, pj, counts, tied = _backtrack(table, na[idx], nb[idx])
        if tied.any():                            # equally cheap paths: the one multimatch-gaze's search takes
            k = np.flatnonzero(tied)
            pi[k], pj[k], counts[k] = _searched_paths(m[k], na[idx][k], nb[idx][k], pi.shape[1])
        rows = np.arange(len(idx))[:, None]
        valid = np.arange(pi.shape[1])[None, :] < counts[:, None]
        pi, pj = np.where(valid, pi, 0), np.where(valid, pj, 0)

        def along(values):
            return _masked_median(np.where(valid, values, np.nan), counts)

        ta, tb = a["theta"][rows, pi], b["theta"][rows, pj]
        ta = np.where(ta < 0, np.pi + (np.pi + ta), ta)
        tb = np.where(tb < 0, np.pi + (np.pi + tb), tb)
        angle = np.abs(ta - tb)
        angle = np.where(angle > np.pi, 2 * np.pi - angle, angle)
        da, db = a["dur"][rows, pi], b["dur"][rows, pj]
        with np.errstate(invalid="ignore", divide="ignore"):
            duration = np.abs(da - db) / np.abs(np.maximum(da, db))
        out[idx, 0] = 1 - along(m[rows, pi, pj]) / (2 * diag)
        out[idx, 1] = 1 - along(angle) / np.pi
        out[idx, 2] = 1 - along(np.abs(a["rho"][rows, pi] - b["rho"][rows, pj])) / diag
        out[idx, 3] = 1 - along(np.sqrt((a["x"][rows, pi] - b["x"][rows, pj]) ** 2
                                        + (a["y"][rows, pi] - b["y"][rows, pj]) ** 2)) / diag
        out[idx, 4] = 1 - along(duration)
    return out


def multimatch(a: Any, b: Any, size: tuple[float, float], *, amplitude_threshold: float = 0.0,
               direction_threshold: float = 0.0, duration_threshold: float = 0.0) -> np.ndarray:
    """MultiMatch similarity (Jarodzka et al. 2010; Dewhurst et al. 2012) on five dimensions.

    Each scanpath becomes a sequence of saccade vectors (simplified first when thresholds are
    given: consecutive saccades closer in angle than ``direction_threshold`` degrees, or shorter than
    ``amplitude_threshold`` pixels, are merged when the fixations between them are shorter than
    ``duration_threshold``, exactly as multimatch-gaze's ``docomparison(grouping=True, TDir, TAmp,
    TDur)``). The saccades are aligned by the cheapest monotone path through the matrix of vector
    differences, and along it the medians of five differences are normalised to similarities:
    vector (by twice the screen diagonal), direction (by π), length and position (by the diagonal),
    duration (relative to the longer fixation). Equal to ``multimatch_gaze.docomparison``.

    Parameters
    ----------
    a, b : array-like
        ``(n, 3)`` x, y, duration (or ``(n, 2)``: the duration similarity is then NaN).
    size : (float, float)
        Screen or image size in pixels, (height, width) (the order does not change the result).
    amplitude_threshold, direction_threshold, duration_threshold : float
        Simplification thresholds in pixels, degrees and the durations' unit; all 0 = none.

    Returns
    -------
    numpy.ndarray
        ``(5,)`` similarities in :data:`MULTIMATCH_DIMENSIONS` order, 1 = identical; all NaN when a
        scanpath has fewer than three fixations (as multimatch-gaze).

    Notes
    -----
    Where several alignment paths cost exactly the same (after floating-point summation: on real
    recordings a difference of 1e-14 px vanishes in a path cost of hundreds of pixels), the path is
    the one multimatch-gaze's Dijkstra search returns: pairs whose table backtrack meets such a tie
    are searched again on multimatch-gaze's graph with ``scipy.sparse.csgraph.dijkstra``, all such
    pairs of a call together. Nearly collinear saccades whose cosine rounds past 1 are merged as
    parallel (multimatch-gaze raises there), and a scanpath reduced to a single saccade is left as is
    (multimatch-gaze raises an IndexError).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[100, 100, 0.3], [300, 120, 0.2], [320, 400, 0.25], [50, 380, 0.4]])
    >>> multimatch(a, a, (768, 1024)).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    pa, pb = _path(a, "a"), _path(b, "b")
    if len(pa) < 3 or len(pb) < 3:
        return np.full(5, np.nan)
    sa = [_simplified(pa, direction_threshold, amplitude_threshold, duration_threshold)]
    sb = [_simplified(pb, direction_threshold, amplitude_threshold, duration_threshold)]
    return _multimatch_pairs(sa, sb, np.array([0]), np.array([0]), size)[0]
