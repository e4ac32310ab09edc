"""BandedRidgeCV against himalaya's GroupRidgeCV, planted band structure, invariants and bad inputs."""

import numpy as np
import pytest
import xarray as xr
from sklearn.base import clone
from sklearn.model_selection import KFold

from neuroperception.encoding import BandedRidgeCV, RidgeCV, dirichlet_candidates
from neuroperception.errors import AlignmentError, InputError, ShapeError

ALPHAS = np.logspace(-2, 4, 13)


def make_bands(n=150, seed=0, noise=2.0, v=40):
    """Three bands: A and B carry signal (B's strength grows over voxels), C is pure noise."""
    rng = np.random.default_rng(seed)
    A, B, C = rng.normal(size=(n, 6)), rng.normal(size=(n, 8)), rng.normal(size=(n, 4))
    Y = 0.5 * A @ rng.normal(size=(6, v)) + B @ (rng.normal(size=(8, v)) * np.linspace(0, 1, v))
    Y += noise * rng.normal(size=(n, v))
    return [A, B, C], Y


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_matches_himalaya_group_ridge(fit_intercept):
    from himalaya.backend import set_backend
    from himalaya.ridge import GroupRidgeCV
    from himalaya.scoring import l2_neg_loss, r2_score_split

    set_backend("numpy")
    Xs, Y = make_bands()
    if fit_intercept:
        Y = Y + 3.0
    else:  # himalaya's split scores need centred data
        Xs, Y = [x - x.mean(0) for x in Xs], Y - Y.mean(0)
    cand = dirichlet_candidates(15, 3, random_state=1)
    ref = GroupRidgeCV(groups="input", fit_intercept=fit_intercept, cv=KFold(5),
                       solver_params=dict(n_iter=cand, alphas=ALPHAS, score_func=l2_neg_loss,
                                          progress_bar=False)).fit(Xs, Y)
    ours = BandedRidgeCV(alphas=ALPHAS, n_iter=cand, n_refine=0, cv=5, fit_intercept=fit_intercept,
                         dtype="float64").fit(Xs, Y)
    np.testing.assert_allclose(np.log(ours.band_weights_ / ours.global_alphas_), ref.deltas_, atol=1e-10)
    np.testing.assert_allclose(ours.best_alphas_, np.exp(-ref.deltas_), rtol=1e-10)
    np.testing.assert_allclose(ours.coef_.T, ref.coef_, atol=1e-10)
    np.testing.assert_allclose(ours.cv_scores_, ref.cv_scores_, rtol=1e-8)
    if fit_intercept:
        np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-10)
    else:
        split = r2_score_split(Y, ref.predict(Xs, split=True))
        np.testing.assert_allclose(ours.split_scores(Xs, Y).values, split, atol=1e-10)


def test_irrelevant_band_gets_no_share():
    Xs, Y = make_bands(n=400, noise=1.0)
    train, test = slice(0, 300), slice(300, 400)
    model = BandedRidgeCV(alphas=ALPHAS, n_iter=20, random_state=0).fit([x[train] for x in Xs], Y[train])
    shares = model.split_scores([x[test] for x in Xs], Y[test])
    assert shares.dims == ("band", "voxel") and shares["band"].values.tolist() == ["band0", "band1", "band2"]
    assert np.abs(shares.sel(band="band2").values).max() < 0.02
    assert shares.sel(band="band0").values.mean() > 0.1 and shares.sel(band="band1").values[-10:].mean() > 0.3
    # the noise band is penalised far more than the signal bands
    assert np.median(model.best_alphas_[2] / model.best_alphas_[1]) > 10
    # the shares sum to the R^2 of the (mean-matched) joint prediction
    pred = model.predict([x[test] for x in Xs])
    yc, pc = Y[test] - Y[test].mean(0), pred - pred.mean(0)
    np.testing.assert_allclose(shares.sum("band").values, 1 - ((yc - pc) ** 2).sum(0) / (yc**2).sum(0), atol=1e-5)


def test_same_seed_same_result_and_refinement_only_improves():
    Xs, Y = make_bands(v=20)
    a = BandedRidgeCV(alphas=ALPHAS, n_iter=8, n_refine=4, random_state=3).fit(Xs, Y)
    b = BandedRidgeCV(alphas=ALPHAS, n_iter=8, n_refine=4, random_state=3).fit(Xs, Y)
    c = BandedRidgeCV(alphas=ALPHAS, n_iter=8, n_refine=4, random_state=4).fit(Xs, Y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.best_alphas_, b.best_alphas_)
    assert not np.array_equal(a.candidates_, c.candidates_)
    # the chosen point is at least as good as every random candidate
    assert (a.best_cv_scores_ >= np.nanmax(a.cv_scores_, axis=0) - 1e-12).all()
    no_refine = BandedRidgeCV(alphas=ALPHAS, n_iter=8, n_refine=0, random_state=3).fit(Xs, Y)
    np.testing.assert_allclose(no_refine.best_cv_scores_, np.nanmax(a.cv_scores_, axis=0), rtol=1e-6)


