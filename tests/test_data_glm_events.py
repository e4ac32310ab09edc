"""The events reader of single_trial_betas against the BIDS events.tsv rules and nilearn's event window.

BIDS (events files): ``onset`` may be negative (events before the first stored scan) and ``duration``
is ``n/a`` when unknown; nilearn's ``make_first_level_design_matrix`` models events from
``min_onset=-24`` s before the first frame time and drops earlier ones without an error.
"""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroperception.data import single_trial_betas
from neuroperception.errors import InputError

T_R, N_SCANS = 1.0, 80


@pytest.fixture
def bold():
    rng = np.random.default_rng(0)
    return nib.Nifti1Image(100 + rng.normal(size=(2, 2, 1, N_SCANS)).astype("float32"), np.eye(4))


def test_negative_onsets_are_valid_bids_down_to_nilearns_window(bold, tmp_path):
    events = pd.DataFrame({"onset": [-4.0, 20, 45, 60], "duration": 1.0, "stimulus_id": ["a", "b", "c", "a"]})
    path = tmp_path / "sub-01_task-x_run-1_events.tsv"
    events.to_csv(path, sep="\t", index=False)
    betas = single_trial_betas(bold, path, t_r=T_R, mask=False)
    assert betas["stimulus_id"].values.tolist() == ["a", "b", "c"] and betas.sizes["repeat"] == 2
    assert np.isfinite(betas.values[0]).all()  # the trial at -4 s has its own beta
    early = events.assign(onset=[-30.0, 20, 45, 60])
    with pytest.raises(InputError, match=r"onset=-30 s.*expected -24 <= onset \(nilearn drops earlier events\)"):
        single_trial_betas(bold, early, t_r=T_R, mask=False)
    # the window follows the first frame time: with slice_time_ref=0.5, frames start at 0.5 s
    with pytest.raises(InputError, match=r"expected -23.5 <= onset"):
        single_trial_betas(bold, events.assign(onset=[-23.9, 20, 45, 60]), t_r=T_R, slice_time_ref=0.5,
                           mask=False)
    with pytest.raises(InputError, match=r"slice_time_ref: received 2; expected a fraction of t_r in \[0, 1\]"):
        single_trial_betas(bold, events, t_r=T_R, slice_time_ref=2, mask=False)


def test_na_duration_is_a_clear_error(bold, tmp_path):
    path = tmp_path / "events.tsv"
    path.write_text("onset\tduration\ttrial_type\n10\tn/a\tface\n30\t1\thouse\n")  # BIDS 'n/a' for unknown
    with pytest.raises(InputError, match=r"1 NaN/non-numeric duration values \(rows \[0\]\)"):
        single_trial_betas(bold, path, t_r=T_R, mask=False)
