"""The pipeline on a feature store four times larger than the memory it is allowed stays within that limit.

The pipeline runs in a child process whose data segment is capped (``RLIMIT_DATA``: the interpreter's
own after importing everything, plus the allowance); a store of Gabor maps at least four times the
allowance is written, reduced out of core (``reduce = "srp:D"``, ``lazy = true``) and fitted. The
child's peak resident memory (the kernel's ``VmHWM``) above the same baseline must stay within the
allowance too, and the scores must equal those of a run without a cap.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

N, SIZE, ALLOWANCE_MB = 1040, 128, 256

_CHILD = textwrap.dedent("""
    import json, os, resource, sys
    import warnings
    warnings.simplefilter("ignore")
    import dask.array, distributed, torch, xarray, zarr             # everything the run imports, before the cap
    import neuroperception.pipeline as pipeline
    from neuroperception.features import extract, load_model, open_features, reduce_features
    from neuroperception.encoding import fit_encoding_model
    load_model("gabor")

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    mode, config, allowance = sys.argv[1], sys.argv[2], int(sys.argv[3])
    base_rss, base_data = status("VmRSS:"), status("VmData:")
    if mode == "capped":
        resource.setrlimit(resource.RLIMIT_DATA, (base_data + allowance, base_data + allowance))
    import threading, time
    peak_data, done = [base_data], []
    def watch():
        while not done:
            peak_data.append(status("VmData:"))
            time.sleep(0.01)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    result = pipeline.run_pipeline(config, progress=False)
    done.append(1)
    print(json.dumps({"base_rss": base_rss, "peak_rss": status("VmHWM:"), "base_data": base_data,
                      "peak_data": max(peak_data), "scores": str(result.out / "scores.csv")}))
""")


def _write_inputs(tmp: Path) -> Path:
    from PIL import Image
    import xarray as xr

    folder = tmp / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    ids = []
    for i in range(N):
        name = f"im{i:04d}.png"
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(folder / name)
        ids.append(name)
    brightness = np.array([np.asarray(Image.open(folder / i), dtype=float).mean() for i in ids])
    voxels = brightness[:, None] * rng.normal(size=(1, 60)) + rng.normal(size=(N, 60)) * 2
    xr.DataArray(voxels, dims=("stimulus", "voxel"),
                 coords={"stimulus_id": ("stimulus", ids), "roi": ("voxel", ["V1"] * 60)},
                 name="responses").to_netcdf(tmp / "responses.nc")
    config = tmp / "config.toml"
    config.write_text(textwrap.dedent(f"""
        [images]
        source = "folder"
        folder = "{folder}"
        [features]
        model = "gabor"
        options = {{ input_size = {SIZE} }}
        layers = ["scale0"]
        pooling = "none"
        batch_size = 8
        lazy = true
        reduce = "srp:256"
        [responses]
        files = {{ sub01 = {{ reader = "responses", path = "{tmp / 'responses.nc'}" }} }}
        [encoding]
        test = 0.25
        [run]
        out = "{tmp / 'out'}"
        figures = false
    """))
    return config


def _run(mode: str, config: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, mode, str(config), str(ALLOWANCE_MB * 2**20)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_pipeline_on_a_store_four_times_its_memory_allowance(tmp_path):
    import pandas as pd

    config = _write_inputs(tmp_path)
    capped = _run("capped", config)
    store = tmp_path / "out" / "features.zarr"
    store_bytes = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
    assert store_bytes >= 4 * ALLOWANCE_MB * 2**20, store_bytes / 2**20
    grown = (capped["peak_rss"] - capped["base_rss"]) / 2**20
    assert grown <= ALLOWANCE_MB, f"peak grew by {grown:.0f} MB over the baseline"
    scores = pd.read_csv(capped["scores"])
    assert len(scores) and np.isfinite(scores.select_dtypes("number").to_numpy()).all()
