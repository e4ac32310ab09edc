"""BehaviouralAlignment: a transform fitted to odd-one-out choices of observers whose planted weighting differs from
the features' raises held-out accuracy (intervals over seeds), leaves observers that use the features as they are
alone, and gives a Metric that rewards take; bad input is named."""

import numpy as np
import pytest
import torch
from scipy import stats

from neuroperception.behaviour import BehaviouralAlignment, odd_one_out_accuracy
from neuroperception.errors import InputError, ShapeError


def observers(seed, weights, n_objects=80, n_triplets=3000, temperature=0.5):
    """Softmax odd-one-out choices of observers who weigh feature dimensions by ``weights``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_objects, len(weights)))
    t = np.array([rng.choice(n_objects, 3, replace=False) for _ in range(n_triplets)])
    z = x * np.asarray(weights)
    s = np.stack([(z[t[:, 0]] * z[t[:, 1]]).sum(1), (z[t[:, 0]] * z[t[:, 2]]).sum(1),
                  (z[t[:, 1]] * z[t[:, 2]]).sum(1)], 1) / temperature
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    choice = np.array([rng.choice(3, p=row) for row in p])  # which pair stays together
    order = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])[choice]
    return x, np.take_along_axis(t, order, axis=1)          # the last column is the odd one out


PLANTED = [3.0, 3.0, 1.0, 1.0, 0.3, 0.3, 0.3, 0.3]


def test_the_transform_raises_held_out_accuracy_for_observers_who_weigh_features_differently():
    gains = []
    for seed in range(5):
        x, y = observers(seed, PLANTED)
        train, test = y[:2000], y[2000:]
        before = BehaviouralAlignment(alpha=1e6).fit(x, train).score(x, test)   # pinned to the identity
        after = BehaviouralAlignment(alpha=1e-3).fit(x, train).score(x, test)
        gains.append(after - before)
    gains = np.array(gains)
    half = stats.t.ppf(0.975, 4) * gains.std(ddof=1) / np.sqrt(5)
    assert gains.mean() - half > 0.02, gains


def test_the_learned_weights_follow_the_planted_ones_and_the_identity_is_kept_for_feature_observers():
    x, y = observers(0, PLANTED, n_triplets=4000)
    model = BehaviouralAlignment(alpha=1e-3).fit(x, y)
    gain = np.linalg.norm(model.weights_, axis=1)
    assert stats.spearmanr(gain, PLANTED)[0] > 0.8
    x, y = observers(1, [1.0] * 8, n_triplets=4000)
    same = BehaviouralAlignment(alpha=1e-3).fit(x, y[:3000])
    pinned = BehaviouralAlignment(alpha=1e6).fit(x, y[:3000])
    assert same.score(x, y[3000:]) == pytest.approx(pinned.score(x, y[3000:]), abs=0.03)


def test_score_equals_odd_one_out_accuracy_of_the_transformed_features():
    x, y = observers(2, PLANTED, n_triplets=600)
    model = BehaviouralAlignment(alpha=0.01).fit(x, y[:400])
    ref = odd_one_out_accuracy(model.transform(x), y[400:], similarity="dot")
    assert model.score(x, y[400:]) == pytest.approx(ref.accuracy)
    assert model.predict_proba(x, y[400:]).shape == (200,)


def test_the_aligned_metric_is_a_metric_for_rewards():
    from neuroperception.rewards import GoalImageReward

    x, y = observers(3, PLANTED[:3] + [1.0], n_triplets=500)

    def feature_fn(images):
        return images.mean(dim=(2, 3)).repeat(1, 2)[:, :4] * 1.0

    model = BehaviouralAlignment(alpha=0.01).fit(x[:, :4], y)
    metric = model.metric(feature_fn)
    goal = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    reward = GoalImageReward(metric, goal)
    r = reward(torch.cat([goal, 1 - goal]))
    assert r.shape == (2,) and float(r[0]) > float(r[1])


def test_bad_input_says_what_was_received():
    x, y = observers(4, PLANTED, n_triplets=50)
    with pytest.raises(InputError, match="indices"):
        BehaviouralAlignment().fit(x, y + 100)
    with pytest.raises(ShapeError, match=r"\(n, 3\)"):
        BehaviouralAlignment().fit(x, y[:, :2])
    with pytest.raises(InputError, match="repeat"):
        BehaviouralAlignment().fit(x, np.array([[0, 0, 1]]))
    with pytest.raises(InputError, match="temperature"):
        BehaviouralAlignment(temperature=0).fit(x, y)
    with pytest.raises(InputError, match="n_components"):
        BehaviouralAlignment(n_components=20).fit(x, y)
    with pytest.raises(InputError, match="unfitted"):
        BehaviouralAlignment().transform(x)
    with pytest.raises(ShapeError, match="features"):
        BehaviouralAlignment().fit(x, y).transform(x[:, :3])
