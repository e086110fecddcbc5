"""toposcope: measure brain-like spatial organisation in topographic neural networks.

The data path is ``load_model`` -> ``extract`` -> analyses -> plots; see the
README. Heavy modules (torch, transformers) load only when first used, so
``import toposcope`` and ``toposcope --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from toposcope import _moved

__version__ = "0.1.0"

__all__ = ["ToposcopeError", "__version__", "extract", "load_model"]

_LAZY = {
    "load_model": ("toposcope.models.registry", "load_model"),
    "extract": ("toposcope.extraction", "extract"),
    "ToposcopeError": ("toposcope._validation", "ToposcopeError"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'toposcope' has no attribute {name!r}")


# Modules that moved keep their old import paths (``toposcope.position_files``, ...).
_moved.install()
