"""Figures of the language papers: TopoNets Fig. 5B and TopoLM's localizer and noun-verb maps.

=====================  ===========================================  ================================
file stem              what                                         needs results of
=====================  ===========================================  ================================
fig5b_windows          TopoNets Fig. 5B: power-law (red, ``c``)     ``windows``
                       and exponential (green, ``1 - c``) strength
                       maps, two rows per model (by tau), one column
                       per layer, ambiguous fits grey, plus median
                       ``c`` (and yoking) per layer coloured by tau
topolm_localizer       TopoLM: sentences vs non-words t-maps per    ``localizer`` with a
                       layer, language-selective units outlined,    sentences-vs-* contrast
                       Moran's I per layer per model
topolm_nouns_verbs     TopoLM: nouns vs verbs t-maps (units with    ``localizer`` with contrast
                       FDR p >= alpha set to 0, as TopoLM draws      ``nouns_vs_verbs``
                       them) per stimulus set and layer, language-
                       selective units outlined when the run has a
                       language localizer; Moran's I per layer
=====================  ===========================================  ================================

Which localizer result is which (a recipe runs the ``localizer`` kind several
times under names of its choosing, so names are never trusted):

* the **language localizer** is the result whose ``contrast`` attribute is
  ``sentences_vs_nonwords``; failing that, the first analysis (by name) whose
  contrast starts with ``sentences_vs_``;
* a **noun-verb** result is any result whose ``contrast`` is ``nouns_vs_verbs``;
  its row is labelled by the result's ``stimulus_set`` attribute (``moseley``,
  ``elli``, ...), falling back to the analysis name, and rows go Moseley, Elli,
  then the rest by analysis name.

Models of Fig. 5B are ordered by their ``tau`` load option (baseline ``tau = 0``
first, then unknown taus by name); its columns are the layers every model has,
in the first model's order. Every layer of a localizer result is drawn, wrapped
after :data:`TMAP_COLUMNS` panels.

Data files beside each figure: ``STEM.nc`` holds, per model (``_i``) or per
(model, analysis) (``_i_j``), the values drawn with their own unit dim and the
units' ``x``, ``y``, ``layer``; ``STEM.csv`` holds the per-layer numbers of the
summary panel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from toposcope.figures._run import Run, Skip, write_csv
from toposcope.figures._style import model_styles

__all__ = ["FIGURES", "TMAP_COLUMNS", "language_localizer", "layer_names", "noun_verb_analyses"]

#: Panels per row of the t-map figures before wrapping (TopoLM's GPT-2 has 12 blocks).
TMAP_COLUMNS = 12
#: The language localizer's contrast, and the prefix of acceptable stand-ins.
LANGUAGE_CONTRAST = "sentences_vs_nonwords"
NOUN_VERB_CONTRAST = "nouns_vs_verbs"
#: Row order of the noun-verb stimulus sets.
NOUN_VERB_SETS = ("moseley", "elli")


def layer_names(data: xr.Dataset) -> list[str]:
    """The layers of a per-unit result, in unit order (``[""]`` without a ``layer`` coord)."""
    if "layer" not in data.coords:
        return [""]
    return list(dict.fromkeys(np.asarray(data["layer"].values).astype(str).tolist()))


def _unit_block(data: xr.Dataset | xr.DataArray, layers: list[str]) -> np.ndarray:
    """Indices of the units of ``layers``, layer by layer in the given order."""
    if layers == [""] or "layer" not in data.coords:
        return np.arange(data.sizes["unit"])
    names = np.asarray(data["layer"].values).astype(str)
    return np.concatenate([np.flatnonzero(names == layer) for layer in layers])


def _add_units(data: xr.Dataset, suffix: str, source: xr.Dataset | xr.DataArray, index: np.ndarray,
               variables: dict[str, np.ndarray], attrs: dict[str, object]) -> None:
    """Variables of one model on their own unit dim ``unit_SUFFIX`` with the units' x, y, layer."""
    dim = f"unit_{suffix}"
    for name, values in variables.items():
        data[f"{name}_{suffix}"] = xr.DataArray(values, dims=(dim,), attrs=attrs)
    data[f"x_{suffix}"] = (dim, np.asarray(source["x"].values)[index])
    data[f"y_{suffix}"] = (dim, np.asarray(source["y"].values)[index])
    layers = np.asarray(source["layer"].values).astype(str)[index] if "layer" in source.coords else \
        np.full(index.size, "")
    data[f"layer_{suffix}"] = (dim, layers)


