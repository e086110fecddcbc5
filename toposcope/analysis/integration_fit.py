"""Fitting integration windows: the published procedure by default, the global search on request.

Each unit's normalised window ``theta(delta)`` (:func:`~toposcope.analysis.integration.window_theta`)
is fit with a convex mix of a power law and an exponential::

    theta(delta) ~ c (delta + 1)^-a + (1 - c) exp(-b delta),  a, b in [0, 10], c in [0, 1]

The objective has two basins with the components' roles swapped: the power
law carries the window's tail and the exponential its fast early drop, or the
exponential carries the tail (a slow rate, almost a floor) and the power law
the drop. ``c`` means opposite things in the two, so which optimum is
reported decides the science. Skrill & Norman-Haignere (NeurIPS 2023) report
the optimum that ``scipy.optimize.curve_fit`` reaches from
``p0 = (1, 1, 0.5)`` within those bounds (trust-region reflective).

Fits, by name (``fit=``):

``"published"`` (default)
    That optimum: the trust-region reflective algorithm of ``curve_fit``,
    started at ``p0`` with the same bounds, tolerances and evaluation limit,
    run on every unit at once (:mod:`toposcope.analysis._batched_trf`).
``"global"``
    The lowest SSE over a grid of starts polished by a vectorised
    Levenberg-Marquardt (:mod:`toposcope.analysis._window_search`): the better
    of the two basins, which is often not the published one.

Whichever fit runs, every unit also gets the best SSE found in the *other*
basin (``sse_other``) and ``ambiguous = |sse_other - sse| <= ambiguity * sse``
(1 % by default, plus 1e-12 so that two exact fits tie): the data do not say which component is which, so ``c`` of
such a unit is not evidence either way (figures can grey them). Where
``sse_other`` is clearly lower, the data prefer the other basin; the
published fit reports its own all the same (``n_other_basin_better`` counts them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int
from toposcope.analysis._batched_trf import trf
from toposcope.analysis._window_search import (
    A_BOUNDS,
    B_BOUNDS,
    LOWER,
    UPPER,
    global_fit,
    grid_scores,
    polish,
)

__all__ = ["AMBIGUITY", "A_BOUNDS", "B_BOUNDS", "FITS", "P0", "basin", "fit_windows", "window_model"]

#: Start of the published fit (Skrill & Norman-Haignere's ``p0``): a, b, c.
P0 = (1.0, 1.0, 0.5)
#: The fits by name, with what each reports.
FITS = {
    "published": "scipy.optimize.curve_fit's optimum from p0 = (1, 1, 0.5), bounds [0, 0, 0]-[10, 10, 1] "
                 "(trust-region reflective), as Skrill & Norman-Haignere fit each unit",
    "global": "lowest SSE over a grid of (a, b) starts polished by box-constrained Levenberg-Marquardt",
}
#: Relative SSE margin within which the other basin makes a unit ``ambiguous``.
AMBIGUITY = 0.01
#: Absolute SSE below which two fits count as equal (both exact to float precision).
_SSE_FLOOR = 1e-12
#: Polish steps every other-basin start takes before those far behind are dropped.
_RACE_STEPS = 5
#: Units per batch of the trust-region fit (memory about 2.5 kB per unit and lag).
_TRF_CHUNK = 16384


def window_model(delta: Any, a: Any, b: Any, c: Any) -> np.ndarray:
    """``c (delta + 1)^-a + (1 - c) exp(-b delta)``, broadcast over its arguments."""
    delta = np.asarray(delta, dtype=np.float64)
    return c * (delta + 1.0) ** (-np.asarray(a, dtype=np.float64)) + (1 - np.asarray(c)) * np.exp(-np.asarray(b) * delta)


# ----------------------------------------------------------------------------- the published fit
def _residuals(theta: np.ndarray, delta: np.ndarray):
    """``evaluate(x, rows)`` for :func:`trf`: model minus theta and its analytic Jacobian."""
    log_delta = np.log1p(delta)

    def evaluate(x: np.ndarray, rows: np.ndarray):
        a, b, c = x[0][:, None], x[1][:, None], x[2][:, None]
        power = np.exp(-a * log_delta)
        expo = np.exp(-b * delta)
        residual = c * power + (1 - c) * expo - theta[rows]
        return residual, (-c * log_delta * power, -(1 - c) * delta * expo, power - expo)

    return evaluate


def _published_fit(theta: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """curve_fit's optimum from :data:`P0` for every row: (params (U, 3), SSE (U,), converged (U,))."""
    params, sse, converged = np.empty((len(theta), 3)), np.empty(len(theta)), np.empty(len(theta), dtype=bool)
    for first in range(0, len(theta), _TRF_CHUNK):
        block = theta[first:first + _TRF_CHUNK]
        x, cost, status = trf(_residuals(block, delta), block, np.asarray(P0), LOWER, UPPER)
        params[first:first + len(block)] = x.T
        sse[first:first + len(block)] = 2 * cost
        converged[first:first + len(block)] = status > 0
    return params, sse, converged


