"""The training loop shared by the deep readouts and decoders: AdamW, mini-batches, early stopping.

:func:`train` fits any ``torch.nn.Module`` mapping a list of input tensors (one per feature layer) to
``(batch, output)`` predictions, on standardised targets, with a mean-squared-error loss plus an
optional penalty. Another loss (e.g. the contrastive loss of the decoders) is given as ``loss_fn``,
an augmentation of each mini-batch (e.g. MixCo mixing) as ``batch_transform``, and the extra
validation column as ``val_metric``. A fraction of the training stimuli (or given positions) is held
out; training stops when its loss has not improved for ``patience`` epochs, and the best parameters
are restored. The order of the mini-batches comes from a seeded ``torch.Generator`` (and the
augmentation from a second one), so a CPU run is reproducible.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._docs import fill_doc
from .._progress import progress_bar
from .._validation import check_device, check_random_state, seed_from
from ..errors import InputError

__all__ = ["train", "split_validation", "plot_history"]


def split_validation(n: int, validation: float | Sequence[int] | None,
                     random_state: int | np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation positions among ``n`` stimuli.

    ``validation`` is a fraction in (0, 1) drawn with ``random_state``, explicit positions, or
    None/0 (no early stopping: every stimulus trains).

    Examples
    --------
    >>> tr, va = split_validation(10, 0.2, 0)
    >>> len(tr), len(va), sorted(set(tr) | set(va)) == list(range(10))
    (8, 2, True)
    """
    if validation is None or (isinstance(validation, (int, float)) and not isinstance(validation, bool)
                              and float(validation) == 0.0):
        return np.arange(n), np.arange(0)
    if isinstance(validation, (float, int)) and not isinstance(validation, bool):
        if not 0 < float(validation) < 1:
            raise InputError(f"validation: received {validation!r}; expected a fraction in (0, 1), positions or None")
        k = int(round(float(validation) * n))
        if k < 2 or n - k < 2:
            raise InputError(f"validation: {validation!r} of {n} stimuli leaves {n - k} to train and {k} to validate; "
                             "expected at least 2 of each")
        val = np.sort(check_random_state(random_state).choice(n, size=k, replace=False))
    else:
        val = np.unique(np.asarray(validation, dtype=int))
        if val.size < 2 or val.min() < 0 or val.max() >= n or n - val.size < 2:
            raise InputError(f"validation: received {val.size} positions in [{val.min() if val.size else ''}, "
                             f"{val.max() if val.size else ''}]; expected at least 2 distinct positions in [0, {n}) "
                             "that leave 2 to train")
    return np.setdiff1d(np.arange(n), val), val


def _predict(module: torch.nn.Module, inputs: list[torch.Tensor], batch_size: int, device: torch.device) -> torch.Tensor:
    module.eval()
    out = []
    with torch.no_grad():
        for a in range(0, inputs[0].shape[0], batch_size):
            out.append(module([x[a:a + batch_size].to(device) for x in inputs]).cpu())
    return torch.cat(out)


def _mean_r(pred: torch.Tensor, target: torch.Tensor) -> float:
    p, t = pred - pred.mean(0), target - target.mean(0)
    denom = (p.square().sum(0) * t.square().sum(0)).sqrt()
    r = (p * t).sum(0) / denom.clamp_min(1e-12)
    return float(r.mean())


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred - target) ** 2)


