"""Retrieval accuracy, 2-way identification and the similarity matrix against hand-computed cases."""

from itertools import combinations

import numpy as np
import pytest
import torch
import xarray as xr

from neuroperception.decoding import retrieval_accuracy, similarity_matrix, two_way_identification
from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.plotting import plot_retrieval


def _labelled(values, ids):
    return xr.DataArray(np.asarray(values, float), dims=("stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", list(ids))})


def _ref_hits(sim, k):
    """Loop reference: rank of the true pair among candidates, ties against the decoder."""
    n = sim.shape[0]
    b2i = [sum(sim[i, j] >= sim[i, i] for j in range(n) if j != i) < k for i in range(n)]
    i2b = [sum(sim[i, j] >= sim[j, j] for i in range(n) if i != j) < k for j in range(n)]
    return np.mean(b2i), np.mean(i2b)


# ------------------------------------------------------------------------------------ hand-computed
def test_hand_computed_both_directions():
    target = np.eye(3)
    # cosine: pred0 nearest t0; pred1 nearest t2 (miss); pred2 nearest t2.
    # columns: t0 -> p0; t1 -> p1 (0.196 > 0.0995 > 0); t2 -> p2 (1 > 0.98).
    pred = np.array([[1.0, 0.1, 0.0], [0.0, 0.2, 1.0], [0.0, 0.0, 1.0]])
    table = retrieval_accuracy(pred, target, k=(1, 2, 3))
    assert list(table.index) == ["brain_to_image", "image_to_brain"]
    assert table.loc["brain_to_image", "top-1"] == pytest.approx(2 / 3)
    assert table.loc["image_to_brain", "top-1"] == pytest.approx(1.0)
    assert table.loc["brain_to_image", "top-2"] == pytest.approx(1.0)
    assert (table["top-3"] == 1.0).all()
    assert table["chance-1"].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert table["chance-2"].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert table.attrs["n_candidates"] == 3


def test_four_vectors_euclidean_and_single_direction():
    target = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    pred = np.array([[0.1, 0.0], [0.1, 0.1], [0.0, 0.9], [0.9, 0.8]])  # pred1 lands on target 0
    # brain→image: p0->t0 hit, p1->t0 miss (|p1-t1|=0.906 vs 0.141), p2->t2 hit, p3->t3 hit -> 3/4
    # image→brain: t0 nearest p0 (0.1) hit; t1 nearest p3 (0.806 < p0 0.9 < p1 0.906) miss; t2, t3 hit
    table = retrieval_accuracy(pred, target, k=1, metric="euclidean")
    assert table.loc["brain_to_image", "top-1"] == pytest.approx(0.75)
    assert table.loc["image_to_brain", "top-1"] == pytest.approx(0.75)
    one = retrieval_accuracy(pred, target, k=1, metric="euclidean", direction="image_to_brain")
    assert list(one.index) == ["image_to_brain"]
    assert one.iloc[0]["top-1"] == table.loc["image_to_brain", "top-1"]


def test_ties_count_as_misses():
    target = np.ones((4, 3))  # identical candidates: every brain→image comparison is a tie
    pred = np.random.default_rng(0).normal(size=(4, 3))
    table = retrieval_accuracy(pred, target, k=(1, 3, 4))
    assert table.loc["brain_to_image", "top-1"] == 0 and table.loc["brain_to_image", "top-3"] == 0
    assert (table["top-4"] == 1).all()  # every candidate returned: always a hit
    # one prediction for every stimulus: image→brain is all ties (0); brain→image hits exactly k of n
    flat = retrieval_accuracy(2 * np.ones((4, 3)), np.random.default_rng(1).normal(size=(4, 3)), k=(1, 2))
    assert flat.loc["image_to_brain", "top-1"] == 0 and flat.loc["image_to_brain", "top-2"] == 0
    assert flat.loc["brain_to_image", "top-1"] == 0.25 and flat.loc["brain_to_image", "top-2"] == 0.5
    assert two_way_identification(pred, target, metric="cosine") == 0.0
    assert two_way_identification(pred, target, metric="euclidean") == 0.0


