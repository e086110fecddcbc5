"""The language localizer: Welch t and FDR against scipy, planted selective patches, the loaders."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import shared_path

from toposcope._validation import ToposcopeError
from toposcope.analysis.localizer import fdr, localize, smooth_responses, welch_test
from toposcope.stimuli.language import (
    load_elli,
    load_fedorenko10,
    load_fedorenko_conditions,
    load_language,
    load_moseley,
    synthetic_localizer,
)


def _responses(n_per=30, side=8, layer="layer0", seed=0, patch=True):
    """Sentences vs non-words on a side x side grid; a 3 x 3 patch prefers sentences."""
    rng = np.random.default_rng(seed)
    n_units = side * side
    data = rng.normal(size=(2 * n_per, n_units))
    ys, xs = np.divmod(np.arange(n_units), side)
    selective = (xs < 3) & (ys < 3) if patch else np.zeros(n_units, dtype=bool)
    data[:n_per, selective] += 2.0
    coords = {"category": ("stimulus", ["sentences"] * n_per + ["nonwords"] * n_per),
              "layer": ("unit", [layer] * n_units), "x": ("unit", xs.astype(float)), "y": ("unit", ys.astype(float))}
    return xr.DataArray(data.astype(np.float32), dims=("stimulus", "unit"), coords=coords), selective


def test_welch_against_scipy():
    from scipy import stats

    responses, _ = _responses()
    data = responses.values.astype(np.float64)
    target, reference = data[:30], data[30:]
    result = welch_test(responses)
    expected = stats.ttest_ind(target, reference, equal_var=False)
    np.testing.assert_allclose(result["t"].values, expected.statistic, rtol=1e-5)
    np.testing.assert_allclose(result["p"].values, expected.pvalue, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(result["df"].values, expected.df, rtol=1e-10)
    assert result.attrs["n_target"] == 30 and result.attrs["reference"] == "nonwords"


def _bh(p):
    """Benjamini-Hochberg by hand: p_(i) * n / i, made monotone from the largest down."""
    order = np.argsort(p)
    n = len(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1)
    return out


def test_fdr_against_scipy_and_by_hand():
    from scipy.stats import false_discovery_control

    p = np.random.default_rng(1).uniform(size=500) ** 3
    np.testing.assert_allclose(fdr(p), _bh(p), rtol=1e-12)
    np.testing.assert_allclose(fdr(p), false_discovery_control(p), rtol=1e-12)
    with pytest.raises(ToposcopeError, match="must lie in \\[0, 1\\]"):
        fdr([0.1, np.nan])


def test_localize_finds_the_planted_patch_across_layers():
    first, selective = _responses(layer="a", seed=2)
    second, _ = _responses(layer="b", seed=3, patch=False)
    result = localize({"a": first, "b": second})
    assert result.sizes["unit"] == 128 and list(result["layers"].values) == ["a", "b"]
    mask = result["selective"].values
    assert np.array_equal(mask[:64], selective)
    assert mask[64:].sum() <= 1
    assert result["fraction_selective"].values[0] == pytest.approx(9 / 64)
    # FDR across both layers together, as TopoLM does.
    np.testing.assert_allclose(result["p_fdr"].values, _bh(result["p"].values), rtol=1e-10)
    # The patch is one clump on the sheet; the noise layer is not clustered.
    assert result["morans_i"].values[0] > 0.3
    assert abs(result["morans_i"].values[1]) < 0.15
    top = localize(first, top_k=9 / 64)
    assert np.array_equal(top["selective"].values, selective)
    assert top.attrs["mask"] == "top_k"


def test_smoothing_on_the_sheet():
    responses, _ = _responses(n_per=12, seed=4)
    smoothed = smooth_responses(responses, fwhm=2.0)
    assert smoothed.dims == responses.dims and smoothed.dtype == np.float32
    single = responses.isel(stimulus=[0]).copy(data=np.zeros((1, 64), dtype=np.float32))
    single[0, 27] = 1.0  # unit at x=3, y=3
    spread = smooth_responses(single, fwhm=2.0).values[0]
    sigma = 2.0 / np.sqrt(8 * np.log(2))
    assert spread[27] == pytest.approx(1 / (2 * np.pi * sigma**2), rel=1e-6)
    assert spread[28] == pytest.approx(np.exp(-1 / (2 * sigma**2)) / (2 * np.pi * sigma**2), rel=1e-6)
    result = localize(responses, fwhm=2.0)
    assert result.attrs["smoothing_fwhm"] == 2.0
    assert result["selective"].values[0] and not result["selective"].values[63]
    with pytest.raises(ToposcopeError, match="fwhm must be a positive"):
        smooth_responses(responses, fwhm=0)


def test_localize_errors():
    responses, _ = _responses()
    with pytest.raises(ToposcopeError, match="alpha must lie in"):
        localize(responses, alpha=1.5)
    with pytest.raises(ToposcopeError, match="top_k is a fraction"):
        localize(responses, top_k=5)
    with pytest.raises(ToposcopeError, match="needs stimulus label 'word_class'"):
        localize(responses, "nouns_vs_verbs")
    with pytest.raises(ToposcopeError, match="dims \\('stimulus', 'unit'\\)"):
        localize(responses.values)


# --------------------------------------------------------------------------- stimuli
def test_loaders_on_small_files(tmp_path):
    folder = tmp_path / "fed10"
    folder.mkdir()
    header = ",".join(f"stim{i}" for i in range(1, 15))
    rows = ["1," + ",".join(["THE"] * 12) + ",S", "2," + ",".join(["BLICK"] * 12) + ",N"]
    (folder / "langloc_fmri_run1_stim_set1.csv").write_text("\n".join([header, *rows]) + "\n")
    fed10 = load_fedorenko10(folder)
    assert fed10.items == (" ".join(["the"] * 12), " ".join(["blick"] * 12))
    assert list(fed10.labels["category"]) == ["sentences", "nonwords"]
    assert load_language(f"fedorenko10:{folder}").items == fed10.items
    csv = tmp_path / "fedorenko.csv"
    csv.write_text(",sentence,condition\n0,a b c,S\n1,d e f,W\n2,g h i,J\n3,j k l,N\n")
    assert list(load_fedorenko_conditions(csv).labels["category"]) == ["sentences", "words", "jabberwocky",
                                                                     "nonwords"]
    moseley = tmp_path / "moseley.csv"
    moseley.write_text("word,category,class\nClue,abstract,noun\nrun,concrete,verb\n")
    words = load_language(moseley)
    assert words.items == ("clue", "run") and list(words.labels["word_class"]) == ["noun", "verb"]
    elli = tmp_path / "elli.csv"
    elli.write_text('run,block,class,category,pair\nodd,0,noun,bird,"the crow the owl"\n')
    assert list(load_language(elli).labels["category"]) == ["noun_bird"]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ToposcopeError, match="not a known localizer file"):
        load_language(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(",sentence,condition\n0,a b,Q\n")
    with pytest.raises(ToposcopeError, match="unknown condition 'Q'"):
        load_fedorenko_conditions(wrong)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToposcopeError, match="no CSV files"):
        load_fedorenko10(tmp_path / "empty")


def test_real_localizer_files():
    fed10 = load_fedorenko10(shared_path("stimuli", "language", "fedorenko10_stimuli"))
    assert len(fed10) == 480
    assert {c: int((fed10.labels["category"] == c).sum()) for c in ("sentences", "nonwords")} == {
        "sentences": 240, "nonwords": 240}
    assert {len(t.split()) for t in fed10.items} == {12}
    assert all(t == t.lower() for t in fed10.items)
    conditions = load_fedorenko_conditions(shared_path("stimuli", "language", "fedorenko_stimuli.csv"))
    assert sorted(np.unique(conditions.labels["category"], return_counts=True)[1]) == [160] * 4
    moseley = load_moseley(shared_path("stimuli", "language", "moseley_stimuli.csv"))
    assert len(moseley) == 160 and set(moseley.labels["concreteness"]) == {"abstract", "concrete"}
    elli = load_elli(shared_path("stimuli", "language", "elli_stimuli.csv"))
    assert len(elli) == 576 and set(elli.labels["word_class"]) == {"noun", "verb"}


def test_synthetic_localizer():
    stimuli = synthetic_localizer(10, seed=1)
    assert len(stimuli) == 30 and {len(t.split()) for t in stimuli.items} == {12}
    assert stimuli.items == synthetic_localizer(10, seed=1).items
    sentences = set(" ".join(stimuli.items[:10]).split())
    assert set(" ".join(stimuli.items[10:20]).split()) <= sentences  # word lists reuse the sentences' words
    assert not set(" ".join(stimuli.items[20:]).split()) & sentences


def test_the_mask_figure_says_which_colour_is_selective():
    from matplotlib.colors import to_rgba

    from toposcope.plot.windows import SELECTIVE_COLOR, plot_localizer

    first, selective = _responses(layer="a", seed=2)
    second, _ = _responses(layer="b", seed=3, patch=False)
    result = localize({"a": first, "b": second})
    figure = plot_localizer(result, title="planted patch")
    (key,) = figure.legends
    labels = [t.get_text() for t in key.get_texts()]
    assert labels == ["selective: t > 0 and FDR q < 0.05", "not selective"]
    assert to_rgba(key.legend_handles[0].get_facecolor()) == to_rgba(SELECTIVE_COLOR)
    # The mask panel of layer a paints exactly the planted patch in that colour.
    mask_panel = figure.axes[2]
    assert mask_panel.get_title() == f"selective: {9 / 64:.0%} of units"
    image = mask_panel.get_images()[0]
    colours = image.to_rgba(np.asarray(image.get_array()).ravel())
    painted = np.all(np.isclose(colours, to_rgba(SELECTIVE_COLOR)), axis=1)
    assert painted.sum() == selective.sum()
    assert figure.axes[-1].get_ylabel() == "Welch t (sentences vs nonwords)"
    top = plot_localizer(localize(first, top_k=0.1))
    assert top.legends[0].get_texts()[0].get_text() == "selective: the 10% of units with the largest t"
