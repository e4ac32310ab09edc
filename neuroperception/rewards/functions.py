"""Perceptual reward functions: goal images, text goals (VLM-RM), predicted brain activity, 2AFC judges.

Every class is a :class:`~neuroperception.rewards.RewardFunction`: batched ``(B, 3, H, W)``
observations in ``[0, 1]`` (or ``uint8`` frames) → ``(B,)`` float32 rewards, with a truthful
``differentiable`` flag and an :class:`~neuroperception.errors.InputError` for bad observations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._docs import fill_doc
from .._validation import check_images, check_random_state, describe
from ..errors import InputError, ShapeError
from ..features.registry import FeatureModel, load_model
from ..similarity.base import Metric
from ..similarity.brain import BrainDistance
from .base import RewardFunction, _weights_of

__all__ = ["GoalImageReward", "TextGoalReward", "BrainReward", "JudgeReward"]


def _check_metric(metric: Any, name: str) -> Metric:
    if not isinstance(metric, Metric):
        raise InputError(f"{name}: received {type(metric).__name__}; expected a neuroperception.similarity Metric "
                         "(LPIPS(), SSIM(), EmbeddingDistance(...), ...)")
    return metric


class GoalImageReward(RewardFunction):
    """Negative perceptual distance to a goal image: ``r(s) = −d(s, goal)``.

    Parameters
    ----------
    metric : Metric
        Any :mod:`neuroperception.similarity` metric. Its reference is set to ``goal`` here
        (:meth:`~neuroperception.similarity.Metric.set_reference`), so do not share one metric
        object between rewards with different goals.
    goal : images
        One goal ``(1, 3, H, W)`` for every observation, or one per environment ``(B, 3, H, W)``
        (observation ``i`` is compared with goal ``i``), in the metric's ``value_range``.

    Examples
    --------
    >>> import torch
    >>> from neuroperception.similarity import L2
    >>> goal = torch.full((1, 3, 16, 16), 0.5)
    >>> r = GoalImageReward(L2(), goal)
    >>> bool(r(goal)[0] == 0), bool(r(torch.zeros(1, 3, 16, 16))[0] < 0)
    (True, True)
    """

    def __init__(self, metric: Metric, goal: Any):
        super().__init__()
        self.metric = _check_metric(metric, "metric")
        self.value_range = self.metric.value_range
        self.metric.set_reference(goal)
        self.n_goals = self.metric._reference_shape[0]
        self.differentiable = bool(self.metric.differentiable)

    def reward(self, images: torch.Tensor) -> torch.Tensor:
        """``−metric.to_reference(images)``."""
        if self.n_goals not in (1, images.shape[0]):
            raise ShapeError(f"{type(self).__name__} observations: received {images.shape[0]} observations for "
                             f"{self.n_goals} goals; expected 1 or {self.n_goals}")
        return -self.metric.to_reference(images)

    def components(self, obs: Any) -> dict[str, torch.Tensor]:
        """``{"distance": d(s, goal)}``."""
        with torch.no_grad():
            return {"distance": -self(obs)}


def _clip_parts(model: Any, random_state: Any) -> FeatureModel:
    if isinstance(model, str):
        model = load_model(model, random_state=random_state)
    if not isinstance(model, FeatureModel) or "clip" not in model.extras \
            or not callable(model.extras.get("tokenizer")):
        raise InputError(f"model: received {type(model).__name__}; expected 'world:clip', an 'open_clip:<arch>' "
                         "spec or load_model('open_clip:<arch>') (a FeatureModel whose extras hold 'clip' and 'tokenizer')")
    return model


@fill_doc
class TextGoalReward(RewardFunction):
    """VLM-RM reward (Rocamonde et al., 2023): CLIP similarity to a goal, projected on the goal–baseline line.

    As the authors' ``CLIPReward``: with ``s`` the L2-normalised CLIP embedding of the observation,
    ``g`` the mean of the L2-normalised goal-prompt embeddings, ``b`` likewise for the baseline
    prompts, and ``d = g − b``::

        P = α · dᵀd / ‖d‖² + (1 − α) · I
        R(s) = 1 − ½ ‖(s − g) P‖²

    The means are not renormalised, so with several prompts ``g`` is shorter than 1. ``α = 0``
    gives ``R = 1 − ½‖s − g‖² = s·g + ½(1 − ‖g‖²)``, which is the plain CLIP reward ``cos(s, g)``
    for one goal prompt; ``α = 1`` keeps only the component of ``s − g`` along the goal–baseline
    direction.

    Parameters
    ----------
    model : str or FeatureModel
        The CLIP model: ``"world:clip"`` (the miniature world's image-text model, trained weights shipped
        with the package), ``"open_clip:<arch>"`` or ``load_model("open_clip:<arch>", weights=...)``; its
        image encoder embeds observations, its text encoder the prompts. An ``open_clip`` spec is loaded
        with seeded random weights (and a :class:`~neuroperception.errors.RandomWeightsWarning`).
    goal : str, list of str or images
        Goal description; a list is a prompt ensemble. Images ``(N, 3, H, W)`` are image goals.
        Several prompts/images are L2-normalised and averaged.
    baseline : str, list of str, images or None
        Baseline (e.g. "a humanoid robot" for goal "a humanoid robot kneeling"); needed for ``α > 0``.
    alpha : float in [0, 1]
        Strength of the goal–baseline projection.
    %(random_state)s
        It seeds the random init when ``model`` is a spec (as in ``load_model``).
    renormalize : bool, default False
        Rescale the mean goal and baseline embeddings to unit length (a departure from the
        reference; it changes the reward only with several prompts or images).

    Attributes
    ----------
    goal_embedding, baseline_embedding : torch.Tensor
        ``(D,)``: ``g`` and ``b`` (the baseline is absent without ``baseline``); unit vectors for a
        single prompt or with ``renormalize=True``.
    projection : torch.Tensor
        ``P``, ``(D, D)``.
    model_weights : dict
        ``{"model": <where the CLIP weights came from>}``.

    Examples
    --------
    >>> import torch
    >>> from neuroperception.features import load_model
    >>> from neuroperception.features import register_clip_architecture
    >>> clip = load_model(register_clip_architecture("DocTiny-ViT"), weights="random")   # no download
    >>> r = TextGoalReward(clip, ["a red square", "a red box"], baseline="a square", alpha=0.5)
    >>> r(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))).shape, r.model_weights
    (torch.Size([2]), {'model': 'random-init(seed=0)'})
    """

    def __init__(self, model: Any, goal: Any, baseline: Any = None, alpha: float = 0.0, random_state: Any = 0, *,
                 renormalize: bool = False):
        super().__init__()
        if not isinstance(renormalize, bool):
            raise InputError(f"renormalize: received {renormalize!r}; expected True or False")
        check_random_state(random_state)  # checked even when a loaded model leaves it unused
        fm = _clip_parts(model, random_state)
        self.renormalize = renormalize
        self._weights = {"model": fm.weights}
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise InputError(f"alpha: received {alpha!r}; expected a number in [0, 1]") from None
        if not 0.0 <= alpha <= 1.0:
            raise InputError(f"alpha: received {alpha!r}; expected a number in [0, 1]")
        if alpha > 0 and baseline is None:
            raise InputError(f"alpha: received {alpha} without a baseline; expected baseline= (text or images) "
                             "for alpha > 0, or alpha=0")
        self.alpha = alpha
        self.spec = fm.spec
        self.preprocess = fm.preprocess
        self.visual = fm.module.eval().requires_grad_(False)
        self._clip, self._tokenizer = fm.extras["clip"], fm.extras["tokenizer"]
        g = self._target(goal, "goal")
        self.register_buffer("goal_embedding", g)
        dim = g.shape[0]
        if baseline is None:
            proj = torch.eye(dim)
        else:
            b = self._target(baseline, "baseline")
            self.register_buffer("baseline_embedding", b)
            d = (g - b)[None, :]
            norm2 = float((d * d).sum())
            if norm2 <= 0:
                raise InputError("baseline: received a baseline whose embedding equals the goal's; expected a "
                                 "different baseline (the goal-baseline direction is undefined)")
            proj = alpha * (d.T @ d) / norm2 + (1.0 - alpha) * torch.eye(dim)
        self.register_buffer("projection", proj)
        self.visual.eval()
        self._clip = None  # the text tower is only needed to embed the prompts
        self._tokenizer = None

    def train(self, mode: bool = True) -> "TextGoalReward":
        """Set the module's mode; the image encoder always stays in eval mode."""
        super().train(mode)
        self.visual.eval()
        return self

    def _target(self, target: Any, name: str) -> torch.Tensor:
        """Mean of the L2-normalised embeddings of prompts or images (rescaled to unit length with ``renormalize``)."""
        with torch.no_grad():
            if isinstance(target, str) or (isinstance(target, (list, tuple)) and target
                                           and all(isinstance(t, str) for t in target)):
                texts = [target] if isinstance(target, str) else list(target)
                if any(not t.strip() for t in texts):
                    raise InputError(f"{name}: received an empty prompt in {texts!r}; expected descriptions")
                tokens = self._tokenizer(texts)
                was_training = getattr(self._clip, "training", False)
                if isinstance(self._clip, nn.Module):
                    self._clip.eval()  # no dropout in the text tower
                emb = self._clip.encode_text(tokens.to(self.device) if hasattr(tokens, "to") else tokens).float()
                if isinstance(self._clip, nn.Module):
                    self._clip.train(was_training)
            else:
                if isinstance(target, (list, tuple)) and not target:
                    raise InputError(f"{name}: received an empty list; expected text prompts or images")
                emb = self.embed(check_images(target, value_range=self.value_range, name=name).to(self.device))
            mean = F.normalize(emb, dim=1).mean(0)
            return F.normalize(mean, dim=0) if self.renormalize else mean

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP image embeddings ``(B, D)`` (not normalised) of validated images."""
        out = self.visual(self.preprocess(images))
        return (out[0] if isinstance(out, (tuple, list)) else out).float()

    def reward(self, images: torch.Tensor) -> torch.Tensor:
        """``1 − ½‖(s − g)P‖²`` per observation."""
        s = F.normalize(self.embed(images), dim=1)
        return 1.0 - 0.5 * ((s - self.goal_embedding) @ self.projection).pow(2).sum(1)

    def components(self, obs: Any) -> dict[str, torch.Tensor]:
        """Cosine similarity of the observation to the goal (and to the baseline when given)."""
        with torch.no_grad():
            s = F.normalize(self.embed(self.check(obs)), dim=1)
            parts = {"cosine_goal": s @ F.normalize(self.goal_embedding, dim=0)}
            if hasattr(self, "baseline_embedding"):
                parts["cosine_baseline"] = s @ F.normalize(self.baseline_embedding, dim=0)
        return parts

    def extra_repr(self) -> str:
        return f"model={self.spec!r}, alpha={self.alpha}" + (", renormalize=True" if self.renormalize else "")


class BrainReward(RewardFunction):
    """Reward from a fitted encoding model's predicted brain responses.

    * ``target="activity"``: the mean predicted response of the kept voxels (the chosen ROIs),
      ``r(s) = mean_v ŷ_v(s)`` — drives images that activate those regions.
    * ``target=<goal image>``: similarity of the predicted response pattern to the goal's,
      ``r(s) = corr(ŷ(s), ŷ(goal))`` for ``metric="correlation"`` or ``−‖ŷ(s) − ŷ(goal)‖`` for
      ``"euclidean"``.

    Prediction and ROI selection are those of :class:`~neuroperception.similarity.BrainDistance`.

    Parameters
    ----------
    model : object with ``predict`` or torch.nn.Module
        The fitted encoding model, features → responses (see :class:`~neuroperception.similarity.BrainDistance`).
    feature_fn : callable or tuple
        Images → the features the encoding model was fitted on, or ``(feature model, layer[, pooling])``.
        The feature model's weights are recorded in :attr:`model_weights` (``"unknown (...)"`` for a callable that
        records none).
    rois : str or sequence of str, optional
        Keep only voxels with these ``roi`` labels (all voxels when None).
    target : "activity" or images
        What to reward (see above); one goal image or one per environment.
    metric : {"correlation", "euclidean"}
        Pattern comparison for a goal-image target.
    voxel_rois : sequence, optional
        One ROI label per predicted voxel, for models that return plain arrays.

    Attributes
    ----------
    differentiable : bool
        True only for a torch encoding model with a torch ``feature_fn`` callable.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.linear_model import Ridge
    >>> colour = lambda x: x.mean(dim=(2, 3))
    >>> X = np.random.default_rng(0).random((20, 3))
    >>> ridge = Ridge(alpha=1e-3).fit(X, np.c_[X[:, 0], X[:, 1]])     # "voxel" 0 likes red
    >>> r = BrainReward(ridge, colour, rois="V1", voxel_rois=["V1", "V4"])
    >>> red, green = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    >>> red[:, 0], green[:, 1] = 1, 1
    >>> bool(r(red) > r(green)), r.differentiable
    (True, False)
    """

    def __init__(self, model: Any, feature_fn: Callable | tuple, rois: str | Sequence[str] | None = None,
                 target: Any = "activity", metric: str = "correlation", voxel_rois: Sequence | None = None):
        super().__init__()
        if isinstance(feature_fn, tuple) and len(feature_fn) in (2, 3) and isinstance(feature_fn[0], str):
            feature_fn = (load_model(feature_fn[0]),) + feature_fn[1:]  # loaded here to record its weights
        self.brain = BrainDistance(model, feature_fn, rois=rois, metric=metric, voxel_rois=voxel_rois)
        network = feature_fn[0] if isinstance(feature_fn, tuple) else feature_fn
        self._weights = _weights_of(network, "feature_fn") or {
            "feature_fn": f"unknown ({type(network).__name__} records no weights)"}
        self.differentiable = bool(self.brain.differentiable)
        if isinstance(target, str):
            if target != "activity":
                raise InputError(f"target: received {target!r}; expected 'activity' or goal images (N, 3, H, W)")
            self.target, self.n_goals = "activity", 0
        else:
            self.brain.set_reference(target)
            self.target, self.n_goals = "goal", self.brain._reference_shape[0]

    def reward(self, images: torch.Tensor) -> torch.Tensor:
        """Mean predicted ROI activity, or pattern similarity to the goal's prediction."""
        if self.target == "activity":
            return self.brain.embed(images).mean(1)
        if self.n_goals not in (1, images.shape[0]):
            raise ShapeError(f"{type(self).__name__} observations: received {images.shape[0]} observations for "
                             f"{self.n_goals} goals; expected 1 or {self.n_goals}")
        d = self.brain.to_reference(images)
        return 1.0 - d if self.brain.metric == "correlation" else -d

    def extra_repr(self) -> str:
        return f"target={self.target!r}, rois={self.brain.rois}, metric={self.brain.metric!r}"


