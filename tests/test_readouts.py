"""Deep readouts: planted receptive fields recovered, better than pooled ridge, reproducible, clear errors."""

import matplotlib
import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.base import clone

from neuroperception.data import simulate_brain
from neuroperception.encoding import AttentionReadout, FactorizedReadout, RidgeCV, fit_encoding_model
from neuroperception.errors import AlignmentError, InputError, ShapeError

matplotlib.use("Agg")

N, C, H, W = 400, 6, 8, 8


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: one torch thread is as fast and does not oversubscribe shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(0)
    maps = xr.DataArray(rng.normal(size=(N, C, H, W)).astype(np.float32), dims=("stimulus", "channel", "y", "x"),
                        coords={"stimulus_id": ("stimulus", [f"s{i:03d}" for i in range(N)])})
    brain = simulate_brain(maps, n_voxels=60, snr=4.0, n_repeats=2, random_state=0)
    return maps, brain


def _fast(cls, **kw):
    base = dict(lr=0.03, max_epochs=150, patience=15) if cls is FactorizedReadout else \
        dict(query="group", n_groups=8, dim=32, n_heads=4, lr=0.005, max_epochs=100)
    return cls(**{**base, **kw})


def test_factorized_recovers_planted_centres(sim):
    maps, brain = sim
    model = _fast(FactorizedReadout).fit(maps, brain.responses.mean("repeat"))
    rf, est = brain.receptive_fields, model.receptive_fields_
    assert list(est.columns) == ["roi", "center_y", "center_x", "size"]
    assert est["roi"].tolist() == brain.responses["roi"].values.tolist()
    dist = np.hypot(rf["center_y"].values - est["center_y"].values, rf["center_x"].values - est["center_x"].values)
    assert np.mean(dist <= 1.0) >= 0.9
    # sizes follow the planted ones (V1 small, IT large)
    assert np.corrcoef(rf["size"], est["size"])[0, 1] > 0.8


def test_full_mask_recovers_centres(sim):
    maps, brain = sim
    model = FactorizedReadout(spatial="full", lr=0.03, max_epochs=60, sparsity=1e-3, smoothness=1e-2)
    model.fit(maps[:300], brain.signal[:300])
    rf, est = brain.receptive_fields, model.receptive_fields_
    dist = np.hypot(rf["center_y"].values - est["center_y"].values, rf["center_x"].values - est["center_x"].values)
    assert np.mean(dist <= 1.0) >= 0.8
    assert float(np.median(model.voxel_scores(maps[300:], brain.signal[300:]))) > 0.9


def test_readouts_beat_pooled_ridge_in_fit_encoding_model(sim):
    maps, brain = sim
    pooled = maps.mean(("y", "x"))
    ridge = fit_encoding_model(pooled, brain.responses, model=RidgeCV(), random_state=1)
    scores = {"ridge": float(ridge["nc_normalized"].median())}
    for cls in (FactorizedReadout, AttentionReadout):
        res = fit_encoding_model(maps, brain.responses, model=_fast(cls),
                                 random_state=1)
        assert isinstance(res.model, cls) and res["nc_normalized"].dims == ("voxel",)
        scores[cls.__name__] = float(res["nc_normalized"].median())
    assert scores["FactorizedReadout"] > scores["ridge"] + 0.3, scores
    assert scores["AttentionReadout"] > scores["ridge"] + 0.3, scores


@pytest.mark.parametrize("cls", [FactorizedReadout, AttentionReadout])
def test_seed_determinism_and_clone(sim, cls):
    maps, brain = sim
    small, y = maps[:120], brain.signal[:120, :12]
    model = cls(max_epochs=4, random_state=3)
    a = model.fit(small, y).predict(small)
    b = clone(model).fit(small, y).predict(small)
    c = cls(max_epochs=4, random_state=4).fit(small, y).predict(small)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    assert clone(model).get_params() == model.get_params() and not hasattr(clone(model), "module_")


