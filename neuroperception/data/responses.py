"""Responses as labelled arrays: construction, repeat stacking, and exact NetCDF/zarr round trips.

Every reader in :mod:`neuroperception.data` ends in :func:`make_responses` (or :func:`stack_repeats`
for trial-level data), so every response array has the same dims and coordinates:

* dims ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")``;
* ``stimulus_id`` on ``stimulus`` (strings, unique: the join key with features);
* per voxel, any of ``roi``, ``subject``, ``x``/``y``/``z`` (mm), ``hemi``/``vertex``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._validation import check_ids, check_responses, describe
from ..errors import AlignmentError, InputError, ShapeError

__all__ = ["make_responses", "stack_repeats", "average_repeats", "save_responses", "load_responses", "select_stimuli"]

_VOXEL_COORDS = ("roi", "subject", "x", "y", "z", "hemi", "vertex")


def _voxel_coord(name: str, value: Any, n_voxels: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = np.full(n_voxels, arr.item())
    if arr.shape != (n_voxels,):
        raise ShapeError(f"{name}: received {describe(arr)}; expected one value per voxel ({n_voxels},)")
    if arr.dtype.kind in "OU":
        arr = arr.astype(str)
    return arr


def make_responses(
    values: Any,
    stimulus_id: Sequence[str] | None = None,
    *,
    roi: Any = None,
    subject: Any = None,
    xyz: Any = None,
    hemi: Any = None,
    vertex: Any = None,
    attrs: Mapping[str, Any] | None = None,
    name: str = "responses",
) -> xr.DataArray:
    """Label a response matrix with the package's dims and coordinates.

    Parameters
    ----------
    values : array-like
        ``(stimulus, voxel)`` or ``(repeat, stimulus, voxel)``; NaN is allowed only for missing repeats.
    stimulus_id : sequence of str, optional
        One unique id per stimulus; ``stim0000...`` when omitted.
    roi, subject, hemi, vertex : array-like or scalar, optional
        Per-voxel labels (a scalar is repeated for every voxel).
    xyz : array-like, optional
        ``(voxel, 3)`` coordinates in mm, stored as ``x``, ``y``, ``z``.
    attrs : mapping, optional
        Provenance stored on the array (``source``, ``units``...).
    name : str
        Name of the array (and of the variable in saved files).

    Returns
    -------
    xarray.DataArray

    Examples
    --------
    >>> import numpy as np
    >>> r = make_responses(np.zeros((3, 2)), ["a", "b", "c"], roi=["V1", "V4"], subject="subj01")
    >>> r.dims, r["roi"].values.tolist()
    (('stimulus', 'voxel'), ['V1', 'V4'])
    """
    arr = np.asarray(values)
    if arr.ndim not in (2, 3):
        raise ShapeError(
            f"{name}: received {describe(arr)}; expected (stimulus, voxel) or (repeat, stimulus, voxel)"
        )
    dims = ("stimulus", "voxel") if arr.ndim == 2 else ("repeat", "stimulus", "voxel")
    n_stim, n_vox = arr.shape[-2], arr.shape[-1]
    ids = check_ids(stimulus_id, n_stim, name=f"{name}.stimulus_id")
    coords: dict[str, Any] = {"stimulus_id": ("stimulus", np.asarray(ids, dtype=str))}
    for key, value in (("roi", roi), ("subject", subject), ("hemi", hemi), ("vertex", vertex)):
        if value is not None:
            coords[key] = ("voxel", _voxel_coord(key, value, n_vox))
    if xyz is not None:
        pos = np.asarray(xyz, dtype=float)
        if pos.shape != (n_vox, 3):
            raise ShapeError(f"xyz: received {describe(pos)}; expected ({n_vox}, 3) coordinates in mm")
        for k, axis in enumerate("xyz"):
            coords[axis] = ("voxel", pos[:, k])
    if arr.ndim == 3:
        coords["repeat"] = np.arange(arr.shape[0])
    da = xr.DataArray(arr, dims=dims, coords=coords, name=name, attrs=dict(attrs or {}))
    return check_responses(da, allow_repeats=True, allow_nan=arr.ndim == 3, name=name)


def stack_repeats(
    trials: Any,
    stimulus_id: Sequence[str],
    *,
    order: Sequence[str] | None = None,
    **coords: Any,
) -> xr.DataArray:
    """Stack trial-level responses ``(trial, voxel)`` into ``(repeat, stimulus, voxel)``.

    The k-th presentation of a stimulus (in trial order) goes to ``repeat=k``; stimuli shown fewer
    times than the most repeated one are NaN-padded, which :func:`average_repeats` and the noise
    ceiling handle.

    Parameters
    ----------
    trials : array-like
        ``(n_trials, n_voxels)``.
    stimulus_id : sequence of str
        The stimulus shown on each trial (repeats share an id).
    order : sequence of str, optional
        Stimulus order of the result; default: first appearance.
    **coords
        Voxel coordinates passed on to :func:`make_responses` (``roi``, ``xyz``, ``attrs``...).

    Returns
    -------
    xarray.DataArray
        ``("repeat", "stimulus", "voxel")``.

    Examples
    --------
    >>> import numpy as np
    >>> r = stack_repeats(np.arange(6.).reshape(3, 2), ["a", "b", "a"])
    >>> r.sizes["repeat"], float(r.sel(repeat=1)[1, 0])  # "b" was shown once
    (2, nan)
    """
    arr = np.asarray(trials, dtype=float)
    ids = [str(i) for i in (stimulus_id.tolist() if hasattr(stimulus_id, "tolist") else stimulus_id)]
    if arr.ndim != 2:
        raise ShapeError(f"trials: received {describe(arr)}; expected (trial, voxel)")
    if len(ids) != arr.shape[0]:
        raise ShapeError(f"stimulus_id: received {len(ids)} ids; expected one per trial ({arr.shape[0]})")
    stim = list(dict.fromkeys(ids)) if order is None else [str(s) for s in order]
    pos = {s: k for k, s in enumerate(stim)}
    missing = sorted(set(ids) - set(pos))
    if missing:
        raise InputError(f"stimulus_id: {len(missing)} ids are not in `order` (e.g. {missing[:5]})")
    counts = np.zeros(len(stim), dtype=int)
    slot = np.empty(len(ids), dtype=int)
    for t, s in enumerate(ids):
        slot[t] = counts[pos[s]]
        counts[pos[s]] += 1
    out = np.full((max(int(counts.max()), 1), len(stim), arr.shape[1]), np.nan)
    out[slot, [pos[s] for s in ids]] = arr
    return make_responses(out, stim, **coords)


def average_repeats(responses: xr.DataArray) -> xr.DataArray:
    """Mean over the ``repeat`` dim, ignoring NaN-padded repeats (a no-op without one).

    Examples
    --------
    >>> import numpy as np
    >>> r = stack_repeats(np.array([[1.0], [5.0], [3.0]]), ["a", "b", "a"])
    >>> average_repeats(r).values.ravel().tolist()
    [2.0, 5.0]
    """
    da = check_responses(responses, allow_repeats=True, allow_nan=True)
    if "repeat" not in da.dims:
        return da
    with np.errstate(invalid="ignore"):
        values = np.nanmean(da.values, axis=0) if np.isnan(da.values).any() else da.values.mean(0)
    out = da.isel(repeat=0, drop=True).copy(data=values)
    return check_responses(out, name="repeat-averaged responses")


def _engine(path: Path) -> str:
    suffix = "".join(path.suffixes[-1:]).lower()
    if suffix in (".nc", ".nc4", ".netcdf", ".h5"):
        return "netcdf"
    if suffix == ".zarr":
        return "zarr"
    raise InputError(f"path: received {str(path)!r}; expected a name ending in .nc (NetCDF) or .zarr")


def save_responses(responses: xr.DataArray, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write labelled responses to NetCDF (``.nc``) or zarr (``.zarr``); reading them back is exact.

    An existing file is never replaced unless ``overwrite=True``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> r = make_responses(np.ones((2, 3)), ["a", "b"], roi="V1")
    >>> p = save_responses(r, os.path.join(tempfile.mkdtemp(), "r.nc"))
    >>> load_responses(p).identical(r)
    True
    """
    path = Path(path)
    kind = _engine(path)
    da = check_responses(responses, allow_repeats=True, allow_nan=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    name = da.name or "responses"
    ds = da.to_dataset(name=name)
    ds.attrs["neuroperception_variable"] = name
    if kind == "netcdf":
        ds.to_netcdf(path, engine="h5netcdf", mode="w")
    else:
        ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)  # format 2: stable string dtypes
    return path


