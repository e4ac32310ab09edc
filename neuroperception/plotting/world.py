"""Figures of the miniature world: scenes with their captions, an episode as a strip of frames.

The functions read the attributes of :class:`~neuroperception.world.WorldScenes` /
:class:`~neuroperception.world.WorldEpisodes` (``images``/``videos``, ``objects``, ``captions``)
and import nothing of the world itself (plotting is a leaf).
"""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import InputError  # noqa: E402

__all__ = ["plot_scenes", "plot_episode", "plot_probes"]


def _caption_of(captions, sid: str, kind: str | None) -> str:
    rows = captions[captions.stimulus_id == sid]
    if kind is not None and "kind" in rows:
        rows = rows[rows.kind == kind]
    return str(rows.caption.iloc[0]) if len(rows) else ""


def _as_hwc(image) -> np.ndarray:
    arr = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float32)
    return np.clip(arr.transpose(1, 2, 0), 0, 1)


def plot_scenes(scenes, n: int = 8, *, ncols: int = 4, caption: str | None = None, boxes: bool = False,
                panel_size: float = 2.0):
    """The first ``n`` scenes in a grid, each titled with one of its captions.

    Parameters
    ----------
    scenes : WorldScenes
        From :func:`~neuroperception.world.render_scenes`.
    n : int
        Scenes to show.
    ncols : int
        Columns of the grid.
    caption : str, optional
        Caption kind to show (``"relation"``, ``"list"``, ``"count"``, ``"object"``); each scene's first
        caption of that kind, or its first caption when ``None`` or when it has none of that kind.
    boxes : bool
        Outline every object's visible box.
    panel_size : float
        Inches per panel.

    Examples
    --------
    >>> from neuroperception.world import render_scenes
    >>> fig = plot_scenes(render_scenes(4, random_state=0), n=4, boxes=True)
    >>> len([ax for ax in fig.axes if ax.get_title()])
    4
    """
    if not hasattr(scenes, "images") or not hasattr(scenes, "captions"):
        raise InputError(f"scenes: received {type(scenes).__name__}; expected a WorldScenes (render_scenes)")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n: received {n!r}; expected a positive int")
    ids = list(scenes.images.ids)[: int(n)]
    images = scenes.images[ids].images if len(ids) < len(scenes.images) else scenes.images.images
    ncols = max(1, min(ncols, len(ids)))
    nrows = int(np.ceil(len(ids) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, (panel_size + 0.45) * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(ids):
            continue
        ax.imshow(_as_hwc(images[k]), interpolation="nearest")
        text = _caption_of(scenes.captions, ids[k], caption) or _caption_of(scenes.captions, ids[k], None)
        ax.set_title("\n".join(textwrap.wrap(text, 30)), fontsize=7)
        if boxes:
            for row in scenes.objects[scenes.objects.stimulus_id == ids[k]].itertuples():
                ax.add_patch(plt.Rectangle((row.x0 - 0.5, row.y0 - 0.5), row.x1 - row.x0, row.y1 - row.y0,
                                           fill=False, edgecolor="white", linewidth=0.8))
    fig.tight_layout()
    return fig


def plot_episode(episodes, index: int = 0, *, n_frames: int | None = None, flow: bool = True, panel_size: float = 1.5):
    """One episode as a strip of frames titled with their step (``phase``), the flow's arrows on top.

    Parameters
    ----------
    episodes : WorldEpisodes
        From :func:`~neuroperception.world.render_episodes`.
    index : int
        Which episode.
    n_frames : int, optional
        Show this many frames, evenly spaced (all by default).
    flow : bool
        Draw the true flow from each frame to the next as an arrow at the moving object's centre.
    panel_size : float
        Inches per frame.

    Examples
    --------
    >>> from neuroperception.world import render_episodes
    >>> fig = plot_episode(render_episodes(1, kind="place", n_frames=8), n_frames=4)
    >>> len(fig.axes)
    4
    """
    if not hasattr(episodes, "videos") or not hasattr(episodes, "flow"):
        raise InputError(f"episodes: received {type(episodes).__name__}; expected a WorldEpisodes (render_episodes)")
    ids = list(episodes.videos.ids)
    if not isinstance(index, (int, np.integer)) or not -len(ids) <= index < len(ids):
        raise InputError(f"index: received {index!r}; expected an episode index in [0, {len(ids) - 1}]")
    sid = ids[int(index)]
    video = episodes.videos[sid]
    total = video.shape[0]
    shown = np.unique(np.linspace(0, total - 1, min(n_frames or total, total)).round().astype(int))
    rows = episodes.objects[episodes.objects.stimulus_id == sid]
    fig, axes = plt.subplots(1, len(shown), figsize=(panel_size * len(shown), panel_size + 0.6), squeeze=False)
    for ax, t in zip(axes.flat, shown):
        ax.axis("off")
        ax.imshow(_as_hwc(video[t]), interpolation="nearest")
        here = rows[rows.frame == t]
        ax.set_title(f"t={t}\n{here.phase.iloc[0] if len(here) else ''}", fontsize=7)
        if flow:
            for row in here[(here.vx != 0) | (here.vy != 0)].itertuples():
                ax.arrow(row.x, row.y, 3 * row.vx, 3 * row.vy, color="white", width=0.4, head_width=2.0,
                         length_includes_head=True)
    fig.suptitle(_caption_of(episodes.captions, sid, None), fontsize=8)
    fig.tight_layout()
    return fig


def plot_probes(table, *, panel_size: float = 3.0):
    """What each layer of a network makes linearly decodable: probe accuracy against depth, chance dashed.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per layer (in depth order), one column per attribute, held-out accuracies in
        ``[0, 1]``, as :func:`~neuroperception.world.probe_layers` returns; ``attrs["chance"]``
        (``{attribute: chance level}``), where present, is drawn as dashed lines.
    panel_size : float
        Height of the figure in inches (the width is 1.6 times it).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"colour": [0.99, 0.3], "category": [0.4, 1.0]},
    ...                      index=pd.Index(["conv1", "fc"], name="layer"))
    >>> table.attrs["chance"] = {"colour": 1 / 6, "category": 1 / 8}
    >>> fig = plot_probes(table)
    >>> [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    ['colour', 'category']
    """
    if not hasattr(table, "columns") or not hasattr(table, "index") or table.shape[0] < 1 or table.shape[1] < 1:
        raise InputError(f"table: received {type(table).__name__}; expected a DataFrame of accuracies, one row per "
                         "layer and one column per attribute (probe_layers)")
    values = np.asarray(table.to_numpy(dtype=float))
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise InputError("table: received values outside [0, 1] or not finite; expected held-out accuracies")
    fig, ax = plt.subplots(figsize=(1.6 * panel_size, panel_size))
    x = np.arange(table.shape[0])
    chance = dict(getattr(table, "attrs", {}).get("chance") or {})
    for k, column in enumerate(table.columns):
        line, = ax.plot(x, values[:, k], marker="o", label=str(column))
        if column in chance:
            ax.axhline(float(chance[column]), color=line.get_color(), linestyle="--", linewidth=0.8)
    ax.set_xticks(x, [str(i) for i in table.index])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(str(table.index.name or "layer"))
    ax.set_ylabel("held-out probe accuracy")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(table.columns), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
