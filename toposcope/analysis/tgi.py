"""Topoformer's topographic index (TGI): do nearby units respond alike?

Topoformer (Binhuraib, Tuckute & Blauch 2024; ``cookbook/visualizations.py``,
``compute_generic_summary_stat`` and ``calculate_tgi``) summarises a layer's
topography with its "generic summary statistic":

1. the Pearson correlation over stimuli of every pair of units (a unit that
   does not vary correlates 0 with everyone: ``corrs[isnan(corrs)] = 0``);
2. the distance of every pair on the sheet, as a fraction of the map side,
   wrapping around on Topoformer's torus;
3. the pairs within ``max_dist`` (``distance <= max_dist``), same-position
   pairs (``distance == 0``) dropped; correlations standardised;
4. the statistic: minus the Spearman rank correlation of correlation with
   distance (``stat_type="rankcorr"``);

and the TGI is its mean over ``max_dist`` in ``0.1, 0.2, ..., 0.8``
(:data:`MAX_DISTS`). A sheet where neighbours correlate more than distant
units scores above 0; one with no spatial order scores about 0.

The reference draws ``n_samples = 100000`` random ordered pairs (without
replacement) at each ``max_dist`` before the rank correlation.
``method="exact"`` (the default) uses every pair instead: no sampling noise,
and the same value the reference approaches (each unordered pair appears twice
among the ordered pairs, which leaves a rank correlation unchanged).
``method="sampled"`` is the reference's draw, seeded, for parity.

Distances are computed with the reference's arithmetic (coordinates divided
by the side first, then differences, the wrap and ``sqrt``), so they are the
reference's floats bit for bit. On grids whose side is not a power of two that
arithmetic splits some geometrically equal distances by a rounding step (the
pairs at one grid step along x are not all exactly ``1 / side`` apart), which
breaks ties of the distance ranks and moves the statistic at small
``max_dist`` by a few hundredths. ``snap_distances=True`` rounds distances to
1e-9 of the side first, so that equal distances tie; it is recorded in the
result and is not the reference's number.

Standardising the correlations changes neither rank nor Pearson correlations;
it matters only to ``stat="standard"`` (the mean of ``z / distance``), kept
with ``stat="corr"`` (minus Pearson's r) for completeness.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import (
    ToposcopeError,
    check_bool,
    check_option,
    check_positive_int,
    check_seed,
)
from toposcope.analysis._responses import block_rows, check_responses, stimulus_blocks
from toposcope.sheet.geometry import MAX_DENSE_UNITS
from toposcope.sheet.torus import sheet_period, wrapped_distances

__all__ = ["MAX_DISTS", "METHODS", "N_SAMPLES", "STATS", "check_max_dist", "map_side", "pair_correlations", "tgi",
           "tgi_by_layer"]

#: Topoformer's ``max_dist`` values (fractions of the map side): ``np.linspace(0.1, 0.8, 8)``.
MAX_DISTS = tuple(np.linspace(0.1, 0.8, 8).tolist())
#: Pairs drawn per ``max_dist`` by the reference (``n_samples``).
N_SAMPLES = 100_000
METHODS = ("exact", "sampled")
STATS = ("rankcorr", "corr", "standard")


def pair_correlations(responses: Any) -> tuple[np.ndarray, Any]:
    """Pearson correlation over stimuli of every pair of units, streamed over stimuli.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)

    Returns
    -------
    corr : ndarray, shape (n_units, n_units), float64
        ``np.corrcoef(responses.T)``, with 0 wherever a unit is constant (as
        Topoformer sets ``corrs[isnan(corrs)] = 0``); 1 on the diagonal of varying units.
    checked : CheckedResponses
        The validated input with its per-unit statistics.
    """
    checked = check_responses(responses, positions=True, one_layer=True, min_units=2, what="responses")
    n_units = checked.n_units
    if n_units > MAX_DENSE_UNITS:
        raise ToposcopeError(
            f"TGI correlates every pair of units, but the layer has {n_units} (more than {MAX_DENSE_UNITS}); "
            "select a part of the sheet first"
        )
    cross = np.zeros((n_units, n_units))
    for _, block in stimulus_blocks(checked.responses, block_rows(n_units)):
        centred = block.astype(np.float64) - checked.mean
        cross += centred.T @ centred
    scale = np.where(checked.varying, checked.std, np.inf) * np.sqrt(checked.n_stimuli)
    corr = cross / scale[:, None] / scale[None, :]
    return corr, checked


def map_side(positions: np.ndarray, period: tuple[float, float] | None) -> float:
    """The side of the map, the unit of ``max_dist``.

    On a torus the period, which must be the same along both axes (Topoformer's
    square grids); on a flat sheet the larger extent of the units plus one
    spacing (``s`` for an ``s x s`` grid of unit steps, as Topoformer's
    coordinates ``np.indices((s, s)) / s``).
    """
    if period is not None:
        if not np.isclose(period[0], period[1], rtol=1e-9):
            raise ToposcopeError(
                f"TGI measures distance in fractions of the map side, but the torus is not square "
                f"({period[0]:g} x {period[1]:g}); use a square sheet or pass side=..."
            )
        return float(period[0])
    sides = []
    for axis in (0, 1):
        unique = np.unique(positions[:, axis])
        step = float(np.diff(unique).min()) if len(unique) > 1 else 0.0
        sides.append(float(unique[-1] - unique[0]) + step)
    side = max(sides)
    if not side > 0:
        raise ToposcopeError("all units sit at one sheet position, so the map has no side; check the positions")
    return side


def check_max_dist(max_dists: Any) -> np.ndarray:
    """``max_dist`` as an array of fractions of the map side, each in (0, 1]; anything else raises."""
    return _check_max_dists(max_dists)


def _check_max_dists(max_dists: Any) -> np.ndarray:
    values = np.atleast_1d(np.asarray(max_dists, dtype=np.float64)) if not isinstance(max_dists, str) else None
    if values is None or values.ndim != 1 or len(values) == 0:
        raise ToposcopeError(f"max_dist must be one or more fractions of the map side in (0, 1], got {max_dists!r}")
    bad = values[~((values > 0) & (values <= 1))]
    if len(bad):
        raise ToposcopeError(
            f"max_dist must be a fraction of the map side in (0, 1], got {float(bad[0])!r}; "
            "e.g. 0.3 for pairs within 30% of the side"
        )
    return values


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denominator) if denominator > 0 else np.nan


def _tie_ranks(sorted_values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of already sorted values: ``scipy.stats.rankdata(sorted_values)``."""
    n = len(sorted_values)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], n]
    return np.repeat((starts + ends + 1) / 2.0, ends - starts)


