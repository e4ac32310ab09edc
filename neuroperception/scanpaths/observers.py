"""Simulated observers who look at the miniature world's scenes: free viewing, caption-guided viewing
and visual search, with a planted, known policy.

Each observer starts at the image centre and then draws every next fixation from a priority map
(not the winner of it, so observers differ). The map is the scene's priority

* **what is in the scene**: each object is a blob of mass over its visible pixels, peaked at their
  centroid (σ a quarter of its size: people land near an object's centre); free viewing spreads
  80 % of the mass over the objects in proportion to size × visible fraction, 20 % evenly over the
  image;
* **the task**: the objects a caption names (parsed with the world's grammar by
  :func:`named_objects`) or those of the searched category get ``guidance`` of the mass, shared
  equally, and the free-viewing map the rest;

times

* **centre bias**: a Gaussian at the image centre (σ 0.3 of width and height);
* **saccade amplitude**: ``exp(-d / θ)`` of the distance from the current fixation (θ 0.15 of the
  image's longer side; alone, it would make amplitudes gamma distributed, shape 2, mean 2θ);
* **inhibition of return**: every earlier fixation ``j`` multiplies the map by
  ``1 - ior · 0.85**age · exp(-d² / 2r²)`` (r 0.08 of the longer side, ``age`` fixations since).

Fixation durations are gamma distributed (shape 4, mean 250 ms), 20 % longer on a named object;
saccades take 30 ms. Search scanpaths end on the first fixation that lands on a target object.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError
from ..world import CATEGORIES, COLOURS, SIZES, TEXTURES, WorldScenes
from .table import Scanpaths

__all__ = ["simulate_scanpaths", "named_objects"]

_BACKGROUND = 0.2  # share of the free-viewing mass on the background
_BLOB = 0.25  # object blob σ as a fraction of the object's size
_CENTRE_SIGMA = 0.3  # centre bias σ as a fraction of width / height
_AMPLITUDE = 0.15  # θ of the amplitude prior, fraction of the longer side
_IOR_RADIUS = 0.08  # fraction of the longer side
_IOR_DECAY = 0.85  # per fixation since
_DURATION_SHAPE, _DURATION_MEAN = 4.0, 250.0  # gamma, ms
_NAMED_LONGER = 1.2
_SACCADE_MS = 30.0
_BLOCK = 4_000_000  # priority-map elements per batch of scanpaths
_PLURALS = {c + ("es" if c.endswith(("s", "x", "ch", "sh")) else "s"): c for c in CATEGORIES}
_STOP = {"a", "an", "and", "of", "left", "right", "above", "below", "two", "three", "four", "five", "the"}


def named_objects(caption: str, objects: pd.DataFrame) -> np.ndarray:
    """Which of a scene's objects a caption of the world's grammar names.

    Every category word of the caption (``"star"``, or ``"stars"`` in a count caption) names the
    objects of that category whose colour, texture and size class agree with the words just before
    it (up to an article, number, ``"and"`` or relation word). A target category alone names all
    objects of that category.

    Parameters
    ----------
    caption : str
        A caption (``"a red star above a small blue ring"``) or a category name (``"star"``).
    objects : pandas.DataFrame
        The scene's rows of :attr:`WorldScenes.objects <neuroperception.world.WorldScenes.objects>`.

    Returns
    -------
    numpy.ndarray
        bool, one per row of ``objects``.

    Examples
    --------
    >>> import pandas as pd
    >>> objs = pd.DataFrame({"category": ["star", "ring", "star"], "colour": ["red", "blue", "green"],
    ...                      "texture": ["plain", "plain", "dotted"], "size_name": ["large", "small", "small"]})
    >>> named_objects("a red star above a blue ring", objs).tolist()
    [True, True, False]
    >>> named_objects("two stars", objs).tolist(), named_objects("a small green dotted star", objs).tolist()
    ([True, False, True], [False, False, True])
    """
    if not isinstance(caption, str):
        raise InputError(f"caption: received {type(caption).__name__}; expected a caption or a category name")
    words = re.findall(r"[a-z-]+", caption.lower())
    found = np.zeros(len(objects), dtype=bool)
    cat = objects["category"].to_numpy()
    attrs = {"colour": (objects["colour"].to_numpy(), set(COLOURS)),
             "texture": (objects["texture"].to_numpy(), set(TEXTURES)),
             "size_name": (objects["size_name"].to_numpy(), set(SIZES))}
    for i, w in enumerate(words):
        category = w if w in CATEGORIES else _PLURALS.get(w)
        if category is None:
            continue
        match = cat == category
        j = i - 1
        while j >= 0 and words[j] not in _STOP and words[j] not in CATEGORIES and words[j] not in _PLURALS:
            for values, names in attrs.values():
                if words[j] in names:
                    match &= values == words[j]
            j -= 1
        found |= match
    return found


def _tasks(task: Any, ids: list[str]) -> list[str | None]:
    if task is None:
        return [None] * len(ids)
    if isinstance(task, str):
        return [task] * len(ids)
    if isinstance(task, pd.Series):
        task = task.to_dict()
    if isinstance(task, Mapping):
        missing = [i for i in ids if i not in task]
        if missing:
            raise InputError(f"task: no caption or target for scenes {missing[:5]}; expected one per scene id")
        return [str(task[i]) for i in ids]
    if isinstance(task, Sequence) and len(task) == len(ids) and all(isinstance(t, str) for t in task):
        return list(task)
    n = len(task) if hasattr(task, "__len__") else "?"
    raise InputError(f"task: received {type(task).__name__} of length {n}; expected None (free viewing), a caption "
                     f"or category name, one per scene ({len(ids)}), or a mapping stimulus_id -> caption/category")


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name}: received {value!r}; expected an int >= {minimum}")
    return int(value)


def _check_fraction(value, name: str, upper_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or value > 1 or (upper_open and value == 1):
        raise InputError(f"{name}: received {value!r}; expected a number in [0, 1{')' if upper_open else ']'}")
    return float(value)


def _blobs(masks: np.ndarray, sizes: np.ndarray) -> list[np.ndarray | None]:
    """Each object's visible pixels weighted by a Gaussian at their centroid (σ ``_BLOB`` of its size), summing to 1."""
    h, w = masks.shape[-2:]
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for m, size in zip(masks, sizes):
        if not m.any():
            out.append(None)
            continue
        cy, cx = yy[m].mean(), xx[m].mean()
        b = m * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (_BLOB * size) ** 2))
        out.append(b / b.sum())
    return out


