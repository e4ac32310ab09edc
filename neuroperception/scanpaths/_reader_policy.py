"""What every scanpath reader does with fixations off the image and with scanpaths left without fixations.

Real files hold both: COCO-Search18's fixation JSON has a few fixations just off the 1680x1050
display, and pysaliency's MIT1003 export keeps a scanpath whose fixations all fell outside the image
as an empty row. Every reader passes its rows through :func:`_apply_reader_policy`, so they all
follow one rule:

``off_display`` (fixations outside ``0 <= x < width``, ``0 <= y < height`` of their image)
    ``"keep"`` (default) keeps them unchanged and returns a table that allows them;
    ``"drop"`` removes them (the remaining fixations of a scanpath are renumbered from 0);
    ``"clip"`` moves them onto the image's edge pixels: ``x`` into ``[0, width - 1]``, ``y`` into
    ``[0, height - 1]``. Each issues one ``UserWarning`` with the count, per source file.
``empty`` (scanpaths without fixations, in the file or after ``off_display="drop"``)
    ``"drop"`` (default) leaves them out with one ``UserWarning`` with the count; ``"raise"`` makes
    them an :class:`~neuroperception.errors.InputError`. A :class:`~.table.Scanpaths` table has one
    row per fixation, so it cannot hold a scanpath without one: there is no ``"keep"``.

Scanpath ids are renumbered ``0..n-1`` in source order after the policy.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .table import Scanpaths

OFF_DISPLAY_CHOICES = ("keep", "drop", "clip")
EMPTY_CHOICES = ("drop", "raise")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _check_policy(off_display: str, empty: str) -> None:
    """Raise an InputError for an ``off_display`` or ``empty`` value outside the choices."""
    if off_display not in OFF_DISPLAY_CHOICES:
        raise InputError(f"off_display: received {off_display!r}; expected one of {list(OFF_DISPLAY_CHOICES)} "
                         "(what to do with fixations outside their image)")
    if empty == "keep":
        raise InputError("empty: received 'keep', but a Scanpaths table has one row per fixation and cannot hold a "
                         "scanpath without fixations; expected 'drop' (warns with the count) or 'raise'")
    if empty not in EMPTY_CHOICES:
        raise InputError(f"empty: received {empty!r}; expected one of {list(EMPTY_CHOICES)} "
                         "(what to do with scanpaths without fixations)")


def _user_stacklevel() -> int:
    """The stack level of the first caller outside the package, so a warning names the user's line."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _describe_path(table: pd.DataFrame, scanpath: int) -> str:
    row = table.loc[table["scanpath"] == scanpath].iloc[0]
    subject = f", subject {row['subject']}" if "subject" in table.columns and str(row["subject"]) else ""
    return f"scanpath {scanpath} ({row['stimulus_id']}{subject})"


def _off_display(table: pd.DataFrame, sizes: Mapping[str, tuple[int, int]]) -> tuple[np.ndarray, ...]:
    """Per-row height, width (inf for images without a size) and the mask of fixations outside them."""
    frame = table["stimulus_id"].astype(str).map(lambda i: sizes.get(i, (np.inf, np.inf)))
    h = np.array([s[0] for s in frame], dtype=float)
    w = np.array([s[1] for s in frame], dtype=float)
    x = pd.to_numeric(table["x"], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(table["y"], errors="coerce").to_numpy(dtype=float)
    return h, w, (x < 0) | (y < 0) | (x >= w) | (y >= h)  # NaN compares False: the table rejects it later


def _apply_reader_policy(table: pd.DataFrame, sizes: Mapping[str, tuple[int, int]] | None, *, reader: str,
                         off_display: str = "keep", empty: str = "drop", empty_paths: Sequence[str] = (),
                         by: str | None = None) -> tuple[Scanpaths, dict[int, int]]:
    """The reader's rows as a :class:`Scanpaths` after the off-display and empty-scanpath policy.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per fixation with ``scanpath`` (ids in source order), ``fixation``, ``stimulus_id``, ``x``, ``y``.
    sizes : mapping of image id to (height, width), or None
        Images without a size are not checked.
    reader : str
        Names the reader and file in warnings and errors (``"load_coco_search18(a.json)"``).
    off_display, empty : str
        The policy (see the module docstring).
    empty_paths : sequence of str
        Descriptions of the scanpaths the source holds without any fixation (they have no rows).
    by : str, optional
        A column (e.g. the source file) by which the off-display count is broken down.

    Returns
    -------
    (Scanpaths, dict)
        The table, and the new scanpath id of each old id that survived.
    """
    _check_policy(off_display, empty)
    sizes = {str(k): (int(v[0]), int(v[1])) for k, v in (sizes or {}).items()}
    table = table.reset_index(drop=True)
    source, before = table, pd.unique(table["scanpath"])
    n_off = 0
    if sizes and len(table):
        h, w, off = _off_display(table, sizes)
        n_off = int(off.sum())
    if n_off:
        first = table[off].iloc[0]
        where = ""
        if by is not None and by in table.columns:
            counts = table.loc[off, by].value_counts(sort=False)
            where = " (" + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ")"
        action = {"keep": "kept them unchanged (off_display='keep'); pass off_display='drop' to remove them or "
                          "'clip' to move them onto the image's edge",
                  "drop": "dropped them (off_display='drop')",
                  "clip": "clipped them onto the image's edge pixels (off_display='clip')"}[off_display]
        warnings.warn(f"{reader}: {n_off} of {len(table)} fixations lie outside their image{where}, e.g. "
                      f"(x={float(first['x']):.1f}, y={float(first['y']):.1f}) on {first['stimulus_id']!r} of (height, "
                      f"width) {sizes.get(str(first['stimulus_id']))}; {action}",
                      UserWarning, stacklevel=_user_stacklevel())
        if off_display == "drop":
            table = table[~off].reset_index(drop=True)
        elif off_display == "clip":
            table = table.copy()
            table["x"] = np.where(off, np.clip(table["x"].to_numpy(dtype=float), 0, w - 1), table["x"])
            table["y"] = np.where(off, np.clip(table["y"].to_numpy(dtype=float), 0, h - 1), table["y"])
    remaining = set(table["scanpath"])
    emptied = [s for s in before if s not in remaining]
    n_empty = len(empty_paths) + len(emptied)
    if n_empty:
        examples = list(empty_paths[:3])
        examples += [f"{_describe_path(source, s)}, all of whose fixations were off the image"
                     for s in emptied[:3 - len(examples)]]
        which = f"{_count(n_empty, 'scanpath')} without fixations (e.g. {'; '.join(examples)})"
        if empty == "raise":
            raise InputError(f"{reader}: {which}; expected at least one fixation per scanpath (or pass empty='drop' "
                             "to leave them out with a warning)")
        warnings.warn(f"{reader}: left out {which}; a Scanpaths table holds only scanpaths with fixations "
                      "(empty='drop'); pass empty='raise' to make this an error",
                      UserWarning, stacklevel=_user_stacklevel())
    if not len(table):
        raise InputError(f"{reader}: no fixation left (off_display={off_display!r}, empty={empty!r}); expected at "
                         "least one scanpath with fixations")
    new_ids, old_ids = pd.factorize(table["scanpath"], sort=True)
    table = table.assign(scanpath=new_ids)
    if off_display == "drop" and n_off:
        table = table.sort_values(["scanpath", "fixation"], kind="stable")
        table["fixation"] = table.groupby("scanpath", sort=False).cumcount()
    out = Scanpaths(table, sizes=sizes or None, allow_off_display=off_display == "keep" and n_off > 0)
    return out, {int(old): k for k, old in enumerate(old_ids)}
