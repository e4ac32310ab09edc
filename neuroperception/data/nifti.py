"""Volumetric fMRI responses from NIfTI files, masked with nilearn's ``NiftiMasker``.

One volume per trial (a 4-D image, or a list of 3-D images) becomes a labelled
``("stimulus", "voxel")`` array, or ``("repeat", "stimulus", "voxel")`` when stimulus ids repeat.
Voxels carry their ``x``/``y``/``z`` position in mm (from the image affine) and, with an atlas,
their ``roi`` name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._validation import describe
from ..errors import InputError, ShapeError
from .responses import make_responses, stack_repeats

__all__ = ["load_nifti_responses"]


def _nib():
    import nibabel as nib

    return nib


def _label(img: Any) -> str:
    """A short name for an image in error messages: the file path, or the object type."""
    if isinstance(img, (str, os.PathLike)):
        return str(img)
    name = getattr(img, "get_filename", lambda: None)()
    return str(name) if name else f"in-memory {type(img).__name__}"


def _load(img: Any, what: str):
    nib = _nib()
    if isinstance(img, (str, os.PathLike)):
        if not os.path.exists(img):
            raise FileNotFoundError(f"{what}: no file at {str(img)!r}; expected a NIfTI image (.nii or .nii.gz)")
        try:
            return nib.load(os.fspath(img))
        except Exception as err:  # nibabel raises several unrelated types for unreadable files
            raise InputError(f"{what}: {str(img)!r} could not be read as a NIfTI image ({err})") from err
    if isinstance(img, nib.spatialimages.SpatialImage):
        return img
    raise InputError(f"{what}: received {describe(img)}; expected a path or a nibabel image")


def _as_4d(imgs: Any):
    """Return ``(4-D Nifti1Image, source name)`` from one 4-D image or a list of 3-D images."""
    nib = _nib()
    if isinstance(imgs, (list, tuple)):
        if not imgs:
            raise InputError("imgs: received an empty list; expected one 3-D image per trial")
        first = None
        volumes = []
        for k, item in enumerate(imgs):
            img = _load(item, f"imgs[{k}]")
            shape = img.shape
            if len(shape) == 4 and shape[3] == 1:
                shape = shape[:3]
            if len(shape) != 3:
                raise ShapeError(
                    f"imgs[{k}] ({_label(item)}): received an image of shape {img.shape}; expected a 3-D "
                    "volume (one per trial) in a list"
                )
            if first is None:
                first = img
            elif shape != first.shape[:3]:
                raise ShapeError(
                    f"imgs[{k}] ({_label(item)}): received shape {shape}; expected {first.shape[:3]} "
                    f"like imgs[0] ({_label(imgs[0])})"
                )
            elif not np.allclose(img.affine, first.affine, atol=1e-4):
                raise ShapeError(
                    f"imgs[{k}] ({_label(item)}): its affine differs from imgs[0] ({_label(imgs[0])}); "
                    "expected every volume in the same space (resample them first)"
                )
            volumes.append(np.asarray(img.dataobj, dtype=np.float32).reshape(shape))
        data = np.stack(volumes, axis=-1)
        return nib.Nifti1Image(data, first.affine), f"{len(imgs)} volumes from {_label(imgs[0])}, ..."
    img = _load(imgs, "imgs")
    if len(img.shape) == 3:
        raise ShapeError(
            f"imgs ({_label(imgs)}): received a 3-D image of shape {img.shape}; expected a 4-D image "
            "(x, y, z, trial) or a list of 3-D images, one per trial (for one trial pass [img])"
        )
    if len(img.shape) != 4:
        raise ShapeError(f"imgs ({_label(imgs)}): received an image of shape {img.shape}; expected 4-D (x, y, z, trial)")
    return img, _label(imgs)


def _check_same_space(img, ref, what: str, source: str) -> None:
    if tuple(img.shape[:3]) != tuple(ref.shape[:3]) or not np.allclose(img.affine, ref.affine, atol=1e-4):
        raise ShapeError(
            f"{what} ({_label(img)}): received shape {tuple(img.shape)} with affine "
            f"{np.round(img.affine, 3).tolist()}; expected the data's grid, shape {tuple(ref.shape[:3])} with "
            f"affine {np.round(ref.affine, 3).tolist()} ({source}); resample it first, e.g. "
            "nilearn.image.resample_to_img(mask, data, interpolation='nearest')"
        )


def _volume3d(img, what: str) -> np.ndarray:
    data = np.asarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ShapeError(f"{what} ({_label(img)}): received an image of shape {data.shape}; expected a 3-D volume")
    return data


def _atlas_names(values: np.ndarray, atlas_labels: Any) -> np.ndarray:
    """Map integer atlas values to names (``atlas_labels`` list/dict, or the integers as strings)."""
    uniq = np.unique(values)
    if atlas_labels is None:
        return values.astype(np.int64).astype(str)
    if isinstance(atlas_labels, Mapping):
        table = {int(k): str(v) for k, v in atlas_labels.items()}
    elif isinstance(atlas_labels, Sequence) and not isinstance(atlas_labels, str):
        table = {k: str(v) for k, v in enumerate(atlas_labels)}
    else:
        raise InputError(
            f"atlas_labels: received {type(atlas_labels).__name__}; expected a list (name of label i at "
            "position i) or a dict {int: name}"
        )
    table.setdefault(0, "background")
    missing = [int(v) for v in uniq if int(v) not in table]
    if missing:
        raise InputError(
            f"atlas_labels: no name for atlas values {missing[:10]}; expected a name for every label in the atlas"
        )
    lookup = {int(v): table[int(v)] for v in uniq}
    return np.array([lookup[int(v)] for v in values], dtype=str)


def _atlas_values(atlas: Any, mask_img, resample_atlas: bool, source: str) -> np.ndarray:
    """The atlas on the mask's grid, as integers (nearest-neighbour resampling when needed)."""
    atlas_img = _load(atlas, "atlas")
    data = _volume3d(atlas_img, "atlas")
    same = tuple(data.shape) == tuple(mask_img.shape[:3]) and np.allclose(atlas_img.affine, mask_img.affine, atol=1e-4)
    if not same:
        if not resample_atlas:
            _check_same_space(atlas_img, mask_img, "atlas", source)
        from nilearn.image import resample_to_img

        atlas3d = _nib().Nifti1Image(data, atlas_img.affine)
        resampled = resample_to_img(atlas3d, mask_img, interpolation="nearest")
        data = np.asarray(resampled.dataobj)
    if not np.issubdtype(data.dtype, np.integer):
        finite = np.isfinite(data)
        if not finite.all() or not np.allclose(data, np.round(data)):
            raise InputError(
                f"atlas ({_label(atlas_img)}): received non-integer values ({describe(np.asarray(data))}); "
                "expected an integer label image"
            )
    return np.round(data).astype(np.int64)


