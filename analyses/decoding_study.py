"""Decoding what was seen from a simulated brain: retrieval and identification vs SNR, ridge vs contrastive, ROI ablation.

Mirrors fMRI-to-image-embedding decoding (Ozcelik & VanRullen 2023; MindEye / MindEye2, Scotti et al.
2023, 2024, which reach 98.8 % top-1 among 300 with CLIP embeddings and 7T NSD data): responses are
mapped to an image-embedding space by ridge regression or a contrastive (InfoNCE) brain encoder,
and the decoded embedding must pick out its own image among many (top-1/top-5 retrieval in both
directions, and among random subsets of ``n_way`` candidates) or beat one foil (2-way
identification). ROI ablation refits the decoder without each ROI and with each ROI alone.

The brain is simulated on the embedded default: crops of the photographs shipped with scikit-image
drive V1 (Gabor-pyramid maps through retinotopic receptive fields), V4 and IT (layers of a
random-init AlexNet); the decoded embedding is the IT layer, a stand-in for a CLIP image
embedding. Expected: top-1 far above chance and rising with SNR; 2-way identification near 1 at
moderate SNR; the ablation ranks IT (the ROI that carries the decoded layer) first. With real data,
``RidgeDecoder().fit(responses, clip_embeddings)`` on NSD betas (``load_nsd_betas``) and open_clip
image embeddings (``extract("open_clip:ViT-B-32", images, ["output"])`` with downloaded weights by
path) runs the same code; the ablation then uses the atlas ROIs of the responses.

Run: ``python analyses/decoding_study.py [--out DIR] [--quick]``; writes ``retrieval_vs_snr.csv``,
``retrieval_vs_snr.png``, ``decoders.csv``, ``ablation.csv`` and ``ablation.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from neuroperception.data import average_repeats, select_stimuli, simulate_brain  # noqa: E402
from neuroperception.decoding import (ContrastiveDecoder, RidgeDecoder, retrieval_accuracy,  # noqa: E402
                                      roi_ablation, two_way_identification)
from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.plotting import plot_roi_ablation, save_figure  # noqa: E402
from neuroperception.stimuli import ImageSet  # noqa: E402

HERE = Path(__file__).resolve().parent


def crops(n: int, size: int, random_state: int = 0) -> ImageSet:
    """``n`` random square crops (random flips) of the shipped photographs, ``size`` pixels."""
    return ImageSet.from_samples(size=2 * size).random_crops(n, size, random_state=random_state)


def features(images: ImageSet) -> dict[str, xr.DataArray]:
    """The three layers the simulated ROIs read (V1, V4, IT order); the last is the decoded embedding."""
    maps = extract(load_model("gabor"), images, ["scale2"], pooling="avg:4")["scale2"]
    alexnet = extract(load_model("torchvision:alexnet", random_state=0), images, ["features.4", "features.11"],
                      pooling="avg")
    return {"gabor scale2": maps, "alexnet features.4": alexnet["features.4"],
            "alexnet features.11": alexnet["features.11"]}


def _scores(pred, target, n_way: int) -> dict[str, float]:
    full = retrieval_accuracy(pred, target, k=(1, 5))
    sub = retrieval_accuracy(pred, target, k=(1,), n_way=n_way, random_state=0)
    return {"top-1 brain_to_image": full.loc["brain_to_image", "top-1"],
            "top-1 image_to_brain": full.loc["image_to_brain", "top-1"],
            "top-5 brain_to_image": full.loc["brain_to_image", "top-5"],
            f"top-1 {n_way}-way": sub.loc["brain_to_image", "top-1"],
            "2-way identification": two_way_identification(pred, target), "chance top-1": 1 / len(target)}


def run(out_dir: Path, quick: bool = False, random_state: int = 0) -> dict[str, pd.DataFrame]:
    n_images, size, n_voxels = (200, 64, 300) if quick else (800, 96, 900)
    snrs = (0.125, 0.5) if quick else (0.0625, 0.125, 0.25, 0.5, 1.0)
    seeds = (0,) if quick else (0, 1, 2)
    n_way = 20 if quick else 50
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = features(crops(n_images, size, random_state))
    target = layers["alexnet features.11"]
    ids = target["stimulus_id"].values.astype(str)
    rng = np.random.default_rng(random_state)
    test = np.sort(rng.choice(ids, size=n_images // 4, replace=False))
    train = np.setdiff1d(ids, test)

    y_train, y_test = select_stimuli(target, train), select_stimuli(target, test)
    rows, decoders, keep = [], [], None
    for seed in seeds:
        for snr in snrs:
            brain = simulate_brain(layers, n_voxels=n_voxels, snr=snr, n_repeats=2, random_state=seed)
            resp = average_repeats(brain.responses)
            pred = RidgeDecoder().fit(select_stimuli(resp, train), y_train).predict(select_stimuli(resp, test))
            rows.append({"seed": seed, "median single-trial SNR": snr, **_scores(pred, y_test, n_way)})
            if seed == seeds[0] and snr == snrs[-1]:
                keep = resp
    curve = pd.DataFrame(rows)
    curve.to_csv(out_dir / "retrieval_vs_snr.csv", index=False)

    for name, dec in (("ridge", RidgeDecoder()),
                      ("contrastive, linear", ContrastiveDecoder(hidden=(), lr=1e-2, max_epochs=60 if quick else 200,
                                                                 patience=20, batch_size=64, random_state=random_state,
                                                                 device="cpu")),
                      ("contrastive, MLP + soft targets + MixCo",
                       ContrastiveDecoder(hidden=(256,), soft_targets=0.5, mixco=0.5, lr=1e-3,
                                          max_epochs=60 if quick else 200, patience=20, batch_size=64,
                                          random_state=random_state, device="cpu"))):
        pred = dec.fit(select_stimuli(keep, train), y_train).predict(select_stimuli(keep, test))
        decoders.append({"decoder": name, **_scores(pred, y_test, n_way)})
    decoders = pd.DataFrame(decoders)
    decoders.to_csv(out_dir / "decoders.csv", index=False)

    ablation = roi_ablation(RidgeDecoder(), keep, target, test=list(test), progress=not quick)
    ablation.to_csv(out_dir / "ablation.csv", index=False)
    save_figure(plot_roi_ablation(ablation, title=f"ROI ablation (SNR {snrs[-1]})"), out_dir / "ablation.png")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    summary = curve.groupby("median single-trial SNR").mean(numeric_only=True)
    for col in ("top-1 brain_to_image", f"top-1 {n_way}-way", "2-way identification"):
        ax.plot(summary.index, summary[col], marker="o", label=col)
    ax.axhline(1 / len(test), color="grey", linestyle=":", label=f"chance top-1 ({len(test)} candidates)")
    ax.axhline(1 / n_way, color="grey", linestyle="--", label=f"chance {n_way}-way")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("median single-trial SNR")
    ax.set_ylabel("accuracy (held-out)")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False, fontsize=7)
    save_figure(fig, out_dir / "retrieval_vs_snr.png")
    return {"curve": curve, "decoders": decoders, "ablation": ablation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "decoding_study")
    parser.add_argument("--quick", action="store_true", help="fewer images, SNRs and seeds (about a minute)")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(tables["curve"].groupby("median single-trial SNR").mean(numeric_only=True).round(3).to_string())
        print(tables["decoders"].round(3).to_string(index=False))
        print(tables["ablation"].round(3).to_string(index=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
