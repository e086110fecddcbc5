"""Figures of story encoding models: the layer sweep, held-out r, and which part of the sheet predicts which voxel.

Reads the Dataset of :func:`toposcope.workflows.encoding.encode_stories` (dims
``layer``, ``voxel``, ``window``; ``r``, optional ``significant``,
``window_energy``, ``window_r``, window coords ``window_x``/``window_y``) or of
:func:`toposcope.brain.encoding.encoding_model` (no ``layer`` dim). Built on
:class:`matplotlib.figure.Figure` directly, never through pyplot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["FSAVERAGE5_VERTICES", "plot_encoding", "plot_encoding_surface"]

#: Vertices per hemisphere of fsaverage5, the mesh nilearn ships (no download).
FSAVERAGE5_VERTICES = 10242
HEMISPHERES = {"L": "left", "LH": "left", "LEFT": "left", "R": "right", "RH": "right", "RIGHT": "right"}


def _with_layer(result: Any) -> Any:
    if "layer" in result.dims:
        return result
    name = str(result["layer"].values[0]) if "layer" in result.coords and result["layer"].size else "units"
    # a unit coord "layer" (the units' module) gives way to the layer dim
    return result.drop_vars("layer", errors="ignore").expand_dims(layer=[name])


def plot_encoding(result: Any, title: str | None = None) -> Any:
    """Layer sweep, held-out r of the best layer, and its sheet read-back.

    Parameters
    ----------
    result : xr.Dataset
        With ``r`` over ``voxel`` (and ``layer``); sheet panels need
        ``window_r``/``window_energy`` over ``window``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        (a) median held-out r per layer (quartiles shaded); (b) histogram of
        the best layer's r per voxel, FDR-significant voxels filled; (c) per
        sheet window, the mean r of its units alone over the voxels the full
        model predicts (r above the median); (d) per window, the voxels whose
        weight energy peaks there.
    """
    import xarray as xr
    from matplotlib.figure import Figure

    if not isinstance(result, xr.Dataset) or "r" not in result or "voxel" not in result["r"].dims:
        raise ToposcopeError("plot_encoding needs a Dataset with 'r' over dim 'voxel' (from encode_stories)")
    data = _with_layer(result)
    layers = [str(v) for v in data["layer"].values]
    r = np.asarray(data["r"].transpose("layer", "voxel").values, dtype=np.float64)
    best = int(np.argmax(np.median(r, axis=1)))
    on_sheet = "window_r" in data and "window_x" in data.coords
    figure = Figure(figsize=(4.0 * (2 + 2 * on_sheet), 3.6), layout="constrained")
    axes = figure.subplots(1, 2 + 2 * on_sheet, squeeze=False)[0]

    ax = axes[0]
    position = np.arange(len(layers))
    ax.fill_between(position, np.percentile(r, 25, axis=1), np.percentile(r, 75, axis=1), color="C0", alpha=0.2,
                    lw=0)
    ax.plot(position, np.median(r, axis=1), "o-", color="C0")
    ax.plot(best, np.median(r[best]), "o", color="C3", ms=9, mfc="none")
    ax.set_xticks(position, layers, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("held-out r (median, quartiles)")
    ax.set_title("which layer predicts best", fontsize=9)
    ax.axhline(0, color="0.7", lw=0.6)

    ax = axes[1]
    values = r[best]
    bins = np.linspace(min(values.min(), 0), max(values.max(), 0.1), 31)
    ax.hist(values, bins=bins, color="C0", histtype="step")
    if "significant" in data:
        significant = np.asarray(data["significant"].transpose("layer", "voxel").values[best], dtype=bool)
        ax.hist(values[significant], bins=bins, color="C0", alpha=0.6,
                label=f"FDR q={data.attrs.get('q', 0.05)}: {int(significant.sum())}")
        ax.legend(fontsize=7, frameon=False)
    ax.set_xlabel(f"held-out r per voxel ({layers[best]})")
    ax.set_ylabel("voxels")
    ax.axvline(0, color="0.7", lw=0.6)

    if on_sheet:
        _sheet_panels(data.isel(layer=best), values, axes[2], axes[3])
    if title is None:
        tests = data.attrs.get("test_stories", "")
        tests = ", ".join(map(str, tests)) if isinstance(tests, (list, tuple)) else str(tests)
        title = f"encoding model, test: {tests}; best layer {layers[best]} (median r {np.median(r[best]):.3f})"
    figure.suptitle(title, fontsize=10)
    return figure


def _grid(values: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Window values as an image (rows along y), and its extent."""
    xs, ys = np.unique(x), np.unique(y)
    image = np.full((len(ys), len(xs)), np.nan)
    image[np.searchsorted(ys, y), np.searchsorted(xs, x)] = values
    dx = (xs[1] - xs[0]) if len(xs) > 1 else 1.0
    dy = (ys[1] - ys[0]) if len(ys) > 1 else 1.0
    return image, [xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2]


