"""Formal linguistic competence from sentence log-probabilities: minimal pairs and SyntaxGym.

Pure functions on numbers a language model produced
(:mod:`toposcope.workflows.competence` runs the model):

* :func:`pair_accuracy`: a pair is right when ``log P(good) > log P(bad)``
  (strictly: a tie is wrong, as in BLiMP's and lm-evaluation-harness's
  scoring); accuracy per phenomenon, per BLiMP ``field`` and
  ``linguistics_term`` when the pairs carry them, and overall. *Overall* is the
  mean over pairs (BLiMP's headline number; its 67 paradigms hold 1000 pairs
  each, so it equals the mean over paradigms there); ``accuracy_macro`` is the
  mean over phenomena.
* :func:`parse_formula` / :func:`evaluate_formula`: SyntaxGym prediction
  formulas such as ``((7;%match%) < (7;%mismatch%)) & ...`` over region
  surprisals, with the grammar and the tolerances of SyntaxGym's own parser (as
  brainscore-language ships it: ``+ -`` bind tightest, then ``< > =``, then
  ``& |``, all left-associative; ``=`` is ``numpy.isclose(rtol=1e-5,
  atol=1e-3)``; ``(*;%c%)`` sums every region of condition ``c``).
* :func:`suite_accuracy`: an item passes when all its suite's predictions
  hold; accuracy per suite, and overall as the mean over suites (Brain-Score's
  ``SyntaxGym2020`` score).

Every result carries ``accuracy_overall`` (a scalar) and ``accuracy`` over a
``phenomenon`` dim, which figures and trajectories read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError

__all__ = ["EQUALITY_ATOL", "EQUALITY_RTOL", "evaluate_formula", "pair_accuracy", "parse_formula",
           "suite_accuracy"]

#: Tolerances of SyntaxGym's ``=`` (surprisals in bits).
EQUALITY_RTOL = 1e-5
EQUALITY_ATOL = 1e-3
#: Label coords of pairs grouped into accuracies of their own, besides ``phenomenon``.
GROUPINGS = ("field", "linguistics_term")


# --------------------------------------------------------------------------- minimal pairs
def _grouped(correct: np.ndarray, groups: np.ndarray, dim: str) -> tuple[xr.DataArray, xr.DataArray]:
    names = list(dict.fromkeys(map(str, groups)))
    groups = np.asarray(list(map(str, groups)), dtype=object)
    accuracy = [float(correct[groups == name].mean()) for name in names]
    counts = [int((groups == name).sum()) for name in names]
    coords = {dim: np.asarray(names, dtype=object)}
    return (xr.DataArray(np.asarray(accuracy), dims=(dim,), coords=coords),
            xr.DataArray(np.asarray(counts, dtype=np.int64), dims=(dim,), coords=coords))


def pair_accuracy(logprob_good: Any, logprob_bad: Any, labels: Mapping[str, Sequence[str]] | None = None) -> xr.Dataset:
    """Accuracy on minimal pairs from the log-probability of each sentence.

    Parameters
    ----------
    logprob_good, logprob_bad : array-like, shape (n_pairs,)
        Sentence log-probabilities (natural log, summed over tokens).
    labels : mapping of str to sequence, each length n_pairs, optional
        ``phenomenon`` (``"all"`` when absent) and any other labels
        (``field``, ``linguistics_term``, ``UID``, ...), kept as item coords;
        ``field`` and ``linguistics_term`` get accuracies of their own.

    Returns
    -------
    xr.Dataset
        ``logprob_good``, ``logprob_bad``, ``difference`` (good - bad) and
        ``correct`` (bool) over ``item``, with the labels as item coords
        (``phenomenon``, ``field``, ``linguistics_term`` as ``item_phenomenon``,
        ``item_field``, ``item_linguistics_term``, since they also name dims); ``accuracy`` and ``n_pairs`` over
        ``phenomenon``; ``accuracy_field`` / ``accuracy_linguistics_term``
        where those labels exist; scalars ``accuracy_overall`` (mean over
        pairs) and ``accuracy_macro`` (mean over phenomena).

    Raises
    ------
    ToposcopeError
        If the arrays differ in shape, are empty or hold NaN, or a label has
        the wrong length.
    """
    good = np.asarray(logprob_good, dtype=np.float64)
    bad = np.asarray(logprob_bad, dtype=np.float64)
    if good.ndim != 1 or good.shape != bad.shape:
        raise ToposcopeError(f"logprob_good and logprob_bad need one value per pair, got shapes {good.shape} "
                             f"and {bad.shape}")
    if good.size == 0:
        raise ToposcopeError("no minimal pairs to score; give at least one")
    if not (np.isfinite(good).all() and np.isfinite(bad).all()):
        raise ToposcopeError("a sentence log-probability is not finite; check the model and the sentences")
    n = good.size
    labels = {k: np.asarray(list(v), dtype=object) for k, v in (labels or {}).items()}
    labels.setdefault("phenomenon", np.full(n, "all", dtype=object))
    for key, value in labels.items():
        if value.shape != (n,):
            raise ToposcopeError(f"label {key!r} has {value.size} values for {n} pairs; give one per pair")
    correct = good > bad
    # Labels that also name a dim of grouped accuracies are kept per item as item_<label>.
    grouped = ("phenomenon", *GROUPINGS)
    item_coords = {(f"item_{key}" if key in grouped else key): ("item", value) for key, value in labels.items()}
    data = xr.Dataset(
        {"logprob_good": ("item", good), "logprob_bad": ("item", bad), "difference": ("item", good - bad),
         "correct": ("item", correct)},
        coords={"item": np.arange(n), **item_coords},
    )
    data["accuracy"], data["n_pairs"] = _grouped(correct, labels["phenomenon"], "phenomenon")
    for key in GROUPINGS:
        if key in labels and any(str(v) for v in labels[key]):
            data[f"accuracy_{key}"], _ = _grouped(correct, labels[key], key)
    data["accuracy_overall"] = float(correct.mean())
    data["accuracy_macro"] = float(data["accuracy"].mean())
    data.attrs.update(measure="minimal pairs: correct when log P(good) > log P(bad) (ties are wrong)",
                      overall="mean over pairs")
    return data


# --------------------------------------------------------------------------- SyntaxGym formulas
@dataclass(frozen=True)
class _Region:
    region: str  # a number or "*"
    condition: str


@dataclass(frozen=True)
class _Op:
    operator: str
    left: Any
    right: Any


_TOKEN = re.compile(
    r"\s*(?:(?P<region>\(\s*(?P<number>\d+|\*)\s*;\s*%(?P<condition>[A-Za-z0-9_-]+)%\s*\))"
    r"|(?P<float>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<op>[-+<>=&|()]))"
)
_LEVELS = (("&", "|"), ("<", ">", "="), ("+", "-"))


def parse_formula(formula: str) -> Any:
    """A SyntaxGym prediction formula as a small expression tree.

    Raises
    ------
    ToposcopeError
        If the text is not a formula of region terms ``(N;%condition%)``,
        numbers, ``+ - < > = & |`` and parentheses.
    """
    text = str(formula)
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ToposcopeError(f"cannot read SyntaxGym formula {text!r} at {text[position:position + 12]!r}")
        position = match.end()
        if match.group("region"):
            tokens.append(("atom", _Region(match.group("number"), match.group("condition"))))
        elif match.group("float") is not None and not (tokens and tokens[-1][0] == "atom"
                                                       and match.group("float")[0] in "+-"):
            tokens.append(("atom", float(match.group("float"))))
        elif match.group("float") is not None:
            # "a -1": the sign is the operator after an atom, the rest a number.
            tokens.append(("op", match.group("float")[0]))
            tokens.append(("atom", float(match.group("float")[1:])))
        else:
            tokens.append(("op", match.group("op")))
    parser = _Parser(tokens, text)
    tree = parser.expression(0)
    if parser.index != len(tokens):
        raise ToposcopeError(f"cannot read SyntaxGym formula {text!r}: unexpected {tokens[parser.index][1]!r}")
    return tree


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]], text: str) -> None:
        self.tokens, self.text, self.index = tokens, text, 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def expression(self, level: int) -> Any:
        if level == len(_LEVELS):
            return self.atom()
        left = self.expression(level + 1)
        operators = _LEVELS[level]
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in operators:
            self.index += 1
            right = self.expression(level + 1)
            if operators[0] == "<" and isinstance(left, _Op) and left.operator in operators:
                raise ToposcopeError(f"SyntaxGym formula {self.text!r} chains comparisons; bracket them")
            left = _Op(token[1], left, right)
        return left

    def atom(self) -> Any:
        token = self.peek()
        if token is None:
            raise ToposcopeError(f"SyntaxGym formula {self.text!r} ends too early")
        self.index += 1
        if token[0] == "atom":
            return token[1]
        if token[1] == "(":
            inner = self.expression(0)
            if self.peek() != ("op", ")"):
                raise ToposcopeError(f"SyntaxGym formula {self.text!r} has an unclosed parenthesis")
            self.index += 1
            return inner
        raise ToposcopeError(f"cannot read SyntaxGym formula {self.text!r}: unexpected {token[1]!r}")


def evaluate_formula(formula: Any, surprisal: Mapping[tuple[str, int], float]) -> bool:
    """Whether a prediction holds for one item.

    Parameters
    ----------
    formula : str or parsed tree (:func:`parse_formula`)
    surprisal : mapping of (condition, region number) to float
        Region surprisals of the item (bits, summed over the region's tokens).

    Returns
    -------
    bool
    """
    tree = parse_formula(formula) if isinstance(formula, str) else formula
    return bool(_value(tree, surprisal))


def _value(node: Any, surprisal: Mapping[tuple[str, int], float]) -> Any:
    if isinstance(node, float):
        return node
    if isinstance(node, _Region):
        if node.region == "*":
            return sum(v for (condition, _), v in surprisal.items() if condition == node.condition)
        key = (node.condition, int(node.region))
        if key not in surprisal:
            raise ToposcopeError(f"SyntaxGym formula names region {node.region} of condition {node.condition!r}, "
                                 "which the item lacks")
        return surprisal[key]
    left, right = _value(node.left, surprisal), _value(node.right, surprisal)
    return {
        "+": lambda: left + right, "-": lambda: left - right,
        "<": lambda: left < right, ">": lambda: left > right,
        "=": lambda: bool(np.isclose(left, right, rtol=EQUALITY_RTOL, atol=EQUALITY_ATOL)),
        "&": lambda: bool(left) and bool(right), "|": lambda: bool(left) or bool(right),
    }[node.operator]()


def suite_accuracy(surprisal: xr.DataArray, predictions: Mapping[str, Sequence[str]]) -> xr.Dataset:
    """SyntaxGym accuracy from region surprisals.

    Parameters
    ----------
    surprisal : xr.DataArray, dims (region_value,)
        One value per (suite, item, condition, region), in bits, with coords
        ``suite``, ``item_number``, ``condition`` and ``region`` (1-based) on
        ``region_value``.
    predictions : mapping of suite name to sequence of formulas

    Returns
    -------
    xr.Dataset
        ``surprisal`` as given (its coords ``suite`` and ``item_number`` renamed
        ``value_suite`` and ``value_item``); ``correct`` over ``item`` (coords ``suite``,
        ``item_number``; an item is correct when all its suite's predictions
        hold) and ``prediction_holds`` over (``item``, ``prediction``) (padded
        with False beyond a suite's own predictions); ``accuracy`` and
        ``n_pairs`` (items) over ``phenomenon`` (the suites); scalars
        ``accuracy_overall`` (mean over suites, as Brain-Score's SyntaxGym2020)
        and ``accuracy_items`` (mean over items).
    """
    if not isinstance(surprisal, xr.DataArray) or surprisal.dims != ("region_value",):
        raise ToposcopeError("surprisal must be an xr.DataArray with the single dim 'region_value'")
    missing = [c for c in ("suite", "item_number", "condition", "region") if c not in surprisal.coords]
    if missing:
        raise ToposcopeError(f"surprisal lacks the coord(s) {missing} on region_value")
    suites = np.asarray(surprisal["suite"].values).astype(str)
    items = np.asarray(surprisal["item_number"].values).astype(int)
    conditions = np.asarray(surprisal["condition"].values).astype(str)
    regions = np.asarray(surprisal["region"].values).astype(int)
    values = np.asarray(surprisal.values, dtype=np.float64)
    table: dict[tuple[str, int], dict[tuple[str, int], float]] = {}
    for suite, item, condition, region, value in zip(suites, items, conditions, regions, values):
        table.setdefault((suite, int(item)), {})[(condition, int(region))] = float(value)
    unknown = sorted({s for s, _ in table} - set(predictions))
    if unknown:
        raise ToposcopeError(f"no predictions given for suite(s) {unknown}")
    parsed = {suite: [parse_formula(f) for f in formulas] for suite, formulas in predictions.items()}
    width = max((len(p) for p in parsed.values()), default=0)
    keys = list(table)
    holds = np.zeros((len(keys), width), dtype=bool)
    for row, (suite, item) in enumerate(keys):
        for column, tree in enumerate(parsed[suite]):
            holds[row, column] = evaluate_formula(tree, table[(suite, item)])
    correct = np.asarray([holds[row, :len(parsed[suite])].all() for row, (suite, _) in enumerate(keys)])
    item_suites = np.asarray([s for s, _ in keys], dtype=object)
    # The item dim has coords suite and item_number of its own, so the long table's are renamed.
    surprisal = surprisal.rename({"suite": "value_suite", "item_number": "value_item"})
    data = xr.Dataset(
        {"surprisal": surprisal, "correct": ("item", correct), "prediction_holds": (("item", "prediction"), holds)},
        coords={"item": np.arange(len(keys)), "suite": ("item", item_suites),
                "item_number": ("item", np.asarray([i for _, i in keys], dtype=np.int64)),
                "prediction": np.arange(width)},
    )
    data["accuracy"], data["n_pairs"] = _grouped(correct, item_suites, "phenomenon")
    data["accuracy_overall"] = float(data["accuracy"].mean())
    data["accuracy_items"] = float(correct.mean())
    data.attrs.update(measure="SyntaxGym: an item is correct when all its suite's predictions hold "
                              "(region surprisal in bits, summed over tokens)",
                      overall="mean over suites (Brain-Score SyntaxGym2020)")
    return data
