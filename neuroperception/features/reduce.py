"""Reducing stored features out of core: PCA fitted on a sample, sparse random projection, chunk by chunk."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr

from .._docs import fill_doc
from .._validation import describe
from ..errors import InputError, ShapeError
from .pooling import PCA, SparseRandomProjection, get_pooling

__all__ = ["reduce_features"]


def _is_lazy(values: Any) -> bool:
    return type(values).__module__.startswith("dask")


def _sample(features: xr.DataArray, fit_on: Any) -> np.ndarray:
    """The rows a PCA is fitted on, read into memory (only those rows are read from a lazy store)."""
    n = features.sizes["stimulus"]
    if fit_on is None:
        rows = np.arange(n)
    elif isinstance(fit_on, (int, np.integer)) and not isinstance(fit_on, bool):
        if not 1 <= fit_on <= n:
            raise InputError(f"fit_on: received {fit_on}; expected an int in [1, {n}] (rows to fit on) or stimulus ids")
        rows = np.arange(int(fit_on))
    else:
        ids = list(features["stimulus_id"].values) if "stimulus_id" in features.coords else []
        position = {s: i for i, s in enumerate(ids)}
        missing = [s for s in fit_on if s not in position]
        if missing:
            raise InputError(f"fit_on: {len(missing)} ids are not among the features' stimulus ids, e.g. {missing[:3]}; "
                             "expected ids of the features' stimuli")
        rows = np.asarray([position[s] for s in fit_on])
    return np.asarray(features.isel(stimulus=rows).values)


@fill_doc
def reduce_features(features: xr.DataArray, pooling: Any, fit_on: Any = None,
                    random_state: int | np.random.Generator | None = 0) -> xr.DataArray:
    """Reduce stored features to fewer dimensions: PCA fitted on a sample or a sparse random projection.

    A dask-backed array (``open_features(store, lazy=True)``) stays lazy: the projection is applied
    chunk of stimuli by chunk when the result is computed, so a store larger than memory is reduced
    with one chunk (and the PCA's sample) in memory at a time. The reduction is the one
    ``extract(pooling=...)`` applies to activations, so reducing stored maps afterwards equals
    extracting with that pooling.

    Parameters
    ----------
    features : xarray.DataArray
        ``("stimulus", "feature")`` or maps ``("stimulus", "channel", ...)`` (flattened channel-major),
        in memory or dask-backed.
    pooling : str or Pooling
        ``"pca:K"``, ``"srp:D"``, or a :class:`~neuroperception.features.PCA` /
        :class:`~neuroperception.features.SparseRandomProjection` (a fitted PCA is used as it is).
    fit_on : None, int or list of str
        Rows a PCA is fitted on: all (None, default), the first ``fit_on``, or these stimulus ids.
        Only these rows are read into memory to fit. Ignored by a random projection.
    %(random_state)s
        It draws the random projection (``"srp:D"``).

    Returns
    -------
    xarray.DataArray
        ``("stimulus", "feature")``, lazy when ``features`` is, with the stimulus coordinates of
        ``features`` and its attrs, ``pooling`` extended by the reduction (e.g. ``avg+pca:64(...)``).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> x = xr.DataArray(np.random.default_rng(0).normal(size=(50, 200)).astype("float32"),
    ...                  dims=("stimulus", "feature"), attrs={"pooling": "none"})
    >>> reduce_features(x, "pca:8", fit_on=30).shape
    (50, 8)
    >>> reduce_features(x.chunk({"stimulus": 10}), "srp:16").attrs["pooling"]     # lazy in, lazy out
    'none+srp:16(seed=0)'
    """
    if not isinstance(features, xr.DataArray) or features.ndim < 2 or features.dims[0] != "stimulus":
        raise ShapeError(f"features: received {describe(features)}; expected a DataArray ('stimulus', 'feature') "
                         "or ('stimulus', 'channel', ...) such as open_features(...) returns")
    if isinstance(pooling, str) and pooling.startswith("srp:"):
        reducer = SparseRandomProjection(int(get_pooling(pooling).d), random_state=random_state)
    else:
        reducer = get_pooling(pooling)
    if not isinstance(reducer, (PCA, SparseRandomProjection)):
        raise InputError(f"pooling: received {pooling!r}; expected 'pca:K', 'srp:D', a PCA or a SparseRandomProjection")
    if isinstance(reducer, PCA) and reducer.components_ is None:
        reducer.fit_on = fit_on if fit_on is None or isinstance(fit_on, (int, np.integer)) else list(fit_on)
        reducer.fit(torch.from_numpy(_sample(features, fit_on)))

    def apply(block: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return reducer.pool(torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32))).numpy()

    values = features.data
    n_out = reducer.n_components if isinstance(reducer, PCA) else reducer.d
    if _is_lazy(values):
        values = values.rechunk({i: -1 for i in range(1, values.ndim)})
        # meta given: dask would otherwise call ``apply`` on a stand-in block to guess it (a full-size
        # projection matrix for a wrong input size, and ~100 MB more at the peak for 1 MB rows)
        reduced = values.map_blocks(apply, chunks=(values.chunks[0], (n_out,)), drop_axis=list(range(2, values.ndim)),
                                    dtype=np.float32, meta=np.empty((0, 0), dtype=np.float32))
    else:
        reduced = apply(np.asarray(values))
    coords = {k: c for k, c in features.coords.items() if c.dims == ("stimulus",)}
    attrs = dict(features.attrs)
    attrs["pooling"] = f"{attrs['pooling']}+{reducer.describe()}" if attrs.get("pooling") else reducer.describe()
    return xr.DataArray(reduced, dims=("stimulus", "feature"), coords=coords, attrs=attrs, name=features.name)
