"""Extraction: equality with a hand-written hook, pooling values, ids, tokens, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA as SkPCA

from neuroperception.errors import InputError
from neuroperception.features import (PCA, SparseRandomProjection, canonical_activation, extract, layer_names,
                                      load_model)
from neuroperception.stimuli import ImageSet


def _manual(model, images: torch.Tensor, layer: str) -> torch.Tensor:
    """A plain forward hook written by hand, on the model's own preprocessing."""
    store = {}
    handle = dict(model.module.named_modules())[layer].register_forward_hook(
        lambda m, i, o: store.__setitem__("x", o.detach().clone()))
    with torch.no_grad():
        model.module(model.preprocess(images))
    handle.remove()
    return store["x"]


def test_extract_equals_hand_written_hook(alexnet, small_images):
    layers = ["features.2", "features.10", "classifier.4"]
    raw = extract(alexnet, small_images, layers, pooling="none", batch_size=4)
    avg = extract(alexnet, small_images, layers, pooling="avg", batch_size=4)
    for layer in layers:
        ref = _manual(alexnet, small_images.images, layer).numpy()
        np.testing.assert_allclose(raw[layer].values, ref, rtol=1e-5, atol=1e-6)
        expected = ref if ref.ndim == 2 else ref.mean(axis=(2, 3))
        np.testing.assert_allclose(avg[layer].values, expected, rtol=1e-5, atol=1e-6)
    assert raw["features.2"].dims == ("stimulus", "channel", "y", "x")
    assert avg["features.2"].dims == ("stimulus", "feature")
    assert raw["classifier.4"].dims == ("stimulus", "feature")


def test_inplace_operations_after_a_layer_do_not_leak_into_it(alexnet, small_images):
    # features.0 (conv) is followed by ReLU(inplace=True): its recorded output must keep negatives
    for pooling in ("none", "avg"):
        conv = extract(alexnet, small_images, ["features.0", "features.1"], pooling=pooling)
        assert (conv["features.0"].values < 0).any(), pooling
        assert (conv["features.1"].values >= 0).all()
    lin = extract(alexnet, small_images, ["classifier.1", "classifier.2"])
    assert (lin["classifier.1"].values < 0).any() and (lin["classifier.2"].values >= 0).all()


def test_output_layer_is_forward_output(alexnet, small_images):
    out = extract(alexnet, small_images, "output")["output"]
    with torch.no_grad():
        ref = alexnet(small_images.images).numpy()
    np.testing.assert_allclose(out.values, ref, rtol=1e-5, atol=1e-6)


def test_ids_and_attrs_kept(alexnet, small_images):
    da = extract(alexnet, small_images, ["features.5"])["features.5"]
    assert list(da["stimulus_id"].values) == small_images.ids
    assert da.attrs["model"] == "torchvision:alexnet"
    assert da.attrs["weights"] == "random-init(seed=0)"
    assert da.attrs["layer"] == "features.5" and da.attrs["pooling"] == "avg"
    assert "mean=(0.485" in da.attrs["preprocessing"]


def test_batch_size_does_not_change_results(alexnet, small_images):
    a = extract(alexnet, small_images, ["features.7"], batch_size=1)["features.7"]
    b = extract(alexnet, small_images, ["features.7"], batch_size=5)["features.7"]
    np.testing.assert_allclose(a.values, b.values, rtol=1e-4, atol=1e-5)


def test_plain_array_input_gets_generated_ids(alexnet):
    x = np.random.default_rng(0).integers(0, 255, (3, 40, 40, 3), dtype=np.uint8)
    da = extract(alexnet, x, "features.0")["features.0"]
    assert list(da["stimulus_id"].values) == ["stim0000", "stim0001", "stim0002"]


@pytest.mark.parametrize("spec,check", [
    ("max", lambda ref: ref.max(axis=(2, 3))),
    ("avg:2", lambda ref: F.adaptive_avg_pool2d(torch.from_numpy(ref), 2).flatten(1).numpy()),
])
def test_pooling_values(alexnet, small_images, spec, check):
    ref = _manual(alexnet, small_images.images, "features.4").numpy()
    got = extract(alexnet, small_images, "features.4", pooling=spec)["features.4"].values
    np.testing.assert_allclose(got, check(ref), rtol=1e-5, atol=1e-6)


def test_sparse_random_projection_preserves_distances_and_is_seeded():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((20, 64, 8, 8)).astype(np.float32))
    p = SparseRandomProjection(2048, random_state=3)
    y = p.pool(x).numpy()
    assert y.shape == (20, 2048)
    np.testing.assert_array_equal(y, SparseRandomProjection(2048, random_state=3).pool(x).numpy())
    assert not np.allclose(y, SparseRandomProjection(2048, random_state=4).pool(x).numpy())
    flat = x.reshape(20, -1).numpy()
    i, j = np.triu_indices(20, 1)
    d_in = ((flat[i] - flat[j]) ** 2).sum(1)
    d_out = ((y[i] - y[j]) ** 2).sum(1)
    ratio = d_out / d_in
    assert abs(ratio.mean() - 1) < 0.05 and ratio.std() < 0.1  # Johnson-Lindenstrauss
    m = p.matrix(flat.shape[1]).to_dense().numpy()
    density = (m != 0).mean()
    assert abs(density - 1 / np.sqrt(flat.shape[1])) < 0.2 / np.sqrt(flat.shape[1])


