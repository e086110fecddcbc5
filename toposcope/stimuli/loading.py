"""``toposcope.stimuli.load``: one name, folder or file to a :class:`StimulusSet`.

The dispatch over every source a set can come from (a named set's manifest, a
folder of images, a text file, a language localizer set) lives here, above the
formats it picks from, so :mod:`toposcope.stimuli.core` imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError
from toposcope.stimuli.core import IMAGE_SUFFIXES, StimulusSet, from_folder, from_text_file

__all__ = ["load"]


def load(name_or_dir: str | Path | StimulusSet, **options: Any) -> StimulusSet:
    """Load a stimulus set by name, from ``NAME:DIR``, a folder or a text file.

    Parameters
    ----------
    name_or_dir : str, Path or StimulusSet
        A named set (``"floc"``, ``"konkle"``: the copy fetched with ``toposcope
        stimuli fetch``; ``"gratings"``: made in code), ``NAME:DIR`` for a named
        set's folder (``"floc:/data/fLoc/stimuli"``), a folder of images (one
        subfolder per category), ``NAME:DIR`` to name a plain folder, a
        ``.txt`` file with one text per line, a language localizer set
        (``fedorenko10``, ``fedorenko10:DIR``, or one of TopoLM's ``.csv`` files:
        :func:`toposcope.stimuli.language.load_language`), or ``grammar`` /
        ``grammar:N`` (sentences of the project's grammar,
        :func:`toposcope.stimuli.suites.grammar_sentences`). A StimulusSet is
        returned unchanged.
    **options
        For named sets, their loader's options (``include_scrambled=True``, ...).
    """
    if isinstance(name_or_dir, StimulusSet):
        return name_or_dir
    text = str(name_or_dir)
    from toposcope.stimuli.manifests import is_named, load_named

    if is_named(text) and not Path(text).exists():
        return load_named(text, **options)
    if options:
        raise ToposcopeError(
            f"options {sorted(options)} apply to named sets only (floc, konkle, gratings), not {text!r}"
        )
    if text.endswith(".txt"):
        return from_text_file(text)
    if (text == "grammar" or text.startswith("grammar:")) and not Path(text).exists():
        from toposcope.stimuli.suites import grammar_sentences

        count = text.partition(":")[2]
        if count and not count.isdigit():
            raise ToposcopeError(f"stimuli {text!r}: give grammar or grammar:N with N a number of sentences")
        return grammar_sentences(int(count)) if count else grammar_sentences()
    if text == "fedorenko10" or text.startswith("fedorenko10:") or text.lower().endswith(".csv"):
        from toposcope.stimuli.language import load_language

        return load_language(text)
    set_name, sep, folder = text.partition(":")
    if sep and set_name.isidentifier() and not Path(text).exists():
        _check_no_empty_categories(folder)
        return from_folder(folder, name=set_name)
    _check_no_empty_categories(text)
    return from_folder(text)


def _check_no_empty_categories(folder: str) -> None:
    """A category subfolder without images would silently vanish from the set: refuse it."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        return  # from_folder reports it
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in sub.rglob("*")):
            raise ToposcopeError(
                f"category {sub.name!r} has zero images in {str(sub)!r}; add images "
                f"({', '.join(IMAGE_SUFFIXES)}) or remove the folder"
            )
