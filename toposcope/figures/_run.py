"""A finished run's results in memory, and the helpers every paper figure shares."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from toposcope._validation import ToposcopeError

__all__ = ["Run", "Skip", "is_baseline", "load_run", "model_options", "performance", "summary", "write_csv"]


class Skip(Exception):
    """A figure whose inputs are absent; the message is the one-line reason."""


@dataclass
class Run:
    """The results of one output folder.

    ``results[kind][model]`` is the first analysis of that kind (by name);
    ``analyses[name][model]`` every analysis by its recipe name (a recipe may
    run one kind several times, e.g. the localizer on three stimulus sets);
    ``kinds[name]`` the kind of each named analysis; ``attrs[model]`` the
    model's provenance; ``recipe`` the run's ``recipe.json`` (name, hash, source).
    """

    path: Path
    results: dict[str, dict[str, xr.Dataset]] = field(default_factory=dict)
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    analyses: dict[str, dict[str, xr.Dataset]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return list(self.attrs)

    def of_kind(self, kind: str) -> dict[str, dict[str, xr.Dataset]]:
        """Every named analysis of ``kind``: ``{analysis name: {model: Dataset}}``, in name order."""
        return {name: self.analyses[name] for name, k in self.kinds.items() if k == kind}


def _merged_attrs(data: xr.Dataset) -> dict[str, Any]:
    # A DataArray result (t-maps) keeps its provenance on its variable, a Dataset on the file.
    merged: dict[str, Any] = {}
    for variable in data.data_vars.values():
        merged.update(variable.attrs)
    merged.update(data.attrs)
    return merged


def load_run(out_dir: str | Path) -> Run:
    """Read every result of a ``toposcope run`` folder into memory.

    Parameters
    ----------
    out_dir : path
        A folder written by ``toposcope run`` (holds ``recipe.json`` and ``results/``).

    Returns
    -------
    Run
        Results keyed by analysis kind, then by the recipe's model name; when a
        recipe runs one kind twice (two named analyses), the first by name is used.

    Raises
    ------
    ToposcopeError
        If ``out_dir`` is not a run output folder.
    """
    path = Path(out_dir).expanduser()
    if not (path / "recipe.json").is_file():
        raise ToposcopeError(f"{str(path)!r} is not a toposcope run output (no recipe.json); "
                             "give the folder written by `toposcope run RECIPE -o OUT`")
    try:
        recipe = json.loads((path / "recipe.json").read_text(encoding="utf-8"))
    except ValueError:
        raise ToposcopeError(f"{str(path / 'recipe.json')!r} is not valid JSON; rerun the recipe") from None
    run = Run(path, recipe=recipe if isinstance(recipe, dict) else {})
    for file in sorted((path / "results").glob("*/*.nc")):
        with xr.open_dataset(file, engine="h5netcdf") as handle:
            data = handle.load()
        attrs = _merged_attrs(data)
        kind = str(attrs.get("kind", file.parent.name))
        model = str(attrs.get("recipe_model", file.stem))
        analysis = str(attrs.get("analysis", file.parent.name))
        run.results.setdefault(kind, {}).setdefault(model, data)
        run.analyses.setdefault(analysis, {})[model] = data
        run.kinds[analysis] = kind
        run.attrs.setdefault(model, {}).update({k: v for k, v in attrs.items() if k not in run.attrs.get(model, {})})
    return run


def model_options(attrs: dict[str, Any]) -> dict[str, str]:
    """A result's ``model_options`` attr (``"pool=mean, tau=5.0"``) as a dict of strings."""
    text = str(attrs.get("model_options", "") or "")
    pairs = (part.split("=", 1) for part in text.split(", ") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


def is_baseline(name: str, attrs: dict[str, Any]) -> bool:
    """Whether a model is a non-topographic baseline (see the module docstring for the rule)."""
    options = model_options(attrs)
    try:
        if "tau" in options and float(options["tau"]) == 0.0:
            return True
    except ValueError:
        pass
    if options.get("topographic", "").lower() in ("false", "0", "no"):
        return True
    if options.get("checkpoint", "").lower() == "none":  # random weights: an untrained control
        return True
    return "baseline" in name.lower() or "baseline" in str(attrs.get("model", "")).lower()


def performance(run: Run, model: str) -> float | None:
    recorded = run.attrs[model].get("performance")
    if recorded is not None:
        return float(recorded)
    efficiency = run.results.get("efficiency", {}).get(model)
    if efficiency is not None and "baseline" in efficiency.attrs:
        return float(efficiency.attrs["baseline"])
    return None


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    from toposcope.io import atomic_path

    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path


def summary(run: Run) -> pd.DataFrame:
    """One row per model: smoothness (raw and chance-corrected), ED, performance (NaN where absent), baseline flag."""
    rows = []
    for model in run.models:
        smooth = run.results.get("smoothness", {}).get(model)
        dim = run.results.get("dimensionality", {}).get(model)
        score = performance(run, model)
        rows.append({
            "model": model,
            "smoothness": float(smooth["score_toponets"].mean()) if smooth is not None else np.nan,
            # Results written before the chance-corrected score existed lack it.
            "smoothness_corrected": (float(smooth["score_toponets_corrected"].mean())
                                     if smooth is not None and "score_toponets_corrected" in smooth else np.nan),
            "effective_dimensionality": float(dim["effective_dimensionality"].mean()) if dim is not None else np.nan,
            "performance": np.nan if score is None else score,
            "topographic": not is_baseline(model, run.attrs[model]),
        })
    return pd.DataFrame(rows, columns=["model", "smoothness", "smoothness_corrected", "effective_dimensionality",
                                       "performance", "topographic"])
