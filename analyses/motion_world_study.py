"""Flow decoding on world episodes: a simulated MT against shuffle, zero flow and the first frame alone.

Mirrors motion decoding from responses to movies. The motion-energy model of Nishimoto et al. (2011)
is the encoding side: their motion-energy voxels predicted BOLD responses to natural movies well
enough to reconstruct the movies. Decoding flow from MT runs it backwards. The key control of video
decoding is that a decoder which also sees the first frame must beat one that sees the first frame
only; otherwise the "decoded motion" is only a guess from what the scene contains.

Each seed renders world episodes (``render_episodes(n, kind="move", n_frames=8, size=64)``: one
object translates at a constant whole-pixel velocity, up to 3 px per frame, in front of or behind
one or two static objects) with their exact flow. A brain is simulated with ``simulate_brain`` as
in ``motion_decoding.py``. Its MT voxels read the weight-free motion-energy model's maps
(``extract(load_model("motion_energy"), videos, pooling="none")``, time-averaged,
direction-tuned) through retinotopic receptive fields. Its V1 voxels read static features of the
middle frame (world:cnn ``conv1``, 8 x 8 average-pooled), which carry no motion. ``FlowDecoder``
(PCA basis of 16 components, ridge with cross-validated alphas) decodes flow from four inputs,
fitted on three quarters of the episodes and scored on the rest:

* **MT**: the MT voxels;
* **V1**: the V1 voxels (static only, a negative control);
* **image only**: world:cnn ``conv2`` features of the first frame (8 x 8 average-pooled), no brain;
* **MT + first frame**: the MT voxels concatenated with those first-frame features.

Every input block is z-scored on the training episodes and divided by the square root of its width,
so that the two blocks of the concatenation weigh equally. Two flow targets are decoded: the exact
flow of the first step (frame 0 to 1, 64 x 64 pixels) and the episode's mean flow over its 7 steps
in 4 x 4 blocks (16 x 16). Scores are the end-point error (EPE, px per frame; lower is better) and,
since ridge minimises squared error, the mean squared error (MSE). The baselines are the shuffle
(each prediction paired with another episode's flow, 100 derangements; its EPE depends on the
decoder) and zero flow. Every number is a mean over 5 seeds (episodes, brain and split drawn anew)
with a t 95 % interval; a comparison holds when the interval of the paired difference excludes 0
on the right side.

Found (full run: 5 seeds of 400 episodes, 100 held out, 600 voxels, SNR 0.5, 2 repeats averaged;
mean [t 95 % interval] over seeds; "reduction" is the paired error reduction, positive when the
first-named decoder has the lower error). What holds and what does not:

* **MT beats the shuffle** on both targets and both metrics. On the first step's exact flow, EPE is
  0.257 [0.243, 0.270] against 0.293 (reduction 0.036 [0.027, 0.045] px, 12 %). On the episode
  mean, EPE is 0.169 [0.159, 0.179] against 0.233 (reduction 0.064 [0.053, 0.076], 28 %); MSE falls
  by 27 % and 50 %.
* **MT does not beat zero flow in EPE; it does in MSE.** The flow is zero on about 94 % of the
  pixels of the first step (83 % of the blocks of the episode mean), and "no motion" costs nothing
  there. Zero flow's EPE is 0.152 [0.137, 0.166] on the first step and 0.146 [0.133, 0.160] on the
  mean, below every decoder (MT is 0.105 [0.099, 0.111] and 0.023 [0.015, 0.030] px worse). A
  ridge decoder minimises squared error, so it spreads small flows wherever the actor may be, and
  EPE charges for every such pixel. In MSE, the decoder's
  own loss, MT beats zero flow on both targets: 0.185 [0.168, 0.201] against 0.228 (19 % lower) and
  0.070 [0.062, 0.079] against 0.108 (35 % lower).
* **The key control holds in MSE on both targets, and in EPE on the episode mean only.** In MSE, MT
  plus the first frame's features beats the first frame alone: 0.178 against 0.206 (reduction
  0.028 [0.021, 0.035], 14 %) and 0.066 against 0.096 (0.030 [0.025, 0.036], 32 %). In EPE on the
  mean it also wins, 0.167 against 0.179 (0.011 [0.007, 0.016], 6 %). In EPE on the first step it
  loses: 0.262 against 0.243 (-0.019 [-0.025, -0.014]). The image-only decoder cannot know the
  velocity, so it predicts small flows, and small flows are what EPE rewards on a mostly static
  frame.
* The first frame adds little to MT: 4 % and 6 % in MSE (intervals above 0), nothing in EPE. A
  linear readout cannot multiply the velocity MT carries by the actor's mask the first frame
  shows.
* V1 (static features) barely beats its shuffle: about 2 % in EPE and 4 % in MSE on the first step,
  from where the objects are. On the episode mean its interval includes 0.

This mirrors Nishimoto et al. (2011) only in kind: their motion-energy encoding model of BOLD
responses to natural movies was good enough to identify and reconstruct the movies. Here the
direction "the motion area carries the flow" holds against the shuffle and, in squared error, against
zero flow. The control "brain plus first frame beats first frame alone" holds in squared error. In
end-point error, zero flow is the stronger baseline for flows confined to one small moving object,
and the first step's exact flow is better guessed small. The quick run (2 seeds of 80 episodes: what
the gallery shows) is too small for these intervals.

With real data the responses are BOLD responses to movie clips (a ``VideoSet`` from mp4 files),
the flows come from RAFT with downloaded weights (``estimate_flow(videos, method="raft",
weights=path)``), and the first-frame features from any image model of the registry; the decoder,
the baselines and the control run unchanged.

Run: ``python analyses/motion_world_study.py [--out DIR] [--quick]``; writes ``scores.csv`` (one row
per seed, target and decoder), ``summary.csv`` (means and intervals), ``comparisons.csv`` (the paired
differences and whether each holds), ``epe.png`` and ``flow_examples.png`` (``--quick``: 2 seeds of
80 episodes, under half a minute; the full run: several minutes on one thread).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from scipy import stats  # noqa: E402

from neuroperception.data import average_repeats, simulate_brain  # noqa: E402
from neuroperception.decoding import FlowDecoder, flow_decoding_report  # noqa: E402
from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.plotting import plot_flow_comparison, save_figure  # noqa: E402
from neuroperception.world import render_episodes  # noqa: E402

HERE = Path(__file__).resolve().parent
DECODERS = ("MT", "V1", "image only", "MT + first frame")
TARGETS = ("first step, exact (64 x 64)", "episode mean, 4 x 4 blocks (16 x 16)")
#: (name, better, worse): the comparisons the study tests, on each target and metric
COMPARISONS = (("MT beats shuffle", "MT", "MT shuffled"), ("MT beats zero flow", "MT", "zero flow"),
               ("MT + first frame beats image only", "MT + first frame", "image only"),
               ("MT + first frame beats MT", "MT + first frame", "MT"),
               ("V1 beats shuffle", "V1", "V1 shuffled"))


def settings(quick: bool) -> dict:
    """Seeds and sizes of the quick and the full run."""
    if quick:
        return dict(seeds=(0, 1), n_episodes=80, n_voxels=200, n_shuffles=10)
    return dict(seeds=(0, 1, 2, 3, 4), n_episodes=400, n_voxels=600, n_shuffles=100)


def interval(values) -> tuple[float, float, float]:
    """Mean and t 95 % interval of ``values`` (one per seed)."""
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def targets(episodes) -> dict[str, np.ndarray]:
    """The two flow targets ``(N, 2, H, W)``: the first step's exact flow, the episode mean in 4 x 4 blocks."""
    flow = episodes.flow
    return {TARGETS[0]: flow[:, 0].numpy(), TARGETS[1]: F.avg_pool2d(flow.mean(1), 4).numpy()}


