"""Shared parameter descriptions, written once and filled into numpy-style docstrings.

A parameter that means the same thing across the API (``random_state``, ``device``,
``progress``...) is described once in :data:`PARAMETERS`. A docstring names it with a placeholder
on a line of its own, indented like the other parameters, and the function or class is decorated
with :func:`fill_doc`::

    @fill_doc
    def simulate(n, *, random_state=0):
        '''Simulate things.

        Parameters
        ----------
        n : int
            How many.
        %(random_state)s
        '''

The documentation site fills the same placeholders when it reads docstrings from the source
(``docs/hooks/fill_doc.py``), so the reference pages show the same text as ``help()``.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from .errors import InputError

__all__ = ["PARAMETERS", "fill_doc", "fill_docstring"]

T = TypeVar("T")

#: One description per shared parameter: the numpy-style entry (name, type and default, then the
#: description indented by four spaces).
PARAMETERS: dict[str, str] = {
    "random_state": """\
random_state : int, numpy.random.Generator or None, default 0
    Seed of the call's random draws. An int (>= 0) gives the same result on every call; a
    ``numpy.random.Generator`` is drawn from (its stream advances, so successive calls
    differ); None takes fresh entropy from the operating system: the result is not reproducible.
    Anything else is an ``InputError``.""",
    "device": """\
device : str, torch.device or None, default None
    Where the computation runs. None takes the GPU (``"cuda"``) when torch sees one, else the CPU;
    ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device`` choose one (a device this machine
    lacks is an ``InputError``).""",
    "progress": """\
progress : bool or None, default None
    Show a progress bar. None (auto) shows one in an interactive session (stderr a terminal, or a
    notebook) unless bars are switched off for the package (``neuroperception.set_progress(False)``
    or ``NEUROPERCEPTION_PROGRESS=0``) or the ``CI`` environment variable is set; True or False
    force it on or off.""",
    "batch_size": """\
batch_size : int
    Items per forward pass: memory against speed. The results do not depend on it (up to
    floating-point rounding).""",
    "weights": """\
weights : None, "random", path or str, default None
    The network's weights, as for :func:`~neuroperception.features.load_model`. None: the
    weights that ship with the package for models that have them, else a seeded random init with
    a :class:`~neuroperception.errors.RandomWeightsWarning`; ``"random"``: the random init asked
    for on purpose (no warning); a path: a state dict; ``"DEFAULT"`` or another tag: looked up in
    the local cache (``MissingWeightsError`` when absent). Nothing is downloaded.""",
    "stimulus_id": """\
stimulus_id : sequence of str, optional
    Ids of the stimuli, the key every result is aligned on, for input that carries none (an
    ``ImageSet`` or a labelled array has its own); ``stim0000``, ``stim0001``... otherwise.""",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<key>[A-Za-z_]\w*)\)s[ \t]*$", re.MULTILINE)
_STRAY = re.compile(r"%\([A-Za-z_]\w*\)s")


def fill_docstring(doc: str | None, where: str = "docstring") -> str | None:
    """Replace every ``%(name)s`` line of ``doc`` by the shared description of ``name``.

    Parameters
    ----------
    doc : str or None
        A numpy-style docstring (None passes through: docstrings stripped by ``python -OO``).
    where : str
        What the docstring belongs to, for error messages.

    Returns
    -------
    str or None

    Raises
    ------
    InputError
        A placeholder with no entry in :data:`PARAMETERS`, or one that is not on a line of its own.

    Examples
    --------
    >>> print(fill_docstring("Parameters\\n----------\\n%(batch_size)s"))
    Parameters
    ----------
    batch_size : int
        Items per forward pass: memory against speed. The results do not depend on it (up to
        floating-point rounding).
    """
    if doc is None:
        return None

    def entry(match: re.Match) -> str:
        key, indent = match["key"], match["indent"]
        if key not in PARAMETERS:
            raise InputError(f"{where}: received the placeholder %({key})s; expected one of "
                             f"{sorted(PARAMETERS)} (neuroperception._docs.PARAMETERS)")
        return "\n".join(indent + line if line else line for line in PARAMETERS[key].splitlines())

    filled = _PLACEHOLDER.sub(entry, doc)
    stray = _STRAY.search(filled)
    if stray:
        raise InputError(f"{where}: received {stray.group()} inside a line; expected each placeholder on a line "
                         "of its own, indented like the other parameters")
    return filled


def fill_doc(obj: T) -> T:
    """Decorator: fill the shared parameter descriptions into a function's or class's docstring.

    Parameters
    ----------
    obj : function or class
        Its ``__doc__`` is filled in place (for a class, the class docstring, where numpy style
        documents the constructor's parameters).

    Returns
    -------
    The same object.

    Examples
    --------
    >>> @fill_doc
    ... def draw(n, *, random_state=0):
    ...     '''Draw ``n`` numbers.
    ...
    ...     Parameters
    ...     ----------
    ...     %(random_state)s
    ...     '''
    >>> "fresh entropy" in draw.__doc__
    True
    """
    where = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    obj.__doc__ = fill_docstring(obj.__doc__, where)
    return obj


def _keys(doc: Any) -> list[str]:
    """The placeholders of a docstring (used by the docs hook and the conventions test)."""
    return [m["key"] for m in _PLACEHOLDER.finditer(doc or "")]
