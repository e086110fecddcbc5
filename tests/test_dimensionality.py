"""Effective dimensionality and eigenspectra on planted data, against scikit-learn's PCA."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.decomposition import PCA

from toposcope._validation import ToposcopeError
from toposcope.analysis import dimensionality
from toposcope.io import ResponseStore, open_responses


def as_responses(values: np.ndarray) -> xr.DataArray:
    n_units = values.shape[1]
    return xr.DataArray(values.astype(np.float32), dims=("stimulus", "unit"),
                        coords={"x": ("unit", np.arange(n_units) % 7), "y": ("unit", np.arange(n_units) // 7)},
                        name="responses")


def planted_rank(n_stimuli: int, n_units: int, rank: int, seed: int = 0, offset: float = 5.0) -> np.ndarray:
    """Responses whose centred covariance has exactly ``rank`` equal non-zero eigenvalues."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_stimuli, rank))
    scores -= scores.mean(axis=0)
    scores = np.linalg.qr(scores)[0] * 3.0  # orthogonal, centred, equal norms
    loadings = np.linalg.qr(rng.standard_normal((n_units, rank)))[0].T  # orthonormal rows
    return scores @ loadings + offset + rng.uniform(0, 1, n_units)  # per-unit means do not matter


def sklearn_ed(values: np.ndarray) -> tuple[float, np.ndarray]:
    spectrum = PCA().fit(values.astype(np.float32).astype(np.float64)).explained_variance_
    return float(spectrum.sum() ** 2 / np.sum(spectrum**2)), spectrum


@pytest.mark.parametrize("shape", [(300, 40), (40, 300)], ids=["stimuli>units", "units>stimuli"])
@pytest.mark.parametrize("rank", [1, 4, 9])
def test_planted_rank_gives_ed_equal_to_the_rank(shape, rank):
    values = planted_rank(*shape, rank)
    ed = dimensionality.effective_dimensionality(as_responses(values), precision="float64")
    assert ed == pytest.approx(rank, rel=1e-5)  # float32 storage of the responses limits this


@pytest.mark.parametrize("shape", [(120, 30), (30, 120), (50, 50)])
@pytest.mark.parametrize("form", ["auto", "covariance", "gram"])
def test_ed_and_spectrum_equal_sklearn_pca(shape, form):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((shape[0], 6)) @ rng.standard_normal((6, shape[1])) * 2 \
        + rng.standard_normal(shape) * 0.3 + 10
    expected, spectrum = sklearn_ed(values)
    responses = as_responses(values)
    assert dimensionality.effective_dimensionality(responses, form=form) == pytest.approx(expected, rel=1e-6)
    result = dimensionality.eigenspectrum(responses, form=form)
    assert result.dims == ("component",) and len(result) == min(shape)
    np.testing.assert_allclose(result.values, spectrum, rtol=1e-6, atol=1e-9 * spectrum[0])
    assert result.attrs["effective_dimensionality"] == pytest.approx(expected, rel=1e-6)


def test_auto_form_follows_the_shape():
    wide = dimensionality.eigenspectrum(as_responses(planted_rank(20, 60, 3)))
    tall = dimensionality.eigenspectrum(as_responses(planted_rank(60, 20, 3)))
    assert wide.attrs["form"] == "gram" and tall.attrs["form"] == "covariance"


def test_streaming_dask_blocks_match_in_memory():
    values = planted_rank(90, 200, 5, seed=3) + np.random.default_rng(3).standard_normal((90, 200)) * 0.1
    eager = as_responses(values)
    lazy = eager.chunk({"stimulus": 7})
    expected = dimensionality.effective_dimensionality(eager)
    # A tiny memory budget forces many blocks of stimuli (and pairs of them).
    assert dimensionality.effective_dimensionality(lazy, memory=20_000) == pytest.approx(expected, rel=1e-10)
    assert dimensionality.effective_dimensionality(lazy, memory=20_000, precision="float32") == \
        pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(dimensionality.eigenspectrum(lazy, memory=20_000).values,
                               dimensionality.eigenspectrum(eager).values, rtol=1e-9, atol=1e-12)


def test_streaming_from_a_netcdf_file(tmp_path):
    values = planted_rank(70, 130, 4, seed=2).astype(np.float32)
    store = ResponseStore(tmp_path / "r.nc", 70, 130, {"unit_id": ("unit", np.arange(130))}, {},
                          rows_per_chunk=16)
    for start in range(0, 70, 16):
        store.write(start, values[start:start + 16])
    lazy = open_responses(store.close(), chunks={"stimulus": 16})
    assert lazy.chunks is not None
    assert dimensionality.effective_dimensionality(lazy, memory=30_000) == pytest.approx(
        dimensionality.effective_dimensionality(as_responses(values)), rel=1e-10)


def test_constant_units_are_excluded_and_counted():
    values = planted_rank(50, 30, 3)
    values[:, [0, 7]] = 2.5
    responses = as_responses(values)
    spectrum = dimensionality.eigenspectrum(responses)
    assert spectrum.attrs["n_constant_units"] == 2 and spectrum.attrs["n_units"] == 28
    assert np.isfinite(spectrum.values).all()
    kept = np.delete(values, [0, 7], axis=1)
    assert dimensionality.effective_dimensionality(responses) == pytest.approx(sklearn_ed(kept)[0], rel=1e-6)


