"""Reading the plain CSV stimulus files (suites, minimal pairs): a header row, then one row per stimulus."""

from __future__ import annotations

import csv
from pathlib import Path

from toposcope._validation import ToposcopeError

__all__ = ["read_rows"]


def read_rows(path: Path, what: str = "") -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a UTF-8 CSV file (a byte-order mark is allowed), blanks stripped.

    Parameters
    ----------
    path : Path
        An existing file (callers check that, with their own wording).
    what : str
        How the file is named in the error, before its name (``"suite file"``).

    Returns
    -------
    header : list of str
        The column names, stripped.
    rows : list of dict
        One dict per data row: stripped column name -> stripped value; a cell
        missing from a short row is ``""``, cells beyond the header are dropped.

    Raises
    ------
    ToposcopeError
        The file is not UTF-8.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            raw = list(reader)
            header = [h.strip() for h in reader.fieldnames or []]
    except UnicodeDecodeError as error:
        name = f"{what} {path.name}" if what else path.name
        raise ToposcopeError(f"{name} is not UTF-8 ({error.reason} at byte {error.start})") from None
    rows = [{key.strip(): (value or "").strip() for key, value in row.items() if key is not None} for row in raw]
    return header, rows
