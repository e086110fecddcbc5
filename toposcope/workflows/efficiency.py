"""Efficiency of topographic models (TopoNets section 3.3): pruning and sheet-downsampling curves.

A curve measures a model's performance as more of it is taken away, against
the intact model. ``performance`` is any callable ``performance(model) ->
float``; :func:`toposcope.surgery.accuracy` (labelled images) and
:func:`toposcope.surgery.perplexity` (texts) are ready-made. Measures with a
``higher_is_better`` attribute tell the figures which way is worse.

* :func:`pruning_curve`: L1 unstructured pruning (``torch.nn.utils.prune``) of
  the topographic layers' weights at each fraction, all layers under one
  magnitude threshold (``scope="global"``) or one layer at a time
  (``scope="layer"``: the curve has a ``layer`` dim). The model is restored
  after every level, bit for bit, also when the measure raises
  (:func:`toposcope.surgery.pruned`).
* :func:`downsampling_curve`: the topographic layers' sheets downsampled by each
  factor into a smaller working copy (:func:`toposcope.surgery.downsample`),
  with its parameter count.
* :func:`efficiency`: both in one Dataset, as ``toposcope efficiency`` writes it.

This module runs forward passes (through ``performance``), so it sits beside
the extraction, not in :mod:`toposcope.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option
from toposcope.surgery.downsample import _layer_names, downsample, pooled_grid
from toposcope.surgery.pruning import SCOPES, check_fraction, prune_targets, pruned

__all__ = ["DEFAULT_FRACTIONS", "downsampling_curve", "efficiency", "measure_info", "pruning_curve"]

#: Fractions pruned when none are given: 0, 0.1, ..., 0.9.
DEFAULT_FRACTIONS = tuple(round(0.1 * i, 1) for i in range(10))


def measure_info(performance: Callable) -> dict[str, Any]:
    """``measure`` (name) and ``higher_is_better`` of a performance callable."""
    if not callable(performance):
        raise ToposcopeError(f"performance must be a callable performance(model) -> float, got "
                             f"{type(performance).__name__}")
    name = getattr(performance, "name", None) or getattr(performance, "__name__", None) or "performance"
    return {"measure": str(name), "higher_is_better": int(bool(getattr(performance, "higher_is_better", True)))}


def _evaluate(performance: Callable, model: Any, what: str) -> float:
    value = performance(model)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ToposcopeError(f"performance returned {type(value).__name__}, not a number ({what})") from None
    if not np.isfinite(value):
        raise ToposcopeError(f"performance returned {value} ({what}); it must be a finite number")
    return value


def _fractions(fractions: Iterable[float]) -> np.ndarray:
    values = [check_fraction(f, "prune fraction") for f in fractions]
    if not values:
        raise ToposcopeError("give at least one fraction to prune, e.g. 0,0.1,...,0.9")
    if len(set(values)) != len(values):
        raise ToposcopeError(f"prune fractions repeat: {values}")
    return np.asarray(values, dtype=np.float64)


def _model_of(subject: Any) -> Any:
    return subject.model if hasattr(subject, "select") and hasattr(subject, "model") else subject


def _provenance(subject: Any) -> dict[str, Any]:
    from toposcope.io import provenance

    extra = subject.provenance() if hasattr(subject, "provenance") else {"model": type(subject).__name__}
    return provenance(**extra)


def _with_changes(data: dict, dims: tuple[str, ...], values: np.ndarray, baseline: float) -> None:
    data["performance"] = (dims, values)
    data["change"] = (dims, values - baseline)
    if baseline != 0:
        data["relative_change"] = (dims, (values - baseline) / abs(baseline))


@contextmanager
def _kept(targets: Sequence[Any]) -> Iterator[None]:
    """Put the targets' weight values back as they were when the block ends."""
    import torch

    params = [getattr(t.module, t.name) for t in targets]
    saved = [p.detach().clone() for p in params]
    try:
        yield
    finally:
        with torch.no_grad():
            for target, value in zip(targets, saved):
                current = getattr(target.module, target.name)
                if not torch.equal(current, value):
                    current.copy_(value)