# ----------------------------------------------------------------------------- the two basins
def basin(a: Any, b: Any, c: Any, delta: Any) -> np.ndarray:
    """Which component carries the window beyond lag 0: ``"power"`` or ``"exponential"``.

    The power law leads when its share of the window over the lags
    ``delta > 0``, ``c * sum (delta+1)^-a``, is at least the exponential's,
    ``(1 - c) * sum exp(-b delta)``. The fit's two basins lie on either side.
    ``a``, ``b``, ``c`` broadcast together; the result has their shape.
    """
    a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c)))
    led = _power_led(np.stack([a.ravel(), b.ravel(), c.ravel()], axis=1), np.asarray(delta, dtype=np.float64))
    return np.where(led.reshape(a.shape), "power", "exponential")


def _power_led(params: np.ndarray, delta: np.ndarray) -> np.ndarray:
    lags = delta[delta > 0]
    power = np.exp(-params[:, 0:1] * np.log1p(lags)[None, :]).sum(axis=1)
    expo = np.exp(-params[:, 1:2] * lags[None, :]).sum(axis=1)
    return params[:, 2] * power >= (1 - params[:, 2]) * expo


def _other_basin_sse(theta: np.ndarray, delta: np.ndarray, params: np.ndarray, sse: np.ndarray, margin: float,
                     grid_size: int, iterations: int, tol: float, chunk: int) -> np.ndarray:
    """Best SSE found in the basin the fit is not in, per unit (inf where the grid has no point there).

    The best grid point on the other side of :func:`basin` (each ``(a, b)`` with
    its least-squares ``c``) is polished; the polished fit counts if it stays on
    that side, else the grid point's SSE does (an upper bound). After a few
    steps, only starts whose SSE could still end within ``margin`` of the fit's
    are polished on: not those already below ``(1 - margin) * sse`` (the other
    basin is better, and polishing only lowers it), nor, as in the global
    search, those still above ``2 * sse + 1e-6``.
    """
    lags = delta[delta > 0]
    own = _power_led(params, delta)
    best = np.full(len(theta), np.inf)
    starts = np.zeros((len(theta), 3))
    for first in range(0, len(theta), chunk):
        block = slice(first, first + chunk)
        a_flat, b_flat, c, grid_sse = grid_scores(theta[block], delta, grid_size)
        power_area = np.exp(-a_flat[:, None] * np.log1p(lags)[None, :]).sum(axis=1)
        expo_area = np.exp(-b_flat[:, None] * lags[None, :]).sum(axis=1)
        led = c * power_area[None, :] >= (1 - c) * expo_area[None, :]
        grid_sse = np.where(led != own[block, None], grid_sse, np.inf)
        index = grid_sse.argmin(axis=1)
        rows = np.arange(len(index))
        best[block] = grid_sse[rows, index]
        starts[block] = np.stack([a_flat[index], b_flat[index], c[rows, index]], axis=1)
    found = np.flatnonzero(np.isfinite(best))
    warmup = min(_RACE_STEPS, iterations)
    polished, polished_sse = polish(theta[found], delta, starts[found], warmup, tol)
    close = (polished_sse >= (1 - margin) * sse[found]) & (polished_sse <= 2 * sse[found] + 1e-6)
    polished[close], polished_sse[close] = polish(theta[found[close]], delta, polished[close], iterations - warmup,
                                                  tol)
    stays = _power_led(polished, delta) != own[found]
    best[found] = np.where(stays, np.minimum(polished_sse, best[found]), best[found])
    return best


