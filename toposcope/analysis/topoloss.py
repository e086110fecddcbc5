"""TopoLoss (Deb, Deb & Murty, ICLR 2025) as a measure and as a training penalty.

A layer's weight is laid on its cortical sheet: output unit ``i`` (conv output
channel, linear output feature) sits at row ``i // w`` and column ``i % w`` of
the ``(h, w) = grid_shape(n_units)`` grid and carries its flattened incoming
weights (``e = in * kh * kw`` for a conv, ``e = in_features`` for a linear).
The sheet is shrunk by ``(factor_h, factor_w)`` with ``F.interpolate`` and grown
back to ``(h, w)``, which blurs it; the loss is one minus the mean cosine
similarity between each unit's weights and its blurred weights::

    loss = 1 - mean_i cos(W[i], upsample(downsample(W))[i])

A smooth sheet (neighbours with similar weights) loses little in the blur, so
its loss is near 0. This follows the ``topoloss`` package (0.0.2) of the paper's
authors number for number; the tests use it as the oracle.

The default factor, 3 x 3, is the one in the authors' package README and tests.

The factors are checked against the sheet's height and width. (The reference
compares ``factor_h`` with the input size and ``factor_w`` with the sheet
height, an index slip, so it refuses e.g. ``factor_w = 3`` on the ``1 x 13``
sheet of a prime layer; wherever both accept the factors the values agree.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from toposcope._validation import ToposcopeError, check_option
from toposcope.sheet.geometry import grid_shape, shrink_factors

__all__ = [
    "DEFAULT_FACTOR",
    "INTERPOLATIONS",
    "TopoLossPenalty",
    "topoloss_of_weight",
    "weight_sheet",
]

#: Shrink factor ``(factor_h, factor_w)`` used when none is given.
DEFAULT_FACTOR = (3.0, 3.0)

#: ``F.interpolate`` modes that work on a 2-D sheet.
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "nearest-exact", "area")


def weight_sheet(weight: Any, transpose: bool = False) -> Any:
    """A layer's weight laid on its TopoLoss grid.

    Parameters
    ----------
    weight : torch.Tensor, shape (n_units, ...)
        Conv ``(out, in, kh, kw)``, linear ``(out, in)``, or any tensor whose
        first axis indexes the units.
    transpose : bool
        The weight is stored ``(in, out)``, as in the ``Conv1D`` layers of
        transformers' GPT-2; its units are then the columns.

    Returns
    -------
    torch.Tensor, shape (h, w, e)
        ``(h, w) = grid_shape(n_units)``; unit ``i`` at ``[i // w, i % w]``.
    """
    import torch

    if not isinstance(weight, torch.Tensor):
        raise ToposcopeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.ndim < 2:
        raise ToposcopeError(f"weight must have at least 2 dims (units, inputs), got shape {tuple(weight.shape)}")
    if transpose:
        if weight.ndim != 2:
            raise ToposcopeError(
                f"transpose=True needs a 2-D (in, out) weight, got shape {tuple(weight.shape)}"
            )
        weight = weight.t()
    h, w = grid_shape(int(weight.shape[0]))
    # Row-major: the same as einops "(h w) ... -> h w (...)" in the reference.
    return weight.reshape(h, w, -1)


def topoloss_of_weight(
    weight: Any,
    factor_h: float = DEFAULT_FACTOR[0],
    factor_w: float = DEFAULT_FACTOR[1],
    interpolation: str = "bilinear",
    *,
    transpose: bool = False,
) -> Any:
    """TopoLoss of one weight tensor; differentiable, so usable in training.

    Parameters
    ----------
    weight : torch.Tensor, shape (n_units, ...) or (in, n_units) with ``transpose``
        See :func:`weight_sheet`.
    factor_h, factor_w : float
        Shrink factors along the sheet's rows and columns; each at most the
        sheet's height / width (a prime unit count gives a ``1 x n`` sheet, so
        ``factor_h`` must then be at most 1).
    interpolation : str
        ``F.interpolate`` mode for both resizes (see :data:`INTERPOLATIONS`).
    transpose : bool
        The weight is stored ``(in, out)`` (transformers ``Conv1D``).

    Returns
    -------
    torch.Tensor, shape ()
        ``1 - mean cosine(original, blurred)``, in ``[0, 2]``; 0 for a sheet
        that the blur leaves unchanged in direction.
    """
    import torch.nn.functional as F

    check_option("interpolation", interpolation, INTERPOLATIONS)
    factor_h, factor_w = shrink_factors((factor_h, factor_w))
    sheet = weight_sheet(weight, transpose=transpose)
    h, w = int(sheet.shape[0]), int(sheet.shape[1])
    if factor_h > h or factor_w > w:
        raise ToposcopeError(
            f"factor ({factor_h:g}, {factor_w:g}) is larger than the {h}x{w} sheet of "
            f"{h * w} units; use factors at most ({h}, {w})"
        )
    grid = sheet.permute(2, 0, 1).unsqueeze(0)  # (1, e, h, w)
    # Same call as the reference (scale_factor, not size), so the sampling
    # positions of the shrink match it exactly.
    small = F.interpolate(grid, scale_factor=(1 / factor_h, 1 / factor_w), mode=interpolation)
    blurred = F.interpolate(small, size=(h, w), mode=interpolation)
    original = grid[0].flatten(1).t()  # (h * w, e)
    blurred = blurred[0].flatten(1).t()
    return 1 - F.cosine_similarity(original, blurred, dim=-1).mean()


def _is_transposed(module: Any, weight: Any, n_units: int | None) -> bool:
    """Whether ``weight`` is stored ``(in, out)``: transformers ``Conv1D`` or by shape."""
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf"):
        return True
    return bool(n_units is not None and weight.ndim == 2
                and weight.shape[0] != n_units and weight.shape[1] == n_units)


class TopoLossPenalty:
    """Sum over layers of ``tau * TopoLoss``, to add to a task loss while training.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained (weights are read at each call, so the penalty
        follows the optimiser's updates).
    layers : mapping of str to float, or iterable of str
        Module names of the topographic layers; a mapping gives each its own
        ``tau``, a list uses ``tau`` for all.
    tau : float
        Strength for layers given without one. ``0`` makes the penalty 0 (a
        baseline twin trained with the same code).
    factor : float or (float, float)
        Shrink factors, as in :func:`topoloss_of_weight`.
    interpolation : str
        ``F.interpolate`` mode.

    Examples
    --------
    >>> penalty = TopoLossPenalty(model, ["conv1", "fc1"], tau=5.0)  # doctest: +SKIP
    >>> loss = F.cross_entropy(model(x), y) + penalty()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        layers: Mapping[str, float] | Iterable[str],
        tau: float = 1.0,
        factor: Any = DEFAULT_FACTOR,
        interpolation: str = "bilinear",
    ) -> None:
        if isinstance(layers, str):
            layers = [layers]
        taus = dict(layers) if isinstance(layers, Mapping) else {name: tau for name in layers}
        if not taus:
            raise ToposcopeError("TopoLossPenalty needs at least one layer name")
        modules = dict(model.named_modules())
        for name, value in taus.items():
            if name not in modules or getattr(modules[name], "weight", None) is None:
                from toposcope._validation import close_matches

                weighted = [n for n, m in modules.items() if getattr(m, "weight", None) is not None]
                near = close_matches(name, weighted)
                hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
                raise ToposcopeError(f"model has no layer with a weight named {name!r}{hint}")
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or value < 0:
                raise ToposcopeError(f"tau of layer {name!r} must be a number >= 0, got {value!r}")
        self.model = model
        self.taus = {name: float(value) for name, value in taus.items()}
        self.factor = shrink_factors(factor)
        self.interpolation = check_option("interpolation", interpolation, INTERPOLATIONS)
        self._modules = {name: modules[name] for name in self.taus}

    def losses(self) -> dict[str, Any]:
        """Unscaled TopoLoss of each layer, as differentiable scalar tensors."""
        out = {}
        for name, module in self._modules.items():
            weight = module.weight
            out[name] = topoloss_of_weight(weight, *self.factor, self.interpolation,
                                           transpose=_is_transposed(module, weight, None))
        return out

    def __call__(self) -> Any:
        """``sum(tau_l * TopoLoss_l)`` as a scalar tensor (0 when every tau is 0)."""
        import torch

        if not any(self.taus.values()):
            # Skip the computation entirely: a tau = 0 twin trains at full speed.
            first = next(iter(self._modules.values())).weight
            return torch.zeros((), dtype=first.dtype, device=first.device)
        losses = self.losses()
        return sum(self.taus[name] * losses[name] for name in losses)

    def values(self) -> dict[str, float]:
        """Unscaled TopoLoss of each layer as floats (for logging)."""
        import torch

        with torch.no_grad():
            return {name: float(loss) for name, loss in self.losses().items()}
