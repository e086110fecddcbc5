"""TopoLM's seed-grown clusters: each layer's t-map with its clusters outlined, and one profile bar chart per cluster.

Draws the result of :func:`toposcope.analysis.clusters.clusters_by_layer`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError

__all__ = ["CONDITION_ORDER", "plot_clusters"]

#: TopoLM's bar order: sentences, words, Jabberwocky, non-words (others follow as given).
CONDITION_ORDER = ("sentences", "words", "jabberwocky", "nonwords", "S", "W", "J", "N")


def _order(conditions: list[str]) -> list[str]:
    known = [c for c in CONDITION_ORDER if c in conditions]
    return known + [c for c in conditions if c not in known]


def plot_clusters(result: xr.Dataset, *, max_clusters: int = 8) -> Any:
    """One t-map per layer with its clusters outlined (numbered), then the clusters' profiles as bars.

    Parameters
    ----------
    result : xr.Dataset
        From :func:`toposcope.analysis.clusters.clusters_by_layer`.
    max_clusters : int
        Profiles drawn (largest clusters first).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from toposcope.plot.language import _draw_outline
    from toposcope.plot.sheet import plot_sheet

    if not isinstance(result, xr.Dataset) or not {"t", "member", "profile"} <= set(result.data_vars):
        raise ToposcopeError("plot_clusters needs the Dataset of clusters_by_layer (t, member, profile)")
    layers = list(dict.fromkeys(np.asarray(result["t"]["layer"].values).astype(str).tolist())) \
        if "layer" in result["t"].coords else [""]
    order = np.argsort(-result["size"].values, kind="stable")[:max_clusters]
    conditions = _order([str(c) for c in result["condition"].values])
    columns = max(len(layers), min(len(order), 4), 1)
    rows = 1 + int(np.ceil(len(order) / columns))
    figure = Figure(figsize=(2.6 * columns, 2.5 * rows), layout="constrained")
    grid = figure.add_gridspec(rows, columns)
    limit = float(np.nanmax(np.abs(result["t"].values))) if result.sizes["unit"] else 1.0
    for i, layer in enumerate(layers):
        ax = figure.add_subplot(grid[0, i])
        inside = np.asarray(result["t"]["layer"].values).astype(str) == layer if layer else \
            np.ones(result.sizes["unit"], dtype=bool)
        tmap = result["t"].isel(unit=np.flatnonzero(inside))
        plot_sheet(tmap, ax, center=0.0, vmax=limit, title=layer or "t-map", colorbar=i == len(layers) - 1,
                   label="t")
        for number in np.flatnonzero(np.asarray(result["cluster_layer"].values).astype(str) == layer):
            member = result["member"].isel(cluster=number, unit=np.flatnonzero(inside))
            _draw_outline(ax, member.assign_coords(x=tmap["x"], y=tmap["y"]))
            seed = int(result["seed_unit"][number])
            ax.annotate(str(number), (float(result["t"]["x"][seed]), float(result["t"]["y"][seed])), fontsize=7,
                        color="k", fontweight="bold", ha="center", va="center")
    colours = colormaps["Blues_r"](np.linspace(0, 0.75, len(conditions)))
    for k, number in enumerate(order):
        ax = figure.add_subplot(grid[1 + k // columns, k % columns])
        profile = result["profile"].isel(cluster=number).sel(condition=conditions).values
        sem = result["sem"].isel(cluster=number).sel(condition=conditions).values
        ax.bar(range(len(conditions)), profile, yerr=np.nan_to_num(sem), color=colours, capsize=0, alpha=0.9)
        ax.set_xticks(range(len(conditions)), [c[:1].upper() if len(c) > 1 else c for c in conditions])
        ax.set_title(f"#{number} {result['cluster_layer'].values[number]} | {int(result['size'][number])} units",
                     fontsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        if k % columns == 0:
            ax.set_ylabel("mean |response|", fontsize=8)
    if not len(order):
        figure.suptitle(f"no cluster reaches t >= {result.attrs.get('threshold', '?')}", fontsize=9)
    return figure
