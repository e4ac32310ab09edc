"""SharedSpaceDecoder: equal to RidgeDecoder for one subject, chance for a subject without signal, adapting a new
subject from 10% of its data beats fitting it from scratch on the same data (5 seeds), and clear errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neuroperception.alignment import SharedResponseModel
from neuroperception.data import Subjects, make_responses, simulate_subjects
from neuroperception.decoding import RidgeDecoder, SharedSpaceDecoder, retrieval_accuracy
from neuroperception.errors import AlignmentError, InputError, ShapeError

ALPHAS = np.logspace(-2, 4, 7)


def _features(n, d, seed, prefix="img"):
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.standard_normal((n, d)), dims=("stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", [f"{prefix}{i:04d}" for i in range(n)]),
                                "feature": [f"f{j}" for j in range(d)]})


def _one_subject(n=120, d=6, v=25, seed=0):
    rng = np.random.default_rng(seed)
    f = _features(n, d, seed)
    x = f.values @ rng.normal(size=(d, v)) * np.linspace(0.2, 5, v) + 2.0 * rng.normal(size=(n, v)) + 3.0
    return make_responses(x, f["stimulus_id"].values, roi="V1", subject="s1"), f


def _select(da, ids):
    return da.isel(stimulus=np.flatnonzero(np.isin(np.asarray(da["stimulus_id"].values).astype(str), list(ids))))


def _top1(pred, target):
    return float(retrieval_accuracy(pred, target, k=1, direction="brain_to_image")["top-1"].iloc[0])


# ------------------------------------------------------------------------------ one subject = RidgeDecoder
def test_one_subject_with_every_component_equals_the_ridge_decoder():
    r, f = _one_subject()
    train, test = r.isel(stimulus=slice(0, 90)), r.isel(stimulus=slice(90, None))
    shared = SharedSpaceDecoder(n_components=r.sizes["voxel"], alphas=ALPHAS, cv=4).fit({"s1": train}, f)
    single = RidgeDecoder(alphas=ALPHAS, cv=4).fit(train, _select(f, train["stimulus_id"].values))
    assert shared.head_.best_alpha_ == single.best_alpha_
    np.testing.assert_allclose(shared.predict(test).values, single.predict(test).values, rtol=1e-4, atol=1e-4)
    assert shared.predict(test)["stimulus_id"].values.tolist() == test["stimulus_id"].values.tolist()


def test_one_subject_with_fewer_components_equals_ridge_on_its_principal_components():
    r, f = _one_subject(seed=1)
    k = 6
    shared = SharedSpaceDecoder(n_components=k, n_iter=300, alphas=ALPHAS, cv=4).fit({"s1": r}, f)
    x = r.values
    z = (x - x.mean(0)) / x.std(0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    scores = z @ vt[:k].T
    single = RidgeDecoder(alphas=ALPHAS, cv=4, standardize=False).fit(scores, f.values)
    assert shared.head_.best_alpha_ == single.best_alpha_
    np.testing.assert_allclose(shared.predict(r).values, single.predict(scores), rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------------------ a subject without signal
def _small_sim(seed, n_subjects=3):
    f = _features(400, 16, seed)
    sim = simulate_subjects(f, n_subjects=n_subjects, n_voxels=120, n_components=8, snr=1.0, shared=0.5,
                            random_state=seed)
    return sim, f


def test_a_subject_with_no_signal_decodes_at_chance():
    hits, n_total, signal = [], 0, []
    for seed in range(5):
        sim, f = _small_sim(seed)
        subjects = sim.subjects
        shared = set(sim.shared_stimuli)
        own = [i for i in subjects.stimulus_ids("subj03") if i not in shared]
        rng = np.random.default_rng(100 + seed)
        noise = subjects["subj03"].copy(data=rng.standard_normal(subjects["subj03"].shape))
        dec = SharedSpaceDecoder(n_components=8).fit(subjects.select(subject=["subj01", "subj02"]), f)
        adapt_ids = sorted(shared)[:100]
        for route in ("features", "shared stimuli"):
            y = f if route == "features" else None
            for name, responses in (("noise", noise), ("signal", subjects["subj03"])):
                fitted = copy.deepcopy(dec).adapt(_select(responses, adapt_ids), y, subject="subj03")
                pred = fitted.predict(_select(responses, own))
                table = retrieval_accuracy(pred, _select(f, own), k=5, direction="brain_to_image")
                if name == "noise":
                    hits.append(table["top-5"].iloc[0] * len(own))
                    n_total += len(own)
                else:
                    signal.append(table["top-5"].iloc[0])
    chance = 5 / len(own)
    low, high = stats.binomtest(int(round(sum(hits))), n_total, chance).proportion_ci(0.99)
    assert low <= chance <= high, (sum(hits) / n_total, chance)
    assert min(signal) > 5 * chance  # the same pipeline with the planted signal decodes


# ------------------------------------------------------------------------------ the adaptation curve
def _adaptation(seed, fractions):
    f = _features(1000, 32, seed)
    sim = simulate_subjects(f, n_subjects=5, n_voxels=300, n_components=12, random_state=seed)
    subjects = sim.subjects
    shared = set(sim.shared_stimuli)
    dec = SharedSpaceDecoder(n_components=12).fit(subjects.select(subject=["subj01", "subj02", "subj03", "subj04"]), f)
    new = subjects["subj05"]
    ids = subjects.stimulus_ids("subj05")
    test = [i for i in ids if i not in shared]        # stimuli no training subject saw
    pool = [i for i in ids if i in shared]
    pool = [pool[j] for j in np.random.default_rng(seed).permutation(len(pool))]
    out = {}
    for frac in fractions:
        keep = pool[:int(round(frac * len(ids)))]
        adapted = copy.deepcopy(dec).adapt(_select(new, keep), f, subject="subj05")
        scratch = RidgeDecoder().fit(_select(new, keep), _select(f, keep))
        target = _select(f, test)
        out[frac] = (_top1(adapted.predict(_select(new, test)), target),
                     _top1(scratch.predict(_select(new, test)), target))
    return out


def _interval(values):
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


@pytest.mark.slow
def test_adapting_from_ten_percent_beats_fitting_from_scratch_and_the_gap_closes():
    runs = [_adaptation(seed, (0.1, 0.8)) for seed in range(5)]
    adapted10 = [r[0.1][0] for r in runs]
    scratch10 = [r[0.1][1] for r in runs]
    gap10 = [a - s for a, s in zip(adapted10, scratch10)]
    gap80 = [r[0.8][0] - r[0.8][1] for r in runs]
    assert _interval(adapted10)[0] > _interval(scratch10)[1], (adapted10, scratch10)
    assert _interval(gap10)[0] > _interval(gap80)[1], (gap10, gap80)
    assert _interval(gap80)[0] < 0.05  # with 80% of the data, from scratch is about as good


# ------------------------------------------------------------------------------ adapt
def test_the_adapter_from_shared_stimuli_is_the_srm_update_on_zscored_responses():
    sim, f = _small_sim(0)
    subjects = sim.subjects
    dec = SharedSpaceDecoder(n_components=8).fit(subjects.select(subject=["subj01", "subj02"]), f)
    new = _select(subjects["subj03"], sim.shared_stimuli[:60])
    before = {s: b.copy() for s, b in dec.basis_.items()}
    head = dec.head_.coef_.copy()
    dec.adapt(new)  # the subject is read from the subject coordinate
    z = (new.values - new.values.mean(0)) / new.values.std(0)
    srm = copy.deepcopy(dec.srm_).adapt(new.copy(data=z), subject="subj03")
    np.testing.assert_allclose(dec.basis_["subj03"].values, srm.basis_["subj03"].values, atol=1e-6)
    np.testing.assert_array_equal(dec.head_.coef_, head)
    assert all(dec.basis_[s].identical(b) for s, b in before.items())
    assert "subj03" not in dec.srm_.subjects_  # the fitted shared model is left as it was
    assert dec.predict(subjects["subj03"]).attrs["subject"] == "subj03"


def test_the_feature_adapter_minimises_the_loss_through_the_frozen_head():
    sim, f = _small_sim(1)
    dec = SharedSpaceDecoder(n_components=8).fit(sim.subjects.select(subject=["subj01", "subj02"]), f)
    new = sim.subjects["subj03"].isel(stimulus=slice(0, 80))
    dec.adapt(new, f)
    alpha = dec.adapt_alpha_["subj03"]
    a, c = dec._head_linear()
    lam = alpha * np.linalg.eigvalsh(a @ a.T).max()
    x = (new.values - dec.mean_["subj03"]) / dec.scale_["subj03"]
    y = _select(f, new["stimulus_id"].values).values
    w = dec.basis_["subj03"].values

    def loss(w_):
        return ((x @ w_ @ a - (y - y.mean(0))) ** 2).sum() + lam * (w_ ** 2).sum()

    grad = 2 * x.T @ (x @ w @ a - (y - y.mean(0))) @ a.T + 2 * lam * w
    assert np.abs(grad).max() < 1e-6 * max(1.0, loss(w))
    rng = np.random.default_rng(0)
    assert all(loss(w + 1e-3 * rng.normal(size=w.shape)) > loss(w) for _ in range(5))


# ------------------------------------------------------------------------------ errors
def test_clear_errors():
    sim, f = _small_sim(2)
    subjects = sim.subjects
    dec = SharedSpaceDecoder(n_components=8).fit(subjects.select(subject=["subj01", "subj02"]), f)
    with pytest.raises(InputError, match="unfitted"):
        SharedSpaceDecoder().predict(subjects["subj01"])
    with pytest.raises(InputError, match="subject: received 'subj09'"):
        dec.predict(subjects["subj01"], subject="subj09")
    with pytest.raises(InputError, match="subj03"):
        dec.predict(subjects["subj03"])
    with pytest.raises(ShapeError, match="voxels"):
        dec.predict(subjects["subj02"], subject="subj01")
    with pytest.raises(InputError, match="already fitted"):
        dec.adapt(subjects["subj01"], f)
    with pytest.raises(ShapeError, match="16 features of the shared head"):
        dec.adapt(subjects["subj03"], f.isel(feature=slice(0, 4)))
    with pytest.raises(InputError, match="stimulus_id"):
        dec.adapt(subjects["subj03"], f.values)
    few = _select(subjects["subj03"], sim.shared_stimuli[:5])
    with pytest.raises(InputError, match="at least n_components=8"):
        dec.adapt(few)
    own = [i for i in subjects.stimulus_ids("subj03") if i not in set(sim.shared_stimuli)]
    with pytest.raises(AlignmentError):
        dec.adapt(_select(subjects["subj03"], own))
    with pytest.raises(InputError, match="at least n_components"):
        SharedSpaceDecoder(n_components=8).fit(subjects.select(stimulus_id=sim.shared_stimuli[:5]), f)
    with pytest.raises(InputError, match="stimulus_id"):
        SharedSpaceDecoder(n_components=8).fit(subjects, f.values)
    with pytest.raises(InputError, match="Subjects"):
        SharedSpaceDecoder().fit(subjects["subj01"], f)
    with pytest.raises(AlignmentError):
        SharedSpaceDecoder(n_components=8).fit(subjects, f.assign_coords(stimulus_id=("stimulus", [
            f"other{i}" for i in range(f.sizes["stimulus"])])))
    disjoint = Subjects({"a": make_responses(np.ones((10, 9)) + np.arange(90).reshape(10, 9) ** 0.5,
                                             [f"a{i}" for i in range(10)]),
                         "b": make_responses(np.arange(90.0).reshape(10, 9) ** 0.5, [f"b{i}" for i in range(10)])})
    with pytest.raises(AlignmentError):
        SharedSpaceDecoder(n_components=2).fit(disjoint, f)
    assert isinstance(dec.srm_, SharedResponseModel)


# ------------------------------------------------------------------------------ a contrastive head
def test_a_contrastive_head_is_trained_on_all_subjects_and_adapting_trains_the_adapter_alone():
    from neuroperception.decoding import ContrastiveDecoder

    sim, f = _small_sim(0)
    subjects = sim.subjects
    head = ContrastiveDecoder(hidden=(), lr=1e-2, max_epochs=40, batch_size=64, device="cpu")
    dec = SharedSpaceDecoder(n_components=8, head=head).fit(subjects.select(subject=["subj01", "subj02"]), f)
    assert isinstance(dec.head_, ContrastiveDecoder) and dec.head_ is not head and not hasattr(head, "module_")
    frozen = [p.detach().clone() for p in dec.head_.module_.parameters()]
    shared = set(sim.shared_stimuli)
    own = [i for i in subjects.stimulus_ids("subj03") if i not in shared]
    keep = sorted(shared)[:60]
    chance5 = 5 / len(own)
    for y in (f, None):
        adapted = copy.deepcopy(dec).adapt(_select(subjects["subj03"], keep), y, subject="subj03")
        table = retrieval_accuracy(adapted.predict(_select(subjects["subj03"], own)), _select(f, own), k=5,
                                   direction="brain_to_image")
        assert table["top-5"].iloc[0] > 5 * chance5
        assert all(torch_equal(a, b) for a, b in zip(adapted.head_.module_.parameters(), frozen))
        assert all(adapted.basis_[s].identical(dec.basis_[s]) for s in ("subj01", "subj02"))
    assert "subj03" in adapted.basis_ and not adapted.adapt_alpha_
    dec.adapt(_select(subjects["subj03"], keep), f, subject="subj03")
    assert list(dec.adapt_history_) == ["subj03"] and "val_top1" in dec.adapt_history_["subj03"]
    assert all(torch_equal(a, b) for a, b in zip(dec.head_.module_.parameters(), frozen))
    with pytest.raises(InputError, match="head"):
        SharedSpaceDecoder(n_components=8, head="mlp").fit(subjects, f)


def torch_equal(a, b):
    return bool((a.detach() == b.detach()).all())
