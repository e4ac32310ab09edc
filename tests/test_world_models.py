"""The miniature world's trained models: shipped weights reach their targets on held-out scenes, load
through the registry like any model (layers, extraction, weights provenance), and drop into the
package's CLIP consumers; a slow test retrains both from scratch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError, MissingWeightsError
from neuroperception.features import extract, load_model
from neuroperception.world import render_scenes
from neuroperception.world.evaluation import (caption_scores, normalise, perturb_caption, probe_layers, scene_stream,
                                              shape_accuracy)
from neuroperception.world.models import (WORLD_WORDS, WorldCLIP, WorldCNN, WorldTokenizer, build_world_model,
                                          shipped_weights_path)
from neuroperception.world.training import TrainConfig, main, save_weights, train_clip, train_cnn

# the targets of the issue, checked on held-out scenes
CNN_EXACT_SET = 0.95
CLIP_TOP1 = 0.80
# 2-way discrimination of a caption from the same caption made false in one way (chance: 0.5); the
# relation is only reported by the issue: the shipped model tells it apart above chance, not well
CLIP_PAIRS = {"colour": 0.85, "shape": 0.85}


@pytest.fixture(scope="module")
def cnn():
    return load_model("world:cnn")


@pytest.fixture(scope="module")
def clip():
    return load_model("world:clip")


@pytest.fixture(scope="module")
def held_out():
    """200 scenes from the test stream, which training never draws from."""
    return render_scenes(200, random_state=scene_stream("test", 0))


# ----------------------------------------------------------------------------------- shipped weights


def test_shipped_files_are_small_float16_with_metadata():
    sizes = []
    for name in ("cnn", "clip"):
        path = shipped_weights_path(name)
        sizes.append(path.stat().st_size)
        obj = torch.load(path, weights_only=True)
        floats = [v for v in obj["state_dict"].values() if v.is_floating_point()]
        assert floats and all(v.dtype == torch.float16 for v in floats)
        meta = obj["meta"]
        assert meta["model"] == name and meta["version"] == 1 and isinstance(meta["random_state"], int)
        assert set(meta["config"]) >= {"steps", "batch_size", "lr", "widths"}
    assert max(sizes) < 1_000_000 and sum(sizes) <= 8_000_000
    assert torch.load(shipped_weights_path("clip"), weights_only=True)["meta"]["vocabulary"] == list(WORLD_WORDS)


def test_shipped_cnn_names_the_shapes_of_held_out_scenes(cnn, held_out):
    scores = shape_accuracy(cnn.module, held_out)
    assert scores["exact_set"] >= CNN_EXACT_SET, scores
    assert scores["per_label"] >= scores["exact_set"]
    # the registry's preprocessing is the one the model was trained with
    x = held_out.images.images[:8]
    assert torch.allclose(cnn(x), cnn.module(normalise(x)), atol=1e-6)


def test_shipped_clip_retrieves_and_discriminates_captions(clip, held_out):
    scores = caption_scores(clip.extras["clip"], clip.extras["tokenizer"], held_out[:100])
    assert scores["image_to_text_top1"] >= CLIP_TOP1, scores
    assert scores["text_to_image_top1"] >= CLIP_TOP1 - 0.1, scores
    for kind, floor in CLIP_PAIRS.items():
        assert scores[f"n_{kind}"] >= 20 and scores[kind] >= floor, (kind, scores)


def test_shipped_clip_tells_relations_apart_above_chance_and_its_file_reports_it(clip):
    scenes = render_scenes(400, random_state=scene_stream("test", 3))
    scores = caption_scores(clip.extras["clip"], clip.extras["tokenizer"], scenes)
    n, acc = scores["n_relation"], scores["relation"]
    assert n >= 200
    assert acc - 1.96 * np.sqrt(acc * (1 - acc) / n) > 0.5, scores  # the 95% interval lies above chance
    reported = clip.extras["meta"]["metrics"]
    assert {"colour", "shape", "relation", "n_relation", "image_to_text_top1"} <= set(reported)
    assert reported["image_to_text_top1"] >= CLIP_TOP1


def test_untrained_models_are_at_chance(held_out):
    model, tok, _, _ = build_world_model("clip", "random")
    scores = caption_scores(model, tok, held_out[:100])
    assert scores["image_to_text_top1"] < 0.2
    torch.manual_seed(0)
    assert shape_accuracy(WorldCNN().eval(), held_out)["exact_set"] < 0.3


def test_cnn_layers_go_from_colour_and_texture_to_category(cnn):
    table = probe_layers(cnn.module, n_scenes=600)
    assert list(table.index) == ["conv1", "conv2", "conv3", "conv4", "pool", "fc"]
    early, late = table.loc[["conv1", "conv2"]], table.loc[["pool", "fc"]]
    # colour and texture: decodable almost perfectly early, lost towards the output
    assert early["colour"].max() > 0.95 and early["colour"].max() > late["colour"].max() + 0.3
    assert early["texture"].max() > 0.8 and early["texture"].max() > late["texture"].max() + 0.2
    # category: poor in the first layer, perfect late
    assert table.loc["conv1", "category"] < 0.6 and late["category"].min() > 0.95
    assert table["colour"].idxmax() == "conv1" and table["texture"].idxmax() == "conv1"
    from neuroperception.plotting import plot_probes

    fig = plot_probes(table)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines[::2]] == ["colour", "texture", "category"]
    assert np.allclose(lines[0].get_ydata(), table["colour"]) and lines[1].get_ydata()[0] == pytest.approx(1 / 6)
    with pytest.raises(InputError, match="outside"):
        plot_probes(table * 2)


# ----------------------------------------------------------------------------------- the registry


def test_world_models_load_like_any_other(cnn, clip):
    assert cnn.weights == f"shipped:{shipped_weights_path('cnn')}"
    assert clip.weights == f"shipped:{shipped_weights_path('clip')}"
    assert {"conv1", "conv2", "conv3", "conv4", "pool", "fc", "output"} <= set(cnn.layer_names())
    assert {"conv1", "conv4", "fc", "proj", "output"} <= set(clip.layer_names())
    assert cnn.extras["categories"] == ("circle", "square", "triangle", "star", "ring", "cross", "diamond", "heart")
    random = load_model("world:cnn", weights="random", random_state=1)
    assert random.weights == "random-init(seed=1)"
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(random(x), cnn(x))
    again = load_model("world:cnn", weights="random", random_state=1)
    assert torch.equal(again(x), random(x))


def test_extract_layers_and_other_sizes(cnn, clip, held_out, tmp_path):
    scenes = held_out.images[:6]
    feats = extract(cnn, scenes, ["conv1", "conv4", "pool", "output"], pooling="none", progress=False)
    assert feats["conv1"].shape == (6, 16, 32, 32) and feats["conv4"].dims == ("stimulus", "channel", "y", "x")
    assert feats["pool"].shape == (6, feats["conv4"].shape[1]) and feats["output"].shape == (6, 8)
    assert list(feats["output"].stimulus_id.values) == scenes.ids
    assert feats["output"].attrs["weights"].startswith("shipped:")
    # the CLIP's output is its image embedding; streamed to zarr like any model
    store = extract(clip, scenes, ["output", "conv2"], pooling="avg", store=tmp_path / "f.zarr", progress=False)
    emb = clip.extras["clip"].encode_image(normalise(scenes.images))
    assert np.allclose(np.asarray(store["output"]), emb.detach().numpy(), atol=1e-5)
    # other sizes are resized as every source does: a 128-px scene reads like its 64-px original
    big = torch.nn.functional.interpolate(scenes.images, scale_factor=2, mode="nearest")
    assert (cnn(big) > 0).eq(cnn(scenes.images) > 0).float().mean() > 0.95


def test_weights_by_path_and_errors(tmp_path):
    torch.manual_seed(0)
    net = WorldCNN()
    path = save_weights(net, tmp_path / "mine.pt", name="cnn", config=TrainConfig(), metrics={"exact_set": 0.0})
    fm = load_model("world:cnn", weights=path)
    assert fm.weights == f"file:{path.resolve()}" and fm.extras["meta"]["metrics"] == {"exact_set": 0.0}
    assert torch.allclose(fm.module.fc.weight, net.fc.weight.half().float())
    with pytest.raises(MissingWeightsError, match="nowhere.pt"):
        load_model("world:cnn", weights=tmp_path / "nowhere.pt")
    with pytest.raises(InputError, match="holds world:cnn weights; expected world:clip"):
        load_model("world:clip", weights=path)
    with pytest.raises(InputError, match="'random'"):
        load_model("world:cnn", weights="DEFAULT")
    with pytest.raises(InputError, match="world:cnn"):
        load_model("world:vit")
    with pytest.raises(InputError, match="unexpected arguments"):
        load_model("world:cnn", widths=3)


# ----------------------------------------------------------------------------------- tokenizer, captions


def test_tokenizer_covers_the_caption_grammar(held_out):
    tok = WorldTokenizer()
    captions = list(held_out.captions.caption) + list(render_scenes(50, n_objects=5, random_state=3).captions.caption)
    ids = tok(captions)
    assert not (ids == tok.unk_id).any()  # every word of the grammar is known
    lengths = (ids != tok.pad_id).sum(1)
    assert int(lengths.max()) < tok.context_length  # no caption is cut
    assert [tok.decode(row) for row in ids[:20]] == [c.replace(",", "") for c in captions[:20]]
    assert tok.decode(tok(["A giant RED star!"])[0]) == "a <unk> red star"
    with pytest.raises(InputError, match="sequence of strings"):
        tok([1, 2])


def test_perturbations_change_one_word_of_the_right_kind():
    rng = np.random.default_rng(0)
    base = "a small red striped star above a large blue ring"
    for kind, allowed in (("colour", {"red", "blue"}), ("shape", {"star", "ring"}), ("relation", {"above"})):
        for _ in range(10):
            out = perturb_caption(base, kind, rng)
            diff = [(a, b) for a, b in zip(base.split(), out.split()) if a != b]
            assert len(diff) == 1 and diff[0][0] in allowed
    assert perturb_caption("two striped squares", "shape", rng).endswith("s")
    assert perturb_caption("a blue ring", "relation", rng) is None


# ----------------------------------------------------------------------------------- consumers of a CLIP


def _caption_of_other_scene(held_out, n):
    first = held_out.captions.drop_duplicates("stimulus_id").caption.tolist()
    return first[:n], first[1 : n + 1]


def test_text_goal_reward_prefers_the_true_caption(clip, held_out):
    from neuroperception.rewards import TextGoalReward

    images = held_out.images.images[:20]
    right, wrong = _caption_of_other_scene(held_out, 20)
    by_spec = TextGoalReward("world:clip", right[0])
    assert torch.allclose(by_spec(images[:1]), TextGoalReward(clip, right[0])(images[:1]))
    wins = sum(int(TextGoalReward(clip, good)(x[None]) > TextGoalReward(clip, bad)(x[None]))
               for x, good, bad in zip(images, right, wrong))
    assert wins >= 17


def test_neva_clip_and_embedding_distance_run_on_world_clip(clip, held_out):
    from neuroperception.scanpaths import NevaClip
    from neuroperception.similarity import EmbeddingDistance

    x = held_out.images.images[:2]
    caps = _caption_of_other_scene(held_out, 2)[0]
    sp = NevaClip("world:clip", n_fixations=2, steps=2, progress=False).predict(x, caps)
    assert sp.n_fixations == 4 and list(sp.meta["task"]) == caps and sp.table.attrs["weights"] == clip.weights
    d = EmbeddingDistance("world:clip")
    assert d.weights.startswith("shipped:")
    same_object = render_scenes(2, n_objects=1, categories=["star"], colours=["red"], textures=["plain"],
                                random_state=scene_stream("test", 1)).images.images
    other = render_scenes(1, n_objects=1, categories=["ring"], colours=["blue"], textures=["striped"],
                          random_state=scene_stream("test", 2)).images.images
    D = d.pairwise(torch.cat([same_object, other]))
    assert D[0, 1] < D[0, 2] and D[0, 1] < D[1, 2]


# ----------------------------------------------------------------------------------- training


def test_training_is_deterministic_and_leaves_torch_as_it_was():
    cfg = TrainConfig(steps=2, batch_size=6, n_test=6, n_probe=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the training script
    try:
        state = torch.random.get_rng_state()
        a, _ = train_cnn(cfg, progress=None)
        assert torch.equal(torch.random.get_rng_state(), state) and not torch.are_deterministic_algorithms_enabled()
        b, _ = train_cnn(cfg, progress=None)
        c, _, _ = train_clip(cfg, progress=None)
        d, _, _ = train_clip(cfg, progress=None)
    finally:
        torch.set_num_threads(threads)
    for x, y in ((a, b), (c, d)):
        assert all(torch.equal(p, q) for p, q in zip(x.state_dict().values(), y.state_dict().values()))
    torch.set_num_threads(1)
    try:
        other, _ = train_cnn(TrainConfig(steps=2, batch_size=6, n_test=6, n_probe=0, random_state=1), progress=None)
    finally:
        torch.set_num_threads(threads)
    assert not torch.equal(other.fc.weight, a.fc.weight)


@pytest.mark.slow
def test_retraining_from_scratch_reaches_the_targets(tmp_path, held_out):
    threads = torch.get_num_threads()
    try:
        assert main(["--model", "all", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    cnn = load_model("world:cnn", weights=tmp_path / "world_cnn.pt")
    assert shape_accuracy(cnn.module, held_out)["exact_set"] >= CNN_EXACT_SET
    clip = load_model("world:clip", weights=tmp_path / "world_clip.pt")
    scores = caption_scores(clip.extras["clip"], clip.extras["tokenizer"], held_out[:100])
    assert scores["image_to_text_top1"] >= CLIP_TOP1, scores
    for kind, floor in CLIP_PAIRS.items():
        assert scores[kind] >= floor, (kind, scores)
    assert scores["n_relation"] >= 20 and 0.0 <= scores["relation"] <= 1.0
    # with the torch build that wrote them, retraining gives the shipped files bit for bit
    for name in ("cnn", "clip"):
        shipped = torch.load(shipped_weights_path(name), weights_only=True)
        if shipped["meta"]["torch"] == str(torch.__version__):
            mine = torch.load(tmp_path / f"world_{name}.pt", weights_only=True)["state_dict"]
            assert mine.keys() == shipped["state_dict"].keys()
            assert all(torch.equal(mine[k], shipped["state_dict"][k]) for k in mine), name
