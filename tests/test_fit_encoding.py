"""fit_encoding_model / EncodingResult: alignment, noise ceiling, planted recovery, NetCDF, dask, plots."""

import sys

import matplotlib.figure
import numpy as np
import pytest
import xarray as xr
from sklearn.linear_model import Ridge

from neuroperception.data import make_responses, ncsnr, noise_ceiling_from_ncsnr, simulate_brain
from neuroperception.encoding import (BandedRidgeCV, EncodingResult, RidgeCV, VoxelBlockModel, fit_encoding_model,
                                      noise_ceiling_normalized)
from neuroperception.errors import AlignmentError, InputError, ShapeError

ALPHAS = np.logspace(-3, 4, 15)


def flat(n, p, seed, prefix="s"):
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.standard_normal((n, p)).astype(np.float32), dims=("stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", [f"{prefix}{i}" for i in range(n)])})


@pytest.fixture(scope="module")
def planted():
    features = flat(300, 30, 0)
    return features, simulate_brain(features, n_voxels=60, snr=3.0, n_repeats=3, random_state=0)


@pytest.fixture(scope="module")
def layered():
    layers = {name: flat(240, 20, seed) for seed, name in enumerate(["early", "middle", "late"])}
    return layers, simulate_brain(layers, n_voxels=60, snr=2.0, n_repeats=2, random_state=1)


def test_planted_weights_recovered(planted):
    features, brain = planted
    result = fit_encoding_model(features, brain.responses, model=RidgeCV(alphas=ALPHAS))
    true = brain.true_weights["features"].values
    assert result.model.coef_.shape == true.shape
    assert np.corrcoef(result.model.coef_.ravel(), true.ravel())[0, 1] >= 0.95
    assert set(result.metrics) == {"r", "r2", "nc_normalized"}
    assert float(result["r"].median()) > 0.9
    assert result["r"].dims == ("voxel",) and result["roi"].values.tolist() == brain.responses["roi"].values.tolist()
    assert result.dataset.sizes["test_stimulus"] == 60 and result.dataset.attrs["n_train"] == 240
    np.testing.assert_array_equal(result["alpha"].values, result.model.best_alphas_)


def test_noise_ceiling_from_repeats_and_normalisation(planted):
    features, brain = planted
    result = fit_encoding_model(features, brain.responses, model=RidgeCV(alphas=ALPHAS))
    counts = np.full(result.dataset.sizes["test_stimulus"], 3)
    expected = noise_ceiling_from_ncsnr(ncsnr(brain.responses), counts).values
    np.testing.assert_allclose(result["noise_ceiling"].values, expected)
    assert np.corrcoef(expected, brain.true_noise_ceiling.values)[0, 1] > 0.8
    np.testing.assert_allclose(result["nc_normalized"].values,
                               noise_ceiling_normalized(result["r"].values, expected))
    given = np.full(60, 0.5)
    halved = fit_encoding_model(features, brain.responses, model=RidgeCV(alphas=ALPHAS), noise_ceiling=given)
    np.testing.assert_allclose(halved["nc_normalized"].values, np.minimum(result["r"].values.clip(0) ** 2 / 0.5, 1))
    plain = fit_encoding_model(features, brain.responses.mean("repeat"))
    assert "nc_normalized" not in plain.dataset and plain.metrics == ["r", "r2"]


def test_alignment_by_id_and_errors(planted):
    features, brain = planted
    avg = brain.responses.mean("repeat")
    perm = np.random.default_rng(1).permutation(300)
    a = fit_encoding_model(features, avg, model=RidgeCV(alphas=ALPHAS))
    b = fit_encoding_model(features, avg.isel(stimulus=perm), model=RidgeCV(alphas=ALPHAS))
    np.testing.assert_allclose(a["r"].values, b["r"].values, rtol=1e-6)
    other = avg.assign_coords(stimulus_id=("stimulus", [f"x{i}" for i in range(300)]))
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        fit_encoding_model(features, other)
    with pytest.raises(AlignmentError, match="unknown ids"):
        fit_encoding_model(features, avg, test=["s1", "nope"])
    with pytest.raises(InputError, match="fraction"):
        fit_encoding_model(features, avg, test=1.5)
    with pytest.raises(InputError, match="fraction"):
        fit_encoding_model(features, avg, test=30)
    with pytest.raises(ShapeError, match="one per voxel"):
        fit_encoding_model(features, avg, noise_ceiling=np.ones(3))


