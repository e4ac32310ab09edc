"""Pairwise functional alignment: a map from one subject's voxels to another's, fitted on shared stimuli."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.linear_model import RidgeCV as _SkRidgeCV
from sklearn.metrics import r2_score

from .._validation import check_alignment, describe
from ..errors import InputError, ShapeError
from . import _inputs
from ._solvers import procrustes

__all__ = ["ProcrustesAlignment", "RidgeAlignment", "DEFAULT_ALIGNMENT_ALPHAS"]

#: The penalties :class:`RidgeAlignment` searches by default (fmralign's ``RidgeAlignment`` default).
DEFAULT_ALIGNMENT_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


class _PairwiseAlignment(BaseEstimator):
    """Shared machinery: ``fit(X, y)`` pairs source and target by ``stimulus_id``; labelled output."""

    def _store_target(self, X: xr.DataArray, y: xr.DataArray) -> None:
        self.n_source_voxels_ = int(X.sizes["voxel"])
        self.n_target_voxels_ = int(y.sizes["voxel"])
        self.target_coords_ = _inputs.voxel_coords(y)

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_target_voxels_"):
            raise InputError(f"{type(self).__name__}: received an unfitted estimator; expected fit(X, y) first")

    def _source(self, X: Any) -> xr.DataArray:
        self._check_fitted()
        X = _inputs.responses(X, "X")
        if X.sizes["voxel"] != self.n_source_voxels_:
            raise ShapeError(f"X: received {X.sizes['voxel']} voxels; expected the {self.n_source_voxels_} voxels "
                             "of the source subject the alignment was fitted on")
        return X

    def _labelled(self, values: np.ndarray, X: xr.DataArray) -> xr.DataArray:
        return xr.DataArray(values, dims=("stimulus", "voxel"),
                            coords={**_inputs.stimulus_coords(X), **self.target_coords_}, name="aligned responses",
                            attrs={"source": f"neuroperception.alignment.{type(self).__name__}"})

    def predict(self, X: Any) -> xr.DataArray:
        """The source responses ``X`` mapped into the target subject's voxels.

        Parameters
        ----------
        X : xarray.DataArray or numpy.ndarray
            ``("stimulus", "voxel")`` responses of the source subject (its voxels, in the order it
            was fitted on), of any stimuli.

        Returns
        -------
        xarray.DataArray
            ``("stimulus", "voxel")`` with ``X``'s stimulus coordinates and the target's voxel
            coordinates (``roi``, ``subject``, ``x/y/z``...).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(20, 4))
        >>> ProcrustesAlignment().fit(X, X[:, ::-1]).predict(X).shape
        (20, 4)
        """
        X = self._source(X)
        return self._labelled(self._map(X.values.astype(np.float64)), X)

    def score(self, X: Any, y: Any) -> float:
        """Mean over target voxels of R² between ``predict(X)`` and ``y`` (matched by ``stimulus_id``).

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(20, 3))
        >>> round(ProcrustesAlignment().fit(X, -X).score(X, -X), 6)
        1.0
        """
        pred, y = check_alignment(self.predict(X), _inputs.responses(y, "y"), names=["predict(X)", "y"])
        return float(r2_score(y.values, pred.values))


class ProcrustesAlignment(_PairwiseAlignment):
    """Orthogonal Procrustes alignment of one subject's voxels onto another's.

    Finds ``R`` with orthonormal rows or columns (``n_source_voxels × n_target_voxels``) and a scale
    ``s`` minimising ``‖s X R − Y‖_F`` on the stimuli both subjects saw: ``R`` is the polar factor of
    ``Xᵀ Y``, ``s = trace(Σ) / ‖X‖²_F`` where ``Σ`` holds the singular values of ``Xᵀ Y``. This is
    fmralign's ``Procrustes`` (``scaled_procrustes``), which the tests compare it with. The data are
    taken as they are (not centred): z-score each voxel first, as fmralign's maskers do.

    Parameters
    ----------
    scaling : bool
        Fit the scale ``s`` (True) or keep ``s = 1``.

    Attributes
    ----------
    rotation_ : numpy.ndarray
        ``(n_source_voxels, n_target_voxels)`` the map ``R``.
    scale_ : float
        ``s``.
    target_coords_ : dict
        The target's voxel coordinates, given to predictions.

    Examples
    --------
    A planted rotation is recovered exactly from noise-free data:

    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 6)); R = ortho_group.rvs(6, random_state=0)
    >>> model = ProcrustesAlignment().fit(X, 2.0 * X @ R)
    >>> bool(np.allclose(model.rotation_, R)), round(model.scale_, 6)
    (True, 2.0)
    """

    def __init__(self, scaling: bool = True):
        self.scaling = scaling

    def fit(self, X: Any, y: Any) -> ProcrustesAlignment:
        """Fit the map from source responses ``X`` to target responses ``y`` of the same stimuli.

        Parameters
        ----------
        X, y : xarray.DataArray or numpy.ndarray
            ``("stimulus", "voxel")`` responses of the source and the target subject (repeats are
            averaged). Labelled inputs are matched by ``stimulus_id`` and must hold the same ids
            (select the shared ones with :meth:`~neuroperception.data.Subjects.select`); unlabelled
            ones by position.

        Returns
        -------
        ProcrustesAlignment

        Raises
        ------
        AlignmentError
            Different or duplicated stimulus ids.
        InputError
            A source without any signal (all zeros), ``scaling`` not a bool.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(10, 3))
        >>> ProcrustesAlignment(scaling=False).fit(X, X).scale_
        1.0
        """
        if not isinstance(self.scaling, (bool, np.bool_)):
            raise InputError(f"scaling: received {describe(self.scaling)}; expected True or False")
        X, y = _inputs.pair(X, y)
        x, t = X.values.astype(np.float64, copy=False), y.values.astype(np.float64, copy=False)
        if not np.any(x) or not np.any(t):
            raise InputError("X, y: received all-zero responses; expected responses that vary (a Procrustes map "
                             "of zeros is undefined)")
        self.rotation_, self.scale_ = procrustes(x, t, scaling=bool(self.scaling))
        self._store_target(X, y)
        return self

    def _map(self, x: np.ndarray) -> np.ndarray:
        return self.scale_ * (x @ self.rotation_)


class RidgeAlignment(_PairwiseAlignment):
    """Ridge-regression alignment: every target voxel predicted from all source voxels.

    Minimises ``‖X M + b − Y‖²_F + α ‖M‖²_F`` with one ``α`` for all target voxels, chosen among
    ``alphas`` by leave-one-out (``cv=None``, the efficient closed form) or by ``cv``-fold
    cross-validated R², as fmralign's ``RidgeAlignment`` does (scikit-learn's ``RidgeCV`` fits it).

    Parameters
    ----------
    alphas : sequence of float
        Penalties to search (default :data:`DEFAULT_ALIGNMENT_ALPHAS`).
    cv : int or None
        Folds of the search; None for leave-one-out.

    Attributes
    ----------
    alpha_ : float
        The chosen penalty.
    coef_ : numpy.ndarray
        ``(n_source_voxels, n_target_voxels)`` the map ``M``.
    intercept_ : numpy.ndarray
        ``(n_target_voxels,)`` ``b``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 5)); M = rng.normal(size=(5, 7))
    >>> model = RidgeAlignment(alphas=[1e-3]).fit(X, X @ M)
    >>> bool(np.allclose(model.coef_, M, atol=1e-3))
    True
    """

    def __init__(self, alphas: Any = DEFAULT_ALIGNMENT_ALPHAS, cv: int | None = None):
        self.alphas = alphas
        self.cv = cv

    def fit(self, X: Any, y: Any) -> RidgeAlignment:
        """Fit the ridge map from source responses ``X`` to target responses ``y`` of the same stimuli.

        ``X`` and ``y`` are matched as in :meth:`ProcrustesAlignment.fit`.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(30, 4))
        >>> RidgeAlignment(cv=3).fit(X, X).coef_.shape
        (4, 4)
        """
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=float)) if self.alphas is not None else None
        if alphas is None or alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)) \
                or np.any(alphas <= 0):
            raise InputError(f"alphas: received {describe(self.alphas)}; expected positive penalties")
        if self.cv is not None and (isinstance(self.cv, bool) or not isinstance(self.cv, (int, np.integer))
                                    or self.cv < 2):
            raise InputError(f"cv: received {describe(self.cv)}; expected None (leave-one-out) or an int >= 2")
        X, y = _inputs.pair(X, y)
        kwargs = {} if self.cv is None else {"cv": int(self.cv), "scoring": "r2"}
        ridge = _SkRidgeCV(alphas=alphas, fit_intercept=True, **kwargs).fit(X.values.astype(np.float64),
                                                                             y.values.astype(np.float64))
        self.alpha_ = float(ridge.alpha_)
        self.coef_ = np.asarray(ridge.coef_, dtype=np.float64).T.reshape(X.sizes["voxel"], y.sizes["voxel"])
        self.intercept_ = np.asarray(ridge.intercept_, dtype=np.float64).reshape(y.sizes["voxel"])
        self._store_target(X, y)
        return self

    def _map(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef_ + self.intercept_
