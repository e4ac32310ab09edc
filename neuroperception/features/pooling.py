"""Pooling of layer activations into feature vectors.

Activations arrive in a canonical form ``(N, C, *spatial)`` (``(N, C)`` for vectors,
``(N, C, H, W)`` for maps, ``(N, C, T)`` for token sequences that do not form a square grid).
A pooling turns them into ``(N, F)``, except :class:`NoPooling`, which keeps the maps.

Spec strings accepted wherever a pooling is: ``"none"``, ``"avg"``, ``"max"``, ``"avg:K"``
(adaptive average to K×K), ``"srp:D"`` (sparse random projection to D dims), ``"pca:K"``.
"""

from __future__ import annotations

import copy
import hashlib
import math
import warnings
from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F

from .._docs import fill_doc
from .._validation import check_device, seed_from
from ..errors import InputError

__all__ = ["Pooling", "NoPooling", "GlobalAvg", "GlobalMax", "AdaptiveAvg", "SparseRandomProjection", "PCA",
           "get_pooling"]


class Pooling(ABC):
    """Base class: ``pool(x) -> (N, F)``; ``describe()`` is what attrs and stores record.

    Subclasses implement :meth:`pool`; those that learn from the data (``requires_fit = True``) also
    implement ``fit``, which :func:`~neuroperception.features.extract` calls first.

    Examples
    --------
    >>> import torch
    >>> class Centre(Pooling):
    ...     def pool(self, x):
    ...         return x[..., x.shape[-2] // 2, x.shape[-1] // 2]
    >>> x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    >>> Centre().pool(x).shape, Centre().describe(), Centre.requires_fit
    (torch.Size([2, 3]), 'Centre', False)
    """

    requires_fit = False

    @abstractmethod
    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Pool canonical activations ``(N, C, *spatial)`` into ``(N, F)``."""

    def describe(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return self.describe()


class NoPooling(Pooling):
    """Keep the activations as they are: ``("stimulus", "channel", "y", "x")`` maps.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(2, 4, 3, 3)
    >>> p = NoPooling()
    >>> p.pool(x) is x, p.describe()
    (True, 'none')
    """

    def pool(self, x):
        return x

    def describe(self):
        return "none"


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


class GlobalAvg(Pooling):
    """Mean over all spatial positions (or tokens); vectors pass through.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(8, dtype=torch.float32).reshape(1, 2, 2, 2)   # channel means 1.5 and 5.5
    >>> GlobalAvg().pool(x).tolist(), GlobalAvg().describe()
    ([[1.5, 5.5]], 'avg')
    """

    def pool(self, x):
        return x if x.ndim == 2 else x.flatten(2).mean(-1)

    def describe(self):
        return "avg"


class GlobalMax(Pooling):
    """Maximum over all spatial positions (or tokens); vectors pass through.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(8, dtype=torch.float32).reshape(1, 2, 2, 2)
    >>> GlobalMax().pool(x).tolist(), GlobalMax().pool(torch.ones(3, 5)).shape
    ([[3.0, 7.0]], torch.Size([3, 5]))
    """

    def pool(self, x):
        return x if x.ndim == 2 else x.flatten(2).amax(-1)

    def describe(self):
        return "max"


class AdaptiveAvg(Pooling):
    """Adaptive average pooling to ``k × k`` per channel, flattened channel-major ``(C, k, k)``.

    Parameters
    ----------
    k : int
        Side of the pooled grid.

    Examples
    --------
    >>> import torch
    >>> x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    >>> AdaptiveAvg(2).pool(x).tolist()   # the means of the four 2 x 2 quadrants
    [[2.5, 4.5, 10.5, 12.5]]
    >>> AdaptiveAvg(2).pool(torch.randn(3, 8, 7, 7)).shape, AdaptiveAvg(2).describe()
    (torch.Size([3, 32]), 'avg:2')
    """

    def __init__(self, k: int):
        if not isinstance(k, int) or k < 1:
            raise InputError(f"AdaptiveAvg: received k={k!r}; expected a positive int")
        self.k = k

    def pool(self, x):
        if x.ndim == 4:
            return _flatten(F.adaptive_avg_pool2d(x, self.k))
        if x.ndim == 3:
            return _flatten(F.adaptive_avg_pool1d(x, self.k))
        raise InputError(f"pooling avg:{self.k}: received activations of shape {tuple(x.shape)}; expected maps")

    def describe(self):
        return f"avg:{self.k}"


@fill_doc
class SparseRandomProjection(Pooling):
    """Very sparse random projection (Li, Hastie & Church 2006) of the flattened activations.

    Entries are ``±sqrt(1 / (density * d))`` with probability ``density / 2`` each and 0 otherwise,
    ``density = 1 / sqrt(n_features)``, so squared distances are preserved in expectation
    (Johnson–Lindenstrauss). The matrix is drawn from ``random_state`` and the input size only,
    so every batch, layer size and resumed run gets the same projection.

    Parameters
    ----------
    d : int
        Output dimension.
    %(random_state)s
        A Generator or None is drawn from once, here: the seed drawn is the one recorded by
        :meth:`describe` and used for every input size.

    Examples
    --------
    >>> import torch
    >>> p = SparseRandomProjection(64, random_state=0)
    >>> p.pool(torch.randn(5, 8, 10, 10)).shape
    torch.Size([5, 64])
    """

    def __init__(self, d: int, random_state: int | np.random.Generator | None = 0):
        if not isinstance(d, int) or d < 1:
            raise InputError(f"SparseRandomProjection: received d={d!r}; expected a positive int")
        self.d, self.random_state = d, random_state
        self._seed = seed_from(random_state)
        self._matrix: torch.Tensor | None = None

    @fill_doc
    def matrix(self, n_features: int, device=None) -> torch.Tensor:
        """The ``(d, n_features)`` projection matrix as a sparse CSR tensor.

        Parameters
        ----------
        n_features : int
            Size of the flattened input.
        %(device)s
        """
        if self._matrix is None or self._matrix.shape[1] != n_features:
            rng = np.random.default_rng([self._seed, n_features, self.d])
            density = 1.0 / math.sqrt(n_features)
            nnz = rng.binomial(n_features * self.d, density)
            flat = np.unique(rng.integers(0, n_features * self.d, size=nnz, dtype=np.int64))
            rows, cols = np.divmod(flat, n_features)
            signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=flat.size)
            values = signs * np.float32(math.sqrt(1.0 / (density * self.d)))
            with warnings.catch_warnings():  # torch marks sparse CSR as beta
                warnings.simplefilter("ignore", UserWarning)
                coo = torch.sparse_coo_tensor(np.stack([rows, cols]), torch.from_numpy(values), (self.d, n_features),
                                              check_invariants=True)
                self._matrix = coo.coalesce().to_sparse_csr()
        return self._matrix.to(check_device(device))

    def pool(self, x):
        flat = _flatten(x).float()
        m = self.matrix(flat.shape[1], flat.device)
        return (m @ flat.T).T.contiguous()

    def describe(self):
        return f"srp:{self.d}(seed={self._seed})"


class PCA(Pooling):
    """Project flattened activations on principal components fitted on a subset of the images.

    The fit uses scikit-learn's ``PCA(svd_solver="full")`` on the layer's flattened activations,
    so it is deterministic, and :func:`~neuroperception.features.extract` fits one per layer.

    Parameters
    ----------
    n_components : int
        Number of components (at most the number of fitting images).
    fit_on : None, int or list of str
        Images to fit on: all (None), the first ``n`` (int), or these ids.

    Examples
    --------
    Activations that vary along one direction only are summarised by one component:

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(20, 1, generator=g) * torch.randn(1, 12, generator=g)   # rank 1, 12 features
    >>> p = PCA(2, fit_on=10).fit(x[:10])
    >>> p.pool(x).shape, round(float(p.explained_variance_ratio_[0]), 4), p.describe()
    (torch.Size([20, 2]), 1.0, 'pca:2(fit_on=first10)')
    """

    requires_fit = True

    def __init__(self, n_components: int, fit_on=None):
        if not isinstance(n_components, int) or n_components < 1:
            raise InputError(f"PCA: received n_components={n_components!r}; expected a positive int")
        self.n_components, self.fit_on = n_components, fit_on
        self.mean_: torch.Tensor | None = None
        self.components_: torch.Tensor | None = None

    def fit(self, x: torch.Tensor) -> "PCA":
        """Fit on activations ``(n, ...)`` of the fitting images."""
        from sklearn.decomposition import PCA as _SkPCA

        flat = _flatten(x).double().cpu().numpy()
        if self.n_components > min(flat.shape):
            raise InputError(f"PCA: received n_components={self.n_components} with {flat.shape[0]} fitting images "
                             f"and {flat.shape[1]} features; expected at most {min(flat.shape)}")
        sk = _SkPCA(n_components=self.n_components, svd_solver="full").fit(flat)
        self.mean_ = torch.from_numpy(sk.mean_).float()
        self.components_ = torch.from_numpy(sk.components_).float()
        self.explained_variance_ratio_ = sk.explained_variance_ratio_
        return self

    def pool(self, x):
        if self.components_ is None:
            raise InputError("PCA pooling used before fitting; expected extract() to fit it on fit_on images")
        flat = _flatten(x).float()
        mean, comp = self.mean_.to(flat.device), self.components_.to(flat.device)
        return (flat - mean) @ comp.T

    def describe(self):
        if self.fit_on is None:
            fit = "all"
        elif isinstance(self.fit_on, int):
            fit = f"first{self.fit_on}"
        else:  # the ids' digest, so that a store fitted on other ids is told apart
            digest = hashlib.sha1("\n".join(map(str, self.fit_on)).encode()).hexdigest()[:8]
            fit = f"{len(self.fit_on)}ids:{digest}"
        return f"pca:{self.n_components}(fit_on={fit})"


def get_pooling(pooling) -> Pooling:
    """Turn a pooling string or a :class:`Pooling` into a fresh :class:`Pooling` object (the ``pooling=`` of
    :func:`~neuroperception.features.extract`).

    Examples
    --------
    >>> get_pooling("avg:2").describe(), get_pooling(None).describe()
    ('avg:2', 'none')
    """
    if isinstance(pooling, Pooling):
        return copy.deepcopy(pooling)
    if pooling is None:
        return NoPooling()
    if not isinstance(pooling, str):
        raise InputError(f"pooling: received {type(pooling).__name__}; expected a string such as 'avg' or a Pooling")
    kind, _, arg = pooling.partition(":")
    simple = {"none": NoPooling, "avg": GlobalAvg, "mean": GlobalAvg, "max": GlobalMax}
    if kind in simple and not arg:
        return simple[kind]()
    try:
        n = int(arg)
    except ValueError:
        n = None
    makers = {"avg": AdaptiveAvg, "srp": SparseRandomProjection, "pca": PCA}
    if kind in makers and n is not None:
        return makers[kind](n)
    raise InputError(f"pooling: received {pooling!r}; expected 'none', 'avg', 'max', 'avg:K', 'srp:D' or 'pca:K'")
