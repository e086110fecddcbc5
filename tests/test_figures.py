"""``toposcope figures OUT``: the papers' figures built from a recipe run's results."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.cli import main
from toposcope.figures import build_figures, is_baseline
from toposcope.figures.toponets import FIGURES as TOPONETS


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo recipe run once into a temporary folder, then its figures built."""
    out = tmp_path_factory.mktemp("demo-run")
    assert main(["run", "demo", "-o", str(out), "--quiet", "--no-figures"]) == 0
    skipped = []
    written = build_figures(out, on_skip=skipped.append)
    return out, written, skipped


def _result(out, analysis, model):
    with xr.open_dataset(out / "results" / analysis / f"{model}.nc", engine="h5netcdf") as data:
        return data.load()


def test_every_figure_is_png_pdf_and_data(demo_run):
    out, written, skipped = demo_run
    folder = out / "figures" / "paper"
    for stem in ("fig2_smoothness_performance", "fig4_efficiency", "smoothness_curves", "fig5a_tmaps"):
        assert (folder / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (folder / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert any(p.stem == stem and p.suffix in (".csv", ".nc") for p in written), stem
    assert all(p.is_file() for p in written)
    # Two demo models are too few for Fig. 3's Fisher z: skipped, with the reason.
    # (The TDANN and TopoLM figures need other analyses: skipped too, checked in their own tests.)
    toponets = [s for s in skipped if s.split(":")[0] in TOPONETS]
    assert len(toponets) == 1 and toponets[0].startswith("fig3_dimensionality:")
    assert ">= 4 topographic models" in toponets[0]
    assert not list(folder.glob(".*.tmp"))


def test_fig2_data_equals_the_results(demo_run):
    out, _, _ = demo_run
    table = pd.read_csv(out / "figures" / "paper" / "fig2_smoothness_performance.csv").set_index("model")
    assert sorted(table.index) == ["demo-baseline", "demo-topo"]
    for model in table.index:
        smooth = float(_result(out, "smoothness", model)["score_toponets"].mean())
        accuracy = float(_result(out, "efficiency", model).attrs["baseline"])
        np.testing.assert_allclose(table.loc[model, "smoothness"], smooth, rtol=1e-12)
        np.testing.assert_allclose(table.loc[model, "performance"], accuracy, rtol=1e-12)
    assert not table.loc["demo-baseline", "topographic"] and table.loc["demo-topo", "topographic"]
    # Pareto membership from first principles: a model is on the front unless the other beats it on both.
    s, p = table["smoothness"], table["performance"]
    for model, other in (("demo-topo", "demo-baseline"), ("demo-baseline", "demo-topo")):
        dominated = s[other] >= s[model] and p[other] >= p[model] and (s[other] > s[model] or p[other] > p[model])
        assert bool(table.loc[model, "pareto_front"]) == (not dominated)
    assert table["pareto_front"].any()


def test_fig4_data_has_the_pruning_fractions(demo_run):
    out, _, _ = demo_run
    table = pd.read_csv(out / "figures" / "paper" / "fig4_efficiency.csv")
    for model in ("demo-topo", "demo-baseline"):
        pruned = table[(table["model"] == model) & (table["curve"] == "pruned")]
        np.testing.assert_allclose(pruned["fraction"], [0.0, 0.5, 0.8, 0.9, 0.95])
        np.testing.assert_allclose(pruned["performance"], _result(out, "efficiency", model)["performance"].values)
        assert (table[table["model"] == model]["curve"] == "downsampled").sum() == 1
    assert set(table.loc[table["model"] == "demo-baseline", "topographic"]) == {False}


def test_curves_and_tmaps_data(demo_run):
    out, _, _ = demo_run
    curves = pd.read_csv(out / "figures" / "paper" / "smoothness_curves.csv")
    topo = _result(out, "smoothness", "demo-topo")
    mine = curves[(curves["model"] == "demo-topo") & (curves["layer"] == "fc1")]
    np.testing.assert_allclose(mine["correlation"], topo["correlation"].sel(layer="fc1").values, equal_nan=True)
    with xr.open_dataset(out / "figures" / "paper" / "fig5a_tmaps.nc", engine="h5netcdf") as maps:
        # Every digit category the stimulus set has, none dropped for width.
        assert maps["contrast"].values.tolist() == [f"digit-{d}" for d in range(10)]
        assert {maps[v].attrs["layer"] for v in ("t_0", "t_1")} == {"fc1"}


def _planted_run(folder, n_models=5):
    """A run folder with smoothness, dimensionality and a recorded performance for ``n_models``."""
    from toposcope.io import write_netcdf

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.json").write_text(json.dumps({"name": "planted"}))
    rng = np.random.default_rng(0)
    for i in range(n_models):
        attrs = {"recipe_model": f"m{i}", "model_options": f"tau={i}", "performance": 0.5 + 0.1 * i}
        smooth = xr.Dataset({"score_toponets": ("layer", [0.1 * i, 0.1 * i + 0.2])}, coords={"layer": ["a", "b"]})
        ed = xr.Dataset({"effective_dimensionality": ("layer", [2.0 * i + rng.normal(), 3.0])},
                        coords={"layer": ["a", "b"]})
        write_netcdf(smooth, folder / "results" / "smoothness" / f"m{i}.nc", {**attrs, "kind": "smoothness"})
        write_netcdf(ed, folder / "results" / "dimensionality" / f"m{i}.nc", {**attrs, "kind": "dimensionality"})
    return folder


def test_fig3_on_planted_models(tmp_path):
    from toposcope.analysis.stats import compare_dimensionality

    out = _planted_run(tmp_path / "run")
    skipped = []
    written = build_figures(out, on_skip=skipped.append)
    names = {p.name for p in written}
    assert {"fig3_dimensionality.png", "fig3_dimensionality.pdf", "fig3_dimensionality.csv"} <= names
    # Without efficiency results the recorded performance attr feeds Fig. 2; the rest lack inputs.
    assert "fig2_smoothness_performance.csv" in names
    assert sorted(s.split(":")[0] for s in skipped if s.split(":")[0] in TOPONETS) == [
        "fig4_efficiency", "fig5a_tmaps", "smoothness_curves"]
    table = pd.read_csv(out / "figures" / "paper" / "fig3_dimensionality.csv")
    np.testing.assert_allclose(table["performance"], [0.5, 0.6, 0.7, 0.8, 0.9])
    stats = pd.read_csv(out / "figures" / "paper" / "fig3_dimensionality_stats.csv").set_index("x")
    # r and Fisher z over the four topographic models; m0 (tau = 0) is drawn but not counted.
    assert table["topographic"].tolist() == [False, True, True, True, True]
    counted = table[table["topographic"]]
    expected = compare_dimensionality(counted["effective_dimensionality"], counted["smoothness"],
                                      counted["performance"])
    np.testing.assert_allclose(stats.loc["smoothness", "r"], expected["r_smoothness"])
    np.testing.assert_allclose(stats.iloc[2][["r", "p"]].astype(float), [expected["z"], expected["p"]])
    # tau = 0 marks m0 as the baseline on Fig. 2.
    fig2 = pd.read_csv(out / "figures" / "paper" / "fig2_smoothness_performance.csv").set_index("model")
    assert not fig2.loc["m0", "topographic"] and fig2.loc[["m1", "m2", "m3", "m4"], "topographic"].all()
    assert fig2["pareto_front"].tolist() == [False, False, False, False, True]


@pytest.mark.parametrize(("name", "attrs", "expected"), [
    ("toponets-tau0", {"model_options": "tau=0"}, True),
    ("toponets-tau5", {"model_options": "pool=mean, tau=5.0"}, False),
    ("net", {"model_options": "topographic=False"}, True),
    ("demo-baseline", {}, True),
    ("x", {"model": "demo/baseline"}, True),
    ("demo-topo", {"model_options": "pool=mean"}, False),
    ("untrained", {"model_options": "checkpoint=none, layout=channel"}, True),
    ("seed0", {"model_options": "checkpoint=/ckpt/seed0/final.torch"}, False),
])
def test_is_baseline(name, attrs, expected):
    assert is_baseline(name, attrs) is expected


def test_not_a_run_folder_is_one_line_error(tmp_path, capsys):
    (tmp_path / "something.txt").write_text("x")
    with pytest.raises(ToposcopeError, match="not a toposcope run output.*recipe.json"):
        build_figures(tmp_path)
    assert main(["figures", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("toposcope figures: error:") and "\n" not in error
    assert not (tmp_path / "figures").exists()


def test_run_without_results_is_an_error(tmp_path):
    (tmp_path / "recipe.json").write_text("{}")
    with pytest.raises(ToposcopeError, match="holds no results"):
        build_figures(tmp_path)


def test_only_builds_the_named_figures(demo_run, tmp_path, capsys):
    out, _, _ = demo_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("figures"))
    assert main(["figures", str(copy), "--only", "fig4_efficiency"]) == 0
    assert sorted(p.name for p in (copy / "figures" / "paper").iterdir()) == [
        "fig4_efficiency.csv", "fig4_efficiency.pdf", "fig4_efficiency.png"]
    capsys.readouterr()
    assert main(["figures", str(copy), "--only", "fig4"]) == 2
    error = capsys.readouterr().err.strip()
    assert "unknown figure 'fig4'" in error and "fig4_efficiency" in error and "\n" not in error


def test_fig5a_merges_floc_and_konkle_analyses(tmp_path):
    """Fig. 5A's columns come from two selectivity analyses (fLOC, Konkle) of the same units."""
    from toposcope.io import write_netcdf

    out = tmp_path / "run"
    (out).mkdir()
    (out / "recipe.json").write_text(json.dumps({"name": "fig5a"}))
    units = {"x": ("unit", np.tile(np.arange(4.0), 4)), "y": ("unit", np.repeat(np.arange(4.0), 4)),
             "layer": ("unit", ["layer3.1.conv2"] * 16)}
    faces = np.arange(16.0) - 8
    size = np.where(np.arange(16) < 8, 5.0, -5.0)
    for analysis, contrasts, values in (("selectivity", ["faces", "bodies"], [faces, -faces]),
                                        ("selectivity_size_animacy", ["small_vs_big", "faces"], [size, 0 * faces])):
        data = xr.Dataset({"t": (("contrast", "unit"), np.stack(values))}, coords={"contrast": contrasts, **units})
        write_netcdf(data, out / "results" / analysis / "m.nc",
                     {"recipe_model": "m", "analysis": analysis, "kind": "selectivity"})
    written = build_figures(out, figures=["fig5a_tmaps"])
    assert {p.name for p in written} == {"fig5a_tmaps.png", "fig5a_tmaps.pdf", "fig5a_tmaps.nc"}
    with xr.open_dataset(out / "figures" / "paper" / "fig5a_tmaps.nc", engine="h5netcdf") as maps:
        assert maps["contrast"].values.tolist() == ["faces", "bodies", "small_vs_big"]
        # faces from the first analysis (by name), size from the second, each unit in place
        np.testing.assert_array_equal(maps["t_0"].values, np.stack([faces, -faces, size]))


# ----------------------------------------------------------------------------- paper styling, Figs. 2 and 3
PAPER_MODELS = [  # spec, tau, smoothness, performance, ED (shaped like the published panels)
    ("toponets/resnet18", 0, .18, .70, 29.0), ("toponets/resnet18", 0.5, .30, .69, 26.5),
    ("toponets/resnet18", 5, .70, .66, 19.0), ("toponets/resnet18", 20, .92, .62, 15.0),
    ("toponets/resnet18", 50, .97, .59, 12.4), ("toponets/vit_b_32", 0, .25, .68, 45.0),
    ("toponets/vit_b_32", 10, .84, .655, 24.0), ("toponets/nanogpt", 0, .20, .78, 41.0),
    ("toponets/nanogpt", 0.5, .67, .76, 25.5), ("toponets/nanogpt", 1, .85, .75, 19.7),
    ("toponets/nanogpt", 3, .95, .74, 15.0), ("toponets/nanogpt", 50, 1.1, .72, 11.0),
]


def _paper_run(folder):
    from toposcope.io import write_netcdf

    folder.mkdir(parents=True)
    (folder / "recipe.json").write_text(json.dumps({"name": "paper"}))
    for spec, tau, smooth, perf, ed in PAPER_MODELS:
        name = f"{spec.split('/')[1]}-tau{tau}"
        attrs = {"recipe_model": name, "model": spec, "model_options": f"tau={tau}", "performance": perf}
        write_netcdf(xr.Dataset({"score_toponets": ("layer", [smooth, smooth])}, coords={"layer": ["a", "b"]}),
                     folder / "results" / "smoothness" / f"{name}.nc", {**attrs, "kind": "smoothness"})
        write_netcdf(xr.Dataset({"effective_dimensionality": ("layer", [ed, ed])}, coords={"layer": ["a", "b"]}),
                     folder / "results" / "dimensionality" / f"{name}.nc", {**attrs, "kind": "dimensionality"})
    return folder


def test_models_are_styled_as_in_the_paper(tmp_path):
    from matplotlib.colors import to_rgb

    from toposcope.figures import load_run
    from toposcope.figures._style import model_styles

    styles = model_styles(load_run(_paper_run(tmp_path / "run")))
    assert {s.family for s in styles.values()} == {"ResNet-18", "ViT-b32", "NanoGPT"}
    assert styles["nanogpt-tau3"].modality == "language" and styles["resnet18-tau5"].modality == "vision"
    # Hue per architecture (ResNet-18 and NanoGPT red, ViT green), darker with larger tau.
    def rgb(model):
        return np.array(to_rgb(styles[model].color))
    for model in ("resnet18-tau5", "nanogpt-tau1"):
        r, g, b = rgb(model)
        assert r > g and r > b
    r, g, b = rgb("vit_b_32-tau10")
    assert g > r and g > b
    brightness = [rgb(f"resnet18-tau{t}").sum() for t in (0.5, 5, 20, 50)]
    assert brightness == sorted(brightness, reverse=True)
    # Baselines are hollow and named by architecture; topographic points by tau.
    assert not styles["resnet18-tau0"].topographic and styles["resnet18-tau0"].label == "ResNet-18 (baseline)"
    assert styles["resnet18-tau50"].label == "\u03c4 = 50" and styles["resnet18-tau50"].tau == 50.0


def test_fig2_and_fig3_split_vision_and_language(tmp_path):
    from toposcope.analysis.stats import compare_dimensionality, pareto_front

    out = _paper_run(tmp_path / "run")
    build_figures(out, figures=["fig2_smoothness_performance", "fig3_dimensionality"])
    folder = out / "figures" / "paper"
    fig2 = pd.read_csv(folder / "fig2_smoothness_performance.csv")
    assert set(fig2["modality"]) == {"vision", "language"}
    for modality, part in fig2.groupby("modality"):  # the front is taken within each panel
        expected = set(part["model"].iloc[pareto_front(part["smoothness"], part["performance"])])
        assert set(part.loc[part["pareto_front"], "model"]) == expected
    stats = pd.read_csv(folder / "fig3_dimensionality_stats.csv")
    table = pd.read_csv(folder / "fig3_dimensionality.csv")
    for modality in ("vision", "language"):
        counted = table[(table["modality"] == modality) & table["topographic"]]
        assert len(counted) == {"vision": 5, "language": 4}[modality]
        expected = compare_dimensionality(counted["effective_dimensionality"], counted["smoothness"],
                                          counted["performance"])
        rows = stats[stats["modality"] == modality].set_index("x")
        np.testing.assert_allclose(rows.loc["smoothness", "r"], expected["r_smoothness"])
        np.testing.assert_allclose(rows.loc["performance", "p"], expected["p_performance"])
        assert set(rows["n"]) == {len(counted)}


def test_emptiest_corner_avoids_the_points():
    from matplotlib.figure import Figure

    from toposcope.plot.models import emptiest_corner

    ax = Figure().subplots()
    # Two points upper left, one upper right, one lower left, none lower right (0.9, 0.5 is mid-height).
    x, y = [0.0, 0.1, 1.0, 0.05, 0.9], [1.0, 0.9, 1.0, 0.0, 0.5]
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    assert emptiest_corner(ax, x, y) == (0.97, 0.03, "right", "bottom")
    # Ties go to the first corner in reading order.
    assert emptiest_corner(ax, [0.5], [0.5]) == (0.03, 0.97, "left", "top")
