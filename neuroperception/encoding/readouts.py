"""Deep readouts: feature maps → voxels, keeping where in the image each voxel looks.

:class:`FactorizedReadout` gives every voxel a spatial mask (a Gaussian, a free mask, or a low-rank
one) times a weight per channel (Klindt et al. 2017); :class:`AttentionReadout` lets learned queries
(one per ROI, or learned voxel groups) attend over the feature-map tokens with multi-head
cross-attention and positional encodings, and maps the routed features to each voxel linearly
(Adeli et al. 2025). Both are torch modules inside and scikit-learn estimators outside: ``fit``,
``predict``, ``voxel_scores``, ``get_params``/``clone``, a ``random_state`` that makes a CPU fit
reproducible, and a ``history_`` of the training (AdamW, mini-batches, early stopping).

Feature maps are ``("stimulus", "channel", "y", "x")`` DataArrays (``extract(..., pooling="none")``),
or a dict of them (several layers, each its own grid), aligned to the responses by ``stimulus_id``.
Both declare ``accepts_maps = True``, so :func:`fit_encoding_model` passes them the maps as they are;
maps flattened to ``("stimulus", "feature")`` are accepted when ``map_shape`` gives the
``(channel, y, x)`` shape of each layer.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from sklearn.base import BaseEstimator

from .._validation import check_alignment, check_responses
from ..errors import InputError, ShapeError
from . import scoring
from ._training import _predict, plot_history, resolve_device, train

__all__ = ["FactorizedReadout", "AttentionReadout"]

from ._readout_inputs import _as_maps
from ._readout_modules import _Attention, _AttentionModel, _Factorized  # noqa: F401


class _Readout(BaseEstimator, metaclass=abc.ABCMeta):
    """Validation, standardisation, training and labelled prediction shared by the readouts."""

    #: :func:`fit_encoding_model` passes ``("stimulus", "channel", "y", "x")`` maps unflattened.
    accepts_maps = True

    @abc.abstractmethod
    def _build(self, shapes: list[tuple[int, int, int]], rois: np.ndarray) -> torch.nn.Module:
        """The torch module for these layer shapes and per-voxel ROI labels."""

    def _penalty(self, module: torch.nn.Module):
        return None

    def _tensors(self, layers: dict[str, xr.DataArray]) -> list[torch.Tensor]:
        out = []
        for (k, da), (mean, sd) in zip(layers.items(), self._feature_stats):
            out.append(torch.from_numpy(((np.asarray(da.values, np.float32) - mean) / sd).astype(np.float32)))
        return out

    def fit(self, feature_maps: Any, responses: Any, validation: Any = 0.1):
        """Train the readout; ``validation`` (a fraction, positions, or None) drives early stopping."""
        layers = _as_maps(feature_maps, self.map_shape)
        Y = check_responses(responses, name="responses")
        names = list(layers)
        aligned = check_alignment(*layers.values(), Y, names=[f"feature_maps[{k!r}]" for k in names] + ["responses"])
        layers, Y = dict(zip(names, aligned[:-1])), aligned[-1]
        if Y.sizes["stimulus"] < 4:
            raise InputError(f"responses: received {Y.sizes['stimulus']} stimuli; expected at least 4 to train")
        self.layer_names_ = names
        self.map_shapes_ = [tuple(int(v) for v in da.shape[1:]) for da in layers.values()]
        self._feature_stats = []
        for da in layers.values():
            v = np.asarray(da.values, np.float64)
            mean = v.mean(axis=(0, 2, 3), keepdims=True)[0]
            sd = v.std(axis=(0, 2, 3), keepdims=True)[0]
            self._feature_stats.append((mean.astype(np.float32), np.where(sd > 1e-12, sd, 1.0).astype(np.float32)))
        y = np.asarray(Y.values, np.float64)
        self._y_mean, sd = y.mean(0), y.std(0)
        self._y_sd = np.where(sd > 1e-12, sd, 1.0)
        self._voxel_coords = {k: (c.dims, np.asarray(c.values)) for k, c in Y.coords.items() if c.dims == ("voxel",)}
        rois = np.asarray(Y["roi"].values).astype(str) if "roi" in Y.coords else np.full(Y.sizes["voxel"], "all")
        self.n_voxels_ = int(Y.sizes["voxel"])
        self.device_ = resolve_device(self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            module = self._build(self.map_shapes_, rois).to(self.device_)
        targets = torch.from_numpy(((y - self._y_mean) / self._y_sd).astype(np.float32))
        self.history_ = train(module, self._tensors(layers), targets, validation=validation, lr=self.lr,
                              weight_decay=self.weight_decay, max_epochs=self.max_epochs, patience=self.patience,
                              batch_size=self.batch_size, penalty=self._penalty(module),
                              random_state=int(self.random_state), device=self.device_, progress=self.progress,
                              desc=type(self).__name__)
        self.module_ = module
        return self

    def _check_fitted(self):
        if not hasattr(self, "module_"):
            raise InputError(f"{type(self).__name__}: received a call before fit; expected fit(feature_maps, "
                             "responses) first")

    def _inputs(self, feature_maps: Any) -> tuple[dict[str, xr.DataArray], list[torch.Tensor]]:
        self._check_fitted()
        shape = self.map_shape if self.map_shape is not None else (
            self.map_shapes_ if np.ndim(feature_maps) == 2 and not isinstance(feature_maps, Mapping) else None)
        layers = _as_maps(feature_maps, shape)
        got = [tuple(int(v) for v in da.shape[1:]) for da in layers.values()]
        if got != self.map_shapes_ or (isinstance(feature_maps, Mapping) and list(layers) != self.layer_names_):
            raise ShapeError(f"feature_maps: received layers {dict(zip(layers, got))}; expected the fitted "
                             f"{dict(zip(self.layer_names_, self.map_shapes_))}")
        return layers, self._tensors(layers)

    def predict(self, feature_maps: Any) -> np.ndarray | xr.DataArray:
        """Predicted responses ``(stimulus, voxel)``; labelled (``stimulus_id``, voxel coords) for labelled maps."""
        layers, inputs = self._inputs(feature_maps)
        pred = _predict(self.module_, inputs, int(self.batch_size), self.device_).double().numpy()
        pred = pred * self._y_sd + self._y_mean
        first = next(iter(layers.values()))
        if "stimulus_id" not in first.coords:
            return pred
        coords = {"stimulus_id": ("stimulus", np.asarray(first["stimulus_id"].values)), **self._voxel_coords}
        return xr.DataArray(pred, dims=("stimulus", "voxel"), coords=coords, name="predicted responses")

    def voxel_scores(self, feature_maps: Any, responses: Any, metric: str = "r") -> np.ndarray | xr.DataArray:
        """Per-voxel ``"r"`` or ``"r2"`` of the predictions against ``responses`` (aligned by ``stimulus_id``)."""
        return scoring.voxel_scores(responses, self.predict(feature_maps), metric)

    def score(self, feature_maps: Any, responses: Any) -> float:
        """Mean R^2 over voxels."""
        return float(np.nanmean(np.asarray(self.voxel_scores(feature_maps, responses, "r2"))))

    def plot_history(self, ax=None):
        """Training and validation loss per epoch (see ``history_``)."""
        self._check_fitted()
        return plot_history(self.history_, ax=ax)


class FactorizedReadout(_Readout):
    """Per-voxel spatial mask × channel weights over feature maps (Klindt et al. 2017).

    ``response[v] = Σ_layers Σ_c w[v, c] Σ_yx mask[v, y, x] · map[c, y, x] + b[v]``, on maps
    standardised per channel and responses standardised per voxel (predictions are in the
    responses' units).

    Parameters
    ----------
    spatial : {"gaussian", "full"}
        ``"gaussian"``: an isotropic Gaussian per voxel (centre and size learned; one receptive
        field shared by all layers, placed on each layer's grid as a fraction of the image);
        ``"full"``: a free mask per voxel and layer, or a low-rank one with ``rank``.
    rank : int, optional
        With ``spatial="full"``, masks are ``(voxel × rank) · (rank × y·x)`` per layer.
    smoothness : float
        Weight of the squared Laplacian of the masks (``"full"`` only; Gaussians are smooth).
    sparsity : float
        Weight of the mean absolute channel weight (and mask value for ``"full"``).
    lr, weight_decay : float
        AdamW settings.
    max_epochs, patience, batch_size : int
        Training budget, early-stopping patience (epochs) and mini-batch size.
    map_shape : tuple or list of tuples, optional
        ``(channel, y, x)`` per layer, to accept maps flattened to ``("stimulus", "feature")``.
    random_state : int
        Seed of the initialisation, validation split and batch order.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    progress : bool
        A progress bar over epochs.

    Attributes
    ----------
    receptive_fields_ : pandas.DataFrame
        Per voxel ``center_y``, ``center_x`` and ``size`` (σ, or the mask's spatial sd) in cells of
        the first layer's grid, and ``roi`` when the responses had one.
    history_ : pandas.DataFrame
        Per epoch ``train_loss``, ``val_loss``, ``val_r``, ``seconds`` (``plot_history()`` draws it).
    module_ : torch.nn.Module

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> maps = xr.DataArray(rng.normal(size=(120, 2, 5, 5)), dims=("stimulus", "channel", "y", "x"))
    >>> y = maps.values[:, 0, 1, 3:4] - maps.values[:, 1, 1, 3:4]
    >>> model = FactorizedReadout(lr=0.05, max_epochs=80, random_state=0).fit(maps, y)
    >>> model.predict(maps).shape, bool(model.voxel_scores(maps, y)[0] > 0.9)
    ((120, 1), True)
    >>> model.receptive_fields_[["center_y", "center_x"]].round().values.tolist()
    [[1.0, 3.0]]
    """

    def __init__(self, spatial="gaussian", rank=None, smoothness=0.0, sparsity=0.0, lr=0.01, weight_decay=0.0,
                 max_epochs=100, patience=10, batch_size=64, map_shape=None, random_state=0, device="cpu",
                 progress=False):
        self.spatial = spatial
        self.rank = rank
        self.smoothness = smoothness
        self.sparsity = sparsity
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.map_shape = map_shape
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _build(self, shapes, rois):
        if self.spatial not in ("gaussian", "full"):
            raise InputError(f"spatial: received {self.spatial!r}; expected 'gaussian' or 'full'")
        if self.rank is not None and (not isinstance(self.rank, (int, np.integer)) or self.rank < 1):
            raise InputError(f"rank: received {self.rank!r}; expected None or a positive int")
        self._rois = rois
        return _Factorized(shapes, len(rois), self.spatial, None if self.rank is None else int(self.rank))

    def _penalty(self, module):
        sparsity, smooth = float(self.sparsity), float(self.smoothness)
        if sparsity == 0 and (smooth == 0 or self.spatial == "gaussian"):
            return None
        kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=self.device_)[None, None]

        def penalty():
            total = sparsity * sum(w.abs().mean() for w in module.weights)
            if self.spatial == "full":
                for i, (_, h, w) in enumerate(module.shapes):
                    m = module.mask(i)
                    total = total + sparsity * m.abs().mean() * h * w
                    if smooth and min(h, w) >= 3:
                        lap = torch.nn.functional.conv2d(m.reshape(-1, 1, h, w), kernel)
                        total = total + smooth * lap.square().mean() * h * w
            return total
        return penalty

    def fit(self, feature_maps: Any, responses: Any, validation: Any = 0.1) -> FactorizedReadout:
        """Train on feature maps and responses; see the class docstring."""
        super().fit(feature_maps, responses, validation)
        _, h, w = self.map_shapes_[0]
        with torch.no_grad():
            if self.spatial == "gaussian":
                side = max(h, w)
                mu = self.module_.mu.detach().cpu().double().numpy()
                cy, cx = mu[:, 0] * side / 2 + h / 2 - 0.5, mu[:, 1] * side / 2 + w / 2 - 0.5
                size = np.exp(self.module_.log_sigma.detach().cpu().double().numpy()) * side / 2
            else:
                m = self.module_.mask(0).detach().cpu().double().abs().numpy().reshape(-1, h, w)
                p = m / np.maximum(m.sum((1, 2), keepdims=True), 1e-300)
                yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
                cy, cx = (p * yy).sum((1, 2)), (p * xx).sum((1, 2))
                size = np.sqrt((p * ((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2)).sum((1, 2)) / 2)
        rf = pd.DataFrame({"roi": self._rois, "center_y": cy, "center_x": cx, "size": size})
        rf.index.name = "voxel"
        self.receptive_fields_ = rf
        return self

    def receptive_field_maps(self, layer: int = 0) -> xr.DataArray:
        """The learned spatial masks ``("voxel", "y", "x")`` on one layer's grid (position ``layer``).

        Gaussian masks sum to 1; free or low-rank masks are returned as learned (compare shapes,
        not scales). The voxels carry the responses' coordinates (``roi``...).
        """
        self._check_fitted()
        if not 0 <= int(layer) < len(self.map_shapes_):
            raise InputError(f"layer: received {layer!r}; expected a position in [0, {len(self.map_shapes_)})")
        _, h, w = self.map_shapes_[int(layer)]
        with torch.no_grad():
            m = self.module_.mask(int(layer)).detach().cpu().double().numpy().reshape(-1, h, w)
        return xr.DataArray(m, dims=("voxel", "y", "x"), coords=self._voxel_coords, name="receptive field")


# ---------------------------------------------------------------------------------------- attention
class AttentionReadout(_Readout):
    """Learned queries attend over feature-map tokens; the routed features map linearly to voxels.

    The maps of every layer become tokens (a linear projection of each position's channels to
    ``dim``, plus positional encodings), normalised together; learned queries attend over them with
    multi-head cross-attention (Adeli et al. 2025). With ``query="roi"`` there is one query per ROI
    (the responses' ``roi`` coordinate; one query when there is none) and each voxel reads its ROI's
    routed feature; with ``query="group"`` there are ``n_groups`` queries and each voxel learns a
    softmax mixture over them. A per-voxel linear map turns the routed feature into the response.

    Parameters
    ----------
    n_heads : int
        Attention heads (``dim`` must be a multiple).
    query : {"roi", "group"}
        One query per ROI, or ``n_groups`` learned voxel groups.
    n_groups : int
        Queries with ``query="group"``.
    dim : int
        Token and query width.
    positional : {"learned", "sine", None}
        Learned per-position encodings, fixed 2-D sinusoids, or none.
    lr, weight_decay, max_epochs, patience, batch_size, map_shape, random_state, device, progress
        As for :class:`FactorizedReadout`.

    Attributes
    ----------
    queries_ : list of str
        Query names (ROIs, or ``group0``...).
    history_ : pandas.DataFrame
    module_ : torch.nn.Module

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> maps = xr.DataArray(rng.normal(size=(150, 3, 4, 4)), dims=("stimulus", "channel", "y", "x"))
    >>> y = maps.values[:, :1, 0, 0] + maps.values[:, 1:2, 3, 3]
    >>> model = AttentionReadout(n_heads=2, dim=8, max_epochs=5, random_state=0).fit(maps, y)
    >>> model.predict(maps).shape, model.attention_maps(maps).dims
    ((150, 1), ('stimulus', 'roi', 'y', 'x'))
    """

    def __init__(self, n_heads=4, query="roi", n_groups=8, dim=32, positional="learned", lr=0.005,
                 weight_decay=0.01, max_epochs=100, patience=10, batch_size=64, map_shape=None, random_state=0,
                 device="cpu", progress=False):
        self.n_heads = n_heads
        self.query = query
        self.n_groups = n_groups
        self.dim = dim
        self.positional = positional
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.map_shape = map_shape
        self.random_state = random_state
        self.device = device
        self.progress = progress

    def _build(self, shapes, rois):
        if self.query not in ("roi", "group"):
            raise InputError(f"query: received {self.query!r}; expected 'roi' or 'group'")
        if self.positional not in ("learned", "sine", None):
            raise InputError(f"positional: received {self.positional!r}; expected 'learned', 'sine' or None")
        for key in ("n_heads", "dim", "n_groups"):
            val = getattr(self, key)
            if not isinstance(val, (int, np.integer)) or val < 1:
                raise InputError(f"{key}: received {val!r}; expected a positive int")
        if self.dim % self.n_heads:
            raise InputError(f"dim: received {self.dim}; expected a multiple of n_heads ({self.n_heads})")
        self._rois = rois
        if self.query == "roi":
            self.queries_ = list(dict.fromkeys(rois.tolist()))
            voxel_query = np.array([self.queries_.index(r) for r in rois])
        else:
            self.queries_ = [f"group{g}" for g in range(int(self.n_groups))]
            voxel_query = None
        core = _Attention(shapes, len(self.queries_), voxel_query, int(self.dim), int(self.n_heads), self.positional)
        return _AttentionModel(core, len(rois), int(self.dim), len(self.queries_), self.query == "roi")

    def fit(self, feature_maps: Any, responses: Any, validation: Any = 0.1) -> AttentionReadout:
        """Train on feature maps and responses; see the class docstring."""
        return super().fit(feature_maps, responses, validation)

    def attention_maps(self, feature_maps: Any, by: str = "roi") -> xr.DataArray | dict[str, xr.DataArray]:
        """Attention over the feature grid, averaged over heads, per stimulus and ROI (or query).

        With ``by="roi"`` and learned groups, an ROI's map is the mixture of the group maps with its
        voxels' mean mixing weights. Each map sums to 1 over all layers' positions.

        Returns
        -------
        xarray.DataArray or dict of str to DataArray
            ``("stimulus", "roi" | "query", "y", "x")``, one per layer for a dict of layers.
        """
        if by not in ("roi", "query"):
            raise InputError(f"by: received {by!r}; expected 'roi' or 'query'")
        layers, inputs = self._inputs(feature_maps)
        chunks = []
        self.module_.eval()
        with torch.no_grad():
            for a in range(0, inputs[0].shape[0], int(self.batch_size)):
                _, w = self.module_.core.routed([x[a:a + int(self.batch_size)].to(self.device_) for x in inputs],
                                                weights=True)
                chunks.append(w.cpu())
        att = torch.cat(chunks).double().numpy()  # (stimulus, query, token)
        labels = self.queries_
        if by == "roi":
            mix = self.module_.voxel_mixing().detach().cpu().double().numpy()
            labels = list(dict.fromkeys(self._rois.tolist()))
            weights = np.stack([mix[self._rois == r].mean(0) for r in labels])
            att = np.einsum("sqt,rq->srt", att, weights)
        first = next(iter(layers.values()))
        coords = {"stimulus_id": ("stimulus", np.asarray(first["stimulus_id"].values))} \
            if "stimulus_id" in first.coords else {}
        coords[by] = labels
        out, start = {}, 0
        for name, (_, h, w) in zip(layers, self.map_shapes_):
            out[name] = xr.DataArray(att[:, :, start:start + h * w].reshape(att.shape[0], len(labels), h, w),
                                     dims=("stimulus", by, "y", "x"), coords=coords, name=f"attention {name}")
            start += h * w
        return out if isinstance(feature_maps, Mapping) else next(iter(out.values()))

    def voxel_attention_maps(self, feature_maps: Any) -> xr.DataArray:
        """Each voxel's attention ``("voxel", "y", "x")`` on the first layer's grid, averaged over stimuli.

        A voxel's map is the mixture of the query maps with its mixing weights (its ROI's map with
        ``query="roi"``); it sums to at most 1 (the rest falls on the other layers' positions).
        """
        first = self.attention_maps(feature_maps, by="query")
        first = next(iter(first.values())) if isinstance(first, dict) else first
        att = np.asarray(first.mean("stimulus").values, np.float64)  # (query, y, x)
        mix = self.module_.voxel_mixing().detach().cpu().double().numpy()
        return xr.DataArray(np.einsum("vq,qyx->vyx", mix, att), dims=("voxel", "y", "x"), coords=self._voxel_coords,
                            name="voxel attention")

    def attention_centres(self, feature_maps: Any) -> pd.DataFrame:
        """Per-voxel centre of its attention on the first layer's grid, in cells.

        The centre of mass of the part of :meth:`voxel_attention_maps` above the uniform level
        ``1 / (y·x)``. A measure of where the routed features come from: with ``query="roi"`` all
        voxels of an ROI share one centre, and soft group mixtures blur small receptive fields (see
        the docs for how well planted centres are recovered).

        Returns
        -------
        pandas.DataFrame
            Per voxel ``roi``, ``center_y``, ``center_x``.
        """
        maps = np.asarray(self.voxel_attention_maps(feature_maps).values)
        h, w = maps.shape[1:]
        p = np.clip(maps - 1.0 / (h * w), 0, None)
        flat = p.sum((1, 2), keepdims=True)
        p = np.where(flat > 0, p / np.where(flat > 0, flat, 1.0), 1.0 / (h * w))
        yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        out = pd.DataFrame({"roi": self._rois, "center_y": (p * yy).sum((1, 2)), "center_x": (p * xx).sum((1, 2))})
        out.index.name = "voxel"
        return out
