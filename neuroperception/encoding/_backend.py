"""One small array backend for the ridge solvers: numpy, torch on CPU, or torch on CUDA.

The solvers in :mod:`neuroperception.encoding._solvers` only call the methods of
:class:`Backend`, so the same code runs on every backend. Matrices that do not depend on the
targets (Gram matrices, their eigendecompositions) are computed in float64 and cast down to
the working dtype; everything that scales with the number of targets runs in the working dtype
(float32 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_device
from ..errors import InputError

__all__ = ["Backend", "get_backend"]

_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Backend:
    """Array operations on one library, device and working dtype.

    Parameters
    ----------
    name : {"numpy", "torch"}
    device : str
        ``"cpu"`` or ``"cuda"`` (torch only).
    dtype : {"float32", "float64"}
        Working dtype of every target-sized array.

    Examples
    --------
    >>> b = get_backend("numpy", dtype="float64")
    >>> b.to_numpy(b.matmul(b.asarray(np.eye(2)), b.asarray(np.ones((2, 1))))).ravel().tolist()
    [1.0, 1.0]
    """

    name: str
    device: str
    dtype: str

    # ---------------------------------------------------------------- conversion
    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        """Convert ``x`` (numpy or backend array) to this backend, in ``dtype`` (default: working)."""
        dtype = dtype or self.dtype
        if self.name == "numpy":
            return np.asarray(x, dtype=dtype)
        import torch

        tdtype = getattr(torch, dtype)
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=tdtype)
        return torch.as_tensor(np.asarray(x), dtype=tdtype, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Return ``x`` as a numpy array on the host."""
        if self.name == "numpy":
            return np.asarray(x)
        return x.detach().cpu().numpy()

    def copy_columns(self, x: np.ndarray) -> Any:
        """Own, writable copy of a host block in the working dtype, on the device."""
        if self.name == "numpy":
            return np.array(x, dtype=self.dtype, order="C", copy=True)
        return self.asarray(np.ascontiguousarray(x)).clone()

    # ---------------------------------------------------------------- allocation
    def empty(self, shape: tuple[int, ...], dtype: str | None = None) -> Any:
        """Uninitialised array."""
        if self.name == "numpy":
            return np.empty(shape, dtype=dtype or self.dtype)
        import torch

        return torch.empty(shape, dtype=getattr(torch, dtype or self.dtype), device=self.device)

    # ---------------------------------------------------------------- algebra
    def matmul(self, a: Any, b: Any, out: Any = None) -> Any:
        """Matrix product, written into ``out`` when given."""
        if self.name == "numpy":
            return np.matmul(a, b, out=out)
        import torch

        return torch.mm(a, b, out=out) if out is not None else torch.mm(a, b)

    def eigh(self, gram: Any) -> tuple[Any, Any]:
        """Eigenvalues (clipped at 0) and eigenvectors of a symmetric positive semi-definite matrix."""
        if self.name == "numpy":
            from scipy.linalg import eigh

            evals, evecs = eigh(gram, driver="evd", check_finite=False)
            return np.clip(evals, 0, None), evecs
        import torch

        evals, evecs = torch.linalg.eigh(gram)
        return evals.clamp(min=0), evecs

    def sub_sq_colsum(self, r: Any, y: Any) -> Any:
        """``((r - y) ** 2).sum(0)``, overwriting ``r``: the error pass without a new temporary."""
        if self.name == "numpy":
            np.subtract(r, y, out=r)
            return np.einsum("ij,ij->j", r, r)
        r.sub_(y)
        return (r * r).sum(0) if r.is_cuda else r.square_().sum(0)

    def colsum(self, x: Any) -> Any:
        """Sum over the first axis."""
        return x.sum(0)

    def take_columns(self, x: Any, cols: np.ndarray) -> Any:
        """Columns ``cols`` (host integer array) of ``x``, as a contiguous copy."""
        if self.name == "numpy":
            return np.take(x, cols, axis=1)
        import torch

        return x.index_select(1, torch.as_tensor(cols, device=x.device))

    def take_rows(self, x: Any, rows: np.ndarray) -> Any:
        """Rows ``rows`` of ``x``: a view for a contiguous range, else a copy."""
        if rows.size and rows[-1] - rows[0] == rows.size - 1 and np.all(np.diff(rows) == 1):
            return x[int(rows[0]): int(rows[-1]) + 1]
        if self.name == "numpy":
            return x[rows]
        import torch

        return x.index_select(0, torch.as_tensor(rows, device=x.device))


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False
    return True


def get_backend(backend: str = "auto", device: str | None = None, dtype: str = "float32") -> Backend:
    """Choose the array backend for the ridge solvers.

    Parameters
    ----------
    backend : {"auto", "numpy", "torch"}
        ``"auto"`` takes torch on a CUDA GPU when one is present (or ``device="cuda"`` is asked
        for), else numpy, whose BLAS is the faster of the two on CPU here.
    device : str, torch.device or None
        Only meaningful for torch; None means CUDA when available, else the CPU (under ``"auto"``
        that is numpy). ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device`` choose one.
    dtype : {"float32", "float64"}
        Working dtype.

    Returns
    -------
    Backend

    Raises
    ------
    InputError
        Unknown backend, device or dtype, CUDA asked for but not present, or numpy on CUDA.

    Examples
    --------
    >>> get_backend("numpy").name, get_backend("torch", "cpu", "float64").dtype
    ('numpy', 'float64')
    """
    if backend not in ("auto", "numpy", "torch"):
        raise InputError(f"backend: received {backend!r}; expected 'auto', 'numpy' or 'torch'")
    if device is not None:
        device = str(check_device(device))
    dtype = str(np.dtype(dtype)) if dtype in _DTYPES or dtype in (np.float32, np.float64) else dtype
    if dtype not in _DTYPES:
        raise InputError(f"dtype: received {dtype!r}; expected 'float32' or 'float64'")
    cuda = False
    if _torch_available():
        import torch

        cuda = torch.cuda.is_available()
    on_gpu = device is not None and device.startswith("cuda")
    if backend == "numpy":
        if on_gpu:
            raise InputError("device: received 'cuda' with backend='numpy'; expected backend='torch' for a GPU")
        return Backend("numpy", "cpu", dtype)
    if backend == "auto" and not on_gpu and not (device is None and cuda):
        return Backend("numpy", "cpu", dtype)
    if device is None:
        device = "cuda" if cuda else "cpu"
    return Backend("torch", device, dtype)
