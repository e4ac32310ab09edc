"""``gabor``: a weight-free V1-like feature space (a Gabor pyramid of complex cells).

Each scale of an image pyramid (the image halved ``s`` times) is filtered with quadrature pairs
of Gabor filters (``n_orientations`` × ``spatial_frequencies``, even and odd phase); a complex
cell's response is the quadrature energy ``sqrt(even² + odd²)``. Layers:

* ``scale{s}.simple`` — the linear (simple-cell) responses, channels ordered
  ``(frequency, orientation, phase)``;
* ``scale{s}`` — the complex-cell energy, channels ordered ``(frequency, orientation)``;
* ``output`` — all scales' energies pooled to the coarsest grid and concatenated.

Orientation is the direction of the filter's modulation, counter-clockwise from the x axis (the
convention of :mod:`neuroperception.stimuli.procedural`), spatial frequency is in cycles per pixel
at that scale (cycles per image = frequency × image width / 2**s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .preprocessing import Preprocessing
from .registry import BuildResult, register_model

__all__ = ["GaborPyramid", "gabor_kernels"]


def gabor_kernels(orientations: Sequence[float], frequency: float, bandwidth: float = 1.0) -> torch.Tensor:
    """Quadrature Gabor kernels ``(2 * n_orientations, 1, k, k)``: for each orientation, even then odd.

    The envelope's standard deviation follows from the bandwidth in octaves
    (``sigma = sqrt(ln 2 / 2) / (pi f) * (2**b + 1) / (2**b - 1)``); kernels are zero-mean and
    unit-norm so that responses are comparable across frequencies.

    Examples
    --------
    >>> k = gabor_kernels([0.0, 90.0], frequency=0.25)
    >>> k.shape[:2], bool(abs(float(k[0].sum())) < 1e-6)
    (torch.Size([4, 1]), True)
    """
    if not 0 < frequency <= 0.5:
        raise InputError(f"frequency: received {frequency!r} cycles/pixel; expected a value in (0, 0.5]")
    ratio = (2**bandwidth + 1) / (2**bandwidth - 1)
    sigma = math.sqrt(math.log(2) / 2) / (math.pi * frequency) * ratio
    half = int(math.ceil(3 * sigma))
    coords = torch.arange(-half, half + 1, dtype=torch.float64)
    y, x = torch.meshgrid(-coords, coords, indexing="ij")  # y up
    envelope = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
    kernels = []
    for theta in orientations:
        t = math.radians(theta)
        u = x * math.cos(t) + y * math.sin(t)
        for phase_fn in (torch.cos, torch.sin):
            k = envelope * phase_fn(2 * math.pi * frequency * u)
            k = k - envelope * (k.sum() / envelope.sum())  # remove the DC response
            kernels.append(k / k.norm())
    return torch.stack(kernels)[:, None].float()


class _Simple(nn.Module):
    """Linear responses of quadrature pairs at one scale (one conv per frequency)."""

    def __init__(self, orientations, frequencies, bandwidth):
        super().__init__()
        self.n = len(orientations)
        for i, f in enumerate(frequencies):
            self.register_buffer(f"kernel{i}", gabor_kernels(orientations, f, bandwidth))
        self.n_freq = len(frequencies)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for i in range(self.n_freq):
            k = getattr(self, f"kernel{i}")
            pad = k.shape[-1] // 2
            xp = F.pad(x, (pad, pad, pad, pad), mode="reflect" if min(x.shape[-2:]) > pad else "replicate")
            outs.append(F.conv2d(xp, k))
        return torch.cat(outs, 1)


class _Energy(nn.Module):
    def forward(self, simple: torch.Tensor) -> torch.Tensor:
        even, odd = simple[:, 0::2], simple[:, 1::2]
        return torch.sqrt(even**2 + odd**2 + 1e-12)


class _Scale(nn.Module):
    def __init__(self, orientations, frequencies, bandwidth):
        super().__init__()
        self.simple = _Simple(orientations, frequencies, bandwidth)
        self.energy = _Energy()

    def forward(self, x):
        return self.energy(self.simple(x))


class GaborPyramid(nn.Module):
    """Gabor-pyramid complex-cell energy (weight-free), as torch convolutions.

    Parameters
    ----------
    n_orientations : int
        Orientations evenly spaced in [0, 180).
    spatial_frequencies : sequence of float
        Cycles per pixel at every scale, each in (0, 0.5].
    n_scales : int
        Pyramid levels; level ``s`` sees the image downsampled by ``2**s``.
    bandwidth : float
        Spatial-frequency bandwidth in octaves.

    Examples
    --------
    >>> import torch
    >>> m = GaborPyramid(n_orientations=4, spatial_frequencies=(0.25,), n_scales=2)
    >>> m(torch.randn(1, 1, 32, 32)).shape
    torch.Size([1, 8, 16, 16])
    """

    def __init__(self, n_orientations: int = 8, spatial_frequencies: Sequence[float] = (0.25, 0.125),
                 n_scales: int = 4, bandwidth: float = 1.0):
        super().__init__()
        if not isinstance(n_orientations, int) or n_orientations < 1:
            raise InputError(f"n_orientations: received {n_orientations!r}; expected a positive int")
        if not isinstance(n_scales, int) or n_scales < 1:
            raise InputError(f"n_scales: received {n_scales!r}; expected a positive int")
        self.orientations = [180.0 * i / n_orientations for i in range(n_orientations)]
        self.spatial_frequencies = [float(f) for f in spatial_frequencies]
        self.n_scales = n_scales
        for s in range(n_scales):
            self.add_module(f"scale{s}", _Scale(self.orientations, self.spatial_frequencies, bandwidth))

    def channel_labels(self) -> list[tuple[float, float]]:
        """``(frequency, orientation)`` of each channel of a ``scale{s}`` layer."""
        return [(f, o) for f in self.spatial_frequencies for o in self.orientations]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise InputError(f"GaborPyramid: received shape {tuple(x.shape)}; expected (N, 1, H, W) grey images")
        maps = []
        for s in range(self.n_scales):
            if s:
                x = F.avg_pool2d(x, 2)
            maps.append(getattr(self, f"scale{s}")(x))
        size = maps[-1].shape[-2:]
        return torch.cat([F.adaptive_avg_pool2d(m, size) for m in maps], 1)


@register_model("gabor")
def build_gabor(name: str, weights, input_size: int = 128, **kwargs) -> BuildResult:
    if weights is not None:
        raise InputError(f"weights: received {weights!r} for 'gabor'; expected None (the Gabor pyramid has no weights)")
    if name:
        raise InputError(f"model: received 'gabor:{name}'; expected 'gabor' (options go as keyword arguments)")
    pre = Preprocessing(resize=input_size, crop=input_size, mean=(0.5,), std=(0.5,), grayscale=True)
    return BuildResult(GaborPyramid(**kwargs), pre, "none (weight-free)")
