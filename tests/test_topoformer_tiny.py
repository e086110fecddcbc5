"""The shipped tiny Topoformer and its non-topographic twin: they load offline, their weights are the ones the
training record names, the recorded held-out accuracy and TGI are reproduced, and the topographic model is
measurably more topographic than its control."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toposcope import extract, load_model
from toposcope.analysis.tgi import tgi_by_layer
from toposcope.models.subject import file_sha256
from toposcope.models.topoformer import data_dir
from toposcope.stimuli.suites import grammar_sentences

RECORD = json.loads((data_dir("tiny") / "topoformer.json").read_text(encoding="utf-8"))


def measure(n_sentences):
    out = {}
    for name in ("tiny", "tiny-control"):
        subject = load_model(f"topoformer/{name}")
        responses = extract(subject, grammar_sentences(n_sentences, RECORD["settings"]["held_out_seed"]),
                            batch_size=100, cache=False, progress=False)
        out[name] = (subject, tgi_by_layer(responses))
    return out


@pytest.fixture(scope="module")
def measured():
    return measure(200)


def test_the_shipped_pair_loads_with_the_recorded_weights(measured):
    for name, (subject, _) in measured.items():
        assert subject.name == f"topoformer/{name}" and subject.modality == "language"
        assert subject.identity == RECORD["models"][name]["sha256"] == file_sha256(data_dir(name) / "model.safetensors")
        assert [layer.sheet.period for layer in subject.layers.values()] == [(14.0, 14.0)] * 5
    widths = RECORD["architecture"]["widths"]
    assert widths == {"tiny": [0.1, 0.3], "tiny-control": [-1, -1]}
    assert measured["tiny"][0].options["sq"] == 0.1 and measured["tiny-control"][0].options["sq"] == -1
    assert RECORD["models"]["tiny"]["held_out_accuracy"] > 0.8


def test_the_topoformer_is_more_topographic_than_its_control(measured):
    topo = measured["tiny"][1]["tgi"].values
    control = measured["tiny-control"][1]["tgi"].values
    assert np.all(np.abs(control) < 0.05)
    assert topo[-1] - control[-1] > 0.2  # the locally connected output projection
    assert (topo > control).sum() >= 4


@pytest.mark.slow
def test_the_recorded_tgi_is_reproduced():
    for name, (_, result) in measure(RECORD["settings"]["held_out_sentences"]).items():
        values = {str(n).split(".")[-1]: float(result["tgi"].sel(layer=n)) for n in result["layer"].values}
        for layer, value in RECORD["models"][name]["tgi"].items():
            assert values[layer] == pytest.approx(value, abs=1e-4)


@pytest.mark.slow
def test_training_is_deterministic(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_topoformer.py"
    digests = []
    for name in ("one", "two"):
        subprocess.run([sys.executable, str(script), "-o", str(tmp_path / name), "--steps", "3"], check=True,
                       capture_output=True)
        digests.append([file_sha256(tmp_path / name / m / "model.safetensors") for m in ("tiny", "tiny-control")])
    assert digests[0] == digests[1]