def test_test_split_ids_and_seed(planted):
    features, brain = planted
    avg = brain.responses.mean("repeat")
    chosen = [f"s{i}" for i in range(0, 300, 5)]
    by_ids = fit_encoding_model(features, avg, test=chosen)
    assert by_ids["test_stimulus_id"].values.tolist() == chosen
    same = [fit_encoding_model(features, avg, test=0.3, random_state=s)["test_stimulus_id"].values
            for s in (5, 5, 6)]
    assert np.array_equal(same[0], same[1]) and not np.array_equal(same[0], same[2]) and len(same[0]) == 90


def test_per_layer_finds_planted_layers(layered):
    layers, brain = layered
    result = fit_encoding_model(layers, brain.responses, model=RidgeCV(alphas=ALPHAS), per_layer=True)
    assert result.layers == ["early", "middle", "late"] and result["r"].dims == ("layer", "voxel")
    table = result.roi_summary()
    assert table.loc[["V1", "V4", "IT"], "best_layer"].tolist() == ["early", "middle", "late"]
    bars = result.plot_rois().axes[0]  # the table's medians per layer, in the table's ROI order
    assert [t.get_text() for t in bars.get_xticklabels()] == list(table.index[1:])
    np.testing.assert_allclose([p.get_height() for p in bars.patches],
                               table.loc[table.index[1:], result.layers].to_numpy(dtype=float).T.ravel())
    planted_layer = brain.receptive_fields["layer"].to_numpy()
    assert (result["best_layer"].values == planted_layer).mean() > 0.9
    assert isinstance(result.plot_rois(), matplotlib.figure.Figure)
    assert isinstance(result.plot_brain(), matplotlib.figure.Figure)
    with pytest.raises(InputError, match="expected one of"):
        result.plot_brain(layer="nope")


def test_dict_defaults_to_banded_and_generic_model(layered):
    layers, brain = layered
    two = {k: layers[k] for k in ("early", "late")}
    model = BandedRidgeCV(alphas=ALPHAS, n_iter=6, n_refine=2)
    result = fit_encoding_model(two, brain.responses, model=model)
    assert isinstance(result.model, BandedRidgeCV) and result["split_r2"].dims == ("band", "voxel")
    share = result["split_r2"].groupby("roi").median()
    assert float(share.sel(band="early", roi="V1")) > 0.3 and abs(float(share.sel(band="late", roi="V1"))) < 0.05
    assert result["alpha"].dims == ("band", "voxel")
    # the table and the bars agree: one column (bar) per band, the same statistic, the same ROI order
    for statistic in ("median", "mean"):
        table = result.roi_summary("split_r2", statistic)
        rois = list(dict.fromkeys(result["roi"].values.tolist()))
        assert list(table.index) == ["all"] + rois and list(table.columns[:2]) == ["early", "late"]
        reduce = np.nanmedian if statistic == "median" else np.nanmean
        for roi in rois:
            own = result["split_r2"].values[:, result["roi"].values == roi]
            np.testing.assert_allclose(table.loc[roi, ["early", "late"]].to_numpy(dtype=float), reduce(own, axis=1))
        ax = result.plot_rois("split_r2", statistic=statistic).axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == rois
        heights = np.array([p.get_height() for p in ax.patches]).reshape(2, len(rois))  # band by band
        np.testing.assert_allclose(heights, table.loc[rois, ["early", "late"]].to_numpy(dtype=float).T)
        assert statistic in ax.get_ylabel()
    generic = fit_encoding_model(layers["early"], brain.responses, model=Ridge(alpha=1.0))
    assert isinstance(generic.model, Ridge) and "alpha" not in generic.dataset
    assert float(generic["r"].where(generic["roi"] == "V1", drop=True).median()) > 0.8


def test_netcdf_round_trip(tmp_path, layered):
    layers, brain = layered
    for per_layer in (False, True):
        result = fit_encoding_model(layers if per_layer else layers["early"], brain.responses, per_layer=per_layer)
        path = result.to_netcdf(tmp_path / f"result{per_layer}.nc")
        back = EncodingResult.from_netcdf(path)
        assert back.dataset.identical(result.dataset) and back.model is None
        assert back.roi_summary().equals(result.roi_summary())
    with pytest.raises(FileNotFoundError, match="no such file"):
        EncodingResult.from_netcdf(tmp_path / "missing.nc")


def test_plots_return_figures(planted):
    features, brain = planted
    result = fit_encoding_model(features, brain.responses)
    assert isinstance(result.plot_brain(metric="r"), matplotlib.figure.Figure)
    assert isinstance(result.plot_rois(metric="nc_normalized"), matplotlib.figure.Figure)
    with pytest.raises(InputError, match="metric"):
        result.plot_brain(metric="accuracy")


