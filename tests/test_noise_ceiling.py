"""Noise ceilings recover the planted fraction of explainable variance of repeat-averaged responses."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroperception.data import make_responses, stack_repeats
from neuroperception.data.noise_ceiling import ncsnr, noise_ceiling, noise_ceiling_from_ncsnr
from neuroperception.errors import InputError, ShapeError

N_STIM, N_VOX = 3000, 100


def _simulate(var_s, sigma, counts, seed=0):
    """Signal (stimulus x voxel, variance var_s) + Gaussian noise of std sigma per voxel, NaN-padded repeats."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(len(counts), len(sigma))) * np.sqrt(var_s)
    trials = signal[None] + rng.normal(size=(int(counts.max()), len(counts), len(sigma))) * sigma
    for i, n in enumerate(counts):
        trials[n:, i] = np.nan
    truth = var_s / (var_s + sigma**2 * np.mean(1.0 / counts))
    ids = [f"img{i:05d}" for i in range(len(counts))]
    return make_responses(trials, ids, roi="V1", xyz=np.c_[np.arange(len(sigma)), np.zeros((len(sigma), 2))]), truth


SNR = {
    "low": (0.3, np.linspace(0.8, 1.6, N_VOX)),   # ceilings 0.26..0.58 with 3 repeats
    "high": (1.0, np.linspace(0.1, 0.4, N_VOX)),  # ceilings 0.95..1.00
}
COUNTS = {
    "equal": np.full(N_STIM, 3),
    "unequal": np.random.default_rng(1).choice([1, 2, 3], N_STIM, p=[0.2, 0.3, 0.5]),
}


@pytest.mark.parametrize("snr", SNR)
@pytest.mark.parametrize("counts", COUNTS)
@pytest.mark.parametrize("method", ["ncsnr", "split_half"])
def test_recovers_planted_noise_ceiling(snr, counts, method):
    responses, truth = _simulate(*SNR[snr], COUNTS[counts])
    nc = noise_ceiling(responses, method=method, random_state=0)
    assert nc.dims == ("voxel",) and nc.sizes["voxel"] == N_VOX
    assert np.abs(nc.values - truth).mean() < 0.02
    assert abs((nc.values - truth).mean()) < 0.008  # no systematic bias
    assert ((nc.values >= 0) & (nc.values <= 1)).all()
    # voxel coordinates are kept
    assert nc["roi"].values.tolist() == ["V1"] * N_VOX
    np.testing.assert_array_equal(nc["x"].values, np.arange(N_VOX))


def test_ncsnr_matches_an_explicit_nsd_computation():
    """Loop over voxels and stimuli as the NSD/Algonauts definition reads; compare with the vectorised code."""
    responses, _ = _simulate(0.5, np.linspace(0.5, 1.5, 6), COUNTS["unequal"][:400], seed=3)
    x = responses.values
    counts = (~np.isnan(x[:, :, 0])).sum(0)
    a, b, c = (counts == 3).sum(), (counts == 2).sum(), (counts == 1).sum()
    expected = []
    for v in range(x.shape[-1]):
        per_stim = [np.var(x[: counts[i], i, v], ddof=1) for i in range(x.shape[1]) if counts[i] >= 2]
        noise = np.mean(per_stim)
        trials = x[:, :, v][~np.isnan(x[:, :, v])]
        signal = max(0.0, np.var(trials, ddof=1) - noise)
        snr = np.sqrt(signal) / np.sqrt(noise)
        expected.append(snr**2 / (snr**2 + (a / 3 + b / 2 + c / 1) / (a + b + c)))
    np.testing.assert_allclose(noise_ceiling(responses).values, expected, rtol=1e-10)
    np.testing.assert_allclose(noise_ceiling_from_ncsnr(ncsnr(responses), counts).values, expected, rtol=1e-10)


def test_split_half_correction_is_spearman_brown():
    """Equal halves of one repeat, two repeats in all: the correction is exactly r -> 2r / (1 + r)."""
    from neuroperception.data.noise_ceiling import _ceiling_from_half_correlation

    r = np.array([-0.2, 0.0, 0.1, 0.5, 0.9, 1.0])
    expected = np.where(r > 0, 2 * r / (1 + r), 0.0)
    np.testing.assert_allclose(_ceiling_from_half_correlation(r, 1.0, 1.0, 0.5), expected, atol=1e-12)
    # unequal halves (1 and 2 repeats, full 3): the planted noise-to-signal ratio q is recovered
    q = np.array([0.1, 1.0, 5.0])
    r = 1 / np.sqrt((1 + q) * (1 + q / 2))
    np.testing.assert_allclose(_ceiling_from_half_correlation(r, 1.0, 0.5, 1 / 3), 1 / (1 + q / 3))