def test_pca_pooling_equals_sklearn_on_fit_subset(alexnet, small_images):
    fit_ids = small_images.ids[:5]
    got = extract(alexnet, small_images, "features.9", pooling=PCA(3, fit_on=fit_ids))["features.9"]
    acts = _manual(alexnet, small_images.images, "features.9").reshape(6, -1).numpy().astype(np.float64)
    sk = SkPCA(3, svd_solver="full").fit(acts[:5])
    np.testing.assert_allclose(got.values, sk.transform(acts), rtol=1e-3, atol=1e-3)
    assert got.attrs["pooling"].startswith("pca:3(fit_on=5ids:")
    other = PCA(3, fit_on=small_images.ids[1:]).describe()
    assert other.startswith("pca:3(fit_on=5ids:") and other != got.attrs["pooling"]
    with pytest.raises(InputError, match="expected at most"):
        extract(alexnet, small_images, "features.9", pooling=PCA(10, fit_on=3))


def test_pooling_per_layer_dict(alexnet, small_images):
    out = extract(alexnet, small_images, ["features.1", "classifier.1"],
                  pooling={"features.1": "avg:3", "classifier.1": "none"})
    assert out["features.1"].shape == (6, 64 * 9) and out["classifier.1"].shape == (6, 4096)
    with pytest.raises(InputError, match="no entry for layers"):
        extract(alexnet, small_images, ["features.1", "features.4"], pooling={"features.1": "avg"})


def test_tokens_become_a_grid():
    grid, note = canonical_activation(torch.arange(2 * 50 * 4.0).reshape(2, 50, 4), 2)
    assert grid.shape == (2, 4, 7, 7) and "class token" in note
    # token k (after the class token) lands at row k // 7, column k % 7
    assert grid[1, 2, 1, 3].item() == torch.arange(2 * 50 * 4.0).reshape(2, 50, 4)[1, 1 + 7 + 3, 2].item()
    seq_first, _ = canonical_activation(torch.zeros(49, 3, 8), 3)
    assert seq_first.shape == (3, 8, 7, 7)
    odd, note = canonical_activation(torch.zeros(2, 11, 8), 2)
    assert odd.shape == (2, 8, 11) and "token" in note


def test_errors_name_what_was_received(alexnet, small_images):
    with pytest.raises(InputError, match=r"features\.99.*close"):
        extract(alexnet, small_images, "features.99")
    with pytest.raises(InputError, match="unknown source 'torchvison'.*did you mean 'torchvision'"):
        load_model("torchvison:alexnet")
    with pytest.raises(InputError, match="not in torchvision"):
        load_model("torchvision:alexnett")
    with pytest.raises(InputError, match="pooling: received 'mean:x'"):
        extract(alexnet, small_images, "features.0", pooling="mean:x")
    with pytest.raises(InputError, match="batch_size"):
        extract(alexnet, small_images, "features.0", batch_size=0)
    with pytest.raises(InputError, match="duplicated"):
        extract(alexnet, small_images, ["features.0", "features.0"])
    with pytest.raises(InputError, match="NaN"):
        extract(alexnet, torch.full((1, 3, 32, 32), float("nan")), "features.0")


def test_layer_names_and_seeded_init():
    m0, m0b, m1 = (load_model("torchvision:resnet18", random_state=s) for s in (0, 0, 1))
    names = layer_names(m0)
    assert names[-1] == "output" and "layer4.1.conv2" in names
    w = lambda m: m.module.conv1.weight  # noqa: E731
    assert torch.equal(w(m0), w(m0b)) and not torch.equal(w(m0), w(m1))
    assert m1.weights == "random-init(seed=1)"


def test_open_clip_and_timm_specs():
    clip = load_model("open_clip:ViT-B-32")
    assert "transformer.resblocks.0" in layer_names(clip) and "tokenizer" in clip.extras
    x = ImageSet.from_array(torch.rand(2, 3, 64, 64))
    out = extract(clip, x, ["output", "transformer.resblocks.11"], pooling="none")
    assert out["output"].shape == (2, 512)
    assert out["transformer.resblocks.11"].dims == ("stimulus", "channel", "y", "x")
    assert out["transformer.resblocks.11"].shape == (2, 768, 7, 7)
    with torch.no_grad():
        ref = clip.extras["clip"].encode_image(clip.preprocess(x.images))
    np.testing.assert_allclose(out["output"].values, ref.numpy(), rtol=1e-4, atol=1e-5)
    tm = load_model("timm:resnet18")
    assert tm.preprocess.crop == 224 and "layer3" in layer_names(tm)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_extraction_matches_cpu(small_images):
    cpu = extract(load_model("torchvision:alexnet"), small_images, ["features.4", "output"])
    gpu_model = load_model("torchvision:alexnet", device="cuda")
    gpu = extract(gpu_model, small_images, ["features.4", "output"])
    for layer in cpu:
        np.testing.assert_allclose(gpu[layer].values, cpu[layer].values, rtol=1e-3, atol=1e-3)


def test_record_can_stop_after_the_last_requested_layer():
    from neuroperception.features.hooks import record

    class Boom(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("ran past the recorded layers")

    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), Boom())
    with record(net, ["0", "1"], stop=True) as acts:
        net(torch.ones(1, 2))
    assert set(acts) == {"0", "1"}
    with pytest.raises(InputError, match="output"):
        with record(net, ["0", "output"], stop=True):
            pass
