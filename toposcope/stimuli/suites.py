"""Test suites: sentences (or sentence pairs) in conditions, and the contrast each one tests.

Topoformer draws a layer's response to a suite as a selectivity map: per unit,
the t-test between the suite's two conditions
(:func:`toposcope.analysis.suites.suite_maps`). A :class:`Suite` is the
stimulus set and that contrast. Three sources:

- :func:`read_suite`: a plain CSV file with columns ``sentence`` and
  ``condition`` and, optionally, ``item`` (sentences of one item are versions
  of one another across conditions, for a paired test). The first two
  conditions in file order are the contrast unless ``contrast=`` says otherwise.
  Use it for suites whose sentences cannot be shipped.
- :func:`grammar_suites`: suites made from the project's grammar
  (:mod:`toposcope.stimuli.grammar`), shipped because they are generated:
  ``intactness`` (sentences vs the same words scrambled), ``agreement``
  (grammatical vs subject-verb number violated), ``number`` (plural vs singular
  subject), ``animacy`` (animate vs inanimate subject), ``tense`` (past vs
  present) and ``transitivity`` (transitive vs intransitive verb); every item is
  one frame in both conditions.
- :func:`semantic_suites`: two suites of meaning rather than form, made from
  templates and word lists of this module: ``sentiment`` (a positive vs a
  negative evaluative word: Topoformer's first model was trained on sentiment)
  and ``concreteness`` (a concrete vs an abstract object noun). Each item is one
  sentence frame in both conditions, differing in that one word. Their words
  lie outside the grammar's lexicon, so the shipped tiny Topoformers (trained
  on grammar text only) read them as unknown tokens: use them on models with
  an English vocabulary.
- :func:`language_suites`: TopoLM's contrasts on the files toposcope already
  reads (:func:`~toposcope.stimuli.language.load_language`): sentences vs
  non-words (and words, Jabberwocky), nouns vs verbs, abstract vs concrete.

The Topoformer paper (Binhuraib, Tuckute & Blauch) evaluates its BERT on eight
linguistic test suites whose stimulus lists are not part of its public code
(``TahaBinhuraib/topoformer`` holds none). Suites whose sentences toposcope
cannot ship go through :func:`read_suite`: save the published stimuli (from the
paper's supplementary material or its authors) as a CSV file in the format
above, one row per sentence, and give its path wherever a suite spec is taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_file, check_positive_int
from toposcope.stimuli._csv import read_rows
from toposcope.stimuli.core import StimulusSet

__all__ = [
    "GRAMMAR_SENTENCES",
    "GRAMMAR_SUITES",
    "SEMANTIC_SUITES",
    "SUITE_CSV_HINT",
    "Suite",
    "grammar_sentences",
    "grammar_suite",
    "grammar_suites",
    "language_suites",
    "load_suite",
    "read_suite",
    "semantic_suite",
    "semantic_suites",
]

#: What a suite file must hold, and where suites that toposcope does not ship come from.
SUITE_CSV_HINT = (
    "give a UTF-8 CSV with a header row and columns sentence, condition (and optionally item: the "
    "sentences of one item are versions of one another across conditions); suites whose sentences "
    "toposcope does not ship (such as the published Topoformer test suites) must be saved in that format "
    "from their source (the paper's supplementary material or its authors); shipped suites: 'grammar', "
    "'grammar:NAME', 'semantic', 'semantic:NAME', 'topolm:PATH'"
)


@dataclass(frozen=True)
class Suite:
    """A test suite: its stimuli and the contrast it tests.

    Parameters
    ----------
    name : str
    stimuli : StimulusSet
        Texts with labels ``condition`` (also ``category``) and ``item``
        (the item each sentence belongs to; every sentence its own item when
        the suite has none).
    target, reference : str
        The two values of ``label`` compared (target minus reference).
    label : str
        The stimulus label holding the conditions (``"condition"``).
    paired : bool
        Whether every item has one sentence in each of the two conditions, so
        that a paired test is possible.
    """

    name: str
    stimuli: StimulusSet
    target: str
    reference: str
    label: str = "condition"
    paired: bool = False

    @property
    def contrast(self) -> dict[str, Any]:
        """The contrast as :func:`toposcope.analysis.selectivity.as_contrast` takes it."""
        return {"name": self.name, "target": (self.target,), "reference": (self.reference,), "label": self.label}


def _is_paired(conditions: np.ndarray, items: np.ndarray, target: str, reference: str) -> bool:
    """Every item that appears in the two conditions has exactly one sentence in each, and all do."""
    chosen = np.isin(conditions, (target, reference))
    pairs: dict[str, list[str]] = {}
    for item, condition in zip(items[chosen], conditions[chosen]):
        pairs.setdefault(str(item), []).append(str(condition))
    return bool(pairs) and all(sorted(v) == sorted((target, reference)) for v in pairs.values())


def make_suite(name: str, texts: list[str], conditions: list[str], items: list[str] | None = None,
               contrast: tuple[str, str] | str | None = None, label: str = "condition") -> Suite:
    """A :class:`Suite` from texts and their conditions (and items); checks that two conditions exist."""
    conditions_array = np.asarray(conditions, dtype=object)
    order = list(dict.fromkeys(conditions_array.tolist()))
    if len(order) < 2:
        raise ToposcopeError(
            f"suite {name!r} has one condition ({order[0]!r}) but a contrast needs two; "
            "give sentences of at least two conditions"
        )
    if contrast is None:
        target, reference = order[0], order[1]
    else:
        if isinstance(contrast, str):
            parts = [p.strip() for p in contrast.split(" vs ")]
            if len(parts) != 2:
                raise ToposcopeError(f"suite contrast must be 'A vs B', got {contrast!r}")
            contrast = (parts[0], parts[1])
        target, reference = (str(c) for c in contrast)
        missing = [c for c in (target, reference) if c not in order]
        if missing:
            raise ToposcopeError(f"suite {name!r} has no condition {missing[0]!r}; its conditions are {order}")
    item_array = np.asarray(items if items is not None else [f"{i}" for i in range(len(texts))], dtype=object)
    stimuli = StimulusSet(items=tuple(texts), kind="text", name=f"suite-{name}",
                          labels={"category": conditions_array, "condition": conditions_array, "item": item_array})
    paired = items is not None and _is_paired(conditions_array, item_array, target, reference)
    return Suite(name=name, stimuli=stimuli, target=target, reference=reference, label=label, paired=paired)


def read_suite(path: str | Path, *, contrast: tuple[str, str] | str | None = None,
               name: str | None = None) -> Suite:
    """A suite from a CSV file with columns ``sentence``, ``condition`` and optionally ``item``.

    Parameters
    ----------
    path : path
        UTF-8 CSV with a header row; other columns are ignored.
    contrast : "A vs B" or (A, B), optional
        The conditions compared; the first two in file order by default.
    name : str, optional
        The suite's name; the file's stem by default.

    Raises
    ------
    ToposcopeError
        A missing column, an empty sentence or condition, or fewer than two conditions.
    """
    path = check_file("suite file", path, SUITE_CSV_HINT)
    header, rows = read_rows(path, "suite file")
    missing = [c for c in ("sentence", "condition") if c not in header]
    if missing:
        raise ToposcopeError(f"suite file {path.name} has no column {missing[0]!r}; its columns are {header}; "
                             "a suite needs sentence, condition (and optionally item)")
    if not rows:
        raise ToposcopeError(f"suite file {path.name} has no sentences")
    for line, row in enumerate(rows, start=2):
        for column in ("sentence", "condition"):
            if not row[column]:
                raise ToposcopeError(f"suite file {path.name}, line {line}: empty {column}")
    items = [row["item"] for row in rows] if "item" in header else None
    return make_suite(name or path.stem, [row["sentence"] for row in rows], [row["condition"] for row in rows],
                      items, contrast)


# --------------------------------------------------------------------------- suites from the grammar
_ANIMATE = ("dog", "cat", "child", "farmer", "teacher", "bird", "horse", "friend", "doctor", "student", "baker",
            "sailor", "painter")
_INANIMATE = ("river", "garden", "house", "window", "book", "letter", "song", "story", "table", "road", "boat",
              "city", "forest", "village", "kitchen", "lamp", "door")
#: Past and present (third person singular / plural) forms of the same verbs.
_VERBS = (("saw", "sees", "see"), ("found", "finds", "find"), ("liked", "likes", "like"),
          ("followed", "follows", "follow"), ("watched", "watches", "watch"), ("helped", "helps", "help"),
          ("carried", "carries", "carry"), ("opened", "opens", "open"), ("visited", "visits", "visit"),
          ("called", "calls", "call"))

#: The grammar suites and their (target, reference) conditions.
GRAMMAR_SUITES: dict[str, tuple[str, str]] = {
    "intactness": ("sentences", "scrambled"),
    "agreement": ("grammatical", "violation"),
    "number": ("plural", "singular"),
    "animacy": ("animate", "inanimate"),
    "tense": ("past", "present"),
    "transitivity": ("transitive", "intransitive"),
}


def _plural(noun: str) -> str:
    from toposcope.stimuli.grammar import LEXICON

    return LEXICON["NNS"][LEXICON["NN"].index(noun)]


def _frame(rng: np.random.Generator) -> dict[str, str]:
    """One item's words: subject nouns of both animacies, a verb, an object, optional adjective and tail."""
    from toposcope.stimuli.grammar import LEXICON

    pick = lambda words: str(words[int(rng.integers(len(words)))])
    adjective = f"{pick(LEXICON['JJ'])} " if rng.random() < 0.5 else ""
    tail = f" {pick(LEXICON['IN'])} the {pick(LEXICON['NN'])}" if rng.random() < 0.5 else ""
    return {"animate": pick(_ANIMATE), "inanimate": pick(_INANIMATE), "verb": str(int(rng.integers(len(_VERBS)))),
            "object": pick(LEXICON["NN"]), "adjective": adjective, "tail": tail,
            "intransitive": pick(LEXICON["VBD_i"]), "adverb": pick(LEXICON["RB"])}


