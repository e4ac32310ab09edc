"""Weights: state dicts by path, tags resolved in the libraries' caches, clear errors when absent."""

import json
import os

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError, MissingWeightsError
from neuroperception.features import extract, load_model, load_state_dict_file


def _outputs(model, x):
    with torch.no_grad():
        return model(x).numpy()


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "module_prefix"])
def test_state_dict_by_path_gives_identical_outputs(tmp_path, wrap):
    source = load_model("torchvision:squeezenet1_1", random_state=7)
    sd = source.module.state_dict()
    if wrap == "state_dict":
        obj = {"state_dict": sd, "epoch": 3}
    elif wrap == "module_prefix":
        obj = {f"module.{k}": v for k, v in sd.items()}
    else:
        obj = sd
    path = tmp_path / "squeezenet.pth"
    torch.save(obj, path)
    loaded = load_model("torchvision:squeezenet1_1", weights=path)  # random init would be seed 0
    x = torch.rand(2, 3, 64, 64)
    np.testing.assert_array_equal(_outputs(loaded, x), _outputs(source, x))
    assert loaded.weights == f"file:{path.resolve()}"
    assert not np.allclose(_outputs(load_model("torchvision:squeezenet1_1"), x), _outputs(source, x))


def test_safetensors_file(tmp_path):
    from safetensors.torch import save_file

    source = load_model("torchvision:squeezenet1_1", random_state=2)
    save_file({k: v.contiguous() for k, v in source.module.state_dict().items()}, tmp_path / "w.safetensors")
    loaded = load_model("torchvision:squeezenet1_1", weights=str(tmp_path / "w.safetensors"))
    x = torch.rand(1, 3, 64, 64)
    np.testing.assert_array_equal(_outputs(loaded, x), _outputs(source, x))


def test_missing_file_and_wrong_architecture(tmp_path):
    missing = tmp_path / "nope" / "alexnet.pth"
    with pytest.raises(MissingWeightsError, match="nope") as info:
        load_model("torchvision:alexnet", weights=missing)
    assert isinstance(info.value, FileNotFoundError)
    torch.save(load_model("torchvision:squeezenet1_1").module.state_dict(), tmp_path / "sq.pth")
    with pytest.raises(InputError, match="missing keys.*unexpected keys"):
        load_model("torchvision:alexnet", weights=tmp_path / "sq.pth")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(InputError, match="expected a state dict"):
        load_state_dict_file(tmp_path / "list.pt")


def test_torchvision_default_tag_resolved_in_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    with pytest.raises(MissingWeightsError) as info:
        load_model("torchvision:squeezenet1_1", weights="DEFAULT")
    msg = str(info.value)
    assert "squeezenet1_1-b8a52dc0.pth" in msg and str(folder) in msg and "weights=<path" in msg
    assert "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth" in msg
    source = load_model("torchvision:squeezenet1_1", random_state=11)
    folder.mkdir(parents=True)
    torch.save(source.module.state_dict(), folder / "squeezenet1_1-b8a52dc0.pth")
    loaded = load_model("torchvision:squeezenet1_1", weights="IMAGENET1K_V1")
    x = torch.rand(1, 3, 64, 64)
    np.testing.assert_array_equal(_outputs(loaded, x), _outputs(source, x))
    assert "IMAGENET1K_V1" in loaded.weights and str(folder) in loaded.weights
    with pytest.raises(InputError, match="tag 'V9'.*IMAGENET1K_V1"):
        load_model("torchvision:squeezenet1_1", weights="V9")


def test_timm_default_tag_resolved_in_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="timm/resnet18"):
        load_model("timm:resnet18", weights="DEFAULT")
    source = load_model("timm:resnet18", random_state=5)
    repo = tmp_path / "models--timm--resnet18.a1_in1k"
    snap = repo / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    torch.save(source.module.state_dict(), snap / "pytorch_model.bin")
    loaded = load_model("timm:resnet18", weights="DEFAULT")
    x = torch.rand(1, 3, 64, 64)
    np.testing.assert_array_equal(_outputs(loaded, x), _outputs(source, x))


@pytest.fixture
def tiny_clip(tmp_path_factory):
    """Register a small open_clip architecture (a real open_clip JSON model config)."""
    import open_clip

    cfg = {"embed_dim": 32,
           "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
           "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    d = tmp_path_factory.mktemp("clipcfg")
    (d / "TinyTest-ViT.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(str(d / "TinyTest-ViT.json"))
    return "TinyTest-ViT"


def test_open_clip_file_and_tag(tmp_path, monkeypatch, tiny_clip):
    import open_clip

    source = load_model(f"open_clip:{tiny_clip}", random_state=4)
    full = source.extras["clip"].state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in full.items()}}, tmp_path / "epoch_1.pt")
    loaded = load_model(f"open_clip:{tiny_clip}", weights=tmp_path / "epoch_1.pt")
    x = torch.rand(2, 3, 64, 64)
    np.testing.assert_array_equal(_outputs(loaded, x), _outputs(source, x))
    # a pretrained tag is looked up where open_clip would have downloaded it (HF hub cache)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    cfg = {"hf_hub": "someorg/tiny-clip/", "url": "", "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    monkeypatch.setattr(open_clip, "get_pretrained_cfg", lambda name, tag: cfg if tag == "mytag" else {})
    monkeypatch.setattr(open_clip, "list_pretrained_tags_by_model", lambda name: ["mytag"])
    with pytest.raises(MissingWeightsError, match="someorg/tiny-clip"):
        load_model(f"open_clip:{tiny_clip}", weights="mytag")
    snap = tmp_path / "hf" / "models--someorg--tiny-clip" / "snapshots" / "r1"
    snap.mkdir(parents=True)
    torch.save(full, snap / "open_clip_pytorch_model.bin")
    tagged = load_model(f"open_clip:{tiny_clip}", weights="DEFAULT")
    assert tagged.preprocess.mean == (0.5, 0.5, 0.5)  # the tag's own normalisation
    feats = extract(tagged, x, "output")["output"]
    with torch.no_grad():
        ref = source.module(tagged.preprocess(x)).numpy()
    np.testing.assert_allclose(feats.values, ref, rtol=1e-5, atol=1e-6)


def test_gabor_refuses_weights():
    with pytest.raises(InputError, match="no weights"):
        load_model("gabor", weights="DEFAULT")


def test_device_argument_validated():
    m = load_model("gabor", device="cpu")
    assert m.device == torch.device("cpu")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(InputError, match=f"'cuda:{n}' but this machine has {n} CUDA device"):
        load_model("gabor", device=f"cuda:{n}")
    with pytest.raises(InputError, match="expected None \\(CUDA when available, else the CPU\\), 'cpu', 'cuda', 'cuda:N'"):
        load_model("gabor", device="gpu0")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
