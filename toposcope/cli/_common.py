"""Arguments shared by subcommands that load a model."""

from __future__ import annotations

import argparse
from typing import Any

MODEL_HELP = (
    "model spec: toponets/resnet18, toponets/resnet50, toponets/vit_b_32, toponets/nanogpt, "
    "hf:ID_OR_DIR, tdann, topolm, torchvision:ARCH, file:PATH, demo/topo, demo/baseline, demo_lm"
)


def add_model_arguments(parser: argparse.ArgumentParser, spec_required: bool = True) -> None:
    """``SPEC`` plus the common load options (``--tau``, ``--checkpoint``, ``-O k=v``).

    ``spec_required=False`` makes SPEC optional, for subcommands with actions that
    need no model (``toposcope brainscore --setup``).
    """
    parser.add_argument("spec", metavar="SPEC", help=MODEL_HELP, nargs=None if spec_required else "?")
    parser.add_argument("--tau", help="TopoLoss strength of a released TopoNets checkpoint (e.g. 10)")
    parser.add_argument("--checkpoint", metavar="PATH", help="load weights from this local file")
    parser.add_argument("--positions", metavar="DIR", help="folder of per-layer position files (tdann, topolm)")
    parser.add_argument("--arch", help="architecture of a state-dict checkpoint (file:, torchvision:)")
    parser.add_argument("--layout", choices=("channel", "channel_space"), help="how conv outputs map to units")
    parser.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="any other load option, repeatable (e.g. -O pool=max)")


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The load options given on the command line, as keyword arguments."""
    from toposcope._validation import ToposcopeError

    options: dict[str, Any] = {}
    for key in ("tau", "checkpoint", "positions", "arch", "layout"):
        value = getattr(args, key, None)
        if value is not None:
            options[key] = value
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ToposcopeError(f"option {item!r} is not KEY=VALUE; write e.g. -O pool=max")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def load_subject(args: argparse.Namespace) -> Any:
    """Load the model named on the command line, turning bad keyword options into one line."""
    from toposcope import load_model
    from toposcope._validation import ToposcopeError

    options = model_options(args)
    try:
        return load_model(args.spec, **options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            bad = str(error).split("'")[1] if "'" in str(error) else str(error)
            raise ToposcopeError(
                f"model {args.spec!r} takes no option {bad!r}; see `toposcope layers --help`"
            ) from None
        raise
