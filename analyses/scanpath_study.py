"""Scanpath prediction and search asymmetry: NeVA / NevaClip against baselines, eccNET-style search against chance.

Mirrors two results. NeVA (Schwinn et al. 2022) and NevaClip (Zanca et al. 2023) predict
scanpaths by foveating an image at the fixations so far and moving the next fixation to where a
task (reconstructing the image, matching a caption with CLIP) gains most; they are scored against
human scanpaths with MultiMatch, ScanMatch, the sequence score and DTW, next to centre-biased and
uniformly random scanpaths, with the human inter-observer agreement as the ceiling. eccNET (Gupta
et al. 2021) searches arrays for a target with eccentricity-dependent pooling and top-down target
modulation; finding A among B is easier than B among A for humans (a Q among Os, a tilted bar
among vertical ones), and the asymmetry index of the reaction-time slopes (humans 0.564, eccNET
0.513) measures how much of that a model shares.

The "human" scanpaths are simulated observers written to disk in the COCO-Search18 layout
(``coco_search18_fixations_TP_validation_split1.json`` on the 1680 x 1050 display, initial centre
fixation included) and read back with ``load_coco_search18``: on each shipped photograph (resized
to the display's aspect) they start at the centre and sample each next fixation from a planted
priority map (smoothed local contrast energy times a centre bias) with inhibition of return and a
preference for short saccades. The planted map is therefore the saliency ceiling; the library's
saliency models (Itti-Koch, Gabor-energy norm, centre bias, uniform) are scored against it with
NSS, AUC-Judd, shuffled AUC, information gain over the centre bias and CC / SIM with the
empirical fixation density. NeVA runs weight-free (pixel reconstruction); NevaClip runs a tiny
CLIP architecture registered from a JSON config with seeded random weights, and the search model
a random-init AlexNet (``similarity="centered"``), so every number shows the mechanics of the
methods, not the published values. Expected: NeVA above the random scanpaths on ScanMatch, the
sequence score, MultiMatch position and DTW, the centre baseline (as in the published benchmarks)
hard to beat, NevaClip with random CLIP weights near chance, the humans' agreement highest on
ScanMatch and the sequence score; the planted map first on every saliency metric and the uniform
map last; the random search's asymmetry index near 0 (0.04 in the full run) and its fixations
growing with set size as ``(k + 1) / 2``, the random-init search model's index positive (0.32 in
the full run, mostly from tilted among vertical bars) but noisy with the quick run's few displays.

With real data and weights, ``load_coco_search18("COCOSearch18/", split="valid")`` and
``load_mit1003_fixations(...)`` read the published fixation files by path instead of the
simulated observers, ``ImageSet.from_folder("COCOSearch18/images/<task>", size=(105, 168))``
the displays (ids are the file names, as in the JSON), and
``NevaClip(load_model("open_clip:RN50", weights="openai"))`` and
``VisualSearch("torchvision:vgg16", weights="<path to ImageNet VGG-16 state dict>",
similarity="dot")`` are the published models; the rest of the code is unchanged.

Run: ``python analyses/scanpath_study.py [--out DIR] [--quick]``; writes ``scanpath_scores.csv``,
``saliency_scores.csv``, ``asymmetry.csv``, ``search_fixations.csv``, ``scanpaths.png``,
``saliency.png``, ``search_scanpaths.png``, ``search_slopes.png``, ``asymmetry_index.png`` and the
simulated observers' ``human/coco_search18_fixations_TP_validation_split1.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402

from neuroperception.features import load_model, register_clip_architecture  # noqa: E402
from neuroperception.plotting import (plot_asymmetry_index, plot_saliency_overlay, plot_scanpaths,  # noqa: E402
                                      plot_search_slopes, save_figure)
from neuroperception.scanpaths import (ECCNET_ASYMMETRY_INDEX, HUMAN_ASYMMETRY_INDEX, CenterBias,  # noqa: E402
                                       FeatureNormSaliency, IttiKoch, NeVA, NevaClip, RandomSearch, Scanpaths,
                                       UniformSaliency, VisualSearch, auc_judd, cc, evaluate_scanpath_model,
                                       information_gain, load_coco_search18, nss, search_asymmetry_experiment,
                                       shuffled_auc, sim, to_log_density)
from neuroperception.stimuli import ImageSet  # noqa: E402
from neuroperception.stimuli.search_arrays import search_array  # noqa: E402

HERE = Path(__file__).resolve().parent
DISPLAY = (1050, 1680)  # COCO-Search18 display, (height, width)
FRAME = (105, 168)  # the models' frame: the display at a tenth
#: photograph -> the observers' search target (the COCO-Search18 "task"; NevaClip's caption)
TARGETS = {"cat": "cat", "astronaut": "person", "coffee": "cup", "motorcycle": "motorcycle", "rocket": "rocket",
           "camera": "camera", "china": "building", "flower": "flower"}
TINY_NAME = "GalleryTiny-ViT"
METRICS = ("multimatch", "scanmatch", "sequence_score", "dtw")


# ----------------------------------------------------------------------------- simulated observers
def photographs(n: int) -> ImageSet:
    """The first ``n`` photographs of ``TARGETS`` at the display's aspect, ids as COCO-Search18 file names."""
    photos = ImageSet.from_samples(size=FRAME)
    ids = [i for i in photos.ids if i.split("/")[-1] in TARGETS][:n]
    return ImageSet.from_array(photos[ids].images, stimulus_id=[f"{i.split('/')[-1]}.jpg" for i in ids])


