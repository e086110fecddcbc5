"""``toposcope efficiency SPEC --stimuli SET --prune 0,0.1,... [--downsample F --layer NAME] -o OUT.nc``."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = ("efficiency: performance (accuracy on labelled images, perplexity on texts) after L1 pruning "
        "and / or sheet downsampling, and a figure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--stimuli", required=True, metavar="SET",
                        help="labelled images (accuracy; one subfolder per category) or a .txt file (perplexity)")
    parser.add_argument("--prune", metavar="F0,F1,...",
                        help="fractions of weights zeroed, e.g. 0,0.1,0.2,...,0.9 (default when --downsample "
                             "is not given: 0 to 0.9 in steps of 0.1)")
    parser.add_argument("--per-layer", action="store_true",
                        help="prune each layer alone (default: one magnitude threshold over all layers)")
    parser.add_argument("--layers", help="comma-separated layers to prune (default: all topographic layers)")
    parser.add_argument("--downsample", metavar="F[,F...]",
                        help="sheet downsampling factors (>= 1, along rows and columns), e.g. 2 or 1.5,2,3")
    parser.add_argument("--layer", metavar="NAME[,NAME...]",
                        help="layers to downsample, together (default: all topographic layers)")
    parser.add_argument("--classes", default="number",
                        help="category -> class index: 'number' (digit-3 -> 3; the demo models), 'sorted', "
                             "CAT=INDEX,... or a .json file (default number)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc",
                        help="netCDF of the curves; the figure goes beside it (OUT.png, OUT.pdf)")
    parser.add_argument("--no-figures", action="store_true", help="write the netCDF only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")


def parse_numbers(option: str, text: str | None) -> list[float] | None:
    """``"0,0.5"`` -> [0.0, 0.5]; ``None`` stays ``None``; anything else raises one line."""
    from toposcope._validation import ToposcopeError

    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ToposcopeError(f"{option} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ToposcopeError(f"{option} needs at least one number, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope.io import provenance, write_netcdf
    from toposcope.stimuli import load
    from toposcope.surgery import accuracy, perplexity
    from toposcope.workflows.efficiency import DEFAULT_FRACTIONS, efficiency

    prune = parse_numbers("--prune", args.prune)
    factors = parse_numbers("--downsample", args.downsample)
    if prune is None and factors is None:
        prune = list(DEFAULT_FRACTIONS)
    subject = load_subject(args)
    stimuli = load(args.stimuli)
    if stimuli.kind == "image":
        measure = accuracy(stimuli, args.classes, subject=subject, batch_size=args.batch_size, device=args.device)
    else:
        measure = perplexity(stimuli, subject=subject, batch_size=args.batch_size, device=args.device)
    split = [name for name in args.layers.split(",") if name] if args.layers else None
    down_layers = [name for name in args.layer.split(",") if name] if args.layer else None
    result = efficiency(subject, measure, prune=prune, scope="layer" if args.per_layer else "global",
                        layers=split, downsample_factors=factors, downsample_layers=down_layers)
    figure = None
    if not args.no_figures:
        from toposcope.plot.efficiency import plot_efficiency

        figure = plot_efficiency({subject.name: result})
    output = Path(args.output)
    write_netcdf(result, output, attrs=provenance(stimuli=args.stimuli, stimulus_set_sha256=stimuli.content_hash(),
                                                  classes=args.classes if stimuli.kind == "image" else None))
    _report(result, len(stimuli), output)
    if figure is not None:
        from toposcope.plot.sheet import save_figure

        for path in save_figure(figure, output):
            print(f"figure -> {path}")
    return 0


def _report(result, n_stimuli: int, output) -> None:
    measure = result.attrs["measure"]
    print(f"{result.attrs['model']}: {measure} {result.attrs['baseline']:.4f} intact ({n_stimuli} stimuli) -> {output}")
    if "performance" in result:
        values = result["performance"]
        for fraction in result["fraction"].values:
            row = values.sel(fraction=fraction)
            text = "  ".join(f"{float(v):.4f}" for v in row.values.ravel())
            print(f"  pruned {float(fraction):>5.2f}: {measure} {text}")
    if "downsampled_performance" in result:
        for i, factor in enumerate(result["factor"].values):
            print(f"  downsampled x{float(factor):g} ({float(result['fraction_removed'][i]):.0%} of units removed, "
                  f"{int(result['n_parameters'][i]):,} of {int(result.attrs['downsample_n_parameters_before']):,} "
                  f"parameters): {measure} {float(result['downsampled_performance'][i]):.4f}")
