"""Smoothness scores against chance: sparse bins left out, shuffled curves, planted maps, exact vs sampled."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist
from test_smoothness import as_responses, brute_force, smooth_field

from toposcope._validation import ToposcopeError
from toposcope.analysis import smoothness
from toposcope.sheet import grid_sheet


def curve_dataset(correlation, pairs, shuffled=None) -> xr.Dataset:
    """A curve as ``smoothness.curve`` returns it, from given bin values, counts and shuffled curves."""
    data = {"correlation": ("bin", np.asarray(correlation, dtype=float)),
            "pairs": ("bin", np.asarray(pairs, dtype=np.int64))}
    if shuffled is not None:
        data["shuffled"] = (("shuffle", "bin"), np.asarray(shuffled, dtype=float))
    return xr.Dataset(data, attrs={"kind": "correlation"})


@pytest.fixture(scope="module")
def planted():
    """A 24 x 24 sheet whose responses are smooth random fields (sigma 2): strong, known topography."""
    sheet = grid_sheet(24 * 24)
    return as_responses(smooth_field(150, (24, 24), sigma=2.0), sheet.positions)


@pytest.fixture(scope="module")
def scrambled(planted):
    """The planted responses with the units' positions permuted: the same correlations, no topography."""
    positions = np.stack([planted.x.values, planted.y.values], axis=1)
    return as_responses(planted.values, positions[np.random.default_rng(11).permutation(len(positions))])


# ---------------------------------------------------------------------------- sparse bins
def test_bins_below_min_pairs_do_not_enter_the_toponets_score():
    curve = curve_dataset([0.5, 0.3, 0.1, -0.9, 0.8], [400, 300, 200, 3, 0])
    assert smoothness.score(curve) == pytest.approx(0.4)  # the 3-pair bin at -0.9 is left out
    assert smoothness.score(curve, min_pairs=3) == pytest.approx(1.4)
    assert smoothness.score(curve, min_pairs=0) == pytest.approx(1.4)  # the empty bin never counts
    assert smoothness.score(curve, min_pairs=201) == pytest.approx(0.2)
    assert smoothness.MIN_PAIRS == 20


def test_a_bin_below_min_pairs_counts_as_empty_in_the_tdann_score():
    curve = curve_dataset([0.6, 0.3, 0.1, -0.5], [400, 300, 5, 200])
    # TDANN truncates at the first empty bin: c = 1 - r over the first two bins.
    assert smoothness.score(curve, "tdann") == pytest.approx((0.7 - 0.4) / 0.7)
    assert smoothness.score(curve, "tdann", min_pairs=0) == pytest.approx((1.5 - 0.4) / 1.5)
    with pytest.raises(ToposcopeError, match="first distance bin of the curve is empty"):
        smoothness.score(curve_dataset([0.6, 0.3], [2, 300]), "tdann")


def test_values_without_counts_are_scored_as_given():
    assert smoothness.score([0.5, 0.3, np.nan, 0.1]) == pytest.approx(0.4)
    assert smoothness.score(xr.DataArray([0.9, -0.9])) == pytest.approx(1.8)


