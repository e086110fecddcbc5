"""``toposcope layers SPEC``: list a model's topographic layers and hookable modules."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "list a model's topographic layers with unit counts and sheet shapes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--all", action="store_true",
                        help="also list every named module as a tree (type, output shape, units); "
                             "any of them can be given to --layers")


def run(args: argparse.Namespace) -> int:
    subject = load_subject(args)
    print(f"{subject.name}  ({subject.modality}; weights sha256 {subject.identity[:12]})")
    width = max(len(name) for name in subject.layers)
    print(f"{'layer':<{width}}  {'units':>8}  {'layout':<13}  sheet")
    for name, layer in subject.layers.items():
        print(f"{name:<{width}}  {layer.n_units:>8}  {layer.layout:<13}  {layer.sheet.describe()}")
    if args.all:
        _print_tree(subject)
    return 0


def _print_tree(subject) -> None:
    """Every named module, indented by depth: type, output shape on one probe input, units."""
    from toposcope.models.subject import module_table

    rows = module_table(subject)
    print("\nevery module (any can be given to --layers; * = topographic layer):")
    labels = [("  " * name.count(".")) + name.rsplit(".", 1)[-1] for name, _, _ in rows]
    width = max(len(label) for label in labels) + 2
    kinds = max(len(kind) for _, kind, _ in rows)
    for label, (name, kind, shape) in zip(labels, rows):
        mark = "*" if name in subject.layers else " "
        shown = "x".join(map(str, shape)) if shape else "-"
        units = _units(shape, subject.modality) if shape else ""
        print(f"{mark} {label:<{width}} {kind:<{kinds}}  {shown:<16} {units}")


def _units(shape: tuple[int, ...], modality: str) -> str:
    """Units a channel layout would give: channels of a conv map, else the last axis."""
    if not shape:
        return ""
    return f"{shape[0] if len(shape) == 3 and modality == 'vision' else shape[-1]} units"
