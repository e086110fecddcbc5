"""The architecture's one-way data flow, checked on the source: io/models -> extract -> analysis -> plot/cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "toposcope"

#: package prefix -> modules it must never import
FORBIDDEN = {
    "toposcope.analysis": ("toposcope.plot", "toposcope.cli", "toposcope.models", "toposcope.extraction",
                           "toposcope.figures", "toposcope.recipes"),
    "toposcope.plot": ("toposcope.cli", "toposcope.extraction", "toposcope.models"),
    "toposcope.sheet": ("toposcope.models", "toposcope.extraction", "toposcope.plot", "toposcope.cli"),
    "toposcope.models": ("toposcope.extraction", "toposcope.analysis", "toposcope.plot", "toposcope.cli"),
    "toposcope.extraction": ("toposcope.analysis", "toposcope.plot", "toposcope.cli"),
    "toposcope.surgery": ("toposcope.plot", "toposcope.cli"),
    "toposcope.workflows": ("toposcope.plot", "toposcope.cli"),
    "toposcope.brain": ("toposcope.plot", "toposcope.cli"),
    "toposcope.stimuli": ("toposcope.models", "toposcope.extraction", "toposcope.analysis",
                          "toposcope.plot", "toposcope.cli"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    name = module_name(path)
    for prefix, forbidden in FORBIDDEN.items():
        if name == prefix or name.startswith(prefix + "."):
            bad = [m for m in imported_modules(path) if m.startswith(forbidden)]
            assert not bad, f"{name} imports {bad}, against the layering in DESIGN"


def test_library_never_imports_the_cli():
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if not name.startswith("toposcope.cli") and name != "toposcope.__main__":
            assert not [m for m in imported_modules(path) if m.startswith("toposcope.cli")], name