def _ranks(values: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """``scipy.stats.rankdata(values)`` (average ranks of ties), given the sorting order if known."""
    order = np.argsort(values, kind="stable") if order is None else order
    ranks = np.empty(len(values))
    ranks[order] = _tie_ranks(values[order])
    return ranks


def _statistic(corrs: np.ndarray, dists: np.ndarray, stat: str, dist_ranks: np.ndarray | None = None,
               corr_order: np.ndarray | None = None) -> float:
    """Minus the rank (or Pearson) correlation of correlation with distance, or the mean of z / d."""
    if len(corrs) < 2:
        return np.nan
    if stat == "standard":
        spread = corrs.std()
        return float(np.mean((corrs - corrs.mean()) / spread / dists)) if spread > 0 else np.nan
    if stat == "corr":
        return -_pearson(corrs, dists)
    ranks = _ranks(dists) if dist_ranks is None else dist_ranks
    return -_pearson(_ranks(corrs, corr_order), ranks)


def tgi(
    responses: Any,
    *,
    max_dist: Any = MAX_DISTS,
    method: str = "exact",
    n_samples: int = N_SAMPLES,
    stat: str = "rankcorr",
    side: float | None = None,
    snap_distances: bool = False,
    seed: int = 0,
) -> xr.Dataset:
    """Topoformer's topographic index of one layer's responses.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        One layer, with unit coords ``x``, ``y`` (and ``wrap_x``, ``wrap_y`` on a
        torus sheet, where distances wrap around).
    max_dist : float or sequence of float
        Fractions of the map side in (0, 1]; the statistic is computed over the
        pairs within each and averaged. Topoformer's ``0.1, ..., 0.8`` by default.
    method : {"exact", "sampled"}
        ``"exact"``: every pair of units. ``"sampled"``: the reference's
        ``n_samples`` random ordered pairs per ``max_dist``, drawn without
        replacement with ``seed``.
    n_samples : int
        Pairs per ``max_dist`` for ``method="sampled"`` (Topoformer: 100,000).
    stat : {"rankcorr", "corr", "standard"}
        Topoformer's ``stat_type``: minus Spearman's rho (the TGI), minus
        Pearson's r, or the mean of standardised correlation over distance.
    side : float, optional
        The map side in sheet units; see :func:`map_side` for the default.
    snap_distances : bool
        Round distances (fractions of the side) to 1e-9 so that geometrically
        equal distances tie; off by default, which keeps the reference's
        floating-point distances and so its numbers (see the module notes).
    seed : int
        Seeds ``method="sampled"``.

    Returns
    -------
    xr.Dataset
        ``tgi`` (scalar, the mean over ``max_dist`` of the defined values),
        ``stat`` (dim ``max_dist``) and ``n_pairs`` (dim ``max_dist``: pairs
        used, unordered for ``exact``, ordered draws for ``sampled``). Attrs:
        the options, ``side``, ``torus_period`` (or absent), counts, layer.
        A ``max_dist`` with fewer than two pairs (or one distance only, where
        a rank correlation is undefined) gives NaN and is left out of the mean.

    Raises
    ------
    ToposcopeError
        ``max_dist`` outside (0, 1], an unknown method or stat, a torus that is
        not square, units of several layers, or the usual response checks.
    """
    check_option("method", method, METHODS)
    check_option("stat", stat, STATS)
    check_seed(seed)
    check_positive_int("n_samples", n_samples)
    snap_distances = check_bool("snap_distances", snap_distances)
    thresholds = _check_max_dists(max_dist)
    corr, checked = pair_correlations(responses)
    positions = np.stack([np.asarray(checked.responses[c].values, dtype=np.float64) for c in ("x", "y")], axis=1)
    period = sheet_period(checked.responses, "responses")
    if side is None:
        side = map_side(positions, period)
    elif isinstance(side, bool) or not isinstance(side, (int, float, np.number)) or not np.isfinite(side) \
            or side <= 0:
        raise ToposcopeError(f"side must be a positive number of sheet units, got {side!r}")
    side = float(side)
    # As Topoformer: coordinates in fractions of the side first, then differences (and the wrap),
    # so that distances on the max_dist boundaries compare the same way.
    unit = positions / side
    if period is not None:
        distances = wrapped_distances(unit, unit, (period[0] / side, period[1] / side))
    else:
        from scipy.spatial.distance import cdist

        distances = cdist(unit, unit)
    if snap_distances:
        distances = np.round(distances, 9)

    if method == "exact":
        values, counts = _exact(corr, distances, thresholds, stat)
    else:
        values, counts = _sampled(corr, distances, thresholds, stat, n_samples, np.random.default_rng(seed))
    defined = np.isfinite(values)
    attrs: dict[str, Any] = {
        **checked.attrs(),
        "n_units": checked.n_units,
        "method": method,
        "stat": stat,
        "side": side,
        "snap_distances": int(snap_distances),
        "seed": seed,
        "max_dists_undefined": int((~defined).sum()),
        "reference": "Topoformer compute_generic_summary_stat / calculate_tgi (cookbook/visualizations.py)",
    }
    if method == "sampled":
        attrs["n_samples"] = int(n_samples)
    if period is not None:
        attrs["torus_period"] = list(period)
    total = float(values[defined].mean()) if defined.any() else np.nan
    return xr.Dataset(
        {"tgi": total, "stat": ("max_dist", values), "n_pairs": ("max_dist", counts)},
        coords={"max_dist": thresholds},
        attrs=attrs,
    )


def _exact(corr: np.ndarray, distances: np.ndarray, thresholds: np.ndarray,
           stat: str) -> tuple[np.ndarray, np.ndarray]:
    """The statistic over every unordered pair within each threshold."""
    i, j = np.triu_indices(len(corr), k=1)
    d = distances[i, j]
    keep = (d != 0) & (d <= thresholds.max())
    d, c = d[keep], corr[i[keep], j[keep]]
    # Sorted by distance, the pairs within any threshold are a prefix and whole tie groups,
    # so the distance ranks of a prefix are those of the full list.
    order = np.argsort(d, kind="stable")
    d, c = d[order], c[order]
    ranks = _tie_ranks(d)
    # One sort of the correlations serves every prefix: the prefix's own order is the
    # global order with the later pairs filtered out.
    corr_order = np.argsort(c, kind="stable")
    values, counts = np.full(len(thresholds), np.nan), np.zeros(len(thresholds), dtype=np.int64)
    for k, threshold in enumerate(thresholds):
        m = int(np.searchsorted(d, threshold, side="right"))
        counts[k] = m
        if m >= 2 and d[m - 1] > d[0]:
            values[k] = _statistic(c[:m], d[:m], stat, ranks[:m], corr_order[corr_order < m])
    return values, counts


def _sampled(corr: np.ndarray, distances: np.ndarray, thresholds: np.ndarray, stat: str, n_samples: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The reference's draw: ``n_samples`` ordered pairs within each threshold, without replacement."""
    flat_d = distances.ravel()
    flat_c = corr.ravel()
    values, counts = np.full(len(thresholds), np.nan), np.zeros(len(thresholds), dtype=np.int64)
    for k, threshold in enumerate(thresholds):
        inside = np.flatnonzero((flat_d <= threshold) & (flat_d != 0))
        chosen = inside[rng.choice(len(inside), size=min(n_samples, len(inside)), replace=False)]
        d, c = flat_d[chosen], flat_c[chosen]
        counts[k] = len(chosen)
        if len(chosen) >= 2 and d.max() > d.min():
            values[k] = _statistic(c, d, stat)
    return values, counts


def tgi_by_layer(responses: Any, **options: Any) -> xr.Dataset:
    """:func:`tgi` of each layer of an extraction, stacked along a ``layer`` dim.

    Parameters
    ----------
    responses : mapping of str to xr.DataArray
        ``{layer: responses}`` as :func:`toposcope.extract` returns.
    **options
        Passed to :func:`tgi` (``max_dist``, ``method``, ...).

    Returns
    -------
    xr.Dataset
        ``tgi`` (layer), ``stat`` and ``n_pairs`` (layer, max_dist); ``n_units``,
        ``side`` and ``n_constant_units`` per layer; attrs the options.
    """
    from collections.abc import Mapping

    if not isinstance(responses, Mapping) or not responses:
        raise ToposcopeError("responses must be a non-empty {layer: DataArray} mapping, as toposcope.extract returns")
    names, parts = [], []
    for name, layer in responses.items():
        result = tgi(layer, **options)
        names.append(str(name))
        parts.append(result.assign(n_units=result.attrs["n_units"], side=result.attrs["side"],
                                   n_constant_units=result.attrs["n_constant_units"]))
    out = xr.concat(parts, dim="layer", combine_attrs="drop").assign_coords(layer=names)
    keep = ("method", "stat", "seed", "n_samples", "snap_distances", "reference", "n_stimuli")
    out.attrs = {k: v for k, v in parts[0].attrs.items() if k in keep}
    return out
