"""load_algonauts2023 on a fake challenge release written in tmp_path with the real file names.

Quirks of the release reproduced here (gifale95/algonauts_2023,
code/01_challenge_data_preparation/challenge_data_preparation.py): ``all-vertices_fsaverage_space.npy``
is an integer array, the sum of the nsdgeneral and RSC masks (0, 1 or 2); ``mapping_<family>.npy`` is a
pickled dict ``{int: name}`` with ``0: "Unknown"``; image numbers are 0-based 73k indices; the test split
holds only images.
"""

import numpy as np
import pytest
from PIL import Image

from neuroperception.data import (
    load_algonauts2023,
    load_algonauts2023_images,
    load_responses,
    save_responses,
)
from neuroperception.errors import InputError, ShapeError

N_IMG, N_LH, N_RH, FSAVERAGE = 5, 7, 6, 163842
NSD_NUMBERS = [13, 2950, 72999, 0, 41]  # file-name numbers (0-based 73k index), in train-NNNN order
TEST_NUMBERS = [7, 60000, 512]
MAPPINGS = {
    "prf-visualrois": {0: "Unknown", 1: "V1v", 2: "V1d", 3: "V2v"},
    "floc-faces": {0: "Unknown", 1: "OFA", 2: "FFA-1"},
    "streams": {0: "Unknown", 1: "early", 5: "ventral"},
}


def _write_release(root, rng, families=MAPPINGS):
    subj = root / "subj01"
    fmri = subj / "training_split" / "training_fmri"
    imgs = subj / "training_split" / "training_images"
    rois = subj / "roi_masks"
    for d in (fmri, imgs, rois):
        d.mkdir(parents=True)
    lh = rng.normal(size=(N_IMG, N_LH)).astype(np.float32)
    rh = rng.normal(size=(N_IMG, N_RH)).astype(np.float32)
    np.save(fmri / "lh_training_fmri.npy", lh)
    np.save(fmri / "rh_training_fmri.npy", rh)
    for k in reversed(range(N_IMG)):  # written out of order on purpose
        Image.fromarray(np.full((8, 8, 3), 40 * k, np.uint8)).save(imgs / f"train-{k + 1:04d}_nsd-{NSD_NUMBERS[k]:05d}.png")
    test = subj / "test_split" / "test_images"
    test.mkdir(parents=True)
    for k, n in enumerate(TEST_NUMBERS):
        Image.fromarray(np.full((8, 8, 3), 50 * k + 5, np.uint8)).save(test / f"test-{k + 1:04d}_nsd-{n:05d}.png")
    vertices = {}
    for hemi, n in (("lh", N_LH), ("rh", N_RH)):
        used = np.sort(rng.choice(FSAVERAGE, n, replace=False))
        mask = np.zeros(FSAVERAGE, np.int64)  # nsdgeneral + RSC: 1 or 2 where used, as in the release
        mask[used] = 1 + (np.arange(n) % 3 == 0)
        np.save(rois / f"{hemi}.all-vertices_fsaverage_space.npy", mask)
        vertices[hemi] = used
    labels = {}
    for family, mapping in families.items():
        np.save(rois / f"mapping_{family}.npy", mapping)  # a pickled dict, as in the release
        keys = np.array(sorted(mapping))
        labels[family] = {h: keys[rng.integers(0, len(keys), n)] for h, n in (("lh", N_LH), ("rh", N_RH))}
        for hemi in ("lh", "rh"):
            np.save(rois / f"{hemi}.{family}_challenge_space.npy", labels[family][hemi])
    return lh, rh, vertices, labels


@pytest.fixture
def release(tmp_path):
    return tmp_path, *_write_release(tmp_path, np.random.default_rng(0))


