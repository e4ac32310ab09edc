"""Embedding and ensemble distances: scipy reference distances, the models' own outputs, heads by path."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist

from neuroperception.errors import InputError, MissingWeightsError, ShapeError
from neuroperception.features import Preprocessing, extract, load_model
from neuroperception.similarity import EmbeddingDistance, EnsembleDistance


@pytest.fixture(scope="module")
def tiny_clip_model(tmp_path_factory):
    """A small open_clip architecture registered from a JSON config, random init (no download)."""
    import open_clip

    cfg = {"embed_dim": 24,
           "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
           "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
    d = tmp_path_factory.mktemp("clipcfg")
    (d / "TinySim-ViT.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(str(d / "TinySim-ViT.json"))
    return load_model("open_clip:TinySim-ViT", random_state=1)


@pytest.fixture(scope="module")
def resnet():
    return load_model("torchvision:resnet18", random_state=0)


@pytest.fixture(scope="module")
def small_resnet(resnet):
    """The same network fed 64-pixel images, to keep the tests quick on CPU."""
    return dataclasses.replace(resnet, preprocess=Preprocessing(resize=64, crop=64))


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 3, 40, 40, generator=g)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "correlation"])
def test_pairwise_and_paired_equal_scipy_on_the_embeddings(small_resnet, images, metric):
    d = EmbeddingDistance(small_resnet, layer="layer3", metric=metric)
    emb = d.embed(d.check(images)).detach().double().numpy()
    ref = cdist(emb, emb, metric=metric)
    D = d.pairwise(images)
    scale = max(1.0, float(ref.max()))
    np.testing.assert_allclose(D.numpy(), ref, atol=1e-5 * scale)
    paired = d(images, images.roll(1, 0))
    np.testing.assert_allclose(paired.numpy(), [ref[i, (i - 1) % 4] for i in range(4)], atol=1e-5 * scale)
    np.testing.assert_allclose(D.diagonal().numpy(), 0, atol=1e-5 * scale)
    np.testing.assert_allclose(D.numpy(), D.T.numpy(), atol=1e-6 * scale)
    assert d(images, images).abs().max().item() < 1e-5 * scale


def test_layer_embedding_is_the_extracted_feature(small_resnet, images):
    for layer, pooling in (("layer2", "avg"), ("layer4.1.conv1", "max"), ("fc", "avg")):
        d = EmbeddingDistance(small_resnet, layer=layer, pooling=pooling)
        ref = extract(small_resnet, images, layer, pooling=pooling)[layer].values
        np.testing.assert_allclose(d.embed(d.check(images)).numpy(), ref, rtol=1e-5, atol=1e-5)


def test_inplace_operation_after_the_layer_does_not_change_its_embedding(alexnet, images):
    small = dataclasses.replace(alexnet, preprocess=Preprocessing(resize=64, crop=64))
    d = EmbeddingDistance(small, layer="classifier.1")  # a Linear followed by ReLU(inplace=True)
    emb = d.embed(d.check(images)).numpy()
    assert (emb < 0).any()
    np.testing.assert_allclose(emb, extract(small, images, "classifier.1")["classifier.1"].values,
                               rtol=1e-5, atol=1e-6)


def test_output_is_the_clip_image_embedding_and_differentiable(tiny_clip_model, images):
    d = EmbeddingDistance(tiny_clip_model)
    clip = tiny_clip_model.extras["clip"]
    with torch.no_grad():
        ref = clip.encode_image(tiny_clip_model.preprocess(images))  # open_clip's own path, model preprocessing
    np.testing.assert_allclose(d.embed(d.check(images)).detach().numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    cos = 1 - F.cosine_similarity(ref[:, None], ref[None], dim=-1)
    np.testing.assert_allclose(d.pairwise(images).detach().numpy(), cos.numpy(), atol=1e-5)
    x = images.clone().requires_grad_(True)
    d(x, images.flip(-1)).sum().backward()
    assert d.differentiable and x.grad is not None and x.grad.abs().sum() > 0
    inner = EmbeddingDistance(tiny_clip_model, layer="transformer.resblocks.0")
    x.grad = None
    inner(x, images.flip(-1)).sum().backward()
    assert inner.differentiable and x.grad is not None and x.grad.abs().sum() > 0


def test_inner_cnn_layer_is_differentiable_despite_inplace_relu(images):
    d = EmbeddingDistance("torchvision:alexnet", layer="features.1")  # ReLU(inplace=True) output
    x = images.clone().requires_grad_(True)
    d(x, images.flip(-1)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_spec_string_loads_seeded_model_and_backbone_stays_in_eval(images):
    a = EmbeddingDistance("torchvision:resnet18", layer="layer1", random_state=3)
    b = EmbeddingDistance(load_model("torchvision:resnet18", random_state=3), layer="layer1")
    np.testing.assert_array_equal(a.pairwise(images[:2]).numpy(), b.pairwise(images[:2]).numpy())
    assert a.preprocess.crop == 224  # the model's own preprocessing
    assert a.weights == "random-init(seed=3)"
    a.train()
    assert not a.backbone.training


def test_embedding_errors(resnet, tmp_path):
    with pytest.raises(InputError, match="metric: received 'manhattan'"):
        EmbeddingDistance(resnet, metric="manhattan")
    with pytest.raises(InputError, match=r"'layer9' is not a layer.*close"):
        EmbeddingDistance(resnet, layer="layer9")
    with pytest.raises(InputError, match="pooling: received 'none'"):
        EmbeddingDistance(resnet, layer="layer1", pooling="none")
    with pytest.raises(InputError, match="model: received int"):
        EmbeddingDistance(3)
    with pytest.raises(MissingWeightsError, match="missing.pt"):
        EmbeddingDistance("torchvision:resnet18", weights=tmp_path / "missing.pt")


@pytest.fixture(scope="module")
def ensemble_members(small_resnet, tiny_clip_model):
    return {"cnn": EmbeddingDistance(small_resnet, layer="layer4"), "clip": EmbeddingDistance(tiny_clip_model)}


def test_ensemble_is_mean_of_member_cosine_distances(ensemble_members, images):
    ens = EnsembleDistance(ensemble_members)
    other = images.flip(-1)
    expected = torch.stack([m(images, other) for m in ensemble_members.values()]).mean(0)
    np.testing.assert_allclose(ens(images, other).detach().numpy(), expected.detach().numpy(), atol=1e-5)
    D = ens.pairwise(images)
    emb = ens.embed(ens.check(images)).detach().double().numpy()
    np.testing.assert_allclose(D.detach().numpy(), cdist(emb, emb, "cosine"), atol=1e-5)
    np.testing.assert_allclose(D.diagonal().detach().numpy(), 0, atol=1e-5)
    ens.set_reference(other[:1])
    np.testing.assert_allclose(ens.to_reference(images).detach().numpy(),
                               ens(images, other[:1]).detach().numpy(), atol=1e-6)


def test_ensemble_heads_by_path(ensemble_members, images, tmp_path):
    plain = EnsembleDistance(ensemble_members)
    sizes = {"cnn": 512, "clip": 24}
    identity = {}
    for name, n in sizes.items():
        identity[f"{name}.weight"], identity[f"{name}.bias"] = torch.eye(n), torch.zeros(n)
    torch.save(identity, tmp_path / "identity.pt")
    headed = EnsembleDistance(ensemble_members, heads=tmp_path / "identity.pt")
    assert headed.headed == ["cnn", "clip"]
    np.testing.assert_allclose(headed.pairwise(images).detach().numpy(), plain.pairwise(images).detach().numpy(),
                               atol=1e-5)

    g = torch.Generator().manual_seed(2)
    lin = {"clip.weight": torch.randn(8, 24, generator=g), "clip.bias": torch.randn(8, generator=g)}
    mlp = {"cnn.fc1.weight": torch.randn(16, 512, generator=g), "cnn.fc1.bias": torch.randn(16, generator=g),
           "cnn.fc2.weight": torch.randn(6, 16, generator=g), "cnn.fc2.bias": torch.randn(6, generator=g)}
    torch.save({"state_dict": {**lin, **mlp}}, tmp_path / "heads.pt")
    ens = EnsembleDistance(ensemble_members, heads=str(tmp_path / "heads.pt"))
    x = ens.check(images)
    with torch.no_grad():
        e_cnn = ensemble_members["cnn"].embed(x)
        e_clip = ensemble_members["clip"].embed(x)
        hidden = F.relu(e_cnn @ mlp["cnn.fc1.weight"].T + mlp["cnn.fc1.bias"])
        h_cnn = hidden @ mlp["cnn.fc2.weight"].T + mlp["cnn.fc2.bias"]
        h_clip = e_clip @ lin["clip.weight"].T + lin["clip.bias"]
        manual = torch.cat([F.normalize(h_cnn, dim=1), F.normalize(h_clip, dim=1)], 1).numpy()
    got = ens.embed(x).detach().numpy()
    np.testing.assert_allclose(got, manual, atol=1e-5)
    np.testing.assert_allclose(ens.pairwise(images).detach().numpy(), cdist(manual, manual, "cosine"), atol=1e-5)


def test_ensemble_head_errors(ensemble_members, tmp_path):
    torch.save({"clip.weight": torch.zeros(8, 23), "clip.bias": torch.zeros(8)}, tmp_path / "bad.pt")
    with pytest.raises(ShapeError, match=r"clip.weight has shape \(8, 23\); expected \(out, 24\)"):
        EnsembleDistance(ensemble_members, heads=tmp_path / "bad.pt")
    with pytest.raises(ShapeError, match=r"clip.bias has shape \(7,\); expected \(8,\)"):
        EnsembleDistance(ensemble_members, heads={"clip.weight": torch.zeros(8, 24), "clip.bias": torch.zeros(7)})
    with pytest.raises(InputError, match="key 'dino.weight' names no member"):
        EnsembleDistance(ensemble_members, heads={"dino.weight": torch.zeros(8, 24)})
    with pytest.raises(InputError, match=r"unexpected keys \['cnn.fc3.weight'\]"):
        EnsembleDistance(ensemble_members, heads={"cnn.fc1.weight": torch.zeros(4, 512),
                                                  "cnn.fc2.weight": torch.zeros(2, 4),
                                                  "cnn.fc3.weight": torch.zeros(2, 2)})
    with pytest.raises(MissingWeightsError, match="nothere.pt"):
        EnsembleDistance(ensemble_members, heads=tmp_path / "nothere.pt")
    with pytest.raises(InputError, match="duplicated member names"):
        EnsembleDistance(["gabor", "gabor"])
    with pytest.raises(InputError, match="received no members"):
        EnsembleDistance([])


def test_ensemble_of_specs_names_members_by_spec(images):
    ens = EnsembleDistance(["gabor", "torchvision:resnet18"], random_state=5)
    assert ens.names == ["gabor", "torchvision:resnet18"]
    assert ens.weights == {"gabor": "none (weight-free)", "torchvision:resnet18": "random-init(seed=5)"}
    ens.load_heads({"torchvision:resnet18.weight": torch.eye(1000)[:10]})
    assert ens.headed == ["torchvision:resnet18"]
    assert ens.embed(ens.check(images)).shape[1] == ens.members[0].embed(ens.check(images)).shape[1] + 10
