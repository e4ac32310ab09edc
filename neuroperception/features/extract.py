"""``extract``: images (or videos) → per-layer labelled feature arrays, in memory or streamed to zarr."""

from __future__ import annotations

import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from .._docs import fill_doc
from .._progress import progress_bar, show_progress
from .._validation import check_ids, check_videos, describe
from ..errors import InputError, ShapeError
from ..stimuli import ImageSet
from .hooks import check_layers, first_tensor, record
from .pooling import NoPooling, Pooling, get_pooling
from .registry import FeatureModel, load_model
from .store import FeatureStore

__all__ = ["extract", "canonical_activation"]


def canonical_activation(t: torch.Tensor, n: int, layer: str = "") -> tuple[torch.Tensor, str]:
    """Put a layer's output in the form ``(N, C, *spatial)``; return it and a note.

    * ``(N, F)`` vectors and ``(N, C, H, W)`` maps are kept;
    * transformer tokens ``(N, L, D)`` (or sequence-first ``(L, N, D)``) become ``(N, D, g, g)``
      when ``L`` or ``L - 1`` is a square ``g²`` (a leading class token is dropped), else
      ``(N, D, L)``;
    * video activations ``(N, C, T, H, W)`` are kept.

    Examples
    --------
    >>> import torch
    >>> x, note = canonical_activation(torch.zeros(2, 1 + 49, 8), 2)
    >>> tuple(x.shape), note
    ((2, 8, 7, 7), 'tokens->grid 7x7 (class token dropped)')
    """
    if t.ndim == 3 and t.shape[0] != n and t.shape[1] == n:
        t = t.transpose(0, 1)
    if t.shape[0] != n:
        raise ShapeError(f"layer {layer!r}: output of shape {tuple(t.shape)} has no batch dimension of size {n}")
    if t.ndim in (2, 4, 5):
        return t, ""
    if t.ndim == 3:
        length = t.shape[1]
        for skip in (0, 1):
            g = math.isqrt(length - skip)
            if g * g == length - skip and g > 1:
                grid = t[:, skip:].transpose(1, 2).reshape(n, t.shape[2], g, g)
                return grid, f"tokens->grid {g}x{g}" + (" (class token dropped)" if skip else "")
        return t.transpose(1, 2), "tokens as (channel, token)"
    if t.ndim == 1:
        return t[:, None], ""
    raise ShapeError(f"layer {layer!r}: output of shape {tuple(t.shape)}; expected 2 to 5 dimensions")


_MAP_DIMS = {2: ("feature",), 3: ("channel", "token"), 4: ("channel", "y", "x"), 5: ("channel", "time", "y", "x")}


def _dims(pooled: torch.Tensor, pooling: Pooling) -> tuple[str, ...]:
    if isinstance(pooling, NoPooling):
        return ("stimulus",) + _MAP_DIMS[pooled.ndim]
    return ("stimulus", "feature")


def _layout(acts: Mapping[str, tuple[torch.Tensor, str]], poolings: Mapping[str, Pooling]):
    """Per layer: the shape of one stimulus' features, their dims and the notes kept in attrs."""
    shapes = {layer: tuple(out.shape[1:]) for layer, (out, _) in acts.items()}
    dims = {layer: _dims(out, poolings[layer]) for layer, (out, _) in acts.items()}
    notes = {layer: ({"activation": note} if note else {}) for layer, (_, note) in acts.items()}
    return shapes, dims, notes


class _VideoArray:
    """Videos held in memory with ids: the part of a ``VideoSet`` that extraction uses."""

    def __init__(self, videos: torch.Tensor, ids: list[str]):
        self.videos, self.ids = videos, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, key) -> "_VideoArray":
        if isinstance(key, slice):
            pos = list(range(len(self)))[key]
        else:
            where = {i: p for p, i in enumerate(self.ids)}
            pos = [where[k] if isinstance(k, str) else int(k) for k in key]
        return _VideoArray(self.videos[pos], [self.ids[p] for p in pos])

    def batches(self, batch_size: int, start: int = 0):
        for lo in range(start, len(self), batch_size):
            yield self.ids[lo : lo + batch_size], self.videos[lo : lo + batch_size]


