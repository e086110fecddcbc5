"""Model components against brain components over the same sentences (Topoformer's brain alignment).

Topoformer compares a layer's low-dimensional structure with human fMRI of a
large set of sentences: the principal components of the model's responses
(sentences x units) and of the brain's (sentences x voxels) each give every
sentence a score per component, and the two sets of scores are correlated
across sentences. :func:`align_components` returns

* ``r`` (model_component, brain_component): Pearson r of the scores over sentences;
* ``matched_r`` (component): model component k against brain component k
  (signs of principal components are arbitrary, so the null is two-sided);
* ``best_r`` / ``best_match`` (brain_component): each brain component's
  best-correlated model component (largest ``|r|``);
* permutation p-values for both, from relabelling the sentences of the brain
  scores (``(count + 1) / (permutations + 1)``, ``|r|`` as extreme or more; the
  best-match null takes the maximum over model components in each
  permutation, so it accounts for the choice);
* the brain components' loadings on the voxels (with voxel coords), to draw
  beside the model's maps.

**Brain data** (none installs offline; tests use planted data). A brain matrix
is an ``xr.DataArray`` with dims ``("stimulus", "voxel")``, a stimulus coord
``sentence`` (the text) and, if known, voxel coords ``x``, ``y``, ``z`` (mm).
:func:`read_sentence_brain` builds one from the long table in which sentence
sets such as the 1,000 sentences of Tuckute et al. (2024, *Driving and
suppressing the human language network*, github.com/gretatuckute/drive_suppress_brains)
are distributed: one row per sentence and voxel (or region), with columns

==============  =====================================================  ==================
column          meaning                                                default name
==============  =====================================================  ==================
sentence        the sentence text (matched to the model's stimuli)     ``sentence``
voxel / region  the voxel or region of interest the response is from   ``roi``
response        the response (e.g. a beta), one number                 ``response_target``
participant     optional: participant id; voxels are kept apart per    ``target_UID``
                participant as ``participant:voxel``                   (or ``UID``)
x, y, z         optional: the voxel's coordinates                      ``x``, ``y``, ``z``
==============  =====================================================  ==================

Other column names are given to the reader (``voxel="voxel_id"``, ...); other
columns are ignored, except those named in ``keep=``, which selects rows. Rows
of one sentence and voxel are averaged (repetitions).

*The public release.* The repository's ``setup_utils/download_files.py``
downloads ``data/brain-lang-data_participant_20230728.csv`` (about 28 MB, with
``column_name_descriptions.csv`` beside it). It is this long table: one row per
participant (``target_UID``), region (``roi``: the left-hemisphere language
fROIs ``lang_LH_IFGorb``, ``lang_LH_IFG``, ``lang_LH_MFG``, ``lang_LH_AntTemp``,
``lang_LH_PostTemp``, their mean ``lang_LH_netw``, and more) and sentence
(``item_id``, ``sentence``), the response in ``response_target`` (and
``response_target_non_norm``), and the condition in ``cond`` (``B``: the 1,000
baseline sentences; ``D`` / ``S``: the drive and suppress sentences shown to
the evaluation participants). The columns are those of the release's own
analysis code (``compute_NSD_noiseceiling.py`` pivots ``item_id`` x
``target_UID`` of ``response_target`` for one ``roi``). Read the 1,000
baseline sentences, five train participants by five fROIs, with::

    read_sentence_brain(path, keep=TUCKUTE2024_BASELINE)

It holds regions, not voxels: no coordinates, so the brain side has no map
(the component scores still align).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_positive_int, check_seed

__all__ = ["BRAIN_HINT", "TUCKUTE2024_BASELINE", "align_components", "read_sentence_brain"]

BRAIN_HINT = ("sentence-level fMRI is not installed with toposcope; download a release such as the 1,000 "
              "sentences of Tuckute et al. 2024 (github.com/gretatuckute/drive_suppress_brains) and give its "
              "long CSV (one row per sentence and voxel or region: data/brain-lang-data_participant_20230728.csv "
              "of that release, read with keep=TUCKUTE2024_BASELINE)")

#: Rows of Tuckute et al. (2024)'s ``brain-lang-data_participant_20230728.csv`` that hold the
#: 1,000 baseline sentences: condition ``B`` for the five train participants (the
#: ``target_UID`` the release's noise-ceiling code uses), in the five left-hemisphere
#: language fROIs (``lang_LH_netw``, their mean, is left out so that no region counts twice).
TUCKUTE2024_BASELINE: dict[str, tuple[str, ...]] = {
    "cond": ("B",),
    "target_UID": ("848", "853", "865", "875", "876"),
    "roi": ("lang_LH_IFGorb", "lang_LH_IFG", "lang_LH_MFG", "lang_LH_AntTemp", "lang_LH_PostTemp"),
}


def read_sentence_brain(
    path: str | Path,
    *,
    sentence: str = "sentence",
    voxel: str = "roi",
    response: str = "response_target",
    participant: str | Sequence[str] | None = ("target_UID", "UID"),
    coords: tuple[str, ...] = ("x", "y", "z"),
    keep: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """A brain matrix (sentence x voxel) from a long CSV table (see the module notes).

    Parameters
    ----------
    path : path
        The CSV file.
    sentence, voxel, response : str
        Column names of the sentence text, the voxel or region id, and the response.
    participant : str, sequence of str, or None
        Column of participant ids: the first of these present in the file
        (none present, or ``None``: one participant).
    coords : tuple of str
        Columns of voxel coordinates, used where present.
    keep : mapping of str to value or sequence of values, optional
        Rows kept: those whose column takes one of the values (compared as
        text), for every column named; e.g. :data:`TUCKUTE2024_BASELINE`.

    Returns
    -------
    xr.DataArray, dims (stimulus, voxel), float64
        Named ``brain``; stimulus coord ``sentence`` (first-appearance order),
        voxel coord ``voxel`` (``participant:voxel`` with participants) and the
        coordinates found. NaN where a voxel has no response to a sentence.

    Raises
    ------
    ToposcopeError
        The file is missing (with where the data live), a column is missing
        (listing those present), ``keep`` leaves no row, or responses are not numbers.
    """
    import pandas as pd

    path = Path(path).expanduser()
    if not path.is_file():
        raise ToposcopeError(f"brain data {str(path)!r} does not exist; {BRAIN_HINT}")
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise ToposcopeError(f"brain data {path.name} is not a readable CSV ({error}); {BRAIN_HINT}") from None
    missing = [c for c in (sentence, voxel, response) if c not in table.columns]
    if missing:
        raise ToposcopeError(
            f"brain data {path.name} has no column {missing[0]!r} (columns: {', '.join(map(str, table.columns))}); "
            "name the columns with sentence=, voxel=, response="
        )
    table = _kept_rows(table, keep, path.name)
    values = pd.to_numeric(table[response], errors="coerce")
    if values.isna().any():
        bad = int(values.isna().sum())
        raise ToposcopeError(f"brain data {path.name}: {bad} responses in column {response!r} are not numbers")
    ids = table[voxel].astype(str)
    candidates = [participant] if isinstance(participant, str) else list(participant or ())
    present = [c for c in candidates if c in table.columns]
    if present:
        ids = table[present[0]].astype(str) + ":" + ids
    frame = pd.DataFrame({"sentence": table[sentence].astype(str).str.strip(), "voxel": ids, "response": values})
    wide = frame.pivot_table(index="sentence", columns="voxel", values="response", aggfunc="mean", sort=False)
    order = list(dict.fromkeys(frame["sentence"]))
    voxels = list(dict.fromkeys(frame["voxel"]))
    wide = wide.reindex(index=order, columns=voxels)
    voxel_coords: dict[str, Any] = {"voxel": ("voxel", np.asarray(voxels, dtype=object))}
    for name in coords:
        if name in table.columns:
            first = pd.Series(pd.to_numeric(table[name], errors="coerce").to_numpy(), index=ids).groupby(level=0).first()
            voxel_coords[name] = ("voxel", first.reindex(voxels).to_numpy(dtype=np.float64))
    return xr.DataArray(wide.to_numpy(dtype=np.float64), dims=("stimulus", "voxel"), name="brain",
                        coords={"sentence": ("stimulus", np.asarray(order, dtype=object)), **voxel_coords},
                        attrs={"source": str(path), "response": response})


def _kept_rows(table: Any, keep: Mapping[str, Any] | None, name: str) -> Any:
    """The rows of ``table`` (a DataFrame) whose columns take the values ``keep`` gives, compared as text."""
    if not keep:
        return table
    if not isinstance(keep, Mapping):
        raise ToposcopeError(f"keep must map column names to values, e.g. {{'cond': 'B'}}, got {keep!r}")
    chosen = np.ones(len(table), dtype=bool)
    for column, values in keep.items():
        if column not in table.columns:
            raise ToposcopeError(f"brain data {name} has no column {column!r} to keep rows by "
                                 f"(columns: {', '.join(map(str, table.columns))})")
        wanted = [str(values)] if isinstance(values, (str, int, float)) else [str(v) for v in values]
        text = table[column].astype(str).str.strip()
        match = text.isin(wanted).to_numpy()
        if not match.any():
            seen = sorted(text.unique().tolist())
            raise ToposcopeError(f"brain data {name}: no row has {column} in {wanted}; its values are "
                                 f"{seen[:12]}{' ...' if len(seen) > 12 else ''}")
        chosen &= match
    if not chosen.any():
        raise ToposcopeError(f"brain data {name}: no row meets every condition of keep={dict(keep)!r}")
    return table.loc[chosen]


def _sentences(data: xr.DataArray | xr.Dataset, what: str, given: Any) -> np.ndarray:
    if given is not None:
        sentences = np.asarray([str(s).strip() for s in given], dtype=object)
    elif "sentence" in data.coords:
        sentences = np.asarray([str(s).strip() for s in data["sentence"].values], dtype=object)
    else:
        raise ToposcopeError(f"the {what} has no stimulus coord 'sentence'; pass {what}_sentences= "
                             "(e.g. the stimulus set's items)")
    if len(set(sentences.tolist())) < len(sentences):
        raise ToposcopeError(f"the {what} lists a sentence twice; average repetitions first")
    return sentences


def _scores(data: Any, n_components: int, what: str) -> tuple[np.ndarray, Any]:
    """Sentence scores (n, k) and the component Dataset of a model or brain input."""
    from toposcope.analysis.components import component_maps

    if isinstance(data, xr.Dataset) and "scores" in data:
        scores = data["scores"]
        if "layers" in scores.dims:
            raise ToposcopeError(f"the {what} components hold {scores.sizes['layers']} layers; "
                                 "select one, e.g. result.sel(layers=NAME)")
        if scores.sizes["component"] < n_components:
            raise ToposcopeError(f"the {what} has {scores.sizes['component']} components but n_components="
                                 f"{n_components}; use n_components <= {scores.sizes['component']}")
        return np.asarray(scores.isel(component=slice(0, n_components)).values, dtype=np.float64), data
    if not isinstance(data, xr.DataArray) or data.ndim != 2 or "stimulus" not in data.dims:
        raise ToposcopeError(f"the {what} must be a (stimulus, unit|voxel) DataArray or a component_maps Dataset")
    matrix = data.rename({d: "unit" for d in data.dims if d != "stimulus"})
    if np.isnan(np.asarray(matrix.values, dtype=np.float64)).any():
        raise ToposcopeError(f"the {what} has missing responses (NaN); drop those voxels or sentences first")
    result = component_maps(matrix, n_components=n_components)
    return np.asarray(result["scores"].values, dtype=np.float64), result


def _standardised(scores: np.ndarray) -> np.ndarray:
    centred = scores - scores.mean(0)
    norm = np.linalg.norm(centred, axis=0)
    return centred / np.where(norm > 0, norm, 1.0)


def align_components(
    model: Any,
    brain: xr.DataArray,
    *,
    n_components: int = 5,
    permutations: int = 1000,
    seed: int = 0,
    model_sentences: Any = None,
    brain_sentences: Any = None,
) -> xr.Dataset:
    """Correlate a model layer's component scores with the brain's over the same sentences.

    Parameters
    ----------
    model : xr.Dataset or xr.DataArray
        One layer's :func:`~toposcope.analysis.components.component_maps` result,
        or its responses (stimulus, unit), whose components are computed here.
    brain : xr.DataArray, dims (stimulus, voxel)
        E.g. from :func:`read_sentence_brain`; stimulus coord ``sentence``.
    n_components : int
        Components compared on each side.
    permutations : int
        Sentence relabellings for the p-values (0: none, p is NaN).
    seed : int
        Seeds the permutations.
    model_sentences, brain_sentences : sequence of str, optional
        The sentences in row order, where the inputs have no ``sentence`` coord.

    Returns
    -------
    xr.Dataset
        ``r`` (model_component, brain_component); ``matched_r``, ``matched_p``
        (component); ``best_match``, ``best_r``, ``best_p`` (brain_component);
        ``brain_loadings`` (brain_component, voxel) with the brain's voxel
        coords; ``brain_variance_ratio`` (brain_component). Attrs: counts,
        ``permutations``, ``seed``.

    Raises
    ------
    ToposcopeError
        The two cover different sentences, too few sentences, NaN responses, ...
    """
    check_positive_int("n_components", n_components)
    check_seed(seed)
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 0:
        raise ToposcopeError(f"permutations must be a non-negative integer, got {permutations!r}")
    if not isinstance(brain, xr.DataArray) or brain.dims != ("stimulus", "voxel"):
        got = brain.dims if isinstance(brain, xr.DataArray) else type(brain).__name__
        raise ToposcopeError(f"brain must be a DataArray with dims ('stimulus', 'voxel'), got {got}; "
                             "see read_sentence_brain")
    model_text = _sentences(model, "model", model_sentences)
    brain_text = _sentences(brain, "brain", brain_sentences)
    only_model = sorted(set(model_text) - set(brain_text))
    only_brain = sorted(set(brain_text) - set(model_text))
    if only_model or only_brain:
        example = (only_model or only_brain)[0]
        raise ToposcopeError(
            f"brain and model matrices cover different sentences ({len(only_model)} only in the model, "
            f"{len(only_brain)} only in the brain, e.g. {example[:40]!r}); extract the model on the brain's sentences"
        )
    # The brain's rows in the model's sentence order.
    position = {s: i for i, s in enumerate(brain_text)}
    brain = brain.isel(stimulus=[position[s] for s in model_text])
    model_scores, _ = _scores(model, n_components, "model")
    brain_scores, brain_result = _scores(brain, n_components, "brain")
    a, b = _standardised(model_scores), _standardised(brain_scores)
    r = a.T @ b
    matched = np.diag(r).copy()
    best = np.argmax(np.abs(r), axis=0)
    best_r = r[best, np.arange(n_components)]
    matched_p = np.full(n_components, np.nan)
    best_p = np.full(n_components, np.nan)
    if permutations:
        rng = np.random.default_rng(seed)
        matched_count = np.zeros(n_components)
        best_count = np.zeros(n_components)
        tie = 1e-12
        for _ in range(permutations):
            shuffled = a.T @ b[rng.permutation(len(b))]
            matched_count += np.abs(np.diag(shuffled)) >= np.abs(matched) - tie
            best_count += np.abs(shuffled).max(axis=0) >= np.abs(best_r) - tie
        matched_p = (matched_count + 1) / (permutations + 1)
        best_p = (best_count + 1) / (permutations + 1)
    component = np.arange(1, n_components + 1)
    loadings = brain_result["loadings"].rename({"unit": "voxel", "component": "brain_component"})
    loadings = loadings.drop_vars([c for c in loadings.coords if "stimulus" in loadings[c].dims])
    return xr.Dataset(
        {
            "r": (("model_component", "brain_component"), r),
            "matched_r": ("component", matched),
            "matched_p": ("component", matched_p),
            "best_match": ("brain_component", component[best]),
            "best_r": ("brain_component", best_r),
            "best_p": ("brain_component", best_p),
            "brain_loadings": loadings.assign_coords(brain_component=component),
            "brain_variance_ratio": ("brain_component", np.asarray(brain_result["explained_variance_ratio"].values)),
        },
        coords={"model_component": component, "brain_component": component, "component": component},
        attrs={"n_sentences": len(model_text), "n_voxels": int(brain.sizes["voxel"]), "n_components": n_components,
               "permutations": int(permutations), "seed": seed,
               "definition": "Pearson r of principal-component scores over sentences; permutation p (sentences "
                             "relabelled), |r| two-sided; best match = max |r| over model components"},
    )
