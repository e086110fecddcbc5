"""TDANN paper figures: the shipped recipes run end to end on synthetic TDANN seeds, and planted answers.

The end-to-end tests write two TDANN checkpoints in the released VISSL format (random
ResNet-18 weights, two "seeds") with a layer4.1 position file, run the shipped
``tdann_floc`` and ``tdann_smoothness`` recipes on a few real fLOC images, and build
the figures. The planted tests write result files by hand, so the right figure is known.
The analyses behind the figure (kernel smoothing and patches, domain labels, category
smoothness) are tested on their own in test_patches.py, test_selectivity.py and
test_smoothness.py.
"""

from __future__ import annotations

import json
import shutil

try:  # Python 3.11+; tomli is the same parser for 3.10
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import xarray as xr
from _position_writers import tdann_layer
from conftest import ROOT, shared_path

from toposcope._validation import ToposcopeError
from toposcope.figures import load_run, tdann
from toposcope.figures._run import Skip
from toposcope.io import write_netcdf
from toposcope.recipes import run_recipe
from toposcope.recipes.schema import load_recipe, parse_recipe

RECIPES = ROOT / "toposcope" / "data" / "recipes"
DOMAINS = ["faces", "bodies", "characters", "places", "objects"]
CATEGORIES = ["adult", "child", "body", "limb", "corridor", "house", "word", "number", "car", "instrument"]
PER_CATEGORY = 2
SEEDS = ("seed0", "seed1")


# ----------------------------------------------------------------------------- end to end
def _vissl_checkpoint(path, seed):
    """A TDANN VISSL checkpoint: the trunk under classy_state_dict/base_model/model/trunk."""
    torch.manual_seed(seed)
    weights = torchvision.models.resnet18(weights=None).state_dict()
    trunk = {f"base_model.{k}": v for k, v in weights.items()}
    content = {"phase_idx": 199, "type": "checkpoint",
               "classy_state_dict": {"base_model": {"model": {"trunk": trunk, "heads": {}}}}}
    torch.save(content, path)


@pytest.fixture(scope="module")
def tdann_files(tmp_path_factory):
    """Two seeds' checkpoints, a layer4.1 position file (10 mm sheet, x 7 = 70 mm), a few fLOC images."""
    source = shared_path("stimuli", "floc")
    root = tmp_path_factory.mktemp("tdann-seeds")
    for category in CATEGORIES:
        (root / "floc" / category).mkdir(parents=True)
        for n in range(1, PER_CATEGORY + 1):
            shutil.copy(source / category / f"{category}-{n}.jpg", root / "floc" / category)
    (root / "checkpoints").mkdir()
    for k, seed in enumerate(SEEDS):
        _vissl_checkpoint(root / "checkpoints" / f"{seed}.torch", seed=k)
    coords = tdann_layer(root / "positions", "layer4.1", (512, 7, 7), seed=3, suffix=".npz")
    (root / "cache").mkdir()  # one response cache for both runs: the second extracts nothing
    return root, coords


def _shipped(name, root, layers=None):
    """A shipped recipe with only the paths (and, for speed, the layers) pointed at the test files."""
    data = tomllib.loads((RECIPES / f"{name}.toml").read_text(encoding="utf-8"))
    model = data["models"][0]
    model["checkpoints"] = str(root / "checkpoints" / "*.torch")
    model["options"]["positions"] = str(root / "positions")
    data["stimuli"] = {key: f"floc:{root / 'floc'}" for key in data["stimuli"]}
    if layers is not None:
        for analysis in data["analyses"]:
            analysis["layers"] = layers
    return parse_recipe(data, base_dir=root)


@pytest.fixture(scope="module")
def floc_run(tdann_files, tmp_path_factory):
    root, coords = tdann_files
    out = tmp_path_factory.mktemp("tdann-floc-run")
    run_recipe(_shipped("tdann_floc", root), out, cache=root / "cache", progress=False, figures=False)
    return out, coords


