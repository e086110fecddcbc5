"""Language-localizer stimuli: Fedorenko et al. (2010) and TopoLM's other contrasts.

The files are not shipped (see ``stimuli/fedorenko10.toml`` and
``stimuli/topolm_language.toml`` for their sources and citations); the loaders
read copies the user points at and return a :class:`~toposcope.stimuli.core.StimulusSet`
of lowercase texts whose ``category`` names the condition:

- :func:`load_fedorenko10`: the 10 CSV files of the 2010 localizer, ``sentences``
  vs ``nonwords`` (12 words each);
- :func:`load_fedorenko_conditions`: TopoLM's ``fedorenko_stimuli.csv``, ``sentences``,
  ``words``, ``jabberwocky``, ``nonwords``;
- :func:`load_moseley`: single words, ``abstract_noun`` ... ``concrete_verb``
  (labels ``concreteness``, ``word_class``);
- :func:`load_elli`: noun and verb phrase pairs (labels ``word_class``, ``semantic``);
- :func:`synthetic_localizer`: the same design made from the project's grammar,
  for the demo model (which knows no real words).

:func:`load_language` picks the loader from a path.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from toposcope._validation import ToposcopeError, check_dir, check_file, check_positive_int
from toposcope.stimuli.core import StimulusSet, from_texts

__all__ = [
    "CONDITIONS",
    "load_elli",
    "load_fedorenko10",
    "load_fedorenko_conditions",
    "load_language",
    "load_moseley",
    "synthetic_localizer",
]

#: Condition codes of the Fedorenko files -> category names.
CONDITIONS = {"S": "sentences", "W": "words", "J": "jabberwocky", "N": "nonwords"}


def _rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = reader.fieldnames or []
    except UnicodeDecodeError as error:
        raise ToposcopeError(f"{path.name} is not UTF-8 ({error.reason} at byte {error.start})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise ToposcopeError(f"{path.name} has no column(s) {missing}; its columns are {header}")
    if not rows:
        raise ToposcopeError(f"{path.name} has no rows")
    return rows


def _condition(code: str, where: str) -> str:
    if code not in CONDITIONS:
        raise ToposcopeError(f"{where}: unknown condition {code!r}; expected one of {sorted(CONDITIONS)}")
    return CONDITIONS[code]


def load_fedorenko10(folder: str | Path) -> StimulusSet:
    """The Fedorenko 2010 localizer from its folder of ``langloc_fmri_run*_stim_set*.csv`` files.

    Returns
    -------
    StimulusSet
        480 texts (240 ``sentences``, 240 ``nonwords``), 12 lowercase words each,
        in file order; labels ``condition`` (``S``/``N``) and ``file``.
    """
    folder = check_dir("Fedorenko 2010 folder", folder, "give the folder holding the langloc_fmri_*.csv files")
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise ToposcopeError(f"no CSV files in {str(folder)!r}; give the folder holding the langloc_fmri_*.csv files")
    words = tuple(f"stim{i}" for i in range(2, 14))
    texts, categories, codes, sources, ids = [], [], [], [], []
    for path in files:
        for row in _rows(path, (*words, "stim14")):
            code = row["stim14"].strip()
            texts.append(" ".join(row[w].strip().lower() for w in words))
            categories.append(_condition(code, path.name))
            codes.append(code)
            sources.append(path.stem)
            ids.append(f"{path.stem}/{row.get('stim1', len(ids))}")
    return from_texts(texts, categories, name="fedorenko10",
                      labels={"condition": codes, "file": sources, "stimulus_id": ids})


def load_fedorenko_conditions(path: str | Path) -> StimulusSet:
    """TopoLM's ``fedorenko_stimuli.csv`` (columns ``sentence``, ``condition`` in S/W/J/N)."""
    path = check_file("stimulus file", path, "give fedorenko_stimuli.csv")
    rows = _rows(path, ("sentence", "condition"))
    codes = [r["condition"].strip() for r in rows]
    categories = [_condition(c, path.name) for c in codes]
    return from_texts([r["sentence"].strip().lower() for r in rows], categories, name="fedorenko",
                      labels={"condition": codes})


