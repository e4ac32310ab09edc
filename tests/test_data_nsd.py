"""load_nsd_betas on a fake NSD root with the real file names, a tiny volume and a full-size design."""

import h5py
import nibabel as nib
import numpy as np
import pytest
from scipy.io import savemat

from neuroperception.data import load_nsd_betas, load_responses, save_responses
from neuroperception.errors import InputError, ShapeError

X, Y, Z, T = 6, 5, 4, 750
AFFINE = np.array([[-1.8, 0, 0, 72.0], [0, 1.8, 0, -90.0], [0, 0, 1.8, -60.0], [0, 0, 0, 1]])
PREP = "betas_fithrf_GLMdenoise_RR"


def _betas_dir(root, subj="subj01"):
    return root / "nsddata_betas" / "ppdata" / subj / "func1pt8mm" / PREP


@pytest.fixture(scope="module")
def nsd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nsd")
    rng = np.random.default_rng(0)
    # design: every one of a subject's 10000 images shown 3 times, in random order; images are 1-based 73k ids
    masterordering = rng.permutation(np.repeat(np.arange(1, 10001), 3))[None, :]
    subjectim = np.stack([rng.choice(np.arange(1, 73001), 10000, replace=False) for _ in range(8)])
    exp = root / "nsddata" / "experiments" / "nsd"
    exp.mkdir(parents=True)
    savemat(exp / "nsd_expdesign.mat", {"masterordering": masterordering, "subjectim": subjectim})
    betas = {s: rng.integers(-3000, 3000, size=(X, Y, Z, T), dtype=np.int16) for s in (1, 2)}
    bdir = _betas_dir(root)
    bdir.mkdir(parents=True)
    for s, vol in betas.items():
        with h5py.File(bdir / f"betas_session{s:02d}.hdf5", "w") as f:
            f.create_dataset("betas", data=vol.transpose(3, 2, 1, 0))  # as h5py reads the MATLAB files
        nib.save(nib.Nifti1Image(vol, AFFINE), bdir / f"betas_session{s:02d}.nii.gz")
    with h5py.File(bdir / "betas_session03.hdf5", "w") as f:
        f.create_dataset("betas", data=np.zeros((700, Z, Y, X), np.int16))
    func = root / "nsddata" / "ppdata" / "subj01" / "func1pt8mm"
    (func / "roi").mkdir(parents=True)
    general = np.full((X, Y, Z), -1, np.int16)
    general[1:5, 1:4, 1:3] = 0
    general[2:4, 1:4, 1:3] = 1
    nib.save(nib.Nifti1Image(general, AFFINE), func / "roi" / "nsdgeneral.nii.gz")
    visual = np.zeros((X, Y, Z), np.int16)
    visual[0, :, :2] = 1
    visual[2, 2:, :] = 7
    visual[2:4, 1, 1] = 3
    nib.save(nib.Nifti1Image(visual, AFFINE), func / "roi" / "prf-visualrois.nii.gz")
    nib.save(nib.Nifti1Image(np.ones((X, Y, Z), np.int16), AFFINE), func / "brainmask.nii.gz")
    label = root / "nsddata" / "freesurfer" / "subj01" / "label"
    label.mkdir(parents=True)
    (label / "prf-visualrois.mgz.ctab").write_text(
        "0 Unknown\n1 V1v\n2 V1d\n3 V2v\n4 V2d\n5 V3v\n6 V3d\n7 hV4\n")
    return root, betas, masterordering[0], subjectim


def _expected(betas, order, subjectim, sessions, sel, subject=1):
    """Trial-by-trial expectation computed independently of the reader."""
    trials, ids = [], []
    for s in sessions:
        for t in range(T):
            g = (s - 1) * T + t
            ids.append(f"nsd-{subjectim[subject - 1, order[g] - 1]:05d}")
            trials.append(betas[s][..., t][sel].astype(np.float32) / np.float32(300))
    return np.array(trials), ids


def test_ids_repeats_and_values_exactly(nsd_root):
    root, betas, order, subjectim = nsd_root
    sel = np.ones((X, Y, Z), bool)
    r = load_nsd_betas(root, "subj01", [1, 2], progress=False)
    trials, ids = _expected(betas, order, subjectim, [1, 2], sel)
    first = list(dict.fromkeys(ids))
    assert r.dims == ("repeat", "stimulus", "voxel")
    assert r["stimulus_id"].values.tolist() == first
    assert r.sizes["voxel"] == X * Y * Z and r.sizes["stimulus"] == len(first)
    assert r.sizes["repeat"] == max(ids.count(i) for i in set(ids)) > 1
    pos = {s: k for k, s in enumerate(first)}
    seen = dict.fromkeys(first, 0)
    for t, sid in enumerate(ids):
        np.testing.assert_array_equal(r.values[seen[sid], pos[sid]], trials[t])
        seen[sid] += 1
    counts = np.array([seen[s] for s in first])
    assert np.isnan(r.values[2, counts < 3]).all()
    np.testing.assert_array_equal(np.c_[r["i"], r["j"], r["k"]], np.argwhere(sel))
    np.testing.assert_allclose(np.c_[r["x"], r["y"], r["z"]], np.argwhere(sel) @ AFFINE[:3, :3].T + AFFINE[:3, 3])
    assert r.attrs["units"] == "percent signal change"
    assert set(r["subject"].values) == {"subj01"}


