"""Bar plot of model-RDM comparisons with error bars and the noise-ceiling band."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import InputError, ShapeError  # noqa: E402

__all__ = ["plot_rdm_comparison"]


def _bars(results, errors: str):
    """→ names, heights, (2, K) error lengths or None."""
    if hasattr(results, "columns"):  # DataFrame, e.g. from bootstrap_rdm_comparison
        cols = set(results.columns)
        height_col = "value" if "value" in cols else "mean" if "mean" in cols else None
        if height_col is None:
            raise InputError(f"results: received columns {sorted(cols)}; expected 'value' or 'mean'")
        names = [str(v) for v in results.index]
        heights = np.asarray(results[height_col], dtype=float)
        if errors == "ci" and {"ci_low", "ci_high"} <= cols:
            low, high = np.asarray(results["ci_low"], float), np.asarray(results["ci_high"], float)
            return names, heights, np.vstack([np.maximum(heights - low, 0), np.maximum(high - heights, 0)])
        if errors == "std" and "std" in cols:
            std = np.asarray(results["std"], float)
            return names, heights, np.vstack([std, std])
        if errors in ("ci", "std"):
            raise InputError(f"results: received columns {sorted(cols)}; errors={errors!r} needs "
                             + ("'ci_low' and 'ci_high'" if errors == "ci" else "'std'"))
        return names, heights, None
    if isinstance(results, Mapping) or hasattr(results, "index"):  # mapping or pandas Series
        items = list(results.items())
        return [str(k) for k, _ in items], np.asarray([v for _, v in items], dtype=float), None
    raise InputError(f"results: received {type(results).__name__}; expected a DataFrame with 'value'/'mean' "
                     "(and 'ci_low'/'ci_high' or 'std'), a Series or a mapping name -> value")


def plot_rdm_comparison(results, noise_ceiling: Sequence[float] | None = None, errors: str = "ci", ax=None,
                        title: str | None = None, ylabel: str = "RDM correlation", sort: bool = False):
    """Bar plot of how well each model RDM matches the data, with the noise ceiling as a band.

    Parameters
    ----------
    results : pandas.DataFrame, pandas.Series or mapping
        One bar per row/key. A DataFrame (as returned by
        ``neuroperception.similarity.bootstrap_rdm_comparison``) gives the bar height from ``value``
        (else ``mean``) and error bars from ``ci_low``/``ci_high`` or ``std``.
    noise_ceiling : (lower, upper), optional
        Drawn as a grey band across the plot.
    errors : {"ci", "std", "none"}
        Which error bars to draw from a DataFrame.
    ax : matplotlib Axes, optional
        Axes to draw in; a new figure when None.
    title, ylabel : str
        Labels.
    sort : bool
        Order bars by height, highest first.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"value": [0.3, 0.5], "ci_low": [0.2, 0.4], "ci_high": [0.4, 0.6]}, index=["a", "b"])
    >>> fig = plot_rdm_comparison(df, noise_ceiling=(0.55, 0.7))
    """
    if errors not in ("ci", "std", "none"):
        raise InputError(f"errors: received {errors!r}; expected 'ci', 'std' or 'none'")
    names, heights, err = _bars(results, errors)
    if not names:
        raise InputError("results: received no models; expected at least one")
    if sort:
        order = np.argsort(-heights, kind="stable")
        names, heights = [names[i] for i in order], heights[order]
        err = err[:, order] if err is not None else None
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(max(3.0, 0.7 * len(names) + 1.5), 3.4))
    x = np.arange(len(names))
    ax.bar(x, heights, yerr=err, capsize=3, color="#4c72b0", ecolor="black", zorder=2)
    if noise_ceiling is not None:
        nc = np.asarray(noise_ceiling, dtype=float).ravel()
        if nc.shape != (2,) or not np.isfinite(nc).all() or nc[0] > nc[1]:
            raise ShapeError(f"noise_ceiling: received {noise_ceiling!r}; expected (lower, upper) with lower <= upper")
        ax.axhspan(nc[0], nc[1], color="0.8", alpha=0.7, zorder=1, label="noise ceiling")
        ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.axhline(0, color="black", linewidth=0.6, zorder=3)
    ax.set_xticks(x, names, rotation=45 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center",
                  fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    if own:
        fig.tight_layout()
    return ax.figure
