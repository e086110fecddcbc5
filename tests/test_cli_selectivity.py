"""``toposcope selectivity`` and ``toposcope stimuli``: files written, provenance, one-line errors."""

from __future__ import annotations

import shutil
import urllib.error

import numpy as np
import pytest
import torch
import xarray as xr
from _tiny import TinyNet
from conftest import shared_path

from toposcope.cli import main


@pytest.fixture
def pickled_tiny(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(TinyNet(), path)
    return path


@pytest.fixture
def small_floc(tmp_path):
    """Three real fLOC images per category, copied into a temporary folder."""
    source = shared_path("stimuli", "floc")
    root = tmp_path / "floc"
    for category in ("adult", "child", "body", "limb", "house", "corridor", "word", "number", "car",
                     "instrument"):
        (root / category).mkdir(parents=True)
        for i in (1, 2, 3):
            shutil.copy(source / category / f"{category}-{i}.jpg", root / category)
    return root


def test_selectivity_writes_tmaps_with_sheet_coords_provenance_and_figures(pickled_tiny, small_floc, tmp_path,
                                                                          capsys):
    out = tmp_path / "out" / "tmaps.nc"
    code = main(["selectivity", f"file:{pickled_tiny}", "--trust-checkpoint", "-O", "layers=conv1,conv2", "--stimuli",
                 f"floc:{small_floc}", "-o", str(out), "--no-cache", "--quiet", "--patches"])
    assert code == 0
    maps = xr.open_dataarray(out, engine="h5netcdf")
    assert maps.dims == ("contrast", "unit") and maps.sizes == {"contrast": 5, "unit": 4 + 6}
    assert list(maps["contrast"].values) == ["faces", "bodies", "places", "characters", "objects"]
    assert set(maps["layer"].values) == {"conv1", "conv2"}
    for coord in ("x", "y", "target", "reference", "n_target"):
        assert coord in maps.coords
    assert maps.attrs["model"].startswith("file:") and len(maps.attrs["checkpoint_sha256"]) == 64
    assert maps.attrs["stimuli"] == f"floc:{small_floc}" and "toposcope_version" in maps.attrs
    assert np.isfinite(maps.values).all()
    for name in ("tmaps-maps.png", "tmaps-maps.pdf", "tmaps-fig5a.png", "tmaps-fig5a.pdf"):
        assert (out.parent / name).stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "30 stimuli" in printed and "fraction of units with t > 10" in printed and "conv2" in printed


def test_selectivity_unknown_category_is_one_line(pickled_tiny, small_floc, tmp_path, capsys):
    code = main(["selectivity", f"file:{pickled_tiny}", "--trust-checkpoint", "-O", "layers=conv2", "--stimuli", f"floc:{small_floc}",
                 "--contrasts", "faces,cats vs car", "-o", str(tmp_path / "t.nc"), "--no-cache", "--quiet"])
    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "names category 'cats'" in errors[0] and "they have: 'adult'" in errors[0]
    assert not (tmp_path / "t.nc").exists()


def test_stimuli_list_names_sets_and_sources(capsys):
    assert main(["stimuli", "list"]) == 0
    out = capsys.readouterr().out
    assert "floc:" in out and "github.com/VPNL/fLoc" in out and "konkle:" in out and "gratings:" in out


def test_stimuli_fetch_offline_is_one_line(tmp_path, monkeypatch, capsys):
    def offline(*_args, **_kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    assert main(["stimuli", "fetch", "floc", "--to", str(tmp_path / "floc")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "offline?" in err[0] and str(tmp_path / "floc") in err[0]
