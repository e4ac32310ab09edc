"""E-LPIPS-style transform averaging: a reward averaged over random shifts, flips and zooms."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError
from .base import RewardFunction
from ._diagnostic_inputs import _TRANSFORMS, _call, _check_steps

__all__ = ["TransformAveragedReward"]


@fill_doc
class TransformAveragedReward(RewardFunction):
    """A reward averaged over random shifts, flips and zooms of the observation (E-LPIPS style).

    Kettunen et al. (2019) made LPIPS robust to adversarial images by averaging it over random
    image transformations: a pixel-exact pattern that fools the network under one alignment is
    averaged with alignments where it does not. Here each call draws ``n_transforms`` transforms
    (shared by the whole batch, so observations are compared under the same draw), applies them
    with one differentiable ``grid_sample`` (reflection padding) and averages the wrapped reward.

    The transforms move the observation but not a goal hidden inside ``reward_fn``: keep them small
    (a few pixels, mild zoom) so that a goal-matching observation still matches after them.

    Parameters
    ----------
    reward_fn : RewardFunction or callable
        The reward to average, ``(B, 3, H, W)`` in ``[0, 1]`` → ``(B,)``.
    n_transforms : int, default 8
        Transforms per call.
    transforms : sequence of str, default ("shift", "flip", "scale")
        Any of ``"shift"`` (integer translation up to ``max_shift``), ``"flip"`` (horizontal, with
        probability ½) and ``"scale"`` (zoom by a factor in ``[1, max_scale]``).
    max_shift : int, default 2
        Largest translation in pixels.
    max_scale : float, default 1.15
        Largest zoom factor.
    resample : bool, default True
        Draw new transforms at every call (as E-LPIPS does); False draws one set at construction,
        which makes the reward a fixed deterministic function.
    %(random_state)s
        It seeds the sequence of transform draws; :meth:`reseed` restarts it.

    Examples
    --------
    >>> import torch
    >>> def centre_pixel(x):
    ...     return x[:, 0, 4, 4]
    >>> avg = TransformAveragedReward(centre_pixel, n_transforms=4, random_state=0)
    >>> avg(torch.full((2, 3, 8, 8), 0.5)).tolist()   # a uniform image is unchanged by the transforms
    [0.5, 0.5]
    """

    def __init__(self, reward_fn: Callable, n_transforms: int = 8, transforms: Sequence[str] = _TRANSFORMS,
                 max_shift: int = 2, max_scale: float = 1.15, resample: bool = True,
                 random_state: int | np.random.Generator | None = 0):
        super().__init__()
        if not callable(reward_fn):
            raise InputError(f"reward_fn: received {type(reward_fn).__name__}; expected a RewardFunction or callable")
        self.n_transforms = _check_steps(n_transforms, "n_transforms")
        if isinstance(transforms, str):
            transforms = (transforms,)
        unknown = [t for t in transforms if t not in _TRANSFORMS]
        if unknown or not transforms:
            raise InputError(f"transforms: received {tuple(transforms)!r}; expected a non-empty subset of "
                             f"{_TRANSFORMS}")
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
            raise InputError(f"max_shift: received {max_shift!r}; expected an int >= 0 (pixels)")
        if not float(max_scale) >= 1.0:
            raise InputError(f"max_scale: received {max_scale!r}; expected a zoom factor >= 1")
        self.reward_fn = reward_fn
        self.transforms = tuple(transforms)
        self.max_shift = int(max_shift)
        self.max_scale = float(max_scale)
        self.resample = bool(resample)
        self.random_state = random_state
        self.differentiable = bool(getattr(reward_fn, "differentiable", True))
        self.value_range = tuple(getattr(reward_fn, "value_range", (0.0, 1.0)))
        self.reseed()

    def reseed(self) -> None:
        """Restart the sequence of transform draws from :attr:`random_state`.

        An int seed gives the same sequence again; a Generator continues its own stream (one seed is
        drawn from it); None starts from fresh entropy. Set ``random_state`` first to use another seed.

        Examples
        --------
        >>> import torch
        >>> avg = TransformAveragedReward(lambda x: x[:, 0, 2, 3], n_transforms=2)
        >>> x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> first = avg(x)
        >>> avg.reseed()
        >>> bool(torch.equal(avg(x), first))
        True
        """
        self._generator = torch.Generator().manual_seed(seed_from(self.random_state))
        self._fixed = None if self.resample else self._draw()

    def _draw(self) -> torch.Tensor:
        """``(n_transforms, 4)`` parameters: shift y, shift x (pixels), flip sign, zoom."""
        k, gen = self.n_transforms, self._generator
        params = torch.zeros(k, 4, dtype=torch.float64)
        params[:, 2:] = 1.0
        if "shift" in self.transforms and self.max_shift:
            params[:, :2] = torch.randint(-self.max_shift, self.max_shift + 1, (k, 2), generator=gen).double()
        if "flip" in self.transforms:
            params[:, 2] = torch.where(torch.rand(k, generator=gen) < 0.5, -1.0, 1.0).double()
        if "scale" in self.transforms:
            params[:, 3] = 1.0 + torch.rand(k, generator=gen).double() * (self.max_scale - 1.0)
        return params

    def apply(self, images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Images transformed by each row of ``params``: ``(K·B, 3, H, W)``, transform-major."""
        b, _, h, w = images.shape
        k = params.shape[0]
        theta = torch.zeros(k, 2, 3, dtype=images.dtype, device=images.device)
        p = params.to(images.device, images.dtype)
        theta[:, 0, 0] = p[:, 2] / p[:, 3]
        theta[:, 1, 1] = 1.0 / p[:, 3]
        theta[:, 0, 2] = -2.0 * p[:, 1] / w
        theta[:, 1, 2] = -2.0 * p[:, 0] / h
        grid = F.affine_grid(theta.repeat_interleave(b, 0), [k * b, 3, h, w], align_corners=False)
        tiled = images.repeat(k, 1, 1, 1)
        return F.grid_sample(tiled, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def reward(self, images: torch.Tensor) -> torch.Tensor:
        """Mean of the wrapped reward over this call's transforms."""
        return self._per_transform(images).mean(dim=0)

    def _per_transform(self, images: torch.Tensor) -> torch.Tensor:
        params = self._fixed if self._fixed is not None else self._draw()
        views = self.apply(images, params).clamp(0.0, 1.0)
        return _call(self.reward_fn, views).reshape(params.shape[0], images.shape[0])

    def components(self, obs: Any) -> dict[str, torch.Tensor]:
        """``{"transform_mean", "transform_std"}`` of the wrapped reward over one draw of transforms."""
        with torch.no_grad():
            per = self._per_transform(self.check(obs))
        return {"transform_mean": per.mean(dim=0), "transform_std": per.std(dim=0, correction=0)}

    def extra_repr(self) -> str:
        return (f"n_transforms={self.n_transforms}, transforms={self.transforms}, max_shift={self.max_shift}, "
                f"max_scale={self.max_scale}, resample={self.resample}, random_state={self.random_state}")
