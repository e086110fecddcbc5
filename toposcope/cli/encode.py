"""``toposcope encode SPEC --stories DIR --responses DIR --tr 2 -o OUT.nc``: story fMRI encoding models.

Reads stories and responses (two plain folders, or ``--dataset lebel|narratives
--root DIR``), runs the model over each story's words in context, fits one
ridge encoding model per layer (penalties chosen across whole training
stories), tests it on held-out stories and writes the per-voxel results with
the sheet read-back (netCDF) and a figure beside it.
"""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "encoding models of story-listening fMRI from a language model's units, read back onto the sheet"


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--dataset", choices=("folder", "lebel", "narratives"), default="folder",
                        help="layout of the data: two plain folders (default), LeBel et al. 2023 (ds003020) "
                             "or Narratives (ds002345)")
    parser.add_argument("--stories", metavar="DIR", help="folder of <story>.TextGrid / .csv / .json transcripts")
    parser.add_argument("--responses", "--fmri", dest="responses", metavar="DIR",
                        help="folder of <story>.hf5 / .nii.gz / .func.gii responses (one scan per story)")
    parser.add_argument("--tr", type=float, help="repetition time in seconds (folder layout)")
    parser.add_argument("--root", metavar="DIR", help="the data set's folder (lebel, narratives)")
    parser.add_argument("--subject", help="subject of the data set (UTS01, 1, sub-001)")
    parser.add_argument("--select", help="comma-separated stories to read (default: all)")
    parser.add_argument("--test", help="comma-separated held-out stories (default: the last one)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc", help="netCDF of the results; figure beside it")
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("--context", type=int, default=20, help="words per context window (default 20)")
    parser.add_argument("--method", choices=("lanczos", "sinc", "average"), default="lanczos",
                        help="words -> TRs (default lanczos, 3 lobes)")
    parser.add_argument("--delays", type=_ints, default=(1, 2, 3, 4), metavar="1,2,3,4", help="FIR delays in TRs")
    parser.add_argument("--trim", type=_ints, default=(0, 0), metavar="START,END", help="TRs dropped per story")
    parser.add_argument("--folds", type=int, help="cross-validation folds over training stories (default: one per story)")
    parser.add_argument("--confounds", choices=("report", "regress"), default="report",
                        help="head motion, when the data have it: report it or regress it out")
    parser.add_argument("--banded", action="store_true",
                        help="banded ridge: the units and the word-rate control get their own penalties per voxel")
    parser.add_argument("--windows", type=int, default=4, help="sheet windows per side for the read-back (default 4)")
    parser.add_argument("--permutations", type=int, default=1000, help="block permutations for p-values (0: none)")
    parser.add_argument("--backend", choices=("numpy", "torch", "torch_cuda"), default="numpy",
                        help="himalaya backend of the ridge fit")
    parser.add_argument("--no-figures", action="store_true", help="write the netCDF only")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="torch device of the forward passes")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _names(text: str | None) -> list[str] | None:
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    return names or None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope._validation import ToposcopeError
    from toposcope.brain.story_fmri import load_story_data
    from toposcope.extraction import check_device
    from toposcope.io import write_netcdf
    from toposcope.workflows.encoding import encode_stories

    if len(args.trim) != 2:
        raise ToposcopeError(f"--trim takes START,END (two numbers of TRs), got {','.join(map(str, args.trim))}")
    for flag, value in (("--context", args.context), ("--windows", args.windows), ("--batch-size", args.batch_size)):
        if value < 1:
            raise ToposcopeError(f"{flag} must be a positive whole number, got {value}")
    if args.permutations < 0:
        raise ToposcopeError(f"--permutations must be 0 or more, got {args.permutations}")
    check_device(args.device)
    data = load_story_data(args.dataset, stories=args.stories, responses=args.responses, root=args.root,
                           subject=args.subject, tr=args.tr, select=_names(args.select))
    print(f"{len(data.stories)} stories, {data.n_voxels} voxels, TR {data.tr:g} s "
          f"({data.attrs.get('dataset', args.dataset)})")
    subject = load_subject(args)
    result = encode_stories(subject, data, _names(args.layers), context=args.context, batch_size=args.batch_size,
                            device=args.device, cache=not args.no_cache, progress=not args.quiet,
                            test=_names(args.test), method=args.method, delays=args.delays, trim=tuple(args.trim),
                            n_folds=args.folds, confounds=args.confounds, windows=args.windows,
                            permutations=args.permutations, backend=args.backend, seed=args.seed,
                            banded=args.banded)
    output = Path(args.output)
    write_netcdf(result, output, attrs={"dataset_layout": args.dataset})
    print(f"test stories: {', '.join(result.attrs['test_stories'])}; median held-out r per layer:")
    for layer, value in zip(result["layer"].values, result["median_r"].values):
        print(f"  {layer:<24} {float(value):.3f}")
    print(f"-> {output}")
    if not args.no_figures:
        from toposcope.plot.encoding import plot_encoding
        from toposcope.plot.sheet import save_figure

        for path in save_figure(plot_encoding(result), output.with_suffix(".png"), formats=("png",)):
            print(f"figure -> {path}")
        if "hemisphere" in result.coords and "vertex" in result.coords:  # fsaverage results: r on the cortex
            from toposcope.plot.encoding import plot_encoding_surface

            surface = output.with_name(output.stem + "_surface.png")
            for path in save_figure(plot_encoding_surface(result), surface, formats=("png",)):
                print(f"figure -> {path}")
    return 0
