"""Input checks and settings shared by the shared-space estimators (decoder and encoder)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import describe
from ..encoding.ridge import DEFAULT_ALPHAS
from ..errors import InputError
from ._inputs import as_matrix, as_responses


def standardize_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxel means and standard deviations as :class:`RidgeDecoder` computes them (zero variance: 1)."""
    mean, scale = x.mean(0), x.std(0)
    scale[scale <= 1e-12 * max(float(np.abs(x).max()), 1e-300)] = 1.0
    return mean, scale


class SharedSpaceInputs:
    """Mixin of :class:`SharedSpaceDecoder` and :class:`SharedSpaceEncoder`: labelled responses and features,
    per-voxel standardisation (``standardize``) and the ridge penalties (``alphas``).

    ``_features_arg`` names the features argument in messages (``"y"`` for the decoder, ``"X"`` for the
    encoder)."""

    _features_arg = "y"

    def _responses(self, x: Any, name: str) -> xr.DataArray:
        if not isinstance(x, xr.DataArray):
            raise InputError(f"{name}: received {describe(x)}; expected an xarray.DataArray ('stimulus', 'voxel') "
                             "with a stimulus_id coordinate (subjects are matched to features by id)")
        da = as_responses(x, name=name)
        if "stimulus_id" not in da.coords:
            raise InputError(f"{name}: received responses without stimulus_id; expected a stimulus_id coordinate")
        return da

    def _features(self, data: Any, name: str | None = None) -> xr.DataArray:
        name = self._features_arg if name is None else name
        if not isinstance(data, xr.DataArray) or "stimulus_id" not in data.coords:
            raise InputError(f"{name}: received {describe(data)}; expected features xarray.DataArray "
                             "('stimulus', 'feature') with a stimulus_id coordinate (matched to every subject by id)")
        return as_matrix(data, name=name)[1]

    def _stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.standardize:
            return standardize_stats(x)
        return np.zeros(x.shape[1]), np.ones(x.shape[1])

    def _alphas(self) -> np.ndarray:
        alphas = DEFAULT_ALPHAS if self.alphas is None else np.atleast_1d(np.asarray(self.alphas, dtype=float))
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
            raise InputError(f"alphas: received {describe(self.alphas)}; expected positive penalties")
        return alphas
