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
