"""Ready-made performance measures: ``measure(model) -> float``.

Pruning and downsampling curves take any callable ``performance(model) -> float``;
two are provided:

* :func:`accuracy`: top-1 classification accuracy on a labelled image
  :class:`~toposcope.stimuli.StimulusSet`, each stimulus's ``category`` turned
  into a class index by :func:`class_indices` (a mapping, or a convention such as
  ``"number"``: ``"digit-3"`` -> 3).
* :func:`perplexity`: ``exp`` of the mean next-token cross-entropy of a causal
  language model over a list of texts (every token after a text's first one is
  predicted from the tokens before it; padding never counts).

Measures carry ``name`` and ``higher_is_better`` (read by the curves and the
figures) and cache their inputs (transformed images, token ids) after the first
call, since a curve calls them once per pruning level.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_positive_int

__all__ = ["CLASS_CONVENTIONS", "Accuracy", "Perplexity", "accuracy", "class_indices", "perplexity"]

#: Ways to turn category names into class indices without an explicit mapping.
#: ``"number"``: the integer the name ends with (``digit-7`` -> 7, ``n01440764``-style ids
#: are not numbers: give a mapping); ``"sorted"``: position in natural sort order.
CLASS_CONVENTIONS = ("number", "sorted")

#: Transformed images are kept in memory between calls up to this many bytes.
CACHE_BYTES = 512 << 20


def _natural(text: str) -> list[Any]:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", text)]


def _parse_classes(classes: str) -> Mapping[str, int] | str:
    """A CLI-style ``classes`` string: a convention, ``a=0,b=1`` or a JSON file."""
    text = classes.strip()
    if text in CLASS_CONVENTIONS:
        return text
    if text.endswith(".json"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ToposcopeError(f"classes file {text!r} does not exist; give a JSON object {{category: index}}")
        try:
            mapping = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise ToposcopeError(f"classes file {text!r} is not valid JSON ({error})") from None
        if not isinstance(mapping, dict):
            raise ToposcopeError(f"classes file {text!r} must hold a JSON object {{category: index}}")
        return mapping
    if "=" in text:
        mapping = {}
        for item in text.split(","):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ToposcopeError(f"classes item {item!r} is not CATEGORY=INDEX; write e.g. cat=0,dog=1")
            mapping[key.strip()] = value.strip()
        return mapping
    raise ToposcopeError(
        f"unknown classes {classes!r}; give {' or '.join(map(repr, CLASS_CONVENTIONS))}, "
        "CATEGORY=INDEX,... or a .json file"
    )


def class_indices(categories: Sequence[str], classes: Mapping[str, int] | str = "number") -> np.ndarray:
    """Class index of every stimulus from its category.

    Parameters
    ----------
    categories : sequence of str, shape (n_stimuli,)
        The stimuli's ``category`` labels.
    classes : mapping of str to int, or str
        ``{category: index}``; or ``"number"`` (the integer each name ends
        with); or ``"sorted"`` (0, 1, ... in natural sort order of the
        distinct names); or, as on the command line, ``"a=0,b=1"`` or a
        ``.json`` file holding the mapping.

    Returns
    -------
    ndarray of int64, shape (n_stimuli,)
    """
    names = [str(c) for c in categories]
    if not names:
        raise ToposcopeError("no stimuli to classify")
    if isinstance(classes, str):
        classes = _parse_classes(classes)
    if classes == "sorted":
        order = sorted(set(names), key=_natural)
        classes = {name: i for i, name in enumerate(order)}
    elif classes == "number":
        mapping = {}
        for name in dict.fromkeys(names):
            match = re.search(r"(\d+)\s*$", name)
            if match is None:
                raise ToposcopeError(
                    f"category {name!r} does not end with a class number (classes='number'); "
                    "give a mapping CATEGORY=INDEX,... or classes='sorted'"
                )
            mapping[name] = int(match.group(1))
        classes = mapping
    if not isinstance(classes, Mapping):
        raise ToposcopeError(f"classes must be a mapping or a convention, got {type(classes).__name__}")
    out = np.empty(len(names), dtype=np.int64)
    for i, name in enumerate(names):
        if name not in classes:
            known = ", ".join(map(repr, list(classes)[:5]))
            raise ToposcopeError(f"category {name!r} has no class index (classes map {known}...); add it")
        value = classes[name]
        try:
            index = int(value)
        except (TypeError, ValueError):
            index = -1
        if isinstance(value, bool) or index < 0 or str(index) != str(value).strip():
            raise ToposcopeError(f"class index of {name!r} must be an integer >= 0, got {value!r}")
        out[i] = index
    return out


def _first_tensor(output: Any) -> Any:
    """Logits from a model's output: a tensor, ``output.logits`` or the first of a tuple."""
    logits = getattr(output, "logits", None)
    if logits is not None:
        return logits
    if isinstance(output, (tuple, list)) and output:
        return output[0]
    return output


