"""Single-trial GLM betas: planted betas recovered from simulated BOLD written as NIfTI + events.tsv."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroperception.data import stack_repeats
from neuroperception.data.glm import single_trial_betas
from neuroperception.errors import InputError, ShapeError

T_R = 1.5
N_SCANS = 130
SHAPE = (4, 4, 3)
AFFINE = np.array([[2.0, 0, 0, -4], [0, 2.0, 0, -6], [0, 0, 3.0, 10], [0, 0, 0, 1]])


def _simulate(tmp_path, seed=0, noise=0.15):
    """Two runs of 12 trials each; stimuli s0-s5 shown 3 times, s6-s11 once (24 trials)."""
    from nilearn.glm.first_level import compute_regressor

    rng = np.random.default_rng(seed)
    stimuli = [f"s{i}" for i in range(6)] * 3 + [f"s{i}" for i in range(6, 12)]
    stimuli = list(rng.permutation(stimuli))
    n_vox = int(np.prod(SHAPE))
    frame_times = np.arange(N_SCANS) * T_R
    runs, events, planted, trial_ids = [], [], [], []
    for r in range(2):
        ids = stimuli[12 * r: 12 * (r + 1)]
        onsets = 6.0 + np.cumsum(rng.uniform(12.0, 15.0, size=12)) - 12.0
        betas = rng.normal(2.0, 1.0, size=(12, n_vox))
        signal = np.zeros((N_SCANS, n_vox))
        for t, onset in enumerate(onsets):
            reg, _ = compute_regressor(np.array([[onset], [1.0], [1.0]]), "glover", frame_times, oversampling=50)
            signal += reg[:, :1] * betas[t] / reg.max()  # a beta of 1 peaks at 1 unit above baseline
        drift = 1.5 * np.sin(2 * np.pi * frame_times / (N_SCANS * T_R * 2))[:, None] * rng.uniform(0.5, 1, n_vox)
        data = 100.0 + signal + drift + rng.normal(0, noise, size=(N_SCANS, n_vox))
        path = tmp_path / f"sub-01_task-img_run-{r + 1}_bold.nii.gz"
        nib.save(nib.Nifti1Image(data.T.reshape(*SHAPE, N_SCANS).astype(np.float32), AFFINE), path)
        tsv = tmp_path / f"sub-01_task-img_run-{r + 1}_events.tsv"
        pd.DataFrame({"onset": onsets, "duration": 1.0, "trial_type": "image", "stimulus_id": ids}).to_csv(
            tsv, sep="\t", index=False)
        runs.append(path)
        events.append(tsv)
        planted.append(betas)
        trial_ids.extend(ids)
    return runs, events, np.concatenate(planted), trial_ids


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return _simulate(tmp_path_factory.mktemp("glm"))


@pytest.mark.parametrize("method", ["lss", "lsa"])
def test_recovers_planted_betas_and_stacks_repeats(simulated, method):
    runs, events, planted, ids = simulated
    betas = single_trial_betas(runs, events, t_r=T_R, method=method, mask=False)
    truth = stack_repeats(planted, ids)
    assert betas.dims == ("repeat", "stimulus", "voxel")
    assert betas["stimulus_id"].values.tolist() == list(dict.fromkeys(ids))
    assert betas.sizes == {"repeat": 3, "stimulus": 12, "voxel": 48}
    # s6..s11 were shown once: NaN on repeats 1 and 2, exactly like the planted stack
    np.testing.assert_array_equal(np.isnan(betas.values), np.isnan(truth.values))
    counts = (~np.isnan(betas.values[:, :, 0])).sum(0)
    expected = [3 if int(s[1:]) < 6 else 1 for s in betas["stimulus_id"].values]
    assert counts.tolist() == expected
    ok = ~np.isnan(truth.values)
    r = np.corrcoef(betas.values[ok], truth.values[ok])[0, 1]
    assert r >= 0.9, r
    # per voxel as well: every voxel's trial profile is recovered
    per_voxel = [np.corrcoef(betas.values[..., v][ok[..., v]], truth.values[..., v][ok[..., v]])[0, 1]
                 for v in range(48)]
    assert min(per_voxel) >= 0.8
    assert betas.attrs["method"] == method and betas.attrs["units"] == "percent signal change"


@pytest.mark.filterwarnings("ignore:.*Generation of a mask has been requested")
def test_lsa_equals_first_level_model_on_the_run(simulated):
    """LSA on masked runs equals nilearn's FirstLevelModel fitted on the original run with one condition per trial."""
    from nilearn.glm.first_level import FirstLevelModel

    runs, events, _, _ = simulated
    betas = single_trial_betas(runs[0], events[0], t_r=T_R, method="lsa", mask=False)
    table = pd.read_csv(events[0], sep="\t")
    table["trial_type"] = [f"t{i:02d}" for i in range(len(table))]
    mask = nib.Nifti1Image(np.ones(SHAPE, dtype=np.uint8), AFFINE)
    model = FirstLevelModel(t_r=T_R, mask_img=mask, noise_model="ols", reports=False)
    model.fit(str(runs[0]), events=table[["onset", "duration", "trial_type"]])
    ref = np.stack([model.masker_.transform(model.compute_contrast(f"t{i:02d}", output_type="effect_size")).ravel()
                    for i in range(len(table))])
    got = stack_repeats(ref, table["stimulus_id"].tolist())
    np.testing.assert_allclose(betas.values, got.values, rtol=1e-4, atol=1e-4)


