"""Motion figures: optical-flow quivers over a frame, true-vs-decoded flows, and GIF animations.

Flows follow the package's convention ``(2, H, W)``: channel 0 = dx (right), 1 = dy (down), pixels.
Arrows are drawn in image coordinates (y pointing down) and coloured by direction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._validation import check_images, describe  # noqa: E402
from ..errors import InputError, ShapeError  # noqa: E402

__all__ = ["plot_flow", "plot_flow_comparison", "save_animation"]


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "dims") and hasattr(x, "values"):
        x = x.values
    return np.asarray(x)


def _flows(flow: Any, name: str, batch: bool) -> np.ndarray:
    """``(2, H, W)`` (or ``(N, 2, H, W)`` when ``batch``) finite float flows."""
    arr = _numpy(flow)
    if batch and arr.ndim == 3:
        arr = arr[None]
    ndim = 4 if batch else 3
    if arr.ndim != ndim or arr.shape[-3] != 2 or not np.issubdtype(arr.dtype, np.number):
        raise ShapeError(f"{name}: received {describe(arr)}; expected {'(N, 2, H, W)' if batch else '(2, H, W)'} "
                         "with channel 0 = dx and channel 1 = dy in pixels")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: received {describe(arr)}; expected finite displacements")
    return arr


def _image(image: Any, hw: tuple[int, int]) -> np.ndarray:
    """One image as ``(H, W, 3)`` in [0, 1], of the flow's size."""
    x = _numpy(image) if not hasattr(image, "convert") else image
    if isinstance(x, np.ndarray) and x.dtype != np.uint8:
        if x.ndim == 2:
            x = x[None, None]
        elif x.ndim == 3:
            x = x[None] if x.shape[0] in (1, 3) else x.transpose(2, 0, 1)[None]
    out = check_images(x, name="image")
    if out.shape[0] != 1 or tuple(out.shape[-2:]) != tuple(hw):
        raise ShapeError(f"image: received {tuple(out.shape)}; expected one image of the flow's size {tuple(hw)}")
    return out[0].permute(1, 2, 0).cpu().numpy()


def _quiver(ax, flow: np.ndarray, step: int, scale: float | None, color: Any, max_speed: float) -> None:
    h, w = flow.shape[-2:]
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    u, v = flow[0][ys, xs], flow[1][ys, xs]
    if scale is None:  # longest arrow spans about 0.9 grid steps
        scale = max(max_speed, 1e-12) / (0.9 * step)
    kwargs = dict(angles="xy", scale_units="xy", scale=scale, width=0.006, headwidth=4)
    if isinstance(color, str) and color == "direction":
        ax.quiver(xs, ys, u, v, np.arctan2(v, u), cmap="hsv", clim=(-np.pi, np.pi), **kwargs)
    else:
        ax.quiver(xs, ys, u, v, color=color, **kwargs)


def _default_step(hw: tuple[int, int]) -> int:
    return max(1, int(round(max(hw) / 16)))


