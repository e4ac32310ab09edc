"""Which layer's similarity drives a judgement? De-correlated triplets, planted observers and a layer sweep.

Mirrors "What makes a face look like a hat" (Piriyajitakonkij, Itthipuripat, Ballard & Pappas 2024):
image triplets (a reference and two options) in which the similarity of an early layer (VGG-16) and of
a late layer (CORnet-S IT) are de-correlated, so that people's choices of the option more like the
reference reveal which level they follow. Their headline: CORnet-S outperforms VGG-16 in explaining
choices driven by high-level similarity, VGG-16 outperforms CORnet-S for choices driven by low-level
similarity, and the layers' behavioural predictivity follows their place in the visual hierarchy.

Here everything lives in the miniature world, on one-object scenes (``render_scenes(n, n_objects=1)``)
and its trained world:cnn. Per seed: (1) ``generate_triplets`` fills a grid of (delta low, delta high)
cells with the low level from world:cnn ``conv1`` and the high level from its ``pool`` (both averaged
over space, correlation distance), and the achieved |r(delta low, delta high)| is reported; (2) three
groups of simulated observers with a planted standardised share of shape against colour (colour-driven
0.2, mixed 0.5, shape-driven 0.8, 2.5 log-odds per standard deviation of evidence) answer
``attribute_triplets`` (colour and shape favour A or B independently) through ``simulate_judgements``,
and ``fit_choice_model`` must recover each group's share inside its bootstrap 95 % interval; the same
is checked on the generated triplets with observers planted on the two levels' deltas
(``simulate_observers``); the attribute observers also answer the generated triplets, and the share of
``pool`` fitted on them is the paper's question asked of the world; (3) a model-by-layer sweep: for every
layer of world:cnn (``conv1`` ... ``conv4``, ``pool``, ``fc``) and world:clip's image embedding, the
distance difference of that layer alone predicts each group's choices on held-out triplets (logistic,
5-fold over triplets: accuracy and log-likelihood per response), beside the planted model's own score
(the ceiling). Every number is a mean over seeds with a t 95 % interval; a direction holds when the
interval of the paired per-seed difference excludes 0.

Found (full run: 5 seeds of 600 one-object scenes, 144 generated triplets on a 6 x 6 grid, 600 attribute
triplets, 20 observers per group; mean [t 95 % interval] over seeds). The generator keeps the levels
de-correlated: |r(delta conv1, delta pool)| is at most 0.016 (0.007-0.016 per seed), congruent and
incongruent triplets 72 / 72. The choice model recovers every planted share inside its bootstrap 95 %
interval (5 of 5 seeds per group): 0.20 [0.20, 0.21], 0.50 [0.49, 0.51], 0.80 [0.79, 0.80] for
colour-driven, mixed and shape-driven observers on the attribute triplets, and 0.21, 0.50, 0.80 for
observers planted on the two levels of the generated triplets. The layer sweep reproduces the paper's
dissociation in direction: shape-driven observers are predicted by the late layers (held-out accuracy
conv4 0.72, pool 0.72 [0.70, 0.73], fc 0.72 [0.71, 0.73]; planted model 0.76) and not by conv1 (0.52
[0.50, 0.53]; pool minus conv1 +0.20 [0.18, 0.22]), colour-driven observers by conv1 (0.61 [0.58, 0.64])
more than by pool (0.55 [0.53, 0.57]; conv1 minus pool +0.056 [0.036, 0.076], in log-likelihood per
response +0.028 [0.017, 0.039]). Two things do not reproduce. For colour-driven observers no world:cnn
layer is good: conv1 reaches 0.61 against the planted model's 0.77, conv2 and conv3 are at chance
(0.52), and the best predictor is world:clip's embedding (0.65 [0.64, 0.66]; minus conv1 +0.044 [0.024,
0.064]). Averaged over the whole image, an early layer's response is mostly background; the object's
colour, which probes on the object's own pixels read at 1.00 from conv1 and 0.985 from conv2, is
diluted. And the generated triplets can hardly show a shape-driven observer: at most 1 of the 144
contrasts shape (one option sharing the reference's category, the other not; none in three of five
seeds; ``shape_contrast`` in ``generation.csv``), because world:cnn's pool distance is dominated by
category, so such a contrast lies beyond the grid's +-1.5 standard deviations (seed 0: median -2.9,
within +-1.5 for 0.6 % of such triplets); the grid samples the pool differences within a category
relation, which the simulated observers ignore. Their fitted share of pool there does not separate
shape-driven from colour-driven observers (difference 0.13 [-0.11, 0.37]). The quick run (3 seeds of 240
scenes: what the gallery shows) keeps |r| below 0.01 and the recoveries, but its conv1-minus-pool
accuracy interval for colour-driven observers includes 0.

With real weights and human data the code is the same: load VGG-16 and CORnet-S with their ImageNet
weights (``load_model("torchvision:vgg16", weights="DEFAULT")``, the CORnet-S checkpoint by path), pass
them as the two levels of ``generate_triplets`` on a photograph pool, export the triplets as a browser
experiment with ``export_experiment`` (done here into ``experiment/``), collect the CSVs and fit
``load_experiment_responses(csvs, triplets)`` with ``fit_choice_model`` and the layer sweep instead of
the simulated observers. People have no planted share: the fitted share and the best layer are then the
answer, and no ceiling is known beyond the split-half consistency of the responses.

Run: ``python analyses/triplet_study.py [--out DIR] [--quick]``; writes ``grid.png``, ``examples.png``,
``choice_weights.png``, ``layer_sweep.png``, ``triplets.csv`` (the first seed's generated triplets),
``generation.csv``, ``recovery.csv``, ``recovery_summary.csv``, ``choice_model.csv``, ``sweep.csv``,
``sweep_summary.csv``, ``directions.csv`` and ``experiment/`` (``--quick``: under half a minute; the
full run: a few minutes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from neuroperception.behaviour import (attribute_triplets, export_experiment, fit_choice_model,  # noqa: E402
                                       generate_triplets, simulate_judgements, simulate_observers)
from neuroperception.behaviour.observers import ATTRIBUTES, _distances, _items  # noqa: E402
from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.plotting import save_figure  # noqa: E402
from neuroperception.plotting.choice import plot_choice_weights  # noqa: E402
from neuroperception.plotting.triplets import plot_triplet_grid, plot_triplets  # noqa: E402
from neuroperception.world import render_scenes  # noqa: E402

HERE = Path(__file__).resolve().parent
LOW, HIGH = "conv1", "pool"
CNN_LAYERS = ("conv1", "conv2", "conv3", "conv4", "pool", "fc")
LAYERS = (*CNN_LAYERS, "clip")  # "clip": world:clip's image embedding
#: Planted standardised share of shape (the high attribute) against colour, per observer group.
OBSERVERS = {"colour-driven": 0.2, "mixed": 0.5, "shape-driven": 0.8}
STRENGTH = 2.5  # log-odds per standard deviation of the combined evidence
N_FOLDS = 5
MAX_R = 0.05


def settings(quick: bool) -> dict:
    if quick:
        return {"seeds": (0, 1, 2), "n_pool": 240, "n_grid": 64, "n_bins": 4, "n_attribute": 240,
                "n_observers": 10, "n_bootstrap": 200}
    return {"seeds": (0, 1, 2, 3, 4), "n_pool": 600, "n_grid": 144, "n_bins": 6, "n_attribute": 600,
            "n_observers": 20, "n_bootstrap": 1000}


def interval(values) -> tuple[float, float, float]:
    """Mean and t 95 % interval of ``values`` (one per seed)."""
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def layer_deltas(table: pd.DataFrame, feats) -> np.ndarray:
    """``d(ref, A) - d(ref, B)`` in correlation distance of one layer's features, per triplet."""
    x = np.asarray(feats.values, dtype=np.float64).reshape(len(feats), -1)
    x = x - x.mean(1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    pos = {k: i for i, k in enumerate(feats["stimulus_id"].values.astype(str))}
    ref, a, b = ([pos[i] for i in table[c]] for c in ("ref", "option_a", "option_b"))
    return np.sum(x[ref] * x[b], 1) - np.sum(x[ref] * x[a], 1)


def with_attributes(table: pd.DataFrame, scenes) -> pd.DataFrame:
    """The generated triplets with the attribute distances ``simulate_judgements`` reads (``d_<attr>_a|b|ab``)."""
    items = _items(scenes)
    pos = {k: i for i, k in enumerate(items.index)}
    ref, a, b = (np.array([pos[i] for i in table[c]]) for c in ("ref", "option_a", "option_b"))
    out = table.copy()
    for suffix, (i, j) in {"a": (ref, a), "b": (ref, b), "ab": (a, b)}.items():
        for attr, d in _distances(items, i, j).items():
            out[f"d_{attr}_{suffix}"] = d
    for attr in ATTRIBUTES:
        out[f"delta_{attr}"] = out[f"d_{attr}_a"] - out[f"d_{attr}_b"]
    return out


def attribute_weights(triplets: pd.DataFrame, share: float) -> dict[str, float]:
    """Per-unit colour and shape weights, standardised ``STRENGTH * (1 - share)`` and ``STRENGTH * share``."""
    sd = triplets[["delta_colour", "delta_shape"]].to_numpy(dtype=float).std(axis=0)
    return {"colour": STRENGTH * (1 - share) / sd[0], "shape": STRENGTH * share / sd[1]}


def held_out_scores(delta: np.ndarray, answers: pd.DataFrame, triplet_ids: np.ndarray, seed: int) -> dict:
    """Held-out accuracy and log-likelihood per response of ``P(A) = sigmoid(b0 - b * delta / sd)``.

    Five folds of triplets: all responses to a triplet are held out together.
    """
    row = pd.Index(triplet_ids).get_indexer(answers["triplet"])
    y = answers["chose_a"].to_numpy(float)
    keep = np.isfinite(y)
    row, y = row[keep], y[keep]
    x = -delta / delta.std()
    fold = np.random.default_rng([seed, 7]).permutation(len(triplet_ids)) % N_FOLDS
    correct, loglik = np.empty(len(y)), np.empty(len(y))
    for k in range(N_FOLDS):
        test = fold[row] == k
        xt, yt = x[row[~test]], y[~test]
        beta = np.zeros(2)
        design = np.column_stack([np.ones(len(xt)), xt])
        for _ in range(50):  # Newton, with a tiny ridge that keeps separable folds finite
            p = 1 / (1 + np.exp(-design @ beta))
            grad = design.T @ (yt - p) - 1e-3 * np.r_[0, beta[1]]
            hess = (design * (p * (1 - p))[:, None]).T @ design + np.diag([1e-9, 1e-3])
            step = np.linalg.solve(hess, grad)
            beta += step
            if np.abs(step).max() < 1e-10:
                break
        eta = beta[0] + beta[1] * x[row[test]]
        correct[test] = (eta > 0) == (y[test] == 1)
        loglik[test] = y[test] * eta - np.logaddexp(0, eta)
    return {"accuracy": float(correct.mean()), "log_likelihood": float(loglik.mean())}


def ceiling(answers: pd.DataFrame) -> dict:
    """The planted model's own accuracy and log-likelihood per response on the same answers."""
    p = answers["p_a"].to_numpy(float)
    y = answers["chose_a"].to_numpy(float)
    return {"accuracy": float(np.mean((p > 0.5) == (y == 1))),
            "log_likelihood": float(np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))}


