"""Readers for human perceptual-similarity judgements: BAPPS (2AFC and JND) and NIGHTS.

Every 2AFC reader returns a :class:`TwoAFCDataset` in one convention: a reference ``ref``, two
alternatives ``p0`` and ``p1``, and ``judge``, the fraction of people who judged ``p1`` closer to
the reference. Every JND reader returns a :class:`JNDDataset`: two images ``p0``, ``p1`` and
``same``, the fraction of people who said they were the same. Images stay on disk until a batch
is asked for, and come out as float32 ``(N, 3, H, W)`` tensors in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._validation import check_ids, describe
from ..errors import AlignmentError, InputError
from ..stimuli import IMAGE_EXTENSIONS, ImageSet
from ._judgements import JNDBatch, JNDDataset, TwoAFCBatch, TwoAFCDataset

__all__ = [
    "TwoAFCDataset", "JNDDataset", "TwoAFCBatch", "JNDBatch",
    "load_bapps_2afc", "load_bapps_jnd", "load_nights",
    "BAPPS_2AFC_SUBSETS", "NIGHTS_SPLITS",
]

#: Subsets of the released BAPPS 2AFC data, per split.
BAPPS_2AFC_SUBSETS = {
    "train": ("traditional", "cnn", "mix"),
    "val": ("traditional", "cnn", "superres", "deblur", "color", "frameinterp"),
}
_BAPPS_JND_SUBSETS = {"val": ("traditional", "cnn")}
#: Splits of NIGHTS, as in the DreamSim evaluation code.
NIGHTS_SPLITS = ("train", "val", "test", "test_imagenet", "test_no_imagenet")
_NIGHTS_COLUMNS = ("id", "left_vote", "right_vote", "votes", "ref_path", "left_path", "right_path", "split")


# ---------------------------------------------------------------------------------- BAPPS
def _folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InputError(f"missing folder {path}: expected {what}")
    return path


def _stems(folder: Path, suffixes: Sequence[str]) -> dict[str, Path]:
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in suffixes:
            if p.stem in files:
                raise AlignmentError(f"{folder}: received two files for id {p.stem!r} ({files[p.stem].name}, "
                                     f"{p.name}); expected one file per id")
            files[p.stem] = p
    return files


def _read_fraction(path: Path) -> float:
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: could not be read as a .npy array ({err}); expected one float "
                         "(the fraction of people)") from err
    arr = np.asarray(value, dtype=np.float64) if np.issubdtype(np.asarray(value).dtype, np.number) else None
    if arr is None or arr.size != 1 or not np.isfinite(arr).all() or not 0 <= float(arr.flat[0]) <= 1:
        raise InputError(f"{path}: received {describe(np.asarray(value))}; expected one float fraction in [0, 1]")
    return float(arr.flat[0])


def _subset_folders(base: Path, split: str, subsets, known: dict, kind: str) -> list[tuple[str, Path]]:
    if split not in known:
        raise InputError(f"split: received {split!r}; expected one of {sorted(known)} for BAPPS {kind}")
    _folder(base, f"the BAPPS {kind} {split!r} split (sub-folders {', '.join(known[split])})")
    available = sorted(p.name for p in base.iterdir() if p.is_dir())
    if subsets is None:
        names = [s for s in known[split] if s in available] + [s for s in available if s not in known[split]]
        if not names:
            raise InputError(f"{base}: found no subset folders; expected some of {', '.join(known[split])}")
    else:
        names = [subsets] if isinstance(subsets, str) else list(subsets)
        for s in names:
            if s not in available:
                raise InputError(f"subsets: received {s!r} but folder {base / s} does not exist; "
                                 f"found {available} (BAPPS {kind} {split} has {', '.join(known[split])})")
    return [(s, base / s) for s in names]


def _matched(folder: Path, parts: dict[str, tuple[str, ...]]) -> tuple[list[str], dict[str, list[Path]]]:
    found = {part: _stems(_folder(folder / part, f"the {part!r} files of {folder.name}"), sfx)
             for part, sfx in parts.items()}
    all_ids = sorted(set().union(*found.values()))
    if not all_ids:
        raise InputError(f"{folder}: found no files in {', '.join(parts)}; expected one file per item in each")
    for part, files in found.items():
        missing = [i for i in all_ids if i not in files]
        if missing:
            ext = ".npy" if parts[part] == (".npy",) else ".png"
            others = [q for q in found if q != part and missing[0] in found[q]]
            raise AlignmentError(
                f"{folder}: {len(missing)} ids have no file in {part}/, e.g. missing file "
                f"{folder / part / (missing[0] + ext)} (present in {', '.join(others)}); expected the same "
                f"ids in {', '.join(p + '/' for p in parts)}")
    return all_ids, {part: [files[i] for i in all_ids] for part, files in found.items()}


def _lazy(ids: list[str], paths: list[Path], size) -> ImageSet:
    return ImageSet(None, ids, paths=paths, size=size, source="bapps")


def load_bapps_2afc(root, split: str = "val", subsets=None, size=64) -> TwoAFCDataset:
    """Read the BAPPS 2AFC judgements (Zhang et al., 2018) from their released layout.

    ``root/2afc/<split>/<subset>/{ref,p0,p1}/<id>.png`` hold the triplets and
    ``root/2afc/<split>/<subset>/judge/<id>.npy`` the fraction of people who chose ``p1``.

    Parameters
    ----------
    root : str or Path
        The BAPPS ``dataset`` folder (the one holding ``2afc/``).
    split : {"val", "train"}
        Which split.
    subsets : str or list of str, optional
        Subset folders to read (val: traditional, cnn, superres, deblur, color, frameinterp; train:
        traditional, cnn, mix); default every one present, in that order.
    size : int, (int, int) or None
        Images are resized (covering) and centre-cropped to this size on reading; ``64`` as in the
        LPIPS evaluation; None keeps the stored size.

    Returns
    -------
    TwoAFCDataset
        Items sorted by file name within each subset; ids ``"<subset>/<stem>"``.

    Raises
    ------
    InputError
        Unknown split, missing folder, unreadable or out-of-range judge file.
    AlignmentError
        An id present in one of ``ref/p0/p1/judge`` and missing in another (the missing file is named).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for part in ("ref", "p0", "p1", "judge"):
    ...     (root / "2afc/val/cnn" / part).mkdir(parents=True)
    >>> for part in ("ref", "p0", "p1"):
    ...     Image.new("RGB", (64, 64)).save(root / "2afc/val/cnn" / part / "000000.png")
    >>> np.save(root / "2afc/val/cnn/judge/000000.npy", np.array([0.8]))
    >>> ds = load_bapps_2afc(root, "val")
    >>> ds.ids, ds.judge.tolist()
    (['cnn/000000'], [0.8])
    """
    base = Path(root) / "2afc" / str(split)
    ids, subs, paths = [], [], {"ref": [], "p0": [], "p1": [], "judge": []}
    for subset, folder in _subset_folders(base, split, subsets, BAPPS_2AFC_SUBSETS, "2afc"):
        stems, found = _matched(folder, {"ref": IMAGE_EXTENSIONS, "p0": IMAGE_EXTENSIONS,
                                         "p1": IMAGE_EXTENSIONS, "judge": (".npy",)})
        ids += [f"{subset}/{s}" for s in stems]
        subs += [subset] * len(stems)
        for part in paths:
            paths[part] += found[part]
    judge = np.array([_read_fraction(p) for p in paths["judge"]])
    return TwoAFCDataset(ids=ids, subsets=subs, name=f"bapps-2afc-{split}", judge=judge,
                         **{part: _lazy(ids, paths[part], size) for part in ("ref", "p0", "p1")})


def load_bapps_jnd(root, split: str = "val", subsets=None, size=64) -> JNDDataset:
    """Read the BAPPS just-noticeable-difference judgements from their released layout.

    ``root/jnd/<split>/<subset>/{p0,p1}/<id>.png`` hold the pairs and
    ``root/jnd/<split>/<subset>/same/<id>.npy`` the fraction of people who said "same".
    BAPPS releases JND data for the ``val`` split (subsets ``traditional`` and ``cnn``).

    Parameters
    ----------
    root : str or Path
        The BAPPS ``dataset`` folder (the one holding ``jnd/``).
    split : {"val"}
        Which split.
    subsets : str or list of str, optional
        Subset folders to read; default every one present.
    size : int, (int, int) or None
        Resize (covering) and centre-crop on reading; None keeps the stored size.

    Returns
    -------
    JNDDataset

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for part in ("p0", "p1", "same"):
    ...     (root / "jnd/val/traditional" / part).mkdir(parents=True)
    >>> for part in ("p0", "p1"):
    ...     Image.new("RGB", (64, 64)).save(root / "jnd/val/traditional" / part / "000000.png")
    >>> np.save(root / "jnd/val/traditional/same/000000.npy", np.array([0.25]))
    >>> load_bapps_jnd(root).same.tolist()
    [0.25]
    """
    base = Path(root) / "jnd" / str(split)
    ids, subs, paths = [], [], {"p0": [], "p1": [], "same": []}
    for subset, folder in _subset_folders(base, split, subsets, _BAPPS_JND_SUBSETS, "jnd"):
        stems, found = _matched(folder, {"p0": IMAGE_EXTENSIONS, "p1": IMAGE_EXTENSIONS, "same": (".npy",)})
        ids += [f"{subset}/{s}" for s in stems]
        subs += [subset] * len(stems)
        for part in paths:
            paths[part] += found[part]
    same = np.array([_read_fraction(p) for p in paths["same"]])
    return JNDDataset(ids=ids, subsets=subs, name=f"bapps-jnd-{split}", same=same,
                      p0=_lazy(ids, paths["p0"], size), p1=_lazy(ids, paths["p1"], size))


# ---------------------------------------------------------------------------------- NIGHTS
def _as_bool(values) -> np.ndarray:
    """1.0/0.0 per row, NaN where the flag is empty (DreamSim's ``== True`` / ``== False`` leave those rows out)."""
    text = values.astype(str).str.strip().str.lower()
    missing = values.isna().to_numpy() | text.isin(["", "nan", "none"]).to_numpy()
    bad = sorted(set(text[~missing]) - {"true", "false", "1", "0", "1.0", "0.0"})
    if bad:
        raise InputError(f"data.csv column is_imagenet: received values {bad[:5]}; expected True/False (or empty)")
    out = np.full(len(values), np.nan)
    out[~missing] = text[~missing].isin(["true", "1", "1.0"]).to_numpy()
    return out


def load_nights(root, split: str = "test", size=224, min_votes: int = 6) -> TwoAFCDataset:
    """Read NIGHTS (Fu et al., 2023, the DreamSim data) into the 2AFC convention.

    ``root/data.csv`` has one row per triplet with the columns ``id, left_vote, right_vote, votes,
    ref_path, left_path, right_path`` (in that order: DreamSim's loader reads them by position) and
    ``split``, ``is_imagenet``, ``prompt`` (read by name here, as every column); paths are relative to
    ``root`` (``ref/000/000.png``, ``distort/000/000_0.png``). ``left`` becomes ``p0``, ``right``
    becomes ``p1``, and ``judge = right_vote / (left_vote + right_vote)``, the fraction of people
    who chose the right image (DreamSim's target ``right_vote`` when the votes are fractions, as in
    the release; vote counts give the same fraction).

    Parameters
    ----------
    root : str or Path
        The NIGHTS folder holding ``data.csv``, ``ref/`` and ``distort/``.
    split : {"test", "val", "train", "test_imagenet", "test_no_imagenet"}
        Rows with this ``split``; the last two also filter on ``is_imagenet``.
    size : int, (int, int) or None
        Resize (covering) and centre-crop on reading; 224 as in the DreamSim evaluation.
    min_votes : int
        Keep triplets with ``votes >= min_votes`` (DreamSim keeps those with at least 6 unanimous
        votes); 0 keeps every row.

    Returns
    -------
    TwoAFCDataset
        Subsets ``"imagenet"``/``"no_imagenet"`` from ``is_imagenet`` (``"nights"`` without the
        column, or where it is empty; such rows are in neither ``test_imagenet`` nor
        ``test_no_imagenet``, as in DreamSim).

    Raises
    ------
    InputError
        Missing ``data.csv`` or columns, unknown split, no rows left, missing image files.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "ref/000").mkdir(parents=True); (root / "distort/000").mkdir(parents=True)
    >>> for name in ("ref/000/000.png", "distort/000/000_0.png", "distort/000/000_1.png"):
    ...     Image.new("RGB", (32, 32)).save(root / name)
    >>> _ = (root / "data.csv").write_text(
    ...     "id,left_vote,right_vote,votes,ref_path,left_path,right_path,prompt,split,is_imagenet\\n"
    ...     "0,0.25,0.75,8,ref/000/000.png,distort/000/000_0.png,distort/000/000_1.png,a cat,test,True\\n")
    >>> ds = load_nights(root, size=16)
    >>> ds.ids, ds.subsets, ds.judge.tolist()
    (['0'], ['imagenet'], [0.75])
    """
    import pandas as pd

    root = Path(root)
    csv = root / "data.csv"
    if not csv.is_file():
        raise InputError(f"missing file {csv}: expected the NIGHTS table (columns {', '.join(_NIGHTS_COLUMNS)}) "
                         "next to the ref/ and distort/ folders")
    if split not in NIGHTS_SPLITS:
        raise InputError(f"split: received {split!r}; expected one of {list(NIGHTS_SPLITS)}")
    table = pd.read_csv(csv)
    missing = [c for c in _NIGHTS_COLUMNS if c not in table.columns]
    if split.startswith("test_") and "is_imagenet" not in table.columns:
        missing.append("is_imagenet")
    if missing:
        raise InputError(f"{csv}: received columns {list(table.columns)}; expected also {missing}")
    imagenet = _as_bool(table["is_imagenet"]) if "is_imagenet" in table.columns else None
    keep = np.array(table["split"].astype(str) == split.split("_")[0], dtype=bool)
    keep &= pd.to_numeric(table["votes"], errors="coerce").fillna(-1).to_numpy() >= min_votes
    if split == "test_imagenet":
        keep &= imagenet == 1
    elif split == "test_no_imagenet":
        keep &= imagenet == 0
    if not keep.any():
        raise InputError(f"{csv}: no row has split matching {split!r} and votes >= {min_votes} "
                         f"(splits present: {sorted(table['split'].astype(str).unique())[:6]})")
    rows = table[keep]
    votes = rows[["left_vote", "right_vote"]].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    total = votes.sum(1)
    if not np.isfinite(votes).all() or (votes < 0).any() or (total <= 0).any():
        raise InputError(f"{csv}: received left_vote/right_vote {describe(votes)}; expected non-negative "
                         "numbers with a positive sum on every row")
    ids = check_ids(rows["id"].astype(str).tolist(), len(rows), name=f"{csv.name} id")
    sets = {}
    for part, column in (("ref", "ref_path"), ("p0", "left_path"), ("p1", "right_path")):
        paths = [root / str(p) for p in rows[column]]
        absent = [p for p in paths if not p.is_file()]
        if absent:
            raise InputError(f"missing file {absent[0]} ({len(absent)} of the {column} images are absent); "
                             f"expected the images named in {csv} under {root}")
        sets[part] = ImageSet(None, ids, paths=paths, size=size, source="nights")
    subsets = (np.where(imagenet[keep] == 1, "imagenet", np.where(imagenet[keep] == 0, "no_imagenet", "nights")).tolist()
               if imagenet is not None else ["nights"] * len(ids))
    return TwoAFCDataset(ids=ids, subsets=subsets, name=f"nights-{split}", judge=votes[:, 1] / total, **sets)
