"""``toposcope selectivity SPEC --stimuli floc[:DIR] -o OUT.nc``: category-selectivity t-maps."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "category-selectivity t-maps (contrast x unit, with sheet positions) to netCDF, plus sheet figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--stimuli", required=True, metavar="SET",
                        help="floc, floc:DIR, konkle[:DIR], gratings, or a folder (one subfolder per category)")
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("--contrasts",
                        help="comma-separated: faces, bodies, places, characters, objects, big_vs_small, "
                             "animate_vs_inanimate, or 'a+b vs c' (default: what the stimulus labels support)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc", help="netCDF file of the t-maps")
    parser.add_argument("--threshold", type=float, default=10.0,
                        help="t above which a unit counts as selective (default 10, as TDANN)")
    parser.add_argument("--patches", action="store_true", help="outline patches (smoothed t > threshold) in figures")
    parser.add_argument("--no-figures", action="store_true", help="write the netCDF only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope import extract
    from toposcope.analysis.patches import selective_fraction
    from toposcope.analysis.selectivity import tmaps_by_layer
    from toposcope.io import provenance, write_netcdf
    from toposcope.stimuli import load

    subject = load_subject(args)
    stimuli = load(args.stimuli)
    layers = [name for name in args.layers.split(",") if name] if args.layers else None
    contrasts = [c.strip() for c in args.contrasts.split(",") if c.strip()] if args.contrasts else None
    responses = extract(subject, stimuli, layers, batch_size=args.batch_size, device=args.device,
                        cache=not args.no_cache, progress=not args.quiet)
    maps = tmaps_by_layer(responses, contrasts)
    output = Path(args.output)
    write_netcdf(maps, output, attrs=provenance(stimuli=args.stimuli, contrasts=list(maps["contrast"].values),
                                               threshold=args.threshold))
    fraction = selective_fraction(maps, args.threshold)
    names = [str(c) for c in maps["contrast"].values]
    print(f"{len(stimuli)} stimuli, {maps.sizes['unit']} units in {len(responses)} layer(s) -> {output}")
    print(f"fraction of units with t > {args.threshold:g}:")
    width = max(len(str(layer)) for layer in fraction["layer"].values)
    print(f"  {'layer':<{width}}  " + "  ".join(f"{n:>10}" for n in names))
    for layer in fraction["layer"].values:
        row = fraction.sel(layer=layer)
        print(f"  {layer!s:<{width}}  " + "  ".join(f"{float(row.sel(contrast=n)):>10.3f}" for n in names))
    if not args.no_figures:
        for path in _figures(maps, output, args):
            print(f"figure -> {path}")
    return 0


def _figures(maps, output, args) -> list:
    from toposcope.plot.maps import FIG5A_CONTRASTS, plot_figure5a, plot_tmaps, save_maps

    patches = {"threshold": args.threshold} if args.patches else False
    written = save_maps(plot_tmaps(maps, patches=patches), output.with_name(f"{output.stem}-maps.png"))
    present = [c for c in FIG5A_CONTRASTS if c in maps["contrast"].values]
    if len(present) >= 2:
        figure = plot_figure5a({args.spec: maps}, contrasts=present, patches=patches)
        written += save_maps(figure, output.with_name(f"{output.stem}-fig5a.png"))
    return written
