"""Several subjects' responses held together: each subject keeps its own voxels, joined by ``stimulus_id``.

A :class:`Subjects` maps subject names (``"subj01"``...) to response arrays ``("stimulus", "voxel")``
(or ``("repeat", "stimulus", "voxel")``) as :func:`~neuroperception.data.make_responses` builds them.
Subjects may have different voxels, ROIs and stimuli; nothing is ever stacked across subjects: they
are related only through the stimuli they share (:meth:`Subjects.shared_stimuli`), as NSD's eight
subjects are through the images all of them saw.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import check_responses, describe
from ..errors import InputError

__all__ = ["Subjects", "load_subjects"]

_FORMAT = "neuroperception.Subjects"


def _subject_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise InputError(f"subject: received {name!r}; expected a non-empty str without '/' (e.g. 'subj01'), "
                         "usable as a group name of a NetCDF file")
    return name


def _subject_responses(name: str, responses: Any) -> xr.DataArray:
    label = f"responses[{name!r}]"
    if not isinstance(responses, xr.DataArray):
        raise InputError(f"{label}: received {describe(responses)}; expected an xarray.DataArray "
                         "('stimulus', 'voxel') with a stimulus_id coordinate (make_responses(values, ids))")
    da = check_responses(responses, allow_repeats=True, allow_nan="repeat" in responses.dims, name=label)
    if "stimulus_id" not in da.coords:
        raise InputError(f"{label}: received responses without stimulus_id; expected a stimulus_id coordinate "
                         "(subjects are joined by stimulus only through their ids)")
    if da.sizes["stimulus"] == 0 or da.sizes["voxel"] == 0:
        raise InputError(f"{label}: received {dict(da.sizes)}; expected at least one stimulus and one voxel")
    if "subject" in da.coords:
        found = sorted(set(np.asarray(da["subject"].values).astype(str).ravel().tolist()))
        if found != [name]:
            raise InputError(f"{label}: received a subject coordinate holding {found[:5]}; expected only {name!r} "
                             "(the key the responses are stored under)")
    else:
        da = da.assign_coords(subject=("voxel", np.full(da.sizes["voxel"], name)))
    return da


class Subjects(Mapping):
    """Several subjects' responses, keyed by subject, each with its own voxels and stimuli.

    A read-only mapping subject → responses: ``subjects["subj01"]``, ``len(subjects)``, iteration over
    the subject names in the order given, ``.items()``. Each response array keeps its own voxels (with
    their ``roi``, ``x/y/z``... coordinates) and its own stimuli; a per-voxel ``subject`` coordinate
    holding the key is added where missing.

    Parameters
    ----------
    responses : mapping of str to xarray.DataArray
        Subject name → ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")`` responses with a
        ``stimulus_id`` coordinate (as :func:`~neuroperception.data.make_responses` returns them).

    Raises
    ------
    InputError
        No subjects, a name that is not a plain string, responses that are not labelled arrays, lack
        ``stimulus_id``, or carry a ``subject`` coordinate that disagrees with their key.

    Examples
    --------
    >>> import numpy as np
    >>> from neuroperception.data import make_responses
    >>> subs = Subjects({"subj01": make_responses(np.zeros((3, 4)), ["a", "b", "c"], roi="V1"),
    ...                  "subj02": make_responses(np.ones((2, 6)), ["c", "a"], roi="V1")})
    >>> list(subs), subs.shared_stimuli()
    (['subj01', 'subj02'], ['a', 'c'])
    >>> {s: r.shape for s, r in subs.select(stimulus_id=["a", "c"]).items()}
    {'subj01': (2, 4), 'subj02': (2, 6)}
    """

    def __init__(self, responses: Mapping[str, xr.DataArray]):
        if isinstance(responses, Subjects):
            responses = dict(responses.items())
        if not isinstance(responses, Mapping) or not responses:
            raise InputError(f"responses: received {describe(responses)}; expected a non-empty mapping "
                             "subject -> xarray.DataArray ('stimulus', 'voxel')")
        self._data = {}
        for name, da in responses.items():
            name = _subject_name(name)
            self._data[name] = _subject_responses(name, da)

    def __getitem__(self, subject: str) -> xr.DataArray:
        try:
            return self._data[subject]
        except KeyError:
            raise KeyError(f"subject: received {subject!r}; expected one of {list(self._data)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        parts = ", ".join(f"{s}: {r.sizes['stimulus']} stimuli x {r.sizes['voxel']} voxels"
                          for s, r in self._data.items())
        return f"Subjects({parts})"

    @property
    def subjects(self) -> list[str]:
        """The subject names, in order."""
        return list(self._data)

    def stimulus_ids(self, subject: str) -> list[str]:
        """The ``stimulus_id`` values one subject saw, in its array's order.

        Examples
        --------
        >>> import numpy as np
        >>> from neuroperception.data import make_responses
        >>> Subjects({"s1": make_responses(np.zeros((2, 1)), ["b", "a"])}).stimulus_ids("s1")
        ['b', 'a']
        """
        return np.asarray(self[subject]["stimulus_id"].values).astype(str).tolist()

    def shared_stimuli(self) -> list[str]:
        """The ids seen by every subject, in the first subject's order (empty when there are none).

        Examples
        --------
        >>> import numpy as np
        >>> from neuroperception.data import make_responses
        >>> Subjects({"s1": make_responses(np.zeros((3, 1)), ["a", "b", "c"]),
        ...           "s2": make_responses(np.zeros((2, 1)), ["c", "b"])}).shared_stimuli()
        ['b', 'c']
        """
        common = set.intersection(*(set(self.stimulus_ids(s)) for s in self))
        return [i for i in self.stimulus_ids(self.subjects[0]) if i in common]

    def stimulus_table(self) -> pd.DataFrame:
        """Which subject saw which stimulus: a boolean table, one row per ``stimulus_id``, one column per subject.

        Rows are in order of first appearance over the subjects.

        Examples
        --------
        >>> import numpy as np
        >>> from neuroperception.data import make_responses
        >>> t = Subjects({"s1": make_responses(np.zeros((2, 1)), ["a", "b"]),
        ...               "s2": make_responses(np.zeros((1, 1)), ["b"])}).stimulus_table()
        >>> t.to_dict("index")
        {'a': {'s1': True, 's2': False}, 'b': {'s1': True, 's2': True}}
        """
        ids = list(dict.fromkeys(i for s in self for i in self.stimulus_ids(s)))
        table = pd.DataFrame({s: pd.Index(ids).isin(self.stimulus_ids(s)) for s in self}, index=ids)
        table.index.name = "stimulus_id"
        return table

    def select(self, stimulus_id: Any = None, subject: Any = None) -> Subjects:
        """A new :class:`Subjects` restricted to some stimuli and/or subjects.

        Parameters
        ----------
        stimulus_id : str or sequence of str, optional
            The stimuli to keep. Each subject keeps those it saw, in the order given here (so the
            shared stimuli of every subject line up position by position); a subject that saw none of
            them is left out.
        subject : str or sequence of str, optional
            The subjects to keep, in the order given.

        Returns
        -------
        Subjects

        Raises
        ------
        InputError
            Unknown subjects, ids that no subject saw, duplicated ids, or a selection that leaves no subject.

        Examples
        --------
        >>> import numpy as np
        >>> from neuroperception.data import make_responses
        >>> subs = Subjects({"s1": make_responses(np.arange(3.)[:, None], ["a", "b", "c"]),
        ...                  "s2": make_responses(np.zeros((1, 1)), ["c"])})
        >>> subs.select(stimulus_id=["c", "a"])["s1"].values.ravel().tolist()
        [2.0, 0.0]
        >>> list(subs.select(stimulus_id="a"))   # s2 never saw "a"
        ['s1']
        """
        names = self.subjects
        if subject is not None:
            names = [subject] if isinstance(subject, str) else list(subject)
            unknown = [s for s in names if s not in self._data]
            if unknown or not names or len(set(names)) != len(names):
                raise InputError(f"subject: received {names!r}; expected distinct subjects among {self.subjects}")
        out = {s: self._data[s] for s in names}
        if stimulus_id is not None:
            ids = [stimulus_id] if isinstance(stimulus_id, str) else [str(i) for i in np.asarray(stimulus_id).ravel()]
            if len(set(ids)) != len(ids):
                dup = sorted({i for i in ids if ids.count(i) > 1})
                raise InputError(f"stimulus_id: received duplicated ids {dup[:5]}; expected each id once")
            seen = {s: set(self.stimulus_ids(s)) for s in names}
            unseen = [i for i in ids if not any(i in v for v in seen.values())]
            if unseen:
                raise InputError(f"stimulus_id: {len(unseen)} ids were seen by none of the subjects {names} "
                                 f"(first: {unseen[:5]}); expected ids of their responses")
            out = {}
            for s in names:
                keep = [i for i in ids if i in seen[s]]
                if keep:
                    da = self._data[s]
                    pos = pd.Index(np.asarray(da["stimulus_id"].values).astype(str)).get_indexer(keep)
                    out[s] = da.isel(stimulus=pos)
        if not out:
            raise InputError(f"select: received stimulus_id={stimulus_id!r}, subject={subject!r}; expected a "
                             "selection that leaves at least one subject")
        return Subjects(out)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write every subject to one NetCDF file (``.nc``), one group per subject; loading is exact.

        Read it back with :func:`load_subjects`. An existing file is never replaced unless
        ``overwrite=True``.

        Examples
        --------
        >>> import numpy as np, os, tempfile
        >>> from neuroperception.data import make_responses
        >>> subs = Subjects({"subj01": make_responses(np.zeros((2, 3)), ["a", "b"], roi=["V1", "V1", "IT"])})
        >>> p = subs.save(os.path.join(tempfile.mkdtemp(), "subjects.nc"))
        >>> load_subjects(p)["subj01"].identical(subs["subj01"])
        True
        """
        path = Path(path)
        if path.suffix.lower() not in (".nc", ".nc4", ".h5"):
            raise InputError(f"path: received {str(path)!r}; expected a name ending in .nc (NetCDF, one group "
                             "per subject)")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        root = xr.Dataset(attrs={"format": _FORMAT, "subjects": list(self.subjects)})
        root.to_netcdf(path, engine="h5netcdf", mode="w")
        for s, da in self._data.items():
            name = str(da.name or "responses")
            ds = da.to_dataset(name=name)
            ds.attrs["neuroperception_variable"] = name
            ds.to_netcdf(path, engine="h5netcdf", mode="a", group=s)
        return path


