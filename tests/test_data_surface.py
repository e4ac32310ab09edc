"""load_surface_responses on GIFTI, FreeSurfer (.mgh/.mgz/.annot) and .npy files written in tmp_path,
against planted values and nilearn."""

import nibabel as nib
import numpy as np
import pytest
from nibabel.gifti import GiftiDataArray, GiftiImage, GiftiLabel, GiftiLabelTable

from neuroperception.data import load_responses, load_surface_responses, save_responses
from neuroperception.errors import InputError, ShapeError

N5 = 10242


def _func_gii(path, rows):
    """One data array per trial, as fMRI surface time series are usually stored."""
    img = GiftiImage(darrays=[GiftiDataArray(r.astype(np.float32), intent="NIFTI_INTENT_NONE") for r in rows])
    nib.save(img, path)
    return path


def _label_gii(path, values, names):
    table = GiftiLabelTable()
    for key, name in names.items():
        label = GiftiLabel(key=key)
        label.label = name
        table.labels.append(label)
    img = GiftiImage(darrays=[GiftiDataArray(values.astype(np.int32), intent="NIFTI_INTENT_LABEL")],
                     labeltable=table)
    nib.save(img, path)
    return path


@pytest.fixture
def hemis():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, N5)).astype(np.float32), rng.normal(size=(4, N5)).astype(np.float32)


def test_gifti_and_npy_hemispheres_match_planted_values_and_nilearn(tmp_path, hemis):
    from nilearn.surface import load_surf_data

    lh, rh = hemis
    left = _func_gii(tmp_path / "lh.func.gii", lh)
    np.save(tmp_path / "rh.npy", rh)
    ids = ["a", "b", "c", "d"]
    r = load_surface_responses(left, tmp_path / "rh.npy", ids, mesh="fsaverage5", subject="sub-01")
    assert r.dims == ("stimulus", "voxel")
    assert r["stimulus_id"].values.tolist() == ids
    np.testing.assert_array_equal(r.values, np.hstack([lh, rh]))
    np.testing.assert_array_equal(r.values[:, :N5], load_surf_data(str(left)).T)  # nilearn: (vertex, trial)
    assert r["hemi"].values.tolist() == ["left"] * N5 + ["right"] * N5
    np.testing.assert_array_equal(r["vertex"].values, np.r_[np.arange(N5), np.arange(N5)])
    assert r.attrs["mesh"] == "fsaverage5" and "lh.func.gii" in r.attrs["source"]


def test_single_2d_gifti_array_in_either_orientation(tmp_path, hemis):
    lh, rh = hemis
    for name, mat in (("rows.gii", lh), ("cols.gii", lh.T)):
        nib.save(GiftiImage(darrays=[GiftiDataArray(np.ascontiguousarray(mat))]), tmp_path / name)
        r = load_surface_responses(tmp_path / name, None, list("abcd"))
        np.testing.assert_array_equal(r.values, lh)
        assert set(r["hemi"].values) == {"left"}


def test_roi_from_label_gifti_and_arrays(tmp_path):
    rng = np.random.default_rng(1)
    lh, rh = rng.normal(size=(3, 20)), rng.normal(size=(3, 15))
    lab_l, lab_r = rng.integers(0, 3, 20), rng.integers(0, 3, 15)
    names = {0: "???", 1: "V1", 2: "V2"}
    gii = _label_gii(tmp_path / "lh.label.gii", lab_l, names)
    r = load_surface_responses(lh, rh, list("abc"), roi_left=gii, roi_right=lab_r, roi_labels=None)
    assert r["roi"].values.tolist() == [names[v] for v in lab_l] + [str(v) for v in lab_r]
    r = load_surface_responses(lh, rh, list("abc"), roi_left=lab_l, roi_right=lab_r, roi_labels=["none", "V1", "V2"])
    assert r["roi"].values.tolist() == [["none", "V1", "V2"][v] for v in np.r_[lab_l, lab_r]]
    with pytest.raises(InputError, match=r"no name for labels \[2\]"):
        load_surface_responses(lh, rh, list("abc"), roi_left=lab_l, roi_right=lab_r, roi_labels={0: "x", 1: "V1"})
    with pytest.raises(ShapeError, match=r"roi_right.*expected one label per vertex \(15,\)"):
        load_surface_responses(lh, rh, list("abc"), roi_left=lab_l, roi_right=lab_l)


