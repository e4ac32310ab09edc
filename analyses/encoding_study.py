"""Encoding models on a simulated brain: per-ROI best layer, banded ridge and deep readouts, on the glass brain.

Mirrors voxelwise encoding models of visual cortex with deep-network features: the early-to-late
layer gradient from V1 to IT (Yamins et al. 2014; Güçlü & van Gerven 2015), banded ridge regression
that gives each feature space its own penalty and splits the explained variance between them
(Nunez-Elizalde et al. 2019; himalaya), the noise-ceiling-normalised score of the Algonauts 2023
challenge, and spatially factorised readouts of feature maps (Klindt et al. 2017).

Random crops of the photographs shipped with scikit-image drive a simulated brain: V1 voxels read
the Gabor pyramid's scale-2 maps through small retinotopic receptive fields, V4 voxels AlexNet
``features.4`` (conv2) and IT voxels AlexNet ``features.11`` (conv5), both averaged over a 4x4 grid
(random-init weights). Four questions are asked on the same held-out stimuli. (1) Which of eight
candidate layers (Gabor scales 1-3, AlexNet conv1-conv5, all averaged over a 4x4 grid) predicts each
ROI best (``fit_encoding_model(..., per_layer=True)``), against the planted layer? (2) How good is
the best layer's held-out score, normalised by the noise ceiling estimated from the repeats
(checked against the true ceiling), on the MNI152 glass brain? (3) Does ``BandedRidgeCV`` on the
three planted feature spaces beat ridge on their concatenation, and do its per-band shares of the
held-out R² name the band each ROI reads? (4) On the V1 voxels, how do ridge on the pooled maps,
ridge on the full maps and the factorised readout compare, and does the readout find the planted
receptive fields? The attention readout, on a brain built for the readouts, is in
``readout_study.py``. Expected: the planted layer wins in every ROI, IT by a narrow margin over
conv3/conv4 (without training, the deep layers of AlexNet are nearly linear functions of one
another, so only half to two thirds of the V4 and IT voxels pick their own layer); the estimated noise ceiling is
within a few hundredths of the true one; banded ridge scores above concatenated ridge in every ROI
and the planted band has the largest share for most voxels; the factorised readout beats both
ridges on V1 and recovers most receptive-field centres to within one cell.

With real weights (``load_model("torchvision:alexnet", weights=path)``) the layers are no longer
near-linear functions of one another, so the best-layer gradient is sharper; with real data
(``load_nsd_betas`` or ``load_algonauts2023`` responses aligned by ``stimulus_id`` to features of
the images actually shown) the same calls run unchanged, but there is no planted layer, band or
receptive field to compare with: the tables then report what the data prefer, and the noise
ceiling comes from the measured repeats only.

Run: ``python analyses/encoding_study.py [--out DIR] [--quick]``; writes ``best_layer.csv``,
``best_layer_voxels.csv``, ``banded.csv``, ``readouts.csv``, ``best_layer_rois.png``,
``brain_map.png``, ``noise_ceiling.png``, ``banded_shares.png``, ``banded_vs_ridge.png`` and
``receptive_fields.png`` (``--quick``: under a minute; the full run: a few minutes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from neuroperception.data import simulate_brain  # noqa: E402
from neuroperception.encoding import BandedRidgeCV, FactorizedReadout, RidgeCV, fit_encoding_model  # noqa: E402
from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.plotting import (plot_centre_recovery, plot_estimate_vs_truth, plot_roi_summary,  # noqa: E402
                                      save_figure)
from neuroperception.stimuli import ImageSet  # noqa: E402

HERE = Path(__file__).resolve().parent
#: The layer each simulated ROI reads (V1 through receptive fields on the maps, V4/IT pooled 4x4).
PLANTED = {"V1": "gabor scale2", "V4": "alexnet features.4", "IT": "alexnet features.11"}
GABOR_SCALES = ("scale1", "scale2", "scale3")
ALEXNET_LAYERS = ("features.1", "features.4", "features.7", "features.9", "features.11")


def crops(n: int, size: int, random_state: int = 0) -> ImageSet:
    """``n`` random square crops (random flips) of the shipped photographs, ``size`` pixels."""
    return ImageSet.from_samples(size=2 * size).random_crops(n, size, random_state=random_state)


def features(images: ImageSet) -> tuple[dict[str, xr.DataArray], xr.DataArray]:
    """The candidate layers, each averaged over a 4x4 grid, and the Gabor scale-2 maps V1 reads."""
    gabor = load_model("gabor")
    maps = extract(gabor, images, ["scale2"], pooling="none")["scale2"]
    pooled = extract(gabor, images, list(GABOR_SCALES), pooling="avg:4")
    alexnet = extract(load_model("torchvision:alexnet", random_state=0), images, list(ALEXNET_LAYERS), pooling="avg:4")
    candidates = {**{f"gabor {k}": pooled[k] for k in GABOR_SCALES},
                  **{f"alexnet {k}": alexnet[k] for k in ALEXNET_LAYERS}}
    return candidates, maps


def simplex_grid(n_bands: int, steps: int) -> np.ndarray:
    """Band weights on the simplex in steps of ``1 / steps`` (corners included), one row per candidate."""
    grid = np.stack(np.meshgrid(*[np.arange(steps + 1)] * n_bands, indexing="ij"), -1).reshape(-1, n_bands)
    return grid[grid.sum(1) == steps] / steps


def best_layer_tables(result, brain) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per ROI: median score per candidate layer, best vs planted layer, noise-ceiling check; per voxel: best layer."""
    table = result.roi_summary()
    rf = brain.receptive_fields
    planted_voxel = rf["layer"].to_numpy()
    best_voxel = result["best_layer"].values.astype(str)
    nc_est, nc_true = result["noise_ceiling"].values, brain.true_noise_ceiling.values
    rois = result["roi"].values.astype(str)
    table.insert(0, "planted layer", [PLANTED.get(str(i), "") for i in table.index])
    table["planted layer is best"] = [str(i) in PLANTED and row["best_layer"] == PLANTED[str(i)]
                                      for i, row in table.iterrows()]
    masks = [np.ones(rois.size, bool) if str(i) == "all" else rois == str(i) for i in table.index]
    table["voxels whose best layer is planted"] = [float(np.mean(best_voxel[m] == planted_voxel[m])) for m in masks]
    table["noise ceiling |estimated - true|"] = [float(np.median(np.abs(nc_est - nc_true)[m])) for m in masks]
    voxels = pd.DataFrame({"roi": rois, "planted layer": planted_voxel, "best layer": best_voxel,
                           "best score": result["nc_normalized"].max("layer").values,
                           "estimated noise ceiling": nc_est, "true noise ceiling": nc_true})
    voxels.index.name = "voxel"
    return table.reset_index(names="roi"), voxels


