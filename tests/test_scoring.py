"""Per-voxel scores against scipy/scikit-learn, the Algonauts normalisation, ROI summaries."""

import numpy as np
import pytest
import xarray as xr
from scipy.stats import pearsonr
from sklearn.metrics import r2_score as sk_r2_score

from neuroperception.data.responses import make_responses
from neuroperception.encoding import (noise_ceiling_normalized, pearson_r, r2_score, summarize_scores,
                                      voxel_scores)
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
    np.testing.assert_allclose(noise_ceiling_normalized(r, nc), expected, rtol=1e-12)
    out = noise_ceiling_normalized(xr.DataArray(r, dims="voxel", coords={"roi": ("voxel", ["V1"] * 200)}), nc)
    assert out["roi"].values[0] == "V1" and out.max() <= 1 and out.min() >= 0


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


def test_bad_scoring_inputs():
    with pytest.raises(InputError, match="metric: received 'auc'"):
        voxel_scores(np.ones((3, 2)), np.ones((3, 2)), "auc")
    with pytest.raises(ShapeError, match="expected the shape of y_true"):
        pearson_r(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(InputError, match="NaN/Inf"):
        r2_score(np.ones((3, 2)), np.full((3, 2), np.nan))
    with pytest.raises(InputError, match="statistic"):
        summarize_scores(np.ones(3), statistic="max")
