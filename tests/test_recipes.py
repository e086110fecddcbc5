"""Recipes and ``toposcope run``: known answers, up-front validation, resume, report, Dask sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.recipes import (
    ANALYSES,
    expand,
    load_recipe,
    parse_recipe,
    run_recipe,
    shipped_recipes,
)

SMALL = """
[recipe]
name = "small"

[[models]]
spec = "demo/topo"

[[models]]
spec = "demo/baseline"

[stimuli]
digits = {set = "demo:digits", per_class = 6}

[[analyses]]
kind = "topoloss"

[[analyses]]
kind = "smoothness"
stimuli = "digits"
bins = 6

[[analyses]]
kind = "dimensionality"
stimuli = "digits"

[[analyses]]
kind = "selectivity"
stimuli = "digits"
"""
N_TASKS = 8


def write_recipe(folder: Path, text: str = SMALL, name: str = "small.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    """The small recipe run once, serially; shared by the read-only tests."""
    root = tmp_path_factory.mktemp("serial")
    recipe = write_recipe(root)
    summary = run_recipe(recipe, root / "out", cache=root / "cache", progress=False)
    return root / "out", summary


def _open(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, engine="h5netcdf") as data:
        return data.load()


# ----------------------------------------------------------------------------- known answers
def test_serial_run_writes_every_task(serial_run):
    out, summary = serial_run
    assert summary["tasks"] == N_TASKS and summary["ran"] == N_TASKS and summary["skipped"] == 0
    for relative in summary["files"]:
        assert (out / relative).is_file(), relative
    assert json.loads((out / "recipe.json").read_text())["name"] == "small"
    assert not list(out.rglob("*.tmp")), "no temporary files left behind"


def test_results_equal_library_calls(serial_run):
    from toposcope import extract, load_model
    from toposcope.analysis.layerwise import smoothness_by_layer
    from toposcope.stimuli import from_folder
    from toposcope.workflows.topoloss import layer_topoloss

    out, _ = serial_run
    subject = load_model("demo/topo")
    responses = extract(subject, from_folder(out / "stimuli" / "digits"), cache=False, progress=False)
    expected = smoothness_by_layer(responses, 6, "exact", seed=0)
    got = _open(out / "results" / "smoothness" / "demo-topo.nc")
    for name in ("score_toponets", "score_tdann", "correlation"):
        np.testing.assert_allclose(got[name].values, expected[name].values, rtol=1e-6, atol=1e-7, equal_nan=True)
    assert list(got["layer"].values) == list(expected["layer"].values)
    table = layer_topoloss(subject)
    got = _open(out / "results" / "topoloss" / "demo-topo.nc")["topoloss"]
    np.testing.assert_allclose(got.values, table.values, rtol=1e-6)
    assert got.attrs["model"] == "demo/topo" and len(got.attrs["task_sha256"]) == 64


def _tables(report: str) -> list[list[list[str]]]:
    """The Markdown tables of a report: each a list of rows of cells, header first (separator dropped)."""
    tables, current = [], []
    for line in [*report.splitlines(), ""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip("|").split("|")])
        elif current:
            tables.append([row for row in current if not set("".join(row)) <= set("-:")])
            current = []
    return tables


def test_report_has_compact_tables_a_complete_csv_and_figures(serial_run):
    from toposcope.recipes.report import metric_rows
    from toposcope.recipes.report_tables import MAX_COLUMNS

    out, _ = serial_run
    report = (out / "report.md").read_text()
    # Every metric of every result, unrounded, in metrics.csv (linked from the report).
    assert "[metrics.csv](metrics.csv)" in report
    csv = pd.read_csv(out / "metrics.csv").set_index(["model", "layer"])
    for analysis in ("topoloss", "smoothness", "dimensionality", "selectivity"):
        for model in ("demo-topo", "demo-baseline"):
            for layer, metrics in metric_rows(_open(out / "results" / analysis / f"{model}.nc"), analysis).items():
                for name, value in metrics.items():
                    assert csv.loc[(model, layer), name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    # No table wider than MAX_COLUMNS; one section per analysis, rows model x layer.
    tables = _tables(report)
    metric = [t for t in tables if t[0][:2] == ["model", "layer"]]
    assert metric and all(len(t[0]) <= MAX_COLUMNS for t in tables)
    for analysis in ("topoloss", "smoothness", "dimensionality", "selectivity"):
        assert f"### {analysis}" in report
    for model in ("demo-topo", "demo-baseline"):
        for layer in ("conv1", "conv2", "conv3", "fc1"):
            assert any(row[:2] == [model, layer] for t in metric for row in t[1:])
    # Every digit category's fraction selective (in %) is in a table: selectivity's summary.
    headers = {h for t in metric for h in t[0]}
    assert {f"digit-{d}" for d in range(10)} <= headers and "TopoLoss" in headers and "effective dim." in headers
    # A cell is the stored value, rounded: TopoNets smoothness of demo-topo conv1.
    smooth = float(_open(out / "results" / "smoothness" / "demo-topo.nc")["score_toponets"].sel(layer="conv1"))
    section = report.split("### smoothness")[1]
    toponets = _tables(section.split("TDANN smoothness")[0])[0]
    row = next(r for r in toponets if r[:2] == ["demo-topo", "conv1"])
    assert toponets[0][2] == "score" and row[2] == f"{smooth:.3f}"
    assert "![smoothness demo-topo](figures/smoothness/demo-topo.png)" in report
    assert (out / "figures" / "smoothness" / "demo-topo.png").is_file()
    # The papers' figures the results allow are built and shown inline with their data linked;
    # those lacking inputs are listed with the reason.
    assert "![fig5a_tmaps](figures/paper/fig5a_tmaps.png)" in report
    assert "[fig5a_tmaps.nc](figures/paper/fig5a_tmaps.nc)" in report
    assert "[smoothness_curves.csv](figures/paper/smoothness_curves.csv)" in report
    assert (out / "figures" / "paper" / "fig5a_tmaps.pdf").is_file()
    assert "- fig4_efficiency: needs efficiency results" in report


def test_metric_tables_split_wide_groups_and_keep_every_metric():
    from toposcope.recipes.report_tables import MAX_COLUMNS, metric_tables

    rng = np.random.default_rng(0)
    table: dict = {}
    fractions = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95]
    smoothness = [f"score_{k}{p}" for k in ("toponets", "tdann")
                  for p in ("", "_chance", "_chance_low", "_chance_high", "_corrected", "_p")]
    for model in ("topo", "base"):
        for layer in ("conv1", "fc1"):
            row = table.setdefault((model, layer), {})
            row.update({f"smoothness.{n}": float(rng.uniform()) for n in smoothness + ["n_units"]})
            row.update({f"selectivity.selective c{k} (t>10)": float(rng.uniform()) for k in range(11)})
            row.update({f"odd.metric{k}": float(rng.uniform()) for k in range(9)})  # a kind without a layout
        table[(model, "-")] = {f"efficiency.accuracy {f:g} pruned": float(rng.uniform()) for f in fractions}
        table[(model, "-")]["efficiency.accuracy intact"] = 0.9
    kinds = {"smoothness": "smoothness", "selectivity": "selectivity", "odd": "localizer", "efficiency": "efficiency"}
    report = "\n".join(metric_tables(table, kinds, {"smoothness": 0.9}))
    tables = _tables(report)
    assert all(len(t[0]) <= MAX_COLUMNS for t in tables)
    # Each metric value fills one cell (a chance band fills one with two), none lost to the width limit.
    filled = sum(1 for t in tables for row in t[1:] for cell in row[len([h for h in t[0] if h in ("model", "layer")]):]
                 if cell)
    bands = sum(1 for t in tables for row in t[1:] for cell in row if cell.count(".") == 2 and "-" in cell[1:])
    assert filled + bands == sum(len(m) for m in table.values())
    # 11 categories -> two tables of 6 and 5 (even), in %; efficiency one row per model, no layer column.
    selective = [t for t in tables if t[0][2:3] and t[0][2].startswith("c")]
    assert [len(t[0]) - 2 for t in selective] == [6, 5]
    cell = selective[0][1][2]
    assert cell == f"{100 * table[('topo', 'conv1')]['selectivity.selective c0 (t>10)']:.1f}"
    efficiency = [t for t in tables if t[0][0] == "model" and t[0][1] == "intact"]
    assert efficiency and [r[0] for r in efficiency[0][1:]] == ["topo", "base"]
    assert "90% pruned" in {h for t in tables for h in t[0]} and "chance 90% band" in report
    assert "### odd\n\nMetrics:" in report and "metric8" in {h for t in tables for h in t[0]}


def test_per_task_selectivity_figure_draws_every_category():
    from types import SimpleNamespace

    from toposcope.recipes.report import _figure

    digits = [f"digit-{d}" for d in range(10)]
    rows, cols = np.divmod(np.arange(32), 8)
    t = xr.DataArray(np.random.default_rng(0).normal(0, 3, (10, 32)), dims=("contrast", "unit"), name="t",
                     coords={"contrast": digits, "x": ("unit", cols), "y": ("unit", rows),
                             "layer": ("unit", ["fc1"] * 32)})
    figure = _figure(SimpleNamespace(model="m", analysis="selectivity", kind="selectivity"), t.to_dataset())
    titles = [ax.get_title() for ax in figure.axes if ax.get_images()]
    assert sorted(title for title in titles if title) == digits


def test_recipe_figures_list_limits_the_paper_figures(tmp_path):
    text = SMALL.replace('name = "small"', 'name = "small"\nfigures = ["smoothness_curves"]')
    out = tmp_path / "out"
    run_recipe(write_recipe(tmp_path, text), out, cache=tmp_path / "cache", progress=False)
    drawn = sorted(p.name for p in (out / "figures" / "paper").iterdir())
    assert drawn == ["smoothness_curves.csv", "smoothness_curves.pdf", "smoothness_curves.png"]
    report = (out / "report.md").read_text()
    assert "fig5a_tmaps" not in report and "![smoothness_curves]" in report


# ----------------------------------------------------------------------------- models as Python objects
def _own_module_subject():
    """The demo CNN as a researcher's own nn.Module: layer names, preprocessing and input shape given."""
    from toposcope import load_model

    demo = load_model("demo/topo")
    return load_model(demo.model, layers=["conv1", "conv2", "conv3", "fc1"], transform=demo.transform,
                      input_shape=(1, 16, 16), name="my-cnn")


