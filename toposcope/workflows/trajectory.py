"""Checkpoints over training as an axis: any analysis, run per checkpoint, stacked along ``step``.

"When does topography (or competence, or brain alignment) emerge?" asks the
same measurement of one model at many training steps. Pythia publishes its
steps as hub revisions (``hf:EleutherAI/pythia-160m@step3000``); a local run
keeps a folder or file per step (``scripts/train_demo_lm.py --save-steps``).

* :func:`checkpoint_series`: the steps of a model, from hub ``revisions``, a
  glob of checkpoint files or folders (the step parsed from each name), or a
  table (CSV with ``step``, ``checkpoint`` and optionally ``tokens``), sorted
  by step; ``tokens`` per step from the table, a mapping, or
  ``tokens_per_step``.
* :func:`run_trajectory`: loads the checkpoints one at a time, runs every
  analysis on each, writes each step's result at once (so a stopped run
  resumes where it stopped, without loading finished checkpoints again),
  optionally evicts a fetched hub revision from the disk cache after use
  (34 checkpoints x 8 sizes do not fit on a laptop), and returns each
  analysis's results stacked along a ``step`` dim with ``tokens`` and each
  step's ``checkpoint_sha256`` as coords.
"""

from __future__ import annotations

import csv
import gc
import glob
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["Checkpoint", "checkpoint_series", "evict_revision", "parse_step", "run_trajectory", "stack_steps"]

_STEP = re.compile(r"(?:step|global_step|iter|iteration|ckpt|checkpoint)[-_=]?(\d+)", re.IGNORECASE)
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class Checkpoint:
    """One model of a training trajectory.

    Parameters
    ----------
    step : int
        Optimizer steps taken.
    spec : str
        Model spec for :func:`toposcope.load_model`.
    options : dict
        Load options (``revision=...`` or ``checkpoint=...``).
    tokens : int or None
        Training tokens seen at this step, when known.
    label : str
        Short name (the revision, or the checkpoint's file name).
    """

    step: int
    spec: str
    options: dict[str, Any] = field(default_factory=dict)
    tokens: int | None = None
    label: str = ""

    @property
    def key(self) -> str:
        """What identifies the checkpoint before loading it (spec and options): a finished step's mark."""
        return hashlib.sha256(json.dumps([self.spec, self.options], sort_keys=True, default=str).encode()).hexdigest()


def parse_step(name: str) -> int:
    """The training step in a checkpoint or revision name.

    ``step1000``, ``step-1000``, ``global_step1000``, ``iter_0001000`` (the
    number after a step word), else the last number in the name
    (``ckpt_1000.pt``, ``model.1000``).

    Raises
    ------
    ToposcopeError
        If the name holds no number.
    """
    stem = Path(str(name)).name
    stem = re.sub(r"\.(pt|pth|bin|safetensors|ckpt|gguf)$", "", stem, flags=re.IGNORECASE)
    match = _STEP.search(stem) or _LAST_NUMBER.search(stem)
    if match is None:
        raise ToposcopeError(f"cannot parse a training step from {str(name)!r}; name checkpoints like step-1000 or "
                             "give a table (CSV: step,checkpoint[,tokens])")
    return int(match.group(1))


def _tokens(step: int, tokens: Any, tokens_per_step: int | None) -> int | None:
    if isinstance(tokens, Mapping):
        value = tokens.get(step)
        return None if value is None else int(value)
    if tokens_per_step is not None:
        return int(step) * int(tokens_per_step)
    return None


