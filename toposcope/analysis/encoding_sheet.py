"""Encoding-model weights read back onto the model's cortical sheet.

An encoding model maps every unit (at every delay) to every voxel. Because the
units of a topographic layer sit on a sheet, the weights say *where on the
sheet* a voxel's prediction comes from. The sheet is cut into a grid of
windows (:func:`sheet_windows`); per voxel,

- :func:`window_energy`: the share of its squared weights (summed over delays)
  that falls in each window (a fraction; the windows sum to 1);
- :func:`window_columns`: the design columns of one window's units, so a
  caller can refit the model on those units alone (how well a window
  predicts each voxel) or on all units but them (what it adds uniquely).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_positive_int

__all__ = ["sheet_windows", "unit_energy", "window_columns", "window_energy"]


def sheet_windows(x: Any, y: Any, n: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An ``n x n`` grid of windows over the sheet's extent, and each unit's window.

    Parameters
    ----------
    x, y : array, shape (n_units,)
        Unit positions on the sheet.
    n : int
        Windows per side.

    Returns
    -------
    labels : ndarray of int, shape (n_units,)
        Window of each unit, ``row * n + col`` (row along y, col along x).
    centre_x, centre_y : ndarray, shape (n * n,)
        Centre of each window.
    """
    check_positive_int("n", n)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ToposcopeError("unit x and y must be finite 1-D arrays of one length")
    edges_x = np.linspace(x.min(), x.max(), n + 1)
    edges_y = np.linspace(y.min(), y.max(), n + 1)
    col = np.clip(np.searchsorted(edges_x, x, side="right") - 1, 0, n - 1)
    row = np.clip(np.searchsorted(edges_y, y, side="right") - 1, 0, n - 1)
    mid_x = (edges_x[:-1] + edges_x[1:]) / 2
    mid_y = (edges_y[:-1] + edges_y[1:]) / 2
    return row * n + col, np.tile(mid_x, n), np.repeat(mid_y, n)


def unit_energy(weights: Any) -> np.ndarray:
    """Squared weights summed over delays.

    Parameters
    ----------
    weights : array, shape (n_delays, n_units, n_voxels)

    Returns
    -------
    ndarray, float64, shape (n_units, n_voxels)
    """
    values = np.asarray(weights, dtype=np.float64)
    if values.ndim != 3:
        raise ToposcopeError(f"weights must have dims (delay, unit, voxel), got shape {values.shape}")
    return np.einsum("duv,duv->uv", values, values)


def window_energy(weights: Any, labels: Any, n_windows: int) -> np.ndarray:
    """Each voxel's share of weight energy per sheet window.

    Parameters
    ----------
    weights : array, shape (n_delays, n_units, n_voxels)
    labels : array of int, shape (n_units,)
        From :func:`sheet_windows`.
    n_windows : int

    Returns
    -------
    ndarray, float64, shape (n_windows, n_voxels)
        Columns sum to 1 (0 for a voxel with all-zero weights).
    """
    energy = unit_energy(weights)
    labels = np.asarray(labels)
    if labels.shape != (energy.shape[0],):
        raise ToposcopeError(f"{labels.size} window labels for {energy.shape[0]} units")
    out = np.zeros((n_windows, energy.shape[1]))
    np.add.at(out, labels, energy)
    total = out.sum(axis=0, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


def window_columns(units: Any, n_units: int, n_delays: int) -> np.ndarray:
    """Design columns of some units at every delay (delay-major design: delay ``k``, unit ``u`` is ``k * n_units + u``)."""
    units = np.asarray(units, dtype=np.int64)
    return (np.arange(n_delays)[:, None] * n_units + units[None, :]).ravel()