def test_matches_loop_reference_on_random_data():
    rng = np.random.default_rng(3)
    target = rng.normal(size=(12, 5))
    pred = target + 1.2 * rng.normal(size=(12, 5))
    for metric in ("cosine", "correlation", "euclidean"):
        sim = np.asarray(similarity_matrix(pred, target, metric))
        table = retrieval_accuracy(pred, target, k=(1, 3), metric=metric)
        for k in (1, 3):
            b2i, i2b = _ref_hits(sim, k)
            assert table.loc["brain_to_image", f"top-{k}"] == pytest.approx(b2i)
            assert table.loc["image_to_brain", f"top-{k}"] == pytest.approx(i2b)


def test_n_way_equals_exhaustive_subset_mean():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(5, 4))
    pred = target + rng.normal(size=(5, 4))
    sim = np.asarray(similarity_matrix(pred, target))
    subsets = list(combinations(range(5), 3))  # 10 subsets <= n_repeats: all of them are used
    expected = np.mean([_ref_hits(sim[np.ix_(s, s)], 1) for s in subsets], axis=0)
    table = retrieval_accuracy(pred, target, k=1, n_way=3, n_repeats=30)
    assert table.attrs["n_subsets"] == 10
    assert table["top-1"].tolist() == pytest.approx(expected.tolist())
    assert table["chance-1"].tolist() == pytest.approx([1 / 3, 1 / 3])
    full = retrieval_accuracy(pred, target, k=1)
    assert retrieval_accuracy(pred, target, k=1, n_way=5).equals(full)


def test_n_way_random_subsets_are_seeded():
    rng = np.random.default_rng(2)
    target = rng.normal(size=(30, 6))
    pred = target + 1.5 * rng.normal(size=(30, 6))
    a = retrieval_accuracy(pred, target, k=(1, 2), n_way=4, n_repeats=25, random_state=7)
    b = retrieval_accuracy(pred, target, k=(1, 2), n_way=4, n_repeats=25, random_state=7)
    assert a.equals(b) and a.attrs["n_subsets"] == 25
    # many random subsets approach the exhaustive mean over all 4-subsets
    sim = np.asarray(similarity_matrix(pred, target))
    exact = np.mean([_ref_hits(sim[np.ix_(s, s)], 1)[0] for s in combinations(range(30), 4)])
    many = retrieval_accuracy(pred, target, k=1, n_way=4, n_repeats=4000, direction="brain_to_image")
    assert many.iloc[0]["top-1"] == pytest.approx(exact, abs=0.03)


def test_two_way_identification_hand_and_reference():
    target = np.eye(3)
    pred = np.array([[1.0, 0.2, 0.0], [1.0, 0.0, 0.2], [0.0, 0.1, 1.0]])
    per = two_way_identification(pred, target, metric="cosine", per_stimulus=True)
    # pred1 = [1, 0, .2]: its own target (t1) scores 0, below t0 (.98) and t2 (.196) -> 0/2
    assert per.tolist() == [1.0, 0.0, 1.0]
    assert two_way_identification(pred, target, metric="cosine") == pytest.approx(2 / 3)
    rng = np.random.default_rng(4)
    t = rng.normal(size=(9, 6))
    p = t + rng.normal(size=(9, 6))
    r = np.corrcoef(p, t)[:9, 9:]
    expected = np.mean([np.mean([r[i, i] > r[i, j] for j in range(9) if j != i]) for i in range(9)])
    assert two_way_identification(p, t) == pytest.approx(expected)


