"""Loading never runs code from a file: every path refuses a booby-trapped checkpoint in one line.

The crafted checkpoint's pickle calls ``builtins.open(MARKER, "w")``: unpickling it
creates the marker file. :func:`test_the_trap_is_live` proves the marker appears when a
file is unpickled for real (with the opt-in), so every other test's "no marker" means
the file was not unpickled.
"""

from __future__ import annotations

import argparse
import builtins
import textwrap
from pathlib import Path

import pytest
import torch
import torchvision
from _position_writers import tdann_layer
from _tiny import TinyNet

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.cli import main
from toposcope.models.checkpoints import read_checkpoint

UNTRUSTED = r"holds more than tensors \(io\.open\); loading it would unpickle objects and can run code"


class _Trap:
    """Pickles as a call of ``open(marker, "w")``: the marker appears if the pickle is executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "MARKER"


@pytest.fixture
def trapped(tmp_path, marker):
    """Real ResNet-18 weights plus one booby-trapped entry."""
    path = tmp_path / "trapped.pt"
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save({**state, "extra": _Trap(marker)}, path)
    return path


def test_the_trap_is_live(trapped, marker):
    read_checkpoint(trapped, trust=True)
    assert marker.exists()


@pytest.mark.parametrize("argv", [
    ["layers", "file:{ckpt}"],
    ["layers", "file:{ckpt}", "--arch", "resnet18"],
    ["layers", "torchvision:resnet18", "--checkpoint", "{ckpt}"],
    ["layers", "toponets/resnet18", "--checkpoint", "{ckpt}"],
    ["layers", "demo/topo", "--checkpoint", "{ckpt}"],
    ["topoloss", "toponets/resnet18", "--checkpoint", "{ckpt}"],
    ["extract", "torchvision:resnet18", "--checkpoint", "{ckpt}", "--stimuli", "{images}", "-o", "{out}/r.nc"],
    ["run", "{recipe}", "--dry-run", "-o", "{out}"],
    ["run", "{recipe}", "-o", "{out}"],
    ["run", "{recipe}", "--model", "file:{ckpt}", "-O", "arch=resnet18", "--dry-run", "-o", "{out}"],
    ["run", "{recipe}", "--model", "torchvision:resnet18", "-O", "checkpoint={ckpt}", "--dry-run", "-o", "{out}"],
])
def test_cli_refuses_in_one_line_and_writes_nothing(argv, trapped, marker, image_folder, tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[[models]]\nspec = "file:{trapped}"\noptions = {{arch = "resnet18"}}\n'
                      '[[analyses]]\nkind = "topoloss"\n', encoding="utf-8")
    out = tmp_path / "out"
    filled = [a.format(ckpt=trapped, images=image_folder, out=out, recipe=recipe) for a in argv]
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "--trust-checkpoint" in err and "trust_checkpoint=True" not in err
    assert "holds more than tensors (io.open)" in err and str(trapped) in err
    assert not marker.exists()
    assert not out.exists(), "a refused load leaves no output behind"


def test_api_refuses_every_family(trapped, marker, tmp_path):
    tdann_layer(tmp_path / "tdann", "layer4.1", (512, 7, 7))
    calls = [
        lambda: toposcope.load_model(f"file:{trapped}", arch="resnet18"),
        lambda: toposcope.load_model("torchvision:resnet18", checkpoint=trapped),
        lambda: toposcope.load_model("toponets/resnet18", checkpoint=trapped),
        lambda: toposcope.load_model("demo/topo", checkpoint=trapped),
        lambda: toposcope.load_model("tdann", checkpoint=trapped, positions=tmp_path / "tdann"),
        lambda: toposcope.load_model("topolm", checkpoint=trapped, positions=tmp_path),
    ]
    for call in calls:
        with pytest.raises(ToposcopeError, match=UNTRUSTED + r".*pass trust_checkpoint=True") as caught:
            call()
        assert "\n" not in str(caught.value) and "--trust-checkpoint" not in str(caught.value)
    assert not marker.exists()


def test_a_dask_worker_refuses_too(trapped, marker, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    from toposcope.recipes.tasks import load_subject

    with distributed.Client(processes=True, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        future = client.submit(load_subject, f"file:{trapped}", {"arch": "resnet18"})
        with pytest.raises(ToposcopeError, match=UNTRUSTED) as caught:
            future.result()
    assert "--trust-checkpoint" in caught.value.cli, "the CLI wording survives the trip back"
    assert not marker.exists()


def test_a_pickled_module_needs_the_opt_in_which_is_recorded(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(TinyNet(), path)
    with pytest.raises(ToposcopeError, match=r"holds more than tensors \(_tiny\.TinyNet, torch\.nn"):
        toposcope.load_model(f"file:{path}", layers="conv2")
    subject = toposcope.load_model(f"file:{path}", layers="conv2", trust_checkpoint="true")
    assert "trust_checkpoint=True" in subject.provenance()["model_options"]
    plain = tmp_path / "plain.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), plain)
    assert "trust_checkpoint" not in toposcope.load_model(f"file:{plain}", arch="resnet18").provenance()["model_options"]


def test_a_recipe_opts_in_per_model(tmp_path, capsys):
    path = tmp_path / "tiny.pt"
    torch.save(TinyNet(), path)
    recipe = tmp_path / "r.toml"
    body = textwrap.dedent(f"""
        [[models]]
        spec = "file:{path}"
        options = {{layers = "conv2"}}
        trust_checkpoint = {{value}}
        [[analyses]]
        kind = "topoloss"
    """)
    recipe.write_text(body.replace("{value}", "true"), encoding="utf-8")
    assert main(["run", str(recipe), "--dry-run", "-o", str(tmp_path / "out")]) == 0
    recipe.write_text(body.replace("{value}", '"perhaps"'), encoding="utf-8")
    assert main(["run", str(recipe), "--dry-run", "-o", str(tmp_path / "out")]) == 2
    assert "[[models]] #1 trust_checkpoint must be true or false, got 'perhaps'" in capsys.readouterr().err


def test_released_formats_need_no_opt_in(tmp_path):
    # The ViT training checkpoint stores torchvision's argparse Namespace beside the weights.
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "vit_like.pt"
    torch.save({"model": state, "epoch": 3, "args": argparse.Namespace(lr=0.1, model="vit_b_32")}, path)
    content = read_checkpoint(path)
    assert content["args"].model == "vit_b_32" and content["epoch"] == 3


@pytest.mark.parametrize("content, message", [
    (b"", r"checkpoint '.*empty\.pt' is empty \(0 bytes\); was its download or save interrupted"),
    (None, r"cannot read checkpoint '.*empty\.pt' \(.*\); is it a complete PyTorch or safetensors file\?"),
])
def test_empty_and_truncated_checkpoints_are_one_line(content, message, tmp_path, capsys):
    path = tmp_path / "empty.pt"
    if content is None:  # a truncated real checkpoint
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
        path.write_bytes(path.read_bytes()[: 100_000])
    else:
        path.write_bytes(content)
    with pytest.raises(ToposcopeError, match=message):
        toposcope.load_model("torchvision:resnet18", checkpoint=path)
    assert main(["layers", "torchvision:resnet18", "--checkpoint", str(path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
