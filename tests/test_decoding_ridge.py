"""RidgeDecoder: equal to scikit-learn's Ridge at the alpha RidgeCV chooses, labels, planted decoding."""

import numpy as np
import pytest
import xarray as xr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from neuroperception.data import make_responses
from neuroperception.decoding import retrieval_accuracy
from neuroperception.decoding import RidgeDecoder
from neuroperception.encoding import RidgeCV
from neuroperception.errors import AlignmentError, InputError, ShapeError

ALPHAS = np.logspace(-1, 4, 6)


def _planted(n=120, d=6, v=40, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, d))
    responses = features @ rng.normal(size=(d, v)) + noise * rng.normal(size=(n, v))
    return responses, features


def _labelled(responses, features, roi=None):
    ids = [f"s{i:03d}" for i in range(len(features))]
    r = make_responses(responses, ids, roi=roi)
    f = xr.DataArray(features, dims=("stimulus", "feature"),
                     coords={"stimulus_id": ("stimulus", ids), "feature": [f"f{j}" for j in range(features.shape[1])]})
    return r, f


def test_equals_sklearn_ridge_at_the_ridgecv_alpha():
    X, Y = _planted(noise=3.0)
    dec = RidgeDecoder(alphas=ALPHAS, cv=4, standardize=False, dtype="float64").fit(X, Y)
    direct = RidgeCV(alphas=ALPHAS, cv=4, alpha_per_target=False, dtype="float64").fit(X, Y)
    assert dec.best_alphas_.tolist() == direct.best_alphas_.tolist()
    assert np.unique(dec.best_alphas_).size == 1 and dec.best_alpha_ == direct.best_alphas_[0]
    ref = Ridge(alpha=dec.best_alpha_).fit(X, Y)
    np.testing.assert_allclose(dec.predict(X), ref.predict(X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dec.coef_, ref.coef_, rtol=1e-6, atol=1e-10)


def test_standardized_equals_ridge_on_zscored_voxels():
    X, Y = _planted(noise=2.0, seed=1)
    X = X * np.linspace(0.1, 10, X.shape[1])  # voxels on very different scales
    dec = RidgeDecoder(alphas=ALPHAS, cv=4, dtype="float64").fit(X[:90], Y[:90])
    scaler = StandardScaler().fit(X[:90])
    direct = RidgeCV(alphas=ALPHAS, cv=4, alpha_per_target=False, dtype="float64").fit(scaler.transform(X[:90]),
                                                                                         Y[:90])
    assert dec.best_alpha_ == direct.best_alphas_[0]
    ref = Ridge(alpha=dec.best_alpha_).fit(scaler.transform(X[:90]), Y[:90])
    np.testing.assert_allclose(dec.predict(X[90:]), ref.predict(scaler.transform(X[90:])), rtol=1e-6, atol=1e-8)


def test_alpha_per_target_matches_ridgecv():
    X, Y = _planted(noise=2.0, seed=2)
    Y = Y * [1, 1, 1, 0.01, 0.01, 0.01] + np.random.default_rng(9).normal(size=Y.shape) * [0, 0, 0, 1, 1, 1]
    dec = RidgeDecoder(alphas=ALPHAS, alpha_per_target=True, standardize=False, dtype="float64").fit(X, Y)
    direct = RidgeCV(alphas=ALPHAS, alpha_per_target=True, dtype="float64").fit(X, Y)
    assert dec.best_alphas_.tolist() == direct.best_alphas_.tolist()
    assert np.unique(dec.best_alphas_).size > 1  # noisy dims get a larger penalty
    np.testing.assert_allclose(dec.predict(X), direct.predict(X), rtol=1e-6, atol=1e-8)


def test_planted_decoding_far_above_chance_and_rising_with_snr():
    rng = np.random.default_rng(0)
    n, d, v = 160, 16, 120
    features = rng.normal(size=(n, d))
    signal = features @ rng.normal(size=(d, v))
    signal /= signal.std(0)
    noise = rng.normal(size=(n, v))
    top1 = []
    for snr in (0.1, 0.3, 1.0):
        X = signal + noise / snr
        dec = RidgeDecoder(alphas=np.logspace(0, 5, 6)).fit(X[:120], features[:120])
        top1.append(dec.score(X[120:], features[120:]))
    chance = 1 / 40
    assert top1[0] < top1[1] < top1[2]
    assert top1[2] > 20 * chance and top1[1] > 4 * chance


def test_score_is_top1_brain_to_image_retrieval():
    X, Y = _planted(noise=4.0, seed=3)
    dec = RidgeDecoder(alphas=ALPHAS).fit(X[:80], Y[:80])
    table = retrieval_accuracy(dec.predict(X[80:]), Y[80:], k=1, direction="brain_to_image")
    assert dec.score(X[80:], Y[80:]) == table.iloc[0]["top-1"]
    np.testing.assert_array_equal(dec.transform(X[80:]), dec.predict(X[80:]))


def test_labels_alignment_repeats_and_voxel_subsets():
    X, Y = _planted(seed=4)
    roi = ["V1"] * 20 + ["IT"] * 20
    r, f = _labelled(X, Y, roi=roi)
    shuffled = f.isel(stimulus=np.random.default_rng(0).permutation(len(Y)))
    dec = RidgeDecoder(alphas=ALPHAS).fit(r, shuffled)
    plain = RidgeDecoder(alphas=ALPHAS).fit(X, Y)
    np.testing.assert_allclose(dec.coef_, plain.coef_, rtol=1e-5, atol=1e-6)
    pred = dec.predict(r.isel(stimulus=slice(0, 5)))
    assert pred.dims == ("stimulus", "feature")
    assert pred["stimulus_id"].values.tolist() == [f"s{i:03d}" for i in range(5)]
    assert pred["feature"].values.tolist() == [f"f{j}" for j in range(6)]
    assert dec.rois_.tolist() == roi and dec.voxel_ids_.tolist() == list(range(40))
    assert isinstance(dec.predict(X[:3]), np.ndarray)
    # repeats are averaged (NaN-aware) before fitting
    reps = np.stack([X + 1.0, X - 1.0, np.full_like(X, np.nan)])
    reps[2, :10] = X[:10]  # a third repeat for the first 10 stimuli only: mean unchanged
    rr = make_responses(reps, [f"s{i:03d}" for i in range(len(Y))], roi=roi)
    np.testing.assert_allclose(RidgeDecoder(alphas=ALPHAS).fit(rr, f).coef_, dec.coef_, rtol=1e-5, atol=1e-6)
    # a voxel subset keeps its labels
    it = RidgeDecoder(alphas=ALPHAS).fit(r.isel(voxel=r["roi"].values == "IT"), f)
    assert it.n_voxels_in_ == 20 and set(it.rois_.tolist()) == {"IT"}


def test_clone_and_params():
    dec = RidgeDecoder(alphas=[1.0, 10.0], cv=3, standardize=False, dtype="float64")
    twin = clone(dec)
    assert twin.get_params() == dec.get_params() and twin is not dec
    with pytest.raises(NotFittedError):
        twin.predict(np.zeros((2, 3)))


def test_errors():
    X, Y = _planted(seed=5)
    r, f = _labelled(X, Y, roi=["V1"] * 40)
    dec = RidgeDecoder(alphas=ALPHAS).fit(r, f)
    with pytest.raises(ShapeError, match="expected 40 voxels as in fit"):
        dec.predict(X[:, :30])
    with pytest.raises(AlignmentError, match="roi labels that differ"):
        dec.predict(r.assign_coords(roi=("voxel", ["IT"] * 40)))
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        RidgeDecoder().fit(r, f.assign_coords(stimulus_id=("stimulus", [f"x{i}" for i in range(len(Y))])))
    with pytest.raises(AlignmentError, match="'X': 120, 'y': 100"):
        RidgeDecoder().fit(X, Y[:100])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InputError, match="NaN/Inf"):
        RidgeDecoder().fit(bad, Y)
    with pytest.raises(ShapeError, match="expected \\(stimulus, voxel\\)"):
        RidgeDecoder().fit(X[0], Y)
    with pytest.raises(InputError, match="standardize: received 'yes'"):
        RidgeDecoder(standardize="yes").fit(X, Y)
    with pytest.raises(InputError, match="alphas: received"):
        RidgeDecoder(alphas=[-1.0]).fit(X, Y)
