"""Smoothness curves and scores on torus sheets: every pair distance is the wrapped one.

Oracles: pair distances by brute force over the nine shifted copies of the sheet, correlations by
``np.corrcoef`` and bins by ``np.histogram``; a map smooth across the seam is the map in the middle
with its units rolled round the torus, so its curve and scores equal those of the middle map,
which they do not on a flat sheet.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from _torus_oracle import brute_force

from toposcope.analysis import _pairs
from toposcope.analysis.smoothness import (
    category_smoothness,
    curve,
    score,
    scores,
    selectivity_curve,
)
from toposcope.sheet import CorticalSheet, grid_sheet, torus_sheet
from toposcope.sheet.torus import offset_distances, torus_diameter, torus_distance_range


def lattice(nx, ny, spacing, origin=(0.0, 0.0)):
    """An ``nx`` x ``ny`` torus lattice of the given spacing; its period is ``(nx, ny) * spacing``."""
    rows, cols = np.divmod(np.arange(nx * ny), nx)
    positions = np.stack([cols * spacing + origin[0], rows * spacing + origin[1]], axis=1)
    return CorticalSheet(positions, period=(nx * spacing, ny * spacing))


def responses_on(sheet, data):
    return xr.DataArray(data, dims=("stimulus", "unit"), coords=sheet.unit_coords("layer"))


def histogram_curve(values, distances, edges):
    """Mean value per bin of ``np.histogram``'s bins (last one closed), NaN where empty; and counts."""
    counts, _ = np.histogram(distances, edges)
    sums, _ = np.histogram(distances, edges, weights=values)
    with np.errstate(invalid="ignore"):
        return sums / counts, counts


@pytest.mark.parametrize("spacing, origin", [(1.0, (0.0, 0.0)), (0.5, (0.25, -3.0))])
def test_correlation_curve_on_a_torus_equals_brute_force_over_nine_copies(spacing, origin):
    # Integer positions take the lattice table, half steps the general binner: both must wrap.
    sheet = lattice(7, 6, spacing, origin)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(40, sheet.n_units)) + np.sin(sheet.positions[:, 0] * 2 * np.pi / sheet.period[0])
    uses_lattice = isinstance(_pairs.pair_binner(np.array([0.0, 1.0]), sheet.positions, sheet.period),
                              _pairs.LatticeBinner)
    assert uses_lattice == (spacing == 1.0)
    result = curve(responses_on(sheet, data), bins=6, chance=False)

    i, j = np.triu_indices(sheet.n_units, 1)
    d = brute_force(sheet.positions, sheet.positions, sheet.period)[i, j]
    r = np.corrcoef(data.T)[i, j]
    # Bins run from the shortest to the longest wrapped distance: one step to 3 x 3 steps on a 7 x 6 torus.
    edges = np.linspace(spacing, np.hypot(3, 3) * spacing, 7)
    np.testing.assert_allclose(result["bin_upper"].values[-1], d.max())
    np.testing.assert_allclose(np.r_[result["bin_lower"].values, result["bin_upper"].values[-1]], edges)
    expected, counts = histogram_curve(r, d, edges)
    np.testing.assert_array_equal(result["pairs"].values, counts)
    np.testing.assert_allclose(result["correlation"].values, expected, rtol=1e-5, atol=1e-6)
    assert result.attrs["torus_period"] == list(sheet.period)
    # No pair is farther apart than the torus allows, so every pair is binned.
    assert counts.sum() == len(d) and d.max() <= torus_diameter(sheet.period)


def test_random_pairs_and_windows_measure_wrapped_distances():
    sheet = lattice(6, 6, 1.0)
    edges = np.linspace(0.0, torus_diameter(sheet.period), 5)
    drawn = []

    def kernel(i, j):
        drawn.append((i, j))
        return np.ones(len(i))

    acc, = _pairs.random_pairs(kernel, [sheet.positions], _pairs.Binner(edges, sheet.period), 5000,
                               np.random.default_rng(1), chunk=999)
    i = np.concatenate([p[0] for p in drawn])
    j = np.concatenate([p[1] for p in drawn])
    d = brute_force(sheet.positions, sheet.positions, sheet.period)[i, j]
    np.testing.assert_array_equal(acc.result()[2], np.histogram(d, edges)[0])
    # Windowed sampling on the same sheet: every pair distance in range of the wrapped bins.
    data = np.random.default_rng(2).normal(size=(30, sheet.n_units))
    result = curve(responses_on(sheet, data), bins=edges, mode="sampled", window=3.0, chance=False)
    assert result["pairs"].sum() > 0


