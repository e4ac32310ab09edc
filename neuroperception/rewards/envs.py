"""``neuroperception/Reach-v0``: a dot agent on a plane reaching a goal, seen only through pixels.

The agent lives on a ``grid × grid`` lattice of positions; each step moves it one cell up, down,
left or right (clipped at the borders). Observations are 64×64 RGB ``uint8`` renders: the agent is a
white dot with a red glow (a Gaussian of width ``glow`` × the image size, so that images of nearby
positions look alike), the goal a green ring (hidden with ``goal_visible=False``). The environment's
own reward is sparse: 1 on reaching the goal (which ends the episode), 0 otherwise. Episodes are cut
(``truncated``) after ``max_episode_steps`` steps, 50 by default, by the environment itself, so a bare
``ReachEnv()`` (in a ``DummyVecEnv``, say) ends its episodes too; ``gymnasium.make`` gives the
registered limit to gymnasium's ``TimeLimit`` instead, so that ``gym.make(REACH_ID,
max_episode_steps=...)`` changes it. :meth:`ReachEnv.goal_image` renders the agent on the goal, the
goal image a :class:`~neuroperception.rewards.GoalImageReward` compares observations with.

``neuroperception/ReachFar-v0`` is the harder configuration of the same environment: a 21×21 plane,
the goal fixed off-centre at cell ``(4, 16)``, a wider glow (0.6, so that the pixel distance to the goal
image keeps decreasing as the agent approaches from anywhere on the plane) and a 100-step limit; a
random policy rarely reaches the goal there, so a dense goal-image reward has something to add.

Importing this module registers the task with gymnasium (needs the ``neuroperception[rl]`` extra);
``gymnasium.make("neuroperception.rewards.envs:neuroperception/Reach-v0")`` imports and makes it in one call.

Examples
--------
>>> import gymnasium as gym
>>> env = gym.make("neuroperception/Reach-v0", render_mode="rgb_array")
>>> obs, info = env.reset(seed=0)
>>> obs.shape, obs.dtype, info["distance"] > 0
((64, 64, 3), dtype('uint8'), True)
>>> env.unwrapped.goal_image().shape
(64, 64, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("neuroperception.rewards.envs needs gymnasium: pip install 'neuroperception[rl]'") from exc

from ..errors import InputError

__all__ = ["ReachEnv", "REACH_ID", "REACH_FAR_ID", "REACH_FAR_KWARGS", "REACH_MAX_STEPS", "register_envs"]

#: The gymnasium id of the task.
REACH_ID = "neuroperception/Reach-v0"
#: The gymnasium id of the harder configuration (larger plane, off-centre goal, longer episodes).
REACH_FAR_ID = "neuroperception/ReachFar-v0"
#: :class:`ReachEnv` arguments of ``ReachFar-v0``, its 100-step episode limit included.
REACH_FAR_KWARGS = {"grid": 21, "goal": (4, 16), "glow": 0.6, "max_episode_steps": 100}
#: The episode limit of ``Reach-v0`` (and the default of :class:`ReachEnv`).
REACH_MAX_STEPS = 50
_MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])  # up, down, left, right as (row, col) steps


class ReachEnv(gym.Env):
    """A dot agent moving on a 2-D lattice toward a goal, observed as 64×64 RGB renders.

    Parameters
    ----------
    render_mode : {None, "rgb_array"}
        ``"rgb_array"``: :meth:`render` returns the current frame (the observation).
    grid : int, default 11
        Positions per side of the plane.
    goal : tuple of int or None, default (5, 5)
        Goal cell ``(row, col)``; ``None`` draws a new goal each episode (then keep ``goal_visible``).
    goal_visible : bool, default True
        Draw the goal as a green ring; with False the goal is implicit (only a reward can tell it).
    glow : float, default 0.25
        Width of the agent's red glow as a fraction of the image size.
    size : int, default 64
        Image height and width.
    max_episode_steps : int or None, default 50
        Steps after which an episode is cut (``truncated=True``); None never cuts (then wrap the
        environment in a ``TimeLimit``). ``gymnasium.make`` builds the environment with None and
        its ``TimeLimit`` with the registered limit.

    Examples
    --------
    >>> env = ReachEnv(render_mode="rgb_array")
    >>> _ = env.reset(seed=1)
    >>> obs, reward, terminated, truncated, info = env.step(0)
    >>> reward in (0.0, 1.0), env.render().shape
    (True, (64, 64, 3))

    A bare environment ends its episodes by itself:

    >>> env = ReachEnv(max_episode_steps=3)
    >>> _ = env.reset(seed=0)
    >>> [env.step(0)[3] for _ in range(3)]
    [False, False, True]
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None, grid: int = 11, goal: tuple[int, int] | None = (5, 5),
                 goal_visible: bool = True, glow: float = 0.25, size: int = 64, *,
                 max_episode_steps: int | None = REACH_MAX_STEPS):
        if render_mode not in (None, "rgb_array"):
            raise InputError(f"ReachEnv: received render_mode={render_mode!r}; expected None or 'rgb_array'")
        if int(grid) < 2:
            raise InputError(f"ReachEnv: received grid={grid!r}; expected an int >= 2")
        if goal is not None and not (len(goal) == 2 and all(0 <= int(g) < grid for g in goal)):
            raise InputError(f"ReachEnv: received goal={goal!r}; expected None or (row, col) in [0, {grid - 1}]")
        if not (0 < glow) or int(size) < 16:
            raise InputError(f"ReachEnv: received glow={glow!r}, size={size!r}; expected glow > 0 and size >= 16")
        limit = max_episode_steps
        if limit is not None and (not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 1):
            raise InputError(f"ReachEnv: received max_episode_steps={max_episode_steps!r}; expected a positive int or "
                             "None (no limit)")
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self._elapsed = 0
        self.render_mode = render_mode
        self.grid, self.size, self.glow = int(grid), int(size), float(glow)
        self.goal_visible = bool(goal_visible)
        self._fixed_goal = None if goal is None else np.array(goal, dtype=np.int64)
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)
        self.action_space = spaces.Discrete(4)
        self.goal = np.array([0, 0]) if goal is None else self._fixed_goal.copy()
        self.agent = np.array([0, 0])
        yy, xx = np.mgrid[0:self.size, 0:self.size].astype(np.float32)
        self._yy, self._xx = yy, xx

    # -- rendering ---------------------------------------------------------------------------
    def _centre(self, cell: np.ndarray) -> np.ndarray:
        return (np.asarray(cell, dtype=np.float32) + 0.5) * self.size / self.grid

    def _draw(self, agent: np.ndarray) -> np.ndarray:
        ay, ax = self._centre(agent)
        d2 = (self._yy - ay) ** 2 + (self._xx - ax) ** 2
        frame = np.zeros((self.size, self.size, 3), dtype=np.float32)
        frame[..., 0] = 230.0 * np.exp(-d2 / (2 * (self.glow * self.size) ** 2))
        if self.goal_visible:
            gy, gx = self._centre(self.goal)
            r = np.sqrt((self._yy - gy) ** 2 + (self._xx - gx) ** 2)
            ring_r = 0.45 * self.size / self.grid + 1.5
            frame[..., 1] = np.where(np.abs(r - ring_r) <= 1.0, 255.0, 0.0)
        core = d2 <= (0.3 * self.size / self.grid + 0.8) ** 2
        frame[core] = 255.0
        return np.clip(frame, 0, 255).astype(np.uint8)

    def _obs(self) -> np.ndarray:
        return self._draw(self.agent)

    def render(self) -> np.ndarray | None:
        """The current frame ``(size, size, 3)`` uint8 (``render_mode="rgb_array"``), else None."""
        return self._obs() if self.render_mode == "rgb_array" else None

    def goal_image(self) -> np.ndarray:
        """The frame of the agent standing on the goal (uint8 ``(size, size, 3)``), for a goal-image reward."""
        return self._draw(self.goal)

    def state_image(self, row: int, col: int) -> np.ndarray:
        """The frame with the agent at cell ``(row, col)`` (for reward landscapes over states)."""
        return self._draw(np.array([row, col]))

    # -- dynamics ----------------------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        return {"agent": self.agent.copy(), "goal": self.goal.copy(),
                "distance": int(np.abs(self.agent - self.goal).sum())}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode: a new random agent position (and goal, when not fixed)."""
        super().reset(seed=seed)
        if self._fixed_goal is None:
            self.goal = self.np_random.integers(0, self.grid, size=2)
        while True:
            self.agent = self.np_random.integers(0, self.grid, size=2)
            if not np.array_equal(self.agent, self.goal):
                break
        self._elapsed = 0
        return self._obs(), self._info()

    def step(self, action):
        """Move one cell; reward 1 and ``terminated`` on reaching the goal, ``truncated`` at the step limit."""
        if not self.action_space.contains(action):
            raise InputError(f"ReachEnv.step: received action {action!r}; expected an int in [0, 3]")
        self.agent = np.clip(self.agent + _MOVES[int(action)], 0, self.grid - 1)
        self._elapsed += 1
        terminated = bool(np.array_equal(self.agent, self.goal))
        truncated = (not terminated and self.max_episode_steps is not None
                     and self._elapsed >= self.max_episode_steps)
        return self._obs(), float(terminated), terminated, truncated, self._info()


def register_envs() -> None:
    """Register ``neuroperception/Reach-v0`` and ``ReachFar-v0`` with gymnasium (done on import; safe to call again).

    Examples
    --------
    >>> register_envs()
    >>> REACH_ID in gym.registry, REACH_FAR_ID in gym.registry
    (True, True)
    >>> gym.make(REACH_FAR_ID).unwrapped.grid
    21
    """
    # the registered limit goes to gymnasium's TimeLimit (so make(..., max_episode_steps=...) changes it)
    from . import world_envs  # noqa: F401  registers WorldPaint-v0 on import
    if REACH_ID not in gym.registry:
        gym.register(id=REACH_ID, entry_point=f"{__name__}:ReachEnv", max_episode_steps=REACH_MAX_STEPS,
                     kwargs={"max_episode_steps": None})
    if REACH_FAR_ID not in gym.registry:
        far = dict(REACH_FAR_KWARGS)
        limit = far.pop("max_episode_steps")
        gym.register(id=REACH_FAR_ID, entry_point=f"{__name__}:ReachEnv", max_episode_steps=limit,
                     kwargs=dict(far, max_episode_steps=None))


register_envs()