def pruning_curve(
    subject: Any,
    performance: Callable,
    fractions: Iterable[float] = DEFAULT_FRACTIONS,
    *,
    layers: Iterable[str] | str | None = None,
    scope: str = "global",
    baseline: float | None = None,
) -> xr.Dataset:
    """Performance against the fraction of smallest-magnitude weights zeroed.

    Parameters
    ----------
    subject : Subject or torch.nn.Module
        Pruned in place and restored after each level (see
        :func:`toposcope.surgery.pruned`).
    performance : callable
        ``performance(model) -> float``.
    fractions : iterable of float in [0, 1]
        Shares of the weights zeroed, each level starting from the intact model.
    layers : str or iterable of str, optional
        Topographic layers pruned (all by default); a bare module needs names.
    scope : {"global", "layer"}
        One threshold over all layers' weights pooled, or each layer pruned
        alone (the others intact).
    baseline : float, optional
        The intact model's performance, if already known.

    Returns
    -------
    xr.Dataset
        ``performance``, ``change`` (minus the intact model's) and, for a
        non-zero baseline, ``relative_change``: dims ``(fraction,)`` for
        ``"global"``, ``(fraction, layer)`` for ``"layer"``. ``pruned``
        ``(fraction, layer)``: weights zeroed in each layer. Coords ``fraction``,
        ``layer``, ``n_weights`` (per layer). Attrs ``baseline``, ``measure``,
        ``higher_is_better``, ``scope``, ``method`` and the model's provenance.
    """
    check_option("scope", scope, SCOPES)
    levels = _fractions(fractions)
    targets = prune_targets(subject, layers)
    model = _model_of(subject)
    info = measure_info(performance)
    if baseline is None:
        baseline = _evaluate(performance, model, "intact model")
    labels = [t.label for t in targets]
    shape = (len(levels),) if scope == "global" else (len(levels), len(targets))
    values = np.full(shape, np.nan)
    counts = np.zeros((len(levels), len(targets)), dtype=np.int64)
    groups = [targets] if scope == "global" else [[t] for t in targets]
    # pruned() restores the layers it prunes; this snapshot also covers the layers left
    # intact at a level (scope="layer"), should the measure write into them.
    with _kept(targets):
        for i, fraction in enumerate(levels):
            for j, group in enumerate(groups):
                if fraction == 0:
                    value = baseline  # nothing to zero: the intact model
                else:
                    with pruned(group, fraction, scope) as zeroed:
                        value = _evaluate(performance, model, f"{fraction:g} pruned")
                    for target in group:
                        counts[i, labels.index(target.label)] = zeroed[target.label]
                if scope == "global":
                    values[i] = value
                else:
                    values[i, j] = value
    data: dict[str, Any] = {"pruned": (("fraction", "layer"), counts)}
    _with_changes(data, ("fraction",) if scope == "global" else ("fraction", "layer"), values, baseline)
    coords = {"fraction": levels, "layer": np.asarray(labels, dtype=object),
              "n_weights": ("layer", np.asarray([t.numel for t in targets], dtype=np.int64))}
    attrs = {**_provenance(subject), **info, "baseline": float(baseline), "scope": scope,
             "method": "L1 unstructured (torch.nn.utils.prune), restored after each level"}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _factor_values(factors: Any) -> list[Any]:
    if isinstance(factors, (str, int, float, np.integer, np.floating)) and not isinstance(factors, bool):
        factors = [factors]
    if isinstance(factors, tuple) and len(factors) == 2 and all(isinstance(f, (int, float)) for f in factors):
        factors = [factors]  # one (f_h, f_w) pair
    factors = list(factors)
    if not factors:
        raise ToposcopeError("give at least one downsampling factor, e.g. 2")
    for factor in factors:
        pooled_grid((1, 1), factor)  # checks each factor
    return factors


def _factor_label(factor: Any) -> float:
    from toposcope.sheet.geometry import shrink_factors

    f_h, f_w = shrink_factors(factor)
    if f_h != f_w:
        raise ToposcopeError(f"a downsampling curve takes one factor per level (same on both axes), got {factor!r}")
    return f_h


