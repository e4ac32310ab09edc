"""Behavioural alignment: a linear transform of features fitted to people's odd-one-out choices.

:class:`BehaviouralAlignment` learns ``W`` so that the dot-product similarities of the transformed
features ``z = x W`` predict odd-one-out choices: for a triplet ``(i, j, k)`` the probability that
``k`` is the odd one out is the softmax over the three pairs' similarities of the pair ``(i, j)``
(the choice model of THINGS and of :func:`~neuroperception.behaviour.odd_one_out_accuracy` with
``similarity="dot"``). A penalty ``λ ‖W − I‖²`` (features standardised first) keeps the transform
near the original space, as in the "gLocal" transforms of Muttenthaler et al. (2023), so that what the
choices do not constrain stays as it was. A 2AFC choice ("which of A and B is more like the
reference?") is the same model on the triplet (reference, chosen, other) with the other as the odd one
out. The fitted transform is an embedding: :meth:`transform` for distances and RSA, :meth:`metric` for a
:class:`~neuroperception.similarity.Metric` that rewards and judges take.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from .._docs import fill_doc
from .._validation import describe, seed_from
from ..errors import InputError, ShapeError
from ..similarity import Metric

__all__ = ["BehaviouralAlignment"]


def _features(X: Any, min_rows: int = 3) -> np.ndarray:
    x = X.values if hasattr(X, "values") and not isinstance(X, np.ndarray) else X
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[0] < min_rows:
        raise ShapeError(f"X: received {describe(X)}; expected features (n_objects >= {min_rows}, n_features)")
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InputError("X: received non-finite features; expected finite values")
    return x


def _triplets(y: Any, n: int) -> np.ndarray:
    t = y.values if hasattr(y, "values") and not isinstance(y, np.ndarray) else y
    t = getattr(y, "triplets", t)
    t = np.asarray(t)
    if t.ndim != 2 or t.shape[1] != 3 or t.shape[0] == 0:
        raise ShapeError(f"y: received {describe(y)}; expected triplets (n, 3) of object indices, the last the odd "
                         "one out")
    if not np.issubdtype(t.dtype, np.integer):
        if not np.all(np.equal(np.mod(t, 1), 0)):
            raise InputError("y: received non-integer object indices; expected row indices of X")
        t = t.astype(np.int64)
    if (t < 0).any() or (t >= n).any():
        raise InputError(f"y: received object indices in [{t.min()}, {t.max()}]; expected indices of the {n} rows of X")
    if (t[:, 0] == t[:, 1]).any() or (t[:, 0] == t[:, 2]).any() or (t[:, 1] == t[:, 2]).any():
        raise InputError("y: received triplets that repeat an object; expected three different objects")
    return t


def _log_prob(z: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log probability of the human's odd one out (the last column) under the softmax over pair similarities."""
    zi, zj, zk = z[t[:, 0]], z[t[:, 1]], z[t[:, 2]]
    sims = torch.stack([(zi * zj).sum(1), (zi * zk).sum(1), (zj * zk).sum(1)], dim=1) / temperature
    return torch.log_softmax(sims, dim=1)[:, 0]


