"""BAPPS and NIGHTS readers against the loaders of the datasets' own code, on trees in the real layouts.

The references below restate, in a few lines each, how the public code reads the files:

* BAPPS, richzhang/PerceptualSimilarity ``data/dataset/twoafc_dataset.py`` / ``jnd_dataset.py`` with
  ``data/image_folder.py``: per role (``ref``, ``p0``, ``p1``, ``judge``/``same``) every file under the
  subset folder whose name ends in an image (``.npy`` for judgements) extension, the paths sorted,
  the roles paired by position; a judgement is ``np.load(path).reshape((1, 1, 1))``.
* NIGHTS, ssundaram21/dreamsim ``dataset/dataset.py``: ``data.csv`` rows with ``votes >= 6``, then the
  split (``test_imagenet``/``test_no_imagenet``: test rows with ``is_imagenet == True``/``== False``);
  columns read by position: 0 id, 2 the target (``right_vote``), 4/5/6 the ref/left/right paths.

The fixtures reproduce the real files' quirks: six-digit BAPPS stems with gaps in the numbering,
judgements as ``.npy`` arrays of shape ``(1,)`` (float32 and float64), stray non-image files; the
NIGHTS column order, ``distort/<dir>/<id>_0.png`` / ``_1.png`` names, fraction votes, a prompt with
a comma, rows below 6 votes, and an ``is_imagenet`` left empty.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from neuroperception.errors import InputError
from neuroperception.similarity.datasets import load_bapps_2afc, load_bapps_jnd, load_nights

_IMAGE_EXT = (".jpg", ".JPG", ".jpeg", ".JPEG", ".png", ".PNG", ".ppm", ".PPM", ".bmp", ".BMP")


def _png(path, seed: int, side: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _pixels(path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 255


# ------------------------------------------------------------------------------------------ BAPPS
def _bapps_tree(root):
    """2afc/val/{cnn,color} and jnd/val/traditional in the released layout."""
    stems = {"cnn": ["000000", "000001", "000003", "000010"], "color": ["000000", "000002"]}
    seed = 0
    for subset, names in stems.items():
        folder = root / "2afc" / "val" / subset
        for k, stem in enumerate(names):
            for part in ("ref", "p0", "p1"):
                seed += 1
                _png(folder / part / f"{stem}.png", seed)
            (folder / "judge").mkdir(exist_ok=True)
            dtype = np.float32 if subset == "cnn" else np.float64
            np.save(folder / "judge" / f"{stem}.npy", np.array([(k + 1) / 5], dtype=dtype))
        (folder / "ref" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # ignored by both readers
    folder = root / "jnd" / "val" / "traditional"
    for k, stem in enumerate(["000004", "000005", "000007"]):
        _png(folder / "p0" / f"{stem}.png", 100 + k)
        _png(folder / "p1" / f"{stem}.png", 200 + k)
        (folder / "same").mkdir(exist_ok=True)
        np.save(folder / "same" / f"{stem}.npy", np.array([k / 2]))
    return root


def _lpips_paths(folder, mode="img"):
    """PerceptualSimilarity's make_dataset + sorted: every matching file under the folder, by path."""
    ext = _IMAGE_EXT if mode == "img" else (".npy",)
    found = []
    for base, _, names in sorted(os.walk(folder)):
        found += [os.path.join(base, n) for n in names if n.endswith(ext)]
    return sorted(found)


def test_bapps_2afc_matches_the_lpips_loader(tmp_path):
    root = _bapps_tree(tmp_path)
    ds = load_bapps_2afc(root, "val", size=None)
    got = {name: [] for name in ("ref", "p0", "p1")}
    for batch in ds.batches(3):
        for name in got:
            got[name].append(getattr(batch, name))
    for subset in ("cnn", "color"):  # the LPIPS evaluation loads one subset folder at a time
        folder = root / "2afc" / "val" / subset
        judge = [np.load(p).reshape((1, 1, 1)) for p in _lpips_paths(folder / "judge", "np")]
        mine = ds.select(subset)
        assert mine.ids == [f"{subset}/{os.path.basename(p)[:-4]}" for p in _lpips_paths(folder / "judge", "np")]
        np.testing.assert_allclose(mine.judge, np.concatenate(judge).ravel(), rtol=1e-7)
        rows = [k for k, s in enumerate(ds.subsets) if s == subset]
        for name in ("ref", "p0", "p1"):
            ref = torch.stack([_pixels(p) for p in _lpips_paths(folder / name)])
            torch.testing.assert_close(torch.cat(got[name])[rows], ref, atol=0, rtol=0)


