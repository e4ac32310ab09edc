"""Demo section on encoding models: which layer of the world's trained CNN predicts which ROI of the
simulated brain best, and what is left of it when the brain's content dependence is switched off."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import xarray as xr

from ..data.simulated import simulate_brain
from ..encoding import RidgeCV, fit_encoding_model
from ..features import extract, load_model
from ..plotting import Report
from ..stimuli import ImageSet
from ..world import render_scenes
from ._world import pool_grid, shows
from .registry import DemoContext, demo_section

_EARLY, _LATE = ("V1", "V4"), ("LO", "IT")
_CNN_LAYERS = ["conv1", "conv2", "conv3", "conv4", "pool"]


def candidate_layers(images: ImageSet, progress) -> dict[str, xr.DataArray]:
    """The encoding candidates: Gabor scales 1-2 and world:cnn conv1-conv4 averaged on a 4x4 grid (they
    keep coarse position), and world:cnn's global max pool."""
    gabor = extract(load_model("gabor", input_size=64), images, ["scale1", "scale2"], pooling="none",
                    progress=progress)
    cnn = extract(load_model("world:cnn"), images, _CNN_LAYERS, pooling="none", progress=progress)
    return {**{f"gabor {k}": pool_grid(v) for k, v in gabor.items()},
            **{f"world:cnn {k}": (pool_grid(v) if v.ndim == 4 else v) for k, v in cnn.items()}}


def _best(table: pd.DataFrame, rois) -> str:
    return "; ".join(f"{roi}: {table.loc[roi, 'best_layer']} ({table.loc[roi, table.loc[roi, 'best_layer']]:.2f})"
                     for roi in rois if roi in table.index)


@demo_section("encoding")
def _encoding(ctx: DemoContext, report: Report) -> None:
    n_images, n_voxels = (160, 240) if ctx.quick else (480, 600)
    t0 = time.perf_counter()
    scenes = render_scenes(n_images, random_state=2)
    candidates = candidate_layers(scenes.images, ctx.progress)
    brain = simulate_brain(scenes, n_voxels=n_voxels, snr=1.0, n_repeats=3, random_state=0)
    result = fit_encoding_model(candidates, brain.responses, model=RidgeCV(), per_layer=True, test=0.25,
                                progress=ctx.progress, random_state=0)
    # the control: the same voxels and noise with LO and IT on contrast energy, fitted with two candidates
    control_layers = {k: candidates[k] for k in ("world:cnn conv1", "world:cnn pool")}
    off = simulate_brain(scenes, n_voxels=n_voxels, snr=1.0, n_repeats=3, random_state=0, content=False)
    late = np.isin(off.responses["roi"].values, _LATE)
    control = fit_encoding_model(control_layers, off.responses.isel(voxel=late), model=RidgeCV(), per_layer=True,
                                 test=0.25, progress=ctx.progress, random_state=0)
    ctx.timings["encoding"] = time.perf_counter() - t0

    s = report.section(
        "Encoding models",
        f"{n_images} world scenes (one to three objects, 64x64) drive the simulated brain of the previous section "
        f"({n_voxels} voxels, 3 repeats, median single-trial SNR 1): V1 and V4 on local contrast energy, LO and IT "
        "on the categories of the objects. The candidate feature spaces know nothing of this truth: the Gabor "
        "pyramid's scales 1 and 2 and the conv blocks of world:cnn (the shape-naming CNN trained on the world, "
        "shipped weights), their maps averaged on a 4x4 grid so they keep coarse position, and world:cnn's global "
        "max pool (position-free). For every candidate a voxelwise RidgeCV (alpha per voxel, 5-fold CV) is fitted "
        "on 75% of the scenes with fit_encoding_model(..., per_layer=True) and scored on the held-out 25%: Pearson "
        "r, R² and the noise-ceiling-normalised score (r² / noise ceiling, the ceiling estimated from the repeats). "
        "The control refits conv1 and the pool layer on the same brain with content=False: the same voxels and "
        "noise, but LO and IT tuned to contrast energy in large receptive fields instead of categories.",
        doc="encoding.md",
    )
    table = result.roi_summary()
    s.tables.append(Report.table(table.reset_index(names="roi").round(3),
                                 "Median noise-ceiling-normalised score per ROI and layer (held-out scenes)"))
    on = table.loc[list(_LATE), ["world:cnn conv1", "world:cnn pool"]]
    ctrl = control.roi_summary().loc[list(_LATE), ["world:cnn conv1", "world:cnn pool"]]
    rows = [{"roi": roi, "brain": brain_kind, **{k: float(v) for k, v in frame.loc[roi].items()}}
            for roi in _LATE for brain_kind, frame in (("content on", on), ("content off", ctrl))]
    s.tables.append(Report.table(pd.DataFrame(rows).round(3), "Control: LO and IT with and without content"))
    best = result["best_layer"].values
    roi = result["roi"].values
    layers = list(candidates)
    counts = pd.DataFrame({r: [float(np.mean(best[roi == r] == lay)) for lay in layers] for r in dict.fromkeys(roi)},
                          index=layers).T
    s.tables.append(Report.table(counts.reset_index(names="roi").round(2),
                                 "Share of each ROI's voxels best predicted by each layer"))
    s.figures.append(report.figure(
        result.plot_rois(title="Encoding accuracy per ROI and layer", ylabel="noise-ceiling-normalised score"),
        "encoding_rois", "Mean ± s.e.m. over voxels of the held-out noise-ceiling-normalised score, one bar per "
        "candidate layer."))
    s.figures.append(report.figure(
        result.plot_brain(title="Best layer's score (held-out)", vmin=0.0, vmax=1.0, cmap="hot"),
        "encoding_brain", "Each voxel's noise-ceiling-normalised score under its best layer, on the MNI152 "
        "glass brain."))
    gain_on = {r: on.loc[r, "world:cnn pool"] - on.loc[r, "world:cnn conv1"] for r in _LATE}
    gain_off = {r: ctrl.loc[r, "world:cnn pool"] - ctrl.loc[r, "world:cnn conv1"] for r in _LATE}
    shows(s, f"the best layer per ROI (median score) is {_best(table, _EARLY + _LATE)}. The pool layer's lead "
             "over conv1 in LO and IT is " + ", ".join(f"{gain_on[r]:+.2f} ({r})" for r in _LATE)
             + " with content and " + ", ".join(f"{gain_off[r]:+.2f}" for r in _LATE)
             + " without it" + (": what the late layer adds there comes from the categories, not from contrast."
                                if all(gain_on[r] > gain_off[r] + 0.1 for r in _LATE)
                                else "; the lead does not depend on the content."),
          "Yamins et al. 2014 and Güçlü & van Gerven 2015: early layers of a trained network predict early visual "
          "cortex best and late layers the object-selective cortex")
