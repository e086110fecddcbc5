"""``toposcope topoloss SPEC``: TopoLoss of each topographic layer's weights."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "TopoLoss of each topographic layer (1 - cosine similarity of the weights to their blurred sheet)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("--factor", default="3", metavar="F or FH,FW",
                        help="shrink factor of the sheet, one number or height,width (default 3, as in TopoNets)")
    parser.add_argument("--interpolation", default="bilinear", help="resize mode (default bilinear)")
    parser.add_argument("-o", "--output", metavar="OUT.nc", help="also write the table as netCDF")


def run(args: argparse.Namespace) -> int:
    from toposcope.io import write_netcdf
    from toposcope.workflows.topoloss import layer_topoloss

    subject = load_subject(args)
    layers = [name for name in args.layers.split(",") if name] if args.layers else None
    table = layer_topoloss(subject, layers, factor=args.factor, interpolation=args.interpolation)
    print(f"{subject.name}  (weights sha256 {subject.identity[:12]}; factor "
          f"{table.attrs['factor_h']:g}x{table.attrs['factor_w']:g}, {table.attrs['interpolation']})")
    width = max(len("layer"), *(len(str(name)) for name in table["layer"].values))
    print(f"{'layer':<{width}}  {'units':>7}  {'sheet':>7}  {'TopoLoss':>8}")
    for i, name in enumerate(table["layer"].values):
        sheet = f"{int(table['grid_h'][i])}x{int(table['grid_w'][i])}"
        print(f"{name:<{width}}  {int(table['n_units'][i]):>7}  {sheet:>7}  {float(table[i]):>8.4f}")
    print(f"{'mean':<{width}}  {'':>7}  {'':>7}  {float(table.mean()):>8.4f}")
    if args.output:
        print(f"-> {write_netcdf(table, args.output)}")
    return 0
