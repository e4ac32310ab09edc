"""p-values of held-out scores (analytic = scipy's pearsonr, permutation) and the Benjamini–Hochberg correction."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neuroperception.data.responses import make_responses
from neuroperception.encoding import fdr_correct, score_pvalues
from neuroperception.encoding import significance as sig
from neuroperception.errors import InputError, ShapeError


def _held_out(n=40, n_signal=6, n_null=30, seed=0):
    """Responses and predictions: ``n_signal`` predicted voxels, then ``n_null`` unrelated ones."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, n_signal + n_null))
    pred = rng.normal(size=y.shape)
    pred[:, :n_signal] += 1.5 * y[:, :n_signal]
    return y, pred


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_analytic_pvalues_equal_scipy_pearsonr(alternative):
    y, pred = _held_out()
    pred[:, 7] -= 2.0 * y[:, 7]                               # a strongly negative voxel
    p = score_pvalues(y, pred, alternative=alternative)
    expected = [stats.pearsonr(y[:, j], pred[:, j], alternative=alternative).pvalue for j in range(y.shape[1])]
    np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-300)
    assert (p[7] > 0.99) if alternative == "greater" else (p[7] < 1e-3)


def test_labelled_pvalues_keep_voxel_coords_and_align_by_id():
    y, pred = _held_out(n_signal=2, n_null=2)
    ids = [f"s{i}" for i in range(40)]
    truth = make_responses(y, ids, roi=["V1", "V1", "IT", "IT"])
    perm = np.random.default_rng(3).permutation(40)
    p = score_pvalues(truth, make_responses(pred[perm], [ids[i] for i in perm]))
    assert p.dims == ("voxel",) and p.name == "pvalue" and p["roi"].values.tolist() == ["V1", "V1", "IT", "IT"]
    np.testing.assert_allclose(p.values, score_pvalues(y, pred), rtol=1e-12)
    assert p.attrs == {"method": "analytic", "alternative": "greater", "n_permutations": 0}


def test_permutation_pvalues_equal_a_plain_loop_over_the_same_permutations():
    y, pred = _held_out(n=25, n_signal=3, n_null=5)
    y[:, 4] = np.round(y[:, 4])                               # tied responses: ties count as reaching r
    pred[:, 6] -= 2.0 * y[:, 6]                               # negative: large p one-sided, small two-sided
    n_perm = 59
    for alternative in ("greater", "two-sided"):
        p = score_pvalues(y, pred, method="permutation", alternative=alternative, n_permutations=n_perm,
                          random_state=7)
        rng = np.random.default_rng(7)
        orders = [rng.permutation(25) for _ in range(n_perm)]
        for j in range(y.shape[1]):
            r = stats.pearsonr(y[:, j], pred[:, j]).statistic
            null = np.array([stats.pearsonr(y[o, j], pred[:, j]).statistic for o in orders])
            if alternative == "two-sided":
                r, null = abs(r), np.abs(null)
            assert p[j] == (1 + np.sum(null >= r - 1e-12)) / (1 + n_perm)


def test_permutations_are_reproducible_and_independent_of_the_block_size(monkeypatch):
    y, pred = _held_out(n=30, n_signal=2, n_null=40)
    first = score_pvalues(y, pred, method="permutation", n_permutations=300, random_state=5)
    again = score_pvalues(y, pred, method="permutation", n_permutations=300, random_state=np.random.default_rng(5))
    other = score_pvalues(y, pred, method="permutation", n_permutations=300, random_state=6)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    monkeypatch.setattr(sig, "_BLOCK", 30 * 42 * 7)          # blocks of 7 permutations, the last one shorter
    np.testing.assert_array_equal(score_pvalues(y, pred, method="permutation", n_permutations=300, random_state=5),
                                  first)


def test_permutation_pvalues_are_uniform_under_the_null_and_small_for_signal():
    y, pred = _held_out(n=30, n_signal=20, n_null=1000, seed=1)
    n_perm = 199
    p = score_pvalues(y, pred, method="permutation", n_permutations=n_perm, random_state=0)
    null, planted = p[20:], p[:20]
    grid = np.arange(1, n_perm + 2) / (n_perm + 1)
    assert np.isin(np.round(null * (n_perm + 1)), np.arange(1, n_perm + 2)).all() and null.min() >= grid[0]
    assert stats.kstest(null, "uniform").pvalue > 0.01
    assert abs(np.mean(null <= 0.05) - 0.05) < 0.02 and abs(null.mean() - 0.5) < 0.03
    assert (planted == 1 / (n_perm + 1)).all()                # no permutation reaches a planted voxel's r
    # on normal data the analytic test agrees with the permutation test up to Monte Carlo error (sd <= 0.035)
    assert np.abs(score_pvalues(y, pred)[20:] - null).mean() < 0.03


