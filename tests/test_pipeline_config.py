"""The pipeline's config: every key checked in one place, defaults, relative paths, digest, TOML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroperception.errors import InputError
from neuroperception.pipeline import config_digest, dump_config, load_config
from neuroperception.pipeline.config import DEFAULTS


def _minimal(**sections) -> dict:
    config = {"features": {"model": "gabor", "layers": ["scale1"]}, "responses": {"simulated": {}}}
    for name, table in sections.items():
        config[name] = {**config.get(name, {}), **table}
    return config


def test_defaults_are_filled_and_relative_paths_follow_the_config_file(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "r.nc").write_bytes(b"")
    path = tmp_path / "c.toml"
    path.write_text('[images]\nfolder = "imgs"\nsize = 48\n[features]\nmodel = "gabor"\nlayers = "scale1"\n'
                    '[responses]\nfiles = {subj01 = "r.nc"}\n[run]\nout = "results"\n')
    c = load_config(path)
    assert c["images"]["source"] == "folder" and c["images"]["folder"] == str(tmp_path / "imgs")
    assert c["features"]["layers"] == ["scale1"] and c["features"]["pooling"] == "avg"
    assert c["features"]["store"] == str(tmp_path / "results" / "features.zarr")
    assert c["responses"]["files"] == {"subj01": {"reader": "responses", "path": str(tmp_path / "r.nc")}}
    assert c["run"] == {"out": str(tmp_path / "results"), "scheduler": None, "figures": True}
    assert set(c) == set(DEFAULTS)
    assert load_config(_minimal())["responses"]["simulated"]["driven_by"] == "scenes"
    assert load_config(_minimal(images={"source": "samples"}))["responses"]["simulated"]["driven_by"] == "features"


@pytest.mark.parametrize("config, match", [
    ({"features": {"model": "gabor", "layers": ["scale1"]}}, r"responses: missing section"),
    (_minimal(extra={}), r"extra: unknown section"),
    (_minimal(images={"sise": 32}), r"images.sise: unknown key \(received 32\); expected one of"),
    (_minimal(images={"source": "web"}), r"images.source: received 'web'; expected one of \['world', 'samples'"),
    (_minimal(images={"source": "folder"}), r"images.folder: received None; expected a folder"),
    (_minimal(images={"folder": "/no/such/folder"}), r"images.folder: received '/no/such/folder'; expected an existing"),
    (_minimal(images={"n": 3}), r"images.n: received 3; expected an integer >= 6"),
    (_minimal(features={"layers": []}), r"features.layers: received \[\]; expected a non-empty list"),
    (_minimal(features={"pooling": 3}), r"features.pooling: received 3; expected a pooling string"),
    (_minimal(features={"reduce": "pca"}), r"features.reduce: received 'pca'; expected 'pca:K' or 'srp:D'"),
    (_minimal(features={"fit_on": 10}), r"features.fit_on: received 10; expected no fit_on without features.reduce"),
    ({"features": {"layers": ["a"]}, "responses": {"simulated": {}}}, r"features: .*expected a 'model'"),
    (_minimal(responses={"files": {"s": "x.nc"}}), r"responses: .*expected exactly one of 'simulated'"),
    (_minimal(responses={"simulated": {"snr": 0}}), r"responses.simulated.snr: received 0; expected a number > 0"),
    (_minimal(responses={"simulated": {"shared": 0.5}}), r"responses.simulated.shared: .*simulate_subjects"),
    (_minimal(images={"source": "samples"}, responses={"simulated": {"driven_by": "scenes"}}),
     r"responses.simulated.driven_by: received 'scenes'"),
    (_minimal(encoding={"test": 1.5}), r"encoding.test: received 1.5; expected a fraction in \(0, 1\)"),
    (_minimal(encoding={"test": ["a"]}), r"encoding.test: received \['a'\]; expected .* at least 2 stimulus ids"),
    (_minimal(encoding={"alphas": [1.0, -1.0]}), r"encoding.alphas: received -1.0; expected a number > 0"),
    (_minimal(encoding={"per_layer": "yes"}), r"encoding.per_layer: received 'yes'; expected true"),
    (_minimal(run={"scheduler": "cluster"}), r"run.scheduler: received 'cluster'; expected no key .*'local'"),
    (_minimal(run={"figures": 1}), r"run.figures: received 1; expected true"),
    ("/no/such/config.toml", r"config: received '/no/such/config.toml'; expected an existing TOML file"),
    (3, r"config: received 'int'; expected a path to a TOML file or a dict"),
])
def test_every_error_names_the_key_what_was_received_and_what_is_expected(config, match):
    with pytest.raises(InputError, match=match):
        load_config(config)


def test_digest_follows_what_decides_the_results():
    base = load_config(_minimal())
    same = load_config(_minimal(run={"out": "elsewhere", "scheduler": "local", "figures": False},
                                features={"store": "other.zarr"}))
    assert config_digest(same) == config_digest(base)
    for change in ({"features": {"pooling": "max"}}, {"encoding": {"cv": 3}}, {"images": {"n": 50}},
                   {"responses": {"simulated": {"snr": 2.0}}}):
        assert config_digest(load_config(_minimal(**change))) != config_digest(base), change


def test_the_written_config_reads_back_equal(tmp_path):
    c = load_config(_minimal(features={"pooling": {"scale1": "avg:2"}, "options": {"input_size": 32},
                                       "reduce": "pca:4", "fit_on": 20},
                             encoding={"alphas": [1.0, 100.0], "test": ["world00000", "world00001"]},
                             responses={"simulated": {"rois": ["V1", "IT"], "snr": 1}}))
    path = tmp_path / "config.toml"
    path.write_text(dump_config(c))
    again = load_config(path)
    assert again == c and config_digest(again) == config_digest(c)
    assert Path(again["run"]["out"]).is_absolute()