def test_bapps_jnd_matches_the_lpips_loader(tmp_path):
    root = _bapps_tree(tmp_path)
    folder = root / "jnd" / "val" / "traditional"
    ds = load_bapps_jnd(root, size=None)
    same = np.concatenate([np.load(p).reshape((1, 1, 1)) for p in _lpips_paths(folder / "same", "np")]).ravel()
    np.testing.assert_allclose(ds.same, same)
    batch = next(ds.batches(10))
    torch.testing.assert_close(batch.p1, torch.stack([_pixels(p) for p in _lpips_paths(folder / "p1")]))
    assert ds.ids == ["traditional/000004", "traditional/000005", "traditional/000007"]


# ----------------------------------------------------------------------------------------- NIGHTS
# id, left_vote, right_vote, votes, ref_path, left_path, right_path, then split, is_imagenet, prompt
NIGHTS_ROWS = [
    (0, 1.0, 0.0, 6, "train", True, "an image of a dog"),
    (7, 0.0, 1.0, 9, "test", True, "an image of a tench"),
    (12, 0.0, 1.0, 5, "test", False, "an image of a rose"),            # fewer than 6 votes
    (1015, 1.0, 0.0, 7, "test", False, '"an image of a pot, copper"'),  # a quoted prompt
    (1203, 0.0, 1.0, 8, "test", "", "an image of a bee"),              # is_imagenet left empty
    (2044, 1.0, 0.0, 6, "val", False, "an image of a cup"),
]


def _nights_tree(root):
    lines = ["id,left_vote,right_vote,votes,ref_path,left_path,right_path,split,is_imagenet,prompt"]
    for i, left, right, votes, split, imagenet, prompt in NIGHTS_ROWS:
        d, f = f"{i // 1000:03d}", f"{i % 1000:03d}"
        paths = (f"ref/{d}/{f}.png", f"distort/{d}/{f}_0.png", f"distort/{d}/{f}_1.png")
        for k, rel in enumerate(paths):
            _png(root / rel, 3 * i + k, side=20)
        lines.append(",".join(map(str, (i, left, right, votes, *paths, split, imagenet, prompt))))
    (root / "data.csv").write_text("\n".join(lines) + "\n")
    return root


def _dreamsim_rows(root, split):
    """DreamSim's TwoAFCDataset: filter, then read columns by position."""
    csv = pd.read_csv(root / "data.csv")
    csv = csv[csv["votes"] >= 6]
    if split in ("train", "val", "test"):
        csv = csv[csv["split"] == split]
    else:
        csv = csv[csv["split"] == "test"]
        csv = csv[csv["is_imagenet"] == (split == "test_imagenet")]
    return [(csv.iloc[k, 0], float(csv.iloc[k, 2]), csv.iloc[k, 4], csv.iloc[k, 5], csv.iloc[k, 6])
            for k in range(len(csv))]


@pytest.mark.parametrize("split", ["train", "val", "test", "test_imagenet", "test_no_imagenet"])
def test_nights_matches_the_dreamsim_loader(tmp_path, split):
    root = _nights_tree(tmp_path)
    ref = _dreamsim_rows(root, split)
    ds = load_nights(root, split=split, size=None)
    assert ds.ids == [str(r[0]) for r in ref]
    np.testing.assert_allclose(ds.judge, [r[1] for r in ref])
    batch = next(ds.batches(10))
    for field, k in (("ref", 2), ("p0", 3), ("p1", 4)):
        torch.testing.assert_close(getattr(batch, field), torch.stack([_pixels(root / r[k]) for r in ref]))


def test_nights_subsets_and_empty_flags(tmp_path):
    root = _nights_tree(tmp_path)
    test = load_nights(root, "test", size=8)
    assert test.ids == ["7", "1015", "1203"] and test.subsets == ["imagenet", "no_imagenet", "nights"]
    assert load_nights(root, "test", size=8, min_votes=0).ids == ["7", "12", "1015", "1203"]
    (root / "data.csv").write_text((root / "data.csv").read_text().replace(",True,", ",yes,"))
    with pytest.raises(InputError, match=r"is_imagenet: received values \['yes'\]"):
        load_nights(root, "test")
