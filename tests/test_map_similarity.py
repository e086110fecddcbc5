"""Map similarity: SSIM as scikit-image on grids, Pearson r as numpy, interpolation, sheet checks."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from skimage.metrics import structural_similarity

from toposcope._validation import ToposcopeError
from toposcope.analysis.map_similarity import (
    compare_maps,
    pearson,
    similarity_matrix,
    ssim,
    to_grid,
)


def smooth_field(x, y, phase=0.0):
    return np.sin(x / 4.0 + phase) + np.cos(y / 5.0) + 0.3 * x / 10


def grid_map(h=20, w=30, phase=0.0, layer="it", noise=0.0, seed=0):
    rows, cols = np.divmod(np.arange(h * w), w)
    values = smooth_field(cols, rows, phase) + noise * np.random.default_rng(seed).normal(size=h * w)
    return xr.DataArray(values, dims="unit",
                        coords={"x": ("unit", cols), "y": ("unit", rows), "layer": ("unit", [layer] * (h * w))})


def scattered_map(n=1500, phase=0.0, seed=0):
    positions = np.random.default_rng(seed).uniform(0, [30, 20], (n, 2))
    return xr.DataArray(smooth_field(positions[:, 0], positions[:, 1], phase), dims="unit",
                        coords={"x": ("unit", positions[:, 0]), "y": ("unit", positions[:, 1])})


def test_ssim_of_a_map_with_itself_is_one():
    for m in (grid_map(), scattered_map()):
        assert ssim(m, m) == pytest.approx(1.0)
        assert pearson(m, m) == pytest.approx(1.0)


def test_ssim_equals_scikit_image_on_grids():
    a, b = grid_map(), grid_map(phase=1.0, noise=0.3)
    image_a, image_b = a.values.reshape(20, 30), b.values.reshape(20, 30)
    data_range = max(image_a.max(), image_b.max()) - min(image_a.min(), image_b.min())
    expected = structural_similarity(image_a, image_b, win_size=7, data_range=data_range)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-12)
    gaussian = structural_similarity(image_a, image_b, data_range=2.0, gaussian_weights=True)
    assert ssim(a, b, data_range=2.0, gaussian_weights=True) == pytest.approx(gaussian, abs=1e-12)


def test_grid_image_follows_positions_not_unit_order():
    m, other = grid_map(), grid_map(phase=2.0)
    order = np.random.default_rng(3).permutation(m.sizes["unit"])
    shuffled = m.isel(unit=order)
    np.testing.assert_array_equal(to_grid(shuffled.values, np.stack([shuffled.x, shuffled.y], 1)),
                                  m.values.reshape(20, 30))
    assert ssim(shuffled, other.isel(unit=order)) == pytest.approx(ssim(m, other))


def test_pearson_equals_numpy_and_signs_follow_the_maps():
    a, b = grid_map(), grid_map(phase=0.7, noise=0.5)
    assert pearson(a, b) == pytest.approx(np.corrcoef(a.values, b.values)[0, 1])
    assert pearson(a, -a) == pytest.approx(-1.0)
    # SSIM is not sign-symmetric (its luminance term flips too), but it ranks a noisy
    # copy of a map above an unrelated map.
    assert ssim(a, grid_map(noise=0.3)) > ssim(a, grid_map(phase=2.5))
    assert compare_maps(a, b).keys() == {"ssim", "pearson"}


def test_scattered_maps_are_interpolated_close_to_the_grid_answer():
    # The same two fields sampled on a grid and at scattered positions agree closely.
    on_grid = ssim(grid_map(), grid_map(phase=1.5))
    scattered = ssim(scattered_map(), scattered_map(phase=1.5))
    assert scattered == pytest.approx(on_grid, abs=0.1)
    image = to_grid(scattered_map().values, np.stack([scattered_map().x, scattered_map().y], 1))
    assert np.isfinite(image).all() and image.shape[0] < image.shape[1]


def test_similarity_matrix_is_symmetric_with_unit_diagonal():
    maps = xr.concat([grid_map(), grid_map(phase=1.0), -grid_map()], dim="contrast").assign_coords(
        contrast=["faces", "bodies", "places"])
    matrix = similarity_matrix(maps)
    assert matrix.dims == ("contrast_a", "contrast_b")
    np.testing.assert_allclose(matrix.values, matrix.values.T)
    np.testing.assert_allclose(np.diag(matrix.values), 1.0)
    r = similarity_matrix(maps, method="pearson")
    assert r.sel(contrast_a="faces", contrast_b="places") == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "other, message",
    [
        (grid_map(h=10, w=30),
         r"\(600 units of layer 'it'\) and map b \(300 units of layer 'it'\) are on different"),
        (grid_map(layer="v4"), "are on different sheets"),
        (grid_map().assign_coords(x=("unit", grid_map().x.values * 2.0)), "are on different sheets"),
    ],
)
def test_maps_on_different_sheets_are_an_error(other, message):
    with pytest.raises(ToposcopeError, match=message):
        ssim(grid_map(), other)
    with pytest.raises(ToposcopeError, match="different sheets"):
        pearson(grid_map(), other)


def test_other_bad_input():
    with pytest.raises(ToposcopeError, match="SSIM needs at least 3x3"):
        ssim(grid_map(h=2, w=10), grid_map(h=2, w=10, phase=1))
    constant = grid_map() * 0 + 1
    with pytest.raises(ToposcopeError, match="map a is constant"):
        pearson(constant, grid_map())
    with pytest.raises(ToposcopeError, match="single dim 'unit'"):
        ssim(grid_map().expand_dims(contrast=["x"]), grid_map())
    with pytest.raises(ToposcopeError, match="unknown method 'mse'"):
        similarity_matrix(grid_map().expand_dims(contrast=["x"]), method="mse")
