"""``toposcope layers SPEC``: list a model's topographic layers and hookable modules."""

from __future__ import annotations

import argparse

from toposcope.cli._common import add_model_arguments, load_subject

HELP = "list a model's topographic layers with unit counts and sheet shapes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--all", action="store_true", help="also list every Conv2d / Linear module")


def run(args: argparse.Namespace) -> int:
    from toposcope.models.subject import candidate_layers

    subject = load_subject(args)
    print(f"{subject.name}  ({subject.modality}; weights sha256 {subject.identity[:12]})")
    width = max(len(name) for name in subject.layers)
    print(f"{'layer':<{width}}  {'units':>8}  {'layout':<13}  sheet")
    for name, layer in subject.layers.items():
        print(f"{name:<{width}}  {layer.n_units:>8}  {layer.layout:<13}  {layer.sheet.describe()}")
    if args.all:
        others = [n for n in candidate_layers(subject.model) if n not in subject.layers]
        print(f"\nother hookable modules ({len(others)}): " + ", ".join(others))
    return 0
