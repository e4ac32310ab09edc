"""Features of one representational level → unit patterns whose dot products give correlation distances.

Memory stays bounded for thousands of images: the PCA is fitted through an ``m × m`` Gram matrix
(``m`` at most 1000 images; the ``f × f`` scatter matrix when features are fewer), built and projected in column blocks, and distances are only
ever computed as blocks of rows (``rows × N``), never as the full ``N × N`` matrix.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from .._validation import check_alignment, describe
from ..errors import InputError

_COLUMN_BLOCK = 4096
_ROW_BLOCK_BYTES = 64 * 2**20


def check_feature_levels(features: Mapping) -> tuple[dict[str, xr.DataArray], list[str]]:
    """Validate ``{"low": DataArray, "high": DataArray}`` and align them on ``stimulus_id``."""
    missing = [k for k in ("low", "high") if k not in features]
    extra = [k for k in features if k not in ("low", "high")]
    if missing or extra:
        raise InputError(f"features: received keys {sorted(map(str, features))}; expected exactly 'low' and 'high'")
    out = {}
    for key in ("low", "high"):
        da = features[key]
        if not isinstance(da, xr.DataArray) or "stimulus" not in da.dims or da.dims[0] != "stimulus":
            raise InputError(f"features[{key!r}]: received {describe(da)}"
                             + (f" with dims {da.dims}" if isinstance(da, xr.DataArray) else "")
                             + "; expected an xarray.DataArray ('stimulus', 'feature') from extract()")
        if "stimulus_id" not in da.coords:
            raise InputError(f"features[{key!r}]: received features without a stimulus_id coordinate; expected "
                             "one id per stimulus (the triplet table names images by id)")
        out[key] = da
    (low, high), ids = check_alignment(out["low"], out["high"], names=["features['low']", "features['high']"],
                                       return_ids=True)
    return {"low": low, "high": high}, ids


def _flat(da: xr.DataArray) -> np.ndarray:
    x = np.asarray(da.values).reshape(da.sizes["stimulus"], -1)
    if not np.issubdtype(x.dtype, np.number):
        raise InputError(f"features: received dtype {x.dtype}; expected real numbers")
    if not np.isfinite(x).all():
        raise InputError(f"features: received {describe(da)}; expected finite values")
    return x if x.dtype in (np.float32, np.float64) else x.astype(np.float64)


def _column_blocks(f: int):
    for lo in range(0, f, _COLUMN_BLOCK):
        yield slice(lo, min(lo + _COLUMN_BLOCK, f))


def pca_scores(x: np.ndarray, pca, rng: np.random.Generator, max_fit: int = 1000) -> tuple[np.ndarray, int]:
    """Principal-component scores of ``x`` (rows = stimuli): ``(scores (n, k), k)``.

    ``pca`` is a float in ``(0, 1]`` (keep the fewest components explaining that fraction of
    variance) or an int (that many components). The fit uses at most ``max_fit`` seeded rows,
    through the smaller of their ``m × m`` Gram matrix and the ``f × f`` scatter matrix.
    """
    n, f = x.shape
    fit = np.sort(rng.choice(n, max_fit, replace=False)) if n > max_fit else np.arange(n)
    mean = np.zeros(f)
    for cols in _column_blocks(f):
        mean[cols] = x[fit, cols].astype(np.float64).mean(0)
    m = len(fit)
    if f <= m:  # scatter matrix: eigenvectors are the components
        xc = x[fit].astype(np.float64) - mean
        evals, vecs = np.linalg.eigh(xc.T @ xc)
    else:  # Gram matrix: components = Xcᵀ U / sqrt(λ)
        gram = np.zeros((m, m))
        for cols in _column_blocks(f):
            block = x[fit, cols].astype(np.float64) - mean[cols]
            gram += block @ block.T
        evals, vecs = np.linalg.eigh(gram)
    evals, vecs = evals[::-1], vecs[:, ::-1]
    keep = evals > max(float(evals[0]), 1e-300) * 1e-10
    evals, vecs = evals[keep], vecs[:, keep]
    if evals.size == 0:
        raise InputError("features: received features that do not vary across stimuli; expected varying patterns")
    if isinstance(pca, (int, np.integer)) and not isinstance(pca, bool):
        if not 1 <= pca <= evals.size:
            raise InputError(f"pca: received {pca} components; expected 1..{evals.size} for these features")
        k = int(pca)
    else:
        ratio = np.cumsum(evals) / evals.sum()
        k = int(min(np.searchsorted(ratio, float(pca) - 1e-12) + 1, evals.size))
    scores = np.zeros((n, k))
    for cols in _column_blocks(f):
        if f <= m:
            comp = vecs[cols, :k]
        else:
            comp = (x[fit, cols].astype(np.float64) - mean[cols]).T @ (vecs[:, :k] / np.sqrt(evals[:k]))
        for lo in range(0, n, _COLUMN_BLOCK):
            rows = slice(lo, min(lo + _COLUMN_BLOCK, n))
            scores[rows] += (x[rows, cols].astype(np.float64) - mean[cols]) @ comp
    return scores, k


def check_pca(pca) -> None:
    """``None``, a fraction in ``(0, 1]`` or a positive int."""
    if pca is None:
        return
    if isinstance(pca, bool) or not isinstance(pca, (int, float, np.integer, np.floating)):
        raise InputError(f"pca: received {pca!r}; expected None, a variance fraction in (0, 1] or a number of components")
    if isinstance(pca, (int, np.integer)):
        if pca < 1:
            raise InputError(f"pca: received {pca}; expected a positive number of components")
    elif not 0.0 < float(pca) <= 1.0:
        raise InputError(f"pca: received {pca}; expected a variance fraction in (0, 1]")


def unit_patterns(da: xr.DataArray, pca, rng: np.random.Generator, ids: list[str]) -> tuple[np.ndarray, int]:
    """Row-centred, unit-norm patterns ``z`` so that correlation distance = ``1 - z_i · z_j``.

    Returns the patterns and their number of dimensions (PCA components, or features).
    """
    x = _flat(da)
    if pca is not None:
        x, k = pca_scores(x, pca, rng)
    else:
        k = x.shape[1]
        x = x.astype(np.float64 if x.size <= 5e7 else np.float32)
    z = x - x.mean(1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", z, z))
    bad = np.flatnonzero(norm <= 1e-12 * max(float(norm.max()), 1e-300))
    if bad.size:
        raise InputError(f"features: received constant patterns for stimuli {[ids[i] for i in bad[:5]]}; "
                         "correlation distance is undefined for them (drop those images)")
    z /= norm[:, None]
    return z, k


def row_block_size(n: int, levels: int = 2) -> int:
    """How many distance rows (``rows × n`` float64 per level) fit the row-block budget."""
    return int(max(1, min(1024, _ROW_BLOCK_BYTES // max(1, 8 * n * levels))))


def distance_rows(z: np.ndarray, rows) -> np.ndarray:
    """Correlation distances ``(len(rows), N)`` of the stimuli ``rows`` to every stimulus."""
    d = z[rows] @ z.T
    np.subtract(1.0, d, out=d)
    return d.astype(np.float64, copy=False)


def paired_distances(z: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Correlation distances between stimuli ``a[k]`` and ``b[k]``."""
    return 1.0 - np.einsum("ij,ij->i", z[a], z[b]).astype(np.float64)
