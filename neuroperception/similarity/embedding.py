"""Distances between network embeddings: one backbone (:class:`EmbeddingDistance`) or a
DreamSim-style ensemble of several (:class:`EmbeddingDistance` members, :class:`EnsembleDistance`).

Images go through the model's own preprocessing (from the registry), the chosen layer is globally
pooled (or the model's output is taken: for ``open_clip:*`` the CLIP image embedding), and the
vectors are compared by cosine, Euclidean or correlation distance; all pairs are computed with
matrix products.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._docs import fill_doc
from .._validation import check_random_state, describe
from ..errors import InputError, ShapeError
from ..features.extract import canonical_activation
from ..features.hooks import check_layers, first_tensor, record
from ..features.pooling import NoPooling, get_pooling
from ..features.registry import FeatureModel, load_model
from ..features.weights import load_state_dict_file
from .base import Metric

__all__ = ["EmbeddingDistance", "EnsembleDistance", "VECTOR_METRICS"]

#: Distances between feature vectors understood by ``metric=``.
VECTOR_METRICS = ("cosine", "euclidean", "correlation")


def _check_vector_metric(metric: Any) -> str:
    if metric not in VECTOR_METRICS:
        raise InputError(f"metric: received {metric!r}; expected one of {list(VECTOR_METRICS)}")
    return metric


def _unit(v: torch.Tensor, centre: bool) -> torch.Tensor:
    if centre:
        v = v - v.mean(1, keepdim=True)
    return F.normalize(v, dim=1, eps=1e-12)


def _safe_sqrt(sq: torch.Tensor) -> torch.Tensor:
    """``sqrt`` with a zero (not NaN) gradient where the argument is 0."""
    root = sq.clamp_min(torch.finfo(sq.dtype).tiny).sqrt()
    return torch.where(sq > 0, root, torch.zeros_like(root))


def paired_distance(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """Distances ``(N,)`` between the rows of ``a`` and ``b`` (both ``(N, D)``).

    ``cosine``: ``1 - cos(a, b)``; ``correlation``: ``1 - Pearson r`` across the ``D`` entries;
    ``euclidean``: ``||a - b||₂``.
    """
    if metric == "euclidean":
        return _safe_sqrt(((a - b) ** 2).sum(1))
    centre = metric == "correlation"
    return 1.0 - (_unit(a, centre) * _unit(b, centre)).sum(1)


def pairwise_distance(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """All-pairs distances ``(N, M)`` between rows of ``a`` and ``b`` by matrix products.

    Euclidean distances are accumulated in float64 around ``b``'s mean, so that the
    ``|a|² + |b|² - 2 a·b`` form loses little to cancellation.
    """
    if metric == "euclidean":
        a64, b64 = a.double(), b.double()
        shift = b64.mean(0, keepdim=True)
        a64, b64 = a64 - shift, b64 - shift
        sq = (a64 * a64).sum(1)[:, None] + (b64 * b64).sum(1)[None, :] - 2 * a64 @ b64.T
        return _safe_sqrt(sq.clamp_min(0)).to(a.dtype)
    centre = metric == "correlation"
    return 1.0 - _unit(a, centre) @ _unit(b, centre).T


@fill_doc
class EmbeddingDistance(Metric):
    """Distance between the embeddings of a network's layer (or output).

    Parameters
    ----------
    model : str or FeatureModel
        A registry spec (``"torchvision:resnet18"``, ``"open_clip:ViT-B-32"``, ``"timm:..."``,
        ``"gabor"``) loaded with :func:`~neuroperception.features.load_model`, or a loaded model.
    layer : str or None
        A name from ``model.layer_names()``; None (or ``"output"``): the network's output — for
        ``open_clip:*`` models the CLIP image embedding.
    metric : {"cosine", "euclidean", "correlation"}
        ``1 - cos``, ``||a - b||₂`` or ``1 - Pearson r`` between the embeddings.
    pooling : str or Pooling
        How maps become vectors (``"avg"``: global average; see
        :func:`~neuroperception.features.get_pooling`); vectors pass through unchanged.
    %(weights)s
        Only when ``model`` is a spec.
    %(random_state)s
        It seeds the random init when ``model`` is a spec (as in ``load_model``).

    Attributes
    ----------
    spec : str
        The model's spec.
    weights : str
        Where the model's weights came from (``"random-init(seed=0)"``, ``"file:..."``, a tag).

    Notes
    -----
    The model's own preprocessing (resize, crop, normalisation) is applied to the ``[0, 1]``
    images. Gradients flow to the images through the model's output (``layer=None``) and through
    hooked intermediate layers alike (recorded with ``detach=False``).
    The backbone is frozen (``requires_grad=False``, also on a passed-in model) and kept in eval mode.

    Examples
    --------
    >>> import torch
    >>> d = EmbeddingDistance("gabor", layer="scale1")     # or "torchvision:resnet18", "open_clip:ViT-B-32"...
    >>> x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    >>> D = d.pairwise(x)
    >>> D.shape, bool(D.diagonal().abs().max() < 1e-5), bool(torch.allclose(D, D.T, atol=1e-6))
    (torch.Size([3, 3]), True, True)
    """

    same_size = False

    def __init__(self, model: str | FeatureModel, layer: str | None = None, metric: str = "cosine",
                 pooling: Any = "avg", weights: str | os.PathLike | None = None, random_state: Any = 0,
                 value_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__(value_range=value_range)
        check_random_state(random_state)  # checked even when a loaded model leaves it unused
        if isinstance(model, str):
            model = load_model(model, weights=weights, random_state=random_state)
        elif not isinstance(model, FeatureModel):
            raise InputError(f"model: received {type(model).__name__}; expected a registry spec such as "
                             "'torchvision:resnet18' or a FeatureModel from load_model(...)")
        elif weights is not None:
            raise InputError(f"weights: received {weights!r} with an already loaded FeatureModel; expected None "
                             "(pass weights to load_model instead)")
        self.metric = _check_vector_metric(metric)
        self.layer = "output" if layer is None else check_layers(model.module, layer)[0]
        self.pooling = get_pooling(pooling)
        if isinstance(self.pooling, NoPooling) or self.pooling.requires_fit:
            raise InputError(f"pooling: received {pooling!r}; expected a pooling that makes vectors without fitting "
                             "('avg', 'max', 'avg:K', 'srp:D')")
        self.spec, self.weights = model.spec, model.weights
        self.preprocess = model.preprocess
        self.backbone = model.module.eval().requires_grad_(False)  # frozen: gradients reach the images only
        self.differentiable = True

    def train(self, mode: bool = True) -> "EmbeddingDistance":
        """Set the module's mode; the backbone itself always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def _vector(self, t: torch.Tensor, n: int) -> torch.Tensor:
        act, _ = canonical_activation(t, n, self.layer)
        out = self.pooling.pool(act).reshape(n, -1)
        if out.untyped_storage().data_ptr() == t.untyped_storage().data_ptr():
            out = out.clone()  # a later in-place operation (ReLU(inplace=True)) must not change it
        return out

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled embeddings ``(N, F)`` of validated images."""
        n = images.shape[0]
        x = self.preprocess(images)
        if self.layer == "output":
            return self._vector(first_tensor(self.backbone(x), "output"), n)
        with record(self.backbone, [self.layer], lambda name, t: self._vector(t, n), detach=False) as acts:
            self.backbone(x)
        return acts[self.layer]

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distances between paired embeddings."""
        return paired_distance(a, b, self.metric)

    def compare_pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """All-pairs distances by matrix products."""
        return pairwise_distance(a, b, self.metric)

    def extra_repr(self) -> str:
        return (f"model={self.spec!r}, weights={self.weights!r}, layer={self.layer!r}, metric={self.metric!r}, "
                f"pooling={self.pooling.describe()!r}")


