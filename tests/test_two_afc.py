"""BAPPS/NIGHTS readers on trees written in the real layouts, 2AFC score and JND mAP."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from neuroperception.errors import AlignmentError, InputError, ShapeError  # noqa: E402
from neuroperception.plotting.behaviour import plot_subset_scores  # noqa: E402
from neuroperception.similarity.base import Metric  # noqa: E402
from neuroperception.similarity.datasets import (  # noqa: E402
    JNDDataset,
    TwoAFCDataset,
    load_bapps_2afc,
    load_bapps_jnd,
    load_nights,
)
from neuroperception.similarity.two_afc import (  # noqa: E402
    jnd_average_precision,
    jnd_map_score,
    two_afc_agreement,
    two_afc_score,
)


class MeanColourL2(Metric):
    """Squared distance between mean colours: its choices on solid-colour images are known."""

    def embed(self, images):
        return images.mean(dim=(2, 3))

    def compare(self, a, b):
        return ((a - b) ** 2).sum(1)


def _rgb(level: int) -> tuple[int, int, int]:
    return (level, 255 - level, level // 2)


def _png(path, level: int, side: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (side, side), _rgb(level)).save(path)


# (subset, stem): (ref, p0, p1, judge = fraction choosing p1, agreement of MeanColourL2 by hand)
PLANTED_2AFC = {
    ("cnn", "000002"): (50, 80, 80, 0.9, 0.5),  # p0 == p1: a tie
    ("cnn", "000000"): (100, 110, 200, 0.2, 0.8),  # d0 < d1 -> 1 - judge
    ("cnn", "000001"): (100, 200, 120, 0.7, 0.7),  # d0 > d1 -> judge
    ("color", "000000"): (10, 10, 250, 0.0, 1.0),
    ("color", "000001"): (200, 0, 190, 0.6, 0.6),
}


def _bapps_2afc(root, split="val", planted=PLANTED_2AFC):
    for (subset, stem), (ref, p0, p1, judge, _) in planted.items():
        folder = root / "2afc" / split / subset
        for part, level in (("ref", ref), ("p0", p0), ("p1", p1)):
            _png(folder / part / f"{stem}.png", level)
        (folder / "judge").mkdir(exist_ok=True)
        np.save(folder / "judge" / f"{stem}.npy", np.array([judge], dtype=np.float32))
    return root


PLANTED_JND = {  # (subset, stem): (p0, p1, same)
    ("traditional", "000000"): (100, 100, 1.0),
    ("traditional", "000001"): (100, 140, 0.4),
    ("traditional", "000002"): (100, 120, 0.8),
    ("traditional", "000003"): (30, 250, 0.0),
    ("cnn", "000000"): (60, 70, 0.6),
    ("cnn", "000001"): (60, 200, 0.2),
    ("cnn", "000002"): (60, 90, 0.0),
}


def _bapps_jnd(root):
    for (subset, stem), (p0, p1, same) in PLANTED_JND.items():
        folder = root / "jnd" / "val" / subset
        _png(folder / "p0" / f"{stem}.png", p0)
        _png(folder / "p1" / f"{stem}.png", p1)
        (folder / "same").mkdir(exist_ok=True)
        np.save(folder / "same" / f"{stem}.npy", np.array([same]))
    return root


NIGHTS_ROWS = [  # id, left_vote, right_vote, votes, ref, left, right, split, is_imagenet
    (0, 0.25, 0.75, 8, 40, 60, 200, "test", True),
    (1, 1.0, 0.0, 6, 90, 100, 10, "test", False),
    (2, 0.5, 0.5, 4, 90, 100, 10, "test", False),  # fewer than 6 votes: dropped by default
    (3, 0.0, 1.0, 7, 10, 20, 30, "train", True),
    (4, 0.4, 0.6, 9, 5, 6, 7, "val", False),
]


def _nights(root, rows=NIGHTS_ROWS):
    lines = ["id,left_vote,right_vote,votes,ref_path,left_path,right_path,prompt,split,is_imagenet"]
    for i, lv, rv, votes, ref, left, right, split, imagenet in rows:
        folder = f"{i // 1000:03d}"
        names = (f"ref/{folder}/{i:03d}.png", f"distort/{folder}/{i:03d}_0.png", f"distort/{folder}/{i:03d}_1.png")
        for name, level in zip(names, (ref, left, right)):
            _png(root / name, level, side=24)
        lines.append(f"{i},{lv},{rv},{votes},{names[0]},{names[1]},{names[2]},an image of a cat,{split},{imagenet}")
    (root / "data.csv").write_text("\n".join(lines) + "\n")
    return root


def _colour(level: int) -> torch.Tensor:
    return torch.tensor(_rgb(level), dtype=torch.float32) / 255.0


# ----------------------------------------------------------------------------------- readers
def test_bapps_2afc_reader_returns_planted_values(tmp_path):
    ds = load_bapps_2afc(_bapps_2afc(tmp_path), split="val", size=8)
    # known subsets in the BAPPS order (cnn before color), files sorted by name within a subset
    assert ds.ids == ["cnn/000000", "cnn/000001", "cnn/000002", "color/000000", "color/000001"]
    assert ds.subsets == ["cnn"] * 3 + ["color"] * 2 and ds.subset_names == ["cnn", "color"]
    assert repr(ds) == "TwoAFCDataset(name='bapps-2afc-val', n=5, subsets={'cnn': 3, 'color': 2})"
    expected = [PLANTED_2AFC[tuple(i.split("/"))] for i in ds.ids]
    np.testing.assert_allclose(ds.judge, [e[3] for e in expected], atol=1e-7)
    batches = list(ds.batches(batch_size=2))
    assert [len(b.ids) for b in batches] == [2, 2, 1]
    for field, k in (("ref", 0), ("p0", 1), ("p1", 2)):
        images = torch.cat([getattr(b, field) for b in batches])
        assert images.shape == (5, 3, 8, 8) and images.dtype == torch.float32
        planted = torch.stack([_colour(e[k]) for e in expected])[:, :, None, None].expand(-1, -1, 8, 8)
        torch.testing.assert_close(images, planted, atol=1e-5, rtol=0)
    assert ds.select("color").ids == ["color/000000", "color/000001"]
    only = load_bapps_2afc(tmp_path, subsets="color", size=None)
    assert only.ids == ["color/000000", "color/000001"]
    assert next(only.batches()).ref.shape == (2, 3, 16, 16)  # stored size kept


def test_bapps_jnd_reader_returns_planted_values(tmp_path):
    ds = load_bapps_jnd(_bapps_jnd(tmp_path), size=4)
    assert ds.subset_names == ["traditional", "cnn"]
    assert ds.ids[:2] == ["traditional/000000", "traditional/000001"]
    np.testing.assert_allclose(ds.same, [PLANTED_JND[tuple(i.split("/"))][2] for i in ds.ids])
    batch = next(ds.batches(batch_size=10))
    torch.testing.assert_close(batch.p1[1, :, 0, 0], _colour(140), atol=1e-5, rtol=0)
    assert batch.p0.shape == (7, 3, 4, 4)


def test_nights_reader_maps_votes_to_the_bapps_convention(tmp_path):
    root = _nights(tmp_path)
    ds = load_nights(root, split="test", size=12)
    assert ds.ids == ["0", "1"]  # row 2 has fewer than 6 votes, rows 3-4 are other splits
    assert ds.subsets == ["imagenet", "no_imagenet"]
    np.testing.assert_allclose(ds.judge, [0.75, 0.0])  # fraction preferring the right image (p1)
    batch = next(ds.batches())
    torch.testing.assert_close(batch.p0[0, :, 5, 5], _colour(60), atol=1e-5, rtol=0)  # left -> p0
    torch.testing.assert_close(batch.p1[0, :, 5, 5], _colour(200), atol=1e-5, rtol=0)  # right -> p1
    assert batch.ref.shape == (2, 3, 12, 12)
    assert load_nights(root, split="test", min_votes=0).ids == ["0", "1", "2"]
    assert load_nights(root, split="test_imagenet").ids == ["0"]
    assert load_nights(root, split="test_no_imagenet").ids == ["1"]
    assert load_nights(root, split="val").judge.tolist() == pytest.approx([0.6])


def test_nights_vote_counts_are_normalised(tmp_path):
    rows = [(7, 3, 1, 8, 1, 2, 3, "test", True)]  # counts, not fractions: 1 of 4 chose right
    ds = load_nights(_nights(tmp_path, rows), size=None)
    assert ds.judge.tolist() == [0.25]


# ----------------------------------------------------------------------------------- 2AFC score
def test_two_afc_score_equals_hand_computed_values(tmp_path):
    ds = load_bapps_2afc(_bapps_2afc(tmp_path), size=8)
    res = two_afc_score(MeanColourL2(), ds, batch_size=2)
    hand = [PLANTED_2AFC[tuple(i.split("/"))][4] for i in ds.ids]
    np.testing.assert_allclose(res.items["score"], hand, atol=1e-6)
    assert list(res.items["id"]) == ds.ids
    table = res.table.set_index("subset")
    assert table.loc["cnn", "score"] == pytest.approx((0.8 + 0.7 + 0.5) / 3, abs=1e-6)
    assert table.loc["color", "score"] == pytest.approx((1.0 + 0.6) / 2, abs=1e-6)
    assert table.loc["cnn", "n"] == 3 and table.loc["color", "n"] == 2
    assert res.overall == pytest.approx(3.6 / 5, abs=1e-6)
    assert res.mean_of_subsets == pytest.approx(((2.0 / 3) + 0.8) / 2, abs=1e-6)
    p = np.array([0.2, 0.7, 0.9])
    assert table.loc["cnn", "human"] == pytest.approx(np.mean(p**2 + (1 - p) ** 2), abs=1e-6)
    assert table.loc["cnn", "oracle"] == pytest.approx(0.8, abs=1e-6)
    assert table.loc["cnn", "sem"] == pytest.approx(np.std([0.8, 0.7, 0.5], ddof=1) / np.sqrt(3), abs=1e-6)
    # a plain callable gives the same answer as the Metric path, whatever the batch size
    plain = two_afc_score(lambda x, y: ((x - y) ** 2).mean(dim=(2, 3)).sum(1), ds, batch_size=50)
    np.testing.assert_allclose(plain.items["score"], res.items["score"])


def test_two_afc_score_matches_lpips_reference():
    trainer = pytest.importorskip("lpips.trainer")
    g = torch.Generator().manual_seed(3)
    ref, p0, p1 = (torch.rand(23, 3, 8, 8, generator=g) for _ in range(3))
    judge = torch.randint(0, 6, (23,), generator=g).float() / 5  # 5 raters, as in BAPPS val
    ds = TwoAFCDataset.from_arrays(ref, p0, p1, judge.numpy())

    def l1(x, y):
        return (x - y).abs().flatten(1).mean(1)

    class _Loader:
        def load_data(self):
            for lo in range(0, 23, 7):
                yield {"ref": ref[lo:lo + 7], "p0": p0[lo:lo + 7], "p1": p1[lo:lo + 7],
                       "judge": judge[lo:lo + 7].view(-1, 1, 1, 1)}

    expected, details = trainer.score_2afc_dataset(_Loader(), l1)
    res = two_afc_score(l1, ds, batch_size=5)
    assert res.overall == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(res.items["score"], details["scores"], atol=1e-9)


def test_two_afc_agreement_rules():
    d0, d1 = np.array([1.0, 3.0, 2.0, 2.0]), np.array([2.0, 1.0, 2.0, 5.0])
    judge = np.array([0.3, 0.3, 0.3, 1.0])
    assert two_afc_agreement(d0, d1, judge).tolist() == pytest.approx([0.7, 0.3, 0.5, 0.0])
    # swapping p0 and p1 (and so judge -> 1 - judge) leaves the agreement unchanged
    assert two_afc_agreement(d1, d0, 1 - judge).tolist() == pytest.approx([0.7, 0.3, 0.5, 0.0])
    with pytest.raises(InputError, match=r"judge: received .*expected fractions in \[0, 1\]"):
        two_afc_agreement(d0, d1, judge + 0.5)


def test_metric_with_wrong_output_is_a_clear_error():
    x = torch.rand(3, 3, 8, 8)
    ds = TwoAFCDataset.from_arrays(x, x, x, judge=[0.1, 0.2, 0.3])
    with pytest.raises(ShapeError, match=r"metric\(ref, p0\): received .*shape=\(3, 2\).*expected \(N,\) distances"):
        two_afc_score(lambda a, b: torch.zeros(len(a), 2), ds)
    with pytest.raises(InputError, match="expected finite distances"):
        two_afc_score(lambda a, b: torch.full((len(a),), float("nan")), ds)
    with pytest.raises(InputError, match="metric: received int; expected a Metric or a callable"):
        two_afc_score(3, ds)
    with pytest.raises(InputError, match="dataset: received JNDDataset; expected a TwoAFCDataset"):
        two_afc_score(MeanColourL2(), JNDDataset.from_arrays(x, x, same=[1, 0, 1]))


# ----------------------------------------------------------------------------------- JND mAP
def test_jnd_average_precision_hand_worked_and_sklearn():
    # ranked same = 0, 1, 1: precision 0, 1/2, 2/3 at recall 0, 1/2, 1; the VOC envelope lifts
    # the 1/2 to 2/3, so the area is 2/3 (sklearn's uninterpolated AP would give 7/12)
    assert jnd_average_precision([0.1, 0.2, 0.3], [0, 1, 1]) == pytest.approx(2 / 3)
    # order comes from the distances, not from the input order
    assert jnd_average_precision([0.3, 0.1, 0.2], [1, 0, 1]) == pytest.approx(2 / 3)
    # fractional "same": ranked 1, 0.5: tp = 1, 1.5; precision 1, 0.75; recall 2/3, 1
    assert jnd_average_precision([0.0, 1.0], [1.0, 0.5]) == pytest.approx(2 / 3 + 0.75 / 3)
    # where precision already falls at every hit, the envelope changes nothing: sklearn agrees
    from sklearn.metrics import average_precision_score

    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    y = np.array([1, 1, 0, 1, 0, 0])
    assert jnd_average_precision(d, y) == pytest.approx(average_precision_score(y, -d))
    with pytest.raises(InputError, match="expected at least one pair judged the same"):
        jnd_average_precision([0.1, 0.2], [0.0, 0.0])


def test_jnd_map_score_matches_lpips_reference(tmp_path):
    trainer = pytest.importorskip("lpips.trainer")
    ds = load_bapps_jnd(_bapps_jnd(tmp_path), size=8)
    metric = MeanColourL2()
    res = jnd_map_score(metric, ds, batch_size=3)
    assert list(res.table["subset"]) == ["traditional", "cnn"]
    for subset in ("traditional", "cnn"):
        part = ds.select(subset)
        batch = next(part.batches(100))

        class _Loader:
            def load_data(self, batch=batch):
                yield {"p0": batch.p0, "p1": batch.p1, "same": torch.tensor(batch.same).view(-1, 1, 1, 1)}

        expected, _ = trainer.score_jnd_dataset(_Loader(), lambda a, b: metric(a, b))
        assert res.table.set_index("subset").loc[subset, "map"] == pytest.approx(expected, abs=1e-9)
    # hand-worked: traditional ranks same = 1, 0.8, 0.4, 0 -> tp 1, 1.8, 2.2; precision 1, .9, 2.2/3
    tp, rec = np.array([1.0, 1.8, 2.2]), np.array([1.0, 0.8, 0.4]) / 2.2
    assert res.table.loc[0, "map"] == pytest.approx(float(np.sum(rec * tp / [1, 2, 3])))
    assert res.overall == pytest.approx(jnd_average_precision(res.items["distance"], res.items["same"]))


# ----------------------------------------------------------------------------------- errors
def test_missing_judge_file_is_named(tmp_path):
    root = _bapps_2afc(tmp_path)
    (root / "2afc/val/cnn/judge/000001.npy").unlink()
    with pytest.raises(AlignmentError, match=r"missing file .*cnn/judge/000001\.npy .*present in ref, p0, p1"):
        load_bapps_2afc(root)


def test_mismatched_ids_across_folders(tmp_path):
    root = _bapps_2afc(tmp_path)
    _png(root / "2afc/val/color/p1/000009.png", 5)
    with pytest.raises(AlignmentError, match=r"1 ids have no file in ref/.*000009\.png"):
        load_bapps_2afc(root)


def test_bad_split_subset_and_folders(tmp_path):
    root = _bapps_2afc(tmp_path)
    with pytest.raises(InputError, match=r"split: received 'test'; expected one of \['train', 'val'\]"):
        load_bapps_2afc(root, split="test")
    with pytest.raises(InputError, match=r"missing folder .*2afc[/\\]train"):
        load_bapps_2afc(root, split="train")
    with pytest.raises(InputError, match=r"subsets: received 'deblur' .*found \['cnn', 'color'\]"):
        load_bapps_2afc(root, subsets=["cnn", "deblur"])
    with pytest.raises(InputError, match=r"missing folder .*jnd[/\\]val"):
        load_bapps_jnd(root)
    with pytest.raises(InputError, match="split: received 'train'"):
        load_bapps_jnd(root, split="train")


def test_bad_judge_values_and_files(tmp_path):
    root = _bapps_2afc(tmp_path)
    np.save(root / "2afc/val/cnn/judge/000000.npy", np.array([1.5]))
    with pytest.raises(InputError, match=r"000000\.npy: received .*expected one float fraction in \[0, 1\]"):
        load_bapps_2afc(root)
    (root / "2afc/val/cnn/judge/000000.npy").write_text("not an array")
    with pytest.raises(InputError, match=r"000000\.npy: could not be read as a \.npy array"):
        load_bapps_2afc(root)


def test_nights_errors(tmp_path):
    with pytest.raises(InputError, match=r"missing file .*data\.csv: expected the NIGHTS table"):
        load_nights(tmp_path)
    root = _nights(tmp_path)
    with pytest.raises(InputError, match=r"split: received 'testing'; expected one of"):
        load_nights(root, split="testing")
    (root / "distort/000/001_1.png").unlink()
    with pytest.raises(InputError, match=r"missing file .*001_1\.png \(1 of the right_path images"):
        load_nights(root)
    (root / "data.csv").write_text("id,left_vote,ref_path\n0,1,ref/000/000.png\n")
    with pytest.raises(InputError, match=r"expected also \['right_vote', 'votes'"):
        load_nights(root)


def test_dataset_validation():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ShapeError, match="received 2 ids, 2 subsets and 3 judge values"):
        TwoAFCDataset.from_arrays(x, x, x, judge=[0.1, 0.2, 0.3])
    with pytest.raises(InputError, match=r"2afc\.judge: received .*expected finite fractions"):
        TwoAFCDataset.from_arrays(x, x, x, judge=[0.1, -0.2])
    ds = TwoAFCDataset.from_arrays(x, x, x, judge=[0.1, 0.2], subsets=["a", "b"])
    assert ds.select([True, False]).judge.tolist() == [0.1]
    with pytest.raises(InputError, match=r"received subset 'c'; expected one of \['a', 'b'\]"):
        ds.select("c")
    with pytest.raises(InputError, match="batch_size: received 0"):
        next(ds.batches(0))


# ----------------------------------------------------------------------------------- plot
@pytest.fixture
def _close():
    yield
    plt.close("all")


def test_plot_subset_scores_bars_and_ceiling(_close):
    table = pd.DataFrame({"subset": ["cnn", "color"], "score": [0.8, 0.6], "sem": [0.01, 0.02],
                          "human": [0.84, 0.67]})
    fig = plot_subset_scores(table, chance=0.5)
    ax = fig.axes[0]
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.8, 0.6]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cnn", "color"]
    ceiling = [c for c in ax.collections if c.get_label() == "human"][0]
    assert sorted(round(seg[0][1], 6) for seg in ceiling.get_segments()) == [0.67, 0.84]
    # two metrics side by side, ceiling from a mapping
    both = pd.concat([table.assign(metric="a"), table.assign(metric="b", score=[0.7, 0.5])])
    fig2 = plot_subset_scores(both, hue="metric", ceiling={"cnn": 0.9, "color": 0.7})
    assert sorted(round(p.get_height(), 6) for p in fig2.axes[0].patches) == [0.5, 0.6, 0.7, 0.8]
    with pytest.raises(InputError, match=r"value: received column name 'map'; expected one of"):
        plot_subset_scores(table, value="map")
    with pytest.raises(InputError, match="table: received dict; expected a pandas DataFrame"):
        plot_subset_scores({"a": 1})
