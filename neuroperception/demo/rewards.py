"""Demo section on perceptual rewards: a CLIP text-goal reward (world:clip) on world scenes and over "place"
episodes, and how much reward a tiny adversarial perturbation buys (plain vs transform-averaged rewards)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..features import load_model
from ..plotting import Report
from ..rewards import GoalImageReward, TextGoalReward, attack_table
from ..similarity import L2
from ..world import COLOURS, describe, render_episodes, render_scenes
from ._world import scene_labels, shows
from .registry import DemoContext, demo_section

_GOALS = (("red", "star"), ("blue", "ring"), ("green", "heart"), ("yellow", "cross"))
_SWAP = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
_LABELS = {"appear": {"goal": "the object that appears", "control": "the same shape, another colour (absent)"},
           "place": {"goal": "the final relation", "control": "the relation swapped"}}


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties counting half."""
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def _goal_table(clip, scenes) -> tuple[pd.DataFrame, dict[str, TextGoalReward]]:
    category, colour = (np.asarray(scene_labels(scenes, a)) for a in ("category", "colour"))
    rows, rewards = [], {}
    for col, cat in _GOALS:
        goal = f"a {col} {cat}"
        rewards[goal] = reward = TextGoalReward(clip, goal)
        with torch.no_grad():
            r = reward(scenes.images.images).numpy()
        groups = {"both": (category == cat) & (colour == col), "category only": (category == cat) & (colour != col),
                  "colour only": (category != cat) & (colour == col), "neither": (category != cat) & (colour != col)}
        rows.append({"goal": goal, **{f"mean reward, {k}": float(r[m].mean()) for k, m in groups.items()},
                     "AUC goal scenes vs others": _auc(r[groups["both"]], r[~groups["both"]])})
    return pd.DataFrame(rows), rewards


def _episode_captions(episodes) -> tuple[list[str], list[str]]:
    """Per episode, the goal caption and its control.

    ``appear``: the actor's phrase ("a red star") and the same shape in a colour no object of the
    episode has (an absent object); ``place``: the final state's relation caption ("an orange ring
    below a red star") and the same caption with the relation swapped.
    """
    first = episodes.objects[episodes.objects["frame"] == 0]
    goals, controls = [], []
    for _, ep in episodes.episodes.iterrows():
        rows = first[first["stimulus_id"] == ep["stimulus_id"]].set_index("object")
        actor = rows.loc[ep["actor"]]
        if ep["kind"] == "appear":
            other = next(c for c in COLOURS if c not in set(rows["colour"]))
            goals.append(describe(actor, size_word=False))
            controls.append(describe(actor.to_dict() | {"colour": other}, size_word=False))
        else:
            anchor = describe(rows.loc[ep["anchor"]], size_word=False)
            goals.append(f"{describe(actor, size_word=False)} {ep['relation']} {anchor}")
            controls.append(f"{describe(actor, size_word=False)} {_SWAP[ep['relation']]} {anchor}")
    return goals, controls


def _episode_rewards(clip, episodes) -> dict[str, np.ndarray]:
    """``(episode, frame)`` rewards for the goal captions and their controls."""
    goals, controls = _episode_captions(episodes)
    out = {"goal": [], "control": []}
    with torch.no_grad():
        for k, frames in enumerate(episodes.videos.videos):
            out["goal"].append(TextGoalReward(clip, goals[k])(frames).numpy())
            out["control"].append(TextGoalReward(clip, controls[k])(frames).numpy())
    return {k: np.stack(v) for k, v in out.items()}


def _aligned(r: np.ndarray, zero: np.ndarray) -> pd.DataFrame:
    """Rewards relative to each episode's frame before ``zero``, by frame relative to ``zero``; mean and s.e.m."""
    rows = [{"frame": f - z, "reward": r[k, f] - r[k, max(z - 1, 0)]}
            for k, z in enumerate(zero) for f in range(r.shape[1])]
    return pd.DataFrame(rows).groupby("frame")["reward"].agg(["mean", "sem", "count"]).query("count >= 3")


