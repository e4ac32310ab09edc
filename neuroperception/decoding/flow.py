"""Decoding optical flow from brain responses: a low-dimensional flow basis, ridge, end-point error.

A flow field ``(2, H, W)`` (channel 0 = dx, 1 = dy, pixels; see
:mod:`neuroperception.stimuli.flow_fields`) has far more numbers than a motion area has independent
signals, so :class:`FlowDecoder` maps responses to the ``K`` coefficients of a :class:`FlowBasis`
(principal components of the training flows, or fixed low-frequency 2-D cosines) with the package's
ridge solver (:class:`~neuroperception.encoding.RidgeCV`, one alpha per coefficient), then turns
predicted coefficients back into flows. Decoded flows are scored by the end-point error (EPE, pixels;
lower is better) against a shuffle baseline (the same predictions paired with the wrong stimuli)
and the zero-flow prediction (:func:`flow_decoding_report`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._validation import check_alignment, check_responses, describe
from ..encoding.ridge import RidgeCV
from ..errors import InputError, ShapeError
from ..stimuli.flow_fields import endpoint_error
from .flow_basis import FlowBasis, _as_flows, _labelled_flows

__all__ = ["FlowDecoder"]



class FlowDecoder(BaseEstimator):
    """Decode optical flow from responses: ridge to the coefficients of a :class:`FlowBasis`.

    The basis is fitted on the training flows, each coefficient gets its own ridge alpha chosen by
    cross-validation (:class:`~neuroperception.encoding.RidgeCV`, fitted as ``ridge_``), and
    predicted coefficients are decoded back into flows.

    ``score`` returns the **negative** mean end-point error (pixels), so that higher is better as
    scikit-learn's model selection expects (as its ``neg_mean_squared_error``); use
    :meth:`endpoint_error` for the EPE itself (lower is better).

    Parameters
    ----------
    n_components : int, default 16
        Basis size ``K``.
    basis : {"pca", "dct"}
        Kind of :class:`FlowBasis`.
    alphas : array-like of float, optional
        Ridge grid (default that of :class:`~neuroperception.encoding.RidgeCV`).
    cv : int or splitter, default 5
        Folds used to choose alpha.

    Attributes
    ----------
    basis_ : FlowBasis
    ridge_ : neuroperception.encoding.RidgeCV
        Fitted responses → coefficients; ``ridge_.best_alphas_`` holds one alpha per component.
    n_features_in_ : int
        Number of voxels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> coefs = rng.normal(size=(40, 2))
    >>> flows = coefs[:, :, None, None] * np.ones((40, 2, 6, 6))      # uniform translations
    >>> responses = coefs @ rng.normal(size=(2, 30)) + 0.01 * rng.normal(size=(40, 30))
    >>> dec = FlowDecoder(n_components=2, alphas=[0.01, 1.0]).fit(responses, flows)
    >>> dec.predict(responses).shape, dec.score(responses, flows) > -0.05
    ((40, 2, 6, 6), True)
    """

    def __init__(self, n_components=16, basis="pca", alphas=None, cv=5):
        self.n_components = n_components
        self.basis = basis
        self.alphas = alphas
        self.cv = cv

    def fit(self, X: Any, y: Any) -> FlowDecoder:
        """Fit the basis on the flows ``y`` and ridge from the responses ``X`` to their coefficients.

        Parameters
        ----------
        X : xarray.DataArray, numpy.ndarray or torch.Tensor
            Responses ``("stimulus", "voxel")``.
        y : xarray.DataArray, numpy.ndarray or torch.Tensor
            Flows ``("stimulus", "axis", "y", "x")`` with ``axis = ["dx", "dy"]``, or ``(N, 2, H, W)``.
            Matched to ``X`` by ``stimulus_id`` when both carry ids, by position when neither does
            (ids on one side only are an error).

        Returns
        -------
        FlowDecoder
            ``self``.

        Raises
        ------
        ShapeError
            Flows not ``(N, 2, H, W)``, responses not ``(stimulus, voxel)``.
        AlignmentError
            Different stimulus ids or counts, or ids on one side only.
        InputError
            NaN/Inf values, bad parameters.
        """
        X, values = self._aligned(X, y)
        self.basis_ = FlowBasis(self.n_components, kind=self.basis).fit(values)
        self.ridge_ = RidgeCV(alphas=self.alphas, cv=self.cv).fit(X, self.basis_.encode(values))
        self.n_features_in_ = X.shape[1]
        return self

    def _aligned(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        resp = check_responses(X, name="X")
        values, labelled = _as_flows(y, "y")
        resp, target = check_alignment(resp, labelled if labelled is not None else values, names=["X", "y"])
        return np.asarray(resp.values), _as_flows(target, "y")[0]

    def predict(self, X: Any) -> np.ndarray | torch.Tensor | xr.DataArray:
        """Decoded flows: a ``("stimulus", "axis", "y", "x")`` DataArray (with the responses' stimulus
        coordinates) for DataArray responses, a float32 array or tensor ``(N, 2, H, W)`` otherwise.

        Examples
        --------
        >>> resp = xr.DataArray(np.random.default_rng(0).normal(size=(20, 5)), dims=("stimulus", "voxel"),
        ...                     coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(20)])})
        >>> flows = xr.DataArray(resp.values[:, :2, None, None] * np.ones((20, 2, 4, 4)),
        ...                      dims=("stimulus", "axis", "y", "x"), coords={"stimulus_id": resp["stimulus_id"]})
        >>> pred = FlowDecoder(n_components=2, alphas=[0.1]).fit(resp, flows).predict(resp)
        >>> pred.dims, pred["axis"].values.tolist(), str(pred["stimulus_id"].values[0])
        (('stimulus', 'axis', 'y', 'x'), ['dx', 'dy'], 's0')
        """
        check_is_fitted(self, "ridge_")
        resp = check_responses(X, name="X")
        if resp.sizes["voxel"] != self.n_features_in_:
            raise ShapeError(f"X: received {describe(resp)}; expected {self.n_features_in_} voxels as in fit")
        flows = self.basis_.decode(self.ridge_.predict(np.asarray(resp.values)))
        if isinstance(X, xr.DataArray):
            return _labelled_flows(flows, resp, name="decoded flow")
        if isinstance(X, torch.Tensor):
            return torch.from_numpy(flows)
        return flows

    def endpoint_error(self, X: Any, y: Any) -> np.ndarray:
        """End-point error (pixels, lower is better) of the flows decoded from ``X`` against ``y``, per stimulus.

        ``X`` and ``y`` are matched as in :meth:`fit`.

        Examples
        --------
        >>> X = np.random.default_rng(0).normal(size=(20, 3)); flows = X[:, :2, None, None] * np.ones((20, 2, 4, 4))
        >>> dec = FlowDecoder(n_components=2, alphas=[1e-6]).fit(X, flows)
        >>> bool(dec.endpoint_error(X, flows).max() < 1e-3), dec.endpoint_error(X, flows).shape
        (True, (20,))
        """
        check_is_fitted(self, "ridge_")
        pred = self.predict(X)
        pred, true = check_alignment(pred, y if isinstance(y, xr.DataArray) else _as_flows(y, "y")[0],
                                     names=["X", "y"])
        return endpoint_error(_as_flows(pred)[0], _as_flows(true, "y")[0]).numpy()

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """**Negative** mean end-point error in pixels (higher is better, 0 is perfect).

        ``X`` are the responses and ``y`` the true flows, matched as in :meth:`fit`.
        """
        if sample_weight is not None:
            raise InputError("sample_weight: received weights; expected None (weighted scores are not supported)")
        return -float(np.mean(self.endpoint_error(X, y)))
