"""Old import paths of modules that moved into the layered folders, kept working.

``import toposcope.position_files`` gives :mod:`toposcope.sheet.position_files`
itself: the same module object, so its names, private helpers and any patching
are shared. An old module that was split (its names now live in two layers)
comes back as one module holding the public names of both.

The aliases are made on import, not kept as files, so the package folder shows
only where code lives; nothing inside toposcope imports an old path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
from typing import Any

#: old module path -> the module(s) that hold its names now
MOVED: dict[str, tuple[str, ...]] = {
    "toposcope.position_files": ("toposcope.sheet.position_files",),
    "toposcope.demo_data": ("toposcope.demo.digits",),
    "toposcope.demo_language": ("toposcope.demo.language",),
    "toposcope.efficiency": ("toposcope.workflows.efficiency",),
    "toposcope.windows": ("toposcope.workflows.windows",),
    "toposcope.topoloss": ("toposcope.analysis.topoloss", "toposcope.workflows.topoloss"),
}


class _Aliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths in :data:`MOVED` and loads each as its new module."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec: Any) -> types.ModuleType:
        targets = [importlib.import_module(new) for new in MOVED[spec.name]]
        if len(targets) == 1:
            # module_from_spec stamps the alias's spec on the module it gets: keep
            # the real one to put back in exec_module.
            spec.loader_state = targets[0].__spec__
            return targets[0]
        module = types.ModuleType(spec.name, f"Old path; the names now live in {', '.join(MOVED[spec.name])}.")
        module.__all__ = []
        for target in targets:
            for name in target.__all__:
                setattr(module, name, getattr(target, name))
                module.__all__.append(name)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        spec = module.__spec__
        if spec is not None and spec.loader is self and spec.loader_state is not None:
            module.__spec__ = spec.loader_state


def install() -> None:
    """Put the alias finder first on :data:`sys.meta_path` (once).

    First, so that no other finder (an editable install's, say) can answer an
    old path with a stale file; it answers only the names in :data:`MOVED`.
    """
    if not any(isinstance(finder, _Aliases) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Aliases())
