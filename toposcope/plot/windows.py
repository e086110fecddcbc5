"""Integration windows and the language localizer on the cortical sheet.

:func:`plot_window_maps` draws ``a``, ``b``, ``c``, ``R^2`` and the yoking
index of every unit, one row per layer (via :func:`toposcope.plot.sheet.plot_sheet`).
:func:`plot_window_rgb` draws the Fig. 5B-style composite: red = power-law
strength ``c``, green = exponential strength ``1 - c``, blue = sentence-yoked
strength (the yoking index scaled to [0, 1] by its 99th percentile over all
layers), one panel per layer. :func:`plot_theta` draws mean ``theta`` curves
per layer with the fitted model.

Units whose fit is ``ambiguous`` (the other basin fits within the margin, so
``c`` does not say which component is which) are drawn grey
(:data:`AMBIGUOUS_COLOR`) wherever a map is coloured by ``c``, unless
``grey_ambiguous=False``; on scattered (non-grid) sheets they are left blank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.analysis.integration import window_model, window_strengths
from toposcope.plot.sheet import grid_image, layer_labels, plot_sheet

__all__ = ["AMBIGUOUS_COLOR", "SELECTIVE_COLOR", "WINDOW_VARIABLES", "mask_ambiguous", "plot_localizer", "plot_theta",
           "plot_window_maps", "plot_window_rgb"]

#: Colour of selective units in localizer masks (the rest are white).
SELECTIVE_COLOR = "#b2182b"

#: Colour of units with an ambiguous fit (and of units without one) in maps coloured by ``c``.
AMBIGUOUS_COLOR = (0.6, 0.6, 0.6)

#: Variables drawn by :func:`plot_window_maps`, with colour limits (None: data range) and labels.
WINDOW_VARIABLES = {
    "a": ((0.0, None), "power-law exponent a"),
    "b": ((0.0, None), "exponential rate b"),
    "c": ((0.0, 1.0), "power-law weight c"),
    "r2": ((0.0, 1.0), "R^2"),
    "yoking": ((None, None), "yoking index"),
}


def _layers(result: xr.Dataset) -> list[str]:
    if "layer" not in result.coords:
        return [""]
    return list(dict.fromkeys(np.asarray(result["layer"].values).astype(str).tolist()))


def _layer(values: xr.DataArray, layer: str) -> xr.DataArray:
    if not layer:
        return values
    return values.isel(unit=np.flatnonzero(np.asarray(values["layer"].values).astype(str) == layer))


def mask_ambiguous(values: xr.DataArray, ambiguous: xr.DataArray | None, cmap: str | Any) -> tuple[xr.DataArray, Any]:
    """``values`` set to NaN at ambiguous units, and ``cmap`` drawing NaN in :data:`AMBIGUOUS_COLOR`.

    Parameters
    ----------
    values : xr.DataArray, dims (unit,)
    ambiguous : xr.DataArray of bool, dims (unit,), or None
        The same units as ``values``; ``None`` leaves ``values`` as they are.
    cmap : str or Colormap
    """
    from matplotlib import colormaps

    colour_map = (colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad=AMBIGUOUS_COLOR)
    if ambiguous is None:
        return values, colour_map
    return values.where(~np.asarray(ambiguous.values, dtype=bool)), colour_map


def _figure(rows: int, cols: int, size: float = 2.6) -> tuple[Any, np.ndarray]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size * cols + 0.8, size * rows), layout="constrained")
    axes = np.asarray(figure.subplots(rows, cols, squeeze=False))
    return figure, axes


def plot_window_maps(result: xr.Dataset, variables: Sequence[str] | None = None, *,
                     grey_ambiguous: bool = True) -> Any:
    """Maps of the window parameters, rows = layers, columns = variables.

    Parameters
    ----------
    result : xr.Dataset
        From :func:`toposcope.windows.integration_windows` or
        :func:`toposcope.analysis.integration.fit_windows` (unit coords ``x``, ``y``, ``layer``).
    variables : sequence of str, optional
        Among ``a``, ``b``, ``c``, ``r2``, ``yoking``; those present by default.
    grey_ambiguous : bool
        Draw the ``c`` of ambiguous units grey (when the result has ``ambiguous``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    chosen = list(variables) if variables is not None else [v for v in WINDOW_VARIABLES if v in result]
    missing = [v for v in chosen if v not in result]
    if missing or not chosen:
        raise ToposcopeError(f"windows have no variable(s) {missing or chosen}; they have {sorted(result.data_vars)}")
    layers = _layers(result)
    short = layer_labels(layers)
    figure, axes = _figure(len(layers), len(chosen))
    greyed = grey_ambiguous and "ambiguous" in result
    for j, name in enumerate(chosen):
        (low, high), label = WINDOW_VARIABLES.get(name, ((None, None), name))
        values = result[name]
        finite = np.asarray(values.values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        center = 0.0 if name == "yoking" else None
        vmax = high if high is not None else (float(np.percentile(finite, 99)) if finite.size else None)
        bar_label = f"{label} (grey: ambiguous)" if name == "c" and greyed else label
        for i, layer in enumerate(layers):
            part, cmap = _layer(values, layer), None
            if name == "c" and greyed:
                part, cmap = mask_ambiguous(part, _layer(result["ambiguous"], layer), "viridis")
            artist = plot_sheet(part, ax=axes[i, j], cmap=cmap, vmin=low if center is None else None,
                                vmax=vmax if center is None else (float(np.percentile(np.abs(finite), 99))
                                                                  if finite.size else None),
                                center=center, colorbar=False,
                                title=f"{label}\n{short[layer]}" if i == 0 else short[layer])
        # One bar under each column (its scale is shared down the column), so every panel keeps its size.
        bar = figure.colorbar(artist, ax=axes[:, j].tolist(), location="bottom", shrink=0.85, aspect=25)
        bar.set_label(bar_label, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    return figure


def _rgb_image(strength: xr.DataArray) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
    """The (h, w, 3) image of a grid sheet's strengths and its extent, or None for scattered units."""
    channels = []
    origin = None
    for channel in strength["channel"].values:
        image = grid_image(strength.sel(channel=channel))
        if image is None:
            return None
        channels.append(image[0])
        origin = image[1]
    rgb = np.nan_to_num(np.stack(channels, axis=-1), nan=1.0)
    h, w = rgb.shape[:2]
    return np.clip(rgb, 0, 1), (origin[0] - 0.5, origin[0] + w - 0.5, origin[1] + h - 0.5, origin[1] - 0.5)


def plot_window_rgb(result: xr.Dataset, yoking_scale: float | None = None, title: str | None = None, *,
                    grey_ambiguous: bool = True) -> Any:
    """Fig. 5B-style composite per layer: red = power law, green = exponential, blue = sentence-yoked.

    Parameters
    ----------
    result : xr.Dataset
        With ``c`` (and ``yoking``, ``ambiguous``) per unit.
    yoking_scale : float, optional
        Yoking index that maps to full blue; the 99th percentile of the
        positive indices of all layers by default (one scale for every layer).
    grey_ambiguous : bool
        Draw ambiguous units grey (when the result has ``ambiguous``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    strength = window_strengths(result, yoking_scale)
    greyed = grey_ambiguous and "ambiguous" in result
    if greyed:
        ambiguous = xr.DataArray(np.asarray(result["ambiguous"].values, dtype=bool), dims=("unit",))
        grey = xr.DataArray(np.asarray(AMBIGUOUS_COLOR), dims=("channel",))
        strength = xr.where(ambiguous, grey, strength).transpose("unit", "channel").assign_coords(strength.coords)
    layers = _layers(result)
    short = layer_labels(layers)
    figure, axes = _figure(1, len(layers))
    for ax, layer in zip(axes[0], layers):
        part = _layer(strength, layer)
        image = _rgb_image(part)
        if image is not None:
            ax.imshow(image[0], extent=image[1], interpolation="nearest")
        else:
            colors = np.clip(np.nan_to_num(part.values, nan=1.0), 0, 1)
            ax.scatter(part["x"].values, part["y"].values, c=colors, s=max(2.0, 4000 / len(colors)), marker="s")
            ax.invert_yaxis()
            ax.set_aspect("equal")
        ax.set_title(short[layer], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    default = "red: power law (c)   green: exponential (1 - c)   blue: sentence-yoked"
    figure.suptitle(title or (default + ("   grey: ambiguous" if greyed else "")), fontsize=10)
    return figure


def plot_theta(result: xr.Dataset) -> Any:
    """Median ``theta`` over units of each layer with the window model at the median parameters."""
    if "theta" not in result:
        raise ToposcopeError("windows have no 'theta'; make them with toposcope.windows.integration_windows")
    figure, axes = _figure(1, 1, size=3.5)
    ax = axes[0, 0]
    delta = np.asarray(result["delta"].values, dtype=np.float64)
    fine = np.linspace(delta.min(), delta.max(), 200)
    from matplotlib import colormaps

    layers = _layers(result)
    short = layer_labels(layers)
    colors = colormaps["viridis"](np.linspace(0, 0.9, len(layers)))
    for color, layer in zip(colors, layers):
        part = result.isel(unit=np.flatnonzero(np.asarray(result["layer"].values).astype(str) == layer)) if layer \
            else result
        ax.plot(delta, np.nanmedian(part["theta"].values, axis=0), "o", color=color, ms=3, label=short[layer])
        params = [float(np.nanmedian(part[k].values)) for k in ("a", "b", "c")]
        ax.plot(fine, window_model(fine, *params), "-", color=color, lw=1)
    ax.set_xlabel("lag delta (words)")
    ax.set_ylabel("theta (normalised change)")
    ax.legend(fontsize=7, frameon=False)
    return figure


def plot_localizer(result: xr.Dataset, *, title: str | None = None) -> Any:
    """t-maps of the localizer contrast per layer, and below each the mask of selective units.

    Parameters
    ----------
    result : xr.Dataset
        From :func:`toposcope.analysis.localizer.localize` (``t``, ``selective``).
    title : str, optional
        Figure title; by default the contrast (e.g. "sentences vs nonwords").

    Returns
    -------
    matplotlib.figure.Figure
        Top row: Welch t per unit on one symmetric scale (one colour bar for
        the row). Bottom row: selective units in :data:`SELECTIVE_COLOR`, the
        rest white, each panel titled with its fraction selective; a key below
        says which colour is selective and by which rule (FDR level or top k).
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.patches import Patch

    if "t" not in result or "selective" not in result:
        raise ToposcopeError("localizer result needs 't' and 'selective'; make it with analysis.localizer.localize")
    layers = _layers(result)
    short = layer_labels(layers)
    figure, axes = _figure(2, len(layers))
    t = result["t"]
    finite = np.abs(t.values[np.isfinite(t.values)])
    top = float(np.percentile(finite, 99)) if finite.size else 0.0
    vmax = top if top > 0 else 1.0
    mask_colors = ListedColormap(["white", SELECTIVE_COLOR])
    for j, layer in enumerate(layers):
        plot_sheet(_layer(t, layer), ax=axes[0, j], cmap="RdBu_r", center=0.0, vmax=vmax, colorbar=False,
                   title=short[layer])
        selective = _layer(result["selective"].astype(float), layer)
        plot_sheet(selective, ax=axes[1, j], cmap=mask_colors, vmin=0, vmax=1, colorbar=False,
                   title=f"selective: {float(selective.mean()):.0%} of units")
    contrast = str(result.attrs.get("contrast", "contrast")).replace("_vs_", " vs ").replace("_", " ")
    # Laid out against both rows (so the columns stay aligned) and drawn beside the t row only.
    figure.colorbar(ScalarMappable(Normalize(-vmax, vmax), "RdBu_r"), ax=axes.ravel().tolist(), shrink=0.42,
                    anchor=(0.0, 0.97), label=f"Welch t ({contrast})")
    if result.attrs.get("mask") == "top_k" and float(result.attrs.get("top_k", -1)) > 0:
        rule = f"the {float(result.attrs['top_k']):.0%} of units with the largest t"
    else:
        rule = f"t > 0 and FDR q < {float(result.attrs.get('alpha', 0.05)):g}"
    key = [Patch(facecolor=SELECTIVE_COLOR, edgecolor="0.3", label=f"selective: {rule}"),
           Patch(facecolor="white", edgecolor="0.3", label="not selective")]
    figure.legend(handles=key, loc="outside lower center", ncols=2, fontsize=9, frameon=False)
    figure.suptitle(title or contrast, fontsize=10)
    return figure
