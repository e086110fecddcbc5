"""Analyses: pure functions from responses (or maps) to DataArrays and Datasets.

One module per analysis; import the one you need::

    from toposcope.analysis import smoothness, dimensionality
    curve = smoothness.curve(responses, bins=20)
    ed = dimensionality.effective_dimensionality(responses)

Submodules load on first use (``toposcope.analysis.smoothness`` works without
an explicit import) so that ``import toposcope.analysis`` stays cheap. Nothing
here imports :mod:`toposcope.plot`, :mod:`toposcope.cli`, the models or the
extraction (the import-linter contracts in ``pyproject.toml``; ``lint-imports``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "components",
    "dimensionality",
    "integration",
    "map_similarity",
    "patches",
    "selectivity",
    "smoothness",
    "spatial_stats",
    "stats",
    "suites",
    "tgi",
    "topoloss",
]


def __getattr__(name: str) -> ModuleType:
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise  # the module exists but one of its own imports is missing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
