"""Patches: planted blobs found with their count, centroid and area; selective fractions counted."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.analysis.patches import find_patches, selective_fraction, smooth

#: Two planted blobs: (x, y, peak t, sigma) on a 60 x 40 sheet.
BLOBS = [(15.0, 10.0, 20.0, 3.0), (45.0, 28.0, 25.0, 4.0)]


def field(x, y):
    return sum(a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2)) for cx, cy, a, s in BLOBS)


def expected_area(peak, sigma, threshold=10.0):
    """Area of the disc where a Gaussian blob exceeds ``threshold``."""
    return np.pi * 2 * sigma**2 * np.log(peak / threshold)


def grid_tmap(scale=1.0, layer="it"):
    rows, cols = np.divmod(np.arange(40 * 60), 60)
    return xr.DataArray(field(cols, rows), dims="unit", name="t",
                        coords={"x": ("unit", cols * scale), "y": ("unit", rows * scale),
                                "layer": ("unit", [layer] * 2400)})


def test_planted_patches_on_a_grid():
    patches = find_patches(grid_tmap(), threshold=10, sigma=0)
    assert patches.attrs["count"] == 2
    # Largest first: the 25-peak blob.
    np.testing.assert_allclose(patches["centroid_x"], [45, 15], atol=0.05)
    np.testing.assert_allclose(patches["centroid_y"], [28, 10], atol=0.05)
    np.testing.assert_allclose(patches["area"], [expected_area(25, 4), expected_area(20, 3)], rtol=0.08)
    np.testing.assert_allclose(patches["peak_t"], [25, 20])
    assert (patches["n_units"].values == patches["area"].values).all()  # one unit per unit area
    assert (patches["patch_id"] > 0).sum() == patches["n_units"].sum()
    assert patches["patch_id"].dims == ("unit",) and "layer" in patches.coords


def test_planted_patches_at_scattered_positions():
    positions = np.random.default_rng(0).uniform(0, [60, 40], (4000, 2))
    tmap = xr.DataArray(field(positions[:, 0], positions[:, 1]), dims="unit",
                        coords={"x": ("unit", positions[:, 0]), "y": ("unit", positions[:, 1])})
    patches = find_patches(tmap, threshold=10, sigma=0, resolution=0.5)
    assert patches.attrs["count"] == 2
    np.testing.assert_allclose(patches["centroid_x"], [45, 15], atol=0.3)
    np.testing.assert_allclose(patches["centroid_y"], [28, 10], atol=0.3)
    np.testing.assert_allclose(patches["area"], [expected_area(25, 4), expected_area(20, 3)], rtol=0.1)
    assert patches["peak_t"].values[0] == pytest.approx(25, abs=0.5)


def test_sigma_is_in_sheet_units():
    # The same sheet in millimetres (0.1 mm per grid step): sigma 0.2 mm = 2 grid steps.
    in_steps = find_patches(grid_tmap(), threshold=8, sigma=2.0)
    in_mm = find_patches(grid_tmap(scale=0.1), threshold=8, sigma=0.2)
    assert in_steps.attrs["count"] == in_mm.attrs["count"] == 2
    np.testing.assert_allclose(in_mm["area"], in_steps["area"] * 0.01)
    np.testing.assert_allclose(in_mm["centroid_x"], in_steps["centroid_x"] * 0.1)


def test_smoothing_lowers_peaks_and_joins_speckle():
    image, gx, gy = smooth(grid_tmap(), sigma=3.0)
    assert image.shape == (40, 60) and image.max() < 25 and gx[-1] == 59 and gy[-1] == 39
    rng = np.random.default_rng(1)
    speckle = grid_tmap() * 0 + rng.normal(0, 4, 2400)
    speckle[(np.abs(speckle.x - 30) < 5) & (np.abs(speckle.y - 20) < 5)] += 15
    assert find_patches(speckle, threshold=10, sigma=0).attrs["count"] > 1
    assert find_patches(speckle, threshold=10, sigma=2).attrs["count"] == 1


def test_negative_patches_and_min_area():
    negative = find_patches(-grid_tmap(), threshold=10, sigma=0, sign="negative")
    assert negative.attrs["count"] == 2 and (negative["peak_t"] < 0).all()
    big_only = find_patches(grid_tmap(), threshold=10, sigma=0, min_area=60)
    assert big_only.attrs["count"] == 1 and big_only["centroid_x"].item() == pytest.approx(45, abs=0.05)
    assert find_patches(grid_tmap(), threshold=100).attrs["count"] == 0


def test_selective_fraction_per_contrast_and_layer():
    t = np.array([[11.0, 9.0, 12.0, 0.0, 30.0], [-20.0, 10.0, 10.5, 1.0, 2.0]])
    maps = xr.DataArray(t, dims=("contrast", "unit"),
                        coords={"contrast": ["faces", "bodies"], "layer": ("unit", ["a", "a", "a", "b", "b"])})
    fraction = selective_fraction(maps)
    assert fraction.dims == ("contrast", "layer") and list(fraction["layer"].values) == ["a", "b"]
    np.testing.assert_allclose(fraction.values, [[2 / 3, 1 / 2], [1 / 3, 0]])
    np.testing.assert_allclose(selective_fraction(maps.drop_vars("layer"), threshold=5).values, [0.8, 0.4])


def test_bad_input():
    two_layers = grid_tmap().copy()
    two_layers["layer"] = ("unit", ["a"] * 1200 + ["b"] * 1200)
    with pytest.raises(ToposcopeError, match="units of several layers"):
        find_patches(two_layers)
    with pytest.raises(ToposcopeError, match="unknown sign 'both'"):
        find_patches(grid_tmap(), sign="both")
    with pytest.raises(ToposcopeError, match="sigma must be a non-negative number"):
        find_patches(grid_tmap(), sigma=-1)
    with pytest.raises(ToposcopeError, match="single dim 'unit'"):
        find_patches(grid_tmap().expand_dims(contrast=["faces"]))
