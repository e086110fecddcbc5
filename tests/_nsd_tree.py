"""A tiny Natural Scenes Dataset in the release's layout, with planted unit-voxel correspondences.

Sizes are tiny but every file has the real name, place, format and dtype: the
design as a MATLAB file (1-based indices, 40 planned sessions), the stimulus
table, a sparse 73k-row ``imgBrick``, fsaverage-like surfaces (float32 .mgh
betas, .mgz labels) and a small volume (int16 betas scaled by 300, .nii.gz).

Each ROI voxel v carries the signal of one "unit" ``pi(v)``: its beta on a trial
of image i is ``scale_s(v) * (units[i, pi(v)] + noise) + offset_s(v)`` in
session s, so z-scoring per session and averaging repeats must be exact, and
any mapping must find ``pi``.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import scipy.io

SUBJECT = 1
TRIALS = 24  # per session (750 in NSD)
SESSIONS = 3  # with betas, of the 40 planned
IMAGES = 36  # per subject (10,000 in NSD); each shown twice in the first 3 sessions
SHARED = 12  # shown to every subject (1,000 in NSD)
N_UNITS = 40
VERTICES = 20  # per hemisphere (163,842 in fsaverage)
VOLUME = (6, 5, 4)  # (81, 104, 83) for subject 1 in func1pt8mm
NOISE = 0.2
BETAS = "betas_fithrf_GLMdenoise_RR"

STREAMS = ["Unknown", "early", "midventral", "midlateral", "midparietal", "ventral", "lateral", "parietal"]
FLOC_FACES = ["Unknown", "OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"]


@dataclass
class Tree:
    """What was planted: enough to recompute every expected value."""

    root: Path
    nsd_ids: np.ndarray  # (IMAGES,) 73k ids of subject 1's images, in subjectim order
    shared_ids: np.ndarray  # (SHARED,)
    trial_ids: np.ndarray  # (SESSIONS * TRIALS,) 73k id of each trial
    units: np.ndarray  # (IMAGES, N_UNITS), the planted signal per image
    unit_of: dict = field(default_factory=dict)  # (space, hemi, index) -> unit
    raw: dict = field(default_factory=dict)  # (space, hemi, index) -> (trials,) betas in % signal change
    ncsnr: dict = field(default_factory=dict)  # (space, hemi, index) -> ncsnr

    def unit_array(self, nsd_ids: np.ndarray) -> np.ndarray:
        """Planted unit responses for these 73k ids, shape (len(nsd_ids), N_UNITS)."""
        row = {int(i): n for n, i in enumerate(self.nsd_ids)}
        return self.units[[row[int(i)] for i in nsd_ids]]


def build(root: Path, seed: int = 0, units: np.ndarray | None = None) -> Tree:
    """Write the whole tree under ``root``.

    ``units`` (IMAGES, n_units), in subjectim order, replaces the random signal
    (z-scored per unit, so the planted noise level means the same for any model);
    with fewer units than ROI voxels, voxels share units.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    ids = rng.choice(73000, size=8 * (IMAGES - SHARED) + SHARED, replace=False)
    shared = np.sort(ids[:SHARED])
    subjectim = np.empty((8, IMAGES), np.int64)
    for s in range(8):
        subjectim[s, :SHARED] = shared
        subjectim[s, SHARED:] = ids[SHARED + s * (IMAGES - SHARED) : SHARED + (s + 1) * (IMAGES - SHARED)]
    shown = np.concatenate([rng.permutation(IMAGES), rng.permutation(IMAGES)])  # twice each
    rest = rng.integers(0, IMAGES, size=40 * TRIALS - len(shown))
    order = np.concatenate([shown, rest])
    _write_design(root, order, subjectim, shared)
    _write_stim_info(root, subjectim, shared)
    _write_images(root, subjectim[SUBJECT - 1], rng)

    if units is None:
        units = rng.standard_normal((IMAGES, N_UNITS)).astype(np.float32)
    else:
        units = np.asarray(units, dtype=np.float64)
        units = ((units - units.mean(0)) / units.std(0)).astype(np.float32)
    tree = Tree(root, subjectim[SUBJECT - 1].copy(), shared, subjectim[SUBJECT - 1, shown], units)
    signal = tree.units[shown]  # (trials, n_units)
    _write_surfaces(tree, signal, rng)
    _write_volume(tree, signal, rng)
    # Subject 2 has one session of fsaverage betas (to be listed), nothing else.
    two = root / "nsddata_betas/ppdata/subj02/fsaverage" / BETAS
    two.mkdir(parents=True)
    return tree


