"""Fixations as pysaliency stores them (MIT1003, CAT2000, ...), read with h5py or from pysaliency objects.

Every HDF5 layout pysaliency writes (``FixationTrains``, ``ScanpathFixations``, ``Scanpaths``,
``Fixations``) and the matching in-memory objects become one :class:`~neuroperception.scanpaths.table.Scanpaths`;
:func:`load_mit1003_fixations` is re-exported by :mod:`neuroperception.scanpaths.readers`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._reader_policy import _apply_reader_policy, _check_policy
from .table import COLUMNS, Scanpaths

__all__ = ["load_mit1003_fixations"]


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _attr_group(group) -> dict[str, np.ndarray]:
    names = json.loads(_text(group.attrs["__attributes__"])) if "__attributes__" in group.attrs else list(group)
    return {name: group[name][...] for name in names}


def _trains_from_hdf5(source, where: str) -> dict[str, Any]:
    """Padded per-scanpath arrays from a pysaliency HDF5 group (every layout pysaliency writes)."""
    kind = _text(source.attrs.get("type", b""))
    if kind == "FixationTrains":
        missing = [k for k in ("train_xs", "train_ys", "train_ts", "train_ns", "train_subjects") if k not in source]
        if missing:
            raise InputError(f"{where}: FixationTrains lacks datasets {missing}; expected pysaliency's layout")
        fix_attrs = _attr_group(source["scanpath_fixation_attributes"]) if "scanpath_fixation_attributes" in source \
            else {}
        mapping = json.loads(_text(source.attrs.get("scanpath_attribute_mapping", b"{}")))
        return {"xs": source["train_xs"][...], "ys": source["train_ys"][...], "ts": source["train_ts"][...],
                "n": source["train_ns"][...], "subject": source["train_subjects"][...],
                "scanpath_attributes": _attr_group(source["scanpath_attributes"])
                if "scanpath_attributes" in source else {}, "fixation_attributes": fix_attrs, "mapping": mapping}
    if kind == "ScanpathFixations":
        return _trains_from_hdf5(source["scanpaths"], where)
    if kind == "Scanpaths":
        sp_attrs = _attr_group(source["scanpath_attributes"])
        fix_attrs = _attr_group(source["fixation_attributes"])
        xs = source["xs"][...]
        ts = fix_attrs.pop("ts", np.full(xs.shape, np.nan))
        return {"xs": xs, "ys": source["ys"][...], "ts": ts, "n": source["n"][...],
                "subject": sp_attrs.pop("subject", np.zeros(len(xs), dtype=int)),
                "lengths": source["lengths" if "lengths" in source else "length"][...],
                "scanpath_attributes": sp_attrs, "fixation_attributes": fix_attrs,
                "mapping": json.loads(_text(source.attrs.get("attribute_mapping", b"{}")))}
    if kind == "Fixations":
        names = json.loads(_text(source.attrs.get("__attributes__", b"[]")))
        extra = {k: source[k][...] for k in names if k in source and k not in ("subject", "subjects")}
        return {"x": source["x"][...], "y": source["y"][...], "t": source["t"][...], "n": source["n"][...],
                "subject": source["subject" if "subject" in source else "subjects"][...], "attributes": extra}
    raise InputError(f"{where}: HDF5 type {kind!r}; expected pysaliency 'FixationTrains', 'ScanpathFixations', "
                     "'Scanpaths' or 'Fixations'")


def _trains_from_object(obj) -> dict[str, Any]:
    if hasattr(obj, "scanpaths") and hasattr(obj.scanpaths, "xs"):  # pysaliency >= 0.3
        sp = obj.scanpaths
        sp_attrs = {k: np.asarray(v) for k, v in sp.scanpath_attributes.items()}
        fix_attrs = {k: np.asarray(v._data) for k, v in sp.fixation_attributes.items()}
        xs = np.asarray(sp.xs._data)
        return {"xs": xs, "ys": np.asarray(sp.ys._data), "ts": fix_attrs.pop("ts", np.full(xs.shape, np.nan)),
                "n": np.asarray(sp.n), "subject": sp_attrs.pop("subject", np.zeros(len(xs), dtype=int)),
                "lengths": np.asarray(sp.xs.lengths), "scanpath_attributes": sp_attrs,
                "fixation_attributes": fix_attrs, "mapping": dict(sp.attribute_mapping)}
    if hasattr(obj, "train_xs"):
        return {"xs": np.asarray(obj.train_xs), "ys": np.asarray(obj.train_ys), "ts": np.asarray(obj.train_ts),
                "n": np.asarray(obj.train_ns), "subject": np.asarray(obj.train_subjects),
                "scanpath_attributes": dict(getattr(obj, "scanpath_attributes", {}) or {}),
                "fixation_attributes": dict(getattr(obj, "scanpath_fixation_attributes", {}) or {}),
                "mapping": dict(getattr(obj, "scanpath_attribute_mapping", {}) or {})}
    if all(hasattr(obj, a) for a in ("x", "y", "t", "n")):
        subject = getattr(obj, "subject", None)
        subject = getattr(obj, "subjects", None) if subject is None else subject
        extra = {k: np.asarray(getattr(obj, k)) for k in getattr(obj, "__attributes__", [])
                 if k not in ("subject", "subjects") and hasattr(obj, k)}
        return {"x": np.asarray(obj.x), "y": np.asarray(obj.y), "t": np.asarray(obj.t), "n": np.asarray(obj.n),
                "subject": np.zeros(len(obj.x), dtype=int) if subject is None else np.asarray(subject),
                "attributes": extra}
    raise InputError(f"path: received {type(obj).__name__}; expected an HDF5 file, a folder holding "
                     "fixations.hdf5, or a pysaliency FixationTrains/ScanpathFixations/Fixations object")


def _stimulus_names(stimuli, default_dir: Path | None) -> tuple[list[str] | None, dict[int, tuple[int, int]]]:
    """Image ids (file names) and sizes by stimulus index, from whatever describes the stimuli."""
    if stimuli is None and default_dir is not None and (default_dir / "stimuli.hdf5").is_file():
        stimuli = default_dir / "stimuli.hdf5"
    if stimuli is None:
        return None, {}
    if isinstance(stimuli, (str, Path)):
        import h5py

        path = Path(stimuli)
        if not path.is_file():
            raise InputError(f"stimuli: {str(path)!r} does not exist; expected pysaliency's stimuli.hdf5")
        with h5py.File(path, "r") as f:
            kind = _text(f.attrs.get("type", b""))
            if kind == "FileStimuli":
                names = [Path(_text(v)).name for v in f["filenames"][...]]
                shapes = f["shapes"][...] if "shapes" in f else []
                sizes = {k: (int(s[0]), int(s[1])) for k, s in enumerate(shapes)}
                return names, sizes
            if kind == "Stimuli":
                count = int(f.attrs["size"])
                return [str(k) for k in range(count)], {k: tuple(f[str(k)].shape[:2]) for k in range(count)}
        raise InputError(f"stimuli: {path.name} has HDF5 type {kind!r}; expected pysaliency 'FileStimuli' or 'Stimuli'")
    if hasattr(stimuli, "filenames"):
        return [Path(str(p)).name for p in stimuli.filenames], {k: tuple(s[:2]) for k, s in enumerate(stimuli.sizes)}
    if hasattr(stimuli, "sizes") and hasattr(stimuli, "stimuli"):
        return [str(k) for k in range(len(stimuli.sizes))], {k: tuple(s[:2]) for k, s in enumerate(stimuli.sizes)}
    if isinstance(stimuli, Sequence):
        return [str(s) for s in stimuli], {}
    raise InputError(f"stimuli: received {type(stimuli).__name__}; expected a path to stimuli.hdf5, a pysaliency "
                     "Stimuli object or a list of image ids")


def _add_attribute(df: pd.DataFrame, name: str, values: np.ndarray, time_scale: float) -> None:
    """Store an attribute as a column: durations become ``duration`` (ms), clashes get an ``attr_`` prefix."""
    if name in ("duration", "durations"):
        df["duration"] = np.asarray(values, dtype=float) * time_scale
        return
    if name in COLUMNS and name not in ("task", "condition"):
        name = f"attr_{name}"
    if values.ndim == 1:
        df[name] = np.array([_text(v) for v in values]) if values.dtype.kind in "SO" else values
    elif values.ndim == 2 and not name.endswith("_hist"):
        for j in range(values.shape[1]):
            df[f"{name}_{j}"] = values[:, j]


def _rows_from_trains(d: dict[str, Any], time_scale: float) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per fixation (``scanpath`` = train index) and the indices of the trains without fixations."""
    if "xs" not in d:  # plain Fixations: one scanpath per stored scanpath_index, else per (image, subject)
        attrs = dict(d["attributes"])
        index = attrs.pop("scanpath_index", None)
        keys = index if index is not None else \
            pd.factorize(pd.Series(list(zip(d["n"].tolist(), d["subject"].tolist()))))[0]
        df = pd.DataFrame({"scanpath": keys, "n": d["n"], "subject": d["subject"], "x": d["x"], "y": d["y"],
                           "onset": d["t"] * time_scale})
        for name, value in attrs.items():
            if not name.endswith("_hist") and len(value) == len(df):
                _add_attribute(df, name, np.asarray(value), time_scale)
        df = df.sort_values(["scanpath", "onset"], kind="stable")
        df["fixation"] = df.groupby("scanpath").cumcount()
        return df, np.zeros(0, dtype=int)
    xs, ys, ts = (np.asarray(d[k], dtype=float) for k in ("xs", "ys", "ts"))
    lengths = d.get("lengths")
    lengths = (~np.isnan(xs)).sum(axis=1) if lengths is None else np.asarray(lengths, dtype=int)
    rows, cols = np.nonzero(np.arange(xs.shape[1])[None, :] < lengths[:, None])
    df = pd.DataFrame({"scanpath": rows, "fixation": cols, "n": np.asarray(d["n"])[rows],
                       "subject": np.asarray(d["subject"])[rows], "x": xs[rows, cols], "y": ys[rows, cols],
                       "onset": ts[rows, cols] * time_scale})
    for name, value in d["fixation_attributes"].items():
        value = np.asarray(value)
        if value.ndim == 2 and value.shape[0] == len(xs):
            _add_attribute(df, d["mapping"].get(name, name), value[rows, cols], time_scale)
    for name, value in d["scanpath_attributes"].items():
        if len(value) == len(xs):
            _add_attribute(df, name, np.asarray(value)[rows], time_scale)
    return df, np.flatnonzero(lengths == 0)