def test_dask_equals_single_process(planted, layered):
    from distributed import Client, LocalCluster

    features, brain = planted
    layers, lbrain = layered
    two = {k: layers[k] for k in ("early", "late")}
    with LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        for feats, resp, model in ((features, brain.responses, RidgeCV(alphas=ALPHAS, voxel_chunk=16)),
                                   (two, lbrain.responses, BandedRidgeCV(n_iter=4, n_refine=2, voxel_chunk=8))):
            single = fit_encoding_model(feats, resp, model=model)
            dist = fit_encoding_model(feats, resp, model=model, client=client)
            assert dist.dataset.identical(single.dataset)
            np.testing.assert_array_equal(dist.model.coef_, single.model.coef_)
            np.testing.assert_array_equal(dist.model.best_alphas_, single.model.best_alphas_)
        generic = fit_encoding_model(features, brain.responses, model=Ridge(alpha=1.0), client=client)
        assert isinstance(generic.model, VoxelBlockModel)
        np.testing.assert_allclose(generic["r"].values,
                                   fit_encoding_model(features, brain.responses, model=Ridge(alpha=1.0))["r"].values,
                                   rtol=1e-6)
        with pytest.raises(InputError, match="alpha_per_target"):
            fit_encoding_model(features, brain.responses, model=RidgeCV(alpha_per_target=False), client=client)
    local = fit_encoding_model(features, brain.responses, model=RidgeCV(alphas=ALPHAS, voxel_chunk=16),
                               client="local")
    assert local.dataset.identical(fit_encoding_model(features, brain.responses,
                                                      model=RidgeCV(alphas=ALPHAS, voxel_chunk=16)).dataset)
    with pytest.raises(InputError, match="client"):
        fit_encoding_model(features, brain.responses, client="remote")


def test_missing_dask_names_the_extra(planted, monkeypatch):
    features, brain = planted
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"neuroperception\[dist\]"):
        fit_encoding_model(features, brain.responses, client="local")


def test_plain_arrays_and_too_few_stimuli():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    Y = X @ rng.normal(size=(4, 3))
    result = fit_encoding_model(X, Y)
    assert result["r"].shape == (3,) and bool((result["r"] > 0.99).all())
    with pytest.raises(AlignmentError, match="stimulus_id"):
        fit_encoding_model(X, Y, test=["a", "b"])
    with pytest.raises(AlignmentError, match="features: received .* without stimulus_id"):
        fit_encoding_model(X, make_responses(Y))
    with pytest.raises(InputError, match="at least 6"):
        fit_encoding_model(X[:4], Y[:4])


@pytest.fixture(scope="module")
def half_noise(planted):
    """The planted brain's trials plus as many pure-noise voxels (ROI "noise") at the same places."""
    features, brain = planted
    trials = brain.responses
    rng = np.random.default_rng(11)
    noise = trials.copy(data=rng.standard_normal(trials.shape) * float(trials.std()))
    noise = noise.assign_coords(roi=("voxel", ["noise"] * trials.sizes["voxel"]))
    return features, xr.concat([trials, noise], dim="voxel")


def test_pure_noise_voxels_are_left_out_and_warned_about(half_noise):
    features, trials = half_noise
    with pytest.warns(UserWarning, match=r"most voxels of ROI 'noise' \(\d+ of 60\)") as record:
        result = fit_encoding_model(features, trials, model=RidgeCV(alphas=ALPHAS))
    assert len(record) == 1 and "'V1'" not in str(record[0].message)
    noise = result["roi"].values == "noise"
    nc, norm = result["noise_ceiling"].values, result["nc_normalized"].values
    assert result.dataset.attrs["min_ceiling"] == 0.1
    np.testing.assert_array_equal(np.isnan(norm), nc < 0.1)
    assert not (norm[noise] == 1.0).any() and np.isnan(norm[noise]).mean() > 0.8
    assert np.isfinite(norm[~noise]).mean() > 0.95
    table = result.roi_summary()
    for roi in ("V1", "V4", "IT"):
        sel = result["roi"].values == roi
        assert table.loc[roi, "nc_normalized"] == pytest.approx(np.nanmedian(norm[sel]))
    assert table.loc["noise", "n_nan"] == int(np.isnan(norm[noise]).sum())
    assert table.loc["all", "nc_normalized"] == pytest.approx(np.nanmedian(norm))
    # without a minimum (the Algonauts recipe) pure-noise voxels score exactly 1
    bare = fit_encoding_model(features, trials, model=RidgeCV(alphas=ALPHAS), min_ceiling=0)
    assert (bare["nc_normalized"].values[noise] == 1.0).sum() >= 3
    with pytest.raises(InputError, match="min_ceiling: received"):
        fit_encoding_model(features, trials, min_ceiling=10)


