"""The one alignment rule, end to end: every entry point that pairs inputs of the same stimuli matches them
by ``stimulus_id`` when both carry ids, refuses ids on one side only, and matches by position otherwise.

The planted data fit almost perfectly in the right order, so a silent match by position of shuffled
responses (the bug this guards against: R^2 near 0 without an error) cannot pass unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroperception.data import make_responses
from neuroperception.decoding import ContrastiveDecoder, FlowDecoder, RidgeDecoder
from neuroperception.decoding import retrieval_accuracy, two_way_identification
from neuroperception.encoding import BandedRidgeCV, FactorizedReadout, RidgeCV, fit_encoding_model
from neuroperception.errors import AlignmentError
from neuroperception.similarity import compare_rdms, compute_rdm

N = 60
IDS = [f"s{i:02d}" for i in range(N)]
PERM = np.random.default_rng(1).permutation(N)


def _features(values, dim="feature"):
    return xr.DataArray(values, dims=("stimulus", dim), coords={"stimulus_id": ("stimulus", IDS)})


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 6))
    y = x @ rng.normal(size=(6, 5)) + 0.05 * rng.normal(size=(N, 5))
    return _features(x), make_responses(y, IDS, roi="V1")


def _one_side_error(call, missing: str, labelled: str):
    with pytest.raises(AlignmentError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(f"{missing}: received") and f"without stimulus_id while {labelled} carries" in msg
    assert "never by position" in msg and f'{labelled}.drop_vars("stimulus_id")' in msg


# ------------------------------------------------------------------------------------------ encoding
@pytest.mark.parametrize("make", [lambda: RidgeCV(alphas=[0.1, 10.0], dtype="float64"),
                                  lambda: BandedRidgeCV(alphas=[0.1, 10.0], n_iter=3, n_refine=0, dtype="float64")],
                         ids=["RidgeCV", "BandedRidgeCV"])
def test_ridge_estimators(planted, make):
    X, Y = planted
    as_x = (lambda d: d) if isinstance(make(), RidgeCV) else (lambda d: [d[:, :3], d[:, 3:]])
    aligned = make().fit(as_x(X), Y)
    assert aligned.score(as_x(X), Y) > 0.95
    shuffled = make().fit(as_x(X), Y.isel(stimulus=PERM))
    np.testing.assert_allclose(shuffled.coef_, aligned.coef_, rtol=1e-10, atol=1e-12)
    assert shuffled.score(as_x(X), Y.isel(stimulus=PERM)) == pytest.approx(aligned.score(as_x(X), Y), abs=1e-12)
    _one_side_error(lambda: make().fit(as_x(X), Y.values[PERM]), "y", "X")
    _one_side_error(lambda: aligned.score(as_x(X), Y.values[PERM]), "y", "X")
    _one_side_error(lambda: aligned.voxel_scores(as_x(X), Y.values[PERM]), "y", "X")
    plain = make().fit(as_x(X.values), Y.values)  # neither labelled: by position
    np.testing.assert_allclose(plain.coef_, aligned.coef_, rtol=1e-10, atol=1e-12)


def test_banded_bands_labelled_on_some_only(planted):
    X, Y = planted
    with pytest.raises(AlignmentError, match=r"X\['band1'\]: received .* without stimulus_id while X\['band0'\]"):
        BandedRidgeCV(n_iter=2).fit([X[:, :3], X.values[PERM, 3:]], Y)


def test_fit_encoding_model(planted):
    X, Y = planted
    aligned = fit_encoding_model(X, Y)
    shuffled = fit_encoding_model(X, Y.isel(stimulus=PERM))
    np.testing.assert_allclose(shuffled["r"].values, aligned["r"].values, rtol=1e-10)
    assert float(aligned["r"].min()) > 0.9
    with pytest.raises(AlignmentError, match="responses: received .* without stimulus_id while features carries"):
        fit_encoding_model(X, Y.values[PERM])


def test_readout(planted):
    rng = np.random.default_rng(2)
    maps = xr.DataArray(rng.normal(size=(N, 2, 3, 3)), dims=("stimulus", "channel", "y", "x"),
                        coords={"stimulus_id": ("stimulus", IDS)})
    y = make_responses(maps.values[:, :1, 1, 1], IDS)
    kw = dict(max_epochs=2, validation=None, batch_size=16)
    aligned = FactorizedReadout(**kw).fit(maps, y)
    shuffled = FactorizedReadout(**kw).fit(maps, y.isel(stimulus=PERM))
    np.testing.assert_allclose(shuffled.predict(maps).values, aligned.predict(maps).values, rtol=1e-5, atol=1e-6)
    _one_side_error(lambda: FactorizedReadout(**kw).fit(maps, y.values[PERM]), "y", "X['features']")
    _one_side_error(lambda: aligned.score(maps, y.values[PERM]), "y", "X")


# ------------------------------------------------------------------------------------------ decoding
def test_ridge_decoder(planted):
    features, responses = planted  # decode the features from the responses
    dec = RidgeDecoder(alphas=[0.01, 1.0]).fit(responses, features)
    shuffled = RidgeDecoder(alphas=[0.01, 1.0]).fit(responses, features.isel(stimulus=PERM))
    np.testing.assert_allclose(shuffled.coef_, dec.coef_, rtol=1e-10, atol=1e-12)
    assert dec.score(responses, features.isel(stimulus=PERM)) == dec.score(responses, features) > 0.5  # chance 1/60
    _one_side_error(lambda: RidgeDecoder().fit(responses, features.values[PERM]), "y", "X")
    _one_side_error(lambda: dec.score(responses, features.values[PERM]), "y", "X")


def test_contrastive_decoder(planted):
    features, responses = planted
    kw = dict(hidden=(), max_epochs=3, batch_size=16, validation=None, device="cpu")
    a = ContrastiveDecoder(**kw).fit(responses, features)
    b = ContrastiveDecoder(**kw).fit(responses, features.isel(stimulus=PERM))
    np.testing.assert_allclose(b.transform(responses).values, a.transform(responses).values, rtol=1e-5, atol=1e-6)
    assert a.score(responses, features.isel(stimulus=PERM)) == a.score(responses, features)
    _one_side_error(lambda: ContrastiveDecoder(**kw).fit(responses, features.values[PERM]), "y", "X")
    _one_side_error(lambda: a.score(responses.values, features), "X", "y")


def test_flow_decoder(planted):
    _, responses = planted
    flows = xr.DataArray(responses.values[:, :2, None, None] * np.ones((N, 2, 4, 4)), dims=("stimulus", "axis", "y", "x"),
                         coords={"stimulus_id": ("stimulus", IDS)})
    dec = FlowDecoder(n_components=2, alphas=[0.01]).fit(responses, flows)
    shuffled = FlowDecoder(n_components=2, alphas=[0.01]).fit(responses, flows.isel(stimulus=PERM))
    np.testing.assert_allclose(shuffled.predict(responses).values, dec.predict(responses).values, atol=1e-5)
    assert dec.score(responses, flows.isel(stimulus=PERM)) == pytest.approx(dec.score(responses, flows))
    _one_side_error(lambda: FlowDecoder(n_components=2).fit(responses, flows.values[PERM]), "y", "X")


def test_retrieval_and_identification(planted):
    features, _ = planted
    pred = features + 0.3 * np.random.default_rng(3).normal(size=features.shape)
    for fn in (lambda p, t: retrieval_accuracy(p, t, k=1)["top-1"].tolist(),
               lambda p, t: two_way_identification(p, t)):
        assert fn(pred, features.isel(stimulus=PERM)) == fn(pred, features) == fn(pred.values, features.values)
        _one_side_error(lambda: fn(pred, features.values[PERM]), "target", "pred")
        _one_side_error(lambda: fn(pred.values[PERM], features), "pred", "target")
    assert two_way_identification(pred, features) > 0.95


def test_compare_rdms(planted):
    features, responses = planted
    a, b = compute_rdm(features), compute_rdm(responses.rename(voxel="feature"))
    value = compare_rdms(a, b)
    assert value > 0.5
    assert compare_rdms(a, b.isel(stimulus=PERM, stimulus_=PERM)) == pytest.approx(value, abs=1e-12)
    assert compare_rdms(a.values, b.values) == pytest.approx(value, abs=1e-12)
    _one_side_error(lambda: compare_rdms(a, b.values[np.ix_(PERM, PERM)]), "b", "a")
    _one_side_error(lambda: compare_rdms(a.values, b), "a", "b")
