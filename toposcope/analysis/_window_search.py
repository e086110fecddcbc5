"""The global search for integration-window fits: a grid of (a, b) with the best c, then polishing.

:func:`global_fit` scores every unit on a geometric grid of ``(a, b)`` (each
point with the unit's least-squares ``c``, clipped to [0, 1]), polishes the
best grid point of each band of ``b`` and the fixed start ``(1, 1, 0.5)``
with a vectorised box-constrained Levenberg-Marquardt, and keeps each unit's
lowest SSE. It finds the best of the fit's basins, which is not the optimum
the published procedure reports (see :mod:`toposcope.analysis.integration_fit`);
it is the ``fit="global"`` option there, and its grid and polish also find
the competing basin of each unit (the ``ambiguous`` flag).
"""

from __future__ import annotations

import numpy as np

__all__ = ["A_BOUNDS", "B_BANDS", "B_BOUNDS", "LOWER", "UPPER", "global_fit", "grid_scores", "polish"]

#: Bounds of the power-law exponent ``a`` and the exponential rate ``b``.
A_BOUNDS = (0.0, 10.0)
B_BOUNDS = (0.0, 10.0)
LOWER = np.array([A_BOUNDS[0], B_BOUNDS[0], 0.0])
UPPER = np.array([A_BOUNDS[1], B_BOUNDS[1], 1.0])
_DAMPING0 = 1e-3
#: Polish steps all starts take before clearly worse ones are dropped.
_RACE_STEPS = 5
#: The start of scipy-style fits, polished alongside the grid starts.
_FIXED_START = np.array([1.0, 1.0, 0.5])


def _grid(bounds: tuple[float, float], size: int) -> np.ndarray:
    # Windows change fastest at small exponents and rates: space the grid geometrically.
    low, high = bounds
    return np.unique(np.concatenate([[low], np.geomspace(max(low, 1e-2), high, size - 1)]))


def _best_c(tq: np.ndarray, qq: np.ndarray) -> np.ndarray:
    """Least-squares c for fixed (a, b), clipped to [0, 1]; 0.5 where the two bases coincide."""
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(qq > 1e-300, tq / np.where(qq > 1e-300, qq, 1.0), 0.5)
    return np.clip(c, 0.0, 1.0)


#: Bands of the exponential rate b whose best grid points are each polished: the
#: fit has separate local minima for a slow exponential (a near-constant floor),
#: a moderate one and a fast one, and a coarse grid can rank them wrongly.
B_BANDS = ((0.0, 0.1), (0.1, 1.0), (1.0, np.inf))


