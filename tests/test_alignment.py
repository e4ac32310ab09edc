"""Functional alignment: Procrustes and ridge equal fmralign's, SRM recovers the planted shared latent and maps of
simulate_subjects, and cross-subject prediction beats a shuffled-stimulus control."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.linalg import orthogonal_procrustes, subspace_angles
from scipy.stats import ortho_group

from neuroperception.alignment import ProcrustesAlignment, RidgeAlignment, SharedResponseModel, predict_subject
from neuroperception.data import Subjects, make_responses, simulate_subjects
from neuroperception.errors import AlignmentError, InputError, ShapeError

fmralign_methods = pytest.importorskip("fmralign.methods")


# ------------------------------------------------------------------------------ equal to fmralign
@pytest.mark.parametrize("shape", [(60, 12, 12), (60, 10, 15), (20, 40, 30), (25, 30, 50)],
                         ids=["square", "more-target-voxels", "fewer-stimuli-than-voxels", "dual-wide"])
@pytest.mark.parametrize("scaling", [True, False])
def test_procrustes_equals_fmralign(shape, scaling):
    n, px, py = shape
    rng = np.random.default_rng(n + px + py)
    X = rng.standard_normal((n, px))
    Y = X @ rng.standard_normal((px, py)) + 0.5 * rng.standard_normal((n, py))
    ours = ProcrustesAlignment(scaling=scaling).fit(X, Y)
    ref = fmralign_methods.Procrustes(scaling=scaling).fit(X, Y)
    np.testing.assert_allclose(ours.rotation_, ref.R, atol=1e-8)
    assert ours.scale_ == pytest.approx(ref.scale, rel=1e-10)
    Xt = rng.standard_normal((7, px))
    np.testing.assert_allclose(ours.predict(Xt).values, ref.transform(Xt), atol=1e-8)


def test_the_gram_polar_factor_equals_the_svd_one_and_falls_back_when_rank_deficient():
    from neuroperception.alignment._solvers import polar_factor, polar_factor_tall

    rng = np.random.default_rng(5)
    A = rng.standard_normal((300, 20)) * np.logspace(0, 1.5, 20)  # condition about 30
    np.testing.assert_allclose(polar_factor_tall(A), polar_factor(A), atol=1e-10)
    B = A.copy()
    B[:, -1] = B[:, 0]  # rank 19: the Gram matrix is singular, the SVD route answers
    W = polar_factor_tall(B)
    np.testing.assert_allclose(W, polar_factor(B), atol=1e-8)
    np.testing.assert_allclose(W.T @ W, np.eye(20), atol=1e-8)


@pytest.mark.parametrize("noise", [1.0, 1e-6], ids=["condition-1e4", "nearly-singular"])
def test_procrustes_equals_fmralign_on_a_low_rank_signal_in_noise(noise):
    # fMRI-like: a 20-dimensional shared signal plus noise, more stimuli than voxels. With noise 1, XᵀY has a
    # condition number of about 10⁴ (the Gram route answers); with almost no noise it is nearly singular
    # (rank 20 of 40: the SVD route answers). Both must give fmralign's map.
    rng = np.random.default_rng(11)
    latent = rng.standard_normal((400, 20))
    X = latent @ rng.standard_normal((20, 40)) + noise * rng.standard_normal((400, 40))
    Y = latent @ rng.standard_normal((20, 60)) + noise * rng.standard_normal((400, 60))
    ours = ProcrustesAlignment().fit(X, Y)
    ref = fmralign_methods.Procrustes(scaling=True).fit(X, Y)
    if noise == 1.0:
        s = np.linalg.svd(X.T @ Y, compute_uv=False)
        assert 1e3 < s[0] / s[-1] < 1e5
        np.testing.assert_allclose(ours.rotation_, ref.R, atol=1e-8)
    else:  # the weakest directions of a nearly singular XᵀY are arbitrary: compare the products
        np.testing.assert_allclose(X @ ours.rotation_, X @ ref.R, atol=1e-6 * np.abs(X).max())
    assert ours.scale_ == pytest.approx(ref.scale, rel=1e-10)
    np.testing.assert_allclose(ours.rotation_ @ ours.rotation_.T, np.eye(40), atol=1e-10)


def test_procrustes_equals_scipy_on_square_maps():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((40, 9)), rng.standard_normal((40, 9))
    R, _ = orthogonal_procrustes(X, Y)
    np.testing.assert_allclose(ProcrustesAlignment(scaling=False).fit(X, Y).rotation_, R, atol=1e-10)


def test_ridge_alignment_equals_fmralign():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 20))
    Y = X @ rng.standard_normal((20, 15)) + 3.0 * rng.standard_normal((80, 15))
    alphas = [0.1, 1.0, 10.0, 100.0, 1000.0]
    ours = RidgeAlignment(alphas=alphas, cv=4).fit(X, Y)
    ref = fmralign_methods.RidgeAlignment(alphas=alphas, cv=4).fit(X, Y)
    assert ours.alpha_ == ref.R.alpha_
    Xt = rng.standard_normal((5, 20))
    np.testing.assert_allclose(ours.predict(Xt).values, ref.transform(Xt), atol=1e-10)


# ------------------------------------------------------------------------------ planted truths
def test_procrustes_recovers_a_planted_rotation_and_pairs_by_stimulus_id():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((100, 8))
    R = ortho_group.rvs(8, random_state=1)
    Y = 1.5 * X @ R + 0.05 * rng.standard_normal((100, 8))
    ids = [f"s{k:03d}" for k in range(100)]
    src = make_responses(X, ids, subject="a")
    perm = rng.permutation(100)
    tgt = make_responses(Y[perm], [ids[k] for k in perm], roi="V1", subject="b")  # same stimuli, another order
    model = ProcrustesAlignment().fit(src, tgt)
    np.testing.assert_allclose(model.rotation_, R, atol=0.01)
    assert model.scale_ == pytest.approx(1.5, rel=0.01)
    pred = model.predict(src)
    assert pred["stimulus_id"].values.tolist() == ids and set(pred["subject"].values) == {"b"}
    assert model.score(src, tgt) > 0.99
    with pytest.raises(AlignmentError):
        model.fit(src, tgt.isel(stimulus=slice(0, 90)))  # a different id set is an error, not a silent subset


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(1)
    f = xr.DataArray(rng.standard_normal((300, 16)), dims=("stimulus", "feature"),
                     coords={"stimulus_id": ("stimulus", [f"img{k:03d}" for k in range(300)])})
    return simulate_subjects(f, n_subjects=3, n_voxels=[120, 150, 100], n_components=6, snr=2.0, shared=0.5,
                             random_state=0)


def _recovery(model, sim, train):
    """Correlations with the planted latent: on the training stimuli and on one subject's unique stimuli, through
    the least-squares map from the recovered shared space to the truth fitted on the training stimuli."""
    latent = sim.shared_latent.set_index(stimulus="stimulus_id")
    S = np.c_[model.shared_response_.values, np.ones(len(train))]
    B, *_ = np.linalg.lstsq(S, latent.sel(stimulus=train).values, rcond=None)
    table = sim.subjects.stimulus_table()
    unique = table.index[table["subj03"] & (table.sum(axis=1) == 1)].tolist()
    held = model.transform(sim.subjects.select(stimulus_id=unique)["subj03"]).values
    pred = np.c_[held, np.ones(len(unique))] @ B
    truth = latent.sel(stimulus=unique).values
    r_train = [np.corrcoef((S @ B)[:, j], latent.sel(stimulus=train).values[:, j])[0, 1] for j in range(6)]
    r_held = [np.corrcoef(pred[:, j], truth[:, j])[0, 1] for j in range(6)]
    return np.array(r_train), np.array(r_held)


def test_srm_recovers_the_planted_shared_latent_and_maps(sim):
    train = sim.shared_stimuli
    model = SharedResponseModel(n_components=6, n_iter=30).fit(sim.subjects)  # fits on the shared stimuli alone
    assert model.shared_response_["stimulus_id"].values.tolist() == sim.subjects.shared_stimuli()
    assert np.all(np.diff(model.objective_) <= 1e-8 * model.objective_[0])
    r_train, r_held = _recovery(model, sim, train)
    assert r_train.min() > 0.9 and r_held.min() > 0.8
    for s in sim.subjects:  # each basis spans the planted map's voxel pattern, up to rotation
        cos = np.cos(subspace_angles(model.basis_[s].values, sim.maps[s].values.T))
        assert np.median(cos) > 0.95 and cos.min() > 0.6
        assert model.basis_[s]["roi"].values.tolist() == sim.subjects[s]["roi"].values.tolist()

    # control: subjects whose stimulus labels are shuffled share no latent response
    shuffled = {}
    for k, (s, r) in enumerate(sim.subjects.items()):
        perm = np.random.default_rng(k).permutation(r.sizes["stimulus"])
        shuffled[s] = r.assign_coords(stimulus_id=("stimulus", r["stimulus_id"].values[perm]))
    control = SharedResponseModel(n_components=6, n_iter=30).fit(Subjects(shuffled))
    c_train, _ = _recovery(control, sim, control.shared_response_["stimulus_id"].values.tolist())
    assert np.median(c_train) < 0.6 < r_train.min()


def _brainiak_detsrm():
    try:  # brainiak imports mpi4py, which needs an MPI library at import time (the mpich wheel provides one)
        from brainiak.funcalign.srm import DetSRM
    except Exception as err:  # noqa: BLE001 - ImportError, or mpi4py's RuntimeError without libmpi
        pytest.skip(f"brainiak's DetSRM is not importable here: {err}")
    return DetSRM


def test_srm_equals_brainiaks_deterministic_srm(sim):
    """Same optimum as brainiak's DetSRM on the same centred data: the bases differ by the rotation their random
    starts leave free, so the comparison is on what is identifiable, each subject's reconstruction S W_iᵀ."""
    DetSRM = _brainiak_detsrm()
    shared = sim.subjects.select(stimulus_id=sim.shared_stimuli)
    centred = [shared[s].values.astype(np.float64) - shared[s].values.mean(0) for s in shared]
    ref = DetSRM(n_iter=30, features=6, rand_seed=0).fit([c.T for c in centred])
    ours = SharedResponseModel(n_components=6, n_iter=30).fit(shared)
    for k, s in enumerate(shared):
        rec_ref = (ref.w_[k] @ ref.s_).T
        rec_ours = ours.shared_response_.values @ ours.basis_[s].values.T
        np.testing.assert_allclose(rec_ours, rec_ref, atol=1e-4 * np.abs(rec_ref).max())
    objective_ref = sum(np.sum((c - (ref.w_[k] @ ref.s_).T) ** 2) for k, c in enumerate(centred))
    assert ours.objective_[-1] == pytest.approx(objective_ref, rel=1e-9)


