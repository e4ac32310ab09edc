"""The demo's machinery: a shared context, the section registry and the runner."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._docs import fill_doc
from ..plotting import Report
from ..stimuli import ImageSet
from ..world import WorldScenes

__all__ = ["run_demo", "demo_section", "DemoContext", "DOC_PAGES", "docs_location"]

_SECTIONS: list[tuple[str, Callable[["DemoContext", Report], None]]] = []

#: Demo section name -> the documentation page (a ``docs/`` Markdown file, optionally ``#anchor``) that
#: explains it. A report section without its own ``doc=`` links to its demo section's page.
DOC_PAGES: dict[str, str] = {
    "stimuli": "world.md",
    "features": "features.md",
    "brain": "simulated-brain.md#a-brain-that-sees-the-miniature-world",
    "encoding": "encoding.md",
    "readouts": "encoding.md",
    "similarity": "similarity-lpips.md",
    "triplets": "triplets.md",
    "scanpaths": "scanpath-models.md",
    "rewards": "rewards.md",
    "decoding": "decoding.md",
    "motion": "motion-decoding.md",
    "video": "video.md",
}

#: Environment variable naming the documentation site the demo report links to.
DOCS_URL_ENV = "NEUROPERCEPTION_DOCS_URL"
_REPO = Path(__file__).resolve().parents[2]


@dataclass
class DemoContext:
    """What the sections share: the world scenes, their images and categories, the features, and settings."""

    out_dir: Path
    quick: bool = False
    progress: bool | None = None
    scenes: WorldScenes | None = None
    images: ImageSet | None = None
    groups: list[str] = field(default_factory=list)  # one label per image (the scene's category)
    features: dict[str, dict[str, Any]] = field(default_factory=dict)  # model name -> layer -> DataArray
    timings: dict[str, float] = field(default_factory=dict)


def demo_section(name: str, doc: str | None = None):
    """Register a demo section (runs in registration order).

    Parameters
    ----------
    name : str
        The section's name (a key of :data:`DOC_PAGES`).
    doc : str, optional
        The documentation page explaining the section (``"page.md"`` or ``"page.md#anchor"``, relative
        to ``docs/``); stored in :data:`DOC_PAGES`. Default: the page ``DOC_PAGES`` already has for
        ``name``, if any.

    Returns
    -------
    callable
        The decorator, which registers ``fn(ctx, report)`` and returns it unchanged.

    Examples
    --------
    >>> @demo_section("example", doc="quickstart.md")
    ... def _example(ctx, report):
    ...     report.section("Example", "Text.")
    >>> DOC_PAGES["example"]
    'quickstart.md'
    >>> _ = _SECTIONS.pop(), DOC_PAGES.pop("example")  # keep the demo as it was
    """
    if doc is not None:
        DOC_PAGES[name] = doc

    def deco(fn):
        _SECTIONS.append((name, fn))
        return fn

    return deco


def docs_location(docs_url: str | None = None) -> dict[str, str | None]:
    """Where the demo report's documentation links point, as ``Report`` keyword arguments.

    In order: ``docs_url`` if given, else ``$NEUROPERCEPTION_DOCS_URL`` (the built site: links go to
    ``<url>/<page>.html``); else the site built by ``make docs`` in the repository's ``site/`` (a
    ``file://`` URL); else the Markdown sources in the repository's ``docs/`` (links to ``.md`` files);
    else no base (links stay relative page names, e.g. for an installed package without the repository).

    Parameters
    ----------
    docs_url : str, optional
        Base URL of a built documentation site (ending in ``/`` or not).

    Returns
    -------
    dict
        ``{"docs_url": ...}`` or ``{"docs_root": ...}`` (one of them; values may be None).

    Examples
    --------
    >>> docs_location("https://example.org/neuroperception/")
    {'docs_url': 'https://example.org/neuroperception/'}
    """
    url = docs_url or os.environ.get(DOCS_URL_ENV)
    if url:
        return {"docs_url": url}
    if (_REPO / "site" / "index.html").is_file():
        return {"docs_url": (_REPO / "site").as_uri() + "/"}
    docs = _REPO / "docs"
    return {"docs_root": docs.as_uri() + "/" if docs.is_dir() else None}


def correlation_rdm(features) -> np.ndarray:
    """Correlation distance ``1 - r`` between the rows of ``(N, F)`` features."""
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(1, keepdims=True)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norm > 0, norm, 1.0)
    return np.clip(1.0 - x @ x.T, 0.0, 2.0)


@fill_doc
def run_demo(out_dir="demo-report", quick: bool = False, progress: bool | None = None,
             docs_url: str | None = None) -> Path:
    """Run every demo section on the embedded default and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``index.html`` and ``figures/``; created if needed, existing files other than
        the report's are left alone.
    quick : bool
        Fewer and smaller images (for tests).
    %(progress)s
    docs_url : str, optional
        Base URL of the documentation site each section links to (see :func:`docs_location` for the
        default: ``$NEUROPERCEPTION_DOCS_URL``, then the locally built ``site/``, then ``docs/``).

    Returns
    -------
    Path
        The written ``index.html``.

    Examples
    --------
    >>> import tempfile
    >>> run_demo(tempfile.mkdtemp(), quick=True).name  # doctest: +SKIP
    'index.html'
    """
    out = Path(out_dir)
    ctx = DemoContext(out, quick=quick, progress=progress)
    report = Report(out, "neuroperception demo", **docs_location(docs_url))
    for name, fn in _SECTIONS:
        start = len(report.sections)
        fn(ctx, report)
        for section in report.sections[start:]:
            section.doc = section.doc or DOC_PAGES.get(name)
    return report.write()
