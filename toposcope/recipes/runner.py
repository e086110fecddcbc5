"""``toposcope run``: check a recipe up front, then run its tasks serially or on Dask, then report.

The output folder holds::

    recipe.json                     the recipe's name, hash and source (refuses another recipe's folder)
    stimuli/                        stimulus sets made in code (the demo digits)
    results/ANALYSIS/MODEL.nc       one netCDF per task, with provenance and the task's hash
    figures/ANALYSIS/MODEL.png      one figure per task
    figures/paper/STEM.{png,pdf,csv|nc}  the papers' figures the results allow (toposcope.figures)
    report.md                       figures inline and a table of every scalar metric per model and layer

A task whose file exists with its own hash is skipped, so rerunning an interrupted
run redoes only what did not finish.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError
from toposcope.recipes.lock import LOCK_NAME, run_lock
from toposcope.recipes.schema import Recipe, Task, expand, load_recipe
from toposcope.recipes.tasks import (
    CHECKS,
    IN_PROCESS,
    is_done,
    load_stimuli,
    load_subject,
    register_subject,
    run_task,
)

__all__ = ["check_output", "run_recipe", "validate"]

#: Seconds to wait for a Dask scheduler before saying it is unreachable.
SCHEDULER_TIMEOUT = 10


def check_output(output_dir: Path, recipe: Recipe, force: bool) -> None:
    """Refuse a folder that holds anything but this recipe's results, unless ``force``."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ToposcopeError(f"output {str(output_dir)!r} is a file; give a folder")
    if force or not output_dir.is_dir() or not any(p.name != LOCK_NAME for p in output_dir.iterdir()):
        return
    marker = output_dir / "recipe.json"
    if not marker.is_file():
        raise ToposcopeError(f"output folder {str(output_dir)!r} is not empty and holds no recipe.json; "
                             "choose a new folder or pass --force")
    stored = json.loads(marker.read_text(encoding="utf-8"))
    if stored.get("recipe_sha256") != recipe.sha256:
        raise ToposcopeError(f"output folder {str(output_dir)!r} holds results of another recipe "
                             f"({stored.get('name')!r}, different analyses or stimuli); "
                             "choose a new folder or pass --force to write over it")


def validate(recipe: Recipe, output_dir: Path) -> None:
    """Load every model once and every stimulus set once; check layers and modalities.

    Raises :class:`ToposcopeError` naming the first problem, before any task runs.
    """
    sets = {name: load_stimuli(entry, output_dir / "stimuli")
            for name, entry in recipe.stimuli.items()
            if any(a.get("stimuli") == name for a in recipe.analyses)}
    for model in recipe.models:
        subject = load_subject(model["spec"], model["options"])
        for analysis in recipe.analyses:
            where = f"analysis {analysis['name']!r} on model {model['name']!r}"
            for key in ("layers", "downsample_layers"):
                if analysis.get(key) is not None:
                    try:
                        subject.select(analysis[key])
                    except ToposcopeError as error:
                        raise ToposcopeError(f"{where}: {error}",
                                             cli=error.cli and f"{where}: {error.cli}") from None
            if analysis["kind"] in CHECKS:
                try:
                    CHECKS[analysis["kind"]](analysis, subject)
                except ToposcopeError as error:
                    raise ToposcopeError(f"{where}: {error}") from None
            stimuli = sets.get(analysis.get("stimuli"))
            wanted = {"vision": "image", "language": "text"}[subject.modality]
            if stimuli is not None and stimuli.kind != wanted:
                raise ToposcopeError(f"{where}: stimuli {analysis['stimuli']!r} are {stimuli.kind}s "
                                     f"but the model is a {subject.modality} model; give {wanted} stimuli")


def fetch_plan(recipe: Recipe) -> list[str]:
    """What running the recipe would download, one line each; nothing is fetched or loaded.

    ``hf:`` models (each revision of a trajectory) that are not in the local
    Hugging Face cache, and the Brain-Score data of each ``brainscore``
    analysis (BrainIO files, fetched on first use unless already under
    ``BRAINIO_HOME``).
    """
    from toposcope.models.hf import hub_fetch

    lines = []
    for model in recipe.models:
        if model["spec"].startswith("hf:"):
            what = hub_fetch(model["spec"][3:], model["options"].get("revision"))
            if what:
                lines.append(f"hub model {what} (model {model['name']!r}) into the Hugging Face cache")
    for analysis in recipe.analyses:
        if analysis["kind"] == "brainscore":
            lines.append(f"Brain-Score data of benchmark {analysis.get('benchmark')!r} under BRAINIO_HOME, "
                         "unless already there")
    return lines


