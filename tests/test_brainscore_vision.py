"""Brain-Score vision: the shipped demo model scored by Brain-Score's own machinery, offline.

A local ``NeuralBenchmark`` is built from a StimulusSet and a NeuroidAssembly
made here (four repetitions per image, so the internal-consistency ceiling
applies) and scored with Brain-Score's ``pls`` metric. Known answers: an
assembly planted as a linear function of the model's ``fc1`` activations scores
near the ceiling-normalised maximum of 1; the same assembly with its images
shuffled scores near 0.

These tests need brainscore-vision, which lives in its own environment
(``toposcope brainscore --setup vision``); CI runs them there. In the main
environment they skip, except those that check what happens without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import toposcope
from toposcope._validation import ToposcopeError

N_IMAGES, N_OBJECTS, N_REPETITIONS, N_NEUROIDS = 120, 4, 4, 20
LAYER = "fc1"

#: The BrainIO files Brain-Score fetches for MajajHong2015public.IT-pls, as ``<sha1>/<name>``.
MAJAJHONG_PUBLIC_FILES = (
    "13d28ca0ce88ee550b54db3004374ae19096e9b9/assy_dicarlo_MajajHong2015_public.nc",
    "5ca7a3da00d8e9c694a9cd725df5ba0ad6d735af/stimulus_hvm-public.csv",
    "8aa44e038d7b551efa8077467622f9d48d72e473/stimulus_hvm-public.zip",
)


def _installed() -> bool:
    try:
        import brainscore_vision  # noqa: F401
    except ImportError:
        return False
    return True


needs_brainscore = pytest.mark.skipif(
    not _installed(),
    reason="needs brainscore-vision, which lives in its own environment "
    "(toposcope brainscore --setup vision; CI runs these tests there)",
)


@pytest.fixture(autouse=True)
def _offline_brainscore(tmp_path, monkeypatch):
    """Brain-Score's data, screen and activation caches in this test's folder; no credential probing."""
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "brainio"))
    monkeypatch.setenv("BRAINSCORE_HOME", str(tmp_path / "brainscore"))
    monkeypatch.setenv("RESULTCACHING_HOME", str(tmp_path / "result_caching"))
    monkeypatch.setenv("RESULTCACHING_DISABLE", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def subject():
    return toposcope.load_model("demo/topo")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Smooth random 16x16 greyscale images (digit-sized), four objects, stable paths."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(N_IMAGES):
        pixels = gaussian_filter(rng.normal(size=(16, 16)), 1.5)
        pixels = (255 * (pixels - pixels.min()) / np.ptp(pixels)).astype("uint8")
        path = folder / f"image{i:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _stimulus_set(paths):
    import pandas as pd
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    ids = [f"im{i:03d}" for i in range(len(paths))]
    stimuli = StimulusSet(pd.DataFrame({
        "stimulus_id": ids,
        "object_name": [f"object{i % N_OBJECTS}" for i in range(len(paths))],
    }))
    stimuli.stimulus_paths = {i: str(p) for i, p in zip(ids, paths)}
    stimuli.identifier = "toposcope-test-images"
    return stimuli


def _assembly(stimuli, trials):
    """trials: (repetition, image, neuroid) -> NeuroidAssembly (presentation, neuroid), region IT."""
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly

    n_rep, n_img, n_neuroid = trials.shape
    assembly = NeuroidAssembly(
        trials.reshape(n_rep * n_img, n_neuroid, 1),
        coords={
            "stimulus_id": ("presentation", np.tile(stimuli["stimulus_id"].values, n_rep)),
            "object_name": ("presentation", np.tile(stimuli["object_name"].values, n_rep)),
            "repetition": ("presentation", np.repeat(np.arange(n_rep), n_img)),
            "neuroid_id": ("neuroid", [f"n{i}" for i in range(n_neuroid)]),
            "region": ("neuroid", ["IT"] * n_neuroid),
            "time_bin_start": ("time_bin", [70]),
            "time_bin_end": ("time_bin", [170]),
        },
        dims=["presentation", "neuroid", "time_bin"],
    ).squeeze("time_bin")
    assembly.attrs["stimulus_set"] = stimuli
    return assembly


def _benchmark(trials, stimuli):
    """A NeuralBenchmark like MajajHong2015's: pls metric, internal-consistency ceiling."""
    from brainscore_vision import load_metric
    from brainscore_vision.benchmark_helpers.neural_common import (
        NeuralBenchmark,
        average_repetition,
    )

    with_repetitions = _assembly(stimuli, trials)
    averaged = average_repetition(with_repetitions)
    averaged.attrs["stimulus_set"] = stimuli
    ceiler = load_metric("internal_consistency")
    return NeuralBenchmark(
        identifier="toposcope-test.IT-pls", version=1, assembly=averaged,
        similarity_metric=load_metric("pls", crossvalidation_kwargs={"stratification_coord": "object_name"}),
        visual_degrees=8, number_of_trials=1, ceiling_func=lambda: ceiler(with_repetitions),
        parent="IT", bibtex=None,
    )


