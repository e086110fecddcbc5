"""Word features onto the fMRI time grid: interpolation, trimming, z-scoring, FIR delays.

Pure functions on arrays, the steps of the Huth-lab encoding pipeline
(``feature_spaces.downsample_word_vectors`` then ``apply_zscore_and_hrf``):

1. :func:`downsample` word-level features (one row per word, at the word's
   time) to one row per TR, by a weight matrix from :data:`METHODS`:

   ``"lanczos"``
       The Huth-lab ``lanczosinterp2D``: a Lanczos kernel of ``window`` lobes
       (default 3) whose cut-off is the TR's sampling rate times ``cutoff_mult``,
       i.e. zero crossings every TR (a low-pass at the TR's Nyquist frequency),
       ``L(t) = window sin(pi t f) sin(pi t f / window) / (pi t f)^2`` for
       ``|t f| <= window`` (``f = cutoff_mult / TR``), 1 at 0.
   ``"sinc"``
       The Huth-lab ``sincinterp2D``: ``2B sin(2 pi B t) / (2 pi B t)`` with
       ``B = cutoff_mult / TR``, cut to ``|t| <= window / (2B)`` (default one
       lobe) and each row normalised to sum to 1.
   ``"average"``
       The mean of all words whose time falls inside the TR (zero where none),
       LITcoder's "every token in a TR" choice without interpolation.

2. :func:`trim` the first and last rows; 3. :func:`zscore` each story's
   columns; 4. :func:`fir_delays`: copies of the features shifted by 1-4 TRs
   (the finite-impulse-response model of the haemodynamic lag), stacked
   delay-major as the lab's ``make_delayed`` stacks them, zero-padded within
   the story so that no story's features leak into another's rows.

:func:`story_design` runs the four steps for one story. :func:`regress_confounds`
removes nuisance regressors (head motion) from responses by least squares.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_option

__all__ = [
    "DEFAULT_DELAYS",
    "METHODS",
    "average_weights",
    "downsample",
    "fir_delays",
    "lanczos_weights",
    "regress_confounds",
    "sinc_weights",
    "story_design",
    "trim",
    "word_rate",
    "zscore",
]

#: FIR delays in TRs (the Huth-lab ``ndelays=4``: 2-8 s at a 2 s TR).
DEFAULT_DELAYS = (1, 2, 3, 4)


def _times(name: str, values: Any) -> np.ndarray:
    times = np.asarray(values, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ToposcopeError(f"{name} must be a non-empty 1-D array of seconds, got shape {times.shape}")
    if not np.isfinite(times).all():
        raise ToposcopeError(f"{name} hold NaN or inf")
    return times


def _tr_period(tr_times: np.ndarray) -> float:
    if tr_times.size < 2:
        raise ToposcopeError("tr_times need at least 2 TRs to give a sampling rate")
    steps = np.diff(tr_times)
    if np.any(steps <= 0):
        raise ToposcopeError("tr_times must increase")
    return float(np.mean(steps))


def lanczos_weights(word_times: Any, tr_times: Any, window: int = 3, cutoff_mult: float = 1.0) -> np.ndarray:
    """Lanczos interpolation weights from words to TRs (Huth-lab ``lanczosinterp2D``).

    Parameters
    ----------
    word_times : array, shape (n_words,)
        Seconds, the time of each word (its middle in the Huth-lab pipeline).
    tr_times : array, shape (n_trs,)
        Seconds, evenly spaced; their mean spacing sets the cut-off.
    window : int
        Lobes of the kernel.
    cutoff_mult : float
        Multiplies the cut-off (1: zero crossings every TR).

    Returns
    -------
    ndarray, float64, shape (n_trs, n_words)
    """
    words, trs = _times("word_times", word_times), _times("tr_times", tr_times)
    if window < 1:
        raise ToposcopeError(f"window must be a positive number of lobes, got {window!r}")
    cutoff = cutoff_mult / _tr_period(trs)
    t = (trs[:, None] - words[None, :]) * cutoff
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = window * np.sin(np.pi * t) * np.sin(np.pi * t / window) / (np.pi ** 2 * t ** 2)
    weights[t == 0] = 1.0
    weights[np.abs(t) > window] = 0.0
    return weights


def sinc_weights(word_times: Any, tr_times: Any, window: float = 1, cutoff_mult: float = 1.0,
                 renorm: bool = True) -> np.ndarray:
    """Windowed-sinc interpolation weights from words to TRs (Huth-lab ``sincinterp2D``).

    Returns
    -------
    ndarray, float64, shape (n_trs, n_words)
        Rows sum to 1 (``renorm``) unless no word falls within the window.
    """
    words, trs = _times("word_times", word_times), _times("tr_times", tr_times)
    bandwidth = cutoff_mult / _tr_period(trs)
    t = trs[:, None] - words[None, :]
    weights = 2 * bandwidth * np.sin(2 * np.pi * bandwidth * t) / (2 * np.pi * bandwidth * t + 1e-20)
    weights[np.abs(t) > window / (2 * bandwidth)] = 0.0
    if renorm:
        sums = weights.sum(axis=1, keepdims=True)
        weights = np.divide(weights, sums, out=weights, where=sums != 0)
    return weights


def average_weights(word_times: Any, tr_times: Any) -> np.ndarray:
    """Weights averaging the words inside each TR.

    TR ``k`` covers ``[tr_times[k] - TR/2, tr_times[k] + TR/2)`` (``tr_times``
    are the middles of the TRs); a TR with no word gets a row of zeros.

    Returns
    -------
    ndarray, float64, shape (n_trs, n_words)
    """
    words, trs = _times("word_times", word_times), _times("tr_times", tr_times)
    half = _tr_period(trs) / 2
    inside = (words[None, :] >= trs[:, None] - half) & (words[None, :] < trs[:, None] + half)
    counts = inside.sum(axis=1, keepdims=True)
    return np.divide(inside, counts, out=np.zeros(inside.shape), where=counts > 0)


#: name -> weights(word_times, tr_times, **options) of shape (n_trs, n_words).
METHODS: dict[str, Callable[..., np.ndarray]] = {
    "lanczos": lanczos_weights,
    "sinc": sinc_weights,
    "average": average_weights,
}


def downsample(features: Any, word_times: Any, tr_times: Any, method: str = "lanczos", **options: Any) -> np.ndarray:
    """Word-level features at the TRs.

    Parameters
    ----------
    features : array, shape (n_words, n_features)
    word_times : array, shape (n_words,)
    tr_times : array, shape (n_trs,)
    method : {"lanczos", "sinc", "average"}
    **options
        Passed to the weights function (``window``, ``cutoff_mult``).

    Returns
    -------
    ndarray, float64, shape (n_trs, n_features)
    """
    check_option("method", method, METHODS)
    values = np.asarray(features, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != np.size(word_times):
        raise ToposcopeError(f"features have shape {values.shape} but there are {np.size(word_times)} word "
                             "times; give one row per word")
    return METHODS[method](word_times, tr_times, **options) @ values


def word_rate(word_times: Any, tr_times: Any, method: str = "lanczos", **options: Any) -> np.ndarray:
    """Words per TR as a feature (the Huth-lab ``wordrate``: a column of ones, downsampled).

    Returns
    -------
    ndarray, float64, shape (n_trs, 1)
    """
    return downsample(np.ones((np.size(word_times), 1)), word_times, tr_times, method, **options)


def trim(x: Any, start: int = 0, end: int = 0) -> np.ndarray:
    """Rows ``start`` to ``n - end`` of ``x`` (the first and last TRs dropped)."""
    values = np.asarray(x)
    for name, n in (("start", start), ("end", end)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ToposcopeError(f"trim {name} must be a non-negative number of TRs, got {n!r}")
    if start + end >= values.shape[0]:
        raise ToposcopeError(f"trimming {start} + {end} TRs leaves nothing of a story with {values.shape[0]} TRs")
    return values[start: values.shape[0] - end]


def zscore(x: Any) -> np.ndarray:
    """Columns centred and scaled to unit (population) standard deviation; constant columns become 0.

    Returns
    -------
    ndarray, float64, shape of ``x``
    """
    values = np.asarray(x, dtype=np.float64)
    centred = values - values.mean(axis=0)
    std = centred.std(axis=0)
    # A column constant up to rounding (std far below its scale) is treated as constant.
    scale = np.abs(values).max(axis=0) if values.size else 0
    constant = std <= 1e-12 * np.maximum(scale, 1e-300)
    return np.divide(centred, std, out=np.zeros_like(centred), where=~constant)


def _check_delays(delays: Sequence[int], n_rows: int) -> tuple[int, ...]:
    chosen = tuple(delays)
    if not chosen:
        raise ToposcopeError("delays must name at least one delay in TRs, e.g. (1, 2, 3, 4)")
    for d in chosen:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ToposcopeError(f"delays must be whole numbers of TRs, got {d!r}")
    if len(set(chosen)) != len(chosen):
        raise ToposcopeError(f"delays repeat a value: {chosen}")
    longest = max(abs(d) for d in chosen)
    if longest >= n_rows:
        raise ToposcopeError(f"a delay of {longest} TRs is as long as the story ({n_rows} TRs after trimming); "
                             "use shorter delays or longer stories")
    return chosen


def fir_delays(x: Any, delays: Sequence[int] = DEFAULT_DELAYS) -> np.ndarray:
    """Delayed copies of the features side by side (a finite-impulse-response design).

    Row ``t`` of the block for delay ``d`` holds the features of TR ``t - d``
    (zeros where that is outside the story), so the responses at ``t`` are
    modelled from the stimulus ``d`` TRs earlier.

    Parameters
    ----------
    x : array, shape (n_trs, n_features)
        One story's features.
    delays : sequence of int
        In TRs; negative delays look ahead.

    Returns
    -------
    ndarray, shape (n_trs, n_delays * n_features)
        Delay-major: columns ``[k * n_features, (k + 1) * n_features)`` are delay ``delays[k]``.
    """
    values = np.asarray(x)
    if values.ndim != 2:
        raise ToposcopeError(f"features must be 2-D (TRs, features), got shape {values.shape}")
    n, width = values.shape
    chosen = _check_delays(delays, n)
    out = np.zeros((n, width * len(chosen)), dtype=np.result_type(values, np.float32))
    for k, d in enumerate(chosen):
        block = out[:, k * width:(k + 1) * width]
        if d > 0:
            block[d:] = values[:-d]
        elif d < 0:
            block[:d] = values[-d:]
        else:
            block[:] = values
    return out


def story_design(features: Any, word_times: Any, tr_times: Any, *, method: str = "lanczos",
                 trim_trs: tuple[int, int] = (0, 0), delays: Sequence[int] = DEFAULT_DELAYS,
                 standardise: bool = True, **options: Any) -> np.ndarray:
    """One story's design matrix: downsample, trim, z-score, delay.

    Parameters
    ----------
    features : array, shape (n_words, n_features)
    word_times : array, shape (n_words,)
    tr_times : array, shape (n_trs,)
    method : {"lanczos", "sinc", "average"}
    trim_trs : (int, int)
        TRs dropped at the start and the end (the responses must be trimmed alike).
    delays : sequence of int
    standardise : bool
        z-score each column within the story (after trimming, before delaying).

    Returns
    -------
    ndarray, float64, shape (n_trs - sum(trim_trs), n_delays * n_features)
    """
    x = trim(downsample(features, word_times, tr_times, method, **options), *trim_trs)
    if standardise:
        x = zscore(x)
    return fir_delays(x, delays)


def regress_confounds(responses: Any, confounds: Any) -> np.ndarray:
    """Responses with the confounds (and a constant) regressed out by least squares.

    Parameters
    ----------
    responses : array, shape (n_trs, n_voxels)
    confounds : array, shape (n_trs, n_confounds)

    Returns
    -------
    ndarray, float64, shape (n_trs, n_voxels)
        The residuals (mean zero).
    """
    y = np.asarray(responses, dtype=np.float64)
    c = np.asarray(confounds, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != y.shape[0]:
        raise ToposcopeError(f"confounds have shape {c.shape} for {y.shape[0]} TRs; give one row per TR")
    design = np.column_stack([np.ones(len(c)), c])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return y - design @ coef
