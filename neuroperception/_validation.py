"""Input checks shared by every public entry point.

Each function either returns the input in the package's canonical form or raises an
:class:`~neuroperception.errors.InputError` (or subclass) whose message says what was received
and what is expected. Nothing here guesses between value ranges: ``[-1, 1]`` data must be
declared with ``value_range=(-1, 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from .errors import AlignmentError, InputError, ShapeError

__all__ = ["check_images", "check_videos", "check_responses", "check_alignment", "check_ids", "default_stimulus_ids",
           "describe", "check_random_state", "seed_from", "check_device"]

_RANGES = {(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)}


def describe(x: Any) -> str:
    """Describe an array-like in one line: type, shape, dtype and value range.

    Examples
    --------
    >>> import numpy as np
    >>> describe(np.zeros((2, 3), dtype="float32"))
    'ndarray shape=(2, 3) dtype=float32 range=[0, 0]'
    """
    if isinstance(x, (np.ndarray, torch.Tensor, xr.DataArray)):
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        text = f"{type(x).__name__} shape={tuple(arr.shape)} dtype={arr.dtype}"
        if arr.size and (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            finite = arr[np.isfinite(arr)] if np.issubdtype(arr.dtype, np.floating) else arr
            if finite.size:
                text += f" range=[{finite.min():.4g}, {finite.max():.4g}]"
            n_bad = arr.size - finite.size
            if n_bad:
                text += f" non-finite={n_bad}"
        return text
    return f"{type(x).__name__}"


# ------------------------------------------------------------------------------- seeds and devices
#: Upper bound (exclusive) of the seeds :func:`seed_from` draws: any of them seeds numpy and torch.
_SEED_BOUND = 2**63


def check_random_state(random_state: Any, name: str = "random_state") -> np.random.Generator:
    """The one resolver of seed arguments: an int, a Generator or None → a ``numpy.random.Generator``.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None
        An int ``>= 0`` gives ``numpy.random.default_rng(random_state)`` (the same numbers on every
        call); a Generator is returned as is (drawing from it advances the caller's stream);
        None gives a Generator seeded from fresh OS entropy: results are not reproducible.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    InputError
        Anything else: a float, a bool, a negative int, a string, a legacy ``numpy.random.RandomState``.

    Examples
    --------
    >>> import numpy as np
    >>> check_random_state(0).integers(100) == np.random.default_rng(0).integers(100)   # the same numbers
    np.True_
    >>> rng = np.random.default_rng(1)
    >>> check_random_state(rng) is rng
    True
    >>> try:
    ...     check_random_state(1.5)
    ... except InputError as err:
    ...     print(err)
    random_state: received float 1.5; expected an int >= 0, a numpy.random.Generator or None (fresh OS entropy, not reproducible)
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    return np.random.default_rng(_check_seed_int(random_state, name))


def _check_seed_int(random_state: Any, name: str) -> int:
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, (bool, np.bool_)):
        if random_state >= 0:
            return int(random_state)
    hint = (" (use numpy.random.default_rng(seed) instead of the legacy RandomState)"
            if isinstance(random_state, np.random.RandomState) else "")
    shown = repr(random_state) if isinstance(random_state, (int, float, str, np.number, bool)) else ""
    raise InputError(f"{name}: received {type(random_state).__name__}{' ' + shown if shown else ''}; expected an "
                     f"int >= 0, a numpy.random.Generator or None (fresh OS entropy, not reproducible){hint}")


def seed_from(random_state: Any, name: str = "random_state") -> int:
    """An int seed from a seed argument, for code that seeds torch or derives several streams.

    An int is returned unchanged (so ``default_rng([seed, k])`` streams and ``torch.manual_seed``
    keep their numbers); a Generator gives one deterministic draw from it (advancing it); None a
    draw from fresh OS entropy. Validated as :func:`check_random_state`.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None
        The seed argument.
    name : str
        Name used in error messages.

    Returns
    -------
    int
        In ``[0, 2**63)``.

    Examples
    --------
    >>> import numpy as np
    >>> seed_from(7)
    7
    >>> seed_from(np.random.default_rng(0)) == seed_from(np.random.default_rng(0))
    True
    """
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(_SEED_BOUND))
    if random_state is None:
        return int(np.random.default_rng().integers(_SEED_BOUND))
    return _check_seed_int(random_state, name)