# ---------------------------------------------------------------------------- scores against chance
def test_scores_compare_the_score_with_its_shuffled_curves_on_the_same_bins():
    shuffled = [[0.1, 0.2, 0.0, 0.9], [0.15, 0.1, 0.12, -0.9], [0.1, 0.1, 0.1, 0.1], [0.3, 0.0, 0.1, 0.5]]
    curve = curve_dataset([0.6, 0.3, 0.1, -0.9], [400, 300, 200, 3], shuffled)
    got = smoothness.scores(curve, min_pairs=20)
    # Re-derived: each shuffle scored as max - min over the first three bins (the fourth has 3 pairs).
    chance = np.array([0.2, 0.05, 0.0, 0.3])
    assert float(got["score"]) == pytest.approx(0.5)
    assert float(got["chance"]) == pytest.approx(chance.mean())
    assert float(got["chance_low"]) == pytest.approx(np.quantile(chance, 0.025))
    assert float(got["chance_high"]) == pytest.approx(np.quantile(chance, 0.975))
    assert float(got["corrected"]) == pytest.approx(0.5 - chance.mean())
    assert float(got["p_value"]) == pytest.approx(1 / 5)  # no shuffle reaches 0.5
    assert got.attrs == {"kind": "toponets", "min_pairs": 20, "level": 0.95, "n_shuffles": 4, "n_bins_scored": 3}
    tdann = smoothness.scores(curve, "tdann", level=0.5)
    c = 1 - np.asarray(shuffled)[:, :3]
    expected = (c.max(axis=1) - c[:, 0]) / c.max(axis=1)
    assert float(tdann["chance"]) == pytest.approx(expected.mean())
    assert float(tdann["chance_low"]) == pytest.approx(np.quantile(expected, 0.25))
    assert float(tdann["p_value"]) == pytest.approx((1 + np.sum(expected >= float(tdann["score"]))) / 5)


def test_scores_bad_input():
    curve = curve_dataset([0.6, 0.3], [400, 300], [[0.1, 0.2]])
    with pytest.raises(ToposcopeError, match="no shuffled-position curves"):
        smoothness.scores(curve.drop_vars("shuffled"))
    with pytest.raises(ToposcopeError, match="level must be a probability between 0 and 1"):
        smoothness.scores(curve, level=1.5)
    with pytest.raises(ToposcopeError, match="min_pairs must be a non-negative integer"):
        smoothness.scores(curve, min_pairs=-1)
    with pytest.raises(ToposcopeError, match="min_pairs must be a non-negative integer"):
        smoothness.score(curve, min_pairs=2.5)
    with pytest.raises(ToposcopeError, match="unknown kind 'topo'"):
        smoothness.scores(curve, "topo")
    with pytest.raises(ToposcopeError, match="no bin of the curve holds 500 or more pairs; use fewer"):
        smoothness.scores(curve, min_pairs=500)


# ---------------------------------------------------------------------------- shuffled curves
def test_the_first_shuffle_is_the_chance_curve_brute_forced_with_the_seeded_permutation():
    rng = np.random.default_rng(4)
    positions = grid_sheet(9 * 11).positions
    values = rng.standard_normal((25, len(positions))) + np.linspace(0, 2, len(positions))
    result = smoothness.curve(as_responses(values, positions), bins=7, seed=3, n_shuffles=5)
    edges = np.append(result.bin_lower.values, result.bin_upper.values[-1])
    # The documented seeding: SeedSequence(seed).spawn(3)[0] draws the first permutation.
    permutation = np.random.default_rng(np.random.SeedSequence(3).spawn(3)[0]).permutation(len(positions))
    mean, sem, count = brute_force(values.astype(np.float32), positions[permutation], edges)
    np.testing.assert_allclose(result.chance.values, mean, atol=1e-6)
    np.testing.assert_allclose(result.chance_sem.values, sem, atol=1e-6)
    np.testing.assert_array_equal(result.shuffled.isel(shuffle=0).values, result.chance.values)
    assert result.sizes["shuffle"] == 5 and result.attrs["n_shuffles"] == 5
    # A permutation keeps every bin's pair count, so each shuffle's count-weighted mean is the mean r of all pairs.
    overall = np.corrcoef(values.T.astype(np.float32))[np.triu_indices(len(positions), 1)].mean()
    for k in range(5):
        assert np.nansum(result.shuffled.values[k] * count) / count.sum() == pytest.approx(overall, abs=1e-6)
    assert len({tuple(np.round(row, 9)) for row in result.shuffled.values}) == 5


def test_windowed_shuffles_permute_positions_within_each_window(planted):
    result = smoothness.curve(planted, mode="sampled", window=6, max_units=30, n_shuffles=4, seed=2)
    assert result.sizes["shuffle"] == 4
    main = result.correlation.values
    # Within-window shuffles: flat at the windows' mean correlation, far below the near bins of the curve.
    used = result.pairs.values > 200
    assert np.ptp(result.shuffled.values[:, used], axis=1).max() < 0.15
    assert main[used][0] > result.shuffled.values[:, used].max() + 0.2


