"""Several rewards as one: a weighted sum of per-term normalised rewards, each term logged.

ReNO (Eyring et al. 2024) optimises a generator's input noise against several reward models at once,
each normalised and weighted; RL with several perceptual terms needs the same. :class:`CombinedReward`
standardises every term (by statistics fixed from calibration images, or by running statistics) so that
the weights mean what they say whatever each reward's scale, and reports every term, raw and normalised,
in :meth:`~CombinedReward.components` (which the RL adapters log as ``reward/<name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._validation import describe
from ..errors import InputError
from .base import RewardFunction

__all__ = ["CombinedReward"]

_NORMALIZE = ("none", "fixed", "running")


class CombinedReward(RewardFunction):
    """``R(s) = Σ_i w_i (r_i(s) − μ_i) / σ_i``: a weighted sum of normalised rewards.

    Parameters
    ----------
    terms : mapping of str to (reward, weight) or to reward
        The rewards by name (any :class:`RewardFunction` or callable images → ``(B,)``), each with its
        weight (1 when only the reward is given). Negative weights penalise a term.
    normalize : {"none", "fixed", "running"}
        ``"none"``: ``μ = 0, σ = 1``. ``"fixed"``: ``μ, σ`` of each term over ``calibration`` images,
        fixed thereafter (the default; gradients see constants). ``"running"``: running mean and
        standard deviation over every batch scored while the module is in training mode
        (``.eval()`` freezes them).
    calibration : images, optional
        ``(N, 3, H, W)`` images for ``normalize="fixed"`` (e.g. random generator samples or environment
        frames), at least 2.

    Attributes
    ----------
    names : list of str
    weights : dict of str to float
    mean_, std_ : dict of str to float
        The normalisation per term.

    Examples
    --------
    >>> import torch
    >>> bright = lambda x: x.mean(dim=(1, 2, 3))
    >>> red = lambda x: 100 * x[:, 0].mean(dim=(1, 2))          # on another scale
    >>> calib = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> r = CombinedReward({"bright": (bright, 1.0), "red": (red, 0.5)}, calibration=calib)
    >>> r(calib[:2]).shape, sorted(r.components(calib[:2]))
    (torch.Size([2]), ['bright', 'bright/normalized', 'red', 'red/normalized'])
    """

    def __init__(self, terms: Mapping[str, Any], normalize: str = "fixed", calibration: Any = None):
        super().__init__()
        if not isinstance(terms, Mapping) or not terms:
            raise InputError(f"terms: received {describe(terms)}; expected a non-empty mapping name -> (reward, "
                             "weight) or name -> reward")
        if normalize not in _NORMALIZE:
            raise InputError(f"normalize: received {normalize!r}; expected one of {_NORMALIZE}")
        self.names, self.weights, fns = [], {}, {}
        for name, spec in terms.items():
            fn, weight = spec if isinstance(spec, tuple) else (spec, 1.0)
            if not isinstance(name, str) or not callable(fn):
                raise InputError(f"terms[{name!r}]: received {describe(fn)}; expected a string name and a callable "
                                 "reward images -> (B,)")
            try:
                weight = float(weight)
            except (TypeError, ValueError):
                raise InputError(f"terms[{name!r}]: received the weight {weight!r}; expected a number") from None
            if not np.isfinite(weight):
                raise InputError(f"terms[{name!r}]: received the weight {weight!r}; expected a finite number")
            self.names.append(name)
            self.weights[name] = weight
            fns[name] = fn
        self.terms = torch.nn.ModuleDict({n: f for n, f in fns.items() if isinstance(f, torch.nn.Module)})
        self._callables = {n: f for n, f in fns.items() if not isinstance(f, torch.nn.Module)}
        self.differentiable = all(getattr(f, "differentiable", True) for f in fns.values())
        self.normalize = normalize
        self.mean_ = {n: 0.0 for n in self.names}
        self.std_ = {n: 1.0 for n in self.names}
        self._count = 0
        self._m2 = {n: 0.0 for n in self.names}
        if normalize == "fixed":
            if calibration is None:
                raise InputError("calibration: received None with normalize='fixed'; expected images (N >= 2, 3, H, "
                                 "W) to fix each term's mean and spread, or normalize='running' / 'none'")
            x = self.check(calibration)
            if x.shape[0] < 2:
                raise InputError(f"calibration: received {x.shape[0]} image; expected at least 2")
            with torch.no_grad():
                for name in self.names:
                    v = self._term(name, x).double()
                    self.mean_[name], self.std_[name] = float(v.mean()), max(float(v.std()), 1e-8)

    def _term(self, name: str, images: torch.Tensor) -> torch.Tensor:
        fn = self.terms[name] if name in self.terms else self._callables[name]
        out = fn(images)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (images.shape[0],):
            raise InputError(f"terms[{name!r}]: returned {describe(out)}; expected a tensor ({images.shape[0]},)")
        return out.float()

    def _update(self, values: dict[str, torch.Tensor]) -> None:
        """Merge a batch into the running statistics (Chan et al.'s parallel update)."""
        b = next(iter(values.values())).shape[0]
        n = self._count + b
        for name, v in values.items():
            v = v.detach().double()
            mean_b, m2_b = float(v.mean()), float(((v - v.mean()) ** 2).sum())
            delta = mean_b - self.mean_[name]
            self.mean_[name] += delta * b / n
            self._m2[name] += m2_b + delta ** 2 * self._count * b / n
            self.std_[name] = max(float(np.sqrt(self._m2[name] / n)), 1e-8) if n > 1 else 1.0
        self._count = n

    def _values(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        values = {name: self._term(name, images) for name in self.names}
        if self.normalize == "running" and self.training:
            self._update(values)
        return values

    def reward(self, images: torch.Tensor) -> torch.Tensor:
        values = self._values(images)
        return sum(self.weights[n] * (values[n] - self.mean_[n]) / self.std_[n] for n in self.names)

    def components(self, obs: Any) -> dict[str, torch.Tensor]:
        """Every term raw (``name``) and normalised (``name/normalized``), without updating running statistics."""
        x = self.check(obs)
        out = {}
        with torch.no_grad():
            for name in self.names:
                v = self._term(name, x)
                out[name] = v
                out[f"{name}/normalized"] = (v - self.mean_[name]) / self.std_[name]
        return out

    def extra_repr(self) -> str:
        return f"weights={self.weights}, normalize={self.normalize!r}"
