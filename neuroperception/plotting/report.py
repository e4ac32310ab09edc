"""A small HTML report: titled sections of text, PNG figures and tables, written to a folder."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .figures import save_figure

__all__ = ["Report", "Section", "doc_href"]


@dataclass
class Section:
    """One section of a report: its title, text, figures, tables and documentation page.

    Examples
    --------
    >>> s = Section("Encoding", "Held-out scores.", doc="encoding.md")
    >>> s.figures, s.doc
    ([], 'encoding.md')
    """

    title: str
    text: str = ""
    figures: list[tuple[str, str]] = field(default_factory=list)  # (relative path, caption)
    tables: list[tuple[str, str]] = field(default_factory=list)  # (caption, html)
    doc: str | None = None  # relative link to the docs page explaining the section


def doc_href(doc: str, docs_root: str | None = None, docs_url: str | None = None) -> str:
    """The link to documentation page ``doc`` (``"page.md"`` or ``"page.md#anchor"``).

    Parameters
    ----------
    doc : str
        The page, relative to the docs folder.
    docs_root : str, optional
        Prefix joined to ``doc`` as it is (the Markdown sources, e.g. a ``file://`` URL of ``docs/``).
    docs_url : str, optional
        Base URL of the built site (``mkdocs build``, ``use_directory_urls: false``): ``page.md``
        becomes ``<docs_url>/page.html``. Give at most one of ``docs_root`` and ``docs_url``.

    Returns
    -------
    str
        The URL; ``doc`` itself when neither base is given.

    Raises
    ------
    InputError
        When both ``docs_root`` and ``docs_url`` are given.

    Examples
    --------
    >>> doc_href("encoding.md#scoring", docs_url="https://example.org/docs/")
    'https://example.org/docs/encoding.html#scoring'
    >>> doc_href("encoding.md", docs_root="../docs")
    '../docs/encoding.md'
    """
    if docs_root is not None and docs_url is not None:
        raise InputError(f"doc_href: received docs_root={docs_root!r} and docs_url={docs_url!r}; "
                         "expected at most one of them")
    if docs_url is not None:
        page, sep, anchor = doc.partition("#")
        if page.endswith(".md"):
            page = page[:-3] + ".html"
        return f"{docs_url.rstrip('/')}/{page}{sep}{anchor}"
    return f"{docs_root.rstrip('/')}/{doc}" if docs_root else doc


class Report:
    """Collect sections and write ``out_dir/index.html`` with figures under ``out_dir/figures``.

    Parameters
    ----------
    out_dir : str or Path
        Folder for ``index.html`` and ``figures/`` (created).
    title : str
        The report's title.
    docs_root, docs_url : str, optional
        Where a section's ``doc`` page links to (see :func:`doc_href`): the Markdown sources
        (``docs_root``) or the built site (``docs_url``); at most one. The link sits in the section's
        header.

    Examples
    --------
    >>> import tempfile, matplotlib.pyplot as plt
    >>> r = Report(tempfile.mkdtemp(), "Demo", docs_url="https://example.org/docs")
    >>> s = r.section("Hello", "Some text.", doc="quickstart.md")
    >>> s.figures.append(r.figure(plt.figure(), "empty", "An empty figure"))
    >>> r.write().name
    'index.html'
    """

    def __init__(self, out_dir, title: str, docs_root: str | None = None, docs_url: str | None = None):
        doc_href("", docs_root, docs_url)  # one base at most
        self.out_dir = Path(out_dir)
        self.title = title
        self.docs_root = docs_root
        self.docs_url = docs_url
        self.sections: list[Section] = []
        (self.out_dir / "figures").mkdir(parents=True, exist_ok=True)

    def section(self, title: str, text: str = "", doc: str | None = None) -> Section:
        """Start a new section and return it (append figures/tables to it)."""
        s = Section(title, text, doc=doc)
        self.sections.append(s)
        return s

    def figure(self, fig, name: str, caption: str = "") -> tuple[str, str]:
        """Save ``fig`` as ``figures/<name>.png``; returns ``(relative path, caption)``."""
        rel = f"figures/{name}.png"
        save_figure(fig, self.out_dir / rel)
        return rel, caption

    @staticmethod
    def table(df, caption: str = "", float_format: str = "{:.3g}") -> tuple[str, str]:
        """A pandas DataFrame as an HTML table entry ``(caption, html)``."""
        return caption, df.to_html(index=False, border=0, float_format=float_format.format, classes="table")

    def write(self) -> Path:
        """Write ``index.html`` and return its path."""
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.45}"
            "img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}"
            "figcaption{font-size:.9em;color:#444}table{border-collapse:collapse;font-size:.85em}"
            "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}nav a{margin-right:1em}"
            "header p.doc{margin-top:-.6em;font-size:.9em}</style>",
            "</head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
            "<nav>" + "".join(f"<a href='#s{i}'>{html.escape(s.title)}</a>" for i, s in enumerate(self.sections)) + "</nav>",
        ]
        for i, s in enumerate(self.sections):
            header = f"<h2>{html.escape(s.title)}</h2>"
            if s.doc:
                href = doc_href(s.doc, self.docs_root, self.docs_url)
                header += f"<p class='doc'><a href='{html.escape(href)}'>Documentation for this section</a></p>"
            parts.append(f"<section id='s{i}'><header>{header}</header>")
            for para in filter(None, (p.strip() for p in s.text.split("\n\n"))):
                parts.append(f"<p>{html.escape(para)}</p>")
            for rel, caption in s.figures:
                parts.append(f"<figure><img src='{html.escape(rel)}' alt='{html.escape(caption)}'>"
                             f"<figcaption>{html.escape(caption)}</figcaption></figure>")
            for caption, table_html in s.tables:
                parts.append(f"<p><b>{html.escape(caption)}</b></p>{table_html}")
            parts.append("</section>")
        parts.append("</body></html>")
        path = self.out_dir / "index.html"
        path.write_text("\n".join(parts), encoding="utf-8")
        return path
