"""``timm:<name>``: timm models (optional dependency, installed with open-clip-torch)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import InputError
from .preprocessing import Preprocessing
from .registry import BuildResult, register_model
from .weights import apply_state_dict, find_cached_file, hf_cached_file, load_state_dict_file


def _import_timm():
    try:
        import timm
    except ImportError as err:  # pragma: no cover - timm comes with open-clip-torch
        raise InputError("timm: not installed; expected `pip install timm` for 'timm:<name>' specs") from err
    return timm


def _preprocessing(model) -> Preprocessing:
    timm = _import_timm()
    cfg = timm.data.resolve_model_data_config(model)
    size = int(cfg["input_size"][-1])
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    return Preprocessing(int(math.floor(size / crop_pct)), size, tuple(cfg["mean"]), tuple(cfg["std"]))


@register_model("timm")
def build_timm(name: str, weights, **kwargs) -> BuildResult:
    timm = _import_timm()
    try:
        module = timm.create_model(name, pretrained=False, **kwargs)
    except RuntimeError as err:
        raise InputError(f"timm model {name!r}: {err}; expected a name from timm.list_models()") from err
    if weights is None:
        return BuildResult(module, _preprocessing(module), "random-init")
    if isinstance(weights, os.PathLike):
        apply_state_dict(module, load_state_dict_file(weights), str(weights))
        return BuildResult(module, _preprocessing(module), f"file:{Path(weights).resolve()}")
    cfg = module.pretrained_cfg if weights.upper() == "DEFAULT" else \
        timm.create_model(f"{name.split('.')[0]}.{weights}", pretrained=False).pretrained_cfg
    what = f"timm:{name} weights {weights!r}"
    if cfg.get("hf_hub_id"):
        path = hf_cached_file(cfg["hf_hub_id"], ["model.safetensors", "pytorch_model.bin"], what=what)
    elif cfg.get("url"):
        import torch

        folder = Path(torch.hub.get_dir()) / "checkpoints"
        path = find_cached_file(os.path.basename(cfg["url"]), [folder], what=what,
                                how=f"download {cfg['url']} into {folder}, or pass weights=<path>")
    else:
        raise InputError(f"weights: {what} has no download source in timm's config; pass weights=<path>")
    apply_state_dict(module, load_state_dict_file(path), str(path))
    return BuildResult(module, _preprocessing(module), f"timm:{cfg.get('hf_hub_id') or cfg.get('url')} ({path})")