def check_device(device: Any = None, name: str = "device") -> torch.device:
    """The one resolver of ``device`` arguments: None → CUDA when available, else the CPU.

    Parameters
    ----------
    device : str, torch.device or None
        None takes ``cuda`` when torch sees a GPU, else ``cpu``. ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or a ``torch.device`` choose one; it must exist on this machine.
    name : str
        Name used in error messages.

    Returns
    -------
    torch.device

    Raises
    ------
    InputError
        Not a device (``"auto"``, ``"gpu"``, a number...), or a CUDA device this machine lacks.

    Examples
    --------
    >>> check_device("cpu")
    device(type='cpu')
    >>> check_device(None).type in ("cpu", "cuda")
    True
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = "expected None (CUDA when available, else the CPU), 'cpu', 'cuda', 'cuda:N' or a torch.device"
    if not isinstance(device, (str, torch.device)):
        raise InputError(f"{name}: received {type(device).__name__} {device!r}; {expected}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError(f"{name}: received {device!r}; {expected}") from err
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 or (dev.index is not None and dev.index >= n):
            raise InputError(f"{name}: received {device!r} but this machine has {n} CUDA device(s); expected None "
                             "or 'cpu'" + (f" or 'cuda:0'..'cuda:{n - 1}'" if n else ""))
    return dev


def _to_tensor(images: Any, name: str) -> torch.Tensor:
    """Convert PIL images / lists / numpy / torch to a tensor, channels first when uint8 is HWC."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a core dependency
        Image = None
    if Image is not None and isinstance(images, Image.Image):
        images = [images]
    if isinstance(images, (list, tuple)):
        if not images:
            raise InputError(f"{name}: received an empty {type(images).__name__}; expected at least one image")
        if Image is not None and all(isinstance(im, Image.Image) for im in images):
            arrays = [np.asarray(im.convert("RGB")) for im in images]
            shapes = {a.shape for a in arrays}
            if len(shapes) > 1:
                raise ShapeError(
                    f"{name}: received PIL images of different sizes {sorted(shapes)[:5]}; expected one "
                    "size (resize them first, e.g. ImageSet.from_array(images, size=224))"
                )
            return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
        images = np.stack([np.asarray(im) for im in images])
    if isinstance(images, xr.DataArray):
        images = images.values
    if isinstance(images, np.ndarray):
        if images.dtype == np.uint8:
            arr = images
            if arr.ndim == 2:  # one grey image HW
                arr = arr[None, :, :, None]
            elif arr.ndim == 3 and arr.shape[-1] in (1, 3):  # one HWC image
                arr = arr[None]
            elif arr.ndim == 3:  # NHW grey
                arr = arr[..., None]
            if arr.ndim != 4:
                raise ShapeError(
                    f"{name}: received uint8 array of shape {images.shape}; expected HW, HWC or NHWC"
                )
            if arr.shape[-1] not in (1, 3) and arr.shape[1] in (1, 3):
                return torch.from_numpy(np.array(arr, copy=True))
            return torch.from_numpy(np.array(arr, copy=True)).permute(0, 3, 1, 2).contiguous()
        if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)
                or images.dtype == bool):
            raise InputError(f"{name}: received array of dtype {images.dtype}; expected uint8 or float")
        return torch.from_numpy(np.array(images, copy=True))
    if isinstance(images, torch.Tensor):
        return images
    raise InputError(
        f"{name}: received {type(images).__name__}; expected a torch.Tensor (N, 3, H, W) in [0, 1], "
        "a uint8 array (N, H, W, 3), a PIL image or a list of PIL images"
    )


