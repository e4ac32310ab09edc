"""Search asymmetry with the world CNN: eccNET's asymmetry index of a trained backbone, over seeds.

Mirrors eccNET (Gupta et al. 2021, *Visual search asymmetry: deep nets and humans share similar
inherent biases*): finding A among B is easier than B among A for humans (a Q among Os, a tilted bar
among vertical ones, a curved bar among straight ones), and an eccentricity-dependent search model
on an ImageNet-trained VGG-16 shares the polarity. The asymmetry index of a pair,
``(s_H - s_L) / (s_H + s_L)`` on the reaction-time slopes of the human-harder (H) and human-easier
(L) condition, is positive when the human-harder condition is also harder for the model; the
paper's means over its six experiments are 0.564 for humans and 0.513 for eccNET.

Here the backbone is the miniature world's trained CNN (``VisualSearch("world:cnn")``: with
``weights=None`` the registry loads the trained weights shipped with the package; its last three
pooling layers ``conv2.pool``, ``conv3.pool``, ``conv4.pool`` are the target-matching layers and
carry eccNET's last three eccentricity slopes 0.07, 0.16, 0.32; ``similarity="dot"``, the published
model). Beside it run the same architecture with seeded random weights (``weights="random"``, a new
init per seed) and ``RandomSearch`` (the chance baseline: fixations to find the target grow as
``(k + 1) / 2`` in both directions, so its index is 0 in expectation). Each seed draws new displays
for ``search_asymmetry_experiment`` on the library's three pairs (``DEFAULT_PAIRS``: Q/O,
tilted/vertical, curved/straight, i.e. six search conditions; eccNET's six experiments overlap
them in curvature and orientation only, so the references are a yardstick). Every number is a mean
over seeds with a t 95 % interval; a direction *matches* when the interval lies above 0, is
*reversed* when it lies below 0, and is *not established* otherwise. The trained-minus-random
difference is paired within seeds (the same displays).

Found (full run: 5 seeds, set sizes 4, 8, 16, 8 displays per condition and set size, 128 px;
mean [t 95 % interval] over seeds). **The direction does not reproduce with the trained world
CNN.** Its mean index is 0.09 [-0.10, 0.28], positive but with an interval that includes 0 and lies
below the humans' 0.564 and eccNET's 0.513. No pair's direction is established: Q/O -0.00 [-0.15,
0.15], tilted/vertical 0.24 [-0.17, 0.65], curved/straight 0.04 [-0.25, 0.33]. The random init
gives 0.16 [-0.05, 0.36] (pairs 0.09, 0.26, 0.12) and random search 0.02 [-0.09, 0.12]. Training
does not raise the index: trained minus random init, paired by seed, is -0.07 [-0.20, 0.07]. The
reason shows in ``efficiency.csv``: with eccNET's dot-product matching the trained CNN barely
guides search on these arrays. At 16 items it needs 7.5 [6.9, 8.0] fixations, random search 7.9
[7.6, 8.2] (difference -0.43 [-1.20, 0.33]), so its slopes are those of serial search in both
directions (about 80-130 ms per item against random search's 105-125).

A side run with the matching the repository used for random-init backbones
(``--similarity centered``, the same seeds; its numbers are not in this run's tables) guides better.
The trained CNN needs 6.2 [5.8, 6.6] fixations at 16 items, 1.7 [1.1, 2.2] fewer than random
search. Its mean index is still 0.01 [-0.28, 0.30] (pairs -0.10, 0.19, -0.07). The random init's is
0.24 [0.11, 0.38]: the direction matches there, on the mean and on tilted/vertical (0.36 [0.03,
0.70]). Training on the world's filled, coloured shapes lowers curved/straight by 0.37 [0.01, 0.73].
So the asymmetry these arrays show comes from the architecture and the pixels, not from what the
world CNN learnt. That fits the paper's account, in which the asymmetries come from natural-image
statistics the world never shows the network. The quick run (3 seeds of 1 display, set sizes 4
and 8: what the gallery shows) has intervals too wide to say anything.

With real weights, eccNET's own backbone is ``VisualSearch("torchvision:vgg16", weights="<path to
ImageNet VGG-16 state dict>", similarity="dot")`` with its default layers (the last three pooling
layers); put it in place of the trained entry of ``make_model`` and the rest runs unchanged. The
world CNN has seen only the world's flat shapes, not the natural images whose statistics the paper
holds responsible for the asymmetries.

Run: ``python analyses/search_study.py [--out DIR] [--quick]``; writes ``pairs.csv`` (one row per
seed, model and pair), ``summary.csv`` (means, intervals and the direction verdicts beside humans
and eccNET), ``differences.csv`` (trained minus random init, paired by seed), ``fixations.csv``,
``efficiency.csv`` (fixations to find the target against chance and random search),
``asymmetry_index.png``, ``search_slopes.png`` and ``search_scanpaths.png`` (``--quick``: 3 seeds
of one display per condition and set size, seconds; the full run: about six minutes on one thread).
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
from scipy import stats  # noqa: E402

from neuroperception.errors import RandomWeightsWarning  # noqa: E402
from neuroperception.plotting import plot_scanpaths, save_figure  # noqa: E402
from neuroperception.scanpaths import (DEFAULT_PAIRS, ECCNET_ASYMMETRY_INDEX, HUMAN_ASYMMETRY_INDEX,  # noqa: E402
                                       RandomSearch, VisualSearch, search_asymmetry_experiment)
from neuroperception.stimuli.search_arrays import search_array  # noqa: E402

HERE = Path(__file__).resolve().parent
SPEC = "world:cnn"
#: the world CNN's last three pooling layers (eccNET matches the target at VGG-16's last three)
LAYERS = ("conv2.pool", "conv3.pool", "conv4.pool")
TRAINED, RANDOM_INIT, CHANCE = "world:cnn (trained)", "world:cnn (random init)", "random search"
MODELS = (TRAINED, RANDOM_INIT, CHANCE)
REFERENCES = {"humans (Gupta et al. 2021)": HUMAN_ASYMMETRY_INDEX,
              "eccNET (Gupta et al. 2021)": ECCNET_ASYMMETRY_INDEX}
PAIRS = tuple(f"{a}/{b}" for a, b in DEFAULT_PAIRS)


def settings(quick: bool) -> dict:
    """Seeds and display settings of the quick and the full run."""
    if quick:
        return dict(seeds=(0, 1, 2), set_sizes=(4, 8), n_trials=1, size=96)
    return dict(seeds=(0, 1, 2, 3, 4), set_sizes=(4, 8, 16), n_trials=8, size=128)


def make_model(name: str, seed: int, max_fixations: int, similarity: str = "dot"):
    """One of ``MODELS``; the random init is drawn anew per seed."""
    if name == CHANCE:
        return RandomSearch(max_fixations=max_fixations, random_state=seed)
    weights = None if name == TRAINED else "random"  # None: the trained weights shipped with the package
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomWeightsWarning)
        return VisualSearch(SPEC, weights=weights, layers=LAYERS, similarity=similarity, max_fixations=max_fixations,
                            random_state=seed)


def interval(values) -> tuple[float, float, float]:
    """Mean and t 95 % interval of ``values`` (one per seed)."""
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def verdict(low: float, high: float) -> str:
    """The direction against the humans' (positive: the human-harder condition is harder for the model)."""
    if low > 0:
        return "matches (interval above 0)"
    if high < 0:
        return "reversed (interval below 0)"
    return "not established (interval includes 0)"


