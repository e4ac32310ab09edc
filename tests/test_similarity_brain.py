"""Brain-predicted distance: a Ridge fitted on Gabor features to planted responses, checked with numpy."""

import numpy as np
import pytest
import torch
import xarray as xr
from scipy.spatial.distance import cdist
from sklearn.linear_model import Ridge

from neuroperception.errors import InputError, ShapeError
from neuroperception.features import extract, load_model
from neuroperception.similarity import BrainDistance

ROIS = np.array(["V1"] * 12 + ["V4"] * 8 + ["LO"] * 10)


@pytest.fixture(scope="module")
def gabor():
    return load_model("gabor", input_size=32, n_scales=2, n_orientations=4, spatial_frequencies=(0.25,))


@pytest.fixture(scope="module")
def fitted(gabor):
    """Ridge fitted on Gabor features of 40 random images to planted linear responses (30 voxels)."""
    g = torch.Generator().manual_seed(0)
    train = torch.rand(40, 3, 32, 32, generator=g)
    X = extract(gabor, train, "output")["output"].values
    rng = np.random.default_rng(0)
    W = rng.standard_normal((X.shape[1], ROIS.size))
    Y = X @ W + 0.01 * rng.standard_normal((40, ROIS.size))
    return Ridge(alpha=1e-2).fit(X, Y)


@pytest.fixture
def images():
    return torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(7))


class _LabelledRidge:
    """An encoding model whose predictions are labelled: ('stimulus', 'voxel') with a roi coordinate."""

    def __init__(self, ridge):
        self.ridge = ridge

    def predict(self, X):
        return xr.DataArray(self.ridge.predict(np.asarray(X)), dims=("stimulus", "voxel"),
                            coords={"roi": ("voxel", ROIS)})


def _predictions(gabor, ridge, images):
    return ridge.predict(extract(gabor, images, "output")["output"].values)


@pytest.mark.parametrize("metric", ["correlation", "euclidean"])
def test_pairwise_equals_numpy_on_predictions(gabor, fitted, images, metric):
    brain = BrainDistance(fitted, (gabor, "output"), metric=metric)
    P = _predictions(gabor, fitted, images)
    ref = cdist(P, P, metric)
    if metric == "correlation":
        np.testing.assert_allclose(ref, 1 - np.corrcoef(P), atol=1e-10)
    scale = max(1.0, ref.max())
    np.testing.assert_allclose(brain.pairwise(images).numpy(), ref, atol=1e-5 * scale)
    np.testing.assert_allclose(brain(images, images.flip(0)).numpy(), ref[np.arange(5), 4 - np.arange(5)],
                               atol=1e-5 * scale)
    np.testing.assert_allclose(brain(images, images).numpy(), 0, atol=1e-6)
    assert not brain.differentiable


def test_roi_selection_picks_the_labelled_voxels(gabor, fitted, images):
    P = _predictions(gabor, fitted, images)
    everything = BrainDistance(fitted, (gabor, "output")).pairwise(images).numpy()
    for rois in ("V1", ["V4", "LO"]):
        keep = np.isin(ROIS, rois)
        ref = cdist(P[:, keep], P[:, keep], "correlation")
        labelled = BrainDistance(_LabelledRidge(fitted), (gabor, "output"), rois=rois).pairwise(images).numpy()
        explicit = BrainDistance(fitted, (gabor, "output"), rois=rois, voxel_rois=ROIS).pairwise(images).numpy()
        np.testing.assert_allclose(labelled, ref, atol=1e-5)
        np.testing.assert_allclose(explicit, ref, atol=1e-5)
        assert np.abs(labelled - everything).max() > 1e-3  # a different set of voxels gives other distances
    brain = BrainDistance(_LabelledRidge(fitted), (gabor, "output"), rois="V4")
    emb = brain.embed(brain.check(images))
    np.testing.assert_allclose(emb.numpy(), P[:, ROIS == "V4"], rtol=1e-6, atol=1e-8)


def test_callable_feature_fn_and_reference(gabor, fitted, images):
    def features(x):
        return extract(gabor, x, "output")["output"].values

    brain = BrainDistance(fitted, features, metric="euclidean")
    spec = BrainDistance(fitted, (gabor, "output", "avg"), metric="euclidean")
    np.testing.assert_allclose(brain.pairwise(images).numpy(), spec.pairwise(images).numpy(), atol=1e-6)
    brain.set_reference(images[:1])
    np.testing.assert_allclose(brain.to_reference(images).numpy(), brain.pairwise(images, images[:1])[:, 0].numpy(),
                               atol=1e-5)


def test_torch_encoding_model_is_differentiable(fitted, images):
    linear = torch.nn.Linear(3, ROIS.size)
    brain = BrainDistance(linear, lambda x: x.mean(dim=(2, 3)), metric="correlation")
    assert brain.differentiable
    x = images.clone().requires_grad_(True)
    d = brain(x, images.flip(0))
    d.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with torch.no_grad():
        P = linear(images.mean(dim=(2, 3))).double().numpy()
    np.testing.assert_allclose(d.detach().numpy(), cdist(P, P, "correlation")[np.arange(5), 4 - np.arange(5)],
                               atol=1e-5)


def test_brain_errors(gabor, fitted, images):
    with pytest.raises(InputError, match="roi"):
        BrainDistance(fitted, (gabor, "output"), rois="V1").pairwise(images)
    with pytest.raises(InputError, match=r"rois: received \['FFA'\].*expected some of \['LO', 'V1', 'V4'\]"):
        BrainDistance(fitted, (gabor, "output"), rois="FFA", voxel_rois=ROIS)(images, images)
    with pytest.raises(ShapeError, match=r"voxel_rois: received 3 labels; expected one per predicted voxel \(30\)"):
        BrainDistance(fitted, (gabor, "output"), rois="V1", voxel_rois=["V1", "V1", "V4"])(images, images)
    with pytest.raises(InputError, match="model: received object; expected a fitted encoding model with predict"):
        BrainDistance(object(), (gabor, "output"))
    with pytest.raises(InputError, match="metric: received 'cosine'"):
        BrainDistance(fitted, (gabor, "output"), metric="cosine")
    with pytest.raises(InputError, match="tuple of 4 items"):
        BrainDistance(fitted, (gabor, "output", "avg", 1))
    with pytest.raises(InputError, match=r"gives dims .*'channel'.*expected \('stimulus', 'feature'\)"):
        BrainDistance(fitted, (gabor, "scale0", "none"))(images, images)
    with pytest.raises(ShapeError, match=r"feature_fn: returned ndarray shape=\(2, 8\).* for 5 images; expected \(5, "):
        BrainDistance(fitted, lambda x: np.zeros((2, 8)))(images, images)

    class _Truncating:
        def predict(self, X):
            return fitted.predict(X)[:2]

    with pytest.raises(ShapeError, match=r"predictions: received .*shape=\(2, 30\).* for 5 images"):
        BrainDistance(_Truncating(), (gabor, "output"))(images, images)

    class _OneVoxel:
        def predict(self, X):
            return np.zeros(len(X))

    with pytest.raises(ShapeError, match=r"expected \(stimulus, voxel\)"):
        BrainDistance(_OneVoxel(), (gabor, "output"))(images, images)