def test_own_module_runs_a_recipe_and_equals_the_spec_run(serial_run, tmp_path):
    out, _ = serial_run
    subject = _own_module_subject()
    summary = run_recipe(write_recipe(tmp_path), tmp_path / "own", models={"mine": subject},
                         cache=False, progress=False, figures=False)
    assert summary["tasks"] == N_TASKS // 2 and summary["ran"] == N_TASKS // 2
    for analysis, variable in (("smoothness", "score_toponets"), ("dimensionality", "effective_dimensionality"),
                               ("topoloss", "topoloss")):
        got, expected = (_open(folder / "results" / analysis / name)
                         for folder, name in ((tmp_path / "own", "mine.nc"), (out, "demo-topo.nc")))
        np.testing.assert_allclose(got[variable].values, expected[variable].values, rtol=1e-6, atol=1e-7)
    from toposcope.figures import load_run

    provenance = load_run(tmp_path / "own").attrs["mine"]
    assert provenance["model"] == "my-cnn" and provenance["checkpoint_sha256"] == subject.identity
    # Same weights, same tasks: a rerun with the same object skips everything.
    again = run_recipe(write_recipe(tmp_path), tmp_path / "own", models={"mine": subject}, cache=False,
                       progress=False, figures=False)
    assert again["ran"] == 0


