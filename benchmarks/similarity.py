"""LPIPS speed against the `lpips` package: paired distances and a distance matrix, same values.

Goals: paired LPIPS (AlexNet, batch 32, 64x64, CPU) at least 1.2x faster than ``lpips.LPIPS``;
a 200x200 LPIPS distance matrix at least 100x faster than the ``lpips`` package's pair-by-pair
loop (timed on a subset of pairs and extrapolated: the whole loop takes minutes). Both metrics
use the same backbone weights (one seeded torchvision AlexNet, saved and loaded by path) and the
package's own calibrated heads; every timed result is checked against the peer's values.

Run: ``python benchmarks/similarity.py`` (or ``make bench``). Benchmarks of other similarity
modules listed in ``APPENDED`` are run after ours when their script exists.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torchvision

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import compare, environment, markdown_table, write_section  # noqa: E402

from neuroperception.similarity.lpips import LPIPS  # noqa: E402

BATCH, SIZE, N_MATRIX, N_LOOP_PAIRS = 32, 64, 200, 200

# Other similarity benchmarks appended to this section when their script exists:
# (module in benchmarks/, title). Each exposes ``run() -> list[dict]`` (one row per case).
APPENDED = [("rsa", "RSA: RDMs and their comparison (`benchmarks/rsa.py`)")]


def _metrics(tmp: Path):
    import lpips

    torch.manual_seed(0)
    model = torchvision.models.alexnet()
    path = tmp / "alexnet.pth"
    torch.save(model.state_dict(), path)
    ours = LPIPS("alex", weights=path).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False).eval()
    features = model.features.state_dict()
    peer.net.load_state_dict({k: features[k.split(".", 1)[1]] for k in peer.net.state_dict()})
    return ours, peer


def _conv_share(fn, repeats: int = 5) -> float:
    """Fraction of the profiled CPU time spent in convolution kernels."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "convolution" in e.key)
    return conv / total


def run() -> list[dict]:
    g = torch.Generator().manual_seed(0)
    tmp = Path(tempfile.mkdtemp())
    ours, peer = _metrics(tmp)
    rows = []

    # 1. paired distances
    x = torch.rand(BATCH, 3, SIZE, SIZE, generator=g)
    y = (x + 0.2 * torch.randn(BATCH, 3, SIZE, SIZE, generator=g)).clamp(0, 1)
    with torch.no_grad():
        mine, theirs = ours(x, y), peer(x, y, normalize=True).flatten()
    assert torch.allclose(mine, theirs, atol=1e-5), float((mine - theirs).abs().max())

    def ours_paired():
        with torch.no_grad():
            ours(x, y)

    def peer_paired():
        with torch.no_grad():
            peer(x, y, normalize=True)

    t_peer, t_ours = compare(peer_paired, ours_paired, repeats=15)
    share_ours, share_peer = _conv_share(ours_paired), _conv_share(peer_paired)
    rows.append({"case": f"paired LPIPS-alex, batch {BATCH}, {SIZE}x{SIZE}", "lpips (s)": t_peer,
                 "ours (s)": t_ours, "speed-up": t_peer / t_ours, "goal": ">= 1.2",
                 "note": f"max abs diff {float((mine - theirs).abs().max()):.1e}; convolution share of time: ours "
                         f"{share_ours:.0%}, lpips {share_peer:.0%}; ours = {1 / share_ours:.2f}x its own "
                         "convolution time"})
    print(rows[-1], flush=True)

    # 2. distance matrix
    imgs = torch.rand(N_MATRIX, 3, SIZE, SIZE, generator=g)
    t0 = time.perf_counter()
    with torch.no_grad():
        matrix = ours.pairwise(imgs)
    t_matrix = time.perf_counter() - t0
    with torch.no_grad():  # warm, then time the median of three
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            matrix = ours.pairwise(imgs)
            times.append(time.perf_counter() - t0)
    t_matrix = sorted(times)[1]
    pairs = torch.randint(0, N_MATRIX, (N_LOOP_PAIRS, 2), generator=g)
    loop = torch.empty(N_LOOP_PAIRS)
    t0 = time.perf_counter()
    with torch.no_grad():
        for k, (i, j) in enumerate(pairs.tolist()):
            loop[k] = peer(imgs[i:i + 1], imgs[j:j + 1], normalize=True).flatten()[0]
    t_loop = (time.perf_counter() - t0) * N_MATRIX * N_MATRIX / N_LOOP_PAIRS
    got = matrix[pairs[:, 0], pairs[:, 1]]
    assert torch.allclose(got, loop, atol=1e-5), float((got - loop).abs().max())
    rows.append({"case": f"{N_MATRIX}x{N_MATRIX} distance matrix, {SIZE}x{SIZE}", "lpips (s)": t_loop,
                 "ours (s)": t_matrix, "speed-up": t_loop / t_matrix, "goal": ">= 100",
                 "note": f"lpips: pair-by-pair loop timed on {N_LOOP_PAIRS} random pairs and extrapolated to "
                         f"{N_MATRIX * N_MATRIX}; those pairs match ours (max abs diff "
                         f"{float((got - loop).abs().max()):.1e})"})
    print(rows[-1], flush=True)
    return rows


def appended() -> list[tuple[str, list[dict]]]:
    """Run the benchmarks listed in ``APPENDED`` whose script exists; (title, rows) for each."""
    out = []
    for module, title in APPENDED:
        if (HERE / f"{module}.py").exists():
            out.append((title, importlib.import_module(module).run()))
    return out


def main() -> None:
    load_before = os.getloadavg()[0]
    rows = run()
    load = f"1-min load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after our cases"
    table = markdown_table(rows)
    print(table)
    extra = ""
    for title, extra_rows in appended():
        extra += f"\n### {title}\n\n{markdown_table(extra_rows)}\n"
        print(extra)
    write_section("similarity", f"""## Perceptual similarity: LPIPS (`benchmarks/similarity.py`)

Peer: the `lpips` package (0.1.4), AlexNet trunk, with the same backbone weights (one seeded
torchvision AlexNet, given to ours by path and copied into the package's trunk) and the package's
calibrated heads; values asserted equal (atol 1e-5) before timing. CPU, `torch.no_grad()`;
paired case: median of 15 runs of each, run alternately after a warm-up. Ours runs one backbone
pass over both inputs concatenated, in channels-last memory format (max-pooling in channels-first
format was 17% of the package's time); the distance matrix embeds each image once and takes
`|a|^2 + |b|^2 - 2 a.b` per stage as matrix products. Environment: {environment()}; {load} (other
jobs share the cores: absolute times vary between runs, the ratios less so).

{table}
{extra}""")


if __name__ == "__main__":
    main()
