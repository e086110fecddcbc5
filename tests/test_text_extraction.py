"""Known answers for text extraction: extract() against hand-made forward passes.

The oracle runs the model on one text at a time, without padding, and reads the
hooked layer's token outputs ``(T, F)`` directly:

* ``mean``: the average over the text's own tokens (special tokens such as
  [CLS]/[SEP] excluded, by the tokenizer's special-tokens mask);
* ``last``: the last of the text's own tokens (for BERT the one before [SEP]);
* ``words``: per whitespace-separated word, the average of its tokens, where the
  grouping comes from the tokenizer's own pre-tokenizer (``word_ids()``), not
  from the character offsets extract() uses; tokens that hold only whitespace
  belong to no word. Texts here have no punctuation, so both notions of a word agree.
"""

from __future__ import annotations

import numpy as np
import pytest
from _tiny_lm import MAX_POSITIONS, build_bert, build_gpt2

import toposcope
from toposcope import ToposcopeError
from toposcope.stimuli import from_texts

#: float32 forward passes of the same tokens differ only by summation order.
ATOL = 1e-5

TEXTS = [
    "the cat sat",
    "wonderfully unreadable children were playing",  # unseen words: several tokens each
    "a dog",
    "green ideas sleep furiously in the garden tonight",
    "books",
]


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    return toposcope.load_model(f"hf:{build_gpt2(tmp_path_factory.mktemp('gpt2'))}")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return toposcope.load_model(f"hf:{build_bert(tmp_path_factory.mktemp('bert'))}")


@pytest.fixture(params=["gpt2", "bert"])
def subject(request):
    return request.getfixturevalue(request.param)


def token_outputs(subject, layer: str, text: str):
    """(T, F) outputs of ``layer`` for ``text`` alone, and its tokenizer encoding."""
    import torch

    encoding = subject.tokenizer([text], return_tensors="pt", return_special_tokens_mask=True)
    own = ~encoding.pop("special_tokens_mask")[0].bool()
    captured = {}
    handle = subject.model.get_submodule(layer).register_forward_hook(
        lambda _m, _i, out: captured.update(out=out[0].detach().numpy())
    )
    try:
        with torch.no_grad():
            subject.model(**encoding)
    finally:
        handle.remove()
    return captured["out"], encoding, own.numpy()


def word_groups(subject, encoding) -> list[list[int]]:
    """Token indices of each word, from the pre-tokenizer, whitespace-only tokens dropped."""
    ids = encoding["input_ids"][0].tolist()
    groups: dict[int, list[int]] = {}
    for token, word in enumerate(encoding.word_ids(0)):
        if word is None or not subject.tokenizer.decode([ids[token]]).strip():
            continue
        groups.setdefault(word, []).append(token)
    return list(groups.values())


def run(subject, texts, **options):
    options = {"cache": False, "progress": False, **options}
    return toposcope.extract(subject, texts, **options)


# --------------------------------------------------------------------------- known answers
def test_mean_is_the_average_over_each_texts_tokens(subject):
    responses = run(subject, TEXTS, batch_size=2, text_mode="mean")

    for layer, array in responses.items():
        assert array.dims == ("stimulus", "unit") and array.dtype == np.float32
        assert array.shape == (len(TEXTS), subject.layers[layer].n_units)
        expected = []
        for text in TEXTS:
            out, _, own = token_outputs(subject, layer, text)
            expected.append(out[own].mean(0))
        expected = np.stack(expected)
        np.testing.assert_allclose(array.values, expected, rtol=0, atol=ATOL)
        assert list(array["stimulus_id"].values) == [f"{i:06d}" for i in range(len(TEXTS))]


def test_last_is_each_texts_last_token(subject):
    responses = run(subject, TEXTS, batch_size=3, text_mode="last")

    for layer, array in responses.items():
        expected = []
        for text in TEXTS:
            out, _, own = token_outputs(subject, layer, text)
            expected.append(out[own][-1])
        expected = np.stack(expected)
        np.testing.assert_allclose(array.values, expected, rtol=0, atol=ATOL)


def test_words_average_each_words_subword_tokens(subject):
    stimuli = from_texts(
        TEXTS, categories=["s", "s", "w", "s", "w"], labels={"stimulus_id": list("abcde")}
    )
    responses = run(subject, stimuli, batch_size=2, text_mode="words")

    split = 0
    for layer, array in responses.items():
        rows = []
        for text in TEXTS:
            outputs, encoding, _ = token_outputs(subject, layer, text)
            groups = word_groups(subject, encoding)
            assert len(groups) == len(text.split())
            split += sum(len(g) > 1 for g in groups)
            rows.extend(outputs[g].mean(0) for g in groups)
        np.testing.assert_allclose(array.values, np.stack(rows), rtol=0, atol=ATOL)
    assert split > 0, "the test tokenizer must split some words into several tokens"

    array = next(iter(responses.values()))
    words = [w for t in TEXTS for w in t.split()]
    owner = [i for i, t in enumerate(TEXTS) for _ in t.split()]
    position = [p for t in TEXTS for p in range(len(t.split()))]
    assert array.sizes["stimulus"] == len(words)
    assert list(array["word"].values) == words
    assert list(array["text_index"].values) == owner
    assert list(array["position"].values) == position
    assert list(array["stimulus_id"].values) == [
        f"{'abcde'[i]}/{p}" for i, p in zip(owner, position, strict=True)
    ]
    assert list(array["category"].values) == [["s", "s", "w", "s", "w"][i] for i in owner]


