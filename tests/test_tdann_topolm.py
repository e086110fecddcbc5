"""TDANN and TopoLM adapters on synthetic checkpoints and positions in the real formats.

Checkpoints are built from the projects' own key names (not from toposcope's
model classes), and responses are checked against reference forward passes
written out here with plain tensor operations.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from _position_writers import (
    tdann_layer,
    topolm_layer,
    write_tdann_positions,
    write_topolm_positions,
)
from conftest import shared_path

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.models.topolm import TopoLMConfig, gpt2_tokenizer, layer_names, topolm_sheets
from toposcope.stimuli import open_image

N_EMBED, N_LAYER, BLOCK, VOCAB = 16, 2, 64, 260  # a 4 x 4 sheet per layer
TEXTS = ["the cat sat", "green ideas sleep furiously tonight", "a"]


# =========================================================================== TopoLM
def _byte_level_chars() -> list[str]:
    """GPT-2's byte -> printable character table (so byte b has token id b below)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    out, extra = [], 0
    for byte in range(256):
        if byte in printable:
            out.append(chr(byte))
        else:
            out.append(chr(256 + extra))
            extra += 1
    return out


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A GPT-2 BPE tokenizer folder with no merges: one token per byte, ids = bytes."""
    folder = tmp_path_factory.mktemp("gpt2-tokenizer")
    vocab = {char: i for i, char in enumerate(_byte_level_chars())}
    vocab["<|endoftext|>"] = 256
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder


def topolm_state(n_head=2, bias=False, attn_proj=False, head_loss=False, seed=0):
    """Weights under TopoLM's GPT key names (models/model.py), lm_head tied to wte."""
    generator = torch.Generator().manual_seed(seed)
    n = N_EMBED

    def w(*shape, scale=0.3):
        return torch.randn(*shape, generator=generator) * scale

    state = {"transformer.wte.weight": w(VOCAB, n), "transformer.wpe.weight": w(BLOCK, n)}
    linears = {"attn.c_attn": (3 * n, n), "mlp.c_fc": (4 * n, n), "mlp.c_proj": (n, 4 * n)}
    if not head_loss:
        linears["attn.c_proj"] = (n, n)
    if attn_proj:
        linears["attn_proj"] = (n, n)
    for i in range(N_LAYER):
        for norm in ("ln_1", "ln_2"):
            state[f"transformer.h.{i}.{norm}.weight"] = 1 + w(n, scale=0.1)
            if bias:
                state[f"transformer.h.{i}.{norm}.bias"] = w(n, scale=0.1)
        for name, shape in linears.items():
            state[f"transformer.h.{i}.{name}.weight"] = w(*shape)
            if bias:
                state[f"transformer.h.{i}.{name}.bias"] = w(shape[0], scale=0.1)
    state["transformer.ln_f.weight"] = 1 + w(n, scale=0.1)
    if bias:
        state["transformer.ln_f.bias"] = w(n, scale=0.1)
    state["lm_head.weight"] = state["transformer.wte.weight"]
    return state


def save_topolm_checkpoint(path, state, model_args=True, with_resid=True, n_head=2):
    """As TopoLM's train.py saves it (torch.compile prefix included)."""
    args = {"n_layer": N_LAYER, "n_head": n_head, "n_embed": N_EMBED, "block_size": BLOCK,
            "bias": False, "vocab_size": VOCAB, "dropout": 0.0, "alpha": 2.5,
            "position_dir": "gpt2-positions-5-5", "accum": "mean", "activation_decay": 0,
            "head_loss": False, "attn_proj": False, "finetune": False, "with_resid": with_resid}
    content = {"model": {f"_orig_mod.{k}": v for k, v in state.items()},
               "optimizer": {"state": {}, "param_groups": []}, "iter_num": 500,
               "best_val_loss": torch.tensor(3.25), "config": {"batch_size": 48, "n_layer": N_LAYER}}
    if model_args:
        content["model_args"] = args
    torch.save(content, path)
    return path


