"""Sheet downsampling: a smaller working model with one unit per block of a topographic sheet.

The operation, for a topographic layer with ``n`` units on its TopoLoss grid
``(h, w) = grid_shape(n)`` (unit ``i`` at row ``i // w``, column ``i % w``, as
:func:`toposcope.analysis.topoloss.weight_sheet` lays out the weights) and a factor
``(f_h, f_w)``:

1. The new grid is ``h' = floor(h / f_h)``, ``w' = floor(w / f_w)`` (at least 1),
   the size ``F.interpolate(scale_factor=1 / f)`` gives, as in TopoLoss.
2. The sheet is cut into ``h' x w'`` non-overlapping blocks: row ``r`` goes to
   block row ``floor(r * h' / h)``, column ``c`` to ``floor(c * w' / w)``
   (blocks differ in size by at most one row / column when ``f`` does not
   divide the sheet). New unit ``k = r' * w' + c'`` (row-major again).
3. **The layer's incoming weights and bias are averaged over each block**
   (area-average pooling of the ``h x w x e`` weight sheet). For an integer
   factor that divides the sheet this is exactly ``F.avg_pool2d(sheet, f)``
   and ``F.interpolate(sheet, mode="area")``.
4. **The following layer's input weights are summed over the same blocks**
   (its input columns laid on the same sheet; for a conv -> flatten -> linear
   pair, each of the ``k`` spatial positions per channel separately).
5. A BatchNorm between the two (ResNet's conv -> bn -> relu -> conv) is pooled
   as the average of its per-channel affine map ``y = s x + t``
   (``s = gamma / sqrt(var + eps)``, ``t = beta - s * mean``), written back as
   ``gamma = s``, ``beta = t``, ``mean = 0``, ``var = 1 - eps``.

Why average then sum: the smaller model computes *exactly* the same function as
the full-size model in which every unit's weights are replaced by its block's
mean (a block-constant sheet): units of one block then have identical
activations ``a_B`` and the next layer receives ``sum_{i in B} W2[:, i] a_B =
(sum_{i in B} W2[:, i]) a_B``. So the next layer's input scale is preserved,
and downsampling is lossless on a block-constant sheet and nearly so on a
smooth one (what TopoLoss trains for), while a sheet without topography loses
what the block means blur away. Averaging both sides would shrink the next
layer's input by the block size; bilinear resizing at factors above 2 samples
only two units per axis and ignores the rest, and overlapping windows
(``adaptive_avg_pool2d`` on uneven sizes) would count some units twice in the
sum.

Supported pairs: a ``Linear`` / transformers ``Conv1D`` (weight ``(in, out)``)
or ``Conv2d`` layer followed by a ``Linear`` / ``Conv1D`` / ``Conv2d``
(``groups=1``), with optional BatchNorm in between. The following layer is
found by name for MLPs (``c_fc -> c_proj``, ``fc1 -> fc2``, ``fc_in ->
fc_out``, ``dense_h_to_4h -> dense_4h_to_h``, ``lin1 -> lin2``,
``intermediate.dense -> output.dense``), otherwise as the next weighted module
in registration order; pass ``following=`` to name it. A forward pass on a
probe input checks that the smaller model still runs and gives outputs of the
original shape (a layer whose output also feeds a residual sum cannot shrink).
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, close_matches
from toposcope.sheet.geometry import CorticalSheet, grid_shape, shrink_factors

__all__ = ["SIBLINGS", "Downsampled", "LayerChange", "block_index", "downsample", "pooled_grid"]

#: ``(topographic layer suffix, following layer suffix)`` of MLPs, matched on module names.
SIBLINGS = (
    ("c_fc", "c_proj"),
    ("fc1", "fc2"),
    ("fc_in", "fc_out"),
    ("dense_h_to_4h", "dense_4h_to_h"),
    ("lin1", "lin2"),
    ("intermediate.dense", "output.dense"),
)

SUPPORTED = "Linear / Conv1D / Conv2d followed by Linear / Conv1D / Conv2d, optionally through BatchNorm"


def pooled_grid(grid: tuple[int, int], factor: Any) -> tuple[int, int]:
    """Shape of the downsampled sheet: ``(max(1, floor(h / f_h)), max(1, floor(w / f_w)))``."""
    f_h, f_w = shrink_factors(factor)
    if f_h < 1 or f_w < 1:
        raise ToposcopeError(f"downsampling factor must be at least 1 (1 keeps the sheet), got {factor!r}")
    h, w = grid
    # The small epsilon keeps e.g. 48 / (48 / 21) from flooring to 20 by rounding.
    return max(1, math.floor(h / f_h + 1e-9)), max(1, math.floor(w / f_w + 1e-9))


def block_index(grid: tuple[int, int], new_grid: tuple[int, int]) -> np.ndarray:
    """Block (new unit) of every unit of an ``h x w`` sheet cut into ``h' x w'`` blocks.

    Returns
    -------
    ndarray of int64, shape (h * w,)
        ``floor(r * h' / h) * w' + floor(c * w' / w)`` for unit ``r * w + c``.
    """
    (h, w), (h2, w2) = grid, new_grid
    if not (1 <= h2 <= h and 1 <= w2 <= w):
        raise ToposcopeError(f"cannot cut a {h}x{w} sheet into {h2}x{w2} blocks")
    rows = (np.arange(h) * h2) // h
    cols = (np.arange(w) * w2) // w
    return (rows[:, None] * w2 + cols[None, :]).ravel().astype(np.int64)


# --------------------------------------------------------------------------- module kinds
def _kind(module: Any) -> str | None:
    from torch import nn

    if type(module).__name__ == "Conv1D" and hasattr(module, "nf"):
        return "conv1d"  # transformers' GPT-2 linear, weight (in, out)
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Conv2d):
        return "conv2d"
    return None


def _out_axis(kind: str) -> int:
    return 1 if kind == "conv1d" else 0


def _in_axis(kind: str) -> int:
    return 0 if kind == "conv1d" else 1


def _own_parameters(module: Any) -> int:
    return sum(p.numel() for p in module._parameters.values() if p is not None)


@dataclass(frozen=True)
class LayerChange:
    """What downsampling did to one topographic layer.

    Attributes
    ----------
    layer, following : str
        Module names of the topographic layer and of the layer it feeds.
    norms : tuple of str
        BatchNorm modules between them, pooled too.
    grid_before, grid_after : (int, int)
        Sheet shapes; units are ``h * w``.
    parameters_before, parameters_after : int
        Own parameters of the topographic layer.
    following_before, following_after : int
        Own parameters of the following layer.
    """

    layer: str
    following: str
    norms: tuple[str, ...]
    grid_before: tuple[int, int]
    grid_after: tuple[int, int]
    parameters_before: int = 0
    parameters_after: int = 0
    following_before: int = 0
    following_after: int = 0

    @property
    def units_before(self) -> int:
        return self.grid_before[0] * self.grid_before[1]

    @property
    def units_after(self) -> int:
        return self.grid_after[0] * self.grid_after[1]


@dataclass
class Downsampled:
    """A downsampled copy of a model and its bookkeeping.

    Attributes
    ----------
    model : torch.nn.Module
        The smaller working model (a deep copy; the input model is untouched).
    subject : Subject or None
        The same wrapped as a Subject (when a Subject was given): the
        downsampled layers sit on their new ``h' x w'`` grids.
    factor : (float, float)
    changes : tuple of LayerChange
    parameters_before, parameters_after : int
        ``sum(p.numel() for p in model.parameters())`` (shared tensors once).
    """

    model: Any
    subject: Any
    factor: tuple[float, float]
    changes: tuple[LayerChange, ...] = field(default_factory=tuple)
    parameters_before: int = 0
    parameters_after: int = 0

    @property
    def parameters_layer_only(self) -> int:
        """The count if only the downsampled layers' own weights and biases shrank.

        The following layers keep their full size in this count: it is what
        storing the small sheet and resizing it back at run time would hold
        (the convention that reproduces TopoNets' GPT-Neo numbers).
        """
        removed = sum(c.parameters_before - c.parameters_after for c in self.changes)
        return self.parameters_before - removed

    @property
    def fraction_removed(self) -> float:
        """Share of the downsampled layers' units removed."""
        before = sum(c.units_before for c in self.changes)
        return 1.0 - sum(c.units_after for c in self.changes) / before

    def summary(self) -> str:
        """One line per layer plus the totals, for printing."""
        lines = [f"{c.layer}: {c.grid_before[0]}x{c.grid_before[1]} -> {c.grid_after[0]}x{c.grid_after[1]} "
                 f"units (-> {c.following})" for c in self.changes]
        lines.append(f"parameters {self.parameters_before:,} -> {self.parameters_after:,} "
                     f"({self.parameters_layer_only:,} counting the downsampled layers only)")
        return "\n".join(lines)


# --------------------------------------------------------------------------- finding the pair
def _find_following(model: Any, owner: str, n: int, following: str | None) -> tuple[str, list[str]]:
    """Name of the layer fed by ``owner`` (``n`` units) and the BatchNorms in between."""
    from torch import nn

    modules = dict(model.named_modules())
    if following is not None:
        if following not in modules or _kind(modules[following]) is None:
            near = close_matches(following, [k for k, m in modules.items() if _kind(m)])
            hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
            raise ToposcopeError(f"following layer {following!r} is not a Linear / Conv1D / Conv2d of the model{hint}")
        return following, []
    for suffix, sibling in SIBLINGS:
        if owner == suffix or owner.endswith("." + suffix):
            candidate = owner[: len(owner) - len(suffix)] + sibling
            if candidate in modules and _kind(modules[candidate]) is not None:
                return candidate, []
    names = list(modules)
    norms: list[str] = []
    for name in names[names.index(owner) + 1:]:
        if name.startswith(owner + "."):
            continue
        module = modules[name]
        if _kind(module) is not None:
            return name, norms
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.num_features == n:
            norms.append(name)
        elif _own_parameters(module) or any(b is not None and n in b.shape for b in module._buffers.values()):
            raise ToposcopeError(
                f"{type(module).__name__} {name!r} sits between {owner!r} and the next layer and cannot be "
                f"downsampled; supported: {SUPPORTED} (or pass following=)"
            )
    raise ToposcopeError(f"no layer after {owner!r} takes its output; pass following=NAME")


# --------------------------------------------------------------------------- tensor pooling
def _pool(tensor: Any, axis: int, index: Any, m: int, counts: Any | None, k: int = 1) -> Any:
    """Sum (``counts`` None) or average the ``n * k`` entries of ``axis`` into ``m * k`` by blocks.

    Entry ``i * k + j`` of ``axis`` belongs to unit ``i`` (a flattened
    ``(unit, position)`` axis, as ``x.flatten(1)`` of a conv output makes);
    works in float64 and returns the input dtype.
    """
    import torch

    shape = list(tensor.shape)
    n = len(index)
    split = tensor.to(torch.float64).reshape(shape[:axis] + [n, k] + shape[axis + 1:])
    out = split.new_zeros(shape[:axis] + [m, k] + shape[axis + 1:]).index_add_(axis, index, split)
    if counts is not None:
        out = out / counts.to(out.dtype).reshape([-1 if d == axis else 1 for d in range(out.ndim)])
    return out.reshape(shape[:axis] + [m * k] + shape[axis + 1:]).to(tensor.dtype)


def _set(module: Any, name: str, value: Any) -> None:
    import torch

    old = getattr(module, name)
    setattr(module, name, torch.nn.Parameter(value, requires_grad=old.requires_grad))


def _shrink_layer(module: Any, kind: str, index: Any, m: int, counts: Any) -> None:
    _set(module, "weight", _pool(module.weight.data, _out_axis(kind), index, m, counts))
    if module.bias is not None:
        _set(module, "bias", _pool(module.bias.data, 0, index, m, counts))
    if kind == "linear":
        module.out_features = m
    elif kind == "conv2d":
        if module.groups != 1:
            raise ToposcopeError(f"grouped convolutions cannot be downsampled (groups={module.groups})")
        module.out_channels = m
    else:
        module.nf = m


def _shrink_norm(module: Any, index: Any, m: int, counts: Any) -> Any:
    import torch

    if module.running_mean is None:
        raise ToposcopeError("a BatchNorm without running statistics cannot be downsampled")
    var = module.running_var.to(torch.float64)
    scale = torch.ones_like(var) if module.weight is None else module.weight.data.to(torch.float64)
    scale = scale / torch.sqrt(var + module.eps)
    shift = (torch.zeros_like(var) if module.bias is None else module.bias.data.to(torch.float64))
    shift = shift - scale * module.running_mean.to(torch.float64)
    dtype = module.running_mean.dtype
    new = type(module)(m, eps=module.eps, momentum=module.momentum, affine=True, track_running_stats=True)
    new = new.to(device=module.running_mean.device, dtype=dtype)
    with torch.no_grad():
        new.weight.copy_(_pool(scale, 0, index, m, counts))
        new.bias.copy_(_pool(shift, 0, index, m, counts))
        new.running_mean.zero_()
        new.running_var.fill_(1.0 - module.eps)  # (x - 0) / sqrt(1 - eps + eps) = x
    new.num_batches_tracked = module.num_batches_tracked
    new.train(module.training)
    return new


def _shrink_following(module: Any, kind: str, index: Any, m: int, n: int, name: str, layer: str) -> None:
    axis = _in_axis(kind)
    size = int(module.weight.shape[axis])
    if kind == "conv2d":
        if module.groups != 1 or size != n:
            raise ToposcopeError(f"{name!r} takes {size} input channels (groups={module.groups}), not the "
                                 f"{n} units of {layer!r}; pass following=")
        k = 1
    elif size % n:
        raise ToposcopeError(f"{name!r} takes {size} inputs, not a multiple of the {n} units of {layer!r}; "
                             "pass following=")
    else:
        k = size // n
    _set(module, "weight", _pool(module.weight.data, axis, index, m, None, k))
    if kind == "linear":
        module.in_features = m * k
    elif kind == "conv2d":
        module.in_channels = m
    elif hasattr(module, "nx"):
        module.nx = m * k


# --------------------------------------------------------------------------- the whole model
def _probe(model: Any, subject: Any, example: Any) -> tuple[int, ...] | None:
    """Output shape of one forward pass on a probe input (None when there is nothing to run)."""
    import torch

    if any(p.is_meta for p in model.parameters()):
        return None
    if example is None and subject is not None:
        if subject.modality == "language":
            example = {"input_ids": torch.zeros((1, 8), dtype=torch.long),
                       "attention_mask": torch.ones((1, 8), dtype=torch.long)}
        else:
            example = torch.zeros((1, *subject.input_shape))
    if example is None:
        return None
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            if subject is not None and subject.forward is not None:
                output = subject.forward(model, example)
            else:
                output = model(**example) if isinstance(example, Mapping) else model(example)
    finally:
        model.train(was_training)
    for attribute in ("logits", "last_hidden_state"):
        if getattr(output, attribute, None) is not None:
            output = getattr(output, attribute)
            break
    while isinstance(output, (tuple, list)) and output:
        output = output[0]
    return tuple(output.shape) if isinstance(output, torch.Tensor) else None


def _layer_names(subject: Any, layers: Iterable[str] | str | None) -> list[tuple[str, str]]:
    """``(layer label, owner module of its weight)`` for each layer to downsample."""
    if isinstance(layers, str):
        layers = [name.strip() for name in layers.split(",") if name.strip()]
    if hasattr(subject, "select") and hasattr(subject, "model"):
        out = []
        for layer in subject.select(layers):
            if layer.weight is None:
                raise ToposcopeError(f"layer {layer.name!r} has no weight to downsample; supported: {SUPPORTED}")
            if layer.layout != "channel" or layer.sheet.grid != grid_shape(layer.n_units):
                raise ToposcopeError(
                    f"layer {layer.name!r} sits on its own positions ({layer.sheet.describe()}), not on its "
                    "TopoLoss grid; downsampling needs the grid"
                )
            out.append((layer.name, layer.weight.rpartition(".")[0]))
        return out
    if layers is None:
        raise ToposcopeError("a bare module needs layers=[...] naming the layers to downsample")
    return [(name, name) for name in layers]


def downsample(
    subject: Any,
    layers: Iterable[str] | str | None = None,
    factor: Any = 2,
    *,
    following: Mapping[str, str] | None = None,
    example: Any = None,
) -> Downsampled:
    """A smaller copy of a model whose topographic layers are downsampled on their sheets.

    Parameters
    ----------
    subject : Subject or torch.nn.Module
        The model; never modified.
    layers : str or iterable of str, optional
        Topographic layers to downsample, all of them together (default: all
        of the Subject's; required for a bare module: module names).
    factor : float, (float, float) or "H,W"
        Shrink factor along the sheet's rows and columns, each >= 1; the
        new sheet is ``floor(h / f_h) x floor(w / f_w)``.
    following : mapping of str to str, optional
        Layer -> the layer its output feeds, where the default rule (see the
        module docstring) would pick the wrong one.
    example : tensor or dict, optional
        Probe input for a bare module (a Subject makes its own); without one
        the smaller model is not test-run.

    Returns
    -------
    Downsampled
        ``model`` (and ``subject``) with each layer ``(n, ...)`` -> ``(h' w', ...)``
        and its following layer ``(..., n k)`` -> ``(..., h' w' k)``; parameter
        counts before and after.
    """
    import torch

    is_subject = hasattr(subject, "select") and hasattr(subject, "model")
    original = subject.model if is_subject else subject
    factors = shrink_factors(factor)
    pooled_grid((1, 1), factors)  # rejects factors below 1 before any work
    chosen = _layer_names(subject, layers)
    following = dict(following or {})
    unknown = sorted(set(following) - {label for label, _ in chosen})
    if unknown:
        raise ToposcopeError(f"following= names {unknown}, which are not among the layers downsampled")
    shape_before = _probe(original, subject if is_subject else None, example)
    model = copy.deepcopy(original)
    modules = dict(model.named_modules())
    before = {name: _own_parameters(m) for name, m in dict(original.named_modules()).items()}
    plans = []
    for label, owner in chosen:
        module = modules.get(owner)
        kind = _kind(module) if module is not None else None
        if kind is None:
            raise ToposcopeError(f"layer {label!r} is a {type(module).__name__}; supported: {SUPPORTED}")
        n = int(module.weight.shape[_out_axis(kind)])
        grid = grid_shape(n)
        new_grid = pooled_grid(grid, factors)
        index_np = block_index(grid, new_grid)
        m = new_grid[0] * new_grid[1]
        index = torch.as_tensor(index_np, device=module.weight.device)
        counts = torch.as_tensor(np.bincount(index_np, minlength=m), device=module.weight.device)
        target, norms = _find_following(model, owner, n, following.get(label))
        with torch.no_grad():
            _shrink_layer(module, kind, index, m, counts)
            for name in norms:
                parent, _, attribute = name.rpartition(".")
                setattr(model.get_submodule(parent) if parent else model, attribute,
                        _shrink_norm(modules[name], index, m, counts))
            _shrink_following(modules[target], _kind(modules[target]), index, m, n, target, label)
        modules = dict(model.named_modules())
        plans.append((label, owner, target, tuple(norms), grid, new_grid))
    problem = ("a layer's output feeds more than the layer after it (e.g. a residual sum); downsample only "
               "layers inside a block (a ResNet block's first conv, an MLP's input layer) or pass following=")
    try:
        shape_after = _probe(model, subject if is_subject else None, example)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise ToposcopeError(f"the downsampled model no longer runs ({first}): {problem}") from None
    if shape_before is not None and shape_after != shape_before:
        raise ToposcopeError(f"the downsampled model's output has shape {shape_after}, not {shape_before}: {problem}")
    changes = tuple(
        LayerChange(label, target, norms, grid, new_grid, before[owner], _own_parameters(modules[owner]),
                    before[target], _own_parameters(modules[target]))
        for label, owner, target, norms, grid, new_grid in plans
    )
    result = Downsampled(model=model, subject=None, factor=factors, changes=changes,
                         parameters_before=sum(p.numel() for p in original.parameters()),
                         parameters_after=sum(p.numel() for p in model.parameters()))
    if is_subject:
        result.subject = _subject_for(subject, model, changes, factors)
    return result


def _subject_for(subject: Any, model: Any, changes: tuple[LayerChange, ...], factors: tuple[float, float]) -> Any:
    """The Subject of the smaller model: the downsampled layers on their new grids."""
    layers = dict(subject.layers)
    for change in changes:
        h, w = change.grid_after
        index = np.arange(h * w)
        sheet = CorticalSheet(positions=np.stack([index % w, index // w], axis=1).astype(np.float64),
                              grid=(h, w), units="grid", layout="channel", name=change.layer)
        layers[change.layer] = replace(layers[change.layer], sheet=sheet)
    label = f"downsample {','.join(c.layer for c in changes)} by {factors[0]:g}x{factors[1]:g}"
    identity = hashlib.sha256(f"{subject.identity}|{label}".encode()).hexdigest()
    return replace(subject, model=model, layers=layers, identity=identity,
                   options={**subject.options, "downsample": label})
