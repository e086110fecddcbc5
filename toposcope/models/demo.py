"""Two small digit classifiers shipped with toposcope: ``demo/topo`` and ``demo/baseline``.

Twins with the same architecture, seed, data and batch order, trained by
``scripts/train_demo_models.py`` on the UCI digits; ``topo`` adds TopoLoss on
its four topographic layers, ``baseline`` does not (tau = 0). Their weights
(safetensors) and training record (``demo.json``) live in
``toposcope/data/demo/`` and load offline.

Architecture (input: one 16x16 greyscale image scaled to [-1, 1])::

    conv1  Conv2d(1 -> 16, 3x3, pad 1)  ReLU                 16 units, 4x4 sheet
    conv2  Conv2d(16 -> 32, 3x3, pad 1) ReLU  MaxPool 2       32 units, 4x8 sheet
    conv3  Conv2d(32 -> 64, 3x3, pad 1) ReLU  MaxPool 2       64 units, 8x8 sheet
    fc1    Linear(64*4*4 -> 128)        ReLU                 128 units, 8x16 sheet
    fc2    Linear(128 -> 10)                                 the readout
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_option
from toposcope.models.subject import Subject, file_sha256, from_module

__all__ = [
    "DEMO_MODELS",
    "INPUT_SIZE",
    "TOPO_LAYERS",
    "DigitTransform",
    "build_model",
    "demo_metadata",
    "load_demo",
    "weights_path",
]

#: The shipped models, by spec suffix (``demo/topo``).
DEMO_MODELS = ("topo", "baseline")
#: Module names of the layers laid on a TopoLoss sheet.
TOPO_LAYERS = ("conv1", "conv2", "conv3", "fc1")
#: Side of the square input, in pixels.
INPUT_SIZE = 16
#: Name of the training record beside the weights.
METADATA_FILE = "demo.json"


def build_model() -> Any:
    """An untrained demo network (see the module docstring)."""
    import torch
    from torch import nn

    class DigitNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = nn.Linear(64 * (INPUT_SIZE // 4) ** 2, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.relu(self.conv1(x))
            x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
            x = torch.max_pool2d(torch.relu(self.conv3(x)), 2)
            x = torch.relu(self.fc1(x.flatten(1)))
            return self.fc2(x)

    return DigitNet()


class DigitTransform:
    """PIL image (any size, RGB or greyscale) -> float tensor (1, 16, 16) in [-1, 1].

    Greyscale conversion, a bilinear resize to 16x16 and ``(x / 255 - 0.5) / 0.5``:
    exactly what the training script did to the 8x8 digit images.
    """

    size = INPUT_SIZE

    def __call__(self, image: Any) -> Any:
        import torch
        from PIL import Image

        if not isinstance(image, Image.Image):
            raise ToposcopeError(f"the demo transform takes a PIL image, got {type(image).__name__}")
        grey = image.convert("L").resize((self.size, self.size), Image.BILINEAR)
        pixels = np.asarray(grey, dtype=np.float32) / 255.0
        return torch.from_numpy((pixels - 0.5) / 0.5)[None]

    def __repr__(self) -> str:
        return f"DigitTransform(size={self.size})"


def _data_dir() -> Path:
    return Path(str(resources.files("toposcope") / "data" / "demo"))


def weights_path(name: str) -> Path:
    """The shipped safetensors file of demo model ``name`` (``"topo"`` or ``"baseline"``)."""
    check_option("demo model", name, DEMO_MODELS, hint="use demo/topo or demo/baseline")
    path = _data_dir() / f"{name}.safetensors"
    if not path.is_file():
        raise ToposcopeError(
            f"the demo weights {path.name!r} are missing from the installed package; "
            "reinstall toposcope or run scripts/train_demo_models.py"
        )
    return path


def demo_metadata(path: str | Path | None = None) -> dict[str, Any]:
    """The training record of the shipped demo models (tau, seed, epochs, accuracy, TopoLoss)."""
    path = Path(path) if path is not None else _data_dir() / METADATA_FILE
    if not path.is_file():
        raise ToposcopeError(f"demo training record {path.name!r} is missing; run scripts/train_demo_models.py")
    return json.loads(path.read_text(encoding="utf-8"))


def load_demo(rest: str, *, checkpoint: str | Path | None = None, pool: str = "mean",
              trust_checkpoint: bool = False) -> Subject:
    """``demo/topo`` or ``demo/baseline`` as a Subject, from the package data.

    Parameters
    ----------
    rest : {"topo", "baseline"}
        Which twin.
    checkpoint : path, optional
        A safetensors (or torch) state dict of the same architecture (e.g. a fresh run of the
        training script) to load instead of the shipped weights.
    pool : {"mean", "max"}
        Reduction of the conv layers' spatial maps.
    trust_checkpoint : bool
        Unpickle a checkpoint that holds more than tensors (e.g. a whole pickled
        ``nn.Module``), which can run code from the file; recorded in provenance.

    Returns
    -------
    Subject
        Vision modality; topographic layers ``conv1, conv2, conv3, fc1`` on
        their TopoLoss grids; ``transform`` = :class:`DigitTransform`;
        ``identity`` = sha256 of the weights file.
    """
    from toposcope.models.checkpoints import load_weights, read_checkpoint, unwrap_state_dict

    name = rest.strip("/")
    check_option("demo model", name, DEMO_MODELS, hint="use demo/topo or demo/baseline")
    path = weights_path(name) if checkpoint is None else Path(checkpoint)
    state = unwrap_state_dict(read_checkpoint(path, hint="give a .safetensors file of a demo model",
                                             trust=trust_checkpoint))
    model = build_model()
    load_weights(model, state, str(path), "the demo architecture")
    model.eval()
    return from_module(
        model, TOPO_LAYERS, layout="channel", pool=pool, transform=DigitTransform(),
        input_shape=(1, INPUT_SIZE, INPUT_SIZE), name=f"demo/{name}", identity=file_sha256(path),
        options={"checkpoint": None if checkpoint is None else str(checkpoint), "pool": pool,
                 "trust_checkpoint": trust_checkpoint or None},
    )
