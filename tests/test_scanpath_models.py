"""Foveation, NeVA/NevaClip scanpath models, saliency baselines and the evaluation pipeline."""

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.features import FeatureModel, Preprocessing, load_model
from neuroperception.scanpaths import Scanpaths
from neuroperception.scanpaths.evaluate import center_scanpaths, evaluate_scanpath_model, random_scanpaths
from neuroperception.scanpaths.foveation import foveate, visibility_map
from neuroperception.scanpaths.neva import NeVA, NevaClip
from neuroperception.scanpaths.saliency_models import CenterBias, FeatureNormSaliency, IttiKoch, UniformSaliency
from neuroperception.stimuli import ImageSet

LEFT, RIGHT = (30, 42, 4, 16), (30, 42, 32, 44)  # (y0, y1, x0, x1) of the two textured patches


def _textured(size=48, regions=(LEFT, RIGHT)):
    """Mid-grey images with fine checkerboard texture in the given regions."""
    img = torch.full((1, 3, size, size), 0.5)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    checker = ((yy + xx) % 2).float()
    for y0, y1, x0, x1 in regions:
        img[0, :, y0:y1, x0:x1] = checker[y0:y1, x0:x1]
    return img


def _detail(x, region):
    """High-frequency energy inside a region (what blur destroys)."""
    y0, y1, x0, x1 = region
    p = x[:, :, y0:y1, x0:x1]
    return (p[..., 1:, :] - p[..., :-1, :]).pow(2).mean((1, 2, 3)) + (p[..., 1:] - p[..., :-1]).pow(2).mean((1, 2, 3))


class ToyClip(nn.Module):
    """A CLIP stand-in: the image embedding is (detail in LEFT, detail in RIGHT, 0.3), the caption
    "left" embeds as (1, 0, 0) and "right" as (0, 1, 0): the similarity rises as the named patch is seen sharp."""

    def encode_image(self, x):
        return torch.stack([_detail(x, LEFT), _detail(x, RIGHT), torch.full((x.shape[0],), 0.3)], 1)

    def encode_text(self, tokens):
        return tokens


def _toy_tokenizer(texts):
    return torch.tensor([[1.0, 0.0, 0.0] if t == "left" else [0.0, 1.0, 0.0] for t in texts])


@pytest.fixture
def toy_clip():
    return FeatureModel(nn.Identity(), Preprocessing(None, None, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), "toy", "none",
                        extras={"clip": ToyClip(), "tokenizer": _toy_tokenizer})


def _inside(xy, region, margin=3):
    y0, y1, x0, x1 = region
    return x0 - margin <= xy[0] <= x1 + margin and y0 - margin <= xy[1] <= y1 + margin


# ------------------------------------------------------------------------------------------ foveation
def test_fixated_point_is_sharp_and_far_points_are_the_reference_blur():
    img = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    fix = torch.tensor([[[10.0, 12.0]], [[40.0, 30.0]]])
    out = foveate(img, fix, sigma=0.05, blur_levels=(0.0, 2.0 / 48))
    assert torch.allclose(out[0, :, 12, 10], img[0, :, 12, 10], atol=1e-6)
    assert torch.allclose(out[1, :, 30, 40], img[1, :, 30, 40], atol=1e-6)
    ref = gaussian_filter(img.numpy().astype(np.float64), sigma=(0, 0, 2.0, 2.0), mode="mirror", truncate=3.0)
    vis = visibility_map(fix, (40, 48), sigma=0.05)[:, 0].numpy()
    far = np.broadcast_to((vis < 1e-7)[:, None], out.shape)
    assert far.sum() > 0.5 * far.size
    np.testing.assert_allclose(out.numpy()[far], ref[far], atol=1e-5)


