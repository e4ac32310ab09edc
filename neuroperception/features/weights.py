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
    """Load ``state`` into ``module`` strictly, with an error listing what does not match.

    Parameters
    ----------
    module : torch.nn.Module
        The architecture to fill.
    state : mapping of str to torch.Tensor
        A state dict (as :func:`load_state_dict_file` returns).
    source : str
        Where the weights came from (a path, a cache tag), named in the error.

    Raises
    ------
    InputError
        Missing or unexpected keys, or shapes that differ, each with examples.

    Examples
    --------
    >>> import torch.nn as nn
    >>> net = nn.Linear(3, 2)
    >>> apply_state_dict(net, nn.Linear(3, 2).state_dict(), "a fresh layer")
    >>> apply_state_dict(net, nn.Linear(4, 2).state_dict(), "w.pt")
    Traceback (most recent call last):
    neuroperception.errors.InputError: weights from w.pt do not fit Linear: ... 1 shape mismatches (e.g. ['weight: file (2, 4) vs model (2, 3)']); ...
    """
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
    """Return the first ``directory/filename`` that exists, else raise ``MissingWeightsError``.

    Parameters
    ----------
    filename : str
        The weight file's name (e.g. ``"vgg16-397923af.pth"``).
    directories : iterable of path-like
        Where to look, in order (e.g. ``$TORCH_HOME/hub/checkpoints``).
    what : str
        The model, named in the error.
    how : str
        How to provide the file, appended to the error.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    MissingWeightsError
        Naming every directory searched and ``how``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "net.pt").write_bytes(b"")
    >>> find_cached_file("net.pt", [folder / "missing", folder], what="net", how="copy it").name
    'net.pt'
    """
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
    """Find a file of a Hugging Face repo in the local hub cache (``models--org--name/snapshots/*``).

    The snapshot that ``refs/main`` points to is searched first, then the others; the cache is
    ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``.

    Parameters
    ----------
    repo_id : str
        ``"org/name"``.
    filenames : iterable of str
        Acceptable file names, in order of preference (e.g. ``model.safetensors``, ``pytorch_model.bin``).
    what : str
        The model, named in the error.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    MissingWeightsError
        Naming the folder searched and how to fill the cache.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> cache = Path(tempfile.mkdtemp())
    >>> snap = cache / "models--org--net" / "snapshots" / "abc123"
    >>> snap.mkdir(parents=True)
    >>> _ = (snap / "model.safetensors").write_bytes(b"")
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"HF_HUB_CACHE": str(cache)}):
    ...     hf_cached_file("org/net", ["model.safetensors", "pytorch_model.bin"], what="net").parent.name
    'abc123'
    """
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
