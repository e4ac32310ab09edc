"""Streaming features to a zarr store, batch by batch, with resume.

Layout of a store (a zarr group):

* one array per layer, named after the layer, ``(n_stimuli, ...)``, chunked by batch;
* group attrs: ``neuroperception`` (format version), ``settings`` (model, weights, layers,
  pooling, preprocessing, dtype — what must match to append), ``stimulus_ids`` and ``dims``
  (per layer), written once;
* a sub-group ``progress`` whose attr ``n_done`` counts the rows written so far, updated only
  after a batch is on disk (kept apart so that each batch rewrites a few bytes, not the id list);
* for a sharded run (``extract(client=...)``), one empty sub-group ``progress/shard_<start>_<stop>``
  per finished shard, created by the worker that wrote it once its rows are on disk (one marker per
  shard, so workers never write the same metadata; shards start on chunk boundaries, so they never
  write the same chunk).

A run that is killed leaves ``n_done`` at the last complete batch (and the markers of the finished
shards); the next call with the same settings computes only the rows no marker or ``n_done`` covers
and ends identical to an uninterrupted run. A call with other settings raises
:class:`~neuroperception.errors.StoreMismatchError` saying what differs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError, StoreMismatchError

__all__ = ["FeatureStore", "open_features"]

FORMAT = 1


def _zarr():
    import zarr

    return zarr


def _create_array(group, name: str, shape, chunks, dtype):
    if hasattr(group, "create_array"):  # zarr >= 3
        return group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, compressors=None,
                                  fill_value=0, overwrite=True)
    return group.create_dataset(name, shape=shape, chunks=chunks, dtype=dtype, compressor=None,  # pragma: no cover
                                fill_value=0, overwrite=True)


def _done_ranges(group) -> list[tuple[int, int]]:
    """Row ranges on disk: ``[0, n_done)`` and every finished shard's, merged and sorted."""
    try:
        progress = group["progress"]
    except KeyError:
        return []
    ranges = [(0, int(progress.attrs.get("n_done", 0)))]
    for name in progress.group_keys():
        if name.startswith("shard_"):
            start, stop = name.split("_")[1:3]
            ranges.append((int(start), int(stop)))
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _n_done(group) -> int:
    """Rows on disk from the first one on without a gap."""
    ranges = _done_ranges(group)
    return ranges[0][1] if ranges and ranges[0][0] == 0 else 0


def mark_shard(group, start: int, stop: int) -> None:
    """Record that rows ``[start, stop)`` are on disk (called by the worker that wrote them)."""
    group["progress"].create_group(f"shard_{start:010d}_{stop:010d}", overwrite=True)


