"""Image triplets whose low-level and high-level similarity are de-correlated.

A triplet is a reference and two options A and B. At each level (an early layer, a late layer)
the options' correlation distances to the reference give ``delta = d(ref, A) - d(ref, B)``.
:func:`generate_triplets` fills a grid of target ``(delta_low, delta_high)`` cells evenly, so the
two deltas end up uncorrelated and congruent triplets (both levels favour the same option) are
exactly as many as incongruent ones. See ``docs/triplets.md``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr
from scipy.spatial import cKDTree

from .._docs import fill_doc
from .._progress import progress_bar, show_progress
from .._validation import seed_from
from ..errors import InputError
from ..features import extract, layer_names, load_model
from ..features.registry import FeatureModel
from ..stimuli import ImageSet
from ._levels import check_feature_levels, check_pca, distance_rows, paired_distances, row_block_size, unit_patterns
from .pool import candidate_pool

__all__ = ["generate_triplets", "candidate_pool", "TRIPLET_COLUMNS"]

#: Columns of the triplet table, in order.
TRIPLET_COLUMNS = ("triplet", "ref", "option_a", "option_b", "d_low_a", "d_low_b", "d_high_a", "d_high_b",
                   "delta_low", "delta_high", "bin_low", "bin_high", "condition")

_N_SPREAD_SAMPLES = 20000
_CELLS_PER_QUERY = 8


# -- inputs ----------------------------------------------------------------------------------------
def _check_level(level, name: str) -> tuple:
    if (not isinstance(level, (tuple, list)) or len(level) != 2 or not isinstance(level[1], str)
            or not isinstance(level[0], (str, FeatureModel))):
        raise InputError(f"{name}: received {level!r}; expected a (model spec or FeatureModel, layer name) pair, "
                         "e.g. ('torchvision:vgg16', 'features.4')")
    return tuple(level)


def _spec(model) -> str:
    return model.spec if isinstance(model, FeatureModel) else str(model)


def _extract_levels(images, levels: dict, pooling, batch_size, progress) -> dict[str, xr.DataArray]:
    """Load each model once, check every layer before extracting anything, extract per model."""
    models: dict[str, FeatureModel] = {}
    for key, (model, layer) in levels.items():
        spec = _spec(model)
        if spec not in models:
            models[spec] = model if isinstance(model, FeatureModel) else load_model(model)
        names = layer_names(models[spec])
        if layer not in names:
            close = difflib.get_close_matches(layer, names, n=3)
            raise InputError(f"{key}: layer {layer!r} is not a layer of {spec}; expected one of layer_names(model)"
                             + (f" (close: {close})" if close else ""))
    poolings = pooling if isinstance(pooling, (tuple, list)) else (pooling, pooling)
    if len(poolings) != 2:
        raise InputError(f"pooling: received {pooling!r}; expected one pooling spec or a (low, high) pair")
    wanted = {"low": poolings[0], "high": poolings[1]}
    (m_low, l_low), (m_high, l_high) = levels["low"], levels["high"]
    if _spec(m_low) == _spec(m_high) and wanted["low"] == wanted["high"]:  # one pass for both layers
        feats = extract(models[_spec(m_low)], images, list(dict.fromkeys([l_low, l_high])), pooling=wanted["low"],
                        batch_size=batch_size, progress=progress)
        return {"low": feats[l_low], "high": feats[l_high]}
    return {key: extract(models[_spec(levels[key][0])], images, [levels[key][1]], pooling=wanted[key],
                         batch_size=batch_size, progress=progress)[levels[key][1]] for key in ("low", "high")}


def _check_settings(n_triplets, n_bins, step, tolerance) -> None:
    if isinstance(n_triplets, bool) or not isinstance(n_triplets, (int, np.integer)) or n_triplets < 1:
        raise InputError(f"n_triplets: received {n_triplets!r}; expected a positive int")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2 or n_bins % 2:
        raise InputError(f"n_bins: received {n_bins!r}; expected an even int >= 2 (the grid is symmetric about 0)")
    if not np.isfinite(step) or step <= 0:
        raise InputError(f"step: received {step!r}; expected a positive bin width in units of sigma")
    if not 0.0 < tolerance <= 0.5:
        raise InputError(f"tolerance: received {tolerance!r}; expected a value in (0, 0.5] (largest distance "
                         "from the cell centre, in bin widths; 0.5 accepts the whole cell)")


def _check_pool_size(n_images: int, n_triplets: int) -> None:
    if n_images < 3 * n_triplets:
        raise InputError(f"images: received {n_images} images for n_triplets={n_triplets}; expected at least "
                         f"{3 * n_triplets} (each triplet uses 3 images and no image is reused; build a larger "
                         "pool with candidate_pool or ask for fewer triplets)")


# -- the grid --------------------------------------------------------------------------------------
def _spread(z_low, z_high, rng) -> tuple[float, float]:
    """Spread (std) of each level's correlation distances over seeded random pairs."""
    n = z_low.shape[0]
    r = rng.integers(0, n, _N_SPREAD_SAMPLES)
    a = (r + rng.integers(1, n, _N_SPREAD_SAMPLES)) % n
    s_low, s_high = (float(paired_distances(z, r, a).std()) for z in (z_low, z_high))
    if not (s_low > 0 and s_high > 0):
        raise InputError("features: every distance is the same at one level (spread 0); expected varying patterns")
    return s_low, s_high


