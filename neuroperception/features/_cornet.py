"""``cornet_s``: CORnet-S (Kubilius et al. 2019), the recurrent V1 → V2 → V4 → IT network.

The module tree and parameter names follow the published code (``dicarlolab/CORnet``), so the
public checkpoint (``cornet_s-1d3f7974.pth``, saved from ``DataParallel`` with keys such as
``module.V1.conv1.weight`` under ``"state_dict"``) loads by path. Hookable areas: ``V1``, ``V2``,
``V4``, ``IT`` (each block's output after its last time step), ``decoder.avgpool``,
``decoder.linear`` and every sub-module (``IT.conv2``, ``V4.output``...). A module run at several
time steps (a block's ``conv1``, ``output``...) keeps its last time step's output when hooked.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .registry import BuildResult, register_model
from .weights import apply_state_dict, find_cached_file, load_state_dict_file

__all__ = ["CORnetS", "CORblockS", "CORNET_S_FILE", "CORNET_S_URL"]

#: File name and address of the public ImageNet checkpoint (what ``torch.hub`` would cache).
CORNET_S_FILE = "cornet_s-1d3f7974.pth"
CORNET_S_URL = f"https://s3.amazonaws.com/cornet-models/{CORNET_S_FILE}"

#: Time steps of the recurrent areas in the published model.
TIMES = {"V2": 2, "V4": 4, "IT": 2}


class _Identity(nn.Module):
    """A named pass-through, so that a block's output can be hooked by name."""

    def forward(self, x):
        return x


