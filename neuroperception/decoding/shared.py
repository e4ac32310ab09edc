"""``SharedSpaceDecoder``: per-subject linear adapters into one shared latent, one ridge head to features.

Every subject's voxels are taken into one shared space by its own linear adapter (a basis of the
shared response model fitted on the stimuli all subjects saw); one :class:`RidgeDecoder` head maps
the shared space to the features, fitted on the pooled shared-space responses of every subject to
every stimulus it saw. A new subject gets its own adapter with everything shared frozen
(:meth:`SharedSpaceDecoder.adapt`): from the fitted shared stimuli it saw (the SRM's Procrustes
update), or from any stimuli with their features (the adapter that minimises the decoding loss
through the frozen head, a closed-form ridge problem for the ridge head; for a contrastive head,
the adapter alone trained with the head's InfoNCE loss and training loop).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import BaseEstimator, clone

from .._docs import fill_doc
from .._validation import check_alignment, describe
from ..alignment._inputs import new_subject
from ..errors import InputError, ShapeError
from ._inputs import as_responses
from ._adapters import fit_adapter, train_adapter
from ._shared_space import SharedSpaceInputs
from .contrastive import ContrastiveDecoder
from .retrieval import retrieval_accuracy
from .ridge_decoder import RidgeDecoder

__all__ = ["SharedSpaceDecoder"]


@fill_doc
class SharedSpaceDecoder(SharedSpaceInputs, BaseEstimator):
    """Decode features from several subjects through one shared latent space and one shared ridge head.

    Fitting takes a :class:`~neuroperception.data.Subjects` and features labelled by ``stimulus_id``:

    1. each subject's voxels are z-scored (``standardize``) over the stimuli it saw;
    2. a :class:`~neuroperception.alignment.SharedResponseModel` with ``n_components`` is fitted on
       the stimuli every subject saw: its basis ``W_i`` is subject ``i``'s adapter, and subject ``i``'s
       shared-space response to any stimulus is ``z = ((x − mean_i) / scale_i) W_i``;
    3. one :class:`RidgeDecoder` head (no further standardisation, the alpha chosen by ``cv``-fold
       cross-validation over ``alphas``) maps ``z`` to the features, fitted on the shared-space
       responses of every subject to every stimulus it saw that has features (the rows of all
       subjects stacked).

    With one subject and ``n_components`` equal to its voxel count the adapter is an orthogonal
    rotation, to which ridge is blind: the decoder then equals ``RidgeDecoder`` with the same alphas
    and folds. With fewer components it equals ``RidgeDecoder(standardize=False)`` fitted on the
    subject's top ``n_components`` principal-component scores (of the z-scored responses): the
    one-subject SRM is the principal subspace.

    :meth:`adapt` adds a new subject with the head and every fitted adapter frozen.

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
        Ridge penalties searched by the head (default
        :data:`~neuroperception.encoding.DEFAULT_ALPHAS`), and, relative to the head's largest gain,
        by :meth:`adapt` with features.
    cv : int or scikit-learn splitter
        Folds of the head's alpha search (an int is an unshuffled ``KFold``); :meth:`adapt` with
        features uses ``min(cv, n)`` unshuffled folds when ``cv`` is an int, else 5.
    head : RidgeDecoder or ContrastiveDecoder, optional
        The shared head, unfitted (it is cloned). None: ``RidgeDecoder(alphas=alphas, cv=cv,
        standardize=False)``. A :class:`ContrastiveDecoder` trains with its own settings (InfoNCE,
        its training loop) on the pooled shared-space responses; :meth:`adapt` with features then
        trains the new adapter alone through it with the same loss, loop and settings.
    %(random_state)s
        It draws the shared response model's initial bases (a contrastive head and adapter are
        seeded by their own ``random_state``).

    Attributes
    ----------
    subjects_ : list of str
        The subjects fitted, then those added by :meth:`adapt`.
    srm_ : SharedResponseModel
        The shared response model on the standardised responses.
    head_ : RidgeDecoder or ContrastiveDecoder
        The fitted shared head, shared space to features.
    basis_ : dict of str to xarray.DataArray
        Per subject the adapter ``("voxel", "component")``, with the subject's voxel coordinates.
    mean_, scale_ : dict of str to numpy.ndarray
        Per subject the voxel offsets and scales applied before the adapter.
    offset_ : dict of str to numpy.ndarray
        Per subject a ``(component,)`` offset added after the adapter (zero for SRM adapters).
    adapt_alpha_ : dict of str to float
        The penalty chosen for subjects adapted with features through a ridge head.
    adapt_history_ : dict of str to pandas.DataFrame
        The training history of adapters trained through a contrastive head.
    n_outputs_ : int
        Number of features the head decodes.

    Examples
    --------
    Four simulated subjects share a latent space; a fifth is adapted from 40 of its stimuli:

    >>> import numpy as np, xarray as xr
    >>> from neuroperception.data import simulate_subjects
    >>> rng = np.random.default_rng(0)
    >>> f = xr.DataArray(rng.standard_normal((300, 16)), dims=("stimulus", "feature"))
    >>> sim = simulate_subjects(f, n_subjects=3, n_voxels=80, n_components=8, snr=2.0, shared=0.5)
    >>> features = sim.shared_latent.rename(component="feature")   # decode the planted latent itself
    >>> train = sim.subjects.select(subject=["subj01", "subj02"])
    >>> dec = SharedSpaceDecoder(n_components=8).fit(train, features)
    >>> new = sim.subjects["subj03"]
    >>> ids = new["stimulus_id"].values
    >>> dec = dec.adapt(new.isel(stimulus=slice(0, 40)), features)
    >>> pred = dec.predict(new.isel(stimulus=slice(40, None)))
    >>> pred.dims, pred.attrs["subject"]
    (('stimulus', 'feature'), 'subj03')
    >>> bool(dec.score(new.isel(stimulus=slice(40, None)), features.sel(stimulus=features.stimulus_id.isin(ids[40:]))) > 0.3)
    True
    """

    def __init__(self, n_components=10, n_iter=20, standardize=True, alphas=None, cv=5, head=None, random_state=0):
        self.n_components = n_components
        self.n_iter = n_iter
        self.standardize = standardize
        self.alphas = alphas
        self.cv = cv
        self.head = head
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            raise InputError("SharedSpaceDecoder: received an unfitted decoder; expected fit(X, y) first")

    def _subject(self, subject: Any, X: Any) -> str:
        self._check_fitted()
        if subject is None and isinstance(X, xr.DataArray) and "subject" in X.coords:
            found = sorted(set(np.asarray(X["subject"].values).astype(str).ravel().tolist()))
            subject = found[0] if len(found) == 1 else found
        if not isinstance(subject, str) or subject not in self.basis_:
            raise InputError(f"subject: received {subject!r}; expected one of the fitted or adapted subjects "
                             f"{self.subjects_} (or responses whose subject coordinate names one; adapt() adds a "
                             "new subject)")
        return subject

    def _head_linear(self) -> tuple[np.ndarray, np.ndarray]:
        """The frozen head as ``y = z a + c``: ``a`` ``(component, feature)``, ``c`` ``(feature,)``."""
        head = self.head_
        a = (head.coef_ / head.scale_[None, :]).T
        c = np.asarray(head.intercept_, dtype=np.float64) - (head.mean_ / head.scale_) @ head.coef_.T
        return np.asarray(a, dtype=np.float64), c

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> SharedSpaceDecoder:
        """Fit the adapters (SRM on the shared stimuli) and the shared head (ridge on all subjects' stimuli).

        Parameters
        ----------
        X : Subjects or mapping of str to xarray.DataArray
            Subject → ``("stimulus", "voxel")`` responses with ``stimulus_id`` (repeats are averaged).
            The shared response model uses the stimuli every subject saw (at least
            ``n_components``); the head uses every stimulus of every subject that has features.
        y : xarray.DataArray
            Features ``("stimulus", "feature")`` with ``stimulus_id``, one row per stimulus (shared
            stimuli once). Stimuli without features are used by the shared response model only.

        Returns
        -------
        SharedSpaceDecoder

        Raises
        ------
        AlignmentError
            Subjects that share no stimulus, features that share no stimulus with a subject,
            duplicated ids.
        InputError
            Fewer shared stimuli or voxels than ``n_components``, unlabelled responses or features,
            bad settings.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(40)]
        >>> f = xr.DataArray(rng.normal(size=(40, 3)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(f.values @ rng.normal(size=(3, 10)), ids) for s in ("a", "b")}
        >>> SharedSpaceDecoder(n_components=3).fit(subs, f).basis_["b"].shape
        (10, 3)
        """
        features = self._features(y)
        self._alphas()
        if self.head is None:
            head = RidgeDecoder(alphas=self.alphas, cv=self.cv, standardize=False)
        elif isinstance(self.head, (RidgeDecoder, ContrastiveDecoder)):
            head = clone(self.head)
        else:
            raise InputError(f"head: received {describe(self.head)}; expected None (a ridge head), an unfitted "
                             "RidgeDecoder or ContrastiveDecoder")
        responses, srm = self._fit_srm(X, "X")
        names = self.subjects_
        self.basis_ = dict(srm.basis_)
        k = srm.shared_response_.sizes["component"]
        self.offset_ = {s: np.zeros(k) for s in names}
        self.adapt_history_ = {}
        rows, targets = [], []
        for s in names:
            da, feats = check_alignment(responses[s], features, names=[f"X[{s!r}]", "y"], how="inner")
            rows.append(self._latent(da.values, s))
            targets.append(np.asarray(feats.values, dtype=np.float64))
        self.head_ = head.fit(np.concatenate(rows), np.concatenate(targets))
        self.feature_coords_ = {key: np.asarray(c.values) for key, c in features.coords.items()
                                if c.dims == ("feature",)}
        self.n_outputs_ = int(features.sizes["feature"])
        return self

    def _latent(self, x: np.ndarray, subject: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return ((x - self.mean_[subject]) / self.scale_[subject]) @ self.basis_[subject].values + self.offset_[subject]

    # ------------------------------------------------------------------ adapt
    def adapt(self, X: Any, y: Any = None, subject: str | None = None) -> SharedSpaceDecoder:
        """Add a new subject: fit only its adapter, the head and every fitted adapter frozen.

        Two routes, by the data the new subject brings:

        - **without features** (``y=None``): responses to the fitted shared stimuli (at least
          ``n_components`` of them). The adapter is the shared response model's update for a new
          subject (:meth:`SharedResponseModel.adapt`): the Procrustes map of its z-scored responses
          onto the fitted shared response of the same stimuli.
        - **with features** ``y``: responses to any stimuli (at least 3) and their features. The
          adapter ``W`` and an offset ``t`` minimise the decoding loss through the frozen head
          ``‖(X̃ W + t) a + c − Y‖² + λ ‖W‖²`` (``a``, ``c``: the head as a linear map; ``X̃``: the
          z-scored responses), in closed form; ``λ`` is chosen by cross-validation among ``alphas``
          times the head's largest squared gain. Through a :class:`ContrastiveDecoder` head, the
          adapter (a linear layer with bias) is trained alone, the head frozen, with the head's
          InfoNCE loss (at its learned temperature), training loop and settings (``lr``,
          ``max_epochs``, ``validation``...); ``adapt_history_`` keeps the history.

        Parameters
        ----------
        X : xarray.DataArray
            The new subject's ``("stimulus", "voxel")`` responses with ``stimulus_id``.
        y : xarray.DataArray, optional
            Features ``("stimulus", "feature")`` with ``stimulus_id``, of the head's feature count;
            the stimuli of ``X`` that have features are used.
        subject : str, optional
            The new subject's name; read from ``X``'s ``subject`` coordinate when omitted.

        Returns
        -------
        SharedSpaceDecoder

        Raises
        ------
        InputError
            An unfitted decoder, a subject already fitted, unlabelled input, too few stimuli.
        ShapeError
            Features of another size than the head's.
        AlignmentError
            No fitted shared stimulus (without features) or no stimulus with features among ``X``'s.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(40)]
        >>> f = xr.DataArray(rng.normal(size=(40, 3)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(f.values @ rng.normal(size=(3, 10)), ids) for s in ("a", "b")}
        >>> dec = SharedSpaceDecoder(n_components=3).fit(subs, f)
        >>> new = make_responses(f.values @ rng.normal(size=(3, 7)), ids)
        >>> dec.adapt(new[:20], subject="c").adapt(new[:20], f, subject="d").subjects_
        ['a', 'b', 'c', 'd']
        """
        self._check_fitted()
        subject = new_subject(X, subject, self.subjects_)
        da = self._responses(X, "X")
        k = self.srm_.shared_response_.sizes["component"]
        if y is None:
            da, _ = check_alignment(da, self.srm_.shared_response_, names=["X", "shared stimuli of fit"], how="inner")
            mean, scale = self._stats(da.values.astype(np.float64))
            srm = copy.copy(self.srm_)  # adapt() replaces its dicts: the fitted model stays as it was
            srm.adapt(da.copy(data=(da.values.astype(np.float64) - mean) / scale), subject=subject)
            basis, offset, alpha = srm.basis_[subject], np.zeros(k), None
            mean = mean + scale * srm.mean_[subject]
        else:
            feats = self._features(y)
            if feats.sizes["feature"] != self.n_outputs_:
                raise ShapeError(f"y: received {feats.sizes['feature']} features; expected the {self.n_outputs_} "
                                 "features of the shared head")
            da, feats = check_alignment(da, feats, names=["X", "y"], how="inner")
            n = da.sizes["stimulus"]
            if n < 3:
                raise InputError(f"X: received {n} stimuli with features; expected at least 3 to fit an adapter")
            x, t = da.values.astype(np.float64), np.asarray(feats.values, dtype=np.float64)
            mean, scale = self._stats(x)
            if isinstance(self.head_, ContrastiveDecoder):
                w, offset, history = train_adapter(self, (x - mean) / scale, t)
                alpha = None
                self.adapt_history_ = {**self.adapt_history_, subject: history}
            else:
                w, offset, alpha = fit_adapter(self, x, t)
            basis = xr.DataArray(w, dims=("voxel", "component"),
                                 coords={**{c: (("voxel",), np.asarray(da[c].values)) for c in da.coords
                                            if da[c].dims == ("voxel",)}, "component": np.arange(k)},
                                 name=f"basis {subject}")
        self.subjects_ = [*self.subjects_, subject]
        self.basis_ = {**self.basis_, subject: basis}
        self.mean_ = {**self.mean_, subject: mean}
        self.scale_ = {**self.scale_, subject: scale}
        self.offset_ = {**self.offset_, subject: offset}
        if alpha is not None:
            self.adapt_alpha_ = {**self.adapt_alpha_, subject: alpha}
        return self

    # ------------------------------------------------------------------ predict
    def transform(self, X: Any, subject: str | None = None) -> xr.DataArray:
        """A subject's responses in the shared space: ``((x − mean_i) / scale_i) W_i + offset_i``.

        Parameters
        ----------
        X : xarray.DataArray
            ``("stimulus", "voxel")`` responses of a fitted or adapted subject (its voxels, in order).
        subject : str, optional
            Whose responses; read from ``X``'s ``subject`` coordinate when omitted.

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
        >>> subs = {s: make_responses(rng.normal(size=(30, 6)), ids, subject=s) for s in ("a", "b")}
        >>> SharedSpaceDecoder(n_components=2).fit(subs, f).transform(subs["a"]).dims
        ('stimulus', 'component')
        """
        subject = self._subject(subject, X)
        da = as_responses(X, name="X")
        if da.sizes["voxel"] != self.basis_[subject].sizes["voxel"]:
            raise ShapeError(f"X: received {da.sizes['voxel']} voxels; expected the "
                             f"{self.basis_[subject].sizes['voxel']} voxels of subject {subject!r}")
        coords = {key: (("stimulus",), np.asarray(c.values)) for key, c in da.coords.items() if c.dims == ("stimulus",)}
        return xr.DataArray(self._latent(da.values, subject), dims=("stimulus", "component"),
                            coords={**coords, "component": self.basis_[subject]["component"].values},
                            name="shared response", attrs={"subject": subject})

    def predict(self, X: Any, subject: str | None = None) -> xr.DataArray:
        """Decoded features of a subject's responses, through its adapter and the shared head.

        Parameters
        ----------
        X : xarray.DataArray
            ``("stimulus", "voxel")`` responses of a fitted or adapted subject.
        subject : str, optional
            Whose responses; read from ``X``'s ``subject`` coordinate when omitted.

        Returns
        -------
        xarray.DataArray
            ``("stimulus", "feature")`` with ``X``'s stimulus coordinates and the features' coordinates;
            ``attrs["subject"]`` names the subject.

        Raises
        ------
        InputError
            An unknown subject, an unfitted decoder.
        ShapeError
            Another voxel count than the subject's.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(30)]
        >>> f = xr.DataArray(rng.normal(size=(30, 2)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(rng.normal(size=(30, 6)), ids, subject=s) for s in ("a", "b")}
        >>> SharedSpaceDecoder(n_components=2).fit(subs, f).predict(subs["b"]).shape
        (30, 2)
        """
        z = self.transform(X, subject=subject)
        pred = self.head_.predict(z.values)
        coords = {key: (("stimulus",), np.asarray(c.values)) for key, c in z.coords.items() if c.dims == ("stimulus",)}
        coords.update({key: (("feature",), v) for key, v in self.feature_coords_.items()})
        return xr.DataArray(pred, dims=("stimulus", "feature"), coords=coords, name="decoded",
                            attrs={"subject": z.attrs["subject"]})

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Top-1 brain→image retrieval accuracy (cosine) of a subject's decoded responses among ``y``.

        The subject is read from ``X``'s ``subject`` coordinate; ``X`` and ``y`` are matched by
        ``stimulus_id``. Chance is ``1 / n_stimuli``.

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from neuroperception.data import make_responses
        >>> rng = np.random.default_rng(0)
        >>> ids = [f"i{k}" for k in range(60)]
        >>> f = xr.DataArray(rng.normal(size=(60, 8)), dims=("stimulus", "feature"),
        ...                  coords={"stimulus_id": ("stimulus", ids)})
        >>> subs = {s: make_responses(f.values @ rng.normal(size=(8, 20)), ids, subject=s) for s in ("a", "b")}
        >>> SharedSpaceDecoder(n_components=8, alphas=[1e-3]).fit(subs, f).score(subs["a"], f)
        1.0
        """
        if sample_weight is not None:
            raise InputError("sample_weight: received weights; expected None (weighted scores are not supported)")
        pred = self.predict(X)
        pred, target = check_alignment(pred, self._features(y), names=["X", "y"], how="inner")
        table = retrieval_accuracy(pred, target, k=1, direction="brain_to_image", metric="cosine")
        return float(table["top-1"].iloc[0])

