"""TopoNets adapters: released layouts load key for key, BlurPool is the binomial blur, errors are one line."""

from __future__ import annotations

import argparse

import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub.errors import LocalEntryNotFoundError
from scipy import ndimage
from torch import nn

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.models.blurpool import BlurPoolConv2d, apply_blurpool, binomial_filter
from toposcope.models.nanogpt import GPT, GPTConfig
from toposcope.models.subject import file_sha256
from toposcope.models.toponets import build_resnet, build_vit_b_32, normalise_tau
from toposcope.sheet import grid_shape
from toposcope.stimuli import from_folder

TINY_GPT = {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, "vocab_size": 64,
            "bias": False, "dropout": 0.0}
RESNET18_LAYERS = [f"layer{s}.{b}.conv{c}" for s in range(1, 5) for b in range(2) for c in (1, 2)]
RESNET18_UNITS = [64] * 4 + [128] * 4 + [256] * 4 + [512] * 4


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything asks the Hugging Face Hub for a file."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected Hub request {args} {kwargs}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)


def offline(*args, **kwargs):
    raise LocalEntryNotFoundError("cannot reach the Hub and the file is not in the local cache")


def tiny_tokenizer():
    """A word-level tokenizer with an eos token and no pad token (like GPT-2's)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<eos>", "the", "a", "cat", "dog", "sat", "ran", "far", "away", "on", "mat"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<eos>")


def saved_resnet(tmp_path, name="resnet18", seed=1):
    """A BlurPool ResNet with random weights, saved as the released files are: a plain state dict."""
    torch.manual_seed(seed)
    model = build_resnet(name)
    for key, value in model.state_dict().items():
        if "running" in key:  # non-trivial BN statistics, so buffers are checked too
            value.uniform_(0.5, 1.5)
    path = tmp_path / f"{name}.pt"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


def assert_same_state(model, expected):
    state = model.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)


# --------------------------------------------------------------------------- BlurPool
def test_blurpool_blurs_with_the_binomial_filter_then_runs_the_strided_conv():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 4, 3, stride=2, padding=1, bias=False)
    x = torch.randn(1, 16, 9, 9)
    kernel = np.outer([1, 2, 1], [1, 2, 1]) / 16
    blurred = np.stack([ndimage.convolve(c, kernel, mode="constant") for c in x[0].numpy()])
    expected = conv(torch.from_numpy(blurred[None]).float())
    with torch.no_grad():
        np.testing.assert_allclose(BlurPoolConv2d(conv)(x).numpy(), expected.detach().numpy(), atol=1e-5)
    # an impulse through an identity 1x1 conv comes back as the kernel itself
    identity = nn.Conv2d(16, 16, 1, bias=False)
    identity.weight.data = torch.eye(16)[:, :, None, None]
    impulse = torch.zeros(1, 16, 5, 5)
    impulse[0, 3, 2, 2] = 1.0
    with torch.no_grad():
        out = BlurPoolConv2d(identity)(impulse)
    np.testing.assert_allclose(out[0, 3, 1:4, 1:4].numpy(), kernel, atol=1e-7)
    assert float(out.sum()) == pytest.approx(1.0)
    torch.testing.assert_close(binomial_filter(), torch.tensor(kernel, dtype=torch.float32))


def test_apply_blurpool_wraps_strided_convs_with_16_or_more_inputs():
    import torchvision

    expected18 = [f"layer{s}.0.{c}" for s in (2, 3, 4) for c in ("conv1", "downsample.0")]
    assert apply_blurpool(torchvision.models.resnet18()) == expected18
    expected50 = [f"layer{s}.0.{c}" for s in (2, 3, 4) for c in ("conv2", "downsample.0")]
    assert apply_blurpool(torchvision.models.resnet50()) == expected50  # layer1 never strides


# --------------------------------------------------------------------------- ResNets
def test_resnet18_loads_the_released_layout_and_extracts(tmp_path, image_folder, no_network):
    path, saved = saved_resnet(tmp_path)
    assert "layer2.0.conv1.conv.weight" in saved and "layer2.0.conv1.blur_filter" in saved
    subject = toposcope.load_model("toponets/resnet18", checkpoint=path, tau="10")
    assert_same_state(subject.model, saved)
    assert list(subject.layers) == RESNET18_LAYERS
    assert [layer.n_units for layer in subject.layers.values()] == RESNET18_UNITS
    wrapper = subject.model.get_submodule("layer2.0.conv1")
    assert isinstance(wrapper, BlurPoolConv2d) and wrapper.conv.stride == (2, 2)
    assert subject.layers["layer2.0.conv1"].weight == "layer2.0.conv1.conv.weight"
    assert subject.layers["layer2.0.conv2"].weight == "layer2.0.conv2.weight"
    assert subject.identity == file_sha256(path)
    assert subject.options["tau"] == "10" and subject.name == "toponets/resnet18"

    inner = {}
    handle = wrapper.conv.register_forward_hook(lambda m, i, o: inner.setdefault("out", o))
    responses = toposcope.extract(subject, image_folder, layers=["layer2.0.conv1", "layer4.1.conv2"],
                                  cache=False, progress=False)
    handle.remove()
    blur = responses["layer2.0.conv1"]
    assert blur.dims == ("stimulus", "unit") and blur.shape == (6, 128)
    # the wrapper's response is its inner (strided) conv's output, pooled over space
    np.testing.assert_allclose(blur.values, inner["out"].mean(dim=(2, 3)).numpy(), atol=1e-5)
    last = responses["layer4.1.conv2"]
    h, w = grid_shape(512)
    assert last.shape == (6, 512) and (h, w) == (16, 32)
    np.testing.assert_array_equal(last.x.values, np.arange(512) % w)
    np.testing.assert_array_equal(last.y.values, np.arange(512) // w)
    assert set(last.layer.values) == {"layer4.1.conv2"}


def test_resnet50_loads_the_released_layout(tmp_path, no_network):
    path, saved = saved_resnet(tmp_path, "resnet50")
    subject = toposcope.load_model("toponets/resnet50", checkpoint=path)
    assert_same_state(subject.model, saved)
    assert len(subject.layers) == 48 and subject.options["tau"] == "30"
    assert [layer.n_units for layer in subject.layers.values()][:6] == [64, 64, 256] * 2
    assert list(subject.layers)[-3:] == ["layer4.2.conv1", "layer4.2.conv2", "layer4.2.conv3"]
    assert isinstance(subject.model.get_submodule("layer2.0.conv2"), BlurPoolConv2d)
    assert subject.layers["layer3.0.conv2"].weight == "layer3.0.conv2.conv.weight"


def test_wrong_architecture_names_the_mismatched_keys(tmp_path):
    import torchvision

    plain = tmp_path / "plain.pt"  # a torchvision ResNet-18 without BlurPool
    torch.save(torchvision.models.resnet18().state_dict(), plain)
    with pytest.raises(ToposcopeError, match=r"missing keys: layer2\.0\.conv1\.blur_filter, "
                                             r"layer2\.0\.conv1\.conv\.weight.*unexpected keys: "
                                             r"layer2\.0\.conv1\.weight"):
        toposcope.load_model("toponets/resnet18", checkpoint=plain)
    path, _ = saved_resnet(tmp_path)
    with pytest.raises(ToposcopeError, match=r"does not fit toponets/resnet50: missing keys: .*conv3"):
        toposcope.load_model("toponets/resnet50", checkpoint=path)


# --------------------------------------------------------------------------- ViT
def test_vit_b_32_loads_the_model_entry_and_hooks_each_mlp_output(tmp_path, image_folder, no_network):
    with torch.device("meta"):  # skip torchvision's slow init: every value is overwritten below
        model = build_vit_b_32()
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.02, generator=generator)
    saved = model.state_dict()
    path = tmp_path / "tau_10.0.pt"
    # torchvision's training script also stores its argparse Namespace (not weights_only-safe)
    torch.save({"model": saved, "epoch": 3, "args": argparse.Namespace(lr=0.1)}, path)
    subject = toposcope.load_model("toponets/vit_b_32", checkpoint=path)
    assert_same_state(subject.model, saved)
    assert list(subject.layers) == [f"encoder.layers.encoder_layer_{i}.mlp.3" for i in range(12)]
    assert all(layer.n_units == 768 for layer in subject.layers.values())
    assert subject.layers["encoder.layers.encoder_layer_5.mlp.3"].weight == (
        "encoder.layers.encoder_layer_5.mlp.3.weight")
    two = from_folder(image_folder).subset([0, 3])  # one per category keeps the 224 x 224 pass cheap
    last = toposcope.extract(subject, two, layers="encoder.layers.encoder_layer_11.mlp.3",
                             cache=False, progress=False)["encoder.layers.encoder_layer_11.mlp.3"]
    assert last.shape == (2, 768) and list(last.category.values) == ["bright", "dark"]
    np.testing.assert_array_equal(last.x.values[:3], [0, 1, 2])
    assert float(last.y.max()) == grid_shape(768)[0] - 1


# --------------------------------------------------------------------------- NanoGPT
def saved_nanogpt(tmp_path, args=TINY_GPT, seed=1):
    """A tiny nanoGPT saved as train.py does: compiled-model keys and model_args."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(**args))
    state = model.state_dict()
    path = tmp_path / "tau_50.0.pt"
    torch.save({"model": {f"_orig_mod.{k}": v for k, v in state.items()}, "model_args": dict(args),
                "iter_num": 10, "best_val_loss": 3.2, "config": {"dataset": "fineweb10B"}}, path)
    return path, state


