"""A small probabilistic grammar of English with part-of-speech tags.

Synthetic, grammatical text for the demo language model and for tests: every
word comes with its Penn-Treebank tag, sentences agree in number (``the dog
sees``, ``the dogs see``), and nothing depends on a corpus being installed.
The grammar, roughly::

    S   -> NP[n] VP[n]  |  S and S
    NP  -> DT[n] (JJ) N[n] (PP) (that VP[n])  |  PRP[n]
    VP  -> VBD (NP | PP | RB)  |  VBZ/VBP[n] NP  |  MD VB NP  |  VBD intransitive (RB)
    PP  -> IN NP

Every tag has at least three words, so word swaps within a tag always have
candidates.
"""

from __future__ import annotations

import numpy as np

from toposcope._validation import ToposcopeError, check_positive_int

__all__ = ["LEXICON", "generate_sentences", "lexicon_tags"]

_NOUNS = ("dog", "cat", "child", "farmer", "teacher", "river", "garden", "house", "window", "book",
          "letter", "song", "story", "table", "road", "bird", "horse", "boat", "city", "friend",
          "doctor", "student", "baker", "sailor", "painter", "forest", "village", "kitchen", "lamp", "door")
_PLURAL = {"child": "children", "city": "cities"}

#: Words of each tag. Pronouns are subjects only, so swaps keep sentences grammatical.
LEXICON: dict[str, tuple[str, ...]] = {
    "DT_sg": ("the", "a", "this", "every", "that", "one"),
    "DT_pl": ("the", "some", "these", "many", "those", "two"),
    "JJ": ("small", "old", "green", "quiet", "happy", "bright", "tall", "dark", "young", "cold",
           "warm", "strange", "gentle", "busy", "little", "red"),
    "NN": _NOUNS,
    "NNS": tuple(_PLURAL.get(n, n + "s") for n in _NOUNS),
    "PRP_sg": ("he", "she", "it"),
    "PRP_pl": ("they", "we", "you"),
    "VBD_t": ("saw", "found", "liked", "followed", "watched", "helped", "painted", "carried",
              "opened", "wrote", "heard", "visited", "called", "remembered"),
    "VBD_i": ("slept", "laughed", "waited", "arrived", "smiled", "sang", "ran", "fell", "stayed", "left"),
    "VBZ": ("sees", "finds", "likes", "follows", "watches", "helps", "carries", "opens", "visits", "calls"),
    "VBP": ("see", "find", "like", "follow", "watch", "help", "carry", "open", "visit", "call"),
    "MD": ("will", "can", "might", "should", "must"),
    "VB": ("see", "find", "help", "visit", "carry", "follow", "watch", "call"),
    "IN": ("near", "behind", "under", "with", "beside", "across", "into", "from"),
    "RB": ("quickly", "slowly", "quietly", "often", "happily", "again", "today", "soon"),
    "CC": ("and", "but", "so", "yet", "or"),
    "WDT": ("that", "which", "who"),
}

#: Penn-Treebank tag of each lexicon class.
_TAG = {"DT_sg": "DT", "DT_pl": "DT", "PRP_sg": "PRP", "PRP_pl": "PRP", "VBD_t": "VBD", "VBD_i": "VBD"}


class _Generator:
    def __init__(self, rng: np.random.Generator, max_depth: int = 2) -> None:
        self.rng = rng
        self.max_depth = max_depth
        self.out: list[tuple[str, str]] = []

    def word(self, category: str) -> None:
        words = LEXICON[category]
        self.out.append((words[int(self.rng.integers(len(words)))], _TAG.get(category, category)))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def sentence(self, depth: int = 0) -> None:
        plural = self.chance(0.4)
        self.noun_phrase(plural, depth, subject=True)
        self.verb_phrase(plural, depth)
        if depth < self.max_depth and self.chance(0.15):
            self.word("CC")
            self.sentence(depth + 1)

    def noun_phrase(self, plural: bool, depth: int, subject: bool = False) -> None:
        if subject and self.chance(0.2):
            self.word("PRP_pl" if plural else "PRP_sg")
            return
        if not plural or self.chance(0.8):
            self.word("DT_pl" if plural else "DT_sg")
        if self.chance(0.4):
            self.word("JJ")
        self.word("NNS" if plural else "NN")
        if depth < self.max_depth and self.chance(0.2):
            self.word("IN")
            self.noun_phrase(self.chance(0.4), depth + 1)
        elif depth < self.max_depth and self.chance(0.1):
            self.word("WDT")
            self.verb_phrase(plural, depth + 1)

    def verb_phrase(self, plural: bool, depth: int) -> None:
        roll = self.rng.random()
        if roll < 0.35:
            self.word("VBD_t")
            self.noun_phrase(self.chance(0.4), depth)
        elif roll < 0.55:
            self.word("VBP" if plural else "VBZ")
            self.noun_phrase(self.chance(0.4), depth)
        elif roll < 0.7:
            self.word("MD")
            self.word("VB")
            self.noun_phrase(self.chance(0.4), depth)
        else:
            self.word("VBD_i")
            if self.chance(0.4):
                self.word("RB")
            elif depth < self.max_depth and self.chance(0.4):
                self.word("IN")
                self.noun_phrase(self.chance(0.4), depth + 1)


def generate_sentences(
    n_sentences: int, seed: int = 0, *, length: int | None = None, max_tries: int = 1000
) -> list[list[tuple[str, str]]]:
    """Random grammatical sentences, each a list of ``(word, tag)``.

    Parameters
    ----------
    n_sentences : int
        How many sentences.
    seed : int
        Seeds :func:`numpy.random.default_rng`; the same seed gives the same text.
    length : int, optional
        Keep only sentences of exactly this many words (rejection sampling).
    max_tries : int
        Draws allowed per sentence before giving up on ``length``.

    Returns
    -------
    list of list of (str, str)
        Lowercase words, Penn-Treebank tags, no punctuation.
    """
    check_positive_int("n_sentences", n_sentences)
    if length is not None:
        check_positive_int("length", length)
    rng = np.random.default_rng(seed)
    sentences: list[list[tuple[str, str]]] = []
    tries = 0
    while len(sentences) < n_sentences:
        generator = _Generator(rng)
        generator.sentence()
        tries += 1
        if length is None or len(generator.out) == length:
            sentences.append(generator.out)
        elif tries > max_tries * n_sentences:
            raise ToposcopeError(
                f"the grammar rarely makes sentences of {length} words ({len(sentences)} found in "
                f"{tries} draws); use a length between 3 and 14"
            )
    return sentences


def lexicon_tags() -> dict[str, tuple[str, ...]]:
    """Tag -> the words the grammar uses with it (classes sharing a tag merged)."""
    merged: dict[str, list[str]] = {}
    for category, words in LEXICON.items():
        merged.setdefault(_TAG.get(category, category), []).extend(words)
    return {tag: tuple(dict.fromkeys(words)) for tag, words in merged.items()}
