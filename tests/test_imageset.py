"""Tests of neuroperception.stimuli.ImageSet (arrays, folders, shipped photographs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.stimuli import ImageSet


def _rand_uint8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _smooth_uint8(size=16):
    ramp = np.linspace(0, 255, size)
    return np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (size, 1)), np.full((size, size), 128)],
                    axis=-1).astype(np.uint8)


# ---------------------------------------------------------------------------- from_array
def test_from_array_uint8_nhwc_default_ids():
    arr = _rand_uint8((3, 10, 12, 3))
    s = ImageSet.from_array(arr)
    assert len(s) == 3
    assert s.ids == ["stim0000", "stim0001", "stim0002"]
    x = s.images
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 3, 10, 12)
    assert torch.equal(x, torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0)
    assert s.size is None and s.source == "array"


def test_from_array_float_nchw_custom_ids():
    t = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    s = ImageSet.from_array(t, stimulus_id=["cat", "dog"])
    assert s.ids == ["cat", "dog"]
    assert torch.equal(s.images, t)
    assert torch.equal(s["dog"], t[1])


def test_from_array_value_range():
    t = torch.tensor([-1.0, 1.0]).reshape(1, 1, 1, 2).expand(1, 3, 1, 2)
    s = ImageSet.from_array(t, value_range=(-1, 1))
    assert torch.equal(s.images[0, :, 0], torch.tensor([[0.0, 1.0]] * 3))
    with pytest.raises(InputError, match="value_range=\\(-1, 1\\)"):
        ImageSet.from_array(t)


def test_from_array_pil_list():
    arrs = [_rand_uint8((5, 7, 3), seed=k) for k in range(3)]
    s = ImageSet.from_array([Image.fromarray(a) for a in arrs], stimulus_id=["a", "b", "c"])
    assert s.ids == ["a", "b", "c"]
    for k, a in enumerate(arrs):
        assert torch.equal(s.images[k], torch.from_numpy(a).permute(2, 0, 1).float() / 255.0)


def test_from_array_duplicate_ids():
    with pytest.raises(AlignmentError, match=r"\['x'\]"):
        ImageSet.from_array(torch.rand(3, 3, 4, 4), stimulus_id=["x", "y", "x"])


def test_from_array_wrong_number_of_ids():
    with pytest.raises(ShapeError, match="received 1 ids"):
        ImageSet.from_array(torch.rand(2, 3, 4, 4), stimulus_id=["x"])


@pytest.mark.parametrize("hw", [(40, 60), (60, 40), (33, 33), (10, 17)])
def test_from_array_size_resize_and_crop(hw):
    s = ImageSet.from_array(torch.rand(2, 3, *hw), size=24)
    assert tuple(s.images.shape) == (2, 3, 24, 24)
    assert float(s.images.min()) >= 0.0 and float(s.images.max()) <= 1.0
    assert s.size == 24


def test_from_array_size_pair():
    s = ImageSet.from_array(torch.rand(1, 3, 30, 50), size=(16, 20))
    assert tuple(s.images.shape) == (1, 3, 16, 20)


def test_from_array_same_size_is_centre_crop():
    # an image already covering the target in one side only needs a centre crop: exact pixels
    t = torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(3))
    s = ImageSet.from_array(t, size=8)
    assert torch.equal(s.images, t[..., 2:10])


# ---------------------------------------------------------------------------- from_folder
@pytest.fixture
def tree(tmp_path):
    """png/jpg/webp files in sub-folders, plus non-image files."""
    root = tmp_path / "stims"
    (root / "animals" / "cats").mkdir(parents=True)
    (root / "faces").mkdir()
    pngs = {
        "animals/cats/c1.png": _rand_uint8((16, 16, 3), 1),
        "faces/f1.png": _rand_uint8((16, 16, 3), 2),
        "b.png": _rand_uint8((16, 16, 3), 3),
    }
    for rel, a in pngs.items():
        Image.fromarray(a).save(root / rel)
    Image.fromarray(_smooth_uint8()).save(root / "animals" / "dog.jpg", quality=95)
    Image.fromarray(_rand_uint8((16, 16, 3), 5)).save(root / "faces" / "f2.webp")
    (root / "notes.txt").write_text("not an image")
    (root / "faces" / "meta.json").write_text("{}")
    (root / "animals" / "README").write_text("x")
    return root, pngs


def test_from_folder_ids_sorted_relative_posix(tree):
    root, _ = tree
    s = ImageSet.from_folder(root)
    expected = ["animals/cats/c1.png", "animals/dog.jpg", "b.png", "faces/f1.png", "faces/f2.webp"]
    assert s.ids == expected
    assert s.ids == sorted(s.ids)
    assert len(s) == 5
    assert s.source == f"folder:{root}"
    assert "lazy" in repr(s)


def test_from_folder_not_recursive(tree):
    root, _ = tree
    assert ImageSet.from_folder(root, recursive=False).ids == ["b.png"]


def test_from_folder_lazy_pixels_equal_png(tree):
    root, pngs = tree
    s = ImageSet.from_folder(root)
    for rel, a in pngs.items():
        expected = torch.from_numpy(a).permute(2, 0, 1).float() / 255.0
        assert torch.equal(s[rel], expected)
    x = s.images
    assert tuple(x.shape) == (5, 3, 16, 16)
    assert torch.equal(x[s.ids.index("b.png")], torch.from_numpy(pngs["b.png"]).permute(2, 0, 1).float() / 255.0)
    # jpg is lossy but close
    jpg = s["animals/dog.jpg"]
    assert float((jpg - torch.from_numpy(_smooth_uint8()).permute(2, 0, 1).float() / 255).abs().mean()) < 0.05


def test_from_folder_mixed_sizes(tmp_path):
    Image.fromarray(_rand_uint8((16, 16, 3))).save(tmp_path / "a.png")
    Image.fromarray(_rand_uint8((20, 30, 3))).save(tmp_path / "b.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(_rand_uint8((9, 40))).save(tmp_path / "sub" / "c.png")  # grey
    with pytest.raises(ShapeError) as err:
        ImageSet.from_folder(tmp_path)
    msg = str(err.value)
    assert "size=" in msg
    assert "3 different sizes" in msg
    assert "b.png: 20x30" in msg
    s = ImageSet.from_folder(tmp_path, size=12)
    x = s.images
    assert tuple(x.shape) == (3, 3, 12, 12)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert s.size == 12
    grey = s["sub/c.png"]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


def test_from_folder_empty_and_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.txt").write_text("x")
    with pytest.raises(InputError) as err:
        ImageSet.from_folder(tmp_path / "empty")
    assert "found no image files" in str(err.value) and ".png" in str(err.value)
    missing = tmp_path / "nope"
    with pytest.raises(InputError) as err:
        ImageSet.from_folder(missing)
    assert str(missing) in str(err.value) and "not an existing folder" in str(err.value)


def test_from_folder_unreadable_image_is_input_error(tmp_path):
    Image.fromarray(_rand_uint8((8, 8, 3))).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(InputError, match="broken.png"):
        ImageSet.from_folder(tmp_path)


def test_from_folder_unreadable_image_with_size_is_input_error(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    s = ImageSet.from_folder(tmp_path, size=8)
    with pytest.raises(InputError, match="broken.png: could not be read"):
        s.images


def test_lazy_subset_and_resize(tree):
    root, pngs = tree
    s = ImageSet.from_folder(root)
    sub = s[["faces/f1.png", "b.png"]]
    assert sub.ids == ["faces/f1.png", "b.png"]
    assert torch.equal(sub.images[1], torch.from_numpy(pngs["b.png"]).permute(2, 0, 1).float() / 255.0)
    r = s.resize(8)
    assert r.ids == s.ids
    assert tuple(r.images.shape) == (5, 3, 8, 8)


# ---------------------------------------------------------------------------- indexing
@pytest.fixture
def small():
    t = torch.rand(5, 3, 4, 6, generator=torch.Generator().manual_seed(7))
    return ImageSet.from_array(t, stimulus_id=list("abcde")), t


def test_index_int_negative_and_id(small):
    s, t = small
    x = s[2]
    assert isinstance(x, torch.Tensor) and tuple(x.shape) == (3, 4, 6)
    assert torch.equal(x, t[2])
    assert torch.equal(s[-1], t[4])
    assert torch.equal(s[-5], t[0])
    assert torch.equal(s["d"], t[3])
    assert torch.equal(s[np.int64(1)], t[1])


def test_index_out_of_range_and_bad_id(small):
    s, _ = small
    with pytest.raises(IndexError):
        s[5]
    with pytest.raises(IndexError):
        s[-6]
    with pytest.raises(KeyError, match="'zz'"):
        s["zz"]
    with pytest.raises(KeyError):
        s[["a", "zz"]]
    with pytest.raises(InputError, match="received float"):
        s[1.5]


def test_index_slice(small):
    s, t = small
    sub = s[1:4]
    assert isinstance(sub, ImageSet)
    assert sub.ids == ["b", "c", "d"]
    assert torch.equal(sub.images, t[1:4])
    assert s[::-2].ids == ["e", "c", "a"]


def test_index_list_of_ids_and_positions(small):
    s, t = small
    sub = s[["e", "a"]]
    assert sub.ids == ["e", "a"]
    assert torch.equal(sub.images, t[[4, 0]])
    assert s[[0, -1]].ids == ["a", "e"]
    assert s[np.array([3, 1])].ids == ["d", "b"]


def test_index_boolean_mask(small):
    s, t = small
    mask = np.array([True, False, True, False, True])
    sub = s[mask]
    assert sub.ids == ["a", "c", "e"]
    assert torch.equal(sub.images, t[[0, 2, 4]])
    assert s[torch.tensor([False, True, False, False, False])].ids == ["b"]
    assert s[[False] * 4 + [True]].ids == ["e"]
    with pytest.raises(IndexError, match="length 2"):
        s[np.array([True, False])]


# ---------------------------------------------------------------------------- batches
def test_batches_cover_all_in_order(small):
    s, t = small
    batches = list(s.batches(2))
    assert [ids for ids, _ in batches] == [["a", "b"], ["c", "d"], ["e"]]
    assert torch.equal(torch.cat([x for _, x in batches]), t)


def test_batches_start(small):
    s, t = small
    batches = list(s.batches(2, start=3))
    assert [ids for ids, _ in batches] == [["d", "e"]]
    assert torch.equal(batches[0][1], t[3:5])
    assert list(s.batches(2, start=5)) == []


def test_batches_lazy(tree):
    root, _ = tree
    s = ImageSet.from_folder(root)
    got = [(ids, tuple(x.shape)) for ids, x in s.batches(3)]
    assert got == [(s.ids[:3], (3, 3, 16, 16)), (s.ids[3:], (2, 3, 16, 16))]


@pytest.mark.parametrize("bs", [0, -1, 2.0])
def test_batches_bad_size(small, bs):
    s, _ = small
    with pytest.raises(InputError, match="batch_size: received"):
        next(s.batches(bs))


# ---------------------------------------------------------------------------- resize / concatenation
def test_resize(small):
    s, _ = small
    r = s.resize(3)
    assert tuple(r.images.shape) == (5, 3, 3, 3)
    assert r.ids == s.ids and r.size == 3
    assert tuple(s.images.shape) == (5, 3, 4, 6)  # original untouched


def test_concatenation(small):
    s, t = small
    other = ImageSet.from_array(torch.zeros(2, 3, 4, 6), stimulus_id=["x", "y"])
    both = s + other
    assert both.ids == ["a", "b", "c", "d", "e", "x", "y"]
    assert torch.equal(both.images[:5], t)
    assert torch.equal(both.images[5:], torch.zeros(2, 3, 4, 6))


def test_concatenation_errors(small):
    s, _ = small
    with pytest.raises(AlignmentError, match=r"\['a', 'b'\]"):
        s + ImageSet.from_array(torch.zeros(2, 3, 4, 6), stimulus_id=["b", "a"])
    with pytest.raises(ShapeError, match=r"\(4, 6\) and \(5, 5\)"):
        s + ImageSet.from_array(torch.zeros(1, 3, 5, 5), stimulus_id=["z"])
    with pytest.raises(TypeError):
        s + torch.zeros(1, 3, 4, 6)


# ---------------------------------------------------------------------------- from_samples
@pytest.fixture(scope="module")
def samples():
    return ImageSet.from_samples(size=64)


def test_from_samples_contents(samples):
    ids = samples.ids
    for name in ("skimage/astronaut", "skimage/camera", "skimage/coffee", "skimage/rocket",
                 "sklearn/china", "sklearn/flower"):
        assert name in ids
    assert "skimage/chelsea" in ids or "skimage/cat" in ids
    assert len(set(ids)) == len(ids)
    x = samples.images
    assert x.dtype == torch.float32
    assert tuple(x.shape) == (len(ids), 3, 64, 64)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    # real photographs, not blank frames
    assert all(float(img.std()) > 0.02 for img in x)


def test_from_samples_grey_photo_has_equal_channels(samples):
    cam = samples["skimage/camera"]
    assert torch.equal(cam[0], cam[1]) and torch.equal(cam[1], cam[2])
    astro = samples["skimage/astronaut"]
    assert not torch.equal(astro[0], astro[2])


def test_from_samples_stable(samples):
    again = ImageSet.from_samples(size=64)
    assert again.ids == samples.ids
    assert torch.equal(again.images, samples.images)


def test_random_crops_are_seeded_sized_and_drawn_from_the_images():
    photos = ImageSet.from_samples(size=64)[:3]
    a, b = photos.random_crops(6, 24, random_state=1), photos.random_crops(6, 24, random_state=1)
    assert torch.equal(a.images, b.images) and a.ids == [f"crop/{k:04d}" for k in range(6)]
    assert tuple(a.images.shape) == (6, 3, 24, 24)
    assert not torch.equal(a.images, photos.random_crops(6, 24, random_state=2).images)
    flat = ImageSet.from_array(torch.full((1, 3, 32, 32), 0.25))
    assert torch.allclose(flat.random_crops(2, 8).images, torch.tensor(0.25))  # crops of a flat image stay flat


# ---------------------------------------------------------------------------- the constructor checks
def test_constructor_checks_ids_against_the_images():
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(ShapeError, match="received 2 ids; expected one per item \\(4\\)"):
        ImageSet(x, ["a", "b"])
    with pytest.raises(AlignmentError, match="duplicated"):
        ImageSet(x, ["a", "b", "a", "c"])
    assert ImageSet(x, None).ids == ["stim0000", "stim0001", "stim0002", "stim0003"]


def test_constructor_checks_pixels_like_from_array():
    with pytest.raises(InputError, match="NaN"):
        ImageSet(torch.full((1, 3, 4, 4), float("nan")), ["a"])
    with pytest.raises(InputError, match="value_range=\\(0, 255\\)"):
        ImageSet(torch.full((1, 3, 4, 4), 200.0), ["a"])
    with pytest.raises(ShapeError, match="4 dimensions"):
        ImageSet(torch.rand(3, 4, 4), ["a", "b", "c"])
    s = ImageSet(np.full((2, 4, 4, 3), 255, np.uint8), ["a", "b"])  # uint8 NHWC converted as from_array does
    assert s.images.dtype == torch.float32 and float(s.images.min()) == 1.0


def test_constructor_checks_sources_size_and_source(tmp_path):
    with pytest.raises(InputError, match="neither"):
        ImageSet(None, ["a"])
    with pytest.raises(InputError, match="both"):
        ImageSet(torch.rand(1, 3, 4, 4), ["a"], paths=[tmp_path / "a.png"])
    with pytest.raises(ShapeError, match="received 1 ids; expected one per item \\(2\\)"):
        ImageSet(None, ["a"], paths=[tmp_path / "a.png", tmp_path / "b.png"])
    with pytest.raises(InputError, match="size"):
        ImageSet(torch.rand(1, 3, 4, 4), ["a"], size=0)
    with pytest.raises(ShapeError, match="size=8"):
        ImageSet(torch.rand(1, 3, 4, 4), ["a"], size=8)
    with pytest.raises(InputError, match="source"):
        ImageSet(torch.rand(1, 3, 4, 4), ["a"], source=3)


def test_empty_selection_is_an_empty_set(small):
    s, _ = small
    empty = s[[False] * len(s)]
    assert len(empty) == 0 and empty.ids == []
