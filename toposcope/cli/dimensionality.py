"""``toposcope dimensionality SPEC --stimuli SET -o OUT.nc``: effective dimensionality and eigenspectra."""

from __future__ import annotations

import argparse

from toposcope.cli._common import (
    add_analysis_arguments,
    add_model_arguments,
    extract_for,
    load_subject,
    print_table,
    write_result,
)

HELP = "effective dimensionality and eigenspectrum of each layer's responses, and a figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_analysis_arguments(parser, output_help="netCDF of ED and eigenspectra; the figure goes beside it (OUT.png, OUT.pdf)")


def run(args: argparse.Namespace) -> int:
    from toposcope.analysis.layerwise import dimensionality_by_layer
    from toposcope.stimuli import load

    subject = load_subject(args)
    stimuli = load(args.stimuli)
    result = dimensionality_by_layer(extract_for(args, subject, stimuli))
    figure = None
    if not args.no_figures:
        from toposcope.plot.layers import plot_dimensionality_layers

        figure = plot_dimensionality_layers(result, title=f"{subject.name} on {stimuli.name}")
    output = write_result(result, args, subject, stimuli)
    print(f"{subject.name}: {result.attrs['n_stimuli']} stimuli -> {output}")
    print_table(["layer", "units", "ED", "alpha"],
                [[str(n), int(row["n_units"]), float(row["effective_dimensionality"]), float(row["decay_exponent"])]
                 for n, row in ((n, result.sel(layer=n)) for n in result["layer"].values)])
    if figure is not None:
        from toposcope.plot.sheet import save_figure

        for path in save_figure(figure, output):
            print(f"figure -> {path}")
    return 0
