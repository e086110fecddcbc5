"""Per-unit values drawn on the cortical sheet.

A map is an ``xr.DataArray`` with dim ``unit`` and coords ``x``, ``y`` (any
per-unit analysis result keeps them). When the units fill a complete integer
grid (the TopoLoss sheets) the map is drawn as an image, one pixel per unit,
row ``y`` and column ``x``; otherwise (TDANN / TopoLM positions in mm) as a
scatter at the units' positions. Both put ``y = 0`` at the top, like the grid's
row-major order.

Figures are built on :class:`matplotlib.figure.Figure` directly, never through
pyplot, so nothing here touches a global figure or needs a display.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_positive_int

__all__ = ["add_scale_bar", "color_limits", "describe_sheet", "grid_image", "layer_labels", "plot_sheet", "plot_sheets",
           "save_figure"]

#: Colormaps used when none is given: sequential, or diverging around ``center``.
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"


def _checked_map(values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, x, y)`` as float arrays of shape (n_units,) from a map DataArray."""
    import xarray as xr

    if not isinstance(values, xr.DataArray):
        raise ToposcopeError(
            f"a sheet map must be an xr.DataArray with dim 'unit', got {type(values).__name__}"
        )
    if values.dims != ("unit",):
        raise ToposcopeError(
            f"a sheet map must have the single dim 'unit', got dims {values.dims}; "
            "select or reduce the other dims first (e.g. .sel(category=...) or .mean('stimulus'))"
        )
    missing = [c for c in ("x", "y") if c not in values.coords]
    if missing:
        raise ToposcopeError(f"a sheet map needs unit coords 'x' and 'y' (missing {', '.join(missing)}); "
                             "keep the unit coords of the responses")
    data = np.asarray(values.values, dtype=np.float64)
    x = np.asarray(values["x"].values, dtype=np.float64)
    return data, x, np.asarray(values["y"].values, dtype=np.float64)


def grid_image(values: Any) -> tuple[np.ndarray, tuple[float, float]] | None:
    """The map as an image if its units fill a complete integer grid, else ``None``.

    Parameters
    ----------
    values : xr.DataArray, dims (unit,)
        With coords ``x`` and ``y``.

    Returns
    -------
    (image, origin) or None
        ``image`` has shape (h, w) with ``image[y - y0, x - x0] = value``;
        ``origin = (x0, y0)`` is the smallest x and y. ``None`` when positions
        are not integers, repeat, or leave holes in the ``h x w`` box.
    """
    data, x, y = _checked_map(values)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return None
    if not (np.array_equal(x, np.round(x)) and np.array_equal(y, np.round(y))):
        return None
    x0, y0 = x.min(), y.min()
    col, row = (x - x0).astype(np.int64), (y - y0).astype(np.int64)
    h, w = int(row.max()) + 1, int(col.max()) + 1
    if h * w != len(data):
        return None
    image = np.full((h, w), np.nan)
    filled = np.zeros((h, w), dtype=bool)
    filled[row, col] = True
    if not filled.all():  # with h * w == n, a hole means a repeated position
        return None
    image[row, col] = data
    return image, (float(x0), float(y0))


def layer_labels(layers: Sequence[str], width: int = 22) -> dict[str, str]:
    """Short, still distinct panel labels for layer names.

    Dotted components shared by every name at the start and end are dropped,
    except the last shared leading one, which names what the index counts
    (``encoder.layer.3.intermediate.dense`` -> ``layer.3``, ``h.0.mlp.c_fc`` ->
    ``h.0``); a single layer keeps its name. Labels longer than ``width`` keep
    their end.

    Examples
    --------
    >>> layer_labels(["h.0.mlp.c_fc", "h.1.mlp.c_fc"])
    {'h.0.mlp.c_fc': 'h.0', 'h.1.mlp.c_fc': 'h.1'}
    """
    names = [str(name) for name in layers]
    parts = [name.split(".") for name in names]
    lead = trail = 0
    if len(set(names)) > 1:
        shortest = min(len(p) for p in parts)
        while lead < shortest - 1 and len({p[lead] for p in parts}) == 1:
            lead += 1
        while trail < shortest - lead - 1 and len({p[len(p) - 1 - trail] for p in parts}) == 1:
            trail += 1
    labels = {}
    for name, split in zip(names, parts):
        label = ".".join(split[max(lead - 1, 0):len(split) - trail]) if lead or trail else name
        labels[name] = label if len(label) <= width else "..." + label[-(width - 3):]
    return labels


