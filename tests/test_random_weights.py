"""Random weights are never silent: one RandomWeightsWarning per load of a network left random by
``weights=None`` (none for a weights file, for ``weights="random"`` or for a weight-free model), pointing
at the caller's line, and every kind of result records the weights of the model that made it.

The suite's configuration ignores the warning class (pyproject ``filterwarnings``); the tests here
record it with ``warnings.simplefilter("always")``, which overrides that filter.
"""

import warnings

import numpy as np
import pytest
import torch

from torch import nn

from neuroperception.behaviour import candidate_pool, generate_triplets
from neuroperception.errors import InputError, RandomWeightsWarning
from neuroperception.features import Preprocessing, extract, load_model, register_model
from neuroperception.features.registry import BuildResult
from neuroperception.scanpaths.search import VisualSearch
from neuroperception.similarity import EmbeddingDistance

NET = "torchvision:squeezenet1_1"
SMALL = "tinyconv_random_weights_test"


@register_model(SMALL)
def _build_small(name, weights, **kwargs):
    """A small conv net at the images' own size, built by the registry's rules (random init when weights is None)."""
    if weights is not None:
        raise InputError("tinyconv: only random weights")
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2))
    return BuildResult(net, Preprocessing(None, None), "random-init")


def _caught(fn):
    """``(result, [random-weights warnings])`` of ``fn()``, whatever the active filters."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [w for w in caught if issubclass(w.category, RandomWeightsWarning)]


def test_a_random_network_warns_once_per_load_at_the_callers_line():
    model, caught = _caught(lambda: load_model(NET, random_state=2))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert NET in message and "random-init(seed=2)" in message and "weights='random'" in message
    assert caught[0].filename == __file__       # the user's line, not the registry's
    assert issubclass(RandomWeightsWarning, UserWarning)
    assert model.weights == "random-init(seed=2)"
    _, twice = _caught(lambda: [load_model(NET), load_model(NET)])
    assert len(twice) == 2                      # once per load, not once per session


def test_asking_for_random_weights_or_loading_a_file_is_silent(tmp_path):
    on_purpose, caught = _caught(lambda: load_model(NET, weights="random", random_state=2))
    assert caught == [] and on_purpose.weights == "random-init(seed=2)"
    path = tmp_path / "squeezenet.pth"
    torch.save(on_purpose.module.state_dict(), path)
    from_file, caught = _caught(lambda: load_model(NET, weights=path))
    assert caught == [] and from_file.weights == f"file:{path.resolve()}"
    weight_free, caught = _caught(lambda: load_model("gabor"))
    assert caught == [] and weight_free.weights == "none (weight-free)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # nothing at all is emitted
        load_model(NET, weights="random")


def test_models_loaded_inside_other_objects_warn_once_at_the_callers_line():
    metric, caught = _caught(lambda: EmbeddingDistance(NET, layer="features.3", random_state=1))
    assert len(caught) == 1 and caught[0].filename == __file__
    assert metric.weights == "random-init(seed=1)"
    _, caught = _caught(lambda: EmbeddingDistance(NET, layer="features.3", weights="random"))
    assert caught == []
    search, caught = _caught(lambda: VisualSearch("torchvision:alexnet", max_fixations=2))
    assert len(caught) == 1 and caught[0].filename == __file__ and search.weights == "random-init(seed=0)"


def test_features_from_a_random_network_record_its_weights(tmp_path):
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    (feats, caught) = _caught(lambda: extract(SMALL, images, ["2"]))   # a spec: loaded, warns
    assert len(caught) == 1 and feats["2"].attrs["weights"] == "random-init(seed=0)"
    model = load_model(SMALL, weights="random", random_state=6)
    stored = extract(model, images, ["2"], store=tmp_path / "f.zarr")
    assert stored["2"].attrs["weights"] == "random-init(seed=6)"


def test_triplets_from_a_random_spec_warn_once_and_record_the_weights():
    pool = candidate_pool(60, size=32, random_state=2)
    table, caught = _caught(lambda: generate_triplets(pool, low=(SMALL, "0"), high=(SMALL, "2"), n_triplets=8,
                                                      n_bins=2, pooling="avg:2"))
    assert len(caught) == 1 and SMALL in str(caught[0].message) and caught[0].filename == __file__
    assert table.attrs["weights"] == {"low": "random-init(seed=0)", "high": "random-init(seed=0)"}
    # precomputed features carry their own record into the table
    feats = {lvl: extract(load_model(SMALL, weights="random", random_state=seed), pool, ["2"])["2"]
             for lvl, seed in (("low", 3), ("high", 4))}
    table = generate_triplets(feats, n_triplets=8, n_bins=2, pca=None)
    assert table.attrs["weights"] == {"low": "random-init(seed=3)", "high": "random-init(seed=4)"}
    assert np.isfinite(table["delta_high"]).all()


@pytest.mark.parametrize("spelling", ["Random", "RANDOM"])
def test_only_the_documented_spelling_asks_for_random_weights(spelling):
    # any other spelling is a tag the model does not have: an error, never a silent random init
    with pytest.raises(InputError, match="'random' \\(random init\\)"):
        load_model(NET, weights=spelling)