def one_seed(seed: int, set_sizes, n_trials: int, size: int,
             similarity: str = "dot") -> tuple[list[dict], pd.DataFrame]:
    """Pair rows (each pair and the mean) and per-condition fixations of every model on one seed's displays."""
    rows, conditions = [], []
    for name in MODELS:
        model = make_model(name, seed, max_fixations=max(set_sizes), similarity=similarity)
        res = search_asymmetry_experiment(model, pairs=DEFAULT_PAIRS, set_sizes=set_sizes, n_trials=n_trials,
                                          size=size, random_state=seed)
        for _, p in res.pairs.iterrows():
            rows.append({"seed": seed, "model": name, "pair": p["pair"], "easy": p["easy"], "hard": p["hard"],
                         "slope_easy": p["slope_easy"], "slope_hard": p["slope_hard"],
                         "asymmetry_index": p["asymmetry_index"]})
        rows.append({"seed": seed, "model": name, "pair": "mean", "asymmetry_index": res.asymmetry_index})
        conditions.append(res.conditions.assign(seed=seed, model=name))
    return rows, pd.concat(conditions, ignore_index=True)


def efficiency(fixations: pd.DataFrame) -> pd.DataFrame:
    """How much the target guides search at all: fixations to find it per model and set size (mean over all
    six conditions, interval over seeds) beside chance, ``(k + 1) / 2``, and the model minus random search."""
    per_seed = fixations.groupby(["model", "set_size", "seed"])["n_fixations"].mean().unstack("model")
    rows = []
    for k, g in per_seed.groupby(level="set_size"):
        for model in MODELS:
            mean, lo, hi = interval(g[model])
            d_mean, d_lo, d_hi = interval(g[model] - g[CHANCE])
            rows.append({"model": model, "set_size": k, "fixations": mean, "ci_low": lo, "ci_high": hi,
                         "chance (k + 1) / 2": (k + 1) / 2, "minus random search": d_mean,
                         "diff ci_low": d_lo, "diff ci_high": d_hi})
    return pd.DataFrame(rows)


