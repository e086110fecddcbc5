"""toposcope: measure brain-like spatial organisation in topographic neural networks.

The data path is ``load_model`` -> ``extract`` -> analyses -> plots; see the
README and ARCHITECTURE.md. Heavy modules (torch, transformers) load only when
first used, so ``import toposcope`` and ``toposcope --help`` stay fast.

Public API
----------
load_model(spec_or_module, **options)
    A model as a :class:`~toposcope.models.subject.Subject` (a spec such as
    ``"toponets/resnet18"``, or your own ``nn.Module`` with ``layers=[...]``).
extract(subject, stimuli, layers=None, **options)
    Responses per layer: ``xr.DataArray`` dims (stimulus, unit) with sheet coords.
run_recipe(recipe, output_dir, **options)
    A TOML recipe (or a shipped name) into results, figures and a report.
ToposcopeError
    The one-line error every check raises.

Subpackages (imported on first use): ``analysis`` (pure functions on responses),
``brain`` (NSD, Brain-Score), ``figures``, ``io``, ``models``, ``plot``,
``recipes``, ``sheet``, ``stimuli``, ``surgery``, ``workflows``.
"""

from __future__ import annotations

import importlib
from typing import Any

from toposcope import _moved

__version__ = "0.1.0"

__all__ = ["ToposcopeError", "__version__", "extract", "load_model", "run_recipe"]

_LAZY = {
    "load_model": ("toposcope.models.registry", "load_model"),
    "extract": ("toposcope.extraction", "extract"),
    "run_recipe": ("toposcope.recipes.runner", "run_recipe"),
    "ToposcopeError": ("toposcope._validation", "ToposcopeError"),
}
#: Subpackages reachable as attributes (``toposcope.stimuli.load``) without importing them up front.
SUBPACKAGES = ("analysis", "brain", "figures", "io", "models", "plot", "recipes", "sheet", "stimuli", "surgery",
               "workflows")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    if name in SUBPACKAGES:
        return importlib.import_module(f"toposcope.{name}")
    raise AttributeError(f"module 'toposcope' has no attribute {name!r}")


def __dir__() -> list[str]:
    # The public API and the subpackages, not this module's own imports.
    return sorted({*__all__, *SUBPACKAGES, "SUBPACKAGES"})


# Modules that moved keep their old import paths (``toposcope.position_files``, ...).
_moved.install()
