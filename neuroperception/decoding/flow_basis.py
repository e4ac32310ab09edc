"""``FlowBasis``: a low-dimensional basis for optical-flow fields (principal components or 2-D cosines).

Flows are ``(N, 2, H, W)`` in the package convention (:mod:`neuroperception.stimuli.flow_fields`);
:meth:`FlowBasis.encode` turns them into ``(N, K)`` coefficients and :meth:`FlowBasis.decode` back.
The flow helpers here (reading flows given as arrays, tensors or ``("stimulus", "axis", "y", "x")``
DataArrays, and labelling decoded flows) are shared by the flow decoder.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._validation import describe
from ..errors import InputError, ShapeError
from ..stimuli.flow_fields import check_flow

__all__ = ["FlowBasis"]

_FLOW_DIMS = ("stimulus", "axis", "y", "x")
_AXES = ["dx", "dy"]



def _as_flows(flows: Any, name: str = "flows") -> tuple[np.ndarray, xr.DataArray | None]:
    """Flows as float32 ``(N, 2, H, W)`` values, and the ``_FLOW_DIMS`` DataArray when labelled."""
    labelled = None
    if isinstance(flows, xr.DataArray):
        if set(flows.dims) != set(_FLOW_DIMS):
            raise ShapeError(f"{name}: received dims {flows.dims}; expected {_FLOW_DIMS} with axis = {_AXES}")
        flows = flows.transpose(*_FLOW_DIMS)
        if "axis" in flows.coords:
            found = [str(v) for v in flows["axis"].values]
            if sorted(found) != sorted(_AXES):
                raise InputError(f"{name}: received axis labels {found}; expected {_AXES}")
            flows = flows.sel(axis=_AXES)
        labelled = flows
    values = check_flow(flows, name=name)
    if values.ndim != 4:
        raise ShapeError(f"{name}: received {describe(values)}; expected (stimulus, 2, H, W) with channel 0 = dx "
                         "and channel 1 = dy")
    if values.shape[0] == 0:
        raise ShapeError(f"{name}: received an empty batch {tuple(values.shape)}; expected at least one flow")
    return values.detach().cpu().numpy(), labelled


def _labelled_flows(values: np.ndarray, like: xr.DataArray | None, name: str = "flow") -> xr.DataArray:
    """Wrap ``(N, 2, H, W)`` flows as a DataArray carrying ``like``'s stimulus coordinates."""
    coords: dict[str, Any] = {"axis": _AXES}
    if like is not None:
        coords.update({k: c for k, c in like.coords.items() if c.dims == ("stimulus",)})
    return xr.DataArray(values, dims=_FLOW_DIMS, coords=coords, name=name)