@fill_doc
class BehaviouralAlignment(BaseEstimator):
    """A linear transform of features fitted to odd-one-out choices, kept near the identity.

    Parameters
    ----------
    n_components : int, optional
        Output dimension (default: the features'); with fewer, ``W`` starts from the first columns of the
        identity and the penalty pulls it toward them.
    alpha : float
        ``λ`` of the penalty ``λ ‖W − I‖²_F`` (per triplet: the loss is the mean negative log likelihood).
    temperature : float
        Softmax temperature of the choice model.
    max_iter : int
        L-BFGS iterations.
    standardize : bool
        z-score each feature over the objects before the transform (the penalty then treats features alike).
    %(random_state)s
        It seeds the small random part of the initialisation (when ``n_components`` is given).

    Attributes
    ----------
    weights_ : numpy.ndarray
        ``(n_features, n_components)`` ``W``.
    mean_, scale_ : numpy.ndarray
        The standardisation.
    loss_ : float
        The final penalised loss.

    Examples
    --------
    Observers who weigh the first feature nine times more than the others:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((60, 4))
    >>> w = np.array([3.0, 1.0, 1.0, 1.0])
    >>> t = np.array([rng.choice(60, 3, replace=False) for _ in range(2000)])
    >>> z = x * w
    >>> s = np.stack([(z[t[:, 0]] * z[t[:, 1]]).sum(1), (z[t[:, 0]] * z[t[:, 2]]).sum(1),
    ...               (z[t[:, 1]] * z[t[:, 2]]).sum(1)], 1)
    >>> odd = np.choose(s.argmax(1), [t[:, 2], t[:, 1], t[:, 0]])          # the pair most alike stays together
    >>> pair = np.choose(s.argmax(1), [t[:, :2].T, t[:, [0, 2]].T, t[:, 1:].T]).T
    >>> y = np.c_[pair, odd]
    >>> model = BehaviouralAlignment(alpha=1e-3).fit(x, y[:1500])
    >>> model.score(x, y[1500:]) > BehaviouralAlignment(alpha=1e6).fit(x, y[:1500]).score(x, y[1500:])
    True
    """

    def __init__(self, n_components=None, alpha=0.01, temperature=1.0, max_iter=200, standardize=True,
                 random_state=0):
        self.n_components = n_components
        self.alpha = alpha
        self.temperature = temperature
        self.max_iter = max_iter
        self.standardize = standardize
        self.random_state = random_state

    def _check_params(self) -> None:
        for name in ("alpha", "temperature"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v < 0 or \
                    (name == "temperature" and v == 0):
                kind = "positive" if name == "temperature" else "non-negative"
                raise InputError(f"{name}: received {v!r}; expected a {kind} number")
        if not isinstance(self.max_iter, (int, np.integer)) or isinstance(self.max_iter, bool) or self.max_iter < 1:
            raise InputError(f"max_iter: received {self.max_iter!r}; expected a positive int")

    def _standardised(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.scale_

    def fit(self, X: Any, y: Any) -> BehaviouralAlignment:
        """Fit ``W`` to the odd-one-out triplets ``y`` (rows of ``X``; the last column the odd one out).

        ``y`` is an ``(n, 3)`` array or :class:`~neuroperception.behaviour.ThingsTriplets` (its
        ``triplets``); ``X`` the objects' features ``(n_objects, ...)``, flattened.
        """
        self._check_params()
        x = _features(X)
        t = _triplets(y, x.shape[0])
        d = x.shape[1]
        k = d if self.n_components is None else int(self.n_components)
        if not 1 <= k <= d:
            raise InputError(f"n_components: received {self.n_components!r}; expected an int in [1, {d}]")
        self.mean_ = x.mean(0) if self.standardize else np.zeros(d)
        self.scale_ = np.where(x.std(0) > 0, x.std(0), 1.0) if self.standardize else np.ones(d)
        xs = torch.as_tensor(self._standardised(x))
        tt = torch.as_tensor(t)
        eye = torch.eye(d, k, dtype=torch.float64)
        gen = torch.Generator().manual_seed(seed_from(self.random_state))
        w = (eye + 1e-3 * torch.randn(d, k, generator=gen, dtype=torch.float64)).requires_grad_(True)
        opt = torch.optim.LBFGS([w], max_iter=int(self.max_iter), line_search_fn="strong_wolfe")
        temperature, alpha = float(self.temperature), float(self.alpha)

        def objective():
            return -_log_prob(xs @ w, tt, temperature).mean() + alpha * ((w - eye) ** 2).sum()

        def closure():
            opt.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        opt.step(closure)
        self.weights_ = w.detach().numpy().copy()
        with torch.no_grad():
            self.loss_ = float(objective())
        self.n_features_in_ = d
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise InputError("BehaviouralAlignment: received an unfitted model; expected fit(X, y) first")

    def transform(self, X: Any) -> np.ndarray:
        """The aligned features ``(n_objects, n_components)``."""
        self._check_fitted()
        x = _features(X, min_rows=1)
        if x.shape[1] != self.n_features_in_:
            raise ShapeError(f"X: received {x.shape[1]} features; expected the {self.n_features_in_} it was fitted on")
        return self._standardised(x) @ self.weights_

    def predict_proba(self, X: Any, y: Any) -> np.ndarray:
        """Probability of each triplet's odd one out (its last column) under the aligned similarities."""
        z = torch.as_tensor(self.transform(X))
        t = torch.as_tensor(_triplets(y, z.shape[0]))
        with torch.no_grad():
            return _log_prob(z, t, float(self.temperature)).exp().numpy()

    def score(self, X: Any, y: Any) -> float:
        """Odd-one-out accuracy on the triplets ``y``: the aligned model's most similar pair is ``y``'s first two."""
        z = self.transform(X)
        t = _triplets(y, z.shape[0])
        zi, zj, zk = z[t[:, 0]], z[t[:, 1]], z[t[:, 2]]
        sims = np.stack([(zi * zj).sum(1), (zi * zk).sum(1), (zj * zk).sum(1)], axis=1)
        best = sims.max(1, keepdims=True)
        ties = (sims == best).sum(1)
        return float(np.mean((sims[:, 0] == best[:, 0]) / ties))

    def metric(self, feature_fn: Any) -> Metric:
        """A :class:`~neuroperception.similarity.Metric` on images: ``feature_fn(images) -> (N, D)`` then the
        aligned space, distance ``1 − cos`` (usable by rewards, judges and :func:`~neuroperception.similarity.rsa`)."""
        self._check_fitted()
        if not callable(feature_fn):
            raise InputError(f"feature_fn: received {describe(feature_fn)}; expected a callable images -> (N, D)")
        return _AlignedMetric(self, feature_fn)


class _AlignedMetric(Metric):
    """Cosine distance in a :class:`BehaviouralAlignment` space of ``feature_fn``'s features."""

    def __init__(self, model: BehaviouralAlignment, feature_fn: Any):
        super().__init__()
        self.model, self.feature_fn = model, feature_fn
        self.register_buffer("w", torch.as_tensor(model.weights_, dtype=torch.float32))
        self.register_buffer("mu", torch.as_tensor(model.mean_, dtype=torch.float32))
        self.register_buffer("sd", torch.as_tensor(model.scale_, dtype=torch.float32))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        f = self.feature_fn(images)
        f = f.reshape(f.shape[0], -1).float()
        if f.shape[1] != self.w.shape[0]:
            raise ShapeError(f"feature_fn: returned {f.shape[1]} features; expected the {self.w.shape[0]} the alignment "
                             "was fitted on")
        return torch.nn.functional.normalize(((f - self.mu) / self.sd) @ self.w, dim=1)

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 1.0 - (a * b).sum(1)
