"""The StimulusSet and loading images and texts from folders and files.

A :class:`StimulusSet` is an ordered list of items (image paths or strings) with
per-item labels (``category`` and whatever else the set defines). Its
:meth:`~StimulusSet.content_hash` covers the items' bytes and labels, so cached
responses can never be reused for changed stimuli.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_dir, check_option

__all__ = ["IMAGE_SUFFIXES", "StimulusSet", "from_folder", "from_paths", "from_text_file", "from_texts", "open_image"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp")


@dataclass(frozen=True)
class StimulusSet:
    """An ordered set of stimuli with labels.

    Parameters
    ----------
    items : tuple of str
        Image file paths (``kind="image"``) or texts (``kind="text"``).
    kind : {"image", "text"}
    labels : dict of str to ndarray, each shape (n_stimuli,)
        Must include ``stimulus_id`` and ``category``; become stimulus coords.
    name : str
        Short name for provenance (``"floc"``, a folder name, ...).
    """

    items: tuple[str, ...]
    kind: str
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "stimuli"

    def __post_init__(self) -> None:
        check_option("stimulus kind", self.kind, ("image", "text"))
        if not self.items:
            raise ToposcopeError(f"stimulus set {self.name!r} is empty; give at least one stimulus")
        n = len(self.items)
        labels = {k: np.asarray(v) for k, v in self.labels.items()}
        labels.setdefault("stimulus_id", np.asarray([f"{i:06d}" for i in range(n)]))
        labels.setdefault("category", np.full(n, "", dtype=object))
        for key, value in labels.items():
            if value.shape != (n,):
                raise ToposcopeError(
                    f"label {key!r} has {value.shape[0] if value.ndim else 0} values for {n} stimuli; "
                    "give one value per stimulus"
                )
        object.__setattr__(self, "items", tuple(self.items))
        object.__setattr__(self, "labels", labels)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def categories(self) -> list[str]:
        """Distinct categories in order of first appearance."""
        return list(dict.fromkeys(self.labels["category"].tolist()))

    def coords(self) -> dict[str, tuple[str, np.ndarray]]:
        """Coordinates for the ``stimulus`` dim of a responses DataArray."""
        return {k: ("stimulus", v) for k, v in self.labels.items()}

    def subset(self, index: Sequence[int] | np.ndarray) -> StimulusSet:
        """The stimuli at ``index``, labels kept."""
        index = np.asarray(index)
        return StimulusSet(
            items=tuple(self.items[i] for i in index),
            kind=self.kind,
            labels={k: v[index] for k, v in self.labels.items()},
            name=self.name,
        )

    def content_hash(self) -> str:
        """sha256 over every item's content (file bytes or text) and the labels."""
        digest = hashlib.sha256(self.kind.encode())
        for item in self.items:
            if self.kind == "image":
                with open(item, "rb") as handle:
                    digest.update(hashlib.sha256(handle.read()).digest())
            else:
                digest.update(hashlib.sha256(item.encode()).digest())
        for key in sorted(self.labels):
            digest.update(key.encode())
            digest.update("\x1f".join(map(str, self.labels[key].tolist())).encode())
        return digest.hexdigest()


def open_image(path: str | Path):
    """Open an image as an RGB PIL image (greyscale becomes 3 channels).

    Raises a one-line error naming the file if it cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ToposcopeError(
            f"cannot read image {str(path)!r} ({type(error).__name__}: {error}); "
            "replace or remove the file"
        ) from None


def from_paths(
    paths: Iterable[str | Path],
    categories: Iterable[str] | None = None,
    name: str = "images",
    labels: Mapping[str, Iterable[Any]] | None = None,
) -> StimulusSet:
    """A StimulusSet of image files, optionally labelled with ``categories``."""
    paths = [str(p) for p in paths]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise ToposcopeError(f"image {missing[0]!r} does not exist ({len(missing)} missing in all)")
    table = {k: np.asarray(list(v)) for k, v in (labels or {}).items()}
    if categories is not None:
        table["category"] = np.asarray(list(categories), dtype=object)
    table.setdefault("stimulus_id", np.asarray([Path(p).stem for p in paths]))
    return StimulusSet(items=tuple(paths), kind="image", labels=table, name=name)


def from_folder(folder: str | Path, name: str | None = None) -> StimulusSet:
    """Images under ``folder``; each image's category is its subfolder's name.

    Images directly in ``folder`` get the category ``""``. Files are sorted
    (natural order of numbers) so the set is the same on every machine.
    """
    folder = check_dir("stimulus folder", folder, "give a folder of images (one subfolder per category)")
    paths = sorted(
        (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
        key=lambda p: _natural_key(p.relative_to(folder)),
    )
    if not paths:
        raise ToposcopeError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) found under {str(folder)!r}; "
            "point at a folder of images"
        )
    relative = [p.relative_to(folder) for p in paths]
    categories = [r.parts[0] if len(r.parts) > 1 else "" for r in relative]
    ids = [str(r.with_suffix("")) for r in relative]
    return from_paths(paths, categories, name=name or folder.name, labels={"stimulus_id": ids})


def from_texts(
    texts: Iterable[str],
    categories: Iterable[str] | None = None,
    name: str = "texts",
    labels: Mapping[str, Iterable[Any]] | None = None,
) -> StimulusSet:
    """A StimulusSet of texts (sentences, word lists, passages)."""
    texts = [str(t) for t in texts]
    table = {k: np.asarray(list(v)) for k, v in (labels or {}).items()}
    if categories is not None:
        table["category"] = np.asarray(list(categories), dtype=object)
    return StimulusSet(items=tuple(texts), kind="text", labels=table, name=name)


def from_text_file(path: str | Path) -> StimulusSet:
    """Texts from a UTF-8 file, one per non-empty line."""
    from toposcope._validation import check_file

    path = check_file("text file", path, "give a .txt file with one text per line")
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as error:
        raise ToposcopeError(f"text file {str(path)!r} is not UTF-8 ({error.reason} at byte {error.start})") from None
    texts = [line for line in lines if line]
    if not texts:
        raise ToposcopeError(f"text file {str(path)!r} has no non-empty lines")
    return from_texts(texts, name=path.stem)


def _natural_key(path: Path) -> list[Any]:
    import re

    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(path))]
