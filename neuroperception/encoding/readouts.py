"""Deep readouts: feature maps → voxels, keeping where in the image each voxel looks.

This module holds the base class ``_Readout`` of the deep readouts and :class:`FactorizedReadout`,
which gives every voxel a spatial mask (a Gaussian, a free mask, or a low-rank one) times a weight per
channel (Klindt et al. 2017). The attention readout built on the same base is
:class:`~neuroperception.encoding.attention_readout.AttentionReadout`. Readouts are torch modules
inside and scikit-learn estimators outside: ``fit(X, y)``, ``predict(X)``, ``score(X, y)``,
``voxel_scores``, ``get_params``/``clone`` (every setting, the validation split included, is a
parameter of ``__init__``), a ``random_state`` that makes a CPU fit reproducible, and a ``history_``
of the training (AdamW, mini-batches, early stopping).

Feature maps are ``("stimulus", "channel", "y", "x")`` DataArrays (``extract(..., pooling="none")``),
or a dict of them (several layers, each its own grid), aligned to the responses by ``stimulus_id``.
Readouts declare ``accepts_maps = True``, so :func:`fit_encoding_model` passes them the maps as they are;
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

from .._docs import fill_doc
from .._progress import check_progress
from .._validation import check_alignment, check_device, check_responses, seed_from
from ..errors import InputError, ShapeError
from . import scoring
from ._inputs import score_pair
from ._readout_inputs import _as_maps
from ._readout_modules import _Factorized
from ._training import _predict, plot_history, train

__all__ = ["FactorizedReadout"]


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

    def fit(self, X: Any, y: Any):
        """Train the readout on feature maps ``X`` and responses ``y`` (``validation`` drives early stopping)."""
        seed, progress = seed_from(self.random_state), check_progress(self.progress)
        self.device_ = check_device(self.device)
        layers = _as_maps(X, self.map_shape, name="X")
        Y = check_responses(y, name="y")
        names = list(layers)
        aligned = check_alignment(*layers.values(), Y, names=[f"X[{k!r}]" for k in names] + ["y"])
        layers, Y = dict(zip(names, aligned[:-1])), aligned[-1]
        if Y.sizes["stimulus"] < 4:
            raise InputError(f"y: received {Y.sizes['stimulus']} stimuli; expected at least 4 to train")
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
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = self._build(self.map_shapes_, rois).to(self.device_)
        targets = torch.from_numpy(((y - self._y_mean) / self._y_sd).astype(np.float32))
        self.history_ = train(module, self._tensors(layers), targets, validation=self.validation, lr=self.lr,
                              weight_decay=self.weight_decay, max_epochs=self.max_epochs, patience=self.patience,
                              batch_size=self.batch_size, penalty=self._penalty(module),
                              random_state=seed, device=self.device_, progress=progress,
                              desc=type(self).__name__)
        self.module_ = module
        return self

    def _check_fitted(self):
        if not hasattr(self, "module_"):
            raise InputError(f"{type(self).__name__}: received a call before fit; expected fit(X, y) first")

    def _inputs(self, X: Any, name: str = "X") -> tuple[dict[str, xr.DataArray], list[torch.Tensor]]:
        self._check_fitted()
        shape = self.map_shape if self.map_shape is not None else (
            self.map_shapes_ if np.ndim(X) == 2 and not isinstance(X, Mapping) else None)
        layers = _as_maps(X, shape, name=name)
        got = [tuple(int(v) for v in da.shape[1:]) for da in layers.values()]
        if got != self.map_shapes_ or (isinstance(X, Mapping) and list(layers) != self.layer_names_):
            raise ShapeError(f"{name}: received layers {dict(zip(layers, got))}; expected the fitted "
                             f"{dict(zip(self.layer_names_, self.map_shapes_))}")
        return layers, self._tensors(layers)

    def predict(self, X: Any) -> np.ndarray | xr.DataArray:
        """Predicted responses ``(stimulus, voxel)``; labelled (``stimulus_id``, voxel coords) for labelled maps."""
        layers, inputs = self._inputs(X)
        pred = _predict(self.module_, inputs, int(self.batch_size), self.device_).double().numpy()
        pred = pred * self._y_sd + self._y_mean
        first = next(iter(layers.values()))
        if "stimulus_id" not in first.coords:
            return pred
        coords = {"stimulus_id": ("stimulus", np.asarray(first["stimulus_id"].values)), **self._voxel_coords}
        return xr.DataArray(pred, dims=("stimulus", "voxel"), coords=coords, name="predicted responses")

    def voxel_scores(self, X: Any, y: Any, metric: str = "r") -> np.ndarray | xr.DataArray:
        """Per-voxel ``"r"`` or ``"r2"`` of the predictions for maps ``X`` against responses ``y``.

        ``X`` and ``y`` are matched by ``stimulus_id`` when both carry ids, by position when
        neither does.
        """
        targets, pred = score_pair(self.predict(X), y)
        return scoring.voxel_scores(targets, pred, metric)

    def score(self, X: Any, y: Any) -> float:
        """Mean R^2 over voxels of the predictions for maps ``X`` against responses ``y``."""
        return float(np.nanmean(np.asarray(self.voxel_scores(X, y, "r2"))))

    def plot_history(self, ax=None):
        """Training and validation loss per epoch (see ``history_``)."""
        self._check_fitted()
        return plot_history(self.history_, ax=ax)


@fill_doc
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
    validation : float, sequence of int or None, default 0.1
        Held-out fraction (or positions) of the training stimuli for early stopping; None trains
        on everything for ``max_epochs``.
    map_shape : tuple or list of tuples, optional
        ``(channel, y, x)`` per layer, to accept maps flattened to ``("stimulus", "feature")``.
    %(random_state)s
        It seeds the initialisation, the validation split and the batch order (a Generator or
        None: through one seed drawn at each fit); the same int gives the same fit on the same device.
    %(device)s
    %(progress)s
        The bar runs over epochs.

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
                 max_epochs=100, patience=10, batch_size=64, validation=0.1, map_shape=None, random_state=0,
                 device=None, progress=None):
        self.spatial = spatial
        self.rank = rank
        self.smoothness = smoothness
        self.sparsity = sparsity
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.validation = validation
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

    def fit(self, X: Any, y: Any) -> FactorizedReadout:
        """Train on feature maps ``X`` and responses ``y``.

        Parameters
        ----------
        X : xarray.DataArray, numpy.ndarray, torch.Tensor or dict of them
            Feature maps ``("stimulus", "channel", "y", "x")``, a dict of them (one per layer), or
            maps flattened to ``("stimulus", "feature")`` with ``map_shape``.
        y : xarray.DataArray, numpy.ndarray or torch.Tensor
            Responses ``("stimulus", "voxel")``, matched to ``X`` by ``stimulus_id`` when both
            carry ids, by position when neither does.

        Returns
        -------
        FactorizedReadout
        """
        super().fit(X, y)
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

