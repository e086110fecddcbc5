"""Smoothness curves and scores on planted data with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.ndimage import gaussian_filter
from scipy.spatial.distance import pdist

from toposcope._validation import ToposcopeError
from toposcope.analysis import smoothness
from toposcope.sheet import grid_sheet


def as_responses(values: np.ndarray, positions: np.ndarray, layer: str = "layer") -> xr.DataArray:
    """A responses DataArray (stimulus, unit) with sheet positions as unit coords."""
    n_stimuli, n_units = values.shape
    return xr.DataArray(
        values.astype(np.float32),
        dims=("stimulus", "unit"),
        coords={
            "stimulus_id": ("stimulus", [f"s{i}" for i in range(n_stimuli)]),
            "layer": ("unit", np.full(n_units, layer, dtype=object)),
            "x": ("unit", positions[:, 0]),
            "y": ("unit", positions[:, 1]),
        },
        name="responses",
    )


def smooth_field(n_stimuli: int, shape: tuple[int, int], sigma: float, seed: int = 0) -> np.ndarray:
    """Responses (n_stimuli, h * w): each stimulus a Gaussian random field on the grid, row-major."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_stimuli, *shape))
    fields = np.stack([gaussian_filter(f, sigma, mode="wrap") for f in noise])
    return fields.reshape(n_stimuli, -1)


def brute_force(values: np.ndarray, positions: np.ndarray, edges: np.ndarray):
    """Mean, SEM and count of pair correlations per distance bin, from the full matrices."""
    corr = np.corrcoef(values.T.astype(np.float64))
    r = corr[np.triu_indices(len(corr), k=1)]
    d = pdist(positions)  # same pair order as the upper triangle
    count, _ = np.histogram(d, edges)
    total, _ = np.histogram(d, edges, weights=r)
    squares, _ = np.histogram(d, edges, weights=r * r)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        sem = np.sqrt((squares - count * mean**2) / (count - 1) / count)
    return mean, sem, count


@pytest.fixture(scope="module")
def smooth():
    sheet = grid_sheet(24 * 24)
    return as_responses(smooth_field(150, (24, 24), sigma=2.0), sheet.positions)


