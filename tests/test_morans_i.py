"""Moran's I against known maps and an independent dense computation (and esda, if installed)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.ndimage import gaussian_filter
from scipy.spatial.distance import cdist

from toposcope._validation import ToposcopeError
from toposcope.analysis import smoothness
from toposcope.analysis.spatial_stats import morans_i, weights


def as_map(values: np.ndarray, positions: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values, dims="unit", coords={"x": ("unit", positions[:, 0]),
                                                     "y": ("unit", positions[:, 1])}, name="t")


def grid_positions(h: int, w: int) -> np.ndarray:
    rows, cols = np.indices((h, w))
    return np.stack([cols.ravel(), rows.ravel()], axis=1).astype(float)


def dense_weights(positions: np.ndarray, adjacency: str, distance: float = 0.0, k: int = 0) -> np.ndarray:
    """Binary weights written out from the definitions, on the full distance matrix."""
    d = cdist(positions, positions)
    np.fill_diagonal(d, np.inf)
    if adjacency == "rook":
        return np.isclose(d, 1.0).astype(float)
    if adjacency == "queen":
        dx = np.abs(positions[:, None, 0] - positions[None, :, 0])
        dy = np.abs(positions[:, None, 1] - positions[None, :, 1])
        return ((np.maximum(dx, dy) == 1) & np.isfinite(d)).astype(float)
    if adjacency == "distance":
        return (d <= distance).astype(float)
    w = np.zeros_like(d)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    np.put_along_axis(w, order, 1.0, axis=1)
    return w


def dense_morans_i(x: np.ndarray, w: np.ndarray, row: bool = True) -> float:
    if row:
        sums = w.sum(axis=1, keepdims=True)
        w = np.divide(w, sums, out=np.zeros_like(w), where=sums > 0)
    z = x - x.mean()
    return len(x) / w.sum() * (z @ w @ z) / (z @ z)


def test_checkerboard_is_perfectly_dispersed_with_rook():
    board = (np.indices((8, 8)).sum(axis=0) % 2).astype(float)
    result = morans_i(board, "rook", permutations=199)
    assert float(result.I) == pytest.approx(-1.0)
    assert float(result.expected_I) == pytest.approx(-1 / 63)
    assert float(result.p) == pytest.approx(1 / 200)  # no relabelling is as extreme
    assert float(morans_i(board, "rook", alternative="greater", permutations=199).p) == 1.0


def test_smooth_gradient_is_strongly_clustered():
    ramp = np.add.outer(np.arange(30.0), np.arange(30.0))
    result = morans_i(ramp, "queen", permutations=99)
    assert float(result.I) > 0.9
    assert float(result.p) == pytest.approx(0.01)


def test_random_map_is_not_significant():
    noise = np.random.default_rng(11).standard_normal((25, 25))
    result = morans_i(noise, "queen", permutations=499, seed=2)
    assert abs(float(result.I) - float(result.expected_I)) < 0.05
    assert float(result.p) > 0.05


@pytest.mark.parametrize("adjacency", ["queen", "rook"])
@pytest.mark.parametrize("transform", ["row", "binary"])
def test_grid_adjacency_matches_a_dense_computation(adjacency, transform):
    values = gaussian_filter(np.random.default_rng(1).standard_normal((9, 12)), 1.5).ravel()
    positions = grid_positions(9, 12)
    expected = dense_morans_i(values, dense_weights(positions, adjacency), row=transform == "row")
    result = morans_i(as_map(values, positions), adjacency, transform=transform, permutations=0)
    assert float(result.I) == pytest.approx(expected, rel=1e-12)
    assert np.isnan(float(result.p))
    assert result.attrs["n_islands"] == 0


def test_grid_step_and_origin_come_from_the_positions():
    values = np.random.default_rng(4).standard_normal(30)
    positions = grid_positions(5, 6)
    scaled = positions * 0.25 + [3.0, -1.0]  # a 0.25 mm lattice somewhere else
    assert float(morans_i(as_map(values, scaled), "rook").I) == pytest.approx(
        float(morans_i(as_map(values, positions), "rook").I))


@pytest.mark.parametrize("adjacency,options", [("distance", {"distance": 0.18}), ("knn", {"k": 5})])
def test_scattered_adjacency_matches_a_dense_computation(adjacency, options):
    rng = np.random.default_rng(7)
    positions = rng.uniform(0, 1, (150, 2))
    values = np.sin(4 * positions[:, 0]) + 0.3 * rng.standard_normal(150)
    dense = dense_weights(positions, adjacency, options.get("distance", 0.0), options.get("k", 0))
    result = morans_i(as_map(values, positions), adjacency, permutations=0, **options)
    assert float(result.I) == pytest.approx(dense_morans_i(values, dense), rel=1e-12)
    np.testing.assert_array_equal(weights(positions, adjacency, transform="binary", **options).toarray(), dense)


def test_image_and_unit_map_agree_and_p_is_seeded():
    image = np.random.default_rng(3).standard_normal((7, 9))
    unit_map = as_map(image.ravel(), grid_positions(7, 9))
    a = morans_i(image, permutations=99, seed=1)
    b = morans_i(unit_map, permutations=99, seed=1)
    assert float(a.I) == float(b.I) and float(a.p) == float(b.p)
    p = float(morans_i(image, permutations=9, seed=5).p)
    assert p * 10 == pytest.approx(round(p * 10))  # (count + 1) / (9 + 1)
    assert b.attrs["map"] == "t"


def test_reexported_from_smoothness():
    assert smoothness.morans_i is morans_i


def test_against_esda():
    pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    from esda.moran import Moran

    values = gaussian_filter(np.random.default_rng(5).standard_normal((28, 28)), 2).ravel()
    for rook in (False, True):  # TopoLM: lat2W(28, 28, rook=False), row-standardised
        reference = Moran(values, libpysal.weights.lat2W(28, 28, rook=rook), permutations=0)
        result = morans_i(values.reshape(28, 28), "rook" if rook else "queen", permutations=0)
        assert float(result.I) == pytest.approx(reference.I, rel=1e-10)
        assert float(result.expected_I) == pytest.approx(reference.EI, rel=1e-12)
    points = np.random.default_rng(6).uniform(0, 10, (120, 2))
    knn = libpysal.weights.KNN.from_array(points, k=6)
    reference = Moran(points[:, 0] + points[:, 1], knn, permutations=0)
    result = morans_i(as_map(points[:, 0] + points[:, 1], points), "knn", k=6, permutations=0)
    assert float(result.I) == pytest.approx(reference.I, rel=1e-10)


# ---------------------------------------------------------------------------- bad input
def test_errors():
    image = np.random.default_rng(0).standard_normal((5, 5))
    with pytest.raises(ToposcopeError, match="unknown adjacency 'queens'.*did you mean 'queen'"):
        morans_i(image, "queens")
    with pytest.raises(ToposcopeError, match="unknown transform 'r'"):
        morans_i(image, transform="r")
    with pytest.raises(ToposcopeError, match="needs a positive distance="):
        morans_i(image, "distance")
    with pytest.raises(ToposcopeError, match="k must be below the number of units"):
        morans_i(image, "knn", k=25)
    with pytest.raises(ToposcopeError, match="the map is constant"):
        morans_i(np.ones((4, 4)))
    with pytest.raises(ToposcopeError, match="holds 1 NaN"):
        morans_i(np.where(np.eye(5, dtype=bool) & (np.arange(5) == 0), np.nan, image))
    with pytest.raises(ToposcopeError, match="permutations must be a non-negative integer"):
        morans_i(image, permutations=-1)
    with pytest.raises(ToposcopeError, match="unknown alternative"):
        morans_i(image, alternative="both")
    scattered = np.random.default_rng(1).uniform(0, 1, (20, 2))
    with pytest.raises(ToposcopeError, match="needs units on a regular grid"):
        morans_i(as_map(np.arange(20.0), scattered), "queen")
    with pytest.raises(ToposcopeError, match="several units share a grid position"):
        morans_i(as_map(np.arange(8.0), np.repeat(grid_positions(2, 2), 2, axis=0)), "rook")
    with pytest.raises(ToposcopeError, match="or a 2-D grid"):
        morans_i(np.zeros((2, 2, 2)))
