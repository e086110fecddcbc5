"""Progress bars that show in a terminal and stay out of logs.

tqdm redraws a bar with carriage returns and, for nested bars, cursor-movement
codes: right in a terminal, noise in a log file or a CI transcript. Every long
loop in toposcope takes its bar from :func:`progress_bar`, which draws only when
asked for (``progress=True``) *and* the stream is a terminal.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(iterable: Any = None, *, progress: bool = True, **options: Any) -> Any:
    """``tqdm(iterable, **options)``, drawn only when ``progress`` and stderr is a terminal.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (or give ``total=`` and call ``update``).
    progress : bool
        The caller's wish (``--quiet`` turns it off).
    **options
        Passed to tqdm (``desc``, ``unit``, ``total``, ``leave`` ...).
    """
    from tqdm.auto import tqdm

    shown = progress and getattr(sys.stderr, "isatty", lambda: False)()
    return tqdm(iterable, disable=not shown, **options)