def banded_table(concat, banded, brain) -> pd.DataFrame:
    """Per ROI: concatenated vs banded ridge scores, mean share of R^2 per band, planted band recovered."""
    split = banded["split_r2"]
    bands = [str(b) for b in split["band"].values]
    values = np.clip(np.asarray(split.values, dtype=float), 0.0, None)
    total = values.sum(0)
    share = np.divide(values, total, out=np.full_like(values, np.nan), where=total > 0)
    winner = np.where(total > 0, np.asarray(bands)[np.argmax(values, axis=0)], "")  # "" : no band explains anything
    planted = brain.receptive_fields["layer"].to_numpy()
    rois = banded["roi"].values.astype(str)
    rows = []
    for roi in ["all", *PLANTED]:
        sel = np.ones(rois.size, bool) if roi == "all" else rois == roi
        row = {"roi": roi, "planted band": PLANTED.get(roi, ""),
               "ridge (concatenated)": float(np.nanmedian(concat["nc_normalized"].values[sel])),
               "banded ridge": float(np.nanmedian(banded["nc_normalized"].values[sel]))}
        for b, band in enumerate(bands):
            row[f"share {band}"] = float(np.nanmean(share[b, sel]))
        row["largest share is planted band"] = float(np.mean(winner[sel] == planted[sel]))
        rows.append(row)
    return pd.DataFrame(rows)


