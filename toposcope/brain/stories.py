"""Spoken stories as timed words: Praat TextGrids, CSV tables, forced-alignment JSON.

A story is a :class:`StoryWords`: the words in the order they were heard, with
each word's onset and offset in seconds from the start of the audio. Three
readers cover the formats story-listening data sets ship:

- :func:`read_textgrid`: a Praat TextGrid, long or short text format (read with
  the maintained ``praatio`` package) or Praat's "chronological" format (some
  LeBel et al. 2023 files; parsed here, as no package reads it). The word tier
  is the one named ``word``/``words`` unless ``tier=`` names another; the
  non-words of the Huth-lab aligner (``sp``, ``{ns}``, ``sentence_start``, ...)
  are dropped as that lab's ``make_word_ds`` drops them.
- :func:`read_word_csv`: a ``word,onset,offset`` table with a header, or the
  Narratives ``align.csv`` (no header: word, aligned word, onset, offset).
- :func:`read_alignment_json`: the Gentle forced-aligner JSON that Narratives
  ships (``stimuli/gentle/<task>/align.json``).

Words the aligner could not place (Gentle's ``not-found-in-audio``, empty times
in a CSV) stay in the story, so a language model still reads them as context,
with times interpolated between their aligned neighbours; ``unaligned="drop"``
removes them instead. How many were interpolated is kept in ``n_unaligned``.

:func:`tr_times` gives the times of a scan's volumes relative to the audio.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toposcope._validation import ToposcopeError, check_file, check_option

__all__ = [
    "NON_WORDS",
    "UNALIGNED",
    "StoryWords",
    "read_alignment_json",
    "read_story",
    "read_textgrid",
    "read_word_csv",
    "tr_times",
]

#: Labels of the word tier that are not words: silences, breaths, noise and
#: sentence markers of the Huth-lab aligner (``DEFAULT_BAD_WORDS`` of its
#: ``dsutils``), compared lower-case with braces stripped (``{NS}`` -> ``ns``).
NON_WORDS = frozenset({"sentence_start", "sentence_end", "br", "lg", "ls", "ns", "sp", "sil", ""})
#: What to do with words that have no time.
UNALIGNED = ("interpolate", "drop")
#: File suffixes :func:`read_story` knows, in the order it looks for them.
SUFFIXES = (".TextGrid", ".textgrid", ".csv", ".json")


@dataclass(frozen=True)
class StoryWords:
    """The words of one story with their times, in the order heard.

    Parameters
    ----------
    name : str
        The story's name (its file stem), which matches it to its responses.
    words : tuple of str
        The words as written in the transcript.
    onsets, offsets : ndarray, float64, shape (n_words,)
        Seconds from the start of the story's audio; ``offsets >= onsets``.
    n_unaligned : int
        Words whose times were interpolated (the aligner did not place them).
    source : str
        The file read.
    """

    name: str
    words: tuple[str, ...]
    onsets: np.ndarray
    offsets: np.ndarray
    n_unaligned: int = 0
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        onsets = np.asarray(self.onsets, dtype=np.float64)
        offsets = np.asarray(self.offsets, dtype=np.float64)
        n = len(self.words)
        if n == 0:
            raise ToposcopeError(f"story {self.name!r} has no words{self._where()}; check the transcript")
        if onsets.shape != (n,) or offsets.shape != (n,):
            raise ToposcopeError(f"story {self.name!r}: {n} words but {onsets.size} onsets and "
                                 f"{offsets.size} offsets{self._where()}")
        if not (np.isfinite(onsets).all() and np.isfinite(offsets).all()):
            raise ToposcopeError(f"story {self.name!r} has words without finite times{self._where()}")
        bad = np.flatnonzero(offsets < onsets)
        if bad.size:
            i = int(bad[0])
            raise ToposcopeError(f"story {self.name!r}: word {i} ({self.words[i]!r}) ends at {offsets[i]:g} s "
                                 f"before it starts at {onsets[i]:g} s{self._where()}")
        if np.any(np.diff(onsets) < 0):
            i = int(np.flatnonzero(np.diff(onsets) < 0)[0]) + 1
            raise ToposcopeError(f"story {self.name!r}: word {i} ({self.words[i]!r}) starts before the word "
                                 f"before it{self._where()}; words must be in the order heard")
        object.__setattr__(self, "onsets", onsets)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "words", tuple(str(w) for w in self.words))

    def _where(self) -> str:
        return f" ({self.source})" if self.source else ""

    def __len__(self) -> int:
        return len(self.words)

    @property
    def times(self) -> np.ndarray:
        """Each word's time for interpolation: the middle of the word (the Huth-lab convention)."""
        return (self.onsets + self.offsets) / 2.0

    @property
    def duration(self) -> float:
        """End of the last word, in seconds."""
        return float(self.offsets.max())

    @property
    def text(self) -> str:
        """The words joined by single spaces."""
        return " ".join(self.words)


