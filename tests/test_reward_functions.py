"""Reward functions: VLM-RM against a hand computation, goal/judge/brain rewards against their
definitions, demonstration rewards on a planted stage feature, batching, determinism, gradients, errors."""

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from torch import nn

from neuroperception.errors import InputError, RandomWeightsWarning, ShapeError
from neuroperception.features import Preprocessing, load_model
from neuroperception.features.registry import FeatureModel
from neuroperception.rewards import (BrainReward, DemonstrationReward, GoalImageReward, JudgeReward, RewardFunction,
                                     TextGoalReward)
from neuroperception.similarity import L2, SSIM, EmbeddingDistance

W_IMAGE = torch.tensor([[1.0, 0.2, -0.3, 0.5], [0.1, 1.0, 0.4, -0.2], [-0.4, 0.3, 1.0, 0.6]])
TEXT = {"goal": [1.0, 0.0, 0.5, 0.0], "goal too": [0.8, 0.3, 0.4, 0.1], "base": [0.2, 0.9, 0.0, 0.3],
        "base too": [-0.3, 0.6, 0.2, 0.9]}


class _Visual(nn.Module):
    """A known image embedding: mean colour times a fixed matrix, (B, 4)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(W_IMAGE.clone())

    def forward(self, x):
        return x.mean(dim=(2, 3)) @ self.w


class _Clip:
    def encode_text(self, tokens):
        return tokens.clone()


def _tokenizer(texts):
    return torch.tensor([TEXT[t] for t in texts])


@pytest.fixture
def known_clip():
    """A FeatureModel with the layout of open_clip's (module, preprocessing, extras) and known embeddings."""
    pre = Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return FeatureModel(_Visual(), pre, "known", "none", extras={"clip": _Clip(), "tokenizer": _tokenizer})


