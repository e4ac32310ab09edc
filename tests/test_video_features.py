"""Video networks in the registry and ``extract`` on videos: hooks, preprocessing, weights, stores, errors."""

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError, MissingWeightsError
from neuroperception.features import PCA, extract, load_model
from neuroperception.features._torchvision_video import kinetics_preprocessing, video_model_names
from neuroperception.features.preprocessing import Preprocessing
from neuroperception.stimuli import ImageSet


@pytest.fixture(scope="module")
def r3d():
    model = load_model("torchvision_video:mc3_18", random_state=0)  # the smallest 3-D ResNet (11.7M parameters)
    # small frames keep the tests fast; the real Kinetics preprocessing is checked on its own below
    model.preprocess = Preprocessing(resize=(32, 32), crop=None, mean=model.preprocess.mean, std=model.preprocess.std)
    return model


@pytest.fixture
def videos():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 4, 3, 24, 32, generator=g)  # (N, T, 3, H, W): tiny frames, few frames


def _manual(model, videos, layer):
    store = {}
    handle = dict(model.module.named_modules())[layer].register_forward_hook(
        lambda m, i, o: store.__setitem__("x", o.detach().clone()))
    with torch.no_grad():
        model.module(model.preprocess(videos))
    handle.remove()
    return store["x"]


def test_r3d_features_equal_a_hand_written_hook(r3d, videos):
    raw = extract(r3d, videos, ["layer2", "output"], pooling="none")
    avg = extract(r3d, videos, ["layer2", "output"])
    ref = _manual(r3d, videos, "layer2").numpy()  # (N, C, T, H, W)
    assert raw["layer2"].dims == ("stimulus", "channel", "time", "y", "x")
    np.testing.assert_allclose(raw["layer2"].values, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(avg["layer2"].values, ref.mean(axis=(2, 3, 4)), rtol=1e-4, atol=1e-5)
    assert avg["layer2"].dims == ("stimulus", "feature") and avg["output"].shape == (3, 400)
    assert list(avg["layer2"].stimulus_id.values) == ["stim0000", "stim0001", "stim0002"]
    assert avg["layer2"].attrs["model"] == "torchvision_video:mc3_18"
    assert avg["layer2"].attrs["weights"] == "random-init(seed=0)"
    assert r3d.input_kind == "videos"


def test_kinetics_preprocessing_equals_torchvision_preset(videos):
    from torchvision.models.video import R3D_18_Weights

    ours = kinetics_preprocessing(R3D_18_Weights.DEFAULT)
    theirs = R3D_18_Weights.DEFAULT.transforms()
    out = ours(videos)
    assert out.shape == (3, 3, 4, 112, 112)  # (N, C, T, H, W), what the 3-D convolutions take
    # frames smaller than the resize target are only upsampled, where antialiasing changes nothing;
    # the crop's left edge differs by one pixel: 171 - 112 = 59 is odd and the package's centre crop
    # rounds the margin down (29) where torchvision rounds it to even (30)
    ref = theirs(videos)
    torch.testing.assert_close(out[..., 1:], ref[..., :-1], rtol=1e-4, atol=1e-4)
    assert Preprocessing(resize=(10, 20), crop=None)(torch.rand(1, 3, 30, 30)).shape == (1, 3, 10, 20)


def test_state_dict_loaded_by_path_gives_identical_features(r3d, videos, tmp_path):
    other = load_model("torchvision_video:mc3_18", random_state=1)
    path = tmp_path / "r3d.pt"
    torch.save(other.module.state_dict(), path)
    loaded = load_model("torchvision_video:mc3_18", weights=path)
    other.preprocess = loaded.preprocess = r3d.preprocess
    a = extract(other, videos, "layer3")["layer3"]
    b = extract(loaded, videos, "layer3")["layer3"]
    np.testing.assert_array_equal(a.values, b.values)
    assert b.attrs["weights"] == f"file:{path.resolve()}"
    assert not np.allclose(extract(r3d, videos, "layer3")["layer3"].values, b.values)


def test_weight_tags_are_looked_up_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match=r"mc3_18-a90a0ba3\.pth.*not found; looked in: .*checkpoints"):
        load_model("torchvision_video:mc3_18", weights="DEFAULT")
    with pytest.raises(InputError, match="expected 'DEFAULT', one of \\['KINETICS400_V1'\\]"):
        load_model("torchvision_video:mc3_18", weights="IMAGENET1K_V1")


