"""Input handling shared by the encoding estimators: features, targets read in chunks, alignment."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import check_alignment, check_random_state, check_responses, describe
from ..errors import AlignmentError, InputError, ShapeError

__all__ = ["check_features", "TargetReader", "as_targets", "align", "score_pair", "held_out_positions"]


def _plain(x: Any) -> Any:
    """torch tensors and pandas objects to numpy; DataArrays and numpy arrays unchanged."""
    if isinstance(x, (np.ndarray, xr.DataArray)):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    if hasattr(x, "to_numpy"):
        return x.to_numpy()
    return x


def check_features(X: Any, *, name: str = "X") -> tuple[np.ndarray, xr.DataArray | None]:
    """Validate a feature matrix; return it as a float numpy array and the DataArray it came from.

    Parameters
    ----------
    X : numpy.ndarray, torch.Tensor, pandas.DataFrame or xarray.DataArray
        ``(stimulus, feature)``; a DataArray's first dim must be ``stimulus``.
    name : str
        Name used in error messages.

    Returns
    -------
    values : numpy.ndarray
        ``(n_stimuli, n_features)``, float32 or float64.
    labelled : xarray.DataArray or None

    Examples
    --------
    >>> check_features(np.ones((3, 2), dtype=int))[0].dtype
    dtype('float64')
    """
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise InputError(f"{name}: received sparse {type(X).__name__}; sparse input is not supported, expected a "
                         "dense array (use X.toarray())")
    X = _plain(X)
    labelled = X if isinstance(X, xr.DataArray) else None
    if labelled is not None:
        if labelled.ndim != 2 or labelled.dims[0] != "stimulus":
            raise ShapeError(f"{name}: received dims {labelled.dims}; expected ('stimulus', 'feature')")
        values = np.asarray(labelled.values)
    else:
        try:
            values = np.asarray(X)
        except (TypeError, ValueError) as err:
            raise InputError(f"{name}: received {type(X).__name__}; expected a 2-D array (stimulus, feature)") from err
    if np.issubdtype(values.dtype, np.complexfloating):
        raise InputError(f"{name}: received dtype {values.dtype}; Complex data not supported, expected real numbers")
    if values.dtype == object:
        try:  # an element that is not a number at all raises numpy's own TypeError
            values = values.astype(np.float64)
        except ValueError as err:
            raise InputError(f"{name}: received an object array that is not numeric; expected real numbers") from err
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise InputError(f"{name}: received dtype {values.dtype}; expected real numbers (stimulus, feature)")
    if values.ndim != 2:
        hint = " (Reshape your data: for one feature use X[:, None])" if values.ndim == 1 else ""
        raise ShapeError(f"{name}: received {describe(values)}; expected 2 dimensions (stimulus, feature){hint}")
    if values.shape[0] < 1 or values.shape[1] < 1:
        raise ShapeError(f"{name}: received {describe(values)}; expected at least 1 stimulus and 1 feature "
                         f"(found {values.shape[1]} feature(s) (shape={values.shape}) while a minimum of 1 is required)")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"{name}: received {describe(values)}; expected finite values (no NaN/Inf)")
    return values, labelled


class TargetReader:
    """Column-chunk reader over targets that validates each chunk as it is read.

    ``reader[:, a:b]`` returns a float numpy array of those targets; a lazily loaded DataArray
    (zarr/NetCDF backed, or dask) is only read chunk by chunk.

    Examples
    --------
    >>> r = TargetReader(np.arange(6.0).reshape(3, 2))
    >>> r.shape, r[:, 1:2].ravel().tolist()
    ((3, 2), [1.0, 3.0, 5.0])
    """

    def __init__(self, data: Any, name: str = "y"):
        self.data = data
        self.name = name
        self.shape = tuple(data.shape)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        _, cols = key
        if isinstance(self.data, xr.DataArray):
            block = self.data.isel(voxel=cols)
        else:
            block = self.data[:, cols]
        label = f"{self.name}[:, {cols.start}:{cols.stop}]"
        return np.asarray(check_responses(block, name=label).values)


def as_targets(Y: Any, *, name: str = "y") -> xr.DataArray | np.ndarray:
    """Check the structure of targets (dims, dtype) without reading a lazily loaded array.

    Returns a DataArray ``(stimulus, voxel)`` or a 2-D numpy array; values are checked chunk by
    chunk by :class:`TargetReader`.

    Examples
    --------
    >>> as_targets(np.zeros((4, 2))).shape
    (4, 2)
    """
    if Y is None:
        raise InputError(f"{name}: received None; RidgeCV requires y to be passed, but the target y is None "
                         "(expected (stimulus, voxel) responses)")
    Y = _plain(Y)
    if isinstance(Y, xr.DataArray):
        if Y.dims != ("stimulus", "voxel"):
            raise ShapeError(f"{name}: received dims {Y.dims}; expected ('stimulus', 'voxel')")
        check_responses(Y.isel(stimulus=slice(0, 1), voxel=slice(0, 1)), name=name)
        return Y
    if not isinstance(Y, np.ndarray):
        try:
            Y = np.asarray(Y)
        except (TypeError, ValueError) as err:
            raise InputError(f"{name}: received {type(Y).__name__}; expected a 2-D array (stimulus, voxel)") from err
    if Y.dtype == object or Y.dtype.kind in "USb":
        try:
            Y = Y.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"{name}: received non-numeric dtype {Y.dtype} (Unknown label type for a regression); "
                             "expected real numbers (stimulus, voxel)") from err
    if Y.ndim != 2:
        hint = f" (for one target use {name}[:, None])" if Y.ndim == 1 else ""
        raise ShapeError(f"{name}: received {describe(Y)}; expected 2 dimensions (stimulus, voxel){hint}")
    if Y.shape[1] < 1:
        raise ShapeError(f"{name}: received {describe(Y)}; expected at least one target")
    check_responses(Y[:1, :1], name=name)
    return Y


def align(X_values: np.ndarray, X_labelled: xr.DataArray | None, Y: Any, *, names=("X", "y")):
    """Match targets to features by the package's rule (:func:`~neuroperception._validation.check_alignment`).

    Both labelled: ``Y`` is put in ``X``'s ``stimulus_id`` order; ids on one side only: an
    :class:`~neuroperception.errors.AlignmentError`; neither: equal numbers of stimuli. Returns
    the feature values and targets; reordering a lazy DataArray keeps it lazy.

    Examples
    --------
    >>> X = xr.DataArray(np.eye(2), dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", ["a", "b"])})
    >>> Y = xr.DataArray([[1.0], [2.0]], dims=("stimulus", "voxel"), coords={"stimulus_id": ("stimulus", ["b", "a"])})
    >>> align(X.values, X, Y)[1].values.ravel().tolist()
    [2.0, 1.0]
    """
    x = X_labelled if X_labelled is not None else X_values
    x_aligned, Y = check_alignment(x, Y, names=list(names))
    if x_aligned is not x:
        X_values = np.asarray(x_aligned.values, dtype=X_values.dtype)
    return X_values, Y


def score_pair(pred: Any, y: Any, *, names=("X", "y")) -> tuple[Any, Any]:
    """Predictions and targets matched for scoring: ``(targets, predictions)``.

    The predictions of labelled input carry its ``stimulus_id``; they are matched to ``y`` by the
    package's rule, and given as plain values when ``y`` is unlabelled.

    Examples
    --------
    >>> pred = xr.DataArray([[1.0], [2.0]], dims=("stimulus", "voxel"), coords={"stimulus_id": ("stimulus", ["a", "b"])})
    >>> score_pair(pred, pred.isel(stimulus=[1, 0]))[0].values.ravel().tolist()
    [1.0, 2.0]
    """
    targets = as_targets(y, name=names[1])
    pred, targets = check_alignment(pred, targets, names=list(names))
    if isinstance(pred, xr.DataArray) and not isinstance(targets, xr.DataArray):
        pred = pred.values
    return targets, pred


def held_out_positions(test: Any, ids: list[str] | None, n: int,
                       random_state: int | np.random.Generator | None) -> np.ndarray:
    """Held-out positions: a fraction drawn with the seed, positions (ints) or stimulus ids (str)."""
    if isinstance(test, numbers.Real) and not isinstance(test, (bool, numbers.Integral)):
        if not 0 < test < 1:
            raise InputError(f"test: received {test!r}; expected a fraction in (0, 1), positions or stimulus ids")
        size = min(max(2, int(round(test * n))), n - 2)
        return np.sort(check_random_state(random_state).choice(n, size=size, replace=False))
    if isinstance(test, (str, bytes, numbers.Number)) or not isinstance(test, (Sequence, np.ndarray, pd.Index)):
        raise InputError(f"test: received {test!r}; expected a fraction in (0, 1), positions or stimulus ids")
    items = list(np.asarray(test).tolist())
    if items and all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in items):
        pos = np.asarray(items, dtype=np.int64)
        if (pos < 0).any() or (pos >= n).any() or np.unique(pos).size != pos.size:
            raise InputError(f"test: received positions {items[:5]}...; expected distinct positions in [0, {n})")
        return np.sort(pos)
    if ids is None:
        raise AlignmentError("test: received stimulus ids, but the data carry no stimulus_id; expected labelled "
                             "responses, positions or a fraction")
    wanted = [str(t) for t in items]
    where = {s: i for i, s in enumerate(ids)}
    missing = [t for t in wanted if t not in where]
    if missing or len(set(wanted)) != len(wanted):
        raise AlignmentError(f"test: received {len(missing)} unknown ids (e.g. {missing[:5]}) or duplicates among "
                             f"{len(wanted)}; expected distinct stimulus ids of the data")
    return np.sort([where[t] for t in wanted])
