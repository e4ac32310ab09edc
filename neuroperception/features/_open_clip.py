"""``open_clip:<arch>``: CLIP image encoders built by open_clip (text tower kept in ``extras``)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import InputError, MissingWeightsError
from .preprocessing import Preprocessing
from .registry import BuildResult, register_model
from .weights import apply_state_dict, find_cached_file, hf_cached_file, load_state_dict_file

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


#: A small CLIP architecture (ViT, 64 px, 32-d embeddings) for examples, demos and tests: with seeded
#: random weights it runs every CLIP code path in a fraction of a second.
TINY_CLIP_CONFIG = {"embed_dim": 32,
                    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
                    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def register_clip_architecture(name: str, config: dict | None = None) -> str:
    """Register a CLIP architecture with open_clip from a config dict; returns its ``load_model`` spec.

    The config has open_clip's model-config layout (``embed_dim``, ``vision_cfg``, ``text_cfg``);
    default :data:`TINY_CLIP_CONFIG`. Registering a name that open_clip already knows does nothing.

    Examples
    --------
    >>> from neuroperception.features import load_model
    >>> spec = register_clip_architecture("ExampleTiny-ViT")
    >>> spec, load_model(spec, weights="random").layer_names()[-1]
    ('open_clip:ExampleTiny-ViT', 'output')
    """
    import open_clip

    if name not in open_clip.list_models():
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"{name}.json"
            path.write_text(json.dumps(TINY_CLIP_CONFIG if config is None else config))
            open_clip.add_model_config(str(path))
    return f"open_clip:{name}"


def openai_cache_dir() -> Path:
    """open_clip's cache for URL downloads (``~/.cache/clip``)."""
    return Path(os.path.expanduser("~/.cache/clip"))


def _preprocessing(model, pretrained_cfg: dict | None = None) -> Preprocessing:
    cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
    if pretrained_cfg:
        cfg.update({k: v for k, v in pretrained_cfg.items() if k in ("mean", "std") and v})
    size = cfg.get("size", getattr(model.visual, "image_size", 224))
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    mean = tuple(float(v) for v in (cfg.get("mean") or OPENAI_MEAN))
    std = tuple(float(v) for v in (cfg.get("std") or OPENAI_STD))
    return Preprocessing(size, size, mean, std)


def _quiet_create(name: str, **kwargs):
    """``open_clip.create_model(pretrained=None)`` without its 'initialized randomly' log line."""
    import logging

    import open_clip

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        return open_clip.create_model(name, pretrained=None, **kwargs)
    finally:
        root.setLevel(level)


def _resolve_tag(name: str, tag: str) -> tuple[Path, dict]:
    """Find the file open_clip would download for ``tag``: its HF hub cache, then ``~/.cache/clip``."""
    import open_clip

    tags = open_clip.list_pretrained_tags_by_model(name)
    if tag.upper() == "DEFAULT":
        if not tags:
            raise InputError(f"weights: open_clip:{name} has no pretrained tags; pass a file path")
        tag = tags[0]
    cfg = open_clip.get_pretrained_cfg(name, tag)
    if not cfg:
        raise InputError(f"weights: received tag {tag!r} for open_clip:{name}; expected one of {tags}, "
                         "'DEFAULT', 'random' (random init) or a file path")
    what = f"open_clip:{name} weights {tag!r}"
    misses = []
    hf = (cfg.get("hf_hub") or "").strip("/")
    if hf:
        parts = hf.split("/")
        repo, fname = "/".join(parts[:2]), "/".join(parts[2:])
        names = [fname] if fname else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        try:
            return hf_cached_file(repo, names, what=what), cfg
        except MissingWeightsError as err:
            misses.append(str(err))
    url = cfg.get("url")
    if url:
        folder = openai_cache_dir()
        try:
            return find_cached_file(os.path.basename(url.split("?")[0]), [folder], what=what,
                                    how=f"download {url} into {folder}, or pass weights=<path to the file>"), cfg
        except MissingWeightsError as err:
            misses.append(str(err))
    if not misses:
        raise InputError(f"weights: {what} has no download source in open_clip's config; pass a file path")
    raise MissingWeightsError(" | ".join(misses))


@register_model("open_clip")
def build_open_clip(name: str, weights, **kwargs) -> BuildResult:
    import open_clip

    archs = open_clip.list_models()
    if name not in archs:
        import difflib

        close = difflib.get_close_matches(name, archs, n=3)
        raise InputError(f"open_clip architecture {name!r} is unknown (close: {close}); expected one of open_clip.list_models()")
    cfg = None
    if weights is None:
        path, desc = None, "random-init"
    elif isinstance(weights, os.PathLike):
        path, desc = weights, f"file:{Path(weights).resolve()}"
    else:
        path, cfg = _resolve_tag(name, weights)
        desc = f"open_clip:{name}/{weights} ({path})"
        if cfg.get("quick_gelu"):
            kwargs.setdefault("force_quick_gelu", True)
    model = _quiet_create(name, **kwargs)
    extras = {"clip": model, "tokenizer": open_clip.get_tokenizer(name)}
    if path is None:
        return BuildResult(model.visual, _preprocessing(model), desc, extras)
    state = load_state_dict_file(path)
    own = model.state_dict()
    convert = getattr(open_clip.model, "convert_to_custom_text_state_dict", None)
    if convert is not None and any(k.startswith("text.") for k in own) and not any(k.startswith("text.") for k in state):
        state = convert(state)  # an original-layout checkpoint for a custom-text-tower model
    for key in ("logit_bias", "attn_mask", "input_resolution", "context_length", "vocab_size"):
        if key in state and key not in own:
            state.pop(key)
    apply_state_dict(model, state, str(path))
    return BuildResult(model.visual, _preprocessing(model, cfg), desc, extras)
