"""The same network every time: seeded random weights, eval mode, cache keys from the weights in use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny import TinyNet, tiny_transform

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.cli import main
from toposcope.models.subject import module_sha256


@pytest.mark.filterwarnings("ignore:torchvision.resnet18 has random weights")
def test_random_weights_are_seeded_and_recorded():
    first, again = (toposcope.load_model("torchvision:resnet18", layers="layer1.0.conv2") for _ in range(2))
    other = toposcope.load_model("torchvision:resnet18", layers="layer1.0.conv2", seed=1)
    assert first.identity == again.identity == module_sha256(again.model)
    assert other.identity != first.identity
    # Equal to torchvision's own model built right after torch.manual_seed(seed).
    torch.manual_seed(1)
    reference = __import__("torchvision").models.resnet18(weights=None)
    assert module_sha256(reference) == other.identity
    assert "seed=1" in other.provenance()["model_options"]
    assert "seed=0" in first.provenance()["model_options"]
    # The caller's random stream is untouched by loading.
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    toposcope.load_model("torchvision:resnet18", layers="fc", seed=3)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.filterwarnings("ignore:toponets.resnet18 has random weights")
def test_untrained_toponets_take_the_seed():
    zero = toposcope.load_model("toponets/resnet18", checkpoint="none", layers="layer1.0.conv1")
    two = toposcope.load_model("toponets/resnet18", checkpoint="none", layers="layer1.0.conv1", seed="2")
    assert zero.identity != two.identity and "seed=2" in two.provenance()["model_options"]


@pytest.mark.parametrize("seed", ["abc", -1, 1.5, True])
def test_a_seed_must_be_a_non_negative_integer(seed):
    with pytest.raises(ToposcopeError, match=r"seed must be a non-negative integer"):
        toposcope.load_model("torchvision:resnet18", seed=seed)


def test_cli_seed_is_an_integer(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["layers", "torchvision:resnet18", "--seed", "x"])
    assert exited.value.code == 2 and "--seed: invalid int value: 'x'" in capsys.readouterr().err
    assert main(["layers", "torchvision:resnet18", "-O", "seed=x"]) == 2
    assert "seed must be a non-negative integer (results are reproducible), got 'x'" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:torchvision.resnet18 has random weights")
def test_loaded_models_are_in_eval_mode():
    module = TinyNet()
    module.train()
    assert not toposcope.load_model(module, layers=["conv2"]).model.training
    assert not toposcope.load_model("torchvision:resnet18", layers="fc").model.training
    assert not toposcope.load_model("demo/topo").model.training


def test_editing_weights_in_place_is_never_served_from_the_cache(image_folder, tmp_path):
    model = TinyNet()
    subject = toposcope.load_model(model, layers=["conv2"], transform=tiny_transform(), input_shape=(3, 16, 16))
    cache = tmp_path / "cache"
    before = toposcope.extract(subject, image_folder, cache=cache, progress=False)["conv2"].values
    calls = model.calls
    again = toposcope.extract(subject, image_folder, cache=cache, progress=False)["conv2"].values
    assert model.calls == calls, "unchanged weights hit the cache"
    np.testing.assert_array_equal(before, again)
    model.conv2.weight.data.mul_(2.0)  # through .data: no version counter records it
    after = toposcope.extract(subject, image_folder, cache=cache, progress=False)["conv2"].values
    assert model.calls > calls, "edited weights were extracted again"
    assert not np.allclose(after, before)
    fresh = toposcope.extract(subject, image_folder, cache=False, progress=False)["conv2"].values
    np.testing.assert_array_equal(after, fresh)


def test_a_random_network_is_the_same_on_dask_worker_processes(tmp_path):
    pytest.importorskip("dask.distributed")
    from toposcope.recipes import run_recipe

    recipe = tmp_path / "r.toml"
    recipe.write_text('[[models]]\nspec = "torchvision:alexnet"\noptions = {layers = "features.3"}\n'
                      '[stimuli]\ndigits = {set = "demo:digits", per_class = 2}\n'
                      '[[analyses]]\nkind = "dimensionality"\nstimuli = "digits"\n', encoding="utf-8")
    with pytest.warns(UserWarning, match="random weights"):
        serial = run_recipe(recipe, tmp_path / "serial", cache=False, progress=False, figures=False)
    run_recipe(recipe, tmp_path / "dask", cache=False, progress=False, figures=False, workers=1, processes=True)
    import xarray as xr

    for relative in serial["files"]:
        with xr.open_dataset(tmp_path / "serial" / relative) as a, xr.open_dataset(tmp_path / "dask" / relative) as b:
            xr.testing.assert_identical(a.load(), b.load())
            assert "seed=0" in a.attrs["model_options"]