class _Flatten(nn.Module):
    """``(N, C, 1, 1)`` → ``(N, C)``."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class _SteppedConv(nn.Conv2d):
    """A 3×3 convolution whose stride is chosen per call (2 at the first time step, then 1).

    Same parameters (``weight``) as ``nn.Conv2d``, so the checkpoint's key layout is unchanged,
    and the module stays hookable; the stride is an argument rather than mutated state.
    """

    def forward(self, x, stride: int = 1):
        return F.conv2d(x, self.weight, self.bias, stride, self.padding, self.dilation, self.groups)


class CORblockS(nn.Module):
    """One recurrent CORnet-S area: an input 1×1 convolution, then ``times`` bottleneck steps.

    The first step downsamples by 2 (strided 3×3 convolution, with a strided 1×1 skip path);
    later steps reuse the same convolutions at stride 1 with an identity skip. Batch norms are
    separate per time step (``norm1_t``, ``norm2_t``, ``norm3_t``), as in the published model.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels entering and leaving the area.
    times : int
        Number of recurrent time steps.

    Examples
    --------
    >>> import torch
    >>> block = CORblockS(8, 16, times=2)
    >>> tuple(block(torch.zeros(1, 8, 12, 12)).shape)
    (1, 16, 6, 6)
    """

    scale = 4  # bottleneck expansion

    def __init__(self, in_channels: int, out_channels: int, times: int = 1):
        super().__init__()
        if not isinstance(times, int) or times < 1:
            raise InputError(f"times: received {times!r}; expected a positive int")
        self.times = times
        wide = out_channels * self.scale
        self.conv_input = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.skip = nn.Conv2d(out_channels, out_channels, kernel_size=1, stride=2, bias=False)
        self.norm_skip = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(out_channels, wide, kernel_size=1, bias=False)
        self.nonlin1 = nn.ReLU(inplace=True)
        self.conv2 = _SteppedConv(wide, wide, kernel_size=3, padding=1, bias=False)
        self.nonlin2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(wide, out_channels, kernel_size=1, bias=False)
        self.nonlin3 = nn.ReLU(inplace=True)
        self.output = _Identity()
        for t in range(times):
            self.add_module(f"norm1_{t}", nn.BatchNorm2d(wide))
            self.add_module(f"norm2_{t}", nn.BatchNorm2d(wide))
            self.add_module(f"norm3_{t}", nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self.conv_input(x)
        out = state
        for t in range(self.times):
            first = t == 0
            residual = self.norm_skip(self.skip(state)) if first else state
            h = self.nonlin1(getattr(self, f"norm1_{t}")(self.conv1(state)))
            h = self.nonlin2(getattr(self, f"norm2_{t}")(self.conv2(h, stride=2 if first else 1)))
            h = getattr(self, f"norm3_{t}")(self.conv3(h))
            state = self.nonlin3(h + residual)
            out = self.output(state)
        return out


class CORnetS(nn.Sequential):
    """CORnet-S: ``V1`` (feed-forward), recurrent ``V2`` (2 steps), ``V4`` (4), ``IT`` (2), ``decoder``.

    Build it through ``load_model("cornet_s")``; weights are a seeded random init unless a file
    is given. Parameter names match the published checkpoint once ``module.`` is stripped.

    Parameters
    ----------
    n_classes : int
        Outputs of the decoder's linear read-out (1000 ImageNet classes).

    Examples
    --------
    >>> import torch
    >>> net = CORnetS().eval()
    >>> tuple(net(torch.zeros(1, 3, 64, 64)).shape)
    (1, 1000)
    """

    def __init__(self, n_classes: int = 1000):
        v1 = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
            ("norm1", nn.BatchNorm2d(64)),
            ("nonlin1", nn.ReLU(inplace=True)),
            ("pool", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ("conv2", nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1, bias=False)),
            ("norm2", nn.BatchNorm2d(64)),
            ("nonlin2", nn.ReLU(inplace=True)),
            ("output", _Identity()),
        ]))
        decoder = nn.Sequential(OrderedDict([
            ("avgpool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", _Flatten()),
            ("linear", nn.Linear(512, n_classes)),
            ("output", _Identity()),
        ]))
        super().__init__(OrderedDict([
            ("V1", v1),
            ("V2", CORblockS(64, 128, times=TIMES["V2"])),
            ("V4", CORblockS(128, 256, times=TIMES["V4"])),
            ("IT", CORblockS(256, 512, times=TIMES["IT"])),
            ("decoder", decoder),
        ]))
        self._init_weights()

    def _init_weights(self) -> None:
        # the published initialisation: He-normal convolutions (fan-out), unit batch norms;
        # the linear read-out keeps PyTorch's default, as in the original training
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                with torch.no_grad():
                    m.weight.normal_(0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                with torch.no_grad():
                    m.weight.fill_(1.0)
                    m.bias.zero_()


def _checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


@register_model("cornet_s")
def build_cornet_s(name: str, weights, **kwargs) -> BuildResult:
    """Builder behind ``load_model("cornet_s", weights=None | path | "DEFAULT", random_state=0)``."""
    if name:
        raise InputError(f"model: received 'cornet_s:{name}'; expected the bare spec 'cornet_s'")
    if kwargs:
        raise InputError(f"cornet_s: received unexpected arguments {sorted(kwargs)}; expected none")
    module = CORnetS()
    preprocess = Preprocessing(256, 224, IMAGENET_MEAN, IMAGENET_STD)
    if weights is None:
        return BuildResult(module, preprocess, "random-init")
    if isinstance(weights, os.PathLike):
        path = Path(weights)
    elif isinstance(weights, str) and weights.upper() == "DEFAULT":
        path = find_cached_file(
            CORNET_S_FILE, [_checkpoint_dir()], what="cornet_s ImageNet weights",
            how=f"download {CORNET_S_URL} on a machine with internet and put it in {_checkpoint_dir()} "
                "(set TORCH_HOME to choose the folder), or pass weights=<path to the file>",
        )
    else:
        raise InputError(f"weights: received tag {weights!r} for cornet_s; expected 'random' (random init), "
                         "'DEFAULT' (the cached public checkpoint) or a file path")
    apply_state_dict(module, load_state_dict_file(path), str(path))
    return BuildResult(module, preprocess, f"file:{path.resolve()}")
