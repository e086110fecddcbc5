"""The Natural Scenes Dataset: betas per ROI, its images, noise ceilings and unit-to-voxel maps.

Typical use::

    betas = load_betas("/data/nsd", subject=1, rois=["streams:ventral"])
    stimuli = stimulus_set("/data/nsd", betas["nsd_id"].values)
    responses = toposcope.extract(subject, stimuli)[layer]
    result = map_units_to_voxels(responses, betas, method="one_to_one")

:func:`load_betas` reads single-trial betas of the ROI voxels only, z-scores
each voxel within each session (removing session-to-session drifts in scale
and offset) and averages the repeats of each image; its stimulus coords carry
``n_trials`` (repeats averaged) and ``shared`` (one of the 1,000 images every
subject saw), its voxel coords ``ncsnr``, so that :func:`map_units_to_voxels`
holds out the shared images and normalises by the noise ceiling with no
further arguments. File layout: :mod:`toposcope.brain.nsd_files`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError, check_option, check_type
from toposcope.brain.mapping import METHODS, map_units_to_voxels, noise_ceiling, summarise
from toposcope.brain.nsd_files import (
    BETAS_VERSION,
    HEMISPHERES,
    PLANNED_SESSIONS,
    SPACES,
    NSDRoot,
    default_image_dir,
    read_betas,
    read_ctab,
    read_design,
    read_labels,
    read_stim_info,
    write_images,
)

__all__ = [
    "METHODS",
    "SPACES",
    "load_betas",
    "map_units_to_voxels",
    "noise_ceiling",
    "parse_roi",
    "select_voxels",
    "stimulus_set",
    "summarise",
]


def parse_roi(spec: str) -> tuple[str, list[str] | None]:
    """Split ``"COLLECTION[:NAME[,NAME...]]"`` into the collection and its label names.

    Examples
    --------
    >>> parse_roi("streams:ventral,lateral")
    ('streams', ['ventral', 'lateral'])
    >>> parse_roi("floc-faces")
    ('floc-faces', None)
    """
    check_type("roi", spec, str)
    collection, _, names = spec.partition(":")
    if not collection:
        raise ToposcopeError(f"ROI {spec!r} names no collection; write e.g. 'streams:ventral' or 'floc-faces'")
    chosen = [n for n in names.split(",") if n] if names else None
    return collection, chosen


def select_voxels(root: NSDRoot, subject: int, space: str, rois: Iterable[str]) -> dict[str, np.ndarray]:
    """The voxels (vertices) of ``rois`` in both hemispheres.

    A voxel in several requested ROIs is kept once, under the first.

    Returns
    -------
    dict of str to ndarray, each shape (n_voxels,)
        ``hemisphere``, ``roi_collection``, ``roi`` (label name), ``index`` (flat
        C-order index into ``shape``); plus ``shape`` (the spatial shape).
    """
    available = root.roi_collections(subject, space)
    parts: list[tuple[str, str, str, np.ndarray]] = []
    shape: tuple[int, ...] | None = None
    for spec in rois:
        collection, names = parse_roi(spec)
        # A collection whose files are there but whose label table is not falls
        # through to ctab_file, which names the missing table.
        if collection not in available and collection not in root.roi_collections(subject, space, False):
            listed = ", ".join(available) or "none"
            raise ToposcopeError(
                f"ROI collection {collection!r} not found for NSD subject {subject} in {space} "
                f"(under {str(root.path / root.roi_dir(subject, space))!r}); available: {listed}"
            )
        table = {k: v for k, v in read_ctab(root.ctab_file(subject, space, collection)).items() if k > 0}
        by_name = {v: k for k, v in table.items()}
        for name in names or []:
            if name not in by_name:
                raise ToposcopeError(
                    f"ROI {name!r} is not in collection {collection!r}; it has: {', '.join(table.values())}"
                )
        wanted = [(by_name[n], n) for n in names] if names else sorted(table.items())
        for hemi, path in root.roi_files(subject, space, collection).items():
            labels, hemi_shape = read_labels(path)
            if shape is not None and hemi_shape != shape:
                raise ToposcopeError(f"ROI file {str(path)!r} has shape {hemi_shape}, other ROI files {shape}")
            shape = hemi_shape
            labels = np.rint(labels).astype(np.int64)
            for label, name in wanted:
                parts.append((hemi, collection, name, np.flatnonzero(labels == label)))
    if shape is None:
        raise ToposcopeError("no ROI given; name at least one, e.g. rois=['streams:ventral']")
    # Hemisphere first, then the order the ROIs were asked for: stable and readable.
    order = sorted(range(len(parts)), key=lambda i: HEMISPHERES.index(parts[i][0]))
    columns = {k: [] for k in ("hemisphere", "roi_collection", "roi", "index")}
    for i in order:
        hemi, collection, name, index = parts[i]
        columns["hemisphere"].append(np.full(len(index), hemi, dtype=object))
        columns["roi_collection"].append(np.full(len(index), collection, dtype=object))
        columns["roi"].append(np.full(len(index), name, dtype=object))
        columns["index"].append(index)
    table = {k: np.concatenate(v) for k, v in columns.items()}
    if len(table["index"]) == 0:
        raise ToposcopeError(f"ROIs {list(rois)} hold no voxels for NSD subject {subject} in {space}")
    # A voxel in several requested ROIs is kept once. Surface vertices are numbered per
    # hemisphere; in a volume, lh and rh ROI files may share voxels at the midline.
    key = table["index"].copy()
    if space == "fsaverage":
        key += (table["hemisphere"] == "rh") * int(np.prod(shape))
    _, first = np.unique(key, return_index=True)
    keep = np.sort(first)
    return {**{k: v[keep] for k, v in table.items()}, "shape": np.asarray(shape)}


def load_betas(
    nsd_root: str | Path,
    subject: int,
    rois: str | Sequence[str],
    *,
    space: str = "fsaverage",
    sessions: Iterable[int] | None = None,
    average: bool = True,
) -> xr.DataArray:
    """Single-trial betas of ROI voxels, z-scored per session, repeats averaged.

    Parameters
    ----------
    nsd_root : path
        Folder holding ``nsddata/``, ``nsddata_betas/`` and ``nsddata_stimuli/``.
    subject : int
        NSD subject, 1-8.
    rois : str or list of str
        ``"COLLECTION"`` (every labelled region of e.g. ``streams``) or
        ``"COLLECTION:NAME[,NAME]"`` (``"floc-faces:FFA-1,FFA-2"``).
    space : {"fsaverage", "func1pt8mm"}
    sessions : iterable of int, optional
        1-based sessions; all sessions with betas files by default.
    average : bool
        Average the repeats of each image (one row per image, ordered by 73k
        id); otherwise one row per trial in presentation order, with coords
        ``session`` and ``trial``.

    Returns
    -------
    xr.DataArray, float32, dims (stimulus, voxel), named ``betas``
        Stimulus coords ``stimulus_id`` (``"nsdNNNNN"``), ``nsd_id`` (0-based
        73k id), ``n_trials``, ``shared``, ``coco_id``; voxel coords
        ``hemisphere``, ``roi_collection``, ``roi``, ``index`` (and ``i``, ``j``,
        ``k`` in a volume) and ``ncsnr``. Voxels without signal in some session
        (constant betas, e.g. at the edge of the imaged volume) are dropped with
        a warning.
    """
    root = NSDRoot(Path(nsd_root))
    check_option("space", space, SPACES)
    check_type("subject", subject, int)
    root.check_subject(subject, space)
    design = read_design(root)
    info = read_stim_info(root)
    present = root.sessions(subject, space)
    chosen = sorted(set(sessions)) if sessions is not None else present
    bad = [s for s in chosen if not 1 <= s <= PLANNED_SESSIONS]
    if not chosen or bad:
        raise ToposcopeError(
            f"sessions must be a non-empty set of 1-{PLANNED_SESSIONS}; got {sorted(set(sessions or []))}; "
            f"sessions with betas for subject {subject}: {_ranges(present)}"
        )
    voxels = select_voxels(root, subject, space, [rois] if isinstance(rois, str) else list(rois))
    shape = tuple(int(s) for s in voxels["shape"])
    hemis = voxels["hemisphere"]
    ncsnr = np.empty(len(hemis), np.float32)
    for hemi, path in root.ncsnr_files(subject, space).items():
        values, ncsnr_shape = read_labels(path)
        if ncsnr_shape != shape:
            raise ToposcopeError(f"ncsnr file {str(path)!r} has shape {ncsnr_shape} but the ROI files {shape}")
        mine = hemis == hemi if space == "fsaverage" else np.ones(len(hemis), bool)
        ncsnr[mine] = values[voxels["index"][mine]]

    nsd_ids, session_of = design.trial_images(subject, chosen)
    per = design.trials_per_session
    rows = np.empty((len(nsd_ids), len(hemis)), np.float32)
    valid = np.ones(len(hemis), bool)
    for n, session in enumerate(chosen):
        block = _read_session(root, subject, space, session, voxels, shape, per, design)
        # z-score each voxel over the session's trials; constant voxels carry no signal.
        mean = block.mean(0)
        std = block.std(0)
        valid &= std > 0
        rows[n * per : (n + 1) * per] = (block - mean) / np.where(std > 0, std, 1)
    if not valid.all():
        warnings.warn(f"dropped {int((~valid).sum())} of {len(valid)} voxels with constant betas in some session",
                      stacklevel=2)

    voxel_coords = {k: ("voxel", voxels[k][valid]) for k in ("hemisphere", "roi_collection", "roi", "index")}
    if space != "fsaverage":
        for axis, name in enumerate("ijk"):
            voxel_coords[name] = ("voxel", np.unravel_index(voxels["index"][valid], shape)[axis])
    voxel_coords["ncsnr"] = ("voxel", ncsnr[valid])
    shared = np.isin(nsd_ids, design.sharedix)
    if average:
        unique, inverse, counts = np.unique(nsd_ids, return_inverse=True, return_counts=True)
        data = _average_rows(rows[:, valid], inverse, len(unique))
        ids, n_trials, stim = unique, counts, {}
        shared = np.isin(unique, design.sharedix)
    else:
        data, ids, n_trials = rows[:, valid], nsd_ids, np.ones(len(nsd_ids), np.int64)
        stim = {"session": ("stimulus", session_of), "trial": ("stimulus", np.arange(len(nsd_ids)))}
    coco_id = np.full(len(ids), -1, np.int64)
    known = ids < len(info["coco_id"])
    coco_id[known] = info["coco_id"][ids[known]]
    stim.update({
        "stimulus_id": ("stimulus", np.asarray([f"nsd{i:05d}" for i in ids])),
        "nsd_id": ("stimulus", ids.astype(np.int64)),
        "n_trials": ("stimulus", n_trials.astype(np.int64)),
        "shared": ("stimulus", shared),
        "coco_id": ("stimulus", coco_id),
    })
    attrs = {"nsd_subject": subject, "space": space, "betas_version": BETAS_VERSION,
             "rois": ", ".join([rois] if isinstance(rois, str) else rois), "sessions": _ranges(chosen),
             "preprocessing": "z-scored per voxel within each session" + (", repeats averaged" if average else "")}
    return xr.DataArray(data, dims=("stimulus", "voxel"), coords={**stim, **voxel_coords},
                        name="betas", attrs=attrs)


def _read_session(root: NSDRoot, subject: int, space: str, session: int, voxels: dict, shape: tuple,
                  per: int, design) -> np.ndarray:
    """(trials, voxels) betas of one session, both hemispheres, checked against the design."""
    files = root.session_files(subject, space, session)
    hemis = voxels["hemisphere"]
    out = np.empty((per, len(hemis)), np.float32)
    for hemi, path in zip(HEMISPHERES, files) if space == "fsaverage" else [(None, files[0])]:
        mine = hemis == hemi if hemi else np.ones(len(hemis), bool)
        if not mine.any():
            continue
        block = read_betas(path, voxels["index"][mine], shape)
        if block.shape[0] != per:
            raise ToposcopeError(
                f"betas {str(path)!r} hold {block.shape[0]} trials but the design has {per} per session "
                f"({len(design.masterordering)} trials over {PLANNED_SESSIONS} sessions); "
                "the file is incomplete or not from this release"
            )
        out[:, mine] = block
    return out


def _average_rows(rows: np.ndarray, inverse: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of the rows of each group, as one sparse product (no Python loop over images)."""
    from scipy import sparse

    counts = np.bincount(inverse, minlength=n_groups)
    # float32 throughout: a few repeats per image, and rows may be gigabytes.
    weights = (1.0 / counts[inverse]).astype(np.float32)
    mean = sparse.csr_matrix((weights, (inverse, np.arange(len(inverse)))), shape=(n_groups, len(inverse)))
    return np.asarray(mean @ rows, dtype=np.float32)


