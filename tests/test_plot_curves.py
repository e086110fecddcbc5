"""Curve figures draw exactly the analysed numbers; the statistics behind them are right."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.stats import norm

from toposcope._validation import ToposcopeError
from toposcope.analysis.stats import compare_dimensionality, fisher_z_test, pareto_front, pearson
from toposcope.plot.curves import (
    CHANCE_Z,
    plot_curves,
    plot_dimensionality,
    plot_smoothness_performance,
)


def fake_curve(values, chance=0.05, layer="layer1"):
    values = np.asarray(values, dtype=float)
    edges = np.arange(len(values) + 1, dtype=float)
    return xr.Dataset(
        {"correlation": ("bin", values), "sem": ("bin", np.full(len(values), 0.01)),
         "pairs": ("bin", np.where(np.isnan(values), 0, 100)),
         "chance": ("bin", np.full(len(values), chance)), "chance_sem": ("bin", np.full(len(values), 0.02))},
        coords={"bin": ("bin", edges[:-1] + 0.5), "bin_lower": ("bin", edges[:-1]),
                "bin_upper": ("bin", edges[1:])},
        attrs={"kind": "correlation", "layer": layer, "distance_units": "mm"},
    )


def test_plotted_lines_equal_the_curves():
    curves = {"layer1": fake_curve([0.5, 0.3, np.nan, 0.1]), "layer2": fake_curve([0.2, 0.1, 0.0, 0.0])}
    ax = plot_curves(curves)
    lines = {line.get_label(): line for line in ax.lines}
    for label, curve in curves.items():
        np.testing.assert_array_equal(lines[label].get_xdata(), curve.bin.values)
        np.testing.assert_array_equal(lines[label].get_ydata(), curve.correlation.values)
    assert ax.get_xlabel() == "sheet distance (mm)"
    assert ax.get_ylabel() == "response correlation (r)"
    # Chance bands: chance +- 1.96 SEM for each curve.
    bands = [c for c in ax.collections if np.allclose(c.get_facecolor()[0][:3], 0.5)]
    assert len(bands) == 2
    top = bands[0].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(0.05 + CHANCE_Z * 0.02)


def test_a_single_curve_and_bad_input():
    ax = plot_curves(fake_curve([0.4, 0.2], layer=""), chance=False)
    assert len(ax.lines) == 2  # the curve and the zero line
    with pytest.raises(ToposcopeError, match="curves must be a Dataset"):
        plot_curves([1, 2, 3])
    with pytest.raises(ToposcopeError, match="has no variable 'difference'"):
        plot_curves(fake_curve([0.1]), variable="difference")


def test_pareto_front_on_a_known_set():
    x = [0.1, 0.2, 0.3, 0.25, 0.05, 0.3, 0.15]
    y = [0.9, 0.85, 0.6, 0.5, 0.95, 0.55, 0.7]
    # (0.3, 0.6) beats (0.3, 0.55); (0.2, 0.85) beats (0.15, 0.7); (0.3, 0.6) beats (0.25, 0.5).
    np.testing.assert_array_equal(pareto_front(x, y), [4, 0, 1, 2])
    np.testing.assert_array_equal(pareto_front(x, y, maximize=(False, False)), [4, 0, 6, 3])
    np.testing.assert_array_equal(pareto_front([1, 1], [2, 2]), [0, 1])  # ties are both optimal


def test_scatter_draws_the_front():
    x = np.array([0.1, 0.2, 0.3, 0.25, 0.05])
    y = np.array([0.9, 0.85, 0.6, 0.5, 0.95])
    ax = plot_smoothness_performance(x, y, labels=list("abcde"), topographic=[True, True, True, False, False])
    front = next(line for line in ax.lines if line.get_label() == "Pareto front")
    np.testing.assert_array_equal(front.get_xdata(), x[[4, 0, 1, 2]])
    np.testing.assert_array_equal(front.get_ydata(), y[[4, 0, 1, 2]])
    assert len(ax.texts) == 5
    with pytest.raises(ToposcopeError, match="topographic must flag each of the 5 models"):
        plot_smoothness_performance(x, y, topographic=[True])


def test_fisher_z_against_hand_computation():
    z, p = fisher_z_test(0.6, 0.2, 40, 50)
    expected = (np.arctanh(0.6) - np.arctanh(0.2)) / np.sqrt(1 / 37 + 1 / 47)
    assert z == pytest.approx(expected)
    assert p == pytest.approx(2 * norm.sf(expected))
    assert fisher_z_test(0.3, 0.3, 20) == (0.0, 1.0)
    # Steiger's dependent test reduces to the independent one when nothing is shared (r = 0, r12 = 0).
    assert fisher_z_test(0.0, 0.0, 30, r12=0.0)[0] == 0.0
    small = 1e-9
    assert fisher_z_test(small, -small, 30, r12=0.0)[0] == pytest.approx(
        fisher_z_test(small, -small, 30, 30)[0], rel=1e-6)
    # Correlated non-shared variables make the difference more significant.
    assert abs(fisher_z_test(0.6, 0.2, 30, r12=0.5)[0]) > abs(fisher_z_test(0.6, 0.2, 30, 30)[0])
    with pytest.raises(ToposcopeError, match="strictly between -1 and 1"):
        fisher_z_test(1.0, 0.2, 30)
    with pytest.raises(ToposcopeError, match="at least 4 cases"):
        fisher_z_test(0.5, 0.2, 3)


def test_dimensionality_panels_show_the_analysis_numbers():
    rng = np.random.default_rng(0)
    smooth = rng.uniform(0, 1, 12)
    perf = rng.uniform(0.6, 0.8, 12)
    ed = 30 - 20 * smooth + rng.normal(0, 1, 12)
    figure = plot_dimensionality(ed, smooth, perf, dependent=True)
    stats = compare_dimensionality(ed, smooth, perf, dependent=True)
    left, right = figure.axes
    assert left.texts[0].get_text() == f"r = {stats['r_performance']:.2f}, p = {stats['p_performance']:.2g}"
    assert right.texts[0].get_text() == f"r = {stats['r_smoothness']:.2f}, p = {stats['p_smoothness']:.2g}"
    assert stats["r_smoothness"] == pytest.approx(pearson(smooth, ed)[0])
    assert stats["test"] == "Steiger's z" and stats["z"] < 0  # ED falls with smoothness
    assert f"z = {stats['z']:.2f}" in figure.get_suptitle()
    np.testing.assert_array_equal(right.collections[0].get_offsets()[:, 0], smooth)
    with pytest.raises(ToposcopeError, match="one value per model"):
        plot_dimensionality(ed, smooth, perf[:5])
    with pytest.raises(ToposcopeError, match="one of the inputs is constant"):
        pearson([1, 1, 1], [1, 2, 3])
