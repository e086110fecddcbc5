"""``toposcope encode``: a LeBel-layout tree and plain folders in, netCDF and figure out; bad input in one line."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from _one_thread import one_thread  # noqa: F401 - autouse fixture
from _story_tree import WORDS, lebel_tree, narratives_tree, timed_words, write_hdf5, write_textgrid

from toposcope.cli import main


def _tree(root, n_stories=4, repeats=4):
    rng = np.random.default_rng(0)
    stories = {}
    for k in range(n_stories):
        words = list(np.roll(WORDS * repeats, 7 * k))
        onsets, offsets = timed_words(words, start=1.0, seed=k)
        n_rows = int((offsets[-1] - 9) / 2) + 3
        stories[f"story{k}"] = (words, onsets, offsets, rng.normal(size=(n_rows, 6)))
    return lebel_tree(root, stories)


def test_encode_lebel_tree_writes_results_and_a_figure(tmp_path, capsys):
    root = _tree(tmp_path / "ds003020")
    out = tmp_path / "enc.nc"
    code = main(["encode", "demo_lm", "--dataset", "lebel", "--root", str(root), "--subject", "UTS01",
                 "--layers", "h.1.mlp.c_fc,h.3.mlp.c_fc", "--context", "6", "--permutations", "20",
                 "--windows", "2", "--test", "story0", "-o", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "4 stories, 6 voxels, TR 2 s (LeBel2023 (ds003020))" in printed
    assert "test stories: story0" in printed
    result = xr.open_dataset(out, engine="h5netcdf")
    assert result["r"].dims == ("layer", "voxel") and list(result["layer"].values) == ["h.1.mlp.c_fc", "h.3.mlp.c_fc"]
    assert result["window_r"].dims == ("layer", "window", "voxel") and result.sizes["window"] == 4
    assert result.attrs["model"] == "demo_lm" and result.attrs["context"] == 6
    assert result.attrs["test_stories"] == "story0" and result.attrs["method"] == "lanczos"
    assert (tmp_path / "enc.png").is_file()
    # one layer: its weights are kept, with the units' sheet positions
    code = main(["encode", "demo_lm", "--dataset", "lebel", "--root", str(root), "--layers", "h.1.mlp.c_fc",
                 "--context", "4", "--permutations", "0", "--windows", "2", "-o", str(tmp_path / "one.nc"),
                 "--quiet", "--no-figures"])
    assert code == 0
    one = xr.open_dataset(tmp_path / "one.nc", engine="h5netcdf")
    assert one["weights"].dims == ("delay", "unit", "voxel") and one.sizes["unit"] == 256
    assert "x" in one.coords and one.attrs["test_stories"] == "story3"


@pytest.mark.parametrize("argv,message", [
    (["--stories", "{d}"], "--dataset folder needs --responses, --tr"),
    (["--dataset", "lebel"], "--dataset lebel needs --root DIR \\(get the data from OpenNeuro ds003020"),
    (["--dataset", "narratives", "--root", "{d}/nowhere"], "Narratives root .* does not exist"),
    (["--dataset", "lebel", "--root", "{d}"], "no TextGrids at"),
    (["--stories", "{d}/words", "--responses", "{d}/bold", "--tr", "2", "--trim", "1"], "--trim takes START,END"),
    (["--stories", "{d}/words", "--responses", "{d}/bold", "--tr", "2", "--device", "cuda:7"], "--device cuda:7"),
    (["--stories", "{d}/words", "--responses", "{d}/bold", "--tr", "2"],
     "one story only \\('a'\\): nothing to hold out"),
])
def test_encode_bad_input_is_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "words").mkdir()
    (tmp_path / "bold").mkdir()
    onsets, offsets = timed_words(WORDS, start=0.5)
    write_textgrid(tmp_path / "words" / "a.TextGrid", WORDS, onsets, offsets)
    write_hdf5(tmp_path / "bold" / "a.hf5", np.random.default_rng(0).normal(size=(12, 3)))
    args = ["encode", "demo_lm", *[a.format(d=tmp_path) for a in argv], "-o", str(tmp_path / "out.nc"),
            "--quiet", "--layers", "h.0.mlp.c_fc", "--context", "3"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    import re

    assert re.search(message, err), err
    assert not (tmp_path / "out.nc").exists()


def test_encoding_recipe_kind_runs_and_resumes(tmp_path):
    from toposcope._validation import ToposcopeError
    from toposcope.recipes.runner import run_recipe
    from toposcope.recipes.schema import parse_recipe

    root = _tree(tmp_path / "ds003020", n_stories=3, repeats=5)
    recipe = tmp_path / "story.toml"
    recipe.write_text(f"""
[recipe]
name = "story-encoding"

[[models]]
spec = "demo_lm"

[[analyses]]
kind = "encoding"
dataset = "lebel"
root = "{root}"
participant = "UTS01"
layers = ["h.2.mlp.c_fc"]
context = 4
delays = [1, 2]
trim = [1, 1]
windows = 2
permutations = 10
test = "story1"
""", encoding="utf-8")
    summary = run_recipe(recipe, tmp_path / "out", cache=tmp_path / "cache", progress=False, figures=False)
    assert summary["ran"] == 1 and summary["tasks"] == 1, summary
    path = tmp_path / "out" / summary["files"][0]
    with xr.open_dataset(path, engine="h5netcdf") as result:
        assert result["r"].dims == ("layer", "voxel") and result.attrs["test_stories"] == "story1"
        assert result.attrs["delays"].tolist() == [1, 2] and result.attrs["kind"] == "encoding"
    again = run_recipe(recipe, tmp_path / "out", cache=tmp_path / "cache", progress=False, figures=False)
    assert again["ran"] == 0 and again["skipped"] == 1
    with pytest.raises(ToposcopeError, match="encoding takes no stimuli"):
        parse_recipe({"models": [{"spec": "demo_lm"}], "stimuli": {"t": "floc"},
                      "analyses": [{"kind": "encoding", "stimuli": "t"}]})
    with pytest.raises(ToposcopeError, match="unknown key 'contxt'.*did you mean 'context'"):
        parse_recipe({"models": [{"spec": "demo_lm"}], "analyses": [{"kind": "encoding", "contxt": 3}]})


def test_encode_narratives_surface_data_also_draws_r_on_the_cortex(tmp_path, capsys):
    rng = np.random.default_rng(1)
    tasks = {}
    # word times on each audio file's clock (Pie Man's story starts 15 s in, after music); black's audio
    # starts 12 s into its scan
    for k, task in enumerate(["pieman", "tunnel", "lucy", "black"]):
        words = list(np.roll(WORDS * 3, 5 * k))
        onsets, offsets = timed_words(words, start=15.5 if task == "pieman" else 0.5, seed=k)
        n = int((offsets[-1] + 12.0) / 1.5) + 4
        tasks[task] = (words, onsets, offsets, rng.normal(size=(n, 5)), rng.normal(size=(n, 4)))
    root = narratives_tree(tmp_path / "ds002345", tasks, tr=1.5)
    out = tmp_path / "enc.nc"
    code = main(["encode", "demo_lm", "--dataset", "narratives", "--root", str(root), "--subject", "1",
                 "--layers", "h.1.mlp.c_fc", "--context", "4", "--permutations", "0", "--windows", "2",
                 "-o", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "4 stories, 9 voxels, TR 1.5 s (Narratives (ds002345))" in printed
    result = xr.open_dataset(out, engine="h5netcdf")
    assert result["hemisphere"].values.tolist() == ["L"] * 5 + ["R"] * 4
    assert (tmp_path / "enc.png").is_file() and (tmp_path / "enc_surface.png").is_file()
