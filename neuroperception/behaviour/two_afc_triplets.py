"""2AFC tables as the triplets :class:`~neuroperception.behaviour.BehaviouralAlignment` fits.

A 2AFC choice ("which of A and B is more like the reference?") is the odd-one-out model on the triplet
``(reference, chosen, other)``: the reference and the chosen alternative stay together, the other is the
odd one out. :func:`two_afc_triplets` reads the three table layouts of the package and writes those
triplets as row indices of the objects' features:

* the browser experiment's responses (:func:`~neuroperception.behaviour.load_experiment_responses`,
  :func:`~neuroperception.behaviour.simulate_judgements`): ``ref``, ``option_a``, ``option_b`` and
  ``chose_a`` (1 for A, 0 for B); rows of another ``task`` than ``"2afc"`` are left out;
* the 2AFC datasets' convention (BAPPS, NIGHTS): ``ref``, ``p0``, ``p1`` and ``judge``, the share of
  people who judged ``p1`` closer;
* the judgements of :class:`~neuroperception.rewards.PreferenceReward` with a reference: ``reference``,
  ``first``, ``second`` and ``label``, the share of votes for ``first``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._validation import describe
from ..errors import InputError

__all__ = ["two_afc_triplets"]

# layout: (reference, alternative 0, alternative 1, label column, label is the share for alternative 0)
_LAYOUTS = {
    "experiment": ("ref", "option_a", "option_b", "chose_a", True),
    "dataset": ("ref", "p0", "p1", "judge", False),
    "judgements": ("reference", "first", "second", "label", True),
}


def _layout(table: pd.DataFrame) -> tuple[str, str, str, str, bool]:
    for cols in _LAYOUTS.values():
        if set(cols[:4]) <= set(table.columns):
            return cols
    wanted = "; ".join(", ".join(c[:4]) for c in _LAYOUTS.values())
    raise InputError(f"table: received the columns {list(table.columns)}; expected one of the 2AFC layouts ({wanted})")


def two_afc_triplets(table: pd.DataFrame, stimulus_id: Sequence[Any], ties: str = "drop") -> np.ndarray:
    """Triplets ``(reference, chosen, other)`` of row indices from a 2AFC table.

    Parameters
    ----------
    table : pandas.DataFrame
        One 2AFC judgement per row in one of three layouts (see the module): the browser experiment's
        (``ref, option_a, option_b, chose_a``), the 2AFC datasets' (``ref, p0, p1, judge``, ``judge``
        the share for ``p1``) or the preference judgements' (``reference, first, second, label``,
        ``label`` the share for ``first``). Labels are shares in ``[0, 1]``: the alternative with more
        than half of the votes is the chosen one.
    stimulus_id : sequence
        The image ids in the row order of the features the triplets index (compared as strings).
    ties : {"drop", "both"}
        What a label of exactly 0.5 becomes: nothing, or two triplets, one for each alternative
        (which weighs the two choices equally).

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` int64 triplets, the last column the odd one out, in the table's row order: the input
        of :meth:`BehaviouralAlignment.fit <neuroperception.behaviour.BehaviouralAlignment.fit>` and its
        ``score``.

    Raises
    ------
    InputError
        A table that is not a DataFrame or matches no layout; ids that are not among ``stimulus_id`` (or
        repeated ones); labels that are missing or outside ``[0, 1]``; a reference equal to an
        alternative; no 2AFC rows; an unknown ``ties``.

    Examples
    --------
    >>> rows = pd.DataFrame({"ref": ["r", "r"], "p0": ["a", "b"], "p1": ["b", "a"], "judge": [0.25, 1.0]})
    >>> two_afc_triplets(rows, stimulus_id=["a", "b", "r"]).tolist()
    [[2, 0, 1], [2, 0, 1]]
    """
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table: received {describe(table)}; expected a DataFrame of 2AFC judgements")
    if ties not in ("drop", "both"):
        raise InputError(f"ties: received {ties!r}; expected 'drop' or 'both'")
    ref_col, a_col, b_col, label_col, share_for_a = _layout(table)
    if "task" in table.columns and ref_col == "ref" and a_col == "option_a":
        table = table[table["task"].astype(str) == "2afc"]
    if table.empty:
        raise InputError("table: received no 2AFC rows; expected at least one judgement")
    names = [str(i) for i in stimulus_id]
    where = {name: k for k, name in enumerate(names)}
    if len(where) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})[:3]
        raise InputError(f"stimulus_id: received repeated ids (e.g. {repeated}); expected one id per row of the "
                         "features")
    idx = {}
    for col in (ref_col, a_col, b_col):
        values = table[col].astype(str)
        unknown = sorted(set(values) - set(where))
        if unknown:
            raise InputError(f"table['{col}']: received {len(unknown)} ids that are not among stimulus_id (e.g. "
                             f"{unknown[:3]}); expected ids of the {len(names)} images given")
        idx[col] = values.map(where).to_numpy(dtype=np.int64)
    label = pd.to_numeric(table[label_col], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(label) & (label >= 0) & (label <= 1))
    if bad.any():
        raise InputError(f"table['{label_col}']: received values outside [0, 1] or missing (e.g. "
                         f"{table[label_col][bad].tolist()[:3]}); expected the share of votes in [0, 1]")
    if ((idx[ref_col] == idx[a_col]) | (idx[ref_col] == idx[b_col]) | (idx[a_col] == idx[b_col])).any():
        raise InputError("table: received rows that repeat an image among the reference and the alternatives; "
                         "expected three different images")
    share_a = label if share_for_a else 1.0 - label
    r, a, b = idx[ref_col], idx[a_col], idx[b_col]
    chose_a = share_a > 0.5
    triplets = np.stack([r, np.where(chose_a, a, b), np.where(chose_a, b, a)], axis=1)
    tie = share_a == 0.5
    if ties == "drop":
        triplets = triplets[~tie]
    else:
        order = np.repeat(np.arange(len(triplets)), np.where(tie, 2, 1))
        triplets = triplets[order]
        second = np.r_[False, order[1:] == order[:-1]]
        triplets[second] = triplets[second][:, [0, 2, 1]]
    if not len(triplets):
        raise InputError("table: received only ties; expected some decided 2AFC judgements (or ties='both')")
    return triplets.astype(np.int64)
