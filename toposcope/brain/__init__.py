"""Brain comparisons: model units against measured brain responses.

:mod:`toposcope.brain.nsd` reads the Natural Scenes Dataset as distributed and
maps model units to voxels (:func:`toposcope.brain.nsd.map_units_to_voxels`).
Submodules load on first use, so ``import toposcope.brain`` stays cheap.
"""

from __future__ import annotations

__all__ = ["mapping", "nsd"]
