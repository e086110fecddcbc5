"""Temporal integration windows of every unit, from word swaps (Skrill & Norman-Haignere 2023).

The word-swap method treats a language model as a black box. For a sequence of
``L`` words and each position ``s``, a copy with the word at ``s`` replaced by
another word of the same part of speech is run through the model; the change
of a unit's word-level response at position ``m``,
``|r_swapped_s[m] - r_original[m]|``, says how much the unit at ``m`` still
depends on the word ``m - s`` words back. Averaged over sequences this gives::

    D[swap_pos, measured_pos, unit]                        (accumulate_swaps)
    theta[unit, delta] = median_m D[m - delta, m] / D[m, m]  (window_theta)

for ``delta = 0 .. max_delta`` and the positions ``m >= max_delta`` where every
lag is defined. Each unit's ``theta`` is fit with a convex mix of a power law
and an exponential (:func:`fit_windows`)::

    theta(delta) ~ c (delta + 1)^-a + (1 - c) exp(-b delta),  a, b in [0, 10], c in [0, 1]

Structure yoking (:func:`yoking_index`) reads ``D`` of sequences made of
unrelated sentences of equal length: the window of the first word of a
sentence is compared, lag by lag, with the window of the word before it. A
unit whose window depends only on distance (position-yoked) has the same
window at both, so the index is about 0; a unit whose window stops at the
sentence boundary loses everything beyond the boundary at the first word, so
the index is positive.

All functions are pure and vectorised over units; nothing here runs a model
(see :mod:`toposcope.windows` for the runner).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_positive_int

__all__ = [
    "A_BOUNDS",
    "B_BOUNDS",
    "SwapAccumulator",
    "accumulate_swaps",
    "fit_windows",
    "window_model",
    "window_strengths",
    "window_theta",
    "yoking_index",
]

#: Bounds of the power-law exponent ``a`` and the exponential rate ``b``.
A_BOUNDS = (0.0, 10.0)
B_BOUNDS = (0.0, 10.0)
#: Default largest lag of ``theta`` (Skrill & Norman-Haignere used 20 words).
MAX_DELTA = 20

_LOWER = np.array([A_BOUNDS[0], B_BOUNDS[0], 0.0])
_UPPER = np.array([A_BOUNDS[1], B_BOUNDS[1], 1.0])
_DAMPING0 = 1e-3
#: Polish steps all starts take before clearly worse ones are dropped.
_RACE_STEPS = 5
#: Start of scipy-style fits, polished alongside the grid starts.
_FIXED_START = np.array([1.0, 1.0, 0.5])


# --------------------------------------------------------------------------- D
def _unit_coords(template: Any, n_units: int) -> dict[str, Any]:
    if isinstance(template, xr.DataArray) and "unit" in template.dims:
        return {k: v.variable for k, v in template.coords.items() if v.dims == ("unit",)}
    return {"unit": np.arange(n_units)}


class SwapAccumulator:
    """Running mean of ``|response(swapped) - response(original)|`` over sequences.

    Feed it batches with :meth:`add` (the runner does so one chunk of
    sequences at a time, so memory never holds more than a chunk) and read
    ``D`` with :meth:`result`.

    Parameters
    ----------
    length : int
        Words per sequence, ``L``.
    n_units : int
        Units per response row.
    swap_positions : sequence of int, optional
        The position swapped in each copy, in copy order; ``0 .. L-1`` by default.
    unit_coords : mapping, optional
        Unit coords (``layer``, ``x``, ``y``) for the result.
    """

    def __init__(self, length: int, n_units: int, swap_positions: Sequence[int] | None = None,
                 unit_coords: Mapping[str, Any] | None = None) -> None:
        self.length = check_positive_int("length", length)
        self.n_units = check_positive_int("n_units", n_units)
        positions = np.arange(length) if swap_positions is None else np.asarray(swap_positions, dtype=np.int64)
        if positions.ndim != 1 or positions.size == 0 or positions.min() < 0 or positions.max() >= length:
            raise ToposcopeError(f"swap_positions must be positions in 0..{length - 1}, got {positions.tolist()}")
        self.swap_positions = positions
        self.unit_coords = dict(unit_coords) if unit_coords is not None else {"unit": np.arange(n_units)}
        self.total = np.zeros((len(positions), length, n_units), dtype=np.float64)
        self.count = 0

    def add(self, original: Any, swapped: Any) -> None:
        """Add one batch of sequences.

        Parameters
        ----------
        original : array, shape (n_sequences, L, n_units)
            Word-level responses to the original sequences.
        swapped : array, shape (n_sequences, n_swaps, L, n_units)
            Responses to the swapped copies, copy ``k`` swapping ``swap_positions[k]``.
        """
        original = np.asarray(original, dtype=np.float64)
        swapped = np.asarray(swapped)
        want = (len(self.swap_positions), self.length, self.n_units)
        if original.ndim != 3 or original.shape[1:] != want[1:]:
            raise ToposcopeError(
                f"original responses must have shape (n_sequences, {want[1]}, {want[2]}), got {original.shape}"
            )
        if swapped.shape != (original.shape[0], *want):
            raise ToposcopeError(
                f"swapped responses must have shape {(original.shape[0], *want)}, got {swapped.shape}"
            )
        if not (np.isfinite(original).all() and np.isfinite(swapped).all()):
            raise ToposcopeError("responses hold NaN or inf; check the model and the input")
        # One sequence at a time keeps the float64 temporary at (n_swaps, L, n_units).
        for i in range(original.shape[0]):
            self.total += np.abs(swapped[i] - original[i][None])
        self.count += original.shape[0]

    def result(self) -> xr.DataArray:
        """``D``, dims (swap_pos, measured_pos, unit), float64: the mean absolute change."""
        if self.count == 0:
            raise ToposcopeError("no sequences were added; call add() with at least one batch")
        return xr.DataArray(
            self.total / self.count, dims=("swap_pos", "measured_pos", "unit"),
            coords={"swap_pos": self.swap_positions, "measured_pos": np.arange(self.length), **self.unit_coords},
            name="D", attrs={"n_sequences": int(self.count),
                             "definition": "mean over sequences of |r(swapped at swap_pos) - r(original)|"},
        )


def accumulate_swaps(batches: Any, unit_coords: Mapping[str, Any] | None = None) -> xr.DataArray:
    """``D`` from an iterable of ``(original, swapped)`` response batches.

    Parameters
    ----------
    batches : iterable of (array (n, L, U), array (n, L, L, U))
        See :meth:`SwapAccumulator.add`; copy ``k`` swaps position ``k``.
    unit_coords : mapping, optional

    Returns
    -------
    xr.DataArray, dims (swap_pos, measured_pos, unit)
    """
    accumulator = None
    for original, swapped in batches:
        if accumulator is None:
            shape = np.shape(original)
            if len(shape) != 3:
                raise ToposcopeError(f"original responses must be (n_sequences, L, n_units), got shape {shape}")
            accumulator = SwapAccumulator(shape[1], shape[2], unit_coords=unit_coords)
        accumulator.add(original, swapped)
    if accumulator is None:
        raise ToposcopeError("no batches given; pass at least one (original, swapped) pair")
    return accumulator.result()


def _check_d(d: Any) -> xr.DataArray:
    if not isinstance(d, xr.DataArray) or set(d.dims) != {"swap_pos", "measured_pos", "unit"}:
        raise ToposcopeError(
            "D must be an xr.DataArray with dims ('swap_pos', 'measured_pos', 'unit'); make it with "
            "SwapAccumulator or accumulate_swaps"
        )
    d = d.transpose("swap_pos", "measured_pos", "unit")
    if not np.array_equal(d["swap_pos"].values, np.arange(d.sizes["measured_pos"])):
        raise ToposcopeError("D must swap every position 0..L-1 once, in order; swap all positions")
    return d


# --------------------------------------------------------------------------- theta
def window_theta(d: xr.DataArray, max_delta: int = MAX_DELTA) -> xr.DataArray:
    """Normalised window ``theta[unit, delta] = median_m D[m - delta, m] / D[m, m]``.

    Parameters
    ----------
    d : xr.DataArray, dims (swap_pos, measured_pos, unit)
        From :class:`SwapAccumulator`.
    max_delta : int
        Largest lag; positions ``m >= max_delta`` are used.

    Returns
    -------
    xr.DataArray, dims (unit, delta), float64
        ``theta[:, 0] = 1``. NaN for units whose diagonal ``D[m, m]`` is 0 at
        every position (they never respond to their own word).
    """
    d = _check_d(d)
    length = d.sizes["measured_pos"]
    check_positive_int("max_delta", max_delta)
    if length <= max_delta:
        raise ToposcopeError(
            f"sequences of {length} words are shorter than the window: theta up to delta={max_delta} needs "
            f"at least {max_delta + 1} words; use longer sequences or a smaller max_delta"
        )
    values = np.asarray(d.values, dtype=np.float64)
    measured = np.arange(max_delta, length)
    lags = np.arange(max_delta + 1)
    window = values[measured[:, None] - lags[None, :], measured[:, None]]  # (M, K, U)
    diagonal = values[measured, measured][:, None, :]  # (M, 1, U)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diagonal > 0, window / np.where(diagonal > 0, diagonal, 1.0), np.nan)
    dead = ~np.isfinite(ratio).any(axis=(0, 1))
    ratio[:, :, dead] = 0.0  # all-NaN slices would warn; they are set back to NaN below
    theta = np.nanmedian(ratio, axis=0).T
    theta[dead] = np.nan
    coords = {"delta": lags, **_unit_coords(d, values.shape[2])}
    return xr.DataArray(theta, dims=("unit", "delta"), coords=coords, name="theta",
                        attrs={"max_delta": int(max_delta), "positions_used": len(measured)})


# --------------------------------------------------------------------------- fit
def window_model(delta: Any, a: Any, b: Any, c: Any) -> np.ndarray:
    """``c (delta + 1)^-a + (1 - c) exp(-b delta)``, broadcast over its arguments."""
    delta = np.asarray(delta, dtype=np.float64)
    return c * (delta + 1.0) ** (-np.asarray(a, dtype=np.float64)) + (1 - np.asarray(c)) * np.exp(-np.asarray(b) * delta)


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


def _grid_starts(theta: np.ndarray, delta: np.ndarray, grid_size: int) -> np.ndarray:
    """Best grid point (a, b, c) of each band of b per unit, shape (n_bands, U, 3).

    Each (a, b) of the grid gets the unit's optimal clipped c.
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
    c = c.reshape(len(theta), -1)
    a_flat, b_flat = np.repeat(a_grid, len(b_grid)), np.tile(b_grid, len(a_grid))
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


