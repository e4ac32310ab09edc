"""The pipeline's stages: images, features, responses, one encoding fit per subject, and its outputs.

Each stage is a plain function of the validated config (:func:`~neuroperception.pipeline.load_config`)
that calls the library: what the pipeline computes is exactly what these calls compute.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .._malloc import M_MMAP_THRESHOLD, mallopt
from ..data import load_responses, select_stimuli, simulate_brain, simulate_subjects
from ..encoding import BandedRidgeCV, EncodingResult, RidgeCV, fit_encoding_model
from ..errors import InputError
from ..features import extract, load_model, open_features, reduce_features
from ..features.hooks import check_layers
from ..stimuli import ImageSet
from ..world import render_scenes

__all__ = ["make_images", "check_model", "make_features", "subject_names", "make_responses", "fit_subject", "score_table",
           "write_result", "write_figures"]

_READERS = ("responses", "nifti", "surface", "nsd")


def make_images(images: dict) -> tuple[ImageSet, Any]:
    """The ``[images]`` section's images, and the world scenes behind them (None for other sources)."""
    if images["source"] == "world":
        scenes = render_scenes(images["n"], size=images["size"], random_state=images["random_state"])
        return scenes.images, scenes
    if images["source"] == "samples":
        imgs = ImageSet.from_samples(size=images["size"])
        if images["n"] is not None:
            if images["n"] > len(imgs):
                raise InputError(f"images.n: received {images['n']}; expected at most {len(imgs)} (the shipped "
                                 "sample photographs)")
            imgs = imgs[: images["n"]]
        return imgs, None
    return ImageSet.from_folder(images["folder"], size=images["size"]), None


def check_model(features: dict):
    """Load ``[features]``'s model and check its layers (None when features come from a store)."""
    if features["model"] is None:
        return None
    try:
        model = load_model(features["model"], weights=features["weights"], device=features["device"],
                           **features["options"])
    except InputError as err:
        raise type(err)(f"features.model: {str(err).removeprefix('model: ')}") from err
    try:
        check_layers(model.module, features["layers"])
    except InputError as err:
        raise InputError(f"features.layers: {str(err).removeprefix('layers: ')}") from err
    return model


def _reduce(feats: dict[str, xr.DataArray], features: dict) -> dict[str, xr.DataArray]:
    """``reduce_features`` per layer (lazy arrays stay lazy: reduced chunk by chunk)."""
    return {layer: reduce_features(da, features["reduce"], fit_on=features["fit_on"],
                                   random_state=features["random_state"]) for layer, da in feats.items()}


def release_large_buffers() -> bool:
    """Have glibc hand freed buffers of 1 MiB or more back to the system at once; True where it applies.

    glibc raises its mmap threshold each time a large block is freed, after which blocks of that size
    come from the heap and stay in the process when freed: reading a lazy store chunk by chunk then
    looks like holding most of it (measured: 735 MB more at the peak for a 1.6 GB store read in 8 MB
    chunks, 103 MB with the threshold fixed). A no-op off glibc (macOS, musl, Windows).

    Examples
    --------
    >>> isinstance(release_large_buffers(), bool)
    True
    """
    return mallopt(M_MMAP_THRESHOLD, 1 << 20)


def make_features(model, images: ImageSet, features: dict, *, client=None,
                  progress: bool | None = None) -> tuple[dict[str, xr.DataArray], dict[str, xr.DataArray]]:
    """Extract (or resume) the store, then reduce: ``(raw features, features to fit)``."""
    if model is None:
        raw = open_features(features["store"], layers=features["layers"], lazy=features["lazy"])
    else:
        Path(features["store"]).parent.mkdir(parents=True, exist_ok=True)
        raw = extract(model, images, features["layers"], pooling=features["pooling"],
                      batch_size=features["batch_size"], store=features["store"], progress=progress, client=client,
                      lazy=features["lazy"])
    fit = _reduce(raw, features) if features["reduce"] else raw
    # The reduced features are what the fits need in memory: compute them once, in one pass over the
    # store (each chunk read, reduced and dropped), rather than once per train/test selection.
    fit = {layer: da.compute() for layer, da in fit.items()}
    return raw, fit


def _read(subject: str, entry: dict) -> xr.DataArray:
    from .. import data

    reader = entry["reader"]
    kwargs = {k: v for k, v in entry.items() if k != "reader"}
    if reader == "responses":
        return load_responses(kwargs["path"])
    functions = {"nifti": data.load_nifti_responses, "surface": data.load_surface_responses,
                 "nsd": data.load_nsd_betas}
    if reader not in functions:
        raise InputError(f"responses.files.{subject}.reader: received {reader!r}; expected one of {list(_READERS)}")
    fn = functions[reader]
    params = inspect.signature(fn).parameters
    if "path" in kwargs and "path" not in params:
        kwargs[next(iter(params))] = kwargs.pop("path")
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise InputError(f"responses.files.{subject}.{unknown[0]}: not an argument of {fn.__name__}; expected "
                         f"some of {list(params)}")
    return fn(**kwargs)


