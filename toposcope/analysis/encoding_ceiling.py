"""Noise ceiling of each voxel from repeated presentations of a story.

A test story heard several times (LeBel et al. 2023 repeat "wheretheressmoke")
bounds how well any model can predict the voxel's mean response over the
repeats. With ``N`` repeats ``R_n`` (TR series of one voxel) and their mean
``m``, the signal power of Sahani & Linden (2003) is

``SP = (N Var(m) - mean_n Var(R_n)) / (N - 1)``

(the variance the repeats share; noise averages out of ``Var(m)`` as ``1/N``),
and the highest correlation a model can reach with ``m`` is

``CC_max = sqrt(SP / Var(m))``   (Hsu, Borst & Theunissen 2004; Schoppe et al. 2016).

A model's correlation with the mean, ``CC_abs``, divided by ``CC_max`` is the
normalised correlation ``CC_norm``: 1 for a model as good as the data allow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError

__all__ = ["noise_ceiling", "normalized_r"]


def noise_ceiling(repeats: Any) -> np.ndarray:
    """Each voxel's ``CC_max``: the highest correlation a model can reach with the mean over repeats.

    Parameters
    ----------
    repeats : array, shape (n_repeats, n_trs, n_voxels)
        The same story's responses, one per presentation, on the same TRs.

    Returns
    -------
    ndarray, float64, shape (n_voxels,)
        In [0, 1]; 0 where the repeats share no signal (or the voxel is constant).
    """
    data = np.asarray(repeats, dtype=np.float64)
    if data.ndim != 3:
        raise ToposcopeError(f"repeats must have shape (repeats, TRs, voxels), got {data.shape}")
    n = data.shape[0]
    if n < 2:
        raise ToposcopeError(f"a noise ceiling needs at least 2 repeats of a story, got {n}")
    if data.shape[1] < 3:
        raise ToposcopeError(f"a noise ceiling needs at least 3 TRs, got {data.shape[1]}")
    var_mean = data.mean(axis=0).var(axis=0, ddof=1)
    mean_var = data.var(axis=1, ddof=1).mean(axis=0)
    signal_power = np.clip((n * var_mean - mean_var) / (n - 1), 0.0, None)
    ratio = np.divide(signal_power, var_mean, out=np.zeros_like(var_mean), where=var_mean > 0)
    return np.sqrt(np.clip(ratio, 0.0, 1.0))


def normalized_r(r: Any, ceiling: Any) -> np.ndarray:
    """``CC_norm = r / CC_max`` per voxel; NaN where the ceiling is 0 (no repeatable signal).

    Parameters
    ----------
    r : array, shape (n_voxels,)
        The model's correlation with the mean over repeats.
    ceiling : array, shape (n_voxels,)
        :func:`noise_ceiling`.
    """
    r = np.asarray(r, dtype=np.float64)
    ceiling = np.asarray(ceiling, dtype=np.float64)
    if r.shape != ceiling.shape:
        raise ToposcopeError(f"r {r.shape} and ceiling {ceiling.shape} must have one value per voxel each")
    return np.divide(r, ceiling, out=np.full(r.shape, np.nan), where=ceiling > 0)
