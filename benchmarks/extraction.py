"""Extraction overhead: hooks + pooling + zarr streaming vs a bare torch forward, same batches.

Goal: ``extract(..., store=...)`` costs at most 1.2x a bare ``model(preprocess(batch))`` loop
over the same images and batch size (the minimum any user has to pay to get activations).

Cluster row: ``extract(..., client=...)`` on a ``distributed.LocalCluster`` of two single-threaded
worker processes against one process with two torch threads, same images, same store settings
(the aim: no loss on one machine), with the bytes each worker read and wrote.

Run: ``python benchmarks/extraction.py`` (or ``make bench``); ``--cluster`` runs the cluster row only.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compare, environment, markdown_table, write_section  # noqa: E402

from neuroperception.features import extract, load_model  # noqa: E402
from neuroperception.stimuli import ImageSet  # noqa: E402

N, BATCH, SIZE = 128, 32, 224


def bare_forward(model, images: ImageSet) -> None:
    with torch.inference_mode():
        for _, batch in images.batches(BATCH):
            model(batch)


def run() -> list[dict]:
    images = ImageSet.from_array(torch.rand(N, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)))
    cases = [
        ("torchvision:alexnet", ["features.1", "features.4", "features.7", "features.9", "features.11", "classifier.5"],
         "avg"),
        ("torchvision:alexnet", ["features.4", "features.11"], "none"),
        ("gabor", ["scale0", "scale1", "scale2", "scale3"], "avg"),
    ]
    rows = []
    tmp = Path(tempfile.mkdtemp())
    try:
        for spec, layers, pooling in cases:
            model = load_model(spec)

            def ours():
                store = tmp / "bench.zarr"
                shutil.rmtree(store, ignore_errors=True)
                extract(model, images, layers, pooling=pooling, batch_size=BATCH, store=store)

            t_bare, t_ours = compare(lambda: bare_forward(model, images), ours, repeats=3)
            rows.append({"model": spec, "layers": len(layers), "pooling": pooling,
                         "bare forward (s)": t_bare, "extract + zarr (s)": t_ours,
                         "ratio": t_ours / t_bare, "goal": "<= 1.2" if pooling != "none" else "(maps, no goal)"})
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def cluster_rows(n: int = N) -> list[dict]:
    """Two single-threaded dask workers vs one process with two threads, same images and store settings."""
    import statistics
    import time

    import distributed

    layers = ["features.1", "features.4", "features.7", "features.9", "features.11", "classifier.5"]
    folder = Path(tempfile.mkdtemp())
    tmp = Path(tempfile.mkdtemp())
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for i in range(n):       # a folder of PNGs, as users have them: workers read their own files
        pixels = (torch.rand(SIZE, SIZE, 3, generator=gen) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"im{i:05d}.png")
    images = ImageSet.from_folder(folder)
    model = load_model("torchvision:alexnet")
    rows = []
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            def single():
                torch.set_num_threads(2)
                shutil.rmtree(tmp / "single.zarr", ignore_errors=True)
                extract(model, images, layers, batch_size=BATCH, store=tmp / "single.zarr", progress=False)

            def sharded():
                shutil.rmtree(tmp / "sharded.zarr", ignore_errors=True)
                extract("torchvision:alexnet", images, layers, batch_size=BATCH, store=tmp / "sharded.zarr",
                        client=client, progress=False)    # by spec: each worker loads the model once and keeps it

            times = {"single": [], "sharded": []}
            for _ in range(4):                   # the first round warms both up and is dropped
                for name, fn in (("single", single), ("sharded", sharded)):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
            import zarr

            io = dict(zarr.open_group(str(tmp / "sharded.zarr"))["progress"].attrs)["io"]
            t_single, t_sharded = (statistics.median(times[k][1:]) for k in ("single", "sharded"))
            for i, (worker, tally) in enumerate(sorted(io.items())):
                rows.append({"images": n if i == 0 else "", "setting": "2 workers x 1 thread" if i == 0 else "",
                             "one process, 2 threads (s)": t_single if i == 0 else "",
                             "cluster (s)": t_sharded if i == 0 else "",
                             "ratio": t_sharded / t_single if i == 0 else "", "goal": "<= 1.0" if i == 0 else "",
                             "worker": f"worker {i + 1}", "shards": tally["shards"], "its images": tally["rows"],
                             "file MB read": tally["file_bytes_read"] / 1e6,
                             "pixel MB decoded": tally["pixel_bytes_read"] / 1e6,
                             "MB written": tally["bytes_written"] / 1e6})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def breakdown() -> None:
    """Time the steps between a bare forward and extract + zarr, variant by variant."""
    import statistics
    import time

    images = ImageSet.from_array(torch.rand(64, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)))
    model = load_model("torchvision:alexnet")
    layers = ["features.1", "features.4", "features.7", "features.9", "features.11", "classifier.5"]
    tmp = Path(tempfile.mkdtemp())

    def streamed():
        shutil.rmtree(tmp / "b.zarr", ignore_errors=True)
        extract(model, images, layers, batch_size=BATCH, store=tmp / "b.zarr")

    variants = {
        "bare forward": lambda: bare_forward(model, images),
        "extract output only": lambda: extract(model, images, ["output"], batch_size=BATCH),
        "extract 6 layers in memory": lambda: extract(model, images, layers, batch_size=BATCH),
        "extract 6 layers to zarr": streamed,
    }
    times = {k: [] for k in variants}
    for _ in range(4):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    for name, values in times.items():
        print(f"{name}: {statistics.median(values[1:]):.2f} s")
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    if "--breakdown" in sys.argv:
        breakdown()
        return
    cluster = markdown_table(cluster_rows(N) + cluster_rows(4 * N))
    print(cluster)
    if "--cluster" in sys.argv:
        return
    rows = run()
    table = markdown_table(rows)
    print(table)
    write_section("extraction", f"""## Feature extraction overhead (`benchmarks/extraction.py`)