def _write_design(root: Path, order, subjectim, shared) -> None:
    folder = root / "nsddata/experiments/nsd"
    folder.mkdir(parents=True)
    # MATLAB's 1-based indices and row vectors, as in the release.
    scipy.io.savemat(folder / "nsd_expdesign.mat", {
        "masterordering": (order + 1)[None, :].astype(np.float64),
        "subjectim": (subjectim + 1).astype(np.float64),
        "sharedix": (shared + 1)[None, :].astype(np.float64),
        "basiccnt": np.zeros((3, 40)),
    })


def _write_stim_info(root: Path, subjectim, shared) -> None:
    header = ["", "cocoId", "cocoSplit", "cropBox", "loss", "nsdId", "flagged", "BOLD5000", "shared1000",
              *[f"subject{s}" for s in range(1, 9)]]
    rows = []
    for n, nsd_id in enumerate(sorted(set(subjectim.ravel().tolist()))):
        seen = [int(nsd_id in subjectim[s]) for s in range(8)]
        rows.append([n, 100000 + nsd_id, "train2017", "(0, 0, 0.1, 0.1)", 0.0, nsd_id, False, False,
                     bool(nsd_id in shared), *seen])
    with open(root / "nsddata/experiments/nsd/nsd_stim_info_merged.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _write_images(root: Path, nsd_ids, rng) -> None:
    folder = root / "nsddata_stimuli/stimuli/nsd"
    folder.mkdir(parents=True)
    with h5py.File(folder / "nsd_stimuli.hdf5", "w") as handle:
        # One chunk per image: rows never written take no space, like a sparse 73k brick.
        brick = handle.create_dataset("imgBrick", shape=(73000, 8, 8, 3), dtype=np.uint8, chunks=(1, 8, 8, 3))
        for nsd_id in np.sort(nsd_ids):
            brick[nsd_id] = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)


def _session_betas(tree: Tree, key, unit: int | None, signal, rng) -> np.ndarray:
    """(trials,) betas of one voxel in % signal change; ``unit=None`` for pure noise."""
    out = np.empty(len(signal))
    for s in range(SESSIONS):
        rows = slice(s * TRIALS, (s + 1) * TRIALS)
        scale, offset = rng.uniform(0.5, 2.0), rng.uniform(-1.0, 1.0)
        clean = signal[rows, unit] if unit is not None else 0.0
        out[rows] = scale * (clean + NOISE * rng.standard_normal(TRIALS)) + offset
    tree.raw[key] = out
    return out


def _unit_cycle(tree: Tree, rng):
    """Units for successive ROI voxels: a random order, repeated when voxels outnumber units."""
    order = rng.permutation(tree.units.shape[1])
    return (int(order[k % len(order)]) for k in itertools.count())


