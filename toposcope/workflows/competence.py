"""Formal competence of a causal language model: minimal pairs (BLiMP, CSV) and SyntaxGym suites.

The runner scores sentences with the model and hands the numbers to the pure
functions of :mod:`toposcope.analysis.competence`:

* **Sentence log-probability** ``log P(w_1 .. w_n) = sum_t log p(w_t | w_<t)``
  over the sentence's tokens, in one batched forward pass per batch (right
  padding, which a causal model never sees). Where the sentence starts is
  what ``bos`` says (:data:`BOS_MODES`): ``"auto"`` (default) uses the
  tokenizer's own start token if it adds one (Llama-2, Gemma, ...), else puts
  the tokenizer's BOS token, or its EOS token, before the sentence, as
  lm-evaluation-harness does for BLiMP (GPT-2's ``<|endoftext|>``), so the
  first word is scored too; ``"prefix"`` always puts that token first;
  ``"none"`` scores from the second token on. The choice and the token are
  recorded in the result.
* **SyntaxGym** region surprisals are computed as Brain-Score language's
  ``syntaxgym`` benchmark computes them for a Hugging Face model: the regions
  of a condition are joined with spaces (empty ones dropped, no space before
  ``. , ! ? ; :``), the tokens of region ``r`` are those the tokenizer adds
  when region ``r`` is appended (the tokenizer's own special tokens, no extra
  prefix), a region's surprisal is the sum of ``-log2 p`` over its tokens, and
  the sentence's first token, having no context, counts 0.

Log-probabilities need a causal (left-to-right) model: a model whose earlier
outputs change when a later token does (a masked LM such as BERT) is refused
before scoring, with a pointer to the other scorer. Masked LMs are scored for
minimal pairs by **pseudo-log-likelihood** (``scorer="pll"``, Salazar et al.
2020, "Masked language model scoring"): each token of the sentence (the
tokenizer's ``[CLS]``/``[SEP]`` around it, never scored) is masked in turn and
``PLL = sum_t log p(w_t | sentence with w_t masked)``. A PLL is not a
probability of the sentence and is not comparable with a causal model's
log-probability; the result says which it holds (``scorer`` attr and the
variables' ``long_name``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_option, check_positive_int

__all__ = ["BOS_MODES", "SCORERS", "encode_sentences", "lm_logits", "masked_lm", "score_competence", "score_pairs",
           "score_syntaxgym", "sentence_logprobs", "sentence_pseudo_logprobs", "token_logprobs"]

#: Where a scored sentence starts; see the module docstring.
BOS_MODES = ("auto", "prefix", "none")
#: How a sentence is scored: causal log-probability, or a masked LM's pseudo-log-likelihood.
SCORERS = ("causal", "pll")
#: What each scorer's numbers are, as recorded on results.
SCORER_LABELS = {
    "causal": "causal sentence log-probability",
    "pll": "pseudo-log-likelihood of a masked LM (Salazar et al. 2020); not comparable with causal log-probabilities",
}

_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,!?;:])")


# --------------------------------------------------------------------------- logits
def lm_logits(subject: Any) -> Callable[[Any, Any, Any], Any]:
    """``logits(model, ids, mask) -> (batch, tokens, vocabulary)`` for a subject's language model.

    Models with their head (transformers ``...ForCausalLM``, nanoGPT) and bare
    models whose head is tied to the input embeddings go through
    :func:`toposcope.surgery.performance.next_token_logits`; a bare model with
    an untied head (Pythia) gets it from ``subject.lm_head()``.
    """
    from toposcope.surgery.performance import next_token_logits

    model = subject.model
    config = getattr(model, "config", None)
    outputs = getattr(model, "get_output_embeddings", None)
    bare = callable(outputs) and outputs() is None
    if config is None or not bare or getattr(config, "tie_word_embeddings", False):
        return next_token_logits
    if getattr(subject, "lm_head", None) is None:
        raise ToposcopeError(f"{subject.name!r} was loaded without its language-model head and its embeddings are "
                             "not tied to one; load it with the hf: adapter, or as a causal LM")
    head = subject.lm_head()

    def logits(model: Any, ids: Any, mask: Any) -> Any:
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        weight = next(head.parameters())
        return head(hidden.to(weight.dtype))

    return logits


def _check_causal(model: Any, logits: Callable, sequence: list[int], name: str, device: str) -> None:
    """Refuse a model whose outputs at earlier positions depend on a later token."""
    import torch

    if len(sequence) < 2:
        sequence = [*sequence, *sequence]
    ids = torch.tensor([sequence, sequence], device=device)
    ids[1, -1] = (int(ids[0, -1]) + 1) % max(2, _vocabulary(model, sequence))
    mask = torch.ones_like(ids)
    out = logits(model, ids, mask).float()
    earlier = out[:, :-1]
    change = float((earlier[0] - earlier[1]).abs().max())
    if change > 1e-4 * max(1.0, float(earlier.abs().max())):
        raise ToposcopeError(f"{name!r} reads later tokens (a masked / bidirectional language model), so it has no "
                             "left-to-right sentence probability; log-probabilities need a causal LM: score a masked "
                             "LM by pseudo-log-likelihood with scorer='pll' (--scorer pll)")


def _vocabulary(model: Any, sequence: list[int]) -> int:
    config = getattr(model, "config", None)
    size = getattr(config, "vocab_size", None)
    return int(size) if isinstance(size, int) and size > 1 else max(sequence) + 2


# --------------------------------------------------------------------------- tokens
def _start_tokens(tokenizer: Any, bos: str) -> tuple[list[int], bool, str]:
    """``(prefix ids, use the tokenizer's own special tokens, description)`` for ``bos``."""
    check_option("bos", bos, BOS_MODES)
    probe_plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    probe_own = tokenizer("a")["input_ids"]
    adds_start = len(probe_own) > len(probe_plain) and probe_own[-len(probe_plain):] == probe_plain
    if bos == "none":
        return [], False, "none: the first token is context only"
    if bos == "auto" and adds_start:
        start = probe_own[: len(probe_own) - len(probe_plain)]
        return [], True, f"auto: the tokenizer's own start {tokenizer.convert_ids_to_tokens(start)}"
    token_id = getattr(tokenizer, "bos_token_id", None)
    if token_id is None:
        token_id = getattr(tokenizer, "eos_token_id", None)
    if token_id is None:
        if bos == "prefix":
            raise ToposcopeError("bos='prefix' needs a tokenizer with a BOS or EOS token; use bos='none'")
        return [], False, "auto: no BOS/EOS token, the first token is context only"
    return [int(token_id)], False, f"{bos}: {tokenizer.convert_ids_to_tokens([int(token_id)])[0]!r} before the sentence"


def encode_sentences(tokenizer: Any, texts: Sequence[str], bos: str = "auto") -> tuple[list[list[int]], str]:
    """Token ids of each sentence with its start (see :data:`BOS_MODES`), and a description of the start.

    Returns
    -------
    sequences : list of list of int
        ``sequence[0]`` is context only; every later token is scored.
    start : str
        What came first (recorded as the result's ``bos`` attr).
    """
    prefix, own, description = _start_tokens(tokenizer, bos)
    encoded = tokenizer(list(texts), add_special_tokens=own)["input_ids"]
    if own:
        # The tokenizer's own end tokens (an EOS some add) are no part of the sentence.
        plain = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        encoded = [ids[: ids.index(p[0]) + len(p)] if p and p[0] in ids else ids for ids, p in zip(encoded, plain)]
    sequences = [prefix + list(ids) for ids in encoded]
    for i, ids in enumerate(sequences):
        if len(ids) < 2:
            raise ToposcopeError(f"sentence {i} ({texts[i]!r}) has a single token and nothing before it, so "
                                 "nothing to score; use bos='prefix' or longer sentences")
    return sequences, description


def token_logprobs(subject: Any, sequences: Sequence[Sequence[int]], *, batch_size: int = 32, device: str = "cpu",
                   progress: bool = False, desc: str = "scoring") -> list[np.ndarray]:
    """``log p(ids[t] | ids[:t])`` for ``t >= 1`` of each token sequence, batched.

    Parameters
    ----------
    subject : Subject
        A causal language model (:func:`lm_logits` says which fit).
    sequences : sequence of sequence of int
        Token ids; each at least 2 long and at most the model's length.
    batch_size : int
        Sequences per forward pass (sorted by length to waste little padding).
    device : str
    progress : bool
        A progress bar over batches.

    Returns
    -------
    list of ndarray, float64, shape (len(sequence) - 1,)
        Natural-log probabilities, in the order given.
    """
    import torch

    check_positive_int("batch_size", batch_size)
    sequences = [list(map(int, s)) for s in sequences]
    if not sequences:
        return []
    limit = _max_length(subject)
    for i, ids in enumerate(sequences):
        if limit is not None and len(ids) > limit:
            raise ToposcopeError(f"sentence {i} has {len(ids)} tokens, more than the model's {limit}; shorten it")
    model = subject.model
    logits_fn = lm_logits(subject)
    pad = getattr(subject.tokenizer, "pad_token_id", None) or 0
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    out: list[np.ndarray | None] = [None] * len(sequences)
    was_training = model.training
    original = next((p.device for p in model.parameters()), None)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=desc, unit="batch")
    try:
        model.eval().to(device)
        with torch.no_grad():
            _check_causal(model, logits_fn, sequences[order[-1]][:8], subject.name, device)
            for batch in batches:
                width = len(sequences[batch[0]])
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros_like(ids)
                for row, index in enumerate(batch):
                    seq = sequences[index]
                    ids[row, :len(seq)] = torch.tensor(seq)
                    mask[row, :len(seq)] = 1
                ids, mask = ids.to(device), mask.to(device)
                logits = logits_fn(model, ids, mask)
                if not isinstance(logits, torch.Tensor) or logits.shape[:2] != ids.shape:
                    raise ToposcopeError(f"{subject.name!r} gave no (batch, tokens, vocabulary) logits")
                logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
                picked = logp.gather(-1, ids[:, 1:, None])[..., 0].double().cpu().numpy()
                for row, index in enumerate(batch):
                    out[index] = picked[row, :len(sequences[index]) - 1]
    finally:
        if original is not None:
            model.to(original)
        model.train(was_training)
    return out  # type: ignore[return-value]