# ---------------------------------------------------------------------------- exact curve
@pytest.mark.parametrize("scattered", [False, True], ids=["grid", "scattered"])
@pytest.mark.parametrize("bins", [12, [0.0, 0.5, 1.5, 2.0, 3.7, 6.0, 9.0]], ids=["count", "edges"])
def test_exact_curve_equals_brute_force(scattered, bins):
    rng = np.random.default_rng(3)
    positions = grid_sheet(13 * 17).positions
    if scattered:  # non-integer positions take the general (non-lattice) binning path
        positions = positions * 0.731 + rng.uniform(0, 0.3, positions.shape)
    values = rng.standard_normal((30, len(positions))) + np.linspace(0, 1, len(positions))
    result = smoothness.curve(as_responses(values, positions), bins=bins, block=50)
    edges = np.append(result.bin_lower.values, result.bin_upper.values[-1])
    mean, sem, count = brute_force(values.astype(np.float32), positions, edges)
    np.testing.assert_array_equal(result.pairs.values, count)
    np.testing.assert_allclose(result.correlation.values, mean, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(result.sem.values, sem, atol=1e-6, equal_nan=True)
    assert result.pairs.sum() <= len(positions) * (len(positions) - 1) // 2


def test_count_bins_span_the_shortest_to_the_longest_distance_as_tdann_bins():
    positions = grid_sheet(6 * 8).positions  # 6 rows, 8 columns
    values = np.random.default_rng(0).standard_normal((10, 48))
    result = smoothness.curve(as_responses(values, positions), bins=5)
    # TDANN: np.histogram_bin_edges over the pair distances, i.e. equal bins from min to max.
    np.testing.assert_allclose(np.append(result.bin_lower.values, result.bin_upper.values[-1]),
                               np.histogram_bin_edges(pdist(positions), bins=5), rtol=1e-12)
    assert result.bin_lower.values[0] == 1.0  # the grid spacing: no empty bin before the neighbours
    assert result.bin_upper.values[-1] == pytest.approx(np.hypot(7, 5))
    assert int(result.pairs.sum()) == 48 * 47 // 2  # every pair once, no self-pairs
    assert result.correlation.dims == ("bin",)
    np.testing.assert_allclose(result.distance.values, (result.bin_lower + result.bin_upper).values / 2)
    np.testing.assert_array_equal(result.bin.values, np.arange(5))


def test_smooth_field_decays_with_distance_and_chance_is_flat(smooth):
    result = smoothness.curve(smooth, bins=16)
    r = result.correlation.values
    assert r[0] > 0.6  # neighbours of a sigma-2 field are strongly correlated
    assert np.all(np.diff(r[:5]) < 0)  # and the correlation falls with distance
    assert r[0] - np.nanmin(r) > 0.6
    used = result.pairs.values > 100
    chance = result.chance.values[used]
    assert np.ptp(chance) < 0.05
    # Shuffling positions keeps the pairs, so chance sits at the mean over all pairs.
    overall = np.nansum(r * result.pairs.values) / result.pairs.values.sum()
    np.testing.assert_allclose(chance, overall, atol=0.03)
    assert smoothness.score(result, "toponets") > 8 * smoothness.score(result, "toponets", variable="chance")
    scored = smoothness.scores(result)
    assert scored["chance_high"] < 0.1
    assert scored["corrected"] > 0.7
    assert scored["p_value"] == pytest.approx(1 / 21)  # above all 20 shuffles


def test_shuffled_positions_give_a_flat_curve_at_chance(smooth):
    rng = np.random.default_rng(5)
    positions = np.stack([smooth.x.values, smooth.y.values], axis=1)[rng.permutation(smooth.sizes["unit"])]
    shuffled = as_responses(smooth.values, positions)
    result = smoothness.curve(shuffled, bins=16)
    used = result.pairs.values > 100
    assert np.ptp(result.correlation.values[used]) < 0.05
    np.testing.assert_allclose(result.correlation.values[used], result.chance.values[used], atol=0.04)


def test_sampled_windows_approximate_exact(smooth):
    edges = np.linspace(0, 6 * np.sqrt(2), 7)
    exact = smoothness.curve(smooth, bins=edges)
    sampled = smoothness.curve(smooth, bins=edges, mode="sampled", window=6, max_units=30, seed=1)
    assert sampled.attrs["sampling"] == "windows" and sampled.attrs["sem_over"] == "windows"
    assert 1 < sampled.attrs["n_windows"] <= 50
    both = (exact.pairs.values > 0) & (sampled.pairs.values > 50)
    np.testing.assert_allclose(sampled.correlation.values[both], exact.correlation.values[both], atol=0.06)


def test_sampled_random_pairs_approximate_exact(smooth):
    exact = smoothness.curve(smooth, bins=8)
    sampled = smoothness.curve(smooth, bins=8, mode="sampled", sampling="pairs", n_pairs=60_000)
    assert int(sampled.pairs.sum()) == 60_000
    used = exact.pairs.values > 1000
    np.testing.assert_allclose(sampled.correlation.values[used], exact.correlation.values[used], atol=0.02)


def test_dask_backed_responses_give_the_same_curve(smooth):
    lazy = smooth.chunk({"stimulus": 16})
    eager = smoothness.curve(smooth, bins=10)
    streamed = smoothness.curve(lazy, bins=10)
    xr.testing.assert_allclose(eager, streamed)


def test_curve_is_deterministic_and_seeded(smooth):
    first = smoothness.curve(smooth, bins=10, seed=4)
    xr.testing.assert_identical(first, smoothness.curve(smooth, bins=10, seed=4))
    other = smoothness.curve(smooth, bins=10, seed=5)
    np.testing.assert_array_equal(first.correlation.values, other.correlation.values)
    assert not np.array_equal(first.chance.values, other.chance.values)


def test_input_is_not_mutated(smooth):
    before = smooth.copy(deep=True)
    smoothness.curve(smooth, bins=6)
    smoothness.curve(smooth, bins=6, mode="sampled")
    xr.testing.assert_identical(smooth, before)


def test_constant_units_are_excluded_and_counted(smooth):
    values = smooth.values.copy()
    values[:, [0, 40, 575]] = 7.0  # dead units, two in the corners that set the diameter
    result = smoothness.curve(as_responses(values, np.stack([smooth.x, smooth.y], axis=1)), bins=10)
    assert result.attrs["n_constant_units"] == 3
    # Count bins follow the whole sheet, so dead units do not move the bins.
    np.testing.assert_array_equal(result.distance.values, smoothness.curve(smooth, bins=10).distance.values)
    assert result.attrs["n_units"] == smooth.sizes["unit"] - 3
    kept = np.setdiff1d(np.arange(smooth.sizes["unit"]), [0, 40, 575])
    reference = smoothness.curve(smooth.isel(unit=kept), bins=result.bin_lower.values.tolist()
                                 + [float(result.bin_upper[-1])])
    np.testing.assert_allclose(result.correlation.values, reference.correlation.values, atol=1e-7)
    for kind in smoothness.KINDS:
        assert np.isfinite(smoothness.score(result, kind))


def test_empty_bins_are_nan_with_zero_pairs():
    positions = grid_sheet(5 * 5).positions  # integer distances: 1, 1.41, 2, ...
    values = np.random.default_rng(0).standard_normal((8, 25))
    result = smoothness.curve(as_responses(values, positions), bins=[0.0, 0.5, 1.2, 1.3, 3.0])
    np.testing.assert_array_equal(result.pairs.values[[0, 2]], [0, 0])
    assert np.isnan(result.correlation.values[[0, 2]]).all()
    assert np.isfinite(result.correlation.values[[1, 3]]).all()
    assert np.isfinite(smoothness.score(result, "toponets"))
    with pytest.raises(ToposcopeError, match="first distance bin of the curve is empty"):
        smoothness.score(result, "tdann")


# ---------------------------------------------------------------------------- scores
def test_toponets_score_is_highest_minus_lowest_bin():
    assert smoothness.score([0.5, 0.3, np.nan, 0.1], "toponets") == pytest.approx(0.4)
    assert smoothness.score(xr.DataArray([0.2, 0.2]), "toponets") == 0.0


def test_tdann_score_on_a_change_curve_truncates_at_the_first_empty_bin():
    assert smoothness.score([0.2, 0.5, 1.0, np.nan, 3.0], "tdann") == pytest.approx(0.8)
    assert smoothness.score([0.0, 0.0, 0.0], "tdann") == 1.0  # no change anywhere: perfectly smooth
    assert smoothness.score([0.5, 0.5], "tdann") == 0.0  # flat but non-zero change: no distance effect


def test_tdann_score_on_a_correlation_curve_uses_dissimilarity():
    curve = xr.Dataset({"correlation": ("bin", [0.6, 0.3, 0.1, np.nan])}, attrs={"kind": "correlation"})
    assert smoothness.score(curve, "tdann") == pytest.approx((0.9 - 0.4) / 0.9)
    assert smoothness.score(curve, "toponets") == pytest.approx(0.5)


def test_score_errors():
    with pytest.raises(ToposcopeError, match="unknown kind 'topo'"):
        smoothness.score([1.0, 0.5], "topo")
    with pytest.raises(ToposcopeError, match="no non-empty bin"):
        smoothness.score([np.nan, np.nan], "toponets")
    with pytest.raises(ToposcopeError, match="non-negative change curve"):
        smoothness.score([-1.0, -0.5], "tdann")
    with pytest.raises(ToposcopeError, match="has no variable 'chance'"):
        smoothness.score(xr.Dataset({"correlation": ("bin", [0.5])}), variable="chance")
    with pytest.raises(ToposcopeError, match="must be 1-D"):
        smoothness.score(np.zeros((2, 2)))


# ---------------------------------------------------------------------------- selectivity maps
def selectivity_map(values: np.ndarray, positions: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values, dims="unit", coords={"x": ("unit", positions[:, 0]),
                                                     "y": ("unit", positions[:, 1])}, name="faces")


def test_selectivity_curve_equals_brute_force_and_rises_for_a_smooth_map():
    positions = grid_sheet(20 * 20).positions
    t = gaussian_filter(np.random.default_rng(2).standard_normal((20, 20)), 3).ravel() * 10
    result = smoothness.selectivity_curve(selectivity_map(t, positions), bins=10, block=64)
    edges = np.append(result.bin_lower.values, result.bin_upper.values[-1])
    diff = pdist(t[:, None], "cityblock")
    count, _ = np.histogram(pdist(positions), edges)
    total, _ = np.histogram(pdist(positions), edges, weights=diff)
    np.testing.assert_array_equal(result.pairs.values, count)
    np.testing.assert_allclose(result.difference.values, total / count, rtol=1e-12)
    assert result.difference.values[0] < result.difference.values[3]
    assert np.ptp(result.chance.values[count > 500]) < 0.15 * np.nanmax(result.chance.values)
    assert result.attrs["map"] == "faces"
    assert 0 < smoothness.score(result, "tdann") <= 1


def test_selectivity_curve_sampled_approximates_exact():
    positions = grid_sheet(20 * 20).positions
    t = gaussian_filter(np.random.default_rng(2).standard_normal((20, 20)), 3).ravel()
    tmap = selectivity_map(t, positions)
    exact = smoothness.selectivity_curve(tmap, bins=8)
    sampled = smoothness.selectivity_curve(tmap, bins=8, mode="sampled", samples=20, sample_size=200)
    assert sampled.attrs["sampling"] == "subsets"
    used = exact.pairs.values > 1000
    np.testing.assert_allclose(sampled.difference.values[used], exact.difference.values[used],
                               rtol=0.1)



def tdann_score_brute_force(t, positions, edges):
    """TDANN's category smoothness over all pairs: mean |t_i - t_j| per bin, (max(c) - c[0]) / max(c)."""
    distance, difference = pdist(positions), pdist(t[:, None], "cityblock")
    count, _ = np.histogram(distance, edges)
    total, _ = np.histogram(distance, edges, weights=difference)
    with np.errstate(invalid="ignore"):
        c = total / count
    empty = np.flatnonzero(count == 0)
    c = c[: empty[0]] if len(empty) else c
    return (c.max() - c[0]) / c.max()


@pytest.mark.parametrize(("extent", "cutoff", "bins", "top"), [
    ((30.0, 20.0), 60.0, 9, np.hypot(30.0, 20.0)),  # a sheet smaller than the cutoff: bins end at its diagonal
    ((100.0, 80.0), 60.0, 9, 60.0),  # a larger sheet: pairs beyond the 60 mm cutoff are dropped
    ((100.0, 80.0), 25.0, 5, 25.0),
], ids=["small-sheet", "tdann", "other-cutoff"])
def test_category_smoothness_equals_the_all_pairs_score_when_every_unit_is_sampled(extent, cutoff, bins, top):
    rng = np.random.default_rng(7)
    positions = rng.uniform(0, extent, size=(300, 2))
    t = 0.2 * positions[:, 0] + rng.normal(0, 1.0, 300)
    # 300 units and sets of 500: every set holds every unit, so the sampled curve is the exact one.
    got = smoothness.category_smoothness(selectivity_map(t, positions), cutoff=cutoff, bins=bins)
    top = min(top, np.hypot(*np.ptp(positions, axis=0)))
    assert got == pytest.approx(tdann_score_brute_force(t, positions, np.linspace(0, top, bins + 1)), rel=1e-9)


def test_category_smoothness_with_tdanns_sampling_tells_a_gradient_from_noise():
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 70, size=(4000, 2))
    gradient = smoothness.category_smoothness(selectivity_map(positions[:, 0], positions))
    noise = smoothness.category_smoothness(selectivity_map(rng.normal(size=4000), positions))
    # t = x: |dt| = |dx| grows with distance (mean |dx| near 60 mm is about 13x that under 6.7 mm).
    assert gradient > 0.85 and abs(noise) < 0.05
    # 25 sets of 500 of 4000 units: another seed draws other sets, and nearly the same score.
    other = smoothness.category_smoothness(selectivity_map(positions[:, 0], positions), seed=1)
    assert other != gradient and other == pytest.approx(gradient, abs=0.02)


