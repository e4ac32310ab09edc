"""Every scanpath reader on the quirks of the real files: fixations off the image and scanpaths without fixations.

One policy for all readers: ``off_display="keep"|"drop"|"clip"`` (default keep, one UserWarning with the
count) and ``empty="drop"|"raise"`` (default drop, one UserWarning with the count). The COCO-Search18
fixture (tests/data/scanpaths/) is synthetic, in the published files' layout, with off-display
fixations like those of the real validation files; the pysaliency files are written here by pysaliency
itself or in the HDF5 layout pysaliency >= 0.3 writes.
"""

import json
import sqlite3
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from neuroperception.errors import InputError
from neuroperception.scanpaths import Scanpaths
from neuroperception.scanpaths.readers import load_capmit1003, load_coco_search18, load_mit1003_fixations

DATA = Path(__file__).parent / "data" / "scanpaths"
COCO_FILE = DATA / "coco_search18_fixations_TP_validation_split1.json"
H, W = 1050, 1680


def _records():
    return json.loads(COCO_FILE.read_text())


def _off(x, y, h=H, w=W):
    x, y = np.asarray(x, float), np.asarray(y, float)
    return (x < 0) | (y < 0) | (x >= w) | (y >= h)


def _load(*args, **kwargs):
    """Call a reader and return (result, the UserWarning messages it issued)."""
    reader = kwargs.pop("reader", load_coco_search18)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = reader(*args, **kwargs)
    return out, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


# ------------------------------------------------------------------------------------ COCO-Search18


def test_coco_search18_fixture_reproduces_the_real_quirks():
    recs = _records()
    off = [int(_off(r["X"], r["Y"]).sum()) for r in recs]
    assert sum(off) == 4 and min(r["length"] for r in recs) == 1  # off-display fixations, a centre-only trial
    assert list(recs[0]) == ["name", "subject", "task", "condition", "bbox", "X", "Y", "T", "length", "correct",
                             "RT", "split"]


def test_coco_search18_keeps_off_display_fixations_by_default_with_one_warning():
    recs = _records()
    sp, messages = _load(COCO_FILE)
    assert len(messages) == 1
    assert "4 of 43 fixations lie outside their image" in messages[0] and COCO_FILE.name in messages[0]
    assert len(sp) == len(recs) and sp.allow_off_display and sp.sizes[recs[0]["name"]] == (H, W)
    for rec, arr in zip(recs, sp.arrays(with_duration=True)):
        np.testing.assert_array_equal(arr, np.c_[rec["X"], rec["Y"], rec["T"]])  # unchanged
    # selecting and rescaling carry the kept fixations along, scaled like the others
    assert sp.select(task="chair").allow_off_display
    small = sp.rescale(from_size=None, to_size=(105, 168))
    assert small.allow_off_display and small.table["y"].min() == pytest.approx(-0.55)
    np.testing.assert_allclose(small.table["x"], sp.table["x"] / 10)


def test_coco_search18_drop_removes_off_display_fixations_and_renumbers():
    recs = _records()
    sp, messages = _load(COCO_FILE, off_display="drop")
    assert len(messages) == 1 and "4 of 43" in messages[0] and "dropped them" in messages[0]
    assert sp.n_fixations == 39 and not sp.allow_off_display
    for rec, arr in zip(recs, sp.arrays(with_duration=True)):
        keep = ~_off(rec["X"], rec["Y"])
        np.testing.assert_array_equal(arr, np.c_[rec["X"], rec["Y"], rec["T"]][keep])
    assert (sp.table.groupby("scanpath")["fixation"].apply(lambda f: f.tolist() == list(range(len(f))))).all()
    sp.check_bounds(sp.sizes)  # nothing left outside


