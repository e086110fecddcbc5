"""Extraction: hooked responses equal a manual forward pass; streaming, cache, cleanup, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from _tiny import TinyNet, tiny_transform

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.stimuli import from_folder, open_image


def subject_for(model, layout="channel", pool="mean", layers=("conv1", "conv2", "fc")):
    return toposcope.load_model(model, layers=list(layers), layout=layout, pool=pool,
                                transform=tiny_transform(), input_shape=(3, 16, 16), name="tiny")


def manual_outputs(model, stimuli):
    """Per-module outputs of a plain forward pass, computed without toposcope."""
    x = torch.stack([tiny_transform()(open_image(p)) for p in stimuli.items])
    with torch.no_grad():
        conv1 = model.conv1(x)
        conv2 = model.conv2(torch.relu(conv1))
        fc = model.fc(torch.relu(conv2).mean(dim=(2, 3)))
    return {"conv1": conv1.numpy(), "conv2": conv2.numpy(), "fc": fc.numpy()}


def test_channel_layout_is_the_spatially_pooled_output(image_folder):
    model = TinyNet()
    stimuli = from_folder(image_folder)
    expected = manual_outputs(model, stimuli)
    mean = toposcope.extract(subject_for(model), stimuli, batch_size=4, cache=False, progress=False)
    np.testing.assert_allclose(mean["conv1"].values, expected["conv1"].mean(axis=(2, 3)), atol=1e-6)
    np.testing.assert_allclose(mean["conv2"].values, expected["conv2"].mean(axis=(2, 3)), atol=1e-6)
    np.testing.assert_allclose(mean["fc"].values, expected["fc"], atol=1e-6)
    peak = toposcope.extract(subject_for(model, pool="max"), stimuli, layers="conv2", cache=False, progress=False)
    np.testing.assert_allclose(peak["conv2"].values, expected["conv2"].max(axis=(2, 3)), atol=1e-6)


def test_responses_follow_the_data_contract(image_folder):
    responses = toposcope.extract(subject_for(TinyNet()), image_folder, cache=False, progress=False)["conv2"]
    assert responses.name == "responses"
    assert responses.dims == ("stimulus", "unit")
    assert responses.dtype == np.float32
    assert responses.shape == (6, 6)
    assert list(responses.category.values) == ["bright"] * 3 + ["dark"] * 3
    assert list(responses.stimulus_id.values)[:2] == ["bright/bright-0", "bright/bright-1"]
    assert set(responses.layer.values) == {"conv2"}
    # 6 units on the TopoLoss grid (2 x 3): x = i % 3, y = i // 3
    np.testing.assert_array_equal(responses.x.values, [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(responses.y.values, [0, 0, 0, 1, 1, 1])
    assert responses.attrs["model"] == "tiny" and len(responses.attrs["checkpoint_sha256"]) == 64
    assert len(responses.attrs["stimulus_set_sha256"]) == 64


def test_channel_space_layout_is_the_flattened_map_and_pools_back(image_folder):
    model = TinyNet()
    stimuli = from_folder(image_folder)
    expected = manual_outputs(model, stimuli)["conv2"]  # (6, 6, 7, 7)
    full = toposcope.extract(subject_for(model, layout="channel_space", layers=["conv2"]), stimuli,
                             cache=False, progress=False)["conv2"]
    np.testing.assert_allclose(full.values, expected.reshape(6, -1), atol=1e-6)
    np.testing.assert_array_equal(full.channel.values, np.repeat(np.arange(6), 49))
    pooled = full.groupby("channel").mean().values
    np.testing.assert_allclose(pooled, expected.mean(axis=(2, 3)), atol=1e-6)


def test_one_forward_pass_per_batch_for_all_layers(image_folder):
    model = TinyNet()
    subject = subject_for(model)
    model.calls = 0  # loading ran one shape probe
    toposcope.extract(subject, image_folder, batch_size=4, cache=False, progress=False)
    assert model.calls == 2  # 6 images in batches of 4: two passes feed all three layers


def test_hooks_removed_and_training_mode_restored(image_folder):
    model = TinyNet()
    subject = subject_for(model)
    model.train()
    toposcope.extract(subject, image_folder, cache=False, progress=False)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_failure_mid_run_cleans_up_and_writes_nothing(image_folder, tmp_path):
    (image_folder / "dark" / "broken.png").write_bytes(b"not an image")
    model = TinyNet()
    subject = subject_for(model)
    model.train()  # load_model gave it in eval mode; extraction must restore whatever mode it finds
    cache = tmp_path / "cache"
    with pytest.raises(ToposcopeError, match=r"cannot read image .*broken\.png"):
        toposcope.extract(subject, image_folder, batch_size=2, cache=cache, progress=False,
                          memory_limit=10)  # streaming path
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())
    assert not cache.exists() or not any(cache.iterdir())


def test_streaming_to_disk_equals_in_memory(image_folder, tmp_path):
    model = TinyNet()
    subject = subject_for(model, layout="channel_space", layers=["conv1", "conv2"])
    memory = toposcope.extract(subject, image_folder, batch_size=4, cache=False, progress=False)
    streamed = toposcope.extract(subject, image_folder, batch_size=4, cache=False, progress=False,
                                 memory_limit=1000, stream_dir=tmp_path / "stream")
    for layer in ("conv1", "conv2"):
        assert streamed[layer].chunks is not None  # lazy, dask-backed
        xr.testing.assert_allclose(streamed[layer].load(), memory[layer])
        assert streamed[layer].attrs["layout"] == "channel_space"
    assert sorted(p.suffix for p in (tmp_path / "stream").iterdir()) == [".nc", ".nc"]


def test_cache_returns_stored_responses_and_misses_on_changed_weights_or_stimuli(image_folder, tmp_path, monkeypatch):
    from toposcope import extraction

    cache = tmp_path / "cache"
    model = TinyNet()
    first = toposcope.extract(subject_for(model), image_folder, cache=cache, progress=False)
    assert len(list(cache.glob("*.nc"))) == 3

    def no_forward(*args, **kwargs):
        raise AssertionError("cached responses must not run the model")

    monkeypatch.setattr(extraction, "_run", no_forward)
    again = toposcope.extract(subject_for(model), image_folder, cache=cache, progress=False)
    for layer in first:
        xr.testing.assert_allclose(again[layer], first[layer])
    monkeypatch.undo()

    with torch.no_grad():
        model.conv1.weight.add_(1.0)  # new weights -> new identity -> recomputed
    changed = toposcope.extract(subject_for(model), image_folder, cache=cache, progress=False)
    assert not np.allclose(changed["conv1"].values, first["conv1"].values)
    from PIL import Image

    Image.fromarray(np.full((32, 32), 128, dtype="uint8")).save(image_folder / "dark" / "dark-9.png")
    more = toposcope.extract(subject_for(model), image_folder, cache=cache, progress=False)
    assert more["conv1"].sizes["stimulus"] == 7
    assert len(list(cache.glob("*.nc"))) == 9


def test_user_module_needs_layers_and_unknown_layers_suggest_names(image_folder):
    with pytest.raises(ToposcopeError, match="layers="):
        toposcope.load_model(TinyNet())
    with pytest.raises(ToposcopeError, match=r"unknown layer 'conv3' \(did you mean 'conv2', 'conv1'\?\)"):
        subject_for(TinyNet(), layers=["conv3"])
    subject = subject_for(TinyNet())
    with pytest.raises(ToposcopeError, match="toposcope layers tiny"):
        toposcope.extract(subject, image_folder, layers=["fc2"], cache=False, progress=False)


def test_nan_responses_are_an_error(image_folder):
    model = TinyNet()
    with torch.no_grad():
        model.conv1.bias.fill_(float("nan"))
    with pytest.raises(ToposcopeError, match="layer 'conv1' produced NaN"):
        toposcope.extract(subject_for(model), image_folder, cache=False, progress=False)


def test_text_stimuli_for_a_vision_model_are_refused():
    with pytest.raises(ToposcopeError, match="needs image stimuli"):
        toposcope.extract(subject_for(TinyNet()), toposcope.stimuli.from_texts(["a b"]), cache=False)


@pytest.mark.parametrize("option, value, message", [("batch_size", 0, "positive integer"),
                                                   ("text_mode", "first", "unknown text_mode")])
def test_bad_options(image_folder, option, value, message):
    with pytest.raises(ToposcopeError, match=message):
        toposcope.extract(subject_for(TinyNet()), image_folder, cache=False, **{option: value})


def test_positions_given_for_a_layer_are_used_and_checked(image_folder):
    positions = np.column_stack([np.arange(6) * 0.5, np.zeros(6)])
    subject = toposcope.load_model(TinyNet(), layers=["conv2"], positions={"conv2": positions},
                                   transform=tiny_transform(), input_shape=(3, 16, 16))
    responses = toposcope.extract(subject, image_folder, cache=False, progress=False)["conv2"]
    np.testing.assert_allclose(responses.x.values, positions[:, 0])
    with pytest.raises(ToposcopeError, match="hold 4 units but layer 'conv2' has 6"):
        toposcope.load_model(TinyNet(), layers=["conv2"], positions={"conv2": np.zeros((4, 2))},
                             transform=tiny_transform(), input_shape=(3, 16, 16))


def test_changed_preprocessing_misses_the_cache(image_folder, tmp_path):
    from torchvision import transforms

    model = TinyNet()
    cache = tmp_path / "cache"
    small = toposcope.load_model(model, layers=["conv1"], transform=tiny_transform(), input_shape=(3, 16, 16))
    first = toposcope.extract(small, image_folder, cache=cache, progress=False)["conv1"]
    larger = transforms.Compose([transforms.Resize((24, 24)), transforms.ToTensor()])
    other = toposcope.load_model(model, layers=["conv1"], transform=larger, input_shape=(3, 24, 24))
    second = toposcope.extract(other, image_folder, cache=cache, progress=False)["conv1"]
    assert len(list(cache.glob("*.nc"))) == 2
    assert not np.allclose(first.values, second.values)
