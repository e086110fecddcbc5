"""Plotting: one panel or one figure from results in memory (maps on the sheet, curves, scatters).

Three places draw, each one step further from the data:

* :mod:`toposcope.plot` (here): drawing primitives. Each function takes
  DataArrays or Datasets an analysis returned and draws them: a per-unit map
  on the cortical sheet, correlation-vs-distance curves, model scatters. It
  knows nothing of files, runs or papers.
* :mod:`toposcope.figures`: the papers' figure layouts. It reads a finished
  ``toposcope run`` output folder and composes these primitives into each
  paper's figure, with the numbers behind it.
* ``figures/make_figures.py`` at the repository root: the script (the same as
  ``toposcope figures OUT``).

Plotting sits at the end of the data path: it reads analysis results, never
runs a model, and is never imported by :mod:`toposcope.analysis`.
"""

from toposcope.plot.sheet import color_limits, grid_image, plot_sheet, plot_sheets, save_figure

__all__ = ["color_limits", "grid_image", "plot_sheet", "plot_sheets", "save_figure"]
