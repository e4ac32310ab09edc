"""load_nsd_betas on a fake NSD root written in the release layout, with a tiny volume and mesh.

What the fixture reproduces of the real files (NSD data manual "Functional data (NSD)"; tknapen/nsd_access):

* ``betas_sessionSS.hdf5``: dataset ``betas``, int16 (percent signal change x 300), written from
  MATLAB as X x Y x Z x 750 with chunk size [1 1 1 750], so h5py sees shape ``(750, Z, Y, X)`` and
  chunks ``(750, 1, 1, 1)``; ``betas_sessionSS.nii.gz`` holds the same int16 values as ``(X, Y, Z, 750)``;
* ``nsddata/ppdata/subj01/func1pt8mm/roi/``: bilateral ``<name>.nii.gz`` beside ``lh.<name>.nii.gz`` /
  ``rh.<name>.nii.gz``; ``nsdgeneral`` holds -1 outside the brain, 0 unlabelled, 1 inside;
* colour tables ``nsddata/freesurfer/{subj01,fsaverage}/label/<name>.mgz.ctab`` (``index name`` lines);
* surfaces: ``fsaverage/<prep>/{lh,rh}.betas_sessionSS.mgh`` float32 percent signal change as
  ``(n_vertices, 1, 1, 750)`` (big-endian, as MGH is), ``nativesurface/<prep>/{lh,rh}.betas_sessionSS.hdf5``
  int16 x 300 as h5py ``(750, n_vertices)``, and ``freesurfer/<subj01|fsaverage>/label/{lh,rh}.<name>.mgz``
  label maps. The meshes here have a few dozen vertices instead of 163,842.
"""

import shutil

import h5py
import nibabel as nib
import numpy as np
import pytest
from scipy.io import savemat

from neuroperception.data import _nsd_files, load_nsd_betas, load_responses, save_responses
from neuroperception.errors import InputError, ShapeError

X, Y, Z, T = 6, 5, 4, 750
AFFINE = np.array([[-1.8, 0, 0, 72.0], [0, 1.8, 0, -90.0], [0, 0, 1.8, -60.0], [0, 0, 0, 1]])
PREP = "betas_fithrf_GLMdenoise_RR"
CTAB = "0 Unknown\n1 V1v\n2 V1d\n3 V2v\n4 V2d\n5 V3v\n6 V3d\n7 hV4\n"
V = {"lh": 9, "rh": 7}  # vertices per hemisphere of the tiny meshes
LEFT = np.arange(X)[:, None, None] >= X // 2  # the voxels of the "left hemisphere" (i >= 3)


def _betas_dir(root, space="func1pt8mm", subj="subj01"):
    return root / "nsddata_betas" / "ppdata" / subj / space / PREP


def _write_hdf5(path, vol, **kwargs):
    """An X x Y x Z x T MATLAB array as h5py sees it: reversed axes, NSD's chunks unless told otherwise."""
    with h5py.File(path, "w") as f:
        f.create_dataset("betas", data=vol.transpose(3, 2, 1, 0), **({"chunks": (T, 1, 1, 1)} | kwargs))


