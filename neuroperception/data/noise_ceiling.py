r"""Noise ceilings: how much of the variance of repeat-averaged responses is signal.

Both estimators target the same quantity. With single-trial responses
:math:`x_{ij} = s_i + e_{ij}` (stimulus :math:`i`, repeat :math:`j`), signal variance
:math:`\sigma_s^2 = \mathrm{var}_i(s_i)`, noise variance :math:`\sigma_n^2 = \mathrm{var}(e_{ij})` and
:math:`n_i` repeats of stimulus :math:`i`, the noise ceiling of the repeat-averaged responses
:math:`\bar x_i` is

.. math:: \mathrm{NC} = \frac{\sigma_s^2}{\sigma_s^2 + \sigma_n^2 \, \overline{1/n}}, \qquad
          \overline{1/n} = \frac{1}{S}\sum_{i=1}^{S} \frac{1}{n_i},

the fraction (0..1) of the variance of :math:`\bar x_i` across the :math:`S` stimuli that an ideal model
could explain. With :math:`\mathrm{ncsnr} = \sigma_s/\sigma_n` this is
:math:`\mathrm{ncsnr}^2/(\mathrm{ncsnr}^2 + \overline{1/n})`, the NSD / Algonauts 2023 formula (Allen et
al., 2022; Gifford et al., 2023) with :math:`\overline{1/n} = (A/3 + B/2 + C/1)/(A + B + C)` for
:math:`A, B, C` stimuli seen 3, 2 and 1 times (NSD and Algonauts report it in percent, times 100).

The estimate of a voxel without any signal is 0 about half the time (:math:`\sigma_s^2` is clipped at 0)
and otherwise small but positive, shrinking with the number of stimuli (below 0.1 in about 98% of such
voxels with 1000 stimuli seen 3 times, 81% with 200). Dividing by such ceilings is meaningless, so the
normalised encoding scores (:func:`~neuroperception.encoding.noise_ceiling_normalized`) leave out voxels
below a minimum ceiling, by default 0.1: NSD analyses keep voxels with ncsnr > 0.2 (Conwell et al., 2024),
:math:`0.2^2/(0.2^2 + 1/3) = 0.107` for 3 repeats.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._docs import fill_doc
from .._validation import check_random_state, check_responses, describe
from ..errors import InputError, ShapeError

__all__ = ["noise_ceiling", "ncsnr", "noise_ceiling_from_ncsnr"]

_METHODS = ("ncsnr", "split_half")


def _trials(responses: Any, name: str = "responses") -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
    """Validate ``(repeat, stimulus, voxel)`` responses; return them, the values and the repeat counts."""
    if isinstance(responses, np.ndarray) and responses.ndim == 2:
        raise ShapeError(
            f"{name}: received {describe(responses)} without a repeat dim; expected (repeat, stimulus, voxel) "
            "single-trial responses (see stack_repeats)"
        )
    da = check_responses(responses, allow_repeats=True, allow_nan=True, name=name)
    if "repeat" not in da.dims:
        raise ShapeError(
            f"{name}: received dims {da.dims} without a repeat dim; expected (repeat, stimulus, voxel) "
            "single-trial responses (see stack_repeats)"
        )
    values = np.asarray(da.values, dtype=float)
    valid = ~np.isnan(values)
    if not np.array_equal(valid.all(-1), valid.any(-1)):
        raise InputError(
            f"{name}: received NaN in some voxels but not others for the same (repeat, stimulus); expected "
            "NaN only for missing repeats, in every voxel alike (drop voxels with missing betas first)"
        )
    counts = valid[..., 0].sum(0) if values.shape[-1] else valid.all(-1).sum(0)
    if (counts == 0).any():
        ids = da["stimulus_id"].values[counts == 0] if "stimulus_id" in da.coords else np.flatnonzero(counts == 0)
        raise InputError(
            f"{name}: {int((counts == 0).sum())} stimuli have no response at all (e.g. {[str(i) for i in ids[:5]]}); "
            "expected at least one repeat per stimulus (drop them first)"
        )
    if (counts >= 2).sum() == 0:
        raise InputError(
            f"{name}: received {values.shape[0]} repeat(s) and no stimulus with 2 or more; expected at least one "
            "stimulus seen twice or more (noise is estimated from repeats)"
        )
    return da, values, counts


def _per_voxel(da: xr.DataArray, values: np.ndarray, name: str, attrs: dict) -> xr.DataArray:
    coords = {k: v for k, v in da.coords.items() if v.dims == ("voxel",)}
    return xr.DataArray(values, dims=("voxel",), coords=coords, name=name, attrs=attrs)


def _signal_noise(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NSD signal and noise variances per voxel."""
    rep = counts >= 2
    x = values[:, rep]
    mean = np.nanmean(x, axis=0)
    within = np.nansum((x - mean) ** 2, axis=0) / (counts[rep] - 1)[:, None]
    noise = within.mean(0)
    total = np.nanvar(values.reshape(-1, values.shape[-1]), axis=0, ddof=1)
    return np.maximum(total - noise, 0.0), noise


