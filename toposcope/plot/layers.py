"""Figures of one model's layers: smoothness curves with scores, eigenspectra with effective dimensionality.

They draw the Datasets of :func:`toposcope.analysis.layerwise.smoothness_by_layer`
and :func:`~toposcope.analysis.layerwise.dimensionality_by_layer`: the left
panel per layer, the right panel one number per layer. Built on
``matplotlib.figure.Figure``, never pyplot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.plot.curves import plot_curves

__all__ = ["plot_dimensionality_layers", "plot_smoothness_layers"]


def _need(data: Any, variables: tuple[str, ...], what: str) -> None:
    if not isinstance(data, xr.Dataset) or any(v not in data for v in variables):
        raise ToposcopeError(f"expected the Dataset of {what} (with {', '.join(variables)})")


#: Up to this many layers share one panel of curves; more get one small panel each.
MAX_OVERLAID = 6
#: Columns of the small-multiples grid.
GRID_COLUMNS = 5


def plot_smoothness_layers(data: xr.Dataset, *, title: str | None = None,
                           max_overlaid: int = MAX_OVERLAID) -> Any:
    """Correlation vs sheet distance per layer (with chance bands) and the smoothness scores.

    Parameters
    ----------
    data : xr.Dataset, dims (layer, bin)
        From :func:`~toposcope.analysis.layerwise.smoothness_by_layer`.
    title : str, optional
    max_overlaid : int
        Up to this many layers the curves share one panel (one colour per
        layer); beyond it each layer gets its own small panel on shared axes.

    Returns
    -------
    matplotlib.figure.Figure
        Few layers: the curves in one panel (:func:`toposcope.plot.curves.plot_curves`)
        with a legend beside it. Many layers: one panel per layer with its chance
        curve and band, and one key for all panels. Either way the last axes
        (``figure.axes[-1]``) holds ``score_toponets`` per layer as horizontal
        bars, first layer on top, with its chance level (tick) and band (grey)
        when the Dataset has them.
    """
    from matplotlib.figure import Figure

    _need(data, ("correlation", "score_toponets", "distance"), "smoothness_by_layer")
    names = [str(n) for n in data["layer"].values]
    curves = {}
    for name in names:
        curves[name] = data.sel(layer=name).drop_vars(["layer"])
        curves[name].attrs = dict(data.attrs)
    few = len(names) <= max_overlaid
    rows = -(-len(names) // GRID_COLUMNS)
    figure = Figure(figsize=(8.0, 3.4 if few else 1.3 * rows + 1.4), layout="constrained")
    main, side = figure.subfigures(1, 2, width_ratios=(2.0, 1.0) if few else (3.0, 1.2), wspace=0.02)
    if few:
        left = main.subplots()
        plot_curves(curves, left, legend="outside")
        colors = [line.get_color() for line in left.get_lines() if line.get_label() in curves]
    else:
        _small_multiples(main, curves, data)
        colors = ["C0"] * len(names)  # the panels' titles name the layers; colours would repeat
    _fit_to_curves(main.axes[0], data)
    right = side.subplots()
    _score_bars(right, names, np.asarray(data["score_toponets"].values, dtype=np.float64), colors)
    if "score_toponets_chance_low" in data:
        _chance_band(right, data)
        side.legend(handles=right.get_legend_handles_labels()[0], loc="outside lower center", fontsize=6,
                    frameon=False)
    if title:
        figure.suptitle(title, fontsize=9)
    return figure


def _fit_to_curves(ax: Any, data: xr.Dataset) -> None:
    """y limits that hold every curve point and the chance level of scored bins, within -1 and 1.

    The chance band widens without bound where a bin holds few pairs; left to
    autoscale, it would flatten every curve (the axes are shared).
    """
    values = [np.asarray(data["correlation"].values, dtype=np.float64).ravel(), [0.0]]
    if "chance" in data:
        chance = np.asarray(data["chance"].values, dtype=np.float64)
        if "pairs" in data and data.attrs.get("min_pairs"):
            chance = np.where(np.asarray(data["pairs"].values) >= int(data.attrs["min_pairs"]), chance, np.nan)
        values.append(chance.ravel())
    finite = np.concatenate([np.asarray(v, dtype=np.float64) for v in values])
    finite = finite[np.isfinite(finite)]
    low, high = float(finite.min()), float(finite.max())
    pad = 0.08 * max(high - low, 0.05)
    ax.set_ylim(max(low - pad, -1.05), min(high + pad, 1.05))


def _small_multiples(grid: Any, curves: dict[str, xr.Dataset], data: xr.Dataset) -> None:
    """One panel per layer on shared axes in ``grid`` (a subfigure), one key for the marks above them."""
    from toposcope.plot.curves import curve_key

    n = len(curves)
    columns = min(GRID_COLUMNS, n)
    rows = -(-n // columns)
    axes = grid.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for ax, (name, curve) in zip(axes.flat, curves.items()):
        plot_curves({name: curve}, ax, legend=None)
        ax.set_title(name, fontsize=7, pad=2)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=6)
    for index, ax in enumerate(axes.flat):
        if index >= n:
            ax.set_visible(False)
        elif index + columns >= n:  # no panel below it: this one shows the distance ticks
            ax.xaxis.set_tick_params(labelbottom=True)
    units = str(data.attrs.get("distance_units", ""))
    grid.supxlabel(f"sheet distance ({units})" if units else "sheet distance", fontsize=8)
    grid.supylabel("response correlation (r)", fontsize=8)
    min_pairs = int(data.attrs.get("min_pairs", 0) or 0)
    hollow = bool(min_pairs and "pairs" in data
                  and ((data["pairs"] < min_pairs) & data["correlation"].notnull()).any())
    key = curve_key(chance="chance" in data, sem="sem" in data, min_pairs=min_pairs if hollow else None, color="C0")
    grid.legend(handles=key, loc="outside upper center", ncols=2, fontsize=7, frameon=False)


def _score_bars(ax: Any, names: list[str], values: np.ndarray, colors: list[str]) -> None:
    """Horizontal bars, first layer on top: layer names stay readable for any number of layers."""
    from matplotlib.ticker import MaxNLocator

    y = np.arange(len(names))
    ax.barh(y, values, height=0.7, color=colors)
    ax.set_yticks(y, names, fontsize=7 if len(names) <= 12 else 6)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.axvline(0.0, color="0.6", linewidth=0.5, zorder=0)
    ax.set_xlabel("smoothness score\n(max - min of curve)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))


def _chance_band(ax: Any, data: xr.Dataset) -> None:
    """Each layer's chance level of the score (a tick) and its band (a grey bar over the layer's bar)."""
    y = np.arange(data.sizes["layer"])
    low, high = (np.asarray(data[f"score_toponets_chance_{e}"].values, dtype=np.float64) for e in ("low", "high"))
    level = 100 * float(data.attrs.get("level", 0.95))
    shuffles = data.attrs.get("n_shuffles")
    of = f"of {int(shuffles)} shuffles" if shuffles else "of the shuffles"
    ax.barh(y, high - low, left=low, height=0.9, color="0.2", alpha=0.3, linewidth=0,
            label=f"chance: {level:.0f}% {of}")
    ax.scatter(np.asarray(data["score_toponets_chance"].values, dtype=np.float64), y, marker="|", s=60,
               color="0.1", zorder=3, label="chance: mean of shuffles")


def plot_dimensionality_layers(data: xr.Dataset, *, title: str | None = None) -> Any:
    """Eigenspectra per layer (log-log) and the effective dimensionality of each.

    Parameters
    ----------
    data : xr.Dataset, dims (layer, component)
        From :func:`~toposcope.analysis.layerwise.dimensionality_by_layer`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Left: eigenvalue against rank, one line per layer, labelled with the
        layer and its power-law decay exponent alpha (legend beside the panel;
        beyond 10 layers the colours run along depth instead of repeating);
        right (``figure.axes[-1]``): ``effective_dimensionality`` per layer as
        horizontal bars in the same colours, first layer on top.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    _need(data, ("eigenvalue", "effective_dimensionality"), "dimensionality_by_layer")
    names = [str(n) for n in data["layer"].values]
    many = len(names) > 10
    colors = ([colormaps["viridis"](v) for v in np.linspace(0.0, 0.9, len(names))] if many
              else [f"C{i}" for i in range(len(names))])
    height = 3.4 if len(names) <= 12 else 0.2 * len(names) + 1.0
    figure = Figure(figsize=(8.0, height), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(2, 1))
    rank = np.asarray(data["component"].values, dtype=np.float64)
    for name, color in zip(names, colors):
        values = np.asarray(data["eigenvalue"].sel(layer=name).values, dtype=np.float64)
        keep = np.isfinite(values) & (values > 0)
        alpha = float(data["decay_exponent"].sel(layer=name)) if "decay_exponent" in data else float("nan")
        label = f"{name} ({alpha:.2f})" if np.isfinite(alpha) else name
        left.loglog(rank[keep], values[keep], color=color, linewidth=1.2, label=label)
    left.set_xlabel("rank")
    left.set_ylabel("eigenvalue (variance)")
    left.legend(fontsize=6 if many else 7, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                borderaxespad=0.0, title="layer (power-law\ndecay exponent alpha)" if "decay_exponent" in data
                else "layer", title_fontsize=7)
    _score_bars(right, names, np.asarray(data["effective_dimensionality"].values, dtype=np.float64), colors)
    right.set_xlabel("effective dimensionality", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9)
    return figure