def test_hdf5_axis_order_matches_nifti(nsd_root):
    root, betas, *_ = nsd_root
    a = load_nsd_betas(root, 1, 2, format="hdf5", mask="nsdgeneral", progress=False)
    b = load_nsd_betas(root, 1, 2, format="nifti", mask="nsdgeneral", progress=False)
    np.testing.assert_array_equal(a.values, b.values)
    assert a["i"].values.tolist() == b["i"].values.tolist()
    # one voxel checked by hand: NIfTI voxel (3, 1, 2) of the first trial of session 2
    v = int(np.flatnonzero((a["i"] == 3) & (a["j"] == 1) & (a["k"] == 2))[0])
    sid = load_nsd_betas(root, 1, 2, mask="nsdgeneral", progress=False)["stimulus_id"].values[0]
    assert a.sel(repeat=0).values[0, v] == np.float32(betas[2][3, 1, 2, 0]) / np.float32(300)
    assert str(a["stimulus_id"].values[0]) == str(sid)


def test_mask_and_roi_files(nsd_root):
    root, betas, order, subjectim = nsd_root
    func = root / "nsddata" / "ppdata" / "subj01" / "func1pt8mm"
    general = np.asarray(nib.load(func / "roi" / "nsdgeneral.nii.gz").dataobj)
    visual = np.asarray(nib.load(func / "roi" / "prf-visualrois.nii.gz").dataobj)
    r = load_nsd_betas(root, 1, [1], mask="nsdgeneral", roi="prf-visualrois", progress=False)
    sel = general > 0
    assert r.sizes["voxel"] == sel.sum() == 12
    names = {0: "unlabelled", 3: "V2v", 7: "hV4"}
    assert r["roi"].values.tolist() == [names[v] for v in visual[sel]]
    trials, _ = _expected(betas, order, subjectim, [1], sel)
    np.testing.assert_array_equal(r.values[0, 0], trials[0])
    # roi alone keeps voxels with roi > 0; a path works as well as a name
    r = load_nsd_betas(root, 1, [1], roi=func / "roi" / "prf-visualrois.nii.gz", progress=False)
    assert r.sizes["voxel"] == (visual > 0).sum()
    assert sorted(set(r["roi"].values)) == ["V1v", "V2v", "hV4"]
    # without a colour table the integers are the names
    r = load_nsd_betas(root, 1, [1], roi=visual, progress=False)
    assert sorted(set(r["roi"].values)) == ["1", "3", "7"]


def test_round_trip_and_xyz_without_nifti(nsd_root, tmp_path):
    root, *_ = nsd_root
    r = load_nsd_betas(root, 1, range(1, 2), format="hdf5", mask=np.ones((X, Y, Z), bool))  # with progress bar
    assert "x" in r.coords  # affine from brainmask.nii.gz
    assert r.attrs["sessions"] == "1"
    assert load_responses(save_responses(r, tmp_path / "nsd.nc")).identical(r)


def test_errors(nsd_root, tmp_path):
    root, *_ = nsd_root
    missing = _betas_dir(root) / "betas_session04.hdf5"
    with pytest.raises(FileNotFoundError, match=rf"session 4: looked for {missing}"):
        load_nsd_betas(root, 1, [1, 4], progress=False)
    with pytest.raises(ShapeError, match=r"betas_session03.hdf5: holds 700 trials; expected 750"):
        load_nsd_betas(root, 1, [3], progress=False)
    for bad in ("subj09", 0, "s1", True):
        with pytest.raises(InputError, match="subject: received .*expected an NSD subject 1..8"):
            load_nsd_betas(root, bad, [1], progress=False)
    with pytest.raises(InputError, match=r"sessions: received \[41\]"):
        load_nsd_betas(root, 1, [41], progress=False)
    with pytest.raises(FileNotFoundError, match=r"roi/V9.nii.gz"):
        load_nsd_betas(root, 1, [1], roi="V9", progress=False)
    with pytest.raises(ShapeError, match=r"mask/roi: received a volume of shape \(2, 2, 2\); expected \(6, 5, 4\)"):
        load_nsd_betas(root, 1, [1], mask=np.ones((2, 2, 2)), progress=False)
    with pytest.raises(FileNotFoundError, match="nsd_expdesign.mat"):
        load_nsd_betas(tmp_path, 1, [1], progress=False)
    with pytest.raises(InputError, match="format: received 'mat'"):
        load_nsd_betas(root, 1, [1], format="mat", progress=False)