@pytest.mark.parametrize("model", [RidgeAlignment(), ProcrustesAlignment(), SharedResponseModel(n_components=6)],
                         ids=["ridge", "procrustes", "srm"])
def test_cross_subject_prediction_beats_a_shuffled_stimulus_control(sim, model):
    test = sim.shared_stimuli[100:]
    truth = sim.subjects["subj02"].set_index(stimulus="stimulus_id").sel(stimulus=test).values

    def median_r(subjects):
        pred = predict_subject(subjects, "subj01", "subj02", test, model=model)
        assert pred["stimulus_id"].values.tolist() == test and pred.sizes["voxel"] == 150
        assert pred.attrs["model"] == type(model).__name__ and not hasattr(model, "n_target_voxels_")
        return np.median([np.corrcoef(pred.values[:, v], truth[:, v])[0, 1] for v in range(truth.shape[1])])

    real = median_r(sim.subjects)
    src = sim.subjects["subj01"]
    perm = np.random.default_rng(0).permutation(src.sizes["stimulus"])
    shuffled = dict(sim.subjects.items(), subj01=src.assign_coords(stimulus_id=("stimulus",
                                                                               src["stimulus_id"].values[perm])))
    control = median_r(Subjects(shuffled))
    assert real > 0.4 and abs(control) < 0.15


