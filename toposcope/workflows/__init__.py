"""Workflows: runners that combine a model, the extraction and the analyses.

Each takes a loaded model (a :class:`~toposcope.models.subject.Subject`, or a
spec it loads) and returns a result with the model's provenance; recipes and
the CLI call them. What they compute is a pure function in
:mod:`toposcope.analysis` (or a forward pass in :mod:`toposcope.extraction`,
:mod:`toposcope.surgery`); a runner only wires those together.

* :mod:`~toposcope.workflows.efficiency`: pruning and sheet-downsampling curves
  (TopoNets section 3.3), through :mod:`toposcope.surgery`.
* :mod:`~toposcope.workflows.topoloss`: TopoLoss of each topographic layer.
* :mod:`~toposcope.workflows.encoding`: encoding models of story fMRI from a
  language model's word responses in context, layer by layer.
* :mod:`~toposcope.workflows.windows`: integration windows of a language model's
  layers, from its responses to intact and swapped texts.

Import the one you need (``from toposcope.workflows import topoloss``); the
package itself imports nothing.
"""

from __future__ import annotations

__all__ = ["efficiency", "encoding", "topoloss", "windows"]
