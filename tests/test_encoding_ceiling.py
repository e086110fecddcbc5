"""Noise ceilings from repeated stories: the published formula as oracle, a planted SNR recovered, r normalised."""

from __future__ import annotations

import numpy as np
import pytest
from test_encoding_fit import TR, make_stories

from toposcope._validation import ToposcopeError
from toposcope.analysis.encoding import downsample, fir_delays, zscore
from toposcope.analysis.encoding_ceiling import noise_ceiling, normalized_r
from toposcope.brain.encoding import encoding_model
from toposcope.brain.story_fmri import assemble, load_folder


@pytest.fixture(autouse=True)
def _one_blas_thread():
    import scipy.linalg  # noqa: F401 - scipy's own BLAS must be loaded to be limited
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def sahani_linden_cc_max(repeats):
    """Schoppe et al. (2016), eqs. from Sahani & Linden (2003): SP = (Var(sum_n R_n) - sum_n Var(R_n)) / (N (N-1)),
    CC_max = sqrt(SP / Var(mean_n R_n)); one voxel at a time."""
    n = repeats.shape[0]
    out = []
    for v in range(repeats.shape[2]):
        r = repeats[:, :, v]
        sp = (np.var(r.sum(0), ddof=1) - sum(np.var(r[k], ddof=1) for k in range(n))) / (n * (n - 1))
        out.append(np.sqrt(max(sp, 0.0) / np.var(r.mean(0), ddof=1)))
    return np.asarray(out)


def test_noise_ceiling_is_the_published_cc_max_and_recovers_a_planted_snr():
    rng = np.random.default_rng(0)
    n_repeats, n_trs = 5, 20000
    noise_sd = np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    signal = rng.normal(size=(n_trs, noise_sd.size))
    repeats = signal + noise_sd * rng.normal(size=(n_repeats, n_trs, noise_sd.size))
    cc_max = noise_ceiling(repeats)
    np.testing.assert_allclose(cc_max, sahani_linden_cc_max(repeats), atol=1e-10)
    # known: the mean of N repeats is signal + noise of variance sd^2 / N, so CC_max = 1 / sqrt(1 + sd^2 / N)
    truth = 1 / np.sqrt(1 + noise_sd ** 2 / n_repeats)
    np.testing.assert_allclose(cc_max, truth, atol=0.02)
    # the true signal, a perfect model, reaches the ceiling: normalised r ~ 1
    r_true = np.array([np.corrcoef(signal[:, v], repeats.mean(0)[:, v])[0, 1] for v in range(noise_sd.size)])
    np.testing.assert_allclose(normalized_r(r_true, cc_max), 1.0, atol=0.03)
    # repeats sharing nothing: ceiling ~ 0, and no normalised r where it is exactly 0
    assert noise_ceiling(rng.normal(size=(4, 4000, 3))).max() < 0.1
    assert np.isnan(normalized_r(np.array([0.2]), np.array([0.0]))).all()
    with pytest.raises(ToposcopeError, match="at least 2 repeats"):
        noise_ceiling(repeats[:1])
    with pytest.raises(ToposcopeError, match="repeats must have shape"):
        noise_ceiling(repeats[0])


def test_encoding_model_reports_the_ceiling_of_a_repeated_test_story(tmp_path):
    import h5py

    words, features, times = make_stories(n_stories=4, n_words=900, n_units=8, seed=20)
    rng = np.random.default_rng(21)
    weights = rng.normal(size=(32, 12))
    n_repeats, noise = 4, 1.5
    responses = {}
    for name in words:
        signal = fir_delays(zscore(downsample(features[name], words[name].times, times[name])), (1, 2, 3, 4)) @ weights
        if name == "story3":  # the test story, heard 4 times, each with its own noise
            responses[name] = signal + noise * signal.std(0) * rng.normal(size=(n_repeats, *signal.shape))
        else:
            responses[name] = signal + 0.2 * signal.std(0) * rng.normal(size=signal.shape)
    data = assemble(words, responses, times, TR)
    assert data.scans["story3"].repeats.shape[0] == n_repeats and data.scans["story0"].repeats is None
    np.testing.assert_allclose(data.scans["story3"].responses, responses["story3"].mean(0), rtol=1e-5, atol=1e-5)
    result = encoding_model(data, features, controls=(), permutations=0, windows=None)
    known = 1 / np.sqrt(1 + noise ** 2 / n_repeats)  # 0.8
    assert abs(np.median(result["noise_ceiling"].values) - known) < 0.05
    assert abs(np.median(result["r_norm"].values) - 1.0) < 0.07  # the model recovers the planted signal
    np.testing.assert_allclose(result["r_norm"].values, result["r"].values / result["noise_ceiling"].values,
                               rtol=1e-5)
    assert result.attrs["n_repeats"] == n_repeats
    # no repeats in the test story: no ceiling
    other = encoding_model(data, features, test="story2", controls=(), permutations=0, windows=None)
    assert "noise_ceiling" not in other and "n_repeats" not in other.attrs
    # the plain-folder layout reads repeats as <story>_repeat-<k> files
    stories, folder = tmp_path / "stories", tmp_path / "responses"
    stories.mkdir()
    folder.mkdir()
    for name, story in words.items():
        lines = ["word,onset,offset"] + [f"{w},{a},{b}" for w, a, b in zip(story.words, story.onsets, story.offsets)]
        (stories / f"{name}.csv").write_text("\n".join(lines) + "\n")
        arrays = responses[name] if name == "story3" else [responses[name]]
        for k, array in enumerate(arrays, start=1):
            stem = f"{name}_repeat-{k}" if name == "story3" else name
            with h5py.File(folder / f"{stem}.hf5", "w") as handle:
                handle["data"] = array.astype(np.float32)
    read = load_folder(stories, folder, TR)
    np.testing.assert_allclose(read.scans["story3"].repeats, responses["story3"], rtol=1e-5)
    with h5py.File(folder / "story3.hf5", "w") as handle:
        handle["data"] = responses["story3"][0].astype(np.float32)
    with pytest.raises(ToposcopeError, match="story 'story3' has both story3.hf5 and repeat files"):
        load_folder(stories, folder, TR)