def test_values_ids_vertices_and_rois(release):
    root, lh, rh, vertices, labels = release
    r = load_algonauts2023(root, "subj01")
    assert r.dims == ("stimulus", "voxel")
    np.testing.assert_array_equal(r.values, np.hstack([lh, rh]))
    assert r["stimulus_id"].values.tolist() == [f"nsd-{n + 1:05d}" for n in NSD_NUMBERS]
    assert r["hemi"].values.tolist() == ["left"] * N_LH + ["right"] * N_RH
    np.testing.assert_array_equal(r["vertex"].values, np.r_[vertices["lh"], vertices["rh"]])
    names = MAPPINGS["streams"]
    assert r["roi"].values.tolist() == [names[v] for v in np.r_[labels["streams"]["lh"], labels["streams"]["rh"]]]
    faces = MAPPINGS["floc-faces"]
    assert r["roi_floc-faces"].values.tolist() == [
        faces[v] for v in np.r_[labels["floc-faces"]["lh"], labels["floc-faces"]["rh"]]]
    assert "roi_prf-visualrois" in r.coords and "roi_floc-bodies" not in r.coords  # absent family skipped
    assert r.attrs["roi_families"] == "prf-visualrois, floc-faces"
    assert [p.rsplit("/", 1)[-1] for p in r.attrs["image_paths"]] == [
        f"train-{k + 1:04d}_nsd-{n:05d}.png" for k, n in enumerate(NSD_NUMBERS)]
    assert set(r["subject"].values) == {"subj01"}


def test_chosen_family_and_round_trip(release, tmp_path):
    root, *_ = release
    r = load_algonauts2023(root, 1, rois="prf-visualrois", families=["floc-faces"])
    assert set(r["roi"].values) <= set(MAPPINGS["prf-visualrois"].values())
    assert [c for c in r.coords if c.startswith("roi_")] == ["roi_floc-faces"]
    out = tmp_path / "out"
    out.mkdir()
    assert load_responses(save_responses(r, out / "a.nc")).identical(r)
    assert "roi" not in load_algonauts2023(root, 1, rois=None, families=[]).coords


def test_image_set_matches_rows(release):
    root, *_ = release
    images = load_algonauts2023_images(root, "subj01")
    r = load_algonauts2023(root, "subj01")
    assert images.ids == r["stimulus_id"].values.tolist()
    grey = images.images[:, 0, 0, 0] * 255
    np.testing.assert_allclose(grey.numpy(), [0, 40, 80, 120, 160], atol=1e-4)  # row k is train-(k+1)


def test_test_split_images(release):
    root, *_ = release
    images = load_algonauts2023_images(root, 1, split="test")
    assert images.ids == [f"nsd-{n + 1:05d}" for n in TEST_NUMBERS]
    np.testing.assert_allclose(images.images[:, 0, 0, 0].numpy() * 255, [5, 55, 105], atol=1e-4)
    with pytest.raises(InputError, match="split: received 'validation'; expected 'training' or 'test'"):
        load_algonauts2023_images(root, 1, split="validation")


def test_errors(release):
    root, lh, *_ = release
    subj = root / "subj01"
    with pytest.raises(FileNotFoundError, match="subj02: no such folder"):
        load_algonauts2023(root, 2)
    with pytest.raises(InputError, match="rois: received 'faces'"):
        load_algonauts2023(root, 1, rois="faces")
    with pytest.raises(FileNotFoundError, match=r"lh.floc-bodies_challenge_space.npy: not found"):
        load_algonauts2023(root, 1, families=["floc-bodies"])
    (subj / "roi_masks" / "mapping_streams.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"mapping_streams.npy: not found; expected a pickled dict"):
        load_algonauts2023(root, 1)
    np.save(subj / "roi_masks" / "mapping_streams.npy", {0: "Unknown", 1: "early"})
    with pytest.raises(InputError, match=r"mapping_streams.npy: no name for labels \[5\]"):
        load_algonauts2023(root, 1)
    np.save(subj / "training_split" / "training_fmri" / "lh_training_fmri.npy", lh[:4])
    with pytest.raises(ShapeError, match=r"lh_training_fmri.npy: received .*expected \(5, n_vertices\)"):
        load_algonauts2023(root, 1, rois=None)
    np.save(subj / "training_split" / "training_fmri" / "lh_training_fmri.npy", lh[:, :6])
    with pytest.raises(ShapeError, match=r"lh.all-vertices_fsaverage_space.npy: selects 7 fsaverage vertices"):
        load_algonauts2023(root, 1, rois=None)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(subj / "training_split" / "training_images" / "extra.png")
    with pytest.raises(InputError, match=r"extra.png: unexpected file name; expected train-NNNN_nsd-XXXXX.png"):
        load_algonauts2023(root, 1, rois=None)

