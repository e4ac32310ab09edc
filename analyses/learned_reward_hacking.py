"""Reward hacking of a learned reward versus an ensemble: images optimised against Bradley–Terry heads, gold tracked.

Mirrors the over-optimisation studies of learned reward models (Gao et al. 2023: optimising against a
proxy reward model first raises, then lowers the gold reward; Coste et al. 2023, "Reward model
ensembles help mitigate overoptimization": optimising the ensemble's mean, or a conservative
mean − k·std, keeps the gold reward higher). Simulated raters judge pairs of one-object world scenes
by a planted gold utility, 10 % of their verdicts flipped at random (the judgement sampler of
``preference_study.py``). The gold has to score images the optimiser made, which have no annotations,
so it is the part of ``preference_study``'s planted preference (red +1.5, large +1, star +1) that the
pixels carry by themselves: the red area, the percentage of pixels that are red (a soft threshold on
``R − 2 max(G, B)``, which no other world colour nor its shade passes); on world scenes it ranks
like the planted utility (Spearman correlation reported). A :class:`~neuroperception.rewards.PreferenceReward`
with one linear head and one with five (bootstrap resamples, different initialisations) learn from
1,500 judgements on frozen ``world:cnn`` pooled features (the same extractor as ``preference_study``,
run with gradients). Then 16 held-out scenes are optimised in pixel space (Adam, lr 0.01, 200 steps,
pixels clipped to [0, 1]) against each of three proxies: the single head, the ensemble's mean, and the
ensemble's conservative ``mean − 1·std`` (k = 1); the gold is recorded beside the proxy every 10 steps
(the over-optimisation curve). Means and t 95 % intervals over 5 seeds (new scenes, raters, heads).

Expected (Gao et al., Coste et al.): the proxy climbs without bound while the gold rises less and may
fall; the ensemble objectives keep the gold higher than the single head.

Found (full run, 5 seeds, mean and t 95 % interval): the pixel gold ranks world scenes like the planted
utility with Spearman 0.44 (0.38–0.50); on held-out pairs the single head predicts the gold's verdicts
with accuracy 0.63 (0.62–0.65), the ensemble 0.66 (0.64–0.68), a gain of +0.023 (−0.002 to 0.048). The
proxies climb by 137 (113–160) start-image standard deviations (single head), 161 (146–176) (ensemble
mean) and 125 (98–151) (mean − std) in 200 steps, while the gold rises from 1.1 % red pixels to about
5 %: +3.80 (2.81–4.79), +3.95 (2.94–4.96) and +3.80 (3.12–4.49) percentage points (a large red object
covers about 8 %). The gold rises monotonically to the last step under every objective, so the
over-optimisation turn of Gao et al. does not appear within 200 steps, and the ensembles do not keep
the gold higher: ensemble mean minus single head +0.15 (−0.10 to 0.40), mean − std minus single head
+0.005 (−0.38 to 0.40), both intervals across zero; Coste et al.'s direction does not reproduce here.
What the images show (``optimized_images.png``) is hacking all the same: the optimised images are
high-frequency coloured noise over the scene, not redder or larger objects, and the gold's rise comes
from red speckles scattered in that noise; a red-pixel count is itself fooled by them. The ensemble's
spread grows along the way (by 20 (13–28) utility units when optimising the single head, 11 (1–22) for
mean − std), so the uncertainty does flag the images as out of distribution, but using it as a penalty
(k = 1) did not change the gold.

With real weights and data: the judgements would be people's (the browser experiment's CSV, or a
preference dataset), the extractor a pretrained network, and the gold a held-out set of human judgements
of the optimised images rather than a pixel count; the optimiser could be a generator's input
(``optimize_images(generator=...)``) instead of pixels, which keeps the images on the generator's manifold.

Run: ``python analyses/learned_reward_hacking.py [--out DIR] [--quick]``; writes ``history.csv``,
``seeds.csv``, ``summary.csv``, ``differences.csv``, ``overoptimization.png`` and ``optimized_images.png``
(``--quick``: 2 seeds, fewer scenes and steps, under a minute).
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

from neuroperception.features import load_model  # noqa: E402
from neuroperception.features.hooks import record  # noqa: E402
from neuroperception.plotting import save_figure  # noqa: E402
from neuroperception.rewards import PreferenceReward, optimize_images  # noqa: E402
from neuroperception.world import render_scenes  # noqa: E402

HERE = Path(__file__).resolve().parent


def _preference_study():
    """``analyses/preference_study.py`` as a module (its planted utility and judgement sampler)."""
    if "preference_study" not in sys.modules:
        spec = importlib.util.spec_from_file_location("preference_study", HERE / "preference_study.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["preference_study"] = module
        spec.loader.exec_module(module)
    return sys.modules["preference_study"]


OBJECTIVES = ("single head", "ensemble mean", "ensemble mean - std")
K_STD = 1.0
FLIP = 0.1


def gold_utility(images: torch.Tensor) -> torch.Tensor:
    """Red area: the percentage of pixels whose ``R − 2 max(G, B)`` exceeds 0.15 (soft, width 0.04)."""
    r, g, b = images[:, 0], images[:, 1], images[:, 2]
    return 100 * torch.sigmoid((r - 2 * torch.maximum(g, b) - 0.15) / 0.04).mean(dim=(1, 2))


_CNN = None


def pool_features(images: torch.Tensor) -> torch.Tensor:
    """world:cnn ``pool`` features with gradients (the extractor of ``preference_study.cnn_features``)."""
    global _CNN
    _CNN = _CNN or load_model("world:cnn")
    with record(_CNN.module, ["pool"], detach=False, stop=True) as acts:
        _CNN(images)
    return acts["pool"].reshape(images.shape[0], -1)


def conservative(model: PreferenceReward, k: float):
    """The ensemble's ``mean − k·std`` utility, a differentiable reward ``images -> (B,)``."""

    def reward(images: torch.Tensor) -> torch.Tensor:
        u = model.utilities(images)
        return u.mean(0) - k * u.std(0)

    return reward


