"""``toposcope selectivity SPEC --stimuli floc[:DIR] -o OUT.nc``: category-selectivity t-maps."""

from __future__ import annotations

import argparse

from toposcope.cli._common import (
    add_analysis_arguments,
    add_model_arguments,
    extract_for,
    layer_names,
    load_subject,
    print_table,
    write_result,
)

HELP = "category-selectivity t-maps (contrast x unit, with sheet positions) to netCDF, plus sheet figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_analysis_arguments(
        parser, text_modes=None, output_help="netCDF file of the t-maps; figures go beside it",
        stimuli_help="floc, floc:DIR, konkle[:DIR], gratings, or a folder (one subfolder per category)")
    parser.add_argument("--contrasts",
                        help="comma-separated: faces, bodies, places, characters, objects, big_vs_small, "
                             "animate_vs_inanimate, or 'a+b vs c' (default: what the stimulus labels support)")
    parser.add_argument("--threshold", type=float, default=10.0,
                        help="t above which a unit counts as selective (default 10, as TDANN)")
    parser.add_argument("--patches", action="store_true", help="outline patches (smoothed t > threshold) in figures")


def run(args: argparse.Namespace) -> int:
    import math

    from toposcope._validation import ToposcopeError
    from toposcope.analysis.patches import selective_fraction
    from toposcope.analysis.selectivity import tmaps_by_layer
    from toposcope.stimuli import load

    if not math.isfinite(args.threshold):
        raise ToposcopeError(f"--threshold must be a finite number, got {args.threshold}")
    subject = load_subject(args)
    stimuli = load(args.stimuli)
    contrasts = layer_names(args.contrasts)
    responses = extract_for(args, subject, stimuli)
    maps = tmaps_by_layer(responses, contrasts)
    output = write_result(maps, args, subject, stimuli, contrasts=list(maps["contrast"].values),
                          threshold=args.threshold)
    fraction = selective_fraction(maps, args.threshold)
    names = [str(c) for c in maps["contrast"].values]
    print(f"{len(stimuli)} stimuli, {maps.sizes['unit']} units in {len(responses)} layer(s) -> {output}")
    print(f"fraction of units with t > {args.threshold:g}:")
    print_table(["layer", *names], [[str(layer), *(float(fraction.sel(layer=layer, contrast=n)) for n in names)]
                                    for layer in fraction["layer"].values])
    if not args.no_figures:
        for path in _figures(maps, output, args):
            print(f"figure -> {path}")
    return 0


def _figures(maps, output, args) -> list:
    from toposcope.plot.maps import FIG5A_CONTRASTS, plot_figure5a, plot_tmap_pages, save_maps

    patches = {"threshold": args.threshold} if args.patches else False
    pages = plot_tmap_pages(maps, patches=patches)
    written = []
    for k, page in enumerate(pages):  # a page per six layers: printable, labels legible
        name = f"{output.stem}-maps.png" if len(pages) == 1 else f"{output.stem}-maps-{k + 1}.png"
        written += save_maps(page, output.with_name(name))
    names = [str(c) for c in maps["contrast"].values]
    # The paper's columns first, then every other category the set has.
    present = [c for c in FIG5A_CONTRASTS if c in names] + [c for c in names if c not in FIG5A_CONTRASTS]
    if len(present) >= 2 and any(c in FIG5A_CONTRASTS for c in names):
        figure = plot_figure5a({args.spec: maps}, contrasts=present, patches=patches)
        written += save_maps(figure, output.with_name(f"{output.stem}-fig5a.png"))
    return written
