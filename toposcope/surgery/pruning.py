"""L1 unstructured pruning with ``torch.nn.utils.prune``, undone exactly afterwards.

``torch.nn.utils.prune`` re-parametrises a module: the parameter ``weight``
moves to ``weight_orig`` (the *same* Parameter object, its values untouched), a
buffer ``weight_mask`` is added, ``weight`` becomes a plain tensor
``weight_orig * weight_mask`` and a forward pre-hook recomputes it. Its own
``prune.remove`` would make the pruning permanent and put a *new* Parameter in
place, which would silently break weight tying and any optimizer holding the
old one. :func:`pruned` instead drops the hook, the mask and the masked tensor
and re-registers the original Parameter object, then copies back a snapshot of
its values (in case the code run while pruned wrote into it). So after the
``with`` block, on success or on any exception, the model's state dict is bit
identical to before and no ``*_orig`` / ``*_mask`` entry or hook is left.

Amounts follow ``torch.nn.utils.prune``: a fraction ``f`` of ``n`` weights
zeroes ``round(f * n)`` of them (Python's ``round``), the smallest ``|w|``
first: per tensor (``scope="layer"``) or over all targets pooled
(``scope="global"``, ``prune.global_unstructured``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from toposcope._validation import ToposcopeError, check_option, close_matches

__all__ = ["SCOPES", "Target", "check_fraction", "prune_targets", "pruned"]

#: ``"global"``: one magnitude threshold over all targets; ``"layer"``: each target its own.
SCOPES = ("global", "layer")


@dataclass(frozen=True)
class Target:
    """One weight tensor to prune.

    Attributes
    ----------
    label : str
        The layer name reported in results (the topographic layer's module name).
    parameter : str
        Full state-dict name of the tensor (``"fc1.weight"``, ``"layer2.0.conv1.conv.weight"``).
    module : torch.nn.Module
        The module that owns it.
    name : str
        Its attribute name on ``module`` (``"weight"``).
    """

    label: str
    parameter: str
    module: Any
    name: str

    @property
    def numel(self) -> int:
        """Number of weights in the tensor."""
        return int(getattr(self.module, self.name).numel())


def check_fraction(fraction: Any, name: str = "fraction") -> float:
    """Return ``fraction`` as a float in [0, 1], else raise naming it."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) and not hasattr(fraction, "__float__"):
        raise ToposcopeError(f"{name} must be a number between 0 and 1, got {fraction!r}")
    value = float(fraction)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ToposcopeError(f"{name} must be between 0 and 1 (the share of weights zeroed), got {fraction!r}")
    return value


def _owner(model: Any, parameter: str) -> tuple[Any, str]:
    owner, _, name = parameter.rpartition(".")
    return (model.get_submodule(owner) if owner else model), name


def prune_targets(subject: Any, layers: Iterable[str] | str | None = None) -> list[Target]:
    """The weight tensors to prune, one per layer.

    Parameters
    ----------
    subject : Subject or torch.nn.Module
        For a Subject, ``layers`` are topographic layer names (all by default)
        and each contributes the tensor its ``TopoLayer.weight`` names. For a
        bare module, ``layers`` (required) are module names (their ``weight``)
        or full parameter names.
    layers : str or iterable of str, optional

    Returns
    -------
    list of Target
    """
    if isinstance(layers, str):
        layers = [name.strip() for name in layers.split(",") if name.strip()]
    if hasattr(subject, "select") and hasattr(subject, "model"):
        model, chosen = subject.model, subject.select(layers)
        pairs = []
        for layer in chosen:
            if layer.weight is None:
                raise ToposcopeError(
                    f"layer {layer.name!r} has no weight to prune (only Conv2d / Linear / Conv1D layers "
                    "have one); leave it out with layers=[...]"
                )
            pairs.append((layer.name, layer.weight))
    else:
        model = subject
        if layers is None:
            raise ToposcopeError("a bare module needs layers=[...] naming the modules (or parameters) to prune")
        # remove_duplicate=False: a tied weight (lm_head / wte) is reachable under both names.
        parameters = dict(model.named_parameters(remove_duplicate=False))
        pairs = []
        for name in layers:
            parameter = name if name in parameters else f"{name}.weight"
            if parameter not in parameters:
                weighted = [p.removesuffix(".weight") for p in parameters if p.endswith(".weight")]
                near = close_matches(name, weighted)
                hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
                raise ToposcopeError(f"model has no layer or parameter {name!r} with a weight{hint}")
            pairs.append((name, parameter))
    if not pairs:
        raise ToposcopeError("no layers to prune; give layers=[...]")
    targets, seen = [], set()
    for label, parameter in pairs:
        module, attribute = _owner(model, parameter)
        key = id(getattr(module, attribute))
        if key in seen:
            raise ToposcopeError(f"layer {label!r} shares its weight with another target; list it once")
        seen.add(key)
        targets.append(Target(label=label, parameter=parameter, module=module, name=attribute))
    return targets


def _restore(target: Target, original: Any, snapshot: Any, order: list[str]) -> None:
    """Undo ``torch.nn.utils.prune`` on one target, keeping the original Parameter object."""
    import torch
    from torch.nn.utils import prune

    module, name = target.module, target.name
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, prune.BasePruningMethod) and getattr(hook, "_tensor_name", None) == name:
            del module._forward_pre_hooks[key]
    module._buffers.pop(f"{name}_mask", None)
    module._parameters.pop(f"{name}_orig", None)
    if name not in module._parameters:
        if name in module.__dict__:
            delattr(module, name)  # the masked plain tensor prune left in place of the parameter
        module.register_parameter(name, original)
    # Re-registering appends; put the parameters back in their order so the state dict is unchanged.
    entries = {key: module._parameters.pop(key) for key in list(module._parameters)}
    for key in [*order, *(k for k in entries if k not in order)]:
        module._parameters[key] = entries[key]
    with torch.no_grad():
        if not torch.equal(original, snapshot):
            original.copy_(snapshot)


