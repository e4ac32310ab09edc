"""How well the world's models do on held-out scenes: shape naming, caption retrieval, caption
discrimination, and linear probes of what each CNN layer makes decodable.

Held-out scenes come from random streams that training never draws from (:func:`scene_stream`
with ``purpose="test"`` / ``"probe"``; training uses ``"train"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._docs import fill_doc
from .._validation import check_random_state, seed_from
from ..errors import InputError
from .models import WORLD_MEAN, WORLD_STD, WorldCLIP, WorldCNN, WorldTokenizer
from .scenes import render_scenes
from .vocabulary import CATEGORIES, COLOURS, RELATIONS, TEXTURES

__all__ = ["scene_stream", "present_categories", "normalise", "shape_accuracy", "caption_scores", "perturb_caption",
           "probe_layers", "PERTURBATIONS"]

#: The ways a caption is made false for the discrimination scores: one colour, one shape, the relation.
PERTURBATIONS = ("colour", "shape", "relation")

_PURPOSES = {"train": 1, "test": 2, "probe": 3, "captions": 4}
_OPPOSITE = {"left": "right", "right": "left", "above": "below", "below": "above"}


def scene_stream(purpose: str, index: int = 0, random_state: Any = 0) -> np.random.Generator:
    """The random generator behind one batch of training scenes or one held-out set.

    ``numpy.random.default_rng([seed, tag, index])`` with a distinct ``tag`` per purpose
    (train 1, test 2, probe 3, captions 4: the captions and false captions picked in training),
    so held-out scenes never coincide with training scenes.

    Examples
    --------
    >>> a, b = scene_stream("train", 0), scene_stream("test", 0)
    >>> bool(a.integers(1 << 30) != b.integers(1 << 30))
    True
    """
    if purpose not in _PURPOSES:
        raise InputError(f"purpose: received {purpose!r}; expected one of {list(_PURPOSES)}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise InputError(f"index: received {index!r}; expected an int >= 0")
    return np.random.default_rng([seed_from(random_state), _PURPOSES[purpose], int(index)])


def normalise(images: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` images → the models' input, ``(x - WORLD_MEAN) / WORLD_STD``.

    Examples
    --------
    >>> import torch
    >>> normalise(torch.full((1, 3, 2, 2), 0.75)).unique()
    tensor([1.])
    """
    mean = torch.tensor(WORLD_MEAN, dtype=images.dtype).view(1, 3, 1, 1)
    std = torch.tensor(WORLD_STD, dtype=images.dtype).view(1, 3, 1, 1)
    return (images - mean) / std


def present_categories(objects: pd.DataFrame, ids: Sequence[str], *,
                       categories: Sequence[str] = CATEGORIES) -> np.ndarray:
    """Multi-hot ``(N, n_categories)`` targets: the categories drawn in each scene.

    Every object of a world scene keeps at least
    :data:`~neuroperception.world.scenes.MIN_VISIBLE` of its pixels, so every one is to be named.

    Examples
    --------
    >>> import pandas as pd
    >>> objs = pd.DataFrame({"stimulus_id": ["s0", "s0", "s1"], "category": ["star", "ring", "star"]})
    >>> present_categories(objs, ["s0", "s1"], categories=["star", "ring", "cross"]).tolist()
    [[True, True, False], [True, False, False]]
    """
    pos = {sid: i for i, sid in enumerate(ids)}
    col = {c: j for j, c in enumerate(categories)}
    out = np.zeros((len(ids), len(categories)), bool)
    for sid, cat in zip(objects["stimulus_id"], objects["category"]):
        if sid in pos and cat in col:
            out[pos[sid], col[cat]] = True
    return out