def test_chance_off_gives_no_shuffles(planted):
    result = smoothness.curve(planted, chance=False)
    assert "shuffled" not in result and "chance" not in result and result.attrs["n_shuffles"] == 0
    with pytest.raises(ToposcopeError, match="n_shuffles must be a positive integer"):
        smoothness.curve(planted, n_shuffles=0)
    with pytest.raises(ToposcopeError, match="chance must be True or False"):
        smoothness.curve(planted, chance="yes")


# ---------------------------------------------------------------------------- planted maps
def test_a_planted_smooth_map_scores_high_and_its_shuffle_scores_at_chance(planted, scrambled):
    smooth = smoothness.scores(smoothness.curve(planted))
    assert float(smooth["score"]) > 0.7 and float(smooth["corrected"]) > 0.65
    assert float(smooth["p_value"]) == pytest.approx(1 / 21)
    flat = smoothness.scores(smoothness.curve(scrambled))
    assert abs(float(flat["corrected"])) < 0.05
    assert float(flat["chance_low"]) <= float(flat["score"]) <= float(flat["chance_high"])
    # The same pair correlations: only the positions differ, and so does the score.
    assert float(flat["score"]) < 0.15 * float(smooth["score"])


@pytest.mark.parametrize("kind", smoothness.KINDS)
def test_exact_and_sampled_modes_agree(planted, scrambled, kind):
    for responses in (planted, scrambled):
        exact = smoothness.scores(smoothness.curve(responses), kind)
        pairs = smoothness.scores(smoothness.curve(responses, mode="sampled", sampling="pairs",
                                                   n_pairs=400_000), kind)
        for name in ("score", "chance", "corrected"):
            assert float(pairs[name]) == pytest.approx(float(exact[name]), abs=0.05), name
    # TDANN's windows see distances up to the window's diagonal: compare on those bins.
    edges = np.linspace(1.0, 8 * np.sqrt(2), 8)
    exact = smoothness.scores(smoothness.curve(planted, edges), kind)
    windows = smoothness.scores(smoothness.curve(planted, edges, mode="sampled", window=8, max_units=64,
                                                 seed=1), kind)
    assert float(windows["score"]) == pytest.approx(float(exact["score"]), abs=0.03)


def test_count_bins_start_at_the_shortest_distance_of_scattered_units():
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 10, (60, 2))
    result = smoothness.curve(as_responses(rng.standard_normal((12, 60)), positions), bins=6)
    d = pdist(positions)
    np.testing.assert_array_equal(result.bin_lower.values[0], d.min())
    assert int(result.pairs.sum()) == len(d)  # the shortest pair sits on the first edge and is counted
    np.testing.assert_allclose(result.bin_upper.values[-1], d.max(), rtol=1e-12)


def test_the_lattice_binner_bins_every_pair_as_the_distance_binner():
    from toposcope.analysis import _pairs

    rng = np.random.default_rng(5)
    positions = np.stack([rng.integers(-7, 30, 400), rng.integers(3, 12, 400)], axis=1).astype(float)
    edges = np.linspace(0.5, 20.0, 9)  # distances past 20 fall outside: index 8 (dropped)
    lattice = _pairs.pair_binner(edges, positions)
    assert isinstance(lattice, _pairs.LatticeBinner)
    codes = lattice.prepare(positions)
    expected = _pairs.Binner(edges).pairs(positions, positions)
    np.testing.assert_array_equal(lattice.pairs(codes, codes), expected)
    shuffled = rng.permutation(400)  # a permutation keeps the span, so the same codes apply
    np.testing.assert_array_equal(lattice.pairs(codes[shuffled], codes),
                                  _pairs.Binner(edges).pairs(positions[shuffled], positions))
