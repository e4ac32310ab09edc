"""Reward overhead in an RL loop: adapter step vs bare reward forward, and vector batching vs per-env calls.

Goals: a ``SB3PerceptualReward`` step (Reach-v0, 8 envs, ``GoalImageReward`` with LPIPS on a seeded
random AlexNet; and a learned ``PreferenceReward``, a 5-head ensemble on the same LPIPS embedding
trained on judgements of which frame is nearer the goal) costs at most 1.1x the environment step plus
the bare batched reward forward; one batched reward call across 8 envs is faster than 8 per-env calls
(same values, checked).

Run: ``python benchmarks/rewards.py`` (or ``make bench``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import compare, environment, markdown_table, write_section  # noqa: E402

import pandas as pd  # noqa: E402

from neuroperception.rewards import GoalImageReward, PreferenceReward  # noqa: E402
from neuroperception.rewards.adapters import SB3PerceptualReward  # noqa: E402
from neuroperception.rewards.envs import ReachEnv  # noqa: E402
from neuroperception.similarity import LPIPS  # noqa: E402

N_ENVS, STEPS = 8, 20


def _learned(lpips) -> PreferenceReward:
    """A 5-head preference ensemble on the LPIPS embedding, taught that frames nearer the goal are better."""
    env = ReachEnv()
    cells = [(r, c) for r in range(11) for c in range(11)]
    images = {f"{r}-{c}": torch.from_numpy(env.state_image(r, c)).permute(2, 0, 1).float() / 255 for r, c in cells}
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(cells), 400), rng.integers(0, len(cells), 400)
    dist = np.array([abs(r - 5) + abs(c - 5) for r, c in cells])
    keep = dist[a] != dist[b]
    names = list(images)
    judgements = pd.DataFrame({"first": [names[i] for i in a[keep]], "second": [names[i] for i in b[keep]],
                               "label": (dist[a[keep]] < dist[b[keep]]).astype(float)})
    return PreferenceReward(lpips, n_ensemble=5, max_epochs=20, progress=False).fit(images, judgements).eval()


def _overhead(name: str, reward) -> dict:
    from stable_baselines3.common.vec_env import DummyVecEnv

    bare = DummyVecEnv([ReachEnv for _ in range(N_ENVS)])
    wrapped = SB3PerceptualReward(DummyVecEnv([ReachEnv for _ in range(N_ENVS)]), reward, components=False)
    bare.reset(), wrapped.reset()
    actions = np.random.default_rng(0).integers(0, 4, size=(STEPS, N_ENVS))

    def loop_bare():
        with torch.no_grad():
            for a in actions:
                obs, *_ = bare.step(a)
                reward(obs)

    def loop_wrapped():
        for a in actions:
            wrapped.step(a)

    t_bare, t_wrapped = compare(loop_bare, loop_wrapped)
    return {"case": f"SB3 step + reward vs step + bare forward, {name} ({N_ENVS} envs, {STEPS} steps)",
            "ours (s)": t_wrapped, "reference (s)": t_bare, "ratio": t_wrapped / t_bare, "goal": "<= 1.1"}


def run() -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lpips = LPIPS("alex", random_state=0)
        reward = GoalImageReward(lpips, ReachEnv().goal_image()).eval()
        learned = _learned(LPIPS("alex", random_state=0))
    frames = np.stack([ReachEnv().state_image(i, 2) for i in range(N_ENVS)])

    def batched():
        with torch.no_grad():
            return reward(frames)

    def per_env():
        with torch.no_grad():
            return torch.cat([reward(frames[i:i + 1]) for i in range(N_ENVS)])

    torch.testing.assert_close(batched(), per_env(), rtol=1e-4, atol=1e-5)
    rows = [_overhead("goal image (LPIPS)", reward), _overhead("learned preference ensemble (5 heads on LPIPS)", learned)]
    t_batched, t_per_env = compare(batched, per_env)
    rows.append({"case": f"one batched call vs {N_ENVS} per-env calls", "ours (s)": t_batched,
                 "reference (s)": t_per_env, "ratio": t_batched / t_per_env, "goal": "< 1"})
    return rows


def main() -> None:
    rows = run()
    table = markdown_table(rows)
    print(table)
    write_section("rewards", f"## Rewards in RL loops (`benchmarks/rewards.py`)\n\n"
                  "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/rewards.py`; medians of alternating "
                  "runs after a warm-up (`compare`), the bare loop and the adapter loop on the same actions. The "
                  f"learned reward is a 5-head `PreferenceReward` fitted in the script. {environment()}.\n\n{table}")


if __name__ == "__main__":
    main()