def test_nanogpt_loads_train_py_checkpoints_and_extracts_per_text(tmp_path, no_network):
    path, saved = saved_nanogpt(tmp_path)
    tokenizer = tiny_tokenizer()
    subject = toposcope.load_model("toponets/nanogpt", checkpoint=path, tau=50, tokenizer=tokenizer)
    model = subject.model
    assert_same_state(model, saved)
    assert model.lm_head.weight is model.transformer.wte.weight  # tying survives loading
    assert subject.modality == "language" and subject.tokenizer.pad_token == "<eos>"
    assert list(subject.layers) == ["transformer.h.0.mlp.c_fc", "transformer.h.1.mlp.c_fc"]
    assert all(layer.n_units == 128 for layer in subject.layers.values())
    assert subject.layers["transformer.h.1.mlp.c_fc"].weight == "transformer.h.1.mlp.c_fc.weight"

    texts = ["the cat sat on the mat", "a dog ran"]  # padded to 6 tokens in one batch
    responses = toposcope.extract(subject, texts, cache=False, progress=False)["transformer.h.1.mlp.c_fc"]
    assert responses.dims == ("stimulus", "unit") and responses.shape == (2, 128)
    seen = []
    handle = model.transformer.h[1].mlp.c_fc.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        for text in texts:  # one text at a time: no padding at all
            model(tokenizer(text, return_tensors="pt")["input_ids"])
    handle.remove()
    expected = np.stack([o[0].mean(0).numpy() for o in seen])
    np.testing.assert_allclose(responses.values, expected, atol=1e-5)  # right padding never leaks


