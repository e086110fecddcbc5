"""Pair-distance machinery shared by the smoothness curves.

A curve is the mean of some pairwise value (a response correlation, a
selectivity difference) in bins of sheet distance. This module holds the parts
that do not care which value: bin edges, a fast exact binning of distances,
per-bin accumulators, and the three pair-sampling schemes (all pairs in blocks,
pairs inside groups of units, random pairs).

On a sheet that wraps (a torus, :mod:`toposcope.sheet.torus`) every distance
here is the wrapped one: the binners and :func:`random_pairs` take a
``period`` and measure through :func:`~toposcope.sheet.torus.wrapped_distances`
and :func:`~toposcope.sheet.torus.offset_distances`; ``period=None`` (a flat
sheet) keeps the plain Euclidean arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from toposcope._validation import ToposcopeError
from toposcope.sheet.torus import offset_distances, torus_distance_range, wrapped_distances

__all__ = [
    "Accumulator",
    "Binner",
    "LatticeBinner",
    "all_pairs",
    "distance_range",
    "distances",
    "grouped",
    "pair_binner",
    "random_pairs",
    "resolve_edges",
    "sheet_diameter",
]

#: values(a, b) -> array (len(a), len(b)) of the pairwise value between unit sets a and b
BlockKernel = Callable[[np.ndarray | slice, np.ndarray | slice], np.ndarray]
#: values(i, j) -> array (n,) of the value for pairs (i[k], j[k])
PairKernel = Callable[[np.ndarray, np.ndarray], np.ndarray]


def sheet_diameter(positions: np.ndarray) -> float:
    """Largest distance between two positions, shape (n, 2) -> float."""
    unique = np.unique(positions, axis=0)
    if len(unique) < 2:
        return 0.0
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = unique[ConvexHull(unique).vertices]
    except QhullError:  # collinear or too few points: the hull is degenerate
        lo, hi = unique.min(axis=0), unique.max(axis=0)
        return float(np.hypot(*(hi - lo)))
    from scipy.spatial.distance import pdist

    return float(pdist(hull).max())


def distance_range(positions: np.ndarray, period: tuple[float, float] | None = None) -> tuple[float, float]:
    """Shortest and longest distance between two of ``positions`` (n, 2) -> ``(shortest, longest)``.

    The shortest is recomputed for its pair with the arithmetic of :func:`distances`,
    so that a bin edge placed on it holds that pair exactly. Coincident units give 0.
    On a torus (``period``) both are wrapped distances
    (:func:`~toposcope.sheet.torus.torus_distance_range`).
    """
    if period is not None:
        return torus_distance_range(positions, period)
    if len(positions) < 2:
        return 0.0, 0.0
    from scipy.spatial import cKDTree

    xy = np.asarray(positions, dtype=np.float64)
    gaps, nearest = cKDTree(xy).query(xy, k=2)
    i = int(np.argmin(gaps[:, 1]))
    j = int(nearest[i, 1])
    shortest = float(distances(xy[i:i + 1], xy[j:j + 1])[0, 0])
    return shortest, sheet_diameter(xy)


def resolve_edges(bins: int | Sequence[float] | np.ndarray, max_distance: float,
                  min_distance: float = 0.0) -> np.ndarray:
    """Bin edges from a count (``linspace(min_distance, max_distance, bins + 1)``) or explicit edges.

    A ``min_distance`` at or beyond ``max_distance`` (every pair equally far) starts the bins at 0.
    """
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise ToposcopeError(f"bins must be a positive count or increasing edges, got {bins}")
        if not max_distance > 0:
            raise ToposcopeError("all units sit at the same sheet position; distances cannot be binned")
        start = float(min_distance) if 0 <= min_distance < max_distance else 0.0
        return np.linspace(start, float(max_distance), int(bins) + 1)
    try:
        edges = np.asarray(bins, dtype=np.float64)
    except (TypeError, ValueError):
        raise ToposcopeError(f"bins must be a positive count or increasing edges, got {bins!r}") from None
    if edges.ndim != 1 or len(edges) < 2 or not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
        raise ToposcopeError(
            f"bin edges must be at least 2 finite, strictly increasing distances, got {np.asarray(bins).tolist()}"
        )
    return edges


class Binner:
    """Map distances to bin indices exactly as ``np.histogram`` would, but fast.

    Bins are ``[e_k, e_k+1)``, the last one closed on the right. Distances
    outside ``[e_0, e_K]`` get index ``K`` (a bin that is dropped). A lookup
    table on a fine uniform grid gives each distance its bin up to one step and
    two comparisons with the true edges make it exact, which is several times
    faster than ``np.searchsorted`` on the hundreds of millions of pairs of a
    large sheet. ``period`` (a torus's ``(px, py)``) makes :meth:`pairs` measure
    wrapped distances.
    """

    def __init__(self, edges: np.ndarray, period: tuple[float, float] | None = None) -> None:
        self.period = period
        self.edges = np.asarray(edges, dtype=np.float64)
        self.n_bins = k = len(self.edges) - 1
        closed = self.edges.copy()
        closed[-1] = np.nextafter(closed[-1], np.inf)  # the last bin includes its right edge
        self._padded = np.concatenate([[-np.inf], closed, [np.inf]])
        span = self.edges[-1] - self.edges[0]
        self._closed = closed
        # j = number of (closed) edges <= d; 0 and K+1 are outside the bins.
        self._table = np.concatenate([[k], np.arange(k), [k]]).astype(np.intp)
        # Cells at most half the narrowest bin wide, so one cell holds at most one edge.
        cells = int(np.ceil(max(2.0 * span / np.diff(self.edges).min(), 1.0)))
        self._lut = None
        if cells <= 1 << 22:  # else (absurdly uneven edges) fall back to a binary search
            self._cells = cells
            self._scale = cells / span
            self._lut = np.searchsorted(closed, self.edges[0] + np.arange(cells + 1) / self._scale, side="right")

    def __call__(self, d: np.ndarray) -> np.ndarray:
        """Bin index in ``0..K`` for each distance (``K`` = outside), same shape as ``d``."""
        if self._lut is None:
            return self._table[np.searchsorted(self._closed, d, side="right")]
        cell = d - self.edges[0]
        cell *= self._scale
        np.clip(cell, 0, self._cells, out=cell)
        j = self._lut[cell.astype(np.intp)]
        j += d >= self._padded[j + 1]
        j -= d < self._padded[j]
        return self._table[j]


    def prepare(self, positions: np.ndarray) -> np.ndarray:
        """Positions in the form :meth:`pairs` takes (float64, shape (n, 2))."""
        return np.asarray(positions, dtype=np.float64)

    def pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Bin index of the distance between each of ``a`` (m, 2) and ``b`` (n, 2) -> (m, n)."""
        return self(distances(a, b, self.period))


class LatticeBinner:
    """Binning for sheets whose positions are integers (TopoLoss grids, TDANN's default layout).

    A pair's bin then depends only on ``(|dy|, |dx|)``, so one small table,
    built with :class:`Binner` on the same float64 distances, replaces the
    distance and binning arithmetic by an integer difference and one lookup.
    Each unit gets the code ``y * (2 * span_x + 1) + x``; the difference of two
    codes, ``dy * (2 * span_x + 1) + dx`` with ``|dx| <= span_x``, names the
    offset uniquely, and the table is laid out so that negative differences
    index it from the end (numpy's negative indices) with no offset to add.
    On a torus (the binner's ``period``) each offset's entry holds the bin of
    its folded distance, so pairs cost the same as on a flat sheet.
    """

    #: Largest table (entries) worth building.
    MAX_TABLE = 1 << 24

    def __init__(self, binner: Binner, span: tuple[int, int]) -> None:
        self.binner = binner
        self.n_bins = binner.n_bins
        sx, sy = span
        self.stride = 2 * sx + 1
        dy, dx = np.meshgrid(np.arange(-sy, sy + 1.0), np.arange(-sx, sx + 1.0), indexing="ij")
        bins = binner(offset_distances(dx, dy, binner.period))
        size = (2 * sy + 1) * self.stride
        code = (dy * self.stride + dx).astype(np.int64) % size  # negative codes wrap to the end
        self.table = np.empty(size, dtype=np.intp)
        self.table[code.ravel()] = bins.ravel()

    @classmethod
    def applies(cls, positions: np.ndarray) -> tuple[int, int] | None:
        """The ``(x, y)`` span if ``positions`` are integers with a small enough table, else None."""
        if len(positions) == 0 or not np.array_equal(positions, np.round(positions)):
            return None
        span = np.ptp(positions, axis=0).astype(np.int64)
        if (2 * span[0] + 1) * (2 * span[1] + 1) > cls.MAX_TABLE:
            return None
        return int(span[0]), int(span[1])

    def prepare(self, positions: np.ndarray) -> np.ndarray:
        """Each position's int32 code ``(y - y_min) * (2 * span_x + 1) + (x - x_min)``, shape (n,)."""
        offsets = (positions - positions.min(axis=0)).astype(np.int64)
        return (offsets[:, 1] * self.stride + offsets[:, 0]).astype(np.int32)

    def pairs(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Bin index for each pair of codes ``a`` (m,) and ``b`` (n,) -> (m, n)."""
        return self.table[np.subtract.outer(a, b)]


def pair_binner(edges: np.ndarray, positions: np.ndarray,
                period: tuple[float, float] | None = None) -> Binner | LatticeBinner:
    """The fastest exact binner for pairs of ``positions`` (shuffles share the same span); wrapped with ``period``."""
    binner = Binner(edges, period)
    span = LatticeBinner.applies(positions)
    return binner if span is None else LatticeBinner(binner, span)


class Accumulator:
    """Per-bin count, sum and sum of squares of values, accumulated chunk by chunk.

    With ``squares=False`` only counts and sums are kept (a third less work, for
    the many shuffled-position curves whose SEM is not reported); ``sem`` is then
    NaN. With ``counts=False`` only sums (and squares) are kept, for position
    sets whose counts are known to equal another's: set ``count`` before
    :meth:`result`.
    """

    def __init__(self, n_bins: int, squares: bool = True, counts: bool = True) -> None:
        self.n_bins = n_bins
        self.count = np.zeros(n_bins + 1, dtype=np.int64) if counts else None
        self.total = np.zeros(n_bins + 1)
        self.squares = np.zeros(n_bins + 1) if squares else None

    def add(self, index: np.ndarray, values: np.ndarray, squares: np.ndarray | None = None) -> None:
        """Add ``values`` to the bins ``index`` (same shape; index ``n_bins`` is dropped).

        ``squares`` (``values**2`` as float64) may be passed when several
        accumulators share the same values, to square them once.
        """
        index = index.ravel()
        values = np.ascontiguousarray(values, dtype=np.float64).ravel()
        size = self.n_bins + 1
        if self.count is not None:
            self.count += np.bincount(index, minlength=size)
        if self.squares is None:
            scatter_add(self.total, index, values)
            return
        if squares is None:
            squares = values * values
        scatter_add_both(self.total, self.squares, index, values, np.ascontiguousarray(squares).ravel())

    def merge(self, other: Accumulator) -> None:
        """Add another accumulator's count, sums and squares (of the same bins) to this one."""
        if self.count is not None and other.count is not None:
            self.count += other.count
        self.total += other.total
        if self.squares is not None:
            self.squares += other.squares

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mean, sem, count)`` per bin; mean is NaN for empty bins, sem NaN below 2 values."""
        n = self.count[:-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, self.total[:-1] / np.maximum(n, 1), np.nan)
            if self.squares is None:
                return mean, np.full(self.n_bins, np.nan), n.copy()
            variance = (self.squares[:-1] - n * mean**2) / (n - 1)
            sem = np.where(n > 1, np.sqrt(np.maximum(variance, 0.0) / np.maximum(n, 1)), np.nan)
        return mean, sem, n.copy()


# --------------------------------------------------------------------------- speed: scatter, counts, reach
def scatter_add(out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``out[index[i]] += values[i]`` for every i, in order (float64 ``out``, contiguous 1-D inputs).

    ``np.add.at`` adds in index order like ``np.bincount`` (summed apart and then
    added, as ``out += np.bincount(...)`` does, the sums are the same bit for
    bit) but is faster and releases the GIL, so that threads binning different
    tiles run at once.
    """
    partial = np.zeros(len(out), dtype=out.dtype)
    np.add.at(partial, index, values)
    out += partial


def scatter_add_both(total: np.ndarray, squares: np.ndarray, index: np.ndarray, values: np.ndarray,
                     values_squared: np.ndarray) -> None:
    """:func:`scatter_add` of ``values`` into ``total`` and ``values_squared`` into ``squares`` at once.

    One scatter of complex numbers ``value + 1j * value**2`` does both (faster
    than two); complex sums add the parts separately, so the sums are the same
    bit for bit.
    """
    packed = np.empty(len(values), dtype=np.complex128)
    packed.real = values
    packed.imag = values_squared
    partial = np.zeros(len(total), dtype=np.complex128)
    np.add.at(partial, index, packed)
    total += partial.real
    squares += partial.imag


def lattice_pair_counts(binner: LatticeBinner, codes: np.ndarray) -> np.ndarray:
    """Pairs of distinct units per bin, from positions only (no pass over the pairs).

    The units' occupancy of the lattice, correlated with itself (by FFT, exact
    after rounding: counts are integers far below 2**52), counts the ordered
    pairs at each offset ``(dy, dx)``; each offset's bin comes from the binner's
    table, the units' pairs with themselves (offset 0) are removed and each
    unordered pair counted once.

    Parameters
    ----------
    binner : LatticeBinner
    codes : ndarray of int, shape (n_units,)
        From :meth:`LatticeBinner.prepare`.

    Returns
    -------
    ndarray of int64, shape (n_bins + 1,)
        Last entry: pairs outside the bins.
    """
    stride = binner.stride
    size = len(binner.table)
    rows = size // stride  # 2 * span_y + 1
    occupancy = np.bincount(codes, minlength=size)[: (rows // 2 + 1) * stride].reshape(-1, stride)
    # x spans 0..span_x inside a stride of 2 * span_x + 1 and y is padded to 2 * span_y + 1,
    # so the circular correlation below is the linear one.
    spectrum = np.fft.rfft2(occupancy.astype(np.float64), s=(rows, stride))
    ordered = np.rint(np.fft.irfft2(spectrum * spectrum.conj(), s=(rows, stride))).astype(np.int64)
    dy, dx = np.meshgrid(np.arange(rows) - rows // 2, np.arange(stride) - stride // 2, indexing="ij")
    at = ordered[dy % rows, dx % stride]
    bins = binner.table[(dy * stride + dx) % size]
    counts = np.bincount(bins.ravel(), weights=at.ravel(), minlength=binner.n_bins + 1)
    counts[binner.table[0]] -= len(codes)  # each unit with itself
    return (np.rint(counts).astype(np.int64)) // 2


def _lattice_boxes(binner: LatticeBinner, codes: np.ndarray, blocks: Sequence[slice]) -> np.ndarray:
    """Lattice box ``(y_min, y_max, x_min, x_max)`` of each block of codes, shape (n_blocks, 4)."""
    y, x = np.divmod(codes, binner.stride)
    return np.array([[y[b].min(), y[b].max(), x[b].min(), x[b].max()] for b in blocks], dtype=np.int64)


#: Largest offset rectangle looked up to prove that two blocks hold no binned pair.
REACH_LOOKUPS = 1 << 18


def _beyond(binner: LatticeBinner, boxes: np.ndarray, a: int, b: int) -> bool:
    """Whether no pair between blocks ``a`` and ``b`` falls in a bin (so the pair of blocks needs no binning).

    Every pair's offset lies in the rectangle spanned by the blocks' boxes, so if
    the binner's own table puts all of that rectangle outside the bins, no pair
    is binned. The table is the only geometry used: however it maps offsets to
    distances, the answer stays exact. Rectangles larger than
    :data:`REACH_LOOKUPS` (shuffled positions span the sheet) are not checked.
    """
    dy = (boxes[a, 0] - boxes[b, 1], boxes[a, 1] - boxes[b, 0])
    dx = (boxes[a, 2] - boxes[b, 3], boxes[a, 3] - boxes[b, 2])
    if (dy[1] - dy[0] + 1) * (dx[1] - dx[0] + 1) > REACH_LOOKUPS:
        return False
    offsets = np.add.outer(np.arange(dy[0], dy[1] + 1) * binner.stride, np.arange(dx[0], dx[1] + 1))
    return bool((binner.table[offsets % len(binner.table)] == binner.n_bins).all())


def distances(a: np.ndarray, b: np.ndarray, period: tuple[float, float] | None = None) -> np.ndarray:
    """Euclidean distances between positions ``a`` (m, 2) and ``b`` (n, 2) -> (m, n).

    Computed as ``sqrt(dx**2 + dy**2)`` in float64, the same arithmetic as
    ``scipy.spatial.distance.pdist``, so bin membership matches it exactly.
    With ``period`` (a torus) the wrapped distances instead.
    """
    if period is not None:
        return wrapped_distances(a, b, period)
    d = np.subtract.outer(a[:, 0], b[:, 0])
    d *= d
    dy = np.subtract.outer(a[:, 1], b[:, 1])
    dy *= dy
    d += dy
    return np.sqrt(d, out=d)


#: Threads binning each block (tiles dealt out in turn); the sums do not depend on it
#: being run in parallel, only on this number.
BIN_THREADS = 2

#: Pairs per tile when binning a block: small enough that the temporaries of the
#: binning stay in the CPU cache, which makes it several times faster.
TILE_PAIRS = 1 << 16


def _blocks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _histogram_block(
    accs: Sequence[Accumulator],
    rows: Sequence[np.ndarray],
    cols: Sequence[np.ndarray],
    values: np.ndarray,
    binner: Binner | LatticeBinner,
    diagonal: bool,
    part: tuple[int, int] = (0, 1),
) -> None:
    """Add a block of pair values to one accumulator per position set, tile by tile.

    ``values[i, j]`` belongs to the units at ``rows[s][i]`` and ``cols[s][j]``
    for position set ``s``. With ``diagonal`` the block pairs a unit set with
    itself and only its strict upper triangle (``j > i``) is used. With
    ``part=(k, parts)`` only every ``parts``-th tile from the ``k``-th is binned
    (threads share a block that way).
    """
    m, n = values.shape
    tile = max(1, TILE_PAIRS // max(n, 1))
    need_squares = any(acc.squares is not None for acc in accs)
    for start in range(part[0] * tile, m, part[1] * tile):
        stop = min(start + tile, m)
        first = start if diagonal else 0  # columns left of the tile's diagonal are all j <= i
        # Converted and squared once, shared by every position set.
        part = np.ascontiguousarray(values[start:stop, first:], dtype=np.float64)
        squares = part * part if need_squares else None
        lower = np.tri(stop - start, n - first, dtype=bool) if diagonal else None
        for acc, a, b in zip(accs, rows, cols):
            index = binner.pairs(a[start:stop], b[first:])
            if diagonal:
                index[lower] = binner.n_bins
            acc.add(index, part, squares)


def _accumulators(n_sets: int, n_bins: int, full: int, same_counts: bool = False) -> list[Accumulator]:
    """One accumulator per position set; the first ``full`` keep sums of squares (for a SEM).

    With ``same_counts`` only the first counts pairs (the others take its counts at the end).
    """
    return [Accumulator(n_bins, squares=k < full, counts=k == 0 or not same_counts) for k in range(n_sets)]


def all_pairs(
    kernel: BlockKernel,
    positions: Sequence[np.ndarray],
    binner: Binner,
    block: int,
    full: int | None = None,
    same_counts: bool = False,
) -> list[Accumulator]:
    """Histogram the value of every unordered pair of distinct units, block by block.

    Parameters
    ----------
    kernel : callable
        ``kernel(a, b)`` -> values, shape (len(a), len(b)), for unit slices.
    positions : list of ndarray, each (n_units, 2)
        One histogram per position set (the sheet, then e.g. shuffled positions),
        all from the same values.
    binner : Binner or LatticeBinner
    block : int
        Units per block; memory is a few ``block**2`` values.
    full : int, optional
        Position sets (the first ones) whose SEM is needed; all by default.
    same_counts : bool
        The sets are permutations of the first: over all pairs every set puts
        as many pairs in each bin, so only the first counts them.

    Returns
    -------
    list of Accumulator, one per position set.
    """
    n = len(positions[0])
    n_full = len(positions) if full is None else full
    blocks = list(_blocks(n, block))
    positions = [binner.prepare(p) for p in positions]
    lattice = isinstance(binner, LatticeBinner)
    # Counts depend on positions only: on a lattice they come from the offsets, once
    # per sheet (and a shuffle, a permutation of it, has the same); else from the pass.
    counts = lattice_pair_counts(binner, positions[0]) if lattice else None
    # Per block pair, the position sets with a pair that can fall in a bin (on a
    # lattice, blocks beyond the last edge of each other bin nothing).
    boxes = [_lattice_boxes(binner, p, blocks) for p in positions] if lattice else None
    todo = []
    for i, a in enumerate(blocks):
        for j, b in enumerate(blocks[i:], start=i):
            near = [s for s in range(len(positions)) if not (lattice and _beyond(binner, boxes[s], i, j))]
            if near:
                todo.append((a, b, near))
    parts = BIN_THREADS
    # One set of accumulators per binning thread, summed in a fixed order at the end,
    # so results do not depend on timing.
    shares = [_accumulators(len(positions), binner.n_bins, n_full, same_counts) for _ in range(parts)]
    if counts is not None:
        for share in shares:
            share[0].count = None
    with ThreadPoolExecutor(max_workers=1) as products, ThreadPoolExecutor(max_workers=parts) as binning:
        # The next block's matrix product runs in BLAS (which releases the GIL) while
        # this block is binned, so the two overlap.
        pending = products.submit(kernel, *todo[0][:2]) if todo else None
        for k, (a, b, near) in enumerate(todo):
            values = pending.result()
            if k + 1 < len(todo):
                pending = products.submit(kernel, *todo[k + 1][:2])
            jobs = [binning.submit(_histogram_block, [shares[t][s] for s in near], [positions[s][a] for s in near],
                                   [positions[s][b] for s in near], values, binner, a == b, (t, parts))
                    for t in range(parts)]
            for job in jobs:
                job.result()
    out = shares[0]
    for share in shares[1:]:
        for acc, other in zip(out, share):
            acc.merge(other)
    if counts is not None:
        out[0].count = counts
    for acc in out[1:]:
        if acc.count is None:
            acc.count = out[0].count.copy()
    return out


def _over_groups(profiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SEM over groups (axis 0) of per-group bin means, NaN (no pair) left out."""
    n = np.sum(~np.isnan(profiles), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(profiles, axis=0) / np.maximum(n, 1), np.nan)
        deviations = np.where(np.isnan(profiles), 0.0, profiles - mean)
        spread = np.sqrt((deviations**2).sum(axis=0) / np.maximum(n - 1, 1) / np.maximum(n, 1))
        sem = np.where(n > 1, spread, np.nan)
    return mean, sem


def grouped(
    kernel: BlockKernel,
    groups: Sequence[np.ndarray],
    positions: np.ndarray,
    binner: Binner,
    permutations: Sequence[Sequence[np.ndarray]] = (),
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Curves within groups of units (windows, samples), averaged over groups.

    Parameters
    ----------
    kernel : callable
        ``kernel(units, units)`` -> values, shape (len(units), len(units)).
    groups : list of int ndarray
        Unit indices of each group.
    positions : ndarray, shape (n_units, 2)
    binner : Binner
    permutations : list of lists of int ndarray, optional
        Shuffles: for each, one permutation per group of ``range(len(group))``;
        the group's units then take each other's positions, and the same pair
        values are binned again. Values are computed once per group.

    Returns
    -------
    list of (mean, sem, pairs), each ndarray of shape (n_bins,)
        The curve on the true positions, then one per shuffle. ``mean`` is the
        mean over groups of each group's bin mean (groups with no pair in a bin
        are left out of that bin), ``sem`` the standard error over those
        groups, ``pairs`` the total pair count.
    """
    n_sets = 1 + len(permutations)
    profiles = np.full((n_sets, len(groups), binner.n_bins), np.nan)
    pairs = np.zeros((n_sets, binner.n_bins), dtype=np.int64)
    positions = binner.prepare(positions)
    for g, units in enumerate(groups):
        accs = [Accumulator(binner.n_bins, squares=False) for _ in range(n_sets)]
        pos = positions[units]
        sets = [pos] + [pos[shuffle[g]] for shuffle in permutations]
        _histogram_block(accs, sets, sets, kernel(units, units), binner, diagonal=True)
        for k, acc in enumerate(accs):
            profiles[k, g], _, count = acc.result()
            pairs[k] += count
    return [(*_over_groups(profiles[k]), pairs[k]) for k in range(n_sets)]


def random_pairs(
    kernel: PairKernel,
    positions: Sequence[np.ndarray],
    binner: Binner,
    n_pairs: int,
    rng: np.random.Generator,
    chunk: int,
    full: int | None = None,
) -> list[Accumulator]:
    """Histogram the value of ``n_pairs`` uniformly drawn pairs of distinct units (with replacement).

    One histogram per position set, all over the same pairs; ``full`` as in :func:`all_pairs`.
    """
    n = len(positions[0])
    out = _accumulators(len(positions), binner.n_bins, len(positions) if full is None else full)
    for start in range(0, n_pairs, chunk):
        size = min(chunk, n_pairs - start)
        i = rng.integers(0, n, size)
        j = rng.integers(0, n - 1, size)
        j += j >= i  # uniform over the other n - 1 units
        values = kernel(i, j)
        for acc, pos in zip(out, positions):
            d = offset_distances(pos[i, 0] - pos[j, 0], pos[i, 1] - pos[j, 1], binner.period)
            acc.add(binner(d), values)
    return out