class _MLPHead(nn.Module):
    """The two-layer head ``fc2(relu(fc1(x)))`` of an :class:`EnsembleDistance` member."""

    def __init__(self, fc1: nn.Linear, fc2: nn.Linear):
        super().__init__()
        self.fc1, self.fc2 = fc1, fc2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


def _linear(state: Mapping[str, torch.Tensor], prefix: str, n_in: int, where: str) -> nn.Linear:
    weight, bias = state.get(f"{prefix}.weight"), state.get(f"{prefix}.bias")
    if weight is None or weight.ndim != 2:
        raise ShapeError(f"heads {where}: {prefix}.weight is {describe(weight) if weight is not None else 'missing'}; "
                         f"expected a (out, {n_in}) matrix")
    if weight.shape[1] != n_in:
        raise ShapeError(f"heads {where}: {prefix}.weight has shape {tuple(weight.shape)}; expected (out, {n_in}) "
                         f"to take the member's {n_in}-dim embedding")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ShapeError(f"heads {where}: {prefix}.bias has shape {tuple(bias.shape)}; expected ({weight.shape[0]},)")
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        lin.weight.copy_(weight)
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


def _member_name(member: Any, index: int) -> str:
    if isinstance(member, str):
        return member
    if isinstance(member, FeatureModel):
        return member.spec
    if isinstance(member, EmbeddingDistance):
        return member.spec
    return f"member{index}"


