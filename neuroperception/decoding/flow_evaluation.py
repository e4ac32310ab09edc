"""Scoring decoded optical flow: shuffle baseline, the decoding report, and rendering the decoded motion.

End-point errors (pixels, lower is better) of decoded flows are compared with the same predictions
paired with the wrong stimuli (:func:`shuffle_baseline`) and with the zero-flow prediction
(:func:`flow_decoding_report`); :func:`render_motion` turns a flow into frames to watch.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .._docs import fill_doc
from .._validation import check_alignment, check_images, check_random_state, describe, seed_from
from ..errors import InputError, ShapeError
from ..stimuli.flow_fields import check_flow, endpoint_error, warp
from .flow_basis import _as_flows

__all__ = ["ShuffleBaseline", "shuffle_baseline", "flow_decoding_report", "render_motion"]



@dataclass
class ShuffleBaseline:
    """Result of :func:`shuffle_baseline` (end-point errors in pixels).

    Attributes
    ----------
    observed : float
        Mean EPE of the predictions paired with their own stimuli.
    mean : float
        Mean over shuffles of the EPE of predictions paired with other stimuli.
    values : numpy.ndarray
        ``(n_shuffles,)`` mean EPE of each shuffle.
    p_value : float
        ``(1 + #{shuffles with EPE <= observed}) / (1 + n_shuffles)``.

    Examples
    --------
    Three uniform flows of 0, 1 and 2 pixels in x and y, decoded perfectly: every wrong pairing is
    1 or 2 pixels off in each channel, so each shuffle's mean EPE is ``(1 + 1 + 2) · √2 / 3``:

    >>> target = np.arange(3.0)[:, None, None, None] * np.ones((3, 2, 4, 4))
    >>> base = shuffle_baseline(target, target, n_shuffles=20)
    >>> base.observed, round(base.mean, 4), base.values.shape, round(base.p_value, 4)
    (0.0, 1.8856, (20,), 0.0476)
    """

    observed: float
    mean: float
    values: np.ndarray
    p_value: float


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            return perm


def _pred_target(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(pred, xr.DataArray):
        pred = _as_flows(pred, "pred")[0]
    if not isinstance(target, xr.DataArray):
        target = _as_flows(target, "target")[0]
    pred, target = check_alignment(pred, target, names=["pred", "target"])
    p, t = _as_flows(pred, "pred")[0], _as_flows(target, "target")[0]
    if p.shape != t.shape:
        raise ShapeError(f"pred: received {describe(p)}; expected the shape of target {t.shape}")
    return p, t


@fill_doc
def shuffle_baseline(pred: Any, target: Any, n_shuffles: int = 100,
                     random_state: int | np.random.Generator | None = 0) -> ShuffleBaseline:
    """EPE of decoded flows paired with the wrong stimuli: the chance level of flow decoding.

    Each shuffle pairs every prediction with another stimulus' true flow (a random permutation
    without fixed points), so it keeps the predictions' and the flows' distributions and removes
    only the stimulus-specific information.

    Parameters
    ----------
    pred, target : xarray.DataArray, numpy.ndarray or torch.Tensor
        Flows ``(N, 2, H, W)``, ``N >= 2``; matched by ``stimulus_id`` when both carry ids, by
        position when neither does (ids on one only are an error).
    n_shuffles : int
    %(random_state)s
        It draws the shuffles.

    Returns
    -------
    ShuffleBaseline

    Examples
    --------
    >>> target = np.arange(3.0)[:, None, None, None] * np.ones((3, 2, 4, 4))
    >>> base = shuffle_baseline(target, target, n_shuffles=20)
    >>> base.observed, base.mean > 1.0, base.p_value < 0.1
    (0.0, True, True)
    """
    p, t = _pred_target(pred, target)
    if len(p) < 2:
        raise ShapeError(f"pred: received {len(p)} stimulus; expected at least 2 to pair with wrong stimuli")
    if not isinstance(n_shuffles, numbers.Integral) or n_shuffles < 1:
        raise InputError(f"n_shuffles: received {n_shuffles!r}; expected a positive int")
    rng = check_random_state(random_state)
    pt, tt = torch.from_numpy(p), torch.from_numpy(t)
    observed = float(endpoint_error(pt, tt).mean())
    values = np.array([float(torch.linalg.vector_norm(pt[_derangement(len(p), rng)] - tt, dim=1).mean())
                       for _ in range(n_shuffles)])
    p_value = (1 + int((values <= observed).sum())) / (1 + n_shuffles)
    return ShuffleBaseline(observed=observed, mean=float(values.mean()), values=values, p_value=p_value)


def _angular_error(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Barron et al. (1994) angular error in degrees between (dx, dy, 1) vectors, mean per stimulus."""
    num = (pred * target).sum(1) + 1.0
    den = np.sqrt(((pred**2).sum(1) + 1.0) * ((target**2).sum(1) + 1.0))
    return np.degrees(np.arccos(np.clip(num / den, -1.0, 1.0))).mean((-2, -1))