def run(out_dir: Path, quick: bool = False, random_state: int = 0) -> dict[str, pd.DataFrame]:
    n_images, size, n_voxels = (320, 64, 300) if quick else (720, 64, 600)
    epochs = 40 if quick else 150
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates, maps = features(crops(n_images, size, random_state))
    planted = {"gabor scale2": maps, "alexnet features.4": candidates["alexnet features.4"],
               "alexnet features.11": candidates["alexnet features.11"]}
    brain = simulate_brain(planted, n_voxels=n_voxels, snr=1.0, n_repeats=3, random_state=random_state)
    ids = maps["stimulus_id"].values.astype(str)
    test = sorted(np.random.default_rng(random_state).choice(ids, size=n_images // 4, replace=False).tolist())

    # (1, 2) one ridge per candidate layer: best layer per ROI and per voxel, brain map, noise ceiling
    per_layer = fit_encoding_model(candidates, brain.responses, model=RidgeCV(), per_layer=True, test=test,
                                   progress=not quick, random_state=random_state)
    best, voxels = best_layer_tables(per_layer, brain)
    best.to_csv(out_dir / "best_layer.csv", index=False)
    voxels.to_csv(out_dir / "best_layer_voxels.csv")
    save_figure(per_layer.plot_rois(title="Held-out score per ROI and candidate layer (planted: V1 gabor scale2, "
                                    "V4 alexnet features.4, IT alexnet features.11)",
                                    ylabel="noise-ceiling-normalised score"), out_dir / "best_layer_rois.png")
    save_figure(per_layer.plot_brain(title="Best layer's held-out score / noise ceiling", vmin=0.0, vmax=1.0,
                                     cmap="hot"), out_dir / "brain_map.png")
    save_figure(plot_estimate_vs_truth(brain.true_noise_ceiling.values, {"from the repeats (ncsnr)":
                                                                        per_layer["noise_ceiling"].values},
                                       title="Noise ceiling per voxel", xlabel="true (planted) noise ceiling",
                                       ylabel="estimated"), out_dir / "noise_ceiling.png")

    # (3) the three planted feature spaces: ridge on their concatenation vs banded ridge
    bands = {k: candidates[k] for k in ("gabor scale2", "alexnet features.4", "alexnet features.11")}
    concat = fit_encoding_model(bands, brain.responses, model=RidgeCV(), test=test,
                                random_state=random_state)
    # quick: a fixed grid on the simplex (steps of 1/4, corners included); full: Dirichlet samples + refinement
    search = dict(n_iter=simplex_grid(len(bands), 4), n_refine=0) if quick else dict(n_iter=24, n_refine=5)
    banded = fit_encoding_model(bands, brain.responses, model=BandedRidgeCV(**search, random_state=random_state),
                                test=test, random_state=random_state)
    band_table = banded_table(concat, banded, brain)
    band_table.to_csv(out_dir / "banded.csv", index=False)
    save_figure(banded.plot_rois("split_r2", title="Banded ridge: the held-out R² split between the bands",
                                 ylabel="split R² (held-out)"), out_dir / "banded_shares.png")
    compared = {"ridge (concatenated)": concat["nc_normalized"], "banded ridge": banded["nc_normalized"]}
    save_figure(plot_roi_summary(compared, title="Concatenated vs banded ridge (held-out)",
                                 ylabel="noise-ceiling-normalised score"), out_dir / "banded_vs_ridge.png")

    # (4) V1: ridge on pooled features, ridge on the full maps, factorised readout on the maps
    v1 = np.flatnonzero(brain.responses["roi"].values == "V1")
    resp_v1 = brain.responses.isel(voxel=v1)
    models = {"ridge on 4x4-pooled maps": (candidates["gabor scale2"], RidgeCV()),
              "ridge on full maps": (maps, RidgeCV()),
              "factorised readout": (maps, FactorizedReadout(lr=0.03, max_epochs=epochs, patience=15,
                                                             random_state=random_state))}
    rows, fitted = [], {}
    for name, (feats, model) in models.items():
        res = fit_encoding_model(feats, resp_v1, model=model, test=test, random_state=random_state)
        fitted[name] = res.model
        rows.append({"model": name, "V1 median nc_normalized": float(np.nanmedian(res["nc_normalized"].values)),
                     "V1 median r": float(np.nanmedian(res["r"].values))})
    rf = brain.receptive_fields.iloc[v1].reset_index(drop=True)
    found = fitted["factorised readout"].receptive_fields_
    dist = np.hypot(rf["center_y"].values - found["center_y"].values, rf["center_x"].values - found["center_x"].values)
    readouts = pd.DataFrame(rows)
    readouts["centres within 1 cell"] = [float(np.mean(dist <= 1.0)) if m == "factorised readout" else np.nan
                                         for m in readouts["model"]]
    readouts.to_csv(out_dir / "readouts.csv", index=False)
    save_figure(plot_centre_recovery(rf, {"factorised readout": found}, tuple(maps.shape[2:]),
                                     title="V1 receptive-field centres"),
                out_dir / "receptive_fields.png")
    return {"best_layer": best, "voxels": voxels, "banded": band_table, "readouts": readouts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "encoding_study")
    parser.add_argument("--quick", action="store_true",
                        help="fewer images and voxels, a band-weight grid, short readout training (under a minute)")
    args = parser.parse_args()
    tables = run(args.out, quick=args.quick)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(tables["best_layer"].round(3).to_string(index=False))
        print(tables["banded"].round(3).to_string(index=False))
        print(tables["readouts"].round(3).to_string(index=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
