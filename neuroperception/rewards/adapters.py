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

The classes are built on first access, so importing this module needs none of the RL packages;
each needs the ``neuroperception[rl]`` extra (gymnasium, stable-baselines3, torchrl).

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


def _make_wrapper():
    gym = _require("gymnasium")

    class PerceptualRewardWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
        """A gymnasium ``Wrapper`` whose ``step`` rewards what the agent sees.

        Parameters
        ----------
        env : gymnasium.Env
            An environment with image observations (or ``render_mode="rgb_array"`` for ``source="render"``).
        reward_fn : RewardFunction
            The perceptual reward, called on a batch of one frame per step.
        mode : {"replace", "add", "shape"}
            How the perceptual reward combines with the environment's (see the module docstring).
        source : {"obs", "render"}
            Reward the observation (``obs_key`` picks a key of a dict observation) or ``env.render()``.
        gamma : float
            Discount of the shaping term (``mode="shape"``); use the learner's discount.
        scale : float
            Multiplies the perceptual reward.
        obs_key : str, optional
            Key of the image in a dict observation.
        components : bool
            Also put the reward's components in ``info`` (one more call of ``components``).

        Examples
        --------
        The reward of a step is the scaled mean red level of the new observation (see also
        :mod:`neuroperception.rewards.adapters`):

        >>> import gymnasium as gym, numpy as np
        >>> import neuroperception.rewards.envs  # registers neuroperception/Reach-v0
        >>> from neuroperception.rewards import RewardFunction
        >>> from neuroperception.rewards.adapters import PerceptualRewardWrapper
        >>> class Redness(RewardFunction):
        ...     def reward(self, images):
        ...         return images[:, 0].mean(dim=(1, 2))
        >>> env = PerceptualRewardWrapper(gym.make("neuroperception/Reach-v0"), Redness(), scale=2.0)
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(1)
        >>> bool(np.isclose(reward, 2 * obs[..., 0].mean() / 255)), info["env_reward"]
        (True, 0.0)
        """

        def __init__(self, env, reward_fn, mode: str = "replace", source: str = "obs", gamma: float = 0.99,
                     scale: float = 1.0, obs_key: str | None = None, components: bool = True):
            gym.utils.RecordConstructorArgs.__init__(self, reward_fn=reward_fn, mode=mode, source=source, gamma=gamma,
                                                     scale=scale, obs_key=obs_key, components=components)
            gym.Wrapper.__init__(self, env)
            self._core = _Combiner("PerceptualRewardWrapper", reward_fn, mode, gamma, scale, components)
            if source not in ("obs", "render"):
                raise InputError(f"PerceptualRewardWrapper: received source={source!r}; expected 'obs' or 'render'")
            if source == "render" and env.render_mode != "rgb_array":
                raise InputError(f"PerceptualRewardWrapper: source='render' needs render_mode='rgb_array'; the env "
                                 f"has render_mode={env.render_mode!r}")
            self.source, self.obs_key, self._phi = source, obs_key, None

        def _frame(self, obs):
            frame = self.env.render() if self.source == "render" else _frames(obs, self.obs_key, self._core.owner)
            return np.asarray(frame)[None]

        def reset(self, **kwargs):
            obs, info = self.env.reset(**kwargs)
            if self._core.mode == "shape":
                self._phi = self._core.evaluate(self._frame(obs))[0]
            return obs, info

        def step(self, action):
            obs, env_reward, terminated, truncated, info = self.env.step(action)
            value, comps = self._core.evaluate(self._frame(obs))
            reward = self._core.combine(np.array([env_reward]), value, self._phi, np.array([terminated]))
            self._phi = value
            info = dict(info, env_reward=float(env_reward), perceptual_reward=float(value[0]),
                        **{k: v[0] for k, v in comps.items()})
            return obs, float(reward[0]), terminated, truncated, info

    return PerceptualRewardWrapper


