"""``ImageSet``: an ordered, id-labelled set of images, in memory or read lazily from disk."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._docs import fill_doc
from .._validation import check_ids, check_images, seed_from
from ..errors import InputError, ShapeError
from ._indexing import _LabelledSet, check_set_size, check_set_sources, check_source
from ._transforms import _as_hw, resize_center_crop

__all__ = ["ImageSet", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def _read_image(path: Path) -> torch.Tensor:
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
    except OSError as err:
        raise InputError(f"{path}: could not be read as an image ({err}); expected a readable png/jpg/webp file") from err
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float().div_(255.0)


def _check_held_images(images: Any) -> torch.Tensor:
    """The pixels an :class:`ImageSet` holds: what :func:`check_images` accepts, or an empty ``(0, 3, H, W)``."""
    if isinstance(images, torch.Tensor) and images.ndim == 4 and images.shape[0] == 0 and images.shape[1] == 3:
        return images.to(torch.float32)  # an empty selection of a set
    return check_images(images, name="images")


class ImageSet(_LabelledSet):
    """An ordered set of images with unique string ids.

    Images are float32 ``(N, 3, H, W)`` tensors in ``[0, 1]``. A set built from a folder keeps only
    the file paths and reads images batch by batch, so large folders stream with bounded memory.

    Build one with :meth:`from_folder`, :meth:`from_array`, :meth:`from_samples` or the procedural
    generators in :mod:`neuroperception.stimuli.procedural`.

    Examples
    --------
    >>> import numpy as np
    >>> s = ImageSet.from_array(np.zeros((2, 32, 32, 3), dtype=np.uint8), stimulus_id=["a", "b"])
    >>> len(s), s.ids, tuple(s.images.shape)
    (2, ['a', 'b'], (2, 3, 32, 32))
    >>> tuple(s["b"].shape)
    (3, 32, 32)
    """

    _noun, _article = "images", "an"

    def __init__(self, images: torch.Tensor | None, stimulus_id: Sequence[str] | None, *, paths=None,
                 size: int | tuple[int, int] | None = None, source: str = "array"):
        """Hold ``images`` (float32 ``(N, 3, H, W)`` in [0, 1] or uint8 ``NHWC``) or ``paths`` to read lazily.

        Exactly one of ``images`` and ``paths`` is given, with one unique id per image (None gives
        ``stim0000, ...``). The inputs are checked as :meth:`from_array` checks them (shape, dtype,
        range, NaN, id count and uniqueness); a valid float32 tensor is kept as is, without a copy.
        ``size`` (None, an int or ``(height, width)``) records the size lazy images are resized and
        centre-cropped to when read; in-memory images must already have it.

        Raises
        ------
        InputError
            Both or neither of ``images`` and ``paths``, invalid pixels, ``size`` or ``source``.
        ShapeError
            Wrong image shape, a number of ids other than one per image, or in-memory images whose
            size is not ``size``.
        AlignmentError
            Duplicated ids.

        Examples
        --------
        >>> import torch
        >>> ImageSet(torch.zeros(4, 3, 8, 8), stimulus_id=["a", "b"])
        Traceback (most recent call last):
        ...
        neuroperception.errors.ShapeError: stimulus_id: received 2 ids; expected one per item (4)
        """
        paths = check_set_sources(images, paths, "ImageSet", "images")
        size = check_set_size(size, "ImageSet")
        if images is not None:
            images = _check_held_images(images)
            if size is not None and tuple(images.shape[-2:]) != _as_hw(size):
                raise ShapeError(f"ImageSet: received images of size {tuple(images.shape[-2:])} with size={size!r}; "
                                 "expected images of that size (resize them, e.g. ImageSet.from_array(x, size=...))")
        n = len(images) if images is not None else len(paths)
        self._tensor = images
        self._paths = [Path(p) for p in paths] if paths is not None else None
        self._ids = check_ids(stimulus_id, n)
        self._index = {i: k for k, i in enumerate(self._ids)}
        self.size = size
        self.source = check_source(source, "ImageSet")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_array(cls, array: Any, stimulus_id: Sequence[str] | None = None, *, size=None,
                   value_range=(0.0, 1.0)) -> "ImageSet":
        """Build a set from an array, a tensor or a list of PIL images.

        Parameters
        ----------
        array : array-like
            ``uint8`` ``HWC``/``NHWC``, float ``(N, C, H, W)`` in ``value_range``, or PIL images.
        stimulus_id : sequence of str, optional
            One unique id per image (listed in :attr:`ids`); default ``stim0000, stim0001, ...``.
        size : int or (int, int), optional
            Resize (covering) and centre-crop every image to this size.
        value_range : tuple
            Range of float input, ``(0, 1)`` by default (never guessed).

        Examples
        --------
        >>> import torch
        >>> ImageSet.from_array(torch.rand(3, 3, 40, 60), size=32).images.shape
        torch.Size([3, 3, 32, 32])
        """
        x = check_images(array, value_range=value_range)
        if isinstance(array, torch.Tensor) and x.data_ptr() == array.data_ptr():
            x = x.clone()  # the set owns its pixels: later edits of the caller's tensor don't reach it
        if size is not None:
            x = resize_center_crop(x, size)
        return cls(x.contiguous(), check_ids(stimulus_id, x.shape[0]), size=size)

    @classmethod
    def from_folder(cls, path, size=None, *, recursive: bool = True) -> "ImageSet":
        """Collect the images under a folder; ids are their relative paths, sorted.

        Images are read lazily (batch by batch). Without ``size`` every image must have the same
        size; otherwise pass ``size`` to resize and centre-crop on reading.

        Parameters
        ----------
        path : str or Path
            Folder holding png/jpg/jpeg/webp/bmp/tif images (sub-folders too when ``recursive``).
        size : int or (int, int), optional
            Output size after covering resize and centre crop.
        recursive : bool
            Descend into sub-folders.

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> d = tempfile.mkdtemp()
        >>> Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(f"{d}/a.png")
        >>> ImageSet.from_folder(d, size=16).ids
        ['a.png']
        """
        root = Path(path)
        if not root.is_dir():
            raise InputError(f"path: received {str(root)!r}, which is not an existing folder; expected a folder of images")
        pattern = "**/*" if recursive else "*"
        files = sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise InputError(
                f"path: found no image files in {str(root)!r}; expected files ending in {', '.join(IMAGE_EXTENSIONS)}"
            )
        ids = [p.relative_to(root).as_posix() for p in files]
        if size is None:
            from PIL import Image

            sizes = {}
            for p in files:
                try:
                    with Image.open(p) as im:
                        sizes.setdefault(im.size[::-1], p.name)
                except OSError as err:
                    raise InputError(f"{p}: could not be read as an image ({err}); expected a readable "
                                     "png/jpg/webp file") from err
            if len(sizes) > 1:
                examples = ", ".join(f"{n}: {hw[0]}x{hw[1]}" for hw, n in list(sizes.items())[:4])
                raise ShapeError(
                    f"path: images in {str(root)!r} have {len(sizes)} different sizes ({examples}); "
                    "expected one size, or pass size=... to resize and centre-crop them"
                )
        return cls(None, ids, paths=files, size=size, source=f"folder:{root}")

    @classmethod
    def from_samples(cls, size: int | tuple[int, int] = 224) -> "ImageSet":
        """The natural photographs shipped inside scikit-image and scikit-learn (no download).

        Ids are stable names such as ``skimage/astronaut`` and ``sklearn/china``; grey photographs
        are repeated to three channels. Every image is resized (covering) and centre-cropped.

        Examples
        --------
        >>> s = ImageSet.from_samples(size=64)
        >>> "skimage/astronaut" in s.ids and "sklearn/china" in s.ids
        True
        """
        from ._samples import load_sample_photographs

        photos = load_sample_photographs()
        tensors = [resize_center_crop(check_images(arr, name=name), size) for name, arr in photos]
        return cls(torch.cat(tensors), [name for name, _ in photos], size=size, source="samples")

    # ------------------------------------------------------------------ access
    def __repr__(self) -> str:
        shape = tuple(self._tensor.shape[1:]) if self._tensor is not None else f"lazy, size={self.size}"
        return f"ImageSet(n={len(self)}, {shape}, source={self.source!r})"

    def _load(self, positions: list[int]) -> torch.Tensor:
        if self._tensor is not None:
            return self._tensor[positions]
        tensors = []
        for p in positions:
            img = _read_image(self._paths[p])
            if self.size is not None:
                img = resize_center_crop(img, self.size)
            tensors.append(img)
        return torch.cat(tensors) if tensors else torch.zeros(0, 3, 1, 1)

    def __getitem__(self, key):
        """An int or id gives one image ``(3, H, W)``; a slice, list or mask gives an ``ImageSet``."""
        pos = self._positions(key)
        if isinstance(pos, int):
            return self._load([pos])[0]
        ids = [self._ids[p] for p in pos]
        if self._tensor is not None:
            return ImageSet(self._tensor[pos], ids, size=self.size, source=self.source)
        return ImageSet(None, ids, paths=[self._paths[p] for p in pos], size=self.size, source=self.source)

    @property
    def images(self) -> torch.Tensor:
        """All images as one float32 tensor ``(N, 3, H, W)`` in ``[0, 1]`` (reads lazy sets)."""
        return self._load(list(range(len(self))))

    def batches(self, batch_size: int = 32, start: int = 0) -> Iterator[tuple[list[str], torch.Tensor]]:
        """Yield ``(ids, images)`` batches in order, starting at position ``start``.

        Examples
        --------
        >>> import torch
        >>> s = ImageSet.from_array(torch.rand(5, 3, 8, 8))
        >>> [len(ids) for ids, _ in s.batches(2)]
        [2, 2, 1]
        """
        return self._batches(batch_size, start)

    @fill_doc
    def random_crops(self, n: int, size: int, *, random_state: int | np.random.Generator | None = 0,
                     id_prefix: str = "crop/") -> "ImageSet":
        """``n`` random square crops of the images (35-80 % of the side, random left-right flips), resized.

        A cheap way to turn a handful of photographs into hundreds of distinct stimuli for simulated
        experiments. Crop ``k`` gets the id ``f"{id_prefix}{k:04d}"``; the same seed gives the same crops.

        Parameters
        ----------
        n : int
            Number of crops.
        size : int
            Side of the square crops after resizing, in pixels.
        %(random_state)s
        id_prefix : str
            Prefix of the crops' ids (as ``id_prefix`` of the world's scenes and episodes).

        Examples
        --------
        >>> crops = ImageSet.from_samples(size=64).random_crops(5, 32)
        >>> len(crops), tuple(crops.images.shape[1:]), crops.ids[0]
        (5, (3, 32, 32), 'crop/0000')
        """
        if not (isinstance(n, (int, np.integer)) and n > 0 and isinstance(size, (int, np.integer)) and size > 0):
            raise InputError(f"random_crops: received n={n!r}, size={size!r}; expected positive ints")
        gen = torch.Generator().manual_seed(seed_from(random_state))
        images = self.images
        side = images.shape[-1]
        out = []
        for _ in range(int(n)):
            img = images[int(torch.randint(len(images), (1,), generator=gen))]
            crop = int(side * (0.35 + 0.45 * float(torch.rand(1, generator=gen))))
            y0, x0 = (int(torch.randint(side - crop + 1, (1,), generator=gen)) for _ in range(2))
            patch = img[None, :, y0:y0 + crop, x0:x0 + crop]
            if float(torch.rand(1, generator=gen)) < 0.5:
                patch = patch.flip(-1)
            out.append(torch.nn.functional.interpolate(patch, size=(int(size), int(size)), mode="bilinear",
                                                       antialias=True, align_corners=False).clamp(0, 1))
        return ImageSet.from_array(torch.cat(out), stimulus_id=[f"{id_prefix}{k:04d}" for k in range(int(n))])

    def resize(self, size: int | tuple[int, int]) -> "ImageSet":
        """A new set resized (covering) and centre-cropped to ``size``.

        Examples
        --------
        >>> import torch
        >>> ImageSet.from_array(torch.rand(1, 3, 20, 40)).resize(10).images.shape
        torch.Size([1, 3, 10, 10])
        """
        if self._tensor is None:
            return ImageSet(None, self._ids, paths=self._paths, size=size, source=self.source)
        return ImageSet(resize_center_crop(self._tensor, size), self._ids, size=size, source=self.source)

    def __add__(self, other: "ImageSet") -> "ImageSet":
        """Concatenate two sets of the same image size (ids must stay unique)."""
        if not isinstance(other, ImageSet):
            return NotImplemented
        a, b = self.images, other.images
        if a.shape[-2:] != b.shape[-2:]:
            raise ShapeError(f"cannot concatenate image sets of sizes {tuple(a.shape[-2:])} and {tuple(b.shape[-2:])}; resize one first")
        ids = check_ids(self._ids + other._ids, len(self) + len(other))
        return ImageSet(torch.cat([a, b]), ids, size=self.size, source=f"{self.source}+{other.source}")
