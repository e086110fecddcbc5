"""Model-comparison panels: no trend through fewer than three models, axes that do not exaggerate."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from toposcope.plot.models import plot_family_trends, unexaggerated

matplotlib.use("Agg")


def _styles(n, family="resnet18"):
    return [SimpleNamespace(family=family) for _ in range(n)]


def test_trends_need_three_models_and_a_quadratic_four():
    ax = Figure().add_subplot()
    assert plot_family_trends(ax, [0.1, 0.5], [0.98, 0.97], _styles(2)) == {}
    assert not ax.get_lines()
    line = plot_family_trends(ax, [0.1, 0.3, 0.5], [0.9, 0.8, 0.7], _styles(3))["resnet18"]
    np.testing.assert_allclose(line, [-0.5, 0.95], atol=1e-12)  # slope, intercept of the exact line
    quadratic = plot_family_trends(ax, [0, 1, 2, 3], [0, 1, 4, 9], _styles(4))["resnet18"]
    np.testing.assert_allclose(quadratic, [1, 0, 0], atol=1e-9)


def test_a_small_difference_is_not_stretched_over_the_whole_axis():
    ax = Figure().add_subplot()
    ax.scatter([0.2, 0.6], [0.9805, 0.9835])
    unexaggerated(ax, [0.9805, 0.9835])
    low, high = ax.get_ylim()
    assert high - low >= 0.05 * 0.9835 - 1e-12 and low < 0.9805 and high > 0.9835
    wide = Figure().add_subplot()
    wide.set_ylim(0.0, 1.0)
    unexaggerated(wide, [0.2, 0.9])
    assert wide.get_ylim() == (0.0, 1.0)  # already honest: left alone
