"""Optical flow from frame pairs and videos: a weight-free Horn–Schunck estimator and RAFT by weights.

Flows follow the package convention of :mod:`neuroperception.stimuli.flow_fields`: float32
``(..., 2, H, W)`` in pixels, channel 0 = dx (right), 1 = dy (down), from frame ``t`` to ``t + 1``.

- :class:`HornSchunck`: the classic variational estimator (brightness constancy + quadratic
  smoothness) on luminance, coarse-to-fine over a Gaussian pyramid with re-warping, batched, in
  torch on CPU or GPU. Needs no weights: the embedded default.
- :func:`load_raft`: torchvision's RAFT (large or small) with weights from a local file (or from
  torchvision's cache by tag); nothing is downloaded.
- :func:`estimate_flow` / :func:`mean_flow`: run either over frame pairs or over every pair of
  consecutive frames of videos, in batches.
"""

from __future__ import annotations

import abc
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._validation import check_images, check_videos, describe
from ..errors import InputError, MissingWeightsError, ShapeError
from . import _horn_schunck as hs
from ._torchvision import torchvision_checkpoint_dir
from .registry import check_device, is_weights_path
from .weights import apply_state_dict, find_cached_file, load_state_dict_file

__all__ = ["FlowEstimator", "HornSchunck", "RAFTFlow", "load_raft", "estimate_flow", "mean_flow"]

_RAFT_MIN_SIZE = 128  # RAFT's 4-level correlation pyramid needs feature maps of at least 16 (= 128 / 8) pixels


class FlowEstimator(abc.ABC):
    """Base class of flow estimators: ``estimator(frames_a, frames_b)`` → flow ``(N, 2, H, W)``.

    Subclasses implement ``_estimate(a, b)`` on validated float32 ``(N, 3, H, W)`` frames in
    [0, 1] that are already on :attr:`device` (or on the input's device when it is None).
    Any subclass can be passed to :func:`estimate_flow` as ``method``.

    Examples
    --------
    >>> import torch
    >>> class Still(FlowEstimator):
    ...     name = "still"
    ...     def _estimate(self, a, b):
    ...         return torch.zeros(a.shape[0], 2, *a.shape[-2:])
    >>> tuple(estimate_flow(torch.rand(1, 3, 3, 8, 8), method=Still(), progress=False).shape)
    (1, 2, 2, 8, 8)
    """

    device: torch.device | None = None
    name: str = "flow"

    def __call__(self, frames_a: Any, frames_b: Any) -> torch.Tensor:
        """Flow from ``frames_a`` to ``frames_b`` (images ``(N, 3, H, W)`` in [0, 1], same shape)."""
        a, b = _check_pair(frames_a, frames_b)
        if self.device is not None:
            a, b = a.to(self.device), b.to(self.device)
        return self._estimate(a, b)

    @abc.abstractmethod
    def _estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flow ``(N, 2, H, W)`` from validated frames ``a`` to ``b``."""

    def to(self, device) -> "FlowEstimator":
        """Run on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""
        self.device = check_device(device)
        return self


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
    device : str or torch.device, optional
        Where to compute; None computes where the frames are.

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
        self.device = None if device is None else check_device(device)

    def _estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return hs.horn_schunck(hs.luminance(a), hs.luminance(b), alpha=self.alpha, n_iter=self.n_iter,
                                   n_scales=self.n_scales, warp_iters=self.warp_iters, presmooth=self.presmooth)

    def __repr__(self) -> str:
        return (f"HornSchunck(alpha={self.alpha}, n_iter={self.n_iter}, n_scales={self.n_scales}, "
                f"warp_iters={self.warp_iters}, presmooth={self.presmooth})")


