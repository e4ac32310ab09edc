"""The NevaClip study on world scenes: its quick mode writes its tables and figure, and the full run
reproduces (or not) the directions its docstring reports, asserted with bootstrap intervals over images."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PATH = Path(__file__).resolve().parent.parent / "analyses" / "nevaclip_study.py"
FILES = ("scores.csv", "differences.csv", "nevaclip.png")


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("nevaclip_study", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_helpers(study):
    mean, lo, hi = study.bootstrap(np.ones(10))
    assert mean == lo == hi == 1.0
    mean, lo, hi = study.bootstrap(np.arange(20.0))
    assert lo < mean == 9.5 < hi
    near = np.zeros((10, 10), bool)
    near[:5] = True
    path = np.array([[2.0, 2.0], [7.0, 2.0], [7.0, 4.0]])
    observers = [path]
    s = study.score_path(path, observers, near)
    assert s["on_target"] == 1.0 and s["sequence_score"] == 1.0 and s["multimatch"] == pytest.approx(1.0)
    assert study.score_path(path + [0, 5], observers, near)["on_target"] == 0.0


def test_quick_run_writes_its_tables_and_figure(study, tmp_path):
    result = study.run(tmp_path, quick=True)
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert set(scores["source"]) == set(study.SOURCES)
    assert scores.groupby("source").size().nunique() == 1
    d = result["differences"]
    assert len(d) == (len(study.METRICS) + len(study.DIMENSIONS)) * len(study.CONTRASTS)
    assert (d["low"] <= d["mean"]).all() and (d["mean"] <= d["high"]).all()
    assert scores["on_target"].between(0, 1).all()


@pytest.mark.slow
def test_full_run_directions(study, tmp_path):
    d = study.run(tmp_path)["differences"].set_index(["metric", "contrast"])
    holds = d["low"] > 0
    # what the full run finds (see the module docstring): these intervals lie above zero
    for key in study.HOLDS:
        assert holds[key], (key, d.loc[key].to_dict())
    # and these do not (the interval includes zero or lies below it)
    for key in study.DOES_NOT_HOLD:
        assert not holds[key], (key, d.loc[key].to_dict())
