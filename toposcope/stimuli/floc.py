"""The fLOC localizer (Stigliani et al. 2015): ten categories in five domains.

Layout ``<category>/<category>-N.jpg``; the manifest ``stimuli/floc.toml`` gives
the categories, the domains (faces = adult + child, bodies = body + limb, places
= house + corridor, characters = word + number, objects = car + instrument) and
the source. Phase-scrambled images are left out unless asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from toposcope._validation import ToposcopeError
from toposcope.stimuli.core import IMAGE_SUFFIXES, StimulusSet, _natural_key, from_paths
from toposcope.stimuli.manifests import get_manifest, resolve_folder

__all__ = ["floc_categories", "floc_domains", "load_floc"]


def floc_categories(include_scrambled: bool = False) -> list[str]:
    """The fLOC categories in manifest order (``scrambled`` last when included)."""
    labels = get_manifest("floc").labels
    return list(labels["categories"]) + (list(labels.get("optional", [])) if include_scrambled else [])


def floc_domains() -> dict[str, list[str]]:
    """Domain -> its two categories, from the manifest."""
    return {k: list(v) for k, v in get_manifest("floc").labels["domains"].items()}


def load_floc(
    folder: str | Path | None = None,
    *,
    include_scrambled: bool = False,
    categories: Iterable[str] | None = None,
    per_category: int | None = None,
) -> StimulusSet:
    """The fLOC images with ``category`` and ``domain`` labels.

    Parameters
    ----------
    folder : path, optional
        The folder holding one subfolder per category (fLoc's ``stimuli/``); the
        copy made by ``toposcope stimuli fetch floc`` by default.
    include_scrambled : bool
        Add the ``scrambled`` category (domain ``"scrambled"``).
    categories : iterable of str, optional
        A subset of the categories, in the order given.
    per_category : int, optional
        Keep only the first ``per_category`` images of each category (natural order).

    Returns
    -------
    StimulusSet
        ``n_stimuli`` = categories x images; labels ``stimulus_id`` (``"adult/adult-1"``),
        ``category`` and ``domain``.
    """
    root = resolve_folder("floc", folder)
    allowed = floc_categories(include_scrambled=True)
    chosen = list(categories) if categories is not None else floc_categories(include_scrambled)
    unknown = [c for c in chosen if c not in allowed]
    if unknown:
        raise ToposcopeError(
            f"unknown fLOC category {unknown[0]!r}; fLOC has: {', '.join(map(repr, allowed))}"
        )
    if per_category is not None and (not isinstance(per_category, int) or per_category < 1):
        raise ToposcopeError(f"per_category must be a positive integer, got {per_category!r}")
    domain_of = {c: d for d, cs in floc_domains().items() for c in cs}
    paths: list[Path] = []
    labels: list[str] = []
    for category in chosen:
        files = _category_files(root, category)
        if per_category is not None:
            files = files[:per_category]
        paths += files
        labels += [category] * len(files)
    categories_arr = np.asarray(labels, dtype=object)
    domains = np.asarray([domain_of.get(c, c) for c in labels], dtype=object)
    ids = [f"{p.parent.name}/{p.stem}" for p in paths]
    return from_paths(paths, categories_arr, name="floc", labels={"stimulus_id": ids, "domain": domains})


def _category_files(root: Path, category: str) -> list[Path]:
    """Images of one category, in natural order; a missing or empty folder is an error."""
    folder = root / category
    if not folder.is_dir():
        raise ToposcopeError(
            f"fLOC folder {str(root)!r} has no {category!r} subfolder; point at fLoc's stimuli/ "
            "folder (one subfolder per category) or run `toposcope stimuli fetch floc`"
        )
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: _natural_key(Path(p.name)),
    )
    if not files:
        raise ToposcopeError(
            f"category {category!r} has zero images in {str(folder)!r}; every category needs images "
            f"({', '.join(IMAGE_SUFFIXES)})"
        )
    return files