def _mgh(path, values):
    """One value per vertex and frame as FreeSurfer stores surface data: (n_vertices, 1, 1[, n_frames])."""
    values = np.asarray(values)
    nib.save(nib.MGHImage(values.reshape(values.shape[0], 1, 1, *values.shape[1:]), np.eye(4)), path)


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
        _write_hdf5(bdir / f"betas_session{s:02d}.hdf5", vol)
        nib.save(nib.Nifti1Image(vol, AFFINE), bdir / f"betas_session{s:02d}.nii.gz")
    with h5py.File(bdir / "betas_session03.hdf5", "w") as f:
        f.create_dataset("betas", data=np.zeros((700, Z, Y, X), np.int16), chunks=(700, 1, 1, 1))
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
    visual[4, 0, 3] = 5
    nib.save(nib.Nifti1Image(visual, AFFINE), func / "roi" / "prf-visualrois.nii.gz")
    for hemi, side in (("lh", LEFT), ("rh", ~LEFT)):
        nib.save(nib.Nifti1Image(np.where(side, visual, 0).astype(np.int16), AFFINE),
                 func / "roi" / f"{hemi}.prf-visualrois.nii.gz")
    nib.save(nib.Nifti1Image(np.ones((X, Y, Z), np.int16), AFFINE), func / "brainmask.nii.gz")
    for subj in ("subj01", "fsaverage"):
        label = root / "nsddata" / "freesurfer" / subj / "label"
        label.mkdir(parents=True)
        (label / "prf-visualrois.mgz.ctab").write_text(CTAB)
    # surfaces: fsaverage .mgh floats, nativesurface int16 HDF5, label maps per hemisphere
    surf = {}
    for s in (1, 2):
        for hemi, n in V.items():
            psc = rng.normal(0, 2, size=(n, T)).astype(np.float32)
            psc[0, 0] = 1.0  # a value that would read 0.0033 if it were wrongly divided by 300
            surf["fsaverage", s, hemi] = psc
            path = _betas_dir(root, "fsaverage")
            path.mkdir(parents=True, exist_ok=True)
            _mgh(path / f"{hemi}.betas_session{s:02d}.mgh", psc)
            native = rng.integers(-3000, 3000, size=(n, T), dtype=np.int16)
            surf["nativesurface", s, hemi] = native
            path = _betas_dir(root, "nativesurface")
            path.mkdir(parents=True, exist_ok=True)
            with h5py.File(path / f"{hemi}.betas_session{s:02d}.hdf5", "w") as f:
                f.create_dataset("betas", data=native.T, chunks=(T, 1))  # MATLAB n x 750 -> h5py (750, n)
    labels = {}
    for subj in ("fsaverage", "subj01"):
        label = root / "nsddata" / "freesurfer" / subj / "label"
        for hemi, n in V.items():
            labels[subj, hemi] = rng.integers(0, 8, n).astype(np.int32)
            _mgh(label / f"{hemi}.prf-visualrois.mgz", labels[subj, hemi])
            _mgh(label / f"{hemi}.nsdgeneral.mgz", (np.arange(n) % 3 != 0).astype(np.float32))
    return root, betas, masterordering[0], subjectim, surf, labels


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
    root, betas, order, subjectim, *_ = nsd_root
    sel = np.ones((X, Y, Z), bool)
    r = load_nsd_betas(root, "subj01", [1, 2])
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
    assert r.attrs["units"] == "percent signal change" and "divided by 300" in r.attrs["stored"]
    assert set(r["subject"].values) == {"subj01"}


def test_hdf5_axis_order_matches_nifti(nsd_root):
    root, betas, *_ = nsd_root
    with h5py.File(_betas_dir(root) / "betas_session02.hdf5") as f:  # the layout the reader must handle
        assert f["betas"].shape == (T, Z, Y, X) and f["betas"].chunks == (T, 1, 1, 1)
        assert f["betas"].dtype == np.int16
    a = load_nsd_betas(root, 1, 2, format="hdf5", mask="nsdgeneral")
    b = load_nsd_betas(root, 1, 2, format="nifti", mask="nsdgeneral")
    np.testing.assert_array_equal(a.values, b.values)
    assert a["i"].values.tolist() == b["i"].values.tolist()
    # one voxel checked by hand: NIfTI voxel (3, 1, 2) of the first trial of session 2
    v = int(np.flatnonzero((a["i"] == 3) & (a["j"] == 1) & (a["k"] == 2))[0])
    sid = load_nsd_betas(root, 1, 2, mask="nsdgeneral")["stimulus_id"].values[0]
    assert a.sel(repeat=0).values[0, v] == np.float32(betas[2][3, 1, 2, 0]) / np.float32(300)
    assert str(a["stimulus_id"].values[0]) == str(sid)


def _old_reader(path, sel, block=50):
    """The former reader: blocks of trials across the whole volume, masked after reading."""
    with h5py.File(path) as f:
        ds = f["betas"]
        return np.concatenate([ds[t0:t0 + block].transpose(0, 3, 2, 1)[:, sel].astype(np.float32) / np.float32(300)
                               for t0 in range(0, ds.shape[0], block)])