def test_prediction_reaches_stimuli_the_target_never_saw(sim):
    table = sim.subjects.stimulus_table()
    only_source = table.index[table["subj01"] & ~table["subj02"]].tolist()[:10]
    pred = predict_subject(sim.subjects, "subj01", "subj02", only_source, model=SharedResponseModel(n_components=6))
    latent = sim.shared_latent.set_index(stimulus="stimulus_id").sel(stimulus=only_source).values
    signal = latent @ sim.maps["subj02"].values  # the target's planted noise-free response to them
    r = [np.corrcoef(pred.values[:, v], signal[:, v])[0, 1] for v in range(signal.shape[1])]
    assert np.median(r) > 0.6


def test_adapting_a_new_subject_fits_its_basis_alone_and_predicts_it(sim):
    """Fit on subj01-02, then adapt subj03 from 30 shared stimuli: only its basis is added, it spans subj03's
    planted map, and subj01's responses to stimuli only subj01 saw predict subj03's planted signal to them;
    the same 30 stimuli with shuffled labels predict nothing."""
    import copy

    shared = sim.shared_stimuli
    base = SharedResponseModel(n_components=6).fit(sim.subjects.select(stimulus_id=shared,
                                                                       subject=["subj01", "subj02"]))
    table = sim.subjects.stimulus_table()
    unique = table.index[table["subj01"] & (table.sum(axis=1) == 1)].tolist()
    signal = (sim.shared_latent.set_index(stimulus="stimulus_id").sel(stimulus=unique).values
              @ sim.maps["subj03"].values)
    source = sim.subjects.select(stimulus_id=unique)["subj01"]
    new = sim.subjects.select(stimulus_id=shared[:30])["subj03"]

    def adapted(responses):
        model = copy.deepcopy(base).adapt(responses)
        pred = model.inverse_transform(model.transform(source), subject="subj03").values
        return model, np.median([np.corrcoef(pred[:, v], signal[:, v])[0, 1] for v in range(signal.shape[1])])

    model, real = adapted(new)
    assert model.subjects_ == ["subj01", "subj02", "subj03"]
    xr.testing.assert_identical(model.shared_response_, base.shared_response_)  # the shared part is frozen
    assert all(model.basis_[s].identical(base.basis_[s]) for s in ("subj01", "subj02"))
    cos = np.cos(subspace_angles(model.basis_["subj03"].values, sim.maps["subj03"].values.T))
    assert np.median(cos) > 0.9
    perm = np.random.default_rng(0).permutation(30)
    _, control = adapted(new.assign_coords(stimulus_id=("stimulus", new["stimulus_id"].values[perm])))
    assert real > 0.6 and control < 0.3, (real, control)
    with pytest.raises(InputError, match="already fitted"):
        model.adapt(new)
    with pytest.raises(InputError, match="expected at least n_components=6"):
        copy.deepcopy(base).adapt(new.isel(stimulus=slice(0, 4)))