def summarise(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Across-seed means, intervals and verdicts per model and pair; trained minus random init, paired by seed."""
    rows = []
    for (model, pair), g in pairs.groupby(["model", "pair"], sort=False):
        mean, lo, hi = interval(g["asymmetry_index"])
        rows.append({"model": model, "pair": pair, "asymmetry_index": mean, "ci_low": lo, "ci_high": hi,
                     "n_seeds": len(g), "direction": verdict(lo, hi),
                     "includes humans (0.564)": bool(lo <= HUMAN_ASYMMETRY_INDEX <= hi),
                     "slope_easy": g["slope_easy"].mean(), "slope_hard": g["slope_hard"].mean()})
    rows += [{"model": ref, "pair": "mean", "asymmetry_index": value, "direction": "published"}
             for ref, value in REFERENCES.items()]
    summary = pd.DataFrame(rows)
    wide = pairs.pivot_table(index=["seed", "pair"], columns="model", values="asymmetry_index").reset_index()
    diffs = []
    for pair, g in wide.groupby("pair", sort=False):
        for other in (RANDOM_INIT, CHANCE):
            mean, lo, hi = interval(g[TRAINED] - g[other])
            diffs.append({"pair": pair, "difference": f"{TRAINED} minus {other}", "mean": mean, "ci_low": lo,
                          "ci_high": hi, "n_seeds": len(g), "separated from 0": bool(lo > 0 or hi < 0)})
    order = {p: i for i, p in enumerate(PAIRS + ("mean",))}
    differences = pd.DataFrame(diffs).sort_values("pair", key=lambda s: s.map(order), kind="stable")
    return summary, differences.reset_index(drop=True)


# ---------------------------------------------------------------------------------------- figures
def plot_index(summary: pd.DataFrame):
    """Each pair's index and the mean per model (mean and 95 % interval over seeds, drawn inside the index's
    range [-1, 1]), humans and eccNET as lines."""
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    groups = PAIRS + ("mean",)
    x = np.arange(len(groups))
    width = 0.8 / len(MODELS)
    for j, (model, colour) in enumerate(zip(MODELS, ("C0", "C1", "grey"))):
        s = summary[summary["model"] == model].set_index("pair").loc[list(groups)]
        low, high = s["ci_low"].clip(-1, 1), s["ci_high"].clip(-1, 1)  # the index lives in [-1, 1]
        ax.bar(x + (j - (len(MODELS) - 1) / 2) * width, s["asymmetry_index"], width, color=colour, label=model,
               yerr=[s["asymmetry_index"] - low, high - s["asymmetry_index"]], capsize=3)
    for (ref, value), style in zip(REFERENCES.items(), ("-", "--")):
        ax.axhline(value, color="k", linestyle=style, linewidth=1, label=f"{ref}: {value}")
    ax.axhline(0, color="k", linewidth=0.5)
    ax.set_xticks(x, [g.replace("/", " / ") for g in groups])
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("asymmetry index (> 0: as humans)")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return fig


def plot_slopes(fixations: pd.DataFrame):
    """Fixations to find the target against set size, per pair and condition (mean over seeds), with chance."""
    fig, axes = plt.subplots(1, len(PAIRS), figsize=(4 * len(PAIRS), 3.4), layout="constrained", sharey=True)
    set_sizes = np.unique(fixations["set_size"])
    for ax, pair in zip(np.atleast_1d(axes), PAIRS):
        g = fixations[fixations["pair"] == pair]
        for model, style in zip((TRAINED, RANDOM_INIT), ("-", "--")):
            for difficulty, colour in (("easy", "C2"), ("hard", "C3")):
                part = g[(g["model"] == model) & (g["difficulty"] == difficulty)]
                mean = part.groupby("set_size")["n_fixations"].mean()
                label = f"{part['condition'].iloc[0]} ({model.split(' ', 1)[1][1:-1]})"
                ax.plot(mean.index, mean.values, style, marker="o", color=colour, label=label)
        ax.plot(set_sizes, (set_sizes + 1) / 2, ":", color="grey", label="chance, (k + 1) / 2")
        ax.set_title(pair, fontsize=9)
        ax.set_xlabel("set size")
        ax.legend(frameon=False, fontsize=6)
    np.atleast_1d(axes)[0].set_ylabel("fixations to find the target")
    return fig


def plot_examples(size: int, seed: int = 0, similarity: str = "dot"):
    """The trained model's scanpaths on one display of each condition of each pair (set size 8)."""
    model = make_model(TRAINED, seed, max_fixations=8, similarity=similarity)
    fig, axes = plt.subplots(2, len(DEFAULT_PAIRS), figsize=(3.4 * len(DEFAULT_PAIRS), 6.6), squeeze=False)
    for col, (a, b) in enumerate(DEFAULT_PAIRS):
        for row, (t, d) in enumerate(((a, b), (b, a))):
            arr = search_array(t, d, set_size=8, size=size, n=1, random_state=seed)
            sp, n_fix = model.search(arr)
            found = "not found" if np.isnan(n_fix[0]) else f"found after {n_fix[0]:.0f}"
            plot_scanpaths(arr.images.images, sp.arrays(), ax=axes[row, col], labels=["world:cnn"],
                           title=f"{t} among {d}: {found}")
    fig.tight_layout()
    return fig


