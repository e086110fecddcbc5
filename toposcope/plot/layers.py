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


def _bars(ax: Any, names: list[str], values: np.ndarray, ylabel: str) -> None:
    ax.bar(np.arange(len(names)), values, color=[f"C{i % 10}" for i in range(len(names))])
    ax.set_xticks(np.arange(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)


def plot_smoothness_layers(data: xr.Dataset, *, title: str | None = None) -> Any:
    """Correlation vs sheet distance per layer (with chance bands) and the smoothness scores.

    Parameters
    ----------
    data : xr.Dataset, dims (layer, bin)
        From :func:`~toposcope.analysis.layerwise.smoothness_by_layer`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Left: one curve per layer (:func:`toposcope.plot.curves.plot_curves`);
        right: ``score_toponets`` per layer, with its chance level (tick) and
        band (grey) when the Dataset has them.
    """
    from matplotlib.figure import Figure

    _need(data, ("correlation", "score_toponets", "distance"), "smoothness_by_layer")
    names = [str(n) for n in data["layer"].values]
    curves = {}
    for name in names:
        layer = data.sel(layer=name).drop_vars(["layer"])
        centres = layer["distance"].values
        curves[name] = layer.drop_vars(["distance", "bin"]).assign_coords(bin=centres)
        curves[name].attrs = dict(data.attrs)
    figure = Figure(figsize=(8.0, 3.2), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(2, 1))
    plot_curves(curves, left)
    _bars(right, names, np.asarray(data["score_toponets"].values, dtype=np.float64),
          "smoothness (max - min of curve)")
    if "score_toponets_chance_low" in data:
        _chance_band(right, data)
    if title:
        figure.suptitle(title, fontsize=9)
    return figure


def _chance_band(ax: Any, data: xr.Dataset) -> None:
    """Each layer's chance level of the score (a tick) and its band (a grey bar over the layer's bar)."""
    x = np.arange(data.sizes["layer"])
    low, high = (np.asarray(data[f"score_toponets_chance_{e}"].values, dtype=np.float64) for e in ("low", "high"))
    level = 100 * float(data.attrs.get("level", 0.95))
    ax.bar(x, high - low, bottom=low, width=0.8, color="0.2", alpha=0.3, linewidth=0,
           label=f"chance ({level:.0f}% of shuffles)")
    ax.scatter(x, np.asarray(data["score_toponets_chance"].values, dtype=np.float64), marker="_", s=120,
               color="0.1", zorder=3)
    ax.legend(fontsize=7, frameon=False, loc="upper left")


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
        Left: eigenvalue against rank, one line per layer (labelled with the
        layer and its decay exponent); right: ``effective_dimensionality`` per layer.
    """
    from matplotlib.figure import Figure

    _need(data, ("eigenvalue", "effective_dimensionality"), "dimensionality_by_layer")
    names = [str(n) for n in data["layer"].values]
    figure = Figure(figsize=(8.0, 3.2), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(2, 1))
    rank = np.asarray(data["component"].values, dtype=np.float64)
    for i, name in enumerate(names):
        values = np.asarray(data["eigenvalue"].sel(layer=name).values, dtype=np.float64)
        keep = np.isfinite(values) & (values > 0)
        alpha = float(data["decay_exponent"].sel(layer=name)) if "decay_exponent" in data else float("nan")
        label = f"{name} (alpha {alpha:.2f})" if np.isfinite(alpha) else name
        left.loglog(rank[keep], values[keep], color=f"C{i % 10}", linewidth=1.2, label=label)
    left.set_xlabel("rank")
    left.set_ylabel("eigenvalue (variance)")
    left.legend(fontsize=7, frameon=False)
    _bars(right, names, np.asarray(data["effective_dimensionality"].values, dtype=np.float64),
          "effective dimensionality")
    if title:
        figure.suptitle(title, fontsize=9)
    return figure
