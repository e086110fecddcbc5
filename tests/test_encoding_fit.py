"""Encoding models: planted voxels recovered, scikit-learn as the oracle, no leak across stories, the sheet read-back."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.analysis.encoding import downsample, fir_delays, zscore
from toposcope.analysis.encoding_ridge import fdr, fit_ridge, paired_r, ridge_at, story_folds
from toposcope.brain.encoding import encoding_model, story_design_matrices
from toposcope.brain.stories import StoryWords, tr_times
from toposcope.brain.story_fmri import assemble

TR = 2.0


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # Two cores shared with other jobs: one BLAS thread is many times faster than two here.
    import scipy.linalg  # noqa: F401 - scipy's own BLAS must be loaded to be limited
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def make_stories(n_stories=5, n_words=500, n_units=12, seed=0):
    """Per story: words ~3/s with random features; TR times of a scan that covers them."""
    rng = np.random.default_rng(seed)
    words, features, times = {}, {}, {}
    for k in range(n_stories):
        gaps = rng.uniform(0.2, 0.5, n_words)
        onsets = 4.0 + np.cumsum(gaps) - gaps[0]
        name = f"story{k}"
        words[name] = StoryWords(name, tuple(f"w{i}" for i in range(n_words)), onsets, onsets + 0.15)
        features[name] = rng.normal(size=(n_words, n_units))
        times[name] = tr_times(int((onsets[-1] + 12) / TR), TR)
    return words, features, times


def planted(words, features, times, weights, delays=(1, 2, 3, 4), noise=0.3, seed=1, drift=0.0):
    """Responses = delayed, downsampled, z-scored features @ weights + white noise (+ a slow drift)."""
    rng = np.random.default_rng(seed)
    responses = {}
    for name in words:
        x = fir_delays(zscore(downsample(features[name], words[name].times, times[name])), delays)
        signal = x @ weights
        y = signal + noise * signal.std(0) * rng.normal(size=signal.shape)
        if drift:
            y = y + drift * signal.std(0) * np.cumsum(rng.normal(size=signal.shape), axis=0) / 4
        responses[name] = y
    return assemble(words, responses, times, TR)


def test_planted_delayed_mix_of_known_units_is_recovered():
    words, features, times = make_stories(n_stories=4, n_words=400)
    rng = np.random.default_rng(3)
    n_units, delays = 12, (1, 2, 3, 4)
    # voxel 0: unit 2 at delay 2; voxel 1: units 5 and 7 at delays 1 and 3; voxel 2: a random mix
    weights = np.zeros((len(delays) * n_units, 3))
    weights[1 * n_units + 2, 0] = 1.0
    weights[0 * n_units + 5, 1], weights[2 * n_units + 7, 1] = 1.0, -0.7
    weights[:, 2] = rng.normal(size=len(delays) * n_units)
    data = planted(words, features, times, weights, noise=0.3)
    result = encoding_model(data, features, controls=(), permutations=200)
    # known ceiling: signal / (signal + noise) with noise sd 0.3 x signal sd
    ceiling = 1 / np.sqrt(1 + 0.3 ** 2)
    assert np.all(result["r"].values > ceiling - 0.05) and np.all(result["r"].values <= ceiling + 0.03)
    recovered = result["weights"].values.reshape(len(delays) * n_units, 3)
    for v in range(3):
        assert np.corrcoef(recovered[:, v], weights[:, v])[0, 1] > 0.97
    # the strongest weight of voxel 0 is unit 2 at delay 2
    delay, unit = np.unravel_index(np.abs(result["weights"].values[:, :, 0]).argmax(), (4, n_units))
    assert (int(result["delay"].values[delay]), int(unit)) == (2, 2)
    assert result["significant"].values.all() and result["p"].values.max() < 0.01
    assert result.attrs["test_stories"] == ["story3"] and result.attrs["method"] == "lanczos"


def test_ridge_equals_sklearn_at_the_chosen_alphas_and_the_choice_is_the_cv_best():
    from sklearn.linear_model import Ridge

    words, features, times = make_stories(n_stories=4, n_words=300, n_units=8)
    rng = np.random.default_rng(4)
    weights = rng.normal(size=(32, 6)) * (rng.uniform(size=(1, 6)) ** 3)  # voxels from weak to strong
    data = planted(words, features, times, weights, noise=2.0)
    designs, responses, _ = story_design_matrices(data, features, controls=("word_rate",))
    train = ["story0", "story1", "story2"]
    x = np.vstack([designs[s] for s in train])
    y = np.vstack([responses[s] for s in train])
    groups = np.concatenate([[s] * len(designs[s]) for s in train])
    alphas = np.logspace(-1, 4, 11)
    fit = fit_ridge(x, y, groups, alphas=alphas)
    assert len(set(fit.alphas.tolist())) > 1  # per-voxel penalties
    x_test = designs["story3"]
    for v in range(y.shape[1]):
        model = Ridge(alpha=fit.alphas[v], fit_intercept=False).fit(x, y[:, v])
        np.testing.assert_allclose(fit.coefs[:, v], model.coef_, atol=1e-6)
        np.testing.assert_allclose(fit.predict(x_test)[:, v], model.predict(x_test), atol=1e-6)
    # the penalty chosen is the one with the best mean validation score over whole-story folds
    scores = np.zeros((len(alphas), y.shape[1]))
    for train_rows, val_rows in story_folds(groups):
        for a, alpha in enumerate(alphas):
            pred = Ridge(alpha=alpha, fit_intercept=False).fit(x[train_rows], y[train_rows]).predict(x[val_rows])
            scores[a] -= ((pred - y[val_rows]) ** 2).mean(0) / 3
    np.testing.assert_allclose(fit.alphas, alphas[scores.argmax(0)])
    np.testing.assert_allclose(fit.cv_score, scores.max(0), rtol=1e-6)
    np.testing.assert_allclose(ridge_at(x, y, fit.alphas), fit.coefs, atol=1e-8)


def test_folds_never_split_a_story():
    groups = np.repeat(["a", "b", "c", "d"], [5, 6, 7, 8])
    for train, held in story_folds(groups) + story_folds(groups, n_folds=2):
        assert not set(groups[train]) & set(groups[held])
        assert len(train) + len(held) == groups.size
    with pytest.raises(ToposcopeError, match="at least 2 training stories, got 1"):
        story_folds(np.repeat(["a"], 5))


def test_a_leaky_split_inflates_r():
    # Units and voxels that share nothing but slow drifts, different in every story:
    # held-out stories give r ~ 0, random TRs (their neighbours seen in training) a high r.
    words, features, times = make_stories(n_stories=4, n_words=300, n_units=30, seed=5)
    rng = np.random.default_rng(6)
    drifting = {k: v + np.cumsum(rng.normal(size=v.shape), axis=0) / 5 for k, v in features.items()}
    responses = {name: np.cumsum(rng.normal(size=(len(times[name]), 20)), axis=0) for name in words}
    data = assemble(words, responses, times, TR)
    story = encoding_model(data, drifting, permutations=0, windows=None)
    leaky = encoding_model(data, drifting, split="random", permutations=0, windows=None)
    # (a random walk correlates with anything by chance, either way, on held-out stories)
    assert np.median(leaky["r"].values) > 0.5
    assert np.median(leaky["r"].values) > np.median(story["r"].values) + 0.4
    assert leaky.attrs["split"] == "random" and story.attrs["split"] == "story"


def test_sheet_read_back_finds_the_window_that_drives_each_voxel():
    n_units, delays = 16, (1, 2)
    words, features, times = make_stories(n_stories=4, n_words=400, n_units=n_units, seed=7)
    gx, gy = np.meshgrid(np.arange(4.0), np.arange(4.0))
    x, y = gx.ravel(), gy.ravel()  # a 4 x 4 sheet; 2 x 2 windows of 4 units each
    left_low = np.flatnonzero((x < 2) & (y < 2))
    right_high = np.flatnonzero((x >= 2) & (y >= 2))
    weights = np.zeros((len(delays) * n_units, 2))
    for d in range(len(delays)):
        weights[d * n_units + left_low, 0] = 1.0
        weights[d * n_units + right_high, 1] = 1.0
    data = planted(words, features, times, weights, delays=delays, noise=0.5)
    coords = {"x": ("unit", x), "y": ("unit", y), "layer": ("unit", np.full(n_units, "h.0"))}
    arrays = {k: xr.DataArray(v, dims=("stimulus", "unit"), coords=coords) for k, v in features.items()}
    result = encoding_model(data, arrays, delays=delays, windows=2, permutations=0)
    energy = result["window_energy"].values
    np.testing.assert_allclose(energy.sum(0), 1.0, rtol=1e-5)
    assert energy[:, 0].argmax() == 0 and energy[:, 1].argmax() == 3  # window = row * 2 + col
    assert energy[0, 0] > 0.8 and energy[3, 1] > 0.8
    window_r = result["window_r"].values
    assert window_r[:, 0].argmax() == 0 and window_r[:, 1].argmax() == 3
    assert window_r[0, 0] > 0.7 and window_r[1, 0] < 0.3
    unique = result["window_unique"].values
    assert unique[:, 0].argmax() == 0 and unique[:, 1].argmax() == 3
    assert unique[0, 0] > 0.3 and abs(unique[1, 0]) < 0.05  # only the driving window's units are irreplaceable
    assert result["window_units"].values.tolist() == [4, 4, 4, 4]
    assert result["window_x"].values.tolist() == [0.75, 2.25, 0.75, 2.25]
    assert "x" in result.coords and result.sizes["unit"] == n_units
    from toposcope.plot.encoding import plot_encoding

    figure = plot_encoding(result)
    titles = [ax.get_title() for ax in figure.axes]
    assert "which layer predicts best" in titles and "voxels whose weight energy peaks here" in titles
    with pytest.raises(ToposcopeError, match="plot_encoding needs a Dataset with 'r'"):
        plot_encoding(result["r"])


def test_bad_input():
    words, features, times = make_stories(n_stories=3, n_words=200, n_units=4)
    data = planted(words, features, times, np.ones((16, 2)))
    with pytest.raises(ToposcopeError, match="one story only \\('story0'\\): nothing to hold out"):
        encoding_model(data.select(["story0"]), {"story0": features["story0"]})
    two = data.select(["story0", "story1"])
    with pytest.raises(ToposcopeError, match="only one training story \\('story0'\\) is left"):
        encoding_model(two, {k: features[k] for k in two.stories})
    with pytest.raises(ToposcopeError, match="test story 'nope' is not in the data"):
        encoding_model(data, features, test="nope")
    with pytest.raises(ToposcopeError, match="story 'story2' has responses but no features"):
        encoding_model(data, {k: features[k] for k in ("story0", "story1")})
    with pytest.raises(ToposcopeError, match="features given for story 'other'"):
        encoding_model(data, {**features, "other": features["story0"]})
    with pytest.raises(ToposcopeError, match="story 'story0': a delay of 500 TRs is as long as the story"):
        encoding_model(data, features, delays=(1, 500))
    with pytest.raises(ToposcopeError, match="features of story 'story0' have shape \\(3, 4\\)"):
        encoding_model(data, {**features, "story0": features["story0"][:3]})
    with pytest.raises(ToposcopeError, match="unknown backend 'cupy'"):
        encoding_model(data, features, backend="cupy")


def test_paired_r_and_fdr():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    np.testing.assert_allclose(paired_r(a, b), [np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(3)])
    assert paired_r(np.ones((5, 1)), a[:5, :1]).tolist() == [0.0]
    assert fdr([0.001, 0.02, 0.04, 0.5], q=0.05).tolist() == [True, True, False, False]


def test_banded_ridge_weights_the_space_that_drives_the_voxel_and_matches_sklearn():
    from sklearn.linear_model import Ridge

    from toposcope.analysis.encoding_ridge import fit_banded_ridge

    rng = np.random.default_rng(9)
    n, groups = 240, np.repeat(["a", "b", "c", "d"], 60)
    a, b = rng.normal(size=(n, 10)), rng.normal(size=(n, 4))
    y = np.column_stack([a @ rng.normal(size=10), b @ rng.normal(size=4), a[:, 0] + b[:, 0]])
    y += 0.3 * rng.normal(size=y.shape)
    fit, shares = fit_banded_ridge([a, b], y, groups, n_iter=40, alphas=np.logspace(-2, 3, 11), seed=0)
    assert shares.shape == (2, 3)
    np.testing.assert_allclose(shares.sum(0), 1.0)
    assert shares[0, 0] > 0.9 and shares[1, 1] > 0.9  # voxel 0 from space a only, voxel 1 from b only
    # oracle: a unit-penalty ridge on the spaces scaled by sqrt(alpha_i^-1), i.e. per-space penalties
    # alpha_i = alpha / share_i on the unscaled features
    x = np.hstack([a, b])
    for v in range(3):
        penalties = np.r_[np.full(10, fit.alphas[v] / shares[0, v]), np.full(4, fit.alphas[v] / shares[1, v])]
        scale = 1 / np.sqrt(penalties)
        model = Ridge(alpha=1.0, fit_intercept=False).fit(x * scale, y[:, v])
        np.testing.assert_allclose(fit.coefs[:, v], model.coef_ * scale, atol=1e-6)
    with pytest.raises(ToposcopeError, match="at least 2 feature spaces"):
        fit_banded_ridge([a], y, groups)


def test_banded_encoding_model_records_the_band_shares():
    words, features, times = make_stories(n_stories=4, n_words=300, n_units=6)
    data = planted(words, features, times, np.random.default_rng(10).normal(size=(24, 3)), noise=0.3)
    result = encoding_model(data, features, banded=True, permutations=0, windows=None)
    assert result["band_share"].dims == ("band", "voxel")
    assert list(result["band"].values) == ["units", "controls"]
    assert (result["band_share"].sel(band="units").values > 0.5).all()  # the units drive every voxel
    assert result["r"].values.min() > 0.8 and result.attrs["banded"] == 1
    with pytest.raises(ToposcopeError, match="banded ridge needs a second feature space"):
        encoding_model(data, features, banded=True, controls=())


def test_regressing_head_motion_recovers_a_voxel_swamped_by_it():
    words, features, times = make_stories(n_stories=4, n_words=300, n_units=6, seed=11)
    clean = planted(words, features, times, np.random.default_rng(12).normal(size=(24, 2)), noise=0.2)
    rng = np.random.default_rng(13)
    motion = {name: rng.normal(size=(scan.n_trs, 6)) for name, scan in clean.scans.items()}
    dirty = {name: scan.responses + 4 * motion[name] @ rng.normal(size=(6, 2)) * scan.responses.std(0)
             for name, scan in clean.scans.items()}
    data = assemble(words, dirty, times, TR, confounds=motion, confound_names=("trans_x",) * 6)
    reported = encoding_model(data, features, confounds="report", permutations=0, windows=None)
    regressed = encoding_model(data, features, confounds="regress", permutations=0, windows=None)
    assert regressed["r"].values.min() > 0.8 > reported["r"].values.max()
    assert regressed.attrs["confounds"] == "regress" and reported.attrs["mean_abs_motion"] > 0.5


def test_closed_form_story_cv_matches_refitting_every_fold_in_every_backend_and_precision():
    from himalaya.ridge import solve_ridge_cv_svd

    from toposcope.analysis.encoding_kernel import is_partition

    rng = np.random.default_rng(14)
    groups = np.repeat(["a", "b", "c", "d"], [40, 50, 45, 55])
    x = rng.normal(size=(190, 300))  # fewer rows than features: the kernel form's case
    y = x[:, :20] @ rng.normal(size=(20, 7)) + rng.normal(size=(190, 7)) * np.array([0.3, 1, 3, 10, 30, 100, 1])
    alphas = np.logspace(0, 4, 9)
    folds = story_folds(groups)
    assert is_partition(folds, 190) and not is_partition(folds[:2], 190)
    reference = solve_ridge_cv_svd(x, y, alphas=alphas, cv=folds, local_alpha=True, warn=False)  # one SVD per fold
    fit = fit_ridge(x, y, groups, alphas=alphas, n_targets_batch=3)  # in voxel blocks of 3
    assert fit.basis is not None and len(set(fit.alphas.tolist())) > 2
    np.testing.assert_allclose(fit.alphas, reference[0])
    np.testing.assert_allclose(fit.coefs, reference[1], atol=1e-8)
    np.testing.assert_allclose(fit.cv_score, reference[2].ravel(), rtol=1e-8)
    for backend, dtype in (("numpy", "float32"), ("torch", "float32"), ("torch", "float64")):
        other = fit_ridge(x, y, groups, alphas=alphas, backend=backend, dtype=dtype)
        np.testing.assert_allclose(other.alphas, fit.alphas)
        np.testing.assert_allclose(other.predict(x[:20]), fit.predict(x[:20]), atol=2e-4, rtol=1e-3)
    # folds whose validation sets do not cover the rows go through himalaya's refit per fold, same answer
    partial = fit_ridge(x, y, folds=folds[:3], alphas=alphas)
    assert partial.basis is None
    alone = solve_ridge_cv_svd(x, y, alphas=alphas, cv=folds[:3], local_alpha=True, warn=False)
    np.testing.assert_allclose(partial.coefs, alone[1], atol=1e-10)
