"""Reward shaping and normalisation: policy invariance on a grid world, running statistics, errors."""

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError, ShapeError
from neuroperception.rewards.base import RewardFunction
from neuroperception.rewards.shaping import PotentialShaping, RankTransform, RunningNormalizer, clip

# --- a 5x5 deterministic grid world: goal in a corner (terminal), a distractor cell elsewhere ---------

SIZE, GAMMA = 5, 0.9
GOAL, DISTRACTOR = (4, 4), (0, 3)
MOVES = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)])
N_STATES, N_ACTIONS = SIZE * SIZE, len(MOVES)


def _cell(s):
    return divmod(int(s), SIZE)


def _transitions():
    """next_state[s, a], base reward[s, a] (-0.05 per step, +1 on reaching the goal), terminated[s, a]."""
    nxt = np.zeros((N_STATES, N_ACTIONS), dtype=int)
    for s in range(N_STATES):
        r, c = _cell(s)
        for a, (dr, dc) in enumerate(MOVES):
            rr, cc = min(max(r + dr, 0), SIZE - 1), min(max(c + dc, 0), SIZE - 1)
            nxt[s, a] = rr * SIZE + cc
    goal = GOAL[0] * SIZE + GOAL[1]
    done = nxt == goal
    reward = np.where(done, 1.0, -0.05)
    return nxt, reward, done


def _q_values(reward, nxt, done, gamma=GAMMA, tol=1e-12):
    """Value iteration on the deterministic MDP; the goal is absorbing with value 0."""
    goal = GOAL[0] * SIZE + GOAL[1]
    v = np.zeros(N_STATES)
    for _ in range(10_000):
        q = reward + gamma * np.where(done, 0.0, v[nxt])
        v_new = q.max(axis=1)
        v_new[goal] = 0.0
        if np.abs(v_new - v).max() < tol:
            break
        v = v_new
    return reward + gamma * np.where(done, 0.0, v[nxt])


def _optimal_actions(q):
    """Set of optimal actions per non-goal state (ties kept), as a boolean (S, A) mask."""
    mask = np.isclose(q, q.max(axis=1, keepdims=True), atol=1e-6)
    mask[GOAL[0] * SIZE + GOAL[1]] = True
    return mask


def _shaped_reward(shaping, reward, nxt, done):
    states = np.repeat(np.arange(N_STATES), N_ACTIONS)
    f = shaping(states, nxt.ravel(), terminated=done.ravel())
    return reward + np.asarray(f).reshape(N_STATES, N_ACTIONS)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_potential_shaping_keeps_optimal_policy_for_random_potentials(seed):
    nxt, reward, done = _transitions()
    q = _q_values(reward, nxt, done)
    phi = np.random.default_rng(seed).normal(scale=3.0, size=N_STATES)
    shaping = PotentialShaping(lambda s: phi[s], gamma=GAMMA)
    q_shaped = _q_values(_shaped_reward(shaping, reward, nxt, done), nxt, done)
    # Ng et al.: Q'(s, a) = Q(s, a) - Phi(s), hence the same greedy policy
    goal = GOAL[0] * SIZE + GOAL[1]
    keep = np.arange(N_STATES) != goal
    np.testing.assert_allclose(q_shaped[keep], (q - phi[:, None])[keep], atol=1e-8)
    np.testing.assert_array_equal(_optimal_actions(q_shaped), _optimal_actions(q))


def _render(states):
    """10x10 images of grid states: a white 2x2 square at the agent's cell."""
    images = torch.zeros(len(states), 3, 10, 10)
    for i, s in enumerate(np.asarray(states)):
        r, c = _cell(s)
        images[i, :, 2 * r:2 * r + 2, 2 * c:2 * c + 2] = 1.0
    return images


class _NegativeDistanceToGoalImage(RewardFunction):
    """Perceptual stand-in: minus a blurred squared distance to the goal image."""

    def __init__(self):
        super().__init__()
        self.register_buffer("goal", _render([GOAL[0] * SIZE + GOAL[1]]))

    def reward(self, images):
        blur = torch.nn.functional.avg_pool2d(images - self.goal, 5, stride=1, padding=2, count_include_pad=False)
        return -(blur ** 2).sum(dim=(1, 2, 3)) - ((images - self.goal) ** 2).mean(dim=(1, 2, 3))


