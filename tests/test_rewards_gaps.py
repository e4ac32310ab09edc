"""Attacked images from reward_sensitivity / attack_table, several judges in optimize_images, and their plot."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from neuroperception.errors import InputError
from neuroperception.plotting.rewards import plot_optimization_history
from neuroperception.rewards.base import RewardFunction
from neuroperception.rewards.diagnostics import attack_table, optimize_images, reward_sensitivity


def _images(n=4, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


class PixelContrast(RewardFunction):
    """Deterministic reward with a planted pixel-level vulnerability."""

    def __init__(self, weight=5.0):
        super().__init__()
        self.weight = weight

    def reward(self, images):
        return images.mean(dim=(1, 2, 3)) + self.weight * (images[:, 0, 8, 8] - images[:, 0, 8, 9])


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


def test_attack_table_returns_the_attacked_images():
    rewards = {"pixel": PixelContrast(), "red": _redness}
    obs, budgets = _images(3, seed=1), [0.01, 0.04]
    kw = dict(eps=budgets, steps=4, n_transforms=3, random_state=2)
    table = attack_table(rewards, obs, **kw)
    same, images = attack_table(rewards, obs, return_images=True, **kw)
    pd.testing.assert_frame_equal(table, same)
    assert list(images) == list(zip(table["reward"], table["variant"], table["eps"]))
    for (name, variant, eps), x in images.items():
        assert x.shape == obs.shape and x.device.type == "cpu"
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and float((x - obs).abs().max()) <= eps + 1e-6
        if variant == "plain":  # deterministic: the images give the reported gains
            row = table[(table["reward"] == name) & (table["variant"] == variant) & (table["eps"] == eps)].iloc[0]
            with torch.no_grad():
                gain = (rewards[name](x) - rewards[name](obs)).double()
            assert float(gain.mean()) == pytest.approx(row["gain_mean"], abs=1e-6)
            assert float(gain.max()) == pytest.approx(row["gain_max"], abs=1e-6)


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
