"""Patches: planted blobs found with their count, centroid and area; TDANN's kernel smoothing against a
brute-force weighted mean and its patches of planted discs against the analytic smoothed disc; selective
fractions counted."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import optimize, stats

from toposcope._validation import ToposcopeError
from toposcope.analysis.patches import (
    find_patches,
    kernel_smooth,
    selective_fraction,
    smooth,
    tdann_patches,
)

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


# ----------------------------------------------------------------------------- TDANN's kernel smoothing
def scattered_map(values, xy, dims=("unit",)):
    return xr.DataArray(values, dims=dims, coords={"x": ("unit", xy[:, 0]), "y": ("unit", xy[:, 1])})


def test_kernel_smooth_is_the_gaussian_weighted_mean_at_every_anchor():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 30, size=(400, 2)) * [1.0, 0.6]
    t = rng.normal(size=(2, 400))
    smoothed, gx, gy = kernel_smooth(scattered_map(t, xy, ("contrast", "unit")), sigma=2.4, anchors=12)
    assert smoothed.shape == (2, 12, 12)
    np.testing.assert_allclose([gx[0], gx[-1], gy[0], gy[-1]], [xy[:, 0].min(), xy[:, 0].max(),
                                                                 xy[:, 1].min(), xy[:, 1].max()])
    np.testing.assert_allclose(np.diff(gx), (xy[:, 0].max() - xy[:, 0].min()) / 11)
    # Oracle: the unseparated 2-D kernel, anchor by anchor.
    expected = np.empty_like(smoothed)
    for r in range(12):
        for c in range(12):
            squared = (xy[:, 0] - gx[c]) ** 2 + (xy[:, 1] - gy[r]) ** 2
            expected[:, r, c] = np.average(t, axis=1, weights=np.exp(-squared / (2 * 2.4**2)))
    np.testing.assert_allclose(smoothed, expected, rtol=1e-10)
    single, _, _ = kernel_smooth(scattered_map(t[1], xy), sigma=2.4, anchors=12)
    np.testing.assert_array_equal(single, smoothed[1])


def test_kernel_smooth_keeps_a_constant_and_a_linear_map():
    # A weighted mean of a constant is that constant, wherever the anchor and however uneven the units.
    xy = np.random.default_rng(5).uniform(0, 20, size=(300, 2)) ** [1.0, 1.5]
    smoothed, _, _ = kernel_smooth(scattered_map(np.full(300, 3.5), xy), sigma=1.0, anchors=20)
    np.testing.assert_allclose(smoothed, 3.5, rtol=1e-12)
    # On a dense lattice the kernel mean of t = x is x itself away from the edges.
    rows, cols = np.divmod(np.arange(61 * 61), 61)
    lattice = np.stack([cols, rows], axis=1) * 0.5
    smoothed, gx, _ = kernel_smooth(scattered_map(lattice[:, 0], lattice), sigma=1.0, anchors=31)
    inner = slice(8, -8)
    np.testing.assert_allclose(smoothed[inner, inner], np.broadcast_to(gx[inner], (15, 15)), atol=1e-9)


#: Planted face discs (x, y, radius) on a 70 mm sheet: t = 30 inside, uniform noise |t| < 3 elsewhere.
DISCS = [(14.0, 14.0, 4.0), (52.0, 16.0, 8.0), (34.0, 48.0, 12.0)]


def smoothed_disc_radius(radius, peak=30.0, threshold=2.0, sigma=2.4):
    """Where the Gaussian-smoothed disc (peak inside, 0 outside) falls to ``threshold``.

    At distance rho from the disc's centre the smoothed map is ``peak * P(|p| < radius)`` for
    ``p ~ N((rho, 0), sigma^2 I)``, and ``|p|^2 / sigma^2`` is non-central chi-square (2 dof).
    """
    def excess(rho):
        return peak * stats.ncx2.cdf(radius**2 / sigma**2, 2, rho**2 / sigma**2) - threshold
    return optimize.brentq(excess, 0.0, radius + 10 * sigma)


def planted_discs(discs, n=5000, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 70, size=(n, 2))
    t = rng.uniform(-3, 3, size=n)
    distance = np.stack([np.hypot(xy[:, 0] - x, xy[:, 1] - y) for x, y, _ in discs])
    for d, (_, _, radius) in zip(distance, discs):
        t[d < radius] = 30.0
    return scattered_map(t, xy), distance


def test_a_planted_disc_is_one_patch_of_the_smoothed_discs_area():
    tmap, (distance,) = planted_discs([(30.0, 35.0, 10.0)], n=3000, seed=2)
    patches = tdann_patches(tmap)
    rho = smoothed_disc_radius(10.0)  # 13.35 mm: the disc widened by the smoothing
    assert patches["count"].item() == 1 and patches.sizes["patch"] == 1
    assert patches["area"].item() == pytest.approx(np.pi * rho**2, rel=0.05)
    assert patches["mean_area"].item() == patches["area"].item()
    members = patches["patch_id"].values == 1
    # Member units: the disc and its smoothed rim, within an anchor cell and the noise of the boundary.
    assert members[distance < rho - 1.0].all()
    assert not members[distance > rho + 1.0].any()
    assert patches["n_units"].item() == members.sum()
    assert set(np.unique(patches["patch_id"].values)) == {0, 1}
    assert patches.attrs["cell_area"] == pytest.approx((70 / 99) ** 2, rel=0.01)


def test_patches_are_numbered_largest_first_and_filtered_by_area_and_units():
    tmap, distance = planted_discs(DISCS)
    patches = tdann_patches(tmap)
    assert patches["count"].item() == 3
    # Largest first: the 12 mm disc, the 8 mm, the 4 mm; areas those of the smoothed discs.
    expected = [np.pi * smoothed_disc_radius(r) ** 2 for _, _, r in DISCS[::-1]]
    np.testing.assert_allclose(patches["area"].values, expected, rtol=0.08)
    for number, d in zip((1, 2, 3), distance[::-1]):
        assert (patches["patch_id"].values[d < 3.0] == number).all()
    np.testing.assert_array_equal(patches["n_units"].values,
                                  [(patches["patch_id"].values == k).sum() for k in (1, 2, 3)])
    area, n_units = patches["area"].values, patches["n_units"].values

    def kept(**criteria):
        return tdann_patches(tmap, **criteria)["area"].values

    # Bounds are inclusive: a patch exactly at min_area, max_area or min_units is kept.
    np.testing.assert_array_equal(kept(min_area=area[2]), area)
    np.testing.assert_array_equal(kept(min_area=np.nextafter(area[2], np.inf)), area[:2])
    np.testing.assert_array_equal(kept(max_area=area[0]), area)
    np.testing.assert_array_equal(kept(max_area=np.nextafter(area[0], 0)), area[1:])
    np.testing.assert_array_equal(kept(min_units=int(n_units[2])), area)
    np.testing.assert_array_equal(kept(min_units=int(n_units[2]) + 1), area[:2])
    assert tdann_patches(tmap, threshold=31.0)["count"].item() == 0
    # TDANN's 4,500 mm^2 ceiling: a map above threshold almost everywhere is no patch.
    assert tdann_patches(tmap + 40.0)["count"].item() == 0


def test_a_stack_of_maps_is_patched_map_by_map():
    tmap, _ = planted_discs(DISCS)
    noise = tmap.where(tmap < 10, 0.0)
    stack = xr.concat([tmap, noise], dim="contrast").assign_coords(contrast=["faces", "bodies"])
    patches = tdann_patches(stack)
    assert patches["patch_id"].dims == ("contrast", "unit") and patches["area"].dims == ("contrast", "patch")
    np.testing.assert_array_equal(patches["count"].values, [3, 0])
    alone = tdann_patches(tmap)
    np.testing.assert_array_equal(patches["patch_id"].values[0], alone["patch_id"].values)
    np.testing.assert_array_equal(patches["area"].values[0], alone["area"].values)
    assert np.isnan(patches["area"].values[1]).all() and (patches["n_units"].values[1] == 0).all()
    assert np.isnan(patches["mean_area"].values[1]) and not patches["patch_id"].values[1].any()
    assert list(patches["contrast"].values) == ["faces", "bodies"] and "x" in patches.coords


def test_tdann_patches_bad_input():
    tmap, _ = planted_discs(DISCS[:1], n=200)
    with pytest.raises(ToposcopeError, match="holds 1 NaN or inf values"):
        tdann_patches(tmap.where(tmap.unit != 5))
    with pytest.raises(ToposcopeError, match=r"dims \(unit,\) or \(map, unit\)"):
        tdann_patches(tmap.expand_dims(a=1, b=1))
    with pytest.raises(ToposcopeError, match="sigma must be a positive number"):
        kernel_smooth(tmap, sigma=0)
    with pytest.raises(ToposcopeError, match="anchors must be a positive integer"):
        tdann_patches(tmap, anchors=2.5)
    with pytest.raises(ToposcopeError, match="min_area .* is above max_area"):
        tdann_patches(tmap, min_area=500, max_area=100)
    with pytest.raises(ToposcopeError, match="unit coords 'x' and 'y'"):
        tdann_patches(tmap.drop_vars("y"))
    two_layers = tmap.assign_coords(layer=("unit", ["a"] * 100 + ["b"] * 100))
    with pytest.raises(ToposcopeError, match="units of several layers"):
        tdann_patches(two_layers)