class FlowBasis(BaseEstimator):
    """A linear basis of flow fields: flows ``(N, 2, H, W)`` <-> coefficients ``(N, K)``.

    Parameters
    ----------
    n_components : int, default 16
        Number of basis flows ``K``.
    kind : {"pca", "dct"}
        ``"pca"``: the mean and leading principal components of the training flows (SVD); exact for
        flows in the affine span of the training set. ``"dct"``: fixed orthonormal 2-D DCT-II cosines
        of lowest spatial frequency (radially ordered, ``dx`` and ``dy`` alternating: component
        ``2k`` is cosine ``k`` on the dx channel, ``2k + 1`` on dy), no mean; smooth fields are
        reconstructed closely from few components.

    Attributes
    ----------
    components_ : numpy.ndarray
        ``(K, 2 * H * W)`` orthonormal rows.
    mean_ : numpy.ndarray
        ``(2, H, W)`` flow subtracted before projecting (zeros for ``"dct"``).
    explained_variance_ : numpy.ndarray
        ``(K,)`` variance of the training coefficients (the PCA eigenvalues, as scikit-learn's PCA).
    explained_variance_ratio_ : numpy.ndarray
        ``(K,)`` fraction of the training flows' total variance per component.
    frequencies_ : numpy.ndarray
        ``(K, 3)`` (axis, ky, kx) of each DCT component (``"dct"`` only).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> flows = rng.normal(size=(3, 1, 1, 1)) * np.ones((3, 2, 6, 6))     # uniform translations
    >>> basis = FlowBasis(n_components=2).fit(flows)
    >>> float(np.abs(basis.decode(basis.encode(flows)) - flows).max()) < 1e-5
    True
    >>> FlowBasis(n_components=3, kind="dct").fit(flows).encode(flows).shape
    (3, 3)
    """

    def __init__(self, n_components: int = 16, kind: str = "pca"):
        self.n_components = n_components
        self.kind = kind

    def fit(self, X: Any, y: Any = None) -> FlowBasis:
        """Fit the basis on training flows ``X`` ``(N, 2, H, W)`` (``"dct"`` only reads their size).

        ``y`` is ignored (present for scikit-learn's API).

        Raises
        ------
        InputError
            Unknown ``kind``, a non-positive ``n_components`` or more components than the data allow.
        ShapeError
            Flows not ``(N, 2, H, W)``.
        """
        if self.kind not in ("pca", "dct"):
            raise InputError(f"kind: received {self.kind!r}; expected 'pca' or 'dct'")
        k = self.n_components
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise InputError(f"n_components: received {k!r}; expected a positive int")
        values, _ = _as_flows(X, "X")
        n, _, h, w = values.shape
        flat = values.reshape(n, -1).astype(np.float64)
        limit = min(n, flat.shape[1]) if self.kind == "pca" else flat.shape[1]
        if k > limit:
            raise InputError(f"n_components: received {k}; expected at most {limit} for {n} training flows of size "
                             f"{h}x{w} (kind={self.kind!r})")
        if self.kind == "pca":
            self.mean_ = flat.mean(0)
            _, s, vt = np.linalg.svd(flat - self.mean_, full_matrices=False)
            vt = vt[:k]
            signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(1)])  # deterministic signs
            self.components_ = vt * np.where(signs == 0, 1.0, signs)[:, None]
        else:
            self.mean_ = np.zeros(flat.shape[1])
            self.components_, self.frequencies_ = _dct_basis(h, w, k)
        self.shape_ = (2, h, w)
        coefs = (flat - self.mean_) @ self.components_.T
        self.explained_variance_ = coefs.var(0, ddof=1) if n > 1 else np.zeros(k)
        total = flat.var(0, ddof=1).sum() if n > 1 else 0.0
        self.explained_variance_ratio_ = self.explained_variance_ / total if total > 0 else np.zeros(k)
        self.mean_ = self.mean_.reshape(self.shape_)
        return self

    def encode(self, flows: Any) -> np.ndarray:
        """Coefficients ``(N, K)`` of flows ``(N, 2, H, W)`` of the fitted size.

        Examples
        --------
        >>> basis = FlowBasis(n_components=1, kind="dct").fit(np.zeros((1, 2, 4, 4)))
        >>> basis.encode(np.full((1, 2, 4, 4), 2.0)).round(6).tolist()     # DC of dx: 2 * sqrt(16)
        [[8.0]]
        """
        check_is_fitted(self, "components_")
        values, _ = _as_flows(flows)
        if values.shape[1:] != self.shape_:
            raise ShapeError(f"flows: received {describe(values)}; expected (N, {', '.join(map(str, self.shape_))}) "
                             "as in fit")
        flat = values.reshape(len(values), -1).astype(np.float64) - self.mean_.reshape(-1)
        return flat @ self.components_.T

    def decode(self, coefs: Any) -> np.ndarray:
        """Flows ``(N, 2, H, W)`` (float32) from coefficients ``(N, K)``.

        Examples
        --------
        >>> basis = FlowBasis(n_components=1, kind="dct").fit(np.zeros((1, 2, 4, 4)))
        >>> basis.decode([[8.0]])[0, :, 0, 0].tolist()
        [2.0, 0.0]
        """
        check_is_fitted(self, "components_")
        c = np.asarray(coefs.detach().cpu() if isinstance(coefs, torch.Tensor) else coefs, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != len(self.components_):
            raise ShapeError(f"coefs: received {describe(c)}; expected (N, {len(self.components_)})")
        if not np.isfinite(c).all():
            raise InputError(f"coefs: received {describe(c)}; expected finite values")
        out = c @ self.components_ + self.mean_.reshape(-1)
        return out.reshape(len(c), *self.shape_).astype(np.float32)


def _dct_basis(h: int, w: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` lowest-frequency orthonormal 2-D DCT-II flows, dx/dy alternating, and their (axis, ky, kx)."""
    n_freq = (k + 1) // 2
    ky, kx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    ky, kx = ky.ravel(), kx.ravel()
    order = np.lexsort((kx, ky, (ky / h) ** 2 + (kx / w) ** 2))[:n_freq]

    def cosines(n: int, freqs: np.ndarray) -> np.ndarray:
        x = np.arange(n)
        c = np.cos(np.pi * (2 * x[None] + 1) * freqs[:, None] / (2 * n)) * np.sqrt(2.0 / n)
        c[freqs == 0] = np.sqrt(1.0 / n)
        return c

    maps = cosines(h, ky[order])[:, :, None] * cosines(w, kx[order])[:, None, :]  # (F, H, W)
    comps, freqs = [], []
    for f in range(n_freq):
        for axis in (0, 1):
            flow = np.zeros((2, h, w))
            flow[axis] = maps[f]
            comps.append(flow.ravel())
            freqs.append((axis, ky[order[f]], kx[order[f]]))
    return np.asarray(comps[:k]), np.asarray(freqs[:k])