def test_coco_search18_clip_moves_them_onto_the_edge_pixels():
    recs = _records()
    sp, messages = _load(COCO_FILE, off_display="clip")
    assert len(messages) == 1 and "4 of 43" in messages[0] and "clipped" in messages[0]
    assert sp.n_fixations == 43 and not sp.allow_off_display
    for rec, arr in zip(recs, sp.arrays()):
        x, y = np.asarray(rec["X"]), np.asarray(rec["Y"])
        np.testing.assert_array_equal(arr, np.c_[np.clip(x, 0, W - 1), np.clip(y, 0, H - 1)])
    assert sorted(sp.table.loc[sp.table["y"] == H - 1, "stimulus_id"]) == ["000000107226.jpg", "000000109227.jpg"]


def test_coco_search18_in_bounds_files_load_without_warnings(tmp_path):
    recs = [r for r in _records() if not _off(r["X"], r["Y"]).any()]
    f = tmp_path / COCO_FILE.name
    f.write_text(json.dumps(recs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sp = load_coco_search18(f)
    assert len(sp) == len(recs) and not sp.allow_off_display


def test_coco_search18_empty_trials(tmp_path):
    recs = _records()
    empty = {**recs[0], "X": [], "Y": [], "T": [], "length": 0}
    all_off = {**recs[1], "X": [1700.0, 1712.5], "Y": [500.0, 20.0], "T": [100, 200], "length": 2}
    f = tmp_path / COCO_FILE.name
    f.write_text(json.dumps([empty] + recs + [all_off]))
    sp, messages = _load(f)  # defaults: the empty trial left out, the off-display one kept
    assert len(sp) == len(recs) + 1 and sorted(sp.meta["scanpath"]) == list(range(len(recs) + 1))
    assert any("left out 1 scanpath without fixations" in m and "record 0" in m for m in messages)
    sp, messages = _load(f, off_display="drop")  # now the second trial is emptied too
    assert len(sp) == len(recs)
    assert any("left out 2 scanpaths" in m and "all of whose fixations were off the image" in m for m in messages)
    with pytest.raises(InputError, match=r"2 scanpaths without fixations .*record 0"), pytest.warns(UserWarning):
        load_coco_search18(f, off_display="drop", empty="raise")
    f.write_text(json.dumps([empty]))
    with pytest.raises(InputError, match="no fixation left"), pytest.warns(UserWarning, match="left out 1"):
        load_coco_search18(f)


def test_policy_values_and_bad_coordinates_are_errors(tmp_path):
    with pytest.raises(InputError, match=r"off_display: received 'ignore'; expected one of \['keep', 'drop', 'clip'\]"):
        load_coco_search18(COCO_FILE, off_display="ignore")
    with pytest.raises(InputError, match="empty: received 'keep', but a Scanpaths table has one row per fixation"):
        load_coco_search18(COCO_FILE, empty="keep")
    for reader in (load_capmit1003, load_mit1003_fixations):
        with pytest.raises(InputError, match="off_display: received 'skip'"):
            reader(tmp_path / "whatever", off_display="skip")
    rec = {**_records()[0], "X": [845.0, float("nan"), 12.0, 13.0, 14.0]}
    f = tmp_path / COCO_FILE.name
    f.write_text(json.dumps([rec]))
    for mode in ("keep", "drop", "clip"):  # NaN is bad input, not an off-display fixation
        with pytest.raises(InputError, match="NaN/Inf x or y"):
            load_coco_search18(f, off_display=mode)


def test_table_allows_off_display_fixations_only_when_asked():
    df = pd.DataFrame({"stimulus_id": ["a", "a"], "x": [5.0, 12.5], "y": [3.0, -1.0]})
    with pytest.raises(InputError, match="outside their image"):
        Scanpaths(df, {"a": (10, 10)})
    sp = Scanpaths(df, {"a": (10, 10)}, allow_off_display=True)
    assert sp.n_fixations == 2 and sp.sizes == {"a": (10, 10)}
    assert Scanpaths.from_dataframe(df, {"a": (10, 10)}, allow_off_display=True).allow_off_display
    with pytest.raises(InputError, match="NaN/Inf"):
        Scanpaths(df.assign(x=[5.0, np.inf]), {"a": (10, 10)}, allow_off_display=True)


# --------------------------------------------------------------------------------------- CapMIT1003


def _capmit_db(path):
    """capmit1003.db with two clicks off their image and one observation without clicks."""
    cnx = sqlite3.connect(path)
    cnx.executescript(
        "CREATE TABLE images (img_uid TEXT PRIMARY KEY, img_path TEXT);"
        "CREATE TABLE captions (obs_uid TEXT PRIMARY KEY, usr_uid TEXT, start_time TIMESTAMP, caption TEXT, "
        "img_uid TEXT);"
        "CREATE TABLE clicks (click_id INTEGER PRIMARY KEY, obs_uid TEXT, x INTEGER, y INTEGER, click_time TIMESTAMP);"
        "INSERT INTO images VALUES ('i1', 'i1.jpeg'), ('i2', 'i2.jpeg');"
        "INSERT INTO captions VALUES ('o1', 'u1', '2022-01-01 10:00:00.000', 'a dog', 'i1'),"
        " ('o2', 'u2', '2022-01-01 10:05:00.000', 'a cat', 'i2'), ('o3', 'u1', '2022-01-01 10:09:00.000', '', 'i2'),"
        " ('o4', 'u3', '2022-01-01 10:12:00.000', 'a car', 'i1');"
        "INSERT INTO clicks VALUES (1, 'o1', 10, 20, '2022-01-01 10:00:01.000'), (2, 'o1', 64, 20, "
        "'2022-01-01 10:00:02.000'), (3, 'o1', 30, 30, '2022-01-01 10:00:03.000'),"
        " (4, 'o2', 5, 5, '2022-01-01 10:05:01.000'), (5, 'o4', 12, 48, '2022-01-01 10:12:01.000');")
    cnx.commit()
    cnx.close()


def test_capmit1003_off_image_clicks_and_observations_without_clicks(tmp_path):
    db = tmp_path / "capmit1003.db"
    _capmit_db(db)
    sizes = {"i1.jpeg": (48, 64), "i2.jpeg": (40, 40)}  # clicks 2 (x=64) and 5 (y=48) are off i1
    (sp, captions), messages = _load(db, sizes=sizes, reader=load_capmit1003)
    assert len(messages) == 2 and sp.allow_off_display and sp.n_fixations == 5
    assert any("2 of 5 fixations lie outside" in m and "capmit1003.db" in m for m in messages)
    assert any("left out 1 scanpath without fixations" in m and "'o3'" in m for m in messages)
    assert captions.set_index("obs_uid")["scanpath"].to_dict() == {"o1": 0, "o2": 1, "o3": -1, "o4": 2}

    (sp, captions), messages = _load(db, sizes=sizes, off_display="drop", reader=load_capmit1003)
    assert sp.table["click_id"].tolist() == [1, 3, 4]
    assert captions.set_index("obs_uid")["scanpath"].to_dict() == {"o1": 0, "o2": 1, "o3": -1, "o4": -1}
    assert any("left out 2 scanpaths" in m for m in messages)
    for k, row in captions[captions["scanpath"] >= 0].iterrows():  # the caption still names its clicks
        assert sp.select(scanpath=row["scanpath"]).table["obs_uid"].unique().tolist() == [row["obs_uid"]]

    (sp, _), _ = _load(db, sizes=sizes, off_display="clip", reader=load_capmit1003)
    assert sp.table[["x", "y"]].values.tolist() == [[10, 20], [63, 20], [30, 30], [5, 5], [12, 47]]
    with pytest.raises(InputError, match=r"1 scanpath without fixations \(e\.g\. obs_uid 'o3'"):
        load_capmit1003(db, empty="raise")


# ------------------------------------------------------------------------------ MIT1003 / pysaliency


@pytest.fixture
def pysaliency_mod(monkeypatch):
    """pysaliency 0.2.x writes attributes with ``np.string_``, which NumPy 2 renamed ``np.bytes_``."""
    monkeypatch.setattr(np, "string_", np.bytes_, raising=False)
    return pytest.importorskip("pysaliency")


def _mit1003_trains(rng, sizes):
    """Trains filtered as pysaliency's get_mit1003 does: fixations with x, y strictly inside kept, then the
    first one skipped, so a train may be left empty."""
    out = {k: [] for k in ("xs", "ys", "ts", "ns", "subjects", "durations")}
    for n, (h, w) in enumerate(sizes):
        for s in range(4):
            length = int(rng.integers(1, 6))
            x, y = rng.uniform(-0.3 * w, 1.3 * w, length), rng.uniform(-0.3 * h, 1.3 * h, length)
            if s == 0:
                x[:] = -5.0  # a blink-only recording: nothing valid
            t, d = np.sort(rng.uniform(0, 3, length)), rng.uniform(0.05, 0.6, length)
            valid = (x > 0) & (x < w) & (y > 0) & (y < h)
            for key, v in zip(("xs", "ys", "ts", "durations"), (x, y, t, d)):
                out[key].append(v[valid][1:])
            out["ns"].append(n)
            out["subjects"].append(s)
    return out


def test_mit1003_empty_trains_written_by_pysaliency(tmp_path, pysaliency_mod):
    ps = pysaliency_mod
    tr = _mit1003_trains(np.random.default_rng(11), [(30, 40), (45, 25)])
    n_empty = sum(len(x) == 0 for x in tr["xs"])
    assert 2 <= n_empty < len(tr["xs"])
    fixations = ps.FixationTrains.from_fixation_trains(
        tr["xs"], tr["ys"], tr["ts"], tr["ns"], tr["subjects"],
        scanpath_fixation_attributes={"durations": tr["durations"]},
        scanpath_attribute_mapping={"durations": "duration"})
    f = tmp_path / "fixations.hdf5"
    fixations.to_hdf5(str(f))
    sp, messages = _load(f, stimuli=["a.jpeg", "b.jpeg"], reader=load_mit1003_fixations)
    assert len(messages) == 1 and f"left out {n_empty} scanpaths without fixations" in messages[0]
    t = sp.table
    np.testing.assert_allclose(t["x"], fixations.x)
    np.testing.assert_allclose(t["y"], fixations.y)
    np.testing.assert_allclose(t["onset"], fixations.t * 1000)
    np.testing.assert_allclose(t["duration"], fixations.duration * 1000)
    assert t["scanpath"].tolist() == pd.factorize(fixations.scanpath_index)[0].tolist()
    assert t["subject"].tolist() == [str(s) for s in fixations.subjects]
    with pytest.raises(InputError, match=r"scanpaths without fixations \(e\.g\. train 0 \(a\.jpeg, subject 0\)"):
        load_mit1003_fixations(f, stimuli=["a.jpeg", "b.jpeg"], empty="raise")


def _write_scanpath_fixations(path, xs, ys, ns, subjects):
    """The layout pysaliency >= 0.3 writes (ScanpathFixations.to_hdf5 around Scanpaths.to_hdf5)."""
    lengths = np.array([len(x) for x in xs])
    pad = lambda rows: np.array([np.r_[r, np.full(lengths.max() - len(r), np.nan)] for r in rows])  # noqa: E731
    with h5py.File(path, "w") as h:
        h.attrs["type"], h.attrs["version"] = np.bytes_("ScanpathFixations"), np.bytes_("1.0")
        g = h.create_group("scanpaths")
        g.attrs["type"], g.attrs["version"] = np.bytes_("Scanpaths"), np.bytes_("1.0")
        for name, data in (("xs", pad(xs)), ("ys", pad(ys)), ("n", np.asarray(ns)), ("length", lengths)):
            g.create_dataset(name, data=data)
        sa = g.create_group("scanpath_attributes")
        sa.create_dataset("subject", data=np.asarray(subjects))
        sa.attrs["__attributes__"] = np.bytes_(json.dumps(["subject"]))
        fa = g.create_group("fixation_attributes")
        fa.create_dataset("durations", data=pad([np.full(len(x), 0.2) for x in xs]))
        fa.create_dataset("ts", data=pad([np.arange(len(x)) * 0.25 for x in xs]))
        fa.attrs["__attributes__"] = np.bytes_(json.dumps(["durations", "ts"]))
        g.attrs["attribute_mapping"] = np.bytes_(json.dumps({"durations": "duration"}))


def _write_file_stimuli(path, names, shapes):
    with h5py.File(path, "w") as h:
        h.attrs["type"], h.attrs["version"], h.attrs["size"] = np.bytes_("FileStimuli"), np.bytes_("2.1"), len(names)
        h.create_dataset("filenames", data=np.array([f"stimuli/{n}".encode() for n in names]))
        h.create_dataset("shapes", data=np.array(shapes))


def test_pysaliency_newer_layout_with_empty_rows_and_off_display_fixations(tmp_path):
    """COCO-Search18 as pysaliency stores it keeps the published off-display fixations; MIT1003 empty rows."""
    folder = tmp_path / "COCO-Search18"
    folder.mkdir()
    xs = [[848.3, 1703.8, 900.0], [], [840.0, 1091.1], [845.0]]
    ys = [[530.0, 538.1, 400.0], [], [525.0, -5.5], [520.0]]
    _write_scanpath_fixations(folder / "fixations.hdf5", xs, ys, ns=[0, 1, 1, 0], subjects=[1, 2, 3, 4])
    _write_file_stimuli(folder / "stimuli.hdf5", ["000000108503.jpg", "000000104013.jpg"], [(H, W, 3), (H, W, 3)])
    sp, messages = _load(folder, reader=load_mit1003_fixations)
    assert len(messages) == 2 and sp.allow_off_display
    assert any("2 of 6 fixations lie outside" in m and "fixations.hdf5" in m for m in messages)
    assert any("left out 1 scanpath without fixations" in m and "train 1 (000000104013.jpg, subject 2)" in m
               for m in messages)
    assert [a.tolist() for a in sp.arrays()] == [[[848.3, 530.0], [1703.8, 538.1], [900.0, 400.0]],
                                                [[840.0, 525.0], [1091.1, -5.5]], [[845.0, 520.0]]]
    assert sp.meta["subject"].tolist() == ["1", "3", "4"]
    dropped, _ = _load(folder, off_display="drop", reader=load_mit1003_fixations)
    assert [len(a) for a in dropped.arrays()] == [2, 1, 1] and dropped.table["fixation"].tolist() == [0, 1, 0, 0]
    np.testing.assert_allclose(dropped.table["onset"], [0, 500, 0, 0])  # the fixations' own times stay


def test_pysaliency_plain_fixations_off_display(tmp_path, pysaliency_mod):
    ps = pysaliency_mod
    trains = ps.FixationTrains.from_fixation_trains([[5.0, 45.0], [7.0]], [[3.0, 4.0], [5.0]], [[0.0, 0.2], [0.0]],
                                                    [0, 0], [0, 1])
    f = tmp_path / "fixations.hdf5"
    trains[np.arange(3)].to_hdf5(str(f))  # a plain Fixations file (with its scanpath_index)

    class _Stimuli:  # the two attributes of a pysaliency FileStimuli the reader uses
        filenames = [str(tmp_path / "img.png")]
        sizes = [(20, 40)]

    sp, messages = _load(f, stimuli=_Stimuli(), off_display="clip", reader=load_mit1003_fixations)
    assert len(messages) == 1 and "1 of 3 fixations" in messages[0] and "clipped" in messages[0]
    assert sp.arrays()[0].tolist() == [[5.0, 3.0], [39.0, 4.0]] and sp.arrays()[1].tolist() == [[7.0, 5.0]]