@pytest.mark.parametrize("chunks", [(T, 1, 1, 1), None, (T, 2, 3, 2), (50, 1, 1, 1), (1, Z, Y, X), (T, Z, Y, X)])
def test_chunk_aware_reading_equals_the_old_reader(tmp_path, chunks):
    rng = np.random.default_rng(1)
    vol = rng.integers(-3000, 3000, size=(X, Y, Z, T), dtype=np.int16)
    path = tmp_path / "betas_session01.hdf5"
    _write_hdf5(path, vol, chunks=chunks)
    for sel in (rng.random((X, Y, Z)) < 0.3, np.ones((X, Y, Z), bool), LEFT & np.ones((X, Y, Z), bool)):
        ours, stored, shape, _ = _nsd_files.read_volume(path, "hdf5", sel, 50, T)
        assert shape == (X, Y, Z)
        np.testing.assert_array_equal(ours, _old_reader(path, sel))
        assert ours.dtype == np.float32 and "int16" in stored


def test_mask_skips_unread_chunks(tmp_path, monkeypatch):
    """Chunks outside the mask are never read (they are corrupted here), needed ones exactly once."""
    rng = np.random.default_rng(2)
    vol = rng.integers(-3000, 3000, size=(X, Y, Z, T), dtype=np.int16)
    path = tmp_path / "betas_session01.hdf5"
    _write_hdf5(path, vol, fletcher32=True)  # a checksum per chunk: reading a corrupted chunk fails
    sel = np.zeros((X, Y, Z), bool)
    sel[1:4, 2, 1:3] = sel[5, 0, 3] = sel[0, 4, 0] = True
    with h5py.File(path) as f:
        offsets = [f["betas"].id.get_chunk_info_by_coord((0, k, j, i)).byte_offset for i, j, k in np.argwhere(~sel)]
    with open(path, "r+b") as fh:
        for offset in offsets:
            fh.seek(offset)
            fh.write(b"\xff\x7f" * 8)
    reads = []
    getitem = h5py.Dataset.__getitem__

    def spy(self, key, *args, **kwargs):
        out = getitem(self, key, *args, **kwargs)
        reads.append(out.shape)
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    values, *_ = _nsd_files.read_volume(path, "hdf5", sel, 50, T)
    np.testing.assert_array_equal(values, vol[sel].T.astype(np.float32) / np.float32(300))
    assert all(s[0] == T for s in reads)  # every read takes all trials of its chunks
    assert sum(int(np.prod(s[1:])) for s in reads) == sel.sum()  # each needed chunk read once
    # runs along z (the fastest axis of the voxel order), as h5py shapes (trial, z, y, x):
    # voxel (0, 4, 0), then (1, 2, 1..2), (2, 2, 1..2), (3, 2, 1..2), then (5, 0, 3)
    assert reads == [(T, 1, 1, 1), (T, 2, 1, 1), (T, 2, 1, 1), (T, 2, 1, 1), (T, 1, 1, 1)]
    with pytest.raises(OSError):  # the corrupted chunks are there: reading everything fails
        _nsd_files.read_volume(path, "hdf5", None, 50, T)


def test_mask_and_roi_files(nsd_root):
    root, betas, order, subjectim, *_ = nsd_root
    func = root / "nsddata" / "ppdata" / "subj01" / "func1pt8mm"
    general = np.asarray(nib.load(func / "roi" / "nsdgeneral.nii.gz").dataobj)
    visual = np.asarray(nib.load(func / "roi" / "prf-visualrois.nii.gz").dataobj)
    r = load_nsd_betas(root, 1, [1], mask="nsdgeneral", roi="prf-visualrois")
    sel = general > 0
    assert r.sizes["voxel"] == sel.sum() == 12
    names = {0: "unlabelled", 3: "V2v", 7: "hV4"}
    assert r["roi"].values.tolist() == [names[v] for v in visual[sel]]
    trials, _ = _expected(betas, order, subjectim, [1], sel)
    np.testing.assert_array_equal(r.values[0, 0], trials[0])
    # roi alone keeps voxels with roi > 0; a path works as well as a name
    r = load_nsd_betas(root, 1, [1], roi=func / "roi" / "prf-visualrois.nii.gz")
    assert r.sizes["voxel"] == (visual > 0).sum()
    assert sorted(set(r["roi"].values)) == ["V1v", "V2v", "V3v", "hV4"]
    # without a colour table the integers are the names
    r = load_nsd_betas(root, 1, [1], roi=visual)
    assert sorted(set(r["roi"].values)) == ["1", "3", "5", "7"]


