"""Eigenspectra and effective dimensionality per layer: every layer named once, in its own colour."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.colors import to_rgba

from toposcope.analysis.layerwise import dimensionality_by_layer
from toposcope.plot.layers import plot_dimensionality_layers


def _layers(n_layers: int) -> xr.Dataset:
    """Layers whose spectra decay faster with depth (planted power laws)."""
    rng = np.random.default_rng(0)
    rows, cols = np.divmod(np.arange(32), 8)
    responses = {}
    for i in range(n_layers):
        scale = np.arange(1, 33) ** -(0.5 + i / n_layers)
        responses[f"block{i}"] = xr.DataArray(rng.normal(size=(120, 32)) * scale, dims=("stimulus", "unit"),
                                              coords={"x": ("unit", cols * 1.0), "y": ("unit", rows * 1.0)})
    return dimensionality_by_layer(responses)


def test_many_layers_each_get_one_entry_one_bar_and_a_colour_of_their_own():
    data = _layers(21)
    figure = plot_dimensionality_layers(data)
    spectra, bars = figure.axes[0], figure.axes[-1]
    names = [str(n) for n in data["layer"].values]
    labels = [t.get_text() for t in spectra.get_legend().get_texts()]
    assert [label.split(" ")[0] for label in labels] == names
    colours = [to_rgba(line.get_color()) for line in spectra.get_lines()]
    assert len(set(colours)) == 21
    assert [t.get_text() for t in bars.get_yticklabels()] == names
    np.testing.assert_allclose([b.get_width() for b in bars.patches], data["effective_dimensionality"].values)
    assert [to_rgba(b.get_facecolor()) for b in bars.patches] == colours
    # The legend sits beside the spectra, not over them.
    figure.canvas.draw()
    legend = spectra.get_legend().get_window_extent()
    assert legend.x0 >= spectra.get_window_extent().x1
