"""Running one recipe task: load the model, extract, analyse, write one netCDF atomically.

:func:`run_task` is a plain top-level function of plain data so that Dask can
ship it to a worker; it is idempotent (a finished result with the same task
hash is left alone) and writes through :func:`toposcope.io.write_netcdf`, so a
worker that dies mid-task leaves no partial file behind.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError

__all__ = ["ANALYSES", "CHECKS", "IN_PROCESS", "is_done", "load_stimuli", "register_subject", "run_task"]

#: Models loaded in this process, keyed by (spec, options); a worker runs many tasks of one model.
_MODELS: dict[str, Any] = {}
#: Whether the running task shows its own progress (extraction batches, word swaps): on in serial
#: runs, off on Dask workers, whose output nobody watches.
_PROGRESS: ContextVar[bool] = ContextVar("toposcope_task_progress", default=False)


#: Spec prefix of models given as Python objects (``run_recipe(models={"name": subject})``).
IN_PROCESS = "python:"
#: Those models by spec, in this process (Dask workers get theirs with each task).
_SUBJECTS: dict[str, Any] = {}


def register_subject(spec: str, subject: Any) -> None:
    """Make ``subject`` the model of ``spec`` (``python:NAME``) in this process."""
    _SUBJECTS[spec] = subject


def load_subject(spec: str, options: dict[str, Any]) -> Any:
    """``toposcope.load_model(spec, **options)``, once per process, bad options as one line.

    A ``python:NAME`` spec is a model handed over as an object (:func:`register_subject`).
    """
    from toposcope import load_model

    if spec.startswith(IN_PROCESS):
        if spec not in _SUBJECTS:
            raise ToposcopeError(f"model {spec!r} was given as a Python object in another process; "
                                 "pass it to run_recipe(models={...}) in this one")
        return _SUBJECTS[spec]
    key = json.dumps([spec, options], sort_keys=True, default=str)
    if key not in _MODELS:
        try:
            _MODELS[key] = load_model(spec, **options)
        except TypeError as error:
            if "unexpected keyword argument" not in str(error):
                raise
            raise ToposcopeError(f"model {spec!r} takes no option in {sorted(options)}: {error}") from None
    return _MODELS[key]


def load_stimuli(entry: dict[str, Any], folder: str | Path) -> Any:
    """A recipe ``[stimuli]`` entry as a StimulusSet; demo digit sets are written under ``folder``."""
    from toposcope.recipes.schema import DEMO_SETS
    from toposcope.stimuli import load

    spec, options = entry["set"], {k: v for k, v in entry.items() if k != "set"}
    if spec in DEMO_SETS:
        from toposcope.demo.digits import held_out_indices, write_digit_stimuli
        from toposcope.stimuli import from_folder

        target, marker = Path(folder) / spec.split(":")[1], json.dumps(options, sort_keys=True)
        done = target / ".complete"
        if done.is_file() and done.read_text() == marker:
            # Written once by the validating process; workers only read it.
            return from_folder(target)
        if target.is_dir():
            shutil.rmtree(target)  # another draw: stale images must not mix in
        if spec == "demo:digits-held-out":
            stimuli = write_digit_stimuli(target, indices=held_out_indices())
        else:
            stimuli = write_digit_stimuli(target, per_class=options.get("per_class", 50), seed=options.get("seed", 0))
        done.write_text(marker)
        return stimuli
    return load(spec, **options)


def _responses(subject: Any, stimuli: Any, params: dict[str, Any], cache: Any) -> dict[str, Any]:
    from toposcope import extract

    return extract(subject, stimuli, params.get("layers"), batch_size=params.get("batch_size", 32),
                   text_mode=params.get("text_mode", "mean"), cache=cache, progress=_PROGRESS.get())


def _smoothness(subject, stimuli, params, cache):
    from toposcope.analysis.layerwise import smoothness_by_layer
    from toposcope.analysis.smoothness import BINS

    keys = ("sampling", "window", "max_units", "max_windows", "n_pairs", "min_pairs", "n_shuffles")
    options = {k: params[k] for k in keys if k in params}
    return smoothness_by_layer(_responses(subject, stimuli, params, cache), params.get("bins", BINS),
                               params.get("mode", "exact"), seed=params.get("seed", 0), **options)


def _dimensionality(subject, stimuli, params, cache):
    from toposcope.analysis.layerwise import dimensionality_by_layer

    options = {"form": params["form"]} if "form" in params else {}
    return dimensionality_by_layer(_responses(subject, stimuli, params, cache), **options)


def _selectivity(subject, stimuli, params, cache):
    from toposcope.analysis.selectivity import tmaps_by_layer

    return tmaps_by_layer(_responses(subject, stimuli, params, cache), params.get("contrasts"))


def _topoloss(subject, stimuli, params, cache):
    from toposcope.workflows.topoloss import DEFAULT_FACTOR, layer_topoloss

    return layer_topoloss(subject, params.get("layers"), params.get("factor", DEFAULT_FACTOR),
                          params.get("interpolation", "bilinear"))


def _efficiency(subject, stimuli, params, cache):
    from toposcope.surgery.performance import accuracy
    from toposcope.workflows.efficiency import DEFAULT_FRACTIONS, efficiency

    measure = accuracy(stimuli, params.get("classes", "number"), subject=subject)
    return efficiency(subject, measure, prune=params.get("prune", list(DEFAULT_FRACTIONS)),
                      scope=params.get("scope", "global"), layers=params.get("layers"),
                      downsample_factors=params.get("downsample_factors"),
                      downsample_layers=params.get("downsample_layers"))


def _localizer(subject, stimuli, params, cache):
    from toposcope.analysis.localizer import localize

    keys = ("fwhm", "alpha", "top_k", "adjacency", "permutations", "seed")
    return localize(_responses(subject, stimuli, params, cache), params.get("contrast", "sentences_vs_nonwords"),
                    **{k: params[k] for k in keys if k in params})


def _windows(subject, stimuli, params, cache):
    from toposcope.workflows.windows import load_corpus, measure_windows

    corpus = load_corpus(params.get("corpus", "synthetic"), seed=params.get("seed", 0))
    keys = ("length", "n_sequences", "n_yoked", "max_delta", "min_swap_pos", "fit", "unswappable", "seed",
            "batch_size")
    yoked = params.get("yoked", (5, 12))
    return measure_windows(subject, corpus, yoked=tuple(yoked) if yoked else None, layers=params.get("layers"),
                           progress=_PROGRESS.get(), **{k: params[k] for k in keys if k in params})


def _encoding(subject, stimuli, params, cache):
    from toposcope.brain.story_fmri import load_story_data
    from toposcope.workflows.encoding import encode_stories

    data = load_story_data(params.get("dataset", "folder"), stories=params.get("stories"),
                           responses=params.get("responses"), root=params.get("root"),
                           subject=params.get("participant"), tr=params.get("tr"), select=params.get("select"))
    keys = ("test", "context", "method", "n_folds", "confounds", "windows", "permutations", "backend", "banded",
            "seed")
    options = {k: params[k] for k in keys if k in params}
    options.update({k: tuple(params[k]) for k in ("delays", "trim") if k in params})
    return encode_stories(subject, data, params.get("layers"), batch_size=params.get("batch_size", 32), cache=cache,
                          progress=_PROGRESS.get(), **options)


def _tgi(subject, stimuli, params, cache):
    from toposcope.analysis.tgi import tgi_by_layer

    return tgi_by_layer(_responses(subject, stimuli, params, cache),
                        **{k: params[k] for k in ("max_dist", "method", "n_samples", "seed") if k in params})


def _components(subject, stimuli, params, cache):
    from toposcope.analysis.components import components_by_layer

    return components_by_layer(_responses(subject, stimuli, params, cache),
                               **{k: params[k] for k in ("n_components", "solver", "seed") if k in params})


def _suites(subject, stimuli, params, cache):
    from toposcope.stimuli.suites import load_suite
    from toposcope.workflows.topoformer import suite_maps_by_layer

    specs = params.get("suites", ["grammar"])
    suites = [s for spec in ([specs] if isinstance(specs, str) else specs)
              for s in load_suite(spec, n_items=params.get("n_items", 60), seed=params.get("seed", 0))]
    return suite_maps_by_layer(subject, suites, layers=params.get("layers"), test=params.get("test", "independent"),
                               batch_size=params.get("batch_size", 32), cache=cache, progress=_PROGRESS.get())


def _check_competence(analysis: dict[str, Any], subject: Any) -> None:
    from toposcope.stimuli.minimal_pairs import load_pairs
    from toposcope.workflows.competence import BOS_MODES, SCORERS

    if "pairs" not in analysis:
        raise ToposcopeError("a competence analysis needs pairs = \"DIR\" (BLiMP data/, a CSV, SyntaxGym suites, "
                             "'syntaxgym' or 'grammar')")
    load_pairs(analysis["pairs"])
    if analysis.get("bos", "auto") not in BOS_MODES:
        raise ToposcopeError(f"bos must be one of {', '.join(BOS_MODES)}, got {analysis['bos']!r}")
    if analysis.get("scorer", "causal") not in SCORERS:
        raise ToposcopeError(f"scorer must be one of {', '.join(SCORERS)}, got {analysis['scorer']!r}")
    if subject.modality != "language":
        raise ToposcopeError("minimal pairs need a language model")


def _competence(subject, stimuli, params, cache):
    from toposcope.workflows.competence import score_competence

    _check_competence(params, subject)
    return score_competence(subject, params["pairs"], bos=params.get("bos", "auto"),
                            batch_size=params.get("batch_size", 32), progress=_PROGRESS.get(),
                            scorer=params.get("scorer", "causal"))


def _check_brainscore(analysis: dict[str, Any], subject: Any) -> None:
    from toposcope.brain import _brainscore as common

    benchmark = analysis.get("benchmark")
    if not isinstance(benchmark, str) or not benchmark:
        raise ToposcopeError("a brainscore analysis needs benchmark = \"NAME\", e.g. "
                             "\"Pereira2018.243sentences-linear-shuffle\"")
    regions = analysis.get("region_layers")
    if not isinstance(regions, dict) or not regions:
        raise ToposcopeError("a brainscore analysis needs region_layers = {REGION = \"LAYER\"}, e.g. "
                             "{language_system = \"layers.5.mlp.dense_h_to_4h\"}")
    common.check_region_layers(subject, regions)
    kind = common.benchmark_kind(benchmark)
    if "units" in analysis:
        _check_units(analysis, subject, kind)
    try:
        common.require(kind)
    except ToposcopeError:
        raise ToposcopeError(f"benchmark {benchmark!r} needs Brain-Score {kind}, which is not installed here; run "
                             f"`toposcope brainscore --setup {kind}`, then run the recipe with that environment's "
                             f"toposcope ($TOPOSCOPE_ENVS/brainscore-{kind}/bin/toposcope run ...)") from None
    common.check_benchmark(kind, benchmark)


def _read_units(path: str) -> Any:
    """The localizer result a brainscore analysis's ``units`` names, read whole (it is small) and closed."""
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as data:
            return data.load()
    except (OSError, ValueError) as error:
        raise ToposcopeError(f"units file {path!r} is not a netCDF localizer result ({error}); write one with "
                             "`toposcope localizer SPEC --stimuli ... -o LOCALIZER.nc`") from None


