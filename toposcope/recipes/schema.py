"""Recipe files: the TOML schema, its checks, and expansion into (model x analysis) tasks.

A recipe names models, stimulus sets and analyses::

    [recipe]
    name = "demo"
    figures = ["fig4_efficiency"]      # paper figures to build (toposcope.figures.FIGURES); all by default

    [[models]]
    spec = "demo/topo"
    options = {pool = "mean"}          # load options of toposcope.load_model
    # taus = [0.5, 1, 5]               # one model per tau
    # checkpoints = "ckpts/*.pt"       # one model per matching file (relative to the working folder)
    # revisions = ["step1000", "step3000"]  # one model per hub revision: a training trajectory
    # checkpoints = "run/steps.csv"    # or a table: step, checkpoint[, tokens]; tokens_per_step = N

    [stimuli]
    digits = "demo:digits"             # or a named set, NAME:DIR, a folder, a .txt file

    [[analyses]]
    kind = "smoothness"
    stimuli = "digits"
    bins = 10

Everything here is checked before any model runs; every problem is a one-line
:class:`~toposcope._validation.ToposcopeError`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # Python 3.11+; tomli is the same parser for 3.10
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

from toposcope._validation import ToposcopeError, check_bool, check_option, close_matches

__all__ = ["ANALYSIS_KEYS", "SHIPPED", "Recipe", "Task", "expand", "load_recipe", "parse_recipe", "recipe_header", "shipped_recipes"]

TOP_KEYS = ("recipe", "models", "stimuli", "analyses")
RECIPE_KEYS = ("name", "description", "paper", "figure", "figures")
MODEL_KEYS = ("spec", "name", "options", "taus", "checkpoints", "seed", "trust_checkpoint", "revisions",
              "tokens_per_step")
#: Keys every analysis may have.
COMMON_KEYS = ("kind", "name", "stimuli", "layers", "batch_size", "text_mode")
#: Each analysis kind's own parameters (passed to its library function).
ANALYSIS_KEYS: dict[str, tuple[str, ...]] = {
    "smoothness": ("bins", "mode", "seed", "sampling", "window", "max_units", "max_windows", "n_pairs",
                   "min_pairs", "n_shuffles"),
    "dimensionality": ("form",),
    "selectivity": ("contrasts",),
    "topoloss": ("factor", "interpolation"),
    "efficiency": ("classes", "prune", "scope", "downsample_factors", "downsample_layers"),
    "localizer": ("contrast", "fwhm", "alpha", "top_k", "adjacency", "permutations", "seed"),
    "windows": ("corpus", "length", "n_sequences", "n_yoked", "yoked", "max_delta", "min_swap_pos", "fit",
                "unswappable", "seed"),
    "encoding": ("dataset", "stories", "responses", "root", "participant", "tr", "select", "test", "context",
                 "method", "delays", "trim", "n_folds", "confounds", "windows", "permutations", "backend", "banded",
                 "seed"),
    "tgi": ("max_dist", "method", "n_samples", "seed"),
    "components": ("n_components", "solver", "seed"),
    "suites": ("suites", "n_items", "test", "seed"),
    "competence": ("pairs", "bos", "scorer"),
    "clusters": ("contrast", "threshold", "min_size", "connectivity", "fwhm", "condition"),
    "brainscore": ("benchmark", "region_layers", "units"),
}
#: Kinds that need no stimuli (they read weights, or build their own).
NO_STIMULI = ("topoloss", "windows", "encoding", "suites", "competence", "brainscore")
#: Stimulus specs made in code from the shipped digit data.
DEMO_SETS = ("demo:digits", "demo:digits-held-out")


#: The shipped recipes (also the repository's ``analyses/`` folder).
SHIPPED = Path(__file__).resolve().parent.parent / "data" / "recipes"


def shipped_recipes() -> list[str]:
    """Names of the shipped recipes, e.g. ``["demo", "tdann_floc", ...]``."""
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def recipe_header(path: str | Path) -> dict[str, Any]:
    """The ``[recipe]`` table of a recipe file (name, paper, figure, ...), without checking the rest."""
    return tomllib.loads(Path(path).read_text(encoding="utf-8")).get("recipe", {})


@dataclass(frozen=True)
class Task:
    """One (model x analysis) unit of work; writes ``results/ANALYSIS/MODEL.nc``.

    Everything in it is plain data, so it pickles to a Dask worker.
    """

    model: str
    spec: str
    options: dict[str, Any]
    analysis: str
    kind: str
    params: dict[str, Any]
    stimuli: dict[str, Any] | None
    recipe_sha256: str
    task_sha256: str
    #: Attributes of the model written on its results (``trajectory``, ``step``, ``tokens`` of a series).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def relative_path(self) -> str:
        """Where the result goes inside the output folder."""
        return f"results/{self.analysis}/{self.model}.nc"


@dataclass
class Recipe:
    """A parsed, checked recipe.

    ``models`` holds one dict per model after expanding taus and globs
    (``name``, ``spec``, ``options``); ``stimuli`` maps a name to ``{"set": spec, **options}``;
    ``analyses`` is one dict per analysis with ``kind`` and ``name`` filled in.
    """

    name: str
    models: list[dict[str, Any]]
    stimuli: dict[str, dict[str, Any]]
    analyses: list[dict[str, Any]]
    source: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path)

    @property
    def sha256(self) -> str:
        """Hash of what the recipe computes (name, stimuli, analyses); models may be swept freely."""
        return _hash({"name": self.name, "stimuli": self.stimuli, "analyses": self.analyses})


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _check_keys(where: str, table: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ToposcopeError(f"{where} must be a table, got {type(table).__name__}")
    for key in table:
        if key not in allowed:
            near = close_matches(key, allowed)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ToposcopeError(f"unknown key {key!r} in {where}{hint}; allowed: {', '.join(allowed)}")
    return table


def load_recipe(path: str | Path, models: list[str] | None = None,
                options: dict[str, Any] | None = None) -> Recipe:
    """Read and check a recipe file (a path, or the name of a shipped recipe such as ``"demo"``).

    Parameters
    ----------
    path : path or str
        A ``.toml`` file, or the name of a shipped recipe (:func:`shipped_recipes`).
    models : list of str, optional
        Model specs replacing the recipe's ``[[models]]`` (``toposcope run --model``).
    options : dict, optional
        Load options added to every model (``toposcope run -O checkpoint=my.pt``),
        replacing the recipe's own values of the same keys.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        shipped = SHIPPED / f"{path.stem}.toml"
        if path.suffix in ("", ".toml") and path.parent == Path(".") and shipped.is_file():
            path = shipped
        else:
            raise ToposcopeError(f"recipe {str(path)!r} does not exist; give a .toml file or one of {shipped_recipes()}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ToposcopeError(f"recipe {path.name}: not valid TOML ({error})") from None
    if models:
        data["models"] = [{"spec": spec} for spec in models]
    if options:
        data["models"] = [_with_options(i, entry, options) for i, entry in enumerate(data.get("models") or [])]
    # Relative paths (checkpoint globs, like load options) are from the working folder,
    # so a shipped recipe and a copy of it behave the same.
    return parse_recipe(data, base_dir=Path.cwd())


def _with_options(index: int, entry: Any, options: dict[str, Any]) -> Any:
    """A ``[[models]]`` entry with ``options`` merged in; a sweep's own key may not be overridden."""
    if not isinstance(entry, dict):
        return entry  # parse_recipe reports it
    for option, sweep in (("checkpoint", "checkpoints"), ("tau", "taus")):
        if option in options and sweep in entry:
            raise ToposcopeError(f"[[models]] #{index + 1} sweeps {sweep}; -O {option}=... would give every model "
                                 f"the same {option}: edit the recipe or pass --model SPEC instead")
    own = entry.get("options") or {}
    if not isinstance(own, dict):
        return entry  # parse_recipe reports a non-table options
    return {**entry, "options": {**own, **options}}


def parse_recipe(data: dict[str, Any], base_dir: str | Path = ".") -> Recipe:
    """Check a recipe given as a dict (parsed TOML) and expand its models."""
    base_dir = Path(base_dir)
    _check_keys("the recipe", data, TOP_KEYS)
    head = _check_keys("[recipe]", data.get("recipe", {}), RECIPE_KEYS)
    name = str(head.get("name") or "recipe")
    if "figures" in head:
        from toposcope.figures import check_figure_names

        try:
            check_figure_names(head["figures"])
        except ToposcopeError as error:
            raise ToposcopeError(f"[recipe] {error}") from None
    stimuli = {}
    for key, value in _check_keys("[stimuli]", data.get("stimuli", {}), tuple(data.get("stimuli", {}))).items():
        entry = dict(value) if isinstance(value, dict) else {"set": value}
        if not isinstance(entry.get("set"), str):
            raise ToposcopeError(f"stimuli {key!r} needs a set spec, e.g. {key} = \"floc\" or {{set = \"floc\"}}")
        stimuli[key] = entry
    models = [m for i, entry in enumerate(data.get("models") or []) for m in _expand_model(i, entry, base_dir)]
    if not models:
        raise ToposcopeError("the recipe has no [[models]]; add one or pass --model SPEC")
    twice = _first_repeated(m["name"] for m in models)
    if twice:
        raise ToposcopeError(f"two models are both named {twice!r}; give each [[models]] a distinct name")
    analyses = [_check_analysis(i, entry, stimuli, base_dir) for i, entry in enumerate(data.get("analyses") or [])]
    if not analyses:
        raise ToposcopeError("the recipe has no [[analyses]]; add at least one")
    twice = _first_repeated(a["name"] for a in analyses)
    if twice:
        raise ToposcopeError(f"two analyses are both named {twice!r}; give them distinct name = \"...\"")
    return Recipe(name, models, stimuli, analyses, source=data, base_dir=base_dir)


def _first_repeated(names: Any) -> str | None:
    """The alphabetically first name that occurs more than once, or None."""
    names = list(names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    return repeated[0] if repeated else None


def model_label(text: str) -> str:
    """A file-name-safe model label: ``toponets/resnet18`` -> ``toponets-resnet18``."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", text).strip("-")


def _expand_model(index: int, entry: Any, base_dir: Path) -> list[dict[str, Any]]:
    where = f"[[models]] #{index + 1}"
    entry = _check_keys(where, entry, MODEL_KEYS)
    if not isinstance(entry.get("spec"), str):
        raise ToposcopeError(f"{where} needs spec = \"...\" (e.g. \"demo/topo\"); see `toposcope layers --help`")
    spec, options = entry["spec"], dict(_check_keys(f"{where} options", entry.get("options", {}),
                                                     tuple(entry.get("options", {}))))
    # seed (random initialisations) and the opt-in to unpickle untrusted files are per model.
    for key in ("seed", "trust_checkpoint"):
        if key in entry:
            options[key] = entry[key]
    if "trust_checkpoint" in options:
        options["trust_checkpoint"] = check_bool(f"{where} trust_checkpoint", options["trust_checkpoint"])
    base = entry.get("name") or model_label(spec)
    if "revisions" in entry or str(entry.get("checkpoints", "")).lower().endswith(".csv"):
        from toposcope.recipes.trajectory import expand_series

        return expand_series(where, entry, spec, options, base, base_dir)
    if "taus" in entry and "checkpoints" in entry:
        raise ToposcopeError(f"{where} has both taus and checkpoints; give one per [[models]] entry")
    if "taus" in entry:
        taus = entry["taus"]
        if not isinstance(taus, list) or not taus:
            raise ToposcopeError(f"{where} taus must be a non-empty list of numbers, got {taus!r}")
        return [{"name": f"{base}-tau{tau}", "spec": spec, "options": {**options, "tau": tau}} for tau in taus]
    if "checkpoints" in entry:
        pattern = str(entry["checkpoints"])
        full = Path(pattern).expanduser()
        files = sorted(glob.glob(str(full if full.is_absolute() else base_dir / full), recursive=True))
        if not files:
            raise ToposcopeError(f"{where} checkpoints {pattern!r} matches no file "
                                 f"(relative paths are from the working folder {str(base_dir)!r})")
        stems = [Path(f).stem for f in files]
        # Released seeds often share a file name in per-seed folders (TDANN: seed_N/model_final_...):
        # then the folder names the model.
        labels = stems if len(set(stems)) == len(stems) else [f"{Path(f).parent.name}-{Path(f).stem}" for f in files]
        return [{"name": f"{base}-{model_label(label)}", "spec": spec,
                 "options": {**options, "checkpoint": str(Path(f).resolve())}} for label, f in zip(labels, files)]
    return [{"name": base, "spec": spec, "options": options}]


def _check_analysis(index: int, entry: Any, stimuli: dict[str, Any], base_dir: Path = Path()) -> dict[str, Any]:
    where = f"[[analyses]] #{index + 1}"
    if not isinstance(entry, dict) or "kind" not in entry:
        raise ToposcopeError(f"{where} needs kind = one of {', '.join(ANALYSIS_KEYS)}")
    kind = check_option(f"analysis kind in {where}", entry["kind"], ANALYSIS_KEYS)
    _check_keys(f"{where} (kind {kind!r})", entry, COMMON_KEYS + ANALYSIS_KEYS[kind])
    _check_values(f"{where} ({kind})", entry)
    out = dict(entry)
    if kind == "brainscore" and "units" in entry:
        out["units"], out["units_sha256"] = _units_file(f"{where} (brainscore)", entry["units"], base_dir)
    out["name"] = model_label(str(entry.get("name") or kind))
    if kind in NO_STIMULI:
        if "stimuli" in entry:
            raise ToposcopeError(f"{where}: {kind} takes no stimuli; remove stimuli = {entry['stimuli']!r}")
        return out
    if "stimuli" not in entry:
        raise ToposcopeError(f"{where} ({kind}) needs stimuli = one of {sorted(stimuli) or 'the [stimuli] names'}")
    if entry["stimuli"] not in stimuli:
        raise ToposcopeError(f"{where}: stimuli {entry['stimuli']!r} is not defined in [stimuli]; "
                             f"defined: {', '.join(sorted(stimuli)) or 'none'}")
    if "layers" in entry and not (isinstance(entry["layers"], list) and all(isinstance(x, str) for x in entry["layers"])):
        raise ToposcopeError(f"{where}: layers must be a list of layer names, got {entry['layers']!r}")
    return out


def _units_file(where: str, value: Any, base_dir: Path) -> tuple[str, str]:
    """A brainscore analysis's ``units``: the localizer result's absolute path and its content hash.

    The hash joins the task's identity, so scoring reruns when the localizer
    result is rewritten (a resumed run would otherwise keep the old score).
    """
    if not isinstance(value, str) or not value:
        raise ToposcopeError(f"{where}: units must be the path of a localizer result, e.g. units = "
                             f"\"localizer.nc\" (written by `toposcope localizer`), got {value!r}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ToposcopeError(f"{where}: units file {value!r} does not exist (relative paths are from the working "
                             f"folder {str(base_dir)!r}); write one with `toposcope localizer SPEC --stimuli ... "
                             "-o LOCALIZER.nc`")
    return str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest()


#: Numeric analysis options and the values they take, checked before anything runs.
#: ``bins`` may also be a list of bin edges (checked by the analysis).
POSITIVE_INTS = ("batch_size", "bins", "max_units", "max_windows", "n_pairs", "length", "n_sequences",
                 "n_yoked", "max_delta", "permutations", "top_k", "min_pairs", "n_shuffles", "n_samples",
                 "n_components", "n_items", "min_size")
NON_NEGATIVE_INTS = ("seed",)
POSITIVE_NUMBERS = ("window", "fwhm")
FRACTIONS = ("alpha",)  # strictly between 0 and 1


def _check_values(where: str, entry: dict[str, Any]) -> None:
    """One line for the first numeric option of the wrong type or out of range."""
    def integer(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    for key, value in entry.items():
        if key == "bins" and isinstance(value, list):
            continue
        if key in POSITIVE_INTS and not (integer(value) and value >= 1):
            raise ToposcopeError(f"{where}: {key} must be a positive integer, got {value!r}")
        if key in NON_NEGATIVE_INTS and not (integer(value) and value >= 0):
            raise ToposcopeError(f"{where}: {key} must be a non-negative integer, got {value!r}")
        if key in POSITIVE_NUMBERS and not (number(value) and value > 0):
            raise ToposcopeError(f"{where}: {key} must be a positive number, got {value!r}")
        if key in FRACTIONS and not (number(value) and 0 < value < 1):
            raise ToposcopeError(f"{where}: {key} must be a number between 0 and 1, got {value!r}")


def expand(recipe: Recipe) -> list[Task]:
    """The recipe's tasks, model by model, in recipe order."""
    tasks = []
    for model in recipe.models:
        for analysis in recipe.analyses:
            params = {k: v for k, v in analysis.items() if k not in ("kind", "name", "stimuli")}
            stimuli = recipe.stimuli[analysis["stimuli"]] if "stimuli" in analysis else None
            identity = {"model": model, "analysis": analysis, "stimuli": stimuli}
            tasks.append(Task(model["name"], model["spec"], model["options"], analysis["name"], analysis["kind"],
                              params, stimuli, recipe.sha256, _hash(identity), dict(model.get("extra", {}))))
    return tasks
