"""The contrastive objective of :class:`~neuroperception.decoding.contrastive.ContrastiveDecoder`.

Plain functions on tensors, apart from the estimator (as the ridge solvers are apart from
``RidgeCV``):

- :func:`contrastive_loss`: symmetric InfoNCE between brain and image embeddings (CLIP's loss):
  ``logits = b̂ t̂ᵀ / τ`` on L2-normalised rows, cross-entropy of each brain row over the images and
  of each image row over the brain rows, averaged. The targets are the identity (hard InfoNCE), a
  mixture with the soft-CLIP targets ``softmax(t̂ t̂ᵀ / τ)`` of MindEye (``soft_targets``), and, for
  MixCo-mixed brain inputs, the same mixture of the two mixed stimuli's targets.
- :func:`mixco`: MixCo mixing of brain inputs (MindEye's BiMixCo): a random share of the rows is
  replaced by ``β·x_i + (1 − β)·x_perm(i)`` with ``β ~ Beta(0.15, 0.15)``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["contrastive_loss", "mixco", "target_matrices", "top1_accuracy"]

#: The learnable temperature is clamped to this range (CLIP caps the logit scale at 100).
TEMPERATURE_RANGE = (0.01, 1.0)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, dim=-1, eps=1e-12)


def mixco(x: torch.Tensor, probability: float, generator: torch.Generator, beta: float = 0.15):
    """Mix a share of the rows of ``x`` with other rows (MixCo).

    Parameters
    ----------
    x : torch.Tensor
        ``(batch, ...)`` brain inputs.
    probability : float
        Chance that a row is mixed.
    generator : torch.Generator
        CPU generator of the permutation, the mixing weights and the selection.
    beta : float
        Both parameters of the Beta distribution of the mixing weight.

    Returns
    -------
    mixed : torch.Tensor
        ``x`` with the selected rows replaced by ``β·x_i + (1 − β)·x_perm(i)``.
    perm : torch.Tensor
        ``(batch,)`` the partner of each row.
    betas : torch.Tensor
        ``(batch,)`` the weight of each row's own input (1 for rows left alone).

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.eye(4)
    >>> mixed, perm, betas = mixco(x, 1.0, g)
    >>> bool(torch.allclose(mixed, betas[:, None] * x + (1 - betas[:, None]) * x[perm]))
    True
    """
    n = x.shape[0]
    perm = torch.randperm(n, generator=generator)
    betas = _beta(n, beta, generator)
    select = torch.rand(n, generator=generator) < float(probability)
    betas = torch.where(select, betas, torch.ones_like(betas))
    perm, b = perm.to(x.device), betas.to(device=x.device, dtype=x.dtype)
    shape = (-1,) + (1,) * (x.ndim - 1)
    return b.reshape(shape) * x + (1 - b).reshape(shape) * x[perm], perm, b


def _beta(n: int, beta: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` draws of Beta(beta, beta), from a numpy generator seeded by ``generator``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.from_numpy(np.random.default_rng(seed).beta(float(beta), float(beta), size=n)).float()


def target_matrices(image: torch.Tensor, temperature: float | torch.Tensor, soft_targets: float = 0.0,
                    mix: tuple[torch.Tensor, torch.Tensor] | None = None,
                    target_temperature: float | torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Target distributions of the brain→image and image→brain cross-entropies.

    With ``S = softmax(t̂ t̂ᵀ / τ_t)`` (rows) and ``W = (1 − soft_targets)·I + soft_targets·S``, and
    ``M`` the mixing matrix (``M[i, i] += β_i``, ``M[i, perm(i)] += 1 − β_i``; the identity without
    mixing), brain row ``i`` targets ``(M W)[i]`` and image row ``j`` targets ``(W Mᵀ)[j]``
    renormalised to sum to 1.

    Examples
    --------
    >>> q_bi, q_ib = target_matrices(torch.eye(3), 0.1)
    >>> bool(torch.equal(q_bi, torch.eye(3))), bool(torch.equal(q_ib, torch.eye(3)))
    (True, True)
    """
    n = image.shape[0]
    eye = torch.eye(n, device=image.device, dtype=image.dtype)
    weights = eye
    if soft_targets:
        tau = temperature if target_temperature is None else target_temperature
        tau = tau.detach() if isinstance(tau, torch.Tensor) else torch.tensor(float(tau), device=image.device)
        t = _normalise(image.detach())
        weights = (1 - float(soft_targets)) * eye + float(soft_targets) * torch.softmax(t @ t.T / tau, dim=-1)
    if mix is None:
        return weights, weights
    perm, betas = mix
    m = torch.diag(betas.to(image.dtype))
    m = m.index_put((torch.arange(n, device=image.device), perm), (1 - betas).to(image.dtype), accumulate=True)
    backward = weights @ m.T
    return m @ weights, backward / backward.sum(-1, keepdim=True).clamp_min(1e-12)


def contrastive_loss(brain: torch.Tensor, image: torch.Tensor, temperature: float | torch.Tensor, *,
                     soft_targets: float = 0.0, mix: tuple[torch.Tensor, torch.Tensor] | None = None,
                     target_temperature: float | torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between brain and image embeddings, optionally with soft and mixed targets.

    Parameters
    ----------
    brain, image : torch.Tensor
        ``(batch, dim)`` embeddings; row ``i`` of both comes from stimulus ``i`` (L2-normalised here).
    temperature : float or torch.Tensor
        τ of the logits ``b̂ t̂ᵀ / τ`` (a learnable scalar tensor in the decoder).
    soft_targets : float
        Weight in [0, 1] of the soft-CLIP targets ``softmax(t̂ t̂ᵀ / τ)``; 0 is hard InfoNCE.
    mix : (perm, betas), optional
        The MixCo mixing of the brain rows (see :func:`mixco`); their targets are mixed alike.
    target_temperature : float or torch.Tensor, optional
        τ of the soft targets (default ``temperature``; gradients never flow through the targets).

    Returns
    -------
    torch.Tensor
        Scalar ``(CE(logits, Q_bi) + CE(logitsᵀ, Q_ib)) / 2`` (see :func:`target_matrices`).

    Examples
    --------
    >>> b = torch.eye(3)
    >>> round(float(contrastive_loss(b, b, 1.0)), 4)  # -log(e / (e + 2))
    0.5514
    """
    b, t = _normalise(brain), _normalise(image)
    logits = b @ t.T / temperature
    q_bi, q_ib = target_matrices(image, temperature, soft_targets, mix, target_temperature)
    forward = -(torch.log_softmax(logits, dim=-1) * q_bi).sum(-1).mean()
    backward = -(torch.log_softmax(logits.T, dim=-1) * q_ib).sum(-1).mean()
    return (forward + backward) / 2


def top1_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Share of rows whose cosine-nearest target row (among all) is their own.

    Examples
    --------
    >>> top1_accuracy(torch.eye(3), torch.eye(3)[[0, 2, 1]])
    0.3333333333333333
    """
    sim = _normalise(pred.double()) @ _normalise(target.double()).T
    hits = sim.argmax(-1) == torch.arange(sim.shape[0], device=sim.device)
    return float(hits.double().mean())
