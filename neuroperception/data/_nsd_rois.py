"""NSD masks and ROIs given by name, by path or as arrays, on volumes and surfaces (private helpers of :mod:`.nsd`).

Release layout (NSD data manual; tknapen/nsd_access ``read_atlas_results``):

* volumes: ``nsddata/ppdata/subjNN/<space>/roi/<name>.nii.gz`` with the per-hemisphere files
  ``lh.<name>.nii.gz`` / ``rh.<name>.nii.gz`` beside the bilateral one (``brainmask.nii.gz`` one
  folder up);
* surfaces: ``nsddata/freesurfer/<subjNN or fsaverage>/label/{lh,rh}.<name>.mgz``;
* names of the integer labels: ``nsddata/freesurfer/subjNN/label/<name>.mgz.ctab`` (the same
  tables under ``freesurfer/fsaverage/label``), one ``index name`` pair per line.

A string without a folder separator and without a file extension is a name (``"nsdgeneral"``,
``"lh.prf-visualrois"``); anything else is a path. The colour table of ``lh.prf-visualrois`` (name or
file) is that of ``prf-visualrois``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import describe
from ..errors import InputError, ShapeError
from .surface import _mgh_frames, _read_ctab

HEMIS = (("lh", "left"), ("rh", "right"))
_EXTENSIONS = (".nii.gz", ".nii", ".mgz", ".mgh")


def is_name(spec: Any) -> bool:
    """True for a bare ROI name (no folder, no file extension)."""
    return (isinstance(spec, str) and "/" not in spec and os.sep not in spec
            and not spec.lower().endswith(_EXTENSIONS))


def _base(spec: Any) -> str:
    name = Path(spec).name
    for ext in _EXTENSIONS:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def hemisphere(spec: Any) -> str | None:
    """``"lh"``/``"rh"`` for a hemisphere file or name (``lh.<name>``), else None."""
    base = _base(spec)
    return base[:2] if base[:3] in ("lh.", "rh.") else None


def stem(spec: Any) -> str:
    """The ROI family of a name or file: ``lh.prf-visualrois.nii.gz`` -> ``prf-visualrois``."""
    base = _base(spec)
    return base[3:] if hemisphere(spec) else base


def volume(spec: Any, subj_dir: Path, space: str, what: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``(3-D values, affine or None, source)`` of a volume mask/ROI given as an array, a path or a name."""
    if isinstance(spec, np.ndarray):
        return spec, None, f"in-memory {what} array"
    if not isinstance(spec, (str, os.PathLike)):
        raise InputError(f"{what}: received {describe(spec)}; expected a path, an NSD ROI name or a 3-D array")
    if is_name(spec):
        candidates = [subj_dir / space / "roi" / f"{spec}.nii.gz", subj_dir / space / f"{spec}.nii.gz"]
    else:
        candidates = [Path(spec)]
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
    if data.ndim != 3:
        raise ShapeError(f"{what} ({found}): image of shape {data.shape}; expected a 3-D volume")
    return data, img.affine, str(found)


def surface(spec: Any, label_dir: Path, sizes: dict[str, int], what: str) -> tuple[np.ndarray, str]:
    """``(values over the left then right vertices, source)`` of a surface mask/ROI.

    A name reads ``label_dir/{lh,rh}.<name>.mgz`` (one hemisphere for ``lh.<name>``/``rh.<name>``,
    the other then holds zeros); a path must name a ``lh.``/``rh.`` ``.mgz``/``.mgh`` file; an array
    holds one value per vertex of both hemispheres, left first.
    """
    total = sum(sizes.values())
    if isinstance(spec, np.ndarray):
        if spec.shape != (total,):
            raise ShapeError(
                f"{what}: received {describe(spec)}; expected ({total},), one value per vertex of the left "
                f"({sizes['lh']}) then right ({sizes['rh']}) hemisphere"
            )
        return spec, f"in-memory {what} array"
    if not isinstance(spec, (str, os.PathLike)):
        raise InputError(
            f"{what}: received {describe(spec)}; expected an NSD ROI name, a lh./rh. .mgz path or a 1-D array"
        )
    only = hemisphere(spec)
    if is_name(spec):
        files = {h: label_dir / f"{h}.{stem(spec)}.mgz" for h, _ in HEMIS if only in (None, h)}
    elif only is None or not Path(spec).name.lower().endswith((".mgz", ".mgh")):
        raise InputError(
            f"{what}: received {str(spec)!r}; expected a surface file named lh.<name>.mgz or rh.<name>.mgz "
            "(or an ROI name, which reads both hemispheres)"
        )
    else:
        files = {only: Path(spec)}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{what}: received {str(spec)!r}; looked for {', '.join(missing)} and found no file")
    parts = []
    for h, _ in HEMIS:
        if h not in files:
            parts.append(np.zeros(sizes[h]))
            continue
        values = _mgh_frames(files[h], what)
        if values.shape != (1, sizes[h]):
            raise ShapeError(
                f"{what} ({files[h]}): holds {values.shape[1]} vertices x {values.shape[0]} frames; expected one "
                f"value per vertex of the {h} betas ({sizes[h]})"
            )
        parts.append(values[0])
    return np.concatenate(parts), ", ".join(str(p) for p in files.values())


def colour_table(spec: Any, label_dirs: list[Path]) -> tuple[dict[int, str] | None, Path | None]:
    """The ``{label: name}`` table of an ROI name or file (None for arrays or when no table exists)."""
    if isinstance(spec, np.ndarray):
        return None, None
    family = stem(spec)
    path = next((d / f"{family}.mgz.ctab" for d in label_dirs if (d / f"{family}.mgz.ctab").is_file()), None)
    return (_read_ctab(path), path) if path is not None else (None, None)
