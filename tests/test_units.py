"""TopoLM's unit-level tools: seed-grown clusters and their profiles, lesions of a unit set against random sets."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from toposcope import load_model
from toposcope._validation import ToposcopeError
from toposcope.analysis.clusters import cluster_profiles, grow_cluster, seed_clusters
from toposcope.stimuli.minimal_pairs import grammar_pairs
from toposcope.surgery.lesion import lesioned, random_like, unit_sets
from toposcope.workflows.competence import sentence_logprobs
from toposcope.workflows.lesion import (
    competence_measure,
    lesion_effect,
    perplexity_measure,
    unit_means,
)


def _sheet_map(grid: np.ndarray, layer: str = "h.0") -> xr.DataArray:
    """A (rows, cols) map as one layer's units, row-major, x = column, y = row."""
    rows, cols = grid.shape
    y, x = np.divmod(np.arange(rows * cols), cols)
    return xr.DataArray(grid.ravel().astype(float), dims="unit",
                        coords={"x": ("unit", x.astype(float)), "y": ("unit", y.astype(float)),
                                "layer": ("unit", np.full(rows * cols, layer))})


def _topolm_grow(seed, t, coordinates, threshold, deltas):
    """TopoLM's grow_cluster, re-derived: candidates are the neighbours, the best joins while >= threshold.

    As its eval/by-cluster.py keeps them, candidates are a set (eval/clustering.py's list may hold a unit
    twice, which changes the run time, not the cluster).
    """
    def neighbours(i):
        near = coordinates[i] + deltas
        return {j for j in range(len(coordinates)) if (coordinates[j] == near).all(-1).any()}

    cluster = {seed}
    candidates = neighbours(seed)
    while candidates:
        best = max(candidates, key=lambda v: t[v])
        if t[best] < threshold:
            break
        cluster.add(best)
        candidates.update(v for v in neighbours(best) if v not in cluster)
        candidates.remove(best)
    return cluster