@fill_doc
class EnsembleDistance(Metric):
    """DreamSim-style ensemble: cosine distance between concatenated, L2-normalised embeddings.

    Each member embeds the images (optionally through its head), its vector is scaled to unit
    length, and the members' vectors are concatenated. The cosine distance of the concatenation
    is the mean of the members' cosine distances (all parts have the same length).

    Parameters
    ----------
    members : sequence or mapping
        Members as registry specs, :class:`~neuroperception.features.FeatureModel` objects or
        :class:`EmbeddingDistance` objects (which fix the layer and pooling; specs and models use
        their output). A sequence names members by spec; a mapping ``{name: member}`` names them
        explicitly (needed when two members share a spec).
    heads : None, path or mapping of str to tensor
        Heads applied to members' embeddings before normalisation: a state dict (or the path of one,
        ``.pt``/``.pth``/``.safetensors``, read with ``weights_only=True``) with, per headed member,
        either a linear head ``"<member>.weight"`` ``(out, in)`` and ``"<member>.bias"`` ``(out,)``,
        or a two-layer MLP head ``"<member>.fc1.weight"``, ``"<member>.fc1.bias"``,
        ``"<member>.fc2.weight"``, ``"<member>.fc2.bias"`` computing ``fc2(relu(fc1(x)))``. Members
        without keys are used as they are.
    %(random_state)s
        It seeds the random init of members given as specs (as in ``load_model``).

    Examples
    --------
    >>> import torch
    >>> from neuroperception.features import load_model
    >>> ens = EnsembleDistance({"fine": load_model("gabor", input_size=32),
    ...                         "coarse": load_model("gabor", input_size=16)})
    >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> d = ens(x, x.flip(-1))
    >>> d.shape, bool((d > 0).all()), bool(ens(x, x).abs().max() < 1e-5)
    (torch.Size([2]), True, True)
    """

    same_size = False

    def __init__(self, members: Sequence[Any] | Mapping[str, Any], heads: Any = None, random_state: Any = 0,
                 value_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__(value_range=value_range)
        if isinstance(members, Mapping):
            named = [(str(k), v) for k, v in members.items()]
        elif isinstance(members, (list, tuple)):
            named = [(_member_name(m, i), m) for i, m in enumerate(members)]
        else:
            raise InputError(f"members: received {type(members).__name__}; expected a list of specs/models or a "
                             "dict {name: spec or model}")
        if not named:
            raise InputError("members: received no members; expected at least one spec or model")
        names = [n for n, _ in named]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"members: received duplicated member names {dup}; expected distinct members "
                             "(name them with a dict {name: member})")
        self.names = names
        self.members = nn.ModuleList(
            m if isinstance(m, EmbeddingDistance) else EmbeddingDistance(m, metric="cosine", random_state=random_state)
            for _, m in named)
        self.differentiable = all(m.differentiable for m in self.members)
        self.heads = nn.ModuleList(nn.Identity() for _ in self.members)
        self.headed: list[str] = []
        if heads is not None:
            self.load_heads(heads)

    def train(self, mode: bool = True) -> "EnsembleDistance":
        """Set the module's mode; the backbones themselves always stay in eval mode."""
        super().train(mode)
        for m in self.members:
            m.train(mode)
        return self

    def _embedding_sizes(self) -> list[int]:
        sizes = []
        with torch.no_grad():
            for m in self.members:
                side = m.preprocess.crop or m.preprocess.resize or 64
                h, w = side if isinstance(side, (tuple, list)) else (side, side)
                probe = torch.full((1, 3, h, w), 0.5, device=self.device)
                sizes.append(m.embed(probe).shape[1])
        return sizes

    def load_heads(self, heads: Any) -> "EnsembleDistance":
        """Load member heads from a state dict or the path of one (see the class docstring)."""
        where = ""
        if isinstance(heads, (str, os.PathLike)):
            where = f"file {os.fspath(heads)!r}"
            heads = load_state_dict_file(heads)
        if not isinstance(heads, Mapping) or not all(isinstance(v, torch.Tensor) for v in heads.values()):
            raise InputError(f"heads: received {type(heads).__name__}; expected a path to a state dict or a dict of "
                             "tensors keyed '<member>.weight'/'<member>.bias' (or '<member>.fc1.weight', ...)")
        by_member: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in heads.items():
            member = next((n for n in sorted(self.names, key=len, reverse=True) if key.startswith(n + ".")), None)
            if member is None:
                raise InputError(f"heads {where}: key {key!r} names no member; expected keys starting with one of "
                                 f"{self.names} followed by '.weight', '.bias' or '.fc1.weight', ...")
            by_member.setdefault(member, {})[key[len(member) + 1:]] = value
        sizes = self._embedding_sizes()
        for i, name in enumerate(self.names):
            state = by_member.get(name)
            if state is None:
                continue
            allowed = {"weight", "bias"} if "weight" in state else {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
            extra = sorted(set(state) - allowed)
            if extra:
                raise InputError(f"heads {where}: unexpected keys {[name + '.' + k for k in extra]}; expected "
                                 f"'{name}.weight'/'{name}.bias' (linear) or '{name}.fc1.*'/'{name}.fc2.*' (MLP)")
            prefixed = {f"{name}.{k}": v for k, v in state.items()}
            if "weight" in state:
                head: nn.Module = _linear(prefixed, name, sizes[i], where)
            else:
                fc1 = _linear(prefixed, f"{name}.fc1", sizes[i], where)
                head = _MLPHead(fc1, _linear(prefixed, f"{name}.fc2", fc1.out_features, where))
            self.heads[i] = head.to(self.device)
            if name not in self.headed:
                self.headed.append(name)
        return self

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Concatenated unit-length member embeddings ``(N, sum of member sizes)``."""
        parts = [F.normalize(head(m.embed(images)), dim=1, eps=1e-12) for m, head in zip(self.members, self.heads)]
        return torch.cat(parts, 1)

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Cosine distances between paired concatenations."""
        return paired_distance(a, b, "cosine")

    def compare_pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """All-pairs cosine distances by matrix products."""
        return pairwise_distance(a, b, "cosine")

    @property
    def weights(self) -> dict[str, str]:
        """Where each member's weights came from, ``{member name: weights}``.

        Examples
        --------
        >>> from neuroperception.features import load_model
        >>> net = load_model("torchvision:squeezenet1_1", weights="random")
        >>> EnsembleDistance({"gabor": "gabor", "net": net}).weights
        {'gabor': 'none (weight-free)', 'net': 'random-init(seed=0)'}
        """
        return {name: m.weights for name, m in zip(self.names, self.members)}

    def extra_repr(self) -> str:
        return f"members={self.names}, headed={self.headed}"
