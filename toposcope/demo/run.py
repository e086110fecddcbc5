"""``toposcope demo``: every analysis on the shipped digit models, offline, in about a minute.

:func:`run_demo` loads ``demo/topo`` (trained with TopoLoss) and its tau = 0 twin
``demo/baseline``, writes 500 digit images (50 per digit) as stimuli, extracts
the responses of the four topographic layers of both, runs the analyses and
writes into the output folder::

    stimuli/digit-D/*.png               the stimuli
    responses/MODEL.LAYER.nc            responses (stimulus, unit), with provenance
    maps/MODEL.nc                       tuning (category, unit), preferred digit
                                        and t-maps (contrast, unit): each digit vs the rest
    smoothness/MODEL.nc                 correlation-vs-distance curves and scores per layer
    dimensionality/MODEL.nc             effective dimensionality and eigenspectra per layer
    efficiency/MODEL.nc                 held-out accuracy vs fraction pruned / fc1 downsampled
    topoloss.nc                         TopoLoss (model, layer)
    figures/*.png                       maps on the sheet, curves, efficiency
    language/                           the tiny TopoLoss-trained language model ``demo_lm``:
                                        integration windows and the language localizer
                                        (see :mod:`toposcope.demo.language`)
    topoformer/                         the tiny Topoformer against its non-topographic twin:
                                        TGI per layer and grammar suite maps
                                        (see :mod:`toposcope.demo.topoformer`)
    summary.json                        what the command prints

The papers' direction is that the TopoLoss model is smoother and lower-dimensional
than its twin; the summary states, layer by layer, whether that held here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["compare", "format_summary", "paper_effects", "run_demo"]

#: Digit whose t-map gets patches, Moran's I and its own figure.
TARGET = "digit-0"
#: Pruning levels (global L1) and the fc1 sheet-downsampling factor of the efficiency curves.
PRUNE_FRACTIONS = (0.0, 0.5, 0.8, 0.9, 0.95)
DOWNSAMPLE_LAYER, DOWNSAMPLE_FACTORS = "fc1", (2,)


def _check_output(output_dir: Path, force: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise ToposcopeError(f"output {str(output_dir)!r} is a file; give a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not force:
        raise ToposcopeError(
            f"output folder {str(output_dir)!r} exists and is not empty; "
            "choose a new folder or pass --force (force=True) to overwrite its files"
        )


def _analyse(subject: Any, responses: dict[str, Any], held_out: Any) -> dict[str, Any]:
    """Every analysis of one model: maps, smoothness, dimensionality, efficiency, TopoLoss."""
    import xarray as xr

    from toposcope.analysis.layerwise import dimensionality_by_layer, smoothness_by_layer
    from toposcope.analysis.patches import find_patches
    from toposcope.analysis.selectivity import tmaps_by_layer
    from toposcope.analysis.smoothness import morans_i
    from toposcope.surgery.performance import accuracy
    from toposcope.workflows.efficiency import efficiency
    from toposcope.workflows.topoloss import layer_topoloss

    digits = sorted({str(c) for c in next(iter(responses.values()))["category"].values})
    tmap = tmaps_by_layer(responses, digits)
    tuning = xr.concat([r.groupby("category").mean("stimulus") for r in responses.values()], dim="unit")
    maps = xr.Dataset({"tuning": tuning, "preferred_digit": tuning.argmax("category"), "tmaps": tmap})
    target = {layer: tmap.sel(contrast=TARGET).isel(unit=tmap["layer"].values == layer) for layer in responses}
    moran = {layer: morans_i(m, adjacency="queen", seed=0) for layer, m in target.items()}
    patches = {layer: find_patches(m, threshold=3.0) for layer, m in target.items()}
    measure = accuracy(held_out, "number", subject=subject)
    return {
        "maps": maps,
        "smoothness": smoothness_by_layer(responses, bins=10, mode="exact"),
        "dimensionality": dimensionality_by_layer(responses),
        "efficiency": efficiency(subject, measure, prune=PRUNE_FRACTIONS, downsample_factors=DOWNSAMPLE_FACTORS,
                                 downsample_layers=DOWNSAMPLE_LAYER),
        "topoloss": layer_topoloss(subject),
        "moran": moran,
        "patches": patches,
    }


def compare(topo: dict[str, Any], baseline: dict[str, Any]) -> dict[str, dict[str, bool]]:
    """Per layer: is the TopoLoss model smoother and lower-dimensional than its twin?"""
    out = {}
    for layer in topo["layers"]:
        mine, theirs = topo["layers"][layer], baseline["layers"][layer]
        out[layer] = {
            "smoother": mine["smoothness"] > theirs["smoothness"],
            "lower_dimensional": mine["effective_dimensionality"] < theirs["effective_dimensionality"],
        }
    return out


def paper_effects(models: dict[str, Any], comparison: dict[str, dict[str, bool]]) -> list[dict[str, Any]]:
    """Every effect of the TopoNets paper the demo tests, with whether it held here and the numbers.

    Parameters
    ----------
    models : dict
        ``summary["models"]``: per model (``topo``, ``baseline``) its means and layers.
    comparison : dict
        :func:`compare`'s per-layer verdicts.

    Returns
    -------
    list of dict
        ``{"effect", "held", "topo", "baseline"}``; ``topo`` / ``baseline`` are the
        numbers compared (layer counts for per-layer effects).
    """
    topo, base = models["topo"], models["baseline"]
    effects = []
    for key, words in (("smoother", "smoother maps (correlation falls with distance)"),
                       ("lower_dimensional", "lower effective dimensionality")):
        held = sum(c[key] for c in comparison.values())
        effects.append({"effect": f"{words}, layer by layer", "held": held > len(comparison) / 2,
                        "topo": f"{held} of {len(comparison)} layers", "baseline": ""})
    for key, words in (("accuracy_pruned_90", "keeps more accuracy with 90% of weights pruned"),
                       ("accuracy_fc1_downsampled_2", "keeps more accuracy with fc1 downsampled 2x")):
        # Robustness is the accuracy kept relative to the model's own unperturbed accuracy.
        kept = {name: info[key] / max(info["held_out_accuracy"], 1e-9) for name, info in models.items()}
        effects.append({"effect": words, "held": kept["topo"] > kept["baseline"],
                        "topo": round(topo[key], 4), "baseline": round(base[key], 4)})
    return effects


def _layer_summary(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    smooth, dims, table = results["smoothness"], results["dimensionality"], results["topoloss"]
    summary = {}
    for layer in smooth["layer"].values:
        layer = str(layer)
        summary[layer] = {
            "topoloss": round(float(table.sel(layer=layer)), 6),
            "smoothness": round(float(smooth["score_toponets"].sel(layer=layer)), 4),
            "smoothness_tdann": round(float(smooth["score_tdann"].sel(layer=layer)), 4),
            "effective_dimensionality": round(float(dims["effective_dimensionality"].sel(layer=layer)), 3),
            f"morans_i_{TARGET}": round(float(results["moran"][layer]["I"]), 4),
            f"patches_{TARGET}": int(results["patches"][layer].sizes.get("patch", 0)),
        }
    return summary


def run_demo(output_dir: str | Path, progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Run the demo: both shipped models, digit stimuli, every analysis, figures.

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
        ``{"models": {name: {...}}, "comparison": {layer: {...}}, "files": [...],
        "seconds": float}``; also written to ``summary.json``.
    """
    from toposcope.demo.digits import held_out_indices, write_digit_stimuli
    from toposcope.demo.language import run_language_demo
    from toposcope.extraction import extract
    from toposcope.io import atomic_path, provenance, write_netcdf
    from toposcope.models.demo import DEMO_MODELS, demo_metadata, load_demo

    start = time.perf_counter()
    output_dir = Path(output_dir).expanduser()
    _check_output(output_dir, force)
    output_dir.mkdir(parents=True, exist_ok=True)
    metadata = demo_metadata()
    stimuli = write_digit_stimuli(output_dir / "stimuli" / "digits", per_class=50)
    held_out = write_digit_stimuli(output_dir / "stimuli" / "held-out", indices=held_out_indices())
    stimulus_hash = stimuli.content_hash()
    files: list[Path] = []
    results, summary_models = {}, {}
    for name in DEMO_MODELS:
        subject = load_demo(name)
        responses = extract(subject, stimuli, cache=False, progress=progress)
        for layer, array in responses.items():
            files.append(write_netcdf(array, output_dir / "responses" / f"{name}.{layer}.nc"))
        results[name] = _analyse(subject, responses, held_out)
        attrs = provenance(**subject.provenance(), stimulus_set=stimuli.name, stimulus_set_sha256=stimulus_hash)
        for kind in ("maps", "smoothness", "dimensionality", "efficiency"):
            files.append(write_netcdf(results[name][kind], output_dir / kind / f"{name}.nc", attrs))
        layers = _layer_summary(results[name])
        pruned = results[name]["efficiency"]
        summary_models[name] = {
            "tau": metadata["models"][name]["tau"],
            "test_accuracy": metadata["models"][name]["test_accuracy"],
            "held_out_accuracy": round(float(pruned.attrs["baseline"]), 4),
            "accuracy_pruned_90": round(float(pruned["performance"].sel(fraction=0.9)), 4),
            "accuracy_fc1_downsampled_2": round(float(pruned["downsampled_performance"].sel(factor=2)), 4),
            **{key: round(float(np.mean([v[key] for v in layers.values()])), 4)
               for key in ("topoloss", "smoothness", "effective_dimensionality")},
            "layers": layers,
        }
    files.append(_write_topoloss(results, output_dir / "topoloss.nc"))
    files.extend(_figures(results, output_dir / "figures"))
    language = run_language_demo(output_dir / "language", progress=progress)
    files.extend(Path(f) for f in language.pop("files"))
    from toposcope.demo.topoformer import run_topoformer_demo

    topoformer = run_topoformer_demo(output_dir / "topoformer", progress=progress)
    files.extend(Path(f) for f in topoformer.pop("files"))
    summary = {
        "models": summary_models,
        "comparison": compare(summary_models["topo"], summary_models["baseline"]),
        "language": language,
        "topoformer": topoformer,
        "files": [str(p.relative_to(output_dir)) for p in files],
        "stimuli": f"{len(stimuli)} digit images ({len(stimuli.categories)} categories); "
                   f"{len(held_out)} held-out digits for accuracy",
        "seconds": round(time.perf_counter() - start, 1),
    }
    summary["effects"] = paper_effects(summary["models"], summary["comparison"])
    with atomic_path(output_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _write_topoloss(results: dict[str, Any], path: Path) -> Path:
    import xarray as xr

    from toposcope.io import provenance, write_netcdf

    table = xr.concat([r["topoloss"].expand_dims(model=[name]) for name, r in results.items()], dim="model")
    return write_netcdf(table, path, provenance(models=", ".join(results), factor_h=table.attrs.get("factor_h"),
                                                factor_w=table.attrs.get("factor_w")))


def _figures(results: dict[str, Any], folder: Path) -> list[Path]:
    """Maps on the sheet (topo | baseline), smoothness curves, dimensionality, efficiency."""
    from toposcope.plot import plot_sheets, save_figure
    from toposcope.plot.curves import plot_curves
    from toposcope.plot.efficiency import plot_efficiency
    from toposcope.plot.layers import plot_dimensionality_layers

    models = list(results)
    layers = [str(v) for v in results[models[0]]["smoothness"]["layer"].values]
    written: list[Path] = []

    def panels(variable: str, select: Any = None) -> dict[str, Any]:
        out = {}
        for layer in layers:
            for model in models:
                values = results[model]["maps"][variable]
                values = values if select is None else values.sel(contrast=select)
                out[f"demo/{model}  {layer}"] = values.isel(unit=values["layer"].values == layer)
        return out

    preferred = {k: v.astype(float) for k, v in panels("preferred_digit").items()}
    written += save_figure(plot_sheets(preferred, ncols=len(models), cmap="tab10", vmin=-0.5, vmax=9.5,
                                       label="preferred digit", ticks=range(10),
                                       suptitle="Preferred digit of each unit on the sheet"),
                           folder / "preferred_digit.png", formats=("png",))
    written += save_figure(plot_sheets(panels("tmaps", TARGET), ncols=len(models), center=0.0,
                                       label=f"t ({TARGET} vs rest)", suptitle=f"Selectivity t-maps, {TARGET}"),
                           folder / f"tmap_{TARGET}.png", formats=("png",))
    for layer in layers:
        curves = {f"demo/{m}": _one_curve(results[m]["smoothness"], layer) for m in models}
        written += save_figure(plot_curves(curves, title=f"Correlation vs distance, {layer}").figure,
                               folder / f"smoothness_{layer}.png", formats=("png",))
    for model in models:
        written += save_figure(plot_dimensionality_layers(results[model]["dimensionality"], title=f"demo/{model}"),
                               folder / f"dimensionality_{model}.png", formats=("png",))
    curves = {f"demo/{m}": results[m]["efficiency"] for m in models}
    written += save_figure(plot_efficiency(curves, topographic={"demo/topo": True, "demo/baseline": False}),
                           folder / "efficiency.png", formats=("png",))
    return written


def _one_curve(by_layer: Any, layer: str) -> Any:
    """One layer's curve from :func:`smoothness_by_layer`, with its distances as the bin coord."""
    curve = by_layer.sel(layer=layer).drop_vars(["layer"])
    curve = curve.drop_vars([v for v in curve.data_vars if "bin" not in curve[v].dims])
    return curve.assign_coords(bin=curve["distance"].values).dropna("bin", subset=["correlation"])


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few lines of text for the terminal."""
    header = (f"{'model':<14} {'acc':>6} {'TopoLoss':>9} {'smoothness':>11} {'ED':>7} "
              f"{'acc pruned 90%':>15} {'acc fc1 /2':>11}")
    lines = [header]
    for name, info in summary["models"].items():
        lines.append(f"{'demo/' + name:<14} {info['held_out_accuracy']:>6.3f} {info['topoloss']:>9.3f} "
                     f"{info['smoothness']:>11.3f} {info['effective_dimensionality']:>7.2f} "
                     f"{info['accuracy_pruned_90']:>15.3f} {info['accuracy_fc1_downsampled_2']:>11.3f}")
    lines.append("(means over conv1, conv2, conv3, fc1; smoothness = TopoNets score of the "
                 "correlation-vs-distance curve; ED = effective dimensionality)")
    for key, word in (("smoother", "smoother"), ("lower_dimensional", "lower-dimensional")):
        held = [layer for layer, c in summary["comparison"].items() if c[key]]
        missed = [layer for layer, c in summary["comparison"].items() if not c[key]]
        verdict = f"demo/topo is {word} than demo/baseline in {len(held)} of {len(held) + len(missed)} layers"
        lines.append(verdict + (f" (not in {', '.join(missed)})" if missed else ""))
    lines.append("\nthe paper's effects, tested here (TopoLoss model vs its tau = 0 twin):")
    for effect in summary.get("effects", []):
        numbers = f" ({effect['topo']} vs {effect['baseline']})" if effect["baseline"] != "" else f" ({effect['topo']})"
        lines.append(f"  {'held' if effect['held'] else 'DID NOT HOLD':<12}  {effect['effect']}{numbers}")
    language = summary.get("language")
    if language:
        localizer = language["localizer"]
        lines.append(f"\n{language['model']}: integration windows (median per layer) and localizer "
                     f"({localizer['contrast']})")
        lines.append(f"{'layer':<16} {'a':>6} {'b':>6} {'c':>6} {'R2':>7} {'yoking':>7} {'selective':>10} "
                     f"{'Moran I':>8}")
        for layer, fit in language["windows"].items():
            lines.append(f"{layer:<16} {fit['a']:>6.2f} {fit['b']:>6.2f} {fit['c']:>6.2f} {fit['r2']:>7.3f} "
                         f"{fit['yoking']:>7.3f} {localizer['fraction_selective'][layer]:>10.2f} "
                         f"{localizer['morans_i'][layer]:>8.2f}")
    if summary.get("topoformer"):
        from toposcope.demo.topoformer import format_topoformer

        lines.extend(format_topoformer(summary["topoformer"]))
    return "\n".join(lines)