def test_video_sets_are_duck_typed_and_streamed_to_zarr(r3d, videos, tmp_path):
    class TinyVideoSet:
        def __init__(self, v, ids):
            self.videos, self.ids = v, ids

        def __len__(self):
            return len(self.ids)

        def batches(self, batch_size, start=0):
            for lo in range(start, len(self), batch_size):
                yield self.ids[lo:lo + batch_size], self.videos[lo:lo + batch_size]

    vs = TinyVideoSet(videos, ["walk", "run", "jump"])
    mem = extract(r3d, vs, ["layer1", "layer4"], batch_size=2)
    assert list(mem["layer4"].stimulus_id.values) == ["walk", "run", "jump"]
    np.testing.assert_allclose(mem["layer4"].values,
                               extract(r3d, videos, "layer4")["layer4"].values, rtol=1e-5, atol=1e-6)
    stored = extract(r3d, vs, ["layer1", "layer4"], batch_size=2, store=tmp_path / "f.zarr")
    for layer in mem:
        np.testing.assert_allclose(stored[layer].values, mem[layer].values, rtol=1e-6)
        assert list(stored[layer].stimulus_id.values) == ["walk", "run", "jump"]


def test_pca_pooling_fits_on_video_ids(r3d, videos):
    from sklearn.decomposition import PCA as SkPCA

    pca = PCA(2, fit_on=["stim0000", "stim0002"])
    feats = extract(r3d, videos, ["layer1", "layer2"], pooling={"layer1": pca, "layer2": "none"})
    maps = feats["layer2"].values
    assert feats["layer1"].shape == (3, 2)
    raw = extract(r3d, videos, "layer1", pooling="none")["layer1"].values.reshape(3, -1)
    ref = SkPCA(2, svd_solver="full").fit(raw[[0, 2]])
    # two fitted videos span one direction: only the first component is defined (the second is rounding noise)
    np.testing.assert_allclose(np.abs(feats["layer1"].values[:, 0]), np.abs(ref.transform(raw)[:, 0]), rtol=1e-3, atol=1e-3)
    assert maps.ndim == 5


@pytest.mark.slow
def test_swin3d_channels_last_layers_come_out_channels_first():
    model = load_model("torchvision_video:swin3d_t")
    video = torch.rand(1, 4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    feats = extract(model, video, ["features.1", "norm"], pooling="none")
    ref = _manual(model, video, "features.1")  # (N, T, H, W, C)
    assert feats["features.1"].dims == ("stimulus", "channel", "time", "y", "x")
    np.testing.assert_allclose(feats["features.1"].values, ref.permute(0, 4, 1, 2, 3).numpy(), rtol=1e-4, atol=1e-5)
    assert feats["norm"].shape[1] == 768


def test_errors(r3d, videos):
    with pytest.raises(InputError, match="is a video model; received images"):
        extract(r3d, ImageSet.from_array(torch.rand(2, 3, 32, 32)), "layer1")
    with pytest.raises(InputError, match="is a video model; received images"):
        extract(r3d, torch.rand(2, 3, 32, 32), "layer1")
    with pytest.raises(InputError, match=r"takes images; received videos .*load a video model"):
        extract("gabor", videos, "scale0")
    with pytest.raises(InputError, match="did you mean 'r3d_18'"):
        load_model("torchvision_video:r3d_81")
    with pytest.raises(InputError, match=r"expected 5 dimensions|values outside|expected"):
        extract(r3d, videos * 3, "layer1")
    with pytest.raises(InputError, match="expected maps"):
        extract(r3d, videos, "layer1", pooling="avg:2")
    assert {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t"} <= set(video_model_names())


def test_torchvision_source_refuses_video_and_flow_networks():
    with pytest.raises(InputError, match="torchvision_video:r3d_18"):
        load_model("torchvision:r3d_18")
    with pytest.raises(InputError, match="load_raft"):
        load_model("torchvision:raft_small")
