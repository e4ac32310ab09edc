"""A small HTML report: titled sections of text, PNG figures and tables, written to a folder."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from .figures import save_figure

__all__ = ["Report", "Section"]


@dataclass
class Section:
    """One section of a report."""

    title: str
    text: str = ""
    figures: list[tuple[str, str]] = field(default_factory=list)  # (relative path, caption)
    tables: list[tuple[str, str]] = field(default_factory=list)  # (caption, html)
    doc: str | None = None  # relative link to the docs page explaining the section


class Report:
    """Collect sections and write ``out_dir/index.html`` with figures under ``out_dir/figures``.

    Examples
    --------
    >>> import tempfile, matplotlib.pyplot as plt
    >>> r = Report(tempfile.mkdtemp(), "Demo")
    >>> s = r.section("Hello", "Some text.")
    >>> s.figures.append(r.figure(plt.figure(), "empty", "An empty figure"))
    >>> r.write().name
    'index.html'
    """

    def __init__(self, out_dir, title: str, docs_root: str | None = None):
        self.out_dir = Path(out_dir)
        self.title = title
        self.docs_root = docs_root
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
            "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}nav a{margin-right:1em}</style>",
            "</head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
            "<nav>" + "".join(f"<a href='#s{i}'>{html.escape(s.title)}</a>" for i, s in enumerate(self.sections)) + "</nav>",
        ]
        for i, s in enumerate(self.sections):
            parts.append(f"<section id='s{i}'><h2>{html.escape(s.title)}</h2>")
            if s.doc:
                href = f"{self.docs_root.rstrip('/')}/{s.doc}" if self.docs_root else s.doc
                parts.append(f"<p><a href='{html.escape(href)}'>Documentation for this section</a></p>")
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
