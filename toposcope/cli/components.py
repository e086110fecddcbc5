"""``toposcope components SPEC --stimuli SET -o OUT.nc``: principal components of each layer as sheet maps."""

from __future__ import annotations

import argparse

from toposcope.cli._common import (
    add_layerwise_arguments,
    load_responses,
    print_table,
    save_figures,
    write_result,
)

HELP = "component maps: each layer's principal components drawn on its sheet, with explained variance"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_layerwise_arguments(parser, output_help="netCDF of loadings, variances and scores; the figure goes beside it")
    parser.add_argument("--n-components", type=int, default=10, metavar="K", help="components per layer (default 10)")
    parser.add_argument("--solver", choices=("auto", "covariance", "full", "randomized"), default="auto")


def run(args: argparse.Namespace) -> int:
    from toposcope._validation import ToposcopeError
    from toposcope.analysis.components import components_by_layer

    subject, stimuli, responses = load_responses(args)
    try:
        result = components_by_layer(responses, n_components=args.n_components,
                                     solver=args.solver, seed=args.seed)
    except ToposcopeError as error:
        raise ToposcopeError(str(error), cli=str(error).replace("n_components=", "--n-components ")
                             .replace("n_components", "--n-components")) from None
    figure = None
    if not args.no_figures:
        from toposcope.plot.topoformer import plot_component_maps

        figure = plot_component_maps(result, title=f"{subject.name} on {stimuli.name}")
    output = write_result(result, args, subject, stimuli)
    print(f"{subject.name}: {args.n_components} components of each layer over {result.attrs['n_stimuli']} "
          f"stimuli -> {output}")
    ratio = result["explained_variance_ratio"]
    print_table(["layer", "PC1 %", "PC2 %", "solver"],
                [[str(n), 100 * float(ratio.sel(layers=n)[0]),
                  100 * float(ratio.sel(layers=n)[1]) if ratio.sizes["component"] > 1 else float("nan"),
                  str(result["solver"].sel(layers=n).values)] for n in result["layers"].values])
    save_figures(figure, output)
    return 0
