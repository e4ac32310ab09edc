"""Calibrating LPIPS heads on human 2AFC judgements, and saving them.

A 2AFC judgement shows a reference and two distorted versions ``p0``, ``p1``; ``judge`` is the
fraction of people who found ``p1`` closer to the reference. With heads ``w ≥ 0`` the LPIPS distance
is linear in ``w``: ``d(ref, p) = w · φ(ref, p)``, where ``φ`` holds, per stage and channel, the
spatial mean of the squared difference of the unit-normalised features. The original LPIPS
training passed ``d0 = d(ref, p0)`` and ``d1 = d(ref, p1)`` through a small ranking network; here
the link is the simplest one with the same ordering, a logistic model

    P(p1 preferred) = sigmoid(d0 - d1) = sigmoid(w · (φ(ref, p0) - φ(ref, p1)))

fitted by cross-entropy against the vote fractions, with ``w`` projected onto ``w ≥ 0`` after
every step (as LPIPS clamps its heads). The backbone is frozen, so ``φ`` is computed once per
judgement and the fit itself is a small convex problem.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._docs import fill_doc
from .._progress import progress_bar, show_progress
from .._validation import describe, seed_from
from ..errors import InputError, ShapeError
from .lpips import LPIPS

__all__ = ["calibrate_heads", "save_heads", "judgement_features", "CalibrationResult"]

_FIELDS = ("ref", "p0", "p1", "judge")
_JUDGE_ALIASES = ("judge", "judgement", "judgment", "human", "target")


@dataclass
class CalibrationResult:
    """What :func:`calibrate_heads` fitted.

    Attributes
    ----------
    heads : tuple of torch.Tensor
        The fitted non-negative head weights, one ``(C_k,)`` tensor per stage (also set on the metric).
    loss : list of float
        Mean cross-entropy over the judgements after each epoch.
    agreement : float
        2AFC score of the fitted metric on the same judgements: the mean fraction of people who
        agree with its choice (``d0 < d1`` → ``1 - judge``, ``d0 > d1`` → ``judge``, ties → 0.5).
    n_judgements : int
        Number of judgements used.

    Examples
    --------
    Everyone prefers the less distorted ``p0``; a few epochs lower the loss and the fitted
    metric agrees with them:

    >>> import torch
    >>> m = LPIPS(heads=None)
    >>> g = torch.Generator().manual_seed(0)
    >>> ref = torch.rand(8, 3, 32, 32, generator=g)
    >>> p0 = (ref + 0.05 * torch.randn(8, 3, 32, 32, generator=g)).clamp(0, 1)
    >>> p1 = (ref + 0.30 * torch.randn(8, 3, 32, 32, generator=g)).clamp(0, 1)
    >>> result = calibrate_heads(m, (ref, p0, p1, torch.zeros(8)), epochs=3, progress=False)
    >>> result.n_judgements, len(result.loss), result.loss[-1] < result.loss[0], result.agreement
    (8, 3, True, 1.0)
    >>> [tuple(h.shape) for h in result.heads]   # one head per AlexNet stage
    [(64,), (192,), (384,), (256,), (256,)]
    """

    heads: tuple[torch.Tensor, ...]
    loss: list[float] = field(default_factory=list)
    agreement: float = float("nan")
    n_judgements: int = 0


def _check_metric(metric: Any) -> LPIPS:
    if not isinstance(metric, LPIPS):
        raise InputError(f"metric: received {type(metric).__name__}; expected an LPIPS metric (any backbone)")
    return metric


def _get(batch: Any, key: str) -> Any:
    names = _JUDGE_ALIASES if key == "judge" else (key,)
    for name in names:
        if isinstance(batch, Mapping) and name in batch:
            return batch[name]
        if not isinstance(batch, Mapping) and hasattr(batch, name):
            return getattr(batch, name)
    raise InputError(f"judgements: a batch lacks the field {key!r}; expected fields {list(_FIELDS)} "
                     f"(the judge field may also be called one of {list(_JUDGE_ALIASES[1:])})")


def _as_batch(batch: Any) -> tuple[Any, Any, Any, Any]:
    if isinstance(batch, (tuple, list)) and not all(hasattr(batch, k) for k in _FIELDS[:3]):
        if len(batch) != 4:
            raise InputError(f"judgements: received a {type(batch).__name__} of {len(batch)} items; expected "
                             "(ref, p0, p1, judge)")
        return tuple(batch)
    return tuple(_get(batch, k) for k in _FIELDS)


def _batches(judgements: Any, batch_size: int) -> Iterable[tuple[Any, Any, Any, Any]]:
    """Yield (ref, p0, p1, judge) batches from a tuple, a mapping, a dataset or an iterable of batches."""
    if isinstance(judgements, (tuple, list)) and len(judgements) == 4 and all(
            isinstance(v, torch.Tensor) or hasattr(v, "shape") for v in judgements):
        whole = tuple(judgements)
    elif isinstance(judgements, Mapping) or (not hasattr(judgements, "batches")
                                             and all(hasattr(judgements, k) for k in _FIELDS[:3])):
        whole = _as_batch(judgements)
    else:
        whole = None
    if whole is not None:
        n = len(whole[0])
        for i in range(0, n, batch_size):
            yield tuple(v[i:i + batch_size] for v in whole)
        return
    if hasattr(judgements, "batches"):
        quiet = "progress" in inspect.signature(judgements.batches).parameters
        judgements = judgements.batches(batch_size, progress=False) if quiet else judgements.batches(batch_size)
    if not isinstance(judgements, Iterable):
        raise InputError(f"judgements: received {type(judgements).__name__}; expected (ref, p0, p1, judge) tensors, "
                         "a dict with those keys, or a dataset / iterable yielding such batches")
    for batch in judgements:
        yield _as_batch(batch)


def _judge_vector(judge: Any, n: int) -> torch.Tensor:
    j = torch.as_tensor(judge.values if hasattr(judge, "values") and not callable(judge.values) else judge)
    j = j.detach().to(torch.float32).reshape(-1)
    if j.numel() != n:
        raise ShapeError(f"judge: received {describe(j)}; expected one fraction per judgement ({n})")
    if not torch.isfinite(j).all() or (j < 0).any() or (j > 1).any():
        raise InputError(f"judge: received {describe(j)}; expected fractions of people preferring p1, in [0, 1]")
    return j


def _sq_diffs(fx: tuple[torch.Tensor, ...], fy: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``(N, sum C_k)``: per channel, the spatial mean of squared differences of normalised features."""
    return torch.cat([(a - b).pow(2).mean(dim=(2, 3)) for a, b in zip(fx, fy)], dim=1)