def tr_times(n_volumes: int, tr: float, story_start: float = 0.0) -> np.ndarray:
    """Times of a scan's volumes relative to the story's audio, at the middle of each TR.

    Volume ``k`` is acquired from ``k * tr`` to ``(k + 1) * tr`` seconds after
    the scan starts; its time is the middle of that window (as in the Huth-lab
    ``DataSequence``, ``trtimes + tr / 2``), minus the audio's start.

    Parameters
    ----------
    n_volumes : int
        Volumes (TRs) in the scan.
    tr : float
        Repetition time in seconds.
    story_start : float
        When the audio started, in seconds after the first volume.

    Returns
    -------
    ndarray, float64, shape (n_volumes,)

    Examples
    --------
    >>> tr_times(3, 2.0, story_start=10.0).tolist()
    [-9.0, -7.0, -5.0]
    """
    if isinstance(n_volumes, bool) or not isinstance(n_volumes, (int, np.integer)) or n_volumes < 1:
        raise ToposcopeError(f"n_volumes must be a positive integer, got {n_volumes!r}")
    if not (isinstance(tr, (int, float, np.floating)) and np.isfinite(tr) and tr > 0):
        raise ToposcopeError(f"tr must be a positive number of seconds, got {tr!r}")
    return (np.arange(int(n_volumes)) + 0.5) * float(tr) - float(story_start)


# --------------------------------------------------------------------------- helpers
def _clean_label(label: str) -> str:
    return label.strip().strip("{}[]").strip().lower()


def _fill_unaligned(name: str, words: list[str], onsets: list[float | None], offsets: list[float | None],
                    unaligned: str, source: str) -> StoryWords:
    """A StoryWords with words lacking times interpolated between neighbours, or dropped."""
    check_option("unaligned", unaligned, UNALIGNED)
    on = np.asarray([np.nan if t is None else t for t in onsets], dtype=np.float64)
    off = np.asarray([np.nan if t is None else t for t in offsets], dtype=np.float64)
    missing = ~(np.isfinite(on) & np.isfinite(off))
    if missing.all():
        raise ToposcopeError(f"story {name!r} has no aligned word ({source}); check the alignment file")
    if unaligned == "drop" or not missing.any():
        keep = ~missing
        return StoryWords(name, tuple(w for w, k in zip(words, keep) if k), on[keep], off[keep], 0, source)
    # A run of unaligned words shares the gap from the previous word's offset to the next
    # word's onset equally (zero-length words at the start or end of the story).
    n = len(words)
    start = 0
    while start < n:
        if not missing[start]:
            start += 1
            continue
        end = start
        while end < n and missing[end]:
            end += 1
        left = off[start - 1] if start > 0 else on[end]
        right = on[end] if end < n else off[start - 1]
        edges = np.linspace(left, max(left, right), end - start + 1)
        on[start:end], off[start:end] = edges[:-1], edges[1:]
        start = end
    return StoryWords(name, tuple(words), on, off, int(missing.sum()), source)


