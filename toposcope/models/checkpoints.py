"""Reading checkpoints: state dicts from .pt/.pth/.bin/.safetensors, unwrapped and checked.

Every adapter loads weights through :func:`load_weights`, so a checkpoint of the
wrong architecture always fails the same way: one line naming a few missing
and unexpected keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, check_file, format_key_mismatch

__all__ = ["load_weights", "read_checkpoint", "unwrap_state_dict"]

#: Keys under which training scripts commonly nest the weights.
WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "module")
#: Prefixes added by DataParallel / torch.compile.
PREFIXES = ("module.", "_orig_mod.")


def read_checkpoint(path: str | Path, hint: str = "pass checkpoint=PATH to a local file") -> Any:
    """Load a checkpoint file on the CPU.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load`` (tensors only first, then, for files that pickle whole
    modules, full unpickling of a file the user chose).
    """
    import torch

    path = check_file("checkpoint", path, hint)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            if "weights_only" not in str(error) and "Unsupported global" not in str(error):
                raise
            return torch.load(path, map_location="cpu", weights_only=False)
    except ToposcopeError:
        raise
    except Exception as error:  # noqa: BLE001 - any decoder error becomes one line
        raise ToposcopeError(
            f"cannot read checkpoint {str(path)!r} ({type(error).__name__}: {str(error).splitlines()[0][:120]}); "
            "is it a complete PyTorch or safetensors file?"
        ) from None


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
