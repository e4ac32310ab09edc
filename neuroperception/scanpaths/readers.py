"""Readers for scanpath and saliency datasets in their published file layouts.

* :func:`load_coco_search18`: COCO-Search18 fixation JSON files (visual search, 1680x1050 display).
* :func:`load_capmit1003`: the CapMIT1003 SQLite database (captions and click sequences on MIT1003).
* :func:`load_mit1003_fixations`: MIT1003 (or any) fixations as pysaliency writes them to HDF5, read with
  h5py; pysaliency objects are accepted too.
* :func:`load_saliency_maps`: a folder of saliency map images or ``.npy`` files.

Each returns a :class:`~neuroperception.scanpaths.table.Scanpaths` (or a saliency DataArray
``("stimulus", "y", "x")``). Fields that describe a whole trial (reaction time, target box, caption id)
are kept as extra table columns, constant within a scanpath; :func:`scanpath_attributes` lists them
one row per scanpath. Times are milliseconds.

Every fixation reader follows one policy (:mod:`._reader_policy`) for what real recordings hold:
``off_display="keep"|"drop"|"clip"`` for fixations outside their image (kept by default, with a
warning giving the count) and ``empty="drop"|"raise"`` for scanpaths without fixations (left out by
default, with a warning giving the count).

The pysaliency reader lives in :mod:`._pysaliency_io` and the saliency-map reader in
:mod:`._saliency_map_io`; both are importable from here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._pysaliency_io import load_mit1003_fixations
from ._reader_policy import _apply_reader_policy, _check_policy
from ._saliency_map_io import SALIENCY_MAP_EXTENSIONS, load_saliency_maps
from .table import COLUMNS, Scanpaths

__all__ = ["load_coco_search18", "load_capmit1003", "load_mit1003_fixations", "load_saliency_maps",
           "scanpath_attributes", "COCO_SEARCH18_DISPLAY", "SALIENCY_MAP_EXTENSIONS"]

COCO_SEARCH18_DISPLAY = (1050, 1680)  # (height, width) of the display images, in pixels
_COCO_REQUIRED = ("name", "subject", "task", "condition", "X", "Y")
_COCO_RENAME = {"RT": "rt", "correct": "correct", "split": "split", "length": "length"}
_CAPMIT_SCHEMA = {"images": ("img_uid", "img_path"),
                  "captions": ("obs_uid", "usr_uid", "start_time", "caption", "img_uid"),
                  "clicks": ("click_id", "obs_uid", "x", "y", "click_time")}


def scanpath_attributes(scanpaths: Scanpaths) -> pd.DataFrame:
    """One row per scanpath: its metadata and every extra column that is constant within it.

    Readers keep per-trial fields (COCO-Search18 ``rt``, ``correct``, ``bbox_*``, ``split``;
    CapMIT1003 ``obs_uid``) as table columns repeated on each fixation; this collects them.

    Examples
    --------
    >>> import pandas as pd
    >>> sp = Scanpaths(pd.DataFrame({"stimulus_id": ["a", "a", "b"], "x": [1, 2, 3], "y": [1, 2, 3],
    ...                              "rt": [900, 900, 450]}))
    >>> scanpath_attributes(sp)[["stimulus_id", "n_fixations", "rt"]].values.tolist()
    [['a', 2, 900], ['b', 1, 450]]
    """
    if not isinstance(scanpaths, Scanpaths):
        raise InputError(f"scanpaths: received {type(scanpaths).__name__}; expected a Scanpaths table")
    table = scanpaths.table
    extra = [c for c in table.columns if c not in COLUMNS]
    g = table.groupby("scanpath", sort=True)
    constant = [c for c in extra if (g[c].nunique(dropna=False) <= 1).all()]
    out = scanpaths.meta.set_index("scanpath")
    if constant:
        out = out.join(g[constant].first())
    return out.reset_index()


# ----------------------------------------------------------------------------------- COCO-Search18
def _json_files(paths: Any) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not items:
        raise InputError("paths: received an empty list; expected COCO-Search18 fixation JSON files")
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(item.glob("coco_search18_fixations_*.json"))
            if not found:
                raise InputError(f"paths: the folder {str(item)!r} holds no coco_search18_fixations_*.json file; "
                                 "expected e.g. coco_search18_fixations_TP_train_split1.json")
            files.extend(found)
        elif not item.is_file():
            raise InputError(f"paths: {str(item)!r} does not exist; expected a COCO-Search18 fixation JSON file "
                             "such as coco_search18_fixations_TP_train_split1.json")
        else:
            files.append(item)
    return files


def _coco_records(file: Path) -> list[dict]:
    try:
        records = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{file}: not valid JSON ({err}); expected a list of COCO-Search18 trial records") from err
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError(f"{file}: received a JSON {type(records).__name__}; expected a list of trial records "
                         f"with fields {list(_COCO_REQUIRED)}")
    return records


def load_coco_search18(paths, split: str | None = None, *, task: str | Sequence[str] | None = None,
                       condition: str | None = None, size: tuple[int, int] | None = COCO_SEARCH18_DISPLAY,
                       off_display: str = "keep", empty: str = "drop") -> Scanpaths:
    """Read COCO-Search18 fixation JSON files into one :class:`Scanpaths`.

    Each file (``coco_search18_fixations_TP_train_split1.json``, ``..._TA_trainval.json``, ...) is a list of
    trials with ``name`` (image file), ``subject``, ``task`` (target category), ``condition``
    (``"present"``/``"absent"``), ``X``, ``Y`` (fixation pixels on the 1680x1050 display image, the
    initial centre fixation included), ``T`` (durations, ms), ``length``, ``correct``, ``RT``, ``bbox``
    (target ``[x, y, w, h]``) and ``split`` (``"train"``/``"valid"``).

    Parameters
    ----------
    paths : str, Path or sequence of them
        JSON files, or folders whose ``coco_search18_fixations_*.json`` files are all read.
    split : {"train", "valid"}, optional
        Keep only trials of this split (``"validation"`` is read as ``"valid"``).
    task, condition : optional
        Keep only these target categories / ``"present"`` or ``"absent"`` trials.
    size : (height, width) or None
        Display size for the bounds check; ``None`` skips it.
    off_display : {"keep", "drop", "clip"}
        Fixations off the display (the published files hold a few, e.g. ``Y = -5.5`` or ``X = 1703.8``):
        kept unchanged (the table then allows them), dropped, or clipped onto the display's edge
        pixels; each with one ``UserWarning`` giving the count per file.
    empty : {"drop", "raise"}
        Trials without fixations (also those emptied by ``off_display="drop"``): left out with a
        ``UserWarning`` giving the count, or an error.

    Returns
    -------
    Scanpaths
        ``stimulus_id`` = ``name``, ``subject`` = subject number as text, ``task``, ``condition``,
        ``duration`` = ``T`` (ms), ``onset`` NaN (saccade times are not in the files). Per-trial fields are
        extra columns: ``correct``, ``rt`` (ms), ``bbox_x``, ``bbox_y``, ``bbox_w``, ``bbox_h`` (NaN when
        absent), ``split``, ``source`` (file name) and any other scalar field; list them per scanpath
        with :func:`scanpath_attributes`.

    Raises
    ------
    InputError
        Missing files or fields (named), X/Y/T of different lengths, non-finite coordinates, empty trials
        with ``empty="raise"``.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "coco_search18_fixations_TP_train_split1.json"
    >>> rec = {"name": "000000478726.jpg", "subject": 2, "task": "bottle", "condition": "present",
    ...        "bbox": [1063, 68, 95, 334], "X": [848.0, 1058.5], "Y": [509.0, 192.1], "T": [114, 404],
    ...        "length": 2, "correct": 1, "RT": 1282, "split": "train"}
    >>> _ = f.write_text(json.dumps([rec]))
    >>> sp = load_coco_search18(f)
    >>> sp.arrays(with_duration=True)[0].tolist(), scanpath_attributes(sp)["rt"].tolist()
    ([[848.0, 509.0, 114.0], [1058.5, 192.1, 404.0]], [1282.0])
    """
    _check_policy(off_display, empty)
    if split is not None:
        split = {"validation": "valid", "val": "valid"}.get(split, split)
    tasks = None if task is None else ({task} if isinstance(task, str) else set(task))
    columns: dict[str, list] = {k: [] for k in ("scanpath", "fixation", "stimulus_id", "subject", "task", "condition",
                                                "x", "y", "duration")}
    trial_fields: list[dict] = []
    empty_trials: list[str] = []
    n_paths = 0
    for file in _json_files(paths):
        for k, rec in enumerate(_coco_records(file)):
            missing = [f for f in _COCO_REQUIRED if f not in rec]
            if missing:
                raise InputError(f"{file.name}: record {k} lacks the fields {missing} (has {sorted(rec)}); "
                                 f"expected COCO-Search18 fields {list(_COCO_REQUIRED)} plus T, RT, bbox, split")
            if split is not None and "split" not in rec:
                raise InputError(f"{file.name}: record {k} has no 'split' field, so split={split!r} cannot be "
                                 "applied; pass split=None for files without splits")
            if ((split is not None and rec["split"] != split) or (tasks is not None and rec["task"] not in tasks)
                    or (condition is not None and rec["condition"] != condition)):
                continue
            xs, ys = np.asarray(rec["X"], dtype=float).ravel(), np.asarray(rec["Y"], dtype=float).ravel()
            ts = np.asarray(rec["T"], dtype=float).ravel() if "T" in rec else np.full(len(xs), np.nan)
            n = len(xs)
            if len(ys) != n or len(ts) != n or ("length" in rec and int(rec["length"]) != n):
                raise InputError(f"{file.name}: record {k} ({rec['name']}, subject {rec['subject']}) has "
                                 f"len(X)={n}, len(Y)={len(ys)}, len(T)={len(ts)}, length={rec.get('length')}; "
                                 "expected equal lengths")
            if n == 0:
                empty_trials.append(f"{file.name} record {k} ({rec['name']}, subject {rec['subject']})")
                continue
            bbox = rec.get("bbox")
            bbox = np.full(4, np.nan) if bbox is None else np.asarray(bbox, dtype=float).ravel()
            if bbox.size != 4:
                raise InputError(f"{file.name}: record {k} has bbox {rec.get('bbox')!r}; expected [x, y, w, h]")
            fields = {"bbox_x": bbox[0], "bbox_y": bbox[1], "bbox_w": bbox[2], "bbox_h": bbox[3],
                      "correct": rec.get("correct", np.nan), "rt": float(rec.get("RT", np.nan)),
                      "split": rec.get("split", ""), "source": file.name}
            for key, value in rec.items():
                if key not in _COCO_REQUIRED and key not in ("T", "RT", "bbox", "length", "correct", "split") \
                        and np.ndim(value) == 0:
                    fields[key if key not in COLUMNS and key not in fields else f"field_{key}"] = value
            trial_fields.extend([fields] * n)
            columns["scanpath"].extend([n_paths] * n)
            columns["fixation"].extend(range(n))
            for col, val in (("stimulus_id", str(rec["name"])), ("subject", str(rec["subject"])),
                             ("task", str(rec["task"])), ("condition", str(rec["condition"]))):
                columns[col].extend([val] * n)
            columns["x"].extend(xs)
            columns["y"].extend(ys)
            columns["duration"].extend(ts)
            n_paths += 1
    if n_paths == 0 and not empty_trials:
        raise InputError(f"paths: no trial left after filtering (split={split!r}, task={task!r}, "
                         f"condition={condition!r}); expected at least one scanpath")
    table = pd.concat([pd.DataFrame(columns), pd.DataFrame(trial_fields)], axis=1)
    sizes = None
    if size is not None:
        sizes = {i: tuple(size) for i in table["stimulus_id"].unique()}
    return _apply_reader_policy(table, sizes, reader="load_coco_search18", off_display=off_display, empty=empty,
                                empty_paths=empty_trials, by="source")[0]


# -------------------------------------------------------------------------------------- CapMIT1003
def _read_capmit_tables(db_path: Path) -> dict[str, pd.DataFrame]:
    if not db_path.is_file():
        raise InputError(f"db_path: {str(db_path)!r} does not exist; expected the CapMIT1003 SQLite database "
                         "(capmit1003.db) with tables images, captions and clicks")
    try:
        with closing(sqlite3.connect(db_path.resolve().as_uri() + "?mode=ro", uri=True)) as cnx:
            found = {r[0] for r in cnx.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = sorted(set(_CAPMIT_SCHEMA) - found)
            if missing:
                raise InputError(f"{db_path.name}: missing tables {missing} (found {sorted(found)}); expected "
                                 "CapMIT1003 tables images, captions and clicks")
            tables = {name: pd.read_sql_query(f"SELECT * FROM {name}", cnx) for name in _CAPMIT_SCHEMA}
    except sqlite3.DatabaseError as err:
        raise InputError(f"{db_path}: could not be read as an SQLite database ({err}); expected capmit1003.db") from err
    for name, cols in _CAPMIT_SCHEMA.items():
        lacking = [c for c in cols if c not in tables[name].columns]
        if lacking:
            raise InputError(f"{db_path.name}: table {name} lacks columns {lacking} (has "
                             f"{list(tables[name].columns)}); expected {list(cols)}")
    return tables


def _timestamps(values: pd.Series, time_unit: str | None, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        if time_unit is None:
            raise InputError(f"{name}: received numeric timestamps ({values.iloc[0] if len(values) else ''}); "
                             "expected text dates, or say how to read numbers with time_unit='s' or 'ms'")
        return pd.to_datetime(values, unit=time_unit)
    try:
        return pd.to_datetime(values, format="mixed")
    except (ValueError, TypeError) as err:
        raise InputError(f"{name}: could not parse timestamps such as {values.iloc[0]!r} ({err}); "
                         "expected dates like '2022-05-03 14:02:11.532'") from err


def _image_sizes_from_dir(image_dir, names) -> dict[str, tuple[int, int]]:
    from PIL import Image

    sizes = {}
    for name in names:
        path = Path(image_dir) / name
        if not path.is_file():
            raise InputError(f"image_dir: {str(path)!r} does not exist; expected the MIT1003 stimulus {name} "
                             "(ALLSTIMULI folder)")
        with Image.open(path) as im:
            sizes[name] = (im.size[1], im.size[0])
    return sizes


def load_capmit1003(db_path, *, image_dir=None, sizes: Mapping[str, tuple[int, int]] | None = None,
                    time_unit: str | None = None, off_display: str = "keep",
                    empty: str = "drop") -> tuple[Scanpaths, pd.DataFrame]:
    """Read the CapMIT1003 SQLite database: click sequences and the captions written with them.

    The schema (from the dataset's own access code and readme): ``images(img_uid, img_path)``,
    ``captions(obs_uid, usr_uid, start_time, caption, img_uid)`` and
    ``clicks(click_id, obs_uid, x, y, click_time)``; one observation ``obs_uid`` is one user captioning
    one MIT1003 image while clicking where they look.

    Parameters
    ----------
    db_path : str or Path
        ``capmit1003.db``.
    image_dir : str or Path, optional
        MIT1003 ``ALLSTIMULI`` folder; when given, image sizes are read from it and clicks are checked
        to lie inside their image.
    sizes : mapping of image file name to (height, width), optional
        Sizes for the bounds check without reading images.
    time_unit : {"s", "ms"}, optional
        Needed only when the database stores timestamps as numbers (text dates are parsed).
    off_display : {"keep", "drop", "clip"}
        Clicks outside their image (checked when sizes are known): kept unchanged (the table then
        allows them), dropped, or clipped onto the image's edge pixels; each with one ``UserWarning``
        giving the count.
    empty : {"drop", "raise"}
        Observations without clicks (also those emptied by ``off_display="drop"``): left out with a
        ``UserWarning`` giving the count (their caption row keeps ``scanpath`` -1), or an error.

    Returns
    -------
    (Scanpaths, pandas.DataFrame)
        One scanpath per observation, clicks in ``click_id`` order: ``stimulus_id`` = ``img_path`` (the MIT1003
        file name, as :func:`load_mit1003_fixations` names images), ``subject`` = ``usr_uid``,
        ``task`` = ``"caption"``, ``onset`` = ms from ``start_time`` to ``click_time``, ``duration`` NaN;
        extra columns ``obs_uid``, ``img_uid``, ``click_id``. The captions table has one row per
        observation with ``obs_uid, usr_uid, start_time, caption, img_uid, img_path, stimulus_id`` and
        ``scanpath`` (the scanpath id, -1 for an observation left out without clicks).

    Examples
    --------
    >>> import sqlite3, tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "capmit1003.db"); cnx = sqlite3.connect(db)
    >>> _ = cnx.executescript(
    ...     "CREATE TABLE images(img_uid TEXT, img_path TEXT);"
    ...     "CREATE TABLE captions(obs_uid TEXT, usr_uid TEXT, start_time TIMESTAMP, caption TEXT, img_uid TEXT);"
    ...     "CREATE TABLE clicks(click_id INTEGER, obs_uid TEXT, x INTEGER, y INTEGER, click_time TIMESTAMP);"
    ...     "INSERT INTO images VALUES ('i1', 'i1.jpeg');"
    ...     "INSERT INTO captions VALUES ('o1', 'u1', '2022-01-01 10:00:00.000', 'a dog', 'i1');"
    ...     "INSERT INTO clicks VALUES (1, 'o1', 10, 20, '2022-01-01 10:00:01.500');")
    >>> cnx.commit(); cnx.close()
    >>> sp, captions = load_capmit1003(db)
    >>> sp.table[["stimulus_id", "x", "y", "onset"]].values.tolist(), captions["caption"].tolist()
    ([['i1.jpeg', 10.0, 20.0, 1500.0]], ['a dog'])
    """
    _check_policy(off_display, empty)
    db_path = Path(db_path)
    tables = _read_capmit_tables(db_path)
    images, captions, clicks = tables["images"], tables["captions"].copy(), tables["clicks"].copy()
    if captions["obs_uid"].duplicated().any():
        dup = captions.loc[captions["obs_uid"].duplicated(), "obs_uid"].iloc[0]
        raise InputError(f"{db_path.name}: obs_uid {dup!r} appears twice in captions; expected one row per observation")
    if images["img_uid"].duplicated().any():
        dup = images.loc[images["img_uid"].duplicated(), "img_uid"].iloc[0]
        raise InputError(f"{db_path.name}: img_uid {dup!r} appears twice in images; expected one row per image")
    captions = captions.merge(images[["img_uid", "img_path"]], on="img_uid", how="left")
    if captions["img_path"].isna().any():
        bad = captions.loc[captions["img_path"].isna(), "img_uid"].iloc[0]
        raise InputError(f"{db_path.name}: caption image {bad!r} is not in the images table; expected every "
                         "captions.img_uid in images")
    captions["stimulus_id"] = captions["img_path"].map(lambda p: Path(str(p)).name)
    orphan = ~clicks["obs_uid"].isin(captions["obs_uid"])
    if orphan.any():
        raise InputError(f"{db_path.name}: {int(orphan.sum())} clicks belong to no caption (e.g. obs_uid "
                         f"{clicks.loc[orphan, 'obs_uid'].iloc[0]!r}); expected every clicks.obs_uid in captions")
    if not len(clicks):
        raise InputError(f"{db_path.name}: the clicks table is empty; expected click sequences")
    without = captions[~captions["obs_uid"].isin(clicks["obs_uid"])]
    empty_obs = [f"obs_uid {o!r} ({i}, usr_uid {u!r})" for o, i, u in
                 zip(without["obs_uid"], without["stimulus_id"], without["usr_uid"])]
    scanpath_of = pd.Series(np.arange(len(captions)), index=captions["obs_uid"].to_numpy())
    start = pd.Series(_timestamps(captions["start_time"], time_unit, "captions.start_time").to_numpy(),
                      index=captions["obs_uid"].to_numpy())
    clicks["click_time_parsed"] = _timestamps(clicks["click_time"], time_unit, "clicks.click_time")
    clicks = clicks.sort_values(["obs_uid", "click_id"], kind="stable")
    by_obs = captions.set_index("obs_uid")
    onset = (clicks["click_time_parsed"] - clicks["obs_uid"].map(start)).dt.total_seconds() * 1000.0
    table = pd.DataFrame({
        "scanpath": clicks["obs_uid"].map(scanpath_of).to_numpy(),
        "fixation": clicks.groupby("obs_uid", sort=False).cumcount().to_numpy(),
        "stimulus_id": clicks["obs_uid"].map(by_obs["stimulus_id"]).to_numpy(),
        "subject": clicks["obs_uid"].map(by_obs["usr_uid"]).astype(str).to_numpy(),
        "task": "caption", "condition": "",
        "x": clicks["x"].to_numpy(dtype=float), "y": clicks["y"].to_numpy(dtype=float),
        "onset": onset.to_numpy(dtype=float), "duration": np.nan,
        "obs_uid": clicks["obs_uid"].astype(str).to_numpy(),
        "img_uid": clicks["obs_uid"].map(by_obs["img_uid"]).astype(str).to_numpy(),
        "click_id": clicks["click_id"].to_numpy()})
    sizes = dict(sizes) if sizes is not None else None
    if image_dir is not None:
        sizes = {**_image_sizes_from_dir(image_dir, sorted(table["stimulus_id"].unique())), **(sizes or {})}
    sp, new_id = _apply_reader_policy(table, sizes, reader=f"load_capmit1003({db_path.name})",
                                      off_display=off_display, empty=empty, empty_paths=empty_obs)
    captions["scanpath"] = [new_id.get(k, -1) for k in range(len(captions))]
    out = captions[["obs_uid", "usr_uid", "start_time", "caption", "img_uid", "img_path", "stimulus_id", "scanpath"]]
    return sp, out.reset_index(drop=True)
