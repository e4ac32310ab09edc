"""THINGS odd-one-out files: their two layouts, the concept lists and the orders objects are indexed in.

Layouts (THINGS-data, osf.io/f5rn6, ``data/triplet_dataset``):

* ``trainset.txt``, ``validationset.txt``, ``testset1.txt``, ``testset2.txt``, ``testset2_repeat.txt``,
  ``testset3.txt`` (and SPoSE/VICE's ``train_90.txt`` / ``test_10.txt``): three 0-based indices per
  line, ``%i %i %i``, the odd one out last;
* ``triplets_large_final_correctednc_correctedorder.csv``: tab-separated with a header (``image1
  image2 image3 choice RT noise_ceiling subject_id HIT_nr trial_nr age gender date time dataset``),
  1-based indices in the order the three images were shown, ``choice`` the position (1-3) of the
  odd one out.

Orders: the THINGS concept order is the row order of ``unique_id.txt`` / the ``uniqueID`` column of
``things_concepts.tsv``. It is *not* a byte-wise sort (``camera_lens`` comes before ``camera1``). The
images were uploaded to Mechanical Turk with their file names ``<uniqueID>.jpg`` sorted byte-wise;
the raw data index objects in that order, and SPoSE/VICE's ``sortindex`` holds, for THINGS concept
``k``, its position in it. The 2023 release files are remapped to the THINGS order (the
"correctedorder" step of the release's preprocessing script).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import describe
from ..errors import AlignmentError, InputError, ShapeError

#: Files of the THINGS-data 2023 release whose indices follow the THINGS concept order.
RELEASE_FILES = ("trainset.txt", "validationset.txt", "testset1.txt", "testset2.txt", "testset2_repeat.txt",
                 "testset3.txt", "triplets_large_final_correctednc_correctedorder.csv")
#: Columns the release's full csv needs.
CSV_COLUMNS = ("image1", "image2", "image3", "choice")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _first_line(p: Path) -> str:
    with open(p, encoding="utf-8-sig") as fh:
        for line in fh:
            if line.strip() and not line.lstrip().startswith("#"):
                return line
    raise InputError(f"{p}: holds no triplets; expected three object indices per line")


def read_triplet_file(p: Path, index_base: int | None) -> np.ndarray:
    """``(n, 3)`` 0-based indices (odd one out last) from either layout; ``index_base`` None: per layout."""
    head = _first_line(p)
    sep = "," if "," in head else r"\s+"
    tokens = head.replace(",", " ").split()
    if all(c in tokens for c in CSV_COLUMNS):
        return _read_choice_csv(p, "\t" if "\t" in head else sep, 1 if index_base is None else int(index_base))
    header = 0 if tokens and not any(_is_number(t) for t in tokens) else None
    try:
        frame = pd.read_csv(p, sep=sep, header=header, comment="#", skip_blank_lines=True, dtype=str,
                            encoding="utf-8-sig")
    except (pd.errors.ParserError, ValueError) as err:
        raise InputError(f"{p}: could not be read as rows of three numbers ({err}); expected three object "
                         "indices per line") from err
    if frame.shape[1] != 3:
        raise InputError(f"{p}: received {frame.shape[1]} columns ({list(map(str, frame.columns))[:6]}); expected 3 "
                         "(object, object, odd one out) or the release csv's columns "
                         f"{', '.join(CSV_COLUMNS)}, ...")
    values = _integers(frame, p)
    return values - (0 if index_base is None else int(index_base))


def _integers(frame: pd.DataFrame, p: Path) -> np.ndarray:
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values).all(1) | (values != np.round(values)).any(1))
    if bad.size:
        row = int(bad[0])
        raise InputError(f"{p}: data row {row + 1} is {frame.iloc[row].tolist()}; expected integer object "
                         f"indices ({bad.size} such rows)")
    return values.astype(np.int64)


def check_triplets(triplets, n_objects: int | None = None, name: str = "triplets") -> np.ndarray:
    """Validate ``(n, 3)`` object indices (array or 3-column DataFrame); return them as int64."""
    arr = triplets.to_numpy() if isinstance(triplets, pd.DataFrame) else np.asarray(triplets)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise ShapeError(f"{name}: received {describe(arr)}; expected (n_triplets, 3) object indices")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or (arr != np.round(arr)).any():
            raise InputError(f"{name}: received {describe(arr)}; expected integer object indices")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise InputError(f"{name}: received negative object indices (min {arr.min()}); expected 0-based indices "
                         "(pass index_base=1 for files that count from 1)")
    if n_objects is not None and arr.max() >= n_objects:
        raise InputError(f"{name}: received object index {arr.max()}; expected indices below n_objects={n_objects}")
    same = np.flatnonzero((arr[:, 0] == arr[:, 1]) | (arr[:, 0] == arr[:, 2]) | (arr[:, 1] == arr[:, 2]))
    if same.size:
        raise InputError(f"{name}: row {int(same[0])} is {arr[same[0]].tolist()}; expected three different objects "
                         f"({same.size} such rows)")
    return arr


def _read_choice_csv(p: Path, sep: str, index_base: int) -> np.ndarray:
    """The release csv: shown order plus ``choice`` (1-3) -> the kept pair in shown order, then the odd one."""
    try:
        frame = pd.read_csv(p, sep=sep, usecols=list(CSV_COLUMNS), dtype=str, encoding="utf-8-sig")
    except (pd.errors.ParserError, ValueError) as err:
        raise InputError(f"{p}: could not be read as the release csv ({err}); expected tab-separated columns "
                         f"{', '.join(CSV_COLUMNS)}, ...") from err
    values = _integers(frame[list(CSV_COLUMNS)], p)
    choice = values[:, 3]
    bad = np.flatnonzero(~np.isin(choice, (1, 2, 3)))
    if bad.size:
        raise InputError(f"{p}: data row {int(bad[0]) + 1} has choice {int(choice[bad[0]])}; expected 1, 2 or 3 "
                         f"(the position of the odd one out; {bad.size} such rows)")
    shown = values[:, :3]
    keep = np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])[choice - 1]  # choice 1 -> (2, 3, 1), as the release does
    return np.take_along_axis(shown, keep, axis=1) - index_base


def read_concepts(concepts, name: str = "concepts") -> list[str]:
    """Concept names from a list or a file (``unique_id.txt``: one per line; a tsv with ``uniqueID``)."""
    if isinstance(concepts, (str, Path)):
        p = Path(concepts).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"{name}: {str(p)!r} does not exist; expected the THINGS concept list "
                                    "(unique_id.txt, or things_concepts.tsv with a uniqueID column)")
        lines = [ln.rstrip("\r\n") for ln in p.read_text(encoding="utf-8-sig").splitlines()]
        if lines and "\t" in lines[0]:
            header = lines[0].split("\t")
            if "uniqueID" not in header:
                raise InputError(f"{name}: {p} has columns {header[:8]}; expected a uniqueID column "
                                 "(things_concepts.tsv) or one concept per line (unique_id.txt)")
            k = header.index("uniqueID")
            names = [ln.split("\t")[k] for ln in lines[1:] if ln.strip()]
        else:
            names = [ln.strip() for ln in lines if ln.strip()]
    elif isinstance(concepts, (Sequence, np.ndarray)) or hasattr(concepts, "tolist"):
        names = [str(c) for c in (concepts.tolist() if hasattr(concepts, "tolist") else concepts)]
    else:
        raise InputError(f"{name}: received {describe(concepts)}; expected concept names (a list, or the path "
                         "of unique_id.txt / things_concepts.tsv)")
    if not names:
        raise InputError(f"{name}: received no concept names; expected one name per object")
    seen: set[str] = set()
    dup = []
    for c in names:
        if c in seen:
            dup.append(c)
        seen.add(c)
    if dup:
        raise AlignmentError(f"{name}: received duplicated concept names, e.g. {sorted(set(dup))[:5]}; expected "
                             "one unique name per object")
    return names


def upload_order(concepts: Sequence[str]) -> np.ndarray:
    """For each position of the upload order, the concept's index: file names ``<name>.jpg`` sorted byte-wise.

    Its inverse is SPoSE/VICE's ``sortindex`` (``sortindex[k]``: upload position of concept ``k``).
    """
    return np.array(sorted(range(len(concepts)), key=lambda k: (concepts[k] + ".jpg").encode("utf-8")),
                    dtype=np.int64)


def file_to_target(object_order, target: list[str] | None, n_file: int) -> np.ndarray:
    """Map of file index -> target index from names in the file's order or an integer permutation."""
    arr = np.asarray(object_order)
    if arr.ndim != 1 or arr.size == 0:
        raise ShapeError(f"object_order: received {describe(object_order)}; expected 'things', 'upload', the concept "
                         "names in the file's order or a 1-D integer array (file index -> object index)")
    if arr.dtype.kind in "USO":
        names = read_concepts(list(arr), name="object_order")
        if len(names) < n_file:
            raise ShapeError(f"object_order: received {len(names)} names but the file uses index {n_file - 1}; "
                             "expected one name per file index")
        if target is None:
            raise InputError("object_order: names need concepts= (the target order) to be remapped")
        where = {c: k for k, c in enumerate(target)}
        missing = [c for c in names if c not in where]
        if missing:
            raise AlignmentError(f"object_order: {len(missing)} names are not in concepts, e.g. {missing[:5]}; "
                                 "expected the file's concept names among the target concepts")
        return np.array([where[c] for c in names], dtype=np.int64)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and (arr == np.round(arr)).all()):
        raise InputError(f"object_order: received {describe(arr)}; expected integer object indices")
    perm = arr.astype(np.int64)
    if len(perm) < n_file:
        raise ShapeError(f"object_order: received {len(perm)} entries but the file uses index {n_file - 1}; expected "
                         "one target index per file index")
    if perm.min() < 0 or len(np.unique(perm)) != len(perm):
        raise InputError(f"object_order: received {describe(perm)} with negative or repeated entries; expected a "
                         "permutation (file index i -> object index object_order[i])")
    if target is not None and perm.max() >= len(target):
        raise InputError(f"object_order: received object index {perm.max()} but {len(target)} concepts; expected "
                         "indices into concepts")
    return perm
