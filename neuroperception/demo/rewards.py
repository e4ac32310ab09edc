"""Demo section on perceptual rewards: the goal-image reward's landscape over Reach-v0's states, and how
much reward a tiny adversarial perturbation buys (plain vs transform-averaged rewards)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..plotting import Report
from ..rewards import GoalImageReward, attack_table
from ..similarity import L2, LPIPS, SSIM
from ..stimuli import ImageSet
from .registry import DemoContext, demo_section


def _landscape(env, reward) -> np.ndarray:
    frames = np.stack([env.state_image(i, j) for i in range(env.grid) for j in range(env.grid)])
    with torch.no_grad():
        return reward(frames).numpy().reshape(env.grid, env.grid)


def _attack(ctx: DemoContext) -> pd.DataFrame:
    """PGD attack table for goal-image rewards on shipped photographs (goal: the first photo)."""
    size = 48 if ctx.quick else 64
    photos = ImageSet.from_samples(size=size)[:4].images
    goal = photos[:1]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random-init backbone, said in the text
        lpips = LPIPS("alex", heads="lpips", random_state=0)
    rewards = {"LPIPS goal reward": GoalImageReward(lpips, goal), "L2 goal reward": GoalImageReward(L2(), goal)}
    return attack_table(rewards, photos[1:], eps=(1 / 255, 4 / 255), steps=3 if ctx.quick else 10,
                        n_transforms=4 if ctx.quick else 8, random_state=0)


@demo_section("rewards")
def _rewards(ctx: DemoContext, report: Report) -> None:
    table = _attack(ctx)
    try:
        from ..rewards.envs import ReachEnv
    except ImportError:
        s = report.section(
            "Perceptual rewards",
            "The Reach-v0 reward landscape needs gymnasium (pip install 'neuroperception[rl]'); shown here: "
            "how much reward a PGD perturbation of at most eps per pixel buys for goal-image rewards on the "
            "shipped photographs, plain and averaged over random shifts/flips/zooms (E-LPIPS style).",
            doc="rewards.md")
        s.tables.append(Report.table(table, "Reward gain under attack (higher: easier to hack)"))
        return
    env = ReachEnv(grid=7 if ctx.quick else 11)
    goal = env.goal_image()
    metrics = {"-L2 (pixels)": L2(), "-(1 - SSIM)": SSIM()}
    maps = {name: _landscape(env, GoalImageReward(m, goal)) for name, m in metrics.items()}
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(3.2 * (len(maps) + 1), 3.0))
    axes[0].imshow(goal)
    axes[0].set_title("goal image", fontsize=8)
    for ax, (name, m) in zip(axes[1:], maps.items()):
        im = ax.imshow(m, cmap="viridis")
        ax.set_title(f"reward {name}", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    g = env.goal
    rows = []
    for name, m in maps.items():
        dist = np.abs(np.indices(m.shape) - g[:, None, None]).sum(0)
        rows.append({"reward": name, "peak at goal": bool(np.unravel_index(m.argmax(), m.shape) == tuple(g)),
                     "Spearman r with -distance": float(pd.Series(m.ravel()).corr(pd.Series(-dist.ravel()),
                                                                                  method="spearman"))})
    s = report.section(
        "Perceptual rewards",
        f"A GoalImageReward scores every state of the Reach-v0 pixel task ({env.grid}x{env.grid} agent positions, "
        "64x64 renders) by its similarity to the goal image: a dense reward that peaks at the goal and falls off "
        "with distance, which PPO uses as potential-based shaping in analyses/reward_rl.py.",
        doc="rewards.md",
    )
    s.figures.append(report.figure(fig, "rewards_landscape", "Reward over the agent's positions, per metric."))
    s.tables.append(Report.table(pd.DataFrame(rows), "Does the reward point to the goal?"))
    s.text += ("\n\nHacking: how much reward a PGD perturbation of at most eps per pixel buys for goal-image rewards "
               "on the shipped photographs (LPIPS with a random-init backbone, and pixel L2), plain and averaged "
               "over random shifts/flips/zooms (E-LPIPS style). gain_in_sd is the gain in units of the reward's "
               "spread over the images.")
    s.tables.append(Report.table(table, "Reward gain under attack (higher: easier to hack)"))
