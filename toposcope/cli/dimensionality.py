"""``toposcope dimensionality SPEC --stimuli SET -o OUT.nc``: effective dimensionality and eigenspectra."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "effective dimensionality and eigenspectrum of each layer's responses, and a figure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--stimuli", required=True, metavar="SET",
                        help="folder of images (one subfolder per category), NAME:DIR, a named set or a .txt file")
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc",
                        help="netCDF of ED and eigenspectra; the figure goes beside it (OUT.png, OUT.pdf)")
    parser.add_argument("--no-figures", action="store_true", help="write the netCDF only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--text-mode", default="mean", help="language: mean, last or words")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope import extract
    from toposcope.analysis.layerwise import dimensionality_by_layer
    from toposcope.io import provenance, write_netcdf
    from toposcope.stimuli import load

    subject = load_subject(args)
    stimuli = load(args.stimuli)
    layers = [name for name in args.layers.split(",") if name] if args.layers else None
    responses = extract(subject, stimuli, layers, batch_size=args.batch_size, device=args.device,
                        text_mode=args.text_mode, cache=not args.no_cache, progress=not args.quiet)
    result = dimensionality_by_layer(responses)
    figure = None
    if not args.no_figures:
        from toposcope.plot.layers import plot_dimensionality_layers

        figure = plot_dimensionality_layers(result, title=f"{subject.name} on {stimuli.name}")
    output = Path(args.output)
    write_netcdf(result, output, attrs=provenance(**subject.provenance(), stimuli=args.stimuli,
                                                  stimulus_set_sha256=stimuli.content_hash()))
    print(f"{subject.name}: {result.attrs['n_stimuli']} stimuli -> {output}")
    width = max(len("layer"), *(len(str(n)) for n in result["layer"].values))
    print(f"{'layer':<{width}}  {'units':>7}  {'ED':>8}  {'alpha':>6}")
    for name in result["layer"].values:
        row = result.sel(layer=name)
        print(f"{name!s:<{width}}  {int(row['n_units']):>7}  {float(row['effective_dimensionality']):>8.2f}  "
              f"{float(row['decay_exponent']):>6.2f}")
    if figure is not None:
        from toposcope.plot.sheet import save_figure

        for path in save_figure(figure, output):
            print(f"figure -> {path}")
    return 0
