"""Words -> TRs: Lanczos, sinc and averaging against the Huth-lab definitions; trimming, z-scores, FIR delays."""

from __future__ import annotations

import numpy as np
import pytest

from toposcope._validation import ToposcopeError
from toposcope.analysis.encoding import (
    average_weights,
    downsample,
    fir_delays,
    regress_confounds,
    story_design,
    trim,
    word_rate,
    zscore,
)


# The published definitions (Huth lab, ridge_utils/interpdata.py), written out again here.
def huth_lanczosfun(cutoff, t, window=3):
    t = t * cutoff
    with np.errstate(divide="ignore", invalid="ignore"):
        val = window * np.sin(np.pi * t) * np.sin(np.pi * t / window) / (np.pi ** 2 * t ** 2)
    val[t == 0] = 1.0
    val[np.abs(t) > window] = 0.0
    return val


def huth_lanczosinterp2D(data, oldtime, newtime, window=3, cutoff_mult=1.0):
    cutoff = 1 / np.mean(np.diff(newtime)) * cutoff_mult
    sincmat = np.zeros((len(newtime), len(oldtime)))
    for ndi in range(len(newtime)):
        sincmat[ndi, :] = huth_lanczosfun(cutoff, newtime[ndi] - oldtime, window)
    return np.dot(sincmat, data)


def huth_sincfun(B, t, window=np.inf, renorm=True):
    val = 2 * B * np.sin(2 * np.pi * B * t) / (2 * np.pi * B * t + 1e-20)
    val[np.abs(t) > window / (2 * B)] = 0
    if np.sum(val) != 0.0 and renorm:
        val = val / np.sum(val)
    return val


def huth_sincinterp2D(data, oldtime, newtime, cutoff_mult=1.0, window=1):
    cutoff = 1 / np.mean(np.diff(newtime)) * cutoff_mult
    sincmat = np.zeros((len(newtime), len(oldtime)))
    for ndi in range(len(newtime)):
        sincmat[ndi, :] = huth_sincfun(cutoff, newtime[ndi] - oldtime, window)
    return np.dot(sincmat, data)


def huth_make_delayed(stim, delays):
    nt, ndim = stim.shape
    dstims = []
    for d in delays:
        dstim = np.zeros((nt, ndim))
        if d < 0:
            dstim[:d, :] = stim[-d:, :]
        elif d > 0:
            dstim[d:, :] = stim[:-d, :]
        else:
            dstim = stim.copy()
        dstims.append(dstim)
    return np.hstack(dstims)


@pytest.fixture
def story():
    rng = np.random.default_rng(0)
    word_times = np.sort(rng.uniform(0, 120, 300))
    word_times[10] = 21.0  # a word exactly at a TR's time (t == 0 in the kernel)
    tr_times = np.arange(60) * 2.0 + 1.0
    return rng.normal(size=(300, 7)), word_times, tr_times


@pytest.mark.parametrize("window,cutoff_mult", [(3, 1.0), (5, 1.0), (3, 0.5)])
def test_lanczos_equals_huth_lanczosinterp2D(story, window, cutoff_mult):
    features, word_times, tr_times = story
    ours = downsample(features, word_times, tr_times, "lanczos", window=window, cutoff_mult=cutoff_mult)
    theirs = huth_lanczosinterp2D(features, word_times, tr_times, window=window, cutoff_mult=cutoff_mult)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_lanczos_cutoff_is_the_tr_nyquist():
    # A sinusoid at 0.8 x Nyquist survives, one at 2 x Nyquist is filtered out (it would alias).
    tr, word_times = 2.0, np.arange(0, 400, 0.05)
    tr_times = np.arange(20, 180) * tr + 1.0
    nyquist = 1 / (2 * tr)
    slow = np.cos(2 * np.pi * 0.8 * nyquist * word_times)
    fast = np.cos(2 * np.pi * 2.0 * nyquist * word_times + 0.3)
    scale = np.mean(downsample(np.ones(word_times.size), word_times, tr_times))  # words per TR
    out_slow = downsample(slow, word_times, tr_times)[:, 0] / scale
    out_fast = downsample(fast, word_times, tr_times)[:, 0] / scale
    assert np.corrcoef(out_slow, np.cos(2 * np.pi * 0.8 * nyquist * tr_times))[0, 1] > 0.99
    assert np.abs(out_fast).max() < 0.05


