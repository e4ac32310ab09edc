"""Single-trial betas of the Natural Scenes Dataset (NSD, Allen et al. 2022) in its release layout.

Reads ``nsddata_betas/ppdata/subjNN/<space>/<preparation>/`` session files and the experimental design
``nsddata/experiments/nsd/nsd_expdesign.mat``, and labels every trial with the NSD image it showed:
``stimulus_id = f"nsd-{id73k:05d}"`` with the **1-based** 73k image id (the numbering of
``subjectim`` in the design file; ``nsd-00001`` is the first of the 73,000 images).

Spaces and files:

* volumes ``func1pt8mm`` / ``func1mm``: ``betas_sessionSS.hdf5`` (int16 x 300; written from MATLAB,
  so h5py reads the dataset ``betas`` as ``(trial, z, y, x)`` with chunks ``(750, 1, 1, 1)``) or
  ``betas_sessionSS.nii.gz`` (int16 x 300, ``(x, y, z, trial)``). Both give the same voxels in the
  same order (C order of the NIfTI indices ``i, j, k``); HDF5 files are read along their chunks,
  only where the mask selects voxels;
* surfaces ``fsaverage`` (``{lh,rh}.betas_sessionSS.mgh``, float32 percent signal change,
  ``(163842, 1, 1, 750)``) and ``nativesurface`` (``{lh,rh}.betas_sessionSS.hdf5``, int16 x 300,
  h5py ``(trial, vertex)``).

Integer files are divided by 300; floating-point files are percent signal change already and are
never rescaled.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._docs import fill_doc
from .._progress import progress_bar
from .._validation import describe
from ..errors import InputError, ShapeError
from . import _nsd_files as files_
from . import _nsd_rois as rois_
from .responses import stack_repeats

__all__ = ["load_nsd_betas", "nsd_subject", "NSD_TRIALS_PER_SESSION"]

#: Trials in one NSD scan session (12 runs of 62 or 63 trials).
NSD_TRIALS_PER_SESSION = 750
_N_SESSIONS = 40
_VOLUMES = ("func1pt8mm", "func1mm")
_SURFACES = ("fsaverage", "nativesurface")
_PREPARATIONS = ("betas_fithrf_GLMdenoise_RR", "betas_fithrf", "betas_assumehrf")
_FORMATS = {"func1pt8mm": ("hdf5", "nifti"), "func1mm": ("hdf5", "nifti"), "fsaverage": ("hdf5", "mgh"),
            "nativesurface": ("hdf5", "mgh")}
_SUFFIX = {"hdf5": ".hdf5", "nifti": ".nii.gz", "mgh": ".mgh"}


def nsd_subject(subject: Any) -> int:
    """Parse an NSD subject given as ``1``..``8`` or ``"subj01"``..``"subj08"``.

    Examples
    --------
    >>> nsd_subject("subj03"), nsd_subject(3)
    (3, 3)
    """
    value = None
    if isinstance(subject, (int, np.integer)) and not isinstance(subject, bool):
        value = int(subject)
    elif isinstance(subject, str) and subject.lower().startswith("subj") and subject[4:].isdigit():
        value = int(subject[4:])
    if value is None or not 1 <= value <= 8:
        raise InputError(f"subject: received {subject!r}; expected an NSD subject 1..8 or 'subj01'..'subj08'")
    return value


def _sessions(sessions: Any) -> list[int]:
    if isinstance(sessions, (int, np.integer)):
        items = [sessions]
    else:
        items = list(sessions) if isinstance(sessions, Iterable) and not isinstance(sessions, str) else None
    if not items or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in items):
        raise InputError(f"sessions: received {sessions!r}; expected a session number 1..40 or a list of them")
    out = [int(s) for s in items]
    bad = [s for s in out if not 1 <= s <= _N_SESSIONS]
    if bad:
        raise InputError(f"sessions: received {bad}; expected NSD session numbers 1..{_N_SESSIONS} (1-based)")
    if len(set(out)) != len(out):
        raise InputError(f"sessions: received duplicates in {out}; expected each session once")
    return out


def _load_design(root: Path, subj: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    path = root / "nsddata" / "experiments" / "nsd" / "nsd_expdesign.mat"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: NSD experimental design not found; expected nsd_expdesign.mat (variables masterordering "
            "and subjectim) under root/nsddata/experiments/nsd/"
        )
    mat = loadmat(path, variable_names=["masterordering", "subjectim"])
    for key in ("masterordering", "subjectim"):
        if key not in mat:
            raise InputError(f"{path}: holds no variable {key!r}; expected masterordering (1x30000) and subjectim (8x10000)")
    order = np.asarray(mat["masterordering"]).reshape(-1).astype(np.int64)
    subjectim = np.asarray(mat["subjectim"]).astype(np.int64)
    if subjectim.ndim != 2 or subjectim.shape[0] < subj:
        raise ShapeError(f"{path}: subjectim is {describe(subjectim)}; expected (8, 10000) with a row for subject {subj}")
    if order.min() < 1 or order.max() > subjectim.shape[1]:
        raise InputError(
            f"{path}: masterordering holds values in [{order.min()}, {order.max()}]; expected 1-based indices "
            f"1..{subjectim.shape[1]} into the subject's images"
        )
    return order, subjectim[subj - 1]


def _session_files(betas_dir: Path, session: int, space: str, fmt: str) -> tuple[list[Path], str]:
    """The session's file (volumes) or its two hemisphere files (surfaces), and their format."""
    kinds = _FORMATS[space] if fmt == "auto" else (fmt,)
    prefixes = [""] if space in _VOLUMES else [f"{h}." for h, _ in rois_.HEMIS]
    for kind in kinds:
        paths = [betas_dir / f"{pre}betas_session{session:02d}{_SUFFIX[kind]}" for pre in prefixes]
        if all(p.is_file() for p in paths):
            return paths, kind
    looked = [str(betas_dir / f"{pre}betas_session{session:02d}{_SUFFIX[k]}") for k in kinds for pre in prefixes]
    raise FileNotFoundError(
        f"session {session}: looked for {' and '.join(looked)} and found no complete set; expected the NSD "
        f"betas of that session (space={space!r}, format={fmt!r})"
    )


