"""The scanpath table: filling, grouping, selection, bounds and round trips."""

import numpy as np
import pandas as pd
import pytest

from neuroperception.errors import InputError, ShapeError
from neuroperception.scanpaths import Scanpaths


def test_fills_and_groups_rows():
    df = pd.DataFrame({"stimulus_id": ["a", "a", "b", "a"], "subject": ["s1", "s1", "s1", "s2"],
                       "x": [1, 2, 3, 4], "y": [5, 6, 7, 8]})
    sp = Scanpaths(df)
    assert len(sp) == 3 and sp.n_fixations == 4
    assert sp.meta["n_fixations"].tolist() == [2, 1, 1]
    assert [a.tolist() for a in sp.arrays()] == [[[1, 5], [2, 6]], [[3, 7]], [[4, 8]]]
    assert np.isnan(sp.table["duration"]).all()


def test_xarray_and_dataframe_round_trip():
    sp = Scanpaths.from_arrays([np.array([[1, 2, 100], [3, 4, 200]]), np.array([[5, 6, 50]])], ["a", "b"],
                               subjects=["s1", "s2"], tasks=["free", "search"])
    back = Scanpaths.from_xarray(sp.to_xarray())
    pd.testing.assert_frame_equal(back.table, sp.table)
    assert Scanpaths.from_dataframe(sp.to_dataframe()).table.equals(sp.table)
    assert sp.arrays(with_duration=True)[0][:, 2].tolist() == [100, 200]


def test_select_and_iterate():
    sp = Scanpaths.from_arrays([np.zeros((2, 2)), np.ones((1, 2))], ["a", "b"], subjects=["s1", "s2"])
    assert len(sp.select(subject=["s2"])) == 1
    metas = [m["stimulus_id"] for m, _ in sp]
    assert metas == ["a", "b"]
    with pytest.raises(InputError, match="unknown column"):
        sp.select(colour="red")


def test_errors():
    with pytest.raises(InputError, match="outside their image"):
        Scanpaths.from_arrays([np.array([[10.0, 50.0]])], ["a"], sizes={"a": (40, 40)})
    with pytest.raises(InputError, match="empty scanpath"):
        Scanpaths.from_arrays([np.zeros((0, 2))], ["a"])
    with pytest.raises(ShapeError, match="one per scanpath"):
        Scanpaths.from_arrays([np.zeros((1, 2))], ["a", "b"])
    with pytest.raises(InputError, match="missing columns"):
        Scanpaths(pd.DataFrame({"x": [1], "y": [2]}))
    with pytest.raises(InputError, match="NaN/Inf"):
        Scanpaths(pd.DataFrame({"stimulus_id": ["a"], "x": [np.nan], "y": [2]}))
    with pytest.raises(InputError, match="mixes"):
        Scanpaths(pd.DataFrame({"stimulus_id": ["a", "b"], "x": [1, 2], "y": [2, 3], "scanpath": [0, 0],
                                "fixation": [0, 1]}))


def test_constructor_checks_sizes_and_numbers():
    df = pd.DataFrame({"stimulus_id": ["a", "a"], "x": [1.0, 2.0], "y": [3.0, 4.0]})
    with pytest.raises(InputError, match=r"sizes\['a'\]: received \(0, 40\)"):
        Scanpaths(df, {"a": (0, 40)})
    with pytest.raises(InputError, match="sizes"):
        Scanpaths(df, {"a": (40,)})
    with pytest.raises(InputError, match="mapping"):
        Scanpaths(df, [(40, 40)])
    with pytest.raises(InputError, match="'duration' holds 1 values that are not numbers .*'0.2s'"):
        Scanpaths(df.assign(duration=[200, "0.2s"]))
    with pytest.raises(InputError, match="'x' holds"):
        Scanpaths(df.assign(x=["1", "left"]))
    ok = Scanpaths(df.assign(duration=["200", ""], onset=[None, 5]), {"a": [40.0, 40.0]})
    assert ok.table["duration"].tolist()[0] == 200.0 and np.isnan(ok.table["duration"].tolist()[1])
    assert ok.sizes == {"a": (40, 40)}
