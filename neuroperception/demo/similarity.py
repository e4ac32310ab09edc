"""Demo section on perceptual similarity: LPIPS maps and distances on distorted photographs, and
how alike the layers' representational geometries are (RSA)."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import plotting
from ..plotting import Report
from ..similarity import LPIPS, PSNR, SSIM, compare_rdms, compute_rdm
from ..stimuli import ImageSet
from .registry import DemoContext, demo_section


def _distortions(x: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Five classic distortions of ``(N, 3, H, W)`` images in [0, 1], each of moderate strength."""
    g = torch.Generator().manual_seed(seed)
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    k = (k[:, None] * k[None]) / 256.0
    blur = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k.expand(3, 1, 5, 5).contiguous(), groups=3)
    grey = x.mean(1, keepdim=True)
    return {
        "noise": (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1),
        "blur": blur,
        "low contrast": 0.5 + 0.5 * (x - 0.5),
        "desaturated": grey + 0.3 * (x - grey),
        "shifted 3px": torch.roll(x, shifts=(3, 3), dims=(2, 3)),
    }


def _map_figure(photo: torch.Tensor, distorted: dict[str, torch.Tensor], maps: dict[str, np.ndarray]):
    cols = len(distorted) + 1
    fig, axes = plt.subplots(2, cols, figsize=(1.9 * cols, 4.0))
    axes[0, 0].imshow(photo.permute(1, 2, 0).numpy())
    axes[0, 0].set_title("reference", fontsize=8)
    axes[1, 0].axis("off")
    vmax = max(float(m.max()) for m in maps.values()) or 1.0
    for j, (name, img) in enumerate(distorted.items(), start=1):
        axes[0, j].imshow(img.permute(1, 2, 0).numpy())
        axes[0, j].set_title(name, fontsize=8)
        im = axes[1, j].imshow(maps[name], cmap="magma", vmin=0, vmax=vmax)
        axes[1, j].set_title(f"LPIPS map, mean {maps[name].mean():.3f}", fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[1, 1:].tolist(), shrink=0.8, label="distance")
    return fig


def _layer_similarity_figure(matrix: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(0.5 * len(matrix) + 2.5, 0.5 * len(matrix) + 2))
    im = ax.imshow(matrix.values, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(matrix)), matrix.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(matrix)), matrix.index, fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman r between RDMs")
    ax.set_title("How alike are the layers' geometries?", fontsize=9)
    fig.tight_layout()
    return fig


@demo_section("similarity")
def _similarity(ctx: DemoContext, report: Report) -> None:
    size = 64 if ctx.quick else 128
    photos = ImageSet.from_samples(size=size)[:3 if ctx.quick else 6]
    x = photos.images
    distorted = _distortions(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the random-init backbone warning; the text says so
        lpips = LPIPS("alex", heads="lpips", random_state=0)
    metrics = {"LPIPS (alex)": lpips, "1 - SSIM": SSIM(), "-PSNR (dB)": PSNR()}
    rows = []
    with torch.no_grad():
        for name, y in distorted.items():
            values = {m: metric(x, y).numpy() for m, metric in metrics.items()}
            for i, pid in enumerate(photos.ids):
                rows.append({"photo": pid, "distortion": name, **{m: float(v[i]) for m, v in values.items()}})
        maps = {name: sum(lpips.layer_maps(x[:1], y[:1]))[0, 0].numpy() for name, y in distorted.items()}
        matrix = lpips.pairwise(torch.cat([x] + list(distorted.values())))
    table = pd.DataFrame(rows)
    summary = table.groupby("distortion", sort=False)[list(metrics)].mean().reset_index()
    s = report.section(
        "Perceptual similarity",
        f"{len(photos)} shipped photographs, each distorted five ways, compared with LPIPS (AlexNet stages, "
        "unit-normalised, weighted by the calibrated linear heads shipped inside the lpips package), SSIM and "
        "PSNR. The AlexNet backbone is a seeded random init here (no download), so the LPIPS values show the "
        "computation, not human-calibrated judgements; with weights='DEFAULT' and a local torchvision "
        "cache, or a state-dict path, the same call gives the published metric. Every metric also gives "
        f"distance matrices with each image embedded once: the {tuple(matrix.shape)} LPIPS matrix below "
        "came from one pass.",
        doc="similarity-lpips.md",
    )
    s.figures.append(report.figure(_map_figure(x[0], {k: v[0] for k, v in distorted.items()}, maps),
                                   "similarity_lpips_maps",
                                   "Where LPIPS sees the differences: the per-stage distance maps, summed."))
    s.tables.append(Report.table(summary, "Mean distance per distortion and metric (lower: more similar)"))
    labels = [f"{d}" for d in ["original"] + list(distorted) for _ in photos.ids]
    s.figures.append(report.figure(plotting.plot_rdm(matrix.numpy(), labels=labels if len(labels) <= 40 else None,
                                                     title="LPIPS distance matrix"),
                                   "similarity_lpips_matrix", "LPIPS between all originals and distortions."))

    rdms = {f"{model} {layer}": compute_rdm(da, "correlation")
            for model, feats in ctx.features.items() for layer, da in feats.items()}
    if len(rdms) >= 2:
        names = list(rdms)
        values = np.array([[compare_rdms(rdms[a], rdms[b], "spearman") for b in names] for a in names])
        layer_sim = pd.DataFrame(values, index=names, columns=names)
        s.text += ("\n\nRepresentational similarity analysis: each layer's RDM (correlation distance over the demo "
                   "images, as in the Features section) compared with every other layer's by the Spearman "
                   "correlation of their upper triangles (the same numbers as rsatoolbox's compare).")
        s.figures.append(report.figure(_layer_similarity_figure(layer_sim), "similarity_layer_rsa",
                                       "Second-order similarity between the layers' RDMs."))
