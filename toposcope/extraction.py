"""Responses of a Subject's topographic layers to a stimulus set (``toposcope.extract``).

The only module (with :mod:`toposcope.models`) that runs forward passes. One
forward pass per batch feeds every requested layer through forward hooks; the
hooks reduce each output to ``(batch, n_units)`` at once so no full activation
is kept. Layers too large for memory are streamed to netCDF block by block.

Results follow the data contract: one ``xr.DataArray`` named ``responses`` per
layer, dims ``(stimulus, unit)``, float32, with the stimulus set's labels as
stimulus coords and ``layer``, ``x``, ``y`` (and ``channel``, ``row``, ``col``
for channel_space layers) as unit coords.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int
from toposcope.io import ResponseStore, open_responses, provenance, write_netcdf
from toposcope.models.subject import Subject, TopoLayer, module_sha256
from toposcope.stimuli import StimulusSet, from_paths, from_texts, load, open_image

__all__ = ["TEXT_MODES", "default_cache_dir", "extract"]

#: How text responses are reduced over tokens.
#: ``mean``/``last``: one row per text (mean over its tokens / its last token);
#: ``words``: one row per whitespace-separated word, its sub-word tokens averaged.
#: Special tokens the tokenizer adds ([CLS], [SEP], BOS) are never pooled.
TEXT_MODES = ("mean", "last", "words")

#: Bump when the layout of cached responses changes, so old caches are never read.
CACHE_FORMAT = 3  # 3: keyed by the weights at extraction time


def default_cache_dir() -> Path:
    """``$TOPOSCOPE_CACHE`` or ``~/.cache/toposcope``, with ``responses/`` inside."""
    root = os.environ.get("TOPOSCOPE_CACHE") or Path.home() / ".cache" / "toposcope"
    return Path(root) / "responses"


def extract(
    subject: Subject,
    stimuli: StimulusSet | Sequence[str] | str | Path,
    layers: Iterable[str] | str | None = None,
    *,
    batch_size: int = 32,
    device: str = "cpu",
    text_mode: str = "mean",
    cache: bool | str | Path = True,
    memory_limit: float = 1 << 30,
    stream_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, xr.DataArray]:
    """Responses of the subject's topographic layers, one forward pass per batch.

    Parameters
    ----------
    subject : Subject
        From :func:`toposcope.load_model`.
    stimuli : StimulusSet, list of image paths or texts, or a folder
        Images are opened as RGB (greyscale repeated to 3 channels) and passed
        through ``subject.transform``; texts through ``subject.tokenizer``.
    layers : str or iterable of str, optional
        Topographic layer names; all of the subject's by default.
    batch_size : int
        Stimuli per forward pass.
    device : str
        Torch device for the forward passes (``"cpu"``, ``"cuda:0"``).
    text_mode : {"mean", "last", "words"}
        Language only: one row per text (mean or last token) or one row per word.
    cache : bool or path
        ``True`` uses :func:`default_cache_dir`; a path uses that folder; ``False``
        disables caching. Keys cover the weights' hash, the stimuli's content
        hash, the layer, its sheet and the options, so changed inputs never hit.
    memory_limit : float
        Bytes of responses to hold in memory; beyond that, layers are streamed
        to netCDF files (in the cache, else ``stream_dir`` or a temp folder) and
        returned lazily (dask-backed).
    progress : bool
        Show a progress bar over batches.

    Returns
    -------
    dict of str to xr.DataArray
        Per layer, ``responses`` with dims (stimulus, unit), float32.
    """
    check_positive_int("batch_size", batch_size)
    check_option("text_mode", text_mode, TEXT_MODES)
    check_device(device)
    stimulus_set = _as_stimulus_set(stimuli, subject.modality)
    chosen = subject.select(layers)
    cache_dir = _cache_dir(cache)
    stimulus_hash = stimulus_set.content_hash()
    options = {"text_mode": text_mode} if subject.modality == "language" else {}

    results: dict[str, xr.DataArray] = {}
    todo: list[TopoLayer] = []
    keys: dict[str, str] = {}
    # The weights as they are now, not as loaded: a model edited in place must not hit old responses.
    weights = module_sha256(subject.model) if cache_dir else ""
    for layer in chosen:
        keys[layer.name] = _cache_key(weights, subject, stimulus_hash, layer, options)
        cached = cache_dir / f"{keys[layer.name]}.nc" if cache_dir else None
        if cached is not None and cached.is_file():
            try:
                results[layer.name] = open_responses(cached, chunks=_chunks_for(cached, memory_limit))
                continue
            except (ToposcopeError, OSError, ValueError) as error:
                # A damaged entry (a full disk, a killed copy) is rebuilt, and the user is told.
                warnings.warn(f"cached responses of {layer.name!r} in {str(cached)!r} are unreadable "
                              f"({str(error).splitlines()[0][:80]}); extracting them again", stacklevel=2)
                cached.unlink(missing_ok=True)
        todo.append(layer)
    if todo:
        computed = _run(subject, stimulus_set, todo, stimulus_hash, batch_size=batch_size, device=device,
                        text_mode=text_mode, cache_dir=cache_dir, keys=keys, memory_limit=memory_limit,
                        stream_dir=stream_dir, progress=progress)
        results.update(computed)
    return {layer.name: results[layer.name] for layer in chosen}


# --------------------------------------------------------------------------- inputs
def check_device(device: str) -> str:
    """``device`` if torch can run on it here, else one line naming what is available."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ToposcopeError(f"unknown device {device!r} ({error}); use 'cpu', 'cuda' or 'cuda:N'",
                             cli=f"--device {device}: unknown device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (parsed.index is not None and parsed.index >= count):
            have = f"{count} CUDA device(s)" if count else "no CUDA GPU"
            raise ToposcopeError(f"device {device!r} is not available: torch sees {have}; use device='cpu'",
                                 cli=f"--device {device}: torch sees {have} here; use --device cpu")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ToposcopeError(f"device {device!r} is not available here; use device='cpu'",
                             cli=f"--device {device}: not available here; use --device cpu")
    return device