def _progress_figure(curves: dict[str, dict[str, np.ndarray]], zeros: dict[str, np.ndarray], labels: dict):
    fig, axes = plt.subplots(1, len(curves), figsize=(5.0 * len(curves), 3.2), layout="constrained", squeeze=False)
    for ax, (kind, rewards) in zip(axes[0], curves.items()):
        for name, r in rewards.items():
            t = _aligned(r, zeros[kind])
            ax.plot(t.index, t["mean"], marker="o", ms=3, label=labels[kind][name])
            ax.fill_between(t.index, t["mean"] - t["sem"], t["mean"] + t["sem"], alpha=0.25)
        ax.axvline(-0.5, color="0.5", lw=0.8, ls="--")
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel(f"frame relative to the object {'appearing' if kind == 'appear' else 'being placed'}", fontsize=8)
        ax.set_title(f"'{kind}' episodes", fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    axes[0, 0].set_ylabel("reward − reward on the frame before", fontsize=8)
    return fig


@demo_section("rewards")
def _rewards(ctx: DemoContext, report: Report) -> None:
    n_scenes, n_episodes = (160, 6) if ctx.quick else (400, 24)
    clip = load_model("world:clip")
    scenes = render_scenes(n_scenes, n_objects=1, random_state=8)
    goals, rewards = _goal_table(clip, scenes)
    curves, zeros, rows = {}, {}, []
    for kind in ("appear", "place"):
        episodes = render_episodes(n_episodes, kind=kind, n_frames=12, random_state=0)
        curves[kind] = _episode_rewards(clip, episodes)
        zeros[kind] = episodes.episodes["onset" if kind == "appear" else "offset"].to_numpy()
        frames = np.arange(12)[None]
        before, after = frames < zeros[kind][:, None], frames >= zeros[kind][:, None]
        for name, r in curves[kind].items():
            b = np.array([r[k, before[k]].mean() for k in range(len(r))])
            a = np.array([r[k, after[k]].mean() for k in range(len(r))])
            rows.append({"episodes": kind, "caption": _LABELS[kind][name], "mean reward before": float(b.mean()),
                         "mean reward after": float(a.mean()), "episodes where after > before": float(np.mean(a > b))})
    progress = pd.DataFrame(rows)

    goal_image = scenes.images.images[np.flatnonzero(np.asarray(scene_labels(scenes, "category")) == "star")[:1]]
    attack = attack_table({"world:clip 'a red star'": rewards["a red star"],
                           "pixel L2 to a star scene": GoalImageReward(L2(), goal_image)},
                          scenes.images.images[:4 if ctx.quick else 8], eps=(1 / 255, 4 / 255),
                          steps=3 if ctx.quick else 10, n_transforms=4 if ctx.quick else 8, random_state=0,
                          progress=ctx.progress)
    s = report.section(
        "Perceptual rewards",
        "A TextGoalReward (VLM-RM: the cosine similarity of the observation's CLIP image embedding to the goal "
        "text's) with world:clip, the world's image-text model (shipped trained weights), scores world scenes. "
        f"First, {n_scenes} one-object scenes against four goals ('a red star', ...): the mean reward of scenes that "
        "match the goal in category and colour, in one of them, or in neither, and the AUC of the goal scenes against "
        f"all others (0.5: no preference). Then episodes of 12 frames, {n_episodes} of each kind: in 'appear' "
        "episodes an object pops into the scene, rewarded by its phrase ('a red star') and, as the control, by the "
        "same shape in a colour no object of the episode has; in 'place' episodes an object moves next to an anchor "
        "object and stays there, rewarded by the caption of the final state ('an orange ring below a red striped "
        "star') and, as the control, by the same caption with the relation swapped ('... above ...'). The table "
        "compares each episode's mean reward before and after the object appears or is placed.",
        doc="rewards.md",
    )
    s.tables.append(Report.table(goals, "Text-goal reward on one-object scenes"))
    s.figures.append(report.figure(_progress_figure(curves, zeros, _LABELS), "rewards_episodes",
                                   "Mean ± s.e.m. over episodes of the reward relative to the frame before the "
                                   "object appears (left) or is placed (right), for the goal caption and its "
                                   "control."))
    s.tables.append(Report.table(progress, "Reward before vs after the event (per-episode means)"))
    s.text += ("\n\nHacking: how much reward a PGD perturbation of at most eps per pixel buys for the text-goal "
               "reward and for a pixel goal-image reward on world scenes, plain and averaged over random "
               "shifts/flips/zooms (E-LPIPS style). gain_in_sd is the gain in units of the reward's spread over "
               "the scenes.")
    s.tables.append(Report.table(attack, "Reward gain under attack (higher: easier to hack)"))
    auc = goals.set_index("goal")["AUC goal scenes vs others"]
    rise = progress.set_index(["episodes", "caption"])["episodes where after > before"]
    clip_gain = attack[(attack["reward"].str.startswith("world:clip")) & (attack["variant"] == "plain")]
    shows(s, f"the text-goal reward ranks goal scenes above the others with AUC {auc.min():.2f}-{auc.max():.2f}; "
             "it rises after the event in " + "; ".join(
                 f"{rise[(kind, lab['goal'])]:.2f} of '{kind}' episodes for {lab['goal']} and "
                 f"{rise[(kind, lab['control'])]:.2f} for {lab['control']}" for kind, lab in _LABELS.items())
             + f"; a PGD perturbation of {clip_gain['eps'].max() * 255:.0f}/255 buys the plain CLIP reward "
             f"{float(clip_gain['gain_in_sd'].max()):.1f} standard deviations of its spread over the scenes.",
          "VLM-RM (Rocamonde et al. 2023), CLIP as a zero-shot reward model, and the reward-hacking checks that "
          "transform averaging answers (E-LPIPS, Kettunen et al. 2019)")
