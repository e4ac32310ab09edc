"""Decoding motion from a simulated motion area: optical flow from responses to video.

Mirrors motion decoding from fMRI responses to movies (Nishimoto et al. 2011 built the
motion-energy encoding model of such responses; flow-field decoding from MT+ follows the same
logic backwards): procedural videos of textures moved by known random affine flows (translation,
rotation, expansion, shear) drive a simulated brain whose MT voxels read the weight-free
motion-energy model's direction-tuned maps through retinotopic receptive fields and whose V1 voxels
read static Gabor maps of the middle frame (no motion information). ``FlowDecoder`` maps responses
to the coefficients of a PCA flow basis with the encoding ridge solver and back to flow fields;
decoded flows are scored by the end-point error (pixels per frame) against the shuffle baseline
(predictions paired with the wrong videos) and zero flow. The flow a weight-free Horn–Schunck
estimator computes from the pixels themselves is the stimulus-computable reference. Expected: the
decoded flow beats the shuffle baseline by a wide margin at every SNR and improves with SNR; MT
alone decodes about as well as all voxels and V1 alone no better than shuffled.

With real data the responses are BOLD responses to movie clips (a ``VideoSet`` from mp4 files),
the features a video network from the registry or the motion-energy model, and the flows come from
RAFT with downloaded weights (``estimate_flow(videos, method="raft", weights=path)``).

Run: ``python analyses/motion_decoding.py [--out DIR] [--quick]``; writes ``epe.csv``,
``epe_vs_snr.png``, ``flow_comparison.png``, ``motion_true.gif`` and ``motion_decoded.gif``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402

from neuroperception.data import average_repeats, select_stimuli, simulate_brain  # noqa: E402
from neuroperception.decoding import FlowDecoder, flow_decoding_report, render_motion  # noqa: E402
from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.features import mean_flow  # noqa: E402
from neuroperception.plotting import plot_flow_comparison, save_animation, save_figure  # noqa: E402
from neuroperception.stimuli import endpoint_error, flowing_textures  # noqa: E402

HERE = Path(__file__).resolve().parent


def run(out_dir: Path, quick: bool = False, random_state: int = 0) -> pd.DataFrame:
    n_videos, size, n_voxels = (100, 32, 200) if quick else (400, 32, 600)
    snrs = (0.25, 1.0) if quick else (0.125, 0.25, 0.5, 1.0, 2.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    stim = flowing_textures(n=n_videos, size=size, n_frames=8, max_speed=1.5, random_state=random_state)
    motion = extract(load_model("motion_energy"), stim.videos, ["output"], pooling="none")["output"]
    static = extract(load_model("gabor"), stim.videos.frames(), ["scale1"], pooling="avg:4")["scale1"]
    layers = {"gabor scale1 (middle frame)": static, "motion energy": motion}
    flows = xr.DataArray(stim.flow.numpy(), dims=("stimulus", "axis", "y", "x"),
                         coords={"stimulus_id": ("stimulus", stim.videos.ids), "axis": ["dx", "dy"]})
    ids = np.asarray(stim.videos.ids)
    test = np.sort(np.random.default_rng(random_state).choice(ids, size=n_videos // 4, replace=False))
    train = np.setdiff1d(ids, test)

    f_train, f_test = select_stimuli(flows, train), select_stimuli(flows, test)
    rows, keep = [], None
    for snr in snrs:
        brain = simulate_brain(layers, n_voxels=n_voxels, rois=("V1", "MT"), snr=snr, n_repeats=2,
                               random_state=random_state)
        resp = average_repeats(brain.responses)
        for name, voxels in (("all voxels", resp), ("MT only", resp.where(resp["roi"] == "MT", drop=True)),
                             ("V1 only", resp.where(resp["roi"] == "V1", drop=True))):
            pred = FlowDecoder(n_components=8).fit(select_stimuli(voxels, train), f_train).predict(
                select_stimuli(voxels, test))
            rep = flow_decoding_report(pred, f_test, n_shuffles=100, random_state=random_state)
            rows.append({"median single-trial SNR": snr, "voxels": name, "EPE decoded": rep.loc["decoded", "epe"],
                         "EPE shuffled": rep.loc["shuffled", "epe"], "EPE zero flow": rep.loc["zero flow", "epe"],
                         "angular error (deg)": rep.loc["decoded", "angular_error_deg"],
                         "p vs shuffle": rep.loc["decoded", "p_vs_shuffle"]})
            if name == "all voxels" and snr == snrs[-1]:
                keep = pred
    table = pd.DataFrame(rows)
    test_videos = stim.videos[list(test)]
    hs = mean_flow(test_videos)
    table.attrs["EPE Horn-Schunck"] = float(endpoint_error(hs, torch.as_tensor(f_test.values)).mean())
    table.to_csv(out_dir / "epe.csv", index=False)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, grp in table.groupby("voxels", sort=False):
        ax.plot(grp["median single-trial SNR"], grp["EPE decoded"], marker="o", label=f"decoded, {name}")
    ax.plot(snrs, table.groupby("median single-trial SNR")["EPE shuffled"].mean(), color="grey", linestyle="--",
            label="shuffled")
    ax.axhline(table["EPE zero flow"].iloc[0], color="grey", linestyle=":", label="zero flow")
    ax.axhline(table.attrs["EPE Horn-Schunck"], color="black", linestyle="-.", label="Horn–Schunck on the pixels")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("median single-trial SNR")
    ax.set_ylabel("end-point error (px/frame)")
    ax.legend(frameon=False, fontsize=7)
    save_figure(fig, out_dir / "epe_vs_snr.png")

    first = test_videos.videos[:4, 0]
    save_figure(plot_flow_comparison(f_test.isel(stimulus=slice(0, 4)), keep.isel(stimulus=slice(0, 4)), first.numpy()),
                out_dir / "flow_comparison.png")
    for name, flow in (("true", f_test.values[0]), ("decoded", keep.values[0])):
        save_animation(render_motion(first[0], torch.as_tensor(flow), n_frames=8).numpy(),
                       out_dir / f"motion_{name}.gif", fps=6, overwrite=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "motion_decoding")
    parser.add_argument("--quick", action="store_true", help="fewer videos and SNRs (under a minute)")
    args = parser.parse_args()
    table = run(args.out, quick=args.quick)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string(index=False))
    print(f"Horn–Schunck from the pixels: EPE {table.attrs['EPE Horn-Schunck']:.3f}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