def checkpoint_series(spec: str, *, revisions: Sequence[str] | None = None, checkpoints: Any = None,
                      steps: Sequence[int] | None = None, tokens: Mapping[int, int] | None = None,
                      tokens_per_step: int | None = None, options: Mapping[str, Any] | None = None
                      ) -> list[Checkpoint]:
    """The checkpoints of one training run, sorted by step.

    Parameters
    ----------
    spec : str
        The model spec (``"hf:EleutherAI/pythia-160m"``, ``"demo_lm"``, ``"file:"`` ...).
    revisions : sequence of str, optional
        Hub revisions (``["step1000", "step2000"]``); each becomes ``revision=``.
    checkpoints : str, path or sequence of paths, optional
        A glob (``"run/ckpt_*.pt"``), a list of files / folders, or a ``.csv``
        table with columns ``step``, ``checkpoint`` (relative to the table)
        and optionally ``tokens``; each becomes ``checkpoint=``.
    steps : sequence of int, optional
        The step of each revision / checkpoint, in the order given, instead of
        parsing them from the names.
    tokens : mapping of step to int, optional
    tokens_per_step : int, optional
        Tokens per optimizer step (Pythia: 2,097,152), when ``tokens`` is not given.
    options : mapping, optional
        Load options shared by every step.

    Returns
    -------
    list of Checkpoint

    Raises
    ------
    ToposcopeError
        Neither or both of revisions and checkpoints; a glob matching nothing;
        a name without a step; two checkpoints of one step; a table without
        ``step`` / ``checkpoint``.
    """
    options = dict(options or {})
    if (revisions is None) == (checkpoints is None):
        raise ToposcopeError("give revisions=[...] (hub) or checkpoints=GLOB / a steps table, one of them")
    table_tokens: dict[int, int] = {}
    if revisions is not None:
        names = [str(r) for r in revisions]
        entries = [(name, {**options, "revision": name}) for name in names]
    else:
        paths, given_steps, table_tokens = _checkpoint_paths(checkpoints)
        if given_steps is not None and steps is None:
            steps = given_steps
        names = [Path(p).name for p in paths]
        entries = [(Path(p).name, {**options, "checkpoint": str(p)}) for p in paths]
    if not entries:
        raise ToposcopeError("the series holds no checkpoint")
    if steps is not None:
        steps = [int(s) for s in steps]
        if len(steps) != len(entries):
            raise ToposcopeError(f"{len(steps)} steps given for {len(entries)} checkpoints; give one step each")
    else:
        steps = [parse_step(name) for name in names]
    seen: dict[int, str] = {}
    for step, name in zip(steps, names):
        if step < 0:
            raise ToposcopeError(f"step {step} of {name!r} is negative")
        if step in seen:
            raise ToposcopeError(f"checkpoints {seen[step]!r} and {name!r} are both step {step}; keep one")
        seen[step] = name
    tokens = tokens if tokens is not None else (table_tokens or None)
    series = [Checkpoint(step, spec, opts, _tokens(step, tokens, tokens_per_step), label)
              for step, (label, opts) in zip(steps, entries)]
    return sorted(series, key=lambda c: c.step)


def _checkpoint_paths(checkpoints: Any) -> tuple[list[str], list[int] | None, dict[int, int]]:
    if isinstance(checkpoints, (str, Path)) and str(checkpoints).lower().endswith(".csv"):
        return _table(Path(checkpoints).expanduser())
    if isinstance(checkpoints, (str, Path)):
        pattern = str(Path(checkpoints).expanduser())
        found = sorted(glob.glob(pattern, recursive=True))
        if not found:
            raise ToposcopeError(f"checkpoints {str(checkpoints)!r} match no file or folder")
        return found, None, {}
    paths = [str(Path(p).expanduser()) for p in checkpoints]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise ToposcopeError(f"checkpoint {missing[0]!r} does not exist")
    return paths, None, {}


def _table(path: Path) -> tuple[list[str], list[int], dict[int, int]]:
    if not path.is_file():
        raise ToposcopeError(f"steps table {str(path)!r} does not exist; give a CSV with columns step,checkpoint")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = reader.fieldnames or []
    if not {"step", "checkpoint"} <= set(header):
        raise ToposcopeError(f"steps table {path.name} needs columns step and checkpoint (optionally tokens); "
                             f"it has {header}")
    paths, steps, tokens = [], [], {}
    for number, row in enumerate(rows, start=2):
        try:
            step = int(str(row["step"]).strip())
        except ValueError:
            raise ToposcopeError(f"{path.name} line {number}: step {row['step']!r} is not a whole number") from None
        target = Path(str(row["checkpoint"]).strip()).expanduser()
        target = target if target.is_absolute() else path.parent / target
        if not target.exists():
            raise ToposcopeError(f"{path.name} line {number}: checkpoint {str(target)!r} does not exist")
        paths.append(str(target))
        steps.append(step)
        if str(row.get("tokens") or "").strip():
            tokens[step] = int(float(row["tokens"]))
    if not paths:
        raise ToposcopeError(f"steps table {path.name} has no rows")
    return paths, steps, tokens


# --------------------------------------------------------------------------- running
def _step_file(folder: Path, analysis: str, checkpoint: Checkpoint) -> Path:
    return folder / analysis / f"step-{checkpoint.step:09d}.nc"


def _finished(path: Path, checkpoint: Checkpoint) -> Any:
    if not path.is_file():
        return None
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as handle:
            data = handle.load()
    except (OSError, ValueError):
        return None  # unreadable: computed again
    return data if data.attrs.get("checkpoint_key") == checkpoint.key else None


