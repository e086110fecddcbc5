"""Reading checkpoints: state dicts from .pt/.pth/.bin/.safetensors, unwrapped and checked.

Every adapter loads weights through :func:`load_weights`, so a checkpoint of the
wrong architecture always fails the same way: one line naming a few missing
and unexpected keys.

Safety: unpickling a file can run any code its author put in it. By default a
pickled checkpoint is read with ``torch.load(weights_only=True)``, which builds
tensors and plain containers only, plus the few classes the released formats
store beside their weights (:data:`SAFE_GLOBALS`), allowed by exact name through
torch's safe-globals mechanism. Anything else is refused, naming the class the
file asks for; ``trust=True`` (``trust_checkpoint=True`` in the API,
``--trust-checkpoint`` on the command line) is the only way to unpickle it, and
adapters record that choice in the result's provenance. safetensors files hold
tensors only and never need it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, check_file, format_key_mismatch

__all__ = ["SAFE_GLOBALS", "load_weights", "read_checkpoint", "unsafe_globals", "unwrap_state_dict"]

#: Keys under which training scripts commonly nest the weights.
WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "module")
#: Prefixes added by DataParallel / torch.compile.
PREFIXES = ("module.", "_orig_mod.")
#: Classes beyond tensors and containers that released checkpoints store, allowed by exact
#: name: torchvision's reference ``train.py`` saves its ``argparse.Namespace`` of arguments
#: beside the weights (the TopoNets ViT-B/32 files). A Namespace holds attributes only.
SAFE_GLOBALS: tuple[type, ...] = (argparse.Namespace,)

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def read_checkpoint(path: str | Path, hint: str = "pass checkpoint=PATH to a local file", *,
                    trust: bool = False) -> Any:
    """Load a checkpoint file on the CPU without running code from it.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file (read with safetensors) or a ``torch.save`` file.
    hint : str
        The fix to suggest when the file is missing.
    trust : bool
        Unpickle whatever the file holds (``torch.load(weights_only=False)``), which
        can run code from it. Only for files from a source you trust.

    Returns
    -------
    object
        The loaded content: a dict of tensors, a nested dict, or (``trust=True``) any object.

    Raises
    ------
    ToposcopeError
        The file is missing, empty or not a checkpoint, or (``trust=False``) it
        needs a class outside tensors, containers and :data:`SAFE_GLOBALS`.
    """
    import torch

    path = check_file("checkpoint", path, hint)
    if path.stat().st_size == 0:
        raise ToposcopeError(f"checkpoint {str(path)!r} is empty (0 bytes); "
                             "was its download or save interrupted? fetch or save it again")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except ToposcopeError:
        raise
    except Exception as error:  # noqa: BLE001 - any decoder error becomes one line
        if not trust and isinstance(error, _unpickling_errors()):
            names = unsafe_globals(path) or _GLOBAL.findall(str(error))
            if names:
                raise _untrusted(path, names) from None
        first = (str(error).strip().splitlines() or ["no message"])[0][:120]
        raise ToposcopeError(
            f"cannot read checkpoint {str(path)!r} ({type(error).__name__}: {first}); "
            "is it a complete PyTorch or safetensors file?"
        ) from None


def _unpickling_errors() -> tuple[type[BaseException], ...]:
    import pickle

    return (pickle.UnpicklingError, RuntimeError)


def unsafe_globals(path: str | Path) -> list[str]:
    """Names of the classes and functions a ``torch.save`` file would import, beyond the safe ones.

    Reads the pickle's opcodes without executing them (zip-format files, the
    default of ``torch.save`` since PyTorch 1.6); an empty list for other files.
    """
    import torch

    allowed = {f"{cls.__module__}.{cls.__qualname__}" for cls in SAFE_GLOBALS}
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # noqa: BLE001 - legacy or damaged files: the caller falls back
        return []
    # The file's own classes first: they say more than torch's modules it also names.
    return sorted((name for name in names if name not in allowed), key=lambda name: name.startswith("torch."))


def _untrusted(path: Path, names: list[str]) -> ToposcopeError:
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    problem = (f"checkpoint {str(path)!r} holds more than tensors ({shown}); "
               "loading it would unpickle objects and can run code from the file")
    return ToposcopeError(
        f"{problem}; if you trust its source, pass trust_checkpoint=True, or save model.state_dict() instead",
        cli=f"{problem}; if you trust its source, pass --trust-checkpoint (in a recipe: trust_checkpoint = true "
            "in its [[models]] entry), or save model.state_dict() instead",
    )


def unwrap_state_dict(checkpoint: Any, keys: Iterable[str] = WRAPPER_KEYS) -> dict[str, Any]:
    """The tensor dict inside ``checkpoint``, with wrapper keys and prefixes removed."""
    state = checkpoint
    for _ in range(3):  # nested wrappers such as {"model": {"state_dict": ...}}
        if not isinstance(state, Mapping):
            break
        inner = next((state[k] for k in keys if isinstance(state.get(k), Mapping)), None)
        if inner is None or _looks_like_tensors(state):
            break
        state = inner
    if not isinstance(state, Mapping):
        raise ToposcopeError(
            f"checkpoint holds a {type(state).__name__}, not a state dict; save model.state_dict()"
        )
    out = {}
    for key, value in state.items():
        for prefix in PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def _looks_like_tensors(state: Mapping) -> bool:
    import torch

    values = list(state.values())
    return bool(values) and sum(isinstance(v, torch.Tensor) for v in values) > len(values) // 2


def load_weights(model: Any, state: Mapping[str, Any], source: str, arch: str) -> Any:
    """Load ``state`` into ``model`` strictly; a mismatch names a few keys of each kind.

    Parameters
    ----------
    model : torch.nn.Module
    state : dict of str to Tensor
    source : str
        Where the weights came from (for the message).
    arch : str
        The architecture expected (for the message).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ToposcopeError(
            f"checkpoint {source!r} does not fit {arch}: {format_key_mismatch(missing, unexpected)}; "
            "is it a checkpoint of another architecture?"
        )
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        key = wrong[0]
        raise ToposcopeError(
            f"checkpoint {source!r} does not fit {arch}: {key} has shape {tuple(state[key].shape)}, "
            f"expected {tuple(expected[key].shape)} ({len(wrong)} mismatched in all)"
        )
    model.load_state_dict(state, strict=True)
    return model
