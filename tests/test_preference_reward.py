"""PreferenceReward: a planted utility is recovered from pairwise judgements (soft labels, ties, flipped labels), the
ensemble reports its spread, the model saves and loads, rewards observations, and names bad judgements."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from neuroperception.errors import InputError
from neuroperception.rewards import PreferenceReward


def feats(x):
    return torch.nn.functional.avg_pool2d(x.mean(1, keepdim=True), 2).flatten(1)  # 16 block means


def planted(seed, n_img=300, n_pairs=1200, flip=0.0, n_test=800):
    """Images, a planted linear utility of their block means, training judgements (flipped at rate ``flip``)
    among the first 200 images and clean test judgements among the other 100."""
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(n_img, 3, 8, 8, generator=g)
    rng = np.random.default_rng(seed)
    u = feats(imgs).numpy() @ rng.standard_normal(16)
    ids = [f"i{k}" for k in range(n_img)]

    def pairs(pool, n):
        a, b = rng.choice(pool, n), rng.choice(pool, n)
        keep = a != b
        a, b = a[keep], b[keep]
        return pd.DataFrame({"first": [ids[i] for i in a], "second": [ids[i] for i in b],
                             "label": (u[a] > u[b]).astype(float)})

    train, test = pairs(np.arange(200), n_pairs), pairs(np.arange(200, n_img), n_test)
    flipped = rng.random(len(train)) < flip
    train.loc[flipped, "label"] = 1 - train.loc[flipped, "label"]
    return dict(zip(ids, imgs)), train, test, dict(zip(ids, u))


def test_a_planted_utility_is_recovered_on_held_out_images_and_rewards_follow_it():
    images, train, test, u = planted(0, n_pairs=800)
    model = PreferenceReward(feats, max_epochs=60, lr=0.05).fit(images, train)
    assert model.score(images, test) > 0.93
    x = torch.stack([images[f"i{k}"] for k in range(200, 260)])
    r = model(x).detach().numpy()
    assert stats.spearmanr(r, [u[f"i{k}"] for k in range(200, 260)])[0] > 0.9
    table = model.calibration(images, test)
    assert table["n"].sum() == len(test) and 0 <= table.attrs["ece"] < 0.2


def test_soft_labels_and_ties_train_and_ties_are_left_out_of_the_accuracy():
    images, train, test, u = planted(1, n_pairs=600)
    soft = train.copy()
    soft["label"] = np.where(soft["label"] == 1, 0.8, 0.2)           # four of five raters agree
    soft.loc[soft.index[:50], "label"] = 0.5                            # some ties
    model = PreferenceReward(feats, max_epochs=60, lr=0.05).fit(images, soft)
    assert model.score(images, test) > 0.9
    tied = test.copy()
    tied.loc[tied.index[:100], "label"] = 0.5
    p = model.predict_proba(images, tied)["p_first"].to_numpy()
    decided = tied["label"].to_numpy() != 0.5
    assert model.score(images, tied) == pytest.approx(np.mean((p[decided] > 0.5) == (tied["label"][decided] > 0.5)))


def test_an_ensemble_reports_its_spread_and_a_model_saves_and_loads(tmp_path):
    images, train, test, _ = planted(2, n_pairs=400)
    model = PreferenceReward(feats, head="mlp", hidden=16, n_ensemble=3, max_epochs=30, lr=0.02).fit(images, train)
    x = torch.stack([images[f"i{k}"] for k in range(200, 220)])
    assert model.utilities(x).shape == (3, 20) and bool((model.uncertainty(x) > 0).all())
    assert set(model.components(x)) == {"uncertainty"}
    path = model.save(tmp_path / "prefs.pt")
    again = PreferenceReward.load(path, feats)
    torch.testing.assert_close(again.utilities(x), model.utilities(x))
    with pytest.raises(InputError, match="exists"):
        model.save(path)


def test_judgements_with_a_reference_need_one_to_reward():
    images, train, _, _ = planted(3, n_pairs=300)
    with_ref = train.assign(reference="i0")
    model = PreferenceReward(feats, max_epochs=20).fit(images, with_ref)
    x = torch.stack([images["i1"], images["i2"]])
    with pytest.raises(InputError, match="reference"):
        model(x)
    assert model.set_reference(images["i0"][None])(x).shape == (2,)


def test_bad_judgements_say_what_was_received():
    images, train, _, _ = planted(4, n_pairs=50)
    model = PreferenceReward(feats, max_epochs=2)
    with pytest.raises(InputError, match="not among the images"):
        model.fit(images, train.assign(second="ghost"))
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        model.fit(images, train.assign(label=2.0))
    with pytest.raises(InputError, match="columns first, second, label"):
        model.fit(images, train.drop(columns="label"))
    with pytest.raises(InputError, match="unfitted"):
        model.utilities(torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputError, match="loss"):
        PreferenceReward(feats, loss="huber")
    with pytest.raises(InputError, match="label_noise"):
        PreferenceReward(feats, label_noise=0.6)
    with pytest.raises(InputError, match="features"):
        PreferenceReward("clip")


@pytest.mark.slow  # 5 seeds x 3 noise levels x 2 losses, about 3 minutes on one thread
def test_flipped_labels_planted_preferences_are_recovered_and_the_robust_loss_wins_at_30_percent():
    acc = {}
    for flip in (0.0, 0.1, 0.3):
        for loss in ("bce", "robust"):
            scores = []
            for seed in range(5):
                images, train, test, _ = planted(seed, flip=flip)
                model = PreferenceReward(feats, loss=loss, label_noise=0.3, max_epochs=100, lr=0.02)
                scores.append(model.fit(images, train).score(images, test))
            acc[flip, loss] = np.array(scores)
    assert acc[0.0, "bce"].mean() > 0.95 and acc[0.1, "bce"].mean() > 0.9 and acc[0.3, "bce"].mean() > 0.8
    gain = acc[0.3, "robust"] - acc[0.3, "bce"]
    half = stats.t.ppf(0.975, 4) * gain.std(ddof=1) / np.sqrt(5)
    assert gain.mean() - half > 0, (gain, acc)


def test_the_model_reads_as_a_metric_that_agrees_with_its_judgements():
    from neuroperception.similarity import Metric

    images, train, test, u = planted(5, n_pairs=600)
    model = PreferenceReward(feats, max_epochs=60, lr=0.05).fit(images, train)
    metric = model.metric()
    assert isinstance(metric, Metric)
    x = torch.stack([images[f"i{k}"] for k in range(200, 230)])
    y = torch.stack([images[f"i{k}"] for k in range(230, 260)])
    d = metric(x, y).detach().numpy()
    du = np.abs(np.array([u[f"i{k}"] for k in range(200, 230)]) - np.array([u[f"i{k}"] for k in range(230, 260)]))
    assert stats.spearmanr(d, du)[0] > 0.8                     # alike in preference = close
    # trained with a reference, the candidate the people would pick is the closer one
    ref_model = PreferenceReward(feats, max_epochs=40, lr=0.05).fit(images, train.assign(reference="i0"))
    m = ref_model.metric()
    a, b = x[:10], y[:10]
    ref = images["i0"][None].expand(10, -1, -1, -1)
    closer_a = (m(a, ref) < m(b, ref)).numpy()
    p = ref_model.predict_proba(images, pd.DataFrame({"first": [f"i{k}" for k in range(200, 210)],
                                                      "second": [f"i{k}" for k in range(230, 240)],
                                                      "label": 0.5, "reference": "i0"}))["p_first"].to_numpy()
    assert (closer_a == (p > 0.5)).all()   # the same comparison the judgements are predicted with