def _is_videos(x: Any) -> bool:
    """A VideoSet (duck-typed: ``batches`` and ``videos``) or a 5-D array."""
    if hasattr(x, "batches") and hasattr(x, "videos"):
        return True
    return not isinstance(x, ImageSet) and getattr(x, "ndim", None) == 5


def _as_stimuli(model: FeatureModel, stimuli: Any):
    """The stimulus set ``model`` takes, or an error saying which kind to pass."""
    videos = _is_videos(stimuli)
    what = f"{type(stimuli).__name__} of {len(stimuli)}" if hasattr(stimuli, "batches") else describe(stimuli)
    if model.input_kind == "videos":
        if not videos:
            raise InputError(f"{model.spec} is a video model; received images ({what}); expected videos: a VideoSet "
                             "or a float tensor (N, T, 3, H, W) in [0, 1] (uint8 (N, T, H, W, 3) accepted)")
        if hasattr(stimuli, "batches"):
            return stimuli
        v = check_videos(stimuli)
        return _VideoArray(v, check_ids(None, v.shape[0]))
    if videos:
        raise InputError(f"{model.spec} takes images; received videos ({what}); expected an ImageSet or images "
                         "(N, 3, H, W) in [0, 1]: pass frames (e.g. videos[:, t]) or load a video model "
                         "('motion_energy', 'torchvision_video:r3d_18')")
    return stimuli if isinstance(stimuli, ImageSet) else ImageSet.from_array(stimuli)


def _poolings(pooling, layers: list[str]) -> dict[str, Pooling]:
    if isinstance(pooling, Mapping):
        missing = [layer for layer in layers if layer not in pooling]
        if missing:
            raise InputError(f"pooling: the dict has no entry for layers {missing}; expected one per layer")
        return {layer: get_pooling(pooling[layer]) for layer in layers}
    return {layer: get_pooling(pooling) for layer in layers}


def _forward(model: FeatureModel, layers: list[str], batch: torch.Tensor, poolings: Mapping[str, Pooling] | None):
    """One forward pass; returns ``{layer: (pooled activation, note)}``.

    Pooling runs inside the hooks, before any later in-place operation can touch the
    activation; whatever still shares memory with the network's tensors is copied.
    """
    n = batch.shape[0]
    channels_last = set(model.extras.get("channels_last_layers", ()))

    def transform(layer: str, t: torch.Tensor):
        if layer in channels_last and t.ndim == 5:  # (N, T, H, W, C) -> (N, C, T, H, W)
            t = t.permute(0, 4, 1, 2, 3)
        act, note = canonical_activation(t, n, layer)
        out = act if poolings is None else poolings[layer].pool(act)
        if out.untyped_storage().data_ptr() == t.untyped_storage().data_ptr():
            out = out.clone()
        return out, note

    with torch.inference_mode(), record(model.module, layers, transform) as acts:
        out = model(batch)
    if "output" in layers:
        acts["output"] = transform("output", first_tensor(out, "output").detach())
    return acts


