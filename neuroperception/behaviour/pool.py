"""``candidate_pool``: a seeded pool of images larger than the shipped photographs.

Triplet generation needs thousands of candidates; the package ships about twenty photographs
(scikit-image, scikit-learn). The pool mixes seeded crops, flips and colour changes of those
photographs with procedural stimuli (gratings, plaids, band-pass noise) of random parameters.
"""

from __future__ import annotations

import numpy as np
import torch

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError
from ..stimuli import ImageSet, procedural
from ..stimuli._transforms import resize_center_crop

__all__ = ["candidate_pool"]

_KINDS = ("grating", "plaid", "noise")


def _colour(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Seeded gamma, per-channel gains, contrast and saturation changes (and sometimes grey)."""
    x = x.clamp(1e-6, 1.0) ** float(rng.uniform(0.75, 1.33))
    x = x * torch.tensor(rng.uniform(0.8, 1.2, 3), dtype=x.dtype)[:, None, None]
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    saturation = 0.0 if rng.random() < 0.1 else float(rng.uniform(0.5, 1.5))
    x = grey + saturation * (x - grey)
    mean = x.mean()
    x = mean + float(rng.uniform(0.7, 1.3)) * (x - mean)
    return x.clamp_(0.0, 1.0)


def _photo(base: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    side = base.shape[-1]
    crop = max(8, int(round(side * rng.uniform(0.35, 1.0))))
    top, left = rng.integers(0, side - crop + 1, 2)
    x = base[:, top:top + crop, left:left + crop]
    if rng.random() < 0.5:
        x = x.flip(-1)
    return _colour(resize_center_crop(x[None], size)[0], rng)  # crops are square: a plain resize


def _procedural(kind: str, size: int, rng: np.random.Generator, seed: int) -> torch.Tensor:
    aperture = [None, "circle", "gaussian"][rng.integers(3)]
    sf = float(np.exp(rng.uniform(np.log(2.0), np.log(max(2.5, size / 4)))))
    ori, phase, contrast = rng.uniform(0, 180), rng.uniform(0, 360), rng.uniform(0.3, 1.0)
    if kind == "grating":
        g = procedural.grating(size, ori, sf, phase, contrast, aperture, radius=rng.uniform(0.3, 0.6))
    elif kind == "plaid":
        angle = rng.uniform(30, 150)
        g = (procedural.grating(size, ori, sf, phase, contrast / 2, aperture)
             + procedural.grating(size, ori + angle, sf, rng.uniform(0, 360), contrast / 2, aperture) - 0.5)
    else:
        g = procedural.bandpass_noise(1, center_frequency=sf, bandwidth=rng.uniform(0.5, 2.0), size=size,
                                      contrast=rng.uniform(0.1, 0.3), random_state=seed).images[0, 0].numpy()
    x = torch.from_numpy(np.asarray(g, dtype=np.float32)).clamp_(0, 1)[None].expand(3, -1, -1)
    return _colour(x.contiguous(), rng)


@fill_doc
def candidate_pool(n: int, size: int = 224, random_state: int | np.random.Generator | None = 0,
                   photo_fraction: float = 0.5) -> ImageSet:
    """A seeded pool of ``n`` distinct candidate images for triplet generation.

    About ``photo_fraction`` of the images are random crops (35-100 % of the side), horizontal
    flips and colour changes (gamma, channel gains, saturation, contrast) of the photographs
    shipped with scikit-image and scikit-learn; the rest are gratings, plaids and band-pass
    noise with random orientation, spatial frequency, phase, contrast and aperture, tinted the
    same way. The seed fixes which images are photographs and every image's parameters, so the
    same ``(n, random_state)`` gives the same pool. The whole pool is held in memory (``n * 3 * size² * 4`` bytes).

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Side of the square images.
    %(random_state)s
        The pool's ``source`` records the seed (for a Generator or None, the one drawn from it).
    photo_fraction : float
        Fraction of photograph-derived images, in ``[0, 1]``.

    Returns
    -------
    ImageSet
        Ids ``pool/00000/photo/skimage/astronaut``, ``pool/00001/grating``, ...

    Examples
    --------
    >>> pool = candidate_pool(6, size=32, random_state=1)
    >>> len(pool), tuple(pool.images.shape), pool.ids[0].startswith("pool/00000/")
    (6, (6, 3, 32, 32), True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n: received {n!r}; expected a positive int")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise InputError(f"size: received {size!r}; expected an int >= 8")
    if not 0.0 <= photo_fraction <= 1.0:
        raise InputError(f"photo_fraction: received {photo_fraction!r}; expected a value in [0, 1]")
    seed = seed_from(random_state)
    rng = np.random.default_rng([seed, n])
    n_photo = int(round(n * photo_fraction))
    kinds = rng.permutation(np.array(["photo"] * n_photo + [_KINDS[k % 3] for k in range(n - n_photo)]))
    photos = ImageSet.from_samples(size=max(2 * size, 64)) if n_photo else None
    photo_tensor = photos.images if n_photo else None
    out = torch.empty(n, 3, size, size)
    ids = []
    for k, kind in enumerate(kinds):
        item_rng = np.random.default_rng([seed, k])
        if kind == "photo":
            which = int(item_rng.integers(len(photos)))
            out[k] = _photo(photo_tensor[which], size, item_rng)
            ids.append(f"pool/{k:05d}/photo/{photos.ids[which]}")
        else:
            out[k] = _procedural(str(kind), size, item_rng, seed=int(item_rng.integers(2**31)))
            ids.append(f"pool/{k:05d}/{kind}")
    return ImageSet(out, ids, size=size, source=f"candidate_pool(n={n}, seed={seed})")
