"""Paper layouts of the language figures: window-strength rows and t-map rows on the sheet.

:func:`plot_window_rows` draws TopoNets Fig. 5B: for every model two rows of
sheet maps, one panel per layer, red = power-law strength ``c`` and green =
exponential strength ``1 - c`` (white = 0, full colour = 1, one scale for every
model and layer; units whose fit is ``ambiguous`` grey), and a summary panel of the per-layer medians, one line per
model coloured by its TopoLoss strength ``tau``.

:func:`plot_tmap_rows` draws TopoLM-style t-maps: one row per (model, analysis),
one panel per layer (wrapped after ``ncols``), one symmetric colour scale for
all panels, units of a mask outlined pixel by pixel (or ringed, for scattered
sheets), and a summary panel of Moran's I per layer.

:func:`mask_outline` returns the outline segments, so what is drawn can be
checked against the mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.plot.sheet import color_limits, grid_image, layer_labels, plot_sheet
from toposcope.plot.windows import mask_ambiguous

__all__ = ["TmapRow", "layer_units", "mask_outline", "plot_tmap_rows", "plot_window_rows"]

#: Colormaps of the Fig. 5B rows: white (0) to full colour (1), as the paper draws them.
POWER_LAW_CMAP = "Reds"
EXPONENTIAL_CMAP = "Greens"
#: Colour of the outline of masked (e.g. language-selective) units.
OUTLINE_COLOR = "black"


def layer_units(data: xr.Dataset | xr.DataArray, layer: str) -> np.ndarray:
    """Indices along ``unit`` of the units of ``layer`` (all units when ``layer`` is ``""``)."""
    if not layer or "layer" not in data.coords:
        return np.arange(data.sizes["unit"])
    return np.flatnonzero(np.asarray(data["layer"].values).astype(str) == layer)


def plot_window_rows(
    results: Mapping[str, xr.Dataset], layers: Sequence[str], colors: Mapping[str, Any] | None = None, *,
    grey_ambiguous: bool = True,
) -> Any:
    """TopoNets Fig. 5B: power-law and exponential strength maps, two rows per model, and the layer medians.

    Parameters
    ----------
    results : mapping of str to xr.Dataset
        Model label -> windows result with ``c`` (dim ``unit``, coords ``x``, ``y``,
        ``layer``), drawn top to bottom in the mapping's order.
    layers : sequence of str
        The columns, the same for every model.
    colors : mapping of str to colour, optional
        Model label -> colour of its summary lines (e.g. shaded by tau); a
        colour cycle by default.
    grey_ambiguous : bool
        Draw units whose fit is ``ambiguous`` grey in both rows (results
        without that variable are drawn as they are).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if not results or not layers:
        raise ToposcopeError("plot_window_rows needs at least one model and one layer")
    labels = layer_labels(layers)
    colors = {model: (colors or {}).get(model, f"C{i % 10}") for i, model in enumerate(results)}
    n_rows, n_cols = 2 * len(results), len(layers)
    figure = Figure(figsize=(1.5 * n_cols + 4.2, 1.45 * n_rows + 0.8), layout="constrained")
    grid = figure.add_gridspec(n_rows, n_cols + 1, width_ratios=[1.0] * n_cols + [max(2.6, 0.25 * n_cols)])
    rows: dict[str, list[Any]] = {"power": [], "exponential": []}
    for i, (model, data) in enumerate(results.items()):
        c = data["c"]
        ambiguous = data["ambiguous"] if grey_ambiguous and "ambiguous" in data else None
        for j, layer in enumerate(layers):
            index = layer_units(c, layer)
            part = c.isel(unit=index)
            for k, (values, cmap, kind) in enumerate(((part, POWER_LAW_CMAP, "power"),
                                                       (1.0 - part, EXPONENTIAL_CMAP, "exponential"))):
                values, cmap = mask_ambiguous(values, None if ambiguous is None else ambiguous.isel(unit=index), cmap)
                ax = figure.add_subplot(grid[2 * i + k, j])
                plot_sheet(values, ax=ax, cmap=cmap, vmin=0.0, vmax=1.0, colorbar=False,
                           title=labels[layer] if i == 0 and k == 0 else None)
                rows[kind].append(ax)
                if j == 0:
                    ax.set_ylabel(f"{model}\n{'power law c' if k == 0 else 'exponential 1-c'}", fontsize=7)
    for kind, cmap, label in (("power", POWER_LAW_CMAP, "power-law strength c"),
                              ("exponential", EXPONENTIAL_CMAP, "exponential strength 1 - c")):
        # Beside the first model's row of its kind; every row of that kind shares the scale.
        bar = figure.colorbar(ScalarMappable(Normalize(0.0, 1.0), cmap), ax=rows[kind][:n_cols], shrink=0.9,
                              location="left")
        bar.set_label(label, fontsize=7)
    _window_summary(figure, grid, results, layers, colors, n_rows, n_cols)
    return figure