def _sheet_panels(data: Any, r: np.ndarray, ax_r: Any, ax_count: Any) -> None:
    x = np.asarray(data["window_x"].values, dtype=np.float64)
    y = np.asarray(data["window_y"].values, dtype=np.float64)
    window_r = np.asarray(data["window_r"].transpose("window", "voxel").values, dtype=np.float64)
    predicted = r >= np.median(r)
    image, extent = _grid(np.nanmean(window_r[:, predicted], axis=1), x, y)
    shown = ax_r.imshow(image, origin="lower", extent=extent, cmap="viridis", aspect="equal")
    ax_r.figure.colorbar(shown, ax=ax_r, shrink=0.8, label="r of the window's units alone")
    ax_r.set_title(f"sheet windows alone ({int(predicted.sum())} best voxels)", fontsize=9)
    ax_r.set_xlabel("sheet x")
    ax_r.set_ylabel("sheet y")
    if "window_energy" in data:
        energy = np.asarray(data["window_energy"].transpose("window", "voxel").values, dtype=np.float64)
        peaks = np.bincount(energy.argmax(axis=0), minlength=energy.shape[0])
        image, extent = _grid(peaks.astype(float), x, y)
        shown = ax_count.imshow(image, origin="lower", extent=extent, cmap="magma", aspect="equal")
        ax_count.figure.colorbar(shown, ax=ax_count, shrink=0.8, label="voxels")
        ax_count.set_title("voxels whose weight energy peaks here", fontsize=9)
        ax_count.set_xlabel("sheet x")
    else:
        ax_count.set_axis_off()


def _surface_values(result: Any, variable: str) -> tuple[dict[str, np.ndarray], bool]:
    """Per hemisphere, the variable at fsaverage5's vertices (NaN where the result has none)."""
    hemisphere = np.asarray([HEMISPHERES.get(str(h).upper(), "") for h in result["hemisphere"].values])
    unknown = sorted({str(h) for h, name in zip(result["hemisphere"].values, hemisphere) if not name})
    if unknown:
        raise ToposcopeError(f"hemisphere labels {unknown} are not L/R (or lh/rh, left/right)")
    vertex = np.asarray(result["vertex"].values, dtype=np.int64)
    values = np.asarray(result[variable].values, dtype=np.float64)
    # FreeSurfer's icosahedral meshes are nested: fsaverage5's vertices are the first 10,242 of
    # fsaverage6 (40,962) and fsaverage (163,842), so finer results are shown at those vertices.
    finer = bool(vertex.max() >= FSAVERAGE5_VERTICES)
    maps = {}
    for name in ("left", "right"):
        keep = (hemisphere == name) & (vertex < FSAVERAGE5_VERTICES)
        surface = np.full(FSAVERAGE5_VERTICES, np.nan)
        surface[vertex[keep]] = values[keep]
        maps[name] = surface
    if not any(np.isfinite(m).any() for m in maps.values()):
        raise ToposcopeError("no voxel of the result lies on fsaverage vertices (coords 'vertex' < 10242 or of a "
                             "finer fsaverage); the surface plot needs fsaverage results")
    return maps, finer


