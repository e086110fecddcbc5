"""The shipped demo models, the digit stimuli, ``toposcope demo`` and the training script."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from PIL import Image

from toposcope._validation import ToposcopeError
from toposcope.cli import main
from toposcope.demo import compare, format_summary, paper_effects, run_demo
from toposcope.demo.digits import digit_images, train_test_split, write_digit_stimuli
from toposcope.demo.run import _check_output
from toposcope.io import open_responses
from toposcope.models.demo import DigitTransform, demo_metadata, load_demo, weights_path
from toposcope.models.registry import load_model
from toposcope.models.subject import file_sha256

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["conv1", "conv2", "conv3", "fc1"]


def test_both_models_load_offline_with_distinct_identities():
    topo, baseline = load_model("demo/topo"), load_model("demo/baseline")
    for name, subject in (("topo", topo), ("baseline", baseline)):
        assert subject.name == f"demo/{name}" and subject.modality == "vision"
        assert list(subject.layers) == LAYERS
        assert [layer.weight for layer in subject.layers.values()] == [f"{n}.weight" for n in LAYERS]
        assert [layer.sheet.grid for layer in subject.layers.values()] == [(4, 4), (4, 8), (8, 8), (8, 16)]
        assert subject.identity == file_sha256(weights_path(name)) == demo_metadata()["models"][name]["sha256"]
    assert topo.identity != baseline.identity


def test_transform_takes_any_pil_image():
    transform = DigitTransform()
    rgb = Image.fromarray(np.full((40, 30, 3), 255, dtype=np.uint8))
    grey = Image.fromarray(np.zeros((8, 8), dtype=np.uint8))
    assert transform(rgb).shape == (1, 16, 16) and float(transform(rgb).min()) == 1.0
    assert transform(grey).shape == (1, 16, 16) and float(transform(grey).max()) == -1.0
    with pytest.raises(ToposcopeError, match="takes a PIL image"):
        transform(np.zeros((8, 8)))


def test_shipped_weights_reproduce_the_recorded_accuracy():
    images, labels = digit_images()
    _, test = train_test_split(labels, demo_metadata()["settings"]["test_fraction"],
                               seed=demo_metadata()["settings"]["seed"])
    transform = DigitTransform()
    inputs = torch.stack([transform(Image.fromarray(images[i])) for i in test])
    for name in ("topo", "baseline"):
        model = load_demo(name).model.eval()
        with torch.no_grad():
            accuracy = float((model(inputs).argmax(1) == torch.from_numpy(labels[test])).float().mean())
        recorded = demo_metadata()["models"][name]["test_accuracy"]
        assert accuracy == pytest.approx(recorded, abs=0.005)
        assert accuracy > 0.95


def test_load_demo_errors_and_checkpoint_option():
    with pytest.raises(ToposcopeError, match="unknown demo model 'topoo'.*did you mean 'topo'"):
        load_model("demo/topoo")
    swapped = load_demo("topo", checkpoint=weights_path("baseline"))
    assert swapped.identity == load_demo("baseline").identity
    with pytest.raises(ToposcopeError, match="does not exist"):
        load_demo("topo", checkpoint="missing.safetensors")


def test_digit_stimuli_are_stratified(tmp_path):
    stimuli = write_digit_stimuli(tmp_path / "digits", per_class=3)
    assert len(stimuli) == 30
    assert stimuli.categories == [f"digit-{d}" for d in range(10)]
    first = Path(stimuli.items[0])
    assert first.parent.name == "digit-0" and first.name.startswith("digit-0-")
    assert Image.open(first).size == (8, 8)
    with pytest.raises(ToposcopeError, match="per_class=500 is more than"):
        write_digit_stimuli(tmp_path / "more", per_class=500)
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "digits" / "stray.png")
    with pytest.raises(ToposcopeError, match="holds 1 images besides the digits"):
        write_digit_stimuli(tmp_path / "digits", per_class=3)


def test_compare_and_summary_state_the_direction_layer_by_layer():
    topo = {"layers": {"a": {"smoothness": 0.8, "effective_dimensionality": 2.0},
                       "b": {"smoothness": 0.1, "effective_dimensionality": 5.0}}}
    baseline = {"layers": {"a": {"smoothness": 0.2, "effective_dimensionality": 3.0},
                           "b": {"smoothness": 0.3, "effective_dimensionality": 4.0}}}
    verdict = compare(topo, baseline)
    assert verdict == {"a": {"smoother": True, "lower_dimensional": True},
                       "b": {"smoother": False, "lower_dimensional": False}}
    info = {"held_out_accuracy": 0.9, "topoloss": 0.1, "smoothness": 0.5, "effective_dimensionality": 2.0,
            "accuracy_pruned_90": 0.5, "accuracy_fc1_downsampled_2": 0.8}
    text = format_summary({"models": {"topo": info, "baseline": info}, "comparison": verdict})
    assert "smoother than demo/baseline in 1 of 2 layers (not in b)" in text
    assert "lower-dimensional than demo/baseline in 1 of 2 layers (not in b)" in text
    # Every effect tested is listed, including those that did not hold.
    robust = {**info, "accuracy_pruned_90": 0.8}
    effects = paper_effects({"topo": robust, "baseline": info}, verdict)
    assert [e["held"] for e in effects] == [False, False, True, False]
    text = format_summary({"models": {"topo": robust, "baseline": info}, "comparison": verdict, "effects": effects})
    assert "  held          keeps more accuracy with 90% of weights pruned (0.8 vs 0.5)" in text
    assert "  DID NOT HOLD  keeps more accuracy with fc1 downsampled 2x (0.8 vs 0.8)" in text
    assert "DID NOT HOLD  smoother maps (correlation falls with distance), layer by layer (1 of 2 layers)" in text


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo") / "out"
    code = main(["demo", "-o", str(folder), "--quiet"])
    return code, folder


def test_cli_demo_writes_the_expected_files(demo_run):
    code, folder = demo_run
    assert code == 0
    for name in ("topo", "baseline"):
        for layer in LAYERS:
            responses = open_responses(folder / "responses" / f"{name}.{layer}.nc")
            assert responses.sizes["stimulus"] == 500
            assert responses.attrs["model"] == f"demo/{name}" and responses.attrs["checkpoint_sha256"]
        maps = xr.open_dataset(folder / "maps" / f"{name}.nc", engine="h5netcdf")
        assert set(maps.data_vars) == {"tuning", "preferred_digit", "tmaps"}
        assert maps.sizes["contrast"] == 10 and maps.attrs["stimulus_set_sha256"] and maps.attrs["toposcope_version"]
        assert set(np.unique(maps["preferred_digit"].values)) <= set(range(10))
        maps.close()
        for kind, variable in (("smoothness", "score_toponets"), ("dimensionality", "effective_dimensionality")):
            with xr.open_dataset(folder / kind / f"{name}.nc", engine="h5netcdf") as result:
                assert list(result["layer"].values) == LAYERS and np.isfinite(result[variable].values).all()
        with xr.open_dataset(folder / "efficiency" / f"{name}.nc", engine="h5netcdf") as result:
            assert result["performance"].sel(fraction=0.0) == pytest.approx(result.attrs["baseline"])
    table = xr.open_dataarray(folder / "topoloss.nc", engine="h5netcdf")
    assert table.dims == ("model", "layer") and table.shape == (2, 4)
    table.close()
    for figure in ("preferred_digit.png", "tmap_digit-0.png", "smoothness_fc1.png", "efficiency.png",
                   "dimensionality_topo.png"):
        assert (folder / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
    assert len(list((folder / "stimuli" / "digits").rglob("*.png"))) == 500
    assert not list(folder.rglob("*.tmp"))


def test_demo_shows_the_topographic_model_is_smoother(demo_run):
    _, folder = demo_run
    summary = json.loads((folder / "summary.json").read_text())
    topo, baseline = summary["models"]["topo"], summary["models"]["baseline"]
    assert topo["topoloss"] < baseline["topoloss"]
    for layer in LAYERS:
        assert topo["layers"][layer]["topoloss"] < baseline["layers"][layer]["topoloss"]
    # The papers' direction in every layer whose sheet the score can resolve: conv1's 4 x 4 sheet has
    # 120 pairs, and once its few-pair bins stay out of the score, neither twin stands out from chance.
    for layer in LAYERS[1:]:
        assert summary["comparison"][layer]["smoother"]
    # held-out accuracy is measured afresh and must equal the recorded test accuracy
    for name in ("topo", "baseline"):
        recorded = demo_metadata()["models"][name]["test_accuracy"]
        assert summary["models"][name]["held_out_accuracy"] == pytest.approx(recorded, abs=1e-4)
    # downsampling fc1 by 2 costs the smooth sheet far less than the unstructured one
    assert topo["accuracy_fc1_downsampled_2"] > baseline["accuracy_fc1_downsampled_2"] + 0.3


def test_demo_refuses_a_non_empty_folder_without_force(demo_run, capsys):
    _, folder = demo_run
    capsys.readouterr()
    assert main(["demo", "-o", str(folder), "--quiet"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "exists and is not empty" in errors[0] and "--force" in errors[0]
    _check_output(folder, force=True)  # --force lets the same run write again (a full rerun costs ~10 s)


def test_demo_output_must_be_a_folder(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ToposcopeError, match="is a file; give a folder"):
        run_demo(target, progress=False)


def test_cli_topoloss_table(tmp_path, capsys):
    out = tmp_path / "table.nc"
    assert main(["topoloss", "demo/baseline", "--layers", "conv3,fc1", "--factor", "2,3", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "conv3" in printed and "8x16" in printed and "factor 2x3" in printed
    table = xr.open_dataarray(out, engine="h5netcdf")
    assert list(table["layer"].values) == ["conv3", "fc1"] and table.attrs["factor_w"] == 3.0
    table.close()
    assert main(["topoloss", "demo/topo", "--factor", "5"]) == 2
    assert "layer 'conv1': factor (5, 5) is larger than the 4x4 sheet" in capsys.readouterr().err


@pytest.mark.slow
def test_training_script_reproduces_the_shipped_accuracy(tmp_path):
    # About a minute: deselected by default, run with `pytest -m slow`.
    spec = importlib.util.spec_from_file_location("train_demo_models", ROOT / "scripts" / "train_demo_models.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["-o", str(tmp_path)]) == 0
    fresh, shipped = json.loads((tmp_path / "demo.json").read_text()), demo_metadata()
    for name in ("topo", "baseline"):
        assert fresh["models"][name]["test_accuracy"] == pytest.approx(
            shipped["models"][name]["test_accuracy"], abs=0.005)
        for layer, value in shipped["models"][name]["topoloss"].items():
            assert fresh["models"][name]["topoloss"][layer] == pytest.approx(value, abs=0.02)
        reloaded = load_demo(name, checkpoint=tmp_path / f"{name}.safetensors")
        assert list(reloaded.layers) == LAYERS


def test_demo_includes_the_language_model(demo_run):
    _, folder = demo_run
    summary = json.loads((folder / "summary.json").read_text())
    language = summary["language"]
    assert language["model"] == "demo_lm" and len(language["windows"]) == 4
    for layer, fit in language["windows"].items():
        assert 0 <= fit["c"] <= 1 and fit["r2"] > 0.9
        assert 0 < language["localizer"]["fraction_selective"][layer] < 1
    for name in ("windows.nc", "localizer.nc", "figures/windows_rgb.png"):
        assert (folder / "language" / name).is_file()


def test_demo_shows_the_topoformer_is_more_topographic_than_its_control(demo_run):
    _, folder = demo_run
    summary = json.loads((folder / "summary.json").read_text())
    topoformer = summary["topoformer"]
    assert topoformer["models"] == {"topoformer": "topoformer/tiny", "control": "topoformer/tiny-control"}
    # Spatial reweighting makes the output projection topographic; the control has none (TGI about 0).
    assert topoformer["difference"]["output projection"] > 0.2
    assert all(abs(v) < 0.05 for v in topoformer["tgi"]["control"].values())
    held, total = topoformer["more_topographic"]
    assert total == 5 and held >= 4
    for name in ("tgi.nc", "suites.nc", "figures/tgi.png", "figures/suites.png"):
        assert (folder / "topoformer" / name).is_file()
    assert "topoformer/tiny is more topographic than its control in" in format_summary(summary)