def _as_stimulus_set(stimuli: Any, modality: str) -> StimulusSet:
    if isinstance(stimuli, (str, Path)):
        stimulus_set = load(stimuli)
    elif isinstance(stimuli, StimulusSet):
        stimulus_set = stimuli
    else:
        items = [str(s) for s in stimuli]
        stimulus_set = from_texts(items) if modality == "language" else from_paths(items)
    wanted = "text" if modality == "language" else "image"
    if stimulus_set.kind != wanted:
        raise ToposcopeError(
            f"a {modality} model needs {wanted} stimuli but {stimulus_set.name!r} holds {stimulus_set.kind}s"
        )
    return stimulus_set


def _cache_dir(cache: bool | str | Path) -> Path | None:
    if cache is False or cache is None:
        return None
    return default_cache_dir() if cache is True else Path(cache)


def _cache_key(weights: str, subject: Subject, stimulus_hash: str, layer: TopoLayer, options: dict) -> str:
    """Key of one layer's cached responses; ``weights`` is the sha256 of the model's state dict now."""
    sheet = layer.sheet
    sheet_hash = hashlib.sha256(np.ascontiguousarray(sheet.positions).tobytes()).hexdigest()
    payload = {
        "format": CACHE_FORMAT,
        "model": weights,
        "stimuli": stimulus_hash,
        "layer": layer.name,
        "layout": sheet.layout,
        "pool": layer.pool,
        "sheet": sheet_hash,
        "preprocessing": _preprocessing_signature(subject),
        **options,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _preprocessing_signature(subject: Subject) -> str:
    """What turns a stimulus into model input, so changed preprocessing never hits the cache.

    A torchvision ``Compose`` prints its steps and parameters; a plain function
    prints with its memory address, which never matches across runs (safe: no
    stale hits, at the cost of no reuse).
    """
    if subject.modality == "language":
        tokenizer = subject.tokenizer
        return f"{type(tokenizer).__name__}:{getattr(tokenizer, 'name_or_path', '')}:{len(tokenizer) if tokenizer is not None else 0}"
    return repr(subject.transform)


def _chunks_for(path: Path, memory_limit: float) -> dict[str, int] | None:
    """Load small cached files eagerly; keep large ones lazy in row blocks."""
    if path.stat().st_size <= memory_limit:
        return None
    return {"stimulus": 256}


# --------------------------------------------------------------------------- batches
@dataclass
class _Batch:
    start: int  # first output row of this batch
    inputs: Any  # tensor (images) or tokenizer output (texts)
    reducer: Any = None  # language: (B, rows, T) weights from tokens to output rows
    rows: int = 0


def _image_batches(subject: Subject, stimulus_set: StimulusSet, batch_size: int) -> Iterator[_Batch]:
    import torch

    if subject.transform is None:
        raise ToposcopeError(f"model {subject.name!r} has no image transform; pass transform= when loading it")
    for start in range(0, len(stimulus_set), batch_size):
        paths = stimulus_set.items[start : start + batch_size]
        tensors = [subject.transform(open_image(p)) for p in paths]
        yield _Batch(start=start, inputs=torch.stack(tensors), rows=len(tensors))


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def _rows_per_text(stimulus_set: StimulusSet, text_mode: str) -> list[int]:
    if text_mode != "words":
        return [1] * len(stimulus_set)
    counts = [len(_word_spans(t)) for t in stimulus_set.items]
    empty = [i for i, c in enumerate(counts) if c == 0]
    if empty:
        raise ToposcopeError(f"text {empty[0]} of {stimulus_set.name!r} has no words; remove empty texts")
    return counts


def _text_batches(
    subject: Subject, stimulus_set: StimulusSet, batch_size: int, text_mode: str, rows: list[int]
) -> Iterator[_Batch]:
    import torch

    tokenizer = subject.tokenizer
    if tokenizer is None:
        raise ToposcopeError(f"model {subject.name!r} has no tokenizer (none given, and no default could be "
                             "loaded offline); pass tokenizer=DIR, a folder with its tokenizer files, when loading it",
                             cli=f"model {subject.name!r} has no tokenizer (none given, and no default could be "
                                 "loaded offline); pass -O tokenizer=DIR, a folder with its tokenizer files")
    if getattr(tokenizer, "pad_token", "") is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "padding_side", "right") != "right":
        # Causal models number positions from the first column: left padding would
        # shift a short text's real tokens and change their responses.
        tokenizer.padding_side = "right"
    if text_mode == "words" and getattr(tokenizer, "is_fast", True) is False:
        raise ToposcopeError(
            f"text_mode='words' needs a fast tokenizer (with offsets) but {subject.name!r} has a slow one; "
            "load it with use_fast=True"
        )
    limit = getattr(tokenizer, "model_max_length", None)
    limit = limit if isinstance(limit, int) and limit < 1_000_000 else None
    offsets = np.cumsum([0, *rows])
    for first in range(0, len(stimulus_set), batch_size):
        texts = list(stimulus_set.items[first : first + batch_size])
        want_offsets = text_mode == "words"
        encoded = tokenizer(texts, padding=True, return_tensors="pt", return_offsets_mapping=want_offsets,
                            return_special_tokens_mask=True)
        n_tokens = encoded["attention_mask"].sum(1)
        if limit is not None and int(n_tokens.max()) > limit:
            worst = int(n_tokens.argmax())
            raise ToposcopeError(
                f"text {first + worst} has {int(n_tokens[worst])} tokens, more than the model's "
                f"{limit}; split long texts"
            )
        # Pool over the text's own tokens: [CLS], [SEP], <s> ... carry no word of it.
        special = encoded.pop("special_tokens_mask", None)
        mask = encoded["attention_mask"].to(torch.float32)
        if special is not None:
            mask = mask * (1 - special.to(torch.float32))
        n_content = mask.sum(1)
        if len(texts) and int(n_content.min()) == 0:
            raise ToposcopeError(
                f"text {first + int(n_content.argmin())} gives no tokens; remove empty texts"
            )
        n_tokens = n_content
        if text_mode == "mean":
            reducer = (mask / n_tokens[:, None])[:, None, :]
        elif text_mode == "last":
            last = torch.as_tensor(_last_token_index(mask))
            reducer = torch.nn.functional.one_hot(last, mask.shape[1]).to(torch.float32)[:, None, :]
        else:
            reducer = _word_reducer(texts, encoded.pop("offset_mapping"), mask, first)
        yield _Batch(start=int(offsets[first]), inputs=dict(encoded), reducer=reducer,
                     rows=int(offsets[first + len(texts)] - offsets[first]))


