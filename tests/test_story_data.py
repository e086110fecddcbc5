"""Story-listening data: timed words (TextGrid, CSV, JSON), response files, the LeBel and Narratives layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _story_tree import (
    WORDS,
    lebel_tree,
    milkyway_tree,
    narratives_tree,
    slumlordreach_tree,
    timed_words,
    write_gifti,
    write_hdf5,
    write_nifti,
    write_textgrid,
)

from toposcope._validation import ToposcopeError
from toposcope.brain.stories import (
    StoryWords,
    read_alignment_json,
    read_story,
    read_textgrid,
    read_word_csv,
    tr_times,
)
from toposcope.brain.story_fmri import (
    LEBEL_TR,
    assemble,
    lebel_tr_times,
    load_folder,
    load_lebel,
    load_narratives,
    narratives_audio_start,
    read_responses,
)


@pytest.fixture
def timings():
    return timed_words(WORDS, start=0.5, seed=1)


# --------------------------------------------------------------------------- words
@pytest.mark.parametrize("fmt", ["long", "short", "chronological"])
def test_textgrid_formats_give_the_written_words_and_times(tmp_path, timings, fmt):
    onsets, offsets = timings
    path = write_textgrid(tmp_path / "story.TextGrid", WORDS, onsets, offsets, fmt=fmt)
    story = read_textgrid(path)
    # sp / {NS} silences and the phone tier are not words
    assert [w.lower() for w in story.words] == WORDS
    np.testing.assert_allclose(story.onsets, onsets, atol=1e-9)
    np.testing.assert_allclose(story.offsets, offsets, atol=1e-9)
    np.testing.assert_allclose(story.times, (onsets + offsets) / 2)
    assert story.name == "story"


def test_textgrid_tier_choice_and_errors(tmp_path, timings):
    path = write_textgrid(tmp_path / "a.TextGrid", WORDS, *timings, word_tier="words")
    assert len(read_textgrid(path)) == len(WORDS)  # "words" is found too
    odd = write_textgrid(tmp_path / "b.TextGrid", WORDS, *timings, word_tier="transcript")
    with pytest.raises(ToposcopeError, match=r"no tier named 'word' \(its interval tiers: 'phone', 'transcript'\)"):
        read_textgrid(odd)
    assert read_textgrid(odd, tier="transcript").words[0] == "ONCE"
    with pytest.raises(ToposcopeError, match="no interval tier 'nope'"):
        read_textgrid(odd, tier="nope")
    (tmp_path / "bad.TextGrid").write_text("not a textgrid at all\n")
    with pytest.raises(ToposcopeError, match="could not be read"):
        read_textgrid(tmp_path / "bad.TextGrid")


def test_csv_with_header_and_narratives_csv(tmp_path, timings):
    onsets, offsets = timings
    rows = ["word,onset,offset"] + [f"{w},{a},{b}" for w, a, b in zip(WORDS, onsets, offsets)]
    (tmp_path / "tale.csv").write_text("\n".join(rows))
    story = read_word_csv(tmp_path / "tale.csv")
    assert story.words == tuple(WORDS) and story.name == "tale"
    np.testing.assert_allclose(story.onsets, onsets)
    # Narratives align.csv: no header, 4 columns, an unaligned word with empty times
    lines = [f"{w},{w},{'' if i == 2 else a},{'' if i == 2 else b}" for i, (w, a, b) in enumerate(zip(WORDS, onsets, offsets))]
    (tmp_path / "pieman").mkdir()
    (tmp_path / "pieman" / "align.csv").write_text("\n".join(lines))
    story = read_word_csv(tmp_path / "pieman" / "align.csv")
    assert story.name == "pieman" and story.n_unaligned == 1 and len(story) == len(WORDS)
    # the unaligned word sits in the gap between its neighbours
    assert offsets[1] <= story.onsets[2] <= story.offsets[2] <= onsets[3]
    dropped = read_word_csv(tmp_path / "pieman" / "align.csv", unaligned="drop")
    assert len(dropped) == len(WORDS) - 1 and WORDS[2] not in dropped.words[2:3]
    (tmp_path / "x.csv").write_text("a,b\nc,d\n")
    with pytest.raises(ToposcopeError, match="no word, onset and offset columns"):
        read_word_csv(tmp_path / "x.csv")


def test_gentle_json(tmp_path, timings):
    onsets, offsets = timings
    narratives_tree(tmp_path, {"tunnel": (WORDS, onsets + 2, offsets + 2, np.zeros((60, 2)), np.zeros((60, 2)))})
    story = read_alignment_json(tmp_path / "stimuli" / "gentle" / "tunnel" / "align.json")
    assert story.name == "tunnel" and story.words == tuple(WORDS) and story.n_unaligned == 1
    keep = np.arange(len(WORDS)) != 3
    np.testing.assert_allclose(story.onsets[keep], (onsets + 2)[keep])
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ToposcopeError, match="not valid JSON"):
        read_alignment_json(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text(json.dumps({"segments": []}))
    with pytest.raises(ToposcopeError, match="no 'words' list"):
        read_story(tmp_path / "other.json")
    with pytest.raises(ToposcopeError, match=r"unknown format '\.txt'"):
        read_story(tmp_path / "story.txt")


def test_story_words_checks():
    with pytest.raises(ToposcopeError, match="has no words"):
        StoryWords("s", (), np.array([]), np.array([]))
    with pytest.raises(ToposcopeError, match="ends at 1 s before it starts at 2 s"):
        StoryWords("s", ("a",), np.array([2.0]), np.array([1.0]))
    with pytest.raises(ToposcopeError, match="in the order heard"):
        StoryWords("s", ("a", "b"), np.array([2.0, 1.0]), np.array([2.5, 1.5]))


def test_tr_times():
    np.testing.assert_allclose(tr_times(4, 1.5, story_start=3.0), [-2.25, -0.75, 0.75, 2.25])
    with pytest.raises(ToposcopeError, match="tr must be a positive number"):
        tr_times(3, 0)


# --------------------------------------------------------------------------- responses
def test_response_files_round_trip(tmp_path):
    data = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    values, coords = read_responses(write_hdf5(tmp_path / "a.hf5", data))
    np.testing.assert_array_equal(values, data)
    values, coords = read_responses(write_gifti(tmp_path / "a.func.gii", data))
    np.testing.assert_array_equal(values, data)
    assert coords["vertex"].tolist() == list(range(5))
    values, coords = read_responses(write_nifti(tmp_path / "a.nii.gz", data))
    np.testing.assert_array_equal(values, data)  # the 19 all-zero voxels are outside the brain
    assert coords["i"].size == 5
    with pytest.raises(ToposcopeError, match="has no dataset 'resp'"):
        read_responses(tmp_path / "a.hf5", key="resp")


# --------------------------------------------------------------------------- layouts
def _story(seed, n_words=33, start=12.0):
    words = WORDS[:n_words]
    onsets, offsets = timed_words(words, start=start, seed=seed)
    return words, onsets, offsets


def test_lebel_layout(tmp_path):
    rng = np.random.default_rng(0)
    stories = {}
    for k, name in enumerate(["avatar", "legacy", "souls"]):
        words, onsets, offsets = _story(k, start=1.0)
        stories[name] = (words, onsets, offsets, rng.normal(size=(30 + k, 4)))
    lebel_tree(tmp_path, stories)
    data = load_lebel(tmp_path, "UTS01")
    assert data.stories == ["avatar", "legacy", "souls"] and data.tr == LEBEL_TR and data.n_voxels == 4
    scan = data.scans["legacy"]
    np.testing.assert_allclose(scan.responses, stories["legacy"][3].astype(np.float32))
    # the Huth-lab grid: (n_volumes - 5) TRs from the audio at 10 s, middles, rows [10:-5]
    n_volumes = 31 + 20
    full = np.arange(n_volumes - 5) * 2.0 - 10.0 + 1.0
    np.testing.assert_allclose(scan.tr_times, full[10:-5])
    assert [w.lower() for w in scan.words.words] == WORDS
    assert load_lebel(tmp_path, "UTS01", ["souls"]).stories == ["souls"]


def test_lebel_layout_names_what_is_missing(tmp_path):
    with pytest.raises(ToposcopeError, match="no TextGrids at .*ds003020"):
        load_lebel(tmp_path)
    words, onsets, offsets = _story(0, start=1.0)
    lebel_tree(tmp_path, {"avatar": (words, onsets, offsets, np.zeros((30, 2)))})
    with pytest.raises(ToposcopeError, match=r"no responses of UTS02 .*subjects there: UTS01"):
        load_lebel(tmp_path, "UTS02")
    with pytest.raises(ToposcopeError, match="story 'naked' has no TextGrid"):
        load_lebel(tmp_path, stories=["naked"])
    counts = json.loads((tmp_path / "derivative" / "respdict.json").read_text())
    counts["avatar"] += 3
    (tmp_path / "derivative" / "respdict.json").write_text(json.dumps(counts))
    with pytest.raises(ToposcopeError, match="story 'avatar': 30 TRs in the file but respdict.json gives 53 volumes"):
        load_lebel(tmp_path)
    with pytest.raises(ToposcopeError, match="LeBel root .* does not exist; give the ds003020 folder; get it from "
                                              "OpenNeuro ds003020"):
        load_lebel(tmp_path / "nowhere")


def test_narratives_layout(tmp_path):
    rng = np.random.default_rng(1)
    tasks = {}
    # word times on each audio file's clock: Pie Man's story starts 15 s into its file, after the music
    for k, (task, speech) in enumerate((("pieman", 15.3), ("tunnel", 0.3))):
        words, onsets, offsets = _story(k, start=speech)
        tasks[task] = (words, onsets, offsets, rng.normal(size=(40, 3)), rng.normal(size=(40, 2)))
    narratives_tree(tmp_path, tasks, tr=1.5)
    data = load_narratives(tmp_path, 1)
    assert data.stories == ["pieman", "tunnel"] and data.tr == 1.5 and data.n_voxels == 5
    scan = data.scans["pieman"]
    first = int(15.0 // 1.5)  # volumes before the story's onset are dropped, and those after its end
    stop = int(np.ceil(float(tasks["pieman"][2][-1]) / 1.5))  # the story row ends with the last word
    assert first < stop < 40
    np.testing.assert_allclose(scan.responses, np.hstack(tasks["pieman"][3:])[first:stop].astype(np.float32))
    # the audio file (and so the words' clock) starts with the music, at the scan's start
    np.testing.assert_allclose(scan.tr_times, (np.arange(40) + 0.5)[first:stop] * 1.5)
    np.testing.assert_allclose(data.scans["tunnel"].tr_times[0], (2 + 0.5) * 1.5 - 3.0)
    assert data.voxel_coords["hemisphere"].tolist() == ["L"] * 3 + ["R"] * 2
    assert scan.confounds.shape == (stop - first, 6) and data.confound_names[0] == "trans_x"
    assert scan.words.n_unaligned == 1


def test_narratives_quirks_scan_lengths_excluded_scans_and_named_events(tmp_path):
    rng = np.random.default_rng(3)
    words, onsets, offsets = _story(0, start=15.3)
    # two subjects scanned for different lengths after the same story (as merlin: 613-657 volumes)
    for subject, n in (("sub-001", 40), ("sub-002", 52)):
        narratives_tree(tmp_path, {"pieman": (words, onsets, offsets, rng.normal(size=(n, 3)), rng.normal(size=(n, 2))),
                                   "tunnel": (words, onsets, offsets, rng.normal(size=(n, 3)), rng.normal(size=(n, 2)))},
                        subject=subject)
    one, two = load_narratives(tmp_path, 1), load_narratives(tmp_path, 2)
    assert one.scans["pieman"].n_trs == two.scans["pieman"].n_trs == int(np.ceil(offsets[-1] / 1.5)) - 10
    np.testing.assert_allclose(one.scans["pieman"].tr_times, two.scans["pieman"].tr_times)
    # the release's list of excluded scans: left out of the default tasks, an error when asked for
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "scan_exclude.json").write_text(json.dumps(
        {"pieman": {"sub-001": ["sub-001_task-pieman"]}, "tunnel": {}}), encoding="utf-8")
    with pytest.warns(UserWarning, match="left out pieman of sub-001: excluded by the release"):
        assert load_narratives(tmp_path, 1).stories == ["tunnel"]
    assert load_narratives(tmp_path, 2).stories == ["pieman", "tunnel"]  # another subject's scan is fine
    with pytest.raises(ToposcopeError, match="every scan of task 'pieman' of sub-001 is excluded .*exclude=False"):
        load_narratives(tmp_path, 1, ["pieman"])
    assert load_narratives(tmp_path, 1, ["pieman"], exclude=False).stories == ["pieman"]
    # events named after the task (not 'story'); an events file with neither names what it has
    events = tmp_path / "sub-002" / "func" / "sub-002_task-tunnel_events.tsv"
    events.write_text(f"onset\tduration\ttrial_type\n3.0\t{offsets[-1]}\ttunnel\n", encoding="utf-8")
    assert load_narratives(tmp_path, 2, ["tunnel"]).scans["tunnel"].n_trs == two.scans["tunnel"].n_trs
    events.write_text("onset\tduration\ttrial_type\n4.0\t10\tmusic\n", encoding="utf-8")
    with pytest.raises(ToposcopeError, match="no row with trial_type 'story' or 'tunnel' \\(it has 'music'\\)"):
        load_narratives(tmp_path, 2, ["tunnel"])


def test_narratives_layout_names_what_is_missing(tmp_path):
    with pytest.raises(ToposcopeError, match="no transcripts at .*OpenNeuro ds002345"):
        load_narratives(tmp_path, 1)
    words, onsets, offsets = _story(0, start=0.3)
    narratives_tree(tmp_path, {"pieman": (words, onsets, offsets, np.zeros((40, 2)), np.zeros((40, 2)))})
    with pytest.raises(ToposcopeError, match="no subject folder .*sub-002"):
        load_narratives(tmp_path, "sub-002")
    with pytest.raises(ToposcopeError, match="task 'lucy' has no transcript"):
        load_narratives(tmp_path, 1, ["lucy"])
    for path in (tmp_path / "derivatives" / "afni-nosmooth").rglob("*hemi-R*"):
        path.unlink()
    with pytest.raises(ToposcopeError, match=r"no 'sub-001_task-pieman_\*space-fsaverage6_hemi-R_desc-clean.func.gii'"):
        load_narratives(tmp_path, 1)


def _volume_index(n, width):
    """Responses whose every vertex holds its volume's index, so rows say which volumes were kept."""
    return np.repeat(np.arange(n, dtype=np.float64)[:, None], width, axis=1)


