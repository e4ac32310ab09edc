"""OrderDebiasedJudge: a planted position bias is detected with an interval that excludes zero (and one that
includes zero without it), removed exactly from logits, and resolved for hard choices; a Metric has none."""

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError, ShapeError
from neuroperception.rewards import JudgeReward
from neuroperception.rewards.judges import OrderDebiasedJudge
from neuroperception.similarity import L2


def _images(n, seed):
    g = torch.Generator().manual_seed(seed)
    levels = torch.rand(n, generator=g)
    return levels[:, None, None, None].expand(n, 3, 8, 8).contiguous(), levels


class ChoiceJudge:
    """Chooses the brighter image with probability σ(k Δ + β): β is a planted preference for the first position."""

    def __init__(self, beta, k=8.0, seed=0):
        self.beta, self.k = beta, k
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, first, second, reference=None):
        delta = first.mean(dim=(1, 2, 3)) - second.mean(dim=(1, 2, 3))
        p = torch.sigmoid(self.k * delta + self.beta)
        return (torch.rand(p.shape, generator=self.g) < p).float()


@pytest.mark.parametrize("beta", [0.0, 1.5])
def test_a_planted_position_bias_is_detected_only_where_planted_and_debiasing_raises_accuracy(beta):
    a, la = _images(600, 1)
    b, lb = _images(600, 2)
    truth = (la > lb).numpy()
    judge = OrderDebiasedJudge(ChoiceJudge(beta), output="choice", resolve="abstain")
    stats = judge.position_bias(a, b, random_state=0)
    if beta == 0.0:
        assert stats["low"] <= 0.0 <= stats["high"]
    else:
        assert stats["low"] > 0.1  # choices of the first position exceed half by a margin
        assert stats["first_share"] > 0.6
    judge = OrderDebiasedJudge(ChoiceJudge(beta, seed=1), output="choice", resolve="abstain")
    table = judge.compare(a, b)
    one_order = (table["ab"].to_numpy() > 0.5) == truth           # what asking once, a first, gives
    kept = table["p_a"].notna().to_numpy()
    debiased = (table["p_a"].to_numpy()[kept] > 0.5) == truth[kept]
    if beta > 0:
        # a is first in the single query: its errors are the pairs where b is better and a still wins
        assert debiased.mean() > one_order.mean() + 0.05
        assert (~table["consistent"]).mean() > 0.2
    tie = OrderDebiasedJudge(ChoiceJudge(beta, seed=1), output="choice", resolve="tie").compare(a, b)
    assert set(np.unique(tie["p_a"])) <= {0.0, 0.5, 1.0}
    assert (tie["p_a"][~tie["consistent"]] == 0.5).all()


def test_logit_judges_are_debiased_exactly_and_the_bias_is_read_off():
    a, la = _images(50, 3)
    b, lb = _images(50, 4)

    def judge(first, second, reference=None):
        return 5.0 * (first.mean(dim=(1, 2, 3)) - second.mean(dim=(1, 2, 3))) - 0.8  # favours the second position

    table = OrderDebiasedJudge(judge).compare(a, b)
    np.testing.assert_allclose(table["logit"], 5.0 * (la - lb).numpy(), atol=1e-5)
    np.testing.assert_allclose(table["position_bias"], -0.8, atol=1e-5)
    prob = OrderDebiasedJudge(lambda f, s, r=None: torch.sigmoid(judge(f, s)), output="probability").compare(a, b)
    np.testing.assert_allclose(prob["logit"], table["logit"], atol=1e-4)


def test_a_metric_judge_has_no_position_bias_and_the_debiased_judge_drives_a_judge_reward():
    ref = torch.full((1, 3, 8, 8), 0.8)
    a, _ = _images(10, 5)
    b, _ = _images(10, 6)
    judge = OrderDebiasedJudge(L2())
    stats = judge.position_bias(a, b, ref)
    assert stats["bias"] == pytest.approx(0.0, abs=1e-6) and stats["inconsistent"] == 0.0
    biased = OrderDebiasedJudge(lambda f, s, r: L2()(s, r) - L2()(f, r) + 3.0)
    reward = JudgeReward(biased, ref, anchor=torch.zeros(1, 3, 8, 8), temperature=0.1)
    plain = JudgeReward(L2(), ref, anchor=torch.zeros(1, 3, 8, 8), temperature=0.1)
    obs = torch.cat([ref, torch.full((1, 3, 8, 8), 0.4)])
    torch.testing.assert_close(reward(obs), plain(obs))  # the +3 for the first position is gone


def test_gradients_flow_through_a_differentiable_judge():
    judge = OrderDebiasedJudge(lambda f, s, r=None: 4.0 * (f.mean(dim=(1, 2, 3)) - s.mean(dim=(1, 2, 3))) + 1.0)
    x = torch.full((2, 3, 8, 8), 0.3, requires_grad=True)
    judge(x, torch.full((2, 3, 8, 8), 0.5)).sum().backward()
    assert x.grad is not None and torch.all(x.grad > 0)


def test_bad_input_says_what_was_received():
    x, _ = _images(4, 0)
    with pytest.raises(InputError, match="output"):
        OrderDebiasedJudge(L2(), output="votes")
    with pytest.raises(InputError, match="resolve"):
        OrderDebiasedJudge(L2(), resolve="coin")
    with pytest.raises(InputError, match="judge"):
        OrderDebiasedJudge("gpt")
    with pytest.raises(InputError, match="Metric judge"):
        OrderDebiasedJudge(L2(), output="choice")
    with pytest.raises(InputError, match="reference"):
        OrderDebiasedJudge(L2()).compare(x, x)
    with pytest.raises(ShapeError, match="one pair per row"):
        OrderDebiasedJudge(L2()).compare(x, x[:2], x)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        OrderDebiasedJudge(lambda f, s, r=None: torch.full((4,), 2.0), output="probability").compare(x, x)
    with pytest.raises(InputError, match="hard"):
        OrderDebiasedJudge(lambda f, s, r=None: torch.full((4,), 0.3), output="choice").compare(x, x)
    with pytest.raises(ShapeError, match="one per pair"):
        OrderDebiasedJudge(lambda f, s, r=None: torch.zeros(3)).compare(x, x)
