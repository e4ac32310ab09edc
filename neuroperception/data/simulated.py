"""A simulated brain with a planted ground truth: features → voxel responses with known tuning.

:func:`simulate_brain` places voxels in occipito-temporal grey matter of nilearn's bundled MNI152
template (or on the bundled fsaverage5 surface), gives each one a Gaussian receptive field over a
feature map and a sparse channel tuning, and adds Gaussian noise whose level is set per voxel from
a signal-to-noise ratio. Everything that was planted (weights, receptive fields, noise levels, the
noise ceiling) is returned next to responses that look exactly like real ones
(:func:`~neuroperception.data.make_responses`), so encoding models and noise-ceiling estimators can
be checked against the truth.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import check_alignment, check_ids, describe
from ..errors import InputError, ShapeError
from .responses import make_responses

__all__ = ["simulate_brain", "SimulatedBrain", "ROI_PLACEMENT"]

#: Where each known ROI is placed: (centre (x, y, z) of the right hemisphere in MNI mm, ellipsoid
#: radii in mm, default receptive-field size as a fraction of the feature grid's side, largest
#: eccentricity as a fraction of the half-image). Left-hemisphere centres mirror x.
ROI_PLACEMENT: dict[str, tuple[tuple[float, float, float], tuple[float, float, float], float, float]] = {
    "V1": ((10.0, -88.0, 2.0), (7.0, 14.0, 10.0), 0.05, 0.9),  # banks of the calcarine sulcus
    "V4": ((30.0, -80.0, -12.0), (8.0, 9.0, 8.0), 0.12, 0.7),  # ventral occipital (hV4)
    "LO": ((42.0, -78.0, 0.0), (8.0, 9.0, 9.0), 0.2, 0.6),  # lateral occipital
    "IT": ((40.0, -50.0, -20.0), (8.0, 14.0, 8.0), 0.3, 0.4),  # ventral temporal (fusiform)
}
_SNR_SPREAD = 0.5  # sd of log per-voxel SNR around the median
_MAX_DISTANCE = 3.0  # voxels farther than this (in ROI radii) from every ROI centre are never used
_BUDGET = 2_000_000  # elements per temporary block when projecting features


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
    true_noise_ceiling : xarray.DataArray
        ``("voxel",)`` ``var(signal) / (var(signal) + σ² · mean(1/n))`` for the repeat-averaged data.
    noise_sd : xarray.DataArray
        ``("voxel",)`` single-trial noise standard deviation σ.
    rois : dict of str to tuple of str
        ROI name → the layers its voxels draw on.
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
                         "mean RF σ / grid side": float(rf.loc[sel, "relative_size"].mean()) if sel.any() else np.nan,
                         "median SNR": float(np.median(snr[sel])) if sel.any() else np.nan,
                         "mean true noise ceiling": float(self.true_noise_ceiling.values[sel].mean())
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


def _rf_sizes(rf_size: Any, rois: Sequence[str]) -> dict[str, float]:
    if rf_size is None:
        sizes = {r: ROI_PLACEMENT[r][2] for r in rois}
    elif isinstance(rf_size, Mapping):
        missing = [r for r in rois if r not in rf_size]
        if missing:
            raise InputError(f"rf_size: received a mapping without {missing}; expected one size per ROI")
        sizes = {r: rf_size[r] for r in rois}
    elif np.ndim(rf_size) == 0:
        sizes = {r: rf_size for r in rois}
    else:
        if len(rf_size) != len(rois):
            raise InputError(f"rf_size: received {len(rf_size)} sizes; expected one per ROI ({len(rois)})")
        sizes = dict(zip(rois, rf_size))
    for r, s in sizes.items():
        if not isinstance(s, (int, float, np.number)) or not 0 < float(s) <= 2:
            raise InputError(f"rf_size[{r!r}]: received {s!r}; expected a fraction of the grid side in (0, 2]")
    return {r: float(s) for r, s in sizes.items()}


@functools.lru_cache(maxsize=2)
def _candidates(space: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey-matter positions (mm), hemisphere labels and vertex indices (-1 in the volume); cached."""
    from nilearn import datasets

    if space == "volume":
        gm = datasets.load_mni152_gm_mask(resolution=2)
        ijk = np.argwhere(np.asarray(gm.dataobj) > 0)
        xyz = np.c_[ijk, np.ones(len(ijk))] @ gm.affine.T
        xyz = xyz[:, :3]
        hemi = np.where(xyz[:, 0] < 0, "left", "right")
        return _frozen(xyz, hemi, np.full(len(xyz), -1))
    mesh = datasets.load_fsaverage("fsaverage5")["pial"]
    parts = [(h, np.asarray(mesh.parts[h].coordinates, dtype=float)) for h in ("left", "right")]
    xyz = np.concatenate([c for _, c in parts])
    hemi = np.concatenate([np.full(len(c), h) for h, c in parts])
    vertex = np.concatenate([np.arange(len(c)) for _, c in parts])
    return _frozen(xyz, hemi, vertex)


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


