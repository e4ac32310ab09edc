"""Search arrays, the eccNET-style VisualSearch model, random search and the search-asymmetry experiment."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuroperception.errors import InputError, ShapeError
from neuroperception.scanpaths import (ECCNET_ASYMMETRY_INDEX, HUMAN_ASYMMETRY_INDEX, RandomSearch, Scanpaths,
                                       VisualSearch, asymmetry_index, search_asymmetry_experiment)
from neuroperception.scanpaths.asymmetry import RT_INTERCEPT_MS, RT_SLOPE_MS
from neuroperception.scanpaths.search import _BoxMeans
from neuroperception.stimuli.search_arrays import SHAPES, draw_item, search_array, search_arrays


@pytest.fixture(scope="module")
def popout():
    return search_array("red", "green", set_size=12, size=128, n=8, random_state=3)


@pytest.fixture(scope="module")
def alexnet_search():
    return VisualSearch("torchvision:alexnet", similarity="centered", eccentricity_pooling=False, max_fixations=12,
                        target_radius=4.0)


# ---------------------------------------------------------------------------------- search arrays
def test_target_is_at_reported_location_and_items_are_drawn_where_listed():
    arr = search_array("Q", "O", set_size=7, size=128, n=4, random_state=5)
    images = arr.images.images.numpy()
    q, o = draw_item("Q", 16), draw_item("O", 16)
    assert (arr.items.groupby("stimulus_id").size() == 7).all()
    assert (arr.items.groupby("stimulus_id")["is_target"].sum() == 1).all()
    for k, stimulus_id in enumerate(arr.ids):
        x0, y0, x1, y1 = arr.target_boxes[k].astype(int)
        np.testing.assert_allclose(images[k, :, y0:y1, x0:x1], q, atol=1e-6)
        np.testing.assert_allclose(arr.target_xy[k], [(x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2])
        # the target template is the same item, centred on its cell
        t = arr.targets.images[k].numpy()
        lo = (t.shape[-1] - 16) // 2
        np.testing.assert_allclose(t[:, lo:lo + 16, lo:lo + 16], q, atol=1e-6)
        mask = np.zeros(images.shape[-2:], dtype=bool)
        for _, row in arr.items[arr.items["stimulus_id"] == stimulus_id].iterrows():
            a, b, c, d = int(row.x0), int(row.y0), int(row.x1), int(row.y1)
            assert 0 <= a < c <= 128 and 0 <= b < d <= 128
            assert not mask[b:d, a:c].any(), "items overlap"
            mask[b:d, a:c] = True
            np.testing.assert_allclose(images[k, :, b:d, a:c], q if row.is_target else o, atol=1e-6)
        assert images[k][:, ~mask].max() == 0.0  # nothing drawn outside the listed items


def test_search_array_is_deterministic_per_seed():
    a = search_array("tilted", "vertical", set_size=6, size=96, n=3, random_state=11)
    b = search_array("tilted", "vertical", set_size=6, size=96, n=3, random_state=11)
    c = search_array("tilted", "vertical", set_size=6, size=96, n=3, random_state=12)
    assert torch.equal(a.images.images, b.images.images)
    assert a.items.equals(b.items) and a.trials.equals(b.trials)
    assert not torch.equal(a.images.images, c.images.images)


def test_shapes_differ_as_their_pairs_should():
    o, q = draw_item("O", 24)[0], draw_item("Q", 24)[0]
    assert (q >= o - 1e-9).all() and q.sum() > o.sum() * 1.1  # Q is O plus a tail
    vertical, tilted = draw_item("vertical", 24)[0], draw_item("tilted", 24)[0]
    assert abs(vertical.sum() - tilted.sum()) < 0.1 * vertical.sum() and not np.allclose(vertical, tilted)
    red = draw_item("red", 24)
    assert red[0].max() == 1.0 and red[1].max() == 0.0
    assert set(SHAPES) >= {"O", "Q", "vertical", "tilted", "straight", "curved"}


def test_search_arrays_full_design():
    design = search_arrays([("Q", "O"), ("O", "Q")], set_sizes=(3, 6), n_per=2, size=96, random_state=1)
    assert len(design) == 8 and len(set(design.ids)) == 8
    counts = design.trials.groupby(["condition", "set_size"]).size()
    assert counts.to_dict() == {("O among Q", 3): 2, ("O among Q", 6): 2, ("Q among O", 3): 2, ("Q among O", 6): 2}
    assert [len(b) for b in design.item_boxes] == [3, 3, 6, 6, 3, 3, 6, 6]


def test_search_array_errors():
    with pytest.raises(InputError, match="expected one of"):
        search_array("star", "O", set_size=3)
    with pytest.raises(InputError, match="at most 16 items fit"):
        search_array("Q", "O", set_size=40, size=96, item_size=12, spacing=2.0)
    with pytest.raises(InputError, match="set_size"):
        search_array("Q", "O", set_size=0)
    with pytest.raises(ShapeError, match="target, distractor"):
        search_arrays([("Q", "O", "X")])


# ---------------------------------------------------------------------------------- the model
def test_box_means_match_average_pooling():
    x = torch.rand(2, 3, 11, 14, dtype=torch.float64)
    means = _BoxMeans(x, 4)
    for h in range(1, 5):
        ref = F.avg_pool2d(x, 2 * h + 1, stride=1, padding=h, count_include_pad=False)
        torch.testing.assert_close(means(h), ref)


def test_popout_found_in_fewer_fixations_than_random(popout, alexnet_search):
    sp, n_model = alexnet_search.search(popout)
    _, n_random = RandomSearch(max_fixations=12, random_state=0).search(popout)
    assert np.isfinite(n_model).all()
    assert n_model.mean() <= 2.0 < 4.0 < np.nanmean(n_random)
    # a colour singleton in pixel mode (no item boxes) is also found quickly
    _, n_pixels = alexnet_search.search(popout.images, popout.targets, popout.target_boxes)
    assert np.isfinite(n_pixels).all() and n_pixels.mean() <= 2.0


def test_scanpaths_are_labelled_and_stop_on_target(popout, alexnet_search):
    sp, n_fix = alexnet_search.search(popout)
    assert isinstance(sp, Scanpaths) and len(sp) == len(popout)
    assert sp.meta["stimulus_id"].tolist() == popout.ids
    assert set(sp.table["task"]) == {"visual search"}
    assert set(sp.table["condition"]) == {"red among green"}
    assert sp.table.attrs == {"model": "VisualSearch(torchvision:alexnet)", "weights": "random-init(seed=0)"}
    for (meta, xy), n, box in zip(sp, n_fix, popout.target_boxes):
        on = sp.table.loc[sp.table["scanpath"] == meta["scanpath"], "on_target"].to_numpy()
        assert len(xy) == n + 1 and on[-1] and not on[:-1].any()
        assert box[0] <= xy[-1, 0] < box[2] and box[1] <= xy[-1, 1] < box[3]  # item centres lie inside
        np.testing.assert_allclose(xy[0], [63.5, 63.5])  # the first fixation is the centre


def test_inhibition_of_return_prevents_refixation():
    arr = search_array("O", "Q", set_size=12, size=96, n=3, random_state=2)
    model = VisualSearch("torchvision:alexnet", eccentricity_pooling=False, ior_radius=10.0, max_fixations=15)
    sp, _ = model.search(arr.images, arr.targets, np.array([[0, 0, 1, 1]] * 3))  # a target never reached
    for xy in sp.arrays():
        assert len(xy) == 16
        d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        assert d[np.triu_indices(len(xy), 1)].min() > 10.0
    # with item boxes, every item is visited at most once
    sp, n_fix = model.search(arr)
    for xy in sp.arrays():
        assert len(np.unique(xy[1:], axis=0)) == len(xy) - 1


def test_eccentricity_pooling_changes_the_periphery_only():
    arr = search_array("tilted", "vertical", set_size=10, size=128, n=1, random_state=4)
    x, t = arr.images.images, arr.targets.images
    kw = dict(model="torchvision:alexnet", layers=["features.5"], fovea_radius=20.0)
    flat = VisualSearch(eccentricity_pooling=False, **kw).attention_map(x, t, fixations=[10, 10])
    zero = VisualSearch(ecc_slopes=(0, 0, 0), **kw).attention_map(x, t, fixations=[10, 10])
    ecc = VisualSearch(ecc_slopes=(0, 1.0, 1.0), **kw).attention_map(x, t, fixations=[10, 10])
    torch.testing.assert_close(flat, zero)
    assert not torch.allclose(flat, ecc, atol=1e-3)
    model = VisualSearch(ecc_slopes=(0, 1.0, 1.0), **kw)
    pad = model._stride(128, 128)
    padded = model._pad(x, pad, pad, 128 + 2 * pad, 128 + 2 * pad)
    plain = model._features(padded, None)[0][0]
    pooled = model._features(padded, torch.tensor([[10.0 + pad, 10.0 + pad]]))[0][0]
    diff = (pooled - plain).abs()
    assert diff[:, 1, 1].max() == 0  # the cell holding the fixation: the backbone's own pooling
    assert diff[:, -2:, -2:].max() > 0  # far from fixation: pooled over a wider window


def test_random_search_is_seeded_and_near_chance():
    arr = search_array("Q", "O", set_size=6, size=96, n=150, random_state=0)
    a, n_a = RandomSearch(random_state=1).search(arr, start=(0, 0))
    b, n_b = RandomSearch(random_state=1).search(arr, start=(0, 0))
    _, n_c = RandomSearch(random_state=2).search(arr, start=(0, 0))
    assert a.table.equals(b.table) and not np.array_equal(n_a, n_c)
    assert a.table.attrs == {"model": "RandomSearch", "weights": "none (no network)"}
    assert abs(n_a.mean() - 3.5) < 0.45  # the target's rank in a random order of 6 items


def test_weights_by_path_are_loaded(tmp_path, popout):
    from neuroperception.features import load_model

    path = tmp_path / "alexnet.pth"
    torch.save(load_model("torchvision:alexnet", random_state=7).module.state_dict(), path)
    from_file = VisualSearch("torchvision:alexnet", weights=path, similarity="cosine", eccentricity_pooling=False)
    seeded = VisualSearch("torchvision:alexnet", random_state=7, similarity="cosine", eccentricity_pooling=False)
    assert from_file.model.weights.startswith("file:") and from_file.weights == from_file.model.weights
    assert seeded.weights == "random-init(seed=7)"
    x, t = popout.images.images[:2], popout.targets.images[:2]
    torch.testing.assert_close(from_file.attention_map(x, t), seeded.attention_map(x, t))


def test_start_on_target_needs_no_fixation(popout, alexnet_search):
    _, n_fix = alexnet_search.search(popout, start=popout.target_xy)
    assert (n_fix == 0).all()


def test_search_errors(popout):
    with pytest.raises(InputError, match="similarity"):
        VisualSearch("torchvision:alexnet", similarity="l2")
    with pytest.raises(InputError, match="not layers of"):
        VisualSearch("torchvision:alexnet", layers=["features.99"])
    with pytest.raises(InputError, match="ecc_slopes"):
        VisualSearch("torchvision:alexnet", ecc_slopes=(0.1,))
    with pytest.raises(InputError, match="model: received int"):
        VisualSearch(3)
    with pytest.raises(InputError, match="max_fixations"):
        RandomSearch(max_fixations=0)
    with pytest.raises(InputError, match="random_state: received float 1.5"):
        RandomSearch(random_state=1.5)
    model = RandomSearch()
    x, t = popout.images, popout.targets
    with pytest.raises(ShapeError, match=r"expected \(8, 4\) boxes"):
        model.search(x, t, np.zeros((3, 4)))
    with pytest.raises(InputError, match="target_radius"):
        model.search(x, t, popout.target_xy)
    with pytest.raises(InputError, match="x1 <= x0"):
        model.search(x, t, np.tile([5, 5, 5, 9], (8, 1)))
    with pytest.raises(ShapeError, match="3 targets for 8 images"):
        model.search(x, t.images[:3], popout.target_boxes)
    with pytest.raises(ShapeError, match="item_boxes"):
        model.search(x, t, popout.target_boxes, item_boxes=popout.item_boxes[:2])
    with pytest.raises(InputError, match="outside"):
        model.search(x, t, popout.target_boxes, start=(500, 5))
    with pytest.raises(InputError, match="target_images"):
        model.search(x)
    _, n = RandomSearch(target_radius=6.0).search(x, t, popout.target_xy)
    assert n.shape == (8,)


# ---------------------------------------------------------------------------------- asymmetry
def test_asymmetry_index_definition():
    assert asymmetry_index(30.0, 10.0) == pytest.approx(0.5)
    assert asymmetry_index(10.0, 30.0) == pytest.approx(-0.5)
    assert asymmetry_index(20.0, -5.0) == 1.0  # negative slopes are clipped at zero
    assert asymmetry_index(0.0, -1.0) == 0.0
    assert (HUMAN_ASYMMETRY_INDEX, ECCNET_ASYMMETRY_INDEX) == (0.564, 0.513)


class _PlantedModel:
    """Needs one fixation per item when the target is an O, one fixation in total when it is a Q."""

    def __init__(self, o_ink):
        self.o_ink = o_ink

    def search(self, images, target_images, target_boxes, item_boxes=None):
        ink = target_images.images.sum(dim=(1, 2, 3)).numpy()
        k = np.array([len(b) for b in item_boxes], dtype=float)
        return None, np.where(np.isclose(ink, self.o_ink), k, 1.0)


def test_asymmetry_experiment_recovers_a_planted_asymmetry():
    o_ink = float(search_array("O", "Q", 1, size=96).targets.images.sum())
    res = search_asymmetry_experiment(_PlantedModel(o_ink), pairs=[("Q", "O")], set_sizes=(2, 4, 8), n_trials=3,
                                      size=96, random_state=0)
    row = res.pairs.iloc[0]
    assert (row["easy"], row["hard"]) == ("Q among O", "O among Q")
    assert row["slope_hard"] == pytest.approx(RT_SLOPE_MS)
    assert row["slope_easy"] == 0.0 and not np.signbit(row["slope_easy"])     # flat: exactly +0, on any LAPACK
    fit = res.slopes.set_index("condition").loc["O among Q"]
    part = res.conditions[res.conditions["condition"] == "O among Q"]
    np.testing.assert_allclose([fit["slope_ms_per_item"], fit["intercept_ms"]],
                               np.polyfit(part["set_size"], part["rt_ms"], 1), rtol=1e-9)
    assert res.asymmetry_index == pytest.approx(1.0)
    easy = res.conditions[res.conditions["difficulty"] == "easy"]
    np.testing.assert_allclose(easy["rt_ms"], RT_SLOPE_MS + RT_INTERCEPT_MS)
    assert len(res.trials) == 2 * 3 * 3 and res.trials["found"].all()
    summary = res.summary()
    assert summary["asymmetry_index"].tolist() == [1.0, HUMAN_ASYMMETRY_INDEX, ECCNET_ASYMMETRY_INDEX]
    fig = res.figure()
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) >= 2
    bars = [round(p.get_height(), 3) for p in res.index_figure().axes[0].patches]
    assert bars == [1.0, 1.0, 0.564, 0.513]


def test_asymmetry_experiment_runs_a_search_model_and_checks_inputs():
    res = search_asymmetry_experiment(RandomSearch(random_state=0), pairs=[("tilted", "vertical")],
                                      set_sizes=(2, 6), n_trials=4, size=96)
    assert set(res.trials["condition"]) == {"tilted among vertical", "vertical among tilted"}
    assert res.trials["n_fixations"].between(0, 6).all()
    assert -1.0 <= res.asymmetry_index <= 1.0
    with pytest.raises(InputError, match="search model"):
        search_asymmetry_experiment(object())
    with pytest.raises(InputError, match="two different"):
        search_asymmetry_experiment(RandomSearch(), set_sizes=(4, 4))
    with pytest.raises(InputError, match="pairs"):
        search_asymmetry_experiment(RandomSearch(), pairs=[("Q", "Q")])


# ---------------------------------------------------------------------------------- plots
def test_search_plots():
    import pandas as pd

    from neuroperception.plotting.search import plot_asymmetry_index, plot_search_slopes

    table = pd.DataFrame({"pair": ["a"] * 4 + ["b"] * 4, "condition": ["x", "x", "y", "y"] * 2,
                          "set_size": [4, 8] * 4, "rt_ms": np.arange(8.0), "sem": np.ones(8)})
    fig = plot_search_slopes(table)
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["a", "b"]
    with pytest.raises(InputError, match="missing columns"):
        plot_search_slopes(table, y="n_fixations")
    with pytest.raises(InputError, match="non-empty mapping"):
        plot_asymmetry_index({})
    with pytest.raises(InputError, match="finite"):
        plot_asymmetry_index({"m": float("nan")})


def test_search_with_eccentricity_pooling_and_a_loaded_backbone():
    from neuroperception.features import load_model

    backbone = load_model("torchvision:alexnet")
    before = {k: v.clone() for k, v in backbone.module.state_dict().items()}
    model = VisualSearch(backbone, similarity="centered", max_fixations=8)
    assert any(type(m).__name__ == "_EccentricityPool" for m in model.model.module.modules())
    assert not any(type(m).__name__ == "_EccentricityPool" for m in backbone.module.modules())  # left untouched
    assert all(torch.equal(before[k], v) for k, v in backbone.module.state_dict().items())
    arr = search_array("red", "green", set_size=10, size=96, n=4, random_state=6)
    _, n_fix = model.search(arr)
    _, n_random = RandomSearch(max_fixations=8, random_state=0).search(arr)
    assert np.isfinite(n_fix).all() and n_fix.mean() < np.nanmean(n_random)