# ----------------------------------------------------------------------------- the fit
def _check_theta(theta: Any) -> tuple[xr.DataArray, np.ndarray, np.ndarray, np.ndarray]:
    """theta as (unit, delta), its lags, values and the rows to fit; raises on bad input."""
    if not isinstance(theta, xr.DataArray) or set(theta.dims) != {"unit", "delta"}:
        raise ToposcopeError("theta must be an xr.DataArray with dims ('unit', 'delta'); make it with window_theta")
    theta = theta.transpose("unit", "delta")
    delta = np.asarray(theta["delta"].values if "delta" in theta.coords else np.arange(theta.sizes["delta"]),
                       dtype=np.float64)
    if delta.size < 4 or np.any(~np.isfinite(delta)) or np.any(delta < 0):
        raise ToposcopeError(f"theta needs at least 4 non-negative lags to fit 3 parameters, got delta={delta.tolist()}")
    values = np.asarray(theta.values, dtype=np.float64)
    finite = np.isfinite(values)
    dead = ~finite.any(axis=1)
    partial = np.flatnonzero(~finite.all(axis=1) & ~dead)
    if np.isinf(values).any() or partial.size:
        bad = np.flatnonzero(np.isinf(values).any(axis=1)) if np.isinf(values).any() else partial
        raise ToposcopeError(
            f"theta of {bad.size} unit(s) holds NaN or inf at some lags (first: unit {int(bad[0])}); a curve must "
            "be finite at every lag (window_theta gives all-NaN rows only for units that never respond): drop or "
            "recompute those units"
        )
    if values.size and dead.all():
        raise ToposcopeError("theta is NaN for every unit (no unit responds to its own word); check the responses")
    return theta, delta, values, ~dead