@fill_doc
def judgement_features(metric: LPIPS, judgements: Any, batch_size: int = 64,
                       progress: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The calibration design: ``Δφ = φ(ref, p0) - φ(ref, p1)`` per judgement, and the vote fractions.

    With heads ``w`` (concatenated over stages), ``Δφ @ w`` equals ``d(ref, p0) - d(ref, p1)``.

    Parameters
    ----------
    metric : LPIPS
        Supplies the backbone and the value range of the images.
    judgements : tuple, dict or dataset
        ``(ref, p0, p1, judge)`` (images ``(N, 3, H, W)`` in the metric's value range, ``judge``
        ``(N,)`` fractions preferring ``p1``), a dict or object with fields ``ref``, ``p0``, ``p1``,
        ``judge``, or a dataset with ``batches(batch_size)`` / an iterable yielding such batches.
    %(batch_size)s
    %(progress)s

    Returns
    -------
    delta : torch.Tensor
        ``(N, sum C_k)`` on the CPU.
    judge : torch.Tensor
        ``(N,)`` fractions.

    Examples
    --------
    >>> import torch
    >>> m = LPIPS(heads=None)
    >>> ref = torch.rand(3, 3, 32, 32)
    >>> delta, judge = judgement_features(m, (ref, ref, torch.rand(3, 3, 32, 32), torch.ones(3)))
    >>> tuple(delta.shape), bool((delta <= 0).all())
    ((3, 1152), True)
    """
    metric = _check_metric(metric)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: received {batch_size!r}; expected a positive integer")
    deltas, judges = [], []
    bar = progress_bar(None, progress, desc="LPIPS calibration features", unit="judgement")
    with bar, torch.no_grad():
        for ref, p0, p1, judge in _batches(judgements, batch_size):
            ref = metric.check(ref[None] if getattr(ref, "ndim", 4) == 3 else ref, "ref")
            p0 = metric.check(p0[None] if getattr(p0, "ndim", 4) == 3 else p0, "p0")
            p1 = metric.check(p1[None] if getattr(p1, "ndim", 4) == 3 else p1, "p1")
            if not (ref.shape == p0.shape == p1.shape):
                raise ShapeError(f"judgements: received ref {tuple(ref.shape)}, p0 {tuple(p0.shape)}, p1 "
                                 f"{tuple(p1.shape)}; expected the same shape")
            n = ref.shape[0]
            feats = metric.normalized_features(torch.cat([ref, p0, p1]))
            f_ref = tuple(f[:n] for f in feats)
            phi0 = _sq_diffs(f_ref, tuple(f[n:2 * n] for f in feats))
            phi1 = _sq_diffs(f_ref, tuple(f[2 * n:] for f in feats))
            deltas.append((phi0 - phi1).cpu())
            judges.append(_judge_vector(judge, n))
            bar.update(n)
    if not deltas:
        raise InputError("judgements: received no judgements; expected at least one (ref, p0, p1, judge)")
    return torch.cat(deltas), torch.cat(judges)


def _agreement(d_diff: torch.Tensor, judge: torch.Tensor) -> float:
    """2AFC score from ``d0 - d1``: ``judge`` where the metric picks p1, ``1 - judge`` where p0, 0.5 on ties."""
    score = torch.where(d_diff > 0, judge, torch.where(d_diff < 0, 1 - judge, torch.full_like(judge, 0.5)))
    return float(score.mean())


@fill_doc
def calibrate_heads(metric: LPIPS, judgements: Any, epochs: int = 50, lr: float = 0.05, batch_size: int = 256,
                    per: str = "channel", random_state: int | np.random.Generator | None = 0,
                    progress: bool | None = None) -> CalibrationResult:
    """Fit the non-negative linear heads of an LPIPS metric to human 2AFC judgements.

    The backbone is frozen; the model is ``P(p1 preferred) = sigmoid(d(ref, p0) - d(ref, p1))``,
    fitted with Adam on the cross-entropy against the vote fractions, heads clamped to ``≥ 0``
    after each step (module docstring). The fit starts from the metric's current heads and the
    result is written into the metric (save it with :func:`save_heads`).

    Parameters
    ----------
    metric : LPIPS
        Any backbone (``alex``, ``vgg``, ``squeeze``).
    judgements : tuple, dict or dataset
        ``(ref, p0, p1, judge)``: images ``(N, 3, H, W)`` in the metric's value range and ``judge``
        the fraction of people preferring ``p1``; or a dict/object with those fields; or a dataset
        with ``batches(batch_size)`` (such as the BAPPS/NIGHTS readers) or any iterable of batches.
    epochs : int, default 50
        Passes over the judgements.
    lr : float, default 0.05
        Adam learning rate (in units of head weight).
    batch_size : int, default 256
        Judgements per optimisation step (and per backbone pass when computing features).
    per : {"channel", "stage"}, default "channel"
        ``"channel"``: one weight per channel, as LPIPS. ``"stage"``: one weight per stage, shared
        by its channels (the head keeps its within-stage profile scaled by the fitted factor;
        uniform heads stay uniform). Per-channel weights need many judgements: channels of one
        stage respond alike, so only combinations the judgements excite are determined; with a few
        thousand judgements, or a random-init backbone, fit per stage.
    %(random_state)s
        It orders the minibatches.
    %(progress)s

    Returns
    -------
    CalibrationResult
        Fitted heads, loss per epoch and the 2AFC agreement on the judgements.

    Raises
    ------
    InputError
        Not an LPIPS metric, malformed judgements, fractions outside ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> m = LPIPS(heads=None)
    >>> g = torch.Generator().manual_seed(0)
    >>> ref = torch.rand(16, 3, 32, 32, generator=g)
    >>> p0 = (ref + 0.05 * torch.randn(16, 3, 32, 32, generator=g)).clamp(0, 1)
    >>> p1 = (ref + 0.30 * torch.randn(16, 3, 32, 32, generator=g)).clamp(0, 1)
    >>> result = calibrate_heads(m, (ref, p0, p1, torch.zeros(16)), epochs=5)
    >>> result.agreement, bool(min(float(h.min()) for h in m.heads) >= 0)
    (1.0, True)
    """
    metric = _check_metric(metric)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"{name}: received {value!r}; expected a positive integer")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise InputError(f"lr: received {lr!r}; expected a positive number")
    if per not in ("channel", "stage"):
        raise InputError(f"per: received {per!r}; expected 'channel' or 'stage'")
    seed, progress = seed_from(random_state), show_progress(progress)
    delta, judge = judgement_features(metric, judgements, batch_size=batch_size, progress=progress)
    n = delta.shape[0]
    start = [h.detach().cpu() for h in metric.heads]
    if per == "channel":
        design, w0 = delta, torch.cat(start)
    else:
        # one factor per stage on the current profile (uniform when the profile is all zero)
        profile = [h / h.mean() if float(h.mean()) > 0 else torch.ones_like(h) for h in start]
        parts = torch.split(delta, list(metric.channels), dim=1)
        design = torch.stack([d @ p for d, p in zip(parts, profile)], dim=1)
        w0 = torch.stack([h.mean() for h in start])
    w = w0.clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=float(lr))
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    bar = progress_bar(range(epochs), progress, desc="LPIPS calibration", unit="epoch")
    for _ in bar:
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            loss = F.binary_cross_entropy_with_logits(design[idx] @ w, judge[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                w.clamp_(min=0.0)
        with torch.no_grad():
            losses.append(float(F.binary_cross_entropy_with_logits(design @ w, judge)))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    w = w.detach()
    if per == "channel":
        heads = tuple(part.clone() for part in torch.split(w, list(metric.channels)))
    else:
        heads = tuple(float(v) * p for v, p in zip(w, profile))
    metric.set_heads(heads)
    metric.heads_source = f"calibrated per {per} on {n} judgements"
    return CalibrationResult(heads=heads, loss=losses, agreement=_agreement(design @ w, judge), n_judgements=n)


def save_heads(metric: LPIPS, path: str | os.PathLike) -> Path:
    """Write an LPIPS metric's heads in the ``lpips`` package's key layout (``lin<k>.model.1.weight``).

    The file loads back with ``LPIPS(model, heads=path)`` and also into the ``lpips`` package
    (``lpips.LPIPS(net=..., model_path=path)``).

    Parameters
    ----------
    metric : LPIPS
    path : str or path-like
        Destination ``.pth`` file (parent folders are created).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, torch
    >>> m = LPIPS(heads=None)
    >>> p = save_heads(m, tempfile.mktemp(suffix=".pth"))
    >>> torch.equal(LPIPS(heads=p).heads[1], m.heads[1])
    True
    """
    metric = _check_metric(metric)
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {f"lin{k}.model.1.weight": h.detach().cpu().reshape(1, -1, 1, 1).clone()
             for k, h in enumerate(metric.heads)}
    torch.save(state, p)
    return p
