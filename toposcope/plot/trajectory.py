"""Metrics over training: a metric against training step (log axis), and brain alignment against competence.

Both take numbers already computed (stacked along ``step`` by
:func:`toposcope.workflows.trajectory.stack_steps`, or read from a run's
result files by :mod:`toposcope.figures.trajectory`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["plot_alignment_competence", "plot_metric_vs_step", "step_axis"]


def step_axis(ax: Any, steps: Sequence[float], label: str = "training step") -> None:
    """A log step axis that still shows step 0 (symmetric log, linear below the first positive step)."""
    positive = [s for s in steps if s > 0]
    if len(positive) and 0 in list(steps):
        ax.set_xscale("symlog", linthresh=min(positive))
    elif positive and len(positive) == len(list(steps)):
        ax.set_xscale("log")
    ax.set_xlabel(label)


def plot_metric_vs_step(ax: Any, steps: Sequence[float], curves: Mapping[str, Sequence[float]], *,
                        ylabel: str, title: str = "", colors: Mapping[str, Any] | None = None,
                        xlabel: str = "training step") -> Any:
    """One line per curve (a layer, a model size) of a metric over training steps.

    Parameters
    ----------
    ax : matplotlib Axes
    steps : sequence of float, shape (n_steps,)
    curves : mapping of label to sequence of float, each shape (n_steps,)
        NaN where a step lacks the metric (the line breaks there).
    ylabel, title : str
    colors : mapping of label to colour, optional
        Default: viridis over the curves in order (first layer dark, last light).

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib

    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1 or steps.size == 0:
        raise ToposcopeError("steps must be a non-empty 1-D sequence")
    cmap = matplotlib.colormaps["viridis"]
    for i, (label, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != steps.shape:
            raise ToposcopeError(f"curve {label!r} has {values.size} values for {steps.size} steps")
        color = (colors or {}).get(label, cmap(i / max(1, len(curves) - 1) * 0.85))
        ax.plot(steps, values, marker="o", markersize=3.5, linewidth=1.4, color=color, label=str(label))
    step_axis(ax, steps.tolist(), xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9, fontweight="bold")
    if len(curves) > 1:
        ax.legend(fontsize=6.5, frameon=False, ncols=1 if len(curves) < 7 else 2)
    ax.grid(alpha=0.25, linewidth=0.5)
    return ax


def plot_alignment_competence(ax: Any, competence: Sequence[float], alignment: Sequence[float],
                              steps: Sequence[float], *, xlabel: str = "minimal-pair accuracy",
                              ylabel: str = "brain score", label: str | None = None) -> Any:
    """Brain alignment against formal competence, one point per checkpoint coloured by step (log colour scale).

    Parameters
    ----------
    competence, alignment, steps : sequence of float, shape (n_checkpoints,)

    Returns
    -------
    matplotlib collection
        The scatter, for a colour bar (``figure.colorbar(points, label="step")``).
    """
    from matplotlib.colors import LogNorm

    x, y, s = (np.asarray(v, dtype=np.float64) for v in (competence, alignment, steps))
    if not (x.shape == y.shape == s.shape) or x.ndim != 1 or x.size == 0:
        raise ToposcopeError("competence, alignment and steps need one value per checkpoint")
    order = np.argsort(s)
    ax.plot(x[order], y[order], color="0.7", linewidth=0.8, zorder=1)
    shown = np.maximum(s, max(1.0, s[s > 0].min() if (s > 0).any() else 1.0))  # step 0 on the first colour
    points = ax.scatter(x, y, c=shown, cmap="viridis", norm=LogNorm(shown.min(), max(shown.max(), shown.min() * 10)),
                        s=30, edgecolors="k", linewidths=0.4, zorder=2, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return points
