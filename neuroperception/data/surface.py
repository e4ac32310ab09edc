"""Cortical-surface fMRI responses: one array per hemisphere, from GIFTI, FreeSurfer ``.mgh``/``.mgz``,
``.npy`` or memory.

The two hemispheres are concatenated on the ``voxel`` dim (left first); every vertex carries its
``hemi`` (``"left"``/``"right"``) and its ``vertex`` index within that hemisphere's mesh.

FreeSurfer's MGH format stores surface data as a volume ``(n_vertices, 1, 1, n_frames)`` (FreeSurfer's
``mri_surf2surf`` output, NSD's surface betas); label maps come as such an ``.mgz`` with integer values
(named by a colour table) or as an ``.annot`` file that carries its own names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import describe
from ..errors import InputError, ShapeError
from .responses import make_responses, stack_repeats

__all__ = ["load_surface_responses", "MESH_VERTICES"]

#: Vertices per hemisphere of FreeSurfer's fsaverage meshes (icosahedron orders 3 to 7).
MESH_VERTICES = {
    "fsaverage3": 642,
    "fsaverage4": 2562,
    "fsaverage5": 10242,
    "fsaverage6": 40962,
    "fsaverage7": 163842,
    "fsaverage": 163842,
}


def _read_gifti(path: Path):
    import nibabel as nib

    try:
        return nib.load(os.fspath(path))
    except Exception as err:  # nibabel raises several unrelated types for unreadable files
        raise InputError(f"{path}: could not be read as a GIFTI file ({err})") from err


def _as_path(src: Any, what: str) -> Path:
    path = Path(src)
    if not path.exists():
        raise FileNotFoundError(
            f"{what}: no file at {str(path)!r}; expected a GIFTI (.gii), FreeSurfer (.mgh/.mgz) or .npy file"
        )
    return path


def _is_mgh(path: Path) -> bool:
    return path.name.lower().endswith((".mgh", ".mgz"))


def _mgh_header(path: Path, what: str) -> tuple[Any, int, int]:
    """The MGH image, its vertex count and its number of frames; checks the ``(V, 1, 1[, T])`` layout."""
    import nibabel as nib

    try:
        img = nib.load(os.fspath(path))
    except Exception as err:  # nibabel raises several unrelated types for unreadable files
        raise InputError(f"{what}: {str(path)!r} could not be read as a FreeSurfer MGH file ({err})") from err
    shape = tuple(int(n) for n in img.shape)
    if len(shape) not in (3, 4) or shape[1:3] != (1, 1):
        raise ShapeError(
            f"{what} ({path}): MGH volume of shape {shape}; expected surface data (n_vertices, 1, 1, n_frames)"
        )
    return img, shape[0], shape[3] if len(shape) == 4 else 1


def _mgh_frames(path: Path, what: str, keep: np.ndarray | None = None) -> np.ndarray:
    """``(frames, vertices)`` of an MGH/MGZ surface file in its stored dtype (native byte order).

    ``keep`` (sorted vertex indices) reads only the range they span: the file stores each frame's
    vertices contiguously, so an uncompressed ``.mgh`` is read frame by frame over that range only.
    """
    img, n_vertices, n_frames = _mgh_header(path, what)
    lo, hi = (0, n_vertices) if keep is None or keep.size == 0 else (int(keep[0]), int(keep[-1]) + 1)
    block = np.asarray(img.dataobj[lo:hi]).reshape(hi - lo, n_frames)
    if keep is not None:
        block = block[keep - lo]
    return block.T.astype(block.dtype.newbyteorder("="), copy=False)


def _read_ctab(path: Path) -> dict[int, str]:
    """``{index: name}`` from a colour table: FreeSurfer LUT lines ``index name R G B A`` or NSD's ``index name``.

    Blank lines, ``#`` comments and trailing whitespace (tabs included) are ignored.
    """
    table = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].lstrip("-").isdigit():
            table[int(parts[0])] = parts[1]
    if not table:
        raise InputError(f"{path}: no 'index name' lines found; expected a colour table such as '1 V1v'")
    return table


def _gifti_matrix(path: Path, n_ids: int, what: str) -> np.ndarray:
    """Trials x vertices from a GIFTI file: one data array per trial, or one 2-D array."""
    gii = _read_gifti(path)
    arrays = [np.asarray(d.data) for d in gii.darrays]
    if not arrays:
        raise ShapeError(f"{what} ({path}): holds no data array; expected one per trial or one 2-D array")
    if len(arrays) == 1 and arrays[0].ndim == 2:
        mat = arrays[0]
        if mat.shape[0] == n_ids and mat.shape[1] != n_ids:
            return mat
        if mat.shape[1] == n_ids and mat.shape[0] != n_ids:
            return mat.T  # stored vertex-major, as time series often are
        raise ShapeError(
            f"{what} ({path}): holds one array of shape {mat.shape}; expected one axis of length "
            f"{n_ids} (the number of stimulus ids) and the other the number of vertices"
        )
    flat = [a.reshape(-1) if a.ndim == 2 and 1 in a.shape else a for a in arrays]
    shapes = {a.shape for a in flat}
    if any(a.ndim != 1 for a in flat) or len(shapes) != 1:
        raise ShapeError(
            f"{what} ({path}): holds {len(arrays)} data arrays of shapes {sorted(shapes)[:4]}; expected one "
            "1-D array (n_vertices,) per trial"
        )
    return np.stack(flat)


def _read_hemi(src: Any, n_ids: int, what: str) -> tuple[np.ndarray, str]:
    if isinstance(src, (str, os.PathLike)):
        path = _as_path(src, what)
        name = path.name.lower()
        if name.endswith(".npy"):
            mat, source = np.load(path, allow_pickle=False), str(path)
        elif name.endswith(".gii"):
            mat, source = _gifti_matrix(path, n_ids, what), str(path)
        elif _is_mgh(path):
            mat, source = _mgh_frames(path, what), str(path)
        else:
            raise InputError(f"{what}: received {str(path)!r}; expected a .gii/.func.gii, .mgh/.mgz or .npy file")
    elif isinstance(src, np.ndarray):
        mat, source = src, f"in-memory {what} array"
    else:
        raise InputError(
            f"{what}: received {describe(src)}; expected a GIFTI path, a .npy path or an array (n_stimuli, n_vertices)"
        )
    mat = np.asarray(mat)
    if mat.ndim != 2:
        raise ShapeError(f"{what} ({source}): received {describe(mat)}; expected (n_stimuli, n_vertices)")
    if not np.issubdtype(mat.dtype, np.number) or np.issubdtype(mat.dtype, np.complexfloating):
        raise InputError(f"{what} ({source}): received dtype {mat.dtype}; expected real numbers")
    return mat, source


def _label_names(values: np.ndarray, table: Mapping[int, str] | None) -> np.ndarray:
    if values.dtype.kind in "US":
        return values.astype(str)
    if values.dtype.kind == "f":
        if not np.allclose(values, np.round(values)):
            raise InputError(f"roi: received non-integer labels ({describe(values)}); expected integer labels or names")
    ints = np.round(values).astype(np.int64)
    if table is None:
        return ints.astype(str)
    missing = sorted({int(v) for v in np.unique(ints)} - set(table))
    if missing:
        raise InputError(f"roi_labels: no name for labels {missing[:10]}; expected a name for every label value")
    return np.array([table[int(v)] for v in ints], dtype=str)


def _label_table(roi_labels: Any) -> dict[int, str] | None:
    if roi_labels is None:
        return None
    if isinstance(roi_labels, (str, os.PathLike)):
        return _read_ctab(_as_path(roi_labels, "roi_labels"))
    if isinstance(roi_labels, Mapping):
        return {int(k): str(v) for k, v in roi_labels.items()}
    if isinstance(roi_labels, Sequence) and not isinstance(roi_labels, str):
        return {k: str(v) for k, v in enumerate(roi_labels)}
    raise InputError(
        f"roi_labels: received {type(roi_labels).__name__}; expected a dict {{int: name}}, a list or a "
        "colour-table path"
    )


def _read_roi(src: Any, n_vertices: int, roi_labels: Any, what: str) -> np.ndarray:
    table = _label_table(roi_labels)
    if isinstance(src, (str, os.PathLike)):
        path = _as_path(src, what)
        if path.name.lower().endswith(".npy"):
            values = np.load(path, allow_pickle=False)
        elif path.name.lower().endswith(".gii"):
            gii = _read_gifti(path)
            if len(gii.darrays) != 1:
                raise ShapeError(f"{what} ({path}): holds {len(gii.darrays)} data arrays; expected one label array")
            values = np.asarray(gii.darrays[0].data).reshape(-1)
            if table is None and gii.labeltable is not None and gii.labeltable.labels:
                table = {int(k): str(v) for k, v in gii.labeltable.get_labels_as_dict().items()}
        elif _is_mgh(path):
            values = _mgh_frames(path, what)
            if values.shape[0] != 1:
                raise ShapeError(f"{what} ({path}): holds {values.shape[0]} frames; expected one label per vertex")
            values = values[0]
        elif path.name.lower().endswith(".annot"):
            from nibabel.freesurfer import read_annot

            values, _, names = read_annot(os.fspath(path))
            if table is None:
                table = {k: (n.decode() if isinstance(n, bytes) else str(n)) for k, n in enumerate(names)}
                table.setdefault(-1, "unknown")  # vertices outside every label of the annotation
        else:
            raise InputError(f"{what}: received {str(path)!r}; expected a .label.gii/.gii, .mgz, .annot or .npy file")
    else:
        values = np.asarray(src)
    if values.shape != (n_vertices,):
        raise ShapeError(f"{what}: received {describe(values)}; expected one label per vertex ({n_vertices},)")
    return _label_names(values, table)


def load_surface_responses(
    left: Any,
    right: Any,
    stimulus_id: Sequence[str],
    *,
    roi_left: Any = None,
    roi_right: Any = None,
    roi_labels: Any = None,
    mesh: str | None = None,
    drop_nonfinite: bool = False,
    subject: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Read per-hemisphere surface responses into one labelled array.

    Parameters
    ----------
    left, right : str, path, numpy.ndarray or None
        Each hemisphere as a GIFTI file (``.func.gii``/``.gii``: one data array per trial, or one
        2-D array in either orientation), a FreeSurfer ``.mgh``/``.mgz`` file (``(n_vertices, 1, 1,
        n_trials)``, one frame per trial), a ``.npy`` file, or an array ``(n_stimuli, n_vertices)``.
        One of them may be None to read a single hemisphere.
    stimulus_id : sequence of str
        The stimulus of each row, shared by both hemispheres. Repeated ids are stacked on a
        ``repeat`` dim with :func:`~neuroperception.data.stack_repeats`.
    roi_left, roi_right : str, path or array-like, optional
        One label per vertex: integer or string arrays, ``.npy`` files, GIFTI label files
        (``.label.gii``) whose label table names the integers, FreeSurfer ``.mgz`` label maps, or
        FreeSurfer ``.annot`` files (named by their own colour table; ``-1`` is ``"unknown"``).
    roi_labels : dict, list, str or path, optional
        Names of integer labels: ``{int: name}``, a list with the name of label ``i`` at position
        ``i``, or a colour-table file (``index name [R G B A]`` lines: a FreeSurfer LUT or NSD's
        ``<roi>.mgz.ctab``); overrides a GIFTI/annot table. Without any table, integers are used as
        strings.
    mesh : str, optional
        ``"fsaverage5"`` etc. (see :data:`MESH_VERTICES`): checks each hemisphere's vertex count.
    drop_nonfinite : bool
        Drop vertices holding NaN/Inf for any stimulus (their ``vertex`` index shows which were kept)
        instead of raising an error.
    subject : str, optional
        Stored as the ``subject`` coordinate.
    attrs : mapping, optional
        Extra provenance stored on the array.

    Returns
    -------
    xarray.DataArray
        ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")``; left-hemisphere vertices
        first, with coordinates ``hemi``, ``vertex`` and optionally ``roi``/``subject``.

    Raises
    ------
    ShapeError
        Hemispheres with different numbers of stimuli, a number of rows different from the number
        of ids, vertex counts that do not match ``mesh``, ROI arrays of the wrong length.
    InputError
        NaN/Inf values (unless ``drop_nonfinite``), unreadable files, labels without a name.

    Examples
    --------
    >>> import numpy as np
    >>> lh, rh = np.zeros((3, 10242)), np.ones((3, 10242))
    >>> r = load_surface_responses(lh, rh, ["a", "b", "c"], mesh="fsaverage5")
    >>> r.sizes["voxel"], r["hemi"].values[[0, -1]].tolist(), int(r["vertex"][-1])
    (20484, ['left', 'right'], 10241)
    """
    if left is None and right is None:
        raise InputError("left, right: received None for both hemispheres; expected at least one")
    if mesh is not None and mesh not in MESH_VERTICES:
        raise InputError(f"mesh: received {mesh!r}; expected one of {sorted(MESH_VERTICES)}")
    ids = [str(i) for i in (stimulus_id.tolist() if hasattr(stimulus_id, "tolist") else stimulus_id)]
    hemis = []
    for hemi, src, roi in (("left", left, roi_left), ("right", right, roi_right)):
        if src is None:
            if roi is not None:
                raise InputError(f"roi_{hemi}: given while the {hemi} hemisphere is None; expected both or neither")
            continue
        mat, source = _read_hemi(src, len(ids), hemi)
        hemis.append((hemi, mat, source, roi))
    if len(hemis) == 2 and hemis[0][1].shape[0] != hemis[1][1].shape[0]:
        raise ShapeError(
            f"left ({hemis[0][2]}) holds {hemis[0][1].shape[0]} stimuli but right ({hemis[1][2]}) holds "
            f"{hemis[1][1].shape[0]}; expected the same stimuli in both hemispheres"
        )
    blocks, hemi_c, vertex_c, roi_c = [], [], [], []
    for hemi, mat, source, roi in hemis:
        if mat.shape[0] != len(ids):
            raise ShapeError(
                f"{hemi} ({source}): holds {mat.shape[0]} stimuli but received {len(ids)} stimulus ids; "
                "expected one id per row"
            )
        if mesh is not None and mat.shape[1] != MESH_VERTICES[mesh]:
            raise ShapeError(
                f"{hemi} ({source}): holds {mat.shape[1]} vertices; expected {MESH_VERTICES[mesh]} for mesh={mesh!r}"
            )
        keep = np.arange(mat.shape[1])
        bad = ~np.isfinite(mat).all(axis=0)
        if bad.any():
            if not drop_nonfinite:
                raise InputError(
                    f"{hemi} ({source}): {int(bad.sum())} of {bad.size} vertices hold NaN/Inf (first: "
                    f"{np.flatnonzero(bad)[:5].tolist()}); expected finite values: pass drop_nonfinite=True to "
                    "drop them, or mask them out first"
                )
            keep = np.flatnonzero(~bad)
        blocks.append(mat[:, keep].astype(np.float64))
        hemi_c.append(np.full(keep.size, hemi))
        vertex_c.append(keep)
        if roi is not None:
            roi_c.append(_read_roi(roi, mat.shape[1], roi_labels, f"roi_{hemi}")[keep])
    if roi_c and len(roi_c) != len(hemis):
        raise InputError("roi_left, roi_right: received a roi for one hemisphere only; expected both or neither")
    values = np.concatenate(blocks, axis=1)
    coords: dict[str, Any] = {
        "hemi": np.concatenate(hemi_c),
        "vertex": np.concatenate(vertex_c),
        "subject": subject,
        "roi": np.concatenate(roi_c) if roi_c else None,
        "attrs": {"source": "; ".join(h[2] for h in hemis), **({"mesh": mesh} if mesh else {}), **dict(attrs or {})},
    }
    if len(set(ids)) < len(ids):
        return stack_repeats(values, ids, **coords)
    return make_responses(values, ids, **coords)
