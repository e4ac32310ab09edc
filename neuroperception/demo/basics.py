"""Demo sections on stimuli and features: scenes of the miniature world → the Gabor pyramid and the
world's trained shape-naming CNN."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import plotting
from ..features import extract, load_model
from ..plotting import Report
from ..similarity import compare_rdms
from ._world import crossed_scenes, scene_labels, shows
from .registry import DemoContext, correlation_rdm, demo_section

#: Layers of each feature model shown in the Features section, early to late.
LAYERS = {"gabor": ["scale0", "scale1", "scale2", "scale3"],
          "world:cnn": ["conv1", "conv2", "conv3", "conv4", "pool", "fc"]}


@demo_section("stimuli")
def _stimuli(ctx: DemoContext, report: Report) -> None:
    scenes = crossed_scenes(random_state=0)
    ctx.scenes, ctx.images = scenes, scenes.images
    ctx.groups = scene_labels(scenes, "category")
    s = report.section(
        "Stimuli",
        f"{len(scenes)} scenes of the miniature world, one object per scene on a varied background, 64x64 pixels: "
        "each of its eight shape categories once in each of its six colours (picked from render_scenes(..., "
        "n_objects=1), ordered by category). Texture, size and position are drawn at random, independently of "
        "both, and every scene carries its exact annotations and captions. Ids are stable (world00012, ...). Later "
        "sections render their own, larger sets of one- to three-object scenes from the same world.",
        doc="world.md",
    )
    per_category = len(scenes) // len(set(ctx.groups))
    show = scenes[[i for k in range(0, len(scenes), per_category) for i in range(k, k + 2)]]
    s.figures.append(report.figure(plotting.plot_scenes(show, n=len(show), ncols=8, panel_size=1.6), "stimuli",
                                   "Two scenes of each category, titled with their first caption."))
    colours = scene_labels(scenes, "colour")
    shows(s, f"a stimulus set whose every attribute is known, with category and colour crossed exactly (Cramér's V "
             f"{_cramers_v(ctx.groups, colours):.2f}; 0: independent), so the Features section can tell category "
             "structure from colour structure.",
          "the procedurally generated, fully annotated scenes of CLEVR (Johnson et al. 2017)")


def _cramers_v(a: list[str], b: list[str]) -> float:
    """Cramér's V of two labelings (0: independent, 1: one determines the other)."""
    table = pd.crosstab(pd.Series(a), pd.Series(b)).to_numpy(dtype=float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))


def _model_rdm(labels: list[str]) -> np.ndarray:
    """0 for two stimuli with the same label, 1 otherwise."""
    lab = np.asarray(labels)
    return (lab[:, None] != lab[None, :]).astype(float)


@demo_section("features")
def _features(ctx: DemoContext, report: Report) -> None:
    models = {"gabor": load_model("gabor", input_size=64), "world:cnn": load_model("world:cnn")}
    rows = []
    for name, model in models.items():
        t0 = time.perf_counter()
        feats = extract(model, ctx.images, LAYERS[name], pooling="avg", batch_size=32, progress=ctx.progress)
        elapsed = time.perf_counter() - t0
        ctx.features[name] = feats
        ctx.timings[name] = elapsed
        for layer, da in feats.items():
            rows.append({"model": model.spec, "weights": model.weights, "layer": layer,
                         "features": da.sizes["feature"], "seconds (all layers)": elapsed})
    category, colour = _model_rdm(ctx.groups), _model_rdm(scene_labels(ctx.scenes, "colour"))
    rsa = pd.DataFrame([{"model": name, "layer": layer,
                         "r with category RDM": compare_rdms(correlation_rdm(da.values), category, "spearman"),
                         "r with colour RDM": compare_rdms(correlation_rdm(da.values), colour, "spearman")}
                        for name, feats in ctx.features.items() for layer, da in feats.items()])
    s = report.section(
        "Features",
        "Two feature spaces computed by one extractor into labelled arrays (stimulus x feature, with stimulus_id "
        "coordinates): a weight-free Gabor pyramid (complex-cell energy per orientation and spatial frequency at four "
        "scales, on the grey-level image) and world:cnn, the world's shape-naming CNN (four conv blocks, a global max "
        "pool and one logit per category), whose trained weights ship inside the package: load_model('world:cnn') "
        "reads them, no download. Map activations are averaged over space. The table below the figures compares "
        "each layer's representational dissimilarity matrix (RDM, correlation distance) with two model RDMs, "
        "'different category' and 'different colour' (Spearman r over the upper triangles).",
        doc="features.md",
    )
    s.tables.append(Report.table(pd.DataFrame(rows), "Extracted layers"))
    ids = ctx.images.ids
    for name, feats in ctx.features.items():
        rdms = {f"{name} {layer}": correlation_rdm(da.values) for layer, da in feats.items()}
        s.figures.append(report.figure(
            plotting.plot_rdms(rdms, labels=ids if len(ids) <= 40 else None, ncols=3), f"rdm_{_slug(name)}",
            f"RDMs (correlation distance) per {name} layer; scenes ordered by category "
            f"({', '.join(dict.fromkeys(ctx.groups))})."))
    for name, feats in ctx.features.items():
        layer = list(feats)[-2 if name == "world:cnn" else -1]
        s.figures.append(report.figure(
            plotting.plot_feature_pca(feats[layer].values, ctx.groups, title=f"{name} {layer}"),
            f"pca_{_slug(name)}", f"First two principal components of {name} {layer} features, coloured by category."))
    s.tables.append(Report.table(rsa, "How much of each layer's geometry is category, how much colour"))
    cnn = rsa[rsa["model"] == "world:cnn"].set_index("layer")
    ceiling = compare_rdms(_separated(category), category, "spearman")
    gabor_best = float(rsa.loc[rsa["model"] == "gabor", "r with category RDM"].max())
    late, early = cnn["r with category RDM"].iloc[-2], cnn["r with category RDM"].iloc[0]
    grows = "grows" if late > early else "does not grow"
    colour_early, colour_late = cnn["r with colour RDM"].iloc[0], cnn["r with colour RDM"].iloc[-2]
    shows(s, f"category structure {grows} along world:cnn: r with the category RDM is {early:.2f} at conv1 and "
             f"{late:.2f} at the pool layer (at most {ceiling:.2f}, the value of any RDM that separates the categories "
             f"perfectly), and at most {gabor_best:.2f} for any Gabor scale; r with the colour RDM is "
             f"{colour_early:.2f} at conv1 and {colour_late:.2f} at the pool layer.",
          "Khaligh-Razavi & Kriegeskorte 2014, where categorical structure emerges in the late layers of a trained "
          "network and not in early or weight-free features")


def _separated(model: np.ndarray) -> np.ndarray:
    """``model`` with its ties broken at random: an RDM that separates the model's groups perfectly."""
    noise = np.random.default_rng(0).random(model.shape)
    noise = np.triu(noise, 1) + np.triu(noise, 1).T
    return model + 1e-3 * noise


def _slug(name: str) -> str:
    return name.replace(":", "_")
