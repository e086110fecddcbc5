"""Checkpoints over training as an axis: series, the per-step runner, recipes and the trajectory figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.workflows.trajectory import (
    Checkpoint,
    checkpoint_series,
    evict_revision,
    parse_step,
    run_trajectory,
)


def test_parse_step_from_names():
    assert parse_step("step1000") == 1000
    assert parse_step("runs/step-20") == 20
    assert parse_step("global_step300") == 300
    assert parse_step("iter_0001500.pt") == 1500
    assert parse_step("ckpt_7.safetensors") == 7
    assert parse_step("model.0042") == 42
    with pytest.raises(ToposcopeError, match="cannot parse a training step from 'model_final.pt'"):
        parse_step("model_final.pt")


def test_series_from_revisions_folders_and_a_table(tmp_path):
    series = checkpoint_series("hf:EleutherAI/pythia-160m", revisions=["step3000", "step0", "step512"],
                               tokens_per_step=2_097_152)
    assert [c.step for c in series] == [0, 512, 3000]  # by step, not as given
    assert series[2].options == {"revision": "step3000"} and series[2].tokens == 3000 * 2_097_152
    for step in (100, 20, 5, 0):  # folders whose names sort wrongly as text
        (tmp_path / "run" / f"step-{step}").mkdir(parents=True)
    series = checkpoint_series("demo_lm", checkpoints=str(tmp_path / "run" / "step-*"))
    assert [c.step for c in series] == [0, 5, 20, 100] and [c.label for c in series][-1] == "step-100"
    assert series[1].options["checkpoint"].endswith("step-5") and series[1].tokens is None
    (tmp_path / "run" / "steps.csv").write_text("step,tokens,checkpoint\n0,0,step-0\n5,640,step-5\n100,12800,step-100\n")
    series = checkpoint_series("demo_lm", checkpoints=tmp_path / "run" / "steps.csv")
    assert [(c.step, c.tokens) for c in series] == [(0, 0), (5, 640), (100, 12800)]
    assert Path(series[2].options["checkpoint"]) == tmp_path / "run" / "step-100"


def test_series_bad_input(tmp_path):
    with pytest.raises(ToposcopeError, match="one of them"):
        checkpoint_series("demo_lm")
    with pytest.raises(ToposcopeError, match="match no file"):
        checkpoint_series("demo_lm", checkpoints=str(tmp_path / "nothing-*"))
    with pytest.raises(ToposcopeError, match="are both step 1000"):
        checkpoint_series("hf:x/y", revisions=["step1000", "step-1000"])
    with pytest.raises(ToposcopeError, match="cannot parse a training step from 'main'"):
        checkpoint_series("hf:x/y", revisions=["main"])
    with pytest.raises(ToposcopeError, match="2 steps given for 1 checkpoints"):
        checkpoint_series("hf:x/y", revisions=["main"], steps=[1, 2])
    (tmp_path / "t.csv").write_text("name,path\n")
    with pytest.raises(ToposcopeError, match="needs columns step and checkpoint"):
        checkpoint_series("demo_lm", checkpoints=tmp_path / "t.csv")
    (tmp_path / "u.csv").write_text("step,checkpoint\nlate,a\n")
    with pytest.raises(ToposcopeError, match="step 'late' is not a whole number"):
        checkpoint_series("demo_lm", checkpoints=tmp_path / "u.csv")


class _Planted:
    """Subjects whose planted metric is 10 x step, and a log of what was loaded."""

    def __init__(self):
        self.loaded = []

    def load(self, spec, **options):
        self.loaded.append(options.get("revision") or options.get("checkpoint"))
        step = parse_step(self.loaded[-1])
        return type("S", (), {"identity": f"sha-{step}", "value": 10.0 * step})()


def _metric(subject):
    return xr.DataArray([subject.value, -subject.value], dims="layer", coords={"layer": ["a", "b"]}, name="metric")


def test_runner_stacks_along_step_and_resumes(tmp_path):
    series = checkpoint_series("hf:org/model", revisions=["step100", "step0", "step20"], tokens_per_step=4)
    planted = _Planted()
    out = run_trajectory(series, {"m": _metric}, output_dir=tmp_path / "out", load=planted.load)["m"]
    assert out["step"].values.tolist() == [0, 20, 100]
    np.testing.assert_array_equal(out["metric"].sel(layer="a").values, [0.0, 200.0, 1000.0])
    assert out["tokens"].values.tolist() == [0, 80, 400]
    assert out["checkpoint_sha256"].values.tolist() == ["sha-0", "sha-20", "sha-100"]
    assert planted.loaded == ["step0", "step20", "step100"]  # one at a time, in step order
    # A second run reads every step back and loads nothing.
    again = _Planted()
    second = run_trajectory(series, {"m": _metric}, output_dir=tmp_path / "out", load=again.load)["m"]
    assert again.loaded == [] and second["metric"].equals(out["metric"])
    # A lost step is the only one computed again.
    (tmp_path / "out" / "m" / "step-000000020.nc").unlink()
    third = _Planted()
    run_trajectory(series, {"m": _metric}, output_dir=tmp_path / "out", load=third.load)
    assert third.loaded == ["step20"]
    with pytest.raises(ToposcopeError, match="no analyses"):
        run_trajectory(series, {}, load=planted.load)


def _fake_hub_cache(root: Path, repo: str, revisions: dict[str, str]) -> Path:
    """A Hugging Face hub cache holding one snapshot per revision (refs -> commit -> files -> blobs)."""
    folder = root / f"models--{repo.replace('/', '--')}"
    for i, (ref, commit) in enumerate(revisions.items()):
        blob = folder / "blobs" / f"{i:064x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(b"x" * (1000 + i))
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / ref).write_text(commit)
        snapshot = folder / "snapshots" / commit
        snapshot.mkdir(parents=True)
        (snapshot / "model.safetensors").symlink_to(blob)
    return folder


def test_evict_revision_from_the_hub_cache(tmp_path):
    commits = {"step0": "a" * 40, "step1000": "b" * 40}
    folder = _fake_hub_cache(tmp_path / "hub", "EleutherAI/pythia-14m", commits)
    freed = evict_revision("hf:EleutherAI/pythia-14m", "step1000", cache_dir=tmp_path / "hub")
    assert freed == 1001
    assert not (folder / "snapshots" / commits["step1000"]).exists()
    assert (folder / "snapshots" / commits["step0"] / "model.safetensors").read_bytes() == b"x" * 1000
    assert evict_revision("hf:EleutherAI/pythia-14m", "step9", cache_dir=tmp_path / "hub") == 0


def test_runner_evicts_hub_revisions_after_use(tmp_path, monkeypatch):
    evicted = []
    monkeypatch.setattr("toposcope.workflows.trajectory.evict_revision",
                        lambda spec, revision, cache_dir=None: evicted.append((spec, revision)) or 0)
    series = checkpoint_series("hf:org/model", revisions=["step1", "step2"])
    run_trajectory(series, {"m": _metric}, evict=True, load=_Planted().load)
    assert evicted == [("hf:org/model", "step1"), ("hf:org/model", "step2")]
    local = [Checkpoint(3, "demo_lm", {"checkpoint": "step-3"})]
    run_trajectory(local, {"m": _metric}, evict=True, load=_Planted().load)
    assert len(evicted) == 2  # local files are never deleted


# --------------------------------------------------------------------------- real checkpoints of the demo LM
@pytest.fixture(scope="module")
def demo_series(tmp_path_factory):
    """The demo LM untrained (its training script's seed and architecture) and trained: steps 0 and 600."""
    import shutil

    import torch

    from toposcope.models.demo_lm import build_model, data_dir, demo_lm_metadata

    root = tmp_path_factory.mktemp("series")
    settings = demo_lm_metadata()["settings"]
    torch.manual_seed(settings["seed"])
    untrained = build_model(demo_lm_metadata()["architecture"]["vocab_size"])
    untrained.save_pretrained(root / "step-0")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(data_dir() / name, root / "step-0" / name)
    shutil.copytree(data_dir(), root / f"step-{settings['steps']}")
    words = settings["batch_size"] * settings["sequence_words"]
    (root / "steps.csv").write_text(f"step,tokens,checkpoint\n0,0,step-0\n{settings['steps']},"
                                    f"{settings['steps'] * words},step-{settings['steps']}\n")
    return root


def test_demo_lm_trajectory_of_topoloss_and_competence(demo_series, tmp_path):
    from toposcope.stimuli.minimal_pairs import grammar_pairs
    from toposcope.workflows.competence import score_pairs
    from toposcope.workflows.topoloss import layer_topoloss

    series = checkpoint_series("demo_lm", checkpoints=demo_series / "steps.csv")
    pairs = grammar_pairs(40)
    out = run_trajectory(series, {"topoloss": layer_topoloss,
                                  "competence": lambda s: score_pairs(s, pairs, batch_size=120)},
                         output_dir=tmp_path / "traj")
    topoloss, competence = out["topoloss"], out["competence"]
    assert topoloss["step"].values.tolist() == [0, 600] and competence["tokens"].values.tolist() == [0, 600 * 2048]
    # Training with TopoLoss smooths every layer's weights; agreement goes from chance to learned.
    assert (topoloss["topoloss"].sel(step=0) > 0.5).all() and (topoloss["topoloss"].sel(step=600) < 0.05).all()
    accuracy = competence["accuracy"]
    assert (accuracy.sel(step=0) < 0.65).all()
    assert float(accuracy.sel(step=600, phenomenon="subject_verb_agreement")) > 0.95
    assert competence["checkpoint_sha256"].values[0] != competence["checkpoint_sha256"].values[1]


def test_recipe_trajectory_and_figure(demo_series, tmp_path, monkeypatch):
    import pandas as pd

    from toposcope.figures import build_figures
    from toposcope.recipes.runner import run_recipe
    from toposcope.recipes.schema import load_recipe
    from toposcope.stimuli.minimal_pairs import grammar_pairs, write_blimp

    monkeypatch.chdir(tmp_path)
    write_blimp(grammar_pairs(15), tmp_path / "blimp")
    recipe = tmp_path / "traj.toml"
    recipe.write_text(f'[recipe]\nname = "traj"\nfigures = ["trajectory_metrics"]\n'
                      f'[[models]]\nspec = "demo_lm"\nname = "demo"\ncheckpoints = "{demo_series / "steps.csv"}"\n'
                      '[[analyses]]\nkind = "topoloss"\n[[analyses]]\nkind = "competence"\npairs = "blimp"\n')
    parsed = load_recipe(recipe)
    assert [m["name"] for m in parsed.models] == ["demo-step0", "demo-step600"]
    assert parsed.models[1]["extra"] == {"trajectory": "demo", "step": 600, "tokens": 600 * 2048}
    run_recipe(recipe, tmp_path / "out", cache=False, progress=False, figures=False)
    with xr.open_dataset(tmp_path / "out" / "results" / "competence" / "demo-step600.nc", engine="h5netcdf") as data:
        assert data.attrs["trajectory"] == "demo" and int(data.attrs["step"]) == 600
    written = build_figures(tmp_path / "out")
    assert {p.name for p in written} == {"trajectory_metrics.png", "trajectory_metrics.pdf", "trajectory_metrics.csv"}
    table = pd.read_csv(tmp_path / "out" / "figures" / "paper" / "trajectory_metrics.csv")
    assert set(table["kind"]) == {"topoloss", "competence"}
    acc = table[table["kind"] == "competence"].set_index("step")["value"]
    assert acc[0] < acc[600]
    loss = table[(table["kind"] == "topoloss") & (table["layer"] == "h.0.mlp.c_fc")].set_index("step")
    assert loss.loc[0, "value"] > loss.loc[600, "value"]


def test_recipe_revisions_expand_without_loading():
    from toposcope.recipes.schema import parse_recipe

    recipe = parse_recipe({"models": [{"spec": "hf:EleutherAI/pythia-160m", "name": "pythia-160m",
                                       "revisions": ["step143000", "step0", "step1000"], "tokens_per_step": 2097152}],
                           "analyses": [{"kind": "competence", "pairs": "grammar"}]})
    assert [m["name"] for m in recipe.models] == ["pythia-160m-step0", "pythia-160m-step1000", "pythia-160m-step143000"]
    assert recipe.models[1]["options"] == {"revision": "step1000"}
    assert recipe.models[2]["extra"]["tokens"] == 143000 * 2097152
    with pytest.raises(ToposcopeError, match=r"\[\[models\]\] #1: cannot parse a training step from 'main'"):
        parse_recipe({"models": [{"spec": "hf:x/y", "revisions": ["main"]}], "analyses": [{"kind": "topoloss"}]})
    with pytest.raises(ToposcopeError, match="tokens_per_step must be a positive integer"):
        parse_recipe({"models": [{"spec": "hf:x/y", "revisions": ["step1"], "tokens_per_step": 0}],
                      "analyses": [{"kind": "topoloss"}]})


# --------------------------------------------------------------------------- figures from planted result files
PLANTED_STEPS = (0, 1, 16, 1000, 143000)
PLANTED_SIZES = {"pythia-70m": 0.7, "pythia-14m": 0.4, "pythia-1b": 1.0}  # name -> planted gain (bigger learns more)
BENCHMARKS = {"pereira2018": "Pereira2018.243sentences-linear-shuffle", "blank2014": "Blank2014-linear-shuffle"}


def _progress(step: int) -> float:
    return float(np.log1p(step) / np.log1p(max(PLANTED_STEPS)))


def planted_accuracy(size: str, step: int) -> float:
    return 0.5 + 0.45 * PLANTED_SIZES[size] * _progress(step)


def planted_brain_score(benchmark: str, size: str, step: int) -> float:
    # Rises then falls a little late in training (alignment saturates before competence does).
    offset = 0.1 if benchmark == "pereira2018" else 0.05
    return offset + 0.3 * PLANTED_SIZES[size] * np.sin(2.2 * _progress(step))


def planted_topoloss(size: str, step: int, layer: int) -> float:
    return (1.0 + layer) * (1.0 - 0.8 * _progress(step) * PLANTED_SIZES[size])


def plant_trajectory_run(out: Path, sizes=tuple(PLANTED_SIZES), steps=PLANTED_STEPS, brainscore=True) -> Path:
    """A ``toposcope run`` folder laid out as the runner writes it: results/ANALYSIS/NAME-stepN.nc, attrs included."""
    import json

    from toposcope.io import provenance, write_netcdf

    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps({"name": "planted", "sha256": "0" * 64}))
    phenomena = ["agreement", "npi"]
    for size in sizes:
        for step in steps:
            model = f"{size}-step{step}"
            extra = {"trajectory": size, "step": step, "tokens": step * 2097152}

            def write(result, analysis, kind, model=model, size=size, extra=extra, **attrs):
                write_netcdf(result, out / "results" / analysis / f"{model}.nc",
                             provenance(model=f"hf:EleutherAI/{size}", recipe_model=model, analysis=analysis,
                                        kind=kind, task_sha256="x", **attrs, **extra))

            accuracy = planted_accuracy(size, step)
            write(xr.Dataset({"accuracy": ("phenomenon", [accuracy - 0.01, accuracy + 0.01]),
                              "accuracy_overall": ((), accuracy)}, coords={"phenomenon": phenomena}),
                  "syntaxgym", "competence")
            layers = ["layers.0.mlp.dense_h_to_4h", "layers.1.mlp.dense_h_to_4h"]
            write(xr.Dataset({"topoloss": ("layer", [planted_topoloss(size, step, i) for i in range(2)])},
                             coords={"layer": layers}), "topoloss", "topoloss")
            if brainscore:
                for analysis, benchmark in BENCHMARKS.items():
                    value = planted_brain_score(analysis, size, step)
                    write(xr.Dataset({"score": ((), value), "raw": ((), value * 0.4), "ceiling": ((), 0.4)}),
                          analysis, "brainscore", benchmark=benchmark)
    return out