def _window_summary(figure: Any, grid: Any, results: Mapping[str, xr.Dataset], layers: Sequence[str],
                    colors: Mapping[str, Any], n_rows: int, n_cols: int) -> None:
    """Median c (and yoking, when measured) per layer, one line per model."""
    with_yoking = all("yoking" in data for data in results.values())
    split = max(1, n_rows // 2) if with_yoking and n_rows > 1 else n_rows
    axes = [figure.add_subplot(grid[:split, n_cols])]
    if with_yoking:
        axes.append(figure.add_subplot(grid[split:, n_cols]) if n_rows > 1 else axes[0].twinx())
    x = np.arange(len(layers))
    for model, data in results.items():
        style = {"color": colors[model], "marker": "o", "ms": 3, "lw": 1.2, "label": model}
        axes[0].plot(x, [float(np.nanmedian(data["c"].values[layer_units(data, layer)])) for layer in layers], **style)
        if with_yoking:
            axes[1].plot(x, [float(np.nanmedian(data["yoking"].values[layer_units(data, layer)]))
                             for layer in layers], **{**style, "ls": "--"})
    axes[0].set_ylabel("median power-law strength c", fontsize=8)
    axes[0].set_ylim(0, 1)
    axes[0].legend(fontsize=6, frameon=False)
    if with_yoking:
        axes[1].set_ylabel("median yoking index", fontsize=8)
        axes[1].axhline(0.0, color="0.6", lw=0.6)
    for ax in axes:
        ax.set_xticks(x, list(layer_labels(layers).values()), rotation=90, fontsize=6)
        ax.tick_params(labelsize=7)


# ----------------------------------------------------------------------------- t-maps
@dataclass
class TmapRow:
    """One row of :func:`plot_tmap_rows`: a label, the per-unit values and an optional mask to outline.

    ``values`` and ``outline`` are DataArrays with dim ``unit`` and coords ``x``,
    ``y``, ``layer``; ``outline`` is boolean. ``morans_i`` maps layer -> Moran's I
    for the summary panel.
    """

    label: str
    values: xr.DataArray
    outline: xr.DataArray | None = None
    morans_i: Mapping[str, float] | None = None


def mask_outline(mask: xr.DataArray) -> np.ndarray:
    """Segments outlining the ``True`` units of a mask on a complete grid sheet.

    Parameters
    ----------
    mask : xr.DataArray, dims (unit,), bool
        With integer unit coords ``x``, ``y`` filling a grid.

    Returns
    -------
    np.ndarray, shape (n_segments, 2, 2)
        Each segment's two end points ``(x, y)``: the pixel edges between a
        masked unit and an unmasked one (or the sheet border). Empty for an
        empty mask.

    Raises
    ------
    ToposcopeError
        If the units do not fill a complete integer grid.
    """
    image = grid_image(mask.astype(float))
    if image is None:
        raise ToposcopeError("mask_outline needs units on a complete integer grid; ring scattered units instead")
    inside, (x0, y0) = image[0] > 0.5, image[1]
    padded = np.pad(inside, 1)
    segments = []
    # A horizontal edge lies between vertically adjacent pixels that differ, a vertical one between horizontal ones.
    rows, cols = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])
    for r, c in zip(rows, cols):
        y = y0 + r - 0.5
        segments.append(((x0 + c - 0.5, y), (x0 + c + 0.5, y)))
    rows, cols = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])
    for r, c in zip(rows, cols):
        x = x0 + c - 0.5
        segments.append(((x, y0 + r - 0.5), (x, y0 + r + 0.5)))
    return np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)


