"""Recipes: one TOML file per published analysis, run as independent (model x analysis) tasks.

>>> from toposcope.recipes import run_recipe
>>> run_recipe("demo", "out/demo")          # doctest: +SKIP

See :mod:`toposcope.recipes.schema` for the file format and
:mod:`toposcope.recipes.runner` for the output folder.
"""

from toposcope.recipes.runner import run_recipe, validate
from toposcope.recipes.schema import (
           ANALYSIS_KEYS,
           Recipe,
           Task,
           expand,
           load_recipe,
           parse_recipe,
           shipped_recipes,
)
from toposcope.recipes.tasks import ANALYSES, run_task

__all__ = ["ANALYSES", "ANALYSIS_KEYS", "Recipe", "Task", "expand", "load_recipe", "parse_recipe", "run_recipe",
           "run_task", "shipped_recipes", "validate"]
