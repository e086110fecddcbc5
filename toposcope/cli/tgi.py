"""``toposcope tgi SPEC --stimuli SET -o OUT.nc``: Topoformer's topographic index of every layer."""

from __future__ import annotations

import argparse

from toposcope.cli._common import (
    add_layerwise_arguments,
    load_responses,
    print_table,
    save_figures,
    write_result,
)

HELP = "Topoformer's topographic index (TGI) of each layer's responses, exact over every pair, and a figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_layerwise_arguments(parser, output_help="netCDF of the TGI per layer; the figure goes beside it")
    parser.add_argument("--max-dist", metavar="F[,F...]",
                        help="fractions of the map side in (0, 1] (default Topoformer's 0.1,...,0.8)")
    parser.add_argument("--method", choices=("exact", "sampled"), default="exact",
                        help="every pair of units, or the reference's random pairs (--n-samples per max-dist)")
    parser.add_argument("--n-samples", type=int, default=100_000, metavar="N")


def _max_dist(text: str | None):
    from toposcope._validation import ToposcopeError
    from toposcope.analysis.tgi import MAX_DISTS

    if text is None:
        return MAX_DISTS
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ToposcopeError(f"--max-dist must be numbers separated by commas, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from toposcope._validation import ToposcopeError
    from toposcope.analysis.tgi import check_max_dist, tgi_by_layer

    max_dist = _max_dist(args.max_dist)
    try:  # checked before any model loads or runs
        check_max_dist(max_dist)
    except ToposcopeError as error:
        raise ToposcopeError(str(error), cli=str(error).replace("max_dist", "--max-dist")) from None
    subject, stimuli, responses = load_responses(args)
    try:
        result = tgi_by_layer(responses, max_dist=max_dist, method=args.method,
                              n_samples=args.n_samples, seed=args.seed)
    except ToposcopeError as error:
        raise ToposcopeError(str(error), cli=str(error).replace("max_dist", "--max-dist")
                             .replace("n_samples", "--n-samples")) from None
    figure = None
    if not args.no_figures:
        from toposcope.plot.topoformer import plot_tgi_layers

        figure = plot_tgi_layers({subject.name: result}, title=f"{subject.name} on {stimuli.name}")
    output = write_result(result, args, subject, stimuli)
    print(f"{subject.name}: TGI over {result.attrs['n_stimuli']} stimuli ({args.method}) -> {output}")
    print_table(["layer", "units", "TGI"], [[str(n), int(result["n_units"].sel(layer=n)), float(result["tgi"].sel(layer=n))]
                                            for n in result["layer"].values])
    save_figures(figure, output)
    return 0