def test_trajectory_figure_draws_every_metric_per_size(tmp_path):
    from toposcope.figures._run import load_run
    from toposcope.figures.trajectory import metrics_figure

    figure, table = metrics_figure(load_run(plant_trajectory_run(tmp_path / "out")))
    axes = [ax for ax in figure.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in axes]
    # One panel per metric: TopoLoss, accuracy, then each benchmark's brain score (not only the first).
    assert titles == ["TopoLoss", "minimal-pair accuracy", "brain score: Blank2014-linear-shuffle",
                      "brain score: Pereira2018.243sentences-linear-shuffle"]
    sizes = ["pythia-14m", "pythia-70m", "pythia-1b"]  # by size, not by name
    for ax, analysis in zip(axes[2:], ("blank2014", "pereira2018")):
        assert ax.get_xscale() == "symlog" and "linear 0-1" in ax.get_xlabel()
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert [t.get_text() for t in ax.get_legend().get_texts()] == sizes
        for size in sizes:
            assert lines[size].get_xdata().tolist() == list(PLANTED_STEPS)
            np.testing.assert_allclose(lines[size].get_ydata(),
                                       [planted_brain_score(analysis, size, s) for s in PLANTED_STEPS])
    # A layered metric across sizes: each size's mean over layers, its layers thin behind it.
    lines = axes[0].get_lines()
    thick = {line.get_label(): line for line in lines if not line.get_label().startswith("_")}
    assert set(thick) == {*sizes, "single layers"} and len(lines) == 3 + 3 * 2 + 1
    np.testing.assert_allclose(thick["pythia-1b"].get_ydata(),
                               [np.mean([planted_topoloss("pythia-1b", s, i) for i in range(2)]) for s in PLANTED_STEPS])
    assert set(table["metric"]) == set(titles) and len(table) == 3 * 5 * (2 + 1 + 2)
    row = table[(table["analysis"] == "pereira2018") & (table["model"] == "pythia-70m-step16")]
    assert row["value"].item() == pytest.approx(planted_brain_score("pereira2018", "pythia-70m", 16))
    assert row["tokens"].item() == 16 * 2097152


