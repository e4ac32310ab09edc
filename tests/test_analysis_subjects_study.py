"""analyses/subjects_study.py: its summary on a planted table, and the quick run's key results."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def analysis():
    spec = importlib.util.spec_from_file_location("subjects_study", ROOT / "analyses" / "subjects_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_gives_means_intervals_and_paired_gaps(analysis):
    runs = pd.DataFrame([{"seed": s, "fraction": 0.1, "n_stimuli": 60, "method": m, "top-1": v + 0.01 * s,
                          "top-5": 1.0, "chance-1": 0.01}
                         for s in range(4) for m, v in (("from scratch", 0.5), ("adapted (features)", 0.8))])
    summary = analysis.summarise(runs).set_index("method")
    assert summary.loc["adapted (features)", "top-1"] == pytest.approx(0.815)
    assert summary.loc["adapted (features)", "gap to scratch"] == pytest.approx(0.3)
    # the gap is the same on every seed: a zero-width interval, while the levels vary
    assert summary.loc["adapted (features)", "gap low"] == pytest.approx(0.3)
    assert summary.loc["from scratch", "top-1 low"] < 0.515 < summary.loc["from scratch", "top-1 high"]


@pytest.mark.slow  # the quick run: 3 seeds x 3 fractions, 40 cross-subject predictions, 3 x 3 decoding matrices, ~60 s
def test_quick_run_adapting_beats_scratch_and_other_subjects_predict_the_signal(analysis, tmp_path):
    tables = analysis.run(tmp_path, quick=True)
    for name in ("adaptation.csv", "adaptation_summary.csv", "cross_subject.csv", "adaptation_curve.png",
                 "cross_subject.png", "cross_subject_map.png", "cross_decoding.csv", "cross_decoding_summary.csv",
                 "cross_decoding.png"):
        assert (tmp_path / name).stat().st_size > 0
    summary = tables["adaptation_summary"].set_index(["fraction", "method"])
    gain = summary.loc[(0.1, "adapted (features)")]
    assert gain["gap low"] > 0  # paired over seeds, the adapted decoder wins at 10 %
    assert summary.loc[(0.5, "adapted (features)"), "gap to scratch"] < gain["gap to scratch"]
    cross = tables["cross_subject"]
    assert len(cross) == 2 * 5 * 4
    assert (cross["median r (planted signal)"] > cross["median r (measured)"]).all()
    assert cross[cross.model == "srm"]["median r (planted signal)"].min() > 0.8
    assert np.isfinite(cross[["median r (measured)", "median r (planted signal)"]].values).all()
    decoding = tables["cross_decoding_summary"].set_index("alignment")
    assert set(decoding.index) == {"ridge", "procrustes", "srm"} and (decoding["n_seeds"] == 3).all()
    # every alignment carries the decoders over far above chance (0.01), by the lower end of the interval
    assert (decoding["across low"] > 30 * decoding["chance"]).all()
    # the full run's directions: Procrustes and SRM lose a little against within-subject decoding, ridge does not
    assert decoding.loc["procrustes", "across - within high"] < 0
    assert decoding.loc["ridge", "across - within low"] > decoding.loc["procrustes", "across - within high"]
