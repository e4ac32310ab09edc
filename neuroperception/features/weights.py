"""Loading weights from disk: state-dict files by path and the libraries' own caches.

Nothing here downloads. A tag such as ``"DEFAULT"`` is resolved to the file the library would
have downloaded, looked up where the library caches it (``TORCH_HOME`` for torchvision, the
Hugging Face cache or ``~/.cache/clip`` for open_clip and timm); when it is absent a
:class:`~neuroperception.errors.MissingWeightsError` names the file and every place searched.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from ..errors import InputError, MissingWeightsError

__all__ = ["load_state_dict_file", "apply_state_dict", "find_cached_file", "hf_cached_file"]

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module")


def _unwrap(obj, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, Mapping) and obj and not all(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise InputError(f"weights: {path} holds {type(obj).__name__}; expected a state dict (name -> tensor), "
                         "bare or under a 'state_dict' key")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise InputError(f"weights: {path} holds no tensors; expected a state dict (name -> tensor)")
    # checkpoints saved from DataParallel / DistributedDataParallel prefix every key with 'module.'
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def load_state_dict_file(path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.pt/.pth/.bin`` (``weights_only=True``) or ``.safetensors``.

    Accepts a bare state dict and one wrapped under ``state_dict`` / ``model`` (as training
    checkpoints are), strips DataParallel's ``module.`` prefix, and reads TorchScript archives
    (OpenAI's CLIP files) through ``torch.jit.load``.

    Examples
    --------
    >>> import tempfile, torch
    >>> f = tempfile.mktemp(suffix=".pt")
    >>> torch.save({"state_dict": torch.nn.Linear(2, 1).state_dict()}, f)
    >>> sorted(load_state_dict_file(f))
    ['bias', 'weight']
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingWeightsError(
            f"weights file {str(p)!r} does not exist (looked in: {p.parent.resolve()}); expected the path of a "
            "saved state dict (.pt/.pth/.bin/.safetensors)"
        )
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return _unwrap(load_file(str(p)), p)
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as zf:
            is_jit = any(n.endswith("constants.pkl") for n in zf.namelist())
        if is_jit:
            return _unwrap(torch.jit.load(str(p), map_location="cpu").state_dict(), p)
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors differ across torch versions
        raise InputError(f"weights: {p} could not be read as a state dict with weights_only=True ({err}); "
                         "expected a file written by torch.save(model.state_dict(), path)") from err
    return _unwrap(obj, p)


def apply_state_dict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module`` strictly, with an error listing what does not match."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise InputError(
            f"weights from {source} do not fit {type(module).__name__}: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:3]}), "
            f"{len(wrong)} shape mismatches (e.g. {wrong[:2]}); expected a state dict of this architecture"
        )
    module.load_state_dict(state, strict=True)


def find_cached_file(filename: str, directories: Iterable[Path], *, what: str, how: str) -> Path:
    """Return the first ``directory/filename`` that exists, else raise ``MissingWeightsError``."""
    dirs = [Path(d) for d in directories]
    for d in dirs:
        if (d / filename).is_file():
            return d / filename
    raise MissingWeightsError(
        f"{what}: weight file {filename!r} not found; looked in: {', '.join(str(d) for d in dirs)}. "
        f"Nothing is downloaded at run time: {how}"
    )


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache (``HF_HUB_CACHE``, ``HF_HOME/hub`` or ``~/.cache/huggingface/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    return Path(home) / "hub"


def hf_cached_file(repo_id: str, filenames: Iterable[str], *, what: str) -> Path:
    """Find a file of a Hugging Face repo in the local hub cache (``models--org--name/snapshots/*``)."""
    names = list(filenames)
    repo_dir = hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    snapshots = sorted((repo_dir / "snapshots").glob("*")) if (repo_dir / "snapshots").is_dir() else []
    ref = repo_dir / "refs" / "main"
    if ref.is_file():  # prefer the snapshot 'main' points to
        head = repo_dir / "snapshots" / ref.read_text().strip()
        snapshots = [head] + [s for s in snapshots if s != head]
    for snap in snapshots:
        for name in names:
            if (snap / name).is_file():
                return snap / name
    raise MissingWeightsError(
        f"{what}: none of {names} found for Hugging Face repo {repo_id!r}; looked in: "
        f"{repo_dir / 'snapshots'}/*. Nothing is downloaded at run time: run "
        f"`huggingface-cli download {repo_id}` on a machine with internet and copy the cache "
        "(HF_HUB_CACHE) here, or pass weights=<path to the file>"
    )
