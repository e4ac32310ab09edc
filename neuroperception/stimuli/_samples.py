"""Natural photographs shipped inside scikit-image and scikit-learn (read from the installed wheels).

The files are read straight from the packages' data folders (located without importing them,
which would cost seconds); a file missing in some future release falls back to the package's
own loader.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

# id -> file in skimage/data (photographs of natural scenes and objects; synthetic images such as
# logos, colour wheels, silhouettes and phantoms are left out).
SKIMAGE_PHOTOS = {
    "astronaut": "astronaut.png", "brick": "brick.png", "camera": "camera.png", "cat": "chelsea.png",
    "coffee": "coffee.png", "coins": "coins.png", "grass": "grass.png", "gravel": "gravel.png",
    "hubble_deep_field": "hubble_deep_field.jpg", "immunohistochemistry": "ihc.png", "moon": "moon.png",
    "motorcycle": "motorcycle_left.png", "page": "page.png", "retina": "retina.jpg", "rocket": "rocket.jpg",
    "text": "text.png",
}
SKLEARN_PHOTOS = {"china": "china.jpg", "flower": "flower.jpg"}


def _package_dir(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed; it is a core dependency of neuroperception")
    return Path(list(spec.submodule_search_locations)[0], *parts)


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    return np.array(arr, dtype=np.uint8)


def _fallback(package: str, name: str) -> np.ndarray:
    if package == "skimage":
        from skimage import data

        return np.asarray(getattr(data, "chelsea" if name == "cat" else name)())
    from sklearn.datasets import load_sample_image

    return np.asarray(load_sample_image(SKLEARN_PHOTOS[name]))


@lru_cache(maxsize=1)
def load_sample_photographs() -> tuple[tuple[str, np.ndarray], ...]:
    """Return ``(id, uint8 image)`` pairs for every shipped photograph, in a fixed order."""
    out = []
    for package, folder, table in (("skimage", ("data",), SKIMAGE_PHOTOS),
                                   ("sklearn", ("datasets", "images"), SKLEARN_PHOTOS)):
        base = _package_dir(package, *folder)
        for name, filename in table.items():
            path = base / filename
            img = _read(path) if path.is_file() else _fallback(package, name)
            if img.ndim == 3 and img.shape[-1] == 4:
                img = img[..., :3]
            out.append((f"{package}/{name}", img))
    return tuple(out)
