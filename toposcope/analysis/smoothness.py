"""Smoothness: how response similarity falls off with distance on the cortical sheet.

:func:`curve` bins unit pairs by sheet distance and reports the mean Pearson
correlation of their responses per bin, with curves from shuffled positions for
the chance level; :func:`selectivity_curve` does the same for the absolute
difference of a per-unit map (TDANN's category smoothness); :func:`score` and
:func:`scores` (from :mod:`toposcope.analysis.smoothness_score`) reduce a curve
to one number, the TopoNets or the TDANN way, raw and against chance;
:func:`category_smoothness` is TDANN's category-smoothness score of a t-map
with its sampling protocol.

Two ways to pick pairs:

``mode="exact"``
    Every unordered pair of distinct units. Responses are z-scored over stimuli
    once (``z = (x - mean) / (std * sqrt(n_stimuli))``, so a dot product is a
    Pearson r); blocks of units are multiplied (``Z_a @ Z_b.T``) and each
    block's pairs go into per-bin sums, sums of squares and counts with
    ``np.bincount``. The N x N matrix never exists; memory is the z-scored
    responses (4 bytes per value) plus a few ``block**2`` arrays.
``mode="sampled"``
    TDANN's protocol (neuroailab/TDANN, ``spacetorch/maps/__init__.py``,
    ``TissueMap.correlation_over_distance_plot``, with windows from
    ``spacetorch/utils/spatial_utils.py``, ``get_adjacent_windows``): the sheet
    is tiled with square windows of side ``window``; each window keeps at most
    ``max_units`` random units (limits inclusive, windows with < 2 units
    dropped); at most ``max_windows`` random windows are used (TDANN's
    supplementary loss-curve figure: 1,000 units, 50 windows). Each window
    gives a curve over its pairs; the result is the mean over windows and
    ``sem`` the standard error over windows. ``sampling="pairs"`` instead draws
    ``n_pairs`` random pairs from the whole sheet.

Binning (TDANN's): a bin count gives equal bins from the shortest to the
longest pair distance, as TDANN's ``np.histogram_bin_edges`` over the pair
distances (15 bins, TDANN's default for this curve); in windowed sampling the
longest is the window's diagonal, as TDANN bins the pairs of a window. The
last bin includes its upper edge (ours; TDANN's ``agg_by_distance`` drops the
single longest pairs).

Chance (ours, after TDANN's shuffled control): the same pair values binned
again with the unit positions permuted, ``n_shuffles`` times. Exact mode and
random pairs permute the positions of all units; windowed and subset sampling
permute the positions within each window or subset, so the shuffles reuse its
values (TDANN shuffles the distances within each sample). A permutation keeps
every bin's pair count in exact and windowed mode.

Torus sheets (Topoformer's, whose grid wraps; :mod:`toposcope.sheet.torus`):
when the units carry the ``wrap_x``, ``wrap_y`` coords, every pair distance is
the wrapped one (the shorter way round), the bins span the shortest to the
longest wrapped distance, and attr ``torus_period`` records the period. Flat
sheets are measured as before.

Constant units are excluded and counted (``attrs["n_constant_units"]``); a bin
without pairs is NaN with ``pairs == 0``.

:func:`morans_i` (Moran's I of a map, TopoLM's measure) lives in
:mod:`toposcope.analysis.spatial_stats` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int, check_seed
from toposcope.analysis import _pairs
from toposcope.analysis._responses import (
    CheckedResponses,
    block_rows,
    check_map,
    check_responses,
    stimulus_blocks,
)
from toposcope.analysis.smoothness_score import CHANCE_LEVEL, KINDS, MIN_PAIRS, score, scores
from toposcope.analysis.spatial_stats import morans_i
from toposcope.sheet.torus import sheet_period

__all__ = [
    "BINS",
    "CHANCE_LEVEL",
    "KINDS",
    "MIN_PAIRS",
    "MODES",
    "N_SHUFFLES",
    "SAMPLINGS",
    "TDANN_BINS",
    "TDANN_CUTOFF",
    "TDANN_SAMPLES",
    "TDANN_SAMPLE_SIZE",
    "category_smoothness",
    "curve",
    "morans_i",
    "score",
    "scores",
    "selectivity_curve",
    "unit_vectors",
]

MODES = ("exact", "sampled")
SAMPLINGS = ("windows", "pairs")

#: Default number of distance bins of :func:`curve` (TDANN's ``num_line_bins``).
BINS = 15
#: Default number of shuffled-position curves (the chance level and its band).
N_SHUFFLES = 20

#: TDANN's category-smoothness sampling (Margalit et al. 2024, ``notebooks/F03_IT_Details``):
#: distance cutoff (mm), equal bins up to it, random unit sets, units per set.
TDANN_CUTOFF = 60.0
TDANN_BINS = 9
TDANN_SAMPLES = 25
TDANN_SAMPLE_SIZE = 500

#: Bytes of gathered rows per chunk when drawing random pairs.
_PAIR_CHUNK_BYTES = 64 << 20


def unit_vectors(checked: CheckedResponses) -> np.ndarray:
    """Varying units z-scored over stimuli and scaled so that dot products are Pearson r.

    Returns
    -------
    ndarray, shape (n_varying_units, n_stimuli), float32, C-contiguous
        Row ``i`` is ``(x_i - mean_i) / (std_i * sqrt(n_stimuli))``.
    """
    keep = checked.varying
    mean = checked.mean[keep]
    scale = 1.0 / (checked.std[keep] * np.sqrt(checked.n_stimuli))
    z = np.empty((int(keep.sum()), checked.n_stimuli), dtype=np.float32)
    for rows, block in stimulus_blocks(checked.responses, block_rows(checked.n_units)):
        z[:, rows] = ((block[:, keep] - mean) * scale).T
    return z


def _same(a: Any, b: Any) -> bool:
    return a is b or (isinstance(a, slice) and a == b)


def _windows(positions: np.ndarray, width: float, max_units: int, max_windows: int,
             rng: np.random.Generator) -> list[np.ndarray]:
    """TDANN's square windows tiling the sheet: unit indices per window."""
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    counts = np.maximum(np.floor((hi - lo) / width).astype(int), 1)
    starts = [np.linspace(lo[k], max(hi[k] - width, lo[k]), counts[k]) for k in (0, 1)]
    cells = [(x0, y0) for x0 in starts[0] for y0 in starts[1]]
    windows = []
    # Visiting the cells in random order and keeping the first usable ones picks
    # a random subset of the usable windows, as TDANN does, without scanning all.
    for c in rng.permutation(len(cells)):
        x0, y0 = cells[c]
        inside = np.flatnonzero((positions[:, 0] >= x0) & (positions[:, 0] <= x0 + width)
                                & (positions[:, 1] >= y0) & (positions[:, 1] <= y0 + width))
        if len(inside) > max_units:
            inside = np.sort(rng.choice(inside, max_units, replace=False))
        if len(inside) >= 2:
            windows.append(inside)
            if len(windows) == max_windows:
                break
    if not windows:
        raise ToposcopeError(
            f"no window of side {width:g} holds 2 or more units; use a larger window (sheet spans "
            f"{hi[0] - lo[0]:g} x {hi[1] - lo[1]:g})"
        )
    return windows


