"""Scanpath dataset readers, each on small files written in the dataset's real layout."""

import json
import sqlite3
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neuroperception.errors import InputError, ShapeError
from neuroperception.scanpaths.readers import (load_capmit1003, load_coco_search18, load_mit1003_fixations,
                                               load_saliency_maps, scanpath_attributes)

# ------------------------------------------------------------------------------------ COCO-Search18


def _coco_records(rng, n, split, condition="present", with_bbox=True):
    tasks = ["bottle", "potted plant", "stop sign"]
    out = []
    for k in range(n):
        length = int(rng.integers(1, 8))
        rec = {"name": f"{k:012d}.jpg", "subject": int(rng.integers(1, 11)), "task": tasks[k % 3],
               "condition": condition, "X": rng.uniform(0, 1679, length).round(2).tolist(),
               "Y": rng.uniform(0, 1049, length).round(2).tolist(),
               "T": rng.integers(50, 600, length).tolist(), "length": length,
               "correct": int(rng.integers(0, 2)), "RT": int(rng.integers(300, 3000)), "split": split}
        if with_bbox:
            rec["bbox"] = rng.integers(0, 500, 4).tolist()
        out.append(rec)
    return out


@pytest.fixture
def coco_dir(tmp_path):
    rng = np.random.default_rng(0)
    files = {"coco_search18_fixations_TP_train_split1.json": _coco_records(rng, 12, "train"),
             "coco_search18_fixations_TP_validation_split1.json": _coco_records(rng, 5, "valid"),
             "coco_search18_fixations_TA_trainval.json": _coco_records(rng, 4, "train", "absent", with_bbox=False)}
    for name, recs in files.items():
        (tmp_path / name).write_text(json.dumps(recs))
    return tmp_path, files


def test_coco_search18_reads_every_fixation_and_trial_field(coco_dir):
    folder, files = coco_dir
    sp = load_coco_search18(folder)
    records = [r for name in sorted(files) for r in files[name]]  # folders are read in sorted file order
    assert len(sp) == len(records) and sp.n_fixations == sum(r["length"] for r in records)
    attrs = scanpath_attributes(sp)
    for k, (rec, arr) in enumerate(zip(records, sp.arrays(with_duration=True))):
        np.testing.assert_array_equal(arr, np.c_[rec["X"], rec["Y"], rec["T"]])
        row = attrs.iloc[k]
        assert (row["stimulus_id"], row["subject"], row["task"], row["condition"]) == \
            (rec["name"], str(rec["subject"]), rec["task"], rec["condition"])
        assert (row["rt"], row["correct"], row["split"]) == (rec["RT"], rec["correct"], rec["split"])
        if "bbox" in rec:
            assert [row[f"bbox_{c}"] for c in "xywh"] == rec["bbox"]
        else:
            assert np.isnan([row[f"bbox_{c}"] for c in "xywh"]).all()
    assert sp.sizes[records[0]["name"]] == (1050, 1680)


def test_coco_search18_filters(coco_dir):
    folder, files = coco_dir
    valid = load_coco_search18(folder, split="validation")
    assert len(valid) == 5 and set(valid.table["split"]) == {"valid"}
    absent = load_coco_search18(folder, condition="absent")
    assert len(absent) == 4
    plants = load_coco_search18(sorted(folder.glob("*TP*")), task="potted plant")
    n_expected = sum(r["task"] == "potted plant" for name in files if "TP" in name for r in files[name])
    assert len(plants) == n_expected and set(plants.table["task"]) == {"potted plant"}


def test_coco_search18_keeps_other_scalar_fields(tmp_path):
    rec = _coco_records(np.random.default_rng(7), 1, "train")[0]
    f = tmp_path / "coco_search18_fixations_TP_train_split1.json"
    f.write_text(json.dumps([{**rec, "fixOnTarget": True, "x": 5, "notes": [1, 2]}]))
    attrs = scanpath_attributes(load_coco_search18(f))
    assert attrs.loc[0, "fixOnTarget"] and attrs.loc[0, "field_x"] == 5 and "notes" not in attrs.columns


