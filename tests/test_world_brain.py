"""The simulated brain seeing world scenes: planted selectivity, its recovery, the content switch, energy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import RidgeCV

from neuroperception.data import ENERGY_CHANNELS, average_repeats, contrast_energy, simulate_brain
from neuroperception.errors import InputError, ShapeError
from neuroperception.world import CATEGORIES, render_scenes

N_SCENES, N_TRAIN = 400, 320


@pytest.fixture(scope="module")
def scenes():
    return render_scenes(N_SCENES, random_state=1)


@pytest.fixture(scope="module")
def energy(scenes):
    return contrast_energy(scenes.images, grid=8).values.reshape(N_SCENES, -1)


@pytest.fixture(scope="module")
def brains(scenes):
    return {c: simulate_brain(scenes, n_voxels=160, snr=1.0, random_state=0, content=c) for c in (True, False)}


def _category_regressors(scenes) -> np.ndarray:
    """Per scene and category: the summed size x visibility of its objects of that category (from the annotations)."""
    o = scenes.objects
    drive = o.size_px / min(scenes.masks.shape[-2:]) * o.visible_fraction
    table = pd.crosstab(o.stimulus_id, o.category, values=drive, aggfunc="sum")
    return table.reindex(index=scenes.ids, columns=list(CATEGORIES)).fillna(0.0).to_numpy()


def _block_contrast(scenes, block=8) -> np.ndarray:
    """A low-level space computed independently of the simulator: RGB standard deviation in pixel blocks."""
    x = scenes.images.images.numpy()
    n, c, h, w = x.shape
    return x.reshape(n, c, h // block, block, w // block, block).std(axis=(3, 5)).reshape(n, -1)


def _held_out_r(x: np.ndarray, y: np.ndarray):
    x = (x - x[:N_TRAIN].mean(0)) / (x[:N_TRAIN].std(0) + 1e-9)
    model = RidgeCV(alphas=np.logspace(-2, 5, 15)).fit(x[:N_TRAIN], y[:N_TRAIN])
    p, t = model.predict(x[N_TRAIN:]), y[N_TRAIN:]
    p, t = (p - p.mean(0)) / p.std(0), (t - t.mean(0)) / t.std(0)
    return (p * t).mean(0), model


def _median_by_roi(r, brain):
    roi = brain.responses["roi"].values
    return {k: float(np.median(r[roi == k])) for k in brain.rois}


# ---------------------------------------------------------------------------- what is planted
def test_world_brain_layout_and_recorded_truth(brains):
    b = brains[True]
    assert b.rois == {"V1": ("energy",), "V4": ("energy",), "LO": ("categories",), "IT": ("categories",)}
    assert b.responses.shape == (3, N_SCENES, 160) and b.responses["stimulus_id"].values[0] == "world00000"
    rf = b.receptive_fields
    obj = rf["roi"].isin(["LO", "IT"]).to_numpy()
    assert rf.loc[obj, "preferred_category"].isin(CATEGORIES).all() and rf.loc[~obj, "preferred_category"].isna().all()
    # each object ROI holds every category, in (nearly) equal shares
    counts = rf[obj].groupby("roi")["preferred_category"].value_counts()
    assert counts.groupby(level=0).size().tolist() == [8, 8] and counts.max() - counts.min() <= 1
    assert list(b.true_weights["energy"]["channel"].values) == list(ENERGY_CHANNELS)
    assert list(b.true_weights["categories"]["category"].values) == list(CATEGORIES)
    assert (b.true_weights["energy"].values >= 0).all() and (b.true_weights["categories"].values >= 0).all()
    assert b.settings["content"] is True and b.responses.attrs["content"] == 1
    expected = 1 / (1 + b.noise_sd.values ** 2 / 3)
    np.testing.assert_allclose(b.true_noise_ceiling.values, expected)


def test_category_patches_are_spatially_clustered(scenes):
    b = simulate_brain(scenes[:30], n_voxels=600, random_state=0)
    rf = b.receptive_fields
    xyz = np.c_[b.responses["x"], b.responses["y"], b.responses["z"]]
    for roi in ("LO", "IT"):
        sel = (rf["roi"] == roi).to_numpy()
        p, pref = xyz[sel], rf.loc[sel, "preferred_category"].to_numpy()
        d = np.linalg.norm(p[:, None] - p[None], axis=-1) + np.eye(len(p)) * 1e9
        same = (pref[d.argmin(1)] == pref).mean()
        assert same > 0.4, f"{roi}: nearest voxel shares the preferred category {same:.2f} (chance 1/8)"


def test_signal_is_exactly_the_planted_function_of_pixels_and_annotations(scenes, brains):
    b = brains[True]
    rf = b.receptive_fields
    # early ROIs: positive channel weights on contrast energy inside the planted receptive fields
    energy = contrast_energy(scenes.images, grid=16).values.astype(np.float64)
    energy -= energy.mean(0)
    w = b.true_weights["energy"].values.astype(np.float64)
    maps = b.receptive_field_maps("energy").values
    early = rf["layer"].eq("energy").to_numpy()
    pred = np.einsum("scyx,vc,vyx->sv", energy, w[early], maps[early])
    np.testing.assert_allclose(pred, b.signal.values[:, early], atol=1e-4)
    # object ROIs: sum over objects of tuning[category] x size x visibility x position gain
    o = scenes.objects
    scene = pd.Index(scenes.ids).get_indexer(o.stimulus_id)
    cat = o.category.map({c: k for k, c in enumerate(CATEGORIES)}).to_numpy()
    drive = (o.size_px / 64 * o.visible_fraction).to_numpy()
    vox = np.flatnonzero(~early)
    cy, cx, sd = (rf[k].to_numpy()[vox] for k in ("center_y", "center_x", "size"))
    d2 = (o.x.to_numpy()[:, None] - cx) ** 2 + (o.y.to_numpy()[:, None] - cy) ** 2
    gain = 0.7 + 0.3 * np.exp(-d2 / (2 * sd ** 2))
    d = np.zeros((N_SCENES, len(vox), len(CATEGORIES)))
    np.add.at(d, (scene[:, None], np.arange(len(vox))[None], cat[:, None]), (drive[:, None] * gain))
    tw = b.true_weights["categories"].values.astype(np.float64)[vox]
    pred = np.einsum("svc,vc->sv", d - d.mean(0), tw)
    np.testing.assert_allclose(pred, b.signal.values[:, vox], atol=1e-4)
    assert (tw.argmax(1) == rf["preferred_category"].iloc[vox].map(CATEGORIES.index).to_numpy()).all()


# ---------------------------------------------------------------------------- recovery by encoding models
def test_category_regressors_predict_object_rois_and_low_level_contrast_predicts_early_rois(scenes, brains):
    b = brains[True]
    y = average_repeats(b.responses).values
    r_cat, model = _held_out_r(_category_regressors(scenes), y)
    r_low, _ = _held_out_r(_block_contrast(scenes), y)
    cat, low = _median_by_roi(r_cat, b), _median_by_roi(r_low, b)
    for roi in ("LO", "IT"):
        assert cat[roi] > 0.75 and cat[roi] > cat["V1"] + 0.3 and cat[roi] > low[roi] + 0.4, (cat, low)
    for roi in ("V1", "V4"):
        assert low[roi] > 0.45 and low[roi] > low["IT"] + 0.25 and low[roi] > cat[roi] + 0.1, (cat, low)
    # the fitted weights recover each object-selective voxel's preferred category
    obj = b.receptive_fields["preferred_category"].notna().to_numpy()
    found = np.asarray(CATEGORIES)[model.coef_.argmax(1)]
    assert (found[obj] == b.receptive_fields["preferred_category"].to_numpy()[obj]).mean() > 0.95


def test_content_switch_off_removes_what_categories_add_beyond_energy(scenes, brains, energy):
    on, off = brains[True], brains[False]
    assert off.rois == {"V1": ("energy",), "V4": ("energy",), "LO": ("energy",), "IT": ("energy",)}
    assert "categories" not in off.true_weights and off.receptive_fields["preferred_category"].isna().all()
    # same voxels, same noise, same early areas; only the object ROIs' tuning changed
    assert on.responses["x"].equals(off.responses["x"]) and np.array_equal(on.noise_sd.values, off.noise_sd.values)
    early = on.receptive_fields["roi"].isin(["V1", "V4"]).to_numpy()
    np.testing.assert_array_equal(on.signal.values[:, early], off.signal.values[:, early])
    assert not np.allclose(on.signal.values[:, ~early], off.signal.values[:, ~early])
    sizes = off.receptive_fields.groupby("roi")["relative_size"].mean()
    assert sizes["V1"] < sizes["V4"] < sizes["LO"] < sizes["IT"]
    both = np.c_[energy, _category_regressors(scenes)]
    for brain, gain_it in ((on, "large"), (off, "none")):
        y = average_repeats(brain.responses).values
        added = _median_by_roi(_held_out_r(both, y)[0], brain)
        alone = _median_by_roi(_held_out_r(energy, y)[0], brain)
        gain = added["IT"] - alone["IT"]
        assert (gain > 0.4) if gain_it == "large" else (abs(gain) < 0.03), (gain_it, added, alone)


# ---------------------------------------------------------------------------- options and errors
def test_same_seed_same_brain_and_rois_draw_their_own_streams(scenes):
    small = scenes[:60]
    a = simulate_brain(small, n_voxels=40, random_state=5)
    b = simulate_brain(small, n_voxels=40, random_state=5)
    assert a.responses.identical(b.responses)
    pd.testing.assert_frame_equal(a.receptive_fields, b.receptive_fields)
    it = simulate_brain(small, n_voxels=40, rois=("IT",), random_state=5, sparsity=0.5)
    assert it.rois == {"IT": ("categories",)} and (it.receptive_fields["n_tuned"] == 4).all()


def test_world_errors_say_what_was_received(scenes):
    import xarray as xr

    flat = xr.DataArray(np.random.default_rng(0).standard_normal((10, 4)), dims=("stimulus", "feature"))
    with pytest.raises(InputError, match="content: received False with features"):
        simulate_brain(flat, content=False)
    with pytest.raises(InputError, match="content: received 'no'"):
        simulate_brain(scenes[:10], n_voxels=8, content="no")
    with pytest.raises(ShapeError, match="received 2 scenes; expected at least 3"):
        simulate_brain(scenes[:2], n_voxels=8)


# ---------------------------------------------------------------------------- contrast energy
def test_contrast_energy_sees_edges_in_the_channels_that_tell_colours_apart():
    img = torch.full((3, 3, 48, 64), 0.5)
    img[1, :, :, 32:] = torch.tensor([0.5, 0.5, 0.5])[:, None, None] + torch.tensor([0.3, -0.3, 0.0])[:, None, None]
    img[2, :, :, 32:] = 0.9  # a luminance step, no colour
    e = contrast_energy(img, grid=8, stimulus_id=["flat", "colour", "luminance"])
    assert e.shape == (3, 6, 6, 8) and e["stimulus_id"].values.tolist() == ["flat", "colour", "luminance"]
    np.testing.assert_allclose(e.sel(stimulus=0).values, 0, atol=1e-6)
    col, lum = e.isel(stimulus=1), e.isel(stimulus=2)
    assert float(col.sel(channel="red-green fine").isel(x=slice(3, 5)).min()) > 0.05
    assert float(col.sel(channel="luminance fine").max()) < 1e-6  # R - G step at constant luminance
    assert float(lum.sel(channel="red-green coarse").max()) < 1e-6 and float(lum.sel(channel="blue-yellow fine").max()) < 1e-6
    assert float(lum.sel(channel="luminance fine").isel(x=0).max()) < 1e-6  # away from the edge: nothing
    # the fine channel is more local than the coarse one
    fine, coarse = (lum.sel(channel=f"luminance {s}").mean("y").values for s in ("fine", "coarse"))
    assert fine[2] / fine.max() < coarse[2] / coarse.max()


def test_contrast_energy_takes_image_sets_and_checks_its_input(scenes):
    e = contrast_energy(scenes[:5].images, grid=16)
    assert e["stimulus_id"].values.tolist() == scenes.ids[:5] and e.dtype == np.float32
    with pytest.raises(InputError, match="grid: received 0"):
        contrast_energy(torch.zeros(1, 3, 16, 16), grid=0)
    with pytest.raises(InputError, match="grid: received 40; expected at most"):
        contrast_energy(torch.zeros(1, 3, 16, 16), grid=40)
    with pytest.raises(InputError, match=r"expected values in \[0, 1\]"):
        contrast_energy(torch.full((1, 3, 16, 16), 2.0))


def test_contrast_energy_of_more_images_than_one_batch_matches_image_by_image():
    """A tensor longer than the internal batch (256) is read batch by batch, each batch its own images."""
    from neuroperception.data.energy import _BATCH, contrast_energy

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(_BATCH + 7, 3, 8, 8, generator=gen)
    whole = contrast_energy(images, grid=2)
    assert whole.sizes["stimulus"] == _BATCH + 7
    for i in (0, _BATCH - 1, _BATCH, _BATCH + 6):
        one = contrast_energy(images[i:i + 1], grid=2)
        np.testing.assert_allclose(whole.values[i], one.values[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(whole.values[_BATCH], whole.values[0])
