"""Saliency baselines.

Every saliency model has ``.predict(images) -> DataArray ("stimulus", "y", "x")`` whose maps are
non-negative and sum to 1 per image (a probability of where a fixation lands), with the images'
ids as the ``stimulus_id`` coordinate. The matching scanpath baselines, :func:`random_scanpaths` and
:func:`center_scanpaths`, live in :mod:`neuroperception.scanpaths.evaluate`.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from .._validation import check_ids, check_images, describe
from ..errors import InputError, ShapeError
from ..features import FeatureModel, load_model
from ..features.hooks import check_layers, first_tensor, record
from .foveation import _gaussian_blur

__all__ = ["SaliencyModel", "CenterBias", "UniformSaliency", "IttiKoch", "FeatureNormSaliency"]


def _images_and_ids(images: Any, stimulus_id: Sequence[str] | None,
                    min_size: int = 2) -> tuple[torch.Tensor, list[str]]:
    """Images as a checked tensor and their ids (an ImageSet's own, given ones, or ``stim0000``...)."""
    if hasattr(images, "images") and hasattr(images, "ids") and not isinstance(images, torch.Tensor):
        ids = list(images.ids) if stimulus_id is None else check_ids(stimulus_id, len(images.ids), name="stimulus_id")
        return check_images(images.images, min_size=min_size), ids
    x = check_images(images, min_size=min_size)
    return x, check_ids(stimulus_id, x.shape[0], name="stimulus_id")


def _model_input(preprocess, x: torch.Tensor) -> torch.Tensor:
    """Resize the whole image to the model's input size (no crop, so no pixel is lost), then normalise."""
    size = preprocess.crop if preprocess.crop is not None else preprocess.resize
    if size is not None:
        hw = (int(size), int(size)) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
        if tuple(x.shape[-2:]) != hw:
            x = F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=True)
    return dataclasses.replace(preprocess, resize=None, crop=None)(x)


class SaliencyModel(abc.ABC):
    """Base class: ``predict`` validates, calls ``_maps`` and returns normalised, labelled maps.

    Examples
    --------
    >>> import torch
    >>> class Brightness(SaliencyModel):
    ...     def _maps(self, x):
    ...         return x.mean(1)
    >>> m = Brightness().predict(torch.rand(1, 3, 4, 4), stimulus_id=["a"])
    >>> m["stimulus_id"].values.tolist(), round(float(m.sum()), 6)
    (['a'], 1.0)
    """

    @abc.abstractmethod
    def _maps(self, x: torch.Tensor) -> torch.Tensor:
        """Non-negative maps ``(N, H, W)`` for images ``(N, 3, H, W)`` in [0, 1]."""

    _min_size = 2

    def predict(self, images: Any, stimulus_id: Sequence[str] | None = None) -> xr.DataArray:
        """Saliency maps ``("stimulus", "y", "x")`` summing to 1 per image.

        Parameters
        ----------
        images : ImageSet, torch.Tensor or array
            ``(N, 3, H, W)`` in ``[0, 1]``.
        stimulus_id : sequence of str, optional
            Ids for tensor input (an ImageSet has its own).

        Returns
        -------
        xarray.DataArray
            float64, with ``stimulus_id`` coordinates; an all-zero map becomes uniform.
        """
        x, ids = _images_and_ids(images, stimulus_id, self._min_size)
        with torch.no_grad():
            maps = self._maps(x).detach().to("cpu", torch.float64).clamp_min(0.0).numpy()
        total = maps.sum(axis=(1, 2), keepdims=True)
        flat = np.full_like(maps, 1.0 / (maps.shape[1] * maps.shape[2]))
        maps = np.where(total > 0, maps / np.where(total > 0, total, 1.0), flat)
        return xr.DataArray(maps, dims=("stimulus", "y", "x"),
                            coords={"stimulus_id": ("stimulus", ids), "y": np.arange(maps.shape[1]),
                                    "x": np.arange(maps.shape[2])},
                            name="saliency", attrs={"model": repr(self)})

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class UniformSaliency(SaliencyModel):
    """Every pixel equally likely: the chance baseline.

    Examples
    --------
    >>> import torch
    >>> m = UniformSaliency().predict(torch.rand(2, 3, 4, 5))
    >>> m.dims, round(float(m[0].sum()), 9), float(m[0, 0, 0])
    (('stimulus', 'y', 'x'), 1.0, 0.05)
    """

    def _maps(self, x):
        return torch.ones(x.shape[0], *x.shape[-2:], dtype=torch.float64)


