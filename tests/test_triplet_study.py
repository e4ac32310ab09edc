"""The triplet study on the miniature world: its quick mode writes its tables and figures, and the full run
reproduces (or not) the directions it reports, asserted with bootstrap and across-seed intervals."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroperception.world import render_scenes

PATH = Path(__file__).resolve().parent.parent / "analyses" / "triplet_study.py"
FILES = ("grid.png", "examples.png", "choice_weights.png", "layer_sweep.png", "triplets.csv", "generation.csv",
         "recovery.csv", "recovery_summary.csv", "choice_model.csv", "sweep.csv", "sweep_summary.csv",
         "directions.csv", "experiment/index.html")


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("triplet_study", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_helpers(study):
    mean, lo, hi = study.interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo == pytest.approx(2 - 4.303 / np.sqrt(3), abs=1e-3) and hi == pytest.approx(4 - lo)
    import xarray as xr
    x = xr.DataArray(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.1], [3.0, 2.0, 1.0]]), dims=("stimulus", "feature"),
                     coords={"stimulus_id": ("stimulus", ["r", "a", "b"])})
    t = pd.DataFrame({"ref": ["r", "r"], "option_a": ["a", "b"], "option_b": ["b", "a"]})
    d = study.layer_deltas(t, x)
    assert d[0] < 0 and d[1] == pytest.approx(-d[0])  # A closer (correlation distance): negative delta
    # a choice fully driven by one delta is predicted from it, held out
    rng = np.random.default_rng(0)
    delta = rng.normal(size=200)
    answers = pd.DataFrame({"triplet": np.tile(np.arange(200), 3), "chose_a": np.tile((delta < 0).astype(float), 3)})
    assert study.held_out_scores(delta, answers, np.arange(200), 0)["accuracy"] > 0.97
    assert study.held_out_scores(rng.normal(size=200), answers, np.arange(200), 0)["accuracy"] < 0.65
    # the generated triplets gain the attribute distances simulate_judgements reads
    pool = render_scenes(9, n_objects=1, random_state=0)
    ids = list(pool.ids)
    table = pd.DataFrame({"triplet": [0, 1, 2], "ref": ids[0:3], "option_a": ids[3:6], "option_b": ids[6:9]})
    full = study.with_attributes(table, pool)
    shape = pool.objects.set_index("stimulus_id")["category"]
    expected = (shape[table["ref"]].to_numpy() != shape[table["option_a"]].to_numpy()).astype(float)
    np.testing.assert_array_equal(full["d_shape_a"], expected)
    assert {"d_colour_ab", "delta_colour", "d_size_b", "delta_texture"} <= set(full.columns)


def test_quick_run_writes_its_tables_and_figures(study, tmp_path):
    tables = study.run(tmp_path, quick=True)
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0, name
    gen = tables["generation"]
    assert len(gen) == 3 and (gen["abs_r"] <= study.MAX_R).all(), gen
    rec = tables["recovery_summary"]
    assert set(rec["observer"]) == set(study.OBSERVERS) and len(rec) == 3 * len(study.OBSERVERS)
    sweep = tables["sweep_summary"]
    assert set(sweep["layer"]) == {*study.LAYERS, "planted (ceiling)"} and (sweep["n_seeds"] == 3).all()
    assert len(pd.read_csv(tmp_path / "sweep.csv")) == 3 * len(study.OBSERVERS) * (len(study.LAYERS) + 1)
    assert set(pd.read_csv(tmp_path / "choice_model.csv")["term"]) == {"intercept", "low", "high", "high_share"}


@pytest.mark.slow  # the full run: 5 seeds of 600 scenes, about three minutes single-threaded
def test_full_run_directions_with_intervals(study, tmp_path):
    tables = study.run(tmp_path)
    gen = tables["generation"]
    # 1. the generator de-correlates the two levels: |r| <= 0.05 in every seed
    assert len(gen) == 5 and (gen["abs_r"] <= study.MAX_R).all(), gen.round(3).to_string()
    assert (gen["congruent"] == gen["incongruent"]).all()
    # 2. the planted share of shape lies inside its bootstrap 95 % interval, per observer group and seed,
    # on the attribute triplets and on the generated triplets (observers planted on the two levels)
    rec = tables["recovery"]
    planted = rec[rec["planted_high_share"].notna()]
    assert len(planted) == 5 * 3 * 2 and planted["inside"].all(), planted.round(3).to_string()
    # 3. the layer sweep, paired differences over seeds (t 95 % interval above 0)
    d = tables["directions"].set_index(["claim", "metric"])
    for claim in ("early beats late: conv1 > pool", "late beats early: pool > conv1"):
        for metric in ("accuracy", "log_likelihood"):
            assert d.loc[(claim, metric), "ci_low"] > 0, (claim, metric, d.loc[(claim, metric)].to_dict())
    sweep = tables["sweep_summary"].set_index(["observer", "layer"])
    # shape-driven observers: each late layer (conv4, pool, fc) beats each early one (conv1, conv2), intervals apart
    late = min(sweep.loc[("shape-driven", layer), "accuracy_ci_low"] for layer in ("conv4", "pool", "fc"))
    early = max(sweep.loc[("shape-driven", layer), "accuracy_ci_high"] for layer in ("conv1", "conv2"))
    assert late > early
    # what does not reproduce, kept as found: for colour-driven observers the best predictor is world:clip's
    # embedding, not an early world:cnn layer, and conv1 stays far below the planted model
    assert d.loc[("world:clip's embedding beats conv1", "accuracy"), "ci_low"] > 0
    assert sweep.loc[("colour-driven", "conv1"), "accuracy_ci_high"] < sweep.loc[
        ("colour-driven", "planted (ceiling)"), "accuracy_ci_low"] - 0.1
    # ... and on the generated triplets no triplet contrasts shape, so the attribute observers' share of pool
    # does not separate shape-driven from colour-driven observers
    assert (gen["shape_contrast"] < 0.05).all(), gen.round(3).to_string()
    claim = [c for c in d.index.get_level_values(0) if c.startswith("fitted pool share")][0]
    assert not d.loc[(claim, "high_share"), "holds"]
