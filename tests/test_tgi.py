"""TGI: Topoformer's generic summary statistic re-derived by brute force in the test (np.corrcoef, the
wrapped Constraints distances, scipy's spearmanr over the ordered pairs within each max_dist), a planted
smooth map scoring high and its shuffle about 0, the sampled variant within sampling error of the exact one
(and equal to it when it draws every pair), and the bad input the issue lists."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.stats import pearsonr, spearmanr

from toposcope._validation import ToposcopeError
from toposcope.analysis.tgi import MAX_DISTS, tgi
from toposcope.sheet import grid_sheet, torus_sheet


def reference_tgi(activations, side, stat_type="rankcorr", max_dists=MAX_DISTS):
    """Topoformer's calculate_tgi re-derived from its description, every pair drawn (no subsampling)."""
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant unit gives NaN, set to 0 next
        corrs = np.corrcoef(activations.T)
    corrs[np.isnan(corrs)] = 0
    coords = np.indices((side, side)).reshape(2, -1).T / side
    dx = np.abs(coords[:, None, 0] - coords[None, :, 0])
    dy = np.abs(coords[:, None, 1] - coords[None, :, 1])
    dx[dx > 0.5] = 1 - dx[dx > 0.5]
    dy[dy > 0.5] = 1 - dy[dy > 0.5]
    distances = ((dx**2 + dy**2) ** 0.5).reshape(-1)
    corrs = corrs.reshape(-1)
    stats = []
    for max_dist in max_dists:
        inside = distances <= max_dist
        d, c = distances[inside], corrs[inside]
        c, d = c[d != 0], d[d != 0]
        c = (c - c.mean()) / c.std()
        if stat_type == "rankcorr":
            stats.append(-spearmanr(c, d)[0])
        elif stat_type == "corr":
            stats.append(-pearsonr(c, d)[0])
        else:
            stats.append(np.mean(c / d))
    return float(np.mean(stats)), np.asarray(stats)


def as_responses(values, sheet):
    return xr.DataArray(np.asarray(values, dtype=np.float32), dims=("stimulus", "unit"),
                        coords=sheet.unit_coords("layer"))


def smooth_fields(side, n_stimuli, seed=0, max_frequency=2):
    """Responses that are smooth periodic fields on a side x side torus: nearby units correlate."""
    rng = np.random.default_rng(seed)
    y, x = np.divmod(np.arange(side * side), side)
    out = np.zeros((n_stimuli, side * side))
    for kx in range(-max_frequency, max_frequency + 1):
        for ky in range(-max_frequency, max_frequency + 1):
            phase = 2 * np.pi * (kx * x + ky * y) / side
            a, b = rng.normal(size=(2, n_stimuli, 1)) / (1 + kx**2 + ky**2)
            out += a * np.cos(phase) + b * np.sin(phase)
    return out + 0.05 * rng.normal(size=out.shape)


@pytest.mark.parametrize("stat", ["rankcorr", "corr", "standard"])
def test_exact_tgi_is_the_reference_formula_by_brute_force(stat):
    side = 15  # 0.1 of the side holds two distances (1 and sqrt 2 steps): the statistic is defined
    rng = np.random.default_rng(1)
    activations = smooth_fields(side, 60, seed=2) + rng.normal(0, 0.5, (60, side * side))
    activations[:, 5] = 3.0  # a constant unit correlates 0 with everyone, as in the reference
    expected, per_dist = reference_tgi(activations.astype(np.float32).astype(np.float64), side, stat)
    result = tgi(as_responses(activations, torus_sheet(side * side)), stat=stat)
    # The reference ranks ordered pairs, whose two copies np.corrcoef computes a rounding step apart
    # (c_ij vs c_ji), which splits their tie: a 1e-7 effect on a rank correlation, none on the others.
    tolerance = 1e-5 if stat == "rankcorr" else 1e-9
    np.testing.assert_allclose(result["stat"].values, per_dist, rtol=tolerance, atol=1e-12)
    assert result["tgi"].item() == pytest.approx(expected, rel=tolerance, abs=1e-12)
    assert result.attrs["side"] == side and result.attrs["torus_period"] == [side, side]
    assert result.attrs["n_constant_units"] == 1 and result.attrs["n_units"] == side * side
    np.testing.assert_allclose(result["max_dist"], np.linspace(0.1, 0.8, 8))


def test_planted_smooth_map_scores_high_and_its_shuffle_about_zero():
    side = 16
    sheet = torus_sheet(side * side)
    responses = as_responses(smooth_fields(side, 300), sheet)
    planted = tgi(responses)["tgi"].item()
    assert planted > 0.5
    shuffled = responses.isel(unit=np.random.default_rng(0).permutation(side * side))
    shuffled = shuffled.assign_coords(x=("unit", responses.x.values), y=("unit", responses.y.values))
    assert abs(tgi(shuffled)["tgi"].item()) < 0.03
    # On a torus the seam is nowhere: rolling the map across it leaves the TGI unchanged.
    grid = responses.values.reshape(-1, side, side)
    rolled = as_responses(np.roll(grid, (5, 9), axis=(1, 2)).reshape(-1, side * side), sheet)
    assert tgi(rolled)["tgi"].item() == pytest.approx(planted, abs=1e-9)


