"""The search-asymmetry experiment of Gupta et al. (2021): fixations to find a target against set size.

Finding A among B can be much easier than finding B among A (a Q among Os pops out, an O among
Qs does not). The experiment runs a search model on arrays of both directions of each pair, turns
fixations into reaction times with eccNET's linear mapping, fits a slope of reaction time against
set size per condition, and scores each pair with the paper's **asymmetry index**.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError
from ..stimuli.search_arrays import SHAPES, search_array

__all__ = ["search_asymmetry_experiment", "asymmetry_index", "AsymmetryResult", "DEFAULT_PAIRS",
           "HUMAN_ASYMMETRY_INDEX", "ECCNET_ASYMMETRY_INDEX", "RT_SLOPE_MS", "RT_INTERCEPT_MS"]

#: Mean asymmetry index of human observers over the six experiments, as reported by Gupta et al. (2021).
HUMAN_ASYMMETRY_INDEX = 0.564
#: Mean asymmetry index of eccNET (ImageNet VGG-16) over the same experiments, as reported there.
ECCNET_ASYMMETRY_INDEX = 0.513
#: eccNET's mapping from fixations to reaction time: ``rt_ms = RT_SLOPE_MS * n + RT_INTERCEPT_MS``.
RT_SLOPE_MS = 252.359
RT_INTERCEPT_MS = 376.271
#: ``(target, distractor)`` of the condition humans find easier; the reverse is the harder one.
DEFAULT_PAIRS = (("Q", "O"), ("tilted", "vertical"), ("curved", "straight"))


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept in closed form: exactly 0 for a flat line (``np.polyfit``'s
    solver leaves a rounding residue there, e.g. ``-1e-14``, whose sign depends on the LAPACK build)."""
    dx = x - x.mean()
    slope = float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))
    return slope, float(y.mean() - slope * x.mean())


def asymmetry_index(slope_hard: float, slope_easy: float) -> float:
    """eccNET's asymmetry index of one pair: ``(s_H - s_L) / (s_H + s_L)`` with slopes clipped at zero.

    ``s_H`` is the reaction-time slope (ms per item) of the condition that is harder *for humans*,
    ``s_L`` that of the easier one, each replaced by ``max(0, s)``; the index is 0 when both are 0.
    It lies in ``[-1, 1]``: 1 when only the human-harder condition slows with set size, negative
    when the model's asymmetry has the opposite polarity to the humans'.

    Examples
    --------
    >>> asymmetry_index(30.0, 10.0)
    0.5
    >>> asymmetry_index(-5.0, 0.0)
    0.0
    """
    hard, easy = max(0.0, float(slope_hard)), max(0.0, float(slope_easy))
    return 0.0 if hard + easy == 0 else (hard - easy) / (hard + easy)