def test_category_smoothness_bad_input():
    positions = grid_sheet(16).positions.astype(np.float64)
    tmap = selectivity_map(np.arange(16.0), positions)
    with pytest.raises(ToposcopeError, match="cutoff must be a positive sheet distance"):
        smoothness.category_smoothness(tmap, cutoff=0)
    with pytest.raises(ToposcopeError, match="bins must be a positive integer"):
        smoothness.category_smoothness(tmap, bins=0)
    with pytest.raises(ToposcopeError, match="holds 1 NaN or inf values"):
        smoothness.category_smoothness(tmap.where(tmap > 0))


# ---------------------------------------------------------------------------- bad input
@pytest.fixture
def small():
    positions = grid_sheet(4 * 5).positions
    return as_responses(np.random.default_rng(0).standard_normal((6, 20)), positions)


def test_too_few_stimuli(small):
    with pytest.raises(ToposcopeError, match="2 stimuli but at least 3 are needed"):
        smoothness.curve(small.isel(stimulus=slice(0, 2)))


def test_nan_responses(small):
    broken = small.copy(deep=True)
    broken[2, 5] = np.nan
    with pytest.raises(ToposcopeError, match="1 NaN or inf values in 1 of 20 units"):
        smoothness.curve(broken)


def test_unknown_options(small):
    with pytest.raises(ToposcopeError, match="unknown mode 'exakt'.*did you mean 'exact'"):
        smoothness.curve(small, mode="exakt")
    with pytest.raises(ToposcopeError, match="unknown sampling 'window'"):
        smoothness.curve(small, mode="sampled", sampling="window")
    with pytest.raises(ToposcopeError, match="block must be a positive integer"):
        smoothness.curve(small, block=0)


