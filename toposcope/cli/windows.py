"""``toposcope windows SPEC --corpus CORPUS -o OUT.nc``: integration windows of every unit (word swaps)."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "temporal integration windows (power law / exponential fit, sentence yoking) of a language model's units"


def _yoked(text: str) -> tuple[int, int] | None:
    if text.lower() in ("none", "no", "0"):
        return None
    count, sep, length = text.lower().partition("x")
    if not sep or not count.isdigit() or not length.isdigit():
        raise argparse.ArgumentTypeError(f"--yoked takes SENTENCESxWORDS (e.g. 5x12) or none, got {text!r}")
    return int(count), int(length)


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--min-swap-pos takes a non-negative integer (0 or 2), got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--corpus", required=True,
                        help="a CoNLL-U / CoNLL-X file (POS tags, sentence boundaries), 'brown' (needs nltk) "
                             "or 'synthetic' (the project's grammar)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc", help="netCDF file of the windows")
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("--length", type=int, default=40, help="words per running-text sequence (default 40)")
    parser.add_argument("--n-sequences", type=int, default=40, help="sequences of each kind (default 40)")
    parser.add_argument("--yoked", type=_yoked, default=(5, 12), metavar="NxL",
                        help="structure-yoked sequences of N sentences of L words (default 5x12); 'none' to skip")
    parser.add_argument("--max-delta", type=int, default=20, help="largest lag of theta (default 20)")
    parser.add_argument("--min-swap-pos", type=_non_negative, default=0, metavar="N",
                        help="measure positions m with m - max_delta >= N (default 0: every position whose lags "
                             "are all defined; 2 follows Skrill & Norman-Haignere's code)")
    parser.add_argument("--fit", choices=("published", "global"), default="published",
                        help="published (default): curve_fit's optimum from p0 = (1, 1, 0.5) within the bounds, "
                             "as the paper; global: lowest error over a grid of starts (often the other basin)")
    parser.add_argument("--unswappable", choices=("raise", "skip"), default="raise",
                        help="a word whose POS has no single-token replacement: stop (raise) or drop its sequence")
    parser.add_argument("--no-figures", action="store_true", help="write the netCDF only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope._validation import ToposcopeError
    from toposcope.io import write_netcdf
    from toposcope.workflows.windows import layer_medians, load_corpus, measure_windows

    subject = load_subject(args)
    corpus = load_corpus(args.corpus, seed=args.seed)
    layers = [name for name in args.layers.split(",") if name] if args.layers else None
    try:
        windows = measure_windows(subject, corpus, length=args.length, n_sequences=args.n_sequences,
                                  yoked=args.yoked, max_delta=args.max_delta, min_swap_pos=args.min_swap_pos,
                                  fit=args.fit, layers=layers, seed=args.seed, unswappable=args.unswappable,
                                  batch_size=args.batch_size, device=args.device, progress=not args.quiet)
    except ToposcopeError as error:
        if error.cli is not None:
            raise
        raise ToposcopeError(str(error), cli=str(error).replace("unswappable='skip'", "--unswappable skip")) from None
    output = Path(args.output)
    write_netcdf(windows, output, attrs={"corpus": str(args.corpus)})
    medians = layer_medians(windows)
    names = list(next(iter(medians.values())))
    width = max(len(layer) for layer in medians)
    print(f"{windows.attrs.get('natural_sequences')} sequences of {windows.attrs.get('sequence_length')} words, "
          f"{windows.sizes['unit']} units -> {output}")
    print(f"median per layer:\n  {'layer':<{width}}  " + "  ".join(f"{n:>7}" for n in names))
    for layer, values in medians.items():
        print(f"  {layer:<{width}}  " + "  ".join(f"{values[n]:>7.3f}" for n in names))
    print(f"fit: {windows.attrs.get('fit')}; ambiguous (other basin within {windows.attrs.get('ambiguity', 0):.0%} "
          f"SSE): {int(windows['ambiguous'].sum())} of {windows.sizes['unit']} units")
    if not args.no_figures:
        from toposcope.plot.sheet import save_figure
        from toposcope.plot.windows import plot_theta, plot_window_maps, plot_window_rgb

        for suffix, figure in (("maps", plot_window_maps(windows)), ("rgb", plot_window_rgb(windows)),
                               ("theta", plot_theta(windows))):
            for path in save_figure(figure, output.with_name(f"{output.stem}-{suffix}.png"), formats=("png",)):
                print(f"figure -> {path}")
    return 0