def test_pvalues_and_significance_in_summaries_and_maps(half_noise, monkeypatch):
    from scipy.stats import pearsonr

    from neuroperception.encoding import fdr_correct, summarize_scores
    from neuroperception.plotting import brain as brain_plots

    features, trials = half_noise
    with pytest.warns(UserWarning):
        result = fit_encoding_model(features, trials, model=RidgeCV(alphas=ALPHAS))
    ids = list(features["stimulus_id"].values)
    test = [ids.index(i) for i in result["test_stimulus_id"].values]
    y_test = trials.mean("repeat").values[test]
    pred = result.model.predict(features.isel(stimulus=test))
    expected = [pearsonr(y_test[:, j], np.asarray(pred)[:, j], alternative="greater").pvalue
                for j in range(y_test.shape[1])]
    np.testing.assert_allclose(result["pvalue"].values, expected, rtol=1e-8)
    noise = result["roi"].values == "noise"
    table = result.roi_summary(fdr=0.05)
    assert table.loc["noise", "n_significant"] <= 3 and table.loc["V1", "n_significant"] >= 18
    mask = fdr_correct(result["pvalue"], fdr=0.05).significant
    assert table.equals(result.roi_summary(significant=mask))
    assert table.equals(summarize_scores({m: result[m] for m in result.metrics}, significant=mask))
    seen = {}
    original = brain_plots.voxel_map_to_nifti

    def capture(values, fill=0.0):
        seen["values"] = values
        return original(values, fill)

    monkeypatch.setattr(brain_plots, "voxel_map_to_nifti", capture)
    fig = result.plot_brain(metric="r", fdr=0.05)
    assert isinstance(fig, matplotlib.figure.Figure)
    drawn = np.isfinite(seen["values"].values)
    np.testing.assert_array_equal(drawn, mask.values)
    result.plot_brain()                                       # NaN (below the minimum ceiling) is not drawn
    np.testing.assert_array_equal(np.isfinite(seen["values"].values), np.isfinite(result["nc_normalized"].values))
    assert noise[~np.isfinite(seen["values"].values)].mean() > 0.9
    assert isinstance(result.plot_rois(significant=mask.values), matplotlib.figure.Figure)
    with pytest.raises(InputError, match="received both"):
        result.roi_summary(significant=mask, fdr=0.05)
    with pytest.raises(InputError, match="boolean mask"):
        result.plot_brain(significant=np.ones(120))
    with pytest.raises(InputError, match="holds no 'pvalue'"):
        EncodingResult(result.dataset.drop_vars("pvalue")).roi_summary(fdr=0.05)


def test_significance_per_layer(layered):
    layers, brain = layered
    result = fit_encoding_model(layers, brain.responses, model=RidgeCV(alphas=ALPHAS), per_layer=True)
    assert result["pvalue"].dims == ("layer", "voxel")
    table = result.roi_summary(fdr=0.05)
    from neuroperception.encoding import fdr_correct

    for lay in ("early", "middle", "late"):
        keep = fdr_correct(result["pvalue"].sel(layer=lay), fdr=0.05).significant.values
        assert table.loc["all", f"n_significant {lay}"] == keep.sum()
        sel = keep & (result["roi"].values == "V1")
        values = result["nc_normalized"].sel(layer=lay).values[sel]
        assert table.loc["V1", lay] == pytest.approx(np.nanmedian(values) if values.size else np.nan, nan_ok=True)
    assert table.loc[["V1", "V4", "IT"], "best_layer"].tolist() == ["early", "middle", "late"]
    assert isinstance(result.plot_brain(fdr=0.05), matplotlib.figure.Figure)
    assert isinstance(result.plot_brain(layer="late", fdr=0.05), matplotlib.figure.Figure)
    assert isinstance(result.plot_rois(fdr=0.05), matplotlib.figure.Figure)


def test_result_constructor_checks_its_dataset():
    with pytest.raises(InputError, match="expected an xarray.Dataset"):
        EncodingResult({"r": [0.1, 0.2]})
    with pytest.raises(ShapeError, match="without a 'voxel' dim"):
        EncodingResult(xr.Dataset({"r": ("stimulus", [0.1, 0.2])}))
    with pytest.raises(ShapeError, match=r"\['alpha'\] without a 'voxel' dim"):
        EncodingResult(xr.Dataset({"r": ("voxel", [0.1, 0.2]), "alpha": 1.0}))
    assert EncodingResult(xr.Dataset({"r": ("voxel", [0.1, 0.2])})).metrics == ["r"]
