"""Input handling shared by the alignment estimators: responses, pairing by stimulus_id, labelled output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .._validation import check_alignment, check_responses, describe
from ..data import Subjects, average_repeats
from ..errors import InputError


def responses(x: Any, name: str) -> xr.DataArray:
    """``("stimulus", "voxel")`` float responses (repeats averaged), labelled or not."""
    if isinstance(x, (xr.DataArray, np.ndarray)) or hasattr(x, "detach"):
        da = check_responses(x, allow_repeats=True, allow_nan=isinstance(x, xr.DataArray) and "repeat" in x.dims,
                             name=name)
    else:
        raise InputError(f"{name}: received {describe(x)}; expected responses ('stimulus', 'voxel'): an "
                         "xarray.DataArray with stimulus_id, or a numpy array")
    if "repeat" in da.dims:
        da = average_repeats(da)
    return da


def pair(X: Any, y: Any) -> tuple[xr.DataArray, xr.DataArray]:
    """Source and target responses matched stimulus by stimulus (by ``stimulus_id`` when both carry it)."""
    X, y = responses(X, "X"), responses(y, "y")
    X, y = check_alignment(X, y, names=["X", "y"])
    if X.sizes["stimulus"] < 2:
        raise InputError(f"X: received {X.sizes['stimulus']} stimulus; expected at least 2 stimuli to align")
    return X, y


def voxel_coords(da: xr.DataArray) -> dict[str, Any]:
    """The coordinates of ``da`` that live on its ``voxel`` dim only."""
    return {k: (("voxel",), np.asarray(da[k].values)) for k in da.coords if da[k].dims == ("voxel",)}


def stimulus_coords(da: xr.DataArray) -> dict[str, Any]:
    """The coordinates of ``da`` that live on its ``stimulus`` dim only."""
    return {k: (("stimulus",), np.asarray(da[k].values)) for k in da.coords if da[k].dims == ("stimulus",)}


def subjects_of(X: Any, name: str = "X") -> Subjects:
    """A :class:`~neuroperception.data.Subjects` from a Subjects or a mapping subject → responses."""
    if isinstance(X, Subjects):
        return X
    if isinstance(X, Mapping):
        return Subjects(X)
    raise InputError(f"{name}: received {describe(X)}; expected Subjects or a mapping subject -> responses "
                     "('stimulus', 'voxel') with stimulus_id")


def new_subject(X: Any, subject: Any, fitted: list[str]) -> str:
    """The name of the subject an ``adapt`` call adds: ``subject``, or the one name of ``X``'s ``subject``
    coordinate; an InputError for anything else or for a subject already fitted."""
    if subject is None and isinstance(X, xr.DataArray) and "subject" in X.coords:
        found = sorted(set(np.asarray(X["subject"].values).astype(str).ravel().tolist()))
        subject = found[0] if len(found) == 1 else found
    if not isinstance(subject, str):
        raise InputError(f"subject: received {subject!r}; expected the new subject's name (a str), or "
                         "responses whose subject coordinate holds one name")
    if subject in fitted:
        raise InputError(f"subject: received {subject!r}, which is already fitted; expected a new subject "
                         f"(fitted: {fitted})")
    return subject