@pytest.fixture(scope="module")
def planted(subject, images):
    """Trials (repetition, image, neuroid): a random linear readout of fc1, plus trial noise."""
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper

    from toposcope.brain.brainscore_vision import _Preprocess

    wrapper = PytorchWrapper(model=subject.model, preprocessing=_Preprocess(subject.transform), identifier=False)
    activations = wrapper([str(p) for p in images], layers=[LAYER])
    order = [str(p) for p in images]
    features = activations.sel(stimulus_path=order).values if "stimulus_path" in activations.dims \
        else activations.values
    features = (features - features.mean(0)) / (features.std(0) + 1e-6)
    rng = np.random.default_rng(1)
    signal = features @ rng.normal(size=(features.shape[1], N_NEUROIDS)) / np.sqrt(features.shape[1])
    noise = 0.3 * signal.std() * rng.normal(size=(N_REPETITIONS, *signal.shape))
    return signal[None] + noise


@needs_brainscore
def test_planted_linear_readout_scores_near_the_ceiling(subject, images, planted):
    from toposcope.brain import brainscore_vision as bsv

    result = bsv.score(subject, _benchmark(planted, _stimulus_set(images)), {"IT": LAYER}, offline=True)
    assert set(result.data_vars) >= {"score", "raw", "ceiling"}
    assert 0.9 < float(result["ceiling"]) <= 1.0
    assert float(result["raw"]) > 0.9
    assert 0.9 < float(result["score"]) < 1.05  # measured 0.992: r^2 / ceiling with r ~ 0.99
    assert result.attrs["checkpoint_sha256"] == subject.identity
    assert subject.identity[:16] in result.attrs["brainscore_model_identifier"]
    assert result.attrs["region_layers"] == "IT=fc1"


@needs_brainscore
def test_shuffled_images_score_near_zero(subject, images, planted):
    from toposcope.brain import brainscore_vision as bsv

    shuffled = planted[:, np.random.default_rng(2).permutation(N_IMAGES)]
    result = bsv.score(subject, _benchmark(shuffled, _stimulus_set(images)), {"IT": LAYER}, offline=True)
    assert float(result["ceiling"]) > 0.9  # the data are as reliable as before ...
    assert float(result["score"]) < 0.05  # ... but no longer a function of the images (measured 0.0006)


@needs_brainscore
def test_brain_model_commits_layers_and_never_searches(subject):
    from brainscore_vision.model_helpers.brain_transformation import ModelCommitment

    from toposcope.brain import brainscore_vision as bsv

    model = bsv.brain_model(subject, {"IT": LAYER, "V4": ["conv2", "conv3"]})
    assert isinstance(model, ModelCommitment)
    assert model.layer_model.region_layer_map == {"IT": LAYER, "V4": ["conv2", "conv3"]}
    assert not subject.model.training
    with pytest.raises(ToposcopeError, match=r"region 'V1' but no layer is mapped to it.*--region-layer V1="):
        model.layer_model.region_layer_map["V1"]


def test_identifier_holds_the_checkpoint_hash_and_changes_with_the_weights(subject):
    from toposcope.brain.brainscore_vision import model_identifier

    baseline = toposcope.load_model("demo/baseline")
    mine = model_identifier(subject)
    assert subject.identity[:16] in mine and "/" not in mine
    assert model_identifier(baseline) != mine
    assert model_identifier(subject) == mine  # stable across calls


@needs_brainscore
def test_benchmark_region_without_a_layer_is_one_line(subject, images, planted):
    from toposcope.brain import brainscore_vision as bsv

    with pytest.raises(ToposcopeError, match=r"records region 'IT' but no layer is mapped to it \(mapped: V4=conv3\)"):
        bsv.score(subject, _benchmark(planted, _stimulus_set(images)), {"V4": "conv3"}, offline=True)


