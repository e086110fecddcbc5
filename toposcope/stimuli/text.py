"""POS-tagged corpora and the word-swap stimuli of the integration-window method.

Corpora (:class:`Corpus`): CoNLL-U / CoNLL-X files (:func:`read_conll`), NLTK's
Brown corpus when nltk and its data are installed (:func:`read_brown`), and a
probabilistic grammar (:func:`synthetic_corpus`). Cleaning follows Skrill &
Norman-Haignere (2023): lowercase, drop punctuation, skip sentences that hold a
proper noun. Clitics split off by the treebank (``do n't``, ``it 's``) are
joined back to their word, keeping the word's tag, so that every whitespace
word is a word of the text.

Swap stimuli (:class:`SwapSet`): each sequence of ``L`` words comes with ``L``
copies, copy ``k`` having the word at position ``k`` replaced by another word
of the same tag that the model's tokenizer encodes as one token.

- :func:`natural_swaps`: ``L`` consecutive words of running text (default 40),
  replacements drawn at random (seeded).
- :func:`yoked_swaps`: unrelated sentences of equal length concatenated (e.g.
  5 x 12 words), the replacement at each position drawn among the candidates
  whose token-embedding distance to the original is closest to one target
  distance shared by all positions, so that the swap size does not vary with
  position relative to the sentence boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_file, check_option, check_positive_int
from toposcope.stimuli.core import StimulusSet, from_texts

__all__ = [
    "Corpus",
    "SwapSet",
    "corpus_from_tagged",
    "natural_swaps",
    "read_brown",
    "read_conll",
    "single_token_words",
    "synthetic_corpus",
    "yoked_swaps",
]

#: Tags of proper nouns: Universal Dependencies, Penn Treebank, Brown.
PROPER_NOUN_TAGS = frozenset({"PROPN", "NNP", "NNPS", "NP", "NPS", "NP$", "NPS$", "NNP$"})
TAG_COLUMNS = ("auto", "coarse", "fine")

#: Penn Treebank (and Brown) tags -> the universal tags of Petrov, Das & McDonald (2012).
#: A word whose own tag has no other single-token word (``to`` is the only TO,
#: ``there`` the only EX) is swapped within its universal class instead.
UNIVERSAL_TAGS: dict[str, str] = {
    **dict.fromkeys(("NN", "NNS", "NNP", "NNPS", "NP", "NPS"), "NOUN"),
    **dict.fromkeys(("VB", "VBD", "VBG", "VBN", "VBP", "VBZ", "MD"), "VERB"),
    **dict.fromkeys(("JJ", "JJR", "JJS", "JJT"), "ADJ"),
    **dict.fromkeys(("RB", "RBR", "RBS", "WRB", "RBT", "RN", "QL"), "ADV"),
    **dict.fromkeys(("PRP", "PRP$", "WP", "WP$", "PPS", "PPSS", "PPO", "PP$", "PPL", "PPLS", "PN", "WPS", "WPO"),
                    "PRON"),
    **dict.fromkeys(("DT", "PDT", "WDT", "EX", "AT", "DTI", "DTS", "DTX", "ABN", "ABX", "AP", "WDT"), "DET"),
    **dict.fromkeys(("IN",), "ADP"),
    **dict.fromkeys(("CD", "OD"), "NUM"),
    **dict.fromkeys(("CC", "CS"), "CONJ"),
    **dict.fromkeys(("RP", "TO", "POS"), "PRT"),
    **dict.fromkeys(("FW", "SYM", "LS", "UH"), "X"),
}
_CLITIC = re.compile(r"^(n't|'[a-z]*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Corpus:
    """Tagged sentences, cleaned, in reading order.

    Parameters
    ----------
    sentences : tuple of tuple of str
        Lowercase words of each sentence.
    tags : tuple of tuple of str
        One part-of-speech tag per word.
    documents : tuple of int
        Document (story, file) of each sentence; running text never crosses documents.
    name : str
    """

    sentences: tuple[tuple[str, ...], ...]
    tags: tuple[tuple[str, ...], ...]
    documents: tuple[int, ...]
    name: str = "corpus"

    def __post_init__(self) -> None:
        if not self.sentences:
            raise ToposcopeError(f"corpus {self.name!r} has no sentences left after cleaning; check the file")
        for words, tags in zip(self.sentences, self.tags):
            if len(words) != len(tags):
                raise ToposcopeError(f"corpus {self.name!r}: a sentence has {len(words)} words but {len(tags)} tags")

    @property
    def n_words(self) -> int:
        """Number of words."""
        return sum(map(len, self.sentences))

    def vocabulary(self) -> dict[str, tuple[str, ...]]:
        """Tag -> the distinct words seen with it, in order of first appearance."""
        vocab: dict[str, dict[str, None]] = {}
        for words, tags in zip(self.sentences, self.tags):
            for word, tag in zip(words, tags):
                vocab.setdefault(tag, {})[word] = None
        return {tag: tuple(words) for tag, words in vocab.items()}


def _clean(forms: Sequence[str], tags: Sequence[str], proper: Sequence[bool],
           punct: Sequence[bool]) -> tuple[list[str], list[str]] | None:
    """Cleaned (words, tags) of one sentence, or None when it holds a proper noun or nothing."""
    if any(proper):
        return None
    words: list[str] = []
    kept: list[str] = []
    for form, tag, is_punct in zip(forms, tags, punct):
        if is_punct or not any(ch.isalnum() for ch in form):
            continue
        form = form.lower()
        if _CLITIC.match(form) and words:
            words[-1] += form  # "do" + "n't" -> "don't", tagged as its head word
            continue
        words.append(form)
        kept.append(tag)
    return (words, kept) if words else None


def corpus_from_tagged(sentences: Iterable[Sequence[tuple[str, str]]], name: str = "corpus",
                       documents: Sequence[int] | None = None, clean: bool = True) -> Corpus:
    """A Corpus from sentences of ``(word, tag)`` pairs (Brown-style), cleaned by default."""
    words_out, tags_out, docs_out = [], [], []
    sentences = list(sentences)
    docs = list(documents) if documents is not None else [0] * len(sentences)
    for sentence, doc in zip(sentences, docs):
        forms = [w for w, _ in sentence]
        tags = [t for _, t in sentence]
        if clean:
            cleaned = _clean(forms, tags, [t in PROPER_NOUN_TAGS for t in tags], [False] * len(forms))
            if cleaned is None:
                continue
            forms, tags = cleaned
        if forms:
            words_out.append(tuple(forms))
            tags_out.append(tuple(tags))
            docs_out.append(int(doc))
    return Corpus(tuple(words_out), tuple(tags_out), tuple(docs_out), name=name)


# --------------------------------------------------------------------------- readers
def read_conll(path: str | Path, *, tag: str = "auto", clean: bool = True, name: str | None = None) -> Corpus:
    """Read a CoNLL-U or CoNLL-X file (one token per line, blank line between sentences).

    Parameters
    ----------
    path : path
        The file. Comment lines (``#``) are skipped; ``# newdoc`` starts a new
        document, as does a change of story in a ``TokenId=STORY.N`` MISC field
        (the Natural Stories corpus). Multi-word token ranges (``3-4``) and empty
        nodes (``5.1``) of CoNLL-U are skipped.
    tag : {"auto", "coarse", "fine"}
        Which tag column: ``coarse`` = column 4 (UPOS / CPOSTAG), ``fine`` = column
        5 (XPOS / POSTAG); ``auto`` takes column 5 unless it is ``_``.
    clean : bool
        Lowercase, drop punctuation, join clitics, skip sentences with proper nouns.
    name : str, optional
        Defaults to the file's stem.

    Returns
    -------
    Corpus
    """
    path = check_file("corpus file", path, "give a CoNLL-U or CoNLL-X file")
    check_option("tag", tag, TAG_COLUMNS)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ToposcopeError(f"corpus file {str(path)!r} is not UTF-8 ({error.reason} at byte {error.start})") from None
    sentences: list[tuple[list[str], list[str], list[bool], list[bool]]] = []
    documents: list[int] = []
    current: tuple[list[str], list[str], list[bool], list[bool]] = ([], [], [], [])
    doc, story = 0, None

    def flush() -> None:
        if current[0]:
            sentences.append(current)
            documents.append(doc)

    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if not line.strip():
            flush()
            current = ([], [], [], [])
            continue
        if line.startswith("#"):
            if line.lstrip("# ").startswith("newdoc") and sentences:
                doc += 1
            continue
        fields = line.split("\t")
        if len(fields) < 5:
            raise ToposcopeError(
                f"{path.name} line {number} has {len(fields)} tab-separated columns, not 10; "
                "is it a CoNLL-U or CoNLL-X file?"
            )
        if "-" in fields[0] or "." in fields[0]:
            continue
        misc = fields[9] if len(fields) > 9 else ""
        match = re.search(r"TokenId=(\d+)\.", misc)
        if match:
            if story is not None and match.group(1) != story and not current[0]:
                doc += 1
            story = match.group(1)
        coarse, fine = fields[3], fields[4]
        chosen = coarse if tag == "coarse" or (tag == "auto" and fine == "_") else fine
        current[0].append(fields[1])
        current[1].append(chosen)
        current[2].append(coarse in PROPER_NOUN_TAGS or fine in PROPER_NOUN_TAGS)
        current[3].append(coarse == "PUNCT")
    flush()
    return _build(sentences, documents, clean, name or path.stem)


def _build(sentences: list, documents: list[int], clean: bool, name: str) -> Corpus:
    words_out, tags_out, docs_out = [], [], []
    for (forms, tags, proper, punct), doc in zip(sentences, documents):
        if clean:
            cleaned = _clean(forms, tags, proper, punct)
            if cleaned is None:
                continue
            forms, tags = cleaned
        words_out.append(tuple(forms))
        tags_out.append(tuple(tags))
        docs_out.append(doc)
    return Corpus(tuple(words_out), tuple(tags_out), tuple(docs_out), name=name)


def _brown_tag(tag: str) -> str:
    # Brown marks titles, headlines and citations with suffixes (NN-TL, VB-HL);
    # the word class is the part before them.
    return tag.split("-")[0] if not tag.startswith("-") else tag


def read_brown(categories: str | Sequence[str] | None = None, *, clean: bool = True) -> Corpus:
    """NLTK's Brown corpus (tagged), when nltk and its ``brown`` data are installed.

    Parameters
    ----------
    categories : str or list of str, optional
        Brown categories (``"news"``, ``"fiction"``, ...); all by default. Each
        file is one document.
    clean : bool
        As in :func:`read_conll`.
    """
    try:
        from nltk.corpus import brown
    except ImportError:
        raise ToposcopeError("reading the Brown corpus needs nltk: pip install nltk") from None
    try:
        fileids = brown.fileids(categories=categories)
        sentences: list[list[tuple[str, str]]] = []
        documents: list[int] = []
        for doc, fileid in enumerate(fileids):
            for sentence in brown.tagged_sents(fileids=fileid):
                sentences.append([(w, _brown_tag(t)) for w, t in sentence])
                documents.append(doc)
    except LookupError:
        raise ToposcopeError(
            "NLTK's Brown corpus is not installed; run `python -m nltk.downloader brown`"
        ) from None
    except ValueError as error:
        raise ToposcopeError(f"unknown Brown category in {categories!r}: {error}") from None
    return corpus_from_tagged(sentences, name="brown", documents=documents, clean=clean)


def synthetic_corpus(n_sentences: int = 2000, seed: int = 0) -> Corpus:
    """Sentences from the grammar of :mod:`toposcope.stimuli.grammar`, one document."""
    from toposcope.stimuli.grammar import generate_sentences

    return corpus_from_tagged(generate_sentences(n_sentences, seed), name=f"synthetic-{seed}", clean=False)


# --------------------------------------------------------------------------- swaps
@dataclass(frozen=True)
class SwapSet:
    """Sequences of words with one replacement per position.

    Parameters
    ----------
    words, tags, replacements : ndarray of str, shape (n_sequences, L)
        ``replacements[i, k]`` replaces ``words[i, k]`` in copy ``k`` of sequence ``i``.
    sentence_starts : tuple of int
        Positions where a sentence begins, the same in every sequence (yoked
        sets); empty for running text.
    distances : ndarray, shape (n_sequences, L), optional
        Token-embedding distance of each replacement to its original.
    kind : {"natural", "yoked"}
    name : str
    """

    words: np.ndarray
    tags: np.ndarray
    replacements: np.ndarray
    sentence_starts: tuple[int, ...] = ()
    distances: np.ndarray | None = None
    kind: str = "natural"
    name: str = "swaps"

    @property
    def n_sequences(self) -> int:
        """Number of sequences."""
        return int(self.words.shape[0])

    @property
    def length(self) -> int:
        """Words per sequence, ``L``."""
        return int(self.words.shape[1])

    def texts(self, index: int) -> list[str]:
        """Sequence ``index`` as ``L + 1`` texts: the original, then copy ``k`` swapping position ``k``."""
        words = list(self.words[index])
        out = [" ".join(words)]
        for k, replacement in enumerate(self.replacements[index]):
            out.append(" ".join([*words[:k], str(replacement), *words[k + 1:]]))
        return out

    def stimulus_set(self, indices: Iterable[int] | None = None) -> StimulusSet:
        """The texts of the chosen sequences as one StimulusSet (labels ``sequence``, ``swap_pos``; -1 = original)."""
        chosen = range(self.n_sequences) if indices is None else list(indices)
        texts, sequence, swap = [], [], []
        for i in chosen:
            texts += self.texts(i)
            sequence += [i] * (self.length + 1)
            swap += list(range(-1, self.length))
        return from_texts(texts, name=self.name, labels={"sequence": sequence, "swap_pos": swap})


def single_token_words(words: Sequence[str], tokenizer: Any) -> np.ndarray:
    """Which words the tokenizer encodes as exactly one (known) token after a space.

    ``tokenizer=None`` counts every word as one token (word-level models).

    Returns
    -------
    ndarray of bool, shape (n_words,)
    """
    if tokenizer is None or not len(words):
        return np.ones(len(words), dtype=bool)
    encoded = tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
    unknown = getattr(tokenizer, "unk_token_id", None)
    return np.asarray([len(ids) == 1 and ids[0] != unknown for ids in encoded], dtype=bool)


def _candidates(tags: np.ndarray, vocabulary: Mapping[str, Sequence[str]], tokenizer: Any
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tag -> (single-token words of the tag, single-token words of its universal class)."""
    wanted = {str(t) for t in np.unique(tags)}
    classes: dict[str, list[str]] = {}
    for tag, words in vocabulary.items():
        if UNIVERSAL_TAGS.get(tag) is not None:
            classes.setdefault(UNIVERSAL_TAGS[tag], []).extend(words)
    every = sorted({w for ws in vocabulary.values() for w in ws})
    usable = dict(zip(every, single_token_words(every, tokenizer)))

    def filtered(words: Iterable[str]) -> np.ndarray:
        return np.asarray([w for w in dict.fromkeys(words) if usable.get(w, False)], dtype=object)

    return {tag: (filtered(vocabulary.get(tag, ())), filtered(classes.get(UNIVERSAL_TAGS.get(tag, ""), ())))
            for tag in wanted}


def _no_candidate(tag: str, word: str, pool: np.ndarray, where: str) -> ToposcopeError:
    have = "no word" if len(pool) == 0 else f"only {word!r}"
    universal = UNIVERSAL_TAGS.get(tag)
    also = f" (nor its class {universal})" if universal else ""
    return ToposcopeError(
        f"no single-token replacement for POS {tag!r} (word {word!r} {where}): the vocabulary has {have} "
        f"with that tag{also} that the tokenizer encodes as one token; use a larger corpus or pass "
        f"unswappable='skip' to drop such sequences"
    )


def _choose(words: np.ndarray, tags: np.ndarray, candidates: dict, rng: np.random.Generator,
            unswappable: str, pick: Callable | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replacement per position; returns (replacements, kept sequence mask, distances)."""
    replacements = np.empty(words.shape, dtype=object)
    distances = np.full(words.shape, np.nan)
    keep = np.ones(len(words), dtype=bool)
    for i in range(words.shape[0]):
        for k in range(words.shape[1]):
            pool, fallback = candidates[str(tags[i, k])]
            options = pool[pool != words[i, k]]
            if options.size == 0:
                options = fallback[fallback != words[i, k]]
            if options.size == 0:
                if unswappable == "raise":
                    raise _no_candidate(str(tags[i, k]), str(words[i, k]), pool, f"at sequence {i}, position {k}")
                keep[i] = False
                break
            if pick is None:
                replacements[i, k] = options[int(rng.integers(options.size))]
            else:
                replacements[i, k], distances[i, k] = pick(words[i, k], options, rng)
    return replacements, keep, distances


def natural_swaps(
    corpus: Corpus, tokenizer: Any = None, *, length: int = 40, n_sequences: int | None = None, seed: int = 0,
    unswappable: str = "raise", vocabulary: Mapping[str, Sequence[str]] | None = None,
) -> SwapSet:
    """Runs of ``length`` consecutive words, each with one random same-tag swap per position.

    Parameters
    ----------
    corpus : Corpus
    tokenizer : Hugging Face tokenizer, optional
        Replacements must be one token of it (``None``: any word).
    length : int
        Words per sequence, ``L`` (the method's default, 40).
    n_sequences : int, optional
        Keep this many sequences (a seeded random choice, in corpus order); all by default.
    seed : int
        Seeds the choice of sequences and replacements.
    unswappable : {"raise", "skip"}
        A word whose tag has no other single-token word: raise naming the tag, or drop its sequence.
    vocabulary : mapping of tag to words, optional
        Replacement candidates; the corpus's own vocabulary by default.

    Returns
    -------
    SwapSet
        Non-overlapping windows; text never runs across documents.
    """
    check_positive_int("length", length)
    check_option("unswappable", unswappable, ("raise", "skip"))
    runs: dict[int, tuple[list[str], list[str]]] = {}
    for words, tags, doc in zip(corpus.sentences, corpus.tags, corpus.documents):
        run = runs.setdefault(doc, ([], []))
        run[0].extend(words)
        run[1].extend(tags)
    windows = [(w[s:s + length], t[s:s + length]) for w, t in runs.values() for s in range(0, len(w) - length + 1, length)]
    if not windows:
        longest = max(len(w) for w, _ in runs.values())
        raise ToposcopeError(
            f"corpus {corpus.name!r} has no run of {length} words (its longest document has {longest}); "
            f"use a smaller length or a larger corpus"
        )
    rng = np.random.default_rng(seed)
    if n_sequences is not None:
        check_positive_int("n_sequences", n_sequences)
        picked = np.sort(rng.choice(len(windows), size=min(n_sequences, len(windows)), replace=False))
        windows = [windows[i] for i in picked]
    words = np.asarray([w for w, _ in windows], dtype=object)
    tags = np.asarray([t for _, t in windows], dtype=object)
    candidates = _candidates(tags, vocabulary or corpus.vocabulary(), tokenizer)
    replacements, keep, _ = _choose(words, tags, candidates, rng, unswappable)
    if not keep.any():
        raise ToposcopeError(f"every sequence of {corpus.name!r} holds a word without a single-token replacement")
    return SwapSet(words[keep], tags[keep], replacements[keep], kind="natural", name=f"{corpus.name}-natural")


def _word_vectors(words: Sequence[str], tokenizer: Any, embeddings: np.ndarray) -> np.ndarray:
    """Mean input embedding of each word's tokens, shape (n_words, dim)."""
    if tokenizer is None:
        raise ToposcopeError("matching swap distances needs the model's tokenizer to look up embeddings")
    encoded = tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]
    return np.stack([embeddings[ids].mean(axis=0) if ids else np.zeros(embeddings.shape[1]) for ids in encoded])


def yoked_swaps(
    corpus: Corpus, tokenizer: Any = None, *, n_sentences: int = 5, sentence_length: int = 12,
    n_sequences: int = 20, embeddings: Any = None, closest: int = 3, seed: int = 0,
    unswappable: str = "raise", vocabulary: Mapping[str, Sequence[str]] | None = None,
) -> SwapSet:
    """Sequences of ``n_sentences`` unrelated sentences of ``sentence_length`` words, with swaps.

    Parameters
    ----------
    corpus : Corpus
        Needs at least ``n_sentences`` sentences of exactly ``sentence_length`` words.
    tokenizer : Hugging Face tokenizer, optional
    n_sentences, sentence_length : int
        The sequence is ``n_sentences * sentence_length`` words; sentences start
        at multiples of ``sentence_length``.
    n_sequences : int
    embeddings : array (vocab_size, dim), optional
        The model's input token embeddings. With them, the target distance is
        the median over all positions of each position's median candidate
        distance, and each position draws among its ``closest`` candidates to
        that target; without them, replacements are random.
    closest : int
        Candidates to draw from at each position.
    seed : int
    unswappable : {"raise", "skip"}
    vocabulary : mapping of tag to words, optional

    Returns
    -------
    SwapSet
        ``kind="yoked"``, ``sentence_starts`` = ``0, L_s, 2 L_s, ...``.
    """
    check_positive_int("n_sentences", n_sentences)
    check_positive_int("sentence_length", sentence_length)
    check_positive_int("n_sequences", n_sequences)
    check_positive_int("closest", closest)
    check_option("unswappable", unswappable, ("raise", "skip"))
    if len(corpus.sentences) < 2:
        raise ToposcopeError(
            f"corpus {corpus.name!r} has no sentence boundaries (it is one sentence); structure-yoked "
            "sequences need a corpus split into sentences (blank lines between sentences in CoNLL files)"
        )
    if n_sentences < 2:
        raise ToposcopeError("n_sentences must be at least 2: a single sentence has no boundary to yoke to")
    pool = [i for i, s in enumerate(corpus.sentences) if len(s) == sentence_length]
    if len(pool) < n_sentences:
        raise ToposcopeError(
            f"corpus {corpus.name!r} has {len(pool)} sentences of {sentence_length} words; structure-yoked "
            f"sequences need at least {n_sentences}; choose another sentence_length or a larger corpus"
        )
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(pool))
    chosen = []
    for _ in range(n_sequences):
        if len(order) < n_sentences:  # reuse sentences once every one has been used
            order += list(rng.permutation(pool))
        chosen.append([order.pop() for _ in range(n_sentences)])
    words = np.asarray([[w for s in seq for w in corpus.sentences[s]] for seq in chosen], dtype=object)
    tags = np.asarray([[t for s in seq for t in corpus.tags[s]] for seq in chosen], dtype=object)
    candidates = _candidates(tags, vocabulary or corpus.vocabulary(), tokenizer)
    pick = None
    if embeddings is not None:
        pick = _distance_picker(words, tags, candidates, tokenizer, np.asarray(embeddings, dtype=np.float64), closest)
    replacements, keep, distances = _choose(words, tags, candidates, rng, unswappable, pick)
    if not keep.any():
        raise ToposcopeError(f"every yoked sequence of {corpus.name!r} holds a word without a single-token replacement")
    starts = tuple(range(0, n_sentences * sentence_length, sentence_length))
    return SwapSet(words[keep], tags[keep], replacements[keep], sentence_starts=starts,
                   distances=distances[keep] if embeddings is not None else None, kind="yoked",
                   name=f"{corpus.name}-yoked")


def _distance_picker(words: np.ndarray, tags: np.ndarray, candidates: dict, tokenizer: Any,
                     embeddings: np.ndarray, closest: int) -> Callable:
    """A ``pick(word, options, rng) -> (replacement, distance)`` matching one target distance."""
    vocab = sorted({str(w) for w in words.ravel()} | {str(w) for pair in candidates.values() for ws in pair for w in ws})
    vectors = dict(zip(vocab, _word_vectors(vocab, tokenizer, embeddings)))
    medians = []
    for word, tag in zip(words.ravel(), tags.ravel()):
        pool, fallback = candidates[str(tag)]
        options = pool[pool != word]
        if options.size == 0:
            options = fallback[fallback != word]
        if options.size:
            medians.append(np.median([np.linalg.norm(vectors[str(o)] - vectors[str(word)]) for o in options]))
    target = float(np.median(medians)) if medians else 0.0

    def pick(word: str, options: np.ndarray, rng: np.random.Generator) -> tuple[str, float]:
        dist = np.asarray([np.linalg.norm(vectors[str(o)] - vectors[str(word)]) for o in options])
        nearest = np.argsort(np.abs(dist - target), kind="stable")[:closest]
        index = nearest[int(rng.integers(nearest.size))]
        return options[index], float(dist[index])

    return pick