def _dataset(name: str, edges: np.ndarray, main: tuple, shuffles: list[tuple],
             attrs: dict[str, Any]) -> xr.Dataset:
    mean, sem, pairs = main
    data = {name: ("bin", mean), "sem": ("bin", sem), "pairs": ("bin", pairs.astype(np.int64))}
    if shuffles:
        data["chance"] = ("bin", shuffles[0][0])
        data["chance_sem"] = ("bin", shuffles[0][1])
        data["shuffled"] = (("shuffle", "bin"), np.stack([s[0] for s in shuffles]))
    coords = {
        # ``bin`` counts bins from 0, as in the layerwise results (whose layers each have their
        # own distances) and in result files; the centres are ``distance``.
        "bin": ("bin", np.arange(len(edges) - 1, dtype=np.int64)),
        "distance": ("bin", (edges[:-1] + edges[1:]) / 2, {"long_name": "bin centre (sheet distance)"}),
        "bin_lower": ("bin", edges[:-1]),
        "bin_upper": ("bin", edges[1:]),
    }
    if shuffles:
        coords["shuffle"] = ("shuffle", np.arange(len(shuffles)))
    return xr.Dataset(data, coords=coords, attrs={"kind": name, "n_shuffles": len(shuffles), **attrs})


def _permutations(n: int, n_shuffles: int, seq: np.random.SeedSequence) -> list[np.ndarray]:
    """``n_shuffles`` seeded permutations of ``range(n)``; the first is the one earlier versions drew."""
    if n_shuffles == 0:
        return []
    first = np.random.default_rng(seq).permutation(n)
    return [first] + [np.random.default_rng(child).permutation(n) for child in seq.spawn(n_shuffles - 1)]


