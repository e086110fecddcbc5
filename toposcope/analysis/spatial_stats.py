"""Spatial autocorrelation of a map on the cortical sheet: Moran's I.

TopoLM (epflneuroailab/topolm, ``eval/moran.py``) scores the clustering of a
selectivity map with Moran's I from ``esda``, on queen contiguity of its
28 x 28 sheet (``libpysal.weights.lat2W(28, 28, rook=False)``) with esda's
default row-standardised weights. :func:`morans_i` computes the same statistic
without those dependencies, on grid sheets (queen or rook contiguity) and on
scattered sheets (a distance band or k nearest neighbours):

.. math:: I = \\frac{n}{S_0} \\frac{z^\\top W z}{z^\\top z}, \\qquad z = x - \\bar x,
   \\qquad S_0 = \\sum_{ij} w_{ij}, \\qquad E[I] = -\\frac{1}{n - 1}

and a permutation p-value, ``(count + 1) / (permutations + 1)`` where
``count`` is the number of random relabellings of the map at least as extreme
as the observed ``I``.

On a sheet that wraps around (a torus, as Topoformer's; the map carries unit
coords ``wrap_x``, ``wrap_y``) neighbours wrap too: the first column's queen
neighbours include the last column's, and distance bands and nearest neighbours
are measured the shorter way round.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int, check_seed
from toposcope.analysis._responses import check_map
from toposcope.sheet.torus import check_period, sheet_period

__all__ = ["ADJACENCIES", "ALTERNATIVES", "TRANSFORMS", "morans_i", "weights"]

ADJACENCIES = ("queen", "rook", "distance", "knn")
TRANSFORMS = ("row", "binary")
ALTERNATIVES = ("two-sided", "greater", "less")

#: Grid positions may differ from whole multiples of the grid step by this
#: fraction of a step (positions stored as float32 in netCDF).
_GRID_TOL = 1e-4

#: Permutations evaluated together (memory: n_units x batch float64).
_BATCH = 128


def _grid_indices(
    positions: np.ndarray, adjacency: str, period: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Column and row index of each unit on its lattice, shape (n,) each, and the lattice's (rows, cols).

    On a torus the lattice has ``period / step`` cells along each axis, so that
    the last cell neighbours the first.
    """
    hint = "use adjacency='distance' (with distance=...) or adjacency='knn' for scattered positions"
    out, sizes = [], []
    for axis in (0, 1):
        values = positions[:, axis]
        unique = np.unique(values)
        step = np.diff(unique).min() if len(unique) > 1 else 1.0
        if period is not None and len(unique) == 1:
            step = period[axis]
        index = (values - unique[0]) / step
        if not np.allclose(index, np.round(index), rtol=0, atol=_GRID_TOL):
            raise ToposcopeError(f"adjacency={adjacency!r} needs units on a regular grid; {hint}")
        out.append(np.round(index).astype(np.int64))
        if period is None:
            sizes.append(int(out[-1].max()) + 1)
            continue
        cells = period[axis] / step
        if abs(cells - round(cells)) > _GRID_TOL * max(1.0, cells):
            raise ToposcopeError(
                f"adjacency={adjacency!r} on a torus needs the period ({period[axis]:g}) to be a whole number "
                f"of grid steps ({step:g}); {hint}"
            )
        sizes.append(round(cells))
    cols, rows = out
    if len(np.unique(rows * (cols.max() + 1) + cols)) < len(rows):
        raise ToposcopeError(f"adjacency={adjacency!r}: several units share a grid position; {hint}")
    return cols, rows, (sizes[1], sizes[0])