def _sse(theta: np.ndarray, delta: np.ndarray, p: np.ndarray) -> np.ndarray:
    residual = theta - window_model(delta[None, :], p[:, 0:1], p[:, 1:2], p[:, 2:3])
    return np.einsum("uk,uk->u", residual, residual)


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


def _polish(theta: np.ndarray, delta: np.ndarray, p: np.ndarray, iterations: int,
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
        frozen = ((q <= _LOWER) & (grad < 0)) | ((q >= _UPPER) & (grad > 0))
        free = (~frozen).astype(np.float64)
        diag = np.diagonal(jtj, axis1=1, axis2=2)
        scale = damping[active][:, None] * (diag + 1e-9 * diag.max(axis=1, keepdims=True) + 1e-12)
        system = jtj * free[:, :, None] * free[:, None, :]
        system[:, [0, 1, 2], [0, 1, 2]] += np.where(free > 0, scale, 1.0)
        trial = np.clip(q + _solve3(system, grad * free), _LOWER, _UPPER)
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


def _fit(theta: np.ndarray, delta: np.ndarray, grid_size: int, iterations: int, tol: float,
         chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Polish several starts per unit and keep each unit's lowest SSE.

    The starts are the best grid point of each band of b and the fixed start
    (1, 1, 0.5) that per-unit fits customarily use. All take a few steps together; starts whose SSE is then more than
    twice their unit's best (plus 1e-6) are dropped, since a basin that much
    worse is not caught up by the remaining steps, and the rest are polished to
    the end. Units go in chunks so that every temporary stays small (cache-sized).
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
        fitted, fitted_sse = _polish(tiled, delta, starts.reshape(-1, 3), warmup, tol)
        best = fitted_sse.reshape(n_starts, n).min(axis=0)
        alive = np.flatnonzero(fitted_sse <= 2 * np.tile(best, n_starts) + 1e-6)
        fitted[alive], fitted_sse[alive] = _polish(tiled[alive], delta, fitted[alive], iterations - warmup, tol)
        fitted_sse = fitted_sse.reshape(n_starts, n)
        winner = fitted_sse.argmin(axis=0)
        rows = np.arange(n)
        params[first:first + n] = fitted.reshape(n_starts, n, 3)[winner, rows]
        sse[first:first + n] = fitted_sse[winner, rows]
    return params, sse


def fit_windows(
    theta: xr.DataArray,
    *,
    grid_size: int = 16,
    iterations: int = 30,
    tol: float = 1e-10,
    chunk: int = 1024,
) -> xr.Dataset:
    """Fit ``theta ~ c (delta+1)^-a + (1-c) exp(-b delta)`` to every unit at once.

    For fixed ``(a, b)`` the best ``c`` is a clipped least-squares ratio, so
    every unit is first scored on a ``grid_size x grid_size`` grid of ``(a, b)``
    (geometric, including 0) with its own best ``c``. The best grid point of
    each band of ``b`` (:data:`B_BANDS`) and the fixed start ``(1, 1, 0.5)`` are
    then polished together by a vectorised box-constrained Levenberg-Marquardt
    (starts far behind after a few steps are dropped), and each unit keeps its
    lowest SSE. ``benchmarks/bench_integration.py`` compares this with
    :func:`scipy.optimize.curve_fit` per unit.

    Parameters
    ----------
    theta : xr.DataArray, dims (unit, delta)
        From :func:`window_theta`; coord ``delta`` gives the lags (``0..K``).
    grid_size : int
        Grid points per parameter.
    iterations : int
        Largest number of polish steps.
    tol : float
        SSE improvement of a step at or below which a unit stops.
    chunk : int
        Units fitted together (memory ~ ``chunk * grid_size^2 * 40`` bytes).

    Returns
    -------
    xr.Dataset
        ``a``, ``b``, ``c``, ``r2`` and ``sse`` per unit (dim ``unit``, unit
        coords kept); NaN for units whose theta holds NaN. ``r2`` is
        ``1 - SSE / sum((theta - mean theta)^2)``.
    """
    if not isinstance(theta, xr.DataArray) or set(theta.dims) != {"unit", "delta"}:
        raise ToposcopeError("theta must be an xr.DataArray with dims ('unit', 'delta'); make it with window_theta")
    theta = theta.transpose("unit", "delta")
    delta = np.asarray(theta["delta"].values if "delta" in theta.coords else np.arange(theta.sizes["delta"]),
                       dtype=np.float64)
    if delta.size < 4 or np.any(delta < 0):
        raise ToposcopeError(f"theta needs at least 4 non-negative lags to fit 3 parameters, got delta={delta.tolist()}")
    check_positive_int("grid_size", grid_size)
    values = np.asarray(theta.values, dtype=np.float64)
    ok = np.isfinite(values).all(axis=1)
    params = np.full((len(values), 3), np.nan)
    sse = np.full(len(values), np.nan)
    if ok.any():
        params[ok], sse[ok] = _fit(values[ok], delta, max(grid_size, 2), iterations, tol, chunk)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.sum((values - values.mean(axis=1, keepdims=True)) ** 2, axis=1)
        r2 = np.where(total > 0, 1 - sse / np.where(total > 0, total, 1.0), np.nan)
    coords = _unit_coords(theta, len(values))
    out = xr.Dataset(
        {"a": ("unit", params[:, 0]), "b": ("unit", params[:, 1]), "c": ("unit", params[:, 2]),
         "r2": ("unit", r2), "sse": ("unit", sse)},
        coords=coords,
        attrs={"model": "theta ~ c (delta+1)^-a + (1-c) exp(-b delta)", "a_bounds": list(A_BOUNDS),
               "b_bounds": list(B_BOUNDS), "c_bounds": [0.0, 1.0], "max_delta": int(delta.max()),
               "grid_size": int(grid_size), "n_failed": int((~ok).sum())},
    )
    return out


# --------------------------------------------------------------------------- yoking
def yoking_index(d: xr.DataArray, sentence_starts: Sequence[int], max_delta: int | None = None) -> xr.DataArray:
    """Sentence-yoking index per unit from ``D`` of structure-yoked sequences.

    For each sentence start ``p`` (the first one excepted) and lag
    ``delta = 1 .. max_delta``, the window of the word before the boundary,
    ``D[p-1-delta, p-1]``, minus the window of the first word of the sentence,
    ``D[p-delta, p]``; averaged over lags and starts and divided by the median
    diagonal ``D[m, m]``. Position-yoked units (windows that depend on distance
    only) give about 0; units whose window stops at the sentence boundary give
    a positive index.

    Parameters
    ----------
    d : xr.DataArray, dims (swap_pos, measured_pos, unit)
    sentence_starts : sequence of int
        Position of the first word of each sentence in the sequences.
    max_delta : int, optional
        Largest lag; the sentence length minus 1 by default (the lags that stay
        inside the previous word's own sentence).

    Returns
    -------
    xr.DataArray, dims (unit,), float64
        NaN for units with a zero median diagonal.
    """
    d = _check_d(d)
    length = d.sizes["measured_pos"]
    starts = sorted({int(s) for s in sentence_starts})
    inner = [s for s in starts if 0 < s < length]
    if not inner:
        raise ToposcopeError(
            "the sequences have no sentence boundaries (no sentence starts after position 0); yoking needs "
            "sequences made of several sentences (see toposcope.stimuli.text.yoked_sequences)"
        )
    lengths = np.diff([*starts, length])
    if max_delta is None:
        max_delta = int(lengths.min()) - 1
    if max_delta < 1:
        raise ToposcopeError(f"sentences of {int(lengths.min())} word(s) leave no lag to compare; use longer sentences")
    values = np.asarray(d.values, dtype=np.float64)
    changes = []
    for p in inner:
        lags = np.arange(1, min(max_delta, p - 1) + 1)
        if lags.size == 0:
            continue
        before = values[p - 1 - lags, p - 1]  # (lags, U)
        first = values[p - lags, p]
        changes.append((before - first).mean(axis=0))
    if not changes:
        raise ToposcopeError("no sentence start leaves a lag to compare; the first sentence must have 2+ words")
    diagonal = np.median(values[np.arange(length), np.arange(length)], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(diagonal > 0, np.mean(changes, axis=0) / np.where(diagonal > 0, diagonal, 1.0), np.nan)
    return xr.DataArray(index, dims=("unit",), coords=_unit_coords(d, values.shape[2]), name="yoking",
                        attrs={"sentence_starts": inner, "max_delta": int(max_delta)})


def window_strengths(windows: xr.Dataset, yoking_scale: float | None = None) -> xr.DataArray:
    """Power-law, exponential and sentence-yoked strength per unit, each in [0, 1].

    ``power_law = c``, ``exponential = 1 - c`` and ``yoked = clip(yoking /
    yoking_scale, 0, 1)`` with ``yoking_scale`` the 99th percentile of the
    positive yoking indices by default. These are the red, green and blue
    channels of the Fig. 5B-style composite.

    Parameters
    ----------
    windows : xr.Dataset
        With ``c`` and ``yoking`` per unit (``yoking`` may be absent: blue is 0).

    Returns
    -------
    xr.DataArray, dims (unit, channel), channel = ["power_law", "exponential", "yoked"]
    """
    if "c" not in windows:
        raise ToposcopeError("windows need a 'c' variable; make them with fit_windows")
    c = np.asarray(windows["c"].values, dtype=np.float64)
    yoked = np.zeros_like(c)
    if "yoking" in windows:
        y = np.asarray(windows["yoking"].values, dtype=np.float64)
        positive = y[np.isfinite(y) & (y > 0)]
        scale = yoking_scale if yoking_scale is not None else (np.percentile(positive, 99) if positive.size else 1.0)
        yoked = np.clip(np.nan_to_num(y / (scale if scale > 0 else 1.0)), 0.0, 1.0)
    data = np.stack([c, 1 - c, yoked], axis=1)
    coords = {k: v.variable for k, v in windows.coords.items() if v.dims == ("unit",)}
    coords["channel"] = ["power_law", "exponential", "yoked"]
    return xr.DataArray(data, dims=("unit", "channel"), coords=coords, name="strength")
