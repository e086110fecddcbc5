"""Component maps: two planted smooth spatial modes recovered (|r| > 0.95) with their variances; every solver
equal to scikit-learn's PCA (loadings with its signs, variance ratios, scores); streamed input equal to in
memory; bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.decomposition import PCA

from toposcope._validation import ToposcopeError
from toposcope.analysis.components import component_maps
from toposcope.sheet import torus_sheet

SIDE = 16


def planted(n_stimuli=2000, noise=0.5, seed=0):
    """Responses = 3 * s1 * mode1 + 2 * s2 * mode2 + noise on a 16 x 16 torus; modes orthonormal and smooth."""
    sheet = torus_sheet(SIDE * SIDE)
    x, y = sheet.positions.T
    mode1 = np.cos(2 * np.pi * x / SIDE)
    mode2 = np.sin(2 * np.pi * (x + y) / SIDE)
    mode1, mode2 = mode1 / np.linalg.norm(mode1), mode2 / np.linalg.norm(mode2)
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(n_stimuli, 2)) * [3.0, 2.0]
    values = scores @ np.stack([mode1, mode2]) + rng.normal(0, noise, (n_stimuli, SIDE * SIDE))
    responses = xr.DataArray(values.astype(np.float32), dims=("stimulus", "unit"),
                             coords={**sheet.unit_coords("layer"), "stimulus_id": ("stimulus", np.arange(n_stimuli))})
    return responses, (mode1, mode2), scores


def test_two_planted_smooth_modes_are_recovered_with_their_variances():
    responses, modes, scores = planted()
    result = component_maps(responses, n_components=4)
    for k, mode in enumerate(modes):
        assert abs(np.corrcoef(result["loadings"].values[k], mode)[0, 1]) > 0.95
        assert abs(np.corrcoef(result["scores"].values[:, k], scores[:, k])[0, 1]) > 0.95
    # Planted variance along each mode plus the noise's 0.25, within sampling error (2,000 stimuli: ~3%).
    np.testing.assert_allclose(result["explained_variance"].values[:2], [9.25, 4.25], rtol=0.08)
    total = 9 + 4 + 0.25 * SIDE * SIDE
    np.testing.assert_allclose(result["explained_variance_ratio"].values[:2], [9.25 / total, 4.25 / total],
                               rtol=0.08)
    # The maps keep the sheet: torus coords on the loadings, stimulus coords on the scores.
    assert float(result["loadings"].wrap_x[0]) == SIDE and "stimulus_id" in result["scores"].coords
    assert result.attrs["solver"] == "covariance" and list(result["component"].values) == [1, 2, 3, 4]


@pytest.mark.parametrize("solver", ["covariance", "full", "randomized"])
def test_every_solver_is_scikit_learns_pca(solver):
    responses, _, _ = planted(n_stimuli=300, noise=1.0, seed=1)
    responses = responses.isel(unit=slice(0, 200))  # fewer units than stimuli and more: both orders below
    for data in (responses, responses.isel(stimulus=slice(0, 120))):
        result = component_maps(data, n_components=5, solver=solver, seed=3)
        matrix = np.asarray(data.values, dtype=np.float64)
        pca = PCA(n_components=5, svd_solver="full").fit(matrix)
        # Randomized SVD approximates: its planted (well separated) components match, not the noise ones.
        kept, tolerance = (2, 1e-2) if solver == "randomized" else (5, 1e-6)
        np.testing.assert_allclose(result["loadings"].values[:kept], pca.components_[:kept], atol=tolerance)
        np.testing.assert_allclose(result["explained_variance_ratio"].values[:kept],
                                   pca.explained_variance_ratio_[:kept], rtol=tolerance)
        np.testing.assert_allclose(result["scores"].values[:, :kept], pca.transform(matrix)[:, :kept],
                                   atol=tolerance * 10)
        assert result.attrs["solver"] == solver


def test_streamed_responses_give_the_same_maps():
    responses, _, _ = planted(n_stimuli=500, seed=2)
    in_memory = component_maps(responses, n_components=3)
    streamed = component_maps(responses.chunk({"stimulus": 64}), n_components=3)
    np.testing.assert_allclose(streamed["loadings"].values, in_memory["loadings"].values, atol=1e-6)
    np.testing.assert_allclose(streamed["scores"].values, in_memory["scores"].values, atol=1e-4)


def test_component_maps_bad_input():
    responses, _, _ = planted(n_stimuli=20)
    with pytest.raises(ToposcopeError, match="n_components=25 is more than the 19 components"):
        component_maps(responses, n_components=25)
    with pytest.raises(ToposcopeError, match="unknown solver 'svd'"):
        component_maps(responses, solver="svd")
    with pytest.raises(ToposcopeError, match="n_components must be a positive integer"):
        component_maps(responses, n_components=0)


def test_serial_eigendecomposition_gives_the_threaded_result(monkeypatch):
    # Small layers run LAPACK on one BLAS thread for speed; the answer is the threaded one.
    from toposcope.analysis import components

    rng = np.random.default_rng(7)
    data = rng.normal(size=(80, 40)) @ rng.normal(size=(40, 40))
    responses = xr.DataArray(data.astype(np.float32), dims=("stimulus", "unit"))
    serial = components.component_maps(responses, n_components=5, solver="covariance")
    monkeypatch.setattr(components, "SERIAL_EIGEN_UNITS", 0)
    threaded = components.component_maps(responses, n_components=5, solver="covariance")
    np.testing.assert_allclose(serial["loadings"].values, threaded["loadings"].values, atol=1e-6)
    np.testing.assert_allclose(serial["explained_variance"].values, threaded["explained_variance"].values, rtol=1e-12)
