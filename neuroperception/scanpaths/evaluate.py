"""Score a scanpath model against human scanpaths, next to the centre and random baselines.

:func:`random_scanpaths` and :func:`center_scanpaths` are the chance and centre-bias scanpaths a
model has to beat; :func:`evaluate_scanpath_model` runs the comparison.

For every image, each model scanpath is compared with every human scanpath on that image by each
metric of :mod:`neuroperception.scanpaths.scanpath_metrics`; the comparisons are averaged per image,
and the table reports the mean and standard error across images. The baselines get as many fixations
as the model made on each image, so length alone cannot win. With two or more observers per image
the human row (each observer against the others) shows the ceiling.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._docs import fill_doc
from .._validation import check_random_state, seed_from
from ..errors import AlignmentError, InputError
from .saliency_models import _images_and_ids
from .table import Scanpaths

__all__ = ["evaluate_scanpath_model", "random_scanpaths", "center_scanpaths", "DEFAULT_METRICS"]

DEFAULT_METRICS = ("multimatch", "scanmatch", "sequence_score")
_MULTIMATCH_DIMS = ("vector", "direction", "length", "position", "duration")


_SIZE_KEYWORDS = ("size",)


def _sizes_and_counts(sizes: Any, n_fixations: Any) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
    if hasattr(sizes, "images") and hasattr(sizes, "ids"):
        shape = tuple(sizes.images.shape[-2:])
        sizes = {i: shape for i in sizes.ids}
    if not isinstance(sizes, Mapping) or not sizes:
        raise InputError(f"sizes: received {type(sizes).__name__}; expected a mapping stimulus_id -> "
                         "(height, width) or an ImageSet")
    checked = {}
    for k, v in sizes.items():
        if len(v) != 2 or min(v) < 1:
            raise InputError(f"sizes[{k!r}]: received {v!r}; expected (height, width) of positive ints")
        checked[str(k)] = (int(v[0]), int(v[1]))
    counts = {str(k): v for k, v in n_fixations.items()} if isinstance(n_fixations, Mapping) \
        else {k: n_fixations for k in checked}
    for k in checked:
        v = counts.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"n_fixations: received {v!r} for image {k!r}; expected a positive int")
    return checked, counts


def _baseline(kind: str, sizes, n_fixations, n_per_image: int, random_state: int, sigma: float) -> Scanpaths:
    sizes, counts = _sizes_and_counts(sizes, n_fixations)
    if isinstance(n_per_image, bool) or not isinstance(n_per_image, (int, np.integer)) or n_per_image < 1:
        raise InputError(f"n_per_image: received {n_per_image!r}; expected a positive int")
    rng = check_random_state(random_state)
    rows, k = [], 0
    for stimulus_id, (h, w) in sizes.items():
        for _ in range(n_per_image):
            m = int(counts[stimulus_id])
            if kind == "random":
                xy = rng.uniform(0, 1, (m, 2)) * [w - 1, h - 1]
            else:
                xy = [(w - 1) / 2, (h - 1) / 2] + rng.standard_normal((m, 2)) * [sigma * w, sigma * h]
                xy = np.clip(xy, 0, [w - 1, h - 1])
            rows += [{"scanpath": k, "fixation": j, "stimulus_id": stimulus_id, "subject": kind, "x": xy[j][0],
                      "y": xy[j][1]} for j in range(m)]
            k += 1
    return Scanpaths(pd.DataFrame(rows), sizes=sizes)


@fill_doc
def random_scanpaths(sizes: Any, n_fixations: int | Mapping[str, int] = 10, n_per_image: int = 1,
                     random_state: int | np.random.Generator | None = 0) -> Scanpaths:
    """Fixations drawn uniformly over each image: the chance baseline for scanpath metrics.

    Parameters
    ----------
    sizes : mapping or ImageSet
        ``{stimulus_id: (height, width)}``.
    n_fixations : int or mapping
        Fixations per scanpath, for all images or per image id.
    n_per_image : int
        Scanpaths per image.
    %(random_state)s

    Returns
    -------
    Scanpaths
        ``subject="random"``.

    Examples
    --------
    >>> sp = random_scanpaths({"a": (20, 30)}, n_fixations=5, random_state=0)
    >>> sp.n_fixations, bool((sp.arrays()[0][:, 0] < 30).all())
    (5, True)
    """
    return _baseline("random", sizes, n_fixations, n_per_image, random_state, 0.0)


@fill_doc
def center_scanpaths(sizes: Any, n_fixations: int | Mapping[str, int] = 10, n_per_image: int = 1,
                     sigma: float = 0.1, random_state: int | np.random.Generator | None = 0) -> Scanpaths:
    """Fixations drawn from a Gaussian at the image centre: the centre-bias baseline for scanpaths.

    Parameters
    ----------
    sizes : mapping or ImageSet
        ``{stimulus_id: (height, width)}``.
    n_fixations : int or mapping
        Fixations per scanpath, for all images or per image id.
    n_per_image : int
        Scanpaths per image.
    sigma : float
        Spread as a fraction of width and height (0: every fixation exactly at the centre).
    %(random_state)s

    Returns
    -------
    Scanpaths
        ``subject="center"``; fixations are clipped into the image.

    Examples
    --------
    >>> center_scanpaths({"a": (21, 31)}, n_fixations=2, sigma=0).arrays()[0].tolist()
    [[15.0, 10.0], [15.0, 10.0]]
    """
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise InputError(f"sigma: received {sigma!r}; expected a non-negative fraction of the image size")
    return _baseline("center", sizes, n_fixations, n_per_image, random_state, float(sigma))


def _named_metric(name: str) -> Callable[[list, list, tuple[int, int]], np.ndarray]:
    """A batched ``(preds, refs, size) -> (n_pred, n_ref[, k])`` scorer for a metric of ``scanpath_metrics``."""
    from . import scanpath_metrics

    known = [n for n in scanpath_metrics.__all__ if callable(getattr(scanpath_metrics, n))
             and n not in ("pairwise_scanpath_scores", "scanmatch_substitution_matrix")]
    if name not in known:
        raise InputError(f"metrics: received unknown metric {name!r}; expected one of {known} or a callable")
    params = inspect.signature(getattr(scanpath_metrics, name)).parameters
    key = next((k for k in _SIZE_KEYWORDS if k in params), None)

    def score(preds: list, refs: list, size: tuple[int, int]) -> np.ndarray:
        kwargs = {key: size} if key else {}
        return np.asarray(scanpath_metrics.pairwise_scanpath_scores(preds, refs, metric=name, **kwargs), dtype=float)

    return score


def _callable_metric(fn: Callable[..., Any]) -> Callable[[list, list, tuple[int, int]], np.ndarray]:
    """Batch a pair metric ``fn(a, b[, size=(h, w)])`` into the scorer form."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    key = next((k for k in _SIZE_KEYWORDS if k in params), None)

    def score(preds: list, refs: list, size: tuple[int, int]) -> np.ndarray:
        kwargs = {key: size} if key else {}
        return np.array([[np.asarray(fn(a, b, **kwargs), dtype=float) for b in refs] for a in preds])

    return score