@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([fn(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])


def shape_accuracy(model: WorldCNN, scenes: Any) -> dict[str, float]:
    """Shape naming on world scenes: exact-set accuracy (all shapes right, none extra) and per-label accuracy.

    Parameters
    ----------
    model : WorldCNN
    scenes : WorldScenes
        From :func:`~neuroperception.world.render_scenes`.

    Returns
    -------
    dict
        ``exact_set`` (fraction of scenes whose named set equals the present set), ``per_label``
        (fraction of correct scene × category decisions), ``n_scenes``.

    Examples
    --------
    >>> from neuroperception.world import render_scenes
    >>> scores = shape_accuracy(WorldCNN().eval(), render_scenes(8, random_state=0))
    >>> sorted(scores)
    ['exact_set', 'n_scenes', 'per_label']
    """
    ids = list(scenes.images.ids)
    target = torch.from_numpy(present_categories(scenes.objects, ids, categories=model.categories))
    was = model.training
    model.eval()
    pred = _batched(model, normalise(scenes.images.images)) > 0
    model.train(was)
    return {"exact_set": float((pred == target).all(1).float().mean()),
            "per_label": float((pred == target).float().mean()), "n_scenes": len(ids)}


def perturb_caption(caption: str, kind: str, rng: np.random.Generator) -> str | None:
    """The caption made false in one way: one colour word, one shape word, or the relation reversed.

    Returns None when the caption has no word of that kind (no relation in ``"a red star"``).

    Examples
    --------
    >>> import numpy as np
    >>> perturb_caption("a red star above a blue ring", "relation", np.random.default_rng(0))
    'a red star below a blue ring'
    >>> perturb_caption("a red star", "relation", np.random.default_rng(0)) is None
    True
    """
    words = caption.split()
    if kind == "colour":
        options = {i: [c for c in COLOURS if c != w] for i, w in enumerate(words) if w in COLOURS}
    elif kind == "shape":
        singular = {c: c for c in CATEGORIES}
        plural = {(c + ("es" if c.endswith(("s", "x")) else "s")): c for c in CATEGORIES}
        options = {}
        for i, w in enumerate(words):
            if w in singular:
                options[i] = [c for c in CATEGORIES if c != w]
            elif w in plural:
                options[i] = [p for p, c in plural.items() if c != plural[w]]
    elif kind == "relation":
        relation_words = {r.split()[0] for r in RELATIONS}
        options = {i: [_OPPOSITE[w]] for i, w in enumerate(words) if w in relation_words and w in _OPPOSITE}
    else:
        raise InputError(f"kind: received {kind!r}; expected one of {list(PERTURBATIONS)}")
    if not options:
        return None
    positions = sorted(options)
    i = positions[int(rng.integers(len(positions)))]
    choices = options[i]
    words[i] = choices[int(rng.integers(len(choices)))]
    return " ".join(words)


def _first_caption(scenes: Any, kind: str | None = None) -> dict[str, str]:
    """Each scene's first caption (of one ``kind``, when given): ``{stimulus_id: caption}``."""
    caps = scenes.captions
    if kind is not None and "kind" in caps:
        caps = caps[caps["kind"] == kind]
    first = caps.drop_duplicates("stimulus_id")
    return dict(zip(first["stimulus_id"], first["caption"].astype(str)))


@fill_doc
def caption_scores(model: WorldCLIP, tokenizer: WorldTokenizer, scenes: Any, *,
                   random_state: Any = 0) -> dict[str, float]:
    """Caption retrieval and 2-way caption discrimination of a world CLIP on scenes.

    Retrieval: each scene's first caption (the one naming all its objects) against those of
    all the scenes; a scene counts as retrieved when the best-matching caption is its own (or
    has the same words). Discrimination: the scene's caption against the same caption made
    false by :func:`perturb_caption`; correct when the true one matches the image better. The
    ``colour`` and ``shape`` changes are made to the first caption, the ``relation`` change to
    the scene's first relation caption (``"a red star above a blue ring"``; scenes of one
    object have none).

    Parameters
    ----------
    model : WorldCLIP
    tokenizer : WorldTokenizer
    scenes : WorldScenes
        From :func:`~neuroperception.world.render_scenes`.
    %(random_state)s
        It picks the words that are changed.

    Returns
    -------
    dict
        ``image_to_text_top1``, ``text_to_image_top1``, ``colour``, ``shape``, ``relation``
        (accuracies) and ``n_colour`` / ``n_shape`` / ``n_relation`` (scenes with such a caption).

    Examples
    --------
    >>> from neuroperception.world import render_scenes
    >>> s = caption_scores(WorldCLIP().eval(), WorldTokenizer(), render_scenes(6, random_state=0))
    >>> 0.0 <= s["image_to_text_top1"] <= 1.0
    True
    """
    ids = list(scenes.images.ids)
    first = _first_caption(scenes)
    texts = [first[sid] for sid in ids]
    was = model.training
    model.eval()
    out: dict[str, float] = {}
    with torch.no_grad():
        img = nn.functional.normalize(_batched(model.encode_image, normalise(scenes.images.images)), dim=-1)

        def embed(t: list[str]) -> torch.Tensor:
            return nn.functional.normalize(model.encode_text(tokenizer(t)), dim=-1)

        sim = img @ embed(texts).T
        same = np.array([[a == b for b in texts] for a in texts])
        out["image_to_text_top1"] = float(np.mean([same[i, j] for i, j in enumerate(sim.argmax(1).tolist())]))
        out["text_to_image_top1"] = float(np.mean([same[i, j] for i, j in enumerate(sim.argmax(0).tolist())]))
        rng = check_random_state(random_state)
        relations = _first_caption(scenes, "relation")
        for kind in PERTURBATIONS:
            source = relations if kind == "relation" else first
            pairs = [(i, source[sid]) for i, sid in enumerate(ids) if sid in source]
            pairs = [(i, t, perturb_caption(t, kind, rng)) for i, t in pairs]
            pairs = [p for p in pairs if p[2] is not None]
            out[f"n_{kind}"] = len(pairs)
            if not pairs:
                out[kind] = float("nan")
                continue
            rows = torch.tensor([p[0] for p in pairs])
            true = (img[rows] * embed([p[1] for p in pairs])).sum(1)
            false = (img[rows] * embed([p[2] for p in pairs])).sum(1)
            out[kind] = float((true > false).float().mean())
    model.train(was)
    return out


def _layer_outputs(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Each layer's output on ``x`` (forward hooks, batches of 256)."""
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise InputError(f"layers: received {missing}, not layers of {type(model).__name__}; expected names from "
                         f"{[n for n, _ in model.named_children()]}")
    store: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    handles = [modules[name].register_forward_hook(lambda _m, _i, out, name=name: store[name].append(out.clone()))
               for name in layers]
    try:
        _batched(model, x)
    finally:
        for h in handles:
            h.remove()
    return {name: torch.cat(v) for name, v in store.items()}


def _pool(act: torch.Tensor, masks: torch.Tensor, pooling: str) -> np.ndarray:
    """Maps ``(N, C, h, w)`` to vectors: mean over the object's pixels (``"object"``) or the image (``"avg"``)."""
    if act.ndim != 4:
        return act.reshape(act.shape[0], -1).double().numpy()
    if pooling == "avg":
        return act.mean(dim=(-2, -1)).double().numpy()
    weight = nn.functional.adaptive_avg_pool2d(masks[:, None].float(), act.shape[-2:])
    return ((act * weight).sum(dim=(-2, -1)) / weight.sum(dim=(-2, -1)).clamp_min(1e-6)).double().numpy()


@fill_doc
def probe_layers(model: nn.Module, *, layers: Sequence[str] | None = None, n_scenes: int = 1200,
                 targets: Sequence[str] = ("colour", "texture", "category"), pooling: str = "object",
                 random_state: Any = 0) -> pd.DataFrame:
    """Linear-probe decoding of colour, texture and category from each layer of a world network.

    Single-object world scenes (from the ``"probe"`` stream, never seen in training) go through
    the network; each conv map is averaged over the object's visible pixels (its mask taken to
    the map's grid by area averaging), or over the whole map, and a multinomial logistic
    regression on the standardised vectors is fitted on two thirds of the scenes and scored on
    the other third. Vector layers (``pool``, ``fc``) are used as they are.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`WorldCNN` (or any network taking normalised 64 × 64 images).
    layers : sequence of str, optional
        Default: the model's top-level children (``conv1`` … ``conv4``, ``pool``, ``fc``).
    n_scenes : int
        Single-object scenes rendered (at least 60).
    targets : sequence of {"colour", "texture", "category"}
        The object attributes to decode.
    pooling : {"object", "avg"}
        Mean of each channel over the object's pixels, or over the whole image (where the
        background dilutes a small object).
    %(random_state)s
        It selects the probe scenes.

    Returns
    -------
    pandas.DataFrame
        Held-out accuracy, one row per layer (index ``layer``), one column per target; the
        attribute ``attrs["chance"]`` holds each target's chance level.

    Examples
    --------
    >>> table = probe_layers(WorldCNN().eval(), layers=["conv1", "fc"], n_scenes=90)
    >>> list(table.index), list(table.columns)
    (['conv1', 'fc'], ['colour', 'texture', 'category'])
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if pooling not in ("object", "avg"):
        raise InputError(f"pooling: received {pooling!r}; expected 'object' or 'avg'")
    bad = [t for t in targets if t not in ("colour", "texture", "category")]
    if bad or not targets:
        raise InputError(f"targets: received {list(targets)}; expected a subset of ['colour', 'texture', 'category']")
    if not isinstance(n_scenes, int) or n_scenes < 60:
        raise InputError(f"n_scenes: received {n_scenes!r}; expected an int >= 60")
    layers = [n for n, _ in model.named_children()] if layers is None else list(layers)
    scenes = render_scenes(n_scenes, n_objects=1, random_state=scene_stream("probe", 0, random_state))
    labels = scenes.objects.drop_duplicates("stimulus_id").set_index("stimulus_id").loc[list(scenes.images.ids)]
    was = model.training
    model.eval()
    acts = _layer_outputs(model, normalise(scenes.images.images), layers)
    model.train(was)
    masks = torch.from_numpy(scenes.masks[:, 0])
    feats = {name: _pool(act, masks, pooling) for name, act in acts.items()}
    n_fit = (2 * n_scenes) // 3
    table = pd.DataFrame(index=pd.Index(layers, name="layer"), columns=list(targets), dtype=float)
    for target in targets:
        y = labels[target].to_numpy()
        for name in layers:
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
            clf.fit(feats[name][:n_fit], y[:n_fit])
            table.loc[name, target] = float(clf.score(feats[name][n_fit:], y[n_fit:]))
    chance = {"colour": 1 / len(COLOURS), "texture": 1 / len(TEXTURES), "category": 1 / len(CATEGORIES)}
    table.attrs["chance"] = {t: chance[t] for t in targets}
    return table
