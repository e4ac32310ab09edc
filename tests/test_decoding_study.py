"""The decoding study on the world brain: its quick mode writes its tables and figures, and the full run
reproduces (or not) the directions it reports, asserted with across-seed intervals."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroperception.world import CATEGORIES, render_scenes

PATH = Path(__file__).resolve().parent.parent / "analyses" / "decoding_study.py"
FILES = ("retrieval.csv", "retrieval_summary.csv", "ablation.csv", "ablation_summary.csv", "ranking.csv",
         "retrieval_vs_snr.png", "ablation.png")


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("decoding_study", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_helpers(study):
    scenes = render_scenes(12, random_state=0)
    hot = study.presence(scenes, "category", CATEGORIES, scenes.ids)
    assert hot.shape == (12, len(CATEGORIES)) and list(hot["feature"].values) == list(CATEGORIES)
    for sid in scenes.ids:
        held = set(scenes.objects.loc[scenes.objects["stimulus_id"] == sid, "category"])
        row = hot.sel(stimulus=hot["stimulus_id"] == sid).values[0]
        assert {c for c, v in zip(CATEGORIES, row) if v} == held
    assert study.mean_auc(hot.values, hot.values) == 1.0
    assert study.mean_auc(-hot.values, hot.values) == 0.0
    mean, lo, hi = study.interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo == pytest.approx(2 - 4.303 / np.sqrt(3), abs=1e-3) and hi == pytest.approx(4 - lo)


def test_quick_run_writes_its_tables_and_figures(study, tmp_path):
    tables = study.run(tmp_path, quick=True)
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0, name
    summary = pd.read_csv(tmp_path / "retrieval_summary.csv")
    assert set(summary["metric"]) == set(study.RETRIEVAL) and (summary["n_seeds"] == 3).all()
    ranking = tables["ranking"].set_index("target")
    assert set(ranking.index) == {"image embedding", "category presence", "colour presence"}
    ablation = tables["ablation"]
    assert set(ablation["condition"]) == {"all", "only", "without"}
    assert len(ablation) == 3 * 3 * (1 + 2 * len(study.ROIS))  # seeds x targets x conditions (one SNR)


@pytest.mark.slow  # the full run: 5 seeds x 2 SNRs, about two minutes single-threaded
def test_full_run_directions_with_across_seed_intervals(study, tmp_path):
    tables = study.run(tmp_path)
    summary = tables["retrieval_summary"].set_index(["snr", "metric"])
    for snr in (0.25, 1.0):
        for metric in study.RETRIEVAL:
            row = summary.loc[(snr, metric)]
            assert row["n_seeds"] == 5
            assert row["ci_low"] > row["chance"], (snr, metric, row.round(3).to_dict())
        # a wide margin: the interval's lower bound is many times chance for image retrieval
        assert summary.loc[(snr, "image top-1"), "ci_low"] > 10 * summary.loc[(snr, "image top-1"), "chance"]
    ranking = tables["ranking"].set_index(["snr", "target"])
    for snr in (0.25, 1.0):
        # category presence: LO and IT alone beat V1 and V4 alone, intervals separated
        assert bool(ranking.loc[(snr, "category presence"), "holds"]), ranking.round(3).to_string()
        assert ranking.loc[(snr, "category presence"), "diff ci_low"] > 0
        # colour presence, the low-level attribute: V1 and V4 alone beat LO and IT alone, intervals separated
        assert bool(ranking.loc[(snr, "colour presence"), "holds"]), ranking.round(3).to_string()
        assert ranking.loc[(snr, "colour presence"), "diff ci_low"] > 0
        assert ranking.loc[(snr, "colour presence"), "ranking (only this ROI)"].split(" > ")[2:] in (
            ["LO", "IT"], ["IT", "LO"])
