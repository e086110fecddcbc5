"""``toposcope competence SPEC --pairs DIR``: minimal-pair (BLiMP, CSV) or SyntaxGym accuracy of a causal LM."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject, print_table

HELP = "formal linguistic competence: accuracy on minimal pairs (BLiMP, CSV) or SyntaxGym suites"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--pairs", required=True, metavar="PAIRS",
                        help="BLiMP's data/ folder or one .jsonl paradigm, a CSV (good,bad[,phenomenon]), SyntaxGym "
                             "suite .json file(s), 'syntaxgym' (the 2020 suites of an installed brainscore-language) "
                             "or 'grammar' (pairs in the demo LM's words)")
    parser.add_argument("--bos", choices=("auto", "prefix", "none"), default="auto",
                        help="what precedes each sentence: auto (the tokenizer's own start, else its BOS/EOS "
                             "token, as lm-evaluation-harness), prefix (always BOS/EOS), none (first token unscored)")
    parser.add_argument("--scorer", choices=("causal", "pll"), default="causal",
                        help="causal: sentence log-probability of a causal LM; pll: pseudo-log-likelihood of a "
                             "masked LM such as BERT (Salazar et al. 2020; not comparable with causal scores)")
    parser.add_argument("-o", "--output", metavar="OUT.nc", help="also write the per-item result as netCDF")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from toposcope._validation import ToposcopeError
    from toposcope.io import write_netcdf
    from toposcope.stimuli.minimal_pairs import load_pairs
    from toposcope.workflows.competence import score_competence

    if args.batch_size < 1:
        raise ToposcopeError(f"--batch-size must be a positive integer, got {args.batch_size}")
    pairs = load_pairs(args.pairs)  # bad pairs fail before the model loads
    subject = load_subject(args)
    result = score_competence(subject, pairs, bos=args.bos, batch_size=args.batch_size, device=args.device,
                              progress=not args.quiet, scorer=args.scorer)
    print(f"{subject.name}: {int(result['n_pairs'].sum())} items, {result.sizes['phenomenon']} phenomena "
          f"({result.attrs['pairs']}); start: {result.attrs['bos']}; scored by {result.attrs['scorer']}")
    print_table(["phenomenon", "items", "accuracy"],
                [[str(name), int(count), float(acc)] for name, count, acc in
                 zip(result["phenomenon"].values, result["n_pairs"].values, result["accuracy"].values)])
    print(f"overall accuracy {float(result['accuracy_overall']):.4f} ({result.attrs['overall']})")
    if args.output:
        print(f"-> {write_netcdf(result, args.output)}")
    return 0
