"""Curve and scatter figures: smoothness curves, the topography-performance trade-off, dimensionality.

* :func:`plot_curves`: correlation (or map difference) versus sheet distance,
  one line per layer or model, with its SEM and the chance band.
* :func:`plot_smoothness_performance`: smoothness against task performance
  across models with the Pareto front (TopoNets Fig. 2).
* :func:`plot_dimensionality`: effective dimensionality against performance
  and against smoothness, Pearson r and p on each panel, and a Fisher-z test
  between the two correlations (TopoNets Fig. 3).

Numbers come from :mod:`toposcope.analysis` (curves, :mod:`~toposcope.analysis.stats`);
these functions only draw. Figures are built on ``matplotlib.figure.Figure``,
never through pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.analysis.stats import compare_dimensionality, pareto_front

__all__ = ["CHANCE_Z", "curve_key", "plot_curves", "plot_dimensionality", "plot_smoothness_performance"]

#: The chance band spans the chance curve +- this many standard errors (95 %).
CHANCE_Z = 1.96


def _axes(ax: Any, size: tuple[float, float] = (6.0, 3.0)) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained").add_subplot()


def _as_curves(curves: Any) -> dict[str, xr.Dataset]:
    if isinstance(curves, xr.Dataset):
        return {str(curves.attrs.get("layer", "")): curves}
    if isinstance(curves, Mapping) and curves and all(isinstance(c, xr.Dataset) for c in curves.values()):
        return {str(k): v for k, v in curves.items()}
    raise ToposcopeError(
        "curves must be a Dataset from toposcope.analysis.smoothness.curve or a non-empty "
        f"{{label: Dataset}} mapping, got {type(curves).__name__}"
    )


def curve_key(*, chance: bool = True, sem: bool = True, min_pairs: int | None = None,
              color: Any = "0.3") -> list[Any]:
    """Legend entries that say what the marks of :func:`plot_curves` mean.

    Parameters
    ----------
    chance : bool
        Entries for the dashed chance curve and its grey band.
    sem : bool
        An entry for the shading around each curve.
    min_pairs : int, optional
        An entry for hollow markers (bins with fewer pairs, left out of the score).
    color
        Colour of the curve-coloured marks in the key (shading, hollow marker).

    Returns
    -------
    list of matplotlib artists
        Proxy artists, each labelled; pass them as ``handles=`` to a legend.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    if sem:
        handles.append(Patch(color=color, alpha=0.25, linewidth=0, label="curve +- SEM"))
    if min_pairs:
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=4, color=color,
                              markerfacecolor="white", label=f"bin with < {int(min_pairs)} pairs (not scored)"))
    if chance:
        handles.append(Line2D([], [], linestyle="--", linewidth=0.8, color=color,
                              label="chance: curve with shuffled positions"))
        handles.append(Patch(color="0.5", alpha=0.15, linewidth=0, label=f"chance +- {CHANCE_Z} SEM (95%)"))
    return handles


