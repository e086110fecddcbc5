"""Effective dimensionality and eigenspectrum of a layer's responses.

The covariance of the responses over stimuli (units as variables, centred over
stimuli, ``ddof=1`` like scikit-learn's ``PCA.explained_variance_``) has
eigenvalues ``lambda``; the effective dimensionality is

.. math:: ED = \\frac{(\\sum_i \\lambda_i)^2}{\\sum_i \\lambda_i^2}
             = \\frac{\\operatorname{tr}(C)^2}{\\lVert C \\rVert_F^2}

(the participation ratio; TDANN's ``spacetorch/analyses/dimensionality.py``
computes it from ``PCA().explained_variance_``, and TopoNets use the same
measure). The second form needs no eigendecomposition, so
:func:`effective_dimensionality` streams:

* ``form="covariance"`` (more stimuli than units): ``C = Xc^T Xc`` summed over
  blocks of stimuli; memory ``n_units**2`` float64.
* ``form="gram"`` (more units than stimuli): the centred Gram matrix
  ``G = Xc Xc^T`` has the same non-zero eigenvalues, so ``tr(C) = tr(G)`` and
  ``||C||_F = ||G||_F``. ``G`` is never stored: blocks of stimuli ``I, J``
  (J >= I) give ``||G||_F^2 = sum_I ||G_II||^2 + 2 sum_{I<J} ||G_IJ||^2``.
  Memory is ``memory`` bytes of stimuli, whatever the size.

:func:`effective_dimensionality` in the Gram form reads the data as few times
as the budget allows, with the input checks fused into the first read: a large
*panel* of stimuli is held while the stimuli after it stream past in small
blocks, then the next panel, and so on (1 + (D - P)/D + (D - 2P)/D + ... reads
of D bytes with panels of P bytes: 1.5 reads when the data are twice the
budget, where pairs of equal blocks need 2.5). The means are not known before
the first read, so rows are shifted by the first panel's mean (which makes the
remaining offset small, keeping float32 products accurate) and the exact
centring ``Gc = H G H`` (``H = I - 11^T/n``) is applied to the sums at the end:
``tr(Gc) = tr(G) - S/n`` and ``||Gc||^2 = ||G||^2 - 2||r||^2/n + S^2/n^2`` with
``r = G 1`` and ``S = 1^T G 1``, accumulated block by block in float64.

Elsewhere, units are centred with their means from a separate validation pass.
Constant units are excluded (they add nothing to the covariance) and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option
from toposcope.analysis._responses import (
    CONSTANT_RTOL,
    CheckedResponses,
    block_rows,
    check_layout,
    check_responses,
    stimulus_blocks,
)

__all__ = ["FORMS", "PRECISIONS", "decay_exponent", "effective_dimensionality", "eigenspectrum"]

FORMS = ("auto", "covariance", "gram")
PRECISIONS = ("auto", "float32", "float64")

#: Below this many multiply-adds, products are computed in float64 (exact to
#: rounding); above, in float32 with float64 sums (relative error ~1e-6), which
#: is twice as fast and halves the memory of each block.
_FLOAT64_WORK = 2e10

#: Rows read at a time when filling a block (bounds the reader's temporaries).
_READ_BYTES = 32 << 20

#: Largest streamed block of the fused Gram pass; the rest of the budget is the
#: panel. Small streamed blocks make the panels, and so the fewest reads, large.
_STREAM_BYTES = 64 << 20


class _Centred:
    """Reads blocks of stimuli of the varying units, centred, into reusable buffers."""

    def __init__(self, checked: CheckedResponses, dtype: type, memory: int) -> None:
        self.checked = checked
        self.dtype = np.dtype(dtype)
        self.keep = np.flatnonzero(checked.varying)
        self.all = len(self.keep) == checked.n_units
        self.mean = checked.mean[self.keep].astype(self.dtype)
        self.n_units = len(self.keep)
        self.rows = max(1, memory // (2 * self.n_units * self.dtype.itemsize))

    def slices(self) -> list[slice]:
        n = self.checked.n_stimuli
        return [slice(s, min(s + self.rows, n)) for s in range(0, n, self.rows)]

    def read(self, stimuli: slice, out: np.ndarray) -> np.ndarray:
        """Centred responses of ``stimuli``, written into ``out`` (rows, n_varying)."""
        block_view = out[: stimuli.stop - stimuli.start]
        part = self.checked.responses.isel(stimulus=stimuli)
        step = block_rows(self.checked.n_units, _READ_BYTES, 4)
        for rows, values in stimulus_blocks(part, step):
            target = block_view[rows]
            np.copyto(target, values if self.all else values[:, self.keep], casting="unsafe")
            target -= self.mean
        return block_view


def _precision(precision: str, checked: CheckedResponses, form: str) -> type:
    return _dtype(precision, checked.n_stimuli, int(checked.varying.sum()))


def _dtype(precision: str, n_stimuli: int, n_units: int) -> type:
    check_option("precision", precision, PRECISIONS)
    if precision != "auto":
        return np.float32 if precision == "float32" else np.float64
    work = n_stimuli * n_units * min(n_stimuli, n_units)
    return np.float64 if work < _FLOAT64_WORK else np.float32


def _form(form: str, checked: CheckedResponses) -> str:
    check_option("form", form, FORMS)
    if form != "auto":
        return form
    return "gram" if checked.varying.sum() > checked.n_stimuli else "covariance"


def _checked(responses: Any) -> CheckedResponses:
    return check_responses(responses, min_stimuli=3, min_units=1)


def _gram_blocks(reader: _Centred) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """Yield ``(I, J, G_IJ)`` for stimulus blocks J >= I of the centred Gram matrix."""
    blocks = reader.slices()
    first = np.empty((reader.rows, reader.n_units), dtype=reader.dtype)
    second = np.empty_like(first) if len(blocks) > 1 else None
    for i, a in enumerate(blocks):
        left = reader.read(a, first)
        yield a, a, left @ left.T  # the symmetric product: half the work
        for b in blocks[i + 1:]:
            yield a, b, left @ reader.read(b, second).T


def _covariance(reader: _Centred) -> np.ndarray:
    """``Xc^T Xc`` summed over blocks of stimuli, float64, shape (n_varying, n_varying)."""
    total = np.zeros((reader.n_units, reader.n_units))
    buffer = np.empty((reader.rows, reader.n_units), dtype=reader.dtype)
    for stimuli in reader.slices():
        block = reader.read(stimuli, buffer)
        total += block.T @ block
    return total


def _fill(responses: xr.DataArray, stimuli: slice, out: np.ndarray) -> np.ndarray:
    """Responses of ``stimuli`` copied into ``out`` (rows, n_units) in its dtype."""
    view = out[: stimuli.stop - stimuli.start]
    step = block_rows(out.shape[1], _READ_BYTES, 4)
    for rows, values in stimulus_blocks(responses.isel(stimulus=stimuli), step):
        np.copyto(view[rows], values, casting="unsafe")
    return view


def _sum_of_squares(block: np.ndarray, rows: int = 1024) -> float:
    """``sum(block**2)`` in float64, converting ``rows`` rows at a time (no full-size copy)."""
    total = 0.0
    for start in range(0, len(block), rows):
        part = block[start:start + rows].astype(np.float64, copy=False)
        total += float(np.einsum("ij,ij->", part, part))
    return total


class _Moments:
    """Per-unit sums and sums of squares of shifted rows, for the fused input check."""

    def __init__(self, n_units: int) -> None:
        self.count = 0
        self.total = np.zeros(n_units)
        self.squares = np.zeros(n_units)

    def add(self, block: np.ndarray, rows: int = 512) -> None:
        self.count += len(block)
        self.total += block.sum(axis=0, dtype=np.float64)
        for start in range(0, len(block), rows):
            # Within a few hundred rows the working dtype suffices: the squares
            # only decide which units are constant (exact zeros stay zeros).
            part = block[start:start + rows]
            self.squares += np.einsum("ij,ij->j", part, part)

    def usable(self, shift: np.ndarray) -> bool:
        """True when every value was finite, some unit varies, and constant units are exactly constant.

        Otherwise the caller falls back to the separate check (which raises
        the usual error, or excludes nearly constant units exactly).
        """
        if not (np.isfinite(self.total).all() and np.isfinite(self.squares).all()):
            return False
        offset = self.total / self.count
        std = np.sqrt(np.maximum(self.squares / self.count - offset**2, 0.0))
        varying = std > CONSTANT_RTOL * np.abs(shift.astype(np.float64) + offset)
        # A constant unit adds exactly nothing only when its shifted values are all zero.
        return bool(varying.any()) and not np.any(self.squares[~varying] > 0)


def _fused_gram(responses: xr.DataArray, dtype: type, memory: int) -> tuple[float, float] | None:
    """``(tr(Gc), ||Gc||_F^2)`` of the centred Gram matrix, checking the input on the first read.

    Returns None when the input needs the separate check: NaN or inf, no
    varying unit, or nearly (not exactly) constant units to exclude.
    """
    n, n_units = int(responses.sizes["stimulus"]), int(responses.sizes["unit"])
    row_bytes = n_units * np.dtype(dtype).itemsize
    stream_rows = max(1, min(memory // 8, _STREAM_BYTES) // row_bytes)
    panel_rows = min(n, max(1, (memory - stream_rows * row_bytes) // row_bytes))
    panel = np.empty((panel_rows, n_units), dtype=dtype)
    stream = np.empty((min(stream_rows, n - panel_rows), n_units), dtype=dtype) if n > panel_rows else None
    moments = _Moments(n_units)
    trace = squares = 0.0
    row_sums = np.zeros(n)  # r = G 1
    shift = np.zeros(n_units, dtype=dtype)
    for start in range(0, n, panel_rows):
        first = start == 0
        a = slice(start, min(start + panel_rows, n))
        left = _fill(responses, a, panel)
        if first:
            shift = left.mean(axis=0, dtype=np.float64).astype(dtype)
        left -= shift
        if first:
            moments.add(left)
        block = left @ left.T  # symmetric: half the work
        trace += float(np.trace(block, dtype=np.float64))
        squares += _sum_of_squares(block)
        row_sums[a] += block.sum(axis=1, dtype=np.float64)
        del block
        for begin in range(a.stop, n, stream_rows):
            b = slice(begin, min(begin + stream_rows, n))
            right = _fill(responses, b, stream)
            right -= shift
            if first:
                moments.add(right)
            block = left @ right.T
            squares += 2.0 * _sum_of_squares(block)
            row_sums[a] += block.sum(axis=1, dtype=np.float64)
            row_sums[b] += block.sum(axis=0, dtype=np.float64)
        if first and not moments.usable(shift):
            return None
    total = float(row_sums.sum())
    return trace - total / n, squares - 2.0 * float(row_sums @ row_sums) / n + (total / n) ** 2


def effective_dimensionality(
    responses: xr.DataArray,
    *,
    form: str = "auto",
    precision: str = "auto",
    memory: int = 512 << 20,
) -> float:
    """Effective dimensionality ``(sum lambda)**2 / sum lambda**2`` of the response covariance.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        numpy- or dask-backed; dask-backed responses are read block by block.
    form : {"auto", "covariance", "gram"}
        ``"auto"`` takes the Gram form when there are more (varying) units than stimuli.
    precision : {"auto", "float32", "float64"}
        Dtype of the matrix products (sums are always float64); ``"auto"`` uses
        float64 for small problems and float32 for large ones.
    memory : int
        Bytes of stimuli held at once (Gram form): one panel and one streamed
        block (see the module docstring).

    Returns
    -------
    float
        Between 1 and the rank of the centred responses.

    Notes
    -----
    The Gram form checks the input during its first read, before the constant
    units are known, so ``"auto"`` choices count every unit there: the form
    is ``"gram"`` when there are more units than stimuli, and the precision is
    chosen from all units. Exactly constant units still add exactly nothing;
    nearly constant ones (see ``CONSTANT_RTOL``), NaN or inf send the call to
    the separate check, which excludes them or raises.
    """
    layout = check_layout(responses, min_stimuli=3)
    check_option("form", form, FORMS)
    n_stimuli, n_units = int(layout.sizes["stimulus"]), int(layout.sizes["unit"])
    if form == "gram" or (form == "auto" and n_units > n_stimuli):
        fused = _fused_gram(layout, _dtype(precision, n_stimuli, n_units), memory)
        if fused is not None:
            trace, frobenius = fused
            if frobenius <= 0:
                raise ToposcopeError("responses have no variance; effective dimensionality is undefined")
            return trace * trace / frobenius
    checked = _checked(responses)
    chosen = _form(form, checked)
    reader = _Centred(checked, _precision(precision, checked, chosen), memory)
    if chosen == "covariance":
        cov = _covariance(reader)
        trace, frobenius = float(np.trace(cov)), float(np.sum(cov * cov))
    else:
        trace = frobenius = 0.0
        for a, b, block in _gram_blocks(reader):
            block = block.astype(np.float64, copy=False)
            squares = float(np.einsum("ij,ij->", block, block))
            if a == b:
                trace += float(np.trace(block))
                frobenius += squares
            else:
                frobenius += 2.0 * squares
    if frobenius <= 0:
        raise ToposcopeError("responses have no variance; effective dimensionality is undefined")
    return trace * trace / frobenius


def eigenspectrum(
    responses: xr.DataArray,
    *,
    form: str = "auto",
    precision: str = "auto",
    memory: int = 512 << 20,
) -> xr.DataArray:
    """Eigenvalues of the response covariance, largest first.

    Equal to scikit-learn's ``PCA().fit(X).explained_variance_`` (``ddof=1``).
    The Gram form holds the ``n_stimuli x n_stimuli`` matrix (float64), the
    covariance form the ``n_units x n_units`` one; the smaller is chosen.

    Parameters
    ----------
    responses, form, precision, memory
        As in :func:`effective_dimensionality`.

    Returns
    -------
    xr.DataArray, dims (component,), length min(n_stimuli, n_varying_units)
        Coordinate ``component`` counts from 1. Attrs: ``effective_dimensionality``,
        ``decay_exponent`` (see :func:`decay_exponent`; NaN when fewer than 2
        positive eigenvalues), ``form`` and the unit counts.
    """
    checked = _checked(responses)
    chosen = _form(form, checked)
    reader = _Centred(checked, _precision(precision, checked, chosen), memory)
    from scipy.linalg import eigvalsh

    if chosen == "covariance":
        matrix = _covariance(reader)
    else:
        matrix = np.zeros((checked.n_stimuli, checked.n_stimuli))
        for a, b, block in _gram_blocks(reader):
            matrix[a, b] = block
            if a != b:
                matrix[b, a] = block.T
    values = eigvalsh(matrix, overwrite_a=True, check_finite=False)[::-1] / (checked.n_stimuli - 1)
    values = np.maximum(values[: min(checked.n_stimuli, reader.n_units)], 0.0)
    total = values.sum()
    attrs: dict[str, Any] = {"form": chosen, **checked.attrs()}
    attrs["effective_dimensionality"] = float(total**2 / np.sum(values**2)) if total > 0 else float("nan")
    try:
        attrs["decay_exponent"] = decay_exponent(values)
    except ToposcopeError:
        attrs["decay_exponent"] = float("nan")
    return xr.DataArray(values, dims="component", coords={"component": np.arange(1, len(values) + 1)},
                        name="eigenvalue", attrs=attrs)


def decay_exponent(spectrum: Any, fit_range: tuple[int, int] | None = None) -> float:
    """Power-law decay exponent ``alpha`` of an eigenspectrum, ``lambda_n ~ n**-alpha``.

    ``alpha`` is minus the least-squares slope of ``log(lambda_n)`` against
    ``log(n)`` over the ranks ``fit_range`` (1-based, inclusive). The default,
    ranks 11 to 500, is the range Stringer et al. (2019, Nature 571:361) fitted
    for visual cortex; it is clipped to the positive eigenvalues, and if fewer
    than 3 ranks remain, all positive eigenvalues are used.

    Parameters
    ----------
    spectrum : xr.DataArray or array-like, shape (n_components,)
        Eigenvalues, largest first (e.g. from :func:`eigenspectrum`).
    fit_range : (int, int), optional
        First and last rank of the fit.

    Returns
    -------
    float
    """
    values = np.asarray(spectrum.values if isinstance(spectrum, xr.DataArray) else spectrum, dtype=np.float64)
    if values.ndim != 1:
        raise ToposcopeError(f"an eigenspectrum must be 1-D, got shape {values.shape}")
    positive = int(np.sum(values > values.max(initial=0.0) * 1e-12)) if len(values) else 0
    if positive < 2:
        raise ToposcopeError("the eigenspectrum has fewer than 2 positive eigenvalues; no decay to fit")
    if fit_range is None:
        first, last = 11, min(500, positive)
        if last - first + 1 < 3:
            first, last = 1, positive
    else:
        first, last = (int(r) for r in fit_range)
        if first < 1 or last <= first:
            raise ToposcopeError(f"fit_range must be two increasing ranks from 1, got {fit_range!r}")
        last = min(last, positive)
        if last - first + 1 < 2:
            raise ToposcopeError(
                f"fit_range {fit_range!r} holds fewer than 2 of the {positive} positive eigenvalues"
            )
    ranks = np.arange(first, last + 1)
    slope = np.polyfit(np.log(ranks), np.log(values[first - 1:last]), 1)[0]
    return float(-slope)
