"""Per-voxel scores against scipy/scikit-learn, the Algonauts normalisation and its minimum ceiling, ROI summaries."""

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.stats import pearsonr
from sklearn.metrics import r2_score as sk_r2_score

from neuroperception.data import noise_ceiling, noise_ceiling_from_ncsnr
from neuroperception.data.responses import make_responses
from neuroperception.encoding import (DEFAULT_MIN_CEILING, noise_ceiling_normalized, pearson_r, r2_score,
                                      summarize_scores, voxel_scores)
from neuroperception.errors import AlignmentError, InputError, ShapeError


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(40, 12))
    pred = 0.5 * y + rng.normal(size=(40, 12))
    return y, pred


def test_pearson_r_equals_scipy(pair):
    y, pred = pair
    expected = [pearsonr(y[:, j], pred[:, j])[0] for j in range(y.shape[1])]
    np.testing.assert_allclose(pearson_r(y, pred), expected, rtol=1e-12)


def test_r2_equals_sklearn_including_constant_voxels(pair):
    y, pred = pair
    y = y.copy()
    y[:, 0] = 2.0             # constant, predicted exactly -> 1
    pred = pred.copy()
    pred[:, 0] = 2.0
    y[:, 1] = 5.0             # constant, predicted wrongly -> 0
    expected = sk_r2_score(y, pred, multioutput="raw_values")
    np.testing.assert_allclose(r2_score(y, pred), expected, rtol=1e-12)
    assert voxel_scores(y, pred, "r2")[:2].tolist() == [1.0, 0.0]


def test_constant_voxel_has_nan_correlation(pair):
    y, pred = pair
    pred = pred.copy()
    pred[:, 3] = 1.0
    r = pearson_r(y, pred)
    assert np.isnan(r[3]) and np.isfinite(np.delete(r, 3)).all()


def test_labelled_scores_keep_voxel_coords_and_align_by_id(pair):
    y, pred = pair
    ids = [f"s{i}" for i in range(40)]
    truth = make_responses(y, ids, roi=["V1"] * 6 + ["V4"] * 6)
    perm = np.random.default_rng(1).permutation(40)
    predicted = make_responses(pred[perm], [ids[i] for i in perm])
    r = voxel_scores(truth, predicted, "r")
    assert r.dims == ("voxel",) and r["roi"].values.tolist() == ["V1"] * 6 + ["V4"] * 6
    np.testing.assert_allclose(r.values, pearson_r(y, pred), rtol=1e-12)
    with pytest.raises(AlignmentError):
        voxel_scores(truth, make_responses(pred, [f"x{i}" for i in range(40)]))


def test_noise_ceiling_normalisation_matches_algonauts_recipe():
    rng = np.random.default_rng(2)
    r = rng.uniform(-0.5, 0.9, size=200)
    nc = rng.uniform(0.0, 1.0, size=200)
    nc[:5] = 0.0
    # the Algonauts 2023 tutorial's steps, written out
    corr = r.copy()
    corr[corr < 0] = 0
    ceiling = nc.copy()
    ceiling[ceiling == 0] = 1e-14
    expected = np.divide(corr ** 2, ceiling)
    expected[expected > 1] = 1
    np.testing.assert_allclose(noise_ceiling_normalized(r, nc, min_ceiling=0), expected, rtol=1e-12)
    # the default leaves out (NaN) exactly the voxels below the minimum ceiling, the others unchanged
    default = noise_ceiling_normalized(r, nc)
    low = nc < DEFAULT_MIN_CEILING
    assert DEFAULT_MIN_CEILING == 0.1 and low.sum() > 5 and np.isnan(default[low]).all()
    np.testing.assert_allclose(default[~low], expected[~low], rtol=1e-12)
    out = noise_ceiling_normalized(xr.DataArray(r, dims="voxel", coords={"roi": ("voxel", ["V1"] * 200)}), nc)
    assert out["roi"].values[0] == "V1" and out.max() <= 1 and out.min() >= 0
    assert out.attrs["min_ceiling"] == 0.1


def test_default_min_ceiling_is_nsd_ncsnr_threshold():
    # Conwell et al. (2024) keep NSD voxels with ncsnr > 0.2; with 3 repeats that is a ceiling of 0.107
    assert noise_ceiling_from_ncsnr(0.2, 3) == pytest.approx(0.107, abs=5e-4)
    assert DEFAULT_MIN_CEILING <= noise_ceiling_from_ncsnr(0.2, 3)


