"""The base class of the optical-flow estimators and the argument checks they share.

:class:`FlowEstimator` (exported from :mod:`neuroperception.features.optical_flow` and
:mod:`neuroperception.features`) validates a pair of frame batches and hands them to a subclass's
``_estimate``; ``_positive``, ``_count`` and ``_check_pair`` check the estimators' arguments.
:mod:`~neuroperception.features.optical_flow` (Horn–Schunck, ``estimate_flow``) and
:mod:`~neuroperception.features.raft` (RAFT) both build on this module.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import torch

from .._validation import check_device, check_images, describe
from ..errors import InputError, ShapeError

__all__ = ["FlowEstimator"]


class FlowEstimator(abc.ABC):
    """Base class of flow estimators: ``estimator(frames_a, frames_b)`` → flow ``(N, 2, H, W)``.

    Subclasses implement ``_estimate(a, b)`` on validated float32 ``(N, 3, H, W)`` frames in
    [0, 1] that are already on :attr:`device` (or on the input's device when it is None).
    Any subclass can be passed to :func:`~neuroperception.features.estimate_flow` as ``method``.

    Examples
    --------
    >>> import torch
    >>> from neuroperception.features import estimate_flow
    >>> class Still(FlowEstimator):
    ...     name = "still"
    ...     def _estimate(self, a, b):
    ...         return torch.zeros(a.shape[0], 2, *a.shape[-2:])
    >>> tuple(estimate_flow(torch.rand(1, 3, 3, 8, 8), method=Still()).shape)
    (1, 2, 2, 8, 8)
    """

    device: torch.device | None = None
    name: str = "flow"

    def __call__(self, frames_a: Any, frames_b: Any) -> torch.Tensor:
        """Flow from ``frames_a`` to ``frames_b`` (images ``(N, 3, H, W)`` in [0, 1], same shape)."""
        a, b = _check_pair(frames_a, frames_b)
        if self.device is not None:
            a, b = a.to(self.device), b.to(self.device)
        return self._estimate(a, b)

    @abc.abstractmethod
    def _estimate(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flow ``(N, 2, H, W)`` from validated frames ``a`` to ``b``."""

    def to(self, device) -> "FlowEstimator":
        """Run on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``; None: CUDA when available, else the CPU)."""
        self.device = check_device(device)
        return self


def _positive(value, name: str, *, strict: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v < 0 or (strict and v == 0):
        raise InputError(f"{name}: received {value!r}; expected a finite number {'>' if strict else '>='} 0")
    return v


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}: received {value!r}; expected an integer >= 1")
    return int(value)


def _check_pair(frames_a: Any, frames_b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a = check_images(frames_a, name="frames_a")
    b = check_images(frames_b, name="frames_b")
    if a.shape != b.shape:
        raise ShapeError(f"frames_b: received {describe(b)} for frames_a {tuple(a.shape)}; expected two batches of "
                         "the same shape (N, 3, H, W), frame t and frame t + 1")
    return a, b.to(a.device)
