"""load_nifti_responses on small NIfTI files written in tmp_path, against planted values and nilearn."""

import nibabel as nib
import numpy as np
import pytest

from neuroperception.data import load_nifti_responses, load_responses, save_responses
from neuroperception.errors import InputError, ShapeError

SHAPE = (6, 5, 4)
AFFINE = np.array([[2.0, 0, 0, -10], [0, 2.0, 0, -20], [0, 0, 2.0, 4], [0, 0, 0, 1]])


@pytest.fixture
def planted(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=SHAPE + (5,)).astype(np.float32)
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:5, 1:4, 0:3] = 1
    mask[0, 0, 0] = 1
    nib.save(nib.Nifti1Image(data, AFFINE), tmp_path / "betas.nii.gz")
    nib.save(nib.Nifti1Image(mask, AFFINE), tmp_path / "mask.nii.gz")
    return tmp_path, data, mask.astype(bool)


@pytest.mark.filterwarnings("ignore:boolean values for 'standardize':FutureWarning")
def test_4d_file_matches_planted_values_coords_and_nilearn(planted):
    from nilearn.maskers import NiftiMasker

    root, data, mask = planted
    ids = ["s0", "s1", "s2", "s3", "s4"]
    r = load_nifti_responses(root / "betas.nii.gz", ids, mask=root / "mask.nii.gz", subject="sub-01")
    assert r.dims == ("stimulus", "voxel")
    assert r["stimulus_id"].values.tolist() == ids
    np.testing.assert_array_equal(r.values, data[mask].T)
    ijk = np.argwhere(mask)
    np.testing.assert_array_equal(np.c_[r["i"], r["j"], r["k"]], ijk)
    np.testing.assert_allclose(np.c_[r["x"], r["y"], r["z"]], ijk * 2.0 + [-10, -20, 4])
    assert set(r["subject"].values) == {"sub-01"}
    assert r.attrs["source"].endswith("betas.nii.gz")
    reference = NiftiMasker(mask_img=str(root / "mask.nii.gz")).fit().transform(str(root / "betas.nii.gz"))
    np.testing.assert_array_equal(r.values, reference)


def test_list_of_3d_files_equals_4d_image(planted):
    root, data, mask = planted
    paths = []
    for t in range(data.shape[-1]):
        paths.append(root / f"trial{t}.nii")
        nib.save(nib.Nifti1Image(data[..., t], AFFINE), paths[-1])
    ids = list("abcde")
    a = load_nifti_responses(paths, ids, mask=root / "mask.nii.gz")
    b = load_nifti_responses(nib.load(root / "betas.nii.gz"), ids, mask=nib.load(root / "mask.nii.gz"))
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a["x"].values, b["x"].values)


def test_repeated_ids_are_stacked(planted):
    root, data, mask = planted
    r = load_nifti_responses(root / "betas.nii.gz", ["a", "b", "a", "c", "a"], mask=root / "mask.nii.gz")
    assert r.dims == ("repeat", "stimulus", "voxel")
    assert r["stimulus_id"].values.tolist() == ["a", "b", "c"]
    a = r.isel(stimulus=0).values
    np.testing.assert_array_equal(a, data[mask].T[[0, 2, 4]])
    assert np.isnan(r.isel(stimulus=1, repeat=1).values).all()


def test_computed_mask_keeps_the_nonzero_block(tmp_path):
    rng = np.random.default_rng(2)
    data = np.zeros((10, 10, 10, 3), np.float32)
    data[3:7, 2:8, 4:6] = rng.uniform(1, 2, size=(4, 6, 2, 3))
    r = load_nifti_responses(nib.Nifti1Image(data, np.eye(4)), ["a", "b", "c"])
    inside = np.zeros((10, 10, 10), bool)
    inside[3:7, 2:8, 4:6] = True
    np.testing.assert_array_equal(np.c_[r["i"], r["j"], r["k"]], np.argwhere(inside))
    np.testing.assert_array_equal(r.values, data[inside].T)


def test_atlas_labels_list_dict_and_integers(planted):
    root, data, mask = planted
    atlas = np.zeros(SHAPE, np.int16)
    atlas[:3] = 1
    atlas[3:] = 2
    nib.save(nib.Nifti1Image(atlas, AFFINE), root / "atlas.nii.gz")
    ids = list("abcde")
    expected = atlas[mask]
    r = load_nifti_responses(root / "betas.nii.gz", ids, mask=root / "mask.nii.gz", atlas=root / "atlas.nii.gz",
                             atlas_labels=["Background", "V1", "V2"])
    assert r["roi"].values.tolist() == [["Background", "V1", "V2"][v] for v in expected]
    r = load_nifti_responses(root / "betas.nii.gz", ids, mask=root / "mask.nii.gz", atlas=root / "atlas.nii.gz",
                             atlas_labels={1: "V1", 2: "V2"})
    assert r["roi"].values.tolist() == [["background", "V1", "V2"][v] for v in expected]
    r = load_nifti_responses(root / "betas.nii.gz", ids, mask=root / "mask.nii.gz", atlas=root / "atlas.nii.gz")
    assert r["roi"].values.tolist() == [str(v) for v in expected]
    with pytest.raises(InputError, match=r"no name for atlas values \[2\]"):
        load_nifti_responses(root / "betas.nii.gz", ids, mask=root / "mask.nii.gz", atlas=root / "atlas.nii.gz",
                             atlas_labels={1: "V1"})