@fill_doc
def flow_decoding_report(pred: Any, target: Any, n_shuffles: int = 100,
                         random_state: int | np.random.Generator | None = 0) -> pd.DataFrame:
    """Decoded flows against chance: EPE and angular error of decoded, shuffled and zero-flow predictions.

    Parameters
    ----------
    pred, target : xarray.DataArray, numpy.ndarray or torch.Tensor
        Flows ``(N, 2, H, W)``, ``N >= 2``, matched as in :func:`shuffle_baseline`.
    n_shuffles : int
        As in :func:`shuffle_baseline`.
    %(random_state)s
        It draws the shuffles, the same as :func:`shuffle_baseline`'s.

    Returns
    -------
    pandas.DataFrame
        Rows ``decoded``, ``shuffled`` (mean over shuffles), ``zero flow``; columns ``epe`` (mean
        end-point error, pixels), ``epe_sem`` (its standard error over stimuli; over shuffles for
        ``shuffled``), ``angular_error_deg`` (Barron's angular error of ``(dx, dy, 1)``, degrees) and
        ``p_vs_shuffle`` (decoded row only).

    Examples
    --------
    >>> target = np.arange(4.0)[:, None, None, None] * np.ones((4, 2, 4, 4))
    >>> table = flow_decoding_report(target + 0.1, target, n_shuffles=10)
    >>> table.index.tolist(), round(float(table.loc["decoded", "epe"]), 4)
    (['decoded', 'shuffled', 'zero flow'], 0.1414)
    """
    seed = seed_from(random_state)  # the baseline and the report draw the same shuffles
    p, t = _pred_target(pred, target)
    base = shuffle_baseline(p, t, n_shuffles=n_shuffles, random_state=seed)
    rng = np.random.default_rng(seed)
    perms = [_derangement(len(p), rng) for _ in range(n_shuffles)]
    pt, tt = torch.from_numpy(p), torch.from_numpy(t)

    def sem(x: np.ndarray) -> float:
        return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")

    epe_dec = endpoint_error(pt, tt).numpy()
    epe_zero = endpoint_error(torch.zeros_like(tt), tt).numpy()
    ang_shuf = float(np.mean([_angular_error(p[perm], t).mean() for perm in perms]))
    rows = {"decoded": (float(epe_dec.mean()), sem(epe_dec), float(_angular_error(p, t).mean()), base.p_value),
            "shuffled": (base.mean, sem(base.values), ang_shuf, np.nan),
            "zero flow": (float(epe_zero.mean()), sem(epe_zero), float(_angular_error(np.zeros_like(t), t).mean()),
                          np.nan)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["epe", "epe_sem", "angular_error_deg",
                                                                 "p_vs_shuffle"])


def render_motion(frame: Any, flow: Any, n_frames: int = 8, *, padding_mode: str = "border") -> torch.Tensor:
    """Frames that move along a flow field: frame ``t + 1`` is frame ``t`` warped by the flow.

    Parameters
    ----------
    frame : torch.Tensor or numpy.ndarray
        One image ``(3, H, W)`` in [0, 1], or a batch ``(N, 3, H, W)``.
    flow : torch.Tensor, numpy.ndarray or xarray.DataArray
        ``(2, H, W)`` (pixels per frame), or ``(N, 2, H, W)`` for a batch.
    n_frames : int, default 8
        Frames ``T`` including the first (the input frame).
    padding_mode : {"border", "zeros", "reflection"}
        What enters where the motion uncovers the outside (see
        :func:`~neuroperception.stimuli.flow_fields.warp`).

    Returns
    -------
    torch.Tensor
        ``(T, 3, H, W)`` for one ``(3, H, W)`` frame, videos ``(N, T, 3, H, W)`` for a batch;
        values in [0, 1].

    Examples
    --------
    >>> img = torch.zeros(3, 8, 8); img[:, 4, 1] = 1.0
    >>> flow = torch.zeros(2, 8, 8); flow[0] = 2.0                 # 2 pixels right per frame
    >>> video = render_motion(img, flow, n_frames=3)
    >>> tuple(video.shape), [int(torch.nonzero(f[0])[0, 1]) for f in video]
    ((3, 3, 8, 8), [1, 3, 5])
    """
    if not isinstance(n_frames, numbers.Integral) or isinstance(n_frames, bool) or n_frames < 1:
        raise InputError(f"n_frames: received {n_frames!r}; expected a positive int")
    raw = frame.detach() if isinstance(frame, torch.Tensor) else frame
    single = getattr(raw, "ndim", 0) == 3
    x = check_images(raw[None] if single else raw, name="frame")
    f = check_flow(flow)
    if f.ndim == 3:
        f = f[None]
    if f.ndim != 4 or len(f) not in (1, len(x)):
        raise ShapeError(f"flow: received {tuple(f.shape)} for frames {tuple(x.shape)}; expected (2, H, W) or "
                         "(N, 2, H, W) with the frames' N")
    frames = [x]
    for _ in range(n_frames - 1):
        frames.append(warp(frames[-1], f.expand(len(x), -1, -1, -1), padding_mode=padding_mode))
    video = torch.stack(frames, dim=1)
    return video[0] if single else video
