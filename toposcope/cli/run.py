"""``toposcope run RECIPE -o OUT``: every (model x analysis) task of a recipe, then a report."""

from __future__ import annotations

import argparse

HELP = "run a recipe (TOML: models, stimuli, analyses) into a folder of results, figures and report.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from toposcope.recipes.schema import shipped_recipes

    parser.add_argument("recipe", metavar="RECIPE",
                        help=f"recipe .toml file, or a shipped one: {', '.join(shipped_recipes())}")
    parser.add_argument("--model", action="append", metavar="SPEC",
                        help="run on this model instead of the recipe's [[models]] (repeatable)")
    parser.add_argument("-o", "--output", metavar="OUT", help="output folder (default: runs/RECIPE-NAME)")
    parser.add_argument("--force", action="store_true",
                        help="write into a folder holding other results and recompute finished tasks")
    parser.add_argument("--workers", type=int, metavar="N", help="run tasks on a local Dask cluster of N workers")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run tasks on a running Dask scheduler")
    parser.add_argument("--retries", type=int, default=2, help="Dask retries of a failed task (default 2)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--no-figures", action="store_true", help="report without figures (per task and the papers')")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope.recipes import load_recipe, run_recipe

    recipe = load_recipe(args.recipe, args.model)
    output = args.output or str(Path("runs") / recipe.name)
    summary = run_recipe(recipe, output, force=args.force, workers=args.workers, scheduler=args.scheduler,
                         retries=args.retries, cache=not args.no_cache, progress=not args.quiet,
                         figures=not args.no_figures)
    print(f"{recipe.name}: {summary['tasks']} tasks, {summary['ran']} run, {summary['skipped']} already done "
          f"-> {output}")
    print(f"report -> {summary['report']}")
    return 0