def test_selectivity_curve_on_a_torus_equals_brute_force():
    sheet = lattice(5, 8, 1.0)
    t = np.random.default_rng(3).normal(size=sheet.n_units)
    tmap = xr.DataArray(t, dims="unit", coords=sheet.unit_coords("layer"))
    result = selectivity_curve(tmap, bins=5, chance=False)
    i, j = np.triu_indices(sheet.n_units, 1)
    d = brute_force(sheet.positions, sheet.positions, sheet.period)[i, j]
    # 0 to the longest wrapped distance: 2 steps across 5 columns, 4 across 8 rows.
    edges = np.linspace(0.0, np.hypot(2, 4), 6)
    expected, counts = histogram_curve(np.abs(t[i] - t[j]), d, edges)
    np.testing.assert_array_equal(result["pairs"].values, counts)
    np.testing.assert_allclose(result["difference"].values, expected, rtol=1e-12)


def test_torus_distance_range_and_offsets_match_brute_force():
    rng = np.random.default_rng(4)
    period = (9.0, 5.5)
    xy = rng.uniform(-20, 20, size=(60, 2))
    d = brute_force(np.mod(xy, period), np.mod(xy, period), period)
    np.fill_diagonal(d, np.inf)
    shortest, longest = torus_distance_range(xy, period)
    assert shortest == d.min()
    np.fill_diagonal(d, 0)
    assert d.max() <= longest <= torus_diameter(period)
    # On a grid the bound is reached: odd sides stop a half step short of the torus diameter.
    for sheet, reach in ((torus_sheet(25), np.hypot(2, 2)), (torus_sheet(36), torus_diameter(6))):
        assert torus_distance_range(sheet.positions, sheet.period) == (1.0, pytest.approx(reach, abs=0))
    dx, dy = rng.uniform(-20, 20, size=(2, 50))
    np.testing.assert_array_equal(offset_distances(dx, dy, period),
                                  brute_force(np.stack([dx, dy], 1) % period, np.zeros((1, 2)), period)[:, 0])
    np.testing.assert_array_equal(offset_distances(dx, dy), np.sqrt(dx * dx + dy * dy))  # pdist's arithmetic


SIDE = 16


def blob_responses(cx, cy, torus=True, side=SIDE, n_stimuli=60, sigma=2.0):
    """Units near (cx, cy) share a signal, fading with (wrapped) distance; the rest is noise."""
    sheet = torus_sheet(side * side) if torus else grid_sheet(side * side)
    rng = np.random.default_rng(5)
    noise = rng.normal(size=(n_stimuli, side, side))
    # The noise is tied to the grid relative to the blob, so the seam blob is the middle one rolled.
    noise = np.roll(noise, (int(cy), int(cx)), axis=(1, 2)).reshape(n_stimuli, -1)
    signal = rng.normal(size=(n_stimuli, 1))
    d = _pairs.distances(sheet.positions, np.array([[cx, cy]]), (side, side))[:, 0]
    weight = 3 * np.exp(-(d**2) / (2 * sigma**2))
    return responses_on(sheet, signal * weight + noise)


def test_a_map_smooth_across_the_seam_scores_as_smooth_as_one_in_the_middle():
    middle = curve(blob_responses(8, 8), bins=8, n_shuffles=5)
    seam = curve(blob_responses(0, 0), bins=8, n_shuffles=5)
    np.testing.assert_array_equal(seam["pairs"].values, middle["pairs"].values)
    np.testing.assert_allclose(seam["correlation"].values, middle["correlation"].values, rtol=1e-5, atol=1e-6)
    for kind in ("toponets", "tdann"):
        assert score(seam, kind) == pytest.approx(score(middle, kind), rel=1e-5)
        assert score(middle, kind) > scores(middle, kind)["chance_high"].item()
    # Flat, the corner blob is cut into four corners far apart: correlation rises towards the longest
    # distances (the corners) instead of falling, and TDANN's score (which reads the fall from the
    # first bin) halves.
    flat_middle = curve(blob_responses(8, 8, torus=False), bins=8, chance=False)
    flat_seam = curve(blob_responses(0, 0, torus=False), bins=8, chance=False)
    assert score(flat_seam, "tdann") < 0.6 * score(flat_middle, "tdann")
    assert flat_seam["correlation"].values[-1] > flat_seam["correlation"].values[0] + 0.3
    assert "torus_period" not in flat_seam.attrs


def test_category_smoothness_of_a_seam_blob_on_a_torus():
    sheet = torus_sheet(SIDE * SIDE)

    def tmap(cx, cy, torus):
        d = _pairs.distances(sheet.positions, np.array([[cx, cy]]), (SIDE, SIDE) if torus else None)[:, 0]
        coords = sheet.unit_coords("layer") if torus else grid_sheet(SIDE * SIDE).unit_coords("layer")
        return xr.DataArray(10 * np.exp(-(d**2) / 8), dims="unit", coords=coords)

    def smoothness(m):
        return category_smoothness(m, cutoff=60.0, bins=6, samples=4, sample_size=256)

    assert smoothness(tmap(0, 0, True)) == pytest.approx(smoothness(tmap(8, 8, True)), rel=1e-9)
    assert smoothness(tmap(0, 0, False)) != pytest.approx(smoothness(tmap(8, 8, False)), rel=1e-3)
