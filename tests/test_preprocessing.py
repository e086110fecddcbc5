"""Preprocessing chosen from the CLI, recipes and Python: presets, overrides, provenance, cache keys."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

import toposcope
from toposcope._validation import ToposcopeError
from toposcope.cli import main
from toposcope.io import open_responses
from toposcope.models.transforms import build_transform, preprocessing

pytestmark = pytest.mark.filterwarnings("ignore:torchvision.resnet18 has random weights")


def _image(size=(320, 260)):
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize("preset, reference", [
    ("imagenet", transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                     transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])),
    ("inception", transforms.Compose([transforms.Resize(342), transforms.CenterCrop(299), transforms.ToTensor(),
                                      transforms.Normalize((0.5,) * 3, (0.5,) * 3)])),
    ("clip", transforms.Compose([transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
                                 transforms.CenterCrop(224), transforms.ToTensor(),
                                 transforms.Normalize((0.48145466, 0.4578275, 0.40821073),
                                                      (0.26862954, 0.26130258, 0.27577711))])),
    ("none", transforms.ToTensor()),
])
def test_presets_equal_the_published_pipelines(preset, reference):
    image = _image()
    torch.testing.assert_close(build_transform(preprocessing({"preprocess": preset}))(image), reference(image))


def test_overrides_and_greyscale():
    settings = preprocessing({"preprocess": "imagenet", "resize": "300", "crop": 256, "interpolation": "bicubic",
                              "mean": "0.5,0.5,0.5", "std": [0.25, 0.25, 0.25], "grayscale": "true"})
    out = build_transform(settings)(_image())
    assert out.shape == (3, 256, 256)
    torch.testing.assert_close(out[0], out[1])  # three equal channels
    grey = transforms.Compose([transforms.Grayscale(3), transforms.Resize(300, interpolation=transforms.InterpolationMode.BICUBIC),
                               transforms.CenterCrop(256), transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.25,) * 3)])
    torch.testing.assert_close(out, grey(_image()))


@pytest.mark.parametrize("options, message", [
    ({"preprocess": "vgg"}, r"unknown preprocess preset 'vgg'"),
    ({"resize": 0}, r"resize must be a positive number of pixels, got 0"),
    ({"mean": "1,2"}, r"mean must be three numbers"),
    ({"std": "0,1,1"}, r"std must be positive"),
    ({"preprocess": "none", "mean": "0.5,0.5,0.5"}, r"give mean and std together"),
    ({"interpolation": "cubic"}, r"unknown interpolation 'cubic'.*did you mean 'bicubic'"),
])
def test_bad_preprocessing_is_one_line(options, message):
    with pytest.raises(ToposcopeError, match=message):
        preprocessing(options)


def test_load_model_applies_records_and_keys_the_cache(image_folder, tmp_path):
    default = toposcope.load_model("torchvision:resnet18", layers="avgpool")
    chosen = toposcope.load_model("torchvision:resnet18", layers="avgpool", preprocess="inception", crop=256)
    assert "preprocess=inception resize=342 crop=256" in chosen.provenance()["model_options"]
    assert "preprocess" not in default.provenance()["model_options"]
    cache = tmp_path / "cache"
    a = toposcope.extract(default, image_folder, cache=cache, progress=False)["avgpool"].values
    b = toposcope.extract(chosen, image_folder, cache=cache, progress=False)["avgpool"].values
    assert len(list(cache.glob("*.nc"))) == 2, "different preprocessing, different cache entries"
    assert not np.allclose(a, b)
    with pytest.raises(ToposcopeError, match=r"crop set image preprocessing, but 'demo_lm' is a language model"):
        toposcope.load_model("demo_lm", crop=10)


def test_torchvision_weights_bring_their_own_preprocessing():
    from toposcope.models.generic import _weights_transform

    own = _weights_transform("resnet50", "IMAGENET1K_V2")
    assert own.resize_size == [232] and own.crop_size == [224]  # not the ImageNet 256/224 default


def test_cli_flags_reach_the_result(image_folder, tmp_path, capsys):
    out = tmp_path / "r.nc"
    assert main(["extract", "torchvision:resnet18", "--layers", "avgpool", "--stimuli", str(image_folder),
                 "--preprocess", "clip", "--grayscale", "-o", str(out), "--quiet", "--no-cache"]) == 0
    assert "preprocess=clip resize=224 crop=224 bicubic" in open_responses(out).attrs["model_options"]
    assert "grayscale" in open_responses(out).attrs["model_options"]
    assert main(["extract", "torchvision:resnet18", "--stimuli", str(image_folder), "--mean", "1,2",
                 "-o", str(tmp_path / "s.nc")]) == 2
    assert "--mean must be three numbers" in capsys.readouterr().err