def _pair(suite: str, f: dict[str, str], rng: np.random.Generator) -> tuple[str, str]:
    past, singular, plural = _VERBS[int(f["verb"])]
    subject, obj, adj, tail = f["animate"], f["object"], f["adjective"], f["tail"]
    if suite == "agreement":
        if rng.random() < 0.5:
            return (f"the {adj}{subject} {singular} the {obj}{tail}", f"the {adj}{subject} {plural} the {obj}{tail}")
        many = _plural(subject)
        return (f"the {adj}{many} {plural} the {obj}{tail}", f"the {adj}{many} {singular} the {obj}{tail}")
    if suite == "number":
        return (f"the {adj}{_plural(subject)} {plural} the {obj}{tail}", f"the {adj}{subject} {singular} the {obj}{tail}")
    if suite == "animacy":
        return (f"the {adj}{subject} {past} the {obj}{tail}", f"the {adj}{f['inanimate']} {past} the {obj}{tail}")
    if suite == "tense":
        return (f"the {adj}{subject} {past} the {obj}{tail}", f"the {adj}{subject} {singular} the {obj}{tail}")
    if suite == "transitivity":
        return (f"the {adj}{subject} {past} the {obj}", f"the {adj}{subject} {f['intransitive']} {f['adverb']}")
    raise ToposcopeError(f"unknown grammar suite {suite!r}; known: {', '.join(GRAMMAR_SUITES)}")