def test_input_is_not_mutated():
    responses = as_responses(planted_rank(30, 50, 2))
    before = responses.copy(deep=True)
    dimensionality.effective_dimensionality(responses)
    dimensionality.eigenspectrum(responses, form="covariance")
    xr.testing.assert_identical(responses, before)


def test_decay_exponent_of_a_planted_power_law():
    ranks = np.arange(1, 801)
    assert dimensionality.decay_exponent(ranks**-1.3) == pytest.approx(1.3)
    assert dimensionality.decay_exponent(xr.DataArray(ranks**-0.7), fit_range=(2, 50)) == pytest.approx(0.7)
    # Few eigenvalues: the fit falls back to all positive ones.
    assert dimensionality.decay_exponent(np.r_[np.arange(1, 8) ** -2.0, 0.0]) == pytest.approx(2.0)


# ---------------------------------------------------------------------------- bad input
def test_errors():
    responses = as_responses(planted_rank(20, 10, 2))
    with pytest.raises(ToposcopeError, match="2 stimuli but at least 3 are needed"):
        dimensionality.effective_dimensionality(responses.isel(stimulus=slice(0, 2)))
    broken = responses.copy(deep=True)
    broken[0, 0] = np.inf
    with pytest.raises(ToposcopeError, match="1 NaN or inf values"):
        dimensionality.eigenspectrum(broken)
    with pytest.raises(ToposcopeError, match="unknown form 'gramm'"):
        dimensionality.effective_dimensionality(responses, form="gramm")
    with pytest.raises(ToposcopeError, match="unknown precision 'half'"):
        dimensionality.effective_dimensionality(responses, precision="half")
    with pytest.raises(ToposcopeError, match="0 varying units"):
        dimensionality.effective_dimensionality(responses * 0 + 1)
    with pytest.raises(ToposcopeError, match="fewer than 2 positive eigenvalues"):
        dimensionality.decay_exponent([1.0, 0.0])
    with pytest.raises(ToposcopeError, match="fit_range must be two increasing ranks"):
        dimensionality.decay_exponent([3.0, 2.0, 1.0], fit_range=(0, 2))


# ---------------------------------------------------------------------------- fused Gram pass
def _no_separate_check(*args, **kwargs):
    raise AssertionError("the fused Gram pass should not need the separate validation pass")


@pytest.mark.parametrize("memory", [10**9, 60_000, 25_000], ids=["one-panel", "3-panels", "many-panels"])
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_fused_gram_pass_equals_numpy_and_sklearn_on_a_planted_rank(memory, precision, monkeypatch):
    # 60 stimuli x 400 units of rank 7 with unequal eigenvalues, large means, and
    # two exactly constant units; dask chunks of 9 stimuli; the memory budgets
    # give one panel of all stimuli, or panels of 8 to 16 stimuli (4 to 10 of them)
    # with streamed blocks of 1 or 2.
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((60, 7)) * np.arange(7, 0, -1)
    values = (scores @ rng.standard_normal((7, 400)) + 50 + rng.uniform(0, 5, 400)).astype(np.float32)
    values[:, [3, 250]] = 1.25
    kept = np.delete(values, [3, 250], axis=1).astype(np.float64)
    centred = kept - kept.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    assert np.sum(singular > 1e-4 * singular[0]) == 7  # rank 7 up to the float32 rounding of the values
    eigenvalues = np.linalg.eigvalsh(centred @ centred.T)
    oracle = eigenvalues.sum() ** 2 / np.sum(eigenvalues**2)
    assert sklearn_ed(kept)[0] == pytest.approx(oracle, rel=1e-9)
    monkeypatch.setattr(dimensionality, "_checked", _no_separate_check)
    lazy = as_responses(values).chunk({"stimulus": 9})
    ed = dimensionality.effective_dimensionality(lazy, memory=memory, precision=precision)
    assert ed == pytest.approx(oracle, rel=1e-10 if precision == "float64" else 1e-6)


def test_fused_gram_pass_falls_back_to_the_separate_check():
    rng = np.random.default_rng(8)
    values = (rng.standard_normal((30, 5)) @ rng.standard_normal((5, 90)) + 3).astype(np.float32)
    # A nearly constant unit (std below CONSTANT_RTOL of its mean) is excluded, not counted in.
    nearly = values.copy()
    nearly[:, 10] = 1e4 + rng.standard_normal(30).astype(np.float32) * 1e-3
    expected = sklearn_ed(np.delete(nearly, 10, axis=1))[0]
    assert dimensionality.effective_dimensionality(as_responses(nearly), memory=8_000) == \
        pytest.approx(expected, rel=1e-6)
    broken = values.copy()
    broken[17, 40] = np.nan
    with pytest.raises(ToposcopeError, match="1 NaN or inf values in 1 of 90 units"):
        dimensionality.effective_dimensionality(as_responses(broken).chunk({"stimulus": 4}), memory=8_000)
    with pytest.raises(ToposcopeError, match="0 varying units"):
        dimensionality.effective_dimensionality(as_responses(values * 0 + 2), form="gram")
