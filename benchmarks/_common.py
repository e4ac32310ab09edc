"""Shared helpers: timing, environment line, and writing a section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Every table is produced by a script in `benchmarks/` (`make bench` runs them all) and compares
neuroperception with its peer **in the same run, on the same machine and data**; the goals are
ratios, never absolute times. Scripts rewrite their own section below.
"""


def timeit(fn, repeats: int = 3) -> float:
    """Median wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(fn_a, fn_b, repeats: int = 3) -> tuple[float, float]:
    """Median wall times of two functions run alternately (after one warm-up each).

    Alternating keeps slow drifts of the machine (thermal, other load) out of the ratio.
    """
    fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeats):
        for fn, acc in ((fn_a, a), (fn_b, b)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b)


def environment() -> str:
    import torch

    blas = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if os.environ.get(k)}
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch "
            f"{torch.__version__} ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''})"
            + (f", {blas}" if blas else ""))


def markdown_table(rows: list[dict]) -> str:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = DOC.read_text() if DOC.exists() else HEADER
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)