def world(seed: int, n_scenes: int):
    """Scenes by id, the gold utility by id and its Spearman correlation with the planted utility."""
    scenes = render_scenes(n_scenes, n_objects=1, random_state=seed)
    table = dict(zip(scenes.ids, scenes.images.images))
    gold = gold_utility(scenes.images.images).numpy()
    planted = _preference_study().planted_utility(scenes.objects)
    return table, dict(zip(scenes.ids, gold.astype(float))), float(stats.spearmanr(gold, planted)[0])


def run_seed(seed: int, quick: bool) -> tuple[pd.DataFrame, dict]:
    study = _preference_study()
    table, gold, rho = world(seed, 300 if quick else 800)
    ids = np.array(list(table))
    rng = np.random.default_rng(seed)
    split = rng.permutation(ids.size)
    n_start = 8 if quick else 16
    start_ids, train_ids = ids[split[:n_start]], ids[split[n_start:]]
    train = study.judgements(train_ids, gold, 600 if quick else 1500, rng, flip=FLIP)
    held = study.judgements(ids[split[n_start:]], gold, 500, np.random.default_rng([seed, 1]))
    kw = dict(lr=0.02, max_epochs=150, random_state=seed)
    single = PreferenceReward(pool_features, **kw).fit(table, train)
    ensemble = PreferenceReward(pool_features, n_ensemble=5, **kw).fit(table, train)
    proxies = {"single head": single, "ensemble mean": ensemble, "ensemble mean - std": conservative(ensemble, K_STD)}
    init = torch.stack([table[i] for i in start_ids])
    frames, finals = [], {}
    for name, proxy in proxies.items():
        history, images = optimize_images(proxy, init, steps=60 if quick else 200, lr=0.01,
                                          judge={"gold": gold_utility, "uncertainty": ensemble.uncertainty},
                                          record_every=10)
        frames.append(history.assign(seed=seed, objective=name))
        finals[name] = images
    info = {"seed": seed, "spearman gold vs planted": rho, "single accuracy": single.score(table, held),
            "ensemble accuracy": ensemble.score(table, held), "init": init, "finals": finals}
    return pd.concat(frames, ignore_index=True), info