def test_coco_search18_errors(tmp_path):
    rec = _coco_records(np.random.default_rng(1), 1, "train")[0]
    f = tmp_path / "coco_search18_fixations_TP_train_split1.json"
    with pytest.raises(InputError, match="does not exist"):
        load_coco_search18(f)
    f.write_text(json.dumps([{k: v for k, v in rec.items() if k != "task"}]))
    with pytest.raises(InputError, match=r"lacks the fields \['task'\]"):
        load_coco_search18(f)
    f.write_text(json.dumps([{**rec, "Y": rec["Y"] + [3.0]}]))
    with pytest.raises(InputError, match="expected equal lengths"):
        load_coco_search18(f)
    empty = {**rec, "X": [], "Y": [], "T": [], "length": 0}
    f.write_text(json.dumps([empty, rec]))
    with pytest.raises(InputError, match=r"1 scanpath without fixations \(e\.g\. .*record 0"):
        load_coco_search18(f, empty="raise")
    with pytest.warns(UserWarning, match="left out 1 scanpath without fixations"):
        assert len(load_coco_search18(f)) == 1
    f.write_text(json.dumps([{**rec, "X": [1700.0] * rec["length"]}]))
    with pytest.warns(UserWarning, match=f"{rec['length']} of {rec['length']} fixations lie outside their image"):
        assert load_coco_search18(f).allow_off_display
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_coco_search18(f, size=None)) == 1  # no display size, no bounds
    f.write_text(json.dumps({"name": "x"}))
    with pytest.raises(InputError, match="expected a list of trial records"):
        load_coco_search18(f)
    with pytest.raises(InputError, match="holds no coco_search18_fixations"):
        load_coco_search18(tmp_path / "..")


# --------------------------------------------------------------------------------------- CapMIT1003

_CAPMIT_SQL = """
CREATE TABLE images (img_uid TEXT PRIMARY KEY, img_path TEXT);
CREATE TABLE captions (obs_uid TEXT PRIMARY KEY, usr_uid TEXT, start_time TIMESTAMP, caption TEXT, img_uid TEXT);
CREATE TABLE clicks (click_id INTEGER PRIMARY KEY, obs_uid TEXT, x INTEGER, y INTEGER, click_time TIMESTAMP);
"""


def _write_capmit(path, rng, sizes, with_empty=False):
    """Write a CapMIT1003-style database; returns the planted click paths per obs_uid."""
    cnx = sqlite3.connect(path)
    cnx.executescript(_CAPMIT_SQL)
    names = list(sizes)
    cnx.executemany("INSERT INTO images VALUES (?, ?)", [(f"img{k}", n) for k, n in enumerate(names)])
    start = pd.Timestamp("2022-06-01 09:00:00")
    planted, clicks = {}, []
    for o in range(6):
        obs, k = f"obs{o}", o % len(names)
        t0 = start + pd.Timedelta(minutes=o)
        cnx.execute("INSERT INTO captions VALUES (?, ?, ?, ?, ?)",
                    (obs, f"user{o % 2}", str(t0), f"caption {o}", f"img{k}"))
        h, w = sizes[names[k]]
        n = int(rng.integers(2, 6))
        xy = np.c_[rng.integers(0, w, n), rng.integers(0, h, n)]
        onsets = np.cumsum(rng.integers(200, 2000, n))
        planted[obs] = (names[k], f"user{o % 2}", xy, onsets.astype(float))
        clicks += [(obs, int(xy[j, 0]), int(xy[j, 1]), str(t0 + pd.Timedelta(milliseconds=int(onsets[j]))))
                   for j in range(n)]
    if with_empty:
        cnx.execute("INSERT INTO captions VALUES ('obs_empty', 'user9', ?, 'nothing', 'img0')", (str(start),))
    order = rng.permutation(len(clicks))  # rows stored out of order; click_id gives the order
    ids = {j: 100 + j for j in range(len(clicks))}
    for j in order:
        cnx.execute("INSERT INTO clicks VALUES (?, ?, ?, ?, ?)", (ids[j], *clicks[j]))
    cnx.commit()
    cnx.close()
    return planted


def test_capmit1003_recovers_click_paths_and_captions(tmp_path):
    sizes = {"i05june05_static_street_boston_p1010764.jpeg": (768, 1024), "i1000.jpeg": (1024, 768)}
    db = tmp_path / "capmit1003.db"
    planted = _write_capmit(db, np.random.default_rng(2), sizes)
    sp, captions = load_capmit1003(db, sizes=sizes)
    assert len(sp) == len(planted) == len(captions)
    attrs = scanpath_attributes(sp).set_index("obs_uid")
    for obs, (image, user, xy, onsets) in planted.items():
        k = int(captions.set_index("obs_uid").loc[obs, "scanpath"])
        np.testing.assert_array_equal(sp.arrays()[k], xy)
        got = sp.table[sp.table["scanpath"] == k]
        np.testing.assert_allclose(got["onset"], onsets)
        assert attrs.loc[obs, "stimulus_id"] == image and attrs.loc[obs, "subject"] == user
    assert captions["caption"].tolist() == [f"caption {o}" for o in range(6)]
    assert set(sp.table["task"]) == {"caption"} and sp.table["duration"].isna().all()


