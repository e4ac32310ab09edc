"""Orientation and spatial-frequency tuning of the Gabor feature space's complex cells.

Mirrors the classic V1 result (complex cells are tuned to orientation and spatial frequency and
invariant to phase; Hubel & Wiesel 1962, the energy model of Adelson & Bergen 1985): the
gratings of ``stimuli/orientation_tuning.toml`` go through ``gabor``'s ``scale0``, each channel's
response is averaged over phase and its tuning curve over orientation is read off. Every
channel should prefer its own orientation (error within half a step, 7.5°) and respond to the
frequency it was built for, with phase modulation of a few percent at most.

With real data, the same code measures tuning of any registry model's units (e.g.
``torchvision:alexnet`` with ``weights="DEFAULT"``, layer ``features.1``).

Run: ``python analyses/gabor_tuning.py [--out DIR]``; writes ``tuning.png`` and ``tuning.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.plotting import save_figure  # noqa: E402
from neuroperception.stimuli.procedural import from_recipe  # noqa: E402

HERE = Path(__file__).resolve().parent
RECIPE = HERE.parent / "stimuli" / "orientation_tuning.toml"


def _params(stim_id: str) -> dict[str, float]:
    return {k: float(v) for k, v in (part.split("=") for part in stim_id.split("/")[1:])}


def run(out_dir: Path, progress: bool = True) -> pd.DataFrame:
    images = from_recipe(RECIPE)
    model = load_model("gabor", input_size=128)
    feats = extract(model, images, "scale0", progress=progress)["scale0"]
    params = pd.DataFrame([_params(i) for i in images.ids])
    resp = feats.values  # (stimulus, channel)
    labels = model.module.channel_labels()  # (frequency cycles/px, orientation) per channel
    oris = np.sort(params["ori"].unique())
    rows, curves = [], {}
    for c, (freq, pref) in enumerate(labels):
        target_sf = freq * 128  # cycles per image at scale0
        sel = np.isclose(params["sf"], target_sf)
        table = pd.DataFrame({"ori": params["ori"][sel], "phase": params["phase"][sel], "r": resp[sel, c]})
        by_phase = table.pivot(index="ori", columns="phase", values="r").loc[oris]
        curve = by_phase.mean(axis=1).to_numpy()
        curves[c] = curve
        best = oris[int(np.argmax(curve))]
        err = abs((best - pref + 90) % 180 - 90)
        sf_resp = [resp[np.isclose(params["sf"], sf) & np.isclose(params["ori"], best), c].mean()
                   for sf in sorted(params["sf"].unique())]
        rows.append({"channel": c, "frequency (cycles/image)": target_sf, "built orientation": pref,
                     "preferred orientation": best, "orientation error (deg)": err,
                     "preferred frequency": sorted(params["sf"].unique())[int(np.argmax(sf_resp))],
                     "phase modulation": float((by_phase.max(axis=1) / by_phase.min(axis=1)).loc[best] - 1),
                     "tuning bandwidth (deg, half-width at half-height)": _half_width(oris, curve)})
    df = pd.DataFrame(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / "tuning.csv", index=False)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for c, curve in curves.items():
        if labels[c][0] == labels[0][0]:
            axes[0].plot(oris, curve / curve.max(), label=f"{labels[c][1]:.0f}°")
    axes[0].set_xlabel("grating orientation (deg)")
    axes[0].set_ylabel("normalised energy")
    axes[0].set_title(f"scale0 channels at {labels[0][0] * 128:.0f} cycles/image")
    axes[0].legend(fontsize=7, ncol=2, title="built for")
    axes[1].scatter(df["built orientation"], df["preferred orientation"], c=df["frequency (cycles/image)"])
    axes[1].plot([0, 180], [0, 180], "k:", lw=1)
    axes[1].set_xlabel("built orientation (deg)")
    axes[1].set_ylabel("measured preferred orientation (deg)")
    axes[1].set_title("every channel prefers its own orientation")
    fig.tight_layout()
    save_figure(fig, out_dir / "tuning.png")
    return df


def _half_width(oris: np.ndarray, curve: np.ndarray) -> float:
    """Half-width at half-height of a circular (180°) tuning curve, by linear interpolation."""
    step = float(np.diff(oris).mean())
    k = int(np.argmax(curve))
    base, peak = curve.min(), curve.max()
    half = base + (peak - base) / 2
    n = len(curve)
    for j in range(1, n):
        if curve[(k + j) % n] < half:
            a, b = curve[(k + j - 1) % n], curve[(k + j) % n]
            return step * (j - 1 + (a - half) / (a - b))
    return 90.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "out" / "gabor_tuning")
    args = parser.parse_args()
    df = run(args.out)
    print(df.round(3).to_string(index=False))
    print(f"max orientation error: {df['orientation error (deg)'].max():.1f} deg; "
          f"written to {args.out}")


if __name__ == "__main__":
    main()
