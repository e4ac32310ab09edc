"""THINGS odd-one-out: the triplet-file reader, the object order of each file, and the model-vs-human scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from neuroperception.behaviour import ObjectOrderWarning, ThingsTriplets, load_things_triplets, odd_one_out_accuracy
from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.similarity import L2
from neuroperception.stimuli import ImageSet


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
    np.savetxt(path, trip.astype(float))  # numbers written by numpy (1.2e+01), space separated
    t = load_things_triplets(path, n_objects=1854)
    assert np.array_equal(t.indices, trip) and np.array_equal(np.asarray(t), trip)
    assert t.order == "things" and t.concepts is None and len(t) == 50 and t.shape == (50, 3)
    tabbed = tmp_path / "validationset.txt"  # the release writes "%i %i %i"; tabs read too
    tabbed.write_text("\n".join("\t".join(map(str, row)) for row in trip[:5]) + "\n\n")
    assert load_things_triplets(tabbed).indices.dtype == np.int64
    assert np.array_equal(load_things_triplets(tabbed).indices, trip[:5])


def test_reader_header_comments_and_one_based(tmp_path):
    path = tmp_path / "triplets.csv"
    path.write_text("# exported\nimage1,image2,odd\n1,2,3\n4,6,5\n")
    t = load_things_triplets(path, index_base=1, object_order="things")
    assert t.indices.tolist() == [[0, 1, 2], [3, 5, 4]] and t.order == "things"


RELEASE_CSV_HEADER = "image1\timage2\timage3\tchoice\tRT\tnoise_ceiling\tsubject_id\tHIT_nr\ttrial_nr\tage\tgender\tdate\ttime\tdataset"


def test_reads_the_release_csv_with_choice_positions(tmp_path):
    """triplets_large_final_correctednc_correctedorder.csv: tab-separated, 1-based, in shown order with
    ``choice`` = position (1-3) of the odd one out; the release's own preprocessing turns choice 1 into
    columns (2, 3, 1), choice 2 into (1, 3, 2) and keeps choice 3, then subtracts 1."""
    rows = [(12, 1854, 7, 1, 2150, 0, "Ab3kq", 1, 1, "NaN", "Female", "2019-12-03", "12:01:33", 1),
            (12, 1854, 7, 2, 1904, 0, "Ab3kq", 1, 2, "NaN", "Female", "2019-12-03", "12:01:35", 1),
            (12, 1854, 7, 3, 3211, 2, "Zz9xu", 4, 20, "34", "Male", "2020-07-21", "08:15:02", 4)]
    path = tmp_path / "triplets_large_final_correctednc_correctedorder.csv"
    path.write_text(RELEASE_CSV_HEADER + "\n" + "\n".join("\t".join(map(str, r)) for r in rows) + "\n")
    t = load_things_triplets(path, n_objects=1854)
    assert t.indices.tolist() == [[1853, 6, 11], [11, 6, 1853], [11, 1853, 6]]
    assert t.order == "things"  # the release's corrected order, known from the file name
    assert load_things_triplets(path, index_base=0, object_order="things").indices.tolist()[0] == [1854, 7, 12]
    path.write_text(RELEASE_CSV_HEADER + "\n1\t2\t3\t4\t0\t0\tx\t1\t1\tNaN\tMale\t2019-01-01\t00:00:00\t1\n")
    with pytest.raises(InputError, match="choice 4; expected 1, 2 or 3"):
        load_things_triplets(path)


@pytest.mark.parametrize("text, match", [
    ("0 1 2\n3 4\n", "data row 2 is .*expected integer object indices"),
    ("0 1 2\n3 4 x\n", "data row 2 is"),
    ("0 1 2\n3 4 5.5\n", "data row 2"),
    ("0 1 1\n", "expected three different objects"),
    ("0 1 2 3\n", r"received 4 columns .*expected 3"),
    ("\n\n", "holds no triplets"),
])
def test_reader_errors(tmp_path, text, match):
    path = tmp_path / "trainset.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_things_triplets(path)


def test_reader_range_and_missing_file(tmp_path):
    path = tmp_path / "trainset.txt"
    path.write_text("0 1 1854\n")
    with pytest.raises(InputError, match="below n_objects=1854"):
        load_things_triplets(path, n_objects=1854)
    with pytest.raises(FileNotFoundError, match="nothing.txt.*three 0-based object indices"):
        load_things_triplets(tmp_path / "nothing.txt")


# -------------------------------------------------------------------------------- object order
def _clustered(n=60, seed=3):
    """Concept names, features in clusters (rows in concept order) and triplets whose odd one out
    is the object from another cluster (a model that sees the clusters scores 1.0)."""
    rng = np.random.default_rng(seed)
    names = [f"concept_{k:02d}" for k in range(n)]
    label = rng.integers(0, 6, n)
    x = rng.normal(size=(6, 12))[label] * 4 + rng.normal(size=(n, 12)) * 0.2
    trip = []
    while len(trip) < 300:
        i, j, k = rng.choice(n, 3, replace=False)
        if label[i] == label[j] != label[k]:
            trip.append((i, j, k))
    return names, x, np.array(trip)


def test_a_permuted_file_read_with_its_order_recovers_the_choices(tmp_path):
    names, x, trip = _clustered()
    n = len(names)
    file_to_concept = np.random.default_rng(9).permutation(n)  # file index i means concept file_to_concept[i]
    path = tmp_path / "odd_one_out_2020.txt"
    np.savetxt(path, np.argsort(file_to_concept)[trip], fmt="%i")
    labelled = xr.DataArray(x, dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", names)})

    # stated as a permutation, as the file's concept names, or through the concept names of the target
    by_perm = load_things_triplets(path, object_order=file_to_concept)
    assert np.array_equal(by_perm.indices, trip) and by_perm.order == "given"
    assert odd_one_out_accuracy(x, by_perm).accuracy == 1.0
    in_file_order = [names[c] for c in file_to_concept]
    by_name = load_things_triplets(path, object_order=in_file_order, concepts=names)
    assert np.array_equal(by_name.indices, trip) and by_name.names()[0].tolist() == [names[c] for c in trip[0]]
    res = odd_one_out_accuracy(labelled, by_name)
    assert res.accuracy == 1.0 and res.aligned_by == "stimulus_id"
    # the features' rows in any order: matched by name
    shuffle = np.random.default_rng(1).permutation(n)
    assert odd_one_out_accuracy(labelled.isel(stimulus=shuffle), by_name).accuracy == 1.0
    # names without a target order: carried as they are, and still matched by name
    carried = load_things_triplets(path, object_order=in_file_order)
    assert odd_one_out_accuracy(labelled.isel(stimulus=shuffle), carried).accuracy == 1.0

    # the naive read: warned when read, warned when scored (and far below the planted 1.0) ...
    with pytest.warns(ObjectOrderWarning, match="object order is unknown.*object_order="):
        naive = load_things_triplets(path)
    assert naive.order is None
    with pytest.warns(ObjectOrderWarning, match="row k of features is taken as object k"):
        assert odd_one_out_accuracy(x, naive).accuracy < 0.6
    # ... and an error against labelled features, which it cannot be aligned with
    with pytest.raises(AlignmentError, match="unknown object order and no concept names"):
        odd_one_out_accuracy(labelled, naive)


# THINGS concept order vs the order the images were uploaded in (file names <uniqueID>.jpg sorted
# byte-wise): the real quirk, with names of the THINGS list. SPoSE/VICE's data/sortindex holds, for
# these blocks of THINGS concepts (rows 246-248 and 816-820), the upload positions 248 246 247 and
# 817 818 819 820 816, i.e. relative to each block: [2, 0, 1] and [1, 2, 3, 4, 0].
THINGS_ORDER = ["camera_lens", "camera1", "camera2", "ice", "ice_cream", "ice_cube", "ice_pack", "ice-cream_cone"]
SORTINDEX = np.array([2, 0, 1, 4, 5, 6, 7, 3])  # concept k -> upload position


def test_upload_order_is_the_byte_order_of_the_image_file_names(tmp_path):
    from neuroperception.behaviour._things_files import upload_order

    assert [THINGS_ORDER[k] for k in upload_order(THINGS_ORDER)] == [
        "camera1", "camera2", "camera_lens", "ice-cream_cone", "ice", "ice_cream", "ice_cube", "ice_pack"]
    assert np.array_equal(np.argsort(upload_order(THINGS_ORDER)), SORTINDEX)
    concept_trip = np.array([[0, 1, 3], [7, 3, 2], [4, 5, 6]])
    path = tmp_path / "train_90.txt"
    np.savetxt(path, SORTINDEX[concept_trip], fmt="%i")  # indexed in upload order, as the 2020 data
    concepts = tmp_path / "unique_id.txt"
    concepts.write_text("\n".join(THINGS_ORDER) + "\n")
    t = load_things_triplets(path, object_order="upload", concepts=concepts)
    assert np.array_equal(t.indices, concept_trip) and t.order == "things"
    # the same from SPoSE/VICE's sortindex, which maps the other way
    assert np.array_equal(load_things_triplets(path, object_order=np.argsort(SORTINDEX)).indices, concept_trip)
    with pytest.raises(InputError, match="object_order='upload' needs concepts="):
        load_things_triplets(path, object_order="upload")


def test_concept_lists_in_both_released_forms(tmp_path):
    tsv = tmp_path / "things_concepts.tsv"
    tsv.write_text("Word\tuniqueID\tExample image\n" + "".join(
        f"{n.replace('_', ' ')}\t{n}\thttps://imgur.com/x{k}\n" for k, n in enumerate(THINGS_ORDER)))
    path = tmp_path / "trainset.txt"
    path.write_text("7 1 0\n")
    t = load_things_triplets(path, concepts=tsv)
    assert t.concepts == tuple(THINGS_ORDER) and t.names().tolist() == [["ice-cream_cone", "camera1", "camera_lens"]]
    assert "order='things'" in repr(t) and "<8 names>" in repr(t)
    bad = tmp_path / "bad.tsv"
    bad.write_text("Word\tid\nx\ty\n")
    with pytest.raises(InputError, match="expected a uniqueID column"):
        load_things_triplets(path, concepts=bad)
    with pytest.raises(AlignmentError, match="duplicated concept names"):
        load_things_triplets(path, concepts=THINGS_ORDER[:-1] + ["camera1"])
    with pytest.raises(InputError, match="object index 7 but 3 concepts|below n_objects=3"):
        load_things_triplets(path, concepts=THINGS_ORDER[:3])
    with pytest.raises(InputError, match="object_order: received 'alphabetical'"):
        load_things_triplets(path, object_order="alphabetical")
    with pytest.raises(InputError, match="permutation"):
        load_things_triplets(path, object_order=[0, 1, 1, 2, 3, 4, 5, 6])
    with pytest.raises(AlignmentError, match="not in concepts"):
        load_things_triplets(path, object_order=THINGS_ORDER[:-1] + ["toaster"], concepts=THINGS_ORDER)


def test_scoring_rules_for_labels_and_names():
    names, x, trip = _clustered(n=30, seed=5)
    named = ThingsTriplets(trip, concepts=names, order="things", source="test")
    unnamed = ThingsTriplets(trip, order="things", source="test")
    labelled = xr.DataArray(x, dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", names)})
    with pytest.raises(AlignmentError, match=r"have no row with that stimulus_id, e\.g\. \['concept_"):
        odd_one_out_accuracy(labelled.isel(stimulus=slice(0, 20)), named)
    with pytest.raises(ShapeError, match="received 20 rows but the triplets name 30 concepts"):
        odd_one_out_accuracy(x[:20], named)
    assert odd_one_out_accuracy(x, named).aligned_by == "position"  # unlabelled rows in the concepts' order
    with pytest.warns(ObjectOrderWarning, match="carry no concept names"):
        assert odd_one_out_accuracy(labelled, unnamed).accuracy == 1.0
    with pytest.raises(InputError, match="order: received 'sorted'"):
        ThingsTriplets(trip, order="sorted")
    with pytest.raises(InputError, match="carry no concept names"):
        unnamed.names()


def test_metric_route_aligns_image_ids_by_name():
    g = torch.Generator().manual_seed(2)
    images = torch.rand(6, 3, 8, 8, generator=g)
    names = ["a", "b", "c", "d", "e", "f"]
    trip = np.array([[0, 1, 2], [3, 4, 5], [5, 0, 2]])
    positional = odd_one_out_accuracy(L2(), trip, images=images)
    order = [4, 2, 0, 5, 1, 3]
    shuffled = ImageSet.from_array(images[order], stimulus_id=[names[k] for k in order])
    res = odd_one_out_accuracy(L2(), ThingsTriplets(trip, concepts=names, order="things"), images=shuffled)
    assert res.aligned_by == "stimulus_id"
    np.testing.assert_allclose(res.probabilities, positional.probabilities, rtol=1e-6)


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
