"""Figures of story encoding models: the layer sweep, held-out r, and which part of the sheet predicts which voxel.

Reads the Dataset of :func:`toposcope.workflows.encoding.encode_stories` (dims
``layer``, ``voxel``, ``window``; ``r``, optional ``significant``,
``window_energy``, ``window_r``, window coords ``window_x``/``window_y``) or of
:func:`toposcope.brain.encoding.encoding_model` (no ``layer`` dim). Built on
:class:`matplotlib.figure.Figure` directly, never through pyplot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["plot_encoding"]


def _with_layer(result: Any) -> Any:
    if "layer" in result.dims:
        return result
    name = str(result["layer"].values[0]) if "layer" in result.coords and result["layer"].size else "units"
    # a unit coord "layer" (the units' module) gives way to the layer dim
    return result.drop_vars("layer", errors="ignore").expand_dims(layer=[name])


def plot_encoding(result: Any, title: str | None = None) -> Any:
    """Layer sweep, held-out r of the best layer, and its sheet read-back.

    Parameters
    ----------
    result : xr.Dataset
        With ``r`` over ``voxel`` (and ``layer``); sheet panels need
        ``window_r``/``window_energy`` over ``window``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        (a) median held-out r per layer (quartiles shaded); (b) histogram of
        the best layer's r per voxel, FDR-significant voxels filled; (c) per
        sheet window, the mean r of its units alone over the voxels the full
        model predicts (r above the median); (d) per window, the voxels whose
        weight energy peaks there.
    """
    import xarray as xr
    from matplotlib.figure import Figure

    if not isinstance(result, xr.Dataset) or "r" not in result or "voxel" not in result["r"].dims:
        raise ToposcopeError("plot_encoding needs a Dataset with 'r' over dim 'voxel' (from encode_stories)")
    data = _with_layer(result)
    layers = [str(v) for v in data["layer"].values]
    r = np.asarray(data["r"].transpose("layer", "voxel").values, dtype=np.float64)
    best = int(np.argmax(np.median(r, axis=1)))
    on_sheet = "window_r" in data and "window_x" in data.coords
    figure = Figure(figsize=(4.0 * (2 + 2 * on_sheet), 3.6), layout="constrained")
    axes = figure.subplots(1, 2 + 2 * on_sheet, squeeze=False)[0]

    ax = axes[0]
    position = np.arange(len(layers))
    ax.fill_between(position, np.percentile(r, 25, axis=1), np.percentile(r, 75, axis=1), color="C0", alpha=0.2,
                    lw=0)
    ax.plot(position, np.median(r, axis=1), "o-", color="C0")
    ax.plot(best, np.median(r[best]), "o", color="C3", ms=9, mfc="none")
    ax.set_xticks(position, layers, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("held-out r (median, quartiles)")
    ax.set_title("which layer predicts best", fontsize=9)
    ax.axhline(0, color="0.7", lw=0.6)

    ax = axes[1]
    values = r[best]
    bins = np.linspace(min(values.min(), 0), max(values.max(), 0.1), 31)
    ax.hist(values, bins=bins, color="C0", histtype="step")
    if "significant" in data:
        significant = np.asarray(data["significant"].transpose("layer", "voxel").values[best], dtype=bool)
        ax.hist(values[significant], bins=bins, color="C0", alpha=0.6,
                label=f"FDR q={data.attrs.get('q', 0.05)}: {int(significant.sum())}")
        ax.legend(fontsize=7, frameon=False)
    ax.set_xlabel(f"held-out r per voxel ({layers[best]})")
    ax.set_ylabel("voxels")
    ax.axvline(0, color="0.7", lw=0.6)

    if on_sheet:
        _sheet_panels(data.isel(layer=best), values, axes[2], axes[3])
    if title is None:
        tests = data.attrs.get("test_stories", "")
        tests = ", ".join(map(str, tests)) if isinstance(tests, (list, tuple)) else str(tests)
        title = f"encoding model, test: {tests}; best layer {layers[best]} (median r {np.median(r[best]):.3f})"
    figure.suptitle(title, fontsize=10)
    return figure


def _grid(values: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Window values as an image (rows along y), and its extent."""
    xs, ys = np.unique(x), np.unique(y)
    image = np.full((len(ys), len(xs)), np.nan)
    image[np.searchsorted(ys, y), np.searchsorted(xs, x)] = values
    dx = (xs[1] - xs[0]) if len(xs) > 1 else 1.0
    dy = (ys[1] - ys[0]) if len(ys) > 1 else 1.0
    return image, [xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2]


def _sheet_panels(data: Any, r: np.ndarray, ax_r: Any, ax_count: Any) -> None:
    x = np.asarray(data["window_x"].values, dtype=np.float64)
    y = np.asarray(data["window_y"].values, dtype=np.float64)
    window_r = np.asarray(data["window_r"].transpose("window", "voxel").values, dtype=np.float64)
    predicted = r >= np.median(r)
    image, extent = _grid(np.nanmean(window_r[:, predicted], axis=1), x, y)
    shown = ax_r.imshow(image, origin="lower", extent=extent, cmap="viridis", aspect="equal")
    ax_r.figure.colorbar(shown, ax=ax_r, shrink=0.8, label="r of the window's units alone")
    ax_r.set_title(f"sheet windows alone ({int(predicted.sum())} best voxels)", fontsize=9)
    ax_r.set_xlabel("sheet x")
    ax_r.set_ylabel("sheet y")
    if "window_energy" in data:
        energy = np.asarray(data["window_energy"].transpose("window", "voxel").values, dtype=np.float64)
        peaks = np.bincount(energy.argmax(axis=0), minlength=energy.shape[0])
        image, extent = _grid(peaks.astype(float), x, y)
        shown = ax_count.imshow(image, origin="lower", extent=extent, cmap="magma", aspect="equal")
        ax_count.figure.colorbar(shown, ax=ax_count, shrink=0.8, label="voxels")
        ax_count.set_title("voxels whose weight energy peaks here", fontsize=9)
        ax_count.set_xlabel("sheet x")
    else:
        ax_count.set_axis_off()
