"""The documentation site: strict build, the analyses gallery, docstrings, and the demo report's links."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Pages listed in the nav that other work is writing now; the nav hook may leave only these out.
PENDING = {"decoding.md", "decoding-contrastive.md", "motion-decoding.md", "video.md", "video-features.md",
           "optical-flow.md", "api/decoding.md"}
SUBPACKAGES = ["stimuli", "world", "features", "data", "encoding", "decoding", "similarity", "scanpaths", "alignment",
               "behaviour", "rewards", "plotting"]


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"_docs_hook_{name}", DOCS / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _mkdocs(config: Path, site: Path, gallery: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NEUROPERCEPTION_GALLERY_DIR=str(gallery), NO_MKDOCS_2_WARNING="1")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          cwd=config.parent, env=env, capture_output=True, text=True, timeout=300)


def _text(html: str) -> str:
    """The visible text of an HTML page (tags removed, entities decoded)."""
    import html as _html

    return _html.unescape(re.sub(r"<[^>]+>", "", html))


def _nav_pages(nav) -> list[str]:
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


# ------------------------------------------------------------------------------------- the site
def test_site_builds_strict_offline(tmp_path):
    site, gallery = tmp_path / "site", tmp_path / "gallery"
    gallery.mkdir()
    proc = _mkdocs(ROOT / "mkdocs.yml", site, gallery)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-3000:]
    # every hand-written page and every API page is built
    for page in DOCS.glob("*.md"):
        assert (site / page.with_suffix(".html").name).is_file(), page.name
    api = (site / "api" / "encoding.html").read_text(encoding="utf-8")
    assert 'id="neuroperception.encoding.RidgeCV"' in api and 'id="neuroperception.encoding.fit_encoding_model"' in api
    # one gallery page per analysis; without output it shows the command that renders it
    scripts = sorted(p.stem for p in (ROOT / "analyses").glob("*.py") if not p.name.startswith("_"))
    assert scripts
    for name in scripts:
        text = _text((site / "gallery" / f"{name}.html").read_text(encoding="utf-8"))
        assert "Not rendered yet" in text and f"analyses/{name}.py --out" in text
    index = (site / "gallery.html").read_text(encoding="utf-8")
    assert all(f'href="gallery/{name}.html"' in index for name in scripts)
    # maths is typeset as MathML at build time: no raw TeX left on the page
    noise = (site / "noise-ceiling.html").read_text(encoding="utf-8")
    assert noise.count("<math") >= 20 and 'display="block"' in noise
    assert "\\sigma" not in _text(noise) and "\\(" not in noise
    # offline: no stylesheet, script or font fetched from the web
    for html in site.rglob("*.html"):
        remote = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(https?://[^"]+)"', html.read_text(encoding="utf-8"))
        assert not remote, (html.name, remote)


def test_nav_lists_every_page_and_leaves_out_only_pending_ones():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_pages(config["nav"])
    written = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "hooks" not in p.parts}
    assert written - set(nav) == set(), f"pages missing from the nav in mkdocs.yml: {sorted(written - set(nav))}"
    hook = _hook("nav")
    hook.prune_nav(config["nav"], DOCS, ROOT)
    skipped = {page for page, _ in hook.SKIPPED}
    assert skipped <= PENDING, f"nav pages left out of the build: {hook.SKIPPED}"


def test_nav_hook_leaves_out_missing_pages_and_modules(tmp_path):
    hook = _hook("nav")
    (tmp_path / "api").mkdir()
    (tmp_path / "a.md").write_text("# A\n")
    (tmp_path / "api" / "x.md").write_text("::: neuroperception.not_a_subpackage\n")
    (tmp_path / "api" / "y.md").write_text("::: neuroperception.encoding\n")
    nav = [{"A": "a.md"}, {"Group": [{"gone": "gone.md"}]}, {"API": [{"x": "api/x.md"}, {"y": "api/y.md"}]}]
    hook.SKIPPED.clear()
    assert hook.prune_nav(nav, tmp_path, ROOT) == [{"A": "a.md"}, {"API": [{"y": "api/y.md"}]}]
    assert hook.SKIPPED == [("gone.md", "docs/gone.md does not exist yet"),
                            ("api/x.md", "its module neuroperception.not_a_subpackage does not exist yet")]


def test_math_hook_converts_inline_and_display_tex_and_names_a_bad_formula():
    math = _hook("math")
    page = ('<p>Model <span class="arithmatex">\\(x_{ij} &lt; s_i\\)</span> and</p>'
            '<div class="arithmatex">\\[\\mathrm{NC} = \\frac{a}{b}\\]</div>')
    out = math.to_mathml(page, "noise.md")
    assert out.count("<math") == 2 and 'display="inline"' in out and 'display="block"' in out
    assert "<mo>&#x0003C;</mo>" in out and "<mfrac>" in out and "arithmatex" not in out
    assert math.to_mathml("<p>no maths, $5 and \\(text\\)</p>") == "<p>no maths, $5 and \\(text\\)</p>"
    with pytest.raises(ValueError, match=r"noise.md: cannot convert the formula 'x_\{'"):
        math.to_mathml('<span class="arithmatex">\\(x_{\\)</span>', "noise.md")


# ---------------------------------------------------------------------------------- the gallery
FAKE_SCRIPT = '''"""Fake tuning study: a planted result in miniature.

