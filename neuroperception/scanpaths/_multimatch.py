"""MultiMatch (Jarodzka et al. 2010; Dewhurst et al. 2012): saccade-vector alignment on five dimensions.

Scanpaths are simplified as multimatch-gaze does, their saccades aligned by the cheapest monotone
path, and five median differences along it turned into similarities. :func:`multimatch` and
:data:`MULTIMATCH_DIMENSIONS` are re-exported by :mod:`neuroperception.scanpaths.scanpath_metrics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


def _multimatch_pairs(sa: list[dict], sb: list[dict], ia: np.ndarray, ib: np.ndarray,
                      screen_size: tuple[float, float]) -> np.ndarray:
    """MultiMatch for pairs ``(sa[ia[k]], sb[ib[k]])`` of simplified scanpaths: ``(P, 5)``."""
    fields = (*_SAC, "dur")
    pad_a = {f: _pad([np.asarray(s[f], float) for s in sa]) for f in fields}
    pad_b = {f: _pad([np.asarray(s[f], float) for s in sb]) for f in fields}
    na = np.array([len(s["lenx"]) for s in sa])[ia]
    nb = np.array([len(s["lenx"]) for s in sb])[ib]
    diag = np.sqrt(float(screen_size[0]) ** 2 + float(screen_size[1]) ** 2)
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
        pi, pj, counts = _backtrack(table, na[idx], nb[idx])
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


def multimatch(a: Any, b: Any, screen_size: tuple[float, float], *, amplitude_threshold: float = 0.0,
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
    screen_size : (float, float)
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
    Where several alignment paths cost exactly the same, the one chosen can differ
    from multimatch-gaze's, whose choice depends on its graph search's heap order. Nearly collinear
    saccades whose cosine rounds past 1 are merged as parallel (multimatch-gaze raises there), and a
    scanpath reduced to a single saccade is left as is (multimatch-gaze raises an IndexError).

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
    return _multimatch_pairs(sa, sb, np.array([0]), np.array([0]), screen_size)[0]