def _static_maps(scenes: WorldScenes, rows: list[pd.DataFrame], named: list[np.ndarray], guidance: float):
    """``(N, H, W)`` priority of what is in each scene and what the task names, each map summing to 1."""
    n, h, w = len(rows), *scenes.masks.shape[-2:]
    out = np.empty((n, h, w))
    for i, objs in enumerate(rows):
        blobs = _blobs(scenes.masks[i, objs["object"].to_numpy()], objs["size_px"].to_numpy(float))
        drive = (objs["size_px"] * objs["visible_fraction"]).to_numpy(float)
        seen = [k for k, b in enumerate(blobs) if b is not None]
        free = np.full((h, w), 1.0 / (h * w))
        if seen:
            free *= _BACKGROUND
            total = drive[seen].sum()
            for k in seen:
                free += (1 - _BACKGROUND) * drive[k] / total * blobs[k]
        hits = [k for k in seen if named[i][k]]
        task = sum(blobs[k] for k in hits) / len(hits) if hits else 0.0
        out[i] = guidance * task + (1 - guidance) * free if hits else free
    return out


def _bump(xy: np.ndarray, h: int, w: int, radius: float) -> np.ndarray:
    """``(B, H * W)`` Gaussians of σ ``radius`` at the points ``xy`` (``(B, 2)``), as separable products."""
    gx = np.exp(-0.5 * ((np.arange(w, dtype=np.float32) - xy[:, :1]) / radius) ** 2)
    gy = np.exp(-0.5 * ((np.arange(h, dtype=np.float32) - xy[:, 1:]) / radius) ** 2)
    return (gy[:, :, None] * gx[:, None, :]).reshape(len(xy), -1).astype(np.float32)