class _Measure:
    """Shared bits: evaluation mode, device moves and a finite float result."""

    name = "performance"
    higher_is_better = True

    def __init__(self, batch_size: int, device: str) -> None:
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.device = device

    def __call__(self, model: Any) -> float:
        import torch

        was_training = model.training
        original = next((p.device for p in model.parameters()), None)
        try:
            model.eval().to(self.device)
            with torch.no_grad():
                value = float(self._evaluate(model))
        finally:
            if original is not None:
                model.to(original)
            model.train(was_training)
        if not math.isfinite(value):
            raise ToposcopeError(f"{self.name} came out {value}; check the model and the inputs")
        return value

    def _evaluate(self, model: Any) -> float:  # pragma: no cover - overridden
        raise NotImplementedError


class Accuracy(_Measure):
    """Top-1 accuracy of ``model`` on labelled images; see :func:`accuracy`."""

    name = "accuracy"
    higher_is_better = True

    def __init__(self, paths: Sequence[str], targets: np.ndarray, transform: Callable,
                 forward: Callable | None, batch_size: int, device: str) -> None:
        super().__init__(batch_size, device)
        self.paths = list(paths)
        self.targets = targets
        self.transform = transform
        self.forward = forward
        self._cache: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def _batches(self) -> Any:
        import torch

        from toposcope.stimuli import open_image

        if self._cache is not None:
            yield from self._cache
            return
        kept, size = [], 0
        for start in range(0, len(self.paths), self.batch_size):
            batch = torch.stack([self.transform(open_image(p)) for p in self.paths[start:start + self.batch_size]])
            size += batch.numel() * batch.element_size()
            kept.append(batch)
            yield batch
        # Keep the inputs only if they are small: a curve calls the measure once per level.
        if size <= CACHE_BYTES:
            self._cache = kept

    def _evaluate(self, model: Any) -> float:
        import torch

        correct, start = 0, 0
        targets = torch.from_numpy(self.targets)
        for batch in self._batches():
            inputs = batch.to(self.device)
            logits = _first_tensor(self.forward(model, inputs) if self.forward else model(inputs))
            if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise ToposcopeError(f"accuracy needs (batch, classes) logits from the model, got {shape}")
            wanted = targets[start:start + len(batch)]
            if int(wanted.max()) >= logits.shape[1]:
                raise ToposcopeError(
                    f"class index {int(wanted.max())} is beyond the model's {logits.shape[1]} outputs; "
                    "check the classes mapping"
                )
            correct += int((logits.argmax(1).cpu() == wanted).sum())
            start += len(batch)
        return correct / len(self.paths)


def accuracy(
    stimuli: Any,
    classes: Mapping[str, int] | str = "number",
    *,
    transform: Callable | None = None,
    subject: Any = None,
    forward: Callable | None = None,
    batch_size: int = 64,
    device: str = "cpu",
) -> Accuracy:
    """Top-1 classification accuracy on a labelled image set, as ``measure(model) -> float``.

    Parameters
    ----------
    stimuli : StimulusSet, folder or set name
        Images with a ``category`` label each (see :func:`toposcope.stimuli.load`).
    classes : mapping or str
        Category -> class index of the model's output; see :func:`class_indices`.
        The demo digit models use ``"number"`` (``digit-3`` -> class 3).
    transform : callable, optional
        PIL image -> input tensor; default ``subject.transform``.
    subject : Subject, optional
        Supplies ``transform`` (and ``forward`` if it has one).
    forward : callable, optional
        ``forward(model, inputs) -> logits`` when ``model(inputs)`` is not the call.
    batch_size : int
    device : str

    Returns
    -------
    Accuracy
        Callable on a model: the fraction of stimuli whose largest logit is
        their class, in [0, 1]. ``len(measure)`` is the number of stimuli.
    """
    from toposcope.stimuli import load

    stimulus_set = load(stimuli)
    if stimulus_set.kind != "image":
        raise ToposcopeError(f"accuracy needs images but {stimulus_set.name!r} holds {stimulus_set.kind}s")
    if transform is None and subject is not None:
        transform = subject.transform
    if forward is None and subject is not None and subject.modality == "vision":
        forward = subject.forward
    if transform is None:
        raise ToposcopeError("accuracy needs the model's image transform; pass transform= or subject=")
    targets = class_indices(stimulus_set.labels["category"].tolist(), classes)
    return Accuracy(stimulus_set.items, targets, transform, forward, batch_size, device)