def run_trajectory(series: Sequence[Checkpoint], analyses: Mapping[str, Callable[[Any], Any]], *,
                   output_dir: str | Path | None = None, evict: bool = False, progress: bool = False,
                   load: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Run every analysis on every checkpoint, one checkpoint at a time; stack along ``step``.

    Parameters
    ----------
    series : sequence of Checkpoint
        From :func:`checkpoint_series`.
    analyses : mapping of name to callable
        ``f(subject) -> xr.Dataset or xr.DataArray`` (e.g. ``lambda s:
        score_pairs(s, "grammar")``, ``layer_topoloss``).
    output_dir : path, optional
        Each step's result is written to ``OUT/NAME/step-NNNNNNNNN.nc`` as soon
        as it is computed; a step whose files all exist (for the same spec and
        options) is read back instead of loading its checkpoint again.
    evict : bool
        After a hub revision is used, delete it from the Hugging Face cache
        (:func:`evict_revision`); local checkpoint files are never deleted.
    progress : bool
        One line per checkpoint.
    load : callable, optional
        ``load(spec, **options) -> Subject``; :func:`toposcope.load_model` by default.

    Returns
    -------
    dict of str to xr.Dataset
        Per analysis, the results stacked along ``step`` (:func:`stack_steps`).
    """
    import xarray as xr

    from toposcope.io import write_netcdf

    if not series:
        raise ToposcopeError("the trajectory holds no checkpoint")
    if not analyses:
        raise ToposcopeError("no analyses given; pass analyses={'name': function(subject)}")
    if load is None:
        from toposcope.models.registry import load_model as load
    folder = Path(output_dir).expanduser() if output_dir is not None else None
    results: dict[str, list[Any]] = {name: [] for name in analyses}
    for index, checkpoint in enumerate(series):
        done = {name: _finished(_step_file(folder, name, checkpoint), checkpoint) if folder else None
                for name in analyses}
        if all(value is not None for value in done.values()):
            for name, data in done.items():
                results[name].append(data)
            if progress:
                print(f"step {checkpoint.step} ({checkpoint.label}): done before, read back")
            continue
        subject = load(checkpoint.spec, **checkpoint.options)
        for name, analysis in analyses.items():
            if done[name] is not None:
                results[name].append(done[name])
                continue
            result = analysis(subject)
            data = result.to_dataset(name=result.name or name) if isinstance(result, xr.DataArray) else result
            data = data.copy()
            data.attrs.update({"step": int(checkpoint.step), "checkpoint_key": checkpoint.key,
                               "checkpoint_label": checkpoint.label, "model": checkpoint.spec,
                               "checkpoint_sha256": getattr(subject, "identity", ""),
                               **({"tokens": int(checkpoint.tokens)} if checkpoint.tokens is not None else {})})
            if folder is not None:
                write_netcdf(data, _step_file(folder, name, checkpoint))
            results[name].append(data)
        if progress:
            print(f"step {checkpoint.step} ({checkpoint.label}): {index + 1}/{len(series)}")
        del subject
        gc.collect()  # one checkpoint in memory at a time
        if evict and "revision" in checkpoint.options:
            evict_revision(checkpoint.spec, checkpoint.options["revision"])
    return {name: stack_steps(parts) for name, parts in results.items()}


def stack_steps(parts: Sequence[Any]) -> Any:
    """Per-step results (each with a ``step`` attr) as one Dataset along a ``step`` dim.

    ``tokens`` (NaN where unknown), ``checkpoint_sha256`` and ``checkpoint_label``
    become coords on ``step``; attrs that differ between steps are dropped,
    those all steps share are kept.
    """
    import xarray as xr

    if not parts:
        raise ToposcopeError("no results to stack")
    steps = [int(p.attrs["step"]) for p in parts]
    order = np.argsort(steps, kind="stable")
    parts = [parts[i] for i in order]
    steps = [steps[i] for i in order]
    stacked = xr.concat([p.expand_dims(step=[s]) for p, s in zip(parts, steps)], dim="step",
                        combine_attrs="drop_conflicts", coords="different", compat="equals", join="outer")
    tokens = [float(p.attrs["tokens"]) if "tokens" in p.attrs else np.nan for p in parts]
    stacked = stacked.assign_coords(
        tokens=("step", np.asarray(tokens)),
        checkpoint_sha256=("step", np.asarray([str(p.attrs.get("checkpoint_sha256", "")) for p in parts],
                                              dtype=object)),
        checkpoint_label=("step", np.asarray([str(p.attrs.get("checkpoint_label", "")) for p in parts],
                                             dtype=object)))
    for key in ("step", "tokens", "checkpoint_key", "checkpoint_sha256", "checkpoint_label"):
        stacked.attrs.pop(key, None)
    return stacked


def evict_revision(spec: str, revision: str, cache_dir: str | Path | None = None) -> int:
    """Delete one revision of a hub model from the Hugging Face cache; returns the bytes freed.

    Parameters
    ----------
    spec : str
        ``hf:ORG/NAME`` (or ``ORG/NAME``).
    revision : str
        A branch / tag name the cache has a ref for, or a commit hash (prefix).
    cache_dir : path, optional
        The hub cache (``HF_HUB_CACHE`` by default).

    Returns
    -------
    int
        Bytes freed (0 when the revision is not in the cache).
    """
    from huggingface_hub import scan_cache_dir

    repo_id = str(spec).removeprefix("hf:").split("@", 1)[0]
    try:
        info = scan_cache_dir(cache_dir)
    except Exception:  # noqa: BLE001 - no cache folder: nothing to evict
        return 0
    hashes = [rev.commit_hash for repo in info.repos if repo.repo_id == repo_id and repo.repo_type == "model"
              for rev in repo.revisions if revision in rev.refs or rev.commit_hash.startswith(str(revision))]
    if not hashes:
        return 0
    strategy = info.delete_revisions(*hashes)
    strategy.execute()
    return int(strategy.expected_freed_size)
