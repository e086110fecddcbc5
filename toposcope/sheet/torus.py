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
    "sheet_period",
    "square_side",
    "torus_diameter",
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
