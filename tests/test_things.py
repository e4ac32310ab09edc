"""THINGS odd-one-out: the triplet-file reader and the model-vs-human agreement scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from neuroperception.behaviour import load_things_triplets, odd_one_out_accuracy
from neuroperception.errors import InputError, ShapeError
from neuroperception.similarity import L2


def _reference(x, triplets, temperature=1.0):
    """Loop over triplets with explicit cosine similarities and a softmax (no shared code)."""
    acc, prob = [], []
    for i, j, k in triplets:
        def cos(u, v):
            return float(np.dot(x[u], x[v]) / np.linalg.norm(x[u]) / np.linalg.norm(x[v]))
        s = np.array([cos(i, j), cos(i, k), cos(j, k)])  # pair kept -> odd one k, j, i
        p = np.exp(s / temperature) / np.exp(s / temperature).sum()
        acc.append(float(np.argmax(s) == 0))
        prob.append(p[0])
    return np.mean(acc), np.mean(prob)


# ---------------------------------------------------------------------------------------- reader
def test_reads_the_released_layout(tmp_path):
    rng = np.random.default_rng(0)
    trip = np.stack([rng.permutation(1854)[:3] for _ in range(50)])
    path = tmp_path / "trainset.txt"
    np.savetxt(path, trip.astype(float))  # the released files: numbers written by numpy, space separated
    assert np.array_equal(load_things_triplets(path, n_objects=1854), trip)
    tabbed = tmp_path / "validationset.txt"
    tabbed.write_text("\n".join("\t".join(map(str, row)) for row in trip[:5]) + "\n\n")
    assert load_things_triplets(tabbed).dtype == np.int64
    assert np.array_equal(load_things_triplets(tabbed), trip[:5])


def test_reader_header_comments_and_one_based(tmp_path):
    path = tmp_path / "triplets.csv"
    path.write_text("# exported\nimage1,image2,odd\n1,2,3\n4,6,5\n")
    assert load_things_triplets(path, index_base=1).tolist() == [[0, 1, 2], [3, 5, 4]]


@pytest.mark.parametrize("text, match", [
    ("0 1 2\n3 4\n", "data row 2 is .*expected three integer object indices"),
    ("0 1 2\n3 4 x\n", "data row 2 is"),
    ("0 1 2\n3 4 5.5\n", "data row 2"),
    ("0 1 1\n", "expected three different objects"),
    ("0 1 2 3\n", "received 4 columns; expected 3"),
    ("\n\n", "holds no triplets"),
])
def test_reader_errors(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_things_triplets(path)


def test_reader_range_and_missing_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("0 1 1854\n")
    with pytest.raises(InputError, match="below n_objects=1854"):
        load_things_triplets(path, n_objects=1854)
    with pytest.raises(FileNotFoundError, match="nothing.txt.*three 0-based object indices"):
        load_things_triplets(tmp_path / "nothing.txt")


# ---------------------------------------------------------------------------------------- scores
def test_matches_a_loop_reference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 8))
    trip = np.stack([rng.permutation(40)[:3] for _ in range(300)])
    res = odd_one_out_accuracy(x, trip, temperature=0.5)
    acc, prob = _reference(x, trip, temperature=0.5)
    assert res.accuracy == pytest.approx(acc) and res.probability == pytest.approx(prob)
    assert res.score == pytest.approx((acc - 1 / 3) / (0.673 - 1 / 3))
    assert res.n_triplets == 300 and np.allclose(res.probabilities.sum(1), 1)


def test_planted_human_choices_are_recovered():
    """Objects in 4 tight clusters; humans pick the object from the other cluster."""
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 16)) * 5
    label = np.repeat(np.arange(4), 25)
    x = centres[label] + rng.normal(size=(100, 16)) * 0.3
    trip = []
    while len(trip) < 200:
        i, j, k = rng.choice(100, 3, replace=False)
        if label[i] == label[j] != label[k]:
            trip.append((i, j, k))
    trip = np.array(trip)
    feats = xr.DataArray(x, dims=("stimulus", "feature"))
    assert odd_one_out_accuracy(feats, trip).accuracy == 1.0
    assert odd_one_out_accuracy(x, trip, ceiling=1.0).score == pytest.approx(1.0)
    shuffled = trip[:, [2, 0, 1]]  # the "human" choice is now one of the similar pair
    assert odd_one_out_accuracy(x, shuffled).accuracy == 0.0
    random_x = rng.normal(size=(100, 16))
    chance = odd_one_out_accuracy(random_x, trip).accuracy
    assert abs(chance - 1 / 3) < 0.1


def test_similarity_choices_and_ties():
    x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # dot: (0,1)=2, (0,2)=0, (1,2)=0 -> odd is 2; cosine the same
    assert odd_one_out_accuracy(x, [[0, 1, 2]], similarity="dot").predicted.tolist() == [2]
    # identical objects: all three similarities tie -> a third of the credit
    same = np.ones((3, 4)) + np.arange(4)
    assert odd_one_out_accuracy(same, [[0, 1, 2]]).accuracy == pytest.approx(1 / 3)
    corr = odd_one_out_accuracy(np.array([[1.0, 2, 3], [2, 4, 7], [3, 2, 1]]), [[0, 1, 2]], similarity="correlation")
    assert corr.accuracy == 1.0


def test_metric_route_agrees_with_features():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(12, 3, 8, 8, generator=g)
    trip = np.stack([np.random.default_rng(s).permutation(12)[:3] for s in range(60)])
    res = odd_one_out_accuracy(L2(), trip, images=images)
    flat = images.reshape(12, -1).double().numpy()
    # the reference: similarity = - mean squared error, computed directly
    mse = lambda a, b: ((flat[a] - flat[b]) ** 2).mean(1)  # noqa: E731
    sims = -np.stack([mse(trip[:, 0], trip[:, 1]), mse(trip[:, 0], trip[:, 2]), mse(trip[:, 1], trip[:, 2])], 1)
    assert res.accuracy == pytest.approx(float((sims.argmax(1) == 0).mean()))
    expected_p = np.exp(sims[:, 0]) / np.exp(sims).sum(1)
    assert res.probability == pytest.approx(float(expected_p.mean()), rel=1e-5)


def test_accepts_dataframes_and_reports_errors():
    x = np.random.default_rng(0).normal(size=(5, 3))
    df = pd.DataFrame([[0, 1, 2], [2, 3, 4]], columns=["object_1", "object_2", "odd_one_out"])
    assert odd_one_out_accuracy(x, df).n_triplets == 2
    with pytest.raises(InputError, match="features for 5 objects"):
        odd_one_out_accuracy(x, [[0, 1, 7]])
    with pytest.raises(ShapeError, match="expected \\(n_triplets, 3\\)"):
        odd_one_out_accuracy(x, [[0, 1]])
    with pytest.raises(InputError, match="similarity"):
        odd_one_out_accuracy(x, [[0, 1, 2]], similarity="euclid")
    with pytest.raises(InputError, match="ceiling"):
        odd_one_out_accuracy(x, [[0, 1, 2]], ceiling=0.2)
    with pytest.raises(InputError, match="images: received None with a Metric"):
        odd_one_out_accuracy(L2(), [[0, 1, 2]])
    with pytest.raises(InputError, match="all-zero"):
        odd_one_out_accuracy(np.zeros((3, 2)), [[0, 1, 2]])
