"""Figures of deep readouts: attention maps over images, receptive-field maps and centre recovery.

The functions take arrays, DataArrays and DataFrames only (the outputs of
``AttentionReadout.attention_maps``, ``FactorizedReadout.receptive_field_maps``,
``SimulatedBrain.receptive_field_maps`` and the centre tables), so they draw measured and simulated
readouts alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from .._validation import check_images, describe  # noqa: E402
from ..errors import InputError, ShapeError  # noqa: E402

__all__ = ["plot_attention_maps", "plot_receptive_fields", "plot_centre_recovery"]


def _grids(maps: Any, name: str, dims: tuple[str, str]) -> tuple[np.ndarray, list[str] | None, list[str] | None]:
    """``(A, B, y, x)`` float array from a 4-D array or DataArray, with labels of its first two dims."""
    if isinstance(maps, xr.DataArray):
        if maps.ndim != 4 or tuple(maps.dims[2:]) != ("y", "x"):
            raise ShapeError(f"{name}: received dims {maps.dims}; expected ({dims[0]!r}, {dims[1]!r}, 'y', 'x')")
        first = maps.dims[0]
        ids = maps["stimulus_id"].values if "stimulus_id" in maps.coords else (
            maps[first].values if first in maps.coords else None)
        second = maps.dims[1]
        rows = [str(v) for v in maps[second].values] if second in maps.coords else None
        arr = np.asarray(maps.values, dtype=float)
        return arr, None if ids is None else [str(v) for v in ids], rows
    arr = np.asarray(maps.detach().cpu() if hasattr(maps, "detach") else maps, dtype=float)
    if arr.ndim != 4:
        raise ShapeError(f"{name}: received {describe(arr)}; expected ({dims[0]}, {dims[1]}, y, x)")
    return arr, None, None


def _check_finite(arr: np.ndarray, name: str) -> None:
    if arr.size == 0 or not np.isfinite(arr).all():
        raise InputError(f"{name}: received {describe(arr)}; expected finite values and at least one map")


def plot_attention_maps(images: Any, maps: Any, *, labels: Sequence[str] | None = None,
                        rows: Sequence[str] | None = None, alpha: float = 0.6, cmap: str = "magma",
                        panel_size: float = 1.8, title: str | None = None):
    """Attention maps over their images: one column per image, one row per ROI (or query).

    Each map is stretched over the whole image (the feature grid covers the image) and drawn on
    top of it with transparency ``alpha``; the first row shows the images themselves.

    Parameters
    ----------
    images : array-like or None
        ``(N, 3, H, W)`` in [0, 1] (tensor or array); ``None`` draws the maps alone.
    maps : xarray.DataArray or array-like
        ``("stimulus", "roi", "y", "x")`` attention (as ``AttentionReadout.attention_maps``
        returns), or an ``(N, R, y, x)`` array.
    labels : sequence of str, optional
        Column titles (default: the maps' ``stimulus_id``).
    rows : sequence of str, optional
        Row names (default: the maps' ``roi``/``query`` coordinate, else ``row0``...).
    alpha : float
        Opacity of the maps over the images.
    cmap : str
        Colour map of the attention.
    panel_size : float
        Inches per panel.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ShapeError
        Maps that are not 4-D, or images whose count differs from the maps'.
    InputError
        Non-finite maps, images outside [0, 1], labels of the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_attention_maps(np.random.rand(2, 3, 16, 16), np.random.rand(2, 3, 4, 4))
    >>> len(fig.axes)
    8
    """
    arr, ids, names = _grids(maps, "maps", ("stimulus", "roi"))
    _check_finite(arr, "maps")
    n, r = arr.shape[:2]
    if images is not None:
        imgs = check_images(images, name="images").permute(0, 2, 3, 1).cpu().numpy()
        if imgs.shape[0] != n:
            raise ShapeError(f"images: received {imgs.shape[0]} images; expected one per map stimulus ({n})")
    labels = list(labels) if labels is not None else (ids or [f"stimulus {k}" for k in range(n)])
    names = list(rows) if rows is not None else (names or [f"row{k}" for k in range(r)])
    if len(labels) != n or len(names) != r:
        raise InputError(f"labels/rows: received {len(labels)} labels and {len(names)} rows; expected {n} and {r} "
                         "(stimuli and rows of maps)")
    top = int(images is not None)
    fig, axes = plt.subplots(r + top, n, figsize=(panel_size * n, panel_size * (r + top)), squeeze=False)
    vmax = float(arr.max()) if arr.max() > 0 else 1.0
    for j in range(n):
        if top:
            axes[0, j].imshow(imgs[j])
        for i in range(r):
            ax = axes[i + top, j]
            if top:
                h, w = imgs[j].shape[:2]
                ax.imshow(imgs[j])
                ax.imshow(arr[j, i], cmap=cmap, alpha=alpha, vmin=0, vmax=vmax, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                          interpolation="bilinear")
            else:
                ax.imshow(arr[j, i], cmap=cmap, vmin=0, vmax=vmax)
            if j == 0:
                ax.set_ylabel(names[i])
        axes[0, j].set_title(str(labels[j])[-18:], fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _voxel_maps(maps: Any, name: str) -> tuple[np.ndarray, list[str] | None]:
    if isinstance(maps, xr.DataArray):
        if maps.ndim != 3 or tuple(maps.dims[1:]) != ("y", "x"):
            raise ShapeError(f"{name}: received dims {maps.dims}; expected ('voxel', 'y', 'x')")
        roi = [str(v) for v in maps["roi"].values] if "roi" in maps.coords else None
        arr = np.asarray(maps.values, dtype=float)
    else:
        arr, roi = np.asarray(maps.detach().cpu() if hasattr(maps, "detach") else maps, dtype=float), None
        if arr.ndim != 3:
            raise ShapeError(f"{name}: received {describe(arr)}; expected (voxel, y, x)")
    _check_finite(arr, name)
    return arr, roi


def plot_receptive_fields(planted: Any, recovered: Any, *, voxels: Sequence[int] | None = None,
                          labels: Sequence[str] | None = None, cmap: str = "viridis", panel_size: float = 1.6,
                          title: str | None = None):
    """Planted next to recovered receptive-field maps: one column per voxel, one row per source.

    Parameters
    ----------
    planted : xarray.DataArray or array-like
        ``("voxel", "y", "x")`` maps (e.g. ``SimulatedBrain.receptive_field_maps(layer)``).
    recovered : array-like or dict of str to array-like
        The same shape, one per model (e.g. ``FactorizedReadout.receptive_field_maps()``), or one
        array (row name ``"recovered"``).
    voxels : sequence of int, optional
        Positions of the voxels to draw (default: all).
    labels : sequence of str, optional
        Column titles (default: ``voxel k`` with its ``roi`` when the planted maps have one).
    cmap : str
    panel_size : float
        Inches per panel.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ShapeError
        Maps that are not ``(voxel, y, x)`` or whose voxel counts differ.
    InputError
        Non-finite maps, voxel positions out of range, labels of the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> maps = np.random.rand(3, 5, 5)
    >>> fig = plot_receptive_fields(maps, {"model A": maps, "model B": maps})
    >>> len(fig.axes)
    9
    """
    truth, roi = _voxel_maps(planted, "planted")
    rec = dict(recovered) if isinstance(recovered, Mapping) else {"recovered": recovered}
    if not rec:
        raise InputError("recovered: received an empty dict; expected at least one model's maps")
    rec = {k: _voxel_maps(v, f"recovered[{k!r}]")[0] for k, v in rec.items()}
    for k, v in rec.items():
        if v.shape[0] != truth.shape[0]:
            raise ShapeError(f"recovered[{k!r}]: received {v.shape[0]} voxels; expected {truth.shape[0]} "
                             "(as planted)")
    idx = list(range(truth.shape[0])) if voxels is None else [int(v) for v in voxels]
    if not idx or min(idx) < 0 or max(idx) >= truth.shape[0]:
        raise InputError(f"voxels: received {idx!r}; expected positions in [0, {truth.shape[0]})")
    labels = list(labels) if labels is not None else [
        f"voxel {v}" + (f" ({roi[v]})" if roi else "") for v in idx]
    if len(labels) != len(idx):
        raise InputError(f"labels: received {len(labels)}; expected one per voxel drawn ({len(idx)})")
    rows = {"planted": truth, **rec}
    fig, axes = plt.subplots(len(rows), len(idx), figsize=(panel_size * len(idx), panel_size * len(rows)),
                             squeeze=False)
    for i, (name, arr) in enumerate(rows.items()):
        for j, v in enumerate(idx):
            ax = axes[i, j]
            ax.imshow(arr[v], cmap=cmap)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(labels[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _centres(table: Any, name: str) -> np.ndarray:
    if isinstance(table, pd.DataFrame):
        missing = [c for c in ("center_y", "center_x") if c not in table.columns]
        if missing:
            raise InputError(f"{name}: received columns {list(table.columns)}; expected 'center_y' and 'center_x'")
        arr = table[["center_y", "center_x"]].to_numpy(dtype=float)
    else:
        arr = np.asarray(table, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2 or not len(arr):
        raise ShapeError(f"{name}: received {describe(arr)}; expected (voxel, 2) centres (y, x)")
    return arr


def plot_centre_recovery(planted: Any, recovered: Mapping[str, Any], grid_shape: tuple[int, int], *,
                         roi: Sequence[str] | None = None, tolerance: float = 1.0, title: str | None = None):
    """Planted (o) vs recovered (x) receptive-field centres on the feature grid, one panel per model.

    Each panel's title gives the share of voxels whose recovered centre lies within ``tolerance``
    cells of the planted one; lines join each voxel's pair; colours are ROIs.

    Parameters
    ----------
    planted : pandas.DataFrame or array-like
        Per voxel ``center_y``/``center_x`` (and ``roi``), or an ``(voxel, 2)`` array (y, x) in cells.
    recovered : dict of str to DataFrame or array-like
        The same per model (``FactorizedReadout.receptive_fields_``,
        ``AttentionReadout.attention_centres(...)``).
    grid_shape : tuple of int
        ``(h, w)`` of the feature grid.
    roi : sequence of str, optional
        Per-voxel ROI (default: the planted table's ``roi`` column).
    tolerance : float
        Distance in cells counted as recovered.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ShapeError, InputError
        Tables without centres, voxel counts that differ, an empty ``recovered``.

    Examples
    --------
    >>> import numpy as np
    >>> c = np.array([[1.0, 2.0], [3.0, 0.5]])
    >>> fig = plot_centre_recovery(c, {"model": c + 0.2}, (4, 4), roi=["V1", "IT"])
    >>> fig.axes[0].get_title()
    'model: 100% within 1 cell'
    """
    truth = _centres(planted, "planted")
    if not isinstance(recovered, Mapping) or not recovered:
        raise InputError(f"recovered: received {type(recovered).__name__}; expected a non-empty dict of model name "
                         "to centres")
    est = {k: _centres(v, f"recovered[{k!r}]") for k, v in recovered.items()}
    for k, v in est.items():
        if len(v) != len(truth):
            raise ShapeError(f"recovered[{k!r}]: received {len(v)} voxels; expected {len(truth)} (as planted)")
    if roi is None:
        roi = planted["roi"].astype(str).tolist() if isinstance(planted, pd.DataFrame) and "roi" in planted else \
            ["all"] * len(truth)
    roi = np.asarray([str(r) for r in roi])
    if len(roi) != len(truth):
        raise InputError(f"roi: received {len(roi)} labels; expected one per voxel ({len(truth)})")
    h, w = (int(v) for v in grid_shape)
    fig, axes = plt.subplots(1, len(est), figsize=(4.2 * len(est), 4.0), squeeze=False)
    for ax, (name, centres) in zip(axes[0], est.items()):
        for k, r in enumerate(dict.fromkeys(roi)):
            sel = roi == r
            colour = f"C{k}"
            ax.scatter(truth[sel, 1], truth[sel, 0], s=18, color=colour, label=r)
            ax.scatter(centres[sel, 1], centres[sel, 0], s=18, marker="x", color=colour)
            for a, b in zip(truth[sel], centres[sel]):
                ax.plot([a[1], b[1]], [a[0], b[0]], color=colour, lw=0.5, alpha=0.6)
        ax.set_xlim(-0.5, w - 0.5), ax.set_ylim(h - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xlabel("x (grid cells)"), ax.set_ylabel("y (grid cells)")
        share = float(np.mean(np.hypot(*(truth - centres).T) <= tolerance))
        ax.set_title(f"{name}: {100 * share:.0f}% within {tolerance:g} cell", fontsize=9)
        ax.legend(fontsize=7, title="o planted, x recovered", title_fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
