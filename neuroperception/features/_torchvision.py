"""``torchvision:<name>``: any torchvision classification/video model by name."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import InputError
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .registry import BuildResult, register_model
from .weights import apply_state_dict, find_cached_file, load_state_dict_file


def _weights_enum(name: str):
    from torchvision import models

    try:
        return models.get_model_weights(name)
    except (ValueError, KeyError):
        return None


def _preprocessing(weights_entry) -> Preprocessing:
    if weights_entry is None:
        return Preprocessing(256, 224, IMAGENET_MEAN, IMAGENET_STD)
    tfm = weights_entry.transforms()
    first = lambda v: int(v[0]) if isinstance(v, (list, tuple)) else (int(v) if v is not None else None)  # noqa: E731
    resize, crop = first(getattr(tfm, "resize_size", None)), first(getattr(tfm, "crop_size", None))
    mean = tuple(float(m) for m in getattr(tfm, "mean", IMAGENET_MEAN))
    std = tuple(float(s) for s in getattr(tfm, "std", IMAGENET_STD))
    return Preprocessing(resize, crop, mean, std)


def torchvision_checkpoint_dir() -> Path:
    """Where torchvision caches downloaded weights: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


@register_model("torchvision")
def build_torchvision(name: str, weights, **kwargs) -> BuildResult:
    from torchvision import models

    available = models.list_models()
    if name in models.list_models(module=models.video):
        raise InputError(f"torchvision model {name!r} is a video network; expected it as "
                         f"'torchvision_video:{name}' (it takes videos (N, T, 3, H, W))")
    if name in models.list_models(module=models.optical_flow):
        raise InputError(f"torchvision model {name!r} is an optical-flow network; expected "
                         "neuroperception.features.load_raft(weights=path) / estimate_flow(..., method='raft')")
    if name not in available:
        import difflib

        close = difflib.get_close_matches(name, available, n=3)
        raise InputError(f"torchvision model {name!r} is not in torchvision {models.__name__} "
                         f"(close: {close}); expected one of torchvision.models.list_models()")
    module = models.get_model(name, weights=None, **kwargs)
    entry, description = load_torchvision_weights(module, weights, _weights_enum(name), f"torchvision:{name}")
    return BuildResult(module, _preprocessing(entry), description)


def load_torchvision_weights(module: torch.nn.Module, weights, enum, source: str):
    """Put weights into a torchvision ``module`` built with ``weights=None``; ``(weights entry, description)``.

    ``weights`` is None (keep the seeded random init), a file path (a state dict), or a tag of the
    model's weights enum (``"DEFAULT"`` or e.g. ``"IMAGENET1K_V1"``) whose file is looked up in
    torchvision's cache (:func:`torchvision_checkpoint_dir`), never downloaded. The entry returned
    is the tag's (its transforms give the preprocessing), or the enum's default for None and paths.
    """
    default = enum.DEFAULT if enum is not None else None
    if weights is None:
        return default, "random-init"
    if isinstance(weights, os.PathLike):
        apply_state_dict(module, load_state_dict_file(weights), str(weights))
        return default, f"file:{Path(weights).resolve()}"
    if enum is None:
        raise InputError(f"weights: {source} has no weight tags; expected 'random' (random init) or a file path")
    tags = [w.name for w in enum]
    if weights.upper() == "DEFAULT":
        entry = default
    elif weights in tags:
        entry = enum[weights]
    else:
        raise InputError(f"weights: received tag {weights!r} for {source}; expected 'DEFAULT', one of "
                         f"{tags}, 'random' (random init) or a file path")
    filename = os.path.basename(entry.url)
    path = find_cached_file(
        filename, [torchvision_checkpoint_dir()], what=f"{source} weights {entry}",
        how=f"download {entry.url} on a machine with internet and put it in {torchvision_checkpoint_dir()} "
            "(set TORCH_HOME to choose the folder), or pass weights=<path to the file>",
    )
    apply_state_dict(module, load_state_dict_file(path), str(path))
    return entry, f"torchvision:{entry} ({path})"