def color_limits(
    arrays: Iterable[np.ndarray], center: float | None = None, vmin: float | None = None,
    vmax: float | None = None,
) -> tuple[float, float]:
    """Colour limits covering every finite value of ``arrays``.

    With ``center``, the limits are symmetric around it (``vmax`` then sets
    the upper limit and the lower one mirrors it), so ``center`` maps to the
    middle of a diverging colormap.
    """
    finite = [a[np.isfinite(a)] for a in (np.asarray(a, dtype=np.float64).ravel() for a in arrays)]
    finite = np.concatenate(finite) if finite else np.zeros(0)
    if center is not None:
        half = (vmax - center) if vmax is not None else (np.abs(finite - center).max() if finite.size else 1.0)
        half = float(half) if half > 0 else 1.0
        return center - half, center + half
    low = float(vmin) if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    high = float(vmax) if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return low, high


def plot_sheet(
    values: Any,
    ax: Any = None,
    cmap: str | Any | None = None,
    center: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    colorbar: bool = True,
    *,
    vmin: float | None = None,
    label: str | None = None,
    marker_size: float | None = None,
    annotate: bool = True,
) -> Any:
    """Draw one map of per-unit values on the sheet.

    Parameters
    ----------
    values : xr.DataArray, dims (unit,)
        With unit coords ``x`` and ``y``; NaN units are left blank.
    ax : matplotlib Axes, optional
        Where to draw; a new figure with one axes when absent.
    cmap : str or Colormap, optional
        Default ``"viridis"``, or ``"RdBu_r"`` when ``center`` is given.
    center : float, optional
        Make the colour scale symmetric around this value (``center=0`` for
        signed maps such as selectivity).
    vmin, vmax : float, optional
        Colour limits; by default the data range (symmetric with ``center``).
    title : str, optional
        Axes title.
    colorbar : bool
        Add a colour bar beside the axes.
    label : str, optional
        Colour-bar label; the map's ``name`` by default.
    marker_size : float, optional
        Scatter marker area (points^2) for non-grid sheets; scaled to the unit
        count by default.
    annotate : bool
        Name the sheet (shape, or extent in its units) under the map and draw a
        scale bar; figures of many panels annotate one panel per row instead.

    Returns
    -------
    matplotlib.image.AxesImage or matplotlib.collections.PathCollection
        The drawn artist (image for complete grids, scatter otherwise).
    """
    data, x, y = _checked_map(values)
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(4.0, 3.6), layout="constrained").add_subplot()
    low, high = color_limits([data], center, vmin, vmax)
    cmap = cmap or (DIVERGING if center is not None else SEQUENTIAL)
    grid = grid_image(values)
    if grid is not None:
        image, (x0, y0) = grid
        h, w = image.shape
        # Pixel centres sit on the units' integer coordinates; row 0 at the top.
        artist = ax.imshow(image, cmap=cmap, vmin=low, vmax=high, origin="upper", interpolation="nearest",
                           extent=(x0 - 0.5, x0 + w - 0.5, y0 + h - 0.5, y0 - 0.5))
    else:
        # Markers shrink as units multiply, so dense sheets do not turn into one blot.
        size = marker_size if marker_size is not None else float(np.clip(4000.0 / max(len(data), 1), 1, 60))
        artist = ax.scatter(x, y, c=data, cmap=cmap, vmin=low, vmax=high, s=size, linewidths=0,
                            plotnonfinite=False)
        ax.set_aspect("equal")
        if not ax.yaxis_inverted():
            ax.invert_yaxis()
    ax.set_xticks([])
    ax.set_yticks([])
    if annotate:
        ax.set_xlabel(describe_sheet(values), fontsize=7)
        add_scale_bar(ax, values)
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        bar = ax.figure.colorbar(artist, ax=ax, shrink=0.8)
        text = label if label is not None else (values.name or "")
        if text:
            bar.set_label(str(text), fontsize=8)
    return artist


def describe_sheet(values: Any) -> str:
    """The sheet a map lies on, for a label: ``"16x32 grid"`` or ``"25088 units, 10.2 mm"``."""
    _, x, y = _checked_map(values)
    grid = grid_image(values)
    if grid is not None:
        h, w = grid[0].shape
        return f"{h}x{w} grid"
    unit = str(values.attrs.get("sheet_units", "")) or "sheet units"
    return f"{len(x)} units, {max(np.ptp(x), np.ptp(y)):.3g} {unit} across"


