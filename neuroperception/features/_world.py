"""``world:cnn`` and ``world:clip``: the miniature world's trained models, whose weights ship in the package.

``world:cnn`` names the shapes in a world scene (multi-label over the eight categories);
``world:clip`` is an image-text model trained contrastively on world scenes and their captions,
exposed as open_clip models are: the module is the image tower (its output is the image
embedding) and ``extras`` hold the full model (``"clip"``, with ``encode_image`` /
``encode_text``) and its ``"tokenizer"``. Unlike other sources, ``weights=None`` means the
trained weights shipped with the package; ``weights="random"`` gives a seeded random init and a
path loads a file written by ``python -m neuroperception.world.training``.

Images are resized (shorter side to 64, bilinear, antialiased), centre-cropped to ``64 × 64``
and normalised with the world models' constants, as every source's preprocessing does.
"""

from __future__ import annotations

import os

from ..errors import InputError
from .preprocessing import Preprocessing
from .registry import BuildResult, register_model


@register_model("world", default_weights="shipped")
def build_world(name: str, weights, **kwargs) -> BuildResult:
    """Builder behind ``load_model("world:cnn" | "world:clip", weights=None | "random" | path)``.

    The registry hands it ``"shipped"`` for ``weights=None``, None for ``weights="random"``.

    Examples
    --------
    >>> from neuroperception.features import load_model
    >>> cnn = load_model("world:cnn")
    >>> cnn.weights.startswith("shipped:"), cnn.layer_names()[:2]
    (True, ['conv1', 'conv1.conv'])
    >>> load_model("world:clip", weights="random", random_state=3).weights
    'random-init(seed=3)'
    """
    # the world's models are imported only when asked for: the registry reaches them lazily
    from ..world.models import INPUT_SIZE, MODEL_NAMES, WORLD_MEAN, WORLD_STD, build_world_model

    if name not in MODEL_NAMES:
        raise InputError(f"model: received 'world:{name}'; expected one of "
                         f"{[f'world:{n}' for n in MODEL_NAMES]}")
    if kwargs:
        raise InputError(f"world:{name}: received unexpected arguments {sorted(kwargs)}; expected none")
    if weights is not None and not isinstance(weights, os.PathLike) and weights != "shipped":
        raise InputError(f"weights: received tag {weights!r} for world:{name}; expected None or 'shipped' (the "
                         "trained weights shipped with the package), 'random' (seeded random init) or a file path")
    model, tokenizer, meta, source = build_world_model(name, "random" if weights is None else weights)
    preprocess = Preprocessing(INPUT_SIZE, INPUT_SIZE, WORLD_MEAN, WORLD_STD)
    if name == "cnn":
        return BuildResult(model, preprocess, source, {"categories": model.categories, "meta": meta})
    return BuildResult(model.visual, preprocess, source, {"clip": model, "tokenizer": tokenizer, "meta": meta})
