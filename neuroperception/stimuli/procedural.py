"""Procedural stimuli: gratings, plaids and band-pass noise, returned as :class:`ImageSet`.

Conventions
-----------
* Spatial frequency is in **cycles per image** (along the image width).
* Orientation is the direction of the luminance modulation in degrees, counter-clockwise from
  the image's x axis as seen on screen: ``0`` gives vertical stripes (luminance varies along x),
  ``90`` horizontal stripes.
* Phase is in degrees; contrast is Michelson contrast around a mean grey of 0.5.
* Ids encode every parameter, e.g. ``grating/ori=45/sf=4/phase=0/contrast=1``.

Examples
--------
>>> s = gratings(orientations=(0, 90), spatial_frequencies=(4,), size=32)
>>> len(s), s.ids[1]
(2, 'grating/ori=90/sf=4/phase=0/contrast=1')
>>> g = grating(32, orientation=0, spatial_frequency=4)
>>> bool(abs(g[:, 0] - g[:, 8]).max() < 1e-6)  # 4 cycles over 32 px: period of 8 px along x
True
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError
from .imageset import ImageSet

__all__ = ["grating", "gratings", "plaids", "bandpass_noise", "from_recipe"]


def _fmt(v: float) -> str:
    return f"{float(v):g}"


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (size - 1) / 2.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    return xs - c, c - ys  # x to the right, y up


def _aperture(size: int, aperture: str | None, radius: float) -> np.ndarray:
    if aperture is None or aperture == "none":
        return np.ones((size, size))
    if not np.isfinite(radius) or radius <= 0:
        raise InputError(f"radius: received {radius!r}; expected a positive aperture radius in image widths")
    x, y = _grid(size)
    r = np.hypot(x, y) / size  # in image widths
    if aperture == "circle":
        return (r <= radius).astype(np.float64)
    if aperture == "gaussian":
        return np.exp(-0.5 * (r / (radius / 2.0)) ** 2)
    raise InputError(f"aperture: received {aperture!r}; expected None, 'circle' or 'gaussian'")


def _check_positive(name: str, values: Sequence[float], allow_zero: bool = False) -> None:
    for v in values:
        if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
            raise InputError(f"{name}: received {v!r}; expected {'non-negative' if allow_zero else 'positive'} finite values")


def grating(size: int = 224, orientation: float = 0.0, spatial_frequency: float = 8.0,
            phase: float = 0.0, contrast: float = 1.0, aperture: str | None = None,
            radius: float = 0.5) -> np.ndarray:
    """One sinusoidal grating as a float ``(size, size)`` array in ``[0, 1]``.

    Parameters
    ----------
    size : int
        Image width and height in pixels.
    orientation : float
        Degrees, counter-clockwise from the x axis (0 = vertical stripes).
    spatial_frequency : float
        Cycles per image.
    phase : float
        Degrees.
    contrast : float
        Michelson contrast in ``[0, 1]``.
    aperture : {None, "circle", "gaussian"}
        Window blending the grating into mean grey; ``radius`` in image widths (the Gaussian's
        standard deviation is ``radius / 2``).

    Examples
    --------
    >>> g = grating(32, orientation=0, spatial_frequency=4)
    >>> g.shape, round(float(g.mean()), 2)
    ((32, 32), 0.5)
    """
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise InputError(f"size: received {size!r}; expected an int >= 2")
    _check_positive("spatial_frequency", [spatial_frequency], allow_zero=True)
    if not 0.0 <= contrast <= 1.0:
        raise InputError(f"contrast: received {contrast!r}; expected a value in [0, 1]")
    x, y = _grid(size)
    theta = np.deg2rad(orientation)
    u = (x * np.cos(theta) + y * np.sin(theta)) / size
    wave = np.cos(2 * np.pi * spatial_frequency * u + np.deg2rad(phase))
    return 0.5 + 0.5 * contrast * wave * _aperture(size, aperture, radius)


def _to_set(arrays: list[np.ndarray], ids: list[str], source: str) -> ImageSet:
    x = torch.from_numpy(np.stack(arrays).astype(np.float32))[:, None].expand(-1, 3, -1, -1).contiguous()
    return ImageSet(x.clamp_(0, 1), ids, size=x.shape[-1], source=source)


def gratings(orientations: Sequence[float] = (0, 45, 90, 135), spatial_frequencies: Sequence[float] = (4, 8, 16),
             phases: Sequence[float] = (0,), contrasts: Sequence[float] = (1.0,), size: int = 224,
             aperture: str | None = None, radius: float = 0.5) -> ImageSet:
    """Every combination of the given grating parameters, as an :class:`ImageSet`.

    Examples
    --------
    >>> s = gratings(orientations=(0, 90), spatial_frequencies=(4,), size=32)
    >>> s.ids
    ['grating/ori=0/sf=4/phase=0/contrast=1', 'grating/ori=90/sf=4/phase=0/contrast=1']
    """
    arrays, ids = [], []
    for ori, sf, ph, c in itertools.product(orientations, spatial_frequencies, phases, contrasts):
        arrays.append(grating(size, ori, sf, ph, c, aperture, radius))
        ids.append(f"grating/ori={_fmt(ori)}/sf={_fmt(sf)}/phase={_fmt(ph)}/contrast={_fmt(c)}")
    if not ids:
        raise InputError("gratings: received an empty parameter list; expected at least one value per parameter")
    return _to_set(arrays, ids, "procedural:gratings")


def plaids(orientations: Sequence[float] = (0, 45, 90, 135), angle: float = 90.0,
           spatial_frequencies: Sequence[float] = (8,), contrast: float = 1.0, size: int = 224,
           aperture: str | None = None, radius: float = 0.5) -> ImageSet:
    """Plaids: the sum of two gratings ``angle`` degrees apart, each at half the contrast.

    Examples
    --------
    >>> plaids(orientations=(0,), angle=90, spatial_frequencies=(4,), size=32).ids
    ['plaid/ori=0/angle=90/sf=4/contrast=1']
    """
    arrays, ids = [], []
    for ori, sf in itertools.product(orientations, spatial_frequencies):
        a = grating(size, ori, sf, 0, contrast / 2, aperture, radius)
        b = grating(size, ori + angle, sf, 0, contrast / 2, aperture, radius)
        arrays.append(a + b - 0.5)
        ids.append(f"plaid/ori={_fmt(ori)}/angle={_fmt(angle)}/sf={_fmt(sf)}/contrast={_fmt(contrast)}")
    if not ids:
        raise InputError("plaids: received an empty parameter list; expected at least one value per parameter")
    return _to_set(arrays, ids, "procedural:plaids")


@fill_doc
def bandpass_noise(n: int = 8, center_frequency: float = 8.0, bandwidth: float = 1.0, size: int = 224,
                   contrast: float = 0.2, random_state: int | np.random.Generator | None = 0) -> ImageSet:
    """Band-pass filtered white noise (log-Gaussian radial filter) with a set RMS contrast.

    Parameters
    ----------
    n : int
        Number of images.
    center_frequency : float
        Peak of the pass band, cycles per image.
    bandwidth : float
        Full width at half maximum of the pass band, in octaves.
    contrast : float
        RMS contrast (standard deviation of luminance around 0.5) before clipping to [0, 1].
    %(random_state)s
        The ids record the seed (for a Generator or None, the seed drawn from it).

    Examples
    --------
    >>> s = bandpass_noise(n=2, size=32, random_state=1)
    >>> s.ids
    ['noise/sf=8/bw=1/contrast=0.2/seed=1/0', 'noise/sf=8/bw=1/contrast=0.2/seed=1/1']
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n: received {n!r}; expected a positive int")
    _check_positive("center_frequency", [center_frequency])
    _check_positive("bandwidth", [bandwidth])
    seed = seed_from(random_state)
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None] * size
    fx = np.fft.fftfreq(size)[None, :] * size
    f = np.hypot(fx, fy)
    sigma = bandwidth / (2 * np.sqrt(2 * np.log(2)))  # octaves
    with np.errstate(divide="ignore"):
        filt = np.exp(-0.5 * (np.log2(np.where(f > 0, f, 1e-12) / center_frequency) / sigma) ** 2)
    filt[0, 0] = 0.0
    arrays, ids = [], []
    for i in range(n):
        noise = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((size, size))) * filt))
        noise *= contrast / max(noise.std(), 1e-12)
        arrays.append(0.5 + noise)
        ids.append(f"noise/sf={_fmt(center_frequency)}/bw={_fmt(bandwidth)}/contrast={_fmt(contrast)}/seed={seed}/{i}")
    return _to_set(arrays, ids, "procedural:bandpass_noise")


