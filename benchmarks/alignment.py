"""Functional alignment speed: orthogonal Procrustes between two subjects, vs fmralign.

Goal: ``ProcrustesAlignment().fit`` at least as fast as fmralign's ``Procrustes().fit`` (scaled) on the
same data, with the same map (asserted equal), both when there are more stimuli than voxels (one
SVD of the ``voxel x voxel`` cross-product on both sides) and when there are fewer (NSD's shared
images against a few thousand voxels: fmralign takes the SVDs of both data matrices, ours their QR
decompositions and one ``stimulus x stimulus`` SVD).

Run: ``python benchmarks/alignment.py`` (or ``make bench``). ``run()`` returns the table rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import compare, environment, markdown_table, write_section  # noqa: E402

from neuroperception.alignment import ProcrustesAlignment  # noqa: E402

#: (stimuli, source voxels, target voxels)
CASES = [(2000, 400, 500), (500, 2000, 2500)]


def _data(n: int, px: int, py: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((n, 50))
    x = latent @ rng.standard_normal((50, px)) + rng.standard_normal((n, px))
    y = latent @ rng.standard_normal((50, py)) + rng.standard_normal((n, py))
    return x, y


def run() -> list[dict]:
    from fmralign.methods import Procrustes

    rows = []
    for n, px, py in CASES:
        x, y = _data(n, px, py)
        result = {}

        def ours():
            result["ours"] = ProcrustesAlignment(scaling=True).fit(x, y)

        def peer():
            result["peer"] = Procrustes(scaling=True).fit(x, y)

        t_ours, t_peer = compare(ours, peer, repeats=3)
        diff = float(np.abs(result["ours"].rotation_ - result["peer"].R).max())
        scale = abs(result["ours"].scale_ - result["peer"].scale) / result["peer"].scale
        assert diff < 1e-8 and scale < 1e-10, f"maps differ: {diff:.3g}, scale {scale:.3g}"
        row = {"task": f"Procrustes fit, {n} stimuli, {px} -> {py} voxels", "fmralign (s)": t_peer,
               "neuroperception (s)": t_ours, "speed-up": t_peer / t_ours, "goal": ">= 1",
               "max map difference": f"{diff:.1e}"}
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    import fmralign

    rows = run()
    table = markdown_table(rows)
    print(table)
    write_section("alignment", f"""## Functional alignment (`benchmarks/alignment.py`)

Two simulated subjects' responses (float64, a 50-dimensional shared signal plus noise) of the
same stimuli. Peer: fmralign {fmralign.__version__}'s `fmralign.methods.Procrustes(scaling=True).fit(x, y)`.
Ours: `ProcrustesAlignment(scaling=True).fit(x, y)` (input checks and labels included). Median of
3 runs each, the two run alternately after a warm-up; the maps and scales are asserted equal
(difference in the table). Environment: {environment()}.

{table}

With more stimuli than voxels both compute the SVD of the `voxel x voxel` cross-product, so
they take the same time. With fewer stimuli than voxels fmralign takes the SVDs of both
`stimulus x voxel` matrices; ours takes their QR decompositions (cheaper than SVDs of the same
matrices) and the SVD of one `stimulus x stimulus` product. The table in this page was measured
while other jobs shared the machine's two cores (load average about 5), which inflates both
absolute times; the ratio is what the run compares.
""")


if __name__ == "__main__":
    main()