def _fit_poolings(model, images, layers, poolings, batch_size, progress) -> None:
    to_fit = [layer for layer in layers if poolings[layer].requires_fit]
    if not to_fit:
        return
    groups: dict[Any, list[str]] = {}
    for layer in to_fit:
        key = poolings[layer].fit_on
        groups.setdefault(tuple(key) if isinstance(key, (list, tuple)) else key, []).append(layer)
    for fit_on, group_layers in groups.items():
        if fit_on is None:
            subset = images
        elif isinstance(fit_on, int):
            subset = images[: fit_on]
        else:
            missing = [i for i in fit_on if i not in set(images.ids)]
            if missing:
                raise InputError(f"pooling PCA fit_on: {len(missing)} ids are not among the images, e.g. {missing[:3]}")
            subset = images[list(fit_on)]
        collected: dict[str, list[torch.Tensor]] = {layer: [] for layer in group_layers}
        for _, batch in progress_bar(subset.batches(batch_size), progress, total=-(-len(subset) // batch_size),
                                     desc="fit PCA", leave=False):
            acts = _forward(model, group_layers, batch, None)
            for layer in group_layers:
                collected[layer].append(acts[layer][0].float().cpu())
        for layer in group_layers:
            poolings[layer].fit(torch.cat(collected[layer]))


@fill_doc
def extract(
    model: FeatureModel | str,
    images: ImageSet | Any,
    layers: str | Sequence[str],
    pooling: str | Pooling | Mapping[str, str | Pooling] | None = "avg",
    batch_size: int = 32,
    store=None,
    progress: bool | None = None,
    client: Any = None,
    lazy: bool = False,
) -> dict[str, xr.DataArray]:
    """Extract features of ``layers`` for every image, as labelled arrays.

    Parameters
    ----------
    model : FeatureModel or str
        A loaded model, or a spec passed to :func:`~neuroperception.features.load_model`.
    images : ImageSet, VideoSet or array-like
        Images in ``[0, 1]`` (arrays get ids ``stim0000, ...``) for an image model; videos (a
        ``VideoSet`` or ``(N, T, 3, H, W)`` in ``[0, 1]``, arrays get ids ``stim0000, ...``) for a
        video model (``model.input_kind == "videos"``). The other kind is an ``InputError``.
    layers : str or list of str
        Names from :func:`~neuroperception.features.layer_names` (``"output"`` for the
        network's output).
    pooling : str, Pooling, dict or None
        ``"avg"`` (default), ``"max"``, ``"avg:K"``, ``"srp:D"``, ``"pca:K"``, ``"none"``/None
        (keep maps), a :class:`~neuroperception.features.pooling.Pooling`, or a dict per layer.
    %(batch_size)s
    store : str or Path, optional
        A zarr store: features are written batch by batch; a killed run resumes where it
        stopped; a store written with other settings raises ``StoreMismatchError``.
    %(progress)s
    client : dask.distributed.Client, "local" or a scheduler address, optional
        Shard the images over the cluster's workers (needs ``store``): a model named by its spec is
        loaded by every worker once (on the worker's GPU where it has one) and kept for later calls (the
        calling process loads a CPU copy for the call, to size the store and fit learned pooling); a
        model object is sent to every worker (and moved to its GPU); each shard's rows are written
        into the store by region and marked done, and a run that loses a worker or is killed
        resumes with the missing shards only. Shards run the batches a single-process run runs, so
        on CPU the store equals the single-process store bit for bit. Learned pooling (``pca:K``)
        is fitted on the calling process first. ``"local"``: a thread-based LocalCluster for the
        call. Per-worker bytes read and written are in the store's ``progress`` attrs (``io``).
    lazy : bool
        False (default): return the features in memory. True (needs ``store``): return the store's
        arrays dask-backed (``open_features(store, lazy=True)``), so a store larger than memory is
        written and handed on without ever being in memory whole.

    Returns
    -------
    dict of str to xarray.DataArray
        Per layer ``("stimulus", "feature")`` (or ``("stimulus", "channel", "y", "x")`` without
        pooling), coordinate ``stimulus_id``, attrs ``model``, ``weights`` (where the model's
        weights came from: ``"random-init(seed=0)"`` marks random ones), ``layer``, ``pooling``,
        ``preprocessing``. Video activations ``(N, C, T, H, W)`` are pooled over
        time too (``"avg"``, ``"max"``, ``"srp:D"``, ``"pca:K"``); ``"none"`` keeps them as
        ``("stimulus", "channel", "time", "y", "x")``; ``"avg:K"`` takes maps only and refuses them.

    Examples
    --------
    >>> from neuroperception.features import extract
    >>> from neuroperception.stimuli import procedural
    >>> feats = extract("gabor", procedural.gratings(size=64), ["scale0", "scale1"])
    >>> feats["scale0"].dims, feats["scale0"].shape
    (('stimulus', 'feature'), (12, 16))
    >>> import torch
    >>> clips = torch.rand(2, 10, 3, 32, 32)                # videos (N, T, 3, H, W) for a video model
    >>> extract("motion_energy", clips, "output")["output"].shape
    (2, 60)
    >>> import tempfile
    >>> sharded = extract("gabor", procedural.gratings(size=64), "scale0", store=tempfile.mkdtemp() + "/f.zarr",
    ...                   batch_size=4, client="local", lazy=True, progress=False)  # shards on a local dask cluster
    >>> bool((sharded["scale0"].values == feats["scale0"].values).all())
    True
    """
    spec = model if isinstance(model, str) else None
    if isinstance(model, str):
        # with a client the workers load their own copies (on their GPUs) and keep them; the caller's
        # copy only sizes the store and fits learned pooling, on the CPU, and is dropped on return
        model = load_model(model, device="cpu" if client is not None else None)
    if not isinstance(model, FeatureModel):
        raise InputError(f"model: received {type(model).__name__}; expected a FeatureModel (load_model(...)) or a spec string")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"batch_size: received {batch_size!r}; expected a positive int")
    progress = show_progress(progress)
    images = _as_stimuli(model, images)
    layers = check_layers(model.module, layers)
    poolings = _poolings(pooling, layers)
    settings = {
        "model": model.spec, "weights": model.weights, "layers": layers,
        "pooling": {layer: poolings[layer].describe() for layer in layers},
        "preprocessing": model.preprocess.describe(), "dtype": "float32",
    }
    n = len(images)
    fs = FeatureStore(store, settings, images.ids) if store is not None else None
    start = fs.n_done if fs is not None else 0
    notes: dict[str, dict] = {}
    if client is not None and fs is None:
        raise InputError("client: received a client but no store; expected store=path (the workers write their "
                         "shards into one zarr store)")
    if not isinstance(lazy, (bool, np.bool_)) or (lazy and fs is None):
        raise InputError(f"lazy: received {lazy!r}{' without a store' if lazy is True else ''}; expected False, or "
                         "True with store=path (the arrays are read from the store)")
    if fs is not None and not fs.missing_ranges():
        return fs.read(lazy=lazy)
    _fit_poolings(model, images, layers, poolings, batch_size, progress)
    if client is not None:
        from ._sharded import extract_sharded

        def probe(batch):
            return _layout(_forward(model, layers, batch, poolings), poolings)

        io = extract_sharded(model, images, layers, poolings, fs, batch_size, client, progress, probe, spec)
        if io:
            fs.group["progress"].attrs["io"] = io
        return fs.read(lazy=lazy)
    results: dict[str, np.ndarray] = {}
    dims: dict[str, tuple[str, ...]] = {}
    bar = progress_bar(None, progress, total=n, initial=start, unit="vid" if model.input_kind == "videos" else "img",
                       desc=f"extract {model.spec}")
    # Store writes run in one background thread, in order, overlapping the next forward pass;
    # at most two batches wait, and every submitted batch is on disk before extract returns or raises.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feature-store") if fs is not None else None
    pending: deque = deque()
    try:
        for offset, (_, batch) in zip(range(start, n, batch_size), images.batches(batch_size, start=start)):
            acts = _forward(model, layers, batch, poolings)
            pooled = {layer: acts[layer][0].float().cpu().numpy() for layer in layers}
            if not dims:
                shapes, dims, notes = _layout(acts, poolings)
            if fs is not None:
                if offset == start:
                    fs.ensure_arrays(shapes, dims, notes, batch_size)
                pending.append(writer.submit(fs.write, offset, pooled))
                while len(pending) > 2:
                    pending.popleft().result()
            else:
                for layer, values in pooled.items():
                    if layer not in results:
                        results[layer] = np.empty((n, *values.shape[1:]), dtype=np.float32)
                    results[layer][offset : offset + values.shape[0]] = values
            bar.update(batch.shape[0])
    finally:
        bar.close()
        if writer is not None:
            try:
                for future in pending:
                    future.result()
            finally:
                writer.shutdown(wait=True)
    if fs is not None:
        return fs.read(lazy=lazy)
    out = {}
    for layer in layers:
        attrs = {k: settings[k] for k in ("model", "weights", "preprocessing")}
        attrs.update(layer=layer, pooling=settings["pooling"][layer], **notes.get(layer, {}))
        out[layer] = xr.DataArray(results[layer], dims=dims[layer],
                                  coords={"stimulus_id": ("stimulus", images.ids)}, attrs=attrs)
    return out

