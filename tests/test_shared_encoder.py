"""SharedSpaceEncoder: predicts every subject's held-out planted signal about as well as per-subject RidgeCV with
plenty of data, better for a new subject with little data (adapted with the shared map frozen), and clear errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neuroperception.data import simulate_subjects
from neuroperception.decoding import SharedSpaceEncoder
from neuroperception.encoding import RidgeCV
from neuroperception.errors import AlignmentError, InputError, ShapeError


def _features(n, d, seed):
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.standard_normal((n, d)), dims=("stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", [f"img{i:04d}" for i in range(n)])})


def _select(da, ids):
    return da.isel(stimulus=np.flatnonzero(np.isin(np.asarray(da["stimulus_id"].values).astype(str), list(ids))))


def _signal_r(pred, sim, subject):
    """Median over voxels of the correlation between a prediction and the planted noise-free signal."""
    ids = np.asarray(pred["stimulus_id"].values).astype(str)
    signal = (_select(sim.shared_latent, ids).values @ sim.maps[subject].values)
    a, b = pred.values - pred.values.mean(0), signal - signal.mean(0)
    return float(np.median((a * b).sum(0) / np.sqrt((a ** 2).sum(0) * (b ** 2).sum(0))))


def _sim(seed, n=600, n_subjects=4, n_voxels=200):
    f = _features(n, 32, seed)
    sim = simulate_subjects(f, n_subjects=n_subjects, n_voxels=n_voxels, n_components=12, snr=1.0, shared=0.5,
                            random_state=seed)
    return sim, f


def _plenty(seed):
    """Encoder vs per-subject RidgeCV, every subject, held-out shared stimuli, all other data to train."""
    sim, f = _sim(seed)
    test = sorted(sim.shared_stimuli)[:60]
    train = {s: [i for i in sim.subjects.stimulus_ids(s) if i not in set(test)] for s in sim.subjects}
    subjects = {s: _select(sim.subjects[s], train[s]) for s in sim.subjects}
    enc = SharedSpaceEncoder(n_components=12).fit(f, subjects)
    out = {}
    for s in sim.subjects:
        ridge = RidgeCV(dtype="float64").fit(_select(f, train[s]).values, subjects[s].values)
        pred_ridge = _select(sim.subjects[s], test).copy(data=ridge.predict(_select(f, test).values))
        out[s] = (_signal_r(enc.predict(_select(f, test), subject=s), sim, s), _signal_r(pred_ridge, sim, s))
    return out


def test_every_subject_is_predicted_about_as_well_as_by_its_own_ridge():
    out = _plenty(0)
    for s, (shared, own) in out.items():
        assert shared > 0.8, (s, shared)
        assert shared > own - 0.05, (s, shared, own)


def _little(seed, fraction=0.1):
    """A fifth subject adapted from ``fraction`` of its stimuli vs RidgeCV fitted on the same stimuli."""
    sim, f = _sim(seed, n=1000, n_subjects=5, n_voxels=300)
    names = list(sim.subjects)
    enc = SharedSpaceEncoder(n_components=12).fit(f, sim.subjects.select(subject=names[:4]))
    new = sim.subjects[names[4]]
    ids = sim.subjects.stimulus_ids(names[4])
    shared = set(sim.shared_stimuli)
    test = [i for i in ids if i not in shared]          # stimuli no fitted subject saw
    pool = [i for i in ids if i in shared]
    pool = [pool[j] for j in np.random.default_rng(seed).permutation(len(pool))]
    keep = pool[:int(round(fraction * len(ids)))]
    adapted = copy.deepcopy(enc).adapt(f, _select(new, keep), subject=names[4])
    ridge = RidgeCV(dtype="float64").fit(_select(f, keep).values, _select(new, keep).values)
    pred_ridge = _select(new, test).copy(data=ridge.predict(_select(f, test).values))
    return (_signal_r(adapted.predict(_select(f, test), subject=names[4]), sim, names[4]),
            _signal_r(pred_ridge, sim, names[4]))


def test_a_new_subject_with_little_data_is_predicted_better_than_by_its_own_ridge():
    adapted, own = _little(0)
    assert adapted > own + 0.1, (adapted, own)


def _interval(values):
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


@pytest.mark.slow
def test_over_five_seeds_shared_equals_own_with_plenty_and_wins_with_little():
    plenty = [(a, b) for seed in range(5) for a, b in _plenty(seed).values()]
    diffs = [a - b for a, b in plenty]
    low, high = _interval(diffs)
    assert low > -0.05, (low, high)                    # about as good as each subject's own ridge, or better
    little = [_little(seed) for seed in range(5)]
    gains = [a - b for a, b in little]
    low_gain, high_gain = _interval(gains)
    assert low_gain > 0, (low_gain, high_gain)          # better than its own ridge on the same 10%
    print(f"plenty: shared {np.mean([a for a, _ in plenty]):.3f} own {np.mean([b for _, b in plenty]):.3f} "
          f"diff {np.mean(diffs):.3f} ({low:.3f}, {high:.3f}); little: adapted {np.mean([a for a, _ in little]):.3f} "
          f"{_interval([a for a, _ in little])} own {np.mean([b for _, b in little]):.3f} "
          f"{_interval([b for _, b in little])} gain {np.mean(gains):.3f} ({low_gain:.3f}, {high_gain:.3f})")


def test_adapt_without_features_uses_the_srm_update_and_freezes_the_shared_map():
    sim, f = _sim(1, n=300, n_subjects=3, n_voxels=80)
    names = list(sim.subjects)
    enc = SharedSpaceEncoder(n_components=12).fit(f, sim.subjects.select(subject=names[:2]))
    coef = enc.map_.coef_.copy()
    readouts = {s: enc.readout_[s].copy() for s in names[:2]}
    shared = sorted(sim.shared_stimuli)
    enc.adapt(None, _select(sim.subjects[names[2]], shared[:60]))
    np.testing.assert_array_equal(enc.map_.coef_, coef)
    for s in names[:2]:
        assert enc.readout_[s].identical(readouts[s])
    w = enc.readout_[names[2]].values
    np.testing.assert_allclose(w @ w.T, np.eye(w.shape[0]), atol=1e-8)   # an orthonormal SRM basis
    own = [i for i in sim.subjects.stimulus_ids(names[2]) if i not in set(shared)]
    assert _signal_r(enc.predict(_select(f, own), subject=names[2]), sim, names[2]) > 0.6


def test_clear_errors():
    sim, f = _sim(2, n=200, n_subjects=2, n_voxels=60)
    with pytest.raises(InputError, match="unfitted"):
        SharedSpaceEncoder().predict(f, subject="subj01")
    with pytest.raises(InputError, match="stimulus_id"):
        SharedSpaceEncoder(n_components=4).fit(f.values, sim.subjects)
    with pytest.raises(InputError, match="Subjects"):
        SharedSpaceEncoder(n_components=4).fit(f, sim.subjects["subj01"])
    with pytest.raises(InputError, match="n_components"):
        SharedSpaceEncoder(n_components=4).fit(f, sim.subjects.select(stimulus_id=sim.shared_stimuli[:3]))
    enc = SharedSpaceEncoder(n_components=4).fit(f, sim.subjects)
    with pytest.raises(InputError, match="subject"):
        enc.predict(f, subject="subj09")
    with pytest.raises(ShapeError, match="features"):
        enc.predict(f.isel(feature=slice(0, 5)), subject="subj01")
    with pytest.raises(InputError, match="already fitted"):
        enc.adapt(f, sim.subjects["subj01"])
    with pytest.raises(ShapeError, match="features"):
        enc.adapt(f.isel(feature=slice(0, 5)), sim.subjects["subj01"], subject="new")
    other = sim.subjects["subj01"].assign_coords(stimulus_id=("stimulus", [
        f"x{i}" for i in range(sim.subjects["subj01"].sizes["stimulus"])]))
    with pytest.raises(AlignmentError):
        enc.adapt(None, other, subject="new")
