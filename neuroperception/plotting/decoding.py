"""Decoding figures: retrieval accuracy per direction, and the ROI-ablation drop per region."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..errors import InputError  # noqa: E402

__all__ = ["plot_retrieval", "plot_roi_ablation"]

_COLORS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377")


def _check_table(table, columns, what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{what}: received {type(table).__name__}; expected a pandas DataFrame")
    if table.empty:
        raise InputError(f"{what}: received an empty DataFrame; expected one row per condition")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{what}: missing columns {missing} (found {list(table.columns)})")


def _axes(ax, width: float):
    if ax is None:
        fig, ax = plt.subplots(figsize=(width, 3.2))
        return fig, ax
    return ax.figure, ax


def plot_retrieval(table, ax=None, *, title: str | None = None):
    """Grouped bars of top-k retrieval accuracy per direction, with each k's chance level.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by ``retrieval_accuracy``: index = direction, columns ``top-k`` and ``chance-k``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        ``table`` is not a non-empty DataFrame with ``top-k`` columns.

    Examples
    --------
    >>> t = pd.DataFrame({"top-1": [0.5, 0.4], "chance-1": [0.1, 0.1]}, index=["brain_to_image", "image_to_brain"])
    >>> ax = plot_retrieval(t).axes[0]
    >>> [round(float(p.get_height()), 2) for p in ax.patches]
    [0.5, 0.4]
    """
    _check_table(table, [], "table")
    tops = [c for c in table.columns if str(c).startswith("top-")]
    if not tops:
        raise InputError(f"table: missing top-k columns (found {list(table.columns)}); expected the output of "
                         "retrieval_accuracy")
    directions = [str(d) for d in table.index]
    fig, ax = _axes(ax, 1.5 + 1.2 * len(directions) * max(1, len(tops) / 2))
    width = 0.8 / len(tops)
    for g, col in enumerate(tops):
        pos = np.arange(len(directions)) + (g - (len(tops) - 1) / 2) * width
        ax.bar(pos, table[col].to_numpy(dtype=float), width, label=col, color=_COLORS[g % len(_COLORS)])
        chance_col = "chance-" + str(col)[4:]
        if chance_col in table.columns:
            for x, c in zip(pos, table[chance_col].to_numpy(dtype=float)):
                ax.hlines(c, x - width / 2, x + width / 2, colors="k", linestyles="--", linewidth=1)
    ax.set_xticks(np.arange(len(directions)), directions)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("retrieval accuracy (-- chance)")
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_roi_ablation(table, ax=None, *, title: str | None = None):
    """Per ROI, the drop in retrieval when it is removed and its score when used alone.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by ``roi_ablation`` (columns ``condition``, ``roi``, ``drop`` and the score
        named in ``table.attrs["metric"]``, default ``top-1``); ``attrs["chance"]`` draws the chance
        level of the "alone" bars.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        ``table`` is not a non-empty DataFrame with those columns.

    Examples
    --------
    >>> t = pd.DataFrame({"condition": ["all", "without", "without", "only", "only"],
    ...                   "roi": ["all", "IT", "V1", "IT", "V1"], "top-1": [0.8, 0.2, 0.8, 0.7, 0.1],
    ...                   "drop": [0.0, 0.6, 0.0, 0.1, 0.7]})
    >>> ax = plot_roi_ablation(t).axes[0]
    >>> [round(float(p.get_height()), 2) for p in ax.patches]
    [0.6, 0.0, 0.7, 0.1]
    """
    metric = str(getattr(table, "attrs", {}).get("metric", "top-1")) if isinstance(table, pd.DataFrame) else "top-1"
    _check_table(table, ["condition", "roi", "drop", metric], "table")
    without = table[table["condition"] == "without"]
    only = table[table["condition"] == "only"].set_index("roi")
    rois = list(dict.fromkeys(list(without["roi"].astype(str)) + [str(r) for r in only.index]))
    if not rois:
        raise InputError("table: received no 'without'/'only' rows; expected the output of roi_ablation")
    drop = without.set_index("roi")["drop"].reindex(rois).to_numpy(dtype=float)
    alone = only[metric].reindex(rois).to_numpy(dtype=float)
    fig, ax = _axes(ax, 1.5 + 0.9 * len(rois))
    x = np.arange(len(rois))
    ax.bar(x - 0.2, drop, 0.4, label=f"drop in {metric} when removed", color=_COLORS[1])
    ax.bar(x + 0.2, alone, 0.4, label=f"{metric} of the ROI alone", color=_COLORS[0])
    chance = table.attrs.get("chance")
    if chance is not None and np.isfinite(chance):
        ax.axhline(float(chance), color="k", linestyle="--", linewidth=1, label="chance (alone)")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xticks(x, rois)
    ax.set_ylabel(metric)
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
