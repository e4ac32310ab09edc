"""The one interface every reward implements: batched observations in, one float per row out.

A :class:`RewardFunction` is a :class:`torch.nn.Module`. Subclasses implement :meth:`reward` on
validated images; calling the module (:meth:`RewardFunction.forward`) validates the observations
(float ``(B, 3, H, W)`` in ``value_range``, or ``uint8`` gym frames ``(B, H, W, 3)``), moves them to
the module's device, computes the reward and checks that it is a finite ``(B,)`` vector, so a bad
observation or a broken reward is an :class:`~neuroperception.errors.InputError`, never a silent
NaN in a training loop.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import check_images, describe
from ..errors import InputError, ShapeError

__all__ = ["RewardFunction"]


def _weights_of(part: Any, name: str) -> dict[str, str]:
    """``{name: weights}`` of a part that records its network's weights (a ``weights`` string, a
    mapping of them for an ensemble, a wrapped reward's ``model_weights``); ``{}`` for a part without
    one (pixel metrics, heads...)."""
    w = part.model_weights if isinstance(part, RewardFunction) else getattr(part, "weights", None)
    if isinstance(w, str):
        return {name: w}
    if isinstance(w, Mapping) and all(isinstance(v, str) for v in w.values()):
        return {f"{name}.{k}": v for k, v in w.items()}
    return {}


class RewardFunction(nn.Module, metaclass=ABCMeta):
    """Base class of rewards: ``(B, 3, H, W)`` observations → ``(B,)`` float32 rewards.

    Attributes
    ----------
    differentiable : bool
        Whether gradients flow from the reward back to the observation pixels.
    value_range : tuple of float
        The range of float observations: ``(0, 1)`` by default; ``(-1, 1)`` or ``(0, 255)`` must be
        declared. ``uint8`` frames are always divided by 255.
    model_weights : dict of str to str
        Where the weights of every network the reward runs came from (see :attr:`model_weights`).

    Examples
    --------
    >>> import torch
    >>> class Brightness(RewardFunction):
    ...     def reward(self, images):
    ...         return images.mean(dim=(1, 2, 3))
    >>> r = Brightness()
    >>> r(torch.full((2, 3, 8, 8), 0.25))
    tensor([0.2500, 0.2500])
    """

    differentiable: bool = True
    value_range: tuple = (0.0, 1.0)

    @property
    def device(self) -> torch.device:
        """Device of the module's first parameter or buffer (CPU when it has none)."""
        for t in list(self.parameters()) + list(self.buffers()):
            return t.device
        return torch.device("cpu")

    def check(self, obs: Any) -> torch.Tensor:
        """Validate observations into float32 ``(B, 3, H, W)`` in ``[0, 1]`` on the module's device.

        Accepts what :func:`~neuroperception._validation.check_images` accepts, plus ``uint8``
        tensors laid out channels-last ``(B, H, W, 3)`` as gym environments render them.
        """
        if (isinstance(obs, torch.Tensor) and obs.dtype == torch.uint8 and obs.ndim == 4
                and obs.shape[-1] in (1, 3) and obs.shape[1] not in (1, 3)):
            obs = obs.permute(0, 3, 1, 2)
        x = check_images(obs, value_range=self.value_range, name=f"{type(self).__name__} observations")
        return x.to(self.device)

    @abstractmethod
    def reward(self, images: torch.Tensor) -> torch.Tensor:
        """Rewards ``(B,)`` of validated ``(B, 3, H, W)`` images in ``[0, 1]``."""

    def forward(self, obs: Any) -> torch.Tensor:
        """Validate ``obs``, compute the reward and check it is a finite ``(B,)`` float32 vector.

        Raises
        ------
        InputError
            Invalid observations, or a reward with NaN/Inf values.
        ShapeError
            A reward whose shape is not ``(B,)``.
        """
        x = self.check(obs)
        r = self.reward(x)
        name = type(self).__name__
        if not isinstance(r, torch.Tensor):
            raise InputError(f"{name}.reward: returned {type(r).__name__}; expected a torch.Tensor of shape "
                             f"({x.shape[0]},)")
        if tuple(r.shape) != (x.shape[0],):
            raise ShapeError(f"{name}.reward: returned {describe(r)}; expected shape ({x.shape[0]},), one reward "
                             "per observation")
        finite = torch.isfinite(r.detach())
        if not bool(finite.all()):
            bad = np.flatnonzero(~finite.cpu().numpy()).tolist()
            raise InputError(f"{name}: reward is NaN/Inf for observations {bad[:10]} (received {describe(r)}); "
                             "expected finite rewards")
        return r.to(torch.float32)

    def components(self, obs: Any) -> dict[str, torch.Tensor]:
        """Raw parts of the reward for an environment's ``info`` (none by default)."""
        return {}

    @property
    def model_weights(self) -> dict[str, str]:
        """Where the weights of every network behind this reward came from, ``{part: weights}``.

        The provenance of every reward the object computes, to log with them: a
        ``"random-init(seed=...)"`` entry means that part has random weights. Collected from the
        reward's own record (a subclass sets ``_weights``) and from every sub-module that records
        its weights (a metric's ``weights``, a wrapped reward's :attr:`model_weights`); ``{}`` for a
        reward without a network.

        Examples
        --------
        >>> from neuroperception.similarity import EmbeddingDistance, L2
        >>> from neuroperception.rewards import GoalImageReward
        >>> goal = torch.rand(1, 3, 32, 32)
        >>> GoalImageReward(L2(), goal).model_weights
        {}
        >>> GoalImageReward(EmbeddingDistance("gabor", layer="scale0"), goal).model_weights
        {'metric': 'none (weight-free)'}
        """
        found = dict(getattr(self, "_weights", {}))
        for name, child in self.named_children():
            found.update(_weights_of(child, name))
        return found
