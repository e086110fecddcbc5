"""Brain comparisons: model units against measured brain responses.

:mod:`toposcope.brain.nsd` reads the Natural Scenes Dataset as distributed and
maps model units to voxels (:func:`toposcope.brain.nsd.map_units_to_voxels`).
:mod:`~toposcope.brain.stories` and :mod:`~toposcope.brain.story_fmri` read
story-listening fMRI (LeBel et al. 2023, Narratives, plain folders);
:mod:`~toposcope.brain.encoding` fits encoding models to it.
Submodules load on first use, so ``import toposcope.brain`` stays cheap.
"""

from __future__ import annotations

__all__ = ["encoding", "mapping", "nsd", "stories", "story_fmri"]