def _noise_voxel_volume(n_signal=100, n_noise=100, n_stimuli=1000, seed=0):
    """Single trials of signal voxels (ceiling ~0.75) and pure-noise voxels, 3 repeats, with ROI labels."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(1, n_stimuli, n_signal))
    trials = np.concatenate([signal + rng.normal(size=(3, n_stimuli, n_signal)),
                             rng.normal(size=(3, n_stimuli, n_noise))], axis=-1)
    roi = ["V1"] * (n_signal // 2) + ["IT"] * (n_signal - n_signal // 2) + ["noise"] * n_noise
    return trials, signal[0], roi


def test_pure_noise_voxels_are_nan_and_left_out_of_summaries():
    trials, signal, roi = _noise_voxel_volume()
    nc = noise_ceiling(xr.DataArray(trials, dims=("repeat", "stimulus", "voxel"),
                                    coords={"roi": ("voxel", roi)}))
    noise = np.array(roi) == "noise"
    # an unrelated "prediction": chance correlations on the pure-noise voxels, real ones on the others
    rng = np.random.default_rng(1)
    pred = np.concatenate([signal + rng.normal(size=signal.shape), rng.normal(size=(1000, int(noise.sum())))], 1)
    r = pearson_r(xr.DataArray(trials.mean(0), dims=("stimulus", "voxel"), coords={"roi": ("voxel", roi)}), pred)
    with pytest.warns(UserWarning, match=r"most voxels of ROI 'noise' \(\d+ of 100\)") as record:
        norm = noise_ceiling_normalized(r, nc)
    assert all("'V1'" not in str(w.message) and "'IT'" not in str(w.message) for w in record)
    # what the bare Algonauts recipe does: pure-noise voxels with a ceiling near 0 score exactly 1
    bare = noise_ceiling_normalized(r, nc, min_ceiling=0)
    assert (bare.values[noise] == 1.0).mean() > 0.2
    values = norm.values
    assert not (values[noise] == 1.0).any()
    assert np.isnan(values[noise & (nc.values < 0.1)]).all()
    # 1000 stimuli x 3 repeats: the ceiling estimate of a pure-noise voxel reaches 0.1 in ~2% of voxels,
    # and those score near 0 (a chance r^2 over a ceiling >= 0.1)
    assert np.isnan(values[noise]).mean() > 0.95 and np.nanmax(values[noise], initial=0) < 0.1
    assert np.isfinite(values[~noise]).all()
    table = summarize_scores({"nc_normalized": norm, "r": r})
    for name in ("V1", "IT"):
        assert table.loc[name, "nc_normalized"] == pytest.approx(np.median(values[np.array(roi) == name]))
        assert table.loc[name, "n_nan"] == 0
    kept = values[noise & np.isfinite(values)]
    assert table.loc["noise", "nc_normalized"] == pytest.approx(np.median(kept) if kept.size else np.nan, nan_ok=True)
    assert table.loc["noise", "n_nan"] == int(np.isnan(values[noise]).sum())
    assert table.loc["all", "nc_normalized"] == pytest.approx(np.nanmedian(values))


def test_low_ceiling_warning_only_when_most_of_an_roi_is_below():
    nc = xr.DataArray([0.5, 0.5, 0.05, 0.5, 0.01, 0.02, 0.3], dims="voxel",
                      coords={"roi": ("voxel", ["V1", "V1", "V1", "IT", "IT", "IT", "IT"])})
    r = np.full(7, 0.3)
    with pytest.warns(UserWarning) as record:
        noise_ceiling_normalized(r, nc, min_ceiling=0.4)     # IT: 3 of 4 below 0.4; V1: 1 of 3
    assert len(record) == 1 and "ROI 'IT' (3 of 4)" in str(record[0].message)
    assert "'V1'" not in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        noise_ceiling_normalized(r, nc)                      # IT: 2 of 4 below 0.1 is not most
        noise_ceiling_normalized(r, nc.values, min_ceiling=0.04)
    with pytest.warns(UserWarning, match=r"in most voxels \(4 of 7\)"):
        noise_ceiling_normalized(r, nc.values, min_ceiling=0.4)   # no ROI labels: the volume as a whole


def test_nan_ceilings_give_nan_and_bad_min_ceiling_is_refused():
    out = noise_ceiling_normalized(np.array([0.5, 0.5]), np.array([np.nan, 0.5]))
    assert np.isnan(out[0]) and out[1] == 0.5
    for bad in (-0.1, 1.5, "0.1", True):
        with pytest.raises(InputError, match="min_ceiling: received"):
            noise_ceiling_normalized(np.array([0.5]), np.array([0.5]), min_ceiling=bad)
    with pytest.raises(InputError, match="expected fractions in \\[0, 1\\]"):
        noise_ceiling_normalized(np.array([0.5]), np.array([np.inf]))


def test_noise_ceiling_rejects_percentages_and_mismatch():
    with pytest.raises(InputError, match="divide by 100"):
        noise_ceiling_normalized(np.array([0.5, 0.2]), np.array([40.0, 60.0]))
    with pytest.raises(ShapeError, match="expected the shape of r"):
        noise_ceiling_normalized(np.array([0.5, 0.2]), np.array([0.4]))


def test_summary_medians_per_roi():
    rng = np.random.default_rng(3)
    values = rng.normal(size=30)
    values[4] = np.nan
    roi = np.array(["V1", "V2", "hV4"] * 10)
    s = xr.DataArray(values, dims="voxel", coords={"roi": ("voxel", roi)})
    table = summarize_scores({"r": s, "r2": s ** 2})
    assert list(table.index) == ["all", "V1", "V2", "hV4"]
    assert table.loc["all", "r"] == pytest.approx(np.nanmedian(values))
    for name in ("V1", "V2", "hV4"):
        assert table.loc[name, "r"] == pytest.approx(np.nanmedian(values[roi == name]))
        assert table.loc[name, "r2"] == pytest.approx(np.nanmedian(values[roi == name] ** 2))
        assert table.loc[name, "n_voxels"] == 10
    assert table.loc["V2", "n_nan"] == 1 and table.loc["V1", "n_nan"] == 0
    means = summarize_scores(s, statistic="mean")
    assert means.loc["hV4"].iloc[0] == pytest.approx(values[roi == "hV4"].mean())
    assert table.attrs["statistic"] == "median" and means.attrs["statistic"] == "mean"


def test_summary_rows_follow_the_order_of_the_voxels():
    roi = ["V1", "V1", "V2", "V4", "IT", "LO", "V2"]  # anatomical order, not alphabetical
    s = xr.DataArray(np.arange(7.0), dims="voxel", coords={"roi": ("voxel", roi)})
    assert list(summarize_scores(s).index) == ["all", "V1", "V2", "V4", "IT", "LO"]


def test_bad_scoring_inputs():
    with pytest.raises(InputError, match="metric: received 'auc'"):
        voxel_scores(np.ones((3, 2)), np.ones((3, 2)), "auc")
    with pytest.raises(ShapeError, match="expected the shape of y_true"):
        pearson_r(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(InputError, match="NaN/Inf"):
        r2_score(np.ones((3, 2)), np.full((3, 2), np.nan))
    with pytest.raises(InputError, match="statistic"):
        summarize_scores(np.ones(3), statistic="max")


def test_summary_with_a_significance_mask_and_nan_counts():
    s = xr.DataArray([0.1, 0.3, np.nan, 0.5, 0.9, 0.7], dims="voxel",
                     coords={"roi": ("voxel", ["V1", "V1", "V1", "V4", "V4", "V4"])})
    r = s.fillna(0.2)
    mask = np.array([True, False, True, True, False, True])
    table = summarize_scores({"r": r, "nc": s}, significant=mask)
    assert table.loc["V1", "r"] == pytest.approx(np.median([0.1, 0.2]))
    assert table.loc["V1", "nc"] == pytest.approx(0.1) and table.loc["V4", "nc"] == pytest.approx(0.6)
    assert table["n_significant"].to_dict() == {"all": 4, "V1": 2, "V4": 2}
    assert table["n_nan"].to_dict() == {"all": 1, "V1": 1, "V4": 0}      # NaN in any metric
    assert list(table.columns) == ["r", "nc", "n_voxels", "n_nan", "n_significant"]
    per = summarize_scores({"a": r, "b": r}, significant={"a": mask, "b": ~mask})
    assert per.loc["V4", "a"] == pytest.approx(0.6) and per.loc["V4", "b"] == pytest.approx(0.9)
    assert per.loc["all", "n_significant a"] == 4 and per.loc["all", "n_significant b"] == 2
    with pytest.raises(InputError, match="boolean mask"):
        summarize_scores(r, significant=np.ones(6))
    with pytest.raises(ShapeError, match=r"expected \(6,\), one per voxel"):
        summarize_scores(r, significant=np.ones(4, dtype=bool))
    with pytest.raises(InputError, match="expected one for every metric, 'b' included"):
        summarize_scores({"a": r, "b": r}, significant={"a": mask})
    with pytest.raises(ShapeError, match="expected the 6 of the first metric"):
        summarize_scores({"a": r, "b": r[:3]})
