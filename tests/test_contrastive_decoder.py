"""ContrastiveDecoder, its loss, and the training-loop hooks it uses."""

import matplotlib
import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.base import clone

from neuroperception.data import make_responses
from neuroperception.decoding._contrastive_loss import contrastive_loss, mixco, target_matrices, top1_accuracy
from neuroperception.decoding import ContrastiveDecoder
from neuroperception.encoding._training import train
from neuroperception.errors import AlignmentError, InputError, ShapeError

matplotlib.use("Agg")

N_TRAIN, N_TEST = 240, 60
FAST = dict(hidden=(), lr=1e-2, max_epochs=40, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def planted():
    """Features Z and responses Z W + noise; noisy enough that retrieval is not perfect."""
    rng = np.random.default_rng(0)
    n, d, v = N_TRAIN + N_TEST, 16, 100
    Z = rng.normal(size=(n, d))
    X = Z @ rng.normal(size=(d, v)) + 6.0 * rng.normal(size=(n, v))
    return X, Z


@pytest.fixture(scope="module")
def fitted(planted):
    X, Z = planted
    return ContrastiveDecoder(**FAST).fit(X[:N_TRAIN], Z[:N_TRAIN])


# ------------------------------------------------------------------------------------ recovery
def test_planted_retrieval_far_above_chance_and_shuffled(planted, fitted):
    X, Z = planted
    chance = 1 / N_TEST
    top1 = fitted.score(X[N_TRAIN:], Z[N_TRAIN:])
    shuffled = ContrastiveDecoder(**FAST).fit(X[:N_TRAIN], Z[np.random.default_rng(1).permutation(N_TRAIN)])
    top1_shuffled = shuffled.score(X[N_TRAIN:], Z[N_TRAIN:])
    assert top1 > 15 * chance
    assert top1_shuffled < 5 * chance
    assert top1 > top1_shuffled + 0.2
    # the score is top-1 retrieval with cosine similarity, computed by hand here
    emb = fitted.transform(X[N_TRAIN:])
    zn = Z[N_TRAIN:] / np.linalg.norm(Z[N_TRAIN:], axis=1, keepdims=True)
    assert top1 == pytest.approx(np.mean((emb @ zn.T).argmax(1) == np.arange(N_TEST)))


def test_history_temperature_and_plot(fitted):
    hist = fitted.history_
    assert list(hist.columns) == ["train_loss", "val_loss", "val_top1", "seconds"]
    assert hist["val_loss"].iloc[-1] < hist["val_loss"].iloc[0]
    assert hist.attrs["loss"] == "symmetric InfoNCE"
    assert 0.01 <= fitted.temperature_ <= 1.0 and fitted.temperature_ != pytest.approx(0.07, abs=1e-6)
    assert fitted.temperature_ == pytest.approx(float(fitted.module_.log_temperature.detach().exp()), rel=1e-6)
    assert fitted.plot_history().get_ylabel() == "symmetric InfoNCE"


def test_labelled_in_labelled_out_and_alignment(planted, fitted):
    X, Z = planted
    ids = [f"s{i}" for i in range(N_TRAIN + N_TEST)]
    resp = make_responses(X, ids)
    feats = xr.DataArray(Z, dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", ids)})
    order = np.random.default_rng(2).permutation(N_TRAIN)
    dec = ContrastiveDecoder(**FAST).fit(resp.isel(stimulus=slice(0, N_TRAIN)), feats.isel(stimulus=order))
    # aligned by stimulus_id: identical to the positional fit on the same rows
    out = dec.transform(resp.isel(stimulus=slice(N_TRAIN, None)))
    assert out.dims == ("stimulus", "feature")
    assert out["stimulus_id"].values.tolist() == ids[N_TRAIN:]
    np.testing.assert_allclose(out.values, fitted.transform(X[N_TRAIN:]), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out.values, axis=1), 1.0, atol=1e-6)
    assert isinstance(fitted.predict(X[:3]), np.ndarray)
    test = slice(N_TRAIN, None)
    assert dec.score(resp.isel(stimulus=test), feats.isel(stimulus=test)[::-1]) == pytest.approx(
        fitted.score(X[test], Z[test]))
    # repeats are averaged
    reps = np.stack([X[:5] - 1.0, X[:5] + 1.0])
    np.testing.assert_allclose(fitted.transform(reps), fitted.transform(X[:5]), atol=1e-6)


# ------------------------------------------------------------------------------------ the loss
def _hand_infonce(b, t, tau):
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    logits = b @ t.T / tau
    ce = []
    for mat in (logits, logits.T):
        for i in range(len(mat)):
            ce.append(-(mat[i, i] - np.log(np.exp(mat[i]).sum())))
    return np.mean(ce[:3]) / 2 + np.mean(ce[3:]) / 2


def test_symmetric_loss_matches_hand_computation():
    b = np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 1.0], [0.0, 1.0, 3.0]])
    t = np.array([[2.0, 1.0, 0.0], [1.0, -1.0, 0.5], [-1.0, 0.0, 2.0]])
    got = contrastive_loss(torch.tensor(b), torch.tensor(t), 0.5)
    assert float(got) == pytest.approx(_hand_infonce(b, t, 0.5), rel=1e-10)
    # asymmetric inputs: swapping brain and image gives the same symmetric loss
    assert float(contrastive_loss(torch.tensor(t), torch.tensor(b), 0.5)) == pytest.approx(float(got), rel=1e-10)


