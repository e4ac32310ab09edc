"""Saliency metrics on the paths the batched reductions take: ill-conditioned maps, several blocks, errors."""

import warnings

import numpy as np
import pytest

from neuroperception.errors import InputError
from neuroperception.scanpaths import _auc, _map_reductions
from neuroperception.scanpaths.saliency_metrics import auc_judd, cc, information_gain, kl_div, nss, shuffled_auc, sim

pysaliency = pytest.importorskip("pysaliency")
from pysaliency.metrics import CC, MIT_KLDiv, NSS, SIM  # noqa: E402
from pysaliency.saliency_map_models import SaliencyMapModel  # noqa: E402

H, W = 20, 30


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(7)
    return rng.random((12, H, W)) ** 2, rng.random((12, H, W))


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few maps, so that every batched path runs over several blocks."""
    monkeypatch.setattr(_map_reductions, "_BLOCK_VALUES", 3 * H * W + 7)
    monkeypatch.setattr(_auc, "_BLOCK_VALUES", 3 * H * W + 7)


def _two_pass_nss(smap, xy):
    smap = smap.astype(np.longdouble)            # a reference with more digits than float64
    z = (smap - smap.mean()) / smap.std()
    return z[xy[:, 1].astype(int), xy[:, 0].astype(int)].astype(float)


def test_large_offsets_keep_nss_and_cc_exact(maps):
    """Raw moments lose every digit at an offset of 1e8 (their variance error is about eps * 1e16 = 1, the
    variance 0.08); those maps are recomputed in two passes. Tolerance: what float64 data at that offset holds."""
    a, b = maps
    xy = np.c_[np.arange(5) * 5.5, np.arange(5) * 3.2]
    for offset in (0.0, 1e3, 1e6, -1e8):
        shifted = a + offset
        expected = np.concatenate([_two_pass_nss(m, xy) for m in shifted])
        tolerance = 1e-10 + 1e-14 * abs(offset)
        np.testing.assert_allclose(nss(shifted, [xy] * len(a), average=None), expected, atol=tolerance)
        assert nss(shifted[0], xy) == pytest.approx(NSS(shifted[0], xy[:, 0].astype(int), xy[:, 1].astype(int)).mean(),
                                                    abs=tolerance)
        np.testing.assert_allclose(cc(shifted, b - offset / 3), [np.corrcoef(m.ravel(), o.ravel())[0, 1]
                                                                  for m, o in zip(shifted, b)], atol=tolerance)


def test_nearly_uncorrelated_maps_keep_their_small_correlation():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 200, 200)) + 1e4
    b = rng.standard_normal((4, 200, 200)) - 3e4
    expected = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b)]
    np.testing.assert_allclose(cc(a, b), expected, atol=1e-10)
    assert np.all(np.abs(expected) < 0.02)          # the regime where a raw covariance cancels


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_map_to_map_metrics_over_several_blocks_equal_pysaliency(maps, small_blocks):
    a, b = maps
    negative = b - 0.5
    constant = np.full_like(a, -2.0)                 # shifted to all zeros: pysaliency makes it uniform
    sparse = (b > 0.9).astype(float)
    np.testing.assert_allclose(cc(a, b), [CC(x, y) for x, y in zip(a, b)], atol=1e-12)
    np.testing.assert_allclose(sim(a, negative), [SIM(x, y) for x, y in zip(a, negative)], atol=1e-12)
    np.testing.assert_allclose(sim(constant, a), [SIM(x, y) for x, y in zip(constant, a)], atol=1e-12)
    np.testing.assert_allclose(kl_div(a, sparse), [MIT_KLDiv(x, y) for x, y in zip(a, sparse)], atol=1e-12)
    np.testing.assert_allclose(kl_div(negative, constant), [MIT_KLDiv(x, y) for x, y in zip(negative, constant)],
                               atol=1e-12)


def _pysaliency_set(a, sets):
    """pysaliency's stimuli, fixations and a model serving the maps ``a``, for fixation sets ``sets``."""
    stimuli = pysaliency.Stimuli([np.full((H, W, 3), n, dtype=np.uint8) for n in range(len(a))])
    fixations = pysaliency.Fixations.create_without_history(
        np.concatenate([s[:, 0] for s in sets]), np.concatenate([s[:, 1] for s in sets]),
        np.concatenate([[n] * len(s) for n, s in enumerate(sets)]).astype(int))

    class Maps(SaliencyMapModel):
        def _saliency_map(self, stimulus):
            return a[int(stimulus[0, 0, 0])]

    return stimuli, fixations, Maps(caching=False)