def test_repeats_nan_and_save_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    lh, rh = rng.normal(size=(4, 6)), rng.normal(size=(4, 5))
    r = load_surface_responses(lh, rh, ["a", "b", "a", "b"])
    assert r.dims == ("repeat", "stimulus", "voxel")
    np.testing.assert_array_equal(r.sel(repeat=1).values, np.hstack([lh, rh])[[2, 3]])
    assert load_responses(save_responses(r, tmp_path / "r.nc")).identical(r)
    lh[1, 2] = np.nan
    with pytest.raises(InputError, match=r"left \(in-memory left array\): 1 of 6 vertices hold NaN.*drop_nonfinite"):
        load_surface_responses(lh, rh, list("abcd"))
    r = load_surface_responses(lh, rh, list("abcd"), drop_nonfinite=True)
    assert r["vertex"].values.tolist() == [0, 1, 3, 4, 5, 0, 1, 2, 3, 4]
    np.testing.assert_array_equal(r.values, np.hstack([lh[:, [0, 1, 3, 4, 5]], rh]))


def test_errors(tmp_path, hemis):
    lh, rh = hemis
    with pytest.raises(ShapeError, match=r"left .*holds 4 stimuli but right .*holds 3"):
        load_surface_responses(lh, rh[:3], list("abcd"))
    path = _func_gii(tmp_path / "lh.func.gii", lh)
    with pytest.raises(ShapeError, match=r"lh.func.gii\): holds 4 stimuli but received 5 stimulus ids"):
        load_surface_responses(path, None, list("abcde"))
    with pytest.raises(ShapeError, match=r"right .*holds 10000 vertices; expected 10242 for mesh='fsaverage5'"):
        load_surface_responses(lh, rh[:, :10000], list("abcd"), mesh="fsaverage5")
    with pytest.raises(InputError, match="mesh: received 'fsavg5'"):
        load_surface_responses(lh, rh, list("abcd"), mesh="fsavg5")
    with pytest.raises(FileNotFoundError, match="missing.func.gii"):
        load_surface_responses(tmp_path / "missing.func.gii", rh, list("abcd"))
    (tmp_path / "lh.mgh.txt").write_text("x")
    with pytest.raises(InputError, match=r"expected a .gii/.func.gii, .mgh/.mgz or .npy file"):
        load_surface_responses(tmp_path / "lh.mgh.txt", rh, list("abcd"))
    with pytest.raises(InputError, match="None for both hemispheres"):
        load_surface_responses(None, None, list("abcd"))


def _mgh(path, frames, dtype=np.float32):
    """FreeSurfer's surface layout: an MGH volume (n_vertices, 1, 1, n_frames), big-endian on disk."""
    data = np.asarray(frames, dtype).T.reshape(-1, 1, 1, len(frames))
    data = data[..., 0] if len(frames) == 1 else data  # one frame is stored as (n_vertices, 1, 1)
    nib.save(nib.MGHImage(data, np.eye(4)), path)
    return path


def test_freesurfer_mgh_mgz_annot_and_colour_table(tmp_path, hemis):
    from nibabel.freesurfer import write_annot
    from nilearn.surface import load_surf_data

    lh, rh = hemis
    left = _mgh(tmp_path / "lh.betas.mgh", lh)
    right = _mgh(tmp_path / "rh.betas.mgz", rh)
    assert nib.load(left).get_data_dtype().byteorder == ">"  # MGH is big-endian: values must still match
    lab_l = np.random.default_rng(3).integers(0, 3, N5)
    lab_r = np.random.default_rng(4).integers(-1, 2, N5)
    _mgh(tmp_path / "lh.rois.mgz", lab_l[None], np.int32)
    ctab = np.array([[25, 5, 25, 0, 0], [255, 0, 0, 0, 0], [0, 255, 0, 0, 0]], np.int32)  # ids filled in on writing
    write_annot(tmp_path / "rh.rois.annot", lab_r, ctab, [b"medial", b"V1", b"V2"], fill_ctab=True)
    (tmp_path / "rois.mgz.ctab").write_text("0 Unknown\n1 V1\t\n2 V2\n")  # NSD's 'index name' lines
    r = load_surface_responses(left, right, list("abcd"), mesh="fsaverage5", roi_left=tmp_path / "lh.rois.mgz",
                               roi_right=tmp_path / "rh.rois.annot")
    np.testing.assert_array_equal(r.values, np.hstack([lh, rh]))
    np.testing.assert_array_equal(r.values[:, N5:], load_surf_data(str(right)).T)  # nilearn reads .mgz
    names_r = {-1: "unknown", 0: "medial", 1: "V1", 2: "V2"}
    assert r["roi"].values.tolist() == [str(v) for v in lab_l] + [names_r[v] for v in lab_r]
    r = load_surface_responses(left, None, list("abcd"), roi_left=tmp_path / "lh.rois.mgz",
                               roi_labels=tmp_path / "rois.mgz.ctab")
    assert r["roi"].values.tolist() == [["Unknown", "V1", "V2"][v] for v in lab_l]
    nib.save(nib.MGHImage(np.zeros((4, 5, 6), np.float32), np.eye(4)), tmp_path / "vol.mgz")
    with pytest.raises(ShapeError, match=r"vol.mgz\): MGH volume of shape \(4, 5, 6\); expected surface data"):
        load_surface_responses(tmp_path / "vol.mgz", None, list("abcd"))
