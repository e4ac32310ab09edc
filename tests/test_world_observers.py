"""Simulated observers of the miniature world: scanpaths that follow captions and targets, and
similarity judgements whose planted attribute weights the choice model recovers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroperception.behaviour import (
    TRIPLET_COLUMNS,
    ThingsTriplets,
    attribute_triplets,
    fit_choice_model,
    odd_one_out_accuracy,
    simulate_judgements,
)
from neuroperception.errors import InputError
from neuroperception.scanpaths import Scanpaths, named_objects, simulate_scanpaths
from neuroperception.world import COLOURS, NUMBERS, SIZE_RANGES, describe, render_scenes


# ============================================================================ scanpaths
@pytest.fixture(scope="module")
def three():
    """Scenes of three objects, and for each a caption naming one of them (drawn at random)."""
    scenes = render_scenes(60, n_objects=3, random_state=2)
    pick = scenes.objects.groupby("stimulus_id", sort=False).sample(1, random_state=0).set_index("stimulus_id")
    captions = {sid: describe(row) for sid, row in pick.iterrows()}
    return scenes, pick, captions


def _share_on(sp: Scanpaths, target: pd.Series) -> float:
    """Share of the fixations after the first that land on each scene's target object."""
    t = sp.table[sp.table["fixation"] > 0]
    return float((t["object"].to_numpy() == target.reindex(t["stimulus_id"]).to_numpy()).mean())


def test_scanpath_table_starts_at_the_centre_and_is_reproducible(three):
    scenes, _, captions = three
    sp = simulate_scanpaths(scenes, task=captions, n_observers=3, n_fixations=5, random_state=1)
    assert isinstance(sp, Scanpaths) and len(sp) == 180 and sp.n_fixations == 180 * 6
    meta = sp.meta
    assert set(meta["subject"]) == {"observer00", "observer01", "observer02"} and set(meta["condition"]) == {"caption"}
    assert (sp.table.groupby("stimulus_id")["task"].first() == pd.Series(captions)).all()
    first = sp.table[sp.table["fixation"] == 0]
    np.testing.assert_array_equal(first[["x", "y"]].to_numpy(), 31.5)
    assert sp.sizes["world00000"] == (64, 64)  # bounds were checked
    # the object column is the mask under the fixation
    t = sp.table
    px = np.rint(t[["x", "y"]].to_numpy()).astype(int)
    pos = pd.Index(scenes.ids).get_indexer(t["stimulus_id"])
    on = t["object"].to_numpy()
    hit = on >= 0
    assert scenes.masks[pos[hit], on[hit], px[hit, 1], px[hit, 0]].all()
    assert not scenes.masks[pos[~hit], :, px[~hit, 1], px[~hit, 0]].any()
    again = simulate_scanpaths(scenes, task=captions, n_observers=3, n_fixations=5, random_state=1)
    pd.testing.assert_frame_equal(sp.table, again.table)
    other = simulate_scanpaths(scenes, task=captions, n_observers=3, n_fixations=5, random_state=2)
    assert not np.array_equal(sp.table["x"].to_numpy(), other.table["x"].to_numpy())


def test_fixations_go_to_the_objects_a_caption_names(three):
    scenes, pick, captions = three
    target = pick["object"]
    guided = _share_on(simulate_scanpaths(scenes, task=captions, n_observers=5), target)
    free = _share_on(simulate_scanpaths(scenes, n_observers=5), target)
    ignored = _share_on(simulate_scanpaths(scenes, task=captions, n_observers=5, guidance=0.0), target)
    shifted = dict(zip(scenes.ids, np.roll(list(captions.values()), 1)))  # another scene's caption
    wrong = _share_on(simulate_scanpaths(scenes, task=shifted, n_observers=5), target)
    assert guided > 0.65 and guided > free + 0.3, (guided, free)
    assert abs(ignored - free) < 0.06 and wrong < free + 0.05, (ignored, free, wrong)
    assert 0.2 < free < 0.5  # three objects share free viewing (by size and visibility) with the background


def test_search_stops_on_the_target(three):
    scenes, pick, _ = three
    targets = pick["category"].to_dict()
    sp = simulate_scanpaths(scenes, task=targets, n_observers=4, n_fixations=12)
    t = sp.table
    assert set(sp.meta["condition"]) == {"search"}
    last = t.groupby("scanpath").tail(1)
    found = last["named"].to_numpy()
    assert found.mean() > 0.95
    assert (t.groupby("scanpath")["named"].apply(lambda s: s.iloc[1:-1].sum()) == 0).all()  # nothing after the target
    assert sp.meta["n_fixations"].mean() < 4  # the first fixation counts
    # what was found is of the searched category
    obj = scenes.objects.set_index(["stimulus_id", "object"])["category"]
    hit = last[found]
    assert (obj.loc[list(zip(hit["stimulus_id"], hit["object"]))].to_numpy() == hit["task"].to_numpy()).all()