def test_perceptual_potential_keeps_policy_while_a_distractor_bonus_changes_it():
    nxt, reward, done = _transitions()
    q = _q_values(reward, nxt, done)
    perceptual = _NegativeDistanceToGoalImage()
    shaping = PotentialShaping(lambda s: perceptual(_render(s)), gamma=GAMMA, scale=2.0)
    shaped = _shaped_reward(shaping, reward, nxt, done)
    assert isinstance(shaping(np.array([0]), np.array([1])), torch.Tensor)
    assert np.abs(shaped - reward).max() > 0.1  # the perceptual potential really changes the rewards
    q_shaped = _q_values(shaped, nxt, done)
    np.testing.assert_array_equal(_optimal_actions(q_shaped), _optimal_actions(q))
    # a non-potential bonus for entering the distractor cell changes the optimal policy
    bonus = np.where(nxt == DISTRACTOR[0] * SIZE + DISTRACTOR[1], 0.5, 0.0)
    q_bonus = _q_values(reward + bonus, nxt, done)
    changed = (_optimal_actions(q_bonus) != _optimal_actions(q)).any(axis=1)
    assert changed.sum() >= 3
    # from the start corner the bonus policy loops around the distractor instead of heading for the goal
    s, visited = 0, set()
    for _ in range(30):
        visited.add(s)
        s = nxt[s, int(np.argmax(q_bonus[s]))]
    assert GOAL[0] * SIZE + GOAL[1] not in visited and s != GOAL[0] * SIZE + GOAL[1]


def test_potential_shaping_formula_terminal_and_shape():
    phi = torch.tensor([0.0, 1.0, 4.0])
    shaping = PotentialShaping(lambda s: phi[s], gamma=0.5, scale=2.0)
    f = shaping(torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]), terminated=torch.tensor([False, True, False]))
    torch.testing.assert_close(f, torch.tensor([1.0, -2.0, -8.0]))
    shaped = shaping.shape(torch.ones(3), torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0]))
    torch.testing.assert_close(shaped, torch.tensor([2.0, 3.0, -7.0]))


def test_potential_shaping_errors():
    with pytest.raises(InputError, match=r"gamma: received 1.5; expected the discount factor in \[0, 1\]"):
        PotentialShaping(lambda s: s, gamma=1.5)
    with pytest.raises(InputError, match="potential: received int; expected a callable"):
        PotentialShaping(3, gamma=0.9)
    bad = PotentialShaping(lambda s: np.full(len(s), np.nan), gamma=0.9)
    with pytest.raises(InputError, match="expected finite potentials"):
        bad(np.arange(2), np.arange(2))
    flat = PotentialShaping(lambda s: np.zeros((len(s), 2)), gamma=0.9)
    with pytest.raises(ShapeError, match=r"expected a \(B,\) array of potentials"):
        flat(np.arange(2), np.arange(2))
    ok = PotentialShaping(lambda s: np.asarray(s, float), gamma=0.9)
    with pytest.raises(ShapeError, match="expected the same number"):
        ok(np.arange(2), np.arange(3))
    with pytest.raises(ShapeError, match="terminated: received .*expected one flag per transition"):
        ok(np.arange(2), np.arange(2), terminated=[True])


# --- normaliser ---------------------------------------------------------------------------------------

def test_running_normalizer_matches_numpy_over_uneven_batches():
    rng = np.random.default_rng(0)
    stream = rng.normal(loc=5.0, scale=3.0, size=1000)
    norm = RunningNormalizer()
    start = 0
    for size in rng.integers(1, 40, size=200):
        norm.update(stream[start:start + size])
        start += size
        if start >= stream.size:
            break
    seen = stream[:min(start, stream.size)]
    assert norm.count == seen.size
    np.testing.assert_allclose(norm.mean, seen.mean(), rtol=1e-12)
    np.testing.assert_allclose(norm.std, seen.std(), rtol=1e-10)
    np.testing.assert_allclose(norm.normalize(seen), (seen - seen.mean()) / np.sqrt(seen.var() + 1e-8), rtol=1e-9)