@dataclass
class AsymmetryResult:
    """What :func:`search_asymmetry_experiment` returns.

    Attributes
    ----------
    trials : pandas.DataFrame
        One row per display: ``pair, condition, difficulty ("easy"/"hard" for humans), target,
        distractor, set_size, stimulus_id, n_fixations, found, rt_ms``.
    conditions : pandas.DataFrame
        One row per condition and set size: mean ``n_fixations``, mean ``rt_ms`` and its ``sem``,
        ``found`` (fraction of displays where the target was found).
    slopes : pandas.DataFrame
        One row per condition: ``slope_ms_per_item``, ``intercept_ms``.
    pairs : pandas.DataFrame
        One row per pair: ``slope_easy``, ``slope_hard`` and the pair's ``asymmetry_index``.
    asymmetry_index : float
        Mean of the pairs' indices.
    reference : dict
        The published means: humans and eccNET.

    Examples
    --------
    A toy model that finds a Q at once but checks every item to find an O: only the human-harder
    condition slows with set size (one fixation, 252.359 ms, per item), so the index is 1:

    >>> class QPopsOut:
    ...     def search(self, images, targets, target_boxes, item_boxes=None):
    ...         return None, [1 if i.startswith("search/Q-among") else len(b) for i, b in zip(images.ids, item_boxes)]
    >>> res = search_asymmetry_experiment(QPopsOut(), pairs=[("Q", "O")], set_sizes=(2, 4), n_trials=1, size=64)
    >>> res.pairs[["slope_easy", "slope_hard"]].round(3).values.tolist(), round(res.asymmetry_index, 6)
    ([[0.0, 252.359]], 1.0)
    >>> res.summary()["asymmetry_index"].round(3).tolist()   # beside humans' and eccNET's published means
    [1.0, 0.564, 0.513]
    """

    trials: pd.DataFrame
    conditions: pd.DataFrame
    slopes: pd.DataFrame
    pairs: pd.DataFrame
    asymmetry_index: float
    reference: dict = field(default_factory=lambda: {"humans (Gupta et al. 2021)": HUMAN_ASYMMETRY_INDEX,
                                                     "eccNET (Gupta et al. 2021)": ECCNET_ASYMMETRY_INDEX})

    def summary(self) -> pd.DataFrame:
        """The model's mean asymmetry index beside the published human and eccNET values."""
        rows = [{"source": "this model", "asymmetry_index": self.asymmetry_index}]
        rows += [{"source": k, "asymmetry_index": v} for k, v in self.reference.items()]
        return pd.DataFrame(rows)

    def figure(self, y: str = "rt_ms"):
        """Reaction-time (or fixation) curves against set size, one panel per pair."""
        from ..plotting.search import plot_search_slopes

        return plot_search_slopes(self.conditions, y=y, error="sem" if y == "rt_ms" else None)

    def index_figure(self):
        """Bars of each pair's index and the mean, beside the published references."""
        from ..plotting.search import plot_asymmetry_index

        values = dict(zip(self.pairs["pair"], self.pairs["asymmetry_index"]))
        values["mean"] = self.asymmetry_index
        return plot_asymmetry_index(values, reference=self.reference)


def _check_pairs(pairs) -> list[tuple[str, str]]:
    out = []
    for p in pairs:
        if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(s in SHAPES for s in p) and p[0] != p[1]):
            raise InputError(f"pairs: received {p!r}; expected (easy target, its distractor) tuples of two "
                             f"different shapes from {list(SHAPES)}")
        out.append((str(p[0]), str(p[1])))
    if not out:
        raise InputError("pairs: received no pairs; expected at least one (target, distractor) tuple")
    return out


