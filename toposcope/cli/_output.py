"""Checks of a command's ``-o OUT.nc`` before any work: the path, its folder, and what is there.

Run by :func:`toposcope.cli.main` for every subcommand whose ``-o`` names a netCDF
file, so a bad output path fails in one line at once, not after minutes of
extraction, and an existing result is never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["add_force_argument", "check_netcdf_output", "writes_netcdf"]


def writes_netcdf(parser: argparse.ArgumentParser) -> bool:
    """Whether ``parser`` has an ``-o/--output`` whose metavar is ``OUT.nc``."""
    return any(action.dest == "output" and action.metavar == "OUT.nc" for action in parser._actions)


def add_force_argument(parser: argparse.ArgumentParser) -> None:
    """``--force`` (overwrite an existing ``-o`` file), unless the command has its own."""
    if not any(action.dest == "force" for action in parser._actions):
        parser.add_argument("--force", action="store_true", help="overwrite an existing -o file")


def check_netcdf_output(output: str | None, force: bool) -> None:
    """Raise one line if ``-o output`` cannot receive a new netCDF result.

    Parameters
    ----------
    output : str or None
        The ``-o`` value; None (an optional ``-o`` not given) passes.
    force : bool
        Whether an existing file may be overwritten.
    """
    from toposcope._validation import ToposcopeError

    if output is None:
        return
    path = Path(output).expanduser()
    if path.is_dir():
        raise ToposcopeError(f"-o {output}: that is a folder; give a file name such as {path / 'result.nc'}")
    if path.suffix != ".nc":
        raise ToposcopeError(f"-o {output}: results are written as netCDF; give a name ending in .nc "
                             f"(e.g. {path.with_suffix('.nc').name})")
    if path.exists() and not force:
        raise ToposcopeError(f"-o {output} already exists; pass --force to overwrite it, or choose another name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ToposcopeError(f"-o {output}: {folder} is a file, not a folder; choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ToposcopeError(f"-o {output}: cannot write in {folder} (permission denied); choose another folder")
