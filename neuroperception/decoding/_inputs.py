"""Input handling shared by the decoders and the retrieval metrics: responses, features, alignment.

Responses are ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")`` (averaged over
repeats, ignoring NaN-padded ones); features are ``("stimulus", "feature")`` or maps
``("stimulus", ...)`` flattened to features. Responses and features are matched by the package's
rule (:func:`~neuroperception._validation.check_alignment`): by ``stimulus_id`` when both carry
ids, by position when neither does; ids on one side only are an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .._validation import check_alignment, check_responses, describe
from ..data.responses import average_repeats
from ..encoding._inputs import _plain
from ..errors import InputError, ShapeError

__all__ = ["as_responses", "as_matrix", "align_pair", "DecodingData", "decoding_data"]


def _finite(values: np.ndarray, name: str, what: str = "row") -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(values.shape[0], -1).any(1))
        raise InputError(f"{name}: received {describe(values)} with NaN/Inf in {rows.size} {what}s "
                         f"(first: {rows[:5].tolist()}); expected finite values")


def as_responses(responses: Any, *, name: str = "responses") -> xr.DataArray:
    """Validate responses; return ``("stimulus", "voxel")`` averaged over repeats.

    Examples
    --------
    >>> r = np.array([[[1.0, 2.0]], [[3.0, np.nan]]])  # (repeat, stimulus, voxel)
    >>> as_responses(r).values.tolist()
    [[2.0, 2.0]]
    """
    responses = _plain(responses)
    if isinstance(responses, np.ndarray) and responses.ndim not in (2, 3):
        raise ShapeError(f"{name}: received {describe(responses)}; expected (stimulus, voxel) or "
                         "(repeat, stimulus, voxel)")
    da = check_responses(responses, allow_repeats=True, allow_nan=True, name=name)
    if "repeat" in da.dims:
        values = np.asarray(da.values)
        empty = np.isnan(values).all(0)
        if empty.any():
            rows = np.flatnonzero(empty.any(1))
            raise InputError(f"{name}: {rows.size} stimuli (first positions: {rows[:5].tolist()}) have no finite "
                             "repeat for some voxels; expected at least one finite repeat per stimulus and voxel")
        da = average_repeats(da)
    else:
        _finite(np.asarray(da.values), name, "stimulus")
    if da.sizes["stimulus"] < 1 or da.sizes["voxel"] < 1:
        raise ShapeError(f"{name}: received {describe(da)}; expected at least one stimulus and one voxel")
    return da


def as_matrix(x: Any, *, name: str = "features", dim: str = "feature") -> tuple[np.ndarray, xr.DataArray | None]:
    """A ``(stimulus, dim)`` float array and, for labelled input, the DataArray ``("stimulus", dim)``.

    DataArrays need a ``stimulus`` dim; every other dim is flattened into ``dim`` (coordinates along
    ``dim`` are kept only when it was already the single other dim). Plain arrays are taken with
    stimuli on the first axis.

    Examples
    --------
    >>> maps = xr.DataArray(np.ones((2, 3, 4, 4)), dims=("stimulus", "channel", "y", "x"))
    >>> as_matrix(maps)[1].dims, as_matrix(np.ones((2, 3, 4)))[0].shape
    (('stimulus', 'feature'), (2, 12))
    """
    x = _plain(x)
    if isinstance(x, xr.DataArray):
        if "stimulus" not in x.dims or x.ndim < 2:
            raise ShapeError(f"{name}: received dims {x.dims}; expected ('stimulus', '{dim}') or ('stimulus', ...)")
        x = x.transpose("stimulus", ...)
        coords = {k: c for k, c in x.coords.items() if c.dims == ("stimulus",)}
        if x.ndim == 2 and x.dims[1] == dim:
            coords.update({k: c for k, c in x.coords.items() if c.dims == (dim,)})
        values = np.asarray(x.values)
        if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool) or np.iscomplexobj(values):
            raise InputError(f"{name}: received dtype {values.dtype}; expected real numbers")
        values = values.reshape(values.shape[0], -1).astype(np.result_type(values.dtype, np.float32), copy=False)
        labelled = xr.DataArray(values, dims=("stimulus", dim), coords=coords, name=x.name, attrs=x.attrs)
    else:
        try:
            values = np.asarray(x)
        except (TypeError, ValueError) as err:
            raise InputError(f"{name}: received {type(x).__name__}; expected an array (stimulus, {dim})") from err
        if values.dtype == object or not (np.issubdtype(values.dtype, np.number) or values.dtype == bool) \
                or np.iscomplexobj(values):
            raise InputError(f"{name}: received {describe(values)} of dtype {values.dtype}; expected real numbers "
                             f"(stimulus, {dim})")
        if values.ndim < 2:
            raise ShapeError(f"{name}: received {describe(values)}; expected 2 dimensions (stimulus, {dim})"
                             + (f" (for one {dim} use x[:, None])" if values.ndim == 1 else ""))
        values = values.reshape(values.shape[0], -1).astype(np.result_type(values.dtype, np.float32), copy=False)
        labelled = None
    if values.shape[0] < 1 or values.shape[1] < 1:
        raise ShapeError(f"{name}: received {describe(values)}; expected at least one stimulus and one {dim}")
    _finite(values, name)
    return values, labelled


def align_pair(a: tuple[np.ndarray, xr.DataArray | None], b: tuple[np.ndarray, xr.DataArray | None],
               names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray, list[str] | None, xr.DataArray | None,
                                                xr.DataArray | None]:
    """Match two ``(values, labelled)`` pairs by the package's rule; keep ``a``'s order.

    The rule is :func:`~neuroperception._validation.check_alignment`'s: by ``stimulus_id`` when
    both carry ids, an :class:`~neuroperception.errors.AlignmentError` when one does, by position
    when neither does. Returns the two value arrays, the shared ids (None when matched by
    position) and the matched DataArrays (None for plain input).

    Examples
    --------
    >>> a = xr.DataArray(np.eye(2), dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", ["x", "y"])})
    >>> b = a.isel(stimulus=[1, 0])
    >>> va, vb, ids, _, _ = align_pair((a.values, a), (b.values, b), ("pred", "target"))
    >>> ids, bool((va == vb).all())
    (['x', 'y'], True)
    """
    (va, la), (vb, lb) = a, b
    given = (la if la is not None else va, lb if lb is not None else vb)
    (xa, xb), ids = check_alignment(*given, names=list(names), return_ids=True)
    if xa is not given[0]:
        va, la = np.asarray(xa.values), xa
    if xb is not given[1]:
        vb, lb = np.asarray(xb.values), xb
    return va, vb, ids, la, lb


@dataclass
class DecodingData:
    """Aligned responses and features as numpy arrays, with their labels.

    Attributes
    ----------
    X : numpy.ndarray
        ``(stimulus, voxel)`` responses (repeat-averaged).
    Y : numpy.ndarray or None
        ``(stimulus, feature)`` features, or None when only responses were given.
    stimulus_ids : list of str or None
    voxel_coords : dict
        Per-voxel coordinates of the responses (``roi``, ``x/y/z``...): name -> numpy array.
    feature_coords : dict
        Per-feature coordinates of the features: name -> numpy array.
    stimulus_coords : dict
        Per-stimulus coordinates of the responses (``stimulus_id``...): name -> numpy array.
    responses : xarray.DataArray
        The aligned ``("stimulus", "voxel")`` responses.
    features : xarray.DataArray or None
        The aligned ``("stimulus", "feature")`` features (None for plain or absent features).
    labelled : bool
        Whether the responses were a DataArray (labelled in -> labelled out).
    """

    X: np.ndarray
    Y: np.ndarray | None
    stimulus_ids: list[str] | None
    voxel_coords: dict
    feature_coords: dict
    stimulus_coords: dict
    responses: xr.DataArray
    features: xr.DataArray | None
    labelled: bool


def _coords(da: xr.DataArray | None, dim: str) -> dict:
    if da is None:
        return {}
    return {k: np.asarray(c.values) for k, c in da.coords.items() if c.dims == (dim,)}


def decoding_data(responses: Any, features: Any = None, *, names: tuple[str, str] = ("responses", "features")
                  ) -> DecodingData:
    """Validate responses and (optionally) features and match them (:func:`align_pair`).

    Parameters
    ----------
    responses : xarray.DataArray, numpy.ndarray or torch.Tensor
        ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")`` (NaN-aware mean over repeats).
    features : xarray.DataArray, numpy.ndarray or torch.Tensor, optional
        ``("stimulus", "feature")`` or maps ``("stimulus", ...)`` (flattened).
    names : (str, str)
        Names of the two inputs in error messages (an estimator's ``("X", "y")``).

    Returns
    -------
    DecodingData
        In the order of the responses.

    Raises
    ------
    AlignmentError
        Different stimulus ids or numbers of stimuli, or ids on one input only.
    InputError, ShapeError
        NaN/Inf, wrong dims or dtypes.

    Examples
    --------
    >>> from neuroperception.data import make_responses
    >>> r = make_responses(np.arange(6.0).reshape(3, 2), ["a", "b", "c"], roi=["V1", "IT"])
    >>> f = xr.DataArray(np.eye(3), dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", ["c", "a", "b"])})
    >>> d = decoding_data(r, f)
    >>> d.Y.argmax(1).tolist(), d.voxel_coords["roi"].tolist()
    ([1, 2, 0], ['V1', 'IT'])
    """
    raw = _plain(responses)
    resp = as_responses(raw, name=names[0])
    labelled = isinstance(raw, xr.DataArray)
    X = np.asarray(resp.values)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    feats = None
    Y = None
    ids = [str(v) for v in resp["stimulus_id"].values] if "stimulus_id" in resp.coords else None
    if features is not None:
        Y, feats = as_matrix(features, name=names[1])
        X, Y, ids, resp, feats = align_pair((X, resp), (Y, feats), names)
    return DecodingData(X=X, Y=Y, stimulus_ids=ids, voxel_coords=_coords(resp, "voxel"),
                        feature_coords=_coords(feats, "feature"), stimulus_coords=_coords(resp, "stimulus"),
                        responses=resp, features=feats, labelled=labelled)
