"""``RidgeCV``: voxelwise ridge regression with a fast cross-validated choice of alpha per voxel.

The class validates, dispatches to :func:`neuroperception.encoding._solvers.solve_ridge_cv` and
stores the fitted attributes; all of the maths lives in the solver functions.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from .._docs import fill_doc
from .._progress import check_progress
from .._validation import describe
from ..errors import InputError, ShapeError
from . import scoring
from ._backend import get_backend
from ._inputs import TargetReader, align, as_targets, check_features, score_pair
from ._solvers import CV_SCORES, solve_ridge_cv

__all__ = ["RidgeCV", "DEFAULT_ALPHAS"]

DEFAULT_ALPHAS = np.logspace(-2, 6, 17)
_SOLVERS = ("auto", "primal", "kernel")
_SEARCHES = ("coarse_to_fine", "exhaustive")


@fill_doc
class RidgeCV(RegressorMixin, BaseEstimator):
    """Ridge regression with alpha chosen per target (voxel) by K-fold cross-validation.

    Minimises ``||Y - X W' - b||^2 + alpha ||W||^2`` for every target, with ``alpha`` taken from a
    grid by the mean over folds of the held-out score. Per fold the Gram (or kernel) matrix is
    eigendecomposed once, the training cross-products are obtained by downdating ``X'Y``, and each
    alpha costs one matrix product and one in-place error pass; the grid is searched coarse to fine.
    Targets are processed in chunks of ``voxel_chunk`` columns, so a lazily loaded (zarr/NetCDF)
    DataArray is read one chunk at a time.

    Parameters
    ----------
    alphas : array-like of float, optional
        Positive regularisation strengths; default ``numpy.logspace(-2, 6, 17)``.
    cv : int or scikit-learn splitter, default 5
        An int is an unshuffled ``KFold(cv)`` (as in scikit-learn); any object with ``split(X)``
        works (``ShuffleSplit``, ``GroupKFold`` with fixed groups...).
    fit_intercept : bool, default True
        Centre X and Y with each training fold's means (and with all samples for the refit).
    alpha_per_target : bool, default True
        One alpha per target; ``False`` picks the alpha with the best score averaged over targets.
    solver : {"auto", "primal", "kernel"}
        Eigendecompose the ``p x p`` Gram matrix (primal) or the ``n x n`` kernel (kernel form);
        ``"auto"`` takes primal when ``n_features <= n_samples``. Both give the same answers.
    backend : {"auto", "numpy", "torch"}
        ``"auto"``: torch on a CUDA GPU if present, else numpy.
    %(device)s
        Torch backend only: under ``backend="auto"`` without a GPU the solver runs in numpy.
    dtype : {"float32", "float64"}
        Working precision (the Gram eigendecompositions are always float64).
    score_func : {"neg_mse", "r2"}
        Score whose mean over folds selects alpha: negative mean squared error (as scikit-learn's
        and himalaya's defaults) or R^2.
    search : {"coarse_to_fine", "exhaustive"}
        Coarse-to-fine evaluates about half of a 17-alpha grid and falls back to the full grid for
        any target whose evaluated curve is not unimodal; ``"exhaustive"`` evaluates every alpha.
    voxel_chunk : int, default 4096
        Targets processed at once (memory: about ``(n_folds + 1) * n_features * voxel_chunk``
        working-precision numbers).
    %(progress)s
        The bar runs over target chunks.

    Attributes
    ----------
    best_alphas_ : numpy.ndarray
        ``(n_targets,)`` chosen alpha per target.
    coef_ : numpy.ndarray
        ``(n_targets, n_features)``, as scikit-learn.
    intercept_ : numpy.ndarray
        ``(n_targets,)``.
    cv_scores_ : numpy.ndarray
        ``(n_alphas, n_targets)`` mean CV score of each alpha (in the order of ``alphas``); NaN
        for alphas the coarse-to-fine search did not need.
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5)); Y = X @ rng.normal(size=(5, 3)) + 0.1 * rng.normal(size=(60, 3))
    >>> model = RidgeCV(alphas=[0.01, 1.0, 100.0], dtype="float64").fit(X, Y)
    >>> model.coef_.shape, model.best_alphas_.tolist(), round(model.score(X, Y), 3)
    ((3, 5), [0.01, 0.01, 0.01], 0.997)
    """

    def __init__(self, alphas=None, cv=5, fit_intercept=True, alpha_per_target=True, solver="auto",
                 backend="auto", device=None, dtype="float32", score_func="neg_mse", search="coarse_to_fine",
                 voxel_chunk=4096, progress=None):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.alpha_per_target = alpha_per_target
        self.solver = solver
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.score_func = score_func
        self.search = search
        self.voxel_chunk = voxel_chunk
        self.progress = progress

    # ------------------------------------------------------------------ checks
    def _checked_alphas(self) -> np.ndarray:
        raw = DEFAULT_ALPHAS if self.alphas is None else self.alphas
        try:
            alphas = np.atleast_1d(np.asarray(raw, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise InputError(f"alphas: received {raw!r}; expected positive numbers") from err
        if alphas.ndim != 1 or alphas.size == 0:
            raise InputError(f"alphas: received {describe(alphas)}; expected a non-empty 1-D list of positive numbers")
        if not np.isfinite(alphas).all() or (alphas <= 0).any():
            raise InputError(f"alphas: received {describe(alphas)}; expected finite values > 0")
        if np.unique(alphas).size != alphas.size:
            raise InputError(f"alphas: received duplicated values {describe(alphas)}; expected distinct values")
        return alphas

    def _splits(self, n_samples: int) -> list[tuple[np.ndarray, np.ndarray]]:
        cv = self.cv
        if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
            if cv < 2:
                raise InputError(f"cv: received {cv}; expected at least 2 folds")
            if cv > n_samples:
                raise InputError(f"cv: received {cv} folds for {n_samples} samples; expected at most one fold "
                                 "per sample")
            cv = KFold(int(cv))
        elif not hasattr(cv, "split"):
            raise InputError(f"cv: received {type(cv).__name__}; expected an int or a splitter with split(X)")
        try:
            splits = [(np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64))
                      for tr, te in cv.split(np.zeros((n_samples, 1)))]
        except ValueError as err:
            raise InputError(f"cv: {cv!r} cannot split {n_samples} samples: {err}") from err
        if not splits:
            raise InputError(f"cv: received {cv!r}, which made no splits; expected at least one")
        for k, (tr, te) in enumerate(splits):
            if tr.size < 2 or te.size == 0:
                raise InputError(f"cv: split {k} has {tr.size} training and {te.size} test samples; expected at "
                                 "least 2 and 1")
        return splits

    def _check_params(self) -> None:
        for name, value, allowed in (("solver", self.solver, _SOLVERS), ("score_func", self.score_func, CV_SCORES),
                                     ("search", self.search, _SEARCHES)):
            if value not in allowed:
                raise InputError(f"{name}: received {value!r}; expected one of {list(allowed)}")
        if not isinstance(self.voxel_chunk, numbers.Integral) or self.voxel_chunk < 1:
            raise InputError(f"voxel_chunk: received {self.voxel_chunk!r}; expected a positive int")

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> RidgeCV:
        """Choose alpha per target by cross-validation, then refit on all samples.

        Parameters
        ----------
        X : array-like or xarray.DataArray
            ``(stimulus, feature)``.
        y : array-like or xarray.DataArray
            ``(stimulus, voxel)`` responses; a DataArray may be lazily loaded (zarr/NetCDF/dask): it
            is read ``voxel_chunk`` voxels at a time. Matched to ``X`` by ``stimulus_id`` when both
            carry ids, by position when neither does (ids on one side only are an error).

        Returns
        -------
        RidgeCV
            ``self``.

        Raises
        ------
        InputError
            NaN/Inf values, non-positive alphas, bad parameters, more folds than samples.
        ShapeError
            X or y not 2-D (a single target must be ``y[:, None]``).
        AlignmentError
            Different numbers of samples, stimulus ids that differ between X and y, or ids on one
            of them only.
        """
        self._check_params()
        alphas = self._checked_alphas()
        X_values, X_labelled = check_features(X)
        targets = as_targets(y)
        X_values, targets = align(X_values, X_labelled, targets)
        n, p = X_values.shape
        splits = self._splits(n)
        backend = get_backend(self.backend, self.device, self.dtype)
        form = self.solver if self.solver != "auto" else ("primal" if p <= n else "kernel")
        out = solve_ridge_cv(X_values, TargetReader(targets), alphas, splits, backend,
                             fit_intercept=bool(self.fit_intercept), form=form, score=self.score_func,
                             exhaustive=self.search == "exhaustive", alpha_per_target=bool(self.alpha_per_target),
                             voxel_chunk=int(self.voxel_chunk), progress=check_progress(self.progress))
        self.best_alphas_ = out["best_alphas"]
        self.coef_ = out["coef"]
        self.intercept_ = out["intercept"]
        self.cv_scores_ = out["cv_scores"]
        self.n_features_in_ = p
        self.solver_ = form
        self.n_alpha_evaluations_ = out["n_alpha_evaluations"]
        if hasattr(X, "columns") and all(isinstance(c, str) for c in X.columns):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self._feature_labels = (np.asarray(X_labelled[X_labelled.dims[1]].values)
                                if X_labelled is not None and X_labelled.dims[1] in X_labelled.coords else None)
        self._voxel_coords = ({k: (c.dims, np.asarray(c.values)) for k, c in targets.coords.items()
                               if c.dims == ("voxel",)} if isinstance(targets, xr.DataArray) else None)
        return self

    # ------------------------------------------------------------------ predict / score
    def predict(self, X: Any) -> np.ndarray | xr.DataArray:
        """Predicted responses ``(stimulus, voxel)``.

        A DataArray ``X`` gives a DataArray that keeps ``X``'s stimulus coordinates
        (``stimulus_id``) and the voxel coordinates of the training ``Y`` (``roi``, ``x/y/z``...).

        Examples
        --------
        >>> X = xr.DataArray(np.eye(3), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ["a", "b", "c"])})
        >>> Y = xr.DataArray(np.eye(3)[:, :2], dims=("stimulus", "voxel"),
        ...                  coords={"stimulus_id": ("stimulus", ["a", "b", "c"]), "roi": ("voxel", ["V1", "V2"])})
        >>> pred = RidgeCV(alphas=[1.0], cv=3).fit(X, Y).predict(X)
        >>> pred.dims, pred["roi"].values.tolist(), pred["stimulus_id"].values.tolist()
        (('stimulus', 'voxel'), ['V1', 'V2'], ['a', 'b', 'c'])
        """
        check_is_fitted(self, "coef_")
        values, labelled = check_features(X)
        if values.shape[1] != self.n_features_in_:
            raise ShapeError(f"X: received {describe(values)}; X has {values.shape[1]} features, but RidgeCV is "
                             f"expecting {self.n_features_in_} features as input (as in fit)")
        if labelled is not None and self._feature_labels is not None and labelled.dims[1] in labelled.coords:
            if not np.array_equal(np.asarray(labelled[labelled.dims[1]].values), self._feature_labels):
                raise InputError(f"X: received {labelled.dims[1]} labels that differ from those seen in fit; "
                                 "expected the same features in the same order")
        pred = values @ self.coef_.T + self.intercept_  # float64 X gives float64 predictions
        if labelled is None:
            return pred
        coords = {k: c for k, c in labelled.coords.items() if c.dims == ("stimulus",)}
        if self._voxel_coords:
            coords.update(self._voxel_coords)
        return xr.DataArray(pred, dims=("stimulus", "voxel"), coords=coords, name="predicted")

    def voxel_scores(self, X: Any, y: Any, metric: str = "r") -> np.ndarray | xr.DataArray:
        """Per-voxel score of the predictions for ``X`` against ``y``: ``"r"`` or ``"r2"``.

        Labelled ``y`` gives a DataArray ``(voxel,)`` with ``y``'s voxel coordinates; ``X`` and
        ``y`` are matched as in :meth:`fit`.

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> X = rng.normal(size=(50, 4)); Y = X[:, :2] * [1.0, -1.0]
        >>> RidgeCV(alphas=[1e-3], dtype="float64").fit(X, Y).voxel_scores(X, Y).round(4).tolist()
        [1.0, 1.0]
        """
        targets, pred = score_pair(self.predict(X), y)
        return scoring.voxel_scores(targets, pred, metric)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean over targets of R^2 (scikit-learn's ``r2_score`` with uniform averaging).

        ``y`` are the responses ``(stimulus, voxel)``, matched to ``X`` as in :meth:`fit`.

        Examples
        --------
        >>> X = np.arange(10.0)[:, None]; Y = np.hstack([2 * X, -X])
        >>> round(RidgeCV(alphas=[1e-6], cv=2).fit(X, Y).score(X, Y), 6)
        1.0
        """
        if sample_weight is not None:
            raise InputError("sample_weight: received weights; expected None (weighted scores are not supported)")
        targets, pred = score_pair(self.predict(X), y)
        return float(np.mean(np.asarray(scoring.r2_score(targets, pred))))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Targets are always 2-D (stimulus, voxel): a single target is Y[:, None].
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags
