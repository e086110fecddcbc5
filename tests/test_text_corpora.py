"""Tagged corpora (CoNLL-U / CoNLL-X, Brown, the grammar) and word-swap stimuli, on known inputs."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import shared_path

from toposcope._validation import ToposcopeError
from toposcope.stimuli.grammar import LEXICON, generate_sentences, lexicon_tags
from toposcope.stimuli.text import (
    Corpus,
    corpus_from_tagged,
    natural_swaps,
    read_brown,
    read_conll,
    single_token_words,
    synthetic_corpus,
    yoked_swaps,
)

CONLLU = """# newdoc id = a
# sent_id = 1
# text = The dog didn't bark, it slept.
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\t_\t4\tnsubj\t_\t_
3-4\tdidn't\t_\t_\t_\t_\t_\t_\t_\t_
3\tdid\tdo\tAUX\tVBD\t_\t5\taux\t_\t_
4\tn't\tnot\tPART\tRB\t_\t5\tadvmod\t_\t_
5\tbark\tbark\tVERB\tVB\t_\t0\troot\t_\t_
5.1\tand\t_\tCCONJ\tCC\t_\t_\t_\t_\t_
6\t,\t,\tPUNCT\t,\t_\t5\tpunct\t_\t_
7\tit\tit\tPRON\tPRP\t_\t8\tnsubj\t_\t_
8\tslept\tsleep\tVERB\tVBD\t_\t5\tconj\t_\t_
9\t.\t.\tPUNCT\t.\t_\t5\tpunct\t_\t_

# sent_id = 2
1\tMary\tMary\tPROPN\tNNP\t_\t2\tnsubj\t_\t_
2\tran\trun\tVERB\tVBD\t_\t0\troot\t_\t_

# newdoc id = b
1\tCats\tcat\tNOUN\tNNS\t_\t2\tnsubj\t_\t_
2\tsleep\tsleep\tVERB\tVBP\t_\t0\troot\t_\t_
"""

CONLLX = """1\tIt\t_\tPRP\tPRP\t_\t2\tnsubj\t_\tTokenId=1.1
2\tshows\t_\tVBZ\tVBZ\t_\t0\troot\t_\tTokenId=1.2
3\ta\t_\tDT\tDT\t_\t4\tdet\t_\tTokenId=1.3
4\tboar\t_\tNN\tNN\t_\t2\tdobj\t_\tTokenId=1.4
5\t's\t_\tPOS\tPOS\t_\t4\tpossessive\t_\tTokenId=1.5
6\t``\t_\t``\t``\t_\t2\tpunct\t_\tTokenId=1.6

