"""The simulated brain's signal for scenes of the miniature world.

Early ROIs (V1, V4, MT) see the scenes' local contrast energy (:func:`~neuroperception.data.contrast_energy`)
through fixed retinotopic Gaussian receptive fields. Object-selective ROIs (:data:`OBJECT_ROIS`)
respond to the objects of their preferred category wherever they appear: each object adds its
drive (:func:`object_drive`: size times visible fraction) times a mild gain for its position.
Both are defined from the world's pixels and annotations, never from a model's features. With the
content switch off, object ROIs see contrast energy through their own large receptive fields instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from ..world.vocabulary import CATEGORIES
from ._placement import ROI_PLACEMENT, _gaussians, _retinotopic_rfs
from ._signal import _BUDGET, _empty_rf, _Signal, _smooth_field, _unit_std
from .energy import ENERGY_CHANNELS, contrast_energy

#: ROIs whose voxels are category-selective in a brain simulated from world scenes.
OBJECT_ROIS = ("LO", "IT")
#: The ROIs of a brain simulated from world scenes, by default.
WORLD_ROIS = ("V1", "V4", "LO", "IT")
#: Depth of the position gain of object-selective voxels: an object at the gain field's centre drives
#: a voxel fully, one far from it ``1 - POSITION_GAIN`` as much.
POSITION_GAIN = 0.3
#: Cells of the contrast-energy grid along the image's longer side.
ENERGY_GRID = 16
_PATCH_WAVELENGTH = 30.0  # mm: category-selective patches are about half this wide
_SECOND_CHOICE = (0.2, 0.6)  # range of the weights of a voxel's non-preferred categories (sparsity > 1/8)


def object_drive(objects: pd.DataFrame, height: int, width: int) -> np.ndarray:
    """How strongly each object drives the voxels that prefer its category: diameter / shorter image
    side × visible fraction (so the drive is the same for every category of one size and visibility)."""
    return (objects["size_px"].to_numpy(float) / min(height, width)) * objects["visible_fraction"].to_numpy(float)


def _energy_voxels(energy: np.ndarray, idx: np.ndarray, sig: _Signal, offs, hemi, roi_labels, sizes, sparsity,
                   rng: np.random.Generator) -> None:
    """Voxels ``idx`` respond to a sparse positive mix of energy channels within a retinotopic Gaussian RF."""
    n, n_chan, gh, gw = energy.shape
    std = _unit_std(energy, (2, 3))
    varying = np.flatnonzero(std > 1e-12 * max(float(std.max()), 1e-300))
    if varying.size == 0:
        varying = np.arange(n_chan)  # blank scenes: the flat-signal check of simulate_brain reports it
    k = max(1, int(round(sparsity * varying.size)))
    w = sig.weights["energy"]
    for v in idx:
        w[v, rng.choice(varying, size=k, replace=False)] = np.exp(0.5 * rng.standard_normal(k))
    sig.n_tuned[idx] = k
    cy, cx, sigma = _retinotopic_rfs(offs[idx], hemi[idx], roi_labels[idx], sizes, gh, gw, rng)
    for key, val in (("center_y", cy), ("center_x", cx), ("size", sigma), ("relative_size", sigma / max(gh, gw)),
                     ("grid_h", gh), ("grid_w", gw)):
        sig.rf[key][idx] = val
    g = _gaussians(cy, cx, sigma, gh, gw)  # (V, P)
    flat = energy.reshape(n, n_chan, gh * gw)
    step = max(1, _BUDGET // max(1, n_chan * len(idx)))
    for a in range(0, n, step):
        pooled = flat[a:a + step].astype(np.float64) @ g.T  # (s, C, V): energy within each voxel's RF
        sig.raw[a:a + step, idx] = np.einsum("scv,vc->sv", pooled, w[idx])


def _preferred(xyz: np.ndarray, present: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Category-selective patches: one smooth random field over cortex per category; voxels go to the
    category whose field is highest there, greedily from the strongest preference down, with every
    category holding the same number of voxels (give or take one)."""
    n = len(xyz)
    fields = np.stack([_smooth_field(xyz, rng, wavelength=_PATCH_WAVELENGTH) for _ in present], axis=1)
    capacity = np.full(len(present), n // len(present))
    capacity[rng.permutation(len(present))[:n % len(present)]] += 1
    out = np.full(n, -1, dtype=np.int64)
    for flat in np.argsort(-fields, axis=None, kind="stable"):
        v, c = divmod(int(flat), len(present))
        if out[v] < 0 and capacity[c] > 0:
            out[v], capacity[c] = present[c], capacity[c] - 1
    return out


def _object_voxels(objects: pd.DataFrame, scene_of: np.ndarray, n_stim: int, size: tuple[int, int],
                   idx: np.ndarray, sig: _Signal, xyz, offs, hemi, roi_labels, sizes, sparsity,
                   rng: np.random.Generator) -> None:
    """Voxels ``idx`` sum, over the objects of a scene, tuning[category] × drive × position gain."""
    h, w = size
    cat = pd.Categorical(objects["category"], categories=list(CATEGORIES)).codes.astype(np.int64)
    drive = object_drive(objects, h, w)
    per_scene = np.zeros((n_stim, len(CATEGORIES)))
    np.add.at(per_scene, (scene_of, cat), drive)
    present = np.flatnonzero(per_scene.std(0) > 1e-12)
    if present.size == 0:
        present = np.arange(len(CATEGORIES))  # nothing varies: the flat-signal check reports it
    pref = _preferred(xyz[idx], present, rng)
    tuning = sig.weights["categories"]
    k = max(1, int(round(sparsity * present.size)))
    for v, p in zip(idx, pref):
        tuning[v, p] = 1.0
        others = present[present != p]
        if k > 1 and others.size:
            extra = rng.choice(others, size=min(k - 1, others.size), replace=False)
            tuning[v, extra] = rng.uniform(*_SECOND_CHOICE, size=extra.size)
    sig.n_tuned[idx] = (tuning[idx] != 0).sum(1)
    sig.columns["preferred_category"][idx] = np.asarray(CATEGORIES, dtype=object)[pref]
    cy, cx, sigma = _retinotopic_rfs(offs[idx], hemi[idx], roi_labels[idx], sizes, h, w, rng)
    for key, val in (("center_y", cy), ("center_x", cx), ("size", sigma), ("relative_size", sigma / max(h, w)),
                     ("grid_h", h), ("grid_w", w)):
        sig.rf[key][idx] = val
    ox, oy = objects["x"].to_numpy(float), objects["y"].to_numpy(float)
    owner = sparse.csr_matrix((np.ones(len(objects)), (scene_of, np.arange(len(objects)))),
                              shape=(n_stim, len(objects)))
    step = max(1, _BUDGET // max(1, len(objects)))
    for a in range(0, len(idx), step):
        vox = idx[a:a + step]
        d2 = (ox[:, None] - cx[a:a + step]) ** 2 + (oy[:, None] - cy[a:a + step]) ** 2
        gain = 1 - POSITION_GAIN + POSITION_GAIN * np.exp(-0.5 * d2 / sigma[a:a + step] ** 2)
        sig.raw[:, vox] = owner @ (tuning[vox][:, cat].T * drive[:, None] * gain)


def world_signal(scenes, roi_labels: np.ndarray, xyz: np.ndarray, offs: np.ndarray, hemi: np.ndarray,
                 sizes: dict[str, float], sparsity: float, content: bool, seed: np.random.SeedSequence) -> _Signal:
    """The raw signal of every voxel for ``scenes`` (a :class:`~neuroperception.world.WorldScenes`).

    Every ROI draws from its own random stream (by name), so an ROI's voxels are the same whichever
    other ROIs are simulated and whether ``content`` is on or off.
    """
    ids = list(scenes.ids)
    h, w = scenes.masks.shape[-2:]
    n_stim, n_vox = len(ids), len(roi_labels)
    energy = contrast_energy(scenes.images, grid=ENERGY_GRID).values
    rois = list(dict.fromkeys(roi_labels.tolist()))
    content_rois = [r for r in rois if content and r in OBJECT_ROIS]
    roi_layers = {r: ("categories",) if r in content_rois else ("energy",) for r in rois}
    voxel_layer = np.array([roi_layers[r][0] for r in roi_labels], dtype=object).astype(str)
    sig = _Signal(raw=np.zeros((n_stim, n_vox)),
                  weights={"energy": np.zeros((n_vox, energy.shape[1])),
                           "categories": np.zeros((n_vox, len(CATEGORIES)))},
                  units={"energy": ("channel", np.array(ENERGY_CHANNELS)),
                         "categories": ("category", np.array(CATEGORIES))},
                  rf=_empty_rf(n_vox), n_tuned=np.zeros(n_vox, dtype=int), voxel_layer=voxel_layer,
                  roi_layers=roi_layers, columns={"preferred_category": np.full(n_vox, None, dtype=object)},
                  settings={"content": bool(content), "energy_grid": ENERGY_GRID, "position_gain": POSITION_GAIN})
    streams = dict(zip(ROI_PLACEMENT, seed.spawn(len(ROI_PLACEMENT))))
    objects = scenes.objects
    scene_of = pd.Index(ids).get_indexer(objects["stimulus_id"])
    for roi in rois:
        idx = np.flatnonzero(roi_labels == roi)
        rng = np.random.default_rng(streams[roi])
        if roi in content_rois:
            _object_voxels(objects, scene_of, n_stim, (h, w), idx, sig, xyz, offs, hemi, roi_labels, sizes,
                           sparsity, rng)
        else:
            _energy_voxels(energy, idx, sig, offs, hemi, roi_labels, sizes, sparsity, rng)
    sig.weights = {k: v for k, v in sig.weights.items() if (sig.voxel_layer == k).any()}
    return sig