def test_repeats_are_averaged_before_aligning(sim):
    from neuroperception.data import average_repeats, stack_repeats

    shared = sim.subjects.select(stimulus_id=sim.shared_stimuli)
    rng = np.random.default_rng(2)
    trials = {}
    for s, r in shared.items():  # every stimulus shown twice, in one trial order; the second showing of one is lost
        ids = r["stimulus_id"].values.tolist() * 2
        values = np.concatenate([r.values + rng.normal(size=r.shape), r.values + rng.normal(size=r.shape)])
        trials[s] = stack_repeats(values[:-1], ids[:-1], roi=r["roi"].values, subject=s)
    with_repeats = SharedResponseModel(n_components=6).fit(trials)
    averaged = SharedResponseModel(n_components=6).fit({s: average_repeats(r) for s, r in trials.items()})
    np.testing.assert_allclose(with_repeats.shared_response_.values, averaged.shared_response_.values)
    assert np.isnan(trials["subj01"].values).any()


# ------------------------------------------------------------------------------ clear errors
def test_clear_errors(sim):
    a = make_responses(np.random.default_rng(0).normal(size=(5, 4)), list("abcde"))
    b = make_responses(np.random.default_rng(1).normal(size=(5, 4)), list("vwxyz"))
    with pytest.raises(AlignmentError):
        SharedResponseModel(n_components=2).fit({"s1": a, "s2": b})  # no shared stimuli
    with pytest.raises(AlignmentError):
        ProcrustesAlignment().fit(a, b)
    with pytest.raises(InputError, match="fewer voxels than n_components=6"):
        c = make_responses(np.random.default_rng(2).normal(size=(10, 4)), list("abcdefghij"))
        SharedResponseModel(n_components=6).fit({"s1": c, "s2": c})
    with pytest.raises(InputError, match="expected at least n_components=8"):
        SharedResponseModel(n_components=8).fit({"s1": make_responses(np.eye(3, 9), list("abc")),
                                                 "s2": make_responses(np.eye(3, 9), list("cab"))})
    fitted = ProcrustesAlignment().fit(a, a)
    with pytest.raises(ShapeError, match="expected the 4 voxels"):
        fitted.predict(np.zeros((2, 5)))
    with pytest.raises(InputError, match="unfitted"):
        RidgeAlignment().predict(np.zeros((2, 5)))
    with pytest.raises(InputError, match="expected positive penalties"):
        RidgeAlignment(alphas=[-1.0]).fit(a, a)
    with pytest.raises(InputError, match="expected True or False"):
        ProcrustesAlignment(scaling="yes").fit(a, a)
    with pytest.raises(InputError, match="expected two different subjects"):
        predict_subject(sim.subjects, "subj01", "subj01", sim.shared_stimuli[:3])
    with pytest.raises(InputError, match="not seen by the source 'subj01'"):
        predict_subject(sim.subjects, "subj01", "subj02", ["nope"])
    with pytest.raises(InputError, match="expected one of the subjects"):
        predict_subject(sim.subjects, "subj01", "subj07", sim.shared_stimuli[:3])
    with pytest.raises(InputError, match="expected ProcrustesAlignment, RidgeAlignment or SharedResponseModel"):
        predict_subject(sim.subjects, "subj01", "subj02", sim.shared_stimuli[:3], model="ridge")
    srm = SharedResponseModel(n_components=6).fit(sim.subjects)
    with pytest.raises(InputError, match="expected one of the fitted subjects"):
        srm.transform(np.zeros((2, 120)))
    with pytest.raises(ShapeError, match="expected the 150 voxels"):
        srm.transform(np.zeros((2, 120)), subject="subj02")
