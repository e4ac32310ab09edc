"""The stable-baselines3 adapter :class:`SB3PerceptualReward`, defined at module level so that it pickles.

Import it from :mod:`neuroperception.rewards.adapters`, whose name it carries.
"""

from __future__ import annotations

import numpy as np

from .adapters import _PUBLIC, _Combiner, _frames, _require

vec_env = _require("stable_baselines3.common.vec_env")

__all__ = ["SB3PerceptualReward"]


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


SB3PerceptualReward.__module__ = _PUBLIC