def _quotas(n_triplets: int, n_bins: int, rng) -> dict[tuple[int, int], int]:
    """Triplets per canonical cell (``i >= n_bins/2``: delta_low > 0), congruent and incongruent alike."""
    half = n_bins // 2
    cells = [(i, j) for i in range(half, n_bins) for j in range(n_bins)]
    base, extra = divmod(n_triplets, len(cells))
    quota = {c: base for c in cells}
    congruent = [cells[k] for k in rng.permutation(len(cells)) if cells[k][1] >= half]
    incongruent = [cells[k] for k in rng.permutation(len(cells)) if cells[k][1] < half]
    first, second = (congruent, incongruent) if rng.random() < 0.5 else (incongruent, congruent)
    for k in range(extra):  # alternate so the two conditions differ by one at most
        quota[(first if k % 2 == 0 else second)[k // 2]] += 1
    return quota


def _priority(z_low, z_high, available, centres, widths, remaining, rng) -> list[int]:
    """Open cells, scarcest first: fewest random triplets of the unused images per missing triplet.

    The supply of each cell is estimated from a seeded sample of random triplets drawn among the
    images still unused, so cells whose candidates get used up move forward as the search goes.
    """
    pool = np.flatnonzero(available)
    r, a, b = (pool[rng.integers(0, pool.size, _N_SPREAD_SAMPLES)] for _ in range(3))
    ok = (r != a) & (r != b) & (a != b)
    r, a, b = r[ok], a[ok], b[ok]
    deltas = np.stack([paired_distances(z, r, a) - paired_distances(z, r, b) for z in (z_low, z_high)], 1)
    scaled = np.where(deltas[:, :1] < 0, -deltas, deltas) / widths  # fold: swapping A and B mirrors
    # cell index of each sampled triplet on the canonical half grid (delta_low > 0)
    idx = np.floor(scaled)
    supply = np.zeros(len(centres))
    lookup = {(int(round(c[0] - 0.5)), int(round(c[1] - 0.5))): k for k, c in enumerate(centres)}
    for key, count in zip(*np.unique(idx.astype(int), axis=0, return_counts=True)):
        k = lookup.get(tuple(int(v) for v in key))
        if k is not None:
            supply[k] = count
    far = -np.hypot(centres[:, 0], centres[:, 1])
    open_cells = np.flatnonzero(remaining > 0)
    return sorted(open_cells.tolist(), key=lambda k: (supply[k] / remaining[k], far[k]))


def _best_pairs(points, option_pos, targets, tol):
    """For each target cell: the (a, b) among ``points`` whose difference is closest to it.

    ``points`` are ``(d_low, d_high)`` of every available option to one reference, in bin
    units; returns ``(error, a, b)`` arrays over targets (error inf where none is within ``tol``).
    """
    tree = cKDTree(points)
    queries = points[option_pos][:, None, :] - targets[None, :, :]
    dist, idx = tree.query(queries.reshape(-1, 2), k=2, p=np.inf, distance_upper_bound=tol)
    a = np.repeat(option_pos, len(targets))
    first_is_self = idx[:, 0] == a
    best_d = np.where(first_is_self, dist[:, 1], dist[:, 0])
    best_b = np.where(first_is_self, idx[:, 1], idx[:, 0])
    best_d = best_d.reshape(len(option_pos), len(targets))
    best_b = best_b.reshape(len(option_pos), len(targets))
    k = np.argmin(best_d, axis=0)
    cols = np.arange(len(targets))
    return best_d[k, cols], option_pos[k], best_b[k, cols]


def _search(z_low, z_high, widths, n_bins, quota, tol, rng, progress, max_options):
    """Greedy fill: each unused reference serves the scarcest open cell it can reach; no image reused.

    Passes over the unused images repeat while they still add triplets.
    """
    n = z_low.shape[0]
    half = n_bins // 2
    cells = list(quota)
    centres = np.array([(i - half + 0.5, j - half + 0.5) for i, j in cells])
    remaining = np.array([quota[c] for c in cells])
    available = np.ones(n, dtype=bool)
    found: list[tuple[int, int, int, int]] = []
    total = int(remaining.sum())
    block = row_block_size(n)
    refresh = max(5, total // 50)  # re-estimate the cells' supply every 2 % of the triplets
    order: list[list[int]] = [[]]
    n_options = [max_options]  # every option is searched as A after the first pass

    def serve(r: int, row_low: np.ndarray, row_high: np.ndarray) -> bool:
        cand = np.flatnonzero(available)
        cand = cand[cand != r]
        if cand.size < 2:
            return False
        points = np.stack([row_low[cand] / widths[0], row_high[cand] / widths[1]], 1)
        opts = np.arange(cand.size)
        if cand.size > n_options[0]:
            opts = np.sort(rng.choice(cand.size, n_options[0], replace=False))
        open_cells = [c for c in order[0] if remaining[c] > 0]
        for lo_c in range(0, len(open_cells), _CELLS_PER_QUERY):
            group = open_cells[lo_c:lo_c + _CELLS_PER_QUERY]
            err, a, b = _best_pairs(points, opts, centres[group], tol)
            ok = np.flatnonzero(np.isfinite(err))
            if ok.size:
                cell = group[ok[0]]
                ia, ib = int(cand[a[ok[0]]]), int(cand[b[ok[0]]])
                found.append((int(r), ia, ib, cell))
                available[[r, ia, ib]] = False
                remaining[cell] -= 1
                if len(found) % refresh == 0 and remaining.sum():
                    order[0] = _priority(z_low, z_high, available, centres, widths, remaining, rng)
                return True
        return False

    bar = progress_bar(None, progress, total=total, desc="triplets", unit="triplet")
    try:
        # passes over the unused images in a seeded order, each unused image once a reference per
        # pass; a reference that fits no open cell may fit after other cells have closed
        while remaining.sum():
            before = len(found)
            order[0] = _priority(z_low, z_high, available, centres, widths, remaining, rng)
            refs = rng.permutation(np.flatnonzero(available))
            for lo in range(0, refs.size, block):
                chunk = refs[lo:lo + block]
                chunk = chunk[available[chunk]]
                if chunk.size == 0 or remaining.sum() == 0:
                    continue
                rows_low, rows_high = distance_rows(z_low, chunk), distance_rows(z_high, chunk)
                for k, r in enumerate(chunk):
                    if available[r] and remaining.sum() and serve(int(r), rows_low[k], rows_high[k]):
                        bar.update(1)
            if len(found) == before:
                if n_options[0] >= n:
                    break
                n_options[0] = n
    finally:
        bar.close()
    if remaining.sum():
        short = {cells[c]: int(remaining[c]) for c in np.flatnonzero(remaining)}
        raise InputError(
            f"images: filled {total - int(remaining.sum())} of {total} triplets from {n} images; "
            f"{len(short)} grid cells stayed short (cell (bin_low, bin_high): missing, e.g. "
            f"{dict(list(short.items())[:4])}); expected a larger or more varied pool, fewer triplets, "
            "a larger tolerance, or a smaller step"
        )
    return found, cells


def _orient(found, rng) -> np.ndarray:
    """Seeded sign flips: half of each cell's triplets swap A and B (mirroring the cell)."""
    flip = np.zeros(len(found), dtype=bool)
    by_cell: dict[int, list[int]] = {}
    for k, (_, _, _, cell) in enumerate(found):
        by_cell.setdefault(cell, []).append(k)
    odd = []
    for cell in sorted(by_cell):
        members = rng.permutation(by_cell[cell])
        flip[members[: len(members) // 2]] = True
        if len(members) % 2:
            odd.append(members[-1])
    odd = rng.permutation(np.array(odd, dtype=int))
    flip[odd[: len(odd) // 2]] = True
    return flip


# -- the public entry ------------------------------------------------------------------------------
@fill_doc
def generate_triplets(images, low=("torchvision:vgg16", "features.4"), high=("cornet_s", "IT"),
                      n_triplets: int = 500, *, n_bins: int = 10, step: float = 0.5, tolerance: float = 0.5,
                      pca=0.95, pooling="avg:7", random_state: int | np.random.Generator | None = 0,
                      batch_size: int = 32, progress: bool | None = None, max_options: int = 256) -> pd.DataFrame:
    """Triplets (reference, option A, option B) with de-correlated low- and high-level similarity.

    For each level the images' features are extracted (``pooling``), optionally reduced by PCA,
    and compared with the correlation distance ``1 - pearson``. With ``delta = d(ref, A) - d(ref, B)``
    and ``sigma`` the standard deviation of the level's distances over random pairs of the pool,
    a ``n_bins × n_bins`` grid of target ``(delta_low, delta_high)`` cells ``step * sigma`` wide,
    centred on 0, is filled with the same number of triplets per cell: unused references are
    drawn in a seeded order, each serves the scarcest open cell (fewest random triplets of the
    unused images per missing triplet) for which some pair of unused options lands within
    ``tolerance`` bin widths of the cell's centre (the pair closest to the centre is kept). Half of each cell's triplets then swap A and B (a seeded sign flip), so both
    signs appear equally; congruent and incongruent cells get equal quotas. No image appears in
    two triplets. Distances are computed as blocks of rows, never as the full ``N × N`` matrix.

    Parameters
    ----------
    images : ImageSet, array-like or dict
        The candidate pool (``(N, 3, H, W)`` in ``[0, 1]``), or precomputed features
        ``{"low": DataArray, "high": DataArray}`` (``("stimulus", ...)`` with ``stimulus_id``).
    low, high : (str or FeatureModel, str)
        Model spec (see :func:`~neuroperception.features.load_model`) and layer of each level.
        A spec is loaded without weights: the defaults, VGG-16 and CORnet-S, then have seeded
        random weights and warn (:class:`~neuroperception.errors.RandomWeightsWarning`); for
        triplets that mean something pass models loaded with trained weights, e.g.
        ``(load_model("torchvision:vgg16", weights="DEFAULT"), "features.4")``.
        Ignored when ``images`` holds features.
    n_triplets : int
        Number of triplets; the pool needs at least ``3 * n_triplets`` images.
    n_bins : int
        Bins per axis (even: the grid is symmetric about 0).
    step : float
        Bin width in units of each level's sigma, the standard deviation of its distances
        (0.5: the grid spans ±2.5 sigma with 10 bins).
    tolerance : float
        Largest distance of a triplet's deltas from its cell's centre, in bin widths (max over
        the two axes), in ``(0, 0.5]``.
    pca : float, int or None
        Keep the principal components explaining this fraction of variance (float), this many
        components (int), or the raw features (None).
    pooling : str or (str, str)
        Pooling of each level's activations (see :func:`~neuroperception.features.extract`);
        ``"avg:7"`` keeps a coarse 7×7 spatial layout.
    %(random_state)s
        It seeds the reference order, option subsets, quotas, flips and row order
        (``attrs["random_state"]`` records the seed: for a Generator or None, the one drawn from it).
    %(batch_size)s
    %(progress)s
    max_options : int
        Options per reference searched as option A (option B is searched among all).

    Returns
    -------
    pandas.DataFrame
        One row per triplet with the columns :data:`TRIPLET_COLUMNS`; ``attrs`` hold ``low``
        and ``high`` (model spec, layer), ``weights`` (``{"low": ..., "high": ...}``, where each
        level's model weights came from, e.g. ``"random-init(seed=0)"``; for precomputed features
        their ``weights`` attribute, else ``"unknown"``), ``sigma_low``, ``sigma_high``,
        ``r_low_high`` (Pearson r of ``delta_low`` and ``delta_high``), ``random_state``,
        ``n_bins``, ``step``, ``tolerance``, ``pca`` and ``dims`` (dimensions used per level),
        ``n_pool``.

    Raises
    ------
    InputError
        Fewer than ``3 * n_triplets`` images, a layer the model lacks, features without
        ``stimulus_id``, or a grid that cannot be filled from this pool.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"im{i}" for i in range(300)]
    >>> feats = {k: xr.DataArray(rng.normal(size=(300, 20)), dims=("stimulus", "feature"),
    ...                          coords={"stimulus_id": ("stimulus", ids)}) for k in ("low", "high")}
    >>> table = generate_triplets(feats, n_triplets=40, n_bins=4, pca=None)
    >>> used = set(table[["ref", "option_a", "option_b"]].values.ravel())
    >>> len(table), int((table["condition"] == "congruent").sum()), len(used)
    (40, 20, 120)
    """
    _check_settings(n_triplets, n_bins, step, tolerance)
    check_pca(pca)
    if isinstance(max_options, bool) or not isinstance(max_options, (int, np.integer)) or max_options < 1:
        raise InputError(f"max_options: received {max_options!r}; expected a positive int")
    seed, progress = seed_from(random_state), show_progress(progress)
    if isinstance(images, Mapping):
        feats, ids = check_feature_levels(images)
        specs = {k: (str(feats[k].attrs.get("model", "precomputed")), str(feats[k].attrs.get("layer", k)))
                 for k in ("low", "high")}
    else:
        levels = {"low": _check_level(low, "low"), "high": _check_level(high, "high")}
        images = images if isinstance(images, ImageSet) else ImageSet.from_array(images)
        _check_pool_size(len(images), n_triplets)
        feats = _extract_levels(images, levels, pooling, batch_size, progress)
        feats, ids = check_feature_levels(feats)
        specs = {k: (_spec(levels[k][0]), levels[k][1]) for k in ("low", "high")}
    weights = {k: str(feats[k].attrs.get("weights", "unknown")) for k in ("low", "high")}
    n = len(ids)
    _check_pool_size(n, n_triplets)
    rng = np.random.default_rng(seed)
    z_low, k_low = unit_patterns(feats["low"], pca, rng, ids)
    z_high, k_high = unit_patterns(feats["high"], pca, rng, ids)
    s_low, s_high = _spread(z_low, z_high, rng)
    widths = np.array([step * s_low, step * s_high])
    quota = _quotas(int(n_triplets), int(n_bins), rng)
    found, _ = _search(z_low, z_high, widths, int(n_bins), quota, float(tolerance), rng, progress,
                           int(max_options))
    flip = _orient(found, rng)
    trip = np.array([f[:3] for f in found], dtype=np.int64)
    ref = trip[:, 0]
    opt_a = np.where(flip, trip[:, 2], trip[:, 1])
    opt_b = np.where(flip, trip[:, 1], trip[:, 2])
    rows = rng.permutation(len(found))
    ref, opt_a, opt_b = ref[rows], opt_a[rows], opt_b[rows]
    return _table(ids, ref, opt_a, opt_b, z_low, z_high, widths, int(n_bins), {
        "low": specs["low"], "high": specs["high"], "weights": weights, "sigma_low": s_low, "sigma_high": s_high,
        "random_state": seed, "n_bins": int(n_bins), "step": float(step), "tolerance": float(tolerance),
        "pca": pca, "dims": {"low": int(k_low), "high": int(k_high)}, "n_pool": n,
    })


def _table(ids, ref, opt_a, opt_b, z_low, z_high, widths, n_bins, attrs) -> pd.DataFrame:
    ids = np.asarray(ids, dtype=object)
    d = {f"d_{lvl}_{o}": paired_distances(z, ref, opt) for lvl, z in (("low", z_low), ("high", z_high))
         for o, opt in (("a", opt_a), ("b", opt_b))}
    delta_low, delta_high = d["d_low_a"] - d["d_low_b"], d["d_high_a"] - d["d_high_b"]
    bins = [np.clip(np.floor(delta / w + n_bins / 2), 0, n_bins - 1).astype(int)
            for delta, w in ((delta_low, widths[0]), (delta_high, widths[1]))]
    same = np.sign(delta_low) == np.sign(delta_high)
    table = pd.DataFrame({
        "triplet": np.arange(len(ref)), "ref": ids[ref], "option_a": ids[opt_a], "option_b": ids[opt_b],
        **d, "delta_low": delta_low, "delta_high": delta_high, "bin_low": bins[0], "bin_high": bins[1],
        "condition": np.where(same, "congruent", "incongruent"),
    })
    r = float(np.corrcoef(delta_low, delta_high)[0, 1]) if len(ref) > 1 else float("nan")
    table.attrs.update(attrs, r_low_high=r)
    return table
