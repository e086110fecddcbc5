"""The ``toposcope`` command: one small module per subcommand.

Subcommand modules import only argparse at module level; the library (torch,
xarray, ...) is imported inside ``run`` so that ``toposcope --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["SUBCOMMANDS", "main"]

#: name -> module; each module defines ``HELP``, ``add_arguments(parser)`` and ``run(args)``.
SUBCOMMANDS = {
    "layers": "toposcope.cli.layers",
    "extract": "toposcope.cli.extract",
    "nsd": "toposcope.cli.nsd",
    "brainscore": "toposcope.cli.brainscore",
    "selectivity": "toposcope.cli.selectivity",
    "stimuli": "toposcope.cli.stimuli",
    "topoloss": "toposcope.cli.topoloss",
    "smoothness": "toposcope.cli.smoothness",
    "dimensionality": "toposcope.cli.dimensionality",
    "tgi": "toposcope.cli.tgi",
    "components": "toposcope.cli.components",
    "efficiency": "toposcope.cli.efficiency",
    "windows": "toposcope.cli.windows",
    "encode": "toposcope.cli.encode",
    "localizer": "toposcope.cli.localizer",
    "competence": "toposcope.cli.competence",
    "demo": "toposcope.cli.demo",
    "run": "toposcope.cli.run",
    "figures": "toposcope.cli.figures",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from toposcope import __version__
    from toposcope.cli._output import add_force_argument, writes_netcdf

    parser = argparse.ArgumentParser(
        prog="toposcope",
        description="Measure brain-like spatial organisation in topographic neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"toposcope {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        if writes_netcdf(sub):
            add_force_argument(sub)
            sub.set_defaults(_check_output=True)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    import warnings

    from toposcope._validation import ToposcopeError
    from toposcope.cli._output import check_netcdf_output

    # Warnings in a terminal: one line each, without the source line.
    warnings.formatwarning = lambda message, category, *_args, **_kw: f"toposcope: warning: {message}\n"
    try:
        if getattr(args, "_check_output", False):
            check_netcdf_output(args.output, args.force)
        result = args._run(args)
    except ToposcopeError as error:
        # The CLI's own words (flags) where the error has them, else the library's.
        print(f"toposcope {args.command}: error: {getattr(error, 'cli', None) or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"toposcope {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
