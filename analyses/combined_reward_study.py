"""Generator-input optimisation against combined rewards, scored by held-out judges (ReNO on the miniature world).

Mirrors ReNO (Eyring et al. 2024: optimising a one-step generator's input noise against several
reward models at once, each normalised and weighted, beats optimising any one of them and hacks each
less): a small differentiable generator maps a 64-dimensional latent to 64 px images; its input is
optimised with :func:`~neuroperception.rewards.optimize_images` (``generator=``, ``latent_penalty=0.5``:
``0.5 · mean(z²)`` keeps the latent near its Gaussian prior; Adam, lr 0.05, 100 steps, 8 latents drawn
from the prior) against

* **goal**: a goal image, a rendered world scene of a large red star (one per seed), by
  :class:`~neuroperception.rewards.GoalImageReward` with the cosine distance of world:cnn ``conv3``
  features (average-pooled);
* **preference**: a learned reward, a :class:`~neuroperception.rewards.PreferenceReward` (one linear
  head on world:cnn ``pool`` features) fitted to 1,500 judgements of simulated raters who prefer red
  area (the raters, gold and extractor of ``learned_reward_hacking.py``, 10 % flipped labels);
* **combined**: :class:`~neuroperception.rewards.CombinedReward` of the two, weights 1 and 1, each
  term normalised by its mean and spread over 64 generator samples from the prior (``"fixed"``).

Every run is scored by two **held-out judges** that no objective contains: world:clip's
:class:`~neuroperception.rewards.TextGoalReward` for "a red star" (another network, trained on the
world's captions) and the gold red area (percentage of red pixels, computed on the pixels). Every term
(goal, preference, both judges) is logged at every 10th step for every objective. The generator is a
seeded random-init convolutional decoder (seed 0; a linear layer to 4 x 4 maps, then four
nearest-neighbour upsamplings each followed by a 3 x 3 convolution and a GELU, a sigmoid at the end;
He-initialised with zero biases, because with PyTorch's default initialisation every latent gives nearly
the same grey image): it has no training, so its images are textures and blobs, not scenes, and it keeps
the result about the objectives rather than about a trained generator. Means and t 95 % intervals over 5
seeds (new goal image, raters, preference model and latents; the generator fixed).

Expected (ReNO): the combination raises the held-out judges at least as much as either reward alone.

Found (full run, 5 seeds, change from step 0 to step 100, mean and t 95 % interval). Each single reward
climbs and leaves the other flat or lower: the goal reward gains +0.121 (0.103–0.139) and moves the
preference by −0.64 (−2.21 to 0.94); the preference gains +4.45 (1.81–7.10) and moves the goal by −0.058
(−0.141 to 0.024). The combination gains on both terms, +0.055 (0.021–0.089) on the goal and +3.18
(1.89–4.46) on the preference, about 45 % and 71 % of what each reward reaches alone. The held-out text
judge rises by +0.392 (0.351–0.434) under the goal reward alone, −0.055 (−0.117 to 0.006) under the
preference and +0.040 (−0.025 to 0.105) under the combination: combined minus goal −0.353 (−0.418 to
−0.287), combined minus preference +0.095 (0.066–0.124). The gold red area hardly moves under any
objective (−0.012, +0.073 and −0.006 percentage points; combined minus goal +0.006 (0.001–0.011), minus
preference −0.079 (−0.174 to 0.015)). So the combination lies between its terms, and on the held-out
text judge the goal reward alone beats it: ReNO's direction does not reproduce here. What limits the
reading (``samples.png``): the untrained generator makes textures, never a red star; the goal reward
turns them grey (the goal scene is mostly grey background), and the text judge rises under it
without any red star appearing: grey textures apparently look more like world scenes to world:clip.
With a generator that can draw the goal the comparison would be a different one.

With real weights and data: ReNO optimises the noise of a trained one-step text-to-image generator
(SD-Turbo and others) against ImageReward, PickScore, HPSv2 and CLIP; here a pretrained generator and
CLIP would replace the random decoder and world:clip, and a human preference reward the learned one.

Run: ``python analyses/combined_reward_study.py [--out DIR] [--quick]``; writes ``history.csv``,
``seeds.csv``, ``summary.csv``, ``differences.csv``, ``terms.png`` and ``samples.png`` (``--quick``: 2
seeds, fewer steps and judgements, about a minute).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402
from torch import nn  # noqa: E402

from neuroperception.plotting import save_figure  # noqa: E402
from neuroperception.rewards import (CombinedReward, GoalImageReward, PreferenceReward,  # noqa: E402
                                     TextGoalReward, optimize_images)
from neuroperception.similarity import EmbeddingDistance  # noqa: E402
from neuroperception.world import render_scenes  # noqa: E402

HERE = Path(__file__).resolve().parent
LATENT = 64
OBJECTIVES = ("goal", "preference", "combined")
TERMS = ("goal", "preference", "text judge", "gold judge")
LATENT_PENALTY = 0.5


def _hacking_study():
    """``analyses/learned_reward_hacking.py`` as a module (raters, gold, extractor)."""
    if "learned_reward_hacking" not in sys.modules:
        spec = importlib.util.spec_from_file_location("learned_reward_hacking", HERE / "learned_reward_hacking.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["learned_reward_hacking"] = module
        spec.loader.exec_module(module)
    return sys.modules["learned_reward_hacking"]


def generator(latent: int = LATENT, random_state: int = 0) -> nn.Module:
    """A seeded random-init convolutional decoder ``(B, latent) -> (B, 3, 64, 64)`` in [0, 1], frozen.

    He-initialised (normal, fan-in) with zero biases: with PyTorch's default initialisation the signal
    shrinks through the four convolutions and every latent gives nearly the same grey image.
    """
    torch.manual_seed(random_state)
    layers: list[nn.Module] = [nn.Linear(latent, 64 * 16), nn.Unflatten(1, (64, 4, 4))]
    widths = (64, 48, 32, 16)
    for i, w in enumerate(widths):
        out = widths[i + 1] if i + 1 < len(widths) else 3
        layers += [nn.Upsample(scale_factor=2), nn.Conv2d(w, out, 3, padding=1)]
        layers.append(nn.GELU() if i + 1 < len(widths) else nn.Sigmoid())
    net = nn.Sequential(*layers).eval()
    for layer in net:
        if isinstance(layer, (nn.Linear, nn.Conv2d)):      # He init: the images vary with the latent
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def goal_image(seed: int) -> torch.Tensor:
    """A one-object world scene of a large red star ``(1, 3, 64, 64)``."""
    scenes = render_scenes(400, n_objects=1, random_state=10_000 + seed)
    o = scenes.objects
    hit = np.flatnonzero(((o["colour"] == "red") & (o["size_name"] == "large") & (o["category"] == "star")).to_numpy())
    return scenes.images.images[int(hit[0])][None]


def preference_reward(seed: int, quick: bool) -> PreferenceReward:
    """One linear Bradley–Terry head on world:cnn pool features, from raters who prefer red area."""
    h = _hacking_study()
    table, gold, _ = h.world(seed, 200 if quick else 800)
    train = h._preference_study().judgements(np.array(list(table)), gold, 300 if quick else 1500,
                                             np.random.default_rng(seed), flip=h.FLIP)
    return PreferenceReward(h.pool_features, lr=0.02, max_epochs=150, random_state=seed).fit(table, train)


def run_seed(seed: int, quick: bool, text: TextGoalReward) -> tuple[pd.DataFrame, dict]:
    h = _hacking_study()
    gen = generator()
    goal = GoalImageReward(EmbeddingDistance("world:cnn", layer="conv3"), goal_image(seed))
    pref = preference_reward(seed, quick)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        calibration = gen(torch.randn(64, LATENT, generator=g))
    combined = CombinedReward({"goal": (goal, 1.0), "preference": (pref, 1.0)}, calibration=calibration)
    init = torch.randn(4 if quick else 8, LATENT, generator=g)
    judges = {"goal": goal, "preference": pref, "text judge": text, "gold judge": h.gold_utility}
    frames, finals = [], {}
    for name, objective in (("goal", goal), ("preference", pref), ("combined", combined)):
        history, images = optimize_images(objective, init, steps=20 if quick else 100, lr=0.05, judge=judges,
                                          record_every=10, generator=gen, latent_penalty=LATENT_PENALTY)
        history.attrs = {}                                   # the latent stays out of the concatenated table
        frames.append(history.assign(seed=seed, objective=name))
        finals[name] = images
    with torch.no_grad():
        start = gen(init)
    return pd.concat(frames, ignore_index=True), {"start": start, "finals": finals, "goal": goal_image(seed)}


def _interval(v) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def per_seed(history: pd.DataFrame) -> pd.DataFrame:
    """Per seed and objective: each term's change from the start to the last step (mean over images)."""
    rows = []
    for (seed, objective), g in history.groupby(["seed", "objective"], sort=False):
        curve = g.groupby("step")[list(TERMS)].mean()
        rows.append({"seed": seed, "objective": objective,
                     **{f"{t} change": float(curve[t].iloc[-1] - curve[t].iloc[0]) for t in TERMS}})
    return pd.DataFrame(rows)


