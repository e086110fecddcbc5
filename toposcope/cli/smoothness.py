"""``toposcope smoothness SPEC --stimuli SET -o OUT.nc``: correlation-vs-distance curves and smoothness scores."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "smoothness: response correlation vs sheet distance per layer, TopoNets / TDANN scores, and a figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--stimuli", required=True, metavar="SET",
                        help="folder of images (one subfolder per category), NAME:DIR, a named set or a .txt file")
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("--bins", default="20", metavar="N or E0,E1,...",
                        help="number of distance bins over each sheet, or explicit bin edges (default 20)")
    parser.add_argument("--mode", default="exact", choices=("exact", "sampled"),
                        help="all unit pairs, or TDANN's sampled windows (default exact)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the chance curve and the sampling")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc",
                        help="netCDF of curves and scores; the figure goes beside it (OUT.png, OUT.pdf)")
    parser.add_argument("--no-figures", action="store_true", help="write the netCDF only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--text-mode", default="mean", help="language: mean, last or words")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


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
    from pathlib import Path

    from toposcope import extract
    from toposcope.analysis.layerwise import smoothness_by_layer
    from toposcope.io import provenance, write_netcdf
    from toposcope.stimuli import load

    bins = parse_bins(args.bins)
    subject = load_subject(args)
    stimuli = load(args.stimuli)
    layers = [name for name in args.layers.split(",") if name] if args.layers else None
    responses = extract(subject, stimuli, layers, batch_size=args.batch_size, device=args.device,
                        text_mode=args.text_mode, cache=not args.no_cache, progress=not args.quiet)
    result = smoothness_by_layer(responses, bins, args.mode, seed=args.seed)
    figure = None
    if not args.no_figures:
        from toposcope.plot.layers import plot_smoothness_layers

        figure = plot_smoothness_layers(result, title=f"{subject.name} on {stimuli.name}")
    output = Path(args.output)
    write_netcdf(result, output, attrs=provenance(**subject.provenance(), stimuli=args.stimuli,
                                                  stimulus_set_sha256=stimuli.content_hash(), bins=args.bins))
    print(f"{subject.name}: {result.attrs['n_stimuli']} stimuli, {args.mode} pairs -> {output}")
    width = max(len("layer"), *(len(str(n)) for n in result["layer"].values))
    print(f"{'layer':<{width}}  {'units':>7}  {'TopoNets':>8}  {'TDANN':>7}")
    for name in result["layer"].values:
        row = result.sel(layer=name)
        print(f"{name!s:<{width}}  {int(row['n_units']):>7}  {float(row['score_toponets']):>8.4f}  "
              f"{float(row['score_tdann']):>7.4f}")
    if figure is not None:
        from toposcope.plot.sheet import save_figure

        for path in save_figure(figure, output):
            print(f"figure -> {path}")
    return 0
