"""analyses/demonstration_steps_study.py: phases, boundary hits, per-phase means, the relative view and the centroid on
planted inputs; the quick and full runs (slow)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("demonstration_steps_study",
                                                  ROOT / "analyses" / "demonstration_steps_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_phases_and_boundary_hits(study):
    labels = study.phase_labels([2, 0], [5, 3], 6)
    assert labels.tolist() == [[0, 0, 1, 1, 1, 2], [1, 1, 1, 2, 2, 2]]
    hits = study.within_one([[2, 5], [1, 5], [2, 7]], [[2, 5], [2, 4], [2, 5]])
    assert hits.tolist() == [True, True, False]


def test_phase_means_and_strict_rises(study):
    labels = np.array([[0, 0, 1, 2], [0, 1, 1, 2], [1, 1, 2, 2]])
    reward = np.array([[0.0, 0.2, 0.5, 0.9], [0.3, 0.2, 0.2, 0.1], [0.4, 0.6, 0.9, 0.9]])
    means = study.phase_means(reward, labels)
    np.testing.assert_allclose(means[:2], [[0.1, 0.5, 0.9], [0.3, 0.2, 0.1]])
    assert np.isnan(means[2, 0]) and means[2, 1] == pytest.approx(0.5)
    assert study.rises(means).tolist() == [True, False, False]


def test_relative_view_is_grey_until_something_changes(study):
    videos = torch.rand(2, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    videos[:, 1] = videos[:, 0]
    rel = study.relative(videos)
    assert torch.allclose(rel[:, :2], torch.full_like(rel[:, :2], 0.5))
    assert rel.min() >= 0 and rel.max() <= 1
    torch.testing.assert_close(rel[:, 3] - rel[:, 2], (videos[:, 3] - videos[:, 2]) / 2)


def test_colour_centroid_follows_a_planted_square(study):
    image = torch.full((1, 3, 16, 16), 0.5)
    image[0, 0, 2:4, 10:12] = 1.0            # a red square centred at x = 10.5, y = 2.5
    f = study.colour_centroid(image)[0]
    assert f[0].item() == pytest.approx(10.5) and f[3].item() == pytest.approx(2.5)


def test_summary_means_and_intervals(study):
    import pandas as pd

    table = pd.DataFrame({"seed": [0, 1, 0, 1], "feature": ["a", "a", "b", "b"], "x": [0.4, 0.6, 1.0, 1.0]})
    s = study.summarise(table, ["feature"], ["x"]).set_index("feature")
    assert s.loc["a", "x"] == pytest.approx(0.5) and s.loc["a", "x low"] < 0.5 < s.loc["a", "x high"]
    assert s.loc["b", "x low"] == pytest.approx(1.0)


@pytest.mark.slow  # 2 seeds of 16 demonstrations and 8 held-out episodes, two features, about half a minute
def test_quick_run_writes_its_tables_and_figures(study, tmp_path):
    tables = study.run(tmp_path, quick=True)
    for name in ("boundaries.csv", "boundaries_summary.csv", "phases.csv", "phases_summary.csv", "demonstration.png",
                 "phase_reward.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(tables["boundaries_summary"]) == 6 and len(tables["phases_summary"]) == 8


@pytest.mark.slow  # the full run: 5 seeds of 40 demonstrations and 20 held-out episodes, about 2 minutes
def test_full_run_motion_finds_the_steps_and_only_the_relative_reward_rises(study, tmp_path):
    tables = study.run(tmp_path)
    b = tables["boundaries_summary"].set_index(["feature", "signal"])
    assert b.loc[("colour centroid", "motion"), "within one frame low"] > 0.85           # 0.93 (0.90-0.96)
    assert b.loc[("colour centroid", "frames"), "within one frame high"] < 0.1           # 0.005
    p = tables["phases_summary"].set_index(["feature", "view", "steps"])
    for feature in ("colour centroid", "world:cnn pool"):
        absolute = p.loc[(feature, "absolute", "true")]
        assert absolute["reward placed"] - absolute["reward wait"] < 0.05                # 0.50 -> 0.52
        relative = p.loc[(feature, "relative", "true")]
        assert relative["reward wait high"] < relative["reward move low"]                  # 0.00 -> 0.68 -> 0.79
        assert relative["reward move high"] < relative["reward placed low"]
        assert relative["rising share"] > 0.9