def load_nifti_responses(
    imgs: Any,
    stimulus_id: Sequence[str],
    mask: Any = None,
    atlas: Any = None,
    atlas_labels: Any = None,
    *,
    mask_strategy: str = "background",
    resample_atlas: bool = True,
    subject: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Read one fMRI volume per trial into labelled responses.

    Parameters
    ----------
    imgs : str, path, nibabel image, or list of them
        A 4-D image ``(x, y, z, trial)`` (e.g. single-trial GLM betas), or a list of 3-D images, one
        per trial, all on the same grid.
    stimulus_id : sequence of str
        The stimulus shown on each volume, in volume order. Repeated ids are stacked on a
        ``repeat`` dim with :func:`~neuroperception.data.stack_repeats`.
    mask : str, path or nibabel image, optional
        A binary 3-D image on the data's grid (0 and one other value, as
        ``nilearn.masking.load_mask_img`` requires); voxels with the non-zero value are kept. When
        None, the mask is computed by ``nilearn.maskers.NiftiMasker`` with ``mask_strategy``.
    atlas : str, path or nibabel image, optional
        A 3-D integer label image, giving the ``roi`` coordinate. Resampled to the data's grid by
        nearest neighbour when its shape or affine differ (unless ``resample_atlas=False``).
    atlas_labels : list or dict, optional
        Names of the atlas values: a list (the name of value ``i`` at position ``i``, as in nilearn's
        atlases) or a dict ``{int: name}``. Value 0 is ``"background"`` unless named. Without it,
        the integers are used as strings (``"0"``, ``"1"``...).
    mask_strategy : str
        ``NiftiMasker``'s strategy when ``mask`` is None (``"background"``, ``"epi"``,
        ``"whole-brain-template"``...).
    resample_atlas : bool
        Resample an atlas on another grid; when False a grid mismatch is an error.
    subject : str, optional
        Stored as the ``subject`` coordinate of every voxel.
    attrs : mapping, optional
        Extra provenance stored on the array (``source`` is set to the file read).

    Returns
    -------
    xarray.DataArray
        ``("stimulus", "voxel")``, or ``("repeat", "stimulus", "voxel")`` with repeated ids; voxel
        coordinates ``x``, ``y``, ``z`` (mm, from the affine), ``i``, ``j``, ``k`` (voxel indices),
        and ``roi`` / ``subject`` when given. Voxels are in the masker's order (C order of ``i, j, k``).

    Raises
    ------
    ShapeError
        A 3-D image where a 4-D one is expected, a number of volumes different from the number of
        ids, a mask or atlas of another shape/affine (mask always; atlas with ``resample_atlas=False``).
    InputError
        NaN/Inf values inside the mask, a mask that is not binary, non-integer atlas values, atlas
        values without a name.
    FileNotFoundError
        A path that does not exist.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> data = np.random.default_rng(0).normal(size=(4, 3, 2, 5)).astype("float32")
    >>> img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> mask = nib.Nifti1Image(np.ones((4, 3, 2), "uint8"), img.affine)
    >>> r = load_nifti_responses(img, ["a", "b", "c", "a", "b"], mask=mask)
    >>> r.dims, r.sizes["voxel"], float(r["x"][-1])
    (('repeat', 'stimulus', 'voxel'), 24, 6.0)
    """
    from nilearn.maskers import NiftiMasker

    nib = _nib()
    img, source = _as_4d(imgs)
    ids = [str(i) for i in (stimulus_id.tolist() if hasattr(stimulus_id, "tolist") else stimulus_id)]
    n_vol = img.shape[3]
    if len(ids) != n_vol:
        raise ShapeError(
            f"imgs ({source}): holds {n_vol} volumes but received {len(ids)} stimulus ids; expected one id per volume"
        )
    data = np.asanyarray(img.dataobj)  # read once; the masker then works on the in-memory image
    img = nib.Nifti1Image(data, img.affine)
    ref3d = nib.Nifti1Image(np.zeros(img.shape[:3], np.uint8), img.affine)
    if mask is not None:
        mask_img = _load(mask, "mask")
        mask_data = _volume3d(mask_img, "mask")
        _check_same_space(mask_img, ref3d, "mask", source)
        values = np.unique(np.nan_to_num(mask_data.astype(float)))
        if values.size > 2 or (values.size == 2 and 0 not in values):
            raise InputError(
                f"mask ({_label(mask_img)}): holds the values {values[:6].tolist()}; expected a binary mask "
                "(0 = drop, one other value = keep, as nilearn.masking.load_mask_img requires). Label maps such "
                "as NSD's ROI files (-1 outside the brain, 0 unlabelled, > 0 inside) must be thresholded first, e.g. "
                "nib.Nifti1Image((data > 0).astype('uint8'), affine), or read with load_nsd_betas"
            )
        mask_bool = np.nan_to_num(mask_data.astype(float)) != 0
        if not mask_bool.any():
            raise InputError(f"mask ({_label(mask_img)}): holds no non-zero voxel; expected at least one voxel to keep")
        masker = NiftiMasker(mask_img=nib.Nifti1Image(mask_bool.astype(np.uint8), img.affine), reports=False)
        masker.fit()
    else:
        masker = NiftiMasker(mask_strategy=mask_strategy, reports=False)
        masker.fit(img)
    mask_bool = np.asarray(masker.mask_img_.dataobj).astype(bool)
    ijk = np.argwhere(mask_bool)  # C order, the order nilearn's maskers use
    if ijk.shape[0] == 0:
        raise InputError(f"imgs ({source}): the computed mask is empty; pass a mask image")

    inside = data[mask_bool]  # (voxel, trial)
    if np.issubdtype(inside.dtype, np.floating):
        bad = ~np.isfinite(inside).all(axis=1)
        if bad.any():
            raise InputError(
                f"imgs ({source}): {int(bad.sum())} of {bad.size} voxels inside the mask hold NaN/Inf in some "
                f"volumes (first at voxel index {ijk[np.argmax(bad)].tolist()}); expected finite values: pass a "
                "mask that excludes them (e.g. mask = voxels finite in every volume)"
            )
    with warnings.catch_warnings():  # nilearn >= 0.14 warns about its own default `standardize=False`
        warnings.filterwarnings("ignore", message=".*standardize.*", category=FutureWarning)
        values = masker.transform(img)
    if values.shape != (n_vol, ijk.shape[0]):
        raise ShapeError(f"masker output: received {describe(values)}; expected ({n_vol}, {ijk.shape[0]})")

    xyz = nib.affines.apply_affine(img.affine, ijk)
    coords: dict[str, Any] = {"xyz": xyz, "subject": subject}
    if atlas is not None:
        labels = _atlas_values(atlas, masker.mask_img_, resample_atlas, source)[mask_bool]
        if not (labels != 0).any():
            raise InputError(
                f"atlas ({_label(atlas)}): no labelled voxel inside the mask; expected the atlas to overlap the data"
            )
        coords["roi"] = _atlas_names(labels, atlas_labels)
    meta = {"source": source, **dict(attrs or {})}
    if len(set(ids)) < len(ids):
        out = stack_repeats(values, ids, attrs=meta, **coords)
    else:
        out = make_responses(values, ids, attrs=meta, **coords)
    return out.assign_coords(i=("voxel", ijk[:, 0]), j=("voxel", ijk[:, 1]), k=("voxel", ijk[:, 2]))
