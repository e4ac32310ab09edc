"""Reward-hacking diagnostics: how cheaply can an optimiser buy reward, and does a judge agree?

A policy or an image generator trained on a perceptual reward will find whatever the reward model
over-values, often imperceptible pixel patterns (adversarial examples) rather than the goal. This
module measures that and offers one mitigation:

* :func:`reward_sensitivity`: projected gradient ascent (PGD) in ℓ∞; the largest reward gain a
  perturbation of at most ``eps`` per pixel buys, per observation;
* :func:`ensemble_disagreement`: spread of several standardised rewards on the same observations;
  hacked observations are those one reward loves and the others do not;
* :class:`TransformAveragedReward`: the reward averaged over random shifts, flips and zooms of the
  observation (as E-LPIPS does for LPIPS), which cancels pixel-exact vulnerabilities;
* :func:`attack_table`: plain versus transform-averaged rewards under the same attack (and, on
  request, the attacked observations);
* :func:`optimize_images`: gradient ascent on a reward, recording one or several held-out judges at
  every step, so reward going up while the judges do not is visible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from .._docs import fill_doc
from .._progress import check_progress, progress_bar
from .._validation import check_images, seed_from
from ..errors import InputError
from ._diagnostic_inputs import _call, _check_eps, _check_steps, _name, _obs
from .transform_averaging import TransformAveragedReward

__all__ = ["reward_sensitivity", "ensemble_disagreement", "TransformAveragedReward", "attack_table", "Attack",
           "optimize_images"]

@fill_doc
def reward_sensitivity(reward_fn: Callable, obs: Any, eps: float, steps: int = 10, step_size: float | None = None,
                       random_start: bool = False, random_state: int | np.random.Generator | None = 0,
                       return_images: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Largest reward gain an ℓ∞ perturbation of size ``eps`` buys, per observation (PGD).

    Runs projected gradient ascent on ``δ`` with ``‖δ‖∞ ≤ eps`` and ``obs + δ`` in ``[0, 1]``:
    ``δ ← clip(δ + step_size · sign(∇δ r(obs + δ)))`` (Madry et al. 2018), and returns, per
    observation, the best ``r(obs + δ) − r(obs)`` over all iterates, including ``δ = 0``. Clean and
    perturbed images are scored in one call, so rewards that draw random transforms per call
    (:class:`TransformAveragedReward`) compare both under the same draw.

    Parameters
    ----------
    reward_fn : RewardFunction or callable
        Differentiable reward, ``(B, 3, H, W)`` → ``(B,)``.
    obs : array-like
        Observations, as :func:`~neuroperception._validation.check_images` accepts them.
    eps : float
        ℓ∞ budget in ``[0, 1]`` pixel units (e.g. ``2/255``).
    steps : int, default 10
        PGD iterations.
    step_size : float, optional
        Step per iteration; default ``2.5 · eps / steps``.
    random_start : bool, default False
        Start from a uniform random ``δ`` in the ball instead of 0.
    %(random_state)s
        It seeds the random start.
    return_images : bool, default False
        Also return the perturbed observations that achieved the gains.

    Returns
    -------
    gains : torch.Tensor
        ``(B,)`` float32 gains, ≥ 0 (0 at ``eps = 0``), on the CPU.
    images : torch.Tensor
        Only with ``return_images=True``: the best iterate ``obs + δ`` per observation,
        ``(B, 3, H, W)`` float32 in ``[0, 1]`` on the CPU, within ``eps`` of ``obs`` (``obs`` itself
        where no perturbation gained anything).

    Raises
    ------
    InputError
        A reward declared non-differentiable (``differentiable = False``), a reward whose gradient
        does not reach the pixels, an ``eps`` outside ``[0, 1]``, invalid observations.

    Examples
    --------
    >>> import torch
    >>> def brightness(x):
    ...     return x.mean(dim=(1, 2, 3))
    >>> gains = reward_sensitivity(brightness, torch.full((2, 3, 8, 8), 0.5), eps=0.1, steps=5)
    >>> [round(g, 4) for g in gains.tolist()]
    [0.1, 0.1]
    >>> gains, images = reward_sensitivity(brightness, torch.full((2, 3, 8, 8), 0.5), eps=0.1, steps=5,
    ...                                    return_images=True)
    >>> round(float(images.max()), 4), round(float(brightness(images)[0] - 0.5), 4)
    (0.6, 0.1)
    """
    if not getattr(reward_fn, "differentiable", True):
        raise InputError(f"reward_fn: received {_name(reward_fn)} with differentiable=False; expected a reward whose "
                         "gradient reaches the pixels (PGD needs it; score non-differentiable rewards with "
                         "ensemble_disagreement or a judge instead)")
    eps = _check_eps(eps)
    steps = _check_steps(steps)
    if step_size is None:
        step_size = 2.5 * eps / steps
    elif not float(step_size) > 0:
        raise InputError(f"step_size: received {step_size!r}; expected a positive number or None")
    x = _obs(obs, reward_fn).detach()
    n = x.shape[0]
    best = torch.zeros(n, device=x.device)
    best_x = x.clone() if return_images else None
    if eps == 0.0:
        return (best.cpu(), best_x.cpu()) if return_images else best.cpu()
    if random_start:
        gen = torch.Generator().manual_seed(seed_from(random_state))
        delta = (torch.rand(x.shape, generator=gen) * 2 - 1).to(x.device) * eps
        delta = (x + delta).clamp(0, 1) - x
    else:
        delta = torch.zeros_like(x)
    for it in range(steps + 1):
        delta.requires_grad_(True)
        r = _call(reward_fn, torch.cat([x, x + delta]))
        gain = (r[n:] - r[:n]).detach()
        if return_images:
            better = gain > best
            best_x[better] = (x + delta.detach())[better]
        best = torch.maximum(best, gain)
        if it == steps:
            break
        grad = torch.autograd.grad(r[n:].sum(), delta, allow_unused=True)[0] if r.requires_grad else None
        if grad is None:
            raise InputError(f"reward_fn: received {_name(reward_fn)} whose gradient does not reach the observation "
                             "pixels; expected a differentiable reward (set differentiable=False on it to say so)")
        with torch.no_grad():
            delta = (delta + step_size * grad.sign()).clamp(-eps, eps)
            delta = (x + delta).clamp(0, 1) - x
    if return_images:
        return best.cpu(), best_x.clamp_(0.0, 1.0).cpu()
    return best.cpu()