def test_soft_targets_reduce_to_hard_infonce_as_temperature_goes_to_zero():
    g = torch.Generator().manual_seed(0)
    b, t = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    hard = float(contrastive_loss(b, t, 0.2))
    soft = [float(contrastive_loss(b, t, 0.2, soft_targets=1.0, target_temperature=tau)) for tau in (1.0, 0.1, 1e-4)]
    assert abs(soft[0] - hard) > 0.05
    assert abs(soft[2] - hard) < 1e-9
    assert abs(soft[1] - hard) < abs(soft[0] - hard)
    # the logits' temperature going to 0 too: the soft targets become one-hot
    assert float(contrastive_loss(b, t, 1e-3, soft_targets=1.0)) == pytest.approx(
        float(contrastive_loss(b, t, 1e-3)), rel=1e-9)
    # the weight mixes the two losses linearly
    mid = float(contrastive_loss(b, t, 0.2, soft_targets=0.3, target_temperature=1.0))
    assert mid == pytest.approx(0.7 * hard + 0.3 * soft[0], rel=1e-10)


def test_mixco_targets():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(200, 5, generator=g)
    mixed, perm, betas = mixco(x, 0.5, g)
    np.testing.assert_allclose(mixed, betas[:, None] * x + (1 - betas[:, None]) * x[perm], atol=1e-6)
    assert 0.35 < float((betas < 1).float().mean()) < 0.65
    # targets: row i puts beta_i on itself and 1 - beta_i on its partner; both directions are distributions
    q_bi, q_ib = target_matrices(x, 0.1, mix=(perm, betas))
    i = int(torch.nonzero((betas < 1) & (perm != torch.arange(200)))[0])
    assert float(q_bi[i, i]) == pytest.approx(float(betas[i])) and float(q_bi[i, perm[i]]) == pytest.approx(
        1 - float(betas[i]))
    np.testing.assert_allclose(q_bi.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(q_ib.sum(1), 1.0, atol=1e-6)
    # no row mixed: the loss is plain InfoNCE
    same, perm0, ones = mixco(x, 0.0, g)
    assert torch.equal(same, x) and torch.equal(ones, torch.ones(200))
    assert float(contrastive_loss(x, x, 0.1, mix=(perm0, ones))) == pytest.approx(float(contrastive_loss(x, x, 0.1)))


def test_top1_accuracy():
    t = torch.eye(4)
    assert top1_accuracy(t, t) == 1.0
    assert top1_accuracy(t[[1, 0, 2, 3]], t) == 0.5


# ------------------------------------------------------------------------------------ determinism
def test_same_seed_identical_mlp_with_dropout_and_mixco(planted):
    X, Z = planted
    kw = dict(hidden=(32,), dropout=0.2, mixco=0.5, soft_targets=0.2, lr=1e-3, max_epochs=4, batch_size=64,
              device="cpu")
    a = ContrastiveDecoder(random_state=5, **kw).fit(X[:120], Z[:120])
    b = ContrastiveDecoder(random_state=5, **kw).fit(X[:120], Z[:120])
    c = ContrastiveDecoder(random_state=6, **kw).fit(X[:120], Z[:120])
    assert np.array_equal(a.transform(X[:20]), b.transform(X[:20]))
    assert a.history_.drop(columns="seconds").equals(b.history_.drop(columns="seconds"))
    assert not np.allclose(a.transform(X[:20]), c.transform(X[:20]))
    no_mix = ContrastiveDecoder(random_state=5, **{**kw, "mixco": 0.0}).fit(X[:120], Z[:120])
    assert not np.allclose(a.history_["train_loss"], no_mix.history_["train_loss"])


def test_clone_and_params():
    dec = ContrastiveDecoder(hidden=(8,), soft_targets=0.5, mixco=0.3, temperature=0.1)
    twin = clone(dec)
    assert twin.get_params() == dec.get_params() and twin is not dec
    assert set(dec.get_params()) >= {"hidden", "dropout", "temperature", "soft_targets", "mixco", "lr",
                                     "weight_decay", "max_epochs", "patience", "batch_size", "validation",
                                     "standardize", "random_state", "device", "progress"}


def test_clone_of_fitted_is_unfitted(fitted, planted):
    with pytest.raises(InputError, match="before fit"):
        clone(fitted).transform(planted[0][:3])


# ------------------------------------------------------------------------------------ train hooks
def test_train_hooks_keep_batch_order_and_skip_small_batches():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(41, 3, generator=g), torch.randn(41, 2, generator=g)

    def run(**kw):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 2)
        module = _Wrap(net)
        hist = train(module, [x], y, validation=None, max_epochs=3, batch_size=8, lr=0.01, **kw)
        return hist, net.weight.detach().clone()

    base_h, base_w = run()
    seen = []

    def identity(batch, target, generator):
        seen.append(batch[0].shape[0])
        return batch, target

    h, w = run(batch_transform=identity)
    assert torch.equal(w, base_w) and h.drop(columns="seconds").equals(base_h.drop(columns="seconds"))
    assert seen[:6] == [8, 8, 8, 8, 8, 1]
    seen.clear()
    run(batch_transform=identity, min_batch=2)
    assert seen[:6] == [8, 8, 8, 8, 8, 8]  # the 41st stimulus's batch of one is skipped
    with pytest.raises(InputError, match="min_batch"):
        run(min_batch=9)


