"""Selective patches on the sheet, and the fraction of selective units.

A patch (TDANN, TopoNets) is a connected region where the selectivity map,
smoothed on the sheet with a Gaussian whose sigma is in sheet units, exceeds a
threshold. The map is put on a grid first (units themselves on lattice sheets,
an interpolated grid for scattered positions; see
:func:`toposcope.analysis.map_similarity.gridded`), smoothed with
:func:`scipy.ndimage.gaussian_filter`, thresholded, and split into connected
components with :func:`skimage.measure.label` (8-connectivity).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option
from toposcope.analysis._validate import check_map
from toposcope.analysis.map_similarity import gridded

__all__ = ["SELECTIVE_T", "find_patches", "selective_fraction", "smooth"]

#: Units with t above this are "selective" (TDANN's criterion).
SELECTIVE_T = 10.0


def _spacing(axis: np.ndarray) -> float:
    return float(np.median(np.diff(axis))) if len(axis) > 1 else 1.0


def smooth(
    tmap: xr.DataArray, sigma: float | None = None, resolution: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map on a grid, smoothed with a Gaussian of ``sigma`` sheet units.

    Parameters
    ----------
    tmap : xr.DataArray, dims (unit,)
        With unit coords ``x``, ``y``.
    sigma : float, optional
        Gaussian standard deviation in sheet units (grid steps or mm); twice the
        grid spacing by default. 0 leaves the map as it is.
    resolution : float, optional
        Pixel size for scattered positions.

    Returns
    -------
    image : ndarray, shape (n_rows, n_cols)
    gx, gy : ndarray, shapes (n_cols,) and (n_rows,)
        Sheet ``x`` of each column and ``y`` of each row.
    """
    from scipy.ndimage import gaussian_filter

    values, xy = check_map(tmap, what="map")
    image, gx, gy = gridded(values, xy, resolution)
    dx, dy = _spacing(gx), _spacing(gy)
    if sigma is None:
        sigma = 2.0 * max(dx, dy)
    if not np.isfinite(sigma) or sigma < 0:
        raise ToposcopeError(f"sigma must be a non-negative number of sheet units, got {sigma!r}")
    if sigma > 0:
        # Edges repeat the border so that a patch at the sheet's edge is not diluted.
        image = gaussian_filter(image, sigma=(sigma / dy, sigma / dx), mode="nearest")
    return image, gx, gy


def find_patches(
    tmap: xr.DataArray,
    *,
    threshold: float = SELECTIVE_T,
    sigma: float | None = None,
    min_area: float = 0.0,
    sign: str = "positive",
    resolution: float | None = None,
) -> xr.Dataset:
    """Connected regions of the smoothed map above ``threshold``.

    Parameters
    ----------
    tmap : xr.DataArray, dims (unit,)
        A selectivity map (e.g. ``tmaps(...).sel(contrast="faces")``) of one layer.
    threshold : float
        On the smoothed map (10 by default, as TDANN's selective units).
    sigma : float, optional
        Smoothing in sheet units (see :func:`smooth`).
    min_area : float
        Patches smaller than this (sheet units squared) are dropped.
    sign : {"positive", "negative"}
        Patches of high t (target-preferring) or of low t (``t < -threshold``,
        reference-preferring, e.g. small objects in ``big_vs_small``).
    resolution : float, optional
        Pixel size for scattered positions.

    Returns
    -------
    xr.Dataset
        dim ``patch`` (largest first): ``area`` (sheet units^2), ``centroid_x``,
        ``centroid_y``, ``peak_t`` (the most extreme unsmoothed t of the patch's
        units; the smoothed peak when no unit centre falls inside), ``n_units``;
        dim ``unit``: ``patch_id`` (1.. for units in a patch, 0 elsewhere) and
        ``smoothed`` (the smoothed map at each unit), unit coords kept.
        Attrs ``count``, ``threshold``, ``sigma``, ``sign``, ``fraction_in_patches``.
    """
    from skimage.measure import label

    check_option("sign", sign, ("positive", "negative"))
    values, xy = check_map(tmap, what="map")
    _check_one_layer(tmap)
    flip = 1.0 if sign == "positive" else -1.0
    image, gx, gy = smooth(tmap * flip, sigma, resolution)
    dx, dy = _spacing(gx), _spacing(gy)
    sigma_used = 2.0 * max(dx, dy) if sigma is None else float(sigma)
    labels = label(image > threshold, connectivity=2)

    # Each unit's pixel: the nearest grid cell to its position.
    col = _nearest_index(xy[:, 0], gx, dx)
    row = _nearest_index(xy[:, 1], gy, dy)
    unit_label = labels[row, col]

    n = int(labels.max())
    pixels = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    rows, cols = np.indices(labels.shape)
    sum_x = np.bincount(labels.ravel(), weights=gx[cols.ravel()], minlength=n + 1)[1:]
    sum_y = np.bincount(labels.ravel(), weights=gy[rows.ravel()], minlength=n + 1)[1:]
    area = pixels * dx * dy
    keep = np.nonzero(area >= min_area)[0]
    keep = keep[np.argsort(-area[keep], kind="stable")]

    patch_id = np.zeros(len(values), dtype=np.int64)
    peaks, counts = [], []
    for new, old in enumerate(keep, start=1):
        members = unit_label == old + 1
        patch_id[members] = new
        counts.append(int(members.sum()))
        if members.any():
            peaks.append(float(flip * (flip * values[members]).max()))
        else:
            peaks.append(float(flip * image[labels == old + 1].max()))
    smoothed_at_units = flip * image[row, col]
    unit_coords = {name: coord.variable for name, coord in tmap.coords.items() if coord.dims == ("unit",)}
    return xr.Dataset(
        {
            "area": ("patch", area[keep]),
            "centroid_x": ("patch", sum_x[keep] / pixels[keep]),
            "centroid_y": ("patch", sum_y[keep] / pixels[keep]),
            "peak_t": ("patch", np.asarray(peaks, dtype=np.float64)),
            "n_units": ("patch", np.asarray(counts, dtype=np.int64)),
            "patch_id": ("unit", patch_id),
            "smoothed": ("unit", smoothed_at_units.astype(np.float32)),
        },
        coords={"patch": np.arange(1, len(keep) + 1), **unit_coords},
        attrs={
            "count": len(keep),
            "threshold": float(threshold),
            "sigma": sigma_used,
            "sign": sign,
            "min_area": float(min_area),
            "fraction_in_patches": float((patch_id > 0).mean()),
        },
    )


