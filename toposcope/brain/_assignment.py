"""Exact one-to-one assignment from a streamed correlation matrix, without holding it.

The rectangular assignment problem (each row of the smaller side gets its own
column, minimising the summed cost ``1 - r``) is solved on a sparse graph of each
row's best-correlated candidate columns, then proved optimal for the *full*
matrix by linear-programming duality:

The dual of the assignment LP (every row matched, every column at most once) is
``max sum(u) + sum(p)`` subject to ``u[s] + p[l] <= cost[s, l]`` for all pairs
and ``p <= 0``. From the sparse matching ``m`` we build column potentials ``p``
as shortest-path distances (Bellman-Ford from all zeros) over the edges
``m[s] -> l`` weighted ``cost[s, l] - cost[s, m[s]]`` of every candidate pair,
and row potentials ``u[s] = cost[s, m[s]] - p[m[s]]``. They satisfy every
candidate constraint by construction (up to :data:`DUAL_TOLERANCE`), and every
non-candidate pair of row ``s`` too when ``u[s] <= 1 - bound[s]``, ``bound[s]``
being the largest correlation left out of its candidates (since ``p <= 0``).
With ``p = 0`` on unmatched columns the dual objective equals the matching's
cost, so the matching is optimal for the dense problem. Rows that fail the
bound get more candidates and the sparse problem is solved again; when the kept
candidates run out, the caller streams the correlations again with more, or
solves the dense problem.

The certificate is exact up to :data:`DUAL_TOLERANCE` per constraint: the
matching's summed cost is within ``(n_rows + n_columns) * DUAL_TOLERANCE`` of
the optimum, far below the float32 resolution of the correlations themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DUAL_TOLERANCE", "Candidates", "Certified", "certified_assignment"]

#: Slack allowed on each dual constraint (cost units, i.e. correlation units).
DUAL_TOLERANCE = 1e-12


class Candidates:
    """The ``keep`` largest correlations of each row, merged over streamed column blocks.

    Parameters
    ----------
    n_rows, n_columns : int
        Size of the full (rows x columns) correlation matrix; rows are the
        smaller side of the assignment.
    keep : int
        Correlations kept per row (capped at ``n_columns``). A row can then use
        up to ``keep - 1`` candidates with the ``keep``-th as the bound on every
        other column (or all ``n_columns`` with no bound).

    Attributes
    ----------
    r : ndarray, float32, shape (n_rows, keep)
        Kept correlations; sorted largest first after :meth:`finish`.
    column : ndarray, int64, shape (n_rows, keep)
        Their column indices.
    """

    def __init__(self, n_rows: int, n_columns: int, keep: int) -> None:
        self.n_columns = int(n_columns)
        self.keep = int(min(keep, n_columns))
        self.r = np.full((n_rows, self.keep), -np.inf, dtype=np.float32)
        self.column = np.full((n_rows, self.keep), -1, dtype=np.int64)

    def add(self, rows: slice, first_column: int, r_block: np.ndarray) -> None:
        """Merge a block of correlations, shape (rows, block), columns from ``first_column`` on."""
        keep = self.keep
        merged = np.concatenate([self.r[rows], r_block], axis=1)
        pick = np.argpartition(merged, merged.shape[1] - keep, axis=1)[:, -keep:]
        old = np.take_along_axis(self.column[rows], np.minimum(pick, keep - 1), axis=1)
        self.column[rows] = np.where(pick < keep, old, first_column + pick - keep)
        self.r[rows] = np.take_along_axis(merged, pick, axis=1)

    def finish(self) -> None:
        """Sort each row's candidates, largest correlation first (ties: lower column first)."""
        order = np.lexsort((self.column, -self.r.astype(np.float64)), axis=-1)
        self.r = np.take_along_axis(self.r, order, axis=1)
        self.column = np.take_along_axis(self.column, order, axis=1)


@dataclass
class Certified:
    """Outcome of :func:`certified_assignment`.

    Attributes
    ----------
    column : ndarray of int64, shape (n_rows,) or None
        The column matched to each row when proved optimal, else None.
    reason : str
        ``"optimal"``, ``"more candidates"`` (rows need more than were kept) or
        ``"unproved"`` (the sparse solution could not be certified: solve densely).
    n_edges : int
        Candidate pairs in the last sparse problem solved.
    """

    column: np.ndarray | None
    reason: str
    n_edges: int = 0


