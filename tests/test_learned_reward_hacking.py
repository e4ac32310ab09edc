"""analyses/learned_reward_hacking.py: the pixel gold, the differentiable extractor, the conservative objective and
the summaries on planted histories; the quick and full runs (slow)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def study():
    path = ROOT / "analyses" / "learned_reward_hacking.py"
    spec = importlib.util.spec_from_file_location("learned_reward_hacking", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _filled(rgb, shade=1.0):
    return torch.tensor(rgb, dtype=torch.float32)[:, None, None].expand(3, 8, 8) * shade


def test_gold_is_the_red_area_and_no_other_world_colour_counts(study):
    from neuroperception.world.vocabulary import COLOURS, SHADE

    for name, rgb in COLOURS.items():
        for shade in (1.0, SHADE):
            gold = float(study.gold_utility(_filled(rgb, shade)[None])[0])
            assert gold > 99 if name == "red" else gold < 1, (name, shade, gold)
    grey = torch.full((1, 3, 8, 8), 0.6)
    half = grey.clone()
    half[0, :, :4] = _filled(COLOURS["red"])[:, :4]
    assert float(study.gold_utility(grey)[0]) < 1 and float(study.gold_utility(half)[0]) == pytest.approx(50, abs=1)


def test_the_extractor_has_gradients_and_matches_the_preference_studys(study):
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    f = study.pool_features(x)
    other = study._preference_study()
    other._CNN = study._CNN                                  # one load of world:cnn
    torch.testing.assert_close(f.detach(), other.cnn_features(x.detach()))
    f.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_conservative_objective_is_mean_minus_k_std(study):
    class Heads:
        def utilities(self, images):
            return torch.stack([images.sum((1, 2, 3)), 3 * images.sum((1, 2, 3))])

    x = torch.ones(2, 3, 2, 2)
    u = torch.tensor([12.0, 36.0])
    torch.testing.assert_close(study.conservative(Heads(), 1.0)(x), torch.full((2,), u.mean() - u.std()))


def _history():
    rows = []
    for seed in (0, 1, 2):
        for objective, slope in (("single head", -1.0), ("ensemble mean", 1.0)):
            for step in (0, 10, 20):
                for image in (0, 1):
                    rows.append({"seed": seed, "objective": objective, "step": step, "image": image,
                                 "reward": step + image + seed, "gold": 5 + slope * step / 10 + (step == 10) * 3,
                                 "uncertainty": 0.1 * step})
    return pd.DataFrame(rows)


def test_per_seed_summary_and_differences_on_a_planted_history(study):
    seeds = study.per_seed(_history()).set_index(["seed", "objective"])
    assert seeds.loc[(0, "single head"), "gold change"] == pytest.approx(-2)
    assert seeds.loc[(0, "ensemble mean"), "gold change"] == pytest.approx(2)
    assert seeds.loc[(1, "single head"), "gold peak change"] == pytest.approx(2)   # the bump at step 10
    assert seeds.loc[(1, "single head"), "gold peak step"] == 10
    assert seeds.loc[(2, "ensemble mean"), "proxy gain (start sd)"] == pytest.approx(20 / np.std([0, 1], ddof=1))
    summary = study.summarise(seeds.reset_index()).set_index("objective")
    assert summary.loc["ensemble mean", "gold change"] == pytest.approx(2)
    diff = study.differences(seeds.reset_index())
    assert diff["comparison"].tolist() == ["ensemble mean - single head"]
    assert diff["gold change difference"].iloc[0] == pytest.approx(4)


@pytest.mark.slow  # 2 seeds: two reward models each and 3 x 60 pixel-optimisation steps, under a minute
def test_quick_run_writes_its_tables_and_figures(study, tmp_path):
    tables = study.run(tmp_path, quick=True)
    for name in ("history.csv", "summary.csv", "differences.csv", "overoptimization.png", "optimized_images.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(tables["summary"]) == 3 and (tables["summary"]["proxy gain (start sd)"] > 0).all()
    assert (tables["seeds"]["spearman gold vs planted"] > 0.2).all()


@pytest.mark.slow  # the full run: 5 seeds, 800 scenes, two reward models and 3 x 200 pixel steps each, about 6 minutes
def test_full_run_proxies_climb_gold_rises_and_the_ensembles_do_not_separate(study, tmp_path):
    tables = study.run(tmp_path)
    summary = tables["summary"].set_index("objective")
    assert (summary["proxy gain (start sd) low"] > 50).all()                  # 137, 161, 125 start-image sd
    assert (summary["gold change low"] > 0).all()                             # +3.8 to +3.95 points of red area
    np.testing.assert_allclose(summary["gold peak change"], summary["gold change"])   # no turn within 200 steps
    diffs = tables["differences"].set_index("comparison")
    assert (diffs["low"] < 0).all() and (diffs["gold change difference"].abs() < 1).all()   # +0.15, +0.005