@pytest.mark.parametrize("connectivity", ["queen", "rook"])
def test_grown_cluster_is_topolms_and_the_connected_region(connectivity):
    from scipy import ndimage

    rng = np.random.default_rng(4)
    grid = ndimage.gaussian_filter(rng.normal(size=(14, 14)), 1.5) * 10
    values = _sheet_map(grid)
    queen = connectivity == "queen"
    deltas = np.array([[dy, dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                       if (dy, dx) != (0, 0) and (queen or dy == 0 or dx == 0)])
    coordinates = np.stack([values["y"].values, values["x"].values], 1).astype(int)
    for threshold in (0.0, 0.5):
        seed = int(np.argmax(grid))
        mine = grow_cluster(values, seed, threshold, connectivity)
        assert set(np.flatnonzero(mine)) == _topolm_grow(seed, values.values, coordinates, threshold, deltas)
        # The same set: the super-threshold region connected to the seed (scipy's labelling as the oracle).
        structure = np.ones((3, 3)) if queen else ndimage.generate_binary_structure(2, 1)
        labels, _ = ndimage.label(grid >= threshold, structure=structure)
        expected = labels.ravel() == labels.ravel()[seed]
        np.testing.assert_array_equal(mine, expected)


def test_seed_clusters_find_the_planted_blobs_largest_seed_first():
    grid = np.zeros((12, 12))
    grid[1:4, 1:5] = 3.0           # 12 units, peak 3.5
    grid[2, 2] = 3.5
    grid[7:11, 6:11] = 2.0         # 20 units, peak 5
    grid[9, 8] = 5.0
    grid[0, 10] = 4.0              # a lone unit: below min_size
    grid[5, 0] = -2.0
    clusters = seed_clusters(_sheet_map(grid), threshold=1.0, min_size=5)
    assert clusters["size"].values.tolist() == [20, 12]
    assert clusters["seed_value"].values.tolist() == [5.0, 3.5]
    first = clusters.isel(cluster=0).values.reshape(12, 12)
    assert first[7:11, 6:11].all() and first.sum() == 20
    assert clusters.attrs["connectivity"] == "queen" and clusters.attrs["min_size"] == 5
    assert seed_clusters(_sheet_map(grid), threshold=1.0, min_size=1).sizes["cluster"] == 3
    assert seed_clusters(_sheet_map(grid), threshold=10.0).sizes["cluster"] == 0
    with pytest.raises(ToposcopeError, match="several layers"):
        seed_clusters(xr.concat([_sheet_map(grid, "a"), _sheet_map(grid, "b")], "unit"), threshold=1.0)
    with pytest.raises(ToposcopeError, match="min_size must be a positive integer"):
        seed_clusters(_sheet_map(grid), threshold=1.0, min_size=0)


def test_cluster_profiles_are_the_mean_absolute_response_per_condition():
    grid = np.zeros((6, 6))
    grid[0:2, 0:2] = 2.0
    grid[4:6, 3:6] = 1.5
    values = _sheet_map(grid)
    clusters = seed_clusters(values, threshold=1.0)
    conditions = np.repeat(["S", "W", "J", "N"], 3)
    level = {"S": 4.0, "W": 3.0, "J": 2.0, "N": -1.0}  # N's sign must not matter: absolute responses
    responses = np.zeros((12, 36))
    inside = clusters.isel(cluster=0).values
    for i, c in enumerate(conditions):
        responses[i, inside] = level[c] + (i % 3 - 1) * 0.5  # spread over stimuli: -0.5, 0, +0.5
    data = xr.DataArray(responses, dims=("stimulus", "unit"), coords={"category": ("stimulus", conditions)})
    profiles = cluster_profiles(data, clusters)
    np.testing.assert_allclose(profiles["profile"].isel(cluster=0).values, [4.0, 3.0, 2.0, 1.0])
    np.testing.assert_allclose(profiles["sem"].isel(cluster=0).values, [0.5 / np.sqrt(3)] * 4)
    np.testing.assert_allclose(profiles["profile"].isel(cluster=1).values, 0.0)
    assert profiles["condition"].values.tolist() == ["S", "W", "J", "N"]
    signed = cluster_profiles(data, clusters, absolute=False)
    assert float(signed["profile"].isel(cluster=0).sel(condition="N")) == pytest.approx(-1.0)
    with pytest.raises(ToposcopeError, match="no stimulus coord 'condition'"):
        cluster_profiles(data, clusters, condition="condition")


# --------------------------------------------------------------------------- lesions
@pytest.fixture(scope="module")
def demo():
    return load_model("demo_lm")


def _weights_lesioned(layer_index: int, units: np.ndarray, means: np.ndarray | None = None):
    """The demo LM with the lesioned units' weights zeroed (and their bias set to the mean): the oracle."""
    import torch

    subject = load_model("demo_lm")
    module = subject.model.get_submodule(f"h.{layer_index}.mlp.c_fc")  # Conv1D: out = x @ W + b, W (in, out)
    with torch.no_grad():
        module.weight[:, units] = 0.0
        module.bias[units] = 0.0 if means is None else torch.as_tensor(means, dtype=module.bias.dtype)
    return subject


def test_zero_and_mean_lesions_equal_editing_the_weights(demo):
    texts = list(grammar_pairs(4, seed=5).good)
    units = np.array([3, 17, 100, 255])
    before = sentence_logprobs(demo, texts)[0]
    with lesioned(demo, {"h.1.mlp.c_fc": units}) as sets:
        zeroed = sentence_logprobs(demo, texts)[0]
    assert sets["h.1.mlp.c_fc"].tolist() == units.tolist()
    np.testing.assert_allclose(zeroed, sentence_logprobs(_weights_lesioned(1, units), texts)[0], atol=1e-5)
    assert np.abs(zeroed - before).max() > 1e-3
    np.testing.assert_array_equal(sentence_logprobs(demo, texts)[0], before)  # hooks gone: the model as it was
    means = unit_means(demo, texts, ["h.1.mlp.c_fc"])
    with lesioned(demo, {"h.1.mlp.c_fc": units}, mode="mean", means=means):
        clamped = sentence_logprobs(demo, texts)[0]
    oracle = _weights_lesioned(1, units, means["h.1.mlp.c_fc"][units])
    np.testing.assert_allclose(clamped, sentence_logprobs(oracle, texts)[0], atol=1e-5)


def test_unit_sets_from_a_localizer_mask_and_bad_masks(demo):
    layers = np.repeat([f"h.{i}.mlp.c_fc" for i in range(4)], 256)
    mask = np.zeros(1024, dtype=bool)
    mask[[5, 300, 301, 1023]] = True
    selective = xr.DataArray(mask, dims="unit", coords={"layer": ("unit", layers)})
    sets = unit_sets(demo, selective)
    assert {k: v.tolist() for k, v in sets.items()} == {"h.0.mlp.c_fc": [5], "h.1.mlp.c_fc": [44, 45],
                                                        "h.3.mlp.c_fc": [255]}
    drawn = random_like(demo, sets, np.random.default_rng(0))
    assert {k: len(v) for k, v in drawn.items()} == {"h.0.mlp.c_fc": 1, "h.1.mlp.c_fc": 2, "h.3.mlp.c_fc": 1}
    with pytest.raises(ToposcopeError, match="unit 256 of layer 'h.0.mlp.c_fc', which has 256 units"):
        unit_sets(demo, {"h.0.mlp.c_fc": [1, 256]})
    with pytest.raises(ToposcopeError, match="names layer 'h.9.mlp.c_fc', which 'demo_lm' lacks"):
        unit_sets(demo, {"h.9.mlp.c_fc": [1]})
    with pytest.raises(ToposcopeError, match="has 10 values but the layer has 256 units"):
        unit_sets(demo, {"h.0.mlp.c_fc": np.ones(10, dtype=bool)})
    with pytest.raises(ToposcopeError, match="mode='mean' needs means"), lesioned(demo, sets, mode="mean"):
        pass


def test_lesion_effect_against_random_sets(demo):
    texts = list(grammar_pairs(5, seed=6).good)
    measures = {"perplexity": perplexity_measure(texts), "accuracy": competence_measure(grammar_pairs(10, seed=7))}
    units = {"h.0.mlp.c_fc": np.arange(0, 256, 4), "h.2.mlp.c_fc": np.arange(10, 40)}
    result = lesion_effect(demo, units, measures, n_random=3, seed=3)
    assert result["measure"].values.tolist() == ["perplexity", "accuracy"]
    assert float(result["intact"].sel(measure="perplexity")) == pytest.approx(measures["perplexity"](demo))
    assert result["n_units"].values.tolist() == [64, 30] and result["random_change"].shape == (2, 3)
    assert ((result["p"] > 0) & (result["p"] <= 1)).all()
    np.testing.assert_allclose(result["change"], result["lesioned"] - result["intact"])
    again = lesion_effect(demo, units, measures, n_random=3, seed=3)
    xr.testing.assert_identical(result.drop_attrs(), again.drop_attrs())  # seeded
    # Every unit of a layer: each random set is the same set, so the random changes all equal the change.
    whole = lesion_effect(demo, {"h.1.mlp.c_fc": np.arange(256)}, {"perplexity": measures["perplexity"]},
                          n_random=2, seed=0)
    np.testing.assert_allclose(whole["random_change"].values[0], float(whole["change"][0]), rtol=1e-9)
    assert float(whole["change"][0]) > 0 and float(whole["p"][0]) == 1.0


def test_clusters_by_layer_recipe_and_figure(tmp_path):
    import csv

    from toposcope.figures import build_figures
    from toposcope.recipes.runner import run_recipe
    from toposcope.stimuli.language import synthetic_localizer

    stimuli = synthetic_localizer(12)
    with open(tmp_path / "fedorenko_stimuli.csv", "w", newline="") as handle:  # TopoLM's layout: sentence, S/W/N
        writer = csv.writer(handle)
        writer.writerow(["sentence", "condition"])
        for text, category in zip(stimuli.items, stimuli.labels["category"]):
            writer.writerow([text, {"sentences": "S", "words": "W", "nonwords": "N"}[category]])
    recipe = tmp_path / "clusters.toml"
    recipe.write_text('[recipe]\nname = "clusters"\nfigures = ["topolm_clusters"]\n[[models]]\nspec = "demo_lm"\n'
                      f'[stimuli]\nlocalizer = "{tmp_path / "fedorenko_stimuli.csv"}"\n'
                      '[[analyses]]\nkind = "clusters"\nstimuli = "localizer"\nthreshold = 4.0\nmin_size = 5\n'
                      'layers = ["h.1.mlp.c_fc", "h.2.mlp.c_fc"]\n')
    run_recipe(recipe, tmp_path / "out", cache=False, progress=False, figures=False)
    with xr.open_dataset(tmp_path / "out" / "results" / "clusters" / "demo_lm.nc", engine="h5netcdf") as handle:
        data = handle.load()
    assert data["condition"].values.tolist() == ["sentences", "words", "nonwords"]
    assert data.sizes["cluster"] >= 2 and (data["size"] >= 5).all()
    for layer in ("h.1.mlp.c_fc", "h.2.mlp.c_fc"):  # each layer's clusters are those of its own t-map
        inside = np.flatnonzero(data["layer"].values == layer)
        expected = seed_clusters(data["t"].isel(unit=inside), 4.0, min_size=5)
        rows = np.flatnonzero(data["cluster_layer"].values == layer)
        np.testing.assert_array_equal(data["member"].isel(cluster=rows, unit=inside).values, expected.values)
    written = build_figures(tmp_path / "out")
    assert {p.name for p in written} == {"topolm_clusters-demo_lm.png", "topolm_clusters-demo_lm.pdf",
                                         "topolm_clusters.csv"}
