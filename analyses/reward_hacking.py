"""Perceptual rewards under attack: adversarial gains, over-optimisation and ensemble disagreement on Reach-v0.

Mirrors three findings about learned and perceptual rewards: small adversarial perturbations buy large
changes of a learned perceptual metric, and averaging the metric over random shifts, flips and zooms
(E-LPIPS, Kettunen et al. 2019) makes it far harder to buy; optimising a proxy reward hard enough
makes it part ways with a held-out "gold" reward (reward over-optimisation, Gao et al. 2023); and a
hacked observation is one the rewards of an ensemble disagree on. The task is the pixel world of
``neuroperception/Reach-v0`` (``analyses/reward_rl.py`` trains PPO on it): goal-image rewards
``GoalImageReward`` built from LPIPS (AlexNet backbone, the calibrated heads shipped in the ``lpips``
wheel), SSIM and pixel L2 score the 64×64 render of every agent position by its similarity to the
render of the agent on the goal. Gains are given in *steps of progress*: the reward's mean increase
when the agent moves one cell toward the goal, so "4 steps" means an invisible perturbation is worth
four real moves. Three parts: (1) ``attack_table``: the reward an ℓ∞ perturbation of at most eps
buys (PGD), plain and transform-averaged, at several eps; (2) ``optimize_images``: gradient ascent on
the pixels of far-from-goal renders under the LPIPS reward, its transform-averaged version and pixel
L2 (a control), with SSIM to the goal as the held-out judge, and the end points scored by further
held-out rewards (pixel L2, LPIPS with another random backbone); (3) ``ensemble_disagreement`` of the
four rewards on clean renders, on renders of real progress (the agent moved three cells toward the
goal) and on the optimised images. Expected: the LPIPS reward is bought several steps' worth at
eps = 8/255 and transform averaging cuts that several-fold, while L2 and SSIM (smooth pixel
statistics) gain about one step and are unchanged by averaging; under optimisation the LPIPS reward
climbs by about ten steps while the SSIM judge falls by more (hacking) and the other held-out rewards
barely move; the averaged reward climbs more slowly and its images do move toward the goal by pixel L2
and the other LPIPS, but SSIM still falls (averaging over a few transforms makes the hack costlier, not
impossible); optimising L2 improves every judge. Hacked images stand out by their disagreement, real
progress does not.

With real weights, ``LPIPS("alex", weights="DEFAULT")`` (ImageNet AlexNet in ``TORCH_HOME``)
gives the published metric, and CLIP rewards (``TextGoalReward``, ``EmbeddingDistance`` on
``open_clip`` weights by path) go in the same places; the random-init backbone here is a learned
metric with the same architecture and the same kind of vulnerability, not the published numbers.
With real data, the observations are a policy's frames (e.g. collected from the PPO run of
``analyses/reward_rl.py``) instead of the enumerated states.

Run: ``python analyses/reward_hacking.py [--out DIR] [--quick]``; writes ``rewards.csv`` (each
reward's landscape over the states and its step of progress), ``attack.csv`` and ``attack.png``,
``attacked_images.png`` (at the largest eps, one column per reward and variant: the first attacked frame,
its attacked version and the perturbation δ × 8, titled by the gain it bought in steps of progress),
``optimization.csv``, ``optimization_history.csv``, ``optimization_<condition>.png`` (reward vs judge
per step), ``overoptimization.png`` (judge vs reward, both in steps of progress), ``optimized_images.png``,
``landscapes.png`` and ``disagreement.csv``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from neuroperception.plotting import (plot_attack_examples, plot_image_grid, plot_optimization_history,  # noqa: E402
                                      plot_reward_landscape, save_figure)
from neuroperception.rewards import (GoalImageReward, TransformAveragedReward, attack_table,  # noqa: E402
                                     ensemble_disagreement, optimize_images)
from neuroperception.rewards.envs import ReachEnv  # noqa: E402
from neuroperception.similarity import L2, LPIPS, SSIM  # noqa: E402

HERE = Path(__file__).resolve().parent
#: Settings of the quick (``--quick``, docs gallery) and full runs.
CONFIGS = {
    True: dict(attack_rewards=("LPIPS", "L2"), n_attack=4, eps=(2 / 255, 8 / 255), pgd_steps=5, n_transforms=4,
               n_starts=3, opt_steps=20, lr=0.02, record_every=2),
    False: dict(attack_rewards=("LPIPS", "SSIM", "L2"), n_attack=12, eps=(1 / 255, 2 / 255, 4 / 255, 8 / 255),
                pgd_steps=10, n_transforms=8, n_starts=6, opt_steps=60, lr=0.01, record_every=5),
}
MIN_START_DISTANCE = 6  # optimisation starts this many cells (Manhattan) or more from the goal
PROGRESS_CELLS = 3  # the "real progress" control moves each start this many cells toward the goal


def _lpips(seed: int) -> LPIPS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random-init backbone: said in the docstring
        return LPIPS("alex", heads="lpips", random_state=seed)


def _states(env: ReachEnv, cells) -> np.ndarray:
    """Renders ``(N, 64, 64, 3)`` uint8 of the agent at each ``(row, col)``."""
    return np.stack([env.state_image(int(r), int(c)) for r, c in cells])


def _as_images(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0


def manhattan(grid: int, goal) -> np.ndarray:
    """``(grid, grid)`` Manhattan distance of every cell to ``goal = (row, col)``."""
    rows, cols = np.indices((grid, grid))
    return np.abs(rows - int(goal[0])) + np.abs(cols - int(goal[1]))


def step_value(landscape: np.ndarray, goal) -> float:
    """Mean reward gained by one move toward the goal, over every cell and every goal-ward move.

    ``landscape[i, j]`` is the reward of the agent at cell ``(i, j)``; a move toward the goal goes to a
    4-neighbour one cell closer (Manhattan). For ``landscape = -distance`` this is exactly 1.
    """
    v = np.asarray(landscape, dtype=float)
    dist = manhattan(v.shape[0], goal)
    gains = []
    for axis in (0, 1):
        for shift in (1, -1):
            nb_v, nb_d = np.roll(v, shift, axis), np.roll(dist, shift, axis)
            valid = np.ones_like(dist, dtype=bool)
            edge = [slice(None), slice(None)]
            edge[axis] = 0 if shift == 1 else -1  # np.roll wraps around: drop the wrapped border
            valid[tuple(edge)] = False
            closer = valid & (nb_d == dist - 1)
            gains.append((nb_v - v)[closer])
    return float(np.concatenate(gains).mean())


def toward_goal(cell, goal, k: int) -> tuple[int, int]:
    """``cell`` moved ``k`` cells toward ``goal`` along a shortest path (alternating rows and columns)."""
    r, c = int(cell[0]), int(cell[1])
    for i in range(k):
        dr, dc = int(np.sign(goal[0] - r)), int(np.sign(goal[1] - c))
        if dr and (i % 2 == 0 or not dc):
            r += dr
        elif dc:
            c += dc
    return r, c


def _landscape(reward, frames: np.ndarray, grid: int) -> np.ndarray:
    with torch.no_grad():
        return reward(frames).double().numpy().reshape(grid, grid)


def _attack_figure(table: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for k, (name, df) in enumerate(table.groupby("reward", sort=False)):
        for variant, style in (("plain", "-"), ("averaged", "--")):
            d = df[df["variant"] == variant]
            ax.plot(d["eps"] * 255, d["gain_in_steps"], style, marker="o", color=f"C{k}", label=f"{name} {variant}")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":", label="one real step")
    ax.set(xlabel="eps (ℓ∞ budget, /255)", ylabel="reward gained (steps of progress)",
           title="PGD gain: plain vs transform-averaged rewards")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _attacked_images_figure(attacks: dict, clean: torch.Tensor, eps: float, step: dict[str, float]):
    """The first attacked observation at budget ``eps``: one column per reward and variant (clean, attacked, δ),
    each titled by the gain its attack bought for that frame, in steps of progress."""
    columns, labels = [], []
    for (name, variant, e), attack in attacks.items():
        if e != eps:
            continue
        unit = step[name if variant == "plain" else f"{name} averaged"]
        columns.append(attack.images[:1])
        labels.append(f"{name} {variant}\n{float(attack.gains[0]) / unit:+.2f} steps")
    fig = plot_attack_examples(clean[:1].repeat(len(columns), 1, 1, 1), torch.cat(columns), labels=labels, amplify=8)
    fig.suptitle(f"PGD at eps = {eps * 255:g}/255: clean, attacked, δ × 8 (grey = 0); gain in steps of progress",
                 fontsize=9)
    fig.tight_layout()
    return fig


def _overoptimization_figure(history: pd.DataFrame, step: dict[str, float]):
    """Held-out judge vs optimised reward along each optimisation, both in steps of progress from the start."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    top = 0.0
    for k, (name, df) in enumerate(history.groupby("condition", sort=False)):
        mean = df.groupby("step")[["reward", "judge"]].mean()
        x = (mean["reward"] - mean["reward"].iloc[0]) / step[name]
        y = (mean["judge"] - mean["judge"].iloc[0]) / step["SSIM"]
        ax.plot(x, y, marker="o", ms=3, color=f"C{k}", label=f"optimising {name}")
        top = max(top, float(x.max()))
    ax.plot([0, top], [0, top], color="grey", lw=0.8, ls=":", label="judge agrees (real progress)")
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set(xlabel="optimised reward gained (steps of progress)", ylabel="SSIM judge gained (steps of progress)",
           title="proxy vs held-out judge during optimisation")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def run(out_dir: Path, quick: bool = False, random_state: int = 0) -> dict[str, pd.DataFrame]:
    """Run the three parts, write the tables and figures into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output folder (created).
    quick : bool, default False
        The small configuration of :data:`CONFIGS` (about a minute on two cores) instead of the full one.
    random_state : int, default 0
        Seed of the LPIPS backbones (``random_state`` and ``random_state + 1`` for the held-out one), of the
        transform draws and of the states picked for the attack and the optimisation.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables by file stem: ``rewards``, ``attack``, ``optimization``, ``optimization_history`` and
        ``disagreement`` (each also written as ``<stem>.csv``).
    """
    cfg = CONFIGS[bool(quick)]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(random_state)
    env = ReachEnv()
    grid, goal_cell = env.grid, env.goal
    goal = env.goal_image()
    cells = [(i, j) for i in range(grid) for j in range(grid)]
    all_frames = _states(env, cells)
    dist = manhattan(grid, goal_cell).ravel()

    lpips_reward = GoalImageReward(_lpips(random_state), goal)
    rewards = {"LPIPS": lpips_reward, "SSIM": GoalImageReward(SSIM(), goal), "L2": GoalImageReward(L2(), goal)}
    averaged = {f"{k} averaged": TransformAveragedReward(r, n_transforms=cfg["n_transforms"], random_state=random_state)
                for k, r in rewards.items() if k in cfg["attack_rewards"]}
    ensemble = {**rewards, "LPIPS (other backbone)": GoalImageReward(_lpips(random_state + 1), goal)}

    # landscapes over all states: is each reward a sensible goal reward, and what is one step worth?
    landscapes = {name: _landscape(r, all_frames, grid) for name, r in {**ensemble, **averaged}.items()}
    reward_rows = []
    for name, v in landscapes.items():
        peak = tuple(int(i) for i in np.unravel_index(v.argmax(), v.shape))
        reward_rows.append({"reward": name, "peak at goal": peak == tuple(int(g) for g in goal_cell),
                            "Spearman r with -distance": float(pd.Series(v.ravel()).corr(pd.Series(-dist),
                                                                                          method="spearman")),
                            "step of progress": step_value(v, goal_cell), "sd over states": float(v.std())})
    reward_table = pd.DataFrame(reward_rows)
    step = dict(zip(reward_table["reward"], reward_table["step of progress"]))
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, name in zip(axes, ["LPIPS", "LPIPS averaged", "SSIM", "L2"]):
        if name in landscapes:
            plot_reward_landscape(landscapes[name], goal=(goal_cell[1], goal_cell[0]), xlabel="column", ylabel="row",
                                  title=f"{name} goal reward", ax=ax)
            ax.invert_yaxis()
        else:
            ax.axis("off")
    fig.tight_layout()
    save_figure(fig, out_dir / "landscapes.png")

    # (1) the attack table
    pick = rng.choice(np.flatnonzero(dist > 0), size=cfg["n_attack"], replace=False)
    attacked_rewards = {k: rewards[k] for k in cfg["attack_rewards"]}
    attack, attacks = attack_table(attacked_rewards, all_frames[pick], eps=cfg["eps"], steps=cfg["pgd_steps"],
                                   n_transforms=cfg["n_transforms"], random_state=random_state, return_images=True)
    names = attack["reward"] + np.where(attack["variant"] == "averaged", " averaged", "")
    attack["gain_in_steps"] = attack["gain_mean"] / names.map(step)
    save_figure(_attack_figure(attack), out_dir / "attack.png")
    save_figure(_attacked_images_figure(attacks, _as_images(all_frames[pick]), max(cfg["eps"]), step),
                out_dir / "attacked_images.png")

    # (2) image optimisation against a held-out judge
    far = np.flatnonzero(dist >= MIN_START_DISTANCE)
    starts = [cells[i] for i in np.sort(rng.choice(far, size=cfg["n_starts"], replace=False))]
    init = _as_images(_states(env, starts))
    judge = rewards["SSIM"]
    conditions = {"LPIPS": lpips_reward, "LPIPS averaged": TransformAveragedReward(
        lpips_reward, n_transforms=cfg["n_transforms"], random_state=random_state + 7), "L2": rewards["L2"]}
    histories, optimised, opt_rows = [], {}, []
    held_out = {"L2": rewards["L2"], "LPIPS (other backbone)": ensemble["LPIPS (other backbone)"]}
    for name, reward in conditions.items():
        history, images = optimize_images(reward, init, steps=cfg["opt_steps"], lr=cfg["lr"], judge=judge,
                                          record_every=cfg["record_every"])
        history.insert(0, "condition", name)
        histories.append(history)
        optimised[name] = images
        fname = "optimization_" + name.lower().replace(" ", "_") + ".png"
        save_figure(plot_optimization_history(history, title=f"optimising the {name} goal reward; judge: SSIM"),
                    out_dir / fname)
        first, last = (history[history["step"] == s] for s in (0, cfg["opt_steps"]))
        row = {"condition": name,
               "reward gain (steps)": float((last["reward"].mean() - first["reward"].mean()) / step[name]),
               "SSIM judge gain (steps)": float((last["judge"].mean() - first["judge"].mean()) / step["SSIM"])}
        with torch.no_grad():
            for other, fn in held_out.items():
                row[f"{other} gain (steps)"] = float((fn(images) - fn(init)).mean() / step[other])
        row["max |pixel change|"] = float((images - init).abs().max())
        opt_rows.append(row)
    history = pd.concat(histories, ignore_index=True)
    save_figure(_overoptimization_figure(history, step), out_dir / "overoptimization.png")
    optimization = pd.DataFrame(opt_rows)
    grid_images = torch.cat([init, *optimised.values()])
    labels = [f"start {r},{c}" for r, c in starts] + [f"{k} {r},{c}" for k in optimised for r, c in starts]
    save_figure(plot_image_grid(grid_images, labels=labels, ncols=len(starts)), out_dir / "optimized_images.png")

    # (3) ensemble disagreement: clean, real progress, optimised
    progress = _states(env, [toward_goal(s, goal_cell, PROGRESS_CELLS) for s in starts])
    sets = {"clean start states": init, f"real progress ({PROGRESS_CELLS} cells toward the goal)": _as_images(progress),
            **{f"optimised on {k}": v for k, v in optimised.items()}}
    dis_rows = []
    for name, obs in sets.items():
        d = ensemble_disagreement(ensemble, obs, reference=all_frames)
        row = {"observations": name, "disagreement mean": float(d.mean()), "disagreement max": float(d.max())}
        with torch.no_grad():
            for member, fn in ensemble.items():
                ref = landscapes[member]
                row[f"z {member}"] = float((fn(obs).double().mean() - ref.mean()) / ref.std())
        dis_rows.append(row)
    disagreement = pd.DataFrame(dis_rows)

    tables = {"rewards": reward_table, "attack": attack, "optimization": optimization,
              "optimization_history": history, "disagreement": disagreement}
    for stem, table in tables.items():
        table.to_csv(out_dir / f"{stem}.csv", index=False)
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "reward_hacking")
    parser.add_argument("--quick", action="store_true", help="fewer observations, budgets and steps (about a minute)")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        for stem in ("rewards", "attack", "optimization", "disagreement"):
            print(f"\n{stem}.csv")
            print(tables[stem].round(4).to_string(index=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
