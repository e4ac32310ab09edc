"""Short rendered episodes of the miniature world: an object moving, appearing, or being placed.

Each episode is one background and a few objects of the world (see :mod:`~neuroperception.world.scenes`)
over ``n_frames`` frames, with every frame's ground truth: per-object rows (position, box, visible
fraction, opacity, velocity and a ``phase`` label of the episode's steps), visible masks, the exact
optical flow and captions.

``"move"``
    One object (the *actor*) translates at constant velocity across the frame, in front of or
    behind one or two static objects. Phases: ``"move"``.
``"appear"``
    The actor, drawn on top, pops in (``mode="pop"``) or fades in over four frames (``"fade"``,
    opacity rising linearly) at a random frame. Phases: ``"absent"``, ``"appearing"`` (opacity
    between 0 and 1), ``"present"``.
``"place"``
    The actor rests, moves in a straight line at constant velocity to a target next to an *anchor*
    object in one of :data:`~neuroperception.world.vocabulary.RELATIONS`, and stays there; the step
    structure makes it a demonstration for imitation or reinforcement learning. Phases: ``"wait"``,
    ``"move"``, ``"placed"``.

The flow follows :mod:`neuroperception.stimuli.flow_fields` (float32 pixels, channel 0 = ``dx``
right, channel 1 = ``dy`` down, from frame ``t`` to ``t + 1``): the actor's velocity on its visible
pixels of frame ``t``, 0 elsewhere (background and static objects do not move). By default
velocities are whole pixels per frame, so the flow is exact pixel for pixel: the actor's pixel at
``p`` in frame ``t`` has exactly the same colour at ``p + flow`` in frame ``t + 1`` wherever it stays
visible. ``subpixel=True`` draws continuous velocities (the flow is then exact for the drawn shapes,
which are resampled on the pixel grid at every frame).

Examples
--------
>>> ep = render_episodes(2, kind="move", n_frames=4, size=32, random_state=0)
>>> tuple(ep.videos.videos.shape), tuple(ep.flow.shape), ep.ids
((2, 4, 3, 32, 32), (2, 3, 2, 32, 32), ['episode00000', 'episode00001'])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError
from ..stimuli import ImageSet, VideoSet
from ..stimuli._indexing import resolve_positions
from . import _layout, _paths
from ._render import Objects, draw_background_params, draw_backgrounds, masks_and_boxes, render
from .captions import _phrases, relation
from .scenes import _background_params, _background_table, _object_table, _rows
from .vocabulary import CATEGORIES, COLOURS, SIZES, TEXTURES

__all__ = ["WorldEpisodes", "render_episodes", "EPISODE_KINDS", "MAX_EPISODE_OBJECTS"]

#: The kinds of episode.
EPISODE_KINDS = ("move", "appear", "place")
#: Objects per episode at most (the actor and up to two others): the size of the masks' object axis.
MAX_EPISODE_OBJECTS = 3
_FADE_FRAMES = 4


@dataclass(frozen=True)
class WorldEpisodes:
    """Rendered episodes and their per-frame ground truth, keyed by ``stimulus_id``.

    Attributes
    ----------
    videos : VideoSet
        float32 ``(N, T, 3, H, W)`` in ``[0, 1]``; ids ``f"{id_prefix}{i:05d}"``.
    objects : pandas.DataFrame
        One row per frame and object: ``frame`` then the columns of
        :data:`~neuroperception.world.scenes.OBJECT_COLUMNS` (of that frame), and ``role``
        (``"actor"``, ``"anchor"`` or ``"static"``), ``opacity``, ``vx``, ``vy`` (velocity from this
        frame to the next, pixels per frame) and ``phase``.
    masks : numpy.ndarray
        bool ``(N, T, MAX_EPISODE_OBJECTS, H, W)``: each object's visible pixels in each frame.
    flow : torch.Tensor
        float32 ``(N, T - 1, 2, H, W)``: the exact optical flow from each frame to the next.
    captions : pandas.DataFrame
        ``stimulus_id``, ``caption``, ``kind`` (short then long caption of the event).
    episodes : pandas.DataFrame
        One row per episode: ``stimulus_id``, ``kind``, ``actor`` and ``anchor`` (object indices;
        -1 when none), ``vx``, ``vy``, ``onset`` and ``offset`` (first frame of the event and first
        frame after it), ``mode`` (appear: ``"pop"``/``"fade"``) and ``relation`` (place).
    background : pandas.DataFrame
        One row per episode, as :attr:`WorldScenes.background <neuroperception.world.WorldScenes.background>`.

    Examples
    --------
    >>> ep = render_episodes(3, kind="place", n_frames=12, size=48, random_state=2)
    >>> ep[1:].ids, ep.masks.shape
    (['episode00001', 'episode00002'], (3, 12, 3, 48, 48))
    """

    videos: VideoSet
    objects: pd.DataFrame
    masks: np.ndarray
    flow: torch.Tensor
    captions: pd.DataFrame
    episodes: pd.DataFrame
    background: pd.DataFrame

    @property
    def ids(self) -> list[str]:
        """The episode ids, in order."""
        return self.videos.ids

    def __len__(self) -> int:
        return len(self.videos)

    def __repr__(self) -> str:
        n, t, _, h, w = self.masks.shape
        return f"WorldEpisodes(n={n}, n_frames={t}, size=({h}, {w}))"

    def __getitem__(self, key) -> "WorldEpisodes":
        """A subset (an int, id, slice, list of ints/ids or boolean mask), always a ``WorldEpisodes``."""
        ids = self.ids
        pos = resolve_positions(key, ids, {k: i for i, k in enumerate(ids)}, "episodes")
        pos = [pos] if isinstance(pos, int) else pos
        keep = [ids[p] for p in pos]
        return WorldEpisodes(self.videos[pos], _rows(self.objects, keep), self.masks[pos], self.flow[pos],
                             _rows(self.captions, keep), _rows(self.episodes, keep), _rows(self.background, keep))

    def background_images(self) -> ImageSet:
        """The episodes' backgrounds without their objects, as an ``ImageSet`` with the episodes' ids.

        Examples
        --------
        >>> ep = render_episodes(2, n_frames=2, size=32)
        >>> tuple(ep.background_images().images.shape)
        (2, 3, 32, 32)
        """
        h, w = self.masks.shape[-2:]
        bg = draw_backgrounds(_background_params(self.background), h, w)
        return ImageSet(torch.from_numpy(bg), self.ids, source="world:backgrounds")

    def frames(self, frame: int = 0) -> ImageSet:
        """One frame of every episode as an ``ImageSet`` (ids ``f"{id}/{frame:03d}"``).

        Examples
        --------
        >>> ep = render_episodes(2, n_frames=3, size=32)
        >>> ep.frames(2).ids
        ['episode00000/002', 'episode00001/002']
        """
        t = self.masks.shape[1]
        if not isinstance(frame, (int, np.integer)) or not -t <= frame < t:
            raise InputError(f"frame: received {frame!r}; expected an int frame index in [{-t}, {t - 1}]")
        return ImageSet(self.videos.videos[:, int(frame)], [f"{i}/{int(frame) % t:03d}" for i in self.ids],
                        source="world:episode-frames")


# ---------------------------------------------------------------------------------------- rendering
def _distinct_colours(obj: Objects, allowed: np.ndarray, rng: np.random.Generator) -> None:
    """Redraw colours so that no two objects of an episode share category, colour and texture (the
    captions then name every object with one phrase)."""
    for i in np.flatnonzero(obj.depth > 0):
        same = np.flatnonzero((obj.image == obj.image[i]) & (obj.depth < obj.depth[i]))
        while any(obj.category[j] == obj.category[i] and obj.colour[j] == obj.colour[i]
                  and obj.texture[j] == obj.texture[i] for j in same):
            obj.colour[i] = allowed[rng.integers(len(allowed))]


def _direction(v: np.ndarray) -> str:
    return ("right" if v[0] > 0 else "left") if abs(v[0]) >= abs(v[1]) else ("down" if v[1] > 0 else "up")


def _episode_captions(kind: str, objs: list[dict], actor: int, info: dict, rng: np.random.Generator):
    phrases = _phrases(objs)
    out = []
    for k in (0, 1):
        a = phrases[actor][k]
        if kind == "move":
            out.append(("event", f"{a} moves {_direction(np.array([info['vx'], info['vy']]))}"))
        elif kind == "appear":
            out.append(("event", f"{a} appears"))
        else:
            out.append(("event", f"{a} is placed {info['relation']} {phrases[info['anchor']][k]}"))
    others = [i for i in range(len(objs)) if i != actor]
    if kind == "appear" and others:
        j = others[int(rng.integers(len(others)))]
        rel = relation(objs[actor], objs[j])
        out += [("relation", f"{phrases[actor][k]} appears {rel} {phrases[j][k]}") for k in (0, 1)]
    return out


@fill_doc
def render_episodes(n: int, *, kind: str = "move", n_frames: int = 16, size: int | tuple[int, int] = 64,
                    background: str = "varied", subpixel: bool = False, fps: float = 8.0,
                    random_state: int | np.random.Generator | None = 0, id_prefix: str = "episode") -> WorldEpisodes:
    """Render ``n`` short episodes of one kind, with every frame's ground truth and the exact flow.

    Parameters
    ----------
    n : int
        Number of episodes.
    kind : {"move", "appear", "place"}
        What happens (see the module's description).
    n_frames : int
        Frames per episode (at least 2; at least 8 for ``"place"``).
    size : int or (int, int)
        Frame side, or ``(height, width)``, in pixels (at least
        :data:`~neuroperception.world.vocabulary.MIN_SIZE`).
    background : {"varied", "plain"}
        As in :func:`~neuroperception.world.render_scenes`; one background per episode.
    subpixel : bool
        Continuous velocities instead of whole pixels per frame.
    fps : float
        Frame rate recorded in the ``VideoSet``.
    %(random_state)s
        An int seeds each ``kind`` its own stream.
    id_prefix : str
        Episode ``i`` gets the id ``f"{id_prefix}{i:05d}"``.

    Returns
    -------
    WorldEpisodes

    Examples
    --------
    >>> ep = render_episodes(1, kind="place", n_frames=10, random_state=0)
    >>> ep.objects.query("role == 'actor'").phase.tolist()[:4], ep.captions.caption.iloc[0]
    (['wait', 'move', 'move', 'move'], 'an orange star is placed right of a green circle')
    """
    n = _layout.check_count(n)
    if kind not in EPISODE_KINDS:
        raise InputError(f"kind: received {kind!r}; expected one of {list(EPISODE_KINDS)}")
    height, width = _layout.check_size(size)
    background = _layout.check_background(background)
    if not isinstance(id_prefix, str):
        raise InputError(f"id_prefix: received {type(id_prefix).__name__}; expected a string")
    if not (isinstance(fps, (int, float, np.number)) and np.isfinite(fps) and fps > 0):
        raise InputError(f"fps: received {fps!r}; expected a positive frame rate")
    sizes = np.arange(len(SIZES))
    b = _layout.centre_range(sizes, height, width)
    lo, hi = _paths.grid_up(np.array([b[0], b[2]])), _paths.grid_down(np.array([b[1], b[3]]))
    n_frames = _paths.check_frames(n_frames, kind, lo, hi, bool(subpixel))
    rng = (random_state if isinstance(random_state, np.random.Generator)  # an int: each kind its own stream
           else np.random.default_rng([seed_from(random_state), EPISODE_KINDS.index(kind)]))
    ids = [f"{id_prefix}{i:05d}" for i in range(n)]
    counts = rng.integers(2 if kind == "place" else 1, MAX_EPISODE_OBJECTS + 1, size=n)
    choices = {"categories": np.arange(len(CATEGORIES)), "colours": np.arange(len(COLOURS)),
               "textures": np.arange(len(TEXTURES)), "sizes": sizes}
    obj, size_class = _layout.draw_attributes(counts, choices, height, width, rng)
    _distinct_colours(obj, choices["colours"], rng)
    first = np.cumsum(counts) - counts  # index of each episode's first object
    last = first + counts - 1
    actor_depth = rng.integers(0, counts) if kind == "move" else counts - 1
    actor = first + actor_depth
    bounds = (lo[0], hi[0], lo[1], hi[1])
    steps = n_frames - 1
    gap = 0.05 * min(height, width)
    infos = [dict(kind=kind, actor=int(actor_depth[e]), anchor=-1, vx=0.0, vy=0.0, onset=0, offset=n_frames,
                  mode="", relation="") for e in range(n)]
    if kind == "move":  # the actor's path first, then the static objects clear of its start
        for e in range(n):
            v, start = _paths.move_path(rng, steps, lo, hi, bool(subpixel))
            obj.x[actor[e]], obj.y[actor[e]] = start
            infos[e].update(vx=float(v[0]), vy=float(v[1]))
        _layout.place(obj, n, bounds, rng, only=np.setdiff1d(np.arange(len(obj.x)), actor))
    elif kind == "appear":
        _layout.place(obj, n, bounds, rng)
    else:  # the anchor and the actor's path next to it, then a distractor clear of both (below)
        for e in range(n):
            infos[e]["path"] = _paths.place_path(rng, n_frames, obj.diameter[first[e]] / 2,
                                                 obj.diameter[actor[e]] / 2, gap, lo, hi, bool(subpixel))
            obj.x[first[e]], obj.y[first[e]] = infos[e]["path"][0]
    xy = np.stack([obj.x, obj.y], axis=1)
    xy = np.where(np.isfinite(xy), np.clip(_paths.grid(xy), lo, hi), np.nan)
    pos = np.repeat(xy[:, None], n_frames, axis=1)  # (M, T, 2)
    alpha = np.ones((len(obj.x), n_frames))
    vel = np.zeros((len(obj.x), n_frames, 2))
    t = np.arange(n_frames)
    phases = []
    for e in range(n):
        a, info = actor[e], infos[e]
        if kind == "move":
            v = np.array([info["vx"], info["vy"]])
            pos[a] = xy[a] + v * t[:, None]
            vel[a] = v
            phases.append(["move"] * n_frames)
        elif kind == "appear":
            mode = "fade" if rng.random() < 0.5 else "pop"
            onset = int(rng.integers(1, n_frames))
            ramp = _FADE_FRAMES if mode == "fade" else 1
            alpha[a] = np.clip((t - onset + 1) / ramp, 0.0, 1.0)
            info.update(mode=mode, onset=onset, offset=min(onset + ramp - 1, n_frames) if mode == "fade" else onset)
            phases.append(np.where(alpha[a] == 0, "absent", np.where(alpha[a] < 1, "appearing", "present")).tolist())
        else:
            ra, rm = obj.diameter[first[e]] / 2, obj.diameter[a] / 2
            _, wait, n_steps, rel, start, v, target = info.pop("path")
            k = np.clip(t - wait, 0, n_steps)
            pos[a] = start + v * k[:, None]
            moving = (t >= wait) & (t < wait + n_steps)
            vel[a, moving] = v
            info.update(anchor=0, vx=float(v[0]), vy=float(v[1]), onset=wait, offset=wait + n_steps, relation=rel)
            phases.append(np.where(t < wait, "wait", np.where(moving, "move", "placed")).tolist())
            for i in range(first[e] + 1, last[e]):  # the distractor (between anchor and actor in depth)
                r = obj.diameter[i] / 2
                for _ in range(_paths.TRIES):
                    p = _paths.grid(rng.uniform(lo, hi))
                    if _paths.clear(p, r, [(xy[first[e]], ra), (start, rm), (target, rm)]):
                        break
                pos[i] = p
    return _assemble(ids, obj, size_class, pos, alpha, vel, phases, infos, actor, n_frames, (height, width),
                     background, rng, fps, kind)


def _assemble(ids, obj, size_class, pos, alpha, vel, phases, infos, actor, n_frames, hw, background, rng, fps, kind):
    """Render every frame and build the tables, masks and flow."""
    height, width = hw
    n, m = len(ids), len(obj.x)
    t = np.arange(n_frames)
    image = (obj.image[:, None] * n_frames + t[None]).ravel()
    order = np.lexsort((np.repeat(obj.depth, n_frames), image))
    row = np.repeat(np.arange(m), n_frames)[order]  # object of each flat entry
    frame = np.tile(t, m)[order]
    frames = Objects(image[order], obj.depth[row], obj.category[row], obj.colour[row], obj.texture[row],
                     pos[row, frame, 0], pos[row, frame, 1], obj.diameter[row], alpha[row, frame])
    params = draw_background_params(n, background, rng)
    drawn = render(frames, {k: np.repeat(v, n_frames, axis=0) for k, v in params.items()}, height, width)
    masks, boxes, visible = masks_and_boxes(drawn.owner, MAX_EPISODE_OBJECTS)
    frame_ids = [i for i in ids for _ in range(n_frames)]
    roles = np.full(m, "static", dtype=object)
    roles[actor] = "actor"
    if kind == "place":
        roles[np.flatnonzero(obj.depth == 0)] = "anchor"
    objects = _object_table(frame_ids, frames, size_class[row], boxes, visible, drawn.full_pixels, extra={
        "role": roles[row], "opacity": alpha[row, frame], "vx": vel[row, frame, 0], "vy": vel[row, frame, 1],
        "phase": np.asarray(phases, dtype=object)[obj.image[row], frame]})
    objects.insert(1, "frame", frame)
    masks = masks.reshape(n, n_frames, MAX_EPISODE_OBJECTS, height, width)
    depth = np.asarray([info["actor"] for info in infos])
    v = vel[actor, :-1]  # (N, T-1, 2)
    seen = masks[np.arange(n)[:, None], t[None, :-1], depth[:, None]]  # (N, T-1, H, W)
    flow = torch.from_numpy((seen[:, :, None] * v[:, :, :, None, None]).astype(np.float32))
    first_frame = objects[objects.frame == 0]
    caps = []
    for e, (sid, group) in enumerate(first_frame.groupby("stimulus_id", sort=False)):
        for ckind, text in _episode_captions(kind, group.to_dict("records"), infos[e]["actor"], infos[e], rng):
            caps.append((sid, text, ckind))
    episodes = pd.DataFrame([{"stimulus_id": i, **info} for i, info in zip(ids, infos)])
    videos = VideoSet(torch.from_numpy(drawn.images.reshape(n, n_frames, 3, height, width)), ids, fps=fps,
                      size=(height, width), source=f"world:episodes:{kind}")
    return WorldEpisodes(videos, objects, masks, flow, pd.DataFrame(caps, columns=["stimulus_id", "caption", "kind"]),
                         episodes, _background_table(ids, background, params))

