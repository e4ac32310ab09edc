"""Demo section on controlled triplets: generation from world:cnn's early and late layers, examples, and
simulated observers whose planted attribute weighting the choice model recovers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..behaviour import attribute_triplets, simulate_judgements
from ..behaviour.choice import fit_choice_model
from ..behaviour.experiment import export_experiment
from ..behaviour.triplets import generate_triplets
from ..features import extract, load_model
from ..plotting import Report
from ..plotting.choice import plot_choice_weights
from ..plotting.triplets import plot_triplet_grid, plot_triplets
from ..world import render_scenes
from ._world import shows
from .registry import DemoContext, demo_section

#: Planted share of shape (the high attribute) per simulated observer group (standardised weights).
_OBSERVERS = {"colour-driven": 0.0, "shape-driven": 1.0, "mixed": 0.5}
_STRENGTH = 2.5
_LOW, _HIGH = "conv1", "pool"


def _settings(quick: bool) -> dict:
    if quick:
        return {"n_pool": 160, "n_triplets": 16, "n_bins": 4, "n_attribute": 160, "n_observers": 10, "n_bootstrap": 200}
    return {"n_pool": 400, "n_triplets": 40, "n_bins": 4, "n_attribute": 400, "n_observers": 20, "n_bootstrap": 1000}


def _level_deltas(table: pd.DataFrame, feats) -> np.ndarray:
    """``d(ref, A) - d(ref, B)`` in correlation distance of one layer's features, per triplet."""
    x = np.asarray(feats.values, dtype=np.float64)
    x = x - x.mean(1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    pos = {k: i for i, k in enumerate(feats["stimulus_id"].values.astype(str))}
    ref, a, b = ([pos[i] for i in table[c]] for c in ("ref", "option_a", "option_b"))
    return (1 - np.sum(x[ref] * x[a], 1)) - (1 - np.sum(x[ref] * x[b], 1))


def _fit_row(name: str, share: float, fit: pd.DataFrame, levels: str) -> dict:
    est = fit.loc["high_share"]
    return {"observers": name, "levels": levels, "planted shape share": share, "fitted high share": est["estimate"],
            "95% CI": f"[{est['ci_low']:.2f}, {est['ci_high']:.2f}]", "responses": fit.attrs["n_responses"]}


@demo_section("triplets")
def _triplets(ctx: DemoContext, report: Report) -> None:
    cfg = _settings(ctx.quick)
    pool = render_scenes(cfg["n_pool"], n_objects=1, random_state=6, id_prefix="pool")
    cnn = load_model("world:cnn")
    feats = extract(cnn, pool.images, [_LOW, _HIGH], pooling="avg", progress=ctx.progress)
    levels = {"low": feats[_LOW], "high": feats[_HIGH]}
    table = generate_triplets(levels, n_triplets=cfg["n_triplets"], n_bins=cfg["n_bins"], pca=None, random_state=0,
                              progress=ctx.progress)
    s = report.section(
        "Triplets",
        f"{len(table)} triplets (reference, option A, option B) drawn from {len(pool)} one-object world scenes so that "
        f"the low-level distance difference (ΔD low: world:cnn {_LOW}, averaged over space) and the high-level one "
        f"(ΔD high: world:cnn {_HIGH}, the layer its category logits read) are de-correlated: they fill a "
        f"{cfg['n_bins']}x{cfg['n_bins']} grid of cells half a standard deviation wide, congruent and incongruent "
        "triplets balanced, no image used twice. Distances are correlation distances between the layers' features "
        f"(trained weights). Achieved correlation r(ΔD low, ΔD high) = {table.attrs['r_low_high']:.3f}. "
        "The browser experiment written next to this report (triplet-experiment/index.html) collects human "
        "responses to them.",
        doc="triplets.md",
    )
    s.figures.append(report.figure(plot_triplet_grid(table), "triplets_grid",
                                   "Triplets per (ΔD low, ΔD high) cell, and each triplet's deltas by condition."))
    s.figures.append(report.figure(plot_triplets(pool.images, table, n=4), "triplets_examples",
                                   "Example triplets with their low- and high-level distances."))
    cols = ["triplet", "ref", "option_a", "option_b", "d_low_a", "d_low_b", "d_high_a", "d_high_b", "condition"]
    s.tables.append(Report.table(table[cols].head(8), "The first triplets and their distances"))
    export_experiment(table, pool.images, ctx.out_dir / "triplet-experiment", random_state=0, overwrite=True)

    # observers with a planted weighting of colour and shape, on triplets where the two vary independently
    attr = attribute_triplets(pool, cfg["n_attribute"], low="colour", high="shape", random_state=0)
    by_network = attr.assign(delta_low=_level_deltas(attr, feats[_LOW]), delta_high=_level_deltas(attr, feats[_HIGH]))
    sd = attr[["delta_colour", "delta_shape"]].to_numpy(dtype=float).std(axis=0)
    fits, network_fits, rows = {}, {}, []
    for k, (name, share) in enumerate(_OBSERVERS.items()):
        weights = {"colour": _STRENGTH * (1 - share) / sd[0], "shape": _STRENGTH * share / sd[1]}
        answers = simulate_judgements(attr, weights, n_observers=cfg["n_observers"], random_state=k)
        fits[name] = fit_choice_model(attr, answers, n_bootstrap=cfg["n_bootstrap"], random_state=0)
        network_fits[name] = fit_choice_model(by_network, answers, n_bootstrap=cfg["n_bootstrap"], random_state=0)
        rows.append(_fit_row(name, share, fits[name], "colour / shape (planted)"))
        rows.append(_fit_row(name, share, network_fits[name], f"world:cnn {_LOW} / {_HIGH}"))
    s.text += (
        f"\n\nThree groups of simulated observers then judge {len(attr)} further triplets of the same scenes, built "
        "so that colour and shape favour A or B independently (attribute_triplets), choosing the option more like "
        "the reference with planted weights: colour only, shape only, or both equally (standardised). The logistic "
        "choice model is fitted twice with bootstrap 95% intervals: on the colour and shape differences themselves "
        f"(it should recover the planted share), and on world:cnn's {_LOW} and {_HIGH} distance differences as the "
        "low and high level, the question the generated triplets ask of human responses.")
    s.figures.append(report.figure(
        plot_choice_weights(fits, planted=_OBSERVERS), "triplets_choice_model",
        "Fitted standardised weights of colour (low) and shape (high) per observer group (bars, bootstrap 95% CI) "
        "and the share of shape (crosses: planted)."))
    s.figures.append(report.figure(
        plot_choice_weights(network_fits), "triplets_choice_network",
        f"The same choices fitted on world:cnn {_LOW} (low) and {_HIGH} (high) distance differences."))
    result = pd.DataFrame(rows)
    s.tables.append(Report.table(result, "Choice model: planted vs recovered weighting"))
    est = result.set_index(["observers", "levels"])["fitted high share"]
    net = f"world:cnn {_LOW} / {_HIGH}"
    shows(s, "the choice model recovers the planted shape share ("
             + ", ".join(f"{n} {share:.1f}: {est[(n, 'colour / shape (planted)')]:.2f}"
                         for n, share in _OBSERVERS.items())
             + f"); read through world:cnn, the share of {_HIGH} is "
             + ", ".join(f"{est[(n, net)]:.2f} for {n}" for n in _OBSERVERS)
             + " observers.",
          "the triplet design of \"What makes a face look like a hat\" (controlled low- vs high-level similarity "
          "and a choice model of which level drives judgements)")