def ncsnr(responses: Any) -> xr.DataArray:
    r"""Noise-ceiling signal-to-noise ratio per voxel, as defined for NSD (Allen et al., 2022).

    :math:`\sigma_n^2` is the mean over stimuli seen at least twice of the variance across that
    stimulus's repeats (``ddof=1``); :math:`\sigma_s^2 = \max(0, \sigma_{tot}^2 - \sigma_n^2)` where
    :math:`\sigma_{tot}^2` is the variance (``ddof=1``) of all single trials pooled over stimuli and
    repeats; :math:`\mathrm{ncsnr} = \sigma_s / \sigma_n`. (NSD z-scores each scanning day's betas first, so
    there :math:`\sigma_{tot}^2 = 1`; any such normalisation is left to the caller.)

    Parameters
    ----------
    responses : xarray.DataArray or numpy.ndarray
        ``("repeat", "stimulus", "voxel")`` single-trial responses, NaN for missing repeats.

    Returns
    -------
    xarray.DataArray
        ``("voxel",)`` with the input's voxel coordinates; ``inf`` where the noise variance is 0 and the
        signal variance is not, NaN where both are 0.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(1, 2000, 2)) + rng.normal(scale=0.5, size=(3, 2000, 2))
    >>> np.round(ncsnr(x).values, 1)  # sigma_s / sigma_n = 1 / 0.5
    array([2., 2.])
    """
    da, values, counts = _trials(responses)
    signal, noise = _signal_noise(values, counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(signal) / np.sqrt(noise)
    return _per_voxel(da, out, "ncsnr", {"source": "ncsnr"})


def noise_ceiling_from_ncsnr(ncsnr: Any, counts: Any) -> Any:
    r"""Noise ceiling (fraction) of repeat-averaged responses from an ncsnr and the repeat counts.

    :math:`\mathrm{NC} = \mathrm{ncsnr}^2 / (\mathrm{ncsnr}^2 + \overline{1/n})` with
    :math:`\overline{1/n}` the mean over stimuli of one over their number of repeats.

    Parameters
    ----------
    ncsnr : float, array-like or xarray.DataArray
        Non-negative ncsnr values (``inf`` gives 1, NaN stays NaN).
    counts : int or array-like of int
        The number of repeats averaged per stimulus (one number for all stimuli, or one per stimulus).

    Returns
    -------
    same kind as ``ncsnr``
        Noise ceiling in [0, 1].

    Examples
    --------
    >>> round(float(noise_ceiling_from_ncsnr(1.0, [3, 3, 2, 1])), 4)  # mean(1/n) = 0.5417
    0.6486
    """
    n = np.atleast_1d(np.asarray(counts, dtype=float))
    if n.ndim != 1 or n.size == 0 or not np.isfinite(n).all() or (n < 1).any() or (n != np.round(n)).any():
        raise InputError(f"counts: received {describe(n)}; expected positive whole numbers of repeats")
    inv = float(np.mean(1.0 / n))
    snr = ncsnr.values if isinstance(ncsnr, xr.DataArray) else np.asarray(ncsnr, dtype=float)
    if (snr < 0).any():
        raise InputError(f"ncsnr: received {describe(snr)}; expected non-negative values")
    with np.errstate(invalid="ignore"):
        out = np.where(np.isinf(snr), 1.0, snr**2 / (snr**2 + inv))
    if isinstance(ncsnr, xr.DataArray):
        return ncsnr.copy(data=out).rename("noise_ceiling")
    return out if np.ndim(ncsnr) else float(out)


def _split_half(values: np.ndarray, counts: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Mean over random splits of the noise ceiling implied by the correlation of the half-means."""
    rep = counts >= 2
    x = np.nan_to_num(values[:, rep])
    valid = ~np.isnan(values[:, rep, 0])
    n = counts[rep]
    half = n // 2
    inv_full = np.mean(1.0 / counts)
    inv_a, inv_b = np.mean(1.0 / half), np.mean(1.0 / (n - half))
    out = np.zeros(values.shape[-1])
    for _ in range(n_splits):
        keys = np.where(valid, rng.random(valid.shape), np.inf)
        rank = np.argsort(np.argsort(keys, axis=0), axis=0)
        in_a = valid & (rank < half)
        in_b = valid & ~in_a
        a = np.einsum("rs,rsv->sv", in_a / half, x)
        b = np.einsum("rs,rsv->sv", in_b / (n - half), x)
        a -= a.mean(0)
        b -= b.mean(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
        out += _ceiling_from_half_correlation(r, inv_a, inv_b, inv_full)
    return np.clip(out / n_splits, 0.0, 1.0)


def _ceiling_from_half_correlation(r: np.ndarray, inv_a: float, inv_b: float, inv_full: float) -> np.ndarray:
    """Spearman-Brown in general form: half-mean correlation -> ceiling of the full repeat-average.

    ``corr(a, b) = 1 / sqrt((1 + q inv_a)(1 + q inv_b))`` with ``q`` the noise-to-signal variance ratio
    and ``inv_a``, ``inv_b`` the mean inverse half sizes; solve for ``q`` and return
    ``1 / (1 + q inv_full)``; ``r <= 0`` gives 0.
    """
    r = np.asarray(r, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = (inv_a + inv_b) ** 2 - 4 * inv_a * inv_b * (1 - 1 / r**2)
        q = (np.sqrt(disc) - (inv_a + inv_b)) / (2 * inv_a * inv_b)
        return np.where(r > 0, 1 / (1 + np.clip(q, 0, None) * inv_full), 0.0)


@fill_doc
def noise_ceiling(
    responses: Any,
    method: str = "ncsnr",
    n_splits: int = 50,
    random_state: int | np.random.Generator | None = 0,
) -> xr.DataArray:
    r"""Noise ceiling per voxel: the fraction of the variance of the repeat-averaged response that is signal.

    The target, for :math:`S` stimuli with :math:`n_i` repeats each, is
    :math:`\sigma_s^2 / (\sigma_s^2 + \sigma_n^2 \cdot \mathrm{mean}_i(1/n_i))` with
    :math:`\sigma_s^2` the variance of the true responses across stimuli and :math:`\sigma_n^2` the
    trial-to-trial noise variance (the mean runs over all stimuli, those seen once included).

    * ``"ncsnr"`` (NSD, Allen et al. 2022; Algonauts 2023): :math:`\sigma_n^2` = mean over stimuli with
      at least 2 repeats of their across-repeat variance (``ddof=1``);
      :math:`\sigma_s^2 = \max(0, \sigma_{tot}^2 - \sigma_n^2)` with :math:`\sigma_{tot}^2` the variance
      (``ddof=1``) of all single trials pooled; ``ncsnr`` :math:`= \sigma_s/\sigma_n`;
      NC :math:`= \mathrm{ncsnr}^2 / (\mathrm{ncsnr}^2 + \mathrm{mean}_i(1/n_i))`, which for
      :math:`A, B, C` stimuli seen 3, 2, 1 times is the Algonauts :math:`(A/3 + B/2 + C/1)/(A + B + C)`.
    * ``"split_half"``: for each of ``n_splits`` random splits of every stimulus's repeats into two
      halves (:math:`\lfloor n_i/2 \rfloor` and :math:`\lceil n_i/2 \rceil` repeats; stimuli seen once
      are left out), the Pearson correlation :math:`r` across stimuli of the two half-means is
      converted to the single-repeat reliability :math:`\rho_1 = 1/(1+q)` by solving
      :math:`r = [(1 + q\,\overline{1/a})(1 + q\,\overline{1/b})]^{-1/2}` (:math:`a_i, b_i` the half
      sizes; with equal halves of :math:`k` repeats this is Spearman–Brown, :math:`r = \rho_k`), then
      stepped up to the full counts with the general Spearman–Brown formula
      :math:`\rho_n = n\rho_1/(1 + (n-1)\rho_1) = 1/(1 + q/n)`, :math:`1/n` replaced by
      :math:`\mathrm{mean}_i(1/n_i)`; :math:`r \le 0` gives 0. The ceilings are averaged over splits
      and clipped to [0, 1].

    Both are unbiased for the quantity above; ``ncsnr`` is deterministic and comparable with NSD and
    Algonauts numbers, ``split_half`` is the reliability-style estimate of older studies (random: fix
    ``random_state``).

    Parameters
    ----------
    responses : xarray.DataArray or numpy.ndarray
        ``("repeat", "stimulus", "voxel")`` single trials (from :func:`stack_repeats` or
        :func:`single_trial_betas`), NaN where a stimulus has fewer repeats, in every voxel alike.
    method : {"ncsnr", "split_half"}
    n_splits : int
        Random splits for ``"split_half"``.
    %(random_state)s
        It draws the splits.

    Returns
    -------
    xarray.DataArray
        ``("voxel",)`` fractions in [0, 1] (NaN for a voxel without any variance), voxel coordinates
        kept, attrs ``method``, ``n_splits``, ``mean_inverse_repeats``.

    Raises
    ------
    ShapeError
        No ``repeat`` dim.
    InputError
        No stimulus with 2 or more repeats, a stimulus without any response, NaN that differ between
        voxels, an unknown method, fewer than 3 repeated stimuli for ``"split_half"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(1, 3000, 2))                  # variance 1 across stimuli
    >>> trials = signal + rng.normal(size=(3, 3000, 2))         # noise variance 1, 3 repeats
    >>> np.round(noise_ceiling(trials).values, 2)               # truth 1 / (1 + 1/3) = 0.75
    array([0.74, 0.75])
    >>> np.round(noise_ceiling(trials, "split_half", n_splits=10).values, 2)
    array([0.74, 0.74])
    """
    if method not in _METHODS:
        raise InputError(f"method: received {method!r}; expected one of {list(_METHODS)}")
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 1:
        raise InputError(f"n_splits: received {n_splits!r}; expected a positive integer")
    rng = check_random_state(random_state)
    da, values, counts = _trials(responses)
    inv = float(np.mean(1.0 / counts))
    if method == "ncsnr":
        signal, noise = _signal_noise(values, counts)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = signal / (signal + noise * inv)
    else:
        if (counts >= 2).sum() < 3:
            raise InputError(
                f"responses: received {int((counts >= 2).sum())} stimuli with 2 or more repeats; expected at "
                "least 3 for a split-half correlation"
            )
        out = _split_half(values, counts, int(n_splits), rng)
        flat = np.nanvar(values.reshape(-1, values.shape[-1]), axis=0) == 0
        out[flat] = np.nan
    attrs = {"method": method, "n_splits": int(n_splits) if method == "split_half" else 0,
             "mean_inverse_repeats": inv}
    return _per_voxel(da, out, "noise_ceiling", attrs)
