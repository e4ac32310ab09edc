"""Streaming to zarr: resume after a real kill, identical results, refusal of mismatched stores."""

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from neuroperception.errors import InputError, StoreMismatchError
from neuroperception.features import extract, load_model, open_features
from neuroperception.stimuli import ImageSet

N = 40


def _write_images(folder: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    folder.mkdir()
    for i in range(N):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"im{i:03d}.png")


def _n_done(store: Path) -> int:
    meta = store / "progress" / "zarr.json"
    if not meta.exists():
        return 0
    try:
        return int(json.loads(meta.read_text())["attributes"].get("n_done", 0))
    except (ValueError, KeyError):
        return 0


CHILD = textwrap.dedent("""
    import sys, time
    from neuroperception.features import extract, load_model
    from neuroperception.stimuli import ImageSet
    model = load_model("torchvision:squeezenet1_1", random_state=0)
    # slow every forward pass down so the parent can kill the run in the middle
    model.module.register_forward_pre_hook(lambda m, i: time.sleep(0.4))
    extract(model, ImageSet.from_folder(sys.argv[1]), ["features.3", "classifier.1"], pooling="avg",
            batch_size=4, store=sys.argv[2])
""")


def test_killed_run_resumes_to_identical_result(tmp_path):
    images_dir, store, ref_store = tmp_path / "imgs", tmp_path / "run.zarr", tmp_path / "ref.zarr"
    _write_images(images_dir)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(images_dir), str(store)])
    try:
        deadline = time.time() + 240
        while _n_done(store) < 8 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the extraction finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = _n_done(store)
    assert 8 <= done < N and done % 4 == 0  # killed mid-run, on a batch boundary
    with pytest.raises(InputError, match=f"incomplete \\({done} of {N}"):
        open_features(store)
    model = load_model("torchvision:squeezenet1_1", random_state=0)
    images = ImageSet.from_folder(images_dir)
    layers = ["features.3", "classifier.1"]
    resumed = extract(model, images, layers, batch_size=4, store=store)
    reference = extract(model, images, layers, batch_size=4, store=ref_store)
    for layer in reference:
        np.testing.assert_array_equal(resumed[layer].values, reference[layer].values)
        assert list(resumed[layer]["stimulus_id"].values) == images.ids
    again = open_features(store)
    np.testing.assert_array_equal(again["classifier.1"].values, reference["classifier.1"].values)
    assert again["classifier.1"].attrs["weights"] == "random-init(seed=0)"


def test_finished_store_is_returned_without_recomputing(tmp_path, small_images):
    model = load_model("gabor")
    first = extract(model, small_images, ["scale1"], store=tmp_path / "s.zarr")
    calls = []
    model.module.register_forward_pre_hook(lambda m, i: calls.append(1))
    second = extract(model, small_images, ["scale1"], store=tmp_path / "s.zarr")
    assert calls == []
    np.testing.assert_array_equal(first["scale1"].values, second["scale1"].values)


def test_in_memory_equals_store(tmp_path, small_images):
    mem = extract("gabor", small_images, ["scale0", "output"], pooling="none", batch_size=4)
    disk = extract("gabor", small_images, ["scale0", "output"], pooling="none", batch_size=4,
                   store=tmp_path / "m.zarr")
    for layer in mem:
        np.testing.assert_array_equal(mem[layer].values, disk[layer].values)
        assert mem[layer].dims == disk[layer].dims == ("stimulus", "channel", "y", "x")
        assert mem[layer].attrs == disk[layer].attrs


@pytest.mark.parametrize("change,expected", [
    (dict(layers=["scale0"]), "layers: store has \\['scale0', 'scale1'\\], this call has \\['scale0'\\]"),
    (dict(pooling="max"), "pooling: store has"),
    (dict(model="torchvision:alexnet"), "model: store has 'gabor', this call has 'torchvision:alexnet'"),
    (dict(images="other"), "stimulus ids: store has 6"),
])
def test_mismatched_store_refuses_to_append(tmp_path, small_images, change, expected):
    store = tmp_path / "s.zarr"
    extract("gabor", small_images, ["scale0", "scale1"], store=store)
    kwargs = dict(model="gabor", images=small_images, layers=["scale0", "scale1"], pooling="avg")
    kwargs.update(change)
    if kwargs["model"] != "gabor":
        kwargs["layers"] = ["features.0"]
    if kwargs["images"] == "other":
        kwargs["images"] = ImageSet.from_array(torch.rand(5, 3, 48, 48))
    with pytest.raises(StoreMismatchError, match=expected):
        extract(kwargs["model"], kwargs["images"], kwargs["layers"], pooling=kwargs["pooling"], store=store)
    # the original results are untouched
    assert open_features(store)["scale0"].sizes["stimulus"] == 6


def test_store_path_that_is_not_a_store(tmp_path, small_images):
    (tmp_path / "notastore").mkdir()
    (tmp_path / "notastore" / "data.txt").write_text("mine")
    with pytest.raises(InputError, match="notastore"):
        extract("gabor", small_images, ["scale0"], store=tmp_path / "notastore")
    assert (tmp_path / "notastore" / "data.txt").read_text() == "mine"
