"""Progress bars: one rule for every long call of the package.

Every call that can run for minutes takes ``progress=None``. None means *auto*: a bar is shown when

1. bars are switched on for the package (:func:`set_progress`, or the environment variable
   ``NEUROPERCEPTION_PROGRESS=0/1``; on by default),
2. the session is interactive: stderr is a terminal, or the code runs in a Jupyter kernel, and
3. the ``CI`` environment variable is not set.

``progress=True`` or ``False`` forces a bar on or off for that call, whatever the switch says.
Bars are tqdm bars written to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["set_progress", "get_progress", "show_progress", "check_progress", "progress_bar"]

ENV_VAR = "NEUROPERCEPTION_PROGRESS"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
#: The package-level switch set by :func:`set_progress`; None defers to ``NEUROPERCEPTION_PROGRESS``.
_SWITCH: bool | None = None


def set_progress(enabled: bool | None) -> bool | None:
    """Switch progress bars on or off for the whole package.

    Parameters
    ----------
    enabled : bool or None
        True or False switch bars of every ``progress=None`` call on or off (calls given
        ``progress=True/False`` are unaffected); None returns to the environment variable
        ``NEUROPERCEPTION_PROGRESS`` (``0`` off, ``1`` on; on when unset).

    Returns
    -------
    bool or None
        The previous setting, to restore it later.

    Examples
    --------
    >>> import neuroperception as npc
    >>> previous = npc.set_progress(False)      # no bars, even in a terminal
    >>> npc.get_progress()
    False
    >>> _ = npc.set_progress(previous)
    """
    global _SWITCH
    if enabled is not None and not isinstance(enabled, (bool, np.bool_)):
        raise InputError(f"enabled: received {type(enabled).__name__} {enabled!r}; expected True, False or None "
                         f"(None: follow {ENV_VAR})")
    previous, _SWITCH = _SWITCH, None if enabled is None else bool(enabled)
    return previous


def get_progress() -> bool:
    """Whether progress bars are switched on for the package (:func:`set_progress`, then the env var).

    Examples
    --------
    >>> isinstance(get_progress(), bool)
    True
    """
    if _SWITCH is not None:
        return _SWITCH
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value == "" or value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(f"{ENV_VAR}: received {value!r}; expected 0 or 1")


def _interactive() -> bool:
    """A terminal on stderr, or a Jupyter kernel (whose stderr is no terminal but shows bars)."""
    stream = sys.stderr
    try:
        if stream is not None and stream.isatty():
            return True
    except (AttributeError, ValueError):  # closed or replaced streams
        pass
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ip = getattr(shell, "get_ipython", lambda: None)()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def check_progress(progress: Any, name: str = "progress") -> bool | None:
    """Validate a ``progress`` argument: True, False or None (auto).

    Examples
    --------
    >>> check_progress(None) is None, check_progress(False)
    (True, False)
    """
    if progress is None or isinstance(progress, (bool, np.bool_)):
        return None if progress is None else bool(progress)
    raise InputError(f"{name}: received {type(progress).__name__} {progress!r}; expected True, False or None "
                     "(None: a bar in an interactive session when bars are switched on)")


def show_progress(progress: Any = None, name: str = "progress") -> bool:
    """Resolve a ``progress`` argument: whether this call shows a bar.

    Parameters
    ----------
    progress : bool or None
        True or False force the answer; None is *auto*: the package switch is on, the session is
        interactive (a terminal on stderr, or a notebook) and ``CI`` is not set.
    name : str
        Name used in error messages.

    Returns
    -------
    bool

    Examples
    --------
    >>> show_progress(True), show_progress(False)
    (True, False)
    """
    progress = check_progress(progress, name)
    if progress is not None:
        return progress
    return get_progress() and "CI" not in os.environ and _interactive()


def progress_bar(iterable: Iterable | None = None, progress: Any = None, **tqdm_kwargs):
    """A tqdm bar over ``iterable`` that is shown or not by the package's rule (:func:`show_progress`).

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over; None for a bar updated by hand (``total=`` and ``bar.update``).
    progress : bool or None
        The caller's ``progress`` argument.
    **tqdm_kwargs
        Passed to ``tqdm`` (``desc``, ``total``, ``unit``, ``leave``...).

    Returns
    -------
    tqdm.auto.tqdm
        Disabled (and costing next to nothing) when no bar is shown; usable as a context manager.

    Examples
    --------
    >>> sum(progress_bar(range(4), progress=False, desc="adding"))
    6
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not show_progress(progress), **tqdm_kwargs)