def _keep_and_roi(mask, roi, load, what_shape):
    """Resolve mask/roi with ``load(spec, what)`` into (selection or None, roi values or None, sources)."""
    sel, srcs, roi_values = None, {}, None
    if mask is not None:
        mdata, srcs["mask"] = load(mask, "mask")
        sel = np.nan_to_num(mdata.astype(float)) > 0
    if roi is not None:
        rdata, srcs["roi"] = load(roi, "roi")
        if sel is not None and rdata.shape != sel.shape:
            raise ShapeError(f"roi ({srcs['roi']}): shape {rdata.shape} differs from mask ({srcs['mask']}) {sel.shape}")
        roi_values = np.round(np.nan_to_num(rdata.astype(float), nan=-1)).astype(np.int64)
        if sel is None:
            sel = roi_values > 0
    if sel is not None and not sel.any():
        source = srcs.get("mask") or srcs.get("roi")
        raise InputError(f"mask/roi: no {what_shape} > 0 in {source}; expected at least one {what_shape} to keep")
    return sel, roi_values, srcs


def _read_volumes(found, subj_dir, space, mask, roi, block_size, sessions_bar):
    affines = []

    def load(spec, what):
        data, affine, src = rois_.volume(spec, subj_dir, space, what)
        affines.append(affine)
        return data, src

    sel, roi_values, srcs = _keep_and_roi(mask, roi, load, "voxel")
    blocks, notes, shape = [], set(), None
    for (path,), kind in sessions_bar(found):
        values, note, vol_shape, affine = files_.read_volume(path, kind, sel, block_size, NSD_TRIALS_PER_SESSION)
        if shape is not None and vol_shape != shape:
            raise ShapeError(f"{path}: volume of shape {vol_shape}; expected {shape} like the first session")
        shape = vol_shape
        if not blocks:
            affines.insert(0, affine)  # a NIfTI session's own affine comes first
        blocks.append(values)
        notes.add(note)
    sel = np.ones(shape, bool) if sel is None else sel
    ijk = np.argwhere(sel)
    coords: dict[str, Any] = {}
    affine = next((a for a in affines if a is not None), None)
    brainmask = subj_dir / space / "brainmask.nii.gz"
    if affine is None and brainmask.is_file():
        import nibabel as nib

        affine = nib.load(os.fspath(brainmask)).affine
    if affine is not None:
        coords["xyz"] = ijk @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
    index = {"i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2]}
    return blocks, notes, coords, index, None if roi_values is None else roi_values[sel], srcs


def _read_surfaces(found, label_dir, mask, roi, block_size, sessions_bar):
    first, first_kind = found[0]
    sizes = {h: files_.surface_size(p, first_kind, NSD_TRIALS_PER_SESSION) for (h, _), p in zip(rois_.HEMIS, first)}
    sel, roi_values, srcs = _keep_and_roi(mask, roi, lambda spec, what: rois_.surface(spec, label_dir, sizes, what),
                                          "vertex")
    bounds = np.cumsum([0, sizes["lh"], sizes["rh"]])
    keep = {h: (np.arange(sizes[h]) if sel is None else np.flatnonzero(sel[bounds[n]:bounds[n + 1]]))
            for n, (h, _) in enumerate(rois_.HEMIS)}
    blocks, notes = [], set()
    for pair, kind in sessions_bar(found):
        parts = []
        for (h, _), path in zip(rois_.HEMIS, pair):
            n = files_.surface_size(path, kind, NSD_TRIALS_PER_SESSION)
            if n != sizes[h]:
                raise ShapeError(f"{path}: holds {n} vertices; expected {sizes[h]} like the first session")
            if keep[h].size:  # a hemisphere without selected vertices is not read
                values, note = files_.read_surface(path, kind, keep[h], block_size)
                parts.append(values)
                notes.add(note)
        blocks.append(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])
    index = {"hemi": np.concatenate([np.full(keep[h].size, name) for h, name in rois_.HEMIS]),
             "vertex": np.concatenate([keep[h] for h, _ in rois_.HEMIS])}
    flat = np.concatenate([keep["lh"], keep["rh"] + sizes["lh"]])
    return blocks, notes, {}, index, None if roi_values is None else roi_values[flat], srcs


