"""Per-voxel encoding results drawn on the fsaverage cortex that nilearn ships (no download)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.plot.encoding import FSAVERAGE5_VERTICES, _surface_values, plot_encoding_surface

pytest.importorskip("nilearn")


def _red_faces(ax):
    colours = np.asarray(ax.collections[0].get_facecolor())
    return int(((colours[:, 0] > 0.5) & (colours[:, 1] < 0.3) & (colours[:, 2] < 0.3)).sum())


def test_r_on_the_left_temporal_lobe_is_drawn_there_and_nowhere_else():
    from nilearn import datasets

    left = datasets.load_fsaverage("fsaverage5")["pial"].parts["left"].coordinates
    temporal = (left[:, 0] < -45) & (left[:, 2] < 10) & (left[:, 1] > -60) & (left[:, 1] < 0)
    n6 = 40962  # fsaverage6 vertices per hemisphere (Narratives' space); its first 10,242 are fsaverage5's
    rng = np.random.default_rng(0)
    r_left, r_right = rng.normal(0, 0.02, n6), rng.normal(0, 0.02, n6)
    r_left[:FSAVERAGE5_VERTICES][temporal] += 0.5
    result = xr.Dataset({"r": ("voxel", np.r_[r_left, r_right])},
                        coords={"hemisphere": ("voxel", np.repeat(["L", "R"], n6)),
                                "vertex": ("voxel", np.r_[np.arange(n6), np.arange(n6)])})
    figure = plot_encoding_surface(result, threshold=0.1)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:4] == ["left hemisphere, lateral", "left hemisphere, medial", "right hemisphere, lateral",
                          "right hemisphere, medial"]
    assert len(figure.axes) == 5 and figure.axes[4].get_ylabel() == "r"  # four views and the colour bar
    assert "finer mesh" in figure._suptitle.get_text()
    red = [_red_faces(ax) for ax in figure.axes[:4]]
    assert red[0] > 100 and red[2] == 0 and red[3] == 0  # the lateral left temporal lobe, not the right
    # swapped labels (lh/rh spelling) put the map on the right hemisphere, at the fsaverage5 vertices
    swapped = result.assign_coords(hemisphere=("voxel", np.repeat(["rh", "lh"], n6)))
    maps, finer = _surface_values(swapped, "r")
    assert finer and maps["right"].shape == (FSAVERAGE5_VERTICES,)
    np.testing.assert_array_equal(maps["right"], r_left[:FSAVERAGE5_VERTICES])
    np.testing.assert_array_equal(maps["left"], r_right[:FSAVERAGE5_VERTICES])


def test_surface_plot_says_what_it_needs():
    plain = xr.Dataset({"r": ("voxel", np.zeros(5))}, coords={"index": ("voxel", np.arange(5))})
    with pytest.raises(ToposcopeError, match="no voxel coords 'hemisphere', 'vertex'"):
        plot_encoding_surface(plain)
    bad = plain.assign_coords(hemisphere=("voxel", ["L", "L", "X", "R", "R"]), vertex=("voxel", np.arange(5)))
    with pytest.raises(ToposcopeError, match="hemisphere labels \\['X'\\] are not L/R"):
        plot_encoding_surface(bad)
    with pytest.raises(ToposcopeError, match="needs a Dataset with 'r_norm'"):
        plot_encoding_surface(bad, "r_norm")