def test_labels_shapes_history_and_layers(sim):
    maps, brain = sim
    y = brain.signal[:150]
    layers = {"fine": maps[:150], "coarse": maps[:150, :3, ::2, ::2]}
    model = AttentionReadout(query="roi", dim=8, n_heads=2, max_epochs=5).fit(layers, y)
    pred = model.predict(layers)
    assert pred.dims == ("stimulus", "voxel") and pred.shape == (150, 60)
    assert pred["stimulus_id"].values.tolist() == y["stimulus_id"].values.tolist()
    assert pred["roi"].values.tolist() == y["roi"].values.tolist()
    att = model.attention_maps(layers)
    assert set(att) == {"fine", "coarse"}
    assert att["fine"].dims == ("stimulus", "roi", "y", "x") and att["coarse"].shape == (150, 3, 4, 4)
    assert att["fine"]["roi"].values.tolist() == ["V1", "V4", "IT"]
    total = att["fine"].sum(("y", "x")) + att["coarse"].sum(("y", "x"))
    np.testing.assert_allclose(total.values, 1.0, atol=1e-5)
    assert model.attention_maps(layers, by="query")["fine"].sizes["query"] == 3
    # responses given in another order are aligned by stimulus_id
    shuffled = y.isel(stimulus=np.random.default_rng(0).permutation(150))
    r = model.voxel_scores(layers, shuffled)
    np.testing.assert_allclose(r.values, model.voxel_scores(layers, y).values)
    hist = model.history_
    assert list(hist.columns) == ["train_loss", "val_loss", "val_r", "seconds"] and len(hist) == 5
    assert 1 <= hist.attrs["best_epoch"] <= 5 and hist.attrs["stimuli_per_second"] > 0
    assert model.plot_history().get_xlabel() == "epoch"
    # plain arrays in -> plain arrays out
    plain = FactorizedReadout(max_epochs=2, validation=None)
    out = plain.fit(maps.values[:100], y.values[:100]).predict(maps.values[:10])
    assert isinstance(out, np.ndarray) and out.shape == (10, 60)
    assert plain.history_["val_loss"].isna().all()


def test_flattened_maps_with_map_shape_equal_maps(sim):
    maps, brain = sim
    flat = maps[:100].stack(feature=("channel", "y", "x")).reset_index("feature", drop=True)
    a = FactorizedReadout(max_epochs=3).fit(maps[:100], brain.signal[:100]).predict(maps[:100])
    b = FactorizedReadout(max_epochs=3, map_shape=(C, H, W)).fit(flat, brain.signal[:100])
    np.testing.assert_allclose(b.predict(flat).values, a.values, rtol=1e-5, atol=1e-6)


def test_bad_input_is_a_clear_error(sim):
    maps, brain = sim
    y = brain.signal[:100]
    with pytest.raises(ShapeError, match="spatial dims"):
        FactorizedReadout().fit(maps[:100].mean(("y", "x")), y)
    with pytest.raises(ShapeError, match="4 dimensions"):
        AttentionReadout().fit(np.zeros((100, 8)), y.values)
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        FactorizedReadout().fit(maps[100:200], y)
    with pytest.raises(AlignmentError, match="equal numbers of stimuli"):
        FactorizedReadout().fit(maps.values[:90], y.values)
    with pytest.raises(InputError, match="before fit"):
        FactorizedReadout().predict(maps[:10])
    with pytest.raises(InputError, match="query: received 'voxel'"):
        AttentionReadout(query="voxel").fit(maps[:100], y)
    with pytest.raises(InputError, match="multiple of n_heads"):
        AttentionReadout(dim=10, n_heads=4).fit(maps[:100], y)
    with pytest.raises(InputError, match="validation: received 1.5"):
        FactorizedReadout(validation=1.5).fit(maps[:100], y)
    fitted = FactorizedReadout(max_epochs=1).fit(maps[:100], y)
    with pytest.raises(ShapeError, match="expected the fitted"):
        fitted.predict(maps[:10, :, :4, :4])
    bad = maps[:100].copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        FactorizedReadout().fit(bad, y)


