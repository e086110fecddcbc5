"""Pruning and sheet-downsampling curves, their weight surgery and the performance measures.

Known answers: numpy's argsort picks the weights pruning must zero; the shipped
demo model's recorded test accuracy; a block-constant sheet that downsampling
must keep exactly and a shuffled one it must not; ``F.avg_pool2d`` as the
oracle of the pooling; exact parameter counts; transformers' own loss for the
perplexity.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.analysis.topoloss import weight_sheet
from toposcope.sheet import grid_shape
from toposcope.stimuli import from_texts
from toposcope.surgery import (
    accuracy,
    block_index,
    class_indices,
    downsample,
    perplexity,
    pooled_grid,
    prune_targets,
    pruned,
)
from toposcope.workflows.efficiency import downsampling_curve, efficiency, pruning_curve


def mlp(hidden: int = 20, seed: int = 0, n_in: int = 6, n_out: int = 5) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(fc1=nn.Linear(n_in, hidden), act=nn.ReLU(), fc2=nn.Linear(hidden, n_out)))


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_restored(model: nn.Module, before: dict, parameters: dict) -> None:
    after = model.state_dict()
    assert list(after) == list(before)  # no weight_orig / weight_mask left
    for key, value in before.items():
        assert torch.equal(after[key], value), key
        assert after[key].dtype == value.dtype
    for name, parameter in model.named_parameters():
        assert parameter is parameters[name]  # the same Parameter objects, not copies
    for module in model.modules():
        assert not module._forward_pre_hooks
        assert not any(k.endswith(("_orig", "_mask")) for k in [*module._parameters, *module._buffers])


# --------------------------------------------------------------------------- pruning
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
def test_layer_pruning_zeroes_round_f_n_smallest_weights(fraction):
    model = mlp()
    targets = prune_targets(model, ["fc1", "fc2"])
    originals = {t.label: getattr(t.module, t.name).detach().numpy().copy() for t in targets}
    with pruned(targets, fraction, "layer") as counts:
        for target in targets:
            seen = target.module.weight.detach().numpy()
            w = originals[target.label]
            k = round(fraction * w.size)
            expected = np.zeros(w.size, dtype=bool)
            expected[np.argsort(np.abs(w).ravel(), kind="stable")[:k]] = True
            assert counts[target.label] == k
            np.testing.assert_array_equal(seen.ravel() == 0, expected)
            np.testing.assert_array_equal(seen.ravel()[~expected], w.ravel()[~expected])


def test_pruning_leaves_other_layers_and_biases_alone():
    model = mlp()
    before = state(model)
    with pruned(prune_targets(model, ["fc1"]), 0.8, "layer"):
        for key in ("fc1.bias", "fc2.weight", "fc2.bias"):
            assert torch.equal(dict(model.named_parameters())[key], before[key])
        assert int((model.fc1.weight == 0).sum()) == round(0.8 * 120)


def test_global_pruning_uses_one_threshold_over_all_layers():
    model = mlp(hidden=30)
    targets = prune_targets(model, ["fc1", "fc2"])
    pooled = np.concatenate([getattr(t.module, t.name).detach().numpy().ravel() for t in targets])
    k = round(0.6 * pooled.size)
    expected = np.zeros(pooled.size, dtype=bool)
    expected[np.argsort(np.abs(pooled))[:k]] = True
    with pruned(targets, 0.6, "global") as counts:
        seen = np.concatenate([t.module.weight.detach().numpy().ravel() for t in targets])
    np.testing.assert_array_equal(seen == 0, expected)
    assert sum(counts.values()) == k and counts["fc1"] == int(expected[: 6 * 30].sum())


def test_curve_counts_changes_and_restores_weights():
    model = mlp()
    before, parameters = state(model), dict(model.named_parameters())
    x = torch.randn(32, 6)

    def performance(m):
        with torch.no_grad():
            return float(m(x).abs().mean())

    curve = pruning_curve(model, performance, [0.0, 0.3, 0.9], layers=["fc1", "fc2"], scope="layer")
    assert curve["performance"].dims == ("fraction", "layer")
    assert curve.sizes == {"fraction": 3, "layer": 2}
    assert curve.attrs["baseline"] == performance(model)
    np.testing.assert_allclose(curve["change"], curve["performance"] - curve.attrs["baseline"])
    np.testing.assert_array_equal(curve["pruned"].sel(fraction=0.3), [round(0.3 * 120), round(0.3 * 100)])
    np.testing.assert_array_equal(curve["n_weights"], [120, 100])
    assert (curve["performance"].sel(fraction=0.0) == curve.attrs["baseline"]).all()
    assert_restored(model, before, parameters)
    glob = pruning_curve(model, performance, [0.5], layers=["fc1", "fc2"])
    assert glob["performance"].dims == ("fraction",) and int(glob["pruned"].sum()) == 110
    assert_restored(model, before, parameters)


def test_weights_restored_bit_identically_when_performance_raises():
    model = mlp()
    before, parameters = state(model), dict(model.named_parameters())
    calls = []

    def performance(m):
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                m.fc1.weight.mul_(0)  # even a measure that writes into the weights is undone
            raise RuntimeError("boom")
        return 1.0

    for scope in ("global", "layer"):
        calls.clear()
        with pytest.raises(RuntimeError, match="boom"):
            pruning_curve(model, performance, [0.2, 0.5, 0.8], layers=["fc1", "fc2"], scope=scope)
        assert_restored(model, before, parameters)


def test_tied_weights_stay_tied_after_pruning():
    from toposcope.models.nanogpt import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=8, vocab_size=40, n_layer=1, n_head=2, n_embd=16))
    before, parameters = state(model), dict(model.named_parameters())
    pruning_curve(model, lambda m: 0.0, [0.5], layers=["lm_head"])
    assert model.lm_head.weight is model.transformer.wte.weight
    assert_restored(model, before, parameters)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fractions": [0.1, 1.5]}, "between 0 and 1"),
        ({"fractions": []}, "at least one fraction"),
        ({"fractions": [0.1, 0.1]}, "repeat"),
        ({"scope": "local"}, "unknown scope 'local'"),
        ({"layers": ["fc3"]}, "no layer or parameter 'fc3'"),
    ],
)
def test_bad_pruning_input_is_one_line(kwargs, message):
    options = {"fractions": [0.5], "layers": ["fc1"], **kwargs}
    with pytest.raises(ToposcopeError, match=message):
        pruning_curve(mlp(), lambda m: 1.0, options.pop("fractions"), **options)


def test_non_finite_performance_is_refused_and_weights_restored():
    model = mlp()
    before, parameters = state(model), dict(model.named_parameters())
    values = iter([1.0, float("nan")])
    with pytest.raises(ToposcopeError, match="nan"):
        pruning_curve(model, lambda m: next(values), [0.5], layers=["fc1"])
    assert_restored(model, before, parameters)


# --------------------------------------------------------------------------- accuracy on the demo
@pytest.fixture(scope="module")
def digit_test_set(tmp_path_factory):
    """The 359 test digits the shipped demo accuracy was measured on (demo.json n_test)."""
    from toposcope.demo.digits import digit_images, train_test_split, write_digit_stimuli
    from toposcope.models.demo import demo_metadata

    record = demo_metadata()
    every = write_digit_stimuli(tmp_path_factory.mktemp("digits"), per_class=None)
    _, labels = digit_images()
    _, test = train_test_split(labels, record["settings"]["test_fraction"], seed=record["settings"]["seed"])
    row = {int(str(s).rsplit("-", 1)[1]): i for i, s in enumerate(every.labels["stimulus_id"])}
    subset = every.subset([row[i] for i in test])
    assert len(subset) == record["n_test"]
    return subset, record


@pytest.mark.parametrize("name", ["topo", "baseline"])
def test_demo_accuracy_matches_record_and_drops_with_pruning(digit_test_set, name):
    stimuli, record = digit_test_set
    subject = toposcope.load_model(f"demo/{name}")
    measure = accuracy(stimuli, "number", subject=subject)
    assert abs(measure(subject.model) - record["models"][name]["test_accuracy"]) <= 0.005
    curve = pruning_curve(subject, measure, [0.0, 0.5, 0.9, 0.99])
    values = curve["performance"].values
    assert curve.attrs["measure"] == "accuracy" and curve.attrs["higher_is_better"] == 1
    assert values[2] < values[0] and values[3] < values[0] - 0.3 and values[3] < 0.5
    assert list(curve["layer"].values) == ["conv1", "conv2", "conv3", "fc1"]


def test_accuracy_refuses_classes_beyond_the_outputs(digit_test_set):
    stimuli, _ = digit_test_set
    subject = toposcope.load_model("demo/topo")
    shifted = {f"digit-{d}": d + 5 for d in range(10)}
    with pytest.raises(ToposcopeError, match="class index 14 is beyond the model's 10 outputs"):
        accuracy(stimuli.subset(range(40)), shifted, subject=subject)(subject.model)
    with pytest.raises(ToposcopeError, match="needs images"):
        accuracy(from_texts(["a b c"]), subject=subject)


def test_class_indices_conventions_and_errors():
    np.testing.assert_array_equal(class_indices(["digit-3", "digit-10", "digit-3"], "number"), [3, 10, 3])
    np.testing.assert_array_equal(class_indices(["b", "a10", "a9"], "sorted"), [2, 1, 0])
    np.testing.assert_array_equal(class_indices(["cat", "dog"], "cat=1,dog=0"), [1, 0])
    with pytest.raises(ToposcopeError, match="does not end with a class number"):
        class_indices(["cat"], "number")
    with pytest.raises(ToposcopeError, match="category 'dog' has no class index"):
        class_indices(["dog"], {"cat": 0})
    with pytest.raises(ToposcopeError, match="unknown classes 'alphabetical'"):
        class_indices(["cat"], "alphabetical")


# --------------------------------------------------------------------------- downsampling
def test_block_partition_and_grid_sizes():
    assert pooled_grid((48, 64), math.sqrt(5)) == (21, 28)
    assert pooled_grid((4, 8), 2) == (2, 4) and pooled_grid((1, 13), 3) == (1, 4)
    index = block_index((5, 7), (2, 3))
    assert np.bincount(index).tolist() == [9, 6, 6, 6, 4, 4]  # rows 3+2, columns 3+2+2
    with pytest.raises(ToposcopeError, match="at least 1"):
        pooled_grid((4, 4), 0.5)


def planted_mlp(shuffle: bool, noise: float = 0.0, seed: int = 0) -> nn.Module:
    """fc1 (10 -> 64 units on an 8x8 sheet) with weights constant on 2x2 blocks; fc2 (64 -> 7)."""
    rng = torch.Generator().manual_seed(seed)
    model = mlp(hidden=64, n_in=10, n_out=7, seed=seed)
    block = torch.as_tensor(block_index((8, 8), (4, 4)))
    with torch.no_grad():
        model.fc1.weight.copy_(torch.randn(16, 10, generator=rng)[block] + noise * torch.randn(64, 10, generator=rng))
        model.fc1.bias.copy_(torch.randn(16, generator=rng)[block])
        if shuffle:  # the same function with the units scattered over the sheet
            order = torch.randperm(64, generator=rng)
            model.fc1.weight.copy_(model.fc1.weight[order].clone())
            model.fc1.bias.copy_(model.fc1.bias[order].clone())
            model.fc2.weight.copy_(model.fc2.weight[:, order].clone())
    return model


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_downsampling_a_smooth_sheet_is_nearly_lossless_and_a_shuffled_one_is_not():
    x = torch.randn(200, 10, generator=torch.Generator().manual_seed(1))
    results = {}
    for name, model in {"exact": planted_mlp(False), "smooth": planted_mlp(False, noise=0.01),
                        "shuffled": planted_mlp(True)}.items():
        small = downsample(model, ["fc1"], 2).model
        assert small.fc1.weight.shape == (16, 10) and small.fc2.weight.shape == (7, 16)
        with torch.no_grad():
            results[name] = relative_error(small(x), model(x))
    assert results["exact"] < 1e-6
    assert results["smooth"] < 0.01
    assert results["shuffled"] > 0.2


def test_pooling_matches_avg_pool2d_and_the_next_layer_gets_block_sums():
    model = mlp(hidden=64, n_in=10, n_out=7)
    small = downsample(model, ["fc1"], 2).model
    sheet = weight_sheet(model.fc1.weight.detach()).permute(2, 0, 1)[None]  # (1, e, 8, 8)
    for oracle in (F.avg_pool2d(sheet, 2), F.interpolate(sheet, size=(4, 4), mode="area")):
        expected = oracle[0].flatten(1).t()
        torch.testing.assert_close(small.fc1.weight.detach(), expected, rtol=1e-6, atol=1e-7)
    columns = model.fc2.weight.detach().t().reshape(8, 8, 7).permute(2, 0, 1)[None]
    torch.testing.assert_close(small.fc2.weight.detach(), 4 * F.avg_pool2d(columns, 2)[0].flatten(1),
                               rtol=1e-6, atol=1e-7)
    bias = model.fc1.bias.detach().reshape(1, 1, 8, 8)
    torch.testing.assert_close(small.fc1.bias.detach(), F.avg_pool2d(bias, 2).flatten(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(small.fc2.bias, model.fc2.bias)


def replicated(model: nn.Module, parameter: str, bias: str | None, n: int, factor: float, axis: int) -> nn.Module:
    """A full-size copy whose layer has each unit's weights replaced by its block's mean."""
    import copy

    grid = grid_shape(n)
    index = torch.as_tensor(block_index(grid, pooled_grid(grid, factor)))
    twin = copy.deepcopy(model)
    params = dict(twin.named_parameters())
    with torch.no_grad():
        for name, dim in ((parameter, axis), (bias, 0)):
            if name is None:
                continue
            tensor = params[name]
            moved = tensor.movedim(dim, 0)
            sums = torch.zeros((int(index.max()) + 1, *moved.shape[1:]), dtype=torch.float64)
            sums.index_add_(0, index, moved.double())
            means = sums / torch.bincount(index).double().reshape(-1, *[1] * (moved.ndim - 1))
            tensor.copy_(means[index].to(tensor.dtype).movedim(0, dim))
    return twin


def test_gpt2_conv1d_mlp_shrinks_to_the_block_mean_model():
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    model = GPT2Model(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_inner=64, vocab_size=50, n_positions=16)).eval()
    result = downsample(model, ["h.0.mlp.c_fc"], 2, example=torch.zeros((1, 5), dtype=torch.long))
    small = result.model
    assert result.changes[0].following == "h.0.mlp.c_proj"
    assert small.h[0].mlp.c_fc.weight.shape == (16, 16) and small.h[0].mlp.c_fc.nf == 16
    assert small.h[0].mlp.c_proj.weight.shape == (16, 16)
    assert result.parameters_after == result.parameters_before - 48 * (16 + 1) - 48 * 16
    twin = replicated(model, "h.0.mlp.c_fc.weight", "h.0.mlp.c_fc.bias", 64, 2, axis=1)
    ids = torch.randint(0, 50, (3, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(small(ids).last_hidden_state, twin(ids).last_hidden_state,
                                   rtol=1e-5, atol=1e-5)


def test_nanogpt_linear_mlp_shrinks_to_the_block_mean_model():
    from toposcope.models.nanogpt import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=40, n_layer=2, n_head=2, n_embd=16)).eval()
    layers = ["transformer.h.0.mlp.c_fc", "transformer.h.1.mlp.c_fc"]
    result = downsample(model, layers, (2, 4), example=torch.zeros((1, 4), dtype=torch.long))
    assert [c.grid_after for c in result.changes] == [(4, 2), (4, 2)]  # 8x8 sheet of 64 units
    twin = model
    for layer in layers:
        twin = replicated(twin, f"{layer}.weight", None, 64, (2, 4), axis=0)
    ids = torch.randint(0, 40, (2, 7), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(result.model(ids)[0], twin(ids)[0], rtol=1e-5, atol=1e-5)


def test_conv_batchnorm_conv_planted_block_constant_is_exact():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(conv1=nn.Conv2d(3, 16, 3, padding=1), bn=nn.BatchNorm2d(16), act=nn.ReLU(),
                                      conv2=nn.Conv2d(16, 5, 3), bn2=nn.BatchNorm2d(5))).eval()
    block = torch.as_tensor(block_index((4, 4), (2, 2)))
    with torch.no_grad():
        model.conv1.weight.copy_(torch.randn(4, 3, 3, 3)[block])
        model.conv1.bias.copy_(torch.randn(4)[block])
        for name in ("weight", "bias", "running_mean"):
            getattr(model.bn, name).copy_(torch.randn(4)[block])
        model.bn.running_var.copy_((torch.rand(4) + 0.5)[block])
    result = downsample(model, ["conv1"], 2, example=torch.zeros(1, 3, 8, 8))
    change = result.changes[0]
    assert change.following == "conv2" and change.norms == ("bn",)
    assert result.model.bn.num_features == 4 and result.model.conv2.in_channels == 4
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        assert relative_error(result.model(x), model(x)) < 1e-5


def test_demo_parameter_counts_are_exact_and_the_smaller_subject_extracts(tmp_path):
    subject = toposcope.load_model("demo/topo")
    result = downsample(subject, None, 2)
    # conv1 16 -> 4, conv2 32 -> 8, conv3 64 -> 16, fc1 128 -> 32 units; fc2 reads 32
    after = (4 * 1 * 9 + 4) + (8 * 4 * 9 + 8) + (16 * 8 * 9 + 16) + (32 * 16 * 16 + 32) + (10 * 32 + 10)
    before = (16 * 9 + 16) + (32 * 16 * 9 + 32) + (64 * 32 * 9 + 64) + (128 * 1024 + 128) + (10 * 128 + 10)
    assert (result.parameters_before, result.parameters_after) == (before, after) == (155786, 10058)
    assert [c.following for c in result.changes] == ["conv2", "conv3", "fc1", "fc2"]
    assert result.fraction_removed == 0.75
    assert sum(p.numel() for p in subject.model.parameters()) == before  # the original is untouched
    from toposcope.demo.digits import write_digit_stimuli

    stimuli = write_digit_stimuli(tmp_path / "digits", per_class=1)
    responses = toposcope.extract(result.subject, stimuli, ["fc1"], cache=False, progress=False)["fc1"]
    assert responses.shape == (10, 32) and result.subject.layers["fc1"].sheet.grid == (4, 8)
    assert result.subject.identity != subject.identity


def test_gpt_neo_125m_parameter_counts():
    """The real GPT-Neo-125M shapes (meta tensors: no weights, no download)."""
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    config = GPTNeoConfig(vocab_size=50257, hidden_size=768, num_layers=12, num_heads=12,
                          attention_types=[[["global", "local"], 6]], max_position_embeddings=2048)
    with torch.device("meta"):
        model = GPTNeoForCausalLM(config)
    result = downsample(model, [f"transformer.h.{i}.mlp.c_fc" for i in range(12)], math.sqrt(5))
    assert result.changes[0].grid_before == (48, 64) and result.changes[0].grid_after == (21, 28)
    assert result.parameters_before == 125_198_592
    assert result.parameters_after == 125_198_592 - 12 * (3072 - 588) * (768 + 1 + 768) == 79_383_696
    # Counting only c_fc's own weights gives the paper's 102.3 M at 80 % of c_fc's units removed.
    assert result.parameters_layer_only == 102_276_240
    assert abs(result.fraction_removed - 0.8) < 0.01


def test_downsampling_refuses_unsupported_pairs():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(16, 16)
            self.fc2 = nn.Linear(16, 16)

        def forward(self, x):
            h = torch.relu(self.fc1(x))
            return self.fc2(h) + h

    with pytest.raises(ToposcopeError, match="feeds more than the layer after it"):
        downsample(Residual(), ["fc1"], 2, example=torch.zeros(1, 16))
    norm = nn.Sequential(OrderedDict(fc=nn.Linear(4, 16), ln=nn.LayerNorm(16), out=nn.Linear(16, 2)))
    with pytest.raises(ToposcopeError, match="LayerNorm 'ln' sits between 'fc' and the next layer"):
        downsample(norm, ["fc"], 2)
    with pytest.raises(ToposcopeError, match="no layer after 'fc2'"):
        downsample(mlp(hidden=16), ["fc2"], 1)
    with pytest.raises(ToposcopeError, match="at least 1"):
        downsample(mlp(hidden=16), ["fc1"], 0.5)


def test_downsampling_curve_and_merged_efficiency():
    model = planted_mlp(False, noise=0.01)
    x = torch.randn(64, 10, generator=torch.Generator().manual_seed(4))
    reference = model(x).detach()

    def fidelity(m):
        with torch.no_grad():
            return 1 - relative_error(m(x), reference)

    curve = downsampling_curve(model, fidelity, [2, 4], layers=["fc1"])
    assert curve["performance"].dims == ("factor",)
    np.testing.assert_allclose(curve["fraction_removed"], [0.75, 0.9375])
    np.testing.assert_array_equal(curve["n_parameters"], [16 * 11 + 7 * 16 + 7, 4 * 11 + 7 * 4 + 7])
    assert curve["performance"].values[0] > 0.99 and curve.attrs["following"] == "fc2"
    both = efficiency(model, fidelity, prune=[0.0, 0.5], layers=["fc1"], downsample_factors=[2],
                      downsample_layers=["fc1"])
    assert {"performance", "pruned", "downsampled_performance", "downsampled_change"} <= set(both.data_vars)
    assert both.attrs["baseline"] == pytest.approx(1.0) and both.attrs["downsample_following"] == "fc2"


# --------------------------------------------------------------------------- perplexity
@pytest.fixture(scope="module")
def tiny_lm():
    from _tiny_lm import gpt2_tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = gpt2_tokenizer()
    torch.manual_seed(0)
    eos = tokenizer.eos_token_id
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=len(tokenizer), n_positions=32,
                        bos_token_id=eos, eos_token_id=eos)
    return GPT2LMHeadModel(config).eval(), tokenizer


TEXTS = ["the cat sat on the mat", "a dog was playing", "green ideas sleep furiously in the garden"]


def test_perplexity_of_uniform_logits_is_the_vocabulary_size(tiny_lm):
    _, tokenizer = tiny_lm

    class Uniform(nn.Module):
        def __init__(self, vocabulary):
            super().__init__()
            self.vocabulary = vocabulary
            self.scale = nn.Parameter(torch.zeros(()))

        def forward(self, input_ids, attention_mask=None):
            return torch.zeros((*input_ids.shape, self.vocabulary)) * self.scale

    measure = perplexity(TEXTS, tokenizer)
    assert measure(Uniform(len(tokenizer))) == pytest.approx(len(tokenizer), rel=1e-6)  # float32 logits
    with pytest.raises(ToposcopeError, match="beyond the model's 40 logits"):
        measure(Uniform(40))


def test_perplexity_matches_transformers_loss_and_the_tied_bare_model(tiny_lm):
    model, tokenizer = tiny_lm
    total, count = 0.0, 0
    for text in TEXTS:
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            loss = float(model(ids, labels=ids).loss)
        total += loss * (ids.shape[1] - 1)
        count += ids.shape[1] - 1
    measure = perplexity(TEXTS, tokenizer, batch_size=2)
    assert measure.name == "perplexity" and measure.higher_is_better is False
    assert measure(model) == pytest.approx(math.exp(total / count), rel=1e-5)
    assert measure(model.transformer) == pytest.approx(math.exp(total / count), rel=1e-5)


def test_perplexity_of_nanogpt_uses_full_logits(tiny_lm):
    from toposcope.models.nanogpt import GPT, GPTConfig

    _, tokenizer = tiny_lm
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16)).eval()
    ids = tokenizer(TEXTS[2], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        _, loss = model(ids[:, :-1], ids[:, 1:])
    assert perplexity(TEXTS[2:], tokenizer)(model) == pytest.approx(math.exp(float(loss)), rel=1e-5)
