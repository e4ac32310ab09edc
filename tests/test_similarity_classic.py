"""SSIM against scikit-image, MS-SSIM properties and a scipy reference, PSNR/MSE against scikit-image."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from skimage import data as skdata
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from neuroperception.errors import InputError, ShapeError
from neuroperception.similarity import L2, MSSSIM, PSNR, SSIM


def _pairs(h=33, w=41, seed=0):
    """Three image pairs: mild noise, strong noise, unrelated images (float64 in [0, 1])."""
    rng = np.random.default_rng(seed)
    x = rng.random((3, 3, h, w))
    y = np.stack([np.clip(x[0] + 0.05 * rng.standard_normal(x[0].shape), 0, 1),
                  np.clip(x[1] + 0.4 * rng.standard_normal(x[1].shape), 0, 1),
                  rng.random((3, h, w))])
    return x, y


def _photos(size=48):
    """Two smooth natural photographs (low local variance: a hard case for float32 moments)."""
    imgs = [resize(skdata.astronaut(), (size, size), anti_aliasing=True),
            resize(skdata.chelsea(), (size, size), anti_aliasing=True)]
    x = np.stack([im.transpose(2, 0, 1) for im in imgs])
    y = np.clip(x + 0.02 * np.random.default_rng(1).standard_normal(x.shape), 0, 1)
    return x, y


SETTINGS = [
    {},
    {"gaussian": True},
    {"window": 5},
    {"window": 3, "sample_covariance": False},
    {"gaussian": True, "sample_covariance": False},
    {"gaussian": True, "window": 7},      # crop of 3 with an 11-tap filter: reflected borders matter
    {"gaussian": True, "window": 15},
    {"gaussian": True, "sigma": 0.8},
    {"k1": 0.02, "k2": 0.05},
]


def _skimage_ssim(x, y, kw):
    return np.array([structural_similarity(
        a, b, channel_axis=0, data_range=1.0, win_size=kw.get("window"), gaussian_weights=kw.get("gaussian", False),
        sigma=kw.get("sigma", 1.5), use_sample_covariance=kw.get("sample_covariance", True),
        K1=kw.get("k1", 0.01), K2=kw.get("k2", 0.03)) for a, b in zip(x, y)])


@pytest.mark.parametrize("kw", SETTINGS, ids=[str(k) or "default" for k in SETTINGS])
def test_ssim_equals_skimage(kw):
    ssim = SSIM(**kw)
    for x, y in (_pairs(), _pairs(17, 24, seed=3), _photos()):
        got = ssim.similarity(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
        np.testing.assert_allclose(got.numpy(), _skimage_ssim(x, y, kw), rtol=0, atol=1e-5)
        np.testing.assert_allclose(ssim(torch.tensor(x).float(), torch.tensor(y).float()).numpy(),
                                   1 - _skimage_ssim(x, y, kw), rtol=0, atol=1e-5)


def test_ssim_on_uint8_and_signed_input_matches_float():
    x, y = _pairs()
    ref = SSIM().similarity(torch.tensor(x).float(), torch.tensor(y).float())
    signed = SSIM(value_range=(-1, 1)).similarity(torch.tensor(2 * x - 1).float(), torch.tensor(2 * y - 1).float())
    np.testing.assert_allclose(signed.numpy(), ref.numpy(), atol=1e-6)
    xu = (x * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    yu = (y * 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    sk = [structural_similarity(a, b, channel_axis=-1, data_range=255) for a, b in zip(xu, yu)]
    np.testing.assert_allclose(SSIM().similarity(xu, yu).numpy(), sk, atol=1e-5)


def test_ssim_is_differentiable_and_gradient_ascent_raises_it():
    x, y = _pairs(16, 16)
    ssim = SSIM(gaussian=True, window=7)
    a = torch.tensor(x[:1, :1, :12, :12])  # one small grey image keeps gradcheck quick
    b = torch.tensor(y[1:2, :1, :12, :12], requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ssim.ssim(a, t), (b,), eps=1e-6, atol=1e-5)
    z = torch.tensor(y[1:2], dtype=torch.float32, requires_grad=True)
    target = torch.tensor(x[:1], dtype=torch.float32)
    start = ssim.similarity(target, z).item()
    opt = torch.optim.Adam([z], lr=0.02)
    for _ in range(30):
        opt.zero_grad()
        ssim(target, z.clamp(0, 1)).sum().backward()
        opt.step()
    assert ssim.similarity(target, z.detach().clamp(0, 1)).item() > start + 0.2


def test_ssim_batched_pairwise_and_reference_agree():
    x, y = _pairs()
    xt, yt = torch.tensor(x).float(), torch.tensor(y).float()
    ssim = SSIM()
    paired = ssim(xt, yt)
    one_by_one = torch.cat([ssim(xt[i:i + 1], yt[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(paired.numpy(), one_by_one.numpy(), atol=1e-6)
    D = ssim.pairwise(xt, yt)
    np.testing.assert_allclose(D.diagonal().numpy(), paired.numpy(), atol=1e-6)
    np.testing.assert_allclose(D[0, 2].item(), ssim(xt[:1], yt[2:3]).item(), atol=1e-6)
    self_D = ssim.pairwise(xt)
    np.testing.assert_allclose(self_D.diagonal().numpy(), 0, atol=1e-6)
    np.testing.assert_allclose(self_D.numpy(), self_D.T.numpy(), atol=1e-6)  # SSIM is symmetric
    ssim.set_reference(yt[:1])
    np.testing.assert_allclose(ssim.to_reference(xt).numpy(), ssim(xt, yt[:1]).numpy(), atol=1e-6)


def test_ssim_errors():
    with pytest.raises(InputError, match="window: received 6; expected a positive odd int"):
        SSIM(window=6)
    with pytest.raises(InputError, match="data_range: received -1"):
        SSIM(data_range=-1)
    with pytest.raises(ShapeError, match=r"received size \(5, 9\); expected at least 7x7"):
        SSIM()(torch.rand(1, 3, 5, 9), torch.rand(1, 3, 5, 9))
    with pytest.raises(InputError, match=r"value_range=\(-1, 1\)"):
        SSIM()(torch.rand(1, 3, 8, 8) * 2 - 1, torch.rand(1, 3, 8, 8))


def _msssim_reference(x, y, weights, sigma=1.5):
    """MS-SSIM written with scipy.ndimage (population moments, crop of 5, 2x2 mean pooling)."""
    c1, c2, crop = 0.01 ** 2, 0.03 ** 2, 5
    out = []
    for a, b in zip(x, y):
        per_channel = []
        for ca, cb in zip(a, b):
            vals = []
            for j in range(len(weights)):
                if j:
                    h, w = ca.shape[0] // 2 * 2, ca.shape[1] // 2 * 2
                    ca = ca[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
                    cb = cb[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))
                f = lambda t: gaussian_filter(t, sigma, truncate=3.5, mode="reflect")  # noqa: E731
                mx, my = f(ca), f(cb)
                vx, vy, vxy = f(ca * ca) - mx ** 2, f(cb * cb) - my ** 2, f(ca * cb) - mx * my
                cs = (2 * vxy + c2) / (vx + vy + c2)
                lum = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
                term = (lum * cs if j == len(weights) - 1 else cs)[crop:-crop, crop:-crop].mean()
                vals.append(max(term, 0.0) ** weights[j])
            per_channel.append(np.prod(vals))
        out.append(np.mean(per_channel))
    return np.array(out)


def test_msssim_equals_scipy_reference_and_standard_weights():
    x, y = _pairs(90, 100)
    y[0] = np.clip(x[0] * 0.7 + 0.1, 0, 1)
    weights = (0.3, 0.3, 0.4)
    got = MSSSIM(scale_weights=weights).similarity(torch.tensor(x).float(), torch.tensor(y).float())
    np.testing.assert_allclose(got.numpy(), _msssim_reference(x, y, weights), atol=1e-5)
    assert MSSSIM().scale_weights.tolist() == pytest.approx([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def test_msssim_one_scale_is_ssim_and_scale_two_sees_downsampled_images():
    x, y = _pairs(64, 64)
    xt, yt = torch.tensor(x).float(), torch.tensor(y).float()
    ssim = SSIM(gaussian=True, sample_covariance=False)
    np.testing.assert_allclose(MSSSIM(scale_weights=(1.0,)).similarity(xt, yt).numpy(),
                               ssim.similarity(xt, yt).numpy(), atol=1e-6)
    coarse = MSSSIM(scale_weights=(0.0, 1.0)).similarity(xt, yt)
    # per channel: SSIM of the 2x2-pooled images, negative values counted as 0
    per_channel = torch.stack([ssim.similarity(F.avg_pool2d(xt[:, c:c + 1], 2), F.avg_pool2d(yt[:, c:c + 1], 2))
                               for c in range(3)], 1)
    assert (per_channel[2] < 0).any() and (per_channel[:2] > 0).all()  # the unrelated pair has negative terms
    np.testing.assert_allclose(coarse.numpy(), per_channel.clamp_min(0).mean(1).numpy(), atol=1e-6)


def test_msssim_identity_monotone_in_noise_and_size_check():
    rng = np.random.default_rng(0)
    img = resize(skdata.astronaut(), (176, 176), anti_aliasing=True).transpose(2, 0, 1)[None]
    x = torch.tensor(img).float()
    ms = MSSSIM()
    np.testing.assert_allclose(ms.similarity(x, x).numpy(), 1.0, atol=1e-6)
    noise = torch.tensor(rng.standard_normal(img.shape)).float()
    values = [ms.similarity(x, (x + s * noise).clamp(0, 1)).item() for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(a > b for a, b in zip(values, values[1:])), values
    with pytest.raises(ShapeError, match="expected at least 176 pixels a side for 5 scales"):
        ms(x[..., :170, :170], x[..., :170, :170])
    with pytest.raises(InputError, match="scale_weights: received"):
        MSSSIM(scale_weights=())


def test_msssim_against_pytorch_msssim_when_installed():
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _pairs(192, 192)
    xt, yt = torch.tensor(x).float(), torch.tensor(y).float()
    ref = pm.ms_ssim(xt, yt, data_range=1.0, size_average=False)
    # pytorch_msssim pads odd sizes when pooling and filters without reflection: compare on even sizes
    np.testing.assert_allclose(MSSSIM().similarity(xt, yt).numpy(), ref.numpy(), atol=1e-3)


def test_msssim_gradient_is_finite_for_anticorrelated_images():
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    y = (1 - x).clone().requires_grad_(True)
    d = MSSSIM(scale_weights=(0.5, 0.5))(x, y)
    d.sum().backward()
    assert torch.isfinite(y.grad).all()


def test_psnr_and_l2_equal_skimage_and_pairwise_equals_paired():
    x, y = _pairs()
    xt, yt = torch.tensor(x).float(), torch.tensor(y).float()
    psnr, l2 = PSNR(), L2()
    sk_psnr = [peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, y)]
    sk_mse = [mean_squared_error(a, b) for a, b in zip(x, y)]
    np.testing.assert_allclose(psnr.psnr(xt, yt).numpy(), sk_psnr, rtol=1e-5)
    np.testing.assert_allclose(psnr(xt, yt).numpy(), -np.array(sk_psnr), rtol=1e-5)  # distance = -PSNR
    np.testing.assert_allclose(l2(xt, yt).numpy(), sk_mse, rtol=1e-5)
    both = torch.cat([xt, yt])
    for metric in (psnr, l2):
        D = metric.pairwise(both)
        loop = torch.stack([metric(both[i:i + 1].expand_as(both), both) for i in range(len(both))])
        np.testing.assert_allclose(D.numpy(), loop.numpy(), rtol=1e-4, atol=1e-6)
    assert psnr.psnr(xt, xt).tolist() == pytest.approx([100.0] * 3)  # MSE floored at 1e-10
    assert l2.pairwise(xt).diagonal().abs().max().item() < 1e-7


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x, y = _pairs(64, 64)
    xt, yt = torch.tensor(x).float(), torch.tensor(y).float()
    for metric in (SSIM(gaussian=True), MSSSIM(scale_weights=(0.5, 0.5)), PSNR(), L2()):
        cpu = metric(xt, yt)
        gpu = metric.to("cuda")(xt.cuda(), yt.cuda())
        assert gpu.device.type == "cuda"
        np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), rtol=1e-4, atol=1e-5)
