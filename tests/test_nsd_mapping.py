"""Unit-to-voxel mapping: planted correspondences recovered, exact assignment, ceilings, errors."""

from __future__ import annotations

import itertools

import _nsd_tree as T
import numpy as np
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.brain import nsd
from toposcope.brain.mapping import correlations, map_units_to_voxels, noise_ceiling, summarise


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return T.build(tmp_path_factory.mktemp("nsd") / "nsd")


def responses_for(ids, units, grid_w=8):
    """A responses DataArray with the planted units, stimulus_id coords and a sheet."""
    n = units.shape[1]
    return xr.DataArray(
        units.astype(np.float32), dims=("stimulus", "unit"), name="responses",
        coords={"stimulus_id": ("stimulus", np.asarray(ids)), "layer": ("unit", np.full(n, "layer4", object)),
                "x": ("unit", (np.arange(n) % grid_w).astype(np.float32)),
                "y": ("unit", (np.arange(n) // grid_w).astype(np.float32))},
        attrs={"model": "planted", "layer": "layer4"})


def planted(n_stimuli=60, n_units=30, n_voxels=10, noise=0.3, seed=0, shared=20):
    """Responses, betas with voxel v = unit pi[v] + noise, and pi."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_stimuli, n_units))
    pi = rng.permutation(n_units)[:n_voxels] if n_voxels <= n_units else rng.integers(0, n_units, n_voxels)
    y = x[:, pi] + noise * rng.standard_normal((n_stimuli, n_voxels))
    ids = [f"img{i:03d}" for i in range(n_stimuli)]
    betas = xr.DataArray(
        y.astype(np.float32), dims=("stimulus", "voxel"), name="betas",
        coords={"stimulus_id": ("stimulus", ids), "shared": ("stimulus", np.arange(n_stimuli) < shared),
                "n_trials": ("stimulus", np.full(n_stimuli, 3)),
                "roi": ("voxel", np.where(np.arange(n_voxels) % 2, "V1", "V2").astype(object)),
                "hemisphere": ("voxel", np.where(np.arange(n_voxels) < n_voxels // 2, "lh", "rh").astype(object)),
                "ncsnr": ("voxel", np.linspace(0.5, 1.5, n_voxels))})
    return responses_for(ids, x), betas, pi


# --------------------------------------------------------------------------- noise ceiling
@pytest.mark.parametrize("ncsnr, n, expected", [
    (1.0, 3, 75.0), (0.0, 3, 0.0), (2.0, 1, 80.0), (1.0, [1, 3], 60.0), (np.sqrt(3.0), [3, 3, 3], 90.0),
])
def test_noise_ceiling_known_values(ncsnr, n, expected):
    assert nsd.noise_ceiling(ncsnr, n) == pytest.approx(expected)


def test_noise_ceiling_keeps_the_shape_of_ncsnr():
    out = nsd.noise_ceiling(np.array([0.0, 1.0, 2.0]), 1)
    np.testing.assert_allclose(out, [0.0, 50.0, 80.0])


@pytest.mark.parametrize("ncsnr, n, message", [
    (-0.1, 3, r"ncsnr must be >= 0"), (1.0, 0, r"n_trials must be a number >= 1"),
    (1.0, [], r"n_trials must be"), (1.0, [[1, 2]], r"n_trials must be"),
])
def test_noise_ceiling_bad_input(ncsnr, n, message):
    with pytest.raises(ToposcopeError, match=message):
        nsd.noise_ceiling(ncsnr, n)


# --------------------------------------------------------------------------- the NSD tree
@pytest.mark.parametrize("method", ["one_to_one", "best_unit"])
@pytest.mark.parametrize("space, roi", [("fsaverage", "streams"), ("func1pt8mm", "floc-faces")])
def test_planted_correspondences_are_recovered_from_the_nsd_tree(tree, space, roi, method):
    betas = nsd.load_betas(tree.root, 1, roi, space=space)
    responses = responses_for(betas["stimulus_id"].values[::-1], tree.unit_array(betas["nsd_id"].values[::-1]))
    result = nsd.map_units_to_voxels(responses, betas, method=method)
    pi = [tree.unit_of[(space, h, int(i))] for h, i in zip(betas["hemisphere"].values, betas["index"].values)]
    np.testing.assert_array_equal(result["unit"].values, pi)
    assert result.sizes["voxel"] == betas.sizes["voxel"] and (result["r"].values > 0.9).all()
    assert result.attrs["n_test"] == T.SHARED and result.attrs["n_train"] == T.IMAGES - T.SHARED
    # The ceiling uses the held-out images' repeats (2 each here).
    np.testing.assert_allclose(result["noise_ceiling"].values, noise_ceiling(betas["ncsnr"].values, 2), rtol=1e-6)
    np.testing.assert_allclose(result["r_normalised"].values,
                               result["r"].values / np.sqrt(result["noise_ceiling"].values / 100), rtol=1e-5)
    for name in ("hemisphere", "roi", "index", "ncsnr"):
        np.testing.assert_array_equal(result[name].values, betas[name].values)
    np.testing.assert_array_equal(result["unit_x"].values, responses["x"].values[pi])
    assert result.attrs["nsd_subject"] == 1 and result.attrs["model"] == "planted"


# --------------------------------------------------------------------------- methods
@pytest.mark.parametrize("method", ["one_to_one", "best_unit"])
def test_planted_recovery_and_inputs_untouched(method):
    responses, betas, pi = planted()
    before = responses.copy(deep=True), betas.copy(deep=True)
    result = map_units_to_voxels(responses, betas, method)
    np.testing.assert_array_equal(result["unit"].values, pi)
    xr.testing.assert_identical(responses, before[0])
    xr.testing.assert_identical(betas, before[1])
    assert result["r"].dtype == np.float32 and result["unit"].dtype == np.int64


def test_one_to_one_is_exact_against_brute_force():
    """Tiny random problems: the assignment maximises summed training r over all injective maps."""
    rng = np.random.default_rng(1)
    for trial in range(20):
        n_voxels, n_units = int(rng.integers(2, 5)), int(rng.integers(4, 7))
        responses, betas, _ = planted(n_stimuli=12, n_units=n_units, n_voxels=n_voxels, noise=3.0, seed=trial,
                                      shared=4)
        result = map_units_to_voxels(responses, betas, "one_to_one")
        r = next(correlations(responses.values, betas.values, rows=np.arange(4, 12)))[1]  # training images
        best = max(sum(r[v, u] for v, u in enumerate(p)) for p in itertools.permutations(range(n_units), n_voxels))
        got = r[np.arange(n_voxels), result["unit"].values].sum()
        assert got == pytest.approx(best, abs=1e-5)
        assert len(set(result["unit"].values.tolist())) == n_voxels
        np.testing.assert_allclose(result["r_train"].values, r[np.arange(n_voxels), result["unit"].values], atol=1e-6)


def test_more_voxels_than_units_leaves_some_unassigned():
    responses, betas, _ = planted(n_units=5, n_voxels=8)
    result = map_units_to_voxels(responses, betas, "one_to_one")
    unit = result["unit"].values
    assert (unit >= 0).sum() == 5 and len(set(unit[unit >= 0].tolist())) == 5
    assert np.isnan(result["r"].values[unit < 0]).all() and np.isnan(result["unit_x"].values[unit < 0]).all()
    assert (result["unit_layer"].values[unit < 0] == "").all()


def test_best_unit_lets_voxels_share_a_unit():
    responses, betas, pi = planted(n_units=5, n_voxels=8)
    result = map_units_to_voxels(responses, betas, "best_unit")
    np.testing.assert_array_equal(result["unit"].values, pi)


def test_block_size_does_not_change_the_result():
    responses, betas, _ = planted(n_units=37, n_voxels=11, noise=1.0)
    for method in ("one_to_one", "best_unit"):
        small = map_units_to_voxels(responses, betas, method, block_size=4)
        large = map_units_to_voxels(responses, betas, method)
        np.testing.assert_array_equal(small["unit"].values, large["unit"].values)
        np.testing.assert_allclose(small["r"].values, large["r"].values, rtol=1e-5)


def test_ridge_predicts_planted_linear_voxels():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 15))
    y = x @ rng.standard_normal((15, 6)) + 0.3 * rng.standard_normal((200, 6))
    responses, betas, _ = planted(n_stimuli=200, n_units=15, n_voxels=6, shared=50)
    responses = responses.copy(data=x.astype(np.float32))
    betas = betas.copy(data=y.astype(np.float32))
    result = map_units_to_voxels(responses, betas, "ridge")
    assert (result["r"].values > 0.95).all()
    assert (result["unit"].values == -1).all() and "unit_x" not in result.coords and "alpha" in result


def test_explicit_split_and_ceiling():
    responses, betas, _ = planted()
    ids = betas["stimulus_id"].values
    result = map_units_to_voxels(responses, betas, test=ids[-15:], train=ids[:30], noise_ceiling=np.full(10, 64.0))
    assert result.attrs["n_test"] == 15 and result.attrs["n_train"] == 30
    np.testing.assert_allclose(result["r_ceiling"].values, 0.8)
    mask = np.zeros(60, bool)
    mask[:10] = True
    assert map_units_to_voxels(responses, betas, test=mask).attrs["n_test"] == 10


def test_summary_per_roi_and_hemisphere():
    responses, betas, _ = planted()
    result = map_units_to_voxels(responses, betas)
    summary = summarise(result)
    assert summary.sizes["region"] == 5  # 2 ROIs x 2 hemispheres + all
    last = summary.isel(region=-1)
    assert str(last["roi"].values) == "all" and int(last["n_voxels"]) == 10
    assert float(last["median_r"]) == pytest.approx(np.median(result["r"].values))
    assert float(last["normalised"]) == pytest.approx(result.attrs["median_r_normalised"])
    first = summary.isel(region=0)
    mask = (result["roi"].values == first["roi"].values) & (result["hemisphere"].values == first["hemisphere"].values)
    assert float(first["median_r"]) == pytest.approx(np.median(result["r"].values[mask]))


# --------------------------------------------------------------------------- bad input
def test_stimulus_mismatch_is_one_line():
    responses, betas, _ = planted()
    with pytest.raises(ToposcopeError, match=r"5 of 60 betas stimuli have no responses \(e.g. 'img055'"):
        map_units_to_voxels(responses.isel(stimulus=slice(0, 55)), betas)
    unnamed = responses.drop_vars("stimulus_id").isel(stimulus=slice(0, 50))
    with pytest.raises(ToposcopeError, match=r"responses have 50 stimuli and betas 60"):
        map_units_to_voxels(unnamed, betas.drop_vars("stimulus_id"))


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "hungarian"}, r"unknown method 'hungarian'; allowed: 'one_to_one', 'best_unit', 'ridge'"),
    ({"train": ["img000", "img001", "img002"], "test": ["img000", "img010", "img011"]}, r"train and test share 1"),
    ({"test": ["img999"]}, r"test names 1 stimuli not in betas"),
    ({"test": np.zeros(60, bool)}, r"test has 0 stimuli; correlations need at least 3"),
    ({"noise_ceiling": [50.0]}, r"noise_ceiling has shape \(1,\); give one value per voxel \(10\)"),
    ({"block_size": 0}, r"block_size must be a positive integer"),
])
def test_bad_options(kwargs, message):
    responses, betas, _ = planted()
    with pytest.raises(ToposcopeError, match=message):
        map_units_to_voxels(responses, betas, **kwargs)


def test_bad_arrays():
    responses, betas, _ = planted()
    with pytest.raises(ToposcopeError, match=r"betas have no 'shared' coord"):
        map_units_to_voxels(responses, betas.drop_vars("shared"))
    with pytest.raises(ToposcopeError, match=r"betas must have dims \('stimulus', 'voxel'\)"):
        map_units_to_voxels(responses, betas.rename(voxel="vertex"))
    with pytest.raises(ToposcopeError, match=r"responses hold NaN or inf"):
        map_units_to_voxels(responses.where(responses > 2), betas)



# --------------------------------------------------------------------------- streamed correlations
def test_correlations_equal_pearson_over_the_chosen_rows():
    """Blocks smaller than both sides, a row subset, offset means and a constant column: numpy's corrcoef."""
    rng = np.random.default_rng(4)
    x = (3.0 * rng.standard_normal((90, 23)) + 40.0).astype(np.float32)
    y = (rng.standard_normal((90, 17)) - 25.0).astype(np.float32)
    x[:, 5] = 7.0
    rows = np.sort(rng.choice(90, 70, replace=False))
    got = np.concatenate([r for _, r in correlations(x, y, block_size=4, rows=rows)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.corrcoef(y[rows].T.astype(np.float64), x[rows].T.astype(np.float64))[:17, 17:]
    expected[:, 5] = 0.0  # a constant unit correlates 0 with everything
    assert got.shape == (17, 23) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_correlations_hold_neither_input_whole():
    """Memory beyond the inputs is a few blocks, not a standardised copy of the voxels."""
    import tracemalloc

    x, y = _latent_problem(1000, 512, 4000, 5, 1.0, seed=0)  # y: 16 MB of float32
    rows = np.arange(100, 1000)
    tracemalloc.start()
    try:
        for _, r in correlations(x, y, block_size=256, rows=rows):
            del r
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One unit block (0.9 MB), one voxel block (0.9 MB) and one 4000 x 256 slab (4 MB).
    assert peak < y.nbytes / 2, f"peak {peak / 2**20:.1f} MiB"


# --------------------------------------------------------------------------- streamed exact assignment
def _latent_problem(n_stimuli, n_units, n_voxels, latent, unit_noise, seed, plant=True):
    """Units and voxels sharing latent factors (many near-equal candidates), optionally a planted unit each."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n_stimuli, latent)).astype(np.float32)
    x = factors @ rng.standard_normal((latent, n_units)).astype(np.float32)
    x += unit_noise * rng.standard_normal((n_stimuli, n_units)).astype(np.float32)
    y = factors @ rng.standard_normal((latent, n_voxels)).astype(np.float32)
    y += 6.0 * rng.standard_normal((n_stimuli, n_voxels)).astype(np.float32)
    if plant:
        y += x[:, rng.integers(0, n_units, n_voxels) if n_voxels > n_units else rng.permutation(n_units)[:n_voxels]]
    return x, y


def _dense_reference(x, y, rows, block_size):
    """scipy's linear_sum_assignment on the dense voxel x unit cost 1 - r (float32 r, as mapped)."""
    from scipy.optimize import linear_sum_assignment

    r = np.concatenate([block for _, block in correlations(x, y, block_size, rows)], axis=1)
    cost = np.subtract(1.0, r, dtype=np.float32).astype(np.float64)
    voxel, unit = linear_sum_assignment(cost)
    return voxel, unit, cost


@pytest.mark.parametrize("shape", [
    (200, 500, 150, 50, 2.0, True),    # voxels < units, planted
    (200, 400, 400, 5, 0.3, True),     # square and redundant: heavy competition for units
    (200, 400, 390, 5, 0.3, False),    # no planted unit at all
    (200, 150, 400, 5, 0.3, True),     # more voxels than units: each unit gets a voxel
    (300, 2000, 1200, 5, 0.3, True),   # medium
])
def test_streamed_assignment_equals_dense_linear_sum_assignment(shape):
    from toposcope.brain import mapping

    n_stimuli, n_units, n_voxels, latent, unit_noise, plant = shape
    for seed in range(2):
        x, y = _latent_problem(n_stimuli, n_units, n_voxels, latent, unit_noise, seed, plant)
        rows = np.arange(20, n_stimuli)
        solved = mapping._one_to_one_streamed(x, y, rows, 256)
        assert solved is not None  # proved optimal without the dense matrix
        unit, r_train = solved
        voxel, expected_unit, cost = _dense_reference(x, y, rows, 256)
        np.testing.assert_array_equal(unit[voxel], expected_unit)
        assert (unit >= 0).sum() == min(n_units, n_voxels)
        assigned = unit >= 0
        total = cost[np.flatnonzero(assigned), unit[assigned]].sum()
        assert total == cost[voxel, expected_unit].sum()
        np.testing.assert_array_equal(r_train[voxel], (1.0 - cost[voxel, expected_unit]).astype(np.float32))
        assert np.isnan(r_train[~assigned]).all()


def test_streamed_assignment_grows_its_candidates_when_the_bound_fails(monkeypatch):
    """With 2 correlations kept per voxel the dual bound fails; more are streamed, the answer stays exact."""
    from toposcope.brain import _assignment, mapping

    x, y = _latent_problem(200, 300, 280, 5, 0.3, seed=3, plant=False)
    rows = np.arange(200)
    calls = []
    real = _assignment.certified_assignment

    def spy(candidates, *args, **kwargs):
        calls.append(candidates.keep)
        return real(candidates, *args, **kwargs)

    monkeypatch.setattr(mapping, "FIRST_KEEP", 2)
    monkeypatch.setattr(mapping, "certified_assignment", spy)
    unit, _ = mapping._one_to_one_streamed(x, y, rows, 64)
    assert calls[:2] == [2, 16]  # a second pass kept 8 times more
    voxel, expected_unit, _ = _dense_reference(x, y, rows, 64)
    np.testing.assert_array_equal(unit[voxel], expected_unit)


def test_over_the_candidate_budget_the_dense_solve_gives_the_same_map(monkeypatch):
    from toposcope.brain import mapping

    responses, betas, _ = planted(n_units=37, n_voxels=11, noise=1.0)
    streamed = map_units_to_voxels(responses, betas)
    monkeypatch.setattr(mapping, "FIRST_KEEP", 1)
    monkeypatch.setattr(mapping, "CANDIDATE_BUDGET", 1)
    assert mapping._one_to_one_streamed(responses.values, betas.values, np.arange(20, 60), 2048) is None
    dense = map_units_to_voxels(responses, betas)
    xr.testing.assert_identical(streamed, dense)


def test_certificate_rejects_candidates_that_hide_a_better_assignment():
    """Both rows' best column is 0; with one candidate each no full matching exists, with the
    bound from the kept second-best the growth finds the optimum; a wrong guess is never returned."""
    from toposcope.brain._assignment import Candidates, certified_assignment

    r = np.array([[0.9, 0.8, 0.1, 0.0], [0.85, 0.2, 0.1, 0.0]], dtype=np.float32)
    candidates = Candidates(2, 4, keep=3)
    candidates.add(slice(0, 2), 0, r[:, :2])
    candidates.add(slice(0, 2), 2, r[:, 2:])
    candidates.finish()
    np.testing.assert_array_equal(candidates.column, [[0, 1, 2], [0, 1, 2]])
    outcome = certified_assignment(candidates, first_k=1)
    assert outcome.reason == "optimal"
    np.testing.assert_array_equal(outcome.column, [1, 0])  # 0.8 + 0.85 beats 0.9 + 0.2
    # Kept too few to prove it: row 1's best left-out column could still be better.
    few = Candidates(2, 4, keep=2)
    few.add(slice(0, 2), 0, np.array([[0.9, 0.1, 0.0, 0.0], [0.85, 0.84, 0.83, 0.82]], np.float32))
    few.finish()
    assert certified_assignment(few, first_k=1).reason == "more candidates"