def test_running_normalizer_per_reward_columns_clip_torch_and_state():
    rng = np.random.default_rng(1)
    stream = rng.normal(size=(300, 3)) * np.array([1.0, 10.0, 0.1]) + np.array([0.0, -4.0, 2.0])
    norm = RunningNormalizer(shape=(3,), clip=2.0, ddof=1)
    for chunk in np.array_split(stream, 7):
        norm.update(torch.as_tensor(chunk, dtype=torch.float64))
    np.testing.assert_allclose(norm.mean, stream.mean(0), rtol=1e-10)
    np.testing.assert_allclose(norm.std, stream.std(0, ddof=1), rtol=1e-10)
    out = norm.normalize(torch.as_tensor(stream, dtype=torch.float32))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert float(out.abs().max()) <= 2.0 and float(out.abs().max()) == pytest.approx(2.0)
    restored = RunningNormalizer(shape=(3,), clip=2.0, ddof=1)
    restored.load_state_dict(norm.state_dict())
    head = torch.as_tensor(stream[:5])
    torch.testing.assert_close(restored.normalize(head), norm.normalize(head))
    scale_only = RunningNormalizer(center=False)
    scale_only.update(np.array([2.0, 4.0, 6.0]))
    assert scale_only(np.array([4.0]), update=False)[0] == pytest.approx(4.0 / np.sqrt(np.var([2, 4, 6]) + 1e-8))


def test_normalizer_and_rank_are_deterministic():
    stream = np.random.default_rng(3).normal(size=50)
    outs = []
    for _ in range(2):
        norm, rank = RunningNormalizer(clip=5.0), RankTransform(window=10)
        outs.append(np.concatenate([np.r_[norm(chunk), rank(chunk)] for chunk in np.array_split(stream, 5)]))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_rank_transform_window_invariance_and_centering():
    rng = np.random.default_rng(2)
    rewards = rng.normal(size=200)
    a, b = RankTransform(window=50), RankTransform(window=50, centered=True)
    ra = np.concatenate([a(chunk) for chunk in np.array_split(rewards, 8)])
    rb = np.concatenate([b(np.exp(3 * chunk)) for chunk in np.array_split(rewards, 8)])  # monotone transform
    np.testing.assert_allclose(rb, ra - 0.5)
    assert len(a) == 50 and 0.0 <= ra.min() and ra.max() <= 1.0
    # the last value is ranked among exactly the last 50 rewards
    last = rewards[-50:]
    expected = ((last < rewards[-1]).sum() + 0.5 * (last == rewards[-1]).sum()) / 50
    assert ra[-1] == pytest.approx(expected)


def test_clip_and_errors():
    np.testing.assert_array_equal(clip(np.array([-2.0, 0.0, 2.0]), high=1.0), [-2.0, 0.0, 1.0])
    t = torch.tensor([-2.0, 0.5], requires_grad=True)
    clip(t, -1, 1).sum().backward()
    torch.testing.assert_close(t.grad, torch.tensor([0.0, 1.0]))
    assert clip(3.0, 0, 1) == 1.0
    with pytest.raises(InputError, match="clip: received low=1, high=0; expected low <= high"):
        clip(np.zeros(2), 1, 0)
    with pytest.raises(InputError, match="expected finite rewards"):
        clip(torch.tensor([float("nan")]), 0, 1)
    with pytest.raises(InputError, match="expected finite rewards"):
        RunningNormalizer().update(np.array([1.0, np.inf]))
    with pytest.raises(ShapeError, match=r"expected rewards of shape \(3,\) or a batch \(batch, 3\)"):
        RunningNormalizer(shape=(3,)).update(np.zeros((4, 2)))
    with pytest.raises(InputError, match="clip: received -1; expected a positive number"):
        RunningNormalizer(clip=-1)
    with pytest.raises(InputError, match="window: received 0; expected a positive int"):
        RankTransform(window=0)
    with pytest.raises(InputError, match="empty window"):
        RankTransform().transform(np.zeros(2))