@contextmanager
def pruned(targets: Sequence[Target], fraction: float, scope: str = "global") -> Iterator[dict[str, int]]:
    """Zero the smallest-magnitude weights of ``targets`` inside a ``with`` block.

    Parameters
    ----------
    targets : sequence of Target
        From :func:`prune_targets`.
    fraction : float in [0, 1]
        Share of the weights zeroed: of each target (``scope="layer"``) or of
        all targets pooled (``scope="global"``).
    scope : {"global", "layer"}

    Yields
    ------
    dict of str to int
        Weights zeroed per target label (``round(fraction * n)`` per target for
        ``"layer"``; split by magnitude for ``"global"``).

    Notes
    -----
    The model is restored when the block ends, also when it raises (see the
    module docstring); nothing is left pruned.
    """
    import torch
    from torch.nn.utils import prune

    fraction = check_fraction(fraction)
    check_option("scope", scope, SCOPES)
    originals = [getattr(t.module, t.name) for t in targets]
    snapshots = [p.detach().clone() for p in originals]
    orders = [list(t.module._parameters) for t in targets]
    try:
        with torch.no_grad():
            if fraction > 0 and scope == "global":
                prune.global_unstructured([(t.module, t.name) for t in targets],
                                          pruning_method=prune.L1Unstructured, amount=fraction)
            elif fraction > 0:
                for target in targets:
                    prune.l1_unstructured(target.module, target.name, amount=fraction)
        counts = {}
        for target in targets:
            mask = getattr(target.module, f"{target.name}_mask", None)
            counts[target.label] = 0 if mask is None else int(mask.numel() - int(mask.count_nonzero()))
        yield counts
    finally:
        for i, target in enumerate(targets):
            _restore(target, originals[i], snapshots[i], orders[i])
