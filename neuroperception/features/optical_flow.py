"""Optical flow from frame pairs and videos: the weight-free Horn–Schunck estimator and the runners.

Flows follow the package convention of :mod:`neuroperception.stimuli.flow_fields`: float32
``(..., 2, H, W)`` in pixels, channel 0 = dx (right), 1 = dy (down), from frame ``t`` to ``t + 1``.

- :class:`HornSchunck`: the classic variational estimator (brightness constancy + quadratic
  smoothness) on luminance, coarse-to-fine over a Gaussian pyramid with re-warping, batched, in
  torch on CPU or GPU. Needs no weights: the embedded default.
- :func:`estimate_flow` / :func:`mean_flow`: run an estimator (Horn–Schunck, RAFT or any
  :class:`FlowEstimator`) over frame pairs or over every pair of consecutive frames of videos, in batches.

The base class :class:`FlowEstimator` and the shared argument checks live in ``_flow_base``; RAFT
(:class:`~neuroperception.features.raft.RAFTFlow`, :func:`~neuroperception.features.raft.load_raft`)
lives in :mod:`neuroperception.features.raft`.
"""

from __future__ import annotations

from typing import Any

import torch

from .._docs import fill_doc
from .._progress import progress_bar
from .._validation import check_device, check_videos
from ..errors import InputError
from . import _horn_schunck as hs
from ._flow_base import FlowEstimator, _check_pair, _count, _positive
from .raft import RAFTFlow, load_raft  # noqa: F401  (load_raft runs method="raft"; both stay importable here)

__all__ = ["FlowEstimator", "HornSchunck", "estimate_flow", "mean_flow"]


@fill_doc
class HornSchunck(FlowEstimator):
    """Horn & Schunck (1981) optical flow, coarse-to-fine with warping, in torch.

    Minimises ``Σ (I_x u + I_y v + I_t)² + alpha² (|∇u|² + |∇v|²)`` on the frames' luminance by
    Jacobi iterations. A Gaussian pyramid (halving down to about 8 pixels) is traversed coarse to
    fine; at each level the second frame is warped onto the first by the current estimate
    ``warp_iters`` times and the linearised problem solved again, so displacements of several
    pixels are recovered. Luminance is divided by the pair's standard deviation first, so ``alpha``
    does not depend on the stimulus contrast.

    Parameters
    ----------
    alpha : float, default 2.5
        Smoothness weight (in units of contrast-normalised luminance). Larger: smoother flow.
    n_iter : int, default 100
        Jacobi iterations per warp.
    n_scales : int, default 4
        Pyramid levels (1 = no pyramid: only sub-pixel motion is recovered).
    warp_iters : int, default 3
        Re-linearisations (warps) per level.
    presmooth : float, default 1.0
        Standard deviation (pixels) of the Gaussian blur applied before differentiating; 0 for none.
    %(device)s

    Examples
    --------
    >>> import torch
    >>> from neuroperception.stimuli.flow_fields import warp
    >>> g = torch.Generator().manual_seed(0)
    >>> small = torch.rand(1, 3, 12, 12, generator=g)
    >>> tex = torch.nn.functional.interpolate(small, size=48, mode="bicubic").clamp(0, 1)  # smooth texture
    >>> shift = torch.zeros(1, 2, 48, 48); shift[:, 0] = 2.0       # 2 pixels to the right
    >>> flow = HornSchunck()(tex, warp(tex, shift))
    >>> dx, dy = flow[0, :, 8:-8, 8:-8].mean(dim=(1, 2)).tolist()
    >>> round(dx, 1), abs(dy) < 0.05
    (2.0, True)
    """

    name = "horn_schunck"

    def __init__(self, alpha: float = 2.5, n_iter: int = 100, n_scales: int = 4, warp_iters: int = 3,
                 presmooth: float = 1.0, device=None):
        self.alpha = _positive(alpha, "alpha", strict=True)
        self.n_iter = _count(n_iter, "n_iter")
        self.n_scales = _count(n_scales, "n_scales")
        self.warp_iters = _count(warp_iters, "warp_iters")
        self.presmooth = _positive(presmooth, "presmooth", strict=False)
        self.device = check_device(device)

    def _estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return hs.horn_schunck(hs.luminance(a), hs.luminance(b), alpha=self.alpha, n_iter=self.n_iter,
                                   n_scales=self.n_scales, warp_iters=self.warp_iters, presmooth=self.presmooth)

    def __repr__(self) -> str:
        return (f"HornSchunck(alpha={self.alpha}, n_iter={self.n_iter}, n_scales={self.n_scales}, "
                f"warp_iters={self.warp_iters}, presmooth={self.presmooth})")


# --------------------------------------------------------------------------------------------- running


def _get_estimator(method, weights, options: dict) -> FlowEstimator:
    if isinstance(method, FlowEstimator):
        if weights is not None or options:
            given = (["weights"] if weights is not None else []) + sorted(options)
            raise InputError(f"method: received a loaded {type(method).__name__} together with {given}; expected "
                             "those options only with method='horn_schunck' or 'raft' (set them on the estimator)")
        return method
    if method == "horn_schunck":
        if weights is not None:
            raise InputError(f"weights: received {weights!r} for method='horn_schunck'; expected None "
                             "(Horn–Schunck is weight-free)")
        try:
            return HornSchunck(**options)
        except TypeError as err:
            raise InputError(f"options: received {sorted(options)} for method='horn_schunck'; expected alpha, "
                             "n_iter, n_scales, warp_iters, presmooth, device") from err
    if method == "raft":
        allowed = {"variant", "device", "num_flow_updates"}
        if set(options) - allowed:
            raise InputError(f"options: received {sorted(options)} for method='raft'; expected {sorted(allowed)}")
        return load_raft(weights, **options)
    raise InputError(f"method: received {method!r}; expected 'horn_schunck', 'raft' or a loaded FlowEstimator "
                     "(HornSchunck(...), load_raft(...))")