@pytest.fixture(scope="module")
def tiny_clip_spec(tmp_path_factory):
    import open_clip

    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
           "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
    d = tmp_path_factory.mktemp("clipcfg")
    (d / "TinyReward-ViT.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(str(d / "TinyReward-ViT.json"))
    return "open_clip:TinyReward-ViT"


@pytest.fixture
def images():
    return torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _vlmrm(s, goals, baselines, alpha, renormalize=False):
    """The authors' CLIPReward (AlignmentResearch/vlmrm, src/vlmrm/reward_model.py) written out with numpy:
    target/baseline = mean of the unit-length prompt embeddings (not renormalised), direction = target -
    baseline, P = alpha d^T d / |d|^2 + (1 - alpha) I, x = s / |s|, R = 1 - |(x - target) P|^2 / 2."""
    g, b = _unit(np.asarray(goals, float)).mean(0), _unit(np.asarray(baselines, float)).mean(0)
    if renormalize:
        g, b = _unit(g), _unit(b)
    d = (g - b)[None, :]
    P = alpha * d.T @ d / np.linalg.norm(d) ** 2 + (1 - alpha) * np.eye(len(g))
    return 1 - np.linalg.norm((_unit(s) - g) @ P, axis=-1) ** 2 / 2


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_vlmrm_reward_with_several_prompts_equals_the_reference_formula(known_clip, images, alpha):
    goals, baselines = ["goal", "goal too"], ["base", "base too"]
    r = TextGoalReward(known_clip, goals, baseline=baselines, alpha=alpha)
    s = images.mean(dim=(2, 3)).double().numpy() @ W_IMAGE.double().numpy()
    g_vecs, b_vecs = [TEXT[t] for t in goals], [TEXT[t] for t in baselines]
    np.testing.assert_allclose(r(images).numpy(), _vlmrm(s, g_vecs, b_vecs, alpha), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.goal_embedding.numpy(), _unit(np.array(g_vecs)).mean(0), atol=1e-6)
    assert float(r.goal_embedding.norm()) < 0.99   # the mean of two different unit vectors, kept as it is
    # the renormalised variant is a different reward, on request only
    renorm = TextGoalReward(known_clip, goals, baseline=baselines, alpha=alpha, renormalize=True)
    np.testing.assert_allclose(renorm(images).numpy(), _vlmrm(s, g_vecs, b_vecs, alpha, renormalize=True),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(renorm(images).numpy(), r(images).numpy(), atol=1e-4)
    # components stay cosines whatever the length of the mean
    cos = _unit(s) @ _unit(_unit(np.array(g_vecs)).mean(0))
    np.testing.assert_allclose(r.components(images)["cosine_goal"].numpy(), cos, atol=1e-6)


def test_vlmrm_reward_equals_the_reference_formula_on_an_open_clip_model(tiny_clip_spec, images):
    clip = load_model(tiny_clip_spec, weights="random", random_state=3)
    goals, baselines = ["a red square", "a red box", "something red"], ["a square", "a box"]
    r = TextGoalReward(clip, goals, baseline=baselines, alpha=0.7)
    model, tokenizer = clip.extras["clip"], clip.extras["tokenizer"]
    with torch.no_grad():
        g_vecs = model.encode_text(tokenizer(goals)).double().numpy()
        b_vecs = model.encode_text(tokenizer(baselines)).double().numpy()
        s = model.encode_image(clip.preprocess(images)).double().numpy()
    np.testing.assert_allclose(r(images).numpy(), _vlmrm(s, g_vecs, b_vecs, 0.7), rtol=1e-5, atol=1e-5)
    assert r.model_weights == {"model": "random-init(seed=3)"}


def test_alpha_zero_is_the_cosine_reward(known_clip, images):
    r = TextGoalReward(known_clip, "goal", baseline="base", alpha=0.0)
    plain = TextGoalReward(known_clip, "goal")
    s = _unit(images.mean(dim=(2, 3)).double().numpy() @ W_IMAGE.double().numpy())
    cosine = s @ _unit(np.array(TEXT["goal"]))
    np.testing.assert_allclose(r(images).numpy(), cosine, atol=1e-6)
    np.testing.assert_allclose(plain(images).numpy(), cosine, atol=1e-6)
    np.testing.assert_allclose(r.components(images)["cosine_goal"].numpy(), cosine, atol=1e-6)


def test_alpha_one_ignores_directions_orthogonal_to_goal_minus_baseline(known_clip, images):
    r = TextGoalReward(known_clip, "goal", baseline="base", alpha=1.0)
    s = _unit(images.mean(dim=(2, 3)).double().numpy() @ W_IMAGE.double().numpy())
    g, b = _unit(np.array(TEXT["goal"])), _unit(np.array(TEXT["base"]))
    d = _unit(g - b)
    np.testing.assert_allclose(r(images).numpy(), 1 - 0.5 * ((s - g) @ d) ** 2, atol=1e-6)


def test_text_reward_with_a_real_open_clip_model(tiny_clip_spec, images):
    a = TextGoalReward(tiny_clip_spec, ["a red square", "a red box"], baseline="a square", alpha=0.5, random_state=2)
    b = TextGoalReward(tiny_clip_spec, ["a red square", "a red box"], baseline="a square", alpha=0.5, random_state=2)
    ra = a(images)
    assert ra.shape == (5,) and ra.dtype == torch.float32
    torch.testing.assert_close(ra, b(images), rtol=0, atol=0)  # deterministic
    assert bool((ra <= 1 + 1e-6).all())  # R = 1 - |.|^2 / 2 never exceeds 1
    image_goal = TextGoalReward(tiny_clip_spec, images[:1], random_state=2)
    assert float(image_goal(images[:1])[0]) == pytest.approx(1.0, abs=1e-5)  # the goal image itself: cos = 1
    x = images.clone().requires_grad_(True)
    a(x).sum().backward()
    assert a.differentiable and x.grad is not None and float(x.grad.abs().sum()) > 0


def test_goal_reward_is_minus_the_metric_distance(images):
    goal = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for metric in (L2(), SSIM()):
        r = GoalImageReward(metric, goal)
        torch.testing.assert_close(r(images), -metric(images, goal))
    goals = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    per_env = GoalImageReward(SSIM(), goals)
    torch.testing.assert_close(per_env(images), -SSIM()(images, goals))
    torch.testing.assert_close(per_env.components(images)["distance"], SSIM()(images, goals))
    with pytest.raises(ShapeError, match="received 3 observations for 5 goals"):
        per_env(images[:3])


def _rewards(known_clip, images):
    goal = images[:1].flip(-1)
    colour = lambda x: x.mean(dim=(2, 3))  # noqa: E731
    X = np.random.default_rng(0).random((30, 3))
    ridge = Ridge(alpha=1e-3).fit(X, X @ np.random.default_rng(1).normal(size=(3, 6)))
    demos = torch.rand(2, 6, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    return {
        "goal": GoalImageReward(EmbeddingDistance("gabor", layer="scale1"), goal),
        "text": TextGoalReward(known_clip, "goal", baseline="base", alpha=0.5),
        "judge": JudgeReward(SSIM(), goal, anchor=images[1:2], temperature=0.2),
        "brain": BrainReward(ridge, colour, rois="A", voxel_rois=list("AABBBB")),
        "brain_goal": BrainReward(ridge, colour, target=goal),
        "demo": DemonstrationReward(demos, colour, n_stages=2, n_features=2),
    }


def test_batching_equals_per_sample_and_is_deterministic(known_clip, images):
    for name, r in _rewards(known_clip, images).items():
        whole = r(images)
        single = torch.cat([r(images[i:i + 1]) for i in range(len(images))])
        torch.testing.assert_close(whole, single, rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(whole, r(images), rtol=0, atol=0, msg=name)
        assert whole.dtype == torch.float32 and whole.shape == (5,), name
    again = _rewards(known_clip, images)["demo"](images)
    torch.testing.assert_close(again, _rewards(known_clip, images)["demo"](images), rtol=0, atol=0)


def test_differentiable_flag_is_truthful(known_clip, images):
    for name, r in _rewards(known_clip, images).items():
        x = images.clone().requires_grad_(True)
        out = r(x)
        if r.differentiable:
            out.sum().backward()
            assert x.grad is not None and float(x.grad.abs().sum()) > 0, name
            assert bool(torch.isfinite(x.grad).all()), name
        else:
            assert not out.requires_grad, name
    assert not _rewards(known_clip, images)["brain"].differentiable  # scikit-learn model: no gradient
    assert _rewards(known_clip, images)["goal"].differentiable


def test_judge_reward_is_the_2afc_preference_probability(images):
    ref = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    anchor = images[:1]
    metric, T = L2(), 0.05
    r = JudgeReward(metric, ref, anchor=anchor, temperature=T)
    expected = torch.sigmoid((L2()(anchor, ref) - L2()(images, ref)) / T)
    torch.testing.assert_close(r(images), expected)
    assert float(r(anchor)[0]) == pytest.approx(0.5)  # as close as the anchor: indifferent
    assert float(r(ref)[0]) > 0.5  # the reference itself is preferred

    class Comparator(nn.Module):  # prefers the brighter candidate
        def forward(self, candidate, other, reference):
            return candidate.mean(dim=(1, 2, 3)) - other.mean(dim=(1, 2, 3))

    c = JudgeReward(Comparator(), ref, anchor=anchor, temperature=0.5)
    torch.testing.assert_close(c(images), torch.sigmoid((images.mean(dim=(1, 2, 3)) - anchor.mean()) / 0.5))
    assert c.differentiable
    with pytest.raises(InputError, match="temperature: received 0"):
        JudgeReward(metric, ref, anchor=anchor, temperature=0)


def test_brain_reward_activity_and_goal_similarity(images):
    colour = lambda x: x.mean(dim=(2, 3))  # noqa: E731
    X = np.random.default_rng(0).random((30, 3))
    ridge = Ridge(alpha=1e-3).fit(X, X @ np.random.default_rng(1).normal(size=(3, 6)))
    feats = colour(images).numpy()
    pred = ridge.predict(feats)
    r = BrainReward(ridge, colour, rois=["A"], voxel_rois=list("AABBBB"))
    np.testing.assert_allclose(r(images).numpy(), pred[:, :2].mean(1), rtol=1e-5)
    goal = images[:1]
    g = BrainReward(ridge, colour, target=goal)
    expected = [np.corrcoef(p, pred[0])[0, 1] for p in pred]
    np.testing.assert_allclose(g(images).numpy(), expected, atol=1e-5)
    e = BrainReward(ridge, colour, target=goal, metric="euclidean")
    np.testing.assert_allclose(e(images).numpy(), -np.linalg.norm(pred - pred[0], axis=1), atol=1e-5)
    with pytest.raises(InputError, match="target: received 'voxels'"):
        BrainReward(ridge, colour, target="voxels")


def _staged_demos(n=3, t=12, stages=3, seed=0):
    """Videos in three stages; in stage k channel k lights up (the planted feature), the rest is noise."""
    g = torch.Generator().manual_seed(seed)
    demos = 0.1 + 0.2 * torch.rand(n, t, 3, 8, 8, generator=g)
    stage = torch.arange(t) * stages // t
    for k in range(stages):
        demos[:, stage == k, k] += 0.6
    return demos


def test_demonstration_reward_increases_along_a_demo_with_a_planted_stage_feature():
    colour = lambda x: x.mean(dim=(2, 3))  # noqa: E731
    demos = _staged_demos()
    r = DemonstrationReward(demos, colour, n_stages=3, n_features=1)
    assert r.selected_features_[:, 0].tolist() == [0, 1, 2]  # each stage's planted feature is selected
    fresh = _staged_demos(n=1, seed=7)[0]  # a new demonstration
    progress = r(fresh).numpy()
    stage_means = [progress[k * 4:(k + 1) * 4].mean() for k in range(3)]
    assert stage_means[0] < 0.2 < stage_means[1] < 0.8 < stage_means[2], stage_means
    probs = r.components(fresh)["stage_probabilities"]
    assert probs.shape == (12, 3) and probs.argmax(1).tolist() == [0] * 4 + [1] * 4 + [2] * 4
    by_bounds = DemonstrationReward(demos, colour, boundaries=[4, 8], n_features=1)
    torch.testing.assert_close(by_bounds(fresh), r(fresh))  # equal splits == explicit boundaries [4, 8]


def test_demonstration_reward_errors():
    colour = lambda x: x.mean(dim=(2, 3))  # noqa: E731
    demos = _staged_demos()
    with pytest.raises(ShapeError, match="expected 5 dimensions"):
        DemonstrationReward(demos[0], colour, n_stages=2)
    with pytest.raises(InputError, match="n_stages: received 1"):
        DemonstrationReward(demos, colour, n_stages=1)
    with pytest.raises(InputError, match="strictly increasing"):
        DemonstrationReward(demos, colour, boundaries=[8, 4])
    with pytest.raises(ShapeError, match="feature_fn: returned"):
        DemonstrationReward(demos, lambda x: x.mean(dim=(1, 2, 3)), n_stages=2)


def test_bad_observations_and_bad_rewards_raise(known_clip, images):
    r = TextGoalReward(known_clip, "goal")
    bad = images.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="TextGoalReward observations: received 1 NaN/Inf"):
        r(bad)
    with pytest.raises(ShapeError, match="expected 4 dimensions"):
        r(images[0])
    with pytest.raises(ShapeError, match="channels"):
        r(torch.rand(2, 4, 8, 8))
    with pytest.raises(InputError, match="expected values in"):
        r(images * 2)

    class Broken(RewardFunction):
        def reward(self, x):
            return torch.log(x.mean(dim=(1, 2, 3)) - 0.5)

    with pytest.raises(InputError, match="Broken: reward is NaN/Inf for observations"):
        Broken()(torch.zeros(2, 3, 4, 4))

    class WrongShape(RewardFunction):
        def reward(self, x):
            return x.mean(dim=(2, 3))

    with pytest.raises(ShapeError, match=r"WrongShape.reward: returned .*expected shape \(2,\)"):
        WrongShape()(torch.zeros(2, 3, 4, 4))
    with pytest.raises(InputError, match="alpha: received 0.5 without a baseline"):
        TextGoalReward(known_clip, "goal", alpha=0.5)
    with pytest.raises(InputError, match="renormalize: received 'yes'; expected True or False"):
        TextGoalReward(known_clip, "goal", renormalize="yes")
    with pytest.raises(InputError, match="model: received Ridge"):
        TextGoalReward(Ridge(), "goal")
    with pytest.raises(InputError, match="metric: received str"):
        GoalImageReward("lpips", images[:1])


def test_uint8_gym_frames_equal_float_images(known_clip, images):
    r = TextGoalReward(known_clip, "goal", baseline="base", alpha=0.5)
    frames = (images * 255).round().to(torch.uint8)
    as_float = frames.float() / 255
    hwc = frames.permute(0, 2, 3, 1)
    torch.testing.assert_close(r(hwc), r(as_float))  # torch uint8 (B, H, W, 3)
    torch.testing.assert_close(r(hwc.numpy()), r(as_float))  # numpy uint8 (B, H, W, 3)


def test_every_reward_records_the_weights_of_its_networks(known_clip, images):
    net = load_model("torchvision:squeezenet1_1", weights="random", random_state=4)
    assert TextGoalReward(known_clip, "goal").model_weights == {"model": "none"}
    assert GoalImageReward(EmbeddingDistance(net, layer="features.3"), images[:1]).model_weights == {
        "metric": "random-init(seed=4)"}
    assert GoalImageReward(L2(), images[:1]).model_weights == {}   # no network, nothing to record
    judge = JudgeReward(EmbeddingDistance("gabor", layer="scale0"), images[:1], anchor=images[1:2])
    assert judge.model_weights == {"judge": "none (weight-free)"}
    X = np.random.default_rng(0).random((20, 128))
    ridge = Ridge(alpha=1.0).fit(X, X[:, :3])
    assert BrainReward(ridge, (net, "features.3")).model_weights == {"feature_fn": "random-init(seed=4)"}
    with pytest.warns(RandomWeightsWarning, match="torchvision:squeezenet1_1"):   # a spec is loaded (and warns) once
        from_spec = BrainReward(ridge, ("torchvision:squeezenet1_1", "features.3"))
    assert from_spec.model_weights == {"feature_fn": "random-init(seed=0)"}
    colour = BrainReward(Ridge().fit(X[:, :3], X[:, :2]), lambda x: x.mean(dim=(2, 3)))
    assert colour.model_weights == {"feature_fn": "unknown (function records no weights)"}

    class Scaled(RewardFunction):  # a subclass keeps the name `weights` for its own use
        def __init__(self, inner):
            super().__init__()
            self.inner, self.weights = inner, nn.Parameter(torch.full((1,), 2.0))

        def reward(self, x):
            return self.inner.reward(x) * self.weights

    wrapped = Scaled(GoalImageReward(EmbeddingDistance(net, layer="features.3"), images[:1]))
    assert wrapped.model_weights == {"inner.metric": "random-init(seed=4)"}   # a wrapped reward's record
