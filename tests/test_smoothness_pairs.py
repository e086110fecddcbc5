"""The exact curve's fast paths against brute force: lattice pair counts, far block pairs, threads."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from test_smoothness import as_responses, brute_force

from toposcope.analysis import _pairs, smoothness
from toposcope.sheet import grid_sheet


@pytest.mark.parametrize("edges", [[0.0, 1.0, 2.5, 4.0], [0.5, 3.0, 7.2, 30.0], [2.0, 2.5]])
def test_lattice_pair_counts_equal_a_histogram_of_all_distances(edges):
    rng = np.random.default_rng(0)
    # An irregular integer layout: holes, several units on one spot, off the origin.
    positions = rng.integers(0, 9, size=(70, 2)).astype(np.float64) + [3, -2]
    binner = _pairs.pair_binner(np.asarray(edges), positions)
    assert isinstance(binner, _pairs.LatticeBinner)
    counts = _pairs.lattice_pair_counts(binner, binner.prepare(positions))
    expected, _ = np.histogram(pdist(positions), edges)
    np.testing.assert_array_equal(counts[:-1], expected)
    n = len(positions)
    assert counts.sum() == n * (n - 1) // 2  # the rest fall outside the bins


@pytest.mark.parametrize("scattered", [False, True], ids=["grid", "scattered"])
def test_short_range_curve_skips_far_blocks_and_equals_brute_force(scattered, monkeypatch):
    """Bins end well inside the sheet, so most block pairs hold no binned pair of the sheet
    (but all of a shuffle's); one and three binning threads give the same curve."""
    rng = np.random.default_rng(5)
    positions = grid_sheet(20 * 30).positions
    if scattered:
        positions = positions * 0.9 + rng.uniform(0, 0.2, positions.shape)
    values = rng.standard_normal((25, len(positions))) + np.sin(positions[:, 0] / 3.0)
    edges = [0.0, 1.2, 2.5, 4.0]
    result = smoothness.curve(as_responses(values, positions), bins=edges, block=64, n_shuffles=2)
    mean, sem, count = brute_force(values.astype(np.float32), positions, np.asarray(edges))
    np.testing.assert_array_equal(result.pairs.values, count)
    np.testing.assert_allclose(result.correlation.values, mean, atol=1e-6)
    np.testing.assert_allclose(result.sem.values, sem, atol=1e-6)
    monkeypatch.setattr(_pairs, "BIN_THREADS", 3)
    other = smoothness.curve(as_responses(values, positions), bins=edges, block=64, n_shuffles=2)
    np.testing.assert_allclose(other.correlation.values, result.correlation.values, rtol=1e-12)
    np.testing.assert_allclose(other.shuffled.values, result.shuffled.values, rtol=1e-12)
    np.testing.assert_array_equal(other.pairs.values, result.pairs.values)


def test_scatter_add_matches_bincount_bit_for_bit():
    rng = np.random.default_rng(2)
    index = rng.integers(0, 9, 5000).astype(np.intp)
    values = rng.standard_normal(5000)
    out = np.zeros(9)
    _pairs.scatter_add(out, index, values)
    np.testing.assert_array_equal(out, np.bincount(index, weights=values, minlength=9))


def test_joint_scatter_of_values_and_squares_matches_bincount_bit_for_bit():
    rng = np.random.default_rng(6)
    index = rng.integers(0, 9, 5000).astype(np.intp)
    values = rng.standard_normal(5000)
    total, squares = np.full(9, 0.25), np.full(9, 0.5)
    _pairs.scatter_add_both(total, squares, index, values, values * values)
    np.testing.assert_array_equal(total, 0.25 + np.bincount(index, weights=values, minlength=9))
    np.testing.assert_array_equal(squares, 0.5 + np.bincount(index, weights=values * values, minlength=9))


def test_far_blocks_are_skipped_only_where_the_table_bins_nothing():
    positions = grid_sheet(20 * 30).positions
    binner = _pairs.pair_binner(np.array([0.0, 1.2, 2.5, 4.0]), positions)
    codes = binner.prepare(positions)
    blocks = list(_pairs._blocks(len(positions), 64))
    boxes = _pairs._lattice_boxes(binner, codes, blocks)
    far = [(i, j) for i in range(len(blocks)) for j in range(i, len(blocks)) if _pairs._beyond(binner, boxes, i, j)]
    # Brute force: the blocks' closest pair is beyond the last edge exactly when they are skipped.
    for i in range(len(blocks)):
        for j in range(i, len(blocks)):
            closest = np.sqrt(((positions[blocks[i], None] - positions[None, blocks[j]]) ** 2).sum(-1)).min()
            assert ((i, j) in far) == (closest > 4.0)
    assert far  # most pairs of blocks here
    # A table that maps some far offset into a bin (as a wrapped sheet would) is respected.
    i, j = far[-1]
    binner.table[(codes[blocks[i]][0] - codes[blocks[j]][0]) % len(binner.table)] = 0
    assert not _pairs._beyond(binner, boxes, i, j)
