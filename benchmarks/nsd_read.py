"""NSD session read: chunk-aware masked reading against one full ``read_direct`` of the dataset.

An NSD beta session file as h5py sees the released ones: dataset ``betas``, int16, ``(750, Z, Y, X)``
with chunks ``(750, 1, 1, 1)`` (MATLAB's ``[1 1 1 750]``), uncompressed. The volume is the posterior,
superior quarter of subject 1's 1.8 mm grid (81 x 104 x 83): X = 81, Y = 52, Z = 42 (176,904 voxels,
265 MB), written to a temporary folder. Masks: an nsdgeneral-like cortical ribbon over occipital
cortex and a liberal brainmask-like ellipsoid (both drawn on the full grid, then cut to this
quarter), and no mask.

Goal: ours (``_nsd_files.read_volume``: reading and scaling to percent signal change, i.e. everything
``load_nsd_betas`` does with a session file) within 1.5x of one ``read_direct`` of the whole dataset
with the realistic masks; the row without a mask is shown for reference. The former strategy (blocks
of 50 trials across the whole volume, masked after reading) is timed once in the same run. Values are
asserted equal to the former reader's.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/nsd_read.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compare, environment, markdown_table, write_section  # noqa: E402

from neuroperception.data import _nsd_files  # noqa: E402

T, X, Y, Z = 750, 81, 52, 42                  # a quarter of the 81 x 104 x 83 grid
FULL_Y, FULL_Z = 104, 83
GOAL = 1.5


def masks() -> dict[str, np.ndarray]:
    """Realistic masks on this quarter: cortex-like shapes drawn on the full grid, then cut."""
    rng = np.random.default_rng(0)
    i, j, k = np.meshgrid(np.arange(X), np.arange(Y), np.arange(FULL_Z - Z, FULL_Z), indexing="ij")
    r = ((i - 40) / 34) ** 2 + ((j - FULL_Y / 2) / 45) ** 2 + ((k - 41) / 33) ** 2 + rng.normal(0, 0.03, i.shape)
    brain = r < 1
    return {"nsdgeneral-like (occipital ribbon)": brain & (r > 0.78) & (j < 30) & (k < 62),
            "brainmask-like (liberal ellipsoid)": brain, "none (every voxel)": np.ones_like(brain)}


def write_session(path: Path) -> None:
    import h5py

    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("betas", shape=(T, Z, Y, X), dtype=np.int16, chunks=(T, 1, 1, 1))
        for z in range(Z):
            ds[:, z] = rng.integers(-3000, 3000, size=(T, Y, X), dtype=np.int16)


def full_read(path: Path) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        buf = np.empty(f["betas"].shape, f["betas"].dtype)
        f["betas"].read_direct(buf)
    return buf


def ours(path: Path, sel) -> np.ndarray:
    return _nsd_files.read_volume(path, "hdf5", sel, 50, T)[0]


def old_blocks(path: Path, sel, block: int = 50) -> np.ndarray:
    """The former reader: 50 trials of the whole volume at a time (every chunk read 15 times), then masked."""
    import h5py

    with h5py.File(path, "r") as f:
        ds = f["betas"]
        out = np.empty((T, int(sel.sum())), np.float32)
        for t0 in range(0, T, block):
            chunk = ds[t0:t0 + block].transpose(0, 3, 2, 1)
            out[t0:t0 + chunk.shape[0]] = chunk[:, sel].astype(np.float32) / np.float32(300)
    return out


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "betas_session01.hdf5"
        write_session(path)
        for name, sel in masks().items():
            t_ours, t_full = compare(lambda: ours(path, sel), lambda: full_read(path), repeats=3)
            row = {"reader": "ours: runs of masked chunks, all trials", "mask": name, "voxels read": int(sel.sum()),
                   "time (s)": t_ours, "one full read_direct (s)": t_full, "ratio to full": t_ours / t_full,
                   "goal": "(reference)" if sel.all() else f"<= {GOAL}"}
            print(row, flush=True)
            rows.append(row)
        name, sel = next(iter(masks().items()))
        t0 = time.perf_counter()
        old = old_blocks(path, sel)
        t_old = time.perf_counter() - t0
        np.testing.assert_array_equal(ours(path, sel), old)
        t_full = rows[0]["one full read_direct (s)"]  # measured with the same mask's row
        row = {"reader": "former: blocks of 50 trials, masked after reading", "mask": name,
               "voxels read": X * Y * Z, "time (s)": t_old, "one full read_direct (s)": t_full,
               "ratio to full": t_old / t_full, "goal": "-"}
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    rows = run()
    table = markdown_table(rows)
    print(table)
    speedup = rows[-1]["time (s)"] / rows[0]["time (s)"]
    load = os.getloadavg()[0]
    write_section("nsd_read", f"""## NSD session read (`benchmarks/nsd_read.py`)

One NSD beta session file in the released layout (dataset `betas`, int16, h5py shape `(750, Z, Y, X)`,
chunks `(750, 1, 1, 1)` = MATLAB's `[1 1 1 750]`, uncompressed) over the posterior, superior quarter of
subject 1's 1.8 mm grid (X = {X}, Y = {Y}, Z = {Z}: {X * Y * Z:,} voxels, all 750 trials,
{X * Y * Z * T * 2 / 1e6:.0f} MB), in the page cache. Masks drawn on the full grid and cut to this
quarter: an nsdgeneral-like cortical ribbon over occipital cortex and a liberal brainmask-like
ellipsoid. Ours: `load_nsd_betas`' session read (`_nsd_files.read_volume`: the masked voxels grouped
into runs of chunks along z, each run read once with every trial and scaled to percent signal change as
it arrives). Reference: one `read_direct` of the whole dataset (no mask, no scaling). Median of 3 runs
each, the two alternating after a warm-up; the former strategy run once, its values asserted equal to
ours. Environment: {environment()}; load average {load:.1f} while it ran.

{table}

Each chunk holds one voxel's 750 trials, so a read costs about one chunk lookup per voxel read: ours
reads only the chunks the mask selects, each once. Without a mask it reads every chunk once like the
full read, in one call per z-run instead of one call in all (the reference row). The former reader read
50 trials of every chunk at a time, touching each chunk 15 times: {speedup:.0f}x slower than ours with
the nsdgeneral-like mask.
""")

if __name__ == "__main__":
    main()
