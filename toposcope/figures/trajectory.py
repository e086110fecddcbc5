"""Training trajectories: every metric of a run against training step.

A recipe whose ``[[models]]`` entry is a trajectory (``revisions = [...]`` or a
steps table; :mod:`toposcope.recipes.trajectory`) gives each step's results the
attrs ``trajectory``, ``step`` and ``tokens``. This module lines them up:

* ``trajectory_metrics``: one panel per metric the run has (TopoLoss,
  minimal-pair accuracy, smoothness, Moran's I of the language localizer,
  effective dimensionality), the metric against step on a log axis; one line
  per layer for a single trajectory, one per trajectory (its mean over layers)
  for several (model sizes). The numbers go beside it as a long CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from toposcope.figures._run import Run, Skip, write_csv

__all__ = ["FIGURES", "METRICS", "trajectory_table"]

#: kind -> (variable, per-layer dim or None, axis label): the metrics a trajectory figure draws.
METRICS: dict[str, tuple[str, str | None, str]] = {
    "topoloss": ("topoloss", "layer", "TopoLoss"),
    "competence": ("accuracy_overall", None, "minimal-pair accuracy"),
    "smoothness": ("score_toponets", "layer", "smoothness (TopoNets score)"),
    "localizer": ("morans_i", "layers", "Moran's I of the language t-map"),
    "dimensionality": ("effective_dimensionality", "layer", "effective dimensionality"),
}


def trajectory_table(run: Run) -> pd.DataFrame:
    """Long table of every trajectory metric: trajectory, step, tokens, kind, metric, layer, value."""
    rows = []
    for kind, (variable, dim, label) in METRICS.items():
        for model, data in run.results.get(kind, {}).items():
            attrs = run.attrs.get(model, {})
            if "trajectory" not in attrs or "step" not in attrs or variable not in data:
                continue
            values = data[variable]
            base = {"trajectory": str(attrs["trajectory"]), "model": model, "step": int(attrs["step"]),
                    "tokens": float(attrs["tokens"]) if "tokens" in attrs else np.nan, "kind": kind,
                    "metric": label}
            if dim is not None and dim in values.dims:
                for layer, value in zip(values[dim].values, np.asarray(values.values, dtype=np.float64)):
                    rows.append({**base, "layer": str(layer), "value": float(value)})
            else:
                rows.append({**base, "layer": "", "value": float(np.asarray(values.values, dtype=np.float64).mean())})
    columns = ["trajectory", "model", "step", "tokens", "kind", "metric", "layer", "value"]
    return pd.DataFrame(rows, columns=columns).sort_values(["trajectory", "kind", "layer", "step"],
                                                           ignore_index=True)


def _short(layer: str) -> str:
    return layer.removeprefix("transformer.").removesuffix(".weight")


def _metrics(run: Run, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure

    from toposcope.plot.sheet import save_figure
    from toposcope.plot.trajectory import plot_metric_vs_step

    table = trajectory_table(run)
    counts = table.groupby(["trajectory", "kind"])["step"].nunique() if not table.empty else pd.Series(dtype=int)
    kinds = [k for k in METRICS if k in set(table["kind"]) and counts.xs(k, level="kind").max() >= 2]
    if not kinds:
        raise Skip("needs results of a training trajectory (models with revisions = [...] or a steps table) at "
                   "two or more steps")
    table = table[table["kind"].isin(kinds)]
    trajectories = sorted(set(table["trajectory"]))
    columns = min(3, len(kinds))
    rows = int(np.ceil(len(kinds) / columns))
    figure = Figure(figsize=(4.0 * columns, 3.2 * rows), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax, kind in zip(axes, kinds):
        part = table[table["kind"] == kind]
        steps = np.asarray(sorted(set(part["step"])), dtype=np.float64)
        if len(trajectories) == 1:
            curves = {(_short(layer) or trajectories[0]): part[part["layer"] == layer].set_index("step")["value"]
                      .reindex(steps).to_numpy() for layer in sorted(set(part["layer"]), key=_natural)}
        else:
            means = part.groupby(["trajectory", "step"])["value"].mean()
            curves = {name: means.xs(name, level="trajectory").reindex(steps).to_numpy()
                      for name in trajectories if name in means.index.get_level_values("trajectory")}
        plot_metric_vs_step(ax, steps, curves, ylabel=METRICS[kind][2], title=METRICS[kind][2])
        if kind == "competence":
            ax.axhline(0.5, linestyle="--", linewidth=0.8, color="0.55", label="chance")
    for ax in axes[len(kinds):]:
        ax.set_visible(False)
    stem = folder / "trajectory_metrics"
    return [*save_figure(figure, stem), write_csv(table, stem.with_suffix(".csv"))]


def _natural(text: str) -> list:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


#: file stem -> builder(run, folder) -> files written; raises Skip when inputs are absent.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {
    "trajectory_metrics": _metrics,
}
