"""ROI ablation per subject on simulate_subjects: decoding the latent components of one ROI, removing that ROI
costs the most and that ROI alone decodes best in every subject; the summary agrees; clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroperception.data import simulate_subjects
from neuroperception.decoding import RidgeDecoder, ablation_summary, roi_ablation, roi_ablation_subjects
from neuroperception.errors import AlignmentError, InputError


def _sim(seed=0):
    rng = np.random.default_rng(seed)
    f = xr.DataArray(rng.standard_normal((400, 16)), dims=("stimulus", "feature"))
    sim = simulate_subjects(f, n_subjects=3, n_voxels=150, n_components=9, snr=1.0, shared=0.5, random_state=seed)
    latent = sim.shared_latent
    # the planted truth: the features to decode are the latent components of IT alone
    features = latent.isel(component=np.flatnonzero(latent["roi"].values == "IT")).rename(component="feature")
    return sim, features.drop_vars("roi")


def test_the_roi_with_the_signal_ranks_first_in_every_subject():
    sim, features = _sim()
    table = roi_ablation_subjects(RidgeDecoder(), sim.subjects, features, test=0.25)
    assert table.columns[0] == "subject" and table["subject"].unique().tolist() == list(sim.subjects)
    for name, rows in table.groupby("subject", sort=False):
        without = rows[rows["condition"] == "without"]
        only = rows[rows["condition"] == "only"]
        assert without.iloc[0]["roi"] == "IT", rows          # largest drop first
        assert only.set_index("roi")["top-1"].idxmax() == "IT"
        assert rows.iloc[0]["top-1"] > 5 * table.attrs["chance"][name]
        n_vox = sim.subjects[name].sizes["voxel"]
        assert rows.iloc[0]["n_voxels"] == n_vox
    summary = ablation_summary(table)
    it = summary[(summary["condition"] == "without") & (summary["roi"] == "IT")].iloc[0]
    assert it["n_first"] == len(sim.subjects) and it["n_subjects"] == len(sim.subjects)
    assert it["drop_low"] > 0                                  # the drop's interval over subjects excludes 0
    others = summary[(summary["condition"] == "without") & (summary["roi"] != "IT")]
    assert (others["n_first"] == 0).all() and (others["drop"] < it["drop"]).all()


def test_each_subject_equals_roi_ablation_on_its_own_data():
    sim, features = _sim(1)
    table = roi_ablation_subjects(RidgeDecoder(alphas=[1.0, 100.0]), sim.subjects, features, random_state=3)
    name = "subj02"
    responses = sim.subjects[name]
    own = roi_ablation(RidgeDecoder(alphas=[1.0, 100.0]), responses,
                       features.sel(stimulus=features["stimulus_id"].isin(responses["stimulus_id"].values)),
                       random_state=3)
    got = table[table["subject"] == name].drop(columns="subject").reset_index(drop=True)
    assert got.equals(own)


def test_clear_errors():
    sim, features = _sim(2)
    with pytest.raises(InputError, match="subjects"):
        roi_ablation_subjects(RidgeDecoder(), sim.subjects["subj01"], features)
    with pytest.raises(InputError, match="stimulus_id"):
        roi_ablation_subjects(RidgeDecoder(), sim.subjects, features.values)
    with pytest.raises(AlignmentError, match="subj"):
        roi_ablation_subjects(RidgeDecoder(), sim.subjects, features.isel(stimulus=slice(0, 100)))
    with pytest.raises(InputError, match="rois"):
        roi_ablation_subjects(RidgeDecoder(), sim.subjects, features, rois=["FFA"])
    with pytest.raises(InputError, match="roi_ablation_subjects"):
        ablation_summary(features.to_pandas())


# ------------------------------------------------------------------------------ a shared-space decoder, jointly
def test_a_shared_space_decoder_is_ablated_in_every_subject_at_once_and_it_finds_the_planted_roi():
    from neuroperception.decoding import SharedSpaceDecoder

    sim, features = _sim()
    table = roi_ablation_subjects(SharedSpaceDecoder(n_components=9), sim.subjects, features, test=0.25, k=(1, 5))
    assert table.attrs["shared"] and table["subject"].unique().tolist() == list(sim.subjects)
    held = table.attrs["test_ids"]
    assert set(held) <= set(sim.subjects.shared_stimuli()) and len(held) == round(0.25 * len(sim.shared_stimuli))
    for name, rows in table.groupby("subject", sort=False):
        assert rows.iloc[0]["n_voxels"] == sim.subjects[name].sizes["voxel"]
        assert rows.iloc[0]["top-5"] > 8 * 5 / len(held)  # chance 0.1 among 50
        assert rows[rows["condition"] == "without"].iloc[0]["roi"] == "IT"
        assert rows[rows["condition"] == "only"].set_index("roi")["top-5"].idxmax() == "IT"
        # an ROI alone gets a shared space no larger than its smallest voxel count across subjects
        only_it = rows[(rows["condition"] == "only") & (rows["roi"] == "IT")].iloc[0]
        smallest = min(int((sim.subjects[s]["roi"].values == "IT").sum()) for s in sim.subjects)
        assert only_it["n_components"] == min(9, smallest)
    summary = ablation_summary(table)
    it = summary[(summary["condition"] == "without") & (summary["roi"] == "IT")].iloc[0]
    assert it["n_first"] == 3 and it["drop_low"] > 0


def test_the_shared_ablation_all_row_equals_the_decoder_fitted_by_hand():
    from neuroperception.data import Subjects
    from neuroperception.decoding import SharedSpaceDecoder, retrieval_accuracy

    sim, features = _sim(1)
    table = roi_ablation_subjects(SharedSpaceDecoder(n_components=6), sim.subjects, features, test=0.2,
                                  random_state=4)
    held = table.attrs["test_ids"]

    def split(da, inside):
        ids = np.asarray(da["stimulus_id"].values).astype(str)
        return da.isel(stimulus=np.flatnonzero(np.isin(ids, held) == inside))

    model = SharedSpaceDecoder(n_components=6).fit(Subjects({n: split(r, False) for n, r in sim.subjects.items()}),
                                                    features)
    test = split(sim.subjects["subj03"], True)
    order = [int(np.flatnonzero(test["stimulus_id"].values == i)[0]) for i in held]
    pred = model.predict(test.isel(stimulus=order), subject="subj03")
    target = features.set_index(stimulus="stimulus_id").sel(stimulus=held)
    ref = retrieval_accuracy(pred.values, target.values, k=(1,), direction="brain_to_image", random_state=4)
    row = table[(table["subject"] == "subj03") & (table["condition"] == "all")].iloc[0]
    assert row["top-1"] == pytest.approx(float(ref["top-1"].iloc[0]))


def test_a_shared_ablation_needs_the_roi_in_every_subject():
    from neuroperception.data import Subjects
    from neuroperception.decoding import SharedSpaceDecoder

    sim, features = _sim(2)
    subs = dict(sim.subjects.items())
    subs["subj02"] = subs["subj02"].assign_coords(roi=("voxel", np.where(subs["subj02"]["roi"].values == "IT", "LO",
                                                                         subs["subj02"]["roi"].values)))
    with pytest.raises(InputError, match="every subject has"):
        roi_ablation_subjects(SharedSpaceDecoder(n_components=4), Subjects(subs), features, rois=["IT"])
