"""TopoNets (Deb et al., ICLR 2025) figures 2, 3, 4 and 5A, and the correlation-vs-distance curves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from toposcope.figures._run import Run, Skip, is_baseline, summary, write_csv

__all__ = ["FIGURES", "MAX_TMAP_COLUMNS"]

#: Most t-map columns drawn when a run holds none of the Fig. 5A contrasts; wider figures stop being legible.
MAX_TMAP_COLUMNS = 6


def _fig2(run: Run, folder: Path) -> list[Path]:
    from toposcope.analysis.stats import pareto_front
    from toposcope.plot.curves import plot_smoothness_performance
    from toposcope.plot.sheet import save_figure

    table = summary(run).dropna(subset=["smoothness", "performance"])
    if table.empty:
        raise Skip("needs smoothness results and a performance (efficiency results or a 'performance' attr) "
                    "for at least one model")
    table = table.drop(columns="effective_dimensionality").reset_index(drop=True)
    front = pareto_front(table["smoothness"], table["performance"])
    table["pareto_front"] = np.isin(np.arange(len(table)), front)
    ax = plot_smoothness_performance(table["smoothness"], table["performance"], labels=table["model"],
                                     topographic=table["topographic"], xlabel="smoothness (mean over layers)",
                                     ylabel="task performance")
    stem = folder / "fig2_smoothness_performance"
    return [*save_figure(ax.figure, stem), write_csv(table, stem.with_suffix(".csv"))]


def _fig3(run: Run, folder: Path) -> list[Path]:
    from toposcope.analysis.stats import compare_dimensionality
    from toposcope.plot.curves import plot_dimensionality
    from toposcope.plot.sheet import save_figure

    table = summary(run).dropna(subset=["smoothness", "performance", "effective_dimensionality"])
    # The paper's r and Fisher z are over the topographic models; baselines are drawn, not counted.
    topographic = table[table["topographic"]]
    if len(topographic) < 4:
        raise Skip(f"needs dimensionality, smoothness and performance for >= 4 topographic models "
                   f"(Fisher z), the run has {len(topographic)}")
    stats = compare_dimensionality(topographic["effective_dimensionality"], topographic["smoothness"],
                                   topographic["performance"])
    figure = plot_dimensionality(table["effective_dimensionality"], table["smoothness"], table["performance"],
                                 performance_label="task performance", topographic=table["topographic"])
    stem = folder / "fig3_dimensionality"
    stats_table = pd.DataFrame([{"x": "performance", "r": stats["r_performance"], "p": stats["p_performance"]},
                                {"x": "smoothness", "r": stats["r_smoothness"], "p": stats["p_smoothness"]},
                                {"x": f"{stats['test']} (smoothness vs performance)", "r": stats["z"],
                                 "p": stats["p"]}])
    return [*save_figure(figure, stem), write_csv(table, stem.with_suffix(".csv")),
            write_csv(stats_table, folder / "fig3_dimensionality_stats.csv")]


def _fig4(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.efficiency import plot_efficiency
    from toposcope.plot.sheet import save_figure

    results = run.results.get("efficiency", {})
    if not results:
        raise Skip("needs efficiency results")
    flags = {model: not is_baseline(model, run.attrs[model]) for model in results}
    figure = plot_efficiency(results, flags)
    rows = []
    for model, data in results.items():
        base = {"model": model, "topographic": flags[model]}
        if "change" in data and "fraction" in data["change"].dims:
            change = data["change"].mean("layer") if "layer" in data["change"].dims else data["change"]
            perf = data["performance"].mean("layer") if "layer" in data["performance"].dims else data["performance"]
            for x, c, p in zip(data["fraction"].values, change.values, perf.values):
                rows.append({**base, "curve": "pruned", "fraction": float(x), "performance": float(p),
                             "change": float(c)})
        if "downsampled_change" in data:
            for x, c, p in zip(data["fraction_removed"].values, data["downsampled_change"].values,
                               data["downsampled_performance"].values):
                rows.append({**base, "curve": "downsampled", "fraction": float(x), "performance": float(p),
                             "change": float(c)})
    stem = folder / "fig4_efficiency"
    return [*save_figure(figure, stem), write_csv(pd.DataFrame(rows), stem.with_suffix(".csv"))]


def _curves(run: Run, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure

    from toposcope.plot.curves import plot_curves
    from toposcope.plot.sheet import save_figure

    results = {model: data for model, data in run.results.get("smoothness", {}).items()
               if {"correlation", "distance"} <= set(data.variables)}
    if not results:
        raise Skip("needs smoothness results with their correlation-vs-distance curves")
    figure = Figure(figsize=(4.0 * len(results), 3.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(results), sharey=True))
    frames = []
    for ax, (model, data) in zip(axes, results.items()):
        # plot_curves draws against the 'bin' coord: give it the bin centres in sheet units.
        layers = {str(layer): data.sel(layer=layer).assign_coords(bin=data["distance"].sel(layer=layer).values)
                  for layer in data["layer"].values}
        plot_curves(layers, ax, title=model)
        table = data[["correlation", "sem", "chance", "chance_sem"]].to_dataframe().reset_index()
        frames.append(table.assign(model=model))
    stem = folder / "smoothness_curves"
    table = pd.concat(frames, ignore_index=True)
    columns = ["model", "layer", "bin", "distance", "correlation", "sem", "chance", "chance_sem"]
    return [*save_figure(figure, stem), write_csv(table[columns], stem.with_suffix(".csv"))]


def _merged_tmaps(run: Run) -> dict[str, xr.DataArray]:
    """Per model, the t-maps of all its selectivity analyses (fLOC, Konkle, ...) along ``contrast``.

    Analyses are taken in name order; a contrast already present is kept from the
    first, and an analysis over other units (another layer) than the first is left out.
    """
    merged: dict[str, xr.DataArray] = {}
    for results in run.of_kind("selectivity").values():
        for model, data in results.items():
            tmap, first = data["t"], merged.get(model)
            if first is None:
                merged[model] = tmap
                continue
            same_units = tmap.sizes["unit"] == first.sizes["unit"] and all(
                np.array_equal(tmap[c].values, first[c].values) for c in ("x", "y", "layer") if c in first.coords)
            new = [c for c in tmap["contrast"].values if c not in first["contrast"].values]
            if same_units and new:
                # Unit coords from the first, so the concatenation does not compare or duplicate them.
                extra = tmap.sel(contrast=new).drop_vars([c for c in tmap.coords if "unit" in tmap[c].dims])
                merged[model] = xr.concat([first, extra.assign_coords(
                    {c: first[c] for c in first.coords if "unit" in first[c].dims})], dim="contrast")
    return merged


def _fig5a(run: Run, folder: Path) -> list[Path]:
    from toposcope.io import write_netcdf
    from toposcope.plot.maps import FIG5A_CONTRASTS, plot_figure5a
    from toposcope.plot.sheet import save_figure

    maps = _merged_tmaps(run)
    if not maps:
        raise Skip("needs selectivity results")
    shared = [str(c) for c in next(iter(maps.values()))["contrast"].values
              if all(c in m["contrast"].values for m in maps.values())]
    contrasts = [c for c in FIG5A_CONTRASTS if c in shared] or shared[:MAX_TMAP_COLUMNS]
    if not contrasts:
        raise Skip("the models' t-maps share no contrast")
    figure = plot_figure5a(maps, contrasts=contrasts)
    # Models may differ in size: each gets its own unit dim and x, y in the data file.
    data = xr.Dataset(coords={"contrast": contrasts})
    for i, (model, tmap) in enumerate(maps.items()):
        shown = tmap.sel(contrast=contrasts)
        last = str(tmap["layer"].values[-1]) if "layer" in tmap.coords else ""
        if last:
            shown = shown.isel(unit=np.flatnonzero(tmap["layer"].values == last))
        dim = f"unit_{i}"
        data[f"t_{i}"] = xr.DataArray(np.asarray(shown.values), dims=("contrast", dim),
                                      attrs={"model": model, "layer": last})
        for coord in ("x", "y"):
            data[f"{coord}_{i}"] = (dim, np.asarray(shown[coord].values))
    stem = folder / "fig5a_tmaps"
    return [*save_figure(figure, stem), write_netcdf(data, stem.with_suffix(".nc"))]


#: file stem -> builder(run, folder) -> files written; raises Skip when inputs are absent.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {
    "fig2_smoothness_performance": _fig2,
    "fig3_dimensionality": _fig3,
    "fig4_efficiency": _fig4,
    "smoothness_curves": _curves,
    "fig5a_tmaps": _fig5a,
}
