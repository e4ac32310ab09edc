"""Single-trial betas of the Natural Scenes Dataset (NSD, Allen et al. 2022) in its release layout.

Reads ``nsddata_betas/ppdata/subjNN/<space>/<preparation>/betas_sessionSS.{hdf5,nii.gz}`` and the
experimental design ``nsddata/experiments/nsd/nsd_expdesign.mat``, and labels every trial with the
NSD image it showed: ``stimulus_id = f"nsd-{id73k:05d}"`` with the **1-based** 73k image id (the
numbering of ``subjectim`` in the design file; ``nsd-00001`` is the first of the 73,000 images).

Axis order: the HDF5 files were written from MATLAB (column-major), so h5py reads the dataset
``betas`` as ``(trial, z, y, x)``, the reverse of the NIfTI files' ``(x, y, z, trial)``. This module
transposes the HDF5 blocks to ``(trial, x, y, z)`` before masking, so both formats give the same
voxels in the same order (C order of the NIfTI indices ``i, j, k``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import describe
from ..errors import InputError, ShapeError
from .responses import stack_repeats

__all__ = ["load_nsd_betas", "nsd_subject", "NSD_TRIALS_PER_SESSION"]

#: Trials in one NSD scan session (12 runs of 62 or 63 trials).
NSD_TRIALS_PER_SESSION = 750
_N_SESSIONS = 40
_SPACES = ("func1pt8mm", "func1mm")
_PREPARATIONS = ("betas_assumehrf", "betas_fithrf", "betas_fithrf_GLMdenoise_RR")
_SCALE = 300.0  # betas are stored as int16 percent signal change x 300


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


def _read_ctab(path: Path) -> dict[int, str]:
    table = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].lstrip("-").isdigit():
            table[int(parts[0])] = parts[1]
    if not table:
        raise InputError(f"{path}: no 'index name' lines found; expected a colour table such as '1 V1v'")
    return table


def _volume(spec: Any, subj_dir: Path, space: str, what: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Resolve a mask/ROI given as an array, a path, or the name of an NSD ROI file."""
    if isinstance(spec, np.ndarray):
        return spec, None, f"in-memory {what} array"
    if not isinstance(spec, (str, os.PathLike)):
        raise InputError(f"{what}: received {describe(spec)}; expected a path, an NSD ROI name or a 3-D array")
    path = Path(spec)
    candidates = [path] if path.suffix or os.sep in str(spec) else [
        subj_dir / space / "roi" / f"{spec}.nii.gz",
        subj_dir / space / f"{spec}.nii.gz",
    ]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"{what}: received {str(spec)!r}; looked for {', '.join(str(p) for p in candidates)} and found no file"
        )
    import nibabel as nib

    img = nib.load(os.fspath(found))
    data = np.asarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    return data, img.affine, str(found)


def _session_file(betas_dir: Path, session: int, fmt: str) -> tuple[Path, str]:
    h5 = betas_dir / f"betas_session{session:02d}.hdf5"
    nii = betas_dir / f"betas_session{session:02d}.nii.gz"
    options = {"hdf5": [h5], "nifti": [nii], "auto": [h5, nii]}[fmt]
    for path in options:
        if path.is_file():
            return path, "hdf5" if path.suffix == ".hdf5" else "nifti"
    raise FileNotFoundError(
        f"session {session}: looked for {' and '.join(str(p) for p in options)} and found no file; expected the "
        f"NSD betas of that session (format={fmt!r})"
    )


def _read_session(path: Path, kind: str, mask: np.ndarray | None, block: int):
    """Return ``(trials x voxels float32, volume shape, affine or None)`` of one session file."""
    if kind == "hdf5":
        import h5py

        with h5py.File(path, "r") as f:
            if "betas" not in f:
                raise InputError(f"{path}: holds {list(f.keys())}; expected a dataset 'betas'")
            ds = f["betas"]
            if ds.ndim != 4:
                raise ShapeError(f"{path}: dataset 'betas' has shape {ds.shape}; expected (trial, z, y, x)")
            n_trials, shape = ds.shape[0], tuple(ds.shape[1:][::-1])
            _check_trials(path, n_trials)
            sel = _mask_for(mask, shape, path)
            out = np.empty((n_trials, int(sel.sum())), np.float32)
            for t0 in range(0, n_trials, block):
                chunk = ds[t0:t0 + block].transpose(0, 3, 2, 1)  # (trial, z, y, x) -> (trial, x, y, z)
                out[t0:t0 + chunk.shape[0]] = chunk[:, sel].astype(np.float32) / np.float32(_SCALE)
        return out, shape, None
    import nibabel as nib

    img = nib.load(os.fspath(path))
    if len(img.shape) != 4:
        raise ShapeError(f"{path}: image of shape {img.shape}; expected (x, y, z, trial)")
    shape = tuple(img.shape[:3])
    _check_trials(path, img.shape[3])
    sel = _mask_for(mask, shape, path)
    data = np.asanyarray(img.dataobj)
    return (data[sel].T.astype(np.float32) / np.float32(_SCALE)), shape, img.affine