_GENERATORS = {"gratings": gratings, "plaids": plaids, "bandpass_noise": bandpass_noise}


def from_recipe(path) -> ImageSet:
    """Build a stimulus set from a TOML recipe: one table per generator, concatenated in order.

    A table's name is a generator (``gratings``, ``plaids``, ``bandpass_noise``) and its keys are
    that generator's arguments; an array of tables (``[[gratings]]``) calls the generator once per
    table. Recipes live in the repository's ``stimuli/`` folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "set.toml"
    >>> _ = p.write_text("[gratings]\\norientations = [0, 90]\\nspatial_frequencies = [4]\\nsize = 32\\n")
    >>> from_recipe(p).ids
    ['grating/ori=0/sf=4/phase=0/contrast=1', 'grating/ori=90/sf=4/phase=0/contrast=1']
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise InputError(f"recipe: {str(p)!r} does not exist; expected a TOML file")
    try:
        recipe = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"recipe: {p} is not valid TOML ({err})") from err
    sets = []
    for name, tables in recipe.items():
        tables = tables if isinstance(tables, list) else [tables]
        if name not in _GENERATORS or not all(isinstance(t, dict) for t in tables):
            raise InputError(f"recipe: {p} has table [{name}]; expected tables named after one of {sorted(_GENERATORS)}")
        for kwargs in tables:
            try:
                sets.append(_GENERATORS[name](**kwargs))
            except TypeError as err:
                raise InputError(f"recipe: table [{name}] in {p}: {err}") from err
    if not sets:
        raise InputError(f"recipe: {p} has no generator tables; expected e.g. [gratings]")
    out = sets[0]
    for s in sets[1:]:
        out = out + s
    return out
