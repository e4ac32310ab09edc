"""Demo section on controlled triplets: generation, examples, simulated observers and their choice model."""

from __future__ import annotations

import pandas as pd

from ..behaviour.choice import fit_choice_model, simulate_observers
from ..behaviour.experiment import export_experiment
from ..behaviour.pool import candidate_pool
from ..behaviour.triplets import generate_triplets
from ..features import load_model
from ..plotting import Report
from ..plotting.choice import plot_choice_weights
from ..plotting.triplets import plot_triplet_grid, plot_triplets
from ..stimuli import ImageSet
from .registry import DemoContext, demo_section

#: Planted share of the high level per simulated observer group (standardised weights).
_OBSERVERS = {"low-driven": 0.0, "high-driven": 1.0, "mixed": 0.5}
_STRENGTH = 2.5
_LEVELS_NOTE = {
    True: "In this quick run the weight-free Gabor pyramid's finest and coarsest scales stand in for an early and "
          "a late layer; the full demo compares VGG-16 features.4 with CORnet-S IT, as in \"What makes a face "
          "look like a hat\" (both with seeded random weights: no download).",
    False: "The networks have seeded random weights (no download); with the ImageNet weights the two levels carry "
           "the photographs' low-level and categorical structure.",
}


def _settings(quick: bool) -> dict:
    if quick:  # seconds: the weight-free Gabor pyramid's finest and coarsest scales stand in for the two levels
        gabor = load_model("gabor", input_size=64)
        return {"size": 64, "n_pool": 80, "n_triplets": 16, "n_bins": 4, "low": (gabor, "scale0"),
                "high": (gabor, "scale3"), "n_observers": 10, "n_bootstrap": 200}
    return {"size": 96, "n_pool": 200, "n_triplets": 40, "n_bins": 4, "low": ("torchvision:vgg16", "features.4"),
            "high": ("cornet_s", "IT"), "n_observers": 20, "n_bootstrap": 1000}


@demo_section("triplets")
def _triplets(ctx: DemoContext, report: Report) -> None:
    cfg = _settings(ctx.quick)
    pool = candidate_pool(cfg["n_pool"], size=cfg["size"], random_state=0)
    if ctx.images is not None:
        pool = ImageSet.from_array(ctx.images.images, ctx.images.ids, size=cfg["size"]) + pool
    table = generate_triplets(pool, low=cfg["low"], high=cfg["high"], n_triplets=cfg["n_triplets"],
                              n_bins=cfg["n_bins"], random_state=0, progress=ctx.progress)
    low, high = (f"{getattr(m, 'spec', m)} {layer}" for m, layer in (cfg["low"], cfg["high"]))
    s = report.section(
        "Triplets",
        f"{len(table)} triplets (reference, option A, option B) drawn from {len(pool)} images (the demo's images "
        f"and a seeded candidate pool of photograph crops and procedural patterns, {cfg['size']}x{cfg['size']}) so "
        f"that the low-level distance difference (ΔD low, {low}) and the high-level one (ΔD high, {high}) are "
        f"de-correlated: they fill a {cfg['n_bins']}x{cfg['n_bins']} grid of cells half a standard deviation wide, "
        "congruent and incongruent triplets balanced, no image used twice. Achieved correlation "
        f"r(ΔD low, ΔD high) = {table.attrs.get('r_low_high', float('nan')):.3f}. Distances are correlation "
        f"distances between the layers' features. {_LEVELS_NOTE[ctx.quick]}\n\n"
        "Three groups of simulated observers then judge which option looks more like the reference, "
        "following only the low level, only the high level, or both equally; the logistic choice model "
        "recovers each group's weighting with bootstrap 95% intervals. With human responses (exported as the "
        "browser experiment written next to this report, in triplet-experiment/index.html) the same fit "
        "answers which level drives perceived similarity.",
        doc="triplets.md",
    )
    s.figures.append(report.figure(plot_triplet_grid(table), "triplets_grid",
                                   "Triplets per (ΔD low, ΔD high) cell, and each triplet's deltas by condition."))
    s.figures.append(report.figure(plot_triplets(pool, table, n=4), "triplets_examples",
                                   "Example triplets with their low- and high-level distances."))
    cols = ["triplet", "ref", "option_a", "option_b", "d_low_a", "d_low_b", "d_high_a", "d_high_b", "condition"]
    s.tables.append(Report.table(table[cols].head(8), "The first triplets and their distances"))

    sd = table[["delta_low", "delta_high"]].to_numpy(dtype=float).std(axis=0)
    fits, rows = {}, []
    for k, (name, share) in enumerate(_OBSERVERS.items()):
        w_low, w_high = _STRENGTH * (1 - share) / sd[0], _STRENGTH * share / sd[1]
        responses = simulate_observers(table, w_low, w_high, n_observers=cfg["n_observers"], random_state=k)
        fit = fit_choice_model(table, responses, n_bootstrap=cfg["n_bootstrap"], random_state=0)
        fits[name] = fit
        est = fit.loc["high_share"]
        rows.append({"observers": name, "planted high share": share, "fitted high share": est["estimate"],
                     "95% CI": f"[{est['ci_low']:.2f}, {est['ci_high']:.2f}]",
                     "responses": fit.attrs["n_responses"]})
    s.figures.append(report.figure(
        plot_choice_weights(fits, planted=_OBSERVERS), "triplets_choice_model",
        "Fitted standardised weights of ΔD low and ΔD high per observer group (bars, bootstrap 95% CI) and the "
        "share of the high level (crosses: planted)."))
    s.tables.append(Report.table(pd.DataFrame(rows), "Choice model: planted vs recovered weighting"))
    export_experiment(table, pool, ctx.out_dir / "triplet-experiment", random_state=0, overwrite=True)