def _walk(base: np.ndarray, xy: np.ndarray, h: int, w: int, ior: float, rng: np.random.Generator) -> np.ndarray:
    """Draw fixations ``1 ...`` of ``xy`` (``(B, T, 2)``, fixation 0 given) from the priority maps ``base``."""
    side = max(h, w)
    yy, xx = (g.ravel().astype(np.float32) for g in np.mgrid[0:h, 0:w])
    bumps = []
    for k in range(1, xy.shape[1]):
        prev = xy[:, k - 1].astype(np.float32)
        bumps.append(_bump(prev, h, w, _IOR_RADIUS * side))
        d = np.sqrt((xx - prev[:, :1]) ** 2 + (yy - prev[:, 1:]) ** 2)
        p = base * np.exp(-d / np.float32(_AMPLITUDE * side))
        for j, g in enumerate(bumps):
            p *= 1 - np.float32(ior * _IOR_DECAY ** (k - 1 - j)) * g
        cdf = np.cumsum(p, axis=1)
        u = (rng.random(len(p)) * cdf[:, -1]).astype(np.float32)
        pick = np.minimum((cdf < u[:, None]).sum(1), p.shape[1] - 1)  # inverse-CDF draw per row
        jitter = rng.random((len(p), 2)) - 0.5
        xy[:, k, 0] = np.clip(xx[pick] + jitter[:, 0], 0, w - 1)
        xy[:, k, 1] = np.clip(yy[pick] + jitter[:, 1], 0, h - 1)
    return xy