def _draw_outline(ax: Any, mask: xr.DataArray) -> None:
    if not bool(np.asarray(mask.values).any()):
        return
    if grid_image(mask.astype(float)) is not None:
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection(mask_outline(mask), colors=OUTLINE_COLOR, linewidths=0.8))
        return
    inside = np.asarray(mask.values, dtype=bool)
    ax.scatter(mask["x"].values[inside], mask["y"].values[inside], s=float(np.clip(4000 / mask.size, 2, 60)),
               facecolors="none", edgecolors=OUTLINE_COLOR, linewidths=0.5)


def plot_tmap_rows(
    rows: Sequence[TmapRow], layers: Sequence[str], *, ncols: int = 12, label: str = "Welch t",
    title: str | None = None,
) -> Any:
    """t-maps on the sheet: rows of layers per :class:`TmapRow`, outlines, one colour scale, Moran's I.

    Parameters
    ----------
    rows : sequence of TmapRow
        Drawn top to bottom; each takes ``ceil(len(layers) / ncols)`` rows of panels.
    layers : sequence of str
        The panels of every row, in order.
    ncols : int
        Panels per row before wrapping.
    label : str
        Colour-bar label.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if not rows or not layers:
        raise ToposcopeError("plot_tmap_rows needs at least one row and one layer")
    per_row = -(-len(layers) // ncols)
    width = min(ncols, len(layers))
    labels = layer_labels(layers)
    low, high = color_limits([np.asarray(r.values.values, dtype=np.float64) for r in rows], center=0.0)
    with_summary = any(r.morans_i for r in rows)
    figure = Figure(figsize=(1.55 * width + (3.6 if with_summary else 0.8), 1.55 * per_row * len(rows) + 0.9),
                    layout="constrained")
    grid = figure.add_gridspec(per_row * len(rows), width + int(with_summary),
                               width_ratios=[1.0] * width + ([max(2.6, 0.25 * width)] if with_summary else []))
    maps = []
    for i, row in enumerate(rows):
        for j, layer in enumerate(layers):
            ax = figure.add_subplot(grid[i * per_row + j // ncols, j % ncols])
            index = layer_units(row.values, layer)
            plot_sheet(row.values.isel(unit=index), ax=ax, center=0.0, vmax=high, colorbar=False,
                       title=labels[layer] if i == 0 or per_row > 1 else None)
            if row.outline is not None:
                _draw_outline(ax, row.outline.isel(unit=index))
            if j % ncols == 0:
                ax.set_ylabel(row.label, fontsize=7)
            maps.append(ax)
    bar = figure.colorbar(ScalarMappable(Normalize(low, high), "RdBu_r"), ax=maps, shrink=0.5, location="left")
    bar.set_label(label, fontsize=8)
    if with_summary:
        ax = figure.add_subplot(grid[:, width])
        x = np.arange(len(layers))
        for row in rows:
            if row.morans_i:
                ax.plot(x, [row.morans_i.get(layer, np.nan) for layer in layers], marker="o", ms=3, lw=1.2,
                        label=row.label)
        ax.set_xticks(x, [labels[layer] for layer in layers], rotation=90, fontsize=6)
        ax.set_ylabel("Moran's I of the t-map", fontsize=8)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.legend(fontsize=6, frameon=False)
        ax.tick_params(labelsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
