"""Saliency metrics against pysaliency on the same maps and fixations, conventions, invariances, errors."""

import warnings

import numpy as np
import pytest
import xarray as xr

from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.scanpaths import Scanpaths
from neuroperception.scanpaths.saliency_metrics import (auc_judd, cc, information_gain, kl_div, nss, shuffled_auc,
                                                        sim, to_log_density)

pysaliency = pytest.importorskip("pysaliency")
from pysaliency.metrics import CC, MIT_KLDiv, SIM  # noqa: E402
from pysaliency.models import Model  # noqa: E402
from pysaliency.saliency_map_models import SaliencyMapModel  # noqa: E402

N, H, W = 6, 24, 32


class _ArrayMaps(SaliencyMapModel):
    """A pysaliency model returning stored maps; stimulus n is an image filled with n."""

    def __init__(self, maps):
        super().__init__(caching=False)
        self.maps = maps

    def _saliency_map(self, stimulus):
        return self.maps[int(stimulus[0, 0, 0])]


class _ArrayLogDensity(Model):
    def __init__(self, log_densities):
        super().__init__(caching=False)
        self.log_densities = log_densities

    def _log_density(self, stimulus):
        return self.log_densities[int(stimulus[0, 0, 0])]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    maps = rng.random((N, H, W)) ** 3
    other = rng.random((N, H, W))
    sets = [np.c_[rng.uniform(0, W, k), rng.uniform(0, H, k)] for k in rng.integers(1, 10, N)]
    sets[2] = np.zeros((0, 2))                                   # an image without fixations
    sets[3] = np.vstack([sets[3], sets[3][:1]])                  # a pixel fixated twice
    xs = np.concatenate([s[:, 0] for s in sets])
    ys = np.concatenate([s[:, 1] for s in sets])
    ns = np.concatenate([[n] * len(s) for n, s in enumerate(sets)]).astype(int)
    stimuli = pysaliency.Stimuli([np.full((H, W, 3), n, dtype=np.uint8) for n in range(N)])
    fixations = pysaliency.Fixations.create_without_history(xs, ys, ns)
    return maps, other, sets, stimuli, fixations


@pytest.fixture
def trapz(monkeypatch):
    """pysaliency 0.2.22 calls np.trapz, which numpy 2 renamed to np.trapezoid."""
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)


def test_nss_equals_pysaliency(data):
    maps, _, sets, stimuli, fixations = data
    model = _ArrayMaps(maps)
    assert nss(maps, sets) == pytest.approx(model.NSS(stimuli, fixations), abs=1e-9)
    assert nss(maps, sets, average="image") == pytest.approx(model.NSS(stimuli, fixations, average="image"), abs=1e-9)
    np.testing.assert_allclose(nss(maps, sets, average=None), model.NSSs(stimuli, fixations), atol=1e-9)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_map_metrics_equal_pysaliency(data):
    maps, other, _, _, _ = data
    target = (other > 0.8).astype(float)                        # an empirical map with many zeros
    shifted = other - 0.5                                         # negative values are shifted
    np.testing.assert_allclose(cc(maps, other), [CC(m, o) for m, o in zip(maps, other)], atol=1e-9)
    np.testing.assert_allclose(sim(maps, shifted), [SIM(m, o) for m, o in zip(maps, shifted)], atol=1e-9)
    np.testing.assert_allclose(kl_div(maps, target), [MIT_KLDiv(m, t) for m, t in zip(maps, target)], atol=1e-9)
    np.testing.assert_allclose(kl_div(shifted, maps), [MIT_KLDiv(s, m) for s, m in zip(shifted, maps)], atol=1e-9)
    assert cc(maps[0], other[0]) == pytest.approx(CC(maps[0], other[0]), abs=1e-9)