def _max_length(subject: Any) -> int | None:
    config = getattr(subject.model, "config", None)
    for key in ("n_positions", "max_position_embeddings", "block_size"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(subject.tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and limit < 1_000_000 else None


def sentence_logprobs(subject: Any, texts: Sequence[str], *, bos: str = "auto", batch_size: int = 32,
                      device: str = "cpu", progress: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """Log-probability of each sentence (natural log, summed over its scored tokens).

    Returns
    -------
    logprob : ndarray, float64, shape (n_texts,)
    n_tokens : ndarray, int64, shape (n_texts,)
        Tokens scored per sentence.
    start : str
        What was put first (see :func:`encode_sentences`).
    """
    if subject.tokenizer is None:
        raise ToposcopeError(f"{subject.name!r} has no tokenizer; minimal pairs need a language model")
    unique = list(dict.fromkeys(map(str, texts)))
    sequences, start = encode_sentences(subject.tokenizer, unique, bos)
    scores = token_logprobs(subject, sequences, batch_size=batch_size, device=device, progress=progress,
                            desc="sentences")
    by_text = {text: (float(s.sum()), s.size) for text, s in zip(unique, scores)}
    logprob = np.asarray([by_text[str(t)][0] for t in texts], dtype=np.float64)
    counts = np.asarray([by_text[str(t)][1] for t in texts], dtype=np.int64)
    return logprob, counts, start


# --------------------------------------------------------------------------- masked LMs
def masked_lm(subject: Any) -> Any:
    """The masked-LM model whose logits give a Subject's pseudo-log-likelihoods.

    The checkpoint's ``AutoModelForMaskedLM`` (read by the ``hf:`` adapter's
    head loader), with its base model replaced by the Subject's own model, so
    what was done to the Subject (lesions, hooks) is what gets scored.

    Returns
    -------
    torch.nn.Module
        ``masked(input_ids=..., attention_mask=...).logits``, shape
        ``(batch, tokens, vocabulary)``.
    """
    loader = getattr(getattr(subject, "lm_head", None), "masked_lm", None)
    if loader is None:
        raise ToposcopeError(f"{subject.name!r} has no masked-LM head to score with; pseudo-log-likelihood needs a "
                             "masked LM loaded with the hf: adapter (e.g. hf:bert-base-uncased)")
    masked = loader()
    prefix = masked.base_model_prefix
    if getattr(masked, prefix, None) is not subject.model:
        if type(getattr(masked, prefix, None)).__name__ != type(subject.model).__name__:
            raise ToposcopeError(f"the masked-LM head of {subject.name!r} sits on a {type(getattr(masked, prefix)).__name__}"
                                 f", not on the Subject's {type(subject.model).__name__}; load the model with hf:")
        setattr(masked, prefix, subject.model)
    return masked


def sentence_pseudo_logprobs(subject: Any, texts: Sequence[str], *, batch_size: int = 32, device: str = "cpu",
                             progress: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """Pseudo-log-likelihood of each sentence under a masked LM (Salazar et al. 2020).

    Every token of the sentence is masked in turn (one copy of the sentence per
    token, ``batch_size`` copies per forward pass) and ``log p`` of the true
    token at the masked position is summed. The tokenizer's special tokens
    (``[CLS]``, ``[SEP]``) frame the sentence and are never masked or scored.

    Returns
    -------
    pll : ndarray, float64, shape (n_texts,)
        Natural log. Not a sentence probability; not comparable with
        :func:`sentence_logprobs`.
    n_tokens : ndarray, int64, shape (n_texts,)
        Tokens scored (masked) per sentence.
    start : str
        What framed each sentence.
    """
    import torch

    check_positive_int("batch_size", batch_size)
    tokenizer = subject.tokenizer
    if tokenizer is None:
        raise ToposcopeError(f"{subject.name!r} has no tokenizer; minimal pairs need a language model")
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is None:
        raise ToposcopeError(f"the tokenizer of {subject.name!r} has no mask token, so it is not a masked LM; "
                             "score it with scorer='causal'")
    unique = list(dict.fromkeys(map(str, texts)))
    encoded = tokenizer(unique, return_special_tokens_mask=True)
    sequences = [list(map(int, ids)) for ids in encoded["input_ids"]]
    special = encoded["special_tokens_mask"]
    limit = _max_length(subject)
    # (sentence, position) of every token to mask; longest sentences first to waste little padding.
    copies = []
    for i, (ids, flags) in enumerate(zip(sequences, special)):
        if limit is not None and len(ids) > limit:
            raise ToposcopeError(f"sentence {i} has {len(ids)} tokens, more than the model's {limit}; shorten it")
        positions = [t for t, flag in enumerate(flags) if not flag]
        if not positions:
            raise ToposcopeError(f"sentence {i} ({unique[i]!r}) has no token to score")
        copies += [(i, t) for t in positions]
    copies.sort(key=lambda c: -len(sequences[c[0]]))
    model = masked_lm(subject)
    pad = getattr(tokenizer, "pad_token_id", None) or 0
    totals = np.zeros(len(unique))
    counts = np.zeros(len(unique), dtype=np.int64)
    batches = [copies[i:i + batch_size] for i in range(0, len(copies), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="masked tokens", unit="batch")
    was_training = model.training
    original = next((p.device for p in model.parameters()), None)
    try:
        model.eval().to(device)
        with torch.no_grad():
            for batch in batches:
                width = len(sequences[batch[0][0]])
                ids = torch.full((len(batch), width), pad, dtype=torch.long)
                attention = torch.zeros_like(ids)
                for row, (index, position) in enumerate(batch):
                    seq = sequences[index]
                    ids[row, :len(seq)] = torch.tensor(seq)
                    attention[row, :len(seq)] = 1
                    ids[row, position] = mask_id
                rows = torch.arange(len(batch))
                where = torch.tensor([position for _, position in batch])
                truth = torch.tensor([sequences[index][position] for index, position in batch])
                logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits
                logp = torch.log_softmax(logits[rows, where].float(), dim=-1)[rows, truth].double().cpu().numpy()
                for (index, _), value in zip(batch, logp):
                    totals[index] += value
                    counts[index] += 1
    finally:
        if original is not None:
            model.to(original)
        model.train(was_training)
    by_text = {text: (totals[i], counts[i]) for i, text in enumerate(unique)}
    pll = np.asarray([by_text[str(t)][0] for t in texts], dtype=np.float64)
    n_tokens = np.asarray([by_text[str(t)][1] for t in texts], dtype=np.int64)
    return pll, n_tokens, "the tokenizer's own special tokens around the sentence, never masked"


# --------------------------------------------------------------------------- runners
def score_pairs(subject: Any, pairs: Any, *, bos: str = "auto", batch_size: int = 32, device: str = "cpu",
                progress: bool = False, scorer: str = "causal") -> Any:
    """Accuracy of a language model on minimal pairs.

    Parameters
    ----------
    subject : Subject or str
        A loaded language model or its spec.
    pairs : MinimalPairs or path
        See :func:`toposcope.stimuli.minimal_pairs.load_pairs`.
    bos : {"auto", "prefix", "none"}
        Where each sentence starts (module docstring).
    batch_size, device, progress
        As in :func:`token_logprobs`.
    scorer : {"causal", "pll"}
        ``"causal"``: sentence log-probability of a causal LM; ``"pll"``: a
        masked LM's pseudo-log-likelihood (:func:`sentence_pseudo_logprobs`;
        ``bos`` does not apply).

    Returns
    -------
    xr.Dataset
        :func:`toposcope.analysis.competence.pair_accuracy` plus ``n_tokens_good``
        / ``n_tokens_bad`` over ``item``; attrs the model's provenance, ``bos``,
        ``pairs`` (name), ``pairs_sha256`` and ``scorer`` (what the numbers are;
        ``logprob_good`` / ``logprob_bad`` hold PLLs for ``"pll"``, as their
        ``long_name`` says).
    """
    from toposcope.analysis.competence import pair_accuracy
    from toposcope.io import provenance
    from toposcope.stimuli.minimal_pairs import MinimalPairs, load_pairs

    subject = _subject(subject)
    pairs = load_pairs(pairs)
    if not isinstance(pairs, MinimalPairs):
        raise ToposcopeError("these are SyntaxGym suites, not minimal pairs; use score_syntaxgym or score_competence")
    check_option("scorer", scorer, SCORERS)
    texts = [*pairs.good, *pairs.bad]
    if scorer == "pll":
        check_option("bos", bos, BOS_MODES)
        if bos != "auto":
            raise ToposcopeError("bos does not apply to pseudo-log-likelihood (the tokenizer's own [CLS]/[SEP] frame "
                                 "each sentence); leave it at 'auto'")
        logprob, counts, start = sentence_pseudo_logprobs(subject, texts, batch_size=batch_size, device=device,
                                                          progress=progress)
    else:
        logprob, counts, start = sentence_logprobs(subject, texts, bos=bos, batch_size=batch_size, device=device,
                                                   progress=progress)
    n = len(pairs)
    data = pair_accuracy(logprob[:n], logprob[n:], pairs.labels)
    data["n_tokens_good"] = ("item", counts[:n])
    data["n_tokens_bad"] = ("item", counts[n:])
    what = "pseudo-log-likelihood (nats)" if scorer == "pll" else "log-probability (nats)"
    for name in ("logprob_good", "logprob_bad"):
        data[name].attrs["long_name"] = f"sentence {what}"
    if scorer == "pll":
        data.attrs["measure"] = "minimal pairs: correct when PLL(good) > PLL(bad) (ties are wrong)"
    data.attrs.update(provenance(**subject.provenance(), **data.attrs, bos=start, pairs=pairs.name,
                                 pairs_sha256=pairs.content_hash(), scorer=SCORER_LABELS[scorer]))
    return data


def _region_sequences(tokenizer: Any, regions: Sequence[str]) -> tuple[list[int], list[int]]:
    """Token ids of a condition and the region (1-based; 0 = none) of each, as Brain-Score digests the parts."""
    ids: list[int] = []
    owner: list[int] = []
    previous = 0
    for number in range(1, len(regions) + 1):
        parts = [part for part in regions[:number] if part.strip() != ""]
        context = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(parts))
        encoded = tokenizer(context)["input_ids"] if context else []
        new = encoded[previous:]
        ids += new
        owner += [number] * len(new)
        previous = len(encoded)
    return ids, owner


def score_syntaxgym(subject: Any, suites: Any, *, batch_size: int = 32, device: str = "cpu",
                    progress: bool = False) -> Any:
    """SyntaxGym accuracy of a causal language model, as Brain-Score language scores it.

    Parameters
    ----------
    subject : Subject or str
    suites : list of SyntaxGymSuite, or a path / ``"syntaxgym"``
        See :func:`toposcope.stimuli.minimal_pairs.load_pairs`.

    Returns
    -------
    xr.Dataset
        :func:`toposcope.analysis.competence.suite_accuracy`: region surprisals
        (bits), per-item correctness, accuracy per suite and overall.
    """
    import xarray as xr

    from toposcope.analysis.competence import suite_accuracy
    from toposcope.io import provenance
    from toposcope.stimuli.minimal_pairs import MinimalPairs, load_pairs

    subject = _subject(subject)
    suites = load_pairs(suites)
    if isinstance(suites, MinimalPairs):
        raise ToposcopeError("these are minimal pairs, not SyntaxGym suites; use score_pairs or score_competence")
    for suite in suites:
        if suite.metric != "sum":
            # Brain-Score sums token surprisals whatever the suite says; say so instead of silently differing.
            raise ToposcopeError(f"suite {suite.name!r} asks for metric {suite.metric!r}; only 'sum' is scored")
    rows, sequences, owners = [], [], []
    for suite in suites:
        for item in suite.items:
            for condition, regions in item["conditions"].items():
                ids, owner = _region_sequences(subject.tokenizer, regions)
                rows.append((suite.name, item["item_number"], condition, len(regions)))
                sequences.append(ids)
                owners.append(owner)
    scorable = [i for i, ids in enumerate(sequences) if len(ids) >= 2]
    scores = token_logprobs(subject, [sequences[i] for i in scorable], batch_size=batch_size, device=device,
                            progress=progress, desc="SyntaxGym")
    by_row = dict(zip(scorable, scores))
    suite_of, item_of, condition_of, region_of, values = [], [], [], [], []
    for index, (suite, item, condition, n_regions) in enumerate(rows):
        bits = np.zeros(n_regions)
        logp = by_row.get(index)
        if logp is not None:
            # Token 0 has no context (Brain-Score gives it NaN, then 0); token t >= 1 is logp[t - 1].
            np.add.at(bits, np.asarray(owners[index][1:]) - 1, -logp / math.log(2))
        for region in range(n_regions):
            suite_of.append(suite)
            item_of.append(item)
            condition_of.append(condition)
            region_of.append(region + 1)
            values.append(bits[region])
    surprisal = xr.DataArray(
        np.asarray(values), dims=("region_value",),
        coords={"suite": ("region_value", np.asarray(suite_of, dtype=object)),
                "item_number": ("region_value", np.asarray(item_of, dtype=np.int64)),
                "condition": ("region_value", np.asarray(condition_of, dtype=object)),
                "region": ("region_value", np.asarray(region_of, dtype=np.int64))},
        attrs={"units": "bits"},
    )
    data = suite_accuracy(surprisal, {suite.name: suite.predictions for suite in suites})
    names = ",".join(suite.name for suite in suites)
    import hashlib

    digest = hashlib.sha256("".join(suite.content_hash() for suite in suites).encode()).hexdigest()
    data.attrs.update(provenance(**subject.provenance(), **data.attrs, pairs=f"syntaxgym:{names}",
                                 pairs_sha256=digest, bos="the tokenizer's own special tokens (as Brain-Score)",
                                 scorer="causal region surprisal (Brain-Score syntaxgym)"))
    return data


def score_competence(subject: Any, pairs: Any, *, bos: str = "auto", batch_size: int = 32, device: str = "cpu",
                     progress: bool = False, scorer: str = "causal") -> Any:
    """Minimal pairs or SyntaxGym suites, whichever ``pairs`` holds (:func:`score_pairs`, :func:`score_syntaxgym`)."""
    from toposcope.stimuli.minimal_pairs import MinimalPairs, load_pairs

    check_option("scorer", scorer, SCORERS)
    loaded = load_pairs(pairs)
    if isinstance(loaded, MinimalPairs):
        return score_pairs(subject, loaded, bos=bos, batch_size=batch_size, device=device, progress=progress,
                           scorer=scorer)
    if scorer != "causal":
        raise ToposcopeError("SyntaxGym suites are scored by causal region surprisal, as Brain-Score scores them; "
                             "pseudo-log-likelihood applies to minimal pairs only (use scorer='causal')")
    if bos != "auto":
        check_option("bos", bos, BOS_MODES)
        raise ToposcopeError("SyntaxGym suites are scored as Brain-Score scores them (the tokenizer's own start); "
                             "leave bos at 'auto'")
    return score_syntaxgym(subject, loaded, batch_size=batch_size, device=device, progress=progress)


def _subject(subject: Any) -> Any:
    if isinstance(subject, str):
        from toposcope.models.registry import load_model

        subject = load_model(subject)
    if getattr(subject, "modality", "language") != "language" or subject.tokenizer is None:
        raise ToposcopeError(f"{getattr(subject, 'name', 'the model')!r} is not a language model; "
                             "minimal pairs need a causal LM")
    return subject
