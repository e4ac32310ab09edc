"""Visual-search figures: reaction-time-like curves against set size, and asymmetry indices."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import InputError  # noqa: E402

__all__ = ["plot_search_slopes", "plot_asymmetry_index"]


def _check_table(table, columns, what: str):
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{what}: received {type(table).__name__}; expected a pandas DataFrame")
    if table.empty:
        raise InputError(f"{what}: received an empty DataFrame; expected one row per condition")
    missing = [c for c in columns if c is not None and c not in table.columns]
    if missing:
        raise InputError(f"{what}: missing columns {missing} (found {list(table.columns)})")


def plot_search_slopes(table, y: str = "rt_ms", *, x: str = "set_size", condition: str = "condition",
                       panel: str | None = "pair", error: str | None = "sem", ylabel: str | None = None,
                       title: str | None = None):
    """One line per search condition against set size, one panel per pair of conditions.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per condition and set size, e.g. ``AsymmetryResult.conditions`` (columns
        ``pair, condition, set_size, rt_ms, sem``).
    y : str
        Column on the y axis (``"rt_ms"`` or ``"n_fixations"``).
    x, condition : str
        Columns of the set sizes and of the line labels.
    panel : str or None
        Column whose levels get their own panel (None: one panel).
    error : str or None
        Column of error-bar half-widths (skipped when absent).
    ylabel, title : str, optional
        Axis label (default: from ``y``) and figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        ``table`` is not a non-empty DataFrame holding the named columns.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"pair": ["Q/O"] * 4, "condition": ["Q among O"] * 2 + ["O among Q"] * 2,
    ...                   "set_size": [4, 8, 4, 8], "rt_ms": [600.0, 610.0, 700.0, 900.0]})
    >>> fig = plot_search_slopes(t, error=None)
    >>> len(fig.axes[0].lines)
    2
    """
    _check_table(table, [x, y, condition, panel], "table")
    panels = list(dict.fromkeys(table[panel])) if panel else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.0), squeeze=False)
    for ax, level in zip(axes[0], panels):
        part = table if level is None else table[table[panel] == level]
        for cond in dict.fromkeys(part[condition]):
            rows = part[part[condition] == cond].sort_values(x)
            xs, ys = rows[x].to_numpy(dtype=float), rows[y].to_numpy(dtype=float)
            err = rows[error].to_numpy(dtype=float) if error and error in rows.columns else None
            if err is not None and np.isfinite(err).any():
                ax.errorbar(xs, ys, yerr=np.nan_to_num(err), marker="o", capsize=3, label=str(cond))
            else:
                ax.plot(xs, ys, marker="o", label=str(cond))
        ax.set_xlabel("set size (items)")
        ax.set_ylabel(ylabel or {"rt_ms": "reaction time (ms)", "n_fixations": "fixations to find"}.get(y, y))
        ax.set_xticks(sorted(set(part[x].astype(float))))
        if level is not None:
            ax.set_title(str(level))
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_asymmetry_index(indices: Mapping[str, float], *, reference: Mapping[str, float] | None = None,
                         title: str | None = None):
    """Bars of asymmetry indices (one per pair or model), with reference values as extra grey bars.

    Parameters
    ----------
    indices : mapping of str to float
        Label → asymmetry index in ``[-1, 1]`` (e.g. per pair, plus ``"mean"``).
    reference : mapping of str to float, optional
        Reference indices drawn in grey after the others (e.g. humans and eccNET as published).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        Empty ``indices`` or non-finite values.

    Examples
    --------
    >>> fig = plot_asymmetry_index({"model": 0.3}, reference={"humans": 0.564})
    >>> [round(float(p.get_height()), 3) for p in fig.axes[0].patches]
    [0.3, 0.564]
    """
    if not isinstance(indices, Mapping) or not indices:
        raise InputError(f"indices: received {indices!r}; expected a non-empty mapping of label to index")
    reference = dict(reference or {})
    labels = [str(k) for k in indices] + [str(k) for k in reference]
    values = np.array([float(v) for v in indices.values()] + [float(v) for v in reference.values()])
    if not np.isfinite(values).all():
        raise InputError(f"indices: received {dict(zip(labels, values.tolist()))}; expected finite values")
    colours = ["tab:blue"] * len(indices) + ["0.6"] * len(reference)
    fig, ax = plt.subplots(figsize=(0.8 * len(labels) + 1.5, 3.0))
    ax.bar(np.arange(len(labels)), values, color=colours, edgecolor="k")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel("asymmetry index")
    ax.set_ylim(min(-0.1, values.min() - 0.1), max(1.0, values.max() + 0.1))
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