# --------------------------------------------------------------------------- TextGrid
def _chronological(path: Path, text: str) -> dict[str, list[tuple[float, float, str]]]:
    """Interval tiers of a Praat "chronological" TextGrid: ``{name: [(start, end, label), ...]}``.

    Layout (Praat manual, TextGrid file formats): a header line, ``xmin xmax``,
    the tier count, one ``"IntervalTier" "name" xmin xmax`` line per tier, then
    entries of two lines each: ``tier start end`` and ``"label"``. ``!`` starts
    a comment.
    """
    lines = [line.split("!")[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    try:
        n_tiers = int(lines[2].split()[0])
        names = []
        for line in lines[3:3 + n_tiers]:
            parts = re.findall(r'"((?:[^"]|"")*)"', line)
            names.append(parts[1].replace('""', '"'))
        tiers: dict[str, list[tuple[float, float, str]]] = {name: [] for name in names}
        body = lines[3 + n_tiers:]
        for head, label in zip(body[0::2], body[1::2]):
            tier, start, end = head.split()[:3]
            tiers[names[int(tier) - 1]].append((float(start), float(end), label.strip('"').replace('""', '"')))
    except (IndexError, ValueError) as error:
        raise ToposcopeError(f"TextGrid {str(path)!r} is not a readable chronological TextGrid ({error})") from None
    return tiers


def _textgrid_tiers(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    """Every interval tier of a TextGrid file, as ``{name: [(start, end, label), ...]}``."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "utf-16", "latin-1"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if "chronological" in first:
        return _chronological(path, text)
    from praatio import textgrid as praat_textgrid

    try:
        grid = praat_textgrid.openTextgrid(str(path), includeEmptyIntervals=False, reportingMode="silence",
                                           duplicateNamesMode="rename")
    except Exception as error:  # noqa: BLE001 - praatio raises many types for a damaged file
        raise ToposcopeError(f"TextGrid {str(path)!r} could not be read ({type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''}); is it a Praat TextGrid?") from None
    tiers = {}
    for name in grid.tierNames:
        tier = grid.getTier(name)
        if getattr(tier, "tierType", "") == "IntervalTier":
            tiers[name] = [(float(e.start), float(e.end), str(e.label)) for e in tier.entries]
    return tiers


def read_textgrid(path: str | Path, *, tier: str | None = None, name: str | None = None,
                  non_words: frozenset[str] = NON_WORDS) -> StoryWords:
    """Words and their times from a Praat TextGrid's word tier.

    Parameters
    ----------
    path : path
        A ``.TextGrid`` file (long, short or chronological text format).
    tier : str, optional
        The tier to read; by default the one named ``word`` or ``words`` (any case).
    name : str, optional
        The story's name; the file stem by default.
    non_words : set of str
        Labels to drop, compared lower-case with braces stripped.

    Returns
    -------
    StoryWords
    """
    path = check_file("TextGrid", path, "give a Praat .TextGrid file")
    tiers = _textgrid_tiers(path)
    if tier is None:
        found = [t for t in tiers if t.strip().lower() in ("word", "words")]
        if not found:
            raise ToposcopeError(f"TextGrid {str(path)!r} has no tier named 'word' (its interval tiers: "
                                 f"{', '.join(map(repr, tiers)) or 'none'}); pass tier=NAME")
        tier = found[0]
    elif tier not in tiers:
        raise ToposcopeError(f"TextGrid {str(path)!r} has no interval tier {tier!r}; it has "
                             f"{', '.join(map(repr, tiers)) or 'none'}")
    entries = [(s, e, w.strip()) for s, e, w in tiers[tier] if _clean_label(w) not in non_words]
    return StoryWords(name or path.stem, tuple(w for _, _, w in entries),
                      np.asarray([s for s, _, _ in entries]), np.asarray([e for _, e, _ in entries]),
                      source=str(path))


# --------------------------------------------------------------------------- CSV / JSON
def _number(text: str) -> float | None:
    text = (text or "").strip()
    if not text or text.lower() in ("nan", "na", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_word_csv(path: str | Path, *, name: str | None = None, unaligned: str = "interpolate") -> StoryWords:
    """Words and times from a CSV table.

    Parameters
    ----------
    path : path
        Either a table with a header naming ``word``, ``onset`` and ``offset``
        columns (``start``/``end`` are accepted too), or the Narratives
        ``align.csv`` without a header: word, aligned word, onset, offset (three
        columns without a header are word, onset, offset).
    name : str, optional
        The story's name; the file stem by default (Narratives' ``<task>_align.csv``
        and ``<task>/align.csv`` give the task).
    unaligned : {"interpolate", "drop"}
        Rows with empty times: keep them with interpolated times, or drop them.

    Returns
    -------
    StoryWords
    """
    path = check_file("word table", path, "give a CSV file with word, onset, offset columns")
    rows = [row for row in csv.reader(path.read_text(encoding="utf-8-sig").splitlines()) if row]
    if not rows:
        raise ToposcopeError(f"word table {str(path)!r} is empty")
    header = [cell.strip().lower() for cell in rows[0]]
    aliases = {"word": ("word", "words", "token", "text"), "onset": ("onset", "start", "start_time", "tmin"),
               "offset": ("offset", "end", "stop", "end_time", "tmax")}
    columns = {key: next((header.index(a) for a in names if a in header), None) for key, names in aliases.items()}
    if all(c is not None for c in columns.values()):
        body = rows[1:]
        w, on, off = columns["word"], columns["onset"], columns["offset"]
    elif _number(rows[0][-1]) is not None or (len(rows[0]) >= 3 and _number(rows[0][-2]) is not None):
        body = rows
        width = len(rows[0])
        if width == 4:
            w, on, off = 0, 2, 3  # Narratives: word, aligned word, onset, offset
        elif width == 3:
            w, on, off = 0, 1, 2
        else:
            raise ToposcopeError(f"word table {str(path)!r} has {width} columns and no header; give a header "
                                 "row naming word, onset, offset")
    else:
        raise ToposcopeError(f"word table {str(path)!r} has no word, onset and offset columns (header: "
                             f"{', '.join(rows[0])}); name them in the first row")
    stem = path.stem
    default = path.parent.name if stem == "align" else re.sub(r"_align$", "", stem)
    words, onsets, offsets = [], [], []
    for number, row in enumerate(body, start=2 if body is not rows else 1):
        if len(row) <= max(w, on, off):
            raise ToposcopeError(f"word table {str(path)!r} line {number} has {len(row)} columns, "
                                 f"expected {max(w, on, off) + 1}")
        words.append(row[w].strip())
        onsets.append(_number(row[on]))
        offsets.append(_number(row[off]))
    return _fill_unaligned(name or default, words, onsets, offsets, unaligned, str(path))


def read_alignment_json(path: str | Path, *, name: str | None = None, unaligned: str = "interpolate") -> StoryWords:
    """Words and times from Gentle forced-alignment JSON (the Narratives ``align.json``).

    The file holds ``{"transcript": ..., "words": [{"word", "case", "start", "end", ...}]}``;
    words whose ``case`` is not ``"success"`` have no times.

    Parameters
    ----------
    path : path
    name : str, optional
        The story's name; by default the folder name for ``<task>/align.json``,
        else the file stem.
    unaligned : {"interpolate", "drop"}

    Returns
    -------
    StoryWords
    """
    path = check_file("alignment file", path, "give a forced-alignment JSON file (Gentle's align.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ToposcopeError(f"alignment file {str(path)!r} is not valid JSON ({error.msg} at line {error.lineno})") from None
    entries = data.get("words") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ToposcopeError(f"alignment file {str(path)!r} has no 'words' list; expected Gentle's align.json")
    words, onsets, offsets = [], [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "word" not in entry:
            raise ToposcopeError(f"alignment file {str(path)!r}: words[{i}] has no 'word'")
        words.append(str(entry["word"]))
        placed = entry.get("case", "success") == "success" and "start" in entry and "end" in entry
        onsets.append(float(entry["start"]) if placed else None)
        offsets.append(float(entry["end"]) if placed else None)
    default = path.parent.name if path.stem == "align" else path.stem
    return _fill_unaligned(name or default, words, onsets, offsets, unaligned, str(path))


def read_story(path: str | Path, **options) -> StoryWords:
    """Read a story from a ``.TextGrid``, ``.csv`` or ``.json`` file, by its suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".textgrid":
        return read_textgrid(path, **options)
    if suffix == ".csv":
        return read_word_csv(path, **options)
    if suffix == ".json":
        return read_alignment_json(path, **options)
    raise ToposcopeError(f"story file {str(path)!r}: unknown format {path.suffix!r}; give a .TextGrid, "
                         ".csv (word, onset, offset) or .json (forced alignment) file")


def story_files(folder: str | Path) -> dict[str, Path]:
    """``{story name: file}`` for every story file in a folder (TextGrid before CSV before JSON)."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    for suffix in SUFFIXES:
        for path in sorted(folder.glob(f"*{suffix}")):
            found.setdefault(path.stem, path)
    return found


def words_of(stories: Sequence[StoryWords]) -> list[str]:
    """All words of the stories, in order (for building a vocabulary)."""
    return [w for story in stories for w in story.words]