def test_fit_encoding_model_passes_maps_unflattened(sim):
    """Readouts declare accepts_maps: maps go through as maps (no map_shape), equal to the flattened route."""
    maps, brain = sim
    small, y = maps[:120], brain.signal[:120, :12]
    assert FactorizedReadout.accepts_maps and AttentionReadout.accepts_maps
    direct = fit_encoding_model(small, y, model=FactorizedReadout(max_epochs=3))
    assert direct.model.map_shapes_ == [(C, H, W)] and direct.model.map_shape is None
    flat = small.stack(feature=("channel", "y", "x")).reset_index("feature", drop=True)
    via_flat = fit_encoding_model(flat, y, model=FactorizedReadout(max_epochs=3, map_shape=(C, H, W)))
    np.testing.assert_allclose(direct["r"].values, via_flat["r"].values, rtol=1e-5, atol=1e-6)
    # a dict of layers reaches the readout as a dict of maps (one joint readout, not concatenated)
    layers = {"fine": small, "coarse": small[:, :3, ::2, ::2]}
    res = fit_encoding_model(layers, y, model=AttentionReadout(dim=8, n_heads=2, max_epochs=2))
    assert res.model.layer_names_ == ["fine", "coarse"] and res.model.map_shapes_ == [(C, H, W), (3, 4, 4)]
    assert res["r"].dims == ("voxel",)
    # plain numpy maps too; ridge still flattens maps
    plain = fit_encoding_model(small.values, y.values, model=FactorizedReadout(max_epochs=2))
    assert plain.model.map_shapes_ == [(C, H, W)]
    ridge = fit_encoding_model(small, y, model=RidgeCV())
    assert ridge.model.coef_.shape[1] == C * H * W
    with pytest.raises(ShapeError, match="spatial dims"):
        fit_encoding_model(small.mean(("y", "x")), y, model=FactorizedReadout())


def test_attention_centres_follow_planted_centres(sim):
    """Per-voxel attention centres (group mixtures, mass above uniform) land near the planted RF centres.

    Honest bar: about 60% of voxels within one cell overall (large IT fields well, small V1 fields
    poorly), above the fraction for planted centres shuffled across voxels (about 40%: the planted
    centres cluster, so chance is high). Not the "most voxels" of the factorised readout.
    """
    maps, brain = sim
    model = _fast(AttentionReadout).fit(maps, brain.responses.mean("repeat"))
    rf, est = brain.receptive_fields, model.attention_centres(maps)
    assert list(est.columns) == ["roi", "center_y", "center_x"] and len(est) == 60
    dist = np.hypot(rf["center_y"].values - est["center_y"].values, rf["center_x"].values - est["center_x"].values)
    near = dist <= 1.0
    shuffled = np.random.default_rng(0).permutation(60)
    chance = np.hypot(rf["center_y"].values[shuffled] - est["center_y"].values,
                      rf["center_x"].values[shuffled] - est["center_x"].values) <= 1.0
    assert near.mean() >= 0.5 and near.mean() > chance.mean() + 0.1, (near.mean(), chance.mean())
    assert near[est["roi"].values == "IT"].mean() >= 0.7


def test_readout_study_quick(tmp_path):
    """The analysis runs in quick mode, writes its figures and table, and readouts beat pooled ridge."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "analyses" / "readout_study.py"
    spec = importlib.util.spec_from_file_location("readout_study", path)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    scores = study.run(tmp_path, quick=True)
    assert scores["model"].tolist() == ["ridge pooled", "ridge full maps", "factorised", "attention"]
    for name in ("scores.csv", "centres.csv", "attention_maps.png", "receptive_fields.png"):
        assert (tmp_path / name).stat().st_size > 100, name
    by = scores.set_index("model")["all"]
    assert by["factorised"] > by["ridge pooled"] + 0.2, by
    assert scores.set_index("model").loc["factorised", "centres within 1 cell"] >= 0.8
