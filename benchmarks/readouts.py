"""Deep readouts vs ridge on the simulated brain: held-out score, planted-centre recovery, throughput.

The simulated brain's voxels have Gaussian receptive fields over a feature grid (random maps, so
the planted truth is known exactly). Four models are fitted with ``fit_encoding_model`` on the same
split: ridge on globally pooled features, ridge on the full (flattened) maps, the factorised
readout and the attention readout (learned voxel groups). Reported: the median held-out
noise-ceiling-normalised score, the fraction of voxels whose recovered receptive-field / attention
centre lies within one grid cell of the planted one, fit time and training throughput (stimuli/s,
training epochs only). Run: ``python benchmarks/readouts.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, markdown_table, write_section  # noqa: E402
from neuroperception.data import simulate_brain  # noqa: E402
from neuroperception.encoding import AttentionReadout, FactorizedReadout, RidgeCV, fit_encoding_model  # noqa: E402

N, C, H, W, VOXELS = 800, 8, 8, 8, 90


def _near(rf, est) -> float:
    d = np.hypot(rf["center_y"].values - est["center_y"].values, rf["center_x"].values - est["center_x"].values)
    return float(np.mean(d <= 1.0))


def main() -> None:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    rng = np.random.default_rng(0)
    maps = xr.DataArray(rng.normal(size=(N, C, H, W)).astype(np.float32), dims=("stimulus", "channel", "y", "x"),
                        coords={"stimulus_id": ("stimulus", [f"s{i:04d}" for i in range(N)])})
    brain = simulate_brain(maps, n_voxels=VOXELS, snr=1.0, n_repeats=2, random_state=0)
    rf = brain.receptive_fields
    models = {
        "ridge, pooled features": (maps.mean(("y", "x")), RidgeCV()),
        "ridge, full maps (flattened)": (maps, RidgeCV()),
        "factorised readout (Gaussian)": (maps, FactorizedReadout(lr=0.03, max_epochs=150, patience=15)),
        "attention readout (16 groups)": (maps, AttentionReadout(query="group", n_groups=16, dim=32, n_heads=4,
                                                                  lr=0.005, max_epochs=100)),
    }
    rows = []
    for name, (features, model) in models.items():
        t0 = time.perf_counter()
        res = fit_encoding_model(features, brain.responses, model=model, test=0.2, random_state=0)
        seconds = time.perf_counter() - t0
        fitted = res.model
        centres, speed = "", ""
        if isinstance(fitted, FactorizedReadout):
            centres = f"{100 * _near(rf, fitted.receptive_fields_):.0f}%"
        elif isinstance(fitted, AttentionReadout):
            centres = f"{100 * _near(rf, fitted.attention_centres(maps)):.0f}%"
        if hasattr(fitted, "history_"):
            speed = f"{fitted.history_.attrs['stimuli_per_second']:.0f}"
        summary = res.roi_summary("nc_normalized")["nc_normalized"]
        rows.append({"model": name, "median nc-normalised score": float(summary["all"]),
                     **{f"{roi}": float(summary[roi]) for roi in ("V1", "V4", "IT")},
                     "centres within 1 cell": centres, "fit seconds": round(seconds, 1),
                     "training stimuli/s": speed})
        print(rows[-1], flush=True)
    body = (f"## Deep readouts (simulated brain)\n\n`benchmarks/readouts.py`: {N} stimuli of random "
            f"{C}-channel {H}x{W} feature maps drive {VOXELS} simulated voxels (V1/V4/IT, Gaussian receptive "
            "fields, 2 repeats, median single-trial SNR 1); every model is fitted by `fit_encoding_model` on the "
            "same 80/20 split and scored on the held-out stimuli (median noise-ceiling-normalised score, overall "
            "and per ROI). Centres: fraction of voxels whose recovered centre (factorised: the Gaussian's centre; "
            "attention: `attention_centres`, the centre of mass of the voxel's group-mixture attention above "
            "uniform) lies within one grid cell of the planted one. Throughput counts training epochs only, on "
            f"CPU ({environment()}); no GPU run was made.\n\n" + markdown_table(rows))
    write_section("readouts", body)
    print(body)


if __name__ == "__main__":
    main()
