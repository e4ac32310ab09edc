"""Controlled triplet generation: grid fill, de-correlation, balance, no reuse, seeds, errors, figures."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from sklearn.decomposition import PCA as SkPCA  # noqa: E402

from neuroperception.behaviour import TRIPLET_COLUMNS, candidate_pool, generate_triplets  # noqa: E402
from neuroperception.behaviour._levels import paired_distances, pca_scores, unit_patterns  # noqa: E402
from neuroperception.errors import AlignmentError, InputError  # noqa: E402
from neuroperception.plotting.triplets import plot_triplet_grid, plot_triplets  # noqa: E402
from neuroperception.similarity import compute_rdm  # noqa: E402


def _features(n=2000, seed=0, mix=0.6):
    """Two levels sharing a latent factor, so their distances correlate (r ~ 0.5 over random triplets)."""
    rng = np.random.default_rng(seed)
    ids = [f"im{i:04d}" for i in range(n)]
    shared = rng.normal(size=(n, 30))
    low = shared + mix * rng.normal(size=(n, 30))
    high = shared @ rng.normal(size=(30, 60)) + 5.0 * mix * rng.normal(size=(n, 60))

    def wrap(x, layer):
        return xr.DataArray(x, dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", ids)},
                            attrs={"model": "planted", "layer": layer})

    return {"low": wrap(low, "early"), "high": wrap(high, "late")}


def _random_triplet_r(feats, seed=1):
    rng = np.random.default_rng(seed)
    ids = [str(v) for v in feats["low"]["stimulus_id"].values]
    z = {k: unit_patterns(feats[k], 0.95, np.random.default_rng(0), ids)[0] for k in ("low", "high")}
    n = len(ids)
    r, a, b = (rng.integers(0, n, 20000) for _ in range(3))
    ok = (r != a) & (r != b) & (a != b)
    d = {k: paired_distances(v, r[ok], a[ok]) - paired_distances(v, r[ok], b[ok]) for k, v in z.items()}
    return float(np.corrcoef(d["low"], d["high"])[0, 1])


@pytest.fixture(scope="module")
def planted():
    return _features()


@pytest.fixture(scope="module")
def table(planted):
    return generate_triplets(planted, n_triplets=500, random_state=0)


def _check_must_show(table, n_pool, n_triplets=500):
    used = table[["ref", "option_a", "option_b"]].to_numpy().ravel()
    assert len(table) == n_triplets
    assert len(set(used)) == 3 * n_triplets <= n_pool  # every image used once at most
    assert abs(table.attrs["r_low_high"]) <= 0.05
    assert abs(np.corrcoef(table["delta_low"], table["delta_high"])[0, 1] - table.attrs["r_low_high"]) < 1e-12
    share = (table["condition"] == "congruent").mean()
    assert abs(share - 0.5) <= 0.05


def test_must_show_on_2000_planted_items(planted, table):
    assert _random_triplet_r(planted) > 0.4  # random triplets: the two levels agree strongly
    _check_must_show(table, 2000)


def test_table_columns_and_attrs(table):
    assert tuple(table.columns) == TRIPLET_COLUMNS
    assert table["triplet"].tolist() == list(range(len(table)))
    assert np.allclose(table["delta_low"], table["d_low_a"] - table["d_low_b"])
    assert np.allclose(table["delta_high"], table["d_high_a"] - table["d_high_b"])
    same = np.sign(table["delta_low"]) == np.sign(table["delta_high"])
    assert (table["condition"] == np.where(same, "congruent", "incongruent")).all()
    attrs = table.attrs
    assert attrs["low"] == ("planted", "early") and attrs["high"] == ("planted", "late")
    assert attrs["random_state"] == 0 and attrs["n_bins"] == 10 and attrs["n_pool"] == 2000
    assert attrs["sigma_low"] > 0 and attrs["sigma_high"] > 0
    assert attrs["weights"] == {"low": "unknown", "high": "unknown"}  # planted features record no weights


def test_grid_is_filled_evenly_and_within_tolerance(table):
    counts = table.groupby(["bin_low", "bin_high"]).size()
    assert len(counts) == 100 and (counts == 5).all()
    for level in ("low", "high"):
        width = table.attrs["step"] * table.attrs[f"sigma_{level}"]
        centre = (table[f"bin_{level}"] - 5 + 0.5) * width
        assert (np.abs(table[f"delta_{level}"] - centre) <= table.attrs["tolerance"] * width + 1e-12).all()
    # the seeded sign flip: each cell and its mirror (A and B swapped) hold the same number
    mirrored = table.assign(bin_low=9 - table["bin_low"], bin_high=9 - table["bin_high"])
    assert counts.equals(mirrored.groupby(["bin_low", "bin_high"]).size().reindex(counts.index))


def test_distances_are_correlation_distances_of_the_pca_scores(planted, table):
    ids = [str(v) for v in planted["low"]["stimulus_id"].values]
    rng = np.random.default_rng(0)  # the generator's first draws are the PCA fits
    scores, _ = pca_scores(np.asarray(planted["low"].values), 0.95, rng)
    rdm = compute_rdm(scores, "correlation", stimulus_id=ids)
    pos = {s: k for k, s in enumerate(ids)}
    row = table.iloc[0]
    assert np.isclose(row["d_low_a"], float(rdm[pos[row["ref"]], pos[row["option_a"]]]), atol=1e-10)
    assert np.isclose(row["d_low_b"], float(rdm[pos[row["ref"]], pos[row["option_b"]]]), atol=1e-10)


def test_pca_matches_scikit_learn_both_ways():
    rng = np.random.default_rng(3)
    for shape in ((200, 40), (60, 300)):  # scatter-matrix and Gram-matrix paths
        x = rng.normal(size=shape) @ np.diag(np.linspace(3, 0.1, shape[1]))
        ours, k = pca_scores(x, 0.9, np.random.default_rng(0))
        ref = SkPCA(n_components=0.9, svd_solver="full").fit(x)
        assert k == ref.n_components_
        theirs = ref.transform(x)
        assert np.allclose(np.abs(ours), np.abs(theirs), atol=1e-8)  # up to each component's sign


def test_same_seed_same_table_other_seed_other_table(planted):
    small = {k: v.isel(stimulus=slice(0, 600)) for k, v in planted.items()}
    a = generate_triplets(small, n_triplets=100, random_state=4)
    b = generate_triplets(small, n_triplets=100, random_state=4)
    c = generate_triplets(small, n_triplets=100, random_state=5)
    assert a.equals(b)
    assert not a[["ref", "option_a", "option_b"]].equals(c[["ref", "option_a", "option_b"]])


def test_odd_counts_stay_balanced(planted):
    small = {k: v.isel(stimulus=slice(0, 300)) for k, v in planted.items()}
    t = generate_triplets(small, n_triplets=37, n_bins=4)
    n_con = int((t["condition"] == "congruent").sum())
    assert len(t) == 37 and abs(n_con - (37 - n_con)) <= 1
    assert abs(int((t["delta_low"] > 0).sum()) - int((t["delta_low"] < 0).sum())) <= 1


def test_too_few_images_is_a_clear_error(planted):
    small = {k: v.isel(stimulus=slice(0, 20)) for k, v in planted.items()}
    with pytest.raises(InputError, match="received 20 images for n_triplets=7; expected at least 21"):
        generate_triplets(small, n_triplets=7)
    with pytest.raises(InputError, match="received 4 images for n_triplets=2"):
        generate_triplets(np.random.default_rng(0).random((4, 3, 16, 16)), low=("gabor", "scale0"),
                          high=("gabor", "scale1"), n_triplets=2)


def test_an_unfillable_grid_says_which_cells_stayed_short(planted):
    small = {k: v.isel(stimulus=slice(0, 90)) for k, v in planted.items()}
    with pytest.raises(InputError, match=r"filled \d+ of 30 triplets from 90 images; .*stayed short"):
        generate_triplets(small, n_triplets=30, n_bins=10, tolerance=0.05)


def test_features_without_ids_or_with_mismatched_ids(planted):
    small = {k: v.isel(stimulus=slice(0, 30)) for k, v in planted.items()}
    bare = {"low": small["low"].drop_vars("stimulus_id"), "high": small["high"]}
    with pytest.raises(InputError, match="without a stimulus_id"):
        generate_triplets(bare, n_triplets=5)
    other = {"low": small["low"], "high": planted["high"].isel(stimulus=slice(30, 60))}
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        generate_triplets(other, n_triplets=5)
    with pytest.raises(InputError, match="expected exactly 'low' and 'high'"):
        generate_triplets({"low": small["low"]}, n_triplets=5)


def test_layers_not_found_before_any_extraction():
    images = np.random.default_rng(0).random((9, 3, 16, 16)).astype(np.float32)
    with pytest.raises(InputError, match="high: layer 'scale9' is not a layer of gabor"):
        generate_triplets(images, low=("gabor", "scale0"), high=("gabor", "scale9"), n_triplets=3)
    with pytest.raises(InputError, match="expected a \\(model spec or FeatureModel, layer name\\) pair"):
        generate_triplets(images, low="gabor", n_triplets=3)


def test_bad_settings_are_refused(planted):
    with pytest.raises(InputError, match="n_bins: received 5; expected an even int"):
        generate_triplets(planted, n_bins=5)
    with pytest.raises(InputError, match="tolerance"):
        generate_triplets(planted, tolerance=0.7)
    with pytest.raises(InputError, match="pca"):
        generate_triplets(planted, pca=1.5)


def test_generation_from_images_through_the_registry():
    pool = candidate_pool(60, size=32, random_state=2)
    t = generate_triplets(pool, low=("gabor", "scale0"), high=("gabor", "scale1"), n_triplets=10, n_bins=2,
                          pooling="avg:2")
    assert len(set(t[["ref", "option_a", "option_b"]].to_numpy().ravel())) == 30
    assert set(t["ref"]) <= set(pool.ids)
    assert t.attrs["low"] == ("gabor", "scale0") and t.attrs["high"] == ("gabor", "scale1")
    assert t.attrs["weights"] == {"low": "none (weight-free)", "high": "none (weight-free)"}


def test_candidate_pool_is_seeded_and_varied():
    a, b, c = candidate_pool(40, size=32, random_state=0), candidate_pool(40, size=32), candidate_pool(40, size=32,
                                                                                                     random_state=1)
    assert a.ids == b.ids and np.array_equal(a.images.numpy(), b.images.numpy())
    assert not np.array_equal(a.images.numpy(), c.images.numpy())
    kinds = {i.split("/")[2] for i in a.ids}
    assert kinds == {"photo", "grating", "plaid", "noise"}
    x = a.images.numpy()
    assert x.min() >= 0 and x.max() <= 1 and x.shape == (40, 3, 32, 32)
    flat = x.reshape(40, -1)
    assert len({row.tobytes() for row in flat}) == 40  # no two images alike
    assert sum(i.split("/")[2] == "photo" for i in a.ids) == 20
    with pytest.raises(InputError, match="photo_fraction"):
        candidate_pool(4, photo_fraction=2.0)


def test_figures(table, planted):
    fig = plot_triplet_grid(table)
    heat = fig.axes[0].images[0].get_array()
    assert heat.shape == (10, 10) and int(heat.sum()) == 500
    scatter = [c for c in fig.axes[1].collections]
    assert sum(len(c.get_offsets()) for c in scatter) == 500
    images = {i: np.full((8, 8, 3), k / 2000) for k, i in enumerate(planted["low"]["stimulus_id"].values)}
    fig2 = plot_triplets(images, table, n=4)
    assert len(fig2.axes) == 12 and all(len(ax.images) == 1 for ax in fig2.axes)
    titles = [ax.get_title() for ax in fig2.axes[::3]]
    assert sum("incongruent" in t for t in titles) == 2
    with pytest.raises(InputError, match="no image for id"):
        plot_triplets({}, table, n=1)
    with pytest.raises(InputError, match="missing"):
        plot_triplet_grid(table[["ref"]])
    plt.close("all")


@pytest.mark.slow
def test_must_show_with_networks_on_a_2000_image_pool():
    from neuroperception.features import load_model
    from neuroperception.features.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

    pool = candidate_pool(2000, size=64, random_state=0)
    cornet = load_model("cornet_s")
    cornet = dataclasses.replace(cornet, preprocess=Preprocessing(None, None, IMAGENET_MEAN, IMAGENET_STD))
    t = generate_triplets(pool, low=("gabor", "scale0"), high=(cornet, "IT"), n_triplets=500, pooling="avg:4",
                          batch_size=100)
    _check_must_show(t, 2000)
    assert t.attrs["high"] == ("cornet_s", "IT")
