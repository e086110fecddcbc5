"""Small statistics used across figures: correlations, their comparison, Pareto fronts.

Kept in the analysis layer so that figures only draw what is computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["compare_dimensionality", "fisher_z_test", "pareto_front", "pearson"]


def _vector(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ToposcopeError(f"{name} must be 1-D (one value per model), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ToposcopeError(f"{name} holds NaN or inf; drop those models first")
    return array


def pearson(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Pearson correlation and its two-sided p-value (``scipy.stats.pearsonr``).

    Parameters
    ----------
    x, y : sequence of float, shape (n,)
        Paired values, ``n >= 3``.

    Returns
    -------
    (r, p) : tuple of float
    """
    from scipy.stats import pearsonr

    x, y = _vector("x", x), _vector("y", y)
    if len(x) != len(y):
        raise ToposcopeError(f"x and y must pair up, got {len(x)} and {len(y)} values")
    if len(x) < 3:
        raise ToposcopeError(f"a correlation needs at least 3 pairs, got {len(x)}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise ToposcopeError("a correlation needs values that vary; one of the inputs is constant")
    result = pearsonr(x, y)
    return float(result.statistic), float(result.pvalue)


def fisher_z_test(
    r1: float, r2: float, n1: int, n2: int | None = None, *, r12: float | None = None
) -> tuple[float, float]:
    """Test whether two Pearson correlations differ, on Fisher's ``z = atanh(r)``.

    Independent samples (default; the usual Fisher z test for two correlations):
    ``Z = (z1 - z2) / sqrt(1 / (n1 - 3) + 1 / (n2 - 3))``.

    Dependent, overlapping correlations (``r12`` given): ``r1 = r(a, b)`` and
    ``r2 = r(a, c)`` measured on the same ``n1`` cases (e.g. dimensionality
    against smoothness and against performance over the same models), with
    ``r12 = r(b, c)``. Steiger (1980, Psychol. Bull. 87:245, eq. 15) with the
    pooled ``r = (r1 + r2) / 2``::

        psi = r12 * (1 - 2 r^2) - r^2 (1 - 2 r^2 - r12^2) / 2
        c   = psi / (1 - r^2)^2
        Z   = (z1 - z2) * sqrt(n1 - 3) / sqrt(2 - 2 c)

    Parameters
    ----------
    r1, r2 : float
        The correlations, in (-1, 1).
    n1, n2 : int
        Sample sizes (``n2`` defaults to ``n1``; ignored when ``r12`` is given).
    r12 : float, optional
        Correlation between the two non-shared variables.

    Returns
    -------
    (z, p) : tuple of float
        The statistic and its two-sided normal p-value.
    """
    from scipy.stats import norm

    for name, r in (("r1", r1), ("r2", r2)) + ((("r12", r12),) if r12 is not None else ()):
        if not -1 < float(r) < 1:
            raise ToposcopeError(f"{name} must be a correlation strictly between -1 and 1, got {r!r}")
    n2 = n1 if n2 is None else n2
    if min(n1, n2) < 4:
        raise ToposcopeError(f"Fisher's z needs at least 4 cases per correlation, got {min(n1, n2)}")
    difference = np.arctanh(r1) - np.arctanh(r2)
    if r12 is None:
        z = difference / np.sqrt(1.0 / (n1 - 3) + 1.0 / (n2 - 3))
    else:
        pooled = (r1 + r2) / 2.0
        psi = r12 * (1 - 2 * pooled**2) - 0.5 * pooled**2 * (1 - 2 * pooled**2 - r12**2)
        c = psi / (1 - pooled**2) ** 2
        z = difference * np.sqrt(n1 - 3) / np.sqrt(2 - 2 * c)
    return float(z), float(2 * norm.sf(abs(z)))


def compare_dimensionality(
    dimensionality: Sequence[float],
    smoothness: Sequence[float],
    performance: Sequence[float],
    *,
    dependent: bool = False,
) -> dict[str, Any]:
    """Correlate effective dimensionality with smoothness and with performance, and compare.

    TopoNets' Fig. 3 question: does dimensionality follow topography more than
    task performance? Both correlations are taken over the same models.

    Parameters
    ----------
    dimensionality, smoothness, performance : sequence of float, shape (n_models,)
    dependent : bool
        Use Steiger's test for correlations sharing a variable (with
        ``r12 = r(smoothness, performance)``) instead of the independent Fisher z.

    Returns
    -------
    dict
        ``r_smoothness``, ``p_smoothness``, ``r_performance``, ``p_performance``
        (Pearson), ``z`` and ``p`` of the comparison (positive ``z``: ED
        correlates more with smoothness), and ``test`` (its name).
    """
    ed = _vector("dimensionality", dimensionality)
    sm = _vector("smoothness", smoothness)
    perf = _vector("performance", performance)
    if not len(ed) == len(sm) == len(perf):
        raise ToposcopeError(
            "dimensionality, smoothness and performance need one value per model, "
            f"got {len(ed)}, {len(sm)} and {len(perf)}"
        )
    r_smooth, p_smooth = pearson(sm, ed)
    r_perf, p_perf = pearson(perf, ed)
    r12 = pearson(sm, perf)[0] if dependent else None
    z, p = fisher_z_test(r_smooth, r_perf, len(ed), len(ed), r12=r12)
    return {"r_smoothness": r_smooth, "p_smoothness": p_smooth, "r_performance": r_perf,
            "p_performance": p_perf, "z": z, "p": p, "test": "Steiger's z" if dependent else "Fisher z"}


def pareto_front(x: Sequence[float], y: Sequence[float], maximize: tuple[bool, bool] = (True, True)) -> np.ndarray:
    """Indices of the points no other point dominates, ordered by ``x``.

    A point dominates another if it is at least as good on both axes and
    strictly better on one (better = larger when ``maximize``, else smaller).
    Duplicated optimal points are all kept.

    Parameters
    ----------
    x, y : sequence of float, shape (n,)
        E.g. smoothness and task performance of each model.
    maximize : (bool, bool)
        Direction of preference on each axis.

    Returns
    -------
    ndarray of int, shape (n_front,)
    """
    x, y = _vector("x", x), _vector("y", y)
    if len(x) != len(y):
        raise ToposcopeError(f"x and y must pair up, got {len(x)} and {len(y)} values")
    gx = x if maximize[0] else -x
    gy = y if maximize[1] else -y
    at_least = (gx[None, :] >= gx[:, None]) & (gy[None, :] >= gy[:, None])
    better = (gx[None, :] > gx[:, None]) | (gy[None, :] > gy[:, None])
    dominated = np.any(at_least & better, axis=1)
    front = np.flatnonzero(~dominated)
    return front[np.argsort(x[front], kind="stable")]