class Perplexity(_Measure):
    """Perplexity of a causal language model on texts; see :func:`perplexity`."""

    name = "perplexity"
    higher_is_better = False

    def __init__(self, texts: Sequence[str], tokenizer: Any, logits: Callable | None,
                 batch_size: int, device: str) -> None:
        super().__init__(batch_size, device)
        self.texts = list(texts)
        self.tokenizer = tokenizer
        self.logits = logits or next_token_logits
        self._encoded: list[tuple[Any, Any]] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def _batches(self) -> list[tuple[Any, Any]]:
        if self._encoded is None:
            tokenizer = self.tokenizer
            if getattr(tokenizer, "pad_token", "") is None:
                tokenizer.pad_token = tokenizer.eos_token
            # Right padding: a causal model never lets real tokens see the pads after them.
            tokenizer.padding_side = "right"
            limit = getattr(tokenizer, "model_max_length", None)
            limit = limit if isinstance(limit, int) and limit < 1_000_000 else None
            encoded = []
            for start in range(0, len(self.texts), self.batch_size):
                batch = tokenizer(self.texts[start:start + self.batch_size], padding=True, return_tensors="pt")
                lengths = batch["attention_mask"].sum(1)
                if limit is not None and int(lengths.max()) > limit:
                    worst = start + int(lengths.argmax())
                    raise ToposcopeError(f"text {worst} has {int(lengths.max())} tokens, more than the model's "
                                         f"{limit}; split long texts")
                encoded.append((batch["input_ids"], batch["attention_mask"]))
            if sum(int((mask.sum(1) - 1).clamp(min=0).sum()) for _, mask in encoded) == 0:
                raise ToposcopeError("every text has a single token; perplexity needs texts of 2 or more tokens")
            self._encoded = encoded
        return self._encoded

    def _evaluate(self, model: Any) -> float:
        import torch
        import torch.nn.functional as F

        total, count = 0.0, 0
        for ids, mask in self._batches():
            ids, mask = ids.to(self.device), mask.to(self.device)
            logits = self.logits(model, ids, mask)
            if not isinstance(logits, torch.Tensor) or logits.shape[:2] != ids.shape:
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                raise ToposcopeError(f"perplexity needs (batch, tokens, vocabulary) logits, got {shape}")
            if int(ids.max()) >= logits.shape[-1]:
                raise ToposcopeError(f"token id {int(ids.max())} is beyond the model's {logits.shape[-1]} logits; "
                                     "use the model's own tokenizer")
            # Position t predicts token t + 1; only pairs of real tokens count.
            nll = F.cross_entropy(logits[:, :-1].float().flatten(0, 1), ids[:, 1:].flatten(), reduction="none")
            keep = (mask[:, 1:] * mask[:, :-1]).flatten().to(nll.dtype)
            total += float((nll * keep).sum(dtype=torch.float64))
            count += int(keep.sum())
        return math.exp(total / count)


def next_token_logits(model: Any, ids: Any, mask: Any) -> Any:
    """Logits ``(batch, tokens, vocabulary)`` of a causal language model.

    Handles the model kinds toposcope loads: transformers models with a
    language-model head (``output.logits``); bare transformers models
    (``AutoModel``, as the ``hf:`` adapter loads them) whose head is tied to
    the input embeddings, where ``logits = hidden @ embeddings.T`` is exactly
    what the head would compute; and nanoGPT, which returns logits for every
    position only when given targets (padding marked ``-1``).
    """
    import inspect

    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "targets" in parameters and "input_ids" not in parameters:
        return _first_tensor(model(ids, ids.masked_fill(mask == 0, -1)))
    output = model(input_ids=ids, attention_mask=mask)
    logits = getattr(output, "logits", None)
    if logits is not None:
        return logits
    hidden = getattr(output, "last_hidden_state", None)
    if hidden is not None:
        config = getattr(model, "config", None)
        if not getattr(config, "tie_word_embeddings", False) or not hasattr(model, "get_input_embeddings"):
            raise ToposcopeError(
                "the model has no language-model head and its embeddings are not tied to one; "
                "load it with its head or pass logits=callable"
            )
        return hidden @ model.get_input_embeddings().weight.t()
    return _first_tensor(output)


def perplexity(
    texts: Any,
    tokenizer: Any = None,
    *,
    subject: Any = None,
    logits: Callable | None = None,
    batch_size: int = 8,
    device: str = "cpu",
) -> Perplexity:
    """Perplexity on texts, as ``measure(model) -> float`` (lower is better).

    ``exp(sum of -log p(token_t+1 | tokens <= t) / number of predicted tokens)``
    over all texts, each tokenized on its own (no BOS added, so a text's first
    token is context only).

    Parameters
    ----------
    texts : StimulusSet of texts, sequence of str, or a ``.txt`` file (one text per line)
    tokenizer : transformers tokenizer, optional
        Default ``subject.tokenizer``.
    subject : Subject, optional
    logits : callable, optional
        ``logits(model, ids, mask) -> (batch, tokens, vocabulary)``; default
        :func:`next_token_logits`.
    batch_size : int
    device : str

    Returns
    -------
    Perplexity
        ``len(measure)`` is the number of texts.
    """
    from toposcope.stimuli import StimulusSet, load

    if isinstance(texts, (str, Path)):
        texts = load(texts)
    if isinstance(texts, StimulusSet):
        if texts.kind != "text":
            raise ToposcopeError(f"perplexity needs texts but {texts.name!r} holds {texts.kind}s")
        texts = list(texts.items)
    texts = [str(t) for t in texts if str(t).strip()]
    if not texts:
        raise ToposcopeError("perplexity needs at least one non-empty text")
    if tokenizer is None and subject is not None:
        tokenizer = subject.tokenizer
    if tokenizer is None:
        raise ToposcopeError("perplexity needs the model's tokenizer; pass tokenizer= or subject=")
    return Perplexity(texts, tokenizer, logits, batch_size, device)
