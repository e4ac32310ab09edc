"""The scanpath table: one row per fixation, grouped into scanpaths, convertible to pandas and xarray.

Every reader returns a :class:`Scanpaths`, every model produces one and every metric reads one, so
the columns are fixed:

``scanpath`` (int, one id per sequence), ``fixation`` (0-based order within it), ``stimulus_id``,
``subject``, ``x``, ``y`` (pixels, origin top-left, x to the right), ``onset``, ``duration``
(milliseconds, NaN when unknown), ``task``, ``condition``. Extra columns are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._validation import describe
from ..errors import InputError, ShapeError

__all__ = ["Scanpaths", "COLUMNS"]

COLUMNS = ("scanpath", "fixation", "stimulus_id", "subject", "x", "y", "onset", "duration", "task", "condition")
_META = ("stimulus_id", "subject", "task", "condition")
_FIELDS = ("x", "y", "onset", "duration")
#: pixel columns scaled with the width / with the height by :meth:`Scanpaths.rescale`
_X_COLUMNS = ("x", "bbox_x", "bbox_w")
_Y_COLUMNS = ("y", "bbox_y", "bbox_h")


def _check_size(size: Any, name: str) -> tuple[int, int]:
    """A (height, width) of two positive integers, or an InputError naming ``name``."""
    try:
        values = np.asarray(size, dtype=float)
    except (TypeError, ValueError):
        values = np.full(1, np.nan)
    if values.shape != (2,) or not (np.isfinite(values).all() and (values > 0).all()
                                    and (values == np.round(values)).all()):
        raise InputError(f"{name}: received {size!r}; expected (height, width) as two positive integers")
    return int(values[0]), int(values[1])


class Scanpaths:
    """Fixation sequences over images, as a validated table.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per fixation with at least ``stimulus_id``, ``x``, ``y``. Missing columns are filled:
        ``subject``/``task``/``condition`` with ``""``, ``onset``/``duration`` with NaN,
        ``scanpath`` by grouping rows on (stimulus_id, subject, task, condition) in order of appearance,
        ``fixation`` by row order within each scanpath.
    sizes : mapping of stimulus id to (height, width), optional
        When given, fixations outside their image are an error, unless ``allow_off_display``.
    allow_off_display : bool
        Keep the ``sizes`` but accept fixations outside their image (readers set it when asked
        to keep the few off-display fixations real recordings hold). Non-finite coordinates stay an error.

    Examples
    --------
    >>> import numpy as np
    >>> sp = Scanpaths.from_arrays([np.array([[10, 20], [30, 40]]), np.array([[5, 5]])],
    ...                            stimulus_id=["cat", "dog"], subjects=["s1", "s1"])
    >>> len(sp), sp.n_fixations
    (2, 3)
    >>> sp.arrays()[0].tolist()
    [[10.0, 20.0], [30.0, 40.0]]
    >>> import pandas as pd
    >>> off = pd.DataFrame({"stimulus_id": ["a", "a"], "x": [4.0, 12.5], "y": [3.0, 5.0]})  # x=12.5: off a 10x10 image
    >>> Scanpaths(off, {"a": (10, 10)}, allow_off_display=True).n_fixations
    2
    """

    def __init__(self, table: pd.DataFrame, sizes: Mapping[str, tuple[int, int]] | None = None, *,
                 allow_off_display: bool = False):
        if not isinstance(table, pd.DataFrame):
            raise InputError(f"table: received {type(table).__name__}; expected a pandas DataFrame")
        missing = [c for c in ("stimulus_id", "x", "y") if c not in table.columns]
        if missing:
            raise InputError(f"table: missing columns {missing} (found {list(table.columns)}); "
                             "expected at least stimulus_id, x, y")
        df = table.copy().reset_index(drop=True)
        for col in ("subject", "task", "condition"):
            if col not in df.columns:
                df[col] = ""
        for col in ("stimulus_id", "subject", "task", "condition"):
            df[col] = df[col].astype(str)
        for col in ("onset", "duration"):
            if col not in df.columns:
                df[col] = np.nan
        for col in _FIELDS:
            values = pd.to_numeric(df[col], errors="coerce").astype(float)
            garbled = values.isna() & df[col].notna() & (df[col].astype(str).str.strip() != "")
            if garbled.any():
                raise InputError(f"table: column {col!r} holds {int(garbled.sum())} values that are not numbers "
                                 f"(e.g. {df.loc[garbled, col].iloc[0]!r} in row {int(np.flatnonzero(garbled)[0])}); "
                                 "expected numbers (empty or NaN for unknown)")
            df[col] = values
        bad = ~np.isfinite(df[["x", "y"]].to_numpy()).all(axis=1)
        if bad.any():
            raise InputError(f"table: {int(bad.sum())} fixations with NaN/Inf x or y (first rows: "
                             f"{np.nonzero(bad)[0][:5].tolist()}); expected finite pixel coordinates")
        if "scanpath" not in df.columns:
            keys = df[list(_META)].apply(tuple, axis=1)
            df["scanpath"] = pd.factorize(keys)[0]
        df["scanpath"] = df["scanpath"].astype(int)
        if "fixation" not in df.columns:
            df["fixation"] = df.groupby("scanpath", sort=False).cumcount()
        df["fixation"] = df["fixation"].astype(int)
        df = df.sort_values(["scanpath", "fixation"], kind="stable").reset_index(drop=True)
        if df.duplicated(["scanpath", "fixation"]).any():
            raise InputError("table: duplicated (scanpath, fixation) pairs; expected each fixation once")
        per_path = df.groupby("scanpath", sort=True)[list(_META)].nunique()
        if (per_path > 1).any().any():
            raise InputError("table: a scanpath mixes several stimulus_id/subject/task/condition values; "
                             "expected one of each per scanpath")
        order = list(COLUMNS) + [c for c in df.columns if c not in COLUMNS]
        self.table = df[order]
        if sizes is not None and not isinstance(sizes, Mapping):
            raise InputError(f"sizes: received {type(sizes).__name__}; expected a mapping of stimulus id to "
                             "(height, width)")
        self.sizes = {str(k): _check_size(v, f"sizes[{k!r}]") for k, v in (sizes or {}).items()}
        self.allow_off_display = bool(allow_off_display)
        if self.sizes and not self.allow_off_display:
            self.check_bounds(self.sizes)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_dataframe(cls, table: pd.DataFrame, sizes: Mapping[str, tuple[int, int]] | None = None, *,
                       allow_off_display: bool = False) -> "Scanpaths":
        """Build from a DataFrame (see the class docstring for the columns)."""
        return cls(table, sizes, allow_off_display=allow_off_display)

    @classmethod
    def from_arrays(cls, paths: Sequence[Any], stimulus_id: Sequence[str], subjects: Sequence[str] | None = None,
                    tasks: Sequence[str] | None = None, conditions: Sequence[str] | None = None,
                    sizes: Mapping[str, tuple[int, int]] | None = None) -> "Scanpaths":
        """Build from one ``(n, 2)`` (x, y) or ``(n, 3)`` (x, y, duration) array per scanpath."""
        if len(paths) != len(stimulus_id):
            raise ShapeError(f"stimulus_id: received {len(stimulus_id)}; expected one per scanpath ({len(paths)})")
        rows = []
        for k, p in enumerate(paths):
            arr = np.asarray(p, dtype=float)
            if arr.ndim != 2 or arr.shape[1] not in (2, 3):
                raise ShapeError(f"paths[{k}]: received {describe(arr)}; expected (n_fixations, 2) or (n, 3)")
            if arr.shape[0] == 0:
                raise InputError(f"paths[{k}]: received an empty scanpath; expected at least one fixation")
            for j, row in enumerate(arr):
                rows.append({"scanpath": k, "fixation": j, "stimulus_id": stimulus_id[k],
                             "subject": subjects[k] if subjects is not None else "",
                             "task": tasks[k] if tasks is not None else "",
                             "condition": conditions[k] if conditions is not None else "",
                             "x": row[0], "y": row[1], "duration": row[2] if arr.shape[1] == 3 else np.nan})
        return cls(pd.DataFrame(rows), sizes)

    @classmethod
    def from_xarray(cls, da: xr.DataArray) -> "Scanpaths":
        """Inverse of :meth:`to_xarray`."""
        if tuple(da.dims) != ("scanpath", "fixation", "field"):
            raise ShapeError(f"da: received dims {da.dims}; expected ('scanpath', 'fixation', 'field')")
        fields = [str(f) for f in da["field"].values]
        rows = []
        for k in range(da.sizes["scanpath"]):
            meta = {m: str(da[m].values[k]) for m in _META if m in da.coords}
            vals = da.values[k]
            for j in range(vals.shape[0]):
                rec = dict(zip(fields, vals[j]))
                if np.isnan(rec["x"]):
                    continue
                rows.append({"scanpath": int(da["scanpath"].values[k]), "fixation": j, **meta, **rec})
        return cls(pd.DataFrame(rows))

    # -- views -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.table["scanpath"].nunique())

    @property
    def n_fixations(self) -> int:
        """Total number of fixations."""
        return len(self.table)

    @property
    def meta(self) -> pd.DataFrame:
        """One row per scanpath: id, image, subject, task, condition and length."""
        g = self.table.groupby("scanpath", sort=True)
        out = g[list(_META)].first()
        out["n_fixations"] = g.size()
        return out.reset_index()

    def arrays(self, with_duration: bool = False) -> list[np.ndarray]:
        """One ``(n, 2)`` array of (x, y) per scanpath (``(n, 3)`` with durations), in scanpath order."""
        cols = ["x", "y", "duration"] if with_duration else ["x", "y"]
        return [g[cols].to_numpy(dtype=float) for _, g in self.table.groupby("scanpath", sort=True)]

    def __iter__(self) -> Iterator[tuple[pd.Series, np.ndarray]]:
        """Yield ``(meta_row, xy_array)`` per scanpath."""
        return iter(zip((row for _, row in self.meta.iterrows()), self.arrays()))

    def select(self, **criteria: Any) -> "Scanpaths":
        """Scanpaths whose columns equal the given values (a list means any of them).

        >>> import numpy as np
        >>> sp = Scanpaths.from_arrays([np.zeros((1, 2)), np.ones((2, 2))], ["a", "b"])
        >>> len(sp.select(stimulus_id="b"))
        1
        """
        mask = np.ones(len(self.table), dtype=bool)
        for col, value in criteria.items():
            if col not in self.table.columns:
                raise InputError(f"select: unknown column {col!r}; expected one of {list(self.table.columns)}")
            values = value if isinstance(value, (list, tuple, set)) else [value]
            mask &= self.table[col].isin(list(values)).to_numpy()
        return Scanpaths(self.table[mask], self.sizes, allow_off_display=self.allow_off_display)

    def check_bounds(self, sizes: Mapping[str, tuple[int, int]]) -> None:
        """Raise an :class:`InputError` for fixations outside their image (``0 <= x < width``)."""
        frame = self.table["stimulus_id"].map(lambda i: sizes.get(i, (np.inf, np.inf)))
        h = np.array([s[0] for s in frame], dtype=float)
        w = np.array([s[1] for s in frame], dtype=float)
        x, y = self.table["x"].to_numpy(), self.table["y"].to_numpy()
        out = (x < 0) | (y < 0) | (x >= w) | (y >= h)
        if out.any():
            first = self.table[out].iloc[0]
            raise InputError(
                f"{int(out.sum())} fixations fall outside their image, e.g. ({first['x']:.1f}, {first['y']:.1f}) "
                f"on {first['stimulus_id']!r} of size {sizes.get(first['stimulus_id'])} (height, width); "
                "expected 0 <= x < width and 0 <= y < height"
            )

    def rescale(self, from_size: tuple[int, int] | Mapping[str, tuple[int, int]] | None,
                to_size: tuple[int, int]) -> "Scanpaths":
        """The same scanpaths with pixel coordinates scaled from one image frame into another.

        ``x`` (and the target box columns ``bbox_x``, ``bbox_w`` of COCO-Search18) are multiplied by
        ``to_width / from_width``, ``y`` (and ``bbox_y``, ``bbox_h``) by ``to_height / from_height``:
        fixations on an image shown at ``from_size`` land on the same image content shown at
        ``to_size`` (e.g. the 1050 x 1680 COCO-Search18 display into a model's smaller frame).
        Durations, onsets and every other column are copied unchanged; this table is not modified.
        A table that allows off-display fixations (``allow_off_display``) scales them like the others
        and the result allows them too.

        Parameters
        ----------
        from_size : (height, width), mapping of image id to (height, width), or None
            The frame the coordinates are in now: one size for every image, one per image, or
            ``None`` for this table's ``sizes`` (which must then cover every image).
        to_size : (height, width)
            The frame to scale into; the result's ``sizes`` hold it for every image.

        Returns
        -------
        Scanpaths
            A new table with the scaled coordinates.

        Raises
        ------
        InputError
            Sizes that are not two positive integers, an image without a ``from_size``, or
            fixations outside their ``from_size`` frame (unless the table allows them).

        Examples
        --------
        >>> import numpy as np
        >>> sp = Scanpaths.from_arrays([np.array([[840.0, 525.0], [0.0, 1049.0]])], ["a"])
        >>> sp.rescale(from_size=(1050, 1680), to_size=(105, 168)).arrays()[0].tolist()
        [[84.0, 52.5], [0.0, 104.9]]
        """
        h2, w2 = _check_size(to_size, "to_size")
        ids = self.table["stimulus_id"].unique().tolist()
        if from_size is None:
            missing = [i for i in ids if i not in self.sizes]
            if missing:
                raise InputError(f"from_size: received None, but this table has no sizes for the images "
                                 f"{missing[:5]} ({len(missing)} of {len(ids)}); expected from_size=(height, width) "
                                 "or a mapping image id -> (height, width)")
            sizes = {i: self.sizes[i] for i in ids}
        elif isinstance(from_size, Mapping):
            missing = [i for i in ids if i not in from_size]
            if missing:
                raise InputError(f"from_size: received sizes for {len(from_size)} images, none for {missing[:5]} "
                                 f"({len(missing)} of {len(ids)}); expected a (height, width) for every image id")
            sizes = {i: _check_size(from_size[i], f"from_size[{i!r}]") for i in ids}
        else:
            size = _check_size(from_size, "from_size")
            sizes = {i: size for i in ids}
        if not self.allow_off_display:
            try:
                self.check_bounds(sizes)
            except InputError as err:
                raise InputError(f"from_size: {err}") from None
        frame = self.table["stimulus_id"].map(sizes)
        sx = w2 / np.array([s[1] for s in frame], dtype=float)
        sy = h2 / np.array([s[0] for s in frame], dtype=float)
        table = self.table.copy()
        for cols, scale in ((_X_COLUMNS, sx), (_Y_COLUMNS, sy)):
            for col in cols:
                if col in table.columns:
                    if not pd.api.types.is_numeric_dtype(table[col]):
                        raise InputError(f"table: column {col!r} holds {table[col].dtype} values; expected pixel "
                                         "numbers (NaN when unknown) to rescale")
                    table[col] = table[col].astype(float) * scale
        return Scanpaths(table, sizes={i: (h2, w2) for i in ids}, allow_off_display=self.allow_off_display)

    # -- conversions -------------------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """A copy of the table."""
        return self.table.copy()

    def to_xarray(self) -> xr.DataArray:
        """A NaN-padded ``("scanpath", "fixation", "field")`` array with per-scanpath metadata coords.

        >>> import numpy as np
        >>> sp = Scanpaths.from_arrays([np.zeros((1, 2)), np.ones((3, 2))], ["a", "b"])
        >>> sp.to_xarray().shape
        (2, 3, 4)
        """
        meta = self.meta
        n_max = int(meta["n_fixations"].max()) if len(meta) else 0
        values = np.full((len(meta), n_max, len(_FIELDS)), np.nan)
        for k, (_, g) in enumerate(self.table.groupby("scanpath", sort=True)):
            values[k, :len(g)] = g[list(_FIELDS)].to_numpy(dtype=float)
        coords = {"scanpath": meta["scanpath"].to_numpy(), "fixation": np.arange(n_max), "field": list(_FIELDS)}
        coords.update({m: ("scanpath", meta[m].to_numpy(dtype=str)) for m in _META})
        return xr.DataArray(values, dims=("scanpath", "fixation", "field"), coords=coords, name="scanpaths")

    def __repr__(self) -> str:
        return (f"Scanpaths({len(self)} scanpaths, {self.n_fixations} fixations, "
                f"{self.table['stimulus_id'].nunique()} images, {self.table['subject'].nunique()} subjects)")
