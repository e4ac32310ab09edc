"""Motion energy: direction, speed and static tuning on planted drifting gratings; layers; errors."""

import math

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError
from neuroperception.features import extract, load_model
from neuroperception.features import MotionEnergy

SF = 0.125  # cycles/pixel of the test gratings (one of the default spatial frequencies)


def drifting_grating(direction: float, sf: float = SF, speed: float = 1.0, phase: float = 0.0, n_frames: int = 16,
                     size: int = 64) -> torch.Tensor:
    """One video (1, T, 3, H, W) in [0, 1]: a grating drifting towards ``direction`` (deg, y up).

    ``speed`` is in pixels per frame, so the temporal frequency is ``sf * speed`` cycles per frame.
    """
    r = torch.arange(size, dtype=torch.float64)
    y, x = torch.meshgrid(-r, r, indexing="ij")
    th = math.radians(direction)
    u = x * math.cos(th) + y * math.sin(th)
    t = torch.arange(n_frames, dtype=torch.float64)[:, None, None]
    lum = 0.5 + 0.5 * torch.cos(2 * math.pi * (sf * u[None] - sf * speed * t) + math.radians(phase))
    return lum.float()[None, :, None].expand(1, n_frames, 3, size, size).contiguous()


@pytest.fixture(scope="module")
def model():
    return load_model("motion_energy", input_size=64)


DIRECTIONS = [0, 45, 90, 135, 180, 225, 270, 315]
SPEEDS = [(0.125, 1.0, 0.125), (0.125, 2.0, 0.25), (0.0625, 2.0, 0.125), (0.0625, 4.0, 0.25)]
ORIENTATIONS = [0, 45, 90, 135]


@pytest.fixture(scope="module")
def responses(model):
    """Compressed (``output``) and raw (``energy`` layer) channel means of every planted video, in one pass."""
    videos = ([drifting_grating(d) for d in DIRECTIONS] + [drifting_grating(0.0, sf=f, speed=v) for f, v, _ in SPEEDS]
              + [drifting_grating(o, speed=0.0) for o in ORIENTATIONS])
    feats = extract(model, torch.cat(videos), ["output", "energy"])
    return feats["output"].values, feats["energy"].values


@pytest.mark.parametrize("k", range(len(DIRECTIONS)))
def test_direction_selectivity(model, responses, k):
    direction = DIRECTIONS[k]
    compressed, raw = responses[0][k], responses[1][k]
    labels = model.module.channel_labels()
    best = labels[int(np.argmax(compressed))]
    assert best == (pytest.approx(direction), SF, SF)  # speed 1 px/frame: tf = sf
    preferred = labels.index((float(direction), SF, SF))
    opposite = labels.index((float((direction + 180) % 360), SF, SF))
    assert raw[opposite] < 0.1 * raw[preferred]


@pytest.mark.parametrize("k", range(len(SPEEDS)))
def test_speed_tuning_follows_tf_over_sf(model, responses, k):
    sf, speed, tf = SPEEDS[k]
    energy = responses[0][len(DIRECTIONS) + k]
    labels = model.module.channel_labels()
    assert labels[int(np.argmax(energy))] == (0.0, sf, tf)
    # among the channels of this direction and spatial frequency, the preferred temporal frequency is sf * speed
    same = [i for i, (d, f, _) in enumerate(labels) if d == 0.0 and f == sf]
    assert labels[max(same, key=lambda i: energy[i])][2] == pytest.approx(sf * speed)


@pytest.mark.parametrize("k", range(len(ORIENTATIONS)))
def test_static_input_drives_tf_zero(model, responses, k):
    orientation = ORIENTATIONS[k]
    row = len(DIRECTIONS) + len(SPEEDS) + k
    labels = model.module.channel_labels()
    assert labels[int(np.argmax(responses[0][row]))] == (pytest.approx(orientation), SF, 0.0)
    energy = responses[1][row]
    static = energy[labels.index((float(orientation), SF, 0.0))]
    moving = [energy[labels.index((float(d), SF, tf))]
              for d in (orientation, orientation + 180) for tf in (0.125, 0.25)]
    assert static > 3 * max(moving)
    # a static grating has no direction: the two opposite moving channels respond alike
    a, b = (energy[labels.index((float(d), SF, 0.125))] for d in (orientation, orientation + 180))
    assert a == pytest.approx(b, rel=1e-3)