def _recovery_row(seed, name, share, data, fit) -> dict:
    est = fit.loc["high_share"]
    return {"seed": seed, "observer": name, "triplets": data, "planted_high_share": share,
            "high_share": est["estimate"], "ci_low": est["ci_low"], "ci_high": est["ci_high"],
            "inside": bool(est["ci_low"] <= share <= est["ci_high"]) if np.isfinite(share) else None,
            "w_low_std": fit.loc["low", "estimate"], "w_high_std": fit.loc["high", "estimate"],
            "accuracy": fit.attrs["accuracy"], "n_responses": fit.attrs["n_responses"]}


def one_seed(seed: int, cfg: dict, cnn, clip) -> dict:
    """Generation, recovery and sweep rows of one seed (its own pool, triplets and observers)."""
    pool = render_scenes(cfg["n_pool"], n_objects=1, random_state=seed, id_prefix="pool")
    feats = extract(cnn, pool.images, list(CNN_LAYERS), pooling="avg", progress=False)
    feats["clip"] = extract(clip, pool.images, ["output"], pooling=None, progress=False)["output"]
    grid = generate_triplets({"low": feats[LOW], "high": feats[HIGH]}, n_triplets=cfg["n_grid"],
                             n_bins=cfg["n_bins"], pca=None, random_state=seed, progress=False)
    r = float(grid.attrs["r_low_high"])
    generation = {"seed": seed, "n_pool": len(pool), "n_triplets": len(grid), "n_bins": cfg["n_bins"],
                  "r_low_high": r, "abs_r": abs(r), "within_0.05": abs(r) <= MAX_R,
                  "congruent": int((grid["condition"] == "congruent").sum()),
                  "incongruent": int((grid["condition"] == "incongruent").sum())}
    grid_attr = with_attributes(grid, pool)
    generation["shape_contrast"] = float(np.mean(grid_attr["delta_shape"] != 0))
    generation["colour_contrast"] = float(np.mean(grid_attr["delta_colour"] != 0))
    attr = attribute_triplets(pool, cfg["n_attribute"], low="colour", high="shape", random_state=seed)
    ids = attr["triplet"].to_numpy()
    deltas = {layer: layer_deltas(attr, feats[layer]) for layer in LAYERS}
    recovery, sweep, fits = [], [], {}
    for k, (name, share) in enumerate(OBSERVERS.items()):
        nb, rs = cfg["n_bootstrap"], [seed, k]
        weights = attribute_weights(attr, share)
        answers = simulate_judgements(attr, weights, n_observers=cfg["n_observers"], random_state=int(
            np.random.default_rng(rs).integers(2**31)))
        fit = fit_choice_model(attr, answers, n_bootstrap=nb, random_state=seed)
        fits[("attributes", name)] = fit
        recovery.append(_recovery_row(seed, name, share, "attribute triplets: colour / shape", fit))
        # the same observers (same per-unit weights) on the generated triplets, read through conv1 / pool
        grid_answers = simulate_judgements(grid_attr, weights, n_observers=cfg["n_observers"],
                                           random_state=int(np.random.default_rng([*rs, 1]).integers(2**31)))
        fit = fit_choice_model(grid_attr, grid_answers, n_bootstrap=nb, random_state=seed)
        fits[("network", name)] = fit
        recovery.append(_recovery_row(seed, name, np.nan, f"generated triplets: {LOW} / {HIGH} (attribute observers)",
                                      fit))
        # observers planted on the two levels themselves: the method check of the generated design
        sd = grid[["delta_low", "delta_high"]].to_numpy(float).std(axis=0)
        level_answers = simulate_observers(grid, STRENGTH * (1 - share) / sd[0], STRENGTH * share / sd[1],
                                           n_observers=cfg["n_observers"],
                                           random_state=int(np.random.default_rng([*rs, 2]).integers(2**31)))
        fit = fit_choice_model(grid, level_answers, n_bootstrap=nb, random_state=seed)
        fits[("levels", name)] = fit
        recovery.append(_recovery_row(seed, name, share, f"generated triplets: {LOW} / {HIGH} (planted on levels)",
                                      fit))
        top = ceiling(answers)
        sweep.append({"seed": seed, "observer": name, "layer": "planted (ceiling)", **top})
        for layer in LAYERS:
            sweep.append({"seed": seed, "observer": name, "layer": layer,
                          **held_out_scores(deltas[layer], answers, ids, seed)})
    return {"generation": generation, "recovery": recovery, "sweep": sweep, "fits": fits, "grid": grid,
            "pool": pool}


