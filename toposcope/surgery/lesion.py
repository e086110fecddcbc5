"""Lesions: silence a set of units during the forward pass, and put everything back afterwards.

:func:`lesioned` registers a forward hook on each lesioned layer that sets the
chosen units' outputs to zero (``mode="zero"``) or to a fixed value per unit,
usually its mean response (``mode="mean"``, the values given as ``means``).
Weights are never touched, so leaving the context restores the model exactly.
A unit is what toposcope's extraction calls one: the last axis of a language
layer's output ``(batch, tokens, units)``; the channel of a conv layer with the
``channel`` layout; channel x position with ``channel_space``.

:func:`unit_sets` turns a unit selection (a boolean mask over all units with a
``layer`` coord, as the localizer's ``selective``; or ``{layer: indices}``) into
per-layer indices, checked against the model's layers; :func:`random_like`
draws a random set with the same number of units in each layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_option

__all__ = ["MODES", "lesioned", "random_like", "unit_sets"]

MODES = ("zero", "mean")


def unit_sets(subject: Any, units: Any) -> dict[str, np.ndarray]:
    """Per-layer unit indices of a selection, checked against the subject's layers.

    Parameters
    ----------
    subject : Subject
    units : xr.DataArray of bool over ``unit`` (coord ``layer``), or mapping of layer to indices / bool mask
        A mask over all units of several layers (the localizer's ``selective``),
        or ``{layer: [indices]}`` / ``{layer: bool array of n_units}``.

    Returns
    -------
    dict of str to ndarray of int64
        Sorted unique indices per layer (layers without units left out).

    Raises
    ------
    ToposcopeError
        A layer the subject lacks; an index beyond a layer's units; a mask of
        the wrong length.
    """
    import xarray as xr

    if isinstance(units, xr.DataArray):
        if units.dims != ("unit",) or "layer" not in units.coords:
            raise ToposcopeError("a unit mask must be a bool xr.DataArray over 'unit' with a 'layer' coord "
                                 "(e.g. the localizer's 'selective')")
        layers = np.asarray(units["layer"].values).astype(str)
        values = np.asarray(units.values)
        if values.dtype != bool:
            raise ToposcopeError(f"a unit mask must be boolean, got {values.dtype}")
        units = {name: values[layers == name] for name in dict.fromkeys(layers.tolist())}
    if not isinstance(units, Mapping):
        raise ToposcopeError("units must be a bool mask over 'unit' with a 'layer' coord, or {layer: indices}")
    out: dict[str, np.ndarray] = {}
    for name, chosen in units.items():
        if name not in subject.layers:
            known = ", ".join(list(subject.layers)[:6])
            raise ToposcopeError(f"the lesion names layer {name!r}, which {subject.name!r} lacks; its layers: "
                                 f"{known}{', ...' if len(subject.layers) > 6 else ''}")
        n_units = subject.layers[name].n_units
        array = np.asarray(chosen)
        if array.dtype == bool:
            if array.shape != (n_units,):
                raise ToposcopeError(f"the lesion mask of layer {name!r} has {array.size} values but the layer has "
                                     f"{n_units} units; give one value per unit")
            index = np.flatnonzero(array)
        else:
            index = np.unique(array.astype(np.int64).ravel())
            bad = index[(index < 0) | (index >= n_units)]
            if bad.size:
                raise ToposcopeError(f"the lesion names unit {int(bad[0])} of layer {name!r}, which has {n_units} "
                                     f"units (0..{n_units - 1})")
        if index.size:
            out[name] = index
    return out


def random_like(subject: Any, sets: Mapping[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """As many units per layer as ``sets`` holds, drawn uniformly without replacement in each layer."""
    return {name: np.sort(rng.choice(subject.layers[name].n_units, size=len(index), replace=False))
            for name, index in sets.items()}


@contextmanager
def lesioned(subject: Any, units: Any, *, mode: str = "zero", means: Mapping[str, Any] | None = None
             ) -> Iterator[dict[str, np.ndarray]]:
    """Within the block, the chosen units of the subject's model output zero (or their given value).

    Parameters
    ----------
    subject : Subject
    units : mask or mapping
        See :func:`unit_sets`.
    mode : {"zero", "mean"}
        ``"mean"`` needs ``means``.
    means : mapping of layer to array of shape (n_units,), optional
        The value each unit is clamped to in ``"mean"`` mode (e.g. its mean
        response over a reference text set).

    Yields
    ------
    dict of str to ndarray
        The lesioned unit indices per layer.
    """
    import torch

    check_option("mode", mode, MODES)
    sets = unit_sets(subject, units)
    values: dict[str, Any] = {}
    if mode == "mean":
        if means is None:
            raise ToposcopeError("mode='mean' needs means={layer: per-unit values}; or use mode='zero'")
        for name, index in sets.items():
            if name not in means:
                raise ToposcopeError(f"means lack layer {name!r}; give one value per unit of every lesioned layer")
            given = np.asarray(means[name], dtype=np.float64)
            if given.shape != (subject.layers[name].n_units,):
                raise ToposcopeError(f"means of layer {name!r} have shape {given.shape}, the layer has "
                                     f"{subject.layers[name].n_units} units")
            values[name] = given[index]
    handles = []

    def hook_for(name: str, index: np.ndarray) -> Any:
        layer = subject.layers[name]
        positions = torch.as_tensor(index)

        def hook(_module: Any, _inputs: Any, output: Any) -> Any:
            rest = ()
            if isinstance(output, tuple):
                output, rest = output[0], output[1:]
            changed = output.clone()
            fill = (torch.zeros(len(index), dtype=changed.dtype, device=changed.device) if mode == "zero"
                    else torch.as_tensor(values[name], dtype=changed.dtype, device=changed.device))
            if layer.layout == "channel_space":
                flat = changed.reshape(changed.shape[0], -1)
                flat[:, positions.to(changed.device)] = fill
                changed = flat.reshape(changed.shape)
            elif subject.modality == "vision" and changed.ndim == 4:
                changed[:, positions.to(changed.device)] = fill[None, :, None, None]
            else:
                changed[..., positions.to(changed.device)] = fill
            return (changed, *rest) if rest else changed

        return hook

    try:
        for name, index in sets.items():
            handles.append(subject.model.get_submodule(name).register_forward_hook(hook_for(name, index)))
        yield sets
    finally:
        for handle in handles:
            handle.remove()
