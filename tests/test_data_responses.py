"""Labelled responses: construction, repeat stacking and exact NetCDF/zarr round trips."""

import numpy as np
import pytest

from neuroperception.data import average_repeats, load_responses, make_responses, save_responses, stack_repeats
from neuroperception.errors import AlignmentError, InputError, ShapeError


def _responses(repeats=False):
    rng = np.random.default_rng(0)
    shape = (3, 5, 4) if repeats else (5, 4)
    return make_responses(
        rng.standard_normal(shape).astype(np.float32), [f"img{i}" for i in range(5)],
        roi=["V1", "V1", "V4", "IT"], subject="subj01", xyz=rng.uniform(-50, 50, (4, 3)),
        attrs={"source": "test"},
    )


def test_make_responses_coords():
    r = _responses()
    assert r.dims == ("stimulus", "voxel")
    assert r["roi"].values.tolist() == ["V1", "V1", "V4", "IT"]
    assert r["subject"].values.tolist() == ["subj01"] * 4
    assert set(r.coords) >= {"stimulus_id", "roi", "subject", "x", "y", "z"}
    assert r.dtype == np.float32


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
@pytest.mark.parametrize("repeats", [False, True])
def test_round_trip_is_exact(tmp_path, suffix, repeats):
    r = _responses(repeats)
    if repeats:
        r[2, 1] = np.nan  # a missing repeat survives the trip
    path = save_responses(r, tmp_path / f"r{suffix}")
    back = load_responses(path)
    assert back.identical(r)
    assert back.dtype == r.dtype


def test_save_never_overwrites_silently(tmp_path):
    r = _responses()
    path = save_responses(r, tmp_path / "r.nc")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_responses(r * 2, path)
    assert load_responses(path).identical(r)
    save_responses(r * 2, path, overwrite=True)
    np.testing.assert_array_equal(load_responses(path).values, r.values * 2)


def test_stack_repeats_places_each_presentation():
    trials = np.arange(10.0).reshape(5, 2)
    r = stack_repeats(trials, ["a", "b", "a", "c", "a"], roi=["V1", "V2"])
    assert r.dims == ("repeat", "stimulus", "voxel")
    assert r["stimulus_id"].values.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(r.sel(repeat=0).values, [[0, 1], [2, 3], [6, 7]])
    np.testing.assert_array_equal(r.sel(repeat=2).values[0], [8, 9])
    assert np.isnan(r.sel(repeat=1).values[1:]).all()
    avg = average_repeats(r)
    np.testing.assert_allclose(avg.values, [[4, 5], [2, 3], [6, 7]])
    assert avg["roi"].values.tolist() == ["V1", "V2"]


def test_stack_repeats_respects_order_and_checks_ids():
    r = stack_repeats(np.eye(3), ["a", "b", "c"], order=["c", "b", "a"])
    assert r["stimulus_id"].values.tolist() == ["c", "b", "a"]
    with pytest.raises(InputError, match="not in `order`"):
        stack_repeats(np.eye(3), ["a", "b", "z"], order=["a", "b"])
    with pytest.raises(ShapeError, match="one per trial"):
        stack_repeats(np.eye(3), ["a", "b"])


def test_clear_errors():
    with pytest.raises(ShapeError, match="one value per voxel"):
        make_responses(np.zeros((2, 3)), roi=["V1", "V2"])
    with pytest.raises(ShapeError, match=r"expected \(3, 3\) coordinates"):
        make_responses(np.zeros((2, 3)), xyz=np.zeros((3, 2)))
    with pytest.raises(AlignmentError, match="duplicated"):
        make_responses(np.zeros((2, 3)), ["a", "a"])
    with pytest.raises(InputError, match="NaN"):
        make_responses(np.full((2, 3), np.nan))
    with pytest.raises(ShapeError, match=r"\(stimulus, voxel\)"):
        make_responses(np.zeros(3))
    with pytest.raises(InputError, match=r"\.nc"):
        save_responses(_responses(), "responses.csv")


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such responses file"):
        load_responses(tmp_path / "nope.nc")


def test_plain_xarray_file_with_one_variable(tmp_path):
    r = _responses()
    r.to_dataset(name="betas").to_netcdf(tmp_path / "b.nc", engine="h5netcdf")
    back = load_responses(tmp_path / "b.nc")
    assert back.name == "betas"
    assert back["roi"].values.tolist() == r["roi"].values.tolist()
    assert back["stimulus_id"].values.tolist() == r["stimulus_id"].values.tolist()
    np.testing.assert_array_equal(back.values, r.values)


def test_select_stimuli_keeps_the_array_order_and_refuses_unknown_ids():
    from neuroperception.data import select_stimuli

    r = make_responses(np.arange(8.0).reshape(4, 2), stimulus_id=["a", "b", "c", "d"])
    out = select_stimuli(r, ["d", "b"])
    assert out["stimulus_id"].values.tolist() == ["b", "d"]
    np.testing.assert_array_equal(out.values, r.values[[1, 3]])
    with pytest.raises(AlignmentError, match=r"1 stimulus ids the data do not hold \(e.g. \['z'\]\)"):
        select_stimuli(r, ["a", "z"])
