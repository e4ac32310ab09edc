"""Per-map reductions over a stack of flattened maps, for the saliency metrics.

Every saliency metric reduces each map (a row of an ``(N, P)`` float64 array) to a few numbers:
its minimum, sum, sum of squares, or a sum over pixels of an expression of two maps. These run
as torch operations on a zero-copy view of the numpy rows (so they use torch's threads), and the
element-wise expressions are evaluated block by block into two reused buffers, so that no
temporary of the stack's size is ever allocated and each block stays in the CPU cache while it is
worked on (``log`` and ``exp`` go through numpy, whose SIMD versions are faster than torch's on
CPU). Results are float64 numpy arrays, one value per row.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch

_BLOCK_VALUES = 1 << 18           # 2 MiB of float64 per block


def _rows(flat: np.ndarray) -> torch.Tensor:
    """A float64 tensor sharing memory with ``flat`` (``(N, P)``, C-contiguous); read-only arrays too."""
    with warnings.catch_warnings():              # torch warns about read-only arrays; nothing writes to them
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float64))


def _block_slices(n_rows: int, n_cols: int) -> Iterator[slice]:
    step = max(1, _BLOCK_VALUES // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def _log(values: torch.Tensor) -> None:
    """Natural log in place, through numpy (its SIMD ``log`` is several times faster than torch's on CPU)."""
    array = values.numpy()
    np.log(array, out=array)


def row_min(flat: np.ndarray) -> np.ndarray:
    """Minimum of each row; NaN where the row has a NaN."""
    return _rows(flat).amin(dim=1).numpy()


def row_sums(*flats: np.ndarray, stats: tuple[str, ...] = ("min", "sum"), dot: bool = False) -> list[np.ndarray]:
    """Per-row reductions of one or more ``(N, P)`` stacks in one sweep over blocks of rows.

    For every stack, the reductions named in ``stats`` (``"min"``, ``"sum"``, ``"sumsq"``), in that
    order, then with ``dot=True`` the row-wise ``sum(a * b)`` of the first two stacks. Each block of
    rows is read from memory once, and the other reductions find it in the cache.
    """
    tensors = [_rows(f) for f in flats]
    n_rows, n_cols = tensors[0].shape
    out = torch.empty((len(tensors) * len(stats) + int(dot), n_rows), dtype=torch.float64)
    step = max(1, _BLOCK_VALUES // max(1, n_cols))
    buffer = torch.empty((min(step, n_rows), n_cols), dtype=torch.float64) if dot else None
    for rows in _block_slices(n_rows, n_cols):
        k = 0
        for t in tensors:
            block = t[rows]
            for stat in stats:
                if stat == "min":
                    out[k, rows] = block.amin(dim=1)
                elif stat == "sum":
                    out[k, rows] = block.sum(dim=1)
                else:
                    out[k, rows] = torch.linalg.vector_norm(block, dim=1).square_()
                k += 1
        if dot:
            product = torch.mul(tensors[0][rows], tensors[1][rows], out=buffer[:rows.stop - rows.start])
            out[k, rows] = product.sum(dim=1)
    return list(out.numpy())


def row_reduce(expression: Callable[[torch.Tensor, slice, torch.Tensor], torch.Tensor], n_rows: int,
               n_cols: int, dtype: torch.dtype = torch.float64,
               sum_dtype: torch.dtype | None = torch.float64) -> np.ndarray:
    """``expression(out, rows, buffer)`` per block of rows, summed over each row.

    ``expression`` receives a ``(n_block, P)`` float64 buffer to write into, the slice of rows of
    the block, and a second buffer of the same shape for intermediate values; it returns the
    tensor whose rows are summed (usually the first buffer). ``dtype`` is the buffers', ``sum_dtype``
    the accumulation's (None: the buffers').
    """
    values = torch.empty(n_rows, dtype=torch.float64)
    step = max(1, _BLOCK_VALUES // max(1, n_cols))
    buffers = torch.empty((2, min(step, n_rows), n_cols), dtype=dtype)
    for rows in _block_slices(n_rows, n_cols):
        size = rows.stop - rows.start
        values[rows] = expression(buffers[0, :size], rows, buffers[1, :size]).sum(dim=1, dtype=sum_dtype)
    return values.numpy()


def _density_into(out: torch.Tensor, x: torch.Tensor, low: torch.Tensor, inv_total: torch.Tensor) -> torch.Tensor:
    """``(x - low) * inv_total`` into ``out``: rows of maps made into densities (pysaliency's rule)."""
    torch.sub(x, low, out=out)
    return out.mul_(inv_total)


def _column(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))[:, None]


def row_kl(flat_p: np.ndarray, offset_p: np.ndarray, inv_p: np.ndarray, flat_q: np.ndarray, offset_q: np.ndarray,
           inv_q: np.ndarray, eps: float) -> np.ndarray:
    """``sum(q * log(eps + q / (p + eps)))`` per row, ``p``/``q`` the rows made densities.

    Each row's density is ``(row - offset) * inv`` (offsets and inverse sums given per row).
    """
    p, q = _rows(flat_p), _rows(flat_q)
    low_p, inv_p, low_q, inv_q = map(_column, (offset_p, inv_p, offset_q, inv_q))

    def expression(out: torch.Tensor, rows: slice, tmp: torch.Tensor) -> torch.Tensor:
        dq = _density_into(out, q[rows], low_q[rows], inv_q[rows])
        ratio = _density_into(tmp, p[rows], low_p[rows], inv_p[rows]).add_(eps)
        torch.div(dq, ratio, out=ratio)
        ratio.add_(eps)
        _log(ratio)
        return dq.mul_(ratio)

    return row_reduce(expression, *p.shape)


def row_sim(flat_a: np.ndarray, offset_a: np.ndarray, inv_a: np.ndarray, flat_b: np.ndarray, offset_b: np.ndarray,
            inv_b: np.ndarray) -> np.ndarray:
    """``sum(minimum(a, b))`` per row, ``a``/``b`` the rows made densities (as in :func:`row_kl`)."""
    a, b = _rows(flat_a), _rows(flat_b)
    low_a, inv_a, low_b, inv_b = map(_column, (offset_a, inv_a, offset_b, inv_b))

    def expression(out: torch.Tensor, rows: slice, tmp: torch.Tensor) -> torch.Tensor:
        da = _density_into(out, a[rows], low_a[rows], inv_a[rows])
        return torch.minimum(da, _density_into(tmp, b[rows], low_b[rows], inv_b[rows]), out=da)

    return row_reduce(expression, *a.shape)


def row_sum_exp(flat: np.ndarray) -> np.ndarray:
    """``sum(exp(row))`` of each row, in float32 (about 6 digits), for checking that log densities sum to one.

    No shift by the row maximum: a normalised log density has no value above 0, so nothing
    overflows unless the row is not one (then the sum is ``inf``, which fails the check as it
    should). The exponentials go through numpy, whose SIMD ``exp`` is several times faster than
    torch's on CPU.
    """
    x = _rows(flat)

    def expression(out: torch.Tensor, rows: slice, _: torch.Tensor) -> torch.Tensor:
        values = out.copy_(x[rows]).numpy()
        with np.errstate(over="ignore"):
            np.exp(values, out=values)
        return out

    return row_reduce(expression, *x.shape, dtype=torch.float32, sum_dtype=None).astype(np.float64)
