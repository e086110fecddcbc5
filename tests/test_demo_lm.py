"""The shipped tiny language model, the language demo and the windows / localizer commands."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from toposcope import load_model
from toposcope._validation import ToposcopeError
from toposcope.models.demo_lm import data_dir, demo_lm_metadata
from toposcope.models.registry import known_specs
from toposcope.models.subject import file_sha256


@pytest.fixture(scope="module")
def subject():
    return load_model("demo_lm")


def test_shipped_model_loads_offline(subject):
    assert "demo_lm" in known_specs()
    assert subject.name == "demo_lm" and subject.modality == "language"
    assert list(subject.layers) == [f"h.{i}.mlp.c_fc" for i in range(4)]
    assert {layer.n_units for layer in subject.layers.values()} == {256}
    sheet = subject.layers["h.0.mlp.c_fc"].sheet
    assert sheet.positions[:, 0].max() == 15 and sheet.positions[:, 1].max() == 15  # 16 x 16
    record = demo_lm_metadata()
    assert record["sha256"] == file_sha256(data_dir() / "model.safetensors")
    assert record["held_out_cross_entropy"] < math.log(record["architecture"]["vocab_size"]) - 1
    assert sum(p.stat().st_size for p in data_dir().iterdir()) < 3_000_000
    with pytest.raises(ToposcopeError, match="unknown demo language model"):
        load_model("demo_lm/baseline")


def test_tokenizer_is_word_level(subject):
    encoded = subject.tokenizer(["the dog sees a bird", "the blorft"], add_special_tokens=False)["input_ids"]
    assert len(encoded[0]) == 5
    assert encoded[1][1] == subject.tokenizer.unk_token_id


def test_topoloss_is_small(subject):
    from toposcope.workflows.topoloss import layer_topoloss

    assert np.all(layer_topoloss(subject).values < 0.05)


def test_language_demo(tmp_path):
    from toposcope.demo.language import run_language_demo

    summary = run_language_demo(tmp_path, progress=False, n_sequences=2, n_localizer=12)
    assert summary["model"] == "demo_lm"
    assert set(summary["windows"]) == {f"h.{i}.mlp.c_fc" for i in range(4)}
    assert set(summary["windows"]["h.0.mlp.c_fc"]) == {"a", "b", "c", "r2", "yoking"}
    for name in ("windows.nc", "localizer.nc", "language_summary.json", "figures/windows_rgb.png",
                 "figures/windows_maps.png", "figures/theta.png", "figures/localizer.png"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "language_summary.json").read_text())["model"] == "demo_lm"
    import xarray as xr

    with xr.open_dataset(tmp_path / "windows.nc") as windows:
        assert windows["theta"].dims == ("unit", "delta") and windows.sizes["unit"] == 1024
        assert float(windows["c"].min()) >= 0 and float(windows["c"].max()) <= 1


def test_windows_and_localizer_commands(tmp_path, capsys):
    from toposcope.cli import main

    out = tmp_path / "w.nc"
    code = main(["windows", "demo_lm", "--corpus", "synthetic", "--length", "24", "--n-sequences", "2",
                 "--yoked", "3x8", "--max-delta", "10", "-o", str(out), "--quiet", "--layers", "h.3.mlp.c_fc"])
    assert code == 0 and out.is_file() and (tmp_path / "w-rgb.png").is_file()
    printed = capsys.readouterr().out
    assert "h.3.mlp.c_fc" in printed and "yoking" in printed
    code = main(["localizer", "demo_lm", "--stimuli", "synthetic", "-o", str(tmp_path / "l.nc"), "--quiet",
                 "--no-figures", "--no-cache"])
    assert code == 0 and "selective" in capsys.readouterr().out
    assert main(["windows", "demo_lm", "--corpus", "nowhere.txt", "-o", str(tmp_path / "w2.nc"), "--quiet"]) == 2
    assert "unknown corpus" in capsys.readouterr().err


@pytest.mark.slow
def test_training_is_deterministic(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "train_demo_lm.py"
    digests = []
    for name in ("one", "two"):
        subprocess.run([sys.executable, str(script), "-o", str(tmp_path / name), "--steps", "5"], check=True,
                       capture_output=True)
        digests.append(file_sha256(tmp_path / name / "model.safetensors"))
    assert digests[0] == digests[1]
