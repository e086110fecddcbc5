"""``toposcope run RECIPE -o OUT``: every (model x analysis) task of a recipe, then a report."""

from __future__ import annotations

import argparse

HELP = "run a recipe (TOML: models, stimuli, analyses) into a folder of results, figures and report.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from toposcope.cli._common import add_trust_arguments
    from toposcope.recipes.schema import shipped_recipes

    parser.add_argument("recipe", metavar="RECIPE", nargs="?",
                        help=f"recipe .toml file, or a shipped one: {', '.join(shipped_recipes())}")
    parser.add_argument("--list", action="store_true", help="list the shipped recipes and what they reproduce")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the recipe and load every model and stimulus set, list the tasks, run nothing")
    parser.add_argument("--model", action="append", metavar="SPEC",
                        help="run on this model instead of the recipe's [[models]] (repeatable)")
    parser.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="load option for every model, repeatable (e.g. -O checkpoint=my.pt -O positions=pos/)")
    add_trust_arguments(parser, seed=None)
    parser.add_argument("-o", "--output", metavar="OUT", help="output folder (default: runs/RECIPE-NAME)")
    parser.add_argument("--force", action="store_true",
                        help="write into a folder holding other results and recompute finished tasks")
    parser.add_argument("--workers", type=int, metavar="N", help="run tasks on a local Dask cluster of N workers")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run tasks on a running Dask scheduler")
    parser.add_argument("--retries", type=int, default=2, help="Dask retries of a failed task (default 2)")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    parser.add_argument("--no-figures", action="store_true", help="report without figures (per task and the papers')")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _list() -> int:
    import re

    from toposcope.recipes.schema import SHIPPED, recipe_header, shipped_recipes

    for name in shipped_recipes():
        head = recipe_header(SHIPPED / f"{name}.toml")
        paper = str(head.get("paper", ""))
        if paper:
            # "Deb, Deb, Murty. TopoNets: ... ICLR 2025" -> "Deb et al. 2025"
            years = re.findall(r"\b(?:19|20)\d\d\b", paper)
            what = f"{re.split(r'[,.]| et al', paper)[0].strip()} et al. {years[-1] if years else ''}".strip()
            figure = str(head.get("figure", ""))
            what += f", {'Fig. ' if re.match(r'S?[0-9]', figure) else ''}{figure}" if figure else ""
        else:
            what = str(head.get("description", "")).strip().splitlines()[0] if head.get("description") else ""
        print(f"{name:<20} {what}")
    return 0


def _dry_run(recipe, output) -> int:
    import tempfile
    from pathlib import Path

    from toposcope.recipes import expand, validate
    from toposcope.recipes.runner import check_output, fetch_plan
    from toposcope.recipes.tasks import is_done

    output = Path(output)
    check_output(output, recipe, force=False)
    for line in fetch_plan(recipe):  # before loading: offline, loading stops at the first of them
        print(f"would fetch  {line}", flush=True)
    with tempfile.TemporaryDirectory() as scratch:  # stimuli made in code go here: a dry run writes nothing
        validate(recipe, Path(scratch))  # loads every model and stimulus set once
    tasks = expand(recipe)
    done = [is_done(t, output) for t in tasks]
    for task, finished in zip(tasks, done):
        print(f"{'done   ' if finished else 'pending'}  {task.relative_path}")
    print(f"{recipe.name}: {len(tasks)} tasks, {len(tasks) - sum(done)} to run -> {output} (dry run: nothing ran)")
    return 0


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from toposcope._validation import ToposcopeError
    from toposcope.cli._common import model_options
    from toposcope.recipes import load_recipe, run_recipe

    if args.list:
        return _list()
    if args.recipe is None:
        raise ToposcopeError("give a RECIPE (.toml file or a shipped name); `toposcope run --list` lists them")
    if args.retries < 0:
        raise ToposcopeError(f"--retries must be 0 or more, got {args.retries}")
    recipe = load_recipe(args.recipe, args.model, model_options(args))
    output = args.output or str(Path("runs") / recipe.name)
    if args.dry_run:
        return _dry_run(recipe, output)
    summary = run_recipe(recipe, output, force=args.force, workers=args.workers, scheduler=args.scheduler,
                         retries=args.retries, cache=not args.no_cache, progress=not args.quiet,
                         figures=not args.no_figures)
    print(f"{recipe.name}: {summary['tasks']} tasks, {summary['ran']} run, {summary['skipped']} already done "
          f"-> {output}")
    print(f"report -> {summary['report']}")
    return 0
