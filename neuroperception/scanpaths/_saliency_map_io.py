"""A folder of saliency maps (grey images or ``.npy`` arrays) read into one sum-1 DataArray.

:func:`load_saliency_maps` is re-exported by :mod:`neuroperception.scanpaths.readers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from .._validation import describe
from ..errors import InputError, ShapeError

__all__ = ["load_saliency_maps", "SALIENCY_MAP_EXTENSIONS"]

SALIENCY_MAP_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy")


def _read_map(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
        arr = arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise ShapeError(f"{path.name}: received {describe(arr)}; expected a 2-D (height, width) numeric map")
        image = Image.fromarray(arr.astype(np.float32))
    else:
        try:
            with Image.open(path) as im:
                image = im.convert("L") if im.mode in ("RGB", "RGBA", "P", "LA", "CMYK", "YCbCr") else im.copy()
                image = image.convert("F")
        except OSError as err:
            raise InputError(f"{path}: could not be read as an image ({err}); expected a grey png/jpg map") from err
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    arr = np.asarray(image, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"{path.name}: received {describe(arr)}; expected a finite saliency map (no NaN/Inf)")
    if arr.min() < 0:
        raise InputError(f"{path.name}: received {describe(arr)}; expected non-negative saliency values")
    if arr.sum() <= 0:
        raise InputError(f"{path.name}: received an all-zero map; expected some positive saliency")
    return arr / arr.sum()


def load_saliency_maps(folder, stimulus_id: Sequence[str] | None = None,
                       size: int | tuple[int, int] | None = None) -> xr.DataArray:
    """Read a folder of saliency maps (grey png/jpg/bmp/tif images or ``.npy`` arrays) into one DataArray.

    Each map is converted to float (colour images to luminance), optionally resized (bilinear) and
    normalised to **sum 1**, so it is a probability distribution over pixels; this leaves NSS, CC, AUC
    and SIM unchanged and is what KL divergence and information gain expect.

    Parameters
    ----------
    folder : str or Path
        Folder whose files ``<image id>.<ext>`` are maps (the MIT/Tuebingen benchmark layout).
    stimulus_id : sequence of str, optional
        The ids (file stems) to read, in this order; default all, sorted.
    size : int or (height, width), optional
        Resize every map to this size; without it all maps must share one size.

    Returns
    -------
    xarray.DataArray
        float64 ``("stimulus", "y", "x")`` with a ``stimulus_id`` coordinate (the file stems) and
        ``attrs["normalization"] = "sum1"``.

    Raises
    ------
    InputError
        Missing folder or ids, unreadable files, NaN/negative values, all-zero maps, duplicate stems.
    ShapeError
        Maps of different sizes without ``size``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp(); np.save(f"{d}/cat.npy", np.ones((4, 6)))
    >>> sal = load_saliency_maps(d)
    >>> sal.dims, sal["stimulus_id"].values.tolist(), float(sal.sum())
    (('stimulus', 'y', 'x'), ['cat'], 1.0)
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"folder: {str(root)!r} is not an existing folder; expected a folder of saliency maps")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in SALIENCY_MAP_EXTENSIONS)
    by_stem: dict[str, Path] = {}
    for p in files:
        if p.stem in by_stem:
            raise InputError(f"folder: two maps share the id {p.stem!r} ({by_stem[p.stem].name}, {p.name}); "
                             "expected one file per image id")
        by_stem[p.stem] = p
    if not by_stem:
        raise InputError(f"folder: found no saliency maps in {str(root)!r}; expected files ending in "
                         f"{', '.join(SALIENCY_MAP_EXTENSIONS)}")
    wanted = list(by_stem) if stimulus_id is None else [str(i) for i in stimulus_id]
    missing = [i for i in wanted if i not in by_stem]
    if missing:
        raise InputError(f"stimulus_id: no map for {missing[:5]}{' ...' if len(missing) > 5 else ''} in {str(root)!r}; "
                         f"expected files named <id>{{{', '.join(SALIENCY_MAP_EXTENSIONS)}}}")
    if not wanted:
        raise InputError("stimulus_id: received an empty list; expected at least one id")
    if size is not None:
        size = (int(size), int(size)) if np.ndim(size) == 0 else (int(size[0]), int(size[1]))
    maps = [_read_map(by_stem[i], size) for i in wanted]
    shapes = {m.shape for m in maps}
    if len(shapes) > 1:
        raise ShapeError(f"folder: maps have {len(shapes)} different sizes {sorted(shapes)[:4]}; expected one "
                         "size, or pass size=(height, width) to resize them")
    return xr.DataArray(np.stack(maps), dims=("stimulus", "y", "x"),
                        coords={"stimulus_id": ("stimulus", wanted)},
                        attrs={"normalization": "sum1", "source": str(root)}, name="saliency")
