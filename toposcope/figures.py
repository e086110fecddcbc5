"""The papers' figures from a finished ``toposcope run`` output folder.

:func:`build_figures` reads ``OUT/results/ANALYSIS/MODEL.nc`` and writes, into
``OUT/figures/paper/``, every figure its inputs allow, each as PNG and PDF with
the numbers behind it beside it (same stem, ``.csv`` or ``.nc``):

=========================  =====================================  ==============================
file stem                  what (TopoNets figure)                 needs results of
=========================  =====================================  ==============================
fig2_smoothness_performance smoothness vs performance, Pareto front smoothness + a performance
fig3_dimensionality        ED vs performance and vs smoothness,   dimensionality, smoothness,
                           Pearson r, p; Fisher z between them    a performance; >= 4 models
fig4_efficiency            performance change vs share pruned /   efficiency
                           downsampled
smoothness_curves          correlation vs distance per layer,     smoothness
                           chance band (one panel per model)
fig5a_tmaps                t-maps of the last layer per model     selectivity
=========================  =====================================  ==============================

Conventions (documented because the papers leave them implicit):

* **Smoothness** of a model is the mean over its layers of ``score_toponets``
  (:func:`toposcope.analysis.layerwise.smoothness_by_layer`); **ED** likewise the
  mean of ``effective_dimensionality``.
* **Performance** is a ``performance`` attribute on any of the model's result
  files when the run recorded one; otherwise the unpruned accuracy of its
  efficiency result (``attrs["baseline"]``).
* A model is a **baseline** (hollow, black) when its load options hold
  ``tau = 0`` (e.g. from a recipe's ``taus = [0, ...]``) or ``topographic = false``,
  or when its recipe name or spec contains ``"baseline"``; every other model is
  topographic (filled, coloured).

Figures whose inputs are absent are skipped with a one-line reason.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from toposcope._validation import ToposcopeError

__all__ = ["build_figures", "is_baseline", "load_run"]

#: Most t-map columns drawn when a run holds none of the Fig. 5A contrasts; wider figures stop being legible.
MAX_TMAP_COLUMNS = 6


@dataclass
class Run:
    """The results of one output folder: ``results[kind][model] -> Dataset`` plus model info."""

    path: Path
    results: dict[str, dict[str, xr.Dataset]] = field(default_factory=dict)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return list(self.attrs)


def _merged_attrs(data: xr.Dataset) -> dict[str, Any]:
    # A DataArray result (t-maps) keeps its provenance on its variable, a Dataset on the file.
    merged: dict[str, Any] = {}
    for variable in data.data_vars.values():
        merged.update(variable.attrs)
    merged.update(data.attrs)
    return merged


def load_run(out_dir: str | Path) -> Run:
    """Read every result of a ``toposcope run`` folder into memory.

    Parameters
    ----------
    out_dir : path
        A folder written by ``toposcope run`` (holds ``recipe.json`` and ``results/``).

    Returns
    -------
    Run
        Results keyed by analysis kind, then by the recipe's model name; when a
        recipe runs one kind twice (two named analyses), the first by name is used.

    Raises
    ------
    ToposcopeError
        If ``out_dir`` is not a run output folder.
    """
    path = Path(out_dir).expanduser()
    if not (path / "recipe.json").is_file():
        raise ToposcopeError(f"{str(path)!r} is not a toposcope run output (no recipe.json); "
                             "give the folder written by `toposcope run RECIPE -o OUT`")
    try:
        json.loads((path / "recipe.json").read_text(encoding="utf-8"))
    except ValueError:
        raise ToposcopeError(f"{str(path / 'recipe.json')!r} is not valid JSON; rerun the recipe") from None
    run = Run(path)
    for file in sorted((path / "results").glob("*/*.nc")):
        with xr.open_dataset(file, engine="h5netcdf") as handle:
            data = handle.load()
        attrs = _merged_attrs(data)
        kind = str(attrs.get("kind", file.parent.name))
        model = str(attrs.get("recipe_model", file.stem))
        run.results.setdefault(kind, {}).setdefault(model, data)
        run.attrs.setdefault(model, {}).update({k: v for k, v in attrs.items() if k not in run.attrs.get(model, {})})
    return run


def _options(attrs: dict[str, Any]) -> dict[str, str]:
    text = str(attrs.get("model_options", "") or "")
    pairs = (part.split("=", 1) for part in text.split(", ") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


def is_baseline(name: str, attrs: dict[str, Any]) -> bool:
    """Whether a model is a non-topographic baseline (see the module docstring for the rule)."""
    options = _options(attrs)
    try:
        if "tau" in options and float(options["tau"]) == 0.0:
            return True
    except ValueError:
        pass
    if options.get("topographic", "").lower() in ("false", "0", "no"):
        return True
    return "baseline" in name.lower() or "baseline" in str(attrs.get("model", "")).lower()


def _performance(run: Run, model: str) -> float | None:
    recorded = run.attrs[model].get("performance")
    if recorded is not None:
        return float(recorded)
    efficiency = run.results.get("efficiency", {}).get(model)
    if efficiency is not None and "baseline" in efficiency.attrs:
        return float(efficiency.attrs["baseline"])
    return None


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    from toposcope.io import atomic_path

    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def _summary(run: Run) -> pd.DataFrame:
    """One row per model: smoothness, ED, performance (NaN where absent), baseline flag."""
    rows = []
    for model in run.models:
        smooth = run.results.get("smoothness", {}).get(model)
        dim = run.results.get("dimensionality", {}).get(model)
        performance = _performance(run, model)
        rows.append({
            "model": model,
            "smoothness": float(smooth["score_toponets"].mean()) if smooth is not None else np.nan,
            "effective_dimensionality": float(dim["effective_dimensionality"].mean()) if dim is not None else np.nan,
            "performance": np.nan if performance is None else performance,
            "topographic": not is_baseline(model, run.attrs[model]),
        })
    return pd.DataFrame(rows, columns=["model", "smoothness", "effective_dimensionality", "performance",
                                       "topographic"])


def _fig2(run: Run, folder: Path) -> list[Path]:
    from toposcope.analysis.stats import pareto_front
    from toposcope.plot.curves import plot_smoothness_performance
    from toposcope.plot.sheet import save_figure

    table = _summary(run).dropna(subset=["smoothness", "performance"])
    if table.empty:
        raise _Skip("needs smoothness results and a performance (efficiency results or a 'performance' attr) "
                    "for at least one model")
    table = table.drop(columns="effective_dimensionality").reset_index(drop=True)
    front = pareto_front(table["smoothness"], table["performance"])
    table["pareto_front"] = np.isin(np.arange(len(table)), front)
    ax = plot_smoothness_performance(table["smoothness"], table["performance"], labels=table["model"],
                                     topographic=table["topographic"], xlabel="smoothness (mean over layers)",
                                     ylabel="task performance")
    stem = folder / "fig2_smoothness_performance"
    return [*save_figure(ax.figure, stem), _write_csv(table, stem.with_suffix(".csv"))]


def _fig3(run: Run, folder: Path) -> list[Path]:
    from toposcope.analysis.stats import compare_dimensionality
    from toposcope.plot.curves import plot_dimensionality
    from toposcope.plot.sheet import save_figure

    table = _summary(run).dropna(subset=["smoothness", "performance", "effective_dimensionality"])
    if len(table) < 4:
        raise _Skip(f"needs dimensionality, smoothness and performance for >= 4 models "
                    f"(Fisher z), the run has {len(table)}")
    args = (table["effective_dimensionality"], table["smoothness"], table["performance"])
    stats = compare_dimensionality(*args)
    figure = plot_dimensionality(*args, performance_label="task performance")
    stem = folder / "fig3_dimensionality"
    stats_table = pd.DataFrame([{"x": "performance", "r": stats["r_performance"], "p": stats["p_performance"]},
                                {"x": "smoothness", "r": stats["r_smoothness"], "p": stats["p_smoothness"]},
                                {"x": f"{stats['test']} (smoothness vs performance)", "r": stats["z"],
                                 "p": stats["p"]}])
    return [*save_figure(figure, stem), _write_csv(table.drop(columns="topographic"), stem.with_suffix(".csv")),
            _write_csv(stats_table, folder / "fig3_dimensionality_stats.csv")]


def _fig4(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.efficiency import plot_efficiency
    from toposcope.plot.sheet import save_figure

    results = run.results.get("efficiency", {})
    if not results:
        raise _Skip("needs efficiency results")
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
    return [*save_figure(figure, stem), _write_csv(pd.DataFrame(rows), stem.with_suffix(".csv"))]


def _curves(run: Run, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure

    from toposcope.plot.curves import plot_curves
    from toposcope.plot.sheet import save_figure

    results = {model: data for model, data in run.results.get("smoothness", {}).items()
               if {"correlation", "distance"} <= set(data.variables)}
    if not results:
        raise _Skip("needs smoothness results with their correlation-vs-distance curves")
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
    return [*save_figure(figure, stem), _write_csv(table[columns], stem.with_suffix(".csv"))]


def _fig5a(run: Run, folder: Path) -> list[Path]:
    from toposcope.io import write_netcdf
    from toposcope.plot.maps import FIG5A_CONTRASTS, plot_figure5a
    from toposcope.plot.sheet import save_figure

    results = run.results.get("selectivity", {})
    if not results:
        raise _Skip("needs selectivity results")
    maps = {model: data["t"] for model, data in results.items()}
    shared = [str(c) for c in next(iter(maps.values()))["contrast"].values
              if all(c in m["contrast"].values for m in maps.values())]
    contrasts = [c for c in FIG5A_CONTRASTS if c in shared] or shared[:MAX_TMAP_COLUMNS]
    if not contrasts:
        raise _Skip("the models' t-maps share no contrast")
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


class _Skip(Exception):
    """A figure whose inputs are absent; the message is the one-line reason."""


#: file stem -> builder(run, folder) -> files written; raises _Skip when inputs are absent.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {
    "fig2_smoothness_performance": _fig2,
    "fig3_dimensionality": _fig3,
    "fig4_efficiency": _fig4,
    "smoothness_curves": _curves,
    "fig5a_tmaps": _fig5a,
}


def build_figures(out_dir: str | Path, *, on_skip: Callable[[str], None] | None = None) -> list[Path]:
    """Build every paper figure a run's results allow into ``OUT/figures/paper/``.

    Parameters
    ----------
    out_dir : path
        The output folder of ``toposcope run``.
    on_skip : callable, optional
        Called with ``"STEM: reason"`` for each figure skipped for lack of
        inputs; a :class:`UserWarning` by default.

    Returns
    -------
    list of Path
        The files written: per figure ``STEM.png``, ``STEM.pdf`` and its data
        (``STEM.csv`` or ``STEM.nc``).

    Raises
    ------
    ToposcopeError
        If ``out_dir`` is not a run output folder.
    """
    run = load_run(out_dir)
    if not run.results:
        raise ToposcopeError(f"{str(run.path)!r} holds no results yet; run the recipe first")
    folder = run.path / "figures" / "paper"
    report = on_skip or (lambda message: warnings.warn(message, stacklevel=3))
    written: list[Path] = []
    for stem, builder in FIGURES.items():
        try:
            written.extend(builder(run, folder))
        except _Skip as reason:
            report(f"{stem}: {reason}")
    return written
