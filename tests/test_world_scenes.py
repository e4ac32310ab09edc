"""The miniature world's scenes: the annotations are the exact ground truth of the rendered pixels."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from neuroperception.errors import InputError
from neuroperception.stimuli import ImageSet
from neuroperception.world import (CATEGORIES, COLOURS, MIN_VISIBLE, NUMBERS, OBJECT_COLUMNS, SHADE, SIZES, TEXTURES,
                                   WorldScenes, caption_for, describe, relation, render_scenes)
from neuroperception.world._render import Objects, draw

SCENES = render_scenes(60, size=(56, 72), n_objects=(1, 5), random_state=7)


def _palette(colour: str) -> np.ndarray:
    base = np.asarray(COLOURS[colour], np.float32)
    return np.stack([base, base * np.float32(SHADE)])


def _alone(row: pd.Series, height: int, width: int) -> np.ndarray:
    """The whole shape of one object, drawn alone from its annotation row."""
    obj = Objects(np.array([0]), np.array([0]), np.array([CATEGORIES.index(row.category)]),
                  np.array([list(COLOURS).index(row.colour)]), np.array([TEXTURES.index(row.texture)]),
                  np.array([row.x]), np.array([row.y]), np.array([row.size_px]), np.array([1.0]))
    return draw(obj, np.zeros((1, 3, height, width), np.float32)).owner[0] == 0


def test_tables_follow_the_contract():
    s = SCENES
    assert isinstance(s.images, ImageSet) and s.images.images.dtype == torch.float32
    assert tuple(s.images.images.shape) == (60, 3, 56, 72) and s.masks.shape == (60, 5, 56, 72)
    assert s.masks.dtype == bool and s.ids[:2] == ["world00000", "world00001"]
    assert tuple(s.objects.columns) == OBJECT_COLUMNS
    assert set(s.objects.stimulus_id) == set(s.ids) and set(s.captions.stimulus_id) == set(s.ids)
    assert list(s.background.stimulus_id) == s.ids and set(s.background.background) == {"varied"}
    for col in ("object", "x0", "y0", "x1", "y1"):
        assert pd.api.types.is_integer_dtype(s.objects[col])
    assert s.objects.size_px.dtype == float and s.objects.x.dtype == float
    counts = s.objects.groupby("stimulus_id").object.agg(["count", "max"])
    assert (counts["max"] == counts["count"] - 1).all() and set(counts["count"]) == {1, 2, 3, 4, 5}
    lo, hi = s.objects.groupby("size_name").size_px.agg(["min", "max"]).loc[["small", "large"]].to_numpy().T
    assert hi[0] < lo[1]  # the size classes do not overlap
    images = s.images.images
    assert float(images.min()) >= 0 and float(images.max()) <= 1


def test_masks_and_pixels_are_exact():
    """Every pixel of a visible mask has the object's colour or its shade; every other pixel is background."""
    s = SCENES
    images = s.images.images.numpy().transpose(0, 2, 3, 1)
    background = s.background_images().images.numpy().transpose(0, 2, 3, 1)
    union = s.masks.any(axis=1)
    assert (s.masks.sum(axis=1) <= 1).all()  # a pixel belongs to one object at most
    assert np.array_equal(images[~union], background[~union])
    for row in s.objects.itertuples():
        i = s.ids.index(row.stimulus_id)
        pixels = images[i][s.masks[i, row.object]]
        palette = _palette(row.colour)
        match = (pixels[:, None, :] == palette[None]).all(axis=2)
        assert match.any(axis=1).all(), (row.stimulus_id, row.object)
        if row.texture == "plain":
            assert match[:, 0].all()
        else:  # the texture shows both colours on any object of the world's sizes
            assert match[:, 0].any() and match[:, 1].any()
    # the colours of objects and backgrounds never meet: backgrounds are low-saturation greys
    chroma = images.max(axis=3) - images.min(axis=3)
    assert chroma[~union].max() < 0.15 and chroma[union].min() > 0.25


