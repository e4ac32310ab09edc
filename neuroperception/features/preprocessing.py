"""Per-model preprocessing: resize, centre crop, normalisation, optional greyscale (images and videos)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

import torch.nn.functional as F

from ..errors import InputError
from ..stimuli._transforms import center_crop, resize_shorter

__all__ = ["Preprocessing", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its ``[0, 1]`` input: resize the shorter side, crop, normalise.

    Images ``(N, C, H, W)`` come out as ``(N, C', H', W')``. Videos ``(N, T, C, H, W)`` are
    processed frame by frame and come out as ``(N, C', T, H', W')``, the layout of 3-D
    convolutional video networks.

    Parameters
    ----------
    resize : int, (int, int) or None
        Shorter side after resizing (bilinear, antialiased), or an exact ``(height, width)``
        (as torchvision's Kinetics presets give); None keeps the size.
    crop : int or None
        Side of the centre crop; None keeps the resized image.
    mean, std : tuple of float
        Per-channel normalisation constants, applied as ``(x - mean) / std``.
    grayscale : bool
        Convert to one luminance channel (ITU-R 601 weights) before normalising.

    Examples
    --------
    >>> import torch
    >>> p = Preprocessing(resize=32, crop=28)
    >>> p(torch.rand(2, 3, 40, 50)).shape
    torch.Size([2, 3, 28, 28])
    >>> p(torch.rand(2, 5, 3, 40, 50)).shape  # videos: (N, T, C, H, W) -> (N, C, T, H, W)
    torch.Size([2, 3, 5, 28, 28])
    """

    resize: int | tuple[int, int] | None = 256
    crop: int | None = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    grayscale: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 5:
            n, t = x.shape[:2]
            frames = self(x.reshape(n * t, *x.shape[2:]))
            return frames.reshape(n, t, *frames.shape[1:]).transpose(1, 2)
        if x.ndim != 4:
            raise InputError(f"preprocessing: received shape {tuple(x.shape)}; expected images (N, C, H, W) "
                             "or videos (N, T, C, H, W)")
        if isinstance(self.resize, (tuple, list)):
            if tuple(x.shape[-2:]) != tuple(self.resize):
                x = F.interpolate(x, size=tuple(int(v) for v in self.resize), mode="bilinear",
                                  align_corners=False, antialias=True)
        elif self.resize is not None:
            x = resize_shorter(x, self.resize)
        if self.crop is not None:
            x = center_crop(x, self.crop)
        if self.grayscale:
            w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            x = (x * w).sum(1, keepdim=True)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def describe(self) -> str:
        """One-line text recorded in feature attrs (NetCDF-safe)."""
        fmt = lambda v: "(" + ", ".join(f"{t:.4g}" for t in v) + ")"  # noqa: E731
        return (f"resize={self.resize} crop={self.crop} mean={fmt(self.mean)} std={fmt(self.std)}"
                + (" grayscale" if self.grayscale else ""))
