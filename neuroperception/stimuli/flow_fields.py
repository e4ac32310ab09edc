"""Optical-flow fields: the shared convention, warping a frame by a flow, and the end-point error.

A flow field is a float32 tensor ``(..., 2, H, W)`` in pixels: channel 0 is the horizontal
displacement ``dx`` (positive to the right), channel 1 the vertical ``dy`` (positive downwards),
from frame ``t`` to frame ``t + 1`` (a point at ``(x, y)`` in frame ``t`` is at ``(x + dx, y + dy)``
in frame ``t + 1``), as torchvision's RAFT returns it. Procedural moving stimuli carry their true
flow in this form; estimators and decoders return it; :func:`endpoint_error` compares two of them.

Examples
--------
>>> flow = torch.zeros(1, 2, 4, 4); flow[:, 0] = 3.0; flow[:, 1] = 4.0   # 3 px right, 4 px down
>>> flow_magnitude(flow)[0, 0, 0].item(), endpoint_error(flow, torch.zeros(1, 2, 4, 4)).tolist()
(5.0, [5.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import check_images, describe
from ..errors import InputError, ShapeError

__all__ = ["check_flow", "warp", "endpoint_error", "flow_magnitude"]


def check_flow(flow: Any, *, name: str = "flow") -> torch.Tensor:
    """Validate a flow field and return it as float32 ``(..., 2, H, W)``.

    Examples
    --------
    >>> tuple(check_flow(np.zeros((3, 2, 8, 8))).shape)
    (3, 2, 8, 8)
    """
    if isinstance(flow, np.ndarray):
        flow = torch.from_numpy(np.asarray(flow, dtype=np.float32))
    elif hasattr(flow, "dims") and hasattr(flow, "values"):  # xarray.DataArray
        flow = torch.from_numpy(np.asarray(flow.values, dtype=np.float32))
    if not isinstance(flow, torch.Tensor):
        raise InputError(f"{name}: received {type(flow).__name__}; expected a tensor or array (..., 2, H, W) of "
                         "pixel displacements (dx, dy)")
    if flow.ndim < 3 or flow.shape[-3] != 2:
        raise ShapeError(f"{name}: received {describe(flow)}; expected (..., 2, H, W) with channel 0 = dx and "
                         "channel 1 = dy in pixels")
    if not torch.is_floating_point(flow):
        flow = flow.to(torch.float32)
    flow = flow.to(torch.float32)
    if not bool(torch.isfinite(flow).all()):
        n_bad = int((~torch.isfinite(flow)).sum())
        raise InputError(f"{name}: received {n_bad} NaN/Inf values; expected finite displacements in pixels")
    return flow


def warp(frames: Any, flow: Any, *, padding_mode: str = "border") -> torch.Tensor:
    """Move frames along a flow field: the predicted next frame.

    ``out(x) = frame(x - flow(x))``, sampled bilinearly (backward warping with the flow taken at the
    destination, exact for uniform motion and close for smooth flows). Differentiable in both
    arguments.

    Parameters
    ----------
    frames : torch.Tensor
        Images ``(N, 3, H, W)`` in [0, 1] (checked with :func:`~neuroperception._validation.check_images`).
    flow : torch.Tensor
        ``(N, 2, H, W)`` or ``(2, H, W)`` (shared by all frames), pixels.
    padding_mode : {"border", "zeros", "reflection"}
        What is seen where the motion uncovers the outside of the frame.

    Returns
    -------
    torch.Tensor
        ``(N, 3, H, W)`` in [0, 1].

    Raises
    ------
    ShapeError
        Flow and frames of different size or count.

    Examples
    --------
    >>> img = torch.zeros(1, 3, 8, 8); img[..., 2, 2] = 1.0
    >>> flow = torch.zeros(1, 2, 8, 8); flow[:, 0] = 3.0       # 3 pixels to the right
    >>> out = warp(img, flow)
    >>> [int(i) for i in torch.nonzero(out[0, 0])[0]]
    [2, 5]
    """
    x = check_images(frames, name="frames")
    f = check_flow(flow)
    if f.ndim == 3:
        f = f.unsqueeze(0).expand(x.shape[0], -1, -1, -1)
    if f.ndim != 4 or f.shape[0] != x.shape[0] or f.shape[-2:] != x.shape[-2:]:
        raise ShapeError(f"flow: received {tuple(f.shape)} for frames {tuple(x.shape)}; expected (N, 2, H, W) with "
                         "the frames' N, H and W")
    if padding_mode not in ("border", "zeros", "reflection"):
        raise InputError(f"padding_mode: received {padding_mode!r}; expected 'border', 'zeros' or 'reflection'")
    n, _, h, w = x.shape
    f = f.to(x.device)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype, device=x.device),
                            torch.arange(w, dtype=x.dtype, device=x.device), indexing="ij")
    src_x = xs - f[:, 0]
    src_y = ys - f[:, 1]
    grid = torch.stack((2 * src_x / max(w - 1, 1) - 1, 2 * src_y / max(h - 1, 1) - 1), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True).clamp(0, 1)


def endpoint_error(pred: Any, target: Any, *, reduce: str = "mean") -> torch.Tensor:
    """End-point error between two flow fields: the Euclidean length of their difference per pixel.

    Parameters
    ----------
    pred, target : torch.Tensor or numpy.ndarray
        Flows of the same shape ``(..., 2, H, W)``.
    reduce : {"mean", "none"}
        ``"mean"`` averages over pixels (result ``(...)``, e.g. one value per stimulus); ``"none"``
        returns the map ``(..., H, W)``.

    Examples
    --------
    >>> a = torch.zeros(2, 2, 4, 4); b = a.clone(); b[:, 0] = 3.0; b[:, 1] = 4.0
    >>> endpoint_error(a, b).tolist()
    [5.0, 5.0]
    """
    p, t = check_flow(pred, name="pred"), check_flow(target, name="target")
    if p.shape != t.shape:
        raise ShapeError(f"pred: received {tuple(p.shape)}; expected the shape of target {tuple(t.shape)}")
    err = torch.linalg.vector_norm(p - t.to(p.device), dim=-3)
    if reduce == "none":
        return err
    if reduce != "mean":
        raise InputError(f"reduce: received {reduce!r}; expected 'mean' or 'none'")
    return err.mean(dim=(-2, -1))


def flow_magnitude(flow: Any) -> torch.Tensor:
    """Speed in pixels per frame, ``(..., H, W)``.

    Examples
    --------
    >>> flow_magnitude(torch.tensor([[[3.0]], [[4.0]]])).item()
    5.0
    """
    return torch.linalg.vector_norm(check_flow(flow), dim=-3)
