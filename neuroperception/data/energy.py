"""Local contrast energy of images: the low-level signal early visual areas of the simulated brain see.

:func:`contrast_energy` splits an image into a luminance and two colour-opponent channels
(red-green, blue-yellow), band-passes each with a difference of Gaussians at a fine and a coarse
scale, and reports, on a coarse grid of cells, the root mean square of each band-passed channel
(local RMS contrast, a compressive function of the energy as in Kay et al. 2013's second-stage
model). It is computed from the pixels alone, so an encoding model of any family has to learn it;
none is favoured because the truth was made from its own features.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from .._validation import check_ids, check_images
from ..errors import InputError

__all__ = ["contrast_energy", "ENERGY_CHANNELS"]

#: The channels of :func:`contrast_energy`, in order: opponent channel × scale.
ENERGY_CHANNELS = ("luminance fine", "luminance coarse", "red-green fine", "red-green coarse", "blue-yellow fine",
                   "blue-yellow coarse")
#: Centre σ of each scale in pixels of a 64-pixel image (scaled with the shorter side); surround σ is 2.5×.
_SCALES = (1.0, 3.0)
_SURROUND = 2.5
_BATCH = 256


def _blur_matrix(n: int, sigma: float) -> torch.Tensor:
    """``(n, n)`` matrix of a 1-D Gaussian blur (σ in samples) with mirrored borders (``reflect``)."""
    radius = max(1, min(int(math.ceil(3 * sigma)), n - 1))
    t = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    src = np.arange(n)[:, None] + t[None, :]
    src = np.abs(src)
    src = np.where(src > n - 1, 2 * (n - 1) - src, src)  # reflect about the edge samples
    m = np.zeros((n, n))
    np.add.at(m, (np.repeat(np.arange(n), t.size), src.ravel()), np.tile(k, n))
    return torch.from_numpy(m.astype(np.float32))


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(..., H, W)`` with mirrored borders, as two matrix products."""
    mh = _blur_matrix(x.shape[-2], sigma).to(x.device)
    mw = _blur_matrix(x.shape[-1], sigma).to(x.device)
    return mh @ x @ mw.T


def _energy(x: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, 6, gh, gw)`` local RMS contrast per opponent channel and scale."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    opp = torch.stack([(r + g + b) / 3, r - g, b - (r + g) / 2], dim=1)
    unit = min(x.shape[-2:]) / 64.0
    bands = []
    for centre in _SCALES:
        s = max(centre * unit, 0.5)
        bands.append(_blur(opp, s) - _blur(opp, _SURROUND * s))
    band = torch.stack(bands, dim=2).flatten(1, 2)  # (B, 6): luminance fine, coarse, red-green fine, ...
    return F.adaptive_avg_pool2d(band * band, grid_hw).sqrt_()


def _grid_shape(h: int, w: int, grid: int) -> tuple[int, int]:
    cell = max(h, w) / grid
    return max(1, round(h / cell)), max(1, round(w / cell))


def contrast_energy(images: Any, *, grid: int = 16, stimulus_id=None) -> xr.DataArray:
    """Local luminance and colour contrast of images, at two scales, on a coarse grid of cells.

    Each image is split into a luminance ``(R + G + B) / 3`` and two opponent channels ``R - G`` and
    ``B - (R + G) / 2``; each is band-passed by a difference of Gaussians (centre σ 1 and 3 pixels of
    a 64-pixel image, scaled with the image's shorter side; surround 2.5 × the centre; mirrored
    borders), squared, averaged over the cells of a ``grid``-cell grid (along the longer side) and
    square-rooted: the local RMS contrast of each channel and scale (:data:`ENERGY_CHANNELS`).
    A uniform image gives zeros; an edge between two colours gives energy in the channels that
    tell them apart.

    Parameters
    ----------
    images : ImageSet, torch.Tensor or array
        ``(N, 3, H, W)`` in ``[0, 1]`` (see :func:`~neuroperception._validation.check_images`).
    grid : int
        Cells along the image's longer side (the shorter side gets proportionally fewer).
    stimulus_id : sequence of str, optional
        Ids for tensor input (an ImageSet has its own); ``stim0000``, ... otherwise.

    Returns
    -------
    xarray.DataArray
        float32 ``("stimulus", "channel", "y", "x")`` with ``stimulus_id`` and ``channel`` names.

    Raises
    ------
    InputError
        Images outside ``[0, 1]``, a ``grid`` that is not an int between 1 and the image side.

    Examples
    --------
    A red disc on grey: the red-green channels see its edge; the far corner sees (almost) nothing.

    >>> import torch
    >>> img = torch.full((1, 3, 64, 64), 0.5)
    >>> yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    >>> disc = (yy - 32) ** 2 + (xx - 32) ** 2 < 12 ** 2
    >>> img[0, :, disc] = torch.tensor([0.9, 0.1, 0.1])[:, None]
    >>> e = contrast_energy(img, grid=8)
    >>> e.dims, e.shape
    (('stimulus', 'channel', 'y', 'x'), (1, 6, 8, 8))
    >>> bool(e.sel(channel="red-green fine").max() > 0.1), round(float(e.isel(y=0, x=0).max()), 3)
    (True, 0.0)
    """
    if hasattr(images, "batches") and hasattr(images, "ids"):
        ids = list(images.ids)
        batches = (check_images(x, name="images") for _, x in images.batches(_BATCH))
    else:
        data = check_images(images, name="images")
        ids = check_ids(stimulus_id, data.shape[0], name="stimulus_id")
        batches = (data[a:a + _BATCH] for a in range(0, data.shape[0], _BATCH))
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 1:
        raise InputError(f"grid: received {grid!r}; expected a positive int (cells along the longer side)")
    out, grid_hw = [], None
    for x in batches:
        h, w = x.shape[-2:]
        if grid > max(h, w):
            raise InputError(f"grid: received {grid}; expected at most the image's longer side ({max(h, w)})")
        grid_hw = grid_hw or _grid_shape(h, w, int(grid))
        if min(h, w) < 4:
            raise InputError(f"images: received images of size {(h, w)}; expected at least 4 x 4 pixels")
        with torch.no_grad():
            out.append(_energy(x.float(), grid_hw).cpu().numpy())
    values = np.concatenate(out)
    return xr.DataArray(values, dims=("stimulus", "channel", "y", "x"),
                        coords={"stimulus_id": ("stimulus", ids), "channel": list(ENERGY_CHANNELS)},
                        name="contrast energy",
                        attrs={"source": "neuroperception.data.contrast_energy", "grid": int(grid)})
