"""Training trajectories: every metric of a run against training step, and alignment against competence.

A recipe whose ``[[models]]`` entry is a trajectory (``revisions = [...]`` or a
steps table; :mod:`toposcope.recipes.trajectory`) gives each step's results the
attrs ``trajectory``, ``step`` and ``tokens``. This module lines them up:

* ``trajectory_metrics``: one panel per metric of every named analysis the run
  has (TopoLoss, minimal-pair accuracy, smoothness, Moran's I of the language
  localizer, effective dimensionality, each Brain-Score benchmark's score),
  the metric against step on a log axis (symmetric log: step 0 sits at the
  left edge, the axis is linear from 0 to the first positive step, which the
  axis label states, and log above it). For a single trajectory one line per
  layer; for several (model sizes) one line per model size, ordered by size,
  with a layered metric's single layers drawn thin and faint behind the
  model's mean over layers. The numbers go beside it as a long CSV.
* ``alignment_competence``: the brain-alignment-over-training study's scatter,
  brain score (y) against minimal-pair accuracy (x), one panel per Brain-Score
  benchmark, one point per checkpoint coloured by step (one colour bar, the
  same symmetric log scale), one marker per model size, each model's points
  joined in step order. Accuracy is the first ``competence`` analysis by name
  (its name is on the x axis).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from toposcope.figures._run import Run, Skip, write_csv

__all__ = ["FIGURES", "METRICS", "alignment_figure", "alignment_table", "metrics_figure", "size_key",
           "trajectory_table"]

#: kind -> (variable, per-layer dim or None, axis label): the metrics a trajectory figure draws.
METRICS: dict[str, tuple[str, str | None, str]] = {
    "topoloss": ("topoloss", "layer", "TopoLoss"),
    "competence": ("accuracy_overall", None, "minimal-pair accuracy"),
    "smoothness": ("score_toponets", "layer", "smoothness (TopoNets score)"),
    "localizer": ("morans_i", "layers", "Moran's I of the language t-map"),
    "dimensionality": ("effective_dimensionality", "layer", "effective dimensionality"),
    "brainscore": ("score", None, "brain score"),
}

#: One marker per model size in the alignment scatter (sizes beyond these reuse them in order).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

_COLUMNS = ["trajectory", "model", "step", "tokens", "kind", "analysis", "metric", "layer", "value"]


def trajectory_table(run: Run) -> pd.DataFrame:
    """Long table of every trajectory metric of every named analysis.

    Columns: trajectory, model, step, tokens, kind, analysis, metric (the
    panel's label), layer ("" for a metric without layers), value.
    """
    rows = []
    for analysis, kind in run.kinds.items():
        if kind not in METRICS:
            continue
        variable, dim, _ = METRICS[kind]
        for model, data in run.analyses.get(analysis, {}).items():
            attrs = run.attrs.get(model, {})
            if "trajectory" not in attrs or "step" not in attrs or variable not in data:
                continue
            values = data[variable]
            base = {"trajectory": str(attrs["trajectory"]), "model": model, "step": int(attrs["step"]),
                    "tokens": float(attrs["tokens"]) if "tokens" in attrs else np.nan, "kind": kind,
                    "analysis": analysis, "metric": _panel_label(run, analysis, kind, data)}
            if dim is not None and dim in values.dims:
                for layer, value in zip(values[dim].values, np.asarray(values.values, dtype=np.float64)):
                    rows.append({**base, "layer": str(layer), "value": float(value)})
            else:
                rows.append({**base, "layer": "", "value": float(np.asarray(values.values, dtype=np.float64).mean())})
    return pd.DataFrame(rows, columns=_COLUMNS).sort_values(["trajectory", "kind", "analysis", "layer", "step"],
                                                            ignore_index=True)


def _panel_label(run: Run, analysis: str, kind: str, data) -> str:
    label = METRICS[kind][2]
    if kind == "brainscore":
        # The benchmark names the panel (each benchmark is its own metric).
        return f"{label}: {data.attrs.get('benchmark', analysis)}"
    if sum(k == kind for k in run.kinds.values()) > 1:
        return f"{label} ({analysis})"
    return label


def size_key(name: str) -> tuple:
    """Sort key ordering trajectories by the model size in their name (``pythia-70m`` < ``pythia-1.4b``).

    Names without a size (``14m``, ``1.4b``, ``350k``) sort after, naturally.
    """
    match = re.search(r"(\d+(?:\.\d+)?)\s*([kmbt])(?![a-z])", name, flags=re.IGNORECASE)
    if match is None:
        return (1, 0.0, _natural(name))
    scale = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2).lower()]
    return (0, float(match.group(1)) * scale, _natural(name))


def _short(layer: str) -> str:
    return layer.removeprefix("transformer.").removesuffix(".weight")


def _trajectory_colors(trajectories: list[str]) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["plasma"]
    return {name: cmap(i / max(1, len(trajectories) - 1) * 0.85) for i, name in enumerate(trajectories)}


def metrics_figure(run: Run) -> tuple:
    """The ``trajectory_metrics`` figure and its table (:func:`trajectory_table`, the drawn panels only).

    Raises
    ------
    Skip
        If no metric has a trajectory with two or more steps.
    """
    from matplotlib.figure import Figure

    from toposcope.plot.trajectory import plot_metric_vs_step

    table = trajectory_table(run)
    panels = []
    if not table.empty:
        counts = table.groupby(["metric", "trajectory"])["step"].nunique().groupby(level="metric").max()
        # Panels in METRICS order, then by analysis name (brain-score benchmarks side by side).
        order = table.drop_duplicates("metric").assign(rank=lambda t: t["kind"].map(list(METRICS).index))
        panels = [m for m in order.sort_values(["rank", "analysis"])["metric"] if counts[m] >= 2]
    if not panels:
        raise Skip("needs results of a training trajectory (models with revisions = [...] or a steps table) at "
                   "two or more steps")
    table = table[table["metric"].isin(panels)].reset_index(drop=True)
    trajectories = sorted(set(table["trajectory"]), key=size_key)
    colors = _trajectory_colors(trajectories)
    columns = min(3, len(panels))
    rows = int(np.ceil(len(panels) / columns))
    figure = Figure(figsize=(4.0 * columns, 3.2 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, metric in zip(axes, panels):
        part = table[table["metric"] == metric]
        steps = np.asarray(sorted(set(part["step"])), dtype=np.float64)
        layers = sorted(set(part["layer"]), key=_natural)
        curves: dict[str, np.ndarray] = {}
        thin: list[str] = []
        shade: dict[str, object] = {}
        if len(trajectories) == 1:
            curves = {(_short(layer) or trajectories[0]): part[part["layer"] == layer].set_index("step")["value"]
                      .reindex(steps).to_numpy() for layer in layers}
        else:
            if layers != [""]:
                for name in trajectories:
                    for layer in layers:
                        line = part[(part["trajectory"] == name) & (part["layer"] == layer)]
                        if len(line):
                            key = f"_{name} {layer}"
                            curves[key] = line.set_index("step")["value"].reindex(steps).to_numpy()
                            thin.append(key)
                            shade[key] = colors[name]
                curves["single layers"] = np.full(steps.shape, np.nan)  # a legend entry for the thin lines
                thin.append("single layers")
                shade["single layers"] = "0.45"
            means = part.groupby(["trajectory", "step"])["value"].mean()
            present = set(means.index.get_level_values("trajectory"))
            for name in trajectories:
                if name in present:
                    curves[name] = means.xs(name, level="trajectory").reindex(steps).to_numpy()
                    shade[name] = colors[name]
        kind = str(part["kind"].iloc[0])
        plot_metric_vs_step(ax, steps, curves, ylabel=METRICS[kind][2], title=metric, colors=shade, thin=thin)
        if kind == "competence":
            ax.axhline(0.5, linestyle="--", linewidth=0.8, color="0.55", label="chance")
            ax.legend(fontsize=6.5, frameon=False)  # again, so the chance line is named
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return figure, table


def _metrics(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.sheet import save_figure

    figure, table = metrics_figure(run)
    stem = folder / "trajectory_metrics"
    return [*save_figure(figure, stem), write_csv(table, stem.with_suffix(".csv"))]


def alignment_table(run: Run) -> pd.DataFrame:
    """One row per (checkpoint, Brain-Score benchmark) with both scores.

    Columns: trajectory, model, step, tokens, competence (the analysis name),
    accuracy, analysis (the brainscore analysis), benchmark, brain_score.
    """
    columns = ["trajectory", "model", "step", "tokens", "competence", "accuracy", "analysis", "benchmark",
               "brain_score"]
    competence = run.of_kind("competence")
    if not competence:
        return pd.DataFrame(columns=columns)
    source = min(competence)
    rows = []
    for analysis, results in sorted(run.of_kind("brainscore").items()):
        for model, data in results.items():
            attrs = run.attrs.get(model, {})
            accuracy = competence[source].get(model)
            if "trajectory" not in attrs or "step" not in attrs or accuracy is None or "score" not in data:
                continue
            rows.append({"trajectory": str(attrs["trajectory"]), "model": model, "step": int(attrs["step"]),
                         "tokens": float(attrs["tokens"]) if "tokens" in attrs else np.nan, "competence": source,
                         "accuracy": float(accuracy["accuracy_overall"]), "analysis": analysis,
                         "benchmark": str(data.attrs.get("benchmark", analysis)), "brain_score": float(data["score"])})
    return pd.DataFrame(rows, columns=columns).sort_values(["analysis", "trajectory", "step"], ignore_index=True)


def alignment_figure(run: Run) -> tuple:
    """The ``alignment_competence`` figure and its table (:func:`alignment_table`).

    Raises
    ------
    Skip
        If the run lacks competence or brainscore results of a trajectory at two or more steps.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from toposcope.plot.trajectory import plot_alignment_competence, step_norm

    table = alignment_table(run)
    if table.empty or table.groupby(["analysis", "trajectory"])["step"].nunique().max() < 2:
        raise Skip("needs competence and brainscore results of a training trajectory at two or more steps")
    analyses = list(dict.fromkeys(table["analysis"]))
    trajectories = sorted(set(table["trajectory"]), key=size_key)
    markers = {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(trajectories)}
    norm = step_norm(table["step"].to_numpy(dtype=np.float64))
    columns = min(3, len(analyses))
    rows = int(np.ceil(len(analyses) / columns))
    figure = Figure(figsize=(3.6 * columns + 0.9, 3.2 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    points = None
    for ax, analysis in zip(axes, analyses):
        part = table[table["analysis"] == analysis]
        for name in trajectories:
            line = part[part["trajectory"] == name]
            if len(line):
                points = plot_alignment_competence(ax, line["accuracy"], line["brain_score"], line["step"],
                                                   norm=norm, marker=markers[name], label=name,
                                                   xlabel=f"minimal-pair accuracy ({part['competence'].iloc[0]})")
        ax.set_title(str(part["benchmark"].iloc[0]), fontsize=9, fontweight="bold")
        ax.grid(alpha=0.25, linewidth=0.5)
        # The legend names the model sizes by marker (even a single one: which model it is).
        handles = [Line2D([], [], marker=markers[n], color="0.6", markerfacecolor="white",
                          markeredgecolor="k", linewidth=0.8, label=n) for n in trajectories]
        ax.legend(handles=handles, fontsize=6.5, frameon=False)
    for ax in axes[len(analyses):]:
        ax.set_visible(False)
    figure.colorbar(points, ax=axes[:len(analyses)].tolist(), label="training step", shrink=0.9)
    return figure, table


def _alignment(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.sheet import save_figure

    figure, table = alignment_figure(run)
    stem = folder / "alignment_competence"
    return [*save_figure(figure, stem), write_csv(table, stem.with_suffix(".csv"))]


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


#: file stem -> builder(run, folder) -> files written; raises Skip when inputs are absent.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {
    "trajectory_metrics": _metrics,
    "alignment_competence": _alignment,
}