def _augment_generator(random_state: int) -> torch.Generator:
    """A generator for batch augmentation, independent of the batch-order one seeded with ``random_state``."""
    seed = int(np.random.SeedSequence([seed_from(random_state), 1]).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator().manual_seed(seed)


@fill_doc
def train(module: torch.nn.Module, inputs: list[torch.Tensor], targets: torch.Tensor, *,
          validation: float | Sequence[int] | None = 0.1, lr: float = 1e-2, weight_decay: float = 0.0,
          max_epochs: int = 100, patience: int = 10, batch_size: int = 64,
          penalty: Callable[[], torch.Tensor] | None = None, random_state: int | np.random.Generator | None = 0,
          device: torch.device | None = None, progress: bool | None = None, desc: str = "readout",
          loss_fn: Callable[[torch.Tensor, Any], torch.Tensor] | None = None,
          batch_transform: Callable[[list[torch.Tensor], torch.Tensor, torch.Generator],
                                    tuple[list[torch.Tensor], Any]] | None = None,
          val_metric: tuple[str, Callable[[torch.Tensor, torch.Tensor], float]] | None = None,
          loss_name: str = "MSE (standardised responses)", min_batch: int = 1) -> pd.DataFrame:
    """Fit ``module`` in place and return its per-epoch history.

    Parameters
    ----------
    module : torch.nn.Module
        Called as ``module(list_of_batches)`` → ``(batch, voxel)``; already on ``device``.
    inputs : list of torch.Tensor
        One float32 tensor per layer, first dim the stimuli (kept on the CPU, moved per batch).
    targets : torch.Tensor
        ``(stimulus, voxel)``, standardised.
    validation : float, sequence of int or None
        Held-out fraction or positions for early stopping (see :func:`split_validation`).
    lr, weight_decay : float
        AdamW settings.
    max_epochs, patience : int
        Epoch budget; epochs without a validation improvement before stopping.
    batch_size : int
        Stimuli per step.
    penalty : callable, optional
        Returns a scalar added to the loss of every step (regularisation).
    %(random_state)s
        It seeds the validation split, the batch order and the augmentation (a Generator or None:
        through one seed drawn from it).
    %(device)s
    %(progress)s
        The bar runs over epochs.
    desc : str
        Label of the bar.
    loss_fn : callable, optional
        ``loss_fn(pred, target) -> scalar tensor``, the loss of a mini-batch and of the whole
        validation set (whose ``target`` is always the plain target rows). Default: mean squared error.
    batch_transform : callable, optional
        ``batch_transform(batch_inputs, batch_targets, generator) -> (batch_inputs, batch_targets)``,
        applied to every training mini-batch (already on ``device``) before the forward pass, e.g. to
        mix inputs; the targets it returns (any object) are what ``loss_fn`` receives. ``generator``
        is a CPU ``torch.Generator`` seeded from ``random_state``, separate from the batch order (which
        is the same with or without a transform).
    val_metric : (str, callable), optional
        Name and ``f(pred, target) -> float`` of the extra validation column. Default
        ``("val_r", mean Pearson r over outputs)``.
    loss_name : str
        What the loss is, kept in ``attrs["loss"]`` for :func:`plot_history`.
    min_batch : int
        A last mini-batch of an epoch with fewer stimuli is skipped (a contrastive loss needs 2).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``epoch``: ``train_loss``, ``val_loss``, ``val_r`` (mean Pearson r over voxels,
        or the ``val_metric`` column), ``seconds``; attrs ``best_epoch``, ``stimuli_per_second`` and
        ``loss``.

    Examples
    --------
    >>> class Lin(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.lin = torch.nn.Linear(3, 2)
    ...     def forward(self, xs):
    ...         return self.lin(xs[0])
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.randn(200, 3, generator=g); y = x @ torch.randn(3, 2, generator=g)
    >>> hist = train(Lin(), [x], y, lr=0.05, max_epochs=60, device="cpu")
    >>> bool(hist["val_r"].iloc[-1] > 0.99), list(hist.columns)
    (True, ['train_loss', 'val_loss', 'val_r', 'seconds'])

    Another loss and validation column (here mean absolute error, monitored by its maximum):

    >>> mae = lambda p, t: (p - t).abs().mean()
    >>> hist = train(Lin(), [x], y, lr=0.05, max_epochs=3, loss_fn=mae, loss_name="MAE", device="cpu",
    ...              val_metric=("val_max_error", lambda p, t: float((p - t).abs().max())))
    >>> list(hist.columns), hist.attrs["loss"]
    (['train_loss', 'val_loss', 'val_max_error', 'seconds'], 'MAE')
    """
    for key, val in (("max_epochs", max_epochs), ("patience", patience), ("batch_size", batch_size)):
        if not isinstance(val, (int, np.integer)) or val < 1:
            raise InputError(f"{key}: received {val!r}; expected a positive int")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise InputError(f"lr: received {lr!r}; expected a positive learning rate")
    if not isinstance(min_batch, (int, np.integer)) or not 1 <= min_batch <= batch_size:
        raise InputError(f"min_batch: received {min_batch!r}; expected an int in [1, batch_size={batch_size}]")
    loss_fn = _mse if loss_fn is None else loss_fn
    metric_name, metric = ("val_r", _mean_r) if val_metric is None else val_metric
    seed, device = seed_from(random_state), check_device(device)
    n = targets.shape[0]
    tr, va = split_validation(n, validation, seed)
    if tr.size < min_batch:
        raise InputError(f"validation: {validation!r} of {n} stimuli leaves {tr.size} to train; expected at least "
                         f"{min_batch} (one mini-batch)")
    tr_t, va_t = torch.as_tensor(tr), torch.as_tensor(va)
    gen = torch.Generator().manual_seed(seed)
    aug_gen = _augment_generator(seed) if batch_transform is not None else None
    opt = torch.optim.AdamW(module.parameters(), lr=float(lr), weight_decay=float(weight_decay))
    rows, best, best_state, best_epoch, bad = [], np.inf, None, 0, 0
    epochs = progress_bar(range(1, int(max_epochs) + 1), progress, desc=desc, unit="epoch")
    seen, started = 0, time.perf_counter()
    for epoch in epochs:
        t0 = time.perf_counter()
        module.train()
        order = tr_t[torch.randperm(tr_t.numel(), generator=gen)]
        total, used = 0.0, 0
        for a in range(0, order.numel(), int(batch_size)):
            idx = order[a:a + int(batch_size)]
            if idx.numel() < min_batch:
                continue
            batch, target = [x[idx].to(device) for x in inputs], targets[idx].to(device)
            if batch_transform is not None:
                batch, target = batch_transform(batch, target, aug_gen)
            pred = module(batch)
            loss = loss_fn(pred, target)
            total += float(loss.detach()) * idx.numel()
            used += idx.numel()
            if penalty is not None:
                loss = loss + penalty()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seen += used
        row = {"train_loss": total / max(used, 1), "val_loss": np.nan, metric_name: np.nan}
        monitor = row["train_loss"]
        if va.size:
            pred = _predict(module, [x[va_t] for x in inputs], int(batch_size), device)
            on = torch.device("cpu") if loss_fn is _mse else device  # the default MSE as it always was, on the CPU
            with torch.no_grad():
                row["val_loss"] = float(loss_fn(pred.to(on), targets[va_t].to(on)))
            row[metric_name] = float(metric(pred, targets[va_t]))
            monitor = row["val_loss"]
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        if progress:
            epochs.set_postfix(loss=f"{monitor:.4f}")
        if monitor < best - 1e-6:
            best, best_epoch, bad = monitor, epoch, 0
            best_state = copy.deepcopy(module.state_dict())
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    hist = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="epoch"))
    hist.attrs.update(best_epoch=int(best_epoch), stimuli_per_second=seen / max(time.perf_counter() - started, 1e-9),
                      loss=str(loss_name))
    return hist


def plot_history(history: pd.DataFrame, ax=None):
    """Training and validation loss per epoch (a matplotlib Axes), the best epoch marked.

    The y label is the history's ``attrs["loss"]`` (mean squared error when absent).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> h = pd.DataFrame({"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "val_r": [0.1, 0.6]},
    ...                  index=pd.RangeIndex(1, 3, name="epoch"))
    >>> plot_history(h).get_xlabel()
    'epoch'
    """
    import matplotlib.pyplot as plt

    if not isinstance(history, pd.DataFrame) or "train_loss" not in history:
        raise InputError(f"history: received {type(history).__name__}; expected a fitted readout's history_ DataFrame")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3))
    ax.plot(history.index, history["train_loss"], label="train loss")
    if "val_loss" in history and history["val_loss"].notna().any():
        ax.plot(history.index, history["val_loss"], label="validation loss")
    best = history.attrs.get("best_epoch")
    if best:
        ax.axvline(best, color="grey", linestyle=":", label="best epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel(history.attrs.get("loss", "MSE (standardised responses)"))
    ax.legend(frameon=False)
    return ax
