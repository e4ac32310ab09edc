"""MkDocs hook and runner for the gallery of ``analyses/``.

As a hook (registered in ``mkdocs.yml``), it adds one page per analysis script ``analyses/<name>.py``:
the script's module docstring (what result it mirrors, what changes with real weights and data), the
figures and CSV tables found in its output folder (``analyses/out/<name>/``, or
``$NEUROPERCEPTION_GALLERY_DIR/<name>/``), copied into the site, and the command that renders it. An
analysis without output shows that command instead of figures. ``docs/gallery.md`` gets a grid of
thumbnails where it says ``<!-- gallery-thumbnails -->``.

As a script, it renders the gallery: ``python docs/hooks/gallery.py [--force] [--only NAME ...]`` runs
every analysis in its quick mode into the gallery folder, skipping those already rendered unless
``--force`` (``make docs`` calls it, then builds the site).
"""

from __future__ import annotations

import argparse
import ast
import csv
import logging
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.gallery")

ENV_VAR = "NEUROPERCEPTION_GALLERY_DIR"
MARKER = "<!-- gallery-thumbnails -->"
FIGURE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif")
FAILED = ".gallery-failed"  # written into an output folder by a run that failed
MAX_ROWS = 25
#: Quick-mode arguments of the scripts that have no ``--quick``/``--fast`` flag.
QUICK_ARGS = {"reward_rl": ["--steps", "4096"]}
_REAL = re.compile(r"\breal (weights|data)\b|^with real\b|^here the networks\b", re.IGNORECASE)


@dataclass
class Analysis:
    """One analysis script and what its output folder holds."""

    name: str
    script: Path
    out_dir: Path
    title: str
    mirrors: list[str] = field(default_factory=list)
    real: list[str] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    failed: bool = False

    @property
    def rendered(self) -> bool:
        """Whether a successful run left figures or tables."""
        return bool(self.figures or self.tables) and not self.failed

    @property
    def page(self) -> str:
        """The generated page, relative to the docs folder."""
        return f"gallery/{self.name}.md"

    @property
    def nav_title(self) -> str:
        words = self.name.split("_")
        return " ".join([words[0].capitalize()] + [w.upper() if len(w) <= 2 else w for w in words[1:]])


def repo_root() -> Path:
    """The repository root (two folders above this file)."""
    return Path(__file__).resolve().parents[2]


def gallery_dir(root: Path | None = None) -> Path:
    """Where the analyses write: ``$NEUROPERCEPTION_GALLERY_DIR`` or ``analyses/out``."""
    root = root or repo_root()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser().resolve() if env else root / "analyses" / "out"