def _make_vector_wrapper():
    gym = _require("gymnasium")
    from gymnasium.vector import AutoresetMode, VectorWrapper

    class PerceptualRewardVectorWrapper(VectorWrapper):
        """A gymnasium ``VectorWrapper``: one batched reward call across all sub-environments per step.

        Same parameters as :class:`PerceptualRewardWrapper`. Supports the ``next_step`` (default) and
        ``disabled`` autoreset modes; on the step that resets a finished sub-environment the reward is
        the environment's own (gymnasium's convention: that step is no transition). ``info`` holds
        arrays ``"env_reward"``, ``"perceptual_reward"`` (and components) with their ``"_<key>"`` masks.

        Examples
        --------
        Two Reach-v0 environments, one reward call per step for both:

        >>> import gymnasium as gym, numpy as np
        >>> import neuroperception.rewards.envs  # registers neuroperception/Reach-v0
        >>> from neuroperception.rewards import RewardFunction
        >>> from neuroperception.rewards.adapters import PerceptualRewardVectorWrapper
        >>> class Redness(RewardFunction):
        ...     def reward(self, images):
        ...         return images[:, 0].mean(dim=(1, 2))
        >>> envs = gym.make_vec("neuroperception/Reach-v0", num_envs=2, vectorization_mode="sync")
        >>> venv = PerceptualRewardVectorWrapper(envs, Redness(), mode="add")
        >>> obs, info = venv.reset(seed=0)
        >>> obs, rewards, terminated, truncated, info = venv.step(np.array([0, 1]))
        >>> rewards.shape, bool(np.allclose(rewards, info["env_reward"] + info["perceptual_reward"]))
        ((2,), True)
        >>> bool(np.allclose(info["perceptual_reward"], obs[..., 0].mean(axis=(1, 2)) / 255))
        True
        """

        def __init__(self, env, reward_fn, mode: str = "replace", source: str = "obs", gamma: float = 0.99,
                     scale: float = 1.0, obs_key: str | None = None, components: bool = True):
            super().__init__(env)
            owner = "PerceptualRewardVectorWrapper"
            self._core = _Combiner(owner, reward_fn, mode, gamma, scale, components)
            if source not in ("obs", "render"):
                raise InputError(f"{owner}: received source={source!r}; expected 'obs' or 'render'")
            autoreset = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
            if autoreset not in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED):
                raise InputError(f"{owner}: received a vector env with autoreset_mode={autoreset}; expected "
                                 "NEXT_STEP or DISABLED")
            self._next_step = autoreset == AutoresetMode.NEXT_STEP
            self.source, self.obs_key = source, obs_key
            self._phi = np.zeros(self.num_envs)
            self._restarting = np.zeros(self.num_envs, dtype=bool)

        def _batch(self, obs):
            if self.source == "render":
                return np.stack([np.asarray(f) for f in self.env.render()])
            return _frames(obs, self.obs_key, self._core.owner)

        def reset(self, *, seed=None, options=None):
            obs, info = self.env.reset(seed=seed, options=options)
            mask = np.ones(self.num_envs, dtype=bool)
            if options and "reset_mask" in options:
                mask = np.asarray(options["reset_mask"], dtype=bool)
            if self._core.mode == "shape":
                self._phi[mask] = self._core.evaluate(self._batch(obs))[0][mask]
            self._restarting[mask] = False
            return obs, info

        def step(self, actions):
            obs, env_reward, terminated, truncated, info = self.env.step(actions)
            value, comps = self._core.evaluate(self._batch(obs))
            reward = self._core.combine(env_reward, value, self._phi, terminated)
            restarting = self._restarting
            reward[restarting] = np.asarray(env_reward, dtype=np.float64)[restarting]
            self._phi = value
            self._restarting = (np.asarray(terminated) | np.asarray(truncated)) if self._next_step else \
                np.zeros(self.num_envs, dtype=bool)
            info = dict(info)
            everyone = np.ones(self.num_envs, dtype=bool)
            for key, v in {"env_reward": np.asarray(env_reward, dtype=np.float64), "perceptual_reward": value,
                           **comps}.items():
                info[key], info[f"_{key}"] = v, everyone
            return obs, reward.astype(np.asarray(env_reward).dtype, copy=False), terminated, truncated, info

    return PerceptualRewardVectorWrapper