def test_capmit1003_bounds_from_image_folder(tmp_path):
    sizes = {"a.jpeg": (40, 60), "b.jpeg": (60, 40)}
    db = tmp_path / "capmit1003.db"
    _write_capmit(db, np.random.default_rng(3), sizes)
    stim = tmp_path / "ALLSTIMULI"
    stim.mkdir()
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(stim / "a.jpeg")
    with pytest.raises(InputError, match=r"b\.jpeg.*does not exist"):
        load_capmit1003(db, image_dir=stim)
    Image.fromarray(np.zeros((60, 40, 3), np.uint8)).save(stim / "b.jpeg")
    assert load_capmit1003(db, image_dir=stim)[0].sizes == sizes
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(stim / "b.jpeg")  # too small: clicks fall outside
    with pytest.warns(UserWarning, match="fixations lie outside their image.*'b.jpeg'"):
        assert load_capmit1003(db, image_dir=stim)[0].allow_off_display


def test_capmit1003_errors(tmp_path):
    db = tmp_path / "capmit1003.db"
    with pytest.raises(InputError, match="does not exist"):
        load_capmit1003(db)
    _write_capmit(db, np.random.default_rng(4), {"a.jpeg": (50, 50)}, with_empty=True)
    with pytest.raises(InputError, match="1 scanpath without fixations .*obs_uid 'obs_empty'"):
        load_capmit1003(db, empty="raise")
    with pytest.warns(UserWarning, match="left out 1 scanpath without fixations"):
        sp, captions = load_capmit1003(db)
    assert len(sp) == 6 and captions.set_index("obs_uid").loc["obs_empty", "scanpath"] == -1
    other = tmp_path / "other.db"
    cnx = sqlite3.connect(other)
    cnx.execute("CREATE TABLE images (img_uid TEXT, img_path TEXT)")
    cnx.close()
    with pytest.raises(InputError, match=r"missing tables \['captions', 'clicks'\]"):
        load_capmit1003(other)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="could not be read as an SQLite database"):
        load_capmit1003(garbage)


def test_capmit1003_numeric_timestamps_need_a_unit(tmp_path):
    db = tmp_path / "capmit1003.db"
    cnx = sqlite3.connect(db)
    cnx.executescript(_CAPMIT_SQL + "INSERT INTO images VALUES ('i', 'i.jpeg');"
                      "INSERT INTO captions VALUES ('o', 'u', 1654074000.0, 'c', 'i');"
                      "INSERT INTO clicks VALUES (1, 'o', 3, 4, 1654074000.25);"
                      "INSERT INTO clicks VALUES (2, 'o', 5, 6, 1654074001.5);")
    cnx.close()
    with pytest.raises(InputError, match="time_unit"):
        load_capmit1003(db)
    sp, _ = load_capmit1003(db, time_unit="s")
    np.testing.assert_allclose(sp.table["onset"], [250.0, 1500.0])


# ------------------------------------------------------------------------------ MIT1003 / pysaliency


@pytest.fixture
def pysaliency_mod(monkeypatch):
    """pysaliency 0.2.x writes attributes with ``np.string_``, which NumPy 2 renamed ``np.bytes_``."""
    monkeypatch.setattr(np, "string_", np.bytes_, raising=False)
    return pytest.importorskip("pysaliency")


def _planted_trains(rng, sizes, n_subjects=3):
    xs, ys, ts, ns, subjects, durations = [], [], [], [], [], []
    for n, (h, w) in enumerate(sizes):
        for s in range(n_subjects):
            length = int(rng.integers(1, 7))
            xs.append(rng.uniform(1, w - 1, length))
            ys.append(rng.uniform(1, h - 1, length))
            ts.append(np.sort(rng.uniform(0, 3, length)))
            durations.append(rng.uniform(0.05, 0.6, length))
            ns.append(n)
            subjects.append(s)
    return xs, ys, ts, ns, subjects, durations


