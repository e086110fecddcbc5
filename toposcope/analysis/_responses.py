"""Responses checked and streamed for the analyses: one pass, block by block.

Every analysis starts with :func:`check_responses` (or :func:`check_map` for a
per-unit map). It makes one streaming pass over the stimuli, so it costs one
read of the data whether the responses are numpy-, dask- or file-backed, and
returns what the analyses need next: per-unit means and standard deviations,
and which units vary at all.

Errors are :class:`~toposcope._validation.ToposcopeError` with one line that
names the problem and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError

__all__ = [
    "CONSTANT_RTOL",
    "CheckedResponses",
    "block_rows",
    "check_layout",
    "check_map",
    "check_responses",
    "stimulus_blocks",
]

#: A unit whose standard deviation over stimuli is at most this fraction of its
#: mean's magnitude is constant: float32 responses cannot resolve finer changes,
#: and its correlations would be rounding noise. Exactly-constant units (std 0)
#: are caught whatever their mean.
CONSTANT_RTOL = 1e-6

#: Bytes of one float64 block read during a streaming pass.
BLOCK_BYTES = 64 << 20


@dataclass(frozen=True)
class CheckedResponses:
    """A validated responses array and its per-unit statistics.

    Attributes
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        The input, untouched (still lazy if it was).
    mean, std : ndarray, shape (n_units,)
        Per-unit mean and population standard deviation over stimuli, float64.
    varying : ndarray of bool, shape (n_units,)
        False for constant units, which the analyses exclude and count.
    """

    responses: xr.DataArray
    mean: np.ndarray
    std: np.ndarray
    varying: np.ndarray

    @property
    def n_stimuli(self) -> int:
        """Number of stimuli."""
        return int(self.responses.sizes["stimulus"])

    @property
    def n_units(self) -> int:
        """Number of units, constant ones included."""
        return int(self.responses.sizes["unit"])

    @property
    def n_constant(self) -> int:
        """Number of constant units (excluded from analyses)."""
        return int(self.n_units - self.varying.sum())

    def positions(self) -> np.ndarray:
        """Sheet positions ``(x, y)`` of the varying units, shape (n_varying, 2), float64."""
        x = np.asarray(self.responses["x"].values, dtype=np.float64)
        y = np.asarray(self.responses["y"].values, dtype=np.float64)
        return np.stack([x, y], axis=1)[self.varying]

    def attrs(self) -> dict[str, Any]:
        """Attributes every result carries: counts and, when unique, the layer."""
        out: dict[str, Any] = {
            "n_stimuli": self.n_stimuli,
            "n_units": int(self.varying.sum()),
            "n_constant_units": self.n_constant,
        }
        if "layer" in self.responses.coords:
            layers = np.unique(np.asarray(self.responses["layer"].values).astype(str))
            if len(layers) == 1:
                out["layer"] = str(layers[0])
        return out


def block_rows(n_units: int, budget: int = BLOCK_BYTES, itemsize: int = 8) -> int:
    """Stimuli per block so that one block of ``n_units`` columns fits ``budget`` bytes."""
    return max(1, budget // max(1, n_units * itemsize))


def stimulus_blocks(responses: xr.DataArray, rows: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(stimuli, block)`` with ``block`` a numpy array of shape (rows, n_units).

    Works the same on numpy-, dask- and file-backed DataArrays; for dask arrays
    only the chunks under each block are computed, so memory stays one block.
    """
    n = int(responses.sizes["stimulus"])
    for start in range(0, n, rows):
        stimuli = slice(start, min(start + rows, n))
        yield stimuli, np.asarray(responses.isel(stimulus=stimuli).values)


def _check_array(responses: Any, what: str) -> xr.DataArray:
    if not isinstance(responses, xr.DataArray):
        raise ToposcopeError(
            f"{what} must be an xr.DataArray with dims ('stimulus', 'unit'), got {type(responses).__name__}; "
            "use toposcope.extract(...) or wrap your array with xr.DataArray(..., dims=('stimulus', 'unit'))"
        )
    if set(responses.dims) != {"stimulus", "unit"} or responses.ndim != 2:
        raise ToposcopeError(f"{what} must have dims ('stimulus', 'unit'), got {responses.dims}")
    if responses.dims != ("stimulus", "unit"):
        responses = responses.transpose("stimulus", "unit")
    if responses.dtype.kind not in "fiu":
        raise ToposcopeError(f"{what} must hold numbers, got dtype {responses.dtype}")
    return responses


def _check_positions(responses: xr.DataArray, what: str) -> None:
    missing = [c for c in ("x", "y") if c not in responses.coords or responses[c].dims != ("unit",)]
    if missing:
        raise ToposcopeError(
            f"{what} need unit coords 'x' and 'y' (sheet positions; missing {', '.join(missing)}); "
            "keep the unit coords that toposcope.extract attaches"
        )
    for c in ("x", "y"):
        if not np.isfinite(np.asarray(responses[c].values, dtype=np.float64)).all():
            raise ToposcopeError(f"unit coord {c!r} of {what} holds NaN or inf; check the sheet positions")


def _check_one_layer(responses: xr.DataArray, what: str) -> None:
    if "layer" not in responses.coords:
        return
    layers = np.unique(np.asarray(responses["layer"].values).astype(str))
    if len(layers) > 1:
        shown = ", ".join(map(repr, layers[:3])) + (", ..." if len(layers) > 3 else "")
        raise ToposcopeError(
            f"{what} hold units of {len(layers)} layers ({shown}) whose sheets do not share distances; "
            f"analyse one layer at a time, e.g. responses.where(responses.layer == {layers[0]!r}, drop=True)"
        )