def _run(
    values_block: _pairs.BlockKernel,
    values_pairs: _pairs.PairKernel | None,
    positions: np.ndarray,
    bins: Any,
    mode: str,
    seed: int,
    n_shuffles: int,
    block: int,
    groups: Any = None,
    group_extent: float = 0.0,
    n_pairs: int = 0,
    pair_chunk: int = 1,
    distances: tuple[float, float] | None = None,
    period: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple, list[tuple], dict[str, Any]]:
    """Shared driver of :func:`curve` and :func:`selectivity_curve`.

    Exact mode uses ``values_block`` over all pairs; sampled mode uses
    ``groups(positions, rng)`` (lists of unit indices; count bins then end at
    ``group_extent``) or, without ``groups``, ``values_pairs`` over ``n_pairs``
    random pairs. Count bins span ``distances`` (shortest, longest; default
    those between ``positions``). Returns the edges, the curve ``(mean, sem,
    pairs)``, one such curve per shuffle (SEM only for the first) and attrs.
    ``period`` (a torus's) makes every distance the wrapped one.
    """
    shuffle_seq, sample_seq, chance_seq = np.random.SeedSequence(check_seed(seed)).spawn(3)
    attrs: dict[str, Any] = {"mode": mode, "seed": seed}
    if period is not None:
        attrs["torus_period"] = list(period)
    shortest, longest = _pairs.distance_range(positions, period) if distances is None else distances
    if mode == "exact" or groups is None:
        edges = _pairs.resolve_edges(bins, longest, shortest)
        sets = [positions] + [positions[p] for p in _permutations(len(positions), n_shuffles, shuffle_seq)]
        if mode == "exact":
            accs = _pairs.all_pairs(values_block, sets, _pairs.pair_binner(edges, positions, period), block, full=2,
                                    same_counts=True)
        else:
            accs = _pairs.random_pairs(values_pairs, sets, _pairs.Binner(edges, period), n_pairs,
                                       np.random.default_rng(sample_seq), pair_chunk, full=2)
        results = [acc.result() for acc in accs]
        attrs["sem_over"] = "pairs"
    else:
        edges = _pairs.resolve_edges(bins, group_extent, shortest)
        chosen = groups(positions, np.random.default_rng(sample_seq))
        rng = np.random.default_rng(chance_seq)
        permutations = [[rng.permutation(len(units)) for units in chosen] for _ in range(n_shuffles)]
        results = _pairs.grouped(values_block, chosen, positions, _pairs.pair_binner(edges, positions, period),
                                 permutations)
        attrs["n_groups"] = len(chosen)
    return edges, results[0], results[1:], attrs


