"""A reward model learned from pairwise judgements: a Bradley–Terry head on a frozen feature extractor.

:class:`PreferenceReward` embeds images with a frozen extractor (a :class:`~neuroperception.similarity.Metric`'s
``embed``, or any callable images → ``(N, D)``), and learns a utility ``u`` (a linear map or a small MLP
of the standardised embedding; with a reference image, of the difference to the reference's) such that
``P(first ≻ second) = σ(u(first) − u(second))`` (Bradley & Terry 1952). Labels are soft: the share of
votes for the first image (1, 0, 0.5 for a tie, any fraction for several raters). ``loss="robust"``
corrects for a known rate ``ε`` of flipped labels (forward loss correction: the model's probability is
mixed ``(1 − ε) p + ε (1 − p)`` before the likelihood), which keeps a flexible head from fitting the
flips. ``n_ensemble`` heads trained from different initialisations and bootstrap resamples give a mean
utility and its spread (an uncertainty for reward-hacking checks). The fitted model is a
:class:`~neuroperception.rewards.RewardFunction` (its reward is the mean utility) and trains with the
package's one training loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._docs import fill_doc
from .._validation import check_images, check_random_state, describe, seed_from
from ..errors import InputError, ShapeError
from ..similarity import Metric
from .base import RewardFunction

__all__ = ["PreferenceReward"]

_LOSSES = ("bce", "robust")
_HEADS = ("linear", "mlp")


def _flat(rep: Any) -> torch.Tensor:
    if isinstance(rep, torch.Tensor):
        return rep.reshape(rep.shape[0], -1).float()
    if isinstance(rep, (list, tuple)):
        return torch.cat([_flat(r) for r in rep], dim=1)
    if isinstance(rep, Mapping):
        return torch.cat([_flat(rep[k]) for k in sorted(rep)], dim=1)
    raise ShapeError(f"features: returned {describe(rep)}; expected a tensor (N, ...) or a list of them")


class _Utility(nn.Module):
    def __init__(self, dim: int, head: str, hidden: int):
        super().__init__()
        self.net = nn.Linear(dim, 1) if head == "linear" else nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class _Pairs(nn.Module):
    """``module([first, second]) -> (B, 1)`` logits of the first being preferred (the training loop's form)."""

    def __init__(self, utility: _Utility):
        super().__init__()
        self.utility = utility

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return (self.utility(xs[0]) - self.utility(xs[1]))[:, None]


@fill_doc
class PreferenceReward(RewardFunction):
    """Bradley–Terry reward model on frozen features, learned from pairwise judgements.

    Parameters
    ----------
    features : Metric or callable
        The frozen extractor: a :class:`~neuroperception.similarity.Metric` (its ``embed``, flattened) or
        ``f(images (N, 3, H, W) in [0, 1]) -> (N, D)``.
    head : {"linear", "mlp"}
        The utility on the standardised embedding: linear, or one hidden layer of ``hidden`` GELUs.
    hidden : int
        Width of the MLP head.
    loss : {"bce", "robust"}
        Binary cross-entropy with the soft labels, or the same after forward correction for a rate
        ``label_noise`` of flipped labels.
    label_noise : float in [0, 0.5)
        ``ε`` of the robust loss.
    n_ensemble : int
        Heads trained from different initialisations; with more than one, each on a bootstrap resample
        of the judgements.
    lr, weight_decay, max_epochs, patience, batch_size, validation
        The training loop's settings (AdamW; early stopping on ``validation``, a fraction of the
        judgements).
    %(random_state)s
        It seeds the heads' initialisation, the resamples and the training loop.
    %(progress)s

    Attributes
    ----------
    n_features_ : int
        Dimension of the embedding.
    history_ : list of pandas.DataFrame
        One training history per head.

    Examples
    --------
    Judgements from a planted utility (the brightness of the red channel) are learned back:

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> images = {f"im{i}": torch.rand(3, 8, 8, generator=g) for i in range(40)}
    >>> mean_rgb = lambda x: x.mean(dim=(2, 3))
    >>> ids = list(images)
    >>> pairs = pd.DataFrame({"first": ids[:20] * 2, "second": ids[20:] + ids[10:20] + ids[:10]})
    >>> red = {k: float(v[0].mean()) for k, v in images.items()}
    >>> pairs["label"] = [float(red[a] > red[b]) for a, b in zip(pairs["first"], pairs["second"])]
    >>> model = PreferenceReward(mean_rgb, max_epochs=300, validation=None, lr=0.05).fit(images, pairs)
    >>> float(model.score(images, pairs)) > 0.9
    True
    """

    def __init__(self, features: Any, head: str = "linear", hidden: int = 64, loss: str = "bce",
                 label_noise: float = 0.2, n_ensemble: int = 1, lr: float = 0.01, weight_decay: float = 1e-3,
                 max_epochs: int = 200, patience: int = 20, batch_size: int = 128, validation: Any = 0.1,
                 random_state: Any = 0, progress: bool | None = None):
        super().__init__()
        if not isinstance(features, Metric) and not callable(features):
            raise InputError(f"features: received {describe(features)}; expected a similarity Metric or a callable "
                             "images -> (N, D) features")
        if head not in _HEADS:
            raise InputError(f"head: received {head!r}; expected one of {_HEADS}")
        if loss not in _LOSSES:
            raise InputError(f"loss: received {loss!r}; expected one of {_LOSSES}")
        if not isinstance(label_noise, (int, float)) or isinstance(label_noise, bool) or not 0 <= label_noise < 0.5:
            raise InputError(f"label_noise: received {label_noise!r}; expected a rate in [0, 0.5)")
        for name, value in (("hidden", hidden), ("n_ensemble", n_ensemble)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name}: received {describe(value)}; expected a positive int")
        self.features, self.head, self.hidden, self.loss = features, head, int(hidden), loss
        self.label_noise, self.n_ensemble = float(label_noise), int(n_ensemble)
        self.lr, self.weight_decay, self.max_epochs, self.patience = lr, weight_decay, max_epochs, patience
        self.batch_size, self.validation, self.random_state, self.progress = batch_size, validation, random_state, \
            progress
        self.differentiable = not isinstance(features, Metric) or bool(features.differentiable)
        if isinstance(features, Metric):
            self.value_range = features.value_range
        self.heads = nn.ModuleList()
        self._reference: torch.Tensor | None = None

    # ------------------------------------------------------------------ inputs
    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        rep = self.features.embed(images) if isinstance(self.features, Metric) else self.features(images)
        out = _flat(rep)
        if out.shape[0] != images.shape[0]:
            raise ShapeError(f"features: returned {out.shape[0]} rows for {images.shape[0]} images; expected one each")
        return out

    def _table(self, images: Any, judgements: Any) -> tuple[dict[str, int], torch.Tensor, pd.DataFrame]:
        if isinstance(images, Mapping):
            ids = [str(k) for k in images]
            stacked = torch.stack([torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v
                                   for v in images.values()]) if ids else None
        elif hasattr(images, "ids") and hasattr(images, "images"):
            ids, stacked = [str(i) for i in images.ids], images.images
        else:
            raise InputError(f"images: received {describe(images)}; expected an ImageSet or a mapping id -> image "
                             "(3, H, W)")
        if stacked is None:
            raise InputError("images: received no images; expected the images the judgements name")
        x = check_images(stacked, value_range=self.value_range, name="images")
        if not isinstance(judgements, pd.DataFrame) or not {"first", "second", "label"} <= set(judgements.columns):
            raise InputError(f"judgements: received {describe(judgements)}; expected a DataFrame with columns first, "
                             "second, label (the share of votes for first, in [0, 1]) and optionally reference")
        if judgements.empty:
            raise InputError("judgements: received no rows; expected at least one judgement")
        where = {i: p for p, i in enumerate(ids)}
        cols = ["first", "second"] + (["reference"] if "reference" in judgements.columns else [])
        for col in cols:
            unknown = sorted(set(judgements[col].astype(str)) - set(where))
            if unknown:
                raise InputError(f"judgements['{col}']: received {len(unknown)} ids that are not among the images "
                                 f"(e.g. {unknown[:3]}); expected ids of the {len(ids)} images given")
        label = pd.to_numeric(judgements["label"], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(label)) or (label < 0).any() or (label > 1).any():
            bad = judgements["label"][~(np.isfinite(label) & (label >= 0) & (label <= 1))].tolist()[:3]
            raise InputError(f"judgements['label']: received values outside [0, 1] (e.g. {bad}); expected the share "
                             "of votes for first: 1, 0, 0.5 for a tie, or a fraction")
        return where, x, judgements

    def _pair_features(self, where, emb, judgements) -> tuple[torch.Tensor, torch.Tensor]:
        a = emb[[where[str(i)] for i in judgements["first"]]]
        b = emb[[where[str(i)] for i in judgements["second"]]]
        if "reference" in judgements.columns:
            r = emb[[where[str(i)] for i in judgements["reference"]]]
            a, b = a - r, b - r
        return a, b

    def _standardise(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean_) / self.scale_

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: pd.DataFrame) -> PreferenceReward:
        """Learn the utility from judgements ``y`` on images ``X``.

        Parameters
        ----------
        X : ImageSet or mapping of str to images
            Every image a judgement names, by id.
        y : pandas.DataFrame
            The judgements:
            ``first``, ``second`` (ids), ``label`` (the share of votes for ``first`` in [0, 1]) and,
            for 2AFC with a reference, ``reference`` (the utility then reads each candidate's
            embedding minus the reference's).

        Returns
        -------
        PreferenceReward
        """
        from ..encoding._training import train

        where, x, table = self._table(X, y)
        with torch.no_grad():
            emb = self._embed(x.to(self.device))
        a, b = self._pair_features(where, emb, table)
        both = torch.cat([a, b])
        self.mean_ = both.mean(0).detach()
        self.scale_ = both.std(0).clamp_min(1e-6).detach()
        a, b = self._standardise(a), self._standardise(b)
        labels = torch.as_tensor(table["label"].to_numpy(dtype=np.float32))[:, None]
        self.n_features_ = int(a.shape[1])
        self.with_reference_ = "reference" in table.columns
        eps = self.label_noise if self.loss == "robust" else 0.0

        def loss_fn(logit, target):
            p = torch.sigmoid(logit)
            p = (1 - eps) * p + eps * (1 - p)
            p = p.clamp(1e-6, 1 - 1e-6)
            return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()

        def accuracy(logit, target):
            decided = target != 0.5
            return float(((logit > 0) == (target > 0.5))[decided].float().mean()) if decided.any() else float("nan")

        rng = check_random_state(self.random_state)
        seeds = [seed_from(rng) for _ in range(self.n_ensemble)]
        self.heads = nn.ModuleList()
        self.history_ = []
        for k, seed in enumerate(seeds):
            torch.manual_seed(seed)
            utility = _Utility(self.n_features_, self.head, self.hidden)
            rows = np.arange(len(labels)) if self.n_ensemble == 1 else \
                np.random.default_rng(seed).integers(0, len(labels), size=len(labels))
            history = train(_Pairs(utility), [a[rows], b[rows]], labels[rows], validation=self.validation, lr=self.lr,
                            weight_decay=self.weight_decay, max_epochs=self.max_epochs, patience=self.patience,
                            batch_size=int(self.batch_size), random_state=seed, device=torch.device("cpu"),
                            progress=self.progress, desc=f"preference head {k + 1}/{self.n_ensemble}", loss_fn=loss_fn,
                            val_metric=("val_accuracy", accuracy), loss_name=f"Bradley-Terry ({self.loss})")
            self.heads.append(utility.eval())
            self.history_.append(history)
        return self

    # ------------------------------------------------------------------ use
    def _check_fitted(self) -> None:
        if not len(self.heads):
            raise InputError("PreferenceReward: received an unfitted model; expected fit(images, judgements) first")

    def utilities(self, images: Any, reference: Any = None) -> torch.Tensor:
        """Every head's utility ``(n_ensemble, N)`` of the images (minus the reference's embedding when given)."""
        self._check_fitted()
        x = check_images(images, value_range=self.value_range, name="images").to(self.device)
        z = self._embed(x)
        ref = reference if reference is not None else self._reference
        if self.with_reference_:
            if ref is None:
                raise InputError("reference: received None; expected the reference image the model was trained "
                                 "with (set_reference(image) or reference=)")
            r = self._embed(check_images(ref, value_range=self.value_range, name="reference").to(self.device))
            z = z - r
        z = self._standardise(z.cpu())
        return torch.stack([h(z) for h in self.heads])

    def set_reference(self, reference: Any) -> PreferenceReward:
        """Fix the reference image ``(1, 3, H, W)`` the reward compares observations with (2AFC-trained models)."""
        self._reference = check_images(reference, value_range=self.value_range, name="reference")
        return self

    def reward(self, images: torch.Tensor) -> torch.Tensor:
        """The mean utility over the ensemble."""
        return self.utilities(images).mean(0)

    def uncertainty(self, images: Any) -> torch.Tensor:
        """The ensemble's standard deviation of the utility ``(N,)`` (0 with one head)."""
        u = self.utilities(images)
        return u.std(0) if u.shape[0] > 1 else torch.zeros(u.shape[1])

    def components(self, obs: Any) -> dict[str, torch.Tensor]:
        """``{"uncertainty": ...}``: the ensemble's spread, logged beside the reward by the RL adapters."""
        with torch.no_grad():
            return {"uncertainty": self.uncertainty(self.check(obs))}

    def predict_proba(self, images: Any, judgements: pd.DataFrame) -> pd.DataFrame:
        """``P(first ≻ second)`` per judgement (mean over heads) and its spread over heads."""
        self._check_fitted()
        where, x, table = self._table(images, judgements)
        with torch.no_grad():
            a, b = self._pair_features(where, self._embed(x.to(self.device)).cpu(), table)
            a, b = self._standardise(a), self._standardise(b)
            p = torch.stack([torch.sigmoid(h(a) - h(b)) for h in self.heads]).numpy()
        return pd.DataFrame({"p_first": p.mean(0), "p_std": p.std(0)}, index=table.index)

    def score(self, X: Any, y: pd.DataFrame) -> float:
        """Accuracy of the predicted choice on the judgements ``y`` with a decided label (``label != 0.5``)."""
        p = self.predict_proba(X, y)["p_first"].to_numpy()
        label = y["label"].to_numpy(dtype=float)
        decided = label != 0.5
        if not decided.any():
            raise InputError("judgements: received only ties; expected some decided labels to score")
        return float(np.mean((p[decided] > 0.5) == (label[decided] > 0.5)))

    def calibration(self, images: Any, judgements: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
        """Reliability table: per bin of predicted probability, the mean prediction and the mean label.

        ``attrs["ece"]`` is the expected calibration error (bins weighted by their counts).
        """
        p = self.predict_proba(images, judgements)["p_first"].to_numpy()
        label = judgements["label"].to_numpy(dtype=float)
        edges = np.linspace(0, 1, int(n_bins) + 1)
        which = np.clip(np.digitize(p, edges[1:-1]), 0, int(n_bins) - 1)
        rows = [{"bin": k, "predicted": p[which == k].mean(), "observed": label[which == k].mean(),
                 "n": int((which == k).sum())} for k in range(int(n_bins)) if (which == k).any()]
        table = pd.DataFrame(rows)
        table.attrs["ece"] = float((table["n"] * (table["predicted"] - table["observed"]).abs()).sum() / len(p))
        return table

    def metric(self) -> Metric:
        """The model as a :class:`~neuroperception.similarity.Metric` (lower = more alike, as every metric).

        Trained with references (2AFC: the preferred candidate is the one judged closer to the reference),
        the second argument plays the reference and ``d(a, ref) = −u(a − ref)`` (not symmetric), so the 2AFC
        scores and ``JudgeReward``, which call ``d(candidate, reference)``, read it as the people did. Trained without references, ``d(a, b) = |u(a) − u(b)|`` (images of equal
        preference are alike). Mean over the ensemble.

        Examples
        --------
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> images = {f"im{i}": torch.rand(3, 8, 8, generator=g) for i in range(20)}
        >>> pairs = pd.DataFrame({"first": [f"im{i}" for i in range(10)],
        ...                       "second": [f"im{i}" for i in range(10, 20)]})
        >>> red = {k: float(v[0].mean()) for k, v in images.items()}
        >>> pairs["label"] = [float(red[a] > red[b]) for a, b in zip(pairs["first"], pairs["second"])]
        >>> model = PreferenceReward(lambda x: x.mean(dim=(2, 3)), max_epochs=5, validation=None)
        >>> m = model.fit(images, pairs).metric()
        >>> m(torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)).shape
        torch.Size([4])
        """
        self._check_fitted()
        return _PreferenceMetric(self)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the heads and the standardisation (not the feature extractor) to a ``.pt`` file."""
        self._check_fitted()
        path = Path(path)
        if path.exists():
            raise InputError(f"path: received {str(path)!r}, which exists; expected a new file (results are never "
                             "overwritten)")
        torch.save({"params": {k: getattr(self, k) for k in ("head", "hidden", "loss", "label_noise", "n_ensemble")},
                    "state": [h.state_dict() for h in self.heads], "mean": self.mean_, "scale": self.scale_,
                    "n_features": self.n_features_, "with_reference": self.with_reference_}, path)
        return path

    @classmethod
    def load(cls, path: str | Path, features: Any) -> PreferenceReward:
        """A saved model on ``features`` (the extractor it was trained on)."""
        blob = torch.load(Path(path), weights_only=False)
        model = cls(features, **blob["params"])
        model.mean_, model.scale_ = blob["mean"], blob["scale"]
        model.n_features_, model.with_reference_ = blob["n_features"], blob["with_reference"]
        for state in blob["state"]:
            head = _Utility(model.n_features_, model.head, model.hidden)
            head.load_state_dict(state)
            model.heads.append(head.eval())
        return model


class _PreferenceMetric(Metric):
    """A :class:`PreferenceReward` read as a distance (see :meth:`PreferenceReward.metric`)."""

    def __init__(self, model: PreferenceReward):
        super().__init__(value_range=model.value_range)
        self.model = model
        self.differentiable = model.differentiable

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.model._embed(images)

    def _u(self, z: torch.Tensor) -> torch.Tensor:
        z = self.model._standardise(z.cpu())
        return torch.stack([h(z) for h in self.model.heads]).mean(0)

    def compare(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.model.with_reference_:
            return -self._u(a - b)
        return (self._u(a) - self._u(b)).abs()
