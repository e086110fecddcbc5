"""Any named module is a layer: block outputs, pooling, activations, attention outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.cli import main
from toposcope.io import open_responses

pytestmark = pytest.mark.filterwarnings("ignore:torchvision.resnet18 has random weights")


def test_a_block_output_and_avgpool_are_layers_on_their_grids(image_folder):
    subject = toposcope.load_model("torchvision:resnet18", layers="fc")
    block, pool = subject.select(["layer4.1", "avgpool"])
    assert block.n_units == pool.n_units == 512 and block.sheet.describe() == "16x32 grid"
    stimuli = toposcope.stimuli.load(image_folder)
    responses = toposcope.extract(subject, stimuli, ["layer4.1", "avgpool"], cache=False, progress=False)
    # The block's channel-mean response is avgpool's output: one unit per channel, the same values.
    np.testing.assert_allclose(responses["layer4.1"].values, responses["avgpool"].values, rtol=1e-5, atol=1e-6)
    # Reference: the block's output computed by hand from the model's own modules.
    model = subject.model
    images = torch.stack([subject.transform(toposcope.stimuli.open_image(path))
                          for path in stimuli.items])
    with torch.no_grad():
        x = model.maxpool(model.relu(model.bn1(model.conv1(images))))
        x = model.layer4(model.layer3(model.layer2(model.layer1(x))))
    np.testing.assert_allclose(responses["layer4.1"].values, x.mean(dim=(2, 3)).numpy(), rtol=1e-4, atol=1e-5)


def test_attention_outputs_of_a_language_model_are_layers():
    subject = toposcope.load_model("demo_lm")
    (attention,) = subject.select("h.1.attn")
    assert attention.n_units == 64 and attention.sheet.describe() == "8x8 grid"
    responses = toposcope.extract(subject, ["the cat sat", "a dog ran"], "h.1.attn", cache=False, progress=False)
    assert responses["h.1.attn"].shape == (2, 64)


def test_unknown_modules_are_still_refused_with_a_suggestion():
    subject = toposcope.load_model("demo/topo")
    with pytest.raises(ToposcopeError, match=r"unknown layer 'fc3'.*did you mean"):
        subject.select(["fc3"])


def test_cli_layers_accepts_any_module_and_lists_the_tree(image_folder, tmp_path, capsys):
    out = tmp_path / "r.nc"
    assert main(["extract", "torchvision:resnet18", "--layers", "layer4.1,avgpool", "--stimuli", str(image_folder),
                 "-o", str(out), "--no-cache", "--quiet"]) == 0
    assert open_responses(tmp_path / "r.avgpool.nc").sizes["unit"] == 512
    assert set(open_responses(tmp_path / "r.layer4.1.nc")["layer"].values) == {"layer4.1"}
    capsys.readouterr()
    assert main(["layers", "demo/topo", "--all"]) == 0
    tree = capsys.readouterr().out.splitlines()
    assert any(line.split()[:3] == ["*", "conv2", "Conv2d"] and "32x16x16" in line for line in tree)
    assert any(line.split()[:2] == ["fc2", "Linear"] and line.rstrip().endswith("10 units") for line in tree)


def test_the_public_api_is_visible_despite_lazy_imports():
    import pydoc
    import subprocess
    import sys

    names = dir(toposcope)
    assert {"load_model", "extract", "run_recipe", "ToposcopeError", "stimuli", "analysis", "plot"} <= set(names)
    assert "importlib" not in names
    assert toposcope.stimuli.load is __import__("toposcope.stimuli", fromlist=["load"]).load
    assert "load_model(spec_or_module" in pydoc.render_doc(toposcope)
    code = "import sys, toposcope; dir(toposcope); help(toposcope); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PAGER": "cat", "PATH": ""})
    assert out.stdout.strip().endswith("False"), "help() imports no torch"
