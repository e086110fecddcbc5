"""Figures: per-unit maps on the cortical sheet.

Plotting sits at the end of the data path: it reads analysis results and is
never imported by :mod:`toposcope.analysis`.
"""

from toposcope.plot.sheet import color_limits, grid_image, plot_sheet, plot_sheets, save_figure

__all__ = ["color_limits", "grid_image", "plot_sheet", "plot_sheets", "save_figure"]
