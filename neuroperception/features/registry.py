"""The model registry: ``load_model(model)`` and the :class:`FeatureModel` it returns.

A spec is ``"<source>:<name>"`` (``torchvision:alexnet``, ``open_clip:ViT-B-32``,
``timm:resnet18``) or a bare registered name (``gabor``). Other modules add sources with
:func:`register_model`.
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._docs import fill_doc
from .._validation import check_device, seed_from
from ..errors import InputError, RandomWeightsWarning
from .preprocessing import Preprocessing

__all__ = ["FeatureModel", "load_model", "register_model", "registered_sources", "layer_names", "is_weights_path",
           "check_device"]

_BUILDERS: dict[str, Callable[..., "BuildResult"]] = {}
#: What a source's builder receives for ``weights=None`` (absent: None, the random init).
_DEFAULT_WEIGHTS: dict[str, str] = {}
_WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".tar")
#: ``weights="random"`` asks for the seeded random init on purpose (no :class:`RandomWeightsWarning`).
_RANDOM = "random"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class BuildResult:
    """What a registered builder returns."""

    module: nn.Module
    preprocess: Preprocessing
    weights: str
    extras: dict[str, Any] = field(default_factory=dict)
    input_kind: str = "images"


@dataclass
class FeatureModel:
    """A network ready for feature extraction: module, preprocessing and provenance.

    Attributes
    ----------
    module : torch.nn.Module
        The network in eval mode; its named sub-modules are the hookable layers.
    preprocess : Preprocessing
        What the network wants of ``[0, 1]`` images.
    spec : str
        The spec it was loaded from, e.g. ``"torchvision:alexnet"``.
    weights : str
        Where the weights came from (``"random-init(seed=0)"``, ``"file:/path"``, a resolved tag,
        ``"none (weight-free)"``); every result the model produces carries it in its ``attrs``.
    device : torch.device
        Where the module is. A ``device`` given to the constructor is resolved by the package's rule
        (None: CUDA when available, else the CPU) and the module (and extras) moved there.
    extras : dict
        Source-specific extras (for open_clip: the full ``clip`` model and its ``tokenizer``).
    input_kind : {"images", "videos"}
        What the model takes: images ``(N, 3, H, W)`` or videos ``(N, T, 3, H, W)`` (motion
        energy, torchvision video networks); :func:`~neuroperception.features.extract` refuses
        the other kind.

    Examples
    --------
    >>> import torch
    >>> m = load_model("gabor")
    >>> m.weights, m(torch.rand(1, 3, 64, 64)).ndim
    ('none (weight-free)', 4)
    """

    module: nn.Module
    preprocess: Preprocessing
    spec: str
    weights: str
    device: torch.device | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    input_kind: str = "images"

    def __post_init__(self) -> None:
        self.to(self.device)

    def __call__(self, images: torch.Tensor) -> Any:
        """Preprocess ``[0, 1]`` images (or videos, for a video model) and run the network."""
        return self.module(self.preprocess(images.to(self.device)))

    def layer_names(self) -> list[str]:
        """Hookable layer names (named sub-modules) plus ``"output"``."""
        return layer_names(self)

    def to(self, device) -> "FeatureModel":
        """Move to a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``; None: CUDA when available, else the CPU)."""
        self.device = check_device(device)
        self.module.to(self.device)
        for value in self.extras.values():
            if isinstance(value, nn.Module):
                value.to(self.device)
        return self

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.module.parameters())
        return f"FeatureModel({self.spec!r}, weights={self.weights!r}, params={n:,}, device={self.device})"


def register_model(source: str, *, default_weights: str | None = None) -> Callable:
    """Register a builder for specs ``"<source>:<name>"`` (or a bare ``"<source>"``).

    The builder is called as ``builder(name, weights, **kwargs)`` under a seeded RNG and returns a
    ``BuildResult``. ``weights`` is None (random init), a :class:`pathlib.Path` or a tag string. A
    builder that keeps the random init says so with a ``weights`` description starting with
    ``"random-init"``: :func:`load_model` then records the seed and warns unless it was asked for.
    A source whose trained weights ship with the package names their tag in ``default_weights``:
    its builder receives that tag for ``weights=None`` (and None only for ``weights="random"``).

    Examples
    --------
    >>> from neuroperception.features.registry import BuildResult, register_model
    >>> @register_model("tiny")
    ... def _build(name, weights, **kw):
    ...     return BuildResult(torch.nn.Conv2d(3, 4, 3), Preprocessing(None, None), "random-init")
    >>> load_model("tiny", weights="random").module
    Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))

    A source with weights of its own gets their tag for ``weights=None``:

    >>> @register_model("tiny_trained", default_weights="bundled")
    ... def _build_trained(name, weights, **kw):
    ...     return BuildResult(torch.nn.Identity(), Preprocessing(None, None), f"tag:{weights}")
    >>> load_model("tiny_trained").weights, load_model("tiny_trained", weights="random").weights
    ('tag:bundled', 'tag:None')
    """

    def deco(fn):
        _BUILDERS[source] = fn
        if default_weights is None:
            _DEFAULT_WEIGHTS.pop(source, None)
        else:
            _DEFAULT_WEIGHTS[source] = default_weights
        return fn

    return deco


def registered_sources() -> list[str]:
    """Sources that :func:`load_model` knows (the part of a spec before the colon).

    Examples
    --------
    >>> {"torchvision", "gabor", "motion_energy"} <= set(registered_sources())
    True
    """
    return sorted(_BUILDERS)


def is_weights_path(weights: Any) -> bool:
    """Whether ``weights`` names a file (a Path, or a string that looks like one) rather than a tag.

    A string is a path when it contains a path separator, starts with ``~``, ends with a weight
    file suffix (``.pt``, ``.pth``, ``.bin``, ``.safetensors``, ...) or is an existing file;
    anything else (``"IMAGENET1K_V1"``, ``"openai"``) is a tag for the model's own cache.

    Parameters
    ----------
    weights : str, os.PathLike or None

    Returns
    -------
    bool

    Examples
    --------
    >>> is_weights_path("checkpoints/vgg16.pth"), is_weights_path("IMAGENET1K_V1"), is_weights_path(None)
    (True, False, False)
    """
    if isinstance(weights, os.PathLike):
        return True
    if isinstance(weights, str):
        return (os.sep in weights or weights.endswith(_WEIGHT_SUFFIXES) or weights.startswith("~")
                or Path(weights).is_file())
    return False


@fill_doc
def load_model(model: str, weights: str | os.PathLike | None = None, device: str | torch.device | None = None,
               random_state: Any = 0, **kwargs) -> FeatureModel:
    """Build a registered model, with weights from a file, a cache tag, or a seeded random init.

    Parameters
    ----------
    model : str
        The model's registry spec: ``"torchvision:<name>"``, ``"open_clip:<arch>"``, ``"timm:<name>"``,
        ``"gabor"``; for videos ``"motion_energy"`` and ``"torchvision_video:<name>"``.
    weights : None, path or str
        None: seeded random init (recorded as ``random-init(seed=...)``), with a
        :class:`~neuroperception.errors.RandomWeightsWarning` (once per load) for a model that has
        learnable weights; for a source whose trained weights ship with the package
        (``"world:cnn"``, ``"world:clip"``), those. ``"random"``: the seeded random init, asked for
        on purpose, without the warning.
        A path: a state dict loaded with ``weights_only=True`` (bare or ``state_dict``-wrapped).
        ``"DEFAULT"`` or a tag name: resolved in the library's own cache; absent →
        ``MissingWeightsError`` naming the file and every folder searched. Nothing is downloaded.
    %(device)s
    %(random_state)s
        It seeds torch's RNG for the random init (a Generator or None: through one int drawn from it,
        the seed recorded as ``random-init(seed=...)``).
    **kwargs
        Passed to the builder (e.g. ``n_orientations`` for ``gabor``).

    Returns
    -------
    FeatureModel

    Warns
    -----
    RandomWeightsWarning
        ``weights=None`` built a network with random weights.

    Examples
    --------
    >>> m = load_model("torchvision:alexnet", weights="random")    # random on purpose: no warning
    >>> m.weights, m.preprocess.crop
    ('random-init(seed=0)', 224)
    """
    if not isinstance(model, str) or not model:
        raise InputError(f"model: received {model!r}; expected a spec string such as 'torchvision:alexnet' or "
                         "'gabor'")
    source, _, name = model.partition(":")
    if source not in _BUILDERS:
        close = difflib.get_close_matches(source, _BUILDERS, n=3)
        raise InputError(
            f"model: received {model!r} with unknown source {source!r}; expected one of {registered_sources()}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
        )
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise InputError(f"weights: received {type(weights).__name__}; expected None, 'random', a file path or a "
                         "tag such as 'DEFAULT'")
    on_purpose = isinstance(weights, str) and weights == _RANDOM
    w = None if on_purpose else Path(weights).expanduser() if is_weights_path(weights) else weights
    if weights is None:
        w = _DEFAULT_WEIGHTS.get(source)
    if "seed" in kwargs:
        raise InputError(f"seed: received seed={kwargs['seed']!r}; expected random_state= (seed was renamed "
                         "random_state, the package's one name for seeds)")
    dev = check_device(device)
    seed = seed_from(random_state)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        built = _BUILDERS[source](name, w, **kwargs)
    if built.weights.startswith("random-init"):
        built.weights = f"random-init(seed={seed})"
        if not on_purpose:
            _warn_random_weights(model, built.weights)
    for value in built.extras.values():
        if isinstance(value, nn.Module):
            value.eval()
    return FeatureModel(built.module.eval(), built.preprocess, model, built.weights, device=dev, extras=built.extras,
                        input_kind=built.input_kind)


def _user_stacklevel() -> int:
    """``stacklevel`` for a warning issued by this function's caller that points at the first frame
    outside the package: the user's line that (directly or through a model class) loaded the model."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def _warn_random_weights(spec: str, weights: str) -> None:
    """The one place where a model built with random weights nobody asked for is announced."""
    warnings.warn(
        f"{spec} was built with random weights ({weights}): its outputs carry no learned knowledge, and "
        "features, stimuli, scanpaths or rewards made with it mean nothing about vision. Pass trained weights "
        "(weights=<state-dict path> or a cached tag such as 'DEFAULT') where the model is loaded, or "
        "weights='random' if random weights are intended.",
        RandomWeightsWarning, stacklevel=_user_stacklevel())


def layer_names(model: FeatureModel | nn.Module) -> list[str]:
    """Names of the layers that :func:`~neuroperception.features.extract` can hook.

    Every named sub-module (in definition order) plus ``"output"``, the network's final output.

    Examples
    --------
    >>> layer_names(load_model("torchvision:alexnet", weights="random"))[:3]
    ['features', 'features.0', 'features.1']
    """
    module = model.module if isinstance(model, FeatureModel) else model
    if not isinstance(module, nn.Module):
        raise InputError(f"model: received {type(model).__name__}; expected a FeatureModel or torch.nn.Module")
    return [name for name, _ in module.named_modules() if name] + ["output"]