@pytest.mark.parametrize("hemi", ["lh", "rh"])
def test_hemisphere_roi_files_by_name_and_by_path(nsd_root, hemi):
    root, betas, order, subjectim, *_ = nsd_root
    roi_dir = root / "nsddata" / "ppdata" / "subj01" / "func1pt8mm" / "roi"
    visual = np.asarray(nib.load(roi_dir / "prf-visualrois.nii.gz").dataobj)
    side = LEFT if hemi == "lh" else ~LEFT
    names = dict(line.split() for line in CTAB.splitlines())
    for spec in (f"{hemi}.prf-visualrois", roi_dir / f"{hemi}.prf-visualrois.nii.gz",
                 str(roi_dir / f"{hemi}.prf-visualrois.nii.gz")):
        r = load_nsd_betas(root, 1, [1], roi=spec)
        keep = side & (visual > 0)
        np.testing.assert_array_equal(np.c_[r["i"], r["j"], r["k"]], np.argwhere(keep))
        assert r["roi"].values.tolist() == [names[str(v)] for v in visual[keep]]
        assert r.attrs["roi_source"] == str(roi_dir / f"{hemi}.prf-visualrois.nii.gz")
        np.testing.assert_array_equal(r.values[0, 0], _expected(betas, order, subjectim, [1], keep)[0][0])
    # with a mask, the other hemisphere's voxels are kept and unlabelled
    r = load_nsd_betas(root, 1, [1], mask="nsdgeneral", roi=f"{hemi}.prf-visualrois")
    general = np.asarray(nib.load(roi_dir / "nsdgeneral.nii.gz").dataobj) > 0
    expected = np.where(side, visual, 0)[general]
    assert r["roi"].values.tolist() == [names[str(v)] if v > 0 else "unlabelled" for v in expected]


def test_surface_betas_fsaverage_as_stored_and_nativesurface_scaled(nsd_root):
    root, _, order, subjectim, surf, labels = nsd_root
    ids = [f"nsd-{subjectim[0, order[t] - 1]:05d}" for t in range(T)]
    first = list(dict.fromkeys(ids))
    for space, scale in (("fsaverage", 1), ("nativesurface", 300)):
        r = load_nsd_betas(root, 1, [1], space=space)
        values = np.hstack([surf[space, 1, "lh"].T, surf[space, 1, "rh"].T]).astype(np.float32) / np.float32(scale)
        assert r["stimulus_id"].values[0] == first[0] == ids[0]
        np.testing.assert_array_equal(r.sel(repeat=0).values[0], values[0])  # the first trial
        assert r["hemi"].values.tolist() == ["left"] * V["lh"] + ["right"] * V["rh"]
        assert r["vertex"].values.tolist() == list(range(V["lh"])) + list(range(V["rh"]))
        assert "i" not in r.coords and "x" not in r.coords
    r = load_nsd_betas(root, 1, [1], space="fsaverage")
    assert float(r.sel(repeat=0).values[0, 0]) == 1.0  # planted in trial 0, vertex 0: never divided by 300
    assert "float32 percent signal change (as stored)" in r.attrs["stored"]
    # names and hemisphere names on surfaces: fsaverage labels for fsaverage, the subject's for nativesurface
    names = dict(line.split() for line in CTAB.splitlines())
    for space, subj in (("fsaverage", "fsaverage"), ("nativesurface", "subj01")):
        r = load_nsd_betas(root, 1, [1], space=space, mask="nsdgeneral", roi="lh.prf-visualrois")
        keep = {h: np.flatnonzero(np.arange(n) % 3 != 0) for h, n in V.items()}
        assert r["vertex"].values.tolist() == keep["lh"].tolist() + keep["rh"].tolist()
        lab = labels[subj, "lh"][keep["lh"]]
        assert r["roi"].values.tolist() == ([names[str(v)] if v > 0 else "unlabelled" for v in lab]
                                            + ["unlabelled"] * keep["rh"].size)
    path = root / "nsddata" / "freesurfer" / "subj01" / "label" / "rh.prf-visualrois.mgz"
    r = load_nsd_betas(root, 1, [1, 2], space="nativesurface", roi=path)
    assert set(r["hemi"].values) == {"right"} and r.sizes["voxel"] == (labels["subj01", "rh"] > 0).sum()