def _ctab(path: Path, names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{i} {name}\n" for i, name in enumerate(names)))


def _write_surfaces(tree: Tree, signal, rng) -> None:
    labels = rng.permutation(np.r_[np.ones(4), np.full(3, 5), np.zeros(VERTICES - 7)]).astype(np.int32)
    units = _unit_cycle(tree, rng)
    betas_dir = tree.root / "nsddata_betas/ppdata/subj01/fsaverage" / BETAS
    label_dir = tree.root / "nsddata/freesurfer/fsaverage/label"
    betas_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    _ctab(label_dir / "streams.mgz.ctab", STREAMS)
    for hemi in ("lh", "rh"):
        hemi_labels = labels if hemi == "lh" else np.roll(labels, 3)
        data = np.empty((VERTICES, SESSIONS * TRIALS), np.float32)
        ncsnr = np.zeros(VERTICES, np.float32)
        for v in range(VERTICES):
            unit = next(units) if hemi_labels[v] > 0 else None
            key = ("fsaverage", hemi, v)
            data[v] = _session_betas(tree, key, unit, signal, rng)
            if unit is not None:
                tree.unit_of[key] = int(unit)
                ncsnr[v] = tree.ncsnr[key] = np.float32(rng.uniform(0.2, 1.5))
        for s in range(SESSIONS):
            block = data[:, s * TRIALS : (s + 1) * TRIALS].reshape(VERTICES, 1, 1, TRIALS)
            nib.MGHImage(block, np.eye(4)).to_filename(betas_dir / f"{hemi}.betas_session{s + 1:02d}.mgh")
        nib.MGHImage(ncsnr.reshape(VERTICES, 1, 1), np.eye(4)).to_filename(betas_dir / f"{hemi}.ncsnr.mgh")
        nib.MGHImage(hemi_labels.reshape(VERTICES, 1, 1), np.eye(4)).to_filename(label_dir / f"{hemi}.streams.mgz")


def _write_volume(tree: Tree, signal, rng) -> None:
    size = int(np.prod(VOLUME))
    labels = np.full(size, -1, np.int32)  # -1: outside cortex, as in the release
    cortex = rng.choice(size, size=size // 2, replace=False)
    labels[cortex] = 0
    roi = rng.choice(cortex, size=16, replace=False)
    labels[roi] = rng.integers(1, len(FLOC_FACES), size=len(roi))
    labels = labels.reshape(VOLUME)
    left = np.zeros(VOLUME, bool)
    left[: VOLUME[0] // 2] = True
    units = _unit_cycle(tree, rng)
    data = np.zeros(VOLUME + (SESSIONS * TRIALS,), np.int16)
    ncsnr = np.zeros(VOLUME, np.float32)
    for flat in range(size):
        ijk = np.unravel_index(flat, VOLUME)
        hemi = "lh" if left[ijk] else "rh"
        unit = next(units) if labels[ijk] > 0 else None
        key = ("func1pt8mm", hemi, flat)
        raw = _session_betas(tree, key, unit, signal, rng)
        stored = np.rint(raw * 300).astype(np.int16)  # the release's int16 x 300
        tree.raw[key] = stored / 300.0
        data[ijk] = stored
        if unit is not None:
            tree.unit_of[key] = int(unit)
            ncsnr[ijk] = tree.ncsnr[key] = np.float32(rng.uniform(0.2, 1.5))
    betas_dir = tree.root / "nsddata_betas/ppdata/subj01/func1pt8mm" / BETAS
    roi_dir = tree.root / "nsddata/ppdata/subj01/func1pt8mm/roi"
    betas_dir.mkdir(parents=True)
    roi_dir.mkdir(parents=True)
    for s in range(SESSIONS):
        image = nib.Nifti1Image(data[..., s * TRIALS : (s + 1) * TRIALS], np.eye(4))
        image.to_filename(betas_dir / f"betas_session{s + 1:02d}.nii.gz")
    nib.Nifti1Image(ncsnr, np.eye(4)).to_filename(betas_dir / "ncsnr.nii.gz")
    for hemi, side in (("lh", left), ("rh", ~left)):
        nib.Nifti1Image(np.where(side, labels, np.minimum(labels, 0)).astype(np.int32), np.eye(4)) \
            .to_filename(roi_dir / f"{hemi}.floc-faces.nii.gz")
    nib.Nifti1Image(labels, np.eye(4)).to_filename(roi_dir / "floc-faces.nii.gz")
    _ctab(tree.root / "nsddata/freesurfer/subj01/label/floc-faces.mgz.ctab", FLOC_FACES)
