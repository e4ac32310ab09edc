"""Reward shaping and normalisation: running statistics, clipping, rank transforms, potentials.

Perceptual rewards come on arbitrary scales (a negative LPIPS distance, a CLIP cosine, a predicted
BOLD amplitude), which RL algorithms tune badly to. This module rescales them without changing what
they reward:

* :class:`RunningNormalizer`: running mean/std (Welford/Chan updates, float64), ``(r - mean) / std``
  then an optional symmetric ``clip``; one statistic per reward when the stream has several columns;
* :func:`clip`: clip values to ``[low, high]`` with checks;
* :class:`RankTransform`: the percentile (or centred rank) of each reward among the last ``window``
  rewards, robust to outliers and to any monotone rescaling of the reward;
* :class:`PotentialShaping`: ``F = γ Φ(s') − Φ(s)`` (Ng, Harada & Russell 1999) with the potential
  ``Φ`` taken from a perceptual reward; adding ``F`` to any reward leaves the optimal policy unchanged.

Everything accepts numpy arrays and torch tensors and returns the same kind it received.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._validation import describe
from ..errors import InputError, ShapeError

__all__ = ["RunningNormalizer", "clip", "RankTransform", "PotentialShaping"]


def _as_numpy(x: Any, name: str) -> tuple[np.ndarray, Any]:
    """Return ``x`` as float64 numpy plus a function converting results back to ``x``'s kind."""
    if isinstance(x, torch.Tensor):
        dtype = x.dtype if torch.is_floating_point(x) else torch.float32
        device = x.device

        def back(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=dtype, device=device)

        arr = x.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InputError(f"{name}: received {describe(x)}; expected real numbers") from err
        scalar = np.ndim(x) == 0 and not isinstance(x, np.ndarray)

        def back(a: np.ndarray) -> Any:
            a = np.asarray(a, dtype=np.float64)
            return float(a) if scalar else a

    if not np.isfinite(arr).all():
        raise InputError(f"{name}: received {describe(arr)}; expected finite rewards (no NaN/Inf)")
    return arr, back


def clip(x: Any, low: float | None = None, high: float | None = None) -> Any:
    """Clip rewards to ``[low, high]`` (either bound may be None).

    Parameters
    ----------
    x : float, numpy.ndarray or torch.Tensor
        Rewards; must be finite.
    low, high : float, optional
        Bounds; ``low <= high`` when both are given.

    Returns
    -------
    Same kind as ``x``
        The clipped rewards (tensors keep their dtype, device and gradient where not clipped).

    Raises
    ------
    InputError
        NaN/Inf rewards, or ``low > high``.

    Examples
    --------
    >>> import numpy as np
    >>> clip(np.array([-3.0, 0.5, 7.0]), -1, 1).tolist()
    [-1.0, 0.5, 1.0]
    """
    lo = -np.inf if low is None else float(low)
    hi = np.inf if high is None else float(high)
    if np.isnan(lo) or np.isnan(hi) or lo > hi:
        raise InputError(f"clip: received low={low!r}, high={high!r}; expected low <= high")
    if isinstance(x, torch.Tensor):
        if torch.is_floating_point(x) and not torch.isfinite(x.detach()).all():
            raise InputError(f"clip: received {describe(x)}; expected finite rewards (no NaN/Inf)")
        return x.clamp(min=None if low is None else lo, max=None if high is None else hi)
    arr, back = _as_numpy(x, "clip")
    return back(np.clip(arr, lo, hi))


