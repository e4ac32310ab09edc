"""The demo on the embedded default: shipped photographs and gratings → features → report.

Each section is a function ``section(ctx, report)`` registered with :func:`demo_section`; the
capability modules add theirs, and :func:`run_demo` runs them in order and writes
``out_dir/index.html``. Nothing is downloaded: the Gabor pyramid is weight-free and AlexNet is a
seeded random init (the report says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import plotting
from .features import extract, load_model
from .plotting import Report
from .stimuli import ImageSet, procedural

__all__ = ["run_demo", "demo_section", "DemoContext"]

_SECTIONS: list[tuple[str, Callable[["DemoContext", Report], None]]] = []


@dataclass
class DemoContext:
    """What the sections share: the images, the features, and settings."""

    out_dir: Path
    quick: bool = False
    progress: bool = True
    images: ImageSet | None = None
    groups: list[str] = field(default_factory=list)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)  # model name -> layer -> DataArray
    timings: dict[str, float] = field(default_factory=dict)


def demo_section(name: str):
    """Register a demo section (runs in registration order).

    Examples
    --------
    >>> @demo_section("example")
    ... def _example(ctx, report):
    ...     report.section("Example", "Text.")
    >>> _ = _SECTIONS.pop()  # keep the demo as it was
    """

    def deco(fn):
        _SECTIONS.append((name, fn))
        return fn

    return deco


def correlation_rdm(features) -> np.ndarray:
    """Correlation distance ``1 - r`` between the rows of ``(N, F)`` features."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norm > 0, norm, 1.0)
    return np.clip(1.0 - x @ x.T, 0.0, 2.0)


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
        "alexnet": (load_model("torchvision:alexnet", seed=0),
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


def run_demo(out_dir="demo-report", quick: bool = False, progress: bool = True) -> Path:
    """Run every demo section on the embedded default and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``index.html`` and ``figures/``; created if needed, existing files other than
        the report's are left alone.
    quick : bool
        Fewer and smaller images (for tests).
    progress : bool
        Show progress bars.

    Returns
    -------
    Path
        The written ``index.html``.

    Examples
    --------
    >>> import tempfile
    >>> run_demo(tempfile.mkdtemp(), quick=True, progress=False).name  # doctest: +SKIP
    'index.html'
    """
    out = Path(out_dir)
    ctx = DemoContext(out, quick=quick, progress=progress)
    docs = Path(__file__).resolve().parent.parent / "docs"
    report = Report(out, "neuroperception demo", docs_root=docs.as_uri() if docs.is_dir() else None)
    for _, fn in _SECTIONS:
        fn(ctx, report)
    return report.write()
