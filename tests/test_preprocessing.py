"""Model preprocessing: images smaller than the model's input are upsampled with one warning per model, or fed
at their own size with upsample=False."""

import dataclasses
import warnings

import pytest
import torch
import torch.nn.functional as F

from neuroperception.features import extract, load_model
from neuroperception.features.preprocessing import Preprocessing, UpsamplingWarning


def _upsampling_warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [w for w in caught if issubclass(w.category, UpsamplingWarning)]


def test_small_images_are_upsampled_with_one_warning_per_model():
    pre = Preprocessing(resize=32, crop=28)
    small = torch.rand(2, 3, 16, 16)
    out, caught = _upsampling_warnings(lambda: [pre(small), pre(small), pre(torch.rand(1, 3, 8, 12))])
    assert len(caught) == 1 and "16x16" in str(caught[0].message) and "upsample=False" in str(caught[0].message)
    assert out[0].shape == (2, 3, 28, 28)
    expected = F.interpolate(small, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)[..., 2:30, 2:30]
    torch.testing.assert_close(out[0], (expected - torch.tensor(pre.mean).view(1, 3, 1, 1))
                               / torch.tensor(pre.std).view(1, 3, 1, 1))
    _, again = _upsampling_warnings(lambda: Preprocessing(resize=32, crop=28)(small))  # another model warns again
    assert len(again) == 1
    _, none = _upsampling_warnings(lambda: Preprocessing(resize=32, crop=28)(torch.rand(1, 3, 40, 50)))
    assert none == []  # shrinking large images is said nowhere
    _, exact = _upsampling_warnings(lambda: Preprocessing(resize=(8, 12), crop=None)(torch.rand(1, 3, 8, 12)))
    assert exact == []


def test_native_size_keeps_small_images_and_still_shrinks_large_ones():
    native = Preprocessing(resize=32, crop=28, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), upsample=False)
    small = torch.rand(1, 3, 16, 20)
    out, caught = _upsampling_warnings(lambda: native(small))
    assert caught == [] and torch.equal(out, small)  # the pixels themselves
    large = torch.rand(1, 3, 64, 80)
    assert torch.equal(native(large), dataclasses.replace(native, upsample=True)(large))  # as before
    assert native(torch.rand(1, 3, 30, 40)).shape == (1, 3, 28, 28)  # no resize needed, the crop still cuts
    assert "no-upsampling" in native.describe() and "no-upsampling" not in Preprocessing().describe()
    video = native(torch.rand(1, 4, 3, 16, 16))
    assert video.shape == (1, 3, 4, 16, 16)


def test_extract_at_native_size_from_a_loaded_model():
    model = load_model("torchvision:squeezenet1_1", weights="random")
    images = torch.rand(2, 3, 64, 64)
    _, caught = _upsampling_warnings(lambda: extract(model, images, "features.3"))
    assert len(caught) == 1
    model.preprocess = dataclasses.replace(model.preprocess, upsample=False)
    feats, caught = _upsampling_warnings(lambda: extract(model, images, "features.3"))
    assert caught == []
    assert feats["features.3"].attrs["preprocessing"].endswith("no-upsampling")
    with torch.no_grad():
        direct = model.module.features[:4](model.preprocess(images))
    assert direct.shape[-2:] == (15, 15)  # the maps of 64-pixel inputs (224-pixel inputs give 55x55)
    torch.testing.assert_close(torch.as_tensor(feats["features.3"].values), direct.mean(dim=(2, 3)),
                               rtol=1e-5, atol=1e-6)


def test_upsampling_warning_can_be_silenced_by_category():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=UpsamplingWarning)
        Preprocessing(resize=32, crop=28)(torch.rand(1, 3, 8, 8))
    with pytest.raises(UpsamplingWarning):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            Preprocessing(resize=32, crop=28)(torch.rand(1, 3, 8, 8))
