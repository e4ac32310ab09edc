"""Fitting voxel blocks on a dask cluster and merging them back into one fitted estimator.

Every choice :class:`RidgeCV` (with ``alpha_per_target=True``) and :class:`BandedRidgeCV` make is
per voxel, and the blocks sent to the workers are whole multiples of the estimator's
``voxel_chunk``, so each worker runs exactly the computations a single-process fit runs on the same
voxels: the merged estimator equals the single-process one.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import clone

from .._distributed import client_context
from ..errors import InputError
from .banded import BandedRidgeCV
from .ridge import RidgeCV

__all__ = ["fit_on_client", "VoxelBlockModel", "client_context", "fresh_copy"]

# Fitted attributes that run over voxels, and the axis they run along.
_VOXEL_AXES = {
    RidgeCV: {"best_alphas_": 0, "coef_": 0, "intercept_": 0, "cv_scores_": 1},
    BandedRidgeCV: {"best_alphas_": 1, "band_weights_": 1, "global_alphas_": 0, "coef_": 0, "intercept_": 0,
                    "cv_scores_": 1, "best_cv_scores_": 0},
}


class VoxelBlockModel:
    """Estimators fitted on consecutive blocks of voxels, predicting as one.

    Used for estimators whose fitted attributes cannot be merged (any model with ``fit``/``predict``).

    Parameters
    ----------
    estimators : list
        Fitted estimators, one per block, in voxel order.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> X, Y = np.eye(4), np.arange(8.0).reshape(4, 2)
    >>> m = VoxelBlockModel([Ridge(alpha=1e-9).fit(X, Y[:, :1]), Ridge(alpha=1e-9).fit(X, Y[:, 1:])])
    >>> m.predict(X).round(3).tolist() == Y.tolist()
    True
    """

    def __init__(self, estimators: list):
        self.estimators = list(estimators)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of every block, concatenated along voxels."""
        parts = [np.asarray(est.predict(X)) for est in self.estimators]
        return np.concatenate([p[:, None] if p.ndim == 1 else p for p in parts], axis=1)

    def __repr__(self) -> str:
        return f"VoxelBlockModel({len(self.estimators)} blocks of {type(self.estimators[0]).__name__})"


def _merge(parts: list) -> Any:
    """One fitted estimator from estimators fitted on consecutive voxel blocks."""
    kind = type(parts[0])
    axes = _VOXEL_AXES.get(kind)
    if axes is None:
        return VoxelBlockModel(parts)
    merged = copy.copy(parts[0])
    for name, axis in axes.items():
        setattr(merged, name, np.concatenate([getattr(p, name) for p in parts], axis=axis))
    if hasattr(parts[0], "n_alpha_evaluations_"):
        merged.n_alpha_evaluations_ = int(sum(p.n_alpha_evaluations_ for p in parts))
    if getattr(parts[0], "_voxel_coords", None):
        merged._voxel_coords = {k: (dims, np.concatenate([p._voxel_coords[k][1] for p in parts]))
                                for k, (dims, _) in parts[0]._voxel_coords.items()}
    return merged


def _fit_block(model: Any, X: Any, Y: Any) -> Any:
    return model.fit(X, Y)


def fresh_copy(model: Any) -> Any:
    """An unfitted copy: ``sklearn.base.clone``, or a deep copy for estimators clone cannot handle."""
    try:
        return clone(model)
    except TypeError:
        return copy.deepcopy(model)


def _block_size(model: Any, n_voxels: int, n_workers: int) -> int:
    chunk = int(getattr(model, "voxel_chunk", 0) or 0)
    per_worker = -(-n_voxels // max(1, n_workers))
    if chunk <= 0:
        return max(1, per_worker)
    return chunk * max(1, -(-per_worker // chunk))


def fit_on_client(model: Any, X: Any, Y: Any, client: Any, *, block: int | None = None) -> Any:
    """Fit ``model`` on blocks of voxels on a dask cluster; return the merged fitted estimator.

    Parameters
    ----------
    model : estimator
        Unfitted; cloned for every block. :class:`RidgeCV` and :class:`BandedRidgeCV` are merged
        into one estimator equal to the single-process fit; any other estimator with
        ``fit``/``predict`` gives a :class:`VoxelBlockModel`.
    X : array-like, DataArray, or list/dict of them (banded)
        Features, sent whole to every task.
    Y : array-like or xarray.DataArray
        ``(stimulus, voxel)``; each task receives its block of voxels (a lazy DataArray stays lazy
        until the worker reads it).
    client : distributed.Client or "local"
    block : int, optional
        Voxels per task; default: one block per worker, rounded up to a multiple of the model's
        ``voxel_chunk``.

    Returns
    -------
    fitted estimator

    Raises
    ------
    ImportError
        dask.distributed missing (names the ``dist`` extra).
    InputError
        A bad client, or ``RidgeCV(alpha_per_target=False)``, whose shared alpha depends on all voxels.

    Examples
    --------
    Two blocks of two voxels, merged into the estimator one process fits:

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5)); Y = X @ rng.normal(size=(5, 4)) + 0.1 * rng.normal(size=(40, 4))
    >>> model = RidgeCV(alphas=[0.1, 10.0], dtype="float64", voxel_chunk=2)
    >>> merged = fit_on_client(model, X, Y, "local", block=2)
    >>> single = fresh_copy(model).fit(X, Y)
    >>> type(merged).__name__, merged.coef_.shape, bool(np.allclose(merged.coef_, single.coef_))
    ('RidgeCV', (4, 5), True)
    """
    if isinstance(model, RidgeCV) and not model.alpha_per_target:
        raise InputError("model: received RidgeCV(alpha_per_target=False); its single alpha depends on every voxel, "
                         "so it cannot be fitted in voxel blocks; expected alpha_per_target=True or client=None")
    n_voxels = Y.shape[1]
    with client_context(client) as c:
        n_workers = len(c.scheduler_info().get("workers", {})) or 1
        size = int(block) if block else _block_size(model, n_voxels, n_workers)
        chunk = int(getattr(model, "voxel_chunk", 0) or 0)
        if chunk and size % chunk:
            raise InputError(f"block: received {size}; expected a multiple of the model's voxel_chunk ({chunk}) so "
                             "that the blocks fit exactly as one process does")
        futures = []
        for start in range(0, n_voxels, size):
            cols = slice(start, min(start + size, n_voxels))
            part = Y.isel(voxel=cols) if isinstance(Y, xr.DataArray) else Y[:, cols]
            futures.append(c.submit(_fit_block, fresh_copy(model), X, part, pure=False))
        parts = c.gather(futures)
    return _merge(parts)
