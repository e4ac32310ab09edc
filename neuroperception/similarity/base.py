"""The one interface every perceptual metric implements.

A metric turns each image into a representation once (:meth:`Metric.embed`) and compares
representations (:meth:`Metric.compare` for pairs, :meth:`Metric.compare_pairwise` for all pairs).
From those two the base class derives everything callers use:

* ``metric(x, y)`` → ``(N,)`` distances between paired images (differentiable);
* ``metric.pairwise(x, y=None)`` → ``(N, M)`` distance matrix, each image embedded once;
* ``metric.set_reference(goal)`` then ``metric.to_reference(x)`` → distances to a cached goal
  (one goal for all, or one per row), used by the rewards.

A representation is a tensor or a tuple of tensors whose first dim indexes images. Metrics whose
value cannot be split into per-image parts (SSIM) use the images themselves as the representation.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any, Union

import torch
from torch import nn

from .._validation import _RANGES, check_images
from ..errors import InputError, ShapeError

__all__ = ["Metric", "Representation"]

Representation = Union[torch.Tensor, tuple]


def _take(rep: Representation, index) -> Representation:
    if isinstance(rep, tuple):
        return tuple(_take(r, index) for r in rep)
    return rep[index]


def _cat(reps: list[Representation]) -> Representation:
    if isinstance(reps[0], tuple):
        return tuple(_cat([r[k] for r in reps]) for k in range(len(reps[0])))
    return torch.cat(reps)


def _size(rep: Representation) -> int:
    return _size(rep[0]) if isinstance(rep, tuple) else rep.shape[0]


def _expand(rep: Representation, n: int) -> Representation:
    if isinstance(rep, tuple):
        return tuple(_expand(r, n) for r in rep)
    return rep.expand(n, *rep.shape[1:])


class Metric(nn.Module, metaclass=ABCMeta):
    """Base class of perceptual distances: lower means more similar.

    Subclasses implement :meth:`embed` (validated ``(N, 3, H, W)`` images in ``[0, 1]`` → a
    representation) and :meth:`compare` (two representations with the same number of rows →
    ``(N,)``); they may override :meth:`compare_pairwise` with a faster all-pairs form.

    Parameters
    ----------
    value_range : tuple of float, default (0, 1)
        The range the caller's images are in; ``(-1, 1)`` data must say so here. It is never guessed.

    Examples
    --------
    >>> import torch
    >>> class MeanColour(Metric):
    ...     def embed(self, images):
    ...         return images.mean(dim=(2, 3))
    ...     def compare(self, a, b):
    ...         return (a - b).abs().sum(1)
    >>> m = MeanColour()
    >>> x = torch.zeros(2, 3, 8, 8); y = torch.ones(3, 3, 8, 8)
    >>> m.pairwise(x, y).shape
    torch.Size([2, 3])
    """

    differentiable: bool = True
    #: Whether ``pairwise`` needs same-sized images (True for metrics comparing pixels or maps).
    same_size: bool = True

    def __init__(self, value_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__()
        try:
            lo, hi = (float(v) for v in value_range)
        except (TypeError, ValueError):
            lo = hi = float("nan")
        if (lo, hi) not in _RANGES:
            raise InputError(f"{type(self).__name__}: received value_range={value_range!r}; expected one of "
                             "(0, 1), (-1, 1), (0, 255), the range the images are in")
        self.value_range = (lo, hi)
        self._reference: Representation | None = None
        self._reference_shape: tuple[int, ...] | None = None

    # -- to implement ------------------------------------------------------------------------
    @abstractmethod
    def embed(self, images: torch.Tensor) -> Representation:
        """Per-image representation of validated ``(N, 3, H, W)`` images in ``[0, 1]``."""

    @abstractmethod
    def compare(self, a: Representation, b: Representation) -> torch.Tensor:
        """Distances ``(N,)`` between row-paired representations."""

    def compare_pairwise(self, a: Representation, b: Representation) -> torch.Tensor:
        """All-pairs distances ``(N, M)``; default: one broadcast :meth:`compare` per row of ``a``."""
        m = _size(b)
        rows = [self.compare(_expand(_take(a, slice(i, i + 1)), m), b) for i in range(_size(a))]
        return torch.stack(rows) if rows else torch.zeros(0, m)

    # -- shared machinery --------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")

    def check(self, images: Any, name: str = "images") -> torch.Tensor:
        """Validate images (see :func:`~neuroperception._validation.check_images`) onto the metric's device."""
        x = check_images(images, value_range=self.value_range, name=name)
        return x.to(self.device)

    def _embed_batched(self, images: torch.Tensor, batch_size: int | None) -> Representation:
        if batch_size is None or images.shape[0] <= batch_size:
            return self.embed(images)
        return _cat([self.embed(images[i:i + batch_size]) for i in range(0, images.shape[0], batch_size)])

    def forward(self, x: Any, y: Any) -> torch.Tensor:
        """Distances between paired images ``x[i]`` and ``y[i]``.

        ``y`` may hold a single image, compared with every row of ``x``.
        """
        a, b = self.check(x, "x"), self.check(y, "y")
        if b.shape[0] == 1 and a.shape[0] > 1:
            b = b.expand(a.shape[0], *b.shape[1:])
        if a.shape != b.shape:
            raise ShapeError(f"x and y: received {tuple(a.shape)} and {tuple(b.shape)}; expected the same shape "
                             "(or y with a single image)")
        return self.compare(self.embed(a), self.embed(b))

    def pairwise(self, x: Any, y: Any = None, batch_size: int | None = 64) -> torch.Tensor:
        """Distance matrix ``(N, M)`` between every image of ``x`` and every image of ``y``.

        Each image is embedded once; with ``y=None`` the matrix is ``x`` against itself.
        """
        a = self.check(x, "x")
        ra = self._embed_batched(a, batch_size)
        if y is None:
            rb = ra
        else:
            b = self.check(y, "y")
            if self.same_size and a.shape[1:] != b.shape[1:]:
                raise ShapeError(f"x and y: received images of {tuple(a.shape[1:])} and {tuple(b.shape[1:])}; "
                                 f"expected the same size for {type(self).__name__}")
            rb = self._embed_batched(b, batch_size)
        return self.compare_pairwise(ra, rb)

    def set_reference(self, goal: Any) -> "Metric":
        """Cache the representation of one goal image, or of one goal per row (``(B, 3, H, W)``)."""
        g = self.check(goal, "goal")
        with torch.no_grad():
            self._reference = self.embed(g)
        self._reference_shape = tuple(g.shape)
        return self

    def to_reference(self, x: Any) -> torch.Tensor:
        """Distances ``(N,)`` from each image to the cached goal (row-matched when there are N goals)."""
        if self._reference is None:
            raise InputError(f"{type(self).__name__}: no reference set; call set_reference(goal) first")
        a = self.check(x, "x")
        ref_n = self._reference_shape[0]
        if self.same_size and tuple(a.shape[1:]) != self._reference_shape[1:]:
            raise ShapeError(f"x: received images of {tuple(a.shape[1:])}; expected the reference's size "
                             f"{self._reference_shape[1:]}")
        if ref_n not in (1, a.shape[0]):
            raise ShapeError(f"x: received {a.shape[0]} images for {ref_n} reference images; expected 1 or {ref_n}")
        ref = self._reference if ref_n == a.shape[0] else _expand(self._reference, a.shape[0])
        return self.compare(self.embed(a), ref)

    def extra_repr(self) -> str:
        return f"value_range={self.value_range}"

