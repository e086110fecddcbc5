"""The CLI: fast help, one-line errors with non-zero exit, and no partial outputs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from _tiny import TinyNet

from toposcope.cli import main
from toposcope.io import open_responses


def test_help_is_fast_and_imports_no_torch():
    code = "import sys; from toposcope.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def pickled_tiny(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(TinyNet(), path)
    return path


def test_layers_lists_sheets(pickled_tiny, capsys):
    assert main(["layers", f"file:{pickled_tiny}", "--trust-checkpoint", "-O", "layers=conv1,conv2"]) == 0
    out = capsys.readouterr().out
    assert "conv2" in out and "2x3 grid" in out and "2x2 grid" in out


def test_extract_writes_a_readable_netcdf(pickled_tiny, image_folder, tmp_path, capsys):
    out = tmp_path / "r.nc"
    code = main(["extract", f"file:{pickled_tiny}", "--trust-checkpoint", "-O", "layers=conv2", "--stimuli", str(image_folder),
                 "-o", str(out), "--no-cache"])
    assert code == 0
    responses = open_responses(out)
    assert responses.shape == (6, 6) and responses.attrs["layer"] == "conv2"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["layers", "nope/model"], "unknown model spec 'nope/model'"),
        (["layers", "file:missing.pt"], "checkpoint 'missing.pt' does not exist"),
        (["layers", "torchvision:resnet18", "-O", "layers=layer9"], "unknown layer 'layer9'"),
        (["layers", "torchvision:resnet18", "-O", "bogus"], "not KEY=VALUE"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]


def test_wrong_architecture_checkpoint_names_keys(tmp_path, capsys):
    path = tmp_path / "sd.pt"
    torch.save(TinyNet().state_dict(), path)
    assert main(["layers", f"file:{path}", "--arch", "resnet18"]) == 2
    err = capsys.readouterr().err
    assert "does not fit resnet18" in err and "missing keys: bn1.weight, bn1.bias" in err
    assert "unexpected keys: conv1.bias" in err


def test_bad_stimuli_leave_no_output(pickled_tiny, image_folder, tmp_path, capsys):
    (image_folder / "dark" / "zz.png").write_bytes(b"broken")
    out = tmp_path / "r.nc"
    code = main(["extract", f"file:{pickled_tiny}", "--trust-checkpoint", "-O", "layers=conv2", "--stimuli", str(image_folder),
                 "-o", str(out), "--no-cache"])
    assert code == 2 and not out.exists()
    assert "zz.png" in capsys.readouterr().err
    assert list(tmp_path.glob("*.tmp")) == [] and list(tmp_path.glob(".r.nc*")) == []
