"""LPIPS: learned perceptual image patch similarity (Zhang et al., 2018), as a :class:`Metric`.

Both images go through the same backbone (AlexNet, VGG16 or SqueezeNet 1.1); the outputs of its
ReLU stages are unit-normalised along channels, the squared differences are weighted per channel
by non-negative 1×1 "heads" (calibrated on human 2AFC judgements), averaged over space and summed
over stages. Writing the head weights as ``w = s²`` turns the distance into a plain squared
Euclidean distance between per-image embeddings ``s · f / ‖f‖``, which is what :meth:`LPIPS.embed`
returns: distance matrices then cost a few matrix products per stage instead of one network pass
per pair.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._docs import fill_doc
from .._validation import describe
from ..errors import InputError, MissingWeightsError, ShapeError
from ..features import load_model
from ..features.weights import load_state_dict_file
from .base import Metric, Representation, _size

__all__ = ["LPIPS", "lpips_head_file"]

#: torchvision name, indices of the ReLU modules whose outputs are used, channels per stage.
_NETS: dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]] = {
    "alex": ("alexnet", (1, 4, 7, 9, 11), (64, 192, 384, 256, 256)),
    "vgg": ("vgg16", (3, 8, 15, 22, 29), (64, 128, 256, 512, 512)),
    "squeeze": ("squeezenet1_1", (1, 4, 7, 9, 10, 11, 12), (64, 128, 256, 384, 384, 512, 512)),
}
# LPIPS' input normalisation for images in [-1, 1]: (x - shift) / scale
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10
_HEAD_KEY = re.compile(r"^lin(\d+)\.model\.\d+\.weight$")


def lpips_head_file(model: str) -> Path:
    """Path of the calibrated heads shipped inside the installed ``lpips`` package (v0.1).

    The package is located without importing it. Nothing is downloaded.

    Parameters
    ----------
    model : {"alex", "vgg", "squeeze"}
        The backbone the heads belong to.

    Returns
    -------
    pathlib.Path
        ``<site-packages>/lpips/weights/v0.1/<model>.pth``.

    Raises
    ------
    MissingWeightsError
        The ``lpips`` package is not installed, or its wheel lacks the file.

    Examples
    --------
    >>> lpips_head_file("alex").name
    'alex.pth'
    """
    _check_model(model)
    how = ("install the `lpips` package (pip install lpips, or the [test] extra), or pass heads=<path to a head "
           "file> (the lpips layout lin<k>.model.1.weight, or one written by save_heads), or heads=None for "
           "uniform heads")
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(f"LPIPS heads for model={model!r}: the `lpips` package is not installed, so its "
                                  f"calibrated heads (lpips/weights/v0.1/{model}.pth) cannot be found; {how}")
    searched = [Path(p) / "weights" / "v0.1" / f"{model}.pth" for p in spec.submodule_search_locations]
    for path in searched:
        if path.is_file():
            return path
    raise MissingWeightsError(f"LPIPS heads for model={model!r}: file not found; looked in: "
                              f"{', '.join(str(p) for p in searched)}. Nothing is downloaded at run time: {how}")


def _check_model(model: Any) -> str:
    if not isinstance(model, str) or model not in _NETS:
        raise InputError(f"model: received {model!r}; expected one of {sorted(_NETS)}")
    return model


def _out_size(module: nn.Module, n: int) -> int:
    """Spatial size after ``module`` of an ``n``-pixel input side (convolutions and pools; others keep it)."""
    children = list(module.children())
    if children:  # a block (SqueezeNet's Fire): its branches keep the size, so a fold is exact
        for child in children:
            n = _out_size(child, n)
        return n
    if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        return n

    def first(v):
        return v[0] if isinstance(v, (tuple, list)) else v

    k, s, p = first(module.kernel_size), first(module.stride), first(module.padding)
    d = first(getattr(module, "dilation", 1))
    ceil = bool(getattr(module, "ceil_mode", False))
    span = n + 2 * p - d * (k - 1) - 1  # torch's output-size arithmetic (floor division, ceil-mode rule)
    if span < 0 and not ceil:
        return 0
    out = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1  # a last window may not start in the right padding
    return out


def _min_input_size(backbone: nn.Module) -> int:
    """The smallest image side for which every layer of ``backbone`` keeps at least one pixel."""
    for n in range(1, 4097):
        size, ok = n, True
        for layer in backbone:
            size = _out_size(layer, size)
            if size < 1:
                ok = False
                break
        if ok:
            return n
    raise InputError("LPIPS: the backbone shrinks every input below one pixel")  # pragma: no cover


def _read_heads(path: Path, channels: tuple[int, ...], model: str) -> list[torch.Tensor]:
    if not path.is_file():
        raise MissingWeightsError(
            f"LPIPS heads file {str(path)!r} does not exist (looked in: {path.parent.resolve()}); expected a head "
            "file in the lpips layout (lin0.model.1.weight, lin1.model.1.weight, ...) such as one written by "
            "save_heads(metric, path), or heads='lpips' for the calibrated heads shipped with the lpips package"
        )
    state = load_state_dict_file(path)
    found: dict[int, torch.Tensor] = {}
    for key, value in state.items():
        match = _HEAD_KEY.match(key)
        if match:
            found[int(match.group(1))] = value
    want = list(range(len(channels)))
    if sorted(found) != want:
        raise InputError(f"heads: {path} holds head keys for stages {sorted(found)}; expected lin0..lin{want[-1]} "
                         f"(keys 'lin<k>.model.1.weight') for model={model!r}")
    heads = []
    for k, c in enumerate(channels):
        w = found[k].detach().to(torch.float32)
        if w.numel() != c:
            raise ShapeError(f"heads: {path} stage {k} has {tuple(w.shape)} weights; expected {c} channels "
                             f"(shape (1, {c}, 1, 1)) for model={model!r}")
        heads.append(w.reshape(c))
    return heads


@fill_doc
class LPIPS(Metric):
    """Learned perceptual distance between images (LPIPS), batched and differentiable.

    Parameters
    ----------
    model : {"alex", "vgg", "squeeze"}, default "alex"
        The backbone: torchvision ``alexnet``, ``vgg16`` or ``squeezenet1_1``, cut at the ReLU stages
        LPIPS uses (5, 5 and 7 stages).
    weights : None, "random", "DEFAULT" or path, optional
        The backbone's weights. None: seeded random init (recorded in :attr:`weights`), with the
        :class:`~neuroperception.errors.RandomWeightsWarning` of
        :func:`~neuroperception.features.load_model`: distances are then not the published LPIPS.
        ``"random"``: the same init asked for on purpose, without the warning. ``"DEFAULT"``:
        torchvision's ImageNet weights found in ``TORCH_HOME`` (never downloaded). A path: a
        torchvision state dict of the whole classifier.
    heads : "lpips", path or None, default "lpips"
        ``"lpips"``: the calibrated v0.1 heads shipped inside the installed ``lpips`` package. A path:
        a head file in the same key layout (e.g. written by :func:`~neuroperception.similarity.save_heads`).
        None: uniform heads, i.e. the plain unweighted distance between normalised features.
    spatial : bool, default False
        If True, ``metric(x, y)`` returns ``(N, 1, H, W)`` distance maps (the sum of the per-stage
        maps upsampled bilinearly to the input size) instead of ``(N,)`` values.
    value_range : tuple of float, default (0, 1)
        Range of the input images; ``(-1, 1)`` data (the ``lpips`` package's convention) must say so.
    %(random_state)s
        It seeds the random backbone init (as in :func:`~neuroperception.features.load_model`).

    Attributes
    ----------
    model : str
        The backbone's name (``"alex"``, ``"vgg"`` or ``"squeeze"``).
    weights : str
        Where the backbone weights came from (``"random-init(seed=0)"``, ``"file:..."``, a torchvision tag).
    heads_source : str
        Where the heads came from.
    channels : tuple of int
        Channels of each stage.
    min_size : int
        The smallest image side the backbone can take (31 pixels for ``"alex"``, 16 for ``"vgg"``,
        17 for ``"squeeze"``): every smaller input is a :class:`~neuroperception.errors.ShapeError`
        when the metric is called, instead of an error deep inside torch.

    Raises
    ------
    MissingWeightsError
        ``heads="lpips"`` without the ``lpips`` package, a missing head file, or ``"DEFAULT"`` backbone
        weights absent from ``TORCH_HOME``.

    Examples
    --------
    >>> import torch
    >>> metric = LPIPS("alex", weights="random")   # "DEFAULT" for the published metric
    >>> x, y = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    >>> metric(x, y).shape, metric.pairwise(x, y).shape
    (torch.Size([2]), torch.Size([2, 2]))
    >>> float(metric(x, x).abs().max())
    0.0
    """

    def __init__(self, model: str = "alex", weights: str | os.PathLike | None = None,
                 heads: str | os.PathLike | None = "lpips", spatial: bool = False,
                 value_range: tuple[float, float] = (0.0, 1.0), random_state: Any = 0):
        super().__init__(value_range=value_range)
        self.model = _check_model(model)
        arch, taps, channels = _NETS[model]
        self.taps, self.channels, self.spatial = taps, channels, bool(spatial)
        if heads is None:  # heads first: a missing file fails before the backbone is built
            head_values, source = [torch.ones(c) for c in channels], "uniform"
        else:
            if isinstance(heads, str) and heads == "lpips":
                path = lpips_head_file(model)
            elif isinstance(heads, (str, os.PathLike)):
                path = Path(heads).expanduser()
            else:
                raise InputError(f"heads: received {type(heads).__name__}; expected 'lpips', a file path or None")
            head_values, source = _read_heads(path, channels, model), f"file:{path}"
        backbone = load_model(f"torchvision:{arch}", weights=weights, random_state=random_state)
        self.weights = backbone.weights
        features = backbone.module.features
        self.backbone = nn.Sequential(*list(features.children())[: taps[-1] + 1]).eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        for i in taps[:-1]:  # a stage's output must survive the next module
            nxt = self.backbone[i + 1]
            if getattr(nxt, "inplace", False):
                nxt.inplace = False
        self.backbone.to(memory_format=torch.channels_last)
        self.min_size = _min_input_size(self.backbone)
        shift = torch.tensor(_SHIFT).view(1, 3, 1, 1)
        scale = torch.tensor(_SCALE).view(1, 3, 1, 1)
        # [0, 1] images x -> (2x - 1 - shift) / scale = x * gain + offset
        self.register_buffer("gain", 2.0 / scale, persistent=False)
        self.register_buffer("offset", (-1.0 - shift) / scale, persistent=False)
        for k in range(len(head_values)):
            self.register_buffer(f"head{k}", torch.zeros(channels[k]))
        self.set_heads(head_values)
        self.heads_source = source

    # -- heads -----------------------------------------------------------------------------
    @property
    def heads(self) -> tuple[torch.Tensor, ...]:
        """Per-stage non-negative channel weights ``(C_k,)``."""
        return tuple(getattr(self, f"head{k}") for k in range(len(self.channels)))

    def set_heads(self, heads) -> "LPIPS":
        """Replace the head weights (a sequence of ``(C_k,)`` non-negative tensors, one per stage).

        Examples
        --------
        >>> m = LPIPS(heads=None, weights="random")
        >>> m.set_heads([2 * h for h in m.heads]).heads[0][:2]
        tensor([2., 2.])
        """
        heads = list(heads)
        if len(heads) != len(self.channels):
            raise ShapeError(f"heads: received {len(heads)} stages; expected {len(self.channels)} for "
                             f"model={self.model!r}")
        for k, (w, c) in enumerate(zip(heads, self.channels)):
            w = torch.as_tensor(w, dtype=torch.float32).detach()
            if w.numel() != c:
                raise ShapeError(f"heads[{k}]: received {describe(w)}; expected {c} channel weights")
            if not torch.isfinite(w).all() or (w < 0).any():
                raise InputError(f"heads[{k}]: received {describe(w)}; expected finite non-negative weights")
            buf = getattr(self, f"head{k}")
            buf.copy_(w.reshape(c).to(buf.device))
        self.heads_source = "set_heads"
        return self

    def check(self, images: Any, name: str = "images") -> torch.Tensor:
        """Validate images as every metric does, and check they are at least :attr:`min_size` pixels.

        Examples
        --------
        >>> import torch
        >>> m = LPIPS(weights="random")
        >>> m.min_size
        31
        >>> m(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        neuroperception.errors.ShapeError: x: received images of size (8, 8); expected at least 31x31 for ...
        """
        x = super().check(images, name)
        if min(x.shape[-2:]) < self.min_size:
            raise ShapeError(f"{name}: received images of size {tuple(x.shape[-2:])}; expected at least "
                             f"{self.min_size}x{self.min_size} for LPIPS(model={self.model!r}), whose backbone shrinks "
                             "smaller images below one pixel; upsample them first (e.g. ImageSet.from_array(x, "
                             "size=64))")
        return x

    # -- representation ----------------------------------------------------------------------
    def normalized_features(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Channel-wise unit-normalised stage outputs ``(N, C_k, h_k, w_k)`` of validated ``[0, 1]`` images.

        Examples
        --------
        >>> import torch
        >>> f = LPIPS(heads=None, weights="random").normalized_features(torch.rand(1, 3, 64, 64))
        >>> len(f), round(float(f[0].pow(2).sum(1).mean()), 3)
        (5, 1.0)
        """
        return tuple(h / (torch.linalg.vector_norm(h, dim=1, keepdim=True) + _EPS) for h in self._stages(images))

    def _stages(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Raw stage outputs (channels-last) of ``[0, 1]`` images."""
        if torch.is_grad_enabled() and images.requires_grad:
            h = (images * self.gain + self.offset).contiguous(memory_format=torch.channels_last)
        else:  # LPIPS' shift/scale written straight into a channels-last buffer
            h = torch.empty_like(images, memory_format=torch.channels_last)
            torch.addcmul(self.offset, images, self.gain, out=h)
        out, taps, k = [], self.taps, 0
        for i, layer in enumerate(self.backbone):
            h = layer(h)
            if i == taps[k]:
                out.append(h)
                k += 1
        return out

    def _paired(self, images: torch.Tensor, n: int) -> torch.Tensor:
        """``(n,)`` distances between rows ``i`` and ``n + i`` of ``images``, without forming embeddings."""
        total = None
        in_place = not (torch.is_grad_enabled() and images.requires_grad)
        for h, w in zip(self._stages(images), self.heads):
            inv = 1.0 / (torch.linalg.vector_norm(h, dim=1, keepdim=True) + _EPS)
            diff = h[:n] * inv[:n]
            diff = diff.sub_(h[n:] * inv[n:]).square_() if in_place else (diff - h[n:] * inv[n:]).square()
            # channels-last: (n, C, y, x) viewed as (n, y, x, C); the head is a weighted channel sum
            d = (diff.permute(0, 2, 3, 1) @ w).mean(dim=(1, 2))
            total = d if total is None else total + d
        return total

    def embed(self, images: torch.Tensor) -> Representation:
        """Per-stage maps ``sqrt(head) · f / ‖f‖``; in spatial mode followed by the ``(N, 2)`` input sizes."""
        feats = tuple(f * h.sqrt().view(1, -1, 1, 1) for f, h in zip(self.normalized_features(images), self.heads))
        if self.spatial:
            size = torch.tensor(images.shape[-2:], device=images.device).expand(images.shape[0], 2)
            return feats + (size,)
        return feats

    def _stage_maps(self, a: Representation, b: Representation) -> list[torch.Tensor]:
        n = len(self.channels)
        return [(fa - fb).pow(2).sum(1, keepdim=True) for fa, fb in zip(a[:n], b[:n])]

    def compare(self, a: Representation, b: Representation) -> torch.Tensor:
        """``(N,)`` distances, or ``(N, 1, H, W)`` maps when ``spatial=True``."""
        maps = self._stage_maps(a, b)
        if self.spatial:
            size = tuple(int(v) for v in a[-1][0])
            return sum(F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps)
        return sum(m.mean(dim=(1, 2, 3)) for m in maps)

    def compare_pairwise(self, a: Representation, b: Representation) -> torch.Tensor:
        """All-pairs ``(N, M)`` distances (spatially averaged) from ``‖a‖² + ‖b‖² - 2a·b`` per stage."""
        n_stages = len(self.channels)
        out = None
        for fa, fb in zip(a[:n_stages], b[:n_stages]):
            if fa.shape[1:] != fb.shape[1:]:
                raise ShapeError(f"pairwise: stage maps {tuple(fa.shape[1:])} and {tuple(fb.shape[1:])} differ; "
                                 "expected images of the same size")
            hw = fa.shape[-1] * fa.shape[-2]
            # channels-last maps flatten without a copy; the order of the entries does not matter
            xa = fa.permute(0, 2, 3, 1).reshape(fa.shape[0], -1)
            xb = xa if fb is fa else fb.permute(0, 2, 3, 1).reshape(fb.shape[0], -1)
            centre = xa.mean(0, keepdim=True)  # distances are shift-invariant; centring limits cancellation
            xa = xa - centre
            xb = xa if fb is fa else xb - centre
            sq_a, sq_b = xa.pow(2).sum(1), xb.pow(2).sum(1)
            d = torch.addmm(sq_a[:, None] + sq_b[None, :], xa, xb.T, alpha=-2.0) / hw
            out = d if out is None else out + d
        out = out.clamp_min(0.0)
        if a is b:
            out = out - torch.diag_embed(out.diagonal())
        return out

    # -- calls -----------------------------------------------------------------------------
    def forward(self, x: Any, y: Any) -> torch.Tensor:
        """Distances between paired images ``x[i]`` and ``y[i]`` (one backbone pass over both).

        ``y`` may hold a single image, compared with every row of ``x``.
        """
        a, b = self.check(x, "x"), self.check(y, "y")
        if a.shape[1:] != b.shape[1:] or b.shape[0] not in (1, a.shape[0]):
            raise ShapeError(f"x and y: received {tuple(a.shape)} and {tuple(b.shape)}; expected the same shape "
                             "(or y with a single image)")
        n = a.shape[0]
        if not self.spatial and b.shape[0] == n:
            return self._paired(torch.cat([a, b]), n)
        rep = self.embed(torch.cat([a, b]))
        ra = tuple(r[:n] for r in rep)
        rb = tuple(r[n:] for r in rep)
        if _size(rb) == 1 and n > 1:
            rb = tuple(r.expand(n, *r.shape[1:]) for r in rb)
        return self.compare(ra, rb)

    def layer_maps(self, x: Any, y: Any, upsample: bool = True) -> list[torch.Tensor]:
        """Per-stage weighted distance maps ``(N, 1, H, W)`` between paired images.

        Parameters
        ----------
        x, y : images
            Paired ``(N, 3, H, W)`` images (``y`` may hold one image).
        upsample : bool, default True
            Upsample each map bilinearly to the input size (else keep the stage's resolution).

        Returns
        -------
        list of torch.Tensor
            One map per stage; their spatial means sum to ``metric(x, y)`` when not upsampled.

        Examples
        --------
        >>> import torch
        >>> m = LPIPS(heads=None, weights="random")
        >>> maps = m.layer_maps(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
        >>> len(maps), tuple(maps[0].shape)
        (5, (2, 1, 64, 64))
        """
        a, b = self.check(x, "x"), self.check(y, "y")
        if a.shape[1:] != b.shape[1:] or b.shape[0] not in (1, a.shape[0]):
            raise ShapeError(f"x and y: received {tuple(a.shape)} and {tuple(b.shape)}; expected the same shape "
                             "(or y with a single image)")
        n = len(self.channels)
        fa, fb = self.embed(a)[:n], self.embed(b)[:n]
        maps = self._stage_maps(fa, tuple(f.expand(a.shape[0], *f.shape[1:]) for f in fb))
        if upsample:
            maps = [F.interpolate(m, size=tuple(a.shape[-2:]), mode="bilinear", align_corners=False) for m in maps]
        return maps

    def extra_repr(self) -> str:
        return (f"model={self.model!r}, weights={self.weights!r}, heads={self.heads_source!r}, "
                f"spatial={self.spatial}, value_range={self.value_range}")