def test_sampled_variant_is_the_exact_value_within_sampling_error():
    side = 20
    responses = as_responses(smooth_fields(side, 200, seed=3, max_frequency=3)
                             + np.random.default_rng(4).normal(0, 1.0, (200, side * side)), torus_sheet(side**2))
    exact = tgi(responses)
    draws = [tgi(responses, method="sampled", n_samples=5000, seed=s)["tgi"].item() for s in range(6)]
    assert len(set(draws)) == 6  # really drawn, and seeded
    assert tgi(responses, method="sampled", n_samples=5000, seed=2)["tgi"].item() == draws[2]
    # Spearman's rho from 5,000 pairs has a standard error of about (1 - rho^2) / sqrt(5000) < 0.015
    # per max_dist; the mean over eight is well within 0.02.
    assert np.abs(np.asarray(draws) - exact["tgi"].item()).max() < 0.02
    assert 0.2 < exact["tgi"].item()
    # Drawing every ordered pair is the exact statistic: each unordered pair counted twice.
    everything = tgi(responses, method="sampled", n_samples=10**6)
    np.testing.assert_allclose(everything["stat"].values, exact["stat"].values, rtol=1e-5)
    np.testing.assert_array_equal(everything["n_pairs"].values, 2 * exact["n_pairs"].values)
    assert everything.attrs["method"] == "sampled" and everything.attrs["n_samples"] == 10**6


def test_flat_sheets_measure_without_wrap_and_the_side_is_the_grid_side():
    side = 8
    activations = smooth_fields(side, 80)
    flat = tgi(as_responses(activations, grid_sheet(side * side)))
    assert flat.attrs["side"] == side and "torus_period" not in flat.attrs
    # By brute force: the same statistic with flat distances.
    coords = np.indices((side, side)).reshape(2, -1).T / side
    d = np.hypot(*(coords[:, None] - coords[None]).transpose(2, 0, 1)).ravel()
    c = np.corrcoef(activations.astype(np.float32).astype(float).T).ravel()
    stats = [-spearmanr(c[(d <= m) & (d > 0)], d[(d <= m) & (d > 0)])[0] if m >= 1 / side else np.nan
             for m in MAX_DISTS]
    # 0.1 of an 8-unit side holds no pair: undefined, and left out of the mean.
    assert np.isnan(flat["stat"].values[0]) and flat["n_pairs"].values[0] == 0
    assert flat.attrs["max_dists_undefined"] == 1
    assert flat["tgi"].item() == pytest.approx(np.nanmean(stats), rel=1e-6)
    one = tgi(as_responses(activations, grid_sheet(side * side)), max_dist=0.5, side=4.0)
    assert one.sizes["max_dist"] == 1 and one.attrs["side"] == 4.0


def test_snapped_distances_tie_where_the_geometry_ties():
    side = 20  # 1/20 is not a binary fraction: the reference's distances split some ties by rounding
    activations = smooth_fields(side, 120, seed=5) + np.random.default_rng(6).normal(0, 1.0, (120, side * side))
    responses = as_responses(activations, torus_sheet(side * side))
    snapped = tgi(responses, snap_distances=True)
    assert snapped.attrs["snap_distances"] == 1
    # Brute force on integer squared distances (exact ties), each pair once.
    rows, cols = np.divmod(np.arange(side * side), side)
    dr, dc = (np.abs(a[:, None] - a[None]) for a in (rows, cols))
    squared = np.minimum(dr, side - dr) ** 2 + np.minimum(dc, side - dc) ** 2
    c = np.corrcoef(activations.astype(np.float32).astype(float).T)
    i, j = np.triu_indices(side * side, 1)
    stats = [-spearmanr(c[i, j][(squared[i, j] <= (m * side) ** 2 + 1e-9)],
                        squared[i, j][(squared[i, j] <= (m * side) ** 2 + 1e-9)])[0] for m in MAX_DISTS]
    np.testing.assert_allclose(snapped["stat"].values, stats, rtol=1e-9)
    # The reference's own floats differ from it where ties split (most at small max_dist).
    assert abs(tgi(responses)["stat"].values[0] - stats[0]) > 1e-3


def test_tgi_bad_input():
    sheet = torus_sheet(36)
    responses = as_responses(smooth_fields(6, 20), sheet)
    for bad in (0, 1.5, -0.1, [0.2, 2.0], np.nan):
        with pytest.raises(ToposcopeError, match=r"max_dist must be a fraction of the map side in \(0, 1\]"):
            tgi(responses, max_dist=bad)
    with pytest.raises(ToposcopeError, match="unknown method 'fast'"):
        tgi(responses, method="fast")
    wide = responses.assign_coords(wrap_y=("unit", np.full(36, 12.0, dtype=np.float32)))
    with pytest.raises(ToposcopeError, match=r"torus is not square \(6 x 12\)"):
        tgi(wide)
    two = xr.concat([responses, responses.assign_coords(layer=("unit", ["other"] * 36))], dim="unit")
    with pytest.raises(ToposcopeError, match="2 layers"):
        tgi(two)
    with pytest.raises(ToposcopeError, match="side must be a positive number"):
        tgi(responses, side=0)