@pytest.fixture(scope="module")
def smoothness_run(tdann_files, tmp_path_factory):
    root, _ = tdann_files
    out = tmp_path_factory.mktemp("tdann-smoothness-run")
    run_recipe(_shipped("tdann_smoothness", root, layers=["layer4.1"]), out, cache=root / "cache",
               progress=False, figures=False)
    return out


def _result(out, analysis, model):
    with xr.open_dataset(out / "results" / analysis / f"{model}.nc", engine="h5netcdf") as data:
        return data.load()


def test_floc_recipe_end_to_end(floc_run):
    out, coords = floc_run
    models = [f"tdann-resnet18-{seed}" for seed in SEEDS]
    written = tdann.FIGURES["tdann_floc_maps"](load_run(out), out / "figures" / "paper")
    assert [p.name for p in written] == ["tdann_floc_maps.png", "tdann_floc_maps.pdf", "tdann_floc_maps.nc"]
    with xr.open_dataset(written[-1], engine="h5netcdf") as data:
        data = data.load()
    assert list(data["contrast"].values) == DOMAINS and list(data["model"].values) == models
    # Both checkpoints are seeds of one configuration: same spec and options but the file.
    assert set(data["group"].values) == {"tdann/resnet18"}
    for i, model in enumerate(models):
        result = _result(out, "selectivity", model)["t"]
        assert result.sizes["unit"] == 512 * 7 * 7
        np.testing.assert_array_equal(data[f"t_{i}"].values, result.sel(contrast=DOMAINS).values)
        # Positions: the released file's mm coordinates times TDANN's layer4.1 factor of 7.
        np.testing.assert_allclose(data[f"x_{i}"].values, coords[:, 0] * 7, rtol=1e-6)
        np.testing.assert_allclose(data[f"y_{i}"].values, coords[:, 1] * 7, rtol=1e-6)
        # The domain map, recomputed: largest t wins when above 10.
        t = result.sel(contrast=DOMAINS).values
        expected = np.where(t.max(0) > 10, t.argmax(0), -1)
        np.testing.assert_array_equal(data[f"domain_{i}"].values, expected)
        np.testing.assert_allclose(data["selective_fraction"].values[i], (t > 10).mean(1))
        counts = [len(np.unique(ids[ids > 0])) for ids in data[f"patch_{i}"].values]
        np.testing.assert_array_equal(data["patch_count"].values[i], counts)
    assert not np.allclose(data["t_0"].values, data["t_1"].values)  # two seeds, two networks
    figure = tdann.plot_floc_maps(data)
    gids = [ax.get_gid() for ax in figure.axes if ax.get_gid()]
    assert sorted(g for g in gids if g.startswith("domain:")) == [f"domain:{m}" for m in models]
    assert len([g for g in gids if g.startswith("tmap:")]) == len(models) * len(DOMAINS)
    assert {"patch_count", "patch_area", "smoothness"} <= set(gids)