def plot_encoding_surface(result: Any, variable: str = "r", *, layer: str | None = None,
                          threshold: float | None = None, vmax: float | None = None,
                          title: str | None = None) -> Any:
    """A per-voxel result on the inflated fsaverage cortex: both hemispheres, lateral and medial views.

    Parameters
    ----------
    result : xr.Dataset
        Over dim ``voxel`` with coords ``hemisphere`` (``L``/``R``) and
        ``vertex`` (fsaverage vertex numbers, e.g. from
        :func:`toposcope.brain.story_fmri.load_narratives`); fsaverage6 or
        fsaverage results are shown at the fsaverage5 vertices they contain.
    variable : str
        The per-voxel variable to draw (``r``, ``r_norm``, ``noise_ceiling``, ``alpha``...).
    layer : str, optional
        With a ``layer`` dim: the layer to draw; the best (highest median ``r``) by default.
    threshold : float, optional
        Values with smaller magnitude are not coloured (the sulcal map shows through).
    vmax : float, optional
        Colour scale limit; the 99th percentile of ``|values|`` by default.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Four 3-D axes (left lateral, left medial, right lateral, right medial) and a colour bar.
    """
    import xarray as xr
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if not isinstance(result, xr.Dataset) or variable not in result or "voxel" not in result[variable].dims:
        raise ToposcopeError(f"plot_encoding_surface needs a Dataset with {variable!r} over dim 'voxel'")
    missing = [c for c in ("hemisphere", "vertex") if c not in result.coords]
    if missing:
        raise ToposcopeError(f"the result has no voxel coords {', '.join(map(repr, missing))}: the surface plot "
                             "needs fsaverage results (e.g. Narratives in space fsaverage6)")
    if "layer" in result[variable].dims:
        if layer is None:
            layer = str(result["layer"].values[int(np.argmax(result["r"].median("voxel").values))])
        result = result.sel(layer=layer)
    try:
        from nilearn import datasets, plotting
    except ImportError:
        raise ToposcopeError("the surface plot draws with nilearn: pip install 'toposcope[surface]' (or nilearn)") from None
    maps, finer = _surface_values(result, variable)
    finite = np.concatenate([m[np.isfinite(m)] for m in maps.values()])
    vmax = float(vmax if vmax is not None else max(np.percentile(np.abs(finite), 99), 1e-12))
    threshold = float(threshold) if threshold is not None else 1e-6 * vmax
    # correlations are signed: a diverging map centred on 0 (near-zero r lets the sulci show through)
    negative = bool((finite < -threshold).any()) or variable in ("r", "r_norm", "r_train")
    mesh = datasets.load_fsaverage("fsaverage5")
    sulcal = datasets.load_fsaverage_data(mesh="fsaverage5", mesh_type="inflated", data_type="sulcal")
    cmap = "RdBu_r" if negative else "viridis"
    figure = Figure(figsize=(7.2, 5.0), layout="constrained")
    grid = figure.add_gridspec(2, 3, width_ratios=[1, 1, 0.06])
    for row, hemi in enumerate(("left", "right")):
        for col, view in enumerate(("lateral", "medial")):
            ax = figure.add_subplot(grid[row, col], projection="3d")
            plotting.plot_surf_stat_map(
                mesh["inflated"].parts[hemi], np.nan_to_num(maps[hemi], nan=0.0), hemi=hemi, view=view,
                bg_map=sulcal.data.parts[hemi], axes=ax, figure=figure, colorbar=False, cmap=cmap,
                threshold=threshold, vmax=vmax, symmetric_cbar=negative)
            ax.set_title(f"{hemi} hemisphere, {view}", fontsize=8)
    norm = Normalize(-vmax if negative else 0.0, vmax)
    figure.colorbar(ScalarMappable(norm, cmap), cax=figure.add_subplot(grid[:, 2]), label=variable)
    if title is None:
        shown = sum(int(np.isfinite(m).sum()) for m in maps.values())
        title = (f"{variable} on fsaverage5 ({shown} vertices"
                 f"{', the fsaverage5 vertices of a finer mesh' if finer else ''})")
    figure.suptitle(title, fontsize=9)
    return figure
