"""``toposcope extract SPEC --stimuli DIR -o out.nc``: responses of topographic layers."""

from __future__ import annotations

import argparse

from toposcope.cli._common import (
    add_model_arguments,
    add_preprocessing_arguments,
    extract_for,
    load_subject,
)

HELP = "extract responses (stimulus x unit, with sheet positions) to netCDF"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_preprocessing_arguments(parser)
    parser.add_argument("--stimuli", required=True, metavar="DIR",
                        help="folder of images (one subfolder per category), NAME:DIR, or a .txt file of texts")
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc",
                        help="netCDF file; with several layers, one file per layer beside it")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--text-mode", default="mean", help="language: mean, last or words")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope.io import write_netcdf
    from toposcope.stimuli import load

    subject = load_subject(args)
    stimuli = load(args.stimuli)
    responses = extract_for(args, subject, stimuli)
    output = Path(args.output)
    for name, array in responses.items():
        path = output if len(responses) == 1 else output.with_name(f"{output.stem}.{name}{output.suffix or '.nc'}")
        write_netcdf(array, path)
        print(f"{name}: {array.sizes['stimulus']} stimuli x {array.sizes['unit']} units -> {path}")
    return 0