def load_mit1003_fixations(path, stimuli=None, *, time_scale: float = 1000.0, off_display: str = "keep",
                           empty: str = "drop") -> Scanpaths:
    """Read fixations stored the way pysaliency stores them (MIT1003, CAT2000, COCO-Search18, ...).

    ``pysaliency.get_mit1003(location=...)`` writes ``MIT1003/stimuli.hdf5`` (a ``FileStimuli``: image
    file names and shapes) and ``MIT1003/fixations.hdf5`` (a ``FixationTrains``: NaN-padded ``train_xs``,
    ``train_ys``, ``train_ts`` in seconds, ``train_ns`` image indices, ``train_subjects``, and groups
    ``scanpath_attributes`` / ``scanpath_fixation_attributes`` such as ``durations`` in seconds). Newer
    pysaliency writes ``ScanpathFixations`` (a ``scanpaths`` group with ``xs``, ``ys``, ``n``, ``lengths``).
    Both, and plain ``Fixations``, are read with h5py; pysaliency is not needed.

    Parameters
    ----------
    path : str, Path or pysaliency object
        The dataset folder (holding ``fixations.hdf5``), the HDF5 file itself, or a pysaliency
        ``FixationTrains``/``ScanpathFixations``/``Fixations`` object.
    stimuli : path, pysaliency Stimuli or list of str, optional
        Names the images: ``stimuli.hdf5`` (found next to the fixations by default), a pysaliency
        ``Stimuli``/``FileStimuli``, or one id per stimulus index. Without it ids are the indices as text.
    time_scale : float
        Factor from the stored time unit to ms (pysaliency stores seconds: 1000).
    off_display : {"keep", "drop", "clip"}
        Fixations outside their image (checked when the stimulus sizes are known; pysaliency's
        COCO-Search18 keeps the few off-display ones of the published files): kept unchanged (the
        table then allows them), dropped, or clipped onto the image's edge pixels; each with one
        ``UserWarning`` giving the count.
    empty : {"drop", "raise"}
        Scanpaths without fixations (pysaliency's MIT1003 stores a train whose fixations were all
        outside the image, or only the skipped initial one, as an empty row; also those emptied by
        ``off_display="drop"``): left out with a ``UserWarning`` giving the count, or an error.

    Returns
    -------
    Scanpaths
        ``stimulus_id`` = image file name, ``subject`` = subject index as text, ``onset`` = ``t`` (ms),
        ``duration`` from the ``durations`` attribute (ms) when stored; extra columns ``n`` (stimulus
        index) and the other scanpath attributes. Plain ``Fixations`` are grouped per stored
        ``scanpath_index``, else per (image, subject) in time order. Scanpath ids are ``0..n-1`` in the
        stored order of the scanpaths kept.

    Examples
    --------
    >>> import h5py, json, tempfile, os, numpy as np
    >>> f = os.path.join(tempfile.mkdtemp(), "fixations.hdf5")
    >>> with h5py.File(f, "w") as h:
    ...     h.attrs["type"], h.attrs["version"] = np.bytes_("FixationTrains"), np.bytes_("1.2")
    ...     for k, v in dict(train_xs=[[5., 9.]], train_ys=[[3., 4.]], train_ts=[[0., .3]], train_ns=[0],
    ...                      train_subjects=[1]).items():
    ...         _ = h.create_dataset(k, data=np.array(v))
    >>> load_mit1003_fixations(f, stimuli=["img.jpeg"]).table[["stimulus_id", "subject", "x", "onset"]].values.tolist()
    [['img.jpeg', '1', 5.0, 0.0], ['img.jpeg', '1', 9.0, 300.0]]
    """
    _check_policy(off_display, empty)
    default_dir, reader = None, f"load_mit1003_fixations({type(path).__name__})"
    if isinstance(path, (str, Path)):
        import h5py

        p = Path(path)
        if p.is_dir():
            if not (p / "fixations.hdf5").is_file():
                raise InputError(f"path: the folder {str(p)!r} holds no fixations.hdf5; expected pysaliency's "
                                 "dataset folder (e.g. MIT1003/ with fixations.hdf5 and stimuli.hdf5)")
            p = p / "fixations.hdf5"
        elif not p.is_file():
            raise InputError(f"path: {str(p)!r} does not exist; expected pysaliency's fixations.hdf5 or its folder")
        default_dir, reader = p.parent, f"load_mit1003_fixations({p.name})"
        try:
            with h5py.File(p, "r") as f:
                trains = _trains_from_hdf5(f, p.name)
        except OSError as err:
            raise InputError(f"path: {str(p)!r} could not be read as HDF5 ({err}); expected pysaliency's "
                             "fixations.hdf5") from err
    else:
        trains = _trains_from_object(path)
    df, empty_trains = _rows_from_trains(trains, float(time_scale))
    all_n = np.asarray(trains["n"], dtype=int)
    if not len(all_n):
        raise InputError(f"{reader}: holds no scanpaths; expected pysaliency fixations")
    names, sizes = _stimulus_names(stimuli, default_dir)
    if names is not None and all_n.max() >= len(names):
        raise InputError(f"stimuli: {len(names)} stimuli named, but fixations refer to stimulus index "
                         f"{int(all_n.max())}; expected one name per stimulus index")
    ids = np.asarray(names, dtype=object) if names is not None else np.arange(all_n.max() + 1).astype(str)
    df["stimulus_id"] = ids[df["n"].to_numpy(dtype=int)]
    df["subject"] = df["subject"].map(_subject_text)
    subjects = np.asarray(trains["subject"])
    empty_paths = [f"train {k} ({ids[all_n[k]]}, subject {_subject_text(subjects[k])})" for k in empty_trains]
    used = set(df["n"].tolist())
    sizes = {ids[k]: s for k, s in sizes.items() if k in used}
    return _apply_reader_policy(df, sizes, reader=reader, off_display=off_display, empty=empty,
                                empty_paths=empty_paths)[0]


def _subject_text(s) -> str:
    return str(int(s)) if isinstance(s, (int, np.integer, float)) else _text(s)
