"""Component maps: the principal components of a layer's responses, each drawn on the sheet.

Topoformer (``cookbook/visualizations.py``, ``apply_pca`` and
``plot_pca_results``) fits ``sklearn.decomposition.PCA(n_components=10)`` to the
responses (stimuli x units), draws each component's weights (``components_``,
one per unit) as a map on the sheet and plots ``explained_variance_ratio_``.
:func:`component_maps` returns the same: the loadings on the unit dim (so they
keep the sheet positions), the explained variance and its ratio, and each
stimulus's scores, which :mod:`toposcope.brain.components` compares with brain
components.

Solvers (``solver=``):

``"covariance"``
    The unit covariance ``Xc^T Xc / (n - 1)`` summed over blocks of stimuli (so
    file- or dask-backed responses stream), its top eigenvectors, and scores
    from a second pass. Only the top eigenvectors are computed (LAPACK's
    ``syevr`` through ``scipy.linalg.eigh(subset_by_index=...)``), about three
    times faster than the full decomposition, on one BLAS thread for layers
    of up to :data:`SERIAL_EIGEN_UNITS` units (faster there, and steady on a
    busy machine: ``benchmarks/bench_topoformer.py``). The same subspace
    as scikit-learn's exact solvers (``svd_solver="covariance_eigh"``).
``"full"``
    ``PCA(svd_solver="full")`` on the responses in memory.
``"randomized"``
    ``PCA(svd_solver="randomized", random_state=seed)``: what ``PCA()`` picks
    (``"auto"``) for the reference's shapes; an approximation.
``"auto"`` (default)
    ``"covariance"`` when there are at least as many stimuli as units or the
    responses do not fit ``memory``, else ``"full"``.

Signs follow scikit-learn (``svd_flip(u_based_decision=False)``): the largest
loading of each component, in absolute value, is positive, whatever the solver.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int, check_seed
from toposcope.analysis._responses import block_rows, check_responses, stimulus_blocks

__all__ = ["SOLVERS", "component_maps", "components_by_layer"]

SOLVERS = ("auto", "covariance", "full", "randomized")
#: Above this many units the covariance (units x units, float64) is refused.
MAX_COVARIANCE_UNITS = 16384


def _flip(vectors: np.ndarray) -> np.ndarray:
    """Rows signed so that each one's largest absolute entry is positive (scikit-learn's svd_flip on V)."""
    biggest = np.argmax(np.abs(vectors), axis=1)
    signs = np.sign(vectors[np.arange(len(vectors)), biggest])
    signs[signs == 0] = 1.0
    return vectors * signs[:, None]


#: Up to this many units the eigendecomposition runs on one BLAS thread (see :func:`_top_eigen`).
SERIAL_EIGEN_UNITS = 4096


def _top_eigen(matrix: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues and their eigenvectors (columns) of a symmetric matrix."""
    from scipy.linalg import eigh

    n = len(matrix)
    if n > SERIAL_EIGEN_UNITS:
        return eigh(matrix, subset_by_index=[n - k, n - 1], driver="evr")
    # The reduction to tridiagonal form is a long chain of small matrix-vector
    # steps: on a layer of hundreds of units, splitting each step over BLAS
    # threads costs more in hand-offs than it saves, and on a busy machine the
    # threads wait on each other (768 units: 0.05 s on one thread, 0.1-2 s on
    # two). Same LAPACK routine, same result.
    with _blas_threads().limit(limits=1, user_api="blas"):
        return eigh(matrix, subset_by_index=[n - k, n - 1], driver="evr")


@functools.cache
def _blas_threads() -> Any:
    """A controller of the loaded BLAS libraries' thread pools (finding them reads the process's maps: once)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _covariance(checked: Any, k: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Loadings (k, units), variances (k,), total variance and scores (stimuli, k), streamed."""
    responses, mean = checked.responses, checked.mean
    n, n_units = checked.n_stimuli, checked.n_units
    cross = np.zeros((n_units, n_units))
    rows = block_rows(n_units)
    for _, block in stimulus_blocks(responses, rows):
        centred = block.astype(np.float64) - mean
        cross += centred.T @ centred
    cross /= n - 1
    total = float(np.trace(cross))
    values, vectors = _top_eigen(cross, k)
    order = np.argsort(values)[::-1]
    loadings = _flip(vectors[:, order].T)
    scores = np.empty((n, k))
    for stimuli, block in stimulus_blocks(responses, rows):
        scores[stimuli] = (block.astype(np.float64) - mean) @ loadings.T
    return loadings, np.maximum(values[order], 0.0), total, scores


