"""Build the papers' figures from one or more ``toposcope run`` output folders.

Usage: ``python figures/make_figures.py OUT [OUT ...]`` (the same as ``toposcope figures OUT``).

Only the script lives here: the papers' layouts are in ``toposcope/figures/``
(:func:`toposcope.figures.build_figures`) and the panels they are drawn from in
``toposcope/plot/``.
"""

from __future__ import annotations

import sys

from toposcope.figures import build_figures


def main(folders: list[str]) -> int:
    """Build every figure each folder's results allow; print what was written and skipped."""
    for folder in folders:
        for path in build_figures(folder, on_skip=lambda message: print(f"skipped {message}")):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
