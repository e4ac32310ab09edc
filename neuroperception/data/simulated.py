"""A simulated brain with a planted ground truth: features → voxel responses with known tuning.

:func:`simulate_brain` places voxels in occipito-temporal grey matter of nilearn's bundled MNI152
template (or on the bundled fsaverage5 surface), gives each one a Gaussian receptive field over a
feature map and a sparse channel tuning, and adds Gaussian noise whose level is set per voxel from
a signal-to-noise ratio. Everything that was planted (weights, receptive fields, noise levels, the
noise ceiling) is returned next to responses that look exactly like real ones
(:func:`~neuroperception.data.make_responses`), so encoding models and noise-ceiling estimators can
be checked against the truth. Given scenes of the miniature world instead of features, the truth is
made from the scenes' pixels and annotations (:mod:`neuroperception.data._world_brain`): early ROIs
see local contrast energy, object-selective ROIs the objects of their preferred category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._docs import fill_doc
from .._validation import check_alignment, check_ids, describe, seed_from
from ..errors import InputError, ShapeError
from ..world.scenes import WorldScenes
from ._placement import ROI_PLACEMENT, _gaussians, _place, _rf_sizes
from ._signal import _feature_signal, _smooth_field
from ._world_brain import WORLD_ROIS, world_signal
from .responses import make_responses

__all__ = ["simulate_brain", "SimulatedBrain", "ROI_PLACEMENT"]

_SNR_SPREAD = 0.5  # sd of log per-voxel SNR around the median


@dataclass
class SimulatedBrain:
    """A simulated brain and everything planted in it (see :func:`simulate_brain`).

    Attributes
    ----------
    responses : xarray.DataArray
        ``("repeat", "stimulus", "voxel")`` single-trial responses (signal + noise), with
        ``stimulus_id``, ``roi`` and ``x/y/z`` (volume) or ``hemi/vertex`` (surface) coordinates.
    signal : xarray.DataArray
        ``("stimulus", "voxel")`` noise-free responses, zero mean and unit variance per voxel.
    true_weights : dict of str to xarray.DataArray
        Per layer, ``("voxel", "feature")`` or ``("voxel", "channel")`` weights (zero for voxels
        that use another layer), scaled so that ``signal = (features - mean) · weights`` (flat) or
        ``Σ_c weights[c] · Σ_yx rf[y, x] · (features[c, y, x] - mean)`` (maps, with
        :meth:`receptive_field_maps`).
    receptive_fields : pandas.DataFrame
        One row per voxel: ``roi``, ``layer``, ``center_y``, ``center_x`` (feature-grid cells),
        ``size`` (Gaussian σ in cells), ``relative_size`` (σ / the grid's longer side), ``grid_h``,
        ``grid_w`` (NaN for flat layers), and ``n_tuned`` (features or channels with a weight).
        A brain simulated from world scenes adds ``preferred_category`` (None outside the
        object-selective voxels, whose ``center_*``/``size`` are their position gain in pixels).
    true_noise_ceiling : xarray.DataArray
        ``("voxel",)`` ``var(signal) / (var(signal) + σ² · mean(1/n))`` for the repeat-averaged data.
    noise_sd : xarray.DataArray
        ``("voxel",)`` single-trial noise standard deviation σ.
    rois : dict of str to tuple of str
        ROI name → the layers its voxels draw on.
    settings : dict
        The arguments that made it (and, for world scenes, ``content``, ``energy_grid`` and
        ``position_gain``); also the ``attrs`` of ``responses``.

    Examples
    --------
    The signal is exactly the planted weights applied to the centred features:

    >>> import numpy as np, xarray as xr
    >>> f = xr.DataArray(np.random.default_rng(0).standard_normal((30, 8)), dims=("stimulus", "feature"))
    >>> brain = simulate_brain(f, n_voxels=12, snr=1.0, random_state=0)
    >>> brain.signal.dims, brain.responses.shape, brain.true_weights["features"].shape
    (('stimulus', 'voxel'), (3, 30, 12), (12, 8))
    >>> w = brain.true_weights["features"].values
    >>> bool(np.allclose((f - f.mean("stimulus")).values @ w.T, brain.signal.values, atol=1e-5))
    True
    >>> bool(((brain.true_noise_ceiling > 0) & (brain.true_noise_ceiling < 1)).all())
    True
    """

    responses: xr.DataArray
    signal: xr.DataArray
    true_weights: dict[str, xr.DataArray]
    receptive_fields: pd.DataFrame
    true_noise_ceiling: xr.DataArray
    noise_sd: xr.DataArray
    rois: dict[str, tuple[str, ...]]
    settings: dict[str, Any] = field(default_factory=dict)

    def receptive_field_maps(self, layer: str) -> xr.DataArray:
        """The planted spatial receptive fields ``("voxel", "y", "x")`` of one map layer.

        Each map sums to 1; voxels that use another layer are all zeros.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> f = xr.DataArray(np.random.default_rng(0).random((20, 4, 6, 6)), dims=("stimulus", "channel", "y", "x"))
        >>> rf = simulate_brain(f, n_voxels=30).receptive_field_maps("features")
        >>> rf.dims, float(rf.sum(("y", "x")).max().round(6))
        (('voxel', 'y', 'x'), 1.0)
        """
        rf = self.receptive_fields
        if layer not in set(rf["layer"]):
            raise InputError(f"layer: received {layer!r}; expected one of {sorted(set(rf['layer']))}")
        rows = rf[rf["layer"] == layer]
        if rows["grid_h"].isna().all():
            raise InputError(f"layer {layer!r} holds flat features; it has no spatial receptive fields")
        h, w = int(rows["grid_h"].iloc[0]), int(rows["grid_w"].iloc[0])
        out = np.zeros((len(rf), h, w))
        idx = rows.index.to_numpy()
        out[idx] = _gaussians(rows["center_y"].to_numpy(), rows["center_x"].to_numpy(),
                              rows["size"].to_numpy(), h, w).reshape(-1, h, w)
        return xr.DataArray(out, dims=("voxel", "y", "x"), name=f"rf {layer}")

    def roi_table(self) -> pd.DataFrame:
        """One row per ROI: layers, voxel count, mean relative RF size, median SNR and mean true noise ceiling.

        Columns ``roi``, ``layers``, ``voxels``, ``mean_relative_rf_size`` (the mean of the receptive
        fields' ``relative_size``), ``median_snr`` and ``mean_true_noise_ceiling``.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> f = xr.DataArray(np.random.default_rng(0).standard_normal((20, 8)), dims=("stimulus", "feature"))
        >>> simulate_brain(f, n_voxels=30).roi_table()["voxels"].tolist()
        [10, 10, 10]
        """
        rf = self.receptive_fields
        snr = 1.0 / self.noise_sd.values
        rows = []
        for roi, layers in self.rois.items():
            sel = (rf["roi"] == roi).to_numpy()
            rows.append({"roi": roi, "layers": ", ".join(layers), "voxels": int(sel.sum()),
                         "mean_relative_rf_size": float(rf.loc[sel, "relative_size"].mean()) if sel.any() else np.nan,
                         "median_snr": float(np.median(snr[sel])) if sel.any() else np.nan,
                         "mean_true_noise_ceiling": float(self.true_noise_ceiling.values[sel].mean())
                         if sel.any() else np.nan})
        return pd.DataFrame(rows)


def _as_layers(features: Any) -> dict[str, xr.DataArray]:
    if isinstance(features, (xr.DataArray, np.ndarray)):
        name = "features"
        if isinstance(features, xr.DataArray):
            name = str(features.attrs.get("layer") or features.name or "features")
        features = {name: features}
    if not isinstance(features, Mapping) or not features:
        raise InputError(f"features: received {describe(features)}; expected a DataArray or a non-empty dict "
                         "layer -> DataArray ('stimulus', 'feature') or ('stimulus', 'channel', 'y', 'x')")
    out = {}
    for layer, da in features.items():
        if isinstance(da, np.ndarray):
            dims = {2: ("stimulus", "feature"), 4: ("stimulus", "channel", "y", "x")}.get(da.ndim)
            if dims is None:
                raise ShapeError(f"features[{layer!r}]: received {describe(da)}; expected 2 or 4 dimensions")
            da = xr.DataArray(da, dims=dims)
        if not isinstance(da, xr.DataArray):
            raise InputError(f"features[{layer!r}]: received {describe(da)}; expected an xarray.DataArray")
        if da.ndim == 2 and "stimulus" in da.dims:
            da = da.transpose("stimulus", ...)
        elif set(da.dims) == {"stimulus", "channel", "y", "x"}:
            da = da.transpose("stimulus", "channel", "y", "x")
        else:
            raise ShapeError(f"features[{layer!r}]: received dims {da.dims}; expected ('stimulus', 'feature') or "
                             "('stimulus', 'channel', 'y', 'x') (extract(..., pooling='avg' or 'none'))")
        if not np.issubdtype(da.dtype, np.number) or np.issubdtype(da.dtype, np.complexfloating):
            raise InputError(f"features[{layer!r}]: received dtype {da.dtype}; expected real numbers")
        out[str(layer)] = da
    names = list(out)
    aligned = check_alignment(*out.values(), names=[f"features[{k!r}]" for k in names])
    out = dict(zip(names, aligned))
    n = next(iter(out.values())).sizes["stimulus"]
    if n < 3:
        raise ShapeError(f"features: received {n} stimuli; expected at least 3 to standardise the signal")
    return out


@fill_doc
def simulate_brain(
    features: Any,
    n_voxels: int = 600,
    snr: float = 0.5,
    n_repeats: int = 3,
    rois: Sequence[str] | None = None,
    space: str = "volume",
    sparsity: float = 0.1,
    rf_size: Any = None,
    random_state: int | np.random.Generator | None = 0,
    *,
    content: bool = True,
) -> SimulatedBrain:
    """Simulate voxel responses to stimuli from their features, with a planted ground truth.

    Voxels are drawn from grey matter of nilearn's bundled MNI152 template (2 mm) around each ROI's
    typical place (V1 along the calcarine sulcus, V4 ventral occipital, LO lateral occipital, IT
    ventral temporal; both hemispheres), or from the matching vertices of the bundled fsaverage5 pial
    surface. The layers (in dict order) are split into as many consecutive groups as there are ROIs:
    early layers feed V1, late layers IT (a single layer feeds every ROI); each voxel draws on one
    layer of its ROI's group. On map features a voxel has an isotropic Gaussian receptive field laid
    out retinotopically (left hemisphere → right visual field, posterior → fovea, above the ROI
    centre → lower field) whose size grows from V1 to IT and with eccentricity, and a sparse channel
    tuning; on flat features a sparse feature tuning. The signal is standardised per voxel; the
    single-trial SNR (signal sd / noise sd) varies log-normally and smoothly over cortex around its
    median ``snr``.

    Given scenes of the miniature world (:class:`~neuroperception.world.WorldScenes`), the truth is
    made from the scenes themselves, not from any model's features: early ROIs (V1, V4) see the
    images' :func:`~neuroperception.data.contrast_energy` (layer ``"energy"``) through retinotopic
    receptive fields with a sparse positive channel tuning; the object-selective ROIs (LO, IT) hold
    category-selective patches (layer ``"categories"``): each voxel responds to the objects of its
    preferred category (column ``preferred_category`` of ``receptive_fields``) wherever they are,
    in proportion to their size times visible fraction, with a mild gain for their position
    (``1 - 0.3 + 0.3 · exp(-d² / 2σ²)`` around the voxel's receptive-field centre, in pixels). With
    ``content=False`` LO and IT see contrast energy through their own large receptive fields instead,
    with the same placement, noise and voxel count, so an effect that depends on content vanishes.

    Parameters
    ----------
    features : xarray.DataArray, numpy.ndarray, dict of str to DataArray, or WorldScenes
        ``("stimulus", "feature")`` or ``("stimulus", "channel", "y", "x")`` per layer (as returned by
        :func:`~neuroperception.features.extract`); layers must share their ``stimulus_id``. Or
        scenes from :func:`~neuroperception.world.render_scenes` (their ids become ``stimulus_id``).
    n_voxels : int
        Total voxels, split evenly over ROIs.
    snr : float
        Median single-trial signal-to-noise ratio (signal sd / noise sd) over voxels.
    n_repeats : int
        Presentations of each stimulus.
    rois : sequence of str, optional
        ROI names from :data:`ROI_PLACEMENT` (``"V1"``, ``"V4"``, ``"LO"``, ``"IT"``, and the motion area
        ``"MT"`` for video features), early to late. Default ``("V1", "V4", "IT")`` for features and
        ``("V1", "V4", "LO", "IT")`` for scenes.
    space : {"volume", "surface"}
        MNI152 voxels with ``x/y/z`` (mm) coordinates, or fsaverage5 vertices with ``hemi``/``vertex``
        (and their pial ``x/y/z``).
    sparsity : float
        Fraction of the (varying) features or channels each voxel is tuned to (at least one); for
        object-selective voxels, of the categories the scenes hold (beyond the preferred one, the
        others get weights between 0.2 and 0.6 of it).
    rf_size : float, sequence or dict, optional
        Median receptive-field σ as a fraction of the grid side, per ROI; default from
        :data:`ROI_PLACEMENT` (V1 0.05 < V4 0.12 < LO 0.2 < IT 0.3).
    %(random_state)s
        ``attrs["random_state"]`` records the seed (for a Generator or None, the one drawn from it).
    content : bool
        Scenes only: whether LO and IT respond to the objects' categories (True) or to contrast
        energy like early areas (False).

    Returns
    -------
    SimulatedBrain

    Raises
    ------
    InputError
        Unknown ROI or space, out-of-range parameters, too many voxels for the ROIs, features
        without variance, ``content=False`` for features.
    ShapeError, AlignmentError
        Features with wrong dims or different stimulus ids across layers.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = xr.DataArray(np.random.default_rng(0).standard_normal((50, 20)), dims=("stimulus", "feature"))
    >>> brain = simulate_brain(f, n_voxels=60, snr=1.0, random_state=0)
    >>> brain.responses.dims, brain.responses.shape
    (('repeat', 'stimulus', 'voxel'), (3, 50, 60))
    >>> sorted(set(brain.responses["roi"].values.tolist()))
    ['IT', 'V1', 'V4']

    A brain that sees scenes of the miniature world:

    >>> from neuroperception.world import render_scenes
    >>> brain = simulate_brain(render_scenes(40, random_state=0), n_voxels=80, random_state=0)
    >>> brain.rois
    {'V1': ('energy',), 'V4': ('energy',), 'LO': ('categories',), 'IT': ('categories',)}
    >>> brain.receptive_fields.groupby("roi", sort=False)["preferred_category"].count().tolist()
    [0, 0, 20, 20]
    """
    world = isinstance(features, WorldScenes)
    layers = None if world else _as_layers(features)
    if rois is None:
        rois = WORLD_ROIS if world else ("V1", "V4", "IT")
    rois = [str(r) for r in ([rois] if isinstance(rois, str) else rois)]
    unknown = [r for r in rois if r not in ROI_PLACEMENT]
    if not rois or unknown or len(set(rois)) != len(rois):
        raise InputError(f"rois: received {rois!r}; expected distinct names among {list(ROI_PLACEMENT)}")
    if space not in ("volume", "surface"):
        raise InputError(f"space: received {space!r}; expected 'volume' or 'surface'")
    if not isinstance(n_voxels, (int, np.integer)) or n_voxels < len(rois):
        raise InputError(f"n_voxels: received {n_voxels!r}; expected an int >= the number of ROIs ({len(rois)})")
    if not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise InputError(f"n_repeats: received {n_repeats!r}; expected a positive int")
    if not isinstance(snr, (int, float, np.number)) or not np.isfinite(snr) or snr <= 0:
        raise InputError(f"snr: received {snr!r}; expected a positive number (median signal sd / noise sd)")
    if not isinstance(sparsity, (int, float, np.number)) or not 0 < sparsity <= 1:
        raise InputError(f"sparsity: received {sparsity!r}; expected a fraction in (0, 1]")
    if not isinstance(content, (bool, np.bool_)):
        raise InputError(f"content: received {content!r}; expected True or False")
    if not world and not content:
        raise InputError("content: received False with features; expected WorldScenes (the switch turns the "
                         "object ROIs' dependence on the scenes' content off; features have no content to remove)")
    if world and len(features) < 3:
        raise ShapeError(f"features: received {len(features)} scenes; expected at least 3 to standardise the signal")
    sizes = _rf_sizes(rf_size, rois)
    seed = seed_from(random_state)
    seeds = np.random.SeedSequence(seed).spawn(5)
    place_rng, tune_rng, noise_rng, snr_rng = (np.random.default_rng(s) for s in seeds[:4])

    xyz, hemi, vertex, roi_labels, offs = _place(rois, int(n_voxels), space, place_rng)
    if world:
        ids = list(features.ids)
        sig = world_signal(features, roi_labels, xyz, offs, hemi, sizes, float(sparsity), bool(content), seeds[4])
    else:
        first = next(iter(layers.values()))
        ids = check_ids(first["stimulus_id"].values if "stimulus_id" in first.coords else None,
                        first.sizes["stimulus"], name="features.stimulus_id")
        sig = _feature_signal(layers, rois, roi_labels, offs, hemi, sizes, sparsity, tune_rng)
    n_stim, n_vox = len(ids), len(roi_labels)
    raw = sig.raw
    sd = raw.std(0)
    flat = sd <= 1e-12 * max(float(np.abs(raw).max()), 1e-300)
    if flat.any():
        raise InputError(f"features: {int(flat.sum())} voxels (first: {np.flatnonzero(flat)[:5].tolist()}) got a "
                         "constant signal (their tuned features do not vary inside the receptive field); "
                         "expected features that vary over stimuli, or a larger rf_size / sparsity")
    signal = (raw - raw.mean(0)) / sd

    log_dev = 0.7 * _smooth_field(xyz, snr_rng) + np.sqrt(1 - 0.7**2) * snr_rng.standard_normal(n_vox)
    voxel_snr = np.exp(_SNR_SPREAD * log_dev)
    voxel_snr *= float(snr) / np.median(voxel_snr)
    noise_sd = 1.0 / voxel_snr
    noise = noise_rng.standard_normal((int(n_repeats), n_stim, n_vox), dtype=np.float32)
    noise *= noise_sd.astype(np.float32)
    noise += signal.astype(np.float32)
    nc = 1.0 / (1.0 + noise_sd**2 / int(n_repeats))

    settings = {"n_voxels": int(n_voxels), "snr": float(snr), "n_repeats": int(n_repeats), "rois": ",".join(rois),
                "space": space, "sparsity": float(sparsity), "random_state": seed, **sig.settings}
    coords: dict[str, Any] = {"roi": roi_labels, "xyz": xyz}
    if space == "surface":
        coords.update(hemi=hemi, vertex=vertex)
    attrs = {"source": "neuroperception.data.simulate_brain",
             **{k: int(v) if isinstance(v, bool) else v for k, v in settings.items()}}  # netCDF has no booleans
    responses = make_responses(noise, ids, attrs=attrs, name="responses", **coords)
    signal_da = make_responses(signal, ids, attrs=attrs, name="signal", **coords)
    voxel_coords = {k: signal_da[k] for k in signal_da.coords if signal_da[k].dims == ("voxel",)}

    def per_voxel(values, name):
        return xr.DataArray(values, dims="voxel", coords=voxel_coords, name=name)

    true_weights = {}
    for layer, w in sig.weights.items():
        dim, labels = sig.units[layer]
        wcoords = dict(voxel_coords)
        if labels is not None:
            wcoords[dim] = labels
        true_weights[layer] = xr.DataArray((w / sd[:, None]).astype(np.float32), dims=("voxel", dim),
                                           coords=wcoords, name=f"true weights {layer}")
    rf = pd.DataFrame({"roi": roi_labels, "layer": sig.voxel_layer, **sig.rf, "n_tuned": sig.n_tuned,
                       **sig.columns})
    rf.index.name = "voxel"
    return SimulatedBrain(responses=responses, signal=signal_da, true_weights=true_weights, receptive_fields=rf,
                          true_noise_ceiling=per_voxel(nc, "true noise ceiling"),
                          noise_sd=per_voxel(noise_sd, "noise sd"), rois=sig.roi_layers, settings=settings)
