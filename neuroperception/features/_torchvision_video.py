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
import os
from pathlib import Path

from ..errors import InputError
from ._torchvision import _weights_enum, torchvision_checkpoint_dir
from .preprocessing import Preprocessing
from .registry import BuildResult, register_model
from .weights import apply_state_dict, find_cached_file, load_state_dict_file

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
    enum = _weights_enum(name)
    default = enum.DEFAULT if enum is not None else None
    module = models.get_model(name, weights=None, **kwargs)
    extras = {"channels_last_layers": _channels_last_layers(name, module)}
    if weights is None:
        return BuildResult(module, kinetics_preprocessing(default), "random-init", extras, input_kind="videos")
    if isinstance(weights, os.PathLike):
        apply_state_dict(module, load_state_dict_file(weights), str(weights))
        return BuildResult(module, kinetics_preprocessing(default), f"file:{Path(weights).resolve()}", extras,
                           input_kind="videos")
    tags = [w.name for w in enum] if enum is not None else []
    if weights.upper() == "DEFAULT" and default is not None:
        entry = default
    elif weights in tags:
        entry = enum[weights]
    else:
        raise InputError(f"weights: received tag {weights!r} for torchvision_video:{name}; expected 'DEFAULT', one of "
                         f"{tags}, None (random init) or a file path")
    filename = os.path.basename(entry.url)
    path = find_cached_file(
        filename, [torchvision_checkpoint_dir()], what=f"torchvision_video:{name} weights {entry}",
        how=f"download {entry.url} on a machine with internet and put it in {torchvision_checkpoint_dir()} "
            "(set TORCH_HOME to choose the folder), or pass weights=<path to the file>",
    )
    apply_state_dict(module, load_state_dict_file(path), str(path))
    return BuildResult(module, kinetics_preprocessing(entry), f"torchvision:{entry} ({path})", extras,
                       input_kind="videos")