def _last_token_index(mask: Any) -> np.ndarray:
    """Index of each row's last real token, whether padding is on the right or left."""
    mask = mask.numpy()
    return mask.shape[1] - 1 - np.argmax(mask[:, ::-1] > 0, axis=1)


def _word_reducer(texts: list[str], offsets: Any, mask: Any, first: int) -> Any:
    """(B, max_words, T) weights averaging each word's sub-word tokens."""
    import torch

    spans = [_word_spans(t) for t in texts]
    reducer = torch.zeros((len(texts), max(map(len, spans)), mask.shape[1]))
    for b, (text_spans, text_offsets) in enumerate(zip(spans, offsets.tolist())):
        starts = np.asarray([s for s, _ in text_spans])
        ends = np.asarray([e for _, e in text_spans])
        for t, (s, e) in enumerate(text_offsets):
            if e <= s or mask[b, t] == 0:
                continue  # special or padding token
            # A token belongs to the word whose span holds its first non-space character.
            word = np.searchsorted(starts, s, side="right") - 1
            if word < 0 or s >= ends[word]:
                word = np.searchsorted(starts, s)  # the token began with the space
                if word == len(starts) or starts[word] >= e:
                    continue  # whitespace only (e.g. a trailing " "): part of no word
            reducer[b, word, t] = 1.0
        counts = reducer[b].sum(1)
        for w in np.nonzero(counts[: len(text_spans)].numpy() == 0)[0]:
            raise ToposcopeError(
                f"no token covers word {int(w)} ({texts[b][text_spans[w][0]:text_spans[w][1]]!r}) "
                f"of text {first + b}; this tokenizer cannot give per-word responses"
            )
        reducer[b, : len(text_spans)] /= counts[: len(text_spans), None]
    return reducer