class CenterBias(SaliencyModel):
    """A Gaussian at the image centre, the strongest single predictor of free-viewing fixations.

    Parameters
    ----------
    sigma : float or (float, float)
        Standard deviation as a fraction of the image's width and height (one value: both).

    Examples
    --------
    >>> import torch
    >>> m = CenterBias(sigma=0.2).predict(torch.rand(1, 3, 21, 31))
    >>> int(m[0].values.argmax()) == 10 * 31 + 15, round(float(m.sum()), 6)
    (True, 1.0)
    """

    def __init__(self, sigma: float | tuple[float, float] = 0.25):
        values = sigma if isinstance(sigma, (tuple, list)) else (sigma, sigma)
        ok = len(values) == 2 and all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values)
        if not ok:
            raise InputError(f"sigma: received {sigma!r}; expected a positive fraction of the image size "
                             "(or an (x, y) pair of them)")
        self.sigma = sigma

    def _maps(self, x):
        h, w = x.shape[-2:]
        sx, sy = self.sigma if isinstance(self.sigma, (tuple, list)) else (self.sigma, self.sigma)
        ys = (torch.arange(h, dtype=torch.float64) - (h - 1) / 2) / (sy * h)
        xs = (torch.arange(w, dtype=torch.float64) - (w - 1) / 2) / (sx * w)
        g = torch.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2))
        return g.expand(x.shape[0], h, w)


def _normalize_map(m: torch.Tensor) -> torch.Tensor:
    """Itti's N(.): scale to [0, 1], then weight by (1 - mean of the other local maxima)^2, per map."""
    peak = m.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    m = m / peak
    smooth = _gaussian_blur(m[:, None], 0.5)[:, 0]
    is_max = (smooth == F.max_pool2d(smooth[:, None], 3, 1, 1)[:, 0]) & (smooth > 0.05)
    values = torch.where(is_max, m, torch.zeros_like(m)).flatten(1)
    count = is_max.flatten(1).sum(1)
    others = (values.sum(1) - values.amax(1)) / (count - 1).clamp_min(1)
    others = torch.where(count > 1, others, torch.zeros_like(others))
    return m * ((1.0 - others) ** 2).view(-1, 1, 1)


def _gabor_bank(n_orientations: int, wavelength: float = 4.0, dtype=torch.float32) -> torch.Tensor:
    """Quadrature Gabor pairs ``(2 * n_orientations, 1, k, k)`` (even then odd per orientation)."""
    half = int(math.ceil(wavelength))
    t = torch.arange(-half, half + 1, dtype=dtype)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    sigma = 0.5 * wavelength
    kernels = []
    for k in range(n_orientations):
        theta = math.pi * k / n_orientations
        u = xx * math.cos(theta) + yy * math.sin(theta)
        env = torch.exp(-(xx ** 2 + yy ** 2) / (2 * sigma ** 2))
        even = env * torch.cos(2 * math.pi * u / wavelength)
        even = even - even.mean()
        odd = env * torch.sin(2 * math.pi * u / wavelength)
        kernels += [even / even.abs().sum(), odd / odd.abs().sum()]
    return torch.stack(kernels)[:, None]


