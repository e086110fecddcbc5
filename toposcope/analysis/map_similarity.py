"""How alike two maps on one cortical sheet are: SSIM and Pearson r.

TopoNets reports the structural similarity (SSIM) between selectivity maps
(face-scene -0.41, face-body 0.79, size-animacy 0.46 for TopoNet-ResNet-18,
tau 10). SSIM needs an image: units that fill a complete lattice (TopoLoss
grids, channel-by-space layouts) are the image as they are; scattered
positions (TDANN / TopoLM millimetres) are first interpolated onto a regular
grid with :func:`scipy.interpolate.griddata` (linear inside the convex hull,
nearest outside it). Pearson r pairs the units themselves, so it needs no grid.

Both maps must be on the same sheet: the same units at the same positions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option
from toposcope.analysis._responses import check_map

__all__ = [
    "check_same_sheet",
    "compare_maps",
    "grid_axes",
    "gridded",
    "pearson",
    "similarity_matrix",
    "ssim",
    "to_grid",
]

#: Longest side of an interpolated grid, to bound memory for huge scattered sheets.
MAX_GRID_SIDE = 512


def check_same_sheet(
    a: Any, b: Any, names: tuple[str, str] = ("map a", "map b")
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values of two maps and their shared positions; maps on different sheets are an error.

    Returns
    -------
    values_a, values_b : ndarray, shape (n_units,)
    positions : ndarray, shape (n_units, 2)
    """
    va, xya = check_map(a, what=names[0])
    vb, xyb = check_map(b, what=names[1])
    layers = [_layer(m) for m in (a, b)]
    if len(va) != len(vb) or not np.allclose(xya, xyb) or (None not in layers and layers[0] != layers[1]):
        raise ToposcopeError(
            f"{names[0]} ({_describe(a)}) and {names[1]} ({_describe(b)}) are on different sheets; "
            "compare maps of one layer (same units at the same positions)"
        )
    return va, vb, xya


def _layer(values: xr.DataArray) -> str | None:
    if "layer" not in values.coords:
        return None
    layers = np.unique(np.asarray(values["layer"].values).astype(str))
    return ",".join(layers)


def _describe(values: xr.DataArray) -> str:
    layer = _layer(values)
    return f"{values.sizes['unit']} units" + (f" of layer {layer!r}" if layer else "")


def to_grid(values: np.ndarray, positions: np.ndarray, resolution: float | None = None) -> np.ndarray:
    """A map as an image, rows along ``y`` and columns along ``x``.

    Parameters
    ----------
    values : ndarray, shape (n_units,)
    positions : ndarray, shape (n_units, 2)
        ``x``, ``y`` of each unit.
    resolution : float, optional
        Pixel size in sheet units for scattered positions; the median distance
        from a unit to its nearest neighbour by default (about one unit per pixel).

    Returns
    -------
    ndarray, shape (n_rows, n_cols), float64
        For units filling a complete lattice (``n_x * n_y == n_units``, every
        position once), exactly the values; otherwise the interpolated map.
    """
    return gridded(values, positions, resolution)[0]


