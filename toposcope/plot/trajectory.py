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

__all__ = ["plot_alignment_competence", "plot_metric_vs_step", "step_axis", "step_norm"]


def step_norm(steps: Sequence[float]) -> Any:
    """The colour scale of training steps: log, with step 0 on its own colour (symmetric log, linear below
    the first positive step), so colour rises strictly with step as the step axis does."""
    from matplotlib.colors import LogNorm, Normalize, SymLogNorm

    steps = np.asarray(steps, dtype=np.float64)
    positive = steps[steps > 0]
    if positive.size == 0:
        return Normalize(0.0, 1.0)
    if (steps == 0).any():
        return SymLogNorm(linthresh=float(positive.min()), vmin=0.0, vmax=float(max(positive.max(), positive.min() * 10)))
    return LogNorm(float(positive.min()), float(max(positive.max(), positive.min() * 10)))


def step_axis(ax: Any, steps: Sequence[float], label: str = "training step") -> None:
    """A log step axis that still shows step 0: symmetric log, linear from 0 to the first positive step
    (which the label says), log above it."""
    positive = [s for s in steps if s > 0]
    if len(positive) and 0 in list(steps):
        threshold = min(positive)
        ax.set_xscale("symlog", linthresh=threshold)
        label = f"{label} (log; linear 0-{threshold:g})"
    elif positive and len(positive) == len(list(steps)):
        ax.set_xscale("log")
    ax.set_xlabel(label)


def plot_metric_vs_step(ax: Any, steps: Sequence[float], curves: Mapping[str, Sequence[float]], *,
                        ylabel: str, title: str = "", colors: Mapping[str, Any] | None = None,
                        xlabel: str = "training step", thin: Sequence[str] = ()) -> Any:
    """One line per curve (a layer, a model size) of a metric over training steps.

    Parameters
    ----------
    ax : matplotlib Axes
    steps : sequence of float, shape (n_steps,)
    curves : mapping of label to sequence of float, each shape (n_steps,)
        NaN where a step lacks the metric (the line breaks there). A label
        starting with ``_`` stays out of the legend (matplotlib's rule).
    ylabel, title : str
    colors : mapping of label to colour, optional
        Default: viridis over the curves in order (first layer dark, last light).
    thin : sequence of str
        Curves drawn thin, faint and without markers (single layers behind
        their model's mean).

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
        if label in thin:
            ax.plot(steps, values, linewidth=0.7, alpha=0.35, color=color, label=str(label), zorder=1)
        else:
            ax.plot(steps, values, marker="o", markersize=3.5, linewidth=1.4, color=color, label=str(label),
                    zorder=2)
    step_axis(ax, steps.tolist(), xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9, fontweight="bold")
    shown = [label for label in curves if not str(label).startswith("_")]
    if len(shown) > 1:
        ax.legend(fontsize=6.5, frameon=False, ncols=1 if len(shown) < 7 else 2)
    ax.grid(alpha=0.25, linewidth=0.5)
    return ax


def plot_alignment_competence(ax: Any, competence: Sequence[float], alignment: Sequence[float],
                              steps: Sequence[float], *, xlabel: str = "minimal-pair accuracy",
                              ylabel: str = "brain score", label: str | None = None, norm: Any = None,
                              marker: str = "o", cmap: str = "viridis", line_color: Any = "0.7") -> Any:
    """Brain alignment against formal competence, one point per checkpoint coloured by step.

    The checkpoints are joined in step order by a thin line (the model's path
    through training).

    Parameters
    ----------
    competence, alignment, steps : sequence of float, shape (n_checkpoints,)
        NaN pairs (a step that lacks one of the two scores) are left out.
    norm : matplotlib Normalize, optional
        The step colour scale; share one across panels and models for one
        colour bar. Default :func:`step_norm` of ``steps``.
    marker : str
        The model's marker (one per model size).

    Returns
    -------
    matplotlib collection
        The scatter, for a colour bar (``figure.colorbar(points, label="step")``).
    """
    x, y, s = (np.asarray(v, dtype=np.float64) for v in (competence, alignment, steps))
    if not (x.shape == y.shape == s.shape) or x.ndim != 1 or x.size == 0:
        raise ToposcopeError("competence, alignment and steps need one value per checkpoint")
    keep = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(s[keep], kind="stable")
    x, y, s = x[keep][order], y[keep][order], s[keep][order]
    ax.plot(x, y, color=line_color, linewidth=0.8, zorder=1)
    points = ax.scatter(x, y, c=s, cmap=cmap, norm=norm if norm is not None else step_norm(s), marker=marker,
                        s=30, edgecolors="k", linewidths=0.4, zorder=2, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return points