def check_images(
    images: Any,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    name: str = "images",
    min_size: int = 1,
) -> torch.Tensor:
    """Validate images and return them as a float32 tensor ``(N, 3, H, W)`` in ``[0, 1]``.

    Parameters
    ----------
    images : torch.Tensor, numpy.ndarray, PIL.Image.Image or list of PIL images
        Float tensors/arrays must be ``(N, C, H, W)`` with ``C`` in {1, 3}. ``uint8`` arrays are
        ``HW``, ``HWC`` or ``NHWC`` (channels last, as images are stored) and are divided by 255.
        Grey images are repeated to three channels.
    value_range : tuple of float, default (0, 1)
        The range float input is in: ``(0, 1)``, ``(-1, 1)`` or ``(0, 255)``. It is never guessed.
    name : str
        Name used in error messages.
    min_size : int
        Smallest accepted height and width.

    Returns
    -------
    torch.Tensor
        float32, ``(N, 3, H, W)``, values in ``[0, 1]``, on the input's device. Input that is
        already in that form is returned as is (no copy); copy before modifying it in place.

    Raises
    ------
    InputError
        NaN/Inf values, values outside ``value_range``, unsupported dtype.
    ShapeError
        Wrong number of dimensions or channels, or images smaller than ``min_size``.

    Examples
    --------
    >>> import numpy as np
    >>> x = check_images(np.full((2, 8, 8, 3), 255, dtype=np.uint8))
    >>> tuple(x.shape), x.dtype, float(x.max())
    ((2, 3, 8, 8), torch.float32, 1.0)
    """
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        lo, hi = float("nan"), float("nan")
    if (lo, hi) not in _RANGES:
        raise InputError(
            f"value_range: received {value_range!r}; expected one of (0, 1), (-1, 1), (0, 255)"
        )
    x = _to_tensor(images, name)
    was_uint8 = x.dtype == torch.uint8
    if x.ndim != 4:
        hint = " (for one image use x[None])" if x.ndim == 3 else ""
        raise ShapeError(
            f"{name}: received {describe(x)}; expected 4 dimensions (N, 3, H, W){hint}"
        )
    if x.shape[1] not in (1, 3):
        raise ShapeError(
            f"{name}: received {x.shape[1]} channels in shape {tuple(x.shape)}; expected 3 (RGB) or 1 "
            "(grey) channels first, (N, C, H, W)"
        )
    if x.shape[0] == 0:
        raise ShapeError(f"{name}: received an empty batch {tuple(x.shape)}; expected at least one image")
    if min(x.shape[-2:]) < min_size:
        raise ShapeError(
            f"{name}: received images of size {tuple(x.shape[-2:])}; expected at least {min_size}x{min_size}"
        )
    if was_uint8:
        x = x.to(torch.float32) / 255.0
    else:
        if x.dtype == torch.bool or not torch.is_floating_point(x):
            raise InputError(
                f"{name}: received integer tensor of dtype {x.dtype}; expected float32 in [0, 1] or uint8"
            )
        x = x.to(torch.float32)
        lo_t, hi_t = torch.aminmax(x.detach())  # one pass; NaN/Inf propagate into the extremes
        xmin, xmax = float(lo_t), float(hi_t)
        if not (np.isfinite(xmin) and np.isfinite(xmax)):
            n_bad = int((~torch.isfinite(x)).sum())
            raise InputError(f"{name}: received {n_bad} NaN/Inf values; expected finite values in [{lo:g}, {hi:g}]")
        tol = 1e-4 * (hi - lo)
        if xmin < lo - tol or xmax > hi + tol:
            hint = ""
            if (lo, hi) == (0.0, 1.0) and xmin >= -1 - tol and xmax <= 1 + tol:
                hint = "; if the data are in [-1, 1], say so with value_range=(-1, 1)"
            elif (lo, hi) == (0.0, 1.0) and xmin >= 0 and xmax <= 255 + tol:
                hint = "; if the data are in [0, 255], say so with value_range=(0, 255) or pass uint8"
            raise InputError(
                f"{name}: received values in [{xmin:.4g}, {xmax:.4g}]; expected values in [{lo:g}, {hi:g}]{hint}"
            )
        if (lo, hi) != (0.0, 1.0):
            x = ((x - lo) / (hi - lo)).clamp_(0.0, 1.0)
        elif xmin < 0.0 or xmax > 1.0:  # within tolerance of [0, 1]: clip the rounding error
            x = x.clamp(0.0, 1.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous()


def check_videos(
    videos: Any,
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    name: str = "videos",
    min_frames: int = 1,
    min_size: int = 1,
) -> torch.Tensor:
    """Validate videos and return them as a float32 tensor ``(N, T, 3, H, W)`` in ``[0, 1]``.

    Every frame is checked as :func:`check_images` checks an image.

    Parameters
    ----------
    videos : torch.Tensor or numpy.ndarray
        Float ``(N, T, C, H, W)`` with ``C`` in {1, 3}, or ``uint8`` ``(N, T, H, W, C)`` (channels
        last, as decoded video frames are stored) which is divided by 255.
    value_range : tuple of float, default (0, 1)
        The range float input is in: ``(0, 1)``, ``(-1, 1)`` or ``(0, 255)``; never guessed.
    name : str
        Name used in error messages.
    min_frames, min_size : int
        Fewest frames and smallest height/width accepted.

    Returns
    -------
    torch.Tensor
        float32 ``(N, T, 3, H, W)`` in ``[0, 1]``.

    Raises
    ------
    ShapeError
        Not five dimensions, wrong channels, too few frames or too small.
    InputError
        NaN/Inf or values outside ``value_range``.

    Examples
    --------
    >>> import numpy as np
    >>> v = check_videos(np.zeros((2, 5, 8, 8, 3), dtype=np.uint8))
    >>> tuple(v.shape), v.dtype
    ((2, 5, 3, 8, 8), torch.float32)
    """
    if isinstance(videos, xr.DataArray):
        videos = videos.values
    if isinstance(videos, np.ndarray):
        if not (np.issubdtype(videos.dtype, np.number) or videos.dtype == bool):
            raise InputError(f"{name}: received array of dtype {videos.dtype}; expected uint8 or float")
        videos = torch.from_numpy(np.array(videos, copy=True))
    if not isinstance(videos, torch.Tensor):
        raise InputError(f"{name}: received {type(videos).__name__}; expected a torch.Tensor (N, T, 3, H, W) in "
                         "[0, 1] or a uint8 array (N, T, H, W, 3)")
    if videos.ndim != 5:
        hint = " (for one video use x[None])" if videos.ndim == 4 else ""
        raise ShapeError(f"{name}: received {describe(videos)}; expected 5 dimensions (N, T, 3, H, W){hint}")
    n, t = int(videos.shape[0]), int(videos.shape[1])
    if t < min_frames:
        raise ShapeError(f"{name}: received {t} frames in shape {tuple(videos.shape)}; expected at least "
                         f"{min_frames} frames (N, T, 3, H, W)")
    frames = videos.reshape(n * t, *videos.shape[2:])
    if videos.dtype == torch.uint8 and videos.shape[-1] in (1, 3) and videos.shape[2] not in (1, 3):
        frames = frames.permute(0, 3, 1, 2)  # decoded frames are channels last
    out = check_images(frames, value_range=value_range, name=name, min_size=min_size)
    return out.reshape(n, t, *out.shape[1:])


def default_stimulus_ids(n: int) -> list[str]:
    """Ids for ``n`` stimuli that came without ids: ``stim0000``, ``stim0001``...

    The one rule for unlabelled input across the package (images, videos, features, responses,
    saliency maps, scanpaths...), so that unlabelled pieces made from the same stimuli line up by
    id. Four digits, more when ``n`` needs them (all ids of a call have one width, so they sort in
    order).

    Examples
    --------
    >>> default_stimulus_ids(3)
    ['stim0000', 'stim0001', 'stim0002']
    """
    width = max(4, len(str(max(int(n) - 1, 0))))
    return [f"stim{i:0{width}d}" for i in range(int(n))]


def check_ids(ids: Any, n: int, *, name: str = "stimulus_id") -> list[str]:
    """Return ``n`` unique string ids: ``ids`` as strings, or :func:`default_stimulus_ids` when None.

    Examples
    --------
    >>> check_ids(None, 2)
    ['stim0000', 'stim0001']
    >>> check_ids([3, 1], 2)
    ['3', '1']
    """
    if ids is None:
        return default_stimulus_ids(n)
    ids = [str(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
    if len(ids) != n:
        raise ShapeError(f"{name}: received {len(ids)} ids; expected one per item ({n})")
    _check_unique(ids, name)
    return ids


def _check_unique(ids: Sequence[str], name: str) -> None:
    if len(set(ids)) == len(ids):
        return
    seen: set[str] = set()
    dup = []
    for i in ids:
        if i in seen:
            dup.append(i)
        seen.add(i)
    if dup:
        raise AlignmentError(
            f"{name}: received {len(dup)} duplicated stimulus ids, e.g. {sorted(set(dup))[:5]}; expected unique ids"
        )


_RESPONSE_DIMS = (("stimulus", "voxel"), ("repeat", "stimulus", "voxel"))


def check_responses(
    responses: Any,
    *,
    allow_repeats: bool = False,
    allow_nan: bool = False,
    name: str = "responses",
) -> xr.DataArray:
    """Validate brain or behavioural responses and return them as a labelled array.

    Parameters
    ----------
    responses : xarray.DataArray, numpy.ndarray or torch.Tensor
        ``("stimulus", "voxel")``, or ``("repeat", "stimulus", "voxel")`` when ``allow_repeats``.
        Plain arrays are wrapped with those dim names and no ``stimulus_id`` coordinate.
    allow_repeats : bool
        Accept a leading ``repeat`` dimension.
    allow_nan : bool
        Accept NaN (e.g. missing repeats); Inf is always an error.
    name : str
        Name used in error messages.

    Returns
    -------
    xarray.DataArray
        float array with the dims above; ``stimulus_id`` coordinate kept if present.

    Examples
    --------
    >>> import numpy as np
    >>> check_responses(np.zeros((4, 10))).dims
    ('stimulus', 'voxel')
    """
    if isinstance(responses, torch.Tensor):
        responses = responses.detach().cpu().numpy()
    if isinstance(responses, xr.DataArray):
        da = responses
        if da.dims not in _RESPONSE_DIMS or (da.dims == _RESPONSE_DIMS[1] and not allow_repeats):
            expected = " or ".join(str(d) for d in (_RESPONSE_DIMS if allow_repeats else _RESPONSE_DIMS[:1]))
            raise ShapeError(f"{name}: received dims {da.dims}; expected {expected}")
        if "stimulus_id" in da.coords:
            _check_unique([str(v) for v in da["stimulus_id"].values], f"{name}.stimulus_id")
    elif isinstance(responses, np.ndarray):
        if responses.ndim == 2:
            da = xr.DataArray(responses, dims=_RESPONSE_DIMS[0])
        elif responses.ndim == 3 and allow_repeats:
            da = xr.DataArray(responses, dims=_RESPONSE_DIMS[1])
        else:
            raise ShapeError(
                f"{name}: received {describe(responses)}; expected 2 dimensions (stimulus, voxel)"
                + (" or 3 (repeat, stimulus, voxel)" if allow_repeats else "")
            )
    else:
        raise InputError(
            f"{name}: received {type(responses).__name__}; expected an xarray.DataArray, numpy array or tensor"
        )
    if not np.issubdtype(da.dtype, np.number) or np.issubdtype(da.dtype, np.complexfloating):
        raise InputError(f"{name}: received dtype {da.dtype}; expected real numbers")
    if not np.issubdtype(da.dtype, np.floating):
        da = da.astype(np.float64)
    values = np.asarray(da.values)
    bad = ~np.isfinite(values) if not allow_nan else np.isinf(values)
    if bad.any():
        what = "NaN/Inf" if not allow_nan else "Inf"
        vox = np.unique(np.nonzero(bad.reshape(-1, values.shape[-1]))[1])
        raise InputError(
            f"{name}: received {int(bad.sum())} {what} values in {vox.size} voxels (first: {vox[:5].tolist()}); "
            "expected finite values (drop or impute those voxels first)"
        )
    return da


def _n_stimuli(x: Any, name: str) -> int:
    """Number of stimuli of an aligned input: its ``stimulus`` dim, or the first axis of a plain array."""
    if isinstance(x, xr.DataArray):
        if "stimulus" not in x.dims:
            raise InputError(f"{name}: received an xarray.DataArray with dims {x.dims}; expected a 'stimulus' dim")
        return int(x.sizes["stimulus"])
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    if isinstance(x, (list, tuple)):
        return len(x)
    raise InputError(f"{name}: received {describe(x)}; expected an array with stimuli on the first axis or an "
                     "xarray.DataArray with a 'stimulus' dim")


def _id_list(da: xr.DataArray) -> list[str]:
    """The ``stimulus_id`` values of a DataArray as a list of str (one vectorised conversion)."""
    return np.asarray(da.coords["stimulus_id"].values).astype(str).tolist()


def _labelling_hint(name: str, x: Any) -> str:
    if isinstance(x, xr.DataArray):
        return f'{name}.assign_coords(stimulus_id=("stimulus", ids))'
    return f'xr.DataArray({name}, dims=("stimulus", ...), coords={{"stimulus_id": ("stimulus", ids)}})'


def check_alignment(*arrays: Any, names: Sequence[str] | None = None, how: str = "exact",
                    return_ids: bool = False):
    """Match inputs stimulus by stimulus: the one alignment rule of the package.

    Every public function that pairs inputs of the same stimuli (features and responses,
    predictions and targets, two RDMs, several feature spaces) matches them here, by one rule:

    1. **Every input carries** ``stimulus_id`` → matched by id. Each id must occur once per input,
       and every input must hold the same set of ids (``how="exact"``); the inputs are returned in
       the first one's order. Different sets or duplicated ids are an :class:`AlignmentError` that
       names a few of the offending ids. ``how="inner"`` keeps the ids common to all, in the
       first input's order (an error only when there are none).
    2. **Some but not all carry** ``stimulus_id`` → :class:`AlignmentError` naming the inputs that
       lack ids and how to give them ids, or to pass all inputs without ids. Inputs are never
       matched by position when ids exist.
    3. **No input carries** ``stimulus_id`` → matched by position; the numbers of stimuli must
       be equal.

    Parameters
    ----------
    *arrays : xarray.DataArray, numpy.ndarray or torch.Tensor
        DataArrays need a ``stimulus`` dim and are labelled when they have a ``stimulus_id``
        coordinate. Other arrays (numpy, torch, lists) carry no ids; their stimuli are on the
        first axis.
    names : sequence of str, optional
        Names of the inputs in error messages (default ``"array 0"``, ``"array 1"``...).
    how : {"exact", "inner"}
        Whether the id sets must be equal or are intersected (labelled inputs only).
    return_ids : bool
        Also return the ids the inputs were matched on (None when matched by position).

    Returns
    -------
    tuple
        The inputs in the same order: labelled DataArrays put in the first input's order (and, with
        ``how="inner"``, restricted to the common ids); inputs matched by position unchanged.
        With ``return_ids=True``: ``(inputs, ids)``.

    Raises
    ------
    AlignmentError
        Duplicated ids, different id sets (``how="exact"``), no common ids, ids on some inputs
        only, or different numbers of stimuli when no input has ids.
    InputError
        A DataArray without a ``stimulus`` dim, or an unknown ``how``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> a = xr.DataArray(np.arange(3), dims="stimulus", coords={"stimulus_id": ("stimulus", ["a", "b", "c"])})
    >>> b = xr.DataArray(np.arange(3), dims="stimulus", coords={"stimulus_id": ("stimulus", ["c", "a", "b"])})
    >>> (a2, b2), ids = check_alignment(a, b, return_ids=True)
    >>> ids, b2.values.tolist()
    (['a', 'b', 'c'], [1, 2, 0])
    >>> check_alignment(np.zeros((3, 2)), np.ones((3, 5)), return_ids=True)[1] is None   # by position
    True
    >>> try:                                                          # ids on one input only
    ...     check_alignment(a, np.zeros(3), names=["features", "responses"])
    ... except AlignmentError as err:
    ...     print(str(err).split(";")[0])
    responses: received ndarray shape=(3,) dtype=float64 range=[0, 0] without stimulus_id while features carries stimulus_id
    """
    if how not in ("exact", "inner"):
        raise InputError(f"how: received {how!r}; expected 'exact' or 'inner'")
    names = list(names) if names is not None else [f"array {i}" for i in range(len(arrays))]
    sizes = [_n_stimuli(a, nm) for a, nm in zip(arrays, names)]
    if len(arrays) < 2:
        ids = (_id_list(arrays[0]) if arrays and isinstance(arrays[0], xr.DataArray)
               and "stimulus_id" in arrays[0].coords else None)
        return (tuple(arrays), ids) if return_ids else tuple(arrays)
    has_ids = [isinstance(a, xr.DataArray) and "stimulus_id" in a.coords for a in arrays]
    if not any(has_ids):
        if len(set(sizes)) > 1:
            raise AlignmentError(f"received {dict(zip(names, sizes))} stimuli without stimulus_id; expected equal "
                                 "numbers of stimuli (inputs without ids are matched by position)")
        return (tuple(arrays), None) if return_ids else tuple(arrays)
    if not all(has_ids):
        labelled = [nm for nm, h in zip(names, has_ids) if h]
        missing = [(nm, a) for nm, a, h in zip(names, arrays, has_ids) if not h]
        nm, x = missing[0]
        drops = " and ".join(f'{m}.drop_vars("stimulus_id")' for m in labelled)
        raise AlignmentError(
            f"{', '.join(m for m, _ in missing)}: received {describe(x)} without stimulus_id while "
            f"{', '.join(labelled)} {'carries' if len(labelled) == 1 else 'carry'} stimulus_id; expected ids on all "
            f"inputs (inputs are matched by stimulus_id, never by position when ids exist): label it as "
            f"{_labelling_hint(nm, x)}, or drop the ids to match by position ({drops})")
    id_lists = [_id_list(a) for a in arrays]
    for ids, nm in zip(id_lists, names):
        _check_unique(ids, f"{nm}.stimulus_id")
    first = id_lists[0]
    if how == "exact":
        ref = set(first)
        for ids, nm in zip(id_lists[1:], names[1:]):
            if ids == first:
                continue
            other = set(ids)
            if other != ref:
                missing_ids, extra = sorted(ref - other), sorted(other - ref)
                raise AlignmentError(
                    f"{nm}: stimulus ids differ from {names[0]}: {len(missing_ids)} missing (e.g. {missing_ids[:5]}), "
                    f"{len(extra)} extra (e.g. {extra[:5]}); expected the same stimuli in both (select the shared "
                    "stimuli first)")
        keep = first
    else:
        common = set(first).intersection(*map(set, id_lists[1:]))
        if not common:
            raise AlignmentError(f"no stimulus_id is shared by {', '.join(names)}; expected at least one")
        keep = [i for i in first if i in common]
    out = []
    for arr, ids in zip(arrays, id_lists):
        if ids == keep:
            out.append(arr)
            continue
        pos = {v: k for k, v in enumerate(ids)}
        out.append(arr.isel(stimulus=[pos[i] for i in keep]))
    return (tuple(out), list(keep)) if return_ids else tuple(out)