def _interval(v: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
    return v.mean(), v.mean() - half, v.mean() + half


def per_seed(history: pd.DataFrame) -> pd.DataFrame:
    """Per seed and objective: gold and proxy at the start, the end and the gold's peak (means over images).

    The proxy's change is in units of its own spread over the start images (the proxies differ in scale).
    """
    rows = []
    for (seed, objective), g in history.groupby(["seed", "objective"], sort=False):
        curve = g.groupby("step")[["reward", "gold", "uncertainty"]].mean()
        first = g[g["step"] == g["step"].min()]
        spread = max(float(first["reward"].std()), 1e-8)
        rows.append({"seed": seed, "objective": objective,
                     "proxy gain (start sd)": (curve["reward"].iloc[-1] - curve["reward"].iloc[0]) / spread,
                     "gold start": curve["gold"].iloc[0], "gold end": curve["gold"].iloc[-1],
                     "gold change": curve["gold"].iloc[-1] - curve["gold"].iloc[0],
                     "gold peak change": curve["gold"].max() - curve["gold"].iloc[0],
                     "gold peak step": int(curve["gold"].idxmax()),
                     "uncertainty change": curve["uncertainty"].iloc[-1] - curve["uncertainty"].iloc[0]})
    return pd.DataFrame(rows)


def summarise(seeds: pd.DataFrame) -> pd.DataFrame:
    """Mean and t 95 % interval over seeds of every per-seed column, per objective."""
    rows = []
    for objective, g in seeds.groupby("objective", sort=False):
        row = {"objective": objective, "n_seeds": len(g)}
        for col in ("proxy gain (start sd)", "gold change", "gold peak change", "uncertainty change"):
            row[col], row[f"{col} low"], row[f"{col} high"] = _interval(g[col])
        rows.append(row)
    return pd.DataFrame(rows)


def differences(seeds: pd.DataFrame, baseline: str = "single head") -> pd.DataFrame:
    """Paired (over seeds) difference of the gold change: each ensemble objective minus the single head."""
    wide = seeds.pivot(index="seed", columns="objective", values="gold change")
    rows = []
    for objective in wide.columns:
        if objective == baseline:
            continue
        m, lo, hi = _interval(wide[objective] - wide[baseline])
        rows.append({"comparison": f"{objective} - {baseline}", "gold change difference": m, "low": lo, "high": hi,
                     "n_seeds": len(wide)})
    return pd.DataFrame(rows)


def plot_curves(history: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for objective, g in history.groupby("objective", sort=False):
        curves = g.groupby(["seed", "step"])[["reward", "gold"]].mean().reset_index()
        start = curves.groupby("seed")["reward"].transform("first")
        spread = g[g["step"] == 0].groupby("seed")["reward"].std()
        curves["proxy"] = (curves["reward"] - start) / curves["seed"].map(spread)
        for ax, col in zip(axes, ("proxy", "gold")):
            stat = curves.groupby("step")[col].agg(["mean", "std", "count"])
            half = stats.t.ppf(0.975, np.maximum(stat["count"] - 1, 1)) * stat["std"] / np.sqrt(stat["count"])
            ax.plot(stat.index, stat["mean"], label=objective)
            ax.fill_between(stat.index, stat["mean"] - half, stat["mean"] + half, alpha=0.2)
    axes[0].set_ylabel("proxy gain (sd of start images)")
    axes[1].set_ylabel("gold: red area (% of pixels)")
    for ax in axes:
        ax.set_xlabel("optimisation step")
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle("Pixels optimised against learned rewards: proxy vs gold (mean, t 95 % over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_images(info: dict, n: int = 4):
    rows = ["start"] + list(info["finals"])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.6 * n, 1.7 * len(rows)))
    for r, name in enumerate(rows):
        images = info["init"] if name == "start" else info["finals"][name]
        gold = gold_utility(images)
        for c in range(n):
            axes[r, c].imshow(images[c].permute(1, 2, 0).clamp(0, 1).numpy())
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            axes[r, c].set_title(f"gold {float(gold[c]):.1f}", fontsize=7)
        axes[r, 0].set_ylabel(name, fontsize=7)
    fig.tight_layout()
    return fig


def run(out: Path, quick: bool = False) -> dict[str, pd.DataFrame]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = [run_seed(s, quick) for s in range(2 if quick else 5)]
    history = pd.concat([h for h, _ in results], ignore_index=True)
    seeds = per_seed(history).merge(pd.DataFrame([{k: v for k, v in i.items() if k not in ("init", "finals")}
                                                  for _, i in results]), on="seed")
    summary = summarise(seeds)
    diffs = differences(seeds)
    history.to_csv(out / "history.csv", index=False)
    seeds.to_csv(out / "seeds.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    diffs.to_csv(out / "differences.csv", index=False)
    save_figure(plot_curves(history), out / "overoptimization.png")
    save_figure(plot_images(results[0][1]), out / "optimized_images.png")
    return {"history": history, "seeds": seeds, "summary": summary, "differences": diffs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "learned_reward_hacking")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tables = run(args.out, quick=args.quick)
    print(tables["seeds"].round(3).to_string(index=False))
    print(tables["summary"].round(3).to_string(index=False))
    print(tables["differences"].round(3).to_string(index=False))


if __name__ == "__main__":
    main()
