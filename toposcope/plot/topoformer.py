"""Topoformer's figures from results in memory: TGI per layer, component maps, suite maps.

Layouts follow the paper (Binhuraib, Tuckute & Blauch 2024) and its
``cookbook/visualizations.py``: maps drawn on each layer's square sheet with a
diverging colour scale centred on 0 (``sns.heatmap(..., center=0)``), the first
two principal components' weights per layer with the explained variance ratio
of the first five, suites (rows) by layers (columns) of signed -log10 p, and
the TGI of every layer for the topographic model beside its control. Built on
``matplotlib.figure.Figure``, never pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.plot.sheet import color_limits, layer_labels, plot_sheet

__all__ = ["plot_component_alignment", "plot_component_maps", "plot_suite_maps", "plot_tgi_layers", "short_names"]


#: Topoformer's names for the hooked modules of a block.
_HOOK_NAMES = {"query": "queries", "key": "keys", "value": "values", "head": "attention output",
               "output_projection": "output projection"}


def short_names(layers: Sequence[str]) -> dict[str, str]:
    """Panel labels: Topoformer's module names (``queries``, ..., ``output projection``), the block when several."""
    import re

    blocks = {m.group(1) for n in layers if (m := re.search(r"layers\.(\d+)\.", n))}
    if not layers or not all(n.split(".")[-1] in _HOOK_NAMES for n in layers):
        return layer_labels(layers)
    out = {}
    for name in layers:
        label = _HOOK_NAMES[name.split(".")[-1]]
        match = re.search(r"layers\.(\d+)\.", name)
        out[name] = f"L{match.group(1)} {label}" if match and len(blocks) > 1 else label
    return out


def _need(data: Any, variables: Sequence[str], what: str) -> None:
    if not isinstance(data, xr.Dataset) or any(v not in data for v in variables):
        raise ToposcopeError(f"expected the Dataset of {what} (with {', '.join(variables)})")


def _unit_layers(data: xr.Dataset) -> list[str]:
    if "layer" not in data.coords or data["layer"].dims != ("unit",):
        return [""]
    return list(dict.fromkeys(np.asarray(data["layer"].values).astype(str).tolist()))


def _layer_units(values: xr.DataArray, layer: str) -> xr.DataArray:
    if not layer:
        return values
    return values.isel(unit=np.flatnonzero(np.asarray(values["layer"].values).astype(str) == layer))