def rst_to_markdown(text: str) -> str:
    """Turn the docstrings' reST inline markup into Markdown (``x`` → `x`, :class:`~a.B` → `B`)."""
    text = re.sub(r":\w+:`~?([^`]+)`", lambda m: "`" + (m.group(1).rsplit(".", 1)[-1] if m.group(0).count("~")
                                                         else m.group(1)) + "`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def quick_args(script: Path) -> list[str]:
    """The arguments of a script's quick mode (``--quick``, ``--fast``, or :data:`QUICK_ARGS`)."""
    if script.stem in QUICK_ARGS:
        return list(QUICK_ARGS[script.stem])
    source = script.read_text(encoding="utf-8")
    return [flag for flag in ("--quick", "--fast") if f'"{flag}"' in source or f"'{flag}'" in source][:1]


def command(analysis: Analysis, root: Path | None = None) -> str:
    """The shell command that renders ``analysis`` into its gallery folder (quick mode)."""
    root = root or repo_root()
    out = analysis.out_dir
    try:
        out = out.relative_to(root)
    except ValueError:
        pass
    script = analysis.script.relative_to(root) if analysis.script.is_relative_to(root) else analysis.script
    return shlex.join(["python", str(script), "--out", str(out), *quick_args(analysis.script)])


def load_analysis(script: Path, out_root: Path) -> Analysis:
    """Read ``script``'s docstring and list what ``out_root/<name>/`` holds."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or script.stem
    paragraphs = [" ".join(line.strip() for line in p.splitlines()) for p in re.split(r"\n\s*\n", doc.strip())]
    paragraphs = [rst_to_markdown(p) for p in paragraphs if p]
    title = paragraphs[0].rstrip(".")
    a = Analysis(script.stem, script, out_root / script.stem, title)
    for p in paragraphs[1:]:
        (a.run if p.startswith("Run:") else a.real if _REAL.search(p) else a.mirrors).append(p)
    if a.out_dir.is_dir():
        files = sorted(f for f in a.out_dir.iterdir() if f.is_file())
        a.figures = [f for f in files if f.suffix.lower() in FIGURE_SUFFIXES]
        a.tables = [f for f in files if f.suffix.lower() == ".csv"]
        a.failed = (a.out_dir / FAILED).is_file()
    return a


def find_analyses(root: Path | None = None, out_root: Path | None = None) -> list[Analysis]:
    """Every ``analyses/*.py`` script (not starting with ``_``), in name order."""
    root = root or repo_root()
    out_root = out_root or gallery_dir(root)
    scripts = sorted((root / "analyses").glob("*.py"))
    return [load_analysis(s, out_root) for s in scripts if not s.name.startswith("_")]


def _cell(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value.replace("|", "\\|")
    return f"{number:.4g}" if not number.is_integer() or "." in value else value


def csv_to_markdown(path: Path, max_rows: int = MAX_ROWS) -> str:
    """A CSV file as a Markdown table (numbers to 4 significant digits, at most ``max_rows`` rows)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return "*(empty table)*"
    header, body = rows[0], rows[1:]
    lines = ["| " + " | ".join(h.replace("|", "\\|") or " " for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in body[:max_rows]]
    if len(body) > max_rows:
        lines.append(f"\n*First {max_rows} of {len(body)} rows.*")
    return "\n".join(lines)


def render_page(analysis: Analysis, root: Path | None = None) -> str:
    """The Markdown of ``analysis``'s gallery page (figures linked as ``<name>/<file>``)."""
    a = analysis
    cmd = command(a, root)
    parts = [f"# {a.title}", f"Script: `analyses/{a.script.name}`."]
    if a.mirrors:
        parts += ["## What it mirrors", *a.mirrors]
    if a.real:
        parts += ["## With real weights and data", *a.real]
    if a.failed:
        parts += ['!!! warning "The last run failed"',
                  f"    Its output in `{a.out_dir}` may be incomplete; rerun it:\n\n"
                  f"    ```bash\n    {cmd}\n    ```"]
    if a.figures or a.tables:
        if a.figures:
            parts.append("## Figures")
            parts += [f"![{f.stem}]({a.name}/{f.name})\n\n*{f.name}*" for f in a.figures]
        if a.tables:
            parts.append("## Tables")
            for t in a.tables:
                parts += [f"### {t.name}", csv_to_markdown(t), f"[Download {t.name}]({a.name}/{t.name})"]
        parts += ["## Render it again", "The figures above come from a quick run:",
                  f"```bash\n{cmd}\n```"]
    else:
        parts += ['!!! note "Not rendered yet"',
                  "    This analysis has no output yet. Render it (quick mode), then rebuild the docs:\n\n"
                  f"    ```bash\n    {cmd}\n    ```"]
    if a.run:
        parts += ["## Full run", *(p.removeprefix("Run:").strip() for p in a.run)]
    return "\n\n".join(parts) + "\n"


def thumbnails(analyses: list[Analysis]) -> str:
    """Markdown grid of cards, one per analysis, with its first figure as the thumbnail."""
    cards = []
    for a in analyses:
        card = f"-   [**{a.nav_title}**]({a.page})\n\n    ---\n\n"
        if a.figures and not a.failed:
            card += f"    [![{a.nav_title}](gallery/{a.name}/{a.figures[0].name})]({a.page})\n\n"
        else:
            card += "    *Not rendered yet.*\n\n"
        cards.append(card + f"    {a.title}{'' if a.title[-1:] in '?!' else '.'}\n")
    return '<div class="grid cards" markdown>\n\n' + "\n".join(cards) + "\n</div>\n"


# ----------------------------------------------------------------------------------------- hook
_STATE: dict = {}


def _expand_nav(nav: list, pages: list[tuple[str, str]]) -> list:
    out = []
    for item in nav:
        if isinstance(item, dict):
            (title, value), = item.items()
            if value == "gallery.md":
                value = [{"Overview": "gallery.md"}, *({t: p} for t, p in pages)]
            elif isinstance(value, list):
                value = _expand_nav(value, pages)
            out.append({title: value})
        else:
            out.append(item)
    return out


def on_config(config):
    """Collect the analyses and add their pages under the nav's ``gallery.md`` entry."""
    root = Path(config["config_file_path"]).resolve().parent
    analyses = find_analyses(root, gallery_dir(root))
    _STATE.update(root=root, analyses=analyses)
    if config["nav"]:
        config["nav"] = _expand_nav(config["nav"], [(a.nav_title, a.page) for a in analyses])
    return config


def on_files(files, config):
    """Add the generated pages, and the figures and tables they show, to the site's files."""
    from mkdocs.structure.files import File

    for a in _STATE.get("analyses", []):
        files.append(File.generated(config, a.page, content=render_page(a, _STATE["root"])))
        for f in a.figures + a.tables:
            files.append(File.generated(config, f"gallery/{a.name}/{f.name}", abs_src_path=str(f)))
    return files


def on_page_markdown(markdown, page, config, files):
    """Fill the thumbnails into ``gallery.md``."""
    if page.file.src_uri == "gallery.md" and MARKER in markdown:
        markdown = markdown.replace(MARKER, thumbnails(_STATE.get("analyses", [])))
    return markdown


# --------------------------------------------------------------------------------------- runner
def render(names=None, force: bool = False, root: Path | None = None) -> list[str]:
    """Run the analyses (quick mode) into the gallery folder; returns the names that failed."""
    root = root or repo_root()
    failed = []
    for a in find_analyses(root):
        if names and a.name not in names:
            continue
        if a.rendered and not force:
            print(f"gallery: {a.name} already rendered in {a.out_dir} (FORCE=1 to rerun)")
            continue
        a.out_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, str(a.script), "--out", str(a.out_dir), *quick_args(a.script)]
        print(f"gallery: {shlex.join(args)}", flush=True)
        proc = subprocess.run(args, cwd=root, capture_output=True, text=True)
        marker = a.out_dir / FAILED
        if proc.returncode:
            marker.write_text(proc.stdout[-4000:] + proc.stderr[-4000:], encoding="utf-8")
            print(f"gallery: {a.name} FAILED (exit {proc.returncode}):\n{proc.stderr[-4000:]}", file=sys.stderr)
            failed.append(a.name)
        else:
            marker.unlink(missing_ok=True)
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Render the analyses' gallery outputs (quick mode).")
    parser.add_argument("--force", action="store_true", help="rerun analyses already rendered")
    parser.add_argument("--only", nargs="*", help="analysis names (default: all)")
    args = parser.parse_args(argv)
    failed = render(args.only, args.force)
    if failed:
        print(f"gallery: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
