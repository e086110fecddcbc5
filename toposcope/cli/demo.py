"""``toposcope demo -o DIR``: the whole data path on the two shipped digit models, offline."""

from __future__ import annotations

import argparse

HELP = "run the offline demo: topographic vs baseline digit models, TopoLoss, maps and figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="toposcope-demo", metavar="DIR",
                        help="output folder (default ./toposcope-demo); must be new or empty")
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder, overwriting files")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from toposcope.demo import format_summary, run_demo

    summary = run_demo(args.output, progress=not args.quiet, force=args.force)
    print(format_summary(summary))
    print(f"{len(summary['files']) + 1} result files and the stimuli in {args.output} "
          f"({summary['seconds']:.0f} s); figures in {args.output}/figures")
    return 0