def _ranges(values: Iterable[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3,5"``."""
    values = sorted(values)
    if not values:
        return "none"
    out, start, prev = [], values[0], values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        out.append(f"{start}-{prev}" if prev > start else f"{start}")
        if v is not None:
            start = prev = v
    return ",".join(out)


def stimulus_set(nsd_root: str | Path, nsd_ids: Sequence[int] | np.ndarray, folder: str | Path | None = None):
    """The NSD images with these 73k ids as a StimulusSet (PNG files in a cache folder).

    Parameters
    ----------
    nsd_root : path
    nsd_ids : sequence of int, shape (n,)
        0-based 73k ids, e.g. ``betas["nsd_id"].values``.
    folder : path, optional
        Where the PNGs go (about 0.3 MB each); :func:`~toposcope.brain.nsd_files.default_image_dir`
        by default. Images already there are reused.

    Returns
    -------
    StimulusSet
        Labels ``stimulus_id`` (``"nsdNNNNN"``, as in :func:`load_betas`) and ``nsd_id``.
    """
    from toposcope.stimuli import from_paths

    root = NSDRoot(Path(nsd_root))
    ids = np.asarray(nsd_ids, dtype=np.int64)
    paths = write_images(root, ids, Path(folder) if folder else default_image_dir())
    return from_paths(paths, name="nsd",
                      labels={"stimulus_id": [f"nsd{i:05d}" for i in ids], "nsd_id": ids})