def test_own_module_on_a_dask_worker_process(tmp_path):
    pytest.importorskip("dask.distributed")
    subject = _own_module_subject()
    recipe = write_recipe(tmp_path, SMALL.split("[[analyses]]")[0] + '[[analyses]]\nkind = "topoloss"\n')
    run_recipe(recipe, tmp_path / "serial", models={"mine": subject}, progress=False, figures=False)
    run_recipe(recipe, tmp_path / "dask", models={"mine": subject}, workers=1, processes=True, progress=False,
               figures=False)
    serial, swept = (_open(tmp_path / f / "results" / "topoloss" / "mine.nc") for f in ("serial", "dask"))
    np.testing.assert_array_equal(serial["topoloss"].values, swept["topoloss"].values)


def test_objects_that_are_not_subjects_are_refused(tmp_path):
    import torch

    with pytest.raises(ToposcopeError, match=r"model 'net' is a Linear, not a Subject; wrap it with "
                                             r"toposcope.load_model\(module, layers=\[...\]\)"):
        run_recipe(write_recipe(tmp_path), tmp_path / "out", models={"net": torch.nn.Linear(2, 2)})
    with pytest.raises(ToposcopeError, match="empty mapping"):
        run_recipe(write_recipe(tmp_path), tmp_path / "out", models={})
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- resume
def test_interrupted_run_resumes(tmp_path, monkeypatch):
    calls = []
    flaky = {"left": 1}

    def counted(kind):
        original = ANALYSES[kind]

        def wrapper(subject, stimuli, params, cache):
            calls.append((kind, subject.name))
            if kind == "dimensionality" and subject.name == "demo/baseline" and flaky["left"]:
                flaky["left"] -= 1
                raise RuntimeError("killed mid-task")
            return original(subject, stimuli, params, cache)
        return wrapper

    for kind in list(ANALYSES):
        monkeypatch.setitem(ANALYSES, kind, counted(kind))
    recipe = write_recipe(tmp_path)
    with pytest.raises(ToposcopeError, match=r"1 of 8 tasks failed \(first: dimensionality/demo-baseline"):
        run_recipe(recipe, tmp_path / "out", progress=False, figures=False)
    assert len(calls) == N_TASKS
    assert not (tmp_path / "out" / "results" / "dimensionality" / "demo-baseline.nc").exists()
    assert "| dimensionality | demo-baseline | failed: RuntimeError: killed mid-task |" in \
        (tmp_path / "out" / "report.md").read_text()
    calls.clear()
    summary = run_recipe(recipe, tmp_path / "out", progress=False, figures=False)
    assert calls == [("dimensionality", "demo/baseline")]
    assert summary["ran"] == 1 and summary["skipped"] == N_TASKS - 1
    calls.clear()
    assert run_recipe(recipe, tmp_path / "out", progress=False, figures=False)["ran"] == 0
    assert calls == []
    run_recipe(recipe, tmp_path / "out", progress=False, figures=False, force=True)
    assert len(calls) == N_TASKS


