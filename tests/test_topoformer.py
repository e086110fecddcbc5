"""The topoformer adapter: random state dicts laid out as the reference saves them load strictly and compute
what an independent re-implementation written from the paper's description computes (tests/_topoformer_
reference.py), masks included; torus sheets on every hooked layer; padded batches equal single texts; and
checkpoints of another width, mask type or size are refused naming the mismatch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from _topoformer_reference import (
    bert_forward,
    bert_state,
    circular,
    classifier_forward,
    classifier_state,
    query_buffer,
)

from toposcope import extract, load_model
from toposcope._validation import ToposcopeError
from toposcope.models.demo_lm import word_tokenizer
from toposcope.models.topoformer import layer_names, topoformer_config
from toposcope.models.topoformer_nn import modules

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "in", "garden", "green", "ideas", "sleep", "furiously"]
N = 64  # an 8 x 8 sheet


def classifier_config(sq=0.3, sr=0.3, learned=False, **extra):
    # The reference's TextModelConfig fields, as its hydra config gives them.
    return {"hidden_size": N, "num_hidden_layers": 1, "num_attention_heads": 1, "forward_expansion": 4,
            "qkv_bias": True, "dropout": 0.1, "sr": sr, "sq": sq, "max_length": 12,
            "learned_spatial_querying": learned, "local_querying": False, "hidden_dropout_prob": 0.0,
            "pooling_mechanism": "AVERAGE", "attention_probs_dropout_prob": 0.0, "mask_type": "circular",
            "relu": False, "src_vocab_size": 30, "model_version": "v2", **extra}


def bert_config(sq=0.3, sr=0.3, mask_type="circular"):
    # cramming's model_config.json for bert-c5 (the fields that shape the network).
    return {"architectures": ["ScriptableMaskedLM"], "num_transformer_layers": 2, "hidden_size": N,
            "intermed_size": 24, "hidden_dropout_prob": 0.1, "norm": "LayerNorm", "norm_eps": 1e-12,
            "norm_scheme": "pre", "nonlin": "GELUglu", "tie_weights": True, "decoder_bias": False,
            "use_bias": False, "final_norm": True, "skip_head_transform": True,
            "embedding": {"vocab_size": 30, "pos_embedding": "scaled-sinusoidal", "dropout_prob": 0.1,
                          "pad_token_id": 0, "max_seq_length": 12, "embedding_dim": N, "normalization": True},
            "attention": {"type": "topoformer", "causal_attention": False, "num_attention_heads": 1,
                          "dropout_prob": 0, "skip_output_projection": False, "qkv_bias": False, "relu": False,
                          "sq": sq, "sr": sr, "learned_spatial_querying": False, "mask_type": mask_type,
                          "local_querying": False}}


def hooked(model, names, ids):
    taps, handles = {}, []
    for name in names:
        def hook(_m, _i, out, name=name):
            taps[name] = out[0] if isinstance(out, tuple) else out
        handles.append(model.get_submodule(name).register_forward_hook(hook))
    with torch.no_grad():
        out = model(ids)
    for h in handles:
        h.remove()
    return out, taps


def load(tmp_path, spec, state, config, **options):
    path = tmp_path / "model.pth"
    torch.save(state, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checkpoint loads without the random-weights warning
        return load_model(spec, checkpoint=str(path), config=config, tokenizer=word_tokenizer(WORDS), **options)


@pytest.mark.parametrize("sq, sr, learned", [(0.3, 0.3, False), (0.1, 0.5, True), (-1, -1, False)])
def test_classifier_state_dict_loads_strictly_and_computes_the_papers_function(tmp_path, sq, sr, learned):
    state = classifier_state(n=N, sq=sq, learned=learned, seed=1)
    subject = load(tmp_path, "topoformer/classifier", state, classifier_config(sq, sr, learned))
    model = subject.model
    assert list(model.state_dict()) == list(state)  # the reference's keys, in its order
    attention = model.encoder.layers[0].attention
    np.testing.assert_array_equal(attention.head.locality_mask.locality_mask.numpy(), query_buffer(N, sq).numpy())
    if sr != -1:
        np.testing.assert_array_equal(attention.output_projection.constraint.numpy(), circular(N, sr).numpy())
    ids = torch.randint(0, 30, (3, 9), generator=torch.Generator().manual_seed(0))
    logits, taps = hooked(model, layer_names(topoformer_config(classifier_config(sq, sr, learned))), ids)
    expected_logits, expected = classifier_forward(state, ids, N, sq, sr, learned)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-5, atol=1e-5)
    assert set(taps) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(taps[name], value, rtol=1e-5, atol=1e-5, msg=name)
    # Evaluation never rewrites the weights (the reference's training step does).
    torch.testing.assert_close(model.state_dict()["encoder.layers.0.attention.output_projection.weight"],
                               state["encoder.layers.0.attention.output_projection.weight"])


@pytest.mark.parametrize("sq, sr, mask_type", [(0.3, 0.2, "circular"), (1, 1, "full")])
def test_bert_state_dict_loads_strictly_and_computes_the_papers_function(tmp_path, sq, sr, mask_type):
    # (1, 1, "full") is the paper's BERT control (cramming bert-c5_nontopo_control).
    state = bert_state(n=N, sq=sq, mask_type=mask_type, seed=2)
    subject = load(tmp_path, "topoformer/bert", state, bert_config(sq, sr, mask_type))
    assert set(subject.model.state_dict()) == set(state)
    ids = torch.randint(1, 30, (2, 7), generator=torch.Generator().manual_seed(3))
    logits, taps = hooked(subject.model, list(subject.layers), ids)
    expected_logits, expected = bert_forward(state, ids, N, sq, sr, mask_type=mask_type)
    torch.testing.assert_close(logits, expected_logits, rtol=1e-5, atol=1e-5)
    for name, value in expected.items():
        torch.testing.assert_close(taps[name], value, rtol=1e-5, atol=1e-5, msg=name)


def test_every_hooked_layer_is_a_torus_and_padding_changes_nothing(tmp_path):
    subject = load(tmp_path, "topoformer/classifier", classifier_state(n=N, seed=4), classifier_config())
    assert list(subject.layers) == [f"encoder.layers.0.attention.{h}" for h in
                                    ("head.query", "head.key", "head.value", "head", "output_projection")]
    for layer in subject.layers.values():
        assert layer.sheet.period == (8.0, 8.0) and layer.sheet.grid == (8, 8)
    texts = ["the cat sat on a mat", "green ideas sleep", "a dog ran in the garden the end", "the"]
    batched = extract(subject, texts, batch_size=4, cache=False, progress=False)
    alone = extract(subject, texts, batch_size=1, cache=False, progress=False)
    for name, responses in batched.items():
        assert responses.sizes == {"stimulus": 4, "unit": N}
        assert float(responses.wrap_x[0]) == 8.0  # analyses read the torus from the unit coords
        np.testing.assert_allclose(responses.values, alone[name].values, rtol=1e-5, atol=1e-6)
    # A text alone through the model is the reference's unpadded forward; its mean over tokens is the row.
    ids = torch.tensor([subject.tokenizer("green ideas sleep")["input_ids"]])
    _, taps = classifier_forward(classifier_state(n=N, seed=4), ids, N, 0.3, 0.3)
    np.testing.assert_allclose(batched["encoder.layers.0.attention.head"].values[1],
                               taps["encoder.layers.0.attention.head"][0].mean(0).numpy(), rtol=1e-5, atol=1e-6)


def test_random_weights_are_seeded_and_the_twins_share_everything_but_the_widths():
    a = modules()["classifier"](topoformer_config(classifier_config()))
    with pytest.warns(UserWarning, match="random weights"):
        b = load_model("topoformer/classifier", config=classifier_config(), tokenizer=word_tokenizer(WORDS), seed=5)
    with pytest.warns(UserWarning, match="random weights"):
        c = load_model("topoformer/classifier", config=classifier_config(), tokenizer=word_tokenizer(WORDS), seed=5)
    for key, value in b.model.state_dict().items():
        torch.testing.assert_close(value, c.model.state_dict()[key], equal_nan=True)
    assert set(a.state_dict()) == set(b.model.state_dict())
    # Locally connected weights start as |w| * 10 inside the disc (the reference's init).
    assert (b.model.encoder.layers[0].attention.output_projection.weight >= 0).all()
    assert b.provenance()["model_options"].count("seed=5") == 1


def test_training_overwrites_the_weight_as_the_reference_does():
    model = modules()["classifier"](topoformer_config(classifier_config(sr=0.2)))
    layer = model.encoder.layers[0].attention.output_projection
    layer.weight.data = torch.randn_like(layer.weight)
    x = torch.randn(2, N)
    evaluated = layer.eval()(x)
    trained = layer.train()(x)
    torch.testing.assert_close(evaluated, trained)
    torch.testing.assert_close(layer.weight.data, torch.abs(layer.weight.data) * circular(N, 0.2).T)


# --------------------------------------------------------------------------- bad input
def test_a_checkpoint_of_another_width_or_mask_type_is_refused_naming_it(tmp_path):
    narrow = classifier_state(n=N, sq=0.1, seed=6)
    keep = int(circular(N, 0.1)[0].sum())
    with pytest.raises(ToposcopeError, match=rf"another spatial-querying mask: in layer 0 it keeps {keep} of 64 "
                                             r"units per query \(circular, sq between .*use sq=.*config's sq=0.3"):
        load(tmp_path, "topoformer/classifier", narrow, classifier_config(sq=0.3))
    control = classifier_state(n=N, sq=-1, seed=6)
    with pytest.raises(ToposcopeError, match=r"non-topographic control's \(NaN: width -1\); use sq=-1"):
        load(tmp_path, "topoformer/classifier", control, classifier_config())
    full = bert_state(n=N, sq=1, mask_type="full")
    with pytest.raises(ToposcopeError, match=r"pools every unit \('full'\); use mask_type='full', sq=1"):
        load(tmp_path, "topoformer/bert", full, bert_config())
    # The suggested width rebuilds the checkpoint's mask.
    suggested = float(str(_error(tmp_path, narrow)).split("use sq=")[1].split(",")[0].split(";")[0])
    load(tmp_path, "topoformer/classifier", narrow, classifier_config(sq=suggested))


def _error(tmp_path, state):
    with pytest.raises(ToposcopeError) as info:
        load(tmp_path, "topoformer/classifier", state, classifier_config(sq=0.3))
    return info.value


def test_a_checkpoint_of_another_size_or_kind_is_refused_naming_it(tmp_path):
    with pytest.raises(ToposcopeError, match=r"hidden size 64 \(a 8 x 8 sheet\) but the config says 16 \(4 x 4\); "
                                             "use hidden_size=64"):
        load(tmp_path, "topoformer/classifier", classifier_state(n=N), classifier_config(hidden_size=16))
    with pytest.raises(ToposcopeError, match="has learned spatial-querying weights .* use "
                                             "learned_spatial_querying=True"):
        load(tmp_path, "topoformer/classifier", classifier_state(n=N, learned=True), classifier_config())
    with pytest.raises(ToposcopeError, match="is a Topoformer bert, but the config builds the classifier"):
        load(tmp_path, "topoformer/classifier", bert_state(n=N), classifier_config())
    with pytest.raises(ToposcopeError, match="has 2 layers but the config says 1"):
        load(tmp_path, "topoformer/classifier", classifier_state(n=N, layers=2), classifier_config())
    with pytest.raises(ToposcopeError, match="describes a Topoformer bert, not a classifier"):
        load(tmp_path, "topoformer/classifier", classifier_state(n=N), bert_config())


def test_bad_configs():
    with pytest.raises(ToposcopeError, match="hidden_size 390 is not a square"):
        topoformer_config(classifier_config(hidden_size=390))
    with pytest.raises(ToposcopeError, match=r"width sq must be in \(0, 1\] .* or -1"):
        topoformer_config(classifier_config(sq=1.5))
    with pytest.raises(ToposcopeError, match="exclude each other"):
        topoformer_config(classifier_config(learned=True, local_querying=True))
    with pytest.raises(ToposcopeError, match="model_version 'v3' is not supported"):
        topoformer_config(classifier_config(model_version="v3"))
    config = bert_config()
    config["norm_scheme"] = "post"
    with pytest.raises(ToposcopeError, match="bert-c5 .norm_scheme='pre'.*norm_scheme='post'"):
        topoformer_config(config)
    with pytest.raises(ToposcopeError, match="gaussian.*not save them"):
        modules()["classifier"](topoformer_config(classifier_config(mask_type="gaussian")))
    with pytest.raises(ToposcopeError, match="needs its settings; pass config="):
        load_model("topoformer", tokenizer=word_tokenizer(WORDS))
    with pytest.raises(ToposcopeError, match="unknown Topoformer model 'gpt'"):
        load_model("topoformer/gpt")
    with pytest.raises(ToposcopeError, match="needs its tokenizer"):  # before any weights are built
        load_model("topoformer/classifier", config=classifier_config())