def test_energy_is_phase_invariant(model):
    videos = torch.cat([drifting_grating(45, phase=p, n_frames=10) for p in (0, 70, 160, 250)])
    energy = extract(model, videos, "energy")["energy"].values
    best = int(np.argmax(energy[0]))
    assert energy[:, best].std() / energy[:, best].mean() < 0.02


def test_channels_labels_and_layers():
    m = MotionEnergy(n_directions=8, spatial_frequencies=(0.25, 0.0625), temporal_frequencies=(0, 0.2))
    labels = m.channel_labels()
    assert len(labels) == 2 * (4 + 8)  # per sf: 4 static orientations + 8 directions
    assert sorted({d for d, _, tf in labels if tf > 0}) == [45.0 * i for i in range(8)]
    assert sorted({d for d, _, tf in labels if tf == 0}) == [0.0, 45.0, 90.0, 135.0]
    x = torch.randn(2, 1, 12, 32, 32)
    out = m(x)
    assert out.shape == (2, len(labels), 8, 8)  # 0.0625 cycles/px is filtered two pyramid levels down
    assert list(m.parameters()) == []  # weight-free
    kept = MotionEnergy(n_directions=8, spatial_frequencies=(0.25, 0.0625), temporal_frequencies=(0, 0.2),
                        keep_time=True)(x)
    assert kept.shape == (2, len(labels), 12 - 9 + 1, 8, 8)
    torch.testing.assert_close(kept.mean(2), out)


def test_deterministic_and_registered_spec_forms():
    video = torch.rand(2, 10, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    a = extract(load_model("motion_energy", input_size=32), video, ["energy", "output"])
    b = extract(load_model("motion_energy:default", input_size=32, random_state=7), video, ["energy", "output"])
    for layer in a:
        np.testing.assert_array_equal(a[layer].values, b[layer].values)
    assert a["output"].attrs["weights"] == "none (weight-free)"
    assert list(a["output"].stimulus_id.values) == ["stim0000", "stim0001"]
    maps = extract(load_model("motion_energy", input_size=32), video, "output", pooling="none")
    assert maps["output"].dims == ("stimulus", "channel", "y", "x")


def test_short_clips_are_padded_to_the_window():
    m = MotionEnergy(spatial_frequencies=(0.25,), temporal_frequencies=(0, 0.25), keep_time=True)
    assert m(torch.randn(1, 1, 3, 16, 16)).shape[2] == 1


def test_errors():
    with pytest.raises(InputError, match="even int"):
        MotionEnergy(n_directions=5)
    with pytest.raises(InputError, match=r"cycles/pixel in \(0, 0.5\]"):
        MotionEnergy(spatial_frequencies=(0.7,))
    with pytest.raises(InputError, match="cycles/frame"):
        MotionEnergy(temporal_frequencies=(0.1, 0.1))
    with pytest.raises(InputError, match="compression"):
        MotionEnergy(compression="cube")
    with pytest.raises(InputError, match=r"expected luminance videos \(N, 1, T, H, W\)"):
        MotionEnergy()(torch.rand(1, 3, 8, 32, 32))
    with pytest.raises(InputError, match="at least 4 pixels"):
        MotionEnergy()(torch.rand(1, 1, 8, 2, 2))
    with pytest.raises(InputError, match="no weights"):
        load_model("motion_energy", weights="x.pt")
    with pytest.raises(InputError, match="expected 'motion_energy' or 'motion_energy:default'"):
        load_model("motion_energy:fast")
    with pytest.raises(InputError, match="is a video model; received images"):
        extract("motion_energy", torch.rand(2, 3, 32, 32), "output")