class IttiKoch(SaliencyModel):
    """Itti, Koch & Niebur (1998): centre-surround contrast of intensity, colour and orientation.

    Each channel is built into a Gaussian pyramid; feature maps are absolute differences between a
    centre level ``c`` and a surround level ``c + delta`` (upsampled); each is normalised with
    Itti's N(.) (promote maps with one strong peak, suppress maps with many), summed per channel
    into a conspicuity map, normalised again, averaged, upsampled to the image and smoothed.

    Parameters
    ----------
    centers : tuple of int
        Pyramid levels used as centres (level 0 is the image).
    deltas : tuple of int
        Surround offsets; pairs whose surround level is beyond the pyramid are skipped.
    n_orientations : int
        Gabor orientations for the orientation channel.
    channel_weights : (float, float, float)
        Weights of the intensity, colour and orientation conspicuity maps.
    smooth : float
        Final Gaussian smoothing, as a fraction of the image's longer side.

    Examples
    --------
    >>> import torch
    >>> img = torch.zeros(1, 3, 64, 64)
    >>> img[0, :, 40:46, 10:16] = 1.0                  # one bright square
    >>> s = IttiKoch().predict(img)[0]
    >>> y, x = divmod(int(s.values.argmax()), 64)
    >>> bool(36 <= y <= 50 and 6 <= x <= 20)
    True
    """

    _min_size = 16

    def __init__(self, centers: Sequence[int] = (2, 3, 4), deltas: Sequence[int] = (3, 4), n_orientations: int = 4,
                 channel_weights: Sequence[float] = (1.0, 1.0, 1.0), smooth: float = 0.02):
        if not centers or not deltas or any(int(c) < 0 for c in centers) or any(int(d) < 1 for d in deltas):
            raise InputError(f"centers/deltas: received {centers!r}/{deltas!r}; expected levels >= 0 and offsets >= 1")
        if not isinstance(n_orientations, int) or n_orientations < 1:
            raise InputError(f"n_orientations: received {n_orientations!r}; expected a positive int")
        if len(channel_weights) != 3 or any(w < 0 for w in channel_weights) or sum(channel_weights) <= 0:
            raise InputError(f"channel_weights: received {channel_weights!r}; expected three non-negative weights, "
                             "not all zero")
        if not (isinstance(smooth, (int, float)) and smooth >= 0):
            raise InputError(f"smooth: received {smooth!r}; expected a non-negative fraction of the longer side")
        self.centers, self.deltas = tuple(int(c) for c in centers), tuple(int(d) for d in deltas)
        self.n_orientations, self.smooth = n_orientations, float(smooth)
        self.channel_weights = tuple(float(w) for w in channel_weights)

    @staticmethod
    def _pyramid(x: torch.Tensor, n_levels: int) -> list[torch.Tensor]:
        levels = [x]
        for _ in range(n_levels - 1):
            levels.append(_gaussian_blur(levels[-1], 1.0)[..., ::2, ::2])
        return levels

    def _pairs(self, h: int, w: int) -> tuple[int, list[tuple[int, int]]]:
        n_levels = 1 + int(math.floor(math.log2(min(h, w))))
        pairs = [(c, c + d) for c in self.centers for d in self.deltas if c + d <= n_levels - 1]
        if not pairs:
            raise ShapeError(f"images: received size {(h, w)}, which gives a {n_levels}-level pyramid; expected "
                             f"at least {2 ** (min(self.centers) + min(self.deltas))} pixels per side for "
                             f"centers={self.centers}, deltas={self.deltas} (use larger images or smaller levels)")
        return n_levels, pairs

    def _maps(self, x):
        n, _, h, w = x.shape
        n_levels, pairs = self._pairs(h, w)
        r, g, b = x[:, 0], x[:, 1], x[:, 2]
        intensity = (r + g + b) / 3
        lit = intensity > 0.1 * intensity.flatten(1).amax(1).view(-1, 1, 1)
        safe = torch.where(lit, intensity, torch.ones_like(intensity))
        r, g, b = (torch.where(lit, c / safe, torch.zeros_like(c)) for c in (r, g, b))
        red, green = (r - (g + b) / 2).clamp_min(0), (g - (r + b) / 2).clamp_min(0)
        blue, yellow = (b - (r + g) / 2).clamp_min(0), ((r + g) / 2 - (r - g).abs() / 2 - b).clamp_min(0)
        channels = torch.stack([intensity, red - green, blue - yellow], 1)  # I, RG, BY
        pyr = self._pyramid(channels, n_levels)
        bank = _gabor_bank(self.n_orientations, dtype=x.dtype)
        pad = bank.shape[-1] // 2
        ori = []
        for level in pyr:
            lv = level[:, :1]
            p = min(pad, min(lv.shape[-2:]) - 1)
            resp = F.conv2d(F.pad(lv, (p, p, p, p), mode="reflect") if p > 0 else lv,
                            bank[..., pad - p: pad + p + 1, pad - p: pad + p + 1])
            ori.append(resp.view(n, self.n_orientations, 2, *resp.shape[-2:]).pow(2).sum(2).sqrt())
        out_size = pyr[min(c for c, _ in pairs)].shape[-2:]

        def across(center: torch.Tensor, surround: torch.Tensor) -> torch.Tensor:
            up = F.interpolate(surround, size=center.shape[-2:], mode="bilinear", align_corners=False)
            diff = (center - up).abs()
            return F.interpolate(diff, size=out_size, mode="bilinear", align_corners=False)

        cons = []
        for maps in (lambda c, s: across(pyr[c][:, :1], pyr[s][:, :1]),
                     lambda c, s: torch.cat([across(pyr[c][:, 1:2], pyr[s][:, 1:2]),
                                             across(pyr[c][:, 2:3], pyr[s][:, 2:3])], 1),
                     lambda c, s: across(ori[c], ori[s])):
            total = 0.0
            for c, s in pairs:
                fm = maps(c, s)
                total = total + _normalize_map(fm.flatten(0, 1)).view_as(fm).sum(1)
            cons.append(_normalize_map(total))
        wsum = sum(self.channel_weights)
        sal = sum(wt * cm for wt, cm in zip(self.channel_weights, cons)) / wsum
        sal = F.interpolate(sal[:, None], size=(h, w), mode="bilinear", align_corners=False)
        return _gaussian_blur(sal, self.smooth * max(h, w))[:, 0]


