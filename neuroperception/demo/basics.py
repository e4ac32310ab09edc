"""Demo sections on stimuli and features: shipped photographs and gratings → two feature spaces."""

from __future__ import annotations

import time

import pandas as pd

from .. import plotting
from ..features import extract, load_model
from ..plotting import Report
from ..stimuli import ImageSet, procedural
from .registry import DemoContext, correlation_rdm, demo_section


@demo_section("stimuli")
def _stimuli(ctx: DemoContext, report: Report) -> None:
    size = 96 if ctx.quick else 224
    photos = ImageSet.from_samples(size=size)
    bars = procedural.gratings(orientations=(0, 45, 90, 135), spatial_frequencies=(4, 16), size=size,
                               aperture="gaussian", radius=0.6)
    if ctx.quick:
        photos = photos[:6]
    ctx.images = photos + bars
    ctx.groups = ["photograph"] * len(photos) + ["grating"] * len(bars)
    s = report.section(
        "Stimuli",
        f"{len(photos)} natural photographs shipped inside scikit-image and scikit-learn and {len(bars)} "
        "Gaussian-windowed gratings (4 orientations x 2 spatial frequencies), all resized and centre-cropped "
        f"to {size}x{size}. Ids are stable (e.g. skimage/astronaut, grating/ori=45/sf=4/...).",
        doc="quickstart.md",
    )
    s.figures.append(report.figure(plotting.plot_image_grid(ctx.images.images, ctx.images.ids, ncols=8),
                                   "stimuli", "Every demo image with its id."))


@demo_section("features")
def _features(ctx: DemoContext, report: Report) -> None:
    models = {
        "gabor": (load_model("gabor"), ["scale0", "scale1", "scale2", "scale3"]),
        "alexnet": (load_model("torchvision:alexnet", random_state=0),
                    ["features.1", "features.4", "features.7", "features.9", "features.11", "classifier.5"]),
    }
    rows = []
    for name, (model, layers) in models.items():
        t0 = time.perf_counter()
        feats = extract(model, ctx.images, layers, pooling="avg", batch_size=16, progress=ctx.progress)
        elapsed = time.perf_counter() - t0
        ctx.features[name] = feats
        ctx.timings[name] = elapsed
        for layer, da in feats.items():
            rows.append({"model": model.spec, "weights": model.weights, "layer": layer,
                         "features": da.sizes["feature"], "seconds (all layers)": elapsed})
    s = report.section(
        "Features",
        "Two feature spaces computed by one extractor into labelled arrays (stimulus x feature, with "
        "stimulus_id coordinates): a weight-free Gabor pyramid (complex-cell energy per orientation and "
        "spatial frequency at four scales) and AlexNet with seeded random weights (no download; with "
        "weights='DEFAULT' and a local torchvision cache the same call uses the ImageNet weights). "
        "Activations are averaged over space.",
        doc="quickstart.md",
    )
    s.tables.append(Report.table(pd.DataFrame(rows), "Extracted layers"))
    ids = ctx.images.ids
    for name, feats in ctx.features.items():
        rdms = {f"{name} {layer}": correlation_rdm(da.values) for layer, da in feats.items()}
        s.figures.append(report.figure(
            plotting.plot_rdms(rdms, labels=ids if len(ids) <= 40 else None, ncols=3), f"rdm_{name}",
            f"Representational dissimilarity matrices (correlation distance) per {name} layer. Photographs "
            "come first, gratings last; the Gabor layers separate gratings by orientation and frequency."))
    for name, feats in ctx.features.items():
        layer = list(feats)[-1]
        s.figures.append(report.figure(
            plotting.plot_feature_pca(feats[layer].values, ctx.groups, title=f"{name} {layer}"),
            f"pca_{name}", f"First two principal components of {name} {layer} features."))