def _check_units(analysis: dict[str, Any], subject: Any, kind: str) -> None:
    """The localized units cover every mapped layer of this model, with one entry per unit."""
    from toposcope.brain.brainscore_language import unit_masks

    if kind != "language":
        raise ToposcopeError(f"units restricts language benchmarks to localized units; benchmark "
                             f"{analysis['benchmark']!r} is a vision benchmark: remove units")
    units = _read_units(analysis["units"])
    try:
        unit_masks(subject, analysis["region_layers"], units)
    except ToposcopeError as error:
        raise ToposcopeError(f"units file {analysis['units']!r}: {error}") from None


def _brainscore(subject, stimuli, params, cache):
    from toposcope.brain._brainscore import benchmark_kind

    _check_brainscore(params, subject)
    if benchmark_kind(params["benchmark"]) == "language":
        from toposcope.brain.brainscore_language import score

        units = _read_units(params["units"]) if "units" in params else None
        return score(subject, params["benchmark"], params["region_layers"], units=units)
    from toposcope.brain.brainscore_vision import score

    return score(subject, params["benchmark"], params["region_layers"])


def _clusters(subject, stimuli, params, cache):
    from toposcope.analysis.clusters import clusters_by_layer

    keys = ("threshold", "min_size", "connectivity", "fwhm", "condition")
    return clusters_by_layer(_responses(subject, stimuli, params, cache),
                             params.get("contrast", "sentences_vs_nonwords"), **{k: params[k] for k in keys if k in params})


