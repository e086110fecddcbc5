"""Model-comparison scatters drawn as the TopoNets paper does (Figs. 2 and 3).

Each model is a point coloured by its architecture's hue and shaded by tau
(see :mod:`toposcope.figures._style`), baselines hollow, every point labelled;
:func:`plot_family_trends` adds the dashed trend line of each architecture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["emptiest_corner", "plot_family_trends", "plot_model_points", "unexaggerated"]


def _checked(x: Sequence[float], y: Sequence[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != (n,) or y.shape != (n,):
        raise ToposcopeError(f"x and y need one value per model ({n}), got shapes {x.shape} and {y.shape}")
    return x, y


def plot_model_points(ax: Any, x: Sequence[float], y: Sequence[float], styles: Sequence[Any],
                      *, labels: bool = True) -> Any:
    """One marker per model: filled in its colour when topographic, hollow black when a baseline.

    Parameters
    ----------
    ax : matplotlib Axes
    x, y : sequence of float, shape (n_models,)
    styles : sequence of ModelStyle, length n_models
        From :func:`toposcope.figures._style.model_styles`.
    labels : bool
        Write each style's label beside its point.

    Returns
    -------
    matplotlib Axes
    """
    x, y = _checked(x, y, len(styles))
    ax.margins(x=0.1, y=0.12)  # room for the labels of the outermost points
    for xi, yi, style in zip(x, y, styles):
        if style.topographic:
            ax.scatter(xi, yi, s=36, color=style.color, edgecolors="k", linewidths=0.5, zorder=3)
        else:
            ax.scatter(xi, yi, s=36, facecolors="white", edgecolors="k", linewidths=1.6, zorder=3)
        if labels:
            ax.annotate(style.label, (xi, yi), fontsize=7, style="italic", xytext=(4, 4),
                        textcoords="offset points")
    return ax


def plot_family_trends(ax: Any, x: Sequence[float], y: Sequence[float], styles: Sequence[Any]) -> dict[str, Any]:
    """The dashed trend of each architecture through its models (baseline included).

    A quadratic through four or more models, a line through three, nothing for
    fewer (two points always lie on a line: a trend through them says nothing),
    drawn over the family's range of ``x``.

    Returns
    -------
    dict
        Family -> polynomial coefficients (highest power first), for the data file.
    """
    x, y = _checked(x, y, len(styles))
    fits: dict[str, Any] = {}
    for family in dict.fromkeys(s.family for s in styles):
        inside = np.array([s.family == family for s in styles])
        xs, ys = x[inside], y[inside]
        if len(np.unique(xs)) < 3:
            continue
        coefficients = np.polyfit(xs, ys, 2 if len(np.unique(xs)) >= 4 else 1)
        span = np.linspace(xs.min(), xs.max(), 50)
        ax.plot(span, np.polyval(coefficients, span), "--", color="k", lw=0.8, zorder=1)
        fits[family] = coefficients
    return fits


def unexaggerated(ax: Any, values: Sequence[float], minimum_span: float = 0.05) -> None:
    """Widen the y axis to at least ``minimum_span`` of the values' magnitude, centred on the data.

    Two accuracies of 0.9805 and 0.9835 drawn on an axis from 0.9805 to 0.9835
    look like a large effect; on an axis at least 5 % of 0.98 tall they look as
    large as they are.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return
    low, high = ax.get_ylim()
    span = minimum_span * max(float(np.abs(values).max()), 1e-12)
    if high - low < span:
        middle = (values.min() + values.max()) / 2
        ax.set_ylim(middle - span / 2, middle + span / 2)


#: Axes-fraction anchors of the four corners, with their text alignment.
CORNERS = {"upper left": (0.03, 0.97, "left", "top"), "upper right": (0.97, 0.97, "right", "top"),
           "lower left": (0.03, 0.03, "left", "bottom"), "lower right": (0.97, 0.03, "right", "bottom")}


def emptiest_corner(ax: Any, x: Sequence[float], y: Sequence[float]) -> tuple[float, float, str, str]:
    """The corner of ``ax`` with the fewest points, for a text box (position and alignment).

    Counts the points in the outer 40 % x 30 % of the axes at each corner, in
    the order upper left, upper right, lower left, lower right (first wins ties).
    """
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    fx = (np.asarray(x, dtype=np.float64) - x0) / ((x1 - x0) or 1.0)
    fy = (np.asarray(y, dtype=np.float64) - y0) / ((y1 - y0) or 1.0)
    counts = {}
    for name, (cx, cy, _, _) in CORNERS.items():
        near_x = fx < 0.4 if cx < 0.5 else fx > 0.6
        near_y = fy > 0.7 if cy > 0.5 else fy < 0.3
        counts[name] = int((near_x & near_y).sum())
    return CORNERS[min(counts, key=counts.get)]