@pytest.mark.parametrize("quantised", [False, True])
def test_auc_judd_equals_pysaliency(data, trapz, quantised):
    maps, _, sets, stimuli, fixations = data
    maps = np.round(maps * 4) if quantised else maps           # many ties: the jitter decides
    maps = maps + (maps.reshape(N, -1).max(1) == 0)[:, None, None]
    model = _ArrayMaps(maps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = model.AUC_Judd(stimuli, fixations)
        expected_plain = model.AUC_Judd(stimuli, fixations, jitter=False)
    assert auc_judd(maps, sets) == pytest.approx(expected, abs=1e-9)
    assert auc_judd(maps, sets, jitter=False) == pytest.approx(expected_plain, abs=1e-9)
    per_image = auc_judd(maps, sets, average=None)
    assert np.isnan(per_image[2]) and np.isfinite(np.delete(per_image, 2)).all()


def test_shuffled_auc_equals_pysaliency(data, trapz):
    maps, _, sets, stimuli, fixations = data
    model = _ArrayMaps(maps)
    assert shuffled_auc(maps, sets) == pytest.approx(model.sAUC(stimuli, fixations), abs=1e-9)
    assert shuffled_auc(maps, sets, average="image") == pytest.approx(
        model.sAUC(stimuli, fixations, average="image"), abs=1e-9)
    # explicit negatives for one map: pysaliency's AUC with a Fixations object as nonfixations
    rng = np.random.default_rng(3)
    negatives = np.c_[rng.uniform(0, W, 40), rng.uniform(0, H, 40)]
    one = pysaliency.Fixations.create_without_history(sets[0][:, 0], sets[0][:, 1], np.zeros(len(sets[0]), int))
    nonfix = pysaliency.Fixations.create_without_history(negatives[:, 0], negatives[:, 1], np.zeros(40, int))
    expected = _ArrayMaps(maps[:1]).AUC(stimuli[:1], one, nonfixations=nonfix)
    assert shuffled_auc(maps[0], sets[0], negatives) == pytest.approx(expected, abs=1e-9)


def test_information_gain_equals_pysaliency(data):
    maps, other, sets, stimuli, fixations = data
    pred, base = to_log_density(maps), to_log_density(other)
    model = _ArrayLogDensity(pred)
    assert information_gain(pred, None, sets) == pytest.approx(model.information_gain(stimuli, fixations), abs=1e-9)
    expected = model.information_gain(stimuli, fixations, baseline_model=_ArrayLogDensity(base))
    assert information_gain(pred, base, sets) == pytest.approx(expected, abs=1e-9)
    normalised = pysaliency.models.SaliencyMapNormalizingModel(_ArrayMaps(maps))
    np.testing.assert_allclose(pred[1], normalised.log_density(stimuli.stimulus_objects[1]), atol=1e-12)
    assert information_gain(pred, pred, sets) == 0.0             # a model gains nothing over itself


def test_fixations_are_truncated_x_to_columns():
    smap = np.zeros((5, 7))
    smap[1, 4] = 1.0                                              # row 1, column 4
    hit, miss = nss(smap, np.array([[4.99, 1.99]])), nss(smap, np.array([[1.99, 4.99]]))
    assert hit > 5 and miss < 0


def test_scanpaths_and_labelled_maps_give_the_same_numbers(data):
    maps, other, sets, _, _ = data
    ids = [f"img{n}" for n in range(N)]
    sp = Scanpaths.from_arrays([s for s in sets if len(s)], [i for i, s in zip(ids, sets) if len(s)])
    labelled = xr.DataArray(maps, dims=("stimulus", "y", "x"), coords={"stimulus_id": ("stimulus", ids)})
    assert nss(labelled, sp) == pytest.approx(nss(maps, sets), abs=1e-12)
    assert auc_judd(maps, sp, stimulus_id=ids) == pytest.approx(auc_judd(maps, sets), abs=1e-12)
    assert nss(maps[0], sp, stimulus_id="img0") == pytest.approx(nss(maps[0], sets[0]), abs=1e-12)
    # labelled maps are aligned on stimulus_id, labelled out
    shuffled = xr.DataArray(other[::-1], dims=("stimulus", "y", "x"), coords={"stimulus_id": ("stimulus", ids[::-1])})
    out = cc(labelled, shuffled)
    assert isinstance(out, xr.DataArray) and list(out["stimulus_id"].values) == ids
    np.testing.assert_allclose(out.values, cc(maps, other), atol=1e-12)


def test_torch_maps_are_accepted(data):
    torch = pytest.importorskip("torch")
    maps, other, sets, _, _ = data
    assert nss(torch.from_numpy(maps).float(), sets) == pytest.approx(nss(maps.astype(np.float32), sets), abs=1e-6)
    np.testing.assert_allclose(cc(torch.from_numpy(maps), torch.from_numpy(other)), cc(maps, other), atol=1e-12)


def test_invariances(data):
    maps, other, sets, _, _ = data
    assert nss(3 * maps + 7, sets) == pytest.approx(nss(maps, sets), abs=1e-9)
    assert auc_judd(3 * maps + 7, sets, jitter=False) == pytest.approx(auc_judd(maps, sets, jitter=False), abs=1e-12)
    np.testing.assert_allclose(cc(maps, maps), 1.0, atol=1e-12)
    np.testing.assert_allclose(sim(maps, 5 * maps), 1.0, atol=1e-12)
    np.testing.assert_allclose(kl_div(maps, maps), 0.0, atol=1e-12)
    assert np.all(kl_div(maps, other) > 0) and np.all(sim(maps, other) < 1)


def test_constant_maps_follow_the_documented_convention():
    flat, bumpy = np.ones((4, 4)), np.arange(16.0).reshape(4, 4)
    assert cc(flat, bumpy) == 0.0 and cc(bumpy, flat) == 0.0 and np.isnan(cc(flat, flat))
    assert nss(flat, np.array([[1, 1]])) == 0.0


def test_clear_errors(data):
    maps, _, sets, _, _ = data
    with pytest.raises(InputError, match="outside the map"):
        nss(maps[0], np.array([[W, 0.0]]))
    with pytest.raises(InputError, match="outside the map"):
        auc_judd(maps[0], np.array([[-0.5, 3.0]]))
    with pytest.raises(InputError, match="NaN"):
        nss(np.full((4, 4), np.nan), np.array([[1, 1]]))
    with pytest.raises(InputError, match="all zeros"):
        cc(np.zeros((4, 4)), np.ones((4, 4)))
    with pytest.raises(InputError, match="no fixations"):
        nss(maps[0], np.zeros((0, 2)))
    with pytest.raises(ShapeError, match="one per map"):
        nss(maps, sets[:2])
    with pytest.raises(ShapeError, match="expected the shape"):
        sim(maps[0], maps[0, :10])
    with pytest.raises(InputError, match="log density"):
        information_gain(maps, None, sets)
    with pytest.raises(InputError, match="average"):
        nss(maps, sets, average="subject")
    sp = Scanpaths.from_arrays([np.array([[1.0, 1.0]]), np.array([[2.0, 2.0]])], ["a", "zzz"])
    labelled = xr.DataArray(maps[:1], dims=("stimulus", "y", "x"), coords={"stimulus_id": ("stimulus", ["a"])})
    with pytest.raises(AlignmentError, match="zzz"):
        nss(labelled, sp)
    with pytest.raises(InputError, match="single map"):
        shuffled_auc(maps[0], sets[0])
