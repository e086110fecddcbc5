"""``toposcope dimensionality SPEC --stimuli SET -o OUT.nc``: effective dimensionality and eigenspectra."""

from __future__ import annotations

import argparse

from toposcope.cli._common import (
    add_layerwise_arguments,
    load_responses,
    print_table,
    save_figures,
    write_result,
)

HELP = "effective dimensionality and eigenspectrum of each layer's responses, and a figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_layerwise_arguments(parser, output_help="netCDF of ED and eigenspectra; the figure goes beside it (OUT.png, OUT.pdf)")


def run(args: argparse.Namespace) -> int:
    from toposcope.analysis.layerwise import dimensionality_by_layer

    subject, stimuli, responses = load_responses(args)
    result = dimensionality_by_layer(responses)
    figure = None
    if not args.no_figures:
        from toposcope.plot.layers import plot_dimensionality_layers

        figure = plot_dimensionality_layers(result, title=f"{subject.name} on {stimuli.name}")
    output = write_result(result, args, subject, stimuli)
    print(f"{subject.name}: {result.attrs['n_stimuli']} stimuli -> {output}")
    print_table(["layer", "units", "ED", "alpha"],
                [[str(n), int(row["n_units"]), float(row["effective_dimensionality"]), float(row["decay_exponent"])]
                 for n, row in ((n, result.sel(layer=n)) for n in result["layer"].values)])
    save_figures(figure, output)
    return 0
