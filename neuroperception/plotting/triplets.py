"""Figures of controlled triplets: how the (delta_low, delta_high) grid was filled, and examples."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import InputError, ShapeError  # noqa: E402

__all__ = ["plot_triplet_grid", "plot_triplets"]

_NEEDED = ("ref", "option_a", "option_b", "d_low_a", "d_low_b", "d_high_a", "d_high_b", "delta_low", "delta_high",
           "bin_low", "bin_high", "condition")
_COLOURS = {"congruent": "tab:blue", "incongruent": "tab:orange"}


def _check_table(table, needed=_NEEDED):
    if not hasattr(table, "columns"):
        raise InputError(f"table: received {type(table).__name__}; expected the DataFrame of generate_triplets")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(f"table: received columns {list(table.columns)}, missing {missing}; expected the triplet "
                         "table of generate_triplets")
    if len(table) == 0:
        raise InputError("table: received an empty table; expected at least one triplet")


def _edges(table, level: str, n_bins: int) -> np.ndarray:
    sigma, step = table.attrs.get(f"sigma_{level}"), table.attrs.get("step")
    if sigma is not None and step is not None:
        width = float(step) * float(sigma)
    else:  # no attrs: a symmetric grid just covering the data
        width = 2 * float(np.abs(table[f"delta_{level}"]).max()) / n_bins or 1.0
    return (np.arange(n_bins + 1) - n_bins / 2) * width


def plot_triplet_grid(table, *, title: str | None = None):
    """Grid fill (triplets per ``(bin_low, bin_high)`` cell) and the triplets' delta scatter.

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`~neuroperception.behaviour.generate_triplets` (its ``attrs``
        ``n_bins``, ``step``, ``sigma_low``, ``sigma_high``, ``r_low_high`` are used when present).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Left: heat map of counts per cell; right: ``delta_high`` against ``delta_low``
        coloured by condition, with the bin edges and the achieved correlation.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"ref": ["r0", "r1"], "option_a": ["a0", "a1"], "option_b": ["b0", "b1"],
    ...                   "d_low_a": [.2, .5], "d_low_b": [.4, .3], "d_high_a": [.3, .3], "d_high_b": [.1, .6],
    ...                   "delta_low": [-.2, .2], "delta_high": [.2, -.3], "bin_low": [0, 1], "bin_high": [1, 0],
    ...                   "condition": ["incongruent", "incongruent"]})
    >>> fig = plot_triplet_grid(t)
    >>> len(fig.axes)
    3
    """
    _check_table(table)
    n_bins = int(table.attrs.get("n_bins", max(int(table["bin_low"].max()), int(table["bin_high"].max())) + 1))
    counts = np.zeros((n_bins, n_bins), dtype=int)
    np.add.at(counts, (table["bin_high"].to_numpy(int), table["bin_low"].to_numpy(int)), 1)
    fig, (ax_grid, ax_scatter) = plt.subplots(1, 2, figsize=(10, 4.4))
    im = ax_grid.imshow(counts, origin="lower", cmap="viridis", vmin=0)
    for (y, x), c in np.ndenumerate(counts):
        ax_grid.text(x, y, str(c), ha="center", va="center", fontsize=6,
                     color="white" if c < counts.max() / 2 else "black")
    ax_grid.set_xlabel("bin_low (ΔD low)")
    ax_grid.set_ylabel("bin_high (ΔD high)")
    ax_grid.set_title(f"grid fill: {len(table)} triplets in {n_bins}×{n_bins} cells", fontsize=9)
    fig.colorbar(im, ax=ax_grid, fraction=0.046, pad=0.04, label="triplets")
    for x, edges in ((True, _edges(table, "low", n_bins)), (False, _edges(table, "high", n_bins))):
        for e in edges:
            (ax_scatter.axvline if x else ax_scatter.axhline)(e, color="0.85", lw=0.6, zorder=0)
    for cond, group in table.groupby("condition"):
        ax_scatter.scatter(group["delta_low"], group["delta_high"], s=8, alpha=0.8, label=f"{cond} ({len(group)})",
                           color=_COLOURS.get(cond, "0.4"))
    ax_scatter.axhline(0, color="0.3", lw=0.8)
    ax_scatter.axvline(0, color="0.3", lw=0.8)
    r = table.attrs.get("r_low_high")
    if r is None and len(table) > 1:
        r = float(np.corrcoef(table["delta_low"], table["delta_high"])[0, 1])
    ax_scatter.set_xlabel("ΔD low = d_low(ref, A) − d_low(ref, B)")
    ax_scatter.set_ylabel("ΔD high = d_high(ref, A) − d_high(ref, B)")
    ax_scatter.set_title("achieved deltas" + (f" (r = {r:.3f})" if r is not None else ""), fontsize=9)
    ax_scatter.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _as_hwc(image, name: str) -> np.ndarray:
    arr = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ShapeError(f"images_by_id[{name!r}]: received shape {arr.shape}; expected one image (3, H, W) or (H, W, 3)")
    if arr.dtype == np.uint8:
        arr = arr / 255.0
    return np.clip(arr.astype(np.float32), 0, 1)


def _pick(table, n: int) -> list[int]:
    """Clear examples: half congruent, half incongruent, largest smaller |delta| (in sigma units)."""
    s_low = float(table.attrs.get("sigma_low") or table["delta_low"].std() or 1.0)
    s_high = float(table.attrs.get("sigma_high") or table["delta_high"].std() or 1.0)
    clarity = np.minimum(np.abs(table["delta_low"].to_numpy()) / s_low, np.abs(table["delta_high"].to_numpy()) / s_high)
    picked: list[int] = []
    groups = [np.flatnonzero(table["condition"].to_numpy() == c) for c in ("congruent", "incongruent")]
    ranked = [g[np.argsort(-clarity[g], kind="stable")].tolist() for g in groups]
    while len(picked) < n and any(ranked):
        for g in ranked:
            if g and len(picked) < n:
                picked.append(g.pop(0))
    return picked


def plot_triplets(images_by_id, table, n: int = 6, *, rows: Sequence[int] | None = None, panel_size: float = 1.8):
    """Example triplets: reference, option A, option B per row, with their distances.

    Parameters
    ----------
    images_by_id : mapping or ImageSet
        Anything where ``images_by_id[id]`` gives the image ``(3, H, W)`` in ``[0, 1]`` (an
        :class:`~neuroperception.stimuli.ImageSet`, a dict of tensors or ``(H, W, 3)`` arrays).
    table : pandas.DataFrame
        The triplet table of :func:`~neuroperception.behaviour.generate_triplets`.
    n : int
        Number of triplets shown when ``rows`` is None: the clearest congruent and incongruent
        ones (largest deltas at both levels), alternating.
    rows : sequence of int, optional
        Positions in ``table`` to show instead.
    panel_size : float
        Inches per image.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> imgs = {k: np.random.rand(3, 8, 8) for k in ("r", "a", "b")}
    >>> t = pd.DataFrame({"ref": ["r"], "option_a": ["a"], "option_b": ["b"], "d_low_a": [.2], "d_low_b": [.4],
    ...                   "d_high_a": [.3], "d_high_b": [.1], "delta_low": [-.2], "delta_high": [.2],
    ...                   "bin_low": [0], "bin_high": [1], "condition": ["incongruent"]})
    >>> len(plot_triplets(imgs, t).axes)
    3
    """
    _check_table(table)
    if rows is None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"n: received {n!r}; expected a positive int")
        rows = _pick(table, int(n))
    rows = list(rows)
    if not rows or any(not 0 <= int(r) < len(table) for r in rows):
        raise InputError(f"rows: received {rows}; expected positions in 0..{len(table) - 1}")
    fig, axes = plt.subplots(len(rows), 3, figsize=(3 * panel_size + 0.6, len(rows) * (panel_size + 0.55)),
                             squeeze=False)
    for ax_row, pos in zip(axes, rows):
        t = table.iloc[int(pos)]
        panels = (("ref", "reference"), ("option_a", "A"), ("option_b", "B"))
        for ax, (col, label) in zip(ax_row, panels):
            key = t[col]
            try:
                image = images_by_id[key]
            except (KeyError, IndexError) as err:
                raise InputError(f"images_by_id: has no image for id {key!r} (column {col}); expected every id "
                                 "of the shown triplets") from err
            ax.imshow(_as_hwc(image, key))
            ax.set_xticks([])
            ax.set_yticks([])
            if col == "ref":
                ax.set_title(f"#{t.get('triplet', pos)} {t['condition']}", fontsize=7)
                ax.set_ylabel(str(key)[-22:], fontsize=6)
            else:
                o = col[-1]
                ax.set_title(f"{label}: d_low={t[f'd_low_{o}']:.3f}\nd_high={t[f'd_high_{o}']:.3f}", fontsize=7)
    fig.tight_layout()
    return fig