def test_constant_voxels_get_nan_pvalues_and_progress_bar(capsys):
    y, pred = _held_out(n=20, n_signal=1, n_null=2)
    pred[:, 1] = 3.0
    for method in ("analytic", "permutation"):
        p = score_pvalues(y, pred, method=method, n_permutations=20, progress=method == "permutation")
        assert np.isnan(p[1]) and np.isfinite(p[[0, 2]]).all()
    assert "permutations" in capsys.readouterr().err


def test_bad_pvalue_arguments():
    y, pred = _held_out(n=10, n_signal=1, n_null=1)
    with pytest.raises(InputError, match="method: received 'bootstrap'"):
        score_pvalues(y, pred, method="bootstrap")
    with pytest.raises(InputError, match="alternative: received 'less'"):
        score_pvalues(y, pred, alternative="less")
    with pytest.raises(InputError, match="n_permutations: received 0"):
        score_pvalues(y, pred, method="permutation", n_permutations=0)
    with pytest.raises(InputError, match="at least 3 stimuli"):
        score_pvalues(y[:2], pred[:2])
    with pytest.raises(ShapeError, match="expected the shape of y_true"):
        score_pvalues(y, pred[:, :1])


def _realistic_pvalues():
    """Permutation p-values (many ties on the 1/(K+1) grid) of null and signal voxels, plus exact 1s."""
    y, pred = _held_out(n=30, n_signal=60, n_null=440, seed=2)
    pred[:, 100:110] = -y[:, 100:110]                          # p = 1 exactly
    return np.asarray(score_pvalues(y, pred, method="permutation", n_permutations=999, random_state=0))


def test_fdr_equals_scipy_false_discovery_control_with_ties():
    p = _realistic_pvalues()
    assert len(np.unique(p)) < 0.8 * p.size and (p == 1).sum() >= 10 and (p == 0.001).sum() > 50   # ties
    significant, adjusted = fdr_correct(p, fdr=0.05)
    np.testing.assert_allclose(adjusted, stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    np.testing.assert_array_equal(significant, adjusted <= 0.05)
    # the Benjamini–Hochberg step-up rule, written out
    order = np.argsort(p)
    below = np.flatnonzero(p[order] <= np.arange(1, p.size + 1) * 0.05 / p.size)
    expected = np.zeros(p.size, dtype=bool)
    expected[order[: below[-1] + 1]] = True
    np.testing.assert_array_equal(significant, expected)
    assert significant[:60].mean() > 0.9 and significant[60:].mean() < 0.05
    # tied p-values share their adjusted value
    for value in np.unique(p):
        assert np.ptp(adjusted[p == value]) == 0


def test_fdr_equals_statsmodels_fdrcorrection():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = _realistic_pvalues()
    for level in (0.01, 0.05, 0.2):
        rejected, corrected = multitest.fdrcorrection(p, alpha=level, method="indep")
        significant, adjusted = fdr_correct(p, fdr=level)
        np.testing.assert_array_equal(significant, rejected)
        np.testing.assert_allclose(adjusted, corrected, rtol=1e-12)


def test_fdr_leaves_nan_out_and_keeps_labels():
    p = _realistic_pvalues()[:80]
    with_nan = p.copy()
    with_nan[[3, 40]] = np.nan
    labelled = xr.DataArray(with_nan, dims="voxel", coords={"roi": ("voxel", ["V1"] * 40 + ["IT"] * 40)},
                            name="pvalue")
    significant, adjusted = fdr_correct(labelled, fdr=0.1)
    keep = ~np.isnan(with_nan)
    np.testing.assert_allclose(adjusted.values[keep], stats.false_discovery_control(p[keep]), rtol=1e-12)
    assert np.isnan(adjusted.values[[3, 40]]).all() and not significant.values[[3, 40]].any()
    assert significant.dtype == bool and significant.name == "significant" and adjusted.name == "p_adjusted"
    assert significant["roi"].values.tolist() == labelled["roi"].values.tolist() and significant.attrs["fdr"] == 0.1
    none, _ = fdr_correct(np.full(3, np.nan))
    assert not none.any()


def test_bad_fdr_arguments():
    with pytest.raises(InputError, match="expected p-values in \\[0, 1\\]"):
        fdr_correct(np.array([0.1, 1.2]))
    with pytest.raises(InputError, match="fdr: received 0"):
        fdr_correct(np.array([0.1]), fdr=0)
    with pytest.raises(InputError, match="fdr: received 5"):
        fdr_correct(np.array([0.1]), fdr=5)
    with pytest.raises(ShapeError, match="one dimension"):
        fdr_correct(np.full((2, 2), 0.5))