def test_atlas_on_finer_grid_is_resampled_by_nearest_neighbour(planted):
    root, data, mask = planted
    rng = np.random.default_rng(3)
    fine = rng.integers(1, 5, size=(12, 10, 8)).astype(np.int16)  # 1 mm grid, same origin
    fine_affine = AFFINE.copy()
    fine_affine[:3, :3] = np.eye(3)
    nib.save(nib.Nifti1Image(fine, fine_affine), root / "fine.nii.gz")
    r = load_nifti_responses(root / "betas.nii.gz", list("abcde"), mask=root / "mask.nii.gz",
                             atlas=root / "fine.nii.gz")
    ijk = np.argwhere(mask)
    expected = fine[2 * ijk[:, 0], 2 * ijk[:, 1], 2 * ijk[:, 2]]  # data voxel (i,j,k) sits on fine voxel (2i,2j,2k)
    assert r["roi"].values.tolist() == [str(v) for v in expected]
    with pytest.raises(ShapeError, match="atlas .*fine.nii.gz.*expected the data's grid"):
        load_nifti_responses(root / "betas.nii.gz", list("abcde"), mask=root / "mask.nii.gz",
                             atlas=root / "fine.nii.gz", resample_atlas=False)


def test_round_trip_through_netcdf(planted, tmp_path):
    root, _, _ = planted
    r = load_nifti_responses(root / "betas.nii.gz", list("abaca"), mask=root / "mask.nii.gz")
    assert load_responses(save_responses(r, tmp_path / "r.nc")).identical(r)


def test_errors_name_the_file_and_what_was_expected(planted):
    root, data, mask = planted
    betas, maskp = root / "betas.nii.gz", root / "mask.nii.gz"
    with pytest.raises(ShapeError, match=r"betas.nii.gz.*holds 5 volumes but received 4 stimulus ids"):
        load_nifti_responses(betas, list("abcd"), mask=maskp)
    with pytest.raises(ShapeError, match=r"mask.nii.gz.*received a 3-D image.*expected a 4-D image"):
        load_nifti_responses(maskp, ["a"])
    with pytest.raises(FileNotFoundError, match="nothere.nii.gz"):
        load_nifti_responses(root / "nothere.nii.gz", list("abcde"))
    small = root / "small.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((6, 5, 3), np.uint8), AFFINE), small)
    with pytest.raises(ShapeError, match=r"mask \(.*small.nii.gz\): received shape \(6, 5, 3\)"):
        load_nifti_responses(betas, list("abcde"), mask=small)
    shifted = root / "shifted.nii.gz"
    moved = AFFINE.copy()
    moved[0, 3] += 2
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), moved), shifted)
    with pytest.raises(ShapeError, match="shifted.nii.gz.*affine"):
        load_nifti_responses(betas, list("abcde"), mask=shifted)
    bad = data.copy()
    bad[1, 1, 0, 2] = np.nan
    bad[2, 1, 0, 0] = np.nan
    bad[5, 4, 3, 0] = np.nan  # outside the mask: ignored
    nib.save(nib.Nifti1Image(bad, AFFINE), root / "nan.nii.gz")
    with pytest.raises(InputError, match=r"2 of 37 voxels inside the mask hold NaN.*pass a mask"):
        load_nifti_responses(root / "nan.nii.gz", list("abcde"), mask=maskp)
    excluded = mask.copy()
    excluded[1, 1, 0] = excluded[2, 1, 0] = False
    r = load_nifti_responses(root / "nan.nii.gz", list("abcde"), mask=nib.Nifti1Image(excluded.astype("u1"), AFFINE))
    np.testing.assert_array_equal(r.values, data[excluded].T)
    other = root / "other_grid.nii"
    nib.save(nib.Nifti1Image(data[:5, ..., 0], AFFINE), other)
    with pytest.raises(ShapeError, match=r"imgs\[1\] \(.*other_grid.nii\): received shape \(5, 5, 4\)"):
        load_nifti_responses([root / "mask.nii.gz", other], ["a", "b"])


def test_mask_must_be_binary_like_nilearns(planted):
    """NSD-style label volumes (-1 outside the brain, 0, 1) are refused as nilearn's mask check refuses them.

    (nilearn's NiftiMasker itself keeps every non-zero voxel of such a file, -1 included.)
    """
    from nilearn.masking import apply_mask

    root, data, mask = planted
    labels = np.where(mask, 1, -1).astype(np.int16)
    labels[0, 1, 1] = 0
    path = root / "nsdgeneral.nii.gz"
    nib.save(nib.Nifti1Image(labels, AFFINE), path)
    with pytest.raises(ValueError, match="not made of 2 values"):
        apply_mask(str(root / "betas.nii.gz"), str(path))
    with pytest.raises(InputError, match=r"nsdgeneral.nii.gz\): holds the values \[-1.0, 0.0, 1.0\]; expected a bi"):
        load_nifti_responses(root / "betas.nii.gz", list("abcde"), mask=path)
    two = root / "two.nii.gz"  # any two values with 0 as background are a mask, as in nilearn
    nib.save(nib.Nifti1Image(mask.astype(np.int16) * 2, AFFINE), two)
    r = load_nifti_responses(root / "betas.nii.gz", list("abcde"), mask=two)
    np.testing.assert_array_equal(r.values, data[mask].T)
