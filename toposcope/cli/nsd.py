"""``toposcope nsd SPEC --nsd-root DIR --subject 1 --roi streams:ventral -o out.nc``.

Reads the subject's betas for the ROIs, extracts the model's responses to the
same NSD images (written once as PNGs into a cache folder), maps units to
voxels and writes the mapping (netCDF) and a figure of r per voxel beside it.
"""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, add_preprocessing_arguments, load_subject

HELP = "map model units to NSD voxels (one-to-one, best unit or ridge), scored on held-out images"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    add_preprocessing_arguments(parser)
    parser.add_argument("--nsd-root", required=True, metavar="DIR",
                        help="folder holding nsddata/, nsddata_betas/ and nsddata_stimuli/")
    parser.add_argument("--subject", required=True, type=int, help="NSD subject, 1-8")
    parser.add_argument("--roi", required=True, action="append", metavar="COLLECTION[:NAME,...]",
                        help="ROI collection and optional label names, repeatable "
                             "(e.g. streams:ventral, floc-faces:FFA-1,FFA-2, prf-visualrois)")
    parser.add_argument("--space", default="fsaverage", choices=("fsaverage", "func1pt8mm"))
    parser.add_argument("--sessions", metavar="LIST", help="sessions to read, e.g. 1-10,12 (default: all)")
    parser.add_argument("--method", default="one_to_one", choices=("one_to_one", "best_unit", "ridge"))
    parser.add_argument("--layers", help="comma-separated layer names (default: all topographic layers)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.nc",
                        help="netCDF file (one per layer beside it with several layers); figure as OUT.png")
    parser.add_argument("--image-dir", metavar="DIR", help="where NSD images are cached as PNG "
                        "(default: $TOPOSCOPE_CACHE/nsd_images)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")


def parse_sessions(text: str | None) -> list[int] | None:
    """``"1-3,5"`` -> ``[1, 2, 3, 5]``."""
    from toposcope._validation import ToposcopeError

    if not text:
        return None
    sessions: list[int] = []
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        if not low.isdigit() or (sep and not high.isdigit()):
            raise ToposcopeError(f"--sessions {text!r} is not a list like 1-10,12")
        sessions.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    return sessions


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope import extract
    from toposcope.brain import nsd
    from toposcope.io import provenance, write_netcdf
    from toposcope.plot.sheet import save_figure
    from toposcope.plot.voxels import plot_voxel_r

    betas = nsd.load_betas(args.nsd_root, args.subject, args.roi, space=args.space,
                           sessions=parse_sessions(args.sessions))
    print(f"NSD subject {args.subject} ({args.space}): {betas.sizes['voxel']} voxels, "
          f"{betas.sizes['stimulus']} images ({int(betas['shared'].sum())} shared, held out)")
    subject = load_subject(args)
    stimuli = nsd.stimulus_set(args.nsd_root, betas["nsd_id"].values, args.image_dir)
    layers = [name for name in args.layers.split(",") if name] if args.layers else None
    responses = extract(subject, stimuli, layers, batch_size=args.batch_size, device=args.device,
                        cache=not args.no_cache)
    output = Path(args.output)
    for name, array in responses.items():
        result = nsd.map_units_to_voxels(array, betas, method=args.method)
        path = output if len(responses) == 1 else output.with_name(f"{output.stem}.{name}{output.suffix or '.nc'}")
        write_netcdf(result, path, attrs=provenance(
            **subject.provenance(), layer=name, method=args.method, nsd_subject=args.subject,
            space=args.space, rois=args.roi, sessions=betas.attrs["sessions"]))
        figures = save_figure(plot_voxel_r(result, title=f"{subject.name} {name} -> NSD subj{args.subject:02d} "
                                           f"({args.method})"), path, formats=("png",))
        _print_summary(nsd.summarise(result), name)
        print(f"-> {path}, {figures[0]}")
    return 0


def _print_summary(summary, layer: str) -> None:
    keys = [k for k in ("roi", "hemisphere") if k in summary.coords]
    print(f"{layer}: median held-out r per region")
    for i in range(summary.sizes["region"]):
        label = " ".join(str(summary[k].values[i]) for k in keys) or "all"
        line = f"  {label:<24} n={int(summary['n_voxels'][i]):>6}  r={float(summary['median_r'][i]):.3f}"
        if "normalised" in summary:
            line += f"  ceiling r={float(summary['median_r_ceiling'][i]):.3f}  " \
                    f"normalised={float(summary['normalised'][i]):.3f}"
        print(line)