def load_responses(path: str | os.PathLike) -> xr.DataArray:
    """Read responses written by :func:`save_responses` (or any file holding one such variable).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> r = make_responses(np.arange(6.).reshape(1, 2, 3), ["a", "b"])
    >>> p = save_responses(r, os.path.join(tempfile.mkdtemp(), "r.zarr"))
    >>> load_responses(p).dims
    ('repeat', 'stimulus', 'voxel')
    """
    path = Path(path)
    kind = _engine(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such responses file")
    if kind == "netcdf":
        ds = xr.load_dataset(path, engine="h5netcdf")
    else:
        ds = xr.open_zarr(path).load()
    name = ds.attrs.pop("neuroperception_variable", None)
    if name is None:
        if len(ds.data_vars) != 1:
            raise InputError(f"{path}: holds variables {list(ds.data_vars)}; expected exactly one")
        name = next(iter(ds.data_vars))
    da = ds[name]
    for key in da.coords:
        if da[key].dtype.kind == "O":
            da[key] = da[key].astype(str)
    return check_responses(da, allow_repeats=True, allow_nan=True, name=str(path))


def select_stimuli(data: xr.DataArray, stimulus_id: Any) -> xr.DataArray:
    """The stimuli of ``data`` whose ``stimulus_id`` is one of ``stimulus_id``, in the array's own order.

    Parameters
    ----------
    data : xarray.DataArray
        Any array with a ``stimulus`` dim and a ``stimulus_id`` coordinate (responses, features, flows).
    stimulus_id : sequence of str
        Stimulus ids to keep; every one must be present.

    Raises
    ------
    InputError
        No ``stimulus_id`` coordinate.
    AlignmentError
        Ids that ``data`` does not hold.

    Examples
    --------
    >>> r = make_responses(np.arange(6.0).reshape(3, 2), stimulus_id=["a", "b", "c"])
    >>> select_stimuli(r, ["c", "a"])["stimulus_id"].values.tolist()
    ['a', 'c']
    """
    if not isinstance(data, xr.DataArray) or "stimulus_id" not in data.coords:
        raise InputError(f"data: received {describe(data)}; expected a DataArray with a stimulus_id coordinate")
    have = data["stimulus_id"].values.astype(str)
    wanted = [str(i) for i in (stimulus_id.tolist() if hasattr(stimulus_id, "tolist") else stimulus_id)]
    missing = sorted(set(wanted) - set(have))
    if missing:
        raise AlignmentError(f"stimulus_id: received {len(missing)} stimulus ids the data do not hold (e.g. "
                             f"{missing[:3]}); expected ids of its stimulus_id coordinate")
    return data.isel(stimulus=np.flatnonzero(np.isin(have, wanted)))
