"""Classic full-reference image distances: SSIM, MS-SSIM, PSNR and mean squared error.

All four are :class:`~neuroperception.similarity.base.Metric` objects, batched, differentiable and
computed with torch (CPU or CUDA), and all return *distances* (lower = more similar):

* :class:`SSIM` — ``1 - SSIM`` (``similarity()`` returns SSIM itself), equal to
  ``skimage.metrics.structural_similarity`` with ``channel_axis`` set (one SSIM per colour
  channel, averaged);
* :class:`MSSSIM` — ``1 - MS-SSIM`` (Wang, Simoncelli & Bovik 2003);
* :class:`PSNR` — ``-PSNR`` in dB (``psnr()`` returns PSNR itself);
* :class:`L2` — the mean squared error over pixels and channels.

SSIM and MS-SSIM cannot be split into per-image parts, so their representation is the images
themselves and ``pairwise`` compares every pair; L2 and PSNR compute all pairs with matrix products.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InputError, ShapeError
from .base import Metric

__all__ = ["SSIM", "MSSSIM", "PSNR", "L2", "MSSSIM_WEIGHTS"]

#: The five scale weights of Wang, Simoncelli & Bovik (2003), finest scale first.
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_TRUNCATE = 3.5  # skimage's Gaussian truncation: an 11-tap filter for sigma = 1.5


def _positive_number(value: Any, name: str, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise InputError(f"{name}: received {value!r}; expected a {kind} number")
    return float(value)


def _reflect_index(n: int, pad: int, device) -> torch.Tensor:
    """Indices of a length-``n`` axis padded by ``pad`` on both sides in scipy's ``reflect`` mode."""
    idx = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(idx >= n, 2 * n - 1 - idx, idx)