class RAFTFlow(FlowEstimator):
    """torchvision's RAFT wrapped for the package's frames and flow convention.

    Frames in [0, 1] are mapped to [-1, 1] (RAFT's training normalisation), padded by edge
    replication to a multiple of 8 and at least 128 pixels (RAFT's size constraints), and the
    flow of the last of ``num_flow_updates`` refinements is cropped back to the input size. Build
    it with :func:`load_raft`.

    Attributes
    ----------
    module : torchvision.models.optical_flow.RAFT
        The network, in eval mode.
    size : {"large", "small"}
    weights : str
        Where the weights came from.
    num_flow_updates : int
        Recurrent refinements per call (torchvision's default is 12).

    Examples
    --------
    >>> from torchvision.models.optical_flow import raft_small
    >>> RAFTFlow(raft_small(weights=None), size="small", weights="random-init", num_flow_updates=4)
    RAFTFlow(size='small', weights='random-init', num_flow_updates=4, device=cpu)
    """

    name = "raft"

    def __init__(self, module: torch.nn.Module, *, size: str, weights: str, num_flow_updates: int = 12,
                 device="cpu"):
        self.module = module.eval()
        self.size = size
        self.weights = weights
        self.num_flow_updates = _count(num_flow_updates, "num_flow_updates")
        self.to(device)

    def to(self, device) -> "RAFTFlow":
        """Move the network to ``device``."""
        super().to(device)
        self.module.to(self.device)
        return self

    def _estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h, w = a.shape[-2:]
        ph, pw = _raft_padded(h), _raft_padded(w)
        top, left = (ph - h) // 2, (pw - w) // 2
        pad = (left, pw - w - left, top, ph - h - top)
        a = F.pad(a * 2 - 1, pad, mode="replicate")
        b = F.pad(b * 2 - 1, pad, mode="replicate")
        with torch.no_grad():
            flows = self.module(a, b, num_flow_updates=self.num_flow_updates)
        return flows[-1][..., top:top + h, left:left + w].contiguous()

    def __repr__(self) -> str:
        return (f"RAFTFlow(size={self.size!r}, weights={self.weights!r}, num_flow_updates={self.num_flow_updates}, "
                f"device={self.device})")


