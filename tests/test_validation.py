"""Tests of neuroperception.errors and neuroperception._validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from PIL import Image

from neuroperception._validation import check_alignment, check_ids, check_images, check_responses, default_stimulus_ids
from neuroperception.errors import (
    AlignmentError,
    InputError,
    MissingWeightsError,
    NeuroperceptionError,
    ShapeError,
    StoreMismatchError,
)


# ---------------------------------------------------------------------------- error hierarchy
def test_error_hierarchy():
    assert issubclass(InputError, ValueError)
    assert issubclass(InputError, NeuroperceptionError)
    assert issubclass(ShapeError, InputError)
    assert issubclass(AlignmentError, InputError)
    assert issubclass(StoreMismatchError, InputError)
    assert issubclass(MissingWeightsError, FileNotFoundError)
    assert issubclass(MissingWeightsError, NeuroperceptionError)
    assert not issubclass(MissingWeightsError, ValueError)
    for cls in (InputError, ShapeError, AlignmentError, MissingWeightsError, StoreMismatchError):
        assert issubclass(cls, NeuroperceptionError)
    with pytest.raises(ValueError):
        raise ShapeError("x")
    with pytest.raises(FileNotFoundError):
        raise MissingWeightsError("w.pt")


# ---------------------------------------------------------------------------- check_images
def _ramp_uint8(shape):
    return (np.arange(int(np.prod(shape))) % 256).astype(np.uint8).reshape(shape)


def test_uint8_nhwc_exact_values():
    arr = _ramp_uint8((2, 5, 7, 3))
    x = check_images(arr)
    assert x.dtype == torch.float32
    assert tuple(x.shape) == (2, 3, 5, 7)
    expected = torch.from_numpy(arr.astype(np.float32) / np.float32(255)).permute(0, 3, 1, 2)
    assert torch.equal(x, expected)
    # the channel axis really moved: pixel (n=1, y=2, x=4) channel 2
    assert float(x[1, 2, 2, 4]) == float(np.float32(arr[1, 2, 4, 2]) / np.float32(255))
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_uint8_hwc_single_image():
    arr = _ramp_uint8((6, 4, 3))
    x = check_images(arr)
    assert tuple(x.shape) == (1, 3, 6, 4)
    assert torch.equal(x[0], torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0)


def test_uint8_hw_grey_gives_three_equal_channels():
    arr = _ramp_uint8((5, 9))
    x = check_images(arr)
    assert tuple(x.shape) == (1, 3, 5, 9)
    ref = torch.from_numpy(arr).float() / 255.0
    for c in range(3):
        assert torch.equal(x[0, c], ref)


def test_uint8_extremes_map_to_0_and_1():
    arr = np.zeros((1, 2, 2, 3), np.uint8)
    arr[0, 0, 0] = 255
    x = check_images(arr)
    assert float(x.max()) == 1.0 and float(x.min()) == 0.0


def test_float_nchw_kept():
    t = torch.rand(3, 3, 8, 6, generator=torch.Generator().manual_seed(0))
    x = check_images(t)
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 3, 8, 6)
    assert torch.equal(x, t)
    # float64 numpy NCHW in [0, 1] is converted to float32 with the same values
    a = np.linspace(0, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    y = check_images(a)
    assert y.dtype == torch.float32
    assert torch.equal(y, torch.from_numpy(a).float())


def test_float_grey_expanded_to_three_identical_channels():
    t = torch.rand(2, 1, 5, 5, generator=torch.Generator().manual_seed(1))
    x = check_images(t)
    assert tuple(x.shape) == (2, 3, 5, 5)
    for c in range(3):
        assert torch.equal(x[:, c], t[:, 0])


def test_value_range_minus1_1_converted_exactly():
    vals = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]).reshape(1, 1, 1, 5).expand(1, 3, 2, 5).contiguous()
    x = check_images(vals, value_range=(-1, 1))
    assert torch.equal(x[0, 0, 0], torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))


def test_value_range_0_255_converted_exactly():
    arr = np.arange(0, 256, 5, dtype=np.float32)
    vals = np.broadcast_to(arr, (1, 3, 2, arr.size)).copy()
    x = check_images(vals, value_range=(0, 255))
    assert torch.equal(x, torch.from_numpy(vals) / 255.0)
    assert float(x.max()) == 1.0


def test_uint8_ignores_value_range_float_semantics():
    # uint8 is always /255, whatever the declared float range
    arr = np.full((1, 2, 2, 3), 51, np.uint8)
    assert torch.equal(check_images(arr), torch.full((1, 3, 2, 2), 51 / 255.0))


def test_nan_rejected_with_message():
    t = torch.rand(1, 3, 4, 4)
    t[0, 0, 0, 0] = float("nan")
    t[0, 1, 0, 0] = float("nan")
    with pytest.raises(InputError) as err:
        check_images(t)
    msg = str(err.value)
    assert "2 NaN/Inf" in msg
    assert "expected finite values in [0, 1]" in msg
    assert msg.startswith("images:")


def test_inf_rejected_and_custom_name():
    t = torch.rand(1, 3, 4, 4)
    t[0, 0, 1, 1] = float("inf")
    with pytest.raises(InputError, match=r"stim: received 1 NaN/Inf values"):
        check_images(t, name="stim")


def test_values_above_one_rejected_with_255_hint():
    t = torch.rand(1, 3, 4, 4) * 200 + 2
    with pytest.raises(InputError) as err:
        check_images(t)
    msg = str(err.value)
    assert f"{float(t.max()):.4g}" in msg  # what was received
    assert "expected values in [0, 1]" in msg
    assert "value_range=(0, 255)" in msg


def test_minus1_1_data_hint():
    t = torch.linspace(-1, 1, 3 * 16).reshape(1, 3, 4, 4)
    with pytest.raises(InputError) as err:
        check_images(t)
    msg = str(err.value)
    assert "received values in [-1, 1]" in msg
    assert "expected values in [0, 1]" in msg
    assert "value_range=(-1, 1)" in msg


def test_out_of_declared_range_minus1_1():
    t = torch.full((1, 3, 2, 2), 2.0)
    with pytest.raises(InputError, match=r"expected values in \[-1, 1\]"):
        check_images(t, value_range=(-1, 1))


def test_four_channels_shape_error():
    with pytest.raises(ShapeError) as err:
        check_images(torch.rand(2, 4, 8, 8))
    msg = str(err.value)
    assert "4 channels" in msg and "(2, 4, 8, 8)" in msg
    assert "(N, C, H, W)" in msg
    # uint8 RGBA NHWC also refused (after moving channels first)
    with pytest.raises(ShapeError, match="4 channels"):
        check_images(np.zeros((2, 8, 8, 4), np.uint8))


def test_3d_float_tensor_hint_x_none():
    with pytest.raises(ShapeError) as err:
        check_images(torch.rand(3, 8, 8))
    msg = str(err.value)
    assert "shape=(3, 8, 8)" in msg
    assert "expected 4 dimensions (N, 3, H, W)" in msg
    assert "x[None]" in msg


def test_5d_no_hint():
    with pytest.raises(ShapeError) as err:
        check_images(torch.rand(1, 1, 3, 4, 4))
    assert "x[None]" not in str(err.value)
    assert "shape=(1, 1, 3, 4, 4)" in str(err.value)


def test_empty_batch():
    with pytest.raises(ShapeError, match=r"empty batch \(0, 3, 8, 8\)"):
        check_images(torch.zeros(0, 3, 8, 8))
    with pytest.raises(InputError, match="empty list"):
        check_images([])


def test_integer_tensor_rejected():
    with pytest.raises(InputError) as err:
        check_images(torch.ones(1, 3, 4, 4, dtype=torch.int64))
    msg = str(err.value)
    assert "torch.int64" in msg and "expected float32 in [0, 1] or uint8" in msg
    with pytest.raises(InputError, match="int32"):
        check_images(np.ones((1, 3, 4, 4), np.int32))


def test_wrong_type_string():
    with pytest.raises(InputError) as err:
        check_images("picture.png")
    msg = str(err.value)
    assert "received str" in msg
    assert "torch.Tensor" in msg


def test_bad_value_range():
    with pytest.raises(InputError) as err:
        check_images(torch.rand(1, 3, 2, 2), value_range=(0, 2))
    msg = str(err.value)
    assert "(0, 2)" in msg and "(0, 1), (-1, 1), (0, 255)" in msg


def test_value_range_not_a_pair_is_input_error():
    with pytest.raises(InputError):
        check_images(torch.rand(1, 3, 2, 2), value_range=(0, 1, 2))


def test_min_size():
    with pytest.raises(ShapeError, match=r"size \(4, 4\).*at least 8x8"):
        check_images(torch.rand(1, 3, 4, 4), min_size=8)


def test_pil_list_same_size():
    arrs = [_ramp_uint8((4, 6, 3)), 255 - _ramp_uint8((4, 6, 3))]
    x = check_images([Image.fromarray(a) for a in arrs])
    assert tuple(x.shape) == (2, 3, 4, 6)
    for k, a in enumerate(arrs):
        assert torch.equal(x[k], torch.from_numpy(a).permute(2, 0, 1).float() / 255.0)
    # a single grey PIL image is converted to RGB with equal channels
    g = check_images(Image.fromarray(_ramp_uint8((3, 5))))
    assert tuple(g.shape) == (1, 3, 3, 5)
    assert torch.equal(g[0, 0], g[0, 2])


def test_pil_list_different_sizes():
    ims = [Image.new("RGB", (8, 8)), Image.new("RGB", (10, 8))]
    with pytest.raises(ShapeError) as err:
        check_images(ims)
    msg = str(err.value)
    assert "different sizes" in msg
    assert "(8, 8, 3)" in msg and "(8, 10, 3)" in msg
    assert "size=" in msg


def test_list_of_float_lists_not_divided_by_255():
    nested = np.full((3, 4, 4), 0.5).tolist()
    try:
        x = check_images([nested])
    except InputError:
        return
    assert torch.allclose(x, torch.full((1, 3, 4, 4), 0.5))


# ---------------------------------------------------------------------------- check_ids
def test_check_ids_generated():
    assert check_ids(None, 3) == ["stim0000", "stim0001", "stim0002"] == default_stimulus_ids(3)
    ids = check_ids(None, 12345)
    assert ids[0] == "stim00000" and ids[-1] == "stim12344" and len(set(ids)) == 12345
    assert sorted(ids) == ids


def test_check_ids_given_converted_to_str():
    assert check_ids(np.array([3, 1, 2]), 3) == ["3", "1", "2"]
    assert check_ids(("a", "b"), 2) == ["a", "b"]


def test_check_ids_duplicates():
    with pytest.raises(AlignmentError) as err:
        check_ids(["a", "b", "a", "c", "c"], 5)
    msg = str(err.value)
    assert "2 duplicated" in msg
    assert "['a', 'c']" in msg
    assert "expected unique ids" in msg


def test_check_ids_wrong_length():
    with pytest.raises(ShapeError) as err:
        check_ids(["a", "b"], 3)
    msg = str(err.value)
    assert "received 2 ids" in msg and "(3)" in msg


# ---------------------------------------------------------------------------- check_responses
def test_responses_numpy_2d_wrapped():
    arr = np.arange(12.0).reshape(4, 3)
    da = check_responses(arr)
    assert isinstance(da, xr.DataArray)
    assert da.dims == ("stimulus", "voxel")
    np.testing.assert_array_equal(da.values, arr)
    assert "stimulus_id" not in da.coords


def test_responses_torch_accepted():
    t = torch.arange(6.0).reshape(2, 3)
    da = check_responses(t)
    assert da.dims == ("stimulus", "voxel")
    np.testing.assert_array_equal(da.values, t.numpy())


def test_responses_1d_shape_error():
    with pytest.raises(ShapeError) as err:
        check_responses(np.zeros(5))
    msg = str(err.value)
    assert "shape=(5,)" in msg and "expected 2 dimensions (stimulus, voxel)" in msg


def test_responses_nan_names_voxels():
    arr = np.zeros((4, 6))
    arr[1, 2] = np.nan
    arr[3, 5] = np.inf
    arr[0, 2] = np.nan
    with pytest.raises(InputError) as err:
        check_responses(arr)
    msg = str(err.value)
    assert "3 NaN/Inf values in 2 voxels" in msg
    assert "[2, 5]" in msg


def test_responses_allow_nan_but_not_inf():
    arr = np.zeros((3, 4))
    arr[0, 1] = np.nan
    da = check_responses(arr, allow_nan=True)
    assert np.isnan(da.values[0, 1])
    arr[2, 3] = np.inf
    with pytest.raises(InputError, match=r"1 Inf values in 1 voxels \(first: \[3\]\)"):
        check_responses(arr, allow_nan=True)


def test_responses_repeats_only_when_allowed():
    arr = np.ones((2, 4, 3))
    with pytest.raises(ShapeError, match=r"shape=\(2, 4, 3\)"):
        check_responses(arr)
    da = check_responses(arr, allow_repeats=True)
    assert da.dims == ("repeat", "stimulus", "voxel")
    labelled = xr.DataArray(arr, dims=("repeat", "stimulus", "voxel"))
    with pytest.raises(ShapeError, match="expected \\('stimulus', 'voxel'\\)$"):
        check_responses(labelled)
    assert check_responses(labelled, allow_repeats=True).dims == ("repeat", "stimulus", "voxel")


def test_responses_repeat_nan_voxel_index():
    arr = np.zeros((2, 3, 5))
    arr[1, 2, 4] = np.nan
    with pytest.raises(InputError, match=r"first: \[4\]"):
        check_responses(arr, allow_repeats=True)


def test_responses_xarray_wrong_dims():
    da = xr.DataArray(np.zeros((3, 2)), dims=("voxel", "stimulus"))
    with pytest.raises(ShapeError) as err:
        check_responses(da)
    msg = str(err.value)
    assert "('voxel', 'stimulus')" in msg and "('stimulus', 'voxel')" in msg


def test_responses_duplicated_stimulus_id():
    da = xr.DataArray(np.zeros((3, 2)), dims=("stimulus", "voxel"),
                      coords={"stimulus_id": ("stimulus", ["a", "b", "a"])})
    with pytest.raises(AlignmentError) as err:
        check_responses(da)
    assert "responses.stimulus_id" in str(err.value) and "['a']" in str(err.value)


def test_responses_xarray_with_ids_kept():
    da = xr.DataArray(np.arange(6.0).reshape(3, 2), dims=("stimulus", "voxel"),
                      coords={"stimulus_id": ("stimulus", ["x", "y", "z"])})
    out = check_responses(da)
    assert list(out["stimulus_id"].values) == ["x", "y", "z"]
    np.testing.assert_array_equal(out.values, da.values)


def test_responses_wrong_type_and_dtype():
    with pytest.raises(InputError, match="received list"):
        check_responses([[1.0, 2.0]])
    with pytest.raises(InputError, match="dtype"):
        check_responses(np.array([["a", "b"]]))


def test_responses_returns_float():
    da = check_responses(np.arange(6).reshape(2, 3))
    assert np.issubdtype(da.dtype, np.floating)


# ---------------------------------------------------------------------------- check_alignment
def _labelled(ids, values=None):
    values = np.arange(len(ids), dtype=float) if values is None else np.asarray(values, dtype=float)
    return xr.DataArray(values[:, None] * np.ones((1, 2)), dims=("stimulus", "voxel"),
                        coords={"stimulus_id": ("stimulus", list(ids))})


def test_alignment_reorders_second_to_first_order():
    truth = {"a": 10.0, "b": 20.0, "c": 30.0, "d": 40.0}
    first_ids = ["c", "a", "d", "b"]
    second_ids = ["a", "b", "c", "d"]
    a = _labelled(first_ids, [truth[i] + 0.5 for i in first_ids])
    b = _labelled(second_ids, [truth[i] for i in second_ids])
    a2, b2 = check_alignment(a, b)
    assert [str(v) for v in b2["stimulus_id"].values] == first_ids
    assert [str(v) for v in a2["stimulus_id"].values] == first_ids
    np.testing.assert_array_equal(b2.values[:, 0], [truth[i] for i in first_ids])
    np.testing.assert_array_equal(a2.values, a.values)


def test_alignment_different_sets():
    a = _labelled(["a", "b", "c"])
    b = _labelled(["b", "c", "x", "y"])
    with pytest.raises(AlignmentError) as err:
        check_alignment(a, b, names=["brain", "model"])
    msg = str(err.value)
    assert msg.startswith("model:")
    assert "1 missing (e.g. ['a'])" in msg
    assert "2 extra (e.g. ['x', 'y'])" in msg
    assert "how=" not in msg  # callers of the public functions have no such option


def test_alignment_inner_keeps_first_order():
    a = _labelled(["d", "b", "a", "c"], [4, 2, 1, 3])
    b = _labelled(["a", "b", "c", "z"], [100, 200, 300, 999])
    a2, b2 = check_alignment(a, b, how="inner")
    assert [str(v) for v in a2["stimulus_id"].values] == ["b", "a", "c"]
    assert [str(v) for v in b2["stimulus_id"].values] == ["b", "a", "c"]
    np.testing.assert_array_equal(a2.values[:, 0], [2, 1, 3])
    np.testing.assert_array_equal(b2.values[:, 0], [200, 100, 300])


def test_alignment_inner_no_common():
    with pytest.raises(AlignmentError, match="no stimulus_id is shared"):
        check_alignment(_labelled(["a"]), _labelled(["b"]), how="inner")


def test_alignment_one_without_ids():
    a = _labelled(["a", "b"])
    b = xr.DataArray(np.zeros((2, 2)), dims=("stimulus", "voxel"))
    with pytest.raises(AlignmentError) as err:
        check_alignment(a, b, names=["brain", "model"])
    msg = str(err.value)
    assert msg.startswith("model: received DataArray shape=(2, 2)")
    assert "without stimulus_id while brain carries stimulus_id" in msg
    assert 'model.assign_coords(stimulus_id=("stimulus", ids))' in msg and 'brain.drop_vars("stimulus_id")' in msg


@pytest.mark.parametrize("plain", [np.zeros((2, 3)), torch.zeros(2, 3), [[0.0], [1.0]]])
def test_alignment_labelled_and_plain_is_an_error_in_either_order(plain):
    a = _labelled(["a", "b"])
    for args, names, missing in (((a, plain), ["features", "responses"], "responses"),
                                 ((plain, a), ["responses", "features"], "responses")):
        with pytest.raises(AlignmentError) as err:
            check_alignment(*args, names=names)
        msg = str(err.value)
        assert msg.startswith(f"{missing}: received") and "never by position" in msg
        assert f'xr.DataArray({missing}, dims=("stimulus", ...), coords={{"stimulus_id": ("stimulus", ids)}})' in msg


def test_alignment_plain_arrays_by_position_and_ids_returned():
    x, y = np.zeros((3, 2)), torch.ones(3, 4)
    (x2, y2), ids = check_alignment(x, y, return_ids=True)
    assert x2 is x and y2 is y and ids is None
    with pytest.raises(AlignmentError, match="'X': 3, 'y': 2"):
        check_alignment(x, y[:2], names=["X", "y"])
    a, b = _labelled(["c", "a", "b"], [3, 1, 2]), _labelled(["a", "b", "c"], [1, 2, 3])
    (a2, b2), ids = check_alignment(a, b, return_ids=True)
    assert ids == ["c", "a", "b"] and a2 is a
    np.testing.assert_array_equal(b2.values, a.values)
    (one,), ids = check_alignment(a, return_ids=True)
    assert one is a and ids == ["c", "a", "b"]


def test_alignment_duplicated_ids_name_them():
    a = _labelled(["a", "b", "b"])
    with pytest.raises(AlignmentError, match=r"model.stimulus_id: received 1 duplicated stimulus ids, e.g. \['b'\]"):
        check_alignment(_labelled(["a", "b", "c"]), a, names=["brain", "model"])


def test_alignment_without_ids():
    a = xr.DataArray(np.zeros((3, 2)), dims=("stimulus", "voxel"))
    b = xr.DataArray(np.ones((3, 5)), dims=("stimulus", "unit"))
    a2, b2 = check_alignment(a, b)
    assert a2 is a and b2 is b
    c = xr.DataArray(np.zeros((4, 2)), dims=("stimulus", "voxel"))
    with pytest.raises(AlignmentError) as err:
        check_alignment(a, c)
    msg = str(err.value)
    assert "'array 0': 3" in msg and "'array 1': 4" in msg and "equal numbers of stimuli" in msg


def test_alignment_bad_how_and_bad_input():
    a = _labelled(["a"])
    with pytest.raises(InputError, match="'outer'"):
        check_alignment(a, a, how="outer")
    with pytest.raises(InputError, match="'stimulus' dim"):
        check_alignment(a, xr.DataArray(np.zeros((1, 2)), dims=("image", "voxel")))
    with pytest.raises(InputError, match="stimuli on the first axis"):
        check_alignment(np.zeros(2), 3.0)


def test_alignment_duplicate_ids():
    with pytest.raises(AlignmentError, match=r"array 1\.stimulus_id.*\['a'\]"):
        check_alignment(_labelled(["a", "b"]), _labelled(["a", "a"]))


def test_alignment_single_array_passthrough():
    a = _labelled(["b", "a"])
    (out,) = check_alignment(a)
    assert out is a