def test_centre_bias_inhibition_of_return_and_durations(three):
    scenes = three[0]
    free = simulate_scanpaths(scenes, n_observers=8, n_fixations=8)
    t = free.table[free.table["fixation"] > 0]
    uniform = np.random.default_rng(0).uniform(0, 63, (2, 20000))
    assert np.hypot(t["x"] - 31.5, t["y"] - 31.5).mean() < 0.75 * np.hypot(*(uniform - 31.5)).mean()
    returns = {}
    for ior in (0.9, 0.0):
        a = np.stack(simulate_scanpaths(scenes, n_observers=8, ior=ior).arrays())
        returns[ior] = float((np.linalg.norm(a[:, 3:] - a[:, 1:-2], axis=-1) < 4).mean())
    assert returns[0.9] < 0.5 * returns[0.0], returns
    d = free.table["duration"]
    assert 235 < d.mean() < 265 and 0.4 < d.std() / d.mean() < 0.6 and (d > 0).all()
    for _, g in free.table.groupby("scanpath"):
        np.testing.assert_allclose(np.diff(g["onset"]), g["duration"].to_numpy()[:-1] + 30.0)
    guided = simulate_scanpaths(scenes, task=three[2], n_observers=8).table
    on = guided[guided["fixation"] > 0].groupby("named")["duration"].mean()
    assert on[True] > 1.1 * on[False]


def test_named_objects_follow_the_world_grammar():
    scenes = render_scenes(150, n_objects=(1, 4), random_state=3)
    objs = scenes.objects.groupby("stimulus_id")
    n_checked = 0
    for _, row in scenes.captions.iterrows():
        o = objs.get_group(row["stimulus_id"])
        named = named_objects(row["caption"], o)
        if row["kind"] in ("object", "list"):
            assert named.all(), row["caption"]
        elif row["kind"] == "relation":  # each phrase names exactly one object
            assert named.sum() == 2, row["caption"]
        else:  # "two striped squares": exactly that many of that category
            count = NUMBERS.index(row["caption"].split()[0])
            assert named.sum() == count, row["caption"]
        n_checked += 1
    assert n_checked > 300
    assert named_objects("star", pd.DataFrame({"category": ["star", "ring"], "colour": ["red", "red"],
                                               "texture": ["plain"] * 2, "size_name": ["small"] * 2})).tolist() \
        == [True, False]


def test_scanpath_observer_errors(three):
    scenes = three[0]
    with pytest.raises(InputError, match="scenes: received ImageSet; expected WorldScenes"):
        simulate_scanpaths(scenes.images)
    with pytest.raises(InputError, match="task: no caption or target for scenes"):
        simulate_scanpaths(scenes, task={"world00000": "star"})
    with pytest.raises(InputError, match="task: received list of length 2"):
        simulate_scanpaths(scenes, task=["star", "ring"])
    with pytest.raises(InputError, match="n_fixations: received 0"):
        simulate_scanpaths(scenes, n_fixations=0)
    with pytest.raises(InputError, match=r"guidance: received 1.5; expected a number in \[0, 1\]"):
        simulate_scanpaths(scenes, guidance=1.5)
    with pytest.raises(InputError, match=r"ior: received 1.0; expected a number in \[0, 1\)"):
        simulate_scanpaths(scenes, ior=1.0)


# ============================================================================ similarity judgements
@pytest.fixture(scope="module")
def singles():
    return render_scenes(400, n_objects=1, random_state=0)


@pytest.fixture(scope="module")
def triplets(singles):
    return attribute_triplets(singles, 1000, random_state=0)


def test_attribute_triplets_vary_two_attributes_independently(singles, triplets):
    t = triplets
    assert list(t.columns[:len(TRIPLET_COLUMNS)]) == list(TRIPLET_COLUMNS)
    assert abs(t.attrs["r_low_high"]) < 0.1 and t.attrs["low"] == "colour" and t.attrs["high"] == "shape"
    for col in ("delta_low", "delta_high"):
        assert abs(np.sign(t[col]).mean()) < 0.1  # each favours A as often as B
    assert (t[["ref", "option_a", "option_b"]].nunique(axis=1) == 3).all()
    # distances recomputed from the annotations
    o = singles.objects.set_index("stimulus_id")
    rgb = {k: np.array(v) for k, v in COLOURS.items()}
    scale = max(np.linalg.norm(a - b) for a in rgb.values() for b in rgb.values())
    span = SIZE_RANGES["large"][1] - SIZE_RANGES["small"][0]
    for _, row in t.head(50).iterrows():
        r, a = o.loc[row["ref"]], o.loc[row["option_a"]]
        assert row["d_shape_a"] == float(r["category"] != a["category"])
        assert row["d_texture_a"] == float(r["texture"] != a["texture"])
        assert row["d_colour_a"] == pytest.approx(np.linalg.norm(rgb[r["colour"]] - rgb[a["colour"]]) / scale)
        assert row["d_size_a"] == pytest.approx(abs(r["size_px"] - a["size_px"]) / 64 / span)
    np.testing.assert_array_equal(t["delta_low"], t["d_colour_a"] - t["d_colour_b"])
    other = attribute_triplets(singles, 100, low="texture", high="size", random_state=0)
    np.testing.assert_array_equal(other["delta_high"], other["delta_size"])


