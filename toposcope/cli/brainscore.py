"""``toposcope brainscore SPEC --benchmark NAME --region-layer REGION=LAYER``: a Brain-Score score.

Vision benchmarks (``MajajHong2015public.IT-pls``) go to
:mod:`toposcope.brain.brainscore_vision`, language ones (``Pereira2018.*``) to
:mod:`toposcope.brain.brainscore_language`. Each package lives in its own
environment (``--setup vision|language`` creates it, once); when the package is
not importable here, the same command runs there and prints the score.
"""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "score a model on a Brain-Score vision or language benchmark"

_MODEL_OPTIONS = (("tau", "--tau"), ("checkpoint", "--checkpoint"), ("positions", "--positions"),
                  ("arch", "--arch"), ("layout", "--layout"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser, spec_required=False)  # --setup and --list-benchmarks need no model
    parser.add_argument("--benchmark", metavar="NAME",
                        help="Brain-Score identifier, e.g. MajajHong2015public.IT-pls or "
                             "Pereira2018.243sentences-linear-shuffle")
    parser.add_argument("--region-layer", action="append", default=[], metavar="REGION=LAYER",
                        help="commit a layer to a region, repeatable: IT=layer4.1.conv2 (vision), "
                             "language_system=transformer.h.5.mlp.c_fc (language)")
    parser.add_argument("--units", metavar="LOCALIZER.nc",
                        help="language: score only the localized units, the selective mask of a `toposcope "
                             "localizer -o LOCALIZER.nc` result (FDR, or --top-k there)")
    parser.add_argument("--offline", action="store_true",
                        help="never download: name the files to place under BRAINIO_HOME instead")
    parser.add_argument("--visual-degrees", type=float, default=8.0,
                        help="vision: visual angle of the model's input (default 8)")
    parser.add_argument("-o", "--output", metavar="OUT.nc", help="also write score, raw and ceiling to netCDF")
    parser.add_argument("--setup", choices=("vision", "language"),
                        help="create the dedicated environment for one integration (about 7 GB) and exit")
    parser.add_argument("--list-benchmarks", choices=("vision", "language"), help="list benchmark identifiers")


def _argv(args: argparse.Namespace) -> list[str]:
    """The command line again, for the run handed over to the dedicated environment."""
    argv = [args.spec] if args.spec else []
    for key, flag in _MODEL_OPTIONS:
        if getattr(args, key, None) is not None:
            argv += [flag, str(getattr(args, key))]
    for item in args.option:
        argv += ["-O", item]
    if args.benchmark:
        argv += ["--benchmark", args.benchmark]
    for item in args.region_layer:
        argv += ["--region-layer", item]
    if args.units:
        argv += ["--units", args.units]
    if args.offline:
        argv.append("--offline")
    argv += ["--visual-degrees", str(args.visual_degrees)]
    if args.output:
        argv += ["-o", args.output]
    if args.list_benchmarks:
        argv += ["--list-benchmarks", args.list_benchmarks]
    return argv


def run(args: argparse.Namespace) -> int:
    from toposcope._validation import ToposcopeError
    from toposcope.brain._brainscore import install_hint
    from toposcope.cli import _brainscore_env as envs

    if args.setup:
        folder = envs.setup(args.setup)
        print(f"Brain-Score {args.setup} environment ready in {folder}")
        return 0
    kind = args.list_benchmarks or (envs.kind_of(args.benchmark) if args.benchmark else None)
    if kind is None:
        raise ToposcopeError("brainscore needs --benchmark NAME (or --setup KIND, --list-benchmarks KIND)")
    if not envs.installed_here(kind):
        code = envs.hand_over(kind, _argv(args))
        if code is None:
            raise ToposcopeError(f"Brain-Score {kind} is not installed here; {install_hint(kind)}")
        return code
    if args.list_benchmarks:
        from toposcope.brain._brainscore import known_benchmarks

        print("\n".join(known_benchmarks(kind)))
        return 0
    return _score(args, kind)


def _score(args: argparse.Namespace, kind: str) -> int:
    from toposcope._validation import ToposcopeError
    from toposcope.brain._brainscore import check_benchmark, parse_region_layers

    if not args.spec:
        raise ToposcopeError("brainscore needs a model SPEC, e.g. toponets/resnet18 --tau 10")
    check_benchmark(kind, args.benchmark)  # before loading a model for nothing
    region_layers = parse_region_layers(args.region_layer)
    if not region_layers:
        example = "IT=layer4.1.conv2" if kind == "vision" else "language_system=LAYER"
        raise ToposcopeError(f"no layer committed to a region; pass --region-layer (e.g. {example})")
    units = _read_units(args.units, kind) if args.units else None
    subject = load_subject(args)
    if kind == "vision":
        from toposcope.brain.brainscore_vision import score

        result = score(subject, args.benchmark, region_layers, offline=args.offline,
                       visual_degrees=args.visual_degrees)
    else:
        from toposcope.brain.brainscore_language import score

        result = score(subject, args.benchmark, region_layers, offline=args.offline, units=units)
    values = {name: float(result[name]) for name in ("score", "raw", "ceiling")}
    print(f"{args.benchmark}: score {values['score']:.4f} (raw {values['raw']:.4f}, "
          f"ceiling {values['ceiling']:.4f}) for {subject.name} [{result.attrs['region_layers']}]")
    if units is not None:
        print(f"units: {result.attrs['units']}")
    if args.output:
        import warnings

        from toposcope.io import write_netcdf

        with warnings.catch_warnings():
            # xarray 2022.3 (pinned by Brain-Score) lists its backends with an API importlib-metadata<5 deprecates
            warnings.filterwarnings("ignore", message="SelectableGroups", category=DeprecationWarning)
            print(f"-> {write_netcdf(result, args.output)}")
    return 0


def _read_units(path: str, kind: str):
    """The localizer result behind ``--units``, read whole (it is small) and closed."""
    from pathlib import Path

    import xarray as xr

    from toposcope._validation import ToposcopeError

    if kind != "language":
        raise ToposcopeError("--units restricts language benchmarks to localized units; drop it for vision")
    if not Path(path).is_file():
        raise ToposcopeError(f"--units file {path!r} does not exist; write one with `toposcope localizer SPEC "
                             "--stimuli ... -o LOCALIZER.nc`")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as data:
            return data.load()
    except (OSError, ValueError) as error:
        raise ToposcopeError(f"--units file {path!r} is not a netCDF localizer result ({error})") from None