#: kind -> f(subject, stimuli, params, cache) -> Dataset | DataArray; the recipe's analyses.
ANALYSES: dict[str, Callable[..., Any]] = {
    "smoothness": _smoothness,
    "dimensionality": _dimensionality,
    "selectivity": _selectivity,
    "topoloss": _topoloss,
    "efficiency": _efficiency,
    "localizer": _localizer,
    "windows": _windows,
    "encoding": _encoding,
    "tgi": _tgi,
    "components": _components,
    "suites": _suites,
    "competence": _competence,
    "clusters": _clusters,
    "brainscore": _brainscore,
}

#: kind -> check(analysis, subject) run by ``toposcope run`` before any task (bad input as one line).
CHECKS: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "competence": _check_competence,
    "brainscore": _check_brainscore,
}


def is_done(task: Any, output_dir: str | Path) -> bool:
    """Whether ``task``'s result exists and was computed by this very task (same hash)."""
    path = Path(output_dir) / task.relative_path
    if not path.is_file():
        return False
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as data:
            # A DataArray result keeps its attrs on its variable, a Dataset on the file.
            stored = [data.attrs.get("task_sha256"), *(v.attrs.get("task_sha256") for v in data.data_vars.values())]
            return task.task_sha256 in stored
    except (OSError, ValueError):
        return False  # unreadable: recompute and replace it