def ensemble_disagreement(reward_fns: Mapping[str, Callable] | Sequence[Callable], obs: Any,
                          reference: Any = None) -> torch.Tensor:
    """Disagreement of several rewards on each observation: the std of their standardised values.

    Each reward is z-scored with its mean and std over ``reference`` (default: over ``obs``
    itself), then the standard deviation across rewards is taken per observation. Rewards that agree
    up to an affine rescaling give 0; an observation one reward scores far higher than the others
    (a typical sign of hacking) stands out.

    Parameters
    ----------
    reward_fns : dict or sequence of callables
        At least two rewards, ``(B, 3, H, W)`` → ``(B,)``.
    obs : array-like
        Observations to score.
    reference : array-like, optional
        Observations defining each reward's mean and std (e.g. typical states); at least two.

    Returns
    -------
    torch.Tensor
        ``(B,)`` float32 disagreement, ≥ 0, on the CPU.

    Raises
    ------
    InputError
        Fewer than two rewards, fewer than two reference observations, or a reward that is constant
        on the reference (it cannot be standardised).

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> def bright(x):
    ...     return x.mean(dim=(1, 2, 3))
    >>> def bright_x10(x):
    ...     return 10 * x.mean(dim=(1, 2, 3)) + 3
    >>> float(ensemble_disagreement([bright, bright_x10], x).max()) < 1e-5
    True
    """
    fns = list(reward_fns.values()) if isinstance(reward_fns, Mapping) else list(reward_fns)
    names = list(reward_fns.keys()) if isinstance(reward_fns, Mapping) else [_name(f) for f in fns]
    if len(fns) < 2:
        raise InputError(f"reward_fns: received {len(fns)} reward(s); expected at least two to compare")
    x_ref = None if reference is None else check_images(reference, name="reference")
    x = check_images(obs, name="obs")
    if (x.shape[0] if x_ref is None else x_ref.shape[0]) < 2:
        raise InputError("reference: received fewer than two observations; expected at least two to standardise the "
                         "rewards (pass reference=typical observations)")
    z = []
    with torch.no_grad():
        for name, fn in zip(names, fns):
            device = getattr(fn, "device", torch.device("cpu"))
            r = _call(fn, x.to(device)).cpu().double()
            ref = r if x_ref is None else _call(fn, x_ref.to(device)).cpu().double()
            sd = ref.std(correction=0)
            if not float(sd) > 1e-12:
                raise InputError(f"reward {name!r}: received a constant reward on the reference observations; "
                                 "expected rewards that vary (pass more varied reference observations)")
            z.append((r - ref.mean()) / sd)
    return torch.stack(z).std(dim=0, correction=0).float()


