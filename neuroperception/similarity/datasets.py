"""Readers for human perceptual-similarity judgements: BAPPS (2AFC and JND) and NIGHTS.

Every 2AFC reader returns a :class:`TwoAFCDataset` in one convention: a reference ``ref``, two
alternatives ``p0`` and ``p1``, and ``judge``, the fraction of people who judged ``p1`` closer to
the reference. Every JND reader returns a :class:`JNDDataset`: two images ``p0``, ``p1`` and
``same``, the fraction of people who said they were the same. Images stay on disk until a batch
is asked for, and come out as float32 ``(N, 3, H, W)`` tensors in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from .._validation import check_ids, describe
from ..errors import AlignmentError, InputError, ShapeError
from ..stimuli import IMAGE_EXTENSIONS, ImageSet

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


class TwoAFCBatch(NamedTuple):
    """One batch of 2AFC triplets: ids, subsets, ``ref``/``p0``/``p1`` images and ``judge``."""

    ids: list
    subsets: list
    ref: torch.Tensor
    p0: torch.Tensor
    p1: torch.Tensor
    judge: np.ndarray


class JNDBatch(NamedTuple):
    """One batch of JND pairs: ids, subsets, ``p0``/``p1`` images and ``same``."""

    ids: list
    subsets: list
    p0: torch.Tensor
    p1: torch.Tensor
    same: np.ndarray


def _fractions(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
        raise InputError(f"{name}: received {describe(arr)}; expected finite fractions in [0, 1]")
    return arr


def _load(images: ImageSet, positions: list[int], what: str) -> torch.Tensor:
    try:
        return images[positions].images
    except RuntimeError as err:  # torch.cat of images with different sizes
        raise ShapeError(f"{what}: images in one batch have different sizes ({err}); expected one size, "
                         "pass size=... to the reader to resize and centre-crop them") from err


def _batches(n: int, batch_size: int, progress: bool, desc: str) -> Iterator[list[int]]:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError(f"batch_size: received {batch_size!r}; expected a positive int")
    starts = range(0, n, int(batch_size))
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch")
    for lo in starts:
        yield list(range(lo, min(lo + int(batch_size), n)))


@dataclass(repr=False, eq=False)
class _PairedBase:
    """Shared machinery: ids, one subset label per item, lazily read images, one value per item."""

    ids: list
    subsets: list
    name: str
    _images = ()
    _value = ""
    _batch = tuple

    def __post_init__(self):
        self.ids, self.subsets = [str(i) for i in self.ids], [str(s) for s in self.subsets]
        values = _fractions(getattr(self, self._value), f"{self.name}.{self._value}")
        setattr(self, self._value, values)
        self.ids = check_ids(self.ids, len(self.ids), name="ids")
        if len(self.subsets) != len(self.ids) or values.size != len(self.ids):
            raise ShapeError(f"{self.name}: received {len(self.ids)} ids, {len(self.subsets)} subsets and "
                             f"{values.size} {self._value} values; expected one of each per item")
        for field in self._images:
            images = getattr(self, field)
            if not isinstance(images, ImageSet) or len(images) != len(self.ids):
                raise ShapeError(f"{self.name}.{field}: received {describe(images)} of length "
                                 f"{len(images) if hasattr(images, '__len__') else '?'}; expected an ImageSet "
                                 f"with one image per item ({len(self.ids)})")

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        counts = {s: self.subsets.count(s) for s in self.subset_names}
        return f"{type(self).__name__}(name={self.name!r}, n={len(self)}, subsets={counts})"

    @property
    def subset_names(self) -> list[str]:
        """Subset labels in order of first appearance."""
        return list(dict.fromkeys(self.subsets))

    def _positions(self, key) -> list[int]:
        if isinstance(key, str):
            if key not in self.subset_names:
                raise InputError(f"{self.name}: received subset {key!r}; expected one of {self.subset_names}")
            return [i for i, s in enumerate(self.subsets) if s == key]
        idx = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(list(key))
        if idx.dtype == bool:
            if idx.size != len(self):
                raise ShapeError(f"{self.name}: received a mask of {idx.size} values for {len(self)} items")
            idx = np.flatnonzero(idx)
        if idx.size and (idx.dtype.kind not in "iu" or idx.min() < -len(self) or idx.max() >= len(self)):
            raise InputError(f"{self.name}: received positions {describe(idx)}; expected ints in [0, {len(self)})")
        return [int(i) % len(self) for i in idx]

    def select(self, key):
        """Items of one subset (a name), or at positions (slice, list of ints, boolean mask)."""
        pos = self._positions(key)
        fields = {f: getattr(self, f)[pos] for f in self._images}
        fields[self._value] = getattr(self, self._value)[pos]
        return type(self)(ids=[self.ids[p] for p in pos], subsets=[self.subsets[p] for p in pos],
                          name=self.name, **fields)

    def batches(self, batch_size: int = 50, progress: bool = True):
        """Yield batches (named tuples: ids, subsets, images..., values) in order, read batch by batch."""
        for pos in _batches(len(self), batch_size, progress, self.name):
            images = [_load(getattr(self, f), pos, f"{self.name}.{f}") for f in self._images]
            yield self._batch([self.ids[p] for p in pos], [self.subsets[p] for p in pos], *images,
                              getattr(self, self._value)[pos])

    @classmethod
    def _from_arrays(cls, arrays, values, ids, subsets, name):
        sets = [ImageSet.from_array(a) for a in arrays]
        ids = check_ids(ids, len(sets[0]), name="ids", prefix="item")
        subsets = list(subsets) if subsets is not None else [name] * len(ids)
        fields = {f: ImageSet(s.images, ids) for f, s in zip(cls._images, sets)}
        return cls(ids=ids, subsets=subsets, name=name, **fields, **{cls._value: values})


@dataclass(repr=False, eq=False)
class TwoAFCDataset(_PairedBase):
    """2AFC triplets: a reference, two alternatives and the fraction of people choosing ``p1``.

    ``judge[i]`` is the fraction of people who judged ``p1[i]`` closer to ``ref[i]`` than
    ``p0[i]`` (``0`` means everybody chose ``p0``). ``batches()`` yields :class:`TwoAFCBatch`.

    Parameters
    ----------
    ids : list of str
        Unique item ids (``"<subset>/<file stem>"`` for BAPPS, the csv ``id`` for NIGHTS).
    subsets : list of str
        Subset (distortion family, source) of every item.
    name : str
        Dataset name used in progress bars and errors.
    ref, p0, p1 : ImageSet
        The images, one per item, read lazily for on-disk data.
    judge : numpy.ndarray
        ``(N,)`` fractions in ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(4, 3, 8, 8)
    >>> ds = TwoAFCDataset.from_arrays(x, x, 1 - x, judge=[0.2, 0.4, 0.6, 0.8], subsets=["a", "a", "b", "b"])
    >>> len(ds), ds.subset_names, ds.select("b").judge.tolist()
    (4, ['a', 'b'], [0.6, 0.8])
    >>> [len(b.ids) for b in ds.batches(3, progress=False)]
    [3, 1]
    """

    ref: ImageSet = None
    p0: ImageSet = None
    p1: ImageSet = None
    judge: np.ndarray = None
    _images = ("ref", "p0", "p1")
    _value = "judge"
    _batch = TwoAFCBatch

    @classmethod
    def from_arrays(cls, ref, p0, p1, judge, *, ids: Sequence[str] | None = None,
                    subsets: Sequence[str] | None = None, name: str = "2afc") -> "TwoAFCDataset":
        """Build an in-memory dataset from three image arrays (see :meth:`ImageSet.from_array`)."""
        return cls._from_arrays((ref, p0, p1), judge, ids, subsets, name)


@dataclass(repr=False, eq=False)
class JNDDataset(_PairedBase):
    """Same/different pairs: two images and the fraction of people who said "same".

    Fields ``ids``, ``subsets``, ``name``, ``p0``, ``p1`` (ImageSets) and ``same`` (``(N,)``
    fractions in ``[0, 1]``); ``batches()`` yields :class:`JNDBatch`.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(3, 3, 8, 8)
    >>> ds = JNDDataset.from_arrays(x, x.flip(0), same=[1.0, 0.0, 0.5])
    >>> batch = next(ds.batches(progress=False))
    >>> tuple(batch.p0.shape), batch.same.tolist()
    ((3, 3, 8, 8), [1.0, 0.0, 0.5])
    """

    p0: ImageSet = None
    p1: ImageSet = None
    same: np.ndarray = None
    _images = ("p0", "p1")
    _value = "same"
    _batch = JNDBatch

    @classmethod
    def from_arrays(cls, p0, p1, same, *, ids: Sequence[str] | None = None,
                    subsets: Sequence[str] | None = None, name: str = "jnd") -> "JNDDataset":
        """Build an in-memory dataset from two image arrays (see :meth:`ImageSet.from_array`)."""
        return cls._from_arrays((p0, p1), same, ids, subsets, name)


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
    if values.dtype == bool:
        return values.to_numpy()
    text = values.astype(str).str.strip().str.lower()
    bad = sorted(set(text) - {"true", "false", "1", "0", "1.0", "0.0"})
    if bad:
        raise InputError(f"data.csv column is_imagenet: received values {bad[:5]}; expected True/False")
    return text.isin(["true", "1", "1.0"]).to_numpy()


def load_nights(root, split: str = "test", size=224, min_votes: int = 6) -> TwoAFCDataset:
    """Read NIGHTS (Fu et al., 2023, the DreamSim data) into the 2AFC convention.

    ``root/data.csv`` has one row per triplet with the columns ``id, left_vote, right_vote, votes,
    ref_path, left_path, right_path, split`` (and ``is_imagenet``, ``prompt``, ...); paths are
    relative to ``root`` (``ref/000/000.png``, ``distort/000/000_0.png``). ``left`` becomes ``p0``,
    ``right`` becomes ``p1``, and ``judge = right_vote / (left_vote + right_vote)``, the fraction
    of people who chose the right image (equal to ``right_vote`` when the votes are fractions).

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
        Subsets ``"imagenet"``/``"no_imagenet"`` when ``is_imagenet`` is present, else ``"nights"``.

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
        keep &= imagenet
    elif split == "test_no_imagenet":
        keep &= ~imagenet
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
    subsets = (np.where(imagenet[keep], "imagenet", "no_imagenet").tolist() if imagenet is not None
               else ["nights"] * len(ids))
    return TwoAFCDataset(ids=ids, subsets=subsets, name=f"nights-{split}", judge=votes[:, 1] / total, **sets)
