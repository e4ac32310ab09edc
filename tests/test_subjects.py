"""Several subjects: the Subjects container (select, shared stimuli, save/load) and simulate_subjects' planted truth."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroperception.data import Subjects, load_subjects, make_responses, save_responses, simulate_subjects
from neuroperception.errors import InputError


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(1)
    ids = [f"img{k:03d}" for k in range(200)]
    return xr.DataArray(rng.standard_normal((200, 16)), dims=("stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", ids)})


@pytest.fixture(scope="module")
def sim(features):
    return simulate_subjects(features, n_subjects=3, n_voxels=[60, 90, 75], n_components=9,
                             snr=[0.5, 1.0, 2.0], shared=0.4, random_state=0)


def _latent_of(sim, subject):
    r = sim.subjects[subject]
    return sim.shared_latent.set_index(stimulus="stimulus_id").sel(stimulus=r["stimulus_id"].values).values


def test_responses_are_the_planted_latent_through_each_subjects_map_plus_noise(sim):
    for s, r in sim.subjects.items():
        signal = _latent_of(sim, s) @ sim.maps[s].values
        noise = r.values - signal
        ratio = noise.std(0) / sim.noise_sd[s].values
        assert 0.8 < np.median(ratio) < 1.2  # the residual is the planted noise, nothing else
        assert abs(np.corrcoef(noise.ravel(), signal.ravel())[0, 1]) < 0.05
        # the map reads only the latent components of the voxel's own ROI
        outside = sim.maps[s]["component_roi"].values[:, None] != r["roi"].values[None, :]
        assert np.all(sim.maps[s].values[outside] == 0) and np.all(sim.maps[s].values[~outside] != 0)


def test_latent_is_standardised_and_tuned_to_the_features(sim, features):
    z = sim.shared_latent
    assert z.dims == ("stimulus", "component") and z.shape == (200, 9)
    np.testing.assert_allclose(z.values.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(z.values.std(0), 1, atol=1e-6)
    w = sim.latent_weights["features"]
    np.testing.assert_allclose((features - features.mean("stimulus")).values @ w.values.T, z.values, atol=1e-4)


def test_subjects_differ_in_voxels_rois_and_noise(sim):
    assert [sim.subjects[s].sizes["voxel"] for s in sim.subjects] == [60, 90, 75]
    roi_sizes = [tuple(np.unique(r["roi"].values, return_counts=True)[1]) for r in sim.subjects.values()]
    assert len(set(roi_sizes)) == 3
    medians = [float(np.median(1 / sim.noise_sd[s].values)) for s in sim.subjects]
    np.testing.assert_allclose(medians, [0.5, 1.0, 2.0], rtol=1e-6)  # each subject's median SNR, as asked
    for s, r in sim.subjects.items():
        assert set(r["subject"].values.tolist()) == {s}
        assert {"x", "y", "z", "roi", "stimulus_id"} <= set(r.coords)


def test_shared_and_unique_stimuli(sim):
    table = sim.subjects.stimulus_table()
    assert table.shape == (200, 3)
    seen_by = table.sum(axis=1)
    assert set(seen_by.unique()) == {1, 3}  # a stimulus is seen by everyone or by one subject
    assert sorted(table.index[seen_by == 3]) == sorted(sim.shared_stimuli) == sorted(sim.subjects.shared_stimuli())
    assert len(sim.shared_stimuli) == 80
    unique_counts = table[seen_by == 1].sum(axis=0).tolist()
    assert sorted(unique_counts) == [40, 40, 40]


def test_same_seed_same_subjects_other_seed_other(features):
    a = simulate_subjects(features, n_subjects=2, n_voxels=40, random_state=3)
    b = simulate_subjects(features, n_subjects=2, n_voxels=40, random_state=3)
    c = simulate_subjects(features, n_subjects=2, n_voxels=40, random_state=4)
    assert all(a.subjects[s].identical(b.subjects[s]) for s in a.subjects)
    assert not a.subjects["subj01"].equals(c.subjects["subj01"])
    counts = [a.subjects[s].sizes["voxel"] for s in a.subjects]
    assert all(28 <= n <= 52 for n in counts)


def test_select_orders_by_the_given_ids_and_drops_subjects_without_them(sim):
    shared = sim.subjects.shared_stimuli()[::-1][:5]
    sel = sim.subjects.select(stimulus_id=shared)
    for s, r in sel.items():
        assert r["stimulus_id"].values.tolist() == shared
        np.testing.assert_array_equal(r.values, sim.subjects[s].set_index(stimulus="stimulus_id")
                                      .sel(stimulus=shared).values)
    only = sim.subjects.stimulus_table()
    one = only.index[only["subj02"] & ~only["subj01"]][0]
    assert list(sim.subjects.select(stimulus_id=[one])) == ["subj02"]
    assert list(sim.subjects.select(subject=["subj03", "subj01"])) == ["subj03", "subj01"]


def test_save_and_load_keep_every_label(sim, tmp_path):
    path = sim.subjects.save(tmp_path / "subjects.nc")
    back = load_subjects(path)
    assert list(back) == list(sim.subjects)
    for s in sim.subjects:
        assert back[s].identical(sim.subjects[s])
    with pytest.raises(FileExistsError):
        sim.subjects.save(path)
    sim.subjects.save(path, overwrite=True)


def test_clear_errors(sim, tmp_path):
    r = make_responses(np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(InputError, match="expected a non-empty mapping"):
        Subjects({})
    with pytest.raises(InputError, match="without stimulus_id"):
        Subjects({"s1": xr.DataArray(np.zeros((2, 3)), dims=("stimulus", "voxel"))})
    with pytest.raises(InputError, match="expected an xarray.DataArray"):
        Subjects({"s1": np.zeros((2, 3))})
    with pytest.raises(InputError, match=r"subject coordinate holding \['s2'\]; expected only 's1'"):
        Subjects({"s1": r.assign_coords(subject=("voxel", ["s2"] * 3))})
    with pytest.raises(InputError, match="without '/'"):
        Subjects({"a/b": r})
    with pytest.raises(InputError, match="seen by none of the subjects"):
        sim.subjects.select(stimulus_id=["nope"])
    with pytest.raises(InputError, match="expected distinct subjects"):
        sim.subjects.select(subject="subj09")
    with pytest.raises(KeyError, match="expected one of"):
        sim.subjects["subj09"]
    other = save_responses(r, tmp_path / "single.nc")
    with pytest.raises(InputError, match="written by Subjects.save"):
        load_subjects(other)
    with pytest.raises(InputError, match="n_voxels: received 2 values; expected one per subject"):
        simulate_subjects(np.zeros((10, 3)) + np.arange(3), n_subjects=3, n_voxels=[10, 20])
    with pytest.raises(InputError, match="shared: received 0"):
        simulate_subjects(np.random.default_rng(0).standard_normal((10, 3)), shared=0)