def test_bad_bins(small):
    with pytest.raises(ToposcopeError, match="strictly increasing"):
        smoothness.curve(small, bins=[0.0, 2.0, 1.0])
    with pytest.raises(ToposcopeError, match="positive count"):
        smoothness.curve(small, bins=0)


def test_bad_window(small):
    with pytest.raises(ToposcopeError, match="window must be a positive sheet distance"):
        smoothness.curve(small, mode="sampled", window=-1)
    with pytest.raises(ToposcopeError, match="no window of side 0.1 holds 2 or more units"):
        smoothness.curve(small, mode="sampled", window=0.1)


def test_missing_positions_and_wrong_types(small):
    with pytest.raises(ToposcopeError, match="need unit coords 'x' and 'y'"):
        smoothness.curve(small.drop_vars("x"))
    with pytest.raises(ToposcopeError, match="must be an xr.DataArray"):
        smoothness.curve(small.values)
    with pytest.raises(ToposcopeError, match=r"must have dims \('stimulus', 'unit'\)"):
        smoothness.curve(small.rename(unit="neuron"))


def test_several_layers_are_refused(small):
    mixed = small.assign_coords(layer=("unit", ["a"] * 10 + ["b"] * 10))
    with pytest.raises(ToposcopeError, match="units of 2 layers"):
        smoothness.curve(mixed)


def test_all_but_one_unit_constant(small):
    flat = small.copy(deep=True)
    flat[:, 1:] = 1.0
    with pytest.raises(ToposcopeError, match="1 varying units .* at least 2 are needed"):
        smoothness.curve(flat)


def test_bad_selectivity_map():
    positions = grid_sheet(9).positions
    with pytest.raises(ToposcopeError, match="holds 1 NaN or inf values"):
        smoothness.selectivity_curve(selectivity_map(np.r_[np.nan, np.ones(8)], positions))
    with pytest.raises(ToposcopeError, match="single dim 'unit'"):
        smoothness.selectivity_curve(xr.DataArray(np.zeros((3, 3)), dims=("y", "x")))


def test_seed_must_be_a_non_negative_integer(small):
    with pytest.raises(ToposcopeError, match="seed must be a non-negative integer"):
        smoothness.curve(small, seed=None)
