"""Demo section on scanpaths: caption-driven NevaClip fixations and saliency baselines on shipped photos."""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import pandas as pd

from ..features import load_model, register_clip_architecture
from ..plotting import Report
from ..plotting.scanpaths import plot_saliency_overlay, plot_scanpaths
from ..scanpaths import CenterBias, IttiKoch, NevaClip
from ..scanpaths.saliency_metrics import nss
from ..stimuli import ImageSet
from .registry import DemoContext, demo_section

CAPTIONS = {"skimage/astronaut": "an astronaut in front of a flag", "skimage/cat": "a cat looking at the camera",
            "skimage/rocket": "a rocket on the launch pad", "skimage/coffee": "a cup of coffee on a saucer"}
TINY_NAME = "DemoTiny-ViT"


@demo_section("scanpaths")
def _scanpaths(ctx: DemoContext, report: Report) -> None:
    size = 64 if ctx.quick else 128
    ids = list(CAPTIONS)[:3] if ctx.quick else list(CAPTIONS)
    photos = ImageSet.from_samples(size=size)[ids]
    clip = load_model(register_clip_architecture(TINY_NAME), random_state=0)
    model = NevaClip(clip, n_fixations=4 if ctx.quick else 8, n_iterations=4 if ctx.quick else 15,
                     restarts=1 if ctx.quick else 2, random_state=0, progress=ctx.progress)
    t0 = time.perf_counter()
    sp = model.predict(photos, CAPTIONS)
    ctx.timings["nevaclip"] = time.perf_counter() - t0
    itti = IttiKoch(centers=(1, 2, 3), deltas=(2, 3)).predict(photos)
    center = CenterBias().predict(photos)

    images = photos.images
    fig, axes = plt.subplots(2, len(ids), figsize=(3.2 * len(ids), 6.6), squeeze=False)
    for k, stimulus_id in enumerate(ids):
        path = sp.select(stimulus_id=stimulus_id)
        plot_scanpaths(images[k], path, ax=axes[0, k], labels=["NevaClip"], title=CAPTIONS[stimulus_id])
        plot_saliency_overlay(images[k], itti[k].values, fixations=path, ax=axes[1, k],
                              title=f"Itti-Koch saliency, {stimulus_id}")
    fig.tight_layout()

    rows = []
    last_loss = sp.table.groupby("scanpath")["loss"].last()
    for k, (meta, xy) in enumerate(sp):  # scanpaths come in image order
        rows.append({"image": meta["stimulus_id"], "caption": meta["task"], "fixations": len(xy),
                     "first fixation (x, y)": f"({xy[0, 0]:.0f}, {xy[0, 1]:.0f})",
                     "1 - cosine at last fixation": float(last_loss[meta["scanpath"]]),
                     "NSS under Itti-Koch": float(nss(itti[k].values, xy)),
                     "NSS under centre bias": float(nss(center[k].values, xy))})
    s = report.section(
        "Scanpaths",
        f"NevaClip scanpaths on {len(ids)} shipped photographs, each driven by a caption: every next fixation is "
        "found by sign-gradient ascent on the CLIP image-text cosine similarity of the photograph foveated at "
        "the fixations so far plus the candidate (sharp around fixations, blurred elsewhere). The CLIP here is a "
        f"tiny architecture ({TINY_NAME}, registered from a JSON config) with seeded random weights, so the demo "
        "runs in seconds without a download: the fixations show the mechanics (foveation, search, the "
        "accumulating sharp region pushing later fixations elsewhere), not caption semantics. With pretrained "
        "weights, load_model('open_clip:RN50', weights='openai'), the same call gives NevaClip's scanpaths. "
        f"({ctx.timings['nevaclip']:.1f} s for all scanpaths.)\n\n"
        "Below each scanpath: the classic Itti-Koch saliency map (centre-surround contrast of intensity, colour "
        "and orientation) with the same fixations; the table reads the two saliency baselines at the model's "
        "fixations (NSS: z-scored saliency at fixated pixels; 0 is chance).",
        doc="scanpath-models.md",
    )
    s.figures.append(report.figure(fig, "scanpaths_nevaclip",
                                   "Top: NevaClip fixations (numbered in order) per caption. Bottom: Itti-Koch "
                                   "saliency overlay with the same fixations."))
    s.tables.append(Report.table(pd.DataFrame(rows), "NevaClip scanpaths and saliency baselines"))