class _Wrap(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, xs):
        return self.net(xs[0])


# ------------------------------------------------------------------------------------ errors
def test_errors(planted, fitted):
    X, Z = planted
    ids = [f"s{i}" for i in range(40)]
    resp = make_responses(X[:40], ids)
    feats = xr.DataArray(Z[:40], dims=("stimulus", "feature"),
                         coords={"stimulus_id": ("stimulus", ids[:39] + ["other"])})
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        ContrastiveDecoder(**FAST).fit(resp, feats)
    with pytest.raises(AlignmentError, match="'X': 39, 'y': 40"):
        ContrastiveDecoder(**FAST).fit(X[:39], Z[:40])
    bad = X[:40].copy()
    bad[3, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        ContrastiveDecoder(**FAST).fit(bad, Z[:40])
    with pytest.raises(InputError, match="at least 4"):
        ContrastiveDecoder(**FAST).fit(X[:3], Z[:3])
    with pytest.raises(InputError, match="batch_size: received 1; expected an int >= 2"):
        ContrastiveDecoder(**{**FAST, "batch_size": 1}).fit(X[:40], Z[:40])
    for key, value, pattern in [("temperature", 0.0, r"temperature: received 0.0; expected a number in \[0.01, 1"),
                                ("soft_targets", 1.5, "soft_targets"), ("mixco", -0.1, "mixco"),
                                ("dropout", 1.0, "dropout"), ("hidden", (0,), "hidden"), ("lr", 0, "lr"),
                                ("max_epochs", 0, "max_epochs"), ("validation", 0.99, "validation")]:
        with pytest.raises(InputError, match=pattern):
            ContrastiveDecoder(**{**FAST, key: value}).fit(X[:40], Z[:40])
    with pytest.raises(InputError, match="before fit"):
        ContrastiveDecoder().transform(X[:3])
    with pytest.raises(ShapeError, match="expected 100 voxels"):
        fitted.transform(X[:5, :50])
    with pytest.raises(ShapeError, match="expected 16 features"):
        fitted.score(X[:5], Z[:5, :8])
