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
from ..world import CATEGORIES, COLOURS, render_scenes
from ._world import pool_grid, shows, split_ids
from .registry import DemoContext, demo_section


def _text_embeddings(fm, texts: list[str]) -> np.ndarray:
    """world:clip's L2-normalised text embeddings of ``texts``."""
    clip, tokenizer = fm.extras["clip"], fm.extras["tokenizer"]
    with torch.no_grad():
        return torch.nn.functional.normalize(clip.encode_text(tokenizer(texts)).float(), dim=-1).numpy()


def _naming(pred: np.ndarray, prompts: np.ndarray, holds: np.ndarray) -> float:
    """Share of scenes whose embedding is closest (cosine) to a category the scene holds."""
    unit = pred / np.linalg.norm(pred, axis=1, keepdims=True)
    return float(np.mean(holds[np.arange(len(pred)), (unit @ prompts.T).argmax(1)]))


def _static(ctx: DemoContext, report: Report) -> None:
    n_images, n_voxels = (160, 240) if ctx.quick else (480, 600)
    snrs = (0.25, 1.0) if ctx.quick else (0.125, 0.25, 0.5, 1.0)
    scenes = render_scenes(n_images, random_state=4)
    fm = load_model("world:clip")
    target = extract(fm, scenes.images, ["output"], pooling=None, progress=ctx.progress)["output"]
    ids = target["stimulus_id"].values.astype(str).tolist()
    train, test = split_ids(ids)
    y_train, y_test = select_stimuli(target, train), select_stimuli(target, test)
    captions = scenes.captions.drop_duplicates("stimulus_id").set_index("stimulus_id")["caption"]
    text = xr.DataArray(_text_embeddings(fm, [captions[i] for i in test]), dims=("stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", test)})
    # one prompt per category: the mean of "a <colour> <category>" over the colours (a prompt ensemble)
    prompts = np.stack([_text_embeddings(fm, [f"a {c} {cat}" for c in COLOURS]).mean(0) for cat in CATEGORIES])
    prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
    holds = pd.crosstab(scenes.objects["stimulus_id"], scenes.objects["category"]).reindex(
        index=test, columns=list(CATEGORIES), fill_value=0).to_numpy() > 0
    naming_chance = float(holds.mean())

    def scores(snr, decoder: str, pred) -> tuple[dict, pd.DataFrame]:
        table = retrieval_accuracy(pred, y_test, k=(1, 5))
        captions_table = retrieval_accuracy(pred, text, k=(1,), direction="brain_to_image")
        return {"median single-trial SNR": snr, "decoder": decoder,
                "image top-1": table.loc["brain_to_image", "top-1"],
                "image top-5": table.loc["brain_to_image", "top-5"],
                "caption top-1": captions_table.loc["brain_to_image", "top-1"],
                "names a category in the scene": _naming(np.asarray(pred), prompts, holds),
                "2-way identification": two_way_identification(pred, y_test)}, table

    rows = []
    for snr in snrs:
        brain = simulate_brain(scenes, n_voxels=n_voxels, snr=snr, n_repeats=2, random_state=0)
        resp = average_repeats(brain.responses)
        x_train, x_test = select_stimuli(resp, train), select_stimuli(resp, test)
        row, table = scores(snr, "ridge", RidgeDecoder().fit(x_train, y_train).predict(x_test))
        rows.append(row)
    contrastive = ContrastiveDecoder(hidden=(), max_epochs=60 if ctx.quick else 150, patience=15, batch_size=64,
                                     random_state=0, device="cpu").fit(x_train, y_train)
    rows.append(scores(snrs[-1], "contrastive (linear, InfoNCE)", contrastive.transform(x_test))[0])
    rows.append({"median single-trial SNR": None, "decoder": "none: the true image embeddings",
                 "image top-1": 1.0, "image top-5": 1.0,
                 "caption top-1": retrieval_accuracy(y_test, text, k=(1,), direction="brain_to_image").loc[
                     "brain_to_image", "top-1"],
                 "names a category in the scene": _naming(y_test.values, prompts, holds),
                 "2-way identification": 1.0})
    ablation = roi_ablation(RidgeDecoder(), resp, target, test=test, progress=ctx.progress)
    without = ablation[ablation["condition"] == "without"].set_index("roi")
    alone = ablation[ablation["condition"] == "only"].set_index("roi")

    s = report.section(
        "Decoding: which image was seen",
        f"The world brain (V1 and V4 on contrast energy, LO and IT on the objects' categories; {n_voxels} voxels, 2 "
        f"repeats) sees {n_images} world scenes. A RidgeDecoder (the encoding RidgeCV solver run backwards: "
        f"responses → features) maps the repeat-averaged responses of {len(train)} training scenes to their "
        f"{target.sizes['feature']}-dimensional world:clip image embeddings (the world's image-text model, shipped "
        f"weights). The decoded embeddings of {len(test)} held-out scenes retrieve their own image among all "
        f"{len(test)} (chance top-1 {1 / len(test):.3f}, top-5 {5 / len(test):.3f}) and their own caption among the "
        "held-out scenes' captions embedded by world:clip's text tower (chance top-1 the same), are scored by 2-way "
        "identification (chance 0.5), and name a category: the nearest of eight category prompts (each the mean "
        "embedding of 'a <colour> <category>' over the six colours) is counted right when the scene holds that "
        f"category (chance {naming_chance:.2f}: categories are present in that share of scene x category pairs). The "
        "last row scores the true image embeddings the same way: world:clip's own ceiling. A linear "
        "ContrastiveDecoder (symmetric InfoNCE, learnable temperature) is fitted at the highest SNR for comparison. "
        "ROI ablation refits the ridge decoder without each ROI and with each ROI alone.",
        doc="decoding.md",
    )
    s.tables.append(Report.table(pd.DataFrame(rows), "Held-out retrieval, captions, naming and identification per "
                                                     "SNR and decoder"))
    s.tables.append(Report.table(ablation.drop(columns=[c for c in ("identification_drop",) if c in ablation]),
                                 f"ROI ablation (ridge decoder, SNR {snrs[-1]}); drop = all-voxel top-1 minus the "
                                 "condition's"))
    s.figures.append(report.figure(plot_retrieval(table, title=f"Ridge decoder, SNR {snrs[-1]}"), "decoding_retrieval",
                                   "Top-1 and top-5 retrieval among the held-out scenes, both directions, with "
                                   "chance."))
    s.figures.append(report.figure(plot_roi_ablation(ablation), "decoding_ablation",
                                   "Drop in top-1 retrieval when each ROI is removed, and each ROI's accuracy alone."))
    ridge = [r for r in rows if r["decoder"] == "ridge"]
    costly = str(without["drop"].astype(float).idxmax())
    shows(s, f"image top-1 goes from {ridge[0]['image top-1']:.2f} to {ridge[-1]['image top-1']:.2f} as the SNR "
             f"rises from {snrs[0]} to {snrs[-1]} (chance {1 / len(test):.3f}); at SNR {snrs[-1]} the decoded "
             f"embedding finds its caption top-1 in {ridge[-1]['caption top-1']:.2f} of scenes and names a present "
             f"category in {ridge[-1]['names a category in the scene']:.2f} (chance {naming_chance:.2f}; the true "
             f"embeddings {rows[-1]['names a category in the scene']:.2f}). Removing {costly} costs the most "
             f"({float(without.loc[costly, 'drop']):.2f} top-1); alone, "
             + ", ".join(f"{r} reaches {float(alone.loc[r, 'top-1']):.2f}" for r in alone.index) + ".",
          "brain-to-CLIP retrieval as in MindEye (Scotti et al. 2023) and the identification of seen images from "
          "visual cortex (Kay et al. 2008)")