def standardised(x, train: np.ndarray) -> np.ndarray:
    """Columns z-scored on the training rows, the block divided by the square root of its width."""
    x = np.asarray(x, dtype=np.float64)
    mu, sd = x[train].mean(0), x[train].std(0)
    return (x - mu) / np.where(sd > 0, sd, 1.0) / np.sqrt(x.shape[1])


def shuffled_mse(pred: np.ndarray, flow: np.ndarray, n: int, rng: np.random.Generator) -> float:
    """Mean squared error of the predictions paired with other episodes' flows (derangements)."""
    values = []
    for _ in range(n):
        perm = rng.permutation(len(flow))
        while (perm == np.arange(len(flow))).any():
            perm = rng.permutation(len(flow))
        values.append(float(((pred - flow[perm]) ** 2).mean()))
    return float(np.mean(values))


def one_seed(seed: int, n_episodes: int, n_voxels: int, n_shuffles: int = 100, snr: float = 0.5, keep: bool = False):
    """Score rows of one seed (episodes, brain and split drawn from it); with ``keep`` also example flows."""
    episodes = render_episodes(n_episodes, kind="move", n_frames=8, size=64, random_state=seed)
    cnn = load_model("world:cnn")
    motion = extract(load_model("motion_energy"), episodes.videos, ["output"], pooling="none", progress=False)["output"]
    static = extract(cnn, episodes.videos.frames(), ["conv1"], pooling="avg:8", progress=False)["conv1"]
    first = extract(cnn, episodes.frames(0), ["conv2"], pooling="avg:8", progress=False)["conv2"]
    brain = simulate_brain({"static (middle frame)": static, "motion energy": motion}, n_voxels=n_voxels,
                           rois=("V1", "MT"), snr=snr, n_repeats=2, random_state=seed)
    resp = average_repeats(brain.responses)
    ids = np.asarray(episodes.videos.ids)
    if not (resp["stimulus_id"].values.astype(str) == ids).all():
        raise RuntimeError("responses and episodes are not in the same order")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(ids), bool)
    test[rng.choice(len(ids), size=len(ids) // 4, replace=False)] = True
    train = ~test
    roi = resp["roi"].values.astype(str)
    blocks = {"MT": standardised(resp.values[:, roi == "MT"], train),
              "V1": standardised(resp.values[:, roi == "V1"], train),
              "image only": standardised(first.values, train)}
    blocks["MT + first frame"] = np.concatenate([blocks["MT"], blocks["image only"]], axis=1)
    rows, examples = [], {}
    for target, flow in targets(episodes).items():
        zero = {"epe": None, "mse": float((flow[test] ** 2).mean())}
        for name in DECODERS:
            pred = FlowDecoder(n_components=16).fit(blocks[name][train], flow[train]).predict(blocks[name][test])
            rep = flow_decoding_report(pred, flow[test], n_shuffles=n_shuffles, random_state=seed)
            zero["epe"] = float(rep.loc["zero flow", "epe"])
            rows.append({"seed": seed, "target": target, "decoder": name, "EPE": float(rep.loc["decoded", "epe"]),
                         "MSE": float(((pred - flow[test]) ** 2).mean())})
            rows.append({"seed": seed, "target": target, "decoder": f"{name} shuffled",
                         "EPE": float(rep.loc["shuffled", "epe"]),
                         "MSE": shuffled_mse(pred, flow[test], min(n_shuffles, 20),
                                                    np.random.default_rng([seed, len(rows)]))})
            if keep:
                examples[(target, name)] = pred[:4]
        rows.append({"seed": seed, "target": target, "decoder": "zero flow", "EPE": zero["epe"], "MSE": zero["mse"]})
        if keep:
            examples[(target, "true")] = flow[test][:4]
    if keep:
        examples["frames"] = episodes.videos.videos[torch.as_tensor(np.flatnonzero(test)[:4]), 0].numpy()
    return rows, examples


def summarise(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Means and intervals per target, decoder and metric; the paired comparisons and whether each holds."""
    long = scores.melt(id_vars=["seed", "target", "decoder"], value_vars=["EPE", "MSE"], var_name="metric")
    rows = [{"target": t, "metric": m, "decoder": d, **dict(zip(("mean", "ci_low", "ci_high"), interval(g["value"]))),
             "n_seeds": len(g)} for (t, m, d), g in long.groupby(["target", "metric", "decoder"], sort=False)]
    summary = pd.DataFrame(rows)
    rows = []
    for (t, m), g in long.groupby(["target", "metric"], sort=False):
        wide = g.pivot(index="seed", columns="decoder", values="value")
        for name, better, worse in COMPARISONS:
            mean, lo, hi = interval(wide[worse] - wide[better])  # > 0: ``better`` has the lower error
            rows.append({"target": t, "metric": m, "comparison": name, "error reduction": mean, "ci_low": lo,
                         "ci_high": hi, "relative": mean / wide[worse].mean(), "holds": bool(lo > 0),
                         "reversed": bool(hi < 0)})
    return summary, pd.DataFrame(rows)


def plot_errors(summary: pd.DataFrame):
    """EPE and MSE per decoder, its shuffle and zero flow (mean and 95 % interval over seeds), per target."""
    metrics = ("EPE", "MSE")
    fig, axes = plt.subplots(len(metrics), len(TARGETS), figsize=(5.2 * len(TARGETS), 3.4 * len(metrics)),
                             layout="constrained", squeeze=False)
    for r, metric in enumerate(metrics):
        for c, target in enumerate(TARGETS):
            ax = axes[r, c]
            s = summary[(summary["target"] == target) & (summary["metric"] == metric)].set_index("decoder")
            x = np.arange(len(DECODERS))
            for j, (suffix, colour, label) in enumerate((("", "C0", "decoded"), (" shuffled", "C7", "shuffled"))):
                m = s.loc[[d + suffix for d in DECODERS]]
                ax.bar(x + (j - 0.5) * 0.38, m["mean"], 0.38, color=colour, label=label,
                       yerr=[m["mean"] - m["ci_low"], m["ci_high"] - m["mean"]], capsize=3)
            ax.axhline(s.loc["zero flow", "mean"], color="k", linestyle=":", label="zero flow")
            ax.set_xticks(x, [d.replace(" + ", "\n+ ") for d in DECODERS], fontsize=8)
            ax.set_ylabel(f"{metric} (lower is better)")
            ax.set_title(target, fontsize=9)
    axes[0, 0].legend(frameon=False, fontsize=7)
    return fig


def run(out_dir: Path, quick: bool = False, seeds=None) -> dict[str, pd.DataFrame]:
    cfg = settings(quick)
    seeds = tuple(seeds) if seeds is not None else cfg["seeds"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, examples = [], None
    for seed in seeds:
        r, e = one_seed(seed, cfg["n_episodes"], cfg["n_voxels"], cfg["n_shuffles"], keep=examples is None)
        rows += r
        examples = examples or e
    scores = pd.DataFrame(rows)
    summary, comparisons = summarise(scores)
    tables = {"scores": scores, "summary": summary, "comparisons": comparisons}
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False)
    save_figure(plot_errors(summary), out_dir / "epe.png")
    target = TARGETS[1]
    fig = plot_flow_comparison(examples[(target, "true")][:3], examples[(target, "MT + first frame")][:3],
                               F.avg_pool2d(torch.as_tensor(examples["frames"][:3]), 4).numpy())
    save_figure(fig, out_dir / "flow_examples.png")
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "motion_world_study")
    parser.add_argument("--quick", action="store_true", help="2 seeds of 80 episodes (under half a minute)")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick)
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        print(tables["summary"].round(4).to_string(index=False))
        print(tables["comparisons"].round(4).to_string(index=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