# ----------------------------------------------------------------------------- Fig. 5B
def _fig5b(run: Run, folder: Path) -> list[Path]:
    from toposcope.io import write_netcdf
    from toposcope.plot.language import plot_window_rows
    from toposcope.plot.sheet import save_figure

    results = {model: data for model, data in run.results.get("windows", {}).items() if "c" in data}
    if not results:
        raise Skip("needs windows results (kind = \"windows\") with the fitted power-law weight c")
    styles = model_styles(run, list(results))
    taus = {model: styles[model].tau for model in results}
    models = sorted(results, key=lambda m: (taus[m] is None, taus[m] or 0.0, m))
    first = layer_names(results[models[0]])
    layers = [layer for layer in first if all(layer in layer_names(results[m]) for m in models)]
    if not layers:
        raise Skip(f"the models' windows share no layer (first model has {first})")
    # The architecture's hue shaded by tau, as in Figs. 2-4; baselines black.
    colors = {m: styles[m].color if styles[m].topographic else "black" for m in models}
    figure = plot_window_rows({m: results[m] for m in models}, layers, colors)
    data = xr.Dataset(coords={"layer": layers})
    rows = []
    for i, model in enumerate(models):
        result = results[model]
        index = _unit_block(result, layers)
        c = np.asarray(result["c"].values, dtype=np.float64)[index]
        variables = {"c": c, "exponential": 1.0 - c}
        if "ambiguous" in result:  # drawn grey: the other basin fits within the margin
            variables["ambiguous"] = np.asarray(result["ambiguous"].values, dtype=bool)[index]
        if "yoking" in result:
            variables["yoking"] = np.asarray(result["yoking"].values, dtype=np.float64)[index]
        attrs = {"model": model, "tau": np.nan if taus[model] is None else taus[model]}
        _add_units(data, str(i), result, index, variables, attrs)
        names = np.asarray(data[f"layer_{i}"].values)
        for layer in layers:
            inside = names == layer
            row = {"model": model, "tau": attrs["tau"], "layer": layer, "n_units": int(inside.sum()),
                   "median_c": float(np.nanmedian(c[inside])), "median_exponential": float(np.nanmedian(1 - c[inside]))}
            for key in ("yoking", "r2"):
                row[f"median_{key}"] = float(np.nanmedian(np.asarray(result[key].values)[index][inside])) \
                    if key in result else np.nan
            row["fraction_ambiguous"] = float(variables["ambiguous"][inside].mean()) if "ambiguous" in variables \
                else np.nan
            rows.append(row)
    stem = folder / "fig5b_windows"
    return [*save_figure(figure, stem), write_netcdf(data, stem.with_suffix(".nc")),
            write_csv(pd.DataFrame(rows), stem.with_suffix(".csv"))]


# ----------------------------------------------------------------------------- TopoLM
def _localizers(run: Run) -> dict[str, dict[str, xr.Dataset]]:
    return {name: results for name, results in run.of_kind("localizer").items()
            if all("t" in data for data in results.values())}


def _contrast(results: dict[str, xr.Dataset]) -> str:
    return str(next(iter(results.values())).attrs.get("contrast", ""))


