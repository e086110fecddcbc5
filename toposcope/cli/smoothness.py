"""``toposcope smoothness SPEC --stimuli SET -o OUT.nc``: correlation-vs-distance curves and smoothness scores."""

from __future__ import annotations

import argparse

from toposcope.cli._common import (
    add_layerwise_arguments,
    load_responses,
    print_table,
    save_figures,
    write_result,
)

#: Defaults of toposcope.analysis.smoothness (BINS, MIN_PAIRS, N_SHUFFLES), repeated here so that
#: building the parser imports no numerical module; a test keeps them equal.
BINS = 15
MIN_PAIRS = 20
N_SHUFFLES = 20

HELP = "smoothness: response correlation vs sheet distance per layer, TopoNets / TDANN scores, and a figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_layerwise_arguments(parser, output_help="netCDF of curves and scores; the figure goes beside it (OUT.png, OUT.pdf)")
    parser.add_argument("--bins", default=str(BINS), metavar="N or E0,E1,...",
                        help="number of equal distance bins from the shortest to the longest pair distance of "
                             f"each sheet (TDANN's binning), or explicit bin edges (default {BINS})")
    parser.add_argument("--mode", default="exact", choices=("exact", "sampled"),
                        help="all unit pairs, or TDANN's sampled windows (default exact)")
    parser.add_argument("--min-pairs", type=int, default=MIN_PAIRS, metavar="N",
                        help=f"fewest pairs a distance bin needs to enter the scores (default {MIN_PAIRS})")
    parser.add_argument("--shuffles", type=int, default=N_SHUFFLES, metavar="N",
                        help="shuffled-position curves behind the chance level and its 95%% band "
                             f"(default {N_SHUFFLES})")


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


def check_counts(args: argparse.Namespace) -> None:
    """``--min-pairs`` and ``--shuffles`` in range, checked before any model loads; one line otherwise."""
    from toposcope._validation import ToposcopeError

    if args.min_pairs < 0:
        raise ToposcopeError(f"--min-pairs must be 0 or more (0 scores every non-empty bin), got {args.min_pairs}")
    if args.shuffles < 1:
        raise ToposcopeError(f"--shuffles must be 1 or more (the chance level needs shuffled curves), "
                             f"got {args.shuffles}")


def _row(name: str, row) -> list:
    """One layer's table row: scores to 3 decimals, the chance band as [low, high]."""
    def f(variable: str) -> str:
        return f"{float(row[variable]):.3f}"

    band = f"[{f('score_toponets_chance_low')}, {f('score_toponets_chance_high')}]"
    return [name, int(row["n_units"]), f("score_toponets"), f("score_toponets_chance"), band,
            f"{float(row['score_toponets_corrected']):+.3f}", f("score_toponets_p"), f("score_tdann"),
            f"{float(row['score_tdann_corrected']):+.3f}"]


def run(args: argparse.Namespace) -> int:
    from toposcope.analysis.layerwise import smoothness_by_layer

    bins = parse_bins(args.bins)
    check_counts(args)
    subject, stimuli, responses = load_responses(args)
    result = smoothness_by_layer(responses, bins, args.mode, seed=args.seed,
                                 min_pairs=args.min_pairs, n_shuffles=args.shuffles)
    figure = None
    if not args.no_figures:
        from toposcope.plot.layers import plot_smoothness_layers

        figure = plot_smoothness_layers(result, title=f"{subject.name} on {stimuli.name}")
    output = write_result(result, args, subject, stimuli, bins=args.bins, min_pairs=args.min_pairs,
                          shuffles=args.shuffles)
    print(f"{subject.name}: {result.attrs['n_stimuli']} stimuli, {args.mode} pairs -> {output}")
    level = f"{100 * float(result.attrs['level']):.0f}%"
    print_table(["layer", "units", "TopoNets", "chance", f"{level} band", "corrected", "p", "TDANN", "TDANN corr."],
                [_row(str(n), result.sel(layer=n)) for n in result["layer"].values])
    print(f"  (TopoNets = highest minus lowest bin of the curve over bins with >= {args.min_pairs} pairs; "
          f"chance = its mean over {result.attrs['n_shuffles']} position shuffles; "
          "corrected = score - chance)")
    save_figures(figure, output)
    return 0