def test_blur_grows_with_distance_from_the_fixation():
    yy, xx = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    plaid = 0.5 + 0.25 * np.sin(2 * np.pi * xx / 8) + 0.25 * np.sin(2 * np.pi * yy / 8)
    img = torch.tensor(plaid, dtype=torch.float32).expand(1, 3, 64, 64)
    out = foveate(img, [[32.0, 32.0]], sigma=0.15, blur_levels=(0.0, 0.005, 0.01, 0.02, 0.04))
    dist = np.hypot(xx - 32, yy - 32)
    err = (out - img).abs().mean(1)[0].numpy()
    rings = [err[(dist >= lo) & (dist < lo + 6)].mean() for lo in (0, 6, 12, 18, 24)]
    assert all(b > a for a, b in zip(rings, rings[1:])), rings
    assert rings[0] < 0.01 and rings[-1] > 0.1


def test_two_levels_are_neva_mask_form_and_memory_and_padding():
    img = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    fix = torch.tensor([[[4.0, 5.0], [18.0, 20.0]]])
    v = visibility_map(fix, (24, 24), sigma=0.1)
    blurred = foveate(img, fix[:, :0], blur_levels=(0.3,))  # no fixation, one level: the blur itself
    mask_form = img + (1 - v) * (blurred - img)
    np.testing.assert_allclose(foveate(img, fix, sigma=0.1, blur_levels=(0.0, 0.3)).numpy(), mask_form.numpy(),
                               atol=1e-6)
    only_last = foveate(img, fix[:, 1:], sigma=0.1, blur_levels=(0.0, 0.3))
    assert torch.allclose(foveate(img, fix, sigma=0.1, blur_levels=(0.0, 0.3), memory=0.0), only_last, atol=1e-6)
    padded = torch.tensor([[[4.0, 5.0], [float("nan"), float("nan")], [18.0, 20.0]]])
    assert torch.allclose(foveate(img, padded, memory=1.0), foveate(img, fix), atol=1e-6)
    assert torch.allclose(foveate(img, fix[0]), foveate(img, fix))  # (K, 2) is shared by every image


def test_gradients_reach_fixations_and_image_and_point_to_the_detail():
    img = _textured(48, [LEFT]).requires_grad_(True)
    fix = torch.tensor([[[20.0, 24.0]]], requires_grad=True)
    out = foveate(img, fix, sigma=0.1, blur_levels=(0.0, 0.04))
    _detail(out, LEFT).sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0
    g = fix.grad[0, 0]
    assert torch.isfinite(g).all() and g[0] < 0 and g[1] > 0  # towards LEFT: smaller x, larger y
    # the gradient agrees with a finite difference
    eps = 0.5
    f = lambda p: float(_detail(foveate(img.detach(), p, sigma=0.1, blur_levels=(0.0, 0.04)), LEFT))  # noqa: E731
    fd = (f(fix.detach() + torch.tensor([eps, 0.0])) - f(fix.detach() - torch.tensor([eps, 0.0]))) / (2 * eps)
    assert float(g[0]) == pytest.approx(fd, rel=0.05)


def test_foveation_errors():
    img = torch.rand(2, 3, 16, 16)
    with pytest.raises(ShapeError, match=r"fixations: received .*expected \(N, K, 2\)"):
        foveate(img, torch.zeros(3, 1, 2))
    with pytest.raises(InputError, match="blur_levels.*strictly increasing"):
        foveate(img, [[1.0, 1.0]], blur_levels=(0.1, 0.05))
    with pytest.raises(InputError, match=r"memory: received 2.*\[0, 1\]"):
        foveate(img, [[1.0, 1.0]], memory=2)
    with pytest.raises(InputError, match="sigma: received 0"):
        foveate(img, [[1.0, 1.0]], sigma=0)
    with pytest.raises(InputError, match="only one of x, y NaN"):
        foveate(img, [[1.0, float("nan")]])
    with pytest.raises(InputError, match="value_range"):
        foveate(img * 2 - 1, [[1.0, 1.0]])


