"""TDANN (``tdann``): the topographic ResNets of Margalit et al. (2024) with their unit positions.

Facts this adapter rests on (neuroailab/TDANN):

- ``spacetorch/models/trunks/resnet.py``: the trunk is a torchvision ResNet-18
  (``SpatialResNet18``; ResNet-50 in ``SpatialResNet50``) held as ``base_model``
  with ``fc`` replaced by an identity; the topographic layers are the outputs of
  the residual blocks ``layer1.0`` ... ``layer4.1`` (``LAYER_ORDER``), each unit
  a channel x spatial position of the block output.
- ``spacetorch/models/__init__.py`` (``load_weights``) and ``demo/src/model.py``:
  VISSL checkpoints (``*.torch``) keep the trunk at
  ``["classy_state_dict"]["base_model"]["model"]["trunk"]``; its keys start with
  ``base_model.`` (the same modules appear again under ``_feature_blocks.``), and
  ``base_model.fc.*`` is dropped. Released weights: https://osf.io/64qv3/
  (``tdann_data/tdann/checkpoints``).
- ``spacetorch/models/positions.py``: one ``LayerPositions`` per layer, file stem =
  layer name, ``.pkl`` or ``.npz``, coordinates in mm, ``dims`` = (C, H, W) of the
  block output for 224 x 224 inputs (``OUTPUT_DIMS_FOR_224_INPUTS``); read by
  :mod:`toposcope.position_files`.
- ``spacetorch/analyses/core.py`` (``get_positions``): position folders without a
  ``version.txt`` (version 1) were laid out at macaque scale; the paper's analyses
  multiply them per layer to human scale (``rescale=True`` here does the same).
- ``demo/src/data.py``: inputs are resized to 224 and ImageNet-normalised.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, check_bool, check_option
from toposcope.models.checkpoints import load_weights, read_checkpoint, unwrap_state_dict
from toposcope.models.subject import Subject, file_sha256, from_module
from toposcope.models.transforms import imagenet_transform
from toposcope.sheet import CorticalSheet, load_positions, positions_files

__all__ = ["LAYERS", "RESCALE", "load_tdann", "output_dims", "tdann_model", "tdann_state_dict"]

#: Topographic layers (residual block outputs) of each TDANN trunk, in forward order.
LAYERS: dict[str, tuple[str, ...]] = {
    "resnet18": tuple(f"layer{stage}.{block}" for stage, n in zip(range(1, 5), (2, 2, 2, 2))
                      for block in range(n)),
    "resnet50": tuple(f"layer{stage}.{block}" for stage, n in zip(range(1, 5), (3, 4, 6, 3))
                      for block in range(n)),
}

#: Per-layer factors from macaque-scale (version 1) to human-scale positions, ResNet-18.
RESCALE: dict[str, float] = {
    "layer1.0": 0.6, "layer1.1": 0.6, "layer2.0": 1.5, "layer2.1": 1.5,
    "layer3.0": 1.75, "layer3.1": 1.4, "layer4.0": 7.0, "layer4.1": 7.0,
}

INPUT_SIZE = 224
WEIGHTS_HINT = (
    "pass checkpoint=PATH to a TDANN checkpoint (e.g. model_final_checkpoint_phase199.torch "
    "from https://osf.io/64qv3/, tdann_data/tdann/checkpoints)"
)
POSITIONS_HINT = (
    "pass positions=DIR, the folder of layer1.0 ... layer4.1 .pkl/.npz files the model was "
    "trained with (https://osf.io/64qv3/, tdann_data/tdann/positions)"
)
_VISSL_TRUNK = ("classy_state_dict", "base_model", "model", "trunk")


def tdann_model(arch: str = "resnet18") -> Any:
    """An untrained TDANN trunk: torchvision ``arch`` with ``fc`` removed."""
    import torchvision
    from torch import nn

    check_option("arch", arch, tuple(LAYERS))
    model = getattr(torchvision.models, arch)(weights=None)
    model.fc = nn.Identity()
    return model


def tdann_state_dict(content: Any) -> dict[str, Any]:
    """The trunk weights inside a TDANN checkpoint, with torchvision key names.

    Accepts a VISSL checkpoint, a trunk state dict with ``base_model.`` keys, or
    a plain torchvision state dict; classifier (``fc.``) weights are dropped.
    """
    trunk = content
    for key in _VISSL_TRUNK:
        if not isinstance(trunk, dict) or key not in trunk:
            trunk = content
            break
        trunk = trunk[key]
    state = unwrap_state_dict(trunk)
    if any(key.startswith("base_model.") for key in state):
        # _feature_blocks.* repeats the same tensors under other names.
        prefix = "base_model."
        state = {key[len(prefix):]: v for key, v in state.items() if key.startswith(prefix)}
    return {key: v for key, v in state.items() if not key.startswith("fc.")}


def positions_version(folder: str | Path) -> int:
    """The position scheme version of a TDANN folder: ``version.txt``, else 1."""
    path = Path(folder).expanduser() / "version.txt"
    if not path.is_file():
        return 1
    first = path.read_text().strip().splitlines()[:1]
    try:
        return int(first[0]) if first else 1
    except ValueError:
        raise ToposcopeError(
            f"{str(path)!r} should hold a version number, got {first[0]!r}"
        ) from None


def _checked_sheet(path: Path, layer: str, shape: tuple[int, ...]) -> CorticalSheet:
    sheet = load_positions(path, n_units=int(shape[0] * shape[1] * shape[2])).with_name(layer)
    if sheet.layout != "channel_space":
        raise ToposcopeError(
            f"positions file {str(path)!r} is not a TDANN conv-layer file (no (C, H, W) dims) but "
            f"layer {layer!r} outputs {tuple(shape)}; {POSITIONS_HINT}"
        )
    dims = (int(sheet.channel.max()) + 1, int(sheet.row.max()) + 1, int(sheet.col.max()) + 1)
    if dims != tuple(shape):
        raise ToposcopeError(
            f"positions file {str(path)!r} is for a {dims} feature map but layer {layer!r} "
            f"outputs {tuple(shape)} for {INPUT_SIZE}x{INPUT_SIZE} inputs; "
            "use the positions made for this model"
        )
    return sheet


def output_dims(arch: str, layer: str) -> tuple[int, int, int]:
    """(C, H, W) of a residual block's output for 224 x 224 inputs.

    As spacetorch's ``OUTPUT_DIMS_FOR_224_INPUTS``: stage s has 64 * 2**(s-1)
    channels (x4 in ResNet-50's bottlenecks) on a 56 / 2**(s-1) square map.
    """
    stage = int(layer[len("layer")]) - 1
    width = 64 * 2**stage * (4 if arch == "resnet50" else 1)
    side = 56 // 2**stage
    return width, side, side


def _layer_sheets(folder: Any, arch: str, rescale: bool) -> dict[str, CorticalSheet]:
    files = positions_files(folder)
    known = LAYERS[arch]
    for stem, path in files.items():
        if stem not in known:
            raise ToposcopeError(
                f"positions file {path.name!r} names layer {stem!r}, which TDANN {arch} does "
                f"not have; expected {', '.join(known)}"
            )
    # from_module checks these dims against a real forward pass afterwards.
    sheets = {name: _checked_sheet(files[name], name, output_dims(arch, name))
              for name in known if name in files}
    if rescale and positions_version(folder) == 1:
        sheets = {name: replace(sheet, positions=sheet.positions * RESCALE[name])
                  for name, sheet in sheets.items()}
    return sheets



def load_tdann(
    rest: str = "",
    *,
    checkpoint: str | Path | None = None,
    positions: str | Path | None = None,
    arch: str | None = None,
    rescale: bool | str = False,
    trust_checkpoint: bool = False,
) -> Subject:
    """A trained TDANN as a Subject, one channel x space layer per positions file.

    Parameters
    ----------
    rest : str
        What follows ``tdann/`` in a spec: the trunk, ``resnet18`` (default) or ``resnet50``.
    checkpoint : path
        A TDANN VISSL checkpoint (``*.torch``) or a state dict of the trunk.
    positions : path
        Folder of ``layer1.0`` ... ``layer4.1`` position files (``.pkl`` or ``.npz``);
        every file becomes a layer, and its ``dims`` must equal the block's
        output (C, H, W) for 224 x 224 inputs.
    arch : {"resnet18", "resnet50"}, optional
        The trunk, instead of giving it in the spec.
    rescale : bool
        Multiply version-1 (macaque-scale) positions by the paper's per-layer
        factors to human scale, as TDANN's analyses do; folders with a
        ``version.txt`` of 2 or more are left as they are.
    trust_checkpoint : bool
        Unpickle a checkpoint that holds more than tensors (e.g. a whole pickled
        ``nn.Module``), which can run code from the file; recorded in provenance.

    Returns
    -------
    Subject
        Modality ``"vision"``; each layer's responses have shape
        (n_images, C * H * W) with unit coords ``x``, ``y`` (mm), ``channel``,
        ``row``, ``col``. Images are resized to 224, centre-cropped and
        ImageNet-normalised.
    """
    if rest and arch is not None and rest != arch:
        raise ToposcopeError(f"give the trunk once: tdann/{rest} or arch={arch!r}, not both")
    arch = check_option("TDANN arch", arch or rest or "resnet18", tuple(LAYERS))
    rescale = check_bool("rescale", rescale)
    if rescale and arch != "resnet18":
        raise ToposcopeError(
            f"rescale factors are known for TDANN resnet18 only, not {arch}; drop rescale"
        )
    if checkpoint is None:
        raise ToposcopeError(f"tdann has no built-in weights; {WEIGHTS_HINT}")
    if positions is None:
        raise ToposcopeError(f"tdann needs its unit positions; {POSITIONS_HINT}")
    sheets = _layer_sheets(positions, arch, rescale)
    state = tdann_state_dict(read_checkpoint(checkpoint, hint=WEIGHTS_HINT, trust=trust_checkpoint))
    model = load_weights(tdann_model(arch), state, str(checkpoint), f"TDANN {arch}")
    return from_module(
        model, list(sheets), layout="channel_space", modality="vision",
        transform=imagenet_transform(size=INPUT_SIZE, resize=INPUT_SIZE),
        input_shape=(3, INPUT_SIZE, INPUT_SIZE), positions=sheets, name=f"tdann/{arch}",
        identity=file_sha256(checkpoint),
        options={"checkpoint": str(checkpoint), "positions": str(positions), "arch": arch,
                 "rescale": rescale, "trust_checkpoint": trust_checkpoint or None},
    )
