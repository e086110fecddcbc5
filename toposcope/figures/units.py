"""TopoLM's unit-level figures from a run: seed-grown clusters and their condition profiles.

``topolm_clusters``: for each model with a ``clusters`` result
(:func:`toposcope.analysis.clusters.clusters_by_layer`), the layers' t-maps with
the clusters outlined and one bar chart per cluster of its mean absolute
response to sentences, words, Jabberwocky and non-words; the profiles go beside
it as a CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from toposcope.figures._run import Run, Skip, write_csv

__all__ = ["FIGURES"]


def _clusters(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.clusters import plot_clusters
    from toposcope.plot.sheet import save_figure

    results = {model: data for analyses in run.of_kind("clusters").values() for model, data in analyses.items()}
    if not results:
        raise Skip("needs clusters results (recipe kind 'clusters' on a language set with its conditions)")
    written, rows = [], []
    for model, data in sorted(results.items()):
        figure = plot_clusters(data)
        figure.suptitle(f"{model}: clusters of t >= {data.attrs.get('threshold')} ({data.attrs.get('contrast')})",
                        fontsize=9)
        written += save_figure(figure, folder / f"topolm_clusters-{model}")
        for number in range(data.sizes["cluster"]):
            for condition in data["condition"].values:
                rows.append({"model": model, "cluster": number, "layer": str(data["cluster_layer"].values[number]),
                             "size": int(data["size"][number]), "condition": str(condition),
                             "profile": float(data["profile"].isel(cluster=number).sel(condition=condition)),
                             "sem": float(data["sem"].isel(cluster=number).sel(condition=condition))})
    columns = ["model", "cluster", "layer", "size", "condition", "profile", "sem"]
    return [*written, write_csv(pd.DataFrame(rows, columns=columns), folder / "topolm_clusters.csv")]


#: file stem -> builder(run, folder) -> files written; raises Skip when inputs are absent.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {
    "topolm_clusters": _clusters,
}