def _raft_padded(n: int) -> int:
    return max(_RAFT_MIN_SIZE, -(-n // 8) * 8)


def _positive(value, name: str, *, strict: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v < 0 or (strict and v == 0):
        raise InputError(f"{name}: received {value!r}; expected a finite number {'>' if strict else '>='} 0")
    return v


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}: received {value!r}; expected an integer >= 1")
    return int(value)


def _check_pair(frames_a: Any, frames_b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a = check_images(frames_a, name="frames_a")
    b = check_images(frames_b, name="frames_b")
    if a.shape != b.shape:
        raise ShapeError(f"frames_b: received {describe(b)} for frames_a {tuple(a.shape)}; expected two batches of "
                         "the same shape (N, 3, H, W), frame t and frame t + 1")
    return a, b.to(a.device)


# --------------------------------------------------------------------------------------------- RAFT loading


def _raft_enum(size: str):
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    return Raft_Large_Weights if size == "large" else Raft_Small_Weights


def _resolve_raft_tag(weights, size: str):
    """A torchvision weights entry for a tag (``"DEFAULT"``, ``"C_T_SKHT_V2"``, ``"Raft_Large_Weights.C_T_V2"``)."""
    enum = _raft_enum(size)
    tags = [w.name for w in enum]
    if not isinstance(weights, str):  # a WeightsEnum member
        if isinstance(weights, enum):
            return weights
        raise InputError(f"weights: received {weights!r} for size={size!r}; expected a member of {enum.__name__} "
                         f"({tags}), 'DEFAULT' or a file path")
    prefix, _, tag = weights.rpartition(".")
    if prefix and prefix != enum.__name__:
        raise InputError(f"weights: received {weights!r} for size={size!r}; expected a tag of {enum.__name__} "
                         f"({tags}), 'DEFAULT' or a file path")
    if tag.upper() == "DEFAULT":
        return enum.DEFAULT
    if tag in tags:
        return enum[tag]
    raise InputError(f"weights: received tag {weights!r} for RAFT {size}; expected 'DEFAULT', one of {tags} "
                     f"(torchvision.models.optical_flow.{enum.__name__}) or a file path")


def load_raft(weights, *, size: str = "large", device="cpu", num_flow_updates: int = 12) -> RAFTFlow:
    """torchvision's RAFT with weights from a local file or from torchvision's cache; no download.

    Parameters
    ----------
    weights : str, path or torchvision weights entry
        A state-dict file (``.pth/.pt/.safetensors``, e.g. torchvision's ``raft_large_C_T_SKHT_V2-ff5fadd5.pth``
        or ``torch.save(raft.state_dict(), path)``), or a tag (``"DEFAULT"``, ``"C_T_SKHT_V2"``,
        ``Raft_Large_Weights.C_T_V2``) looked up in ``$TORCH_HOME/hub/checkpoints``.
    size : {"large", "small"}
        ``raft_large`` (5.3 M parameters) or ``raft_small`` (1.0 M).
    device : str or torch.device
        Where the network runs.
    num_flow_updates : int, default 12
        Recurrent refinements per call.

    Returns
    -------
    RAFTFlow

    Raises
    ------
    MissingWeightsError
        No weights given, the file does not exist, or a tag's file is not in torchvision's cache;
        the message names where it looked and how to provide the file.
    InputError
        Unknown size or tag, or a state dict of another architecture.

    Examples
    --------
    >>> import tempfile, torch
    >>> from torchvision.models.optical_flow import raft_small
    >>> path = tempfile.mktemp(suffix=".pth")
    >>> torch.save(raft_small(weights=None).state_dict(), path)    # stands for downloaded weights
    >>> load_raft(path, size="small").module.__class__.__name__
    'RAFT'
    """
    if size not in ("large", "small"):
        raise InputError(f"size: received {size!r}; expected 'large' (raft_large) or 'small' (raft_small)")
    from torchvision.models.optical_flow import raft_large, raft_small

    enum = _raft_enum(size)
    how = (f"on a machine with internet run `torch.save(torchvision.models.optical_flow.raft_{size}(weights="
           f"{enum.__name__}.DEFAULT).state_dict(), 'raft_{size}.pth')` (or download "
           f"{os.path.basename(enum.DEFAULT.url)} from {enum.DEFAULT.url}), copy the file here and pass "
           f"weights=<its path>, or put torchvision's file in {torchvision_checkpoint_dir()} and pass "
           "weights='DEFAULT'")
    if weights is None:
        raise MissingWeightsError(f"weights: received None for RAFT {size}; RAFT needs trained weights and nothing is "
                                  f"downloaded at run time: {how}. For a weight-free estimate use HornSchunck")
    dev = check_device(device)
    module = (raft_large if size == "large" else raft_small)(weights=None)
    if is_weights_path(weights):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"weights: RAFT {size} weight file {str(path)!r} does not exist (looked in: "
                                      f"{path.parent.resolve()}); {how}")
        apply_state_dict(module, load_state_dict_file(path), str(path))
        source = f"file:{path.resolve()}"
    else:
        entry = _resolve_raft_tag(weights, size)
        path = find_cached_file(os.path.basename(entry.url), [torchvision_checkpoint_dir()],
                                what=f"RAFT {size} weights {entry}", how=how)
        apply_state_dict(module, load_state_dict_file(path), str(path))
        source = f"torchvision:{entry} ({path})"
    return RAFTFlow(module, size=size, weights=source, num_flow_updates=num_flow_updates, device=dev)


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
        allowed = {"size", "device", "num_flow_updates"}
        if set(options) - allowed:
            raise InputError(f"options: received {sorted(options)} for method='raft'; expected {sorted(allowed)}")
        return load_raft(weights, **options)
    raise InputError(f"method: received {method!r}; expected 'horn_schunck', 'raft' or a loaded FlowEstimator "
                     "(HornSchunck(...), load_raft(...))")


def _run_pairs(estimator: FlowEstimator, a: torch.Tensor, b: torch.Tensor, batch_size: int, progress: bool,
               desc: str) -> torch.Tensor:
    n = a.shape[0]
    out = torch.empty(n, 2, *a.shape[-2:], dtype=torch.float32)
    with tqdm(total=n, unit="pair", desc=desc, disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            out[start:stop] = estimator(a[start:stop], b[start:stop]).to("cpu", torch.float32)
            bar.update(stop - start)
    return out


def estimate_flow(inputs: Any, method: str | FlowEstimator = "horn_schunck", weights=None, *, batch_size: int = 16,
                  progress: bool = True, **options) -> torch.Tensor:
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
    progress : bool, default True
        Show a progress bar.
    **options
        Passed to :class:`HornSchunck` (``alpha``, ``n_iter``, ``n_scales``, ``warp_iters``,
        ``presmooth``, ``device``) or :func:`load_raft` (``size``, ``device``, ``num_flow_updates``).

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
    >>> tuple(estimate_flow(videos, n_iter=10, progress=False).shape)
    (2, 2, 2, 24, 24)
    >>> tuple(estimate_flow((videos[:, 0], videos[:, 1]), n_iter=10, progress=False).shape)
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


def mean_flow(videos: Any, method: str | FlowEstimator = "horn_schunck", weights=None, *, batch_size: int = 16,
              progress: bool = True, **options) -> torch.Tensor:
    """Flow of each video averaged over its frame pairs: ``(N, 2, H, W)``.

    Same parameters as :func:`estimate_flow` (videos only, ``T >= 2``).

    Examples
    --------
    >>> import torch
    >>> tuple(mean_flow(torch.rand(2, 4, 3, 24, 24), n_iter=10, progress=False).shape)
    (2, 2, 24, 24)
    """
    if isinstance(videos, (tuple, list)):
        raise InputError(f"videos: received a {type(videos).__name__}; expected videos (N, T, 3, H, W) with T >= 2 "
                         "(for a frame pair use estimate_flow)")
    return estimate_flow(videos, method, weights, batch_size=batch_size, progress=progress, **options).mean(dim=1)