class JudgeReward(RewardFunction):
    """A 2AFC perceptual judge turned into a preference-probability reward.

    The judge sees a ``reference`` image and two candidates, the observation ``s`` and an
    ``anchor`` (the alternative to beat: a start frame, the previous best, a baseline policy's
    output), and reports the probability that ``s`` is preferred, i.e. judged closer to the
    reference. For a :class:`~neuroperception.similarity.Metric` judge ``d``::

        r(s) = P(s ≻ anchor | reference) = σ((d(anchor, reference) − d(s, reference)) / T)

    so ``r = 0.5`` when the observation is as close to the reference as the anchor, ``→ 1`` when
    it is much closer, ``→ 0`` when much farther. A learned comparator is any ``torch.nn.Module`` or
    callable ``judge(candidate, anchor, reference) -> (B,)`` logits of the candidate being
    preferred, and ``r(s) = σ(logit / T)``.

    Parameters
    ----------
    judge : Metric or callable
        The 2AFC judge.
    reference : images
        The reference ``(1, 3, H, W)``, or one per environment ``(B, 3, H, W)``.
    anchor : images
        The alternative candidate, ``(1, 3, H, W)`` or ``(B, 3, H, W)``.
    temperature : float > 0
        ``T``: smaller is a sharper (more certain) judge; ``T → 0`` is a hard 2AFC choice.

    Examples
    --------
    >>> import torch
    >>> from neuroperception.similarity import L2
    >>> ref = torch.full((1, 3, 8, 8), 0.8)
    >>> r = JudgeReward(L2(), ref, anchor=torch.zeros(1, 3, 8, 8), temperature=0.1)
    >>> [round(float(v), 3) for v in r(torch.cat([ref, torch.zeros(1, 3, 8, 8)]))]
    [0.998, 0.5]
    """

    def __init__(self, judge: Any, reference: Any, anchor: Any, temperature: float = 0.1):
        super().__init__()
        try:
            temperature = float(temperature)
        except (TypeError, ValueError):
            raise InputError(f"temperature: received {temperature!r}; expected a positive number") from None
        if not temperature > 0 or not np.isfinite(temperature):
            raise InputError(f"temperature: received {temperature!r}; expected a positive finite number")
        self.temperature = temperature
        self.is_metric = isinstance(judge, Metric)
        if not self.is_metric and not callable(judge):
            raise InputError(f"judge: received {type(judge).__name__}; expected a similarity Metric or a comparator "
                             "judge(candidate, anchor, reference) -> (B,) logits")
        self.judge = judge
        if isinstance(judge, Metric):
            self.value_range = judge.value_range
        ref = check_images(reference, value_range=self.value_range, name="reference")
        anc = check_images(anchor, value_range=self.value_range, name="anchor")
        if ref.shape[0] != anc.shape[0] and 1 not in (ref.shape[0], anc.shape[0]):
            raise ShapeError(f"reference and anchor: received {ref.shape[0]} and {anc.shape[0]} images; expected "
                             "equal counts or a single image in one of them")
        self.n_goals = max(ref.shape[0], anc.shape[0])
        if self.is_metric:
            self.differentiable = bool(judge.differentiable)
            with torch.no_grad():
                r_exp = ref.expand(self.n_goals, *ref.shape[1:]) if ref.shape[0] == 1 else ref
                a_exp = anc.expand(self.n_goals, *anc.shape[1:]) if anc.shape[0] == 1 else anc
                d_anchor = judge(a_exp, r_exp).detach().float()
            self.register_buffer("anchor_distance", d_anchor)
            judge.set_reference(ref)
        else:
            self.differentiable = isinstance(judge, nn.Module)
            self.register_buffer("reference", ref.clone())
            self.register_buffer("anchor", anc.clone())

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        b = images.shape[0]
        if self.n_goals not in (1, b):
            raise ShapeError(f"{type(self).__name__} observations: received {b} observations for {self.n_goals} "
                             f"references/anchors; expected 1 or {self.n_goals}")
        if self.is_metric:
            return self.anchor_distance.to(images.device) - self.judge.to_reference(images)
        ref = self.reference.expand(b, *self.reference.shape[1:]) if self.reference.shape[0] == 1 else self.reference
        anc = self.anchor.expand(b, *self.anchor.shape[1:]) if self.anchor.shape[0] == 1 else self.anchor
        out = self.judge(images, anc, ref)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (b,):
            raise ShapeError(f"judge: returned {describe(out)}; expected ({b},) logits of the candidate being preferred")
        return out

    def reward(self, images: torch.Tensor) -> torch.Tensor:
        """Preference probability ``σ(logit / T)``."""
        return torch.sigmoid(self._logits(images) / self.temperature)

    def components(self, obs: Any) -> dict[str, torch.Tensor]:
        """``{"logit": ...}``: the judge's evidence before the temperature and sigmoid."""
        with torch.no_grad():
            return {"logit": self._logits(self.check(obs))}

    def extra_repr(self) -> str:
        return f"judge={type(self.judge).__name__}, temperature={self.temperature}"
