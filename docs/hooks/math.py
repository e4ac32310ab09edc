"""MkDocs hook: TeX between ``$...$`` / ``$$...$$`` becomes MathML when the site is built.

``pymdownx.arithmatex`` (generic mode) marks the maths up as ``<span class="arithmatex">\\(...\\)</span>``
and ``<div class="arithmatex">\\[...\\]</div>``; this hook converts each with ``latex2mathml`` into
MathML, which browsers render natively. The site then shows typeset maths without a JavaScript
renderer or a network connection. A formula that cannot be converted fails the build, naming the
page and the formula.
"""

from __future__ import annotations

import html
import re

_MATH = re.compile(r'<(span|div) class="arithmatex">\s*\\([(\[])(.*?)\\[)\]]\s*</\1>', re.S)


def to_mathml(page_html: str, where: str = "page") -> str:
    """Replace every arithmatex formula in ``page_html`` by MathML (inline or display)."""
    from latex2mathml.converter import convert

    def replace(match: re.Match) -> str:
        tex = html.unescape(match.group(3)).strip()
        try:
            return convert(tex, display="block" if match.group(2) == "[" else "inline")
        except Exception as err:  # noqa: BLE001 - any converter failure is reported with its formula
            raise ValueError(f"{where}: cannot convert the formula {tex!r} to MathML ({err})") from err

    return _MATH.sub(replace, page_html)


def on_page_content(html_text: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs hook signature
    return to_mathml(html_text, page.file.src_path)
