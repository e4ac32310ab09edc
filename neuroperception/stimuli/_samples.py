"""Natural photographs shipped inside scikit-image and scikit-learn (read from the installed wheels)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Photographs of natural scenes/objects in scikit-image's bundled data folder (no pooch download
# needed). Synthetic images (logos, colour wheels, binary silhouettes, phantoms) are left out.
SKIMAGE_PHOTOS = (
    "astronaut", "brick", "camera", "cat", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text",
)
SKLEARN_PHOTOS = ("china", "flower")


@lru_cache(maxsize=1)
def load_sample_photographs() -> tuple[tuple[str, np.ndarray], ...]:
    """Return ``(id, uint8 image)`` pairs for every shipped photograph, in a fixed order."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_image

    out = []
    for name in SKIMAGE_PHOTOS:
        img = np.asarray(getattr(skdata, name)())
        if img.dtype != np.uint8:
            img = np.clip(np.asarray(img, dtype=float) * (255 if img.max() <= 1 else 1), 0, 255).astype(np.uint8)
        if img.ndim == 3 and img.shape[-1] == 4:
            img = img[..., :3]
        out.append((f"skimage/{name}", img))
    for name in SKLEARN_PHOTOS:
        out.append((f"sklearn/{name}", np.asarray(load_sample_image(f"{name}.jpg"))))
    return tuple(out)