def language_localizer(run: Run) -> str | None:
    """Name of the run's language-localizer analysis (see the module docstring for the rule), or None."""
    analyses = _localizers(run)
    exact = [name for name, results in analyses.items() if _contrast(results) == LANGUAGE_CONTRAST]
    loose = [name for name, results in analyses.items() if _contrast(results).startswith("sentences_vs_")]
    chosen = exact or loose
    return chosen[0] if chosen else None


def noun_verb_analyses(run: Run) -> list[tuple[str, str]]:
    """``(analysis name, stimulus-set label)`` of every noun-verb result, Moseley first, then Elli, then by name."""
    found = []
    for name, results in _localizers(run).items():
        if _contrast(results) == NOUN_VERB_CONTRAST:
            label = str(next(iter(results.values())).attrs.get("stimulus_set", "") or name)
            found.append((name, label))
    rank = {s: i for i, s in enumerate(NOUN_VERB_SETS)}
    return sorted(found, key=lambda item: (rank.get(item[1].lower(), len(rank)), item[0]))


def _moran(data: xr.Dataset) -> dict[str, float]:
    if "morans_i" not in data or "layers" not in data.coords:
        return {}
    return dict(zip(np.asarray(data["layers"].values).astype(str).tolist(),
                    np.asarray(data["morans_i"].values, dtype=np.float64).tolist()))


def _localizer_figure(run: Run, folder: Path) -> list[Path]:
    from toposcope.io import write_netcdf
    from toposcope.plot.language import TmapRow, plot_tmap_rows
    from toposcope.plot.sheet import save_figure

    name = language_localizer(run)
    if name is None:
        raise Skip(f"needs localizer results with contrast {LANGUAGE_CONTRAST!r} (or another sentences_vs_*)")
    results = run.analyses[name]
    layers = layer_names(next(iter(results.values())))
    rows, frames = [], []
    data = xr.Dataset(attrs={"analysis": name, "contrast": _contrast(results)})
    for i, (model, result) in enumerate(results.items()):
        index = _unit_block(result, [layer for layer in layers if layer in layer_names(result)])
        rows.append(TmapRow(model, result["t"], result["selective"].astype(bool), _moran(result)))
        _add_units(data, str(i), result, index, {
            "t": np.asarray(result["t"].values, dtype=np.float64)[index],
            "selective": np.asarray(result["selective"].values, dtype=np.int8)[index],
        }, {"model": model})
        frames.append(_per_layer(result, model, name))
    figure = plot_tmap_rows(rows, layers, ncols=TMAP_COLUMNS,
                            title=f"{_contrast(results)}: language-selective units outlined (analysis {name!r})")
    stem = folder / "topolm_localizer"
    return [*save_figure(figure, stem), write_netcdf(data, stem.with_suffix(".nc")),
            write_csv(pd.concat(frames, ignore_index=True), stem.with_suffix(".csv"))]


def _per_layer(result: xr.Dataset, model: str, analysis: str, label: str = "") -> pd.DataFrame:
    layers = np.asarray(result["layers"].values).astype(str) if "layers" in result.coords else np.array([""])
    names = np.asarray(result["layer"].values).astype(str) if "layer" in result.coords else \
        np.full(result.sizes["unit"], "")
    selective = np.asarray(result["selective"].values, dtype=bool)
    rows = []
    for k, layer in enumerate(layers):
        inside = names == layer
        rows.append({"model": model, "analysis": analysis, "stimulus_set": label or result.attrs.get("stimulus_set", ""),
                     "layer": layer, "n_units": int(inside.sum()), "n_selective": int(selective[inside].sum()),
                     "fraction_selective": float(result["fraction_selective"].values[k])
                     if "fraction_selective" in result else np.nan,
                     "morans_i": float(result["morans_i"].values[k]) if "morans_i" in result else np.nan})
    return pd.DataFrame(rows)


