"""The gymnasium adapters, :class:`PerceptualRewardWrapper` and :class:`PerceptualRewardVectorWrapper`.

Defined at module level so that wrapped environments pickle (vector environments in subprocesses
need that); import them from :mod:`neuroperception.rewards.adapters`, whose name they carry.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .adapters import _PUBLIC, _Combiner, _frames, _require

gym = _require("gymnasium")
from gymnasium.vector import AutoresetMode, VectorWrapper  # noqa: E402

__all__ = ["PerceptualRewardWrapper", "PerceptualRewardVectorWrapper"]


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


PerceptualRewardWrapper.__module__ = PerceptualRewardVectorWrapper.__module__ = _PUBLIC
