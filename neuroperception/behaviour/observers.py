"""Simulated observers who judge the similarity of world objects with planted attribute weights.

An observer's dissimilarity of two objects is ``D = Σ_a w_a · d_a`` over the attributes
:data:`ATTRIBUTES`, with the attribute distances

* ``shape``: 0 for the same category, else 1;
* ``colour``: the distance of the two colours in RGB over the largest distance between two of the
  world's colours (0 ... 1);
* ``texture``: 0 for the same texture, else 1;
* ``size``: the difference of the diameters (fractions of the image's shorter side) over the
  largest possible difference between a small and a large object (0 ... 1).

:func:`attribute_triplets` builds reference–A–B triplets of one-object scenes whose two chosen
attributes vary independently; :func:`simulate_judgements` answers them as 2AFC (which option is
more like the reference: logistic in ``D(ref, A) - D(ref, B)``, as
:func:`~neuroperception.behaviour.simulate_observers`) or odd-one-out (softmax over the three pairs'
similarities ``-D``, as in THINGS' choice model), in the response format of
:func:`~neuroperception.behaviour.load_experiment_responses`, so
:func:`~neuroperception.behaviour.fit_choice_model` recovers the planted weights (``w / noise`` per unit of distance).
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import pandas as pd

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError
from ..world import COLOURS, SIZE_RANGES, WorldScenes
from .choice import _check_count, _check_number, _check_table

__all__ = ["attribute_triplets", "simulate_judgements", "ATTRIBUTES"]

#: The attributes similarity observers weigh, in order.
ATTRIBUTES = ("shape", "colour", "texture", "size")
_PATTERNS = ((True, False), (False, True), (True, True), (False, False))  # (A same as ref, B same as ref)
_TRIES = 200
_RGB = np.array(list(COLOURS.values()))
_COLOUR_SCALE = float(np.linalg.norm(_RGB[:, None] - _RGB[None], axis=-1).max())
_SIZE_SCALE = max(hi for _, hi in SIZE_RANGES.values()) - min(lo for lo, _ in SIZE_RANGES.values())


def _items(scenes: WorldScenes) -> pd.DataFrame:
    """One row per scene (its single object): the attribute values and their keys for 'same'."""
    if not isinstance(scenes, WorldScenes):
        raise InputError(f"scenes: received {type(scenes).__name__}; expected WorldScenes of one object each "
                         "(render_scenes(n, n_objects=1))")
    counts = scenes.objects.groupby("stimulus_id").size().reindex(scenes.ids).fillna(0).astype(int)
    if (counts != 1).any():
        bad = counts[counts != 1]
        raise InputError(f"scenes: {len(bad)} scenes hold {sorted(set(bad))} objects (e.g. {bad.index[0]!r}); "
                         "expected one object per scene (render_scenes(n, n_objects=1))")
    o = scenes.objects.set_index("stimulus_id").loc[scenes.ids]
    side = min(scenes.masks.shape[-2:])
    return pd.DataFrame({"shape": o["category"].to_numpy(), "colour": o["colour"].to_numpy(),
                         "texture": o["texture"].to_numpy(), "size": o["size_name"].to_numpy(),
                         "size_fraction": o["size_px"].to_numpy(float) / side}, index=scenes.ids)


def _distances(items: pd.DataFrame, i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
    """Attribute distances between items ``i`` and ``j`` (positions)."""
    rgb = np.array([COLOURS[c] for c in items["colour"]])
    frac = items["size_fraction"].to_numpy()
    return {"shape": (items["shape"].to_numpy()[i] != items["shape"].to_numpy()[j]).astype(float),
            "colour": np.linalg.norm(rgb[i] - rgb[j], axis=1) / _COLOUR_SCALE,
            "texture": (items["texture"].to_numpy()[i] != items["texture"].to_numpy()[j]).astype(float),
            "size": np.abs(frac[i] - frac[j]) / _SIZE_SCALE}


def _check_attribute(value, name: str) -> str:
    if value not in ATTRIBUTES:
        raise InputError(f"{name}: received {value!r}; expected one of {list(ATTRIBUTES)}")
    return value


@fill_doc
def attribute_triplets(scenes: WorldScenes, n_triplets: int, *, low: str = "colour", high: str = "shape",
                       random_state: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """Triplets of one-object scenes in which two attributes favour option A or B independently.

    For each triplet a reference is drawn; then, for ``low`` and for ``high`` independently, one of
    four equally likely patterns: A shares the reference's value and B does not, the reverse, both
    share it, or neither (sharing a colour, shape or texture means the same name, sharing a size
    the same size class); A and B are drawn among the scenes that fit both patterns (a reference
    without such scenes is replaced by another, the patterns are kept). The two
    attributes' distance differences are therefore uncorrelated, and each favours A as often as B.
    The other attributes vary at random.

    Parameters
    ----------
    scenes : WorldScenes
        One object per scene (``render_scenes(n, n_objects=1)``); at least a few per category and
        colour, so that every pattern can be filled.
    n_triplets : int
        Number of triplets; scenes may appear in several.
    low, high : str
        The two attributes (:data:`ATTRIBUTES`) that fill ``delta_low`` and ``delta_high``.
    %(random_state)s

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`~neuroperception.behaviour.TRIPLET_COLUMNS` (ids in ``ref``,
        ``option_a``, ``option_b``; ``d_low_*``/``d_high_*`` the two attributes' distances from the
        reference; ``bin_low``/``bin_high`` the sign of each delta; ``condition`` ``"congruent"``,
        ``"incongruent"`` or ``"neutral"`` when a delta is 0), then per attribute ``d_<attr>_a``,
        ``d_<attr>_b`` (from the reference), ``d_<attr>_ab`` (between the options) and
        ``delta_<attr>``. ``attrs`` hold ``low``, ``high``, ``r_low_high``, ``n_pool``, ``random_state``.

    Raises
    ------
    InputError
        Scenes with other than one object, ``low == high`` or an unknown attribute, a pool too
        small to fill the patterns.

    Examples
    --------
    >>> from neuroperception.world import render_scenes
    >>> t = attribute_triplets(render_scenes(200, n_objects=1, random_state=0), 50, random_state=0)
    >>> len(t), sorted(set(t["delta_high"]))
    (50, [-1.0, 0.0, 1.0])
    >>> bool((t["delta_low"] == t["delta_colour"]).all()), bool((t["delta_high"] == t["delta_shape"]).all())
    (True, True)
    """
    low, high = _check_attribute(low, "low"), _check_attribute(high, "high")
    if low == high:
        raise InputError(f"low, high: received {low!r} twice; expected two different attributes")
    n_triplets = _check_count(n_triplets, "n_triplets")
    items = _items(scenes)
    n = len(items)
    if n < 3:
        raise InputError(f"scenes: received {n} scenes; expected at least 3")
    seed = seed_from(random_state)
    rng = np.random.default_rng(seed)
    keys = {a: pd.factorize(items[a])[0] for a in (low, high)}
    same = {a: keys[a][:, None] == keys[a][None, :] for a in (low, high)}
    trip = np.empty((n_triplets, 3), dtype=np.int64)
    for t in range(n_triplets):
        (a_low, b_low), (a_high, b_high) = (_PATTERNS[rng.integers(4)] for _ in range(2))
        for _ in range(_TRIES):  # a new reference until one fits the patterns (never new patterns: no bias)
            ref = rng.integers(n)
            fits_a = (same[low][ref] == a_low) & (same[high][ref] == a_high)
            fits_b = (same[low][ref] == b_low) & (same[high][ref] == b_high)
            fits_a[ref] = fits_b[ref] = False
            a_pool = np.flatnonzero(fits_a)
            if a_pool.size == 0:
                continue
            a = a_pool[rng.integers(a_pool.size)]
            fits_b[a] = False
            b_pool = np.flatnonzero(fits_b)
            if b_pool.size:
                trip[t] = ref, a, b_pool[rng.integers(b_pool.size)]
                break
        else:
            raise InputError(f"scenes: {n} scenes could not fill the {low}/{high} patterns of triplet {t} (A shares "
                             f"{low}: {a_low}, {high}: {a_high}; B shares {low}: {b_low}, {high}: {b_high}) with any "
                             f"of {_TRIES} references; expected a larger pool of one-object scenes (a few hundred)")
    return _triplet_table(items, trip, low, high, {"n_pool": n, "random_state": seed})


def _triplet_table(items: pd.DataFrame, trip: np.ndarray, low: str, high: str, attrs: dict) -> pd.DataFrame:
    ref, a, b = trip.T
    ids = np.asarray(items.index, dtype=object)
    d_a, d_b, d_ab = _distances(items, ref, a), _distances(items, ref, b), _distances(items, a, b)
    delta_low, delta_high = d_a[low] - d_b[low], d_a[high] - d_b[high]
    sign_low, sign_high = np.sign(delta_low).astype(int), np.sign(delta_high).astype(int)
    table = pd.DataFrame({
        "triplet": np.arange(len(trip)), "ref": ids[ref], "option_a": ids[a], "option_b": ids[b],
        "d_low_a": d_a[low], "d_low_b": d_b[low], "d_high_a": d_a[high], "d_high_b": d_b[high],
        "delta_low": delta_low, "delta_high": delta_high, "bin_low": sign_low, "bin_high": sign_high,
        "condition": np.where(sign_low * sign_high > 0, "congruent",
                              np.where(sign_low * sign_high < 0, "incongruent", "neutral")),
    })
    for attr in ATTRIBUTES:
        table[f"d_{attr}_a"], table[f"d_{attr}_b"], table[f"d_{attr}_ab"] = d_a[attr], d_b[attr], d_ab[attr]
        table[f"delta_{attr}"] = d_a[attr] - d_b[attr]
    varies = len(trip) > 2 and delta_low.std() > 0 and delta_high.std() > 0
    r = float(np.corrcoef(delta_low, delta_high)[0, 1]) if varies else float("nan")
    table.attrs.update({"low": low, "high": high, "r_low_high": r, **attrs})
    return table


def _weights(attribute_weights) -> np.ndarray:
    if not isinstance(attribute_weights, Mapping):
        raise InputError(f"attribute_weights: received {type(attribute_weights).__name__}; expected a mapping "
                         f"attribute -> weight, attributes among {list(ATTRIBUTES)}")
    unknown = [k for k in attribute_weights if k not in ATTRIBUTES]
    if unknown:
        raise InputError(f"attribute_weights: received unknown attributes {unknown}; expected some of "
                         f"{list(ATTRIBUTES)}")
    out = []
    for attr in ATTRIBUTES:
        w = attribute_weights.get(attr, 0.0)
        if isinstance(w, bool) or not isinstance(w, Real) or not np.isfinite(w):
            raise InputError(f"attribute_weights[{attr!r}]: received {w!r}; expected a finite number")
        out.append(float(w))
    return np.array(out)


@fill_doc
def simulate_judgements(triplets: pd.DataFrame, attribute_weights: Mapping[str, float], *,
                        task: str = "2afc", n_observers: int = 10, noise: float = 1.0, bias: float = 0.0,
                        lapse: float = 0.0, random_state: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """Similarity judgements of simulated observers with planted attribute weights.

    The observer's dissimilarity is ``D = Σ_a attribute_weights[a] · d_a`` (see the module). In
    ``"2afc"`` it chooses A with probability ``lapse / 2 + (1 - lapse) · sigmoid((bias - (D(ref, A) -
    D(ref, B))) / noise)``, the model of :func:`~neuroperception.behaviour.simulate_observers`; in
    ``"odd_one_out"`` it picks the odd one with probability ``lapse / 3 + (1 - lapse) · softmax`` of
    the similarity ``-D / noise`` of the pair that stays together. Given that the reference was not
    picked, the odd-one-out choice follows the same logistic model, so
    :func:`~neuroperception.behaviour.fit_choice_model` fits both (the reference's picks are its
    missing choices).

    Parameters
    ----------
    triplets : pandas.DataFrame
        A table from :func:`attribute_triplets` (``triplet``, ``ref``, ``option_a``, ``option_b`` and
        the ``d_<attr>_a``, ``d_<attr>_b``, ``d_<attr>_ab`` columns).
    attribute_weights : mapping of str to float
        Weight per attribute of :data:`ATTRIBUTES` (missing ones are 0).
    task : {"2afc", "odd_one_out"}
        Which judgement.
    n_observers : int
        Observers (``participant`` ``sim000``, ...); each answers every triplet once.
    noise : float
        Decision noise (temperature).
    bias : float
        2AFC only: log-odds of choosing A when both options are equally far.
    lapse : float
        Probability in ``[0, 1]`` of a random answer.
    %(random_state)s

    Returns
    -------
    pandas.DataFrame
        One row per (observer, triplet), in the format of
        :func:`~neuroperception.behaviour.load_experiment_responses`: ``participant``, ``task``,
        ``triplet``, ``ref``, ``option_a``, ``option_b``, ``chosen`` (the role clicked: ``"option_a"``,
        ``"option_b"``, or ``"ref"`` as the odd one out), ``choice`` (``"A"``/``"B"``; for odd-one-out
        the option kept with the reference, ``""`` when the reference was picked), ``chose_a``
        (1.0, 0.0 or NaN) and ``p_chosen`` (the planted probability of that answer); 2AFC adds
        ``p_a``, odd-one-out adds ``object_1``, ``object_2``, ``odd_one_out`` (ids, THINGS' order:
        the pair kept together, then the odd one).

    Raises
    ------
    InputError
        Missing columns, unknown attributes, non-finite weights, ``noise <= 0``, ``lapse`` outside
        ``[0, 1]``, an unknown task, ``bias`` with odd-one-out.

    Examples
    --------
    >>> from neuroperception.world import render_scenes
    >>> t = attribute_triplets(render_scenes(150, n_objects=1, random_state=0), 40, random_state=0)
    >>> r = simulate_judgements(t, {"shape": 4.0}, n_observers=2)
    >>> r.shape, bool(r["choice"].isin(["A", "B"]).all())
    ((80, 11), True)
    >>> shape_favours_a = t.set_index("triplet").loc[r["triplet"], "delta_shape"].to_numpy() < 0
    >>> bool((r["p_a"].to_numpy()[shape_favours_a] > 0.9).all())
    True
    """
    if task not in ("2afc", "odd_one_out"):
        raise InputError(f"task: received {task!r}; expected '2afc' or 'odd_one_out'")
    w = _weights(attribute_weights)
    cols = [f"d_{a}_{s}" for a in ATTRIBUTES for s in ("a", "b", "ab")]
    _check_table(triplets, ("triplet", "ref", "option_a", "option_b", *cols), "triplets")
    d = {s: triplets[[f"d_{a}_{s}" for a in ATTRIBUTES]].to_numpy(float) @ w for s in ("a", "b", "ab")}
    noise = _check_number(noise, "noise", positive=True)
    bias = _check_number(bias, "bias")
    lapse = _check_number(lapse, "lapse", unit=True)
    n_observers = _check_count(n_observers, "n_observers")
    if task == "odd_one_out" and bias != 0:
        raise InputError(f"bias: received {bias!r} with task='odd_one_out'; expected 0 (a side bias is a 2AFC notion)")
    seed = seed_from(random_state)
    rng = np.random.default_rng(seed)
    m = len(triplets)
    rep = np.tile(np.arange(m), n_observers)
    width = max(3, len(str(n_observers - 1)))
    out = pd.DataFrame({"participant": np.repeat([f"sim{k:0{width}d}" for k in range(n_observers)], m),
                        "task": task, "triplet": triplets["triplet"].to_numpy()[rep]})
    for col in ("ref", "option_a", "option_b"):
        out[col] = triplets[col].to_numpy()[rep]
    if task == "2afc":
        p_a = lapse / 2 + (1 - lapse) / (1 + np.exp(-(bias - (d["a"] - d["b"])) / noise))
        chose = rng.random(len(rep)) < p_a[rep]
        out["chosen"] = np.where(chose, "option_a", "option_b")
        out["choice"] = np.where(chose, "A", "B")
        out["chose_a"] = chose.astype(float)
        out["p_chosen"] = np.where(chose, p_a[rep], 1 - p_a[rep])
        out["p_a"] = p_a[rep]
        return out
    # odd one out: ref odd <=> (A, B) most similar; A odd <=> (ref, B); B odd <=> (ref, A)
    logits = -np.stack([d["ab"], d["b"], d["a"]], axis=1) / noise
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = lapse / 3 + (1 - lapse) * p / p.sum(1, keepdims=True)
    cdf = np.cumsum(p[rep], axis=1)
    odd = np.minimum((rng.random(len(rep))[:, None] > cdf).sum(1), 2)
    roles = np.array(["ref", "option_a", "option_b"], dtype=object)
    ids = out[["ref", "option_a", "option_b"]].to_numpy(dtype=object)
    out["chosen"] = roles[odd]
    out["choice"] = np.array(["", "B", "A"], dtype=object)[odd]
    out["chose_a"] = np.array([np.nan, 0.0, 1.0])[odd]
    out["p_chosen"] = p[rep, odd]
    kept = np.array([[1, 2], [0, 2], [0, 1]])[odd]
    out["object_1"] = ids[np.arange(len(rep)), kept[:, 0]]
    out["object_2"] = ids[np.arange(len(rep)), kept[:, 1]]
    out["odd_one_out"] = ids[np.arange(len(rep)), odd]
    return out
