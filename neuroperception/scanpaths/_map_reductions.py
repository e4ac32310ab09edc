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


def _density_into(out: torch.Tensor, x: torch.Tensor, offset: torch.Tensor | None, inv_total: torch.Tensor,
                  plus: torch.Tensor | None = None) -> torch.Tensor:
    """``(x - offset) * inv_total [+ plus]`` into ``out``: rows of maps made into densities (pysaliency's rule).

    ``offset`` None means no row of the block is shifted (no negative values): one operation fewer.
    """
    if offset is not None:
        torch.sub(x, offset, out=out)
        x = out
    if plus is None:
        return torch.mul(x, inv_total, out=out)
    return torch.addcmul(plus, x, inv_total, out=out)


def _column(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))[:, None]


def _offsets(values: np.ndarray) -> torch.Tensor | None:
    """Per-row offsets as a column, or None when they are all zero (nothing to subtract)."""
    return _column(values) if np.any(values) else None


DensityRule = Callable[[slice, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, ...]]


def _density_pair_reduce(flat_a: np.ndarray, flat_b: np.ndarray, densities: DensityRule,
                         combine: Callable[..., torch.Tensor]) -> np.ndarray:
    """Per block of rows of two stacks: their minima and sums, made into densities, then ``combine`` summed.

    ``densities(rows, low_a, sum_a, low_b, sum_b)`` checks the block's statistics and returns
    ``(offset_a, inv_a, offset_b, inv_b)`` per row, so that ``(row - offset) * inv`` is a density;
    ``combine(out, tmp, a_block, b_block, offset_a, inv_a, offset_b, inv_b)`` returns the tensor
    summed per row. Each block is read from memory once: the statistics and the expression both
    find it in the cache.
    """
    a, b = _rows(flat_a), _rows(flat_b)

    def expression(out: torch.Tensor, rows: slice, tmp: torch.Tensor) -> torch.Tensor:
        block_a, block_b = a[rows], b[rows]
        stats = [t.numpy() for t in (block_a.amin(dim=1), block_a.sum(dim=1), block_b.amin(dim=1), block_b.sum(dim=1))]
        offset_a, inv_a, offset_b, inv_b = densities(rows, *stats)
        return combine(out, tmp, block_a, block_b, _offsets(offset_a), _column(inv_a), _offsets(offset_b),
                       _column(inv_b))

    return row_reduce(expression, *a.shape)


def row_kl(flat_p: np.ndarray, flat_q: np.ndarray, densities: DensityRule, eps: float) -> np.ndarray:
    """``sum(q * log(eps + q / (p + eps)))`` per row, ``p``/``q`` the rows made densities by ``densities``
    (see :func:`_density_pair_reduce`)."""
    plus_eps = torch.tensor(eps, dtype=torch.float64)

    def combine(out, tmp, p, q, offset_p, inv_p, offset_q, inv_q):
        dq = _density_into(out, q, offset_q, inv_q)
        ratio = _density_into(tmp, p, offset_p, inv_p, plus=plus_eps)      # p + eps
        torch.addcdiv(plus_eps, dq, ratio, out=ratio)                       # eps + q / (p + eps)
        _log(ratio)
        return dq.mul_(ratio)

    return _density_pair_reduce(flat_p, flat_q, densities, combine)


def row_sim(flat_a: np.ndarray, flat_b: np.ndarray, densities: DensityRule) -> np.ndarray:
    """``sum(minimum(a, b))`` per row, ``a``/``b`` the rows made densities (as in :func:`row_kl`)."""
    def combine(out, tmp, a, b, offset_a, inv_a, offset_b, inv_b):
        da = _density_into(out, a, offset_a, inv_a)
        return torch.minimum(da, _density_into(tmp, b, offset_b, inv_b), out=da)

    return _density_pair_reduce(flat_a, flat_b, densities, combine)


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