def plot_curves(
    curves: xr.Dataset | Mapping[str, xr.Dataset],
    ax: Any = None,
    *,
    chance: bool = True,
    variable: str | None = None,
    title: str | None = None,
    min_pairs: int | None = None,
    legend: str | None = "outside",
) -> Any:
    """Draw distance curves, one line per layer (or model), with chance bands.

    Parameters
    ----------
    curves : xr.Dataset or mapping of str to xr.Dataset
        Results of :func:`toposcope.analysis.smoothness.curve` (or
        ``selectivity_curve``), each dim ``bin``, keyed by the legend label.
        Drawn against the ``distance`` coord (bin centres), or ``bin`` itself
        when there is no ``distance``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when absent.
    chance : bool
        Draw each curve's chance level (dashed) and band, ``chance +- 1.96 * chance_sem``.
    variable : str, optional
        The variable drawn; ``correlation`` or ``difference`` by default.
    title : str, optional
    min_pairs : int, optional
        Bins with fewer pairs get hollow markers: they do not enter the
        smoothness score. Default: each curve's ``min_pairs`` attr, if any.
    legend : {"outside", "inside", None}
        Where the legend goes: to the right of the axes (default, so that it
        covers no curve), in the axes' emptiest corner, or nowhere (for panels
        that share one key, see :func:`curve_key`).
        It names each curve and says what the dashed line, the bands and
        hollow markers are.

    Returns
    -------
    matplotlib Axes
        Each curve's line is labelled with its key (``line.get_label()``), drawn
        at the bin centres; empty bins are gaps.
    """
    if legend not in ("inside", "outside", None):
        raise ToposcopeError(f"legend must be 'inside', 'outside' or None, got {legend!r}")
    curves = _as_curves(curves)
    ax = _axes(ax)
    units = ""
    marks = {"sem": False, "chance": False, "min_pairs": 0}
    for label, data in curves.items():
        name = variable or ("correlation" if "correlation" in data else "difference")
        if name not in data:
            raise ToposcopeError(f"curve {label!r} has no variable {name!r}; it holds {list(data.data_vars)}")
        x = np.asarray((data["distance"] if "distance" in data.coords else data["bin"]).values, dtype=np.float64)
        y = np.asarray(data[name].values, dtype=np.float64)
        line = ax.plot(x, y, marker="o", markersize=3, label=label or name)[0]
        color = line.get_color()
        threshold = data.attrs.get("min_pairs") if min_pairs is None else min_pairs
        if threshold and "pairs" in data:
            unscored = np.asarray(data["pairs"].values) < int(threshold)
            # color= given, so the extra markers do not advance the axes' colour cycle
            ax.plot(x[unscored], y[unscored], linestyle="none", marker="o", markersize=4, color=color,
                    markerfacecolor="white", label="_unscored")
            if unscored[np.isfinite(y)].any():
                marks["min_pairs"] = int(threshold)
        if "sem" in data:
            sem = np.asarray(data["sem"].values, dtype=np.float64)
            ax.fill_between(x, y - sem, y + sem, color=color, alpha=0.25, linewidth=0)
            marks["sem"] = True
        if chance and "chance" in data:
            level = np.asarray(data["chance"].values, dtype=np.float64)
            sem = data["chance_sem"].values if "chance_sem" in data else np.zeros_like(level)
            spread = CHANCE_Z * np.nan_to_num(np.asarray(sem, dtype=np.float64))
            ax.plot(x, level, linestyle="--", linewidth=0.8, color=color, label="_chance")
            ax.fill_between(x, level - spread, level + spread, color="0.5", alpha=0.15, linewidth=0)
            marks["chance"] = True
        units = units or str(data.attrs.get("distance_units", ""))
    ax.axhline(0.0, color="0.6", linewidth=0.5, zorder=0)
    ax.set_xlabel(f"sheet distance ({units})" if units else "sheet distance")
    first = next(iter(curves.values()))
    drawn = variable or ("correlation" if "correlation" in first else "difference")
    ax.set_ylabel({"correlation": "response correlation (r)", "difference": "|difference|"}.get(drawn, drawn))
    if legend:
        named = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        if len(curves) == 1 and not next(iter(curves)):
            named = []  # a single unnamed curve needs no entry of its own
        handles = named + curve_key(chance=marks["chance"], sem=marks["sem"], min_pairs=marks["min_pairs"])
        where = ({"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0}
                 if legend == "outside" else {"loc": "best"})
        ax.legend(handles=handles, fontsize=7, frameon=False, **where)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_smoothness_performance(
    smoothness: Sequence[float],
    performance: Sequence[float],
    ax: Any = None,
    *,
    labels: Sequence[str] | None = None,
    topographic: Sequence[bool] | None = None,
    xlabel: str = "smoothness",
    ylabel: str = "performance",
    maximize: tuple[bool, bool] = (True, True),
) -> Any:
    """Scatter smoothness against performance across models, with the Pareto front.

    Parameters
    ----------
    smoothness, performance : sequence of float, shape (n_models,)
    ax : matplotlib Axes, optional
    labels : sequence of str, optional
        Annotates each point.
    topographic : sequence of bool, optional
        Filled markers for topographic models, hollow for baselines.
    xlabel, ylabel : str
    maximize : (bool, bool)
        Preferred direction on each axis for the front (larger is better by default).

    Returns
    -------
    matplotlib Axes
        The front is the line labelled ``"Pareto front"``, through the
        non-dominated points in order of smoothness
        (:func:`toposcope.analysis.stats.pareto_front`).
    """
    x = np.asarray(smoothness, dtype=np.float64)
    y = np.asarray(performance, dtype=np.float64)
    front = pareto_front(x, y, maximize)
    ax = _axes(ax)
    filled = np.ones(len(x), dtype=bool) if topographic is None else np.asarray(topographic, dtype=bool)
    if filled.shape != x.shape:
        raise ToposcopeError(f"topographic must flag each of the {len(x)} models, got {filled.shape[0]}")
    ax.scatter(x[filled], y[filled], s=25, color="C0", label="topographic" if topographic is not None else None)
    if (~filled).any():
        ax.scatter(x[~filled], y[~filled], s=25, facecolors="none", edgecolors="k", label="baseline")
    ax.plot(x[front], y[front], linestyle="--", color="k", linewidth=1, label="Pareto front")
    if labels is not None:
        for xi, yi, text in zip(x, y, labels):
            ax.annotate(str(text), (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False)
    return ax


def _panel(ax: Any, x: np.ndarray, y: np.ndarray, r: float, p: float, xlabel: str,
           counted: np.ndarray) -> None:
    """ED against one variable: counted (topographic) models filled with their fit line, the rest hollow."""
    ax.scatter(x[counted], y[counted], s=20, color="C0")
    if (~counted).any():
        ax.scatter(x[~counted], y[~counted], s=20, facecolors="none", edgecolors="k", label="baseline (not in r)")
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    slope, intercept = np.polyfit(x[counted], y[counted], 1)
    span = np.array([x[counted].min(), x[counted].max()])
    ax.plot(span, slope * span + intercept, color="k", linewidth=1)
    ax.text(0.03, 0.97, f"r = {r:.2f}, p = {p:.2g}", transform=ax.transAxes, va="top", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("effective dimensionality")


def plot_dimensionality(
    dimensionality: Sequence[float],
    smoothness: Sequence[float],
    performance: Sequence[float],
    *,
    dependent: bool = False,
    performance_label: str = "performance",
    topographic: Sequence[bool] | None = None,
) -> Any:
    """Effective dimensionality against performance and against smoothness.

    Parameters
    ----------
    dimensionality, smoothness, performance : sequence of float, shape (n_models,)
        One value per model (e.g. checkpoints of one architecture).
    dependent : bool
        Compare the two correlations with Steiger's test for correlations that
        share a variable (ED) on the same models, instead of the independent
        Fisher z test; see :func:`toposcope.analysis.stats.compare_dimensionality`.
    performance_label : str
    topographic : sequence of bool, shape (n_models,), optional
        Which models count in r, p and the comparison (TopoNets Fig. 3 counts the
        topographic models; baselines are drawn hollow). All by default.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels (performance | smoothness on x, ED on y), each with its
        Pearson r and p; the comparison of the two correlations in the title.
    """
    from matplotlib.figure import Figure

    ed = np.asarray(dimensionality, dtype=np.float64)
    x_performance, x_smoothness = (np.asarray(v, dtype=np.float64) for v in (performance, smoothness))
    if not ed.shape == x_performance.shape == x_smoothness.shape:
        raise ToposcopeError("dimensionality, smoothness and performance need one value per model, "
                             f"got {ed.size}, {x_smoothness.size} and {x_performance.size}")
    counted = np.ones(ed.size, dtype=bool) if topographic is None else np.asarray(topographic, dtype=bool)
    if counted.shape != ed.shape:
        raise ToposcopeError(f"topographic has {counted.size} flags for {ed.size} models; give one per model")
    result = compare_dimensionality(ed[counted], x_smoothness[counted], x_performance[counted], dependent=dependent)
    figure = Figure(figsize=(7.0, 3.2), layout="constrained")
    left, right = figure.subplots(1, 2)
    _panel(left, x_performance, ed, result["r_performance"], result["p_performance"], performance_label, counted)
    _panel(right, x_smoothness, ed, result["r_smoothness"], result["p_smoothness"], "smoothness", counted)
    figure.suptitle(f"{result['test']}, r(ED, smoothness) vs r(ED, {performance_label}): "
                    f"z = {result['z']:.2f}, p = {result['p']:.2g}", fontsize=9)
    return figure
