"""WorldPaint-v0: a world object's category and colour stepped by the agent; the goal given as a caption."""

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from neuroperception.errors import InputError  # noqa: E402
from neuroperception.rewards.world_envs import WORLD_PAINT_ID, WorldPaintEnv  # noqa: E402
from neuroperception.world import render_scenes  # noqa: E402
from neuroperception.world.vocabulary import CATEGORIES, COLOURS  # noqa: E402


def test_gymnasium_checks_the_env_and_make_registers_the_limit():
    from gymnasium.utils.env_checker import check_env

    check_env(WorldPaintEnv(n_layouts=2), skip_render_check=True)
    env = gym.make(WORLD_PAINT_ID)
    assert env.spec.max_episode_steps == 20 and env.unwrapped.goal_caption == "a red star"


def test_actions_step_the_category_and_colour_cyclically_and_keep_the_layout():
    env = WorldPaintEnv(n_layouts=3)
    env.reset(seed=4)
    layout, cat, col = env.layout, env.category, env.colour
    _, _, _, _, info = env.step(1)
    assert info["category"] == CATEGORIES[(cat - 1) % len(CATEGORIES)] and info["colour"] == list(COLOURS)[col]
    _, _, _, _, info = env.step(2)
    assert info["colour"] == list(COLOURS)[(col + 1) % len(COLOURS)] and info["layout"] == layout
    # the render is the world's scene of that layout with the object's new attributes, and only those changed
    scene = render_scenes(1, n_objects=1, categories=[info["category"]], colours=[info["colour"]],
                          random_state=np.random.default_rng([0, layout]))
    expected = np.clip(np.round(scene.images.images[0].numpy().transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(env.state_image(layout, info["category"], info["colour"]), expected)
    other = render_scenes(1, n_objects=1, categories=["ring"], colours=["blue"],
                          random_state=np.random.default_rng([0, layout]))
    keep = ["texture", "size_name", "x", "y"]
    assert scene.objects[keep].iloc[0].tolist() == other.objects[keep].iloc[0].tolist()


def test_reaching_the_goal_rewards_one_and_ends_the_episode_on_the_shortest_path():
    env = WorldPaintEnv(n_layouts=2, max_episode_steps=50)
    _, info = env.reset(seed=0)
    distance = info["distance"]
    goal_cat, goal_col = CATEGORIES.index("star"), list(COLOURS).index("red")
    steps, total, done = 0, 0.0, False
    while not done:
        dc = (goal_cat - env.category) % len(CATEGORIES)
        dk = (goal_col - env.colour) % len(COLOURS)
        if dc:
            action = 0 if dc <= len(CATEGORIES) - dc else 1
        else:
            action = 2 if dk <= len(COLOURS) - dk else 3
        _, reward, done, truncated, info = env.step(action)
        total += reward
        steps += 1
        assert not truncated
    assert steps == distance and total == 1.0 and info["matches"] == 2 and info["distance"] == 0


def test_the_env_truncates_at_its_limit_and_never_starts_at_the_goal():
    env = WorldPaintEnv(n_layouts=2, max_episode_steps=3)
    for seed in range(20):
        _, info = env.reset(seed=seed)
        assert info["matches"] < 2
    env.reset(seed=0)
    # stepping the category forward then back never reaches a goal the start did not already have
    outcomes = [env.step(a)[2:4] for a in (0, 1, 0)]
    assert outcomes[-1][1] or outcomes[-1][0]


def test_bad_arguments_and_actions_say_what_was_received():
    with pytest.raises(InputError, match="goal"):
        WorldPaintEnv(goal=("dragon", "red"))
    with pytest.raises(InputError, match="n_layouts"):
        WorldPaintEnv(n_layouts=0)
    with pytest.raises(InputError, match="max_episode_steps"):
        WorldPaintEnv(max_episode_steps=0)
    env = WorldPaintEnv(n_layouts=1)
    env.reset(seed=0)
    with pytest.raises(InputError, match="action"):
        env.step(7)
    with pytest.raises(InputError, match="state_image"):
        env.state_image(3, "star", "red")


def test_the_world_clip_text_reward_plugs_in_and_prefers_the_goal_in_every_layout():
    import torch

    from neuroperception.rewards import TextGoalReward
    from neuroperception.rewards.adapters import PerceptualRewardWrapper

    reward = TextGoalReward("world:clip", "a red star")
    env = WorldPaintEnv(n_layouts=4)
    for layout in range(4):
        frames = np.stack([env.state_image(layout, c, k) for c in CATEGORIES for k in COLOURS])
        values = reward(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255).numpy()
        best = int(np.argmax(values))
        assert (CATEGORIES[best // len(COLOURS)], list(COLOURS)[best % len(COLOURS)]) == ("star", "red")
    wrapped = PerceptualRewardWrapper(gym.make(WORLD_PAINT_ID), reward, mode="add")
    wrapped.reset(seed=0)
    _, r, _, _, info = wrapped.step(0)
    assert r == pytest.approx(info["env_reward"] + info["perceptual_reward"])
