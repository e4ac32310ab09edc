"""The noise-free signal of simulated voxels from features: sparse tuning over a layer, Gaussian
receptive fields on feature maps, block-wise projection with bounded memory.

:func:`_feature_signal` is what :func:`~neuroperception.data.simulate_brain` plants for features;
the world's scenes have their own (:mod:`neuroperception.data._world_brain`). Both return a
:class:`_Signal`, which ``simulate_brain`` standardises, adds noise to and labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError
from ._placement import _gaussians, _retinotopic_rfs

_BUDGET = 2_000_000  # elements per temporary block when projecting features
RF_COLUMNS = ("center_y", "center_x", "size", "relative_size", "grid_h", "grid_w")


@dataclass
class _Signal:
    """Raw (unstandardised) voxel signal and what was planted to make it.

    ``weights[layer]`` is ``(n_voxels, n_units)`` (zero for voxels on other layers) and
    ``units[layer]`` the name of its unit dimension and the unit labels (None: unlabelled).
    ``columns`` are extra per-voxel columns of the receptive-field table.
    """

    raw: np.ndarray
    weights: dict[str, np.ndarray]
    units: dict[str, tuple[str, Any]]
    rf: dict[str, np.ndarray]
    n_tuned: np.ndarray
    voxel_layer: np.ndarray
    roi_layers: dict[str, tuple[str, ...]]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def _empty_rf(n_vox: int) -> dict[str, np.ndarray]:
    return {k: np.full(n_vox, np.nan) for k in RF_COLUMNS}


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


def _feature_signal(layers: dict[str, xr.DataArray], rois: list[str], roi_labels: np.ndarray, offs: np.ndarray,
                    hemi: np.ndarray, sizes: dict[str, float], sparsity: float,
                    tune_rng: np.random.Generator) -> _Signal:
    """Each voxel draws on one layer of its ROI's group: a sparse random tuning, a Gaussian RF on maps."""
    names = list(layers)
    if len(names) >= len(rois):
        groups = [tuple(names[i] for i in g) for g in np.array_split(np.arange(len(names)), len(rois))]
    else:
        groups = [(names[k * len(names) // len(rois)],) for k in range(len(rois))]
    roi_layers = dict(zip(rois, groups))
    n_stim = next(iter(layers.values())).sizes["stimulus"]
    n_vox = len(roi_labels)
    voxel_layer = np.array([roi_layers[r][tune_rng.integers(len(roi_layers[r]))] for r in roi_labels])
    raw = np.zeros((n_stim, n_vox))
    weights: dict[str, np.ndarray] = {}
    rf_rows = _empty_rf(n_vox)
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
            cy, cx, sigma = _retinotopic_rfs(offs[idx], hemi[idx], roi_labels[idx], sizes, h, wd, tune_rng)
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
    units = {}
    for layer, da in layers.items():
        dim = da.dims[1]
        units[layer] = (dim, da[dim].values if dim in da.coords else None)
    return _Signal(raw=raw, weights=weights, units=units, rf=rf_rows, n_tuned=n_tuned, voxel_layer=voxel_layer,
                   roi_layers=roi_layers)