def check_layout(
    responses: Any,
    *,
    min_stimuli: int = 3,
    positions: bool = False,
    one_layer: bool = False,
    what: str = "responses",
) -> xr.DataArray:
    """The checks of :func:`check_responses` that need no pass over the values.

    For analyses that fuse the value checks into their own first read (see
    :func:`toposcope.analysis.dimensionality.effective_dimensionality`).

    Returns
    -------
    xr.DataArray, dims (stimulus, unit)
        The input, transposed if it came as ``(unit, stimulus)``.
    """
    responses = _check_array(responses, what)
    n_stimuli, n_units = int(responses.sizes["stimulus"]), int(responses.sizes["unit"])
    if n_stimuli < min_stimuli:
        raise ToposcopeError(
            f"{what} have {n_stimuli} stimuli but at least {min_stimuli} are needed; use more stimuli"
        )
    if n_units < 1:
        raise ToposcopeError(f"{what} have no units")
    if positions:
        _check_positions(responses, what)
    if one_layer:
        _check_one_layer(responses, what)
    return responses


def check_responses(
    responses: Any,
    *,
    min_stimuli: int = 3,
    positions: bool = False,
    one_layer: bool = False,
    min_units: int = 1,
    what: str = "responses",
) -> CheckedResponses:
    """Validate responses and compute per-unit statistics in one streaming pass.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        numpy- or dask-backed; ``(unit, stimulus)`` order is accepted and transposed.
    min_stimuli : int
        Fewest stimuli allowed (3: fewer give no usable correlation or covariance).
    positions : bool
        Require finite unit coords ``x`` and ``y``.
    one_layer : bool
        Require a single ``layer`` (distances across layers are meaningless).
    min_units : int
        Fewest varying (non-constant) units allowed.
    what : str
        How the input is named in error messages.

    Returns
    -------
    CheckedResponses

    Raises
    ------
    ToposcopeError
        Wrong type or dims, too few stimuli, NaN or inf values, missing
        positions, several layers, or too few varying units.
    """
    responses = check_layout(responses, min_stimuli=min_stimuli, positions=positions, one_layer=one_layer,
                             what=what)
    n_stimuli, n_units = int(responses.sizes["stimulus"]), int(responses.sizes["unit"])

    # Sums are taken around the first stimulus's responses so that large means
    # do not swamp the variance (and exactly constant units give exactly 0).
    shift = None
    total = np.zeros(n_units)
    squares = np.zeros(n_units)
    bad = np.zeros(n_units, dtype=np.int64)
    for _, block in stimulus_blocks(responses, block_rows(n_units)):
        block = block.astype(np.float64, copy=False)
        finite = np.isfinite(block)
        if not finite.all():
            bad += (~finite).sum(axis=0)
            block = np.where(finite, block, 0.0)
        if shift is None:
            shift = block[0].copy()
        block = block - shift
        total += block.sum(axis=0)
        squares += np.einsum("ij,ij->j", block, block)
    if bad.any():
        raise ToposcopeError(
            f"{what} contain {int(bad.sum())} NaN or inf values in {int((bad > 0).sum())} of {n_units} units; "
            "drop those units or stimuli (or impute them) before the analysis"
        )
    offset = total / n_stimuli
    variance = np.maximum(squares / n_stimuli - offset**2, 0.0)
    mean = shift + offset
    std = np.sqrt(variance)
    varying = std > CONSTANT_RTOL * np.abs(mean)
    if varying.sum() < min_units:
        raise ToposcopeError(
            f"{what} have {int(varying.sum())} varying units ({n_units - int(varying.sum())} of {n_units} "
            f"are constant over the stimuli) but at least {min_units} are needed; check the layer and stimuli"
        )
    return CheckedResponses(responses=responses, mean=mean, std=std, varying=varying)


def check_map(values: Any, *, what: str = "map", positions: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate a per-unit map and return its values and positions.

    Parameters
    ----------
    values : xr.DataArray, dims (unit,)
        With unit coords ``x`` and ``y`` (e.g. a selectivity t-map).
    what : str
        How the map is named in error messages.
    positions : bool
        Require and return the ``x``, ``y`` coords.

    Returns
    -------
    values : ndarray, shape (n_units,), float64
    positions : ndarray, shape (n_units, 2), float64 (empty if not requested)
    """
    if not isinstance(values, xr.DataArray):
        raise ToposcopeError(f"{what} must be an xr.DataArray with dim 'unit', got {type(values).__name__}")
    if values.dims != ("unit",):
        raise ToposcopeError(
            f"{what} must have the single dim 'unit', got {values.dims}; select or reduce the other dims first"
        )
    if positions:
        _check_positions(values, what)
    data = np.asarray(values.values, dtype=np.float64)
    if len(data) < 2:
        raise ToposcopeError(f"{what} has {len(data)} units but at least 2 are needed")
    bad = ~np.isfinite(data)
    if bad.any():
        raise ToposcopeError(
            f"{what} holds {int(bad.sum())} NaN or inf values of {len(data)}; drop those units first, "
            f"e.g. {what}.dropna('unit')"
        )
    if not positions:
        return data, np.empty((0, 2))
    xy = np.stack([np.asarray(values[c].values, dtype=np.float64) for c in ("x", "y")], axis=1)
    return data, xy
