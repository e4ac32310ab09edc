"""Image grids, RDM heat maps and feature PCA scatter plots (matplotlib, Agg-safe)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import InputError, ShapeError  # noqa: E402

__all__ = ["plot_image_grid", "plot_rdm", "plot_rdms", "plot_feature_pca", "save_figure", "compact_labels"]


def _short(label: str, width: int = 18) -> str:
    label = str(label)
    return label if len(label) <= width else "…" + label[-(width - 1):]


def compact_labels(labels: Sequence[str]) -> list[str]:
    """Drop the ``/``-separated parts of ids that every id of the same kind shares.

    Ids of one kind share their first part (``grating/...``); parts equal across that whole group
    (``phase=0``, ``contrast=1``) say nothing on a figure and are dropped.

    Examples
    --------
    >>> compact_labels(["grating/ori=0/phase=0", "grating/ori=90/phase=0", "skimage/cat"])
    ['grating/ori=0', 'grating/ori=90', 'skimage/cat']
    """
    parts = [str(v).split("/") for v in labels]
    groups: dict[tuple[str, int], list[list[str]]] = {}
    for p in parts:
        groups.setdefault((p[0], len(p)), []).append(p)
    out = []
    for p in parts:
        group = groups[(p[0], len(p))]
        if len(group) < 2:
            out.append("/".join(p))
            continue
        keep = [p[0]] + [seg for k, seg in enumerate(p[1:], 1) if any(q[k] != seg for q in group)]
        out.append("/".join(keep))
    return out


def plot_image_grid(images, labels: Sequence[str] | None = None, ncols: int = 8, panel_size: float = 1.6):
    """Show images ``(N, 3, H, W)`` in ``[0, 1]`` (tensor or array) in a grid with their ids.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_image_grid(np.random.rand(3, 3, 8, 8), labels=["a", "b", "c"])
    """
    arr = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images, dtype=np.float32)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ShapeError(f"images: received shape {arr.shape}; expected (N, 3, H, W)")
    n = arr.shape[0]
    labels = compact_labels(labels) if labels is not None else None
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows + 0.2), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(np.clip(arr[k].transpose(1, 2, 0), 0, 1), cmap="gray" if arr.shape[1] == 1 else None)
            if labels is not None:
                ax.set_title(_short(labels[k], 24), fontsize=7)
    fig.tight_layout()
    return fig


def plot_rdm(rdm, labels: Sequence[str] | None = None, title: str | None = None, ax=None, cmap: str = "viridis"):
    """Heat map of a representational dissimilarity matrix ``(N, N)``.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_rdm(1 - np.eye(4), title="toy")
    """
    m = np.asarray(rdm, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ShapeError(f"rdm: received shape {m.shape}; expected a square (N, N) matrix")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.2, 3.6))
    im = ax.imshow(m, cmap=cmap)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="dissimilarity")
    if labels is not None and len(labels) <= 40:
        labels = compact_labels(labels)
        ticks = np.arange(len(labels))
        ax.set_xticks(ticks, [_short(v, 16) for v in labels], rotation=90, fontsize=5)
        ax.set_yticks(ticks, [_short(v, 16) for v in labels], fontsize=5)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if own:
        fig.tight_layout()
        return fig
    return ax.figure


def plot_rdms(rdms: Mapping[str, np.ndarray], labels: Sequence[str] | None = None, ncols: int = 4):
    """One RDM heat map per entry of ``rdms`` (e.g. per layer), side by side.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_rdms({"a": 1 - np.eye(3), "b": np.ones((3, 3))})
    """
    if not rdms:
        raise InputError("rdms: received an empty mapping; expected at least one RDM")
    n = len(rdms)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 3.6 * nrows), squeeze=False)
    for ax, (name, rdm) in zip(axes.flat, rdms.items()):
        plot_rdm(rdm, labels=labels, title=name, ax=ax)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_feature_pca(features, groups: Sequence[str] | None = None, title: str | None = None):
    """Scatter of the first two principal components of ``(N, F)`` features, coloured by group.

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_feature_pca(np.random.rand(10, 5), groups=["a"] * 5 + ["b"] * 5)
    """
    x = np.asarray(features, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ShapeError(f"features: received shape {x.shape}; expected (N >= 2, F)")
    x = x - x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    pcs = u[:, :2] * s[:2] if s.size >= 2 else np.c_[u[:, 0] * s[0], np.zeros(len(x))]
    var = s**2 / max((s**2).sum(), 1e-12)
    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    groups = list(groups) if groups is not None else ["all"] * len(x)
    for g in dict.fromkeys(groups):
        sel = np.array([v == g for v in groups])
        ax.scatter(pcs[sel, 0], pcs[sel, 1], s=18, label=str(g), alpha=0.8)
    ax.set_xlabel(f"PC1 ({100 * var[0]:.0f}% var)")
    ax.set_ylabel(f"PC2 ({100 * (var[1] if var.size > 1 else 0):.0f}% var)")
    if len(set(groups)) > 1:
        ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig, path, dpi: int = 110) -> Path:
    """Save a figure as PNG (creating folders) and close it; returns the path.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; it is closed after saving.
    path : str or os.PathLike
        Output file; missing parent folders are created.
    dpi : int, default 110
        Resolution: the PNG is ``dpi`` × the figure's size in inches.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> fig = plt.figure(figsize=(2, 1))
    >>> out = save_figure(fig, Path(tempfile.mkdtemp()) / "new" / "fig.png", dpi=50)
    >>> out.name, Image.open(out).size, plt.fignum_exists(fig.number)
    ('fig.png', (100, 50), False)
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    return p