@fill_doc
def simulate_scanpaths(scenes: WorldScenes, *, task: Any = None, n_observers: int = 10, n_fixations: int = 8,
                       guidance: float = 0.8, ior: float = 0.9, random_state: int | np.random.Generator | None = 0) -> Scanpaths:
    """Scanpaths of simulated observers over world scenes: free viewing, caption-guided or search.

    The observers' policy is planted and known (see :mod:`neuroperception.scanpaths.observers`):
    fixations go to the objects the task names (with probability set by ``guidance``), to the other
    objects in proportion to their size and visibility, and rarely to the background, under a
    centre bias, a saccade-amplitude prior and inhibition of return; durations are drawn from a
    gamma distribution with mean 250 ms.

    Parameters
    ----------
    scenes : WorldScenes
        Scenes from :func:`~neuroperception.world.render_scenes`.
    task : None, str, sequence of str or mapping
        None: free viewing. A caption (``"a red star above a blue ring"``, parsed by
        :func:`named_objects`) or a category name (``"star"``: search for it), for all scenes, one
        per scene, or a mapping (or pandas Series) ``stimulus_id -> caption or category``, e.g.
        ``scenes.table().set_index("stimulus_id")["caption"]``.
    n_observers : int
        Observers (``subject`` ``observer00``, ...); each views every scene once.
    n_fixations : int
        Fixations per scanpath after the initial one at the centre (at most, for search, which
        stops on the target).
    guidance : float
        Share in ``[0, 1]`` of the priority on the named objects when a scene has some (0: the task
        is ignored).
    ior : float
        Strength in ``[0, 1)`` of inhibition of return at a just-left fixation (0: none).
    %(random_state)s

    Returns
    -------
    Scanpaths
        One scanpath per (scene, observer): ``subject``, ``task`` (the caption or category, ``""``
        for free viewing), ``condition`` (``"free viewing"``, ``"caption"`` or ``"search"``),
        ``x, y`` (pixels), ``onset`` and ``duration`` (ms), and the extra columns ``object`` (the
        index of the object under the fixation, -1 on the background) and ``named`` (whether the
        task names that object). ``attrs`` hold the settings.

    Raises
    ------
    InputError
        Scenes that are not a ``WorldScenes``, a task per scene missing or of the wrong length,
        out-of-range counts or fractions.

    Examples
    --------
    >>> from neuroperception.world import render_scenes
    >>> scenes = render_scenes(3, n_objects=2, random_state=0)
    >>> sp = simulate_scanpaths(scenes, task="a dotted heart", n_observers=2, n_fixations=4)
    >>> len(sp), sp.n_fixations, sorted(set(sp.meta["condition"]))
    (6, 30, ['caption'])
    >>> sp.arrays()[0][0].tolist()  # every scanpath starts at the centre
    [31.5, 31.5]
    """
    if not isinstance(scenes, WorldScenes):
        raise InputError(f"scenes: received {type(scenes).__name__}; expected WorldScenes (render_scenes)")
    n_observers = _check_int(n_observers, "n_observers", 1)
    n_fixations = _check_int(n_fixations, "n_fixations", 1)
    guidance = _check_fraction(guidance, "guidance")
    ior = _check_fraction(ior, "ior", upper_open=True)
    ids = list(scenes.ids)
    tasks = _tasks(task, ids)
    n, h, w = len(ids), *scenes.masks.shape[-2:]
    groups = scenes.objects.groupby("stimulus_id", sort=False)
    rows = [groups.get_group(s) if s in groups.groups else scenes.objects.iloc[:0] for s in ids]
    named = [named_objects(t, r) if t is not None else np.zeros(len(r), dtype=bool) for t, r in zip(tasks, rows)]
    kind = ["free viewing" if t is None else "search" if t in CATEGORIES else "caption" for t in tasks]
    static = _static_maps(scenes, rows, named, guidance)
    seed = seed_from(random_state)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    centre = np.exp(-0.5 * (((xx - (w - 1) / 2) / (_CENTRE_SIGMA * w)) ** 2
                            + ((yy - (h - 1) / 2) / (_CENTRE_SIGMA * h)) ** 2))
    scene = np.repeat(np.arange(n), n_observers)
    b = len(scene)
    xy = np.zeros((b, n_fixations + 1, 2))
    xy[:, 0] = [(w - 1) / 2, (h - 1) / 2]
    base = (static * centre).reshape(n, -1).astype(np.float32)
    step = max(1, _BLOCK // (h * w * (n_fixations + 2)))
    for a in range(0, b, step):
        xy[a:a + step] = _walk(base[scene[a:a + step]], xy[a:a + step], h, w, ior, rng)
    px = np.clip(np.rint(xy).astype(int), 0, [w - 1, h - 1])
    masks = scenes.masks[scene[:, None], :, px[..., 1], px[..., 0]]  # (b, T, max_objects)
    obj = np.where(masks.any(-1), masks.argmax(-1), -1)
    by_object = np.zeros((n, scenes.masks.shape[1] + 1), dtype=bool)  # last column: the background (-1)
    for i, (r, nm) in enumerate(zip(rows, named)):
        by_object[i, r["object"].to_numpy()] = nm
    named_fix = by_object[scene[:, None], obj]  # (b, T)
    t = n_fixations + 1
    search = np.array([k == "search" for k in kind])[scene]
    first = np.where(named_fix[:, 1:].any(1), 1 + named_fix[:, 1:].argmax(1), t - 1)
    keep = ~search[:, None] | (np.arange(t) <= first[:, None])  # search ends on the first target fixation
    dur = rng.gamma(_DURATION_SHAPE, _DURATION_MEAN / _DURATION_SHAPE, (b, t))
    dur = np.where(named_fix, dur * _NAMED_LONGER, dur)
    onset = np.concatenate([np.zeros((b, 1)), np.cumsum(dur[:, :-1] + _SACCADE_MS, axis=1)], axis=1)
    path, fix = np.nonzero(keep)
    width = max(2, len(str(n_observers - 1)))
    subjects = np.array([f"observer{k:0{width}d}" for k in range(n_observers)], dtype=object)
    tasks_arr = np.array([t_ or "" for t_ in tasks], dtype=object)
    table = pd.DataFrame({
        "scanpath": path, "fixation": fix, "stimulus_id": np.asarray(ids, dtype=object)[scene[path]],
        "subject": subjects[path % n_observers], "x": xy[path, fix, 0], "y": xy[path, fix, 1],
        "onset": onset[path, fix], "duration": dur[path, fix], "task": tasks_arr[scene[path]],
        "condition": np.asarray(kind, dtype=object)[scene[path]], "object": obj[path, fix],
        "named": named_fix[path, fix]})
    sp = Scanpaths(table, {i: (h, w) for i in ids})
    sp.table.attrs.update({"model": "simulate_scanpaths", "guidance": guidance, "ior": ior,
                           "n_observers": n_observers, "random_state": seed})
    return sp