def grammar_suite(name: str, n_items: int = 60, seed: int = 0) -> Suite:
    """One suite made from the project's grammar: ``n_items`` items, each in both conditions.

    The ``intactness`` suite pairs a grammatical sentence of 8 words with the same
    words in a random order; the others pair two versions of one frame that differ
    only where the contrast says (the subject, the verb form, ...).
    """
    check_positive_int("n_items", n_items)
    if name not in GRAMMAR_SUITES:
        raise ToposcopeError(f"unknown grammar suite {name!r}; known: {', '.join(GRAMMAR_SUITES)}")
    target, reference = GRAMMAR_SUITES[name]
    # Each suite draws from its own stream, so that adding a suite changes no other.
    rng = np.random.default_rng([seed, list(GRAMMAR_SUITES).index(name)])
    texts, conditions, items = [], [], []
    if name == "intactness":
        from toposcope.stimuli.grammar import generate_sentences

        for i, sentence in enumerate(generate_sentences(n_items, seed, length=8)):
            words = [w for w, _ in sentence]
            scrambled = list(words)
            while scrambled == words:
                scrambled = [str(w) for w in rng.permutation(words)]
            texts += [" ".join(words), " ".join(scrambled)]
            conditions += [target, reference]
            items += [f"{i}", f"{i}"]
    else:
        for i in range(n_items):
            first, second = _pair(name, _frame(rng), rng)
            texts += [first, second]
            conditions += [target, reference]
            items += [f"{i}", f"{i}"]
    return make_suite(name, texts, conditions, items)