def _make_sb3():
    vec_env = _require("stable_baselines3.common.vec_env")

    class SB3PerceptualReward(vec_env.VecEnvWrapper):
        """A stable-baselines3 ``VecEnvWrapper`` rewarding the observations with one batched call per step.

        Parameters
        ----------
        venv : stable_baselines3.common.vec_env.VecEnv
            Image observations ``(B, H, W, 3)`` uint8 (or channels-first after ``VecTransposeImage``).
        reward_fn, mode, gamma, scale, obs_key, components
            As in :class:`PerceptualRewardWrapper` (``source`` is always the observation). The reward of
            a finished episode's last step is computed on SB3's ``info["terminal_observation"]``;
            ``info["TimeLimit.truncated"]`` marks truncations for the shaping term.

        Examples
        --------
        >>> import numpy as np
        >>> from stable_baselines3.common.vec_env import DummyVecEnv
        >>> from neuroperception.rewards import RewardFunction
        >>> from neuroperception.rewards.adapters import SB3PerceptualReward
        >>> from neuroperception.rewards.envs import ReachEnv
        >>> class Redness(RewardFunction):
        ...     def reward(self, images):
        ...         return images[:, 0].mean(dim=(1, 2))
        >>> venv = SB3PerceptualReward(DummyVecEnv([ReachEnv, ReachEnv]), Redness(), mode="replace")
        >>> _ = venv.seed(0)
        >>> obs = venv.reset()
        >>> obs, rewards, dones, infos = venv.step(np.array([0, 1]))
        >>> obs.shape, rewards.dtype, bool(np.allclose(rewards, obs[..., 0].mean(axis=(1, 2)) / 255, atol=1e-6))
        ((2, 64, 64, 3), dtype('float32'), True)
        """

        def __init__(self, venv, reward_fn, mode: str = "replace", gamma: float = 0.99, scale: float = 1.0,
                     obs_key: str | None = None, components: bool = True):
            super().__init__(venv)
            self._core = _Combiner("SB3PerceptualReward", reward_fn, mode, gamma, scale, components)
            self.obs_key = obs_key
            self._phi = np.zeros(self.num_envs)

        def reset(self):
            obs = self.venv.reset()
            if self._core.mode == "shape":
                self._phi = self._core.evaluate(_frames(obs, self.obs_key, self._core.owner))[0]
            return obs

        def step_wait(self):
            obs, env_reward, dones, infos = self.venv.step_wait()
            frames = np.array(_frames(obs, self.obs_key, self._core.owner), copy=True)
            done = np.flatnonzero(dones)
            for i in done:
                frames[i] = _frames(infos[i]["terminal_observation"], self.obs_key, self._core.owner)
            batch = frames
            if self._core.mode == "shape" and done.size:  # the new episodes' first potentials, same call
                batch = np.concatenate([frames, np.asarray(_frames(obs, self.obs_key, self._core.owner))[done]])
            value_all, comps = self._core.evaluate(batch)
            value = value_all[: self.num_envs]
            terminated = np.array([bool(dones[i]) and not infos[i].get("TimeLimit.truncated", False)
                                   for i in range(self.num_envs)])
            reward = self._core.combine(env_reward, value, self._phi, terminated)
            self._phi = value.copy()
            if len(value_all) > self.num_envs:
                self._phi[done] = value_all[self.num_envs:]
            for i, info in enumerate(infos):
                info["env_reward"], info["perceptual_reward"] = float(env_reward[i]), float(value[i])
                info.update({k: v[i] for k, v in comps.items()})
            return obs, reward.astype(np.float32), dones, infos

    return SB3PerceptualReward


def _make_torchrl():
    transforms = _require("torchrl.envs.transforms")

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

    return PerceptualRewardTransform


_FACTORIES = {"PerceptualRewardWrapper": _make_wrapper, "PerceptualRewardVectorWrapper": _make_vector_wrapper,
              "SB3PerceptualReward": _make_sb3, "PerceptualRewardTransform": _make_torchrl}


def __getattr__(name: str):
    if name in _FACTORIES:
        cls = _FACTORIES[name]()
        cls.__module__ = __name__
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