def test_works_on_stack_repeats_output_with_singletons():
    """Stimuli seen once count in mean(1/n); the result does not depend on the stimulus order."""
    rng = np.random.default_rng(5)
    trials = rng.normal(size=(10, 3))
    r = stack_repeats(trials, ["a", "b", "a", "c", "b", "d", "e", "a", "f", "c"])
    assert r.sizes["repeat"] == 3
    nc = noise_ceiling(r)
    np.testing.assert_allclose(nc.values, noise_ceiling_from_ncsnr(ncsnr(r).values, [3, 2, 2, 1, 1, 1]))
    assert nc.attrs["mean_inverse_repeats"] == pytest.approx((1 / 3 + 2 / 2 + 3) / 6)
    shuffled = r.isel(stimulus=[4, 2, 0, 5, 1, 3])
    np.testing.assert_allclose(noise_ceiling(shuffled).values, nc.values)


def test_same_seed_same_output():
    responses, _ = _simulate(0.3, np.linspace(0.8, 1.6, 8), COUNTS["unequal"][:600], seed=2)
    a = noise_ceiling(responses, "split_half", n_splits=7, random_state=11)
    b = noise_ceiling(responses, "split_half", n_splits=7, random_state=11)
    c = noise_ceiling(responses, "split_half", n_splits=7, random_state=12)
    xr.testing.assert_identical(a, b)
    assert not np.allclose(a.values, c.values)
    assert a.attrs["method"] == "split_half" and a.attrs["n_splits"] == 7


def test_noise_ceiling_from_ncsnr_formula():
    # Algonauts: A=2 stimuli seen 3 times, B=1 seen twice, C=1 seen once
    expected = 4.0 / (4.0 + (2 / 3 + 1 / 2 + 1) / 4)
    assert noise_ceiling_from_ncsnr(2.0, [3, 3, 2, 1]) == pytest.approx(expected)
    np.testing.assert_allclose(noise_ceiling_from_ncsnr(np.array([0.0, np.inf]), 3), [0.0, 1.0])
    with pytest.raises(InputError, match="counts: received .*expected positive whole numbers"):
        noise_ceiling_from_ncsnr(1.0, [3, 0])
    with pytest.raises(InputError, match="ncsnr: received .*expected non-negative"):
        noise_ceiling_from_ncsnr(np.array([-1.0]), 3)


def test_zero_noise_and_constant_voxels():
    signal = np.arange(5.0)[:, None] * np.ones((1, 2))
    trials = np.stack([signal, signal, signal])
    trials[:, :, 1] = 4.0  # a voxel that never changes
    nc = noise_ceiling(trials)
    assert nc.values[0] == 1.0 and np.isnan(nc.values[1])
    split = noise_ceiling(trials, "split_half", n_splits=4)
    assert split.values[0] == pytest.approx(1.0) and np.isnan(split.values[1])
    assert np.isinf(ncsnr(trials).values[0])


def test_errors():
    with pytest.raises(ShapeError, match=r"dims \('stimulus', 'voxel'\) without a repeat dim"):
        noise_ceiling(make_responses(np.zeros((4, 2))))
    with pytest.raises(ShapeError, match="without a repeat dim"):
        noise_ceiling(np.zeros((4, 2)))
    with pytest.raises(InputError, match="received 1 repeat.*no stimulus with 2 or more"):
        noise_ceiling(np.zeros((1, 4, 2)))
    once = stack_repeats(np.ones((3, 2)), ["a", "b", "c"])
    with pytest.raises(InputError, match="no stimulus with 2 or more"):
        noise_ceiling(once, method="split_half")
    few = stack_repeats(np.random.default_rng(0).normal(size=(5, 2)), ["a", "b", "a", "b", "c"])
    with pytest.raises(InputError, match="2 stimuli with 2 or more repeats; expected at least 3"):
        noise_ceiling(few, method="split_half")
    ragged = np.random.default_rng(0).normal(size=(2, 4, 3))
    ragged[1, 0, 2] = np.nan
    with pytest.raises(InputError, match="NaN in some voxels but not others"):
        noise_ceiling(ragged)
    empty = np.random.default_rng(0).normal(size=(2, 4, 3))
    empty[:, 1] = np.nan
    with pytest.raises(InputError, match=r"1 stimuli have no response at all \(e.g. \['1'\]\)"):
        noise_ceiling(empty)
    with pytest.raises(InputError, match="method: received 'kknc'"):
        noise_ceiling(np.zeros((2, 4, 2)), method="kknc")
    with pytest.raises(InputError, match="n_splits: received 0"):
        noise_ceiling(np.zeros((2, 4, 2)), method="split_half", n_splits=0)


@pytest.mark.parametrize("n_stimuli, above", [(200, 0.25), (1000, 0.05)])
def test_pure_noise_ceilings_fall_below_the_default_minimum(n_stimuli, above):
    """The estimate of a pure-noise voxel: exactly 0 about half the time (sigma_s^2 clipped), and mostly below
    the minimum ceiling that normalisation uses; rarely above it only with few stimuli (hence the FDR mask)."""
    from neuroperception.encoding import DEFAULT_MIN_CEILING

    trials = np.random.default_rng(5).normal(size=(3, n_stimuli, 1000))
    nc = noise_ceiling(trials).values
    assert 0.4 < (nc == 0).mean() < 0.6
    assert (nc >= DEFAULT_MIN_CEILING).mean() < above
    # a reliable voxel at the NSD selection threshold (ncsnr 0.2) sits just above the minimum
    assert noise_ceiling_from_ncsnr(0.2, 3) > DEFAULT_MIN_CEILING
