"""Demo section on perceptual similarity: what world:clip, world:cnn, LPIPS, SSIM and pixel distance
call far apart on world scenes (pixel distortions against changes of colour or category), and how
alike the layers' representational geometries are (RSA)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..plotting import Report
from ..similarity import L2, LPIPS, SSIM, EmbeddingDistance, compare_rdms, compute_rdm
from ..world import render_scenes
from ._world import scene_labels, shows
from .registry import DemoContext, demo_section

_DISTORTIONS = ("noise", "blur", "shifted 3px", "low contrast")
_CHANGES = ("same category, other colour", "other category, same colour", "other category and colour")


def _distortions(x: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Four classic distortions of ``(N, 3, H, W)`` images in [0, 1], each of moderate strength."""
    g = torch.Generator().manual_seed(seed)
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    k = (k[:, None] * k[None]) / 256.0
    return {
        "noise": (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1),
        "blur": F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k.expand(3, 1, 5, 5).contiguous(), groups=3),
        "shifted 3px": torch.roll(x, shifts=(3, 3), dims=(2, 3)),
        "low contrast": 0.5 + 0.5 * (x - 0.5),
    }


def _partners(category: np.ndarray, colour: np.ndarray, refs: np.ndarray, rng) -> dict[str, np.ndarray]:
    """For each reference, a random other scene per change: its category and colour kept or changed."""
    same_cat, same_col = category[:, None] == category[None], colour[:, None] == colour[None]
    rules = dict(zip(_CHANGES, (same_cat & ~same_col, ~same_cat & same_col, ~same_cat & ~same_col)))
    return {name: np.array([rng.choice(np.flatnonzero(ok[r])) for r in refs]) for name, ok in rules.items()}


def _bars(table: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(9.5, 3.6), layout="constrained")
    width = 0.8 / len(table.columns)
    for k, metric in enumerate(table.columns):
        ax.bar(np.arange(len(table)) + (k - (len(table.columns) - 1) / 2) * width, table[metric], width, label=metric)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(table)), table.index, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("distance / median over random pairs", fontsize=8)
    ax.legend(fontsize=7, ncols=len(table.columns), loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
    ax.set_title("What each metric calls far apart", fontsize=9)
    return fig


def _examples(x: torch.Tensor, pairs: dict[str, torch.Tensor]):
    fig, axes = plt.subplots(1, len(pairs) + 1, figsize=(1.5 * (len(pairs) + 1), 1.9), layout="constrained")
    for ax, (name, img) in zip(axes, {"reference": x, **pairs}.items()):
        ax.imshow(img.permute(1, 2, 0).numpy())
        ax.set_title(name.replace(", ", ",\n").replace(" and ", "\nand "), fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
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
    n_pool, n_refs = (160, 12) if ctx.quick else (400, 40)
    pool = render_scenes(n_pool, n_objects=1, random_state=5, id_prefix="pool")
    category, colour = (np.asarray(scene_labels(pool, a)) for a in ("category", "colour"))
    rng = np.random.default_rng(0)
    refs = rng.choice(n_pool, n_refs, replace=False)
    x = pool.images.images
    pairs = {**_distortions(x[refs]), **{k: x[v] for k, v in _partners(category, colour, refs, rng).items()}}
    rand_a, rand_b = rng.integers(n_pool, size=(2, 4 * n_refs))
    keep = rand_a != rand_b
    metrics = {"world:clip": EmbeddingDistance("world:clip", metric="cosine"),
               "world:cnn pool": EmbeddingDistance("world:cnn", layer="pool", metric="cosine"),
               "LPIPS (random-init AlexNet)": LPIPS("alex", weights="random", heads="lpips", random_state=0),
               "1 - SSIM": SSIM(), "pixel L2": L2()}
    means = {}
    with torch.no_grad():
        for name, metric in metrics.items():
            typical = float(metric(x[rand_a[keep]], x[rand_b[keep]]).median())
            means[name] = {change: float(metric(x[refs], y).mean()) / typical for change, y in pairs.items()}
    table = pd.DataFrame(means)
    s = report.section(
        "Perceptual similarity",
        f"{n_refs} one-object world scenes, each paired with four distortions of itself (Gaussian noise, a 5x5 "
        "binomial blur, a 3-pixel shift, halved contrast) and with three other scenes of the world: same category "
        "in another colour, another category in the same colour, another category in another colour (the other "
        "attributes and the position vary at random). Five metrics score every pair: the cosine distance of "
        "world:clip image embeddings and of world:cnn's pool layer (both with the world's trained weights), LPIPS "
        "(AlexNet stages weighted by the calibrated linear heads shipped inside the lpips package), 1 - SSIM and "
        "the pixel mean squared error. LPIPS's AlexNet has no trained weights offline: it is a seeded random init "
        "here (weights='random'), so its column shows what the LPIPS architecture computes on untrained features; "
        "with weights='DEFAULT' and a local torchvision cache, or a state-dict path, the same call gives the "
        "published metric. Each metric's distances are divided by its median distance between random pairs of "
        "different scenes, so 1 is 'as far apart as two unrelated scenes'.",
        doc="similarity-lpips.md",
    )
    s.figures.append(report.figure(_examples(x[refs[0]], {k: v[0] for k, v in pairs.items()}), "similarity_examples",
                                   "One reference scene and its seven partners."))
    s.figures.append(report.figure(_bars(table), "similarity_changes",
                                   "Mean distance per kind of change, in units of each metric's typical distance."))
    s.tables.append(Report.table(table.reset_index(names="change"), "Mean distance per change / median distance "
                                                                    "between random pairs of scenes"))
    rdms = {f"{model} {layer}": compute_rdm(da, "correlation")
            for model, feats in ctx.features.items() for layer, da in feats.items()}
    if len(rdms) >= 2:
        names = list(rdms)
        values = np.array([[compare_rdms(rdms[a], rdms[b], "spearman") for b in names] for a in names])
        layer_sim = pd.DataFrame(values, index=names, columns=names)
        s.text += ("\n\nRepresentational similarity analysis: each layer's RDM (correlation distance over the "
                   "Features section's scenes) compared with every other layer's by the Spearman correlation of "
                   "their upper triangles (the same numbers as rsatoolbox's compare).")
        s.figures.append(report.figure(_layer_similarity_figure(layer_sim), "similarity_layer_rsa",
                                       "Second-order similarity between the layers' RDMs."))
    distortion = table.loc[list(_DISTORTIONS)].max()
    category_change = table.loc["other category, same colour"]
    order = {m: "below" if distortion[m] < category_change[m] else "not below" for m in table.columns}
    shows(s, "the largest distortion stays " + ", ".join(
        f"{order[m]} a category change for {m} ({distortion[m]:.2f} vs {category_change[m]:.2f})"
        for m in table.columns)
          + ". A metric that keeps every distortion below a category change ranks what the world's objects are "
            "above how their pixels are rendered.",
          "the comparison of deep-feature and classic metrics in Zhang et al. 2018 (LPIPS) and of embedding "
          "distances in Fu et al. 2023 (DreamSim)")
