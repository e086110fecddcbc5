"""``toposcope nsd``: a real (tiny) model against a tiny NSD tree whose voxels carry its units."""

from __future__ import annotations

import _nsd_tree as T
import numpy as np
import pytest
import torch
import xarray as xr
from _tiny import TinyNet

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.brain import nsd
from toposcope.cli import main
from toposcope.cli.nsd import parse_sessions


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A pickled TinyNet, an NSD tree whose ROI voxels are its conv2 units plus noise, a response cache."""
    folder = tmp_path_factory.mktemp("nsd-cli")
    model = folder / "tiny.pt"
    torch.save(TinyNet(), model)
    first = T.build(folder / "first")  # same seed, so the same images as the final tree
    subject = toposcope.load_model(f"file:{model}", layers="conv2", trust_checkpoint=True)
    # In 73k-id order, as the command asks for them: the same stimulus set, so the
    # response cache below spares the commands their forward passes.
    order = np.argsort(first.nsd_ids)
    stimuli = nsd.stimulus_set(first.root, first.nsd_ids[order], folder / "png")
    cache = folder / "cache"
    units = np.empty((T.IMAGES, 6), np.float32)
    units[order] = toposcope.extract(subject, stimuli, cache=cache / "responses", progress=False)["conv2"].values
    return model, T.build(folder / "nsd", units=units), cache


@pytest.fixture
def shared_cache(planted, monkeypatch):
    monkeypatch.setenv("TOPOSCOPE_CACHE", str(planted[2]))


def run_nsd(model, root, out, *extra):
    return main(["nsd", f"file:{model}", "--trust-checkpoint", "-O", "layers=conv2", "--nsd-root", str(root), "--subject", "1",
                 "-o", str(out), "--image-dir", str(out.parent / "images"), *extra])


def planted_units(tree, result, space="fsaverage"):
    return np.asarray([tree.unit_of[(space, h, int(i))]
                       for h, i in zip(result["hemisphere"].values, result["index"].values)])


def test_best_unit_finds_every_planted_unit(planted, shared_cache, tmp_path, capsys):
    model, tree, _ = planted
    out = tmp_path / "out" / "map.nc"
    assert run_nsd(model, tree.root, out, "--roi", "streams", "--method", "best_unit") == 0
    result = xr.open_dataset(out, engine="h5netcdf").load()
    np.testing.assert_array_equal(result["unit"].values, planted_units(tree, result))
    assert (result["r"].values > 0.9).all()
    assert result.attrs["method"] == "best_unit" and result.attrs["nsd_subject"] == 1
    assert result.attrs["layer"] == "conv2" and len(result.attrs["checkpoint_sha256"]) == 64
    assert out.with_suffix(".png").stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "14 voxels, 36 images (12 shared, held out)" in text and "early lh" in text and "all all" in text


def test_one_to_one_gives_each_unit_one_of_its_voxels(planted, shared_cache, tmp_path):
    model, tree, _ = planted
    out = tmp_path / "map.nc"
    assert run_nsd(model, tree.root, out, "--roi", "floc-faces", "--space", "func1pt8mm",
                   "--sessions", "1-3") == 0
    result = xr.open_dataset(out, engine="h5netcdf").load()
    unit = result["unit"].values
    assigned = unit >= 0
    # 16 voxels share 6 units: each unit goes to exactly one voxel that carries it.
    assert assigned.sum() == 6 and len(set(unit[assigned].tolist())) == 6
    np.testing.assert_array_equal(unit[assigned], planted_units(tree, result, "func1pt8mm")[assigned])
    assert np.isnan(result["r"].values[~assigned]).all()


@pytest.mark.parametrize("extra, message", [
    (["--roi", "streams", "--subject", "7"], r"NSD subject 7 has no fsaverage betas .*available subjects: 1, 2"),
    (["--roi", "prf-visualrois"], r"ROI collection 'prf-visualrois' not found .*available: streams"),
    (["--roi", "streams:V1"], r"ROI 'V1' is not in collection 'streams'; it has: early, midventral"),
    (["--roi", "streams", "--sessions", "1-x"], r"--sessions '1-x' is not a list like 1-10,12"),
    (["--roi", "streams", "--sessions", "5"], r"has no betas of session 5 .*lh.betas_session05.mgh'; expected it at"),
])
def test_bad_input_is_one_line_and_exit_2(planted, tmp_path, capsys, extra, message):
    import re

    model, tree, _ = planted
    assert run_nsd(model, tree.root, tmp_path / "map.nc", *extra) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and re.search(message, errors[0]), errors
    assert not (tmp_path / "map.nc").exists()


def test_missing_design_names_the_file(planted, tmp_path, capsys):
    import shutil

    model, tree, _ = planted
    root = tmp_path / "nsd"
    shutil.copytree(tree.root, root)
    (root / "nsddata/experiments/nsd/nsd_expdesign.mat").unlink()
    assert run_nsd(model, root, tmp_path / "map.nc", "--roi", "streams") == 2
    assert "has no experimental design 'nsddata/experiments/nsd/nsd_expdesign.mat'" in capsys.readouterr().err


def test_parse_sessions():
    assert parse_sessions("1-3,5") == [1, 2, 3, 5]
    assert parse_sessions(None) is None
    with pytest.raises(ToposcopeError, match="not a list like"):
        parse_sessions("a")


def test_voxel_figure_panels():
    from toposcope.plot.voxels import plot_voxel_r

    rng = np.random.default_rng(0)
    n = 12
    result = xr.Dataset(
        {"unit": ("voxel", np.arange(n)), "r": ("voxel", rng.uniform(0, 1, n)),
         "r_ceiling": ("voxel", np.full(n, 0.8))},
        coords={"roi": ("voxel", np.repeat(["V1", "V2"], 6)), "hemisphere": ("voxel", np.tile(["lh", "rh"], 6)),
                "unit_x": ("voxel", np.arange(n) % 4.0), "unit_y": ("voxel", np.arange(n) // 4.0)},
        attrs={"method": "one_to_one", "median_r_normalised": 0.6})
    figure = plot_voxel_r(result)
    assert len(figure.axes) == 4  # three panels and the sheet's colour bar
    assert [t.get_text() for t in figure.axes[1].get_xticklabels()] == ["V1 lh", "V1 rh", "V2 lh", "V2 rh"]
    ridge = plot_voxel_r(result.drop_vars(["unit_x", "unit_y", "r_ceiling"]))
    assert len(ridge.axes) == 2
    with pytest.raises(ToposcopeError, match="needs a Dataset with 'r' over dim 'voxel'"):
        plot_voxel_r(result["r"])