# --------------------------------------------------------------------------- running
class _EnoughLayers(Exception):
    """Raised from a hook once every requested layer has run, to skip the rest."""


def _to_units(output: Any, layer: TopoLayer, language: bool) -> Any:
    """Reduce one hook output to (B, n_units), or (B, T, n_units) for language."""
    if isinstance(output, tuple):
        output = output[0]
    output = output.detach()
    if output.ndim == 4:  # conv: (B, C, H, W)
        if layer.layout == "channel_space":
            return output.flatten(1)
        return output.amax(dim=(2, 3)) if layer.pool == "max" else output.mean(dim=(2, 3))
    if output.ndim == 3 and not language:  # vision transformer tokens: (B, T, F)
        return output.amax(dim=1) if layer.pool == "max" else output.mean(dim=1)
    return output


def _run(
    subject: Subject,
    stimulus_set: StimulusSet,
    layers: list[TopoLayer],
    stimulus_hash: str,
    *,
    batch_size: int,
    device: str,
    text_mode: str,
    cache_dir: Path | None,
    keys: dict[str, str],
    memory_limit: float,
    stream_dir: str | Path | None,
    progress: bool,
) -> dict[str, xr.DataArray]:
    import torch

    from toposcope._progress import progress_bar

    language = subject.modality == "language"
    rows = _rows_per_text(stimulus_set, text_mode) if language else [1] * len(stimulus_set)
    n_rows = int(sum(rows))
    stimulus_coords = _stimulus_coords(stimulus_set, rows, text_mode if language else "")
    total_bytes = 4 * n_rows * sum(layer.n_units for layer in layers)
    stream = total_bytes > memory_limit
    attrs = {
        layer.name: provenance(
            **subject.provenance(), layer=layer.name, layout=layer.layout, pool=layer.pool,
            sheet_units=layer.sheet.units, stimulus_set=stimulus_set.name,
            stimulus_set_sha256=stimulus_hash, text_mode=text_mode if language else None,
        )
        for layer in layers
    }
    sinks: dict[str, Any] = {}
    for layer in layers:
        coords = {**stimulus_coords, **layer.sheet.unit_coords(layer.name)}
        if stream:
            folder = cache_dir or Path(stream_dir or tempfile.mkdtemp(prefix="toposcope-"))
            sinks[layer.name] = ResponseStore(folder / f"{keys[layer.name]}.nc", n_rows, layer.n_units,
                                              coords, attrs[layer.name], rows_per_chunk=batch_size)
        else:
            sinks[layer.name] = np.empty((n_rows, layer.n_units), dtype=np.float32)

    model = subject.model
    was_training = model.training
    original_device = _module_device(model)
    outputs: dict[str, Any] = {}
    current: dict[str, Any] = {}
    handles = []

    def make_hook(layer: TopoLayer):
        def hook(_module, _inputs, output):
            if layer.name in outputs:
                raise ToposcopeError(
                    f"layer {layer.name!r} ran twice in one forward pass; hook a module that runs once"
                )
            outputs[layer.name] = _to_units(output, layer, language)
            if len(outputs) == len(layers) and not language:
                raise _EnoughLayers
        return hook

    batches = (
        _text_batches(subject, stimulus_set, batch_size, text_mode, rows)
        if language
        else _image_batches(subject, stimulus_set, batch_size)
    )
    bar = progress_bar(progress=progress, total=len(stimulus_set), desc=f"extract {subject.name}", unit="stim")
    try:
        model.eval().to(device)
        for layer in layers:
            handles.append(model.get_submodule(layer.name).register_forward_hook(make_hook(layer)))
        forward = subject.forward or _forward
        with torch.no_grad():
            for batch in batches:
                outputs.clear()
                current["batch"] = batch
                try:
                    forward(model, _to_device(batch.inputs, device))
                except _EnoughLayers:
                    pass
                for layer in layers:
                    block = _finish(outputs.get(layer.name), batch, layer, language)
                    sink = sinks[layer.name]
                    if isinstance(sink, ResponseStore):
                        sink.write(batch.start, block)
                    else:
                        sink[batch.start : batch.start + batch.rows] = block
                bar.update(batch.rows if not language or text_mode != "words" else
                           int(np.searchsorted(np.cumsum(rows), batch.start + batch.rows)) - bar.n)
    except BaseException:
        for sink in sinks.values():
            if isinstance(sink, ResponseStore):
                sink.abort()
        raise
    finally:
        bar.close()
        for handle in handles:
            handle.remove()
        model.to(original_device)
        model.train(was_training)

    results = {}
    for layer in layers:
        sink = sinks[layer.name]
        if isinstance(sink, ResponseStore):
            results[layer.name] = open_responses(sink.close(), chunks={"stimulus": max(batch_size, 256)},
                                                 coords={**stimulus_coords, **layer.sheet.unit_coords(layer.name)})
            continue
        coords = {**stimulus_coords, **layer.sheet.unit_coords(layer.name)}
        array = xr.DataArray(sink, dims=("stimulus", "unit"), coords=coords, name="responses",
                             attrs=attrs[layer.name])
        if cache_dir is not None:
            write_netcdf(array, cache_dir / f"{keys[layer.name]}.nc")
        results[layer.name] = array
    return results