def _check_shuffles(chance: Any, n_shuffles: Any) -> int:
    """Shuffled curves to compute: ``n_shuffles`` with ``chance``, none without."""
    if not isinstance(chance, (bool, np.bool_)):
        raise ToposcopeError(f"chance must be True or False, got {chance!r}")
    check_positive_int("n_shuffles", n_shuffles)
    return int(n_shuffles) if chance else 0


def curve(
    responses: xr.DataArray,
    bins: int | Sequence[float] = BINS,
    mode: str = "exact",
    *,
    seed: int = 0,
    chance: bool = True,
    n_shuffles: int = N_SHUFFLES,
    sampling: str = "windows",
    window: float | None = None,
    max_units: int = 1000,
    max_windows: int = 50,
    n_pairs: int = 1_000_000,
    block: int = 2048,
) -> xr.Dataset:
    """Mean Pearson correlation of unit responses versus sheet distance.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        One layer's responses (numpy- or dask-backed) with unit coords ``x``, ``y``.
    bins : int or sequence of float
        A count of equal bins from the shortest to the longest distance between
        units of the sheet (wrapped on a torus), constant units included (to the window diagonal for
        ``sampling="windows"``), as TDANN bins (15 by default); or explicit edges.
        Bins are ``[lower, upper)``, the last one closed.
    mode : {"exact", "sampled"}
        All pairs, or a sample of pairs (see the module docstring).
    seed : int
        Seeds the position shuffles and the sampling.
    chance : bool
        Also compute curves with unit positions shuffled (the chance level).
    n_shuffles : int
        Shuffled-position curves computed with ``chance`` (each is one more
        binning of the same pair values; see the module docstring). In exact
        mode a shuffle costs about a tenth of the one-shuffle curve on a
        25,088-unit sheet (``benchmarks/bench_analysis.py``); lower it, or
        sample, for far larger sheets.
    sampling : {"windows", "pairs"}
        ``mode="sampled"`` only: TDANN's windows, or uniformly random pairs.
    window : float, optional
        Window side in sheet units; default a quarter of the sheet's shorter side.
    max_units, max_windows : int
        TDANN's limits: units kept per window, windows used.
    n_pairs : int
        Pairs drawn for ``sampling="pairs"``.
    block : int
        Units per block in exact mode.

    Returns
    -------
    xr.Dataset, dim ``bin``
        ``correlation`` (mean r per bin), ``sem``, ``pairs`` (int counts; pairs
        used over all windows), and with ``chance`` also ``shuffled`` (dims
        shuffle, bin: each shuffled-position curve), ``chance`` and
        ``chance_sem`` (the first of them and its SEM). Coords ``bin``
        (int64, counting from 0), ``distance`` (bin centres), ``bin_lower``,
        ``bin_upper``, ``shuffle``. Attrs: ``mode``,
        ``seed``, ``n_shuffles`` (0 without ``chance``), ``sem_over`` ("pairs"
        or "windows"), ``n_stimuli``, ``n_units`` (varying units used),
        ``n_constant_units``, ``layer`` when unique; for ``sampling="pairs"``
        also ``n_pairs`` and ``draws_per_pair`` (draws over the sheet's pairs). Score it with
        :func:`score` or, against chance, :func:`scores`.

    Notes
    -----
    Pair-level SEMs treat pairs as independent, which they are not (each unit is
    in many pairs): read them as a precision of the mean, not a test.
    """
    check_option("mode", mode, MODES)
    check_option("sampling", sampling, SAMPLINGS)
    check_seed(seed)
    shuffles = _check_shuffles(chance, n_shuffles)
    for name, value in (("block", block), ("max_units", max_units), ("max_windows", max_windows),
                        ("n_pairs", n_pairs)):
        check_positive_int(name, value)
    checked = check_responses(responses, positions=True, one_layer=True, min_units=2)
    z = unit_vectors(checked)
    positions = checked.positions()
    # Count bins and the default window follow the whole sheet, constant units
    # included, so that models with different dead units share the same bins.
    sheet = np.stack([np.asarray(checked.responses[c].values, dtype=np.float64) for c in ("x", "y")], axis=1)
    period = sheet_period(checked.responses, "responses")

    def block_values(a, b):
        za = z[a]
        # za @ za.T lets BLAS use its symmetric product (half the work) on the diagonal
        return za @ za.T if _same(a, b) else za @ z[b].T

    def pair_values(i, j):
        return np.einsum("ij,ij->i", z[i], z[j])

    groups, extent = None, 0.0
    if mode == "sampled" and sampling == "windows":
        if window is None:
            spans = np.ptp(sheet, axis=0)
            window = float(spans[spans > 0].min() / 4) if np.any(spans > 0) else 1.0
        elif not (isinstance(window, (int, float, np.number)) and np.isfinite(window) and window > 0):
            raise ToposcopeError(f"window must be a positive sheet distance, got {window!r}")
        extent = float(window) * np.sqrt(2.0)  # the longest distance inside a window

        def groups(pos, rng):
            return _windows(pos, float(window), max_units, max_windows, rng)

    edges, main, shuffled, attrs = _run(
        block_values, pair_values, positions, bins, mode, seed, shuffles, block, groups, extent,
        n_pairs, max(1, _PAIR_CHUNK_BYTES // (8 * checked.n_stimuli)), _pairs.distance_range(sheet, period),
        period,
    )
    if mode == "sampled":
        attrs["sampling"] = sampling
        if sampling == "windows":
            attrs.update(window=float(window), max_units=max_units, max_windows=max_windows,
                         n_windows=attrs.pop("n_groups"), sem_over="windows")
        else:
            n = len(positions)
            # Draws are with replacement: on a small sheet one pair is drawn many times (read by the scores).
            attrs.update(n_pairs=n_pairs, draws_per_pair=n_pairs / (n * (n - 1) / 2))
    attrs.update(checked.attrs())
    if "sheet_units" in checked.responses.attrs:
        attrs["distance_units"] = checked.responses.attrs["sheet_units"]
    return _dataset("correlation", edges, main, shuffled, attrs)


def selectivity_curve(
    values: xr.DataArray,
    bins: int | Sequence[float] = 20,
    mode: str = "exact",
    *,
    seed: int = 0,
    chance: bool = True,
    n_shuffles: int = N_SHUFFLES,
    samples: int = 100,
    sample_size: int = 500,
    block: int = 2048,
) -> xr.Dataset:
    """Mean absolute difference of a per-unit map versus sheet distance.

    TDANN's category smoothness (neuroailab/TDANN, ``spacetorch/maps/it_map.py``,
    ``ITMap.category_smoothness``): for a selectivity map ``t`` (e.g. a t-value
    per unit for faces vs. other categories), pairs of units are binned by
    distance and ``|t_i - t_j|`` averaged per bin. A smooth map gives small
    differences nearby, rising with distance.

    Parameters
    ----------
    values : xr.DataArray, dims (unit,)
        The map, with unit coords ``x`` and ``y``.
    bins : int or sequence of float
        A count of equal bins from 0 to the largest distance (as TDANN's
        category-smoothness bins start at 0), or explicit edges (pairs beyond
        the last edge are dropped, like TDANN's distance cutoff).
    mode : {"exact", "sampled"}
        All pairs; or ``samples`` random subsets of ``sample_size`` units each,
        the curve averaged over subsets as in TDANN (which used 500 x 500 by
        default and 20 subsets in its figures).
    seed, chance, n_shuffles, block
        As in :func:`curve`; subsets are shuffled within themselves.

    Returns
    -------
    xr.Dataset, dim ``bin``
        ``difference`` (mean ``|t_i - t_j|``), ``sem``, ``pairs``, and with
        ``chance`` also ``shuffled``, ``chance`` and ``chance_sem``; coords as
        in :func:`curve`.
    """
    check_option("mode", mode, MODES)
    check_seed(seed)
    shuffles = _check_shuffles(chance, n_shuffles)
    for name, value in (("block", block), ("samples", samples), ("sample_size", sample_size)):
        check_positive_int(name, value)
    t, positions = check_map(values, what="selectivity map")

    def block_values(a, b):
        return np.abs(np.subtract.outer(t[a], t[b]))

    def subsets(pos, rng):
        size = min(sample_size, len(pos))
        return [np.sort(rng.choice(len(pos), size, replace=False)) for _ in range(samples)]

    # TDANN's category-smoothness bins start at 0 (``np.linspace(0, cutoff, n)``).
    period = sheet_period(values, "selectivity map")
    diameter = _pairs.distance_range(positions, period)[1] if period else _pairs.sheet_diameter(positions)
    edges, main, shuffled, attrs = _run(
        block_values, None, positions, bins, mode, seed, shuffles, block, subsets, diameter,
        distances=(0.0, diameter), period=period,
    )
    if mode == "sampled":
        attrs.pop("n_groups", None)
        attrs.update(sampling="subsets", samples=samples, sample_size=sample_size, sem_over="subsets")
    attrs.update(n_units=len(t))
    if values.name is not None:
        attrs["map"] = str(values.name)
    return _dataset("difference", edges, main, shuffled, attrs)


def category_smoothness(
    tmap: xr.DataArray,
    *,
    cutoff: float = TDANN_CUTOFF,
    bins: int = TDANN_BINS,
    samples: int = TDANN_SAMPLES,
    sample_size: int = TDANN_SAMPLE_SIZE,
    seed: int = 0,
) -> float:
    """TDANN's category smoothness of one selectivity map, with TDANN's sampling.

    :func:`selectivity_curve` in ``"sampled"`` mode (``|t_i - t_j|`` against
    distance over ``samples`` random sets of ``sample_size`` units) on ``bins``
    equal bins from 0 to ``cutoff``, scored with :func:`score` ``kind="tdann"``:
    ``(max(c) - c[0]) / max(c)``. When the diagonal of the units' bounding box
    is shorter than ``cutoff`` (a sheet smaller than TDANN's 70 mm), the bins
    end at the diagonal instead, so that they span distances the sheet has (on
    a torus, at the longest wrapped distance).

    TDANN first drops units whose mean fLOC response is below 0.5; a t-map
    does not carry responses, so select the units before calling this if needed.

    Parameters
    ----------
    tmap : xr.DataArray, dims (unit,)
        One layer's t-map of one category, with unit coords ``x``, ``y``.
    cutoff : float
        Longest pair distance used, sheet units (60 mm in TDANN).
    bins : int
        Equal distance bins up to the cutoff (9 in TDANN).
    samples, sample_size : int
        Random unit sets and units per set (25 and 500 in TDANN's figure).
    seed : int
        Seeds the unit sets.

    Returns
    -------
    float
        1 for a map whose neighbours differ least, 0 when nearby units differ as
        much as the most distant ones.
    """
    _, xy = check_map(tmap, what="selectivity map")
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float, np.number)) or not np.isfinite(cutoff) \
            or cutoff <= 0:
        raise ToposcopeError(f"cutoff must be a positive sheet distance, got {cutoff!r}")
    check_positive_int("bins", bins)
    # The bounding box's diagonal bounds the sheet's diameter (on a torus, the longest wrapped
    # distance does); TDANN's 70 mm sheets reach past the cutoff.
    period = sheet_period(tmap, "selectivity map")
    reach = _pairs.distance_range(xy, period)[1] if period else float(np.hypot(*np.ptp(xy, axis=0)))
    edges = np.linspace(0.0, min(cutoff, reach), bins + 1)
    result = selectivity_curve(tmap, edges, "sampled", seed=seed, samples=samples, sample_size=sample_size,
                               chance=False)
    # TDANN's procedure keeps every non-empty bin; its curves average 25 sets of 500 units.
    return score(result, "tdann", min_pairs=0)
