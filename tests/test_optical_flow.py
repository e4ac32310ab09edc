"""Optical flow: Horn–Schunck against planted flows, RAFT loaded by path, input errors."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuroperception.errors import InputError, MissingWeightsError, ShapeError
from neuroperception.features import (
    HornSchunck, RAFTFlow, estimate_flow, load_raft, mean_flow,
)
from neuroperception.stimuli.flow_fields import endpoint_error, warp

S = 48
M = 6  # border margin excluded from the error: warping uncovers the outside there


def _texture(n=2, size=S, cells=12, contrast=1.0, seed=0):
    """Smooth random texture: bicubic upsampling of a coarse random grid, grey, centred on 0.5."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(n, 1, cells, cells, generator=g), size=size, mode="bicubic")
    x = (x - x.amin(dim=(2, 3), keepdim=True)) / (x.amax(dim=(2, 3), keepdim=True) - x.amin(dim=(2, 3), keepdim=True))
    return (0.5 + contrast * (x - 0.5)).clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def _uniform(dx, dy, n=2, size=S):
    return torch.tensor([dx, dy], dtype=torch.float32).view(1, 2, 1, 1).expand(n, 2, size, size).contiguous()


def _interior_epe(pred, true):
    return endpoint_error(pred[..., M:-M, M:-M], true[..., M:-M, M:-M])


def _zero_epe(true):
    return _interior_epe(torch.zeros_like(true), true)


def test_subpixel_translation_is_recovered():
    tex, flow = _texture(), _uniform(0.4, -0.3)
    est = HornSchunck()(tex, warp(tex, flow))
    assert est.shape == (2, 2, S, S) and est.dtype == torch.float32
    err = _interior_epe(est, flow)
    assert (err < 0.05).all(), err
    assert (err < 0.1 * _zero_epe(flow)).all()


def test_translation_of_several_pixels_needs_the_pyramid():
    tex, flow = _texture(), _uniform(3.7, -2.2)  # 4.3 px per frame
    err = _interior_epe(HornSchunck()(tex, warp(tex, flow)), flow)
    single = _interior_epe(HornSchunck(n_scales=1, warp_iters=1)(tex, warp(tex, flow)), flow)
    assert (err < 0.05 * _zero_epe(flow)).all(), err
    assert (single > 3 * err).all(), (single, err)


def test_rotation_and_expansion_of_a_smooth_texture():
    ys, xs = torch.meshgrid(torch.arange(S, dtype=torch.float32), torch.arange(S, dtype=torch.float32),
                            indexing="ij")
    c = (S - 1) / 2
    theta, scale = math.radians(4.0), 1.05
    a, b = scale * math.cos(theta) - 1, scale * math.sin(theta)
    flow = torch.stack((a * (xs - c) - b * (ys - c), b * (xs - c) + a * (ys - c)))[None].expand(2, -1, -1, -1)
    tex = _texture(cells=10)
    err = _interior_epe(HornSchunck()(tex, warp(tex, flow)), flow)
    assert (err < 0.2 * _zero_epe(flow)).all(), (err, _zero_epe(flow))


def test_contrast_does_not_change_the_estimate():
    flow = _uniform(1.5, 0.5, n=1)
    hi, lo = _texture(n=1), _texture(n=1, contrast=0.2)
    est_hi = HornSchunck()(hi, warp(hi, flow))
    est_lo = HornSchunck()(lo, warp(lo, flow))
    assert float(_interior_epe(est_hi, est_lo)) < 0.02


def test_flowing_textures_known_flow():
    from neuroperception.stimuli.moving import flowing_textures

    m = flowing_textures(n=3, size=S, n_frames=3, max_speed=3.0, random_state=0)
    est = mean_flow(m.videos.videos)
    assert est.shape == m.flow.shape
    err = endpoint_error(est, m.flow)
    zero = endpoint_error(torch.zeros_like(m.flow), m.flow)
    assert (err < 0.15 * zero).all(), (err, zero)


