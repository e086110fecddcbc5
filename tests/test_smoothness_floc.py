"""On real fLOC images: a random-init ResNet-18 scores at chance and below the shipped TopoLoss demo model.

Ten images of each of the ten fLOC categories (not the scrambled set) from ../shared,
so the module runs in seconds. The random network is seeded here (torch.manual_seed
before torchvision builds it); its channels are exchangeable, so its curves are
draws from the shuffled-position null, which is what the chance band describes.
Layers are compared on sheets of the same size: ResNet-18 ``layer1.0.conv2`` and the
demo's ``conv3`` are 8 x 8, ``layer2.0.conv2`` and ``fc1`` 8 x 16.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import shared_path

import toposcope
from toposcope.analysis import smoothness
from toposcope.analysis.layerwise import smoothness_by_layer

CATEGORIES = ("adult", "child", "body", "limb", "house", "corridor", "word", "number", "car", "instrument")
PER_CATEGORY = 10
RESNET_LAYERS = ["layer1.0.conv2", "layer2.0.conv2", "layer3.0.conv2"]
#: (ResNet-18 layer, demo layer) pairs with the same sheet.
SAME_SHEET = [("layer1.0.conv2", "conv3"), ("layer2.0.conv2", "fc1")]


@pytest.fixture(scope="module")
def floc(tmp_path_factory):
    source = shared_path("stimuli", "floc")
    root = tmp_path_factory.mktemp("floc")
    for category in CATEGORIES:
        (root / category).mkdir()
        for i in range(1, PER_CATEGORY + 1):
            shutil.copy(source / category / f"{category}-{i}.jpg", root / category)
    from toposcope.stimuli import load

    return load(f"floc:{root}")


@pytest.fixture(scope="module")
def resnet(floc):
    import torch
    import torchvision

    from toposcope.models.transforms import imagenet_transform

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    subject = toposcope.load_model(model, layers=RESNET_LAYERS, transform=imagenet_transform())
    return toposcope.extract(subject, floc, cache=False, progress=False)


@pytest.fixture(scope="module")
def random_scores(resnet):
    return smoothness_by_layer(resnet)


@pytest.fixture(scope="module")
def demo(floc):
    return {name: smoothness_by_layer(toposcope.extract(toposcope.load_model(f"demo/{name}"), floc, cache=False,
                                                        progress=False))
            for name in ("topo", "baseline")}


def at(result, layer, name="score_toponets"):
    return float(result[name].sel(layer=layer))


@pytest.mark.parametrize("layer", ["layer1.0.conv2", "layer3.0.conv2"])
def test_a_random_resnet_scores_within_its_chance_band(random_scores, layer):
    assert random_scores.attrs["n_stimuli"] == len(CATEGORIES) * PER_CATEGORY
    score = at(random_scores, layer)
    assert at(random_scores, layer, "score_toponets_chance_low") <= score <= at(random_scores, layer,
                                                                                "score_toponets_chance_high")
    assert at(random_scores, layer, "score_toponets_p") > 0.05


@pytest.mark.parametrize(("random_layer", "demo_layer"), SAME_SHEET)
def test_a_random_resnet_scores_below_the_topoloss_demo_on_the_same_sheet(random_scores, demo, random_layer,
                                                                          demo_layer):
    topo = demo["topo"]
    assert at(random_scores, random_layer) + 0.2 < at(topo, demo_layer)
    assert at(random_scores, random_layer, "score_toponets_corrected") + 0.3 < at(topo, demo_layer,
                                                                                   "score_toponets_corrected")
    # The TopoLoss layer lies above every one of its shuffles; its untrained-for-topography twin does not.
    assert at(topo, demo_layer, "score_toponets_p") == pytest.approx(1 / 21)
    assert at(topo, demo_layer, "score_toponets") > at(topo, demo_layer, "score_toponets_chance_high") + 0.2
    assert at(demo["baseline"], demo_layer, "score_toponets_corrected") + 0.3 < at(
        topo, demo_layer, "score_toponets_corrected")


def test_the_old_rule_ranked_the_random_resnet_above_the_topoloss_demo(resnet, demo, random_scores):
    """The rule before: 20 bins from 0 to the 8 x 8 sheet's diagonal, every non-empty bin scored."""
    edges = np.linspace(0.0, np.hypot(7, 7), 21)
    old = smoothness.score(smoothness.curve(resnet["layer1.0.conv2"], edges, chance=False), min_pairs=0)
    assert old > at(demo["topo"], "conv3")
    assert old > 2 * at(random_scores, "layer1.0.conv2")


def test_exact_and_sampled_scores_agree_on_real_responses(resnet):
    responses = resnet["layer3.0.conv2"]  # 256 units, 32,640 pairs
    exact = smoothness.scores(smoothness.curve(responses))
    sampled = smoothness.scores(smoothness.curve(responses, mode="sampled", sampling="pairs", n_pairs=300_000))
    for name in ("score", "chance", "corrected"):
        assert float(sampled[name]) == pytest.approx(float(exact[name]), abs=0.03), name
    assert np.isfinite(float(exact["chance_high"]))
