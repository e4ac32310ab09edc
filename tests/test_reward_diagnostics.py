"""Reward-hacking diagnostics: PGD sensitivity (and the attacked images), transform averaging, ensemble disagreement,
image ascent with one or several judges, and their plots."""

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


def _darkness(x):
    return 1.0 - x.mean(dim=(1, 2, 3))


def _redness(x):
    return x[:, 0].mean(dim=(1, 2)) - x[:, 1:].mean(dim=(1, 2, 3))


# ------------------------------------------------------------------------------- attacked images
@pytest.mark.parametrize("random_start", [False, True])
def test_sensitivity_images_reproduce_the_gains(random_start):
    reward, eps = PixelContrast(), 0.03
    # saturated pixels: the [0, 1] projection must bind for some of them
    obs = _images().clamp(0.1, 0.9).sub(0.1).div(0.8)
    gains = reward_sensitivity(reward, obs, eps, steps=6, random_start=random_start, random_state=3)
    again, images = reward_sensitivity(reward, obs, eps, steps=6, random_start=random_start, random_state=3,
                                       return_images=True)
    assert torch.equal(gains, again)
    assert images.shape == obs.shape and images.dtype == torch.float32 and images.device.type == "cpu"
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert float((images - obs).abs().max()) <= eps + 1e-6
    with torch.no_grad():
        recomputed = reward(images) - reward(obs)
    torch.testing.assert_close(recomputed, gains, atol=1e-5, rtol=1e-5)
    assert float(gains.min()) > 0.2  # every observation was really perturbed


def test_sensitivity_images_are_the_best_iterate_not_the_last():
    obs = torch.full((2, 3, 8, 8), 0.5)

    def peaked(x):  # best at delta = 0.013; sign steps of 0.02 oscillate between delta = 0 and 0.02
        return -((x - 0.513) ** 2).sum(dim=(1, 2, 3))

    gains, images = reward_sensitivity(peaked, obs, 0.03, steps=2, step_size=0.02, return_images=True)
    torch.testing.assert_close(images, obs + 0.02)  # iterate 1; the last iterate (2) is back at delta = 0
    with torch.no_grad():
        torch.testing.assert_close(peaked(images) - peaked(obs), gains, atol=1e-4, rtol=1e-4)
    assert float(gains.min()) > 0


def test_sensitivity_images_at_zero_budget_are_the_observations():
    obs = _images(2)
    gains, images = reward_sensitivity(PixelContrast(), obs, 0.0, return_images=True)
    assert torch.equal(gains, torch.zeros(2)) and torch.equal(images, obs)
    images[0] = 0.0
    assert float(obs[0].max()) > 0  # a copy, not a view of the input


def test_sensitivity_images_without_gain_are_the_observations():
    # a reward at its maximum: no perturbation gains anything, so the best iterate is delta = 0
    obs = torch.ones(2, 3, 8, 8)
    gains, images = reward_sensitivity(lambda x: x.mean(dim=(1, 2, 3)), obs, 0.1, steps=3, return_images=True)
    assert torch.equal(gains, torch.zeros(2)) and torch.equal(images, obs)


def test_attack_table_returns_the_attacks_images_and_gains():
    rewards = {"pixel": PixelContrast(), "red": _redness}
    obs, budgets = _images(3, seed=1), [0.01, 0.04]
    kw = dict(eps=budgets, steps=4, n_transforms=3, random_state=2)
    table = attack_table(rewards, obs, **kw)
    same, attacks = attack_table(rewards, obs, return_images=True, **kw)
    pd.testing.assert_frame_equal(table, same)
    assert list(attacks) == list(zip(table["reward"], table["variant"], table["eps"]))
    for (name, variant, eps), (x, gains) in attacks.items():
        row = table[(table["reward"] == name) & (table["variant"] == variant) & (table["eps"] == eps)].iloc[0]
        assert x.shape == obs.shape and x.device.type == "cpu" and gains.shape == (len(obs),)
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and float((x - obs).abs().max()) <= eps + 1e-6
        assert float(gains.double().mean()) == pytest.approx(row["gain_mean"], abs=1e-12)
        assert float(gains.double().max()) == pytest.approx(row["gain_max"], abs=1e-12)
        if variant == "plain":  # deterministic: the images give the reported gains
            with torch.no_grad():
                gain = (rewards[name](x) - rewards[name](obs)).double()
            torch.testing.assert_close(gain, gains.double(), atol=1e-6, rtol=0)


