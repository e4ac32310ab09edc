"""two_afc_triplets: the three 2AFC layouts become (reference, chosen, other) triplets; a planted observer's 2AFC
choices, converted, fit a BehaviouralAlignment that predicts held-out 2AFC choices better than the features."""

import numpy as np
import pandas as pd
import pytest

from neuroperception.behaviour import BehaviouralAlignment, two_afc_triplets
from neuroperception.errors import InputError

IDS = ["a", "b", "c", "r"]


def test_each_layout_gives_reference_chosen_other():
    experiment = pd.DataFrame({"task": ["2afc", "odd_one_out", "2afc"], "ref": ["r", "r", "r"],
                               "option_a": ["a", "a", "b"], "option_b": ["b", "c", "c"],
                               "chose_a": [1.0, np.nan, 0.0]})
    assert two_afc_triplets(experiment, IDS).tolist() == [[3, 0, 1], [3, 2, 1]]
    dataset = pd.DataFrame({"ref": ["r", "r"], "p0": ["a", "b"], "p1": ["c", "c"], "judge": [0.9, 0.2]})
    assert two_afc_triplets(dataset, IDS).tolist() == [[3, 2, 0], [3, 1, 2]]
    judgements = pd.DataFrame({"reference": ["r"], "first": ["a"], "second": ["b"], "label": [0.7]})
    assert two_afc_triplets(judgements, IDS).tolist() == [[3, 0, 1]]
    assert two_afc_triplets(judgements, np.array(IDS)).dtype == np.int64


def test_ties_are_dropped_or_counted_both_ways():
    rows = pd.DataFrame({"ref": ["r", "r"], "p0": ["a", "b"], "p1": ["b", "c"], "judge": [0.5, 0.0]})
    assert two_afc_triplets(rows, IDS).tolist() == [[3, 1, 2]]
    assert two_afc_triplets(rows, IDS, ties="both").tolist() == [[3, 1, 0], [3, 0, 1], [3, 1, 2]]
    with pytest.raises(InputError, match="only ties"):
        two_afc_triplets(rows.iloc[:1], IDS)


def test_bad_tables_are_named():
    good = pd.DataFrame({"ref": ["r"], "p0": ["a"], "p1": ["b"], "judge": [0.5]})
    with pytest.raises(InputError, match="not among stimulus_id"):
        two_afc_triplets(good.assign(p1="zebra"), IDS)
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        two_afc_triplets(good.assign(judge=1.5), IDS)
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        two_afc_triplets(good.assign(judge=np.nan), IDS)
    with pytest.raises(InputError, match="2AFC layouts"):
        two_afc_triplets(good.rename(columns={"judge": "vote"}), IDS)
    with pytest.raises(InputError, match="repeated ids"):
        two_afc_triplets(good, IDS + ["a"])
    with pytest.raises(InputError, match="three different images"):
        two_afc_triplets(good.assign(p1="r"), IDS)
    with pytest.raises(InputError, match="DataFrame"):
        two_afc_triplets(good.to_numpy(), IDS)
    with pytest.raises(InputError, match="ties"):
        two_afc_triplets(good, IDS, ties="half")
    with pytest.raises(InputError, match="no 2AFC rows"):
        two_afc_triplets(pd.DataFrame({"task": ["odd_one_out"], "ref": ["r"], "option_a": ["a"], "option_b": ["b"],
                                       "chose_a": [np.nan]}), IDS)


def _two_afc_accuracy(z, triplets):
    r, c, o = z[triplets[:, 0]], z[triplets[:, 1]], z[triplets[:, 2]]
    return float(np.mean((r * c).sum(1) > (r * o).sum(1)))


def test_a_planted_observer_is_learned_from_converted_2afc_rows():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 5))
    ids = [f"im{i}" for i in range(80)]
    weights = np.array([3.0, 0.3, 1.0, 1.0, 0.3])           # the observer's weighting differs from the features'
    z = x * weights
    idx = np.array([rng.choice(80, 3, replace=False) for _ in range(3000)])
    ref, a, b = idx.T
    margin = (z[ref] * z[a]).sum(1) - (z[ref] * z[b]).sum(1)
    chose_a = (rng.random(len(idx)) < 1 / (1 + np.exp(-margin))).astype(float)   # a noisy logistic observer
    rows = pd.DataFrame({"participant": "sim", "task": "2afc", "ref": np.array(ids)[ref],
                         "option_a": np.array(ids)[a], "option_b": np.array(ids)[b], "chose_a": chose_a})
    train, test = two_afc_triplets(rows.iloc[:2000], ids), two_afc_triplets(rows.iloc[2000:], ids)
    fitted = BehaviouralAlignment(alpha=1e-3).fit(x, train)
    before = _two_afc_accuracy((x - x.mean(0)) / x.std(0), test)
    after = _two_afc_accuracy(fitted.transform(x), test)
    truth = _two_afc_accuracy(z, test)
    assert after > before + 0.03, (before, after, truth)
    assert after <= truth + 0.02
