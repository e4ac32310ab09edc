"""The transformer form of AttentionReadout: decoder layers, hemisphere queries, the content-free control.

A toy problem with a planted answer that only content-based routing can find: each stimulus marks one
position (channel 0) and the response is the value of channel 1 there. Routing by content recovers it;
routing by position alone (``content=False``) cannot.
"""

import numpy as np
import pytest
import torch
import xarray as xr

from neuroperception.encoding import AttentionReadout
from neuroperception.errors import InputError

N, H = 360, 5


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def marked():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 3, H, H)).astype(np.float32)
    where = rng.integers(0, H * H, N)
    x[:, 0] = 0
    x[np.arange(N), 0, where // H, where % H] = 4.0
    y = x[np.arange(N), 1, where // H, where % H][:, None] + 0.1 * rng.normal(size=(N, 1))
    ids = [f"s{i:03d}" for i in range(N)]
    maps = xr.DataArray(x, dims=("stimulus", "channel", "y", "x"), coords={"stimulus_id": ("stimulus", ids)})
    resp = xr.DataArray(y, dims=("stimulus", "voxel"), coords={"stimulus_id": ("stimulus", ids)})
    return maps, resp, where


@pytest.fixture(scope="module")
def hemis():
    rng = np.random.default_rng(1)
    maps = xr.DataArray(rng.normal(size=(80, 4, 4, 4)).astype(np.float32), dims=("stimulus", "channel", "y", "x"))
    y = xr.DataArray(rng.normal(size=(80, 6)), dims=("stimulus", "voxel"),
                     coords={"roi": ("voxel", ["V1"] * 3 + ["IT"] * 3),
                             "hemi": ("voxel", ["left", "right", "right", "left", "left", "right"])})
    return maps, y


@pytest.mark.parametrize("decoder", [False, True])
def test_content_routing_recovers_the_planted_position_and_the_control_cannot(marked, decoder):
    maps, y, where = marked
    # one head: averaged over heads, a map dilutes a routing head with the others (see attention_maps)
    kw = dict(dim=16, n_heads=1 if decoder else 2, lr=0.01, max_epochs=25, random_state=0, decoder=decoder,
              n_layers=2 if decoder else 1)
    train, test = slice(0, 280), slice(280, N)
    routed = AttentionReadout(**kw).fit(maps[train], y[train])
    assert float(routed.voxel_scores(maps[test], y[test])[0]) > 0.9
    att = routed.attention_maps(maps[test])
    assert att.dims == ("stimulus", "roi", "y", "x") and att.shape == (N - 280, 1, H, H)
    # the routing lands on the marked position in some layer (with two decoder layers: the first, not the last)
    hits = [np.mean(routed.attention_maps(maps[test], layer=i).values[:, 0].reshape(N - 280, -1).argmax(1)
                    == where[test]) for i in range(kw["n_layers"])]
    assert max(hits) > 0.9, hits
    fixed = AttentionReadout(**kw, content=False).fit(maps[train], y[train])
    assert float(fixed.voxel_scores(maps[test], y[test])[0]) < 0.4
    att = fixed.attention_maps(maps[test]).values
    np.testing.assert_allclose(att, np.broadcast_to(att[:1], att.shape), atol=1e-6)
    # the content-free model still predicts from the stimulus (the values carry the features)
    assert fixed.predict(maps[test]).std("stimulus").item() > 0


def test_single_layer_is_the_one_cross_attention(marked):
    """decoder=False (the default) is one multi-head cross-attention of the learned queries over
    LayerNorm(projection + positions), read out linearly: the module before decoder layers existed."""
    maps, y, _ = marked
    model = AttentionReadout(dim=8, n_heads=2, max_epochs=2, random_state=0).fit(maps[:100], y[:100])
    core = model.module_.core
    assert {k.split(".")[0] for k, _ in core.named_parameters()} == {"proj", "pos", "norm", "queries", "attn"}
    x = model._tensors({"maps": maps[:10]})
    with torch.no_grad():
        t = core.norm(core.proj[0](x[0].flatten(2).transpose(1, 2)) + core.pos[0])
        routed, _ = core.attn(core.queries[None].expand(10, -1, -1), t, t)
        expect = routed[:, 0] @ model.module_.readout[0] + model.module_.bias[0]
        got = model.module_(x)[:, 0]
    np.testing.assert_allclose(got.numpy(), expect.numpy(), rtol=1e-5, atol=1e-6)


def test_decoder_layers_with_several_feature_layers(marked):
    maps, y, _ = marked
    layers = {"fine": maps[:120], "coarse": maps[:120, :2, ::2, ::2]}
    model = AttentionReadout(dim=8, n_heads=2, n_layers=3, decoder=True, max_epochs=2).fit(layers, y[:120])
    assert len(model.module_.core.layers) == 3
    assert model.predict(layers).shape == (120, 1)
    for layer in (-1, 0, "mean"):
        att = model.attention_maps(layers, layer=layer)
        assert set(att) == {"fine", "coarse"} and att["coarse"].shape == (120, 1, 3, 3)
        total = att["fine"].sum(("y", "x")) + att["coarse"].sum(("y", "x"))
        np.testing.assert_allclose(total.values, 1.0, atol=1e-5)
    first, last = model.attention_maps(layers, layer=0), model.attention_maps(layers, layer=2)
    mean = model.attention_maps(layers, layer="mean")
    np.testing.assert_allclose(mean["fine"].values, np.mean([model.attention_maps(layers, layer=i)["fine"].values
                                                             for i in range(3)], 0), atol=1e-6)
    assert not np.allclose(first["fine"].values, last["fine"].values)
    with pytest.raises(InputError, match=r"layer: received 3; expected 'mean' or an int in \[-3, 3\)"):
        model.attention_maps(layers, layer=3)


def test_hemisphere_queries(hemis):
    maps, y = hemis
    model = AttentionReadout(dim=8, n_heads=2, hemisphere="hemi", max_epochs=2).fit(maps, y)
    assert model.queries_ == ["V1 left", "V1 right", "IT left", "IT right"]
    by_query = model.attention_maps(maps, by="query")
    assert by_query["query"].values.tolist() == model.queries_
    by_roi = model.attention_maps(maps)
    assert by_roi["roi"].values.tolist() == ["V1", "IT"]
    # an ROI's map is its hemispheres' maps weighted by their voxel counts (V1: 1 left, 2 right)
    np.testing.assert_allclose(by_roi.sel(roi="V1").values,
                               (by_query.sel(query="V1 left").values + 2 * by_query.sel(query="V1 right").values) / 3,
                               atol=1e-6)
    assert model.predict(maps).shape == (80, 6)


@pytest.mark.parametrize("kw, match", [
    (dict(n_layers=0), r"n_layers: received 0; expected a positive int"),
    (dict(n_layers=2), r"n_layers: received 2 with decoder=False; expected 1"),
    (dict(decoder="yes"), r"decoder: received 'yes'; expected True or False"),
    (dict(content=None), r"content: received None; expected True or False"),
    (dict(content=False, positional=None), r"content: received False with positional=None"),
    (dict(hemisphere="side"), r"hemisphere: received 'side'; expected the name of a voxel coordinate of y "
                              r"\(it has \['hemi', 'roi'\]\)"),
    (dict(hemisphere="hemi", query="group"), r"hemisphere: received 'hemi' with query='group'"),
])
def test_bad_parameters_say_what_was_received_and_expected(hemis, kw, match):
    maps, y = hemis
    with pytest.raises(InputError, match=match):
        AttentionReadout(dim=8, n_heads=2, max_epochs=1, **kw).fit(maps, y)
