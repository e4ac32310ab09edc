"""Streaming features to a zarr store, batch by batch, with resume.

Layout of a store (a zarr group):

* one array per layer, named after the layer, ``(n_stimuli, ...)``, chunked by batch;
* group attrs: ``neuroperception`` (format version), ``settings`` (model, weights, layers,
  pooling, preprocessing, dtype — what must match to append), ``stimulus_ids`` and ``dims``
  (per layer), written once;
* a sub-group ``progress`` whose attr ``n_done`` counts the rows written so far, updated only
  after a batch is on disk (kept apart so that each batch rewrites a few bytes, not the id list).

A run that is killed leaves ``n_done`` at the last complete batch; the next call with the same
settings starts there and ends identical to an uninterrupted run. A call with other settings
raises :class:`~neuroperception.errors.StoreMismatchError` saying what differs.
"""

from __future__ import annotations

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


def _n_done(group) -> int:
    try:
        return int(group["progress"].attrs.get("n_done", 0))
    except KeyError:
        return 0


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
        """Rows already written (a multiple of the batch size until the last batch)."""
        return _n_done(self.group)

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

    def read(self) -> dict[str, xr.DataArray]:
        """The store's arrays as labelled arrays (loaded into memory)."""
        return open_features(self.path)


def open_features(path, layers=None) -> dict[str, xr.DataArray]:
    """Read a feature store written by :func:`~neuroperception.features.extract`.

    Parameters
    ----------
    path : str or Path
        The zarr store.
    layers : list of str, optional
        Layers to read (default all).

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
    """
    zarr = _zarr()
    p = Path(path)
    if not p.exists():
        raise InputError(f"store: {p} does not exist; expected a feature store written by extract(store=...)")
    group = zarr.open_group(str(p), mode="r")
    attrs = dict(group.attrs)
    if attrs.get("neuroperception") != FORMAT:
        raise InputError(f"store: {p} is not a neuroperception feature store")
    ids = attrs["stimulus_ids"]
    done = _n_done(group)
    if done < len(ids):
        raise InputError(f"store: {p} is incomplete ({done} of {len(ids)} stimuli written); "
                         "run extract() again with the same settings to finish it")
    settings = attrs["settings"]
    wanted = [layers] if isinstance(layers, str) else list(layers or attrs["dims"])
    unknown = [layer for layer in wanted if layer not in attrs["dims"]]
    if unknown:
        raise InputError(f"layers: {unknown} are not in store {p}; expected some of {list(attrs['dims'])}")
    out = {}
    for layer, info in attrs["dims"].items():
        if layer not in wanted:
            continue
        values = np.asarray(group[layer][...])
        coords = {"stimulus_id": ("stimulus", ids)}
        base = {k: settings[k] for k in ("model", "weights", "preprocessing")}
        base.update(layer=layer, pooling=settings["pooling"][layer])
        base.update(info.get("attrs", {}))
        out[layer] = xr.DataArray(values, dims=tuple(info["dims"]), coords=coords, attrs=base)
    return out