def _run_pairs(estimator: FlowEstimator, a: torch.Tensor, b: torch.Tensor, batch_size: int, progress: bool | None,
               desc: str) -> torch.Tensor:
    n = a.shape[0]
    out = torch.empty(n, 2, *a.shape[-2:], dtype=torch.float32)
    with progress_bar(None, progress, total=n, unit="pair", desc=desc, leave=False) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            out[start:stop] = estimator(a[start:stop], b[start:stop]).to("cpu", torch.float32)
            bar.update(stop - start)
    return out


@fill_doc
def estimate_flow(inputs: Any, method: str | FlowEstimator = "horn_schunck", weights=None, *, batch_size: int = 16,
                  progress: bool | None = None, **options) -> torch.Tensor:
    """Optical flow of videos (between consecutive frames) or of frame pairs.

    Parameters
    ----------
    inputs : videos or (frames_a, frames_b)
        Videos ``(N, T, 3, H, W)`` in [0, 1] (or uint8 ``(N, T, H, W, 3)``, or a
        :class:`~neuroperception.stimuli.video.VideoSet`) with ``T >= 2``, or a
        tuple of two image batches ``(N, 3, H, W)`` of the same shape (frame t, frame t + 1).
    method : {"horn_schunck", "raft"} or FlowEstimator
        The weight-free :class:`HornSchunck` (default), RAFT (needs ``weights``, see
        :func:`load_raft`), or an estimator already built (then no ``weights``/``options``).
    weights : path or str, optional
        RAFT weights (a file, or a tag looked up in torchvision's cache).
    batch_size : int, default 16
        Frame pairs per call of the estimator.
    %(progress)s
    **options
        Passed to :class:`HornSchunck` (``alpha``, ``n_iter``, ``n_scales``, ``warp_iters``,
        ``presmooth``, ``device``) or :func:`load_raft` (``variant``, ``device``, ``num_flow_updates``).

    Returns
    -------
    torch.Tensor
        float32 on the CPU: ``(N, T - 1, 2, H, W)`` for videos (flow from frame t to t + 1),
        ``(N, 2, H, W)`` for a pair.

    Raises
    ------
    ShapeError
        Videos with fewer than 2 frames; a pair of batches of different shapes.
    InputError
        Bad values, unknown method or options.

    Examples
    --------
    >>> import torch
    >>> videos = torch.rand(2, 3, 3, 24, 24)
    >>> tuple(estimate_flow(videos, n_iter=10).shape)
    (2, 2, 2, 24, 24)
    >>> tuple(estimate_flow((videos[:, 0], videos[:, 1]), n_iter=10).shape)
    (2, 2, 24, 24)
    """
    batch_size = _count(batch_size, "batch_size")
    if isinstance(inputs, (tuple, list)):
        if len(inputs) != 2:
            raise InputError(f"inputs: received a {type(inputs).__name__} of {len(inputs)} items; expected videos "
                             "(N, T, 3, H, W) or a pair (frames_a, frames_b)")
        a, b = _check_pair(*inputs)
        estimator = _get_estimator(method, weights, options)
        return _run_pairs(estimator, a, b, batch_size, progress, f"optical flow ({estimator.name})")
    from ..stimuli.video import VideoSet

    if isinstance(inputs, VideoSet):
        inputs = inputs.videos
    videos = check_videos(inputs, name="videos", min_frames=2)
    estimator = _get_estimator(method, weights, options)
    n, t = videos.shape[:2]
    a = videos[:, :-1].reshape(n * (t - 1), *videos.shape[2:])
    b = videos[:, 1:].reshape(n * (t - 1), *videos.shape[2:])
    flow = _run_pairs(estimator, a, b, batch_size, progress, f"optical flow ({estimator.name})")
    return flow.reshape(n, t - 1, *flow.shape[1:])


@fill_doc
def mean_flow(videos: Any, method: str | FlowEstimator = "horn_schunck", weights=None, *, batch_size: int = 16,
              progress: bool | None = None, **options) -> torch.Tensor:
    """Flow of each video averaged over its frame pairs: ``(N, 2, H, W)``.

    Same parameters as :func:`estimate_flow` (videos only, ``T >= 2``).

    Parameters
    ----------
    videos : videos
        ``(N, T, 3, H, W)`` in [0, 1] (or a :class:`~neuroperception.stimuli.video.VideoSet`), ``T >= 2``.
    method, weights, batch_size, **options
        As in :func:`estimate_flow`.
    %(progress)s

    Examples
    --------
    >>> import torch
    >>> tuple(mean_flow(torch.rand(2, 4, 3, 24, 24), n_iter=10).shape)
    (2, 2, 24, 24)
    """
    if isinstance(videos, (tuple, list)):
        raise InputError(f"videos: received a {type(videos).__name__}; expected videos (N, T, 3, H, W) with T >= 2 "
                         "(for a frame pair use estimate_flow)")
    return estimate_flow(videos, method, weights, batch_size=batch_size, progress=progress, **options).mean(dim=1)