# -------------------------------------------------------------------------------------- NevaClip / NeVA
def test_nevaclip_goes_where_the_caption_points(toy_clip):
    img = _textured().expand(2, -1, -1, -1)
    model = NevaClip(toy_clip, n_fixations=3, steps=15, lr=0.1, restarts=2)
    sp = model.predict(img, ["left", "right"], stimulus_id=["a", "b"])
    assert len(sp) == 2 and sp.n_fixations == 6
    first = [p[0] for p in sp.arrays()]
    assert _inside(first[0], LEFT) and _inside(first[1], RIGHT), first
    assert list(sp.meta["task"]) == ["left", "right"] and set(sp.table["subject"]) == {"NevaClip"}
    assert sp.table.attrs == {"model": "NevaClip(toy)", "weights": "none"}  # the FeatureModel's own record
    # the named patch is seen sharp: cosine similarity above 0.5 (it is about 0.01 fully blurred)
    assert (sp.table.groupby("scanpath")["loss"].first() < 0.5).all()


def test_nevaclip_is_deterministic_with_a_seed(toy_clip):
    img = _textured()
    kw = dict(n_fixations=2, steps=4, restarts=3)
    a = NevaClip(toy_clip, random_state=3, **kw).predict(img, "left").to_dataframe()
    b = NevaClip(toy_clip, random_state=3, **kw).predict(img, "left").to_dataframe()
    assert a.equals(b)


def test_nevaclip_runs_on_a_real_open_clip_model(tmp_path):
    import open_clip

    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
           "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
    (tmp_path / "TinyNeva-ViT.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(str(tmp_path / "TinyNeva-ViT.json"))
    photos = ImageSet.from_samples(size=40)[["skimage/cat", "skimage/rocket"]]
    model = NevaClip("open_clip:TinyNeva-ViT", n_fixations=2, steps=3)
    sp = model.predict(photos, {"skimage/cat": "a cat", "skimage/rocket": "a rocket"})
    assert list(sp.meta["stimulus_id"]) == ["skimage/cat", "skimage/rocket"]
    assert sp.table.attrs == {"model": "NevaClip(open_clip:TinyNeva-ViT)", "weights": "random-init(seed=0)"}
    sp.check_bounds({i: (40, 40) for i in photos.ids})
    again = NevaClip("open_clip:TinyNeva-ViT", n_fixations=2, steps=3).predict(
        photos, ["a cat", "a rocket"])
    np.testing.assert_array_equal(np.vstack(sp.arrays()), np.vstack(again.arrays()))


def test_neva_reconstruction_and_classification_objectives():
    img = _textured(48, [RIGHT])
    sp = NeVA(n_fixations=1, steps=10, restarts=3).predict(img)
    assert _inside(sp.arrays()[0][0], RIGHT) and sp.meta["task"][0] == "reconstruction:pixels"
    assert sp.table.attrs == {"model": "NeVA(pixels)", "weights": "none (pixels)"}
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())  # a small seeded conv net as the representation
    feat = NeVA(conv, n_fixations=1, steps=10, restarts=3).predict(img)
    assert _inside(feat.arrays()[0][0], RIGHT) and feat.meta["task"][0] == "reconstruction:Sequential"
    assert feat.table.attrs["weights"] == "unknown (Sequential passed as a torch.nn.Module)"
    gabor = NeVA(load_model("gabor", input_size=48), n_fixations=1, steps=2).predict(img)
    assert gabor.table.attrs == {"model": "NeVA(gabor)", "weights": "none (weight-free)"}

    class Classifier(nn.Module):  # logits: how sharp each patch is
        def forward(self, x):
            return 50 * torch.stack([_detail(x, LEFT), _detail(x, RIGHT)], 1)

    both = _textured()
    neva = NeVA(Classifier(), objective="classification", n_fixations=1, steps=15, restarts=2)
    left = neva.predict(both, labels=[0]).arrays()[0][0]
    right = neva.predict(both, labels=[1]).arrays()[0][0]
    assert _inside(left, LEFT) and _inside(right, RIGHT), (left, right)


