"""Scanpaths.rescale: coordinates and target boxes scaled per axis, everything else kept, clear errors."""

import json

import numpy as np
import pandas as pd
import pytest

from neuroperception.errors import InputError
from neuroperception.scanpaths import Scanpaths
from neuroperception.scanpaths.readers import load_coco_search18


def _table():
    return Scanpaths.from_arrays([np.array([[10.0, 20.0, 100], [199.0, 99.5, 250]]), np.array([[0.0, 0.0, 80]])],
                                 ["a", "b"], subjects=["s1", "s2"], tasks=["free", "search"])


def test_x_scales_with_width_and_y_with_height():
    sp = _table()
    out = sp.rescale(from_size=(100, 200), to_size=(300, 50))  # height x3, width x1/4
    for before, after in zip(sp.arrays(with_duration=True), out.arrays(with_duration=True)):
        np.testing.assert_allclose(after[:, 0], before[:, 0] * 50 / 200)
        np.testing.assert_allclose(after[:, 1], before[:, 1] * 300 / 100)
        np.testing.assert_array_equal(after[:, 2], before[:, 2])  # durations are times, not pixels
    pd.testing.assert_frame_equal(out.meta, sp.meta)
    assert out.sizes == {"a": (300, 50), "b": (300, 50)}
    back = out.rescale((300, 50), (100, 200))
    pd.testing.assert_frame_equal(back.table, sp.table, check_exact=False, rtol=1e-12)


def test_original_is_untouched():
    sp = Scanpaths(_table().table, sizes={"a": (100, 200), "b": (100, 200)})
    table, sizes = sp.table.copy(), dict(sp.sizes)
    sp.rescale(None, (10, 20))
    pd.testing.assert_frame_equal(sp.table, table)
    assert sp.sizes == sizes


def test_from_size_defaults_to_image_sizes_and_may_differ_per_image():
    sp = Scanpaths(_table().table, sizes={"a": (100, 200), "b": (400, 800)})
    out = sp.rescale(None, to_size=(50, 100))
    same = sp.rescale({"a": (100, 200), "b": (400, 800)}, (50, 100))
    pd.testing.assert_frame_equal(out.table, same.table)
    a, b = out.arrays()
    np.testing.assert_allclose(a, sp.arrays()[0] * 0.5)
    np.testing.assert_allclose(b, sp.arrays()[1] * 0.125)


def test_coco_search18_target_boxes_are_rescaled(tmp_path):
    recs = [{"name": "000000478726.jpg", "subject": 2, "task": "bottle", "condition": "present",
             "bbox": [1063, 68, 95, 334], "X": [848.0, 1058.5], "Y": [509.0, 192.1], "T": [114, 404], "length": 2,
             "correct": 1, "RT": 1282, "split": "valid"},
            {"name": "000000000042.jpg", "subject": 3, "task": "cup", "condition": "absent",
             "X": [840.0], "Y": [525.0], "T": [200], "length": 1, "correct": 0, "RT": 900, "split": "valid"}]
    file = tmp_path / "coco_search18_fixations_TP_validation_split1.json"
    file.write_text(json.dumps(recs))
    sp = load_coco_search18(file)
    out = sp.rescale(from_size=(1050, 1680), to_size=(210, 168))  # width /10, height /5
    boxes = out.table.groupby("scanpath")[["bbox_x", "bbox_y", "bbox_w", "bbox_h"]].first()
    np.testing.assert_allclose(boxes.iloc[0], [106.3, 13.6, 9.5, 66.8])
    assert boxes.iloc[1].isna().all()  # target-absent trials have no box
    np.testing.assert_allclose(out.arrays()[0], [[84.8, 101.8], [105.85, 38.42]])
    kept = ["stimulus_id", "subject", "task", "condition", "duration", "rt", "correct", "split", "source"]
    pd.testing.assert_frame_equal(out.table[kept], sp.table[kept])
    assert list(out.table.columns) == list(sp.table.columns)


@pytest.mark.parametrize("bad", [(0, 10), (10, -5), (10,), (10, 20, 3), (10.5, 20), "big", None, (np.nan, 4)])
def test_invalid_to_size(bad):
    with pytest.raises(InputError, match=r"to_size: received .*; expected \(height, width\) as two positive"):
        _table().rescale((100, 200), bad)


def test_errors():
    sp = _table()
    with pytest.raises(InputError, match=r"from_size: received \(0, 200\); expected \(height, width\)"):
        sp.rescale((0, 200), (10, 10))
    with pytest.raises(InputError, match=r"from_size\['b'\]: received \(-1, 3\)"):
        sp.rescale({"a": (100, 200), "b": (-1, 3)}, (10, 10))
    with pytest.raises(InputError, match=r"from_size: received None, but this table has no sizes .*\['a', 'b'\]"):
        sp.rescale(None, (10, 10))
    with pytest.raises(InputError, match=r"none for \['b'\]"):
        sp.rescale({"a": (100, 200)}, (10, 10))
    with pytest.raises(InputError, match="from_size: 1 fixations fall outside their image"):
        sp.rescale((100, 150), (10, 10))  # x = 199 is off a 150-wide frame
