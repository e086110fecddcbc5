"""The Subject: a torch model with a cortical sheet for each topographic layer.

Every adapter (TopoNets, TDANN, TopoLM, transformers, torchvision, a user's own
``nn.Module``) returns a :class:`Subject`; :func:`toposcope.extract` only ever
sees Subjects, so every analysis treats every model family the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_layers, check_option
from toposcope.sheet import CorticalSheet, channel_space_sheet, grid_sheet

__all__ = ["Subject", "TopoLayer", "file_sha256", "from_module", "module_sha256", "module_table", "output_shapes"]

LAYOUTS = ("channel", "channel_space")
POOLS = ("mean", "max")


@dataclass(frozen=True)
class TopoLayer:
    """One hooked layer of a Subject.

    Parameters
    ----------
    name : str
        Module name inside the model (``model.get_submodule(name)``); the forward
        hook goes here and its output is the layer's response.
    sheet : CorticalSheet
        Position of every unit; ``sheet.layout`` says how the output maps to units.
    pool : {"mean", "max"}
        How a ``channel`` layout reduces what is left beyond the unit axis: the
        spatial map of a conv output ``(B, C, H, W)`` or the tokens of a vision
        transformer ``(B, T, F)``. Language models keep tokens (see extract).
    weight : str or None
        State-dict name of the weight TopoLoss acts on, if any: one row per unit
        for ``nn.Linear`` / ``nn.Conv2d``, one column per unit for the (in, out)
        ``Conv1D`` of GPT-2 style transformers.
    """

    name: str
    sheet: CorticalSheet
    pool: str = "mean"
    weight: str | None = None

    @property
    def layout(self) -> str:
        """``"channel"`` or ``"channel_space"`` (from the sheet)."""
        return self.sheet.layout

    @property
    def n_units(self) -> int:
        """Number of units (= sheet positions)."""
        return self.sheet.n_units


@dataclass
class Subject:
    """A model ready for extraction.

    Parameters
    ----------
    model : torch.nn.Module
        The network; kept in eval mode by extraction.
    layers : dict of str to TopoLayer
        The topographic layers in forward order, keyed by module name.
    modality : {"vision", "language"}
        Whether stimuli are images or text.
    name : str
        The spec the model was loaded from (``"toponets/resnet18"``).
    identity : str
        Content hash of the weights (sha256 of the checkpoint file, or of the
        state dict for in-memory modules); caches key on it.
    transform : callable, optional
        Vision: PIL image -> float tensor (3, H, W), the model's preprocessing.
    tokenizer : object, optional
        Language: a Hugging Face tokenizer (or anything with the same call).
    input_shape : tuple of int
        Shape of one input without the batch axis, used for shape probes.
    forward : callable, optional
        ``forward(model, inputs)`` for models whose call is not ``model(x)`` /
        ``model(**encoded)`` (e.g. nanoGPT takes ``model(input_ids)``).
    options : dict
        The load options (tau, checkpoint, ...) recorded as provenance.
    lm_head : callable, optional
        Language: ``lm_head()`` returns the module that turns the model's last
        hidden states into vocabulary logits, for models loaded without it
        whose output layer is not tied to the input embeddings (set by the
        ``hf:`` adapter; loaded on first call).
    """

    model: Any
    layers: dict[str, TopoLayer]
    modality: str
    name: str
    identity: str
    transform: Callable | None = None
    tokenizer: Any = None
    input_shape: tuple[int, ...] = (3, 224, 224)
    forward: Callable | None = None
    options: dict[str, Any] = field(default_factory=dict)
    lm_head: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        check_option("modality", self.modality, ("vision", "language"))

    def select(self, layers: Iterable[str] | str | None) -> list[TopoLayer]:
        """The requested layers (all topographic layers when ``None``), checked by name.

        Any named module of the model may be requested (a block output, ``avgpool``,
        an activation, an attention output): one that is not yet a layer is added
        with a sheet chosen as for any layer (:meth:`add_layers`).
        """
        if layers is None:
            return list(self.layers.values())
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers)
        modules = dict(self.model.named_modules())
        known = list(self.layers) + [n for n in modules if n and n not in self.layers]
        names = check_layers(layers, known, spec=self.name or "MODEL")
        new = [n for n in dict.fromkeys(names) if n not in self.layers]
        if new:
            self.add_layers(new)
        return [self.layers[n] for n in names]

    def add_layers(self, names: Iterable[str]) -> None:
        """Hook more modules, each on the sheet :func:`from_module` would give it.

        The layout and pool are those of the subject's first layer, so that a
        channel x space model (TDANN) stays channel x space.
        """
        first = next(iter(self.layers.values()), None)
        layout = first.layout if first is not None else "channel"
        pool = first.pool if first is not None else "mean"
        example = _example_input(self.modality, self.input_shape, self.tokenizer)
        self.layers.update(_topo_layers(self.model, list(names), layout, pool, self.modality, example, {}))

    def provenance(self) -> dict[str, str]:
        """Attributes recorded on every result computed from this subject."""
        options = {k: v for k, v in self.options.items() if v is not None}
        return {
            "model": self.name,
            "checkpoint_sha256": self.identity,
            "model_options": ", ".join(f"{k}={v}" for k, v in sorted(options.items())),
            "modality": self.modality,
        }


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """sha256 hex digest of a file's bytes, read in 4 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def module_sha256(module: Any) -> str:
    """sha256 of a module's state dict (names, shapes, dtypes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        array = tensor.detach().cpu().contiguous()
        digest.update(str((tuple(array.shape), str(array.dtype))).encode())
        digest.update(array.view(-1).view(dtype=_byte_dtype()).numpy().tobytes())
    return digest.hexdigest()


def _byte_dtype():
    import torch

    return torch.uint8


def output_shapes(model: Any, names: Iterable[str], example: Any,
                  strict: bool = True) -> dict[str, tuple[int, ...]]:
    """Output shape (without batch axis) of each named module for one example input.

    With ``strict=False`` a module whose output is not a tensor (or a tuple
    starting with one) is left out instead of failing the probe.

    Parameters
    ----------
    model : torch.nn.Module
    names : iterable of str
        Module names.
    example : torch.Tensor or dict
        One batch of input (batch size 1), passed as ``model(example)`` or
        ``model(**example)``.
    """
    import torch

    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name in names:
        module = model.get_submodule(name)

        def hook(_module, _inputs, output, name=name):
            if isinstance(output, (tuple, list)) and output:
                output = output[0]
            if strict or hasattr(output, "shape"):
                shapes[name] = tuple(output.shape[1:])

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(**example) if isinstance(example, Mapping) else model(example)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return shapes


def candidate_layers(model: Any) -> list[str]:
    """Names of the Conv2d, Linear and transformers ``Conv1D`` modules of ``model``, in order."""
    from torch import nn

    # Conv1D is matched by name so that listing layers never imports transformers.
    return [n for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) or type(m).__name__ == "Conv1D"]


def from_module(
    model: Any,
    layers: Iterable[str],
    *,
    layout: str = "channel",
    pool: str = "mean",
    modality: str = "vision",
    transform: Callable | None = None,
    tokenizer: Any = None,
    input_shape: tuple[int, ...] = (3, 224, 224),
    positions: Mapping[str, CorticalSheet | np.ndarray] | None = None,
    name: str = "module",
    identity: str | None = None,
    options: dict[str, Any] | None = None,
) -> Subject:
    """Make a Subject from any ``nn.Module`` and the names of its topographic layers.

    Parameters
    ----------
    model : torch.nn.Module
    layers : iterable of str
        Module names to hook (see ``model.named_modules()``).
    layout : {"channel", "channel_space"}
        ``channel``: each output channel / feature is one unit on the TopoLoss grid.
        ``channel_space``: each channel x spatial position is a unit (conv layers).
    pool : {"mean", "max"}
        Reduction over space (conv) or tokens (vision transformer) for ``channel``.
    positions : mapping of layer name to CorticalSheet or (n_units, 2) array, optional
        Explicit positions; others get the default sheet for ``layout``.
    identity : str, optional
        Content hash for caching; computed from the state dict when absent.

    Returns
    -------
    Subject
    """
    check_option("layout", layout, LAYOUTS)
    check_option("pool", pool, POOLS)
    names = list(layers)
    if not names:
        raise ToposcopeError("no layers given; pass layers=[...] with module names of the model")
    check_layers(names, [n for n, _ in model.named_modules()], spec=name)
    positions = dict(positions or {})
    unknown = sorted(set(positions) - set(names))
    if unknown:
        raise ToposcopeError(f"positions given for {unknown} which are not among layers {names}")
    example = _example_input(modality, input_shape, tokenizer)
    topo_layers = _topo_layers(model, names, layout, pool, modality, example, positions)
    return Subject(
        model=model,
        layers=topo_layers,
        modality=modality,
        name=name,
        identity=identity or module_sha256(model),
        transform=transform,
        tokenizer=tokenizer,
        input_shape=input_shape,
        options=dict(options or {}),
    )


def _topo_layers(model: Any, names: list[str], layout: str, pool: str, modality: str, example: Any,
                 positions: Mapping[str, Any]) -> dict[str, TopoLayer]:
    """A TopoLayer per module name, its sheet sized from the module's output on ``example``."""
    shapes = output_shapes(model, names, example)
    parameters = dict(model.named_parameters())
    topo_layers = {}
    for layer in names:
        shape = shapes.get(layer)
        if shape is None:
            raise ToposcopeError(f"layer {layer!r} did not run in a forward pass; pick a layer the model uses")
        sheet = _sheet_for(layer, shape, layout, modality, positions.get(layer))
        weight = f"{layer}.weight" if f"{layer}.weight" in parameters else None
        topo_layers[layer] = TopoLayer(name=layer, sheet=sheet, pool=pool, weight=weight)
    return topo_layers


