"""Topoformer's figures (Binhuraib, Tuckute & Blauch 2024) from a run's results.

=====================  ==========================================================  =====================
file stem              what                                                        needs results of
=====================  ==========================================================  =====================
topoformer_suites      suite maps per layer (signed -log10 p), one block per model  suites
topoformer_components  PC1 and PC2 maps per layer with the explained variance       components
topoformer_tgi         TGI of every layer, every model side by side                 tgi
=====================  ==========================================================  =====================

Each figure is written as PNG and PDF with its numbers beside it (``.nc`` for
maps, ``.csv`` for the TGI). Models are the recipe's, in recipe order (the
shipped recipe runs the tiny Topoformer and its control).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import xarray as xr

from toposcope.figures._run import Run, Skip, write_csv

__all__ = ["FIGURES"]


def _of_kind(run: Run, kind: str) -> dict[str, xr.Dataset]:
    found = run.results.get(kind, {})
    if not found:
        raise Skip(f"no {kind} results in the run")
    return found


def _save_maps(figures: dict[str, object], data: dict[str, xr.Dataset], stem: Path) -> list[Path]:
    from toposcope.io import write_netcdf
    from toposcope.plot.sheet import save_figure

    written: list[Path] = []
    for model, figure in figures.items():
        written += save_figure(figure, stem.with_name(f"{stem.name}_{model}"))
    merged = xr.concat([d.expand_dims(model=[m]) for m, d in data.items()], dim="model", coords="minimal",
                       compat="override", combine_attrs="drop")
    written.append(write_netcdf(merged, stem.with_suffix(".nc")))
    return written


def _suites(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.topoformer import plot_suite_maps

    results = _of_kind(run, "suites")
    figures = {model: plot_suite_maps(data, title=f"{model}: suite maps (signed -log10 p)")
               for model, data in results.items()}
    return _save_maps(figures, results, folder / "topoformer_suites")


def _components(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.topoformer import plot_component_maps

    results = _of_kind(run, "components")
    figures = {model: plot_component_maps(data, title=f"{model}: principal components")
               for model, data in results.items()}
    return _save_maps(figures, results, folder / "topoformer_components")


def _tgi(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.sheet import save_figure
    from toposcope.plot.topoformer import plot_tgi_layers

    results = _of_kind(run, "tgi")
    stem = folder / "topoformer_tgi"
    frame = pd.DataFrame([{"model": model, "layer": str(layer), "tgi": float(data["tgi"].sel(layer=layer)),
                           "method": data.attrs.get("method", "")}
                          for model, data in results.items() for layer in data["layer"].values])
    figure = plot_tgi_layers(results, title="TGI per layer")
    return [*save_figure(figure, stem), write_csv(frame, stem.with_suffix(".csv"))]


#: file stem -> builder(run, folder) -> files written; raises Skip when inputs are absent.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {
    "topoformer_suites": _suites,
    "topoformer_components": _components,
    "topoformer_tgi": _tgi,
}
