"""Per-model preprocessing: resize, centre crop, normalisation, optional greyscale (images and videos).

Images smaller than a model's input (64-pixel stimuli for a 224-pixel network) are upsampled to it by
default, and the first such call of each model says so with an :class:`UpsamplingWarning`.
``upsample=False`` feeds them at their own size instead (resizing and cropping then only ever shrink):
``model.preprocess = dataclasses.replace(model.preprocess, upsample=False)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

import torch.nn.functional as F

from ..errors import InputError
from ..stimuli._transforms import _as_hw, center_crop, resize_shorter

__all__ = ["Preprocessing", "UpsamplingWarning", "IMAGENET_MEAN", "IMAGENET_STD"]


class UpsamplingWarning(UserWarning):
    """Images smaller than a model's input were upsampled to it (said once per model).

    Features of upsampled images are not those of the same images at their own size (a network sees
    blurred, enlarged content). Silence it with ``warnings.filterwarnings("ignore",
    category=UpsamplingWarning)``, or feed the images natively with ``upsample=False``.

    Examples
    --------
    >>> import warnings, torch
    >>> pre = Preprocessing(resize=32, crop=32)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = pre(torch.rand(1, 3, 16, 16)), pre(torch.rand(1, 3, 16, 16))   # said once
    >>> [w.category.__name__ for w in caught]
    ['UpsamplingWarning']
    """

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
    upsample : bool, default True
        Enlarge images smaller than ``resize``/``crop`` to the model's input size, with an
        :class:`UpsamplingWarning` on the first such call. False keeps them at their own size: the
        resize and the crop then only ever shrink (convolutional networks with adaptive pooling take
        any size; models with a fixed input size, such as ViTs, need the upsampling).

    Examples
    --------
    >>> import torch
    >>> p = Preprocessing(resize=32, crop=28)
    >>> p(torch.rand(2, 3, 40, 50)).shape
    torch.Size([2, 3, 28, 28])
    >>> p(torch.rand(2, 5, 3, 40, 50)).shape  # videos: (N, T, C, H, W) -> (N, C, T, H, W)
    torch.Size([2, 3, 5, 28, 28])
    >>> Preprocessing(resize=32, crop=28, upsample=False)(torch.rand(1, 3, 16, 20)).shape  # native size
    torch.Size([1, 3, 16, 20])
    """

    resize: int | tuple[int, int] | None = 256
    crop: int | None = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    grayscale: bool = False
    upsample: bool = True

    def _upsamples(self, h: int, w: int) -> bool:
        """Whether the resize enlarges ``(h, w)`` images (the crop only ever cuts)."""
        if isinstance(self.resize, (tuple, list)):
            th, tw = (int(v) for v in self.resize)
            return th > h or tw > w
        return self.resize is not None and int(self.resize) > min(h, w)

    def _warn_once(self, h: int, w: int) -> None:
        if self.__dict__.get("_warned"):
            return
        object.__setattr__(self, "_warned", True)  # once per model (its Preprocessing instance)
        warnings.warn(f"preprocessing: images of {h}x{w} pixels are smaller than the model's input and are "
                      f"upsampled to it (resize={self.resize}, crop={self.crop}); features of upsampled images "
                      "are not those of the images at their own size. To feed them at their own size: "
                      "model.preprocess = dataclasses.replace(model.preprocess, upsample=False). Said once per "
                      "model.", UpsamplingWarning, stacklevel=3)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 5:
            n, t = x.shape[:2]
            frames = self(x.reshape(n * t, *x.shape[2:]))
            return frames.reshape(n, t, *frames.shape[1:]).transpose(1, 2)
        if x.ndim != 4:
            raise InputError(f"preprocessing: received shape {tuple(x.shape)}; expected images (N, C, H, W) "
                             "or videos (N, T, C, H, W)")
        h, w = int(x.shape[-2]), int(x.shape[-1])
        enlarged = self._upsamples(h, w)
        if enlarged and self.upsample:
            self._warn_once(h, w)
        if not enlarged or self.upsample:
            if isinstance(self.resize, (tuple, list)):
                if tuple(x.shape[-2:]) != tuple(self.resize):
                    x = F.interpolate(x, size=tuple(int(v) for v in self.resize), mode="bilinear",
                                      align_corners=False, antialias=True)
            elif self.resize is not None:
                x = resize_shorter(x, self.resize)
            if self.crop is not None:
                x = center_crop(x, self.crop)
        else:  # native size: only shrink
            x = self._shrink_only(x)
        if self.grayscale:
            w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            x = (x * w).sum(1, keepdim=True)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def _shrink_only(self, x: torch.Tensor) -> torch.Tensor:
        """``upsample=False``: the resize where it shrinks, then the crop where the image is larger."""
        h, w = x.shape[-2:]
        if isinstance(self.resize, (tuple, list)):
            th, tw = (int(v) for v in self.resize)
            if th <= h and tw <= w and (th, tw) != (h, w):
                x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=True)
        elif self.resize is not None and int(self.resize) < min(h, w):
            x = resize_shorter(x, self.resize)
        if self.crop is not None:
            ch, cw = _as_hw(self.crop)
            x = center_crop(x, (min(ch, x.shape[-2]), min(cw, x.shape[-1])))
        return x

    def describe(self) -> str:
        """One-line text recorded in feature attrs (NetCDF-safe)."""
        fmt = lambda v: "(" + ", ".join(f"{t:.4g}" for t in v) + ")"  # noqa: E731
        return (f"resize={self.resize} crop={self.crop} mean={fmt(self.mean)} std={fmt(self.std)}"
                + (" grayscale" if self.grayscale else "") + ("" if self.upsample else " no-upsampling"))