def test_occlusion_boxes_and_visible_fraction():
    s = SCENES
    h, w = s.masks.shape[-2:]
    occluded = 0
    for sid, group in s.objects.groupby("stimulus_id"):
        i = s.ids.index(sid)
        shapes = [_alone(row, h, w) for row in group.itertuples()]
        for k, row in enumerate(group.itertuples()):
            above = np.zeros((h, w), bool)
            for later in shapes[k + 1:]:
                above |= later
            expected = shapes[k] & ~above  # later objects occlude earlier ones
            assert np.array_equal(s.masks[i, k], expected), (sid, k)
            occluded += int((shapes[k] & above).any())
            assert row.visible_fraction == pytest.approx(expected.sum() / shapes[k].sum())
            ys, xs = np.nonzero(expected)
            assert (row.x0, row.y0, row.x1, row.y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            # the centre is that of the whole shape's box
            assert abs((xs.min() + xs.max()) / 2 - row.x) <= row.size_px / 2
        assert not s.masks[i, len(group):].any()
    assert occluded >= 10  # the sample holds real occlusions
    assert s.objects.visible_fraction.min() >= MIN_VISIBLE and s.objects.visible_fraction.max() == 1.0


# ------------------------------------------------------------------------------------- captions
_PHRASE = re.compile(r"^(?:a|an) (?:(small|large) )?(\w+) (?:(striped|dotted) )?(\w+)$")
_RELATION = re.compile(r"^(.+) (left of|right of|above|below) (.+)$")
_COUNT = re.compile(rf"^(\w+) (?:({'|'.join(COLOURS)}) )?(?:(striped|dotted) )?(\w+)$")


def _parse_phrase(text: str) -> dict:
    m = _PHRASE.match(text)
    assert m, text
    size, colour, texture, category = m.groups()
    assert colour in COLOURS and category in CATEGORIES, text
    assert text.startswith("an " if (size or colour)[0] in "aeiou" else "a "), text
    return dict(size_name=size, colour=colour, texture=texture or "plain", category=category)


def _matches(phrase: dict, objects: list[dict]) -> list[dict]:
    fields = ("colour", "texture", "category") + (("size_name",) if phrase["size_name"] else ())
    return [o for o in objects if all(o[f] == phrase[f] for f in fields)]


def _check_caption(text: str, kind: str, objects: list[dict]) -> None:
    if kind == "object":
        assert len(objects) == 1 and len(_matches(_parse_phrase(text), objects)) == 1
    elif kind == "list":
        parts = re.split(r", | and ", text)
        assert len(parts) == len(objects)
        for part, o in zip(parts, objects):
            p = _parse_phrase(part)
            assert p == {f: o[f] for f in ("size_name", "colour", "texture", "category")}, text
    elif kind == "relation":
        a, rel, b = _RELATION.match(text).groups()
        ra, rb = _matches(_parse_phrase(a), objects), _matches(_parse_phrase(b), objects)
        assert len(ra) == 1 and len(rb) == 1 and ra[0] is not rb[0], text  # each names one object
        dx, dy = ra[0]["x"] - rb[0]["x"], ra[0]["y"] - rb[0]["y"]
        expected = ({True: "left of", False: "right of"}[dx < 0] if abs(dx) >= abs(dy)
                    else {True: "above", False: "below"}[dy < 0])
        assert rel == expected, text
    elif kind == "count":
        number, colour, texture, plural = _COUNT.match(text).groups()
        category = next(c for c in CATEGORIES if plural in (c + "s", c + "es"))
        group = [o for o in objects if o["category"] == category]
        assert len(group) == NUMBERS.index(number) >= 2, text
        assert all(o["texture"] == (texture or "plain") for o in group), text
        assert colour is None or all(o["colour"] == colour for o in group), text
    else:
        raise AssertionError(kind)


def test_captions_parse_back_to_the_annotations():
    s = render_scenes(200, size=32, n_objects=(1, 4), colours=["red", "blue"], textures=["plain", "striped"],
                      categories=["star", "ring", "cross"], random_state=3)  # few values: many repeats to tell apart
    kinds = set()
    scenes = {sid: group.to_dict("records") for sid, group in s.objects.groupby("stimulus_id")}
    by_scene = {sid: group.to_dict("records") for sid, group in s.captions.groupby("stimulus_id")}
    assert set(by_scene) == set(scenes)
    for sid, caps in by_scene.items():
        for cap in caps:
            _check_caption(cap["caption"], cap["kind"], scenes[sid])
            kinds.add(cap["kind"])
        own = [c["kind"] for c in caps]
        assert ("list" in own) == (len(scenes[sid]) > 1) and own.count("object") == 2 * (len(scenes[sid]) == 1)
    assert kinds == {"object", "list", "relation", "count"}
    # a relation needs two objects that phrases can tell apart: a scene of identical twins has none
    twins = [dict(category="star", colour="red", texture="plain", size_name="small", x=float(x), y=9.0)
             for x in (5, 30)]
    assert caption_for(twins) == ["a small red star and a small red star", "two red stars"]


def test_caption_helpers():
    row = dict(category="heart", colour="orange", texture="dotted", size_name="large")
    assert describe(row) == "a large orange dotted heart"
    assert describe(row, size_word=False, article=False) == "orange dotted heart"
    assert describe(pd.Series(row), size_word=False) == "an orange dotted heart"
    assert relation(dict(x=1, y=1), dict(x=5, y=4)) == "left of" and relation(dict(x=1, y=9), dict(x=2, y=1)) == "below"
    with pytest.raises(InputError, match="colour 'pink' is not in the vocabulary"):
        describe(dict(row, colour="pink"))
    with pytest.raises(InputError, match="missing texture"):
        describe({"category": "star", "colour": "red", "size_name": "small"})
    with pytest.raises(InputError, match="no objects"):
        caption_for([])
    # the same seed picks the same related pair
    s = SCENES.objects[SCENES.objects.stimulus_id == "world00003"]
    assert caption_for(s, random_state=1) == caption_for(s, random_state=1)


# ------------------------------------------------------------------------------------- sampling
def test_determinism_and_seeds():
    a, b = render_scenes(20, random_state=11), render_scenes(20, random_state=11)
    c = render_scenes(20, random_state=12)
    assert torch.equal(a.images.images, b.images.images) and np.array_equal(a.masks, b.masks)
    pd.testing.assert_frame_equal(a.objects, b.objects)
    pd.testing.assert_frame_equal(a.captions, b.captions)
    assert not torch.equal(a.images.images, c.images.images)
    g = render_scenes(3, random_state=np.random.default_rng(5))
    assert torch.equal(g.images.images, render_scenes(3, random_state=np.random.default_rng(5)).images.images)


def test_attributes_are_independent():
    from scipy.stats import chi2_contingency

    objects = render_scenes(2000, size=32, n_objects=(1, 3), random_state=0).objects
    for a, b in [("category", "colour"), ("category", "texture"), ("category", "size_name"), ("colour", "texture"),
                 ("colour", "size_name"), ("texture", "size_name")]:
        table = pd.crosstab(objects[a], objects[b])
        assert table.shape == (len(set(objects[a])), len(set(objects[b])))
        assert chi2_contingency(table).pvalue > 1e-3, (a, b)
    for name in ("category", "size_name"):  # position says nothing about the attributes
        means = objects.groupby(name)[["x", "y"]].mean()
        assert (means.max() - means.min()).max() < 1.5, name
    assert set(objects.category) == set(CATEGORIES) and set(objects.colour) == set(COLOURS)
    assert set(objects.texture) == set(TEXTURES) and set(objects.size_name) == set(SIZES)


def test_subsets_plain_background_and_ids():
    s = render_scenes(30, n_objects=2, categories=["star", "heart"], colours=("green",), textures="dotted",
                      size_names=["small"], background="plain", random_state=1, id_prefix="x/")
    assert set(s.objects.category) == {"star", "heart"} and set(s.objects.colour) == {"green"}
    assert set(s.objects.texture) == {"dotted"} and set(s.objects.size_name) == {"small"}
    assert s.ids[-1] == "x/00029" and (s.objects.groupby("stimulus_id").size() == 2).all()
    images = s.images.images.numpy()
    assert (images.transpose(1, 0, 2, 3)[:, ~s.masks.any(axis=1)] == 0.5).all()
    assert set(s.background.background) == {"plain"}


def test_indexing_returns_consistent_subsets():
    s = SCENES
    sub = s[[5, "world00002"]]
    assert isinstance(sub, WorldScenes) and sub.ids == ["world00005", "world00002"] and len(sub) == 2
    assert torch.equal(sub.images.images, s.images.images[[5, 2]]) and np.array_equal(sub.masks, s.masks[[5, 2]])
    expected = pd.concat([s.objects[s.objects.stimulus_id == i] for i in sub.ids]).reset_index(drop=True)
    pd.testing.assert_frame_equal(sub.objects, expected)
    assert s[3].ids == ["world00003"] and s[-2:].ids == ["world00058", "world00059"]
    table = s.table()
    assert list(table.stimulus_id) == s.ids
    assert (table.n_objects.to_numpy() == s.objects.groupby("stimulus_id", sort=False).size().to_numpy()).all()
    assert table.caption.iloc[0] == s.captions.caption.iloc[0]
    with pytest.raises(KeyError, match="world99999"):
        s["world99999"]


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(categories=["star", "moon"]), r"categories: received unknown names \['moon'\]"),
    (dict(colours=[]), "colours: received an empty list"),
    (dict(size=16), "too small to render"),
    (dict(size=(64, 20)), "too small to render"),
    (dict(size=64.0), "expected an int or"),
    (dict(n_objects=0), "n_objects: received 0"),
    (dict(n_objects=(2, 9)), r"n_objects: received \(2, 9\)"),
    (dict(n_objects=(3, 2)), r"1 <= min <= max <= 5"),
    (dict(background="noise"), "background: received 'noise'"),
    (dict(id_prefix=3), "id_prefix"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        render_scenes(2, **kwargs)
    with pytest.raises(InputError, match="n: received 0"):
        render_scenes(0)


def test_plot_scenes_titles_are_captions():
    from neuroperception.plotting import plot_scenes

    s = SCENES[:6]
    fig = plot_scenes(s, n=6, ncols=3, caption="relation", boxes=True)
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes]
    caps = s.captions
    for sid, title in zip(s.ids, titles):
        own = caps[caps.stimulus_id == sid]
        expected = own[own.kind == "relation"].caption.tolist() or own.caption.tolist()
        assert title == expected[0]
    n_boxes = sum(len(ax.patches) for ax in fig.axes)
    assert n_boxes == len(s.objects)
    with pytest.raises(InputError, match="expected a WorldScenes"):
        plot_scenes(s.images)


def test_an_object_that_stays_hidden_is_an_error_not_a_silent_scene(monkeypatch):
    from neuroperception.world import scenes as module

    monkeypatch.setattr(module, "MIN_VISIBLE", 1.01)  # no object can keep more than all its pixels
    monkeypatch.setattr(module, "_REDRAWS", 2)
    with pytest.raises(InputError, match="after 2 redraws"):
        render_scenes(3, random_state=0)