def _contiguity(
    positions: np.ndarray, adjacency: str, period: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rook or queen neighbour pairs ``(i, j)`` (both directions) on a grid, wrapped on a torus."""
    cols, rows, shape = _grid_indices(positions, adjacency, period)
    grid = np.full(shape, -1, dtype=np.int64)
    grid[rows, cols] = np.arange(len(rows))
    offsets = [(0, 1), (0, -1), (1, 0), (-1, 0)]
    if adjacency == "queen":
        offsets += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    src, dst = [], []
    for dr, dc in offsets:
        r, c = rows + dr, cols + dc
        if period is not None:
            r, c = r % shape[0], c % shape[1]
        inside = (r >= 0) & (r < grid.shape[0]) & (c >= 0) & (c < grid.shape[1])
        neighbour = np.full(len(rows), -1, dtype=np.int64)
        neighbour[inside] = grid[r[inside], c[inside]]
        # A unit is no neighbour of itself (a torus one cell wide along an axis).
        found = (neighbour >= 0) & (neighbour != np.arange(len(rows)))
        src.append(np.flatnonzero(found))
        dst.append(neighbour[found])
    return np.concatenate(src), np.concatenate(dst)


def weights(
    positions: np.ndarray,
    adjacency: str = "queen",
    *,
    distance: float | None = None,
    k: int = 8,
    transform: str = "row",
    period: Any = None,
) -> Any:
    """Spatial weights between units as a sparse matrix.

    Parameters
    ----------
    positions : ndarray, shape (n_units, 2)
        Sheet positions ``(x, y)``.
    adjacency : {"queen", "rook", "distance", "knn"}
        ``"queen"`` / ``"rook"``: the 8 / 4 adjacent cells of a regular grid
        (the grid step is read from the positions, per axis). ``"distance"``:
        every other unit within ``distance`` (inclusive). ``"knn"``: the ``k``
        nearest other units (not symmetric).
    distance : float
        The band for ``adjacency="distance"``.
    k : int
        Neighbours for ``adjacency="knn"``.
    transform : {"row", "binary"}
        ``"row"``: each unit's weights sum to 1 (esda's default, ``"r"``);
        units without neighbours keep a zero row. ``"binary"``: weights 1.
    period : float or (px, py), optional
        The sheet wraps around with this period (a torus): lattice neighbours
        wrap across the edges and distances are the shorter way round.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_units, n_units)
    """
    from scipy import sparse
    from scipy.spatial import cKDTree

    check_option("adjacency", adjacency, ADJACENCIES)
    check_option("transform", transform, TRANSFORMS)
    n = len(positions)
    tree_positions, boxsize = positions, None
    if period is not None:
        period = check_period(period, what="period")
        # cKDTree's periodic boxes want positions inside [0, period).
        tree_positions = np.mod(positions - positions.min(axis=0), period)
        boxsize = period
    if adjacency in ("queen", "rook"):
        src, dst = _contiguity(positions, adjacency, period)
    elif adjacency == "distance":
        if distance is None or not np.isfinite(distance) or distance <= 0:
            raise ToposcopeError(
                f"adjacency='distance' needs a positive distance=... (sheet units), got {distance!r}"
            )
        pairs = cKDTree(tree_positions, boxsize=boxsize).query_pairs(r=float(distance), output_type="ndarray")
        src = np.concatenate([pairs[:, 0], pairs[:, 1]])
        dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    else:
        check_positive_int("k", k)
        if k >= n:
            raise ToposcopeError(f"k must be below the number of units ({n}), got {k}")
        # One extra neighbour so that each unit can drop itself, wherever it sorts.
        _, found = cKDTree(tree_positions, boxsize=boxsize).query(tree_positions, k=k + 1)
        mine = found == np.arange(n)[:, None]
        mine[~mine.any(axis=1), -1] = True  # self not found (coincident units): drop the farthest
        src = np.repeat(np.arange(n), k)
        dst = found[~mine].reshape(n, k).ravel()
    matrix = sparse.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    if transform == "row":
        sums = np.asarray(matrix.sum(axis=1)).ravel()
        scale = np.divide(1.0, sums, out=np.zeros(n), where=sums > 0)
        matrix = sparse.diags(scale) @ matrix
    return matrix.tocsr()


def _as_map(values: Any) -> tuple[np.ndarray, np.ndarray, str | None, tuple[float, float] | None]:
    """Values, positions, name and torus period of a map given as a unit DataArray or a 2-D grid image."""
    if isinstance(values, xr.DataArray) and values.ndim == 1:
        data, positions = check_map(values, what="map")
        return data, positions, None if values.name is None else str(values.name), sheet_period(values, "map")
    image = np.asarray(values.values if isinstance(values, xr.DataArray) else values)
    if image.ndim != 2:
        raise ToposcopeError(
            f"map must be an xr.DataArray with dim 'unit' (and coords x, y) or a 2-D grid, got shape {image.shape}"
        )
    rows, cols = np.indices(image.shape)
    flat = xr.DataArray(image.ravel().astype(np.float64), dims="unit",
                        coords={"x": ("unit", cols.ravel()), "y": ("unit", rows.ravel())})
    data, positions = check_map(flat, what="map")
    return data, positions, None, None


def morans_i(
    values: Any,
    adjacency: str = "queen",
    *,
    distance: float | None = None,
    k: int = 8,
    transform: str = "row",
    permutations: int = 999,
    alternative: str = "two-sided",
    seed: int = 0,
) -> xr.Dataset:
    """Moran's I of a map on the sheet, with a permutation p-value.

    Parameters
    ----------
    values : xr.DataArray, dims (unit,), or 2-D array
        A per-unit map with unit coords ``x``, ``y`` (e.g. a selectivity
        t-map), or an image (h, w) whose pixels are units on a grid. A map
        whose units carry ``wrap_x``, ``wrap_y`` lies on a torus, and its
        neighbourhoods wrap around (see :func:`weights`).
    adjacency, distance, k, transform
        Neighbourhoods and weights; see :func:`weights`. TopoLM used
        ``adjacency="queen", transform="row"``.
    permutations : int
        Random relabellings of the map for the p-value (0 for none: ``p`` is NaN).
    alternative : {"two-sided", "greater", "less"}
        ``"greater"`` tests for clustering (I above E[I]), ``"less"`` for
        dispersion, ``"two-sided"`` counts permutations at least as far from
        E[I] as the observed I.
    seed : int
        Seeds the permutations.

    Returns
    -------
    xr.Dataset
        Scalars ``I``, ``expected_I`` (``-1 / (n - 1)``) and ``p``; attrs name
        the options, ``n_units``, ``n_islands`` (units without neighbours) and
        ``mean_neighbors``.

    Raises
    ------
    ToposcopeError
        Non-finite values, a constant map (I is undefined), an unknown option,
        positions off the grid for queen / rook.
    """
    check_option("alternative", alternative, ALTERNATIVES)
    check_seed(seed)
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 0:
        raise ToposcopeError(f"permutations must be a non-negative integer, got {permutations!r}")
    data, positions, name, period = _as_map(values)
    w = weights(positions, adjacency, distance=distance, k=k, transform=transform, period=period)
    z = data - data.mean()
    denominator = float(z @ z)
    if denominator <= 1e-24 * max(1.0, float(np.abs(data).max()) ** 2) * len(z):
        raise ToposcopeError("the map is constant, so Moran's I is undefined; check the map")
    n = len(z)
    s0 = float(w.sum())
    if s0 == 0:
        raise ToposcopeError(f"no unit has a neighbour under adjacency={adjacency!r}; widen the neighbourhood")
    scale = n / s0 / denominator
    observed = float(z @ (w @ z)) * scale
    expected = -1.0 / (n - 1)

    p = np.nan
    if permutations:
        rng = np.random.default_rng(seed)
        simulated = np.empty(permutations)
        for start in range(0, permutations, _BATCH):
            size = min(_BATCH, permutations - start)
            shuffled = rng.permuted(np.repeat(z[:, None], size, axis=1), axis=0)
            simulated[start:start + size] = np.einsum("ij,ij->j", shuffled, w @ shuffled) * scale
        tie = 1e-12 * max(1.0, abs(observed))  # count exact ties as extreme
        if alternative == "greater":
            count = np.sum(simulated >= observed - tie)
        elif alternative == "less":
            count = np.sum(simulated <= observed + tie)
        else:
            count = np.sum(np.abs(simulated - expected) >= abs(observed - expected) - tie)
        p = (int(count) + 1) / (permutations + 1)

    neighbours = np.diff(w.indptr)
    attrs: dict[str, Any] = {
        "adjacency": adjacency, "transform": transform, "permutations": int(permutations),
        "alternative": alternative, "seed": seed, "n_units": n,
        "n_islands": int(np.sum(neighbours == 0)), "mean_neighbors": float(neighbours.mean()),
    }
    if adjacency == "distance":
        attrs["distance"] = float(distance)
    if adjacency == "knn":
        attrs["k"] = int(k)
    if name is not None:
        attrs["map"] = name
    if period is not None:
        attrs["torus_period"] = list(period)
    return xr.Dataset({"I": observed, "expected_I": expected, "p": p}, attrs=attrs)