def grid_scores(theta: np.ndarray, delta: np.ndarray, grid_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (a, b) of a geometric grid with each unit's optimal clipped c, and its SSE.

    Returns
    -------
    a, b : arrays, shape (G,)
        The grid points, ``G = Ga * Gb`` (a-major).
    c, sse : arrays, shape (U, G)
    """
    a_grid, b_grid = _grid(A_BOUNDS, grid_size), _grid(B_BOUNDS, grid_size)
    power = (delta[None, :] + 1.0) ** (-a_grid[:, None])  # (Ga, K)
    expo = np.exp(-b_grid[:, None] * delta[None, :])  # (Gb, K)
    pe, ee, pp = power @ expo.T, np.einsum("jk,jk->j", expo, expo), np.einsum("ik,ik->i", power, power)
    qq = pp[:, None] - 2 * pe + ee[None, :]  # <p - e, p - e>, (Ga, Gb)
    tp, te, tt = theta @ power.T, theta @ expo.T, np.einsum("uk,uk->u", theta, theta)
    # r = theta - e, q = p - e: SSE(c) = <r, r> - 2 c <r, q> + c^2 <q, q>
    rq = tp[:, :, None] - te[:, None, :] - pe[None] + ee[None, None, :]
    rr = (tt[:, None] - 2 * te + ee[None, :])[:, None, :]
    c = _best_c(rq, qq[None])
    sse = (rr - c * (2 * rq - c * qq[None])).reshape(len(theta), -1)
    a_flat, b_flat = np.repeat(a_grid, len(b_grid)), np.tile(b_grid, len(a_grid))
    return a_flat, b_flat, c.reshape(len(theta), -1), np.maximum(sse, 0.0)


def _grid_starts(theta: np.ndarray, delta: np.ndarray, grid_size: int) -> np.ndarray:
    """Best grid point (a, b, c) of each band of b per unit, shape (n_bands, U, 3)."""
    a_flat, b_flat, c, sse = grid_scores(theta, delta, grid_size)
    rows = np.arange(len(theta))
    starts = np.empty((len(B_BANDS), len(theta), 3))
    for k, (low, high) in enumerate(B_BANDS):
        inside = (b_flat >= low) & (b_flat < high)
        index = np.where(inside[None], sse, np.inf).argmin(axis=1)
        starts[k] = np.stack([a_flat[index], b_flat[index], c[rows, index]], axis=1)
    return starts


def _bases(delta: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power-law and exponential bases at each unit's (a, b); shapes (U, K)."""
    return np.exp(-p[:, 0:1] * np.log1p(delta)[None, :]), np.exp(-p[:, 1:2] * delta[None, :])


def _with_best_c(theta: np.ndarray, p: np.ndarray, power: np.ndarray, expo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``p`` with c set to its clipped optimum for its (a, b), and the resulting SSE."""
    q = power - expo
    r = theta - expo
    rq, qq = np.einsum("uk,uk->u", r, q), np.einsum("uk,uk->u", q, q)
    c = _best_c(rq, qq)
    out = p.copy()
    out[:, 2] = c
    sse = np.einsum("uk,uk->u", r, r) - 2 * c * rq + c * c * qq
    return out, np.maximum(sse, 0.0)


def _solve3(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Solve the symmetric systems ``m x = v``, shapes (U, 3, 3) and (U, 3), by cofactors.

    ``np.linalg.solve`` costs more in per-call overhead than the arithmetic for
    3 x 3 systems; the adjugate formula is exact for these well-damped systems.
    """
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 1], m[:, 1, 2], m[:, 2, 2]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    det = np.where(np.abs(det) > 1e-300, det, 1e-300)
    x0 = (c00 * v[:, 0] + c01 * v[:, 1] + c02 * v[:, 2]) / det
    x1 = (c01 * v[:, 0] + c11 * v[:, 1] + c12 * v[:, 2]) / det
    x2 = (c02 * v[:, 0] + c12 * v[:, 1] + c22 * v[:, 2]) / det
    return np.stack([x0, x1, x2], axis=1)


def polish(theta: np.ndarray, delta: np.ndarray, p: np.ndarray, iterations: int,
           tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Box-constrained Levenberg-Marquardt on many fits at once; returns (params, SSE).

    Parameters at a bound whose gradient points outside are frozen for the step
    (projected Newton), the rest take a damped Gauss-Newton step that is then
    clipped to the box; ``c`` is then set to its closed-form optimum for the
    new (a, b), and a fit keeps the step only if its SSE drops. A fit stops
    once a kept step improves its SSE by at most ``tol`` or its damping passes
    1e8 (no descent left).
    """
    log_delta = np.log1p(delta)[None, :]
    power, expo = _bases(delta, p)
    p, sse = _with_best_c(theta, p, power, expo)
    damping = np.full(len(p), _DAMPING0)
    active = np.arange(len(p))
    for _ in range(iterations):
        if active.size == 0:
            break
        t, q, pw, ex = theta[active], p[active], power[active], expo[active]
        c = q[:, 2:3]
        residual = t - (c * pw + (1 - c) * ex)
        columns = (-c * log_delta * pw, -(1 - c) * delta[None, :] * ex, pw - ex)
        # J^T J and J^T r from the three Jacobian columns: far faster than a batched einsum.
        jtj = np.empty((len(active), 3, 3))
        for i in range(3):
            for j in range(i, 3):
                jtj[:, i, j] = jtj[:, j, i] = np.einsum("uk,uk->u", columns[i], columns[j])
        grad = np.stack([np.einsum("uk,uk->u", col, residual) for col in columns], axis=1)
        frozen = ((q <= LOWER) & (grad < 0)) | ((q >= UPPER) & (grad > 0))
        free = (~frozen).astype(np.float64)
        diag = np.diagonal(jtj, axis1=1, axis2=2)
        scale = damping[active][:, None] * (diag + 1e-9 * diag.max(axis=1, keepdims=True) + 1e-12)
        system = jtj * free[:, :, None] * free[:, None, :]
        system[:, [0, 1, 2], [0, 1, 2]] += np.where(free > 0, scale, 1.0)
        trial = np.clip(q + _solve3(system, grad * free), LOWER, UPPER)
        trial_power, trial_expo = _bases(delta, trial)
        trial, trial_sse = _with_best_c(t, trial, trial_power, trial_expo)
        old = sse[active]
        better = trial_sse < old
        kept = active[better]
        p[kept], sse[kept] = trial[better], trial_sse[better]
        power[kept], expo[kept] = trial_power[better], trial_expo[better]
        damping[active] = np.where(better, damping[active] * 0.3, damping[active] * 10.0)
        small = better & (old - trial_sse <= tol)
        active = active[~(small | (damping[active] > 1e8))]
    return p, sse


def global_fit(theta: np.ndarray, delta: np.ndarray, grid_size: int, iterations: int, tol: float,
               chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Polish several starts per unit and keep each unit's lowest SSE.

    The starts are the best grid point of each band of b and the fixed start
    (1, 1, 0.5) that per-unit fits customarily use. All take a few steps
    together; starts whose SSE is then more than twice their unit's best (plus
    1e-6) are dropped, since a basin that much worse is not caught up by the
    remaining steps, and the rest are polished to the end. Units go in chunks so that every temporary stays small (cache-sized).
    """
    params, sse = np.empty((len(theta), 3)), np.empty(len(theta))
    warmup = min(_RACE_STEPS, iterations)
    for first in range(0, len(theta), chunk):
        block = theta[first:first + chunk]
        # The grid's band starts, plus the customary fixed start (1, 1, 0.5).
        starts = _grid_starts(block, delta, grid_size)
        starts = np.concatenate([starts, np.broadcast_to(_FIXED_START, (1, len(block), 3))])
        n_starts, n = len(starts), len(block)
        tiled = np.tile(block, (n_starts, 1))
        fitted, fitted_sse = polish(tiled, delta, starts.reshape(-1, 3), warmup, tol)
        best = fitted_sse.reshape(n_starts, n).min(axis=0)
        alive = np.flatnonzero(fitted_sse <= 2 * np.tile(best, n_starts) + 1e-6)
        fitted[alive], fitted_sse[alive] = polish(tiled[alive], delta, fitted[alive], iterations - warmup, tol)
        fitted_sse = fitted_sse.reshape(n_starts, n)
        winner = fitted_sse.argmin(axis=0)
        rows = np.arange(n)
        params[first:first + n] = fitted.reshape(n_starts, n, 3)[winner, rows]
        sse[first:first + n] = fitted_sse[winner, rows]
    return params, sse
