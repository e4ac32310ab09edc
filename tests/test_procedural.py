"""Tests of neuroperception.stimuli.procedural (gratings, plaids, band-pass noise)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError
from neuroperception.stimuli import ImageSet
from neuroperception.stimuli.procedural import bandpass_noise, grating, gratings, plaids


# ---------------------------------------------------------------------------- grating
@pytest.mark.parametrize("size,sf,ori,phase", [(32, 4, 0, 0), (64, 3, 90, 37), (33, 5, 0, 90), (48, 7, 90, 200)])
def test_grating_mean_half_at_integer_cycles(size, sf, ori, phase):
    g = grating(size, orientation=ori, spatial_frequency=sf, phase=phase)
    assert g.shape == (size, size)
    assert g.dtype == np.float64
    assert g.mean() == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("c", [0.0, 0.3, 1.0])
def test_grating_range_follows_contrast(c):
    g = grating(64, orientation=30, spatial_frequency=6, contrast=c)
    assert g.min() >= 0.5 - c / 2 - 1e-12
    assert g.max() <= 0.5 + c / 2 + 1e-12
    # the extremes are (nearly) reached: Michelson contrast ~ c
    assert (g.max() - g.min()) / (g.max() + g.min()) == pytest.approx(c, abs=0.02)


def test_grating_orientation_0_vertical_stripes():
    g = grating(32, orientation=0, spatial_frequency=4)
    # every column is constant along y; rows vary along x
    np.testing.assert_allclose(g, np.broadcast_to(g[0], g.shape), atol=1e-12)
    assert np.ptp(g[0]) > 0.9


def test_grating_orientation_90_horizontal_stripes():
    g = grating(32, orientation=90, spatial_frequency=4)
    # every row is constant along x; columns vary along y
    np.testing.assert_allclose(g, np.broadcast_to(g[:, :1], g.shape), atol=1e-12)
    assert np.ptp(g[:, 0]) > 0.9


@pytest.mark.parametrize("sf", [1, 3, 8, 13])
def test_grating_dominant_frequency(sf):
    size = 64
    g0 = grating(size, orientation=0, spatial_frequency=sf)
    spec_x = np.abs(np.fft.rfft(g0[5] - 0.5))
    assert int(np.argmax(spec_x)) == sf
    g90 = grating(size, orientation=90, spatial_frequency=sf)
    spec_y = np.abs(np.fft.rfft(g90[:, 5] - 0.5))
    assert int(np.argmax(spec_y)) == sf
    # 2-D spectrum of the vertical-stripe grating: peak on the x axis at +-sf
    spec2 = np.abs(np.fft.fft2(g0 - 0.5))
    ky, kx = np.unravel_index(np.argmax(spec2), spec2.shape)
    assert ky == 0 and kx in (sf, size - sf)


def test_grating_oblique_orientation_frequency():
    size, sf = 64, 8
    g = grating(size, orientation=45, spatial_frequency=sf)
    spec2 = np.abs(np.fft.fft2(g - 0.5))
    ky, kx = np.unravel_index(np.argmax(spec2), spec2.shape)
    fy = ky if ky <= size // 2 else ky - size
    fx = kx if kx <= size // 2 else kx - size
    assert np.hypot(fx, fy) == pytest.approx(sf, abs=1.5)
    assert abs(abs(fx) - abs(fy)) <= 1


def test_grating_phase_180_is_inverse():
    g0 = grating(40, orientation=20, spatial_frequency=5, phase=0, contrast=1)
    g180 = grating(40, orientation=20, spatial_frequency=5, phase=180, contrast=1)
    np.testing.assert_allclose(g180, 1 - g0, atol=1e-12)
    g360 = grating(40, orientation=20, spatial_frequency=5, phase=360, contrast=1)
    np.testing.assert_allclose(g360, g0, atol=1e-12)


def test_grating_phase_shift_moves_stripes():
    size, sf = 64, 4
    g0 = grating(size, orientation=0, spatial_frequency=sf, phase=0)
    g90 = grating(size, orientation=0, spatial_frequency=sf, phase=90)
    # a 90 degree phase shift equals a shift of a quarter period (size / sf / 4 pixels)
    shift = size // sf // 4
    np.testing.assert_allclose(np.roll(g90, shift, axis=1), g0, atol=1e-12)


def test_grating_circle_aperture():
    size, radius = 64, 0.3
    g = grating(size, orientation=0, spatial_frequency=6, aperture="circle", radius=radius)
    c = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size]
    r = np.hypot(xs - c, ys - c) / size
    outside = r > radius
    assert outside.sum() > 0
    np.testing.assert_array_equal(g[outside], 0.5)
    plain = grating(size, orientation=0, spatial_frequency=6)
    np.testing.assert_array_equal(g[~outside], plain[~outside])


def test_grating_gaussian_aperture_decays():
    size, radius = 65, 0.3
    plain = grating(size, orientation=0, spatial_frequency=4, phase=0)
    g = grating(size, orientation=0, spatial_frequency=4, phase=0, aperture="gaussian", radius=radius)
    c = (size - 1) // 2
    # centre pixel is untouched (envelope 1)
    assert g[c, c] == pytest.approx(plain[c, c], abs=1e-12)
    # envelope = exp(-r^2 / (2 (radius/2)^2)), r in image widths
    ys, xs = np.mgrid[0:size, 0:size]
    r = np.hypot(xs - c, ys - c) / size
    env = np.exp(-0.5 * (r / (radius / 2)) ** 2)
    np.testing.assert_allclose(g - 0.5, (plain - 0.5) * env, atol=1e-12)
    # modulation depth falls with distance: centre row amplitude at the edge << centre
    dev = np.abs(g - 0.5)
    assert dev[c, c] > 0.49
    assert dev[0, 0] < 1e-3
    assert dev.max() == pytest.approx(dev[c, c])


def test_grating_unknown_aperture():
    with pytest.raises(InputError, match="'square'"):
        grating(16, aperture="square")


@pytest.mark.parametrize("contrast", [-0.1, 1.5, float("nan")])
def test_grating_bad_contrast(contrast):
    with pytest.raises(InputError) as err:
        grating(16, contrast=contrast)
    assert "contrast: received" in str(err.value) and "[0, 1]" in str(err.value)


@pytest.mark.parametrize("size", [1, 0, 2.5, "32"])
def test_grating_bad_size(size):
    with pytest.raises(InputError, match="size: received"):
        grating(size)


def test_grating_bad_spatial_frequency():
    with pytest.raises(InputError, match="spatial_frequency"):
        grating(16, spatial_frequency=-1)
    # zero frequency is a uniform field at 0.5 + contrast/2 * cos(phase)
    np.testing.assert_allclose(grating(8, spatial_frequency=0, phase=90), 0.5, atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_grating_gaussian_zero_radius_rejected():
    with pytest.raises(InputError, match="radius"):
        grating(15, aperture="gaussian", radius=0)


# ---------------------------------------------------------------------------- gratings
def test_gratings_ids_and_count():
    oris, sfs, phs, cs = (0, 45, 90), (2, 4.5), (0, 180), (0.5, 1.0)
    s = gratings(orientations=oris, spatial_frequencies=sfs, phases=phs, contrasts=cs, size=16)
    assert isinstance(s, ImageSet)
    assert len(s) == 3 * 2 * 2 * 2
    expected = [f"grating/ori={o}/sf={f:g}/phase={p}/contrast={c:g}"
                for o, f, p, c in itertools.product(oris, sfs, phs, cs)]
    assert s.ids == expected
    assert "grating/ori=45/sf=4.5/phase=180/contrast=0.5" in s.ids
    x = s.images
    assert tuple(x.shape) == (24, 3, 16, 16) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    # each image is the matching grating()
    k = s.ids.index("grating/ori=90/sf=2/phase=180/contrast=0.5")
    ref = torch.from_numpy(grating(16, 90, 2, 180, 0.5).astype(np.float32))
    assert torch.equal(s[k][0], ref)


def test_gratings_empty_parameters():
    with pytest.raises(InputError, match="empty parameter list"):
        gratings(orientations=(), size=8)


def test_gratings_default_count():
    assert len(gratings(size=8)) == 4 * 3


# ---------------------------------------------------------------------------- plaids
def test_plaids_sum_of_two_gratings():
    s = plaids(orientations=(0, 30), angle=90, spatial_frequencies=(3, 5), contrast=0.8, size=32)
    assert s.ids == [
        "plaid/ori=0/angle=90/sf=3/contrast=0.8",
        "plaid/ori=0/angle=90/sf=5/contrast=0.8",
        "plaid/ori=30/angle=90/sf=3/contrast=0.8",
        "plaid/ori=30/angle=90/sf=5/contrast=0.8",
    ]
    for k, (ori, sf) in enumerate(itertools.product((0, 30), (3, 5))):
        a = grating(32, ori, sf, 0, 0.4)
        b = grating(32, ori + 90, sf, 0, 0.4)
        expected = torch.from_numpy((a + b - 0.5).astype(np.float32))
        for ch in range(3):
            assert float((s.images[k, ch] - expected).abs().max()) <= 1e-7
    x = s.images
    assert float(x.min()) >= 0.1 - 1e-6 and float(x.max()) <= 0.9 + 1e-6


def test_plaid_has_both_orientations():
    s = plaids(orientations=(0,), angle=90, spatial_frequencies=(4,), size=64)
    img = s.images[0, 0].numpy().astype(np.float64) - 0.5
    spec = np.abs(np.fft.fft2(img))
    # energy at (0, +-4) (vertical stripes) and (+-4, 0) (horizontal stripes)
    assert spec[0, 4] > 100 and spec[4, 0] > 100
    assert spec[0, 4] == pytest.approx(spec[4, 0], rel=1e-3)


# ---------------------------------------------------------------------------- bandpass noise
def test_noise_seed_reproducible():
    a = bandpass_noise(n=3, size=32, random_state=5)
    b = bandpass_noise(n=3, size=32, random_state=5)
    c = bandpass_noise(n=3, size=32, random_state=6)
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)
    assert float((a.images - c.images).abs().max()) > 0.05
    # images within one call differ from each other
    assert not torch.equal(a.images[0], a.images[1])


def test_noise_ids_shape():
    s = bandpass_noise(n=2, center_frequency=6, bandwidth=0.5, contrast=0.1, size=16, random_state=3)
    assert s.ids == ["noise/sf=6/bw=0.5/contrast=0.1/seed=3/0", "noise/sf=6/bw=0.5/contrast=0.1/seed=3/1"]
    x = s.images
    assert tuple(x.shape) == (2, 3, 16, 16)
    assert torch.equal(x[:, 0], x[:, 2])


@pytest.mark.parametrize("contrast", [0.05, 0.1])
def test_noise_rms_contrast(contrast):
    s = bandpass_noise(n=4, center_frequency=8, size=64, contrast=contrast, random_state=0)
    x = s.images[:, 0].double()
    assert float(x.min()) > 0 and float(x.max()) < 1  # no clipping happened
    for img in x:
        assert float(img.std(unbiased=False)) == pytest.approx(contrast, rel=1e-4)
        assert float(img.mean()) == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("cf", [4.0, 8.0, 16.0])
def test_noise_spectrum_peaks_at_center_frequency(cf):
    size = 64
    s = bandpass_noise(n=8, center_frequency=cf, bandwidth=1.0, size=size, contrast=0.1, random_state=1)
    x = s.images[:, 0].double().numpy() - 0.5
    power = (np.abs(np.fft.fft2(x)) ** 2).mean(0)
    fy = np.fft.fftfreq(size)[:, None] * size
    fx = np.fft.fftfreq(size)[None, :] * size
    radius = np.rint(np.hypot(fx, fy)).astype(int)
    radial = np.bincount(radius.ravel(), power.ravel()) / np.bincount(radius.ravel())
    peak = int(np.argmax(radial[1 : size // 2])) + 1
    assert cf / 1.5 <= peak <= cf * 1.5
    # DC is removed
    assert power[0, 0] < 1e-6 * power.max()


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, "n: received"),
    ({"center_frequency": 0}, "center_frequency"),
    ({"bandwidth": -1}, "bandwidth"),
])
def test_noise_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        bandpass_noise(size=16, **kwargs)