def test_mit1003_hdf5_written_by_pysaliency(tmp_path, pysaliency_mod):
    ps = pysaliency_mod
    rng = np.random.default_rng(5)
    folder = tmp_path / "MIT1003"
    (folder / "stimuli").mkdir(parents=True)
    names, sizes = ["i05june05_static_street_boston_p1010764.jpeg", "i1000.jpeg"], [(30, 40), (45, 25)]
    for name, (h, w) in zip(names, sizes):
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(folder / "stimuli" / name)
    stimuli = ps.FileStimuli([str(folder / "stimuli" / n) for n in names])
    stimuli.to_hdf5(str(folder / "stimuli.hdf5"))
    xs, ys, ts, ns, subjects, durations = _planted_trains(rng, sizes)
    fixations = ps.FixationTrains.from_fixation_trains(
        xs, ys, ts, ns, subjects, scanpath_attributes={"target_present": rng.integers(0, 2, len(xs))},
        scanpath_fixation_attributes={"durations": durations}, scanpath_attribute_mapping={"durations": "duration"})
    fixations.to_hdf5(str(folder / "fixations.hdf5"))

    sp = load_mit1003_fixations(folder)
    t = sp.table
    # pysaliency's own flattened view of the same fixations, in the same (scanpath, fixation) order
    np.testing.assert_allclose(t["x"], fixations.x)
    np.testing.assert_allclose(t["y"], fixations.y)
    np.testing.assert_allclose(t["onset"], fixations.t * 1000)
    np.testing.assert_allclose(t["duration"], fixations.duration * 1000)
    assert t["stimulus_id"].tolist() == [names[n] for n in fixations.n]
    assert t["subject"].tolist() == [str(s) for s in fixations.subjects]
    assert t["scanpath"].tolist() == fixations.scanpath_index.tolist()
    assert scanpath_attributes(sp)["target_present"].tolist() == fixations.scanpath_attributes[
        "target_present"].tolist()
    assert sp.sizes == dict(zip(names, sizes))

    direct = load_mit1003_fixations(fixations, stimuli=stimuli)  # the pysaliency objects themselves
    pd.testing.assert_frame_equal(direct.table, sp.table)

    plain = tmp_path / "plain.hdf5"  # pysaliency Fixations (no trains) keep their scanpath_index
    fixations[np.arange(len(fixations.x))].to_hdf5(str(plain))
    from_plain = load_mit1003_fixations(plain, stimuli=folder / "stimuli.hdf5")
    cols = ["scanpath", "fixation", "stimulus_id", "x", "y", "onset", "duration"]
    pd.testing.assert_frame_equal(from_plain.table[cols], t[cols])


def test_mit1003_bounds_and_errors(tmp_path, pysaliency_mod):
    ps = pysaliency_mod
    f = tmp_path / "fixations.hdf5"
    ps.FixationTrains.from_fixation_trains([[5.0, 50.0]], [[5.0, 5.0]], [[0.0, 0.2]], [0], [0]).to_hdf5(str(f))
    assert load_mit1003_fixations(f).table["stimulus_id"].tolist() == ["0", "0"]  # no stimuli: index as id
    with pytest.warns(UserWarning, match="1 of 2 fixations lie outside their image"):
        assert load_mit1003_fixations(f, stimuli=_fake_stimuli(tmp_path, (20, 20))).allow_off_display
    with pytest.raises(InputError, match="stimulus index 0"):
        load_mit1003_fixations(f, stimuli=[])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no fixations.hdf5"):
        load_mit1003_fixations(tmp_path / "empty")
    with pytest.raises(InputError, match="does not exist"):
        load_mit1003_fixations(tmp_path / "absent.hdf5")
    with h5py.File(tmp_path / "other.hdf5", "w") as h:
        h.attrs["type"] = np.bytes_("Stimuli")
    with pytest.raises(InputError, match="expected pysaliency 'FixationTrains'"):
        load_mit1003_fixations(tmp_path / "other.hdf5")
    with pytest.raises(InputError, match="expected an HDF5 file"):
        load_mit1003_fixations(object())


def _fake_stimuli(tmp_path, size):
    class _Stimuli:  # the two attributes of a pysaliency FileStimuli the reader uses
        filenames = [str(tmp_path / "img.png")]
        sizes = [size]

    return _Stimuli()


