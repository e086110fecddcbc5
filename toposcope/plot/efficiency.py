"""TopoNets Fig. 4-style figures: performance change against the share of a model taken away.

:func:`plot_efficiency` draws the results of
:func:`toposcope.workflows.efficiency.pruning_curve`,
:func:`~toposcope.workflows.efficiency.downsampling_curve` or
:func:`~toposcope.workflows.efficiency.efficiency` for one or several models:
one panel per kind of curve (weights pruned; units removed by downsampling),
one line per model, topographic models coloured (in the order given, along a
colormap, as TopoNets colour their tau values) and baselines drawn black with
hollow markers. A dashed line marks no change.

Only draws: numbers come from the Datasets; built on
``matplotlib.figure.Figure``, never pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option

__all__ = ["VARIABLES", "plot_efficiency"]

#: What the y axis shows: the change against the intact model, its relative size, or the value itself.
VARIABLES = ("change", "relative_change", "performance")

_PANELS = (
    # (variable prefix, x dim, x coord, x label)
    ("", "fraction", "fraction", "fraction of weights pruned"),
    ("downsampled_", "factor", "fraction_removed", "fraction of units removed (downsampled)"),
    ("", "factor", "fraction_removed", "fraction of units removed (downsampled)"),
)


def _panels(data: xr.Dataset, variable: str) -> list[tuple[str, str, str]]:
    """``(variable name, x coord, x label)`` of each curve a Dataset holds."""
    found = []
    for prefix, dim, coord, label in _PANELS:
        name = f"{prefix}{variable}"
        if name in data and dim in data[name].dims:
            found.append((name, coord, label))
    return found


def _ylabel(variable: str, measure: str) -> str:
    return {"change": f"change in {measure}", "relative_change": f"relative change in {measure}",
            "performance": measure}[variable]


def plot_efficiency(
    results: xr.Dataset | Mapping[str, xr.Dataset],
    topographic: Mapping[str, bool] | Sequence[bool] | None = None,
    *,
    variable: str = "change",
    cmap: str = "viridis",
    colors: Mapping[str, Any] | None = None,
) -> Any:
    """Performance change against the fraction pruned and / or downsampled, per model.

    Parameters
    ----------
    results : xr.Dataset or mapping of str to xr.Dataset
        Curves keyed by the legend label (one model each). A pruning curve
        with a ``layer`` dim (``scope="layer"``) is drawn as its mean over
        layers with the range across layers shaded.
    topographic : mapping of str to bool, or sequence of bool, optional
        Which models are topographic (coloured, filled markers); the others
        are baselines (black, hollow). Default: all topographic.
    variable : {"change", "relative_change", "performance"}
    cmap : str
        Colormap along which the topographic models are coloured.
    colors : mapping of str to colour, optional
        Colours of some topographic models by label (e.g. the papers' hue per
        architecture, shaded by tau); the others take ``cmap``'s.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per kind of curve present; each line is labelled with its
        model's key (``line.get_label()``).
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    check_option("variable", variable, VARIABLES)
    if isinstance(results, xr.Dataset):
        results = {str(results.attrs.get("model", "model")): results}
    if not isinstance(results, Mapping) or not results or not all(isinstance(r, xr.Dataset) for r in results.values()):
        raise ToposcopeError("results must be a Dataset or a non-empty {label: Dataset} mapping of efficiency curves")
    labels = [str(k) for k in results]
    if topographic is None:
        flags = dict.fromkeys(labels, True)
    elif isinstance(topographic, Mapping):
        flags = {label: bool(topographic.get(label, True)) for label in labels}
    else:
        topographic = list(topographic)
        if len(topographic) != len(labels):
            raise ToposcopeError(f"topographic must flag each of the {len(labels)} models, got {len(topographic)}")
        flags = dict(zip(labels, map(bool, topographic)))
    kinds: dict[str, list] = {}
    for label, data in zip(labels, results.values()):
        panels = _panels(data, variable)
        if not panels:
            raise ToposcopeError(f"results {label!r} hold no {variable!r} curve over 'fraction' or 'factor'")
        for name, coord, xlabel in panels:
            kinds.setdefault(xlabel, []).append((label, data, name, coord))
    n_topo = sum(flags.values())
    colours = colormaps[cmap](np.linspace(0.1, 0.85, max(n_topo, 1)))
    colour_of, k = {}, 0
    for label in labels:
        if flags[label]:
            colour_of[label], k = colours[k], k + 1
    colour_of.update({label: colour for label, colour in (colors or {}).items() if flags.get(label)})
    figure = Figure(figsize=(4.0 * len(kinds), 3.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(kinds)))
    for ax, (xlabel, curves) in zip(axes, kinds.items()):
        measure = "performance"
        for label, data, name, coord in curves:
            measure = str(data.attrs.get("measure", measure))
            values = data[name]
            x = np.asarray(data[coord].values, dtype=np.float64)
            spread = None
            if "layer" in values.dims:
                spread = (values.min("layer").values, values.max("layer").values)
                values = values.mean("layer")
                label_text = f"{label} (mean of {data.sizes['layer']} layers)"
            else:
                label_text = label
            y = np.asarray(values.values, dtype=np.float64)
            if coord == "fraction_removed" and not np.any(x == 0):
                # The intact model is the curve's start: nothing removed, no change.
                intact = float(data.attrs.get("baseline", np.nan)) if variable == "performance" else 0.0
                x, y = np.concatenate([[0.0], x]), np.concatenate([[intact], y])
                if spread is not None:
                    spread = tuple(np.concatenate([[intact], s]) for s in spread)
            order = np.argsort(x)
            if flags[label]:
                style = {"color": colour_of[label], "marker": "o", "markerfacecolor": colour_of[label]}
            else:
                style = {"color": "k", "marker": "o", "markerfacecolor": "none"}
            # One level measured is a point, not a curve: no line through it.
            measured = int(np.asarray(data[coord].values).size)
            line = {"linestyle": "none", "markersize": 6} if measured < 2 else {"linewidth": 1.2, "markersize": 4}
            ax.plot(x[order], y[order], label=label_text, **line, **style)
            if spread is not None:
                ax.fill_between(x[order], spread[0][order], spread[1][order], color=style["color"], alpha=0.15,
                                linewidth=0)
        ax.axhline(0.0 if variable != "performance" else curves[0][1].attrs.get("baseline", 0.0),
                   color="0.5", linestyle="--", linewidth=0.8, zorder=0, label="intact model")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(_ylabel(variable, measure))
        ax.set_title(_layers_title(curves), fontsize=8)
        # Framed, so that a legend marker is not read as a measured point.
        ax.legend(fontsize=7, frameon=True, framealpha=0.9, edgecolor="0.8")
    figure.suptitle(labels[0] if len(labels) == 1 else f"{len(labels)} models", fontsize=9)
    return figure


def _layers_title(curves: list) -> str:
    """Which layers the panel's curves took away from: a pruning curve's layers, a downsampling's attrs."""
    names: list[str] = []
    for _, data, name, _ in curves:
        if name.startswith("downsampled_") or "factor" in data[name].dims:
            # A downsampling curve alone says "layers"; merged with pruning, "downsample_layers".
            text = data.attrs.get("downsample_layers", data.attrs.get("layers", ""))
            found = [n.strip() for n in str(text).split(",") if n.strip()]
        else:
            found = [str(n) for n in np.atleast_1d(data["layer"].values)] if "layer" in data.coords else []
        names += [n for n in found if n not in names]
    if not names:
        return ""
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"layers: {shown}"