def fit_windows(
    theta: xr.DataArray,
    *,
    fit: str = "published",
    ambiguity: float | None = AMBIGUITY,
    grid_size: int = 16,
    iterations: int = 30,
    tol: float = 1e-10,
    chunk: int = 1024,
) -> xr.Dataset:
    """Fit ``theta ~ c (delta+1)^-a + (1-c) exp(-b delta)`` to every unit at once.

    Parameters
    ----------
    theta : xr.DataArray, dims (unit, delta)
        From :func:`~toposcope.analysis.integration.window_theta`; coord ``delta``
        gives the lags. Rows that are NaN at every lag (units that never respond)
        get NaN; NaN or inf at some lags only is an error.
    fit : {"published", "global"}
        ``"published"`` (default): the optimum ``scipy.optimize.curve_fit``
        reaches from ``p0 = (1, 1, 0.5)`` with bounds ``[0, 0, 0]-[10, 10, 1]``
        (trust-region reflective, as Skrill & Norman-Haignere), computed for all
        units at once; ``benchmarks/bench_integration.py`` checks it against
        curve_fit unit by unit. ``"global"``: the lowest SSE over a
        ``grid_size x grid_size`` grid of ``(a, b)`` starts polished together
        (the better basin, often not the published one).
    ambiguity : float or None
        A unit is ``ambiguous`` when the best SSE found in the other basin is
        within ``ambiguity`` (relative) of the fit's SSE; ``None`` skips that search.
    grid_size : int
        Grid points per parameter of the global search and of the other-basin search.
    iterations : int
        Largest number of Levenberg-Marquardt steps of those searches.
    tol : float
        SSE improvement of a step at or below which a search stops.
    chunk : int
        Units searched together (memory ~ ``chunk * grid_size^2 * 40`` bytes).

    Returns
    -------
    xr.Dataset
        Per unit (dim ``unit``, unit coords kept): ``a``, ``b``, ``c``, ``r2``
        (``1 - SSE / sum((theta - mean theta)^2)``), ``sse``, ``converged``
        (False where the published fit hit curve_fit's evaluation limit, where
        curve_fit raises), and unless ``ambiguity is None``, ``sse_other`` and
        ``ambiguous`` (``sse_other`` is an upper bound where the other basin
        is clearly better or worse: its search stops early there). Attrs record the fit that ran (``fit``,
        ``fit_procedure``, ``p0``), the bounds and the counts.
    """
    check_option("fit", fit, tuple(FITS), hint="'published' reproduces curve_fit from p0 = (1, 1, 0.5)")
    theta, delta, values, ok = _check_theta(theta)
    check_positive_int("grid_size", grid_size)
    if ambiguity is not None and not (np.isfinite(ambiguity) and ambiguity >= 0):
        raise ToposcopeError(f"ambiguity must be a non-negative number or None, got {ambiguity!r}")
    params = np.full((len(values), 3), np.nan)
    sse = np.full(len(values), np.nan)
    converged = np.zeros(len(values), dtype=bool)
    if ok.any():
        if fit == "published":
            params[ok], sse[ok], converged[ok] = _published_fit(values[ok], delta)
        else:
            params[ok], sse[ok] = global_fit(values[ok], delta, max(grid_size, 2), iterations, tol, chunk)
            converged[ok] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.sum((values - values.mean(axis=1, keepdims=True)) ** 2, axis=1)
        r2 = np.where(total > 0, 1 - sse / np.where(total > 0, total, 1.0), np.nan)
    variables = {"a": ("unit", params[:, 0]), "b": ("unit", params[:, 1]), "c": ("unit", params[:, 2]),
                 "r2": ("unit", r2), "sse": ("unit", sse), "converged": ("unit", converged)}
    attrs = {"model": "theta ~ c (delta+1)^-a + (1-c) exp(-b delta)", "fit": fit, "fit_procedure": FITS[fit],
             "a_bounds": list(A_BOUNDS), "b_bounds": list(B_BOUNDS), "c_bounds": [0.0, 1.0],
             "max_delta": int(delta.max()), "n_failed": int((~ok).sum()),
             "n_unconverged": int((ok & ~converged).sum())}
    if fit == "published":
        attrs.update(p0=list(P0), method="trust-region reflective (scipy least_squares 'trf'), ftol = xtol = gtol "
                                         "= 1e-8, at most 300 evaluations")
    else:
        attrs.update(grid_size=int(grid_size), iterations=int(iterations))
    if ambiguity is not None:
        other = np.full(len(values), np.nan)
        if ok.any():
            other[ok] = _other_basin_sse(values[ok], delta, params[ok], sse[ok], ambiguity, max(grid_size, 2),
                                         iterations, tol, chunk)
        with np.errstate(invalid="ignore"):
            ambiguous = ok & (np.abs(other - sse) <= ambiguity * sse + _SSE_FLOOR)
            better = ok & (other < (1 - ambiguity) * sse)
        variables.update(sse_other=("unit", other), ambiguous=("unit", ambiguous))
        attrs.update(ambiguity=float(ambiguity), n_ambiguous=int(ambiguous.sum()),
                     n_other_basin_better=int(better.sum()),
                     basins="power law or exponential carries the larger share of the window beyond lag 0; "
                            "sse_other is the best SSE found on the other side; ambiguous: |sse_other - sse| "
                            "<= ambiguity * sse + 1e-12")
    coords = {k: v.variable for k, v in theta.coords.items() if v.dims == ("unit",)}
    return xr.Dataset(variables, coords=coords, attrs=attrs)