def downsampling_curve(
    subject: Any,
    performance: Callable,
    factors: Any = (2,),
    *,
    layers: Iterable[str] | str | None = None,
    following: Mapping[str, str] | None = None,
    baseline: float | None = None,
) -> xr.Dataset:
    """Performance of the smaller model made by downsampling the topographic sheets by each factor.

    Parameters
    ----------
    subject : Subject or torch.nn.Module
        Never modified: each level works on a deep copy.
    performance : callable
        ``performance(model) -> float``.
    factors : float or sequence of float
        Shrink factors (the same along rows and columns), each >= 1.
    layers : str or iterable of str, optional
        Layers downsampled together at each level (all topographic layers by default).
    following : mapping of str to str, optional
        See :func:`toposcope.surgery.downsample`.
    baseline : float, optional
        The intact model's performance, if already known.

    Returns
    -------
    xr.Dataset, dim ``factor``
        ``performance``, ``change``, ``relative_change`` (non-zero baseline);
        coords ``fraction_removed`` (share of the layers' units removed),
        ``units``, ``n_parameters`` (the working model's) and
        ``n_parameters_layer_only`` (counting only the downsampled layers' own
        weights, see :attr:`toposcope.surgery.Downsampled.parameters_layer_only`).
        Attrs ``baseline``, ``n_parameters_before``, ``units_before``,
        ``layers``, ``following``, ``measure``, ``higher_is_better``, ``method``.
    """
    levels = _factor_values(factors)
    labels = [_factor_label(f) for f in levels]
    if len(set(labels)) != len(labels):
        raise ToposcopeError(f"downsampling factors repeat: {labels}")
    info = measure_info(performance)
    model = _model_of(subject)
    if baseline is None:
        baseline = _evaluate(performance, model, "intact model")
    values, removed, units, params, layer_only = [], [], [], [], []
    result = None
    for factor in levels:
        result = downsample(subject, layers, factor, following=following)
        values.append(_evaluate(performance, result.model, f"downsampled by {factor}"))
        removed.append(result.fraction_removed)
        units.append(sum(c.units_after for c in result.changes))
        params.append(result.parameters_after)
        layer_only.append(result.parameters_layer_only)
        result.model = result.subject = None  # free each copy before the next
    data: dict[str, Any] = {}
    _with_changes(data, ("factor",), np.asarray(values, dtype=np.float64), baseline)
    coords = {"factor": np.asarray(labels, dtype=np.float64),
              "fraction_removed": ("factor", np.asarray(removed)),
              "units": ("factor", np.asarray(units, dtype=np.int64)),
              "n_parameters": ("factor", np.asarray(params, dtype=np.int64)),
              "n_parameters_layer_only": ("factor", np.asarray(layer_only, dtype=np.int64))}
    attrs = {**_provenance(subject), **info, "baseline": float(baseline),
             "n_parameters_before": int(result.parameters_before),
             "units_before": int(sum(c.units_before for c in result.changes)),
             "layers": ", ".join(c.layer for c in result.changes),
             "following": ", ".join(c.following for c in result.changes),
             "method": "block-average pooling of the layer's TopoLoss sheet, block sums in the next layer"}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def efficiency(
    subject: Any,
    performance: Callable,
    *,
    prune: Sequence[float] | None = DEFAULT_FRACTIONS,
    scope: str = "global",
    layers: Iterable[str] | str | None = None,
    downsample_factors: Any = None,
    downsample_layers: Iterable[str] | str | None = None,
) -> xr.Dataset:
    """Pruning and/or downsampling curves of one model in one Dataset.

    Parameters
    ----------
    subject, performance
        As in :func:`pruning_curve`.
    prune : sequence of float, optional
        Fractions for :func:`pruning_curve`; ``None`` skips pruning.
    scope, layers
        Of the pruning.
    downsample_factors : float or sequence of float, optional
        Factors for :func:`downsampling_curve`; ``None`` skips downsampling.
    downsample_layers : str or iterable of str, optional
        Layers downsampled (all topographic layers by default).

    Returns
    -------
    xr.Dataset
        The pruning curve's variables as in :func:`pruning_curve`; the
        downsampling curve's prefixed ``downsampled_`` (``downsampled_performance``,
        ``downsampled_change``, ...) on dim ``factor`` with its coords; attrs
        ``baseline``, ``measure``, ``higher_is_better`` and provenance.
    """
    if prune is None and downsample_factors is None:
        raise ToposcopeError("nothing to measure: give prune fractions, downsampling factors or both")
    info = measure_info(performance)
    # Check every option before the first (possibly long) evaluation.
    if prune is not None:
        _fractions(prune)
        check_option("scope", scope, SCOPES)
        prune_targets(subject, layers)
    if downsample_factors is not None:
        _factor_values(downsample_factors)
        _layer_names(subject, downsample_layers)
    baseline = _evaluate(performance, _model_of(subject), "intact model")
    parts = []
    if prune is not None:
        parts.append(pruning_curve(subject, performance, prune, layers=layers, scope=scope, baseline=baseline))
    if downsample_factors is not None:
        curve = downsampling_curve(subject, performance, downsample_factors, layers=downsample_layers,
                                   baseline=baseline)
        renamed = curve.rename({name: f"downsampled_{name}" for name in curve.data_vars})
        renamed.attrs = {f"downsample_{k}": v for k, v in curve.attrs.items()
                         if k in ("n_parameters_before", "units_before", "layers", "following", "method")}
        parts.append(renamed)
    merged = xr.merge(parts, combine_attrs="drop")
    merged.attrs = {**_provenance(subject), **info, "baseline": baseline}
    for part in parts:
        merged.attrs.update({k: v for k, v in part.attrs.items() if k not in merged.attrs})
    return merged
