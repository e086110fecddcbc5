"""TopoNets (Deb et al., ICLR 2025) figures 2, 3, 4 and 5A, and the correlation-vs-distance curves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from toposcope.figures._run import Run, Skip, is_baseline, performance, summary, write_csv
from toposcope.figures._style import model_styles

__all__ = ["FIGURES", "competence_score"]


def _styled_summary(run: Run) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`summary` with each model's family, tau, modality and label, and the styles themselves."""
    table = summary(run)
    styles = model_styles(run, table["model"].tolist())
    for column in ("family", "tau", "modality", "label"):
        table[column] = [getattr(styles[m], column) for m in table["model"]]
    return table, styles


def _modalities(table: pd.DataFrame) -> list[str]:
    return [m for m in ("vision", "language") if (table["modality"] == m).any()]


def _fig2(run: Run, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure

    from toposcope.analysis.stats import pareto_front
    from toposcope.plot.models import plot_family_trends, plot_model_points, unexaggerated
    from toposcope.plot.sheet import save_figure

    table, styles = _styled_summary(run)
    table = table.dropna(subset=["smoothness"]).drop(columns="effective_dimensionality")
    axes_of: dict[str, tuple[str, bool]] = {}
    table["performance_measure"] = "task performance"
    for modality in _modalities(table):
        rows = table.index[table["modality"] == modality]
        values, label, higher = _performance_axis(run, table.loc[rows, "model"].tolist(), modality)
        table.loc[rows, "performance"] = [values.get(m, np.nan) for m in table.loc[rows, "model"]]
        table.loc[rows, "performance_measure"] = label
        axes_of[modality] = (label, higher)
    table = table.dropna(subset=["performance"])
    if table.empty:
        raise Skip("needs smoothness results and a performance (competence or efficiency results, or a "
                   "'performance' attr) for at least one model")
    table = table.reset_index(drop=True)
    modalities = _modalities(table)
    # As the paper: vision and language models side by side, each architecture its hue and dashed trend.
    figure = Figure(figsize=(5.0 * len(modalities), 4.0), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(modalities)))
    table["pareto_front"] = False
    for ax, modality in zip(axes, modalities):
        part = table[table["modality"] == modality]
        label, higher = axes_of[modality]
        # The front keeps the best performance for its smoothness: the lowest where lower is better.
        front = part.index[pareto_front(part["smoothness"], part["performance"] * (1 if higher else -1))]
        table.loc[front, "pareto_front"] = True
        chosen = [styles[m] for m in part["model"]]
        plot_family_trends(ax, part["smoothness"], part["performance"], chosen)
        plot_model_points(ax, part["smoothness"], part["performance"], chosen)
        ax.set_title(f"{modality} models", fontsize=10, fontweight="bold")
        ax.set_xlabel("smoothness (degree of topography)")
        ax.set_ylabel(label)
        unexaggerated(ax, part["performance"])
    stem = folder / "fig2_smoothness_performance"
    return [*save_figure(figure, stem), write_csv(table, stem.with_suffix(".csv"))]


def competence_score(run: Run, model: str) -> tuple[float, str] | None:
    """A model's overall minimal-pair (or SyntaxGym) accuracy and its axis label, if the run has one."""
    for results in run.of_kind("competence").values():
        data = results.get(model)
        if data is not None and "accuracy_overall" in data:
            pairs = str(data.attrs.get("pairs", ""))
            label = "SyntaxGym accuracy" if pairs.startswith("syntaxgym") else \
                f"minimal-pair accuracy ({pairs or 'pairs'})"
            return float(data["accuracy_overall"]), label
    return None


def _performance_axis(run: Run, models: list[str], modality: str) -> tuple[dict[str, float], str, bool]:
    """Each model's y value in Fig. 2, the axis label and whether higher is better.

    Language models: the minimal-pair score when every model of the panel has
    one (TopoNets Fig. 2B plots BLiMP), else the recorded performance, labelled
    with its measure (perplexity: lower is better).
    """
    if modality == "language":
        scores = {m: competence_score(run, m) for m in models}
        if models and all(score is not None for score in scores.values()):
            labels = sorted({label for _, label in scores.values()})
            return {m: value for m, (value, _) in scores.items()}, " / ".join(labels), True
    values = {m: performance(run, m) for m in models}
    measures = set()
    for m in models:
        efficiency = run.results.get("efficiency", {}).get(m)
        if run.attrs[m].get("performance") is None and efficiency is not None:
            measures.add((str(efficiency.attrs.get("measure", "")), bool(efficiency.attrs.get("higher_is_better", 1))))
    if len(measures) == 1 and next(iter(measures))[0] == "perplexity":
        note = ", no minimal-pair results" if modality == "language" else ""
        return ({m: v for m, v in values.items() if v is not None},
                f"perplexity (lower is better{note})", False)
    return {m: v for m, v in values.items() if v is not None}, "task performance", True


