"""Category domain maps and per-seed summaries, drawn the way TDANN draws them.

A domain map (TDANN, Margalit et al. 2024, Fig. 1 and 3; neuroailab/TDANN
``spacetorch/maps/it_map.py``, ``ITMap.make_selectivity_map``) shows every unit
of the sheet as a faint grey dot and colours the units selective for a category
(t above a threshold) in that category's colour. Here each unit carries one
label, the contrast with its largest t when that t passes the threshold (see
:func:`toposcope.analysis.selectivity.preferred_category`), so a unit selective for two
categories shows its stronger one instead of whichever TDANN happened to draw last.

:func:`plot_seed_bars` draws one bar per category and model group (the mean over
seeds) with one dot per seed, as TDANN's patch-count, patch-area and smoothness
panels do.

Only draws: numbers come from the caller; built on
``matplotlib.figure.Figure`` axes, never pyplot.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["DOMAIN_COLORS", "NO_DOMAIN", "domain_colors", "plot_domain_map", "plot_seed_bars"]

#: TDANN's colours of the fLOC domains (spacetorch/datasets/floc.py, ``DOMAIN_CONTRASTS``).
DOMAIN_COLORS: dict[str, str] = {
    "faces": "#D43328",
    "bodies": "#E8B631",
    "characters": "#4B2021",
    "places": "#20913E",
    "objects": "#33B0FF",
}

#: Label of a unit selective for no category.
NO_DOMAIN = -1

#: Colour of the units selective for nothing (TDANN's light-grey background).
BACKGROUND = "#dddddd"


def domain_colors(contrasts: Sequence[str]) -> list[str]:
    """One colour per contrast: TDANN's for the fLOC domains, matplotlib's tab10 for others."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    others = colormaps["tab10"]
    out, k = [], 0
    for name in contrasts:
        if name in DOMAIN_COLORS:
            out.append(DOMAIN_COLORS[name])
        else:
            out.append(to_hex(others(k % 10)))
            k += 1
    return out


def plot_domain_map(
    ax: Any,
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    colors: Sequence[str],
    *,
    marker_size: float | None = None,
    title: str | None = None,
) -> Any:
    """Draw a winner-take-all category map of scattered (or gridded) units.

    Parameters
    ----------
    ax : matplotlib Axes
    x, y : ndarray, shape (n_units,)
        Unit positions on the sheet.
    labels : ndarray of int, shape (n_units,)
        Index into ``colors`` of each unit's category, :data:`NO_DOMAIN` for none.
    colors : sequence of str
        One colour per category.
    marker_size : float, optional
        Scatter marker area (points^2) on scattered sheets; scaled to the unit count by default.
    title : str, optional

    Returns
    -------
    matplotlib artist
        An image on complete grid sheets, else a scatter with the labelled units
        drawn last (on top of the grey ones); rasterised, so vector files of
        25,000-unit sheets stay small.
    """
    import xarray as xr
    from matplotlib.colors import ListedColormap

    from toposcope.plot.sheet import plot_sheet

    x, y, labels = (np.asarray(a) for a in (x, y, labels))
    if not (x.shape == y.shape == labels.shape and x.ndim == 1):
        raise ToposcopeError(f"x, y and labels must be 1-D of one length, got shapes {x.shape}, {y.shape}, "
                             f"{labels.shape}")
    if labels.size and (labels.max() >= len(colors) or labels.min() < NO_DOMAIN):
        raise ToposcopeError(f"labels must lie in [{NO_DOMAIN}, {len(colors) - 1}] (one colour per category), "
                             f"got {labels.min()} .. {labels.max()}")
    order = np.argsort(labels != NO_DOMAIN, kind="stable")
    values = xr.DataArray(labels[order].astype(np.float64), dims="unit",
                          coords={"x": ("unit", x[order]), "y": ("unit", y[order])})
    # One colour per integer label: -1 the background, k the k-th category.
    cmap = ListedColormap([BACKGROUND, *colors])
    artist = plot_sheet(values, ax=ax, cmap=cmap, vmin=NO_DOMAIN - 0.5, vmax=len(colors) - 0.5, title=title,
                        colorbar=False, marker_size=marker_size)
    artist.set_rasterized(True)
    return artist


def plot_seed_bars(
    ax: Any,
    values: Mapping[str, np.ndarray],
    categories: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
    ylabel: str = "",
    title: str | None = None,
) -> dict[str, np.ndarray]:
    """Bars of the mean over seeds per category and group, one dot per seed.

    Parameters
    ----------
    ax : matplotlib Axes
    values : mapping of str to ndarray, each shape (n_seeds, n_categories)
        Group label -> one row per seed; NaN entries (e.g. the area of no
        patch) are left out of the mean and not drawn.
    categories : sequence of str
        Column names, shown as tick labels.
    colors : sequence of str, optional
        Bar colour per category (the domain colours); groups after the first
        are drawn hatched so that they stay apart.

    Returns
    -------
    dict of str to ndarray
        Group -> the bar heights, shape (n_categories,) (NaN where a category has no value).
    """
    colors = list(colors) if colors is not None else ["0.6"] * len(categories)
    n = len(values)
    width = 0.8 / max(n, 1)
    heights = {}
    for g, (group, table) in enumerate(values.items()):
        table = np.atleast_2d(np.asarray(table, dtype=np.float64))
        if table.shape[1] != len(categories):
            raise ToposcopeError(f"values of {group!r} have {table.shape[1]} columns, expected one per "
                                 f"category ({len(categories)})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: the mean of nothing is NaN
            mean = np.nanmean(table, axis=0)
        heights[group] = mean
        centre = np.arange(len(categories)) - 0.4 + width * (g + 0.5)
        ax.bar(centre, np.nan_to_num(mean), width=width * 0.9, color=colors, alpha=0.8,
               hatch=None if g == 0 else "//", edgecolor="k", linewidth=0.4, label=group)
        # Seeds jittered deterministically inside the bar, so reruns give identical files.
        offsets = np.linspace(-0.25, 0.25, table.shape[0]) * width if table.shape[0] > 1 else np.zeros(1)
        for row, offset in zip(table, offsets):
            ok = np.isfinite(row)
            ax.scatter(centre[ok] + offset, row[ok], s=8, c="k", zorder=3, linewidths=0)
    # Every seed's dot must stay inside the axes, not only the bars.
    finite = [t[np.isfinite(t)] for t in (np.asarray(v, dtype=np.float64).ravel() for v in values.values())]
    if all((f >= 0).all() for f in finite):
        # Counts of zero everywhere still get a readable axis from 0 up.
        top = max([float(f.max()) for f in finite if f.size] + [0.0])
        ax.set_ylim(bottom=0, top=1.15 * top if top > 0 else 1.0)
    ax.set_xticks(np.arange(len(categories)))
    ax.set_xticklabels(categories, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if n > 1:
        ax.legend(fontsize=6, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return heights