class _Window(torch.nn.Module):
    """The local averaging of SSIM: a separable box or Gaussian window, with skimage's borders.

    skimage filters the whole image (scipy ``reflect`` borders) and then drops a strip of
    ``(win_size - 1) // 2`` pixels along each edge; only the kept pixels are computed here, padding
    (reflected) only where the filter reaches past the image.
    """

    def __init__(self, win_size: int, gaussian: bool, sigma: float):
        super().__init__()
        if gaussian:
            radius = int(_TRUNCATE * sigma + 0.5)
            x = torch.arange(-radius, radius + 1, dtype=torch.float64)
            taps = torch.exp(-0.5 * (x / sigma) ** 2)
        else:
            radius = (win_size - 1) // 2
            taps = torch.ones(win_size, dtype=torch.float64)
        self.register_buffer("taps", (taps / taps.sum()).float(), persistent=False)
        self.radius, self.crop = radius, (win_size - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Locally averaged ``(B, H, W)`` maps → ``(B, H - 2 crop, W - 2 crop)``."""
        pad = max(0, self.radius - self.crop)
        start = max(0, self.crop - self.radius)
        h, w = x.shape[-2:]
        if pad:
            x = x.index_select(-2, _reflect_index(h, pad, x.device)).index_select(-1, _reflect_index(w, pad, x.device))
        taps = self.taps.to(x.dtype)
        k = taps.numel()
        y = F.conv2d(x[:, None], taps.view(1, 1, k, 1))
        y = F.conv2d(y, taps.view(1, 1, 1, k))[:, 0]
        return y[:, start:start + h - 2 * self.crop, start:start + w - 2 * self.crop]


class _SSIMBase(Metric):
    """Shared parameters and the SSIM/contrast-structure maps of SSIM and MS-SSIM."""

    def __init__(self, window: int | None, gaussian: bool, data_range: float, sigma: float, sample_covariance: bool,
                 k1: float, k2: float, value_range: tuple[float, float]):
        super().__init__(value_range=value_range)
        sigma = _positive_number(sigma, "sigma")
        if window is None:
            window = 2 * int(_TRUNCATE * sigma + 0.5) + 1 if gaussian else 7
        if not isinstance(window, int) or isinstance(window, bool) or window < 1 or window % 2 == 0:
            raise InputError(f"window: received {window!r}; expected a positive odd int (or None for the default)")
        self.window, self.gaussian, self.sigma = window, bool(gaussian), sigma
        self.data_range = _positive_number(data_range, "data_range")
        self.sample_covariance = bool(sample_covariance)
        self.k1, self.k2 = _positive_number(k1, "k1", True), _positive_number(k2, "k2", True)
        self.filter = _Window(window, self.gaussian, sigma)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The images themselves (SSIM is not separable into per-image parts)."""
        return images

    def _check_size(self, size: Sequence[int]) -> None:
        if min(size) < self.window:
            raise ShapeError(f"images: received size {tuple(size)}; expected at least {self.window}x{self.window} "
                             f"for window={self.window}")

    def _maps(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel SSIM and contrast-structure maps ``(N, C, h, w)`` of paired images."""
        n, c, h, w = a.shape
        # moments are taken around each image's mean: variances are shift invariant and the
        # smaller values lose less to cancellation in float32
        ma, mb = a.mean((2, 3), keepdim=True), b.mean((2, 3), keepdim=True)
        da, db = a - ma, b - mb
        stats = torch.stack([a, b, da * da, db * db, da * db], 1).reshape(n * 5 * c, h, w)
        local = self.filter(stats)
        mu_a, mu_b, saa, sbb, sab = local.reshape(n, 5, c, *local.shape[-2:]).unbind(1)
        ca, cb = mu_a - ma, mu_b - mb  # local means of the centred images
        npix = self.window ** 2
        norm = npix / (npix - 1) if self.sample_covariance and npix > 1 else 1.0
        var_a, var_b, cov = norm * (saa - ca * ca), norm * (sbb - cb * cb), norm * (sab - ca * cb)
        c1, c2 = (self.k1 * self.data_range) ** 2, (self.k2 * self.data_range) ** 2
        cs = (2 * cov + c2) / (var_a + var_b + c2)
        lum = (2 * mu_a * mu_b + c1) / (mu_a * mu_a + mu_b * mu_b + c1)
        return lum * cs, cs

    def extra_repr(self) -> str:
        return (f"window={self.window}, gaussian={self.gaussian}, sigma={self.sigma}, data_range={self.data_range}, "
                f"sample_covariance={self.sample_covariance}, {super().extra_repr()}")


class SSIM(_SSIMBase):
    """Structural similarity (Wang et al. 2004) as a distance: ``1 - SSIM``.

    SSIM is computed per colour channel and averaged, exactly as
    ``skimage.metrics.structural_similarity(x, y, channel_axis=0, data_range=data_range,
    win_size=window, gaussian_weights=gaussian, sigma=sigma,
    use_sample_covariance=sample_covariance, K1=k1, K2=k2)``: local means, variances and the
    covariance under a sliding window, averaged over the pixels at least ``(window - 1) // 2``
    away from every edge. It is 1 for identical images and can be negative for anti-correlated
    ones, so the distance lies in ``[0, 2]``.

    Parameters
    ----------
    window : int or None
        Side of the window (odd). None: 7 for the box window, ``2 * int(3.5 * sigma + 0.5) + 1``
        (11 for ``sigma=1.5``) for the Gaussian one, skimage's defaults.
    gaussian : bool
        Gaussian-weighted window (``sigma``, truncated at 3.5 sigma) instead of a box.
    data_range : float
        Dynamic range of the images, which are in ``[0, 1]`` after validation: keep 1.
    sigma : float
        Standard deviation of the Gaussian window.
    sample_covariance : bool
        Normalise (co)variances by ``window² - 1`` instead of ``window²`` (skimage's default;
        Wang et al. use False).
    k1, k2 : float
        The constants ``C1 = (k1 * data_range)²``, ``C2 = (k2 * data_range)²``.
    value_range : tuple of float
        Range of the caller's images (see :class:`~neuroperception.similarity.Metric`).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> ssim = SSIM()
    >>> ssim(x, x).tolist(), ssim.similarity(x, x).tolist()
    ([0.0, 0.0], [1.0, 1.0])
    >>> ssim.pairwise(x).shape
    torch.Size([2, 2])
    """

    def __init__(self, window: int | None = None, gaussian: bool = False, data_range: float = 1.0, sigma: float = 1.5,
                 sample_covariance: bool = True, k1: float = 0.01, k2: float = 0.03,
                 value_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__(window, gaussian, data_range, sigma, sample_covariance, k1, k2, value_range)

    def ssim(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """SSIM ``(N,)`` of validated, paired ``(N, 3, H, W)`` images."""
        self._check_size(a.shape[-2:])
        return self._maps(a, b)[0].mean((1, 2, 3))

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``1 - SSIM`` of paired images."""
        return 1.0 - self.ssim(a, b)

    def similarity(self, x: Any, y: Any) -> torch.Tensor:
        """SSIM itself ``(N,)`` of paired images (``y`` may hold one image); ``1 - self(x, y)``."""
        return 1.0 - self(x, y)


class MSSSIM(_SSIMBase):
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003) as a distance: ``1 - MS-SSIM``.

    At scales ``j = 1..M`` (the image average-pooled 2×2 ``j - 1`` times; an odd last row or column
    is dropped), the mean contrast-structure term ``cs_j`` is taken at every scale but the coarsest,
    where the full SSIM (luminance × contrast-structure) is used:
    ``MS-SSIM = SSIM_M ** w_M * prod_{j<M} cs_j ** w_j``, per colour channel, then averaged over
    channels. Negative terms are set to 0 before the powers (as ``pytorch_msssim`` does). With a
    single scale (``scale_weights=(1,)``) MS-SSIM is SSIM.

    Parameters
    ----------
    scale_weights : sequence of float
        One exponent per scale, finest first; default the five of Wang et al. (``weights`` is kept
        for a model's weights across the package).
    window, gaussian, data_range, sigma, sample_covariance, k1, k2, value_range
        As for :class:`SSIM`; the defaults here are Wang et al.'s: an 11-tap Gaussian window
        (sigma 1.5) and population (co)variances. The coarsest scale must still hold the window:
        five scales with the 11-pixel window need images of at least 176×176 pixels.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    >>> ms = MSSSIM(scale_weights=(0.5, 0.5))
    >>> ms(x, x).tolist(), ms(x, 1 - x).item() > 0.5
    ([0.0], True)
    """

    def __init__(self, scale_weights: Sequence[float] = MSSSIM_WEIGHTS, window: int | None = None,
                 gaussian: bool = True, data_range: float = 1.0, sigma: float = 1.5,
                 sample_covariance: bool = False, k1: float = 0.01, k2: float = 0.03,
                 value_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__(window, gaussian, data_range, sigma, sample_covariance, k1, k2, value_range)
        try:
            w = [float(v) for v in scale_weights]
        except (TypeError, ValueError):
            w = []
        if not w or not all(math.isfinite(v) and v >= 0 for v in w):
            raise InputError(f"scale_weights: received {scale_weights!r}; expected one non-negative exponent per "
                             f"scale, e.g. {MSSSIM_WEIGHTS}")
        self.register_buffer("scale_weights", torch.tensor(w, dtype=torch.float32), persistent=False)

    def msssim(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """MS-SSIM ``(N,)`` of validated, paired ``(N, 3, H, W)`` images."""
        n_scales = self.scale_weights.numel()
        smallest = [s // 2 ** (n_scales - 1) for s in a.shape[-2:]]
        if min(smallest) < self.window:
            raise ShapeError(f"images: received size {tuple(a.shape[-2:])}; expected at least "
                             f"{self.window * 2 ** (n_scales - 1)} pixels a side for {n_scales} scales and "
                             f"window={self.window} (pass fewer scale_weights for smaller images)")
        terms = []
        for j in range(n_scales):
            if j:
                a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
            ssim_map, cs_map = self._maps(a, b)
            terms.append((ssim_map if j == n_scales - 1 else cs_map).mean((2, 3)))  # (N, C)
        values = torch.stack(terms, -1)  # (N, C, scales)
        w = self.scale_weights.to(values.dtype)
        positive = values > 0
        # a negative term counts as 0 (and as 0 ** 0 = 1 for a scale of weight 0, which is ignored)
        floor = (w == 0).to(values.dtype).expand_as(values)
        powered = torch.where(positive, values.clamp_min(torch.finfo(values.dtype).tiny) ** w, floor)
        return powered.prod(-1).mean(1)

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``1 - MS-SSIM`` of paired images."""
        return 1.0 - self.msssim(a, b)

    def similarity(self, x: Any, y: Any) -> torch.Tensor:
        """MS-SSIM itself ``(N,)`` of paired images (``y`` may hold one image); ``1 - self(x, y)``."""
        return 1.0 - self(x, y)

    def extra_repr(self) -> str:
        return f"scale_weights={[round(v, 4) for v in self.scale_weights.tolist()]}, {super().extra_repr()}"


class _PixelMetric(Metric):
    """Metrics on the flattened images whose all-pairs form is a matrix product."""

    def __init__(self, value_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__(value_range=value_range)
        # an empty buffer so that ``metric.to(device)`` decides where images are compared
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Flattened images ``(N, 3 * H * W)``."""
        return images.reshape(images.shape[0], -1)

    def mse(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Mean squared error ``(N,)`` of paired flattened images."""
        return ((a - b) ** 2).mean(1)

    def mse_pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """All-pairs mean squared error ``(N, M)`` from ``|a|² + |b|² - 2 a·b`` (in float64)."""
        a64, b64 = a.double(), b.double()
        shift = b64.mean(0, keepdim=True)  # centring keeps the cancellation small
        a64, b64 = a64 - shift, b64 - shift
        sq = (a64 * a64).sum(1)[:, None] + (b64 * b64).sum(1)[None, :] - 2 * a64 @ b64.T
        return (sq.clamp_min(0) / a.shape[1]).to(a.dtype)


class L2(_PixelMetric):
    """Mean squared error over pixels and channels, ``mean((x - y)²)``, of images in ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(2, 3, 4, 4); y = torch.full((2, 3, 4, 4), 0.5)
    >>> L2()(x, y).tolist()
    [0.25, 0.25]
    >>> L2().pairwise(torch.cat([x[:1], y[:1]])).tolist()
    [[0.0, 0.25], [0.25, 0.0]]
    """

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Mean squared error of paired images."""
        return self.mse(a, b)

    def compare_pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """All-pairs mean squared error by matrix products."""
        return self.mse_pairwise(a, b)


class PSNR(_PixelMetric):
    """Peak signal-to-noise ratio as a distance: ``-PSNR`` in dB (lower = more similar).

    ``PSNR = 10 log10(data_range² / MSE)``, equal to ``skimage.metrics.peak_signal_noise_ratio``.
    The MSE is floored at ``min_mse`` so that identical images give a finite PSNR
    (100 dB with the defaults) instead of infinity.

    Parameters
    ----------
    data_range : float
        Peak value of the images, which are in ``[0, 1]`` after validation: keep 1.
    min_mse : float
        Floor of the mean squared error.
    value_range : tuple of float
        Range of the caller's images.

    Examples
    --------
    >>> import torch
    >>> x = torch.zeros(1, 3, 4, 4); y = torch.full((1, 3, 4, 4), 0.1)
    >>> round(PSNR().psnr(x, y).item(), 3), round(PSNR()(x, y).item(), 3)
    (20.0, -20.0)
    """

    def __init__(self, data_range: float = 1.0, min_mse: float = 1e-10, value_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__(value_range=value_range)
        self.data_range = _positive_number(data_range, "data_range")
        self.min_mse = _positive_number(min_mse, "min_mse")

    def _psnr(self, mse: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(self.data_range ** 2 / mse.clamp_min(self.min_mse))

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``-PSNR`` of paired images."""
        return -self._psnr(self.mse(a, b))

    def compare_pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """All-pairs ``-PSNR`` by matrix products."""
        return -self._psnr(self.mse_pairwise(a, b))

    def psnr(self, x: Any, y: Any) -> torch.Tensor:
        """PSNR itself ``(N,)`` in dB of paired images (``y`` may hold one image); ``-self(x, y)``."""
        return -self(x, y)

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, min_mse={self.min_mse}, {super().extra_repr()}"
