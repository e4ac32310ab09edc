"""Griffe extension: fill the shared parameter descriptions into docstrings read from the source.

mkdocstrings reads docstrings statically, before ``@fill_doc`` could run, so the API pages would
show ``%(random_state)s``. This extension fills them from ``neuroperception._docs.PARAMETERS``, the
same text ``help()`` shows. Loaded in ``mkdocs.yml`` (``extensions:`` of the python handler).
"""

from __future__ import annotations

from typing import Any

import griffe
from neuroperception import _docs


class FillDoc(griffe.Extension):
    """Replace ``%(name)s`` lines of every docstring by the shared descriptions."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None or obj.path.startswith("neuroperception._docs"):
            return
        if _docs._keys(obj.docstring.value):
            obj.docstring.value = _docs.fill_docstring(obj.docstring.value, obj.path)
