"""``motion_energy``: the weight-free motion-energy model (Adelson & Bergen 1985; Nishimoto et al. 2011).

Luminance movies are filtered by spatio-temporal Gabor quadrature pairs; the energy of a pair
(``even² + odd²``) is a phase-invariant complex cell tuned to a direction of motion, a spatial
frequency and a temporal frequency (so to a speed ``tf / sf``), as in pymoten. The filters are
space-time separable sums (``cos(a − b) = cos a cos b + sin a sin b``), so each frame is filtered
once in space (on an image pyramid) and the result once in time.

Conventions (those of :mod:`neuroperception.features.gabor`):

* direction of motion in degrees, counter-clockwise from rightward with y pointing **up** the
  screen (90 = upward), ``n_directions`` evenly spaced in [0, 360);
* spatial frequency in cycles per pixel of the preprocessed frames, temporal frequency in cycles
  per frame (cycles per second = ``tf × fps``); the preferred speed is ``tf / sf`` pixels/frame;
* ``tf = 0`` filters are static: their energy does not depend on the sign of motion, so they
  come once per orientation (directions in [0, 180)).

Layers: ``energy`` (raw energy ``(N, C, T', H, W)``), ``compressed`` (``log``/``sqrt`` of it) and
``output`` (compressed energy averaged over time, ``(N, C, H, W)``; with ``keep_time=True`` the
time axis is kept). ``T' = T − temporal_window + 1`` (valid filtering in time; clips shorter than
the window are padded with mean grey). Each spatial frequency is filtered on a level of an image
pyramid (frames halved until the filter has at most ~15 pixels), and the maps are averaged down
to the grid of the coarsest level used (``H / 2**L``). Channels are ordered (spatial frequency, temporal
frequency, direction); :meth:`MotionEnergy.channel_labels` gives ``(direction, sf, tf)`` for each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .gabor import gabor_kernels
from .preprocessing import Preprocessing
from .registry import BuildResult, register_model

__all__ = ["MotionEnergy"]

_COMPRESSIONS = ("log", "sqrt", "none")


def _level(sf: float) -> int:
    """Pyramid level at which ``sf`` (cycles/pixel) becomes a frequency in (0.125, 0.25] (or stays above)."""
    return max(0, int(math.floor(math.log2(0.25 / sf) + 1e-9)))


class _SpatialQuadrature(nn.Module):
    """Even/odd spatial Gabor responses of every frame, one pyramid level per spatial frequency.

    ``(N, T, 1, H, W) -> [(N, T, O, 2, H / 2**L, W / 2**L) per frequency]``: a frequency ``f`` is
    filtered at ``f * 2**L`` on frames halved ``L`` times (2×2 averaging), which keeps kernels
    small (at most ~15 pixels) whatever the frequency.
    """

    def __init__(self, orientations: Sequence[float], frequencies: Sequence[float], bandwidth: float):
        super().__init__()
        self.levels = [_level(f) for f in frequencies]
        self.n_ori = len(orientations)
        for i, (f, lv) in enumerate(zip(frequencies, self.levels)):
            self.register_buffer(f"kernel{i}", gabor_kernels(orientations, f * 2**lv, bandwidth))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        n, t, _, h, w = x.shape
        if min(h, w) < 2 ** max(self.levels):
            raise InputError(f"MotionEnergy: received frames of {h}x{w} pixels; the lowest spatial frequency needs "
                             f"at least {2 ** max(self.levels)} pixels a side")
        pyramid = [x.reshape(n * t, 1, h, w)]
        for _ in range(max(self.levels)):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2))
        outs = []
        for i, lv in enumerate(self.levels):
            frames, k = pyramid[lv], getattr(self, f"kernel{i}")
            pad = k.shape[-1] // 2
            mode = "reflect" if min(frames.shape[-2:]) > pad else "replicate"
            resp = F.conv2d(F.pad(frames, (pad, pad, pad, pad), mode=mode), k.to(frames.dtype))
            outs.append(resp.reshape(n, t, self.n_ori, 2, *resp.shape[-2:]))
        return outs


class _TemporalEnergy(nn.Module):
    """Temporal quadrature filtering and energy: spatial responses -> ``(N, C, T', H, W)``."""

    def __init__(self, temporal_frequencies: Sequence[float], window: int):
        super().__init__()
        sigma = window / 6.0
        tt = torch.arange(window, dtype=torch.float64) - (window - 1) / 2
        env = torch.exp(-(tt**2) / (2 * sigma**2))
        env = env / env.sum()
        kernels = []
        for tf in temporal_frequencies:
            kernels += [env * torch.cos(2 * math.pi * tf * tt), env * torch.sin(2 * math.pi * tf * tt)]
        self.register_buffer("kernels", torch.stack(kernels)[:, None].float())  # (2*n_tf, 1, window)
        self.tfs = [float(tf) for tf in temporal_frequencies]
        self.window = window

    def forward(self, spatial: list[torch.Tensor]) -> torch.Tensor:
        energies = []
        grid = min(tuple(s.shape[-2:]) for s in spatial)  # the coarsest level's grid
        for s in spatial:  # one spatial frequency at a time keeps the peak memory down
            n, t, no, _, h, w = s.shape
            if t < self.window:  # too short: pad with mean grey (a zero response) on both sides
                before = (self.window - t) // 2
                s = F.pad(s, (0, 0, 0, 0, 0, 0, 0, 0, before, self.window - t - before))
                t = self.window
            series = s.permute(0, 2, 3, 4, 5, 1).reshape(-1, 1, t)
            filt = F.conv1d(series, self.kernels.to(s.dtype))  # (n*O*2*h*w, 2*n_tf, t')
            filt = filt.reshape(n, no, 2, h, w, len(self.tfs), 2, filt.shape[-1])
            level = []
            for ti, tf in enumerate(self.tfs):
                sc_tc, sc_ts = filt[:, :, 0, :, :, ti, 0], filt[:, :, 0, :, :, ti, 1]  # (n, O, h, w, t')
                ss_tc, ss_ts = filt[:, :, 1, :, :, ti, 0], filt[:, :, 1, :, :, ti, 1]
                if tf == 0:
                    level.append(sc_tc**2 + ss_tc**2)
                    continue
                level.append((sc_tc + ss_ts) ** 2 + (ss_tc - sc_ts) ** 2)  # directions in [0, 180)
                level.append((sc_tc - ss_ts) ** 2 + (ss_tc + sc_ts) ** 2)  # the opposite directions
            energy = torch.cat(level, 1).permute(0, 4, 1, 2, 3)  # (n, t', C_f, h, w)
            t_out = energy.shape[1]
            if (h, w) != grid:
                energy = F.adaptive_avg_pool2d(energy.reshape(-1, 1, h, w), grid).reshape(n, t_out, -1, *grid)
            energies.append(energy)
        return torch.cat(energies, 2).transpose(1, 2).contiguous()


class _Compress(nn.Module):
    def __init__(self, compression: str, eps: float):
        super().__init__()
        self.compression, self.eps = compression, eps

    def forward(self, energy: torch.Tensor) -> torch.Tensor:
        if self.compression == "log":
            return torch.log(energy + self.eps)
        if self.compression == "sqrt":
            return torch.sqrt(energy + self.eps**2)
        return energy


class MotionEnergy(nn.Module):
    """Motion-energy filter bank on luminance videos (weight-free, deterministic).

    Input is luminance ``(N, 1, T, H, W)`` (what :class:`Preprocessing` makes of videos with
    ``grayscale=True``); output is ``(N, C, H, W)`` time-averaged compressed energy.

    Parameters
    ----------
    n_directions : int
        Directions of motion evenly spaced in [0, 360); an even number (opposite directions share
        their spatial filters).
    spatial_frequencies : sequence of float
        Cycles per pixel of the input frames, each in (0, 0.5].
    temporal_frequencies : sequence of float
        Cycles per frame, each in [0, 0.5]; 0 gives static (orientation-only) channels.
    temporal_window : int
        Frames in each temporal filter (a Gaussian envelope of standard deviation
        ``temporal_window / 6``).
    bandwidth : float
        Spatial-frequency bandwidth in octaves of the spatial Gabors.
    compression : {"log", "sqrt", "none"}
        Nonlinearity on the energy: ``log(energy + eps)`` (as pymoten), ``sqrt`` or none.
    eps : float
        Offset of the compression.
    keep_time : bool
        Keep the time axis in ``output`` (``(N, C, T', H, W)``) instead of averaging over it.

    Examples
    --------
    >>> import torch
    >>> m = MotionEnergy(n_directions=4, spatial_frequencies=(0.25,), temporal_frequencies=(0, 0.25))
    >>> m(torch.randn(2, 1, 12, 16, 16)).shape  # 2 static + 4 moving channels
    torch.Size([2, 6, 16, 16])
    >>> m.channel_labels()[:3]
    [(0.0, 0.25, 0.0), (90.0, 0.25, 0.0), (0.0, 0.25, 0.25)]
    """

    def __init__(self, n_directions: int = 8, spatial_frequencies: Sequence[float] = (0.0625, 0.125, 0.25),
                 temporal_frequencies: Sequence[float] = (0.0, 0.125, 0.25), temporal_window: int = 9,
                 bandwidth: float = 1.0, compression: str = "log", eps: float = 1e-5, keep_time: bool = False):
        super().__init__()
        if not isinstance(n_directions, int) or n_directions < 2 or n_directions % 2:
            raise InputError(f"n_directions: received {n_directions!r}; expected an even int >= 2")
        sfs = [float(f) for f in spatial_frequencies]
        tfs = [float(f) for f in temporal_frequencies]
        if not sfs or any(not 0 < f <= 0.5 for f in sfs):
            raise InputError(f"spatial_frequencies: received {spatial_frequencies!r}; expected cycles/pixel "
                             "in (0, 0.5]")
        if not tfs or any(not 0 <= f <= 0.5 for f in tfs) or len(set(tfs)) != len(tfs):
            raise InputError(f"temporal_frequencies: received {temporal_frequencies!r}; expected distinct "
                             "cycles/frame in [0, 0.5]")
        if not isinstance(temporal_window, int) or temporal_window < 1:
            raise InputError(f"temporal_window: received {temporal_window!r}; expected a positive int (frames)")
        if compression not in _COMPRESSIONS:
            raise InputError(f"compression: received {compression!r}; expected one of {_COMPRESSIONS}")
        self.directions = [360.0 * i / n_directions for i in range(n_directions)]
        self.orientations = self.directions[: n_directions // 2]
        self.spatial_frequencies, self.temporal_frequencies = sfs, tfs
        self.temporal_window, self.keep_time = temporal_window, keep_time
        self.spatial = _SpatialQuadrature(self.orientations, sfs, bandwidth)
        self.energy = _TemporalEnergy(tfs, temporal_window)
        self.compressed = _Compress(compression, eps)

    def channel_labels(self) -> list[tuple[float, float, float]]:
        """``(direction, spatial frequency, temporal frequency)`` of each output channel.

        Static channels (``tf = 0``) carry their orientation in [0, 180) as direction.
        """
        labels = []
        for sf in self.spatial_frequencies:
            for tf in self.temporal_frequencies:
                if tf == 0:
                    labels += [(o, sf, tf) for o in self.orientations]
                else:
                    labels += [(o, sf, tf) for o in self.orientations]
                    labels += [(o + 180.0, sf, tf) for o in self.orientations]
        return labels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != 1:
            raise InputError(f"MotionEnergy: received shape {tuple(x.shape)}; expected luminance videos "
                             "(N, 1, T, H, W)")
        spatial = self.spatial(x.transpose(1, 2))
        out = self.compressed(self.energy(spatial))
        return out if self.keep_time else out.mean(2)


@register_model("motion_energy")
def build_motion_energy(name: str, weights, input_size: int = 64, **kwargs) -> BuildResult:
    if weights is not None:
        raise InputError(f"weights: received {weights!r} for 'motion_energy'; expected None (the motion-energy "
                         "model has no weights)")
    if name not in ("", "default"):
        raise InputError(f"model: received 'motion_energy:{name}'; expected 'motion_energy' or 'motion_energy:default' "
                         "(options go as keyword arguments)")
    pre = Preprocessing(resize=input_size, crop=input_size, mean=(0.5,), std=(0.5,), grayscale=True)
    return BuildResult(MotionEnergy(**kwargs), pre, "none (weight-free)", input_kind="videos")
