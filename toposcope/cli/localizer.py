"""``toposcope localizer SPEC --stimuli PATH -o OUT.nc``: language-selective units (Fedorenko localizer)."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "language localizer: Welch t per unit, FDR, the language-selective mask and Moran's I, to netCDF"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--stimuli", required=True, metavar="PATH",
                        help="the Fedorenko 2010 folder (langloc_fmri_*.csv), a TopoLM CSV "
                             "(fedorenko_stimuli.csv, moseley_stimuli.csv, elli_stimuli.csv) or 'synthetic'")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc", help="netCDF file of the result")
    parser.add_argument("--contrast", default="sentences_vs_nonwords",
                        help="sentences_vs_nonwords (default), sentences_vs_words, sentences_vs_jabberwocky, "
                             "words_vs_nonwords, nouns_vs_verbs, abstract_vs_concrete, or 'a+b vs c'")
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("--fwhm", type=float, help="smooth each stimulus's map on the sheet first (sheet units)")
    parser.add_argument("--alpha", type=float, default=0.05, help="FDR level of the mask (default 0.05)")
    parser.add_argument("--top-k", type=float, help="mark this fraction of units with the largest t instead of FDR")
    parser.add_argument("--permutations", type=int, default=0, help="permutations for Moran's I p (default none)")
    parser.add_argument("--text-mode", choices=("mean", "last"), default="mean",
                        help="one response per text: mean over its tokens (TopoLM) or its last token")
    parser.add_argument("--no-figures", action="store_true", help="write the netCDF only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope import extract
    from toposcope.analysis.localizer import localize
    from toposcope.io import write_netcdf
    from toposcope.stimuli.language import load_language, synthetic_localizer

    subject = load_subject(args)
    stimuli = synthetic_localizer() if args.stimuli == "synthetic" else load_language(args.stimuli)
    layers = [name for name in args.layers.split(",") if name] if args.layers else None
    responses = extract(subject, stimuli, layers, batch_size=args.batch_size, device=args.device,
                        text_mode=args.text_mode, cache=not args.no_cache, progress=not args.quiet)
    result = localize(responses, args.contrast, fwhm=args.fwhm, alpha=args.alpha, top_k=args.top_k,
                      permutations=args.permutations)
    output = Path(args.output)
    write_netcdf(result, output, attrs={"stimuli": str(args.stimuli)})
    print(f"{len(stimuli)} stimuli, {result.sizes['unit']} units, contrast {args.contrast} -> {output}")
    width = max(len(str(layer)) for layer in result["layers"].values)
    print(f"  {'layer':<{width}}  {'selective':>9}  {'Moran I':>8}")
    for layer, fraction, moran in zip(result["layers"].values, result["fraction_selective"].values,
                                      result["morans_i"].values):
        print(f"  {layer!s:<{width}}  {fraction:>9.3f}  {moran:>8.3f}")
    if not args.no_figures:
        from toposcope.plot.sheet import save_figure
        from toposcope.plot.windows import plot_localizer

        for path in save_figure(plot_localizer(result), output.with_name(f"{output.stem}-maps.png"),
                                formats=("png",)):
            print(f"figure -> {path}")
    return 0
