"""Shared fixtures: tiny planted data, the ../shared folder, opt-in real models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TOPOSCOPE_SHARED", ROOT.parent / "shared"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own response cache, so tests never see each other's results."""
    monkeypatch.setenv("TOPOSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {Path('shared', *parts)} beside the project (real stimuli, not shipped); "
                    f"point TOPOSCOPE_SHARED at a copy to run it")
    return path


@pytest.fixture
def image_folder(tmp_path):
    """Six 32x32 images in two category folders, with planted intensity differences."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for category, level in (("dark", 40), ("bright", 200)):
        (root / category).mkdir(parents=True)
        for i in range(3):
            pixels = np.clip(level + rng.normal(0, 10, (32, 32)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(root / category / f"{category}-{i}.png")
    return root
