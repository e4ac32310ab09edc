"""Fitting a new subject's adapter into a fitted shared space, the shared head frozen.

Used by :meth:`~neuroperception.decoding.SharedSpaceDecoder.adapt` with features: in closed form through a
ridge head (:func:`fit_adapter`), by training through a contrastive head (:func:`train_adapter`).
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold

from .._validation import seed_from
from ..errors import InputError


def head_solve(x: np.ndarray, y: np.ndarray, a: np.ndarray, lams: np.ndarray) -> list[np.ndarray]:
    """``argmin_W ‖x W a − y‖² + λ ‖W‖²`` for each λ (``x`` and ``y`` centred), in closed form.

    With ``x = P diag(σ) Qᵀ`` and ``a aᵀ = V diag(e) Vᵀ`` the normal equations
    ``xᵀx W a aᵀ + λ W = xᵀ y aᵀ`` decouple: ``W = Q H Vᵀ`` with
    ``H_ij = σ_i (Pᵀ y aᵀ V)_ij / (σ_i² e_j + λ)``.
    """
    p, s, qt = np.linalg.svd(x, full_matrices=False)
    e, v = np.linalg.eigh(a @ a.T)
    e = np.maximum(e, 0.0)
    g = s[:, None] * (p.T @ y @ a.T @ v)
    return [qt.T @ (g / (s[:, None] ** 2 * e[None, :] + lam)) @ v.T for lam in lams]



def fit_adapter(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """A new subject's adapter ``W``, offset and penalty through the frozen ridge head of ``self`` (a fitted
    :class:`~neuroperception.decoding.SharedSpaceDecoder`), the penalty chosen by cross-validation."""
    a, c = self._head_linear()
    gain = float(np.linalg.eigvalsh(a @ a.T).max()) if a.size else 0.0
    if gain <= 0:
        raise InputError("adapt: the shared head maps every latent to the same features (all-zero weights); "
                         "expected a head that decodes something")
    alphas = self._alphas()
    lams = alphas * gain
    n = x.shape[0]
    folds = min(int(self.cv), n) if isinstance(self.cv, (int, np.integer)) and not isinstance(self.cv, bool) \
        else min(5, n)
    errors = np.zeros(len(lams))
    for train, test in KFold(n_splits=max(folds, 2)).split(x):
        mean, scale = self._stats(x[train])
        xt = (x[train] - mean) / scale
        ybar = t[train].mean(0)
        for i, w in enumerate(head_solve(xt, t[train] - ybar, a, lams)):
            pred = ((x[test] - mean) / scale) @ w @ a + ybar
            errors[i] += ((pred - t[test]) ** 2).sum()
    best = int(np.argmin(errors))
    mean, scale = self._stats(x)
    ybar = t.mean(0)
    w = head_solve((x - mean) / scale, t - ybar, a, lams[best:best + 1])[0]
    offset = np.linalg.lstsq(a.T, ybar - c, rcond=None)[0]
    return w, offset, float(alphas[best])

def train_adapter(self, x: np.ndarray, t: np.ndarray):
    """A new subject's adapter trained alone through the frozen contrastive head of ``self`` (its loss, loop
    and settings); returns ``W``, the offset and the training history."""
    import torch

    from ..encoding._training import train
    from ._contrastive_loss import contrastive_loss, top1_accuracy

    head = self.head_
    k = self.srm_.shared_response_.sizes["component"]
    device = head.device_
    shift = torch.as_tensor(head.mean_, dtype=torch.float32, device=device)
    scale = torch.as_tensor(head.scale_, dtype=torch.float32, device=device)
    frozen = head.module_.eval()  # not a submodule of the adapter: the optimiser never sees it
    temperature = frozen.temperature().detach()

    class _Adapted(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.adapter = torch.nn.Linear(x.shape[1], k)

        def forward(self, xs):
            return frozen([(self.adapter(xs[0]) - shift) / scale])

    seed = seed_from(head.random_state)
    devices = [device.index or 0] if device.type == "cuda" else []
    flags = [p.requires_grad for p in frozen.parameters()]
    try:
        for p in frozen.parameters():
            p.requires_grad_(False)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            module = _Adapted().to(device)
            history = train(
                module, [torch.from_numpy(x.astype(np.float32))], torch.from_numpy(t.astype(np.float32)),
                validation=head.validation, lr=head.lr, weight_decay=head.weight_decay,
                max_epochs=head.max_epochs, patience=head.patience, batch_size=int(head.batch_size),
                random_state=seed, device=device, progress=False, desc="adapter",
                loss_fn=lambda pred, target: contrastive_loss(pred, target, temperature),
                val_metric=("val_top1", top1_accuracy), loss_name="symmetric InfoNCE", min_batch=2)
    finally:
        for p, flag in zip(frozen.parameters(), flags):
            p.requires_grad_(flag)
    w = module.adapter.weight.detach().cpu().double().numpy().T
    offset = module.adapter.bias.detach().cpu().double().numpy()
    return w, offset, history
