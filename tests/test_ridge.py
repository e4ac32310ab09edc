"""RidgeCV against himalaya and scikit-learn, its own invariants, labelled data and bad inputs."""

import numpy as np
import pytest
import xarray as xr
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, ShuffleSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuroperception.encoding import RidgeCV
from neuroperception.errors import AlignmentError, InputError, ShapeError

ALPHAS = np.logspace(-2, 6, 17)


def make_data(n=120, p=20, v=200, seed=0, density=0.3, noise=1.0):
    """Random X, sparse weights, per-voxel signal strength from zero to strong, a baseline."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    W = rng.normal(size=(p, v)) * (rng.random((p, v)) < density)
    W *= np.linspace(0.0, 1.0, v)
    Y = X @ W + noise * rng.normal(size=(n, v)) + 3.0
    return X, Y, W


@pytest.fixture(scope="module")
def himalaya_fit():
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    from himalaya.scoring import l2_neg_loss

    set_backend("numpy")
    X, Y, _ = make_data()
    ref = HimalayaRidgeCV(alphas=ALPHAS, cv=KFold(5), fit_intercept=True,
                          solver_params=dict(score_func=l2_neg_loss)).fit(X, Y)
    return X, Y, ref


@pytest.mark.parametrize("search", ["coarse_to_fine", "exhaustive"])
def test_matches_himalaya(himalaya_fit, search):
    X, Y, ref = himalaya_fit
    ours = RidgeCV(alphas=ALPHAS, cv=5, dtype="float64", search=search).fit(X, Y)
    same = np.isclose(ours.best_alphas_, ref.best_alphas_, rtol=1e-6)
    assert same.mean() >= 0.995
    Xt = np.random.default_rng(5).normal(size=(30, X.shape[1]))
    pred_ref = Xt @ ref.coef_ + ref.intercept_
    pred = ours.predict(Xt)
    assert np.abs(pred - pred_ref)[:, same].max() <= 1e-4 * np.abs(pred_ref).max()
    best = np.searchsorted(ALPHAS, ours.best_alphas_)
    cv_best = ours.cv_scores_[best, np.arange(Y.shape[1])]
    np.testing.assert_allclose(cv_best[same], ref.cv_scores_[same], rtol=1e-4)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_single_alpha_equals_sklearn_ridge(fit_intercept):
    X, Y, _ = make_data(n=60, p=8, v=5)
    ours = RidgeCV(alphas=[3.0], cv=3, fit_intercept=fit_intercept, dtype="float64").fit(X, Y)
    ref = Ridge(alpha=3.0, fit_intercept=fit_intercept).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_ if fit_intercept else 0.0, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-9)


@pytest.mark.parametrize("score_func,scoring", [("neg_mse", "neg_mean_squared_error"), ("r2", "r2")])
@pytest.mark.parametrize("cv", [KFold(4), ShuffleSplit(3, test_size=0.3, random_state=0)])
def test_cv_scores_equal_sklearn_cross_val_score(score_func, scoring, cv):
    X, Y, _ = make_data(n=50, p=6, v=2, seed=3)
    alphas = [0.1, 10.0, 1000.0]
    ours = RidgeCV(alphas=alphas, cv=cv, score_func=score_func, dtype="float64", search="exhaustive").fit(X, Y)
    for j in range(Y.shape[1]):
        for a, alpha in enumerate(alphas):
            ref = cross_val_score(Ridge(alpha=alpha), X, Y[:, j], cv=cv, scoring=scoring).mean()
            assert ours.cv_scores_[a, j] == pytest.approx(ref, rel=1e-8)


def test_primal_equals_kernel():
    for n, p in ((40, 60), (80, 10)):
        X, Y, _ = make_data(n=n, p=p, v=30, seed=1)
        primal = RidgeCV(alphas=ALPHAS, solver="primal", dtype="float64", search="exhaustive").fit(X, Y)
        kernel = RidgeCV(alphas=ALPHAS, solver="kernel", dtype="float64", search="exhaustive").fit(X, Y)
        np.testing.assert_allclose(primal.cv_scores_, kernel.cv_scores_, rtol=1e-7)
        np.testing.assert_array_equal(primal.best_alphas_, kernel.best_alphas_)
        np.testing.assert_allclose(primal.coef_, kernel.coef_, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(primal.intercept_, kernel.intercept_, rtol=1e-6, atol=1e-10)
    assert RidgeCV(alphas=[1.0]).fit(X[:20].T[:, :20], Y[:10, :3]).solver_ == "kernel"


def test_numpy_equals_torch_backend():
    X, Y, _ = make_data(n=70, p=15, v=40, seed=2)
    a = RidgeCV(alphas=ALPHAS, backend="numpy", dtype="float64").fit(X, Y)
    b = RidgeCV(alphas=ALPHAS, backend="torch", device="cpu", dtype="float64").fit(X, Y)
    np.testing.assert_array_equal(a.best_alphas_, b.best_alphas_)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(a.cv_scores_, b.cv_scores_, rtol=1e-8)
    c = RidgeCV(alphas=ALPHAS, backend="torch", solver="kernel", dtype="float32").fit(X, Y)
    assert c.coef_.dtype == np.float32
    np.testing.assert_allclose(c.coef_, a.coef_, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coarse_to_fine_choices_equal_exhaustive(seed):
    X, Y, _ = make_data(n=150, p=40, v=400, seed=seed, noise=2.0)
    fast = RidgeCV(alphas=ALPHAS, dtype="float64").fit(X, Y)
    full = RidgeCV(alphas=ALPHAS, dtype="float64", search="exhaustive").fit(X, Y)
    np.testing.assert_array_equal(fast.best_alphas_, full.best_alphas_)
    np.testing.assert_array_equal(fast.coef_, full.coef_)
    assert fast.n_alpha_evaluations_ < 0.65 * full.n_alpha_evaluations_
    evaluated = np.isfinite(fast.cv_scores_)
    np.testing.assert_allclose(fast.cv_scores_[evaluated], full.cv_scores_[evaluated], rtol=1e-10)


def test_coarse_to_fine_falls_back_on_non_unimodal_curves():
    from neuroperception.encoding._search import select_alphas

    a = np.arange(17)[:, None]
    # 2nd curve: its best alpha (5) lies between coarse grid points (0, 4, 8, 12, 16), and a dip at 8 makes
    # the coarse curve non-unimodal, so that target must be evaluated on the whole grid
    curve = np.hstack([-(a - 3.0) ** 2, np.where(a == 5, 10.0, -np.abs(a - 12.0))])
    curve[8, 1] = -20.0
    scores = select_alphas(lambda k, cols: curve[k] if cols is None else curve[k, cols], 17, 2)
    np.testing.assert_array_equal(scores.argmax(0), curve.argmax(0))
    assert np.isfinite(scores[:, 1]).all() and not np.isfinite(scores[:, 0]).all()


def test_planted_weights_recovered():
    rng = np.random.default_rng(4)
    n, p, v = 400, 30, 12
    X = rng.normal(size=(n, p))
    W = rng.normal(size=(p, v)) * (rng.random((p, v)) < 0.3)
    W[0] = 1.0  # no voxel without signal
    Y = X @ W + 0.1 * rng.normal(size=(n, v))
    model = RidgeCV(dtype="float64").fit(X, Y)
    corr = [np.corrcoef(model.coef_[j], W[:, j])[0, 1] for j in range(v)]
    assert min(corr) >= 0.95


def test_voxel_chunk_and_alpha_order_do_not_change_results():
    X, Y, _ = make_data(n=60, p=10, v=50, seed=6)
    ref = RidgeCV(alphas=ALPHAS, dtype="float64").fit(X, Y)
    chunked = RidgeCV(alphas=ALPHAS, dtype="float64", voxel_chunk=7).fit(X, Y)
    shuffled = RidgeCV(alphas=ALPHAS[::-1], dtype="float64").fit(X, Y)
    np.testing.assert_array_equal(chunked.best_alphas_, ref.best_alphas_)
    np.testing.assert_allclose(chunked.coef_, ref.coef_, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(shuffled.best_alphas_, ref.best_alphas_)
    np.testing.assert_allclose(shuffled.cv_scores_[::-1], ref.cv_scores_, rtol=1e-10)


def test_shared_alpha_is_best_on_average():
    X, Y, _ = make_data(n=80, p=10, v=20, seed=7)
    model = RidgeCV(alphas=ALPHAS, alpha_per_target=False, dtype="float64").fit(X, Y)
    assert np.unique(model.best_alphas_).size == 1
    assert model.best_alphas_[0] == ALPHAS[np.argmax(model.cv_scores_.mean(1))]
    ref = Ridge(alpha=model.best_alphas_[0]).fit(X, Y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-8, atol=1e-12)


def test_sklearn_api_clone_pipeline_gridsearch():
    X, Y, _ = make_data(n=60, p=8, v=4, seed=8)
    model = RidgeCV(alphas=[0.1, 1.0, 10.0], cv=3, dtype="float64")
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    pipe = make_pipeline(StandardScaler(), model).fit(X, Y)
    assert pipe.predict(X).shape == Y.shape
    search = GridSearchCV(RidgeCV(alphas=[0.1, 1.0], dtype="float64"), {"fit_intercept": [True, False]}, cv=3)
    search.fit(X, Y)
    assert search.best_params_ == {"fit_intercept": True}  # the data have a baseline of 3


def test_passes_sklearn_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(RidgeCV(), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert not failed


def _labelled(X, Y, order=None):
    ids = [f"img{i:03d}" for i in range(X.shape[0])]
    Xda = xr.DataArray(X, dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", ids)})
    order = np.arange(Y.shape[0]) if order is None else order
    Yda = xr.DataArray(Y[order], dims=("stimulus", "voxel"),
                       coords={"stimulus_id": ("stimulus", [ids[i] for i in order]),
                               "roi": ("voxel", np.where(np.arange(Y.shape[1]) % 2, "V1", "V4")),
                               "x": ("voxel", np.arange(Y.shape[1], dtype=float))})
    return Xda, Yda


def test_xarray_round_trip_aligns_by_stimulus_id():
    X, Y, _ = make_data(n=50, p=6, v=8, seed=9)
    perm = np.random.default_rng(0).permutation(50)
    Xda, Yda = _labelled(X, Y, order=perm)
    labelled = RidgeCV(alphas=ALPHAS, dtype="float64").fit(Xda, Yda)
    plain = RidgeCV(alphas=ALPHAS, dtype="float64").fit(X, Y)
    np.testing.assert_allclose(labelled.coef_, plain.coef_, rtol=1e-10)
    pred = labelled.predict(Xda.isel(stimulus=slice(0, 5)))
    assert pred.dims == ("stimulus", "voxel")
    assert pred["stimulus_id"].values.tolist() == Xda["stimulus_id"].values[:5].tolist()
    assert pred["roi"].values.tolist() == Yda["roi"].values.tolist()
    np.testing.assert_allclose(pred.values, plain.predict(X[:5]), rtol=1e-10)
    scores = labelled.voxel_scores(Xda, Yda, metric="r2")
    assert scores.dims == ("voxel",) and scores["roi"].values.tolist() == Yda["roi"].values.tolist()
    np.testing.assert_allclose(scores.values, plain.voxel_scores(X, Y, metric="r2"), rtol=1e-10)
    bad = Yda.assign_coords(stimulus_id=("stimulus", [f"other{i}" for i in range(50)]))
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        RidgeCV().fit(Xda, bad)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_lazily_loaded_targets_are_read_in_chunks(tmp_path, suffix):
    from neuroperception.data.responses import save_responses

    X, Y, _ = make_data(n=40, p=5, v=30, seed=10)
    Xda, Yda = _labelled(X, Y)
    path = save_responses(Yda.rename("responses"), tmp_path / f"r{suffix}")
    if suffix == ".nc":
        lazy = xr.open_dataset(path, engine="h5netcdf")["responses"]
    else:
        lazy = xr.open_zarr(path, chunks=None)["responses"]
    assert not isinstance(lazy.variable._data, np.ndarray)  # not loaded
    model = RidgeCV(alphas=ALPHAS, dtype="float64", voxel_chunk=8).fit(Xda, lazy)
    ref = RidgeCV(alphas=ALPHAS, dtype="float64").fit(X, Y)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-10)
    lazy.close()


@pytest.mark.parametrize("make_bad,error,match", [
    (lambda X, Y: (np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), Y), InputError, "NaN/Inf"),
    (lambda X, Y: (X, np.where(np.arange(Y.size).reshape(Y.shape) == 5, np.inf, Y)), InputError, "NaN/Inf"),
    (lambda X, Y: (X[:-1], Y), AlignmentError, "'X': 29, 'y': 30"),
    (lambda X, Y: (X, Y[:, 0]), ShapeError, r"for one target use y\[:, None\]"),
    (lambda X, Y: (X[:, 0], Y), ShapeError, r"expected 2 dimensions \(stimulus, feature\)"),
])
def test_bad_data_raise_clear_errors(make_bad, error, match):
    X, Y, _ = make_data(n=30, p=4, v=3)
    X, Y = make_bad(X, Y)
    with pytest.raises(error, match=match):
        RidgeCV().fit(X, Y)


@pytest.mark.parametrize("params,match", [
    ({"alphas": [1.0, 0.0]}, "expected finite values > 0"),
    ({"alphas": [-1.0]}, "expected finite values > 0"),
    ({"alphas": []}, "non-empty"),
    ({"cv": 31}, "31 folds for 30 samples"),
    ({"cv": 1}, "at least 2 folds"),
    ({"solver": "svd"}, "solver: received 'svd'"),
    ({"score_func": "mae"}, "score_func: received 'mae'"),
    ({"backend": "jax"}, "backend: received 'jax'"),
    ({"dtype": "float16"}, "dtype: received 'float16'"),
])
def test_bad_parameters_raise_clear_errors(params, match):
    X, Y, _ = make_data(n=30, p=4, v=3)
    with pytest.raises(InputError, match=match):
        RidgeCV(**params).fit(X, Y)


def test_predict_checks_features():
    X, Y, _ = make_data(n=30, p=4, v=3)
    model = RidgeCV().fit(X, Y)
    with pytest.raises(ShapeError, match="X has 3 features, but RidgeCV is expecting 4"):
        model.predict(X[:, :3])
