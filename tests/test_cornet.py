"""CORnet-S in the feature registry: layers, shapes, recurrence, checkpoint loading, seeded init."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuroperception.errors import InputError, MissingWeightsError
from neuroperception.features import extract, layer_names, load_model
from neuroperception.features.hooks import record


@pytest.fixture(scope="module")
def cornet():
    return load_model("cornet_s", random_state=0)


def test_layer_names_follow_the_published_layout(cornet):
    names = layer_names(cornet)
    for layer in ("V1", "V2", "V4", "IT", "decoder.avgpool", "decoder.linear", "IT.output", "V4.conv2", "V1.conv1",
                  "V4.norm1_3", "IT.norm3_1", "output"):
        assert layer in names
    assert "V4.norm1_4" not in names and "IT.norm1_2" not in names  # 4 and 2 time steps
    assert sum(p.numel() for p in cornet.module.parameters()) == 53_416_616


def test_area_output_shapes(cornet):
    x = torch.rand(2, 3, 64, 64)
    layers = ["V1", "V2", "V4", "IT", "decoder.avgpool", "decoder.linear"]
    with torch.no_grad(), record(cornet.module, layers) as acts:
        out = cornet.module(x)
    shapes = {k: tuple(v.shape) for k, v in acts.items()}
    assert shapes == {"V1": (2, 64, 16, 16), "V2": (2, 128, 8, 8), "V4": (2, 256, 4, 4), "IT": (2, 512, 2, 2),
                      "decoder.avgpool": (2, 512, 1, 1), "decoder.linear": (2, 1000)}
    assert torch.equal(out, acts["decoder.linear"])


def test_extract_at_the_model_resolution(cornet):
    feats = extract(cornet, torch.rand(1, 3, 224, 224), ["IT", "V4"], pooling="none")
    assert feats["IT"].shape == (1, 512, 7, 7) and feats["V4"].shape == (1, 256, 14, 14)
    assert feats["IT"].attrs["model"] == "cornet_s"


def _block_reference(block, x):
    """CORblock-S written out with functional ops: stride 2 and a projected skip at step 0 only."""
    def bn(name, h):
        m = getattr(block, name)
        return F.batch_norm(h, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    state = F.conv2d(x, block.conv_input.weight)
    for t in range(block.times):
        skip = bn("norm_skip", F.conv2d(state, block.skip.weight, stride=2)) if t == 0 else state
        h = F.relu(bn(f"norm1_{t}", F.conv2d(state, block.conv1.weight)))
        h = F.relu(bn(f"norm2_{t}", F.conv2d(h, block.conv2.weight, stride=2 if t == 0 else 1, padding=1)))
        state = F.relu(bn(f"norm3_{t}", F.conv2d(h, block.conv3.weight)) + skip)
    return state


def test_recurrent_blocks_match_a_functional_reference():
    net = load_model("cornet_s", random_state=3).module
    g = torch.Generator().manual_seed(0)
    for m in net.modules():  # non-trivial batch-norm statistics so every step matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.bias.data.normal_(0, 0.1, generator=g)
    x = torch.rand(1, 64, 16, 16, generator=g)
    with torch.no_grad():
        for area, size in (("V2", 64), ("V4", 128)):
            inp = x if area == "V2" else net.V2(x)
            assert inp.shape[1] == size
            assert torch.allclose(getattr(net, area)(inp), _block_reference(getattr(net, area), inp), atol=1e-5)


def test_public_checkpoint_layout_loads_and_changes_outputs(tmp_path, cornet):
    source = load_model("cornet_s", random_state=7).module
    state = {f"module.{k}": v.clone() for k, v in source.state_dict().items()}
    assert "module.V1.conv1.weight" in state and "module.IT.norm3_1.running_var" in state
    path = tmp_path / "cornet_s-1d3f7974.pth"
    torch.save({"epoch": 43, "arch": "S", "state_dict": state}, path)
    loaded = load_model("cornet_s", weights=str(path))
    assert loaded.weights.startswith("file:") and str(path.name) in loaded.weights
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = source.eval()(loaded.preprocess(x))
        assert torch.equal(loaded(x), expected)
        assert not torch.allclose(cornet(x), expected)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"module.V1.conv1.weight": torch.zeros(64, 3, 7, 7)}}, path)
    with pytest.raises(InputError, match="do not fit"):
        load_model("cornet_s", weights=path)


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        load_model("cornet_s", weights=str(tmp_path / "nope.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="cornet_s-1d3f7974.pth.*cornet-models"):
        load_model("cornet_s", weights="DEFAULT")
    with pytest.raises(InputError, match="expected 'random' \\(random init\\), 'DEFAULT'"):
        load_model("cornet_s", weights="IMAGENET1K")
    with pytest.raises(InputError, match="bare spec"):
        load_model("cornet_s:big")


def test_seeded_random_init_is_deterministic(cornet):
    again = load_model("cornet_s", random_state=0).module.state_dict()
    other = load_model("cornet_s", random_state=1).module.state_dict()
    own = cornet.module.state_dict()
    assert all(torch.equal(own[k], again[k]) for k in own)
    assert not torch.equal(own["IT.conv2.weight"], other["IT.conv2.weight"])
    assert cornet.weights == "random-init(seed=0)"
    w = own["V4.conv2.weight"]  # He-normal on fan-out, as the published initialisation
    assert abs(float(w.std()) - (2.0 / (9 * 1024)) ** 0.5) < 0.02 * (2.0 / (9 * 1024)) ** 0.5
