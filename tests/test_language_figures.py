"""Language paper figures (TopoNets Fig. 5B, TopoLM localizer and noun-verb maps) from recipe runs.

End to end: small recipes with the ``windows`` and ``localizer`` kinds run on the shipped
``demo_lm`` (real localizer texts from ../shared where present), then ``build_figures``;
the figures' data files must equal the result files. Planted runs (a known selective
square, known per-unit ``c``) pin down what the figures mark and how they order models.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import shared_path

from toposcope._validation import ToposcopeError
from toposcope.figures import build_figures
from toposcope.figures._run import load_run
from toposcope.figures.language import TMAP_COLUMNS, language_localizer, noun_verb_analyses
from toposcope.io import write_netcdf
from toposcope.recipes import expand, load_recipe, run_recipe

DEMO_LAYERS = [f"h.{i}.mlp.c_fc" for i in range(4)]
FIGURE_STEMS = ("fig5b_windows", "topolm_localizer", "topolm_nouns_verbs")

WINDOWS_RECIPE = """
[recipe]
name = "windows-small"

[[models]]
spec = "demo_lm"

[[analyses]]
kind = "windows"
corpus = "{corpus}"
length = 22
n_sequences = 3
yoked = [2, 11]
seed = 0
"""

# The analysis names are deliberately misleading: the figures must go by each result's contrast.
LOCALIZER_RECIPE = """
[recipe]
name = "localizer-small"

[[models]]
spec = "demo_lm"

[stimuli]
fed = "fedorenko10:{fedorenko10}"
words = "{moseley}"
phrases = "{elli}"

[[analyses]]
kind = "localizer"
name = "nouns_first"
stimuli = "fed"
contrast = "sentences_vs_nonwords"
fwhm = 2.0

[[analyses]]
kind = "localizer"
name = "language_b"
stimuli = "words"
contrast = "nouns_vs_verbs"
fwhm = 2.0

[[analyses]]
kind = "localizer"
name = "a_phrases"
stimuli = "phrases"
contrast = "nouns_vs_verbs"
fwhm = 2.0
"""


def _mine(skipped: list[str]) -> dict[str, str]:
    """The skip reasons of this module's figures (other papers' figures skip too), by stem."""
    pairs = (message.split(": ", 1) for message in skipped)
    return {stem: reason for stem, reason in pairs if stem in FIGURE_STEMS}


def _open(path) -> xr.Dataset:
    with xr.open_dataset(path, engine="h5netcdf") as data:
        return data.load()


# ----------------------------------------------------------------------------- end to end: windows
def _run_and_draw(root, text):
    """Run the recipe ``text`` into ``root/out`` (no per-task figures), then build the paper figures."""
    recipe = root / "recipe.toml"
    recipe.write_text(text, encoding="utf-8")
    run_recipe(recipe, root / "out", progress=False, figures=False, cache=False)
    skipped: list[str] = []
    written = build_figures(root / "out", on_skip=skipped.append)
    return root / "out", written, skipped


@pytest.fixture(scope="module")
def windows_run(tmp_path_factory):
    """demo_lm's integration windows through a recipe (synthetic grammar text), then the figures."""
    return _run_and_draw(tmp_path_factory.mktemp("windows-run"), WINDOWS_RECIPE.format(corpus="synthetic"))