def test_nonfinite_surface_betas_raise_or_drop(tmp_path, nsd_root):
    root, *_ = nsd_root
    bad = tmp_path / "nsd"
    shutil.copytree(root / "nsddata" / "experiments", bad / "nsddata" / "experiments")
    out = _betas_dir(bad, "fsaverage")
    out.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for hemi, n in V.items():
        psc = rng.normal(size=(n, T)).astype(np.float32)
        if hemi == "rh":
            psc[2, 10] = np.nan  # NaN vertices exist in some subjects' fsaverage betas
        _mgh(out / f"{hemi}.betas_session01.mgh", psc)
    with pytest.raises(InputError, match=r"1 of 16 voxels hold NaN/Inf .*hemi=right, vertex=2.*drop_nonfinite"):
        load_nsd_betas(bad, 1, 1, space="fsaverage")
    r = load_nsd_betas(bad, 1, 1, space="fsaverage", drop_nonfinite=True)
    assert r.sizes["voxel"] == 15 and 2 not in r["vertex"].values[r["hemi"].values == "right"]


def test_auto_format_per_session(nsd_root, tmp_path):
    """format='auto' takes each session's own file: an HDF5 session and a NIfTI-only one read alike."""
    root, *_ = nsd_root
    mixed = tmp_path / "nsd"
    shutil.copytree(root / "nsddata", mixed / "nsddata")
    out = _betas_dir(mixed)
    out.mkdir(parents=True)
    shutil.copy(_betas_dir(root) / "betas_session01.hdf5", out)
    shutil.copy(_betas_dir(root) / "betas_session02.nii.gz", out)
    a = load_nsd_betas(mixed, 1, [1, 2], mask="nsdgeneral")
    b = load_nsd_betas(root, 1, [1, 2], mask="nsdgeneral", format="hdf5")
    np.testing.assert_array_equal(a.values, b.values)


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
        load_nsd_betas(root, 1, [1, 4])
    with pytest.raises(ShapeError, match=r"betas_session03.hdf5: holds 700 trials; expected 750"):
        load_nsd_betas(root, 1, [3])
    for bad in ("subj09", 0, "s1", True):
        with pytest.raises(InputError, match="subject: received .*expected an NSD subject 1..8"):
            load_nsd_betas(root, bad, [1])
    with pytest.raises(InputError, match=r"sessions: received \[41\]"):
        load_nsd_betas(root, 1, [41])
    with pytest.raises(FileNotFoundError, match=r"roi/V9.nii.gz"):
        load_nsd_betas(root, 1, [1], roi="V9")
    with pytest.raises(FileNotFoundError, match=r"roi/lh.V9.nii.gz"):
        load_nsd_betas(root, 1, [1], roi="lh.V9")
    with pytest.raises(ShapeError, match=r"mask/roi: received a volume of shape \(2, 2, 2\); expected \(6, 5, 4\)"):
        load_nsd_betas(root, 1, [1], mask=np.ones((2, 2, 2)))
    with pytest.raises(FileNotFoundError, match="nsd_expdesign.mat"):
        load_nsd_betas(tmp_path, 1, [1])
    with pytest.raises(InputError, match="format: received 'mat'"):
        load_nsd_betas(root, 1, [1], format="mat")
    with pytest.raises(InputError, match=r"format: received 'nifti'; expected 'auto' or one of \('hdf5', 'mgh'\)"):
        load_nsd_betas(root, 1, [1], space="fsaverage", format="nifti")
    with pytest.raises(ShapeError, match=r"mask: received .*shape=\(5,\).*expected \(16,\), one value per vertex"):
        load_nsd_betas(root, 1, [1], space="fsaverage", mask=np.ones(5))
    with pytest.raises(InputError, match=r"expected a surface file named lh.<name>.mgz"):
        load_nsd_betas(root, 1, [1], space="fsaverage", roi=tmp_path / "prf-visualrois.mgz")
