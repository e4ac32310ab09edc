"""Demo section on deep readouts: where in the image does each simulated voxel look?"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data import select_stimuli
from ..data.simulated import simulate_brain
from ..encoding import AttentionReadout, FactorizedReadout, RidgeCV, fit_encoding_model
from ..features import extract, load_model
from ..plotting import Report
from ..plotting import plot_attention_maps, plot_centre_recovery, plot_receptive_fields
from ..world import render_scenes
from ._world import shows
from .registry import DemoContext, demo_section

_LAYER = "world:cnn conv1"


def _coarse(maps: xr.DataArray, grid: int) -> xr.DataArray:
    """Average ``(stimulus, channel, y, x)`` maps down to a ``grid × grid`` map, keeping stimulus coords."""
    pooled = torch.nn.functional.adaptive_avg_pool2d(torch.as_tensor(np.asarray(maps.values)), grid).numpy()
    coords = {k: c for k, c in maps.coords.items() if c.dims == ("stimulus",)}
    return xr.DataArray(pooled, dims=maps.dims, coords=coords, name=f"{_LAYER} {grid}x{grid}")


def _planted_on_grid(rf: pd.DataFrame, grid: int) -> tuple[pd.DataFrame, xr.DataArray]:
    """The planted receptive fields (energy-grid cells for V1/V4, pixels for LO/IT) on the readouts'
    ``grid × grid`` feature grid: centres and σ in its cells, and the normalised Gaussian maps."""
    scale = grid / rf["grid_w"].to_numpy(dtype=float)
    table = pd.DataFrame({"roi": rf["roi"].to_numpy(),
                          "center_y": (rf["center_y"].to_numpy() + 0.5) * scale - 0.5,
                          "center_x": (rf["center_x"].to_numpy() + 0.5) * scale - 0.5,
                          "size": rf["size"].to_numpy() * scale})
    cells = np.arange(grid)
    gy = np.exp(-0.5 * ((cells[None] - table["center_y"].to_numpy()[:, None]) / table["size"].to_numpy()[:, None]) ** 2)
    gx = np.exp(-0.5 * ((cells[None] - table["center_x"].to_numpy()[:, None]) / table["size"].to_numpy()[:, None]) ** 2)
    maps = gy[:, :, None] * gx[:, None, :]
    maps /= maps.sum((1, 2), keepdims=True)
    return table, xr.DataArray(maps, dims=("voxel", "y", "x"), coords={"roi": ("voxel", table["roi"].to_numpy())})


def _within(planted: pd.DataFrame, est: pd.DataFrame) -> np.ndarray:
    dy = planted["center_y"].values - est["center_y"].values
    return np.hypot(dy, planted["center_x"].values - est["center_x"].values) <= 1.0


@demo_section("readouts")
def _readouts(ctx: DemoContext, report: Report) -> None:
    n_images, grid, n_voxels, epochs = (160, 8, 60, 40) if ctx.quick else (480, 8, 96, 120)
    t0 = time.perf_counter()
    scenes = render_scenes(n_images, random_state=3)
    images = scenes.images
    maps = extract(load_model("world:cnn"), images, ["conv1"], pooling="none", progress=ctx.progress)["conv1"]
    coarse = _coarse(maps, grid)
    brain = simulate_brain(scenes, n_voxels=n_voxels, snr=2.0, n_repeats=2, random_state=0)
    models = {
        "ridge pooled": (coarse.mean(("y", "x")), RidgeCV()),
        "ridge full maps": (coarse, RidgeCV()),
        "factorised": (coarse, FactorizedReadout(lr=0.03, max_epochs=epochs, patience=15, random_state=0)),
        "attention": (coarse, AttentionReadout(query="group", n_groups=8, dim=16, n_heads=2, lr=0.01,
                                               max_epochs=2 * epochs, random_state=0)),
    }
    results = {name: fit_encoding_model(features, brain.responses, model=model, test=0.25, progress=ctx.progress,
                                        random_state=0) for name, (features, model) in models.items()}
    fact, attn = results["factorised"].model, results["attention"].model
    test_ids = results["attention"].dataset["test_stimulus_id"].values.astype(str)
    held_out = select_stimuli(coarse, test_ids)
    planted, planted_maps = _planted_on_grid(brain.receptive_fields, grid)
    centres = {"factorised": fact.receptive_fields_, "attention": attn.attention_centres(held_out)}
    rois = list(dict.fromkeys(planted["roi"]))
    rows = []
    for name, res in results.items():
        summary = res.roi_summary("nc_normalized")["nc_normalized"]
        row = {"model": name, **{roi: float(v) for roi, v in summary.items()}}
        if name in centres:
            hit = _within(planted, centres[name])
            row.update({f"{roi} centres within 1 cell": float(np.mean(hit[planted["roi"].values == roi]))
                        for roi in rois})
        rows.append(row)
    table = pd.DataFrame(rows)
    ctx.timings["readouts"] = time.perf_counter() - t0

    s = report.section(
        "Deep readouts",
        f"{n_images} world scenes (one to three objects, 64x64) give world:cnn conv1 maps ({maps.sizes['channel']} "
        f"channels, trained weights), averaged down to a {grid}x{grid} grid. The world brain ({n_voxels} voxels, 2 "
        "repeats, median single-trial SNR 2) sees the scenes themselves: V1 and V4 voxels through planted "
        "retinotopic receptive fields on contrast energy (small in V1, larger in V4), LO and IT voxels through "
        "category selectivity with only a mild position gain around their centres. On 75% of the scenes we fit "
        "ridge on the globally pooled maps, ridge on the full maps, a FactorizedReadout (a Gaussian mask × channel "
        "weights per voxel) and an AttentionReadout (8 learned voxel groups whose queries attend over the "
        f"{grid * grid} map positions); the table gives the held-out noise-ceiling-normalised score per ROI (median "
        "over voxels) and the share of voxels whose recovered centre (the factorised Gaussian's centre, the centre "
        "of mass of the voxel's attention) lies within one grid cell of the planted centre, mapped onto the same "
        "grid.",
        doc="encoding.md",
    )
    s.tables.append(Report.table(table.round(3), "Held-out noise-ceiling-normalised score per ROI (median over "
                                 "voxels) and centre recovery"))
    examples = held_out.isel(stimulus=slice(0, 4))
    ex_images = images.images[[images.ids.index(str(i)) for i in examples["stimulus_id"].values]]
    s.figures.append(report.figure(
        plot_attention_maps(ex_images, attn.attention_maps(examples, by="roi"), title="Attention per ROI"),
        "readouts_attention", f"Each ROI's attention over the {grid}x{grid} map positions (the mixture of the group "
        "queries' maps with the ROI's mean mixing weights), stretched over four held-out scenes."))
    roi = planted["roi"].values
    picks = [int(v) for r in rois for v in np.flatnonzero(roi == r)[:2]]
    s.figures.append(report.figure(
        plot_receptive_fields(planted_maps, {
            "factorised": fact.receptive_field_maps(), "attention": attn.voxel_attention_maps(held_out)},
            voxels=picks, labels=[f"{roi[v]} voxel {v}" for v in picks],
            title="Receptive fields: planted and recovered"),
        "readouts_receptive_fields", "Planted receptive fields of two voxels per ROI (top), the factorised "
        "readout's learned masks and the voxels' mean attention on held-out scenes."))
    s.figures.append(report.figure(
        plot_centre_recovery(planted, centres, (grid, grid), title="Receptive-field centres"),
        "readouts_centres", "Planted (o) and recovered (x) centres of every voxel on the feature grid; lines join "
        "each voxel's pair."))
    by = table.set_index("model")
    gain = {r: by.loc["factorised", r] - by.loc["ridge pooled", r] for r in rois}
    shows(s, "keeping where a voxel looks changes the held-out score by "
             + ", ".join(f"{gain[r]:+.2f} in {r}" for r in rois)
             + " (factorised readout minus pooled ridge); the factorised readout places "
             + ", ".join(f"{100 * by.loc['factorised', f'{r} centres within 1 cell']:.0f}% of {r}" for r in rois)
             + " centres within one cell of the planted ones. LO and IT have only a mild position gain, so their "
               "centres are weakly determined by design.",
          "Klindt et al. 2017 (a factorised spatial mask × feature readout) and the attention readouts of "
          "brain-response models that route each voxel to image positions")