class FeatureStore:
    """A zarr-backed feature store that can be appended to batch by batch and resumed.

    Use :func:`~neuroperception.features.extract` with ``store=path`` rather than this class
    directly; read a finished store with :func:`open_features`. Opening an existing store checks
    that it was written with the same settings and stimulus ids (else ``StoreMismatchError``), so
    an interrupted extraction resumes at ``n_done`` and never mixes two runs.

    Parameters
    ----------
    path : str or Path
        The zarr folder (created when missing).
    settings : dict
        What decides the stored values (model, layers, pooling, ...), compared on reopening.
    stimulus_ids : list of str
        The rows, in order.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> path = tempfile.mkdtemp() + "/feats.zarr"
    >>> store = FeatureStore(path, {"model": "toy"}, ["a", "b", "c"])
    >>> store.ensure_arrays({"fc": (2,)}, {"fc": ("feature",)}, {}, batch_size=2)
    >>> store.write(0, {"fc": np.ones((2, 2), dtype=np.float32)})
    >>> FeatureStore(path, {"model": "toy"}, ["a", "b", "c"]).n_done        # reopened: resume at row 2
    2
    >>> FeatureStore(path, {"model": "other"}, ["a", "b", "c"])
    Traceback (most recent call last):
    neuroperception.errors.StoreMismatchError: store: ... model: store has 'toy', this call has 'other'. ...
    """

    def __init__(self, path, settings: dict[str, Any], stimulus_ids: list[str]):
        self.path = Path(path)
        self.settings = settings
        self.ids = list(stimulus_ids)
        zarr = _zarr()
        existing = self.path.exists() and any(self.path.iterdir()) if self.path.is_dir() else self.path.exists()
        if existing:
            try:
                self.group = zarr.open_group(str(self.path), mode="r+")
                attrs = dict(self.group.attrs)
            except Exception as err:
                raise InputError(f"store: {self.path} exists but is not a zarr group ({err}); expected a feature "
                                 "store written by neuroperception, or a new path") from err
            if attrs.get("neuroperception") != FORMAT:
                raise StoreMismatchError(f"store: {self.path} is not a neuroperception feature store "
                                         f"(attrs {sorted(attrs)[:5]}); expected a new path or a store it wrote")
            self._check_same(attrs)
        else:
            self.group = zarr.open_group(str(self.path), mode="w")
            self.group.attrs.update({"neuroperception": FORMAT, "settings": settings,
                                     "stimulus_ids": self.ids, "dims": {}})
            self.group.create_group("progress").attrs["n_done"] = 0

    def _check_same(self, attrs: dict) -> None:
        diffs = []
        stored = attrs.get("settings", {})
        for key in sorted(set(stored) | set(self.settings)):
            if stored.get(key) != self.settings.get(key):
                diffs.append(f"{key}: store has {stored.get(key)!r}, this call has {self.settings.get(key)!r}")
        old_ids = attrs.get("stimulus_ids", [])
        if old_ids != self.ids:
            n_same = sum(a == b for a, b in zip(old_ids, self.ids))
            diffs.append(f"stimulus ids: store has {len(old_ids)}, this call has {len(self.ids)} "
                         f"({n_same} equal in position)")
        if diffs:
            raise StoreMismatchError(
                f"store: {self.path} was written with other settings and cannot be appended to: "
                + "; ".join(diffs) + ". Expected the same settings, or a new store path."
            )

    @property
    def n_done(self) -> int:
        """Rows already written from the first one on (a multiple of the batch size until the last batch)."""
        return _n_done(self.group)

    def missing_ranges(self) -> list[tuple[int, int]]:
        """Row ranges not yet on disk, in order."""
        gaps, pos = [], 0
        for start, stop in _done_ranges(self.group):
            if start > pos:
                gaps.append((pos, start))
            pos = max(pos, stop)
        if pos < len(self.ids):
            gaps.append((pos, len(self.ids)))
        return gaps

    @property
    def chunk_rows(self) -> int | None:
        """Rows per chunk of the layer arrays (None before the first batch)."""
        dims = dict(self.group.attrs.get("dims", {}))
        return int(self.group[next(iter(dims))].chunks[0]) if dims else None

    def finish(self) -> None:
        """Set ``n_done`` to every row once every row is on disk (after a sharded run)."""
        if not self.missing_ranges():
            self.group["progress"].attrs["n_done"] = len(self.ids)

    def ensure_arrays(self, shapes: dict[str, tuple[int, ...]], dims: dict[str, tuple[str, ...]],
                      attrs: dict[str, dict], batch_size: int) -> None:
        """Create the per-layer arrays on the first batch (a no-op when they exist)."""
        n = len(self.ids)
        stored_dims = dict(self.group.attrs.get("dims", {}))
        for layer, shape in shapes.items():
            if layer in stored_dims:
                arr = self.group[layer]
                if tuple(arr.shape[1:]) != tuple(shape):
                    raise StoreMismatchError(f"store: layer {layer!r} has shape {tuple(arr.shape[1:])} per stimulus "
                                             f"in {self.path}, this call gives {tuple(shape)}")
                continue
            _create_array(self.group, layer, (n, *shape), (min(batch_size, n), *shape), "float32")
            stored_dims[layer] = {"dims": list(dims[layer]), "attrs": attrs.get(layer, {})}
        self.group.attrs["dims"] = stored_dims

    def write(self, start: int, arrays: dict[str, np.ndarray]) -> None:
        """Write one batch's rows for every layer, then advance ``n_done``."""
        stop = start
        for layer, values in arrays.items():
            self.group[layer][start : start + values.shape[0]] = values
            stop = start + values.shape[0]
        self.group["progress"].attrs["n_done"] = stop

    def read(self, lazy: bool = False) -> dict[str, xr.DataArray]:
        """The store's arrays as labelled arrays (loaded into memory, or dask-backed with ``lazy``)."""
        return open_features(self.path, lazy=lazy)


