"""``neuroperception encode``: the pipeline equals the library calls it is made of, resumes, and fails clearly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neuroperception.cli import main
from neuroperception.data import save_responses, simulate_brain
from neuroperception.encoding import EncodingResult, RidgeCV, fit_encoding_model
from neuroperception.errors import InputError, StoreMismatchError
from neuroperception.features import extract, load_model, open_features, reduce_features
from neuroperception.pipeline import dump_config, load_config, run_pipeline
from neuroperception.world import render_scenes

LAYERS = ["scale1", "scale2"]


def _config(out, **sections) -> dict:
    config = {"images": {"n": 24, "size": 32, "random_state": 1},
              "features": {"model": "gabor", "options": {"input_size": 32}, "layers": LAYERS, "batch_size": 8},
              "responses": {"simulated": {"n_voxels": 16, "random_state": 3}},
              "encoding": {"alphas": [0.1, 10.0, 1000.0], "cv": 3, "test": 0.25},
              "run": {"out": str(out)}}
    for name, table in sections.items():
        config[name] = {**config.get(name, {}), **table}
    return config


def _files(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline") / "out"
    config = _config(out)
    return config, run_pipeline(config, progress=False)


def test_pipeline_equals_the_library_calls_it_is_made_of(run, tmp_path):
    config, result = run
    scenes = render_scenes(24, size=32, random_state=1)
    feats = extract(load_model("gabor", input_size=32), scenes.images, LAYERS, batch_size=8,
                    store=tmp_path / "f.zarr", progress=False)
    brain = simulate_brain(scenes, n_voxels=16, random_state=3)
    expected = fit_encoding_model(feats, brain.responses, model=RidgeCV(alphas=[0.1, 10.0, 1000.0], cv=3), test=0.25,
                                  per_layer=True, random_state=0, progress=False)
    got = result.results["subj01"]
    for metric in ("r", "r2", "nc_normalized", "alpha"):
        np.testing.assert_allclose(got[metric].values, expected[metric].values, rtol=1e-6, atol=1e-9)
    table = expected.roi_summary("r")
    scores = result.scores.set_index(["layer", "roi"])
    for layer in LAYERS:
        np.testing.assert_allclose(scores.loc[layer]["r"].loc[table.index].values, table[layer].values, rtol=1e-6)
    # the outputs: results, scores, figures, the config as run and the versions
    out = result.out
    on_disk = EncodingResult.from_netcdf(out / "subjects" / "subj01" / "result.nc")
    np.testing.assert_allclose(on_disk["r"].values, got["r"].values)
    assert on_disk.dataset.attrs["config_digest"] == result.digest
    pd.testing.assert_frame_equal(pd.read_csv(out / "scores.csv"), result.scores, check_dtype=False)
    assert {"brain_map.png", "rois.png", "result.nc"} <= {p.name for p in (out / "subjects" / "subj01").iterdir()}
    assert load_config(out / "config.toml") == result.config
    versions = json.loads((out / "versions.json").read_text())
    assert versions["config_digest"] == result.digest and versions["numpy"] == np.__version__
    assert "torch" in versions and "dask" in versions


def test_a_second_run_skips_and_a_killed_run_finishes(run):
    import zarr

    config, first = run
    again = run_pipeline(config, progress=False)
    assert again.skipped == ["subj01"]
    # kill it mid-way: half the feature store and no fitted result
    (first.out / "subjects" / "subj01" / "result.nc").unlink()
    zarr.open_group(str(first.out / "features.zarr"), mode="r+")["progress"].attrs["n_done"] = 8
    finished = run_pipeline(config, progress=False)
    assert finished.skipped == []
    np.testing.assert_allclose(finished.results["subj01"]["r"].values, first.results["subj01"]["r"].values)
    assert zarr.open_group(str(first.out / "features.zarr"))["progress"].attrs["n_done"] == 24


def test_a_changed_config_for_written_outputs_is_an_error_and_nothing_is_lost(run):
    config, first = run
    before = _files(first.out)
    changed = _config(first.out, encoding={"cv": 4})
    with pytest.raises(InputError, match=r"run.out: .* another config \(encoding.cv was 3, now 4\).*new run.out"):
        run_pipeline(changed, progress=False)
    assert _files(first.out) == before


def test_responses_from_files_equal_the_simulated_ones(run, tmp_path):
    config, first = run
    brain = simulate_brain(render_scenes(24, size=32, random_state=1), n_voxels=16, random_state=3)
    path = save_responses(brain.responses, tmp_path / "subj01.nc")
    cfg = _config(tmp_path / "out", responses={"files": {"subj01": str(path)}},
                  features={"store": str(first.out / "features.zarr")}, run={"figures": False})
    cfg["responses"].pop("simulated")
    result = run_pipeline(cfg, progress=False)
    np.testing.assert_allclose(result.results["subj01"]["r"].values, first.results["subj01"]["r"].values)
    assert not (tmp_path / "out" / "subjects" / "subj01" / "rois.png").exists()   # figures = false


@pytest.mark.parametrize("change, error, match", [
    ({"features": {"model": "nosuch:model"}}, InputError, r"features.model: .*nosuch"),
    ({"features": {"layers": ["scale1", "scale9"]}}, InputError, r"features.layers: .*scale9"),
    ({"features": {"model": None, "store": "missing.zarr"}}, InputError, r"features.store: .*missing.zarr"),
    ({"responses": {"files": {"subj01": "missing.nc"}}}, InputError, r"responses.files.subj01.path: .*missing.nc"),
    ({"run": {"scheduler": "tcp://127.0.0.1:1"}}, InputError, r"run.scheduler: could not connect to 'tcp://127.0.0.1:1'"),
    ({"features": {"pooling": "max"}}, StoreMismatchError, r"pooling: store has .*'avg'.*'max'"),
])
def test_bad_input_is_a_clear_error_and_written_files_are_untouched(tmp_path, change, error, match):
    out = tmp_path / "out"
    store = out / "features.zarr"
    extract(load_model("gabor", input_size=32), render_scenes(24, size=32, random_state=1).images, LAYERS,
            batch_size=8, store=store, progress=False)
    before = _files(out)
    config = _config(out, **change)
    if "files" in config["responses"]:
        config["responses"].pop("simulated")
    if config["features"].get("model", "") is None:
        config["features"].pop("model")
    with pytest.raises(error, match=match):
        run_pipeline(config, progress=False)
    assert _files(out) == before


def test_cli_encode_exit_code_2_with_the_message(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[features]\nmodel = "gabor"\nlayers = ["scale1"]\nbatch_size = 0\n[responses]\nsimulated = {}\n')
    assert main(["encode", str(bad), "--no-progress"]) == 2
    assert "features.batch_size: received 0; expected an integer >= 1" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[features\n")
    assert main(["encode", str(broken)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err


def test_cli_encode_runs_a_config_file(run, tmp_path, capsys):
    config, first = run
    path = tmp_path / "encode.toml"
    cfg = load_config(config)
    cfg["run"]["out"] = str(first.out)
    path.write_text(dump_config(cfg))
    assert main(["encode", str(path), "--no-progress"]) == 0
    assert "1 subject(s) (1 read back); scores written to" in capsys.readouterr().out


def test_scheduler_local_equals_the_local_process(run, tmp_path):
    pytest.importorskip("distributed")
    config, first = run
    result = run_pipeline(_config(tmp_path / "a", run={"scheduler": "local", "figures": False}), progress=False)
    assert result.digest == first.digest
    for metric in ("r", "r2", "alpha"):
        np.testing.assert_allclose(result.results["subj01"][metric].values, first.results["subj01"][metric].values,
                                   rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_a_scheduler_address_equals_the_local_process(run, tmp_path):
    distributed = pytest.importorskip("distributed")
    config, first = run
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, protocol="tcp",
                                  dashboard_address=":0") as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        result = run_pipeline(_config(tmp_path / "b", run={"scheduler": address, "figures": False}), progress=False)
    assert result.digest == first.digest
    np.testing.assert_allclose(result.results["subj01"]["r"].values, first.results["subj01"]["r"].values,
                               rtol=1e-6, atol=1e-9)


def test_several_simulated_subjects_equal_simulate_subjects_and_one_fit_each(run, tmp_path):
    from neuroperception.data import select_stimuli, simulate_subjects
    from neuroperception.features import open_features

    config, first = run
    cfg = _config(tmp_path / "out", features={"store": str(first.out / "features.zarr")}, run={"figures": False},
                  responses={"simulated": {"n_subjects": 2, "n_voxels": 20, "random_state": 3}})
    result = run_pipeline(cfg, progress=False)
    assert list(result.results) == ["subj01", "subj02"] and set(result.scores["subject"]) == {"subj01", "subj02"}
    feats = open_features(first.out / "features.zarr")
    sim = simulate_subjects(feats, n_subjects=2, n_voxels=20, random_state=3)
    for name in ("subj01", "subj02"):
        responses = sim.subjects[name]
        ids = list(responses["stimulus_id"].values)
        expected = fit_encoding_model({k: select_stimuli(v, ids) for k, v in feats.items()}, responses,
                                      model=RidgeCV(alphas=[0.1, 10.0, 1000.0], cv=3), test=0.25, per_layer=True,
                                      random_state=0, progress=False)
        np.testing.assert_allclose(result.results[name]["r"].values, expected["r"].values, rtol=1e-6, atol=1e-9)


def test_reduced_features_equal_the_library_reduction(run, tmp_path):
    config, first = run
    cfg = _config(tmp_path / "out", features={"reduce": "pca:4", "fit_on": 16, "store": str(first.out / "features.zarr")},
                  run={"figures": False})
    result = run_pipeline(cfg, progress=False)
    feats = open_features(first.out / "features.zarr")
    reduced = {k: reduce_features(v, "pca:4", fit_on=16) for k, v in feats.items()}
    brain = simulate_brain(render_scenes(24, size=32, random_state=1), n_voxels=16, random_state=3)
    expected = fit_encoding_model(reduced, brain.responses, model=RidgeCV(alphas=[0.1, 10.0, 1000.0], cv=3), test=0.25,
                                  per_layer=True, random_state=0, progress=False)
    np.testing.assert_allclose(result.results["subj01"]["r"].values, expected["r"].values, rtol=1e-5, atol=1e-7)
    assert result.digest != first.digest


def test_a_lazy_store_gives_the_same_scores(run):
    config, first = run
    lazy = _config(first.out, features={"lazy": True}, run={"figures": False})
    (first.out / "subjects" / "subj01" / "result.nc").rename(first.out / "kept.nc")
    try:
        result = run_pipeline(lazy, progress=False)
    finally:
        (first.out / "kept.nc").replace(first.out / "subjects" / "subj01" / "result.nc")
    assert result.digest == first.digest
    np.testing.assert_allclose(result.results["subj01"]["r"].values, first.results["subj01"]["r"].values)


@pytest.mark.slow
def test_the_example_config_equals_the_library_calls_and_finds_the_layer_gradient(tmp_path, capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "analyses" / "encode_demo.toml"
    config = load_config(example)
    config["run"]["out"] = str(tmp_path / "out")
    config["features"]["store"] = str(tmp_path / "out" / "features.zarr")
    path = tmp_path / "encode_demo.toml"
    path.write_text(dump_config(config))
    assert main(["encode", str(path), "--no-progress"]) == 0
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")

    layers = ["conv1", "conv2", "conv3", "conv4", "pool"]
    scenes = render_scenes(160, size=64, random_state=2)
    feats = extract(load_model("world:cnn"), scenes.images, layers,
                    pooling={**{k: "avg:4" for k in layers[:4]}, "pool": "avg"}, progress=False)
    brain = simulate_brain(scenes, n_voxels=240, snr=1.0, n_repeats=3, random_state=0)
    expected = fit_encoding_model(feats, brain.responses, model=RidgeCV(cv=5), test=0.25, per_layer=True,
                                  random_state=0, progress=False).roi_summary()
    got = scores.pivot(index="roi", columns="layer", values="nc_normalized").loc[expected.index, layers]
    np.testing.assert_allclose(got.values, expected[layers].astype(float).values, rtol=1e-5, atol=1e-8)
    assert (got.loc[["V1", "V4"], "conv1"] > got.loc[["V1", "V4"], "pool"] + 0.2).all()
    assert (got.loc[["LO", "IT"], "pool"] > got.loc[["LO", "IT"], "conv1"] + 0.5).all()
