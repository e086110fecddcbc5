"""``toposcope figures OUT``: the papers' figures from a finished run's results."""

from __future__ import annotations

import argparse

HELP = "build the papers' figures (PNG, PDF and the data behind them) from a `toposcope run` output folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", metavar="OUT", help="output folder written by `toposcope run RECIPE -o OUT`")
    parser.add_argument("--only", action="append", metavar="FIGURE",
                        help="build only this figure (repeatable); default: those the recipe lists, else all")


def run(args: argparse.Namespace) -> int:
    from toposcope.figures import build_figures

    written = build_figures(args.output, figures=args.only, on_skip=lambda message: print(f"skipped {message}"))
    for path in written:
        print(path)
    return 0