def load_moseley(path: str | Path) -> StimulusSet:
    """Moseley & Pulvermueller (2014) words via TopoLM (columns ``word``, ``category``, ``class``)."""
    return _two_label_set(path, "moseley", ("word", "category", "class"), "word",
                          {"concreteness": "category", "word_class": "class"})


def load_elli(path: str | Path) -> StimulusSet:
    """Hauptman, Elli et al. (2024) phrase pairs via TopoLM (columns ``class``, ``category``, ``pair``)."""
    return _two_label_set(path, "elli", ("class", "category", "pair"), "pair",
                          {"word_class": "class", "semantic": "category"})


def _two_label_set(path: str | Path, name: str, columns: tuple[str, ...], text: str,
                   labels: dict[str, str]) -> StimulusSet:
    """TopoLM's ``NAME_stimuli.csv``: lower-cased texts from column ``text`` and two labels
    (``{label: column}``); each item's category joins its two labels with ``_``."""
    path = check_file("stimulus file", path, f"give {name}_stimuli.csv")
    rows = _rows(path, columns)
    values = {label: [r[column].strip() for r in rows] for label, column in labels.items()}
    first, second = values.values()
    return from_texts([r[text].strip().lower() for r in rows], [f"{a}_{b}" for a, b in zip(first, second)],
                      name=name, labels=values)


def load_language(spec: str | Path) -> StimulusSet:
    """A language stimulus set from a path: a Fedorenko 2010 folder or one of TopoLM's CSV files.

    ``fedorenko10:DIR`` and ``DIR`` read the 2010 folder, ``fedorenko10`` the copy
    fetched with ``toposcope stimuli fetch fedorenko10``; a CSV is recognised by its header.
    """
    text = str(spec)
    if text == "fedorenko10" and not Path(text).exists():
        from toposcope.stimuli.manifests import resolve_folder

        return load_fedorenko10(resolve_folder("fedorenko10", None))
    if text.startswith("fedorenko10:"):
        return load_fedorenko10(text.split(":", 1)[1])
    path = Path(text).expanduser()
    if path.is_dir():
        return load_fedorenko10(path)
    path = check_file("stimulus file", path, "give a Fedorenko 2010 folder or a TopoLM CSV file")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    if "sentence" in header:
        return load_fedorenko_conditions(path)
    if "word" in header:
        return load_moseley(path)
    if "pair" in header:
        return load_elli(path)
    raise ToposcopeError(
        f"{path.name} is not a known localizer file (columns {header}); expected fedorenko_stimuli.csv "
        "(sentence, condition), moseley_stimuli.csv (word, category, class) or elli_stimuli.csv (pair, ...)"
    )


_SYLLABLES = ("ba", "dro", "ke", "lin", "mu", "pra", "sto", "vel", "gor", "tish", "nem", "flo", "zu", "rip",
              "ca", "bel", "mon", "tra", "gli", "sen")


def synthetic_localizer(n_per_condition: int = 80, length: int = 12, seed: int = 0) -> StimulusSet:
    """Sentences, word lists and non-word lists of ``length`` words from the project's grammar.

    ``sentences``: grammatical sentences; ``words``: the same words shuffled
    across sentences (no structure); ``nonwords``: pronounceable strings of 2-3
    syllables that are not words of the grammar.
    """
    from toposcope.stimuli.grammar import generate_sentences, lexicon_tags

    check_positive_int("n_per_condition", n_per_condition)
    rng = np.random.default_rng(seed)
    sentences = [" ".join(w for w, _ in s) for s in generate_sentences(n_per_condition, seed, length=length)]
    pool = np.asarray([w for s in sentences for w in s.split()], dtype=object)
    lists = [" ".join(rng.permutation(pool)[:length]) for _ in range(n_per_condition)]
    known = {w for ws in lexicon_tags().values() for w in ws}
    nonwords = []
    for _ in range(n_per_condition):
        items = []
        while len(items) < length:
            word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 4))))
            if word not in known:
                items.append(word)
        nonwords.append(" ".join(items))
    texts = sentences + lists + nonwords
    categories = ["sentences"] * n_per_condition + ["words"] * n_per_condition + ["nonwords"] * n_per_condition
    return from_texts(texts, categories, name=f"synthetic-localizer-{seed}")
