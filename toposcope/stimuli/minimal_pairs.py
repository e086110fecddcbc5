"""Minimal pairs and targeted syntactic evaluations: BLiMP, SyntaxGym suites, plain CSV.

Formal linguistic competence is measured on sentences that differ in one
grammatical detail. Three layouts are read here, none of them shipped:

- **BLiMP** (Warstadt et al. 2020; github.com/alexwarstadt/blimp, folder ``data/``):
  one JSON-lines file per paradigm, each line a pair with ``sentence_good``,
  ``sentence_bad``, ``field``, ``linguistics_term``, ``UID``, ``pairID`` ...
  :func:`read_blimp` reads a folder of them or one file.
- **Plain CSV**: columns ``good``, ``bad`` and optionally ``phenomenon``
  (:func:`read_pairs_csv`).
- **Grammar pairs** made in code from :mod:`toposcope.stimuli.grammar`, in
  BLiMP's labels, for the demo language model (:func:`grammar_pairs`, spec
  ``"grammar"``): agreement errors it can learn from its training text.
- **SyntaxGym** suites (Gauthier et al. 2020; Hu et al. 2020): JSON files with
  ``meta``, ``region_meta``, ``predictions`` (formulas over region surprisals)
  and ``items`` (conditions x regions). :func:`read_syntaxgym` reads a folder
  of them or one file; :func:`installed_syntaxgym_dir` finds the 2020 suites
  inside an installed ``brainscore-language`` package (here, or in the
  environment ``toposcope brainscore --setup language`` made).

:func:`load_pairs` picks the reader from a path. The model-facing scoring is
:mod:`toposcope.workflows.competence`; the accuracies are
:mod:`toposcope.analysis.competence`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError
from toposcope.stimuli._csv import read_rows

__all__ = [
    "BLIMP_SOURCE",
    "MinimalPairs",
    "SyntaxGymSuite",
    "from_pairs",
    "grammar_pairs",
    "installed_syntaxgym_dir",
    "load_pairs",
    "read_blimp",
    "read_pairs_csv",
    "read_syntaxgym",
    "write_blimp",
]

#: Where the real BLiMP data lives (not installable from the package index).
BLIMP_SOURCE = "https://github.com/alexwarstadt/blimp (folder data/, one .jsonl file per paradigm)"
#: The SyntaxGym 2020 suites inside the brainscore-language package.
SYNTAXGYM_PACKAGE_DIR = ("benchmarks", "syntaxgym", "suites", "syntaxgym-2020")
#: BLiMP's label fields, kept per pair (missing ones are empty strings).
BLIMP_LABELS = ("field", "linguistics_term", "UID", "pairID")


@dataclass(frozen=True)
class MinimalPairs:
    """Sentence pairs, the first of each grammatical and the second not.

    Parameters
    ----------
    good, bad : tuple of str, length n_pairs
        The acceptable and the unacceptable sentence of each pair.
    labels : dict of str to ndarray, each shape (n_pairs,)
        ``phenomenon`` (BLiMP's ``UID``, the CSV's ``phenomenon`` column, or
        ``"all"``) always; BLiMP adds ``field``, ``linguistics_term``, ``UID``
        and ``pairID``.
    name : str
        Short name for provenance (a folder or file stem).
    """

    good: tuple[str, ...]
    bad: tuple[str, ...]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "pairs"

    def __post_init__(self) -> None:
        good, bad = tuple(map(str, self.good)), tuple(map(str, self.bad))
        if len(good) != len(bad):
            raise ToposcopeError(f"minimal pairs {self.name!r} have {len(good)} good and {len(bad)} bad sentences; "
                                 "give one bad sentence per good one")
        if not good:
            raise ToposcopeError(f"minimal pairs {self.name!r} hold no pairs; give at least one")
        n = len(good)
        labels = {k: np.asarray(v, dtype=object) for k, v in self.labels.items()}
        labels.setdefault("phenomenon", np.full(n, "all", dtype=object))
        for key, value in labels.items():
            if value.shape != (n,):
                raise ToposcopeError(f"label {key!r} of {self.name!r} has {value.size} values for {n} pairs; "
                                     "give one per pair")
        for i, (g, b) in enumerate(zip(good, bad)):
            if not g.strip() or not b.strip():
                raise ToposcopeError(f"pair {i} of {self.name!r} has an empty sentence; every pair needs both")
        object.__setattr__(self, "good", good)
        object.__setattr__(self, "bad", bad)
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.good)

    @property
    def phenomena(self) -> list[str]:
        """Distinct phenomena in order of first appearance."""
        return list(dict.fromkeys(map(str, self.labels["phenomenon"])))

    def content_hash(self) -> str:
        """sha256 over the sentences and the labels (the stimulus-set hash of a result)."""
        digest = hashlib.sha256(b"minimal-pairs")
        for g, b in zip(self.good, self.bad):
            digest.update(hashlib.sha256(f"{g}\x1e{b}".encode()).digest())
        for key in sorted(self.labels):
            digest.update(key.encode())
            digest.update("\x1f".join(map(str, self.labels[key].tolist())).encode())
        return digest.hexdigest()


def from_pairs(good: Sequence[str], bad: Sequence[str], phenomenon: Sequence[str] | str | None = None,
               name: str = "pairs") -> MinimalPairs:
    """Minimal pairs from two lists (and a phenomenon per pair, or one for all).

    Raises
    ------
    ToposcopeError
        If the lists differ in length or a sentence is empty.
    """
    good, bad = list(good), list(bad)
    if isinstance(phenomenon, str):
        phenomenon = [phenomenon] * len(good)
    labels = {} if phenomenon is None else {"phenomenon": np.asarray(list(phenomenon), dtype=object)}
    return MinimalPairs(tuple(good), tuple(bad), labels, name=name)


# --------------------------------------------------------------------------- BLiMP
def read_blimp(path: str | Path) -> MinimalPairs:
    """BLiMP pairs from a folder of ``PARADIGM.jsonl`` files or from one such file.

    Parameters
    ----------
    path : path
        BLiMP's ``data/`` folder (67 paradigms x 1000 pairs) or one paradigm file.

    Returns
    -------
    MinimalPairs
        Pairs in file-name then line order; ``phenomenon`` is each pair's
        ``UID`` (the paradigm; the file stem when a line has none); labels
        ``field``, ``linguistics_term``, ``UID``, ``pairID`` as given.

    Raises
    ------
    ToposcopeError
        For a missing path, a folder without ``.jsonl`` files, a paradigm file
        with zero pairs, a line that is not JSON or lacks ``sentence_good`` /
        ``sentence_bad``.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise ToposcopeError(f"no .jsonl files in {str(path)!r}; give BLiMP's data/ folder ({BLIMP_SOURCE})")
    elif path.is_file():
        files = [path]
    else:
        raise ToposcopeError(f"BLiMP path {str(path)!r} does not exist; download the data from {BLIMP_SOURCE}")
    good: list[str] = []
    bad: list[str] = []
    labels: dict[str, list[str]] = {key: [] for key in ("phenomenon", *BLIMP_LABELS)}
    for file in files:
        count = 0
        for number, line in enumerate(_lines(file), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise ToposcopeError(f"{file.name} line {number} is not JSON ({error.msg}); "
                                     "BLiMP files hold one JSON object per line") from None
            if not isinstance(row, dict) or not {"sentence_good", "sentence_bad"} <= set(row):
                raise ToposcopeError(f"{file.name} line {number} has no sentence_good / sentence_bad; "
                                     "is this a BLiMP paradigm file?")
            good.append(str(row["sentence_good"]))
            bad.append(str(row["sentence_bad"]))
            for key in BLIMP_LABELS:
                labels[key].append(str(row.get(key, "")))
            labels["phenomenon"].append(str(row.get("UID") or file.stem))
            count += 1
        if count == 0:
            raise ToposcopeError(f"BLiMP paradigm {file.name} has zero pairs; remove the file or fetch it again")
    arrays = {key: np.asarray(values, dtype=object) for key, values in labels.items()}
    return MinimalPairs(tuple(good), tuple(bad), arrays, name=path.stem if path.is_file() else path.name)


def _lines(file: Path) -> list[str]:
    try:
        return file.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise ToposcopeError(f"{file.name} is not UTF-8 ({error.reason} at byte {error.start})") from None


# --------------------------------------------------------------------------- CSV
def read_pairs_csv(path: str | Path) -> MinimalPairs:
    """Pairs from a CSV file with columns ``good``, ``bad`` and optionally ``phenomenon``.

    Raises
    ------
    ToposcopeError
        For a missing file or column, no rows, or a row whose good or bad
        sentence is empty (unequal counts of good and bad sentences).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ToposcopeError(f"pairs file {str(path)!r} does not exist; give a CSV with columns good, bad[, phenomenon]")
    header, rows = read_rows(path)
    missing = [c for c in ("good", "bad") if c not in header]
    if missing:
        raise ToposcopeError(f"{path.name} has no column(s) {missing}; its columns are {header}; "
                             "write a header good,bad[,phenomenon]")
    if not rows:
        raise ToposcopeError(f"{path.name} has no pairs; add rows good,bad[,phenomenon]")
    for number, row in enumerate(rows, start=2):
        if not row["good"] or not row["bad"]:
            raise ToposcopeError(f"{path.name} line {number} lacks a good or a bad sentence (unequal counts); "
                                 "every row needs both")
    phenomenon = [r["phenomenon"] or "all" for r in rows] if "phenomenon" in header else None
    return from_pairs([r["good"] for r in rows], [r["bad"] for r in rows], phenomenon,
                      name=path.stem)


# --------------------------------------------------------------------------- grammar
#: The phenomena of :func:`grammar_pairs`: UID -> (field, linguistics_term).
GRAMMAR_PHENOMENA = {
    "determiner_noun_agreement": ("morphology", "determiner_noun_agreement"),
    "subject_verb_agreement": ("morphology", "subject_verb_agreement"),
    "agreement_across_prepositional_phrase": ("syntax", "subject_verb_agreement"),
}
_NUMBERED_DT = {"sg": ("a", "this", "every", "one"), "pl": ("some", "these", "many", "two")}


def grammar_pairs(n_per_phenomenon: int = 100, seed: int = 0) -> MinimalPairs:
    """Minimal pairs in the demo grammar's words, labelled as BLiMP labels its pairs.

    Three paradigms (:data:`GRAMMAR_PHENOMENA`), each pair one agreement error:

    - ``determiner_noun_agreement``: ``these dogs slept`` / ``these dog slept``;
    - ``subject_verb_agreement``: ``the dog sees a bird`` / ``the dog see a bird``;
    - ``agreement_across_prepositional_phrase``: ``the dog near the cats sees a
      bird`` / ``... see a bird`` (an attractor of the other number between).

    Parameters
    ----------
    n_per_phenomenon : int
    seed : int
        Seeds :func:`numpy.random.default_rng`.

    Returns
    -------
    MinimalPairs
        Named ``grammar``; labels ``phenomenon`` (= ``UID``), ``field``,
        ``linguistics_term``, ``UID``, ``pairID``.
    """
    from toposcope._validation import check_positive_int
    from toposcope.stimuli.grammar import LEXICON

    check_positive_int("n_per_phenomenon", n_per_phenomenon)
    rng = np.random.default_rng(seed)
    nouns = {"sg": LEXICON["NN"], "pl": LEXICON["NNS"]}
    verbs = {"sg": LEXICON["VBZ"], "pl": LEXICON["VBP"]}
    other = {"sg": "pl", "pl": "sg"}

    def pick(words: Sequence[str]) -> str:
        return str(words[int(rng.integers(len(words)))])

    def noun_phrase(number: str) -> list[str]:
        return [pick(LEXICON["DT_sg"] if number == "sg" else LEXICON["DT_pl"]), pick(nouns[number])]

    good, bad, uid = [], [], []
    for name in GRAMMAR_PHENOMENA:
        for _ in range(n_per_phenomenon):
            number = "sg" if rng.random() < 0.5 else "pl"
            if name == "determiner_noun_agreement":
                index = int(rng.integers(len(nouns["sg"])))
                determiner = pick(_NUMBERED_DT[number])
                tail = [pick(LEXICON["VBD_i"])]
                good.append(" ".join([determiner, nouns[number][index], *tail]))
                bad.append(" ".join([determiner, nouns[other[number]][index], *tail]))
            else:
                subject = noun_phrase(number)
                if name == "agreement_across_prepositional_phrase":
                    subject += [pick(LEXICON["IN"]), *noun_phrase(other[number])]
                index = int(rng.integers(len(verbs["sg"])))
                obj = noun_phrase("sg" if rng.random() < 0.5 else "pl")
                good.append(" ".join([*subject, verbs[number][index], *obj]))
                bad.append(" ".join([*subject, verbs[other[number]][index], *obj]))
            uid.append(name)
    field_, term = zip(*(GRAMMAR_PHENOMENA[u] for u in uid))
    labels = {"phenomenon": uid, "field": field_, "linguistics_term": term, "UID": uid,
              "pairID": [str(i % n_per_phenomenon) for i in range(len(uid))]}
    return MinimalPairs(tuple(good), tuple(bad), {k: np.asarray(v, dtype=object) for k, v in labels.items()},
                        name="grammar")


def write_blimp(pairs: MinimalPairs, folder: str | Path) -> list[Path]:
    """Write pairs in BLiMP's layout: one ``UID.jsonl`` per phenomenon in ``folder``.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for phenomenon in pairs.phenomena:
        rows = np.flatnonzero(pairs.labels["phenomenon"] == phenomenon)
        lines = []
        for number, i in enumerate(rows):
            row = {"sentence_good": pairs.good[i], "sentence_bad": pairs.bad[i]}
            for key in BLIMP_LABELS:
                value = str(pairs.labels[key][i]) if key in pairs.labels else ""
                row[key] = value or (phenomenon if key == "UID" else str(number) if key == "pairID" else "")
            lines.append(json.dumps(row))
        path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', phenomenon)}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- SyntaxGym
@dataclass(frozen=True)
class SyntaxGymSuite:
    """One SyntaxGym test suite, as its JSON file defines it.

    Parameters
    ----------
    name : str
        ``meta.name`` (the file stem when absent).
    metric : str
        ``meta.metric`` (``"sum"`` in every 2020 suite): how token surprisals
        make a region's surprisal.
    region_names : tuple of str
        Names of regions 1, 2, ... (``region_meta`` in number order).
    conditions : tuple of str
        Condition names, in the order of the first item.
    items : tuple of dict
        ``{"item_number": int, "conditions": {condition: (region texts, ...)}}``;
        every condition of every item has one text per region (``""`` allowed).
    predictions : tuple of str
        The prediction formulas (``"(7;%match%) < (7;%mismatch%)"``); an item
        passes when all of them hold.
    """

    name: str
    metric: str
    region_names: tuple[str, ...]
    conditions: tuple[str, ...]
    items: tuple[dict[str, Any], ...]
    predictions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.items)

    def content_hash(self) -> str:
        """sha256 of the suite's content (regions, items, predictions)."""
        data = [self.name, self.metric, self.region_names, self.conditions, self.predictions,
                [[item["item_number"], sorted(item["conditions"].items())] for item in self.items]]
        return hashlib.sha256(json.dumps(data, default=list).encode()).hexdigest()


