"""Reward-hacking diagnostics: PGD sensitivity, transform averaging, ensemble disagreement, image ascent."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from neuroperception.errors import InputError, ShapeError
from neuroperception.plotting.rewards import plot_optimization_history, plot_reward_landscape
from neuroperception.rewards.base import RewardFunction
from neuroperception.rewards.diagnostics import (TransformAveragedReward, attack_table, ensemble_disagreement,
                                                 optimize_images, reward_sensitivity)
from neuroperception.similarity import L2, SSIM


def _images(n=4, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


class PixelContrast(RewardFunction):
    """Planted pixel-level vulnerability: smooth brightness plus a large weight on one pixel contrast."""

    def __init__(self, weight=5.0):
        super().__init__()
        self.weight = weight

    def reward(self, images):
        return images.mean(dim=(1, 2, 3)) + self.weight * (images[:, 0, 8, 8] - images[:, 0, 8, 9])


class GoalSimilarity(RewardFunction):
    """Negative distance of a metric to a goal image (a goal-image reward built from a similarity metric)."""

    def __init__(self, metric, goal):
        super().__init__()
        self.metric = metric
        self.register_buffer("goal", goal)

    def reward(self, images):
        return -self.metric(images, self.goal)


class NotDifferentiable(PixelContrast):
    differentiable = False


def test_sensitivity_is_nonnegative_zero_at_zero_and_grows_with_eps():
    reward, obs = PixelContrast(), _images()
    gains = [reward_sensitivity(reward, obs, eps, steps=8) for eps in (0.0, 0.01, 0.03, 0.1)]
    assert torch.equal(gains[0], torch.zeros(4))
    for small, large in zip(gains, gains[1:]):
        assert (large >= small - 1e-6).all() and large.mean() > small.mean()
    assert all((g >= 0).all() for g in gains)
    # the attack finds the optimum of this (nearly linear) reward: eps * (mean weight + 2 * contrast weight)
    interior = ((obs[:, 0, 8, 8] < 0.9) & (obs[:, 0, 8, 9] > 0.1))
    expected = 0.03 * (1.0 + 10.0)
    assert float(gains[2][interior].min()) == pytest.approx(expected, rel=0.1)


def test_sensitivity_of_a_metric_reward_and_determinism():
    goal = _images(1, seed=5)
    reward = GoalSimilarity(SSIM(), goal)
    obs = _images(3, seed=1)
    a = reward_sensitivity(reward, obs, 0.02, steps=4, random_start=True, random_state=3)
    b = reward_sensitivity(reward, obs, 0.02, steps=4, random_start=True, random_state=3)
    assert torch.equal(a, b) and (a > 0).all()


def test_transform_averaged_reward_is_less_sensitive_than_plain():
    plain = PixelContrast()
    averaged = TransformAveragedReward(plain, n_transforms=8, random_state=0)
    obs = _images(6)
    gain_plain = reward_sensitivity(plain, obs, 0.02, steps=10)
    gain_avg = reward_sensitivity(averaged, obs, 0.02, steps=10)
    assert float(gain_avg.mean()) < 0.5 * float(gain_plain.mean())
    table = attack_table({"contrast": plain}, obs, eps=[0.01, 0.02], steps=6, n_transforms=8)
    assert list(table.columns) == ["reward", "variant", "eps", "clean_mean", "gain_mean", "gain_max", "gain_in_sd"]
    assert len(table) == 4
    by = table.set_index(["variant", "eps"])["gain_mean"]
    assert by["averaged", 0.02] < 0.5 * by["plain", 0.02]
    assert by["plain", 0.01] < by["plain", 0.02]


def test_transform_averaged_reward_invariances_determinism_and_components():
    uniform = torch.full((2, 3, 16, 16), 0.3)
    averaged = TransformAveragedReward(PixelContrast(), n_transforms=5, random_state=1)
    torch.testing.assert_close(averaged(uniform), PixelContrast()(uniform))  # transforms leave a flat image flat
    # only shifts, with max_shift=0 and no scale/flip: identical to the plain reward
    identity = TransformAveragedReward(PixelContrast(), n_transforms=3, transforms=("shift",), max_shift=0)
    obs = _images(3)
    torch.testing.assert_close(identity(obs), PixelContrast()(obs), atol=1e-6, rtol=1e-6)
    # same seed -> same sequence of draws; resample=False -> a fixed function
    a = TransformAveragedReward(PixelContrast(), random_state=7)
    b = TransformAveragedReward(PixelContrast(), random_state=7)
    first = a(obs)
    assert torch.equal(first, b(obs)) and torch.equal(a(obs), b(obs))
    a.reseed()
    assert torch.equal(a(obs), first)
    fixed = TransformAveragedReward(PixelContrast(), resample=False, random_state=2)
    assert torch.equal(fixed(obs), fixed(obs))
    parts = fixed.components(obs)
    torch.testing.assert_close(parts["transform_mean"], fixed(obs))
    assert (parts["transform_std"] > 0).all()
    # a non-differentiable reward stays non-differentiable when averaged
    assert not TransformAveragedReward(NotDifferentiable()).differentiable


def test_ensemble_disagreement_flags_the_hacked_observation():
    obs = _images(6, seed=2)
    hacked = obs.clone()
    hacked[0, 0, 8, 8], hacked[0, 0, 8, 9] = 1.0, 0.0  # the planted pattern
    def brightness(x):
        return x.mean(dim=(1, 2, 3))
    rewards = {"contrast": PixelContrast(weight=20.0), "brightness": brightness,
               "brightness_scaled": lambda x: 3 * brightness(x) - 1}
    d = ensemble_disagreement(rewards, hacked, reference=obs)
    assert d.shape == (6,) and (d >= 0).all()
    assert int(d.argmax()) == 0
    same = ensemble_disagreement([brightness, rewards["brightness_scaled"]], obs)
    assert float(same.max()) < 1e-5
    torch.testing.assert_close(ensemble_disagreement(rewards, hacked, reference=obs), d)


def test_optimize_images_increases_reward_and_records_judge():
    goal = _images(1, seed=9)
    reward = GoalSimilarity(L2(), goal)
    judge = GoalSimilarity(SSIM(), goal)
    init = _images(2, seed=3)
    history, images = optimize_images(reward, init, steps=20, lr=0.05, judge=judge, record_every=5)
    assert list(history.columns) == ["step", "image", "reward", "judge"]
    assert sorted(history["step"].unique()) == [0, 5, 10, 15, 20]
    per_step = history.groupby("step")[["reward", "judge"]].mean()
    assert per_step["reward"].iloc[-1] > per_step["reward"].iloc[0] + 0.05
    assert per_step["judge"].iloc[-1] > per_step["judge"].iloc[0]  # L2 towards the goal also helps SSIM
    assert images.shape == init.shape and 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    assert torch.equal(init, _images(2, seed=3))  # the input is not modified
    torch.testing.assert_close(reward(images), torch.tensor(history.query("step == 20")["reward"].to_numpy(),
                                                            dtype=torch.float32))
    again, images2 = optimize_images(reward, init, steps=20, lr=0.05, judge=judge, record_every=5)
    pd.testing.assert_frame_equal(history, again)
    assert torch.equal(images, images2)


def test_optimize_images_exposes_hacking_of_a_vulnerable_reward():
    history, _ = optimize_images(PixelContrast(weight=50.0), _images(2), steps=10, lr=0.05,
                                 judge=TransformAveragedReward(PixelContrast(weight=0.0), random_state=0))
    per_step = history.groupby("step")[["reward", "judge"]].mean()
    reward_gain = per_step["reward"].iloc[-1] - per_step["reward"].iloc[0]
    judge_gain = per_step["judge"].iloc[-1] - per_step["judge"].iloc[0]
    assert reward_gain > 10 * abs(judge_gain)


def test_diagnostics_errors():
    obs = _images(2)
    with pytest.raises(InputError, match="differentiable=False; expected a reward whose gradient reaches the pixels"):
        reward_sensitivity(NotDifferentiable(), obs, 0.01)
    with pytest.raises(InputError, match="differentiable=False"):
        optimize_images(NotDifferentiable(), obs, steps=2)
    with pytest.raises(InputError, match="gradient does not reach the observation pixels"):
        reward_sensitivity(lambda x: x.detach().mean(dim=(1, 2, 3)), obs, 0.01)
    with pytest.raises(InputError, match="gradient does not reach the pixels"):
        optimize_images(lambda x: x.detach().mean(dim=(1, 2, 3)), obs, steps=2)
    with pytest.raises(InputError, match=r"eps: received 2; expected an ℓ∞ budget in \[0, 1\]"):
        reward_sensitivity(PixelContrast(), obs, 2)
    with pytest.raises(InputError, match="steps: received 0; expected a positive int"):
        reward_sensitivity(PixelContrast(), obs, 0.1, steps=0)
    with pytest.raises(InputError, match="values in"):
        reward_sensitivity(PixelContrast(), obs * 3, 0.1)
    with pytest.raises(InputError, match="expected at least two to compare"):
        ensemble_disagreement([PixelContrast()], obs)
    with pytest.raises(InputError, match="constant reward"):
        ensemble_disagreement([PixelContrast(), lambda x: torch.zeros(x.shape[0])], obs)
    with pytest.raises(ShapeError, match=r"expected a \(2,\) tensor of rewards"):
        ensemble_disagreement([PixelContrast(), lambda x: torch.zeros(3)], obs)
    with pytest.raises(InputError, match="transforms: received .*'rotate'.*expected a non-empty subset"):
        TransformAveragedReward(PixelContrast(), transforms=("rotate",))
    with pytest.raises(InputError, match="expected a non-empty dict"):
        attack_table([PixelContrast()], obs, 0.1)
    with pytest.raises(InputError, match="judge: received int"):
        optimize_images(PixelContrast(), obs, judge=3)


def test_reward_plots():
    history, _ = optimize_images(PixelContrast(), _images(2), steps=3, lr=0.05, judge=PixelContrast(weight=0.0))
    fig = plot_optimization_history(history, title="hacking")
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "held-out judge"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), history.groupby("step")["reward"].mean())
    fig1 = plot_reward_landscape(torch.linspace(-1, 0, 7), goal=(6,))
    np.testing.assert_allclose(fig1.axes[0].lines[0].get_ydata(), np.linspace(-1, 0, 7), rtol=1e-6)
    with pytest.raises(InputError, match="missing \\['reward'\\]"):
        plot_optimization_history(pd.DataFrame({"step": [0]}))
    with pytest.raises(ShapeError, match=r"expected \(n,\) or \(ny, nx\) rewards"):
        plot_reward_landscape(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="NaN/Inf"):
        plot_reward_landscape(np.array([0.0, np.nan]))
    with pytest.raises(ShapeError, match="x: received 2 coordinates; expected 3"):
        plot_reward_landscape(np.zeros((2, 3)), x=[0, 1])
    plt.close("all")
