"""Box-constrained nonlinear least squares in 3 parameters for many problems at once.

:func:`trf` runs the trust-region reflective algorithm of
``scipy.optimize.least_squares(method="trf")`` (Branch, Coleman & Li 1999, with
the exact trust-region solver of More 1977) on every problem of a batch in
lock-step, so that each problem follows the path scipy follows from the same
start and stops where scipy stops: same Coleman-Li scaling, trust-region
radius rules, reflected and gradient steps, strictly feasible iterates and
``ftol`` / ``xtol`` / ``gtol`` tests, and the same limit of ``100 n``
function evaluations. ``scipy.optimize.curve_fit`` with bounds is that
algorithm with ``x_scale = 1`` and unit weights, so a fit made here lands in
the same local optimum as ``curve_fit`` from the same ``p0``.

Two things differ from scipy, neither of which changes the path beyond
rounding: the Jacobian is analytic (scipy's default is a forward difference,
accurate to about 1e-8), and the 3 x 3 trust-region subproblem is solved in
closed form from ``A = J_h^T J_h + diag(diag_h)`` (scipy takes an SVD of the
augmented Jacobian; both give ``p(alpha) = -(A + alpha I)^-1 g_h``). Rounding
does matter for a parameter that has dropped out of the model (in the window
fit: ``b`` once ``c = 1``, ``a`` once ``c = 0``): its gradient is then noise in
both, and the two may leave it at different values.

Each step is one function evaluation for every problem still running; a
problem whose trial step is rejected shrinks its trust region and tries again
on the next step, exactly as scipy's inner loop does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["trf"]

_EPS = np.finfo(np.float64).eps

#: Status codes, as scipy's ``OptimizeResult.status``: 0 = evaluation limit reached (curve_fit
#: raises), 1 = gtol, 2 = ftol, 3 = xtol, 4 = ftol and xtol.
STATUS = {0: "evaluation limit", 1: "gtol", 2: "ftol", 3: "xtol", 4: "ftol and xtol"}

Evaluate = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]]


# ----------------------------------------------------------------------------- 3 x 3 algebra
#: Entries of a symmetric 3 x 3 matrix as stored here: its upper triangle, row by row.
_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
_INDEX = {**{pair: k for k, pair in enumerate(_PAIRS)}, **{pair[::-1]: k for k, pair in enumerate(_PAIRS)}}


def _sym(m: tuple[np.ndarray, ...], i: int, j: int) -> np.ndarray:
    """Entry (i, j) of a symmetric matrix stored as its upper triangle."""
    return m[_INDEX[i, j]]


def _quad(m: tuple[np.ndarray, ...], u: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``u^T M w`` per problem; ``u``, ``w`` shape (3, N)."""
    return np.einsum("in,in->n", u, _apply(m, w))