def _sklearn(checked: Any, k: int, solver: str, seed: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    from sklearn.decomposition import PCA

    data = np.asarray(checked.responses.values, dtype=np.float64)
    pca = PCA(n_components=k, svd_solver=solver, random_state=seed if solver == "randomized" else None)
    pca.fit(data)
    loadings = _flip(pca.components_)
    scores = (data - pca.mean_) @ loadings.T
    total = float(pca.explained_variance_[0] / pca.explained_variance_ratio_[0]) if pca.explained_variance_ratio_[0] \
        else float(data.var(0, ddof=1).sum())
    return loadings, pca.explained_variance_, total, scores


def component_maps(
    responses: Any,
    *,
    n_components: int = 10,
    solver: str = "auto",
    memory: float = 1 << 30,
    seed: int = 0,
) -> xr.Dataset:
    """Principal components of one layer's responses, as maps on its sheet.

    Parameters
    ----------
    responses : xr.DataArray, dims (stimulus, unit)
        One layer (numpy-, dask- or file-backed), unit coords kept on the maps.
    n_components : int
        Components kept (Topoformer: 10); at most ``min(n_stimuli - 1, n_units)``.
    solver : {"auto", "covariance", "full", "randomized"}
        See the module notes; all give scikit-learn's signs.
    memory : float
        Bytes the responses may take in memory (float64) for ``"auto"`` to pick ``"full"``.
    seed : int
        Seeds ``"randomized"``.

    Returns
    -------
    xr.Dataset
        ``loadings`` (component, unit): each component's weight per unit, a map
        (unit coords kept); ``explained_variance`` and ``explained_variance_ratio``
        (component); ``scores`` (stimulus, component): each stimulus's projection
        on the components (stimulus coords kept). Components are numbered from 1.
        Attrs: ``solver`` (the one used), ``n_components``, ``total_variance``,
        ``seed``, counts and the layer.

    Raises
    ------
    ToposcopeError
        Too many components, an unknown solver, too few stimuli, non-finite values.
    """
    check_option("solver", solver, SOLVERS)
    check_positive_int("n_components", n_components)
    check_seed(seed)
    checked = check_responses(responses, min_stimuli=3, what="responses")
    n, n_units = checked.n_stimuli, checked.n_units
    most = min(n - 1, n_units)
    if n_components > most:
        raise ToposcopeError(
            f"n_components={n_components} is more than the {most} components {n} stimuli and {n_units} units "
            f"allow; use n_components <= {most}"
        )
    used = solver
    if solver == "auto":
        used = "covariance" if n >= n_units or n * n_units * 8 > memory else "full"
    if used == "covariance" and n_units > MAX_COVARIANCE_UNITS:
        raise ToposcopeError(
            f"the covariance of {n_units} units does not fit in memory; use solver='full' or 'randomized' "
            "(responses in memory), or fewer units"
        )
    if used == "covariance":
        loadings, variances, total, scores = _covariance(checked, n_components)
    else:
        loadings, variances, total, scores = _sklearn(checked, n_components, used, seed)
    component = np.arange(1, n_components + 1)
    source = checked.responses
    unit_coords = {k: c.variable for k, c in source.coords.items() if c.dims == ("unit",)}
    stimulus_coords = {k: c.variable for k, c in source.coords.items() if c.dims == ("stimulus",)}
    attrs = {**checked.attrs(), "n_units": n_units, "solver": used, "n_components": int(n_components),
             "total_variance": total, "seed": seed,
             "reference": "Topoformer apply_pca: sklearn PCA(n_components=10) of stimuli x units"}
    return xr.Dataset(
        {
            "loadings": (("component", "unit"), loadings.astype(np.float32)),
            "explained_variance": ("component", np.asarray(variances, dtype=np.float64)),
            "explained_variance_ratio": ("component", np.asarray(variances, dtype=np.float64) / total
                                         if total > 0 else np.zeros(n_components)),
            "scores": (("stimulus", "component"), scores.astype(np.float32)),
        },
        coords={"component": component, **unit_coords, **stimulus_coords},
        attrs=attrs,
    )


def components_by_layer(responses: Any, **options: Any) -> xr.Dataset:
    """:func:`component_maps` of each layer of an extraction.

    Parameters
    ----------
    responses : mapping of str to xr.DataArray
        ``{layer: responses}`` over the same stimuli, as :func:`toposcope.extract` returns.
    **options
        Passed to :func:`component_maps` (``n_components``, ``solver``, ...).

    Returns
    -------
    xr.Dataset
        ``loadings`` (component, unit) with the layers' units one after the
        other (told apart by the unit coord ``layer``, as multi-layer t-maps
        are); ``explained_variance``, ``explained_variance_ratio``
        (layers, component); ``scores`` (layers, stimulus, component);
        ``solver`` and ``total_variance`` (layers). The per-layer dim is
        ``layers`` (as the localizer's) because ``layer`` names the unit coord.
    """
    from collections.abc import Mapping

    if not isinstance(responses, Mapping) or not responses:
        raise ToposcopeError("responses must be a non-empty {layer: DataArray} mapping, as toposcope.extract returns")
    names = [str(n) for n in responses]
    parts = [component_maps(r, **options) for r in responses.values()]
    loadings = xr.concat([p["loadings"] for p in parts], dim="unit", coords="minimal", compat="override",
                         join="outer", combine_attrs="drop")
    per_layer = xr.concat([p[["explained_variance", "explained_variance_ratio", "scores"]] for p in parts],
                          dim="layers", coords="minimal", compat="override", combine_attrs="drop")
    out = per_layer.assign_coords(layers=names).assign(loadings=loadings)
    out["solver"] = ("layers", [p.attrs["solver"] for p in parts])
    out["total_variance"] = ("layers", [p.attrs["total_variance"] for p in parts])
    out.attrs = {k: parts[0].attrs[k] for k in ("n_components", "seed", "reference", "n_stimuli")}
    return out
