"""Where figures show the smoothness score: unscored bins, the chance band beside each layer's score, the CSV."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import to_rgba
from test_smoothness import as_responses, smooth_field

from toposcope.analysis.layerwise import smoothness_by_layer
from toposcope.figures._run import Run, summary
from toposcope.plot.curves import plot_curves
from toposcope.plot.layers import plot_smoothness_layers
from toposcope.sheet import grid_sheet


@pytest.fixture(scope="module")
def layers():
    """Two planted layers: a smooth 8 x 8 sheet and the same responses with positions permuted."""
    positions = grid_sheet(64).positions
    values = smooth_field(60, (8, 8), sigma=1.5)
    shuffled = positions[np.random.default_rng(3).permutation(64)]
    return smoothness_by_layer({"smooth": as_responses(values, positions, "smooth"),
                                "scrambled": as_responses(values, shuffled, "scrambled")})


def test_bins_below_min_pairs_are_drawn_hollow_in_the_curve_colour(layers):
    curve = layers.sel(layer="smooth").assign_coords(bin=layers["distance"].sel(layer="smooth").values)
    ax = plot_curves({"smooth": curve}, min_pairs=20)
    line = next(l for l in ax.get_lines() if l.get_label() == "smooth")
    hollow = next(l for l in ax.get_lines() if l.get_label() == "_unscored")
    sparse = curve["pairs"].values < 20
    assert sparse.sum() >= 1  # the 8 x 8 sheet's corner bins
    np.testing.assert_allclose(hollow.get_xdata(), curve["bin"].values[sparse])
    assert hollow.get_markerfacecolor() == "white" and to_rgba(hollow.get_color()) == to_rgba(line.get_color())
    # The layerwise result records its min_pairs, which the curves take by default.
    assert layers.attrs["min_pairs"] == 20
    plain = plot_curves({"smooth": curve.assign_attrs(min_pairs=0)})
    assert not [l for l in plain.get_lines() if l.get_label() == "_unscored"]


def test_each_layer_score_is_drawn_beside_its_chance_band(layers):
    figure = plot_smoothness_layers(layers)
    right = figure.axes[-1]
    bars = right.patches
    scores, band = bars[:2], bars[2:]
    # Horizontal bars, the first layer on top.
    np.testing.assert_allclose([b.get_width() for b in scores], layers["score_toponets"].values)
    assert [t.get_text() for t in right.get_yticklabels()] == ["smooth", "scrambled"]
    assert right.get_ylim()[0] > right.get_ylim()[1]
    np.testing.assert_allclose([b.get_x() for b in band], layers["score_toponets_chance_low"].values)
    np.testing.assert_allclose([b.get_x() + b.get_width() for b in band],
                               layers["score_toponets_chance_high"].values)
    # The smooth layer stands far above its band; the scrambled one sits inside its own.
    smooth, scrambled = (layers.sel(layer=n) for n in ("smooth", "scrambled"))
    assert float(smooth["score_toponets"]) > float(smooth["score_toponets_chance_high"]) + 0.3
    assert (float(scrambled["score_toponets_chance_low"]) <= float(scrambled["score_toponets"])
            <= float(scrambled["score_toponets_chance_high"]))


def test_the_figure_summary_carries_the_corrected_smoothness(layers, tmp_path):
    old = xr.Dataset({"score_toponets": ("layer", [0.3, 0.5])}, coords={"layer": ["a", "b"]})
    run = Run(path=tmp_path, results={"smoothness": {"new": layers, "old": old}},
              attrs={"new": {}, "old": {}})
    table = summary(run).set_index("model")
    assert table.loc["new", "smoothness"] == pytest.approx(float(layers["score_toponets"].mean()))
    assert table.loc["new", "smoothness_corrected"] == pytest.approx(float(layers["score_toponets_corrected"].mean()))
    assert table.loc["old", "smoothness"] == pytest.approx(0.4) and np.isnan(table.loc["old", "smoothness_corrected"])


def test_many_layers_get_one_panel_each_with_its_chance_curve_and_one_key():
    from test_figure_images import _smoothness_layers

    data = _smoothness_layers(21)
    figure = plot_smoothness_layers(data)
    panels = [ax for ax in figure.axes[:-1] if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [str(n) for n in data["layer"].values]
    for ax, name in zip(panels, data["layer"].values):
        curve = next(line for line in ax.get_lines() if line.get_label() == name)
        np.testing.assert_allclose(curve.get_xdata(), data["distance"].sel(layer=name).values)
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        np.testing.assert_allclose(dashed[0].get_ydata(), data["chance"].sel(layer=name).values)
        assert ax.get_legend() is None
    key = [t.get_text() for legend in figure.subfigs[0].legends for t in legend.get_texts()]
    assert "chance: curve with shuffled positions" in key and "chance +- 1.96 SEM (95%)" in key
    assert "bin with < 20 pairs (not scored)" in key
    scores = figure.axes[-1]
    assert [t.get_text() for t in scores.get_yticklabels()] == [str(n) for n in data["layer"].values]
    np.testing.assert_allclose([b.get_width() for b in scores.patches[:21]], data["score_toponets"].values)
    # A handful of layers keep one shared panel, its legend naming each layer and the marks.
    few = plot_smoothness_layers(data.isel(layer=slice(0, 4)))
    assert len(few.axes) == 2
    labels = [t.get_text() for t in few.axes[0].get_legend().get_texts()]
    assert labels[:4] == [str(n) for n in data["layer"].values[:4]] and "chance: curve with shuffled positions" in labels


def test_a_wide_chance_band_in_a_sparse_bin_does_not_flatten_the_curves():
    from test_figure_images import _smoothness_layers

    data = _smoothness_layers(8)
    data["chance_sem"][:, -1] = 5.0  # the last bin holds 8 pairs: its band spans +-10
    figure = plot_smoothness_layers(data)
    low, high = figure.axes[0].get_ylim()
    assert -1.05 <= low and high <= 1.05
    values = data["correlation"].values
    assert low <= values.min() and values.max() <= high
    assert high - low < 1.5 * (values.max() - min(values.min(), 0.0)) + 0.1
