"""The miniature world's episodes: per-frame annotations and the optical flow are the exact ground truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from neuroperception.errors import InputError
from neuroperception.stimuli import VideoSet
from neuroperception.world import (COLOURS, MAX_EPISODE_OBJECTS, OBJECT_COLUMNS, RELATIONS, SHADE, WorldEpisodes,
                                   describe, relation, render_episodes)

MOVE = render_episodes(12, kind="move", n_frames=8, size=48, random_state=0)
APPEAR = render_episodes(12, kind="appear", n_frames=8, size=48, random_state=0)
PLACE = render_episodes(12, kind="place", n_frames=12, size=48, random_state=0)


def _frames(ep: WorldEpisodes) -> np.ndarray:
    return ep.videos.videos.numpy().transpose(0, 1, 3, 4, 2)  # (N, T, H, W, 3)


def _actor(ep: WorldEpisodes, e: int) -> pd.DataFrame:
    rows = ep.objects[(ep.objects.stimulus_id == ep.ids[e]) & (ep.objects.role == "actor")]
    return rows.sort_values("frame").reset_index(drop=True)


def test_contract_shapes_and_tables():
    for ep, t in ((MOVE, 8), (APPEAR, 8), (PLACE, 12)):
        assert isinstance(ep.videos, VideoSet) and ep.videos.videos.dtype == torch.float32
        assert tuple(ep.videos.videos.shape) == (12, t, 3, 48, 48) and ep.videos.fps == 8.0
        assert ep.masks.shape == (12, t, MAX_EPISODE_OBJECTS, 48, 48) and ep.masks.dtype == bool
        assert tuple(ep.flow.shape) == (12, t - 1, 2, 48, 48) and ep.flow.dtype == torch.float32
        assert ep.ids[0] == "episode00000" and list(ep.episodes.stimulus_id) == ep.ids
        cols = list(ep.objects.columns)
        assert cols[:2] == ["stimulus_id", "frame"] and tuple(cols[2:len(OBJECT_COLUMNS) + 1]) == OBJECT_COLUMNS[1:]
        assert {"role", "opacity", "vx", "vy", "phase"} <= set(cols)
        n_objects = ep.objects[ep.objects.frame == 0].groupby("stimulus_id").size()
        assert (ep.objects.groupby("stimulus_id").size() == n_objects * t).all()
        assert (ep.objects.groupby("stimulus_id").role.agg(lambda r: (r == "actor").sum()) == t).all()
        # attributes stay the same from frame to frame
        fixed = ep.objects.groupby(["stimulus_id", "object"])[["category", "colour", "size_px"]].nunique()
        assert (fixed == 1).all().all()
        assert (ep.masks.sum(axis=2) <= 1).all()


def test_pixels_masks_and_boxes_are_exact_in_every_frame():
    for ep in (MOVE, PLACE, APPEAR):
        frames = _frames(ep)
        background = ep.background_images().images.numpy().transpose(0, 2, 3, 1)
        union = ep.masks.any(axis=2)
        for e in range(len(ep)):
            assert np.array_equal(frames[e][~union[e]], np.broadcast_to(background[e], frames[e].shape)[~union[e]])
        for row in ep.objects[ep.objects.opacity == 1].itertuples():
            e = ep.ids.index(row.stimulus_id)
            mask = ep.masks[e, row.frame, row.object]
            base = np.asarray(COLOURS[row.colour], np.float32)
            palette = np.stack([base, base * np.float32(SHADE)])
            pixels = frames[e, row.frame][mask]
            assert (pixels[:, None] == palette[None]).all(axis=2).any(axis=1).all()
            if mask.any():
                ys, xs = np.nonzero(mask)
                assert (row.x0, row.y0, row.x1, row.y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            else:
                assert (row.x0, row.y0, row.x1, row.y1, row.visible_fraction) == (0, 0, 0, 0, 0.0)


def test_move_flow_is_the_displacement_of_the_actors_pixels():
    frames = _frames(MOVE)
    moved = 0
    for e in range(len(MOVE)):
        actor = _actor(MOVE, e)
        k = int(actor.object[0])
        vx, vy = MOVE.episodes.loc[e, ["vx", "vy"]]
        assert vx == int(vx) and vy == int(vy) and max(abs(vx), abs(vy)) >= 1  # whole pixels per frame
        assert np.allclose(np.diff(actor.x), vx) and np.allclose(np.diff(actor.y), vy)
        assert (actor.vx == vx).all() and (actor.vy == vy).all() and (actor.phase == "move").all()
        for t in range(frames.shape[1] - 1):
            flow = MOVE.flow[e, t].numpy()
            here = MOVE.masks[e, t, k]
            assert (flow[0][here] == vx).all() and (flow[1][here] == vy).all() and not flow[:, ~here].any()
            ys, xs = np.nonzero(here)
            ys2, xs2 = ys + int(vy), xs + int(vx)
            still = MOVE.masks[e, t + 1, k][ys2, xs2]  # the pixel is still the actor's (not occluded)
            assert np.array_equal(frames[e, t + 1][ys2[still], xs2[still]], frames[e, t][ys[still], xs[still]])
            moved += int(still.sum())
            # the static objects do not move
            for j in set(range(MAX_EPISODE_OBJECTS)) - {k}:
                if not MOVE.masks[e, :, j].any():
                    continue
                rows = MOVE.objects[(MOVE.objects.stimulus_id == MOVE.ids[e]) & (MOVE.objects.object == j)]
                assert rows.x.nunique() == 1 and (rows.vx == 0).all()
    assert moved > 10_000
    # occlusion happens: an actor passes behind a static object or in front of one
    fractions = MOVE.objects.visible_fraction
    assert (fractions < 1).any() and (fractions > 0).all()


def test_subpixel_motion_moves_the_centre_by_the_flow():
    ep = render_episodes(6, kind="move", n_frames=6, size=48, subpixel=True, random_state=1)
    assert (ep.episodes.vx != ep.episodes.vx.round()).any()
    for e in range(len(ep)):
        actor = _actor(ep, e)
        k = int(actor.object[0])
        for t in range(5):
            here = ep.masks[e, t, k]
            flow = ep.flow[e, t].numpy()
            assert np.allclose(flow[0][here], actor.x[t + 1] - actor.x[t])
            assert np.allclose(flow[1][here], actor.y[t + 1] - actor.y[t])


def test_appear_pops_or_fades_in_over_an_unchanged_scene():
    frames = _frames(APPEAR)
    assert set(APPEAR.episodes["mode"]) == {"pop", "fade"} and not APPEAR.flow.any()
    for e in range(len(APPEAR)):
        info = APPEAR.episodes.iloc[e]
        actor = _actor(APPEAR, e)
        k = int(actor.object[0])
        onset = int(info.onset)
        assert k == APPEAR.objects[APPEAR.objects.stimulus_id == info.stimulus_id].object.max()  # drawn on top
        assert (actor.opacity[:onset] == 0).all() and (actor.phase[:onset] == "absent").all()
        assert not APPEAR.masks[e, :onset, k].any()
        for t in range(1, onset):
            assert np.array_equal(frames[e, t], frames[e, 0])  # nothing changes before the onset
        if info["mode"] == "pop":
            assert (actor.opacity[onset:] == 1).all() and (actor.phase[onset:] == "present").all()
        else:  # linear fade over four frames
            expected = np.clip((np.arange(len(actor)) - onset + 1) / 4, 0, 1)
            assert np.allclose(actor.opacity, expected)
            assert set(actor.phase[(expected > 0) & (expected < 1)]) <= {"appearing"}
        for t in range(onset, len(actor)):
            a = float(actor.opacity[t])
            mask = APPEAR.masks[e, t, k]
            assert mask.any()
            # outside the actor nothing changes; on it, the colour is blended over what was there
            assert np.array_equal(frames[e, t][~mask], frames[e, 0][~mask])
            base = np.asarray(COLOURS[actor.colour[0]], np.float32)
            palette = np.stack([base, base * SHADE])
            under = frames[e, 0][mask]
            blend = a * palette[None] + (1 - a) * under[:, None]
            assert np.isclose(frames[e, t][mask][:, None], blend, atol=1e-6).all(axis=2).any(axis=1).all()


def test_place_is_a_demonstration_with_steps():
    frames = _frames(PLACE)
    assert set(PLACE.episodes.relation) <= set(RELATIONS) and len(set(PLACE.episodes.relation)) >= 3
    for e in range(len(PLACE)):
        info = PLACE.episodes.iloc[e]
        actor = _actor(PLACE, e)
        objs = PLACE.objects[PLACE.objects.stimulus_id == info.stimulus_id]
        anchor = objs[objs.role == "anchor"].sort_values("frame").reset_index(drop=True)
        assert (anchor.object == 0).all() and anchor.x.nunique() == 1
        wait, arrive = int(info.onset), int(info.offset)
        phases = ["wait"] * wait + ["move"] * (arrive - wait) + ["placed"] * (len(actor) - arrive)
        assert actor.phase.tolist() == phases and 1 <= wait < arrive < len(actor)
        v = np.array([info.vx, info.vy])
        assert (v == v.round()).all() and np.abs(v).max() >= 1
        steps = np.clip(np.arange(len(actor)) - wait, 0, arrive - wait)
        assert np.allclose(actor.x, actor.x[0] + v[0] * steps) and np.allclose(actor.y, actor.y[0] + v[1] * steps)
        # it ends next to the anchor, on the side the episode names, and then stands still
        assert relation(actor.iloc[-1], anchor.iloc[-1]) == info.relation
        assert not PLACE.flow[e, arrive:].any() and not PLACE.flow[e, :wait].any()
        k = int(actor.object[0])
        for t in range(wait, arrive):
            here = PLACE.masks[e, t, k]
            ys, xs = np.nonzero(here)
            assert np.array_equal(frames[e, t + 1][ys + int(v[1]), xs + int(v[0])], frames[e, t][ys, xs])
        assert np.array_equal(frames[e, arrive], frames[e, -1])
        short, long = PLACE.captions[PLACE.captions.stimulus_id == info.stimulus_id].caption
        first = objs[objs.frame == 0].set_index("object")
        assert short == f"{describe(first.loc[k], size_word=False)} is placed {info.relation} " \
                        f"{describe(first.loc[0], size_word=False)}"
        assert long == f"{describe(first.loc[k])} is placed {info.relation} {describe(first.loc[0])}"


def test_captions_name_the_actor():
    for ep in (MOVE, APPEAR):
        for e, sid in enumerate(ep.ids):
            actor = _actor(ep, e).iloc[0]
            caps = ep.captions[ep.captions.stimulus_id == sid]
            events = caps[caps.kind == "event"].caption.tolist()
            assert events[0].startswith(describe(actor, size_word=False) + " ")
            assert events[1].startswith(describe(actor) + " ")
            if ep is MOVE:
                info = ep.episodes.iloc[e]
                word = (("right" if info.vx > 0 else "left") if abs(info.vx) >= abs(info.vy)
                        else ("down" if info.vy > 0 else "up"))
                assert events[0].endswith(f" moves {word}")
    # every object of an episode has its own category, colour and texture, so a phrase names one object
    for ep in (MOVE, APPEAR, PLACE):
        first = ep.objects[ep.objects.frame == 0]
        assert not first.duplicated(["stimulus_id", "category", "colour", "texture"]).any()


def test_determinism_subsets_and_frames():
    a = render_episodes(3, kind="appear", n_frames=5, size=32, random_state=4)
    b = render_episodes(3, kind="appear", n_frames=5, size=32, random_state=4)
    assert torch.equal(a.videos.videos, b.videos.videos) and np.array_equal(a.masks, b.masks)
    pd.testing.assert_frame_equal(a.objects, b.objects)
    c = render_episodes(3, kind="move", n_frames=5, size=32, random_state=4)
    assert not a.objects[a.objects.frame == 0][["category", "colour"]].reset_index(drop=True).equals(
        c.objects[c.objects.frame == 0][["category", "colour"]].reset_index(drop=True))  # kinds draw their own
    sub = a[["episode00002", 0]]
    assert sub.ids == ["episode00002", "episode00000"] and torch.equal(sub.flow, a.flow[[2, 0]])
    assert torch.equal(sub.videos.videos, a.videos.videos[[2, 0]]) and set(sub.objects.stimulus_id) == set(sub.ids)
    last = a.frames(-1)
    assert last.ids[0] == "episode00000/004" and torch.equal(last.images, a.videos.videos[:, 4])


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(kind="fall"), "kind: received 'fall'"),
    (dict(n_frames=1), "n_frames: received 1; expected an int >= 2"),
    (dict(kind="place", n_frames=6), "expected an int >= 8 for kind='place'"),
    (dict(n_frames=40, size=32), "does not fit .* or subpixel=True"),
    (dict(size=20), "too small to render"),
    (dict(background="black"), "background: received 'black'"),
    (dict(fps=0), "fps: received 0"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        render_episodes(2, **kwargs)


def test_long_subpixel_motion_fits_where_whole_pixels_do_not():
    ep = render_episodes(2, kind="move", n_frames=40, size=32, subpixel=True, random_state=0)
    actor = ep.objects[ep.objects.role == "actor"]
    assert (actor.x0 >= 0).all() and (actor.x1 <= 32).all() and (actor.visible_fraction > 0).all()
