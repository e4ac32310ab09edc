"""Feature-map inputs of the deep readouts: one or several layers of maps, labelled or flattened."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import xarray as xr

from .._validation import check_alignment, describe
from ..errors import InputError, ShapeError


_MAP_DIMS = ("stimulus", "channel", "y", "x")


# ---------------------------------------------------------------------------------------- inputs
def _shapes(map_shape: Any) -> list[tuple[int, int, int]] | None:
    if map_shape is None:
        return None
    items = [map_shape] if len(map_shape) == 3 and all(isinstance(v, (int, np.integer)) for v in map_shape) \
        else list(map_shape)
    try:
        out = [tuple(int(v) for v in s) for s in items]
    except TypeError as err:
        raise InputError(f"map_shape: received {map_shape!r}; expected (channel, y, x) or a list of them") from err
    if any(len(s) != 3 or min(s) < 1 for s in out):
        raise InputError(f"map_shape: received {map_shape!r}; expected positive (channel, y, x) per layer")
    return out


def _one_map(x: Any, name: str) -> xr.DataArray:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
        if x.ndim != 4:
            raise ShapeError(f"{name}: received {describe(x)}; expected 4 dimensions (stimulus, channel, y, x)")
        x = xr.DataArray(x, dims=_MAP_DIMS)
    if not isinstance(x, xr.DataArray):
        raise InputError(f"{name}: received {describe(x)}; expected an xarray.DataArray (stimulus, channel, y, x)")
    if set(x.dims) != set(_MAP_DIMS):
        raise ShapeError(f"{name}: received dims {x.dims}; expected ('stimulus', 'channel', 'y', 'x') feature maps "
                         "with spatial dims (extract(..., pooling='none')), or flattened maps with map_shape=")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise InputError(f"{name}: received dtype {x.dtype}; expected real numbers")
    x = x.transpose(*_MAP_DIMS)
    if not np.isfinite(np.asarray(x.values)).all():
        raise InputError(f"{name}: received {describe(x)} with NaN/Inf values; expected finite values")
    return x


def _unflatten(x: Any, shapes: list[tuple[int, int, int]], name: str) -> dict[str, xr.DataArray]:
    labelled = isinstance(x, xr.DataArray)
    if labelled and "stimulus" in x.dims:
        x = x.transpose("stimulus", ...)
    values = np.asarray(x.values if labelled else x)
    sizes = [int(np.prod(s)) for s in shapes]
    if values.ndim != 2 or values.shape[1] != sum(sizes):
        raise ShapeError(f"{name}: received {describe(values)}; expected (stimulus, {sum(sizes)}) flattened maps of "
                         f"map_shape {shapes}")
    coords = {k: c for k, c in x.coords.items() if c.dims == ("stimulus",)} if labelled else {}
    out, start = {}, 0
    for i, (s, k) in enumerate(zip(shapes, sizes)):
        part = values[:, start:start + k].reshape(-1, *s)
        out[f"layer{i}"] = _one_map(xr.DataArray(part, dims=_MAP_DIMS, coords=coords), f"{name}[layer{i}]")
        start += k
    return out


def _as_maps(feature_maps: Any, map_shape: Any, name: str = "feature_maps") -> dict[str, xr.DataArray]:
    """Layer name → ``("stimulus", "channel", "y", "x")`` DataArray, layers aligned by ``stimulus_id``."""
    shapes = _shapes(map_shape)
    if isinstance(feature_maps, Mapping):
        if not feature_maps:
            raise InputError(f"{name}: received an empty dict; expected at least one layer of feature maps")
        layers = {str(k): _one_map(v, f"{name}[{k!r}]") for k, v in feature_maps.items()}
    elif shapes is not None and np.ndim(feature_maps) == 2:
        layers = _unflatten(feature_maps, shapes, name)
    else:
        one = _one_map(feature_maps, name)
        layers = {str(one.attrs.get("layer") or "features"): one}
    names = list(layers)
    aligned = check_alignment(*layers.values(), names=[f"{name}[{k!r}]" for k in names])
    return dict(zip(names, aligned))


# ---------------------------------------------------------------------------------------- base