def summaries(tables: dict) -> dict[str, pd.DataFrame]:
    """Across-seed intervals of recovery and sweep, and the directions with paired intervals."""
    rec = tables["recovery"]
    rows = [{"observer": o, "triplets": t, "planted_high_share": g["planted_high_share"].iloc[0],
             **dict(zip(("high_share", "ci_low", "ci_high"), interval(g["high_share"]))),
             "inside_bootstrap_ci": f"{int(g['inside'].sum())}/{len(g)}" if g["inside"].notna().all() else "",
             "n_seeds": len(g)} for (t, o), g in rec.groupby(["triplets", "observer"], sort=False)]
    recovery_summary = pd.DataFrame(rows)
    sw = tables["sweep"]
    rows = []
    for (o, layer), g in sw.groupby(["observer", "layer"], sort=False):
        acc, ll = interval(g["accuracy"]), interval(g["log_likelihood"])
        rows.append({"observer": o, "layer": layer, "accuracy": acc[0], "accuracy_ci_low": acc[1],
                     "accuracy_ci_high": acc[2], "log_likelihood": ll[0], "log_likelihood_ci_low": ll[1],
                     "log_likelihood_ci_high": ll[2], "n_seeds": len(g)})
    sweep_summary = pd.DataFrame(rows)
    rows = []
    wide = {m: sw.pivot_table(index=["observer", "seed"], columns="layer", values=m) for m in
            ("accuracy", "log_likelihood")}

    def paired(observer, first, second, metric="accuracy", claim=""):
        w = wide[metric].loc[observer]
        mean, lo, hi = interval(w[first] - w[second])
        rows.append({"observer": observer, "claim": claim or f"{first} > {second}", "metric": metric,
                     "difference": mean, "ci_low": lo, "ci_high": hi, "holds": bool(lo > 0)})

    for metric in ("accuracy", "log_likelihood"):
        paired("colour-driven", LOW, HIGH, metric, f"early beats late: {LOW} > {HIGH}")
        paired("shape-driven", HIGH, LOW, metric, f"late beats early: {HIGH} > {LOW}")
    paired("colour-driven", "clip", LOW, "accuracy", f"world:clip's embedding beats {LOW}")
    w = sweep_summary[sweep_summary["layer"].isin(LAYERS)]
    for o in OBSERVERS:
        best = w[w["observer"] == o].sort_values("accuracy", ascending=False)["layer"].iloc[0]
        rows.append({"observer": o, "claim": f"best layer by mean held-out accuracy: {best}", "metric": "accuracy",
                     "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "holds": None})
    net = rec[rec["triplets"].str.contains("attribute observers")].pivot(index="seed", columns="observer",
                                                                          values="high_share")
    mean, lo, hi = interval(net["shape-driven"] - net["colour-driven"])
    rows.append({"observer": "shape-driven vs colour-driven", "claim": f"fitted {HIGH} share on the generated "
                 "triplets is larger for shape-driven observers", "metric": "high_share", "difference": mean,
                 "ci_low": lo, "ci_high": hi, "holds": bool(lo > 0)})
    gen = tables["generation"]
    rows.append({"observer": "", "claim": f"generated triplets: |r(delta {LOW}, delta {HIGH})| <= {MAX_R} in each seed",
                 "metric": "abs_r", "difference": float(gen["abs_r"].max()), "ci_low": np.nan, "ci_high": np.nan,
                 "holds": bool((gen["abs_r"] <= MAX_R).all())})
    return {"recovery_summary": recovery_summary, "sweep_summary": sweep_summary, "directions": pd.DataFrame(rows)}


def plot_sweep(summary: pd.DataFrame):
    """Layer × observer heat map of held-out accuracy, and accuracy against layer with intervals and ceilings."""
    groups = list(OBSERVERS)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained",
                                   gridspec_kw={"width_ratios": [1, 1.3]})
    acc = summary.pivot(index="layer", columns="observer", values="accuracy").loc[list(LAYERS), groups]
    im = ax0.imshow(acc.to_numpy(), cmap="viridis", aspect="auto")
    for i, layer in enumerate(LAYERS):
        for j, o in enumerate(groups):
            r = summary[(summary["layer"] == layer) & (summary["observer"] == o)].iloc[0]
            ax0.text(j, i, f"{r['accuracy']:.2f}\n[{r['accuracy_ci_low']:.2f}, {r['accuracy_ci_high']:.2f}]",
                     ha="center", va="center", fontsize=6.5,
                     color="w" if r["accuracy"] < acc.to_numpy().mean() else "k")
    ax0.set_xticks(range(len(groups)), groups)
    ax0.set_yticks(range(len(LAYERS)), [f"world:{'clip' if l == 'clip' else 'cnn ' + l}" for l in LAYERS])
    ax0.set_title("held-out choice accuracy (mean [t 95 %] over seeds)", fontsize=9)
    fig.colorbar(im, ax=ax0, shrink=0.8)
    x = np.arange(len(LAYERS))
    for j, o in enumerate(groups):
        g = summary[summary["observer"] == o].set_index("layer")
        m = g.loc[list(LAYERS)]
        ax1.errorbar(x + (j - 1) * 0.08, m["accuracy"], yerr=[m["accuracy"] - m["accuracy_ci_low"],
                     m["accuracy_ci_high"] - m["accuracy"]], marker="o", capsize=3, color=f"C{j}", label=o)
        ax1.axhline(g.loc["planted (ceiling)", "accuracy"], color=f"C{j}", linestyle=":", linewidth=1)
    ax1.axhline(0.5, color="grey", linewidth=0.8)
    ax1.set_xticks(x, LAYERS)
    ax1.set_xlabel("layer whose distance difference predicts the choice")
    ax1.set_ylabel("held-out accuracy (dotted: planted model)")
    ax1.legend(frameon=False, fontsize=8)
    return fig


def run(out_dir: Path, quick: bool = False, seeds=None) -> dict[str, pd.DataFrame]:
    """Run every seed, write the tables and figures; returns the tables."""
    cfg = settings(quick)
    if seeds is not None:
        cfg["seeds"] = tuple(seeds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cnn, clip = load_model("world:cnn"), load_model("world:clip")
    results = [one_seed(seed, cfg, cnn, clip) for seed in cfg["seeds"]]
    tables = {"generation": pd.DataFrame([r["generation"] for r in results]),
              "recovery": pd.DataFrame([row for r in results for row in r["recovery"]]),
              "sweep": pd.DataFrame([row for r in results for row in r["sweep"]])}
    tables.update(summaries(tables))
    first = results[0]
    tables["choice_model"] = pd.concat([f.reset_index().assign(triplets=t, observer=o, seed=cfg["seeds"][0])
                                        for (t, o), f in first["fits"].items()], ignore_index=True)
    first["grid"].to_csv(out_dir / "triplets.csv", index=False)
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False)
    grid = first["grid"]
    save_figure(plot_triplet_grid(grid, title=f"world:cnn {LOW} vs {HIGH}, seed {cfg['seeds'][0]}"),
                out_dir / "grid.png")
    save_figure(plot_triplets(first["pool"].images, grid, n=4), out_dir / "examples.png")
    attribute_fits = {o: f for (t, o), f in first["fits"].items() if t == "attributes"}
    save_figure(plot_choice_weights(attribute_fits, planted=OBSERVERS,
                                    title="Colour (low) vs shape (high): fitted weights, 95% CI; x planted"),
                out_dir / "choice_weights.png")
    save_figure(plot_sweep(tables["sweep_summary"]), out_dir / "layer_sweep.png")
    export_experiment(grid, first["pool"].images, out_dir / "experiment", task="2afc", random_state=0,
                      overwrite=True)
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "triplet_study")
    parser.add_argument("--quick", action="store_true", help="fewer seeds, scenes and observers (under half a minute)")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick)
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        for name in ("generation", "recovery_summary", "sweep_summary", "directions"):
            print(tables[name].round(3).to_string(index=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