class Attack(NamedTuple):
    """One attack of :func:`attack_table`: the best perturbed observations and what each bought.

    Attributes
    ----------
    images : torch.Tensor
        ``(B, 3, H, W)`` in ``[0, 1]`` on the CPU: per observation the best iterate ``obs + δ``.
    gains : torch.Tensor
        ``(B,)``: the reward gain of each, as the attack measured it (for a transform-averaged
        reward, under the attack's own draw of transforms).

    Examples
    --------
    >>> import torch
    >>> obs = torch.full((2, 3, 4, 4), 0.5)
    >>> _, attacks = attack_table({"bright": lambda x: x.mean(dim=(1, 2, 3))}, obs, eps=0.1, steps=2,
    ...                           average=False, return_images=True)
    >>> attack = attacks["bright", "plain", 0.1]
    >>> tuple(attack.images.shape), [round(g, 3) for g in attack.gains.tolist()]
    ((2, 3, 4, 4), [0.1, 0.1])
    """

    images: torch.Tensor
    gains: torch.Tensor


@fill_doc
def attack_table(rewards: Mapping[str, Callable], obs: Any, eps: float | Sequence[float], *, average: bool = True,
                 n_transforms: int = 8, steps: int = 10, step_size: float | None = None,
                 random_state: int | np.random.Generator | None = 0, return_images: bool = False,
                 progress: bool | None = None) -> pd.DataFrame | tuple[pd.DataFrame, dict[tuple, Attack]]:
    """Plain versus transform-averaged rewards under the same PGD attack, as a table.

    For every reward (and, with ``average=True``, its :class:`TransformAveragedReward`) and every
    budget ``eps``, runs :func:`reward_sensitivity` on ``obs``. Gains are also given in units of the
    reward's spread over ``obs`` (``gain_in_sd``), so rewards on different scales compare.

    Parameters
    ----------
    rewards : dict of str to RewardFunction or callable
        Differentiable rewards by name (non-differentiable ones are an error).
    obs : array-like
        Observations to attack (at least two for ``gain_in_sd``; NaN otherwise).
    eps : float or sequence of float
        ℓ∞ budgets.
    average : bool, default True
        Also attack each reward's transform-averaged version.
    n_transforms, steps, step_size, random_state
        Passed to :class:`TransformAveragedReward` and :func:`reward_sensitivity`.
    return_images : bool, default False
        Also return each attack's images and per-observation gains (the table is the same either way).
    %(progress)s
        The bar counts attacks (rewards × variants × budgets) and names the one running: with a
        network reward each attack runs ``steps`` forward and backward passes over ``obs`` (and
        ``n_transforms`` times that for the averaged variant), which takes minutes on a CPU.

    Returns
    -------
    table : pandas.DataFrame
        One row per (reward, variant, eps): ``reward``, ``variant`` (``"plain"``/``"averaged"``),
        ``eps``, ``clean_mean``, ``gain_mean``, ``gain_max``, ``gain_in_sd``.
    attacks : dict
        Only with ``return_images=True``: ``(reward, variant, eps)`` (the table row's values) to
        an :class:`Attack`: the best perturbed observations ``(B, 3, H, W)`` in ``[0, 1]`` on the
        CPU and the gain each bought (see :func:`reward_sensitivity`).

    Examples
    --------
    >>> import torch
    >>> def red_pixel(x):
    ...     return x[:, 0, 3, 3] - x[:, 0, 3, 4]
    >>> obs = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> table = attack_table({"pixel": red_pixel}, obs, eps=0.05, steps=3, n_transforms=4)
    >>> table[["reward", "variant"]].values.tolist()
    [['pixel', 'plain'], ['pixel', 'averaged']]
    >>> table, attacks = attack_table({"pixel": red_pixel}, obs, eps=0.05, steps=3, average=False,
    ...                               return_images=True)
    >>> list(attacks), bool((attacks["pixel", "plain", 0.05].images - obs).abs().max() <= 0.05 + 1e-6)
    ([('pixel', 'plain', 0.05)], True)
    """
    if not isinstance(rewards, Mapping) or not rewards:
        raise InputError(f"rewards: received {type(rewards).__name__}; expected a non-empty dict name -> reward")
    budgets = [_check_eps(e) for e in (np.atleast_1d(np.asarray(eps, dtype=object)).tolist())]
    progress = check_progress(progress)
    x = check_images(obs, name="obs")
    rows, attacked = [], {}
    bar = progress_bar(None, progress, total=len(rewards) * (2 if average else 1) * len(budgets), unit="attack",
                       desc="attack_table")
    for name, fn in rewards.items():
        variants = [("plain", fn)]
        if average:
            variants.append(("averaged", TransformAveragedReward(fn, n_transforms=n_transforms,
                                                                 random_state=random_state)))
        for variant, reward_fn in variants:
            device = getattr(reward_fn, "device", torch.device("cpu"))
            with torch.no_grad():
                if isinstance(reward_fn, TransformAveragedReward):
                    reward_fn.reseed()
                clean = _call(reward_fn, x.to(device)).cpu().double()
            spread = float(clean.std(correction=0)) if clean.numel() > 1 else float("nan")
            for e in budgets:
                bar.set_postfix_str(f"{name} ({variant}), eps={e:.4g}", refresh=True)
                if isinstance(reward_fn, TransformAveragedReward):
                    reward_fn.reseed()
                gain = reward_sensitivity(reward_fn, x, e, steps=steps, step_size=step_size,
                                          random_state=random_state, return_images=return_images)
                bar.update()
                if return_images:
                    gain, images = gain
                    attacked[name, variant, e] = Attack(images, gain)
                gain = gain.double()
                rows.append({"reward": name, "variant": variant, "eps": e, "clean_mean": float(clean.mean()),
                             "gain_mean": float(gain.mean()), "gain_max": float(gain.max()),
                             "gain_in_sd": float(gain.mean()) / spread if spread > 1e-12 else float("nan")})
    bar.close()
    return (pd.DataFrame(rows), attacked) if return_images else pd.DataFrame(rows)