def open_features(path, layers=None, lazy: bool = False) -> dict[str, xr.DataArray]:
    """Read a feature store written by :func:`~neuroperception.features.extract`.

    Parameters
    ----------
    path : str or Path
        The zarr store.
    layers : list of str, optional
        Layers to read (default all).
    lazy : bool
        False (default): load the arrays into memory. True: dask-backed arrays (one dask chunk per
        stored chunk of rows) that read the store only when computed, so a store larger than memory
        can be reduced (:func:`~neuroperception.features.reduce_features`), fitted
        (``RidgeCV`` / ``fit_encoding_model`` read a lazy ``X`` chunk by chunk into one in-memory
        array) or written elsewhere piece by piece. Needs dask (the ``dist`` extra).

    Returns
    -------
    dict of str to xarray.DataArray
        As ``extract`` returned them; incomplete stores raise an error saying how far they got.

    Examples
    --------
    >>> import tempfile, torch
    >>> from neuroperception.features import extract
    >>> from neuroperception.stimuli import ImageSet
    >>> store = tempfile.mkdtemp() + "/f.zarr"
    >>> _ = extract("gabor", ImageSet.from_array(torch.rand(2, 3, 32, 32)), ["scale0"], store=store)
    >>> open_features(store)["scale0"].dims
    ('stimulus', 'feature')
    >>> lazy = open_features(store, lazy=True)["scale0"]
    >>> type(lazy.data).__name__, lazy.shape
    ('Array', (2, 16))
    """
    if not isinstance(lazy, (bool, np.bool_)):
        raise InputError(f"lazy: received {lazy!r}; expected True or False")
    zarr = _zarr()
    p = Path(path)
    if not p.exists():
        raise InputError(f"store: {p} does not exist; expected a feature store written by extract(store=...)")
    try:
        group = zarr.open_group(str(p), mode="r")
    except Exception as err:
        raise InputError(f"store: {p} is not a zarr group ({err}); expected a feature store written by "
                         "extract(store=...)") from err
    attrs = dict(group.attrs)
    if attrs.get("neuroperception") != FORMAT:
        raise InputError(f"store: {p} is not a neuroperception feature store")
    ids = attrs["stimulus_ids"]
    done = sum(stop - start for start, stop in _done_ranges(group))
    if done < len(ids):
        raise InputError(f"store: {p} is incomplete ({done} of {len(ids)} stimuli written); "
                         "run extract() again with the same settings to finish it")
    settings = attrs["settings"]
    wanted = [layers] if isinstance(layers, str) else list(layers or attrs["dims"])
    unknown = [layer for layer in wanted if layer not in attrs["dims"]]
    if unknown:
        raise InputError(f"layers: {unknown} are not in store {p}; expected some of {list(attrs['dims'])}")
    if lazy:
        from .._distributed import import_dask_array

        dask_array = import_dask_array()
        token = hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:12]
    out = {}
    for layer, info in attrs["dims"].items():
        if layer not in wanted:
            continue
        if lazy:
            values = dask_array.from_zarr(group[layer], name=f"features-{layer}-{token}")
        else:
            values = np.asarray(group[layer][...])
        coords = {"stimulus_id": ("stimulus", ids)}
        base = {k: settings[k] for k in ("model", "weights", "preprocessing")}
        base.update(layer=layer, pooling=settings["pooling"][layer])
        base.update(info.get("attrs", {}))
        out[layer] = xr.DataArray(values, dims=tuple(info["dims"]), coords=coords, attrs=base)
        out[layer].name = None                   # not the dask array's name: the same as the in-memory read
    return out
