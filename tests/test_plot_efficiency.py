"""Efficiency figures say which model and layers they show, and draw single levels as points."""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr

from toposcope.plot.efficiency import plot_efficiency

matplotlib.use("Agg")


def _curves(model="demo/topo", factors=(2.0,)):
    fractions = np.array([0.0, 0.5, 0.9])
    change = np.array([0.0, -0.01, -0.3])
    return xr.Dataset(
        {"performance": ("fraction", 0.9 + change), "change": ("fraction", change),
         "relative_change": ("fraction", change / 0.9),
         "downsampled_performance": ("factor", np.full(len(factors), 0.8)),
         "downsampled_change": ("factor", np.full(len(factors), -0.1)),
         "downsampled_relative_change": ("factor", np.full(len(factors), -0.1 / 0.9))},
        coords={"fraction": fractions, "layer": ["conv1", "fc1"], "factor": list(factors),
                "fraction_removed": ("factor", [1 - 1 / f ** 2 for f in factors])},
        attrs={"model": model, "measure": "accuracy", "baseline": 0.9, "downsample_layers": "fc1"})


def test_titles_name_the_model_and_the_layers():
    figure = plot_efficiency(_curves())
    pruning, downsampling = figure.axes[:2]
    assert figure._suptitle.get_text() == "demo/topo"
    assert pruning.get_title() == "layers: conv1, fc1" and downsampling.get_title() == "layers: fc1"
    assert "2 models" == plot_efficiency({"a": _curves("a"), "b": _curves("b")})._suptitle.get_text()


def test_a_single_level_is_a_point_and_several_are_a_line():
    figure = plot_efficiency(_curves(factors=(2.0,)))
    (pruned,) = figure.axes[0].get_lines()[:1]
    (single,) = figure.axes[1].get_lines()[:1]
    assert pruned.get_linestyle() == "-" and single.get_linestyle() == "None"
    (several,) = plot_efficiency(_curves(factors=(2.0, 4.0))).axes[1].get_lines()[:1]
    assert several.get_linestyle() == "-"
    # The intact model starts every downsampling curve: nothing removed, no change.
    np.testing.assert_allclose(single.get_xdata()[0], 0.0)