def plot_tgi_layers(results: Mapping[str, xr.Dataset], *, title: str | None = None) -> Any:
    """TGI of every layer, one group of bars per layer, one bar per model (topographic vs control).

    Parameters
    ----------
    results : mapping of str to xr.Dataset
        Model name -> :func:`~toposcope.analysis.tgi.tgi_by_layer` result.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if not isinstance(results, Mapping) or not results:
        raise ToposcopeError("results must be a non-empty mapping of model name -> tgi_by_layer Dataset")
    for data in results.values():
        _need(data, ("tgi",), "tgi_by_layer")
    layers = list(dict.fromkeys(str(n) for data in results.values() for n in data["layer"].values))
    labels = short_names(layers)
    figure = Figure(figsize=(max(4.0, 0.9 * len(layers) * max(1, len(results)) ** 0.5 + 1.5), 3.2),
                    layout="constrained")
    ax = figure.add_subplot()
    width = 0.8 / len(results)
    for k, (model, data) in enumerate(results.items()):
        values = [float(data["tgi"].sel(layer=n)) if n in data["layer"].values else np.nan for n in layers]
        ax.bar(np.arange(len(layers)) + (k - (len(results) - 1) / 2) * width, values, width, label=model,
               color=f"C{k % 10}")
    ax.axhline(0.0, color="0.3", linewidth=0.6)
    ax.set_xticks(np.arange(len(layers)), [labels[n] for n in layers], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("TGI (-Spearman r, corr. vs distance)")
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return figure


def plot_component_maps(data: xr.Dataset, *, n_maps: int = 2, n_variance: int = 5, layers: Sequence[str] | None = None,
                        title: str | None = None) -> Any:
    """Each layer's first principal components as maps, with the explained variance ratio beside them.

    Parameters
    ----------
    data : xr.Dataset
        From :func:`~toposcope.analysis.components.components_by_layer` (or one
        layer's :func:`~toposcope.analysis.components.component_maps`).
    n_maps : int
        Components drawn as maps per layer (Topoformer: 2).
    n_variance : int
        Components in the variance panel (Topoformer: 5).
    layers : sequence of str, optional
        Rows; every layer by default.

    Returns
    -------
    matplotlib.figure.Figure
        One row per layer: ``n_maps`` maps (titled with their share of variance)
        and a bar panel of the explained variance ratio.
    """
    from matplotlib.figure import Figure

    _need(data, ("loadings", "explained_variance_ratio"), "component maps")
    names = list(layers) if layers is not None else _unit_layers(data)
    n_maps = min(n_maps, data.sizes["component"])
    labels = short_names([n for n in names if n]) if any(names) else {"": ""}
    figure = Figure(figsize=(2.4 * n_maps + 2.4, 2.2 * len(names) + 0.4), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(names), n_maps + 1, squeeze=False))
    for row, name in enumerate(names):
        loadings = _layer_units(data["loadings"], name)
        ratio = data["explained_variance_ratio"]
        if "layers" in ratio.dims:
            ratio = ratio.sel(layers=name)
        ratio = np.asarray(ratio.values, dtype=np.float64)
        for k in range(n_maps):
            plot_sheet(loadings.isel(component=k).drop_vars("component"), ax=axes[row, k], center=0.0,
                       colorbar=False, title=f"{labels.get(name, name)}  PC{k + 1} ({100 * ratio[k]:.1f}%)")
        shown = ratio[: min(n_variance, len(ratio))]
        ax = axes[row, n_maps]
        ax.bar(np.arange(1, len(shown) + 1), 100 * shown, color="0.4")
        ax.set_xticks(np.arange(1, len(shown) + 1))
        ax.set_xlabel("component", fontsize=8)
        ax.set_ylabel("variance explained (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    # The maps carry no colour bar: say what their colours are once for all.
    figure.supxlabel("maps: each unit's loading on the component, red positive, blue negative,\n"
                     "each map on its own symmetric scale (a component's sign is arbitrary)", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_suite_maps(data: xr.Dataset, *, variable: str = "signed_log10_p", layers: Sequence[str] | None = None,
                    title: str | None = None) -> Any:
    """Suites (rows) by layers (columns) of selectivity maps, one colour scale per suite centred on 0.

    Parameters
    ----------
    data : xr.Dataset, dims (suite, unit)
        From :func:`toposcope.workflows.topoformer.suite_maps_by_layer`.
    variable : {"signed_log10_p", "t"}
        Topoformer's signed -log10 p, or the t-map.
    layers : sequence of str, optional
        Columns; every layer by default.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    _need(data, (variable,), "suite maps")
    values = data[variable]
    if "suite" not in values.dims:
        values = values.expand_dims(suite=[str(data.attrs.get("suite", ""))])
    suites = [str(s) for s in values["suite"].values]
    names = list(layers) if layers is not None else _unit_layers(data)
    labels = short_names([n for n in names if n]) if any(names) else {"": ""}
    figure = Figure(figsize=(2.1 * len(names) + 1.2, 1.9 * len(suites) + 0.4), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(suites), len(names), squeeze=False))
    for row, suite in enumerate(suites):
        maps = [_layer_units(values.sel(suite=suite), name) for name in names]
        low, high = color_limits([m.values for m in maps], center=0.0)
        artist = None
        for col, (name, one) in enumerate(zip(names, maps)):
            heading = labels.get(name, name) if row == 0 else ""
            artist = plot_sheet(one, ax=axes[row, col], center=None, cmap="RdBu_r", vmin=low, vmax=high,
                                colorbar=False, title=(f"{suite}\n{heading}" if heading else suite) if col == 0 else heading)
        bar = figure.colorbar(artist, ax=list(axes[row]), shrink=0.8)
        bar.set_label("signed -log10 p" if variable == "signed_log10_p" else "t", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_component_alignment(model: xr.Dataset, alignment: xr.Dataset, *, n_rows: int = 2,
                             title: str | None = None) -> Any:
    """Brain components beside their best-matching model components, with r and the permutation p.

    Parameters
    ----------
    model : xr.Dataset
        One layer's :func:`~toposcope.analysis.components.component_maps` result
        (the model side of the alignment).
    alignment : xr.Dataset
        From :func:`toposcope.brain.components.align_components`.
    n_rows : int
        Brain components drawn (one row each).

    Returns
    -------
    matplotlib.figure.Figure
        Per row: the model component's map on the sheet and the brain
        component's loadings at the voxels' (x, y) (bars per voxel without coords).
    """
    from matplotlib.figure import Figure

    _need(model, ("loadings",), "component maps")
    _need(alignment, ("best_match", "best_r", "brain_loadings"), "align_components")
    n_rows = min(n_rows, alignment.sizes["brain_component"])
    figure = Figure(figsize=(6.4, 2.6 * n_rows + 0.3), layout="constrained")
    axes = np.atleast_2d(figure.subplots(n_rows, 2, squeeze=False))
    brain = alignment["brain_loadings"]
    for row in range(n_rows):
        k = int(alignment["brain_component"].values[row])
        match = int(alignment["best_match"].sel(brain_component=k))
        r, p = float(alignment["best_r"].sel(brain_component=k)), float(alignment["best_p"].sel(brain_component=k))
        plot_sheet(model["loadings"].sel(component=match).drop_vars("component"), ax=axes[row, 0], center=0.0,
                   colorbar=False, title=f"model PC{match}  (r = {r:.2f}, p = {p:.3g})")
        values = np.asarray(brain.sel(brain_component=k).values, dtype=np.float64)
        limit = float(np.abs(values).max()) or 1.0
        ax = axes[row, 1]
        if "x" in brain.coords and "y" in brain.coords:
            ax.scatter(brain["x"].values, brain["y"].values, c=values, cmap="RdBu_r", vmin=-limit, vmax=limit,
                       s=18, linewidths=0)
            ax.set_aspect("equal")
            ax.set_xlabel("x (mm)", fontsize=7)
            ax.set_ylabel("y (mm)", fontsize=7)
        else:
            ax.bar(np.arange(len(values)), values, color=np.where(values >= 0, "C3", "C0"))
            ax.set_xlabel("voxel", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_title(f"brain PC{k}", fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
