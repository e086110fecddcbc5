"""Modules that moved keep their old import paths: each old path is the moved module itself."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MOVED = {
    "toposcope.demo_data": "toposcope.demo.digits",
    "toposcope.demo_language": "toposcope.demo.language",
    "toposcope.efficiency": "toposcope.workflows.efficiency",
    "toposcope.position_files": "toposcope.sheet.position_files",
    "toposcope.windows": "toposcope.workflows.windows",
}

#: modules whose names now live in two layers: old path -> {name: new module}
SPLIT = {
    "toposcope.topoloss": {
        "DEFAULT_FACTOR": "toposcope.analysis.topoloss",
        "INTERPOLATIONS": "toposcope.analysis.topoloss",
        "TopoLossPenalty": "toposcope.analysis.topoloss",
        "topoloss_of_weight": "toposcope.analysis.topoloss",
        "weight_sheet": "toposcope.analysis.topoloss",
        "layer_topoloss": "toposcope.workflows.topoloss",
    },
}


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_path_is_the_moved_module(old, new):
    moved = importlib.import_module(new)
    assert importlib.import_module(old) is moved
    assert moved.__spec__.name == new  # the alias leaves the module's own spec alone
    parent, _, leaf = old.rpartition(".")
    assert getattr(importlib.import_module(parent), leaf) is moved
    for name in moved.__all__:
        assert getattr(importlib.import_module(old), name) is getattr(moved, name)


@pytest.mark.parametrize("old", sorted(SPLIT))
def test_split_module_keeps_every_public_name(old):
    module = importlib.import_module(old)
    assert sorted(module.__all__) == sorted(SPLIT[old])
    for name, new in SPLIT[old].items():
        assert getattr(module, name) is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize("old, new", sorted(MOVED.items()) + [(old, next(iter(names.values())))
                                                              for old, names in SPLIT.items()])
def test_old_path_imports_first_in_a_fresh_interpreter(old, new):
    # ``from OLD import name`` as the first toposcope import of a program
    name = importlib.import_module(new).__all__[0]
    code = f"import {new} as new; from {old} import {name} as x; print(x is new.{name})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True"]


def test_unknown_paths_still_fail():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("toposcope.no_such_module")
