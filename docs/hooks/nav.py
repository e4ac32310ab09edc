"""MkDocs hook: keep the nav buildable while pages and subpackages are still being written.

``mkdocs.yml`` lists every page the site is meant to have. A nav entry whose Markdown file does not
exist yet, and an API page (``docs/api/<name>.md``) whose ``::: neuroperception.<name>`` package does
not exist yet (the page's first ``:::`` entry), are left out of the build with an INFO line naming what is missing, so a strict build
(``mkdocs build --strict``) passes and the page appears as soon as it is written. Everything else,
broken links included, still fails the strict build.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.nav")

_IDENT = re.compile(r"^:::\s+([\w.]+)", re.MULTILINE)

#: Pages left out of the last build, as ``(page, reason)`` (read by the tests).
SKIPPED: list[tuple[str, str]] = []


def _module_exists(root: Path, dotted: str) -> bool:
    """Whether ``dotted`` names a package or module under ``root`` (found as source, not imported)."""
    path = root.joinpath(*dotted.split("."))
    return (path / "__init__.py").is_file() or path.with_suffix(".py").is_file()


def missing_reason(docs_dir: Path, page: str, source_root: Path) -> str | None:
    """Why ``page`` (a path relative to ``docs_dir``) cannot be built now, or None when it can."""
    if "://" in page:
        return None
    path = docs_dir / page
    if not path.is_file():
        return f"docs/{page} does not exist yet"
    found = _IDENT.search(path.read_text(encoding="utf-8"))  # the page's package: its first ::: entry
    if found and not _module_exists(source_root, found.group(1)):
        return f"its module {found.group(1)} does not exist yet"
    return None


def prune_nav(nav, docs_dir: Path, source_root: Path, generated=()) -> list:
    """Return ``nav`` without the pages that cannot be built (and sections left empty); record them."""
    out = []
    for item in nav:
        title, value = next(iter(item.items())) if isinstance(item, dict) else (None, item)
        if isinstance(value, list):
            value = prune_nav(value, docs_dir, source_root, generated)
            if not value:
                continue
        elif value not in generated:
            reason = missing_reason(docs_dir, value, source_root)
            if reason is not None:
                SKIPPED.append((value, reason))
                log.info("nav: leaving out %s (%s)", value, reason)
                continue
        out.append({title: value} if title is not None else value)
    return out


def on_config(config):
    """Prune the nav of pages that are not buildable yet."""
    SKIPPED.clear()
    docs_dir = Path(config["docs_dir"])
    source_root = Path(config["config_file_path"]).resolve().parent
    if config["nav"]:
        config["nav"] = prune_nav(config["nav"], docs_dir, source_root)
    return config


def on_files(files, config):
    """Drop the API pages whose package does not exist yet (they would fail the build)."""
    skipped = {page for page, _ in SKIPPED}
    for file in list(files):
        if file.src_uri in skipped and file.src_uri.startswith("api/"):
            files.remove(file)
    return files
