"""Input checks and calls shared by the reward diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._validation import check_images, describe
from ..errors import InputError, ShapeError
from .base import RewardFunction


_TRANSFORMS = ("shift", "flip", "scale")


def _name(fn: Any) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _obs(obs: Any, reward_fn: Any, name: str = "obs") -> torch.Tensor:
    """Validate observations with the reward's value range, onto its device."""
    x = check_images(obs, value_range=getattr(reward_fn, "value_range", (0.0, 1.0)), name=name)
    device = getattr(reward_fn, "device", None)
    return x.to(device) if isinstance(device, torch.device) else x


def _call(reward_fn: Callable, x: torch.Tensor) -> torch.Tensor:
    """Rewards of validated ``[0, 1]`` images, checked to be a finite ``(B,)`` tensor."""
    if isinstance(reward_fn, RewardFunction):
        value_range = reward_fn.value_range
        lo, hi = (float(v) for v in value_range)
        r = reward_fn(x * (hi - lo) + lo if (lo, hi) != (0.0, 1.0) else x)
    else:
        r = reward_fn(x)
    if not isinstance(r, torch.Tensor) or tuple(r.shape) != (x.shape[0],):
        raise ShapeError(f"{_name(reward_fn)}: returned {describe(r)}; expected a ({x.shape[0]},) tensor of rewards")
    if not bool(torch.isfinite(r.detach()).all()):
        raise InputError(f"{_name(reward_fn)}: returned {describe(r)}; expected finite rewards")
    return r.float()


def _check_eps(eps: Any) -> float:
    try:
        value = float(eps)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise InputError(f"eps: received {eps!r}; expected an ℓ∞ budget in [0, 1] (pixel units of [0, 1] images)")
    return value


def _check_steps(steps: Any, name: str = "steps") -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"{name}: received {steps!r}; expected a positive int")
    return int(steps)
