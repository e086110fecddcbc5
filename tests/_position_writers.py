"""Write TopoLM and TDANN position files in their real on-disk formats, for tests.

Both projects save a ``LayerPositions`` dataclass: TopoLM with ``pickle.dump`` from
a module imported as ``positions`` (torch tensors inside), TDANN with
``pickle.dump`` from ``spacetorch.models.positions`` (numpy arrays inside) or with
``np.savez(path, **vars(obj))``. The writers recreate those classes under the
same module names, so the pickles reference exactly the globals real files do,
without either project installed.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def module_named(module: str, **attributes: Any):
    """Temporarily make ``module`` (and its parents) importable, holding ``attributes``."""
    parts = module.split(".")
    names = [".".join(parts[: i + 1]) for i in range(len(parts))]
    saved = {name: sys.modules.get(name) for name in names}
    try:
        for name in names:
            sys.modules[name] = types.ModuleType(name)
        for key, value in attributes.items():
            setattr(sys.modules[module], key, value)
        yield sys.modules[module]
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old


def _dump(obj: Any, cls: type, module: str, path: Path) -> Path:
    cls.__module__ = module
    cls.__qualname__ = "LayerPositions"
    with module_named(module, LayerPositions=cls), open(path, "wb") as stream:
        pickle.dump(obj, stream)
    return path


def write_topolm_positions(folder: Path, name: str, coordinates: Any, mask: Any,
                           neighborhoods_per_batch: int = 5, module: str = "positions") -> Path:
    """``LayerPositions(name, coordinates (N, 2) tensor, neighborhood_indices (M, N) 0/1 tensor, ...)``."""

    @dataclass
    class LayerPositions:
        name: str
        coordinates: Any
        neighborhood_indices: Any
        neighborhoods_per_batch: int

    folder.mkdir(parents=True, exist_ok=True)
    obj = LayerPositions(name, coordinates, mask, neighborhoods_per_batch)
    return _dump(obj, LayerPositions, module, folder / f"{name}.pkl")


def write_tdann_positions(folder: Path, name: str, dims: tuple[int, ...], coordinates: np.ndarray,
                          neighborhoods: np.ndarray, width: float = 1.5, suffix: str = ".pkl") -> Path:
    """``LayerPositions(name, dims, coordinates (N, 2) mm, neighborhood_indices (P, Q), neighborhood_width)``."""

    @dataclass
    class LayerPositions:
        name: str
        dims: Any
        coordinates: np.ndarray
        neighborhood_indices: np.ndarray
        neighborhood_width: float

    folder.mkdir(parents=True, exist_ok=True)
    obj = LayerPositions(name, dims, coordinates, neighborhoods, width)
    if suffix == ".npz":
        path = folder / f"{name}.npz"
        np.savez(path, **vars(obj))  # as spacetorch's LayerPositions.save_np
        return path
    return _dump(obj, LayerPositions, "spacetorch.models.positions", folder / f"{name}.pkl")


def tdann_layer(folder: Path, name: str, dims: tuple[int, int, int], seed: int = 0,
                suffix: str = ".pkl", size_mm: float = 10.0) -> np.ndarray:
    """Write a TDANN conv-layer file with random mm positions; return the coordinates."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(dims))
    coordinates = rng.uniform(0, size_mm, size=(n, 2))
    neighborhoods = np.stack([rng.choice(n, size=min(20, n), replace=False) for _ in range(5)])
    write_tdann_positions(folder, name, dims, coordinates, neighborhoods, suffix=suffix)
    return coordinates


def topolm_layer(folder: Path, name: str, side: int, seed: int = 0, radius: int = 2) -> np.ndarray:
    """Write a TopoLM file: a permuted side x side lattice with square 0/1 neighbourhoods."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cells = torch.tensor([(i, j) for i in range(side) for j in range(side)], dtype=torch.float32)
    coordinates = cells[torch.randperm(side * side, generator=generator)]
    centres = [c for c in coordinates if radius - 1 <= c.min() and c.max() <= side - radius]
    mask = torch.stack([
        ((coordinates - c).abs().amax(dim=1) < radius).to(torch.int64) for c in centres
    ])
    write_topolm_positions(folder, name, coordinates, mask)
    return coordinates.numpy()
