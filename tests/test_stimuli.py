"""Stimulus sets: folders, labels, hashes, and one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from toposcope._validation import ToposcopeError
from toposcope.stimuli import from_folder, from_text_file, from_texts, load, open_image


def test_folder_categories_ids_and_natural_order(tmp_path):
    from PIL import Image

    for name in ("img-10.png", "img-2.png", "img-1.png"):
        (tmp_path / "faces").mkdir(exist_ok=True)
        Image.new("L", (8, 8)).save(tmp_path / "faces" / name)
    Image.new("RGB", (8, 8)).save(tmp_path / "loose.jpg")
    stimuli = from_folder(tmp_path)
    assert [p.split("/")[-1] for p in stimuli.items] == ["img-1.png", "img-2.png", "img-10.png", "loose.jpg"]
    assert list(stimuli.labels["category"]) == ["faces", "faces", "faces", ""]
    assert list(stimuli.labels["stimulus_id"]) == ["faces/img-1", "faces/img-2", "faces/img-10", "loose"]


def test_greyscale_images_open_as_three_channels(image_folder):
    image = open_image(next((image_folder / "dark").iterdir()))
    assert image.mode == "RGB" and np.asarray(image).shape == (32, 32, 3)


def test_content_hash_changes_with_bytes_and_labels(image_folder):
    first = from_folder(image_folder).content_hash()
    assert from_folder(image_folder).content_hash() == first
    target = image_folder / "dark" / "dark-0.png"
    target.write_bytes(target.read_bytes() + b"\0")
    assert from_folder(image_folder).content_hash() != first
    texts = from_texts(["a b", "c"], categories=["S", "N"])
    assert texts.content_hash() != from_texts(["a b", "c"], categories=["S", "S"]).content_hash()


def test_named_folder_spec(image_folder):
    # Any NAME:DIR names a plain folder; known names (floc, konkle) go to their own loaders.
    stimuli = load(f"mine:{image_folder}")
    assert stimuli.name == "mine" and len(stimuli) == 6


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "no images"),
        (lambda p: p / "missing", "does not exist"),
    ],
)
def test_empty_or_missing_folder(tmp_path, make, message):
    with pytest.raises(ToposcopeError, match=message):
        from_folder(make(tmp_path))


def test_corrupt_image_names_the_file(tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"\xff\xd8garbage")
    with pytest.raises(ToposcopeError, match=r"cannot read image '.*x\.jpg'"):
        open_image(bad)


def test_text_file_one_text_per_line(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("The cat sat.\n\nA dog ran.\n")
    assert from_text_file(path).items == ("The cat sat.", "A dog ran.")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ToposcopeError, match="no non-empty lines"):
        load(tmp_path / "empty.txt")


def test_labels_must_have_one_value_per_stimulus():
    with pytest.raises(ToposcopeError, match="label 'category' has 1 values for 2 stimuli"):
        from_texts(["a", "b"], categories=["x"])


def test_real_floc_folder_loads_all_categories():
    stimuli = from_folder(shared_path("stimuli", "floc"))
    assert len(stimuli) == 11 * 144
    assert set(stimuli.categories) == {"adult", "child", "body", "limb", "corridor", "house",
                                       "word", "number", "car", "instrument", "scrambled"}
