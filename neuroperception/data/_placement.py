"""Where simulated voxels sit and what they see: ROI placement in the MNI152 volume or on fsaverage5,
and retinotopic Gaussian receptive fields over a feature grid.

Voxels are drawn from grey matter of nilearn's bundled MNI152 template (2 mm) or from the bundled
fsaverage5 pial vertices, inside an ellipsoid around each ROI's typical place
(:data:`ROI_PLACEMENT`, mirrored across hemispheres). Their receptive fields are laid out from the
position within the ROI (left hemisphere → right visual field, posterior → fovea, above the centre
→ lower field) and grow with the ROI and with eccentricity.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError

#: Where each known ROI is placed: (centre (x, y, z) of the right hemisphere in MNI mm, ellipsoid
#: radii in mm, default receptive-field size as a fraction of the feature grid's side, largest
#: eccentricity as a fraction of the half-image). Left-hemisphere centres mirror x.
ROI_PLACEMENT: dict[str, tuple[tuple[float, float, float], tuple[float, float, float], float, float]] = {
    "V1": ((10.0, -88.0, 2.0), (7.0, 14.0, 10.0), 0.05, 0.9),  # banks of the calcarine sulcus
    "V4": ((30.0, -80.0, -12.0), (8.0, 9.0, 8.0), 0.12, 0.7),  # ventral occipital (hV4)
    "LO": ((42.0, -78.0, 0.0), (8.0, 9.0, 9.0), 0.2, 0.6),  # lateral occipital
    "IT": ((40.0, -50.0, -20.0), (8.0, 14.0, 8.0), 0.3, 0.4),  # ventral temporal (fusiform)
    "MT": ((45.0, -68.0, 4.0), (7.0, 7.0, 7.0), 0.25, 0.6),  # hMT+, lateral occipito-temporal (motion)
}
_MAX_DISTANCE = 3.0  # voxels farther than this (in ROI radii) from every ROI centre are never used


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


def _retinotopic_rfs(offsets: np.ndarray, hemi: np.ndarray, roi_labels: np.ndarray, sizes: Mapping[str, float],
                     h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receptive-field centres ``(cy, cx)`` (grid cells) and sizes σ (cells) on an ``h × w`` grid.

    ``offsets`` are the voxels' ROI-relative positions from :func:`_place`; σ is the ROI's
    ``sizes`` fraction of the grid side, larger with eccentricity, with a log-normal jitter.
    """
    side = max(h, w)
    n = len(roi_labels)
    ecc_max = np.array([ROI_PLACEMENT[r][3] for r in roi_labels])
    ecc = ecc_max * np.clip(0.5 + 0.5 * offsets[:, 1], 0.05, 1.0)  # posterior → fovea
    angle = -np.clip(offsets[:, 2], -1, 1) * np.pi / 2  # above the centre → lower field
    side_sign = np.where(hemi == "left", 1.0, -1.0)  # left hemisphere → right field
    fx = side_sign * ecc * np.cos(angle) + 0.05 * rng.standard_normal(n)
    fy = ecc * np.sin(angle) + 0.05 * rng.standard_normal(n)
    cx = np.clip((w - 1) / 2 * (1 + fx), 0, w - 1)
    cy = np.clip((h - 1) / 2 * (1 - fy), 0, h - 1)
    base = np.array([sizes[r] for r in roi_labels])
    sigma = base * side * (0.7 + 0.6 * ecc / ecc_max) * np.exp(0.15 * rng.standard_normal(n))
    return cy, cx, np.maximum(sigma, 0.3)
