"""``RidgeDecoder``: a linear map from voxel responses to a feature space, fitted with ``RidgeCV``.

The decoder is the encoding ridge solver run the other way round: responses are the regressors and
the stimulus features (CLIP image embeddings, a network layer...) the targets. One alpha is shared
by all feature dimensions by default (chosen by the mean cross-validated error over dimensions),
so the decoded embedding keeps its geometry; ``alpha_per_target=True`` gives each its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._docs import fill_doc
from .._validation import check_alignment, describe
from ..encoding.ridge import RidgeCV
from ..errors import AlignmentError, InputError, ShapeError
from ._inputs import decoding_data
from .retrieval import retrieval_accuracy

__all__ = ["RidgeDecoder"]


@fill_doc
class RidgeDecoder(BaseEstimator):
    """Decode a feature space from voxel responses with cross-validated ridge regression.

    Fits :class:`~neuroperception.encoding.RidgeCV` with ``X`` = responses ``(stimulus, voxel)``
    and ``Y`` = features ``(stimulus, feature)``; with ``standardize`` each voxel is z-scored with
    the training stimuli's mean and standard deviation first (voxels with zero variance are only
    centred).

    Parameters
    ----------
    alphas : array-like of float, optional
        Ridge penalties searched; default :data:`~neuroperception.encoding.DEFAULT_ALPHAS`.
    cv : int or scikit-learn splitter, default 5
        Folds of the alpha search (an int is an unshuffled ``KFold``).
    alpha_per_target : bool, default False
        One alpha per feature dimension instead of one shared by all.
    fit_intercept : bool, default True
    standardize : bool, default True
        z-score voxels with the training statistics.
    solver, backend, dtype, score_func, search, voxel_chunk :
        Passed to :class:`~neuroperception.encoding.RidgeCV` (``voxel_chunk`` counts feature
        dimensions here, the ridge targets).
    %(device)s
        Torch backend only, as in :class:`~neuroperception.encoding.RidgeCV`.

    Attributes
    ----------
    ridge_ : RidgeCV
        The fitted ridge model (on the standardised responses).
    best_alpha_ : float
        The shared alpha (the median alpha with ``alpha_per_target``).
    best_alphas_ : numpy.ndarray
        ``(n_features,)`` alpha per feature dimension.
    coef_ : numpy.ndarray
        ``(n_features, n_voxels)`` weights on the standardised responses.
    n_voxels_in_ : int
    voxel_ids_ : numpy.ndarray
        The ``voxel`` coordinate of the training responses (positions when they have none).
    rois_ : numpy.ndarray or None
        The ``roi`` label of every training voxel.
    feature_coords_ : dict
        Coordinates of the fitted features' ``feature`` dim, given back by :meth:`predict`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> features = rng.normal(size=(80, 4))
    >>> responses = features @ rng.normal(size=(4, 30)) + 0.1 * rng.normal(size=(80, 30))
    >>> decoder = RidgeDecoder(alphas=[0.1, 1.0, 10.0]).fit(responses[:60], features[:60])
    >>> decoder.predict(responses[60:]).shape, decoder.score(responses[60:], features[60:])
    ((20, 4), 1.0)
    """

    def __init__(self, alphas=None, cv=5, alpha_per_target=False, fit_intercept=True, standardize=True,
                 solver="auto", backend="auto", device=None, dtype="float32", score_func="neg_mse",
                 search="coarse_to_fine", voxel_chunk=4096):
        self.alphas = alphas
        self.cv = cv
        self.alpha_per_target = alpha_per_target
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.solver = solver
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.score_func = score_func
        self.search = search
        self.voxel_chunk = voxel_chunk

    def _ridge(self) -> RidgeCV:
        return RidgeCV(alphas=self.alphas, cv=self.cv, fit_intercept=self.fit_intercept,
                       alpha_per_target=self.alpha_per_target, solver=self.solver, backend=self.backend,
                       device=self.device, dtype=self.dtype, score_func=self.score_func, search=self.search,
                       voxel_chunk=self.voxel_chunk, progress=False)

    def fit(self, X: Any, y: Any) -> RidgeDecoder:
        """Fit the decoder on responses ``X`` and the features ``y`` of the same stimuli.

        Parameters
        ----------
        X : xarray.DataArray, numpy.ndarray or torch.Tensor
            Responses ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")`` (NaN-aware
            mean over repeats). A voxel subset (e.g. ``X.where(X.roi == "IT", drop=True)``) fits a
            decoder of that subset.
        y : xarray.DataArray, numpy.ndarray or torch.Tensor
            Features ``("stimulus", "feature")`` (maps ``("stimulus", ...)`` are flattened). Matched
            to ``X`` by ``stimulus_id`` when both carry ids, by position when neither does (ids on
            one side only are an error).

        Returns
        -------
        RidgeDecoder
            ``self``.

        Raises
        ------
        AlignmentError
            Responses and features with different stimuli, or ids on one side only.
        InputError, ShapeError
            NaN/Inf, wrong dims, bad parameters.
        """
        if not isinstance(self.standardize, (bool, np.bool_)):
            raise InputError(f"standardize: received {self.standardize!r}; expected True or False")
        data = decoding_data(X, y, names=("X", "y"))
        X = data.X.astype(np.float64)
        if self.standardize:
            mean = X.mean(0)
            scale = X.std(0)
            scale[scale <= 1e-12 * max(float(np.abs(X).max()), 1e-300)] = 1.0
        else:
            mean, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        ridge = self._ridge().fit((X - mean) / scale, data.Y)
        self.ridge_ = ridge
        self.mean_, self.scale_ = mean, scale
        self.best_alphas_ = np.asarray(ridge.best_alphas_, dtype=np.float64)
        self.best_alpha_ = float(np.median(self.best_alphas_))
        self.coef_ = ridge.coef_
        self.intercept_ = ridge.intercept_
        self.n_voxels_in_ = X.shape[1]
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = data.Y.shape[1]
        self.voxel_ids_ = np.asarray(data.voxel_coords.get("voxel", np.arange(X.shape[1])))
        self.rois_ = data.voxel_coords.get("roi")
        self.feature_coords_ = data.feature_coords
        return self

    def predict(self, X: Any) -> np.ndarray | xr.DataArray:
        """Decoded features of new responses.

        Parameters
        ----------
        X : xarray.DataArray, numpy.ndarray or torch.Tensor
            Responses ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")``, the voxels
            of ``fit`` in the same order.

        Returns
        -------
        numpy.ndarray or xarray.DataArray
            ``(stimulus, feature)``; a DataArray (with the responses' ``stimulus_id`` and the fitted
            features' coordinates) for labelled responses.

        Raises
        ------
        ShapeError
            A different number of voxels than in ``fit``.
        AlignmentError
            ``roi`` labels that differ from those seen in ``fit``.

        Examples
        --------
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> r = make_responses(rng.normal(size=(20, 6)), [f"s{i}" for i in range(20)], roi="V1")
        >>> f = xr.DataArray(r.values[:, :2], dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": r["stimulus_id"], "feature": ["a", "b"]})
        >>> pred = RidgeDecoder(alphas=[1.0]).fit(r, f).predict(r)
        >>> pred.dims, pred["feature"].values.tolist(), str(pred["stimulus_id"].values[0])
        (('stimulus', 'feature'), ['a', 'b'], 's0')
        """
        check_is_fitted(self, "ridge_")
        data = decoding_data(X, names=("X", "y"))
        if data.X.shape[1] != self.n_voxels_in_:
            raise ShapeError(f"X: received {describe(data.X)}; expected {self.n_voxels_in_} voxels as in fit")
        roi = data.voxel_coords.get("roi")
        if roi is not None and self.rois_ is not None and not np.array_equal(roi.astype(str), self.rois_.astype(str)):
            raise AlignmentError("X: received roi labels that differ from those seen in fit; expected the "
                                 "same voxels in the same order")
        pred = ((data.X - self.mean_) / self.scale_) @ self.coef_.T + self.intercept_
        if not data.labelled:
            return pred
        coords = {k: ("stimulus", v) for k, v in data.stimulus_coords.items()}
        coords.update({k: ("feature", v) for k, v in self.feature_coords_.items()})
        return xr.DataArray(pred, dims=("stimulus", "feature"), coords=coords, name="decoded")

    def transform(self, X: Any) -> np.ndarray | xr.DataArray:
        """Same as :meth:`predict` (the decoded embedding, for pipelines)."""
        return self.predict(X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean top-1 brain→image retrieval accuracy of responses ``X`` among the features ``y`` (cosine).

        Chance is ``1 / n_stimuli``. ``X`` and ``y`` are matched as in :meth:`fit`.

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> f = rng.normal(size=(50, 3)); r = f @ rng.normal(size=(3, 12))
        >>> RidgeDecoder(alphas=[0.01]).fit(r, f).score(r, f)
        1.0
        """
        if sample_weight is not None:
            raise InputError("sample_weight: received weights; expected None (weighted scores are not supported)")
        pred, y = check_alignment(self.predict(X), y, names=["X", "y"])
        table = retrieval_accuracy(pred, y, k=1, direction="brain_to_image", metric="cosine")
        return float(table["top-1"].iloc[0])