def _nearest_index(values: np.ndarray, axis: np.ndarray, step: float) -> np.ndarray:
    """Index of the grid line nearest to each value (0 on a one-line axis)."""
    if len(axis) < 2:
        return np.zeros(len(values), dtype=np.int64)
    return np.clip(np.rint((values - axis[0]) / step).astype(np.int64), 0, len(axis) - 1)


def _check_one_layer(tmap: xr.DataArray) -> None:
    if "layer" in tmap.coords and len(np.unique(np.asarray(tmap["layer"].values).astype(str))) > 1:
        raise ToposcopeError(
            "the map holds units of several layers, which do not share a sheet; "
            "select one layer first, e.g. tmap.where(tmap.layer == NAME, drop=True)"
        )


def selective_fraction(tmaps: xr.DataArray, threshold: float = SELECTIVE_T) -> xr.DataArray:
    """Fraction of units with ``t > threshold``, per contrast and per layer.

    Parameters
    ----------
    tmaps : xr.DataArray, dims (contrast, unit) or (unit,)
        From :func:`toposcope.analysis.selectivity.tmaps`; several layers may be
        concatenated along ``unit`` (told apart by the ``layer`` coord).
    threshold : float
        10 by default (TDANN).

    Returns
    -------
    xr.DataArray, dims (contrast, layer), (layer,), (contrast,) or ()
        ``layer`` appears when the unit coord ``layer`` exists, in order of first appearance.
    """
    if not isinstance(tmaps, xr.DataArray) or "unit" not in tmaps.dims:
        got = tmaps.dims if isinstance(tmaps, xr.DataArray) else type(tmaps).__name__
        raise ToposcopeError(f"tmaps must be a DataArray with a 'unit' dim, got {got}")
    if not np.isfinite(threshold):
        raise ToposcopeError(f"threshold must be a finite number, got {threshold!r}")
    above = tmaps > threshold
    if "layer" not in tmaps.coords:
        return above.mean("unit").rename("selective_fraction").assign_attrs(threshold=float(threshold))
    layer = np.asarray(tmaps["layer"].values).astype(str)
    names = list(dict.fromkeys(layer.tolist()))
    parts = [above.isel(unit=np.nonzero(layer == name)[0]).mean("unit") for name in names]
    parts = [p.drop_vars([c for c in p.coords if "unit" in p[c].dims or c == "layer"], errors="ignore")
             for p in parts]
    out = xr.concat(parts, dim="layer").assign_coords(layer=names)
    if "contrast" in out.dims:
        out = out.transpose("contrast", "layer")
    return out.rename("selective_fraction").assign_attrs(threshold=float(threshold))
