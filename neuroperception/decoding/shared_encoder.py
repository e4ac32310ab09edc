"""``SharedSpaceEncoder``: one shared feature→latent ridge map, per-subject readouts latent→voxels.

The encoding counterpart of :class:`~neuroperception.decoding.SharedSpaceDecoder`. A shared
response model fitted on the stimuli every subject saw gives each subject a basis ``W_i``; one
:class:`~neuroperception.encoding.RidgeCV` maps the features to the shared latent (fitted on every
stimulus any subject saw, the shared-space responses of the subjects that saw it averaged), and
subject ``i``'s readout ``W_iᵀ`` takes the predicted latent into its voxels. A new subject gets its
own readout with the shared map frozen (:meth:`SharedSpaceEncoder.adapt`): from the fitted shared
stimuli (the SRM's Procrustes update) or, from any stimuli with features, a ridge regression of
its voxels on the latent the frozen map predicts (``n_components`` weights per voxel instead of
one per feature).

It lives on the decoding layer because it builds on :mod:`neuroperception.alignment`, which the
encoding layer may not import.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator

from .._docs import fill_doc
from .._validation import check_alignment
from ..alignment._inputs import new_subject
from ..encoding import RidgeCV
from ..errors import InputError, ShapeError
from ._shared_space import SharedSpaceInputs

__all__ = ["SharedSpaceEncoder"]


def _ids(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da["stimulus_id"].values).astype(str)


@fill_doc
class SharedSpaceEncoder(SharedSpaceInputs, BaseEstimator):
    """Predict several subjects' voxels from features through one shared latent space.

    Fitting takes features labelled by ``stimulus_id`` and a :class:`~neuroperception.data.Subjects`:

    1. each subject's voxels are z-scored (``standardize``) over the stimuli it saw;
    2. a :class:`~neuroperception.alignment.SharedResponseModel` with ``n_components`` is fitted on
       the stimuli every subject saw; subject ``i``'s shared-space response is
       ``z = ((x − mean_i) / scale_i) W_i`` and its **readout** is ``W_iᵀ`` (``component × voxel``);
    3. one **shared map** (:class:`~neuroperception.encoding.RidgeCV`, one alpha per component by
       ``cv``-fold search over ``alphas``) predicts ``z`` from the features, fitted on every stimulus
       that some subject saw and that has features; a stimulus several subjects saw contributes the
       mean of their shared-space responses, one row per stimulus.

    A subject's predicted responses are ``(map(features) B_i + b_i) · scale_i + mean_i`` with
    ``B_i = W_iᵀ``, ``b_i = 0`` for fitted subjects. :meth:`adapt` adds a subject with the shared map
    frozen.

    Parameters
    ----------
    n_components : int
        Dimension of the shared space (at most the number of stimuli all subjects saw and every
        subject's voxel count).
    n_iter : int
        Alternations of the shared response model.
    standardize : bool
        z-score every subject's voxels with the statistics of the stimuli it was fitted (or adapted) on.
    alphas : array-like of float, optional
        Ridge penalties searched by the shared map and by :meth:`adapt`'s readouts (default
        :data:`~neuroperception.encoding.DEFAULT_ALPHAS`).
    cv : int or scikit-learn splitter
        Folds of the alpha searches (an int is an unshuffled ``KFold``; :meth:`adapt` uses
        ``min(cv, n)`` folds for ``n`` stimuli).
    %(random_state)s
        It draws the shared response model's initial bases.

    Attributes
    ----------
    subjects_ : list of str
        The subjects fitted, then those added by :meth:`adapt`.
    srm_ : SharedResponseModel
        The shared response model on the standardised responses.
    map_ : RidgeCV
        The shared map, features to shared latent.
    readout_ : dict of str to xarray.DataArray
        Per subject ``B_i`` ``("component", "voxel")`` with the subject's voxel coordinates.
    intercept_ : dict of str to numpy.ndarray
        Per subject ``b_i`` ``(voxel,)`` in standardised units.
    mean_, scale_ : dict of str to numpy.ndarray
        Per subject the voxel offsets and scales.
    adapt_alpha_ : dict of str to numpy.ndarray
        Per subject adapted with features, the penalty chosen for each voxel's readout.
    n_features_in_ : int
        Number of features the shared map takes.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroperception.data import simulate_subjects
    >>> rng = np.random.default_rng(0)
    >>> f = xr.DataArray(rng.standard_normal((300, 16)), dims=("stimulus", "feature"))
    >>> sim = simulate_subjects(f, n_subjects=3, n_voxels=80, n_components=8, snr=2.0, shared=0.5)
    >>> f = f.assign_coords(stimulus_id=sim.shared_latent["stimulus_id"])
    >>> enc = SharedSpaceEncoder(n_components=8).fit(f, sim.subjects.select(subject=["subj01", "subj02"]))
    >>> new = sim.subjects["subj03"]
    >>> enc = enc.adapt(f, new.isel(stimulus=slice(0, 40)))
    >>> pred = enc.predict(f, subject="subj03")
    >>> pred.dims, pred.shape == (300, new.sizes["voxel"])
    (('stimulus', 'voxel'), True)
    """

    _features_arg = "X"

    def __init__(self, n_components=10, n_iter=20, standardize=True, alphas=None, cv=5, random_state=0):
        self.n_components = n_components
        self.n_iter = n_iter
        self.standardize = standardize
        self.alphas = alphas
        self.cv = cv
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "map_"):
            raise InputError("SharedSpaceEncoder: received an unfitted encoder; expected fit(X, y) first")

    def _latent(self, X: Any, name: str = "X") -> tuple[xr.DataArray, np.ndarray]:
        feats = self._features(X, name)
        if feats.sizes["feature"] != self.n_features_in_:
            raise ShapeError(f"{name}: received {feats.sizes['feature']} features; expected the "
                             f"{self.n_features_in_} features of the shared map")
        return feats, np.asarray(self.map_.predict(np.asarray(feats.values, dtype=np.float64)), dtype=np.float64)

    def _readout(self, w: np.ndarray, da: xr.DataArray) -> xr.DataArray:
        coords = {c: (("voxel",), np.asarray(da[c].values)) for c in da.coords if da[c].dims == ("voxel",)}
        return xr.DataArray(w, dims=("component", "voxel"), coords={**coords, "component": np.arange(w.shape[0])},
                            name="readout")

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> SharedSpaceEncoder:
        """Fit the readouts (SRM on the shared stimuli) and the shared map (ridge on all subjects' stimuli).

        Parameters
        ----------
        X : xarray.DataArray
            Features ``("stimulus", "feature")`` with ``stimulus_id``, one row per stimulus.
        y : Subjects or mapping of str to xarray.DataArray
            Subject → ``("stimulus", "voxel")`` responses with ``stimulus_id`` (repeats are averaged).
            The shared response model uses the stimuli every subject saw (at least
            ``n_components``); the shared map every stimulus some subject saw that has features.

        Returns
        -------
        SharedSpaceEncoder

        Raises
        ------
        AlignmentError
            Subjects that share no stimulus, features that share no stimulus with a subject,
            duplicated ids.
        InputError
            Fewer shared stimuli or voxels than ``n_components``, unlabelled input, bad settings.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(40)]
        >>> f = xr.DataArray(rng.normal(size=(40, 3)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(f.values @ rng.normal(size=(3, 10)), ids) for s in ("a", "b")}
        >>> SharedSpaceEncoder(n_components=3).fit(f, subs).readout_["b"].shape
        (3, 10)
        """
        features = self._features(X)
        alphas = self._alphas()
        responses, srm = self._fit_srm(y, "y")
        names = self.subjects_
        k = srm.shared_response_.sizes["component"]
        self.readout_ = {s: self._readout(srm.basis_[s].values.T, srm.basis_[s]) for s in names}
        self.intercept_ = {s: np.zeros(srm.basis_[s].sizes["voxel"]) for s in names}
        feature_ids = _ids(features)
        sums = np.zeros((feature_ids.size, k))
        counts = np.zeros(feature_ids.size)
        position = {i: p for p, i in enumerate(feature_ids)}
        for s in names:
            da, _ = check_alignment(responses[s], features, names=[f"y[{s!r}]", "X"], how="inner")
            z = ((da.values.astype(np.float64) - self.mean_[s]) / self.scale_[s]) @ srm.basis_[s].values
            rows = np.array([position[i] for i in _ids(da)])
            np.add.at(sums, rows, z)
            np.add.at(counts, rows, 1)
        seen = counts > 0
        self.map_ = RidgeCV(alphas=alphas, cv=self.cv, dtype="float64").fit(
            np.asarray(features.values, dtype=np.float64)[seen], sums[seen] / counts[seen, None])
        self.n_features_in_ = int(features.sizes["feature"])
        return self

    # ------------------------------------------------------------------ adapt
    def adapt(self, X: Any, y: Any, subject: str | None = None) -> SharedSpaceEncoder:
        """Add a new subject: fit only its readout, the shared map and every fitted readout frozen.

        - **with features** ``X``: the new subject's responses ``y`` to any stimuli of ``X`` (at least
          3). Its readout is a :class:`~neuroperception.encoding.RidgeCV` (one alpha per voxel among
          ``alphas``, ``min(cv, n)`` folds) of its z-scored voxels on the latent that the frozen map
          predicts from the features: ``n_components`` weights per voxel.
        - **without features** (``X=None``): responses to the fitted shared stimuli (at least
          ``n_components`` of them); the readout is ``Wᵀ`` of the shared response model's update for a
          new subject (:meth:`SharedResponseModel.adapt`, a Procrustes map onto the fitted shared
          response).

        Parameters
        ----------
        X : xarray.DataArray or None
            Features ``("stimulus", "feature")`` with ``stimulus_id``, of the shared map's size.
        y : xarray.DataArray
            The new subject's ``("stimulus", "voxel")`` responses with ``stimulus_id``.
        subject : str, optional
            The new subject's name; read from ``y``'s ``subject`` coordinate when omitted.

        Returns
        -------
        SharedSpaceEncoder

        Raises
        ------
        InputError
            An unfitted encoder, a subject already there, unlabelled input, too few stimuli.
        ShapeError
            Features of another size than the shared map's.
        AlignmentError
            No stimulus shared by ``X`` and ``y`` (or, without features, no fitted shared stimulus).

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(40)]
        >>> f = xr.DataArray(rng.normal(size=(40, 3)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(f.values @ rng.normal(size=(3, 10)), ids) for s in ("a", "b")}
        >>> enc = SharedSpaceEncoder(n_components=3).fit(f, subs)
        >>> new = make_responses(f.values @ rng.normal(size=(3, 7)), ids)
        >>> enc.adapt(None, new[:20], subject="c").adapt(f, new[:20], subject="d").subjects_
        ['a', 'b', 'c', 'd']
        """
        self._check_fitted()
        subject = new_subject(y, subject, self.subjects_)
        da = self._responses(y, "y")
        if X is None:
            da, _ = check_alignment(da, self.srm_.shared_response_, names=["y", "shared stimuli of fit"], how="inner")
            mean, scale = self._stats(da.values.astype(np.float64))
            srm = copy.copy(self.srm_)  # adapt() replaces its dicts: the fitted model stays as it was
            srm.adapt(da.copy(data=(da.values.astype(np.float64) - mean) / scale), subject=subject)
            readout = self._readout(srm.basis_[subject].values.T, da)
            intercept = np.zeros(da.sizes["voxel"])
            mean = mean + scale * srm.mean_[subject]
            alpha = None
        else:
            feats, _ = self._latent(X)
            da, feats = check_alignment(da, feats, names=["y", "X"], how="inner")
            n = da.sizes["stimulus"]
            if n < 3:
                raise InputError(f"y: received {n} stimuli with features; expected at least 3 to fit a readout")
            latent = np.asarray(self.map_.predict(np.asarray(feats.values, dtype=np.float64)), dtype=np.float64)
            x = da.values.astype(np.float64)
            mean, scale = self._stats(x)
            folds = min(int(self.cv), n) if isinstance(self.cv, (int, np.integer)) and not isinstance(self.cv, bool) \
                else self.cv
            ridge = RidgeCV(alphas=self._alphas(), cv=folds, dtype="float64").fit(latent, (x - mean) / scale)
            readout = self._readout(np.asarray(ridge.coef_, dtype=np.float64).T, da)
            intercept = np.asarray(ridge.intercept_, dtype=np.float64)
            alpha = np.asarray(ridge.best_alphas_, dtype=np.float64)
        self.subjects_ = [*self.subjects_, subject]
        self.readout_ = {**self.readout_, subject: readout}
        self.intercept_ = {**self.intercept_, subject: intercept}
        self.mean_ = {**self.mean_, subject: mean}
        self.scale_ = {**self.scale_, subject: scale}
        if alpha is not None:
            self.adapt_alpha_ = {**self.adapt_alpha_, subject: alpha}
        return self

    # ------------------------------------------------------------------ predict
    def transform(self, X: Any) -> xr.DataArray:
        """The shared latent the map predicts from features.

        Parameters
        ----------
        X : xarray.DataArray
            Features ``("stimulus", "feature")`` with ``stimulus_id``.

        Returns
        -------
        xarray.DataArray
            ``("stimulus", "component")`` with ``X``'s stimulus coordinates.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(30)]
        >>> f = xr.DataArray(rng.normal(size=(30, 2)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(rng.normal(size=(30, 6)), ids) for s in ("a", "b")}
        >>> SharedSpaceEncoder(n_components=2).fit(f, subs).transform(f).dims
        ('stimulus', 'component')
        """
        self._check_fitted()
        feats, latent = self._latent(X)
        coords = {key: (("stimulus",), np.asarray(c.values)) for key, c in feats.coords.items()
                  if c.dims == ("stimulus",)}
        return xr.DataArray(latent, dims=("stimulus", "component"),
                            coords={**coords, "component": np.arange(latent.shape[1])}, name="shared latent")

    def predict(self, X: Any, subject: str | None = None) -> xr.DataArray:
        """A subject's predicted responses: the shared map, then the subject's readout.

        Parameters
        ----------
        X : xarray.DataArray
            Features ``("stimulus", "feature")`` with ``stimulus_id``; the subject need not have seen
            the stimuli.
        subject : str
            A fitted or adapted subject.

        Returns
        -------
        xarray.DataArray
            ``("stimulus", "voxel")`` with ``X``'s stimulus coordinates and the subject's voxel
            coordinates; ``attrs["subject"]`` names the subject.

        Raises
        ------
        InputError
            An unknown subject, an unfitted encoder.
        ShapeError
            Features of another size than the shared map's.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(30)]
        >>> f = xr.DataArray(rng.normal(size=(30, 2)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(rng.normal(size=(30, 6)), ids) for s in ("a", "b")}
        >>> SharedSpaceEncoder(n_components=2).fit(f, subs).predict(f, subject="b").shape
        (30, 6)
        """
        self._check_fitted()
        if not isinstance(subject, str) or subject not in self.readout_:
            raise InputError(f"subject: received {subject!r}; expected one of the fitted or adapted subjects "
                             f"{self.subjects_} (adapt() adds a new subject)")
        z = self.transform(X)
        readout = self.readout_[subject]
        x = (z.values @ readout.values + self.intercept_[subject]) * self.scale_[subject] + self.mean_[subject]
        coords = {key: (("stimulus",), np.asarray(c.values)) for key, c in z.coords.items() if c.dims == ("stimulus",)}
        coords.update({key: (("voxel",), np.asarray(c.values)) for key, c in readout.coords.items()
                       if c.dims == ("voxel",)})
        return xr.DataArray(x, dims=("stimulus", "voxel"), coords=coords, name="predicted responses",
                            attrs={"subject": subject})

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean Pearson correlation over voxels between a subject's predicted and measured responses.

        The subject is read from ``y``'s ``subject`` coordinate; ``X`` and ``y`` are matched by
        ``stimulus_id``.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(60)]
        >>> f = xr.DataArray(rng.normal(size=(60, 4)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(f.values @ rng.normal(size=(4, 20)), ids, subject=s) for s in ("a", "b")}
        >>> bool(SharedSpaceEncoder(n_components=4, alphas=[1e-3]).fit(f, subs).score(f, subs["a"]) > 0.99)
        True
        """
        if sample_weight is not None:
            raise InputError("sample_weight: received weights; expected None (weighted scores are not supported)")
        da = self._responses(y, "y")
        subject = None
        if "subject" in da.coords:
            found = sorted(set(np.asarray(da["subject"].values).astype(str).ravel().tolist()))
            subject = found[0] if len(found) == 1 else found
        feats, da = check_alignment(self._features(X), da, names=["X", "y"], how="inner")
        pred = self.predict(feats, subject=subject).values
        a = pred - pred.mean(0)
        b = da.values - da.values.mean(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (a * b).sum(0) / np.sqrt((a ** 2).sum(0) * (b ** 2).sum(0))
        return float(np.nanmean(r))