{N} random images of {SIZE}x{SIZE}, batch {BATCH}, CPU, median of 3 runs each, the two run alternately after a warm-up. Peer: a bare
`model(preprocess(batch))` loop under `torch.inference_mode()` over the same batches. Ours:
`extract(model, images, layers, pooling, store=<zarr>)` — forward hooks on every listed layer,
pooling, and each batch written to a fresh zarr store. Environment: {environment()}.

{table}

Where the extra time goes (`python benchmarks/extraction.py --breakdown`: AlexNet, 64 images,
2 batches, medians of 3 with the variants timed in turn): bare forward 4.96 s; `extract` of `output` alone 5.06 s
(hook bookkeeping and labelling, +2%); six hooked layers pooled in memory 5.28 s (+6%: pooling
inside the hooks); the same streamed to zarr 5.94 s (+20% on this short run). The zarr part is
zarr 3's per-write cost (about 25 ms per array per batch, measured by writing six pooled layers
directly with `FeatureStore.write`) plus creating the store, paid in a background writer thread
that overlaps the next forward pass but shares the two cores; it shrinks relative to the forward
pass as runs get longer (the 128-image table above) and as models get heavier.

### On a dask cluster

{N} and {4 * N} PNG files of {SIZE}x{SIZE}, AlexNet, the six layers above pooled, batch {BATCH}, into a zarr store. Peer: one
process with two torch threads (`extract(..., store=)`). Ours: `extract(..., store=, client=)` on a
`LocalCluster` of two single-threaded worker processes (started before timing), the model named by its spec
so that each worker loads it once and keeps it (the warm-up call pays that). The caller loads a CPU copy on
every call (it sizes the store from one image and fits learned pooling) and drops it on return: about 0.8 s
for AlexNet before any shard starts, included in the times. Medians of 3 after a warm-up, alternating.

{cluster}

Two single-threaded processes keep both cores busy, while one two-threaded process decodes the PNGs on
one; at {N} images the caller's model load eats that gain (`python benchmarks/extraction.py --cluster` prints
this table alone). Before workers reset glibc's allocator (dask's nanny sets `MALLOC_TRIM_THRESHOLD_=65536`, which made
their forward passes 35 % slower; see `docs/scaling.md`) this row was 1.10x at 512 images.
Each worker reads its own image files and writes its own rows. A model passed as an object instead is
pickled to every worker on every call (244 MB for AlexNet). `docs/scaling.md` turns these figures into
an estimate for NSD.
""")


if __name__ == "__main__":
    main()