def test_smoothness_recipe_end_to_end(smoothness_run):
    out = smoothness_run
    models = [f"tdann-resnet18-{seed}" for seed in SEEDS]
    written = tdann.FIGURES["tdann_smoothness"](load_run(out), out / "figures" / "paper")
    assert [p.name for p in written] == ["tdann_smoothness.png", "tdann_smoothness.pdf", "tdann_smoothness.csv",
                                         "tdann_smoothness_scores.csv"]
    curves, scores = pd.read_csv(written[2]), pd.read_csv(written[3])
    results = [_result(out, "smoothness", m).sel(layer="layer4.1") for m in models]
    assert results[0].attrs["mode"] == "sampled" and results[0].sizes["bin"] == 15
    correlation = np.stack([r["correlation"].values for r in results])
    np.testing.assert_allclose(curves["correlation_mean"], correlation.mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(curves["correlation_sd"], correlation.std(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(curves["chance_mean"], np.mean([r["chance"].values for r in results], 0),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(curves["distance"], results[0]["distance"].values)
    assert set(curves["n_seeds"]) == {2} and set(curves["group"]) == {"tdann/resnet18"}
    np.testing.assert_allclose(scores["score_tdann"], [float(r["score_tdann"]) for r in results])
    figure = tdann.plot_smoothness(*tdann.smoothness_data(load_run(out)))
    assert [ax.get_gid() for ax in figure.axes if ax.get_gid()] == ["curve:tdann/resnet18:layer4.1"]
    assert "mm" in figure.axes[0].get_xlabel()


# ----------------------------------------------------------------------------- planted answers
def _run_folder(tmp_path):
    (tmp_path / "recipe.json").write_text(json.dumps({"name": "planted"}))
    return tmp_path


def _provenance(model, kind, spec="tdann/resnet18", options="positions=pos, rescale=True"):
    return {"model": spec, "model_options": f"checkpoint=ckpt/{model}.torch, {options}",
            "recipe_model": model, "analysis": kind, "kind": kind}


def _planted_selectivity(out, model, centre, radius=10.0, n=3000, seed=0, **provenance):
    """t-maps on a 70 mm sheet: faces t = 30 inside a disc, every other |t| < 3."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 70, size=(n, 2))
    t = rng.uniform(-3, 3, size=(len(DOMAINS), n))
    inside = np.hypot(*(xy - centre).T) < radius
    t[0, inside] = 30.0
    data = xr.Dataset({"t": (("contrast", "unit"), t.astype(np.float32))},
                      coords={"contrast": DOMAINS, "x": ("unit", xy[:, 0]), "y": ("unit", xy[:, 1]),
                              "layer": ("unit", np.full(n, "layer4.1"))})
    write_netcdf(data, out / "results" / "selectivity" / f"{model}.nc",
                 _provenance(model, "selectivity", **provenance))
    return xy, inside


def test_planted_face_patch(tmp_path):
    out = _run_folder(tmp_path)
    centres = {"seed0": (20.0, 40.0), "seed1": (50.0, 25.0)}
    planted = {m: _planted_selectivity(out, m, c, seed=k) for k, (m, c) in enumerate(centres.items())}
    data = tdann.floc_maps_data(load_run(out))
    assert list(data["model"].values) == list(centres)
    for i, (model, (xy, inside)) in enumerate(planted.items()):
        # The winner map marks exactly the planted units, as faces (row 0).
        np.testing.assert_array_equal(data[f"domain_{i}"].values, np.where(inside, 0, -1))
        np.testing.assert_array_equal(data["patch_count"].values[i], [1, 0, 0, 0, 0])
        patch = data[f"patch_{i}"].values[0]
        assert (patch[inside] == 1).all()
        # Smoothing (2.4 mm) widens the disc a little, never by more than 3 sigma.
        far = np.hypot(*(xy - centres[model]).T) > 10.0 + 3 * 2.4
        assert not (patch[far] > 0).any()
        assert np.pi * 10**2 < data["patch_area"].values[i, 0] < np.pi * (10 + 3 * 2.4) ** 2
        assert np.isnan(data["patch_area"].values[i, 1:]).all()
        np.testing.assert_allclose(data["selective_fraction"].values[i], [inside.mean(), 0, 0, 0, 0])
        # A disc is a smooth map (|dt| grows with distance); noise is flat.
        smooth = data["smoothness"].values[i]
        assert smooth[0] > 0.4 and (smooth[1:] < 0.1).all(), smooth
    figure = tdann.plot_floc_maps(data)
    assert len([ax for ax in figure.axes if (ax.get_gid() or "").startswith("domain:")]) == 2


def test_floc_maps_group_other_configurations_apart(tmp_path):
    out = _run_folder(tmp_path)
    _planted_selectivity(out, "seed0", (30.0, 30.0), n=500)
    _planted_selectivity(out, "seed1", (30.0, 30.0), n=500, seed=1)
    _planted_selectivity(out, "other", (30.0, 30.0), n=500, seed=2, options="positions=elsewhere, rescale=True")
    run = load_run(out)
    groups = tdann.seed_groups(run, ["seed0", "seed1", "other"])
    assert list(groups.values()) == [["seed0", "seed1"], ["other"]]
    assert list(groups) == ["tdann/resnet18 (positions=pos, rescale=True)",
                            "tdann/resnet18 (positions=elsewhere, rescale=True)"]
    # Rows follow the run's (sorted) models, each group's seeds together.
    data = tdann.floc_maps_data(run)
    assert list(data["model"].values) == ["other", "seed0", "seed1"]
    assert list(data["group"].values) == ["tdann/resnet18 (positions=elsewhere, rescale=True)"] + [
        "tdann/resnet18 (positions=pos, rescale=True)"] * 2


def _planted_smoothness(out, model, correlation, score, distance=None, **provenance):
    n = len(correlation)
    distance = np.arange(n) + 0.5 if distance is None else np.asarray(distance)
    data = xr.Dataset(
        {"correlation": (("layer", "bin"), [correlation]), "chance": (("layer", "bin"), [np.full(n, 0.01)]),
         "sem": (("layer", "bin"), [np.zeros(n)]), "score_tdann": ("layer", [score]),
         "score_toponets": ("layer", [float(np.ptp(correlation))])},
        coords={"layer": ["layer4.1"], "bin": np.arange(n), "distance": (("layer", "bin"), [distance])},
        attrs={"distance_units": "mm"})
    write_netcdf(data, out / "results" / "smoothness" / f"{model}.nc", _provenance(model, "smoothness",
                                                                                    **provenance))


def test_smoothness_mean_and_spread_across_seeds(tmp_path):
    out = _run_folder(tmp_path)
    base = np.array([0.5, 0.3, 0.2, 0.1])
    _planted_smoothness(out, "seed0", base, 0.5)
    _planted_smoothness(out, "seed1", base + 0.2, 0.7)
    _planted_smoothness(out, "toponet", base, 0.4, spec="toponets/resnet18", options="tau=50")
    curves, scores = tdann.smoothness_data(load_run(out))
    tdann_rows = curves[curves["group"] == "tdann/resnet18"]
    np.testing.assert_allclose(tdann_rows["correlation_mean"], base + 0.1)
    np.testing.assert_allclose(tdann_rows["correlation_sd"], np.full(4, 0.1))
    np.testing.assert_allclose(tdann_rows["chance_mean"], np.full(4, 0.01))
    assert set(tdann_rows["n_seeds"]) == {2}
    other = curves[curves["group"] == "toponets/resnet18"]
    np.testing.assert_allclose(other["correlation_sd"], 0.0)
    assert set(other["n_seeds"]) == {1}
    assert curves.attrs["distance_units"] == "mm"
    np.testing.assert_allclose(scores.set_index("model")["score_tdann"], [0.5, 0.7, 0.4])
    figure = tdann.plot_smoothness(curves, scores)
    panel = next(ax for ax in figure.axes if ax.get_gid() == "curve:tdann/resnet18:layer4.1")
    assert "smoothness 0.60 ± 0.10" in [text.get_text() for text in panel.texts]
    assert panel.get_xlabel() == "cortical distance (mm)"
    np.testing.assert_allclose(panel.lines[0].get_ydata(), base + 0.1)


def test_smoothness_seeds_with_other_bins_are_skipped(tmp_path):
    out = _run_folder(tmp_path)
    _planted_smoothness(out, "seed0", np.ones(3) * 0.2, 0.5)
    _planted_smoothness(out, "seed1", np.ones(3) * 0.2, 0.5, distance=[1.0, 2.0, 3.0])
    with pytest.raises(Skip, match="seeds of 'tdann/resnet18' have different distance bins in 'layer4.1'"):
        tdann.smoothness_data(load_run(out))


def test_figures_skip_without_their_inputs(tmp_path):
    out = _run_folder(tmp_path)
    _planted_smoothness(out, "seed0", np.ones(3) * 0.2, 0.5)
    with pytest.raises(Skip, match="needs selectivity results"):
        tdann.FIGURES["tdann_floc_maps"](load_run(out), tmp_path / "figures")
    shutil.rmtree(out / "results" / "smoothness")
    _planted_selectivity(out, "seed0", (30.0, 30.0), n=200)
    with pytest.raises(Skip, match="needs smoothness results"):
        tdann.FIGURES["tdann_smoothness"](load_run(out), tmp_path / "figures")


def test_plot_helpers():
    from matplotlib.figure import Figure

    from toposcope.plot.domains import plot_domain_map, plot_seed_bars

    ax = Figure().add_subplot()
    with pytest.raises(ToposcopeError, match=r"labels must lie in \[-1, 1\]"):
        plot_domain_map(ax, np.zeros(3), np.arange(3.0), np.array([0, 2, -1]), ["r", "b"])
    with pytest.raises(ToposcopeError, match="must be 1-D of one length"):
        plot_domain_map(ax, np.zeros(3), np.arange(2.0), np.array([0, 1, -1]), ["r", "b"])
    with pytest.raises(ToposcopeError, match="expected one per category"):
        plot_seed_bars(ax, {"g": np.ones((2, 3))}, ["a", "b"])
    heights = plot_seed_bars(ax, {"g": np.array([[1.0, np.nan], [3.0, 2.0]])}, ["a", "b"])
    np.testing.assert_allclose(heights["g"], [2.0, 2.0])  # NaN (no patch) left out of the mean
    assert ax.get_ylim()[1] >= 3.0  # the highest seed stays inside the axes


# ----------------------------------------------------------------------------- the recipes
def test_recipes_parse_with_the_papers_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for seed in SEEDS:  # the release's layout: one folder per seed, the same file name in each
        (tmp_path / "tdann" / "checkpoints" / seed).mkdir(parents=True)
        (tmp_path / "tdann" / "checkpoints" / seed / "model_final_checkpoint_phase199.torch").write_bytes(b"")
    floc = load_recipe("tdann_floc")
    assert [m["name"] for m in floc.models] == [f"tdann-resnet18-{s}-model_final_checkpoint_phase199"
                                                 for s in SEEDS]
    assert [a["kind"] for a in floc.analyses] == ["selectivity"]
    assert floc.analyses[0]["contrasts"] == DOMAINS and floc.analyses[0]["layers"] == ["layer4.1"]
    smooth = load_recipe("tdann_smoothness")
    (analysis,) = smooth.analyses
    assert (analysis["kind"], analysis["mode"], analysis["bins"]) == ("smoothness", "sampled", 15)
    assert len(analysis["layers"]) == 8 and smooth.models[0]["options"]["rescale"] is True
    fig3 = load_recipe("toponets_fig3")
    assert [m["options"]["tau"] for m in fig3.models] == [0.5, 1, 5, 10, 20, 50, 30, 10, 0]
    assert sorted(a["kind"] for a in fig3.analyses) == ["dimensionality", "efficiency", "smoothness"]
    fig4 = load_recipe("toponets_fig4")
    (efficiency,) = fig4.analyses
    assert efficiency["prune"] == [0.0, 0.2, 0.5, 0.8] and efficiency["downsample_factors"] == [2, 4]
    assert all(name.endswith(".conv1") for name in efficiency["downsample_layers"])
    fig5a = load_recipe("toponets_fig5a")
    assert [m["name"] for m in fig5a.models] == ["toponets-resnet18-tau50", "toponets-resnet18-tau0.5",
                                                 "untrained"]
    assert [a["contrasts"] for a in fig5a.analyses] == [["faces", "bodies", "places"],
                                                         ["small_vs_big", "animate_vs_inanimate"]]
