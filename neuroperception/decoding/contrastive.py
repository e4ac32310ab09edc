"""Contrastive fMRI → embedding decoder: a linear or MLP brain encoder trained with InfoNCE.

:class:`ContrastiveDecoder` maps responses ``("stimulus", "voxel")`` into a feature space (CLIP image
embeddings, any network layer) so that a stimulus's decoded embedding is closer, in cosine, to its
own image's embedding than to the other images' (the objective of MindEye and the fMRI foundation
models). It trains a symmetric InfoNCE loss with a learnable temperature, optionally mixed with
MindEye's soft-CLIP targets and with MixCo mixing of the brain inputs (see
:mod:`~neuroperception.decoding._contrastive_loss`), using the package's one training loop (AdamW,
mini-batches, early stopping on a held-out share, ``history_``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator

from .._docs import fill_doc
from .._progress import check_progress
from .._validation import check_device, describe, seed_from
from ..encoding._training import _predict, plot_history, train
from ..errors import InputError, ShapeError
from ._contrastive_loss import TEMPERATURE_RANGE, contrastive_loss, mixco, top1_accuracy
from ._inputs import as_matrix, as_responses, decoding_data

__all__ = ["ContrastiveDecoder"]


class _BrainEncoder(torch.nn.Module):
    """Voxels → embedding (Linear, then LayerNorm-GELU-Dropout blocks for an MLP), and the temperature."""

    def __init__(self, n_voxels: int, hidden: tuple[int, ...], dim: int, dropout: float, temperature: float):
        super().__init__()
        layers: list[torch.nn.Module] = []
        width = n_voxels
        if not hidden and dropout:
            layers.append(torch.nn.Dropout(dropout))
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.LayerNorm(h), torch.nn.GELU(), torch.nn.Dropout(dropout)]
            width = h
        layers.append(torch.nn.Linear(width, dim))
        self.net = torch.nn.Sequential(*layers)
        self.log_temperature = torch.nn.Parameter(torch.tensor(math.log(temperature), dtype=torch.float32))

    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp().clamp(*TEMPERATURE_RANGE)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.net(xs[0])


def _number(value: Any, name: str, low: float, high: float, *, open_low: bool = False, open_high: bool = False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and np.isfinite(value) and (value > low if open_low else value >= low) \
        and (value < high if open_high else value <= high)
    if not ok:
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise InputError(f"{name}: received {value!r}; expected a number in {interval}")
    return float(value)


@fill_doc
class ContrastiveDecoder(BaseEstimator):
    """Decode responses into a feature space with a contrastive (InfoNCE) brain encoder.

    A linear map (``hidden=()``) or an MLP (Linear → LayerNorm → GELU → Dropout blocks) takes the
    (standardised) voxels to an embedding of the features' width. Training minimises the symmetric
    InfoNCE loss over each mini-batch: with L2-normalised brain embeddings ``b̂`` and feature rows
    ``t̂``, logits ``b̂ t̂ᵀ / τ``, the cross-entropy of every brain row over the batch's images and of
    every image row over the batch's brain rows, averaged. ``τ`` is learned (a log-parameter, clamped
    to [0.01, 1]). Early stopping monitors the same loss over the held-out stimuli (all of them as
    candidates) and records their top-1 retrieval accuracy.

    Parameters
    ----------
    hidden : tuple of int
        Widths of the hidden layers; ``()`` is a linear decoder.
    dropout : float
        Dropout after each hidden block (on the voxels for a linear decoder), in [0, 1).
    temperature : float
        Initial ``τ`` in [0.01, 1].
    soft_targets : float
        Weight in [0, 1] of MindEye's soft-CLIP targets ``softmax(t̂ t̂ᵀ / τ)`` against the identity
        targets: similar images become partly correct answers.
    mixco : float
        Probability in [0, 1] that a training stimulus's voxels are mixed with another's
        (``β·x_i + (1 − β)·x_j``, ``β ~ Beta(0.15, 0.15)``, MindEye's BiMixCo); its targets are mixed
        with the same weights, in both directions.
    lr, weight_decay : float
        AdamW settings.
    max_epochs, patience, batch_size : int
        Epoch budget, early-stopping patience and stimuli per mini-batch (at least 2: the other
        stimuli of a batch are the negatives).
    validation : float, sequence of int or None
        Held-out fraction (or positions) for early stopping; None trains on everything for
        ``max_epochs``.
    standardize : bool
        z-score each voxel with the training mean and sd (the features are used as given and
        L2-normalised).
    %(random_state)s
        It seeds the initialisation, validation split, batch order, dropout and mixing (a Generator
        or None: through one seed drawn at each fit).
    %(device)s
    %(progress)s
        The bar runs over epochs.

    Attributes
    ----------
    module_ : torch.nn.Module
        The brain encoder (with its ``log_temperature``).
    temperature_ : float
        The learned ``τ``.
    history_ : pandas.DataFrame
        Per epoch ``train_loss``, ``val_loss`` (InfoNCE), ``val_top1``, ``seconds``; draw it with
        :meth:`plot_history`.
    n_voxels_, n_features_ : int
    device_ : torch.device

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(200, 8))
    >>> X = Z @ rng.normal(size=(8, 40)) + 0.1 * rng.normal(size=(200, 40))
    >>> dec = ContrastiveDecoder(hidden=(), lr=1e-2, max_epochs=30, batch_size=64).fit(X[:150], Z[:150])
    >>> dec.transform(X[150:]).shape, dec.score(X[150:], Z[150:]) > 0.5
    ((50, 8), True)
    """

    def __init__(self, hidden=(512,), dropout=0.0, temperature=0.07, soft_targets=0.0, mixco=0.0, lr=1e-3,
                 weight_decay=1e-2, max_epochs=100, patience=10, batch_size=128, validation=0.1, standardize=True,
                 random_state=0, device=None, progress=None):
        self.hidden = hidden
        self.dropout = dropout
        self.temperature = temperature
        self.soft_targets = soft_targets
        self.mixco = mixco
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.validation = validation
        self.standardize = standardize
        self.random_state = random_state
        self.device = device
        self.progress = progress

    # ------------------------------------------------------------------------------------ checks
    def _check_params(self) -> tuple[int, ...]:
        hidden = self.hidden
        if hidden is None:
            hidden = ()
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if not isinstance(hidden, Sequence) or not all(
                isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in hidden):
            raise InputError(f"hidden: received {self.hidden!r}; expected a tuple of positive ints (() for linear)")
        _number(self.dropout, "dropout", 0.0, 1.0, open_high=True)
        _number(self.temperature, "temperature", *TEMPERATURE_RANGE)
        _number(self.soft_targets, "soft_targets", 0.0, 1.0)
        _number(self.mixco, "mixco", 0.0, 1.0)
        _number(self.lr, "lr", 0.0, np.inf, open_low=True, open_high=True)
        _number(self.weight_decay, "weight_decay", 0.0, np.inf, open_high=True)
        for key in ("max_epochs", "patience"):
            val = getattr(self, key)
            if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < 1:
                raise InputError(f"{key}: received {val!r}; expected a positive int")
        bs = self.batch_size
        if not isinstance(bs, (int, np.integer)) or isinstance(bs, bool) or bs < 2:
            raise InputError(f"batch_size: received {bs!r}; expected an int >= 2 (the other stimuli of a batch are "
                             "the negatives of the contrastive loss)")
        if not isinstance(self.standardize, (bool, np.bool_)):
            raise InputError(f"standardize: received {self.standardize!r}; expected True or False")
        return tuple(int(h) for h in hidden)

    def _check_fitted(self):
        if not hasattr(self, "module_"):
            raise InputError(f"{type(self).__name__}: received a call before fit; expected fit(X, y) first")

    # ------------------------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> ContrastiveDecoder:
        """Train the brain encoder on responses ``X`` and the embeddings ``y`` of the same stimuli.

        Parameters
        ----------
        X : xarray.DataArray or numpy.ndarray
            Responses ``("stimulus", "voxel")``, or ``("repeat", "stimulus", "voxel")`` (averaged
            over repeats).
        y : xarray.DataArray or numpy.ndarray
            Embeddings ``("stimulus", "feature")``. Matched to ``X`` by ``stimulus_id`` when both
            carry ids, by position when neither does (ids on one side only are an error).

        Returns
        -------
        ContrastiveDecoder

        Raises
        ------
        AlignmentError
            Different stimulus ids or numbers of stimuli, or ids on one side only.
        InputError
            NaN/Inf, bad parameters, or too few stimuli for two mini-batch members.
        """
        hidden = self._check_params()
        seed, progress = seed_from(self.random_state), check_progress(self.progress)
        self.device_ = check_device(self.device)
        data = decoding_data(X, y, names=("X", "y"))
        X, Y = np.asarray(data.X, np.float64), np.asarray(data.Y, np.float64)
        n = X.shape[0]
        if n < 4:
            raise InputError(f"X: received {n} stimuli; expected at least 4 (2 to train and 2 to validate) "
                             "for a contrastive loss")
        self.n_voxels_, self.n_features_ = int(X.shape[1]), int(Y.shape[1])
        self.feature_coords_ = data.feature_coords
        if self.standardize:
            sd = X.std(0)
            self.mean_, self.scale_ = X.mean(0), np.where(sd > 1e-12, sd, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        devices = [self.device_.index or 0] if self.device_.type == "cuda" else []
        soft, mix_p = float(self.soft_targets), float(self.mixco)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            module = _BrainEncoder(self.n_voxels_, hidden, self.n_features_, float(self.dropout),
                                   float(self.temperature)).to(self.device_)

            def loss_fn(pred, target):
                target, mix = (target, None) if isinstance(target, torch.Tensor) else (target[0], target[1:])
                return contrastive_loss(pred, target, module.temperature(), soft_targets=soft, mix=mix)

            def mix_batch(inputs, target, generator):
                mixed, perm, betas = mixco(inputs[0], mix_p, generator)
                return [mixed], (target, perm, betas)

            self.history_ = train(
                module, [torch.from_numpy(self._scaled(X))], torch.from_numpy(Y.astype(np.float32)),
                validation=self.validation, lr=self.lr, weight_decay=self.weight_decay, max_epochs=self.max_epochs,
                patience=self.patience, batch_size=int(self.batch_size), random_state=seed,
                device=self.device_, progress=progress, desc=type(self).__name__, loss_fn=loss_fn,
                batch_transform=mix_batch if mix_p > 0 else None, val_metric=("val_top1", top1_accuracy),
                loss_name="symmetric InfoNCE", min_batch=2)
        self.module_ = module
        self.temperature_ = float(module.temperature().detach().cpu())
        return self

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    # ------------------------------------------------------------------------------------ use
    def transform(self, X: Any) -> np.ndarray | xr.DataArray:
        """L2-normalised decoded embeddings ``(stimulus, feature)``.

        Parameters
        ----------
        X : xarray.DataArray or numpy.ndarray
            Responses ``("stimulus", "voxel")`` or with a leading ``"repeat"`` dim (averaged), the
            fitted voxels.

        Returns
        -------
        numpy.ndarray or xarray.DataArray
            A DataArray ``("stimulus", "feature")`` carrying the responses' stimulus coordinates
            (``stimulus_id``) for labelled input, a numpy array for plain input.
        """
        self._check_fitted()
        labelled = isinstance(X, xr.DataArray)
        resp = as_responses(X, name="X")
        if resp.sizes["voxel"] != self.n_voxels_:
            raise ShapeError(f"X: received {describe(resp)}; expected {self.n_voxels_} voxels as in fit")
        X = np.asarray(resp.values, np.float64)
        emb = _predict(self.module_, [torch.from_numpy(self._scaled(X))], int(self.batch_size), self.device_)
        emb = torch.nn.functional.normalize(emb.double(), dim=-1, eps=1e-12).numpy()
        if not labelled:
            return emb
        coords = {k: c for k, c in resp.coords.items() if c.dims == ("stimulus",)}
        coords.update({k: ("feature", v) for k, v in self.feature_coords_.items()})
        return xr.DataArray(emb, dims=("stimulus", "feature"), coords=coords, name="decoded embedding")

    def predict(self, X: Any) -> np.ndarray | xr.DataArray:
        """Same as :meth:`transform`."""
        return self.transform(X)

    def score(self, X: Any, y: Any) -> float:
        """Top-1 brain→image retrieval accuracy of responses ``X`` among the embeddings ``y`` (cosine).

        Each stimulus's decoded embedding is compared with every stimulus's features; a hit is when
        its own is the most similar. Chance is ``1 / n_stimuli``. ``X`` and ``y`` are matched as in
        :meth:`fit`. For n-way subsets, top-k and the image→brain direction, see
        :mod:`neuroperception.decoding.retrieval`.

        Returns
        -------
        float
        """
        self._check_fitted()
        values, labelled = as_matrix(y, name="y")
        if values.shape[1] != self.n_features_:
            raise ShapeError(f"y: received {describe(values)}; expected {self.n_features_} features as in fit")
        data = decoding_data(X, labelled if labelled is not None else values, names=("X", "y"))
        if data.Y.shape[0] < 2:
            raise InputError(f"y: received {data.Y.shape[0]} stimulus; expected at least 2 candidates")
        pred = self.transform(data.responses if data.labelled else data.X)
        return top1_accuracy(torch.from_numpy(np.asarray(pred)), torch.from_numpy(np.asarray(data.Y, np.float64)))

    def plot_history(self, ax=None):
        """Training and validation loss per epoch (see ``history_``)."""
        self._check_fitted()
        return plot_history(self.history_, ax=ax)