def _place(rois: Sequence[str], n_voxels: int, space: str, rng: np.random.Generator):
    """Choose voxels per ROI; returns positions, hemi, vertex, roi labels and ROI-relative offsets."""
    xyz, hemi, vertex = _candidates(space)
    dist = np.empty((len(rois), len(xyz)))
    offsets = np.empty((len(rois), len(xyz), 3))
    for k, roi in enumerate(rois):
        centre, radii = np.array(ROI_PLACEMENT[roi][0]), np.array(ROI_PLACEMENT[roi][1])
        mirrored = np.c_[np.abs(xyz[:, 0]), xyz[:, 1:]]  # both hemispheres share one (mirrored) ellipsoid
        offsets[k] = (mirrored - centre) / radii
        dist[k] = np.sqrt((offsets[k] ** 2).sum(1))
    owner = dist.argmin(0)
    counts = [n_voxels // len(rois) + (k < n_voxels % len(rois)) for k in range(len(rois))]
    chosen, labels = [], []
    for k, (roi, need) in enumerate(zip(rois, counts)):
        own = np.flatnonzero((owner == k) & (dist[k] <= _MAX_DISTANCE))
        if own.size < need:
            raise InputError(f"n_voxels: received {n_voxels}; ROI {roi!r} has only {own.size} grey-matter "
                             f"{'voxels' if space == 'volume' else 'vertices'} in space={space!r}; expected at "
                             f"most {own.size * len(rois)} voxels")
        own = own[np.argsort(dist[k, own], kind="stable")]
        pool = own[dist[k, own] <= 1.0] if (dist[k, own] <= 1.0).sum() >= need else own[:need]
        pick = np.sort(rng.choice(pool, size=need, replace=False))
        chosen.append(pick)
        labels += [roi] * need
    idx = np.concatenate(chosen)
    roi_index = np.repeat(np.arange(len(rois)), counts)
    return xyz[idx], hemi[idx], vertex[idx], np.array(labels), offsets[roi_index, idx]


def _gaussians(cy: np.ndarray, cx: np.ndarray, sigma: np.ndarray, h: int, w: int) -> np.ndarray:
    """Normalised isotropic Gaussians ``(n, h * w)`` on an ``h × w`` grid of cells."""
    gy = np.exp(-0.5 * ((np.arange(h)[None] - cy[:, None]) / sigma[:, None]) ** 2)
    gx = np.exp(-0.5 * ((np.arange(w)[None] - cx[:, None]) / sigma[:, None]) ** 2)
    g = gy[:, :, None] * gx[:, None, :]
    return (g / g.sum((1, 2), keepdims=True)).reshape(len(cy), h * w)


def _unit_std(values: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Standard deviation over stimuli (and ``axes``) per unit, in stimulus chunks (float64 sums)."""
    step = max(1, _BUDGET // max(1, values[0].size))
    s = s2 = 0.0
    for a in range(0, len(values), step):
        block = np.asarray(values[a:a + step])
        s = s + block.sum(axis=(0, *axes), dtype=np.float64)
        flat = block.reshape(block.shape[0], block.shape[1], -1)
        s2 = s2 + np.einsum("sup,sup->u", flat, flat, dtype=np.float64)
    count = len(values) * int(np.prod([values.shape[i] for i in axes]))
    mean = s / count
    return np.sqrt(np.maximum(s2 / count - mean**2, 0.0))


def _project(values: np.ndarray, weights_fn, n_vox: int, n_units: int) -> np.ndarray:
    """``values (S, U) @ W.T`` for ``W (n_vox, U)`` built block-wise by ``weights_fn(slice)``."""
    out = np.empty((len(values), n_vox))
    vstep = max(1, _BUDGET // n_units)
    sstep = max(1, _BUDGET // n_units)
    for v in range(0, n_vox, vstep):
        block = weights_fn(slice(v, v + vstep))
        for a in range(0, len(values), sstep):
            x = np.asarray(values[a:a + sstep], dtype=np.float64).reshape(-1, n_units)
            out[a:a + sstep, v:v + vstep] = x @ block.T
    return out


def _smooth_field(xyz: np.ndarray, rng: np.random.Generator, n_waves: int = 24, wavelength: float = 40.0):
    """A smooth random field over positions (unit variance), as a sum of random plane waves."""
    k = rng.standard_normal((n_waves, 3)) * (2 * np.pi / wavelength)
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    f = np.cos(xyz @ k.T + phase).sum(1)
    return (f - f.mean()) / max(f.std(), 1e-12)


def simulate_brain(
    features: Any,
    n_voxels: int = 600,
    snr: float = 0.5,
    n_repeats: int = 3,
    rois: Sequence[str] = ("V1", "V4", "IT"),
    space: str = "volume",
    sparsity: float = 0.1,
    rf_size: Any = None,
    random_state: int = 0,
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

    Parameters
    ----------
    features : xarray.DataArray, numpy.ndarray or dict of str to DataArray
        ``("stimulus", "feature")`` or ``("stimulus", "channel", "y", "x")`` per layer (as returned by
        :func:`~neuroperception.features.extract`); layers must share their ``stimulus_id``.
    n_voxels : int
        Total voxels, split evenly over ROIs.
    snr : float
        Median single-trial signal-to-noise ratio (signal sd / noise sd) over voxels.
    n_repeats : int
        Presentations of each stimulus.
    rois : sequence of str
        ROI names from :data:`ROI_PLACEMENT` (``"V1"``, ``"V4"``, ``"LO"``, ``"IT"``), early to late.
    space : {"volume", "surface"}
        MNI152 voxels with ``x/y/z`` (mm) coordinates, or fsaverage5 vertices with ``hemi``/``vertex``
        (and their pial ``x/y/z``).
    sparsity : float
        Fraction of the (varying) features or channels each voxel is tuned to (at least one).
    rf_size : float, sequence or dict, optional
        Median receptive-field σ as a fraction of the grid side, per ROI; default from
        :data:`ROI_PLACEMENT` (V1 0.05 < V4 0.12 < LO 0.2 < IT 0.3).
    random_state : int
        Seed; the same seed gives identical output.

    Returns
    -------
    SimulatedBrain

    Raises
    ------
    InputError
        Unknown ROI or space, out-of-range parameters, too many voxels for the ROIs, features
        without variance.
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
    """
    layers = _as_layers(features)
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
    sizes = _rf_sizes(rf_size, rois)
    place_rng, tune_rng, noise_rng, snr_rng = (np.random.default_rng(s) for s in
                                               np.random.SeedSequence(int(random_state)).spawn(4))

    xyz, hemi, vertex, roi_labels, offs = _place(rois, int(n_voxels), space, place_rng)
    names = list(layers)
    if len(names) >= len(rois):
        groups = [tuple(names[i] for i in g) for g in np.array_split(np.arange(len(names)), len(rois))]
    else:
        groups = [(names[k * len(names) // len(rois)],) for k in range(len(rois))]
    roi_layers = dict(zip(rois, groups))

    first = next(iter(layers.values()))
    ids = check_ids(first["stimulus_id"].values if "stimulus_id" in first.coords else None,
                    first.sizes["stimulus"], name="features.stimulus_id", prefix="stim")
    n_stim, n_vox = len(ids), len(roi_labels)
    voxel_layer = np.array([roi_layers[r][tune_rng.integers(len(roi_layers[r]))] for r in roi_labels])
    raw = np.zeros((n_stim, n_vox))
    weights: dict[str, np.ndarray] = {}
    rf_rows = {k: np.full(n_vox, np.nan) for k in ("center_y", "center_x", "size", "relative_size", "grid_h",
                                                   "grid_w")}
    n_tuned = np.zeros(n_vox, dtype=int)
    for layer, da in layers.items():
        values = np.asarray(da.values)
        is_map = da.ndim == 4
        std = _unit_std(values, (2, 3) if is_map else ())
        varying = np.flatnonzero(std > 1e-12 * max(float(std.max()), 1e-300))
        if varying.size == 0:
            raise InputError(f"features[{layer!r}]: received constant values over stimuli; expected varying features")
        n_units = values.shape[1]
        w = np.zeros((n_vox, n_units))
        idx = np.flatnonzero(voxel_layer == layer)
        k = max(1, int(round(sparsity * varying.size)))
        for v in idx:
            w[v, tune_rng.choice(varying, size=k, replace=False)] = tune_rng.standard_normal(k)
        n_tuned[idx] = k
        if idx.size == 0:
            weights[layer] = w
            continue
        if is_map:
            h, wd = values.shape[2:]
            side = max(h, wd)
            ecc_max = np.array([ROI_PLACEMENT[r][3] for r in roi_labels[idx]])
            ecc = ecc_max * np.clip(0.5 + 0.5 * offs[idx, 1], 0.05, 1.0)  # posterior → fovea
            angle = -np.clip(offs[idx, 2], -1, 1) * np.pi / 2  # above the centre → lower field
            side_sign = np.where(hemi[idx] == "left", 1.0, -1.0)  # left hemisphere → right field
            fx = side_sign * ecc * np.cos(angle) + 0.05 * tune_rng.standard_normal(idx.size)
            fy = ecc * np.sin(angle) + 0.05 * tune_rng.standard_normal(idx.size)
            cx = np.clip((wd - 1) / 2 * (1 + fx), 0, wd - 1)
            cy = np.clip((h - 1) / 2 * (1 - fy), 0, h - 1)
            base = np.array([sizes[r] for r in roi_labels[idx]])
            sigma = base * side * (0.7 + 0.6 * ecc / ecc_max) * np.exp(0.15 * tune_rng.standard_normal(idx.size))
            sigma = np.maximum(sigma, 0.3)
            for key, val in (("center_y", cy), ("center_x", cx), ("size", sigma), ("relative_size", sigma / side),
                             ("grid_h", h), ("grid_w", wd)):
                rf_rows[key][idx] = val
            g = _gaussians(cy, cx, sigma, h, wd)

            def block(sl, g=g, w=w, idx=idx):
                return (w[idx[sl], :, None] * g[sl, None, :]).reshape(len(g[sl]), -1)

            raw[:, idx] = _project(values, block, idx.size, int(np.prod(values.shape[1:])))
        else:
            raw[:, idx] = _project(values, lambda sl, w=w, idx=idx: w[idx[sl]], idx.size, n_units)
        weights[layer] = w
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
                "space": space, "sparsity": float(sparsity), "random_state": int(random_state)}
    coords: dict[str, Any] = {"roi": roi_labels, "xyz": xyz}
    if space == "surface":
        coords.update(hemi=hemi, vertex=vertex)
    attrs = {"source": "neuroperception.data.simulate_brain", **settings}
    responses = make_responses(noise, ids, attrs=attrs, name="responses", **coords)
    signal_da = make_responses(signal, ids, attrs=attrs, name="signal", **coords)
    voxel_coords = {k: signal_da[k] for k in signal_da.coords if signal_da[k].dims == ("voxel",)}

    def per_voxel(values, name):
        return xr.DataArray(values, dims="voxel", coords=voxel_coords, name=name)

    true_weights = {}
    for layer, w in weights.items():
        dim = layers[layer].dims[1]
        wcoords = dict(voxel_coords)
        if dim in layers[layer].coords:
            wcoords[dim] = layers[layer][dim].values
        true_weights[layer] = xr.DataArray((w / sd[:, None]).astype(np.float32), dims=("voxel", dim),
                                           coords=wcoords, name=f"true weights {layer}")
    rf = pd.DataFrame({"roi": roi_labels, "layer": voxel_layer, **rf_rows, "n_tuned": n_tuned})
    rf.index.name = "voxel"
    return SimulatedBrain(responses=responses, signal=signal_da, true_weights=true_weights, receptive_fields=rf,
                          true_noise_ceiling=per_voxel(nc, "true noise ceiling"),
                          noise_sd=per_voxel(noise_sd, "noise sd"), rois=roi_layers, settings=settings)
