"""analyses/combined_reward_study.py: the generator, the goal scene and the summaries on a planted history; the quick
and full runs (slow)."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def study():
    path = ROOT / "analyses" / "combined_reward_study.py"
    spec = importlib.util.spec_from_file_location("combined_reward_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_is_seeded_frozen_and_varies_with_its_input(study):
    g, again = study.generator(), study.generator()
    z = torch.randn(6, study.LATENT, generator=torch.Generator().manual_seed(0))
    x = g(z)
    assert x.shape == (6, 3, 64, 64) and x.min() >= 0 and x.max() <= 1
    torch.testing.assert_close(x, again(z))
    assert not any(p.requires_grad for p in g.parameters())
    assert x.std(0).mean() > 0.05                      # the images differ between latents (He initialisation)
    zg = z.clone().requires_grad_(True)
    g(zg).mean().backward()
    assert zg.grad.abs().sum() > 0


def test_the_goal_is_a_large_red_star(study):
    from neuroperception.world.vocabulary import COLOURS

    goal = study.goal_image(0)
    assert goal.shape == (1, 3, 64, 64)
    red = torch.tensor(COLOURS["red"])[:, None, None]
    assert ((goal[0] - red).abs().max(0).values < 0.05).float().mean() > 0.03      # a large patch of red


def _history():
    rows = []
    for seed in (0, 1):
        for objective, gain in (("goal", 1.0), ("preference", 2.0), ("combined", 4.0 + seed)):
            for step in (0, 10):
                for image in (0, 1):
                    value = gain * step / 10
                    rows.append({"seed": seed, "objective": objective, "step": step, "image": image,
                                 "goal": value, "preference": -value, "text judge": value, "gold judge": 2 * value})
    return pd.DataFrame(rows)


def test_changes_summary_and_paired_differences(study):
    seeds = study.per_seed(_history()).set_index(["seed", "objective"])
    assert seeds.loc[(1, "combined"), "text judge change"] == pytest.approx(5)
    assert seeds.loc[(0, "goal"), "preference change"] == pytest.approx(-1)
    summary = study.summarise(seeds.reset_index()).set_index("objective")
    assert summary.loc["combined", "gold judge change"] == pytest.approx(9)
    diffs = study.differences(seeds.reset_index()).set_index(["judge", "comparison"])
    assert diffs.loc[("text judge", "combined - goal"), "difference"] == pytest.approx(3.5)
    assert diffs.loc[("gold judge", "combined - preference"), "difference"] == pytest.approx(5)


@pytest.mark.slow  # 2 seeds: a reward model each and 3 x 20 generator-input steps, about a minute
def test_quick_run_writes_its_tables_and_figures(study, tmp_path):
    tables = study.run(tmp_path, quick=True)
    for name in ("history.csv", "seeds.csv", "summary.csv", "differences.csv", "terms.png", "samples.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(tables["summary"]) == 3 and len(tables["differences"]) == 4


@pytest.mark.slow  # the full run: 5 seeds, a reward model each and 3 x 100 generator-input steps, about 3 minutes
def test_full_run_the_combination_lies_between_its_terms(study, tmp_path):
    tables = study.run(tmp_path)
    s = tables["summary"].set_index("objective")
    assert s.loc["combined", "goal change low"] > 0 and s.loc["combined", "preference change low"] > 0
    assert s.loc["combined", "goal change"] < s.loc["goal", "goal change"]                   # 0.055 vs 0.121
    assert s.loc["combined", "preference change"] < s.loc["preference", "preference change"]  # 3.2 vs 4.5
    d = tables["differences"].set_index(["judge", "comparison"])
    assert d.loc[("text judge", "combined - goal"), "high"] < 0                                # -0.35: goal alone wins
    assert d.loc[("text judge", "combined - preference"), "low"] > 0                           # +0.095
