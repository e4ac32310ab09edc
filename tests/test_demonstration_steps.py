"""Unsupervised task steps (Sermanet, Xu & Levine, 2016): exact segmentation, planted world steps, errors."""

import itertools

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError, ShapeError
from neuroperception.rewards import DemonstrationReward, discover_steps
from neuroperception.rewards.demonstration import segment_features


def _brute_force(x, k):
    """Least summed within-step squared deviation over every segmentation of ``x`` (T, F) into k steps."""
    t = len(x)
    best, arg = np.inf, None
    for cut in itertools.combinations(range(1, t), k - 1):
        edges = (0, *cut, t)
        cost = sum(((x[a:b] - x[a:b].mean(0)) ** 2).sum() for a, b in zip(edges[:-1], edges[1:]))
        if cost < best - 1e-12:
            best, arg = cost, list(cut)
    return arg


def test_dynamic_programme_is_exact_against_brute_force():
    rng = np.random.default_rng(0)
    for trial in range(20):
        t, k = int(rng.integers(6, 11)), int(rng.integers(2, 5))
        x = rng.normal(size=(t, 3))
        assert segment_features(x, k, standardize=False).tolist() == _brute_force(x, k), trial


def test_piecewise_constant_features_give_the_planted_boundaries_exactly():
    rng = np.random.default_rng(1)
    n, t, k, f = 12, 40, 4, 5
    planted, seqs = [], []
    for _ in range(n):
        cuts = np.sort(rng.choice(np.arange(2, t - 1), size=k - 1, replace=False))
        while (np.diff(np.r_[0, cuts, t]) < 2).any():
            cuts = np.sort(rng.choice(np.arange(2, t - 1), size=k - 1, replace=False))
        levels = rng.normal(size=(k, f))
        levels[1:] += np.sign(levels[1:] - levels[:-1]) * 0.5  # neighbouring steps differ
        seqs.append(levels[np.searchsorted(cuts, np.arange(t), side="right")])
        planted.append(cuts)
    x = np.stack(seqs)
    np.testing.assert_array_equal(segment_features(x, k), np.stack(planted))  # noise-free: exact
    noisy = x + 0.05 * rng.normal(size=x.shape)
    np.testing.assert_array_equal(segment_features(noisy, k), np.stack(planted))  # small noise: still exact
    min2 = segment_features(x, k, min_length=2)
    np.testing.assert_array_equal(min2, np.stack(planted))


def test_discover_steps_on_videos_and_the_reward_uses_them_by_default():
    colour = lambda v: v.mean(dim=(2, 3))  # noqa: E731
    g = torch.Generator().manual_seed(0)
    demos = 0.1 + 0.1 * torch.rand(4, 15, 3, 8, 8, generator=g)
    planted = np.array([[3, 9], [5, 8], [2, 12], [6, 10]])
    for v, (a, b) in zip(demos, planted):
        v[a:b, 0] += 0.6
        v[b:, 1] += 0.6
    np.testing.assert_array_equal(discover_steps(demos, colour, 3), planted)
    r = DemonstrationReward(demos, colour, n_stages=3, n_features=1)
    np.testing.assert_array_equal(r.boundaries_, planted)
    given = DemonstrationReward(demos, colour, boundaries=planted, n_features=1)
    torch.testing.assert_close(given(demos[0]), r(demos[0]))
    equal = DemonstrationReward(demos, colour, n_stages=3, n_features=1, segmentation="equal")
    np.testing.assert_array_equal(equal.boundaries_, np.tile([5, 10], (4, 1)))


def test_bad_input_raises_clear_errors():
    colour = lambda v: v.mean(dim=(2, 3))  # noqa: E731
    demos = torch.rand(2, 4, 3, 8, 8)
    with pytest.raises(InputError, match="shorter than the number of steps"):
        discover_steps(demos, colour, 5)
    with pytest.raises(InputError, match="shorter than the number of steps"):
        discover_steps(demos, colour, 3, min_length=2)
    with pytest.raises(InputError, match="n_steps: received 1"):
        discover_steps(demos, colour, 1)
    with pytest.raises(InputError, match="n_steps: received 2.5"):
        discover_steps(demos, colour, 2.5)
    with pytest.raises(ShapeError, match="expected 5 dimensions"):
        discover_steps(demos[0], colour, 2)
    with pytest.raises(ShapeError, match="feature_fn: returned"):
        discover_steps(demos, lambda v: v.mean(dim=(1, 2, 3)), 2)
    with pytest.raises(InputError, match="signal: received"):
        discover_steps(demos, colour, 2, signal="speed")
    with pytest.raises(InputError, match="min_length: received 0"):
        discover_steps(demos, colour, 2, min_length=0)
    with pytest.raises(ShapeError, match="expected \\(N sequences"):
        segment_features(np.zeros(5), 2)
    with pytest.raises(InputError, match="NaN"):
        segment_features(np.full((5, 2), np.nan), 2)
    with pytest.raises(InputError, match="n_stages: received 5 for videos of 4 frames"):
        DemonstrationReward(demos, colour, n_stages=5)
    with pytest.raises(InputError, match="segmentation: received"):
        DemonstrationReward(demos, colour, n_stages=2, segmentation="random")
    with pytest.raises(InputError, match="step_signal: received"):
        DemonstrationReward(demos, colour, n_stages=2, step_signal="speed")
