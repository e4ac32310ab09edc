"""Extraction overhead: hooks + pooling + zarr streaming vs a bare torch forward, same batches.

Goal: ``extract(..., store=...)`` costs at most 1.2x a bare ``model(preprocess(batch))`` loop
over the same images and batch size (the minimum any user has to pay to get activations).

Run: ``python benchmarks/extraction.py`` (or ``make bench``).
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
""")


if __name__ == "__main__":
    main()
