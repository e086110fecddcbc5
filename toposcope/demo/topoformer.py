"""The Topoformer part of ``toposcope demo``: the shipped tiny Topoformer against its control.

:func:`run_topoformer_demo` loads ``topoformer/tiny`` (spatial querying width
0.1, reweighting width 0.3, a 14 x 14 torus per layer) and
``topoformer/tiny-control`` (the same network with widths -1, trained the same
way), extracts their responses to held-out sentences of the project's grammar,
and measures every hooked layer's TGI (exact, every pair) and the selectivity
maps of the grammar test suites, then writes::

    tgi.nc                  TGI per layer and max_dist, both models (dim model)
    suites.nc               suite maps (signed -log10 p, t) of the tiny Topoformer
    figures/tgi.png         TGI per layer, Topoformer beside its control
    figures/suites.png      suites x layers of signed -log10 p maps
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MODELS", "run_topoformer_demo"]

#: Demo name -> spec of the two shipped Topoformers.
MODELS = {"topoformer": "topoformer/tiny", "control": "topoformer/tiny-control"}


def run_topoformer_demo(output_dir: str | Path, progress: bool = True, *, n_sentences: int = 300,
                        n_items: int = 30) -> dict[str, Any]:
    """TGI and suite maps of the tiny Topoformer and its control, written to ``output_dir``.

    Parameters
    ----------
    output_dir : path
        Created if needed; files listed in the module docstring.
    progress : bool
        Progress bars for the forward passes.
    n_sentences : int
        Held-out grammar sentences for the TGI (seed 12345, unseen in training).
    n_items : int
        Items per grammar suite (each in both conditions).

    Returns
    -------
    dict
        ``tgi`` ({model: {layer: TGI}}), ``difference`` ({layer: Topoformer minus
        control}), ``more_topographic`` (layers where the Topoformer's TGI is
        higher, of how many), ``strongest_suite`` and the written ``files``.
    """
    import xarray as xr

    from toposcope.analysis.tgi import tgi_by_layer
    from toposcope.extraction import extract
    from toposcope.io import write_netcdf
    from toposcope.models.registry import load_model
    from toposcope.plot.sheet import save_figure
    from toposcope.plot.topoformer import plot_suite_maps, plot_tgi_layers, short_names
    from toposcope.stimuli.suites import grammar_sentences, grammar_suites
    from toposcope.workflows.topoformer import suite_maps_by_layer

    output_dir = Path(output_dir)
    sentences = grammar_sentences(n_sentences)
    subjects = {name: load_model(spec) for name, spec in MODELS.items()}
    results = {name: tgi_by_layer(extract(subject, sentences, cache=False, progress=progress))
               for name, subject in subjects.items()}
    suites = suite_maps_by_layer(subjects["topoformer"], grammar_suites(n_items), cache=False, progress=progress)
    files = [
        write_netcdf(xr.concat([r.expand_dims(model=[n]) for n, r in results.items()], dim="model"),
                     output_dir / "tgi.nc"),
        write_netcdf(suites, output_dir / "suites.nc"),
        *save_figure(plot_tgi_layers(results, title="TGI: tiny Topoformer vs its control"),
                     output_dir / "figures" / "tgi", formats=("png",)),
        *save_figure(plot_suite_maps(suites, title="tiny Topoformer: grammar suites (signed -log10 p)"),
                     output_dir / "figures" / "suites", formats=("png",)),
    ]
    layers = [str(n) for n in results["topoformer"]["layer"].values]
    labels = short_names(layers)
    tgi = {name: {labels[n]: round(float(r["tgi"].sel(layer=n)), 4) for n in layers} for name, r in results.items()}
    difference = {label: round(tgi["topoformer"][label] - tgi["control"][label], 4) for label in tgi["topoformer"]}
    peak = np.abs(suites["signed_log10_p"]).max("unit")
    return {
        "models": dict(MODELS),
        "sentences": f"{n_sentences} held-out grammar sentences",
        "tgi": tgi,
        "difference": difference,
        "more_topographic": [sum(d > 0 for d in difference.values()), len(difference)],
        "strongest_suite": str(peak["suite"].values[int(np.argmax(peak.values))]),
        "files": [str(f) for f in files],
    }


def format_topoformer(summary: dict[str, Any]) -> list[str]:
    """The Topoformer part of the demo summary as lines of text."""
    tgi, difference = summary["tgi"], summary["difference"]
    lines = [f"\ntopoformer/tiny vs topoformer/tiny-control: TGI per layer ({summary['sentences']})",
             f"{'layer':<20} {'Topoformer':>10} {'control':>8} {'difference':>11}"]
    for layer, value in tgi["topoformer"].items():
        lines.append(f"{layer:<20} {value:>10.3f} {tgi['control'][layer]:>8.3f} {difference[layer]:>+11.3f}")
    held, total = summary["more_topographic"]
    lines.append(f"topoformer/tiny is more topographic than its control in {held} of {total} layers")
    return lines
