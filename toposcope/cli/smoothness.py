"""``toposcope smoothness SPEC --stimuli SET -o OUT.nc``: correlation-vs-distance curves and smoothness scores."""

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

HELP = "smoothness: response correlation vs sheet distance per layer, TopoNets / TDANN scores, and a figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_analysis_arguments(parser, output_help="netCDF of curves and scores; the figure goes beside it (OUT.png, OUT.pdf)")
    parser.add_argument("--bins", default="20", metavar="N or E0,E1,...",
                        help="number of distance bins over each sheet, or explicit bin edges (default 20)")
    parser.add_argument("--mode", default="exact", choices=("exact", "sampled"),
                        help="all unit pairs, or TDANN's sampled windows (default exact)")


def parse_bins(text: str) -> int | list[float]:
    """``"20"`` -> 20; ``"0,1,2.5"`` -> [0.0, 1.0, 2.5]; anything else raises one line."""
    from toposcope._validation import ToposcopeError

    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        if len(parts) == 1:
            return int(parts[0])
        return [float(p) for p in parts]
    except ValueError:
        raise ToposcopeError(f"--bins must be a count (20) or comma-separated edges (0,1,2), got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from toposcope.analysis.layerwise import smoothness_by_layer
    from toposcope.stimuli import load

    bins = parse_bins(args.bins)
    subject = load_subject(args)
    stimuli = load(args.stimuli)
    result = smoothness_by_layer(extract_for(args, subject, stimuli), bins, args.mode, seed=args.seed)
    figure = None
    if not args.no_figures:
        from toposcope.plot.layers import plot_smoothness_layers

        figure = plot_smoothness_layers(result, title=f"{subject.name} on {stimuli.name}")
    output = write_result(result, args, subject, stimuli, bins=args.bins)
    print(f"{subject.name}: {result.attrs['n_stimuli']} stimuli, {args.mode} pairs -> {output}")
    print_table(["layer", "units", "TopoNets", "TDANN"],
                [[str(n), int(row["n_units"]), float(row["score_toponets"]), float(row["score_tdann"])]
                 for n, row in ((n, result.sel(layer=n)) for n in result["layer"].values)])
    if figure is not None:
        from toposcope.plot.sheet import save_figure

        for path in save_figure(figure, output):
            print(f"figure -> {path}")
    return 0
