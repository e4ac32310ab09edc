"""Resizing and cropping of image tensors (shared by image sets and model preprocessing)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError


def _as_hw(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return int(size[0]), int(size[1])
    raise InputError(f"size: received {size!r}; expected an int or a (height, width) pair of ints")


def resize_shorter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` so that the shorter side is ``size``, keeping the aspect ratio."""
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new == (h, w):
        return x
    return F.interpolate(x, size=new, mode="bilinear", align_corners=False, antialias=True)


def center_crop(x: torch.Tensor, size) -> torch.Tensor:
    """Crop the centre ``size`` (int or (h, w)) of ``(N, C, H, W)``."""
    th, tw = _as_hw(size)
    h, w = x.shape[-2:]
    if th > h or tw > w:
        raise InputError(f"crop: received images of size {(h, w)}; expected at least {(th, tw)}")
    top, left = (h - th) // 2, (w - tw) // 2
    return x[..., top : top + th, left : left + tw]


def resize_center_crop(x: torch.Tensor, size) -> torch.Tensor:
    """Resize so the image covers ``size`` (int or (h, w)), then crop the centre to exactly it."""
    th, tw = _as_hw(size)
    h, w = x.shape[-2:]
    scale = max(th / h, tw / w)
    new = (max(th, round(h * scale)), max(tw, round(w * scale)))
    if new != (h, w):
        x = F.interpolate(x, size=new, mode="bilinear", align_corners=False, antialias=True)
    return center_crop(x, (th, tw)).clamp(0.0, 1.0)