class FeatureNormSaliency(SaliencyModel):
    """Saliency as the L2 norm across channels of a network layer's activations, upsampled.

    Parameters
    ----------
    model : str or FeatureModel
        A registry spec (``"torchvision:alexnet"``, ``"gabor"``...) or a loaded model.
    layer : str
        A layer with spatial output: ``(N, C, h, w)``, or ``(N, tokens, C)`` with a square token grid
        (a leading class token is dropped).

    Examples
    --------
    >>> import torch
    >>> m = FeatureNormSaliency("gabor", "scale0").predict(torch.rand(2, 3, 32, 32))
    >>> m.shape, round(float(m[1].sum()), 6)
    ((2, 32, 32), 1.0)
    """

    def __init__(self, model: str | FeatureModel, layer: str):
        self.model = load_model(model) if isinstance(model, str) else model
        if not isinstance(self.model, FeatureModel):
            raise InputError(f"model: received {type(model).__name__}; expected a registry spec or a FeatureModel")
        self.layer = check_layers(self.model.module, [layer])[0]

    def __repr__(self) -> str:
        return f"FeatureNormSaliency({self.model.spec!r}, {self.layer!r})"

    def _maps(self, x):
        fm = self.model
        inp = _model_input(fm.preprocess, x.to(fm.device))
        if self.layer == "output":
            act = first_tensor(fm.module(inp), "output")
        else:
            with record(fm.module, [self.layer]) as acts:
                fm.module(inp)
            act = acts[self.layer]
        if act.ndim == 3:
            tokens = act.shape[1]
            side = int(round(math.sqrt(tokens)))
            if side * side != tokens:
                side = int(round(math.sqrt(tokens - 1)))
                act = act[:, 1:]
            if side * side != act.shape[1]:
                raise ShapeError(f"layer {self.layer!r}: returned {describe(act)}; expected (N, C, h, w) or "
                                 "(N, tokens, C) with a square grid of tokens")
            act = act.transpose(1, 2).reshape(act.shape[0], -1, side, side)
        if act.ndim != 4:
            raise ShapeError(f"layer {self.layer!r}: returned {describe(act)}; expected a spatial map (N, C, h, w)")
        norm = act.float().pow(2).sum(1, keepdim=True).sqrt()
        return F.interpolate(norm, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0].cpu()
