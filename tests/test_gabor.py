"""The Gabor pyramid: tuning to planted orientation/frequency, phase invariance, layers."""

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError
from neuroperception.features import GaborPyramid, extract, layer_names, load_model
from neuroperception.features.gabor import gabor_kernels
from neuroperception.stimuli import procedural


@pytest.fixture(scope="module")
def model():
    return load_model("gabor", input_size=128)


@pytest.mark.parametrize("orientation", [0, 45, 90, 135])
def test_preferred_orientation_matches_grating(model, orientation):
    # scale0 frequencies are 0.25 and 0.125 cycles/pixel = 32 and 16 cycles per 128-pixel image
    img = procedural.gratings(orientations=(orientation,), spatial_frequencies=(16,), size=128)
    feats = extract(model, img, "scale0")["scale0"].values[0]
    labels = model.module.channel_labels()
    freq, ori = labels[int(np.argmax(feats))]
    assert freq == 0.125
    assert ori == pytest.approx(orientation)


def test_preferred_frequency_moves_with_scale(model):
    # 8 cycles/image at 128 px: 0.0625 cycles/px, which scale1's 0.125 filter sees after halving
    img = procedural.gratings(orientations=(0,), spatial_frequencies=(8,), size=128)
    feats = extract(model, img, ["scale0", "scale1", "scale2"])
    peaks = {layer: float(da.values.max()) for layer, da in feats.items()}
    assert max(peaks, key=peaks.get) == "scale1"


def test_complex_cells_are_phase_invariant(model):
    imgs = procedural.gratings(orientations=(30,), spatial_frequencies=(16,), phases=(0, 60, 120, 200), size=128)
    energy = extract(model, imgs, "scale0")["scale0"].values
    simple = extract(model, imgs, "scale0.simple")["scale0.simple"].values
    best = int(np.argmax(energy[0]))
    spread = energy[:, best].std() / energy[:, best].mean()
    assert spread < 0.02
    # the linear (simple) responses at the centre do depend on phase
    raw = extract(model, imgs, "scale0.simple", pooling="none")["scale0.simple"].values
    centre = raw[:, 2 * best, 64, 64]
    assert centre.std() > 10 * abs(energy[:, best].std())
    assert simple.shape[1] == 2 * energy.shape[1]


def test_kernels_are_zero_mean_unit_norm_quadrature():
    k = gabor_kernels([0, 45, 90], frequency=0.2)
    flat = k.flatten(1)
    np.testing.assert_allclose(flat.sum(1).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(flat.norm(dim=1).numpy(), 1, atol=1e-5)
    assert abs(float((flat[0] * flat[1]).sum())) < 0.05  # even and odd are (nearly) orthogonal
    with pytest.raises(InputError, match="cycles/pixel"):
        gabor_kernels([0], frequency=0.7)


def test_layers_shapes_and_options():
    m = load_model("gabor", n_orientations=4, spatial_frequencies=(0.25,), n_scales=3, input_size=64)
    assert [n for n in layer_names(m) if n.startswith("scale") and "." not in n] == ["scale0", "scale1", "scale2"]
    out = m(torch.rand(2, 3, 80, 80))
    assert out.shape == (2, 12, 16, 16)
    with pytest.raises(InputError, match="n_orientations"):
        GaborPyramid(n_orientations=0)
