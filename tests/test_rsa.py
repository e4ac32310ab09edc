"""RSA: RDMs, comparisons, bootstrap and noise ceiling against rsatoolbox 0.3.2 on small data."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.spatial.distance import pdist, squareform

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.data import Dataset  # noqa: E402
from rsatoolbox.inference import boot_noise_ceiling  # noqa: E402
from rsatoolbox.rdm import RDMs, calc_rdm, compare  # noqa: E402

from neuroperception.errors import AlignmentError, InputError, ShapeError  # noqa: E402
from neuroperception.similarity import (  # noqa: E402
    bootstrap_rdm_comparison, compare_rdms, compute_rdm, rdm_noise_ceiling)
from neuroperception.similarity.rsa import _bootstrap_values, _vectors  # noqa: E402

N, F = 12, 30
IDS = [f"s{i:02d}" for i in range(N)]


@pytest.fixture
def feats():
    rng = np.random.default_rng(1)
    return xr.DataArray(rng.normal(size=(N, F)), dims=("stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", IDS)})


@pytest.fixture
def precision():
    a = np.random.default_rng(2).normal(size=(F, F))
    return a @ a.T / F + np.eye(F)


def _ref(x, method, **kw):
    return calc_rdm(Dataset(np.asarray(x)), method=method, **kw).get_matrices()[0]


@pytest.mark.parametrize("metric, ref", [
    ("correlation", lambda x, p: _ref(x, "correlation")),
    ("sqeuclidean_mean", lambda x, p: _ref(x, "euclidean")),
    ("mahalanobis", lambda x, p: _ref(x, "mahalanobis", noise=p)),
    ("euclidean", lambda x, p: squareform(pdist(np.asarray(x)))),
    ("cosine", lambda x, p: squareform(pdist(np.asarray(x), "cosine"))),
])
def test_metrics_match_references(feats, precision, metric, ref):
    rdm = compute_rdm(feats, metric, noise=precision if metric == "mahalanobis" else None)
    assert rdm.dims == ("stimulus", "stimulus_")
    assert list(rdm["stimulus_id"].values) == IDS and list(rdm["stimulus_id_"].values) == IDS
    np.testing.assert_allclose(rdm.values, ref(feats.values, precision), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(rdm.values, rdm.values.T)
    assert np.all(np.diag(rdm.values) == 0)


def test_remove_mean_and_torch_and_flattened_dims(feats):
    import torch

    ref = calc_rdm(Dataset(feats.values), method="euclidean", remove_mean=True).get_matrices()[0]
    np.testing.assert_allclose(compute_rdm(torch.from_numpy(feats.values), "sqeuclidean_mean", remove_mean=True),
                               ref, atol=1e-6)
    maps = xr.DataArray(feats.values.reshape(N, 5, 3, 2), dims=("stimulus", "channel", "y", "x"),
                        coords={"stimulus_id": ("stimulus", IDS)})
    np.testing.assert_allclose(compute_rdm(maps).values, compute_rdm(feats).values, atol=1e-12)


def test_crossnobis_matches_rsatoolbox(feats, precision):
    rng = np.random.default_rng(3)
    runs = np.repeat(["r1", "r2", "r3"], N)
    ids = np.tile(IDS, 3)
    obs = np.tile(feats.values, (3, 1)) + rng.normal(size=(3 * N, F))
    ref = calc_rdm(Dataset(obs, obs_descriptors={"stim": ids, "run": runs}), method="crossnobis",
                   descriptor="stim", cv_descriptor="run", noise=precision)
    order = [IDS.index(str(v)) for v in ref.pattern_descriptors["stim"]]
    ours = compute_rdm(obs, "crossnobis", runs=runs, stimulus_id=ids, noise=precision)
    np.testing.assert_allclose(ours.values[np.ix_(order, order)], ref.get_matrices()[0], atol=1e-6)
    # the same data as a ("run", "stimulus", "feature") array, shuffled rows give the same RDM
    cube = xr.DataArray(obs.reshape(3, N, F), dims=("run", "stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", IDS)})
    np.testing.assert_allclose(compute_rdm(cube, "crossnobis", noise=precision).values, ours.values, atol=1e-12)
    perm = rng.permutation(3 * N)
    shuffled = compute_rdm(obs[perm], "crossnobis", runs=runs[perm], stimulus_id=ids[perm], noise=precision)
    np.testing.assert_allclose(shuffled.sel(stimulus=np.argsort([IDS.index(i) for i in shuffled.stimulus_id.values]))
                               .values[:, np.argsort([IDS.index(i) for i in shuffled.stimulus_id_.values])],
                               ours.values, atol=1e-12)


def test_crossnobis_is_unbiased_for_identical_patterns():
    rng = np.random.default_rng(4)
    same = np.tile(rng.normal(size=(1, 200)), (6, 1))
    obs = np.concatenate([same + rng.normal(size=same.shape) for _ in range(8)])
    rdm = compute_rdm(obs, "crossnobis", runs=np.repeat(np.arange(8), 6), stimulus_id=np.tile(list("abcdef"), 8))
    noisy = compute_rdm(obs[:6], "sqeuclidean_mean")  # biased upwards by the noise (about 2)
    assert abs(_vectors(rdm.values[None]).mean()) < 0.1 < 1.5 < _vectors(noisy.values[None]).mean()


COMPARE = [("pearson", "corr"), ("spearman", "spearman"), ("rho_a", "rho-a"), ("kendall_tau_a", "tau-a"),
           ("kendall_tau_b", "kendall"), ("cosine", "cosine"), ("corr_cov", "corr_cov"), ("cosine_cov", "cosine_cov")]


@pytest.fixture
def stack():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(N, F))
    rdms = [compute_rdm(base + rng.normal(scale=1.5, size=base.shape), stimulus_id=IDS) for _ in range(4)]
    rdms[1] = rdms[1].round(1)  # ties, which the rank methods treat differently
    return xr.concat(rdms, "rdm").assign_coords(rdm=["s1", "s2", "s3", "s4"])


@pytest.mark.parametrize("ours, theirs", COMPARE)
def test_comparisons_match_rsatoolbox(stack, ours, theirs):
    vals = stack.values
    got = compare_rdms(stack, stack[::-1], ours)
    assert got.dims == ("rdm_a", "rdm_b") and list(got["rdm_b"].values) == ["s4", "s3", "s2", "s1"]
    np.testing.assert_allclose(got.values, compare(RDMs(vals), RDMs(vals[::-1]), theirs), atol=1e-6)
    single = compare_rdms(stack[0], stack[1], theirs)  # rsatoolbox's names are aliases
    assert isinstance(single, float)
    assert single == pytest.approx(compare(RDMs(vals[:1]), RDMs(vals[1:2]), theirs)[0, 0], abs=1e-6)


@pytest.mark.parametrize("method", ["corr_cov", "cosine_cov"])
def test_cov_weighted_with_pattern_variances(stack, method):
    sigma = np.random.default_rng(6).uniform(0.5, 2.0, N)
    ref = compare(RDMs(stack.values[:1]), RDMs(stack.values[2:3]), method, sigma_k=sigma)[0, 0]
    assert compare_rdms(stack[0], stack[2], method, sigma_k=sigma) == pytest.approx(ref, abs=1e-6)


def test_kendall_tau_a_large_vector_matches_rsatoolbox():
    rng = np.random.default_rng(7)
    a, b = (compute_rdm(rng.normal(size=(120, 8))).values.round(2) for _ in range(2))  # 7140 pairs, many ties
    ref = compare(RDMs(a[None]), RDMs(b[None]), "tau-a")[0, 0]
    assert compare_rdms(a, b, "kendall_tau_a") == pytest.approx(ref, abs=1e-9)


def test_alignment_by_ids(stack):
    a = stack[0]
    perm = np.random.default_rng(8).permutation(N)
    shuffled = stack[1].isel(stimulus=perm, stimulus_=perm)
    assert compare_rdms(a, shuffled) == pytest.approx(compare_rdms(a, stack[1]), abs=1e-12)
    # rows and columns permuted differently are put back together
    assert compare_rdms(a, stack[1].isel(stimulus=perm)) == pytest.approx(compare_rdms(a, stack[1]), abs=1e-12)
    other = stack[1].assign_coords(stimulus_id=("stimulus", ["x"] + IDS[1:]), stimulus_id_=("stimulus_", ["x"] + IDS[1:]))
    with pytest.raises(AlignmentError, match=r"1 missing \(e.g. \['s00'\]\), 1 extra \(e.g. \['x'\]\)"):
        compare_rdms(a, other)
    with pytest.raises(AlignmentError, match="'a': 12, 'b': 5"):
        compare_rdms(a.values, a.values[:5, :5])


@pytest.mark.parametrize("metric", ["correlation", "euclidean", "crossnobis"])
def test_an_rdm_needs_two_stimuli(metric):
    one = np.random.default_rng(0).normal(size=(1, 6))
    kw = {"runs": [0], "stimulus_id": ["a"]} if metric == "crossnobis" else {}
    with pytest.raises(ShapeError, match="received 1 stimulus .*expected at least 2 stimuli"):
        compute_rdm(one, metric, **kw)
    if metric == "crossnobis":  # two runs of one stimulus are still one stimulus
        with pytest.raises(ShapeError, match="received 1 stimulus"):
            compute_rdm(np.vstack([one, one + 1]), metric, runs=[0, 1], stimulus_id=["a", "a"])
    with pytest.raises(ShapeError, match="no features"):
        compute_rdm(np.zeros((3, 0)), "euclidean")
    two = compute_rdm(np.random.default_rng(1).normal(size=(2, 6)), "euclidean")
    assert two.shape == (2, 2) and float(two[0, 1]) > 0


def test_clear_errors(feats, stack):
    with pytest.raises(InputError, match="metric: received 'manhattan'"):
        compute_rdm(feats, "manhattan")
    with pytest.raises(InputError, match="method: received 'foo'"):
        compare_rdms(stack[0], stack[1], "foo")
    with pytest.raises(InputError, match="constant feature vectors for stimuli \\['s03'\\]"):
        compute_rdm(feats.where(feats.stimulus_id != "s03", 1.0))
    with pytest.raises(InputError, match="non-symmetric"):
        compare_rdms(np.random.default_rng(0).random((5, 5)), stack[0].values[:5, :5])
    with pytest.raises(InputError, match="NaN|finite"):
        compute_rdm(feats.where(feats.stimulus_id != "s01"))
    with pytest.raises(AlignmentError, match="duplicated"):
        compute_rdm(feats.values, stimulus_id=["a"] * N)
    with pytest.raises(InputError, match="only 'crossnobis' uses runs"):
        compute_rdm(feats.values, "correlation", runs=np.arange(N))
    with pytest.raises(InputError, match="crossnobis needs one run label"):
        compute_rdm(feats, "crossnobis")
    with pytest.raises(AlignmentError, match="has no row in run"):
        compute_rdm(feats.values, "crossnobis", runs=[0] * 6 + [1] * 6, stimulus_id=IDS[:7] + IDS[:5])
    with pytest.raises(ShapeError, match=r"expected a \(30, 30\) precision matrix"):
        compute_rdm(feats, "mahalanobis", noise=np.eye(3))
    with pytest.raises(InputError, match="variance is zero"):
        compare_rdms(1 - np.eye(5), stack[0].values[:5, :5], "pearson")
    with pytest.raises(ShapeError, match="at least 2"):
        rdm_noise_ceiling(stack[0])


@pytest.mark.parametrize("ours, theirs", [("spearman", "spearman"), ("pearson", "corr"), ("cosine", "cosine"),
                                          ("kendall_tau_a", "tau-a"), ("rho_a", "rho-a"), ("corr_cov", "corr_cov")])
def test_noise_ceiling_matches_rsatoolbox(stack, ours, theirs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rsatoolbox warns that tau ceilings use averaged ranks
        ref = boot_noise_ceiling(RDMs(stack.values), method=theirs)
    nc = rdm_noise_ceiling(stack, ours)
    np.testing.assert_allclose(nc, ref, atol=1e-6)
    assert nc.lower <= nc.upper
    listed = rdm_noise_ceiling([stack[i].isel(stimulus=slice(None, None, -1), stimulus_=slice(None, None, -1))
                                if i else stack[i] for i in range(4)], ours)  # a list, aligned by ids
    np.testing.assert_allclose(listed, nc, atol=1e-12)


@pytest.mark.parametrize("ours, theirs", [("pearson", "corr"), ("cosine", "cosine"), ("spearman", "spearman"),
                                          ("rho_a", "rho-a"), ("kendall_tau_a", "tau-a")])
def test_bootstrap_resamples_match_rsatoolbox_subsampling(stack, ours, theirs):
    a, b = stack.values[:2], stack.values[2:]
    idx = np.random.default_rng(9).integers(0, N, size=(6, N))
    idx[0, :] = [0, 0, 1, 1] * 3  # only two distinct stimuli: undefined, NaN
    got = _bootstrap_values(_vectors(a), _vectors(b), N, idx, ours, a, b)
    assert np.isnan(got[0]).all()
    for row, i in zip(got[1:], idx[1:]):
        ref = compare(RDMs(b).subsample_pattern("index", i), RDMs(a).subsample_pattern("index", i), theirs)
        np.testing.assert_allclose(row, ref.mean(1), atol=1e-6)


def test_bootstrap_is_seeded_and_centred_on_full_sample():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(40, 50))
    model = compute_rdm(x + rng.normal(scale=1.0, size=x.shape))
    models = xr.concat([model, compute_rdm(rng.normal(size=x.shape))], "rdm").assign_coords(rdm=["good", "null"])
    res = bootstrap_rdm_comparison(x, models, n_bootstrap=200, method="spearman", random_state=3)
    again = bootstrap_rdm_comparison(x, models, n_bootstrap=200, method="spearman", random_state=3)
    other = bootstrap_rdm_comparison(x, models, n_bootstrap=200, method="spearman", random_state=4)
    pd.testing.assert_frame_equal(res, again)
    np.testing.assert_array_equal(res.attrs["samples"], again.attrs["samples"])
    assert not np.array_equal(res.attrs["samples"], other.attrs["samples"])
    assert list(res.index) == ["good", "null"] and (res["n_valid"] == 200).all()
    assert res.loc["good", "value"] == pytest.approx(compare_rdms(compute_rdm(x), model), abs=1e-12)
    assert abs(res.loc["good", "mean"] - res.loc["good", "value"]) < 2 * res.loc["good", "std"]
    assert res.loc["good", "ci_low"] < res.loc["good", "value"] < res.loc["good", "ci_high"]
    assert res.loc["null", "ci_low"] < 0 < res.loc["null", "ci_high"] < res.loc["good", "ci_low"]
    # features and their RDM give the same answer; a_kind forces the reading
    from_rdm = bootstrap_rdm_comparison(compute_rdm(x), models, n_bootstrap=200, method="spearman", random_state=3)
    pd.testing.assert_frame_equal(res, from_rdm)
    with pytest.raises(InputError, match="the bootstrap supports"):
        bootstrap_rdm_comparison(x, models, method="corr_cov")


def test_plot_rdm_comparison(stack):
    from neuroperception.plotting.rsa import plot_rdm_comparison

    res = bootstrap_rdm_comparison(stack[:2], stack[2:], n_bootstrap=30, method="pearson")
    fig = plot_rdm_comparison(res, noise_ceiling=rdm_noise_ceiling(stack, "pearson"), title="models")
    ax = fig.axes[0]
    bars = [c for c in ax.containers if hasattr(c, "patches")][0]
    np.testing.assert_allclose([p.get_height() for p in bars.patches], res["value"], atol=1e-12)
    band = [p for p in ax.patches if p not in bars.patches][0].get_y()
    assert band == pytest.approx(rdm_noise_ceiling(stack, "pearson").lower)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["s3", "s4"]
    with pytest.raises(InputError, match="needs 'std'"):
        plot_rdm_comparison(res.drop(columns="std"), errors="std")
    with pytest.raises(ShapeError, match="lower <= upper"):
        plot_rdm_comparison({"a": 0.2}, noise_ceiling=(0.5, 0.1))