def test_fig5b_data_equals_the_windows_result(windows_run):
    out, written, _ = windows_run
    folder = out / "figures" / "paper"
    assert {p.name for p in written} >= {f"fig5b_windows.{s}" for s in ("png", "pdf", "nc", "csv")}
    assert (folder / "fig5b_windows.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = _open(out / "results" / "windows" / "demo_lm.nc")
    data = _open(folder / "fig5b_windows.nc")
    # One model, its four sheets as the columns, every unit once in layer order.
    assert data["c_0"].attrs["model"] == "demo_lm" and np.isnan(data["c_0"].attrs["tau"])
    assert data["layer"].values.tolist() == DEMO_LAYERS
    order = np.concatenate([np.flatnonzero(result["layer"].values == layer) for layer in DEMO_LAYERS])
    np.testing.assert_array_equal(data["c_0"].values, result["c"].values[order])
    np.testing.assert_array_equal(data["exponential_0"].values, 1.0 - result["c"].values[order])
    np.testing.assert_array_equal(data["yoking_0"].values, result["yoking"].values[order])
    np.testing.assert_array_equal(data["x_0"].values, result["x"].values[order])
    table = pd.read_csv(folder / "fig5b_windows.csv")
    assert table["layer"].tolist() == DEMO_LAYERS and set(table["n_units"]) == {256}
    for layer, row in table.set_index("layer").iterrows():
        inside = result["layer"].values == layer
        np.testing.assert_allclose(row["median_c"], np.nanmedian(result["c"].values[inside]), rtol=1e-12)
        np.testing.assert_allclose(row["median_yoking"], np.nanmedian(result["yoking"].values[inside]), rtol=1e-12)
        np.testing.assert_allclose(row["median_r2"], np.nanmedian(result["r2"].values[inside]), rtol=1e-12)


def test_windows_only_run_skips_the_topolm_figures_with_reasons(windows_run):
    _, _, skipped = windows_run
    reasons = _mine(skipped)
    assert "fig5b_windows" not in reasons
    assert "localizer results with contrast 'sentences_vs_nonwords'" in reasons["topolm_localizer"]
    assert "contrast 'nouns_vs_verbs'" in reasons["topolm_nouns_verbs"]


def test_natural_stories_words_the_demo_model_cannot_swap(tmp_path):
    """Real text on a model that knows only its grammar's words: the task fails in one line, Fig. 5B is skipped."""
    corpus = shared_path("stimuli", "text", "naturalstories", "stories-aligned.conllx")
    recipe = tmp_path / "windows.toml"
    recipe.write_text(WINDOWS_RECIPE.format(corpus=corpus.as_posix()), encoding="utf-8")
    with pytest.raises(ToposcopeError, match=r"1 of 1 tasks failed .*windows/demo_lm.*no single-token replacement"):
        run_recipe(recipe, tmp_path / "out", progress=False, figures=False, cache=False)
    skipped: list[str] = []
    with pytest.raises(ToposcopeError, match="holds no results"):
        build_figures(tmp_path / "out", on_skip=skipped.append)


# ----------------------------------------------------------------------------- end to end: localizer
@pytest.fixture(scope="module")
def localizer_run(tmp_path_factory):
    """demo_lm through three localizer analyses on the real TopoLM stimuli, then the figures."""
    paths = {"fedorenko10": shared_path("stimuli", "language", "fedorenko10_stimuli"),
             "moseley": shared_path("stimuli", "language", "moseley_stimuli.csv"),
             "elli": shared_path("stimuli", "language", "elli_stimuli.csv")}
    return _run_and_draw(tmp_path_factory.mktemp("localizer-run"),
                         LOCALIZER_RECIPE.format(**{k: v.as_posix() for k, v in paths.items()}))


def test_analyses_are_told_apart_by_contrast_not_name(localizer_run):
    out, _, skipped = localizer_run
    run = load_run(out)
    assert language_localizer(run) == "nouns_first"
    assert noun_verb_analyses(run) == [("language_b", "moseley"), ("a_phrases", "elli")]
    assert list(_mine(skipped)) == ["fig5b_windows"]


def test_localizer_figure_data_equals_the_result(localizer_run):
    out, written, _ = localizer_run
    folder = out / "figures" / "paper"
    assert {p.name for p in written} >= {f"topolm_localizer.{s}" for s in ("png", "pdf", "nc", "csv")}
    result = _open(out / "results" / "nouns_first" / "demo_lm.nc")
    assert result.attrs["stimulus_set"] == "fedorenko10" and result.attrs["n_target"] == 240
    data = _open(folder / "topolm_localizer.nc")
    assert data.attrs["analysis"] == "nouns_first" and data["t_0"].attrs["model"] == "demo_lm"
    np.testing.assert_array_equal(data["t_0"].values, result["t"].values)
    np.testing.assert_array_equal(data["selective_0"].values.astype(bool), result["selective"].values)
    np.testing.assert_array_equal(data["layer_0"].values, result["layer"].values)
    table = pd.read_csv(folder / "topolm_localizer.csv")
    assert table["layer"].tolist() == DEMO_LAYERS and set(table["n_units"]) == {256}
    np.testing.assert_allclose(table["morans_i"], result["morans_i"].values, rtol=1e-12)
    # Fractions recomputed from the figure's own mask, layer by layer.
    shown = data["selective_0"].values.astype(bool)
    expected = [shown[data["layer_0"].values == layer].mean() for layer in DEMO_LAYERS]
    np.testing.assert_allclose(table["fraction_selective"], expected, rtol=1e-12)
    assert table["n_selective"].sum() == result.attrs["n_selective"] > 0


def test_nouns_verbs_figure_on_words_the_model_never_saw(localizer_run):
    """demo_lm reads Moseley's words and Elli's phrases as [UNK] (bar "the"), so within each word class
    every text is the same token sequence: both variances are 0, every t is 0 and nothing is significant."""
    from toposcope.models.registry import load_model
    from toposcope.stimuli.language import load_elli, load_moseley

    out, written, _ = localizer_run
    tokenizer = load_model("demo_lm").tokenizer
    for loader, name in ((load_moseley, "moseley_stimuli.csv"), (load_elli, "elli_stimuli.csv")):
        stimuli = loader(shared_path("stimuli", "language", name))
        for word_class in ("noun", "verb"):
            texts = np.asarray(stimuli.items)[stimuli.labels["word_class"] == word_class]
            assert len({tuple(tokenizer(text)["input_ids"]) for text in texts}) == 1, (name, word_class)
    folder = out / "figures" / "paper"
    assert {p.name for p in written} >= {f"topolm_nouns_verbs.{s}" for s in ("png", "pdf", "nc", "csv")}
    data = _open(folder / "topolm_nouns_verbs.nc")
    language = _open(out / "results" / "nouns_first" / "demo_lm.nc")
    for j, name in enumerate(("language_b", "a_phrases")):
        result = _open(out / "results" / name / "demo_lm.nc")
        assert data[f"t_0_{j}"].attrs["analysis"] == name
        np.testing.assert_array_equal(data[f"t_0_{j}"].values, result["t"].values)
        assert not data[f"t_0_{j}"].values.any() and not data[f"significant_0_{j}"].values.any()
        np.testing.assert_array_equal(data[f"language_selective_0_{j}"].values.astype(bool),
                                      language["selective"].values)
    table = pd.read_csv(folder / "topolm_nouns_verbs.csv")
    assert table["stimulus_set"].tolist() == ["moseley"] * 4 + ["elli"] * 4
    assert (table["n_significant"] == 0).all()
    np.testing.assert_array_equal(table["n_language_selective"].to_numpy().reshape(2, 4),
                                  [[int(language["selective"].values[language["layer"].values == layer].sum())
                                    for layer in DEMO_LAYERS]] * 2)


# ----------------------------------------------------------------------------- planted runs
def _run_folder(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.json").write_text(json.dumps({"name": "planted"}))
    return folder


def _write(folder, analysis, model, data, kind, **attrs):
    write_netcdf(data, folder / "results" / analysis / f"{model}.nc",
                 {"kind": kind, "analysis": analysis, "recipe_model": model, **attrs})


def _grid(side, layers):
    """Unit coords of ``layers`` square sheets of ``side x side`` units, row-major."""
    y, x = np.divmod(np.arange(side * side), side)
    return {"x": ("unit", np.tile(x, len(layers)).astype(float)), "y": ("unit", np.tile(y, len(layers)).astype(float)),
            "layer": ("unit", np.repeat(layers, side * side))}


def _planted_localizer(contrast, stimulus_set, selective, t, p_fdr, layers):
    names = np.asarray(layers)
    per_layer = np.repeat(names, selective.size // len(names))
    return xr.Dataset(
        {"t": ("unit", t), "p": ("unit", p_fdr), "p_fdr": ("unit", p_fdr), "selective": ("unit", selective),
         "fraction_selective": ("layers", [selective[per_layer == n].mean() for n in names]),
         "morans_i": ("layers", np.linspace(0.1, 0.2, len(names))), "morans_p": ("layers", [np.nan] * len(names))},
        coords={**_grid(int(np.sqrt(selective.size // len(names))), layers), "layers": names},
        attrs={"contrast": contrast, "stimulus_set": stimulus_set, "alpha": 0.05})


def test_planted_selective_square_is_exactly_what_is_marked(tmp_path):
    from toposcope.plot.language import mask_outline

    out = _run_folder(tmp_path / "run")
    side, layers = 10, ["L1", "L2"]
    coords = _grid(side, layers)
    x, y, layer = coords["x"][1], coords["y"][1], coords["layer"][1]
    square = (layer == "L1") & (x >= 3) & (x <= 5) & (y >= 2) & (y <= 4)  # 3 x 3 units
    t = np.where(square, 8.0, -0.5)
    _write(out, "lang", "m", _planted_localizer("sentences_vs_nonwords", "fedorenko10", square, t,
                                                np.where(square, 1e-6, 0.9), layers), "localizer")
    # Nouns vs verbs: a significant column of L2 and a strong but non-significant unit.
    noun = (layer == "L2") & (x == 7)
    t_nv = np.where(noun, 5.0, 0.0)
    t_nv[0] = 9.0
    p_nv = np.where(noun, 0.01, 0.5)
    _write(out, "zz_moseley", "m", _planted_localizer("nouns_vs_verbs", "moseley", noun, t_nv, p_nv, layers),
           "localizer")
    skipped: list[str] = []
    build_figures(out, on_skip=skipped.append)
    assert list(_mine(skipped)) == ["fig5b_windows"]
    folder = out / "figures" / "paper"
    data = _open(folder / "topolm_localizer.nc")
    np.testing.assert_array_equal(data["selective_0"].values.astype(bool), square)
    table = pd.read_csv(folder / "topolm_localizer.csv").set_index("layer")
    assert table.loc["L1", "n_selective"] == 9 and table.loc["L2", "n_selective"] == 0
    np.testing.assert_allclose(table["fraction_selective"], [0.09, 0.0])
    # The outline drawn around the square: its 12 border edges, on the pixel boundaries x 2.5..5.5, y 1.5..4.5.
    mask = xr.DataArray(square[:100], dims="unit", coords={"x": ("unit", x[:100]), "y": ("unit", y[:100])})
    segments = mask_outline(mask)
    assert segments.shape == (12, 2, 2)
    assert segments[..., 0].min() == 2.5 and segments[..., 0].max() == 5.5
    assert segments[..., 1].min() == 1.5 and segments[..., 1].max() == 4.5
    nouns = _open(folder / "topolm_nouns_verbs.nc")
    assert nouns["t_0_0"].attrs["stimulus_set"] == "moseley"
    np.testing.assert_array_equal(nouns["shown_0_0"].values, np.where(noun, 5.0, 0.0))  # unit 0: t = 9, p = 0.5
    np.testing.assert_array_equal(nouns["language_selective_0_0"].values.astype(bool), square)
    counts = pd.read_csv(folder / "topolm_nouns_verbs.csv").set_index("layer")
    assert counts.loc["L2", "n_significant"] == 10 and counts.loc["L1", "n_language_selective"] == 9


def test_planted_windows_rows_follow_tau_and_shared_layers(tmp_path):
    out = _run_folder(tmp_path / "run")
    side = 6
    planted = {}
    for model, tau, layers in (("topo-50", 50, ["A", "B", "C"]), ("base", 0, ["A", "B"]), ("topo-3", 3, ["A", "B"])):
        coords = _grid(side, layers)
        x, layer = coords["x"][1], coords["layer"][1]
        # Layer A: c rises left to right (0 .. 1); layer B: c = tau / 100; layer C only in one model.
        c = np.where(layer == "A", x / (side - 1), tau / 100.0)
        planted[model] = c
        data = xr.Dataset({"c": ("unit", c), "a": ("unit", np.ones_like(c)), "r2": ("unit", np.full_like(c, 0.9))},
                          coords=coords)
        _write(out, "windows", model, data, "windows", model_options=f"tau={tau}")
    skipped: list[str] = []
    build_figures(out, on_skip=skipped.append)
    data = _open(out / "figures" / "paper" / "fig5b_windows.nc")
    assert [data[f"c_{i}"].attrs["model"] for i in range(3)] == ["base", "topo-3", "topo-50"]
    assert [data[f"c_{i}"].attrs["tau"] for i in range(3)] == [0.0, 3.0, 50.0]
    assert data["layer"].values.tolist() == ["A", "B"]  # C is not in every model
    for i, model in enumerate(["base", "topo-3", "topo-50"]):
        np.testing.assert_array_equal(data[f"c_{i}"].values, planted[model][: 2 * side * side])
        assert "yoking_0" not in data
    table = pd.read_csv(out / "figures" / "paper" / "fig5b_windows.csv")
    np.testing.assert_allclose(table["median_c"], [0.5, 0.0, 0.5, 0.03, 0.5, 0.5])
    assert table["median_yoking"].isna().all() and (table["median_r2"] == 0.9).all()
    assert sorted(_mine(skipped)) == ["topolm_localizer", "topolm_nouns_verbs"]


def test_localizer_figure_wraps_many_layers(tmp_path):
    """TopoLM has 24 sheets: panels wrap after TMAP_COLUMNS per row; every layer is in the data."""
    out = _run_folder(tmp_path / "run")
    layers = [f"layer.{i}.{part}" for i in range(12) for part in ("attn", "mlp")]
    selective = np.zeros(len(layers) * 16, dtype=bool)
    selective[::7] = True
    _write(out, "loc", "topolm", _planted_localizer("sentences_vs_nonwords", "fedorenko10", selective,
                                                    np.where(selective, 3.0, -1.0), np.where(selective, 0.01, 0.8),
                                                    layers), "localizer")
    written = build_figures(out, on_skip=lambda message: None)
    assert any(p.name == "topolm_localizer.png" for p in written)
    table = pd.read_csv(out / "figures" / "paper" / "topolm_localizer.csv")
    assert table["layer"].tolist() == layers and TMAP_COLUMNS == 12


def test_plot_helpers_refuse_empty_input():
    from toposcope.plot.language import mask_outline, plot_tmap_rows, plot_window_rows

    with pytest.raises(ToposcopeError, match="at least one model and one layer"):
        plot_window_rows({}, ["a"])
    with pytest.raises(ToposcopeError, match="at least one row and one layer"):
        plot_tmap_rows([], ["a"])
    scattered = xr.DataArray([True, False], dims="unit", coords={"x": ("unit", [0.2, 1.7]), "y": ("unit", [0, 0.4])})
    with pytest.raises(ToposcopeError, match="complete integer grid"):
        mask_outline(scattered)


# ----------------------------------------------------------------------------- shipped recipes
@pytest.mark.parametrize("name", ["toponets_fig5b", "topolm_localizer", "topolm_nouns_verbs"])
def test_language_recipes_parse(name, tmp_path, monkeypatch):
    from toposcope.models.toponets import RELEASES

    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(name)
    assert recipe.name == name and expand(recipe)
    if name == "toponets_fig5b":
        # Every released NanoGPT, baseline included; windows on Natural Stories, lags up to 20 words.
        assert sorted(float(m["options"]["tau"]) for m in recipe.models) == sorted(
            float(t) for t in RELEASES["nanogpt"].taus)
        (analysis,) = recipe.analyses
        assert analysis["kind"] == "windows" and analysis["corpus"].endswith("stories-aligned.conllx")
        assert analysis["length"] > 20 and analysis["yoked"] == [5, 12]
    else:
        contrasts = {a["name"]: a["contrast"] for a in recipe.analyses}
        assert "sentences_vs_nonwords" in contrasts.values()
        assert all(a["fwhm"] == 2.0 and a["text_mode"] == "mean" for a in recipe.analyses)
        if name == "topolm_nouns_verbs":
            assert sorted(contrasts.values()) == ["nouns_vs_verbs", "nouns_vs_verbs", "sentences_vs_nonwords"]
