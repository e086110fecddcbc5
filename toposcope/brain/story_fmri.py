"""Story-listening fMRI: responses (TR x voxel) per story, matched to the story's timed words.

Readers of response files (:func:`read_responses`): NIfTI volumes (4-D, voxels
kept where the signal is not all zero, or inside a mask), GIfTI surface time
series (one data array per volume, as fMRIPrep and AFNI write them) and HDF5
(the ``data`` dataset of the LeBel et al. 2023 derivatives).

Data set layouts, each checked for what it holds, naming what is missing:

- :func:`load_lebel`: OpenNeuro ds003020 (LeBel et al. 2023, Huth lab):
  ``derivative/TextGrids/<story>.TextGrid``,
  ``derivative/preprocessed_data/<subject>/<story>.hf5`` (dataset ``data``, TR x
  voxel, already trimmed) and ``derivative/respdict.json`` (volumes per story).
  TR times follow the lab's published code: TR 2 s, audio starting 10 s into
  the scan, 5 volumes of padding, and the feature rows ``[5 + 5 : -5]`` kept,
  so a file holds ``respdict[story] - 20`` rows.
- :func:`load_narratives`: OpenNeuro ds002345 (Nastase et al. 2021):
  ``stimuli/gentle/<task>/align.json`` (or ``align.csv``),
  ``derivatives/afni-nosmooth/sub-NNN/func/sub-NNN_task-<task>_space-fsaverage6_hemi-{L,R}_desc-clean.func.gii``
  (or the ``MNI152NLin2009cAsym`` volume), ``sub-NNN/func/*_events.tsv`` (the
  story's onset in the scan) and fMRIPrep's ``desc-confounds_regressors.tsv``
  (head motion). Volumes before the story's onset are dropped. Word times are
  on the clock of the story's audio file, which begins with the music before
  the story where there is some (:data:`NARRATIVES_SPEECH_START`). The scan that
  holds two stories (``slumlordreach``: ``slumlord`` then ``reach``, one
  ``story`` row each in its events) comes out as two stories, and the task heard
  in versions (``milkyway``: ``original``, ``vodka``, ``synonyms``) takes the
  words of the version in the ``condition`` column of ``participants.tsv``.
- :func:`load_folder`: any data in two plain folders: ``<story>.TextGrid|.csv|.json``
  and ``<story>.hf5|.nii.gz|.func.gii``, with the TR given.

Every loader returns a :class:`StoryData`. Voxels that hold NaN or inf in any
story are dropped from all stories and counted (``n_dropped_voxels``).
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_dir, check_file, check_option
from toposcope.brain.stories import StoryWords, read_story, story_files, tr_times

__all__ = [
    "DATASETS",
    "LEBEL",
    "MOTION",
    "NARRATIVES",
    "NARRATIVES_SPEECH_START",
    "NARRATIVES_SPLIT",
    "NARRATIVES_VERSIONS",
    "StoryData",
    "StoryScan",
    "assemble",
    "load_folder",
    "load_lebel",
    "load_narratives",
    "load_story_data",
    "narratives_audio_start",
    "narratives_condition",
    "read_responses",
]

#: Where the real data sets live (said in every "not found" error).
LEBEL = "OpenNeuro ds003020 (LeBel et al. 2023): https://openneuro.org/datasets/ds003020 (its derivative/ folder)"
NARRATIVES = "OpenNeuro ds002345 (Narratives, Nastase et al. 2021): https://openneuro.org/datasets/ds002345"
#: fMRIPrep's head-motion columns (translations in mm, rotations in radians).
MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
#: The Huth-lab constants for ds003020 (``load_simulated_trfiles`` and ``apply_zscore_and_hrf``).
LEBEL_TR, LEBEL_START, LEBEL_PAD, LEBEL_TRIM = 2.0, 10.0, 5, 5
#: Narratives' repetition time, used when no BOLD sidecar gives it.
NARRATIVES_TR = 1.5
RESPONSE_SUFFIXES = (".hf5", ".h5", ".hdf5", ".nii.gz", ".nii", ".func.gii", ".gii")


@dataclass
class StoryScan:
    """One story heard in one scan.

    Attributes
    ----------
    name : str
    words : StoryWords
    responses : ndarray, float32, shape (n_trs, n_voxels)
    tr_times : ndarray, float64, shape (n_trs,)
        Time of each row relative to the audio's start (middle of the TR).
    confounds : ndarray, float64, shape (n_trs, n_confounds), optional
    repeats : ndarray, float32, shape (n_repeats, n_trs, n_voxels), optional
        Every presentation of a story heard more than once; ``responses`` is their mean.
    """

    name: str
    words: StoryWords
    responses: np.ndarray
    tr_times: np.ndarray
    confounds: np.ndarray | None = None
    repeats: np.ndarray | None = None

    @property
    def n_trs(self) -> int:
        return int(self.responses.shape[0])


@dataclass
class StoryData:
    """Stories with their timed words and responses, one subject.

    Attributes
    ----------
    scans : dict of str to StoryScan
        In story order.
    tr : float
        Repetition time, seconds.
    voxel_coords : dict
        Coords along the voxel dim (``hemisphere``, ``vertex``, ``i``/``j``/``k``, ...).
    confound_names : tuple of str
    attrs : dict
        Provenance: data set, subject, root, ``n_dropped_voxels``.
    """

    scans: dict[str, StoryScan]
    tr: float
    voxel_coords: dict[str, np.ndarray] = field(default_factory=dict)
    confound_names: tuple[str, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def stories(self) -> list[str]:
        return list(self.scans)

    @property
    def n_voxels(self) -> int:
        return int(next(iter(self.scans.values())).responses.shape[1])

    def select(self, stories: Iterable[str]) -> StoryData:
        """The same data with only ``stories`` (in that order)."""
        chosen = list(stories)
        unknown = [s for s in chosen if s not in self.scans]
        if unknown:
            raise ToposcopeError(f"unknown story {unknown[0]!r}; the data hold {', '.join(self.scans)}")
        return StoryData({s: self.scans[s] for s in chosen}, self.tr, self.voxel_coords, self.confound_names,
                         dict(self.attrs))


# --------------------------------------------------------------------------- response files
def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in RESPONSE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def read_responses(path: str | Path, *, key: str = "data", mask: str | Path | None = None,
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Responses of one scan as a TR x voxel array.

    Parameters
    ----------
    path : path
        ``.hf5``/``.h5``/``.hdf5`` (dataset ``key``, shape (TRs, voxels)),
        ``.nii``/``.nii.gz`` (4-D, X x Y x Z x TRs) or ``.gii`` (GIfTI time series).
    key : str
        HDF5 dataset name (the LeBel derivatives use ``data``).
    mask : path, optional
        NIfTI only: a 3-D image whose non-zero voxels are kept; by default every
        voxel that is not zero at all times.

    Returns
    -------
    responses : ndarray, float32, shape (n_trs, n_voxels)
    coords : dict of str to ndarray, shape (n_voxels,)
        ``i``, ``j``, ``k`` (NIfTI), ``vertex`` (GIfTI) or ``index`` (HDF5).
    """
    path = check_file("responses file", path, "give a .hf5, .nii.gz or .func.gii file")
    suffix = _suffix(path)
    if suffix in (".hf5", ".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as handle:
                if key not in handle:
                    raise ToposcopeError(f"HDF5 file {str(path)!r} has no dataset {key!r} (it has "
                                         f"{', '.join(map(repr, handle.keys())) or 'nothing'})")
                data = np.asarray(handle[key][()], dtype=np.float32)
        except OSError as error:
            raise ToposcopeError(f"responses file {str(path)!r} is not readable HDF5 ({error})") from None
        if data.ndim != 2:
            raise ToposcopeError(f"HDF5 dataset {key!r} in {str(path)!r} has shape {data.shape}; expected (TRs, voxels)")
        return data, {"index": np.arange(data.shape[1])}
    import nibabel as nib

    try:
        image = nib.load(str(path))
    except Exception as error:  # noqa: BLE001 - nibabel raises several types for damaged files
        raise ToposcopeError(f"responses file {str(path)!r} could not be read by nibabel ({error})") from None
    if suffix in (".gii", ".func.gii"):
        arrays = image.agg_data()
        if isinstance(arrays, tuple):
            data = np.stack([np.asarray(a).ravel() for a in arrays])  # one data array per volume
        else:
            data = np.asarray(arrays)
            data = data.T if data.ndim == 2 else data[None, :]  # a single (vertices, TRs) array
        data = data.astype(np.float32)
        return data, {"vertex": np.arange(data.shape[1])}
    volume = np.asarray(image.dataobj, dtype=np.float32)
    if volume.ndim != 4:
        raise ToposcopeError(f"NIfTI {str(path)!r} has shape {volume.shape}; expected a 4-D time series")
    if mask is not None:
        keep = np.asarray(nib.load(str(check_file("mask", mask))).dataobj) != 0
        if keep.shape != volume.shape[:3]:
            raise ToposcopeError(f"mask has shape {keep.shape} but the responses' volumes are {volume.shape[:3]}")
    else:
        keep = np.any(volume != 0, axis=3)
    i, j, k = np.nonzero(keep)
    return volume[i, j, k, :].T.copy(), {"i": i, "j": j, "k": k}


# --------------------------------------------------------------------------- assembling
def assemble(words: Mapping[str, StoryWords], responses: Mapping[str, np.ndarray], times: Mapping[str, np.ndarray],
             tr: float, *, voxel_coords: Mapping[str, np.ndarray] | None = None,
             confounds: Mapping[str, np.ndarray] | None = None, confound_names: Iterable[str] = (),
             attrs: Mapping[str, Any] | None = None, tolerance: float | None = None) -> StoryData:
    """Match stories to their responses, check them, and drop voxels holding NaN.

    Parameters
    ----------
    words : dict of str to StoryWords
    responses : dict of str to ndarray, shape (n_trs, n_voxels) or (n_repeats, n_trs, n_voxels)
        A story heard several times gives one array per presentation: its
        responses are their mean and the repeats are kept (noise ceiling).
    times : dict of str to ndarray, shape (n_trs,)
        Each row's time relative to the audio (:func:`~toposcope.brain.stories.tr_times`).
    tr : float
    voxel_coords, confounds, confound_names, attrs
        See :class:`StoryData`.
    tolerance : float, optional
        How far (seconds) the last word may end after the last TR; one TR by default.

    Returns
    -------
    StoryData
    """
    only_words = sorted(set(words) - set(responses))
    only_responses = sorted(set(responses) - set(words))
    if only_responses:
        raise ToposcopeError(f"{len(only_responses)} stories have responses but no words (e.g. "
                             f"{only_responses[0]!r}); add their transcripts or leave their responses out")
    if only_words:
        raise ToposcopeError(f"{len(only_words)} stories have words but no responses (e.g. {only_words[0]!r}); "
                             "add their responses or leave their transcripts out")
    if not responses:
        raise ToposcopeError("no stories found: give at least one story with words and responses")
    tolerance = tr if tolerance is None else tolerance
    scans: dict[str, StoryScan] = {}
    widths = {}
    for name in responses:
        data = np.asarray(responses[name], dtype=np.float32)
        row_times = np.asarray(times[name], dtype=np.float64)
        repeats = None
        if data.ndim == 3:
            repeats, data = data, data.mean(axis=0)
        if data.ndim != 2:
            raise ToposcopeError(f"responses of story {name!r} have shape {data.shape}; expected (TRs, voxels) "
                                 "or (repeats, TRs, voxels)")
        if row_times.shape != (data.shape[0],):
            raise ToposcopeError(f"story {name!r}: {data.shape[0]} TRs in the responses but {row_times.size} TR "
                                 "times; the TR count does not match the file")
        story = words[name]
        end = row_times[-1] + tr / 2
        if story.duration > end + tolerance:
            raise ToposcopeError(f"story {name!r}: words run to {story.duration:.1f} s but the scan ends at "
                                 f"{end:.1f} s ({data.shape[0]} TRs of {tr:g} s); check the TR, the story's "
                                 "onset and that the transcript belongs to this scan")
        extra = None
        if confounds is not None and name in confounds:
            extra = np.asarray(confounds[name], dtype=np.float64)
            if extra.shape[0] != data.shape[0]:
                raise ToposcopeError(f"story {name!r}: {extra.shape[0]} rows of confounds for {data.shape[0]} TRs")
        widths[name] = data.shape[1]
        scans[name] = StoryScan(name, story, data, row_times, extra, repeats)
    if len(set(widths.values())) > 1:
        raise ToposcopeError(f"stories have different voxel counts ({', '.join(f'{k}: {v}' for k, v in widths.items())}); "
                             "give responses in one space and mask")
    finite = np.logical_and.reduce([np.isfinite(s.responses).all(axis=0) for s in scans.values()])
    n_dropped = int((~finite).sum())
    if n_dropped == finite.size:
        raise ToposcopeError("every voxel holds NaN or inf in some story; check the responses files")
    if n_dropped:
        warnings.warn(f"dropped {n_dropped} of {finite.size} voxels that hold NaN or inf", stacklevel=2)
        for scan in scans.values():
            scan.responses = scan.responses[:, finite]
            if scan.repeats is not None:
                scan.repeats = scan.repeats[:, :, finite]
    coords = {k: np.asarray(v)[finite] for k, v in (voxel_coords or {}).items()}
    info = {**(attrs or {}), "n_dropped_voxels": n_dropped, "tr": float(tr)}
    return StoryData(scans, float(tr), coords, tuple(confound_names), info)


def _pick(found: dict[str, Any], wanted: Iterable[str] | None, what: str, hint: str) -> list[str]:
    if wanted is None:
        return sorted(found)
    chosen = list(wanted)
    missing = [s for s in chosen if s not in found]
    if missing:
        raise ToposcopeError(f"{what} {missing[0]!r} not found ({hint}); available: "
                             f"{', '.join(sorted(found)[:8]) or 'none'}{' ...' if len(found) > 8 else ''}")
    return chosen


def _choose(wanted: Iterable[str] | None, default: set[str], checks: list[tuple[Any, Any]], none_found: str,
            ) -> list[str]:
    """The stories to read: by default every one in ``default`` (sorted; ``none_found`` if none), else those
    ``wanted``, each checked against every ``(found, message(name))`` of ``checks``."""
    if wanted is None:
        if not default:
            raise ToposcopeError(none_found)
        return sorted(default)
    chosen = list(wanted)
    for name in chosen:
        for found, message in checks:
            if name not in found:
                raise ToposcopeError(message(name))
    return chosen


def _tsv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a tab-separated file with a header (BIDS events and confounds)."""
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


# --------------------------------------------------------------------------- plain folders
#: ``<story>_repeat-<k>``: one presentation of a story heard several times.
REPEAT = re.compile(r"^(?P<story>.+)_repeat-(?P<k>\d+)$")


def _response_files(folder: Path) -> dict[str, list[Path]]:
    """Response files per story: one, or one per repeat (``<story>_repeat-<k>``, in repeat order)."""
    found: dict[str, dict[int, Path]] = {}
    for path in sorted(folder.iterdir()):
        suffix = _suffix(path)
        if suffix not in RESPONSE_SUFFIXES:
            continue
        stem = path.name[: -len(suffix)]
        repeat = REPEAT.match(stem)
        story, k = (repeat["story"], int(repeat["k"])) if repeat else (stem, 0)
        found.setdefault(story, {}).setdefault(k, path)
    for story, files in found.items():
        if 0 in files and len(files) > 1:
            raise ToposcopeError(f"story {story!r} has both {files[0].name} and repeat files "
                                 f"({', '.join(f.name for k, f in sorted(files.items()) if k)}); keep one kind")
    return {story: [files[k] for k in sorted(files)] for story, files in found.items()}


def load_folder(stories: str | Path, responses: str | Path, tr: float, *, story_start: float | Mapping[str, float] = 0.0,
                select: Iterable[str] | None = None, key: str = "data", mask: str | Path | None = None) -> StoryData:
    """Stories and responses from two plain folders, matched by file stem.

    Parameters
    ----------
    stories : path
        ``<story>.TextGrid``, ``<story>.csv`` or ``<story>.json`` files.
    responses : path
        ``<story>.hf5``, ``<story>.nii.gz`` or ``<story>.func.gii`` files, one
        scan per story; a story heard several times as ``<story>_repeat-1.hf5``,
        ``<story>_repeat-2.hf5``, ... (mean as its responses, repeats kept for
        the noise ceiling).
    tr : float
        Repetition time, seconds.
    story_start : float or dict of str to float
        When each story's audio started, in seconds after the first volume.
    select : iterable of str, optional
        Stories to read (all by default).
    key, mask
        See :func:`read_responses`.
    """
    stories = check_dir("stories folder", stories, "give the folder of .TextGrid/.csv/.json transcripts")
    responses = check_dir("responses folder", responses, "give the folder of .hf5/.nii.gz/.func.gii responses")
    words_files = story_files(stories)
    response_files = _response_files(responses)
    chosen = set(_pick(words_files, select, "story", f"in {str(stories)!r}")) if select is not None else None
    words, data, times, coords = {}, {}, {}, {}
    for name in sorted(set(words_files) | set(response_files)):
        if chosen is not None and name not in chosen:
            continue
        if name in words_files:
            words[name] = read_story(words_files[name])
        if name in response_files:
            parts = [read_responses(path, key=key, mask=mask) for path in response_files[name]]
            lengths = sorted({part[0].shape for part in parts})
            if len(lengths) > 1:
                raise ToposcopeError(f"the repeats of story {name!r} have shapes {lengths} (TRs, voxels); "
                                     "trim them to the same TRs")
            coords = parts[0][1]
            data[name] = parts[0][0] if len(parts) == 1 else np.stack([part[0] for part in parts])
            start = story_start.get(name, 0.0) if isinstance(story_start, Mapping) else story_start
            times[name] = tr_times(data[name].shape[-2], tr, start)
    return assemble(words, data, times, tr, voxel_coords=coords,
                    attrs={"dataset": "folder", "stories_dir": str(stories), "responses_dir": str(responses)})


# --------------------------------------------------------------------------- LeBel et al. 2023
def lebel_tr_times(n_rows: int, n_volumes: int | None = None) -> np.ndarray:
    """Times of the rows of a LeBel ``.hf5`` file relative to the audio (the Huth-lab pipeline).

    The lab's code simulates ``n_volumes - 5`` TRs of 2 s with the audio at 10 s,
    takes the middle of each TR, and keeps rows ``[10 : -5]`` of the features.
    Without ``respdict.json`` the volume count is ``n_rows + 20``.
    """
    n_volumes = n_rows + 2 * LEBEL_TRIM + 2 * LEBEL_PAD if n_volumes is None else int(n_volumes)
    full = tr_times(n_volumes - LEBEL_PAD, LEBEL_TR, LEBEL_START)
    kept = full[LEBEL_PAD + LEBEL_TRIM: len(full) - LEBEL_TRIM]
    if kept.size != n_rows:
        raise ToposcopeError(f"{n_rows} TRs in the file but respdict.json gives {n_volumes} volumes, which "
                             f"leave {kept.size} after the published trimming; the TR count does not match the file")
    return kept


def load_lebel(root: str | Path, subject: str = "UTS01", stories: Iterable[str] | None = None) -> StoryData:
    """One subject of LeBel et al. (2023), OpenNeuro ds003020, as released.

    Parameters
    ----------
    root : path
        The ``ds003020`` folder (holding ``derivative/``).
    subject : str
        ``UTS01`` ... ``UTS08``.
    stories : iterable of str, optional
        Stories to read; by default every story with a TextGrid and a response file.
    """
    root = check_dir("LeBel root", root, f"give the ds003020 folder; get it from {LEBEL}")
    grids = root / "derivative" / "TextGrids"
    subject_dir = root / "derivative" / "preprocessed_data" / subject
    for folder, what in ((grids, "TextGrids"), (subject_dir, f"responses of {subject}")):
        if not folder.is_dir():
            others = sorted(p.name for p in (root / "derivative" / "preprocessed_data").glob("*")) \
                if folder is subject_dir and (root / "derivative" / "preprocessed_data").is_dir() else []
            extra = f" (subjects there: {', '.join(others)})" if others else ""
            raise ToposcopeError(f"no {what} at {str(folder)!r}{extra}; expected the layout of {LEBEL}")
    respdict_path = root / "derivative" / "respdict.json"
    respdict = json.loads(respdict_path.read_text(encoding="utf-8")) if respdict_path.is_file() else {}
    grid_files = {p.stem: p for p in sorted(grids.glob("*.TextGrid"))}
    response_files = {p.stem: p for p in sorted(subject_dir.glob("*.hf5"))}
    chosen = _choose(
        stories, set(grid_files) & set(response_files),
        [(grid_files, lambda name: f"story {name!r} has no TextGrid at {str(grids / (name + '.TextGrid'))!r}"),
         (response_files, lambda name: f"story {name!r} has no responses at {str(subject_dir / (name + '.hf5'))!r}")],
        f"no story has both {grids.name}/<story>.TextGrid and {subject}/<story>.hf5 under {str(root)!r}; "
        f"expected the layout of {LEBEL}")
    words, data, times = {}, {}, {}
    for name in chosen:
        words[name] = read_story(grid_files[name])
        data[name], _ = read_responses(response_files[name], key="data")
        try:
            times[name] = lebel_tr_times(data[name].shape[0], respdict.get(name))
        except ToposcopeError as error:
            raise ToposcopeError(f"story {name!r}: {error}") from None
    return assemble(words, data, times, LEBEL_TR, voxel_coords={"index": np.arange(data[chosen[0]].shape[1])},
                    attrs={"dataset": "LeBel2023 (ds003020)", "subject": subject, "root": str(root),
                           "respdict": str(respdict_path) if respdict_path.is_file() else "none (volumes = rows + 20)"})


# --------------------------------------------------------------------------- Narratives
def _bids_subject(subject: str | int) -> str:
    text = str(subject)
    text = text.removeprefix("sub-")
    return f"sub-{int(text):03d}" if text.isdigit() else f"sub-{text}"


def _story_rows(events: Path, task: str) -> list[tuple[float, float | None, str]]:
    """The story rows of a BIDS events file, in the order heard: (onset, duration or None, ``stim_file``),
    seconds, from the rows whose ``trial_type`` is ``story`` or the task's name."""
    rows = _tsv_rows(events)
    found = []
    for row in rows:
        if row.get("trial_type", "").strip() in ("story", task):
            duration = (row.get("duration") or "").strip()
            found.append((float(row["onset"]), float(duration) if duration not in ("", "n/a") else None,
                          (row.get("stim_file") or "").strip()))
    if not found:
        kinds = sorted({row.get("trial_type", "").strip() for row in rows})
        raise ToposcopeError(f"events file {str(events)!r} has no row with trial_type 'story' or {task!r} "
                             f"(it has {', '.join(map(repr, kinds)) or 'no rows'})")
    return sorted(found, key=lambda row: row[0])


#: Where each task's (first) story starts in its audio file, in seconds. The release's
#: ``<task>_audio.wav`` (the ``stim_file`` of the music row and of the story row alike) starts with
#: the music that precedes the story, and Gentle aligned the words to that file, so
#: ``stimuli/gentle/<task>/align.json`` times are on the audio file's clock. The values are the story
#: row's onset minus the music row's onset in the release's events (``staging/compile_events.py``
#: of the Narratives code; 0 where no music precedes the story): e.g. Pie Man's music plays from 0 s
#: and its story from 15 s, and ``code/plot_stim.py`` draws Pie Man's first words at 15-23 s of the
#: audio file. ``slumlordreach``'s second story, ``reach``, starts 965 s into the same file (its own
#: row's onset gives it).
NARRATIVES_SPEECH_START = {
    "pieman": 15.0, "prettymouth": 21.0, "milkyway": 21.0, "21styear": 21.0, "slumlordreach": 25.0,
    "notthefallintact": 25.0, "notthefalllongscram": 25.0, "notthefallshortscram": 25.0,
    "merlin": 29.0, "sherlock": 29.0, "shapesphysical": 45.0, "shapessocial": 45.0,
    "tunnel": 0.0, "lucy": 0.0, "piemanpni": 0.0, "bronx": 0.0, "black": 0.0, "forgot": 0.0,
}


def narratives_audio_start(events: Path, task: str, story_onset: float) -> float:
    """When the task's audio file started, in seconds after the first volume (negative: before the scan).

    The story row's onset minus where the story starts in the audio
    (:data:`NARRATIVES_SPEECH_START`). The story row is the anchor, not the music row: for
    ``sub-038`` and ``sub-105`` (``prettymouth`` and ``milkyway``) the audio was started early by
    hand and the release moved their story rows (by -6 s and -7.5 s) but left the music rows at 0 s
    (``staging/compile_events.py``, ``adjust_onsets``). For a task not in the table, the audio is
    taken to start with the earliest ``music`` or story row of its events.

    Parameters
    ----------
    events : Path
        The scan's ``events.tsv``.
    task : str
        The BIDS task.
    story_onset : float
        Onset of the task's first story row, seconds.

    Returns
    -------
    float
    """
    if task in NARRATIVES_SPEECH_START:
        return story_onset - NARRATIVES_SPEECH_START[task]
    onsets = [float(row["onset"]) for row in _tsv_rows(events)
              if row.get("trial_type", "").strip() in ("music", "story", task)]
    return min([story_onset, *onsets])


#: Scans that hold several stories, one after another: the BIDS task and its stories in the order
#: heard. The release names the parts in ``code/event_meta.json``, gives each its own ``story`` row
#: in the scan's ``events.tsv``, and has one alignment for the whole scan
#: (``stimuli/gentle/slumlordreach/align.json``, split by time in ``code/get_words.py``).
NARRATIVES_SPLIT = {"slumlordreach": ("slumlord", "reach")}
#: Tasks heard in one of several versions, by condition: the BIDS task and its versions. Each
#: version has its own alignment, ``stimuli/gentle/<task><condition>/align.json``; the condition a
#: subject heard is in ``participants.tsv`` (and the events' ``stim_file``, ``<task><condition>_audio.wav``).
NARRATIVES_VERSIONS = {"milkyway": ("original", "vodka", "synonyms")}
#: The release's table of subjects: ``participant_id``, ``task`` and ``condition`` (one comma-separated
#: entry per task the subject took part in, in the same order; ``n/a`` where a task has no conditions).
NARRATIVES_PARTICIPANTS = "participants.tsv"


def narratives_condition(root: Path, subject: str, task: str) -> str:
    """The condition under which ``subject`` heard ``task``, from the release's ``participants.tsv``.

    Parameters
    ----------
    root : Path
        The ``ds002345`` folder.
    subject : str
        ``sub-NNN``.
    task : str
        A BIDS task, e.g. ``milkyway``.

    Returns
    -------
    str
        The entry of the ``condition`` column paired with ``task`` in the ``task`` column
        (both comma-separated lists, one entry per task of the subject).
    """
    path = root / NARRATIVES_PARTICIPANTS
    versions = NARRATIVES_VERSIONS.get(task, ())
    why = f"task {task!r} was heard in versions ({', '.join(versions)}) and the one each subject heard is read from it"
    if not path.is_file():
        raise ToposcopeError(f"no {str(path)!r}: {why}; expected the layout of {NARRATIVES}")
    with path.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    missing = [c for c in ("participant_id", "task", "condition") if c not in columns]
    if missing:
        raise ToposcopeError(f"{str(path)!r} has no {', '.join(map(repr, missing))} column (it has "
                             f"{', '.join(map(repr, columns)) or 'none'}): {why}")
    row = next((r for r in rows if (r["participant_id"] or "").strip() == subject), None)
    if row is None:
        raise ToposcopeError(f"{subject} has no row in {str(path)!r}: {why}")
    tasks = [t.strip() for t in (row["task"] or "").split(",")]
    conditions = [c.strip() for c in (row["condition"] or "").split(",")]
    if task not in tasks:
        raise ToposcopeError(f"{str(path)!r} does not list task {task!r} for {subject} (its tasks: "
                             f"{', '.join(tasks)}): {why}")
    if len(conditions) != len(tasks):
        raise ToposcopeError(f"{str(path)!r}: {subject} has {len(tasks)} tasks but {len(conditions)} conditions; "
                             "the 'task' and 'condition' columns must pair up entry by entry")
    condition = conditions[tasks.index(task)]
    if versions and condition not in versions:
        raise ToposcopeError(f"{str(path)!r}: {subject}'s condition for task {task!r} is {condition!r}, not one of "
                             f"{', '.join(versions)}")
    return condition


def _story_task(name: str) -> tuple[str, int | None, str | None]:
    """(BIDS task, part of a split scan or None, version asked for or None) of a story or task name."""
    for task, stories in NARRATIVES_SPLIT.items():
        if name in stories:
            return task, stories.index(name), None
    for task, versions in NARRATIVES_VERSIONS.items():
        if name.startswith(task) and name[len(task):] in versions:
            return task, None, name[len(task):]
    return name, None, None


def _split_words(words: StoryWords, aligned: StoryWords, starts: list[float], names: tuple[str, ...],
                 ) -> list[StoryWords]:
    """The words of a scan that holds several stories, cut where each story starts.

    ``starts`` are the stories' onsets on the alignment's clock; a word belongs to the last story that
    started at or before it (the release cuts its one alignment of ``slumlordreach`` by time too).
    ``aligned`` holds only the words the aligner placed, to count the interpolated ones of each part.
    """
    bounds = [0, *np.searchsorted(words.onsets, starts[1:], side="left"), len(words)]
    placed = [0, *np.searchsorted(aligned.onsets, starts[1:], side="left"), len(aligned)]
    parts = []
    for k, name in enumerate(names):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        n_placed = int(placed[k + 1] - placed[k])
        if hi <= lo:
            raise ToposcopeError(f"story {name!r} has no words between {starts[k]:g} s and "
                                 f"{starts[k + 1] if k + 1 < len(starts) else np.inf:g} s of {words.source}; "
                                 "check that the transcript belongs to this scan")
        parts.append(StoryWords(name, words.words[lo:hi], words.onsets[lo:hi], words.offsets[lo:hi],
                                n_unaligned=max(0, (hi - lo) - n_placed), source=words.source))
    return parts


#: The release's list of scans its authors excluded (bad data, wrong stimulus...), per task and subject.
NARRATIVES_EXCLUDE = Path("code") / "scan_exclude.json"


def narratives_excluded(root: Path) -> set[str]:
    """Stems (``sub-NNN_task-T[_run-N]``) of the scans the release excludes; empty without the list."""
    path = root / NARRATIVES_EXCLUDE
    if not path.is_file():
        return set()
    try:
        listing = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ToposcopeError(f"{str(path)!r} is not valid JSON ({error})") from None
    return {stem for subjects in listing.values() for stems in subjects.values() for stem in stems}


def _scan_stem(path: Path, subject: str, task: str) -> str:
    run = re.search(r"_run-(\d+)_", path.name)
    return f"{subject}_task-{task}" + (f"_run-{run.group(1)}" if run else "")


def _motion(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    rows = _tsv_rows(path)
    if not rows:
        raise ToposcopeError(f"confounds file {str(path)!r} is empty")
    missing = [c for c in MOTION if c not in rows[0]]
    if missing:
        raise ToposcopeError(f"confounds file {str(path)!r} has no {', '.join(missing)} columns")
    values = np.asarray([[float(r[c]) if r[c] not in ("n/a", "") else 0.0 for c in MOTION] for r in rows])
    return values, MOTION


def narratives_files(root: Path, subject: str, task: str, space: str, pipeline: str,
                     excluded: set[str] = frozenset()) -> dict[str, Any]:
    """Paths of one subject's scan of one task in the Narratives layout (the first run if several, leaving
    out the ``excluded`` scans)."""
    func = root / "derivatives" / pipeline / subject / "func"
    if space.startswith("fsaverage"):
        patterns = [f"{subject}_task-{task}_*space-{space}_hemi-{h}_desc-clean.func.gii" for h in ("L", "R")]
    else:
        patterns = [f"{subject}_task-{task}_*space-{space}_*desc-clean_bold.nii.gz"]
    bold = []
    for pattern in patterns:
        hits = sorted(func.glob(pattern)) + sorted(func.glob(pattern.replace(f"task-{task}_*", f"task-{task}_")))
        hits = sorted(dict.fromkeys(hits))
        if not hits:
            raise ToposcopeError(f"no {pattern!r} under {str(func)!r}; expected the {pipeline} derivatives of {NARRATIVES}")
        kept = [hit for hit in hits if _scan_stem(hit, subject, task) not in excluded]
        if not kept:
            raise ToposcopeError(f"every scan of task {task!r} of {subject} is excluded by the release "
                                 f"({', '.join(sorted({_scan_stem(h, subject, task) for h in hits}))} in "
                                 f"{NARRATIVES_EXCLUDE}); leave the task out, or pass exclude=False to read it anyway",
                                 cli=f"{subject}'s scan of task {task!r} is excluded by the release "
                                     f"({NARRATIVES_EXCLUDE}); leave it out of --select")
        bold.append(kept[0])
    run = re.search(r"_run-(\d+)_", bold[0].name)
    run_part = f"_run-{run.group(1)}" if run else ""
    raw = root / subject / "func"
    events = raw / f"{subject}_task-{task}{run_part}_events.tsv"
    if not events.is_file():
        raise ToposcopeError(f"no events file {str(events)!r} (the story's onset in the scan); expected the layout "
                             f"of {NARRATIVES}")
    prep = root / "derivatives" / "fmriprep" / subject / "func"
    confounds = [prep / f"{subject}_task-{task}{run_part}_desc-confounds_{kind}.tsv" for kind in ("regressors", "timeseries")]
    sidecars = [raw / f"{subject}_task-{task}{run_part}_bold.json", root / f"task-{task}_bold.json"]
    return {"bold": bold, "events": events, "confounds": next((p for p in confounds if p.is_file()), None),
            "sidecar": next((p for p in sidecars if p.is_file()), None)}


def load_narratives(root: str | Path, subject: str | int, tasks: Iterable[str] | None = None, *,
                    space: str = "fsaverage6", pipeline: str = "afni-nosmooth", transcript: str = "json",
                    exclude: bool = True) -> StoryData:
    """One subject of the Narratives collection (OpenNeuro ds002345), as released.

    Parameters
    ----------
    root : path
        The ``ds002345`` folder (``stimuli/``, ``sub-NNN/``, ``derivatives/``).
    subject : str or int
        ``sub-001``, ``"001"`` or ``1``.
    tasks : iterable of str, optional
        Stories or BIDS tasks to read; by default every task with a transcript
        that this subject heard. ``slumlordreach`` stands for its two stories
        ``slumlord`` and ``reach``; ``milkyway`` for the version the subject heard.
    space : str
        ``fsaverage6`` (both hemispheres, ``hemi-L`` then ``hemi-R``) or a volume
        space such as ``MNI152NLin2009cAsym``.
    pipeline : str
        The derivatives folder holding ``desc-clean`` responses.
    transcript : {"json", "csv"}
        Gentle's ``align.json`` or ``align.csv``.
    exclude : bool
        Leave out the scans the release lists in ``code/scan_exclude.json``
        (dropped, with a warning, from the default tasks; an error for a task
        asked for by name).

    Notes
    -----
    The story occupies ``onset`` to ``onset + duration`` of the scan
    (``events.tsv``, the row with ``trial_type`` ``story`` or the task's name).
    Volumes before the onset and those that start after the story's end are
    dropped: subjects of one story were scanned for different lengths after it
    (merlin 613-657 volumes, for one), and the kept rows are the same for all
    of them. Head motion is read from fMRIPrep's confounds when present (the
    ``desc-clean`` responses were already cleaned of it, so it is reported,
    not regressed, by default).

    Words are placed on the scan's clock as the release times them. Gentle's
    word times are seconds into the task's audio file (``<task>_audio.wav``,
    the ``stim_file`` of both the ``music`` and the ``story`` rows), and that
    file starts with the music: the release's ``code/plot_stim.py`` draws
    Pie Man's first words at 15-23 s of the file, where the events
    (``staging/compile_events.py``) put the music at 0 s and the story at
    15 s; ``code/get_words.py`` cuts ``slumlordreach`` at 950 s, which on
    that clock falls in the music between its stories (counted from the first
    story's onset it would fall 10 s into ``reach``). The audio started at the
    story row's onset minus where the story starts in the file
    (:func:`narratives_audio_start`, :data:`NARRATIVES_SPEECH_START`: 15 s for
    Pie Man, 21 s for Pretty Mouth and Milky Way, 25 s for Not the Fall and
    Slumlord, 29 s for Merlin and Sherlock, 45 s for the Shapes tasks, 0 where
    no music plays first). A word at ``t`` s of the file falls in the volume
    acquired ``t`` s after the audio started; the TR times (``tr_times``) are on
    the same clock. The story row, not the music row, is the anchor, so the
    two subjects whose story rows the release moved (``sub-038``,
    ``sub-105``: audio started early, music rows left at 0 s) keep the shift.

    Two tasks are laid out differently, and are read as the release lays them out:

    - ``slumlordreach`` (:data:`NARRATIVES_SPLIT`): one scan, two stories. Its
      ``events.tsv`` has two ``story`` rows (slumlord first, then reach, as
      ``code/event_meta.json`` names them) and ``stimuli/gentle/slumlordreach/``
      one alignment on the clock of the one audio file. Each story keeps its own
      volumes (its row's onset to its end) and the words that start after its
      onset and before the next story's (the release's ``code/get_words.py``
      also cuts the one alignment by time, at 950 s, between the stories).
    - ``milkyway`` (:data:`NARRATIVES_VERSIONS`): each subject heard one of the
      versions ``original``, ``vodka`` or ``synonyms``, read from
      ``participants.tsv`` (columns ``participant_id``, ``task``, ``condition``;
      :func:`narratives_condition`). The words are those of
      ``stimuli/gentle/milkyway<condition>/``, and the story is named after the
      version (``milkywayvodka``), so versions are never pooled. When the
      events file has a ``stim_file`` column it must name the same version.
    """
    check_option("transcript", transcript, ("json", "csv"))
    root = check_dir("Narratives root", root, f"give the ds002345 folder; get it from {NARRATIVES}")
    subject = _bids_subject(subject)
    gentle = root / "stimuli" / "gentle"
    if not gentle.is_dir():
        raise ToposcopeError(f"no transcripts at {str(gentle)!r}; expected the layout of {NARRATIVES}")
    if not (root / subject).is_dir():
        raise ToposcopeError(f"no subject folder {str(root / subject)!r}; expected the layout of {NARRATIVES}")
    align = f"align.{transcript}"
    heard = {m.group(1) for p in (root / subject / "func").glob(f"{subject}_task-*_events.tsv")
             if (m := re.match(rf"{subject}_task-([^_]+)_", p.name))}

    def has_transcript(task: str) -> bool:
        folders = [task + v for v in NARRATIVES_VERSIONS[task]] if task in NARRATIVES_VERSIONS else [task]
        return any((gentle / folder / align).is_file() for folder in folders)

    if tasks is None:
        names = [story for task in sorted(heard) if has_transcript(task) for story in NARRATIVES_SPLIT.get(task, (task,))]
        if not names:
            raise ToposcopeError(f"{subject} heard no task with a transcript under {str(gentle)!r}; expected the "
                                 f"layout of {NARRATIVES}")
    else:
        names = [story for name in tasks for story in NARRATIVES_SPLIT.get(name, (name,))]
    # each story to read: its BIDS task, its part of a split scan, and its transcript
    specs: dict[str, tuple[str, int | None, Path]] = {}
    conditions: dict[str, str] = {}
    for name in names:
        task, part, version = _story_task(name)
        story, folder = name, task
        if task in NARRATIVES_VERSIONS:
            heard_version = narratives_condition(root, subject, task)
            if version is not None and version != heard_version:
                raise ToposcopeError(f"{subject} heard version {heard_version!r} of task {task!r} "
                                     f"({NARRATIVES_PARTICIPANTS}), not {version!r}; ask for {task + heard_version!r}")
            story = folder = task + heard_version
            conditions[task] = heard_version
        path = gentle / folder / align
        if not path.is_file():
            what = f"story {story!r} (part of task {task!r})" if part is not None else f"task {name!r}"
            raise ToposcopeError(f"{what} has no transcript {str(path)!r}")
        specs[story] = (task, part, path)
    excluded = narratives_excluded(root) if exclude else set()
    if tasks is None and excluded:
        dropped = sorted({task for task, _, _ in specs.values() if all(
            _scan_stem(path, subject, task) in excluded
            for path in (root / subject / "func").glob(f"{subject}_task-{task}_*events.tsv"))})
        if dropped:
            warnings.warn(f"left out {', '.join(dropped)} of {subject}: excluded by the release "
                          f"({NARRATIVES_EXCLUDE})", stacklevel=2)
            specs = {story: spec for story, spec in specs.items() if spec[0] not in dropped}
            if not specs:
                raise ToposcopeError(f"every scan of {subject} is excluded by the release ({NARRATIVES_EXCLUDE})")
    words, data, times, motion, coords = {}, {}, {}, {}, {}
    tr_used = None
    for task in dict.fromkeys(spec[0] for spec in specs.values()):
        files = narratives_files(root, subject, task, space, pipeline, excluded)
        tr = NARRATIVES_TR
        if files["sidecar"] is not None:
            tr = float(json.loads(files["sidecar"].read_text(encoding="utf-8")).get("RepetitionTime", tr))
        if tr_used is not None and abs(tr - tr_used) > 1e-6:
            raise ToposcopeError(f"task {task!r} has TR {tr:g} s but an earlier one {tr_used:g} s; fit one TR at a time")
        tr_used = tr
        parts = [read_responses(path) for path in files["bold"]]
        lengths = {p[0].shape[0] for p in parts}
        if len(lengths) > 1:
            raise ToposcopeError(f"task {task!r}: the hemispheres have {sorted(lengths)} TRs; they must match")
        responses = np.concatenate([p[0] for p in parts], axis=1)
        if space.startswith("fsaverage"):
            coords = {"hemisphere": np.concatenate([np.full(p[0].shape[1], h) for p, h in zip(parts, ("L", "R"))]),
                      "vertex": np.concatenate([p[1]["vertex"] for p in parts])}
        else:
            coords = parts[0][1]
        rows = _story_rows(files["events"], task)
        stories = NARRATIVES_SPLIT.get(task) or ((task + conditions[task],) if task in conditions else (task,))
        if len(rows) < len(stories):
            raise ToposcopeError(f"events file {str(files['events'])!r} has {len(rows)} story row(s) but task {task!r} "
                                 f"holds {len(stories)} stories ({', '.join(stories)}), one row each in the order heard")
        if task in conditions and rows[0][2] and rows[0][2] != f"{task}{conditions[task]}_audio.wav":
            raise ToposcopeError(f"{subject} heard version {conditions[task]!r} of task {task!r} by "
                                 f"{NARRATIVES_PARTICIPANTS} but {files['events'].name} plays {rows[0][2]!r}; "
                                 "the two must agree")
        # the transcript's clock is the audio file's, which starts before the story where music precedes it
        zero = narratives_audio_start(files["events"], task, rows[0][0])
        row_times = tr_times(responses.shape[0], tr, zero)
        source = next(spec[2] for spec in specs.values() if spec[0] == task)
        if len(stories) > 1:
            whole = read_story(source, name=task)
            placed = read_story(source, name=task, unaligned="drop")
            starts = [onset - zero for onset, _, _ in rows[:len(stories)]]
            story_words = dict(zip(stories, _split_words(whole, placed, starts, stories)))
        else:
            story_words = {stories[0]: read_story(source, name=stories[0])}
        for story, (onset, duration, _) in zip(stories, rows):
            if story not in specs:
                continue  # the other story of a split scan, not asked for
            first = int(np.floor(onset / tr + 1e-9))  # the first volume that holds any of the story
            # the volumes that start before the story's end (all of them without a duration)
            stop = responses.shape[0] if duration is None else min(responses.shape[0],
                                                                    int(np.ceil((onset + duration) / tr - 1e-9)))
            if first >= responses.shape[0]:
                raise ToposcopeError(f"task {task!r}: story {story!r} starts at {onset:g} s, after the scan's "
                                     f"{responses.shape[0]} TRs")
            words[story] = story_words[story]
            data[story], times[story] = responses[first:stop], row_times[first:stop]
            if files["confounds"] is not None:
                values, _ = _motion(files["confounds"])
                if values.shape[0] != responses.shape[0]:
                    raise ToposcopeError(f"task {task!r}: {values.shape[0]} confound rows for {responses.shape[0]} "
                                         f"TRs in {files['bold'][0].name}")
                motion[story] = values[first:stop]
    if motion and len(motion) != len(words):
        missing = sorted(set(words) - set(motion))
        warnings.warn(f"no fMRIPrep confounds for {', '.join(missing)}; head motion is not reported for them",
                      stacklevel=2)
        motion = {}
    return assemble(words, data, times, float(tr_used), voxel_coords=coords, confounds=motion or None,
                    confound_names=MOTION if motion else (),
                    attrs={"dataset": "Narratives (ds002345)", "subject": subject, "root": str(root),
                           "space": space, "pipeline": pipeline,
                           # the version of each task heard in versions, as text (attrs go to netCDF)
                           **({"conditions": ", ".join(f"{t}={c}" for t, c in conditions.items())} if conditions else {})})


#: Layouts :func:`load_story_data` reads.
DATASETS = ("folder", "lebel", "narratives")


def load_story_data(dataset: str = "folder", *, stories: str | Path | None = None, responses: str | Path | None = None,
                    root: str | Path | None = None, subject: str | None = None, tr: float | None = None,
                    select: Iterable[str] | None = None, space: str = "fsaverage6") -> StoryData:
    """One entry point for the three layouts (the CLI's and the recipes').

    ``"folder"`` needs ``stories``, ``responses`` and ``tr``; ``"lebel"`` and
    ``"narratives"`` need ``root`` (and ``subject``, default UTS01 / 1).
    """
    check_option("dataset", dataset, DATASETS)
    if dataset == "folder":
        missing = [name for name, value in (("stories", stories), ("responses", responses), ("tr", tr))
                   if value is None]
        if missing:
            raise ToposcopeError(f"dataset 'folder' needs {', '.join(missing)} (the transcripts' folder, the "
                                 "responses' folder and the TR in seconds)",
                                 cli=f"--dataset folder needs {', '.join('--' + m for m in missing)}")
        return load_folder(stories, responses, float(tr), select=select)
    if root is None:
        where = LEBEL if dataset == "lebel" else NARRATIVES
        raise ToposcopeError(f"dataset {dataset!r} needs root (the data set's folder; get it from {where})",
                             cli=f"--dataset {dataset} needs --root DIR (get the data from {where})")
    if dataset == "lebel":
        return load_lebel(root, subject or "UTS01", select)
    return load_narratives(root, subject or 1, select, space=space)