def summarise(seeds: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for objective, g in seeds.groupby("objective", sort=False):
        row = {"objective": objective, "n_seeds": len(g)}
        for t in TERMS:
            row[f"{t} change"], row[f"{t} change low"], row[f"{t} change high"] = _interval(g[f"{t} change"])
        rows.append(row)
    return pd.DataFrame(rows)


def differences(seeds: pd.DataFrame) -> pd.DataFrame:
    """Paired over seeds: the combined objective's change of each held-out judge minus each single reward's."""
    rows = []
    for judge in ("text judge", "gold judge"):
        wide = seeds.pivot(index="seed", columns="objective", values=f"{judge} change")
        for single in ("goal", "preference"):
            m, lo, hi = _interval(wide["combined"] - wide[single])
            rows.append({"judge": judge, "comparison": f"combined - {single}", "difference": m, "low": lo,
                         "high": hi, "n_seeds": len(wide)})
    return pd.DataFrame(rows)


def plot_terms(history: pd.DataFrame):
    fig, axes = plt.subplots(1, len(TERMS), figsize=(3.1 * len(TERMS), 3.2))
    for objective, g in history.groupby("objective", sort=False):
        curves = g.groupby(["seed", "step"])[list(TERMS)].mean().reset_index()
        for ax, term in zip(axes, TERMS):
            start = curves.groupby("seed")[term].transform("first")
            stat = (curves[term] - start).groupby(curves["step"]).agg(["mean", "std", "count"])
            half = stats.t.ppf(0.975, np.maximum(stat["count"] - 1, 1)) * stat["std"] / np.sqrt(stat["count"])
            ax.plot(stat.index, stat["mean"], label=objective)
            ax.fill_between(stat.index, stat["mean"] - half, stat["mean"] + half, alpha=0.2)
            ax.set_title(term + (" (held out)" if "judge" in term else ""), fontsize=9)
            ax.set_xlabel("step")
    axes[0].set_ylabel("change from step 0")
    axes[0].legend(frameon=False, fontsize=8, title="objective", title_fontsize=8)
    fig.suptitle("Generator input optimised against single and combined rewards: every term per step "
                 "(mean, t 95 % over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_samples(info: dict, n: int = 4):
    rows = ["start"] + list(info["finals"])
    fig, axes = plt.subplots(len(rows), n + 1, figsize=(1.6 * (n + 1), 1.7 * len(rows)))
    for r, name in enumerate(rows):
        images = info["start"] if name == "start" else info["finals"][name]
        for c in range(n + 1):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.imshow(info["goal"][0].permute(1, 2, 0).numpy()) if r == 0 else ax.axis("off")
                ax.set_title("goal" if r == 0 else "", fontsize=7)
                continue
            ax.imshow(images[c - 1].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[r, 1].set_ylabel(name, fontsize=7)
    fig.tight_layout()
    return fig


def run(out: Path, quick: bool = False) -> dict[str, pd.DataFrame]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    text = TextGoalReward("world:clip", "a red star")
    results = [run_seed(s, quick, text) for s in range(2 if quick else 5)]
    history = pd.concat([h for h, _ in results], ignore_index=True)
    seeds = per_seed(history)
    summary = summarise(seeds)
    diffs = differences(seeds)
    history.to_csv(out / "history.csv", index=False)
    seeds.to_csv(out / "seeds.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    diffs.to_csv(out / "differences.csv", index=False)
    save_figure(plot_terms(history), out / "terms.png")
    save_figure(plot_samples(results[0][1]), out / "samples.png")
    return {"history": history, "seeds": seeds, "summary": summary, "differences": diffs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "combined_reward_study")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tables = run(args.out, quick=args.quick)
    print(tables["seeds"].round(3).to_string(index=False))
    print(tables["summary"].round(3).to_string(index=False))
    print(tables["differences"].round(3).to_string(index=False))


if __name__ == "__main__":
    main()