@fill_doc
def load_nsd_betas(
    root: str | os.PathLike,
    subject: Any,
    sessions: Any,
    space: str = "func1pt8mm",
    preparation: str = "betas_fithrf_GLMdenoise_RR",
    mask: Any = None,
    roi: Any = None,
    format: str = "auto",
    *,
    progress: bool | None = None,
    block_size: int = 50,
    drop_nonfinite: bool = False,
) -> xr.DataArray:
    """Read NSD single-trial betas of some sessions as ``("repeat", "stimulus", "voxel")``.

    Parameters
    ----------
    root : str or path
        The NSD root (holding ``nsddata/`` and ``nsddata_betas/``).
    subject : int or str
        ``1``..``8`` or ``"subj01"``..``"subj08"``.
    sessions : int or sequence of int
        1-based NSD session numbers (1..40); session ``s`` holds global trials
        ``(s - 1) * 750 .. s * 750 - 1``.
    space : {"func1pt8mm", "func1mm", "fsaverage", "nativesurface"}
        Volume or surface preparation.
    preparation : {"betas_fithrf_GLMdenoise_RR", "betas_fithrf", "betas_assumehrf"}
        GLM version.
    mask : str, path or array, optional
        Voxels/vertices to keep (values > 0). Volumes: a NIfTI path, a 3-D array on the betas' grid,
        or the name of a file of ``nsddata/ppdata/subjNN/<space>/roi/`` (``"nsdgeneral"``,
        ``"lh.nsdgeneral"``; ``"brainmask"`` is found one folder up). Surfaces: a name read from
        ``nsddata/freesurfer/<subjNN or fsaverage>/label/{lh,rh}.<name>.mgz`` (``"lh.<name>"``: that
        hemisphere only), a path to such a ``lh.``/``rh.`` file, or a 1-D array over the left then
        right vertices. Default: every voxel (about 700,000 at 1.8 mm) unless ``roi`` is given.
    roi : str, path or array, optional
        An integer ROI map (same forms as ``mask``, e.g. ``"prf-visualrois"`` or
        ``"lh.prf-visualrois"``) giving the ``roi`` coordinate; its names come from
        ``nsddata/freesurfer/subjNN/label/<name>.mgz.ctab`` (else ``freesurfer/fsaverage/label``; the
        table of ``lh.<name>`` is that of ``<name>``), else the integers as strings. Values <= 0 are
        ``"unlabelled"``. Without ``mask``, only voxels with ``roi > 0`` are kept.
    format : {"auto", "hdf5", "nifti", "mgh"}
        File to read: ``.hdf5`` or ``.nii.gz`` for volumes, ``.hdf5`` or ``.mgh`` for surfaces;
        ``auto`` takes the first present in that order.
    %(progress)s
        The bar runs over sessions.
    block_size : int
        Trials read at once from HDF5 files whose chunks do not hold all trials of a voxel (or that
        are not chunked); NSD's own files are read along their chunks, every trial at once.
    drop_nonfinite : bool
        Drop voxels/vertices holding NaN/Inf in any loaded trial (floating-point files only) instead
        of raising an error.

    Returns
    -------
    xarray.DataArray
        ``("repeat", "stimulus", "voxel")`` in percent signal change (integer files divided by 300,
        float files as stored; ``attrs["stored"]`` says which); the k-th showing of an image in the
        loaded sessions is ``repeat=k`` (NaN where an image was shown fewer times). Stimuli in order
        of first showing; ``stimulus_id = "nsd-%05d" % id73k`` (1-based 73k id). Volumes: voxel
        coordinates ``i``, ``j``, ``k`` (NIfTI indices) and ``x``, ``y``, ``z`` (mm, when an affine
        is known from a NIfTI file). Surfaces: ``hemi`` and ``vertex``. Both: ``subject`` and
        optionally ``roi``.

    Raises
    ------
    FileNotFoundError
        A missing session, design or ROI file (the message gives the paths looked for).
    ShapeError
        A session file that does not hold 750 trials, a mask/ROI on another grid or mesh.
    InputError
        A bad subject, session, space, preparation or format; NaN/Inf betas without ``drop_nonfinite``.

    Examples
    --------
    >>> r = load_nsd_betas("/data/nsd", "subj01", [1, 2], mask="nsdgeneral", roi="lh.prf-visualrois")  # doctest: +SKIP
    >>> r.dims  # doctest: +SKIP
    ('repeat', 'stimulus', 'voxel')
    >>> from neuroperception.errors import InputError
    >>> try:
    ...     load_nsd_betas("/data/nsd", 9, 1)
    ... except InputError as err:
    ...     print(err)
    subject: received 9; expected an NSD subject 1..8 or 'subj01'..'subj08'
    """
    subj = nsd_subject(subject)
    sess = _sessions(sessions)
    if space not in _FORMATS:
        raise InputError(f"space: received {space!r}; expected one of {_VOLUMES + _SURFACES}")
    if preparation not in _PREPARATIONS:
        raise InputError(f"preparation: received {preparation!r}; expected one of {_PREPARATIONS}")
    if format != "auto" and format not in _FORMATS[space]:
        raise InputError(
            f"format: received {format!r}; expected 'auto' or one of {_FORMATS[space]} for space={space!r}"
        )
    if not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise InputError(f"block_size: received {block_size!r}; expected a positive int")
    root = Path(root)
    name = f"subj{subj:02d}"
    betas_dir = root / "nsddata_betas" / "ppdata" / name / space / preparation
    order, images = _load_design(root, subj)
    if max(sess) * NSD_TRIALS_PER_SESSION > order.size:
        raise InputError(
            f"sessions: received {max(sess)}, but the design's masterordering holds {order.size} trials "
            f"({order.size // NSD_TRIALS_PER_SESSION} sessions)"
        )
    found = [_session_files(betas_dir, s, space, format) for s in sess]  # fail early on a missing session

    def sessions_bar(items):
        return progress_bar(items, progress, desc=f"NSD {name} sessions")

    freesurfer = root / "nsddata" / "freesurfer"
    if space in _VOLUMES:
        blocks, notes, coords, index, roi_values, srcs = _read_volumes(
            found, root / "nsddata" / "ppdata" / name, space, mask, roi, block_size, sessions_bar)
    else:
        label_dir = freesurfer / (name if space == "nativesurface" else "fsaverage") / "label"
        blocks, notes, coords, index, roi_values, srcs = _read_surfaces(
            found, label_dir, mask, roi, block_size, sessions_bar)
    trials = np.concatenate(blocks, axis=0)
    del blocks
    bad = ~np.isfinite(trials).all(axis=0)
    if bad.any():
        if not drop_nonfinite:
            first = ", ".join(f"{k}={v[np.argmax(bad)]}" for k, v in index.items())
            raise InputError(
                f"{betas_dir}: {int(bad.sum())} of {bad.size} voxels hold NaN/Inf in some trials (first at "
                f"{first}); expected finite betas: pass drop_nonfinite=True to drop them, or a mask that "
                "excludes them"
            )
        good = ~bad
        trials, index = trials[:, good], {k: v[good] for k, v in index.items()}
        coords = {k: v[good] for k, v in coords.items()}
        roi_values = None if roi_values is None else roi_values[good]
    if roi_values is not None:
        table, ctab = rois_.colour_table(roi, [freesurfer / name / "label", freesurfer / "fsaverage" / "label"])
        missing = sorted({int(v) for v in np.unique(roi_values) if v > 0} - set(table)) if table else []
        if missing:
            raise InputError(f"roi: labels {missing[:10]} have no name in {ctab}; expected every label in the table")
        names = {int(v): (table or {}).get(int(v), str(int(v))) if v > 0 else "unlabelled"
                 for v in np.unique(roi_values)}
        coords["roi"] = np.array([names[int(v)] for v in roi_values], dtype=str)
    trial_ids = []
    for s in sess:
        glob = (s - 1) * NSD_TRIALS_PER_SESSION + np.arange(NSD_TRIALS_PER_SESSION)
        trial_ids.extend(f"nsd-{int(i):05d}" for i in images[order[glob] - 1])
    attrs = {
        "source": str(betas_dir),
        "dataset": "NSD",
        "subject": name,
        "sessions": ", ".join(str(s) for s in sess),
        "space": space,
        "preparation": preparation,
        "units": "percent signal change",
        "stored": "; ".join(sorted(notes)),
        "stimulus_id_convention": "nsd-%05d of the 1-based 73k NSD image id",
        **{f"{k}_source": v for k, v in srcs.items()},
    }
    out = stack_repeats(trials, trial_ids, attrs=attrs, subject=name, **coords)
    return out.assign_coords({k: ("voxel", v) for k, v in index.items()})