def _forward(model: Any, inputs: Any) -> Any:
    return model(**inputs) if isinstance(inputs, dict) else model(inputs)


def _to_device(inputs: Any, device: str) -> Any:
    if isinstance(inputs, dict):
        return {k: v.to(device) for k, v in inputs.items()}
    return inputs.to(device)


def _module_device(model: Any) -> Any:
    for tensor in model.parameters():
        return tensor.device
    return "cpu"


def _finish(output: Any, batch: _Batch, layer: TopoLayer, language: bool) -> np.ndarray:
    """Turn one layer's hooked output for a batch into float32 rows."""
    import torch

    if output is None:
        raise ToposcopeError(f"layer {layer.name!r} did not run in the forward pass; pick a layer the model uses")
    if language:
        if output.ndim != 3:
            raise ToposcopeError(f"layer {layer.name!r} output has shape {tuple(output.shape)}, not (batch, tokens, features)")
        # (B, rows, T) @ (B, T, F) -> (B, rows, F); keep each text's real rows only.
        per_text = torch.bmm(batch.reducer.to(output.device, output.dtype), output.float())
        counts = (batch.reducer.sum(2) > 0).sum(1).tolist()
        output = torch.cat([per_text[b, :c] for b, c in enumerate(counts)])
    block = output.float().cpu().numpy()
    if block.shape[1] != layer.n_units:
        raise ToposcopeError(
            f"layer {layer.name!r} gave {block.shape[1]} units but its sheet has {layer.n_units}; "
            "the positions do not belong to this layer"
        )
    if not np.isfinite(block).all():
        bad = int(np.nonzero(~np.isfinite(block).all(1))[0][0])
        raise ToposcopeError(
            f"layer {layer.name!r} produced NaN or inf for stimulus row {batch.start + bad}; "
            "check the checkpoint and the input"
        )
    return block


def _stimulus_coords(stimulus_set: StimulusSet, rows: list[int], text_mode: str) -> dict:
    if text_mode != "words":
        return stimulus_set.coords()
    owner = np.repeat(np.arange(len(stimulus_set)), rows)
    words = [w for text in stimulus_set.items for w in text.split()]
    position = np.concatenate([np.arange(r) for r in rows])
    coords = {k: ("stimulus", v[owner]) for k, v in stimulus_set.labels.items()}
    ids = stimulus_set.labels["stimulus_id"][owner]
    coords["stimulus_id"] = ("stimulus", np.asarray([f"{i}/{p}" for i, p in zip(ids, position)]))
    coords["text_index"] = ("stimulus", owner)
    coords["position"] = ("stimulus", position)
    coords["word"] = ("stimulus", np.asarray(words, dtype=object))
    return coords