def test_words_ignore_whitespace_only_tokens(gpt2):
    # Byte-level BPE makes a lone "Ġ" token for a trailing or doubled space; it is part of no word.
    texts = ["the cat ", "  the  dog sat", "a dog"]
    encodings = [token_outputs(gpt2, "h.1.mlp.c_fc", t)[1] for t in texts]
    lone = [
        gpt2.tokenizer.convert_ids_to_tokens(e["input_ids"][0].tolist()).count("Ġ")
        for e in encodings
    ]
    assert lone[0] >= 1 and lone[1] >= 1  # the planted case is really there

    responses = run(gpt2, texts, batch_size=3, text_mode="words")
    for layer, array in responses.items():
        rows = []
        for text in texts:
            outputs, encoding, _ = token_outputs(gpt2, layer, text)
            rows.extend(outputs[g].mean(0) for g in word_groups(gpt2, encoding))
        np.testing.assert_allclose(array.values, np.stack(rows), rtol=0, atol=ATOL)
    assert list(array["word"].values) == ["the", "cat", "the", "dog", "sat", "a", "dog"]


def test_words_hand_checked_split(bert):
    # "wonderfully" is not in the tiny WordPiece vocabulary: it comes out as "wonderful" + "##ly".
    text = "the wonderfully cat"
    outputs, encoding, _ = token_outputs(bert, "encoder.layer.0.intermediate.dense", text)
    pieces = bert.tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())
    assert pieces == ["[CLS]", "the", "wonderful", "##ly", "cat", "[SEP]"]

    array = run(bert, [text], text_mode="words")["encoder.layer.0.intermediate.dense"]
    expected = np.stack([outputs[1], outputs[[2, 3]].mean(0), outputs[4]])
    np.testing.assert_allclose(array.values, expected, rtol=0, atol=ATOL)


# --------------------------------------------------------------------------- batching
@pytest.mark.parametrize("text_mode", ["mean", "last", "words"])
def test_padding_does_not_change_responses(subject, text_mode):
    # batch_size=1 never pads; 3 pads short texts (right side, masked) up to the longest.
    single = run(subject, TEXTS, batch_size=1, text_mode=text_mode)
    batched = run(subject, TEXTS, batch_size=3, text_mode=text_mode)
    for layer in single:
        np.testing.assert_allclose(batched[layer].values, single[layer].values, rtol=0, atol=ATOL)


def test_left_padding_tokenizer_is_padded_on_the_right(gpt2):
    # Left padding shifts GPT-2's absolute positions; extraction must not depend on it.
    expected = run(gpt2, TEXTS, batch_size=1)["h.0.mlp.c_fc"].values
    gpt2.tokenizer.padding_side = "left"
    try:
        got = run(gpt2, TEXTS, batch_size=5)["h.0.mlp.c_fc"].values
    finally:
        gpt2.tokenizer.padding_side = "right"
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


# --------------------------------------------------------------------------- errors
def test_text_longer_than_the_model_is_one_line(subject):
    long_text = " ".join(["furiously"] * MAX_POSITIONS)
    with pytest.raises(
        ToposcopeError,
        match=rf"text 1 has \d+ tokens, more than the model's {MAX_POSITIONS}; "
        r"split long texts",
    ):
        run(subject, ["a dog", long_text], batch_size=2)


def test_word_without_tokens_is_an_error(bert):
    # The BERT normaliser strips accents: a lone combining accent becomes nothing.
    with pytest.raises(
        ToposcopeError,
        match=r"no token covers word 1 \('\u0301'\) of text 1; "
        r"this tokenizer cannot give per-word responses",
    ):
        run(bert, ["the cat", "a \u0301 dog"], text_mode="words", batch_size=2)


def test_text_without_tokens_is_an_error(gpt2):
    with pytest.raises(ToposcopeError, match=r"text 1 gives no tokens; remove empty texts"):
        run(gpt2, ["a dog", ""], text_mode="mean")
    with pytest.raises(ToposcopeError, match=r"text 1 of 'texts' has no words; remove empty texts"):
        run(gpt2, ["a dog", " "], text_mode="words")