def test_mit1003_newer_scanpath_fixations_layout(tmp_path):
    """pysaliency >= 0.3 writes ScanpathFixations: a 'scanpaths' group with padded xs/ys, n and lengths."""
    f = tmp_path / "fixations.hdf5"
    xs = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]])
    with h5py.File(f, "w") as h:
        h.attrs["type"], h.attrs["version"] = np.bytes_("ScanpathFixations"), np.bytes_("1.0")
        g = h.create_group("scanpaths")
        g.attrs["type"], g.attrs["version"] = np.bytes_("Scanpaths"), np.bytes_("1.0")
        g.attrs["attribute_mapping"] = np.bytes_(json.dumps({"durations": "duration"}))
        for k, v in {"xs": xs, "ys": xs + 10, "n": np.array([1, 0]), "lengths": np.array([2, 3])}.items():
            g.create_dataset(k, data=v)
        sa = g.create_group("scanpath_attributes")
        sa.create_dataset("subject", data=np.array([4, 7]))
        sa.attrs["__attributes__"] = np.bytes_(json.dumps(["subject"]))
        fa = g.create_group("fixation_attributes")
        fa.create_dataset("ts", data=np.array([[0.0, 0.1, np.nan], [0.0, 0.2, 0.4]]))
        fa.create_dataset("durations", data=np.array([[0.1, 0.1, np.nan], [0.2, 0.2, 0.3]]))
        fa.attrs["__attributes__"] = np.bytes_(json.dumps(["durations", "ts"]))
    sp = load_mit1003_fixations(f, stimuli=["a.jpg", "b.jpg"])
    assert [a.tolist() for a in sp.arrays()] == [[[1, 11], [2, 12]], [[3, 13], [4, 14], [5, 15]]]
    assert sp.meta[["stimulus_id", "subject"]].values.tolist() == [["b.jpg", "4"], ["a.jpg", "7"]]
    np.testing.assert_allclose(sp.table["onset"], [0, 100, 0, 200, 400])
    np.testing.assert_allclose(sp.table["duration"], [100, 100, 200, 200, 300])


# ------------------------------------------------------------------------------------ saliency maps


def test_saliency_maps_from_png_and_npy(tmp_path):
    rng = np.random.default_rng(6)
    grey = rng.integers(0, 256, (12, 16), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "cat.png")
    raw = rng.random((12, 16))
    np.save(tmp_path / "dog.npy", raw)
    rgb = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "owl.png")
    (tmp_path / "notes.txt").write_text("not a map")
    sal = load_saliency_maps(tmp_path)
    assert sal.dims == ("stimulus", "y", "x") and sal.shape == (3, 12, 16)
    assert sal["stimulus_id"].values.tolist() == ["cat", "dog", "owl"]
    np.testing.assert_allclose(sal.sum(("y", "x")), 1.0)
    np.testing.assert_allclose(sal.sel(stimulus=0), grey / grey.sum())
    np.testing.assert_allclose(sal.sel(stimulus=1), raw / raw.sum())
    lum = np.asarray(Image.fromarray(rgb).convert("L"), dtype=float)
    np.testing.assert_allclose(sal.sel(stimulus=2), lum / lum.sum())
    picked = load_saliency_maps(tmp_path, stimulus_id=["owl", "cat"], size=(6, 8))
    assert picked["stimulus_id"].values.tolist() == ["owl", "cat"] and picked.shape == (2, 6, 8)
    np.testing.assert_allclose(picked.sum(("y", "x")), 1.0)
    up = load_saliency_maps(tmp_path, stimulus_id=["dog"], size=24)
    assert up.shape == (1, 24, 24)


def test_saliency_map_errors(tmp_path):
    with pytest.raises(InputError, match="not an existing folder"):
        load_saliency_maps(tmp_path / "missing")
    with pytest.raises(InputError, match="found no saliency maps"):
        load_saliency_maps(tmp_path)
    np.save(tmp_path / "a.npy", np.ones((4, 4)))
    with pytest.raises(InputError, match=r"no map for \['zebra'\]"):
        load_saliency_maps(tmp_path, stimulus_id=["a", "zebra"])
    np.save(tmp_path / "b.npy", np.ones((5, 4)))
    with pytest.raises(ShapeError, match="different sizes"):
        load_saliency_maps(tmp_path)
    assert load_saliency_maps(tmp_path, size=(4, 4)).shape == (2, 4, 4)
    bad = np.ones((4, 4))
    bad[1, 1] = np.nan
    np.save(tmp_path / "b.npy", bad)
    with pytest.raises(InputError, match=r"b\.npy.*no NaN"):
        load_saliency_maps(tmp_path)
    np.save(tmp_path / "b.npy", np.zeros((4, 4)))
    with pytest.raises(InputError, match=r"b\.npy: received an all-zero map"):
        load_saliency_maps(tmp_path)
    np.save(tmp_path / "b.npy", -np.ones((4, 4)))
    with pytest.raises(InputError, match="non-negative"):
        load_saliency_maps(tmp_path)
    np.save(tmp_path / "b.npy", np.ones((2, 4, 4)))
    with pytest.raises(ShapeError, match=r"expected a 2-D \(height, width\)"):
        load_saliency_maps(tmp_path)
    (tmp_path / "b.npy").unlink()
    Image.fromarray(np.ones((4, 4), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="two maps share the id 'a'"):
        load_saliency_maps(tmp_path)