@pytest.mark.parametrize("compare_max", [0, 128], ids=["sorting", "comparisons"])
def test_shuffled_auc_over_several_blocks_equals_pysaliency(maps, small_blocks, monkeypatch, compare_max):
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    monkeypatch.setattr(_auc, "_COMPARE_MAX", compare_max)
    a, _ = maps
    a = np.round(a * 5)                                  # ties between positives and negatives
    rng = np.random.default_rng(11)
    sets = [np.c_[rng.uniform(0, W, k), rng.uniform(0, H, k)] for k in rng.integers(1, 9, len(a))]
    sets[4] = np.zeros((0, 2))
    stimuli, fixations, model = _pysaliency_set(a, sets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = model.sAUC(stimuli, fixations)
    assert shuffled_auc(a, sets) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("compare_max", [0, 128], ids=["sorting", "comparisons"])
@pytest.mark.parametrize("quantised", [False, True], ids=["continuous", "ties"])
def test_auc_judd_over_several_blocks_equals_pysaliency(maps, small_blocks, monkeypatch, compare_max, quantised):
    """Both ways of counting (sorting the map, comparisons per threshold), blocks of three maps, a map
    without fixations between blocks, pixels fixated twice, with and without pysaliency's jitter."""
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    monkeypatch.setattr(_auc, "_COMPARE_MAX", compare_max)
    a, _ = maps
    a = np.round(a * 5) + 1 if quantised else a
    rng = np.random.default_rng(5)
    sets = [np.c_[rng.uniform(0, W, k), rng.uniform(0, H, k)] for k in rng.integers(1, 40, len(a))]
    sets[4] = np.zeros((0, 2))
    sets[7] = np.vstack([sets[7], sets[7][:3]])
    stimuli, fixations, model = _pysaliency_set(a, sets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [model.AUC_Judd(stimuli, fixations, jitter=jitter) for jitter in (True, False)]
    assert auc_judd(a, sets) == pytest.approx(expected[0], abs=1e-12)
    assert auc_judd(a, sets, jitter=False) == pytest.approx(expected[1], abs=1e-12)
    per_map = auc_judd(a, sets, average=None)
    assert np.isnan(per_map[4]) and np.isfinite(np.delete(per_map, 4)).all()


@pytest.mark.parametrize("compare_max", [0, 128], ids=["sorting", "comparisons"])
def test_counts_above_thresholds_equal_a_plain_count(monkeypatch, compare_max):
    """Rows of several runs of 255 words with a ragged end, ties, and a threshold every value reaches
    (full byte lanes: a run longer than 255 words would carry into the next lane)."""
    monkeypatch.setattr(_auc, "_COMPARE_MAX", compare_max)
    rng = np.random.default_rng(3)
    block = np.round(rng.random((4, 5003)) * 50)
    thresholds = np.sort(rng.choice(block.ravel(), (4, 9)), axis=1)[:, ::-1].copy()
    thresholds[:, -1] = -1.0
    expected = (block[:, None, :] >= thresholds[:, :, None]).sum(-1)
    np.testing.assert_array_equal(_auc._count_at_least(block, thresholds), expected)


def test_read_only_maps_need_no_copy_and_warn_nothing(maps):
    a, b = maps
    a, b = a.copy(), b.copy()
    a.flags.writeable = b.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(cc(a, b)).all() and np.isfinite(kl_div(a, b)).all()


def test_errors_name_the_map_and_the_problem(maps):
    a, b = maps
    xy = np.array([[1.0, 1.0]])
    bad = a.copy()
    bad[3, 2, 2] = np.inf
    with pytest.raises(InputError, match=r"map 3.*finite values"):
        sim(bad, b)
    with pytest.raises(InputError, match=r"map 3.*finite values"):
        nss(bad, [xy] * len(a))
    huge = a.copy()
    huge[5] *= 1e307
    with pytest.raises(InputError, match=r"map 5 .*too large"):
        kl_div(huge, b)
    with pytest.raises(InputError, match=r"fixation 1 of map 2 .*finite"):
        nss(a, [xy, xy, np.array([[1.0, 2.0], [np.nan, 3.0]])] + [xy] * (len(a) - 3))
    with pytest.raises(InputError, match="no negatives for map 0"):
        shuffled_auc(a[:3], [np.array([[1.0, 1.0], [2.0, 2.0]]), np.zeros((0, 2)), np.zeros((0, 2))])
    every_pixel = np.array([[x, y] for y in range(2) for x in range(2)], dtype=float)
    with pytest.raises(InputError, match="every pixel of map 1 is fixated"):
        auc_judd(a[:3, :2, :2], [np.zeros((0, 2)), every_pixel, xy])
    log_p = np.log(a / a.sum(axis=(1, 2), keepdims=True))
    with pytest.raises(InputError, match=r"map 0 has log-sum-exp 0.01; expected a normalised log density"):
        information_gain(log_p + 0.01, None, [xy] * len(a))
    shifted = log_p.copy()
    shifted[6] += 200.0                                  # exp overflows float32: still reported exactly
    with pytest.raises(InputError, match=r"map 6 has log-sum-exp 200; expected"):
        information_gain(shifted, None, [xy] * len(a))
    empty = log_p.copy()
    empty[2] = -np.inf
    with pytest.raises(InputError, match=r"map 2 has log-sum-exp -inf"):
        information_gain(log_p, empty, [xy] * len(a))
    broken = log_p.copy()
    broken[4, 0, 0] = np.nan
    with pytest.raises(InputError, match="without NaN or \\+inf"):
        information_gain(broken, None, [xy] * len(a))
    assert information_gain(log_p, log_p, [xy] * len(a)) == 0.0   # normalised maps pass
