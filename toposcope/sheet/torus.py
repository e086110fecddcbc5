"""Sheets that wrap around: distances on a torus, and how a result says its sheet wraps.

Topoformer lays each layer's units on a square grid whose edges meet (a torus):
its locality masks and its topographic index measure distance with wrap-around,
``dx -> 1 - dx`` wherever ``dx > 1/2`` of the side (``Constraints.wrap`` in
``topoformer/models/constraints.py``). A torus sheet here is a
:class:`~toposcope.sheet.geometry.CorticalSheet` with ``period=(px, py)``: the
sheet repeats every ``px`` sheet units along ``x`` and ``py`` along ``y``.

Responses and maps carry the period as two unit coords, :data:`WRAP_COORDS`
(``wrap_x``, ``wrap_y``), written by :meth:`CorticalSheet.unit_coords` on torus
sheets only; unit coords survive the selections and reductions that turn
responses into maps, where a DataArray's attrs would not. Analyses read them with
:func:`sheet_period` and measure with :func:`wrapped_distances`; flat sheets have
no such coords and keep plain Euclidean distances.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = [
    "WRAP_COORDS",
    "check_period",
    "fold",
    "offset_distances",
    "sheet_period",
    "square_side",
    "torus_diameter",
    "torus_distance_range",
    "wrapped_distances",
]

#: Unit coords that say a sheet wraps: its period along x and along y (sheet units).
WRAP_COORDS = ("wrap_x", "wrap_y")


def check_period(period: Any, what: str = "period") -> tuple[float, float]:
    """``(px, py)`` from one number or a pair; both positive and finite."""
    if isinstance(period, (int, float, np.integer, np.floating)) and not isinstance(period, bool):
        period = (period, period)
    try:
        px, py = (float(p) for p in period)
    except (TypeError, ValueError):
        raise ToposcopeError(f"{what} must be a positive number or a pair (px, py), got {period!r}") from None
    if not (math.isfinite(px) and math.isfinite(py) and px > 0 and py > 0):
        raise ToposcopeError(f"{what} must be positive and finite, got {period!r}")
    return px, py


def fold(delta: np.ndarray, period: float) -> np.ndarray:
    """Absolute coordinate differences folded onto ``[0, period / 2]`` (the shorter way round).

    ``|d| mod period`` and then ``min(d, period - d)``: for differences inside one
    period this is Topoformer's ``dx[dx > 0.5] = 1 - dx[dx > 0.5]`` on a unit
    side, value for value (both leave ``d <= period / 2`` untouched and give
    ``period - d`` above it).
    """
    d = np.abs(delta)
    if np.any(d >= period):
        d = np.mod(d, period)
    return np.minimum(d, period - d)


def wrapped_distances(a: np.ndarray, b: np.ndarray, period: Any) -> np.ndarray:
    """Distances on a torus between positions ``a`` (m, 2) and ``b`` (n, 2) -> (m, n).

    Parameters
    ----------
    a, b : ndarray, shapes (m, 2) and (n, 2)
        Sheet positions ``(x, y)``.
    period : float or (px, py)
        The torus repeats every ``px`` along x and ``py`` along y.

    Returns
    -------
    ndarray, shape (m, n), float64
        ``sqrt(fold(dx)**2 + fold(dy)**2)``: the shortest distance between the two
        points over all shifted copies of the sheet.
    """
    px, py = check_period(period)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = fold(np.subtract.outer(a[:, 0], b[:, 0]), px)
    d *= d
    dy = fold(np.subtract.outer(a[:, 1], b[:, 1]), py)
    dy *= dy
    d += dy
    return np.sqrt(d, out=d)


def offset_distances(dx: np.ndarray, dy: np.ndarray, period: Any = None) -> np.ndarray:
    """Distances from coordinate offsets ``dx``, ``dy`` (same shape), folded onto a torus when it wraps.

    Parameters
    ----------
    dx, dy : ndarray, same shape
        Offsets ``x_i - x_j`` and ``y_i - y_j`` of pairs of units (sheet units).
    period : float or (px, py), optional
        The torus period; ``None`` (a flat sheet) gives plain Euclidean distances.

    Returns
    -------
    ndarray, float64, the shape of ``dx``
        ``sqrt(dx**2 + dy**2)`` with, on a torus, each offset first folded the
        shorter way round (:func:`fold`). The arithmetic is that of
        :func:`wrapped_distances` (flat: of ``scipy.spatial.distance.pdist``),
        step for step, so a distance binned from its offset falls in the same bin
        as the distance between the two positions.
    """
    dx = np.asarray(dx, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    if period is None:
        d = dx * dx
        d += dy * dy
        return np.sqrt(d, out=d)
    px, py = check_period(period)
    d = fold(dx, px)
    d *= d
    fy = fold(dy, py)
    fy *= fy
    d += fy
    return np.sqrt(d, out=d)


def _largest_fold(values: np.ndarray, period: float) -> float:
    """The largest folded difference between two of ``values`` (n,) on a circle of ``period``.

    Each value's farthest partner sits next to the point diametrically opposite
    it, so a sorted search gives the answer in ``n log n`` rather than ``n**2``.
    """
    circle = np.unique(np.mod(values, period))
    if len(circle) < 2:
        return 0.0
    opposite = np.mod(circle + period / 2, period)
    after = np.searchsorted(circle, opposite) % len(circle)
    before = (after - 1) % len(circle)
    gaps = np.maximum(fold(circle - circle[after], period), fold(circle - circle[before], period))
    return float(gaps.max())


def torus_distance_range(positions: np.ndarray, period: Any) -> tuple[float, float]:
    """Shortest and (a tight bound on the) longest wrapped distance between two of ``positions``.

    Parameters
    ----------
    positions : ndarray, shape (n, 2)
        Sheet positions ``(x, y)`` of a torus sheet.
    period : float or (px, py)

    Returns
    -------
    (shortest, longest) : tuple of float
        ``shortest``: the smallest wrapped distance between two units, recomputed
        for its pair with :func:`wrapped_distances`, so a bin edge placed on it
        holds that pair exactly (0 for coincident units). ``longest``:
        ``hypot(gx, gy)`` with ``gx``, ``gy`` the largest folded gap along each
        axis, which no pair exceeds; on a grid (every ``x`` with every ``y``) a
        pair reaches it, and it is never beyond :func:`torus_diameter`. An odd
        ``s x s`` grid of period ``s`` reaches ``(s - 1) / 2`` along an axis, not
        ``s / 2``, so its bins end where its pairs do.
    """
    xy = np.asarray(positions, dtype=np.float64)
    if len(xy) < 2:
        return 0.0, 0.0
    px, py = check_period(period)
    from scipy.spatial import cKDTree

    # cKDTree measures periodically (boxsize) for points inside [0, boxsize).
    inside = np.mod(xy - xy.min(axis=0), (px, py))
    inside[inside >= (px, py)] = 0.0  # mod can round up to the period itself
    gaps, nearest = cKDTree(inside, boxsize=(px, py)).query(inside, k=2)
    i = int(np.argmin(gaps[:, 1]))
    j = int(nearest[i, 1])
    shortest = float(wrapped_distances(xy[i:i + 1], xy[j:j + 1], (px, py))[0, 0])
    longest = float(np.hypot(_largest_fold(xy[:, 0], px), _largest_fold(xy[:, 1], py)))
    return shortest, longest


def torus_diameter(period: Any) -> float:
    """The largest distance on a torus of ``period``: half of each side, ``hypot(px / 2, py / 2)``."""
    px, py = check_period(period)
    return float(np.hypot(px / 2, py / 2))


def square_side(n_units: Any, what: str = "hidden size") -> int:
    """The side ``s`` of the ``s x s`` grid of ``n_units``; a number that is not a square raises."""
    if isinstance(n_units, bool) or not isinstance(n_units, (int, np.integer)) or n_units < 1:
        raise ToposcopeError(f"{what} must be a positive integer, got {n_units!r}")
    side = math.isqrt(int(n_units))
    if side * side != n_units:
        below, above = side * side, (side + 1) ** 2
        raise ToposcopeError(
            f"{what} {n_units} is not a square, so its units cannot tile a square torus; "
            f"use a square such as {below} ({side} x {side}) or {above} ({side + 1} x {side + 1})"
        )
    return side


def sheet_period(values: Any, what: str = "responses") -> tuple[float, float] | None:
    """The torus period a responses array or map carries, or ``None`` for a flat sheet.

    Parameters
    ----------
    values : xr.DataArray or xr.Dataset
        With a ``unit`` dim; a torus sheet's units carry :data:`WRAP_COORDS`.
    what : str
        How the input is named in error messages.

    Returns
    -------
    (px, py) or None

    Raises
    ------
    ToposcopeError
        Only one of the two coords, or periods that differ between units (units
        of several sheets: analyse one layer at a time).
    """
    coords = getattr(values, "coords", {})
    present = [name for name in WRAP_COORDS if name in coords]
    if not present:
        return None
    if len(present) == 1:
        raise ToposcopeError(
            f"{what} carry unit coord {present[0]!r} but not {'wrap_y' if present[0] == 'wrap_x' else 'wrap_x'}; "
            "a torus sheet needs both (keep the unit coords that toposcope.extract attaches)"
        )
    out = []
    for name in WRAP_COORDS:
        column = np.unique(np.asarray(coords[name].values, dtype=np.float64).ravel())
        if len(column) != 1:
            raise ToposcopeError(
                f"{what} hold units with different torus periods ({name} takes {len(column)} values): "
                "units of several sheets; analyse one layer at a time"
            )
        out.append(float(column[0]))
    return check_period(tuple(out), what=f"the torus period of {what}")