def test_nanogpt_takes_a_tokenizer_folder(tmp_path, no_network):
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["the cat sat on the mat"] * 5, vocab_size=280, min_frequency=1,
                            special_tokens=["<|endoftext|>"], show_progress=False)
    folder = tmp_path / "gpt2-tokenizer"
    folder.mkdir()
    bpe.save_model(str(folder))  # vocab.json + merges.txt, GPT-2's own file format
    path, _ = saved_nanogpt(tmp_path, {**TINY_GPT, "vocab_size": 320})
    subject = toposcope.load_model("toponets/nanogpt", checkpoint=path, tokenizer=folder)
    assert subject.tokenizer.pad_token == "<|endoftext|>" and subject.tokenizer.model_max_length == 16
    out = toposcope.extract(subject, ["the cat sat"], cache=False, progress=False)
    assert out["transformer.h.0.mlp.c_fc"].shape == (1, 128)


def test_nanogpt_without_a_tokenizer_offline_says_to_pass_one(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    path, _ = saved_nanogpt(tmp_path)
    # Listing layers and TopoLoss encode no text: no tokenizer is asked for until text is.
    subject = toposcope.load_model("toponets/nanogpt", checkpoint=path)
    assert subject.tokenizer is None and "transformer.h.0.mlp.c_fc" in subject.layers
    with pytest.raises(ToposcopeError, match=r"has no tokenizer .*pass tokenizer=DIR") as error:
        toposcope.extract(subject, ["a sentence"], progress=False, cache=False)
    assert "\n" not in str(error.value)
    with pytest.raises(ToposcopeError, match=r"'gpt2'.*pass tokenizer=DIR"):
        toposcope.load_model("toponets/nanogpt", checkpoint=path, tokenizer="gpt2")
    with pytest.raises(ToposcopeError, match=r"neither a pad nor an eos token"):
        from transformers import PreTrainedTokenizerFast

        bare = tiny_tokenizer()
        toposcope.load_model("toponets/nanogpt", checkpoint=path,
                             tokenizer=PreTrainedTokenizerFast(tokenizer_object=bare.backend_tokenizer))


# --------------------------------------------------------------------------- names, taus, downloads
@pytest.mark.parametrize("name, tau, label", [
    ("resnet18", "10", "10.0"), ("resnet18", 10, "10.0"), ("resnet18", " 0.5 ", "0.5"),
    ("resnet18", 20.0, "20.0"), ("resnet50", None, "30.0"), ("vit_b_32", "baseline", "0.0"),
    ("nanogpt", "Baseline", "0.0"), ("nanogpt", 0, "0.0"), ("nanogpt", "3", "3.0"),
    ("resnet18", None, None),
])
def test_tau_is_normalised(name, tau, label):
    assert normalise_tau(name, tau) == label


def test_unknown_name_or_tau_lists_the_allowed_ones(tmp_path):
    with pytest.raises(ToposcopeError, match=r"unknown tau '7' for toponets/resnet18; "
                                             r"released: 0\.5, 1, 5, 10, 20, 50$"):
        toposcope.load_model("toponets/resnet18", tau="7")
    with pytest.raises(ToposcopeError, match=r"released: 0\.5, 1, 3, 50, baseline"):
        toposcope.load_model("toponets/nanogpt", tau=True)
    with pytest.raises(ToposcopeError, match=r"unknown TopoNets model 'resnet19'.*did you mean 'resnet18'"):
        toposcope.load_model("toponets/resnet19")
    with pytest.raises(ToposcopeError, match=r"toponets/resnet18 needs tau=\.\.\. \(released: 0\.5, 1"):
        toposcope.load_model("toponets/resnet18")


def test_released_files_are_requested_by_repo_and_name(tmp_path, monkeypatch):
    path, saved = saved_resnet(tmp_path)
    calls = []

    def cached(repo_id, filename, **kwargs):
        calls.append((repo_id, filename, kwargs.get("local_files_only", False)))
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", cached)
    subject = toposcope.load_model("toponets/resnet18", tau="10")
    assert calls == [("murtylab/topo-resnet18-imagenet", "all_topo_tau_10.0.pt", True)]  # cache only
    assert_same_state(subject.model, saved)
    assert subject.options["checkpoint"] == "murtylab/topo-resnet18-imagenet/all_topo_tau_10.0.pt"
    assert subject.identity == file_sha256(path)


@pytest.mark.parametrize("spec, tau, repo, filename", [
    ("toponets/resnet18", "0.5", "murtylab/topo-resnet18-imagenet", "all_topo_tau_0.5.pt"),
    ("toponets/resnet50", None, "murtylab/topo-resnet50-imagenet", "all_topo_tau_30.0.pt"),
    ("toponets/vit_b_32", "10", "murtylab/topo-vit-b-32-imagenet", "tau_10.0.pt"),
    ("toponets/nanogpt", "baseline", "murtylab/topo-nanogpt-fineweb10B", "tau_0.0.pt"),
])
def test_offline_download_names_repo_file_and_the_manual_route(monkeypatch, spec, tau, repo, filename):
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(ToposcopeError) as error:
        toposcope.load_model(spec, tau=tau, tokenizer=tiny_tokenizer())
    message = str(error.value)
    assert repo in message and filename in message and "\n" not in message
    assert "download it and pass checkpoint=PATH (or place it in the Hugging Face cache)" in message


def test_random_weights_list_layers_without_any_checkpoint(no_network):
    with pytest.warns(UserWarning, match="random weights"):
        first = toposcope.load_model("toponets/resnet18", checkpoint="none")
    with pytest.warns(UserWarning, match="random weights"):
        again = toposcope.load_model("toponets/resnet18", checkpoint="none")
    assert list(first.layers) == RESNET18_LAYERS
    assert first.identity == again.identity  # seeded, so caches and benchmarks are reproducible
    assert first.options["checkpoint"] == "none"
    with pytest.raises(ToposcopeError, match="has no conv layers; use layout='channel'"):
        toposcope.load_model("toponets/nanogpt", checkpoint="none", layout="channel_space")
