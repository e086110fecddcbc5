"""Temporal integration windows of every unit, from word swaps (Skrill & Norman-Haignere 2023).

The word-swap method treats a language model as a black box. For a sequence of
``L`` words and each position ``s``, a copy with the word at ``s`` replaced by
another word of the same part of speech is run through the model; the change
of a unit's word-level response at position ``m``,
``|r_swapped_s[m] - r_original[m]|``, says how much the unit at ``m`` still
depends on the word ``m - s`` words back. Averaged over sequences this gives::

    D[swap_pos, measured_pos, unit]                        (accumulate_swaps)
    theta[unit, delta] = median_m D[m - delta, m] / D[m, m]  (window_theta)

for ``delta = 0 .. max_delta`` and the positions ``m >= max_delta + min_swap_pos``
(``min_swap_pos`` 0 by default; 2 in the reference code). Each unit's ``theta``
is fit with a convex mix of a power law and an exponential (:func:`fit_windows`,
in :mod:`toposcope.analysis.integration_fit`; by default the optimum the
published procedure, ``scipy.optimize.curve_fit`` from ``p0 = (1, 1, 0.5)``,
reports)::

    theta(delta) ~ c (delta + 1)^-a + (1 - c) exp(-b delta),  a, b in [0, 10], c in [0, 1]

Structure yoking (:func:`yoking_index`) reads ``D`` of sequences made of
unrelated sentences of equal length: the window of the first word of a
sentence is compared, lag by lag, with the window of the word before it. A
unit whose window depends only on distance (position-yoked) has the same
window at both, so the index is about 0; a unit whose window stops at the
sentence boundary loses everything beyond the boundary at the first word, so
the index is positive.

All functions are pure and vectorised over units; nothing here runs a model
(see :mod:`toposcope.windows` for the runner).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_positive_int
from toposcope.analysis.integration_fit import (
    A_BOUNDS,
    B_BOUNDS,
    FITS,
    basin,
    fit_windows,
    window_model,
)

__all__ = [
    "A_BOUNDS",
    "B_BOUNDS",
    "FITS",
    "MAX_DELTA",
    "MIN_SWAP_POS",
    "REFERENCE_MIN_SWAP_POS",
    "SwapAccumulator",
    "accumulate_swaps",
    "basin",
    "check_min_swap_pos",
    "fit_windows",
    "window_model",
    "window_strengths",
    "window_theta",
    "yoking_index",
]

#: Default largest lag of ``theta`` (Skrill & Norman-Haignere used 20 words).
MAX_DELTA = 20
#: Default earliest swap position a window may reach back to: 0, every position
#: ``m >= max_delta`` is measured.
MIN_SWAP_POS = 0
#: Skrill & Norman-Haignere's code measures only positions with ``m - max_delta >= 2``.
REFERENCE_MIN_SWAP_POS = 2


# --------------------------------------------------------------------------- D
def _unit_coords(template: Any, n_units: int) -> dict[str, Any]:
    if isinstance(template, xr.DataArray) and "unit" in template.dims:
        return {k: v.variable for k, v in template.coords.items() if v.dims == ("unit",)}
    return {"unit": np.arange(n_units)}


class SwapAccumulator:
    """Running mean of ``|response(swapped) - response(original)|`` over sequences.

    Feed it batches with :meth:`add` (the runner does so one chunk of
    sequences at a time, so memory never holds more than a chunk) and read
    ``D`` with :meth:`result`.

    Parameters
    ----------
    length : int
        Words per sequence, ``L``.
    n_units : int
        Units per response row.
    swap_positions : sequence of int, optional
        The position swapped in each copy, in copy order; ``0 .. L-1`` by default.
    unit_coords : mapping, optional
        Unit coords (``layer``, ``x``, ``y``) for the result.
    """

    def __init__(self, length: int, n_units: int, swap_positions: Sequence[int] | None = None,
                 unit_coords: Mapping[str, Any] | None = None) -> None:
        self.length = check_positive_int("length", length)
        self.n_units = check_positive_int("n_units", n_units)
        positions = np.arange(length) if swap_positions is None else np.asarray(swap_positions, dtype=np.int64)
        if positions.ndim != 1 or positions.size == 0 or positions.min() < 0 or positions.max() >= length:
            raise ToposcopeError(f"swap_positions must be positions in 0..{length - 1}, got {positions.tolist()}")
        self.swap_positions = positions
        self.unit_coords = dict(unit_coords) if unit_coords is not None else {"unit": np.arange(n_units)}
        self.total = np.zeros((len(positions), length, n_units), dtype=np.float64)
        self.count = 0

    def add(self, original: Any, swapped: Any) -> None:
        """Add one batch of sequences.

        Parameters
        ----------
        original : array, shape (n_sequences, L, n_units)
            Word-level responses to the original sequences.
        swapped : array, shape (n_sequences, n_swaps, L, n_units)
            Responses to the swapped copies, copy ``k`` swapping ``swap_positions[k]``.
        """
        original = np.asarray(original, dtype=np.float64)
        swapped = np.asarray(swapped)
        want = (len(self.swap_positions), self.length, self.n_units)
        if original.ndim != 3 or original.shape[1:] != want[1:]:
            raise ToposcopeError(
                f"original responses must have shape (n_sequences, {want[1]}, {want[2]}), got {original.shape}"
            )
        if swapped.shape != (original.shape[0], *want):
            raise ToposcopeError(
                f"swapped responses must have shape {(original.shape[0], *want)}, got {swapped.shape}"
            )
        if not (np.isfinite(original).all() and np.isfinite(swapped).all()):
            raise ToposcopeError("responses hold NaN or inf; check the model and the input")
        # One sequence at a time keeps the float64 temporary at (n_swaps, L, n_units).
        for i in range(original.shape[0]):
            self.total += np.abs(swapped[i] - original[i][None])
        self.count += original.shape[0]

    def result(self) -> xr.DataArray:
        """``D``, dims (swap_pos, measured_pos, unit), float64: the mean absolute change."""
        if self.count == 0:
            raise ToposcopeError("no sequences were added; call add() with at least one batch")
        return xr.DataArray(
            self.total / self.count, dims=("swap_pos", "measured_pos", "unit"),
            coords={"swap_pos": self.swap_positions, "measured_pos": np.arange(self.length), **self.unit_coords},
            name="D", attrs={"n_sequences": int(self.count),
                             "definition": "mean over sequences of |r(swapped at swap_pos) - r(original)|"},
        )


def accumulate_swaps(batches: Any, unit_coords: Mapping[str, Any] | None = None) -> xr.DataArray:
    """``D`` from an iterable of ``(original, swapped)`` response batches.

    Parameters
    ----------
    batches : iterable of (array (n, L, U), array (n, L, L, U))
        See :meth:`SwapAccumulator.add`; copy ``k`` swaps position ``k``.
    unit_coords : mapping, optional

    Returns
    -------
    xr.DataArray, dims (swap_pos, measured_pos, unit)
    """
    accumulator = None
    for original, swapped in batches:
        if accumulator is None:
            shape = np.shape(original)
            if len(shape) != 3:
                raise ToposcopeError(f"original responses must be (n_sequences, L, n_units), got shape {shape}")
            accumulator = SwapAccumulator(shape[1], shape[2], unit_coords=unit_coords)
        accumulator.add(original, swapped)
    if accumulator is None:
        raise ToposcopeError("no batches given; pass at least one (original, swapped) pair")
    return accumulator.result()


def _check_d(d: Any) -> xr.DataArray:
    if not isinstance(d, xr.DataArray) or set(d.dims) != {"swap_pos", "measured_pos", "unit"}:
        raise ToposcopeError(
            "D must be an xr.DataArray with dims ('swap_pos', 'measured_pos', 'unit'); make it with "
            "SwapAccumulator or accumulate_swaps"
        )
    d = d.transpose("swap_pos", "measured_pos", "unit")
    if not np.array_equal(d["swap_pos"].values, np.arange(d.sizes["measured_pos"])):
        raise ToposcopeError("D must swap every position 0..L-1 once, in order; swap all positions")
    return d


# --------------------------------------------------------------------------- theta
def check_min_swap_pos(min_swap_pos: Any) -> int:
    """``min_swap_pos`` as an int, or a ToposcopeError naming the allowed values."""
    if isinstance(min_swap_pos, bool) or not isinstance(min_swap_pos, (int, np.integer)) or min_swap_pos < 0:
        raise ToposcopeError(
            f"min_swap_pos must be a non-negative integer (0: every position, {REFERENCE_MIN_SWAP_POS}: the "
            f"reference code's rule), got {min_swap_pos!r}"
        )
    return int(min_swap_pos)


def window_theta(d: xr.DataArray, max_delta: int = MAX_DELTA, min_swap_pos: int = MIN_SWAP_POS) -> xr.DataArray:
    """Normalised window ``theta[unit, delta] = median_m D[m - delta, m] / D[m, m]``.

    Parameters
    ----------
    d : xr.DataArray, dims (swap_pos, measured_pos, unit)
        From :class:`SwapAccumulator`.
    max_delta : int
        Largest lag.
    min_swap_pos : int
        Earliest swap position a measured window may reach back to: the
        positions ``m`` with ``m - max_delta >= min_swap_pos`` are used. ``0``
        (default) uses every position whose lags are all defined;
        :data:`REFERENCE_MIN_SWAP_POS` (2) is the rule of Skrill &
        Norman-Haignere's code, which never lets a window reach the first two
        words.

    Returns
    -------
    xr.DataArray, dims (unit, delta), float64
        ``theta[:, 0] = 1``. NaN for units whose diagonal ``D[m, m]`` is 0 at
        every position (they never respond to their own word). Attrs
        ``max_delta``, ``min_swap_pos`` and ``positions_used``.
    """
    d = _check_d(d)
    length = d.sizes["measured_pos"]
    check_positive_int("max_delta", max_delta)
    check_min_swap_pos(min_swap_pos)
    first = max_delta + int(min_swap_pos)
    if length <= first:
        raise ToposcopeError(
            f"sequences of {length} words are shorter than the window: theta up to delta={max_delta} with "
            f"min_swap_pos={min_swap_pos} needs at least {first + 1} words; use longer sequences, a smaller "
            f"max_delta or a smaller min_swap_pos"
        )
    values = np.asarray(d.values, dtype=np.float64)
    measured = np.arange(first, length)
    lags = np.arange(max_delta + 1)
    window = values[measured[:, None] - lags[None, :], measured[:, None]]  # (M, K, U)
    diagonal = values[measured, measured][:, None, :]  # (M, 1, U)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diagonal > 0, window / np.where(diagonal > 0, diagonal, 1.0), np.nan)
    dead = ~np.isfinite(ratio).any(axis=(0, 1))
    ratio[:, :, dead] = 0.0  # all-NaN slices would warn; they are set back to NaN below
    theta = np.nanmedian(ratio, axis=0).T
    theta[dead] = np.nan
    coords = {"delta": lags, **_unit_coords(d, values.shape[2])}
    return xr.DataArray(theta, dims=("unit", "delta"), coords=coords, name="theta",
                        attrs={"max_delta": int(max_delta), "min_swap_pos": int(min_swap_pos),
                               "positions_used": len(measured)})


# --------------------------------------------------------------------------- yoking
def yoking_index(d: xr.DataArray, sentence_starts: Sequence[int], max_delta: int | None = None) -> xr.DataArray:
    """Sentence-yoking index per unit from ``D`` of structure-yoked sequences.

    For each sentence start ``p`` (the first one excepted) and lag
    ``delta = 1 .. max_delta``, the window of the word before the boundary,
    ``D[p-1-delta, p-1]``, minus the window of the first word of the sentence,
    ``D[p-delta, p]``; averaged over lags and starts and divided by the median
    diagonal ``D[m, m]``. Position-yoked units (windows that depend on distance
    only) give about 0; units whose window stops at the sentence boundary give
    a positive index.

    Parameters
    ----------
    d : xr.DataArray, dims (swap_pos, measured_pos, unit)
    sentence_starts : sequence of int
        Position of the first word of each sentence in the sequences.
    max_delta : int, optional
        Largest lag; the sentence length minus 1 by default (the lags that stay
        inside the previous word's own sentence).

    Returns
    -------
    xr.DataArray, dims (unit,), float64
        NaN for units with a zero median diagonal.
    """
    d = _check_d(d)
    length = d.sizes["measured_pos"]
    starts = sorted({int(s) for s in sentence_starts})
    inner = [s for s in starts if 0 < s < length]
    if not inner:
        raise ToposcopeError(
            "the sequences have no sentence boundaries (no sentence starts after position 0); yoking needs "
            "sequences made of several sentences (see toposcope.stimuli.text.yoked_sequences)"
        )
    lengths = np.diff([*starts, length])
    if max_delta is None:
        max_delta = int(lengths.min()) - 1
    if max_delta < 1:
        raise ToposcopeError(f"sentences of {int(lengths.min())} word(s) leave no lag to compare; use longer sentences")
    values = np.asarray(d.values, dtype=np.float64)
    changes = []
    for p in inner:
        lags = np.arange(1, min(max_delta, p - 1) + 1)
        if lags.size == 0:
            continue
        before = values[p - 1 - lags, p - 1]  # (lags, U)
        first = values[p - lags, p]
        changes.append((before - first).mean(axis=0))
    if not changes:
        raise ToposcopeError("no sentence start leaves a lag to compare; the first sentence must have 2+ words")
    diagonal = np.median(values[np.arange(length), np.arange(length)], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.where(diagonal > 0, np.mean(changes, axis=0) / np.where(diagonal > 0, diagonal, 1.0), np.nan)
    return xr.DataArray(index, dims=("unit",), coords=_unit_coords(d, values.shape[2]), name="yoking",
                        attrs={"sentence_starts": inner, "max_delta": int(max_delta)})


def window_strengths(windows: xr.Dataset, yoking_scale: float | None = None) -> xr.DataArray:
    """Power-law, exponential and sentence-yoked strength per unit, each in [0, 1].

    ``power_law = c``, ``exponential = 1 - c`` and ``yoked = clip(yoking /
    yoking_scale, 0, 1)`` with ``yoking_scale`` the 99th percentile of the
    positive yoking indices by default. These are the red, green and blue
    channels of the Fig. 5B-style composite.

    Parameters
    ----------
    windows : xr.Dataset
        With ``c`` and ``yoking`` per unit (``yoking`` may be absent: blue is 0).

    Returns
    -------
    xr.DataArray, dims (unit, channel), channel = ["power_law", "exponential", "yoked"]
    """
    if "c" not in windows:
        raise ToposcopeError("windows need a 'c' variable; make them with fit_windows")
    c = np.asarray(windows["c"].values, dtype=np.float64)
    yoked = np.zeros_like(c)
    if "yoking" in windows:
        y = np.asarray(windows["yoking"].values, dtype=np.float64)
        positive = y[np.isfinite(y) & (y > 0)]
        scale = yoking_scale if yoking_scale is not None else (np.percentile(positive, 99) if positive.size else 1.0)
        yoked = np.clip(np.nan_to_num(y / (scale if scale > 0 else 1.0)), 0.0, 1.0)
    data = np.stack([c, 1 - c, yoked], axis=1)
    coords = {k: v.variable for k, v in windows.coords.items() if v.dims == ("unit",)}
    coords["channel"] = ["power_law", "exponential", "yoked"]
    return xr.DataArray(data, dims=("unit", "channel"), coords=coords, name="strength")
