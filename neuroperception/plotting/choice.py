"""Figures of triplet choice models: fitted weights with CIs, and choice probability over the delta grid."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import InputError  # noqa: E402

__all__ = ["plot_choice_weights", "plot_choice_map"]

_WEIGHT_COLUMNS = ("estimate", "ci_low", "ci_high")


def _by_term(t):
    """A choice-model table indexed by ``term`` (as fit_choice_model returns it, or with a ``term`` column)."""
    if hasattr(t, "columns") and "term" in t.columns:
        return t.set_index("term")
    return t


def _fits(table) -> dict:
    fits = dict(table) if isinstance(table, Mapping) else {"": table}
    if not fits:
        raise InputError("table: received an empty mapping; expected at least one fitted choice model")
    for name, t in list(fits.items()):
        label = f"table[{name!r}]" if name else "table"
        t = _by_term(t)
        if not hasattr(t, "columns") or any(c not in t.columns for c in _WEIGHT_COLUMNS):
            cols = list(t.columns) if hasattr(t, "columns") else type(t).__name__
            raise InputError(f"{label}: received {cols}; expected a fit_choice_model table indexed by term with "
                             f"columns {list(_WEIGHT_COLUMNS)}")
        missing = {"low", "high", "high_share"} - set(t.index)
        if missing:
            raise InputError(f"{label}: received terms {list(t.index)}; missing {sorted(missing)}")
        fits[name] = t
    return fits


def plot_choice_weights(table, *, raw: bool = False, planted: Mapping | None = None, title: str | None = None):
    """Fitted low- and high-level weights with their bootstrap CIs, and the share of the high level.

    Parameters
    ----------
    table : pandas.DataFrame or mapping of name to DataFrame
        One table from ``fit_choice_model`` or several (e.g. one per observer group), drawn side by side.
    raw : bool
        Plot the per-unit weights (``estimate_raw`` ...) instead of the standardised ones.
    planted : mapping, optional
        ``{name: high_share}`` true values (simulations), drawn as crosses on the right panel.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        A table without the columns or terms of a ``fit_choice_model`` result.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"estimate": [0, 1.0, 2.0, .67], "ci_low": [-.1, .8, 1.7, .6],
    ...                   "ci_high": [.1, 1.2, 2.3, .72]},
    ...                  index=pd.Index(["intercept", "low", "high", "high_share"], name="term"))
    >>> fig = plot_choice_weights(t)
    """
    fits = _fits(table)
    suffix = "_raw" if raw else ""
    fig, (ax_w, ax_s) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    n = len(fits)
    width = 0.8 / n
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, t) in enumerate(fits.items()):
        rows = t
        cols = [f"estimate{suffix}", f"ci_low{suffix}", f"ci_high{suffix}"]
        if any(c not in rows.columns for c in cols):
            raise InputError(f"table: received columns {list(t.columns)}; expected {cols} (raw={raw})")
        color = colors[k % len(colors)]
        for panel, terms, x0 in ((ax_w, ["low", "high"], np.arange(2)), (ax_s, ["high_share"], np.zeros(1))):
            est, lo, hi = (rows.loc[terms, c].to_numpy(dtype=float) for c in cols)
            x = x0 - 0.4 + width * (k + 0.5)
            panel.bar(x, est, width * 0.9, color=color, alpha=0.8, label=name or None)
            panel.errorbar(x, est, yerr=[est - lo, hi - est], fmt="none", ecolor="k", capsize=3, lw=1)
        if planted and name in planted:
            ax_s.plot([-0.4 + width * (k + 0.5)], [planted[name]], "kx", ms=8, mew=2)
    ax_w.axhline(0, color="k", lw=0.8)
    ax_w.set_xticks([0, 1], ["low level", "high level"])
    ax_w.set_ylabel("weight (log-odds per unit)" if raw else "weight (log-odds per s.d.)")
    ax_w.set_title("closer at this level → chosen more")
    ax_s.axhline(0, color="k", lw=0.8)
    ax_s.set_xticks([0], ["high / (|low| + |high|)"])
    ax_s.set_ylim(min(-0.05, ax_s.get_ylim()[0]), 1.05)
    ax_s.set_title("share of the high level" + (" (x: planted)" if planted else ""))
    if n > 1:
        ax_w.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_choice_map(responses, *, fit=None, bins: int = 8, title: str | None = None, ax=None):
    """Fraction of "A" choices over the (delta_low, delta_high) plane, with the fitted 50% line.

    Parameters
    ----------
    responses : pandas.DataFrame
        Responses joined to their triplets: ``delta_low``, ``delta_high`` and ``chose_a`` (1/0/NaN).
    fit : pandas.DataFrame, optional
        A ``fit_choice_model`` table (its ``attrs`` give the standardisation); its 50% boundary is drawn.
    bins : int
        Bins per axis (equal-width over the range of the deltas).
    title : str, optional
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Draw into this axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        Missing columns or ``bins < 2``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> r = pd.DataFrame({"delta_low": rng.normal(size=200), "delta_high": rng.normal(size=200)})
    >>> r["chose_a"] = (r["delta_high"] < 0).astype(float)
    >>> fig = plot_choice_map(r, bins=4)
    """
    need = ("delta_low", "delta_high", "chose_a")
    if not hasattr(responses, "columns") or any(c not in responses.columns for c in need):
        cols = list(responses.columns) if hasattr(responses, "columns") else type(responses).__name__
        raise InputError(f"responses: received {cols}; expected columns {list(need)} (join responses to their "
                         "triplets first, e.g. load_experiment_responses(csv, triplets))")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise InputError(f"bins: received {bins!r}; expected an int >= 2")
    data = responses[list(need)].astype(float).dropna()
    if data.empty:
        raise InputError("responses: received no row with a choice; expected at least one A/B response")
    dl, dh, y = (data[c].to_numpy() for c in need)
    edges_l = np.linspace(dl.min(), dl.max() + 1e-12, bins + 1)
    edges_h = np.linspace(dh.min(), dh.max() + 1e-12, bins + 1)
    total, _, _ = np.histogram2d(dl, dh, [edges_l, edges_h])
    chosen, _, _ = np.histogram2d(dl, dh, [edges_l, edges_h], weights=y)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total > 0, chosen / np.where(total > 0, total, 1), np.nan)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.2))
    else:
        fig = ax.figure
    mesh = ax.pcolormesh(edges_l, edges_h, frac.T, cmap="RdBu_r", vmin=0, vmax=1)
    fig.colorbar(mesh, ax=ax, label="fraction choosing A")
    if fit is not None:
        rows = _by_term(fit)["estimate"]
        s_l, s_h = fit.attrs.get("sd_low"), fit.attrs.get("sd_high")
        if s_l and s_h and rows["high"] != 0:
            xs = np.array([edges_l[0], edges_l[-1]])
            ys = (rows["intercept"] - rows["low"] * xs / s_l) * s_h / rows["high"]
            ax.plot(xs, ys, "k--", lw=1.5, label="fitted 50% boundary")
            ax.legend(fontsize=8, loc="upper right")
        ax.set_ylim(edges_h[0], edges_h[-1])
    ax.axhline(0, color="0.3", lw=0.6)
    ax.axvline(0, color="0.3", lw=0.6)
    ax.set_xlabel("ΔD low (d_low_a − d_low_b)")
    ax.set_ylabel("ΔD high (d_high_a − d_high_b)")
    ax.set_title(title or "choices over the distance-difference plane")
    if len(fig.axes) <= 2:
        fig.tight_layout()
    return fig