def _planted(t: pd.DataFrame, w_low: float, w_high: float, noise: float) -> tuple[float, float, float]:
    """Planted raw weights (per unit of distance) and the standardised high-level share."""
    s_low, s_high = t["delta_low"].std(ddof=0), t["delta_high"].std(ddof=0)
    b_low, b_high = w_low / noise * s_low, w_high / noise * s_high
    return w_low / noise, w_high / noise, b_high / (abs(b_low) + abs(b_high))


@pytest.mark.parametrize("task", ["2afc", "odd_one_out"])
@pytest.mark.parametrize("w_colour, w_shape", [(3.0, 1.0), (1.0, 3.0)])
def test_choice_model_recovers_the_planted_shape_and_colour_weights(triplets, task, w_colour, w_shape):
    responses = simulate_judgements(triplets, {"colour": w_colour, "shape": w_shape}, task=task, n_observers=8,
                                    noise=0.8, random_state=4)
    fit = fit_choice_model(triplets, responses, n_bootstrap=300, random_state=0)
    low, high, share = _planted(triplets, w_colour, w_shape, 0.8)
    for term, planted in (("low", low), ("high", high)):
        assert fit.loc[term, "ci_low_raw"] <= planted <= fit.loc[term, "ci_high_raw"], (term, planted, fit)
    assert fit.loc["high_share", "ci_low"] <= share <= fit.loc["high_share", "ci_high"], (share, fit)
    assert fit.loc["high_share", "ci_high"] - fit.loc["high_share", "ci_low"] < 0.15
    if task == "odd_one_out":  # picking the reference leaves no A/B choice
        assert fit.attrs["n_missing"] == int((responses["chosen"] == "ref").sum()) > 0


def test_odd_one_out_answers_in_things_format_score_a_model_that_shares_the_weights(singles, triplets):
    weights = {"shape": 3.0, "colour": 1.0}
    r = simulate_judgements(triplets, weights, task="odd_one_out", n_observers=2, noise=0.3, random_state=0)
    kept = r[["object_1", "object_2"]].to_numpy()
    assert ((kept != r[["odd_one_out"]].to_numpy()).all() and
            (r["chosen"].map({"ref": "ref", "option_a": "option_a", "option_b": "option_b"}).notna()).all())
    np.testing.assert_array_equal(r["odd_one_out"], r.apply(lambda x: x[x["chosen"]], axis=1))
    assert set(r.loc[r["chosen"] == "option_b", "choice"]) == {"A"} and set(r.loc[r["chosen"] == "ref", "choice"]) == {""}
    import xarray as xr

    o = singles.objects.set_index("stimulus_id").loc[singles.ids]

    def embed(w_shape, w_colour):  # one-hot shape and RGB colour, scaled as a weighted metric would
        shape = pd.get_dummies(o["category"]).to_numpy(float) * np.sqrt(w_shape)
        colour = np.stack(o["colour"].map(COLOURS).to_list()) * np.sqrt(w_colour)
        return xr.DataArray(np.c_[shape, colour], dims=("stimulus", "feature"),
                            coords={"stimulus_id": ("stimulus", singles.ids)})

    pos = {k: i for i, k in enumerate(singles.ids)}
    idx = r[["object_1", "object_2", "odd_one_out"]].apply(lambda c: c.map(pos)).to_numpy()
    things = ThingsTriplets(idx, concepts=tuple(singles.ids), order="given")
    agree = odd_one_out_accuracy(embed(3.0, 1.0), things, similarity="dot")
    blind = odd_one_out_accuracy(embed(0.0, 1.0), things, similarity="dot")
    assert agree.aligned_by == "stimulus_id" and agree.accuracy > blind.accuracy + 0.15, (agree, blind)


def test_similarity_observer_errors(singles, triplets):
    with pytest.raises(InputError, match="expected one object per scene"):
        attribute_triplets(render_scenes(20, n_objects=2, random_state=0), 5)
    with pytest.raises(InputError, match="low, high: received 'shape' twice"):
        attribute_triplets(singles, 5, low="shape")
    with pytest.raises(InputError, match="high: received 'hue'"):
        attribute_triplets(singles, 5, high="hue")
    with pytest.raises(InputError, match="could not fill"):
        attribute_triplets(singles[:4], 5)
    with pytest.raises(InputError, match=r"attribute_weights: received unknown attributes \['hue'\]"):
        simulate_judgements(triplets, {"hue": 1.0})
    with pytest.raises(InputError, match="bias: received 0.5 with task='odd_one_out'"):
        simulate_judgements(triplets, {"shape": 1.0}, task="odd_one_out", bias=0.5)
    with pytest.raises(InputError, match="task: received 'triad'"):
        simulate_judgements(triplets, {"shape": 1.0}, task="triad")
    with pytest.raises(InputError, match="missing"):
        simulate_judgements(triplets[["triplet", "ref"]], {"shape": 1.0})
