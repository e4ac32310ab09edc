"""Bar plots of behavioural agreement scores per subset (2AFC score, JND mAP), with a human ceiling."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import InputError  # noqa: E402

__all__ = ["plot_subset_scores"]


def _column(table, name: str, what: str):
    if name not in table.columns:
        raise InputError(f"{what}: received column name {name!r}; expected one of {list(table.columns)}")
    return table[name]


def plot_subset_scores(table, value: str = "score", *, subset: str = "subset", hue: str | None = None,
                       ceiling: str | Mapping | None = "human", error: str | None = "sem",
                       chance: float | None = None, ylabel: str | None = None, title: str | None = None,
                       ax=None):
    """One bar per subset (grouped by ``hue`` when several metrics are compared), ceiling marked.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per subset (and per ``hue`` level), e.g. ``TwoAFCResult.table`` or several such
        tables concatenated with a ``metric`` column.
    value : str
        Column holding the bar heights (``"score"`` for 2AFC, ``"map"`` for JND).
    subset : str
        Column naming the subsets (bars along x).
    hue : str, optional
        Column whose levels become side-by-side bars within each subset.
    ceiling : str, mapping or None
        A column (per-subset human ceiling; skipped when the table has no such column) or a
        mapping ``{subset: value}``; drawn as a black line over each group.
    error : str or None
        Column of error-bar half-widths (skipped when absent or all NaN).
    chance : float, optional
        Draw a dotted line at this level (0.5 for 2AFC).
    ylabel, title : str, optional
        Axis label (default: ``value``) and title.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        ``table`` is not a DataFrame, or ``value``/``subset``/``hue`` are not its columns.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"subset": ["cnn", "color"], "score": [0.8, 0.6], "human": [0.84, 0.67]})
    >>> fig = plot_subset_scores(table, chance=0.5)
    >>> [round(float(p.get_height()), 2) for p in fig.axes[0].patches]
    [0.8, 0.6]
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise InputError(f"table: received {type(table).__name__}; expected a pandas DataFrame with one row "
                         "per subset")
    if table.empty:
        raise InputError("table: received an empty DataFrame; expected one row per subset")
    values = _column(table, value, "value").astype(float)
    names = [str(s) for s in _column(table, subset, "subset")]
    subsets = list(dict.fromkeys(names))
    levels = list(dict.fromkeys(str(h) for h in _column(table, hue, "hue"))) if hue else [None]
    errors = table[error].astype(float) if error and error in table.columns else None
    if errors is not None and errors.isna().all():
        errors = None
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(max(3.5, 1.0 + 0.9 * len(subsets) * max(1, len(levels) * 0.6)), 3.4))
    width = 0.8 / len(levels)
    x = np.arange(len(subsets))
    for k, level in enumerate(levels):
        rows = np.ones(len(table), bool) if level is None else np.array([str(h) == level for h in table[hue]])
        heights, errs = [], []
        for s in subsets:
            sel = rows & np.array([n == s for n in names])
            heights.append(float(values[sel].mean()) if sel.any() else np.nan)
            errs.append(float(errors[sel].mean()) if errors is not None and sel.any() else np.nan)
        ax.bar(x - 0.4 + width * (k + 0.5), heights, width * 0.92, label=level,
               yerr=errs if errors is not None else None, capsize=2,
               error_kw={"ecolor": "0.35", "elinewidth": 1})
    ceil = None
    if isinstance(ceiling, Mapping):
        ceil = [ceiling.get(s, np.nan) for s in subsets]
    elif isinstance(ceiling, str) and ceiling in table.columns:
        ceil = [float(table.loc[[n == s for n in names], ceiling].astype(float).mean()) for s in subsets]
    if ceil is not None:
        ax.hlines(ceil, x - 0.45, x + 0.45, colors="k", linewidths=1.5,
                  label=ceiling if isinstance(ceiling, str) else "human")
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(x, subsets, rotation=30 if len(subsets) > 4 else 0, fontsize=8)
    ax.set_ylabel(ylabel or value)
    top = np.nanmax(np.r_[values.to_numpy(), np.asarray(ceil if ceil is not None else [np.nan], float)])
    bottom = min(0.0, float(np.nanmin(values.to_numpy()))) if values.notna().any() else 0.0
    ax.set_ylim(bottom, max(1.0, float(top) * 1.05) if np.isfinite(top) else 1.0)
    if hue or ceil is not None or chance is not None:
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    if title:
        ax.set_title(title, fontsize=9)
    if own:
        fig.tight_layout()
    return ax.figure
