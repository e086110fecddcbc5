"""A recipe's ``[[models]]`` entry as a training trajectory: one model per step.

::

    [[models]]
    spec = "hf:EleutherAI/pythia-160m"
    name = "pythia-160m"
    revisions = ["step0", "step1000", "step143000"]   # hub revisions, the step parsed from each
    tokens_per_step = 2097152                          # optional: tokens = step x this

    [[models]]
    spec = "demo_lm"
    checkpoints = "run/checkpoints/steps.csv"         # a table: step, checkpoint[, tokens]

Each step becomes a model named ``NAME-stepN`` whose results carry the attrs
``trajectory`` (NAME), ``step`` and ``tokens``, so the figures (and
:func:`toposcope.workflows.trajectory.stack_steps`) can line any analysis up
along training. Tasks run and resume per step, like any other model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError

__all__ = ["expand_series"]


def expand_series(where: str, entry: dict[str, Any], spec: str, options: dict[str, Any], base: str,
                  base_dir: Path) -> list[dict[str, Any]]:
    """The models of one trajectory entry: ``{"name", "spec", "options", "extra"}`` per step, by step."""
    from toposcope.workflows.trajectory import checkpoint_series

    if "taus" in entry:
        raise ToposcopeError(f"{where} has both taus and a trajectory; give one per [[models]] entry")
    if "revisions" in entry and "checkpoints" in entry:
        raise ToposcopeError(f"{where} has both revisions and checkpoints; give one per [[models]] entry")
    per_step = entry.get("tokens_per_step")
    if per_step is not None and (isinstance(per_step, bool) or not isinstance(per_step, int) or per_step < 1):
        raise ToposcopeError(f"{where} tokens_per_step must be a positive integer, got {per_step!r}")
    try:
        if "revisions" in entry:
            revisions = entry["revisions"]
            if not isinstance(revisions, list) or not revisions or not all(isinstance(r, str) for r in revisions):
                raise ToposcopeError(f"revisions must be a non-empty list of names, got {revisions!r}")
            series = checkpoint_series(spec, revisions=revisions, tokens_per_step=per_step, options=options)
        else:
            table = Path(str(entry["checkpoints"])).expanduser()
            table = table if table.is_absolute() else base_dir / table
            series = checkpoint_series(spec, checkpoints=table.resolve(), tokens_per_step=per_step, options=options)
    except ToposcopeError as error:
        raise ToposcopeError(f"{where}: {error}") from None
    models = []
    for checkpoint in series:
        extra = {"trajectory": base, "step": checkpoint.step}
        if checkpoint.tokens is not None:
            extra["tokens"] = checkpoint.tokens
        models.append({"name": f"{base}-step{checkpoint.step}", "spec": spec, "options": checkpoint.options,
                       "extra": extra})
    return models