def read_syntaxgym(path: str | Path) -> list[SyntaxGymSuite]:
    """SyntaxGym suites from a folder of suite ``.json`` files or from one file.

    Returns
    -------
    list of SyntaxGymSuite
        In file-name order.

    Raises
    ------
    ToposcopeError
        For a missing path, a file that is not a suite (no ``items``,
        ``region_meta`` or ``predictions``), a suite with zero items, or an
        item whose condition does not give one text per region.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise ToposcopeError(f"no suite .json files in {str(path)!r}; give a folder of SyntaxGym suites")
    elif path.is_file():
        files = [path]
    else:
        raise ToposcopeError(f"SyntaxGym path {str(path)!r} does not exist; give a suite .json file or a folder")
    return [_suite(file) for file in files]


def _suite(file: Path) -> SyntaxGymSuite:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ToposcopeError(f"SyntaxGym suite {file.name} is not valid JSON ({error})") from None
    keys = ("meta", "region_meta", "predictions", "items")
    if not isinstance(data, dict) or not set(keys) <= set(data):
        have = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ToposcopeError(f"{file.name} is not a SyntaxGym suite: it needs {', '.join(keys)}, it has {have}")
    try:
        numbers = sorted((int(number), str(name)) for number, name in data["region_meta"].items())
    except (AttributeError, TypeError, ValueError):
        raise ToposcopeError(f"{file.name}: region_meta must map region numbers to names") from None
    if [n for n, _ in numbers] != list(range(1, len(numbers) + 1)):
        raise ToposcopeError(f"{file.name}: regions must be numbered 1..N, got {[n for n, _ in numbers]}")
    n_regions = len(numbers)
    if not data["items"]:
        raise ToposcopeError(f"SyntaxGym suite {file.name} has zero items")
    items, conditions = [], None
    for item in data["items"]:
        number = item.get("item_number", len(items) + 1)
        by_condition = {}
        for condition in item.get("conditions", []):
            regions = sorted(condition.get("regions", []), key=lambda r: int(r["region_number"]))
            if [int(r["region_number"]) for r in regions] != list(range(1, n_regions + 1)):
                raise ToposcopeError(f"{file.name} item {number} condition {condition.get('condition_name')!r} "
                                     f"does not give regions 1..{n_regions}")
            by_condition[str(condition["condition_name"])] = tuple(str(r.get("content", "")) for r in regions)
        if conditions is None:
            conditions = tuple(by_condition)
        items.append({"item_number": int(number), "conditions": by_condition})
    formulas = []
    for prediction in data["predictions"]:
        if prediction.get("type", "formula") != "formula":
            raise ToposcopeError(f"{file.name}: unknown prediction type {prediction.get('type')!r}; "
                                 "only formula predictions exist")
        formulas.append(str(prediction["formula"]))
    meta = data.get("meta") or {}
    return SyntaxGymSuite(name=str(meta.get("name") or file.stem), metric=str(meta.get("metric") or "sum"),
                          region_names=tuple(name for _, name in numbers), conditions=conditions or (),
                          items=tuple(items), predictions=tuple(formulas))


def installed_syntaxgym_dir() -> Path:
    """The SyntaxGym 2020 suites inside an installed ``brainscore-language`` package.

    Looked up, without importing the package, in this interpreter's packages,
    then in the dedicated environment that ``toposcope brainscore --setup
    language`` makes (``$TOPOSCOPE_ENVS/brainscore-language``, by default
    ``~/.cache/toposcope/envs``).

    Raises
    ------
    ToposcopeError
        If no installed copy holds the suites; says the command that installs one.
    """
    roots: list[Path] = []
    try:
        spec = importlib.util.find_spec("brainscore_language")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) for p in spec.submodule_search_locations]
    envs = Path(os.environ.get("TOPOSCOPE_ENVS") or Path.home() / ".cache" / "toposcope" / "envs").expanduser()
    roots += sorted((envs / "brainscore-language").glob("lib/python*/site-packages/brainscore_language"))
    for root in roots:
        folder = root.joinpath(*SYNTAXGYM_PACKAGE_DIR)
        if folder.is_dir() and any(folder.glob("*.json")):
            return folder
    raise ToposcopeError("the SyntaxGym 2020 suites come with brainscore-language, which is not installed; run "
                         "`toposcope brainscore --setup language` or give a folder of suite .json files")


# --------------------------------------------------------------------------- any
def load_pairs(spec: str | Path | MinimalPairs | Sequence[SyntaxGymSuite]) -> MinimalPairs | list[SyntaxGymSuite]:
    """Minimal pairs or SyntaxGym suites from a path, picking the reader from what is there.

    Parameters
    ----------
    spec : path or str
        ``syntaxgym`` (the installed 2020 suites, :func:`installed_syntaxgym_dir`),
        ``syntaxgym:SUITE`` (one of them by name), ``grammar`` (:func:`grammar_pairs`,
        the demo language model's words), a ``.csv`` file, a ``.jsonl``
        file or a folder of them (BLiMP), a suite ``.json`` file or a folder of
        them (SyntaxGym). Pairs or suites already loaded are returned unchanged.

    Returns
    -------
    MinimalPairs or list of SyntaxGymSuite
    """
    if isinstance(spec, MinimalPairs):
        return spec
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, SyntaxGymSuite) for s in spec):
        return list(spec)
    text = str(spec).strip()
    if text == "grammar" and not Path(text).exists():
        return grammar_pairs()
    if text == "blimp" and not Path(text).exists():
        raise ToposcopeError(f"BLiMP is not installable here; download it from {BLIMP_SOURCE} and give its data/ folder")
    name, sep, suite = text.partition(":")
    if name in ("syntaxgym", "syntaxgym-2020") and not Path(text).exists():
        folder = installed_syntaxgym_dir()
        if not sep:
            return read_syntaxgym(folder)
        file = folder / f"{suite.removesuffix('.json')}.json"
        if not file.is_file():
            known = sorted(p.stem for p in folder.glob("*.json"))
            raise ToposcopeError(f"unknown SyntaxGym suite {suite!r}; the installed ones are {', '.join(known)}")
        return read_syntaxgym(file)
    path = Path(text).expanduser()
    if not path.exists():
        raise ToposcopeError(f"pairs {text!r} do not exist; give BLiMP's data/ folder or a .jsonl file, a CSV with "
                             "columns good,bad[,phenomenon], SyntaxGym suite .json file(s), or 'syntaxgym'")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return read_pairs_csv(path)
        if suffix == ".jsonl":
            return read_blimp(path)
        if suffix == ".json":
            return read_syntaxgym(path)
        raise ToposcopeError(f"pairs file {path.name!r} is not .csv, .jsonl (BLiMP) or .json (SyntaxGym)")
    if any(path.glob("*.jsonl")):
        return read_blimp(path)
    if any(path.glob("*.json")):
        return read_syntaxgym(path)
    if any(path.glob("*.csv")):
        files = sorted(path.glob("*.csv"))
        if len(files) == 1:
            return read_pairs_csv(files[0])
        raise ToposcopeError(f"{str(path)!r} holds {len(files)} CSV files; give one of them")
    raise ToposcopeError(f"{str(path)!r} holds no .jsonl (BLiMP), .json (SyntaxGym) or .csv pairs")