def topolm_positions(folder, side=4, n_layer=N_LAYER):
    return {name: topolm_layer(folder, name, side=side, seed=k)
            for k, name in enumerate(layer_names(n_layer))}


@pytest.fixture(scope="module")
def topolm_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("topolm")
    checkpoint = save_topolm_checkpoint(root / "ckpt-10.pt", topolm_state())
    coords = topolm_positions(root / "positions")
    return checkpoint, root / "positions", coords


def reference_block0(state, ids, n_head, with_resid, head_loss=False):
    """Block 0's ``attn`` and ``mlp`` activations (T, C) for one text, from the weights alone."""
    def get(key):
        return state.get(f"transformer.h.0.{key}")

    def linear(x, name):
        out = x @ get(f"{name}.weight").T
        return out + get(f"{name}.bias") if get(f"{name}.bias") is not None else out

    def norm(x, name):
        mean, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
        out = (x - mean) / torch.sqrt(var + 1e-5) * get(f"{name}.weight")
        return out + get(f"{name}.bias") if get(f"{name}.bias") is not None else out

    T, C = len(ids), N_EMBED
    size = C // n_head
    x = state["transformer.wte.weight"][ids] + state["transformer.wpe.weight"][:T]
    q, k, v = linear(norm(x, "ln_1"), "attn.c_attn").split(C, dim=-1)
    heads = []
    for h in range(n_head):
        part = slice(h * size, (h + 1) * size)
        scores = q[:, part] @ k[:, part].T / math.sqrt(size)
        scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        heads.append(scores.softmax(-1) @ v[:, part])
    merged = torch.cat(heads, dim=-1)
    if head_loss:
        # Head h is tile (h // g, h % g) of a g x g grid; its feature f sits at (f // s, f % s).
        g, s = math.isqrt(n_head), math.isqrt(size)
        y = torch.empty_like(merged)
        for h in range(n_head):
            for f in range(size):
                row, col = (h // g) * s + f // s, (h % g) * s + f % s
                y[:, row * g * s + col] = merged[:, h * size + f]
    else:
        y = linear(merged, "attn.c_proj")
    if get("attn_proj.weight") is not None:
        y = linear(y, "attn_proj")
    stream = x + y
    mlp = linear(F.gelu(linear(norm(stream, "ln_2"), "mlp.c_fc")), "mlp.c_proj")
    return (stream, stream + mlp) if with_resid else (y, mlp)


def _token_ids(text):
    return torch.tensor(list(text.encode()))


def test_topolm_loads_and_extracts(topolm_files, tokenizer_dir):
    checkpoint, positions, coords = topolm_files
    subject = toposcope.load_model("topolm", checkpoint=checkpoint, positions=positions,
                                   tokenizer=tokenizer_dir)
    assert subject.modality == "language"
    assert list(subject.layers) == layer_names(N_LAYER)
    assert all(layer.n_units == N_EMBED and layer.sheet.units == "grid" for layer in subject.layers.values())
    responses = toposcope.extract(subject, TEXTS, cache=False, progress=False)
    state = topolm_state()
    for name, array in responses.items():
        assert array.dims == ("stimulus", "unit") and array.shape == (len(TEXTS), N_EMBED)
        assert array.dtype == np.float32 and np.isfinite(array.values).all()
        np.testing.assert_array_equal(array["x"].values, coords[name][:, 0])
        np.testing.assert_array_equal(array["y"].values, coords[name][:, 1])
        assert set(array["layer"].values) == {name}
    for row, text in enumerate(TEXTS):
        attn, mlp = reference_block0(state, _token_ids(text), n_head=2, with_resid=True)
        np.testing.assert_allclose(responses["layer.0.attn"].values[row], attn.mean(0), atol=1e-5)
        np.testing.assert_allclose(responses["layer.0.mlp"].values[row], mlp.mean(0), atol=1e-5)


@pytest.mark.parametrize(
    "variant",
    [{"with_resid": False, "bias": True}, {"attn_proj": True},
     {"head_loss": True, "n_head": 4, "bias": True}],
)
def test_topolm_variants_match_reference(tmp_path, tokenizer_dir, topolm_files, variant):
    n_head = variant.pop("n_head", 2)
    with_resid = variant.pop("with_resid", True)
    state = topolm_state(n_head=n_head, seed=1, **variant)
    checkpoint = save_topolm_checkpoint(tmp_path / "ckpt.pt", state, with_resid=with_resid, n_head=n_head)
    subject = toposcope.load_model("topolm", checkpoint=checkpoint, positions=topolm_files[1],
                                   tokenizer=tokenizer_dir)
    responses = toposcope.extract(subject, TEXTS[:2], layers=["layer.0.attn", "layer.0.mlp"],
                                  cache=False, progress=False)
    for row, text in enumerate(TEXTS[:2]):
        attn, mlp = reference_block0(state, _token_ids(text), n_head, with_resid,
                                     head_loss=variant.get("head_loss", False))
        np.testing.assert_allclose(responses["layer.0.attn"].values[row], attn.mean(0), atol=1e-5)
        np.testing.assert_allclose(responses["layer.0.mlp"].values[row], mlp.mean(0), atol=1e-5)


def test_topolm_padding_does_not_change_responses(topolm_files, tokenizer_dir):
    checkpoint, positions, _ = topolm_files
    subject = toposcope.load_model(f"topolm:{checkpoint}", positions=positions, tokenizer=tokenizer_dir)
    together = toposcope.extract(subject, TEXTS, layers="layer.1.mlp", cache=False, progress=False)
    for row, text in enumerate(TEXTS):
        alone = toposcope.extract(subject, [text], layers="layer.1.mlp", cache=False, progress=False)
        np.testing.assert_allclose(together["layer.1.mlp"].values[row], alone["layer.1.mlp"].values[0],
                                   atol=1e-5)
    words = toposcope.extract(subject, TEXTS, layers="layer.1.mlp", text_mode="words",
                              cache=False, progress=False)
    assert words["layer.1.mlp"].shape == (sum(len(t.split()) for t in TEXTS), N_EMBED)


def test_topolm_bare_state_dict_needs_n_head(tmp_path, topolm_files, tokenizer_dir):
    path = tmp_path / "bare.pt"
    state = topolm_state()
    # nanoGPT's non-flash attention kept a causal-mask buffer; it carries no weights.
    state["transformer.h.0.attn.bias"] = torch.tril(torch.ones(BLOCK, BLOCK)).view(1, 1, BLOCK, BLOCK)
    torch.save(state, path)
    with pytest.raises(ToposcopeError, match="has no model_args with n_head; pass n_head=N"):
        toposcope.load_model("topolm", checkpoint=path, positions=topolm_files[1], tokenizer=tokenizer_dir)
    subject = toposcope.load_model("topolm", checkpoint=path, positions=topolm_files[1],
                                   tokenizer=tokenizer_dir, n_head="2", with_resid="false")
    assert subject.model.config.n_head == 2 and subject.model.config.with_resid is False


def test_real_topolm_positions_fit_a_gpt2_sized_model():
    folder = shared_path("positions", "topolm-gpt2-10-10")
    config = TopoLMConfig(n_layer=12, n_head=16, n_embed=784, block_size=1024, vocab_size=50304)
    sheets = topolm_sheets(folder, config)
    assert list(sheets) == layer_names(12)
    assert all(s.n_units == 784 and np.isfinite(s.positions).all() for s in sheets.values())
    small = TopoLMConfig(n_layer=12, n_head=2, n_embed=N_EMBED, block_size=BLOCK, vocab_size=VOCAB)
    with pytest.raises(ToposcopeError, match="has 784 units but the layer has 16"):
        topolm_sheets(folder, small)


def test_topolm_errors(tmp_path, topolm_files, tokenizer_dir, monkeypatch):
    checkpoint, positions, _ = topolm_files
    ok = {"checkpoint": checkpoint, "positions": positions, "tokenizer": tokenizer_dir}

    def load(**changes):
        return toposcope.load_model("topolm", **{**ok, **changes})

    with pytest.raises(ToposcopeError, match="topolm has no built-in weights; pass checkpoint=PATH"):
        load(checkpoint=None)
    with pytest.raises(ToposcopeError, match="topolm needs its unit positions; pass positions=DIR"):
        load(positions=None)
    with pytest.raises(ToposcopeError, match="give the checkpoint once"):
        toposcope.load_model("topolm:other.pt", **ok)
    with pytest.raises(ToposcopeError, match="checkpoint .* does not exist.*epflneuroailab/topolm"):
        load(checkpoint=tmp_path / "missing.pt")

    # positions of another model: other sheet size, other layer names, too many blocks
    topolm_positions(tmp_path / "small", side=3)
    with pytest.raises(ToposcopeError, match="has 9 units but the layer has 16"):
        load(positions=tmp_path / "small")
    tdann_layer(tmp_path / "tdann", "layer1.0", (1, 4, 4))
    with pytest.raises(ToposcopeError, match="names layer 'layer1.0', which this TopoLM .2 blocks"):
        load(positions=tmp_path / "tdann")
    topolm_layer(tmp_path / "deep", "layer.5.attn", side=4)
    with pytest.raises(ToposcopeError, match=r"expected layer.0.attn ... layer.1.mlp"):
        load(positions=tmp_path / "deep")

    # checkpoints of another model
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet.pt")
    with pytest.raises(ToposcopeError, match="is not a TopoLM GPT"):
        load(checkpoint=tmp_path / "resnet.pt")
    state = topolm_state()
    del state["transformer.h.1.mlp.c_fc.weight"]
    save_topolm_checkpoint(tmp_path / "partial.pt", state)
    with pytest.raises(ToposcopeError, match="does not fit TopoLM GPT: missing keys: transformer.h.1.mlp.c_fc"):
        load(checkpoint=tmp_path / "partial.pt")

    # options
    with pytest.raises(ToposcopeError, match="n_embed 16 is not divisible by n_head 3"):
        load(n_head=3)
    with pytest.raises(ToposcopeError, match="n_head must be a positive integer"):
        load(n_head="many")
    with pytest.raises(ToposcopeError, match="with_resid must be true or false"):
        load(with_resid="maybe")
    save_topolm_checkpoint(tmp_path / "tiles.pt", topolm_state(head_loss=True))
    with pytest.raises(ToposcopeError, match="head_loss needs square n_head and head size"):
        load(checkpoint=tmp_path / "tiles.pt")

    # tokenizer
    with pytest.raises(ToposcopeError, match="is not a folder"):
        load(tokenizer=tmp_path / "no-tokenizer")
    from transformers import GPT2TokenizerFast

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(GPT2TokenizerFast, "from_pretrained", offline)
    with pytest.raises(ToposcopeError, match=r"from the Hugging Face hub \(offline\?\).*pass tokenizer=DIR"):
        load(tokenizer=None)


def test_topolm_text_longer_than_block(topolm_files, tokenizer_dir):
    checkpoint, positions, _ = topolm_files
    subject = toposcope.load_model("topolm", checkpoint=checkpoint, positions=positions, tokenizer=tokenizer_dir)
    with pytest.raises(ToposcopeError, match=f"more than the model's {BLOCK}; split long texts"):
        toposcope.extract(subject, ["x" * (BLOCK + 1)], cache=False, progress=False)
    with pytest.raises(ToposcopeError, match=f"block_size is {BLOCK}"):
        subject.model(torch.zeros((1, BLOCK + 1), dtype=torch.long))


def test_gpt2_tokenizer_object_is_kept(tokenizer_dir):
    from transformers import GPT2TokenizerFast

    given = GPT2TokenizerFast.from_pretrained(str(tokenizer_dir))
    given.padding_side = "left"
    tokenizer = gpt2_tokenizer(given, max_length=BLOCK)
    assert tokenizer is given and tokenizer.padding_side == "right"
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.model_max_length == BLOCK


# =========================================================================== TDANN
def _feature_block_name(key):
    """spacetorch's _feature_blocks alias of a torchvision key (layer1.0.x -> layer1_0.x)."""
    parts = key.split(".")
    if parts[0].startswith("layer"):
        return ".".join([f"{parts[0]}_{parts[1]}", *parts[2:]])
    return key if parts[0] == "conv1" else None


@pytest.fixture(scope="module")
def tdann_files(tmp_path_factory):
    """A VISSL checkpoint of a SpatialResNet18 trunk and positions for two layers."""
    root = tmp_path_factory.mktemp("tdann")
    torch.manual_seed(0)
    weights = torchvision.models.resnet18(weights=None).state_dict()
    trunk = {f"base_model.{k}": v for k, v in weights.items()}  # fc kept, as supervised trunks
    trunk.update({f"_feature_blocks.{alias}": v for k, v in weights.items()
                  if (alias := _feature_block_name(k)) is not None})
    content = {
        "phase_idx": 199, "iteration": 1000, "type": "checkpoint",
        "classy_state_dict": {"base_model": {"model": {"trunk": trunk, "heads": {
            "0.clf.0.weight": torch.zeros(10, 512)}}, "meta": {}}, "train_phase_idx": 199},
    }
    checkpoint = root / "model_final_checkpoint_phase199.torch"
    torch.save(content, checkpoint)
    positions = root / "positions"
    coords = {"layer2.0": tdann_layer(positions, "layer2.0", (128, 28, 28), seed=1, suffix=".pkl"),
              "layer4.1": tdann_layer(positions, "layer4.1", (512, 7, 7), seed=2, suffix=".npz")}
    return checkpoint, positions, coords, weights


def test_tdann_loads_and_extracts(tdann_files, image_folder):
    checkpoint, positions, coords, weights = tdann_files
    subject = toposcope.load_model("tdann", checkpoint=checkpoint, positions=positions)
    assert subject.modality == "vision" and list(subject.layers) == ["layer2.0", "layer4.1"]
    assert [layer.layout for layer in subject.layers.values()] == ["channel_space"] * 2
    images = sorted(str(p) for p in image_folder.rglob("*.png"))[:2]
    responses = toposcope.extract(subject, images, cache=False, progress=False)
    assert responses["layer2.0"].shape == (2, 128 * 28 * 28)
    assert responses["layer4.1"].shape == (2, 512 * 7 * 7)
    for name, array in responses.items():
        np.testing.assert_array_equal(array["x"].values, coords[name][:, 0].astype(np.float32))
        np.testing.assert_array_equal(array["y"].values, coords[name][:, 1].astype(np.float32))
    unit = 2 * 28 * 28 + 3 * 28 + 5
    assert [int(responses["layer2.0"][c].values[unit]) for c in ("channel", "row", "col")] == [2, 3, 5]

    # Reference: torchvision's ResNet-18 with the trunk weights, block outputs flattened (C, H, W).
    reference = torchvision.models.resnet18(weights=None)
    reference.load_state_dict(weights)
    reference.eval()
    outputs = {}
    reference.layer2[0].register_forward_hook(lambda m, i, o: outputs.__setitem__("layer2.0", o.flatten(1)))
    reference.layer4[1].register_forward_hook(lambda m, i, o: outputs.__setitem__("layer4.1", o.flatten(1)))
    batch = torch.stack([subject.transform(open_image(p)) for p in images])
    assert batch.shape == (2, 3, 224, 224)
    with torch.no_grad():
        reference(batch)
    for name, expected in outputs.items():
        np.testing.assert_allclose(responses[name].values, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_tdann_rescale_follows_version(tdann_files, tmp_path):
    checkpoint, positions, coords, _ = tdann_files
    subject = toposcope.load_model("tdann/resnet18", checkpoint=checkpoint, positions=positions, rescale="true")
    np.testing.assert_allclose(subject.layers["layer2.0"].sheet.positions, coords["layer2.0"] * 1.5)
    np.testing.assert_allclose(subject.layers["layer4.1"].sheet.positions, coords["layer4.1"] * 7.0)
    newer = tmp_path / "v2"
    newer.mkdir()
    (newer / "layer4.1.npz").write_bytes((positions / "layer4.1.npz").read_bytes())
    (newer / "version.txt").write_text("2\n")
    subject = toposcope.load_model("tdann", checkpoint=checkpoint, positions=newer, rescale=True)
    np.testing.assert_array_equal(subject.layers["layer4.1"].sheet.positions, coords["layer4.1"])
    (newer / "version.txt").write_text("two\n")
    with pytest.raises(ToposcopeError, match="should hold a version number, got 'two'"):
        toposcope.load_model("tdann", checkpoint=checkpoint, positions=newer, rescale=True)


def test_tdann_errors(tdann_files, topolm_files, tmp_path):
    checkpoint, positions, _, _ = tdann_files
    ok = {"checkpoint": checkpoint, "positions": positions}

    def load(spec="tdann", **changes):
        return toposcope.load_model(spec, **{**ok, **changes})

    with pytest.raises(ToposcopeError, match="tdann has no built-in weights; pass checkpoint=PATH.*osf.io"):
        load(checkpoint=None)
    with pytest.raises(ToposcopeError, match="tdann needs its unit positions; pass positions=DIR"):
        load(positions=None)
    with pytest.raises(ToposcopeError, match="give the trunk once"):
        load("tdann/resnet18", arch="resnet50")
    with pytest.raises(ToposcopeError, match="unknown TDANN arch 'vgg16'"):
        load(arch="vgg16")
    with pytest.raises(ToposcopeError, match="rescale factors are known for TDANN resnet18 only"):
        load(arch="resnet50", rescale=True)
    with pytest.raises(ToposcopeError, match="rescale must be true or false"):
        load(rescale="sometimes")

    # a checkpoint of another model
    with pytest.raises(ToposcopeError, match="does not fit TDANN resnet18: missing keys: conv1.weight"):
        load(checkpoint=topolm_files[0])

    # positions of another model or layer
    tdann_layer(tmp_path / "big", "layer2.0", (64, 56, 56))
    with pytest.raises(ToposcopeError, match="has 200704 units but the layer has 100352"):
        load(positions=tmp_path / "big")
    tdann_layer(tmp_path / "shuffled", "layer2.0", (512, 14, 14))
    with pytest.raises(ToposcopeError, match=r"for a \(512, 14, 14\) feature map but layer 'layer2.0' outputs "
                                             r"\(128, 28, 28\)"):
        load(positions=tmp_path / "shuffled")
    with pytest.raises(ToposcopeError, match="names layer 'layer.0.attn', which TDANN resnet18 does not have"):
        load(positions=topolm_files[1])
    write_topolm_positions(tmp_path / "lm", "layer4.1", torch.zeros(25088, 2), torch.zeros(1, 25088))
    with pytest.raises(ToposcopeError, match="is not a TDANN conv-layer file"):
        load(positions=tmp_path / "lm")
    write_tdann_positions(tmp_path / "fc", "layer4.1", (25088,), np.zeros((25088, 2)), np.zeros((1, 2), int))
    with pytest.raises(ToposcopeError, match="is not a TDANN conv-layer file"):
        load(positions=tmp_path / "fc")


def test_tdann_layers_and_output_dims():
    from toposcope.models.tdann import LAYERS, output_dims

    # spacetorch.models: LAYER_ORDER and OUTPUT_DIMS_FOR_224_INPUTS["resnet18"]
    table = {"layer1.0": (64, 56, 56), "layer1.1": (64, 56, 56), "layer2.0": (128, 28, 28),
             "layer2.1": (128, 28, 28), "layer3.0": (256, 14, 14), "layer3.1": (256, 14, 14),
             "layer4.0": (512, 7, 7), "layer4.1": (512, 7, 7)}
    assert list(LAYERS["resnet18"]) == list(table)
    assert {name: output_dims("resnet18", name) for name in table} == table
    assert output_dims("resnet50", "layer3.5") == (1024, 14, 14) and len(LAYERS["resnet50"]) == 16
