"""Integration windows of a language model's units: the forward passes of the word-swap method.

:func:`swap_differences` runs every sequence of a :class:`~toposcope.stimuli.text.SwapSet`
and its ``L`` swapped copies through the model with :func:`toposcope.extract`
(word-level responses, sub-word tokens averaged) and streams the absolute
changes into :class:`~toposcope.analysis.integration.SwapAccumulator`, a few
sequences at a time. :func:`integration_windows` adds ``theta``, the fit and
the sentence-yoking index. The analysis itself lives in
:mod:`toposcope.analysis.integration`; this module only feeds it, because
analyses never run models.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_positive_int
from toposcope.analysis import integration
from toposcope.extraction import extract
from toposcope.io import provenance
from toposcope.models.subject import Subject
from toposcope.stimuli.text import Corpus, SwapSet, read_brown, read_conll, synthetic_corpus

__all__ = ["as_language_subject", "integration_windows", "layer_medians", "load_corpus", "measure_windows",
           "swap_differences"]

#: Bytes of responses held at once while accumulating (one chunk of sequences).
MEMORY = 256 << 20


def as_language_subject(model: Any, tokenizer: Any = None, layers: Iterable[str] | None = None) -> Subject:
    """A Subject from a Subject, a model spec or a transformers module.

    A module is hooked at its MLP input layers
    (:func:`toposcope.models.hf.mlp_input_layers`) unless ``layers`` names others;
    a module without them raises, naming what was looked for.
    """
    if isinstance(model, Subject):
        subject = model
    elif isinstance(model, str):
        from toposcope.models.registry import load_model

        subject = load_model(model)
    else:
        from toposcope.models.hf import mlp_input_layers
        from toposcope.models.subject import from_module

        chosen = list(layers) if layers is not None else mlp_input_layers(model, type(model).__name__)
        subject = from_module(model, chosen, modality="language", tokenizer=tokenizer, name=type(model).__name__)
    if subject.modality != "language":
        raise ToposcopeError(f"integration windows need a language model; {subject.name!r} is a {subject.modality} model")
    return subject


def swap_differences(
    subject: Subject, swaps: SwapSet, layers: Iterable[str] | str | None = None, *, batch_size: int = 64,
    device: str = "cpu", memory: float = MEMORY, progress: bool = True,
) -> xr.DataArray:
    """``D[swap_pos, measured_pos, unit]`` of every hooked unit, streamed over sequences.

    Parameters
    ----------
    subject : Subject
        A language model (see :func:`as_language_subject`).
    swaps : SwapSet
        ``n`` sequences of ``L`` words; ``n * (L + 1)`` texts are run.
    layers : str or iterable of str, optional
        Topographic layers; all by default.
    batch_size : int
        Texts per forward pass.
    device : str
    memory : float
        Bytes of word-level responses held at once; sets how many sequences go per chunk.
    progress : bool

    Returns
    -------
    xr.DataArray, dims (swap_pos, measured_pos, unit)
        Units of all layers concatenated, with coords ``layer``, ``x``, ``y``.
    """
    from toposcope._progress import progress_bar

    check_positive_int("batch_size", batch_size)
    chosen = subject.select(layers)
    length = swaps.length
    n_units = sum(layer.n_units for layer in chosen)
    per_sequence = 4 * (length + 1) * length * n_units
    step = max(1, int(memory // per_sequence))
    accumulator = None
    bar = progress_bar(progress=progress, total=swaps.n_sequences, desc=f"word swaps {subject.name}", unit="seq")
    try:
        for first in range(0, swaps.n_sequences, step):
            indices = range(first, min(first + step, swaps.n_sequences))
            responses = extract(subject, swaps.stimulus_set(indices), [layer.name for layer in chosen],
                                batch_size=batch_size, device=device, text_mode="words", cache=False,
                                progress=False)
            blocks = [responses[layer.name] for layer in chosen]
            if accumulator is None:
                coords = xr.concat([b.isel(stimulus=0, drop=True) for b in blocks], dim="unit")
                unit_coords = {k: v.variable for k, v in coords.coords.items() if v.dims == ("unit",)}
                accumulator = integration.SwapAccumulator(length, n_units, unit_coords=unit_coords)
            values = np.concatenate([np.asarray(b.values) for b in blocks], axis=1)
            values = values.reshape(len(indices), length + 1, length, n_units)
            accumulator.add(values[:, 0], values[:, 1:])
            bar.update(len(indices))
    finally:
        bar.close()
    d = accumulator.result()
    d.attrs.update(provenance(**subject.provenance(), swap_set=swaps.name, swap_kind=swaps.kind,
                              sequence_length=length))
    return d


def integration_windows(
    model: Any, natural: SwapSet, yoked: SwapSet | None = None, *, layers: Iterable[str] | str | None = None,
    tokenizer: Any = None, max_delta: int = integration.MAX_DELTA, min_swap_pos: int = integration.MIN_SWAP_POS,
    fit: str = "published", batch_size: int = 64, device: str = "cpu", progress: bool = True, keep_d: bool = False,
) -> xr.Dataset:
    """Windows of every unit: ``theta``, the power-law/exponential fit and the yoking index.

    Parameters
    ----------
    model : Subject, spec or torch module
        See :func:`as_language_subject` (``tokenizer`` is needed for a module).
    natural : SwapSet
        Running-text sequences (:func:`~toposcope.stimuli.text.natural_swaps`), ``L > max_delta``.
    yoked : SwapSet, optional
        Structure-yoked sequences (:func:`~toposcope.stimuli.text.yoked_swaps`);
        without them there is no ``yoking`` variable.
    layers : optional
        Layers to hook; all topographic layers by default.
    max_delta : int
        Largest lag of ``theta``.
    min_swap_pos : int
        Positions ``m`` with ``m - max_delta >= min_swap_pos`` are measured
        (:func:`~toposcope.analysis.integration.window_theta`): 0 (default) uses
        every position whose lags are all defined; 2 is the reference code's rule.
    fit : {"published", "global"}
        The fit (:func:`~toposcope.analysis.integration.fit_windows`):
        ``"published"`` (default) gives curve_fit's optimum from
        ``p0 = (1, 1, 0.5)``, as Skrill & Norman-Haignere; ``"global"`` the
        lowest SSE over a grid of starts.
    keep_d : bool
        Also return ``D`` (and ``D_yoked``), dims (swap_pos, measured_pos, unit).

    Returns
    -------
    xr.Dataset
        Per unit (dim ``unit`` with coords ``layer``, ``x``, ``y``): ``a``, ``b``,
        ``c``, ``r2``, ``sse``, ``converged``, ``sse_other``, ``ambiguous`` and
        ``yoking``; ``theta`` (unit, delta). Attrs record the fit that ran.
    """
    # Options are checked before any forward pass: a bad one must not cost the swaps.
    check_option("fit", fit, tuple(integration.FITS), hint="'published' reproduces curve_fit from p0 = (1, 1, 0.5)")
    check_positive_int("max_delta", max_delta)
    min_swap_pos = integration.check_min_swap_pos(min_swap_pos)
    # A module is hooked at ``layers`` when it becomes a Subject; a Subject or spec selects among its layers.
    is_module = not isinstance(model, (Subject, str))
    subject = as_language_subject(model, tokenizer, layers if is_module else None)
    if natural.length <= max_delta + min_swap_pos:
        raise ToposcopeError(
            f"sequences of {natural.length} words are shorter than the window: theta up to delta={max_delta} "
            f"with min_swap_pos={min_swap_pos} needs at least {max_delta + min_swap_pos + 1} words; use longer "
            f"sequences, a smaller max_delta or a smaller min_swap_pos"
        )
    layer_arg = None if is_module else layers
    d = swap_differences(subject, natural, layer_arg, batch_size=batch_size, device=device, progress=progress)
    theta = integration.window_theta(d, max_delta, min_swap_pos)
    result = integration.fit_windows(theta, fit=fit)
    result["theta"] = theta
    if keep_d:
        result["D"] = d
    if yoked is not None:
        d_yoked = swap_differences(subject, yoked, layer_arg, batch_size=batch_size, device=device,
                                   progress=progress)
        result["yoking"] = integration.yoking_index(d_yoked, yoked.sentence_starts)
        if keep_d:
            result["D_yoked"] = d_yoked.rename(swap_pos="yoked_swap_pos", measured_pos="yoked_measured_pos")
    result.attrs.update(provenance(**subject.provenance(), natural_set=natural.name,
                                   natural_sequences=natural.n_sequences, sequence_length=natural.length,
                                   yoked_set=None if yoked is None else yoked.name,
                                   yoked_sequences=None if yoked is None else yoked.n_sequences,
                                   sentence_starts=None if yoked is None else list(yoked.sentence_starts),
                                   max_delta=max_delta, min_swap_pos=min_swap_pos))
    return result


def load_corpus(spec: str | Path, *, seed: int = 0, n_sentences: int = 3000) -> Corpus:
    """A corpus by name: a ``.conllu`` / ``.conllx`` / ``.conll`` file, ``brown`` or ``synthetic``."""
    text = str(spec)
    if text == "synthetic":
        return synthetic_corpus(n_sentences, seed)
    if text == "brown" and not Path(text).exists():
        return read_brown()
    path = Path(text).expanduser()
    if path.suffix.lower() not in (".conllu", ".conllx", ".conll") and not path.is_file():
        raise ToposcopeError(
            f"unknown corpus {text!r}; give a CoNLL-U / CoNLL-X file, 'brown' (needs nltk) or 'synthetic'"
        )
    return read_conll(path)


def measure_windows(
    model: Any, corpus: Corpus, *, length: int = 40, n_sequences: int = 40, yoked: tuple[int, int] | None = (5, 12),
    n_yoked: int | None = None, max_delta: int = integration.MAX_DELTA, min_swap_pos: int = integration.MIN_SWAP_POS,
    fit: str = "published", layers: Iterable[str] | str | None = None, seed: int = 0, unswappable: str = "raise",
    batch_size: int = 64, device: str = "cpu", progress: bool = True,
) -> xr.Dataset:
    """Stimuli from a corpus, then :func:`integration_windows`: the whole method in one call.

    Parameters
    ----------
    model : Subject or spec
    corpus : Corpus
        From :func:`load_corpus` (CoNLL file, ``brown``, ``synthetic``).
    length, n_sequences : int
        Running-text sequences (:func:`~toposcope.stimuli.text.natural_swaps`).
    yoked : (n_sentences, sentence_length) or None
        Structure-yoked sequences (:func:`~toposcope.stimuli.text.yoked_swaps`), their swap
        distances matched on the model's input embeddings when it has them; ``None`` skips yoking.
    n_yoked : int, optional
        Number of yoked sequences; ``n_sequences`` by default.
    max_delta, min_swap_pos, fit
        As in :func:`integration_windows`.
    seed, unswappable, batch_size, device, progress
        As in the functions called.

    Returns
    -------
    xr.Dataset
        See :func:`integration_windows`.
    """
    from toposcope.stimuli.text import natural_swaps, yoked_swaps

    check_option("fit", fit, tuple(integration.FITS), hint="'published' reproduces curve_fit from p0 = (1, 1, 0.5)")
    subject = as_language_subject(model)
    natural = natural_swaps(corpus, subject.tokenizer, length=length, n_sequences=n_sequences, seed=seed,
                            unswappable=unswappable)
    yoked_set = None
    if yoked is not None:
        getter = getattr(subject.model, "get_input_embeddings", None)
        module = getter() if callable(getter) else None
        embeddings = module.weight.detach().cpu().numpy() if module is not None else None
        yoked_set = yoked_swaps(corpus, subject.tokenizer, n_sentences=yoked[0], sentence_length=yoked[1],
                                n_sequences=n_yoked or n_sequences, embeddings=embeddings, seed=seed,
                                unswappable=unswappable)
    return integration_windows(subject, natural, yoked_set, layers=layers, max_delta=max_delta,
                               min_swap_pos=min_swap_pos, fit=fit, batch_size=batch_size, device=device,
                               progress=progress)


def layer_medians(windows: xr.Dataset) -> dict[str, dict[str, float]]:
    """Per layer, the median of ``a``, ``b``, ``c``, ``r2`` (and ``yoking``) over its units."""
    layers = np.asarray(windows["layer"].values).astype(str) if "layer" in windows.coords else np.full(
        windows.sizes["unit"], "")
    out = {}
    for layer in dict.fromkeys(layers.tolist()):
        inside = layers == layer
        out[layer] = {k: float(np.nanmedian(windows[k].values[inside]))
                      for k in ("a", "b", "c", "r2", "yoking") if k in windows}
    return out
