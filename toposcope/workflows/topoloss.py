"""TopoLoss of each topographic layer of a model, as ``toposcope topoloss`` reports it.

The measure itself (:func:`~toposcope.analysis.topoloss.topoloss_of_weight`, a
pure function of one weight tensor) lives in :mod:`toposcope.analysis.topoloss`;
this runner finds each layer's weight in a loaded model and records the result
with the model's provenance.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_option
from toposcope.analysis.topoloss import (
    DEFAULT_FACTOR,
    INTERPOLATIONS,
    _is_transposed,
    topoloss_of_weight,
)
from toposcope.sheet.geometry import grid_shape, shrink_factors

__all__ = ["layer_topoloss"]


def _weight_of(model: Any, name: str) -> tuple[Any, Any]:
    """The parameter ``name`` of ``model`` and the module that owns it."""
    params = dict(model.named_parameters())
    if name not in params:
        raise ToposcopeError(f"model has no parameter {name!r}; check the layer's weight name")
    owner = name.rsplit(".", 1)[0] if "." in name else ""
    return params[name], model.get_submodule(owner) if owner else model


def layer_topoloss(
    subject: Any,
    layers: Iterable[str] | str | None = None,
    factor: Any = DEFAULT_FACTOR,
    interpolation: str = "bilinear",
) -> Any:
    """TopoLoss of each topographic layer of a model.

    Parameters
    ----------
    subject : Subject or str
        A loaded :class:`~toposcope.models.subject.Subject` or a model spec
        (``"demo/topo"``), loaded with :func:`toposcope.load_model`.
    layers : str or iterable of str, optional
        Layer names; all topographic layers by default. Each needs a weight
        (``TopoLayer.weight``).
    factor : float, (float, float) or "H,W"
        Shrink factors ``(factor_h, factor_w)``; one number for both.
    interpolation : str
        ``F.interpolate`` mode.

    Returns
    -------
    xr.DataArray, dims (layer,)
        Named ``topoloss``; coords ``n_units``, ``grid_h``, ``grid_w``; attrs
        the factors, the interpolation and the model's provenance.
    """
    import torch
    import xarray as xr

    from toposcope.io import provenance

    if isinstance(subject, str):
        from toposcope.models.registry import load_model

        subject = load_model(subject)
    factor_h, factor_w = shrink_factors(factor)
    check_option("interpolation", interpolation, INTERPOLATIONS)
    chosen = subject.select(layers)
    values, units, heights, widths = [], [], [], []
    for layer in chosen:
        if layer.weight is None:
            raise ToposcopeError(
                f"layer {layer.name!r} has no weight for TopoLoss (only Conv2d / Linear layers do); "
                "leave it out with layers=[...]"
            )
        weight, module = _weight_of(subject.model, layer.weight)
        transpose = _is_transposed(module, weight, layer.n_units)
        try:
            with torch.no_grad():
                value = topoloss_of_weight(weight.detach().float(), factor_h, factor_w, interpolation,
                                           transpose=transpose)
        except ToposcopeError as error:
            raise ToposcopeError(f"layer {layer.name!r}: {error}") from None
        n = int(weight.shape[1] if transpose else weight.shape[0])
        h, w = grid_shape(n)
        values.append(float(value))
        units.append(n)
        heights.append(h)
        widths.append(w)
    names = [layer.name for layer in chosen]
    return xr.DataArray(
        np.asarray(values, dtype=np.float64),
        dims=("layer",),
        coords={"layer": np.asarray(names, dtype=object), "n_units": ("layer", units),
                "grid_h": ("layer", heights), "grid_w": ("layer", widths)},
        name="topoloss",
        attrs=provenance(**subject.provenance(), factor_h=factor_h, factor_w=factor_w,
                         interpolation=interpolation, measure="TopoLoss (1 - mean cosine to blurred sheet)"),
    )