def _columns(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    """``(n_pred, n_ref[, k])`` scores as named ``(n_pred, n_ref)`` columns (MultiMatch: its five dimensions)."""
    if values.ndim == 2:
        return {name: values}
    if name == "multimatch" and values.shape[-1] == len(_MULTIMATCH_DIMS):
        return {f"{name}_{d}": values[..., k] for k, d in enumerate(_MULTIMATCH_DIMS)}
    return {f"{name}_{k}": values[..., k] for k in range(values.shape[-1])}


def _by_image(sp: Scanpaths, with_duration: bool) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for (meta, _), arr in zip(sp, sp.arrays(with_duration=with_duration)):
        out.setdefault(str(meta["stimulus_id"]), []).append(arr)
    return out


def _fill_durations(paths: dict[str, list[np.ndarray]], duration: float) -> dict[str, list[np.ndarray]]:
    """Give model/baseline fixations (no durations) a constant duration so duration-aware metrics run."""
    return {k: [np.column_stack([p[:, :2], np.where(np.isfinite(p[:, 2]), p[:, 2], duration)]) for p in v]
            for k, v in paths.items()}


def _score_pairs(metrics: dict[str, Callable], preds: list[np.ndarray], refs: list[np.ndarray],
                 size: tuple[int, int], skip_same: bool = False) -> dict[str, float]:
    """Each prediction's mean score over the references, then the mean over predictions, per column."""
    out = {}
    for name, scorer in metrics.items():
        for col, vals in _columns(name, scorer(preds, refs, size)).items():
            vals = vals.astype(float, copy=True)
            if skip_same:
                np.fill_diagonal(vals, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (e.g. MultiMatch on < 3 fixations)
                out[col] = float(np.nanmean(np.nanmean(vals, axis=1)))
    return out


def _predict(model: Any, images: Any, ids: list[str], captions: Any, human: Scanpaths) -> tuple[Scanpaths, str]:
    if isinstance(model, Scanpaths):
        subjects = model.table["subject"].unique()
        return model, str(subjects[0]) if len(subjects) == 1 and subjects[0] else "model"
    if not hasattr(model, "predict"):
        raise InputError(f"model: received {type(model).__name__}; expected an object with predict(images, ...) "
                         "returning Scanpaths (NevaClip, NeVA, VisualSearch...) or a precomputed Scanpaths")
    name = type(model).__name__
    params = inspect.signature(model.predict).parameters
    kwargs = {"stimulus_id": ids} if "stimulus_id" in params else {}
    if "captions" in params:
        if captions is None:
            tasks = human.table.groupby("stimulus_id", sort=False)["task"].first().to_dict()
            empty = [i for i in ids if not tasks.get(i)]
            if empty:
                raise InputError(f"captions: received None and the human scanpaths of {empty[:5]} have no task; "
                                 "expected captions (a string, one per image or {stimulus_id: caption})")
            captions = {i: tasks[i] for i in ids}
        return model.predict(images, captions, **kwargs), name
    return model.predict(images, **kwargs), name


@fill_doc
def evaluate_scanpath_model(model: Any, images: Any, human: Scanpaths, captions: Any = None,
                            metrics: Sequence[str | Callable] = DEFAULT_METRICS,
                            baselines: Sequence[str] = ("center", "random"), *,
                            stimulus_id: Sequence[str] | None = None,
                            human_size: tuple[int, int] | None = None, n_baseline: int = 5,
                            include_human: bool = True, fixation_duration: float = 250.0,
                            random_state: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """Compare a model's scanpaths with human ones, next to baselines: mean ± sem per metric.

    Parameters
    ----------
    model : object with ``predict`` or Scanpaths
        A scanpath model (:class:`~neuroperception.scanpaths.neva.NevaClip`, ``NeVA``, ...) run on
        ``images`` here, or its scanpaths already computed (in the images' pixel frame).
    images : ImageSet, torch.Tensor or array
        The stimuli, ``(N, 3, h, w)``; ids from the ImageSet or ``stimulus_id``.
    human : Scanpaths
        Human scanpaths; every image id must have at least one.
    captions : str, sequence or mapping, optional
        For caption-driven models; default: the human scanpaths' ``task`` per image (for
        COCO-Search18 the target category).
    metrics : sequence of str or callable
        Names in :mod:`~neuroperception.scanpaths.scanpath_metrics` (``"multimatch"`` gives five
        columns, one per dimension; ``"dtw"``, ``"scanmatch"``, ``"sequence_score"``,
        ``"string_edit_distance"``, ``"sbtde"``) or callables ``f(a, b)`` on ``(n, 2|3)`` arrays
        returning a number (a ``size`` keyword, when taken, receives the
        human frame's ``(height, width)``). Similarities and distances are reported as the metric
        gives them: check each metric's direction.
    baselines : sequence of {"center", "random"}
        Baseline scanpaths with the model's number of fixations per image.
    stimulus_id : sequence of str, optional
        Ids for tensor images.
    human_size : (height, width), optional
        The frame of the human fixations (e.g. COCO-Search18's 1050 x 1680 display). Model
        scanpaths are scaled from the images' size into it. Default: ``human.sizes`` when
        they hold the images, else the images' own size.
    n_baseline : int
        Baseline scanpaths per image (their scores are averaged).
    include_human : bool
        Add a ``"human"`` row (each observer against the others) where an image has two or more.
    fixation_duration : float
        Duration (ms) given to model and baseline fixations for duration-aware metrics.
    %(random_state)s
        It seeds the baselines.

    Returns
    -------
    pandas.DataFrame
        Long format: ``model``, ``metric``, ``mean``, ``sem``, ``n_images``; one row per
        (model or baseline, metric column). ``df.pivot(index="model", columns="metric", values="mean")``
        gives the usual wide table.

    Raises
    ------
    AlignmentError
        An image without human scanpaths.
    InputError
        Unknown metric or baseline names, a model without ``predict``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from neuroperception.scanpaths import Scanpaths
    >>> human = Scanpaths.from_arrays([np.array([[5.0, 5.0], [25.0, 25.0]])] * 2, ["a", "a"], ["s1", "s2"])
    >>> model = Scanpaths.from_arrays([np.array([[6.0, 5.0], [24.0, 26.0]])], ["a"], ["mine"])
    >>> dist = lambda a, b: float(np.abs(a[:, :2] - b[:, :2]).mean())
    >>> df = evaluate_scanpath_model(model, torch.rand(1, 3, 32, 32), human, metrics=[dist], stimulus_id=["a"])
    >>> df.set_index("model").loc[["mine", "human"], "mean"].tolist()
    [0.75, 0.0]
    """
    seed = seed_from(random_state)  # one seed for both baselines
    x, ids = _images_and_ids(images, stimulus_id)
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if isinstance(human, Scanpaths):
        human_by_image = _by_image(human.select(stimulus_id=ids), True)
    else:
        raise InputError(f"human: received {type(human).__name__}; expected Scanpaths (see scanpaths.readers)")
    missing = [i for i in ids if i not in human_by_image]
    if missing:
        raise AlignmentError(f"human: no scanpaths for image ids {missing[:5]} ({len(missing)} of {len(ids)}); "
                             f"expected every image to have some (human ids look like {sorted(human_by_image)[:3]})")
    bad = [b for b in baselines if b not in ("center", "random")]
    if bad:
        raise InputError(f"baselines: received {bad}; expected 'center' and/or 'random'")
    if isinstance(metrics, (str, bytes)) or callable(metrics):
        metrics = [metrics]
    if not metrics:
        raise InputError("metrics: received an empty list; expected at least one metric")
    fns = {}
    for m in metrics:
        if isinstance(m, str):
            fns[m] = _named_metric(m)
        elif callable(m):
            fns[getattr(m, "__name__", "metric").replace("<lambda>", "metric")] = _callable_metric(m)
        else:
            raise InputError(f"metrics: received {m!r}; expected metric names or callables")
    if human_size is None:
        known = {human.sizes.get(i) for i in ids}
        human_size = known.pop() if len(known) == 1 and None not in known else (h, w)
    hh, hw = int(human_size[0]), int(human_size[1])

    pred, name = _predict(model, images, ids, captions, human)
    pred = pred.select(stimulus_id=ids).rescale(from_size=(h, w), to_size=(hh, hw))
    pred_by_image = _by_image(pred, True)
    missing = [i for i in ids if i not in pred_by_image]
    if missing:
        raise AlignmentError(f"model: produced no scanpath for image ids {missing[:5]}; expected one or more per image")
    runs = {name: _fill_durations(pred_by_image, fixation_duration)}
    counts = {i: max(1, int(round(np.mean([len(p) for p in pred_by_image[i]])))) for i in ids}
    sizes = {i: (hh, hw) for i in ids}
    for b in baselines:
        maker = center_scanpaths if b == "center" else random_scanpaths
        sp = maker(sizes, n_fixations=counts, n_per_image=n_baseline, random_state=seed)
        runs[b] = _fill_durations(_by_image(sp, True), fixation_duration)

    rows = []
    per_image: dict[str, dict[str, list[float]]] = {}
    for i in ids:  # durations only where every observer has them; else compare positions only
        if not all(np.isfinite(p[:, 2]).all() for p in human_by_image[i]):
            human_by_image[i] = [p[:, :2] for p in human_by_image[i]]
            for paths in runs.values():
                paths[i] = [p[:, :2] for p in paths[i]]
    for run, paths in runs.items():
        for i in ids:
            for col, v in _score_pairs(fns, paths[i], human_by_image[i], (hh, hw)).items():
                per_image.setdefault(run, {}).setdefault(col, []).append(v)
    if include_human:
        for i in ids:
            if len(human_by_image[i]) >= 2:
                refs = human_by_image[i]
                for col, v in _score_pairs(fns, refs, refs, (hh, hw), skip_same=True).items():
                    per_image.setdefault("human", {}).setdefault(col, []).append(v)
    for run, cols in per_image.items():
        for col, vals in cols.items():
            arr = np.asarray(vals, dtype=float)
            arr = arr[np.isfinite(arr)]
            n = arr.size
            sem = float(arr.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
            rows.append({"model": run, "metric": col, "mean": float(arr.mean()) if n else float("nan"),
                         "sem": sem, "n_images": n})
    return pd.DataFrame(rows, columns=["model", "metric", "mean", "sem", "n_images"])