1\tWe\t_\tPRP\tPRP\t_\t2\tnsubj\t_\tTokenId=2.1
2\twent\t_\tVBD\tVBD\t_\t0\troot\t_\tTokenId=2.2
"""


@pytest.fixture
def conllu(tmp_path):
    path = tmp_path / "sample.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    return path


def test_conllu_cleaning_documents_and_tags(conllu):
    corpus = read_conll(conllu)
    # Sentence 2 has a proper noun and is skipped; ranges, empty nodes, punctuation dropped; n't joined.
    assert corpus.sentences == (("the", "dog", "didn't", "bark", "it", "slept"), ("cats", "sleep"))
    assert corpus.tags == (("DT", "NN", "VBD", "VB", "PRP", "VBD"), ("NNS", "VBP"))
    assert corpus.documents == (0, 1)
    assert read_conll(conllu, tag="coarse").tags[0][:3] == ("DET", "NOUN", "AUX")
    raw = read_conll(conllu, clean=False)
    assert len(raw.sentences) == 3 and raw.sentences[0][0] == "The"


def test_conllx_story_ids_clitics_and_quotes(tmp_path):
    path = tmp_path / "stories.conllx"
    path.write_text(CONLLX, encoding="utf-8")
    corpus = read_conll(path)
    assert corpus.sentences == (("it", "shows", "a", "boar's"), ("we", "went"))
    assert corpus.tags[0] == ("PRP", "VBZ", "DT", "NN")
    assert corpus.documents == (0, 1)  # TokenId=STORY.N: a new story is a new document
    assert corpus.vocabulary()["PRP"] == ("it", "we")


def test_conll_errors(tmp_path):
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tword\tNOUN\n", encoding="utf-8")
    with pytest.raises(ToposcopeError, match="tab-separated columns"):
        read_conll(bad)
    with pytest.raises(ToposcopeError, match="does not exist"):
        read_conll(tmp_path / "missing.conllu")
    only_names = tmp_path / "names.conllu"
    only_names.write_text("1\tMary\t_\tPROPN\tNNP\t_\t0\troot\t_\t_\n", encoding="utf-8")
    with pytest.raises(ToposcopeError, match="no sentences left after cleaning"):
        read_conll(only_names)
    with pytest.raises(ToposcopeError, match="unknown tag"):
        read_conll(only_names, tag="upos")


def test_naturalstories_conllx():
    path = shared_path("stimuli", "text", "naturalstories", "stories-aligned.conllx")
    corpus = read_conll(path)
    assert len(set(corpus.documents)) == 10  # ten stories
    assert len(corpus.sentences) > 200 and corpus.n_words > 4000
    tags = {t for sentence in corpus.tags for t in sentence}
    assert not tags & {"NNP", "NNPS", ",", ".", "``", "''"}
    words = [w for sentence in corpus.sentences for w in sentence]
    assert all(w == w.lower() and any(ch.isalnum() for ch in w) for w in words)
    assert corpus.sentences[0][:3] == ("it", "shows", "a")  # story 1's first sentence has "England": skipped


def test_brown_needs_nltk(monkeypatch):
    monkeypatch.setitem(sys.modules, "nltk", None)
    monkeypatch.setitem(sys.modules, "nltk.corpus", None)
    with pytest.raises(ToposcopeError, match="needs nltk"):
        read_brown()


def test_brown_when_installed():
    pytest.importorskip("nltk")
    try:
        corpus = read_brown("news")
    except ToposcopeError as error:
        pytest.skip(str(error))
    assert corpus.n_words > 10_000
    assert not {t for s in corpus.tags for t in s if t.startswith("NP")}


def test_grammar_is_seeded_and_tagged():
    first, again = generate_sentences(50, seed=3), generate_sentences(50, seed=3)
    assert first == again and first != generate_sentences(50, seed=4)
    known = lexicon_tags()
    assert all(word in known[tag] for sentence in first for word, tag in sentence)
    assert {len(s) for s in generate_sentences(20, seed=0, length=12)} == {12}
    assert all(len(words) >= 3 for words in LEXICON.values())
    with pytest.raises(ToposcopeError, match="rarely makes sentences"):
        generate_sentences(2, length=60, max_tries=5)


@pytest.fixture(scope="module")
def grammar():
    return synthetic_corpus(1500, seed=1)


@pytest.fixture(scope="module")
def tokenizer():
    from toposcope.models.demo_lm import word_tokenizer

    # "children" and "cities" left out: they become [UNK], i.e. not one known token.
    words = [w for ws in LEXICON.values() for w in ws if w not in ("children", "cities")]
    return word_tokenizer(words)


def test_single_token_words(tokenizer):
    assert single_token_words(["dog", "children", "zzz"], tokenizer).tolist() == [True, False, False]
    assert single_token_words(["anything"], None).tolist() == [True]


def test_natural_swaps(grammar, tokenizer):
    swaps = natural_swaps(grammar, tokenizer, length=30, n_sequences=8, seed=5)
    assert (swaps.n_sequences, swaps.length) == (8, 30)
    vocab = grammar.vocabulary()
    for i in range(swaps.n_sequences):
        for k in range(swaps.length):
            original, new = swaps.words[i, k], swaps.replacements[i, k]
            assert new != original and new in vocab[swaps.tags[i, k]]
            assert new not in ("children", "cities")
        texts = swaps.texts(i)
        assert len(texts) == 31
        for k, text in enumerate(texts[1:]):
            differ = [j for j, (a, b) in enumerate(zip(texts[0].split(), text.split())) if a != b]
            assert differ == [k]
    again = natural_swaps(grammar, tokenizer, length=30, n_sequences=8, seed=5)
    assert np.array_equal(again.replacements, swaps.replacements)
    assert not np.array_equal(natural_swaps(grammar, tokenizer, length=30, n_sequences=8, seed=6).replacements,
                              swaps.replacements)
    stimuli = swaps.stimulus_set([0])
    assert len(stimuli) == 31 and stimuli.labels["swap_pos"][0] == -1


def test_pos_class_without_replacement_names_it():
    sentences = [[("the", "DT"), ("dog", "NN"), ("zorp", "XYZ")], [("a", "DT"), ("cat", "NN"), ("zorp", "XYZ")]] * 3
    corpus = corpus_from_tagged(sentences, clean=False)
    with pytest.raises(ToposcopeError, match="no single-token replacement for POS 'XYZ' \\(word 'zorp'"):
        natural_swaps(corpus, None, length=6)
    # A tag whose words all split into several tokens has no replacement either.
    from toposcope.models.demo_lm import word_tokenizer

    with pytest.raises(ToposcopeError, match="POS 'NN'"):
        natural_swaps(corpus, word_tokenizer(["the", "a", "zorp"]), length=6)
    # Falling back to the universal class: "to" (TO) may be swapped with "up" (RP), both PRT.
    mixed = corpus_from_tagged([[("go", "VB"), ("to", "TO"), ("bed", "NN")], [("get", "VB"), ("up", "RP"),
                                                                              ("now", "RB")],
                                [("now", "RB"), ("here", "RB"), ("cat", "NN")]] * 2, clean=False)
    swaps = natural_swaps(mixed, None, length=9, unswappable="skip")
    assert swaps.replacements[0, 1] == "up"
    with pytest.raises(ToposcopeError, match="every sequence"):
        natural_swaps(corpus, None, length=6, unswappable="skip")


def test_sequences_longer_than_the_corpus(grammar):
    short = corpus_from_tagged([[("the", "DT"), ("dog", "NN")], [("a", "DT"), ("cat", "NN")]], clean=False)
    with pytest.raises(ToposcopeError, match="no run of 40 words"):
        natural_swaps(short, None, length=40)


def test_yoked_swaps_and_matched_distances(grammar, tokenizer):
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(tokenizer), 16))
    matched = yoked_swaps(grammar, tokenizer, n_sentences=4, sentence_length=8, n_sequences=12,
                          embeddings=embeddings, seed=1)
    assert matched.sentence_starts == (0, 8, 16, 24) and matched.length == 32
    assert all(len(set(matched.words[i, s:s + 8])) >= 1 for i in range(12) for s in (0, 8, 16, 24))
    random = yoked_swaps(grammar, tokenizer, n_sentences=4, sentence_length=8, n_sequences=12, seed=1)
    assert random.distances is None
    # Distances of the random draws, for comparison with the matched ones.
    originals = tokenizer.convert_tokens_to_ids(list(random.words.ravel()))
    replacements = tokenizer.convert_tokens_to_ids(list(random.replacements.ravel()))
    spread_random = np.std([np.linalg.norm(embeddings[a] - embeddings[b]) for a, b in zip(originals, replacements)])
    per_position = np.nanmean(matched.distances, axis=0)
    assert np.nanstd(matched.distances) < 0.5 * spread_random
    assert np.ptp(per_position) < 0.5 * spread_random


def test_yoked_errors(grammar):
    one = Corpus(sentences=(("a", "dog", "ran"),), tags=(("DT", "NN", "VBD"),), documents=(0,))
    with pytest.raises(ToposcopeError, match="no sentence boundaries"):
        yoked_swaps(one)
    with pytest.raises(ToposcopeError, match="sentences of 40 words"):
        yoked_swaps(grammar, sentence_length=40)
    with pytest.raises(ToposcopeError, match="at least 2"):
        yoked_swaps(grammar, n_sentences=1)
    with pytest.raises(ToposcopeError, match="needs the model's tokenizer"):
        yoked_swaps(grammar, None, sentence_length=8, embeddings=np.zeros((5, 2)))