def certified_assignment(candidates: Candidates, first_k: int = 8) -> Certified:
    """Solve the assignment on the candidates and prove it optimal for the dense matrix.

    Each row starts with its ``first_k`` best candidates; rows whose dual bound
    fails get four times as many, up to all that were kept.

    Parameters
    ----------
    candidates : Candidates
        After :meth:`Candidates.finish`.
    first_k : int
        Candidates per row in the first sparse problem.

    Returns
    -------
    Certified
    """
    n_rows, keep = candidates.r.shape
    every = keep == candidates.n_columns  # all columns kept: no bound needed
    most = keep if every else keep - 1
    k = np.full(n_rows, min(first_k, most), dtype=np.int64)
    while True:
        try:
            column, potential, n_edges = _solve_sparse(candidates, k)
        except ValueError:  # no full matching among the candidates
            if (k == most).all():
                return Certified(None, "more candidates" if not every else "unproved")
            k = np.minimum(k * 4, most)
            continue
        if column is None:
            return Certified(None, "unproved", n_edges)
        # Every non-candidate column of row s costs at least 1 - r[s, k[s]] (the best one left out).
        bounded = k < keep
        bound = np.full(n_rows, np.inf)
        bound[bounded] = _cost(candidates.r[bounded, k[bounded]])
        failing = potential > bound + DUAL_TOLERANCE
        if not failing.any():
            return Certified(column, "optimal", n_edges)
        if (k[failing] == most).any():
            return Certified(None, "more candidates", n_edges)
        k[failing] = np.minimum(k[failing] * 4, most)


def _cost(r: np.ndarray) -> np.ndarray:
    """``1 - r`` in float32, widened to float64: the values a dense solve gets from float32 r."""
    return np.subtract(np.float32(1.0), r, dtype=np.float32).astype(np.float64)


def _solve_sparse(candidates: Candidates, k: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, int]:
    """Min-cost matching on each row's first ``k[s]`` candidates, with its row potentials.

    Returns
    -------
    column : ndarray of int64, shape (n_rows,) or None
        Matched column per row; None if the matching is not optimal even on the
        candidates (a negative cycle or augmenting path: numerical trouble).
    potential : ndarray of float64, shape (n_rows,)
        ``u[s]`` of the dual certificate (see the module docstring).
    n_edges : int
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    n_rows, keep = candidates.r.shape
    take = np.arange(keep) < k[:, None]
    row = np.repeat(np.arange(n_rows), k)
    cost = _cost(candidates.r[take])
    used, local = np.unique(candidates.column[take], return_inverse=True)
    # Weights must be non-zero for the solver; adding 1 to every edge keeps the argmin.
    graph = csr_array((cost + 1.0, (row, local)), shape=(n_rows, len(used)))
    if len(used) < n_rows:
        raise ValueError("fewer candidate columns than rows")
    matched_rows, matched = min_weight_full_bipartite_matching(graph)
    if len(matched_rows) < n_rows:
        raise ValueError("no full matching among the candidates")
    matched = np.asarray(matched, dtype=np.int64)

    is_match = local == matched[row]
    matched_cost = np.empty(n_rows)
    matched_cost[row[is_match]] = cost[is_match]
    others = ~is_match
    source, target = matched[row[others]], local[others]
    weight = cost[others] - matched_cost[row[others]]
    distance = _shortest_from_zero(len(used), source, target, weight)
    if distance is None:
        return None, np.empty(0), len(row)
    unmatched = np.ones(len(used), dtype=bool)
    unmatched[matched] = False
    if (distance[unmatched] < -DUAL_TOLERANCE).any():
        return None, np.empty(0), len(row)
    return used[matched], matched_cost - distance[matched], len(row)


def _shortest_from_zero(n_nodes: int, source: np.ndarray, target: np.ndarray,
                        weight: np.ndarray) -> np.ndarray | None:
    """Bellman-Ford distances with every node starting at 0 (a virtual root); None on a negative cycle.

    Relaxations smaller than :data:`DUAL_TOLERANCE` are ignored, so rounding
    cannot loop; every edge then satisfies ``d[t] <= d[s] + w + DUAL_TOLERANCE``.
    """
    distance = np.zeros(n_nodes)
    if len(source) == 0:
        return distance
    order = np.argsort(target, kind="stable")
    source, target, weight = source[order], target[order], weight[order]
    starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
    heads = target[starts]
    for _ in range(n_nodes + 1):
        best = np.minimum.reduceat(distance[source] + weight, starts)
        better = best < distance[heads] - DUAL_TOLERANCE
        if not better.any():
            return distance
        distance[heads[better]] = best[better]
    return None
