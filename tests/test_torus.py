"""Torus sheets: distances with wrap-around against brute force over the nine shifted copies and against
Topoformer's wrapped-distance formula; Moran's I neighbourhoods and patches that wrap, so that a map smooth
across the seam scores exactly as one in the middle."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from _torus_oracle import brute_force

from toposcope._validation import ToposcopeError
from toposcope.analysis.patches import find_patches, kernel_smooth, smooth, tdann_patches
from toposcope.analysis.spatial_stats import morans_i, weights
from toposcope.sheet import (
    CorticalSheet,
    grid_sheet,
    sheet_period,
    square_side,
    torus_diameter,
    torus_sheet,
    wrapped_distances,
)


def test_wrapped_distances_equal_brute_force_over_nine_copies():
    rng = np.random.default_rng(0)
    period = (7.0, 4.5)  # not square: each axis has its own period
    a = rng.uniform(0, period, (40, 2))
    b = rng.uniform(0, period, (30, 2))
    np.testing.assert_allclose(wrapped_distances(a, b, period), brute_force(a, b, period), rtol=0, atol=1e-12)
    # A sheet that wraps measures the same way in every method.
    sheet = CorticalSheet(positions=a, period=period, units="mm")
    dense = brute_force(a, a, period)
    np.testing.assert_allclose(sheet.pairwise_distances(), dense, atol=1e-12)
    blocks = np.concatenate([d for _, d in sheet.distance_blocks(block_size=7)])
    np.testing.assert_allclose(blocks, dense, atol=1e-12)
    for unit, found in enumerate(sheet.neighbors_within(1.5)):
        assert set(found) == set(np.flatnonzero(dense[unit] <= 1.5))
    distances, indices = sheet.nearest_neighbors(3)
    np.testing.assert_allclose(distances, np.sort(dense + np.eye(40) * 1e9, axis=1)[:, :3], atol=1e-9)
    np.testing.assert_allclose(np.take_along_axis(dense, indices, 1), distances, atol=1e-9)
    # Positions beyond one period fold back.
    np.testing.assert_allclose(wrapped_distances(a + [7.0, -9.0], b, period), brute_force(a, b, period), atol=1e-9)


def test_wrapped_distances_are_topoformers_formula_value_for_value():
    # Constraints(s*s, width, wrap=True).distances, re-derived: coordinates are np.indices((s, s)) / s,
    # per-axis distances |a - b|, and wherever one exceeds 0.5 it becomes 1 - it.
    side = 9
    coords = np.indices((side, side)).reshape(2, -1).T / side
    dx = np.abs(coords[:, None, 0] - coords[None, :, 0])
    dy = np.abs(coords[:, None, 1] - coords[None, :, 1])
    dx[dx > 0.5] = 1 - dx[dx > 0.5]
    dy[dy > 0.5] = 1 - dy[dy > 0.5]
    reference = (dx**2 + dy**2) ** 0.5
    np.testing.assert_array_equal(wrapped_distances(coords, coords, 1.0), reference)
    # The torus sheet in grid steps is the same geometry, `side` times larger.
    sheet = torus_sheet(side * side)
    np.testing.assert_allclose(sheet.pairwise_distances() / side, reference, atol=1e-15)
    # The farthest points are half a period away along both axes (reached when the side is even).
    assert torus_diameter((side, side)) >= sheet.pairwise_distances().max()
    assert torus_diameter((10, 10)) == pytest.approx(torus_sheet(100).pairwise_distances().max())


def test_torus_sheet_layout_and_coords():
    sheet = torus_sheet(16)
    assert sheet.wraps and sheet.period == (4.0, 4.0) and sheet.grid == (4, 4)
    assert sheet.describe() == "4x4 torus grid"
    np.testing.assert_array_equal(sheet.positions, grid_sheet(16).positions)  # row-major, x = column
    # The first column's left neighbour is the last column.
    assert sheet.pairwise_distances()[0, 3] == 1.0 and sheet.pairwise_distances()[0, 12] == 1.0
    coords = sheet.unit_coords("layer")
    assert set(coords) == {"layer", "x", "y", "wrap_x", "wrap_y"}
    responses = xr.DataArray(np.zeros((2, 16)), dims=("stimulus", "unit"), coords=coords)
    assert sheet_period(responses) == (4.0, 4.0)
    assert sheet_period(responses.mean("stimulus")) == (4.0, 4.0)  # a map keeps it
    assert sheet_period(xr.DataArray(np.zeros((2, 16)), dims=("stimulus", "unit"),
                                     coords=grid_sheet(16).unit_coords("flat"))) is None
    assert "wrap_x" not in grid_sheet(16).unit_coords("flat")  # flat sheets stay as they are
    assert sheet.with_name("other").period == sheet.period


def test_torus_bad_input():
    with pytest.raises(ToposcopeError, match="390 is not a square.*361 .19 x 19. or 400 .20 x 20."):
        square_side(390)
    with pytest.raises(ToposcopeError, match="not a square"):
        torus_sheet(12)
    with pytest.raises(ToposcopeError, match="not less than the torus period"):
        CorticalSheet(positions=np.array([[0.0, 0.0], [4.0, 1.0]]), period=(4, 4))
    with pytest.raises(ToposcopeError, match="positive and finite"):
        CorticalSheet(positions=np.zeros((2, 2)), period=(0, 4))
    sheet = torus_sheet(16)
    coords = sheet.unit_coords("a")
    mixed = xr.DataArray(np.zeros(32), dims="unit", coords={
        k: ("unit", np.concatenate([v[1], v[1] * (2 if k.startswith("wrap") else 1)])) for k, v in coords.items()})
    with pytest.raises(ToposcopeError, match="different torus periods.*one layer at a time"):
        sheet_period(mixed)
    with pytest.raises(ToposcopeError, match="carry unit coord 'wrap_x' but not wrap_y"):
        sheet_period(xr.DataArray(np.zeros(16), dims="unit", coords={"wrap_x": ("unit", np.ones(16))}))


# --------------------------------------------------------------------------- analyses on a torus
SIDE = 24


def blob_map(cx, cy, side=SIDE, peak=20.0, sigma=2.0, torus=True):
    """A Gaussian blob at (cx, cy), measured the shorter way round, on a side x side torus (or flat) sheet."""
    sheet = torus_sheet(side * side) if torus else grid_sheet(side * side)
    d = wrapped_distances(sheet.positions, np.array([[cx, cy]]), (side, side))[:, 0]
    values = peak * np.exp(-(d**2) / (2 * sigma**2))
    return xr.DataArray(values, dims="unit", name="t", coords=sheet.unit_coords("layer"))


def test_a_map_smooth_across_the_seam_scores_as_one_in_the_middle():
    middle, seam = blob_map(12, 12), blob_map(0, 0)  # the corner blob is cut in four on a flat sheet
    i_middle = morans_i(middle, permutations=0)["I"].item()
    i_seam = morans_i(seam, permutations=0)["I"].item()
    assert i_seam == pytest.approx(i_middle, rel=1e-12)
    assert morans_i(seam, permutations=0).attrs["torus_period"] == [SIDE, SIDE]
    # Flat, the seam blob is four quarter blobs at the corners: Moran's I changes.
    flat_seam = morans_i(blob_map(0, 0, torus=False), permutations=0)["I"].item()
    assert abs(flat_seam - i_seam) > 1e-3
    for adjacency, options in (("distance", {"distance": 2.5}), ("knn", {"k": 8}), ("rook", {})):
        a = morans_i(middle, adjacency, permutations=0, **options)["I"].item()
        b = morans_i(seam, adjacency, permutations=0, **options)["I"].item()
        assert a == pytest.approx(b, rel=1e-9), adjacency


@pytest.mark.parametrize("adjacency, options", [("queen", {}), ("distance", {"distance": 2.3}), ("knn", {"k": 5})])
def test_torus_weights_match_a_dense_computation(adjacency, options):
    # A 6 x 5 torus lattice with spacing 2 (so the lattice and the period are read from the positions).
    rows, cols = np.divmod(np.arange(30), 6)
    positions = np.stack([cols * 2.0 + 1, rows * 2.0], axis=1)
    period = (12.0, 10.0)
    w = weights(positions, adjacency, period=period, transform="binary", **options).toarray()
    dense = brute_force(positions, positions, period)
    np.fill_diagonal(dense, np.inf)
    if adjacency == "queen":
        expected = dense <= 2 * np.sqrt(2) + 1e-9
    elif adjacency == "distance":
        expected = dense <= 2.3
    else:
        # k nearest by wrapped distance; ties at the k-th distance may go either way, so compare distances.
        chosen = np.sort(np.where(w > 0, dense, np.inf), axis=1)[:, :5]
        np.testing.assert_allclose(chosen, np.sort(dense, axis=1)[:, :5])
        return
    np.testing.assert_array_equal(w > 0, expected)


def test_a_patch_across_the_seam_is_one_patch_the_size_of_one_in_the_middle():
    middle = find_patches(blob_map(12.0, 12.0), threshold=10, sigma=1.0)
    seam = find_patches(blob_map(0.0, 0.0), threshold=10, sigma=1.0)
    assert middle.attrs["count"] == seam.attrs["count"] == 1
    assert seam["area"].item() == middle["area"].item()
    assert seam["n_units"].item() == middle["n_units"].item()
    # The circular mean puts the seam patch's centroid on the corner, not in the middle of the sheet.
    centre = np.array([seam["centroid_x"].item(), seam["centroid_y"].item()])
    assert wrapped_distances(centre[None], np.zeros((1, 2)), SIDE)[0, 0] < 1e-6
    assert middle["centroid_x"].item() == pytest.approx(12.0, abs=1e-9)
    assert seam.attrs["torus_period"] == [SIDE, SIDE]
    # Flat, the same corner blob is four patches.
    assert find_patches(blob_map(0.0, 0.0, torus=False), threshold=10, sigma=1.0).attrs["count"] == 4
    # The wrapped filter is the flat filter of the map rolled away from the seam, rolled back.
    image, _, _ = smooth(blob_map(0.0, 0.0), sigma=2.0)
    rolled, _, _ = smooth(blob_map(12.0, 12.0), sigma=2.0)
    np.testing.assert_allclose(image, np.roll(rolled, (-12, -12), axis=(0, 1)), atol=1e-12)


def test_tdann_patches_wrap_too():
    middle = tdann_patches(blob_map(12.0, 12.0), threshold=10, sigma=1.0, min_area=1, max_area=1e4,
                           min_units=1, anchors=48)
    seam = tdann_patches(blob_map(0.0, 0.0), threshold=10, sigma=1.0, min_area=1, max_area=1e4,
                         min_units=1, anchors=48)
    assert middle["count"].item() == seam["count"].item() == 1
    assert seam["area"].values[0] == pytest.approx(middle["area"].values[0])
    assert seam["n_units"].values[0] == middle["n_units"].values[0]
    # Each anchor's value is the wrapped Gaussian-weighted mean of the units, by brute force.
    tmap = blob_map(0.0, 0.0)
    image, gx, gy = kernel_smooth(tmap, sigma=1.5, anchors=12)
    xy = np.stack([tmap.x.values, tmap.y.values], axis=1).astype(float)
    np.testing.assert_allclose(gx, np.arange(12) * 2.0)
    for r, c in ((0, 0), (5, 11), (11, 3)):
        w = np.exp(-brute_force(np.array([[gx[c], gy[r]]]), xy, (SIDE, SIDE))[0] ** 2 / (2 * 1.5**2))
        assert image[r, c] == pytest.approx((w * tmap.values).sum() / w.sum(), rel=1e-10)


def test_find_patches_on_a_torus_needs_a_full_lattice():
    tmap = blob_map(12.0, 12.0).isel(unit=slice(0, 500))  # rows cut short: not one whole period
    with pytest.raises(ToposcopeError, match="not a full lattice of one period.*tdann_patches"):
        find_patches(tmap, threshold=10)
