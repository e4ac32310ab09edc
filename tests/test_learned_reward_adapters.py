"""Learned and combined rewards in the RL adapters: a PreferenceReward ensemble and a CombinedReward rewarding
gymnasium, stable-baselines3 and torchrl environments, their terms and uncertainty logged."""

import numpy as np
import pandas as pd
import pytest
import torch

gym = pytest.importorskip("gymnasium")

from neuroperception.rewards import CombinedReward, GoalImageReward, PreferenceReward  # noqa: E402
from neuroperception.rewards.adapters import PerceptualRewardWrapper, SB3PerceptualReward  # noqa: E402
from neuroperception.rewards.envs import REACH_ID, ReachEnv  # noqa: E402
from neuroperception.similarity import L2  # noqa: E402


def _features(x):
    return torch.nn.functional.avg_pool2d(x, 16).flatten(1)  # 3 x 4 x 4 block means of a 64 x 64 frame


@pytest.fixture(scope="module")
def learned():
    """A preference model taught that frames nearer the goal are better (judgements from the distance)."""
    env = ReachEnv()
    cells = [(r, c) for r in range(11) for c in range(11)]
    images = {f"{r}-{c}": torch.from_numpy(env.state_image(r, c)).permute(2, 0, 1).float() / 255 for r, c in cells}
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(cells), 600), rng.integers(0, len(cells), 600)
    dist = np.array([abs(r - 5) + abs(c - 5) for r, c in cells])
    keep = dist[a] != dist[b]
    judgements = pd.DataFrame({"first": [f"{cells[i][0]}-{cells[i][1]}" for i in a[keep]],
                               "second": [f"{cells[i][0]}-{cells[i][1]}" for i in b[keep]],
                               "label": (dist[a[keep]] < dist[b[keep]]).astype(float)})
    return PreferenceReward(_features, n_ensemble=2, max_epochs=40, lr=0.05).fit(images, judgements)


def test_a_learned_reward_rewards_a_gymnasium_env_and_logs_its_uncertainty(learned):
    env = PerceptualRewardWrapper(gym.make(REACH_ID), learned, mode="replace")
    obs, _ = env.reset(seed=0)
    obs, reward, _, _, info = env.step(0)
    expected = learned(torch.from_numpy(obs)[None]).detach()
    assert reward == pytest.approx(float(expected[0]), rel=1e-5)
    assert "reward/uncertainty" in info
    # the learned reward rises toward the goal: the goal frame beats a corner frame
    frames = torch.from_numpy(np.stack([ReachEnv().state_image(5, 5), ReachEnv().state_image(0, 0)]))
    r = learned(frames).detach()
    assert float(r[0]) > float(r[1])


def test_learned_and_combined_rewards_drive_sb3_and_torchrl(learned):
    from stable_baselines3.common.vec_env import DummyVecEnv

    combined = CombinedReward({"learned": (learned, 1.0), "goal": (GoalImageReward(L2(), ReachEnv().goal_image()), 0.5)},
                              normalize="running")
    venv = SB3PerceptualReward(DummyVecEnv([ReachEnv, ReachEnv]), combined, mode="add")
    venv.seed(0)
    venv.reset()
    _, rewards, _, infos = venv.step(np.array([0, 1]))
    assert rewards.shape == (2,) and np.isfinite(rewards).all()
    assert {"reward/learned", "reward/goal/normalized"} <= set(infos[0])

    from torchrl.envs import GymEnv, TransformedEnv

    from neuroperception.rewards.adapters import PerceptualRewardTransform

    tenv = TransformedEnv(GymEnv(REACH_ID), PerceptualRewardTransform(learned))
    tenv.set_seed(0)
    rollout = tenv.rollout(4)
    torch.testing.assert_close(rollout["next", "reward"][..., 0], learned(rollout["next", "pixels"]))
