"""``toposcope demo``: the whole data path on the shipped digit models, offline, in about a minute.

:func:`run_demo` loads ``demo/topo`` and ``demo/baseline``, writes 500 digit
images (50 per digit) as stimuli, extracts the responses of the four
topographic layers of both, and writes into the output folder::

    stimuli/digit-D/*.png          the stimuli
    responses/MODEL.LAYER.nc       responses (stimulus, unit), with provenance
    maps/MODEL.LAYER.nc            tuning (category, unit), preferred digit and
                                   selectivity (unit) maps
    topoloss.nc                    TopoLoss (model, layer)
    figures/preferred_digit.png    the maps on the sheet, topo | baseline
    figures/selectivity_digit-0.png
    summary.json                   what the command prints

The smoothness figure here is deliberately simple (numpy only): the mean
Pearson correlation between the digit tuning curves of grid neighbours,
against that of all unit pairs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = [
    "format_summary",
    "neighbour_correlation",
    "preferred_category",
    "run_demo",
    "selectivity",
    "tuning_curves",
]

#: Digit whose selectivity (one vs the rest) is mapped.
TARGET = "digit-0"


# --------------------------------------------------------------------------- measures
def tuning_curves(responses: Any) -> Any:
    """Mean response of each unit to each category.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        With stimulus coord ``category``.

    Returns
    -------
    xr.DataArray, dims (category, unit)
        Categories sorted by name; unit coords kept.
    """
    return responses.groupby("category").mean("stimulus").rename("tuning")


def preferred_category(tuning: Any) -> Any:
    """Index of each unit's preferred category (argmax of its tuning curve).

    Returns
    -------
    xr.DataArray, dims (unit,), int
        Position in ``tuning["category"]``; for the digits that is the digit.
    """
    return tuning.argmax("category").rename("preferred_digit")


def selectivity(responses: Any, target: str) -> Any:
    """d' of each unit for ``target`` against all other categories.

    ``(mean_target - mean_rest) / sqrt((var_target + var_rest) / 2)``; NaN for
    units whose responses do not vary.

    Returns
    -------
    xr.DataArray, dims (unit,), float
    """
    category = responses["category"].values.astype(str)
    if target not in set(category):
        raise ToposcopeError(f"no stimuli of category {target!r}; categories: {sorted(set(category))}")
    data = np.asarray(responses.values, dtype=np.float64)
    inside, outside = data[category == target], data[category != target]
    spread = np.sqrt((inside.var(0, ddof=1) + outside.var(0, ddof=1)) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dprime = np.where(spread > 0, (inside.mean(0) - outside.mean(0)) / spread, np.nan)
    unit_coords = {k: v for k, v in responses.coords.items() if v.dims == ("unit",)}
    import xarray as xr

    return xr.DataArray(dprime, dims=("unit",), coords=unit_coords, name=f"selectivity_{target}")


def neighbour_correlation(tuning: Any, radius: float = 1.0) -> tuple[float, float]:
    """Mean Pearson r of tuning curves between sheet neighbours, and between all pairs.

    Parameters
    ----------
    tuning : xr.DataArray, dims (category, unit)
        With unit coords ``x``, ``y``.
    radius : float
        Units at most this far apart are neighbours (1 = the 4 grid neighbours).

    Returns
    -------
    (r_neighbours, r_all) : tuple of float
        Units with flat tuning curves are left out. A smooth map has
        ``r_neighbours`` well above ``r_all``.
    """
    curves = np.asarray(tuning.transpose("unit", "category").values, dtype=np.float64)
    positions = np.stack([tuning["x"].values, tuning["y"].values], axis=1).astype(np.float64)
    keep = curves.std(1) > 0
    curves, positions = curves[keep], positions[keep]
    if len(curves) < 2:
        return float("nan"), float("nan")
    r = np.corrcoef(curves)
    upper = np.triu_indices(len(curves), 1)
    distance = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)[upper]
    near = distance <= radius + 1e-9
    r_pairs = r[upper]
    return (float(r_pairs[near].mean()) if near.any() else float("nan")), float(r_pairs.mean())


# --------------------------------------------------------------------------- the run
def _check_output(output_dir: Path, force: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise ToposcopeError(f"output {str(output_dir)!r} is a file; give a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not force:
        raise ToposcopeError(
            f"output folder {str(output_dir)!r} exists and is not empty; "
            "choose a new folder or pass --force (force=True) to overwrite its files"
        )


def run_demo(output_dir: str | Path, progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Run the demo: both shipped models, digit stimuli, TopoLoss, maps and figures.

    Parameters
    ----------
    output_dir : path
        Folder for every output (see the module docstring); created if needed.
    progress : bool
        Show progress bars during extraction.
    force : bool
        Write into an existing non-empty folder, overwriting same-named files.

    Returns
    -------
    dict
        ``{"models": {name: {"test_accuracy", "mean_topoloss", "topoloss",
        "neighbour_r", "all_pairs_r", "layers": {...}}}, "files": [...],
        "seconds": float}``; also written to ``summary.json``.
    """
    import xarray as xr

    from toposcope.demo_data import write_digit_stimuli
    from toposcope.extraction import extract
    from toposcope.io import atomic_path, provenance, write_netcdf
    from toposcope.models.demo import DEMO_MODELS, demo_metadata, load_demo
    from toposcope.topoloss import layer_topoloss

    start = time.perf_counter()
    output_dir = Path(output_dir).expanduser()
    _check_output(output_dir, force)
    output_dir.mkdir(parents=True, exist_ok=True)
    metadata = demo_metadata()
    stimuli = write_digit_stimuli(output_dir / "stimuli", per_class=50)
    stimulus_hash = stimuli.content_hash()
    files: list[Path] = []
    losses, maps, summary_models = [], {}, {}
    for name in DEMO_MODELS:
        subject = load_demo(name)
        responses = extract(subject, stimuli, cache=False, progress=progress)
        table = layer_topoloss(subject)
        losses.append(table.expand_dims(model=[name]))
        layers = {}
        for layer, array in responses.items():
            path = output_dir / "responses" / f"{name}.{layer}.nc"
            files.append(write_netcdf(array, path))
            tuning = tuning_curves(array)
            result = xr.Dataset({
                "tuning": tuning,
                "preferred_digit": preferred_category(tuning),
                "selectivity": selectivity(array, TARGET),
            })
            attrs = provenance(**subject.provenance(), layer=layer, stimulus_set=stimuli.name,
                               stimulus_set_sha256=stimulus_hash, selectivity_target=TARGET,
                               selectivity_measure="d-prime, target vs rest")
            files.append(write_netcdf(result, output_dir / "maps" / f"{name}.{layer}.nc", attrs))
            maps[(layer, name)] = result
            r_near, r_all = neighbour_correlation(tuning)
            layers[layer] = {"topoloss": round(float(table.sel(layer=layer)), 6),
                             "neighbour_r": round(r_near, 4), "all_pairs_r": round(r_all, 4)}
        summary_models[name] = {
            "test_accuracy": metadata["models"][name]["test_accuracy"],
            "tau": metadata["models"][name]["tau"],
            "mean_topoloss": round(float(table.mean()), 6),
            "neighbour_r": round(float(np.nanmean([v["neighbour_r"] for v in layers.values()])), 4),
            "all_pairs_r": round(float(np.nanmean([v["all_pairs_r"] for v in layers.values()])), 4),
            "layers": layers,
        }
    table = xr.concat(losses, dim="model")
    files.append(write_netcdf(table, output_dir / "topoloss.nc",
                              provenance(models=", ".join(DEMO_MODELS), factor_h=table.attrs.get("factor_h"),
                                         factor_w=table.attrs.get("factor_w"))))
    files.extend(_figures(maps, output_dir / "figures"))
    summary = {"models": summary_models, "files": [str(p.relative_to(output_dir)) for p in files],
               "stimuli": f"{len(stimuli)} digit images ({len(stimuli.categories)} categories)",
               "seconds": round(time.perf_counter() - start, 1)}
    with atomic_path(output_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (output_dir / "summary.json").chmod(0o644)
    return summary


def _figures(maps: dict[tuple[str, str], Any], folder: Path) -> list[Path]:
    """Preferred-digit and selectivity maps, one row per layer, topo | baseline."""
    from toposcope.plot import plot_sheets, save_figure

    # One row per layer, the twins side by side: (layer, model) keys sorted by layer first.
    layers = list(dict.fromkeys(layer for layer, _ in maps))
    models = list(dict.fromkeys(model for _, model in maps))
    panels = [(layer, model) for layer in layers for model in models]
    preferred = {f"demo/{model}  {layer}": maps[layer, model]["preferred_digit"].astype(float)
                 for layer, model in panels}
    figure = plot_sheets(preferred, ncols=len(models), cmap="tab10", vmin=-0.5, vmax=9.5,
                         label="preferred digit", ticks=range(10),
                         suptitle="Preferred digit of each unit on the sheet")
    written = save_figure(figure, folder / "preferred_digit.png", formats=("png",))
    chosen = {f"demo/{model}  {layer}": maps[layer, model]["selectivity"] for layer, model in panels}
    figure = plot_sheets(chosen, ncols=len(models), center=0.0, label=f"d' {TARGET} vs rest",
                         suptitle=f"Selectivity for {TARGET} (d')")
    written += save_figure(figure, folder / f"selectivity_{TARGET}.png", formats=("png",))
    return written


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few lines of text for the terminal."""
    lines = [f"{'model':<14} {'test acc':>8} {'TopoLoss':>9} {'r neighbours':>13} {'r all pairs':>12}"]
    for name, info in summary["models"].items():
        lines.append(f"{'demo/' + name:<14} {info['test_accuracy']:>8.3f} {info['mean_topoloss']:>9.3f} "
                     f"{info['neighbour_r']:>13.3f} {info['all_pairs_r']:>12.3f}")
    lines.append("(TopoLoss and correlations are means over conv1, conv2, conv3, fc1; "
                 "r = Pearson r of digit tuning curves)")
    return "\n".join(lines)