@fill_doc
def search_asymmetry_experiment(model, pairs: Sequence[tuple[str, str]] = DEFAULT_PAIRS,
                                set_sizes: Sequence[int] = (4, 8, 16), n_trials: int = 10, size: int = 160,
                                item_size: int | None = None, use_items: bool = True,
                                random_state: int | np.random.Generator | None = 0) -> AsymmetryResult:
    """Run a search model on both directions of each pair and score its search asymmetry.

    For every pair ``(A, B)`` (A among B is the condition *humans* find easier) and every set size,
    ``n_trials`` displays of A among B and of B among A are searched. Fixations to find the target
    (a display where it is not found counts as ``set_size``, as in eccNET's analysis) become
    reaction times ``rt = 252.359 * n + 376.271`` ms (eccNET's fit of human RTs to fixations). A
    least-squares line of mean RT against set size gives each condition's slope; each pair's index
    is :func:`asymmetry_index` (``(s_H - s_L) / (s_H + s_L)``, slopes clipped at zero, H the
    human-harder condition) and the model's asymmetry index is their mean. Gupta et al. (2021)
    report means of 0.564 for humans and 0.513 for eccNET over their six experiments
    (:data:`HUMAN_ASYMMETRY_INDEX`, :data:`ECCNET_ASYMMETRY_INDEX`).

    Parameters
    ----------
    model : object with ``search``
        A :class:`~neuroperception.scanpaths.search.VisualSearch`,
        :class:`~neuroperception.scanpaths.search.RandomSearch` or any object whose
        ``search(images, target_images, target_boxes, item_boxes=None)`` returns
        ``(Scanpaths, n_fixations)``.
    pairs : sequence of (str, str)
        ``(target, distractor)`` of the human-easier condition, shapes from
        :data:`~neuroperception.stimuli.search_arrays.SHAPES`.
    set_sizes : sequence of int
        At least two set sizes (a slope needs two points).
    n_trials : int
        Displays per condition and set size.
    size, item_size
        Display and item size in pixels (see :func:`~neuroperception.stimuli.search_arrays.search_array`).
    use_items : bool
        Give the model the item boxes (fixations land on items, IOR removes whole items), as in
        eccNET's array experiments.
    %(random_state)s
        It seeds the displays.

    Returns
    -------
    AsymmetryResult
        Per-trial, per-condition, per-slope and per-pair tables, the mean index, and figures.

    Raises
    ------
    InputError
        A model without ``search``, unknown shapes, fewer than two set sizes.

    Examples
    --------
    >>> from neuroperception.scanpaths.search import RandomSearch
    >>> res = search_asymmetry_experiment(RandomSearch(), pairs=[("Q", "O")], set_sizes=(2, 4),
    ...                                   n_trials=2, size=96)
    >>> res.pairs[["pair", "easy", "hard"]].values.tolist()
    [['Q/O', 'Q among O', 'O among Q']]
    >>> -1.0 <= res.asymmetry_index <= 1.0
    True
    """
    if not callable(getattr(model, "search", None)):
        raise InputError(f"model: received {type(model).__name__}; expected a search model with a "
                         "search(images, target_images, target_boxes, item_boxes=None) method")
    pairs = _check_pairs(pairs)
    set_sizes = sorted({int(k) for k in set_sizes})
    if len(set_sizes) < 2 or set_sizes[0] < 1:
        raise InputError(f"set_sizes: received {set_sizes}; expected at least two different positive set sizes")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise InputError(f"n_trials: received {n_trials!r}; expected an int >= 1")
    seeds = np.random.SeedSequence(seed_from(random_state)).generate_state(len(pairs) * 2 * len(set_sizes))
    rows, c = [], 0
    for easy_t, easy_d in pairs:
        pair = f"{easy_t}/{easy_d}"
        for difficulty, (t, d) in (("easy", (easy_t, easy_d)), ("hard", (easy_d, easy_t))):
            for k in set_sizes:
                arr = search_array(t, d, k, size=size, n=n_trials, item_size=item_size, random_state=int(seeds[c]))
                c += 1
                _, n_fix = model.search(arr.images, arr.targets, arr.target_boxes,
                                        item_boxes=arr.item_boxes if use_items else None)
                n_fix = np.asarray(n_fix, dtype=float)
                found = np.isfinite(n_fix)
                n_used = np.where(found, n_fix, float(k))
                for stimulus_id, n, f in zip(arr.ids, n_used, found):
                    rows.append({"pair": pair, "condition": f"{t} among {d}", "difficulty": difficulty,
                                 "target": t, "distractor": d, "set_size": k, "stimulus_id": stimulus_id,
                                 "n_fixations": n, "found": bool(f), "rt_ms": RT_SLOPE_MS * n + RT_INTERCEPT_MS})
    trials = pd.DataFrame(rows)
    keys = ["pair", "condition", "difficulty", "set_size"]
    g = trials.groupby(keys, sort=False)
    conditions = g.agg(n_fixations=("n_fixations", "mean"), rt_ms=("rt_ms", "mean"),
                       found=("found", "mean"), n=("rt_ms", "size")).reset_index()
    sd = g["rt_ms"].std(ddof=1).reset_index(drop=True).fillna(0.0)
    conditions["sem"] = sd.to_numpy() / np.sqrt(conditions["n"].to_numpy())
    slope_rows = []
    for (pair, cond, diff), part in conditions.groupby(["pair", "condition", "difficulty"], sort=False):
        slope, intercept = _line(part["set_size"].to_numpy(float), part["rt_ms"].to_numpy(float))
        slope_rows.append({"pair": pair, "condition": cond, "difficulty": diff,
                           "slope_ms_per_item": float(slope), "intercept_ms": float(intercept)})
    slopes = pd.DataFrame(slope_rows)
    pair_rows = []
    for pair, part in slopes.groupby("pair", sort=False):
        easy = part[part["difficulty"] == "easy"].iloc[0]
        hard = part[part["difficulty"] == "hard"].iloc[0]
        pair_rows.append({"pair": pair, "easy": easy["condition"], "hard": hard["condition"],
                          "slope_easy": easy["slope_ms_per_item"], "slope_hard": hard["slope_ms_per_item"],
                          "asymmetry_index": asymmetry_index(hard["slope_ms_per_item"], easy["slope_ms_per_item"])})
    pair_table = pd.DataFrame(pair_rows)
    return AsymmetryResult(trials, conditions, slopes, pair_table, float(pair_table["asymmetry_index"].mean()))