def test_changed_task_is_recomputed_not_skipped(tmp_path):
    """A result whose task hash differs (another model option) is not taken as finished."""
    recipe = parse_recipe({"recipe": {"name": "r"}, "models": [{"spec": "demo/topo"}],
                           "analyses": [{"kind": "topoloss"}]})
    other = parse_recipe({"recipe": {"name": "r"}, "models": [{"spec": "demo/topo", "options": {"pool": "max"}}],
                          "analyses": [{"kind": "topoloss"}]})
    assert run_recipe(recipe, tmp_path, progress=False, figures=False)["ran"] == 1
    assert run_recipe(other, tmp_path, progress=False, figures=False)["ran"] == 1


# ----------------------------------------------------------------------------- validation
BASE = {"recipe": {"name": "x"}, "models": [{"spec": "demo/topo"}], "stimuli": {"digits": "demo:digits"},
        "analyses": [{"kind": "smoothness", "stimuli": "digits"}]}


def _with(**changes):
    data = json.loads(json.dumps(BASE))
    data.update(changes)
    return data


@pytest.mark.parametrize(("data", "match"), [
    (_with(output="x"), r"unknown key 'output' in the recipe; allowed: recipe, models, stimuli, analyses"),
    (_with(recipe={"nam": "x"}), r"unknown key 'nam' in \[recipe\] \(did you mean 'name'\?\); allowed: name"),
    (_with(models=[{"spec": "demo/topo", "tau": 1}]), r"unknown key 'tau' in \[\[models\]\] #1 .*allowed: spec"),
    (_with(analyses=[{"kind": "smoothness", "stimuli": "digits", "bin": 3}]),
     r"unknown key 'bin' in \[\[analyses\]\] #1 \(kind 'smoothness'\) \(did you mean 'bins'\?\); allowed: .*bins"),
    (_with(analyses=[{"kind": "smoothnes", "stimuli": "digits"}]), r"unknown analysis kind .*'smoothnes'.*smoothness"),
    (_with(analyses=[{"kind": "smoothness", "stimuli": "faces"}]),
     r"stimuli 'faces' is not defined in \[stimuli\]; defined: digits"),
    (_with(analyses=[{"kind": "smoothness"}]), r"needs stimuli = one of \['digits'\]"),
    (_with(analyses=[{"kind": "topoloss", "stimuli": "digits"}]), r"topoloss takes no stimuli"),
    (_with(models=[{"spec": "demo/topo", "checkpoints": "nothing-here/*.pt"}]),
     r"checkpoints 'nothing-here/\*\.pt' matches no file"),
    (_with(models=[]), r"no \[\[models\]\]"),
    (_with(analyses=[]), r"no \[\[analyses\]\]"),
    (_with(analyses=[{"kind": "topoloss"}, {"kind": "topoloss"}]), r"two analyses are both named 'topoloss'"),
    (_with(recipe={"name": "x", "figures": ["fig5a_tmap"]}),
     r"\[recipe\] unknown figure 'fig5a_tmap'; allowed: .*'fig5a_tmaps'.* \(did you mean 'fig5a_tmaps'\?\)"),
    (_with(recipe={"name": "x", "figures": "fig5a_tmaps"}), r"figures must be a list of figure names"),
])
def test_bad_recipes_fail_up_front(data, match, tmp_path):
    with pytest.raises(ToposcopeError, match=match):
        parse_recipe(data, base_dir=tmp_path)


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ToposcopeError, match=r"not valid TOML"):
        load_recipe(write_recipe(tmp_path, "[recipe\nname = 1"))
    with pytest.raises(ToposcopeError, match=r"recipe 'nope.toml' does not exist; give a .toml file or one of .*demo"):
        load_recipe("nope.toml")


