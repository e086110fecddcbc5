"""Encoding models of story fMRI from a model's units: word features in context, then the fit per layer.

:func:`word_features` runs each story through the model as overlapping windows
of preceding words (window ``i`` holds words ``i - context + 1 .. i``) with
:func:`toposcope.extract` (word-level responses, sub-word tokens averaged, the
response cache reused), and keeps each window's last word: every word's
response then reflects up to ``context - 1`` words before it and never a word
after it, whether the model is causal or bidirectional.

:func:`encode_stories` fits :func:`toposcope.brain.encoding.encoding_model`
for each hooked layer and stacks the per-voxel results along ``layer`` (the
"which layer predicts best" sweep), with each voxel's best layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_positive_int
from toposcope.brain.encoding import encoding_model
from toposcope.brain.stories import StoryWords
from toposcope.brain.story_fmri import StoryData
from toposcope.extraction import extract
from toposcope.io import provenance
from toposcope.models.subject import Subject
from toposcope.stimuli import from_texts

__all__ = ["DEFAULT_CONTEXT", "context_windows", "encode_stories", "word_features"]

#: Words per window (the word itself and up to 19 before it).
DEFAULT_CONTEXT = 20
#: Windows per call to extract (bounds memory: each window returns all its words' rows).
CHUNK = 512
#: Per-layer variables kept in the layer sweep (weights have each layer's own units).
SWEEP_VARIABLES = ("r", "r_train", "alpha", "cv_score", "p", "significant", "band_share", "window_energy",
                   "window_r", "window_unique", "window_units")


def context_windows(words: Sequence[str], context: int = DEFAULT_CONTEXT) -> list[str]:
    """Texts of the overlapping windows that end at each word.

    Examples
    --------
    >>> context_windows(["a", "b", "c"], 2)
    ['a', 'a b', 'b c']
    """
    check_positive_int("context", context)
    clean = []
    for i, word in enumerate(words):
        parts = str(word).split()
        if len(parts) != 1:
            raise ToposcopeError(f"word {i} ({word!r}) is not one whitespace-free word; fix the transcript")
        clean.append(parts[0])
    return [" ".join(clean[max(0, i - context + 1): i + 1]) for i in range(len(clean))]


def word_features(subject: Subject, stories: Mapping[str, StoryWords] | Iterable[StoryWords],
                  layers: Iterable[str] | str | None = None, *, context: int = DEFAULT_CONTEXT,
                  batch_size: int = 32, device: str = "cpu", cache: Any = True,
                  progress: bool = False) -> dict[str, dict[str, xr.DataArray]]:
    """Each word's response in each layer, with its preceding words as context.

    Parameters
    ----------
    subject : Subject
        A language model.
    stories : dict of str to StoryWords, or StoryWords
    layers : str or iterable of str, optional
        Topographic layers; all by default.
    context : int
        Words per window (the word and ``context - 1`` before it).
    batch_size, device, cache, progress
        As for :func:`toposcope.extract`.

    Returns
    -------
    dict of layer to dict of story to xr.DataArray, dims (stimulus, unit)
        One row per word (coords ``word``, ``story``), the layer's unit coords.
    """
    if subject.modality != "language":
        raise ToposcopeError(f"story encoding needs a language model; {subject.name!r} is a {subject.modality} model")
    items = dict(stories) if isinstance(stories, Mapping) else {s.name: s for s in stories}
    names = [layer.name for layer in subject.select(layers)]
    out: dict[str, dict[str, xr.DataArray]] = {name: {} for name in names}
    for story, words in items.items():
        texts = context_windows(words.words, context)
        counts = np.minimum(np.arange(1, len(texts) + 1), context)
        blocks: dict[str, list[np.ndarray]] = {name: [] for name in names}
        coords: dict[str, Any] = {}
        for first in range(0, len(texts), CHUNK):
            chunk = texts[first: first + CHUNK]
            responses = extract(subject, from_texts(chunk, name=f"{story}-context{context}"), names,
                                batch_size=batch_size, device=device, text_mode="words", cache=cache,
                                progress=progress)
            last = np.cumsum(counts[first: first + CHUNK]) - 1  # each window's own word
            for name in names:
                blocks[name].append(np.asarray(responses[name].values)[last])
                if name not in coords:
                    coords[name] = {k: v.variable for k, v in responses[name].coords.items() if v.dims == ("unit",)}
        for name in names:
            out[name][story] = xr.DataArray(
                np.concatenate(blocks[name]), dims=("stimulus", "unit"),
                coords={**coords[name], "word": ("stimulus", np.asarray(words.words, dtype=object)),
                        "story": ("stimulus", np.full(len(words), story, dtype=object))},
                name="responses", attrs={"layer": name, "context": int(context)})
    return out


def encode_stories(subject: Subject, data: StoryData, layers: Iterable[str] | str | None = None, *,
                   context: int = DEFAULT_CONTEXT, batch_size: int = 32, device: str = "cpu", cache: Any = True,
                   progress: bool = False, **options: Any) -> xr.Dataset:
    """Encoding models of every layer of a language model, stacked along ``layer``.

    Parameters
    ----------
    subject : Subject
    data : StoryData
    layers : str or iterable of str, optional
    context, batch_size, device, cache, progress
        See :func:`word_features`.
    **options
        Passed to :func:`~toposcope.brain.encoding.encoding_model` (``test``,
        ``method``, ``delays``, ``trim``, ``alphas``, ``backend``, ``windows``, ...).

    Returns
    -------
    xr.Dataset, dims (layer, voxel[, window])
        The per-voxel results of each layer (``r``, ``alpha``, ``significant``,
        ``window_energy``, ``window_r``, ...), ``best_layer`` (index along
        ``layer`` of each voxel's highest r) and ``median_r`` per layer. With a
        single layer its ``weights`` are kept too. Attrs: the model's
        provenance, the context and the fit's choices.
    """
    features = word_features(subject, {k: s.words for k, s in data.scans.items()}, layers,
                             context=context, batch_size=batch_size, device=device, cache=cache, progress=progress)
    results = []
    for name, per_story in features.items():
        result = encoding_model(data, per_story, **options)
        keep = [v for v in SWEEP_VARIABLES if v in result] + (["weights"] if len(features) == 1 else [])
        # the units' own "layer" coord gives way to the layer dim
        results.append(result[keep].drop_vars("layer", errors="ignore").expand_dims(layer=[name]))
        attrs = result.attrs
    combined = xr.concat(results, dim="layer", combine_attrs="drop_conflicts") if len(results) > 1 else results[0]
    for name in ("weights",):
        if name in combined and "layer" in combined[name].dims:
            combined[name] = combined[name].isel(layer=0, drop=True)
    combined["best_layer"] = ("voxel", np.asarray(combined["r"].argmax("layer").values, dtype=np.int64))
    combined["median_r"] = ("layer", np.median(combined["r"].values, axis=1))
    combined.attrs = {**attrs, **provenance(**subject.provenance(), context=int(context), layers=list(features))}
    combined.attrs.pop("median_r", None)
    return combined