def _write_marker(output_dir: Path, recipe: Recipe) -> None:
    from toposcope.io import atomic_path

    with atomic_path(output_dir / "recipe.json") as tmp:
        tmp.write_text(json.dumps({"name": recipe.name, "recipe_sha256": recipe.sha256,
                                   "source": recipe.source}, indent=2, default=str) + "\n", encoding="utf-8")


def _run_serial(tasks: list[Task], output_dir: Path, cache: Any, force: bool, progress: bool) -> dict[str, str]:
    from toposcope._progress import progress_bar

    failures = {}
    bar = progress_bar(tasks, progress=progress, desc="tasks", unit="task")
    for task in bar:
        bar.set_postfix_str(f"{task.analysis} {task.model}")
        try:
            run_task(task, output_dir, cache, force, progress=progress)
        except Exception as error:  # noqa: BLE001 - one failed task must not stop the others
            failures[f"{task.analysis}/{task.model}"] = f"{type(error).__name__}: {error}"
    return failures


def _run_dask(tasks: list[Task], output_dir: Path, cache: Any, force: bool, progress: bool,
              workers: int | None, scheduler: str | None, processes: bool, retries: int,
              subjects: dict[str, Any]) -> dict[str, str]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ToposcopeError("--workers/--scheduler need dask.distributed; "
                             "install it with pip install 'toposcope[sweep]'") from None
    from toposcope._progress import progress_bar

    cluster = None
    if scheduler:
        client = _connect(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    failures = {}
    try:
        # Models given as objects go to the cluster once, then travel with their tasks.
        shipped = {spec: client.scatter(subject, broadcast=True) for spec, subject in subjects.items()}
        # The task hash as the key: resubmitting the same task never runs it twice at once.
        futures = {client.submit(run_task, task, str(output_dir), cache, force, subject=shipped.get(task.spec),
                                 key=f"toposcope-{task.task_sha256}", retries=retries): task for task in tasks}
        for future in progress_bar(as_completed(futures), progress=progress, total=len(futures), desc="tasks",
                                   unit="task"):
            if future.status == "error":
                task, error = futures[future], future.exception()
                failures[f"{task.analysis}/{task.model}"] = f"{type(error).__name__}: {error}"
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return failures


def _connect(scheduler: str) -> Any:
    """A Dask client of the scheduler at ``scheduler``, or one line if none answers in time."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise ToposcopeError("--workers/--scheduler need dask.distributed; "
                             "install it with pip install 'toposcope[sweep]'") from None
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as error:
        raise ToposcopeError(f"cannot reach the Dask scheduler at {scheduler!r} within {SCHEDULER_TIMEOUT} s "
                             f"({type(error).__name__}); start one (`dask scheduler`) or use workers=N",
                             cli=f"--scheduler {scheduler}: no Dask scheduler answered within "
                                 f"{SCHEDULER_TIMEOUT} s; start one (`dask scheduler`) or use --workers N") from None


def _with_objects(recipe: Recipe, models: Mapping[str, Any]) -> tuple[Recipe, dict[str, Any]]:
    """``recipe`` on the given model objects instead of its ``[[models]]``; (recipe, spec -> Subject)."""
    from dataclasses import replace

    from toposcope.models.subject import Subject
    from toposcope.recipes.schema import model_label

    if not models:
        raise ToposcopeError("models is an empty mapping; give {name: toposcope.load_model(...)}")
    subjects, entries = {}, []
    for name, subject in models.items():
        if not isinstance(subject, Subject):
            raise ToposcopeError(f"model {name!r} is a {type(subject).__name__}, not a Subject; "
                                 "wrap it with toposcope.load_model(module, layers=[...])")
        spec = f"{IN_PROCESS}{name}"
        register_subject(spec, subject)
        subjects[spec] = subject
        # The weights' hash stands in for load options: same weights, same tasks, so a rerun resumes.
        entries.append({"name": model_label(str(name)), "spec": spec, "options": {"weights_sha256": subject.identity}})
    return replace(recipe, models=entries), subjects


def _paper_figures(output_dir: Path, tasks: list[Task]) -> tuple[list[Path], list[str]]:
    """Build the papers' figures the finished results allow; (files written, "STEM: reason" skipped)."""
    from toposcope.figures import build_figures

    if not any((output_dir / t.relative_path).is_file() for t in tasks):
        return [], []
    skipped: list[str] = []
    return build_figures(output_dir, on_skip=skipped.append), skipped


def run_recipe(
    recipe: str | Path | Recipe,
    output_dir: str | Path,
    *,
    models: list[str] | Mapping[str, Any] | None = None,
    force: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    processes: bool = True,
    retries: int = 2,
    cache: bool | str | Path = True,
    progress: bool = True,
    figures: bool = True,
) -> dict[str, Any]:
    """Run every (model x analysis) task of a recipe into ``output_dir`` and write ``report.md``.

    Parameters
    ----------
    recipe : path, shipped recipe name or Recipe
    output_dir : path
        Created if needed; see the module docstring for its layout.
    models : list of str, or mapping of str to Subject, optional
        Model specs replacing the recipe's ``[[models]]``, or your own models as
        objects by name (``{"mynet": toposcope.load_model(module, layers=[...])}``);
        an object's results are keyed by its weights' hash, so they resume too.
    force : bool
        Write into a folder holding another recipe's results, and recompute finished tasks.
    workers : int, optional
        Run the tasks on a ``dask.distributed.LocalCluster`` with this many workers.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); overrides ``workers``.
    processes : bool
        LocalCluster workers as processes (True) or threads (False).
    retries : int
        Dask retries of a task that failed or whose worker died.
    cache : bool or path
        Response cache of :func:`toposcope.extract`.
    progress : bool
        Progress bar over tasks.
    figures : bool
        Draw one figure per task and the papers' figures (``figures/paper``) for the report.

    Returns
    -------
    dict
        ``{"tasks": n, "ran": n, "skipped": n, "files": [...], "report": path}``.

    Raises
    ------
    ToposcopeError
        On a bad recipe or folder (before anything runs), or naming the tasks that
        failed (after the others finished and the report is written; rerun to retry them).
    """
    subjects: dict[str, Any] = {}
    if isinstance(models, Mapping):
        recipe, subjects = _with_objects(recipe if isinstance(recipe, Recipe) else load_recipe(recipe), models)
    elif not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, models)
    output_dir = Path(output_dir).expanduser()
    check_output(output_dir, recipe, force)
    if workers is not None and workers < 1:
        raise ToposcopeError(f"workers must be a positive integer, got {workers}",
                             cli=f"--workers must be a positive integer, got {workers}")
    if retries < 0:
        raise ToposcopeError(f"retries must be 0 or more, got {retries}", cli=f"--retries must be 0 or more, got {retries}")
    if scheduler:
        _connect(scheduler).close()  # an unreachable scheduler fails here, before the folder exists
    # Checked against stimuli made in a scratch folder: nothing is written before the checks pass.
    with tempfile.TemporaryDirectory(prefix="toposcope-check-") as scratch:
        validate(recipe, Path(scratch))
    output_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(output_dir):
        return _run_checked(recipe, output_dir, subjects, force, workers, scheduler, processes, retries, cache,
                            progress, figures)