def module_table(subject: Subject) -> list[tuple[str, str, tuple[int, ...] | None]]:
    """Every named module of ``subject.model``: ``(name, type, output shape without batch)``.

    Shapes come from one forward pass on the subject's probe input; ``None`` for
    modules that do not run in it (or that output no tensor).
    """
    names = [n for n, _ in subject.model.named_modules() if n]
    example = _example_input(subject.modality, subject.input_shape, subject.tokenizer)
    shapes = output_shapes(subject.model, names, example, strict=False)
    modules = dict(subject.model.named_modules())
    return [(n, type(modules[n]).__name__, shapes.get(n)) for n in names]


def _example_input(modality: str, input_shape: tuple[int, ...], tokenizer: Any) -> Any:
    import torch

    if modality == "language":
        if tokenizer is None:
            return torch.zeros((1, 8), dtype=torch.long)
        return dict(tokenizer(["a short probe sentence"], return_tensors="pt"))
    return torch.zeros((1, *input_shape))


def _sheet_for(
    layer: str, shape: tuple[int, ...], layout: str, modality: str, given: Any
) -> CorticalSheet:
    """The sheet of a layer whose output (without batch) has ``shape``."""
    conv_like = len(shape) == 3 and modality == "vision"
    if layout == "channel_space":
        if not conv_like:
            raise ToposcopeError(
                f"layer {layer!r} outputs shape {shape}, not (channels, height, width); "
                "channel_space needs a conv layer, use layout='channel'"
            )
        if isinstance(given, CorticalSheet):
            return _checked(given, layer, int(np.prod(shape)))
        return channel_space_sheet(*shape, positions=given, name=layer)
    n_units = shape[0] if conv_like else shape[-1]
    if isinstance(given, CorticalSheet):
        return _checked(given, layer, n_units)
    if given is not None:
        given = np.asarray(given, dtype=np.float64)
        if len(given) != n_units:
            raise ToposcopeError(
                f"positions hold {len(given)} units but layer {layer!r} has {n_units}; "
                "give one (x, y) per unit"
            )
        return CorticalSheet(positions=given, layout="channel", name=layer)
    return grid_sheet(n_units, name=layer)


def _checked(sheet: CorticalSheet, layer: str, n_units: int) -> CorticalSheet:
    if sheet.n_units != n_units:
        raise ToposcopeError(
            f"positions hold {sheet.n_units} units but layer {layer!r} has {n_units}; "
            "use the positions made for this layer"
        )
    return sheet.with_name(layer)
