"""Figures of perceptual rewards: optimisation histories (reward vs judge), reward landscapes and attacked images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .._validation import check_images, describe  # noqa: E402
from ..errors import InputError, ShapeError  # noqa: E402

__all__ = ["plot_optimization_history", "plot_reward_landscape", "plot_attack_examples"]


_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def _panel(ax, table, column: str, colour: str, shade: bool = True) -> list:
    grouped = table.groupby("step")[column]
    steps = np.asarray(list(grouped.groups.keys()), dtype=float)
    mean, lo, hi = grouped.mean().to_numpy(), grouped.min().to_numpy(), grouped.max().to_numpy()
    handles = ax.plot(steps, mean, color=colour, lw=2, label=f"{column} (mean)")
    if shade and "image" in table.columns and table["image"].nunique() > 1:
        handles.append(ax.fill_between(steps, lo, hi, color=colour, alpha=0.2, lw=0, label="range over images"))
    ax.set_xlabel("optimisation step")
    ax.set_ylabel(column)
    return handles


def _judge_columns(history) -> list[str]:
    """Numeric columns other than ``step``, ``image`` and ``reward``, in table order."""
    return [c for c in history.columns if c not in ("step", "image", "reward")
            and pd.api.types.is_numeric_dtype(history[c]) and not pd.api.types.is_bool_dtype(history[c])]


def _axes_list(ax, n_panels: int) -> list | None:
    if ax is None:
        return None
    if hasattr(ax, "plot"):
        return [ax]
    try:
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
    except TypeError:
        axes = []
    if not axes or not all(hasattr(a, "plot") for a in axes):
        raise InputError(f"ax: received {type(ax).__name__}; expected a matplotlib Axes or a sequence of "
                         f"{n_panels} Axes (one per panel)")
    if len(axes) == 1:
        return axes
    if len(axes) != n_panels:
        raise InputError(f"ax: received {len(axes)} Axes; expected one, or {n_panels} (one per panel: the reward, "
                         "then each judge)")
    return axes


def plot_optimization_history(history, *, title: str | None = None, ax=None):
    """Reward and held-out judge(s) over the steps of an image optimisation.

    Parameters
    ----------
    history : pandas.DataFrame
        The history of :func:`~neuroperception.rewards.optimize_images`: columns ``step``,
        ``reward``, optionally ``image``, and one column per judge (``judge`` for a single one,
        the judges' names for a dict of them). Every numeric column other than ``step``,
        ``image`` and ``reward`` is drawn as a judge; text columns (e.g. a ``condition`` label)
        are ignored.
    title : str, optional
        Figure title (the title of ``ax`` when one Axes is given).
    ax : matplotlib.axes.Axes or sequence of Axes, optional
        Where to draw: one Axes per panel (the reward, then each judge), or a single Axes that
        receives every mean curve, the reward on its left y-axis and the judges on one shared
        right y-axis (so give one Axes per panel when the judges' scales differ). A new figure
        otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into (that of ``ax`` when given). Without ``ax``: one panel for the
        optimised reward and one per judge, side by side (each on its own scale; mean over images
        with their range shaded). A reward that rises while the judges do not is the signature of
        reward hacking.

    Raises
    ------
    InputError
        Not a history table, missing ``step``/``reward``, an empty table, or a number of Axes that
        is neither one nor the number of panels.

    Examples
    --------
    >>> import pandas as pd
    >>> import matplotlib.pyplot as plt
    >>> h = pd.DataFrame({"step": [0, 1, 2], "image": [0, 0, 0], "reward": [0.1, 0.5, 0.9],
    ...                   "judge": [0.1, 0.1, 0.05]})
    >>> len(plot_optimization_history(h).axes)
    2
    >>> fig, ax = plt.subplots()
    >>> plot_optimization_history(h.assign(L2=[-3.0, -2.9, -2.8]), ax=ax) is fig  # judges on a right axis
    True
    """
    if not hasattr(history, "columns"):
        raise InputError(f"history: received {type(history).__name__}; expected the DataFrame of optimize_images")
    missing = [c for c in ("step", "reward") if c not in history.columns]
    if missing:
        raise InputError(f"history: received columns {list(history.columns)}, missing {missing}; expected the "
                         "history of optimize_images")
    if len(history) == 0:
        raise InputError("history: received an empty table; expected at least one recorded step")
    columns = ["reward"] + _judge_columns(history)
    colours = dict(zip(columns, _COLOURS * (len(columns) // len(_COLOURS) + 1)))
    axes = _axes_list(ax, len(columns))
    if axes is not None and len(axes) == 1 and len(columns) > 1:
        main = axes[0]
        handles = _panel(main, history, "reward", colours["reward"], shade=False)
        twin = main.twinx()
        for column in columns[1:]:
            handles += _panel(twin, history, column, colours[column], shade=False)
        twin.set_ylabel("judge" if len(columns) == 2 else "judges")
        main.legend(handles=handles, loc="best", fontsize=8)
        if title:
            main.set_title(title)
        return main.figure
    if axes is None:
        fig, grid = plt.subplots(1, len(columns), figsize=(4.5 * len(columns), 3.6), squeeze=False)
        axes = list(grid[0])
    else:
        fig = axes[0].figure
    for panel, column in zip(axes, columns):
        _panel(panel, history, column, colours[column])
        panel.legend(loc="best", fontsize=8)
        panel.set_title("optimised reward" if column == "reward" else
                        "held-out judge" if column == "judge" else f"held-out judge: {column}")
    if title:
        if ax is not None and len(axes) == 1:
            axes[0].set_title(title)
        else:
            fig.suptitle(title)
    if ax is None:
        fig.tight_layout()
    return fig


def plot_reward_landscape(values: Any, x: Sequence[float] | None = None, y: Sequence[float] | None = None, *,
                          goal: tuple[float, ...] | None = None, xlabel: str = "x", ylabel: str | None = None,
                          title: str | None = None, cmap: str = "viridis", ax=None):
    """Reward over a grid of states: a curve for 1-D states, a heat map for 2-D ones.

    Parameters
    ----------
    values : array-like
        ``(n,)`` rewards along one state coordinate, or ``(ny, nx)`` rewards over a 2-D grid of
        states (row ``i``, column ``j`` at ``(y[i], x[j])``). Tensors are detached; must be finite.
    x, y : sequence of float, optional
        State coordinates of the columns (and rows); default the indices.
    goal : tuple of float, optional
        Goal state ``(x,)`` or ``(x, y)`` to mark.
    xlabel, ylabel, title : str, optional
        Axis labels and title (``ylabel`` defaults to ``"reward"`` in 1-D, ``"y"`` in 2-D).
    cmap : str, default "viridis"
        Colour map of the heat map.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> gx, gy = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 4))
    >>> fig = plot_reward_landscape(-np.hypot(gx - 0.5, gy - 0.5), x=np.linspace(0, 1, 5),
    ...                             y=np.linspace(0, 1, 4), goal=(0.5, 0.5))
    >>> len(fig.axes)   # the map and its colour bar
    2
    """
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"values: received {type(values).__name__}; expected a 1-D or 2-D array of rewards") from err
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise ShapeError(f"values: received an array of shape {arr.shape}; expected (n,) or (ny, nx) rewards")
    if not np.isfinite(arr).all():
        raise InputError(f"values: received {int((~np.isfinite(arr)).sum())} NaN/Inf rewards; expected finite values")
    xs = np.arange(arr.shape[-1], dtype=float) if x is None else np.asarray(x, dtype=float)
    if xs.shape != (arr.shape[-1],):
        raise ShapeError(f"x: received {xs.shape[0] if xs.ndim else 'a scalar'} coordinates; expected "
                         f"{arr.shape[-1]} (one per column of values)")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.6 if arr.ndim == 1 else 4.2))
    else:
        fig = ax.figure
    if arr.ndim == 1:
        ax.plot(xs, arr, color="tab:blue", lw=2)
        if goal is not None:
            ax.axvline(float(goal[0]), color="tab:red", ls="--", label="goal")
            ax.legend(loc="best", fontsize=8)
        ax.set_ylabel(ylabel or "reward")
    else:
        ys = np.arange(arr.shape[0], dtype=float) if y is None else np.asarray(y, dtype=float)
        if ys.shape != (arr.shape[0],):
            raise ShapeError(f"y: received {ys.shape[0] if ys.ndim else 'a scalar'} coordinates; expected "
                             f"{arr.shape[0]} (one per row of values)")
        mesh = ax.pcolormesh(xs, ys, arr, cmap=cmap, shading="nearest")
        fig.colorbar(mesh, ax=ax, label="reward")
        if goal is not None:
            if len(goal) != 2:
                raise ShapeError(f"goal: received {tuple(goal)!r}; expected (x, y) for a 2-D landscape")
            ax.plot(float(goal[0]), float(goal[1]), marker="*", ms=14, color="tab:red", mec="white", ls="none",
                    label="goal")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_ylabel(ylabel or "y")
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return fig


def _as_numpy(images) -> np.ndarray:
    """``(N, H, W, 3)`` float32 numpy array of validated ``(N, 3, H, W)`` images."""
    return images.detach().cpu().numpy().transpose(0, 2, 3, 1)


def plot_attack_examples(clean, attacked, labels: Sequence[str] | None = None, amplify: float = 8, ax=None):
    """Clean observations, their adversarially perturbed versions and the amplified perturbation.

    One column per example, three rows: the clean image, the attacked image, and the perturbation
    ``δ = attacked − clean`` shown as ``0.5 + amplify · δ`` clipped to ``[0, 1]`` (grey is no
    change, each channel on its own), so an invisible ℓ∞ perturbation of a few ``/255`` can be seen.
    The δ panel's title gives the amplification and the largest ``|δ|`` in ``/255`` units.

    Parameters
    ----------
    clean, attacked : array-like
        Images ``(N, 3, H, W)`` in ``[0, 1]`` of the same shape (tensor or array, as
        :func:`~neuroperception._validation.check_images` accepts them), e.g. the observations and
        the images returned by :func:`~neuroperception.rewards.attack_table` with
        ``return_images=True``.
    labels : sequence of str, optional
        One title per example (column), e.g. the reward and the gain the attack bought.
    amplify : float, default 8
        Factor applied to ``δ`` in the bottom row (a positive number).
    ax : array-like of matplotlib.axes.Axes, optional
        ``3·N`` Axes to draw into, row-major as ``(3, N)`` (e.g. from ``plt.subplots(3, N)``); a
        new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn into (that of ``ax`` when given).

    Raises
    ------
    InputError
        Images of different shapes (a :class:`~neuroperception.errors.ShapeError`) or that
        ``check_images`` rejects, a number of labels or Axes that does not match the examples, a
        non-positive ``amplify``.

    Examples
    --------
    >>> import numpy as np
    >>> clean = np.full((2, 3, 8, 8), 0.5, dtype=np.float32)
    >>> attacked = clean + np.float32(4 / 255) * np.sign(np.random.default_rng(0).normal(size=clean.shape))
    >>> fig = plot_attack_examples(clean, attacked.astype(np.float32), labels=["a", "b"])
    >>> len(fig.axes), fig.axes[4].get_title()
    (6, 'δ × 8, max |δ| = 4.0/255')
    """
    x0 = check_images(clean, name="clean")
    x1 = check_images(attacked, name="attacked")
    if tuple(x0.shape) != tuple(x1.shape):
        raise ShapeError(f"attacked: received {describe(x1)}; expected the shape of clean, {tuple(x0.shape)} "
                         "(one attacked image per clean image)")
    n = x0.shape[0]
    try:
        factor = float(amplify)
    except (TypeError, ValueError):
        factor = float("nan")
    if not (np.isfinite(factor) and factor > 0):
        raise InputError(f"amplify: received {amplify!r}; expected a positive number (the factor applied to δ)")
    if labels is not None:
        labels = [str(v) for v in labels]
        if len(labels) != n:
            raise InputError(f"labels: received {len(labels)} labels; expected {n} (one per example)")
    if ax is None:
        fig, grid = plt.subplots(3, n, figsize=(1.9 * n + 0.4, 6.3), squeeze=False)
        axes = list(grid.flat)
    else:
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(axes) != 3 * n or not all(hasattr(a, "imshow") for a in axes):
            raise InputError(f"ax: received {len(axes)} object(s); expected {3 * n} matplotlib Axes, (3, {n}) "
                             "row-major (clean, attacked, amplified δ for each example)")
        fig = axes[0].figure
    a0, a1 = _as_numpy(x0), _as_numpy(x1)
    delta = a1 - a0
    rows = (a0, a1, np.clip(0.5 + factor * delta, 0.0, 1.0))
    names = ("clean", "attacked", f"δ × {factor:g} (grey = 0)")
    for r, (images, name) in enumerate(zip(rows, names)):
        for j in range(n):
            panel = axes[r * n + j]
            panel.imshow(images[j], interpolation="nearest", vmin=0.0, vmax=1.0)
            panel.set_xticks([])
            panel.set_yticks([])
            if j == 0:
                panel.set_ylabel(name, fontsize=8)
            if r == 0 and labels is not None:
                panel.set_title(labels[j], fontsize=8)
            elif r == 2:
                panel.set_title(f"δ × {factor:g}, max |δ| = {255 * float(np.abs(delta[j]).max()):.1f}/255",
                                fontsize=7)
    if ax is None:
        fig.tight_layout()
    return fig
