"""Order-debiased judges: a pairwise comparator asked in both orders, its position bias measured and removed.

A comparator ``judge(first, second, reference) -> (B,)`` says how much it prefers ``first``
(the convention of :class:`~neuroperception.rewards.JudgeReward`). Learned and vision-language judges
often prefer whatever comes first (or second) whatever it is; VLIC (a vision-language judge of image
pairs) therefore asks in both orders. :class:`OrderDebiasedJudge` does that for any comparator: with
logits ``l_ab = judge(a, b)`` and ``l_ba = judge(b, a)``, a judge whose evidence is
``Δ(a, b) + β`` (``β`` a preference for the first position) gives ``(l_ab − l_ba) / 2 = Δ`` and
``(l_ab + l_ba) / 2 = β``: the first is the debiased evidence, the second the position bias. With
hard choices (``output="choice"``: 1 when the first is chosen) the two verdicts agree or not; a
disagreement is resolved as a tie (0.5) or an abstention (NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._validation import check_images, check_random_state, describe
from ..errors import InputError, ShapeError
from ..similarity import Metric

__all__ = ["OrderDebiasedJudge"]

_OUTPUTS = ("logit", "probability", "choice")
_RESOLVE = ("tie", "abstain")


class OrderDebiasedJudge(nn.Module):
    """Ask a pairwise judge in both orders; debias its verdicts and measure its position bias.

    Parameters
    ----------
    judge : Metric or callable
        ``judge(first, second, reference) -> (B,)``: evidence that ``first`` is preferred (images
        ``(B, 3, H, W)``; ``reference`` may be None for preference without a reference). A
        :class:`~neuroperception.similarity.Metric` ``d`` is the comparator
        ``d(second, reference) − d(first, reference)`` (closer to the reference wins; it has no
        position bias by construction).
    output : {"logit", "probability", "choice"}
        What the judge returns: logits, probabilities in [0, 1] (turned into logits, clipped at
        1e-6), or hard choices (1: first, 0: second; 0.5 allowed for a stated tie).
    resolve : {"tie", "abstain"}
        How inconsistent hard verdicts (each order picking the image in the same position) are
        resolved: a tie (probability 0.5) or an abstention (NaN, left out of accuracies).

    Examples
    --------
    A judge that prefers the brighter image but adds 2 to the logit of whatever comes first:

    >>> import torch
    >>> def biased(first, second, reference=None):
    ...     return 10 * (first.mean(dim=(1, 2, 3)) - second.mean(dim=(1, 2, 3))) + 2.0
    >>> judge = OrderDebiasedJudge(biased)
    >>> a, b = torch.full((4, 3, 8, 8), 0.6), torch.full((4, 3, 8, 8), 0.5)
    >>> table = judge.compare(a, b)
    >>> round(float(table["position_bias"].mean()), 3), round(float(table["logit"].mean()), 3)
    (2.0, 1.0)
    """

    def __init__(self, judge: Any, output: str = "logit", resolve: str = "tie"):
        super().__init__()
        if output not in _OUTPUTS:
            raise InputError(f"output: received {output!r}; expected one of {_OUTPUTS}")
        if resolve not in _RESOLVE:
            raise InputError(f"resolve: received {resolve!r}; expected one of {_RESOLVE}")
        if not isinstance(judge, Metric) and not callable(judge):
            raise InputError(f"judge: received {describe(judge)}; expected a similarity Metric or a comparator "
                             "judge(first, second, reference) -> (B,) evidence that first is preferred")
        if isinstance(judge, Metric) and output != "logit":
            raise InputError(f"output: received {output!r} with a Metric judge; expected 'logit' (a metric gives "
                             "distances, turned into logits)")
        self.judge, self.output, self.resolve = judge, output, resolve

    # ------------------------------------------------------------------ one order
    def _ask(self, first: torch.Tensor, second: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        """The judge's output for ``first`` against ``second``, checked (gradients kept when the judge has them)."""
        n = first.shape[0]
        if isinstance(self.judge, Metric):
            if reference is None:
                raise InputError("reference: received None; expected reference images for a Metric judge (the closer "
                                 "candidate wins)")
            out = self.judge(second, reference) - self.judge(first, reference)
        else:
            out = self.judge(first, second, reference)
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(np.asarray(out, dtype=np.float32))
        out = out.float()
        if tuple(out.shape) != (n,):
            raise ShapeError(f"judge: returned {describe(out)}; expected ({n},) values, one per pair")
        values = out.detach()
        if not torch.isfinite(values).all():
            raise InputError("judge: returned non-finite values; expected finite evidence for every pair")
        if self.output != "logit" and ((values < 0) | (values > 1)).any():
            raise InputError(f"judge: returned values in [{float(values.min()):.3g}, {float(values.max()):.3g}] with "
                             f"output={self.output!r}; expected values in [0, 1]")
        if self.output == "choice" and not torch.isin(values.cpu(), torch.tensor([0.0, 0.5, 1.0])).all():
            raise InputError("judge: returned values other than 0, 0.5 and 1 with output='choice'; expected hard "
                             "choices (use output='probability' for graded ones)")
        return out

    @staticmethod
    def _images(x: Any, name: str) -> torch.Tensor:
        return check_images(x, name=name)

    def _pairs(self, a: Any, b: Any, reference: Any):
        a, b = self._images(a, "a"), self._images(b, "b")
        if a.shape[0] != b.shape[0]:
            raise ShapeError(f"a, b: received {a.shape[0]} and {b.shape[0]} images; expected one pair per row")
        ref = None
        if reference is not None:
            ref = self._images(reference, "reference")
            if ref.shape[0] == 1 and a.shape[0] > 1:
                ref = ref.expand(a.shape[0], *ref.shape[1:])
            if ref.shape[0] != a.shape[0]:
                raise ShapeError(f"reference: received {ref.shape[0]} images for {a.shape[0]} pairs; expected 1 or "
                                 f"{a.shape[0]}")
        return a, b, ref

    # ------------------------------------------------------------------ both orders
    def compare(self, a: Any, b: Any, reference: Any = None) -> pd.DataFrame:
        """Both orders for every pair, the debiased verdict and the position bias.

        Returns
        -------
        pandas.DataFrame
            One row per pair: ``ab`` and ``ba`` (the judge's outputs with ``a`` first and with ``b``
            first), ``logit`` (debiased evidence for ``a``: ``(l_ab − l_ba) / 2``), ``position_bias``
            (``(l_ab + l_ba) / 2``, positive when the first position is favoured), ``p_a`` (the debiased
            probability that ``a`` is preferred: ``σ(logit)``, or for hard choices the agreed verdict,
            0.5 for a tie and NaN for an abstention) and ``consistent`` (both orders name the same
            image).
        """
        a, b, ref = self._pairs(a, b, reference)
        with torch.no_grad():
            ab = self._ask(a, b, ref).cpu().double().numpy()
            ba = self._ask(b, a, ref).cpu().double().numpy()
        if self.output == "choice":
            first_a, first_b = ab - 0.5, 0.5 - ba  # > 0: a preferred in that order
            consistent = np.sign(first_a) == np.sign(first_b)
            p_a = np.where(consistent, 0.5 + np.sign(first_a) / 2, 0.5 if self.resolve == "tie" else np.nan)
            logit = np.full(ab.shape, np.nan)
            bias = (ab + ba) / 2 - 0.5  # share of first-position picks minus one half
        else:
            if self.output == "probability":
                ab_l, ba_l = (np.log(np.clip(p, 1e-6, 1 - 1e-6)) - np.log1p(-np.clip(p, 1e-6, 1 - 1e-6))
                              for p in (ab, ba))
            else:
                ab_l, ba_l = ab, ba
            logit, bias = (ab_l - ba_l) / 2, (ab_l + ba_l) / 2
            p_a = 1.0 / (1.0 + np.exp(-logit))
            consistent = np.sign(ab_l) == -np.sign(ba_l)
        return pd.DataFrame({"ab": ab, "ba": ba, "logit": logit, "position_bias": bias, "p_a": p_a,
                             "consistent": consistent})

    def forward(self, first: torch.Tensor, second: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """The debiased evidence that ``first`` is preferred, as a comparator for :class:`JudgeReward`.

        Logit and probability judges give ``(l_ab − l_ba) / 2`` (differentiable when the judge is);
        hard-choice judges give the logit of the resolved verdict (±6 for an agreed verdict, 0 for a tie;
        an abstention is a tie here, since a reward cannot abstain).
        """
        if self.output == "choice":
            table = self.compare(first, second, reference)
            p = torch.as_tensor(table["p_a"].fillna(0.5).to_numpy(), dtype=torch.float32, device=first.device)
            return 12.0 * (p - 0.5)
        ab, ba = self._ask(first, second, reference), self._ask(second, first, reference)
        if self.output == "probability":
            ab, ba = (torch.logit(t.clamp(1e-6, 1 - 1e-6)) for t in (ab, ba))
        return (ab - ba) / 2

    def position_bias(self, a: Any, b: Any, reference: Any = None, *, n_bootstrap: int = 1000,
                      random_state: int | np.random.Generator | None = 0) -> dict[str, float]:
        """The judge's position bias over these pairs, with a bootstrap 95 % interval over pairs.

        Returns
        -------
        dict
            ``bias`` (mean ``position_bias``: a logit for logit/probability judges, the share of
            first-position picks minus 0.5 for choice judges), ``low``, ``high``, ``first_share`` (the
            share of verdicts, over both orders, that chose the first position), ``inconsistent`` (the
            share of pairs whose two verdicts name different images) and ``n_pairs``.

        Examples
        --------
        >>> import torch
        >>> judge = OrderDebiasedJudge(lambda f, s, r=None: torch.full((f.shape[0],), 0.7), output="probability")
        >>> x = torch.rand(20, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> stats = judge.position_bias(x, x.flip(0))
        >>> round(stats["bias"], 3), stats["first_share"], stats["inconsistent"]
        (0.847, 1.0, 1.0)
        """
        table = self.compare(a, b, reference)
        if not isinstance(n_bootstrap, (int, np.integer)) or isinstance(n_bootstrap, bool) or n_bootstrap < 1:
            raise InputError(f"n_bootstrap: received {describe(n_bootstrap)}; expected a positive int")
        rng = check_random_state(random_state)
        bias = table["position_bias"].to_numpy(dtype=float)
        boot = bias[rng.integers(0, bias.size, size=(int(n_bootstrap), bias.size))].mean(1)
        if self.output == "choice":
            first = np.concatenate([table["ab"].to_numpy() > 0.5, table["ba"].to_numpy() > 0.5])
        else:
            ab_first = table["ab"].to_numpy() > (0.5 if self.output == "probability" else 0.0)
            ba_first = table["ba"].to_numpy() > (0.5 if self.output == "probability" else 0.0)
            first = np.concatenate([ab_first, ba_first])
        return {"bias": float(bias.mean()), "low": float(np.percentile(boot, 2.5)),
                "high": float(np.percentile(boot, 97.5)), "first_share": float(first.mean()),
                "inconsistent": float(1.0 - table["consistent"].mean()), "n_pairs": int(bias.size)}