@needs_brainscore
def test_unknown_layer_lists_the_topographic_ones(subject):
    from toposcope.brain import brainscore_vision as bsv

    with pytest.raises(ToposcopeError, match=r"unknown layer 'layer9' for region 'IT'.*conv1, conv2, conv3, fc1"):
        bsv.brain_model(subject, {"IT": "layer9"})


@needs_brainscore
def test_unknown_benchmark_lists_known_ones():
    from toposcope.brain import brainscore_vision as bsv

    assert "MajajHong2015public.IT-pls" in bsv.known_benchmarks()
    with pytest.raises(ToposcopeError, match=r"unknown vision benchmark 'MajajHong2015public.IT-pl'; "
                                             r"known include .*MajajHong2015public.IT-pls"):
        bsv.load_benchmark("MajajHong2015public.IT-pl", offline=True)


@needs_brainscore
def test_offline_benchmark_names_every_brainio_file(subject):
    from toposcope.brain import brainscore_vision as bsv

    with pytest.raises(ToposcopeError) as error:
        bsv.score(subject, "MajajHong2015public.IT-pls", {"IT": LAYER}, offline=True)
    message = str(error.value)
    assert "\n" not in message and "BRAINIO_HOME" in message
    for name in MAJAJHONG_PUBLIC_FILES:
        assert name in message


@needs_brainscore
def test_cli_scores_a_registered_benchmark_and_writes_netcdf(images, planted, tmp_path, monkeypatch, capsys):
    import brainscore_vision
    import xarray as xr

    from toposcope.cli import main

    name = "toposcope-test.IT-pls"
    monkeypatch.setitem(brainscore_vision.benchmark_registry, name,
                        lambda: _benchmark(planted, _stimulus_set(images)))
    out = tmp_path / "score.nc"
    code = main(["brainscore", "demo/topo", "--benchmark", name, "--region-layer", f"IT={LAYER}",
                 "--offline", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and f"{name}: score 0.9" in printed and "[IT=fc1]" in printed
    written = xr.load_dataset(out)
    assert float(written["score"]) > 0.9 and written.attrs["model"] == "demo/topo"


def test_missing_install_says_the_command(subject, monkeypatch):
    from toposcope.brain import brainscore_vision as bsv

    monkeypatch.setitem(sys.modules, "brainscore_vision", None)  # as if not installed
    with pytest.raises(ToposcopeError, match=r"not installed.*`toposcope brainscore --setup vision`.*"
                                             r"pip install -e '\.\[brainscore-vision\]'"):
        bsv.score(subject, "MajajHong2015public.IT-pls", {"IT": LAYER})


def test_cli_without_any_environment_says_the_command(tmp_path, monkeypatch, capsys):
    from toposcope.cli import main

    monkeypatch.setitem(sys.modules, "brainscore_vision", None)
    monkeypatch.setenv("TOPOSCOPE_ENVS", str(tmp_path / "no-envs"))
    code = main(["brainscore", "demo/topo", "--benchmark", "MajajHong2015public.IT-pls",
                 "--region-layer", f"IT={LAYER}", "--offline"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "toposcope brainscore --setup vision" in err


@pytest.mark.skipif(_installed(), reason="checks the hand-over from an environment without brainscore-vision")
def test_cli_hands_over_to_the_dedicated_environment(tmp_path):
    from toposcope.cli._brainscore_env import env_python

    if not env_python("vision").is_file():
        pytest.skip("no dedicated environment: toposcope brainscore --setup vision (CI creates one)")
    env = {**os.environ, "BRAINIO_HOME": str(tmp_path / "brainio"), "RESULTCACHING_DISABLE": "1",
           "BRAINSCORE_HOME": str(tmp_path / "brainscore")}
    run = subprocess.run(
        [sys.executable, "-m", "toposcope", "brainscore", "demo/topo", "--benchmark",
         "MajajHong2015public.IT-pls", "--region-layer", f"IT={LAYER}", "--offline"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert run.returncode == 2, run.stderr
    line = run.stderr.strip().splitlines()[-1]
    for name in MAJAJHONG_PUBLIC_FILES:
        assert name in line
    assert Path(env_python("vision")).is_file()
