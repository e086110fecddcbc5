"""Figures of unit-to-voxel mappings: held-out r per voxel, per ROI, and on the model's sheet.

Reads the Dataset of :func:`toposcope.brain.nsd.map_units_to_voxels` (dim
``voxel``; ``r``, optional ``r_ceiling``, voxel coords ``roi``/``hemisphere``,
unit coords ``unit_x``/``unit_y``). Figures are built on
:class:`matplotlib.figure.Figure` directly, never through pyplot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["plot_voxel_r"]


def _groups(result: Any) -> list[tuple[str, np.ndarray]]:
    """(label, voxel mask) per ROI x hemisphere present: ROIs in order of appearance, lh before rh."""
    n = result.sizes["voxel"]
    def labels(name: str, default: str) -> np.ndarray:
        return np.asarray(result[name].values).astype(str) if name in result.coords else np.full(n, default)

    roi, hemi = labels("roi", "all"), labels("hemisphere", "")
    pairs = sorted(dict.fromkeys(zip(roi.tolist(), hemi.tolist())),
                   key=lambda pair: (list(dict.fromkeys(roi.tolist())).index(pair[0]), pair[1]))
    return [(f"{r} {h}".strip(), (roi == r) & (hemi == h)) for r, h in pairs]


def plot_voxel_r(result: Any, title: str | None = None) -> Any:
    """Held-out correlation per voxel: against its ceiling, per ROI and hemisphere, on the sheet.

    Parameters
    ----------
    result : xr.Dataset, dim voxel
        A unit-to-voxel mapping with ``r`` (and, if present, ``r_ceiling``,
        ``roi``, ``hemisphere``, ``unit_x``, ``unit_y``).
    title : str, optional
        Figure title; by default the method and median (normalised) r.

    Returns
    -------
    matplotlib.figure.Figure
        Panels: r against the noise-ceiling r per voxel (or a histogram of r
        without a ceiling); r per voxel by ROI and hemisphere with medians; and,
        for unit mappings, each mapped unit at its sheet position coloured by
        the mean r of its voxels.
    """
    import xarray as xr
    from matplotlib.figure import Figure

    if not isinstance(result, xr.Dataset) or "r" not in result or result["r"].dims != ("voxel",):
        raise ToposcopeError("plot_voxel_r needs a Dataset with 'r' over dim 'voxel' (from map_units_to_voxels)")
    r = np.asarray(result["r"].values, dtype=np.float64)
    finite = np.isfinite(r)
    on_sheet = all(f"unit_{c}" in result.coords for c in ("x", "y")) \
        and bool((np.asarray(result["unit"].values) >= 0).any())
    groups = _groups(result)
    figure = Figure(figsize=(4.2 * (2 + on_sheet), 3.8), layout="constrained")
    axes = figure.subplots(1, 2 + on_sheet, squeeze=False)[0]
    colors = {label: f"C{n % 10}" for n, (label, _) in enumerate(groups)}

    ax = axes[0]
    if "r_ceiling" in result:
        ceiling = np.asarray(result["r_ceiling"].values, dtype=np.float64)
        for label, mask in groups:
            ax.scatter(ceiling[mask], r[mask], s=6, alpha=0.6, color=colors[label], label=label, linewidths=0)
        top = float(np.nanmax(np.r_[ceiling, r[finite], 0.1]))
        ax.plot([0, top], [0, top], color="0.4", lw=0.8, ls="--")
        ax.set_xlabel("noise-ceiling r  (sqrt(NC / 100))")
        ax.set_ylabel("held-out r")
        if len(groups) <= 12:
            ax.legend(fontsize=7, markerscale=2, frameon=False)
    else:
        ax.hist(r[finite], bins=40, color="C0")
        ax.set_xlabel("held-out r")
        ax.set_ylabel("voxels")
    if "r_ceiling" in result:
        ax.axhline(0, color="0.7", lw=0.6)
    else:
        ax.axvline(0, color="0.7", lw=0.6)

    ax = axes[1]
    data = [r[mask & finite] for _, mask in groups]
    positions = np.arange(len(groups))
    rng = np.random.default_rng(0)  # fixed jitter: the same figure on every run
    for pos, (label, _), values in zip(positions, groups, data):
        ax.scatter(pos + rng.uniform(-0.25, 0.25, len(values)), values, s=4, alpha=0.5,
                   color=colors[label], linewidths=0)
        if len(values):
            ax.hlines(np.median(values), pos - 0.35, pos + 0.35, color="k", lw=1.5)
    if "r_ceiling" in result:
        ceiling = np.asarray(result["r_ceiling"].values, dtype=np.float64)
        for pos, (_, mask) in zip(positions, groups):
            if (mask & finite).any():
                ax.hlines(np.nanmedian(ceiling[mask & finite]), pos - 0.35, pos + 0.35, color="0.5", lw=1.2, ls=":")
    ax.set_xticks(positions, [label for label, _ in groups], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("held-out r per voxel")
    ax.set_title("black: median" + ("; dotted: median ceiling" if "r_ceiling" in result else ""), fontsize=8)
    ax.axhline(0, color="0.7", lw=0.6)

    if on_sheet:
        _sheet_panel(result, r, axes[2])

    if title is None:
        method = result.attrs.get("method", "mapping")
        title = f"{method}: median r = {np.nanmedian(r):.3f}" if finite.any() else method
        if "median_r_normalised" in result.attrs:
            title += f", normalised = {float(result.attrs['median_r_normalised']):.3f}"
    figure.suptitle(title, fontsize=10)
    return figure


def _sheet_panel(result: Any, r: np.ndarray, ax: Any) -> None:
    """Each mapped unit at its sheet position, coloured by the mean r of the voxels it took."""
    import xarray as xr

    from toposcope.plot.sheet import plot_sheet

    unit = np.asarray(result["unit"].values)
    keep = (unit >= 0) & np.isfinite(r)
    units, inverse = np.unique(unit[keep], return_inverse=True)
    mean_r = np.bincount(inverse, weights=r[keep]) / np.bincount(inverse)
    first = np.zeros(len(units), np.int64)
    first[inverse[::-1]] = np.flatnonzero(keep)[::-1]  # a voxel of each unit, for its position
    x = np.asarray(result["unit_x"].values, dtype=np.float64)[first]
    y = np.asarray(result["unit_y"].values, dtype=np.float64)[first]
    values = xr.DataArray(mean_r, dims=("unit",), coords={"x": ("unit", x), "y": ("unit", y)}, name="r")
    plot_sheet(values, ax=ax, title="mapped units on the sheet", label="mean held-out r")
