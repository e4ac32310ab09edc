"""Feature extraction sharded over dask workers into one zarr store, resumable per shard.

The driver (the process that calls ``extract(..., client=...)``) fits any learned pooling, creates
the store's arrays from one probe image, cuts the rows still missing into shards that start on the
store's chunk boundaries and on the batch grid of a single-process run, and sends the model to every
worker once (``client.scatter(..., broadcast=True)``). Each worker runs the same batches a
single-process run would, writes its rows into the store by region, and only then marks its shard
done (``progress/shard_<start>_<stop>``). So a lost worker's shard is simply run again (by dask, or
by the next call), a killed run resumes with the shards no marker covers, and on CPU the store equals
the single-process one bit for bit.
"""

from __future__ import annotations

import copy
import math
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import torch

from .._distributed import client_context, import_distributed
from .._malloc import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, mallopt
from .._progress import progress_bar
from ..errors import InputError
from .store import FeatureStore, mark_shard

__all__ = ["extract_sharded", "plan_shards"]

# Per worker thread: the model it was sent (moved to its own GPU where it has one) or a copy of it.
_WORKER_MODELS: dict[tuple[str, int], Any] = {}
_LOCK = threading.Lock()


def plan_shards(missing: list[tuple[int, int]], step: int, shard_rows: int) -> list[tuple[int, int]]:
    """Cut the missing row ranges into shards that start on multiples of ``step``.

    Parameters
    ----------
    missing : list of (start, stop)
        Row ranges not yet on disk.
    step : int
        Rows of the alignment grid (a multiple of both the batch size and the store's chunk rows).
    shard_rows : int
        Rows per shard (a multiple of ``step``).

    Returns
    -------
    list of (start, stop)

    Examples
    --------
    >>> plan_shards([(0, 10), (24, 30)], step=4, shard_rows=8)
    [(0, 8), (8, 10), (24, 30)]
    """
    shards = []
    for start, stop in missing:
        start = (start // step) * step          # a range that starts off the grid is redone from the grid
        while start < stop:
            end = min(stop, start + shard_rows)
            shards.append((start, end))
            start = end
    return shards


def _worker_model(key: str, model: Any, own_process: bool) -> Any:
    """This thread's model (layer hooks are per module, so threads never share one).

    ``model`` is a FeatureModel that was sent, or a spec string that this worker loads itself (once
    per process and thread, kept for later calls; on its GPU where it has one). In a worker
    process of its own, the first thread takes the model it was sent and moves it to the worker's
    GPU where it has one; any other thread (a thread-based cluster shares the caller's model
    object) takes a deep copy.
    """
    slot = (key, threading.get_ident())
    with _LOCK:
        if slot not in _WORKER_MODELS:
            if isinstance(model, str):
                from .registry import load_model

                model = load_model(model)
            elif own_process and not any(k == key for k, _ in _WORKER_MODELS):
                if torch.cuda.is_available() and torch.device(model.device).type == "cpu":
                    model = model.to("cuda")
            else:
                model = copy.deepcopy(model)
            for old in [k for k in _WORKER_MODELS if k[0] != key]:
                del _WORKER_MODELS[old]         # one model per worker at a time
            _WORKER_MODELS[slot] = model
        return _WORKER_MODELS[slot]


def _run_shard(model: Any, key: str, images: Any, layers: list[str], poolings: dict, path: str, start: int,
               batch_size: int, driver_pid: int) -> dict:
    """Extract one shard's rows, write them by region, then mark the shard done (runs on a worker)."""
    import zarr

    from .extract import _forward

    from distributed import get_worker

    worker = get_worker()
    own_process = os.getpid() != driver_pid
    if own_process:                             # a worker process: one torch thread per dask thread
        torch.set_num_threads(max(1, int(worker.state.nthreads)))
        # dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536, which also freezes glibc's mmap threshold at
        # 128 kB: every activation is mmapped, freed and faulted in again (35 % slower measured); serve
        # blocks up to 32 MiB from the heap and keep up to 256 MiB of it
        mallopt(M_MMAP_THRESHOLD, 32 << 20)
        mallopt(M_TRIM_THRESHOLD, 256 << 20)
    model = _worker_model(key, model, own_process)
    group = zarr.open_group(path, mode="r+")
    stop, read, written = start, 0, 0
    for _, batch in images.batches(batch_size):
        acts = _forward(model, layers, batch, poolings)
        read += batch.numel() * batch.element_size()
        for layer in layers:
            values = acts[layer][0].float().cpu().numpy()
            group[layer][stop : stop + values.shape[0]] = values
            written += values.nbytes
        stop += batch.shape[0]
    mark_shard(group, start, stop)
    return {"worker": worker.address, "start": start, "stop": stop, "pixel_bytes_read": read,
            "bytes_written": written, "file_bytes_read": _file_bytes(images)}


def _file_bytes(images: Any) -> int:
    paths = getattr(images, "_paths", None)
    return int(sum(Path(p).stat().st_size for p in paths)) if paths else 0


def extract_sharded(model: Any, images: Any, layers: list[str], poolings: dict, fs: FeatureStore, batch_size: int,
                    client: Any, progress: bool, probe, spec: str | None = None) -> dict[str, dict]:
    """Run the missing shards of ``fs`` on ``client``; return per-worker bytes read and written.

    ``probe(batch)`` gives the per-layer shapes, dims and notes from one image (run on the driver
    when the store has no arrays yet). With ``spec`` (the call named its model by a spec string),
    every worker loads the model itself once and keeps it for later calls; otherwise the model
    object is sent to every worker.
    """
    if fs.chunk_rows is None:
        shapes, dims, notes = probe(next(images.batches(1))[1])
        fs.ensure_arrays(shapes, dims, notes, batch_size)
    chunk = fs.chunk_rows
    step = batch_size * chunk // math.gcd(batch_size, chunk)
    missing = fs.missing_ranges()
    io: dict[str, dict] = {}
    if not missing:
        return io
    with client_context(client) as c:
        n_workers = max(1, len(c.scheduler_info()["workers"]))
        n_missing = sum(b - a for a, b in missing)
        # about four shards per worker: small enough to balance and to lose little to a kill
        shard_rows = max(step, math.ceil(n_missing / (4 * n_workers) / step) * step)
        shards = plan_shards(missing, step, shard_rows)
        run = uuid.uuid4().hex[:8]
        if spec is not None:
            key, model_future = f"spec|{spec}", spec
        else:
            key = f"{model.spec}|{model.weights}|{id(model)}|{os.getpid()}"
            model_future = c.scatter(model, broadcast=True, hash=False)
        futures = [c.submit(_run_shard, model_future, key, images[a:b], layers, poolings, str(fs.path), a,
                            batch_size, os.getpid(), pure=False, key=f"extract-shard-{a}-{b}-{run}")
                   for a, b in shards]
        bar = progress_bar(None, progress, total=n_missing, unit="vid" if model.input_kind == "videos" else "img",
                           desc=f"extract {model.spec} ({len(shards)} shards, {n_workers} workers)")
        try:
            for future in import_distributed().as_completed(futures):
                stats = future.result()
                tally = io.setdefault(stats["worker"], {"shards": 0, "rows": 0, "pixel_bytes_read": 0, "file_bytes_read": 0,
                                               "bytes_written": 0})
                tally["shards"] += 1
                tally["rows"] += stats["stop"] - stats["start"]
                for name in ("pixel_bytes_read", "file_bytes_read", "bytes_written"):
                    tally[name] += stats[name]
                bar.update(stats["stop"] - stats["start"])
        finally:
            bar.close()
            for future in futures:
                future.cancel()
    if fs.missing_ranges():                      # pragma: no cover - every shard returned without error
        raise InputError(f"store: {fs.path} still misses rows {fs.missing_ranges()[:3]} after the sharded run; "
                         "run extract() again to finish it")
    fs.finish()
    return io
