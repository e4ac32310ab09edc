"""The torchrl adapter :class:`PerceptualRewardTransform`, defined at module level so that it pickles.

Import it from :mod:`neuroperception.rewards.adapters`, whose name it carries.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .adapters import _PUBLIC, _Combiner, _require

transforms = _require("torchrl.envs.transforms")

__all__ = ["PerceptualRewardTransform"]


class PerceptualRewardTransform(transforms.Transform):
    """A torchrl ``Transform`` that rewards the pixels of each step (like torchrl's VIP reward transform).

    Parameters
    ----------
    reward_fn : RewardFunction
        Called once per step on every frame of the batch (leading batch dimensions are flattened).
    in_keys : sequence of str, default ("pixels",)
        The image key of the step's next tensordict (uint8 ``(..., H, W, 3)`` or float ``(..., 3, H, W)``).
    mode : {"replace", "add"}
        Replace the ``"reward"`` entry or add to it.
    scale : float
        Multiplies the perceptual reward.

    Examples
    --------
    One frame all black and one red, on top of an environment reward of 1:

    >>> import torch
    >>> from tensordict import TensorDict
    >>> from neuroperception.rewards import RewardFunction
    >>> from neuroperception.rewards.adapters import PerceptualRewardTransform
    >>> class Redness(RewardFunction):
    ...     def reward(self, images):
    ...         return images[:, 0].mean(dim=(1, 2))
    >>> frames = torch.zeros(2, 8, 8, 3, dtype=torch.uint8); frames[1, ..., 0] = 255
    >>> td = TensorDict({"pixels": frames, "reward": torch.ones(2, 1)}, batch_size=[2])
    >>> PerceptualRewardTransform(Redness(), mode="add", scale=3.0)(td)["reward"].tolist()
    [[1.0], [4.0]]

    In an environment: ``torchrl.envs.TransformedEnv(GymEnv("neuroperception/Reach-v0"),
    PerceptualRewardTransform(reward_fn))``.
    """

    def __init__(self, reward_fn, in_keys=("pixels",), mode: str = "replace", scale: float = 1.0):
        super().__init__(in_keys=list(in_keys), out_keys=["reward"])
        self._core = _Combiner("PerceptualRewardTransform", reward_fn, mode, 1.0, scale, False,
                               modes=("replace", "add"))

    def _call(self, next_tensordict):
        frames = next_tensordict.get(self.in_keys[0], None)
        if frames is None:
            raise InputError(f"PerceptualRewardTransform: the tensordict has no key {self.in_keys[0]!r} "
                             f"(keys: {list(next_tensordict.keys())}); expected the image key in in_keys")
        ndim = 3
        batch_shape = frames.shape[:-ndim]
        flat = frames.reshape(-1, *frames.shape[-ndim:])
        value = self._core.evaluate(flat)[0]
        old = next_tensordict.get("reward", None)
        env_reward = np.zeros(len(value)) if old is None else old.detach().cpu().numpy().reshape(-1)
        reward = self._core.combine(env_reward, value, None, np.zeros(len(value), dtype=bool))
        dtype = torch.float32 if old is None else old.dtype
        out = torch.as_tensor(reward, dtype=dtype, device=frames.device).reshape(*batch_shape, 1)
        next_tensordict.set("reward", out)
        return next_tensordict

    def forward(self, tensordict):
        if "next" in tensordict.keys():
            self._call(tensordict.get("next"))
            return tensordict
        return self._call(tensordict)


PerceptualRewardTransform.__module__ = _PUBLIC
