"""LPIPS against the reference `lpips` package, on the same backbone weights and the same heads."""

import warnings

import pytest
import torch
import torchvision

from neuroperception.errors import InputError, MissingWeightsError, RandomWeightsWarning, ShapeError
from neuroperception.similarity import lpips as lpips_module
from neuroperception.similarity.lpips import LPIPS, lpips_head_file

lpips_ref = pytest.importorskip("lpips")

ARCH = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


def _backbone_file(tmp_path_factory, net):
    torch.manual_seed(123)
    model = getattr(torchvision.models, ARCH[net])()
    path = tmp_path_factory.mktemp(net) / f"{net}.pth"
    torch.save(model.state_dict(), path)
    return model, path


def _reference(model, net, **kwargs):
    """`lpips.LPIPS` with its (random) trunk replaced by ``model.features``' weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips_ref.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False, **kwargs)
    features = model.features.state_dict()
    state = {}
    for key in ref.net.state_dict():
        _slice, index, rest = key.split(".", 2)
        state[key] = features[f"{index}.{rest}"]
    ref.net.load_state_dict(state)
    return ref.eval()


@pytest.fixture(scope="module")
def alex(tmp_path_factory):
    model, path = _backbone_file(tmp_path_factory, "alex")
    return LPIPS("alex", weights=path), _reference(model, "alex"), model, path


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 64, 64, generator=g)
    y = (x + 0.2 * torch.randn(5, 3, 64, 64, generator=g)).clamp(0, 1)
    return x, y


def test_equals_lpips_package_on_01_input(alex, images):
    ours, ref, _, path = alex
    x, y = images
    assert ours.weights == f"file:{path.resolve()}"
    assert ours.heads_source == f"file:{lpips_head_file('alex')}"
    with torch.no_grad():
        expected = ref(x, y, normalize=True).flatten()
        got = ours(x, y)
    assert got.shape == (5,)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert float(expected.std()) > 1e-4  # the values differ between pairs: the comparison is not trivial


def test_equals_lpips_package_on_pm1_input(alex, images):
    _, ref, _, path = alex
    ours = LPIPS("alex", weights=path, value_range=(-1, 1))
    x, y = (v * 2 - 1 for v in images)
    with torch.no_grad():
        assert torch.allclose(ours(x, y), ref(x, y).flatten(), atol=1e-5, rtol=0)


def test_spatial_maps_equal_lpips_package(alex, images):
    _, _, model, path = alex
    ref = _reference(model, "alex", spatial=True)
    ours = LPIPS("alex", weights=path, spatial=True)
    x, y = images
    with torch.no_grad():
        total, per_layer = ref(x, y, retPerLayer=True, normalize=True)
        got = ours(x, y)
        maps = ours.layer_maps(x, y)
    assert got.shape == (5, 1, 64, 64)
    assert torch.allclose(got, total, atol=1e-5, rtol=0)
    assert len(maps) == 5
    for mine, theirs in zip(maps, per_layer):
        assert torch.allclose(mine, theirs, atol=1e-5, rtol=0)


def test_layer_maps_at_stage_resolution_sum_to_distance(alex, images):
    ours = alex[0]
    x, y = images
    with torch.no_grad():
        maps = ours.layer_maps(x, y, upsample=False)
        total = sum(m.mean(dim=(1, 2, 3)) for m in maps)
        assert [tuple(m.shape[-2:]) for m in maps] == [(15, 15), (7, 7), (3, 3), (3, 3), (3, 3)]
        assert torch.allclose(total, ours(x, y), atol=1e-6)


def test_uniform_heads_equal_lpips_baseline(alex, images):
    _, _, model, path = alex
    ref = _reference(model, "alex", lpips=False)
    ours = LPIPS("alex", weights=path, heads=None)
    x, y = images
    assert ours.heads_source == "uniform"
    with torch.no_grad():
        assert torch.allclose(ours(x, y), ref(x, y, normalize=True).flatten(), atol=1e-5, rtol=0)


def test_squeezenet_equals_lpips_package(tmp_path_factory, images):
    model, path = _backbone_file(tmp_path_factory, "squeeze")
    ours, ref = LPIPS("squeeze", weights=path), _reference(model, "squeeze")
    x, y = images
    with torch.no_grad():
        assert torch.allclose(ours(x, y), ref(x, y, normalize=True).flatten(), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_vgg_equals_lpips_package(tmp_path_factory, images):
    model, path = _backbone_file(tmp_path_factory, "vgg")
    ours, ref = LPIPS("vgg", weights=path), _reference(model, "vgg")
    x, y = images
    with torch.no_grad():
        assert torch.allclose(ours(x, y), ref(x, y, normalize=True).flatten(), atol=1e-5, rtol=0)


def test_pairwise_equals_pair_loop(alex, images):
    ours = alex[0]
    x, y = images
    z = torch.rand(7, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        matrix = ours.pairwise(x, z, batch_size=3)  # several embedding batches
        loop = torch.stack([torch.stack([ours(x[i:i + 1], z[j:j + 1])[0] for j in range(7)]) for i in range(5)])
        assert matrix.shape == (5, 7)
        assert torch.allclose(matrix, loop, atol=1e-5, rtol=0)
        square = ours.pairwise(torch.cat([x, y]))
    assert torch.equal(square.diagonal(), torch.zeros(10))
    assert torch.allclose(square, square.T, atol=1e-6)
    assert torch.allclose(square[:5, 5:].diagonal(), ours(x, y), atol=1e-5, rtol=0)


def test_reference_single_and_per_row(alex, images):
    ours = alex[0]
    x, y = images
    with torch.no_grad():
        ours.set_reference(y[:1])
        assert torch.allclose(ours.to_reference(x), ours(x, y[:1].expand(5, -1, -1, -1)), atol=1e-6)
        ours.set_reference(y)
        assert torch.allclose(ours.to_reference(x), ours(x, y), atol=1e-6)
    with pytest.raises(ShapeError, match="reference"):
        ours.to_reference(x[:3, :, :32, :32])


def test_gradients_reach_the_input_and_match_lpips(alex, images):
    ours, ref, _, _ = alex
    x, y = images
    xa = x.clone().requires_grad_(True)
    ours(xa, y).sum().backward()
    xb = x.clone().requires_grad_(True)
    ref(xb, y, normalize=True).sum().backward()
    assert torch.isfinite(xa.grad).all() and float(xa.grad.abs().sum()) > 0
    assert torch.allclose(xa.grad, xb.grad, atol=1e-6, rtol=1e-3)
    assert all(not p.requires_grad for p in ours.parameters())


def test_pm1_data_declared_as_01_is_an_error(alex, images):
    x, y = images
    with pytest.raises(InputError, match=r"value_range=\(-1, 1\)"):
        alex[0](x * 2 - 1, y)


def test_size_mismatch_is_a_shape_error(alex, images):
    x, y = images
    with pytest.raises(ShapeError, match="same shape"):
        alex[0](x, y[:, :, :32, :32])
    with pytest.raises(ShapeError, match="same size"):
        alex[0].pairwise(x, y[:, :, :32, :32])


def test_nan_is_an_input_error(alex, images):
    x, y = images
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        alex[0](bad, y)


def test_missing_head_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "nothing_here.pth"
    with pytest.raises(MissingWeightsError, match="nothing_here.pth.*save_heads"):
        LPIPS("alex", heads=missing)


def test_missing_lpips_package_says_where_and_how(monkeypatch):
    monkeypatch.setattr(lpips_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingWeightsError, match="not installed.*pip install lpips.*heads=None"):
        LPIPS("alex")


def test_lpips_package_without_the_file(monkeypatch, tmp_path):
    class Spec:
        submodule_search_locations = [str(tmp_path)]

    monkeypatch.setattr(lpips_module.importlib.util, "find_spec", lambda name: Spec())
    with pytest.raises(MissingWeightsError, match=f"looked in: {tmp_path}"):
        lpips_head_file("vgg")


def test_head_file_for_another_backbone_is_rejected(tmp_path):
    with pytest.raises(InputError, match="stages \\[0, 1, 2, 3, 4\\]; expected lin0..lin6.*squeeze"):
        LPIPS("squeeze", heads=lpips_head_file("vgg"))
    state = torch.load(lpips_head_file("vgg"), map_location="cpu", weights_only=True)
    torch.save(state, tmp_path / "vgg_heads.pth")
    with pytest.raises(ShapeError, match="stage 1 has \\(1, 128, 1, 1\\) weights; expected 192 channels"):
        LPIPS("alex", heads=tmp_path / "vgg_heads.pth")


def test_default_weights_absent_from_torch_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="alexnet"):
        LPIPS("alex", weights="DEFAULT")


def test_random_init_is_recorded_warned_per_load_and_seeded(images):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = LPIPS("alex", random_state=1)
    assert [w.category for w in caught] == [RandomWeightsWarning]   # one warning, from load_model
    assert "torchvision:alexnet" in str(caught[0].message) and caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = LPIPS("alex", weights="random", random_state=1)          # random on purpose: silent
    c = LPIPS("alex", weights="random", random_state=2)
    assert a.weights == b.weights == "random-init(seed=1)"
    x, y = images
    with torch.no_grad():
        assert torch.equal(a(x, y), b(x, y))
        assert not torch.allclose(a(x, y), c(x, y))


def test_bad_arguments():
    with pytest.raises(InputError, match="model: received 'resnet'"):
        LPIPS("resnet")
    with pytest.raises(InputError, match="heads: received int"):
        LPIPS("alex", heads=3)
    m = LPIPS("alex", heads=None)
    with pytest.raises(InputError, match="non-negative"):
        m.set_heads([-h for h in m.heads])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(alex, images):
    ours = alex[0]
    x, y = images
    with torch.no_grad():
        cpu = ours(x, y)
        gpu = ours.to("cuda")(x.cuda(), y.cuda())
        pair = ours.pairwise(x.cuda())
    ours.to("cpu")
    assert gpu.device.type == "cuda" and pair.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)


@pytest.mark.parametrize("net, smallest", [("alex", 31), ("squeeze", 17)])
def test_images_too_small_for_the_backbone_are_a_shape_error(net, smallest):
    metric = LPIPS(net, weights="random", heads=None)
    assert metric.min_size == smallest
    ok = torch.rand(2, 3, smallest, smallest)
    assert metric(ok, ok.flip(0)).shape == (2,)  # the smallest size runs
    small = torch.rand(2, 3, 8, 8)
    for call in (lambda: metric(small, small), lambda: metric.pairwise(small), lambda: metric.layer_maps(small, small),
                 lambda: metric.set_reference(small[:1])):
        with pytest.raises(ShapeError, match=f"expected at least {smallest}x{smallest} for LPIPS"):
            call()
    with pytest.raises(ShapeError, match="at least"):
        metric(torch.rand(1, 3, smallest - 1, 64), torch.rand(1, 3, smallest - 1, 64))  # the shorter side counts
    with torch.no_grad(), pytest.raises(RuntimeError):  # the backbone itself fails one pixel below
        metric._paired(torch.rand(2, 3, smallest - 1, smallest - 1), 1)