def _check_trials(path: Path, n: int) -> None:
    if n != NSD_TRIALS_PER_SESSION:
        raise ShapeError(f"{path}: holds {n} trials; expected {NSD_TRIALS_PER_SESSION} per NSD session")


def _mask_for(mask: np.ndarray | None, shape: tuple[int, ...], path: Path) -> np.ndarray:
    if mask is None:
        return np.ones(shape, bool)
    if mask.shape != shape:
        raise ShapeError(f"mask/roi: received a volume of shape {mask.shape}; expected {shape}, the grid of {path}")
    return mask


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
    progress: bool = True,
    block_size: int = 50,
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
    space : {"func1pt8mm", "func1mm"}
        Volume preparation.
    preparation : {"betas_fithrf_GLMdenoise_RR", "betas_fithrf", "betas_assumehrf"}
        GLM version.
    mask : str, path or array, optional
        Voxels to keep (values > 0): a NIfTI path, a 3-D array on the betas' grid, or the name of a
        file of the subject's ROI folder ``nsddata/ppdata/subjNN/<space>/roi/<name>.nii.gz`` (e.g.
        ``"nsdgeneral"``; ``"brainmask"`` is found one folder up). Default: every voxel of the volume
        (about 700,000 at 1.8 mm) unless ``roi`` is given.
    roi : str, path or array, optional
        An integer ROI volume (same forms as ``mask``, e.g. ``"prf-visualrois"``) giving the ``roi``
        coordinate; its names come from ``nsddata/freesurfer/subjNN/label/<name>.mgz.ctab`` (or
        ``.mat.ctab``) when present, else the integers as strings. Values <= 0 are ``"unlabelled"``.
        Without ``mask``, only voxels with ``roi > 0`` are kept.
    format : {"auto", "hdf5", "nifti"}
        File to read: ``betas_sessionSS.hdf5`` or ``.nii.gz`` (``auto`` prefers HDF5).
    progress : bool
        Show a progress bar over sessions (tqdm).
    block_size : int
        Trials read at once from HDF5 files (bounds memory).

    Returns
    -------
    xarray.DataArray
        ``("repeat", "stimulus", "voxel")`` in percent signal change (stored value / 300), float;
        the k-th showing of an image in the loaded sessions is ``repeat=k`` (NaN where an image was
        shown fewer times). Stimuli in order of first showing; ``stimulus_id = "nsd-%05d" % id73k``
        (1-based 73k id). Voxel coordinates ``i``, ``j``, ``k`` (NIfTI indices), ``x``, ``y``, ``z``
        (mm, when an affine is known from a NIfTI file), ``subject`` and optionally ``roi``.

    Raises
    ------
    FileNotFoundError
        A missing session, design or ROI file (the message gives the paths looked for).
    ShapeError
        A session file that does not hold 750 trials, a mask/ROI on another grid.
    InputError
        A bad subject, session, space, preparation or format.

    Examples
    --------
    >>> r = load_nsd_betas("/data/nsd", "subj01", [1, 2], mask="nsdgeneral")  # doctest: +SKIP
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
    if space not in _SPACES:
        raise InputError(f"space: received {space!r}; expected one of {_SPACES}")
    if preparation not in _PREPARATIONS:
        raise InputError(f"preparation: received {preparation!r}; expected one of {_PREPARATIONS}")
    if format not in ("auto", "hdf5", "nifti"):
        raise InputError(f"format: received {format!r}; expected 'auto', 'hdf5' or 'nifti'")
    if not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise InputError(f"block_size: received {block_size!r}; expected a positive int")
    root = Path(root)
    name = f"subj{subj:02d}"
    subj_dir = root / "nsddata" / "ppdata" / name
    betas_dir = root / "nsddata_betas" / "ppdata" / name / space / preparation
    order, images = _load_design(root, subj)
    if max(sess) * NSD_TRIALS_PER_SESSION > order.size:
        raise InputError(
            f"sessions: received {max(sess)}, but the design's masterordering holds {order.size} trials "
            f"({order.size // NSD_TRIALS_PER_SESSION} sessions)"
        )
    files = [_session_file(betas_dir, s, format) for s in sess]  # fail early on a missing session

    affines = []
    sel = None
    mask_src = None
    if mask is not None:
        mdata, maff, mask_src = _volume(mask, subj_dir, space, "mask")
        sel = np.nan_to_num(mdata.astype(float)) > 0
        affines.append(maff)
    roi_values, roi_src, table, ctab = None, None, None, None
    if roi is not None:
        rdata, raff, roi_src = _volume(roi, subj_dir, space, "roi")
        if sel is not None and rdata.shape != sel.shape:
            raise ShapeError(f"roi ({roi_src}): shape {rdata.shape} differs from mask ({mask_src}) {sel.shape}")
        roi_values = np.round(np.nan_to_num(rdata.astype(float), nan=-1)).astype(np.int64)
        if sel is None:
            sel = roi_values > 0
        affines.append(raff)
        stem = Path(roi_src).name.split(".")[0] if not isinstance(roi, np.ndarray) else None
        ctabs = [root / "nsddata" / "freesurfer" / name / "label" / f"{stem}.{ext}.ctab" for ext in ("mgz", "mat")]
        ctab = next((p for p in ctabs if stem and p.is_file()), None)
        table = _read_ctab(ctab) if ctab is not None else None
    if sel is not None and not sel.any():
        raise InputError(f"mask/roi: no voxel > 0 in {mask_src or roi_src}; expected at least one voxel to keep")

    from tqdm.auto import tqdm

    blocks, trial_ids, shape = [], [], None
    for s, (path, kind) in zip(tqdm(sess, desc=f"NSD {name} sessions", disable=not progress), files):
        values, vol_shape, affine = _read_session(path, kind, sel, block_size)
        if shape is not None and vol_shape != shape:
            raise ShapeError(f"{path}: volume of shape {vol_shape}; expected {shape} like the first session")
        shape = vol_shape
        if not blocks:
            affines.insert(0, affine)  # a NIfTI session's own affine comes first
        blocks.append(values)
        glob = (s - 1) * NSD_TRIALS_PER_SESSION + np.arange(NSD_TRIALS_PER_SESSION)
        trial_ids.extend(f"nsd-{int(i):05d}" for i in images[order[glob] - 1])
    if sel is None:
        sel = np.ones(shape, bool)
    ijk = np.argwhere(sel)
    coords: dict[str, Any] = {"subject": name}
    affine = next((a for a in affines if a is not None), None)
    if affine is None:
        brainmask = subj_dir / space / "brainmask.nii.gz"
        if brainmask.is_file():
            import nibabel as nib

            affine = nib.load(os.fspath(brainmask)).affine
    if affine is not None:
        coords["xyz"] = ijk @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
    if roi_values is not None:
        labels = roi_values[sel]
        missing = sorted({int(v) for v in np.unique(labels) if v > 0} - set(table or {})) if table else []
        if missing:
            raise InputError(f"roi: labels {missing[:10]} have no name in {ctab}; expected every label in the table")
        names = {int(v): ((table or {}).get(int(v), str(int(v))) if v > 0 else "unlabelled") for v in np.unique(labels)}
        coords["roi"] = np.array([names[int(v)] for v in labels], dtype=str)
    attrs = {
        "source": str(betas_dir),
        "dataset": "NSD",
        "subject": name,
        "sessions": ", ".join(str(s) for s in sess),
        "space": space,
        "preparation": preparation,
        "units": "percent signal change",
        "stimulus_id_convention": "nsd-%05d of the 1-based 73k NSD image id",
    }
    trials = np.concatenate(blocks, axis=0)
    out = stack_repeats(trials, trial_ids, attrs=attrs, **coords)
    return out.assign_coords(i=("voxel", ijk[:, 0]), j=("voxel", ijk[:, 1]), k=("voxel", ijk[:, 2]))