def test_neva_errors(toy_clip):
    with pytest.raises(InputError, match="model: received None for objective='classification'"):
        NeVA(objective="classification")
    with pytest.raises(InputError, match="objective: received 'memorise'"):
        NeVA(objective="memorise")
    with pytest.raises(InputError, match="n_fixations: received 0"):
        NeVA(n_fixations=0)
    with pytest.raises(InputError, match="lr: received -1"):
        NevaClip(toy_clip, lr=-1)
    with pytest.raises(InputError, match="without a CLIP text tower"):
        NevaClip(load_model("gabor"))
    with pytest.raises(InputError, match=r"captions: received list of length 1; expected .* per image \(2\)"):
        NevaClip(toy_clip).predict(torch.rand(2, 3, 16, 16), ["left"])
    with pytest.raises(InputError, match=r"labels: received .*expected one int in \[0, 2\)"):
        NeVA(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), objective="classification").predict(
            torch.rand(1, 3, 2, 2), labels=[5])


# ------------------------------------------------------------------------------------ saliency models
def _popout(target, distractor, size=128, where=(2, 3)):
    img = torch.full((1, 3, size, size), 0.5)
    cell = size // 6
    for i in range(6):
        for j in range(6):
            c = target if (i, j) == where else distractor
            y0, x0 = i * cell + cell // 2 - 4, j * cell + cell // 2 - 4
            img[0, :, y0:y0 + 8, x0:x0 + 8] = torch.tensor(c).view(3, 1, 1)
    return img, cell


