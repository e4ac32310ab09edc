"""The simulated brain: planted tuning, receptive fields, placement, noise ceiling and errors."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroperception.data import (
    ROI_PLACEMENT,
    SimulatedBrain,
    average_repeats,
    load_responses,
    save_responses,
    simulate_brain,
)
from neuroperception.errors import AlignmentError, InputError, ShapeError


def _flat(n_stim=200, n_feat=40, seed=0, ids=None):
    x = np.random.default_rng(seed).standard_normal((n_stim, n_feat)).astype(np.float32)
    coords = {"stimulus_id": ("stimulus", ids)} if ids is not None else {}
    return xr.DataArray(x, dims=("stimulus", "feature"), coords=coords)


def _maps(n_stim=200, channels=4, size=10, seed=0):
    x = np.random.default_rng(seed).standard_normal((n_stim, channels, size, size)).astype(np.float32)
    return xr.DataArray(x, dims=("stimulus", "channel", "y", "x"),
                        coords={"stimulus_id": ("stimulus", [f"img{i:04d}" for i in range(n_stim)])})


@pytest.fixture(scope="module")
def volume_brain():
    return simulate_brain(_flat(), n_voxels=600, snr=0.5, n_repeats=3, random_state=0)


# ---------------------------------------------------------------------------- shapes and coordinates
def test_shapes_dims_and_coordinates(volume_brain):
    b = volume_brain
    assert isinstance(b, SimulatedBrain)
    assert b.responses.dims == ("repeat", "stimulus", "voxel") and b.responses.shape == (3, 200, 600)
    assert b.signal.dims == ("stimulus", "voxel") and b.signal.shape == (200, 600)
    assert b.true_noise_ceiling.dims == ("voxel",) and b.noise_sd.dims == ("voxel",)
    assert b.true_weights["features"].dims == ("voxel", "feature")
    assert list(b.receptive_fields["roi"]) == list(b.responses["roi"].values)
    for key in ("roi", "x", "y", "z"):
        assert key in b.responses.coords and key in b.true_noise_ceiling.coords
    assert sorted(pd.Series(b.responses["roi"].values).value_counts().tolist()) == [200, 200, 200]
    assert b.rois == {"V1": ("features",), "V4": ("features",), "IT": ("features",)}
    np.testing.assert_allclose(b.signal.mean("stimulus"), 0, atol=1e-9)
    np.testing.assert_allclose(b.signal.std("stimulus"), 1, atol=1e-9)


def test_stimulus_ids_come_from_features_and_layers_are_aligned_by_id():
    ids = [f"s{i:03d}" for i in range(60)]
    a = _flat(60, 10, seed=0, ids=ids)
    b = _flat(60, 12, seed=1, ids=ids)
    shuffled = b.isel(stimulus=np.random.default_rng(0).permutation(60))
    one = simulate_brain({"a": a, "b": b}, n_voxels=30, random_state=4)
    two = simulate_brain({"a": a, "b": shuffled}, n_voxels=30, random_state=4)
    assert list(one.responses["stimulus_id"].values) == ids
    np.testing.assert_array_equal(one.responses.values, two.responses.values)


def test_noise_level_matches_the_planted_sd_and_median_snr():
    b = simulate_brain(_flat(2000, 20), n_voxels=90, snr=0.7, n_repeats=4, random_state=2)
    assert np.median(1 / b.noise_sd.values) == pytest.approx(0.7, rel=1e-9)
    snr = 1 / b.noise_sd.values
    assert snr.max() / snr.min() > 2  # per-voxel SNR varies
    resid = (b.responses - b.signal).values.reshape(-1, 90)
    np.testing.assert_allclose(resid.std(0), b.noise_sd.values, rtol=0.06)
    expected = 1 / (1 + b.noise_sd.values ** 2 / 4)
    np.testing.assert_allclose(b.true_noise_ceiling.values, expected)
    assert b.responses.dtype == np.float32


def test_responses_round_trip_through_netcdf(tmp_path, volume_brain):
    path = save_responses(volume_brain.responses, tmp_path / "sim.nc")
    assert load_responses(path).identical(volume_brain.responses)


# ---------------------------------------------------------------------------- placement
def _mni_gm():
    from nilearn import datasets

    gm = datasets.load_mni152_gm_mask(resolution=2)
    return np.asarray(gm.dataobj), gm.affine


def test_voxels_lie_in_grey_matter_in_plausible_places(volume_brain):
    b = volume_brain
    mask, affine = _mni_gm()
    xyz = np.c_[b.responses["x"], b.responses["y"], b.responses["z"]]
    ijk = np.rint((np.c_[xyz, np.ones(len(xyz))] @ np.linalg.inv(affine).T)[:, :3]).astype(int)
    assert mask[tuple(ijk.T)].all()
    assert len({tuple(p) for p in xyz}) == len(xyz)  # no voxel twice
    roi = b.responses["roi"].values
    pos = {r: xyz[roi == r] for r in ("V1", "V4", "IT")}
    for r, p in pos.items():
        assert (p[:, 0] < 0).any() and (p[:, 0] > 0).any(), f"{r} should span both hemispheres"
        assert (p[:, 1] < -30).all(), f"{r} should be occipito-temporal"
    # V1 along the calcarine: medial, posterior, near the horizontal plane of the sulcus
    assert np.abs(pos["V1"][:, 0]).mean() < 15 and pos["V1"][:, 1].mean() < -80 and abs(pos["V1"][:, 2].mean()) < 8
    # V4 ventral occipital: more lateral and lower than V1
    assert np.abs(pos["V4"][:, 0]).mean() > np.abs(pos["V1"][:, 0]).mean() + 10
    assert pos["V4"][:, 2].mean() < pos["V1"][:, 2].mean() - 8
    # IT ventral temporal: anterior to V4, below it, lateral
    assert pos["IT"][:, 1].mean() > pos["V4"][:, 1].mean() + 15 and pos["IT"][:, 2].mean() < -12
    assert np.abs(pos["IT"][:, 0]).mean() > 30


def test_surface_variant_places_vertices_on_fsaverage5():
    from nilearn import datasets

    b = simulate_brain(_maps(60), n_voxels=150, space="surface", rois=("V1", "LO", "IT"), random_state=1)
    r = b.responses
    assert {"hemi", "vertex", "x", "y", "z", "roi"} <= set(r.coords)
    assert set(r["hemi"].values) == {"left", "right"}
    pairs = list(zip(r["hemi"].values, r["vertex"].values))
    assert len(set(pairs)) == len(pairs)
    pial = datasets.load_fsaverage("fsaverage5")["pial"]
    for h in ("left", "right"):
        sel = r["hemi"].values == h
        coords = np.asarray(pial.parts[h].coordinates)[r["vertex"].values[sel]]
        np.testing.assert_allclose(coords, np.c_[r["x"].values[sel], r["y"].values[sel], r["z"].values[sel]])
        assert (np.sign(coords[:, 0]) == (-1 if h == "left" else 1)).all()
    roi = r["roi"].values
    assert r["y"].values[roi == "IT"].mean() > r["y"].values[roi == "V1"].mean() + 20
    assert b.true_noise_ceiling.dims == ("voxel",) and "vertex" in b.true_noise_ceiling.coords


def test_too_many_voxels_and_bad_arguments_are_clear_errors():
    f = _flat(20, 8)
    with pytest.raises(InputError, match="n_voxels: received 10000000; ROI 'V1' has only"):
        simulate_brain(f, n_voxels=10_000_000)
    with pytest.raises(InputError, match=r"rois: received \['V1', 'XX'\]; expected distinct names"):
        simulate_brain(f, rois=("V1", "XX"))
    with pytest.raises(InputError, match="space: received 'mni'"):
        simulate_brain(f, space="mni")
    with pytest.raises(InputError, match="snr: received 0"):
        simulate_brain(f, snr=0)
    with pytest.raises(InputError, match="sparsity: received 1.5"):
        simulate_brain(f, sparsity=1.5)
    with pytest.raises(InputError, match="n_repeats: received 0"):
        simulate_brain(f, n_repeats=0)
    with pytest.raises(InputError, match=r"rf_size: received 2 sizes; expected one per ROI \(3\)"):
        simulate_brain(_maps(20), rf_size=(0.1, 0.2))


def test_feature_errors_say_what_was_received():
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        simulate_brain({"a": _flat(10, 4, ids=list("abcdefghij")), "b": _flat(10, 4, ids=list("abcdefghik"))})
    with pytest.raises(ShapeError, match=r"received dims \('stimulus', 'channel', 'token'\)"):
        simulate_brain(xr.DataArray(np.zeros((5, 2, 3)), dims=("stimulus", "channel", "token")))
    with pytest.raises(InputError, match="constant values over stimuli"):
        simulate_brain(xr.DataArray(np.ones((10, 4)), dims=("stimulus", "feature")))
    with pytest.raises(ShapeError, match="received 2 stimuli; expected at least 3"):
        simulate_brain(_flat(2, 4))
    with pytest.raises(InputError, match="expected a DataArray or a non-empty dict"):
        simulate_brain({})


# ---------------------------------------------------------------------------- planted tuning
def test_flat_signal_is_the_planted_sparse_linear_readout():
    f = _flat(300, 50)
    b = simulate_brain(f, n_voxels=60, sparsity=0.1, random_state=3)
    w = b.true_weights["features"].values.astype(np.float64)
    np.testing.assert_array_equal((w != 0).sum(1), 5)  # 10 % of 50 features
    x = f.values.astype(np.float64)
    np.testing.assert_allclose((x - x.mean(0)) @ w.T, b.signal.values, atol=1e-4)
    assert b.receptive_fields["center_y"].isna().all()


def test_map_signal_is_channel_tuning_times_gaussian_receptive_field():
    f = _maps(150, channels=5, size=9)
    b = simulate_brain(f, n_voxels=45, sparsity=0.4, random_state=5)
    w = b.true_weights["features"]
    assert w.dims == ("voxel", "channel")
    np.testing.assert_array_equal((w.values != 0).sum(1), 2)
    rf = b.receptive_field_maps("features").values
    x = f.values.astype(np.float64)
    x = x - x.mean(0)
    pred = np.einsum("scyx,vc,vyx->sv", x, w.values.astype(np.float64), rf)
    np.testing.assert_allclose(pred, b.signal.values, atol=1e-4)
    with pytest.raises(InputError, match="layer: received 'nope'"):
        b.receptive_field_maps("nope")


def test_receptive_field_centres_are_recovered_by_reverse_correlation():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 2, 12, 12)).astype(np.float32)
    b = simulate_brain(xr.DataArray(x, dims=("stimulus", "channel", "y", "x")), n_voxels=90, snr=2.0,
                       sparsity=0.5, random_state=0)
    y = average_repeats(b.responses).values
    y = y - y.mean(0)
    xc = (x - x.mean(0)).reshape(len(x), -1)
    cov = (xc.T @ y / len(x)).reshape(2, 12, 12, -1)
    recovered = np.einsum("cyxv,vc->vyx", cov, b.true_weights["features"].values)
    rf = b.receptive_fields
    planted = b.receptive_field_maps("features").values
    r = np.array([np.corrcoef(a.ravel(), p.ravel())[0, 1] for a, p in zip(recovered, planted)])
    roi = rf["roi"].to_numpy()
    assert np.median(r[roi == "V1"]) > 0.9 and np.median(r[roi == "V4"]) > 0.9 and np.median(r[roi == "IT"]) > 0.7
    peak = np.array([np.unravel_index(np.argmax(m), m.shape) for m in recovered])
    v1 = roi == "V1"
    assert np.abs(peak[v1, 0] - rf["center_y"].to_numpy()[v1]).max() <= 1
    assert np.abs(peak[v1, 1] - rf["center_x"].to_numpy()[v1]).max() <= 1


def test_receptive_fields_grow_from_v1_to_it_and_follow_retinotopy():
    b = simulate_brain(_maps(40, size=16), n_voxels=600, rois=("V1", "V4", "LO", "IT"), random_state=0)
    rf = b.receptive_fields
    size = rf.groupby("roi")["relative_size"].mean()
    assert size["V1"] < size["V4"] < size["LO"] < size["IT"]
    assert size["V1"] == pytest.approx(ROI_PLACEMENT["V1"][2], rel=0.3)
    np.testing.assert_allclose(rf["relative_size"], rf["size"] / 16)
    assert rf["center_x"].between(0, 15).all() and rf["center_y"].between(0, 15).all()
    left = b.responses["x"].values < 0
    v1 = (rf["roi"] == "V1").to_numpy()
    # the left hemisphere sees the right visual field
    assert rf["center_x"][v1 & left].mean() > 7.5 + 1 > 7.5 - 1 > rf["center_x"][v1 & ~left].mean()
    table = b.roi_table()
    assert table["voxels"].tolist() == [150] * 4 and table["mean_relative_rf_size"].is_monotonic_increasing


def test_layers_split_into_early_middle_late_groups():
    layers = {f"l{i}": _flat(30, 6, seed=i) for i in range(6)}
    b = simulate_brain(layers, n_voxels=60, random_state=0)
    assert b.rois == {"V1": ("l0", "l1"), "V4": ("l2", "l3"), "IT": ("l4", "l5")}
    rf = b.receptive_fields
    for roi, group in b.rois.items():
        assert set(rf.loc[rf["roi"] == roi, "layer"]) == set(group)
    for layer, w in b.true_weights.items():  # voxels on other layers have no weight there
        off = (rf["layer"] != layer).to_numpy()
        assert not w.values[off].any() and w.values[~off].any()
    two = simulate_brain({"a": _flat(30, 6), "b": _flat(30, 6, seed=1)}, n_voxels=30)
    assert two.rois == {"V1": ("a",), "V4": ("a",), "IT": ("b",)}


def test_same_seed_same_brain_other_seed_other_brain():
    f = {"maps": _maps(30, size=8), "flat": _flat(30, 10, ids=[f"img{i:04d}" for i in range(30)])}
    a = simulate_brain(f, n_voxels=60, random_state=7)
    b = simulate_brain(f, n_voxels=60, random_state=7)
    c = simulate_brain(f, n_voxels=60, random_state=8)
    assert a.responses.identical(b.responses) and a.signal.identical(b.signal)
    pd.testing.assert_frame_equal(a.receptive_fields, b.receptive_fields)
    assert all(a.true_weights[k].identical(b.true_weights[k]) for k in a.true_weights)
    assert not np.array_equal(a.responses.values, c.responses.values)
    assert not np.array_equal(a.responses["x"].values, c.responses["x"].values)


def test_memory_stays_bounded_for_large_maps():
    x = xr.DataArray(np.random.default_rng(0).random((40, 16, 64, 64), dtype=np.float32),
                     dims=("stimulus", "channel", "y", "x"))
    simulate_brain(x, n_voxels=30, random_state=0)  # load the cached template first
    tracemalloc.start()
    simulate_brain(x, n_voxels=300, random_state=0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    dense = 300 * x[0].size * 8  # a dense (voxel, channel*y*x) float64 weight matrix: 157 MB
    assert peak < 0.5 * dense, f"peak {peak / 1e6:.0f} MB"


# ---------------------------------------------------------------------------- noise ceiling
@pytest.mark.parametrize("snr", [0.3, 2.0])
@pytest.mark.parametrize("method", ["ncsnr", "split_half"])
def test_noise_ceiling_estimators_recover_the_planted_ceiling(snr, method):
    nc_module = pytest.importorskip("neuroperception.data.noise_ceiling")
    b = simulate_brain(_flat(3000, 32), n_voxels=300, snr=snr, n_repeats=3, random_state=1)
    est = nc_module.noise_ceiling(b.responses, method=method, random_state=0)
    mae = float(np.abs(est.values - b.true_noise_ceiling.values).mean())
    assert mae < 0.02, f"{method} at snr={snr}: MAE {mae:.4f}"


# ---------------------------------------------------------------------------- demo section
def test_demo_brain_section_writes_its_figures(tmp_path):
    from neuroperception.demo.brain import _brain
    from neuroperception.demo.registry import DemoContext
    from neuroperception.plotting import Report
    from neuroperception.stimuli import procedural

    ctx = DemoContext(tmp_path, quick=True)
    ctx.images = procedural.gratings(orientations=(0, 45, 90, 135), spatial_frequencies=(4, 8, 16), size=48)
    report = Report(tmp_path, "test")
    _brain(ctx, report)
    html = report.write().read_text()
    assert "<h2>Simulated brain</h2>" in html
    names = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert {"brain_rois.png", "brain_noise_ceiling.png", "brain_roi_summary.png"} <= set(names)
    for name in names:
        assert f"figures/{name}" in html and (tmp_path / "figures" / name).stat().st_size > 5000
