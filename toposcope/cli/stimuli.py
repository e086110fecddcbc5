"""``toposcope stimuli fetch NAME --to DIR`` and ``toposcope stimuli list``."""

from __future__ import annotations

import argparse

HELP = "list the named stimulus sets, or download one from its real source (checksum-verified)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = actions.add_parser("fetch", help="download, verify and unpack a stimulus set")
    fetch.add_argument("name", metavar="NAME", help="a set with a manifest: floc, konkle")
    fetch.add_argument("--to", metavar="DIR",
                       help="destination folder (default: the cache, where `--stimuli NAME` looks)")
    fetch.add_argument("--force", action="store_true", help="download even if DIR already holds the set")
    actions.add_parser("list", help="the named sets, their sources and citations")


def run(args: argparse.Namespace) -> int:
    from toposcope.stimuli.manifests import GENERATED, available, default_data_dir, get_manifest

    if args.action == "list":
        for name in available():
            if name in GENERATED:
                print(f"{name}: generated in code (no download)")
                continue
            manifest = get_manifest(name)
            where = default_data_dir(name)
            state = "fetched" if where.is_dir() else "not fetched"
            print(f"{name}: {manifest.title} ({state})\n  source: {manifest.url}\n  cite: {manifest.citation}")
        return 0
    from toposcope.stimuli.fetch import fetch

    manifest = get_manifest(args.name)
    folder = fetch(manifest, args.to, force=args.force)
    print(f"{manifest.name}: {manifest.checksum.get('files', '?')} files verified in {folder}; "
          f"load with --stimuli {manifest.name}" + ("" if args.to is None else f":{folder}"))
    print(f"cite: {manifest.citation}")
    return 0
