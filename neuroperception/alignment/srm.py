"""The shared response model: every subject's voxels as an orthonormal map of one shared latent response."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator

from .._docs import fill_doc
from .._validation import check_alignment, check_random_state, describe
from ..errors import InputError, ShapeError
from . import _inputs
from ._inputs import new_subject
from ._solvers import polar_factor, srm

__all__ = ["SharedResponseModel"]


@fill_doc
class SharedResponseModel(BaseEstimator):
    """Deterministic shared response model (SRM) fitted on the stimuli every subject saw.

    Each subject's centred responses are modelled as ``X_i ≈ S W_iᵀ``: one shared response ``S``
    ``(stimulus, component)`` for all subjects and, per subject, a basis ``W_i`` ``(voxel, component)``
    with orthonormal columns. Fitting alternates the two exact minimisers of
    ``Σ_i ‖X_i − S W_iᵀ‖²_F`` (each ``W_i`` by orthogonal Procrustes, ``S`` as the mean of the
    ``X_i W_i``) from random orthonormal bases, as the deterministic SRM of Chen et al. (2015,
    brainiak's ``DetSRM``, whose optimum it reaches: the tests compare the reconstructions).
    :meth:`transform` takes any stimuli of a subject into the shared space, :meth:`inverse_transform`
    takes shared responses back into a subject's voxels, so one subject's responses predict
    another's.

    Parameters
    ----------
    n_components : int
        Dimension of the shared space (at most every subject's voxel count and the number of shared
        stimuli).
    n_iter : int
        Alternations.
    %(random_state)s
        It draws the initial bases.

    Attributes
    ----------
    subjects_ : list of str
        The subjects fitted.
    basis_ : dict of str to xarray.DataArray
        Per subject ``("voxel", "component")`` ``W_i``, with the subject's voxel coordinates.
    mean_ : dict of str to numpy.ndarray
        Per subject the voxel means over the shared stimuli (removed before projecting).
    shared_response_ : xarray.DataArray
        ``("stimulus", "component")`` ``S`` on the shared stimuli, with their ``stimulus_id``.
    objective_ : list of float
        ``Σ_i ‖X_i − S W_iᵀ‖²_F`` after each iteration (non-increasing).

    Examples
    --------
    Three simulated subjects share a 6-dimensional latent response; SRM finds a shared space from
    which one subject predicts another:

    >>> import numpy as np, xarray as xr
    >>> from neuroperception.data import simulate_subjects
    >>> f = xr.DataArray(np.random.default_rng(0).standard_normal((120, 12)), dims=("stimulus", "feature"))
    >>> sim = simulate_subjects(f, n_subjects=3, n_voxels=60, n_components=6, snr=2.0, shared=0.6)
    >>> train = sim.subjects.select(stimulus_id=sim.shared_stimuli)
    >>> srm_ = SharedResponseModel(n_components=6).fit(train)
    >>> srm_.shared_response_.shape
    (72, 6)
    >>> shared = srm_.transform(train["subj01"], subject="subj01")
    >>> pred = srm_.inverse_transform(shared, subject="subj02")
    >>> pred.dims, pred.sizes["voxel"] == train["subj02"].sizes["voxel"]
    (('stimulus', 'voxel'), True)
    """

    def __init__(self, n_components: int = 10, n_iter: int = 20, random_state: Any = 0):
        self.n_components = n_components
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> SharedResponseModel:
        """Fit the shared space on the stimuli that every subject of ``X`` saw.

        Parameters
        ----------
        X : Subjects or mapping of str to xarray.DataArray
            Subject → ``("stimulus", "voxel")`` responses with ``stimulus_id`` (repeats are averaged).
            Only the ids every subject holds are used; each subject's other stimuli are ignored.
        y : None
            Unused (scikit-learn's convention for unsupervised estimators).

        Returns
        -------
        SharedResponseModel

        Raises
        ------
        AlignmentError
            Subjects that share no stimulus.
        InputError
            Fewer shared stimuli or voxels than ``n_components``, bad settings.

        Examples
        --------
        >>> import numpy as np
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> subs = {s: make_responses(rng.normal(size=(20, 8)), [f"i{k}" for k in range(20)]) for s in "ab"}
        >>> m = SharedResponseModel(n_components=3, n_iter=5).fit(subs)
        >>> bool(np.all(np.diff(m.objective_) <= 1e-9)), m.basis_["a"].shape
        (True, (8, 3))
        """
        if isinstance(self.n_components, bool) or not isinstance(self.n_components, (int, np.integer)) \
                or self.n_components < 1:
            raise InputError(f"n_components: received {describe(self.n_components)}; expected a positive int")
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, (int, np.integer)) or self.n_iter < 1:
            raise InputError(f"n_iter: received {describe(self.n_iter)}; expected a positive int")
        rng = check_random_state(self.random_state)
        subjects = _inputs.subjects_of(X)
        names = list(subjects)
        arrays = [_inputs.responses(subjects[s], f"X[{s!r}]") for s in names]
        arrays = list(check_alignment(*arrays, names=[f"X[{s!r}]" for s in names], how="inner"))
        k = int(self.n_components)
        n_shared = arrays[0].sizes["stimulus"]
        if n_shared < k:
            raise InputError(f"X: received {n_shared} stimuli shared by all subjects {names}; expected at least "
                             f"n_components={k}")
        small = {s: a.sizes["voxel"] for s, a in zip(names, arrays) if a.sizes["voxel"] < k}
        if small:
            raise InputError(f"X: received subjects with fewer voxels than n_components={k}: {small}; expected at "
                             "least as many voxels as components")
        data = [a.values.astype(np.float64, copy=False) for a in arrays]
        means = [d.mean(0) for d in data]
        bases, shared, objective = srm([d - m for d, m in zip(data, means)], k, int(self.n_iter), rng)
        component = np.arange(k)
        self.subjects_ = names
        self.mean_ = dict(zip(names, means))
        self.basis_ = {s: xr.DataArray(w, dims=("voxel", "component"),
                                       coords={**_inputs.voxel_coords(a), "component": component}, name=f"basis {s}")
                       for s, w, a in zip(names, bases, arrays)}
        self.shared_response_ = xr.DataArray(shared, dims=("stimulus", "component"),
                                             coords={**_inputs.stimulus_coords(arrays[0]), "component": component},
                                             name="shared response")
        self.objective_ = objective
        return self

    def adapt(self, X: Any, subject: str | None = None) -> SharedResponseModel:
        """Add a new subject: fit only its basis, on the fitted shared stimuli it saw, the shared response frozen.

        The basis is the orthogonal Procrustes map from the new subject's centred responses to the
        rows of :attr:`shared_response_` of the same stimuli (``W = polar(Xᵀ S)``), the update every
        subject gets inside :meth:`fit`; nothing fitted before changes. The subject can then be
        transformed into the shared space and predicted from any other subject.

        Parameters
        ----------
        X : xarray.DataArray
            ``("stimulus", "voxel")`` responses of the new subject with ``stimulus_id``; the stimuli
            among the fitted shared ones are used (at least ``n_components`` of them), the others
            ignored.
        subject : str, optional
            The new subject's name; read from ``X``'s ``subject`` coordinate when omitted.

        Returns
        -------
        SharedResponseModel

        Raises
        ------
        InputError
            An unfitted model, a subject already fitted, responses without ``stimulus_id``, or fewer
            shared stimuli than ``n_components`` or voxels than ``n_components``.
        AlignmentError
            None of the fitted shared stimuli among ``X``'s.

        Examples
        --------
        >>> import numpy as np
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(20)]
        >>> subs = {s: make_responses(rng.normal(size=(20, 8)), ids) for s in ("a", "b")}
        >>> m = SharedResponseModel(n_components=3).fit(subs)
        >>> m.adapt(make_responses(rng.normal(size=(12, 6)), ids[:12]), subject="c").subjects_
        ['a', 'b', 'c']
        """
        if not hasattr(self, "basis_"):
            raise InputError("SharedResponseModel: received an unfitted model; expected fit(X) first")
        subject = new_subject(X, subject, self.subjects_)
        da = _inputs.responses(X, "X")
        if "stimulus_id" not in da.coords:
            raise InputError("X: received responses without stimulus_id; expected ids to find the fitted shared "
                             "stimuli among them")
        da, shared = check_alignment(da, self.shared_response_, names=["X", "shared_response_"], how="inner")
        k = self.shared_response_.sizes["component"]
        if da.sizes["stimulus"] < k or da.sizes["voxel"] < k:
            raise InputError(f"X: received {da.sizes['stimulus']} of the fitted shared stimuli and "
                             f"{da.sizes['voxel']} voxels; expected at least n_components={k} of each")
        x = da.values.astype(np.float64, copy=False)
        mean = x.mean(0)
        basis = polar_factor(x.T @ shared.values - np.outer(mean, shared.values.sum(0)))
        self.subjects_ = [*self.subjects_, subject]
        self.mean_ = {**self.mean_, subject: mean}
        self.basis_ = {**self.basis_, subject: xr.DataArray(
            basis, dims=("voxel", "component"), coords={**_inputs.voxel_coords(da), "component": np.arange(k)},
            name=f"basis {subject}")}
        return self

    def _subject(self, subject: Any, X: Any = None) -> str:
        if not hasattr(self, "basis_"):
            raise InputError("SharedResponseModel: received an unfitted model; expected fit(X) first")
        if subject is None and isinstance(X, xr.DataArray) and "subject" in X.coords:
            found = sorted(set(np.asarray(X["subject"].values).astype(str).ravel().tolist()))
            subject = found[0] if len(found) == 1 else found
        if not isinstance(subject, str) or subject not in self.basis_:
            raise InputError(f"subject: received {subject!r}; expected one of the fitted subjects {self.subjects_}")
        return subject

    def transform(self, X: Any, subject: str | None = None) -> Any:
        """Project responses into the shared space: ``(X_i − mean_i) W_i``.

        Parameters
        ----------
        X : xarray.DataArray, numpy.ndarray, Subjects or mapping
            One subject's ``("stimulus", "voxel")`` responses (any stimuli, the fitted voxels), or
            several subjects' (a dict of results is returned).
        subject : str, optional
            Whose responses ``X`` are; read from ``X``'s ``subject`` coordinate when omitted.

        Returns
        -------
        xarray.DataArray or dict of str to xarray.DataArray
            ``("stimulus", "component")`` with ``X``'s stimulus coordinates.

        Examples
        --------
        >>> import numpy as np
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> subs = {s: make_responses(rng.normal(size=(20, 8)), [f"i{k}" for k in range(20)], subject=s)
        ...         for s in ("a", "b")}
        >>> m = SharedResponseModel(n_components=3).fit(subs)
        >>> m.transform(subs["b"]).dims, sorted(m.transform(subs))
        (('stimulus', 'component'), ['a', 'b'])
        """
        if not isinstance(X, (xr.DataArray, np.ndarray)) and not hasattr(X, "detach"):
            subjects = _inputs.subjects_of(X)
            return {s: self.transform(subjects[s], subject=s) for s in subjects}
        subject = self._subject(subject, X)
        da = _inputs.responses(X, "X")
        basis = self.basis_[subject]
        if da.sizes["voxel"] != basis.sizes["voxel"]:
            raise ShapeError(f"X: received {da.sizes['voxel']} voxels; expected the {basis.sizes['voxel']} voxels "
                             f"subject {subject!r} was fitted with")
        values = (da.values.astype(np.float64) - self.mean_[subject]) @ basis.values
        return xr.DataArray(values, dims=("stimulus", "component"),
                            coords={**_inputs.stimulus_coords(da), "component": basis["component"].values},
                            name="shared response", attrs={"subject": subject})

    def inverse_transform(self, X: Any, subject: str | None = None) -> Any:
        """Map shared responses into a subject's voxels: ``S W_iᵀ + mean_i``.

        Parameters
        ----------
        X : xarray.DataArray or numpy.ndarray
            ``("stimulus", "component")`` shared responses (as :meth:`transform` returns them).
        subject : str, optional
            Whose voxels to predict; None predicts every fitted subject (a dict).

        Returns
        -------
        xarray.DataArray or dict of str to xarray.DataArray
            ``("stimulus", "voxel")`` with ``X``'s stimulus coordinates and the subject's voxel coordinates.

        Examples
        --------
        >>> import numpy as np
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> subs = {s: make_responses(rng.normal(size=(20, n)), [f"i{k}" for k in range(20)]) for s, n in
        ...         (("a", 8), ("b", 5))}
        >>> m = SharedResponseModel(n_components=3).fit(subs)
        >>> m.inverse_transform(m.shared_response_, subject="b").shape
        (20, 5)
        """
        if subject is None:
            if not hasattr(self, "basis_"):
                raise InputError("SharedResponseModel: received an unfitted model; expected fit(X) first")
            return {s: self.inverse_transform(X, subject=s) for s in self.subjects_}
        subject = self._subject(subject)
        basis = self.basis_[subject]
        if isinstance(X, xr.DataArray):
            if X.dims != ("stimulus", "component"):
                raise ShapeError(f"X: received dims {X.dims}; expected ('stimulus', 'component')")
            coords, values = _inputs.stimulus_coords(X), X.values
        else:
            values, coords = np.asarray(X), {}
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != basis.sizes["component"]:
            raise ShapeError(f"X: received {describe(values)}; expected (stimulus, {basis.sizes['component']}) "
                             "shared responses")
        out = values @ basis.values.T + self.mean_[subject]
        return xr.DataArray(out, dims=("stimulus", "voxel"), coords={**coords, **_inputs.voxel_coords(basis)},
                            name="responses", attrs={"source": "neuroperception.alignment.SharedResponseModel",
                                                     "subject": subject})