def load_subjects(path: str | os.PathLike) -> Subjects:
    """Read subjects written by :meth:`Subjects.save`, every coordinate and attribute as it was.

    Raises
    ------
    FileNotFoundError
        No such file.
    InputError
        A file that :meth:`Subjects.save` did not write.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from neuroperception.data import make_responses
    >>> subs = Subjects({"s1": make_responses(np.zeros((2, 1)), ["a", "b"]),
    ...                  "s2": make_responses(np.ones((1, 2)), ["b"])})
    >>> load_subjects(subs.save(os.path.join(tempfile.mkdtemp(), "s.nc"))).shared_stimuli()
    ['b']
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such subjects file")
    root = xr.load_dataset(path, engine="h5netcdf")
    if root.attrs.get("format") != _FORMAT:
        raise InputError(f"{path}: received a file without the attribute format={_FORMAT!r}; expected a file "
                         "written by Subjects.save")
    names = np.atleast_1d(root.attrs["subjects"]).astype(str).tolist()
    out = {}
    for s in names:
        ds = xr.load_dataset(path, engine="h5netcdf", group=s)
        name = ds.attrs.pop("neuroperception_variable", None) or next(iter(ds.data_vars))
        da = ds[name]
        for key in da.coords:
            if da[key].dtype.kind == "O":
                da[key] = da[key].astype(str)
        out[s] = da
    return Subjects(out)
