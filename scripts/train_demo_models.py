"""Train the shipped demo models ``demo/topo`` and ``demo/baseline`` on the UCI digits.

Both twins start from the same seed and see the same batches in the same order;
``topo`` adds ``tau * TopoLoss`` (factor 3 x 3) of each topographic layer to the
cross-entropy, ``baseline`` uses tau = 0. Training is deterministic (fixed
seed, one thread, deterministic kernels) and takes well under a minute on two
CPU cores. The weights go to ``toposcope/data/demo/{topo,baseline}.safetensors``
and the record (tau, seed, epochs, test accuracy, final TopoLoss per layer) to
``toposcope/data/demo/demo.json``.

Usage::

    python scripts/train_demo_models.py            # rewrite the shipped files
    python scripts/train_demo_models.py -o DIR     # write elsewhere
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "toposcope" / "data" / "demo"

#: Training settings; recorded in demo.json.
SETTINGS = {
    "seed": 0,
    "epochs": 25,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "tau": 1.0,
    "factor": [3.0, 3.0],
    "test_fraction": 0.2,
    "threads": 1,
}


def deterministic(seed: int, threads: int) -> None:
    """Seed torch and ask for deterministic kernels on a fixed number of threads."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def digit_tensors() -> tuple[Any, Any]:
    """All digits through the demo transform: inputs (1797, 1, 16, 16), labels (1797,)."""
    import torch
    from PIL import Image

    from toposcope.demo.digits import digit_images
    from toposcope.models.demo import DigitTransform

    images, labels = digit_images()
    transform = DigitTransform()
    inputs = torch.stack([transform(Image.fromarray(image)) for image in images])
    return inputs, torch.from_numpy(labels)


def accuracy(model: Any, inputs: Any, labels: Any) -> float:
    """Fraction of ``inputs`` classified as ``labels``."""
    import torch

    model.eval()
    with torch.no_grad():
        return float((model(inputs).argmax(1) == labels).float().mean())


def train_one(tau: float, inputs: Any, labels: Any, settings: dict) -> tuple[Any, dict]:
    """Train one twin; returns the model and its record."""
    import torch
    import torch.nn.functional as F

    from toposcope.analysis.topoloss import TopoLossPenalty
    from toposcope.models.demo import TOPO_LAYERS, build_model

    deterministic(settings["seed"], settings["threads"])
    model = build_model()
    penalty = TopoLossPenalty(model, TOPO_LAYERS, tau=tau, factor=tuple(settings["factor"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["learning_rate"])
    order = torch.Generator().manual_seed(settings["seed"])
    start = time.perf_counter()
    for _epoch in range(settings["epochs"]):
        model.train()
        for batch in torch.randperm(len(inputs), generator=order).split(settings["batch_size"]):
            loss = F.cross_entropy(model(inputs[batch]), labels[batch]) + penalty()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    return model.eval(), {"tau": tau, "train_seconds": round(seconds, 2), "topoloss": penalty.values()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                        help="folder for topo.safetensors, baseline.safetensors and demo.json")
    parser.add_argument("--tau", type=float, default=SETTINGS["tau"], help="TopoLoss strength of demo/topo")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--seed", type=int, default=SETTINGS["seed"])
    args = parser.parse_args(argv)

    import torch
    from safetensors.torch import save_file

    from toposcope.demo.digits import train_test_split
    from toposcope.io import atomic_path
    from toposcope.models.subject import file_sha256

    settings = {**SETTINGS, "tau": args.tau, "epochs": args.epochs, "seed": args.seed}
    inputs, labels = digit_tensors()
    train, test = train_test_split(labels.numpy(), settings["test_fraction"], seed=settings["seed"])
    train, test = torch.from_numpy(train), torch.from_numpy(test)
    record: dict[str, Any] = {
        "dataset": "UCI digits (sklearn.datasets.load_digits), 8x8 -> 16x16",
        "n_train": len(train), "n_test": len(test),
        "settings": {k: v for k, v in settings.items() if k != "tau"},
        "torch_version": torch.__version__.split("+")[0],
        "models": {},
    }
    args.output.mkdir(parents=True, exist_ok=True)
    for name, tau in (("topo", settings["tau"]), ("baseline", 0.0)):
        model, info = train_one(tau, inputs[train], labels[train], settings)
        info["test_accuracy"] = round(accuracy(model, inputs[test], labels[test]), 6)
        info["train_accuracy"] = round(accuracy(model, inputs[train], labels[train]), 6)
        path = args.output / f"{name}.safetensors"
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata={"model": f"demo/{name}", "tau": str(tau)})
        path.chmod(0o644)  # package data: readable by everyone (temp files start private)
        info["sha256"] = file_sha256(path)
        info["topoloss"] = {k: round(v, 6) for k, v in info["topoloss"].items()}
        record["models"][name] = info
        print(f"demo/{name}: tau={tau:g}  test accuracy {info['test_accuracy']:.4f}  "
              f"TopoLoss " + ", ".join(f"{k} {v:.3f}" for k, v in info["topoloss"].items())
              + f"  ({info['train_seconds']:.1f} s)")
    with atomic_path(args.output / "demo.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (args.output / "demo.json").chmod(0o644)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
