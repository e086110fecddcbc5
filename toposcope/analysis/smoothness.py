"""Smoothness: how response similarity falls off with distance on the cortical sheet.

:func:`curve` bins unit pairs by sheet distance and reports the mean Pearson
correlation of their responses per bin, with a chance curve from shuffled
positions; :func:`selectivity_curve` does the same for the absolute difference
of a per-unit map (TDANN's category smoothness); :func:`score` reduces a curve
to one number, the TopoNets or the TDANN way; :func:`category_smoothness` is
TDANN's category-smoothness score of a t-map with its sampling protocol.

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
from toposcope.analysis.spatial_stats import morans_i

__all__ = [
    "KINDS",
    "MODES",
    "SAMPLINGS",
    "TDANN_BINS",
    "TDANN_CUTOFF",
    "TDANN_SAMPLES",
    "TDANN_SAMPLE_SIZE",
    "category_smoothness",
    "curve",
    "morans_i",
    "score",
    "selectivity_curve",
    "unit_vectors",
]

MODES = ("exact", "sampled")
SAMPLINGS = ("windows", "pairs")
KINDS = ("toponets", "tdann")

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


def _dataset(name: str, edges: np.ndarray, main: tuple, chance: tuple | None,
             attrs: dict[str, Any]) -> xr.Dataset:
    mean, sem, pairs = main
    data = {name: ("bin", mean), "sem": ("bin", sem), "pairs": ("bin", pairs.astype(np.int64))}
    if chance is not None:
        data["chance"] = ("bin", chance[0])
        data["chance_sem"] = ("bin", chance[1])
    coords = {
        "bin": ("bin", (edges[:-1] + edges[1:]) / 2, {"long_name": "bin centre (sheet distance)"}),
        "bin_lower": ("bin", edges[:-1]),
        "bin_upper": ("bin", edges[1:]),
    }
    return xr.Dataset(data, coords=coords, attrs={"kind": name, **attrs})


def _run(
    values_block: _pairs.BlockKernel,
    values_pairs: _pairs.PairKernel | None,
    positions: np.ndarray,
    bins: Any,
    mode: str,
    seed: int,
    chance: bool,
    block: int,
    groups: Any = None,
    group_extent: float = 0.0,
    n_pairs: int = 0,
    pair_chunk: int = 1,
    diameter: float | None = None,
) -> tuple[np.ndarray, tuple, tuple | None, dict[str, Any]]:
    """Shared driver of :func:`curve` and :func:`selectivity_curve`.

    Exact mode uses ``values_block`` over all pairs; sampled mode uses
    ``groups(positions, rng)`` (lists of unit indices; bins then span
    ``group_extent`` when given as a count) or, without ``groups``,
    ``values_pairs`` over ``n_pairs`` random pairs. Count bins otherwise span
    ``diameter`` (default: the largest distance between ``positions``).
    """
    shuffle_seq, sample_seq, chance_seq = np.random.SeedSequence(check_seed(seed)).spawn(3)
    shuffled = positions[np.random.default_rng(shuffle_seq).permutation(len(positions))]
    sets = [positions, shuffled] if chance else [positions]
    attrs: dict[str, Any] = {"mode": mode, "seed": seed}
    if mode == "exact" or groups is None:
        if diameter is None:
            diameter = _pairs.sheet_diameter(positions)
        edges = _pairs.resolve_edges(bins, diameter)
        if mode == "exact":
            accs = _pairs.all_pairs(values_block, sets, _pairs.pair_binner(edges, positions), block)
        else:
            accs = _pairs.random_pairs(values_pairs, sets, _pairs.Binner(edges), n_pairs,
                                       np.random.default_rng(sample_seq), pair_chunk)
        results = [acc.result() for acc in accs]
        attrs["sem_over"] = "pairs"
    else:
        edges = _pairs.resolve_edges(bins, group_extent)
        binner = _pairs.pair_binner(edges, positions)
        results = []
        for pos, seq in zip(sets, (sample_seq, chance_seq)):
            chosen = groups(pos, np.random.default_rng(seq))
            results.append(_pairs.grouped(values_block, chosen, pos, binner))
            attrs.setdefault("n_groups", len(chosen))
    return edges, results[0], (results[1] if chance else None), attrs


def curve(
    responses: xr.DataArray,
    bins: int | Sequence[float] = 20,
    mode: str = "exact",
    *,
    seed: int = 0,
    chance: bool = True,
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
        A count of equal bins from 0 to the largest distance between units of
        the sheet, constant units included (to the window diagonal for
        ``sampling="windows"``), or explicit edges.
        Bins are ``[lower, upper)``, the last one closed.
    mode : {"exact", "sampled"}
        All pairs, or a sample of pairs (see the module docstring).
    seed : int
        Seeds the position shuffle of the chance curve and the sampling.
    chance : bool
        Also compute the curve with unit positions shuffled (the chance level).
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
        used over all windows), and with ``chance`` also ``chance`` and
        ``chance_sem``. Coords ``bin`` (centres), ``bin_lower``, ``bin_upper``.
        Attrs: ``mode``, ``seed``, ``sem_over`` ("pairs" or "windows"),
        ``n_stimuli``, ``n_units`` (varying units used), ``n_constant_units``,
        ``layer`` when unique.

    Notes
    -----
    Pair-level SEMs treat pairs as independent, which they are not (each unit is
    in many pairs): read them as a precision of the mean, not a test.
    """
    check_option("mode", mode, MODES)
    check_option("sampling", sampling, SAMPLINGS)
    check_seed(seed)
    for name, value in (("block", block), ("max_units", max_units), ("max_windows", max_windows),
                        ("n_pairs", n_pairs)):
        check_positive_int(name, value)
    checked = check_responses(responses, positions=True, one_layer=True, min_units=2)
    z = unit_vectors(checked)
    positions = checked.positions()
    # Count bins and the default window follow the whole sheet, constant units
    # included, so that models with different dead units share the same bins.
    sheet = np.stack([np.asarray(checked.responses[c].values, dtype=np.float64) for c in ("x", "y")], axis=1)

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

    edges, main, chance_result, attrs = _run(
        block_values, pair_values, positions, bins, mode, seed, chance, block, groups, extent,
        n_pairs, max(1, _PAIR_CHUNK_BYTES // (8 * checked.n_stimuli)), _pairs.sheet_diameter(sheet),
    )
    if mode == "sampled":
        attrs["sampling"] = sampling
        if sampling == "windows":
            attrs.update(window=float(window), max_units=max_units, max_windows=max_windows,
                         n_windows=attrs.pop("n_groups"), sem_over="windows")
        else:
            attrs["n_pairs"] = n_pairs
    attrs.update(checked.attrs())
    if "sheet_units" in checked.responses.attrs:
        attrs["distance_units"] = checked.responses.attrs["sheet_units"]
    return _dataset("correlation", edges, main, chance_result, attrs)


def selectivity_curve(
    values: xr.DataArray,
    bins: int | Sequence[float] = 20,
    mode: str = "exact",
    *,
    seed: int = 0,
    chance: bool = True,
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
        A count of equal bins from 0 to the largest distance, or explicit edges
        (pairs beyond the last edge are dropped, like TDANN's distance cutoff).
    mode : {"exact", "sampled"}
        All pairs; or ``samples`` random subsets of ``sample_size`` units each,
        the curve averaged over subsets as in TDANN (which used 500 x 500 by
        default and 20 subsets in its figures).
    seed, chance, block
        As in :func:`curve`.

    Returns
    -------
    xr.Dataset, dim ``bin``
        ``difference`` (mean ``|t_i - t_j|``), ``sem``, ``pairs``, and with
        ``chance`` also ``chance`` and ``chance_sem``; coords as in :func:`curve`.
    """
    check_option("mode", mode, MODES)
    check_seed(seed)
    for name, value in (("block", block), ("samples", samples), ("sample_size", sample_size)):
        check_positive_int(name, value)
    t, positions = check_map(values, what="selectivity map")

    def block_values(a, b):
        return np.abs(np.subtract.outer(t[a], t[b]))

    def subsets(pos, rng):
        size = min(sample_size, len(pos))
        return [np.sort(rng.choice(len(pos), size, replace=False)) for _ in range(samples)]

    edges, main, chance_result, attrs = _run(
        block_values, None, positions, bins, mode, seed, chance, block, subsets,
        _pairs.sheet_diameter(positions),
    )
    if mode == "sampled":
        attrs.pop("n_groups", None)
        attrs.update(sampling="subsets", samples=samples, sample_size=sample_size, sem_over="subsets")
    attrs.update(n_units=len(t))
    if values.name is not None:
        attrs["map"] = str(values.name)
    return _dataset("difference", edges, main, chance_result, attrs)


def score(curve: xr.Dataset | xr.DataArray | Sequence[float], kind: str = "toponets",
          variable: str | None = None) -> float:
    """One smoothness number from a distance curve.

    Parameters
    ----------
    curve : xr.Dataset, xr.DataArray or sequence of float
        A result of :func:`curve` or :func:`selectivity_curve`, or the binned
        values themselves (empty bins as NaN).
    kind : {"toponets", "tdann"}
        ``"toponets"``: the highest minus the lowest binned value, empty bins
        ignored: TopoNets' smoothness (Deb, Deb & Murty, ICLR 2025), the range
        of the correlation-vs-distance curve. No public code for it was found
        (toponets/toponets ships the models, murtylab/topoloss the loss), so
        this follows the paper's description, not an implementation.
        ``"tdann"``: ``(max(c) - c[0]) / max(c)`` with ``c`` truncated at its
        first empty bin, from neuroailab/TDANN ``spacetorch/utils/spatial_utils.py``
        (``smoothness``). That definition assumes a curve of *change* rising with
        distance (TDANN scores |difference| curves), so a correlation curve is
        scored on its dissimilarity ``c = 1 - r``: ``(r[0] - min r) / (1 - min r)``.
        Where TDANN's code returns 1 for any flat curve, this returns 1 only when
        the change is zero everywhere and otherwise follows the formula (0 for a
        flat non-zero curve).
    variable : str, optional
        The Dataset variable to score; default ``correlation`` or ``difference``
        (``"chance"`` scores the chance curve).

    Returns
    -------
    float
        Never NaN: a curve with no usable bin raises instead.
    """
    check_option("kind", kind, KINDS)
    dissimilarity = False
    if isinstance(curve, xr.Dataset):
        if variable is None:
            variable = "correlation" if "correlation" in curve else "difference"
        if variable not in curve:
            raise ToposcopeError(
                f"curve has no variable {variable!r}; it holds {', '.join(map(repr, curve.data_vars))}"
            )
        dissimilarity = curve.attrs.get("kind", variable) == "correlation"
        values = np.asarray(curve[variable].values, dtype=np.float64)
    else:
        values = np.asarray(curve.values if isinstance(curve, xr.DataArray) else curve, dtype=np.float64)
    if values.ndim != 1:
        raise ToposcopeError(f"a curve must be 1-D (one value per bin), got shape {values.shape}")
    if kind == "toponets":
        finite = values[np.isfinite(values)]
        if len(finite) == 0:
            raise ToposcopeError("the curve has no non-empty bin; use wider or fewer bins")
        return float(finite.max() - finite.min())
    if dissimilarity:
        values = 1.0 - values
    empty = np.flatnonzero(~np.isfinite(values))
    values = values[: empty[0]] if len(empty) else values
    if len(values) == 0:
        raise ToposcopeError("the first distance bin of the curve is empty; use wider bins starting at 0")
    peak = values.max()
    if peak < 0:
        raise ToposcopeError("the TDANN score needs a non-negative change curve (e.g. |difference|)")
    if peak == 0:
        return 1.0
    return float((peak - values[0]) / peak)


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
    end at the diagonal instead, so that they span distances the sheet has.

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
    # The bounding box's diagonal bounds the sheet's diameter; TDANN's 70 mm sheets reach past the cutoff.
    edges = np.linspace(0.0, min(cutoff, float(np.hypot(*np.ptp(xy, axis=0)))), bins + 1)
    result = selectivity_curve(tmap, edges, "sampled", seed=seed, samples=samples, sample_size=sample_size,
                               chance=False)
    return score(result, "tdann")