def grammar_suites(n_items: int = 60, seed: int = 0) -> list[Suite]:
    """Every grammar suite (:data:`GRAMMAR_SUITES`), ``n_items`` items each."""
    return [grammar_suite(name, n_items, seed) for name in GRAMMAR_SUITES]


#: Sentences and seed of ``toposcope.stimuli.load("grammar")``: held out from the shipped
#: Topoformers' training (scripts/train_topoformer.py draws with seed 0).
GRAMMAR_SENTENCES = (1000, 12345)


def grammar_sentences(n_sentences: int = GRAMMAR_SENTENCES[0], seed: int = GRAMMAR_SENTENCES[1]) -> StimulusSet:
    """Random sentences of the project's grammar, as a text set (``toposcope.stimuli.load("grammar[:N]")``)."""
    from toposcope.stimuli.grammar import generate_sentences

    check_positive_int("n_sentences", n_sentences)
    texts = [" ".join(w for w, _ in s) for s in generate_sentences(n_sentences, seed=seed)]
    return StimulusSet(items=tuple(texts), kind="text", name=f"grammar-{n_sentences}-{seed}")


# --------------------------------------------------------------------------- suites of meaning, from templates
#: The semantic suites and their (target, reference) conditions.
SEMANTIC_SUITES: dict[str, tuple[str, str]] = {
    "sentiment": ("positive", "negative"),
    "concreteness": ("concrete", "abstract"),
}

#: Evaluative words by polarity, as (adjectives, verbs of attitude); the lists pair up one to one.
_POSITIVE = (("wonderful", "delightful", "brilliant", "lovely", "excellent", "charming", "pleasant", "superb",
              "joyful", "cheerful", "beautiful", "marvelous"),
             ("loved", "enjoyed", "praised", "admired", "adored", "welcomed", "celebrated", "liked"))
_NEGATIVE = (("terrible", "dreadful", "awful", "horrible", "miserable", "boring", "ugly", "nasty",
              "dismal", "painful", "gloomy", "rotten"),
             ("hated", "disliked", "dreaded", "despised", "resented", "feared", "mocked", "loathed"))
#: Subjects who can hold an opinion.
_PEOPLE = ("child", "farmer", "teacher", "friend", "doctor", "student", "baker", "sailor", "painter")
#: Things that can be evaluated either way.
_EVALUATED = ("film", "meal", "trip", "party", "concert", "show", "book", "song", "story", "game", "holiday",
              "lecture", "speech", "play")
#: Countable nouns: things one can touch, and things one cannot.
_CONCRETE = ("table", "hammer", "apple", "chair", "stone", "bottle", "blanket", "bicycle", "candle", "basket",
             "ladder", "jacket", "spoon", "pillow", "bucket", "wagon")
_ABSTRACT = ("idea", "theory", "belief", "memory", "opinion", "plan", "rule", "reason", "question", "promise",
             "dream", "lesson", "fact", "doubt", "hope", "secret")
#: Verbs that take a concrete and an abstract object alike.
_NEUTRAL_VERBS = ("described", "remembered", "mentioned", "considered", "noticed", "forgot", "explained",
                  "questioned", "examined", "discussed")


def _semantic_pair(name: str, rng: np.random.Generator) -> tuple[str, str]:
    """One item of a semantic suite: the same frame with the target word, then with the reference word."""
    pick = lambda words: str(words[int(rng.integers(len(words)))])
    subject = pick(_PEOPLE)
    if name == "sentiment":
        if rng.random() < 0.5:
            k = int(rng.integers(len(_POSITIVE[0])))
            frame = f"the {subject} said that the {pick(_EVALUATED)} was {{}}"
            return frame.format(_POSITIVE[0][k]), frame.format(_NEGATIVE[0][k])
        k = int(rng.integers(len(_POSITIVE[1])))
        frame = f"the {subject} {{}} the {pick(_EVALUATED)}"
        return frame.format(_POSITIVE[1][k]), frame.format(_NEGATIVE[1][k])
    if name == "concreteness":
        frame = f"the {subject} {pick(_NEUTRAL_VERBS)} the {{}}"
        tail = f" {pick(('today', 'again', 'carefully', 'at last', 'once more'))}" if rng.random() < 0.5 else ""
        return frame.format(pick(_CONCRETE)) + tail, frame.format(pick(_ABSTRACT)) + tail
    raise ToposcopeError(f"unknown semantic suite {name!r}; known: {', '.join(SEMANTIC_SUITES)}")


