"""Smoothness scores of a distance curve, raw and against shuffled sheet positions.

:func:`score` reduces a curve of :func:`toposcope.analysis.smoothness.curve` (or
``selectivity_curve``) to one number, the TopoNets or the TDANN way;
:func:`scores` adds the chance level of that number from the curve's
shuffled-position curves: their mean score, a band, the chance-corrected score
and a permutation p-value. Both are re-exported by
:mod:`toposcope.analysis.smoothness`.

Whose choice is whose
---------------------
*Paper* (TopoNets, Deb, Deb & Murty, ICLR 2025): the score is "the difference
between the highest and lowest correlation values" of the correlation-vs-distance
curve; for the curve itself the paper points to TDANN. No public code of the
score was found (toponets/toponets ships the models, murtylab/topoloss the loss).

*TDANN* (Margalit et al., Neuron 2024; neuroailab/TDANN, ``spacetorch``): how the
curve is made (see :func:`toposcope.analysis.smoothness.curve`: 15 equal bins from
the shortest to the longest pair distance, pairs within windows in sampled mode),
the ``"tdann"`` score ``(max(c) - c[0]) / max(c)`` (``spatial_utils.smoothness``),
and a shuffled control (TDANN shuffles distances within each sample).

*Ours* (toposcope): bins holding fewer than ``min_pairs`` pairs do not enter the
score (:data:`MIN_PAIRS`); the shuffled control permutes unit positions (see
``curve``) and is repeated ``n_shuffles`` times; the chance level is the mean score
of the shuffled curves, scored on the same bins, and the chance-corrected score is
the score minus that level. Neither paper reports a chance-corrected score.

Why the minimum: on a grid sheet the longest distances join a few corner units
(an 8 x 8 sheet has 2 pairs at its diagonal), so the far bins are means of a
handful of correlations and swing towards +-1; the highest minus the lowest bin
then measures that noise, and a random network outscored a topographic one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option

__all__ = ["CHANCE_LEVEL", "KINDS", "MIN_PAIRS", "score", "scores"]

KINDS = ("toponets", "tdann")

#: Default fewest pairs a bin needs to enter a score. A bin mean over 20
#: correlations whose pair-to-pair SD is a typical 0.2-0.3 has a standard error of
#: about 0.05-0.07, already the size of a weak distance effect; bins below that are
#: the far corners of a grid sheet (an 8 x 8 sheet keeps 13 of its 15 bins, a
#: 4 x 4 sheet with 120 pairs in all keeps its 2 fullest).
MIN_PAIRS = 20

#: Default central probability of the chance band (2.5 % to 97.5 % of shuffle scores).
CHANCE_LEVEL = 0.95


def _check_min_pairs(min_pairs: Any) -> int:
    if isinstance(min_pairs, bool) or not isinstance(min_pairs, (int, np.integer)) or min_pairs < 0:
        raise ToposcopeError(f"min_pairs must be a non-negative integer (0 keeps every non-empty bin), "
                             f"got {min_pairs!r}")
    return int(min_pairs)


def _curve_values(curve: Any, variable: str | None) -> tuple[np.ndarray, bool, np.ndarray | None]:
    """``(values, is_correlation, pairs)`` of a curve; ``pairs`` is None when the curve has none."""
    if isinstance(curve, xr.Dataset):
        if variable is None:
            variable = "correlation" if "correlation" in curve else "difference"
        if variable not in curve:
            raise ToposcopeError(
                f"curve has no variable {variable!r}; it holds {', '.join(map(repr, curve.data_vars))}"
            )
        correlation = curve.attrs.get("kind", variable) == "correlation"
        values = np.asarray(curve[variable].values, dtype=np.float64)
        pairs = np.asarray(curve["pairs"].values, dtype=np.float64) if "pairs" in curve else None
        if pairs is not None and pairs.shape != values.shape[-1:]:
            pairs = None
        if pairs is not None and curve.attrs.get("draws_per_pair", 0) > 1:
            # Random pairs are drawn with replacement: where draws outnumber the sheet's pairs, a bin's
            # draws repeat its few pairs, so count the pairs they stand for (draws / draws per pair).
            pairs = pairs / float(curve.attrs["draws_per_pair"])
        return values, correlation, pairs
    values = np.asarray(curve.values if isinstance(curve, xr.DataArray) else curve, dtype=np.float64)
    return values, False, None


def _masked(values: np.ndarray, pairs: np.ndarray | None, min_pairs: int) -> np.ndarray:
    """``values`` with the bins below ``min_pairs`` pairs, and those without any, set to NaN (empty)."""
    if pairs is None:
        return values
    return np.where(pairs >= max(min_pairs, 1), values, np.nan)


def _reduce(values: np.ndarray, kind: str, correlation: bool, min_pairs: int | None) -> float:
    """The score of one 1-D curve whose unusable bins are NaN."""
    if kind == "toponets":
        finite = values[np.isfinite(values)]
        if len(finite) == 0:
            if min_pairs:
                raise ToposcopeError(
                    f"no bin of the curve holds {min_pairs} or more pairs; use fewer (wider) bins "
                    "or a smaller min_pairs"
                )
            raise ToposcopeError("the curve has no non-empty bin; use wider or fewer bins")
        return float(finite.max() - finite.min())
    if correlation:
        values = 1.0 - values
    empty = np.flatnonzero(~np.isfinite(values))
    values = values[: empty[0]] if len(empty) else values
    if len(values) == 0:
        raise ToposcopeError("the first distance bin of the curve is empty (or below min_pairs); "
                             "use wider bins starting at the shortest distance")
    peak = values.max()
    if peak < 0:
        raise ToposcopeError("the TDANN score needs a non-negative change curve (e.g. |difference|)")
    if peak == 0:
        return 1.0
    return float((peak - values[0]) / peak)


def score(curve: xr.Dataset | xr.DataArray | Sequence[float], kind: str = "toponets",
          variable: str | None = None, *, min_pairs: int = MIN_PAIRS) -> float:
    """One smoothness number from a distance curve.

    Parameters
    ----------
    curve : xr.Dataset, xr.DataArray or sequence of float
        A result of :func:`~toposcope.analysis.smoothness.curve` or
        ``selectivity_curve`` (dim ``bin``), or the binned values themselves
        (empty bins as NaN).
    kind : {"toponets", "tdann"}
        ``"toponets"``: the highest minus the lowest binned value (the paper's
        definition), over the bins that hold at least ``min_pairs`` pairs.
        ``"tdann"``: ``(max(c) - c[0]) / max(c)`` with ``c`` truncated at its
        first empty bin, from neuroailab/TDANN ``spacetorch/utils/spatial_utils.py``
        (``smoothness``); a bin below ``min_pairs`` counts as empty. That
        definition assumes a curve of *change* rising with distance (TDANN
        scores |difference| curves), so a correlation curve is scored on its
        dissimilarity ``c = 1 - r``: ``(r[0] - min r) / (1 - min r)``. Where
        TDANN's code returns 1 for any flat curve, this returns 1 only when the
        change is zero everywhere and otherwise follows the formula (0 for a
        flat non-zero curve).
    variable : str, optional
        The Dataset variable to score; default ``correlation`` or ``difference``
        (``"chance"`` scores the first shuffled-position curve, on the curve's bins).
    min_pairs : int
        Fewest pairs a bin needs to enter the score (ours; default
        :data:`MIN_PAIRS`, 0 keeps every non-empty bin). Applies when the curve
        is a Dataset with ``pairs``; bare values carry no counts. For random
        pairs drawn more often than the sheet has pairs (attr
        ``draws_per_pair`` > 1), a bin counts ``pairs / draws_per_pair``, the
        sheet's pairs its draws stand for, so that repeats of a few corner
        pairs do not pass.

    Returns
    -------
    float
        Never NaN: a curve with no usable bin raises instead.
    """
    check_option("kind", kind, KINDS)
    min_pairs = _check_min_pairs(min_pairs)
    values, correlation, pairs = _curve_values(curve, variable)
    if values.ndim != 1:
        raise ToposcopeError(f"a curve must be 1-D (one value per bin), got shape {values.shape}")
    return _reduce(_masked(values, pairs, min_pairs), kind, correlation, min_pairs if pairs is not None else None)


def scores(curve: xr.Dataset, kind: str = "toponets", *, min_pairs: int = MIN_PAIRS,
           level: float = CHANCE_LEVEL) -> xr.Dataset:
    """The score of a curve beside its chance level from the shuffled-position curves.

    Each of the curve's ``shuffled`` curves (unit positions permuted; see
    :func:`~toposcope.analysis.smoothness.curve`) is scored like the curve, on
    the bins the curve's own pair counts allow, so that a curve with no
    topography scores like its shuffles whatever the noise of its bins.

    Parameters
    ----------
    curve : xr.Dataset, dims (bin,) and (shuffle, bin)
        A result of ``curve`` or ``selectivity_curve`` computed with ``chance=True``.
    kind : {"toponets", "tdann"}
        As in :func:`score`.
    min_pairs : int
        As in :func:`score`.
    level : float
        Central probability of the chance band, in (0, 1).

    Returns
    -------
    xr.Dataset of scalars
        ``score`` (as :func:`score`), ``chance`` (mean score of the shuffled
        curves), ``chance_low`` and ``chance_high`` (their ``(1 - level) / 2``
        and ``(1 + level) / 2`` quantiles), ``corrected`` (``score - chance``)
        and ``p_value`` (one-sided permutation p, ``(1 + #{shuffle >= score}) /
        (1 + n_shuffles)``). Attrs: ``kind``, ``min_pairs``, ``level``,
        ``n_shuffles`` (those with a usable bin), ``n_bins_scored``.

    Notes
    -----
    With ``n_shuffles`` shuffles the band's ends are interpolated order
    statistics: with the default 20 they sit near the lowest and highest
    shuffle score. Raise ``n_shuffles`` in ``curve`` for a finer band and p.
    """
    check_option("kind", kind, KINDS)
    min_pairs = _check_min_pairs(min_pairs)
    if isinstance(level, bool) or not isinstance(level, (float, int, np.floating)) or not 0 < level < 1:
        raise ToposcopeError(f"level must be a probability between 0 and 1 (0.95), got {level!r}")
    if not isinstance(curve, xr.Dataset) or "shuffled" not in curve:
        raise ToposcopeError("the curve has no shuffled-position curves ('shuffled'); compute it with "
                             "chance=True and n_shuffles >= 1")
    raw = score(curve, kind, min_pairs=min_pairs)
    _, correlation, pairs = _curve_values(curve, None)
    shuffled = np.asarray(curve["shuffled"].transpose(..., "bin").values, dtype=np.float64)
    chance = []
    for values in shuffled.reshape(-1, shuffled.shape[-1]):
        try:
            chance.append(_reduce(_masked(values, pairs, min_pairs), kind, correlation, min_pairs))
        except ToposcopeError:  # a shuffle with no usable bin (possible with sampled pairs) is left out
            continue
    if not chance:
        raise ToposcopeError("no shuffled curve has a usable bin; use fewer (wider) bins or a smaller min_pairs")
    chance = np.asarray(chance)
    low, high = np.quantile(chance, [(1 - level) / 2, (1 + level) / 2])
    used = np.isfinite(_masked(_curve_values(curve, None)[0], pairs, min_pairs))
    data = {
        "score": raw,
        "chance": float(chance.mean()),
        "chance_low": float(low),
        "chance_high": float(high),
        "corrected": float(raw - chance.mean()),
        "p_value": float((1 + np.sum(chance >= raw)) / (1 + len(chance))),
    }
    attrs = {"kind": kind, "min_pairs": min_pairs, "level": float(level), "n_shuffles": len(chance),
             "n_bins_scored": int(used.sum())}
    return xr.Dataset({name: ((), value) for name, value in data.items()}, attrs=attrs)