def test_mask_and_voxel_coordinates(simulated, tmp_path):
    runs, events, _, _ = simulated
    keep = np.zeros(SHAPE, dtype=np.uint8)
    keep[1:3, :, 1] = 1
    mask_path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(keep, AFFINE), mask_path)
    betas = single_trial_betas(runs, events, t_r=T_R, mask=mask_path, noise_model="ar1")
    assert betas.sizes["voxel"] == keep.sum()
    ijk = np.argwhere(keep.astype(bool))
    xyz = ijk * [2.0, 2.0, 3.0] + [-4, -6, 10]
    np.testing.assert_allclose(np.c_[betas["x"], betas["y"], betas["z"]], xyz)
    full = single_trial_betas(runs, events, t_r=T_R, mask=False, noise_model="ar1")
    flat = np.ravel_multi_index(ijk.T, SHAPE)
    np.testing.assert_allclose(betas.values, full.values[..., flat], rtol=1e-6, equal_nan=True)


def test_lss_condition_others_and_trial_type_column(simulated, tmp_path):
    runs, events, planted, ids = simulated
    tables = []
    for k, e in enumerate(events):
        t = pd.read_csv(e, sep="\t").drop(columns="trial_type").rename(columns={"stimulus_id": "trial_type"})
        tables.append(t)
    betas = single_trial_betas(runs, tables, t_r=T_R, lss_others="condition", mask=False)
    truth = stack_repeats(planted, ids)
    ok = ~np.isnan(truth.values)
    assert np.corrcoef(betas.values[ok], truth.values[ok])[0, 1] >= 0.9


def test_errors(simulated, tmp_path):
    runs, events, _, _ = simulated
    table = pd.read_csv(events[0], sep="\t")
    with pytest.raises(InputError, match="t_r: received 0.0"):
        single_trial_betas(runs[0], table, t_r=0)
    with pytest.raises(InputError, match="2 events tables for 1 bold runs"):
        single_trial_betas(runs[0], events, t_r=T_R)
    img3d = nib.Nifti1Image(np.ones(SHAPE, dtype=np.float32), AFFINE)
    with pytest.raises(ShapeError, match=r"shape \(4, 4, 3\); expected 4-D"):
        single_trial_betas(img3d, table, t_r=T_R)
    late = table.copy()
    late.loc[3, "onset"] = N_SCANS * T_R + 5
    with pytest.raises(InputError, match=r"events outside the run .*onset=200 s.*<= 195 s"):
        single_trial_betas(runs[0], late, t_r=T_R, mask=False)
    nan_tsv = tmp_path / "nan_events.tsv"
    bad = table.copy().astype({"onset": object})
    bad.loc[2, "onset"] = "n/a"
    bad.to_csv(nan_tsv, sep="\t", index=False)
    with pytest.raises(InputError, match=r"NaN/non-numeric onset values \(rows \[2\]\)"):
        single_trial_betas(runs[0], nan_tsv, t_r=T_R)
    with pytest.raises(InputError, match=r"found columns \['onset', 'duration', 'condition'\]"):
        single_trial_betas(runs[0], table[["onset", "duration"]].assign(condition="x"), t_r=T_R)
    with pytest.raises(InputError, match="method: received 'lsx'"):
        single_trial_betas(runs[0], table, t_r=T_R, method="lsx")
    with pytest.raises(FileNotFoundError, match="missing_bold.nii.gz does not exist"):
        single_trial_betas(tmp_path / "missing_bold.nii.gz", table, t_r=T_R)
    many = pd.DataFrame({"onset": np.arange(0, 190, 1.5), "duration": 0.5,
                         "stimulus_id": [f"x{i}" for i in range(127)]})
    with pytest.raises(InputError, match="rank deficient"):
        single_trial_betas(runs[0], many, t_r=T_R, method="lsa", mask=False)


def test_automatic_epi_mask_keeps_only_brain_voxels():
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 1, size=(16, 16, 10, 60)).astype(np.float32)
    data[4:12, 4:12, 2:8] += 100 + rng.normal(size=(8, 8, 6, 60)).astype(np.float32)
    events = pd.DataFrame({"onset": [10.0, 25, 40], "duration": 1.0, "stimulus_id": ["a", "b", "a"]})
    betas = single_trial_betas(nib.Nifti1Image(data, np.eye(4)), events, t_r=1.0)
    assert 0 < betas.sizes["voxel"] <= 8 * 8 * 6
    for axis, (lo, hi) in zip("xyz", [(4, 11), (4, 11), (2, 7)]):
        assert betas[axis].min() >= lo and betas[axis].max() <= hi
    tiny = nib.Nifti1Image(data[3:6, 3:6, 1:4], np.eye(4))
    with pytest.raises(InputError, match="automatic EPI mask of the runs is empty"):
        single_trial_betas(tiny, events, t_r=1.0)
