"""Demo section on the simulated brain: ROIs on MNI152, the planted noise ceiling, and its estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..data.noise_ceiling import noise_ceiling
from ..data.simulated import simulate_brain
from ..features import extract, load_model
from ..plotting import Report
from ..plotting import brain as brain_plots
from ..stimuli import procedural
from .registry import DemoContext, demo_section


@demo_section("brain")
def _brain(ctx: DemoContext, report: Report) -> None:
    images = ctx.images if ctx.images is not None else procedural.gratings(size=64)
    layers = ["scale1", "scale2", "scale3"]
    maps = extract(load_model("gabor"), images, layers, pooling="none", batch_size=16, progress=ctx.progress)
    features = {f"gabor {k}": v for k, v in maps.items()}
    n_voxels = 300 if ctx.quick else 900
    brain = simulate_brain(features, n_voxels=n_voxels, snr=0.8, n_repeats=3, random_state=0)
    s = report.section(
        "Simulated brain",
        f"{n_voxels} voxels placed in grey matter of nilearn's bundled MNI152 template: V1-like along the "
        "calcarine sulcus, V4-like in ventral occipital cortex, IT-like in ventral temporal cortex, both "
        "hemispheres. They respond to the demo images through the Gabor pyramid's maps (V1 ← scale1, "
        "V4 ← scale2, IT ← scale3): each voxel has a planted Gaussian receptive field, laid out "
        "retinotopically and growing from V1 to IT, and a sparse orientation/frequency tuning; Gaussian "
        "noise is added with a median single-trial SNR of 0.8, varying smoothly over cortex. Everything "
        "planted is returned with the responses, so any encoding model or noise-ceiling estimator can be "
        "checked against the truth.",
        doc="simulated-brain.md",
    )
    s.figures.append(report.figure(brain_plots.plot_roi_map(brain.responses, title="Simulated ROIs"),
                                   "brain_rois", "Where the simulated voxels are (MNI152 glass brain)."))
    s.figures.append(report.figure(
        brain_plots.plot_noise_ceiling_map(brain.true_noise_ceiling, title="True noise ceiling"),
        "brain_noise_ceiling", "The planted noise ceiling of the 3-repeat average (fraction of variance)."))
    table = brain.roi_table()
    s.tables.append(Report.table(table, "ROIs: voxels, layers, receptive-field sizes, SNR"))

    n_stim = 500 if ctx.quick else 2000
    rng = np.random.default_rng(0)
    flat = xr.DataArray(rng.standard_normal((n_stim, 64)).astype(np.float32), dims=("stimulus", "feature"))
    big = simulate_brain(flat, n_voxels=n_voxels, snr=0.5, n_repeats=3, random_state=1)
    estimates = {method: noise_ceiling(big.responses, method=method, random_state=0)
                 for method in ("ncsnr", "split_half")}
    truth = big.true_noise_ceiling
    s.text += (f"\n\nThe noise-ceiling estimators are checked on a second simulated brain with {n_stim} "
               "stimuli (random Gaussian features, median SNR 0.5, 3 repeats), large enough for the "
               "estimates to be tight: the NSD-style ncsnr estimate and the split-half estimate, against "
               "the planted value.")
    s.figures.append(report.figure(
        brain_plots.plot_estimate_vs_truth(truth.values, {m: e.values for m, e in estimates.items()},
                                           title="Noise ceiling: estimate vs truth", xlabel="true noise ceiling",
                                           ylabel="estimated noise ceiling"),
        "brain_nc_recovery", "Each point is a voxel; the dashed line is identity."))
    s.figures.append(report.figure(
        brain_plots.plot_roi_summary({"truth": truth, **estimates}, title="Noise ceiling per ROI",
                                     ylabel="noise ceiling"),
        "brain_roi_summary", "Mean ± s.e.m. over voxels per ROI: truth and both estimates."))
    rows = [{"method": m, "mean |estimate - truth|": float(np.abs(e.values - truth.values).mean())}
            for m, e in estimates.items()]
    s.tables.append(Report.table(pd.DataFrame(rows), "Noise-ceiling recovery"))
