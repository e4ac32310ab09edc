"""Perceptual rewards inside RL loops: gymnasium, gymnasium vector envs, stable-baselines3, torchrl.

Every adapter computes a :class:`~neuroperception.rewards.RewardFunction` on the observations
(``source="obs"``) or on rendered frames (``source="render"``) and combines it with the
environment's own reward:

- ``mode="replace"``: ``r = scale · R(s')``;
- ``mode="add"``: ``r = r_env + scale · R(s')``;
- ``mode="shape"``: potential-based shaping with ``Φ = scale · R``:
  ``r = r_env + γ Φ(s') − Φ(s)``, with ``Φ = 0`` at a terminal state (truncation keeps ``Φ(s')``),
  which leaves the optimal policies of the environment's reward unchanged.

The raw parts go in ``info``: ``"env_reward"``, ``"perceptual_reward"`` and, with
``components=True``, each of the reward's :meth:`~neuroperception.rewards.RewardFunction.components`
as ``"reward/<name>"``. Vector adapters make **one** batched reward call per step across all envs.
Observations the reward cannot read raise :class:`~neuroperception.errors.InputError`.

The classes are imported on first access, so importing this module needs none of the RL packages;
each needs the ``neuroperception[rl]`` extra (gymnasium, stable-baselines3, torchrl). They are
module-level classes: a wrapped environment pickles (``pickle.dumps(env)``), so it can run in the
subprocesses of ``gymnasium.vector.AsyncVectorEnv`` or stable-baselines3's ``SubprocVecEnv``.

Examples
--------
>>> import gymnasium as gym, torch
>>> from neuroperception.rewards import RewardFunction
>>> from neuroperception.rewards.adapters import PerceptualRewardWrapper
>>> import neuroperception.rewards.envs  # registers neuroperception/Reach-v0
>>> class Redness(RewardFunction):
...     def reward(self, images):
...         return images[:, 0].mean(dim=(1, 2))
>>> env = PerceptualRewardWrapper(gym.make("neuroperception/Reach-v0"), Redness(), mode="add")
>>> obs, info = env.reset(seed=0)
>>> obs, reward, terminated, truncated, info = env.step(1)
>>> bool(abs(reward - info["env_reward"] - info["perceptual_reward"]) < 1e-6)
True
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import torch

from .._validation import describe
from ..errors import InputError
from .base import RewardFunction

__all__ = ["PerceptualRewardWrapper", "PerceptualRewardVectorWrapper", "SB3PerceptualReward",
           "PerceptualRewardTransform"]

_MODES = ("replace", "add", "shape")
_PUBLIC = __name__  # the adapters carry this module's name, so pickles refer to the public path


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"neuroperception.rewards.adapters needs {module.split('.')[0]}: "
                          "pip install 'neuroperception[rl]'") from exc


class _Combiner:
    """The adapters' shared arithmetic: evaluate the reward on a batch and combine it with r_env."""

    def __init__(self, owner: str, reward_fn: Any, mode: str, gamma: float, scale: float, components: bool,
                 modes: tuple[str, ...] = _MODES):
        if not isinstance(reward_fn, RewardFunction):
            raise InputError(f"{owner}: received reward_fn of type {type(reward_fn).__name__}; expected a "
                             "neuroperception.rewards.RewardFunction")
        if mode not in modes:
            raise InputError(f"{owner}: received mode={mode!r}; expected one of {modes}")
        if not (0.0 < float(gamma) <= 1.0):
            raise InputError(f"{owner}: received gamma={gamma!r}; expected 0 < gamma <= 1")
        if not np.isfinite(scale):
            raise InputError(f"{owner}: received scale={scale!r}; expected a finite number")
        self.owner, self.reward_fn, self.mode = owner, reward_fn, mode
        self.gamma, self.scale, self.components = float(gamma), float(scale), bool(components)

    def evaluate(self, frames: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Scaled reward ``(B,)`` of a batch of frames (one call) and its raw components."""
        if isinstance(frames, np.ndarray) and frames.dtype == object:
            raise InputError(f"{self.owner}: received observations {describe(frames)}; expected image arrays")
        with torch.no_grad():
            r = self.reward_fn(frames)
            comps = self.reward_fn.components(frames) if self.components else {}
        out = {f"reward/{k}": np.asarray(v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
               for k, v in comps.items()}
        return self.scale * r.detach().cpu().numpy().astype(np.float64), out

    def combine(self, env_reward: np.ndarray, value: np.ndarray, prev: np.ndarray | None,
                terminated: np.ndarray) -> np.ndarray:
        env_reward = np.asarray(env_reward, dtype=np.float64)
        if self.mode == "replace":
            return value.copy()
        if self.mode == "add":
            return env_reward + value
        nxt = np.where(np.asarray(terminated, dtype=bool), 0.0, value)
        return env_reward + self.gamma * nxt - prev


def _frames(obs: Any, obs_key: str | None, owner: str) -> Any:
    if obs_key is None:
        return obs
    try:
        return obs[obs_key]
    except (KeyError, TypeError, IndexError) as exc:
        raise InputError(f"{owner}: observations have no key {obs_key!r} (received {type(obs).__name__}); "
                         "expected a dict observation with that key") from exc


#: Where each adapter lives and the optional package it needs (checked first, so the error names the extra).
_HOMES = {"PerceptualRewardWrapper": ("_gym_adapters", "gymnasium"),
          "PerceptualRewardVectorWrapper": ("_gym_adapters", "gymnasium"),
          "SB3PerceptualReward": ("_sb3_adapter", "stable_baselines3.common.vec_env"),
          "PerceptualRewardTransform": ("_torchrl_adapter", "torchrl.envs.transforms")}


def __getattr__(name: str):
    if name in _HOMES:
        home, requirement = _HOMES[name]
        _require(requirement)
        cls = getattr(importlib.import_module(f".{home}", __package__), name)
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
