"""Inputs of the RSA functions: feature arrays to observation rows, RDMs to aligned stacks.

Features become an ``(observation, feature)`` float matrix with stimulus ids (and run labels for
crossnobis); RDMs, stacks and lists of RDMs become one ``(K, N, N)`` stack checked for symmetry,
matched to a reference by the package's rule (:func:`~neuroperception._validation.check_alignment`),
and read as upper-triangle vectors (diagonal excluded).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from .._validation import check_alignment, check_ids, default_stimulus_ids, describe
from ..errors import AlignmentError, InputError, ShapeError

_RUN_DIMS = ("run", "repeat")


# -- features ------------------------------------------------------------------------------------
def _numpy(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        return x.detach().cpu().numpy()
    return x


def _finite_float(values: np.ndarray, name: str, dtype) -> np.ndarray:
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool) or np.iscomplexobj(values):
        raise InputError(f"{name}: received dtype {values.dtype}; expected real numbers")
    out = np.asarray(values, dtype=dtype)
    if not np.isfinite(out).all():
        raise InputError(f"{name}: received {describe(values)}; expected finite values")
    return out


def _parse_features(features, ids, runs, dtype):
    """→ (x (observation, feature), observation ids, observation runs or None)."""
    name = "features"
    features = _numpy(features)
    if isinstance(features, xr.DataArray):
        if "stimulus" not in features.dims:
            raise ShapeError(f"{name}: received dims {features.dims}; expected ('stimulus', 'feature') "
                             "(other dims are flattened into features)")
        run_dims = [d for d in features.dims if d in _RUN_DIMS]
        if len(run_dims) > 1:
            raise ShapeError(f"{name}: received dims {features.dims}; expected at most one of {_RUN_DIMS}")
        if "stimulus_id" in features.coords:
            if ids is not None:
                raise InputError("stimulus_id: received ids for a DataArray that has a stimulus_id coordinate; "
                                 "expected one source of ids")
            ids = [str(v) for v in features["stimulus_id"].values]
        rest = [d for d in features.dims if d != "stimulus" and d not in run_dims]
        da = features.transpose(*run_dims, "stimulus", *rest)
        n = da.sizes["stimulus"]
        ids = check_ids(ids, n, name="stimulus_id")
        values = _finite_float(np.asarray(da.values), name, dtype)
        if run_dims:
            if runs is not None:
                raise InputError(f"runs: received labels and a {run_dims[0]!r} dim; expected one of them")
            r = da.sizes[run_dims[0]]
            labels = (da[run_dims[0]].values if run_dims[0] in da.coords else np.arange(r))
            return values.reshape(r * n, -1), ids * r, np.repeat(np.asarray(labels), n)
        return values.reshape(n, -1), ids, _check_runs(runs, n)
    if not isinstance(features, np.ndarray) and not isinstance(features, (list, tuple)):
        raise InputError(f"{name}: received {type(features).__name__}; expected an xarray.DataArray "
                         "('stimulus', 'feature'), a numpy array or a torch tensor")
    values = np.asarray(features)
    if values.ndim < 2:
        raise ShapeError(f"{name}: received {describe(values)}; expected (stimulus, feature)")
    values = _finite_float(values, name, dtype).reshape(values.shape[0], -1)
    n = values.shape[0]
    if runs is not None:
        ids = [str(v) for v in ids] if ids is not None else default_stimulus_ids(n)
        if len(ids) != n:
            raise ShapeError(f"stimulus_id: received {len(ids)} ids; expected one per row ({n})")
        return values, ids, _check_runs(runs, n)
    return values, check_ids(ids, n, name="stimulus_id"), None


def _check_runs(runs, n):
    if runs is None:
        return None
    runs = np.asarray(_numpy(runs))
    if runs.shape != (n,):
        raise ShapeError(f"runs: received shape {runs.shape}; expected one label per row ({n},)")
    return runs


def _check_noise(noise, f):
    noise = np.asarray(_numpy(noise), dtype=np.float64)
    if noise.shape != (f, f):
        raise ShapeError(f"noise: received {describe(noise)}; expected a ({f}, {f}) precision matrix")
    if not np.isfinite(noise).all() or not np.allclose(noise, noise.T, rtol=1e-6, atol=1e-10):
        raise InputError(f"noise: received {describe(noise)}; expected a finite symmetric precision matrix")
    return noise


# -- RDM stacks and alignment --------------------------------------------------------------------
class _Stack(NamedTuple):
    values: np.ndarray  # (k, n, n)
    ids: list | None
    names: list
    single: bool
    labelled: bool


def _rdm_ids(da: xr.DataArray, name: str):
    if "stimulus_id" not in da.coords:
        return da, None
    ids = np.asarray(da["stimulus_id"].values).astype(str).tolist()
    check_ids(ids, len(ids), name=f"{name}.stimulus_id")
    if "stimulus_id_" in da.coords:
        cols = np.asarray(da["stimulus_id_"].values).astype(str).tolist()
        if cols != ids:
            if set(cols) != set(ids) or len(cols) != len(ids):
                raise AlignmentError(f"{name}: row ids (stimulus_id) and column ids (stimulus_id_) differ; "
                                     "expected the same stimuli on both dims")
            pos = {v: i for i, v in enumerate(cols)}
            da = da.isel(stimulus_=[pos[i] for i in ids])
    return da, ids


def _as_stack(x, name: str) -> _Stack:
    x = _numpy(x)
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, xr.DataArray) for v in x):
        parts = [_as_stack(v, f"{name}[{i}]") for i, v in enumerate(x)]
        first = parts[0]
        values = [first.values] + [_align(first, p, name, f"{name}[{i + 1}]").values for i, p in enumerate(parts[1:])]
        names = [p.names[0] if p.single else f"{name}[{i}]" for i, p in enumerate(parts)]
        return _Stack(np.concatenate(values), first.ids, names, False, True)
    if isinstance(x, xr.DataArray):
        dims = set(x.dims)
        if not ({"stimulus", "stimulus_"} <= dims and dims - {"stimulus", "stimulus_"} <= {"rdm"}):
            raise ShapeError(f"{name}: received dims {x.dims}; expected ('stimulus', 'stimulus_') or "
                             "('rdm', 'stimulus', 'stimulus_')")
        single = "rdm" not in dims
        da, ids = _rdm_ids(x.transpose(*(() if single else ("rdm",)), "stimulus", "stimulus_"), name)
        values = np.asarray(da.values)[None] if single else np.asarray(da.values)
        if single:
            names = [str(x.name) if x.name is not None else name]
        else:
            names = [str(v) for v in (da["rdm"].values if "rdm" in da.coords else range(da.sizes["rdm"]))]
        labelled = True
    elif isinstance(x, np.ndarray):
        if x.ndim not in (2, 3):
            raise ShapeError(f"{name}: received {describe(x)}; expected (N, N) or a stack (K, N, N)")
        single, values, ids, labelled = x.ndim == 2, (x[None] if x.ndim == 2 else x), None, False
        names = [name] if single else [str(i) for i in range(x.shape[0])]
    else:
        raise InputError(f"{name}: received {type(x).__name__}; expected an RDM DataArray ('stimulus', "
                         "'stimulus_'), a stack ('rdm', 'stimulus', 'stimulus_'), a list of RDMs or an array")
    values = _finite_float(values, name, np.float64)
    k, n, m = values.shape
    if n != m or n < 3 or k == 0:
        raise ShapeError(f"{name}: received {describe(values)}; expected square RDMs of at least 3 stimuli")
    iu, ju, flat = _triu(n)
    flat_values = values.reshape(k, n * n)
    upper, lower = flat_values[:, flat], flat_values[:, ju * n + iu]
    if np.abs(upper - lower).max() > 1e-7 * max(float(np.abs(upper).max()), 1e-300):
        raise InputError(f"{name}: received a non-symmetric matrix; expected a symmetric RDM")
    return _Stack(values, ids, names, single, labelled)


def _proxy(s: _Stack) -> Any:
    """What :func:`check_alignment` sees of a stack: row positions labelled with its ids, or its first RDM."""
    if s.ids is not None:
        ids = np.asarray(s.ids)  # an array: xarray builds a coordinate from a list of strings far more slowly
        return xr.DataArray(np.arange(ids.size), dims="stimulus", coords={"stimulus_id": ("stimulus", ids)})
    first = s.values[0]
    return xr.DataArray(first, dims=("stimulus", "stimulus_")) if s.labelled else first


def _align(a: _Stack, b: _Stack, name_a: str, name_b: str) -> _Stack:
    """Return ``b`` in ``a``'s stimulus order, matched by the package's rule (:func:`check_alignment`)."""
    _, pos = check_alignment(_proxy(a), _proxy(b), names=[name_a, name_b])
    if a.ids is None:
        return b
    order = np.asarray(pos.values)
    if (order == np.arange(order.size)).all():
        return b
    return b._replace(values=b.values[:, order][:, :, order], ids=list(a.ids))


@lru_cache(maxsize=8)
def _triu(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iu, ju = np.triu_indices(n, 1)
    return iu, ju, iu * n + ju


def _vectors(values: np.ndarray) -> np.ndarray:
    k, n, _ = values.shape
    return values.reshape(k, n * n)[:, _triu(n)[2]]


def _is_rdm_array(x) -> bool:
    x = np.asarray(_numpy(x))
    if x.ndim not in (2, 3) or x.shape[-1] != x.shape[-2] or not np.issubdtype(x.dtype, np.number):
        return False
    diag = np.diagonal(x, axis1=-2, axis2=-1)
    return bool(np.allclose(x, np.swapaxes(x, -1, -2)) and np.allclose(diag, 0))
