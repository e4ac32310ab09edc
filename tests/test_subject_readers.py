"""load_nsd_subjects and load_algonauts2023_subjects on fake releases of two subjects in the datasets' layouts:
each subject equals its single-subject reader, and the images planted as shared are the shared stimuli.

The NSD design file reproduces the real one's structure (``nsd_expdesign.mat``: ``masterordering``, 1-based
indices into each subject's 10,000 images, the same for every subject; ``subjectim``, one row of 1-based 73k ids
per subject, whose first 1,000 columns are the shared images in the real file); the betas are
``betas_session01.hdf5`` as h5py reads MATLAB's ``X x Y x Z x 750`` int16 arrays. The Algonauts folders hold
``training_fmri/{lh,rh}_training_fmri.npy``, ``train-NNNN_nsd-XXXXX.png`` images (0-based 73k numbers) and the
``all-vertices_fsaverage_space.npy`` masks.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from neuroperception.data import load_algonauts2023, load_algonauts2023_subjects, load_nsd_betas, load_nsd_subjects
from neuroperception.errors import InputError

X, Y, Z, T = 3, 2, 2, 750
N_SHARED = 100  # of the 300 images each subject sees in session 1, the first 100 are the same for both


@pytest.fixture(scope="module")
def nsd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nsd")
    rng = np.random.default_rng(0)
    masterordering = np.concatenate([rng.permutation(np.repeat(np.arange(1, 301), 3))[:T],
                                     rng.integers(1, 10001, 30000 - T)])[None, :]
    shared = rng.choice(np.arange(1, 73001), N_SHARED, replace=False)
    others = rng.permutation(np.setdiff1d(np.arange(1, 73001), shared))
    subjectim = np.stack([np.concatenate([shared, others[(k % 7) * 9900:(k % 7 + 1) * 9900]]) for k in range(8)])
    exp = root / "nsddata" / "experiments" / "nsd"
    exp.mkdir(parents=True)
    savemat(exp / "nsd_expdesign.mat", {"masterordering": masterordering, "subjectim": subjectim})
    for subj in ("subj01", "subj02"):
        betas = root / "nsddata_betas" / "ppdata" / subj / "func1pt8mm" / "betas_fithrf_GLMdenoise_RR"
        betas.mkdir(parents=True)
        vol = rng.integers(-3000, 3000, size=(X, Y, Z, T), dtype=np.int16)
        with h5py.File(betas / "betas_session01.hdf5", "w") as f:
            f.create_dataset("betas", data=vol.transpose(3, 2, 1, 0), chunks=(T, 1, 1, 1))
    expected_shared = {f"nsd-{subjectim[0, i - 1]:05d}" for i in np.unique(masterordering[0, :T]) if i <= N_SHARED}
    return root, expected_shared, len(np.unique(masterordering[0, :T]))


def test_nsd_subjects_equal_the_single_subject_reader_and_share_the_planted_images(nsd_root):
    root, expected_shared, n_images = nsd_root
    subs = load_nsd_subjects(root, [1, "subj02"], sessions=1)
    assert list(subs) == ["subj01", "subj02"]
    for s in subs:
        assert subs[s].identical(load_nsd_betas(root, s, 1).assign_coords(subject=subs[s]["subject"]))
        assert subs[s].dims == ("repeat", "stimulus", "voxel") and subs[s].sizes["stimulus"] == n_images
    assert set(subs.shared_stimuli()) == expected_shared and len(expected_shared) > 80
    per = load_nsd_subjects(root, [2, 1], sessions={"subj01": [1], 2: 1})
    assert list(per) == ["subj02", "subj01"] and per["subj01"].identical(subs["subj01"])


def test_nsd_subjects_errors(nsd_root):
    root = nsd_root[0]
    with pytest.raises(InputError, match="expected each subject once"):
        load_nsd_subjects(root, [1, "subj01"], sessions=1)
    with pytest.raises(InputError, match=r"missing: \['subj02'\]"):
        load_nsd_subjects(root, [1, 2], sessions={1: 1})
    with pytest.raises(InputError, match="expected an NSD subject"):
        load_nsd_subjects(root, [9], sessions=1)
    with pytest.raises(FileNotFoundError):
        load_nsd_subjects(root, [1, 3], sessions=1)  # subj03 has no betas here


@pytest.fixture
def algonauts_root(tmp_path):
    rng = np.random.default_rng(1)
    numbers = {"subj01": [5, 17, 300, 41, 9], "subj02": [17, 5, 812, 9]}  # 5, 17 and 9 seen by both
    for subj, nums in numbers.items():
        base = tmp_path / subj
        fmri, imgs, rois = (base / "training_split" / "training_fmri", base / "training_split" / "training_images",
                            base / "roi_masks")
        for d in (fmri, imgs, rois):
            d.mkdir(parents=True)
        for k, n in enumerate(nums):
            Image.fromarray(np.full((4, 4, 3), 10 * k, np.uint8)).save(imgs / f"train-{k + 1:04d}_nsd-{n:05d}.png")
        for hemi, n_vertices in (("lh", 4), ("rh", 3)):
            np.save(fmri / f"{hemi}_training_fmri.npy", rng.normal(size=(len(nums), n_vertices)).astype(np.float32))
            mask = np.zeros(163842, np.int64)
            mask[np.sort(rng.choice(163842, n_vertices, replace=False))] = 1
            np.save(rois / f"{hemi}.all-vertices_fsaverage_space.npy", mask)
    return tmp_path


def test_algonauts_subjects_equal_the_single_subject_reader(algonauts_root):
    subs = load_algonauts2023_subjects(algonauts_root, [1, 2], rois=None, families=[])
    for s in subs:
        assert subs[s].identical(load_algonauts2023(algonauts_root, s, rois=None, families=[]))
    assert sorted(subs.shared_stimuli()) == ["nsd-00006", "nsd-00010", "nsd-00018"]  # file numbers + 1
    with pytest.raises(FileNotFoundError):
        load_algonauts2023_subjects(algonauts_root, [1, 4], rois=None, families=[])
