"""The cortical sheet: where each unit of a topographic layer sits, and the files that say so.

* :mod:`~toposcope.sheet.geometry`: :class:`CorticalSheet` (flat positions,
  distances, neighbourhoods), the TopoLoss grid (:func:`grid_shape`,
  :func:`grid_sheet`) and the TDANN channel-by-space layout
  (:func:`channel_space_sheet`).
* :mod:`~toposcope.sheet.torus`: sheets that wrap around (Topoformer's grids):
  :func:`torus_sheet`, :func:`wrapped_distances`, and :func:`sheet_period`, which
  reads from responses or a map whether their sheet wraps.
* :mod:`~toposcope.sheet.position_files`: readers for the per-layer position
  files of TDANN and TopoLM (:func:`load_positions`, :func:`read_positions_dir`).

This is the bottom of the library with :mod:`toposcope.io`: it imports only the
input checks, and everything that places units on a sheet imports it.
"""

from toposcope.sheet.geometry import (
    MAX_DENSE_UNITS,
    CorticalSheet,
    channel_space_sheet,
    grid_shape,
    grid_sheet,
    torus_sheet,
)
from toposcope.sheet.position_files import (
    load_positions,
    positions_files,
    read_positions,
    read_positions_dir,
)
from toposcope.sheet.torus import (
    WRAP_COORDS,
    check_period,
    fold,
    sheet_period,
    square_side,
    torus_diameter,
    wrapped_distances,
)

__all__ = [
    "MAX_DENSE_UNITS",
    "WRAP_COORDS",
    "CorticalSheet",
    "channel_space_sheet",
    "check_period",
    "fold",
    "grid_shape",
    "grid_sheet",
    "load_positions",
    "positions_files",
    "read_positions",
    "read_positions_dir",
    "sheet_period",
    "square_side",
    "torus_diameter",
    "torus_sheet",
    "wrapped_distances",
]