def test_attack_table_progress_counts_and_names_the_attacks(capsys):
    obs = _images(2, seed=3)
    kw = dict(eps=[0.01, 0.02], steps=2, n_transforms=2)
    quiet = attack_table({"pixel": PixelContrast()}, obs, progress=False, **kw)
    assert capsys.readouterr().err == ""
    shown = attack_table({"pixel": PixelContrast()}, obs, progress=True, **kw)
    err = capsys.readouterr().err
    assert "attack_table" in err and "4/4" in err and "pixel (averaged), eps=0.02" in err
    pd.testing.assert_frame_equal(quiet, shown)  # the bar changes nothing else
    with pytest.raises(InputError, match="progress"):
        attack_table({"pixel": PixelContrast()}, obs, progress="yes", **kw)


# --------------------------------------------------------------------------------- several judges
def test_a_dict_of_judges_gives_one_column_each():
    reward, init = PixelContrast(), _images(2, seed=4)
    kw = dict(steps=6, lr=0.05, record_every=3)
    history, images = optimize_images(reward, init, judge={"dark": _darkness, "red": _redness}, **kw)
    assert list(history.columns) == ["step", "image", "reward", "dark", "red"]
    for name, fn in (("dark", _darkness), ("red", _redness)):
        alone, images_alone = optimize_images(reward, init, judge=fn, **kw)
        # the judges do not influence the optimisation, and each column is what that judge alone records
        assert torch.equal(images, images_alone)
        pd.testing.assert_frame_equal(history[["step", "image", "reward", name]],
                                      alone.rename(columns={"judge": name}))
    with torch.no_grad():
        np.testing.assert_allclose(history.query("step == 6")["red"], _redness(images).double(), rtol=1e-6)
    single, _ = optimize_images(reward, init, judge=_darkness, **kw)
    keyed, _ = optimize_images(reward, init, judge={"judge": _darkness}, **kw)
    pd.testing.assert_frame_equal(single, keyed)


def test_judge_errors():
    obs = _images(2)
    with pytest.raises(InputError, match=r"judge\['red'\]: received int; expected a callable reward"):
        optimize_images(PixelContrast(), obs, steps=1, judge={"dark": _darkness, "red": 3})
    with pytest.raises(InputError, match="judge: received an empty dict"):
        optimize_images(PixelContrast(), obs, steps=1, judge={})
    with pytest.raises(InputError, match="judge: received the key 'reward'"):
        optimize_images(PixelContrast(), obs, steps=1, judge={"reward": _darkness})
    with pytest.raises(InputError, match="judge: received the key 1"):
        optimize_images(PixelContrast(), obs, steps=1, judge={1: _darkness})
    with pytest.raises(InputError, match="judge: received str; expected a callable reward"):
        optimize_images(PixelContrast(), obs, steps=1, judge="ssim")


# ------------------------------------------------------------------------------------------ plot
@pytest.fixture
def history():
    h, _ = optimize_images(PixelContrast(), _images(2), steps=4, lr=0.05, judge={"dark": _darkness, "red": _redness})
    h.insert(0, "condition", "pixel")  # a text column, as analyses add: not a judge
    return h


def test_plot_multi_judge_history_one_panel_each(history):
    fig = plot_optimization_history(history, title="three panels")
    assert [ax.get_title() for ax in fig.axes] == ["optimised reward", "held-out judge: dark", "held-out judge: red"]
    for ax, column in zip(fig.axes, ["reward", "dark", "red"]):
        np.testing.assert_allclose(ax.lines[0].get_ydata(), history.groupby("step")[column].mean())
    plt.close("all")


def test_plot_into_given_axes(history):
    fig, axes = plt.subplots(2, 3)
    assert plot_optimization_history(history, ax=axes[1]) is fig
    assert all(not ax.lines for ax in axes[0]) and all(len(ax.lines) == 1 for ax in axes[1])
    np.testing.assert_allclose(axes[1, 2].lines[0].get_ydata(), history.groupby("step")["red"].mean())

    fig1, ax = plt.subplots()
    assert plot_optimization_history(history, ax=ax, title="one axes") is fig1
    twin = [a for a in fig1.axes if a is not ax]
    assert len(twin) == 1 and ax.get_title() == "one axes"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), history.groupby("step")["reward"].mean())
    np.testing.assert_allclose(twin[0].lines[1].get_ydata(), history.groupby("step")["red"].mean())

    fig2, ax2 = plt.subplots()
    reward_only = history[["step", "image", "reward"]]
    assert plot_optimization_history(reward_only, ax=ax2) is fig2 and len(fig2.axes) == 1
    with pytest.raises(InputError, match=r"ax: received 2 Axes; expected one, or 3"):
        plot_optimization_history(history, ax=axes[0, :2])
    with pytest.raises(InputError, match="ax: received str"):
        plot_optimization_history(history, ax="left")
    plt.close("all")
