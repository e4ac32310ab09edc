"""cross_subject_decoding: each subject's decoder on every subject's held-out responses through alignment."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from neuroperception.alignment import ProcrustesAlignment, SharedResponseModel
from neuroperception.data import Subjects, simulate_subjects
from neuroperception.decoding import RidgeDecoder, cross_subject_decoding
from neuroperception.decoding.retrieval import retrieval_accuracy
from neuroperception.errors import AlignmentError, InputError


def _features(n=240, d=10, seed=0):
    ids = [f"s{i:03d}" for i in range(n)]
    return xr.DataArray(np.random.default_rng(seed).standard_normal((n, d)), dims=("stimulus", "feature"),
                        coords={"stimulus_id": ("stimulus", ids)})


@pytest.fixture(scope="module")
def world():
    f = _features()
    sim = simulate_subjects(f, n_subjects=3, n_voxels=[60, 90, 120], n_components=10, snr=1.5, shared=0.6,
                            random_state=1)
    return f, sim.subjects


def test_the_table_is_a_full_train_by_test_matrix_scored_on_shared_held_out_stimuli(world):
    f, subjects = world
    table = cross_subject_decoding(RidgeDecoder(), subjects, f, test=0.25, k=(1, 5))
    assert len(table) == 9
    assert set(zip(table["train_subject"], table["test_subject"])) == {(a, b) for a in subjects for b in subjects}
    assert (table["route"] == "within").sum() == 3
    assert set(table.loc[table["route"] != "within", "route"]) == {"RidgeAlignment"}
    shared = set(subjects.shared_stimuli())
    assert set(table.attrs["test_ids"]) <= shared and table.attrs["n_test"] == round(0.25 * len(shared))
    assert table.attrs["chance"] == pytest.approx(1 / table.attrs["n_test"])
    matrix = table.pivot(index="train_subject", columns="test_subject", values="top-5")
    assert matrix.shape == (3, 3)


def test_the_within_cell_equals_a_decoder_fitted_and_scored_by_hand(world):
    f, subjects = world
    table = cross_subject_decoding(RidgeDecoder(), subjects, f, test=0.25, random_state=3)
    held = table.attrs["test_ids"]
    resp = subjects["subj02"]
    ids = np.asarray(resp["stimulus_id"].values).astype(str)
    train = ~np.isin(ids, held)
    pos = {i: p for p, i in enumerate(np.asarray(f["stimulus_id"].values))}
    model = RidgeDecoder().fit(resp.isel(stimulus=np.flatnonzero(train)), f.isel(stimulus=[pos[i] for i in ids[train]]))
    order = [int(np.flatnonzero(ids == i)[0]) for i in held]
    pred = model.predict(resp.isel(stimulus=order))
    ref = retrieval_accuracy(pred, f.isel(stimulus=[pos[i] for i in held]), k=(1,), direction="brain_to_image",
                             random_state=3)
    cell = table[(table["train_subject"] == "subj02") & (table["test_subject"] == "subj02")]
    assert float(cell["top-1"].iloc[0]) == pytest.approx(float(ref["top-1"].iloc[0]))


@pytest.mark.parametrize("alignment", [None, ProcrustesAlignment(), SharedResponseModel(n_components=10)],
                         ids=["ridge", "procrustes", "srm"])
def test_decoders_carry_over_through_alignment_far_above_chance(world, alignment):
    f, subjects = world
    table = cross_subject_decoding(RidgeDecoder(), subjects, f, alignment=alignment, test=0.3, k=(5,))
    across = table[table["route"] != "within"]
    chance = table.attrs["chance"]
    n = table.attrs["n_test"]
    # every off-diagonal cell: its hits among n held-out stimuli exclude chance (binomial 99 % interval)
    for value in across["top-5"]:
        low = stats.binomtest(int(round(value * n)), n, chance).proportion_ci(0.99).low
        assert low > chance, (value, chance)
    assert across["identification"].min() > 0.8


def test_a_subject_without_signal_is_decoded_at_chance_and_its_decoder_decodes_nobody():
    f = _features(seed=2)
    sim = simulate_subjects(f, n_subjects=2, n_voxels=[80, 80], n_components=10, snr=2.0, shared=0.7, random_state=2)
    rng = np.random.default_rng(0)
    noise = sim.subjects["subj02"].copy(data=rng.standard_normal(sim.subjects["subj02"].shape))
    subjects = Subjects({"subj01": sim.subjects["subj01"], "subj02": noise})
    hits, total = 0, 0
    for seed in range(4):
        table = cross_subject_decoding(RidgeDecoder(), subjects, f, test=0.3, k=(5,), random_state=seed)
        n, chance = table.attrs["n_test"], table.attrs["chance"]
        involved = table[(table["train_subject"] == "subj02") | (table["test_subject"] == "subj02")]
        hits += int(round(involved["top-5"].sum() * n))
        total += n * len(involved)
        signal = table[(table["train_subject"] == "subj01") & (table["test_subject"] == "subj01")]
        assert float(signal["top-5"].iloc[0]) > 3 * chance
    low, high = stats.binomtest(hits, total, chance).proportion_ci(0.99)
    assert low <= chance <= high, (hits / total, chance)


def test_bad_input_says_what_was_received(world):
    f, subjects = world
    one = Subjects({"subj01": subjects["subj01"]})
    with pytest.raises(InputError, match="at least two"):
        cross_subject_decoding(RidgeDecoder(), one, f)
    with pytest.raises(InputError, match="stimulus_id"):
        cross_subject_decoding(RidgeDecoder(), subjects, f.values)
    with pytest.raises(InputError, match="alignment"):
        cross_subject_decoding(RidgeDecoder(), subjects, f, alignment="procrustes")
    with pytest.raises(InputError, match="fraction"):
        cross_subject_decoding(RidgeDecoder(), subjects, f, test=1.5)
    own = sorted(set(subjects.stimulus_ids("subj01")) - set(subjects.shared_stimuli()))
    with pytest.raises(InputError, match="not shared"):
        cross_subject_decoding(RidgeDecoder(), subjects, f, test=own[:3])
    with pytest.raises(AlignmentError, match="no features"):
        cross_subject_decoding(RidgeDecoder(), subjects, f.isel(stimulus=slice(0, 200)))
    a = subjects["subj01"].isel(stimulus=slice(0, 30))
    b = subjects["subj02"].copy()
    b = b.assign_coords(stimulus_id=("stimulus", [f"other{i}" for i in range(b.sizes["stimulus"])]))
    with pytest.raises(AlignmentError, match="share 0 stimuli"):
        cross_subject_decoding(RidgeDecoder(), Subjects({"subj01": a, "subj02": b}), f)
