"""The Algonauts 2023 challenge data (NSD responses on fsaverage, repeat-averaged) in its release layout.

Per subject the release holds ``training_split/training_fmri/{lh,rh}_training_fmri.npy`` (rows = the
training images in the order of their ``train-NNNN`` index), ``training_split/training_images/
train-NNNN_nsd-XXXXX.png``, ``test_split/test_images/test-NNNN_nsd-XXXXX.png`` (the test responses are
withheld) and ``roi_masks/`` (vertex masks and label maps).

Checked against the challenge's preparation script (gifale95/algonauts_2023,
``code/01_challenge_data_preparation/challenge_data_preparation.py``): rows are the subject's images
shown in the training sessions (``np.unique`` of their 0-based 73k indices), each averaged over its
repeats after z-scoring every vertex within each session; ``{lh,rh}.all-vertices_fsaverage_space.npy``
is the integer sum of the nsdgeneral and RSC masks on fsaverage (0, 1 or 2; non-zero = a column, in
vertex order); ``mapping_<family>.npy`` is the ``index name`` table of ``<family>.mgz.ctab`` saved as
a dict, with ``0: "Unknown"``.

Stimulus ids join with :func:`~neuroperception.data.load_nsd_betas`: the challenge's preparation
script names images with the **0-based** index into the 73k NSD images (``subjectim - 1``), while
NSD ids here use the 1-based 73k id, so ``train-0001_nsd-00013.png`` gets the id ``"nsd-00014"``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import describe
from ..errors import InputError, ShapeError
from .nsd import nsd_subject
from .responses import make_responses

__all__ = ["load_algonauts2023", "load_algonauts2023_images", "ALGONAUTS_ROI_FAMILIES"]

#: ROI families shipped in ``roi_masks/`` of the Algonauts 2023 release.
ALGONAUTS_ROI_FAMILIES = ("prf-visualrois", "floc-bodies", "floc-faces", "floc-places", "floc-words", "streams")
_IMAGE_RE = {split: re.compile(rf"^{prefix}-(\d+)_nsd-(\d+)\.png$") for split, prefix in (("training", "train"),
                                                                                            ("test", "test"))}
_PREFIX = {"training": "train", "test": "test"}
_HEMIS = (("lh", "left"), ("rh", "right"))


def _subject_dir(root: Any, subject: Any) -> tuple[Path, str]:
    name = f"subj{nsd_subject(subject):02d}"
    path = Path(root) / name
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder; expected the Algonauts 2023 data of {name} under root")
    return path, name


def _split_images(subj_dir: Path, split: str = "training") -> tuple[list[Path], list[str]]:
    """Image paths of a split in ``train-NNNN`` / ``test-NNNN`` order and their NSD ids (1-based 73k id)."""
    folder = subj_dir / f"{split}_split" / f"{split}_images"
    pattern = f"{_PREFIX[split]}-NNNN_nsd-XXXXX.png"
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder; expected the {split} images {pattern}")
    entries = []
    for path in folder.iterdir():
        if path.suffix.lower() != ".png":
            continue
        match = _IMAGE_RE[split].match(path.name)
        if match is None:
            raise InputError(f"{path}: unexpected file name; expected {pattern}")
        entries.append((int(match.group(1)), int(match.group(2)), path))
    if not entries:
        raise FileNotFoundError(f"{folder}: holds no {pattern} image")
    entries.sort()
    index = [e[0] for e in entries]
    if index != list(range(1, len(entries) + 1)):
        gaps = sorted(set(range(1, max(index) + 1)) - set(index))[:5]
        raise InputError(
            f"{folder}: {_PREFIX[split]} indices are not 1..{len(entries)} (missing e.g. {gaps}, or duplicated); "
            "expected one image per row of the fMRI arrays"
        )
    return [e[2] for e in entries], [f"nsd-{e[1] + 1:05d}" for e in entries]


def _load_npy(path: Path, what: str, pickled: bool = False):
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; expected {what}")
    arr = np.load(path, allow_pickle=pickled)
    return arr.item() if pickled else arr


def _family_labels(roi_dir: Path, family: str, hemi: str, n_vertices: int) -> np.ndarray:
    values = _load_npy(roi_dir / f"{hemi}.{family}_challenge_space.npy", f"one {family} label per challenge vertex")
    mapping = _load_npy(roi_dir / f"mapping_{family}.npy", f"a pickled dict {{int: name}} for {family}", pickled=True)
    if not isinstance(mapping, dict):
        raise InputError(f"{roi_dir / f'mapping_{family}.npy'}: holds {type(mapping).__name__}; expected a dict {{int: name}}")
    values = np.asarray(values)
    if values.shape != (n_vertices,):
        raise ShapeError(
            f"{roi_dir / f'{hemi}.{family}_challenge_space.npy'}: received {describe(values)}; expected "
            f"({n_vertices},), one label per vertex of {hemi}_training_fmri.npy"
        )
    table = {int(k): str(v) for k, v in mapping.items()}
    missing = sorted({int(v) for v in np.unique(values)} - set(table))
    if missing:
        raise InputError(f"{roi_dir / f'mapping_{family}.npy'}: no name for labels {missing[:10]} used by {hemi}")
    return np.array([table[int(v)] for v in values], dtype=str)


def load_algonauts2023(
    root: str | os.PathLike,
    subject: Any,
    rois: str | None = "streams",
    *,
    families: Sequence[str] | None = None,
) -> xr.DataArray:
    """Read one subject's Algonauts 2023 training responses, both hemispheres, labelled.

    Parameters
    ----------
    root : str or path
        The folder holding ``subj01/`` ... ``subj08/`` of the challenge release.
    subject : int or str
        ``1``..``8`` or ``"subj01"``..``"subj08"``.
    rois : str or None
        ROI family giving the ``roi`` coordinate (one of :data:`ALGONAUTS_ROI_FAMILIES`); None for none.
    families : sequence of str, optional
        Families added as extra coordinates ``roi_<family>``. Default: every family of
        :data:`ALGONAUTS_ROI_FAMILIES` whose files are present (named in ``attrs["roi_families"]``);
        families named here must be present.

    Returns
    -------
    xarray.DataArray
        ``("stimulus", "voxel")``: rows in ``train-NNNN`` order (the order of the fMRI arrays), ids
        ``"nsd-%05d"`` of the 1-based 73k NSD id (file name number + 1); left-hemisphere vertices
        first, with coordinates ``hemi``, ``vertex`` (fsaverage vertex index, from
        ``{lh,rh}.all-vertices_fsaverage_space.npy``), ``subject``, ``roi`` and ``roi_<family>``.
        ``attrs["image_paths"]`` lists the image file of every row (see also
        :func:`load_algonauts2023_images`).

    Raises
    ------
    FileNotFoundError
        A missing folder or file (named in the message).
    ShapeError
        fMRI rows that do not match the number of images, masks or labels of the wrong length.
    InputError
        A bad subject or family, unexpected image names, labels without a name.

    Examples
    --------
    >>> r = load_algonauts2023("/data/algonauts_2023_challenge_data", "subj01")  # doctest: +SKIP
    >>> r.dims, str(r["stimulus_id"][0].values)  # doctest: +SKIP
    (('stimulus', 'voxel'), 'nsd-00014')
    >>> from neuroperception.errors import InputError
    >>> try:
    ...     load_algonauts2023("/data", 1, rois="V1")
    ... except InputError as err:
    ...     print(err)
    rois: received 'V1'; expected None or one of ('prf-visualrois', 'floc-bodies', 'floc-faces', 'floc-places', 'floc-words', 'streams')
    """
    if rois is not None and rois not in ALGONAUTS_ROI_FAMILIES:
        raise InputError(f"rois: received {rois!r}; expected None or one of {ALGONAUTS_ROI_FAMILIES}")
    if families is not None:
        bad = [f for f in families if f not in ALGONAUTS_ROI_FAMILIES]
        if bad:
            raise InputError(f"families: received {bad}; expected names from {ALGONAUTS_ROI_FAMILIES}")
    subj_dir, name = _subject_dir(root, subject)
    paths, ids = _split_images(subj_dir)
    fmri_dir = subj_dir / "training_split" / "training_fmri"
    roi_dir = subj_dir / "roi_masks"
    blocks, hemi_c, vertex_c = [], [], []
    for short, hemi in _HEMIS:
        fpath = fmri_dir / f"{short}_training_fmri.npy"
        mat = np.asarray(_load_npy(fpath, "an (n_images, n_vertices) float array"))
        if mat.ndim != 2 or mat.shape[0] != len(ids):
            raise ShapeError(
                f"{fpath}: received {describe(mat)}; expected ({len(ids)}, n_vertices), one row per training image"
            )
        vpath = roi_dir / f"{short}.all-vertices_fsaverage_space.npy"
        used = np.flatnonzero(np.asarray(_load_npy(vpath, "a mask of the fsaverage vertices in the data")))
        if used.size != mat.shape[1]:
            raise ShapeError(
                f"{vpath}: selects {used.size} fsaverage vertices but {fpath.name} has {mat.shape[1]} columns; "
                "expected one selected vertex per column"
            )
        blocks.append(mat)
        hemi_c.append(np.full(mat.shape[1], hemi))
        vertex_c.append(used)
    wanted = list(families) if families is not None else list(ALGONAUTS_ROI_FAMILIES)
    present = []
    for family in wanted:
        files = [roi_dir / f"{h}.{family}_challenge_space.npy" for h, _ in _HEMIS] + [roi_dir / f"mapping_{family}.npy"]
        if families is not None or family == rois or all(f.is_file() for f in files):
            present.append(family)
    if rois is not None and rois not in present:
        present.append(rois)
    labels = {
        family: np.concatenate([_family_labels(roi_dir, family, h, b.shape[1]) for (h, _), b in zip(_HEMIS, blocks)])
        for family in present
    }
    out = make_responses(
        np.concatenate(blocks, axis=1),
        ids,
        hemi=np.concatenate(hemi_c),
        vertex=np.concatenate(vertex_c),
        subject=name,
        roi=labels[rois] if rois is not None else None,
        attrs={
            "source": str(subj_dir),
            "dataset": "Algonauts 2023",
            "subject": name,
            "roi_family": rois or "",
            "roi_families": ", ".join(f for f in present if f != rois),
            "image_paths": [str(p) for p in paths],
            "stimulus_id_convention": "nsd-%05d of the 1-based 73k NSD image id (file name number + 1)",
        },
    )
    extra = {f"roi_{family}": ("voxel", labels[family]) for family in present if family != rois}
    return out.assign_coords(extra) if extra else out


def load_algonauts2023_images(
    root: str | os.PathLike, subject: Any, size: Any = None, *, split: str = "training"
):
    """The training (or test) images of one subject as a lazily read ``ImageSet``; ids match the responses.

    Parameters
    ----------
    root : str or path
        The folder holding ``subj01/`` ... ``subj08/``.
    subject : int or str
        ``1``..``8`` or ``"subj01"``..``"subj08"``.
    size : int or (int, int), optional
        Resize (covering) and centre-crop on reading.
    split : {"training", "test"}
        ``training_split/training_images`` (the rows of :func:`load_algonauts2023`) or
        ``test_split/test_images`` (``test-NNNN_nsd-XXXXX.png``, whose responses the challenge withholds).

    Returns
    -------
    neuroperception.stimuli.ImageSet
        Training split: one image per row of :func:`load_algonauts2023`, same order and ids
        (``"nsd-%05d"``). Test split: the test images in ``test-NNNN`` order, ids likewise.

    Examples
    --------
    >>> images = load_algonauts2023_images("/data/algonauts_2023_challenge_data", 1, size=224)  # doctest: +SKIP
    >>> from neuroperception.errors import InputError
    >>> try:
    ...     load_algonauts2023_images("/data", "subj9")
    ... except InputError as err:
    ...     print(err)
    subject: received 'subj9'; expected an NSD subject 1..8 or 'subj01'..'subj08'
    """
    from ..stimuli import ImageSet

    if split not in _IMAGE_RE:
        raise InputError(f"split: received {split!r}; expected 'training' or 'test'")
    subj_dir, name = _subject_dir(root, subject)
    paths, ids = _split_images(subj_dir, split)
    source = f"algonauts2023:{name}" + ("" if split == "training" else f":{split}")
    return ImageSet(None, ids, paths=paths, size=size, source=source)
