"""``BandedRidgeCV``: one ridge penalty per feature space (band) per voxel, searched on the simplex.

Banded ridge minimises ``||Y - sum_b X_b W_b' - c||^2 + sum_b alpha_b ||W_b||^2`` per voxel. Writing
``alpha_b = alpha / gamma_b`` with ``gamma`` on the simplex, it is plain ridge with penalty ``alpha``
on the scaled features ``[sqrt(gamma_1) X_1, ..., sqrt(gamma_B) X_B]``. So, as himalaya's
``GroupRidgeCV`` does, each candidate ``gamma`` (Dirichlet samples, then a refinement around each
voxel's best) is evaluated with the existing cross-validated ridge solver
(:mod:`neuroperception.encoding._solvers`, which picks ``alpha`` per voxel on the grid), and each
voxel keeps the candidate with the best CV score. Every choice is made per voxel, so fitting the
voxels in blocks (on dask workers) gives the same answer as one fit.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._docs import fill_doc
from .._progress import check_progress
from .._validation import check_alignment, describe, seed_from
from ..errors import InputError, ShapeError
from . import scoring
from ._backend import get_backend
from ._banded_search import dirichlet_candidates, solve_banded_ridge_cv
from ._inputs import TargetReader, align, as_targets, check_features, score_pair
from .ridge import RidgeCV

__all__ = ["BandedRidgeCV", "dirichlet_candidates"]  # solve_banded_ridge_cv: re-exported from _banded_search


# ---------------------------------------------------------------------------------------- inputs
def _bands(Xs: Any, name: str = "X") -> tuple[list[str], list[np.ndarray], list[xr.DataArray | None]]:
    """Names, values and labelled arrays of the feature spaces, aligned by ``stimulus_id``."""
    if isinstance(Xs, Mapping):
        names, items = [str(k) for k in Xs], list(Xs.values())
    elif isinstance(Xs, (list, tuple)):
        names, items = [f"band{k}" for k in range(len(Xs))], list(Xs)
    else:
        raise InputError(f"{name}: received {describe(Xs)}; expected a list or dict of feature spaces "
                         "(stimulus, feature), one per band")
    if not items:
        raise InputError(f"{name}: received no feature space; expected at least one")
    checked = [check_features(x, name=f"{name}[{n!r}]") for n, x in zip(names, items)]
    given = [lab if lab is not None else v for v, lab in checked]
    aligned = check_alignment(*given, names=[f"{name}[{n!r}]" for n in names])
    values = [v if a is g else np.asarray(a.values, dtype=v.dtype) for (v, _), a, g in zip(checked, aligned, given)]
    labelled = [a if lab is not None else None for (_, lab), a in zip(checked, aligned)]
    return names, values, labelled


def _stacked(values: list[np.ndarray]) -> np.ndarray:
    dtype = np.result_type(*values)
    return np.concatenate([v.astype(dtype, copy=False) for v in values], axis=1)


# ---------------------------------------------------------------------------------------- estimator
@fill_doc
class BandedRidgeCV(RegressorMixin, BaseEstimator):
    """Banded (group) ridge: one regularisation per feature space and voxel, cross-validated.

    The penalty of band ``b`` is ``alpha / gamma_b`` with ``gamma`` on the simplex. Candidates
    ``gamma`` are the uniform point and Dirichlet samples (as himalaya's ``GroupRidgeCV``), then
    ``n_refine`` points around each voxel's best candidate (each weight multiplied by
    ``exp(refine_scale * z)``, ``z`` standard normal, renormalised). For every candidate the global
    ``alpha`` is chosen per voxel on the ``alphas`` grid by the cross-validated ridge solver
    shared with :class:`RidgeCV`; each voxel keeps the candidate with the best mean CV score.

    Parameters
    ----------
    alphas : array-like of float, optional
        Grid of the global alpha; default ``numpy.logspace(-2, 6, 17)``.
    n_iter : int or array-like, default 20
        Number of random candidates, or the candidates themselves ``(n_candidates, n_bands)``
        (rows are normalised to sum to 1).
    concentration : float or sequence of float, default (0.1, 1.0)
        Dirichlet concentrations, cycled through.
    n_refine : int, default 5
        Refinement points around each voxel's best random candidate (0: none).
    refine_scale : float, default 1.0
        Spread of the refinement in log band weight.
    cv, fit_intercept, solver, backend, dtype, score_func, search, voxel_chunk
        As :class:`RidgeCV`.
    %(device)s
        Torch backend only, as in :class:`RidgeCV`.
    %(random_state)s
        It seeds the candidates and their refinement (a Generator or None: through one seed drawn at
        each fit).
    %(progress)s

    Attributes
    ----------
    best_alphas_ : numpy.ndarray
        ``(n_bands, n_targets)`` penalty of each band per voxel (``alpha / gamma``; ``inf`` for a
        band switched off by a zero weight).
    band_weights_ : numpy.ndarray
        ``(n_bands, n_targets)`` chosen ``gamma``.
    global_alphas_ : numpy.ndarray
        ``(n_targets,)`` chosen ``alpha``.
    coef_ : numpy.ndarray
        ``(n_targets, n_features)``, bands concatenated in order.
    intercept_ : numpy.ndarray
    cv_scores_ : numpy.ndarray
        ``(n_candidates, n_targets)`` mean CV score of each random candidate at its best alpha.
    best_cv_scores_ : numpy.ndarray
        ``(n_targets,)`` CV score of the chosen point (refinement included).
    candidates_ : numpy.ndarray
        ``(n_candidates, n_bands)`` random candidates.
    band_names_ : list of str
    n_features_in_ : int

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.normal(size=(80, 5)), rng.normal(size=(80, 5))
    >>> Y = A @ rng.normal(size=(5, 3)) + 0.1 * rng.normal(size=(80, 3))
    >>> model = BandedRidgeCV(n_iter=10, random_state=0).fit({"A": A, "B": B}, Y)
    >>> model.best_alphas_.shape, bool((model.band_weights_[0] > 0.9).all())
    ((2, 3), True)
    >>> model.split_scores({"A": A, "B": B}, Y).sel(band="B").values.round(2).tolist()
    [0.0, 0.0, 0.0]
    """

    def __init__(self, alphas=None, n_iter=20, concentration=(0.1, 1.0), n_refine=5, refine_scale=1.0, cv=5,
                 fit_intercept=True, solver="auto", backend="auto", device=None, dtype="float32",
                 score_func="neg_mse", search="coarse_to_fine", voxel_chunk=4096, random_state=0, progress=None):
        self.alphas = alphas
        self.n_iter = n_iter
        self.concentration = concentration
        self.n_refine = n_refine
        self.refine_scale = refine_scale
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.score_func = score_func
        self.search = search
        self.voxel_chunk = voxel_chunk
        self.random_state = random_state
        self.progress = progress

    def _candidates(self, n_bands: int, seed: int) -> np.ndarray:
        if isinstance(self.n_iter, numbers.Integral) and not isinstance(self.n_iter, bool):
            if self.n_iter < 1:
                raise InputError(f"n_iter: received {self.n_iter}; expected a positive int or candidate points")
            return dirichlet_candidates(1 if n_bands == 1 else int(self.n_iter), n_bands, self.concentration, seed)
        cand = np.asarray(self.n_iter, dtype=np.float64)
        if cand.ndim != 2 or cand.shape[1] != n_bands or cand.shape[0] < 1:
            raise InputError(f"n_iter: received {describe(cand)}; expected an int or ({'n_candidates'}, {n_bands}) "
                             "band weights")
        if not np.isfinite(cand).all() or (cand < 0).any() or (cand.sum(1) <= 0).any():
            raise InputError("n_iter: received candidate weights that are negative, non-finite or all zero; "
                             "expected non-negative weights per band")
        return cand / cand.sum(1, keepdims=True)

    def _check_params(self) -> None:
        RidgeCV._check_params(self)
        if not isinstance(self.n_refine, numbers.Integral) or isinstance(self.n_refine, bool) or self.n_refine < 0:
            raise InputError(f"n_refine: received {self.n_refine!r}; expected a non-negative int")
        if not isinstance(self.refine_scale, numbers.Real) or not self.refine_scale > 0:
            raise InputError(f"refine_scale: received {self.refine_scale!r}; expected a positive number")

    def fit(self, X: Any, y: Any) -> BandedRidgeCV:
        """Search the band weights and alpha per voxel by cross-validation, then refit.

        Parameters
        ----------
        X : list or dict of array-like / xarray.DataArray
            Feature spaces ``(stimulus, feature)``, one per band, on the same stimuli; dict keys
            name the bands.
        y : array-like or xarray.DataArray
            ``(stimulus, voxel)`` responses. Bands and responses are matched by ``stimulus_id``
            when all carry ids, by position when none does (ids on some only are an error).

        Returns
        -------
        BandedRidgeCV

        Raises
        ------
        InputError, ShapeError, AlignmentError
            As :meth:`RidgeCV.fit`, and for a single array instead of a list or dict of bands.
        """
        self._check_params()
        seed = seed_from(self.random_state)
        alphas = RidgeCV._checked_alphas(self)
        names, values, labelled = _bands(X)
        stacked = _stacked(values)
        targets = as_targets(y)
        _, targets = align(values[0], labelled[0], targets, names=("X", "y"))  # y to the bands' stimulus order
        n, p = stacked.shape
        splits = RidgeCV._splits(self, n)
        backend = get_backend(self.backend, self.device, self.dtype)
        form = self.solver if self.solver != "auto" else ("primal" if p <= n else "kernel")
        edges = np.cumsum([0] + [v.shape[1] for v in values])
        slices = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        candidates = self._candidates(len(values), seed)
        out = solve_banded_ridge_cv(stacked, TargetReader(targets), slices, candidates, alphas, splits, backend,
                                    n_refine=int(self.n_refine), refine_scale=float(self.refine_scale),
                                    random_state=seed, fit_intercept=bool(self.fit_intercept),
                                    form=form, score=self.score_func, exhaustive=self.search == "exhaustive",
                                    voxel_chunk=int(self.voxel_chunk), progress=check_progress(self.progress))
        self.band_weights_ = out["gamma"]
        self.global_alphas_ = out["alpha"]
        with np.errstate(divide="ignore"):
            self.best_alphas_ = out["alpha"][None, :] / out["gamma"]
        self.coef_, self.intercept_ = out["coef"], out["intercept"]
        self.cv_scores_, self.best_cv_scores_ = out["cv_scores"], out["best_score"]
        self.candidates_ = candidates
        self.band_names_ = names
        self.band_slices_ = slices
        self.n_features_in_ = p
        self.solver_ = form
        self._voxel_coords = ({k: (c.dims, np.asarray(c.values)) for k, c in targets.coords.items()
                               if c.dims == ("voxel",)} if isinstance(targets, xr.DataArray) else None)
        return self

    # ------------------------------------------------------------------ predict / score
    def _test_bands(self, X: Any) -> tuple[list[np.ndarray], xr.DataArray | None]:
        check_is_fitted(self, "coef_")
        names, values, labelled = _bands(X)
        if len(values) != len(self.band_slices_):
            raise ShapeError(f"X: received {len(values)} bands; expected {len(self.band_slices_)} "
                             f"({self.band_names_}) as in fit")
        if isinstance(X, Mapping) and names != self.band_names_:
            raise InputError(f"X: received bands {names}; expected {self.band_names_} in that order, as in fit")
        for v, s, nm in zip(values, self.band_slices_, self.band_names_):
            if v.shape[1] != s.stop - s.start:
                raise ShapeError(f"X[{nm!r}]: received {describe(v)}; expected {s.stop - s.start} features as in fit")
        return values, labelled[0]

    def _label(self, values: np.ndarray, first: xr.DataArray | None, name: str) -> np.ndarray | xr.DataArray:
        if first is None:
            return values
        coords = {k: c for k, c in first.coords.items() if c.dims == ("stimulus",)}
        coords.update(self._voxel_coords or {})
        dims = ("stimulus", "voxel") if values.ndim == 2 else ("band", "stimulus", "voxel")
        if values.ndim == 3:
            coords["band"] = list(self.band_names_)
        return xr.DataArray(values, dims=dims, coords=coords, name=name)

    def predict(self, X: Any, split: bool = False) -> np.ndarray | xr.DataArray:
        """Predicted responses ``(stimulus, voxel)``; ``split=True``: per band ``(band, stimulus, voxel)``.

        The split predictions are ``X_b W_b'`` without the intercept (they sum to the prediction
        minus ``intercept_``). Labelled bands give DataArrays with the training voxel coordinates.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> Xs = [rng.normal(size=(40, 2)), rng.normal(size=(40, 3))]
        >>> m = BandedRidgeCV(n_iter=3, n_refine=0, cv=2).fit(Xs, Xs[0] @ np.ones((2, 1)))
        >>> m.predict(Xs).shape, m.predict(Xs, split=True).shape
        ((40, 1), (2, 40, 1))
        """
        values, first = self._test_bands(X)
        if split:
            parts = np.stack([v @ self.coef_[:, s].T for v, s in zip(values, self.band_slices_)])
            return self._label(parts, first, "predicted (split)")
        return self._label(_stacked(values) @ self.coef_.T + self.intercept_, first, "predicted")

    def voxel_scores(self, X: Any, y: Any, metric: str = "r") -> np.ndarray | xr.DataArray:
        """Per-voxel ``"r"`` or ``"r2"`` of the joint prediction (see :meth:`RidgeCV.voxel_scores`)."""
        targets, pred = score_pair(self.predict(X), y)
        return scoring.voxel_scores(targets, pred, metric)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean over voxels of R^2 of the joint prediction (scikit-learn convention)."""
        if sample_weight is not None:
            raise InputError("sample_weight: received weights; expected None (weighted scores are not supported)")
        targets, pred = score_pair(self.predict(X), y)
        return float(np.mean(np.asarray(scoring.r2_score(targets, pred))))

    def split_scores(self, X: Any, y: Any) -> xr.DataArray:
        """Each band's share of each voxel's R^2 (product measure, as himalaya's ``r2_score_split``).

        With ``y`` and the band predictions ``d_b`` centred over the stimuli of ``X``, band ``b``
        gets ``sum_s (2 y d_b - d_b sum_c d_c) / sum_s y^2``. The shares sum to the R^2 of the
        prediction once its mean is matched to the data's (the voxel's R^2 when the prediction
        is unbiased); a band that adds nothing gets about 0, and a share can be negative.

        Returns
        -------
        xarray.DataArray
            ``("band", "voxel")`` with band names and, for labelled ``Y``, its voxel coordinates.
        """
        values, first = self._test_bands(X)
        _, targets = align(values[0], first, as_targets(y), names=("X", "y"))
        y = np.asarray(TargetReader(targets)[:, 0:targets.shape[1]], dtype=np.float64)
        y = y - y.mean(0)
        parts = np.stack([v.astype(np.float64) @ self.coef_[:, s].T.astype(np.float64)
                          for v, s in zip(values, self.band_slices_)])
        parts -= parts.mean(1, keepdims=True)
        total = parts.sum(0)
        sst = (y * y).sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = np.einsum("bsv,sv->bv", parts, 2 * y - total) / sst
        shares = np.where(sst > 0, shares, np.nan)
        coords = {"band": list(self.band_names_)}
        if isinstance(targets, xr.DataArray):
            coords.update({k: c for k, c in targets.coords.items() if c.dims == ("voxel",)})
        return xr.DataArray(shares, dims=("band", "voxel"), coords=coords, name="split_r2")