def test_unknown_layer_fails_before_any_task(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setitem(ANALYSES, "topoloss", lambda *a: ran.append(a))
    data = _with(analyses=[{"kind": "topoloss"}, {"kind": "smoothness", "stimuli": "digits", "layers": ["conv9"]}])
    with pytest.raises(ToposcopeError, match=r"analysis 'smoothness' on model 'demo-topo': unknown layer 'conv9'"):
        run_recipe(parse_recipe(data), tmp_path / "out", progress=False)
    assert ran == []


def test_language_stimuli_for_a_vision_model(tmp_path):
    text = tmp_path / "texts.txt"
    text.write_text("a cat\na dog\n")
    data = _with(stimuli={"texts": str(text)}, analyses=[{"kind": "smoothness", "stimuli": "texts"}])
    with pytest.raises(ToposcopeError, match=r"stimuli 'texts' are texts but the model is a vision model"):
        run_recipe(parse_recipe(data), tmp_path / "out", progress=False)


def test_folder_of_another_recipe_is_refused_unless_forced(tmp_path):
    first = parse_recipe({"recipe": {"name": "one"}, "models": [{"spec": "demo/topo"}],
                          "analyses": [{"kind": "topoloss"}]})
    second = parse_recipe({"recipe": {"name": "two"}, "models": [{"spec": "demo/topo"}],
                           "analyses": [{"kind": "topoloss", "factor": 2.0}]})
    run_recipe(first, tmp_path, progress=False, figures=False)
    with pytest.raises(ToposcopeError, match=r"holds results of another recipe \('one'.*pass --force"):
        run_recipe(second, tmp_path, progress=False, figures=False)
    run_recipe(second, tmp_path, progress=False, figures=False, force=True)
    assert json.loads((tmp_path / "recipe.json").read_text())["name"] == "two"
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(ToposcopeError, match=r"not empty and holds no recipe.json"):
        run_recipe(first, stray, progress=False)


# ----------------------------------------------------------------------------- expansion, shipped recipes
def test_checkpoints_sharing_a_file_name_are_named_by_their_folder(tmp_path):
    for seed in ("seed1", "seed0"):
        (tmp_path / seed).mkdir()
        (tmp_path / seed / "final.pt").write_bytes(b"")
    recipe = parse_recipe({"models": [{"spec": "demo/topo", "checkpoints": "*/final.pt"}],
                           "analyses": [{"kind": "topoloss"}]}, base_dir=tmp_path)
    assert [m["name"] for m in recipe.models] == ["demo-topo-seed0-final", "demo-topo-seed1-final"]
    assert [Path(m["options"]["checkpoint"]).parent.name for m in recipe.models] == ["seed0", "seed1"]


def test_taus_and_checkpoint_globs_expand(tmp_path):
    (tmp_path / "ckpt").mkdir()
    for seed in (1, 0):
        (tmp_path / "ckpt" / f"seed{seed}.pt").write_bytes(b"")
    recipe = parse_recipe({"models": [{"spec": "toponets/resnet18", "taus": [0.5, 50]},
                                      {"spec": "demo/topo", "name": "mine", "checkpoints": "ckpt/*.pt"}],
                           "analyses": [{"kind": "topoloss"}]}, base_dir=tmp_path)
    assert [m["name"] for m in recipe.models] == ["toponets-resnet18-tau0.5", "toponets-resnet18-tau50",
                                                  "mine-seed0", "mine-seed1"]
    assert recipe.models[1]["options"] == {"tau": 50}
    assert recipe.models[2]["options"]["checkpoint"] == str((tmp_path / "ckpt" / "seed0.pt").resolve())
    tasks = expand(recipe)
    assert len(tasks) == 4 and len({t.task_sha256 for t in tasks}) == 4
    assert {t.recipe_sha256 for t in tasks} == {recipe.sha256}


@pytest.mark.parametrize("name", shipped_recipes())
def test_shipped_recipes_parse(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tdann" / "checkpoints" / "seed0").mkdir(parents=True)
    (tmp_path / "tdann" / "checkpoints" / "seed0" / "model_final_checkpoint_phase199.torch").write_bytes(b"")
    recipe = load_recipe(name)
    assert recipe.name == name and expand(recipe)
    if name == "toponets_fig2":
        assert [m["options"]["tau"] for m in recipe.models] == [0.5, 1, 5, 10, 20, 50]


def test_model_override(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path), models=["demo/baseline"])
    assert [m["spec"] for m in recipe.models] == ["demo/baseline"]
    assert recipe.sha256 == load_recipe(write_recipe(tmp_path)).sha256  # sweeping models keeps the folder


# ----------------------------------------------------------------------------- CLI
def test_cli_run_and_rerun(tmp_path, capsys):
    from toposcope.cli import main

    recipe = parse_recipe({"recipe": {"name": "cli"}, "models": [{"spec": "demo/topo"}],
                           "analyses": [{"kind": "topoloss"}]})
    path = write_recipe(tmp_path, '[recipe]\nname = "cli"\n[[models]]\nspec = "demo/topo"\n'
                                  '[[analyses]]\nkind = "topoloss"\n', name="cli.toml")
    assert load_recipe(path).sha256 == recipe.sha256
    out = tmp_path / "out"
    assert main(["run", str(path), "-o", str(out), "--quiet", "--no-figures"]) == 0
    assert "1 tasks, 1 run, 0 already done" in capsys.readouterr().out
    assert main(["run", str(path), "-o", str(out), "--quiet", "--model", "demo/baseline"]) == 0
    assert (out / "results" / "topoloss" / "demo-baseline.nc").is_file()
    assert main(["run", str(tmp_path / "missing.toml"), "-o", str(out)]) == 2
    assert "toposcope run: error: recipe" in capsys.readouterr().err


def test_cli_options_dry_run_and_list(tmp_path, capsys):
    from toposcope.cli import main
    from toposcope.recipes.schema import shipped_recipes

    path = write_recipe(tmp_path, '[recipe]\nname = "opt"\n[[models]]\nspec = "demo/topo"\n'
                                  '[[analyses]]\nkind = "topoloss"\n', name="opt.toml")
    out = tmp_path / "out"
    # -O reaches every model's load options, and so the task (its hash) and the result's provenance.
    recipe = load_recipe(path, options={"pool": "max"})
    assert recipe.models[0]["options"] == {"pool": "max"}
    assert expand(recipe)[0].task_sha256 != expand(load_recipe(path))[0].task_sha256
    # A dry run loads and checks everything, lists the tasks, and runs none.
    assert main(["run", str(path), "-o", str(out), "--dry-run", "-O", "pool=max"]) == 0
    printed = capsys.readouterr().out
    assert "pending  results/topoloss/demo-topo.nc" in printed and "1 to run" in printed
    assert not (out / "results").exists()
    assert main(["run", str(path), "-o", str(out), "--quiet", "--no-figures", "-O", "pool=max"]) == 0
    from toposcope.figures import load_run

    assert load_run(out).attrs["demo-topo"]["model_options"] == "pool=max"
    capsys.readouterr()
    assert main(["run", str(path), "-o", str(out), "--dry-run", "-O", "pool=max"]) == 0
    assert "done     results/topoloss/demo-topo.nc" in capsys.readouterr().out
    # Bad options are one line before anything runs.
    assert main(["run", str(path), "-o", str(out), "-O", "nonsense"]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err
    assert main(["run", str(path), "-o", str(tmp_path / "o2"), "-O", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err
    # --list names every shipped recipe; no RECIPE and no --list is an error that says so.
    assert main(["run", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == shipped_recipes()
    assert main(["run"]) == 2
    assert "toposcope run --list" in capsys.readouterr().err


def test_options_may_not_flatten_a_sweep(tmp_path):
    path = write_recipe(tmp_path, '[[models]]\nspec = "toponets/resnet18"\ntaus = [1, 5]\n'
                                  '[[analyses]]\nkind = "topoloss"\n', name="sweep.toml")
    with pytest.raises(ToposcopeError, match=r"sweeps taus; -O tau=\.\.\. would give every model the same tau"):
        load_recipe(path, options={"tau": 10})
    assert [m["options"] for m in load_recipe(path, options={"pool": "max"}).models] == [
        {"pool": "max", "tau": 1}, {"pool": "max", "tau": 5}]


# ----------------------------------------------------------------------------- Dask
def test_dask_sweep_equals_serial_run(serial_run, tmp_path):
    pytest.importorskip("dask.distributed")
    out, summary = serial_run
    recipe = write_recipe(tmp_path)
    # Worker processes, as `toposcope run --workers` starts them: their own threads, imports and cache reads.
    dask_summary = run_recipe(recipe, tmp_path / "out", workers=2, processes=True, progress=False, figures=False)
    assert dask_summary["ran"] == N_TASKS
    for relative in summary["files"]:
        serial, parallel = _open(out / relative), _open(tmp_path / "out" / relative)
        # Same coords, attrs (provenance) and variables; values to float32 rounding only: the
        # smoothness correlations are float32 matmuls, and dask's worker processes run BLAS on
        # one thread each while the serial run uses every core, which may sum in another order.
        xr.testing.assert_identical(serial.drop_vars(list(serial.data_vars)),
                                    parallel.drop_vars(list(parallel.data_vars)))
        assert sorted(serial.data_vars) == sorted(parallel.data_vars)
        xr.testing.assert_allclose(serial, parallel, rtol=1e-6, atol=1e-7)
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_dask_retries_a_failed_task(tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    attempts = []
    original = ANALYSES["topoloss"]

    def dies_once(subject, stimuli, params, cache):
        attempts.append(subject.name)
        if len(attempts) == 1:
            raise RuntimeError("worker lost")
        return original(subject, stimuli, params, cache)

    monkeypatch.setitem(ANALYSES, "topoloss", dies_once)
    recipe = parse_recipe({"recipe": {"name": "r"}, "models": [{"spec": "demo/topo"}],
                           "analyses": [{"kind": "topoloss"}]})
    summary = run_recipe(recipe, tmp_path, workers=1, processes=False, retries=1, progress=False, figures=False)
    assert attempts == ["demo/topo", "demo/topo"] and summary["ran"] == 1
    assert (tmp_path / "results" / "topoloss" / "demo-topo.nc").is_file()


def _install_dying_topoloss(marker: str) -> None:
    """In a worker process: TopoLoss kills the process on its first call (marker file absent)."""
    import os

    from toposcope.recipes import tasks

    original = tasks.ANALYSES["topoloss"]

    def dies(subject, stimuli, params, cache):
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker dies mid-task, without cleanup
        return original(subject, stimuli, params, cache)

    tasks.ANALYSES["topoloss"] = dies


def test_worker_dying_mid_task_on_a_scheduler(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    marker = tmp_path / "died-once"
    recipe = parse_recipe({"recipe": {"name": "r"}, "models": [{"spec": "demo/topo"}],
                           "analyses": [{"kind": "topoloss"}]})
    with (distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster) as client):
        # A restarted worker must die-once too: install the patch on every worker that starts.
        client.register_plugin(_Patch(str(marker)))
        summary = run_recipe(recipe, tmp_path / "out", scheduler=cluster.scheduler_address, progress=False,
                             figures=False)
    assert marker.is_file(), "the worker died once"
    assert summary["ran"] == 1
    assert (tmp_path / "out" / "results" / "topoloss" / "demo-topo.nc").is_file()
    assert not list((tmp_path / "out").rglob("*.tmp"))


try:
    from distributed import WorkerPlugin
except ImportError:  # the Dask tests skip
    WorkerPlugin = object


class _Patch(WorkerPlugin):
    """A worker plugin installing :func:`_install_dying_topoloss` on each worker at start."""

    name = "dying-topoloss"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def setup(self, worker) -> None:
        _install_dying_topoloss(self.marker)


def test_report_rows_summarise_efficiency_curves_and_selectivity():
    from toposcope.analysis.patches import selective_fraction
    from toposcope.recipes.report import metric_rows

    curves = xr.Dataset({"performance": ("fraction", [0.9, 0.8, 0.5]), "change": ("fraction", [0, -0.1, -0.4]),
                         "downsampled_performance": ("factor", [0.85])},
                        coords={"fraction": [0.0, 0.5, 0.9], "factor": [2.0]},
                        attrs={"baseline": 0.9, "measure": "accuracy"})
    rows = metric_rows(curves, "efficiency")["-"]
    assert rows == {"efficiency.accuracy 0 pruned": 0.9, "efficiency.accuracy 0.5 pruned": 0.8,
                    "efficiency.accuracy 0.9 pruned": 0.5, "efficiency.accuracy x2 downsampled": 0.85,
                    "efficiency.accuracy intact": 0.9}
    t = xr.DataArray([[12.0, 3.0, 11.0, 20.0], [0.0, 0.0, 0.0, 15.0]], dims=("contrast", "unit"),
                     coords={"contrast": ["faces", "places"], "layer": ("unit", ["a", "a", "b", "b"])}, name="t")
    rows = metric_rows(t.to_dataset(), "selectivity")
    expected = selective_fraction(t)
    assert rows["a"]["selectivity.selective faces (t>10)"] == 0.5 == float(expected.sel(layer="a", contrast="faces"))
    assert rows["b"]["selectivity.selective places (t>10)"] == 0.5 and rows["b"]["selectivity.selective faces (t>10)"] == 1.0


# --------------------------------------------------------------------------- brainscore on localized units
def _planted_localizer(path: Path, layers=("h.0.mlp.c_fc", "h.1.mlp.c_fc"), n_units: int = 256) -> Path:
    """A localizer result as `toposcope localizer` writes it: every fourth unit of each layer selective."""
    from toposcope.io import write_netcdf

    selective = np.tile(np.arange(n_units) % 4 == 1, len(layers))
    data = xr.Dataset({"selective": ("unit", selective), "t": ("unit", selective * 5.0)},
                      coords={"layer": ("unit", np.repeat(list(layers), n_units))}, attrs={"mask": "top_k", "top_k": 0.25})
    return write_netcdf(data, path)


def _brainscore_recipe(units, benchmark="Pereira2018.243sentences-linear-shuffle", layer="h.1.mlp.c_fc"):
    return {"recipe": {"name": "localized"}, "models": [{"spec": "demo_lm"}],
            "analyses": [{"kind": "brainscore", "benchmark": benchmark, "region_layers": {"language_system": layer},
                          "units": units}]}


def test_brainscore_units_are_checked_by_the_schema(tmp_path):
    _planted_localizer(tmp_path / "loc" / "localizer.nc")
    recipe = parse_recipe(_brainscore_recipe("loc/localizer.nc"), base_dir=tmp_path)
    analysis = recipe.analyses[0]
    assert analysis["units"] == str((tmp_path / "loc" / "localizer.nc").resolve())  # relative to the working folder
    assert parse_recipe(_brainscore_recipe(str(tmp_path / "loc" / "localizer.nc"))).analyses[0]["units"] == \
        analysis["units"]  # or absolute
    before = expand(recipe)[0].task_sha256
    _planted_localizer(tmp_path / "loc" / "localizer.nc", n_units=128)  # rewritten: the score must be recomputed
    assert expand(parse_recipe(_brainscore_recipe("loc/localizer.nc"), base_dir=tmp_path))[0].task_sha256 != before
    with pytest.raises(ToposcopeError, match=r"^\[\[analyses\]\] #1 \(brainscore\): units file 'nowhere.nc' does not "
                                             r"exist \(relative paths are from the working folder .*\); write one "
                                             r"with `toposcope localizer"):
        parse_recipe(_brainscore_recipe("nowhere.nc"), base_dir=tmp_path)
    with pytest.raises(ToposcopeError, match=r"units must be the path of a localizer result, e.g. units = "
                                             r"\"localizer.nc\".*got \{'kind': 'localizer'\}"):
        parse_recipe(_brainscore_recipe({"kind": "localizer"}), base_dir=tmp_path)
    with pytest.raises(ToposcopeError, match=r"units must be the path .* got 3"):
        parse_recipe(_brainscore_recipe(3), base_dir=tmp_path)
    with pytest.raises(ToposcopeError, match=r"unknown key 'units' in \[\[analyses\]\] #1 \(kind 'competence'\)"):
        parse_recipe({"models": [{"spec": "demo_lm"}],
                      "analyses": [{"kind": "competence", "pairs": "grammar", "units": "loc/localizer.nc"}]})


@pytest.fixture
def _brainscore_present(monkeypatch):
    """Brain-Score's own presence and benchmark registry are not what these tests check (it has its own env)."""
    from toposcope.brain import _brainscore

    monkeypatch.setattr(_brainscore, "require", lambda kind: None)
    monkeypatch.setattr(_brainscore, "check_benchmark", lambda kind, name: None)


def test_brainscore_units_are_checked_against_each_model(tmp_path, _brainscore_present):
    from toposcope.recipes.runner import validate

    good = _planted_localizer(tmp_path / "good.nc")
    validate(parse_recipe(_brainscore_recipe(str(good))), tmp_path / "out")  # covers the mapped layer, 256 units
    cases = {
        _planted_localizer(tmp_path / "other.nc", layers=("h.0.mlp.c_fc",)):
            r"units file '.*other.nc': units have no mask for layer 'h.1.mlp.c_fc'",
        _planted_localizer(tmp_path / "short.nc", n_units=100):
            r"units file '.*short.nc': the mask of layer 'h.1.mlp.c_fc' has 100 entries, but the layer has 256 units",
    }
    (tmp_path / "text.nc").write_text("not netCDF")
    cases[tmp_path / "text.nc"] = r"units file '.*text.nc' is not a netCDF localizer result"
    for path, message in cases.items():
        with pytest.raises(ToposcopeError, match=r"^analysis 'brainscore' on model 'demo_lm': " + message):
            validate(parse_recipe(_brainscore_recipe(str(path))), tmp_path / "out")
    with pytest.raises(ToposcopeError, match=r"units restricts language benchmarks to localized units; benchmark "
                                             r"'MajajHong2015public.IT-pls' is a vision benchmark: remove units"):
        validate(parse_recipe(_brainscore_recipe(str(good), benchmark="MajajHong2015public.IT-pls")), tmp_path / "out")


def test_brainscore_task_scores_the_localized_units(tmp_path, monkeypatch, _brainscore_present):
    from toposcope.brain import brainscore_language
    from toposcope.recipes.tasks import run_task

    seen = {}

    def score(subject, benchmark, region_layers, units=None):
        # Stands in for Brain-Score's benchmark call; the masks are what toposcope would hand Brain-Score.
        seen.update(brainscore_language.unit_masks(subject, region_layers, units))
        return xr.Dataset({"score": ((), 0.5)}, attrs={"units": "planted"})

    monkeypatch.setattr(brainscore_language, "score", score)
    path = _planted_localizer(tmp_path / "localizer.nc")
    task = expand(parse_recipe(_brainscore_recipe(str(path))))[0]
    written = run_task(task, tmp_path / "out")
    assert list(seen) == ["h.1.mlp.c_fc"] and np.array_equal(np.flatnonzero(seen["h.1.mlp.c_fc"]), np.arange(1, 256, 4))
    with xr.open_dataset(written, engine="h5netcdf") as data:
        assert float(data["score"]) == 0.5 and str(path.resolve()) in data.attrs["parameters"]