def _run_checked(recipe: Recipe, output_dir: Path, subjects: dict[str, Any], force: bool, workers: int | None,
                 scheduler: str | None, processes: bool, retries: int, cache: bool | str | Path, progress: bool,
                 figures: bool) -> dict[str, Any]:
    """:func:`run_recipe` after its checks, holding the folder's lock."""
    from toposcope.recipes.report import write_report

    _write_marker(output_dir, recipe)
    tasks = expand(recipe)
    pending = [t for t in tasks if force or not is_done(t, output_dir)]
    if workers or scheduler:
        failures = _run_dask(pending, output_dir, cache, force, progress, workers, scheduler, processes, retries,
                             subjects)
    else:
        failures = _run_serial(pending, output_dir, cache, force, progress)
    paper, skipped = _paper_figures(output_dir, tasks) if figures else ([], [])
    report = write_report(recipe, tasks, output_dir, failures, figures=figures, paper=paper, skipped=skipped)
    if failures:
        first = next(iter(failures.items()))
        raise ToposcopeError(f"{len(failures)} of {len(pending)} tasks failed (first: {first[0]}: {first[1]}); "
                             "rerun the same command to retry only those")
    return {"tasks": len(tasks), "ran": len(pending), "skipped": len(tasks) - len(pending),
            "files": [t.relative_path for t in tasks], "report": str(report)}