def priority_maps(images: np.ndarray) -> np.ndarray:
    """The planted priority: smoothed local contrast energy times a centre bias, one density per image."""
    grey = images.mean(1)
    gy, gx = np.gradient(grey, axis=(1, 2))
    energy = np.stack([gaussian_filter(np.hypot(a, b), 3.0) for a, b in zip(gx, gy)])
    h, w = grey.shape[1:]
    yy, xx = np.mgrid[:h, :w]
    centre = np.exp(-0.5 * (((xx - (w - 1) / 2) / (0.3 * w)) ** 2 + ((yy - (h - 1) / 2) / (0.3 * h)) ** 2))
    maps = (energy / energy.max(axis=(1, 2), keepdims=True)) ** 2 * centre
    return maps / maps.sum(axis=(1, 2), keepdims=True)


def _observer(priority: np.ndarray, n_fix: int, rng: np.random.Generator) -> np.ndarray:
    """One scanpath ``(n_fix + 1, 3)`` in the model frame: centre start, then priority x IOR x saccade prior."""
    h, w = priority.shape
    yy, xx = np.mgrid[:h, :w]
    path = [((w - 1) / 2, (h - 1) / 2)]
    ior = np.ones_like(priority)
    for _ in range(n_fix):
        x0, y0 = path[-1]
        d2 = (xx - x0) ** 2 + (yy - y0) ** 2
        ior *= 1 - 0.95 * np.exp(-d2 / (2 * (0.07 * w) ** 2))
        p = (priority * ior * np.exp(-np.sqrt(d2) / (0.35 * w))).ravel()
        k = rng.choice(p.size, p=p / p.sum())
        path.append((k % w + rng.uniform(-0.5, 0.5), k // w + rng.uniform(-0.5, 0.5)))
    xy = np.clip(np.array(path), 0, [w - 1, h - 1])
    durations = np.r_[rng.gamma(4.0, 30.0), rng.gamma(4.0, 60.0, n_fix)].round()
    return np.c_[xy, durations]


def write_observers(folder: Path, photos: ImageSet, priority: np.ndarray, n_subjects: int,
                    random_state: int = 0) -> Path:
    """Simulated observers' scanpaths as a COCO-Search18 fixation file (1680 x 1050 display pixels)."""
    rng = np.random.default_rng(random_state)
    scale = DISPLAY[1] / FRAME[1]
    records = []
    for name, pmap in zip(photos.ids, priority):
        peak_y, peak_x = np.unravel_index(pmap.argmax(), pmap.shape)
        bbox = [round(float(scale * (peak_x - 10))), round(float(scale * (peak_y - 10))), round(20 * scale),
                round(20 * scale)]
        for subject in range(1, n_subjects + 1):
            path = _observer(pmap, int(rng.integers(5, 9)), rng)
            xs, ys = (path[:, 0] * scale).round(1), (path[:, 1] * scale).round(1)
            records.append({"name": name, "subject": subject, "task": TARGETS[name[:-4]], "condition": "present",
                            "bbox": bbox, "X": xs.tolist(), "Y": ys.tolist(), "T": path[:, 2].astype(int).tolist(),
                            "length": len(path), "correct": 1, "RT": int(path[:, 2].sum()), "split": "valid"})
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "coco_search18_fixations_TP_validation_split1.json"
    file.write_text(json.dumps(records))
    return file


def _in_frame(human: Scanpaths, drop_start: bool = True) -> Scanpaths:
    """Human fixations scaled from the display into the models' frame (the initial centre fixation dropped)."""
    table = human.table[human.table["fixation"] >= int(drop_start)].copy()
    table["fixation"] -= int(drop_start)
    return Scanpaths(table, allow_off_display=human.allow_off_display).rescale(from_size=DISPLAY, to_size=FRAME)


# ----------------------------------------------------------------------------------------- models
def score_scanpaths(photos: ImageSet, human: Scanpaths, quick: bool, random_state: int):
    """Model, baseline and human-ceiling scores (long table) and the models' scanpaths."""
    n_fix, n_iter = (5, 6) if quick else (7, 15)
    neva = NeVA(n_fixations=n_fix, steps=n_iter, restarts=1 if quick else 2, random_state=random_state)
    tiny = load_model(register_clip_architecture(TINY_NAME), random_state=0)
    clip = NevaClip(tiny, n_fixations=n_fix, steps=n_iter, restarts=1 if quick else 2,
                    random_state=random_state)
    captions = human.table.groupby("stimulus_id")["task"].first().to_dict()
    predicted = {"NeVA": neva.predict(photos), "NevaClip": clip.predict(photos, captions)}
    tables = []
    for name, sp in predicted.items():
        df = evaluate_scanpath_model(sp, photos, human, metrics=METRICS, human_size=DISPLAY,
                                     include_human=name == "NeVA", n_baseline=3 if quick else 10,
                                     random_state=random_state)
        tables.append(df if name == "NeVA" else df[df["model"] == name])
    order = {"human": 0, "NeVA": 1, "NevaClip": 2, "center": 3, "random": 4}
    scores = pd.concat(tables, ignore_index=True)
    scores = scores.sort_values("model", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return scores, predicted


def score_saliency(photos: ImageSet, fixations: Scanpaths, priority: np.ndarray) -> pd.DataFrame:
    """Saliency metrics of the library's saliency models and of the planted priority (the ceiling)."""
    ids = photos.ids

    def labelled(values: np.ndarray) -> xr.DataArray:
        return xr.DataArray(values, dims=("stimulus", "y", "x"), coords={"stimulus_id": ("stimulus", ids)})

    centre = CenterBias().predict(photos)
    models = {"planted priority (ceiling)": labelled(priority),
              "Itti-Koch": IttiKoch(centers=(1, 2, 3), deltas=(2, 3)).predict(photos),
              "Gabor energy norm": FeatureNormSaliency("gabor", "scale1").predict(photos),
              "centre bias": centre, "uniform": UniformSaliency().predict(photos)}
    empirical = np.zeros((len(ids),) + FRAME)
    for k, stimulus_id in enumerate(ids):
        for xy in fixations.select(stimulus_id=stimulus_id).arrays():
            np.add.at(empirical[k], (xy[:, 1].astype(int), xy[:, 0].astype(int)), 1.0)
        empirical[k] = gaussian_filter(empirical[k], 0.04 * FRAME[1])
    baseline = to_log_density(centre)
    rows = []
    for name, maps in models.items():
        rows.append({"model": name, "NSS": float(nss(maps, fixations)), "AUC-Judd": float(auc_judd(maps, fixations)),
                     "sAUC": float(shuffled_auc(maps, fixations)),
                     "IG over centre (bits)": float(information_gain(to_log_density(maps), baseline, fixations)),
                     "CC": float(np.mean(cc(maps.values, empirical))),
                     "SIM": float(np.mean(sim(maps.values, empirical)))})
    return pd.DataFrame(rows), models


def search_study(quick: bool, random_state: int):
    """The asymmetry experiment for the eccNET-style model and random search."""
    kw = dict(set_sizes=(4, 8, 12) if quick else (4, 8, 16), n_trials=3 if quick else 8,
              size=96 if quick else 128, random_state=random_state)
    models = {"VisualSearch": VisualSearch("torchvision:alexnet", similarity="centered", max_fixations=16,
                                           random_state=random_state),
              "RandomSearch": RandomSearch(max_fixations=16, random_state=random_state)}
    results = {name: search_asymmetry_experiment(m, **kw) for name, m in models.items()}
    pairs = pd.concat([r.pairs.assign(model=name) for name, r in results.items()], ignore_index=True)
    means = [{"model": name, "pair": "mean", "asymmetry_index": r.asymmetry_index} for name, r in results.items()]
    refs = [{"model": "humans (Gupta et al. 2021)", "pair": "mean", "asymmetry_index": HUMAN_ASYMMETRY_INDEX},
            {"model": "eccNET (Gupta et al. 2021)", "pair": "mean", "asymmetry_index": ECCNET_ASYMMETRY_INDEX}]
    asym = pd.concat([pairs, pd.DataFrame(means + refs)], ignore_index=True)
    asym = asym[["model", "pair", "easy", "hard", "slope_easy", "slope_hard", "asymmetry_index"]]
    conditions = pd.concat([r.conditions.assign(model=name) for name, r in results.items()], ignore_index=True)
    conditions["line"] = conditions["condition"] + " (" + conditions["model"] + ")"
    return asym, conditions, models["VisualSearch"], results


# ---------------------------------------------------------------------------------------- figures
def _scanpath_figure(photos: ImageSet, human: Scanpaths, predicted: dict[str, Scanpaths]):
    shown = photos.ids[:4]
    fig, axes = plt.subplots(2, len(shown), figsize=(3.6 * len(shown), 5.2), squeeze=False)
    for k, stimulus_id in enumerate(shown):
        observers = _in_frame(human, drop_start=False).select(stimulus_id=stimulus_id).arrays(with_duration=True)[:2]
        plot_scanpaths(photos[[stimulus_id]].images, observers, ax=axes[0, k], labels=["observer 1", "observer 2"],
                       title=f"{stimulus_id}: simulated observers")
        paths = [predicted[m].select(stimulus_id=stimulus_id).arrays()[0] for m in ("NeVA", "NevaClip")]
        plot_scanpaths(photos[[stimulus_id]].images, paths, ax=axes[1, k], labels=["NeVA", "NevaClip"],
                       colors=["tab:green", "tab:purple"], title=f"{stimulus_id}: models")
    fig.tight_layout()
    return fig


def _saliency_figure(photos: ImageSet, fixations: Scanpaths, maps: dict[str, xr.DataArray]):
    shown, names = photos.ids[:4], ["planted priority (ceiling)", "Itti-Koch", "Gabor energy norm"]
    fig, axes = plt.subplots(len(names), len(shown), figsize=(3.4 * len(shown), 2.3 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for k, stimulus_id in enumerate(shown):
            plot_saliency_overlay(photos[[stimulus_id]].images, maps[name][k].values,
                                  fixations=fixations.select(stimulus_id=stimulus_id), ax=axes[r, k],
                                  title=f"{name}, {stimulus_id}")
    fig.tight_layout()
    return fig


def _search_figure(model: VisualSearch, quick: bool, random_state: int):
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
    for ax, (t, d) in zip(axes, (("tilted", "vertical"), ("vertical", "tilted"))):
        arr = search_array(t, d, set_size=16, size=96 if quick else 128, n=1, random_state=random_state)
        sp, n_fix = model.search(arr)
        found = "not found" if np.isnan(n_fix[0]) else f"found after {n_fix[0]:.0f} fixation(s)"
        plot_scanpaths(arr.images.images, sp.arrays(), ax=ax, labels=["VisualSearch"],
                       title=f"{t} among {d}: {found} (1 = start)")
    fig.tight_layout()
    return fig


def run(out_dir: Path, quick: bool = False, random_state: int = 0) -> dict[str, pd.DataFrame]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = photographs(4 if quick else len(TARGETS))
    priority = priority_maps(photos.images.numpy().astype(float))
    file = write_observers(out_dir / "human", photos, priority, n_subjects=4 if quick else 10,
                           random_state=random_state)
    human = load_coco_search18(file, split="valid")
    fixations = _in_frame(human)

    scanpath_scores, predicted = score_scanpaths(photos, human, quick, random_state)
    saliency_scores, maps = score_saliency(photos, fixations, priority)
    asym, conditions, search_model, results = search_study(quick, random_state)

    scanpath_scores.to_csv(out_dir / "scanpath_scores.csv", index=False)
    saliency_scores.to_csv(out_dir / "saliency_scores.csv", index=False)
    asym.to_csv(out_dir / "asymmetry.csv", index=False)
    conditions.drop(columns="line").to_csv(out_dir / "search_fixations.csv", index=False)
    save_figure(_scanpath_figure(photos, human, predicted), out_dir / "scanpaths.png")
    save_figure(_saliency_figure(photos, fixations, maps), out_dir / "saliency.png")
    save_figure(_search_figure(search_model, quick, random_state), out_dir / "search_scanpaths.png")
    slopes = plot_search_slopes(conditions, y="n_fixations", condition="line", error=None,
                                ylabel="fixations to find the target",
                                title="search fixations against set size: VisualSearch vs random search")
    set_sizes = np.unique(conditions["set_size"])
    for ax in slopes.axes:
        ax.plot(set_sizes, (set_sizes + 1) / 2, ":", color="grey", label="chance, (k + 1) / 2")
        ax.legend(fontsize="x-small", frameon=False)
    save_figure(slopes, out_dir / "search_slopes.png")
    values = {f"{p} (VisualSearch)": v for p, v in zip(results["VisualSearch"].pairs["pair"],
                                                        results["VisualSearch"].pairs["asymmetry_index"])}
    values.update({f"mean ({name})": r.asymmetry_index for name, r in results.items()})
    save_figure(plot_asymmetry_index(values, reference=results["VisualSearch"].reference,
                                     title="search asymmetry index"), out_dir / "asymmetry_index.png")
    wide = scanpath_scores.pivot(index="model", columns="metric", values="mean").loc[
        list(dict.fromkeys(scanpath_scores["model"]))]
    return {"scanpath_scores": wide.reset_index(), "saliency_scores": saliency_scores, "asymmetry": asym,
            "search_fixations": conditions.drop(columns="line")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "scanpath_study")
    parser.add_argument("--quick", action="store_true",
                        help="4 photographs, 3 displays per condition and set size (about a minute)")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for name in ("scanpath_scores", "saliency_scores", "asymmetry"):
            print(f"\n{name}\n{tables[name].round(3).to_string(index=False)}")
        print("\nsearch fixations (mean over displays)")
        print(tables["search_fixations"].pivot_table(index=["model", "condition"], columns="set_size",
                                                     values="n_fixations").round(2).to_string())
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
