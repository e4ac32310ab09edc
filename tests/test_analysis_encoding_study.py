"""The encoding study: planted layers, bands and receptive fields recovered on the simulated brain."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neuroperception.data import simulate_brain
from neuroperception.encoding import BandedRidgeCV, RidgeCV, fit_encoding_model

PATH = Path(__file__).resolve().parent.parent / "analyses" / "encoding_study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("encoding_study", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tables_recover_independent_planted_layers(study):
    # three independent random feature spaces under the planted names: each ROI's layer must win
    rng = np.random.default_rng(1)
    ids = xr.DataArray([f"s{i:03d}" for i in range(150)], dims="stimulus")
    layers = {name: xr.DataArray(rng.standard_normal((150, 12)), dims=("stimulus", "feature"),
                                 coords={"stimulus_id": ids}) for name in study.PLANTED.values()}
    brain = simulate_brain(layers, n_voxels=30, snr=2.0, n_repeats=3, random_state=0)
    test = [f"s{i:03d}" for i in range(0, 150, 4)]
    per_layer = fit_encoding_model(layers, brain.responses, model=RidgeCV(), per_layer=True, test=test)
    best, voxels = study.best_layer_tables(per_layer, brain)
    best = best.set_index("roi")
    for roi, layer in study.PLANTED.items():
        assert best.loc[roi, "planted layer"] == layer
        assert best.loc[roi, "best_layer"] == layer
        assert best.loc[roi, "voxels whose best layer is planted"] == 1.0
    assert bool(best.loc[["V1", "V4", "IT"], "planted layer is best"].all())
    assert not best.loc["all", "planted layer is best"]  # no single planted layer for all voxels
    assert best.loc["all", "noise ceiling |estimated - true|"] < 0.1
    assert len(voxels) == 30 and (voxels["best layer"] == voxels["planted layer"]).all()

    concat = fit_encoding_model(layers, brain.responses, model=RidgeCV(), test=test)
    banded = fit_encoding_model(layers, brain.responses, model=BandedRidgeCV(n_iter=6, n_refine=0), test=test)
    table = study.banded_table(concat, banded, brain).set_index("roi")
    assert list(table.index) == ["all", "V1", "V4", "IT"]
    assert (table["largest share is planted band"] == 1.0).all()
    for roi, layer in study.PLANTED.items():
        shares = table.loc[roi, [f"share {b}" for b in layers]].astype(float)
        assert shares.idxmax() == f"share {layer}" and shares.max() > 0.8
        assert shares.sum() == pytest.approx(1.0)
    assert table.loc["all", "banded ridge"] >= table.loc["all", "ridge (concatenated)"] - 0.02


@pytest.mark.slow  # ~20 s on an idle 2-core machine, minutes under load
def test_quick_run_recovers_the_planted_truth(study, tmp_path):
    tables = study.run(tmp_path, quick=True)
    best = tables["best_layer"].set_index("roi")
    for roi, layer in study.PLANTED.items():
        assert best.loc[roi, "best_layer"] == layer, best.round(3).to_string()
    assert best.loc[["V1", "V4", "IT"], "noise ceiling |estimated - true|"].max() < 0.05
    banded = tables["banded"].set_index("roi")
    assert (banded.loc[["V1", "V4", "IT"], "largest share is planted band"] > 0.75).all()
    assert (banded["banded ridge"] >= banded["ridge (concatenated)"]).all()
    readouts = tables["readouts"].set_index("model")
    pooled = readouts.loc["ridge on 4x4-pooled maps", "V1 median nc_normalized"]
    assert readouts.loc["factorised readout", "V1 median nc_normalized"] > pooled + 0.1
    assert readouts.loc["factorised readout", "centres within 1 cell"] > 0.5
    for name in ("best_layer.csv", "best_layer_voxels.csv", "banded.csv", "readouts.csv", "best_layer_rois.png",
                 "brain_map.png", "noise_ceiling.png", "banded_shares.png", "banded_vs_ridge.png",
                 "receptive_fields.png"):
        assert (tmp_path / name).stat().st_size > 0, name