def test_sinc_equals_huth_sincinterp2D(story):
    features, word_times, tr_times = story
    for window in (1, 3):
        np.testing.assert_allclose(downsample(features, word_times, tr_times, "sinc", window=window),
                                   huth_sincinterp2D(features, word_times, tr_times, window=window), atol=1e-10)


def test_average_is_the_mean_of_the_words_in_each_tr(story):
    features, word_times, tr_times = story
    ours = downsample(features, word_times, tr_times, "average")
    for k, t in enumerate(tr_times):
        inside = (word_times >= t - 1.0) & (word_times < t + 1.0)
        expected = features[inside].mean(0) if inside.any() else np.zeros(features.shape[1])
        np.testing.assert_allclose(ours[k], expected, atol=1e-12)
    weights = average_weights(word_times, tr_times)
    assert weights.sum(1).max() == pytest.approx(1.0)
    # every word lands in exactly one TR (the TRs tile the story)
    assert np.all(np.count_nonzero(weights, axis=0)[(word_times >= 0) & (word_times < 120)] == 1)


def test_word_rate_counts_words():
    word_times = np.arange(0.25, 100, 0.5)  # 2 words a second -> 4 per 2-s TR
    rate = word_rate(word_times, np.arange(10, 40) * 2.0 + 1.0, "average")
    np.testing.assert_allclose(rate, 1.0)  # the average of ones
    lanczos = word_rate(word_times, np.arange(10, 40) * 2.0 + 1.0)
    np.testing.assert_allclose(lanczos, 4.0, rtol=0.02)  # the Lanczos sum of ones ~ words per TR


def test_fir_delays_equal_make_delayed():
    x = np.random.default_rng(1).normal(size=(30, 5))
    for delays in ((1, 2, 3, 4), (0, 2), (-1, 1)):
        np.testing.assert_array_equal(fir_delays(x, delays), huth_make_delayed(x, delays))
    with pytest.raises(ToposcopeError, match="a delay of 30 TRs is as long as the story \\(30 TRs"):
        fir_delays(x, (1, 30))
    with pytest.raises(ToposcopeError, match="delays repeat"):
        fir_delays(x, (1, 1))


def test_trim_zscore_and_the_story_design(story):
    features, word_times, tr_times = story
    z = zscore(np.column_stack([np.arange(10.0), np.full(10, 3.0)]))
    np.testing.assert_allclose(z[:, 0].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, 0].std(), 1)
    np.testing.assert_array_equal(z[:, 1], 0)  # constant -> 0, not NaN
    assert trim(np.arange(10), 2, 3).tolist() == [2, 3, 4, 5, 6]
    with pytest.raises(ToposcopeError, match="leaves nothing"):
        trim(np.arange(10), 5, 5)
    # the Huth-lab order: downsample, trim, z-score, delay
    expected = huth_make_delayed(zscore(huth_lanczosinterp2D(features, word_times, tr_times)[5:-5]), (1, 2, 3, 4))
    np.testing.assert_allclose(story_design(features, word_times, tr_times, trim_trs=(5, 5)), expected, atol=1e-10)


def test_regress_confounds_removes_motion():
    rng = np.random.default_rng(2)
    motion = rng.normal(size=(80, 6))
    signal = rng.normal(size=(80, 3))
    clean = regress_confounds(signal + motion @ rng.normal(size=(6, 3)) + 5.0, motion)
    np.testing.assert_allclose(motion.T @ clean, 0, atol=1e-9)
    assert np.corrcoef(clean[:, 0], signal[:, 0])[0, 1] > 0.9


def test_bad_input():
    with pytest.raises(ToposcopeError, match="unknown method 'lanczoz'.*did you mean 'lanczos'"):
        downsample(np.ones((3, 1)), [0, 1, 2], [0, 2], "lanczoz")
    with pytest.raises(ToposcopeError, match="one row per word"):
        downsample(np.ones((4, 1)), [0, 1, 2], [0, 2])
    with pytest.raises(ToposcopeError, match="tr_times must increase"):
        downsample(np.ones((3, 1)), [0, 1, 2], [2, 0])
    with pytest.raises(ToposcopeError, match="word_times hold NaN"):
        downsample(np.ones((3, 1)), [0, np.nan, 2], [0, 2])