def subject_names(responses: dict) -> list[str]:
    """The subjects a ``[responses]`` section makes, known before any response is read or simulated."""
    if responses["files"] is not None:
        return list(responses["files"])
    n = responses["simulated"]["n_subjects"]
    return [f"subj{i:02d}" for i in range(1, n + 1)]


def make_responses(responses: dict, scenes, feats: dict[str, xr.DataArray]) -> dict[str, xr.DataArray]:
    """Per subject, its responses: read from files, or simulated from the scenes or the features."""
    if responses["files"] is not None:
        return {subject: _read(subject, entry) for subject, entry in responses["files"].items()}
    s = responses["simulated"]
    given = {k: v for k, v in s.items() if v is not None and k not in ("n_subjects", "driven_by")}
    if s["n_subjects"] == 1:
        brain = simulate_brain(scenes if s["driven_by"] == "scenes" else feats, **given)
        return {"subj01": brain.responses}
    sim = simulate_subjects(feats, n_subjects=s["n_subjects"], **given)
    return {name: sim.subjects[name] for name in list(sim.subjects)}


def _model(encoding: dict, n_layers: int):
    if encoding["per_layer"] or n_layers == 1:
        return RidgeCV(alphas=encoding["alphas"], cv=encoding["cv"])
    return BandedRidgeCV(alphas=encoding["alphas"], cv=encoding["cv"], random_state=encoding["random_state"])


def fit_subject(feats: dict[str, xr.DataArray], responses: xr.DataArray, encoding: dict, *, client=None,
                progress: bool | None = None) -> EncodingResult:
    """One subject's encoding fit: the features of the stimuli it saw, ``fit_encoding_model`` with ``[encoding]``."""
    ids = [str(i) for i in responses["stimulus_id"].values]
    if "repeat" in responses.dims or len(set(ids)) != len(ids):
        ids = list(dict.fromkeys(ids))
    own = {k: select_stimuli(v, ids) for k, v in feats.items()}
    x = own if len(own) > 1 else next(iter(own.values()))
    test = encoding["test"]
    return fit_encoding_model(x, responses, model=_model(encoding, len(own)), test=test,
                              per_layer=encoding["per_layer"] and len(own) > 1, random_state=encoding["random_state"],
                              client=client, progress=progress, min_ceiling=encoding["min_ceiling"])


def score_table(subject: str, result: EncodingResult) -> pd.DataFrame:
    """Median scores per layer and ROI of one subject's result: columns subject, layer, roi, n_voxels, metrics."""
    frames = []
    for metric in result.metrics:
        table = result.roi_summary(metric)
        layers = result.layers or [None]
        for layer in layers:
            column = layer if layer is not None else metric
            frame = pd.DataFrame({"subject": subject, "layer": layer or "joint", "roi": table.index.astype(str),
                                  "metric": metric, "value": table[column].astype(float).to_numpy()})
            frames.append(frame)
    long = pd.concat(frames, ignore_index=True)
    wide = long.pivot_table(index=["subject", "layer", "roi"], columns="metric", values="value", sort=False,
                            dropna=False).reset_index()
    wide.columns.name = None
    rois = [str(r) for r in result.dataset["roi"].values] if "roi" in result.dataset.coords else []
    counts = {"all": len(rois) or result.dataset.sizes["voxel"], **pd.Series(rois).value_counts().to_dict()}
    wide.insert(3, "n_voxels", [int(counts.get(r, 0)) for r in wide["roi"]])
    return wide[["subject", "layer", "roi", "n_voxels", *[m for m in result.metrics if m in wide]]]


def write_result(result: EncodingResult, path: Path, digest: str) -> Path:
    """Write ``result.nc`` with the config digest in its attrs, atomically (a killed run leaves no half file)."""
    result.dataset.attrs["config_digest"] = digest
    tmp = path.with_name(path.name + ".partial")
    result.to_netcdf(tmp)
    os.replace(tmp, path)
    return path


def write_figures(result: EncodingResult, folder: Path, subject: str) -> list[Path]:
    """The subject's brain map (best layer's score per voxel) and ROI bars, as PNG files (kept if present)."""
    import matplotlib.pyplot as plt

    paths = []
    drawers = {"brain_map.png": lambda: result.plot_brain(title=f"{subject}: held-out score"),
               "rois.png": lambda: result.plot_rois(title=f"{subject}: score per ROI")}
    if "x" not in result.dataset.coords and "vertex" not in result.dataset.coords:
        drawers.pop("brain_map.png")  # no voxel positions to draw
    for name, draw in drawers.items():
        path = folder / name
        if not path.exists():
            fig = draw()
            fig.savefig(path, dpi=100)
            plt.close(fig)
        paths.append(path)
    return paths