def _nouns_verbs(run: Run, folder: Path) -> list[Path]:
    from toposcope.io import write_netcdf
    from toposcope.plot.language import TmapRow, plot_tmap_rows
    from toposcope.plot.sheet import save_figure

    analyses = noun_verb_analyses(run)
    if not analyses:
        raise Skip(f"needs localizer results with contrast {NOUN_VERB_CONTRAST!r} (Moseley or Elli stimuli)")
    language = language_localizer(run)
    masks = run.analyses.get(language, {}) if language else {}
    first = run.analyses[analyses[0][0]]
    layers = layer_names(next(iter(first.values())))
    rows, frames = [], []
    data = xr.Dataset(attrs={"language_localizer": language or "", "analyses": ", ".join(a for a, _ in analyses)})
    for i, model in enumerate(run.models):
        mask = _language_mask(masks.get(model), run.analyses[analyses[0][0]].get(model))
        for j, (name, label) in enumerate(analyses):
            result = run.analyses[name].get(model)
            if result is None:
                continue
            shown = _significant_t(result)
            rows.append(TmapRow(f"{model}\n{label}", shown, mask, _moran(result)))
            index = np.arange(result.sizes["unit"])
            variables = {"t": np.asarray(result["t"].values, dtype=np.float64),
                         "shown": np.asarray(shown.values, dtype=np.float64),
                         "significant": np.asarray(_is_significant(result), dtype=np.int8)}
            if mask is not None:
                variables["language_selective"] = np.asarray(mask.values, dtype=np.int8)
            _add_units(data, f"{i}_{j}", result, index, variables,
                       {"model": model, "analysis": name, "stimulus_set": label})
            frame = _per_layer(result, model, name, label)
            frame["n_significant"] = _count_by_layer(result, _is_significant(result))
            frame["n_language_selective"] = _count_by_layer(result, None if mask is None else mask.values)
            frames.append(frame)
    figure = plot_tmap_rows(rows, layers, ncols=TMAP_COLUMNS,
                            title="nouns vs verbs (FDR-significant units; language-selective units outlined)"
                            if masks else "nouns vs verbs (FDR-significant units)")
    stem = folder / "topolm_nouns_verbs"
    return [*save_figure(figure, stem), write_netcdf(data, stem.with_suffix(".nc")),
            write_csv(pd.concat(frames, ignore_index=True), stem.with_suffix(".csv"))]


def _is_significant(result: xr.Dataset) -> np.ndarray:
    alpha = float(result.attrs.get("alpha", 0.05))
    return np.asarray(result["p_fdr"].values, dtype=np.float64) < alpha


def _significant_t(result: xr.Dataset) -> xr.DataArray:
    """t where FDR-significant, else 0 (TopoLM draws ``t * (p_fdr < 0.05)``)."""
    return result["t"].where(_is_significant(result), 0.0)


def _count_by_layer(result: xr.Dataset, flags: np.ndarray | None) -> list[int]:
    layers = np.asarray(result["layers"].values).astype(str) if "layers" in result.coords else np.array([""])
    if flags is None:
        return [-1] * len(layers)
    names = np.asarray(result["layer"].values).astype(str) if "layer" in result.coords else \
        np.full(result.sizes["unit"], "")
    return [int(np.asarray(flags, dtype=bool)[names == layer].sum()) for layer in layers]


def _language_mask(language: xr.Dataset | None, target: xr.Dataset | None) -> xr.DataArray | None:
    """The language-selective mask on ``target``'s units (same layer, x, y), or None when they differ."""
    if language is None or target is None or language.sizes["unit"] != target.sizes["unit"]:
        return None
    for coord in ("layer", "x", "y"):
        if coord in target.coords and not np.array_equal(np.asarray(language[coord].values),
                                                          np.asarray(target[coord].values)):
            return None
    return target["t"].copy(data=np.asarray(language["selective"].values, dtype=bool))


#: file stem -> builder(run, folder) -> files written; raises Skip when inputs are absent.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {
    "fig5b_windows": _fig5b,
    "topolm_localizer": _localizer_figure,
    "topolm_nouns_verbs": _nouns_verbs,
}
