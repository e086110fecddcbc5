"""Ridge in kernel form with closed-form cross-validation over whole stories.

With fewer TRs than features (n < p, the usual encoding design: units x delays),
ridge is cheapest in kernel form. One eigendecomposition of the training kernel
``K = X X^T = Q diag(lam) Q^T`` serves every penalty, fold and voxel:

- ``G(alpha) = (K + alpha I)^-1 = Q diag(1 / (lam + alpha)) Q^T``;
- when the validation sets of the folds partition the rows (whole stories left
  out, or any partition), the residual on fold ``g`` of the model fitted on the
  other folds is ``e_g = G_gg^-1 (G y)_g`` exactly (block inversion of
  ``K + alpha I``; the leave-one-out formula of Allen 1974 / Golub et al. 1979
  for groups of rows), so no fold is refitted;
- the score is the mean over folds of the per-fold mean squared error
  ``sum_g ||e_g||^2 / (F n_g)`` = ``||M z||^2`` with ``z = Q^T y`` and
  ``M = W^1/2 blockdiag(G_gg^-1) Q diag(1 / (lam + alpha))`` (n x n, formed
  once per penalty), so each penalty costs one product with the voxels;
- the refit on all training rows is ``coefs = X^T Q (z / (lam + alpha_v))``:
  the model is kept as ``basis = X^T Q`` (p x n) and ``z / (lam + alpha_v)``
  (n x voxels), and the p x voxels weights are formed only when asked for.

Per voxel the work is ``2 n^2`` flops for ``z`` and ``2 n^2`` per penalty
(scikit-learn's leave-one-TR-out ``RidgeCV`` does the same per penalty, plus
``2 n p`` for its weights, in float64), in voxel chunks of bounded memory; the
n x n algebra runs once per penalty in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["is_partition", "kernel_ridge_cv"]

#: Bytes of one (n_rows, chunk) block of voxels: bounds the temporaries.
CHUNK_BYTES = 2 ** 27


def is_partition(folds: Sequence[tuple[np.ndarray, np.ndarray]], n_rows: int) -> bool:
    """True when the validation sets partition the rows and each fold trains on all the others."""
    held = [np.asarray(val) for _, val in folds]
    rows = np.sort(np.concatenate(held)) if held else np.zeros(0)
    if rows.size != n_rows or not np.array_equal(rows, np.arange(n_rows)):
        return False
    return all(len(train) + len(val) == n_rows and np.intersect1d(train, val).size == 0 for train, val in folds)


def _fold_residuals(q: np.ndarray, lam: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
                    alpha: float) -> np.ndarray:
    """M (n x n, float64): ``M @ (Q^T y)`` stacks every fold's validation residual, each scaled so that
    its squared norm is the mean over folds of the per-fold mean squared error at ``alpha``."""
    from scipy.linalg import cho_factor, cho_solve

    d = 1.0 / (lam + alpha)
    m = np.empty_like(q)
    for _, val in folds:
        qd = q[val] * d  # Q_g diag(d), shape (n_g, n)
        g_gg = qd @ q[val].T  # the fold's diagonal block of (K + alpha I)^-1, positive definite
        m[val] = cho_solve(cho_factor(g_gg, check_finite=False), qd, check_finite=False) / np.sqrt(len(folds) * len(val))
    return m


def kernel_ridge_cv(x: Any, y: Any, folds: Sequence[tuple[np.ndarray, np.ndarray]], alphas: Sequence[float], *,
                    dtype: str = "float64", backend: Any = None, chunk: int | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-voxel penalties by closed-form cross-validation over a partition of the rows, and the refit.

    Parameters
    ----------
    x : ndarray, shape (n_rows, n_features)
    y : ndarray, shape (n_rows, n_voxels)
    folds : list of (train_rows, validation_rows)
        Validation sets that partition the rows (:func:`is_partition`).
    alphas : sequence of float
        Penalties tried; ties go to the first.
    dtype : {"float64", "float32"}
        Precision of the products with the voxels (the n x n algebra is float64).
    backend : himalaya backend, optional
        Where the products with the voxels run (numpy by default; torch, torch_cuda).
    chunk : int, optional
        Voxels per block; by default blocks of about 128 MB.

    Returns
    -------
    basis : ndarray, shape (n_features, n_rows), dtype
        ``X^T Q``: weights are ``basis @ dual``.
    dual : ndarray, shape (n_rows, n_voxels), dtype
        ``Q^T y / (lam + alpha_v)`` per voxel.
    best_alphas : ndarray, float64, shape (n_voxels,)
    best_scores : ndarray, float64, shape (n_voxels,)
        Mean over folds of the negative validation mean squared error, at the chosen penalty.
    """
    from scipy.linalg import eigh

    x = np.asarray(x)
    y = np.asarray(y)
    n, n_voxels = y.shape
    itemsize = np.dtype(dtype).itemsize
    chunk = chunk or max(1, CHUNK_BYTES // (itemsize * n))

    def device(a: np.ndarray) -> Any:
        return a if backend is None else backend.asarray(np.ascontiguousarray(a), dtype=dtype)

    def host(a: Any) -> np.ndarray:
        return a if backend is None else backend.to_numpy(a)

    xd = x.astype(dtype, copy=False)
    # LAPACK's MRRR driver: several times faster than the default divide and conquer at n ~ 3000
    lam, q = eigh(np.asarray(host(device(xd) @ device(xd).T), dtype=np.float64), driver="evr",
                  check_finite=False)
    lam = np.clip(lam, 0.0, None)  # a numerically singular kernel: its zero eigenvalues
    basis = np.asarray(host(device(xd).T @ device(q.astype(dtype))))
    q_dev = device(q.astype(dtype))
    # z = Q^T y for every voxel (it becomes the dual weights in place at the end)
    z = np.empty((n, n_voxels), dtype=dtype)
    for start in range(0, n_voxels, chunk):
        block = slice(start, start + chunk)
        z[:, block] = host(q_dev.T @ device(y[:, block].astype(dtype, copy=False)))
    best_scores = np.full(n_voxels, -np.inf)
    best_alphas = np.full(n_voxels, float(alphas[0]))
    for alpha in alphas:
        m = device(_fold_residuals(q, lam, folds, float(alpha)).astype(dtype))
        for start in range(0, n_voxels, chunk):
            block = slice(start, start + chunk)
            residual = m @ device(z[:, block])
            squares = np.einsum("ij,ij->j", residual, residual) if backend is None else (residual * residual).sum(0)
            score = -np.asarray(host(squares), dtype=np.float64)
            better = score > best_scores[block]
            best_scores[block][better] = score[better]
            best_alphas[block][better] = alpha
    for start in range(0, n_voxels, chunk):
        block = slice(start, start + chunk)
        z[:, block] /= (lam[:, None] + best_alphas[None, block]).astype(dtype)
    return basis, z, best_alphas, best_scores
