"""RL adapters and the Reach-v0 task: gymnasium conformance, SB3 VecEnv API, batching, modes, torchrl, PPO."""

import pickle
import re
import runpy
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from neuroperception.errors import InputError
from neuroperception.rewards import GoalImageReward, RewardFunction
from neuroperception.rewards.adapters import (PerceptualRewardVectorWrapper, PerceptualRewardWrapper,
                                              SB3PerceptualReward)
from neuroperception.rewards.envs import REACH_FAR_ID, REACH_FAR_KWARGS, REACH_ID, ReachEnv
from neuroperception.similarity import L2

ROOT = Path(__file__).resolve().parent.parent


class Redness(RewardFunction):
    """Mean red channel; counts its calls and batch sizes."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def reward(self, images):
        self.batches.append(images.shape[0])
        return images[:, 0].mean(dim=(1, 2))

    def components(self, obs):
        return {"green": self.check(obs)[:, 1].mean(dim=(1, 2))}


def _goal_reward():
    return GoalImageReward(L2(), ReachEnv().goal_image())


def _docs_block(containing: str) -> str:
    """The ```python block of docs/rewards.md that contains ``containing``, as written."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "rewards.md").read_text(encoding="utf-8"), re.S)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"{len(found)} blocks of docs/rewards.md contain {containing!r}"
    return found[0]


def test_check_env_unwrapped_and_wrapped():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(ReachEnv(render_mode="rgb_array"), skip_render_check=False)
        for mode in ("replace", "add", "shape"):
            env = PerceptualRewardWrapper(gym.make(REACH_ID, render_mode="rgb_array"), _goal_reward(), mode=mode,
                                          source="render")
            check_env(env, skip_render_check=False)


def test_reach_dynamics_sparse_reward_and_goal_image():
    env = ReachEnv()
    env.reset(seed=0)
    env.agent = np.array([5, 4])
    obs, r, terminated, _, info = env.step(3)  # right, onto the goal (5, 5)
    assert r == 1.0 and terminated and info["distance"] == 0
    assert np.array_equal(obs, env.goal_image())
    env.agent = np.array([0, 0])
    assert env.step(0)[1] == 0.0 and np.array_equal(env.agent, [0, 0])  # clipped at the border
    a, b = ReachEnv().reset(seed=3)[0], ReachEnv().reset(seed=3)[0]
    assert np.array_equal(a, b)
    with pytest.raises(InputError, match="action"):
        env.step(7)
    with pytest.raises(InputError, match="render_mode"):
        ReachEnv(render_mode="human")


def test_bare_env_truncates_at_its_own_limit_and_make_keeps_the_registered_one():
    env = ReachEnv(goal=(0, 0))
    env.reset(seed=0)
    env.agent = np.array([10, 10])
    flags = [env.step(1)[2:4] for _ in range(50)]  # down, against the border: never reaches the goal
    assert flags[:49] == [(False, False)] * 49 and flags[49] == (False, True)
    env.reset(seed=0)  # a new episode counts from 0 again
    assert env.step(1)[3] is False
    assert ReachEnv(**REACH_FAR_KWARGS).max_episode_steps == 100
    assert ReachEnv(max_episode_steps=None).max_episode_steps is None
    with pytest.raises(InputError, match="max_episode_steps"):
        ReachEnv(max_episode_steps=0)
    made = gym.make(REACH_ID, max_episode_steps=7)  # TimeLimit holds the limit; the env itself does not cut
    assert made.spec.max_episode_steps == 7 and made.unwrapped.max_episode_steps is None
    made.reset(seed=0)
    made.unwrapped.goal = np.array([0, 0])
    made.unwrapped.agent = np.array([10, 10])
    assert [made.step(1)[3] for _ in range(7)] == [False] * 6 + [True]
    assert gym.make(REACH_ID).spec.max_episode_steps == 50


def test_docs_sb3_example_as_written_ends_its_episodes():
    namespace: dict = {}
    exec(_docs_block("DummyVecEnv([ReachEnv] * 4)"), namespace)
    venv = namespace["venv"]
    venv.seed(0)
    venv.reset()
    finished = np.zeros(4, dtype=bool)
    rng = np.random.default_rng(0)
    for _ in range(50):
        _, rewards, dones, infos = venv.step(rng.integers(0, 4, size=4))
        assert np.isfinite(rewards).all()
        finished |= dones
    assert finished.all()  # every bare ReachEnv ended an episode within its 50-step limit
    env = namespace["env"]
    env.reset(seed=0)
    assert env.step(0)[4]["perceptual_reward"] <= 0


@pytest.mark.slow
def test_docs_training_and_subprocess_examples_as_written():
    namespace: dict = {"__name__": "__main__"}
    exec(_docs_block("DummyVecEnv([ReachEnv] * 4)"), namespace)
    exec(_docs_block("evaluate_policy(model"), namespace)
    assert np.isfinite(namespace["mean_return"])
    exec(_docs_block("SubprocVecEnv([make_env] * 4)"), namespace)
    venv = namespace["venv"]
    try:
        venv.seed(0)
        venv.reset()
        _, rewards, _, infos = venv.step(np.array([0, 1, 2, 3]))
        assert [i["env_reward"] + i["perceptual_reward"] for i in infos] == pytest.approx(rewards.tolist(), abs=1e-5)
    finally:
        venv.close()


def _wrapped(i: int):
    """A Reach-v0 environment wrapped with a goal-image reward (module level: the workers import it)."""
    return PerceptualRewardWrapper(ReachEnv(), _goal_reward(), mode="shape", gamma=0.9)


def test_wrapped_envs_pickle_and_step_on_as_the_originals():
    from neuroperception.rewards.adapters import PerceptualRewardTransform

    env = PerceptualRewardWrapper(gym.make(REACH_ID), Redness(), mode="shape", gamma=0.9)
    env.reset(seed=2)
    env.step(1)
    copy = pickle.loads(pickle.dumps(env))
    assert type(copy) is PerceptualRewardWrapper
    for action in (0, 3, 3, 1):
        (obs_a, *rest_a), (obs_b, *rest_b) = copy.step(action)[:4], env.step(action)[:4]
        assert np.array_equal(obs_a, obs_b) and rest_a == rest_b  # same state, same potential, same rewards
    vec = PerceptualRewardVectorWrapper(gym.vector.SyncVectorEnv([ReachEnv, ReachEnv]), Redness(), mode="add")
    assert type(pickle.loads(pickle.dumps(vec))) is PerceptualRewardVectorWrapper
    transform = pickle.loads(pickle.dumps(PerceptualRewardTransform(Redness(), mode="add", scale=2.0)))
    assert type(transform) is PerceptualRewardTransform and transform._core.scale == 2.0
    # the pickles name the public module, whatever file defines the classes
    assert b"neuroperception.rewards.adapters" in pickle.dumps(env)


def test_async_vector_env_steps_wrapped_envs_rebuilt_from_pickles():
    blobs = [pickle.dumps(_wrapped(i)) for i in range(2)]
    venv = gym.vector.AsyncVectorEnv([lambda b=b: pickle.loads(b) for b in blobs], context="fork")
    try:
        venv.reset(seed=[0, 1])
        local = [pickle.loads(b) for b in blobs]
        for k, env in enumerate(local):
            env.reset(seed=k)
        for action in ([0, 1], [3, 3], [2, 0]):
            _, rewards, *_ = venv.step(np.array(action))
            expected = [env.step(a)[1] for env, a in zip(local, action)]
            np.testing.assert_allclose(rewards, expected, atol=1e-6)
    finally:
        venv.close()


def test_goal_image_reward_landscape_is_monotone_toward_goal():
    env, reward = ReachEnv(), _goal_reward()
    frames = np.stack([env.state_image(i, j) for i in range(11) for j in range(11)])
    values = reward(frames).numpy().reshape(11, 11)
    assert values.argmax() == 5 * 11 + 5
    for i in range(11):
        for j in range(11):
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                a, b = i + di, j + dj
                if 0 <= a < 11 and 0 <= b < 11 and abs(a - 5) + abs(b - 5) < abs(i - 5) + abs(j - 5):
                    assert values[a, b] > values[i, j]


def test_reach_far_is_registered_hard_for_random_and_its_landscape_slopes_to_the_goal():
    env = gym.make(REACH_FAR_ID)
    assert env.spec.max_episode_steps == 100
    core = env.unwrapped
    assert (core.grid, tuple(core.goal), core.glow) == (21, (4, 16), 0.6)
    assert gym.make(REACH_ID).unwrapped.grid == 11  # the default task is unchanged
    # a random policy rarely reaches the goal within the limit (10 % over 300 episodes in the analysis)
    module = runpy.run_path(str(ROOT / "analyses" / "reward_rl.py"))
    assert module["_evaluate"](None, 60, seed=20_000, task="reach-far")[0] < 0.2
    assert module["_evaluate"](None, 60, seed=20_000)[0] > 0.15
    with pytest.raises(InputError, match="task='maze'"):
        module["run"](None, task="maze")
    # the pixel-L2 goal-image reward peaks at the goal and its mean falls with every step of distance
    far = ReachEnv(**REACH_FAR_KWARGS)
    reward = GoalImageReward(L2(), far.goal_image())
    frames = np.stack([far.state_image(i, j) for i in range(21) for j in range(21)])
    values = reward(frames).numpy().reshape(21, 21)
    assert values.argmax() == 4 * 21 + 16
    dist = np.abs(np.arange(21)[:, None] - 4) + np.abs(np.arange(21)[None, :] - 16)
    means = np.array([values[dist == d].mean() for d in range(dist.max() + 1)])
    assert (np.diff(means) < 0).all()
    up, total = 0, 0
    for i in range(21):
        for j in range(21):
            for a, b in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
                if 0 <= a < 21 and 0 <= b < 21 and dist[a, b] < dist[i, j]:
                    total, up = total + 1, up + int(values[a, b] > values[i, j])
    assert up / total > 0.9  # measured 0.95; with the default glow of 0.25 it is 0.73


@pytest.mark.parametrize("mode", ["replace", "add", "shape"])
def test_wrapper_modes(mode):
    fn = Redness()
    env = PerceptualRewardWrapper(gym.make(REACH_ID), fn, mode=mode, gamma=0.9, scale=2.0)
    obs, _ = env.reset(seed=1)
    prev = 2.0 * float(fn(obs[None])[0])
    for action in (0, 1, 2, 3, 3):
        obs, reward, terminated, _, info = env.step(action)
        value = 2.0 * float(fn(obs[None])[0])
        assert info["perceptual_reward"] == pytest.approx(value, abs=1e-6)
        assert info["reward/green"] == pytest.approx(float(obs[..., 1].mean() / 255), abs=1e-6)
        expected = {"replace": value, "add": info["env_reward"] + value,
                    "shape": info["env_reward"] + 0.9 * (0.0 if terminated else value) - prev}[mode]
        assert reward == pytest.approx(expected, abs=1e-6)
        prev = value


def test_vector_wrapper_batches_one_call_and_equals_per_env():
    seeds, actions = [0, 1, 2], np.random.default_rng(0).integers(0, 4, size=(60, 3))
    fn = Redness()
    venv = PerceptualRewardVectorWrapper(gym.make_vec(REACH_ID, num_envs=3, vectorization_mode="sync"), fn,
                                         mode="shape", gamma=0.9)
    venv.reset(seed=seeds)
    singles = [PerceptualRewardWrapper(gym.make(REACH_ID), Redness(), mode="shape", gamma=0.9) for _ in seeds]
    for env, s in zip(singles, seeds):
        env.reset(seed=s)
    fn.batches.clear()
    restart = np.zeros(3, dtype=bool)
    n_restarts = 0
    for a in actions:
        _, rewards, term, trunc, info = venv.step(a)
        for k, env in enumerate(singles):
            if restart[k]:  # the vector env's autoreset step: the environment's own reward only
                env.reset()
                assert rewards[k] == 0.0
                n_restarts += 1
                continue
            _, r, *_ = env.step(int(a[k]))
            assert rewards[k] == pytest.approx(r, abs=1e-6)
        restart = term | trunc
    assert fn.batches == [3] * len(actions)  # one batched reward call per vector step
    assert info["_perceptual_reward"].all() and info["perceptual_reward"].shape == (3,)
    assert n_restarts > 0


def test_sb3_vecenv_api_and_terminal_observation():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    sb3_check_env(ReachEnv(), warn=False)
    fn = Redness()
    venv = SB3PerceptualReward(DummyVecEnv([lambda: gym.make(REACH_ID) for _ in range(2)]), fn, mode="replace")
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
    assert venv.observation_space.shape == (64, 64, 3)
    fn.batches.clear()
    seen_done = False
    for _ in range(60):
        obs, rewards, dones, infos = venv.step(np.array([0, 1]))
        assert rewards.shape == (2,) and rewards.dtype == np.float32 and dones.shape == (2,)
        for i in range(2):
            frame = infos[i]["terminal_observation"] if dones[i] else obs[i]
            assert rewards[i] == pytest.approx(float(frame[..., 0].mean() / 255), abs=1e-5)
            seen_done |= bool(dones[i])
    assert seen_done  # time limit reached: the terminal frame was rewarded, not the reset frame
    assert fn.batches == [2] * 60


def test_sb3_shaping_sums_to_potential_difference():
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = SB3PerceptualReward(DummyVecEnv([lambda: ReachEnv()]), _goal_reward(), mode="shape", gamma=1.0)
    venv.seed(4)
    obs = venv.reset()
    phi0 = float(_goal_reward()(obs)[0])
    total = 0.0
    for a in [3, 3, 1, 1, 0, 2]:
        obs, r, done, info = venv.step(np.array([a]))
        total += float(r[0]) - info[0]["env_reward"]
        if done[0]:
            break
    last = 0.0 if done[0] else float(_goal_reward()(obs)[0])
    assert total == pytest.approx(last - phi0, abs=1e-4)  # telescoping with gamma = 1


def test_torchrl_transform_on_tensordict():
    from tensordict import TensorDict

    from neuroperception.rewards.adapters import PerceptualRewardTransform

    frames = torch.from_numpy(np.stack([ReachEnv().state_image(i, 5) for i in range(4)])).reshape(2, 2, 64, 64, 3)
    td = TensorDict({"pixels": frames, "reward": torch.ones(2, 2, 1)}, batch_size=[2, 2])
    fn = Redness()
    out = PerceptualRewardTransform(fn, mode="add", scale=3.0)._call(td.clone())
    expected = 1.0 + 3.0 * frames[..., 0].float().mean(dim=(-1, -2)) / 255
    assert out["reward"].shape == (2, 2, 1)
    torch.testing.assert_close(out["reward"][..., 0], expected)
    assert fn.batches[-1] == 4
    with pytest.raises(InputError, match="mode"):
        PerceptualRewardTransform(fn, mode="shape")


def test_torchrl_transform_in_an_env_rollout():
    from torchrl.envs import GymEnv, TransformedEnv

    from neuroperception.rewards.adapters import PerceptualRewardTransform

    env = TransformedEnv(GymEnv(REACH_ID), PerceptualRewardTransform(_goal_reward()))
    env.set_seed(0)
    rollout = env.rollout(5)
    expected = _goal_reward()(rollout["next", "pixels"])
    torch.testing.assert_close(rollout["next", "reward"][..., 0], expected)


def test_errors():
    with pytest.raises(InputError, match="mode='bonus'"):
        PerceptualRewardWrapper(gym.make(REACH_ID), Redness(), mode="bonus")
    with pytest.raises(InputError, match="RewardFunction"):
        PerceptualRewardWrapper(gym.make(REACH_ID), lambda x: x)
    with pytest.raises(InputError, match="render_mode"):
        PerceptualRewardWrapper(gym.make(REACH_ID), Redness(), source="render")
    with pytest.raises(InputError, match="gamma"):
        PerceptualRewardWrapper(gym.make(REACH_ID), Redness(), gamma=1.5)
    bad = gym.make("CartPole-v1")  # vector observations are not images
    env = PerceptualRewardWrapper(bad, Redness())
    env.reset(seed=0)
    with pytest.raises(InputError):
        env.step(0)
    env = PerceptualRewardWrapper(gym.make(REACH_ID), Redness(), obs_key="pixels")
    env.reset(seed=0)
    with pytest.raises(InputError, match="pixels"):
        env.step(0)


def test_missing_extra_names_it(monkeypatch):
    import builtins

    import neuroperception.rewards.adapters as adapters

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("stable_baselines3"):
            raise ImportError("no module")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.delitem(adapters.__dict__, "SB3PerceptualReward", raising=False)
    import sys
    for mod in [m for m in sys.modules if m.startswith("stable_baselines3")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(ImportError, match=r"neuroperception\[rl\]"):
        adapters.SB3PerceptualReward


def test_short_ppo_run_logs(tmp_path):
    module = runpy.run_path(str(ROOT / "analyses" / "reward_rl.py"))
    summary = module["run"](tmp_path, steps=256, eval_every=256, n_eval=2)
    assert set(summary["condition"]) == {"sparse", "goal image (shaped)", "random policy"}
    assert (tmp_path / "learning_curves.png").stat().st_size > 5000
    curves = (tmp_path / "curves.csv").read_text().splitlines()
    assert len(curves) == 1 + 2 * 2  # a checkpoint before and after training, per condition
    assert summary["final success"].between(0, 1).all()


@pytest.mark.slow
def test_ppo_with_goal_image_reward_beats_a_random_policy(tmp_path):
    # Faster learning than with the sparse reward is shown on ReachFar-v0 over four seeds of 20,000 steps
    # (docs/rewards.md; about 50 minutes of CPU, too long even for a slow test). On Reach-v0, run here, sparse
    # PPO already solves the task within ~3000 steps, so only the gap to a random policy is asserted.
    module = runpy.run_path(str(ROOT / "analyses" / "reward_rl.py"))
    summary = module["run"](tmp_path, steps=10_000, task="reach").set_index("condition")
    shaped, rand = summary.loc["goal image (shaped)"], summary.loc["random policy"]
    assert shaped["final success"] > rand["final success"] + 0.3


@pytest.mark.parametrize("name", ["PerceptualRewardWrapper", "PerceptualRewardVectorWrapper", "SB3PerceptualReward",
                                  "PerceptualRewardTransform"])
def test_lazily_built_adapter_examples_run(name):
    """The adapters carry the public module's name, so pytest's doctest collection of their own modules skips them."""
    import doctest

    from neuroperception.rewards import adapters

    cls = getattr(adapters, name)
    tests = [t for t in doctest.DocTestFinder().find(cls, name, globs={}) if t.examples]
    assert tests, f"{name} has no doctest examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    assert runner.summarize(verbose=False).failed == 0


def test_seed_runs_combine_into_steps_to_success_and_means(tmp_path):
    module = runpy.run_path(str(ROOT / "analyses" / "reward_rl.py"))
    dirs = {}
    for seed, (sparse, shaped) in {0: ([0, 0.1, 0.9, 1.0], [0, 0.85, 1.0, 1.0]), 1: ([0, 0, 0, 0.5], [0, 0, 0.8, 1])}.items():
        dirs[seed] = tmp_path / f"seed_{seed}"
        dirs[seed].mkdir()
        rows = [{"condition": c, "steps": 1000 * k, "success rate": v, "episode length": 10}
                for c, vals in (("sparse", sparse), ("goal image (shaped)", shaped)) for k, v in enumerate(vals)]
        pd.DataFrame(rows).to_csv(dirs[seed] / "curves.csv", index=False)
    table = module["combine_seeds"](dirs, tmp_path / "combined")
    first = table.set_index(["seed", "condition"])["steps to 80% success"]
    assert first[(0, "sparse")] == 2000 and first[(0, "goal image (shaped)")] == 1000
    assert np.isnan(first[(1, "sparse")]) and first[(1, "goal image (shaped)")] == 2000
    mean = table[table["seed"] == "mean"].set_index("condition")["area under success curve"]
    assert mean["sparse"] == pytest.approx(np.mean([0.5, 0.125])) and mean["goal image (shaped)"] == pytest.approx(
        np.mean([0.7125, 0.45]))
    assert (tmp_path / "combined" / "learning_curves_seeds.png").stat().st_size > 5000
