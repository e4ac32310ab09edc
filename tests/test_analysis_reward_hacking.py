"""analyses/reward_hacking.py: its helpers on planted landscapes, and the quick run's key results."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load():
    spec = importlib.util.spec_from_file_location("reward_hacking", ROOT / "analyses" / "reward_hacking.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def analysis():
    return _load()


def test_step_value_recovers_planted_slopes(analysis):
    goal = (2, 5)
    dist = analysis.manhattan(7, goal)
    assert dist[goal] == 0 and dist[0, 0] == 7 and dist[6, 6] == 5
    assert analysis.step_value(-dist, goal) == pytest.approx(1.0)
    assert analysis.step_value(3.0 - 0.25 * dist, goal) == pytest.approx(0.25)
    assert analysis.step_value(dist.astype(float), goal) == pytest.approx(-1.0)  # a reward pointing away
    # a quadratic bowl: mean of (d^2 - (d-1)^2) = 2d - 1 over every goal-ward move, computed by brute force
    bowl = -(dist.astype(float) ** 2)
    moves = [2 * dist[i, j] - 1 for i in range(7) for j in range(7) for a, b in ((i - 1, j), (i + 1, j),
             (i, j - 1), (i, j + 1)) if 0 <= a < 7 and 0 <= b < 7 and dist[a, b] == dist[i, j] - 1]
    assert analysis.step_value(bowl, goal) == pytest.approx(np.mean(moves))


def test_toward_goal_moves_exactly_k_cells_closer(analysis):
    goal = (5, 5)
    for cell in [(0, 0), (10, 10), (0, 7), (5, 0), (9, 5)]:
        d0 = abs(cell[0] - goal[0]) + abs(cell[1] - goal[1])
        for k in range(d0 + 1):
            r, c = analysis.toward_goal(cell, goal, k)
            assert abs(r - goal[0]) + abs(c - goal[1]) == d0 - k
    assert analysis.toward_goal(goal, goal, 3) == goal  # already there: stays


def test_attacked_images_figure_titles_each_column_by_its_gain_in_steps(analysis):
    import matplotlib.pyplot as plt
    import torch

    def brightness(x):  # every pixel +eps buys exactly eps, under any shift, flip or zoom too
        return x.mean(dim=(1, 2, 3))

    clean = torch.full((2, 3, 8, 8), 0.5)
    clean[1] = 0.3
    eps = (0.01, 0.05)
    _, attacks = analysis.attack_table({"bright": brightness}, clean, eps=eps, steps=4, n_transforms=2,
                                       return_images=True)
    step = {"bright": 0.01, "bright averaged": 0.02}
    fig = analysis._attacked_images_figure(attacks, clean, max(eps), step)
    try:
        assert len(fig.axes) == 6  # (clean, attacked, delta) x (plain, averaged)
        plain, averaged = (a.get_title() for a in fig.axes[:2])
        assert plain == "bright plain\n+5.00 steps"  # eps 0.05 bought by every pixel, over a step of 0.01
        # the averaged attack's own gain for the first frame: pixels no zoomed view samples get no gradient
        expected = float(attacks["bright", "averaged", 0.05].gains[0]) / 0.02
        assert averaged == f"bright averaged\n{expected:+.2f} steps" and 1.0 < expected <= 2.5
        assert "δ × 8" in fig._suptitle.get_text() and "eps = 12.75/255" in fig._suptitle.get_text()
        shown = fig.axes[4].images[0].get_array()  # the first observation's delta, amplified 8 times
        np.testing.assert_allclose(shown, np.full((8, 8, 3), 0.5 + 8 * 0.05), atol=1e-6)
    finally:
        plt.close(fig)


@pytest.mark.slow
def test_quick_run_shows_hacking_and_its_mitigation(analysis, tmp_path):
    tables = analysis.run(tmp_path, quick=True)
    for name in ("rewards.csv", "attack.csv", "attack.png", "attacked_images.png", "optimization.csv",
                 "optimization_history.csv", "optimization_lpips.png", "overoptimization.png", "optimized_images.png",
                 "landscapes.png", "disagreement.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    rewards = tables["rewards"].set_index("reward")
    assert rewards["peak at goal"].all() and (rewards["Spearman r with -distance"] > 0.9).all()
    assert (rewards["step of progress"] > 0).all()

    attack = tables["attack"].set_index(["reward", "variant", "eps"])["gain_in_steps"]
    eps = max(analysis.CONFIGS[True]["eps"])
    assert attack["LPIPS", "plain", eps] > 2.0  # an invisible perturbation is worth several real moves
    assert attack["LPIPS", "averaged", eps] < attack["LPIPS", "plain", eps] / 3  # E-LPIPS-style averaging helps
    # a smooth pixel reward is bought by about one step and averaging neither helps nor hurts it
    assert attack["L2", "plain", eps] < 1.5
    assert attack["L2", "averaged", eps] == pytest.approx(attack["L2", "plain", eps], rel=0.25)

    opt = tables["optimization"].set_index("condition")
    assert opt.loc["LPIPS", "reward gain (steps)"] > 5 and opt.loc["LPIPS", "SSIM judge gain (steps)"] < 0
    assert opt.loc["L2", ["SSIM judge gain (steps)", "LPIPS (other backbone) gain (steps)"]].min() > 2
    for judge in ("L2 gain (steps)", "LPIPS (other backbone) gain (steps)"):
        assert opt.loc["LPIPS averaged", judge] > opt.loc["LPIPS", judge]

    dis = tables["disagreement"].set_index("observations")["disagreement mean"]
    clean = dis["clean start states"]
    assert dis["optimised on LPIPS"] > 10 * clean
    assert dis["optimised on LPIPS"] > dis["optimised on LPIPS averaged"] > dis["optimised on L2"]
    assert dis[[k for k in dis.index if k.startswith("real progress")][0]] < 2 * clean