Mirrors a classic experiment with ``fake`` stimuli and :func:`~neuroperception.features.extract`.

With real weights, the same code runs on a pretrained network.

Run: ``python analyses/fake_study.py [--out DIR] [--quick]``; writes ``curve.png`` and ``scores.csv``.
"""
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--out", type=pathlib.Path)
p.add_argument("--quick", action="store_true")
a = p.parse_args()
a.out.mkdir(parents=True, exist_ok=True)
(a.out / "scores.csv").write_text("model,score\\nridge,%s\\n" % ("0.5" if a.quick else "0.9"))
'''


def _fake_project(tmp_path: Path) -> tuple[Path, Path]:
    root, gallery = tmp_path / "project", tmp_path / "gallery"
    (root / "docs").mkdir(parents=True)
    (root / "analyses").mkdir()
    (root / "analyses" / "fake_study.py").write_text(FAKE_SCRIPT)
    (root / "docs" / "index.md").write_text("# Home\n")
    (root / "docs" / "gallery.md").write_text("# Gallery\n\n<!-- gallery-thumbnails -->\n")
    (root / "mkdocs.yml").write_text(
        "site_name: fake\nuse_directory_urls: false\n"
        f"hooks:\n  - {DOCS / 'hooks' / 'gallery.py'}\n"
        "markdown_extensions: [tables, admonition, attr_list, md_in_html, pymdownx.superfences]\n"
        "nav:\n  - Home: index.md\n  - Gallery: gallery.md\n")
    return root, gallery


def test_gallery_hook_renders_figure_and_table(tmp_path):
    from PIL import Image

    root, gallery = _fake_project(tmp_path)
    out = gallery / "fake_study"
    out.mkdir(parents=True)
    Image.new("RGB", (8, 6), (200, 10, 10)).save(out / "curve.png")
    (out / "scores.csv").write_text("model,score,n\nridge,0.123456,3\nreadout|deep,0.9,4\n")
    (out / "cache.zarr").mkdir()  # folders are not figures or tables
    site = tmp_path / "site"
    proc = _mkdocs(root / "mkdocs.yml", site, gallery)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (site / "gallery" / "fake_study.html").read_text(encoding="utf-8")
    assert "<h1 id=\"fake-tuning-study-a-planted-result-in-miniature\">" in page
    assert "What it mirrors" in page and "<code>fake</code>" in page and "<code>extract</code>" in page
    assert "With real weights and data" in page and "pretrained network" in page
    assert '<img alt="curve" src="fake_study/curve.png"' in page
    assert (site / "gallery" / "fake_study" / "curve.png").read_bytes() == (out / "curve.png").read_bytes()
    # the CSV as a table (4 significant digits, pipes escaped) and as a download
    assert "<td>0.1235</td>" in page and "<td>readout|deep</td>" in page and "<th>score</th>" in page
    assert (site / "gallery" / "fake_study" / "scores.csv").is_file()
    assert "Not rendered yet" not in page
    assert f"python analyses/fake_study.py --out {out} --quick" in _text(page)
    index = (site / "gallery.html").read_text(encoding="utf-8")
    assert 'src="gallery/fake_study/curve.png"' in index and 'href="gallery/fake_study.html"' in index


def test_gallery_runner_renders_quick_mode_and_skips_rendered(tmp_path, monkeypatch):
    root, gallery = _fake_project(tmp_path)
    monkeypatch.setenv("NEUROPERCEPTION_GALLERY_DIR", str(gallery))
    hook = _hook("gallery")
    (analysis,) = hook.find_analyses(root)
    assert not analysis.rendered
    assert hook.command(analysis, root) == f"python analyses/fake_study.py --out {gallery / 'fake_study'} --quick"
    assert hook.render(root=root) == []
    scores = gallery / "fake_study" / "scores.csv"
    assert scores.read_text() == "model,score\nridge,0.5\n"  # the quick mode ran
    scores.write_text("model,score\nridge,0.7\n")
    assert hook.render(root=root) == []
    assert scores.read_text() == "model,score\nridge,0.7\n"  # already rendered: skipped
    assert hook.render(root=root, force=True) == []
    assert scores.read_text() == "model,score\nridge,0.5\n"
    # a failing run is reported, marked, and shown as such on its page
    (root / "analyses" / "fake_study.py").write_text(FAKE_SCRIPT + "raise SystemExit('boom')\n")
    assert hook.render(root=root, force=True) == ["fake_study"]
    (analysis,) = hook.find_analyses(root)
    assert analysis.failed and not analysis.rendered
    assert "The last run failed" in hook.render_page(analysis, root)


# --------------------------------------------------------------------------------- docstrings
def _has_examples(doc: str | None) -> bool:
    return bool(doc) and re.search(r"^\s*Examples\n\s*-{8,}\s*$", doc, re.MULTILINE) is not None and ">>>" in doc


def test_every_public_name_has_a_numpy_docstring_with_examples():
    offenders = []
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"neuroperception.{sub}")
        names = getattr(module, "__all__", None)
        if names is None:
            offenders.append(f"neuroperception.{sub}: no __all__")
            continue
        for name in names:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj) or isinstance(obj, types.ModuleType)):
                continue  # constants carry no docstring of their own
            if not _has_examples(obj.__doc__):
                offenders.append(f"neuroperception.{sub}.{name}")
    assert not offenders, f"{len(offenders)} public names without a numpy 'Examples' section: {offenders}"


# --------------------------------------------------------------------- demo report documentation links
def test_report_links_sections_to_the_built_site(tmp_path):
    from neuroperception.errors import InputError
    from neuroperception.plotting.report import Report, doc_href

    r = Report(tmp_path, "T", docs_url="file:///x/site/")
    r.section("Scoring", "x", doc="encoding.md#scoring")
    r.section("No doc")
    text = r.write().read_text(encoding="utf-8")
    assert ("<header><h2>Scoring</h2><p class='doc'><a href='file:///x/site/encoding.html#scoring'>"
            "Documentation for this section</a></p></header>") in text
    assert "<header><h2>No doc</h2></header>" in text
    assert doc_href("a/b.md", docs_url="https://h/docs") == "https://h/docs/a/b.html"
    with pytest.raises(InputError, match="expected at most one of them"):
        Report(tmp_path, "T", docs_root="../docs", docs_url="https://h/docs")


def test_demo_sections_link_to_existing_pages(tmp_path, monkeypatch):
    from neuroperception.demo import registry

    registered = [name for name, _ in registry._SECTIONS]
    assert registered
    missing = [n for n in registered if n not in registry.DOC_PAGES]
    assert not missing, f"demo sections without a page in DOC_PAGES: {missing}"
    explicit = set()
    for module in (ROOT / "neuroperception" / "demo").glob("*.py"):
        explicit |= set(re.findall(r'\bdoc="([^"]+)"', module.read_text(encoding="utf-8")))
    pages = {registry.DOC_PAGES[n] for n in registered} | explicit
    absent = sorted(p for p in pages if not (DOCS / p.partition("#")[0]).is_file())
    assert not absent, f"demo sections link to pages that do not exist in docs/: {absent}"

    # run_demo: a report section without doc= links to its demo section's page, explicit doc= wins
    def plain(ctx, report):
        report.section("Plain")

    def explicit_doc(ctx, report):
        report.section("Own page", doc="rsa.md")

    monkeypatch.setattr(registry, "_SECTIONS", [("encoding", plain), ("similarity", explicit_doc)])
    text = registry.run_demo(tmp_path, quick=True, docs_url="https://h/docs").read_text()
    assert "<h2>Plain</h2><p class='doc'><a href='https://h/docs/encoding.html'>" in text
    assert "<h2>Own page</h2><p class='doc'><a href='https://h/docs/rsa.html'>" in text


def test_docs_location_order(monkeypatch):
    from neuroperception.demo import registry

    monkeypatch.setenv("NEUROPERCEPTION_DOCS_URL", "https://env/docs/")
    assert registry.docs_location() == {"docs_url": "https://env/docs/"}
    assert registry.docs_location("https://arg/") == {"docs_url": "https://arg/"}
    monkeypatch.delenv("NEUROPERCEPTION_DOCS_URL")
    expected = ({"docs_url": (ROOT / "site").as_uri() + "/"} if (ROOT / "site" / "index.html").is_file()
                else {"docs_root": DOCS.as_uri() + "/"})
    assert registry.docs_location() == expected
