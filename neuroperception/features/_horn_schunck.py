"""Numerical core of the coarse-to-fine Horn–Schunck estimator: plain functions on tensors.

Everything works on luminance batches ``(N, 1, H, W)`` in float32 on any device; the flow is
``(N, 2, H, W)`` in pixels, channel 0 = dx (right), 1 = dy (down), from the first frame to the
second. The public interface (validation, batching, devices) lives in
:mod:`neuroperception.features.optical_flow`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights


def luminance(frames: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB in [0, 1] → ``(N, 1, H, W)`` luminance."""
    w = torch.tensor(_LUMA, dtype=frames.dtype, device=frames.device).view(1, 3, 1, 1)
    return (frames * w).sum(dim=1, keepdim=True)


def _gaussian_kernel(sigma: float, device, dtype) -> torch.Tensor:
    radius = max(1, int(math.ceil(2.5 * sigma)))
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with replicated borders."""
    if sigma <= 0:
        return img
    k = _gaussian_kernel(sigma, img.device, img.dtype)
    r = k.numel() // 2
    c = img.shape[1]
    out = F.conv2d(F.pad(img, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(out, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def pyramid_sizes(h: int, w: int, n_scales: int, min_size: int = 8) -> list[tuple[int, int]]:
    """Sizes of the pyramid levels, finest first, halving until ``min_size`` would be crossed."""
    sizes = [(h, w)]
    while len(sizes) < n_scales:
        ph, pw = sizes[-1]
        nh, nw = int(round(ph / 2)), int(round(pw / 2))
        if min(nh, nw) < min_size:
            break
        sizes.append((nh, nw))
    return sizes


def build_pyramid(img: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """Gaussian pyramid: each level blurred (anti-aliasing) then resampled to its size."""
    levels = [img]
    for size in sizes[1:]:
        prev = levels[-1]
        levels.append(F.interpolate(gaussian_blur(prev, 1.0), size=size, mode="bilinear", align_corners=False))
    return levels


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample a flow to ``size`` and rescale its pixel units accordingly."""
    h, w = flow.shape[-2:]
    if (h, w) == tuple(size):
        return flow
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return out * scale


def sample_forward(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``out(x) = img(x + flow(x))``: the second frame brought back onto the first (bilinear, border)."""
    n, _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=img.dtype, device=img.device),
                            torch.arange(w, dtype=img.dtype, device=img.device), indexing="ij")
    gx = 2 * (xs + flow[:, 0]) / max(w - 1, 1) - 1
    gy = 2 * (ys + flow[:, 1]) / max(h - 1, 1) - 1
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


_DERIV = torch.tensor([1.0, -8.0, 0.0, 8.0, -1.0]) / 12.0  # fourth-order central difference


def spatial_gradients(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical derivatives of ``(N, 1, H, W)`` (five-point stencil, replicated borders)."""
    k = _DERIV.to(device=img.device, dtype=img.dtype)
    gx = F.conv2d(F.pad(img, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5))
    gy = F.conv2d(F.pad(img, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1))
    return gx, gy


_AVG = torch.tensor([[1.0, 2.0, 1.0], [2.0, 0.0, 2.0], [1.0, 2.0, 1.0]]) / 12.0  # Horn & Schunck's neighbour mean


def neighbour_mean(flow: torch.Tensor) -> torch.Tensor:
    """Horn & Schunck's weighted mean of the 8 neighbours of each flow component."""
    k = _AVG.to(device=flow.device, dtype=flow.dtype).view(1, 1, 3, 3).expand(2, 1, 3, 3)
    return F.conv2d(F.pad(flow, (1, 1, 1, 1), mode="replicate"), k, groups=2)


def refine_level(i1: torch.Tensor, i2: torch.Tensor, flow: torch.Tensor, *, alpha: float, n_iter: int,
                 warp_iters: int) -> torch.Tensor:
    """Horn–Schunck on one pyramid level, linearised around ``flow`` and re-warped ``warp_iters`` times.

    The smoothness term acts on the total flow, the data term on the increment: with the second
    frame warped onto the first by the current estimate ``w0``, each Jacobi step is
    ``w = mean(w) - ∇I (∇I·(mean(w) - w0) + I_t) / (alpha² + |∇I|²)``.
    """
    a2 = float(alpha) ** 2
    for _ in range(warp_iters):
        i2w = sample_forward(i2, flow)
        gx1, gy1 = spatial_gradients(i1)
        gx2, gy2 = spatial_gradients(i2w)
        grad = 0.5 * torch.cat((gx1 + gx2, gy1 + gy2), dim=1)  # (N, 2, H, W): I_x, I_y
        it = i2w - i1
        denom = a2 + (grad * grad).sum(dim=1, keepdim=True)
        step = grad / denom
        # data residual at w: grad·(w - w0) + I_t = grad·w + const
        const = it - (grad * flow).sum(dim=1, keepdim=True)
        w = flow
        for _ in range(n_iter):
            m = neighbour_mean(w)
            w = m - step * ((grad * m).sum(dim=1, keepdim=True) + const)
        flow = w
    return flow


def horn_schunck(lum_a: torch.Tensor, lum_b: torch.Tensor, *, alpha: float, n_iter: int, n_scales: int,
                 warp_iters: int, presmooth: float) -> torch.Tensor:
    """Coarse-to-fine Horn–Schunck flow from luminance ``lum_a`` to ``lum_b`` (both ``(N, 1, H, W)``)."""
    scale = torch.cat((lum_a, lum_b), dim=1).std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    a = gaussian_blur(lum_a / scale, presmooth)
    b = gaussian_blur(lum_b / scale, presmooth)
    sizes = pyramid_sizes(a.shape[-2], a.shape[-1], n_scales)
    pa, pb = build_pyramid(a, sizes), build_pyramid(b, sizes)
    flow = torch.zeros(a.shape[0], 2, *sizes[-1], dtype=a.dtype, device=a.device)
    for level in range(len(sizes) - 1, -1, -1):
        flow = resize_flow(flow, sizes[level])
        flow = refine_level(pa[level], pb[level], flow, alpha=alpha, n_iter=n_iter, warp_iters=warp_iters)
    return flow
