"""Synthetic story-listening data sets written in the real layouts (LeBel 2023, Narratives, plain folders).

Files are written here with plain string formatting (TextGrids, TSV, JSON) or
the format's own library (h5py, nibabel), never with the readers under test.
Layouts follow the releases:

- LeBel et al. 2023 (OpenNeuro ds003020): ``derivative/TextGrids/<story>.TextGrid``
  with tiers ``phone`` and ``word`` (Huth-lab labels: ``sp``, ``{NS}``, upper-case
  words), ``derivative/preprocessed_data/<subject>/<story>.hf5`` (dataset ``data``)
  and ``derivative/respdict.json`` (volumes per story, 20 more than the file's rows).
- Narratives (OpenNeuro ds002345): ``stimuli/gentle/<task>/align.json`` and
  ``align.csv``, ``sub-NNN/func/sub-NNN_task-<task>_events.tsv``,
  ``derivatives/afni-nosmooth/sub-NNN/func/..._space-fsaverage6_hemi-{L,R}_desc-clean.func.gii``
  and ``derivatives/fmriprep/sub-NNN/func/..._desc-confounds_regressors.tsv``; events with the
  release's ``music`` rows before the story and word times on the audio file's clock;
  ``slumlordreach`` (two stories in one scan, one alignment) and ``milkyway``
  (one alignment per version, ``participants.tsv`` with comma-separated ``task``
  and ``condition`` columns, events naming ``stim_file``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = ["once", "upon", "a", "time", "there", "was", "a", "little", "cat", "who", "lived", "in", "a", "big", "old", "house", "near", "the", "river", "and", "every", "morning", "she", "walked", "to", "the", "water", "to", "watch", "the", "boats", "go", "by"]


def timed_words(words, start=0.5, seed=0, gap=0.05):
    """Onsets and offsets of ``words`` spoken one after another (about 3 words a second)."""
    rng = np.random.default_rng(seed)
    durations = rng.uniform(0.15, 0.45, len(words))
    onsets, offsets, t = [], [], start
    for d in durations:
        onsets.append(round(t, 4))
        offsets.append(round(t + d, 4))
        t += d + gap
    return np.asarray(onsets), np.asarray(offsets)


def _tiers(words, onsets, offsets, end):
    """(phone intervals, word intervals): contiguous intervals with silences between words."""
    word_tier, phone_tier, t = [], [], 0.0
    for w, a, b in zip(words, onsets, offsets):
        if a > t:
            word_tier.append((t, a, "sp"))
            phone_tier.append((t, a, "sp"))
        word_tier.append((a, b, w.upper()))
        mid = (a + b) / 2
        phone_tier += [(a, mid, "AH0"), (mid, b, "T")]
        t = b
    if end > t:
        word_tier.append((t, end, "{NS}"))
        phone_tier.append((t, end, "ns"))
    return phone_tier, word_tier


def write_textgrid(path, words, onsets, offsets, fmt="long", word_tier="word"):
    """A Praat TextGrid in long, short or chronological text format."""
    end = float(offsets[-1]) + 1.0
    phones, wordsi = _tiers(words, onsets, offsets, end)
    tiers = [("phone", phones), (word_tier, wordsi)]
    if fmt == "long":
        lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0 ", f"xmax = {end} ",
                 "tiers? <exists> ", f"size = {len(tiers)} ", "item []: "]
        for n, (name, intervals) in enumerate(tiers, start=1):
            lines += [f"    item [{n}]:", '        class = "IntervalTier" ', f'        name = "{name}" ',
                      "        xmin = 0 ", f"        xmax = {end} ", f"        intervals: size = {len(intervals)} "]
            for m, (a, b, label) in enumerate(intervals, start=1):
                lines += [f"        intervals [{m}]:", f"            xmin = {a} ", f"            xmax = {b} ",
                          f'            text = "{label}" ']
    elif fmt == "short":
        lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "0", f"{end}", "<exists>", f"{len(tiers)}"]
        for name, intervals in tiers:
            lines += ['"IntervalTier"', f'"{name}"', "0", f"{end}", f"{len(intervals)}"]
            for a, b, label in intervals:
                lines += [f"{a}", f"{b}", f'"{label}"']
    else:
        lines = ['"Praat chronological TextGrid text file"', f"0 {end}   ! Time domain.",
                 f"{len(tiers)}   ! Number of tiers."]
        lines += [f'"IntervalTier" "{name}" 0 {end}' for name, _ in tiers]
        entries = sorted((a, n, b, label) for n, (_, intervals) in enumerate(tiers, start=1) for a, b, label in intervals)
        for a, n, b, label in entries:
            lines += [f"{n} {a} {b}", f'"{label}"']
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def write_hdf5(path, data, key="data"):
    import h5py

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as handle:
        handle.create_dataset(key, data=np.asarray(data, dtype=np.float32))
    return Path(path)


def write_gifti(path, data):
    """A GIfTI time series: one data array per volume (TRs x vertices in)."""
    import nibabel as nib

    arrays = [nib.gifti.GiftiDataArray(np.asarray(row, dtype=np.float32), intent="NIFTI_INTENT_TIME_SERIES",
                                       datatype="NIFTI_TYPE_FLOAT32") for row in np.asarray(data)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.GiftiImage(darrays=arrays), str(path))
    return Path(path)


def write_nifti(path, data, shape=(4, 3, 2)):
    """A 4-D NIfTI whose first ``n_voxels`` voxels (C order) hold ``data`` (TRs x voxels); the rest are zero."""
    import nibabel as nib

    data = np.asarray(data, dtype=np.float32)
    volume = np.zeros((int(np.prod(shape)), data.shape[0]), dtype=np.float32)
    volume[: data.shape[1]] = data.T
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume.reshape(*shape, data.shape[0]), np.eye(4)), str(path))
    return Path(path)


def lebel_tree(root, stories, subject="UTS01", respdict=True, fmt="long"):
    """``stories``: {name: (words, onsets, offsets, responses (rows x voxels))}."""
    root = Path(root)
    counts = {}
    for name, (words, onsets, offsets, data) in stories.items():
        write_textgrid(root / "derivative" / "TextGrids" / f"{name}.TextGrid", words, onsets, offsets, fmt=fmt)
        write_hdf5(root / "derivative" / "preprocessed_data" / subject / f"{name}.hf5", data)
        counts[name] = int(np.asarray(data).shape[0]) + 20
    if respdict:
        (root / "derivative" / "respdict.json").write_text(json.dumps(counts), encoding="utf-8")
    return root


def write_gentle(folder, words, onsets, offsets, missed=(3,)):
    """Gentle's ``align.json`` and ``align.csv`` in ``folder``; the words at ``missed`` were not placed."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (w, a, b) in enumerate(zip(words, onsets, offsets)):
        if i in missed:  # a word the aligner missed
            entries.append({"case": "not-found-in-audio", "endOffset": 0, "startOffset": 0, "word": w})
        else:
            entries.append({"alignedWord": w.lower(), "case": "success", "end": float(b), "endOffset": 0,
                            "phones": [{"duration": float(b - a), "phone": "ah_I"}], "start": float(a),
                            "startOffset": 0, "word": w})
    (folder / "align.json").write_text(json.dumps({"transcript": " ".join(words), "words": entries}),
                                       encoding="utf-8")
    rows = [f"{w},{w.lower()},{'' if i in missed else a},{'' if i in missed else b}"
            for i, (w, a, b) in enumerate(zip(words, onsets, offsets))]
    (folder / "align.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_scan(root, subject, task, lh, rh, events, tr=1.5, confounds=True, seed=0):
    """One Narratives scan: events (rows of onset, duration, trial_type[, stim_file]), sidecar, GIfTIs, confounds."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    func = root / subject / "func"
    func.mkdir(parents=True, exist_ok=True)
    header = ["onset", "duration", "trial_type", "stim_file"][: len(events[0])]
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in events]
    (func / f"{subject}_task-{task}_events.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (func / f"{subject}_task-{task}_bold.json").write_text(json.dumps({"RepetitionTime": tr}), encoding="utf-8")
    clean = root / "derivatives" / "afni-nosmooth" / subject / "func"
    for hemi, values in (("L", lh), ("R", rh)):
        write_gifti(clean / f"{subject}_task-{task}_space-fsaverage6_hemi-{hemi}_desc-clean.func.gii", values)
    if confounds:
        n = np.asarray(lh).shape[0]
        prep = root / "derivatives" / "fmriprep" / subject / "func"
        prep.mkdir(parents=True, exist_ok=True)
        motion = rng.normal(0, 0.1, (n, 6))
        header = "global_signal\ttrans_x\ttrans_y\ttrans_z\trot_x\trot_y\trot_z\tframewise_displacement"
        lines = [header] + [f"{rng.normal():.4f}\t" + "\t".join(f"{v:.5f}" for v in row) +
                            f"\t{'n/a' if k == 0 else f'{abs(row).sum():.4f}'}" for k, row in enumerate(motion)]
        (prep / f"{subject}_task-{task}_desc-confounds_regressors.tsv").write_text("\n".join(lines) + "\n",
                                                                                   encoding="utf-8")


#: The release's events before and at each story (the Narratives code, ``staging/compile_events.py``):
#: the ``music`` rows (onset, duration) and the ``story`` row's onset, seconds into the scan. The audio
#: file, named by every row's ``stim_file``, starts with the first of them.
RELEASE_EVENTS = {
    "pieman": ([(0.0, 13.0)], 15.0), "prettymouth": ([(0.0, 18.0)], 21.0), "milkyway": ([(0.0, 18.0)], 21.0),
    "merlin": ([(4.5, 25.0)], 33.5), "sherlock": ([(4.5, 25.0)], 33.5), "notthefallintact": ([(4.5, 22.0)], 29.5),
    "shapessocial": ([(4.5, 37.0)], 49.5), "tunnel": ([], 3.0), "lucy": ([], 3.0), "black": ([], 12.0),
    "forgot": ([], 12.0), "bronx": ([], 12.0),
}


def release_events(task, last_offset, story_onset=None, audio=None):
    """A task's events rows as the release writes them, for words ending ``last_offset`` s into the audio.

    ``story_onset`` moves the story row alone, as the release did for sub-038 and sub-105 (audio started
    early, music rows left where they were); the story runs to the last word's end."""
    music, onset = RELEASE_EVENTS[task]
    audio_start = music[0][0] if music else onset
    audio = audio or f"{task}_audio.wav"
    duration = round(float(last_offset) - (onset - audio_start), 3)
    return [(m, d, "music", audio) for m, d in music] + [(onset if story_onset is None else story_onset,
                                                             duration, "story", audio)]


def narratives_tree(root, tasks, subject="sub-001", onset=None, tr=1.5, confounds=True, seed=0):
    """``tasks``: {task: (words, onsets, offsets, lh (TRs x v), rh (TRs x v))}, word times on the audio
    file's clock; events as the release writes them (:data:`RELEASE_EVENTS`), the story row moved to
    ``onset`` s when given."""
    root = Path(root)
    for k, (task, (words, onsets, offsets, lh, rh)) in enumerate(tasks.items()):
        write_gentle(root / "stimuli" / "gentle" / task, words, onsets, offsets)
        write_scan(root, subject, task, lh, rh, release_events(task, offsets[-1], onset), tr=tr,
                   confounds=confounds, seed=seed + k)
    return root


def slumlordreach_tree(root, slumlord, reach, lh, rh, subject="sub-001", onsets=(29.5, 75.0), tr=1.5):
    """The release's scan of two stories: ``slumlord`` and ``reach`` are (words, onsets, offsets), each on
    its own story's clock. As in the release, one audio file holds both (music from 4.5 s of the scan,
    slumlord at ``onsets[0]``, music, reach at ``onsets[1]``), one alignment on that file's clock is in
    ``stimuli/gentle/slumlordreach/``, and the events have a ``music`` and a ``story`` row per story, all
    of ``slumlordreach_audio.wav``."""
    root = Path(root)
    audio_start = 4.5
    words = list(slumlord[0]) + list(reach[0])
    shifts = [onset - audio_start for onset in onsets]
    starts = np.concatenate([np.asarray(slumlord[1]) + shifts[0], np.asarray(reach[1]) + shifts[1]])
    ends = np.concatenate([np.asarray(slumlord[2]) + shifts[0], np.asarray(reach[2]) + shifts[1]])
    write_gentle(root / "stimuli" / "gentle" / "slumlordreach", words, starts, ends)
    audio = "slumlordreach_audio.wav"
    events = [(audio_start, 22.0, "music", audio),
              (onsets[0], round(float(slumlord[2][-1]) + 0.5, 3), "story", audio),
              (onsets[1] - 25.0, 22.0, "music", audio),
              (onsets[1], round(float(reach[2][-1]) + 0.5, 3), "story", audio)]
    write_scan(root, subject, "slumlordreach", lh, rh, events, tr=tr)
    return root


def milkyway_tree(root, versions, subjects, onset=None, tr=1.5):
    """The release's task heard in versions: ``versions`` {condition: (words, onsets, offsets)}, times on
    the audio file's clock, written to ``stimuli/gentle/milkyway<condition>/``; ``subjects`` {subject:
    (condition, lh, rh)}, each with a
    pieman scan listed before milkyway in ``participants.tsv`` (task and condition columns pair up
    entry by entry, ``n/a`` where a task has no conditions) and events playing ``milkyway<condition>_audio.wav``."""
    root = Path(root)
    for condition, (words, onsets, offsets) in versions.items():
        write_gentle(root / "stimuli" / "gentle" / f"milkyway{condition}", words, onsets, offsets)
    rows = ["participant_id\tage\tsex\ttask\tcondition\tcomprehension"]
    for subject, (condition, lh, rh) in subjects.items():
        last = max(float(v[2][-1]) for v in versions.values()) + 0.5
        write_scan(root, subject, "milkyway", lh, rh,
                   release_events("milkyway", last, onset, audio=f"milkyway{condition}_audio.wav"), tr=tr)
        rows.append(f"{subject}\t23,23\tf,f\tpieman,milkyway\tn/a,{condition}\t0.9,n/a")
    (root / "participants.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root
