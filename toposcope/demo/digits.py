"""The UCI handwritten digits (shipped with scikit-learn) as training data and stimuli.

1797 greyscale 8x8 images of the digits 0-9, pixel values 0-16. They are stored
here as 8-bit images (value * 255 / 16, rounded) so that the training inputs and
the PNG stimuli written for extraction are the same pixels and go through the
same transform.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toposcope._validation import ToposcopeError
from toposcope.stimuli import StimulusSet, from_folder

__all__ = ["N_CLASSES", "category_name", "digit_images", "held_out_indices", "train_test_split",
           "write_digit_stimuli"]

N_CLASSES = 10


def category_name(digit: int) -> str:
    """Folder / category name of a digit: ``3`` -> ``"digit-3"``."""
    return f"digit-{int(digit)}"


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as 8-bit images.

    Returns
    -------
    images : ndarray of uint8, shape (1797, 8, 8)
        Ink is bright (255) on a dark (0) background.
    labels : ndarray of int64, shape (1797,)
        The digit shown, 0-9.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def train_test_split(
    labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split: the same fraction of every class goes to the test set.

    Uses the legacy ``np.random.RandomState`` stream, which numpy keeps fixed
    across versions, so the split (and the recorded test accuracy) never drifts.

    Returns
    -------
    train, test : ndarray of int64
        Sorted indices into ``labels``.
    """
    if not 0 < test_fraction < 1:
        raise ToposcopeError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    rng = np.random.RandomState(seed)
    test = []
    for digit in np.unique(labels):
        members = np.flatnonzero(labels == digit)
        chosen = rng.permutation(members)[: round(test_fraction * len(members))]
        test.extend(chosen.tolist())
    test = np.sort(np.asarray(test, dtype=np.int64))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def held_out_indices() -> np.ndarray:
    """Indices of the digits the shipped demo models never trained on (their test split).

    The split is the one recorded in the models' metadata (fraction and seed), so
    accuracy measured on these images equals the recorded test accuracy.
    """
    from toposcope.models.demo import demo_metadata

    settings = demo_metadata()["settings"]
    _, labels = digit_images()
    return train_test_split(labels, settings["test_fraction"], seed=settings["seed"])[1]


def write_digit_stimuli(
    folder: str | Path, per_class: int | None = 50, seed: int = 0, indices: np.ndarray | None = None
) -> StimulusSet:
    """Write digit images as PNGs, one subfolder per digit, and return them as a set.

    Parameters
    ----------
    folder : path
        Created if needed; gets ``digit-0/`` ... ``digit-9/`` holding
        ``digit-D-NNNN.png`` (``NNNN`` = index in the 1797 digits).
    per_class : int or None
        Images per digit, drawn at random with ``seed`` (stratified); ``None``
        writes all 1797.
    seed : int
        Seed of the draw.
    indices : ndarray of int, optional
        Exactly these digits (indices into the 1797), e.g. :func:`held_out_indices`;
        overrides ``per_class``.

    Returns
    -------
    StimulusSet
        From :func:`toposcope.stimuli.from_folder`: 10 categories, ``category``
        ``"digit-0"`` ... ``"digit-9"``.
    """
    from PIL import Image

    from toposcope.io import atomic_path

    images, labels = digit_images()
    if indices is not None:
        chosen = np.sort(np.asarray(indices, dtype=np.int64))
    elif per_class is not None:
        if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
            raise ToposcopeError(f"per_class must be a positive integer or None, got {per_class!r}")
        smallest = int(np.bincount(labels).min())
        if per_class > smallest:
            raise ToposcopeError(f"per_class={per_class} is more than the {smallest} images of the rarest digit")
        rng = np.random.RandomState(seed)
        chosen = np.sort(np.concatenate([
            rng.permutation(np.flatnonzero(labels == d))[:per_class] for d in range(N_CLASSES)
        ]))
    else:
        chosen = np.arange(len(labels))
    folder = Path(folder)
    for index in chosen:
        name = category_name(labels[index])
        path = folder / name / f"{name}-{index:04d}.png"
        with atomic_path(path) as tmp:
            Image.fromarray(images[index]).save(tmp, format="PNG")
        path.chmod(0o644)
    stimuli = from_folder(folder, name="digits")
    if len(stimuli) != len(chosen):
        raise ToposcopeError(
            f"{str(folder)!r} holds {len(stimuli) - len(chosen)} images besides the digits written; "
            "write the digits into an empty folder"
        )
    return stimuli
