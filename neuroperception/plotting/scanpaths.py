"""Scanpaths drawn over their image (numbered fixations, size by duration) and saliency overlays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._validation import check_images, describe  # noqa: E402
from ..errors import InputError, ShapeError  # noqa: E402

__all__ = ["plot_scanpaths", "plot_saliency_overlay"]


def _image_hwc(image: Any, value_range=(0.0, 1.0)) -> np.ndarray:
    """One image as an ``(H, W, 3)`` float array in [0, 1] from HWC/CHW/NCHW arrays, tensors or PIL."""
    x = image.detach().cpu().numpy() if hasattr(image, "detach") else image
    if isinstance(x, np.ndarray) and x.dtype != np.uint8:
        if x.ndim == 2:
            x = x[None, None]
        elif x.ndim == 3:
            x = x[None] if x.shape[0] in (1, 3) else x.transpose(2, 0, 1)[None]
    out = check_images(x, value_range=value_range, name="image")
    if out.shape[0] != 1:
        raise ShapeError(f"image: received {out.shape[0]} images; expected one image to draw on")
    return out[0].permute(1, 2, 0).cpu().numpy()


def _paths(scanpaths: Any) -> tuple[list[np.ndarray], list[str] | None]:
    """A list of ``(n, 3)`` arrays (x, y, duration; NaN when unknown) and default labels."""
    if hasattr(scanpaths, "arrays") and hasattr(scanpaths, "meta"):  # a Scanpaths table
        meta = scanpaths.meta
        labels = [f"{r.subject or r.stimulus_id} #{r.scanpath}" for r in meta.itertuples()]
        return list(scanpaths.arrays(with_duration=True)), labels
    items = [scanpaths] if isinstance(scanpaths, np.ndarray) and scanpaths.ndim == 2 else list(scanpaths)
    if not items:
        raise InputError("scanpaths: received an empty list; expected at least one (n, 2) or (n, 3) array")
    out = []
    for k, p in enumerate(items):
        arr = np.asarray(p, dtype=float)
        if arr.ndim != 2 or arr.shape[1] not in (2, 3) or arr.shape[0] == 0:
            raise ShapeError(f"scanpaths[{k}]: received {describe(arr)}; expected (n_fixations >= 1, 2) "
                             "(x, y) or (n, 3) (x, y, duration)")
        if not np.isfinite(arr[:, :2]).all():
            raise InputError(f"scanpaths[{k}]: received NaN/Inf coordinates; expected finite pixels")
        out.append(arr if arr.shape[1] == 3 else np.c_[arr, np.full(len(arr), np.nan)])
    return out, None


def _marker_sizes(paths: list[np.ndarray], min_size: float, max_size: float) -> list[np.ndarray]:
    durations = np.concatenate([p[:, 2] for p in paths])
    finite = durations[np.isfinite(durations)]
    if finite.size == 0 or np.ptp(finite) == 0:
        return [np.full(len(p), (min_size + max_size) / 2) for p in paths]
    lo, hi = finite.min(), finite.max()
    mid = (min_size + max_size) / 2
    return [np.where(np.isfinite(p[:, 2]), min_size + (p[:, 2] - lo) / (hi - lo) * (max_size - min_size), mid)
            for p in paths]


def _axes(ax, image_hw: tuple[int, int] | None, panel_size: float):
    if ax is not None:
        return ax.figure, ax
    h, w = image_hw if image_hw is not None else (3, 4)
    fig, ax = plt.subplots(figsize=(panel_size, panel_size * h / max(w, 1)), layout="constrained")  # room for a legend
    return fig, ax


_LEGENDS = ("below", "best", None)


def _legend(ax, n: int, where: str | None) -> None:
    """The scanpaths' legend below the image (never over a fixation) or inside at matplotlib's best spot."""
    if where == "below":
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.01),
                  ncol=min(n, 4), markerscale=0.5, handletextpad=0.3, columnspacing=1.0, borderaxespad=0.0)
    elif where == "best":
        ax.legend(fontsize=7, loc="best", markerscale=0.5, framealpha=0.5)


def plot_scanpaths(image, scanpaths, ax=None, *, labels: Sequence[str] | None = None,
                   colors: Sequence[Any] | None = None, numbers: bool = True, min_size: float = 60.0,
                   max_size: float = 400.0, value_range=(0.0, 1.0), title: str | None = None, panel_size: float = 6.0,
                   legend: str | None = "below"):
    """Draw scanpaths over an image: numbered fixations joined by lines, circle area by duration.

    Parameters
    ----------
    image : array, tensor, PIL image or None
        The image the fixations are on: ``uint8`` ``(H, W, 3)``, float ``(3, H, W)``/``(H, W, 3)``/
        ``(1, 3, H, W)`` in ``value_range``, or PIL. ``None`` draws on blank axes (y pointing down).
    scanpaths : Scanpaths, array or list of arrays
        One ``(n, 2)`` (x, y) or ``(n, 3)`` (x, y, duration) array, a list of them, or a
        :class:`~neuroperception.scanpaths.Scanpaths` table (select one image first, e.g.
        ``sp.select(stimulus_id=...)``). Pixels, origin top-left.
    ax : matplotlib Axes, optional
        Draw into these axes; default a new figure.
    labels : sequence of str, optional
        Legend entries, one per scanpath (default: subject and id for a table, none for arrays).
    colors : sequence of colours, optional
        One per scanpath; default the ``tab10`` cycle.
    numbers : bool
        Write the fixation's rank (1, 2, ...) in each circle.
    min_size, max_size : float
        Marker areas (points²) of the shortest and longest fixation; unknown durations get the middle.
    value_range : tuple
        Range of float image values (never guessed).
    title : str, optional
    panel_size : float
        Figure width in inches when a new figure is made.
    legend : {"below", "best", None}, default "below"
        Where the labels go: under the image, outside the axes, so no fixation is hidden
        (new figures use a constrained layout that makes room for it; in a grid of your own, call
        ``fig.tight_layout()`` or use ``layout="constrained"``); ``"best"``: inside the axes at
        matplotlib's least crowded spot, on a half-transparent frame; None: no legend. Drawn when
        there are labels and at most 12 scanpaths.

    Returns
    -------
    matplotlib.figure.Figure
        One scatter collection (the fixations) and one line per scanpath, plus the number labels.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((60, 80, 3), dtype=np.uint8)
    >>> fig = plot_scanpaths(img, [np.array([[10, 10, 200], [40, 30, 400]]), np.array([[70, 50]])])
    >>> [len(c.get_offsets()) for c in fig.axes[0].collections]
    [2, 1]
    """
    paths, default_labels = _paths(scanpaths)
    labels = list(labels) if labels is not None else default_labels
    if labels is not None and len(labels) != len(paths):
        raise InputError(f"labels: received {len(labels)}; expected one per scanpath ({len(paths)})")
    if colors is not None and len(colors) < len(paths):
        raise InputError(f"colors: received {len(colors)}; expected one per scanpath ({len(paths)})")
    if legend not in _LEGENDS:
        raise InputError(f"legend: received {legend!r}; expected one of {_LEGENDS}")
    rgb = _image_hwc(image, value_range) if image is not None else None
    fig, ax = _axes(ax, rgb.shape[:2] if rgb is not None else None, panel_size)
    if rgb is not None:
        ax.imshow(rgb, interpolation="nearest")
    cycle = plt.get_cmap("tab10").colors
    for k, (path, sizes) in enumerate(zip(paths, _marker_sizes(paths, min_size, max_size))):
        color = colors[k] if colors is not None else cycle[k % len(cycle)]
        label = labels[k] if labels is not None else None
        ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.5, alpha=0.8, zorder=2)
        ax.scatter(path[:, 0], path[:, 1], s=sizes, color=color, alpha=0.6, edgecolors="white", linewidths=0.8,
                   zorder=3, label=label)
        if numbers:
            for j, (x, y) in enumerate(path[:, :2], start=1):
                ax.text(x, y, str(j), ha="center", va="center", fontsize=7, color="white", zorder=4,
                        fontweight="bold")
    if rgb is None:
        ax.invert_yaxis()
        ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if labels is not None and len(paths) <= 12:
        _legend(ax, len(paths), legend)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _saliency_2d(saliency_map) -> np.ndarray:
    arr = saliency_map
    if hasattr(arr, "dims") and "stimulus" in arr.dims:
        if arr.sizes["stimulus"] != 1:
            raise ShapeError(f"saliency_map: received {arr.sizes['stimulus']} maps; expected one "
                             "(pick one with .isel(stimulus=k) or .sel(...))")
        arr = arr.isel(stimulus=0)
    arr = np.asarray(arr.detach().cpu() if hasattr(arr, "detach") else arr, dtype=float)
    if arr.ndim != 2:
        raise ShapeError(f"saliency_map: received {describe(arr)}; expected a (height, width) map")
    if not np.isfinite(arr).all():
        raise InputError(f"saliency_map: received {describe(arr)}; expected finite values (no NaN/Inf)")
    return arr


def plot_saliency_overlay(image, saliency_map, fixations=None, *, alpha: float = 0.5, cmap: str = "jet",
                          ax=None, value_range=(0.0, 1.0), colorbar: bool = False, title: str | None = None,
                          panel_size: float = 6.0):
    """Show a saliency map as a translucent heat map over its image, optionally with fixations.

    The map is stretched over the image extent, so a map computed at another resolution lines up.

    Parameters
    ----------
    image : array, tensor, PIL image or None
        As in :func:`plot_scanpaths`; ``None`` shows the map alone.
    saliency_map : array ``(H, W)`` or DataArray
        A 2-D map, or a ``("stimulus", "y", "x")`` DataArray holding one stimulus.
    fixations : array ``(n, 2)``, list of arrays or Scanpaths, optional
        Fixations drawn as white dots (all scanpaths together).
    alpha : float
        Opacity of the heat map, in [0, 1].
    cmap : str
        Matplotlib colour map of the heat map.
    ax : matplotlib Axes, optional
    value_range : tuple
        Range of float image values.
    colorbar : bool
        Add a colour bar for the map values.
    title : str, optional
    panel_size : float
        Figure width in inches when a new figure is made.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_saliency_overlay(np.zeros((30, 40, 3), np.uint8), np.random.rand(15, 20),
    ...                             fixations=np.array([[5, 5], [20, 10]]))
    >>> len(fig.axes[0].images), len(fig.axes[0].collections[0].get_offsets())
    (2, 2)
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise InputError(f"alpha: received {alpha!r}; expected a value in [0, 1]")
    smap = _saliency_2d(saliency_map)
    rgb = _image_hwc(image, value_range) if image is not None else None
    h, w = rgb.shape[:2] if rgb is not None else smap.shape
    fig, ax = _axes(ax, (h, w), panel_size)
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    if rgb is not None:
        ax.imshow(rgb, extent=extent, interpolation="nearest")
    heat = ax.imshow(smap, extent=extent, cmap=cmap, alpha=float(alpha) if rgb is not None else 1.0,
                     interpolation="bilinear")
    if fixations is not None:
        points = np.concatenate([p[:, :2] for p in _paths(fixations)[0]])
        ax.scatter(points[:, 0], points[:, 1], s=14, color="white", edgecolors="black", linewidths=0.6, zorder=3)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        fig.colorbar(heat, ax=ax, fraction=0.046, pad=0.04, label="saliency")
    if title:
        ax.set_title(title, fontsize=9)
    return fig