def run_task(task: Any, output_dir: str | Path, cache: Any = True, force: bool = False,
             progress: bool = False, subject: Any = None) -> str:
    """Compute one task and write its netCDF; returns the result's path.

    Parameters
    ----------
    task : Task
    output_dir : path
        The run's output folder; the result goes to ``task.relative_path`` inside it.
    cache : bool or path
        The response cache of :func:`toposcope.extract`.
    force : bool
        Recompute even when a matching result exists.
    progress : bool
        Show the task's own progress bars (extraction, word swaps).
    subject : Subject, optional
        The model of a ``python:NAME`` task (shipped to a Dask worker with the task).
    """
    from toposcope.io import provenance, write_netcdf

    output_dir = Path(output_dir)
    path = output_dir / task.relative_path
    if not force and is_done(task, output_dir):
        return str(path)
    if subject is not None:
        register_subject(task.spec, subject)
    subject = load_subject(task.spec, task.options)
    stimuli = load_stimuli(task.stimuli, output_dir / "stimuli") if task.stimuli else None
    token = _PROGRESS.set(progress)
    try:
        result = ANALYSES[task.kind](subject, stimuli, task.params, cache)
    finally:
        _PROGRESS.reset(token)
    attrs = provenance(**subject.provenance(), recipe_sha256=task.recipe_sha256, task_sha256=task.task_sha256,
                       recipe_model=task.model, analysis=task.analysis, kind=task.kind,
                       stimuli=task.stimuli["set"] if task.stimuli else None,
                       stimulus_set_sha256=stimuli.content_hash() if stimuli is not None else None,
                       parameters=str(sorted(task.params.items())), **task.extra)
    write_netcdf(result, path, attrs)
    return str(path)