def gridded(
    values: np.ndarray, positions: np.ndarray, resolution: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`to_grid`, also returning the pixel centres.

    Returns
    -------
    image : ndarray, shape (n_rows, n_cols)
    gx : ndarray, shape (n_cols,)
        ``x`` of each column.
    gy : ndarray, shape (n_rows,)
        ``y`` of each row.
    """
    image = _lattice(values, positions)
    if image is not None:
        return image, np.unique(positions[:, 0]), np.unique(positions[:, 1])
    gx, gy = grid_axes(positions, resolution)
    return _interpolate(values, positions, gx, gy), gx, gy


def _lattice(values: np.ndarray, positions: np.ndarray) -> np.ndarray | None:
    xs, col = np.unique(positions[:, 0], return_inverse=True)
    ys, row = np.unique(positions[:, 1], return_inverse=True)
    if len(xs) * len(ys) != len(values):
        return None
    image = np.full((len(ys), len(xs)), np.nan)
    image[row.ravel(), col.ravel()] = values
    return None if np.isnan(image).any() else image


def grid_axes(positions: np.ndarray, resolution: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(gx, gy)`` of the grid :func:`to_grid` uses for scattered units."""
    from scipy.spatial import cKDTree

    low, high = positions.min(0), positions.max(0)
    if resolution is None:
        distances, _ = cKDTree(positions).query(positions, k=2)
        resolution = float(np.median(distances[:, 1]))
    if not np.isfinite(resolution) or resolution <= 0:
        raise ToposcopeError("units share positions, so the sheet has no pixel size; pass resolution=")
    resolution = max(resolution, float((high - low).max()) / (MAX_GRID_SIDE - 1))
    gx = np.arange(low[0], high[0] + resolution / 2, resolution)
    gy = np.arange(low[1], high[1] + resolution / 2, resolution)
    return gx, gy


def _interpolate(values: np.ndarray, positions: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    from scipy.interpolate import griddata

    mesh = np.meshgrid(gx, gy)
    image = griddata(positions, values, tuple(mesh), method="linear")
    outside = np.isnan(image)
    if outside.any():  # corners outside the convex hull: nearest unit, not a hole
        image[outside] = griddata(positions, values, (mesh[0][outside], mesh[1][outside]), method="nearest")
    return image


def ssim(
    a: xr.DataArray,
    b: xr.DataArray,
    *,
    win_size: int | None = None,
    data_range: float | None = None,
    gaussian_weights: bool = False,
    resolution: float | None = None,
) -> float:
    """Mean structural similarity of two maps on one sheet (scikit-image).

    Parameters
    ----------
    a, b : xr.DataArray, dims (unit,)
        Maps with unit coords ``x``, ``y`` on the same sheet.
    win_size : int, optional
        Side of the sliding window (odd); scikit-image's default (7, or 11 with
        Gaussian weights) shrunk to the largest odd size that fits a small grid.
    data_range : float, optional
        Range of the values; by default ``max - min`` over both maps together, so
        the two maps are measured on one scale.
    gaussian_weights : bool
        Gaussian (sigma 1.5) instead of uniform window weights.
    resolution : float, optional
        Pixel size for scattered positions (see :func:`to_grid`).

    Returns
    -------
    float
        In [-1, 1]; 1 for identical maps.
    """
    from skimage.metrics import structural_similarity

    va, vb, xy = check_same_sheet(a, b)
    image_a = to_grid(va, xy, resolution)
    image_b = to_grid(vb, xy, resolution)
    side = min(image_a.shape)
    if win_size is None:
        win_size = 11 if gaussian_weights else 7  # scikit-image's defaults (sigma 1.5, truncate 3.5)
    window = min(win_size, side if side % 2 else side - 1)
    if window < 3:
        raise ToposcopeError(
            f"the sheet grid is {image_a.shape[0]}x{image_a.shape[1]}; SSIM needs at least 3x3 "
            "(use pearson() for such narrow sheets)"
        )
    if data_range is None:
        data_range = float(max(image_a.max(), image_b.max()) - min(image_a.min(), image_b.min()))
        if data_range == 0:
            return 1.0  # two identical constant maps
    return float(structural_similarity(image_a, image_b, win_size=window, data_range=data_range,
                                       gaussian_weights=gaussian_weights))


def pearson(a: xr.DataArray, b: xr.DataArray) -> float:
    """Pearson r between two maps on one sheet, unit by unit.

    Returns
    -------
    float
        In [-1, 1]. A constant map has no correlation: an error.
    """
    va, vb, _ = check_same_sheet(a, b)
    for name, v in (("map a", va), ("map b", vb)):
        if np.ptp(v) == 0:
            raise ToposcopeError(f"{name} is constant, so its correlation is undefined; compare varying maps")
    return float(np.corrcoef(va, vb)[0, 1])


def compare_maps(a: xr.DataArray, b: xr.DataArray, **ssim_options: Any) -> dict[str, float]:
    """``{"ssim": ..., "pearson": ...}`` for two maps on one sheet."""
    return {"ssim": ssim(a, b, **ssim_options), "pearson": pearson(a, b)}


def similarity_matrix(
    maps: xr.DataArray, method: str = "ssim", dim: str = "contrast", **options: Any
) -> xr.DataArray:
    """Similarity of every pair of maps along ``dim`` (e.g. the contrasts of a t-map set).

    Parameters
    ----------
    maps : xr.DataArray, dims (dim, unit)
        From :func:`toposcope.analysis.selectivity.tmaps`, one layer.
    method : {"ssim", "pearson"}
    dim : str
        The dim enumerating the maps.

    Returns
    -------
    xr.DataArray, dims (dim + "_a", dim + "_b"), float64
        Symmetric; 1 on the diagonal.
    """
    check_option("method", method, ("ssim", "pearson"))
    if not isinstance(maps, xr.DataArray) or set(maps.dims) != {dim, "unit"}:
        got = maps.dims if isinstance(maps, xr.DataArray) else type(maps).__name__
        raise ToposcopeError(f"maps must be a DataArray with dims ({dim!r}, 'unit'), got {got}")
    function = ssim if method == "ssim" else pearson
    labels = [str(v) for v in maps[dim].values] if dim in maps.coords else list(map(str, range(maps.sizes[dim])))
    n = len(labels)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            first, second = maps.isel({dim: i}, drop=True), maps.isel({dim: j}, drop=True)
            out[i, j] = out[j, i] = function(first, second, **options)
    return xr.DataArray(out, dims=(f"{dim}_a", f"{dim}_b"), coords={f"{dim}_a": labels, f"{dim}_b": labels},
                        name=method, attrs={"method": method})
