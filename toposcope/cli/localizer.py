"""``toposcope localizer SPEC --stimuli PATH -o OUT.nc``: language-selective units (Fedorenko localizer)."""

from __future__ import annotations

import argparse

from toposcope.cli._common import (
    add_layerwise_arguments,
    load_responses,
    print_table,
    save_figures,
    write_result,
)

HELP = "language localizer: Welch t per unit, FDR, the language-selective mask and Moran's I, to netCDF"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_layerwise_arguments(
        parser, text_modes=("mean", "last"), output_help="netCDF file of the result; figures go beside it",
        stimuli_help="the Fedorenko 2010 folder (langloc_fmri_*.csv), a TopoLM CSV "
                     "(fedorenko_stimuli.csv, moseley_stimuli.csv, elli_stimuli.csv) or 'synthetic'")
    parser.add_argument("--contrast", default="sentences_vs_nonwords",
                        help="sentences_vs_nonwords (default), sentences_vs_words, sentences_vs_jabberwocky, "
                             "words_vs_nonwords, nouns_vs_verbs, abstract_vs_concrete, or 'a+b vs c'")
    parser.add_argument("--fwhm", type=float, help="smooth each stimulus's map on the sheet first (sheet units)")
    parser.add_argument("--alpha", type=float, default=0.05, help="FDR level of the mask (default 0.05)")
    parser.add_argument("--top-k", type=float, help="mark this fraction of units with the largest t instead of FDR")
    parser.add_argument("--permutations", type=int, default=0, help="permutations for Moran's I p (default none)")


def run(args: argparse.Namespace) -> int:
    from toposcope.analysis.localizer import localize
    from toposcope.stimuli.language import load_language, synthetic_localizer

    def stimuli_of(text: str):
        return synthetic_localizer() if text == "synthetic" else load_language(text)

    subject, stimuli, responses = load_responses(args, stimuli_of)
    result = localize(responses, args.contrast, fwhm=args.fwhm, alpha=args.alpha,
                      top_k=args.top_k, permutations=args.permutations)
    output = write_result(result, args, subject, stimuli, contrast=args.contrast)
    print(f"{len(stimuli)} stimuli, {result.sizes['unit']} units, contrast {args.contrast} -> {output}")
    print_table(["layer", "selective", "Moran I"],
                [[str(layer), float(fraction), float(moran)] for layer, fraction, moran in
                 zip(result["layers"].values, result["fraction_selective"].values, result["morans_i"].values)])
    if not args.no_figures:
        from toposcope.plot.windows import plot_localizer

        save_figures(plot_localizer(result, title=f"{subject.name} on {stimuli.name}: {args.contrast}"), output.with_name(f"{output.stem}-maps.png"))
    return 0
