"""extract(client=...): shards on dask workers equal the single-process store, resume per shard; lazy stores."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import torch
import xarray as xr

from neuroperception.encoding import RidgeCV, fit_encoding_model
from neuroperception.errors import InputError, StoreMismatchError
from neuroperception.features import extract, load_model, open_features, reduce_features
from neuroperception.features._sharded import plan_shards
from neuroperception.features.store import _done_ranges

distributed = pytest.importorskip("distributed")

N, LAYERS = 48, ["conv2", "fc"]


def _model():
    return load_model("world:cnn")               # the miniature world's trained CNN, shipped with the package


def _images(n=N, seed=0):
    return torch.rand(n, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def _zarr_arrays(path):
    import zarr

    group = zarr.open_group(str(path), mode="r")
    return {name: np.asarray(group[name][...]) for name in group.array_keys()}


def _same_store(a, b):
    left, right = _zarr_arrays(a), _zarr_arrays(b)
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name].dtype == right[name].dtype
        assert np.array_equal(left[name], right[name]), name      # bit for bit


@pytest.fixture(scope="module")
def thread_client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    extract(_model(), _images(), LAYERS, batch_size=8, store=path, progress=False)
    return path


def test_sharded_store_equals_single_process_store_bit_for_bit(tmp_path, thread_client, reference):
    out = extract(_model(), _images(), LAYERS, batch_size=8, store=tmp_path / "s.zarr", client=thread_client,
                  lazy=True, progress=False)
    _same_store(tmp_path / "s.zarr", reference)
    assert type(out["conv2"].data).__module__.startswith("dask")           # returned lazily
    eager = extract(_model(), _images(), LAYERS, batch_size=8, store=tmp_path / "s.zarr", client=thread_client,
                    progress=False)                                          # finished: read back, in memory
    assert isinstance(eager["conv2"].data, np.ndarray)
    single = open_features(reference)
    for layer in LAYERS:
        assert out[layer].attrs == single[layer].attrs
        assert out[layer]["stimulus_id"].values.tolist() == single[layer]["stimulus_id"].values.tolist()
    io = dict(__import__("zarr").open_group(str(tmp_path / "s.zarr"))["progress"].attrs)["io"]
    assert sum(w["rows"] for w in io.values()) == N
    assert sum(w["pixel_bytes_read"] for w in io.values()) == N * 3 * 64 * 64 * 4
    per_row = sum(np.prod(single[layer].shape[1:]) for layer in LAYERS) * 4
    assert sum(w["bytes_written"] for w in io.values()) == N * per_row


def test_pca_pooling_is_fitted_once_on_the_caller_and_equal(tmp_path, thread_client):
    kwargs = dict(pooling="pca:5", batch_size=8, progress=False)
    single = extract(_model(), _images(24), "conv3", **kwargs)
    sharded = extract(_model(), _images(24), "conv3", store=tmp_path / "p.zarr", client=thread_client, **kwargs)
    assert np.array_equal(single["conv3"].values, sharded["conv3"].values)


def _busy(dask_worker):
    return len(dask_worker.state.executing)


def _settle(client):
    """Wait until no worker executes anything (a shard cancelled while running finishes on its own thread)."""
    deadline = time.time() + 60
    while time.time() < deadline and (any(client.processing().values()) or any(client.run(_busy).values())):
        time.sleep(0.05)


def _poisoned_model(flag):
    """A model whose forward raises on a batch holding a constant image while ``flag[0]`` is set."""
    model, calls = _model(), []

    def check(module, args):                      # a pre-hook: copied with the module to every worker thread
        x = args[0]
        calls.append(x.shape[0])
        if flag[0] and bool((x.flatten(2).std(-1) == 0).all(-1).any()):
            raise RuntimeError("device lost")

    model.module.register_forward_pre_hook(check)
    return model, calls


def test_a_failed_shard_leaves_the_others_marked_and_the_next_call_runs_only_the_missing(tmp_path, thread_client):
    images = _images()
    images[20] = 0.0
    flag = [True]
    model, calls = _poisoned_model(flag)
    store = tmp_path / "r.zarr"
    with pytest.raises(RuntimeError, match="device lost"):
        extract(model, images, LAYERS, batch_size=8, store=store, client=thread_client, progress=False)
    _settle(thread_client)
    done = _done_ranges(__import__("zarr").open_group(str(store)))
    n_done = sum(b - a for a, b in done)
    assert 0 < n_done < N and all(not (a <= 20 < b) for a, b in done), done
    with pytest.raises(InputError, match="incomplete"):
        open_features(store)
    flag[0] = False
    calls.clear()
    extract(model, images, LAYERS, batch_size=8, store=store, client=thread_client, progress=False)
    assert sum(calls) == N - n_done              # only the missing rows are computed again
    extract(_model(), images, LAYERS, batch_size=8, store=tmp_path / "ref.zarr", progress=False)
    _same_store(store, tmp_path / "ref.zarr")


def test_sequential_and_sharded_runs_resume_each_other(tmp_path, thread_client):
    images = _images()
    images[20] = 0.0
    extract(_model(), images, LAYERS, batch_size=8, store=tmp_path / "ref.zarr", progress=False)
    flag = [True]
    model, calls = _poisoned_model(flag)
    # a single-process run stops at the batch holding row 20; a sharded run finishes it
    with pytest.raises(RuntimeError):
        extract(model, images, LAYERS, batch_size=8, store=tmp_path / "a.zarr", progress=False)
    assert _done_ranges(__import__("zarr").open_group(str(tmp_path / "a.zarr"))) == [(0, 16)]
    flag[0] = False
    calls.clear()
    extract(model, images, LAYERS, batch_size=8, store=tmp_path / "a.zarr", client=thread_client, progress=False)
    assert sum(calls) == N - 16
    _same_store(tmp_path / "a.zarr", tmp_path / "ref.zarr")
    # a sharded run stops part-way; a single-process run finishes it
    flag[0] = True
    with pytest.raises(RuntimeError):
        extract(model, images, LAYERS, batch_size=8, store=tmp_path / "b.zarr", client=thread_client, progress=False)
    _settle(thread_client)
    flag[0] = False
    extract(model, images, LAYERS, batch_size=8, store=tmp_path / "b.zarr", progress=False)
    _same_store(tmp_path / "b.zarr", tmp_path / "ref.zarr")


def test_plan_shards_aligns_to_the_grid_and_covers_the_gaps():
    assert plan_shards([(0, 48)], 8, 16) == [(0, 16), (16, 32), (32, 48)]
    assert plan_shards([(12, 30)], 8, 8) == [(8, 16), (16, 24), (24, 30)]     # an off-grid start is redone
    shards = plan_shards([(0, 5), (40, 101)], 4, 12)
    covered = set().union(*(range(a, b) for a, b in shards))
    assert set(range(0, 5)) | set(range(40, 101)) <= covered


def test_bad_input_is_refused_and_nothing_written_is_lost(tmp_path, thread_client, reference):
    with pytest.raises(InputError, match="no store"):
        extract(_model(), _images(8), LAYERS, client=thread_client, progress=False)
    with pytest.raises(InputError, match="client"):
        extract(_model(), _images(8), LAYERS, store=tmp_path / "x.zarr", client="tcp://nowhere", progress=False)
    before = _zarr_arrays(reference)
    with pytest.raises(StoreMismatchError, match="pooling"):
        extract(_model(), _images(), LAYERS, pooling="max", batch_size=8, store=reference, client=thread_client,
                progress=False)
    after = _zarr_arrays(reference)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    with pytest.raises(InputError, match="lazy"):
        open_features(reference, lazy="yes")
    with pytest.raises(InputError, match="lazy: received True without a store"):
        extract(_model(), _images(8), LAYERS, lazy=True, progress=False)


# ---------------------------------------------------------------------------------------------- lazy stores
def test_lazy_store_gives_the_same_arrays_and_fits(reference):
    eager, lazy = open_features(reference), open_features(reference, lazy=True)
    for layer in LAYERS:
        assert type(lazy[layer].data).__module__.startswith("dask")
        assert lazy[layer].data.chunks[0] == (8,) * (N // 8)                      # one dask chunk per stored chunk
        xr.testing.assert_identical(lazy[layer].compute(), eager[layer])
    rng = np.random.default_rng(0)
    X = eager["fc"]
    Y = xr.DataArray(X.values @ rng.normal(size=(X.shape[1], 20)) + rng.normal(size=(N, 20)),
                     dims=("stimulus", "voxel"), coords={"stimulus_id": X["stimulus_id"]})
    a = RidgeCV(alphas=np.logspace(-2, 4, 7)).fit(eager["fc"], Y)
    b = RidgeCV(alphas=np.logspace(-2, 4, 7)).fit(lazy["fc"], Y)
    assert np.array_equal(a.coef_, b.coef_) and np.array_equal(a.best_alphas_, b.best_alphas_)
    test = list(X["stimulus_id"].values[-12:])
    r1 = fit_encoding_model(eager["fc"], Y, test=test, progress=False)
    r2 = fit_encoding_model(lazy["fc"], Y, test=test, progress=False)
    xr.testing.assert_identical(r1.dataset, r2.dataset)


def test_reduce_features_out_of_core_equals_pooling_at_extraction(tmp_path):
    images = _images(32)
    maps = extract(_model(), images, "conv3", pooling="none", batch_size=8, store=tmp_path / "m.zarr",
                   progress=False)
    lazy = open_features(tmp_path / "m.zarr", lazy=True)["conv3"]
    for pooling, kwargs in (("pca:6", {}), ("srp:32", {})):
        direct = extract(_model(), images, "conv3", pooling=pooling, batch_size=8, progress=False)["conv3"]
        reduced = reduce_features(lazy, pooling, **kwargs)
        assert type(reduced.data).__module__.startswith("dask")
        np.testing.assert_allclose(reduced.values, direct.values, rtol=1e-5, atol=1e-5)
        assert reduced.attrs["pooling"] == "none+" + direct.attrs["pooling"]
        in_memory = reduce_features(maps["conv3"], pooling, **kwargs)
        np.testing.assert_array_equal(in_memory.values, reduced.values)
    # PCA fitted on a sample of ids: only those rows decide the components
    ids = list(lazy["stimulus_id"].values[5:25])
    sample = reduce_features(lazy, "pca:4", fit_on=ids)
    refit = reduce_features(lazy.isel(stimulus=slice(5, 25)), "pca:4")
    np.testing.assert_allclose(sample.values[5:25], refit.values, rtol=1e-4, atol=1e-4)
    with pytest.raises(InputError, match="fit_on"):
        reduce_features(lazy, "pca:4", fit_on=["nope"])
    with pytest.raises(InputError, match="pooling"):
        reduce_features(lazy, "avg")
    with pytest.raises(Exception, match="features"):
        reduce_features(np.zeros((3, 4)), "srp:2")


# --------------------------------------------------------------------------- real kills (worker and run)
@pytest.mark.slow
def test_a_killed_worker_process_and_the_rerun_give_the_identical_store(tmp_path, reference):
    store = tmp_path / "k.zarr"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        errors = []

        model = _model()
        model.module.register_forward_pre_hook(lambda module, args: time.sleep(0.3))   # slow enough to kill mid-run

        def run():
            try:
                extract(model, _images(), LAYERS, batch_size=8, store=store, client=client, progress=False)
            except Exception as err:  # a KilledWorker is allowed: the next call resumes
                errors.append(err)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.time() + 120
        while time.time() < deadline and not (store / "progress").exists():
            time.sleep(0.05)
        while time.time() < deadline and not any(p.name.startswith("shard_") for p in (store / "progress").iterdir()):
            time.sleep(0.02)
        pids = client.run(os.getpid)
        os.kill(pids[sorted(pids)[0]], signal.SIGKILL)   # the nanny starts a fresh worker
        done_at_kill = sum(b - a for a, b in _done_ranges(__import__("zarr").open_group(str(store))))
        thread.join(300)
        extract(_model(), _images(), LAYERS, batch_size=8, store=store, client=client, progress=False)
    assert 0 < done_at_kill < N
    _same_store(store, reference)


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_the_missing_shards_only(tmp_path, reference):
    store = tmp_path / "run.zarr"
    script = textwrap.dedent(f"""
        import sys, time, warnings, torch, distributed
        warnings.simplefilter("ignore")
        from neuroperception.features import extract, load_model
        model = load_model("world:cnn")
        model.module.register_forward_pre_hook(lambda module, args: time.sleep(0.4))
        images = torch.rand({N}, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            extract(model, images, {LAYERS!r}, batch_size=8, store=sys.argv[1], client=client, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(store)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline:
        progress = store / "progress"
        if progress.exists() and any(p.name.startswith("shard_") for p in progress.iterdir()):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sum(b - a for a, b in _done_ranges(__import__("zarr").open_group(str(store))))
    assert 0 < done < N
    model, calls = _poisoned_model([False])
    extract(model, _images(), LAYERS, batch_size=8, store=store, client="local", progress=False)
    assert sum(calls) == N - done                # only the missing shards are computed
    _same_store(store, reference)
