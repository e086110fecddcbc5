"""``report.md`` of a recipe run: task status, compact tables of scalar metrics per analysis (all of
them in ``metrics.csv``), the papers' figures and one figure per task inline.

Built from the result files alone, so a serial run and a Dask run of the same
recipe give the same report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toposcope.recipes.schema import Recipe, Task

__all__ = ["metric_rows", "write_report"]


def _open(path: Path) -> Any:
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as data:
        return data.load()


def metric_rows(data: Any, analysis: str) -> dict[str, dict[str, float]]:
    """Every scalar metric of one result: ``{layer: {"ANALYSIS.VARIABLE": value}}``.

    A variable counts when its only dim is ``layer`` (one value per layer) or it
    has no dims (one value for the model, listed under layer ``"-"``).
    """
    rows: dict[str, dict[str, float]] = {}
    measure = str(data.attrs.get("measure", "performance"))
    for name, variable in data.data_vars.items():
        if variable.dims == ("layer",):
            for layer, value in zip(data["layer"].values, variable.values):
                rows.setdefault(str(layer), {})[f"{analysis}.{name}"] = float(value)
        elif variable.dims == () and variable.dtype.kind in "fiub":
            rows.setdefault("-", {})[f"{analysis}.{name}"] = float(variable.values)
        elif variable.dims in (("fraction",), ("factor",)) and name.endswith("performance"):
            # Efficiency curves: the measure at every level, so the table shows the whole curve.
            for level, value in zip(data[variable.dims[0]].values, variable.values):
                step = f"{level:g} pruned" if variable.dims == ("fraction",) else f"x{level:g} downsampled"
                rows.setdefault("-", {})[f"{analysis}.{measure} {step}"] = float(value)
        elif set(variable.dims) == {"contrast", "unit"} and "layer" in data.coords:
            _selective(rows, analysis, variable)
    if "baseline" in data.attrs:
        # The unperturbed model's score, named for what it is.
        rows.setdefault("-", {})[f"{analysis}.{measure} intact"] = float(data.attrs["baseline"])
    return rows


def _selective(rows: dict[str, dict[str, float]], analysis: str, tmaps: Any) -> None:
    """Fraction of units selective (t above TDANN's threshold) per contrast, per layer."""
    from toposcope.analysis.patches import SELECTIVE_T, selective_fraction

    fraction = selective_fraction(tmaps.transpose("contrast", "unit"))
    for layer in fraction["layer"].values:
        for contrast in fraction["contrast"].values:
            value = float(fraction.sel(layer=layer, contrast=contrast))
            rows.setdefault(str(layer), {})[f"{analysis}.selective {contrast} (t>{SELECTIVE_T:g})"] = value


def _figure(task: Task, data: Any) -> Any:
    """The figure of one result, or None for kinds without one."""
    title = f"{task.model}: {task.analysis}"
    if task.kind == "smoothness":
        from toposcope.plot.layers import plot_smoothness_layers

        return plot_smoothness_layers(data, title=title)
    if task.kind == "dimensionality":
        from toposcope.plot.layers import plot_dimensionality_layers

        return plot_dimensionality_layers(data, title=title)
    if task.kind == "selectivity":
        from toposcope.plot.maps import plot_tmaps

        tmaps = data[next(iter(data.data_vars))] if "tmaps" not in data else data["tmaps"]
        # Every category the stimulus set has; more than fit side by side wrap to further rows.
        return plot_tmaps(tmaps, suptitle=title)
    if task.kind == "efficiency":
        from toposcope.plot.efficiency import plot_efficiency

        return plot_efficiency({task.model: data})
    if task.kind == "localizer":
        from toposcope.plot.windows import plot_localizer

        return plot_localizer(data)
    if task.kind == "windows":
        from toposcope.plot.windows import plot_window_rgb

        return plot_window_rgb(data, title=title)
    return None


def _paper_lines(output_dir: Path, paper: list[Path], skipped: list[str]) -> list[str]:
    """The report's paper-figure section: each PNG inline with links to its PDF and data."""
    lines = ["", "## Paper figures", ""]
    for png in (p for p in paper if p.suffix == ".png"):
        relative = png.relative_to(output_dir).as_posix()
        beside = sorted(p.relative_to(output_dir).as_posix() for p in paper
                        if p.parent == png.parent and p.suffix != ".png"
                        and (p.stem == png.stem or p.stem.startswith(png.stem + "_")))
        links = ", ".join(f"[{Path(b).name}]({b})" for b in beside)
        lines += [f"### {png.stem}", "", f"![{png.stem}]({relative})", "", f"Files: {links}", ""]
    if skipped:
        lines += ["Not drawn (their inputs are not in this run):", ""]
        lines += [f"- {reason}" for reason in skipped]
    return lines


def write_report(recipe: Recipe, tasks: list[Task], output_dir: Path, failures: dict[str, str],
                 figures: bool = True, paper: list[Path] | None = None, skipped: list[str] | None = None) -> Path:
    """Write ``output_dir/report.md`` (and ``figures/``) from the finished results; returns its path.

    ``paper`` lists the files of the papers' figures already built
    (:func:`toposcope.figures.build_figures`) and ``skipped`` the reasons of those
    not drawn; both go to a "Paper figures" section.
    """
    import matplotlib.pyplot as plt

    from toposcope.io import atomic_path

    lines = [f"# {recipe.name}", "", (f"Recipe hash `{recipe.sha256[:12]}`; "
             f"{len(recipe.models)} models x {len(recipe.analyses)} analyses = {len(tasks)} tasks."), ""]
    description = recipe.source.get("recipe", {}).get("description")
    if description:
        lines += [str(description).strip(), ""]
    lines += ["## Tasks", "", "| analysis | model | status | result |", "|---|---|---|---|"]
    table: dict[tuple[str, str], dict[str, float]] = {}
    levels: dict[str, float] = {}
    figure_lines: list[str] = []
    for task in tasks:
        path = output_dir / task.relative_path
        key = f"{task.analysis}/{task.model}"
        if key in failures or not path.is_file():
            status = f"failed: {failures[key]}" if key in failures else "missing"
            lines.append(f"| {task.analysis} | {task.model} | {status.replace('|', '/')} | |")
            continue
        lines.append(f"| {task.analysis} | {task.model} | done | [{task.relative_path}]({task.relative_path}) |")
        data = _open(path)
        if "level" in data.attrs:  # of the chance bands, named in the metric tables
            levels[task.analysis] = float(data.attrs["level"])
        for layer, metrics in metric_rows(data, task.analysis).items():
            table.setdefault((task.model, layer), {}).update(metrics)
        if figures:
            figure = _figure(task, data)
            if figure is not None:
                relative = f"figures/{task.analysis}/{task.model}.png"
                with atomic_path(output_dir / relative) as tmp:
                    figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
                plt.close(figure)
                figure_lines += [f"### {task.analysis}, {task.model}", "", f"![{task.analysis} {task.model}]({relative})", ""]
    lines += ["", "## Metrics per analysis", ""]
    if table:
        from toposcope.recipes.report_tables import metric_tables, write_metrics_csv

        csv = write_metrics_csv(table, output_dir / "metrics.csv")
        lines += [f"Every metric, unrounded, one row per model and layer: [{csv.name}]({csv.name}).", ""]
        kinds = {task.analysis: task.kind for task in tasks}
        lines += metric_tables(table, kinds, levels)
    else:
        lines.append("No finished results yet.")
    if paper or skipped:
        lines += _paper_lines(output_dir, paper or [], skipped or [])
    if figure_lines:
        lines += ["", "## Figures per task", "", *figure_lines]
    path = output_dir / "report.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path
