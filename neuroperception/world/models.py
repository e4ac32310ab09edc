"""The world's trained models: a shape-naming CNN and an image-text model (a CLIP in miniature).

Both take ``64 × 64`` images normalised with :data:`WORLD_MEAN` / :data:`WORLD_STD` (the
feature registry's ``load_model("world:cnn")`` / ``load_model("world:clip")`` does the resizing
and normalising) and ship trained float16 weights in ``neuroperception/world/weights/``
(written by ``python -m neuroperception.world.training``).
"""

from __future__ import annotations

import math
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, MissingWeightsError
from .captions import NUMBERS
from .vocabulary import CATEGORIES, COLOURS, RELATIONS, SIZES, TEXTURES

__all__ = ["WorldCNN", "WorldCLIP", "WorldTokenizer", "WORLD_MEAN", "WORLD_STD", "WORLD_WORDS", "MODEL_NAMES",
           "shipped_weights_path", "build_world_model"]

#: Per-channel normalisation of the world models' ``[0, 1]`` input, applied as ``(x - mean) / std``.
WORLD_MEAN = (0.5, 0.5, 0.5)
WORLD_STD = (0.25, 0.25, 0.25)

#: Input side of both models (pixels).
INPUT_SIZE = 64

#: Names of the shipped models (``world:<name>``).
MODEL_NAMES = ("cnn", "clip")

_SPECIALS = ("<pad>", "<unk>")
_FUNCTION_WORDS = ("a", "an", "and")


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "sh", "ch")) else "s")


def _grammar_words() -> tuple[str, ...]:
    words = list(_SPECIALS) + list(_FUNCTION_WORDS) + list(NUMBERS)
    for rel in RELATIONS:
        words += rel.split()
    words += list(COLOURS) + list(TEXTURES) + list(SIZES) + list(CATEGORIES) + [_plural(c) for c in CATEGORIES]
    return tuple(dict.fromkeys(words))


#: The tokenizer's closed vocabulary, that of the caption grammar (:mod:`neuroperception.world.captions`):
#: ``<pad>`` (0), ``<unk>`` (1), articles and ``and``, the count words, the relation words, then the
#: colours, textures, sizes, categories and their plurals.
WORLD_WORDS = _grammar_words()


class WorldTokenizer:
    """Word-level tokenizer over the caption grammar's closed vocabulary.

    Text is lower-cased, split on anything that is not a letter, and each word mapped to its index
    in ``words``; a word outside the vocabulary becomes ``<unk>`` (index 1), padding is ``<pad>``
    (index 0), and captions longer than ``context_length`` words are cut.

    Parameters
    ----------
    words : sequence of str, optional
        The vocabulary, starting with ``"<pad>"`` and ``"<unk>"``; default :data:`WORLD_WORDS`.
    context_length : int
        Tokens per caption (the width of the returned tensor).

    Examples
    --------
    >>> tok = WorldTokenizer()
    >>> t = tok(["a red star above a blue ring", "a purple unicorn"])
    >>> t.shape, t.dtype
    (torch.Size([2, 32]), torch.int64)
    >>> tok.decode(t[1])
    'a purple <unk>'
    """

    pad_id = 0
    unk_id = 1

    def __init__(self, words: Sequence[str] | None = None, *, context_length: int = 32):
        words = tuple(WORLD_WORDS if words is None else words)
        if words[:2] != _SPECIALS or len(set(words)) != len(words):
            raise InputError(f"words: received {list(words[:4])}... ({len(words)} words); expected distinct words "
                             "starting with '<pad>', '<unk>'")
        if not isinstance(context_length, int) or context_length < 1:
            raise InputError(f"context_length: received {context_length!r}; expected a positive int")
        self.words = words
        self.context_length = context_length
        self._index = {w: i for i, w in enumerate(words)}

    @property
    def vocab_size(self) -> int:
        """Number of tokens (special tokens included)."""
        return len(self.words)

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Token ids ``(N, context_length)`` (a single string gives ``N = 1``)."""
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
            raise InputError(f"texts: received {type(texts).__name__}; expected a string or a sequence of strings")
        out = torch.full((len(texts), self.context_length), self.pad_id, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self._index.get(w, self.unk_id) for w in re.findall(r"[a-z]+", text.lower())]
            ids = ids[: self.context_length]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, tokens: torch.Tensor) -> str:
        """The words of one row of token ids (padding dropped)."""
        return " ".join(self.words[int(i)] for i in tokens if int(i) != self.pad_id)

    def __repr__(self) -> str:
        return f"WorldTokenizer(vocab_size={self.vocab_size}, context_length={self.context_length})"


def _block(c_in: int, c_out: int, pool: bool = True) -> nn.Sequential:
    """3×3 convolution, batch norm, ReLU, and (``pool``) 2×2 max pooling, which halves the map."""
    layers = [("conv", nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)),
              ("norm", nn.BatchNorm2d(c_out)), ("relu", nn.ReLU(inplace=True))]
    return nn.Sequential(OrderedDict(layers + ([("pool", nn.MaxPool2d(2))] if pool else [])))


class _GlobalMax(nn.Module):
    """``(N, C, H, W)`` → ``(N, C)``: the largest response of each channel anywhere in the image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(-2, -1))