def _judges(judge: Any) -> dict[str, Callable]:
    """The judges of :func:`optimize_images` by history column: ``{"judge": judge}`` for one callable."""
    if judge is None:
        return {}
    if callable(judge) and not isinstance(judge, Mapping):
        return {"judge": judge}
    if not isinstance(judge, Mapping):
        raise InputError(f"judge: received {type(judge).__name__}; expected a callable reward, a dict name -> "
                         "callable reward, or None")
    if not judge:
        raise InputError("judge: received an empty dict; expected at least one name -> callable reward (or None)")
    for key, fn in judge.items():
        if not isinstance(key, str) or key in ("step", "image", "reward"):
            raise InputError(f"judge: received the key {key!r}; expected strings other than 'step', 'image' and "
                             "'reward' (they name the history's columns)")
        if not callable(fn):
            raise InputError(f"judge[{key!r}]: received {type(fn).__name__}; expected a callable reward")
    return dict(judge)


def optimize_images(reward_fn: Callable, init: Any, steps: int = 50, lr: float = 0.01,
                    judge: Callable | Mapping[str, Callable] | None = None,
                    record_every: int = 1, generator: Callable | None = None,
                    latent_penalty: float = 0.0) -> tuple[pd.DataFrame, torch.Tensor]:
    """Gradient ascent on a differentiable reward, with a held-out judge recorded alongside.

    Without ``generator`` the pixels themselves are optimised with Adam and projected back into
    ``[0, 1]`` after every step. With a ``generator`` (ReNO-style), ``init`` is its input (a latent
    or noise tensor of any shape, batch first) and the input is optimised through the frozen
    generator; ``latent_penalty`` subtracts ``λ · mean(z²)`` per sample from the objective (keeping
    noise near its prior's typical set). The reward and the judge (a reward the optimiser never sees, e.g. another perceptual
    metric or a transform-averaged version) are recorded per image every ``record_every`` steps:
    when the reward climbs while the judge stalls or falls, the optimiser is hacking the reward.

    Parameters
    ----------
    reward_fn : RewardFunction or callable
        Differentiable reward to maximise.
    init : array-like
        Starting images ``(B, 3, H, W)`` in ``[0, 1]`` (not modified).
    steps : int, default 50
        Optimisation steps.
    lr : float, default 0.01
        Adam learning rate (pixel units).
    judge : callable or dict of str to callable, optional
        Held-out reward evaluated without gradients at the recorded steps, or several of them by
        name (each gets its own column in ``history``, named by its key).
    record_every : int, default 1
        Recording interval (step 0 and the last step are always recorded).
    generator : callable, optional
        ``generator(z) -> (B, 3, H, W)`` images in ``[0, 1]``, differentiable in ``z`` (its own
        parameters are not updated).
    latent_penalty : float, default 0
        ``λ`` of the penalty on the input with a generator.

    Returns
    -------
    history : pandas.DataFrame
        Long format, one row per recorded step and image: ``step``, ``image``, ``reward`` and
        (with a single judge) ``judge``, or (with a dict of judges) one column per key, in the
        dict's order.
    images : torch.Tensor
        The optimised images, ``(B, 3, H, W)`` in ``[0, 1]``, detached, on the CPU (with a
        generator, its output for the optimised input, which ``history.attrs["latent"]`` holds).

    Raises
    ------
    InputError
        A non-differentiable reward, or one whose gradient does not reach the pixels; a judge that
        is not callable (named by its key), an empty dict of judges, or a judge key that is not a
        string or clashes with ``step``, ``image`` or ``reward``.

    Examples
    --------
    >>> import torch
    >>> def brightness(x):
    ...     return x.mean(dim=(1, 2, 3))
    >>> history, images = optimize_images(brightness, torch.full((1, 3, 8, 8), 0.2), steps=5, lr=0.1)
    >>> history.groupby("step")["reward"].mean().is_monotonic_increasing, tuple(images.shape)
    (True, (1, 3, 8, 8))
    >>> def darkness(x):
    ...     return 1 - x.mean(dim=(1, 2, 3))
    >>> history, _ = optimize_images(brightness, torch.full((1, 3, 8, 8), 0.2), steps=2, lr=0.1,
    ...                              judge={"dark": darkness, "bright": brightness})
    >>> list(history.columns)
    ['step', 'image', 'reward', 'dark', 'bright']

    Through a generator (here a fixed linear decoder of a 4-dimensional latent):

    >>> decoder = torch.nn.Sequential(torch.nn.Linear(4, 3 * 8 * 8), torch.nn.Sigmoid(),
    ...                               torch.nn.Unflatten(1, (3, 8, 8)))
    >>> history, images = optimize_images(brightness, torch.zeros(2, 4), steps=5, lr=0.5, generator=decoder)
    >>> bool(history.groupby("step")["reward"].mean().iloc[-1] > 0.5), tuple(history.attrs["latent"].shape)
    (True, (2, 4))
    """
    if not getattr(reward_fn, "differentiable", True):
        raise InputError(f"reward_fn: received {_name(reward_fn)} with differentiable=False; expected a "
                         "differentiable reward for gradient ascent")
    steps = _check_steps(steps)
    record_every = _check_steps(record_every, "record_every")
    if not float(lr) > 0:
        raise InputError(f"lr: received {lr!r}; expected a positive learning rate")
    judges = _judges(judge)
    if generator is not None and not callable(generator):
        raise InputError(f"generator: received {_name(generator)}; expected a callable z -> images (B, 3, H, W)")
    penalty = float(latent_penalty)
    if not np.isfinite(penalty) or penalty < 0:
        raise InputError(f"latent_penalty: received {latent_penalty!r}; expected a number >= 0")
    if generator is None:
        z = _obs(init, reward_fn, "init").detach().clone().requires_grad_(True)
    else:
        z = torch.as_tensor(init, dtype=torch.float32).detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=float(lr))
    rows: list[dict] = []

    def images_of(latent: torch.Tensor) -> torch.Tensor:
        if generator is None:
            return latent
        out = generator(latent)
        if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[0] != latent.shape[0]:
            raise InputError(f"generator: returned {_name(out)}; expected images ({latent.shape[0]}, 3, H, W)")
        return _obs(out, reward_fn, "generator output") if not out.requires_grad else out

    def record(step: int, r: torch.Tensor, x: torch.Tensor) -> None:
        values = {"reward": r.detach().cpu().double().numpy()}
        with torch.no_grad():
            for column, fn in judges.items():
                values[column] = _call(fn, x.detach().to(getattr(fn, "device", x.device))).cpu().double().numpy()
        for i in range(x.shape[0]):
            rows.append({"step": step, "image": i, **{k: float(v[i]) for k, v in values.items()}})

    for step in range(steps + 1):
        optimizer.zero_grad()
        x = images_of(z)
        r = _call(reward_fn, x)
        if step % record_every == 0 or step == steps:
            record(step, r, x)
        if step == steps:
            break
        objective = r.sum()
        if generator is not None and penalty > 0:
            objective = objective - penalty * (z.reshape(z.shape[0], -1) ** 2).mean(1).sum()
        if objective.requires_grad:
            (-objective).backward()
        if z.grad is None:
            raise InputError(f"reward_fn: received {_name(reward_fn)} whose gradient does not reach the "
                             f"{'pixels' if generator is None else 'generator input'}; expected a differentiable "
                             "reward (and generator)")
        optimizer.step()
        if generator is None:
            with torch.no_grad():
                z.clamp_(0.0, 1.0)
    history = pd.DataFrame(rows)
    if generator is not None:
        history.attrs["latent"] = z.detach().cpu()
        with torch.no_grad():
            return history, images_of(z).detach().cpu()
    return history, z.detach().cpu()