def semantic_suite(name: str, n_items: int = 60, seed: int = 0) -> Suite:
    """One suite of meaning (:data:`SEMANTIC_SUITES`): ``n_items`` frames, each in both conditions.

    Parameters
    ----------
    name : {"sentiment", "concreteness"}
    n_items : int
        Items; the suite holds ``2 * n_items`` sentences, paired by item.
    seed : int
        Seeds the frames and words (each suite draws from its own stream).

    Returns
    -------
    Suite
        Paired; the two sentences of an item differ in one word (``sentiment``:
        the evaluative adjective or verb, polar opposites matched by position in
        the word lists; ``concreteness``: the object noun).
    """
    check_positive_int("n_items", n_items)
    if name not in SEMANTIC_SUITES:
        raise ToposcopeError(f"unknown semantic suite {name!r}; known: {', '.join(SEMANTIC_SUITES)}")
    target, reference = SEMANTIC_SUITES[name]
    # A stream apart from the grammar suites' ([seed, index]), so that neither changes the other.
    rng = np.random.default_rng([seed, 1000 + list(SEMANTIC_SUITES).index(name)])
    texts, conditions, items = [], [], []
    for i in range(n_items):
        texts += list(_semantic_pair(name, rng))
        conditions += [target, reference]
        items += [f"{i}", f"{i}"]
    return make_suite(name, texts, conditions, items)


def semantic_suites(n_items: int = 60, seed: int = 0) -> list[Suite]:
    """Every semantic suite (:data:`SEMANTIC_SUITES`), ``n_items`` items each."""
    return [semantic_suite(name, n_items, seed) for name in SEMANTIC_SUITES]


# --------------------------------------------------------------------------- TopoLM's contrasts as suites
#: Per TopoLM stimulus set (its ``name``): (suite name, label, target, reference).
_LANGUAGE_CONTRASTS = {
    "fedorenko10": (("sentences_vs_nonwords", "category", "sentences", "nonwords"),),
    "fedorenko": (("sentences_vs_nonwords", "category", "sentences", "nonwords"),
                  ("sentences_vs_words", "category", "sentences", "words"),
                  ("sentences_vs_jabberwocky", "category", "sentences", "jabberwocky"),
                  ("words_vs_nonwords", "category", "words", "nonwords")),
    "moseley": (("nouns_vs_verbs", "word_class", "noun", "verb"),
                ("abstract_vs_concrete", "concreteness", "abstract", "concrete")),
    "elli": (("nouns_vs_verbs", "word_class", "noun", "verb"),),
}


def language_suites(spec: str | Path) -> list[Suite]:
    """TopoLM's contrasts as suites, on a file or folder :func:`~toposcope.stimuli.language.load_language` reads."""
    from toposcope.stimuli.language import load_language

    stimuli = load_language(spec)
    key = "fedorenko10" if stimuli.name.startswith("fedorenko10") else stimuli.name
    suites = []
    for name, label, target, reference in _LANGUAGE_CONTRASTS.get(key, ()):
        values = stimuli.labels[label].astype(str)
        if target in values and reference in values:
            suites.append(Suite(name=f"{key}_{name}", stimuli=stimuli, target=target, reference=reference,
                                label=label))
    if not suites:
        raise ToposcopeError(f"{str(spec)!r} holds none of TopoLM's contrasts; check the file")
    return suites


def load_suite(spec: str | Path, *, contrast: tuple[str, str] | str | None = None,
               n_items: int = 60, seed: int = 0) -> list[Suite]:
    """Suites from a spec: ``grammar`` (all), ``grammar:NAME``, ``semantic`` (all), ``semantic:NAME``,
    a suite CSV (:func:`read_suite`), or ``topolm:PATH``."""
    text = str(spec)
    if text == "grammar":
        return grammar_suites(n_items, seed)
    if text.startswith("grammar:"):
        return [grammar_suite(text.split(":", 1)[1], n_items, seed)]
    if text == "semantic" and not Path(text).exists():
        return semantic_suites(n_items, seed)
    if text.startswith("semantic:"):
        return [semantic_suite(text.split(":", 1)[1], n_items, seed)]
    if text.startswith("topolm:"):
        return language_suites(text.split(":", 1)[1])
    return [read_suite(spec, contrast=contrast)]
