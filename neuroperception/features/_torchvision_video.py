"""``torchvision_video:<name>``: torchvision's video classification networks (Kinetics-400).

``r3d_18``, ``mc3_18``, ``r2plus1d_18``, ``s3d``, ``mvit_v1_b``, ``mvit_v2_s``, ``swin3d_t``,
``swin3d_s``, ``swin3d_b`` (whatever ``torchvision.models.video`` lists). Weights are handled as
for ``torchvision:<name>``: a seeded random init by default, a state-dict file by path, or a
weight tag (``"DEFAULT"``, ``"KINETICS400_V1"``) looked up in ``$TORCH_HOME/hub/checkpoints``
(nothing is downloaded). Videos ``(N, T, 3, H, W)`` in ``[0, 1]`` are resized, centre-cropped and
normalised frame by frame with the weights' Kinetics constants and reach the network as
``(N, 3, T, H, W)``.

The Swin3D blocks work channels-last (``(N, T, H, W, C)``); their layers are listed in the model's
``extras["channels_last_layers"]`` and :func:`~neuroperception.features.extract` moves their
channels first, so every 5-D activation is recorded as ``(N, C, T, H, W)``.
"""

from __future__ import annotations

import difflib

from ..errors import InputError
from ._torchvision import _weights_enum, load_torchvision_weights
from .preprocessing import Preprocessing
from .registry import BuildResult, register_model

__all__ = ["video_model_names", "kinetics_preprocessing"]

_KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
_KINETICS_STD = (0.22803, 0.22145, 0.216989)


def video_model_names() -> list[str]:
    """Names of the video networks this torchvision has (``torchvision.models.video``).

    Examples
    --------
    >>> "r3d_18" in video_model_names()
    True
    """
    from torchvision import models

    return sorted(models.list_models(module=models.video))


def kinetics_preprocessing(weights_entry) -> Preprocessing:
    """The :class:`Preprocessing` of a torchvision video weight entry (``VideoClassification`` preset).

    A two-value ``resize_size`` (``[128, 171]`` for the ResNet-3D family) is an exact
    ``(height, width)``; a one-value one is the shorter side. ``None`` gives the R3D defaults.

    Examples
    --------
    >>> from torchvision.models.video import R3D_18_Weights
    >>> p = kinetics_preprocessing(R3D_18_Weights.DEFAULT)
    >>> p.resize, p.crop
    ((128, 171), 112)
    """
    if weights_entry is None:
        return Preprocessing((128, 171), 112, _KINETICS_MEAN, _KINETICS_STD)
    tfm = weights_entry.transforms()
    resize = [int(v) for v in tfm.resize_size]
    crop = [int(v) for v in tfm.crop_size]
    return Preprocessing(tuple(resize) if len(resize) == 2 else resize[0],
                         crop[0] if len(crop) == 1 or crop[0] == crop[1] else tuple(crop),
                         tuple(float(m) for m in tfm.mean), tuple(float(s) for s in tfm.std))


def _channels_last_layers(name: str, module) -> list[str]:
    """Layers whose 5-D outputs are ``(N, T, H, W, C)``: everything in Swin3D but its first conv and pooling."""
    if not name.startswith("swin3d"):
        return []
    return [n for n, _ in module.named_modules() if n and n not in ("patch_embed.proj", "avgpool", "head")]


@register_model("torchvision_video")
def build_torchvision_video(name: str, weights, **kwargs) -> BuildResult:
    from torchvision import models

    available = video_model_names()
    if name not in available:
        close = difflib.get_close_matches(name, available, n=3)
        raise InputError(f"torchvision_video: received model name {name!r}; expected one of {available}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
    module = models.get_model(name, weights=None, **kwargs)
    entry, description = load_torchvision_weights(module, weights, _weights_enum(name), f"torchvision_video:{name}")
    return BuildResult(module, kinetics_preprocessing(entry), description,
                       {"channels_last_layers": _channels_last_layers(name, module)}, input_kind="videos")
