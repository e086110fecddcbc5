"""Real-world size and animacy (Konkle & Oliva 2012; Konkle & Caramazza 2013).

Two ways to label images for the large-scale biases of object cortex:

* :func:`load_konkle` reads the familiar-size set, whose folders
  ``{Big,Small}-vis{Big,Small}`` give each image's real-world ``size`` and its
  ``visual_size``, and joins a labels table (``file,object,animacy``; the one
  shipped beside the manifest by default) for the other labels.
* :func:`from_labels_table` makes a set from any folder and a CSV table whose
  ``file`` column names the images and whose other columns are labels, e.g. an
  animate / inanimate split of fLOC images.

A table row naming a file that is not there is an error, as is an image of the
set that has no row.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from toposcope._validation import ToposcopeError, check_file
from toposcope.stimuli.core import IMAGE_SUFFIXES, StimulusSet, _natural_key, from_paths
from toposcope.stimuli.manifests import get_manifest, resolve_folder

__all__ = ["SIZE_FOLDER", "from_labels_table", "load_konkle", "read_labels_table"]

#: ``Big-visSmall`` -> real-world size ``big``, visual size ``small``.
SIZE_FOLDER = re.compile(r"^(?P<size>big|small)-vis(?P<visual>big|small)$", re.IGNORECASE)


def read_labels_table(path: str | Path) -> dict[str, list[str]]:
    """Columns of a labels CSV with a ``file`` column.

    Returns
    -------
    dict of str to list of str
        One list per column, ``file`` included, each ``n_rows`` long.
    """
    path = check_file("labels table", path, "give a CSV with a 'file' column and one column per label")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        fields = reader.fieldnames or []
    if "file" not in fields:
        raise ToposcopeError(
            f"labels table {path.name!r} has columns {fields} but no 'file' column; "
            "name each image's path (relative to the image folder) in a 'file' column"
        )
    if not rows:
        raise ToposcopeError(f"labels table {path.name!r} has no rows")
    columns = {name: [(row.get(name) or "").strip() for row in rows] for name in fields}
    seen: set[str] = set()
    for file in columns["file"]:
        if file in seen:
            raise ToposcopeError(f"labels table {path.name!r} names {file!r} twice; give one row per image")
        seen.add(file)
    return columns


def _check_rows_exist(root: Path, files: list[str], table: str) -> None:
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise ToposcopeError(
            f"labels table {table!r} names {len(missing)} file(s) missing from {str(root)!r} "
            f"(first: {missing[0]!r}); fix the 'file' column or the folder"
        )


def from_labels_table(
    table: str | Path, root: str | Path | None = None, name: str | None = None
) -> StimulusSet:
    """The images a labels table names, labelled by its other columns.

    Parameters
    ----------
    table : path
        CSV with a ``file`` column (paths relative to ``root``) and label columns;
        a ``category`` column becomes the category (else the first folder of ``file``).
    root : path, optional
        Folder the paths are relative to; the table's own folder by default.
    name : str, optional
        Set name; the table's stem by default.

    Returns
    -------
    StimulusSet
        One stimulus per row, in table order.
    """
    columns = read_labels_table(table)
    root = Path(root).expanduser() if root is not None else Path(table).parent
    files = columns.pop("file")
    _check_rows_exist(root, files, Path(table).name)
    labels = {k: np.asarray(v, dtype=object) for k, v in columns.items()}
    if "category" not in labels:
        labels["category"] = np.asarray([Path(f).parts[0] if len(Path(f).parts) > 1 else "" for f in files],
                                        dtype=object)
    labels["stimulus_id"] = np.asarray([str(Path(f).with_suffix("")) for f in files])
    categories = labels.pop("category")
    return from_paths([root / f for f in files], categories, name=name or Path(table).stem, labels=labels)


def load_konkle(
    folder: str | Path | None = None, *, labels: str | Path | None = "default"
) -> StimulusSet:
    """The familiar-size objects with ``size``, ``visual_size``, ``object`` and table labels.

    Parameters
    ----------
    folder : path, optional
        Folder with the four subfolders ``Big-visBig``, ``Big-visSmall``,
        ``Small-visBig``, ``Small-visSmall``; the fetched copy by default.
    labels : path, "default" or None
        A labels CSV (``file`` relative to ``folder``, plus label columns such as
        ``animacy``); ``"default"`` uses the table shipped with the manifest;
        ``None`` uses the folder layout only.

    Returns
    -------
    StimulusSet
        ``category`` is the folder (``"Big-visSmall"``); ``size`` and ``visual_size``
        are ``"big"`` / ``"small"``.
    """
    root = resolve_folder("konkle", folder)
    paths: list[Path] = []
    size: list[str] = []
    visual: list[str] = []
    category: list[str] = []
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and SIZE_FOLDER.match(p.name))
    if not subfolders:
        raise ToposcopeError(
            f"{str(root)!r} has no Big-visBig / Small-visSmall style subfolders; point at the folder "
            "holding them (kidstroop's stimuli/ImageFiles) or run `toposcope stimuli fetch konkle`"
        )
    for sub in subfolders:
        match = SIZE_FOLDER.match(sub.name)
        files = sorted((p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                       key=lambda p: _natural_key(Path(p.name)))
        if not files:
            raise ToposcopeError(f"category {sub.name!r} has zero images in {str(sub)!r}; add its images")
        paths += files
        size += [match["size"].lower()] * len(files)
        visual += [match["visual"].lower()] * len(files)
        category += [sub.name] * len(files)
    relative = [p.relative_to(root).as_posix() for p in paths]
    table = {
        "stimulus_id": np.asarray([str(Path(r).with_suffix("")) for r in relative]),
        "size": np.asarray(size, dtype=object),
        "visual_size": np.asarray(visual, dtype=object),
        # "03_baseball 2.png" -> "baseball 2"
        "object": np.asarray([re.sub(r"^\d+_", "", p.stem) for p in paths], dtype=object),
    }
    if labels is not None:
        path = get_manifest("konkle").beside(get_manifest("konkle").labels["table"]) \
            if str(labels) == "default" else Path(labels)
        table.update(_join_table(root, relative, path))
    return from_paths(paths, np.asarray(category, dtype=object), name="konkle", labels=table)


def _join_table(root: Path, relative: list[str], path: Path) -> dict[str, np.ndarray]:
    """The table's label columns, reordered to ``relative`` (the set's file order)."""
    columns = read_labels_table(path)
    files = columns.pop("file")
    _check_rows_exist(root, files, path.name)
    row_of = {f: i for i, f in enumerate(files)}
    unlabelled = [r for r in relative if r not in row_of]
    if unlabelled:
        raise ToposcopeError(
            f"{len(unlabelled)} image(s) have no row in labels table {path.name!r} "
            f"(first: {unlabelled[0]!r}); add a row per image"
        )
    order = [row_of[r] for r in relative]
    return {k: np.asarray(v, dtype=object)[order] for k, v in columns.items()}
