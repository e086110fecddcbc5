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
    add_trust_arguments(parser)
    parser.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="any other load option, repeatable (e.g. -O pool=max)")


def add_preprocessing_arguments(parser: argparse.ArgumentParser) -> None:
    """``--preprocess`` and its overrides: how images become model input (vision models)."""
    images = parser.add_argument_group("image preprocessing (vision models; default: the model's own)")
    images.add_argument("--preprocess", choices=("imagenet", "inception", "clip", "none"),
                        help="a named preprocessing; the flags below adjust it")
    images.add_argument("--resize", type=int, metavar="PX", help="resize the short side to PX pixels")
    images.add_argument("--crop", type=int, metavar="PX", help="centre crop of PX x PX pixels")
    images.add_argument("--interpolation", choices=("nearest", "bilinear", "bicubic", "lanczos"))
    images.add_argument("--mean", metavar="R,G,B", help="normalisation mean, e.g. 0.485,0.456,0.406")
    images.add_argument("--std", metavar="R,G,B", help="normalisation standard deviation")
    images.add_argument("--grayscale", action="store_true", default=None,
                        help="convert images to greyscale (3 equal channels)")
    parser.set_defaults(_preprocessing=True)


def add_trust_arguments(parser: argparse.ArgumentParser, seed: int | None = 0) -> None:
    """``--seed`` (random choices) and ``--trust-checkpoint`` (unpickle untrusted files).

    ``seed=None`` leaves each model's own seed (a recipe's) unless the flag is given.
    """
    parser.add_argument("--seed", type=int, default=seed, metavar="N",
                        help="seed of every random choice: the initial weights of a model without a checkpoint "
                             "and the analysis's sampling (default 0)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="unpickle a checkpoint that holds more than tensors (e.g. a whole nn.Module); "
                             "this can run code from the file, so only for files from a source you trust")


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The load options given on the command line, as keyword arguments."""
    from toposcope._validation import ToposcopeError

    options: dict[str, Any] = {}
    keys = ["tau", "checkpoint", "positions", "arch", "layout", "seed"]
    if getattr(args, "_preprocessing", False):  # commands with add_preprocessing_arguments
        keys += ["preprocess", "resize", "crop", "interpolation", "mean", "std", "grayscale"]
    for key in keys:
        value = getattr(args, key, None)
        if value is not None:
            options[key] = value
    if getattr(args, "trust_checkpoint", False):
        options["trust_checkpoint"] = True
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ToposcopeError(f"option {item!r} is not KEY=VALUE; write e.g. -O pool=max")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


#: Load options that have a flag of their own; any other ``key=value`` is given as ``-O key=value``.
FLAGGED_OPTIONS = ("tau", "checkpoint", "positions", "arch", "layout", "seed")


def cli_words(message: str) -> str:
    """A load error's Python keywords in the words of the command line.

    ``checkpoint=PATH`` -> ``--checkpoint PATH``, ``trust_checkpoint=True`` ->
    ``--trust-checkpoint``, any other ``key=VALUE`` -> ``-O key=VALUE``.
    """
    import re

    def flag(match: re.Match) -> str:
        key, value = match.group(1), match.group(2)
        if key == "trust_checkpoint":
            return "--trust-checkpoint"
        if key in FLAGGED_OPTIONS:
            return f"--{key} {value}"
        return f"-O {key}={value}"

    # a lower-case keyword followed by '=' and a value, not inside a longer word or a flag
    return re.sub(r"""(?<![\w.=/'"-])([a-z][a-z0-9_]*)=([^\s,;)]+)""", flag, message)


def load_subject(args: argparse.Namespace) -> Any:
    """Load the model named on the command line, its errors and warnings in the command line's words."""
    import warnings

    from toposcope import load_model
    from toposcope._validation import ToposcopeError

    options = model_options(args)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            subject = load_model(args.spec, **options)
        for warning in caught:  # the loader's advice, in the command line's words
            warnings.warn_explicit(cli_words(str(warning.message)), warning.category, warning.filename,
                                   warning.lineno)
        return subject
    except ToposcopeError as error:
        if error.cli is not None:
            raise
        raise ToposcopeError(str(error), cli=cli_words(str(error))) from None
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            bad = str(error).split("'")[1] if "'" in str(error) else str(error)
            raise ToposcopeError(
                f"model {args.spec!r} takes no option {bad!r}; see `toposcope layers --help`"
            ) from None
        raise


STIMULI_HELP = "folder of images (one subfolder per category), NAME:DIR, a named set or a .txt file"


def add_analysis_arguments(
    parser: argparse.ArgumentParser,
    *,
    stimuli_help: str = STIMULI_HELP,
    output_help: str = "netCDF file of the result; figures go beside it",
    text_modes: tuple[str, ...] | None = ("mean", "last", "words"),
) -> None:
    """The options every extract-then-analyse subcommand shares.

    ``--stimuli``, ``--layers``, ``-o``, ``--no-figures``, ``--batch-size``,
    ``--device``, ``--text-mode`` (unless ``text_modes`` is None), ``--no-cache``
    and ``--quiet``.
    """
    parser.add_argument("--stimuli", required=True, metavar="SET", help=stimuli_help)
    add_preprocessing_arguments(parser)
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc", help=output_help)
    parser.add_argument("--no-figures", action="store_true", help="write the netCDF only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    if text_modes:
        parser.add_argument("--text-mode", choices=text_modes, default="mean",
                            help="language models: one row per text (mean or last token) or per word")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def layer_names(text: str | None) -> list[str] | None:
    """``"a,b"`` -> ``["a", "b"]``; empty or None -> None (all topographic layers)."""
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    return names or None


def extract_for(args: argparse.Namespace, subject: Any, stimuli: Any) -> dict[str, Any]:
    """``toposcope.extract`` with the options of :func:`add_analysis_arguments`."""
    from toposcope import extract
    from toposcope._validation import ToposcopeError

    layers = layer_names(args.layers)
    if args.layers is not None and layers is None:
        raise ToposcopeError(f"--layers {args.layers!r} names no layer; give comma-separated names "
                             "(`toposcope layers SPEC` lists them) or leave --layers out for all")
    return extract(subject, stimuli, layers, batch_size=args.batch_size, device=args.device,
                   text_mode=getattr(args, "text_mode", "mean"), cache=not args.no_cache,
                   progress=not args.quiet)


def write_result(result: Any, args: argparse.Namespace, subject: Any, stimuli: Any, **attrs: Any) -> Any:
    """Write ``result`` to ``args.output`` atomically with the model's and stimuli's provenance."""
    from pathlib import Path

    from toposcope.io import provenance, write_netcdf

    output = Path(args.output)
    write_netcdf(result, output, attrs=provenance(**subject.provenance(), stimuli=args.stimuli,
                                                  stimulus_set_sha256=stimuli.content_hash(), **attrs))
    return output


def print_table(header: list[str], rows: list[list[Any]], indent: str = "  ") -> None:
    """Print rows under a header, the first column left-aligned, numbers to 3-4 significant places."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    line = [f"{header[0]:<{widths[0]}}", *(f"{h:>{w}}" for h, w in zip(header[1:], widths[1:]))]
    print(indent + "  ".join(line))
    for row in cells:
        print(indent + "  ".join([f"{row[0]:<{widths[0]}}", *(f"{v:>{w}}" for v, w in zip(row[1:], widths[1:]))]))


def add_layerwise_arguments(parser: argparse.ArgumentParser, **analysis_options: Any) -> None:
    """SPEC with its load options, then the extract-then-analyse options.

    The preamble of every command that extracts responses and analyses them
    layer by layer: :func:`add_model_arguments`, then
    :func:`add_analysis_arguments` with ``analysis_options`` (``output_help``,
    ``stimuli_help``, ``text_modes``).
    """
    add_model_arguments(parser)
    add_analysis_arguments(parser, **analysis_options)


def load_responses(args: argparse.Namespace, load_stimuli: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """The model, the stimuli and their responses, as the command line names them.

    Parameters
    ----------
    args : argparse.Namespace
        With the options of :func:`add_layerwise_arguments`.
    load_stimuli : callable, optional
        Turns ``args.stimuli`` into a stimulus set; :func:`toposcope.stimuli.load` by default.

    Returns
    -------
    (subject, stimuli, responses)
        ``responses`` maps each layer to a DataArray (stimulus, unit), as from
        :func:`extract_for`.
    """
    subject = load_subject(args)
    if load_stimuli is None:
        from toposcope.stimuli import load as load_stimuli
    stimuli = load_stimuli(args.stimuli)
    return subject, stimuli, extract_for(args, subject, stimuli)


def save_figures(figure: Any, output: Any) -> None:
    """Write ``figure`` beside ``output`` (PNG and PDF) and print each path; nothing when it is None."""
    if figure is None:
        return
    from toposcope.plot.sheet import save_figure

    for path in save_figure(figure, output):
        print(f"figure -> {path}")
