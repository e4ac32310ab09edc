"""Memory of ``RidgeCV`` on responses larger than memory: 200k voxels x 2500 stimuli read from disk.

The responses (float32, about 2 GB) are written chunk by chunk to a NetCDF file in the system temp
dir (never held in memory at once), then a fresh process opens them lazily with xarray and fits
``neuroperception.encoding.RidgeCV`` (17 alphas, 5 folds, float32), which reads ``voxel_chunk``
voxels at a time. The fit process's peak resident memory (``resource.getrusage``'s ``ru_maxrss``,
everything included: Python, torch, X, the fitted ``coef_``) must stay within 1.5 GiB. The chosen
alphas of the first 4096 voxels are checked against an in-memory fit of those voxels. The file is
removed afterwards.

Run: ``python benchmarks/ridge_memory.py`` (``--voxels N`` for a smaller run that does not touch
the docs unless ``--write``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, markdown_table, write_section  # noqa: E402

N, P, V, CHUNK, FOLDS = 2500, 512, 200_000, 4096, 5
ALPHAS = np.logspace(-2, 6, 17)
GOAL_MIB = 1536


def features(n: int, p: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, p), dtype=np.float32)


def block(X: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Responses of voxels ``start:stop``: sparse weights, SNR from none to high, a baseline."""
    rng = np.random.default_rng([1, start])
    p, v = X.shape[1], stop - start
    W = rng.standard_normal((p, v), dtype=np.float32) * (rng.random((p, v)) < 0.05)
    W *= rng.uniform(0.0, 0.3, size=v).astype(np.float32)
    Y = X @ W
    Y += rng.standard_normal(Y.shape, dtype=np.float32)
    Y += 10.0
    return Y


def write_responses(path: Path, X: np.ndarray, n_voxels: int) -> float:
    """Write ``(stimulus, voxel)`` float32 responses chunk by chunk; return the seconds taken."""
    import h5netcdf

    t0 = time.perf_counter()
    n = X.shape[0]
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"stimulus": n, "voxel": n_voxels}
        var = f.create_variable("responses", ("stimulus", "voxel"), "f4", chunks=(n, min(CHUNK, n_voxels)))
        for start in range(0, n_voxels, CHUNK):
            stop = min(start + CHUNK, n_voxels)
            var[:, start:stop] = block(X, start, stop)
    return time.perf_counter() - t0


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fit(path: str, n: int, p: int, out: str) -> None:
    import xarray as xr

    from neuroperception.encoding import RidgeCV

    X = features(n, p)
    Y = xr.open_dataset(path, engine="h5netcdf")["responses"]  # lazy: nothing read yet
    before = _rss_mib()
    model = RidgeCV(alphas=ALPHAS, cv=FOLDS, backend="numpy", dtype="float32", voxel_chunk=CHUNK)
    t0 = time.perf_counter()
    model.fit(X, Y)
    seconds = time.perf_counter() - t0
    peak = _rss_mib()
    first = min(CHUNK, Y.sizes["voxel"])
    ref = RidgeCV(alphas=ALPHAS, cv=FOLDS, backend="numpy", dtype="float32").fit(X, block(X, 0, first))
    same = float(np.mean(ref.best_alphas_ == model.best_alphas_[:first]))
    Path(out).write_text(json.dumps({"seconds": seconds, "peak_mib": peak, "before_mib": before, "same": same,
                                     "coef_mib": model.coef_.nbytes / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxels", type=int, default=V)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md for a --voxels run too")
    args, _ = parser.parse_known_args()
    n, p, v = N, P, args.voxels
    X = features(n, p)
    tmp = Path(tempfile.mkdtemp(prefix="ridge_memory_"))
    try:
        path = tmp / "responses.nc"
        write_s = write_responses(path, X, v)
        size_gb = path.stat().st_size / 1e9
        print(f"wrote {path} ({size_gb:.2f} GB) in {write_s:.1f} s", flush=True)
        out = str(tmp / "result.json")
        proc = mp.get_context("spawn").Process(target=_fit, args=(str(path), n, p, out))
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"the fit process failed with exit code {proc.exitcode}")
        res = json.loads(Path(out).read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [{"voxels": v, "stimuli": n, "features": p, "responses on disk (GB)": round(size_gb, 2),
             "write (s)": round(write_s, 1), "fit (s)": round(res["seconds"], 1),
             "RSS before fit (MiB)": round(res["before_mib"]), "peak RSS (MiB)": round(res["peak_mib"]),
             "of which coef_ (MiB)": round(res["coef_mib"]), "goal (MiB)": GOAL_MIB,
             "met": "yes" if res["peak_mib"] <= GOAL_MIB else "NO",
             "alphas = in-memory fit (first chunk)": f"{100 * res['same']:.1f}%"}]
    table = markdown_table(rows)
    print(table)
    if v != V and not args.write:
        return
    write_section("ridge_memory", f"""## Memory: ridge on responses stored on disk (`benchmarks/ridge_memory.py`)

{v} voxels x {n} stimuli of float32 responses written chunk by chunk ({CHUNK} voxels) to a NetCDF file in
the system temp dir, opened lazily with `xarray.open_dataset(..., engine="h5netcdf")` and fitted with
`RidgeCV(alphas=logspace(-2, 6, 17), cv={FOLDS}, voxel_chunk={CHUNK})` on {p} random features, in a fresh
process. Peak RSS is that process's `ru_maxrss`: everything counts (Python, torch, X, the fitted `coef_` of
{v} x {p} float32). The file is deleted afterwards. The chosen alphas of the first chunk are compared with
an in-memory fit of the same voxels. Environment: {environment()}.

{table}

Memory grows with `voxel_chunk` (about `(n_folds + 2) x (p + 1) x voxel_chunk` numbers of working memory)
and with the fitted weights (`voxels x features`), never with the size of the responses on disk.
""")


if __name__ == "__main__":
    main()
