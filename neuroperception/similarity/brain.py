"""Brain-predicted distance: how differently a fitted encoding model expects the brain to respond.

:class:`BrainDistance` maps images to features, features to predicted voxel responses with any
fitted encoding model that has ``predict`` (scikit-learn style), optionally keeps the voxels of some
regions of interest, and compares the predicted response patterns by correlation or Euclidean
distance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from .._validation import check_responses, describe
from ..errors import InputError, ShapeError
from ..features.extract import extract
from ..features.registry import FeatureModel, load_model
from .base import Metric
from .embedding import paired_distance, pairwise_distance

__all__ = ["BrainDistance"]

_BRAIN_METRICS = ("correlation", "euclidean")


def _spec_feature_fn(spec: tuple) -> Callable[[torch.Tensor], xr.DataArray]:
    """``(model, layer[, pooling])`` → images → ``("stimulus", "feature")`` features via ``extract``."""
    if len(spec) not in (2, 3):
        raise InputError(f"feature_fn: received a tuple of {len(spec)} items; expected (model, layer) or "
                         "(model, layer, pooling)")
    model, layer = spec[0], spec[1]
    pooling = spec[2] if len(spec) == 3 else "avg"
    if isinstance(model, str):
        model = load_model(model)
    if not isinstance(model, FeatureModel):
        raise InputError(f"feature_fn: received a tuple whose model is {type(model).__name__}; expected a registry "
                         "spec or a FeatureModel")
    if not isinstance(layer, str):
        raise InputError(f"feature_fn: received layer {layer!r}; expected one layer name (see model.layer_names())")

    def features(images: torch.Tensor) -> xr.DataArray:
        out = extract(model, images, [layer], pooling=pooling, batch_size=max(1, images.shape[0]), progress=False)
        da = out[layer]
        if da.dims != ("stimulus", "feature"):
            raise InputError(f"feature_fn: layer {layer!r} with pooling {pooling!r} gives dims {da.dims}; expected "
                             "('stimulus', 'feature') (use a pooling that makes vectors, e.g. 'avg')")
        return da

    features.__name__ = f"features({model.spec}, {layer}, {pooling})"
    return features


class BrainDistance(Metric):
    """Distance between two images' *predicted* voxel responses under a fitted encoding model.

    Parameters
    ----------
    model : object with ``predict``
        The fitted encoding model: maps features ``(n, features)`` to responses ``(n, voxels)``: a
        scikit-learn estimator (``Ridge``, a ``Pipeline``...), a package encoding model, or a
        ``torch.nn.Module`` (called directly when it has no ``predict``). ``predict`` may return a
        numpy array, a tensor, or an ``xarray.DataArray`` ``("stimulus", "voxel")`` with a ``roi``
        voxel coordinate.
    feature_fn : callable or tuple
        Images ``(N, 3, H, W)`` in ``[0, 1]`` → features ``(N, F)`` (tensor, array or DataArray),
        the same features the encoding model was fitted on; or a tuple ``(feature model, layer)`` /
        ``(feature model, layer, pooling)`` with a :class:`~neuroperception.features.FeatureModel` or a
        registry spec, computed with :func:`~neuroperception.features.extract` (pooling ``"avg"``
        by default).
    rois : str or sequence of str, optional
        Keep only the voxels whose ``roi`` label is one of these. The labels come from
        ``voxel_rois`` or, without it, from the predictions' ``roi`` coordinate.
    metric : {"correlation", "euclidean"}
        ``1 - Pearson r`` between the predicted patterns, or their Euclidean distance.
    voxel_rois : sequence, optional
        One ROI label per predicted voxel, for models that return plain arrays.

    Attributes
    ----------
    differentiable : bool
        True only when ``model`` is a ``torch.nn.Module`` and ``feature_fn`` a callable
        (which must then be torch and differentiable too); False for scikit-learn models and for
        ``(model, layer)`` feature specs, whose values are computed without gradients.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.linear_model import Ridge
    >>> mean_colour = lambda x: x.mean(dim=(2, 3))            # images -> (N, 3) features
    >>> X = np.random.default_rng(0).random((20, 3))
    >>> ridge = Ridge(alpha=1e-3).fit(X, X @ np.random.default_rng(1).normal(size=(3, 50)))
    >>> brain = BrainDistance(ridge, mean_colour)
    >>> x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> D = brain.pairwise(x)
    >>> D.shape, bool(D.diagonal().abs().max() < 1e-6), brain.differentiable
    (torch.Size([4, 4]), True, False)
    """

    same_size = False

    def __init__(self, model: Any, feature_fn: Callable | tuple, rois: str | Sequence[str] | None = None,
                 metric: str = "correlation", voxel_rois: Sequence | np.ndarray | None = None,
                 value_range: tuple[float, float] = (0.0, 1.0)):
        super().__init__(value_range=value_range)
        has_predict = callable(getattr(model, "predict", None))
        if not has_predict and not isinstance(model, nn.Module):
            raise InputError(f"model: received {type(model).__name__}; expected a fitted encoding model with "
                             "predict(features) -> (n, voxels), or a torch.nn.Module")
        self.torch_model = isinstance(model, nn.Module)
        if self.torch_model:
            self.encoder = model
        else:
            self._predictor = model
        if isinstance(feature_fn, tuple):
            self.feature_fn = _spec_feature_fn(feature_fn)
            spec_features = True
        elif callable(feature_fn):
            self.feature_fn, spec_features = feature_fn, False
        else:
            raise InputError(f"feature_fn: received {type(feature_fn).__name__}; expected a callable images -> "
                             "features or a (model, layer[, pooling]) tuple")
        if metric not in _BRAIN_METRICS:
            raise InputError(f"metric: received {metric!r}; expected one of {list(_BRAIN_METRICS)}")
        self.metric = metric
        if isinstance(rois, str):
            rois = [rois]
        if rois is not None:
            rois = [str(r) for r in rois]
            if not rois:
                raise InputError("rois: received an empty list; expected ROI names or None (all voxels)")
        self.rois = rois
        self.voxel_rois = None if voxel_rois is None else np.asarray(voxel_rois).astype(str).ravel()
        self.differentiable = self.torch_model and not spec_features

    @property
    def model(self) -> Any:
        """The fitted encoding model."""
        return self.encoder if self.torch_model else self._predictor

    def _predict(self, features: Any) -> Any:
        model = self.model
        if callable(getattr(model, "predict", None)):
            return model.predict(features)
        return model(features)

    def _labels(self, predicted: Any, n_voxels: int) -> np.ndarray:
        if self.voxel_rois is not None:
            labels = self.voxel_rois
        elif isinstance(predicted, xr.DataArray) and "roi" in predicted.coords:
            labels = np.asarray(predicted["roi"].values).astype(str)
            if labels.shape != (n_voxels,):
                raise ShapeError(f"predictions: the 'roi' coordinate has shape {labels.shape}; expected one label per "
                                 f"voxel ({n_voxels},)")
        else:
            raise InputError(f"rois={self.rois}: the encoding model's predictions are {describe(predicted)} without a "
                             "'roi' voxel coordinate; expected a DataArray prediction with one, or voxel_rois= "
                             "(one label per voxel)")
        if labels.shape[0] != n_voxels:
            raise ShapeError(f"voxel_rois: received {labels.shape[0]} labels; expected one per predicted voxel "
                             f"({n_voxels})")
        return labels

    def voxel_mask(self, predicted: Any, n_voxels: int) -> np.ndarray:
        """Boolean mask of the voxels kept (all when ``rois`` is None)."""
        if self.rois is None:
            return np.ones(n_voxels, dtype=bool)
        labels = self._labels(predicted, n_voxels)
        present = sorted(str(v) for v in set(labels.tolist()))
        missing = [r for r in self.rois if r not in present]
        if missing:
            raise InputError(f"rois: received {missing} which no voxel is labelled with; expected some of {present}")
        return np.isin(labels, self.rois)

    def _as_tensor(self, predicted: Any, n: int) -> torch.Tensor:
        if isinstance(predicted, torch.Tensor):
            values = predicted
            if values.ndim != 2:
                raise ShapeError(f"predictions: received {describe(values)}; expected (stimulus, voxel)")
        else:
            if isinstance(predicted, np.ndarray) and predicted.ndim == 1:
                raise ShapeError(f"predictions: received {describe(predicted)}; expected (stimulus, voxel) — a single "
                                 "voxel's model must still predict a 2-d array")
            values = torch.from_numpy(np.asarray(check_responses(predicted, name="predictions").values,
                                                 dtype=np.float64))
        if values.shape[0] != n:
            raise ShapeError(f"predictions: received {describe(values)} for {n} images; expected ({n}, voxels)")
        return values

    def _features(self, images: torch.Tensor) -> Any:
        feats = self.feature_fn(images)
        n = images.shape[0]
        shape = tuple(getattr(feats, "shape", ()))
        if len(shape) != 2 or shape[0] != n:
            raise ShapeError(f"feature_fn: returned {describe(feats)} for {n} images; expected ({n}, features)")
        return feats

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted responses ``(N, kept voxels)`` of validated images."""
        n = images.shape[0]
        if self.differentiable:
            predicted = self._predict(self._features(images))
        else:
            with torch.no_grad():
                feats = self._features(images)
            if isinstance(feats, torch.Tensor):
                feats = feats.detach().cpu().numpy()
            if self.torch_model:
                with torch.no_grad():
                    predicted = self._predict(torch.as_tensor(np.asarray(feats), dtype=torch.float32,
                                                              device=self.device))
            else:
                predicted = self._predict(feats)
        values = self._as_tensor(predicted, n)
        mask = self.voxel_mask(predicted, values.shape[1])
        if not mask.all():
            values = values[:, torch.from_numpy(np.flatnonzero(mask)).to(values.device)]
        return values

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Distances between paired predicted patterns."""
        return paired_distance(a, b, self.metric).float()

    def compare_pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """All-pairs distances between predicted patterns by matrix products."""
        return pairwise_distance(a, b, self.metric).float()

    def extra_repr(self) -> str:
        name = getattr(self.feature_fn, "__name__", type(self.feature_fn).__name__)
        return (f"model={type(self.model).__name__}, feature_fn={name}, rois={self.rois}, "
                f"metric={self.metric!r}")
