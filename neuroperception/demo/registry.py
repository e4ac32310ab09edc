"""The demo's machinery: a shared context, the section registry and the runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..plotting import Report
from ..stimuli import ImageSet

__all__ = ["run_demo", "demo_section", "DemoContext"]

_SECTIONS: list[tuple[str, Callable[["DemoContext", Report], None]]] = []


@dataclass
class DemoContext:
    """What the sections share: the images, the features, and settings."""

    out_dir: Path
    quick: bool = False
    progress: bool = True
    images: ImageSet | None = None
    groups: list[str] = field(default_factory=list)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)  # model name -> layer -> DataArray
    timings: dict[str, float] = field(default_factory=dict)


def demo_section(name: str):
    """Register a demo section (runs in registration order).

    Examples
    --------
    >>> @demo_section("example")
    ... def _example(ctx, report):
    ...     report.section("Example", "Text.")
    >>> _ = _SECTIONS.pop()  # keep the demo as it was
    """

    def deco(fn):
        _SECTIONS.append((name, fn))
        return fn

    return deco


def correlation_rdm(features) -> np.ndarray:
    """Correlation distance ``1 - r`` between the rows of ``(N, F)`` features."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norm > 0, norm, 1.0)
    return np.clip(1.0 - x @ x.T, 0.0, 2.0)


def run_demo(out_dir="demo-report", quick: bool = False, progress: bool = True) -> Path:
    """Run every demo section on the embedded default and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``index.html`` and ``figures/``; created if needed, existing files other than
        the report's are left alone.
    quick : bool
        Fewer and smaller images (for tests).
    progress : bool
        Show progress bars.

    Returns
    -------
    Path
        The written ``index.html``.

    Examples
    --------
    >>> import tempfile
    >>> run_demo(tempfile.mkdtemp(), quick=True, progress=False).name  # doctest: +SKIP
    'index.html'
    """
    out = Path(out_dir)
    ctx = DemoContext(out, quick=quick, progress=progress)
    docs = Path(__file__).resolve().parents[2] / "docs"
    report = Report(out, "neuroperception demo", docs_root=docs.as_uri() if docs.is_dir() else None)
    for _, fn in _SECTIONS:
        fn(ctx, report)
    return report.write()