def test_narratives_slumlordreach_gives_two_stories_with_their_own_words_and_volumes(tmp_path):
    n, tr, starts = 70, 1.5, (29.5, 75.0)
    slumlord = (WORDS[:12], *timed_words(WORDS[:12], start=0.4, seed=1))
    reach = (WORDS[12:30], *timed_words(WORDS[12:30], start=0.6, seed=2))
    slumlordreach_tree(tmp_path, slumlord, reach, _volume_index(n, 3), _volume_index(n, 2), onsets=starts, tr=tr)
    data = load_narratives(tmp_path, 1)
    assert data.stories == ["slumlord", "reach"]
    # the words of each story, on the clock of the audio file (the alignment's), which starts at 4.5 s
    first, second = data.scans["slumlord"], data.scans["reach"]
    assert first.words.words == tuple(WORDS[:12]) and second.words.words == tuple(WORDS[12:30])
    aligned = np.arange(12) != 3  # the tree leaves word 3 of the alignment unplaced: it is slumlord's
    np.testing.assert_allclose(first.words.onsets[aligned], slumlord[1][aligned] + starts[0] - 4.5)
    np.testing.assert_allclose(second.words.onsets, reach[1] + starts[1] - 4.5)
    assert (first.words.n_unaligned, second.words.n_unaligned) == (1, 0)
    # the volumes of each story: from its own events row's onset to its end, never the other's
    for scan, onset, story in ((first, starts[0], slumlord), (second, starts[1], reach)):
        volumes = np.arange(int(onset // tr), int(np.ceil((onset + story[2][-1] + 0.5) / tr)))
        np.testing.assert_array_equal(scan.responses[:, 0], volumes)
        np.testing.assert_allclose(scan.tr_times, (volumes + 0.5) * tr - 4.5)
        assert scan.words.onsets.min() >= scan.tr_times[0] - tr and scan.words.duration <= scan.tr_times[-1] + tr
        assert scan.confounds.shape == (volumes.size, 6)
    assert first.responses[-1, 0] < second.responses[0, 0]
    # asked for by story or by task
    assert load_narratives(tmp_path, 1, ["reach"]).stories == ["reach"]
    assert load_narratives(tmp_path, 1, ["slumlordreach"]).stories == ["slumlord", "reach"]
    np.testing.assert_array_equal(load_narratives(tmp_path, 1, ["reach"]).scans["reach"].responses, second.responses)
    # an events file with one story row cannot be split: the error says what is missing
    events = tmp_path / "sub-001" / "func" / "sub-001_task-slumlordreach_events.tsv"
    events.write_text("onset\tduration\ttrial_type\tstim_file\n12.0\t9.0\tstory\tslumlordreach_audio.wav\n",
                      encoding="utf-8")
    with pytest.raises(ToposcopeError, match="has 1 story row\\(s\\) but task 'slumlordreach' holds 2 stories "
                                             "\\(slumlord, reach\\)"):
        load_narratives(tmp_path, 1)
    (tmp_path / "stimuli" / "gentle" / "slumlordreach" / "align.json").unlink()
    with pytest.raises(ToposcopeError, match="story 'reach' \\(part of task 'slumlordreach'\\) has no transcript"):
        load_narratives(tmp_path, 1, ["reach"])


@pytest.mark.parametrize(("task", "subject", "story_onset", "word_at", "volume"), [
    # music from 0 s, story from 15 s: the audio file starts with the scan; 20 s in is volume 13 (19.5-21 s)
    ("pieman", "sub-001", None, 20.0, 13),
    # music from 4.5 s, story from 33.5 s: 40 s into the file is 44.5 s into the scan, volume 29 (43.5-45 s)
    ("merlin", "sub-001", None, 40.0, 29),
    # the release moved sub-038's story row 6 s earlier (audio started early) and left the music row at
    # 0 s: the file started 6 s before the scan, so 25 s into it is 19 s into the scan, volume 12 (18-19.5 s)
    ("prettymouth", "sub-038", 15.0, 25.0, 12),
])
def test_narratives_places_a_planted_word_in_its_volume(tmp_path, task, subject, story_onset, word_at, volume):
    n, tr = 60, 1.5
    words = WORDS[:20]
    onsets, offsets = timed_words(words, start=word_at, seed=7)  # the first word starts at word_at exactly
    narratives_tree(tmp_path, {task: (words, onsets, offsets, _volume_index(n, 2), _volume_index(n, 1))},
                    subject=subject, onset=story_onset, tr=tr)
    scan = load_narratives(tmp_path, subject).scans[task]
    assert scan.words.onsets[0] == word_at  # words stay on the audio file's clock
    # the kept volume whose acquisition window (its TR time +- half a TR) holds the word
    row = int(np.searchsorted(scan.tr_times - tr / 2, word_at, side="right")) - 1
    assert scan.tr_times[row] - tr / 2 <= word_at < scan.tr_times[row] + tr / 2
    assert scan.responses[row, 0] == volume


def test_narratives_audio_start_of_a_task_outside_the_release_table(tmp_path):
    # an unknown task: the audio starts with its first music or story row; a known one: from the table
    events = tmp_path / "events.tsv"
    events.write_text("onset\tduration\ttrial_type\n6.0\t10.0\tmusic\n18.0\t30.0\tstory\n", encoding="utf-8")
    assert narratives_audio_start(events, "newstory", 18.0) == 6.0
    assert narratives_audio_start(events, "sherlock", 33.5) == 4.5
    events.write_text("onset\tduration\ttrial_type\n18.0\t30.0\tnewstory\n", encoding="utf-8")
    assert narratives_audio_start(events, "newstory", 18.0) == 18.0


def _milkyway(tmp_path, n=40):
    # each version's story starts 21 s into its audio file, after the music (as in the release)
    versions = {"original": (WORDS[:10], *timed_words(WORDS[:10], start=21.5, seed=3)),
                "vodka": (WORDS[10:20], *timed_words(WORDS[10:20], start=21.5, seed=4)),
                "synonyms": (WORDS[20:30], *timed_words(WORDS[20:30], start=21.5, seed=5))}
    subjects = {"sub-001": ("vodka", _volume_index(n, 2), _volume_index(n, 2) + 100),
                "sub-002": ("synonyms", _volume_index(n, 2) + 1000, _volume_index(n, 2))}
    milkyway_tree(tmp_path, versions, subjects)
    return versions, subjects


def test_narratives_milkyway_pairs_each_subject_with_the_version_heard(tmp_path):
    versions, subjects = _milkyway(tmp_path)
    for number, (subject, (condition, lh, rh)) in enumerate(subjects.items(), start=1):
        data = load_narratives(tmp_path, number)
        story = f"milkyway{condition}"
        assert data.stories == [story] and data.attrs["conditions"] == f"milkyway={condition}"
        scan = data.scans[story]
        assert scan.words.words == tuple(versions[condition][0])
        aligned = np.arange(10) != 3
        np.testing.assert_allclose(scan.words.onsets[aligned], versions[condition][1][aligned])
        stop = int(np.ceil((max(v[2][-1] for v in versions.values()) + 0.5) / 1.5))
        np.testing.assert_array_equal(scan.responses, np.hstack([lh, rh])[14:stop])
        assert load_narratives(tmp_path, number, ["milkyway"]).stories == [story]
        assert load_narratives(tmp_path, number, [story]).stories == [story]
    with pytest.raises(ToposcopeError, match="sub-001 heard version 'vodka' of task 'milkyway'.*not 'original'"):
        load_narratives(tmp_path, 1, ["milkywayoriginal"])


def test_narratives_milkyway_names_what_is_missing(tmp_path):
    _milkyway(tmp_path)
    table = tmp_path / "participants.tsv"
    text = table.read_text(encoding="utf-8")
    # the events play another version than participants.tsv gives
    events = tmp_path / "sub-001" / "func" / "sub-001_task-milkyway_events.tsv"
    played = events.read_text(encoding="utf-8")
    events.write_text(played.replace("milkywayvodka", "milkywayoriginal"), encoding="utf-8")
    with pytest.raises(ToposcopeError, match="plays 'milkywayoriginal_audio.wav'; the two must agree"):
        load_narratives(tmp_path, 1)
    events.write_text(played, encoding="utf-8")
    table.write_text(text.replace("\tcondition\t", "\tgroup\t"), encoding="utf-8")
    with pytest.raises(ToposcopeError, match="participants.tsv' has no 'condition' column .*versions"):
        load_narratives(tmp_path, 2)
    for edited, message in [
        (text.replace("pieman,milkyway", "pieman"), "does not list task 'milkyway' for sub-002"),
        (text.replace("n/a,synonyms", "n/a,vodka,x"), "sub-002 has 2 tasks but 3 conditions"),
        (text.replace("n/a,synonyms", "n/a,sober"), "condition for task 'milkyway' is 'sober', not one of original"),
    ]:
        table.write_text(edited, encoding="utf-8")
        with pytest.raises(ToposcopeError, match=message):
            load_narratives(tmp_path, 2)
    table.write_text("\n".join(line for line in text.splitlines() if not line.startswith("sub-002")) + "\n",
                     encoding="utf-8")
    with pytest.raises(ToposcopeError, match="sub-002 has no row in .*participants.tsv"):
        load_narratives(tmp_path, 2)
    table.unlink()
    with pytest.raises(ToposcopeError, match="no '.*participants.tsv': task 'milkyway' was heard in versions"):
        load_narratives(tmp_path, 2)
    table.write_text(text, encoding="utf-8")
    for path in (tmp_path / "stimuli" / "gentle" / "milkywaysynonyms").iterdir():
        path.unlink()
    with pytest.raises(ToposcopeError, match="task 'milkyway' has no transcript .*milkywaysynonyms"):
        load_narratives(tmp_path, 2)
    assert load_narratives(tmp_path, 1).stories == ["milkywayvodka"]


# --------------------------------------------------------------------------- checks when assembling
def test_plain_folders_and_bad_input(tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "words").mkdir()
    (tmp_path / "bold").mkdir()
    for k, name in enumerate(["a", "b"]):
        words, onsets, offsets = _story(k, start=0.5)
        write_textgrid(tmp_path / "words" / f"{name}.TextGrid", words, onsets, offsets)
        data = rng.normal(size=(12, 3))
        data[:, 1] = np.nan if name == "b" else data[:, 1]
        write_hdf5(tmp_path / "bold" / f"{name}.hf5", data)
    with pytest.warns(UserWarning, match="dropped 1 of 3 voxels that hold NaN"):
        data = load_folder(tmp_path / "words", tmp_path / "bold", tr=2.0)
    assert data.n_voxels == 2 and data.attrs["n_dropped_voxels"] == 1
    assert data.voxel_coords["index"].tolist() == [0, 2]
    # a story in the responses but not in the stimuli, and the reverse
    write_hdf5(tmp_path / "bold" / "c.hf5", np.zeros((12, 3)))
    with pytest.raises(ToposcopeError, match="1 stories have responses but no words \\(e.g. 'c'\\)"):
        load_folder(tmp_path / "words", tmp_path / "bold", tr=2.0)
    (tmp_path / "bold" / "c.hf5").unlink()
    (tmp_path / "words" / "d.csv").write_text("word,onset,offset\nhi,0.1,0.2\n")
    with pytest.raises(ToposcopeError, match="1 stories have words but no responses \\(e.g. 'd'\\)"):
        load_folder(tmp_path / "words", tmp_path / "bold", tr=2.0)
    (tmp_path / "words" / "d.csv").unlink()
    # word times past the end of the scan: the TR is wrong
    with pytest.raises(ToposcopeError, match="story 'a': words run to 12.* s but the scan ends at 6.0 s"):
        load_folder(tmp_path / "words", tmp_path / "bold", tr=0.5)
    story = read_textgrid(tmp_path / "words" / "a.TextGrid")
    with pytest.raises(ToposcopeError, match="12 TRs in the responses but 11 TR times; the TR count does not match"):
        assemble({"a": story}, {"a": np.zeros((12, 2))}, {"a": np.arange(11.0)}, 2.0)


def test_lebel_tr_times_default_and_mismatch():
    np.testing.assert_allclose(lebel_tr_times(3), [11.0, 13.0, 15.0])
    with pytest.raises(ToposcopeError, match="TR count does not match"):
        lebel_tr_times(3, 30)
