"""Selectivity t-maps on the cortical sheet: one panel per contrast and layer.

Panels use symmetric colour scales centred at 0 on a diverging colormap (red =
prefers the target, blue = the reference): one scale per layer when a figure
shows several layers (t grows with depth), one shared scale where models are
compared (Fig. 5A); the colour bars say which. Each row names its sheet (shape)
and carries a scale bar. Units are drawn by :func:`toposcope.plot.sheet.plot_sheet`: an
image on grid sheets, a scatter at explicit positions. Patch outlines
(:func:`toposcope.analysis.patches.find_patches`) are optional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option
from toposcope.plot.sheet import (
    DIVERGING,
    add_scale_bar,
    color_limits,
    describe_sheet,
    plot_sheet,
    save_figure,
)

__all__ = ["FIG5A_CONTRASTS", "MAX_COLUMNS", "PANEL_TITLES", "plot_figure5a", "plot_tmap_pages", "plot_tmaps", "save_maps"]

#: TopoNets Fig. 5A columns: faces, bodies, places (the paper's "scenes"; fLOC's word), real-world size, animacy.
FIG5A_CONTRASTS = ("faces", "bodies", "places", "small_vs_big", "big_vs_small", "animate_vs_inanimate")

#: Column titles for the named contrasts.
PANEL_TITLES = {
    "faces": "faces",
    "bodies": "bodies",
    "places": "places",
    "characters": "characters",
    "objects": "objects",
    "big_vs_small": "size (big - small)",
    "small_vs_big": "size (small - big)",
    "animate_vs_inanimate": "animacy (anim. - inanim.)",
}

#: Most panels side by side; more contrasts wrap to further rows, so a figure stays legible at print size.
MAX_COLUMNS = 5

#: Colour-bar label of t-maps.
T_LABEL = "selectivity t (Welch)"


def _check_tmaps(tmaps: Any, what: str = "tmaps") -> xr.DataArray:
    if not isinstance(tmaps, xr.DataArray):
        raise ToposcopeError(f"{what} must be an xr.DataArray with dims (contrast, unit), got {type(tmaps).__name__}")
    if tmaps.dims == ("unit",):
        tmaps = tmaps.expand_dims(contrast=[str(tmaps.name or "map")])
    if set(tmaps.dims) != {"contrast", "unit"}:
        raise ToposcopeError(f"{what} must have dims (contrast, unit), got {tmaps.dims}")
    return tmaps.transpose("contrast", "unit")


def _layers_of(tmaps: xr.DataArray) -> list[str]:
    if "layer" not in tmaps.coords:
        return [""]
    return list(dict.fromkeys(np.asarray(tmaps["layer"].values).astype(str).tolist()))


def _one_layer(tmaps: xr.DataArray, layer: str) -> xr.DataArray:
    if not layer:
        return tmaps
    index = np.nonzero(np.asarray(tmaps["layer"].values).astype(str) == layer)[0]
    if not len(index):
        raise ToposcopeError(f"no units of layer {layer!r}; the maps have layers {_layers_of(tmaps)}")
    return tmaps.isel(unit=index)


def _pick(values: Sequence[str], wanted: Sequence[str] | None, what: str) -> list[str]:
    if wanted is None:
        return list(values)
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    unknown = [w for w in wanted if w not in values]
    if unknown:
        raise ToposcopeError(f"unknown {what} {unknown[0]!r}; the maps have: {', '.join(map(repr, values))}")
    return wanted


def _outline(ax: Any, tmap: xr.DataArray, options: Mapping[str, Any]) -> bool:
    """Draw the outlines of the positive patches of one map; True if there was any."""
    from toposcope.analysis.patches import SELECTIVE_T, smooth

    threshold = options.get("threshold", SELECTIVE_T)
    image, gx, gy = smooth(tmap, options.get("sigma"), options.get("resolution"))
    inside = (image > threshold).astype(float)
    if inside.any() and len(gx) > 1 and len(gy) > 1:
        ax.contour(gx, gy, inside, levels=[0.5], colors="k", linewidths=0.8)
        return True
    return False


def _wrap(contrasts: list[str], max_columns: int) -> list[list[str]]:
    """Split the columns into as few rows of at most ``max_columns`` as possible, evenly (10 -> 5 + 5)."""
    if not isinstance(max_columns, int) or isinstance(max_columns, bool) or max_columns < 1:
        raise ToposcopeError(f"max_columns must be a positive integer, got {max_columns!r}")
    blocks = -(-len(contrasts) // max_columns)
    width = -(-len(contrasts) // blocks)
    return [contrasts[i:i + width] for i in range(0, len(contrasts), width)]


def _panels(
    rows: list[tuple[str, xr.DataArray]],
    contrasts: list[str],
    *,
    vmax: float | None,
    patches: bool | Mapping[str, Any],
    label: str,
    panel_size: tuple[float, float],
    suptitle: str | None,
    scale: str = "shared",
    max_columns: int = MAX_COLUMNS,
) -> Any:
    """A (rows x contrasts) grid of sheet maps, on one symmetric colour scale or one per row.

    ``scale="shared"`` gives every panel one scale and one colour bar (models and
    layers compare by colour); ``scale="row"`` gives each row (layer) its own
    scale and colour bar, so an early layer with small t is not washed out by a
    late one. The first panel of each row names the sheet and carries a scale bar.
    More contrasts than ``max_columns`` wrap: every row is drawn again beneath for
    the next block of contrasts, each block under its own column titles, so no
    contrast is dropped and a column still compares the rows (models, layers).
    """
    from matplotlib.figure import Figure

    check_option("scale", scale, ("shared", "row"))
    blocks = _wrap(contrasts, max_columns)
    width = len(blocks[0])
    shared = color_limits([r.sel(contrast=contrasts).values for _, r in rows], center=0.0, vmax=vmax)
    # Rows as tall as the sheets are (a 16 x 32 sheet is half as tall as wide), plus room for titles.
    first = rows[0][1]
    aspect = ((np.ptp(first["y"].values) + 1) / (np.ptp(first["x"].values) + 1)
              if {"x", "y"} <= set(first.coords) else 1.0)
    height = min(panel_size[1], panel_size[0] * aspect + 0.6)
    extra = 1.2 if scale == "row" else 0.9
    n_rows = len(rows) * len(blocks)
    # A single row's shared colour bar goes beneath it (see below): room for it.
    below = 0.8 if n_rows == 1 and scale == "shared" else 0.0
    figure = Figure(figsize=(panel_size[0] * width + extra, height * n_rows + below), layout="constrained")
    axes = figure.subplots(n_rows, width, squeeze=False)
    options = patches if isinstance(patches, Mapping) else {}
    artist, outlined = None, False
    for b, block in enumerate(blocks):
        for i, (row_label, tmaps) in enumerate(rows):
            # One scale per layer over all its contrasts, so a layer's wrapped rows share it.
            low, high = shared if scale == "shared" else color_limits([tmaps.sel(contrast=contrasts).values],
                                                                       center=0.0, vmax=vmax)
            line = axes[b * len(rows) + i]
            for j, ax in enumerate(line):
                if j >= len(block):  # the last block may be narrower
                    ax.set_axis_off()
                    continue
                contrast = block[j]
                tmap = tmaps.sel(contrast=contrast, drop=True)
                title = PANEL_TITLES.get(contrast, contrast) if i == 0 else None
                artist = plot_sheet(tmap, ax=ax, cmap=DIVERGING, vmin=low, vmax=high, title=title, colorbar=False,
                                    annotate=False)
                if patches:
                    outlined = _outline(ax, tmap, options) or outlined
                if j == 0:
                    ax.set_ylabel("\n".join(part for part in (row_label, describe_sheet(tmap)) if part),
                                  fontsize=8)
                    add_scale_bar(ax, tmap)
            if scale == "row":
                bar = figure.colorbar(artist, ax=line.tolist(), shrink=0.9, aspect=12)
                bar.set_label("Welch t (this row's scale)", fontsize=7)
                bar.ax.tick_params(labelsize=7)
    if scale == "shared":
        # Beneath a single row: beside it, the bar is too short for its label.
        beneath = n_rows == 1
        bar = figure.colorbar(artist, ax=axes.ravel().tolist(), location="bottom" if beneath else "right",
                              shrink=0.5 if beneath or n_rows >= 4 else 0.8, aspect=40 if beneath else 20)
        bar.set_label(f"{label}, one scale for all panels", fontsize=9)
        bar.ax.tick_params(labelsize=8)
    if outlined:  # say what the black lines are
        from matplotlib.lines import Line2D

        from toposcope.analysis.patches import SELECTIVE_T

        threshold = options.get("threshold", SELECTIVE_T)
        key = Line2D([], [], color="k", linewidth=0.8, label=f"patch outline: smoothed t > {threshold:g}")
        figure.legend(handles=[key], loc="outside lower center", fontsize=8, frameon=False)
    title = suptitle or (f"{label}; colour scale per layer" if scale == "row" else None)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_tmaps(
    tmaps: xr.DataArray,
    contrasts: Sequence[str] | None = None,
    layers: Sequence[str] | None = None,
    *,
    vmax: float | None = None,
    patches: bool | Mapping[str, Any] = False,
    label: str = T_LABEL,
    panel_size: tuple[float, float] = (2.3, 2.1),
    suptitle: str | None = None,
    scale: str | None = None,
    max_columns: int = MAX_COLUMNS,
) -> Any:
    """t-maps on the sheet: one row per layer, one column per contrast.

    Parameters
    ----------
    tmaps : xr.DataArray, dims (contrast, unit)
        From :func:`toposcope.analysis.selectivity.tmaps`, unit coords ``x``, ``y``
        (and ``layer`` when several layers are concatenated along ``unit``).
    contrasts, layers : sequence of str, optional
        Which ones, in order; all by default.
    vmax : float, optional
        Upper end of the shared symmetric scale (``[-vmax, vmax]``); the largest
        ``|t|`` drawn by default.
    patches : bool or dict
        Outline patches of t above a threshold on the smoothed map; a dict gives
        ``threshold``, ``sigma`` (sheet units) and ``resolution`` for
        :func:`toposcope.analysis.patches.smooth`.
    label : str
        Colour-bar label (with units).
    panel_size : (float, float)
        Inches per panel; the defaults keep labels legible when printed.
    scale : {"row", "shared"}, optional
        A colour scale per layer (the default for several layers: t grows with
        depth, and one scale would wash out the early layers) or one for all.
    max_columns : int
        Most contrasts side by side; more wrap into further blocks of rows
        (every layer again, under the next contrasts' titles).

    Returns
    -------
    matplotlib.figure.Figure
    """
    tmaps = _check_tmaps(tmaps)
    chosen = _pick([str(c) for c in tmaps["contrast"].values], contrasts, "contrast")
    rows = [(layer, _one_layer(tmaps, layer)) for layer in _pick(_layers_of(tmaps), layers, "layer")]
    scale = scale or ("row" if len(rows) > 1 else "shared")
    return _panels(rows, chosen, vmax=vmax, patches=patches, label=label, panel_size=panel_size,
                   suptitle=suptitle, scale=scale, max_columns=max_columns)


def plot_tmap_pages(tmaps: xr.DataArray, layers_per_page: int = 6, **options: Any) -> list[Any]:
    """:func:`plot_tmaps` split into pages of at most ``layers_per_page`` layers (printable sizes).

    Parameters
    ----------
    tmaps : xr.DataArray, dims (contrast, unit)
        As for :func:`plot_tmaps`.
    layers_per_page : int
        Rows per page.
    **options
        Passed to :func:`plot_tmaps` (``contrasts``, ``patches``, ``scale`` ...).

    Returns
    -------
    list of matplotlib.figure.Figure
        One per page, layers in order.
    """
    tmaps = _check_tmaps(tmaps)
    names = _layers_of(tmaps)
    if not isinstance(layers_per_page, int) or layers_per_page < 1:
        raise ToposcopeError(f"layers_per_page must be a positive integer, got {layers_per_page!r}")
    pages = [names[i:i + layers_per_page] for i in range(0, len(names), layers_per_page)]
    # One scale choice and one title for every page, each title saying which page it is.
    scale = options.pop("scale", None) or ("row" if len(names) > 1 else "shared")
    label = options.get("label", T_LABEL)
    base = options.pop("suptitle", None) or (f"{label}; colour scale per layer" if scale == "row" else "")
    figures = []
    for k, page in enumerate(pages):
        suffix = f" (page {k + 1} of {len(pages)})" if len(pages) > 1 else ""
        figures.append(plot_tmaps(tmaps, layers=page if page != [""] else None, scale=scale,
                                  suptitle=(base + suffix) or None, **options))
    return figures


def plot_figure5a(
    models: Mapping[str, xr.DataArray] | xr.DataArray,
    layer: str | None = None,
    contrasts: Sequence[str] = FIG5A_CONTRASTS,
    *,
    vmax: float | None = None,
    patches: bool | Mapping[str, Any] = False,
    label: str = T_LABEL,
    panel_size: tuple[float, float] = (2.3, 2.1),
    suptitle: str | None = None,
    max_columns: int = MAX_COLUMNS,
) -> Any:
    """A TopoNets Fig. 5A-style figure: faces, bodies, places, size, animacy for one layer.

    Parameters
    ----------
    models : dict of str to xr.DataArray, or one xr.DataArray
        Row label -> t-maps (dims (contrast, unit)); the trained model first, then
        e.g. ``"untrained"`` and ``"baseline"`` beneath it when given.
    layer : str, optional
        The layer to show; the last layer of each model's maps by default.
    contrasts : sequence of str
        Columns; those a model lacks (e.g. no animacy labels) are skipped, and the
        figure keeps the columns every row has.
    max_columns : int
        Most contrasts side by side; more wrap into further blocks of model rows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(models, xr.DataArray):
        models = {"": models}
    if not models:
        raise ToposcopeError("models is empty; give at least one model's t-maps")
    rows = []
    for name, tmaps in models.items():
        tmaps = _check_tmaps(tmaps, what=f"t-maps of {name!r}" if name else "tmaps")
        chosen = layer if layer is not None else _layers_of(tmaps)[-1]
        if layer is not None and "layer" not in tmaps.coords:
            chosen = ""
        # The row label names the layer too, so a printed figure says what it shows.
        rows.append(("\n".join(part for part in (name, chosen) if part), _one_layer(tmaps, chosen)))
    shared = [c for c in contrasts if all(c in r["contrast"].values for _, r in rows)]
    if not shared:
        raise ToposcopeError(
            f"none of the contrasts {list(contrasts)} is in every model's maps; compute them with tmaps()"
        )
    return _panels(rows, shared, vmax=vmax, patches=patches, label=label, panel_size=panel_size,
                   suptitle=suptitle, max_columns=max_columns)


def save_maps(figure: Any, path: str | Path, dpi: int = 200) -> list[Path]:
    """Write the figure as PNG and PDF beside ``path`` (suffix replaced)."""
    return save_figure(figure, path, formats=("png", "pdf"), dpi=dpi)
