"""The attention readout: learned queries route feature-map tokens to voxels (Adeli et al. 2025).

:class:`AttentionReadout` lets learned queries (one per ROI or ROI and hemisphere, or learned voxel
groups) attend over the feature-map tokens with multi-head cross-attention and positional encodings,
by default in one step, with ``decoder=True`` through stacked transformer-decoder layers
(self-attention among the queries, cross-attention, feed-forward), and maps the routed features to
each voxel linearly; ``content=False`` makes the routing independent of the stimulus. It shares the
validation, standardisation, training loop and labelled prediction of
:mod:`neuroperception.encoding.readouts` (``fit``, ``predict``, ``voxel_scores``,
``get_params``/``clone``, ``random_state``, ``history_``) and adds the attention accessors
(``attention_maps``, ``voxel_attention_maps``, ``attention_centres``). Its torch modules are in
``_readout_modules``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .._docs import fill_doc
from ..errors import InputError
from ._readout_modules import _Attention, _AttentionModel
from .readouts import _Readout

__all__ = ["AttentionReadout"]


@fill_doc
class AttentionReadout(_Readout):
    """Learned queries attend over feature-map tokens; the routed features map linearly to voxels.

    The maps of every layer become tokens (a linear projection of each position's channels to
    ``dim``, plus positional encodings), normalised together; learned queries attend over them
    (Adeli et al. 2025). By default one multi-head cross-attention routes the tokens to the queries;
    with ``decoder=True`` the queries pass through ``n_layers`` transformer-decoder layers as in the
    paper: self-attention among the queries, cross-attention to the tokens and a feed-forward block,
    each pre-norm with a residual. With ``query="roi"`` there is one query per ROI (the responses'
    ``roi`` coordinate; one query when there is none), split by hemisphere with ``hemisphere``, and
    each voxel reads its query's routed feature; with ``query="group"`` there are ``n_groups``
    queries and each voxel learns a softmax mixture over them. A per-voxel linear map turns the
    routed feature into the response.

    Parameters
    ----------
    n_heads : int
        Attention heads (``dim`` must be a multiple).
    query : {"roi", "group"}
        One query per ROI (and hemisphere), or ``n_groups`` learned voxel groups.
    n_groups : int
        Queries with ``query="group"``.
    dim : int
        Token and query width.
    positional : {"learned", "sine", None}
        Learned per-position encodings, fixed 2-D sinusoids, or none.
    n_layers : int, default 1
        Decoder layers with ``decoder=True``; 1 without (the single cross-attention).
    decoder : bool, default False
        False: one cross-attention from the learned queries to the tokens (no self-attention, no
        feed-forward block; the behaviour before ``n_layers`` existed). True: ``n_layers``
        decoder layers, the learned queries added to the queries and keys of every attention.
    content : bool, default True
        False removes the content dependence of the routing: every attention logit comes from the
        learned queries and the tokens' positional encodings alone (the keys are the positional
        encodings, the values still carry the features), so the attention maps are the same for
        every stimulus (the control for content-based routing; needs ``positional``).
    hemisphere : str, optional
        Name of a voxel coordinate of the responses (``"hemi"`` as the NSD and Algonauts readers
        write it) whose values split each ROI's query into one per ROI and hemisphere (query names
        ``"V1 left"``...); ``query="roi"`` only. ``simulate_brain`` writes no such coordinate; its
        voxels' MNI ``x`` gives it (``x < 0``: left).
    lr, weight_decay, max_epochs, patience, batch_size, validation, map_shape
        As for :class:`FactorizedReadout`.
    %(random_state)s
        It seeds the initialisation, the validation split and the batch order.
    %(device)s
    %(progress)s
        The bar runs over epochs.

    Attributes
    ----------
    queries_ : list of str
        Query names (ROIs, ``"<roi> <hemisphere>"``, or ``group0``...).
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

    Two decoder layers, one query per ROI and hemisphere, and the content-free control:

    >>> y = xr.DataArray(rng.normal(size=(150, 4)), dims=("stimulus", "voxel"),
    ...                  coords={"roi": ("voxel", ["V1", "V1", "IT", "IT"]),
    ...                          "hemi": ("voxel", ["left", "right", "left", "right"])})
    >>> deep = AttentionReadout(n_heads=2, dim=8, n_layers=2, decoder=True, hemisphere="hemi", content=False,
    ...                         max_epochs=2, random_state=0).fit(maps, y)
    >>> deep.queries_
    ['V1 left', 'V1 right', 'IT left', 'IT right']
    >>> att = deep.attention_maps(maps, by="query")
    >>> att.sizes["query"], bool(np.allclose(att[0], att[1]))
    (4, True)
    """

    def __init__(self, n_heads=4, query="roi", n_groups=8, dim=32, positional="learned", n_layers=1, decoder=False,
                 content=True, hemisphere=None, lr=0.005, weight_decay=0.01, max_epochs=100, patience=10,
                 batch_size=64, validation=0.1, map_shape=None, random_state=0, device=None, progress=None):
        self.n_heads = n_heads
        self.query = query
        self.n_groups = n_groups
        self.dim = dim
        self.positional = positional
        self.n_layers = n_layers
        self.decoder = decoder
        self.content = content
        self.hemisphere = hemisphere
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
        if self.query not in ("roi", "group"):
            raise InputError(f"query: received {self.query!r}; expected 'roi' or 'group'")
        if self.positional not in ("learned", "sine", None):
            raise InputError(f"positional: received {self.positional!r}; expected 'learned', 'sine' or None")
        for key in ("n_heads", "dim", "n_groups", "n_layers"):
            val = getattr(self, key)
            if isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, np.integer)) or val < 1:
                raise InputError(f"{key}: received {val!r}; expected a positive int")
        for key in ("decoder", "content"):
            if not isinstance(getattr(self, key), (bool, np.bool_)):
                raise InputError(f"{key}: received {getattr(self, key)!r}; expected True or False")
        if self.dim % self.n_heads:
            raise InputError(f"dim: received {self.dim}; expected a multiple of n_heads ({self.n_heads})")
        if self.n_layers > 1 and not self.decoder:
            raise InputError(f"n_layers: received {self.n_layers} with decoder=False; expected 1 (the single "
                             "cross-attention), or decoder=True for stacked decoder layers")
        if not self.content and self.positional is None:
            raise InputError("content: received False with positional=None; expected positional 'learned' or "
                             "'sine' (without content the attention keys are the positional encodings alone)")
        self._rois = rois
        if self.hemisphere is not None:
            if self.query != "roi":
                raise InputError(f"hemisphere: received {self.hemisphere!r} with query={self.query!r}; expected "
                                 "None, or query='roi' (one query per ROI and hemisphere)")
            if not isinstance(self.hemisphere, str) or self.hemisphere not in self._voxel_coords:
                raise InputError(f"hemisphere: received {self.hemisphere!r}; expected the name of a voxel "
                                 f"coordinate of y (it has {sorted(self._voxel_coords)}) or None")
            side = np.asarray(self._voxel_coords[self.hemisphere][1]).astype(str)
            labels = np.array([f"{r} {h}" for r, h in zip(rois, side)])
        else:
            labels = rois
        if self.query == "roi":
            self.queries_ = list(dict.fromkeys(labels.tolist()))
            voxel_query = np.array([self.queries_.index(r) for r in labels])
        else:
            self.queries_ = [f"group{g}" for g in range(int(self.n_groups))]
            voxel_query = None
        core = _Attention(shapes, len(self.queries_), voxel_query, int(self.dim), int(self.n_heads), self.positional,
                          n_layers=int(self.n_layers), decoder=bool(self.decoder), content=bool(self.content))
        return _AttentionModel(core, len(rois), int(self.dim), len(self.queries_), self.query == "roi")

    def fit(self, X: Any, y: Any) -> AttentionReadout:
        """Train on feature maps ``X`` and responses ``y`` (as :meth:`FactorizedReadout.fit`)."""
        return super().fit(X, y)

    def attention_maps(self, feature_maps: Any, by: str = "roi",
                       layer: int | str = -1) -> xr.DataArray | dict[str, xr.DataArray]:
        """Cross-attention over the feature grid, averaged over heads, per stimulus and ROI (or query).

        With ``by="roi"``, an ROI's map is the mixture of the query maps with its voxels' mean mixing
        weights: the mean of its hemispheres' maps weighted by their voxel counts with
        ``hemisphere``, the group maps mixed with learned groups. Each map sums to 1 over all
        layers' positions. With ``content=False`` the maps are the same for every stimulus.
        Averaging over heads dilutes a head that routes sharply with heads that look elsewhere,
        and in a decoder the routing may happen in an early layer (on a toy problem with one marked
        position, two layers and one head, the first layer's argmax found it, the last layer's not);
        compare layers (``layer=0``...) before reading a map.

        Parameters
        ----------
        feature_maps : xarray.DataArray or dict of them
            Maps as given to :meth:`fit`.
        by : {"roi", "query"}
            Per ROI, or per query (ROI x hemisphere with ``hemisphere``, or learned group).
        layer : int or "mean"
            Which decoder layer's cross-attention (default ``-1``, the last one; the only one with
            ``decoder=False``), or ``"mean"``: averaged over the decoder layers.

        Returns
        -------
        xarray.DataArray or dict of str to DataArray
            ``("stimulus", "roi" | "query", "y", "x")``, one per feature layer for a dict of layers.
        """
        if by not in ("roi", "query"):
            raise InputError(f"by: received {by!r}; expected 'roi' or 'query'")
        self._check_fitted()
        n_layers = len(self.module_.core.layers) if self.module_.core.decoder else 1
        if not (isinstance(layer, str) and layer == "mean" or (isinstance(layer, (int, np.integer)) and not isinstance(layer, bool)
                                    and -n_layers <= layer < n_layers)):
            raise InputError(f"layer: received {layer!r}; expected 'mean' or an int in [-{n_layers}, {n_layers})")
        layers, inputs = self._inputs(feature_maps, name="feature_maps")
        chunks = []
        self.module_.eval()
        with torch.no_grad():
            for a in range(0, inputs[0].shape[0], int(self.batch_size)):
                _, w = self.module_.core.routed([x[a:a + int(self.batch_size)].to(self.device_) for x in inputs],
                                                weights=True)
                chunks.append((w.mean(1) if layer == "mean" else w[:, int(layer)]).cpu())
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
