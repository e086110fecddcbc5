"""Ridge encoding models fitted across stories: per-voxel penalties, held-out correlation, significance.

Folds are whole stories (:func:`story_folds`): a story's TRs are never split
between fitting and validation, because neighbouring TRs share the slow
haemodynamic response and a split inside a story lets the model read the answer
from its neighbours (:func:`random_folds` does exactly that, to show the
inflation). Every penalty in :data:`DEFAULT_ALPHAS` is scored on the held-out
folds, each voxel keeps its best, and the model is refitted on all training
rows at those penalties.

When the folds' validation sets partition the rows (story folds, random
folds), the scores come in closed form from one eigendecomposition of the
training kernel (:mod:`toposcope.analysis.encoding_kernel`: no fold is
refitted); other folds go through himalaya's (Dupré la Tour et al. 2022)
``solve_ridge_cv_svd``, one SVD per fold.

The backend is himalaya's: ``"numpy"`` (float64 by default, the reference),
``"torch"`` (CPU) or ``"torch_cuda"`` (GPU). :func:`fit_ridge` sets it for the call only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_option, check_positive_int, check_seed

__all__ = [
    "BACKENDS",
    "DEFAULT_ALPHAS",
    "RidgeFit",
    "block_permutation_p",
    "fdr",
    "fit_banded_ridge",
    "fit_ridge",
    "paired_r",
    "random_folds",
    "ridge_at",
    "story_folds",
]

#: Penalties tried per voxel: the designs are z-scored, so these suit any model.
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(0, 5, 11))
BACKENDS = ("numpy", "torch", "torch_cuda")


@dataclass(frozen=True)
class RidgeFit:
    """A fitted ridge encoding model.

    The weights are ``basis @ dual`` when the fit is in kernel form (``basis``
    given), else ``dual`` itself: a fit to many voxels keeps the small factors
    and forms the (n_features, n_voxels) weights only when :attr:`coefs` is read.

    Attributes
    ----------
    dual : ndarray, shape (n_rank, n_voxels)
        Float64 or float32 (the fit's precision).
    alphas : ndarray, float64, shape (n_voxels,)
        Each voxel's chosen penalty.
    cv_score : ndarray, float64, shape (n_voxels,)
        Mean validation score (negative mean squared error) at that penalty.
    folds : int
        Number of cross-validation folds.
    basis : ndarray, shape (n_features, n_rank), optional
    """

    dual: np.ndarray
    alphas: np.ndarray
    cv_score: np.ndarray
    folds: int
    basis: np.ndarray | None = None

    @cached_property
    def coefs(self) -> np.ndarray:
        """The weights, shape (n_features, n_voxels), in the fit's precision."""
        return self.dual if self.basis is None else self.basis @ self.dual

    def predict(self, x: Any) -> np.ndarray:
        """Predictions, shape (n_trs, n_voxels), for a design of shape (n_trs, n_features)."""
        x = np.asarray(x, dtype=self.dual.dtype)
        return x @ self.dual if self.basis is None else (x @ self.basis) @ self.dual


def _labels(groups: Any) -> tuple[np.ndarray, list[Any]]:
    labels = np.asarray(groups)
    if labels.ndim != 1:
        raise ToposcopeError(f"groups must be one story label per row, got shape {labels.shape}")
    return labels, list(dict.fromkeys(labels.tolist()))


def story_folds(groups: Any, n_folds: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds made of whole stories.

    Parameters
    ----------
    groups : array, shape (n_rows,)
        The story of each training row.
    n_folds : int, optional
        Folds of consecutive stories; by default one per story (leave one story out).

    Returns
    -------
    list of (train_rows, validation_rows)
    """
    labels, stories = _labels(groups)
    if len(stories) < 2:
        raise ToposcopeError(f"choosing penalties needs at least 2 training stories, got {len(stories)} "
                             f"({', '.join(map(str, stories))}); add stories")
    n = len(stories) if n_folds is None else check_positive_int("n_folds", n_folds)
    if n < 2 or n > len(stories):
        raise ToposcopeError(f"n_folds must be between 2 and the {len(stories)} training stories, got {n}")
    folds = []
    for chunk in np.array_split(np.arange(len(stories)), n):
        held = np.isin(labels, [stories[i] for i in chunk])
        folds.append((np.flatnonzero(~held), np.flatnonzero(held)))
    return folds


def random_folds(n_rows: int, n_folds: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds of TRs drawn at random, ignoring stories: leaky, kept to show how much it inflates r."""
    check_seed(seed)
    order = np.random.default_rng(seed).permutation(n_rows)
    return [(np.setdiff1d(np.arange(n_rows), held), np.sort(held)) for held in np.array_split(order, n_folds)]


@contextlib.contextmanager
def _backend(name: str) -> Iterator[Any]:
    from himalaya.backend import get_backend, set_backend

    check_option("backend", name, BACKENDS, "torch_cuda needs a CUDA GPU")
    previous = get_backend().name
    try:
        backend = set_backend(name, on_error="raise")
    except Exception as error:  # noqa: BLE001 - himalaya raises ValueError, RuntimeError or ImportError
        raise ToposcopeError(f"backend {name!r} is not available here ({error}); use backend='numpy'",
                             cli=f"--backend {name}: not available here ({error}); use --backend numpy") from None
    try:
        yield backend
    finally:
        set_backend(previous, on_error="warn")


def _check_design(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ToposcopeError(f"design {x.shape} and responses {y.shape} must be 2-D with the same rows")
    for name, values in (("design", x), ("responses", y)):
        if not np.isfinite(values).all():
            raise ToposcopeError(f"{name} hold NaN or inf; drop those voxels or features first")
    return x, y


def fit_ridge(x: Any, y: Any, groups: Any = None, *, alphas: Sequence[float] = DEFAULT_ALPHAS,
              n_folds: int | None = None, folds: list | None = None, backend: str = "numpy",
              n_targets_batch: int | None = None, dtype: str | None = None) -> RidgeFit:
    """Ridge from the design to every voxel, with each voxel's penalty chosen across stories.

    Parameters
    ----------
    x : array, shape (n_rows, n_features)
        The training design (z-scored, delayed features of the training stories).
    y : array, shape (n_rows, n_voxels)
        Training responses (z-scored per story: no intercept is fitted).
    groups : array, shape (n_rows,)
        The story of each row (folds from :func:`story_folds`).
    alphas : sequence of float
    n_folds : int, optional
        See :func:`story_folds`.
    folds : list of (train_rows, validation_rows), optional
        Explicit folds instead of ``groups`` (e.g. :func:`random_folds`).
    backend : {"numpy", "torch", "torch_cuda"}
    n_targets_batch : int, optional
        Voxels per batch (memory); blocks of about 128 MB by default.
    dtype : {"float64", "float32"}, optional
        Precision of the fit; float64 on numpy, float32 on torch by default.
        float32 halves the memory and doubles the speed of the products with
        the voxels (the kernel's eigendecomposition stays float64).

    Returns
    -------
    RidgeFit
    """
    x, y = _check_design(x, y)
    chosen = np.asarray(alphas, dtype=np.float64)
    if chosen.ndim != 1 or chosen.size == 0 or not np.all(np.isfinite(chosen) & (chosen > 0)):
        raise ToposcopeError(f"alphas must be positive numbers, got {alphas!r}")
    if folds is None:
        if groups is None:
            raise ToposcopeError("give groups (the story of each row) or folds")
        if len(groups) != x.shape[0]:
            raise ToposcopeError(f"groups label {len(groups)} rows but the design has {x.shape[0]}")
        folds = story_folds(groups, n_folds)
    from himalaya.ridge import solve_ridge_cv_svd

    from toposcope.analysis.encoding_kernel import is_partition, kernel_ridge_cv

    dtype = dtype or ("float64" if backend == "numpy" else "float32")
    check_option("dtype", dtype, ("float64", "float32"))
    with _backend(backend) as b:
        if is_partition(folds, x.shape[0]):
            basis, dual, best, scores = kernel_ridge_cv(x, y, folds, chosen.tolist(), dtype=dtype,
                                                        backend=None if backend == "numpy" else b,
                                                        chunk=n_targets_batch)
            return RidgeFit(dual, best, scores, len(folds), basis)
        best, coefs, scores = solve_ridge_cv_svd(
            b.asarray(x, dtype=dtype), b.asarray(y, dtype=dtype), alphas=b.asarray(chosen, dtype=dtype),
            fit_intercept=False, cv=folds, local_alpha=True, n_targets_batch=n_targets_batch,
            n_targets_batch_refit=n_targets_batch, warn=False)
        out = [np.asarray(b.to_numpy(v), dtype=np.float64) for v in (coefs, best, scores)]
    return RidgeFit(out[0], out[1], out[2].reshape(-1), len(folds))


def fit_banded_ridge(xs: Sequence[Any], y: Any, groups: Any, *, alphas: Sequence[float] = DEFAULT_ALPHAS,
                     n_iter: int = 32, n_folds: int | None = None, backend: str = "numpy", seed: int = 0,
                     dtype: str | None = None) -> tuple[RidgeFit, np.ndarray]:
    """Banded ridge: one penalty per feature space and voxel, chosen across stories (himalaya).

    himalaya's ``solve_group_ridge_random_search`` scales feature space ``i`` by
    ``exp(delta_i / 2)`` and fits a unit-penalty ridge; the log weights
    ``delta = log(gamma / alpha)`` are searched over ``n_iter`` points ``gamma``
    of the simplex (Dirichlet, seeded) times the ``alphas``, each voxel keeping
    its best by cross-validation over whole stories.

    Parameters
    ----------
    xs : list of array, each shape (n_rows, n_features_i)
        The feature spaces (e.g. the units, the controls).
    y : array, shape (n_rows, n_voxels)
    groups : array, shape (n_rows,)
        The story of each row.
    alphas, n_folds, backend, dtype
        As for :func:`fit_ridge`.
    n_iter : int
        Points of the simplex tried.
    seed : int
        Seeds the search.

    Returns
    -------
    fit : RidgeFit
        ``coefs`` on the unscaled, concatenated features; ``alphas`` the chosen
        ``alpha`` (``1 / sum(exp(delta))``): space ``i`` is penalised by
        ``alpha / share_i``. ``cv_score`` is not recorded (NaN).
    shares : ndarray, float64, shape (n_spaces, n_voxels)
        Each space's share ``exp(delta_i) / sum_j exp(delta_j)`` (the simplex point).
    """
    from himalaya.ridge import solve_group_ridge_random_search

    check_positive_int("n_iter", n_iter)
    check_seed(seed)
    blocks = [np.asarray(x) for x in xs]
    if len(blocks) < 2:
        raise ToposcopeError(f"banded ridge needs at least 2 feature spaces, got {len(blocks)}")
    _, y = _check_design(np.hstack(blocks), y)
    folds = story_folds(groups, n_folds)
    chosen = np.asarray(alphas, dtype=np.float64)
    dtype = dtype or ("float64" if backend == "numpy" else "float32")
    with _backend(backend) as b:
        deltas, weights, _ = solve_group_ridge_random_search(
            [b.asarray(block, dtype=dtype) for block in blocks], b.asarray(y, dtype=dtype), n_iter=n_iter,
            alphas=b.asarray(chosen, dtype=dtype), fit_intercept=False, cv=folds, return_weights=True,
            local_alpha=True, random_state=seed, progress_bar=False, warn=False)
        deltas = np.asarray(b.to_numpy(deltas), dtype=np.float64)
        weights = np.asarray(b.to_numpy(weights), dtype=np.float64)
    # himalaya's refit weights are already on the unscaled features: space i is penalised
    # by alpha / gamma_i = exp(-delta_i).
    gamma = np.exp(deltas)
    shares = gamma / gamma.sum(axis=0, keepdims=True)
    return RidgeFit(weights, 1.0 / gamma.sum(axis=0), np.full(y.shape[1], np.nan), len(folds)), shares


def ridge_at(x: Any, y: Any, alphas: Any, backend: str = "numpy") -> np.ndarray:
    """Ridge coefficients at given per-voxel penalties (no search), shape (n_features, n_voxels)."""
    from himalaya.ridge import solve_ridge_svd

    x, y = _check_design(x, y)
    values = np.broadcast_to(np.asarray(alphas, dtype=np.float64), (y.shape[1],))
    with _backend(backend) as b:
        dtype = "float64" if backend == "numpy" else "float32"
        coefs = solve_ridge_svd(b.asarray(x, dtype=dtype), b.asarray(y, dtype=dtype),
                                alpha=b.asarray(np.ascontiguousarray(values), dtype=dtype), fit_intercept=False,
                                warn=False)
        return np.asarray(b.to_numpy(coefs), dtype=np.float64)


def paired_r(a: Any, b: Any) -> np.ndarray:
    """Pearson r of column ``i`` of ``a`` with column ``i`` of ``b``; 0 where either is constant.

    Returns
    -------
    ndarray, float64, shape (n_columns,)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norm = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    return np.divide(np.einsum("ij,ij->j", a, b), norm, out=np.zeros(a.shape[1]), where=norm > 0)


def block_permutation_p(predicted: Any, observed: Any, *, block: int = 10, n_permutations: int = 1000,
                        seed: int = 0) -> np.ndarray:
    """One-sided p-value of each voxel's r against predictions shuffled in blocks of TRs.

    Blocks of ``block`` consecutive TRs keep the autocorrelation of the BOLD
    signal within them (the Huth-lab ``permutation_test`` uses blocks of 10);
    ``p = (1 + #{r_perm >= r}) / (1 + n_permutations)``.

    Returns
    -------
    ndarray, float64, shape (n_voxels,)
    """
    check_positive_int("block", block)
    check_positive_int("n_permutations", n_permutations)
    check_seed(seed)
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    n_blocks = predicted.shape[0] // block
    if n_blocks < 2:
        raise ToposcopeError(f"{predicted.shape[0]} test TRs make fewer than 2 blocks of {block}; "
                             "use a smaller block or more test TRs")
    usable = n_blocks * block
    true = observed[:usable]
    r = paired_r(predicted[:usable], true)
    rng = np.random.default_rng(seed)
    above = np.zeros(r.shape)
    blocks = np.arange(usable).reshape(n_blocks, block)
    for _ in range(n_permutations):
        order = blocks[rng.permutation(n_blocks)].ravel()
        above += paired_r(predicted[order], true) >= r
    return (1.0 + above) / (1.0 + n_permutations)


def fdr(p: Any, q: float = 0.05) -> np.ndarray:
    """Benjamini-Hochberg: True where a voxel is significant at false-discovery rate ``q``."""
    from scipy.stats import false_discovery_control

    values = np.asarray(p, dtype=np.float64)
    if not 0 < q < 1:
        raise ToposcopeError(f"q must be between 0 and 1, got {q!r}")
    return false_discovery_control(values, method="bh") <= q