def test_trajectory_figure_single_size_draws_layers(tmp_path):
    from toposcope.figures._run import load_run
    from toposcope.figures.trajectory import metrics_figure

    figure, _ = metrics_figure(load_run(plant_trajectory_run(tmp_path / "out", sizes=("pythia-70m",))))
    topoloss = figure.axes[0]
    assert [line.get_label() for line in topoloss.get_lines()] == ["layers.0.mlp.dense_h_to_4h",
                                                                   "layers.1.mlp.dense_h_to_4h"]
    np.testing.assert_allclose(topoloss.get_lines()[1].get_ydata(),
                               [planted_topoloss("pythia-70m", s, 1) for s in PLANTED_STEPS])


def test_alignment_competence_scatter(tmp_path):
    import matplotlib
    from matplotlib.collections import PathCollection

    from toposcope.figures import build_figures
    from toposcope.figures._run import load_run
    from toposcope.figures.trajectory import alignment_figure, size_key

    out = plant_trajectory_run(tmp_path / "out")
    figure, table = alignment_figure(load_run(out))
    figure.draw_without_rendering()  # face colours are mapped from the step values at draw time
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == list(reversed(BENCHMARKS.values()))  # one per benchmark, by name
    assert len(figure.axes) == len(panels) + 1 and figure.axes[-1].get_ylabel() == "training step"  # the colour bar
    sizes = sorted(PLANTED_SIZES, key=size_key)
    for ax, analysis in zip(panels, ("blank2014", "pereira2018")):
        assert ax.get_xlabel() == "minimal-pair accuracy (syntaxgym)" and ax.get_ylabel() == "brain score"
        scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert [c.get_label() for c in scatters] == sizes  # one marker set per model size
        assert len({c.get_paths()[0].vertices.tobytes() for c in scatters}) == 3  # distinct markers
        for size, points in zip(sizes, scatters):
            expected = [(planted_accuracy(size, s), planted_brain_score(analysis, size, s)) for s in PLANTED_STEPS]
            np.testing.assert_allclose(points.get_offsets(), expected)
            # Colour rises strictly with step, step 0 included, on one scale shared by every panel and size.
            norm = points.norm
            assert norm is scatters[0].norm and norm.vmin == 0 and norm.vmax == max(PLANTED_STEPS)
            position = norm(np.asarray(PLANTED_STEPS, dtype=float))
            assert np.all(np.diff(position) > 0)
            np.testing.assert_allclose(points.get_facecolors(), matplotlib.colormaps["viridis"](position))
    assert len(table) == 2 * 3 * 5 and set(table.columns) >= {"accuracy", "brain_score", "step", "benchmark"}
    written = build_figures(out, figures=["alignment_competence", "trajectory_metrics"])
    assert {p.name for p in written} == {f"{stem}.{ext}" for stem in ("alignment_competence", "trajectory_metrics")
                                         for ext in ("png", "pdf", "csv")}


def test_trajectory_figures_skip_without_their_inputs(tmp_path):
    from toposcope.figures._run import Skip, load_run
    from toposcope.figures.trajectory import alignment_figure, metrics_figure

    no_brain = load_run(plant_trajectory_run(tmp_path / "a", brainscore=False))
    with pytest.raises(Skip, match="needs competence and brainscore results"):
        alignment_figure(no_brain)
    one_step = load_run(plant_trajectory_run(tmp_path / "b", steps=(1000,)))
    with pytest.raises(Skip, match="two or more steps"):
        metrics_figure(one_step)
    with pytest.raises(Skip, match="two or more steps"):
        alignment_figure(one_step)


def test_size_key_orders_model_sizes():
    from toposcope.figures.trajectory import size_key

    names = ["pythia-6.9b", "pythia-160m", "pythia-1.4b", "pythia-14m", "demo", "pythia-1b", "pythia-410m"]
    assert sorted(names, key=size_key) == ["pythia-14m", "pythia-160m", "pythia-410m", "pythia-1b", "pythia-1.4b",
                                           "pythia-6.9b", "demo"]
