"""Tests of neuroperception.stimuli.moving: the true flow explains the motion of each generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.stimuli.flow_fields import endpoint_error, warp
from neuroperception.stimuli.moving import MovingStimuli, drifting_gratings, flowing_textures, moving_dots
from neuroperception.stimuli.video import VideoSet


# ---------------------------------------------------------------------------- gratings
def test_gratings_shapes_ids_and_flow():
    m = drifting_gratings(size=32, n_frames=5)
    assert isinstance(m, MovingStimuli) and isinstance(m.videos, VideoSet)
    assert len(m) == 16 and m.ids[:3] == ["grating-d000-s1.0", "grating-d000-s2.0", "grating-d045-s1.0"]
    x = m.videos.videos
    assert x.dtype == torch.float32 and tuple(x.shape) == (16, 5, 3, 32, 32)
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert tuple(m.flow.shape) == (16, 2, 32, 32) and torch.equal(m.mean_flow, m.flow)
    assert list(m.params["id"]) == m.ids
    for k, row in m.params.iterrows():  # flow = speed along the direction, y pointing down
        th = np.deg2rad(row.direction)
        assert np.allclose(m.flow[k, :, 7, 9].numpy(), [row.speed * np.cos(th), -row.speed * np.sin(th)], atol=1e-6)


@pytest.mark.parametrize("direction", [0, 90, 180, 270])
def test_grating_phase_advances_by_speed_times_frequency(direction):
    size, sf, speed = 32, 4, 1.5
    m = drifting_gratings(directions=(direction,), speeds=(speed,), spatial_frequency=sf, size=size, n_frames=6)
    frames = m.videos.videos[0, :, 0].double().numpy() - 0.5
    c = (size - 1) / 2
    ys, xs = np.mgrid[0:size, 0:size]
    th = np.deg2rad(direction)
    u = (xs - c) * np.cos(th) + (c - ys) * np.sin(th)  # position along the direction of motion
    z = np.array([(f * np.exp(-2j * np.pi * sf * u / size)).sum() for f in frames])
    step = np.angle(z[1:] / z[:-1])
    assert np.allclose(step, -2 * np.pi * sf * speed / size, atol=1e-6)  # phase of cos(k(u - v t))


def test_grating_flow_predicts_next_frame_and_aperture():
    m = drifting_gratings(directions=(0, 45, 120), speeds=(1.0, 2.0), size=48, n_frames=4)
    x = m.videos.videos
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    for t in range(3):
        good = (warp(x[:, t], m.flow) - x[:, t + 1])[inner].abs().mean()
        still = (x[:, t] - x[:, t + 1])[inner].abs().mean()
        assert good < 0.02 and still > 10 * good
    a = drifting_gratings(directions=(0,), speeds=(1.0,), size=32, n_frames=3, aperture="circle", radius=0.3)
    assert a.params.loc[0, "aperture"] == "circle"
    assert not bool(a.mask[0, 0, 0]) and bool(a.mask[0, 16, 16])
    assert torch.all(a.flow[0, :, ~a.mask[0]] == 0) and torch.all(a.flow[0, 0, a.mask[0]] == 1)
    assert torch.allclose(a.videos.videos[0, :, :, ~a.mask[0]], torch.tensor(0.5), atol=1e-6)


def test_grating_errors():
    with pytest.raises(InputError, match="speeds: received"):
        drifting_gratings(speeds=(0.0,))
    with pytest.raises(InputError, match="n_frames: received 1"):
        drifting_gratings(n_frames=1)
    with pytest.raises(InputError, match="aperture: received 'square'"):
        drifting_gratings(aperture="square")
    with pytest.raises(InputError, match="ids"):
        drifting_gratings(directions=(0, 0))


# ---------------------------------------------------------------------------- dots
def _centroids(img, dot_area=None):
    lab, n = ndimage.label(img > 0)
    idx = np.arange(1, n + 1)
    area = ndimage.sum(img > 0, lab, idx)
    cents = np.array(ndimage.center_of_mass(img, lab, idx)).reshape(-1, 2)[:, ::-1]  # (x, y)
    return cents if dot_area is None else cents[np.abs(area - dot_area) <= 2]  # isolated dots only


def _fraction_following(m, k, dot_area):
    x = m.videos.videos[k, :, 0].numpy()
    flow = m.flow[k].numpy()
    hits = total = 0
    for t in range(x.shape[0] - 1):
        a, b = _centroids(x[t], dot_area), _centroids(x[t + 1])
        for c in a:
            ix, iy = int(round(c[0])), int(round(c[1]))
            pred = c + flow[:, iy, ix]
            if not all(3 <= v < x.shape[-1] - 3 for v in (*c, *pred)):
                continue  # dots at the edge may wrap around or be redrawn
            total += 1
            hits += len(b) > 0 and np.hypot(*(b - pred).T).min() < 0.4
    return hits / max(total, 1), total


@pytest.mark.parametrize("kind, speeds", [("translation", (1.5,)), ("rotation", (2.0,)), ("expansion", (-1.5,))])
def test_dots_move_by_the_flow_at_their_position(kind, speeds):
    kw = dict(directions=(30,)) if kind == "translation" else {}
    m = moving_dots(speeds=speeds, flow=kind, density=0.004, dot_size=3.0, size=64, n_frames=5,
                    random_state=3, **kw)
    area = float((m.videos.videos[0, 0, 0] > 0).sum()) / m.params.loc[0, "n_dots"]
    frac, total = _fraction_following(m, 0, round(area))
    assert total >= 20 and frac > 0.9
    incoherent = moving_dots(speeds=speeds, flow=kind, coherence=0.0, density=0.004, dot_size=3.0, size=64,
                             n_frames=5, random_state=3, **kw)
    frac0, _ = _fraction_following(incoherent, 0, round(area))
    assert frac0 < 0.3


def test_dots_fields_masks_ids_and_seeds():
    m = moving_dots(flow="rotation", speeds=(1.0, -1.0), size=32, n_frames=4, repeats=2, random_state=1)
    assert m.ids == ["dots-rotation-s1.0-c1.0-r0", "dots-rotation-s1.0-c1.0-r1",
                     "dots-rotation-s-1.0-c1.0-r0", "dots-rotation-s-1.0-c1.0-r1"]
    f = m.flow[0].numpy()
    c = 15.5
    assert np.allclose(f[:, 4, 24], [1.0 / 8 * (4 - c), -1.0 / 8 * (24 - c)])  # counter-clockwise on screen
    assert torch.equal(m.flow[2], -m.flow[0])
    speed_at_quarter = np.hypot(*f[:, 16, int(c + 8)])
    assert abs(speed_at_quarter - 1.0) < 0.1
    assert m.mask.dtype == torch.bool and tuple(m.mask.shape) == (4, 32, 32)
    x = m.videos.videos
    assert torch.all(x[:, 0, 0][m.mask.logical_not() & (x[:, 0, 0] > 0)] == 0)  # frame-0 dots lie in the mask
    assert not torch.equal(x[0], x[1])  # repeats draw new dots
    again = moving_dots(flow="rotation", speeds=(1.0, -1.0), size=32, n_frames=4, repeats=2, random_state=1)
    assert torch.equal(again.videos.videos, x)
    other = moving_dots(flow="rotation", speeds=(1.0, -1.0), size=32, n_frames=4, repeats=2, random_state=2)
    assert not torch.equal(other.videos.videos, x)
    t = moving_dots(size=16, n_frames=3)
    assert len(t) == 16 and t.ids[2] == "dots-translation-d045-s1.0-c1.0-r0"


def test_dots_errors():
    with pytest.raises(InputError, match="flow: received 'spiral'"):
        moving_dots(flow="spiral")
    with pytest.raises(InputError, match="directions only for flow='translation'"):
        moving_dots(directions=(0,), flow="expansion")
    with pytest.raises(InputError, match="coherence: received 1.5"):
        moving_dots(coherence=1.5)
    with pytest.raises(InputError, match="positive speeds for translation"):
        moving_dots(speeds=(-1.0,))


# ---------------------------------------------------------------------------- textures
def test_textures_flow_made_the_motion():
    m = flowing_textures(n=4, size=48, n_frames=6, random_state=0)
    x = m.videos.videos
    assert tuple(x.shape) == (4, 6, 3, 48, 48) and tuple(m.flow.shape) == (4, 2, 48, 48)
    assert bool(m.mask.all()) and list(m.params["id"]) == m.ids
    assert x.std() > 0.05
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    for t in range(5):
        nxt = x[:, t + 1]
        assert (warp(x[:, t], m.flow) - nxt)[inner].abs().max() < 1e-4
        assert (warp(x[:, t], m.flow) - nxt).abs().mean() < 5e-3  # only the crop's edge differs
        assert (warp(x[:, t], -m.flow) - nxt)[inner].abs().mean() > 0.02  # the reversed flow does not
    speeds = torch.linalg.vector_norm(m.flow, dim=1).flatten(1).max(1).values
    assert torch.all(speeds <= 2.0 + 1e-5) and torch.all(speeds >= 1.0 - 1e-5)


def test_textures_flow_is_the_affine_field_of_params():
    m = flowing_textures(n=3, size=32, n_frames=3, random_state=5)
    c = 15.5
    ys, xs = np.mgrid[0:32, 0:32] - c
    for k, p in m.params.iterrows():
        a = np.array([[p.expansion + p.shear1, p.rotation + p.shear2], [-p.rotation + p.shear2, p.expansion - p.shear1]])
        field = np.stack([p.tx + a[0, 0] * xs + a[0, 1] * ys, p.ty + a[1, 0] * xs + a[1, 1] * ys])
        assert np.allclose(m.flow[k].numpy(), field, atol=1e-4)
        assert np.isclose(p.dx, field[0].mean(), atol=1e-5) and np.isclose(p.speed_max, np.hypot(*field).max(), atol=1e-4)


def test_textures_components_and_seeds():
    rot = flowing_textures(n=2, size=32, n_frames=3, components=("rotation",), random_state=2)
    p = rot.params
    assert np.allclose(p[["tx", "ty", "expansion", "shear1", "shear2"]].to_numpy(), 0)
    assert np.all(p.rotation.abs() > 0)
    trans = flowing_textures(n=2, size=32, n_frames=3, components="translation", random_state=2)
    assert endpoint_error(trans.flow, trans.flow.mean(dim=(-2, -1), keepdim=True).expand_as(trans.flow)).max() < 1e-5
    a = flowing_textures(n=2, size=32, n_frames=3, random_state=7)
    b = flowing_textures(n=2, size=32, n_frames=3, random_state=7)
    c = flowing_textures(n=2, size=32, n_frames=3, random_state=8)
    assert torch.equal(a.videos.videos, b.videos.videos) and torch.equal(a.flow, b.flow)
    assert not torch.equal(a.flow, c.flow) and a.ids == ["texture-r7-000", "texture-r7-001"]


def test_textures_errors():
    with pytest.raises(InputError, match="components: received .*'zoom'"):
        flowing_textures(components=("zoom",))
    with pytest.raises(InputError, match="max_speed: received 0"):
        flowing_textures(max_speed=0)
    with pytest.raises(InputError, match="n: received 0"):
        flowing_textures(n=0)


# ---------------------------------------------------------------------------- the constructor checks
def test_moving_stimuli_parts_must_describe_the_same_videos():
    m = drifting_gratings(directions=(0, 90), speeds=(1.0,), size=8, n_frames=3)
    with pytest.raises(ShapeError, match="flow"):
        MovingStimuli(m.videos, m.flow[:1], m.params, m.mask)
    with pytest.raises(ShapeError, match="flow"):
        MovingStimuli(m.videos, m.flow[..., :4], m.params, m.mask)
    with pytest.raises(InputError, match="finite"):
        MovingStimuli(m.videos, m.flow * float("nan"), m.params, m.mask)
    with pytest.raises(ShapeError, match="mask"):
        MovingStimuli(m.videos, m.flow, m.params, m.mask.float())
    with pytest.raises(AlignmentError, match="ids"):
        MovingStimuli(m.videos, m.flow, m.params.iloc[::-1], m.mask)
    with pytest.raises(InputError, match="VideoSet"):
        MovingStimuli(m.videos.videos, m.flow, m.params, m.mask)
    again = MovingStimuli(m.videos, m.flow.numpy(), m.params, m.mask.numpy())  # arrays become tensors
    assert torch.equal(again.flow, m.flow) and torch.equal(again.mask, m.mask)