def test_one_band_equals_ridge_cv_and_kernel_equals_primal():
    Xs, Y = make_bands(v=15)
    banded = BandedRidgeCV(alphas=ALPHAS, dtype="float64").fit(Xs[:1], Y)
    ridge = RidgeCV(alphas=ALPHAS, dtype="float64").fit(Xs[0], Y)
    np.testing.assert_allclose(banded.coef_, ridge.coef_, atol=1e-10)
    np.testing.assert_array_equal(banded.best_alphas_[0], ridge.best_alphas_)
    Xs, Y = make_bands(n=50, v=10)
    primal = BandedRidgeCV(alphas=ALPHAS, n_iter=5, solver="primal", dtype="float64").fit(Xs, Y)
    kernel = BandedRidgeCV(alphas=ALPHAS, n_iter=5, solver="kernel", dtype="float64").fit(Xs, Y)
    np.testing.assert_allclose(primal.best_cv_scores_, kernel.best_cv_scores_, rtol=1e-9)
    # near-ties between candidates that switch a useless band off may go either way
    assert np.isclose(primal.best_alphas_, kernel.best_alphas_, rtol=1e-9).all(0).mean() >= 0.9
    np.testing.assert_allclose(primal.predict(Xs), kernel.predict(Xs), atol=1e-6)


def test_sklearn_api_and_labels():
    Xs, Y = make_bands(n=60, v=6)
    model = BandedRidgeCV(n_iter=4, n_refine=1, cv=3)
    assert clone(model).get_params() == model.get_params()
    assert model.fit(Xs, Y) is model
    assert model.coef_.shape == (6, 18) and model.intercept_.shape == (6,)
    assert model.predict(Xs, split=True).sum(0).shape == (60, 6)
    np.testing.assert_allclose(model.predict(Xs, split=True).sum(0) + model.intercept_, model.predict(Xs), rtol=1e-5)
    r2 = model.voxel_scores(Xs, Y, metric="r2")
    assert model.score(Xs, Y) == pytest.approx(float(np.mean(r2)))

    ids = [f"s{i}" for i in range(60)]
    bands = {k: xr.DataArray(x, dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", ids)})
             for k, x in zip("abc", Xs)}
    perm = np.random.default_rng(0).permutation(60)
    Yl = xr.DataArray(Y[perm], dims=("stimulus", "voxel"),
                      coords={"stimulus_id": ("stimulus", np.asarray(ids)[perm]), "roi": ("voxel", ["V1"] * 6)})
    labelled = clone(model).fit(bands, Yl)  # Y is reordered to the bands by id
    np.testing.assert_allclose(labelled.coef_, model.coef_, rtol=1e-4, atol=1e-6)
    pred = labelled.predict(bands)
    assert pred.dims == ("stimulus", "voxel") and pred["roi"].values.tolist() == ["V1"] * 6
    assert labelled.split_scores(bands, Yl)["band"].values.tolist() == ["a", "b", "c"]


def test_bad_inputs():
    Xs, Y = make_bands(n=40, v=3)
    with pytest.raises(InputError, match="list or dict of feature spaces"):
        BandedRidgeCV().fit(Xs[0], Y)
    with pytest.raises(InputError, match="n_iter"):
        BandedRidgeCV(n_iter=np.ones((3, 2))).fit(Xs, Y)
    with pytest.raises(InputError, match="alphas"):
        BandedRidgeCV(alphas=[-1.0, 1.0]).fit(Xs, Y)
    with pytest.raises(InputError, match="NaN"):
        BandedRidgeCV().fit([Xs[0], np.full_like(Xs[1], np.nan)], Y)
    with pytest.raises(AlignmentError, match="equal numbers of stimuli"):
        BandedRidgeCV().fit([Xs[0], Xs[1][:30]], Y)
    with pytest.raises(AlignmentError):
        BandedRidgeCV().fit(Xs, Y[:30])
    model = BandedRidgeCV(n_iter=2, n_refine=0).fit(Xs, Y)
    with pytest.raises(ShapeError, match="received 2 bands; expected 3"):
        model.predict(Xs[:2])
    with pytest.raises(ShapeError, match="expected 8 features"):
        model.predict([Xs[0], Xs[1][:, :5], Xs[2]])
