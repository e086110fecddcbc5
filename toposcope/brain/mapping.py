"""Mapping model units to voxels, cross-validated on held-out images.

Three methods, picked by name from :data:`METHODS`:

``"one_to_one"``
    Each voxel gets its own unit: the assignment maximising the summed training
    correlation (minimising the sum of ``1 - r``), the same as
    :func:`scipy.optimize.linear_sum_assignment` on the rectangular voxel x unit
    cost matrix, without holding that matrix: each voxel's best-correlated
    units are kept from a streamed pass, the sparse problem is solved exactly
    and proved optimal for the dense one by LP duality
    (:mod:`toposcope.brain._assignment`); when that proof needs more candidates
    than :data:`CANDIDATE_BUDGET`, the dense matrix is solved instead. With more
    voxels than units, only as many voxels as there are units are assigned; the
    rest get ``unit = -1`` and ``r = NaN``.
``"best_unit"``
    Each voxel gets its best-correlated unit on the training images (many
    voxels may share one unit).
``"ridge"``
    The standard encoding model: a ridge regression from all units to each
    voxel (:class:`sklearn.linear_model.RidgeCV`, leave-one-out choice of the
    penalty per voxel); ``unit = -1``.

Every method is scored by the Pearson correlation ``r`` between the voxel and
its unit (or its prediction) over held-out images. Correlations are products of
z-scored float32 matrices computed a block of units at a time against a block of
voxels at a time, so memory beyond the inputs stays at one voxel x block slab and
two stimulus x block blocks (plus, for ``one_to_one``, a few dozen candidates per
voxel); neither input is copied whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int, check_type
from toposcope.brain._assignment import Candidates, certified_assignment

__all__ = ["METHODS", "correlations", "map_units_to_voxels", "noise_ceiling", "summarise"]

METHODS = ("one_to_one", "best_unit", "ridge")
#: Ridge penalties tried (features are z-scored, so these are comparable across models).
DEFAULT_ALPHAS = np.logspace(-2, 6, 9)
#: Correlations first kept per voxel (or unit) for the streamed one-to-one assignment.
FIRST_KEEP = 64
#: Most (row, candidate) pairs kept before the one-to-one assignment is solved densely
#: (12 bytes each: 10,000 voxels x 4,096 candidates is ~0.5 GB).
CANDIDATE_BUDGET = 40_000_000
#: Rows merged into the candidates at a time (bounds the merge's temporaries).
MERGE_ROWS = 512
#: Columns squared at a time when scaling a block to unit length (bounds that temporary).
NORM_COLUMNS = 256
#: Stimuli copied into the voxel block buffer at a time (a part that stays in cache).
GATHER_ROWS = 128
#: Stimuli checked for NaN and inf at a time (bounds the check's boolean temporary).
FINITE_ROWS = 256


def noise_ceiling(ncsnr: Any, n_trials: Any) -> np.ndarray:
    """Noise ceiling (% of variance explainable) from the noise-ceiling SNR, as NSD defines it.

    ``NC = 100 * ncsnr**2 / (ncsnr**2 + 1 / n)`` for responses averaged over
    ``n`` trials. When the images scored were averaged over different numbers of
    trials, ``1 / n`` is replaced by its mean over those images (the NSD Data
    Manual's rule for mixed repetition counts).

    Parameters
    ----------
    ncsnr : array_like, shape (n_voxels,) or scalar
        Non-negative noise-ceiling signal-to-noise ratio per voxel.
    n_trials : int or array_like of int, shape (n_images,)
        Trials averaged: one number, or one per image the correlation runs over.

    Returns
    -------
    ndarray, float64, shape of ``ncsnr``
        In percent (0-100). The matching ceiling on a correlation is ``sqrt(NC / 100)``.

    Examples
    --------
    >>> float(noise_ceiling(1.0, 3))
    75.0
    """
    snr = np.asarray(ncsnr, dtype=np.float64)
    if np.any(snr < 0):
        raise ToposcopeError(f"ncsnr must be >= 0, got a minimum of {float(np.nanmin(snr)):g}")
    n = np.asarray(n_trials, dtype=np.float64)
    if n.ndim > 1 or n.size == 0 or not np.all(np.isfinite(n)) or np.any(n < 1):
        raise ToposcopeError(
            f"n_trials must be a number >= 1 or a 1-D array of them (one per image), got {n_trials!r}"
        )
    inverse = float(np.mean(1.0 / n))
    return 100.0 * snr**2 / (snr**2 + inverse)


# --------------------------------------------------------------------------- kernels
def _unit_columns(x: np.ndarray, copy: bool = True) -> np.ndarray:
    """Columns centred and scaled to unit length, so ``a.T @ b`` is Pearson's r.

    Constant columns become zeros (correlation 0 with everything). With
    ``copy=False`` a float32 ``x`` that is already a private copy (a fancy-indexed
    slice) is scaled in place, saving one copy of it at the peak.
    """
    out = np.array(x, dtype=np.float32, copy=copy or None)
    _, scale = _centre_and_scale(out)
    out /= scale
    return out


def _centre_and_scale(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre the float32 columns of ``block`` in place; return their means and lengths.

    Returns
    -------
    mean, scale : ndarray, float32, shape (n_columns,)
        Column means (summed in float64) and the centred columns' lengths
        (1 for constant columns, so dividing by ``scale`` leaves them zero).
    """
    mean = block.mean(axis=0, dtype=np.float64).astype(np.float32)
    block -= mean
    # The squares are formed a few columns at a time: a temporary the size of the
    # block would add to the peak. Each column's sum runs over the rows in the same
    # order either way, so the lengths are the same as over the whole block.
    norm = np.empty(block.shape[1], dtype=np.float32)
    for start in range(0, block.shape[1], NORM_COLUMNS):
        columns = slice(start, start + NORM_COLUMNS)
        norm[columns] = np.linalg.norm(block[:, columns], axis=0)
    return mean, np.where(norm > 0, norm, 1).astype(np.float32)


def correlations(x: np.ndarray, y: np.ndarray, block_size: int = 2048,
                 rows: np.ndarray | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """Pearson correlations of every column of ``y`` with blocks of columns of ``x``.

    Parameters
    ----------
    x : ndarray, shape (n_stimuli, n_units)
    y : ndarray, shape (n_stimuli, n_voxels)
    block_size : int
        Units per block, and voxels standardised at a time.
    rows : ndarray of int, optional
        Stimuli to correlate over (all by default). Neither input is copied
        whole: memory beyond them is one block of ``x``, one block of ``y`` and
        the yielded slab.

    Yields
    ------
    units : slice
        The units of this block.
    r : ndarray, float32, shape (n_voxels, units.stop - units.start)
    """
    rows = np.arange(x.shape[0]) if rows is None else np.asarray(rows)
    n_voxels = y.shape[1]
    voxel_blocks = [slice(start, min(n_voxels, start + block_size)) for start in range(0, n_voxels, block_size)]
    # The voxels' means and lengths are found once; each unit block then re-standardises
    # the voxels a block at a time from them (the same arithmetic, so the same values),
    # which keeps a standardised copy of every voxel (n_stimuli x n_voxels) off the peak.
    y_mean = np.empty(n_voxels, dtype=np.float32)
    y_scale = np.empty(n_voxels, dtype=np.float32)
    for voxels in voxel_blocks:
        y_mean[voxels], y_scale[voxels] = _centre_and_scale(_rows_as_float32(y, rows, voxels))
    # One buffer holds each voxel block in turn, sparing a fresh block-sized allocation
    # per voxel block and unit block. It is filled a few stimuli at a time, each part
    # standardised while it is still in cache: the voxels are re-read once per unit
    # block, so this pass must cost little beside the product.
    zy_buffer = np.empty((len(rows), min(block_size, n_voxels)), dtype=np.float32)
    for start in range(0, x.shape[1], block_size):
        units = slice(start, min(x.shape[1], start + block_size))
        zx = _unit_columns(_rows_as_float32(x, rows, units), copy=False)
        r = np.empty((n_voxels, units.stop - units.start), dtype=np.float32)
        for voxels in voxel_blocks:
            zy = zy_buffer[:, :voxels.stop - voxels.start]
            for first in range(0, len(rows), GATHER_ROWS):
                part = np.asarray(y[rows[first:first + GATHER_ROWS], voxels], dtype=np.float32)
                part -= y_mean[voxels]
                np.divide(part, y_scale[voxels], out=zy[first:first + GATHER_ROWS])
            np.matmul(zy.T, zx, out=r[voxels])
        del zx
        yield units, r
        del r


def _rows_as_float32(a: np.ndarray, rows: np.ndarray, columns: slice) -> np.ndarray:
    """A private float32 copy of ``a[rows, columns]`` (fancy indexing copies already)."""
    return np.array(a[rows, columns], dtype=np.float32, copy=None)


def _paired_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Correlation of column i of ``a`` with column i of ``b``; shape (n_columns,)."""
    return np.einsum("ij,ij->j", _unit_columns(a), _unit_columns(b))


def _one_to_one(x: np.ndarray, y: np.ndarray, rows: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact assignment: streamed and certified (bounded memory), else dense."""
    solved = _one_to_one_streamed(x, y, rows, block_size)
    return solved if solved is not None else _one_to_one_dense(x, y, rows, block_size)


def _one_to_one_streamed(x: np.ndarray, y: np.ndarray, rows: np.ndarray,
                         block_size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Assignment from each voxel's (or unit's) best candidates, proved optimal for the dense matrix.

    The correlations are streamed once per try, keeping only the best
    :data:`FIRST_KEEP` (then 8 times more) per row of the smaller side; see
    :mod:`toposcope.brain._assignment`. None when it cannot be proved within
    :data:`CANDIDATE_BUDGET` kept pairs: the caller then solves densely.
    """
    n_voxels, n_units = y.shape[1], x.shape[1]
    if min(n_voxels, n_units) == 0:
        return None
    by_voxel = n_voxels <= n_units  # rows of the assignment: the smaller side
    n_rows, n_columns = (n_voxels, n_units) if by_voxel else (n_units, n_voxels)
    keep = FIRST_KEEP
    while True:
        keep = min(keep, n_columns)
        if n_rows * keep > CANDIDATE_BUDGET and keep < n_columns:
            return None
        candidates = Candidates(n_rows, n_columns, keep)
        for units, r in correlations(x, y, block_size, rows):
            if by_voxel:
                for start in range(0, n_voxels, MERGE_ROWS):
                    chunk = slice(start, min(n_voxels, start + MERGE_ROWS))
                    candidates.add(chunk, units.start, r[chunk])
            else:
                for start in range(units.start, units.stop, MERGE_ROWS):
                    chunk = slice(start, min(units.stop, start + MERGE_ROWS))
                    candidates.add(chunk, 0, r[:, chunk.start - units.start:chunk.stop - units.start].T)
            del r
        candidates.finish()
        outcome = certified_assignment(candidates)
        if outcome.column is not None:
            break
        if outcome.reason != "more candidates" or keep == n_columns:
            return None
        keep *= 8
    matched_r = candidates.r[np.arange(n_rows), np.argmax(candidates.column == outcome.column[:, None], axis=1)]
    # As the dense solve reports it: 1 - cost, the cost being 1 - r in float32.
    r_matched = (1.0 - np.subtract(1.0, matched_r, dtype=np.float32).astype(np.float64)).astype(np.float32)
    unit = np.full(n_voxels, -1, dtype=np.int64)
    r_train = np.full(n_voxels, np.nan, dtype=np.float32)
    if by_voxel:
        unit[:] = outcome.column
        r_train[:] = r_matched
    else:
        unit[outcome.column] = np.arange(n_units)
        r_train[outcome.column] = r_matched
    return unit, r_train


def _one_to_one_dense(x: np.ndarray, y: np.ndarray, rows: np.ndarray,
                      block_size: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import linear_sum_assignment

    n_voxels, n_units = y.shape[1], x.shape[1]
    # Built in float64 block by block: the solver works in float64, so this is
    # the only full-size copy.
    cost = np.empty((n_voxels, n_units), dtype=np.float64)
    for units, r in correlations(x, y, block_size, rows):
        np.subtract(1.0, r, out=cost[:, units])
    rows, cols = linear_sum_assignment(cost)
    unit = np.full(n_voxels, -1, dtype=np.int64)
    unit[rows] = cols
    r_train = np.full(n_voxels, np.nan, dtype=np.float32)
    r_train[rows] = 1.0 - cost[rows, cols]
    return unit, r_train


def _best_unit(x: np.ndarray, y: np.ndarray, rows: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    n_voxels = y.shape[1]
    best = np.full(n_voxels, -np.inf, dtype=np.float32)
    unit = np.zeros(n_voxels, dtype=np.int64)
    every = np.arange(n_voxels)
    for units, r in correlations(x, y, block_size, rows):
        column = r.argmax(axis=1)
        value = r[every, column]
        better = value > best  # strict: ties keep the lowest unit index
        best[better] = value[better]
        unit[better] = units.start + column[better]
    return unit, best


def _ridge(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
           alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.linear_model import RidgeCV

    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    model = RidgeCV(alphas=alphas, alpha_per_target=True)
    model.fit((x_train - mean) / std, y_train)
    return model.predict((x_test - mean) / std), model.predict((x_train - mean) / std), \
        np.broadcast_to(np.asarray(model.alpha_, dtype=np.float64), (y_train.shape[1],))


# --------------------------------------------------------------------------- inputs
def _aligned(responses: xr.DataArray, betas: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Responses rows matched to the betas' stimuli, both as float32 arrays."""
    check_type("responses", responses, xr.DataArray)
    check_type("betas", betas, xr.DataArray)
    if set(responses.dims) != {"stimulus", "unit"}:
        raise ToposcopeError(f"responses must have dims ('stimulus', 'unit'), got {responses.dims}")
    if set(betas.dims) != {"stimulus", "voxel"}:
        raise ToposcopeError(f"betas must have dims ('stimulus', 'voxel'), got {betas.dims}")
    if "stimulus_id" in responses.coords and "stimulus_id" in betas.coords:
        have = np.asarray(responses["stimulus_id"].values).astype(str)
        want = np.asarray(betas["stimulus_id"].values).astype(str)
        unique, counts = np.unique(have, return_counts=True)
        if (counts > 1).any():
            repeated = str(unique[counts > 1][0])
            raise ToposcopeError(f"responses repeat stimulus_id {repeated!r}; give each stimulus once")
        order = np.argsort(have)
        spot = np.minimum(np.searchsorted(have[order], want), len(have) - 1)
        found = have[order][spot] == want
        if not found.all():
            missing = want[~found]
            raise ToposcopeError(
                f"{len(missing)} of {len(want)} betas stimuli have no responses (e.g. "
                f"{', '.join(repr(str(m)) for m in missing[:3])}); extract responses to the same images"
            )
        take = order[spot]
    elif responses.sizes["stimulus"] == betas.sizes["stimulus"]:
        take = np.arange(responses.sizes["stimulus"])
    else:
        raise ToposcopeError(
            f"responses have {responses.sizes['stimulus']} stimuli and betas {betas.sizes['stimulus']}, and "
            "without 'stimulus_id' coords on both they cannot be matched; give both the same stimuli"
        )
    ordered = responses.transpose("stimulus", "unit")
    if not np.array_equal(take, np.arange(ordered.sizes["stimulus"])):
        ordered = ordered.isel(stimulus=take)  # copies: skipped when already in order
    x = np.asarray(ordered.values, dtype=np.float32)
    y = np.asarray(betas.transpose("stimulus", "voxel").values, dtype=np.float32)
    for name, values in (("responses", x), ("betas", y)):
        # Checked a few stimuli at a time: a boolean copy of the responses would add a
        # quarter of their size to the peak.
        if not all(np.isfinite(values[start:start + FINITE_ROWS]).all()
                   for start in range(0, len(values), FINITE_ROWS)):
            raise ToposcopeError(f"{name} hold NaN or inf; drop those stimuli, units or voxels first")
    return x, y


def _mask(betas: xr.DataArray, chosen: Any, name: str) -> np.ndarray:
    """A boolean mask over betas' stimuli from a mask or a list of stimulus ids."""
    n = betas.sizes["stimulus"]
    values = np.asarray(chosen)
    if values.dtype == bool:
        if values.shape != (n,):
            raise ToposcopeError(f"{name} mask has shape {values.shape}, betas have {n} stimuli")
        return values
    if "stimulus_id" not in betas.coords:
        raise ToposcopeError(f"{name} given as ids but betas have no 'stimulus_id' coord; pass a boolean mask")
    ids = np.asarray(betas["stimulus_id"].values).astype(str)
    values = values.astype(str).ravel()
    unknown = np.setdiff1d(values, ids)
    if len(unknown):
        raise ToposcopeError(f"{name} names {len(unknown)} stimuli not in betas (e.g. {str(unknown[0])!r})")
    return np.isin(ids, values)


def _split(betas: xr.DataArray, train: Any, test: Any) -> tuple[np.ndarray, np.ndarray]:
    if test is None:
        if "shared" not in betas.coords:
            raise ToposcopeError("betas have no 'shared' coord to hold out; pass test= (stimulus ids or a mask)")
        test_mask = np.asarray(betas["shared"].values, dtype=bool)
    else:
        test_mask = _mask(betas, test, "test")
    train_mask = ~test_mask if train is None else _mask(betas, train, "train")
    overlap = int((train_mask & test_mask).sum())
    if overlap:
        raise ToposcopeError(f"train and test share {overlap} stimuli; hold out images the mapping never saw")
    for name, mask in (("train", train_mask), ("test", test_mask)):
        if mask.sum() < 3:
            raise ToposcopeError(f"{name} has {int(mask.sum())} stimuli; correlations need at least 3")
    return train_mask, test_mask


# --------------------------------------------------------------------------- public
def map_units_to_voxels(
    responses: xr.DataArray,
    betas: xr.DataArray,
    method: str = "one_to_one",
    *,
    train: Sequence[str] | np.ndarray | None = None,
    test: Sequence[str] | np.ndarray | None = None,
    noise_ceiling: Any = None,
    block_size: int = 2048,
    alphas: Sequence[float] | None = None,
) -> xr.Dataset:
    """Map model units to voxels on training images; score each voxel on held-out images.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        Model responses; matched to ``betas`` by the ``stimulus_id`` coord when
        both have it, else by position.
    betas : xr.DataArray, dims (stimulus, voxel)
        Brain responses (e.g. :func:`toposcope.brain.nsd.load_betas`).
    method : {"one_to_one", "best_unit", "ridge"}
        See the module docstring.
    train, test : list of stimulus ids or boolean mask over betas' stimuli, optional
        By default ``test`` is the betas' ``shared`` coord (NSD's 1,000 shared
        images) and ``train`` every other stimulus.
    noise_ceiling : array_like, shape (n_voxels,), optional
        Per-voxel noise ceiling in percent. By default computed from the voxel
        coord ``ncsnr`` and the test images' ``n_trials``, when present.
    block_size : int
        Units per correlation block (memory: n_voxels x block_size float32).
    alphas : sequence of float, optional
        Ridge penalties (``method="ridge"``); default ``logspace(-2, 6, 9)``.

    Returns
    -------
    xr.Dataset, dim voxel
        ``unit`` (int, index of the unit mapped to each voxel along ``responses``'
        unit dim; -1 for none), ``r`` (held-out correlation), ``r_train``; with a
        noise ceiling also ``noise_ceiling`` (%), ``r_ceiling`` (``sqrt(NC/100)``)
        and ``r_normalised`` (``r / r_ceiling``). Voxel coords of ``betas`` are
        kept; unit coords of the mapped unit are added as ``unit_<name>``
        (``unit_x``, ``unit_y``, ...). Attrs: method, sizes, ``median_r`` and
        ``median_r_normalised`` (median r over median ceiling), and both
        inputs' attrs.
    """
    check_option("method", method, METHODS)
    check_positive_int("block_size", block_size)
    x, y = _aligned(responses, betas)
    train_mask, test_mask = _split(betas, train, test)
    n_voxels = y.shape[1]
    ceiling = _ceiling(betas, test_mask, noise_ceiling, n_voxels)

    if method == "ridge":
        chosen = np.asarray(DEFAULT_ALPHAS if alphas is None else alphas, dtype=np.float64)
        predicted, fitted, alpha = _ridge(x[train_mask], y[train_mask], x[test_mask], chosen)
        unit = np.full(n_voxels, -1, dtype=np.int64)
        r = _paired_r(predicted, y[test_mask])
        r_train = _paired_r(fitted, y[train_mask])
    else:
        solve = _one_to_one if method == "one_to_one" else _best_unit
        unit, r_train = solve(x, y, np.flatnonzero(train_mask), block_size)
        assigned = unit >= 0
        r = np.full(n_voxels, np.nan, dtype=np.float32)
        test_rows = np.flatnonzero(test_mask)[:, None]
        r[assigned] = _paired_r(x[test_rows, unit[assigned]], y[test_rows, np.flatnonzero(assigned)])

    data = {"unit": ("voxel", unit), "r": ("voxel", r.astype(np.float32)),
            "r_train": ("voxel", np.asarray(r_train, dtype=np.float32))}
    if method == "ridge":
        data["alpha"] = ("voxel", alpha.astype(np.float32))
    attrs = {**responses.attrs, **betas.attrs, "method": method, "n_train": int(train_mask.sum()),
             "n_test": int(test_mask.sum()), "n_units": int(x.shape[1]), "n_voxels": int(n_voxels),
             "median_r": float(np.nanmedian(r)) if np.isfinite(r).any() else float("nan")}
    if ceiling is not None:
        r_ceiling = np.sqrt(ceiling / 100.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            normalised = np.where(r_ceiling > 0, r / r_ceiling, np.nan)
        data.update(noise_ceiling=("voxel", ceiling.astype(np.float32)),
                    r_ceiling=("voxel", r_ceiling.astype(np.float32)),
                    r_normalised=("voxel", normalised.astype(np.float32)))
        attrs["median_r_ceiling"] = float(np.nanmedian(r_ceiling))
        attrs["median_r_normalised"] = attrs["median_r"] / attrs["median_r_ceiling"]
    coords = {name: coord.variable for name, coord in betas.coords.items() if coord.dims == ("voxel",)}
    if method != "ridge":
        coords.update(_unit_coords(responses, unit))
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _ceiling(betas: xr.DataArray, test_mask: np.ndarray, given: Any, n_voxels: int) -> np.ndarray | None:
    if given is not None:
        values = np.asarray(given, dtype=np.float64)
        if values.shape != (n_voxels,):
            raise ToposcopeError(f"noise_ceiling has shape {values.shape}; give one value per voxel ({n_voxels})")
        return values
    if "ncsnr" not in betas.coords:
        return None
    n = betas["n_trials"].values[test_mask] if "n_trials" in betas.coords else 1
    return noise_ceiling(betas["ncsnr"].values, n)


def _unit_coords(responses: xr.DataArray, unit: np.ndarray) -> dict[str, tuple[str, np.ndarray]]:
    """Unit coords of each voxel's unit; NaN (numbers) or "" (labels) where none."""
    out = {}
    none = unit < 0
    for name, coord in responses.coords.items():
        if coord.dims != ("unit",):
            continue
        values = np.asarray(coord.values)[np.maximum(unit, 0)]
        if values.dtype.kind in "iufb":
            values = values.astype(np.float64)
            values[none] = np.nan
        else:
            values = values.astype(object)
            values[none] = ""
        out[f"unit_{name}"] = ("voxel", values)
    return out


def summarise(result: xr.Dataset, by: Sequence[str] = ("roi", "hemisphere")) -> xr.Dataset:
    """Median held-out r per group of voxels (ROI x hemisphere by default), and over all.

    Parameters
    ----------
    result : xr.Dataset, dim voxel
        From :func:`map_units_to_voxels`.
    by : sequence of str
        Voxel coords to group by (those present are used).

    Returns
    -------
    xr.Dataset, dim region
        Coords: the ``by`` labels (``"all"`` for the row over every voxel).
        ``n_voxels`` (voxels with a finite r), ``median_r`` and, with a noise
        ceiling, ``median_r_ceiling`` and ``normalised`` (their ratio).
    """
    keys = [k for k in by if k in result.coords]
    labels = [np.asarray(result[k].values).astype(str) for k in keys]
    combos = sorted(set(zip(*labels))) if keys else []
    groups = [(combo, np.logical_and.reduce([lab == c for lab, c in zip(labels, combo)]))
              for combo in combos]
    groups.append((tuple("all" for _ in keys), np.ones(result.sizes["voxel"], bool)))
    r = result["r"].values
    ceiling = result["r_ceiling"].values if "r_ceiling" in result else None
    rows = {"n_voxels": [], "median_r": [], "median_r_ceiling": [], "normalised": []}
    for _, mask in groups:
        finite = mask & np.isfinite(r)
        median = float(np.median(r[finite])) if finite.any() else np.nan
        rows["n_voxels"].append(int(finite.sum()))
        rows["median_r"].append(median)
        top = float(np.nanmedian(ceiling[finite])) if ceiling is not None and finite.any() else np.nan
        rows["median_r_ceiling"].append(top)
        rows["normalised"].append(median / top if top and np.isfinite(top) else np.nan)
    if ceiling is None:
        del rows["median_r_ceiling"], rows["normalised"]
    coords = {k: ("region", np.asarray([g[0][i] for g in groups], dtype=object)) for i, k in enumerate(keys)}
    return xr.Dataset({k: ("region", np.asarray(v)) for k, v in rows.items()}, coords=coords,
                      attrs={"method": result.attrs.get("method", "")})