def _adjugate(m: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Adjugate (upper triangle) and determinant of symmetric 3 x 3 matrices."""
    a, b, c, d, e, f = m
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    return (c00, c01, c02, c11, c12, c22), a * c00 + b * c01 + c * c02


def _apply(m: tuple[np.ndarray, ...], v: np.ndarray) -> np.ndarray:
    """``M v`` per problem for a symmetric ``M`` (upper triangle) and ``v`` shape (3, N)."""
    return np.stack([sum(_sym(m, i, j) * v[j] for j in range(3)) for i in range(3)])


def _eigen_extremes(m: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Largest and smallest eigenvalue of symmetric 3 x 3 matrices (Smith's closed form)."""
    a, b, c, d, e, f = m
    q = (a + d + f) / 3
    off = b * b + c * c + e * e
    p = np.sqrt(((a - q) ** 2 + (d - q) ** 2 + (f - q) ** 2 + 2 * off) / 6)
    safe = np.where(p > 0, p, 1.0)
    ba, bd, bf, bb, bc, be = (a - q) / safe, (d - q) / safe, (f - q) / safe, b / safe, c / safe, e / safe
    r = np.clip((ba * (bd * bf - be * be) - bb * (bb * bf - be * bc) + bc * (bb * be - bd * bc)) / 2, -1.0, 1.0)
    phi = np.arccos(r) / 3
    high = np.where(p > 0, q + 2 * p * np.cos(phi), q)
    low = np.where(p > 0, q + 2 * p * np.cos(phi + 2 * np.pi / 3), q)
    return high, low


def _solve(m: tuple[np.ndarray, ...], alpha: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x = (M + alpha I)^-1 v`` and ``x^T (M + alpha I)^-1 x``, per problem."""
    shifted = (m[0] + alpha, m[1], m[2], m[3] + alpha, m[4], m[5] + alpha)
    adj, det = _adjugate(shifted)
    det = np.where(det != 0, det, np.finfo(np.float64).tiny)
    x = _apply(adj, v) / det
    return x, np.einsum("in,in->n", x, _apply(adj, x)) / det


# ----------------------------------------------------------------------------- trust region
def _trust_region_step(a: tuple[np.ndarray, ...], g_h: np.ndarray, delta: np.ndarray, alpha: np.ndarray,
                       n_residuals: int, rtol: float = 0.01, max_iter: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """More's trust-region step ``p`` with ``||p|| <= Delta`` and its Levenberg-Marquardt ``alpha``.

    As scipy's ``solve_lsq_trust_region``: the Gauss-Newton step when ``A`` has
    full rank and the step fits, else Newton iterations on
    ``phi(alpha) = ||p(alpha)|| - Delta`` (safeguarded, at most ``max_iter``,
    until ``|phi| < rtol Delta``), the step scaled to length ``Delta``.
    """
    zero = np.zeros_like(delta)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        newton, curvature = _solve(a, zero, g_h)
        newton_norm = np.sqrt(np.einsum("in,in->n", newton, newton))
        # A rank-deficient A gives an unbounded Gauss-Newton step, so a step inside the region
        # comes from a full-rank A; the rank is tested (as scipy does) only where it matters.
        take_newton = newton_norm <= delta
        step = -newton
        alpha = np.where(take_newton, 0.0, alpha)
        running = np.flatnonzero(~take_newton)
        if running.size == 0:
            return step, alpha
        sub = tuple(x[running] for x in a)
        gs, dl, al = g_h[:, running], delta[running], alpha[running]
        high, low = _eigen_extremes(sub)
        # scipy: smallest singular value of the augmented Jacobian > eps * m * largest.
        full_rank = np.sqrt(np.maximum(low, 0.0)) > _EPS * n_residuals * np.sqrt(np.maximum(high, 0.0))
        nn, cv = newton_norm[running], curvature[running]
        up = np.sqrt(np.einsum("in,in->n", gs, gs)) / dl
        lo = np.where(full_rank, (nn - dl) * nn / cv, 0.0)
        lo = np.where(np.isfinite(lo), lo, 0.0)
        al = np.where(~full_rank & (al == 0), np.maximum(0.001 * up, np.sqrt(lo * up)), al)
        still = np.arange(len(running))
        for _ in range(max_iter):
            if still.size == 0:
                break
            al_s, lo_s, up_s, dl_s = al[still], lo[still], up[still], dl[still]
            reset = (al_s < lo_s) | (al_s > up_s)
            al_s = np.where(reset, np.maximum(0.001 * up_s, np.sqrt(lo_s * up_s)), al_s)
            p, pap = _solve(tuple(x[still] for x in sub), al_s, gs[:, still])
            norm = np.sqrt(np.einsum("in,in->n", p, p))
            phi = norm - dl_s
            ratio = phi / (-pap / norm)
            up[still] = np.where(phi < 0, al_s, up_s)
            lo[still] = np.maximum(lo_s, al_s - ratio)
            al_s = al_s - (phi + dl_s) * ratio / dl_s
            al[still] = al_s
            still = still[~(np.abs(phi) < rtol * dl_s)]
        alpha[running] = al
        p, _ = _solve(sub, al, gs)
        step[:, running] = -p * (dl / np.sqrt(np.einsum("in,in->n", p, p)))
    return step, alpha


def _to_bound(x: np.ndarray, s: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest ``t >= 0`` with ``x + t s`` on a bound, and which components hit it (-1, 0, 1)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        steps = np.where(s != 0, np.maximum((lb - x) / s, (ub - x) / s), np.inf)
    t = steps.min(axis=0)
    return t, (steps == t) * np.sign(s)


def _min_quadratic_1d(a: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray,
                      c: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Minimiser and minimum of ``a t^2 + b t + c`` on ``[low, high]`` (ties go to low, then high)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        extremum = -0.5 * b / np.where(a != 0, a, 1.0)
        inside = (a != 0) & (low < extremum) & (extremum < high)
        t = np.stack([low, high, np.where(inside, extremum, low)])
        y = t * (a * t + b) + c
        y[2] = np.where(inside, y[2], np.inf)
    pick = np.argmin(y, axis=0)
    rows = np.arange(t.shape[1])
    return t[pick, rows], y[pick, rows]


def _select_step(x, a, g_h, p, p_h, d, delta, lb, ub, theta):
    """scipy's ``select_step``: the trust-region step if it stays in the box, else the best of
    the step cut at the bound and pulled back by ``theta``, its reflection, and the scaled
    gradient step.

    Returns (step, step in hat space, predicted reduction), each per problem.
    """
    step, step_h = p.copy(), p_h.copy()
    predicted = -(0.5 * _quad(a, p_h, p_h) + np.einsum("in,in->n", g_h, p_h))
    out = np.flatnonzero(~np.all((x + p >= lb) & (x + p <= ub), axis=0))
    if out.size:
        sub = tuple(m[out] for m in a)
        step[:, out], step_h[:, out], predicted[out] = _bounded_step(
            x[:, out], sub, g_h[:, out], p[:, out], p_h[:, out], d[:, out], delta[out], lb, ub, theta[out])
    return step, step_h, predicted


def _bounded_step(x, a, g_h, p, p_h, d, delta, lb, ub, theta):
    """The three candidate steps of :func:`_select_step` for trust-region steps that leave the box."""
    def value(s):
        return 0.5 * _quad(a, s, s) + np.einsum("in,in->n", g_h, s)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        stride, hits = _to_bound(x, p, lb, ub)
        r_h = np.where(hits != 0, -p_h, p_h)
        r = d * r_h
        p_cut, p_h_cut = p * stride, p_h * stride
        # Positive root of ||p_h_cut + t r_h|| = Delta, as in scipy's intersect_trust_region.
        qa = np.einsum("in,in->n", r_h, r_h)
        qb = np.einsum("in,in->n", p_h_cut, r_h)
        qc = np.einsum("in,in->n", p_h_cut, p_h_cut) - delta ** 2
        root = np.sqrt(np.maximum(qb * qb - qa * qc, 0.0))
        q = -(qb + np.copysign(root, qb))
        to_tr = np.maximum(q / qa, qc / q)
        to_bound, _ = _to_bound(x + p_cut, r, lb, ub)
        r_stride = np.minimum(to_bound, to_tr)
        positive = r_stride > 0
        r_low = np.where(positive, (1 - theta) * stride / r_stride, 0.0)
        r_high = np.where(positive, np.where(r_stride == to_bound, theta * to_bound, to_tr), -1.0)
        available = r_low <= r_high
        qa = 0.5 * _quad(a, r_h, r_h)
        qb = np.einsum("in,in->n", g_h, r_h) + _quad(a, p_h_cut, r_h)
        qc = value(p_h_cut)
        t, r_value = _min_quadratic_1d(qa, qb, r_low, r_high, qc)
        r_value = np.where(available, r_value, np.inf)
        r_h = p_h_cut + t * r_h
        r = d * r_h
        p_back, p_h_back = theta * p_cut, theta * p_h_cut
        p_value = value(p_h_back)
        ag_h = -g_h
        ag = d * ag_h
        to_tr = delta / np.sqrt(np.einsum("in,in->n", ag_h, ag_h))
        to_bound, _ = _to_bound(x, ag, lb, ub)
        ag_stride = np.where(to_bound < to_tr, theta * to_bound, to_tr)
        t, ag_value = _min_quadratic_1d(0.5 * _quad(a, ag_h, ag_h), np.einsum("in,in->n", g_h, ag_h),
                                        np.zeros_like(ag_stride), ag_stride)
        ag_h, ag = ag_h * t, ag * t
    take_p = (p_value < r_value) & (p_value < ag_value)
    take_r = ~take_p & (r_value < p_value) & (r_value < ag_value)
    step = np.where(take_p, p_back, np.where(take_r, r, ag))
    step_h = np.where(take_p, p_h_back, np.where(take_r, r_h, ag_h))
    predicted = -np.where(take_p, p_value, np.where(take_r, r_value, ag_value))
    return step, step_h, predicted


# ----------------------------------------------------------------------------- driver
def _normal_equations(f: np.ndarray, jac: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """``J^T J`` (upper triangle), gradient ``J^T f`` (3, N) and cost ``f.f / 2``."""
    jtj = tuple(np.einsum("nk,nk->n", jac[i], jac[j]) for i in range(3) for j in range(i, 3))
    grad = np.stack([np.einsum("nk,nk->n", column, f) for column in jac])
    return jtj, grad, 0.5 * np.einsum("nk,nk->n", f, f)


def trf(evaluate: Evaluate, y: np.ndarray, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *,
        ftol: float = 1e-8, xtol: float = 1e-8, gtol: float = 1e-8,
        max_nfev: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise ``||model(x_i) - y_i||^2`` over ``lower <= x_i <= upper`` for every row ``i``.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(x, rows) -> (residual, (J0, J1, J2))`` with ``x`` shape (3, n)
        the parameters of problems ``rows`` (int array, shape (n,)), ``residual``
        shape (n, K) the model minus ``y[rows]`` and ``J*`` shape (n, K) its
        derivatives by each parameter.
    y : array, shape (N, K)
        Data (only its shape is read here; ``evaluate`` closes over it).
    x0 : array, shape (3,) or (3, N)
        Start, strictly inside the bounds.
    lower, upper : array, shape (3,)
        Bounds.
    ftol, xtol, gtol : float
        scipy's tolerances (its defaults).
    max_nfev : int, optional
        Function evaluations per problem; ``100 * 3`` as in scipy by default.

    Returns
    -------
    x : array, shape (3, N)
    cost : array, shape (N,)
        ``0.5 * ||residual||^2`` at ``x``.
    status : array of int, shape (N,)
        As scipy (:data:`STATUS`); 0 means the evaluation limit stopped the
        problem, where ``curve_fit`` raises instead of returning.
    """
    n_problems, n_residuals = y.shape
    max_nfev = 300 if max_nfev is None else int(max_nfev)
    lb, ub = np.asarray(lower, dtype=np.float64)[:, None], np.asarray(upper, dtype=np.float64)[:, None]
    x = np.array(np.broadcast_to(np.asarray(x0, dtype=np.float64).reshape(3, -1), (3, n_problems)))
    rows = np.arange(n_problems)
    f, jac = evaluate(x, rows)
    jtj, grad, cost = _normal_equations(f, jac)
    status = np.full(n_problems, -1)
    nfev = np.ones(n_problems, dtype=np.int64)
    # Initial radius: ||x0 / sqrt(v)|| with v the Coleman-Li scaling at x0.
    v = np.where(grad < 0, ub - x, np.where(grad > 0, x - lb, 1.0))
    delta = np.sqrt(np.einsum("in,in->n", x / np.sqrt(v), x / np.sqrt(v)))
    delta = np.where(delta == 0, 1.0, delta)
    alpha = np.zeros(n_problems)
    active = rows
    while active.size:
        xa, ga = x[:, active], grad[:, active]
        v = np.where(ga < 0, ub - xa, np.where(ga > 0, xa - lb, 1.0))
        dv = np.where(ga < 0, -1.0, np.where(ga > 0, 1.0, 0.0))
        g_norm = np.max(np.abs(ga * v), axis=0)
        small = g_norm < gtol
        status[active[small]] = 1
        spent = ~small & (nfev[active] >= max_nfev)
        status[active[spent]] = 0
        keep = ~(small | spent)
        if not keep.all():
            active, xa, ga, v, dv, g_norm = active[keep], xa[:, keep], ga[:, keep], v[:, keep], dv[:, keep], g_norm[keep]
            if active.size == 0:
                break
        d = np.sqrt(v)
        diag_h = ga * dv
        g_h = d * ga
        theta = np.maximum(0.995, 1 - g_norm)
        jtj_a = tuple(m[active] for m in jtj)
        # A = J_h^T J_h + diag(diag_h), J_h = J diag(d): the quadratic model of the step in hat space.
        a = tuple(jtj_a[k] * d[i] * d[j] + (diag_h[i] if i == j else 0.0) for k, (i, j) in enumerate(_PAIRS))
        delta_a = delta[active]
        p_h, alpha_a = _trust_region_step(a, g_h, delta_a, alpha[active], n_residuals)
        step, step_h, predicted = _select_step(xa, a, g_h, d * p_h, p_h, d, delta_a, lb, ub, theta)
        x_new = xa + step
        x_new = np.where(x_new <= lb, np.nextafter(lb, ub), np.where(x_new >= ub, np.nextafter(ub, lb), x_new))
        f_new, jac_new = evaluate(x_new, active)
        nfev[active] += 1
        cost_new = 0.5 * np.einsum("nk,nk->n", f_new, f_new)
        cost_a = cost[active]
        reduction = cost_a - cost_new
        step_h_norm = np.sqrt(np.einsum("in,in->n", step_h, step_h))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(predicted > 0, reduction / np.where(predicted > 0, predicted, 1.0),
                             np.where((predicted == 0) & (reduction == 0), 1.0, 0.0))
        delta_new = np.where(ratio < 0.25, 0.25 * step_h_norm,
                             np.where((ratio > 0.75) & (step_h_norm > 0.95 * delta_a), 2.0 * delta_a, delta_a))
        step_norm = np.sqrt(np.einsum("in,in->n", step, step))
        x_norm = np.sqrt(np.einsum("in,in->n", xa, xa))
        ftol_ok = (reduction < ftol * cost_a) & (ratio > 0.25)
        xtol_ok = step_norm < xtol * (xtol + x_norm)
        stop = ftol_ok | xtol_ok
        status[active[stop]] = np.where(ftol_ok & xtol_ok, 4, np.where(ftol_ok, 2, 3))[stop]
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha[active] = np.where(stop, alpha_a, alpha_a * delta_a / delta_new)
        delta[active] = np.where(stop, delta_a, delta_new)
        better = reduction > 0
        if better.any():
            moved = active[better]
            x[:, moved] = x_new[:, better]
            jtj_new, grad_new, cost_moved = _normal_equations(f_new[better], tuple(j[better] for j in jac_new))
            for k in range(6):
                jtj[k][moved] = jtj_new[k]
            grad[:, moved] = grad_new
            cost[moved] = cost_moved
        active = active[~stop]
    return x, cost, status
