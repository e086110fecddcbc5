"""One run per output folder at a time: a lock file that says who holds it.

Two ``toposcope run`` into the same folder at once would both do all the work and
race on its files. The first takes ``OUT/.toposcope.lock`` (created exclusively,
holding its host, process id and start time); the second stops with one line
naming them. A lock whose process is gone (same host) is stale and is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from toposcope._validation import ToposcopeError

__all__ = ["LOCK_NAME", "run_lock"]

LOCK_NAME = ".toposcope.lock"


@contextmanager
def run_lock(folder: str | Path) -> Iterator[Path]:
    """Hold ``folder``'s run lock for the ``with`` block; raise naming the holder if it is taken.

    Parameters
    ----------
    folder : path
        An existing run folder.

    Yields
    ------
    Path
        The lock file (removed on exit, also after an error).
    """
    path = Path(folder) / LOCK_NAME
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(2):  # a second try after removing a stale lock
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder is not None and _alive(holder):
                raise ToposcopeError(
                    f"{str(folder)!r} is in use by another run (process {holder.get('pid')} on "
                    f"{holder.get('host')}, since {holder.get('since')}); wait for it to finish, or use "
                    f"another folder (if that process is gone, delete {str(path)!r})"
                ) from None
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(me, stream)
        break
    else:  # pragma: no cover - another run took the stale lock between our two tries
        raise ToposcopeError(f"{str(folder)!r} was just taken by another run; wait for it to finish")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _holder(path: Path) -> dict | None:
    """The lock's content, or None if it is unreadable (a crash mid-write: treated as stale)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _alive(holder: dict) -> bool:
    """Whether the holding process still runs; a lock from another host is assumed alive."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError):
        return True
    return True