def plot_flow(flow: Any, image: Any = None, *, step: int | None = None, ax=None, scale: float | None = None,
              color: Any = "direction", title: str | None = None, panel_size: float = 4.0):
    """Draw a flow field as arrows (optionally over its frame), coloured by direction.

    Parameters
    ----------
    flow : array, tensor or DataArray ``(2, H, W)``
        dx, dy in pixels.
    image : array, tensor or PIL image, optional
        The frame the flow starts from, ``(3, H, W)``/``(H, W, 3)`` float in [0, 1], uint8 or PIL, of
        the flow's size.
    step : int, optional
        Distance in pixels between arrows (default: about 16 arrows along the longer side).
    ax : matplotlib Axes, optional
        Draw into these axes; default a new figure.
    scale : float, optional
        Displacement (pixels) per pixel of arrow length: ``1.0`` draws true lengths; default scales
        the longest arrow to about one grid step.
    color : "direction" or a matplotlib colour
        ``"direction"`` colours each arrow by its angle (hsv wheel: right red, down green-yellow...).
    title : str, optional
    panel_size : float
        Figure width in inches when a new figure is made.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> flow = np.zeros((2, 32, 32)); flow[0] = 1.0
    >>> fig = plot_flow(flow, image=np.full((32, 32, 3), 0.5), step=8)
    >>> len(fig.axes[0].collections[0].get_offsets()), len(fig.axes[0].images)
    (16, 1)
    """
    f = _flows(flow, "flow", batch=False)
    hw = f.shape[-2:]
    step = _default_step(hw) if step is None else step
    if not isinstance(step, (int, np.integer)) or step < 1:
        raise InputError(f"step: received {step!r}; expected a positive int (pixels between arrows)")
    if ax is None:
        fig, ax = plt.subplots(figsize=(panel_size, panel_size * hw[0] / max(hw[1], 1)))
    fig = ax.figure
    if image is not None:
        ax.imshow(_image(image, hw), interpolation="nearest")
    _quiver(ax, f, step, scale, color, float(np.hypot(f[0], f[1]).max()))
    ax.set_xlim(-0.5, hw[1] - 0.5)
    ax.set_ylim(hw[0] - 0.5, -0.5)  # image coordinates: y down
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_flow_comparison(target: Any, pred: Any, image: Any = None, *, labels: Any = None, max_rows: int = 4,
                         step: int | None = None, show_error: bool = True, panel_size: float = 2.6):
    """True and decoded flows side by side, one row per stimulus, with the end-point-error map.

    Both flows of a row share one arrow scale, so lengths compare directly.

    Parameters
    ----------
    target, pred : array, tensor or DataArray ``(N, 2, H, W)``
        Flows in the same stimulus order (``(2, H, W)`` for one stimulus).
    image : array, optional
        A frame under the arrows: one ``(3, H, W)``/``(H, W, 3)`` image for all rows, or
        ``(N, 3, H, W)`` one per stimulus.
    labels : sequence of str, optional
        Row titles (default: ``stimulus_id`` of a DataArray, else the index).
    max_rows : int
        Stimuli shown (the first ones).
    step : int, optional
        Pixels between arrows.
    show_error : bool
        Add a third column with the per-pixel end-point error ``|pred - target|`` (pixels).
    panel_size : float
        Width in inches of one panel.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> target = np.ones((3, 2, 16, 16)); pred = target * 0.8
    >>> fig = plot_flow_comparison(target, pred, max_rows=2)
    >>> len(fig.axes) >= 6, fig.axes[2].get_title()
    (True, 'EPE 0.283 px')
    """
    t, d = _flows(target, "target", batch=True), _flows(pred, "pred", batch=True)
    if t.shape != d.shape:
        raise ShapeError(f"pred: received {describe(d)}; expected the shape of target {t.shape}")
    if not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
        raise InputError(f"max_rows: received {max_rows!r}; expected a positive int")
    n = min(len(t), int(max_rows))
    if labels is None:
        src = target if hasattr(target, "coords") and "stimulus_id" in target.coords else None
        labels = [str(v) for v in src["stimulus_id"].values] if src is not None else [str(i) for i in range(len(t))]
    labels = [str(v) for v in labels]
    if len(labels) < n:
        raise InputError(f"labels: received {len(labels)} labels; expected one per stimulus ({len(t)})")
    images: list[Any] = [None] * n
    if image is not None:
        arr = _numpy(image) if not hasattr(image, "convert") else image
        if isinstance(arr, np.ndarray) and arr.ndim == 4:
            if len(arr) < len(t):
                raise ShapeError(f"image: received {describe(arr)}; expected one image or one per stimulus ({len(t)})")
            images = [arr[i] for i in range(n)]
        else:
            images = [image] * n
    ncols = 3 if show_error else 2
    fig, axes = plt.subplots(n, ncols, figsize=(panel_size * ncols, panel_size * n * t.shape[-2] / max(t.shape[-1], 1)),
                             squeeze=False)
    for i in range(n):
        pair_max = float(max(np.hypot(*t[i]).max(), np.hypot(*d[i]).max(), 1e-12))
        s = _default_step(t.shape[-2:]) if step is None else step
        scale = pair_max / (0.9 * s)
        plot_flow(t[i], images[i], step=s, ax=axes[i, 0], scale=scale, title=f"{labels[i]}: true")
        plot_flow(d[i], images[i], step=s, ax=axes[i, 1], scale=scale, title="decoded")
        if show_error:
            err = np.hypot(*(d[i] - t[i]))
            im = axes[i, 2].imshow(err, cmap="magma", vmin=0)
            axes[i, 2].set_title(f"EPE {err.mean():.3f} px", fontsize=9)
            axes[i, 2].set_xticks([])
            axes[i, 2].set_yticks([])
            fig.colorbar(im, ax=axes[i, 2], fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def _frames_uint8(frames: Any) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 from ``(T, 3, H, W)``/``(T, H, W, 3)`` floats in [0, 1] or uint8."""
    arr = _numpy(frames)
    if arr.ndim != 4:
        raise ShapeError(f"frames: received {describe(arr)}; expected (T, 3, H, W) or (T, H, W, 3)")
    if arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(0, 2, 3, 1)
    elif arr.shape[-1] not in (1, 3):
        raise ShapeError(f"frames: received {describe(arr)}; expected 3 (or 1) channels, (T, 3, H, W) or (T, H, W, 3)")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise InputError(f"frames: received dtype {arr.dtype}; expected float in [0, 1] or uint8")
        if not np.isfinite(arr).all() or arr.min() < -1e-4 or arr.max() > 1 + 1e-4:
            raise InputError(f"frames: received {describe(arr)}; expected finite values in [0, 1]")
        arr = np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return arr


def save_animation(frames: Any, path: Any, fps: float = 8, *, overwrite: bool = False, loop: int = 0) -> Path:
    """Write frames as an animated GIF (with Pillow).

    Parameters
    ----------
    frames : array or tensor
        ``(T, 3, H, W)`` or ``(T, H, W, 3)``, float in [0, 1] or uint8 (e.g. from
        :func:`~neuroperception.decoding.flow.render_motion`).
    path : str or Path
        Output file, ending in ``.gif``; folders are created.
    fps : float
        Frames per second (each frame lasts ``round(1000 / fps)`` ms).
    overwrite : bool, default False
        Replace an existing file; otherwise an existing file is an error and is left untouched.
    loop : int
        Times the GIF repeats (0 = forever).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    InputError, ShapeError
        Not a ``.gif`` path, bad fps, frames of the wrong shape or range.

    Notes
    -----
    Pillow merges identical consecutive frames into one longer frame; the animation looks the same.

    Examples
    --------
    >>> import tempfile, os
    >>> frames = np.random.default_rng(0).random((4, 3, 8, 8))
    >>> out = save_animation(frames, os.path.join(tempfile.mkdtemp(), "motion.gif"), fps=4)
    >>> from PIL import Image
    >>> Image.open(out).n_frames
    4
    """
    from PIL import Image

    p = Path(path)
    if p.suffix.lower() != ".gif":
        raise InputError(f"path: received {str(p)!r}; expected a file name ending in .gif")
    if not isinstance(fps, (int, float, np.number)) or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"fps: received {fps!r}; expected a positive number of frames per second")
    arr = _frames_uint8(frames)
    if p.exists() and not overwrite:
        raise FileExistsError(f"path: {str(p)!r} already exists and was left untouched; pass overwrite=True to "
                              "replace it or choose another name")
    p.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(a) for a in arr]
    images[0].save(p, format="GIF", save_all=True, append_images=images[1:], duration=int(round(1000 / fps)),
                   loop=int(loop), disposal=1)
    return p
