"""analyses/preference_study.py: the planted preference, the judgement sampler and the summary; the quick run (slow)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("preference_study", ROOT / "analyses" / "preference_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_judgements_follow_the_planted_utility_and_flip_at_the_asked_rate(study):
    objects = pd.DataFrame({"colour": ["red", "blue", "red"], "size_name": ["large", "small", "small"],
                            "category": ["star", "star", "ring"]})
    np.testing.assert_allclose(study.planted_utility(objects), [3.5, 1.0, 1.5])
    utility = {f"s{i}": float(i % 7) for i in range(50)}
    ids = np.array(list(utility))
    clean = study.judgements(ids, utility, 4000, np.random.default_rng(0))
    truth = np.array([utility[a] > utility[b] for a, b in zip(clean["first"], clean["second"])])
    assert (clean["label"].to_numpy() == truth).all()
    noisy = study.judgements(ids, utility, 4000, np.random.default_rng(0), flip=0.3)
    truth = np.array([utility[a] > utility[b] for a, b in zip(noisy["first"], noisy["second"])])
    assert abs(np.mean(noisy["label"].to_numpy() != truth) - 0.3) < 0.03


def test_summary_means_and_intervals(study):
    scores = pd.DataFrame({"seed": [0, 1, 0, 1], "flip": [0.3] * 4, "model": ["plain", "plain", "robust", "robust"],
                           "accuracy": [0.7, 0.8, 0.75, 0.85], "ece": [0.1, 0.2, 0.1, 0.1]})
    s = study.summarise(scores).set_index("model")
    assert s.loc["plain", "accuracy"] == pytest.approx(0.75) and s.loc["robust", "ece"] == pytest.approx(0.1)
    assert s.loc["plain", "accuracy low"] < 0.75 < s.loc["plain", "accuracy high"]


@pytest.mark.slow  # 2 seeds x 3 noise levels x 3 models on world:cnn features, about a minute
def test_quick_run_writes_its_tables_and_figure(study, tmp_path):
    tables = study.run(tmp_path, quick=True)
    for name in ("scores.csv", "summary.csv", "noise.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(tables["summary"]) == 9 and (tables["scores"]["accuracy"] > 0.5).all()


@pytest.mark.slow  # the full run: 5 seeds, 800 scenes, 1500 judgements per condition, about 7 minutes
def test_full_run_accuracy_falls_with_noise_and_the_robust_loss_is_not_worse(study, tmp_path):
    from scipy import stats

    scores = study.run(tmp_path)["scores"]
    acc = scores.pivot_table(index="seed", columns=["flip", "model"], values="accuracy")
    drop = acc[(0.0, "plain")] - acc[(0.3, "plain")]
    assert drop.mean() - stats.t.ppf(0.975, 4) * drop.std(ddof=1) / np.sqrt(5) > 0   # 0.80 -> 0.71
    gain = acc[(0.3, "robust")] - acc[(0.3, "plain")]
    assert gain.mean() > 0                                                              # +0.020, not separated
    ece = scores.groupby("model")["ece"].mean()
    assert ece["robust"] > ece["plain"]                                                 # sharper than warranted