class _WhatAndWhere(nn.Module):
    """``(N, C, H, W)`` → ``(N, 3C)``: each channel's maximum (*what* is there) and the ``x, y`` of its
    spatial softmax (*where*: the expected position under ``softmax(a / τ)`` over the map, in ``[-1, 1]``,
    the keypoints of Levine et al. 2016), so that positions of what each channel detects reach the
    embedding whatever the image."""

    def __init__(self):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        weights = torch.softmax(x.flatten(2) / self.log_temperature.exp(), dim=-1).view(n, c, h, w)
        ys = torch.linspace(-1.0, 1.0, h, dtype=x.dtype, device=x.device)
        xs = torch.linspace(-1.0, 1.0, w, dtype=x.dtype, device=x.device)
        where_x = (weights.sum(2) * xs).sum(-1)
        where_y = (weights.sum(3) * ys).sum(-1)
        return torch.cat([x.amax(dim=(-2, -1)), where_x, where_y], dim=1)


def _check_input(x: torch.Tensor, who: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{who}: received {got}; expected normalised images (N, 3, {INPUT_SIZE}, {INPUT_SIZE})")


class WorldCNN(nn.Module):
    """A small convolutional network that names the shapes in a world scene (multi-label).

    Four blocks (3×3 convolution, batch norm, ReLU, 2×2 max pooling) take ``64 × 64`` to
    ``4 × 4``; ``pool`` keeps each channel's maximum over the image and ``fc`` gives one logit per
    category of :data:`~neuroperception.world.CATEGORIES` (a shape is named when its logit is
    positive). Hookable layers: ``conv1`` … ``conv4`` (each block's output), ``pool``, ``fc``.

    Parameters
    ----------
    widths : sequence of 4 int
        Channels of ``conv1`` … ``conv4``.
    categories : sequence of str, optional
        The labels of the outputs; default :data:`~neuroperception.world.CATEGORIES`.

    Examples
    --------
    >>> import torch
    >>> net = WorldCNN().eval()
    >>> net(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 8])
    >>> [name for name, _ in net.named_children()]
    ['conv1', 'conv2', 'conv3', 'conv4', 'pool', 'fc']
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 64, 128), *, categories: Sequence[str] | None = None):
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != 4 or min(widths) < 1:
            raise InputError(f"widths: received {widths!r}; expected 4 positive channel counts")
        self.categories = tuple(CATEGORIES if categories is None else categories)
        self.widths = tuple(widths)
        chans = [3] + widths
        for k in range(4):
            self.add_module(f"conv{k + 1}", _block(chans[k], chans[k + 1]))
        self.pool = _GlobalMax()
        self.fc = nn.Linear(widths[-1], len(self.categories))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "WorldCNN input")
        for k in range(1, 5):
            x = getattr(self, f"conv{k}")(x)
        return self.fc(self.pool(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> list[list[str]]:
        """The names of the shapes present in each normalised image (logit > 0)."""
        on = self(x) > 0
        return [[c for c, flag in zip(self.categories, row) if flag] for row in on.tolist()]


class _ImageTower(nn.Module):
    """CLIP image tower: four conv blocks (the last unpooled, ``8 × 8``), what-and-where pooling, an MLP."""

    def __init__(self, widths: Sequence[int], hidden: int, embed_dim: int):
        super().__init__()
        chans = [3] + list(widths)
        for k in range(4):
            self.add_module(f"conv{k + 1}", _block(chans[k], chans[k + 1], pool=k < 3))
        self.pool = _WhatAndWhere()
        self.fc = nn.Linear(3 * widths[-1], hidden)
        self.relu = nn.ReLU()
        self.proj = nn.Linear(hidden, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, "WorldCLIP image input")
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            raise InputError(f"WorldCLIP image input: received size {tuple(x.shape[-2:])}; expected "
                             f"({INPUT_SIZE}, {INPUT_SIZE}) (load_model('world:clip') resizes for you)")
        for k in range(1, 5):
            x = getattr(self, f"conv{k}")(x)
        return self.proj(self.relu(self.fc(self.pool(x))))


class _TextTower(nn.Module):
    """CLIP text tower: word embeddings, a GRU read left to right, its state at the last word projected."""

    def __init__(self, vocab_size: int, width: int, hidden: int, embed_dim: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width, padding_idx=0)
        self.gru = nn.GRU(width, hidden, batch_first=True)
        self.proj = nn.Linear(hidden, embed_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.dtype != torch.long:
            got = f"{tuple(tokens.shape)} {tokens.dtype}" if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise InputError(f"WorldCLIP text input: received {got}; expected token ids (N, L) int64 from the "
                             "model's tokenizer")
        if tokens.numel() and (int(tokens.max()) >= self.token_embedding.num_embeddings or int(tokens.min()) < 0):
            raise InputError(f"WorldCLIP text input: token ids outside [0, {self.token_embedding.num_embeddings}); "
                             "expected ids from the model's own tokenizer")
        lengths = (tokens != 0).sum(1)
        width = max(1, int(lengths.max())) if lengths.numel() else 1
        tokens = tokens[:, :width]  # no GRU steps over columns of padding only
        states, _ = self.gru(self.token_embedding(tokens))
        last = (lengths - 1).clamp_min(0)
        return self.proj(states[torch.arange(tokens.shape[0], device=tokens.device), last])


class WorldCLIP(nn.Module):
    """An image-text model trained contrastively on world scenes and their captions (CLIP in miniature).

    The image tower (``visual``: four conv blocks, the last one's ``8 × 8`` map pooled into each
    channel's maximum and the position of its spatial softmax, so that *where* things are reaches
    the embedding, then ``fc`` and ``proj``) and the text tower
    (``text``: word embeddings and a GRU over :class:`WorldTokenizer` ids) map to one
    ``embed_dim``-dimensional space; ``logit_scale`` is the learned inverse temperature (log).
    Interface as an open_clip model: ``encode_image`` takes normalised images, ``encode_text``
    token ids, and ``forward`` returns both normalised embeddings and ``logit_scale.exp()``.

    Parameters
    ----------
    vocab_size : int
        Tokens of the tokenizer (default: that of :data:`WORLD_WORDS`).
    embed_dim : int
        Dimension of the shared space.
    widths : sequence of 4 int
        Channels of the image tower's conv blocks.
    hidden : int
        Width of the image tower's MLP and of the GRU state.

    Examples
    --------
    >>> import torch
    >>> clip = WorldCLIP().eval()
    >>> tok = WorldTokenizer()
    >>> img, txt, scale = clip(torch.zeros(2, 3, 64, 64), tok(["a red star", "a blue ring"]))
    >>> img.shape, txt.shape, round(float(scale), 2)
    (torch.Size([2, 64]), torch.Size([2, 64]), 14.29)
    """

    def __init__(self, vocab_size: int | None = None, *, embed_dim: int = 64, widths: Sequence[int] = (16, 32, 64, 128),
                 hidden: int = 128):
        super().__init__()
        vocab_size = len(WORLD_WORDS) if vocab_size is None else int(vocab_size)
        self.embed_dim = int(embed_dim)
        self.visual = _ImageTower([int(w) for w in widths], int(hidden), self.embed_dim)
        self.text = _TextTower(vocab_size, 64, int(hidden), self.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, image: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Image embeddings ``(N, embed_dim)`` of normalised ``64 × 64`` images."""
        out = self.visual(image)
        return F.normalize(out, dim=-1) if normalize else out

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Text embeddings ``(N, embed_dim)`` of token ids from :class:`WorldTokenizer`."""
        out = self.text(text)
        return F.normalize(out, dim=-1) if normalize else out

    def forward(self, image: torch.Tensor, text: torch.Tensor):
        """``(normalised image embeddings, normalised text embeddings, logit_scale.exp())``."""
        return self.encode_image(image, True), self.encode_text(text, True), self.logit_scale.exp()


def shipped_weights_path(name: str) -> Path:
    """Where the trained weights of ``world:<name>`` ship inside the package.

    Examples
    --------
    >>> shipped_weights_path("cnn").name
    'world_cnn.pt'
    """
    if name not in MODEL_NAMES:
        raise InputError(f"name: received {name!r}; expected one of {list(MODEL_NAMES)}")
    return Path(__file__).resolve().parent / "weights" / f"world_{name}.pt"


def _read_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not path.is_file():
        raise MissingWeightsError(
            f"weights file {str(path)!r} does not exist (looked in: {path.parent}); expected a file written by "
            "`python -m neuroperception.world.training --out DIR` (the package ships world_cnn.pt and "
            "world_clip.pt in neuroperception/world/weights/), or weights='random'")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return obj["state_dict"], dict(obj.get("meta") or {})
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {}
    raise InputError(f"weights: {path} holds {type(obj).__name__}; expected a state dict, bare or under 'state_dict'")


def _construct(name: str, meta: dict[str, Any]):
    config = dict(meta.get("config") or {})
    if name == "cnn":
        return WorldCNN(config.get("widths", (16, 32, 64, 128)), categories=meta.get("categories")), None
    words = meta.get("vocabulary") or WORLD_WORDS
    tokenizer = WorldTokenizer(words, context_length=int(config.get("context_length", 32)))
    clip = WorldCLIP(tokenizer.vocab_size, embed_dim=config.get("embed_dim", 64),
                     widths=config.get("widths", (16, 32, 64, 128)), hidden=config.get("hidden", 128))
    return clip, tokenizer


def build_world_model(name: str, weights: str | os.PathLike = "shipped"):
    """Build ``cnn`` or ``clip`` with its shipped weights, weights from a file, or a random init.

    Parameters
    ----------
    name : {"cnn", "clip"}
    weights : "shipped", "random" or path
        ``"shipped"``: the trained weights shipped in the package; ``"random"``: the current torch
        RNG's initialisation; a path: a file written by the training script (or a bare state dict).

    Returns
    -------
    model : WorldCNN or WorldCLIP
        In eval mode, float32.
    tokenizer : WorldTokenizer or None
        The CLIP's tokenizer (None for the CNN).
    meta : dict
        The file's metadata (version, vocabulary, metrics, seed, config); empty for a random init.
    source : str
        ``"shipped:<path>"``, ``"file:<path>"`` or ``"random-init"``.

    Examples
    --------
    >>> model, tok, meta, source = build_world_model("clip", "random")
    >>> type(model).__name__, tok.vocab_size == len(WORLD_WORDS), source
    ('WorldCLIP', True, 'random-init')
    """
    if name not in MODEL_NAMES:
        raise InputError(f"name: received {name!r}; expected one of {list(MODEL_NAMES)}")
    if isinstance(weights, str) and weights == "random":
        model, tokenizer = _construct(name, {})
        return model.eval(), tokenizer, {}, "random-init"
    if isinstance(weights, str) and weights == "shipped":
        path, kind = shipped_weights_path(name), "shipped"
    elif isinstance(weights, (str, os.PathLike)):
        path, kind = Path(weights).expanduser(), "file"
    else:
        raise InputError(f"weights: received {type(weights).__name__}; expected 'shipped', 'random' or a path")
    state, meta = _read_file(path)
    if meta.get("model") not in (None, name):
        raise InputError(f"weights: {path} holds world:{meta.get('model')} weights; expected world:{name}")
    model, tokenizer = _construct(name, meta)
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as err:
        raise InputError(f"weights: {path} does not fit world:{name}: {err}") from None
    return model.eval(), tokenizer, meta, f"{kind}:{path.resolve()}"