def add_scale_bar(ax: Any, values: Any) -> None:
    """A scale bar in the lower left: about a quarter of the sheet's width, in its units.

    Grid sheets are measured in units (one unit = one grid step); sheets with
    positions in mm (TDANN) in mm, as their ``sheet_units`` attribute says.
    """
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    _, x, _ = _checked_map(values)
    width = float(np.ptp(x)) + (1.0 if grid_image(values) is not None else 0.0)
    if width <= 0:
        return
    raw = width / 4
    length = float(10 ** np.floor(np.log10(raw)))
    length *= 5 if raw / length >= 5 else 2 if raw / length >= 2 else 1
    unit = "units" if grid_image(values) is not None else str(values.attrs.get("sheet_units", "")) or "units"
    if length == 1 and unit == "units":
        unit = "unit"
    # Just under the map's lower-left corner, outside the data.
    bar = AnchoredSizeBar(ax.transData, length, f"{length:g} {unit}", "upper left", pad=0.1, sep=2,
                          frameon=False, size_vertical=0, color="black", fontproperties={"size": 7},
                          borderpad=0, bbox_to_anchor=(0, 0), bbox_transform=ax.transAxes)
    ax.add_artist(bar)


def plot_sheets(
    maps: Mapping[str, Any],
    ncols: int = 2,
    cmap: str | Any | None = None,
    center: float | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    shared_scale: bool = True,
    colorbar: bool = True,
    label: str | None = None,
    suptitle: str | None = None,
    panel_size: tuple[float, float] = (3.0, 2.6),
    ticks: Iterable[float] | None = None,
) -> Any:
    """Several maps in a grid of panels, by default on one shared colour scale.

    Parameters
    ----------
    maps : mapping of str to xr.DataArray
        Panel title -> map (dims (unit,), coords x, y), drawn row by row.
    ncols : int
        Panels per row.
    cmap, center, vmin, vmax
        As in :func:`plot_sheet`.
    shared_scale : bool
        One colour scale (and one colour bar) for all panels, so that colours
        compare across panels; otherwise each panel gets its own.
    colorbar : bool
        Draw colour bars.
    label : str, optional
        Colour-bar label.
    suptitle : str, optional
        Figure title.
    panel_size : (float, float)
        Width and height of one panel in inches.
    ticks : iterable of float, optional
        Colour-bar ticks (e.g. ``range(10)`` for a map of categories).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if not isinstance(maps, Mapping) or not maps:
        raise ToposcopeError("maps must be a non-empty mapping of panel title -> DataArray")
    check_positive_int("ncols", ncols)
    arrays = {title: _checked_map(values)[0] for title, values in maps.items()}
    ncols = min(ncols, len(maps))
    nrows = -(-len(maps) // ncols)
    figure = Figure(figsize=(panel_size[0] * ncols + (0.8 if shared_scale else 0), panel_size[1] * nrows),
                    layout="constrained")
    axes = np.atleast_1d(figure.subplots(nrows, ncols, squeeze=False)).ravel()
    if shared_scale:
        vmin, vmax = color_limits(arrays.values(), center, vmin, vmax)
        center_used = None  # limits already symmetric; pass them through unchanged
    else:
        center_used = center
    artists = []
    for ax, (title, values) in zip(axes[: len(maps)], maps.items(), strict=True):
        artists.append(plot_sheet(values, ax=ax, cmap=cmap or (DIVERGING if center is not None else None),
                                  center=center_used, vmin=vmin, vmax=vmax, title=title,
                                  colorbar=colorbar and not shared_scale, label=label))
    for ax in axes[len(maps):]:
        ax.set_visible(False)
    if colorbar and shared_scale:
        bar = figure.colorbar(artists[0], ax=list(axes[: len(maps)]), shrink=0.8)
        if label:
            bar.set_label(label, fontsize=8)
        if ticks is not None:
            bar.set_ticks(list(ticks))
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    return figure


def save_figure(
    figure: Any, path: str | Path, formats: Iterable[str] = ("png", "pdf"), dpi: int = 150
) -> list[Path]:
    """Write ``figure`` once per format, atomically, beside ``path``.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    path : path
        Target; its suffix is replaced by each format (``maps.png``, ``maps.pdf``).
    formats : iterable of str
        File formats matplotlib can write (``"png"``, ``"pdf"``, ``"svg"``).
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    list of Path
        The files written.
    """
    from toposcope.io import atomic_path

    written = []
    for fmt in formats:
        target = Path(path).with_suffix(f".{fmt}")
        with atomic_path(target) as tmp:
            # No creation date in PDFs: the same figure gives the same bytes, run after run.
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            figure.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
        target.chmod(0o644)  # temp files start private; figures are for sharing
        written.append(target)
    return written
