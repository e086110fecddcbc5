"""One place for checking user input.

Every check raises :class:`ToposcopeError` (a ``ValueError``) with a single line
that names the parameter, what was allowed, what was received and, where one
exists, the fix. The CLI prints that line and exits non-zero; nothing here uses
``assert`` because asserts vanish under ``python -O``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class ToposcopeError(ValueError):
    """A user-facing error whose message is one line naming the problem and the fix.

    Parameters
    ----------
    message : str
        The line, in the words of the Python API (``trust_checkpoint=True``).
    cli : str, optional
        The same line in the words of the command line (``--trust-checkpoint``),
        which the CLI prints instead, where the two differ.
    """

    def __init__(self, message: str, cli: str | None = None) -> None:
        super().__init__(message)
        self.cli = cli

    def __reduce__(self):
        # Keeps ``cli`` when an error travels back from a Dask worker.
        return (type(self), (str(self), self.cli))


def close_matches(word: str, options: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` entries of ``options`` that look like ``word``."""
    return difflib.get_close_matches(word, list(options), n=n, cutoff=0.5)


def check_option(name: str, value: Any, allowed: Iterable[Any], hint: str = "") -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise naming all of them.

    Examples
    --------
    >>> check_option("pool", "mean", ("mean", "max"))
    'mean'
    """
    allowed = list(allowed)
    if value in allowed:
        return value
    message = f"unknown {name} {value!r}; allowed: {', '.join(map(repr, allowed))}"
    if isinstance(value, str):
        near = close_matches(value, [a for a in allowed if isinstance(a, str)])
        if near:
            message += f" (did you mean {near[0]!r}?)"
    if hint:
        message += f"; {hint}"
    raise ToposcopeError(message)


def check_type(name: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise naming both."""
    if isinstance(value, types):
        return value
    names = (
        " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
    )
    raise ToposcopeError(f"{name} must be {names}, got {type(value).__name__}")


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToposcopeError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a bool; accepts bools and the strings a CLI option may carry."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ToposcopeError(f"{name} must be true or false, got {value!r}")


def check_seed(seed: Any) -> int:
    """Return ``seed`` if it is a non-negative integer (results must be reproducible), else raise."""
    import numpy as np

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ToposcopeError(f"seed must be a non-negative integer (results are reproducible), got {seed!r}")
    return int(seed)


def check_file(name: str, path: str | Path, hint: str = "") -> Path:
    """Return ``path`` as a Path if it is an existing file, else raise with ``hint``."""
    return _check_path(name, path, hint, folder=False)


def check_dir(name: str, path: str | Path, hint: str = "") -> Path:
    """Return ``path`` as a Path if it is an existing folder, else raise with ``hint``."""
    return _check_path(name, path, hint, folder=True)


def _check_path(name: str, path: str | Path, hint: str, *, folder: bool) -> Path:
    path = Path(path).expanduser()
    wanted, other = (path.is_dir, path.is_file) if folder else (path.is_file, path.is_dir)
    if not wanted():
        what = ("is a file, not a folder" if folder else "is a folder, not a file") if other() else "does not exist"
        message = f"{name} {str(path)!r} {what}"
        raise ToposcopeError(f"{message}; {hint}" if hint else message)
    return path


def check_layers(requested: Iterable[str], available: Iterable[str], spec: str = "MODEL") -> list[str]:
    """Return ``requested`` layer names if all exist, else raise suggesting close names."""
    available = list(available)
    chosen = list(requested)
    for layer in chosen:
        if layer not in available:
            near = close_matches(layer, available)
            suggestion = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
            raise ToposcopeError(
                f"unknown layer {layer!r}{suggestion}; run `toposcope layers {spec}` to list them"
            )
    return chosen


def format_key_mismatch(missing: list[str], unexpected: list[str], limit: int = 3) -> str:
    """Describe a state-dict mismatch in one line, naming a few keys of each kind."""

    def few(keys: list[str]) -> str:
        shown = ", ".join(keys[:limit])
        return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown

    parts = []
    if missing:
        parts.append(f"missing keys: {few(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {few(unexpected)}")
    return "; ".join(parts)