def test_drifting_gratings_give_the_normal_velocity():
    from neuroperception.stimuli.moving import drifting_gratings

    m = drifting_gratings(directions=(0, 45, 90), speeds=(1.0, 2.0), size=S, n_frames=3)
    est = mean_flow(m.videos.videos)
    centre = est[..., 16:32, 16:32].mean(dim=(-2, -1))
    torch.testing.assert_close(centre, m.flow[..., S // 2, S // 2], rtol=0, atol=0.05)


def test_videos_give_one_flow_per_frame_step_whatever_the_batch_size():
    tex = _texture(n=2)
    flow = _uniform(1.0, -0.5)
    frames = [tex]
    for _ in range(3):
        frames.append(warp(frames[-1], flow))
    videos = torch.stack(frames, dim=1)  # (2, 4, 3, S, S), steady motion
    est = estimate_flow(videos, batch_size=4, n_iter=30)
    assert est.shape == (2, 3, 2, S, S)
    by_one = estimate_flow(videos, batch_size=1, n_iter=30)
    torch.testing.assert_close(est, by_one, rtol=1e-4, atol=1e-4)
    pair = HornSchunck(n_iter=30)(videos[:, 1], videos[:, 2])
    torch.testing.assert_close(est[:, 1], pair, rtol=1e-4, atol=1e-4)
    mean = mean_flow(videos, n_iter=30)
    torch.testing.assert_close(mean, est.mean(dim=1))
    assert (_interior_epe(mean, flow) < 0.1).all()


def test_uint8_channels_last_videos_and_frame_pairs():
    tex = _texture(n=1)
    flow = _uniform(-1.0, 1.0, n=1)
    video = torch.stack((tex, warp(tex, flow)), dim=1)
    as_uint8 = (video.permute(0, 1, 3, 4, 2) * 255).round().to(torch.uint8).numpy()
    est = estimate_flow(as_uint8)
    assert est.shape == (1, 1, 2, S, S)
    assert float(_interior_epe(est[:, 0], flow)) < 0.1
    pair = estimate_flow((video[:, 0], video[:, 1]))
    assert pair.shape == (1, 2, S, S)


# ---------------------------------------------------------------------------------------------- RAFT


@pytest.fixture(scope="module")
def raft_small_file(tmp_path_factory):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(1)
    module = raft_small(weights=None)
    path = tmp_path_factory.mktemp("raft") / "raft_small_random.pth"
    torch.save(module.state_dict(), path)
    return path, module.state_dict()


def test_raft_loads_by_path_and_follows_the_convention(raft_small_file):
    path, state = raft_small_file
    est = load_raft(path, variant="small", num_flow_updates=2)
    assert isinstance(est, RAFTFlow) and str(path.resolve()) in est.weights
    for k, v in est.module.state_dict().items():
        torch.testing.assert_close(v, state[k])
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 3, 20, 28, generator=g), torch.rand(1, 3, 20, 28, generator=g)
    out = estimate_flow((a, b), method=est)
    assert out.shape == (1, 2, 20, 28) and out.dtype == torch.float32 and torch.isfinite(out).all()
    # reference: torchvision's RAFT on [-1, 1] frames replicate-padded to 128 x 128, cropped back
    pad = (50, 50, 54, 54)
    with torch.no_grad():
        ref = est.module(F.pad(a * 2 - 1, pad, mode="replicate"), F.pad(b * 2 - 1, pad, mode="replicate"),
                         num_flow_updates=2)[-1][..., 54:74, 50:78]
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_raft_tag_found_in_torchvision_cache(raft_small_file, tmp_path, monkeypatch):
    from torchvision.models.optical_flow import Raft_Small_Weights

    path, _ = raft_small_file
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    target = checkpoints / _url_file(Raft_Small_Weights.C_T_V2.url)
    target.write_bytes(path.read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    est = load_raft(Raft_Small_Weights.C_T_V2, variant="small")
    assert str(target) in est.weights
    assert str(target) in load_raft("DEFAULT", variant="small").weights  # DEFAULT is C_T_V2 for raft_small
    assert str(target) in load_raft("Raft_Small_Weights.C_T_V2", variant="small").weights


def _url_file(url):
    return url.rsplit("/", 1)[-1]


def test_raft_missing_weights_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    missing = tmp_path / "raft_large.pth"
    with pytest.raises(MissingWeightsError, match=r"raft_large.pth.*does not exist.*Raft_Large_Weights.DEFAULT"):
        load_raft(missing)
    with pytest.raises(MissingWeightsError, match=r"raft_large_C_T_SKHT_V2-ff5fadd5.pth.*not found; looked in: "
                       + str(tmp_path)):
        load_raft("DEFAULT")
    with pytest.raises(MissingWeightsError, match="received None.*HornSchunck"):
        estimate_flow((torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)), method="raft")


def test_raft_bad_tags_sizes_and_state_dicts(raft_small_file):
    from torchvision.models.optical_flow import Raft_Large_Weights

    path, _ = raft_small_file
    with pytest.raises(InputError, match="expected 'DEFAULT', one of"):
        load_raft("C_T_V9", variant="small")
    with pytest.raises(InputError, match="expected a member of Raft_Small_Weights"):
        load_raft(Raft_Large_Weights.C_T_V2, variant="small")
    with pytest.raises(InputError, match="expected a tag of Raft_Small_Weights"):
        load_raft("Raft_Large_Weights.C_T_V2", variant="small")
    with pytest.raises(InputError, match="variant: received 'medium'"):
        load_raft(path, variant="medium")
    with pytest.raises(InputError, match="do not fit RAFT"):
        load_raft(path, variant="large")  # a raft_small file for raft_large


# ---------------------------------------------------------------------------------------------- input errors


def test_bad_inputs_are_clear_errors():
    a = torch.rand(2, 3, 16, 16)
    with pytest.raises(ShapeError, match="1 frames.*at least 2 frames"):
        estimate_flow(torch.rand(2, 1, 3, 16, 16))
    with pytest.raises(ShapeError, match="1 frames.*at least 2 frames"):
        mean_flow(torch.rand(2, 1, 3, 16, 16))
    with pytest.raises(ShapeError, match=r"frames_b: received .*\(2, 3, 16, 20\).*same shape"):
        estimate_flow((a, torch.rand(2, 3, 16, 20)))
    with pytest.raises(ShapeError, match="same shape"):
        HornSchunck()(a, torch.rand(1, 3, 16, 16))
    with pytest.raises(InputError, match="3 items; expected videos"):
        estimate_flow((a, a, a))
    with pytest.raises(InputError, match="for a frame pair use estimate_flow"):
        mean_flow((a, a))
    with pytest.raises(InputError, match=r"frames_a: received values in \[-0\.\d+.*value_range=\(-1, 1\)"):
        estimate_flow((a * 2 - 1, a))
    with pytest.raises(InputError, match="method: received 'farneback'"):
        estimate_flow((a, a), method="farneback")
    with pytest.raises(InputError, match="weight-free"):
        estimate_flow((a, a), weights="x.pth")
    with pytest.raises(InputError, match=r"together with \['alpha'\]"):
        estimate_flow((a, a), method=HornSchunck(), alpha=1.0)
    with pytest.raises(InputError, match="for method='horn_schunck'; expected alpha"):
        estimate_flow((a, a), smoothness=1.0)
    with pytest.raises(InputError, match="for method='raft'; expected"):
        estimate_flow((a, a), method="raft", weights="x.pth", alpha=1.0)
    with pytest.raises(InputError, match="batch_size: received 0"):
        estimate_flow((a, a), batch_size=0)
    with pytest.raises(InputError, match="alpha: received -1"):
        HornSchunck(alpha=-1)
    with pytest.raises(InputError, match="n_iter: received 2.5"):
        HornSchunck(n_iter=2.5)
    with pytest.raises(InputError, match=r"'cuda:99' but this machine has \d+ CUDA device"):
        HornSchunck(device="cuda:99")


def test_identical_frames_give_zero_flow():
    tex = _texture(n=1)
    est = estimate_flow((tex, tex))
    assert float(est.abs().max()) < 1e-5
    assert np.isfinite(est.numpy()).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_horn_schunck_on_gpu_matches_cpu():
    tex, flow = _texture(), _uniform(2.5, 1.0)
    moved = warp(tex, flow)
    cpu = HornSchunck()(tex, moved)
    gpu = estimate_flow((tex, moved), device="cuda")
    assert gpu.device.type == "cpu"
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)