@pytest.mark.parametrize("target,distractor", [((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)), ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0))])
def test_itti_koch_peaks_on_a_colour_popout(target, distractor):
    img, cell = _popout(target, distractor)
    s = IttiKoch().predict(img)[0].values
    y, x = np.unravel_index(s.argmax(), s.shape)
    assert (y // cell, x // cell) == (2, 3)


def test_itti_koch_peaks_on_an_orientation_singleton():
    size, cell = 192, 32
    img = torch.zeros(1, 3, size, size)
    for i in range(6):
        for j in range(6):
            yc, xc = i * cell + cell // 2, j * cell + cell // 2
            if (i, j) == (4, 1):
                img[0, :, yc - 10:yc + 10, xc - 2:xc + 2] = 1
            else:
                img[0, :, yc - 2:yc + 2, xc - 10:xc + 10] = 1
    s = IttiKoch(channel_weights=(0.0, 0.0, 1.0)).predict(img)[0].values
    y, x = np.unravel_index(s.argmax(), s.shape)
    assert (y // cell, x // cell) == (4, 1)
    with pytest.raises(ShapeError, match="pyramid"):
        IttiKoch(centers=(5,)).predict(torch.rand(1, 3, 32, 32))


def test_saliency_maps_sum_to_one_and_are_labelled():
    photos = ImageSet.from_samples(size=32)[:3]
    for model in (UniformSaliency(), CenterBias(0.2), IttiKoch(centers=(1, 2), deltas=(2, 3)),
                  FeatureNormSaliency("gabor", "scale1")):
        m = model.predict(photos)
        assert m.dims == ("stimulus", "y", "x") and m.shape == (3, 32, 32)
        assert list(m["stimulus_id"].values) == photos.ids
        np.testing.assert_allclose(m.sum(("y", "x")).values, 1.0, atol=1e-9)
        assert float(m.min()) >= 0


def test_center_bias_is_a_centred_gaussian():
    m = CenterBias(sigma=(0.2, 0.1)).predict(torch.rand(1, 3, 30, 40))[0].values
    yy, xx = np.meshgrid(np.arange(30), np.arange(40), indexing="ij")
    ref = np.exp(-0.5 * (((xx - 19.5) / 8.0) ** 2 + ((yy - 14.5) / 3.0) ** 2))
    np.testing.assert_allclose(m, ref / ref.sum(), rtol=1e-10)


def test_feature_norm_saliency_follows_activation_energy(alexnet):
    img = torch.full((1, 3, 64, 64), 0.5)
    img[0, :, 8:28, 36:60] = _textured(64, [(0, 64, 0, 64)])[0, :, 8:28, 36:60]
    m = FeatureNormSaliency("gabor", "scale0").predict(img)[0].values
    assert m[:32, 32:].sum() > 0.5  # the textured quadrant holds most of the mass
    with pytest.raises(ShapeError, match="classifier.1.*expected a spatial map"):
        FeatureNormSaliency(alexnet, "classifier.1").predict(torch.rand(1, 3, 64, 64))
    with pytest.raises(InputError, match="not a layer"):
        FeatureNormSaliency("gabor", "nope")


def test_baseline_scanpaths():
    sizes = {"a": (20, 30), "b": (50, 10)}
    r = random_scanpaths(sizes, n_fixations={"a": 3, "b": 400}, n_per_image=2, random_state=1)
    assert len(r) == 4 and list(r.meta["n_fixations"]) == [3, 3, 400, 400]
    xy = np.vstack(r.select(stimulus_id="b").arrays())
    assert xy[:, 0].max() <= 9 and xy[:, 1].max() <= 49 and abs(xy[:, 1].mean() - 24.5) < 2.5
    assert r.to_dataframe().equals(random_scanpaths(sizes, {"a": 3, "b": 400}, 2, random_state=1).to_dataframe())
    c = center_scanpaths(sizes, n_fixations=2, sigma=0)
    assert c.arrays()[1].tolist() == [[4.5, 24.5], [4.5, 24.5]]
    with pytest.raises(InputError, match="n_fixations: received 0 for image 'a'"):
        random_scanpaths(sizes, n_fixations=0)
    with pytest.raises(InputError, match="sizes"):
        center_scanpaths([(10, 10)])


# ------------------------------------------------------------------------------------------ evaluation
def _coco_file(tmp_path, paths):
    """COCO-Search18 JSON (1680x1050 display) with the given (x, y) scanpaths on image 'img1.jpg'."""
    recs = [{"name": "img1.jpg", "subject": k + 1, "task": "bottle", "condition": "present",
             "X": [float(v) for v in p[:, 0]], "Y": [float(v) for v in p[:, 1]], "T": [200] * len(p),
             "length": len(p), "correct": 1, "RT": 900, "split": "train", "bbox": [10, 10, 50, 50]}
            for k, p in enumerate(paths)]
    f = tmp_path / "coco_search18_fixations_TP_train_split1.json"
    f.write_text(json.dumps(recs))
    return f


class _Oracle:
    """A stand-in model returning a fixed path (in the 105 x 168 image frame) and recording its captions."""

    def __init__(self, path):
        self.path, self.captions = path, None

    def predict(self, images, captions, stimulus_id=None):
        self.captions = captions
        return Scanpaths.from_arrays([self.path], stimulus_id, ["oracle"])


def test_evaluate_on_coco_search18_data(tmp_path):
    from neuroperception.scanpaths.readers import load_coco_search18

    rng = np.random.default_rng(0)
    base = np.array([[840.0, 525.0], [300.0, 200.0], [1400.0, 300.0], [1200.0, 900.0], [500.0, 800.0]])
    humans = [np.clip(base + rng.normal(0, 30, base.shape), 0, [1679, 1049]) for _ in range(4)]
    human = load_coco_search18(_coco_file(tmp_path, humans))
    oracle = _Oracle(base / 10.0)  # the same path in a 10x smaller image
    images = torch.rand(1, 3, 105, 168)

    def mean_distance(a, b, size):
        n = min(len(a), len(b))
        return float(np.hypot(*(a[:n, :2] - b[:n, :2]).T).mean() / np.hypot(*size))

    df = evaluate_scanpath_model(oracle, images, human, metrics=[mean_distance], stimulus_id=["img1.jpg"],
                                 n_baseline=20)
    assert oracle.captions == {"img1.jpg": "bottle"}  # the human task is the default caption
    means = df.set_index("model")["mean"]
    assert set(means.index) == {"_Oracle", "center", "random", "human"}
    assert means["_Oracle"] < means["human"] < means["center"] and means["_Oracle"] < means["random"]
    assert means["_Oracle"] < 0.05  # scaled into the 1680 x 1050 frame it lies on the human paths
    assert (df["n_images"] == 1).all()


def test_evaluate_with_the_metrics_module_and_a_model(tmp_path, toy_clip):
    pytest.importorskip("neuroperception.scanpaths.scanpath_metrics")
    from neuroperception.scanpaths.readers import load_coco_search18

    rng = np.random.default_rng(1)
    humans = [np.column_stack([rng.uniform(0, 1679, 6), rng.uniform(0, 1049, 6)]) for _ in range(3)]
    human = load_coco_search18(_coco_file(tmp_path, humans))
    model = NevaClip(toy_clip, n_fixations=4, steps=3)
    df = evaluate_scanpath_model(model, _textured(), human, captions="left", stimulus_id=["img1.jpg"],
                                 metrics=("multimatch", "scanmatch", "sequence_score", "dtw"))
    metrics = set(df["metric"])
    assert {"multimatch_vector", "multimatch_position", "scanmatch", "sequence_score", "dtw"} <= metrics
    assert set(df["model"]) == {"NevaClip", "center", "random", "human"}
    human_mm = df[(df.model == "human") & (df.metric == "multimatch_position")]["mean"].item()
    assert 0 < human_mm <= 1


def test_evaluate_errors(tmp_path):
    human = Scanpaths.from_arrays([np.array([[1.0, 1.0]])], ["a"])
    images = torch.rand(2, 3, 8, 8)
    pred = Scanpaths.from_arrays([np.array([[1.0, 1.0]])] * 2, ["a", "b"])
    with pytest.raises(AlignmentError, match=r"no scanpaths for image ids \['b'\]"):
        evaluate_scanpath_model(pred, images, human, metrics=[lambda a, b: 0.0], stimulus_id=["a", "b"])
    with pytest.raises(InputError, match="baselines: received \\['shuffled'\\]"):
        evaluate_scanpath_model(pred, images[:1], human, metrics=[lambda a, b: 0.0], stimulus_id=["a"],
                                baselines=("shuffled",))
    with pytest.raises(InputError, match="model: received int"):
        evaluate_scanpath_model(3, images[:1], human, metrics=[lambda a, b: 0.0], stimulus_id=["a"])
    with pytest.raises(InputError, match="captions: received None and the human scanpaths"):
        evaluate_scanpath_model(_Oracle(np.zeros((1, 2))), images[:1], human, metrics=[lambda a, b: 0.0],
                                stimulus_id=["a"])


# ------------------------------------------------------------------------------------------ demo section
@pytest.mark.slow  # the default suite runs this section inside tests/test_cli_demo.py's whole demo
def test_demo_section_writes_scanpaths_figure_and_table(tmp_path):
    from neuroperception.demo.registry import _SECTIONS, DemoContext
    from neuroperception.plotting import Report

    report = Report(tmp_path, "scanpaths")
    dict(_SECTIONS)["scanpaths"](DemoContext(tmp_path, quick=True), report)
    html = report.write().read_text()
    assert "<h2>Scanpaths</h2>" in html and "random weights" in html
    assert (tmp_path / "figures" / "scanpaths_nevaclip.png").stat().st_size > 5000
    assert html.count("skimage/") >= 3 and "NSS under Itti-Koch" in html
