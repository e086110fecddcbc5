"""TDANN (Margalit et al., Neuron 2024) figures: fLOC category maps and response smoothness.

Both follow the published notebooks of neuroailab/TDANN (``notebooks/F03_IT_Details.md``,
``notebooks/F01_Schematic.md``, ``notebooks/supplement/S01__LossCurves.md``):

``tdann_floc_maps``
    One row per model (each seed of TDANN is a model of the run): the
    single-category t-maps of the last layer of its ``selectivity`` result
    (faces, bodies, characters, places, objects, TDANN's order; colour limits
    +-20 as TDANN's Fig. 3a-b), then the domain map (every unit grey, units whose
    largest t exceeds 10 coloured by that category in TDANN's colours, Fig. 1).
    Beneath, over all seeds (bars: mean per model group, dots: seeds): the
    number of patches per category, their mean area, and the smoothness of
    each category's selectivity (Fig. 3c-g).
``tdann_smoothness``
    Response correlation against cortical distance, per model group and layer
    (one panel each): the mean over seeds with a band of +-1 SD across seeds,
    the chance curve (positions shuffled) dashed, distance in the sheet's units
    (mm for TDANN), and TDANN's smoothness score (mean +- SD over seeds) in the
    panel (supplementary Fig. S1 draws the same curve per model with the
    SEM over windows; its score is ``spatial_utils.smoothness``).

Conventions, stated because the figures depend on them:

* **Seeds.** Models are seeds of one group when their results record the same
  model spec (provenance ``model``, e.g. ``tdann/resnet18``) and the same load
  options apart from ``checkpoint`` (a recipe's ``checkpoints = "DIR/*.torch"``
  gives one model per seed file); everything else (a tau, other positions, a
  different spec) starts another group. Results without provenance form a group each.
* **Domain map** (:func:`toposcope.analysis.selectivity.preferred_category`):
  a unit is labelled with the contrast of its largest t when that t exceeds
  :data:`SELECTIVE_T` (10, TDANN's default threshold), else with none. TDANN
  draws the categories one over the other instead, so a unit passing for two
  shows the last drawn; the winner is the order-free version.
* **Patches** as TDANN's ``ITMap.find_patches``
  (:func:`toposcope.analysis.patches.tdann_patches` with its defaults): at
  each of 100 x 100 anchors over the sheet the Gaussian-weighted mean of the
  units' t (sigma 2.4 sheet units, mm), regions above t = 2 kept when 100 to
  4,500 units^2 and holding at least 10 units.
* **Category smoothness** (:func:`toposcope.analysis.smoothness.category_smoothness`
  with its defaults): ``|t_i - t_j|`` against distance over 25 random sets of
  500 units, 9 equal bins up to 60 mm (up to the diagonal of the sheet when
  shorter), scored with TDANN's ``(max(c) - c[0]) / max(c)``. TDANN also drops
  units whose mean fLOC response is below 0.5 first; the t-maps alone do not
  carry responses, so every unit is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from toposcope.analysis.patches import (
    SELECTIVE_T,
    TDANN_PATCH_MAX_AREA,
    TDANN_PATCH_MIN_AREA,
    TDANN_PATCH_MIN_UNITS,
    TDANN_PATCH_SIGMA,
    TDANN_PATCH_THRESHOLD,
    tdann_patches,
)
from toposcope.analysis.selectivity import preferred_category
from toposcope.analysis.smoothness import (
    TDANN_BINS,
    TDANN_CUTOFF,
    TDANN_SAMPLE_SIZE,
    TDANN_SAMPLES,
    category_smoothness,
)
from toposcope.figures._run import Run, Skip, model_options, write_csv

__all__ = [
    "DOMAIN_ORDER",
    "FIGURES",
    "SELECTIVE_T",
    "T_LIMIT",
    "floc_maps_data",
    "plot_floc_maps",
    "plot_smoothness",
    "seed_groups",
    "smoothness_data",
]

#: TDANN's order of the fLOC domains in its figures.
DOMAIN_ORDER = ("faces", "bodies", "characters", "places", "objects")
#: Colour limits of the single-category t-maps (TDANN Fig. 3a-b: vmin=-20, vmax=20).
T_LIMIT = 20.0
#: Most contrasts drawn when a run holds none of the fLOC domains.
MAX_CONTRASTS = 6


# --------------------------------------------------------------------------- seeds
def seed_groups(run: Run, models: list[str]) -> dict[str, list[str]]:
    """Models grouped into seeds of one configuration (rule in the module docstring).

    Returns
    -------
    dict of str to list of str
        Group label -> its models, both in the order given. The label is the
        spec (``tdann/resnet18``), with the differing options appended when two
        groups share a spec.
    """
    keys: dict[str, tuple] = {}
    for model in models:
        attrs = run.attrs.get(model, {})
        spec = attrs.get("model")
        if spec is None:
            keys[model] = (model, ())
            continue
        options = tuple(sorted((k, v) for k, v in model_options(attrs).items() if k != "checkpoint"))
        keys[model] = (str(spec), options)
    specs = [key[0] for key in dict.fromkeys(keys.values())]
    groups: dict[str, list[str]] = {}
    for model, (spec, options) in keys.items():
        label = spec
        if specs.count(spec) > 1:
            label = f"{spec} ({', '.join(f'{k}={v}' for k, v in options)})"
        groups.setdefault(label, []).append(model)
    return groups


# --------------------------------------------------------------------------- fLOC maps
def _contrasts(maps: Mapping[str, xr.DataArray]) -> list[str]:
    first = next(iter(maps.values()))
    shared = [str(c) for c in first["contrast"].values if all(c in m["contrast"].values for m in maps.values())]
    return [c for c in DOMAIN_ORDER if c in shared] or shared[:MAX_CONTRASTS]


def _last_layer(tmap: xr.DataArray) -> tuple[xr.DataArray, str]:
    if "layer" not in tmap.coords:
        return tmap, ""
    layers = np.asarray(tmap["layer"].values).astype(str)
    last = list(dict.fromkeys(layers.tolist()))[-1]
    return tmap.isel(unit=np.flatnonzero(layers == last)), last


def floc_maps_data(run: Run) -> xr.Dataset:
    """The numbers of ``tdann_floc_maps``: maps, domain labels, patches and smoothness per model.

    Returns
    -------
    xr.Dataset
        Coords ``contrast`` (drawn order) and ``model`` (grouped, in run order).
        Per model ``i``: ``t_i`` (contrast, unit_i), ``domain_i`` (unit_i; index
        into ``contrast`` or -1), ``patch_i`` (contrast, unit_i; patch number
        from 1, 0 outside), ``x_i``, ``y_i`` (unit_i), with attrs ``model``,
        ``layer``, ``group``. Per (model, contrast): ``patch_count``,
        ``patch_area`` (mean, sheet units^2; NaN without patches),
        ``smoothness`` (TDANN score of the category map), ``selective_fraction``
        (share of units with t above the domain threshold). Attrs: the parameters.

    Raises
    ------
    Skip
        Without selectivity results, or when the models share no contrast.
    """
    results = run.results.get("selectivity", {})
    if not results:
        raise Skip("needs selectivity results (fLOC t-maps)")
    groups = seed_groups(run, list(results))
    order = [model for members in groups.values() for model in members]
    maps = {model: _last_layer(results[model]["t"]) for model in order}
    contrasts = _contrasts({m: tmap for m, (tmap, _) in maps.items()})
    if not contrasts:
        raise Skip("the models' t-maps share no contrast")
    group_of = {model: group for group, members in groups.items() for model in members}
    data = xr.Dataset(coords={"contrast": contrasts, "model": order})
    shape = (len(order), len(contrasts))
    summary = {name: np.full(shape, np.nan) for name in ("patch_count", "patch_area", "smoothness",
                                                          "selective_fraction")}
    for i, model in enumerate(order):
        tmap, layer = maps[model]
        shown = tmap.sel(contrast=contrasts).transpose("contrast", "unit")
        dim = f"unit_{i}"
        attrs = {"model": model, "layer": layer, "group": group_of[model]}
        t = np.asarray(shown.values, dtype=np.float32)
        x, y = (np.asarray(shown[coord].values, dtype=np.float64) for coord in ("x", "y"))
        # The maps as stored (float32 t, float64 positions) are what every number below is computed on.
        stored = xr.DataArray(t, dims=("contrast", "unit"),
                              coords={"contrast": contrasts, "x": ("unit", x), "y": ("unit", y)})
        patches = tdann_patches(stored)
        data[f"t_{i}"] = xr.DataArray(t, dims=("contrast", dim), attrs=attrs)
        data[f"domain_{i}"] = xr.DataArray(preferred_category(stored, SELECTIVE_T).values, dims=(dim,),
                                           attrs=attrs)
        data[f"x_{i}"], data[f"y_{i}"] = (dim, x), (dim, y)
        summary["patch_count"][i] = patches["count"].values
        summary["patch_area"][i] = patches["mean_area"].values
        for k, contrast in enumerate(contrasts):
            summary["smoothness"][i, k] = category_smoothness(shown.sel(contrast=contrast, drop=True))
        summary["selective_fraction"][i] = np.mean(t > SELECTIVE_T, axis=1)
        data[f"patch_{i}"] = xr.DataArray(patches["patch_id"].values, dims=("contrast", dim), attrs=attrs)
    for name, values in summary.items():
        data[name] = (("model", "contrast"), values)
    data["group"] = ("model", [group_of[m] for m in order])
    data.attrs.update(selective_t=SELECTIVE_T, t_limit=T_LIMIT, patch_threshold=TDANN_PATCH_THRESHOLD,
                      patch_sigma=TDANN_PATCH_SIGMA, patch_min_area=TDANN_PATCH_MIN_AREA,
                      patch_max_area=TDANN_PATCH_MAX_AREA, patch_min_units=TDANN_PATCH_MIN_UNITS,
                      smoothness_cutoff=TDANN_CUTOFF, smoothness_bins=TDANN_BINS, smoothness_samples=TDANN_SAMPLES,
                      smoothness_sample_size=TDANN_SAMPLE_SIZE)
    return data


def plot_floc_maps(data: xr.Dataset) -> Any:
    """Draw ``tdann_floc_maps`` from :func:`floc_maps_data`'s Dataset alone.

    Each map panel's ``get_gid()`` is ``"tmap:MODEL:CONTRAST"`` or
    ``"domain:MODEL"``, the summary panels' ``"patch_count"``, ``"patch_area"``,
    ``"smoothness"``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from toposcope.plot.domains import domain_colors, plot_domain_map, plot_seed_bars
    from toposcope.plot.maps import PANEL_TITLES, T_LABEL
    from toposcope.plot.sheet import DIVERGING, plot_sheet

    contrasts = [str(c) for c in data["contrast"].values]
    models = [str(m) for m in data["model"].values]
    colors = domain_colors(contrasts)
    limit = float(data.attrs.get("t_limit", T_LIMIT))
    columns = len(contrasts) + 1
    figure = Figure(figsize=(1.9 * columns + 1.0, 1.9 * len(models) + 2.6), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=[1.9 * len(models), 2.4])
    axes = top.subplots(len(models), columns, squeeze=False)
    artist = None
    for i, model in enumerate(models):
        t = data[f"t_{i}"]
        x, y = data[f"x_{i}"].values, data[f"y_{i}"].values
        for k, contrast in enumerate(contrasts):
            ax = axes[i, k]
            tmap = xr.DataArray(t.values[k], dims="unit", coords={"x": ("unit", x), "y": ("unit", y)})
            artist = plot_sheet(tmap, ax=ax, cmap=DIVERGING, vmin=-limit, vmax=limit, colorbar=False,
                                title=PANEL_TITLES.get(contrast, contrast) if i == 0 else None)
            artist.set_rasterized(True)
            ax.set_gid(f"tmap:{model}:{contrast}")
        ax = axes[i, -1]
        plot_domain_map(ax, x, y, data[f"domain_{i}"].values, colors,
                        title=f"domains (t > {data.attrs.get('selective_t', SELECTIVE_T):g})" if i == 0 else None)
        ax.set_gid(f"domain:{model}")
        layer = t.attrs.get("layer", "")
        axes[i, 0].set_ylabel("\n".join(part for part in (model, layer) if part), fontsize=7)
    bar = top.colorbar(artist, ax=axes[:, :-1].ravel().tolist(), shrink=0.7, location="left", pad=0.02)
    bar.set_label(T_LABEL, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    handles = [Patch(color=c, label=PANEL_TITLES.get(n, n)) for n, c in zip(contrasts, colors)]
    axes[0, -1].legend(handles=handles, fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    panels = bottom.subplots(1, 3)
    groups = [str(g) for g in data["group"].values]
    labels = [PANEL_TITLES.get(c, c) for c in contrasts]
    for ax, name, ylabel in zip(panels, ("patch_count", "patch_area", "smoothness"),
                                ("patches per map", "mean patch area (sheet units²)",
                                 "category smoothness (TDANN)")):
        values = {g: data[name].values[[j for j, h in enumerate(groups) if h == g]] for g in dict.fromkeys(groups)}
        plot_seed_bars(ax, values, labels, colors=colors, ylabel=ylabel)
        ax.set_gid(name)
    return figure


def _floc_maps(run: Run, folder: Path) -> list[Path]:
    from toposcope.io import write_netcdf
    from toposcope.plot.sheet import save_figure

    data = floc_maps_data(run)
    stem = folder / "tdann_floc_maps"
    return [*save_figure(plot_floc_maps(data), stem), write_netcdf(data, stem.with_suffix(".nc"))]


# --------------------------------------------------------------------------- smoothness
def _curves(run: Run) -> dict[str, xr.Dataset]:
    return {model: data for model, data in run.results.get("smoothness", {}).items()
            if {"correlation", "distance"} <= set(data.variables)}


def smoothness_data(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The numbers of ``tdann_smoothness``: curves averaged over seeds, and each seed's scores.

    Returns
    -------
    curves : DataFrame
        One row per (group, layer, bin): ``distance`` (bin centre),
        ``correlation_mean``, ``correlation_sd`` (population SD across seeds, as
        TDANN's ``np.std``; 0 for one seed), ``chance_mean``, ``n_seeds``;
        attrs ``distance_units``.
    scores : DataFrame
        One row per (group, model, layer): ``score_tdann``, ``score_toponets``.

    Raises
    ------
    Skip
        Without smoothness curves, or when seeds of one group differ in their
        distance bins (their curves cannot be averaged bin by bin).
    """
    results = _curves(run)
    if not results:
        raise Skip("needs smoothness results with their correlation-vs-distance curves")
    rows, score_rows, units = [], [], ""
    for group, members in seed_groups(run, list(results)).items():
        layers = [str(layer) for layer in results[members[0]]["layer"].values
                  if all(layer in results[m]["layer"].values for m in members)]
        for layer in layers:
            parts = [results[m].sel(layer=layer) for m in members]
            distance = parts[0]["distance"].values
            if not all(np.allclose(p["distance"].values, distance, equal_nan=True) for p in parts):
                raise Skip(f"the seeds of {group!r} have different distance bins in {layer!r}; "
                           "run them with the same positions and bins")
            correlation = np.stack([p["correlation"].values for p in parts]).astype(np.float64)
            chance = np.stack([p["chance"].values if "chance" in p else np.full(len(distance), np.nan)
                               for p in parts]).astype(np.float64)
            mean, sd, chance_mean = _mean_sd(correlation) + (_mean_sd(chance)[0],)
            for b, d in enumerate(distance):
                rows.append({"group": group, "layer": layer, "bin": b, "distance": float(d),
                             "correlation_mean": mean[b], "correlation_sd": sd[b], "chance_mean": chance_mean[b],
                             "n_seeds": len(members)})
            for model, part in zip(members, parts):
                score_rows.append({"group": group, "model": model, "layer": layer,
                                   "score_tdann": float(part["score_tdann"]),
                                   "score_toponets": float(part["score_toponets"])})
        units = units or str(results[members[0]].attrs.get("distance_units", ""))
    curves = pd.DataFrame(rows)
    curves.attrs["distance_units"] = units
    return curves, pd.DataFrame(score_rows)


def _mean_sd(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population SD over seeds (axis 0), NaN where no seed has a value."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an empty bin in every seed
        return np.nanmean(values, axis=0), np.nanstd(values, axis=0)


def plot_smoothness(curves: pd.DataFrame, scores: pd.DataFrame) -> Any:
    """Draw ``tdann_smoothness`` from :func:`smoothness_data`'s tables alone.

    One row per group, one panel per layer (``get_gid()`` ``"curve:GROUP:LAYER"``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    groups = list(dict.fromkeys(curves["group"]))
    layers = {g: list(dict.fromkeys(curves.loc[curves["group"] == g, "layer"])) for g in groups}
    ncols = max(len(v) for v in layers.values())
    figure = Figure(figsize=(3.0 * ncols, 2.6 * len(groups)), layout="constrained")
    axes = figure.subplots(len(groups), ncols, squeeze=False)
    units = curves.attrs.get("distance_units", "")
    for i, group in enumerate(groups):
        for j in range(ncols):
            ax = axes[i, j]
            if j >= len(layers[group]):
                ax.set_visible(False)
                continue
            layer = layers[group][j]
            rows = curves[(curves["group"] == group) & (curves["layer"] == layer)]
            x, mean, sd = (rows[c].to_numpy(dtype=np.float64) for c in ("distance", "correlation_mean",
                                                                        "correlation_sd"))
            n = int(rows["n_seeds"].iloc[0])
            line = ax.plot(x, mean, color="k", linewidth=1.2, marker="o", markersize=2.5,
                           label=f"mean of {n} seed{'s' if n > 1 else ''}")[0]
            ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.25, linewidth=0,
                            label="±1 SD across seeds")
            ax.plot(x, rows["chance_mean"].to_numpy(dtype=np.float64), linestyle="--", color="0.5",
                    linewidth=0.9, label="chance (shuffled positions)")
            mine = scores[(scores["group"] == group) & (scores["layer"] == layer)]["score_tdann"]
            spread = f" ± {np.std(mine):.2f}" if len(mine) > 1 else ""
            ax.text(0.97, 0.95, f"smoothness {np.mean(mine):.2f}{spread}", transform=ax.transAxes,
                    ha="right", va="top", fontsize=7)
            ax.set_title(f"{group}\n{layer}" if j == 0 else layer, fontsize=8)
            ax.set_xlabel(f"cortical distance ({units})" if units else "sheet distance", fontsize=8)
            if j == 0:
                ax.set_ylabel("response correlation (r)", fontsize=8)
            ax.tick_params(labelsize=7)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            ax.set_gid(f"curve:{group}:{layer}")
    axes[0, 0].legend(fontsize=6, frameon=False, loc="lower left")
    return figure


def _smoothness(run: Run, folder: Path) -> list[Path]:
    from toposcope.plot.sheet import save_figure

    curves, scores = smoothness_data(run)
    stem = folder / "tdann_smoothness"
    return [*save_figure(plot_smoothness(curves, scores), stem), write_csv(curves, stem.with_suffix(".csv")),
            write_csv(scores, folder / "tdann_smoothness_scores.csv")]


#: file stem -> builder(run, folder) -> files written; raises Skip when inputs are absent.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {
    "tdann_floc_maps": _floc_maps,
    "tdann_smoothness": _smoothness,
}
