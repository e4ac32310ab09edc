"""Demo section on scanpaths: caption-driven NevaClip fixations with world:clip on world scenes, against
simulated observers who look where the caption points."""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.ndimage import distance_transform_edt

from ..features import load_model
from ..plotting import Report
from ..plotting.scanpaths import plot_scanpaths
from ..scanpaths import NevaClip, named_objects, simulate_scanpaths
from ..world import describe, render_scenes
from ._world import shows
from .registry import DemoContext, demo_section

#: A fixation counts as on an object within this many pixels of its visible mask.
_REACH = 2.0


def _captions(scenes, rng: np.random.Generator) -> tuple[dict[str, str], dict[str, int]]:
    """Per scene, a caption naming one of its objects (drawn at random) and that object's index."""
    captions, targets = {}, {}
    for sid, rows in scenes.objects.groupby("stimulus_id", sort=False):
        k = int(rng.integers(len(rows)))
        for size in (False, True):  # the short phrase, or the long one where the short one is ambiguous
            caption = describe(rows.iloc[k], size_word=size)
            if named_objects(caption, rows).sum() == 1:
                break
        captions[sid], targets[sid] = caption, int(rows.iloc[k]["object"])
    return captions, targets


def _on_target(sp, scenes, targets: dict[str, int], skip_first: bool) -> tuple[float, float]:
    """Share of fixations within ``_REACH`` pixels of the named object, and that area's share of the image."""
    near = {sid: distance_transform_edt(~scenes.masks[scenes.ids.index(sid), k]) <= _REACH
            for sid, k in targets.items()}
    hits = []
    for meta, xy in sp:
        mask = near[meta["stimulus_id"]]
        px = np.clip(np.rint(xy[1 if skip_first else 0:]).astype(int), 0, [mask.shape[1] - 1, mask.shape[0] - 1])
        hits.extend(mask[px[:, 1], px[:, 0]])
    return float(np.mean(hits)), float(np.mean([m.mean() for m in near.values()]))


@demo_section("scanpaths")
def _scanpaths(ctx: DemoContext, report: Report) -> None:
    n_scenes, n_fix, n_iter, restarts = (6, 4, 4, 1) if ctx.quick else (24, 6, 15, 2)
    scenes = render_scenes(n_scenes, n_objects=3, random_state=7)
    captions, targets = _captions(scenes, np.random.default_rng(0))
    ids = scenes.ids
    wrong = {sid: captions[ids[(k + 1) % len(ids)]] for k, sid in enumerate(ids)}  # another scene's caption
    model = NevaClip(load_model("world:clip"), n_fixations=n_fix, steps=n_iter, restarts=restarts,
                     random_state=0, progress=ctx.progress)
    t0 = time.perf_counter()
    neva = model.predict(scenes.images, captions)
    ctx.timings["nevaclip"] = time.perf_counter() - t0
    neva_wrong = model.predict(scenes.images, wrong)
    guided = simulate_scanpaths(scenes, task=captions, n_observers=10, n_fixations=n_fix, random_state=0)
    free = simulate_scanpaths(scenes, task=None, n_observers=10, n_fixations=n_fix, random_state=1)
    rows = []
    for name, sp, skip in (("NevaClip (world:clip), the scene's caption", neva, False),
                           ("NevaClip (world:clip), another scene's caption", neva_wrong, False),
                           ("simulated observers, caption-guided", guided, True),
                           ("simulated observers, free viewing", free, True)):
        share, area = _on_target(sp, scenes, targets, skip)
        rows.append({"scanpaths": name, "count": len(sp), "fixations on the named object": share})
    table = pd.DataFrame(rows)
    chance = area

    show = ids[:3] if ctx.quick else ids[:4]
    images = scenes.images.images
    fig, axes = plt.subplots(2, len(show), figsize=(3.0 * len(show), 6.6), squeeze=False, layout="constrained")
    for k, sid in enumerate(show):
        plot_scanpaths(images[k], neva.select(stimulus_id=sid), ax=axes[0, k], labels=["NevaClip"], legend=None,
                       title=captions[sid])
        plot_scanpaths(images[k], guided.select(stimulus_id=sid), ax=axes[1, k], numbers=False, legend=None,
                       title="caption-guided observers")
    s = report.section(
        "Scanpaths",
        f"{n_scenes} world scenes of three objects, each with a caption that names one of them ('a red striped "
        "star'). NevaClip finds every next fixation by sign-gradient ascent on world:clip's image-text cosine "
        "similarity between the caption and the scene foveated at the fixations so far plus the candidate (sharp "
        "around fixations, blurred elsewhere); world:clip is the world's image-text model with its shipped trained "
        f"weights. {n_fix} fixations per scene, {n_iter} steps each, {restarts} candidate(s) "
        f"({ctx.timings['nevaclip']:.1f} s for all scanpaths). The same model run with another scene's caption is "
        "the control. Simulated observers (simulate_scanpaths; a planted policy, 10 observers) either follow the "
        "caption (80% of their priority on the named object) or free-view; their first fixation, at the centre, "
        f"is not counted. A fixation is on the named object within {_REACH:.0f} pixels of its visible mask; that "
        f"area covers {chance:.3f} of the image on average (chance).",
        doc="scanpath-models.md",
    )
    s.figures.append(report.figure(fig, "scanpaths_nevaclip",
                                   "Top: NevaClip fixations (numbered in order) for each scene's caption. Bottom: "
                                   "the caption-guided simulated observers' fixations on the same scenes."))
    s.tables.append(Report.table(table, "Share of fixations on the object the caption names"))
    v = table.set_index("scanpaths")["fixations on the named object"]
    shows(s, f"NevaClip with world:clip puts {v.iloc[0]:.2f} of its fixations on the named object, "
             f"{v.iloc[1]:.2f} when given another scene's caption (chance {chance:.2f}); the caption-guided "
             f"observers {v.iloc[2]:.2f} and free viewers {v.iloc[3]:.2f}.",
          "NevaClip (Zanca et al. 2023), caption-driven scanpaths from CLIP through a foveated view, "
          "evaluated against caption-guided viewing (CapMIT1003)")