def _fig3(run: Run, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure

    from toposcope.analysis.stats import compare_dimensionality
    from toposcope.plot.models import emptiest_corner, plot_model_points
    from toposcope.plot.sheet import save_figure

    table, styles = _styled_summary(run)
    table = table.dropna(subset=["smoothness", "performance", "effective_dimensionality"]).reset_index(drop=True)
    # The paper's r and Fisher z are over the topographic models of each modality; baselines are drawn, not counted.
    counts = {m: int((table["topographic"] & (table["modality"] == m)).sum()) for m in _modalities(table)}
    rows = [m for m, n in counts.items() if n >= 4]
    if not rows:
        raise Skip(f"needs dimensionality, smoothness and performance for >= 4 topographic models of one "
                   f"modality (Fisher z), the run has {counts or 0}")
    figure = Figure(figsize=(8.0, 3.4 * len(rows)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(rows), 2))
    stats_rows = []
    for (left, right), modality in zip(axes, rows):
        part = table[table["modality"] == modality]
        counted = part[part["topographic"]]
        stats = compare_dimensionality(counted["effective_dimensionality"], counted["smoothness"],
                                       counted["performance"])
        chosen = [styles[m] for m in part["model"]]
        for ax, x, r, p, xlabel in ((left, "performance", stats["r_performance"], stats["p_performance"],
                                     "task performance"),
                                    (right, "smoothness", stats["r_smoothness"], stats["p_smoothness"],
                                     "degree of topography (smoothness)")):
            plot_model_points(ax, part[x], part["effective_dimensionality"], chosen)
            tx, ty, ha, va = emptiest_corner(ax, part[x], part["effective_dimensionality"])
            ax.text(tx, ty, f"{modality.capitalize()}\nR = {r:.2f}, P = {p:.2g}", transform=ax.transAxes,
                    ha=ha, va=va, fontsize=9, fontweight="bold")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("effective dimensionality")
        left.set_title(f"{stats['test']}, r(ED, smoothness) vs r(ED, performance): z = {stats['z']:.2f}, "
                       f"p = {stats['p']:.2g} ({len(counted)} topographic models)", fontsize=8, loc="left")
        stats_rows += [{"modality": modality, "x": "performance", "r": stats["r_performance"],
                        "p": stats["p_performance"], "n": len(counted)},
                       {"modality": modality, "x": "smoothness", "r": stats["r_smoothness"],
                        "p": stats["p_smoothness"], "n": len(counted)},
                       {"modality": modality, "x": f"{stats['test']} (smoothness vs performance)", "r": stats["z"],
                        "p": stats["p"], "n": len(counted)}]
    stem = folder / "fig3_dimensionality"
    return [*save_figure(figure, stem), write_csv(table, stem.with_suffix(".csv")),
            write_csv(pd.DataFrame(stats_rows), folder / "fig3_dimensionality_stats.csv")]


def _fig4(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.efficiency import plot_efficiency
    from toposcope.plot.sheet import save_figure

    results = run.results.get("efficiency", {})
    if not results:
        raise Skip("needs efficiency results")
    flags = {model: not is_baseline(model, run.attrs[model]) for model in results}
    # As the paper: legend "tau = X" in the architecture's hue, darker with tau; baselines black.
    styles = model_styles(run, list(results))
    several = len({s.family for s in styles.values()}) > 1
    shown = {m: f"{s.family}, {s.label}" if several and s.topographic else s.label for m, s in styles.items()}
    if len(set(shown.values())) < len(shown):
        shown = {m: m for m in results}
    order = sorted(results, key=lambda m: (styles[m].family, styles[m].topographic, styles[m].tau or 0.0))
    figure = plot_efficiency({shown[m]: results[m] for m in order}, {shown[m]: flags[m] for m in order},
                             colors={shown[m]: styles[m].color for m in order})
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
    figure = Figure(figsize=(4.0 * len(results) + 2.2, 3.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(results), sharey=True))
    frames = []
    for i, (ax, (model, data)) in enumerate(zip(axes, results.items())):
        layers = {str(layer): data.sel(layer=layer) for layer in data["layer"].values}
        # One legend, beside the last panel: the layers and marks are the same in every panel.
        plot_curves(layers, ax, title=model, legend="outside" if i == len(results) - 1 else None)
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
    # Rows as the paper: controls (untrained, baseline) on top, then the TopoNets by increasing tau.
    styles = model_styles(run, list(maps))
    maps = {m: maps[m] for m in sorted(maps, key=lambda m: (styles[m].topographic, styles[m].tau or 0.0))}
    shared = [str(c) for c in next(iter(maps.values()))["contrast"].values
              if all(c in m["contrast"].values for m in maps.values())]
    # The paper's columns first, then every other category the stimulus set has (many wrap to more rows).
    contrasts = ([c for c in FIG5A_CONTRASTS if c in shared] + [c for c in shared if c not in FIG5A_CONTRASTS])
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
