"""The maths of functional alignment as plain functions on arrays (no labels, no checks).

``X`` and ``Y`` are ``(n_stimuli, n_voxels)`` float64 arrays of the same stimuli.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def polar_factor(A: np.ndarray) -> np.ndarray:
    """The (semi-)orthogonal factor ``U Vᵀ`` of the thin SVD ``A = U Σ Vᵀ``: the isometry closest to ``A``."""
    U, _, Vt = np.linalg.svd(A, full_matrices=False)
    return U @ Vt


def polar_factor_tall(A: np.ndarray) -> np.ndarray:
    """:func:`polar_factor` of a tall ``A`` (``p >= k`` rows) from the ``k x k`` Gram matrix: ``A (AᵀA)^(-1/2)``.

    The eigendecomposition of ``AᵀA`` costs ``O(p k²)`` where the SVD of ``A`` costs several times more;
    squaring the condition number loses accuracy only for a nearly rank-deficient ``A`` (condition above
    about 10⁴), which falls back to the SVD.
    """
    evals, evecs = np.linalg.eigh(A.T @ A)
    if not evals[-1] > 0 or evals[0] <= 1e-8 * evals[-1]:
        return polar_factor(A)
    return A @ ((evecs / np.sqrt(evals)) @ evecs.T)


def procrustes(X: np.ndarray, Y: np.ndarray, scaling: bool = True) -> tuple[np.ndarray, float]:
    """``R`` (``p_x × p_y``, orthonormal rows or columns) and ``s`` minimising ``‖s X R − Y‖_F``.

    ``R`` is the polar factor of ``Xᵀ Y``; ``s = trace(Σ) / ‖X‖²_F`` (1 without scaling). With fewer
    stimuli than voxels on both sides, ``Xᵀ Y`` has rank at most ``n``: it is factored through the QR
    decompositions ``Xᵀ = Q_x T_x``, ``Yᵀ = Q_y T_y`` so that only an ``n × n`` matrix is decomposed
    (``Xᵀ Y = Q_x (T_x T_yᵀ) Q_yᵀ`` and the polar factor of the middle passes through the ``Q``s).
    """
    n, px = X.shape
    py = Y.shape[1]
    if n < min(px, py):
        Qx, Tx = linalg.qr(X.T, mode="economic", check_finite=False)
        Qy, Ty = linalg.qr(Y.T, mode="economic", check_finite=False)
        U, s, Vt = np.linalg.svd(Tx @ Ty.T)
        R = (Qx @ U) @ (Vt @ Qy.T)
    else:
        U, s, Vt = np.linalg.svd(X.T @ Y, full_matrices=False)
        R = U @ Vt
    scale = float(s.sum() / np.vdot(X, X)) if scaling else 1.0
    return R, scale


def srm(data: list[np.ndarray], n_components: int, n_iter: int,
        rng: np.random.Generator) -> tuple[list[np.ndarray], np.ndarray, list[float]]:
    """Deterministic shared response model: ``X_i ≈ S W_iᵀ`` with ``W_iᵀ W_i = I``.

    Alternates the two exact minimisers of ``Σ_i ‖X_i − S W_iᵀ‖²_F``: for fixed ``S``, each ``W_i`` is
    the polar factor of ``X_iᵀ S`` (orthogonal Procrustes, through the Gram matrix:
    :func:`polar_factor_tall`); for fixed ``W``'s, ``S`` is the mean of ``X_i W_i``. The ``W_i`` start as random orthonormal bases drawn from ``rng``. Returns the bases,
    the shared response ``S`` ``(n_stimuli, n_components)`` and the objective after each iteration
    (which never increases).
    """
    bases = [np.linalg.qr(rng.standard_normal((x.shape[1], n_components)))[0] for x in data]
    shared = np.mean([x @ w for x, w in zip(data, bases)], axis=0)
    total = float(sum(np.sum(x * x) for x in data))
    objective = []
    for _ in range(n_iter):
        bases = [polar_factor_tall(x.T @ shared) for x in data]
        shared = np.mean([x @ w for x, w in zip(data, bases)], axis=0)
        # with orthonormal W_i and S the mean of the X_i W_i: Σ‖X_i − S W_iᵀ‖² = Σ‖X_i‖² − m ‖S‖²
        objective.append(total - len(data) * float(np.sum(shared * shared)))
    return bases, shared, objective
