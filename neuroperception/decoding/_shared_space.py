"""Input checks and settings shared by the shared-space estimators (decoder and encoder)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._validation import describe
from ..alignment import SharedResponseModel
from ..alignment._inputs import subjects_of
from ..data import Subjects
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

    def _fit_srm(self, data: Any, name: str) -> tuple[dict[str, xr.DataArray], SharedResponseModel]:
        """Check the subjects' responses, z-score each voxel (``standardize``) and fit the shared response model.

        Sets ``srm_``, ``subjects_``, ``mean_`` and ``scale_`` (the voxel offsets and scales before the SRM
        bases, the SRM's own means folded in) and an empty ``adapt_alpha_``; returns the checked responses
        by subject and the fitted model.
        """
        if not isinstance(self.standardize, (bool, np.bool_)):
            raise InputError(f"standardize: received {describe(self.standardize)}; expected True or False")
        subjects = subjects_of(data, name)
        names = list(subjects)
        responses = {s: self._responses(subjects[s], f"{name}[{s!r}]") for s in names}
        stats = {s: self._stats(responses[s].values.astype(np.float64)) for s in names}
        standardized = {s: responses[s].copy(data=(responses[s].values.astype(np.float64) - stats[s][0]) / stats[s][1])
                        for s in names}
        srm = SharedResponseModel(n_components=self.n_components, n_iter=self.n_iter,
                                  random_state=self.random_state).fit(Subjects(standardized))
        self.srm_ = srm
        self.subjects_ = list(names)
        self.mean_ = {s: stats[s][0] + stats[s][1] * srm.mean_[s] for s in names}
        self.scale_ = {s: stats[s][1] for s in names}
        self.adapt_alpha_ = {}
        return responses, srm