def _motion(ctx: DemoContext, report: Report) -> None:
    n_videos, size, n_voxels = (80, 32, 160) if ctx.quick else (240, 32, 400)
    stim = flowing_textures(n=n_videos, size=size, n_frames=8, max_speed=1.5, random_state=0)
    motion = extract(load_model("motion_energy"), stim.videos, ["output"], pooling="none",
                     progress=ctx.progress)["output"]
    static = extract(load_model("gabor"), stim.videos.frames(), ["scale1"], pooling="none",
                     progress=ctx.progress)["scale1"]
    layers = {"gabor scale1 (middle frame)": pool_grid(static), "motion energy": motion}
    brain = simulate_brain(layers, n_voxels=n_voxels, rois=("V1", "MT"), snr=1.0, n_repeats=2, random_state=0)
    resp = average_repeats(brain.responses)
    ids = resp["stimulus_id"].values.astype(str).tolist()
    flows = xr.DataArray(stim.flow.numpy(), dims=("stimulus", "axis", "y", "x"),
                         coords={"stimulus_id": ("stimulus", stim.videos.ids), "axis": ["dx", "dy"]})
    train, test = split_ids(ids)
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
    epe = table.set_index("voxels")["epe"].astype(float)
    shows(s, f"the decoded flow's end-point error is {epe['all voxels']:.2f} px/frame from all voxels, "
             f"{epe['MT only']:.2f} from MT alone and {epe['V1 only']:.2f} from V1 alone, against "
             f"{epe['shuffled']:.2f} for predictions paired with the wrong videos and {epe['zero flow']:.2f} for "
             "predicting no motion.",
          "decoding motion from motion-energy-tuned MT responses (Nishimoto et al. 2011)")
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