def run(out_dir: Path, quick: bool = False, seeds=None, similarity: str = "dot") -> dict[str, pd.DataFrame]:
    cfg = settings(quick)
    seeds = tuple(seeds) if seeds is not None else cfg["seeds"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, fixations = [], []
    for seed in seeds:
        r, f = one_seed(seed, cfg["set_sizes"], cfg["n_trials"], cfg["size"], similarity)
        rows += r
        fixations.append(f)
    tables = {"pairs": pd.DataFrame(rows), "fixations": pd.concat(fixations, ignore_index=True)}
    tables["summary"], tables["differences"] = summarise(tables["pairs"])
    tables["efficiency"] = efficiency(tables["fixations"])
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False)
    save_figure(plot_index(tables["summary"]), out_dir / "asymmetry_index.png")
    save_figure(plot_slopes(tables["fixations"]), out_dir / "search_slopes.png")
    save_figure(plot_examples(cfg["size"], similarity=similarity), out_dir / "search_scanpaths.png")
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "search_study")
    parser.add_argument("--quick", action="store_true",
                        help="3 seeds of one display per condition and set size (seconds)")
    parser.add_argument("--similarity", default="dot", choices=("dot", "cosine", "centered"),
                        help="VisualSearch's target matching (default: eccNET's dot product)")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick, similarity=args.similarity)
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        print(tables["summary"].round(3).to_string(index=False))
        print(tables["differences"].round(3).to_string(index=False))
        print(tables["efficiency"].round(3).to_string(index=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
