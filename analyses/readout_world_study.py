"""The transformer brain encoder on the world brain: attention readout vs factorised readout and ridge, per ROI.

Mirrors the transformer brain encoder of Adeli et al. (2025): learned ROI queries attend over a
vision backbone's feature tokens through stacked decoder layers, and beat the factorised
(spatial x feature) readout and linear ridge in predicting fMRI responses, most in higher visual
cortex, with attention maps that land on the content the ROI prefers.

Each seed draws world scenes (``render_scenes``), a train/test split (three quarters / one quarter)
and two world brains (``simulate_brain(scenes)``, SNR 1, 2 repeats averaged): the content brain, whose
LO and IT voxels respond to the objects of their ``preferred_category`` wherever they appear, and
the same brain with ``content=False``, whose LO and IT voxels see contrast energy through large
receptive fields instead. The features are ``load_model("world:cnn")`` maps of a mid and a late conv
layer (``conv3`` 64 x 8 x 8 and ``conv4`` 128 x 4 x 4, ``extract(..., pooling="none")``). Four models
per brain: ridge (``RidgeCV``) on the maps averaged over space (both layers concatenated), the
factorised readout (``FactorizedReadout``, one Gaussian receptive field per voxel over both layers),
the attention readout as the paper builds it (``AttentionReadout(decoder=True, n_layers=2)``, one query
per ROI and hemisphere, tokens from both layers) and the same readout with ``content=False`` (routing by
position alone: the control). All deep readouts train with the same budget (60 epochs at most,
early stopping on a tenth of the training scenes). The score is each voxel's held-out Pearson r against
the repeat-averaged responses, averaged over the voxels of an ROI; ``r_signal`` is the same against the
noise-free signal. Directions are judged on paired differences across seeds (mean and t 95 % interval).

Pointing game. A third attention readout on the content brain gets one query per LO/IT category patch
(the voxels of one ROI that prefer one category, as a localiser would define a face or place area) and
per early ROI. For each held-out scene that holds a query's category, a hit is the argmax of the
query's attention map (conv4's cells spread over conv3's 8 x 8 grid and added) falling on a cell at
least a quarter covered by objects of that category (scene masks averaged over the grid cells); chance
is the share of such cells. The ROI x hemisphere queries of the main readout are scored the same way
against any object (every category is preferred by some of their voxels). Both per decoder layer and
for the layer mean.

Found (full run: 5 seeds of 1000 scenes, 250 held out, 200 voxels; held-out r, paired differences as
mean [t 95 % interval] over seeds). One part of the paper's headline holds and two do not. In LO and
IT the attention readout beats the factorised readout, intervals clear of zero: LO +0.015 [0.013,
0.017], IT +0.015 [0.007, 0.023] (r 0.743 against 0.728 in LO). It does not beat ridge on pooled maps:
LO +0.003 [-0.005, 0.010], IT +0.001 [-0.011, 0.013]; ridge is itself above the factorised readout
there (LO +0.012, IT +0.014), because the world's LO and IT voxels respond to their category
wherever it appears, which pooled maps already carry. In the early ROIs the factorised readout is
at least as good as the attention readout (V1 attention - factorised +0.010 [-0.010, 0.030], V4
-0.004 [-0.014, 0.005]), and both beat ridge by 0.06-0.10. With the content switched off in the
brain the advantage over the factorised readout vanishes (LO -0.011 [-0.030, 0.009], IT -0.002
[-0.020, 0.016]). With the content switched off in the readout it does not: the content-free readout
scores as well as the content readout in LO and IT (content - content-free: LO -0.005 [-0.011,
0.001], IT -0.006 [-0.016, 0.004]) and beats the factorised readout (LO +0.020 [0.016, 0.025], IT
+0.021 [0.018, 0.024]), and in V1 and V4 it is the best model of all (V1 +0.066 [0.046, 0.086] over
the factorised readout, +0.056 over the content readout): on this brain the gain of the attention
readout comes from its learned, stimulus-independent pooling and feed-forward readout, not from
routing by content. The attention maps do land on objects: the LO/IT ROI x hemisphere queries'
argmax falls on an object in 0.77 [0.68, 0.87] of held-out scenes (decoder-layer mean; chance, the
objects' share of the cells, 0.17), and the category-patch queries' on an object of their own
category in 0.58 [0.53, 0.64] (chance 0.09). Both are more than finding objects: the content-free
readout's fixed maps land on an object in 0.35 [0.29, 0.41] of scenes (the content maps' lead:
+0.42 [0.31, 0.53]), and the category-patch queries land on an object in 0.66 of scenes, on their own
category 0.23 [0.21, 0.25] more often than a map that picked object cells at random would (own
category's share of the object cells 0.54). So the maps are interpretable, as in the paper, yet the
content routing that draws them buys no prediction accuracy here.
The quick run (2 seeds of 160 scenes, 60 voxels, 2 epochs: what the gallery shows) only exercises the
code; its numbers mean nothing.

With real data, NSD or Algonauts responses (``load_nsd_betas``, ``load_algonauts2023``: ``hemi`` and atlas
``roi`` coordinates) and a real backbone's maps (``extract(model, images, layers, pooling="none")``)
run the same code; the paper's category-selective ROIs (faces, places, bodies, words) play the part of
the category patches here, and the real test of content routing is whether the content-free control
falls behind.

Run: ``python analyses/readout_world_study.py [--out DIR] [--quick]``; writes ``scores.csv`` (seed, brain,
model, roi, r, r_signal), ``summary.csv`` (mean and interval per brain, model and ROI),
``differences.csv`` (paired differences with intervals), ``directions.csv`` (each expected direction,
whether it holds), ``pointing.csv`` and ``pointing_summary.csv`` (hit rate against chance),
``scores.png``, ``attention_maps.png`` and ``pointing.png`` (``--quick``: well under a minute; the full
run: about nine minutes of CPU time on one thread).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402
from scipy import stats  # noqa: E402

from neuroperception.data import select_stimuli, simulate_brain  # noqa: E402
from neuroperception.encoding import AttentionReadout, FactorizedReadout, RidgeCV  # noqa: E402
from neuroperception.encoding.scoring import voxel_scores  # noqa: E402
from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.plotting import plot_attention_maps, save_figure  # noqa: E402
from neuroperception.world import render_scenes  # noqa: E402

HERE = Path(__file__).resolve().parent
ROIS, OBJECT, EARLY = ("V1", "V4", "LO", "IT"), ("LO", "IT"), ("V1", "V4")
LAYERS = ("conv3", "conv4")
MODELS = ("ridge", "factorised", "attention", "attention (content=False)")
BRAINS = ("content", "no content")
#: the cover a grid cell needs from the preferred objects to count as on them
COVER = 0.25


def interval(values) -> tuple[float, float, float]:
    """Mean and t 95 % interval of ``values`` (one per seed)."""
    v = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def with_hemisphere(responses: xr.DataArray) -> xr.DataArray:
    """The responses with a ``hemi`` voxel coordinate from the MNI ``x`` (``x < 0``: left)."""
    return responses.assign_coords(hemi=("voxel", np.where(responses["x"].values < 0, "left", "right")))


def cell_cover(scenes, grid: tuple[int, int]) -> np.ndarray:
    """``(scene, object, gy, gx)``: the share of each grid cell covered by each object's visible pixels."""
    masks = np.asarray(scenes.masks, dtype=np.float32)
    n, k, h, w = masks.shape
    gy, gx = grid
    return masks.reshape(n, k, gy, h // gy, gx, w // gx).mean((3, 5))


def grid_maps(att: dict[str, xr.DataArray]) -> np.ndarray:
    """``(stimulus, query, 8, 8)``: conv3's attention plus conv4's spread evenly over its 2 x 2 conv3 cells."""
    fine, coarse = np.asarray(att["conv3"].values), np.asarray(att["conv4"].values)
    ry, rx = fine.shape[2] // coarse.shape[2], fine.shape[3] // coarse.shape[3]
    return fine + np.kron(coarse, np.ones((1, 1, ry, rx))) / (ry * rx)


def pointing(maps: np.ndarray, queries, targets, cover: np.ndarray, categories: np.ndarray) -> pd.DataFrame:
    """Hit rate and chance per query: the map's argmax on a cell covered by the query's target objects.

    ``targets[q]`` is a category, or None for any object; ``categories`` is ``(scene, object)`` (None
    past a scene's objects). A cell is on a set of objects when they cover at least :data:`COVER` of
    it. Scenes without a target object are skipped for that query. ``on_object`` is the rate of
    argmaxes on any object and ``chance_among_objects`` the target cells' share of the object cells:
    the hit rate of a map that finds objects but not the right one is ``on_object`` times it.
    """
    n, _, gy, gx = maps.shape
    top = maps.reshape(n, len(queries), -1).argmax(-1)
    present = categories != None  # noqa: E711
    any_on = (cover * present[:, :, None, None]).sum(1).reshape(n, -1) >= COVER
    rows = []
    for q, (name, target) in enumerate(zip(queries, targets)):
        chosen = present if target is None else categories == target
        on = (cover * chosen[:, :, None, None]).sum(1).reshape(n, -1) >= COVER
        keep = on.any(1)
        if not keep.any():
            continue
        picked = top[keep, q]
        rows.append({"query": name, "target": target or "any object", "n_scenes": int(keep.sum()),
                     "hit_rate": float(on[keep][np.arange(keep.sum()), picked].mean()),
                     "chance": float(on[keep].mean()),
                     "on_object": float(any_on[keep][np.arange(keep.sum()), picked].mean()),
                     "chance_among_objects": float((on[keep].sum(1) / any_on[keep].sum(1)).mean())})
    return pd.DataFrame(rows)


def _models(epochs: int, seed: int) -> dict:
    deep = dict(max_epochs=epochs, patience=10, random_state=seed)
    att = dict(query="roi", hemisphere="hemi", decoder=True, n_layers=2, dim=32, n_heads=4, **deep)
    return {"ridge": RidgeCV(), "factorised": FactorizedReadout(**deep), "attention": AttentionReadout(**att),
            "attention (content=False)": AttentionReadout(content=False, **att)}


def one_seed(seed: int, n_scenes: int, n_voxels: int, epochs: int, fm, keep_maps: bool = False):
    """Score rows, pointing rows and (optionally) example maps of one seed."""
    scenes = render_scenes(n_scenes, random_state=seed)
    feats = extract(fm, scenes.images, list(LAYERS), pooling="none", progress=False)
    ids = np.asarray(scenes.ids).astype(str)
    test = np.sort(np.random.default_rng(seed).choice(ids, size=n_scenes // 4, replace=False))
    train = np.setdiff1d(ids, test)
    x_train = {k: select_stimuli(feats[k], train) for k in LAYERS}
    x_test = {k: select_stimuli(feats[k], test) for k in LAYERS}
    pooled_train = np.concatenate([x_train[k].mean(("y", "x")).values for k in LAYERS], 1)
    pooled_test = np.concatenate([x_test[k].mean(("y", "x")).values for k in LAYERS], 1)
    rows, point, extras = [], [], {}
    for brain_name in BRAINS:
        brain = simulate_brain(scenes, n_voxels=n_voxels, snr=1.0, n_repeats=2, content=brain_name == "content",
                               random_state=seed)
        resp = with_hemisphere(brain.responses.mean("repeat"))
        signal = with_hemisphere(brain.signal)
        y_train, y_test, s_test = (select_stimuli(resp, train), select_stimuli(resp, test),
                                   select_stimuli(signal, test))
        roi = resp["roi"].values.astype(str)
        for name, model in _models(epochs, seed).items():
            start = time.perf_counter()
            if name == "ridge":
                pred = model.fit(pooled_train, y_train.values).predict(pooled_test)
            else:
                model.fit(x_train, y_train)
                pred = model.predict(x_test).values
            r = np.asarray(voxel_scores(y_test.values, pred, "r"))
            r_sig = np.asarray(voxel_scores(s_test.values, pred, "r"))
            for name_roi in ROIS:
                sel = roi == name_roi
                rows.append({"seed": seed, "brain": brain_name, "model": name, "roi": name_roi,
                             "r": float(np.nanmean(r[sel])), "r_signal": float(np.nanmean(r_sig[sel])),
                             "seconds": time.perf_counter() - start})
            if brain_name == "content" and name.startswith("attention"):
                kind = "ROI x hemisphere queries" + (", content=False" if "False" in name else "")
                point += _pointing_rows(model, x_test, scenes, test, seed, kind)
                if keep_maps:
                    extras["roi maps"] = model.attention_maps(x_test, layer="mean")
        if brain_name == "content":
            pref = brain.receptive_fields["preferred_category"].astype(object).values
            patch = resp.assign_coords(roi=("voxel", [f"{r} {p}" if r in OBJECT else r for r, p in zip(roi, pref)]))
            model = _models(epochs, seed)["attention"].set_params(hemisphere=None)
            model.fit(x_train, select_stimuli(patch, train))
            point += _pointing_rows(model, x_test, scenes, test, seed, "category-patch queries")
            if keep_maps:
                extras["patch model"], extras["x_test"], extras["scenes"], extras["test"] = model, x_test, scenes, test
    return rows, point, extras


def _pointing_rows(model, x_test, scenes, test, seed, kind) -> list[dict]:
    """Pointing-game rows of the LO/IT queries of ``model`` for each decoder layer and the layer mean."""
    held = scenes[list(test)]
    cover = cell_cover(held, (8, 8))
    cats = np.full(cover.shape[:2], None, dtype=object)
    sid = pd.Index(np.asarray(held.ids).astype(str))
    obj = held.objects
    cats[sid.get_indexer(obj["stimulus_id"]), obj["object"].to_numpy()] = obj["category"].to_numpy()
    queries = [q for q in model.queries_ if q.split(" ")[0] in OBJECT]
    targets = [None if kind.startswith("ROI") else q.split(" ")[1] for q in queries]
    out = []
    for layer in (0, 1, "mean"):
        att = model.attention_maps(x_test, by="query", layer=layer)
        maps = grid_maps({k: v.sel(query=queries) for k, v in att.items()})
        table = pointing(maps, queries, targets, cover, cats)
        table.insert(0, "layer", str(layer))
        table.insert(0, "queries", kind)
        table.insert(0, "seed", seed)
        out += table.to_dict("records")
    return out


def summaries(scores: pd.DataFrame, point: pd.DataFrame):
    """Summary per brain/model/ROI, paired differences, directions and the pointing summary."""
    rows = [{"brain": b, "model": m, "roi": r, **dict(zip(("r", "ci_low", "ci_high"), interval(g["r"]))),
             "r_signal": g["r_signal"].mean(), "n_seeds": len(g)}
            for (b, m, r), g in scores.groupby(["brain", "model", "roi"], sort=False)]
    summary = pd.DataFrame(rows)
    wide = scores.pivot_table(index=["brain", "roi", "seed"], columns="model", values="r")
    pairs = [("attention", "factorised"), ("attention", "ridge"), ("factorised", "ridge"),
             ("attention", "attention (content=False)"), ("attention (content=False)", "factorised")]
    rows = []
    for (b, r), g in wide.groupby(level=["brain", "roi"], sort=False):
        for a, c in pairs:
            mean, lo, hi = interval(g[a] - g[c])
            rows.append({"brain": b, "roi": r, "difference": f"{a} - {c}", "mean": mean, "ci_low": lo,
                         "ci_high": hi, "n_seeds": len(g)})
    differences = pd.DataFrame(rows)
    diff = differences.set_index(["brain", "roi", "difference"])
    checks = []
    for r in OBJECT:
        for what, b, d, kind in (
                ("attention beats factorised", "content", "attention - factorised", "above"),
                ("attention beats ridge", "content", "attention - ridge", "above"),
                ("content=False readout loses the advantage over factorised", "content",
                 "attention (content=False) - factorised", "not above"),
                ("content=False readout below the content readout", "content",
                 "attention - attention (content=False)", "above"),
                ("no-content brain: attention no better than factorised", "no content", "attention - factorised",
                 "not above")):
            checks.append((r, what, b, d, kind))
    for r in EARLY:
        checks.append((r, "factorised at least as good as attention", "content", "attention - factorised",
                       "not above"))
    rows = []
    for r, what, b, d, kind in checks:
        row = diff.loc[(b, r, d)]
        holds = row["ci_low"] > 0 if kind == "above" else not row["ci_low"] > 0
        rows.append({"roi": r, "expected": what, "brain": b, "difference": d, "test": f"interval {kind} 0",
                     "mean": row["mean"], "ci_low": row["ci_low"], "ci_high": row["ci_high"], "holds": bool(holds)})
    directions = pd.DataFrame(rows)
    rows = []
    for (kind, layer), g in point.groupby(["queries", "layer"], sort=False):
        per_seed = g.groupby("seed")[["hit_rate", "chance", "on_object", "chance_among_objects"]].mean()
        hit, gain = interval(per_seed["hit_rate"]), interval(per_seed["hit_rate"] - per_seed["chance"])
        # beyond finding objects: the hit rate minus that of a map that lands on objects at random
        right = interval(per_seed["hit_rate"] - per_seed["on_object"] * per_seed["chance_among_objects"])
        rows.append({"queries": kind, "layer": layer, "hit_rate": hit[0], "hit_ci_low": hit[1], "hit_ci_high": hit[2],
                     "chance": per_seed["chance"].mean(), "hit - chance": gain[0], "gain_ci_low": gain[1],
                     "gain_ci_high": gain[2], "on_object": per_seed["on_object"].mean(),
                     "chance_among_objects": per_seed["chance_among_objects"].mean(),
                     "hit - object chance": right[0], "object_gain_ci_low": right[1], "object_gain_ci_high": right[2],
                     "n_seeds": len(per_seed)})
    return summary, differences, directions, pd.DataFrame(rows)


def plot_scores(summary: pd.DataFrame):
    """Held-out r per ROI and model (mean and t 95 % interval over seeds), one panel per brain."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True, layout="constrained")
    x = np.arange(len(ROIS))
    width = 0.8 / len(MODELS)
    for ax, brain in zip(axes, BRAINS):
        s = summary[summary["brain"] == brain].set_index(["model", "roi"])
        for i, m in enumerate(MODELS):
            g = s.loc[m].loc[list(ROIS)]
            ax.bar(x + (i - (len(MODELS) - 1) / 2) * width, g["r"], width, color=f"C{i}", label=m,
                   yerr=[g["r"] - g["ci_low"], g["ci_high"] - g["r"]], capsize=2)
        ax.set_xticks(x, ROIS)
        ax.set_title(f"{brain} brain" + (" (LO/IT see contrast energy)" if brain == "no content" else ""), fontsize=9)
    axes[0].set_ylabel("held-out r (mean over voxels)")
    axes[0].legend(frameon=False, fontsize=7, loc="upper left")
    return fig


def plot_pointing(summary: pd.DataFrame):
    """Pointing-game hit rate against chance per query kind and decoder layer (t 95 % intervals)."""
    fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    short = {"ROI x hemisphere queries": "ROI x hemi", "category-patch queries": "category patch",
             "ROI x hemisphere queries, content=False": "ROI x hemi\ncontent=False"}
    labels = [f"{short[q]}\nlayer {layer}" for q, layer in zip(summary["queries"], summary["layer"])]
    x = np.arange(len(summary))
    ax.bar(x - 0.2, summary["hit_rate"], 0.4, label="hit rate",
           yerr=[summary["hit_rate"] - summary["hit_ci_low"], summary["hit_ci_high"] - summary["hit_rate"]], capsize=3)
    ax.bar(x + 0.2, summary["chance"], 0.4, color="grey", label="chance (cell share of the targets)")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("argmax on a target object")
    ax.legend(frameon=False, fontsize=7)
    return fig


def plot_patch_maps(extras: dict, n: int = 6):
    """The IT category-patch queries' attention (layer mean) over held-out scenes, one row per category held."""
    model, x_test, scenes = extras["patch model"], extras["x_test"], extras["scenes"]
    held = scenes[list(extras["test"])]
    picks = list(range(min(n, len(held.ids))))
    att = model.attention_maps({k: v[picks] for k, v in x_test.items()}, by="query", layer="mean")
    queries = [q for q in model.queries_ if q.startswith("IT ")]
    maps = grid_maps({k: v.sel(query=queries) for k, v in att.items()})
    first = held.objects.groupby("stimulus_id")["category"].first()
    ids = np.asarray(held.ids).astype(str)[picks]
    shown = list(dict.fromkeys(first.loc[ids]))[:4]
    rows = [queries.index(f"IT {c}") for c in shown if f"IT {c}" in queries]
    return plot_attention_maps(held.images.images[picks], maps[:, rows], rows=[queries[i] for i in rows],
                               labels=["\n".join(held.objects.loc[held.objects["stimulus_id"] == i, "category"])
                                       for i in ids],
                               title="IT category-patch queries (decoder-layer mean) over held-out scenes")


def run(out_dir: Path, quick: bool = False, seeds=None) -> dict[str, pd.DataFrame]:
    n_scenes, n_voxels, epochs = (160, 60, 2) if quick else (1000, 200, 60)
    seeds = tuple(seeds) if seeds is not None else ((0, 1) if quick else (0, 1, 2, 3, 4))
    out_dir.mkdir(parents=True, exist_ok=True)
    fm = load_model("world:cnn")
    scores, point, extras = [], [], {}
    for i, seed in enumerate(seeds):
        s, p, e = one_seed(seed, n_scenes, n_voxels, epochs, fm, keep_maps=i == 0)
        scores += s
        point += p
        extras = extras or e
    tables = {"scores": pd.DataFrame(scores), "pointing": pd.DataFrame(point)}
    (tables["summary"], tables["differences"], tables["directions"],
     tables["pointing_summary"]) = summaries(tables["scores"], tables["pointing"])
    for name, table in tables.items():
        table.to_csv(out_dir / f"{name}.csv", index=False)
    save_figure(plot_scores(tables["summary"]), out_dir / "scores.png")
    save_figure(plot_pointing(tables["pointing_summary"]), out_dir / "pointing.png")
    save_figure(plot_patch_maps(extras), out_dir / "attention_maps.png")
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "readout_world_study")
    parser.add_argument("--quick", action="store_true", help="fewer scenes, voxels, epochs and seeds (seconds)")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick)
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        print(tables["summary"].round(3).to_string(index=False))
        print(tables["directions"].round(3).to_string(index=False))
        print(tables["pointing_summary"].round(3).to_string(index=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
