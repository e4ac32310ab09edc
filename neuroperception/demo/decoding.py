"""Demo section on decoding: which image was seen, which ROI carries it, and which way things moved."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data import average_repeats, select_stimuli
from ..data.simulated import simulate_brain
from ..decoding import (ContrastiveDecoder, FlowDecoder, RidgeDecoder, flow_decoding_report, render_motion,
                        retrieval_accuracy, roi_ablation, two_way_identification)
from ..features import extract, load_model
from ..plotting import Report, plot_flow_comparison, plot_retrieval, plot_roi_ablation, save_animation
from ..stimuli import flowing_textures
from .encoding import _crops, _pool4
from .registry import DemoContext, demo_section

_TARGET = "alexnet features.11"


def _split(ids: list[str], test: float = 0.25) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(0)
    order = rng.permutation(len(ids))
    n_test = int(round(test * len(ids)))
    return [ids[i] for i in sorted(order[n_test:])], [ids[i] for i in sorted(order[:n_test])]


def _static(ctx: DemoContext, report: Report) -> None:
    n_images, size, n_voxels = (160, 64, 240) if ctx.quick else (480, 96, 600)
    snrs = (0.25, 1.0) if ctx.quick else (0.125, 0.25, 0.5, 1.0)
    images = _crops(ctx, n_images, size)
    maps = extract(load_model("gabor"), images, ["scale2"], pooling="none", progress=ctx.progress)["scale2"]
    alexnet = extract(load_model("torchvision:alexnet", random_state=0), images, ["features.4", "features.11"], pooling="avg",
                      progress=ctx.progress)
    layers = {"gabor scale2": _pool4(maps), "alexnet features.4": alexnet["features.4"], _TARGET: alexnet["features.11"]}
    target = layers[_TARGET]
    train, test = _split(target["stimulus_id"].values.astype(str).tolist())
    y_train, y_test = select_stimuli(target, train), select_stimuli(target, test)

    def scores(snr: float, decoder: str, pred) -> tuple[dict, pd.DataFrame]:
        table = retrieval_accuracy(pred, y_test, k=(1, 5))
        return {"median single-trial SNR": snr, "decoder": decoder,
                "top-1 brain_to_image": table.loc["brain_to_image", "top-1"],
                "top-1 image_to_brain": table.loc["image_to_brain", "top-1"],
                "top-5 brain_to_image": table.loc["brain_to_image", "top-5"],
                "2-way identification": two_way_identification(pred, y_test)}, table

    rows = []
    for snr in snrs:
        brain = simulate_brain(layers, n_voxels=n_voxels, snr=snr, n_repeats=2, random_state=0)
        resp = average_repeats(brain.responses)
        x_train, x_test = select_stimuli(resp, train), select_stimuli(resp, test)
        row, table = scores(snr, "ridge", RidgeDecoder().fit(x_train, y_train).predict(x_test))
        rows.append(row)
    contrastive = ContrastiveDecoder(hidden=(), max_epochs=60 if ctx.quick else 150, patience=15, batch_size=64,
                                     random_state=0, device="cpu").fit(x_train, y_train)
    rows.append(scores(snrs[-1], "contrastive (linear, InfoNCE)", contrastive.transform(x_test))[0])
    ridge_top1, contrastive_top1 = rows[-2]["top-1 brain_to_image"], rows[-1]["top-1 brain_to_image"]
    verdict = (f"{'trails' if contrastive_top1 < ridge_top1 else 'matches or beats'} ridge with these {len(train)} "
               "training pairs")
    ablation = roi_ablation(RidgeDecoder(), resp, target, test=test, progress=ctx.progress)
    ablated = ablation[ablation["condition"] == "without"]["roi"].iloc[0]

    s = report.section(
        "Decoding: which image was seen",
        f"The same simulated brain as in the encoding section ({n_voxels} voxels; V1 reads Gabor scale-2 maps, V4 "
        f"AlexNet features.4, IT AlexNet features.11, random-init weights) responds to {n_images} photo crops. A "
        f"RidgeDecoder (the encoding RidgeCV solver run backwards: responses → features) maps repeat-averaged "
        f"responses of {len(train)} training crops to the {target.sizes['feature']}-dimensional features.11 "
        f"embedding (a stand-in for a CLIP image embedding, which real weights would give); the decoded embeddings "
        f"of {len(test)} held-out crops retrieve their own image among all {len(test)} (chance top-1 "
        f"{1 / len(test):.3f}, top-5 {5 / len(test):.3f}) and are scored by 2-way identification (chance 0.5). "
        "Accuracy rises with the signal-to-noise ratio. A linear ContrastiveDecoder (symmetric InfoNCE, learnable "
        f"temperature) is fitted at the highest SNR for comparison; it {verdict}. ROI ablation refits the ridge "
        f"decoder without each ROI and with each ROI alone: removing {ablated} costs the most, the ROI whose layer is the decoded "
        "one.",
        doc="decoding.md",
    )
    s.tables.append(Report.table(pd.DataFrame(rows), "Held-out retrieval and identification per SNR and decoder"))
    s.tables.append(Report.table(ablation.drop(columns=[c for c in ("identification_drop",) if c in ablation]),
                                 f"ROI ablation (ridge decoder, SNR {snrs[-1]}); drop = all-voxel top-1 minus the "
                                 "condition's"))
    s.figures.append(report.figure(plot_retrieval(table, title=f"Ridge decoder, SNR {snrs[-1]}"), "decoding_retrieval",
                                   "Top-1 and top-5 retrieval among the held-out crops, both directions, with chance."))
    s.figures.append(report.figure(plot_roi_ablation(ablation), "decoding_ablation",
                                   "Drop in top-1 retrieval when each ROI is removed, and each ROI's accuracy alone."))


def _motion(ctx: DemoContext, report: Report) -> None:
    n_videos, size, n_voxels = (80, 32, 160) if ctx.quick else (240, 32, 400)
    stim = flowing_textures(n=n_videos, size=size, n_frames=8, max_speed=1.5, random_state=0)
    motion = extract(load_model("motion_energy"), stim.videos, ["output"], pooling="none",
                     progress=ctx.progress)["output"]
    static = extract(load_model("gabor"), stim.videos.frames(), ["scale1"], pooling="none",
                     progress=ctx.progress)["scale1"]
    layers = {"gabor scale1 (middle frame)": _pool4(static), "motion energy": motion}
    brain = simulate_brain(layers, n_voxels=n_voxels, rois=("V1", "MT"), snr=1.0, n_repeats=2, random_state=0)
    resp = average_repeats(brain.responses)
    ids = resp["stimulus_id"].values.astype(str).tolist()
    flows = xr.DataArray(stim.flow.numpy(), dims=("stimulus", "axis", "y", "x"),
                         coords={"stimulus_id": ("stimulus", stim.videos.ids), "axis": ["dx", "dy"]})
    train, test = _split(ids)
    f_train, f_test = select_stimuli(flows, train), select_stimuli(flows, test)
    rows = {}
    for name, voxels in (("all voxels", resp), ("MT only", resp.where(resp["roi"] == "MT", drop=True)),
                         ("V1 only", resp.where(resp["roi"] == "V1", drop=True))):
        pred = FlowDecoder(n_components=6).fit(select_stimuli(voxels, train), f_train).predict(
            select_stimuli(voxels, test))
        rep = flow_decoding_report(pred, f_test, n_shuffles=50, random_state=0)
        rows[name] = rep.loc["decoded"]
        if name == "all voxels":
            best_pred, report_table = pred, rep
    table = pd.DataFrame(rows).T.reset_index(names="voxels")
    table = pd.concat([table, report_table.loc[["shuffled", "zero flow"]].reset_index(names="voxels")])

    s = report.section(
        "Decoding motion: optical flow from a simulated MT",
        f"{n_videos} procedural videos ({size}x{size}, 8 frames) of band-pass textures moved by random stationary "
        "affine flows (translation, rotation, expansion, shear; true flow known). A simulated brain with V1 "
        "(Gabor maps of the middle frame: no motion information) and MT (the weight-free motion-energy model's "
        f"direction-tuned maps) responds to them ({n_voxels} voxels, SNR 1). FlowDecoder maps responses to the "
        "coefficients of a 6-component PCA flow basis with the encoding RidgeCV solver and back to flow fields; the "
        "end-point error (pixels, lower is better) of held-out videos is compared with the same predictions paired "
        "with the wrong videos (shuffled) and with predicting no motion.",
        doc="motion-decoding.md",
    )
    s.tables.append(Report.table(table.round(3), "Held-out end-point error of decoded flow (pixels/frame)"))
    test_ids = [str(i) for i in f_test["stimulus_id"].values]
    first_frames = stim.videos[test_ids[:3]].videos[:, 0].numpy()
    s.figures.append(report.figure(
        plot_flow_comparison(f_test.isel(stimulus=slice(0, 3)), best_pred.isel(stimulus=slice(0, 3)), first_frames),
        "decoding_flow", "True vs decoded flow for three held-out videos, with the end-point-error map."))
    frame = torch.as_tensor(first_frames[0])
    for name, flow in (("true", f_test.values[0]), ("decoded", best_pred.values[0])):
        rel = f"figures/decoding_motion_{name}.gif"
        save_animation(render_motion(frame, torch.as_tensor(flow), n_frames=8).numpy(), report.out_dir / rel,
                       fps=6, overwrite=True)
        s.figures.append((rel, f"The first frame of {test_ids[0]} moved along its {name} flow (animation)."))


@demo_section("decoding")
def _decoding(ctx: DemoContext, report: Report) -> None:
    t0 = time.perf_counter()
    _static(ctx, report)
    _motion(ctx, report)
    ctx.timings["decoding"] = time.perf_counter() - t0
