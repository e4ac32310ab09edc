"""``neuroperception/WorldPaint-v0``: change one world object's shape and colour until it matches a goal given in words.

A text-goal task of the miniature world (after the VLM-RM setting, where the goal is given only as a
sentence): every episode shows one object of the :mod:`~neuroperception.world` on a world background,
drawn from a pool of ``n_layouts`` layouts (position, size, texture, background). The agent sees
only the 64×64 render; its four actions step the object's category forward or back through
:data:`~neuroperception.world.vocabulary.CATEGORIES` and its colour forward or back through
:data:`~neuroperception.world.vocabulary.COLOURS` (both cyclic), keeping the layout. The goal
(default a red star, :attr:`WorldPaintEnv.goal_caption` ``"a red star"``) is reached when both match:
reward 1 and the episode ends; otherwise the reward is 0. Episodes are cut after
``max_episode_steps`` steps (20 by default; the farthest start is 7 steps away). Texture, size,
position and background vary from layout to layout and do not matter for the task: the irrelevant
attributes a text reward should ignore.

Renders are cached per (layout, category, colour), so an episode costs a render only the first time a
state is seen (about 10 ms). Importing the module registers the task with gymnasium (the
``neuroperception[rl]`` extra).

Examples
--------
>>> import gymnasium as gym
>>> env = gym.make("neuroperception/WorldPaint-v0")
>>> obs, info = env.reset(seed=0)
>>> obs.shape, obs.dtype, env.unwrapped.goal_caption, info["distance"] > 0
((64, 64, 3), dtype('uint8'), 'a red star', True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("neuroperception.rewards.world_envs needs gymnasium: pip install 'neuroperception[rl]'") from exc

from .._validation import describe
from ..errors import InputError
from ..world import render_scenes
from ..world.vocabulary import CATEGORIES, COLOURS

__all__ = ["WorldPaintEnv", "WORLD_PAINT_ID", "WORLD_PAINT_MAX_STEPS"]

#: The gymnasium id of the task.
WORLD_PAINT_ID = "neuroperception/WorldPaint-v0"
#: The episode limit (and the default of :class:`WorldPaintEnv`).
WORLD_PAINT_MAX_STEPS = 20


def _cyclic(a: int, b: int, n: int) -> int:
    d = abs(a - b) % n
    return min(d, n - d)


class WorldPaintEnv(gym.Env):
    """One world object whose category and colour the agent steps through; the goal is a caption.

    Parameters
    ----------
    render_mode : {None, "rgb_array"}
    goal : (str, str)
        The goal's category and colour (default ``("star", "red")``).
    n_layouts : int
        Layouts (position, size, texture, background) an episode is drawn from.
    layout_seed : int
        Seeds the layouts: layout ``i`` is :func:`~neuroperception.world.render_scenes` with
        ``random_state=np.random.default_rng([layout_seed, i])``, one object.
    size : int
        Image side in pixels.
    max_episode_steps : int or None
        Episode limit enforced by the environment (``gymnasium.make`` uses gymnasium's ``TimeLimit``).

    Attributes
    ----------
    goal_caption : str
        ``"a <colour> <category>"``, the goal in words (a :class:`~neuroperception.rewards.TextGoalReward`
        prompt).
    category, colour, layout : int
        The current state (indices into the vocabulary and the layout pool).

    Examples
    --------
    >>> env = WorldPaintEnv(n_layouts=2)
    >>> obs, info = env.reset(seed=1)
    >>> obs, reward, terminated, truncated, info = env.step(2)   # next colour
    >>> sorted(info), env.state_image(0, "star", "red").shape
    (['category', 'colour', 'distance', 'layout', 'matches'], (64, 64, 3))
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None, goal: tuple[str, str] = ("star", "red"), n_layouts: int = 32,
                 layout_seed: int = 0, size: int = 64, *, max_episode_steps: int | None = WORLD_PAINT_MAX_STEPS):
        if render_mode not in (None, "rgb_array"):
            raise InputError(f"WorldPaintEnv: received render_mode={render_mode!r}; expected None or 'rgb_array'")
        if (not isinstance(goal, (tuple, list)) or len(goal) != 2 or goal[0] not in CATEGORIES
                or goal[1] not in COLOURS):
            raise InputError(f"WorldPaintEnv: received goal={goal!r}; expected (category, colour) with a category "
                             f"of {list(CATEGORIES)} and a colour of {list(COLOURS)}")
        for name, value, low in (("n_layouts", n_layouts, 1), ("size", size, 32), ("layout_seed", layout_seed, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise InputError(f"WorldPaintEnv: received {name}={describe(value)}; expected an int >= {low}")
        limit = max_episode_steps
        if limit is not None and (not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 1):
            raise InputError(f"WorldPaintEnv: received max_episode_steps={max_episode_steps!r}; expected a positive "
                             "int or None (no limit)")
        self.render_mode = render_mode
        self.max_episode_steps = None if limit is None else int(limit)
        self.goal = (str(goal[0]), str(goal[1]))
        self._goal_index = (list(CATEGORIES).index(self.goal[0]), list(COLOURS).index(self.goal[1]))
        self.goal_caption = f"a {self.goal[1]} {self.goal[0]}"
        self.n_layouts, self.layout_seed, self.size = int(n_layouts), int(layout_seed), int(size)
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self.action_space = spaces.Discrete(4)
        self.layout, self.category, self.colour = 0, 0, 0
        self._elapsed = 0
        self._cache: dict[tuple[int, int, int], np.ndarray] = {}

    # -- rendering ---------------------------------------------------------------------------
    def _render(self, layout: int, category: int, colour: int) -> np.ndarray:
        key = (layout, category, colour)
        if key not in self._cache:
            scene = render_scenes(1, size=self.size, n_objects=1, categories=[CATEGORIES[category]],
                                  colours=[list(COLOURS)[colour]],
                                  random_state=np.random.default_rng([self.layout_seed, layout]))
            image = scene.images.images[0].numpy().transpose(1, 2, 0)
            self._cache[key] = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
        return self._cache[key]

    def state_image(self, layout: int, category: str, colour: str) -> np.ndarray:
        """The render ``(size, size, 3)`` uint8 of a state: layout index, category and colour names."""
        if category not in CATEGORIES or colour not in COLOURS or not 0 <= int(layout) < self.n_layouts:
            raise InputError(f"state_image: received ({layout!r}, {category!r}, {colour!r}); expected a layout in "
                             f"[0, {self.n_layouts}), a category of {list(CATEGORIES)} and a colour of {list(COLOURS)}")
        return self._render(int(layout), list(CATEGORIES).index(category), list(COLOURS).index(colour)).copy()

    def _obs(self) -> np.ndarray:
        return self._render(self.layout, self.category, self.colour).copy()  # callers keep what they get

    def render(self) -> np.ndarray | None:
        """The current frame (``render_mode="rgb_array"``), else None."""
        return self._obs() if self.render_mode == "rgb_array" else None

    # -- dynamics ----------------------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        gc, gk = self._goal_index
        matches = int(self.category == gc) + int(self.colour == gk)
        distance = _cyclic(self.category, gc, len(CATEGORIES)) + _cyclic(self.colour, gk, len(COLOURS))
        return {"layout": self.layout, "category": CATEGORIES[self.category], "colour": list(COLOURS)[self.colour],
                "matches": matches, "distance": distance}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode: a random layout and a random category and colour other than the goal's."""
        super().reset(seed=seed)
        self.layout = int(self.np_random.integers(self.n_layouts))
        while True:
            self.category = int(self.np_random.integers(len(CATEGORIES)))
            self.colour = int(self.np_random.integers(len(COLOURS)))
            if (self.category, self.colour) != self._goal_index:
                break
        self._elapsed = 0
        return self._obs(), self._info()

    def step(self, action):
        """0/1: next/previous category; 2/3: next/previous colour. Reward 1 and ``terminated`` at the goal."""
        if not self.action_space.contains(action):
            raise InputError(f"WorldPaintEnv.step: received action {action!r}; expected an int in [0, 3]")
        action = int(action)
        if action < 2:
            self.category = (self.category + (1 if action == 0 else -1)) % len(CATEGORIES)
        else:
            self.colour = (self.colour + (1 if action == 2 else -1)) % len(COLOURS)
        self._elapsed += 1
        terminated = (self.category, self.colour) == self._goal_index
        truncated = (not terminated and self.max_episode_steps is not None
                     and self._elapsed >= self.max_episode_steps)
        return self._obs(), float(terminated), terminated, truncated, self._info()


if WORLD_PAINT_ID not in gym.registry:
    gym.register(id=WORLD_PAINT_ID, entry_point=f"{__name__}:WorldPaintEnv", max_episode_steps=WORLD_PAINT_MAX_STEPS,
                 kwargs={"max_episode_steps": None})