def test_similarity_matrix_metrics_and_labels():
    a = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    b = np.array([[2.0, 4.0, 6.5], [3.0, 0.0, 0.0]])
    cos = similarity_matrix(a, b, "cosine")
    assert cos[0, 0] == pytest.approx(a[0] @ b[0] / np.linalg.norm(a[0]) / np.linalg.norm(b[0]))
    corr = similarity_matrix(a, b, "correlation")
    assert corr == pytest.approx(np.corrcoef(a, b)[:2, 2:])
    euc = similarity_matrix(a, b, "euclidean")
    assert euc == pytest.approx(-np.linalg.norm(a[:, None] - b[None], axis=-1))
    da = similarity_matrix(_labelled(a, ["x", "y"]), b)
    assert da.dims == ("stimulus", "candidate") and da["stimulus_id"].values.tolist() == ["x", "y"]


def test_labelled_inputs_are_aligned_by_id_and_torch_accepted():
    rng = np.random.default_rng(5)
    target = rng.normal(size=(8, 4))
    pred = target + 0.8 * rng.normal(size=(8, 4))
    ids = [f"s{i}" for i in range(8)]
    order = rng.permutation(8)
    shuffled = _labelled(target[order], [ids[i] for i in order])
    expected = retrieval_accuracy(pred, target, k=(1, 2))
    assert retrieval_accuracy(_labelled(pred, ids), shuffled, k=(1, 2)).equals(expected)
    assert retrieval_accuracy(torch.from_numpy(pred), torch.from_numpy(target), k=(1, 2)).equals(expected)
    assert two_way_identification(_labelled(pred, ids), shuffled) == pytest.approx(two_way_identification(pred, target))


# ------------------------------------------------------------------------------------ errors
def test_errors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    with pytest.raises(AlignmentError, match="'pred': 4, 'target': 3"):
        retrieval_accuracy(x, x[:3], k=1)
    with pytest.raises(InputError, match="n_way: received 5"):
        retrieval_accuracy(x, x, n_way=5)
    with pytest.raises(InputError, match="k: received 5; expected at most the number of candidates"):
        retrieval_accuracy(x, x, k=(1, 5))
    with pytest.raises(InputError, match="k: received 3; expected at most the number of candidates \\(2\\)"):
        retrieval_accuracy(x, x, k=3, n_way=2)
    bad = x.copy()
    bad[1, 0] = np.nan
    with pytest.raises(InputError, match="NaN/Inf in 1 rows \\(first: \\[1\\]\\)"):
        retrieval_accuracy(bad, x, k=1)
    zero = x.copy()
    zero[2] = 0
    with pytest.raises(InputError, match="zero-norm rows \\(first: \\[2\\]\\)"):
        retrieval_accuracy(zero, x, k=1)
    with pytest.raises(InputError, match="constant rows"):
        two_way_identification(np.ones((4, 3)), x)
    with pytest.raises(InputError, match="metric: received 'dot'"):
        similarity_matrix(x, x, "dot")
    with pytest.raises(InputError, match="direction: received 'up'"):
        retrieval_accuracy(x, x, k=1, direction="up")
    with pytest.raises(InputError, match="expected 'both', 'brain_to_image' or 'image_to_brain'"):
        retrieval_accuracy(x, x, k=1, direction="brain→image")
    with pytest.raises(ShapeError, match="received 2 features while pred has 3"):
        similarity_matrix(x, x[:, :2])
    with pytest.raises(AlignmentError, match="stimulus ids differ"):
        retrieval_accuracy(_labelled(x, "abcd"), _labelled(x, "abce"), k=1)
    with pytest.raises(InputError, match="at least 2 stimuli"):
        two_way_identification(x[:1], x[:1])


def test_plot_retrieval_draws_the_table():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(10, 4))
    table = retrieval_accuracy(t + rng.normal(size=(10, 4)), t, k=(1, 5))
    ax = plot_retrieval(table).axes[0]
    heights = [round(float(p.get_height()), 6) for p in ax.patches]
    assert heights == [round(v, 6) for v in table["top-1"].tolist() + table["top-5"].tolist()]
    with pytest.raises(InputError, match="missing top-k columns"):
        plot_retrieval(table[["chance-1"]])
