"""Unsupervised perceptual rewards from demonstrations (Sermanet, Xu & Levine, 2016).

Demonstration videos are split into stages; for each stage the features that best separate its
frames from all other frames are selected, and a new observation is rewarded by how far along the
stages it looks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .._validation import check_images, describe
from ..errors import InputError, ShapeError
from ..similarity.embedding import EmbeddingDistance
from ._segmentation import _SIGNALS, _signal, discover_steps, segment_features
from .base import RewardFunction

__all__ = ["DemonstrationReward", "discover_steps", "segment_features"]

_MIN_STD = 0.05  # floor of per-stage standard deviations, in units of the features' overall spread


def _frames(demos: Any) -> tuple[torch.Tensor, int, int]:
    """``(N, T, 3, H, W)`` float or ``(N, T, H, W, 3)`` uint8 videos → validated frames ``(N*T, 3, H, W)``."""
    x = demos.detach().cpu() if isinstance(demos, torch.Tensor) else demos
    arr = x if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != 5:
        raise ShapeError(f"demos: received {describe(arr)}; expected 5 dimensions (N videos, T frames, 3, H, W)")
    n, t = int(arr.shape[0]), int(arr.shape[1])
    flat = arr.reshape(n * t, *arr.shape[2:])
    if isinstance(flat, torch.Tensor) and flat.dtype == torch.uint8 and flat.shape[-1] in (1, 3):
        flat = flat.permute(0, 3, 1, 2)
    return check_images(flat, name="demos frames"), n, t


def _labels(n: int, t: int, n_stages: int | None, boundaries: Any) -> np.ndarray:
    """Stage index ``(N, T)`` of every frame from equal splits or given boundaries."""
    if boundaries is None:
        if n_stages is None or int(n_stages) != n_stages or n_stages < 2:
            raise InputError(f"n_stages: received {n_stages!r}; expected an integer >= 2 (or boundaries=)")
        if n_stages > t:
            raise InputError(f"n_stages: received {n_stages} for videos of {t} frames; expected at most {t}")
        return np.tile((np.arange(t) * int(n_stages)) // t, (n, 1))
    b = np.asarray(boundaries)
    if b.ndim == 1:
        b = np.tile(b, (n, 1))
    if b.ndim != 2 or b.shape[0] != n or b.shape[1] < 1 or not np.issubdtype(b.dtype, np.integer):
        raise ShapeError(f"boundaries: received {describe(np.asarray(boundaries))}; expected integer stage starts "
                         f"(K-1,) shared by all videos or ({n}, K-1), one row per video")
    if n_stages is not None and b.shape[1] != n_stages - 1:
        raise InputError(f"boundaries: received {b.shape[1]} boundaries for n_stages={n_stages}; expected "
                         f"{n_stages - 1}")
    if (b <= 0).any() or (b >= t).any() or (np.diff(b, axis=1) <= 0).any():
        raise InputError(f"boundaries: received {b.tolist()}; expected strictly increasing frame indices in "
                         f"[1, {t - 1}] (the first frame of each stage after the first)")
    return np.stack([np.searchsorted(row, np.arange(t), side="right") for row in b])


def _feature_callable(feature_fn: Any) -> Callable:
    if isinstance(feature_fn, tuple):
        if len(feature_fn) not in (2, 3):
            raise InputError(f"feature_fn: received a tuple of {len(feature_fn)} items; expected (model, layer) or "
                             "(model, layer, pooling)")
        pooling = feature_fn[2] if len(feature_fn) == 3 else "avg"
        return EmbeddingDistance(feature_fn[0], layer=feature_fn[1], pooling=pooling)
    if isinstance(feature_fn, EmbeddingDistance) or callable(feature_fn):
        return feature_fn
    raise InputError(f"feature_fn: received {type(feature_fn).__name__}; expected a callable images -> (N, F) "
                     "features or a (model, layer[, pooling]) tuple")


def _raw(fn: Callable, images: torch.Tensor) -> Any:
    return fn.embed(images) if isinstance(fn, EmbeddingDistance) else fn(images)


def _as_tensor(feats: Any, n: int) -> torch.Tensor:
    if not isinstance(feats, torch.Tensor):
        values = getattr(feats, "values", feats)
        feats = torch.as_tensor(np.asarray(values, dtype=np.float64))
    if feats.ndim != 2 or feats.shape[0] != n:
        raise ShapeError(f"feature_fn: returned {describe(feats)} for {n} images; expected ({n}, features)")
    return feats


def _embed(fn: Callable, frames: torch.Tensor, batch: int = 256) -> np.ndarray:
    """float64 ``(len(frames), F)`` features of validated frames, in batches, without gradients."""
    with torch.no_grad():
        return torch.cat([_as_tensor(_raw(fn, frames[i:i + batch]), min(batch, len(frames) - i))
                          for i in range(0, len(frames), batch)]).double().cpu().numpy()


class DemonstrationReward(RewardFunction):
    """Stage-progress reward learned from demonstration videos (Sermanet et al., 2016).

    Stages: by default each demonstration is split into ``n_stages`` steps without labels by
    :func:`discover_steps`; ``boundaries`` gives them instead, ``segmentation="equal"`` splits
    every video into equal parts. Fitting: frames are embedded with ``feature_fn`` and each feature is standardised over all
    demonstration frames. For stage ``k``, with ``μ⁺, σ⁺`` the feature means and standard
    deviations over the stage's frames and ``μ⁻, σ⁻`` over all other frames, every feature gets
    the score ``z = α |μ⁺ − μ⁻| − (σ⁺ + σ⁻)`` and the ``n_features`` best are kept (features
    constant over the demonstrations score ``−∞``).

    Reward: for each stage, the evidence that the observation belongs to it is the mean, over its
    selected features ``j``, of the Gaussian log-likelihood ratio
    ``ℓ_k = mean_j [log N(f_j; μ⁺_j, σ⁺_j) − log N(f_j; μ⁻_j, σ⁻_j)]``; stage probabilities are
    ``π = softmax(ℓ)``, and the reward is the expected progress
    ``r = Σ_k π_k · k / (K − 1)`` in ``[0, 1]``: 0 looks like the first stage, 1 like the last.
    (Sermanet et al. combine per-stage scores with weights ``2^(k−1)``; the expectation over stages
    used here keeps the same ordering of stages and a fixed range.)

    Parameters
    ----------
    demos : array-like
        Demonstration videos ``(N, T, 3, H, W)`` in ``[0, 1]`` (or ``uint8`` ``(N, T, H, W, 3)``).
    feature_fn : callable or tuple
        Images ``(B, 3, H, W)`` → features ``(B, F)`` (tensor, array or DataArray), or
        ``(model, layer[, pooling])`` for an :class:`~neuroperception.similarity.EmbeddingDistance`
        embedding (a registry spec or FeatureModel; pooling ``"avg"`` by default).
    n_stages : int, optional
        Number of stages ``K``. Without ``boundaries`` each video's stages are discovered by
        :func:`discover_steps` (the segmentation of least within-stage feature variance) or, with
        ``segmentation="equal"``, are ``K`` equal parts.
    boundaries : sequence of int or array (N, K-1), optional
        Given stages: the first frame of each stage after the first, shared by all videos or one
        row per video (``segmentation`` is then not used).
    n_features : int
        Features kept per stage (at most the number of features).
    alpha : float
        Weight ``α`` of the mean separation against the spreads in the selection score.
    segmentation : {"discovered", "equal"}
        Without ``boundaries``: discover the stages (default) or split into equal parts.
    signal : {"frames", "motion", "both"}
        What the discovery segments (see :func:`discover_steps`); the stage features and the
        reward always use the frame features.

    Attributes
    ----------
    boundaries_ : numpy.ndarray
        int ``(N, K - 1)``: the first frame of each stage after the first in each demonstration
        (discovered, equal or given).
    selected_features_ : numpy.ndarray
        ``(K, n_features)`` indices of the features kept per stage, best first.
    scores_ : numpy.ndarray
        ``(K, F)`` selection scores ``z``.
    differentiable : bool
        True when ``feature_fn`` returns tensors that carry gradients to the images.

    Examples
    --------
    >>> import torch
    >>> t = torch.linspace(0, 1, 12)
    >>> demos = torch.zeros(2, 12, 3, 8, 8)
    >>> demos[:, :, 0] = t[None, :, None, None]            # the red channel ramps up along the task
    >>> r = DemonstrationReward(demos, lambda x: x.mean(dim=(2, 3)), n_stages=3, n_features=1)
    >>> progress = r(demos[0])
    >>> bool(progress[-1] > progress[5] > progress[0]), r.selected_features_[:, 0].tolist()
    (True, [0, 0, 0])
    """

    def __init__(self, demos: Any, feature_fn: Callable | tuple, n_stages: int | None = None,
                 boundaries: Sequence[int] | np.ndarray | None = None, n_features: int = 32, alpha: float = 5.0,
                 segmentation: str = "discovered", signal: str = "frames"):
        super().__init__()
        if segmentation not in ("discovered", "equal"):
            raise InputError(f"segmentation: received {segmentation!r}; expected 'discovered' or 'equal'")
        if signal not in _SIGNALS:
            raise InputError(f"signal: received {signal!r}; expected one of {_SIGNALS}")
        if int(n_features) != n_features or n_features < 1:
            raise InputError(f"n_features: received {n_features!r}; expected a positive integer")
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise InputError(f"alpha: received {alpha!r}; expected a non-negative number") from None
        if not alpha >= 0:
            raise InputError(f"alpha: received {alpha!r}; expected a non-negative number")
        self.alpha = alpha
        fn = _feature_callable(feature_fn)
        if isinstance(fn, torch.nn.Module):
            self.feature_module = fn
        else:
            self._feature_fn = fn
        frames, n, t = _frames(demos)
        labels = _labels(n, t, n_stages, boundaries)  # validates n_stages / boundaries; equal splits
        probe = frames[:1].clone().requires_grad_(True)
        out = self._raw_features(probe)
        self.differentiable = bool(isinstance(out, torch.Tensor) and out.requires_grad)
        feats = _embed(fn, frames)
        if boundaries is None and segmentation == "discovered":
            found = segment_features(_signal(feats.reshape(n, t, -1), signal), int(n_stages))
            labels = _labels(n, t, n_stages, found)
        self.boundaries_ = np.stack([np.flatnonzero(np.diff(row)) + 1 for row in labels])
        labels = labels.reshape(-1)
        self.n_stages = int(labels.max()) + 1
        centre, spread = feats.mean(0), feats.std(0)
        constant = spread <= 1e-12  # carry no information: never selected
        spread = np.where(constant, 1.0, spread)
        z = (feats - centre) / spread
        m = min(int(n_features), z.shape[1])
        stats = np.zeros((4, self.n_stages, m))
        selected = np.zeros((self.n_stages, m), dtype=np.int64)
        scores = np.zeros((self.n_stages, z.shape[1]))
        for k in range(self.n_stages):
            pos, neg = z[labels == k], z[labels != k]
            mu_p, mu_n, sd_p, sd_n = pos.mean(0), neg.mean(0), pos.std(0), neg.std(0)
            scores[k] = np.where(constant, -np.inf, alpha * np.abs(mu_p - mu_n) - (sd_p + sd_n))
            sel = np.argsort(-scores[k], kind="stable")[:m]
            selected[k] = sel
            stats[:, k] = mu_p[sel], np.maximum(sd_p[sel], _MIN_STD), mu_n[sel], np.maximum(sd_n[sel], _MIN_STD)
        self.selected_features_, self.scores_ = selected, scores
        as32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        self.register_buffer("centre", as32(centre))
        self.register_buffer("spread", as32(spread))
        self.register_buffer("selected", torch.as_tensor(selected))
        for name, value in zip(("mu_pos", "sd_pos", "mu_neg", "sd_neg"), stats):
            self.register_buffer(name, as32(value))
        self.register_buffer("stage_values", torch.arange(self.n_stages, dtype=torch.float32) / (self.n_stages - 1))

    def _raw_features(self, images: torch.Tensor) -> Any:
        return _raw(self.feature_module if hasattr(self, "feature_module") else self._feature_fn, images)

    _as_tensor = staticmethod(_as_tensor)

    def stage_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` probabilities ``π`` that validated images belong to each stage."""
        f = self._as_tensor(self._raw_features(images), images.shape[0]).float()
        f = (f.to(self.centre.device) - self.centre) / self.spread
        x = f[:, self.selected]  # (B, K, M)

        def loglik(mu, sd):
            return -0.5 * ((x - mu) / sd) ** 2 - torch.log(sd)

        evidence = (loglik(self.mu_pos, self.sd_pos) - loglik(self.mu_neg, self.sd_neg)).mean(2)
        return torch.softmax(evidence, dim=1)

    def reward(self, images: torch.Tensor) -> torch.Tensor:
        """Expected stage progress ``Σ_k π_k k / (K − 1)``."""
        return self.stage_probabilities(images) @ self.stage_values

    def components(self, obs: Any) -> dict[str, torch.Tensor]:
        """``{"stage_probabilities": (B, K)}``."""
        with torch.no_grad():
            return {"stage_probabilities": self.stage_probabilities(self.check(obs))}

    def extra_repr(self) -> str:
        return f"n_stages={self.n_stages}, n_features={self.selected_features_.shape[1]}, alpha={self.alpha}"