class RunningNormalizer:
    """Standardise a stream of rewards by its running mean and standard deviation.

    Each :meth:`update` merges a batch into the running count, mean and sum of squared deviations
    with the parallel form of Welford's algorithm (Chan et al. 1979), in float64, so the statistics
    equal ``numpy.mean`` / ``numpy.std`` of everything seen so far, whatever the batching.

    Parameters
    ----------
    shape : tuple of int, default ()
        Shape of one reward. ``()`` for a scalar reward; ``(k,)`` keeps ``k`` independent
        statistics, one per reward, for streams of shape ``(batch, k)``.
    clip : float, optional
        After standardising, clip to ``[-clip, clip]``.
    epsilon : float, default 1e-8
        Added to the variance before the square root.
    center : bool, default True
        Subtract the running mean; with False only divide by the running std (as reward scaling
        in PPO implementations does, which keeps the reward's sign).
    ddof : int, default 0
        Delta degrees of freedom of the variance (0: population std like ``numpy.std``).

    Attributes
    ----------
    count : int
        Number of rewards seen (per column).
    mean, var, std : numpy.ndarray
        Running statistics, of ``shape``.

    Examples
    --------
    >>> import numpy as np
    >>> norm = RunningNormalizer()
    >>> _ = norm.update(np.array([1.0, 2.0, 3.0]))
    >>> float(norm.mean), round(float(norm.std), 4)
    (2.0, 0.8165)
    >>> norm.normalize(np.array([2.0, 4.0])).round(3).tolist()
    [0.0, 2.449]
    """

    def __init__(self, shape: tuple[int, ...] = (), clip: float | None = None, epsilon: float = 1e-8,
                 center: bool = True, ddof: int = 0):
        try:
            self.shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError) as err:
            raise InputError(f"shape: received {shape!r}; expected a tuple of ints such as () or (3,)") from err
        if clip is not None and not (float(clip) > 0):
            raise InputError(f"clip: received {clip!r}; expected a positive number or None")
        if not float(epsilon) >= 0:
            raise InputError(f"epsilon: received {epsilon!r}; expected a number >= 0")
        if int(ddof) < 0:
            raise InputError(f"ddof: received {ddof!r}; expected 0 or 1")
        self.clip = None if clip is None else float(clip)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.ddof = int(ddof)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far."""
        self.count = 0
        self.mean = np.zeros(self.shape)
        self._m2 = np.zeros(self.shape)

    @property
    def var(self) -> np.ndarray:
        """Running variance (``ddof`` as given; 0 before two rewards with ``ddof=1``)."""
        if self.count - self.ddof <= 0:
            return np.zeros(self.shape)
        return self._m2 / (self.count - self.ddof)

    @property
    def std(self) -> np.ndarray:
        """Running standard deviation."""
        return np.sqrt(self.var)

    def _batch(self, x: Any, name: str) -> tuple[np.ndarray, Any]:
        arr, back = _as_numpy(x, name)
        n = len(self.shape)
        if arr.shape[arr.ndim - n:] != self.shape or arr.ndim - n > 1:
            raise ShapeError(
                f"{name}: received {describe(arr)}; expected rewards of shape {self.shape} or a batch "
                f"(batch, {', '.join(map(str, self.shape))})".replace(", )", ")")
            )
        return arr.reshape((-1, *self.shape)), back

    def update(self, x: Any) -> "RunningNormalizer":
        """Merge a reward or a batch of rewards into the running statistics; returns ``self``."""
        batch, _ = self._batch(x, "rewards")
        n_b = batch.shape[0]
        if n_b == 0:
            return self
        mean_b = batch.mean(axis=0)
        m2_b = ((batch - mean_b) ** 2).sum(axis=0)
        total = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / total)
        self._m2 = self._m2 + m2_b + delta ** 2 * (self.count * n_b / total)
        self.count = total
        return self

    def normalize(self, x: Any) -> Any:
        """Standardise (and clip) rewards with the current statistics, without updating them."""
        arr, back = _as_numpy(x, "rewards")
        self._batch(arr, "rewards")
        out = arr - self.mean if self.center else arr.copy()
        out = out / np.sqrt(self.var + self.epsilon)
        if self.clip is not None:
            out = np.clip(out, -self.clip, self.clip)
        return back(out)

    def __call__(self, x: Any, update: bool = True) -> Any:
        """Update the statistics with ``x`` (unless ``update=False``), then normalise ``x``."""
        if update:
            self.update(x)
        return self.normalize(x)

    def state_dict(self) -> dict:
        """The running statistics, to save with a checkpoint."""
        return {"count": self.count, "mean": self.mean.copy(), "m2": self._m2.copy()}

    def load_state_dict(self, state: dict) -> None:
        """Restore statistics written by :meth:`state_dict`."""
        mean, m2 = np.asarray(state["mean"], dtype=np.float64), np.asarray(state["m2"], dtype=np.float64)
        if mean.shape != self.shape or m2.shape != self.shape:
            raise ShapeError(f"state: received statistics of shape {mean.shape}; expected {self.shape}")
        self.count, self.mean, self._m2 = int(state["count"]), mean, m2

    def __repr__(self) -> str:
        return f"RunningNormalizer(shape={self.shape}, clip={self.clip}, count={self.count})"


class RankTransform:
    """Replace each reward by its percentile among the most recent ``window`` rewards.

    The new rewards join the window first, then each gets its mid-rank percentile
    ``(#{w < r} + ½ #{w = r}) / len(window)`` in ``[0, 1]``. The output ignores the reward's scale and
    any monotone transform of it, and one huge outlier moves it by at most ``1 / window``.

    Parameters
    ----------
    window : int, default 1000
        Number of most recent rewards ranked against.
    centered : bool, default False
        Return ``percentile − 0.5`` (in ``[-0.5, 0.5]``) instead of the percentile.

    Examples
    --------
    >>> import numpy as np
    >>> rank = RankTransform(window=4)
    >>> rank(np.array([10.0, 20.0, 30.0, 40.0])).tolist()
    [0.125, 0.375, 0.625, 0.875]
    >>> rank(np.array([1000.0])).tolist()  # the window now holds 20, 30, 40, 1000
    [0.875]
    """

    def __init__(self, window: int = 1000, centered: bool = False):
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise InputError(f"window: received {window!r}; expected a positive int")
        self.window = int(window)
        self.centered = bool(centered)
        self._buffer: deque[float] = deque(maxlen=self.window)

    def reset(self) -> None:
        """Empty the window."""
        self._buffer.clear()

    def __len__(self) -> int:
        return len(self._buffer)

    def transform(self, x: Any) -> Any:
        """Percentiles of ``x`` within the current window, without adding ``x`` to it."""
        arr, back = _as_numpy(x, "rewards")
        if not self._buffer:
            raise InputError("rewards: received a transform request with an empty window; expected at least one "
                             "reward seen before (call the transform with update=True first)")
        ref = np.sort(np.fromiter(self._buffer, dtype=np.float64))
        below = np.searchsorted(ref, arr, side="left")
        upto = np.searchsorted(ref, arr, side="right")
        out = (below + 0.5 * (upto - below)) / ref.size
        return back(out - 0.5 if self.centered else out)

    def __call__(self, x: Any, update: bool = True) -> Any:
        """Add ``x`` to the window (unless ``update=False``), then return its percentiles."""
        if update:
            arr, _ = _as_numpy(x, "rewards")
            self._buffer.extend(arr.ravel().tolist())
        return self.transform(x)

    def __repr__(self) -> str:
        return f"RankTransform(window={self.window}, centered={self.centered}, filled={len(self)})"


class PotentialShaping:
    """Potential-based shaping ``F(s, s') = γ Φ(s') − Φ(s)`` with ``Φ`` from a perceptual reward.

    Ng, Harada & Russell (1999) showed that adding such an ``F`` to an MDP's reward leaves its optimal
    policies unchanged (every ``Q*`` shifts by ``−Φ(s)``), while any other state-dependent bonus may
    change them. With a perceptual reward as ``Φ`` (e.g. the negative LPIPS distance of the rendered
    state to a goal image) the agent is paid for perceptual progress towards the goal without being
    able to farm the reward by oscillating.

    Parameters
    ----------
    potential : callable
        Maps a batch of observations to ``(B,)`` potentials: a
        :class:`~neuroperception.rewards.base.RewardFunction`, a similarity-based callable, or any
        function (e.g. of state indices in a tabular MDP).
    gamma : float
        The discount factor of the RL algorithm (must equal it for the guarantee to hold), in ``[0, 1]``.
    scale : float, default 1.0
        Multiplies ``Φ``.
    no_grad : bool, default True
        Evaluate torch potentials without building a graph.

    Examples
    --------
    >>> import numpy as np
    >>> phi = np.array([0.0, 1.0, 3.0])
    >>> shaping = PotentialShaping(lambda s: phi[s], gamma=0.5)
    >>> shaping(np.array([0, 1]), np.array([1, 2])).tolist()   # 0.5 * phi[s'] - phi[s]
    [0.5, 0.5]
    >>> shaping(np.array([1]), np.array([2]), terminated=np.array([True])).tolist()  # Φ(terminal) = 0
    [-1.0]
    """

    def __init__(self, potential: Callable[[Any], Any], gamma: float, scale: float = 1.0, no_grad: bool = True):
        if not callable(potential):
            raise InputError(f"potential: received {type(potential).__name__}; expected a callable "
                             "(a RewardFunction or a function of a batch of observations)")
        try:
            gamma_f = float(gamma)
        except (TypeError, ValueError):
            gamma_f = float("nan")
        if not 0.0 <= gamma_f <= 1.0:
            raise InputError(f"gamma: received {gamma!r}; expected the discount factor in [0, 1]")
        if not np.isfinite(float(scale)):
            raise InputError(f"scale: received {scale!r}; expected a finite number")
        self.potential = potential
        self.gamma = gamma_f
        self.scale = float(scale)
        self.no_grad = bool(no_grad)

    def phi(self, obs: Any) -> Any:
        """Potentials ``scale · Φ(obs)`` of a batch of observations, checked to be finite and 1-D."""
        if self.no_grad:
            with torch.no_grad():
                value = self.potential(obs)
        else:
            value = self.potential(obs)
        name = f"potential {getattr(self.potential, '__name__', type(self.potential).__name__)}"
        if isinstance(value, torch.Tensor):
            if value.ndim != 1:
                raise ShapeError(f"{name}: returned {describe(value)}; expected a (B,) tensor of potentials")
            if not torch.isfinite(value.detach()).all():
                raise InputError(f"{name}: returned {describe(value)}; expected finite potentials")
            return value.to(torch.float32) * self.scale
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim != 1:
            raise ShapeError(f"{name}: returned {describe(arr)}; expected a (B,) array of potentials")
        if not np.isfinite(arr).all():
            raise InputError(f"{name}: returned {describe(arr)}; expected finite potentials")
        return arr * self.scale

    def __call__(self, obs: Any, next_obs: Any, terminated: Any = None) -> Any:
        """Shaping terms ``γ Φ(next_obs) (1 − terminated) − Φ(obs)``, one per transition.

        ``terminated`` (bool per transition, optional) marks true terminal states, whose potential
        is 0 as the theorem requires for episodic tasks; do not pass time-limit truncations here.
        """
        phi_s, phi_next = self.phi(obs), self.phi(next_obs)
        if phi_s.shape != phi_next.shape:
            raise ShapeError(f"obs and next_obs: received {phi_s.shape[0]} and {phi_next.shape[0]} transitions; "
                             "expected the same number")
        if terminated is not None:
            if isinstance(phi_next, torch.Tensor):
                done = torch.as_tensor(np.asarray(terminated, dtype=bool) if not isinstance(terminated, torch.Tensor)
                                       else terminated, device=phi_next.device).to(torch.bool).reshape(-1)
                if done.shape != phi_next.shape:
                    raise ShapeError(f"terminated: received {describe(done)}; expected one flag per transition "
                                     f"({phi_next.shape[0]})")
                phi_next = torch.where(done, torch.zeros_like(phi_next), phi_next)
            else:
                done = np.asarray(terminated.detach().cpu() if isinstance(terminated, torch.Tensor) else terminated,
                                  dtype=bool).reshape(-1)
                if done.shape != phi_next.shape:
                    raise ShapeError(f"terminated: received {describe(done)}; expected one flag per transition "
                                     f"({phi_next.shape[0]})")
                phi_next = np.where(done, 0.0, phi_next)
        return self.gamma * phi_next - phi_s

    def shape(self, reward: Any, obs: Any, next_obs: Any, terminated: Any = None) -> Any:
        """``reward + F(obs, next_obs)``: the shaped reward of a batch of transitions."""
        f = self(obs, next_obs, terminated)
        if isinstance(f, torch.Tensor):
            r = torch.as_tensor(reward, dtype=torch.float32, device=f.device)
        else:
            r = np.asarray(reward.detach().cpu() if isinstance(reward, torch.Tensor) else reward, dtype=np.float64)
        if tuple(r.shape) != tuple(f.shape):
            raise ShapeError(f"reward: received {describe(r)}; expected one reward per transition ({f.shape[0]})")
        return r + f

    def __repr__(self) -> str:
        return f"PotentialShaping(potential={self.potential!r}, gamma={self.gamma}, scale={self.scale})"
