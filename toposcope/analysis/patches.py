"""Selective patches on the sheet, and the fraction of selective units.

A patch (TDANN, TopoNets) is a connected region (8-connectivity,
:func:`skimage.measure.label`) where the selectivity map, smoothed on the sheet
with a Gaussian whose sigma is in sheet units, exceeds a threshold. Two ways of
smoothing are offered:

Grid and filter (:func:`smooth`, :func:`find_patches`)
    The map is put on a grid first (the units themselves on lattice sheets, a
    linearly interpolated grid at about the units' spacing for scattered
    positions; see :func:`toposcope.analysis.map_similarity.gridded`), then
    filtered with :func:`scipy.ndimage.gaussian_filter` (edges repeat the
    border). Cheap for any number of units, exact on lattice sheets, and
    :func:`find_patches` reports centroids, peaks and negative patches too. The
    default for lattice sheets (TopoNets' grids) and for general analysis.
Kernel-weighted anchors (:func:`kernel_smooth`, :func:`tdann_patches`)
    TDANN's ``ITMap.find_patches`` (neuroailab/TDANN, ``spacetorch/maps/it_map.py``):
    at each of ``anchors x anchors`` points spanning the units' bounding box,
    the Gaussian-weighted mean of every unit's t. No interpolation: the value
    at an anchor is a local average of real units, normalised by the local
    weight, so sparse or uneven stretches of a scattered sheet are neither
    extrapolated nor diluted at the edge. Use it to reproduce TDANN's patch
    counts and areas (threshold 2, sigma 2.4 mm, 100-4,500 mm^2, at least 10
    units: :data:`TDANN_PATCH_THRESHOLD` and its siblings are the defaults).
    The kernel separates into x and y factors, so a map costs two matrix
    products with ``anchors x n_units`` weights.

The two agree in spirit, not in numbers: the grid filter smooths an
interpolated image (its smoothed peaks are lower where units are sparse), the
kernel mean averages the units directly.

On a sheet that wraps around (a torus, as Topoformer's; the map carries unit
coords ``wrap_x``, ``wrap_y``) both wrap: the grid filter smooths with
``mode="wrap"`` (the units must fill a lattice of one whole period), the kernel
anchors tile one period and weigh units the shorter way round, a patch that
crosses an edge is one patch, and its centroid is the circular mean.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int
from toposcope.analysis._responses import check_map
from toposcope.analysis.map_similarity import gridded
from toposcope.sheet.torus import fold, sheet_period

__all__ = [
    "SELECTIVE_T",
    "TDANN_PATCH_ANCHORS",
    "TDANN_PATCH_MAX_AREA",
    "TDANN_PATCH_MIN_AREA",
    "TDANN_PATCH_MIN_UNITS",
    "TDANN_PATCH_SIGMA",
    "TDANN_PATCH_THRESHOLD",
    "find_patches",
    "kernel_smooth",
    "selective_fraction",
    "smooth",
    "tdann_patches",
]

#: Units with t above this are "selective" (TDANN's criterion).
SELECTIVE_T = 10.0

#: TDANN's patch criteria (``ITMap.find_patches`` defaults): threshold on the
#: smoothed t, Gaussian sigma (sheet units, mm), area range (sheet units^2),
#: fewest member units, and anchors per side of the smoothing grid.
TDANN_PATCH_THRESHOLD = 2.0
TDANN_PATCH_SIGMA = 2.4
TDANN_PATCH_MIN_AREA = 100.0
TDANN_PATCH_MAX_AREA = 4500.0
TDANN_PATCH_MIN_UNITS = 10
TDANN_PATCH_ANCHORS = 100


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
    period = sheet_period(tmap, "map")
    image, gx, gy = gridded(values, xy, resolution)
    dx, dy = _spacing(gx), _spacing(gy)
    if period is not None:
        _check_torus_lattice(values, xy, gx, gy, period)
    if sigma is None:
        sigma = 2.0 * max(dx, dy)
    if not np.isfinite(sigma) or sigma < 0:
        raise ToposcopeError(f"sigma must be a non-negative number of sheet units, got {sigma!r}")
    if sigma > 0:
        # Edges repeat the border so that a patch at the sheet's edge is not diluted;
        # on a torus there is no edge: the far side is the neighbour.
        mode = "wrap" if period is not None else "nearest"
        image = gaussian_filter(image, sigma=(sigma / dy, sigma / dx), mode=mode)
    return image, gx, gy


def _check_torus_lattice(values: np.ndarray, xy: np.ndarray, gx: np.ndarray, gy: np.ndarray,
                         period: tuple[float, float]) -> None:
    """A torus map must fill a lattice of exactly one period for the grid filter to wrap."""
    lattice = len(gx) * len(gy) == len(values) and np.isin(xy[:, 0], gx).all() and np.isin(xy[:, 1], gy).all()
    whole = all(
        np.isclose(len(axis) * _spacing(axis), p, rtol=1e-6) for axis, p in ((gx, period[0]), (gy, period[1]))
    )
    if not (lattice and whole):
        raise ToposcopeError(
            f"the map's torus sheet (period {period[0]:g} x {period[1]:g}) is not a full lattice of one period, "
            "so the grid filter cannot wrap it; use tdann_patches (kernel smoothing) for scattered torus units"
        )


def _merge_across_edges(labels: np.ndarray) -> np.ndarray:
    """Labels of a torus image: regions that touch across an edge (8-connectivity) become one.

    Labels are renumbered 1.. in the order of their first pixel, as
    ``skimage.measure.label`` numbers them.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = int(labels.max())
    if n == 0:
        return labels
    pairs = []
    for shift in (-1, 0, 1):  # the pixel across the edge and its two diagonal neighbours
        pairs.append((labels[:, 0], np.roll(labels[:, -1], shift)))
        pairs.append((labels[0, :], np.roll(labels[-1, :], shift)))
    a = np.concatenate([p[0] for p in pairs])
    b = np.concatenate([p[1] for p in pairs])
    both = (a > 0) & (b > 0)
    graph = coo_matrix((np.ones(int(both.sum())), (a[both] - 1, b[both] - 1)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    # Renumber components by their first label, which skimage numbered by first pixel.
    first = {}
    for comp in component:
        first.setdefault(comp, len(first) + 1)
    lookup = np.zeros(n + 1, dtype=labels.dtype)
    lookup[1:] = [first[c] for c in component]
    return lookup[labels]


def _label(image: np.ndarray, torus: bool) -> np.ndarray:
    from skimage.measure import label

    labels = label(image, connectivity=2)
    return _merge_across_edges(labels) if torus else labels


def _centroid(axis_values: np.ndarray, labels: np.ndarray, n: int, pixels: np.ndarray,
              period: float | None) -> np.ndarray:
    """Mean position of each label's pixels; on a torus the circular mean, inside one period."""
    flat = labels.ravel()
    if period is None:
        return np.bincount(flat, weights=axis_values, minlength=n + 1)[1:] / pixels
    angle = 2 * np.pi * (axis_values - axis_values.min()) / period
    cos = np.bincount(flat, weights=np.cos(angle), minlength=n + 1)[1:]
    sin = np.bincount(flat, weights=np.sin(angle), minlength=n + 1)[1:]
    mean = np.mod(np.arctan2(sin, cos), 2 * np.pi) * period / (2 * np.pi)
    return axis_values.min() + mean


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
        Attrs ``count``, ``threshold``, ``sigma``, ``sign``, ``fraction_in_patches``
        (and ``torus_period`` on a torus, where a patch may cross the edges).
    """
    check_option("sign", sign, ("positive", "negative"))
    values, xy = check_map(tmap, what="map")
    _check_one_layer(tmap)
    period = sheet_period(tmap, "map")
    flip = 1.0 if sign == "positive" else -1.0
    image, gx, gy = smooth(tmap * flip, sigma, resolution)
    dx, dy = _spacing(gx), _spacing(gy)
    sigma_used = 2.0 * max(dx, dy) if sigma is None else float(sigma)
    labels = _label(image > threshold, torus=period is not None)

    # Each unit's pixel: the nearest grid cell to its position.
    col = _nearest_index(xy[:, 0], gx, dx)
    row = _nearest_index(xy[:, 1], gy, dy)
    unit_label = labels[row, col]

    n = int(labels.max())
    pixels = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    rows, cols = np.indices(labels.shape)
    safe = np.maximum(pixels, 1)
    centroid_x = _centroid(gx[cols.ravel()], labels, n, safe, None if period is None else period[0])
    centroid_y = _centroid(gy[rows.ravel()], labels, n, safe, None if period is None else period[1])
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
            "centroid_x": ("patch", centroid_x[keep]),
            "centroid_y": ("patch", centroid_y[keep]),
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
            **({} if period is None else {"torus_period": list(period)}),
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


# --------------------------------------------------------------------------- TDANN's kernel smoothing
def _maps(tmap: xr.DataArray, what: str = "tmap") -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """One map (unit,) or a stack (map, unit) as float64 rows, the positions and the leading dims.

    Returns
    -------
    values : ndarray, shape (n_maps, n_units)
    xy : ndarray, shape (n_units, 2)
    leading : tuple of str
        The dims before ``unit`` (empty for a single map).
    """
    if not isinstance(tmap, xr.DataArray) or "unit" not in tmap.dims or tmap.ndim > 2:
        got = tmap.dims if isinstance(tmap, xr.DataArray) else type(tmap).__name__
        raise ToposcopeError(
            f"{what} must be an xr.DataArray with dims (unit,) or (map, unit), e.g. (contrast, unit), got {got}"
        )
    leading = tuple(d for d in tmap.dims if d != "unit")
    if any(tmap.sizes[d] == 0 for d in leading):
        raise ToposcopeError(f"{what} holds no map (dim {leading[0]!r} is empty); pass at least one")
    # Positions, unit count and the first map checked as any single map.
    _, xy = check_map(tmap.isel({d: 0 for d in leading}), what=what)
    values = np.asarray(tmap.transpose(*leading, "unit").values, dtype=np.float64).reshape(-1, tmap.sizes["unit"])
    bad = ~np.isfinite(values)
    if bad.any():
        raise ToposcopeError(
            f"{what} holds {int(bad.sum())} NaN or inf values; drop those units first, e.g. {what}.dropna('unit')"
        )
    _check_one_layer(tmap)
    return values, xy, leading


def _check_kernel(sigma: float, anchors: int) -> None:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.number)) or not np.isfinite(sigma) \
            or sigma <= 0:
        raise ToposcopeError(f"sigma must be a positive number of sheet units, got {sigma!r}")
    check_positive_int("anchors", anchors)


def _anchor_axes(xy: np.ndarray, anchors: int,
                 period: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Anchors per axis: TDANN's span from the smallest to the largest position, or one torus period."""
    if period is None:
        return tuple(np.linspace(xy[:, k].min(), xy[:, k].max(), anchors) for k in (0, 1))
    # Evenly round the torus, the last anchor one step before the first again.
    return tuple(xy[:, k].min() + np.arange(anchors) * period[k] / anchors for k in (0, 1))


def _axis_offsets(grid: np.ndarray, coords: np.ndarray, period: float | None) -> np.ndarray:
    """Anchor-to-unit differences along one axis, (anchors, n_units); the shorter way round on a torus."""
    delta = grid[:, None] - coords[None, :]
    return delta if period is None else fold(delta, period)


def _kernel_mean(values: np.ndarray, xy: np.ndarray, sigma: float, anchors: int,
                 period: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel-weighted mean of each row of ``values`` at the anchors; shapes as :func:`kernel_smooth`."""
    gx, gy = _anchor_axes(xy, anchors, period)
    px, py = (None, None) if period is None else period
    # exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2 / 2s^2) * exp(-dy^2 / 2s^2): one factor per axis,
    # so the weighted sums over units at every (row, column) anchor are matrix products.
    wx = np.exp(-(_axis_offsets(gx, xy[:, 0], px) ** 2) / (2 * sigma**2))
    wy = np.exp(-(_axis_offsets(gy, xy[:, 1], py) ** 2) / (2 * sigma**2))
    total = wy @ wx.T
    smoothed = np.stack([(wy * row) @ wx.T for row in values]) / total
    return smoothed, gx, gy


def kernel_smooth(
    tmap: xr.DataArray, sigma: float = TDANN_PATCH_SIGMA, anchors: int = TDANN_PATCH_ANCHORS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TDANN's smoothed map: the Gaussian-weighted mean of the units' values at grid anchors.

    As ``ITMap.find_patches`` (neuroailab/TDANN): ``anchors`` points per axis
    from the smallest to the largest unit position, and at the anchor ``(gx[c], gy[r])``::

        smoothed[r, c] = sum_i w_i t_i / sum_i w_i,  w_i = exp(-|p_i - (gx[c], gy[r])|^2 / (2 sigma^2))

    Parameters
    ----------
    tmap : xr.DataArray, dims (unit,) or (map, unit)
        One map or a stack of maps on one sheet (e.g. a (contrast, unit) t-map
        of one layer), with unit coords ``x``, ``y``; finite values.
    sigma : float
        Gaussian standard deviation in sheet units (2.4 mm in TDANN).
    anchors : int
        Anchors per side of the grid (100 in TDANN).

    Returns
    -------
    smoothed : ndarray, shape (anchors, anchors) or (n_maps, anchors, anchors), float64
        Row ``r`` at ``gy[r]``, column ``c`` at ``gx[c]``; one image per map, in
        the order of ``tmap``'s leading dim.
    gx, gy : ndarray, shape (anchors,)
        Sheet ``x`` of each column and ``y`` of each row.

    On a torus sheet (unit coords ``wrap_x``, ``wrap_y``) the anchors tile one
    period, ``min + arange(anchors) * period / anchors`` per axis, and each
    weight uses the distance the shorter way round.

    Notes
    -----
    An anchor about 38 sigma or more from every unit has all its weights
    underflow to 0 and comes out NaN; on TDANN's dense sheets this never happens.
    """
    _check_kernel(sigma, anchors)
    values, xy, leading = _maps(tmap)
    smoothed, gx, gy = _kernel_mean(values, xy, float(sigma), anchors, sheet_period(tmap, "tmap"))
    return (smoothed if leading else smoothed[0]), gx, gy


def tdann_patches(
    tmap: xr.DataArray,
    *,
    threshold: float = TDANN_PATCH_THRESHOLD,
    sigma: float = TDANN_PATCH_SIGMA,
    min_area: float = TDANN_PATCH_MIN_AREA,
    max_area: float = TDANN_PATCH_MAX_AREA,
    min_units: int = TDANN_PATCH_MIN_UNITS,
    anchors: int = TDANN_PATCH_ANCHORS,
) -> xr.Dataset:
    """TDANN's patches of each map: regions of the kernel-smoothed map above ``threshold``.

    Connected regions (8-connectivity, as ``skimage.measure.label``) of
    :func:`kernel_smooth`'s image above ``threshold``, kept when their area
    (anchor cells times the cell's area) lies in ``[min_area, max_area]`` and at
    least ``min_units`` units fall in them. A unit belongs to the region of its
    nearest anchor. (TDANN measures the area on a concave hull of the member
    units and takes the units within 1 mm of the region; counting cells is the
    same region without the hull's fitting parameter.)

    Parameters
    ----------
    tmap : xr.DataArray, dims (unit,) or (map, unit)
        One layer's map or stack of maps (e.g. ``tmaps(...)`` (contrast, unit)),
        with unit coords ``x``, ``y``; finite values.
    threshold : float
        On the smoothed map (t = 2 in TDANN).
    sigma : float
        Smoothing in sheet units (see :func:`kernel_smooth`).
    min_area, max_area : float
        Kept areas, sheet units^2 (TDANN: 100 to 4,500 mm^2).
    min_units : int
        Fewest member units of a kept patch (TDANN: 10).
    anchors : int
        Anchors per side of the smoothing grid.

    Returns
    -------
    xr.Dataset
        ``patch_id`` (dims of ``tmap``, int32): patch number of each unit, 1, 2,
        ... largest first per map, 0 outside; ``count`` (leading dim, int64);
        ``mean_area`` (leading dim; NaN without patches); ``area`` and
        ``n_units`` (leading dim, ``patch``): each kept patch's area and member
        units, largest first, padded with NaN and 0 where a map has fewer
        patches. Coords of ``tmap`` kept, ``patch`` numbered from 1. Attrs: the
        parameters and ``cell_area``.
    """
    _check_kernel(sigma, anchors)
    for name, value in (("threshold", threshold), ("min_area", min_area), ("max_area", max_area)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or np.isnan(value):
            raise ToposcopeError(f"{name} must be a number, got {value!r}")
    if min_area > max_area:
        raise ToposcopeError(f"min_area ({min_area!r}) is above max_area ({max_area!r}); swap them")
    if isinstance(min_units, bool) or not isinstance(min_units, (int, np.integer)) or min_units < 0:
        raise ToposcopeError(f"min_units must be a non-negative integer, got {min_units!r}")
    values, xy, leading = _maps(tmap)
    period = sheet_period(tmap, "tmap")
    smoothed, gx, gy = _kernel_mean(values, xy, float(sigma), anchors, period)
    if period is None:
        cell = (gx[1] - gx[0] if len(gx) > 1 else 1.0) * (gy[1] - gy[0] if len(gy) > 1 else 1.0)
    else:
        cell = period[0] * period[1] / anchors**2
    px, py = (None, None) if period is None else period
    col = np.abs(_axis_offsets(gx, xy[:, 0], px)).argmin(0)
    row = np.abs(_axis_offsets(gy, xy[:, 1], py)).argmin(0)
    n_maps, n_units = values.shape
    counts, mean_areas = np.zeros(n_maps, dtype=np.int64), np.full(n_maps, np.nan)
    ids = np.zeros((n_maps, n_units), dtype=np.int32)
    areas, members_kept = [], []
    for k, image in enumerate(smoothed):
        labels = _label(image > threshold, torus=period is not None)
        unit_label = labels[row, col]
        pixels = np.bincount(labels.ravel())[1:]
        members = np.bincount(unit_label, minlength=len(pixels) + 1)[1:]
        area = pixels * cell
        kept = np.flatnonzero((area >= min_area) & (area <= max_area) & (members >= min_units))
        kept = kept[np.argsort(-area[kept], kind="stable")]
        for new, old in enumerate(kept, start=1):
            ids[k, unit_label == old + 1] = new
        counts[k] = len(kept)
        if len(kept):
            mean_areas[k] = float(area[kept].mean())
        areas.append(area[kept])
        members_kept.append(members[kept])
    width = int(counts.max())
    area_table = np.full((n_maps, width), np.nan)
    unit_table = np.zeros((n_maps, width), dtype=np.int64)
    for k, (area, members) in enumerate(zip(areas, members_kept)):
        area_table[k, : len(area)] = area
        unit_table[k, : len(members)] = members
    if not leading:
        ids, counts, mean_areas, area_table, unit_table = ids[0], counts[0], mean_areas[0], area_table[0], \
            unit_table[0]
    return xr.Dataset(
        {
            "patch_id": ((*leading, "unit"), ids),
            "count": (leading, counts),
            "mean_area": (leading, mean_areas),
            "area": ((*leading, "patch"), area_table),
            "n_units": ((*leading, "patch"), unit_table),
        },
        coords={**{name: coord.variable for name, coord in tmap.coords.items()}, "patch": np.arange(1, width + 1)},
        attrs={"method": "tdann_kernel", "threshold": float(threshold), "sigma": float(sigma),
               "min_area": float(min_area), "max_area": float(max_area), "min_units": int(min_units),
               "anchors": int(anchors), "cell_area": float(cell),
               **({} if period is None else {"torus_period": list(period)})},
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
