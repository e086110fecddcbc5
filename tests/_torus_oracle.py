"""Brute-force torus distances: the oracle of the torus tests."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial.distance import cdist


def brute_force(a: np.ndarray, b: np.ndarray, period: tuple[float, float]) -> np.ndarray:
    """Shortest distance from each of ``a`` (m, 2) to each of ``b`` (n, 2) over the nine copies of ``b``
    shifted by -1, 0, +1 periods per axis -> (m, n)."""
    copies = [cdist(a, b + np.array([i * period[0], j * period[1]])) for i, j in itertools.product((-1, 0, 1), repeat=2)]
    return np.min(copies, axis=0)
